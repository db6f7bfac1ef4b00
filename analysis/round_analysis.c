// The representation analysis of stored rounds; see round_analysis.h.
#include "round_analysis.h"

#include "fail.h"
#include "linear_probe.h"
#include "pca.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int trial_round_stats(TrialReader *r, TrialRoundStats *out, char *err, size_t err_len) {
    *out = (TrialRoundStats){.n_stored = r->n_stored, .n_layers = r->n_layers};
    size_t n_cells = (size_t)r->n_stored * (size_t)r->n_layers;
    out->stats = calloc(n_cells ? n_cells : 1, sizeof *out->stats);
    float *x = malloc((size_t)r->n_samples * (size_t)r->dim * sizeof *x); // [n_samples, dim]
    if (!out->stats || !x) {
        free(x);
        trial_round_stats_free(out);
        return fail(err, err_len, "%s: out of memory", r->path);
    }
    char why[512];
    int rc = 0;
    for (int s = 0; rc == 0 && s < r->n_stored; s++) {
        for (int l = 0; rc == 0 && l < r->n_layers; l++) {
            RoundLayerStats *st = &out->stats[(size_t)s * (size_t)r->n_layers + (size_t)l];
            st->round = r->stored_rounds[s];
            st->layer = r->layers[l];
            LinearProbeResult probe;
            if (trial_reader_slice(r, s, l, x, err, err_len) < 0)
                rc = -1;
            else if (linear_probe(x, r->labels, r->is_test, r->n_samples, r->dim, NULL, &probe,
                                  NULL, why, sizeof why) < 0 ||
                     class_separation(x, r->labels, r->n_samples, r->dim, &st->separation, why,
                                      sizeof why) < 0)
                rc = fail(err, err_len, "%s: round %d, layer %d: %s", r->path, st->round, st->layer,
                          why);
            else {
                st->probe_train = probe.train_accuracy;
                st->probe_test = probe.test_accuracy;
            }
        }
    }
    free(x);
    if (rc < 0) trial_round_stats_free(out);
    return rc;
}

void trial_round_stats_free(TrialRoundStats *s) {
    free(s->stats);
    *s = (TrialRoundStats){0};
}

// The stored-round indices to draw: all when they fit, else the first, the last and evenly
// spaced ones between.
static int pick_rounds(int n_stored, int *picked) {
    if (n_stored <= ROUND_PCA_MAX_ROUNDS) {
        for (int s = 0; s < n_stored; s++) picked[s] = s;
        return n_stored;
    }
    for (int i = 0; i < ROUND_PCA_MAX_ROUNDS; i++)
        picked[i] = (int)lround((double)i * (n_stored - 1) / (ROUND_PCA_MAX_ROUNDS - 1));
    return ROUND_PCA_MAX_ROUNDS;
}

int trial_pca(TrialReader *r, int l, TrialPca *out, char *err, size_t err_len) {
    *out = (TrialPca){.layer = r->layers[l], .n_samples = r->n_samples};
    if (r->n_stored < 1) return fail(err, err_len, "%s: no stored round yet", r->path);
    int picked[ROUND_PCA_MAX_ROUNDS];
    out->n_rounds = pick_rounds(r->n_stored, picked);
    size_t per_round = (size_t)r->n_samples * (size_t)r->dim;
    float *x = malloc((size_t)out->n_rounds * per_round * sizeof *x); // [rounds, samples, dim]
    out->rounds = malloc((size_t)out->n_rounds * sizeof *out->rounds);
    out->xy = malloc((size_t)out->n_rounds * (size_t)r->n_samples * 2 * sizeof *out->xy);
    Pca pca = {0};
    int rc = x && out->rounds && out->xy ? 0 : fail(err, err_len, "%s: out of memory", r->path);
    for (int i = 0; rc == 0 && i < out->n_rounds; i++) {
        out->rounds[i] = r->stored_rounds[picked[i]];
        rc = trial_reader_slice(r, picked[i], l, x + (size_t)i * per_round, err, err_len);
    }
    char why[512];
    int n = out->n_rounds * r->n_samples;
    if (rc == 0 && pca_fit(x, n, r->dim, 2, PCA_AUTO, &pca, why, sizeof why) < 0)
        rc = fail(err, err_len, "%s: PCA of layer %d: %s", r->path, out->layer, why);
    if (rc == 0) {
        pca_project(&pca, x, n, out->xy);
        for (int j = 0; j < 2; j++)
            out->explained[j] = pca.total_variance > 0 ? pca.variance[j] / pca.total_variance : 0;
        out->limits[0] = out->limits[2] = INFINITY;
        out->limits[1] = out->limits[3] = -INFINITY;
        for (int i = 0; i < n; i++) {
            for (int j = 0; j < 2; j++) {
                out->limits[2 * j] = fmin(out->limits[2 * j], out->xy[2 * i + j]);
                out->limits[2 * j + 1] = fmax(out->limits[2 * j + 1], out->xy[2 * i + j]);
            }
        }
    }
    pca_free(&pca);
    free(x);
    if (rc < 0) trial_pca_free(out);
    return rc;
}

