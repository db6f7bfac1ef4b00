// `are analyze RUN_DIR`: ablation tables of a sweep's summary metrics, the representation
// analysis of its stored rounds, SVG plots and one HTML report, from sweep.h5 and the trial
// files (finished ones, and the .tmp files of trials still running, read as SWMR readers).
#include "cli_args.h"
#include "commands.h"
#include "sweep_analysis.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 32
#define MAX_BY      8
#define MAX_METRICS 64

static const char usage[] =
    "usage: are analyze RUN_DIR [options]        (RUN_DIR: a sweep's output.dir, or its sweep.h5)\n"
    "\n"
    "Reads RUN_DIR/sweep.h5 and the trial files under RUN_DIR/trials (a sweep that is still\n"
    "running included: its running trials' rounds so far) and writes into OUT:\n"
    "  ablation.md, ablation-*.csv, ablation-*.tex   per swept axis (per task when the task is\n"
    "                     swept), each value's mean ± std and n of every summary metric\n"
    "  trials.md, trials.csv   one row per trial\n"
    "  representations.csv     per trial, stored round and layer: linear-probe accuracy,\n"
    "                     class-mean distance, spread, separability\n"
    "  rounds-TASK.csv         the same pooled over the task's trials, with ARE's\n"
    "                     discriminator accuracy per round\n"
    "  plots/*.svg             bars per axis, lines per round, 2-D PCA of each stored round\n"
    "  report.html             all of it in one page that opens from disk\n"
    "and prints the tables of the headline metrics as Markdown on standard output.\n"
    "Without sweep.h5 (a folder of `are run` trials) the finished trial files are analysed.\n"
    "A trial whose file is missing, truncated or otherwise unreadable is left out with a\n"
    "warning. OUT is replaced whole when the analysis is complete, never left half written.\n"
    "\n"
    "  --out DIR          where the files go (default RUN_DIR/analysis)\n"
    "  --where AXIS=VALUE only trials with this value (repeatable; an axis is a swept path, or\n"
    "                     repeat, status, id), e.g. --where task=jailbreak\n"
    "  --by AXIS[,AXIS]   one table over the combinations of these axes instead of one per axis\n"
    "  --metrics LIST     the metrics of the printed tables and the report, comma-separated\n"
    "                     names or patterns (edited.*.refusal_rate); the files keep every metric\n"
    "  --pca-trial ID     the trial whose rounds the PCA plots show (default: each task's first)\n"
    "  --pca-layer L      the hidden state they show, as the trial stores it (default: its first)\n"
    "  --no-representations   tables only: skip the representation analysis\n"
    "  -h, --help         this text\n"
    "\n"
    "exit codes: 0 written, 1 the files could not be read or written, 2 bad command line\n";

typedef struct {
    const char *input, *out_dir, *pca_trial;
    int pca_layer;
    bool has_pca_layer;
    const char *where[MAX_FILTERS];
    int n_where;
    char *by[MAX_BY];
    int n_by;
    char *metrics[MAX_METRICS];
    int n_metrics;
    bool representations;
    char *lists; // the copy that by and metrics point into
} AnalyzeArgs;

// Splits a comma-separated list (in place) into items[max]; returns the count or -1.
static int split_list(char *text, char **items, int max) {
    int n = 0;
    for (char *item = strtok(text, ","); item; item = strtok(NULL, ",")) {
        if (n == max) return -1;
        items[n++] = item;
    }
    return n;
}

