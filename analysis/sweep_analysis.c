// The whole of `are analyze` but its command line; see sweep_analysis.h.
#include "sweep_analysis.h"

#include "ablation.h"
#include "fail.h"
#include "fs.h"
#include "html_report.h"
#include "monotonic_clock.h"
#include "round_report.h"
#include "svg_plot.h"
#include "sweep_store.h"
#include "table_format.h"
#include "trial_file_check.h"
#include "trial_summary.h"
#include "trial_summary_names.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_BAR_METRICS 64

// Everything the report shows, kept until it is written.
typedef struct {
    const SweepAnalysisOptions *o;
    const char *run_dir, *out_dir;
    SweepTable *sweep;
    Ablation all, headline; // every metric (files), the chosen ones (stdout, report)
    // Representation analysis of the selected trials that have a file.
    int n_trials;
    TrialReader *readers;
    TrialRoundStats *stats;
    // Text and tables the report sections point into, freed at the end.
    TextBuffer *texts;
    int n_texts, cap_texts;
    Table **tables;
    int n_tables;
    TextBuffer left_out; // a line per trial file left out, for the report
    bool bad_options;    // the failure is an option naming what the files do not have
    char err[1024];
} Analysis;

// A string the analysis keeps until the end (NULL when out of memory).
static const char *keep_text(Analysis *an, TextBuffer *b) {
    if (b->failed) return NULL;
    if (an->n_texts == an->cap_texts) {
        int cap = an->cap_texts ? 2 * an->cap_texts : 64;
        TextBuffer *grown = realloc(an->texts, (size_t)cap * sizeof *grown);
        if (!grown) return NULL;
        an->texts = grown;
        an->cap_texts = cap;
    }
    an->texts[an->n_texts] = *b;
    *b = (TextBuffer){0};
    return text_str(&an->texts[an->n_texts++]);
}

// Keeps t until the end; frees it and returns -1 when out of memory (t NULL included).
static int keep_table(Analysis *an, Table *t) {
    Table **grown = t ? realloc(an->tables, (size_t)(an->n_tables + 1) * sizeof *grown) : NULL;
    if (!grown) {
        table_free(t);
        return fail(an->err, sizeof an->err, "out of memory");
    }
    an->tables = grown;
    an->tables[an->n_tables++] = t;
    return 0;
}