void trial_pca_free(TrialPca *p) {
    free(p->rounds);
    free(p->xy);
    *p = (TrialPca){0};
}

void pooled_add(Pooled *p, double value) {
    if (!isfinite(value)) return;
    p->n++;
    double delta = value - p->mean;
    p->mean += delta / p->n;
    p->m2 += delta * (value - p->mean);
}

double pooled_mean(const Pooled *p) {
    return p->n ? p->mean : NAN;
}

double pooled_std(const Pooled *p) {
    return p->n > 1 ? sqrt(p->m2 / (p->n - 1)) : NAN;
}

static int layer_index(const TaskRoundStats *t, int layer) {
    for (int i = 0; i < t->n_layers; i++)
        if (t->layers[i] == layer) return i;
    return -1;
}

static int compare_ints(const void *a, const void *b) {
    int x = *(const int *)a, y = *(const int *)b;
    return (x > y) - (x < y);
}

int task_round_stats(TrialReader *const *readers, const TrialRoundStats *stats, int n,
                     TaskRoundStats *out, char *err, size_t err_len) {
    *out = (TaskRoundStats){0};
    int max_layers = 0;
    for (int i = 0; i < n; i++) {
        max_layers += readers[i]->n_layers;
        for (int k = 0; k < readers[i]->n_rounds; k++)
            if (readers[i]->round[k] + 1 > out->n_rounds) out->n_rounds = readers[i]->round[k] + 1;
        // A growing file's representations may be one flush ahead of its metrics.
        for (int c = 0; c < stats[i].n_stored * stats[i].n_layers; c++)
            if (stats[i].stats[c].round + 1 > out->n_rounds)
                out->n_rounds = stats[i].stats[c].round + 1;
    }
    out->layers = malloc((size_t)(max_layers ? max_layers : 1) * sizeof *out->layers);
    if (!out->layers) return fail(err, err_len, "out of memory pooling trials");
    for (int i = 0; i < n; i++)
        for (int l = 0; l < readers[i]->n_layers; l++)
            if (layer_index(out, readers[i]->layers[l]) < 0)
                out->layers[out->n_layers++] = readers[i]->layers[l];
    qsort(out->layers, (size_t)out->n_layers, sizeof *out->layers, compare_ints);
    size_t cells = (size_t)out->n_layers * (size_t)out->n_rounds + 1,
           rounds = (size_t)out->n_rounds + 1;
    out->probe_test = calloc(cells, sizeof(Pooled));
    out->separation = calloc(cells, sizeof(Pooled));
    out->disc_acc_test = calloc(rounds, sizeof(Pooled));
    out->disc_acc_train = calloc(rounds, sizeof(Pooled));
    if (!out->probe_test || !out->separation || !out->disc_acc_test || !out->disc_acc_train) {
        task_round_stats_free(out);
        return fail(err, err_len, "out of memory pooling trials");
    }
    for (int i = 0; i < n; i++) {
        const TrialRoundStats *s = &stats[i];
        for (int c = 0; c < s->n_stored * s->n_layers; c++) {
            const RoundLayerStats *st = &s->stats[c];
            size_t cell =
                (size_t)layer_index(out, st->layer) * (size_t)out->n_rounds + (size_t)st->round;
            pooled_add(&out->probe_test[cell], st->probe_test);
            pooled_add(&out->separation[cell], st->separation.ratio);
        }
        const double *test = trial_reader_metric(readers[i], "disc_acc_test");
        const double *train = trial_reader_metric(readers[i], "disc_acc_train");
        for (int k = 0; k < readers[i]->n_rounds; k++) {
            int round = readers[i]->round[k];
            if (round < 0) continue;
            if (test) pooled_add(&out->disc_acc_test[round], test[k]);
            if (train) pooled_add(&out->disc_acc_train[round], train[k]);
        }
    }
    return 0;
}

void task_round_stats_free(TaskRoundStats *t) {
    free(t->layers);
    free(t->probe_test);
    free(t->separation);
    free(t->disc_acc_test);
    free(t->disc_acc_train);
    *t = (TaskRoundStats){0};
}
