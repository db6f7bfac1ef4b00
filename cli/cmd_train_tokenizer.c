// `are train-tokenizer`: a SentencePiece-style BPE vocabulary learned from text files, saved as
// tokenizer.json and tokenizer_config.json.
#include "cli_args.h"
#include "commands.h"
#include "text_corpus.h"
#include "tokenizer_train.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char usage[] =
    "usage: are train-tokenizer --input FILE [--input FILE ...] --vocab-size N --out DIR\n"
    "                           [--special LIST] [--bos TOK] [--eos TOK] [--unk TOK]\n"
    "\n"
    "Learns a byte-fallback BPE vocabulary (SentencePiece style, as Llama-2's) of N tokens\n"
    "from the input and writes DIR/tokenizer.json and DIR/tokenizer_config.json (DIR is\n"
    "created). A FILE ending in .jsonl holds one document per line in its \"text\" field (as\n"
    "`are pretrain` reads it); any other FILE is one document. Training is deterministic: the\n"
    "same input gives the same files.\n"
    "\n"
    "  --input FILE     training text (repeatable)\n"
    "  --vocab-size N   tokens in all: special, 256 byte tokens, characters, merges\n"
    "  --out DIR        where the files go\n"
    "  --special LIST   extra special tokens, comma-separated (e.g. \"<|user|>,<|end|>\")\n"
    "  --bos TOK        the BOS token (default <s>), put before every text\n"
    "  --eos TOK        the EOS token (default </s>)\n"
    "  --unk TOK        the unknown token (default <unk>)\n"
    "  -h, --help       this text\n";

#define MAX_INPUTS   64
#define MAX_SPECIALS 64

typedef struct {
    const char *inputs[MAX_INPUTS];
    int n_inputs;
    const char *out;
    char *special_list; // a copy, cut at the commas into specials
    const char *specials[MAX_SPECIALS];
    int n_specials;
    int vocab_size;
    const char *unk, *bos, *eos;
} Args;

// Cuts the comma-separated list into args->specials; -1 when there are too many or one is
// empty.
static int split_specials(Args *args, const char *list) {
    args->special_list = strdup(list);
    if (!args->special_list) return -1;
    for (char *item = args->special_list, *comma; item; item = comma ? comma + 1 : NULL) {
        comma = strchr(item, ',');
        if (comma) *comma = '\0';
        if (!*item || args->n_specials == MAX_SPECIALS) return -1;
        args->specials[args->n_specials++] = item;
    }
    return 0;
}

// Fills args; returns EXIT_OK, or the exit code after printing why (or the help).
static int parse_args(int argc, char **argv, Args *args, bool *help) {
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            *help = true;
            return EXIT_OK;
        }
        bool takes_value = !strcmp(opt, "--input") || !strcmp(opt, "--vocab-size") ||
                           !strcmp(opt, "--out") || !strcmp(opt, "--special") ||
                           !strcmp(opt, "--bos") || !strcmp(opt, "--eos") || !strcmp(opt, "--unk");
        if (!takes_value) {
            fprintf(stderr, "are train-tokenizer: unexpected argument '%s'\n", opt);
            return EXIT_USAGE;
        }
        if (!value) {
            fprintf(stderr, "are train-tokenizer: %s needs a value\n", opt);
            return EXIT_USAGE;
        }
        i++;
        if (!strcmp(opt, "--input") && args->n_inputs == MAX_INPUTS) {
            fprintf(stderr, "are train-tokenizer: more than %d inputs\n", MAX_INPUTS);
            return EXIT_USAGE;
        } else if (!strcmp(opt, "--input")) {
            args->inputs[args->n_inputs++] = value;
        } else if (!strcmp(opt, "--vocab-size")) {
            long long n;
            if (!parse_int_arg(value, 1, 1000000, &n)) {
                fprintf(stderr, "are train-tokenizer: --vocab-size '%s' is not 1..1000000\n",
                        value);
                return EXIT_USAGE;
            }
            args->vocab_size = (int)n;
        } else if (!strcmp(opt, "--out")) {
            args->out = value;
        } else if (!strcmp(opt, "--special")) {
            if (args->special_list || split_specials(args, value)) {
                fprintf(stderr,
                        "are train-tokenizer: --special '%s' is not one list of at most %d "
                        "non-empty names\n",
                        value, MAX_SPECIALS);
                return EXIT_USAGE;
            }
        } else {
            const char **name = !strcmp(opt, "--bos")   ? &args->bos
                                : !strcmp(opt, "--eos") ? &args->eos
                                                        : &args->unk;
            *name = value;
        }
    }
    if (args->n_inputs == 0 || args->vocab_size == 0 || !args->out) {
        fprintf(stderr, "are train-tokenizer: --input, --vocab-size and --out are needed\n");
        return EXIT_USAGE;
    }
    return EXIT_OK;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

