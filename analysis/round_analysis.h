// The representation analysis of stored rounds: for each trial, each stored round and each
// captured layer, how linearly decodable the concept still is (a fresh linear probe trained on
// the train split, measured on the held-out split) and how far apart the classes sit
// (class_separation.h); for one trial, a 2-D PCA of each stored round on axes shared by all
// rounds; and these numbers pooled across the trials of a task, per round and layer, as mean
// and sample standard deviation, together with the ARE discriminator's accuracy per round.
//
// ARE pushes every representation towards one class, so as rounds go by the probe accuracy
// should fall towards chance (0.5) and the separability ratio towards 0: both say whether
// the edit moved the concept itself, independently of the discriminator ARE trained.
#ifndef ARE_ROUND_ANALYSIS_H
#define ARE_ROUND_ANALYSIS_H

#include "class_separation.h"
#include "trial_reader.h"

#include <stddef.h>

typedef struct {
    int round, layer;               // the trial round the slice was stored after; HF index
    double probe_train, probe_test; // linear-probe accuracies
    ClassSeparation separation;     // over all samples, both splits
} RoundLayerStats;

typedef struct {
    int n_stored, n_layers;
    RoundLayerStats *stats; // [n_stored * n_layers], round-major
} TrialRoundStats;

// Computes the statistics of every stored round and layer of r. Returns 0, or -1 with err.
int trial_round_stats(TrialReader *r, TrialRoundStats *out, char *err, size_t err_len);
void trial_round_stats_free(TrialRoundStats *s);

#define ROUND_PCA_MAX_ROUNDS 12 // rounds plotted of one trial: the first, the last, evenly between

// One layer of one trial projected on the two leading principal components of its chosen
// stored rounds pooled, so that every round is drawn on the same axes and the classes' movement
// from round to round is visible.
typedef struct {
    int layer;               // HF index
    int n_rounds, n_samples; // rounds drawn, samples per round
    int *rounds;             // [n_rounds] trial rounds
    double *xy;              // [n_rounds, n_samples, 2]
    double explained[2];     // fraction of the pooled variance on each axis
    double limits[4];        // x_min, x_max, y_min, y_max over every round drawn
} TrialPca;

// PCA of layer index l (0..n_layers-1) of r. Returns 0, or -1 with err.
int trial_pca(TrialReader *r, int l, TrialPca *out, char *err, size_t err_len);
void trial_pca_free(TrialPca *p);

// Mean, sample standard deviation (NaN below 2 values) and count of the finite values added
// (Welford's running update, exact for the few values per cell here and stable for many).
typedef struct {
    double mean, m2;
    int n;
} Pooled;
void pooled_add(Pooled *p, double value);
double pooled_mean(const Pooled *p);
double pooled_std(const Pooled *p);

// The statistics of several trials of one task pooled per round (0..n_rounds-1) and per
// captured layer (the HF indices any trial captured, in increasing order).
typedef struct {
    int n_rounds, n_layers;
    int *layers;                            // [n_layers]
    Pooled *probe_test, *separation;        // [n_layers * n_rounds] over the trials that stored it
    Pooled *disc_acc_test, *disc_acc_train; // [n_rounds] ARE's discriminator, every round
} TaskRoundStats;

// Pools the per-trial statistics stats[n] of the trials readers[n].
int task_round_stats(TrialReader *const *readers, const TrialRoundStats *stats, int n,
                     TaskRoundStats *out, char *err, size_t err_len);
void task_round_stats_free(TaskRoundStats *t);

#endif
