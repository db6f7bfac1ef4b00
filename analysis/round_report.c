// Tables and plots of the representation analysis; see round_report.h.
#include "round_report.h"

#include "svg_plot.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

// "0.8750 ± 0.0210", "0.8750" for one value, "—" for none.
static void mean_std_text(const Pooled *p, char *out, size_t len) {
    if (p->n == 0)
        snprintf(out, len, "—");
    else if (p->n == 1)
        snprintf(out, len, "%.4f", pooled_mean(p));
    else
        snprintf(out, len, "%.4f ± %.4f", pooled_mean(p), pooled_std(p));
}

// The pooled cell of layer index l and round r of p [n_layers * n_rounds].
static const Pooled *cell(const Pooled *p, const TaskRoundStats *t, int l, int r) {
    return &p[(size_t)l * (size_t)t->n_rounds + (size_t)r];
}

Table *round_table(const char *task, const TaskRoundStats *t) {
    static const char *const header[] = {
        "round", "layer", "trials", "probe accuracy", "separability", "discriminator accuracy"};
    char title[256];
    snprintf(title, sizeof title, "%s: representations per round", task);
    Table *table = table_new(title,
                             "Pooled over the task's trials that stored the round: held-out "
                             "accuracy of a fresh linear probe, class-mean distance over "
                             "within-class spread, and ARE's discriminator's test accuracy "
                             "(mean ± sample std).",
                             6, header, 2);
    for (int r = 0; table && r < t->n_rounds; r++) {
        for (int l = 0; l < t->n_layers; l++) {
            const Pooled *probe = cell(t->probe_test, t, l, r);
            if (probe->n == 0) continue;
            char round[16], layer[16], n[16], acc[64], sep[64], disc[64];
            snprintf(round, sizeof round, "%d", r);
            snprintf(layer, sizeof layer, "%d", t->layers[l]);
            snprintf(n, sizeof n, "%d", probe->n);
            mean_std_text(probe, acc, sizeof acc);
            mean_std_text(cell(t->separation, t, l, r), sep, sizeof sep);
            mean_std_text(&t->disc_acc_test[r], disc, sizeof disc);
            const char *row[] = {round, layer, n, acc, sep, disc};
            if (table_add_row(table, row) < 0) {
                table_free(table);
                return NULL;
            }
        }
    }
    return table;
}

Table *round_numbers(const char *task, const TaskRoundStats *t) {
    static const char *const header[] = {"round",
                                         "layer",
                                         "probe_test_mean",
                                         "probe_test_std",
                                         "probe_test_n",
                                         "separability_mean",
                                         "separability_std",
                                         "separability_n",
                                         "disc_acc_test_mean",
                                         "disc_acc_test_std",
                                         "disc_acc_test_n"};
    Table *table = table_new(task, "", 11, header, 2);
    for (int r = 0; table && r < t->n_rounds; r++) {
        for (int l = 0; l < t->n_layers; l++) {
            const Pooled *p[] = {cell(t->probe_test, t, l, r), cell(t->separation, t, l, r),
                                 &t->disc_acc_test[r]};
            if (p[0]->n == 0) continue;
            char text[11][32];
            snprintf(text[0], 32, "%d", r);
            snprintf(text[1], 32, "%d", t->layers[l]);
            for (int k = 0; k < 3; k++) {
                table_number_text(text[2 + 3 * k], 32, pooled_mean(p[k]));
                table_number_text(text[3 + 3 * k], 32, pooled_std(p[k]));
                snprintf(text[4 + 3 * k], 32, "%d", p[k]->n);
            }
            const char *row[11];
            for (int c = 0; c < 11; c++) row[c] = text[c];
            if (table_add_row(table, row) < 0) {
                table_free(table);
                return NULL;
            }
        }
    }
    return table;
}

Table *trial_round_numbers(TrialReader *const *readers, const TrialRoundStats *stats, int n) {
    static const char *const header[] = {"trial",         "task",          "round",
                                         "layer",         "probe_train",   "probe_test",
                                         "mean_distance", "within_spread", "separability"};
    Table *table = table_new("representations of every trial", "", 9, header, 4);
    for (int i = 0; table && i < n; i++) {
        for (int c = 0; c < stats[i].n_stored * stats[i].n_layers; c++) {
            const RoundLayerStats *s = &stats[i].stats[c];
            char text[7][32];
            snprintf(text[0], 32, "%d", s->round);
            snprintf(text[1], 32, "%d", s->layer);
            table_number_text(text[2], 32, s->probe_train);
            table_number_text(text[3], 32, s->probe_test);
            table_number_text(text[4], 32, s->separation.mean_distance);
            table_number_text(text[5], 32, s->separation.within_spread);
            table_number_text(text[6], 32, s->separation.ratio);
            const char *row[] = {readers[i]->trial_id,
                                 readers[i]->task,
                                 text[0],
                                 text[1],
                                 text[2],
                                 text[3],
                                 text[4],
                                 text[5],
                                 text[6]};
            if (table_add_row(table, row) < 0) {
                table_free(table);
                return NULL;
            }
        }
    }
    return table;
}