// The whole file in a new buffer (*len bytes); NULL with a message in err.
static char *read_file(const char *path, size_t *len, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    long size = -1;
    if (f && fseek(f, 0, SEEK_END) == 0 && (size = ftell(f)) >= 0 && fseek(f, 0, SEEK_SET) == 0) {
        text = malloc((size_t)size + 1);
        if (text && fread(text, 1, (size_t)size, f) != (size_t)size) {
            free(text);
            text = NULL;
        }
    }
    if (!text) snprintf(err, err_len, "%s: cannot read: %s", path, strerror(errno ? errno : EIO));
    if (f) fclose(f);
    *len = text ? (size_t)size : 0;
    return text;
}

// Counts the words of one input file; -1 with a message in err.
static int add_input(TokenizerTrainer *t, const char *path, char *err, size_t err_len) {
    if (!ends_with(path, ".jsonl")) {
        size_t len;
        char *text = read_file(path, &len, err, err_len);
        int status = text ? tokenizer_trainer_add_text(t, text, len, err, err_len) : -1;
        free(text);
        return status;
    }
    TextCorpus corpus;
    if (text_corpus_load(path, &corpus, err, err_len)) return -1;
    int status = 0;
    for (int i = 0; i < corpus.n_docs && status == 0; i++) {
        status = tokenizer_trainer_add_text(t, corpus.docs[i], corpus.lens[i], err, err_len);
    }
    text_corpus_free(&corpus);
    return status;
}

static int train(const Args *args) {
    char err[1024] = "";
    TokenizerTrainOptions opt = {args->vocab_size, args->unk,        args->bos, args->eos,
                                 args->specials,   args->n_specials, stderr};
    TokenizerTrainer *t = tokenizer_trainer_new(&opt, err, sizeof(err));
    int status = t ? 0 : -1;
    for (int i = 0; i < args->n_inputs && status == 0; i++) {
        fprintf(stderr, "reading %s\n", args->inputs[i]);
        status = add_input(t, args->inputs[i], err, sizeof(err));
    }
    if (status == 0) status = tokenizer_trainer_train(t, err, sizeof(err));
    if (status == 0 && mkdir(args->out, 0777) && errno != EEXIST) {
        snprintf(err, sizeof(err), "%s: cannot create: %s", args->out, strerror(errno));
        status = -1;
    }
    if (status == 0) status = tokenizer_trainer_save(t, args->out, err, sizeof(err));
    if (status == 0) {
        fprintf(stderr, "wrote %s/tokenizer.json: %d tokens, %d merges\n", args->out,
                tokenizer_trainer_vocab_size(t), tokenizer_trainer_merge_count(t));
    } else {
        fprintf(stderr, "are train-tokenizer: %s\n", err);
    }
    tokenizer_trainer_free(t);
    return status ? EXIT_FAILED : EXIT_OK;
}

int cmd_train_tokenizer(int argc, char **argv) {
    Args args = {0};
    bool help = false;
    int rc = parse_args(argc, argv, &args, &help);
    if (help)
        fputs(usage, stdout);
    else if (rc != EXIT_OK)
        fputs(usage, stderr);
    else
        rc = train(&args);
    free(args.special_list);
    return rc;
}