// A printf'd string the analysis keeps until the end (NULL when out of memory).
static const char *keep_printf(Analysis *an, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static const char *keep_printf(Analysis *an, const char *fmt, ...) {
    TextBuffer t = {0};
    va_list ap;
    va_start(ap, fmt);
    text_vappend(&t, fmt, ap);
    va_end(ap);
    const char *kept = keep_text(an, &t); // takes t's text when kept
    text_free(&t);
    return kept;
}

static int write_file(Analysis *an, const char *name, const TextBuffer *b) {
    if (b->failed) return fail(an->err, sizeof an->err, "out of memory writing %s", name);
    char path[4096];
    snprintf(path, sizeof path, "%s/%s", an->out_dir, name);
    FILE *f = fopen(path, "w");
    bool ok = f && fwrite(text_str(b), 1, b->len, f) == b->len;
    if (f && fclose(f) != 0) ok = false;
    if (!ok) return fail(an->err, sizeof an->err, "%s: %s", path, strerror(errno));
    return 0;
}

// A file name piece from a table title: letters, digits, '.', '_' and '-' kept, runs of
// anything else one '-'.
static void slug(const char *title, char *out, size_t len) {
    size_t n = 0;
    for (const char *p = title; *p && n + 1 < len; p++) {
        bool keep = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
                    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_';
        if (keep)
            out[n++] = *p;
        else if (n > 0 && out[n - 1] != '-')
            out[n++] = '-';
    }
    while (n > 0 && out[n - 1] == '-') n--;
    out[n] = '\0';
}

// Says that trial file why (trial_file_check's "path: what is wrong") was left out of what, on
// the warnings stream and in the report.
static void leave_out(Analysis *an, const char *why, const char *what) {
    if (an->o->warnings) fprintf(an->o->warnings, "warning: %s; left out of %s\n", why, what);
    text_append(&an->left_out, "%s%s (left out of %s)", an->left_out.len ? "; " : "", why, what);
}

static void skipped_file(void *an, const char *why) {
    leave_out(an, why, "the analysis");
}

// Leaves out the done trials whose files cannot be trusted: sweep.h5 has their metrics, but
// nothing can be checked against the file.
static void leave_out_unreadable(Analysis *an) {
    SweepTable *t = an->sweep;
    for (int i = 0; i < t->n_trials; i++) {
        if (t->rows[i].status != SWEEP_DONE) continue;
        char path[4096], why[1024];
        snprintf(path, sizeof path, "%s/trials/%s.h5", an->run_dir, t->rows[i].id);
        if (trial_file_check(path, t->rows[i].id, why, sizeof why) == TRIAL_FILE_OK) continue;
        leave_out(an, why, "the tables");
        sweep_table_remove(t, i--);
    }
}

static int load_sweep(Analysis *an) {
    int found = sweep_store_read(an->run_dir, &an->sweep, an->err, sizeof an->err);
    if (found < 0) return -1;
    if (found == 1) {
        leave_out_unreadable(an);
        return 0;
    }
    an->sweep =
        sweep_store_scan_trials_noting(an->run_dir, skipped_file, an, an->err, sizeof an->err);
    if (!an->sweep) return -1;
    if (an->sweep->n_trials == 0)
        return fail(an->err, sizeof an->err,
                    "%s: neither a sweep.h5 nor finished trial files (trials/*.h5)", an->run_dir);
    if (an->o->progress)
        fprintf(an->o->progress, "%s has no sweep.h5: analysing its %d finished trial files\n",
                an->run_dir, an->sweep->n_trials);
    // Only sweep.h5 keeps the summary metrics; read them back from each file instead.
    for (int i = 0; i < an->sweep->n_trials; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/trials/%s.h5", an->run_dir, an->sweep->rows[i].id);
        TrialSummary summary;
        const char *names[TRIAL_SUMMARY_MAX];
        char why[1024];
        if (trial_summary_read(path, &summary, why, sizeof why) < 0) {
            leave_out(an, why, "the tables");
            sweep_table_remove(an->sweep, i--);
            continue;
        }
        for (int k = 0; k < summary.n; k++) names[k] = summary.names[k];
        if (sweep_table_set_metrics(an->sweep, i, names, summary.values, summary.n) < 0)
            return fail(an->err, sizeof an->err, "out of memory");
    }
    return 0;
}

// Writes each ablation table as Markdown (all in ablation.md), CSV and LaTeX, and the trials.
static int write_ablation_files(Analysis *an) {
    TextBuffer md = {0};
    text_append(&md, "%s\n\n", an->all.summary);
    for (int k = 0; k < an->all.n_tables; k++) {
        const AblationGroups *g = &an->all.tables[k];
        char name[512], piece[400];
        slug(g->title, piece, sizeof piece);
        TextBuffer csv = {0}, tex = {0};
        table_write_markdown(&md, g->table);
        text_append(&md, "\n");
        table_write_csv(&csv, g->numbers);
        table_write_latex(&tex, g->table);
        snprintf(name, sizeof name, "ablation-%s.csv", piece);
        int rc = write_file(an, name, &csv);
        snprintf(name, sizeof name, "ablation-%s.tex", piece);
        if (rc == 0) rc = write_file(an, name, &tex);
        text_free(&csv);
        text_free(&tex);
        if (rc < 0) {
            text_free(&md);
            return -1;
        }
    }
    int rc = write_file(an, "ablation.md", &md);
    text_free(&md);
    TextBuffer trials_md = {0}, trials_csv = {0};
    table_write_markdown(&trials_md, an->all.trials);
    table_write_csv(&trials_csv, an->all.trial_numbers);
    if (rc == 0) rc = write_file(an, "trials.md", &trials_md);
    if (rc == 0) rc = write_file(an, "trials.csv", &trials_csv);
    text_free(&trials_md);
    text_free(&trials_csv);
    return rc;
}

// Whether trial id passed the filters: it is a row of the ablation's trial table.
static bool selected(const Ablation *a, const char *id) {
    for (int r = 0; r < a->trials->n_rows; r++)
        if (!strcmp(table_cell(a->trials, r, 0), id)) return true;
    return false;
}

// Opens and analyses the file of every selected trial that is done or running; one that cannot
// be is left out of the representation analysis.
static int load_representations(Analysis *an) {
    const SweepTable *t = an->sweep;
    an->readers = calloc((size_t)t->n_trials + 1, sizeof *an->readers);
    an->stats = calloc((size_t)t->n_trials + 1, sizeof *an->stats);
    int *rows = malloc(((size_t)t->n_trials + 1) * sizeof *rows); // the trials to read
    if (!an->readers || !an->stats || !rows) {
        free(rows);
        return fail(an->err, sizeof an->err, "out of memory");
    }
    int n_rows = 0;
    for (int i = 0; i < t->n_trials; i++)
        if ((t->rows[i].status == SWEEP_DONE || t->rows[i].status == SWEEP_RUNNING) &&
            selected(&an->all, t->rows[i].id))
            rows[n_rows++] = i;
    double start = monotonic_seconds();
    for (int k = 0; k < n_rows; k++) {
        const SweepRow *row = &t->rows[rows[k]];
        bool running = row->status == SWEEP_RUNNING;
        char path[4096];
        snprintf(path, sizeof path, "%s/trials/%s.h5%s", an->run_dir, row->id,
                 running ? ".tmp" : "");
        struct stat st;
        if (running && stat(path, &st) != 0) continue; // handed out, file not created yet
        TrialReader *r = &an->readers[an->n_trials];
        char why[1024];
        if (trial_reader_open(r, path, why, sizeof why) < 0 ||
            trial_round_stats(r, &an->stats[an->n_trials], why, sizeof why) < 0) {
            trial_reader_close(r);
            leave_out(an, why, "the representation analysis");
            continue;
        }
        an->n_trials++;
        double elapsed = monotonic_seconds() - start;
        if (an->o->progress)
            fprintf(an->o->progress, "[%d/%d] trial %s (%s, %d stored rounds)%s, ETA %.0f s\n",
                    k + 1, n_rows, r->trial_id, r->task, r->n_stored, running ? ", running" : "",
                    elapsed / (k + 1) * (n_rows - k - 1));
    }
    free(rows);
    return 0;
}

// representations.csv: every trial's statistics.
static int write_representations(Analysis *an) {
    TrialReader **readers = calloc((size_t)an->n_trials + 1, sizeof *readers);
    Table *numbers = NULL;
    TextBuffer csv = {0};
    for (int i = 0; readers && i < an->n_trials; i++) readers[i] = &an->readers[i];
    if (readers) numbers = trial_round_numbers(readers, an->stats, an->n_trials);
    if (numbers) table_write_csv(&csv, numbers);
    int rc = numbers ? write_file(an, "representations.csv", &csv)
                     : fail(an->err, sizeof an->err, "out of memory");
    text_free(&csv);
    table_free(numbers);
    free(readers);
    return rc;
}

// A report section while it is assembled.
typedef struct {
    const char *heading, *intro;
    ReportTable *tables;
    int n_tables;
    ReportFigure *figures;
    int n_figures;
} SectionDraft;

static int add_table(Analysis *an, SectionDraft *s, ReportTable t) {
    ReportTable *grown = realloc(s->tables, (size_t)(s->n_tables + 1) * sizeof *grown);
    if (!grown) return fail(an->err, sizeof an->err, "out of memory");
    s->tables = grown;
    s->tables[s->n_tables++] = t;
    return 0;
}

// Writes plot as plots/<name>.svg and adds it to s; plot is left empty either way.
static int add_figure(Analysis *an, SectionDraft *s, const char *name, const char *title,
                      const char *caption, TextBuffer *plot) {
    char file[512];
    snprintf(file, sizeof file, "plots/%s.svg", name);
    int rc = write_file(an, file, plot);
    const char *svg = rc == 0 ? keep_text(an, plot) : NULL; // takes plot's text when kept
    text_free(plot);
    if (rc < 0) return -1;
    const char *kept_file = keep_printf(an, "%s", file);
    const char *kept_title = keep_printf(an, "%s", title);
    ReportFigure *grown = svg && kept_file && kept_title
                              ? realloc(s->figures, (size_t)(s->n_figures + 1) * sizeof *grown)
                              : NULL;
    if (!grown) return fail(an->err, sizeof an->err, "out of memory");
    s->figures = grown;
    s->figures[s->n_figures++] =
        (ReportFigure){.title = kept_title, .caption = caption, .svg = svg, .file = kept_file};
    return 0;
}

// Metrics whose values are fractions in [0, 1], which share one bar chart's axis.
static bool is_fraction(const char *metric) {
    size_t n = strlen(metric);
    return (n > 5 && !strcmp(metric + n - 5, "_rate")) || strstr(metric, "acc") ||
           !strcmp(metric, TRIAL_RESULT_CONVERGED);
}

// The headline ablation table k (and its files, and bars of its fractions) into s.
static int add_ablation(Analysis *an, SectionDraft *s, int k) {
    const AblationGroups *g = &an->headline.tables[k];
    char piece[400];
    slug(an->all.tables[k].title, piece, sizeof piece);
    ReportTable t = {.table = g->table,
                     .csv_file = keep_printf(an, "ablation-%s.csv", piece),
                     .latex_file = keep_printf(an, "ablation-%s.tex", piece),
                     .markdown_file = "ablation.md"};
    if (!t.csv_file || !t.latex_file) return fail(an->err, sizeof an->err, "out of memory");
    if (add_table(an, s, t) < 0) return -1;
    if (g->n_groups < 2) return 0;
    int metric[MAX_BAR_METRICS], n = 0; // the fraction metrics, one bar series each
    for (int m = 0; m < g->n_metrics && n < MAX_BAR_METRICS; m++)
        if (is_fraction(g->metrics[m])) metric[n++] = m;
    if (n == 0) return 0;
    // mean and std are [group, metric]: gather each series' column.
    BarSeries series[MAX_BAR_METRICS];
    double *columns = malloc(2 * (size_t)n * (size_t)g->n_groups * sizeof *columns);
    if (!columns) return fail(an->err, sizeof an->err, "out of memory");
    for (int i = 0; i < n; i++) {
        double *value = columns + 2 * (size_t)i * (size_t)g->n_groups, *std = value + g->n_groups;
        for (int c = 0; c < g->n_groups; c++) {
            value[c] = g->mean[(size_t)c * (size_t)g->n_metrics + (size_t)metric[i]];
            std[c] = g->std[(size_t)c * (size_t)g->n_metrics + (size_t)metric[i]];
        }
        series[i] = (BarSeries){.name = g->metrics[metric[i]], .value = value, .std = std};
    }
    PlotSpec spec = plot_spec(g->title, g->n_keys ? g->keys[0] : "", "mean ± std over trials");
    TextBuffer plot = {0};
    svg_bars(&plot, &spec, (const char *const *)g->group_names, g->n_groups, series, n);
    free(columns);
    char name[512];
    snprintf(name, sizeof name, "ablation-%s", piece);
    return add_figure(an, s, name, g->title,
                      "Rates and accuracies of each value: bars are means over the done trials, "
                      "whiskers one sample standard deviation.",
                      &plot);
}

// The representation tables and plots of the trials of task into s.
static int add_representations(Analysis *an, SectionDraft *s, const char *task) {
    TrialReader **readers = calloc((size_t)an->n_trials + 1, sizeof *readers);
    TrialRoundStats *stats = calloc((size_t)an->n_trials + 1, sizeof *stats);
    if (!readers || !stats) {
        free(readers);
        free(stats);
        return fail(an->err, sizeof an->err, "out of memory");
    }
    int n = 0, pca = -1;
    for (int i = 0; i < an->n_trials; i++) {
        if (strcmp(an->readers[i].task, task)) continue;
        if (pca < 0 || (an->o->pca_trial && !strcmp(an->readers[i].trial_id, an->o->pca_trial)))
            pca = n;
        readers[n] = &an->readers[i];
        stats[n++] = an->stats[i];
    }
    TaskRoundStats pooled;
    int rc = n == 0 ? 0 : task_round_stats(readers, stats, n, &pooled, an->err, sizeof an->err);
    if (n == 0 || rc < 0) {
        free(readers);
        free(stats);
        return rc;
    }
    char piece[256], name[512], title[512];
    slug(task, piece, sizeof piece);
    Table *people = round_table(task, &pooled), *numbers = round_numbers(task, &pooled);
    TextBuffer csv = {0};
    rc = keep_table(an, people);
    if (rc == 0 && !numbers) rc = fail(an->err, sizeof an->err, "out of memory");
    if (rc == 0) {
        table_write_csv(&csv, numbers);
        snprintf(name, sizeof name, "rounds-%s.csv", piece);
        rc = write_file(an, name, &csv);
    }
    if (rc == 0) {
        ReportTable t = {.table = people, .csv_file = keep_printf(an, "%s", name)};
        rc = add_table(an, s, t);
    }
    table_free(numbers);
    text_free(&csv);
    static const struct {
        void (*draw)(TextBuffer *b, const char *task, const TaskRoundStats *t);
        const char *name, *title, *caption;
    } round_plots[] = {
        {plot_discriminator_rounds, "discriminator", "ARE's discriminator accuracy per round",
         "Each round's freshly trained discriminator, mean ± std over the task's trials (trials "
         "that stopped earlier leave the later rounds)."},
        {plot_probe_rounds, "probe", "Linear-probe accuracy per round and layer",
         "A logistic-regression probe trained on the stored train split, accuracy on the test "
         "split; 0.5 is chance."},
        {plot_separation_rounds, "separability", "Separability per round and layer",
         "Distance between the class means over the root mean squared distance of a sample to "
         "its class mean."},
    };
    TextBuffer plot = {0};
    for (size_t k = 0; rc == 0 && k < sizeof round_plots / sizeof round_plots[0]; k++) {
        round_plots[k].draw(&plot, task, &pooled);
        snprintf(name, sizeof name, "%s-%s", piece, round_plots[k].name);
        rc = add_figure(an, s, name, round_plots[k].title, round_plots[k].caption, &plot);
    }
    const TrialReader *shown = readers[pca];
    int layer = 0; // the index of the layer drawn among the trial's captured ones
    if (an->o->pca_layer)
        while (layer < shown->n_layers && shown->layers[layer] != *an->o->pca_layer) layer++;
    if (rc == 0 && layer == shown->n_layers) {
        an->bad_options = true;
        rc = fail(an->err, sizeof an->err,
                  "--pca-layer %d: trial %s (task %s) stores hidden states %d..%d, not %d",
                  *an->o->pca_layer, shown->trial_id, task, shown->layers[0],
                  shown->layers[shown->n_layers - 1], *an->o->pca_layer);
    }
    TrialPca p = {0};
    if (rc == 0 && shown->n_stored > 0)
        rc = trial_pca(readers[pca], layer, &p, an->err, sizeof an->err);
    for (int i = 0; rc == 0 && i < p.n_rounds; i++) {
        plot_pca_round(&plot, shown->trial_id, &p, i, shown->labels);
        snprintf(name, sizeof name, "%s-pca-%s-layer%d-round%d", piece, shown->trial_id, p.layer,
                 p.rounds[i]);
        snprintf(title, sizeof title, "PCA of trial %s, layer %d, after round %d", shown->trial_id,
                 p.layer, p.rounds[i]);
        rc = add_figure(an, s, name, title,
                        "Both classes projected on the two leading principal components of all "
                        "the rounds drawn, pooled: the axes are the same in every round.",
                        &plot);
    }
    text_free(&plot);
    trial_pca_free(&p);
    task_round_stats_free(&pooled);
    free(readers);
    free(stats);
    return rc;
}

// The tasks to give sections, in order of first appearance: in the headline tables' titles
// ("<task>: by ...") and among the analysed trials.
static int list_tasks(const Analysis *an, char (*tasks)[256], int max) {
    int n = 0;
    for (int k = 0; k < an->headline.n_tables + an->n_trials; k++) {
        char name[256] = "";
        if (k < an->headline.n_tables) {
            const char *title = an->headline.tables[k].title, *colon = strstr(title, ": ");
            if (colon) snprintf(name, sizeof name, "%.*s", (int)(colon - title), title);
        } else {
            snprintf(name, sizeof name, "%s", an->readers[k - an->headline.n_tables].task);
        }
        bool seen = !name[0];
        for (int i = 0; i < n && !seen; i++) seen = !strcmp(tasks[i], name);
        if (!seen && n < max) snprintf(tasks[n++], sizeof tasks[0], "%s", name);
    }
    return n;
}

static int build_report(Analysis *an) {
    enum { MAX_TASKS = 64 };
    char tasks[MAX_TASKS][256];
    int n_tasks = list_tasks(an, tasks, MAX_TASKS);
    SectionDraft drafts[MAX_TASKS + 1] = {{0}};
    int n_sections = 1 + n_tasks, rc = 0;
    drafts[0].heading = "Sweep";
    drafts[0].intro = keep_printf(
        an, "%s\n\nRun folder: %s.%s%s", an->headline.summary, an->run_dir,
        an->left_out.len ? "\n\nUnreadable trial files: " : "", text_str(&an->left_out));
    for (int k = 0; rc == 0 && k < an->headline.n_tables; k++) {
        int section = 0;
        for (int i = 0; i < n_tasks; i++) {
            size_t len = strlen(tasks[i]);
            if (!strncmp(an->headline.tables[k].title, tasks[i], len) &&
                !strncmp(an->headline.tables[k].title + len, ": ", 2))
                section = 1 + i;
        }
        rc = add_ablation(an, &drafts[section], k);
    }
    if (rc == 0)
        rc = add_table(an, &drafts[0],
                       (ReportTable){.table = an->headline.trials,
                                     .csv_file = "trials.csv",
                                     .markdown_file = "trials.md"});
    for (int i = 0; rc == 0 && i < n_tasks; i++) {
        drafts[1 + i].heading = keep_printf(an, "Task %s", tasks[i]);
        if (an->o->representations) rc = add_representations(an, &drafts[1 + i], tasks[i]);
    }
    ReportSection sections[MAX_TASKS + 1];
    for (int i = 0; i < n_sections; i++)
        sections[i] = (ReportSection){.heading = drafts[i].heading,
                                      .intro = drafts[i].intro,
                                      .tables = drafts[i].tables,
                                      .n_tables = drafts[i].n_tables,
                                      .figures = drafts[i].figures,
                                      .n_figures = drafts[i].n_figures};
    char path[4096], subtitle[1024];
    snprintf(path, sizeof path, "%s/report.html", an->out_dir);
    snprintf(subtitle, sizeof subtitle, "%s %s, started %s; %s",
             an->sweep->name[0] ? "Sweep" : "Trials in",
             an->sweep->name[0] ? an->sweep->name : an->run_dir, an->sweep->created,
             an->headline.summary);
    if (rc == 0)
        rc = html_report_write(path, "are analyze", subtitle, sections, n_sections, an->err,
                               sizeof an->err);
    for (int i = 0; i < n_sections; i++) {
        free(drafts[i].tables);
        free(drafts[i].figures);
    }
    return rc;
}

static void analysis_free(Analysis *an) {
    for (int i = 0; i < an->n_trials; i++) {
        trial_reader_close(&an->readers[i]);
        trial_round_stats_free(&an->stats[i]);
    }
    free(an->readers);
    free(an->stats);
    for (int i = 0; i < an->n_texts; i++) text_free(&an->texts[i]);
    free(an->texts);
    for (int i = 0; i < an->n_tables; i++) table_free(an->tables[i]);
    free(an->tables);
    ablation_free(&an->all);
    ablation_free(&an->headline);
    sweep_table_free(an->sweep);
    text_free(&an->left_out);
}

// ---- the output folder, replaced whole ----

// Whether name is a file that the analysis writes into its folder (in plots/ when in_plots).
static bool is_output_name(const char *name, bool in_plots) {
    static const char *const fixed[] = {"ablation.md", "trials.md", "trials.csv",
                                        "representations.csv", "report.html"};
    size_t n = strlen(name);
    bool ends_svg = n > 4 && !strcmp(name + n - 4, ".svg");
    if (in_plots) return ends_svg;
    for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++)
        if (!strcmp(name, fixed[i])) return true;
    bool csv = n > 4 && !strcmp(name + n - 4, ".csv"), tex = n > 4 && !strcmp(name + n - 4, ".tex");
    return (!strncmp(name, "ablation-", 9) && (csv || tex)) ||
           (!strncmp(name, "rounds-", 7) && csv);
}

