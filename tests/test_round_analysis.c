// The representation analysis on synthetic trial files with known answers: files written by
// io's trial store (as a trial writes them) with representations built so that the answers are
// known without the code under test: round 0 separable along one axis (probe accuracy 1, the
// separation computed here by a plain double loop), later rounds with both classes of each pair
// of samples at the same point (probe accuracy exactly 0.5 on complete pairs, class means equal),
// a second layer that is the first scaled by 10 (probe and ratio unchanged), and the per-round
// discriminator accuracies of two trials pooled into means and sample stds worked out by hand.
#include "check.h"
#include "round_analysis.h"
#include "trial_store.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define N_SAMPLES 80 // 40 pairs (2k: label 0, 2k+1: label 1); every 4th pair is test
#define N_LAYERS  2
#define DIM       8
#define N_ROUNDS  3 // metrics of rounds 0, 1, 2; representations stored after rounds 0 and 2

static int labels[N_SAMPLES], is_test[N_SAMPLES];
static const int layers[N_LAYERS] = {3, 5};

// A deterministic value in [-0.5, 0.5).
static float noise(uint32_t *state) {
    *state = *state * 1664525u + 1013904223u;
    return (float)(*state >> 8) / (float)(1u << 24) - 0.5f;
}

// reps [N_SAMPLES, N_LAYERS, DIM] after round: round 0 puts class c at (6c - 3) on axis 0 with
// noise on the other axes; later rounds give both samples of a pair the same vector. Layer 1 is
// layer 0 times 10.
static void make_reps(int round, float *reps) {
    uint32_t state = 12345;
    for (int i = 0; i < N_SAMPLES; i++) {
        float *x = reps + (size_t)i * N_LAYERS * DIM;
        if (round > 0 && i % 2 == 1) {
            memcpy(x, x - N_LAYERS * DIM, N_LAYERS * DIM * sizeof *x);
            continue;
        }
        for (int d = 0; d < DIM; d++) x[d] = noise(&state);
        if (round == 0) x[0] = 6.0f * (float)labels[i] - 3.0f + 0.2f * x[0];
        for (int d = 0; d < DIM; d++) x[DIM + d] = 10.0f * x[d];
    }
}

// class_separation's definitions computed plainly, for layer l of reps.
static void naive_separation(const float *reps, int l, double *distance, double *spread) {
    double mean[2][DIM] = {{0}}, count[2] = {0};
    for (int i = 0; i < N_SAMPLES; i++) {
        count[labels[i]]++;
        for (int d = 0; d < DIM; d++) mean[labels[i]][d] += reps[(i * N_LAYERS + l) * DIM + d];
    }
    double dist2 = 0, within = 0;
    for (int d = 0; d < DIM; d++) {
        mean[0][d] /= count[0];
        mean[1][d] /= count[1];
        dist2 += (mean[1][d] - mean[0][d]) * (mean[1][d] - mean[0][d]);
    }
    for (int i = 0; i < N_SAMPLES; i++)
        for (int d = 0; d < DIM; d++) {
            double r = reps[(i * N_LAYERS + l) * DIM + d] - mean[labels[i]][d];
            within += r * r;
        }
    *distance = sqrt(dist2);
    *spread = sqrt(within / N_SAMPLES);
}

// Writes a finished trial file at path whose rounds' discriminator test accuracies are acc.
static int write_trial(const char *path, const char *id, const double acc[N_ROUNDS]) {
    char err[512];
    TrialStoreSpec spec = {.path = path,
                           .config_text = "task = \"jailbreak\";\ntask.target_label = 0;\n",
                           .trial_id = id,
                           .host = "test",
                           .device = "cpu",
                           .version = "test",
                           .n_samples = N_SAMPLES,
                           .n_layers = N_LAYERS,
                           .dim = DIM,
                           .layers = layers,
                           .labels = labels,
                           .is_test = is_test};
    TrialStore *ts = trial_store_create(&spec, err, sizeof err);
    if (!ts) {
        fprintf(stderr, "trial_store_create: %s\n", err);
        return -1;
    }
    AreSink sink = trial_store_sink(ts);
    static float reps[N_SAMPLES * N_LAYERS * DIM];
    int rc = 0;
    for (int r = 0; r < N_ROUNDS && rc == 0; r++) {
        AreRoundMetrics m = {.round = r,
                             .disc_acc_test = acc[r],
                             .disc_acc_train = 1.0,
                             .gen_loss_train = NAN,
                             .gen_loss_test = NAN,
                             .retain_loss = NAN,
                             .guard_answer_rate = NAN,
                             .guard_perplexity = NAN};
        rc = sink.round_metrics(sink.ctx, &m);
        if (rc == 0 && r != 1) {
            make_reps(r, reps);
            rc = sink.representations(sink.ctx, r, reps, N_SAMPLES, N_LAYERS, DIM);
        }
    }
    if (rc < 0) {
        fprintf(stderr, "sink: %s\n", trial_store_error(ts));
        trial_store_close(ts);
        return -1;
    }
    if (trial_store_finish(ts, "done", err, sizeof err) < 0) {
        fprintf(stderr, "trial_store_finish: %s\n", err);
        return -1;
    }
    return 0;
}