// Series of mean ± std over rounds from pooled cells [n_rounds]; arrays [4 * n_rounds] hold
// x, y, lo, hi.
static PlotSeries pooled_series(const char *name, const Pooled *p, int n_rounds, double *arrays) {
    double *x = arrays, *y = x + n_rounds, *lo = y + n_rounds, *hi = lo + n_rounds;
    for (int r = 0; r < n_rounds; r++) {
        x[r] = r;
        y[r] = pooled_mean(&p[r]);
        double std = pooled_std(&p[r]);
        lo[r] = isnan(std) ? y[r] : y[r] - std;
        hi[r] = isnan(std) ? y[r] : y[r] + std;
    }
    return (PlotSeries){.name = name, .n = n_rounds, .x = x, .y = y, .lo = lo, .hi = hi};
}

void plot_discriminator_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t) {
    char title[256];
    snprintf(title, sizeof title, "%s: ARE discriminator accuracy per round", task);
    PlotSpec spec = plot_spec(title, "round", "accuracy (mean ± std over trials)");
    spec.x_whole = true;
    double *arrays = malloc(8 * (size_t)(t->n_rounds + 1) * sizeof *arrays);
    if (!arrays) {
        b->failed = true;
        return;
    }
    PlotSeries series[] = {
        pooled_series("test", t->disc_acc_test, t->n_rounds, arrays),
        pooled_series("train", t->disc_acc_train, t->n_rounds, arrays + 4 * t->n_rounds)};
    svg_lines(b, &spec, series, 2);
    free(arrays);
}

// One series per layer of the pooled cells p [n_layers * n_rounds].
static void plot_per_layer(TextBuffer *b, const char *title, const char *y_label,
                           const TaskRoundStats *t, const Pooled *p) {
    PlotSpec spec = plot_spec(title, "round", y_label);
    spec.x_whole = true;
    size_t per_layer = 4 * (size_t)t->n_rounds;
    double *arrays = malloc(per_layer * (size_t)(t->n_layers + 1) * sizeof *arrays);
    PlotSeries *series = calloc((size_t)t->n_layers + 1, sizeof *series);
    char(*names)[32] = calloc((size_t)t->n_layers + 1, sizeof *names);
    if (!arrays || !series || !names)
        b->failed = true;
    else {
        for (int l = 0; l < t->n_layers; l++) {
            snprintf(names[l], sizeof names[l], "layer %d", t->layers[l]);
            series[l] = pooled_series(names[l], cell(p, t, l, 0), t->n_rounds,
                                      arrays + (size_t)l * per_layer);
        }
        svg_lines(b, &spec, series, t->n_layers);
    }
    free(names);
    free(series);
    free(arrays);
}

void plot_probe_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t) {
    char title[256];
    snprintf(title, sizeof title, "%s: linear-probe accuracy (held out) per round", task);
    plot_per_layer(b, title, "accuracy (mean ± std over trials)", t, t->probe_test);
}

void plot_separation_rounds(TextBuffer *b, const char *task, const TaskRoundStats *t) {
    char title[256];
    snprintf(title, sizeof title, "%s: separability per round", task);
    plot_per_layer(b, title, "class-mean distance / within-class spread", t, t->separation);
}

void plot_pca_round(TextBuffer *b, const char *trial_id, const TrialPca *p, int i,
                    const int *labels) {
    char title[256], x_label[64], y_label[64];
    snprintf(title, sizeof title, "trial %s, layer %d, after round %d", trial_id, p->layer,
             p->rounds[i]);
    snprintf(x_label, sizeof x_label, "PC1 (%.1f%% of variance)", 100 * p->explained[0]);
    snprintf(y_label, sizeof y_label, "PC2 (%.1f%% of variance)", 100 * p->explained[1]);
    PlotSpec spec = plot_spec(title, x_label, y_label);
    spec.x_min = p->limits[0];
    spec.x_max = p->limits[1];
    spec.y_min = p->limits[2];
    spec.y_max = p->limits[3];
    // [class][axis][sample]: each class's points of this round
    double *xy = malloc(4 * (size_t)p->n_samples * sizeof *xy);
    if (!xy) {
        b->failed = true;
        return;
    }
    int count[2] = {0, 0};
    const double *round = p->xy + (size_t)i * (size_t)p->n_samples * 2;
    for (int s = 0; s < p->n_samples; s++) {
        int c = labels[s] != 0;
        double *cls = xy + (size_t)c * 2 * (size_t)p->n_samples;
        cls[count[c]] = round[2 * s];
        cls[(size_t)p->n_samples + (size_t)count[c]] = round[2 * s + 1];
        count[c]++;
    }
    PlotSeries series[2];
    for (int c = 0; c < 2; c++) {
        double *cls = xy + (size_t)c * 2 * (size_t)p->n_samples;
        series[c] = (PlotSeries){
            .name = c ? "label 1" : "label 0", .n = count[c], .x = cls, .y = cls + p->n_samples};
    }
    svg_scatter(b, &spec, series, 2);
    free(xy);
}
