// `are analyze RUN_DIR`: ablation tables of a sweep's summary metrics, the representation
// analysis of its stored rounds, SVG plots and one HTML report, from sweep.h5 and the trial
// files (finished ones, and the .tmp files of trials still running, read as SWMR readers).
#include "cli_args.h"
#include "comma_list.h"
#include "commands.h"
#include "sweep_analysis.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_FILTERS 32
#define MAX_BY      8
#define MAX_METRICS 64

static const char synopsis[] =
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
    "\n";

typedef struct {
    const char *input, *out_dir, *pca_trial;
    int pca_layer;
    bool has_pca_layer;
    const char *where[MAX_FILTERS];
    int n_where;
    const char *by[MAX_BY]; // into --by's value, split in place
    int n_by;
    const char *metrics[MAX_METRICS]; // into --metrics's value, split in place
    int n_metrics;
    bool no_representations;
} AnalyzeArgs;

static bool take_by(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    AnalyzeArgs *a = dest;
    return comma_list_split(value, a->by, &a->n_by, MAX_BY);
}

static bool take_metrics(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    AnalyzeArgs *a = dest;
    return comma_list_split(value, a->metrics, &a->n_metrics, MAX_METRICS);
}

static bool take_where(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    AnalyzeArgs *a = dest;
    if (!strchr(value, '=') || a->n_where == MAX_FILTERS) return false;
    a->where[a->n_where++] = value;
    return true;
}

// Returns -1 when parsed, else the exit code.
static int parse_args(int argc, char **argv, AnalyzeArgs *a) {
    *a = (AnalyzeArgs){0};
    char by_list[64], metrics_list[64];
    snprintf(by_list, sizeof by_list, "a comma-separated list (at most %d)", MAX_BY);
    snprintf(metrics_list, sizeof metrics_list, "a comma-separated list (at most %d)", MAX_METRICS);
    const Option options[] = {
        {"--out", OPTION_STRING, &a->out_dir, "DIR",
         .help = "where the files go (default RUN_DIR/analysis)"},
        {"--where", OPTION_CUSTOM, a, "AXIS=VALUE",
         .help = "only trials with this value (repeatable; an axis is a swept path, or\n"
                 "repeat, status, id), e.g. --where task=jailbreak",
         .take = take_where},
        {"--by", OPTION_CUSTOM, a, "AXIS[,AXIS]",
         .help = "one table over the combinations of these axes instead of one per axis",
         .take = take_by, .expects = by_list},
        {"--metrics", OPTION_CUSTOM, a, "LIST",
         .help = "the metrics of the printed tables and the report, comma-separated\n"
                 "names or patterns (edited.*.refusal_rate); the files keep every metric",
         .take = take_metrics, .expects = metrics_list},
        {"--pca-trial", OPTION_STRING, &a->pca_trial, "ID",
         .help = "the trial whose rounds the PCA plots show (default: each task's first)"},
        {"--pca-layer", OPTION_INT, &a->pca_layer, "L",
         .help = "the hidden state they show, as the trial stores it (default: its first)",
         .lo = -1024, .hi = 1024, .expects = "a layer index", .given = &a->has_pca_layer},
        {"--no-representations", OPTION_FLAG, &a->no_representations, NULL,
         .help = "tables only: skip the representation analysis"},
    };
    CommandLine cl = {"analyze",
                      synopsis,
                      .epilogue = "\nexit codes: 0 written, 1 the files could not be read or "
                                  "written, 2 bad command line\n",
                      .operand = "RUN_DIR",
                      .operand_value = &a->input,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc < 0 && !a->input) return cli_usage_error(&cl, "RUN_DIR missing");
    return rc;
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
    if (rc >= 0) return rc;
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
                              .by = a.by,
                              .n_by = a.n_by,
                              .metrics = a.metrics,
                              .n_metrics = a.n_metrics,
                              .pca_trial = a.pca_trial,
                              .pca_layer = a.has_pca_layer ? &a.pca_layer : NULL,
                              .representations = !a.no_representations,
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
    return rc;
}