static void test_reader(const char *path) {
    char err[512];
    TrialReader r;
    CHECK(trial_reader_open(&r, path, err, sizeof err) == 0, "open: %s", err);
    if (!r.path) return;
    CHECK(!strcmp(r.trial_id, "trial-a") && !strcmp(r.status, "done"), "id %s, status %s",
          r.trial_id, r.status);
    CHECK(!strcmp(r.task, "jailbreak"), "the task of the config: '%s'", r.task);
    CHECK(r.n_rounds == N_ROUNDS && r.round[2] == 2, "%d metric rounds", r.n_rounds);
    const double *acc = trial_reader_metric(&r, "disc_acc_test");
    CHECK(acc && acc[0] == 0.95 && acc[2] == 0.55, "disc_acc_test read back");
    CHECK(!trial_reader_metric(&r, "no_such_metric"), "an unknown metric is NULL");
    CHECK(r.n_stored == 2 && r.stored_rounds[0] == 0 && r.stored_rounds[1] == 2,
          "stored rounds 0 and 2: %d stored", r.n_stored);
    CHECK(r.n_samples == N_SAMPLES && r.n_layers == N_LAYERS && r.dim == DIM && r.layers[1] == 5 &&
              r.labels[3] == 1 && r.is_test[6] == 1 && r.is_test[0] == 0,
          "shape, layers, labels and split read back");
    static float want[N_SAMPLES * N_LAYERS * DIM], got[N_SAMPLES * DIM];
    make_reps(2, want);
    CHECK(trial_reader_slice(&r, 1, 1, got, err, sizeof err) == 0, "slice: %s", err);
    int same = 1;
    for (int i = 0; i < N_SAMPLES; i++)
        for (int d = 0; d < DIM; d++)
            same &= got[i * DIM + d] == want[(i * N_LAYERS + 1) * DIM + d];
    CHECK(same, "the stored round 2, layer 5 slice is the float32 values written");
    trial_reader_close(&r);
}

static void test_trial_stats(const char *path) {
    char err[512];
    TrialReader r;
    TrialRoundStats s;
    if (trial_reader_open(&r, path, err, sizeof err) < 0) return;
    CHECK(trial_round_stats(&r, &s, err, sizeof err) == 0, "stats: %s", err);
    static float reps[N_SAMPLES * N_LAYERS * DIM];
    make_reps(0, reps);
    for (int l = 0; l < N_LAYERS; l++) {
        const RoundLayerStats *base = &s.stats[l], *edited = &s.stats[N_LAYERS + l];
        CHECK(base->round == 0 && edited->round == 2 && base->layer == layers[l],
              "rounds and layers of the cells");
        CHECK(base->probe_test == 1.0 && base->probe_train == 1.0,
              "layer %d round 0: separable, probe %.3f / %.3f", layers[l], base->probe_train,
              base->probe_test);
        CHECK(edited->probe_test == 0.5,
              "layer %d round 2: each test pair at one point, probe exactly 0.5, got %.3f",
              layers[l], edited->probe_test);
        double distance, spread;
        naive_separation(reps, l, &distance, &spread);
        CHECK(fabs(base->separation.mean_distance - distance) <= 1e-5 * distance &&
                  fabs(base->separation.within_spread - spread) <= 1e-5 * spread,
              "layer %d round 0 separation %.6f / %.6f, expected %.6f / %.6f", layers[l],
              base->separation.mean_distance, base->separation.within_spread, distance, spread);
        CHECK(edited->separation.mean_distance == 0 && edited->separation.ratio == 0,
              "round 2: equal class means, ratio 0");
    }
    CHECK(fabs(s.stats[0].separation.ratio - s.stats[1].separation.ratio) <=
              1e-6 * s.stats[0].separation.ratio,
          "the ratio does not change when a layer is scaled by 10");

    TrialPca p;
    CHECK(trial_pca(&r, 0, &p, err, sizeof err) == 0, "pca: %s", err);
    if (p.xy) {
        CHECK(p.n_rounds == 2 && p.rounds[1] == 2 && p.layer == 3, "PCA of both stored rounds");
        // Round 0's classes sit at -3 and +3 on axis 0, which dominates the pooled variance: the
        // first component separates them, in the same direction for every pair.
        int separated = 1, inside = 1;
        for (int i = 0; i + 1 < N_SAMPLES; i += 2)
            separated &= (p.xy[2 * i] < p.xy[2 * (i + 1)]) == (p.xy[2 * 1] > p.xy[0]);
        for (int i = 0; i < p.n_rounds * N_SAMPLES; i++)
            inside &= p.xy[2 * i] >= p.limits[0] && p.xy[2 * i] <= p.limits[1] &&
                      p.xy[2 * i + 1] >= p.limits[2] && p.xy[2 * i + 1] <= p.limits[3];
        CHECK(separated, "PC1 orders every round-0 pair by class");
        CHECK(inside, "the shared limits hold every round's points");
        CHECK(p.explained[0] > 0.5 && p.explained[0] + p.explained[1] <= 1 + 1e-9,
              "explained fractions %.3f, %.3f", p.explained[0], p.explained[1]);
    }
    trial_pca_free(&p);
    trial_round_stats_free(&s);
    trial_reader_close(&r);
}

