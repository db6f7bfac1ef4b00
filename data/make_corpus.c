// are-make-corpus: writes the tinychat training text and prompt sets (see data/README.md).
#include "corpus.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static void usage(FILE *f) {
    fprintf(f, "usage: are-make-corpus --seed N --out DIR [--size small|full]\n"
               "\n"
               "Writes the tinychat corpus into DIR (created if missing), all as JSONL: the\n"
               "training text corpus_train.jsonl and corpus_valid.jsonl, one exchange per line\n"
               "  {\"text\": \"<|user|> {prompt}\\n<|assistant|> {reply}<|end|>\"}\n"
               "and the prompt sets (refusal, wrapped harmful, truthfulness, MC). The same seed\n"
               "gives byte-identical files. --size small (default full) is a CI-sized corpus.\n");
}

static int parse_seed(const char *text, uint64_t *seed) {
    char *end;
    errno = 0;
    unsigned long long value = strtoull(text, &end, 10);
    if (errno || end == text || *end || text[0] == '-') return -1;
    *seed = value;
    return 0;
}

int main(int argc, char **argv) {
    uint64_t seed = 0;
    const char *out = NULL;
    CorpusSize size = CORPUS_FULL;
    int have_seed = 0;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i], *value = i + 1 < argc ? argv[i + 1] : NULL;
        if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
            usage(stdout);
            return 0;
        }
        if (!value) {
            fprintf(stderr, "are-make-corpus: %s needs a value\n", arg);
            return 2;
        }
        i++;
        if (strcmp(arg, "--seed") == 0) {
            if (parse_seed(value, &seed) != 0) {
                fprintf(stderr, "are-make-corpus: --seed wants a non-negative integer, not '%s'\n",
                        value);
                return 2;
            }
            have_seed = 1;
        } else if (strcmp(arg, "--out") == 0) {
            out = value;
        } else if (strcmp(arg, "--size") == 0 && strcmp(value, "small") == 0) {
            size = CORPUS_SMALL;
        } else if (strcmp(arg, "--size") == 0 && strcmp(value, "full") == 0) {
            size = CORPUS_FULL;
        } else {
            fprintf(stderr, "are-make-corpus: unknown option %s %s\n", arg, value);
            usage(stderr);
            return 2;
        }
    }
    if (!have_seed || !out) {
        usage(stderr);
        return 2;
    }
    if (mkdir(out, 0777) != 0 && errno != EEXIST) {
        fprintf(stderr, "are-make-corpus: cannot create %s: %s\n", out, strerror(errno));
        return 1;
    }
    Corpus *corpus = malloc(sizeof *corpus);
    if (!corpus || corpus_generate(corpus, seed, size) != 0) {
        fprintf(stderr, "are-make-corpus: out of memory\n");
        free(corpus);
        return 1;
    }
    char err[512];
    int rc = corpus_write(corpus, out, err, sizeof err);
    if (rc != 0) fprintf(stderr, "are-make-corpus: %s\n", err);
    for (int set = 0; set < CORPUS_N_SETS && rc == 0; set++)
        printf("%-28s %6zu %s\n", corpus_set_files[set], corpus->sets[set].n,
               set <= SET_VALID_TEXT ? "exchanges" : "prompts");
    corpus_free(corpus);
    free(corpus);
    return rc == 0 ? 0 : 1;
}