// Returns -1 when parsed, else the exit code.
static int parse_args(int argc, char **argv, AnalyzeArgs *a) {
    *a = (AnalyzeArgs){.representations = true};
    size_t total = 1;
    for (int i = 1; i < argc; i++) total += strlen(argv[i]) + 1;
    char *lists = a->lists = malloc(total);
    if (!lists) {
        fprintf(stderr, "are analyze: out of memory\n");
        return EXIT_FAILED;
    }
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (opt[0] != '-') {
            if (a->input) {
                fprintf(stderr, "are analyze: a second RUN_DIR '%s'\n%s", opt, usage);
                return EXIT_USAGE;
            }
            a->input = opt;
            continue;
        }
        if (!strcmp(opt, "--no-representations")) {
            a->representations = false;
            continue;
        }
        bool takes_value = !strcmp(opt, "--out") || !strcmp(opt, "--where") ||
                           !strcmp(opt, "--by") || !strcmp(opt, "--metrics") ||
                           !strcmp(opt, "--pca-trial") || !strcmp(opt, "--pca-layer");
        if (!takes_value || i + 1 == argc) {
            fprintf(stderr, "are analyze: unknown option or missing value: '%s'\n%s", opt, usage);
            return EXIT_USAGE;
        }
        const char *value = argv[++i];
        if (!strcmp(opt, "--out"))
            a->out_dir = value;
        else if (!strcmp(opt, "--pca-trial"))
            a->pca_trial = value;
        else if (!strcmp(opt, "--pca-layer")) {
            long long layer;
            if (!parse_int_arg(value, -1024, 1024, &layer)) {
                fprintf(stderr, "are analyze: --pca-layer expects a layer index, got '%s'\n",
                        value);
                return EXIT_USAGE;
            }
            a->pca_layer = (int)layer;
            a->has_pca_layer = true;
        } else if (!strcmp(opt, "--where")) {
            if (!strchr(value, '=') || a->n_where == MAX_FILTERS) {
                fprintf(stderr, "are analyze: --where expects AXIS=VALUE, got '%s'\n", value);
                return EXIT_USAGE;
            }
            a->where[a->n_where++] = value;
        } else {
            bool by = !strcmp(opt, "--by");
            char *copy = strcpy(lists, value);
            lists += strlen(value) + 1;
            int n =
                by ? split_list(copy, a->by, MAX_BY) : split_list(copy, a->metrics, MAX_METRICS);
            if (n < 1) {
                fprintf(stderr,
                        "are analyze: %s expects a comma-separated list (at most %d), got '%s'\n",
                        opt, by ? MAX_BY : MAX_METRICS, value);
                return EXIT_USAGE;
            }
            *(by ? &a->n_by : &a->n_metrics) = n;
        }
    }
    if (!a->input) {
        fprintf(stderr, "are analyze: RUN_DIR missing\n%s", usage);
        return EXIT_USAGE;
    }
    return -1;
}

// The run folder of input (a folder, or the sweep.h5 inside one).
static char *run_dir_of(const char *input) {
    size_t len = strlen(input);
    static const char file[] = "sweep.h5";
    if (len >= sizeof file - 1 && !strcmp(input + len - (sizeof file - 1), file)) {
        len -= sizeof file - 1;
        while (len > 1 && input[len - 1] == '/') len--;
        if (len == 0) return strdup(".");
    }
    return strndup(input, len);
}

int cmd_analyze(int argc, char **argv) {
    AnalyzeArgs a;
    int rc = parse_args(argc, argv, &a);
    if (rc >= 0) {
        free(a.lists);
        return rc;
    }
    char *run_dir = run_dir_of(a.input), *out_dir = NULL;
    if (run_dir) {
        TextBuffer folder = {0};
        text_append(&folder, "%s/analysis", run_dir);
        out_dir = strdup(a.out_dir ? a.out_dir : text_str(&folder));
        text_free(&folder);
    }
    SweepAnalysisOptions o = {.run_dir = run_dir,
                              .out_dir = out_dir,
                              .where = a.where,
                              .n_where = a.n_where,
                              .by = (const char *const *)a.by,
                              .n_by = a.n_by,
                              .metrics = (const char *const *)a.metrics,
                              .n_metrics = a.n_metrics,
                              .pca_trial = a.pca_trial,
                              .pca_layer = a.has_pca_layer ? &a.pca_layer : NULL,
                              .representations = a.representations,
                              .progress = stderr,
                              .warnings = stderr};
    TextBuffer markdown = {0};
    char err[1024] = "out of memory";
    bool bad_options = false;
    rc = EXIT_FAILED;
    if (run_dir && out_dir &&
        sweep_analysis_run(&o, &markdown, &bad_options, err, sizeof err) == 0) {
        fputs(text_str(&markdown), stdout);
        fprintf(stderr, "are analyze: wrote %s/report.html and the tables and plots beside it\n",
                out_dir);
        rc = EXIT_OK;
    } else {
        fprintf(stderr, "are analyze: %s\n", err);
        if (bad_options) rc = EXIT_USAGE;
    }
    text_free(&markdown);
    free(run_dir);
    free(out_dir);
    free(a.lists);
    return rc;
}