// 0 when folder (or folder/plots) holds nothing but what an analysis writes, so that replacing it
// loses nothing else; else -1 with the first other entry in err.
static int check_replaceable(const char *folder, bool in_plots, char *err, size_t err_len) {
    DIR *dir = opendir(folder);
    if (!dir) return fail(err, err_len, "%s: cannot list: %s", folder, strerror(errno));
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dir));) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        if (!in_plots && !strcmp(e->d_name, "plots")) {
            char plots[4096];
            snprintf(plots, sizeof plots, "%s/plots", folder);
            rc = check_replaceable(plots, true, err, err_len);
        } else if (!is_output_name(e->d_name, in_plots)) {
            rc = fail(err, err_len,
                      "%s holds %s, which are analyze does not write: not replacing the "
                      "folder (move that file, or choose another --out)",
                      folder, e->d_name);
        }
    }
    closedir(dir);
    return rc;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *at) {
    (void)st, (void)flag, (void)at;
    return remove(path);
}

// Deletes folder and what it holds (a temporary folder of the analysis, or an old analysis).
static int remove_tree(const char *folder) {
    return nftw(folder, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

// Puts the finished folder tmp in out's place: swapped atomically with an old analysis there (a
// reader sees the old one or the new one, never a mix), whose files then go.
static int publish_output(const char *tmp, const char *out, char *err, size_t err_len) {
    struct stat st;
    if (stat(out, &st) != 0) {
        if (rename(tmp, out) == 0) return 0;
        return fail(err, err_len, "renaming %s to %s: %s", tmp, out, strerror(errno));
    }
    if (renameat2(AT_FDCWD, tmp, AT_FDCWD, out, RENAME_EXCHANGE) == 0) {
        if (remove_tree(tmp) != 0)
            fprintf(stderr, "warning: %s: the old analysis could not be deleted: %s\n", tmp,
                    strerror(errno));
        return 0;
    }
    // A file system without RENAME_EXCHANGE: out is briefly absent, never half written.
    if (remove_tree(out) != 0 || rename(tmp, out) != 0)
        return fail(err, err_len, "replacing %s by %s: %s", out, tmp, strerror(errno));
    return 0;
}

static int analyse(const SweepAnalysisOptions *o, const char *out_dir, TextBuffer *markdown,
                   bool *bad_options, char *err, size_t err_len);

int sweep_analysis_run(const SweepAnalysisOptions *o, TextBuffer *markdown, bool *bad_options,
                       char *err, size_t err_len) {
    *bad_options = false;
    // The analysis goes into a fresh sibling of out_dir, which takes out_dir's place only when
    // whole: a failure leaves out_dir as it was.
    char out[4096], tmp[4200];
    snprintf(out, sizeof out, "%s", o->out_dir);
    for (size_t n = strlen(out); n > 1 && out[n - 1] == '/'; n--) out[n - 1] = '\0';
    char *slash = strrchr(out, '/');
    if (slash && slash != out) {
        *slash = '\0';
        int made = make_dirs(out, err, err_len);
        *slash = '/';
        if (made < 0) return -1;
    }
    struct stat st;
    if (stat(out, &st) == 0 && check_replaceable(out, false, err, err_len) < 0) return -1;
    snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", out);
    if (!mkdtemp(tmp)) return fail(err, err_len, "%s: %s", tmp, strerror(errno));
    int rc = analyse(o, tmp, markdown, bad_options, err, err_len);
    if (rc == 0) rc = publish_output(tmp, out, err, err_len);
    if (rc != 0) remove_tree(tmp);
    return rc;
}

static int analyse(const SweepAnalysisOptions *o, const char *out_dir, TextBuffer *markdown,
                   bool *bad_options, char *err, size_t err_len) {
    Analysis an = {.o = o, .run_dir = o->run_dir, .out_dir = out_dir};
    AblationOptions all = {.where = o->where, .n_where = o->n_where, .by = o->by, .n_by = o->n_by};
    AblationOptions headline = all;
    headline.metrics = o->n_metrics ? o->metrics : ablation_headline_metrics;
    headline.n_metrics = o->n_metrics ? o->n_metrics : ABLATION_HEADLINE_N;
    headline.skip_unknown_metrics = o->n_metrics == 0;
    char plots[4300];
    snprintf(plots, sizeof plots, "%s/plots", out_dir);
    int rc = load_sweep(&an);
    if (rc == 0 && (ablation_build(an.sweep, &all, &an.all, an.err, sizeof an.err) < 0 ||
                    ablation_build(an.sweep, &headline, &an.headline, an.err, sizeof an.err) < 0)) {
        // A filter, grouping or metric that the sweep does not have is the caller's mistake.
        an.bad_options = o->n_where || o->n_by || o->n_metrics;
        rc = -1;
    }
    if (rc == 0 && (make_dirs(plots, an.err, sizeof an.err) < 0 || write_ablation_files(&an) < 0))
        rc = -1;
    if (rc == 0 && o->representations)
        rc = load_representations(&an) < 0 || write_representations(&an) < 0 ? -1 : 0;
    if (rc == 0) rc = build_report(&an);
    if (rc == 0) {
        text_append(markdown, "%s\n\n", an.headline.summary);
        for (int k = 0; k < an.headline.n_tables; k++) {
            table_write_markdown(markdown, an.headline.tables[k].by_metric);
            text_append(markdown, "\n");
        }
        if (markdown->failed) rc = fail(an.err, sizeof an.err, "out of memory");
    }
    *bad_options = an.bad_options;
    if (rc < 0) fail(err, err_len, "%s", an.err);
    analysis_free(&an);
    return rc;
}
