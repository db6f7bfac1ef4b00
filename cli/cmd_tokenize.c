// `are tokenize SOURCE [--bos]`: standard input as token ids.
#include "cli_args.h"
#include "commands.h"
#include "tokenizer.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

static const char synopsis[] =
    "usage: are tokenize SOURCE [--bos] < text\n"
    "\n"
    "Reads all of standard input as one text and prints its token ids on one line, separated\n"
    "by spaces. SOURCE is a model folder (its tokenizer.json), a tokenizer.json file or a .gguf\n"
    "file. No BOS or EOS is added unless asked for.\n"
    "\n";

// All of stdin in a new buffer (*len bytes), or NULL when out of memory or on a read error.
static char *read_stdin(size_t *len) {
    size_t cap = 1 << 16;
    char *text = malloc(cap);
    *len = 0;
    while (text) {
        *len += fread(text + *len, 1, cap - *len, stdin);
        if (*len < cap) break;
        char *grown = realloc(text, cap *= 2);
        if (!grown) free(text);
        text = grown;
    }
    if (text && ferror(stdin)) {
        free(text);
        return NULL;
    }
    return text;
}

// The ids of text in a new array (*n of them), or NULL on failure. The first call measures.
static int *encode_all(const Tokenizer *tok, const char *text, size_t len, bool bos, int *n) {
    *n = tokenizer_encode(tok, text, len, bos, NULL, 0);
    int *ids = *n >= 0 ? malloc((size_t)(*n ? *n : 1) * sizeof(int)) : NULL;
    if (ids && tokenizer_encode(tok, text, len, bos, ids, *n) == *n) return ids;
    free(ids);
    *n = 0;
    return NULL;
}

int cmd_tokenize(int argc, char **argv) {
    const char *source = NULL;
    bool bos = false;
    const Option options[] = {
        {"--bos", OPTION_FLAG, &bos, .help = "put the tokenizer's BOS token first"},
    };
    CommandLine cl = {"tokenize",
                      synopsis,
                      .operand = "SOURCE",
                      .operand_value = &source,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc >= 0) return rc;

    char err[1024] = "";
    Tokenizer *tok = tokenizer_load(source, err, sizeof(err));
    if (!tok) {
        fprintf(stderr, "are tokenize: %s\n", err);
        return EXIT_FAILED;
    }
    rc = EXIT_FAILED;
    size_t len;
    char *text = read_stdin(&len);
    int n = 0, *ids = NULL;
    if (!text)
        fprintf(stderr, "are tokenize: cannot read standard input\n");
    else if (bos && tokenizer_bos(tok) < 0)
        fprintf(stderr, "are tokenize: --bos, but %s has no BOS token\n", source);
    else if (!(ids = encode_all(tok, text, len, bos, &n)))
        fprintf(stderr, "are tokenize: the text could not be encoded\n");
    else
        rc = EXIT_OK;
    for (int i = 0; i < n; i++) printf(i ? " %d" : "%d", ids[i]);
    if (rc == EXIT_OK) putchar('\n');
    free(ids);
    free(text);
    tokenizer_free(tok);
    return rc;
}
