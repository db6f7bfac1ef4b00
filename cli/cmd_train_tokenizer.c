// `are train-tokenizer`: a SentencePiece-style BPE vocabulary learned from text files, saved as
// tokenizer.json and tokenizer_config.json.
#include "cli_args.h"
#include "comma_list.h"
#include "commands.h"
#include "text_corpus.h"
#include "tokenizer_train.h"

#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static const char synopsis[] =
    "usage: are train-tokenizer --input FILE [--input FILE ...] --vocab-size N --out DIR\n"
    "                           [--special LIST] [--bos TOK] [--eos TOK] [--unk TOK]\n"
    "\n"
    "Learns a byte-fallback BPE vocabulary (SentencePiece style, as Llama-2's) of N tokens\n"
    "from the input and writes DIR/tokenizer.json and DIR/tokenizer_config.json (DIR is\n"
    "created). A FILE ending in .jsonl holds one document per line in its \"text\" field (as\n"
    "`are pretrain` reads it); any other FILE is one document. Training is deterministic: the\n"
    "same input gives the same files.\n"
    "\n";

#define MAX_INPUTS   64
#define MAX_SPECIALS 64

typedef struct {
    const char *inputs[MAX_INPUTS];
    int n_inputs;
    const char *out;
    const char *specials[MAX_SPECIALS]; // into --special's value, cut at the commas
    int n_specials;
    int vocab_size;
    const char *unk, *bos, *eos;
} Args;

static bool take_input(void *dest, char *value, char *why, size_t why_len) {
    Args *args = dest;
    if (args->n_inputs == MAX_INPUTS) {
        snprintf(why, why_len, "more than %d inputs", MAX_INPUTS);
        return false;
    }
    args->inputs[args->n_inputs++] = value;
    return true;
}

// --special: cuts the comma-separated list in place into args->specials. Refused when given
// twice, or when there are too many names or one is empty.
static bool take_specials(void *dest, char *list, char *why, size_t why_len) {
    (void)why, (void)why_len;
    Args *args = dest;
    return !args->n_specials &&
           comma_list_split(list, args->specials, &args->n_specials, MAX_SPECIALS);
}

// Returns -1 to go on, or the exit code to return at once.
static int parse_args(int argc, char **argv, Args *args) {
    *args = (Args){0};
    char special_list[96];
    snprintf(special_list, sizeof special_list,
             "one comma-separated list of at most %d non-empty names", MAX_SPECIALS);
    const Option options[] = {
        {"--input", OPTION_CUSTOM, args, "FILE", .help = "training text (repeatable)",
         .take = take_input},
        {"--vocab-size", OPTION_INT, &args->vocab_size, "N",
         .help = "tokens in all: special, 256 byte tokens, characters, merges", .lo = 1,
         .hi = 1000000},
        {"--out", OPTION_STRING, &args->out, "DIR", .help = "where the files go"},
        {"--special", OPTION_CUSTOM, args, "LIST",
         .help = "extra special tokens, comma-separated (e.g. \"<|user|>,<|end|>\")",
         .take = take_specials, .expects = special_list},
        {"--bos", OPTION_STRING, &args->bos, "TOK",
         .help = "the BOS token (default <s>), put before every text"},
        {"--eos", OPTION_STRING, &args->eos, "TOK", .help = "the EOS token (default </s>)"},
        {"--unk", OPTION_STRING, &args->unk, "TOK", .help = "the unknown token (default <unk>)"},
    };
    CommandLine cl = {"train-tokenizer", synopsis, .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc < 0 && (args->n_inputs == 0 || args->vocab_size == 0 || !args->out))
        return cli_usage_error(&cl, "--input, --vocab-size and --out are needed");
    return rc;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

// Counts the words of one input file; -1 with a message in err.
static int add_input(TokenizerTrainer *t, const char *path, char *err, size_t err_len) {
    if (!ends_with(path, ".jsonl")) {
        size_t len;
        char *text = text_file_read(path, &len, err, err_len);
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
    Args args;
    int rc = parse_args(argc, argv, &args);
    return rc >= 0 ? rc : train(&args);
}