static void test_pooled(const char *path_a, const char *path_b) {
    char err[512];
    TrialReader r[2];
    TrialRoundStats s[2];
    const char *paths[2] = {path_a, path_b};
    for (int i = 0; i < 2; i++) {
        if (trial_reader_open(&r[i], paths[i], err, sizeof err) < 0 ||
            trial_round_stats(&r[i], &s[i], err, sizeof err) < 0) {
            CHECK(0, "%s", err);
            return;
        }
    }
    TrialReader *readers[2] = {&r[0], &r[1]};
    TaskRoundStats t;
    CHECK(task_round_stats(readers, s, 2, &t, err, sizeof err) == 0, "pool: %s", err);
    CHECK(t.n_rounds == 3 && t.n_layers == 2 && t.layers[0] == 3 && t.layers[1] == 5,
          "rounds 0..2, layers 3 and 5");
    // disc_acc_test: trial a 0.95 0.70 0.55, trial b 0.85 0.60 0.45 -> means 0.9 0.65 0.5,
    // sample std of two values d apart = d / sqrt(2) = 0.1 / sqrt(2).
    const double mean[3] = {0.9, 0.65, 0.5};
    for (int k = 0; k < 3; k++) {
        CHECK(fabs(pooled_mean(&t.disc_acc_test[k]) - mean[k]) < 1e-12 &&
                  fabs(pooled_std(&t.disc_acc_test[k]) - 0.1 / sqrt(2)) < 1e-12 &&
                  t.disc_acc_test[k].n == 2,
              "round %d: %.6f ± %.6f (n %d)", k, pooled_mean(&t.disc_acc_test[k]),
              pooled_std(&t.disc_acc_test[k]), t.disc_acc_test[k].n);
    }
    const Pooled *probe_round1 = &t.probe_test[0 * t.n_rounds + 1];
    const Pooled *probe_round2 = &t.probe_test[0 * t.n_rounds + 2];
    CHECK(probe_round1->n == 0 && isnan(pooled_mean(probe_round1)),
          "no trial stored round 1: an empty cell");
    CHECK(probe_round2->n == 2 && pooled_mean(probe_round2) == 0.5 && pooled_std(probe_round2) == 0,
          "round 2 probe: 0.5 ± 0 over 2 trials");
    task_round_stats_free(&t);
    for (int i = 0; i < 2; i++) {
        trial_round_stats_free(&s[i]);
        trial_reader_close(&r[i]);
    }
}

static void test_errors(const char *dir) {
    char err[512], path[512];
    TrialReader r;
    snprintf(path, sizeof path, "%s/missing.h5", dir);
    CHECK(trial_reader_open(&r, path, err, sizeof err) < 0 && strstr(err, path),
          "a missing file is an error naming it: %s", err);
    trial_reader_close(&r);
    snprintf(path, sizeof path, "%s/not-hdf5.h5", dir);
    FILE *f = fopen(path, "w");
    if (f) {
        fputs("not an HDF5 file\n", f);
        fclose(f);
    }
    CHECK(trial_reader_open(&r, path, err, sizeof err) < 0 && strstr(err, "not a readable"),
          "a text file is refused: %s", err);
    trial_reader_close(&r);
}

int main(void) {
    for (int i = 0; i < N_SAMPLES; i++) {
        labels[i] = i % 2;
        is_test[i] = (i / 2) % 4 == 3;
    }
    char dir[] = "/tmp/test_round_analysis.XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char a[512], b[512];
    snprintf(a, sizeof a, "%s/trial-a.h5", dir);
    snprintf(b, sizeof b, "%s/trial-b.h5", dir);
    const double acc_a[N_ROUNDS] = {0.95, 0.70, 0.55}, acc_b[N_ROUNDS] = {0.85, 0.60, 0.45};
    CHECK(write_trial(a, "trial-a", acc_a) == 0 && write_trial(b, "trial-b", acc_b) == 0,
          "writing the synthetic trial files");
    test_reader(a);
    test_trial_stats(a);
    test_pooled(a, b);
    test_errors(dir);
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf %s", dir);
    if (system(rm) != 0) fprintf(stderr, "could not remove %s\n", dir);
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
