// Tests of the ARE discriminator (compute/discriminator.c) against independent truth:
//   - a naive double-precision network written here: loss, accuracy and the input gradient
//     (against central finite differences of its loss), with and without standardisation;
//   - one Adam step from a known init, whose update reveals the parameter gradient, against
//     finite differences of the same double-precision loss;
//   - PyTorch: epochs of shuffled mini-batches with torch.optim.Adam in float64, then held-out
//     loss, accuracy and input gradient (tests/ref/make_discriminator_fixture.py);
//   - behaviour: separable clusters, identical classes, features of wildly different scales;
//   - contracts: determinism, the initialisation's bounds, input_grad leaving D untouched,
//     bad input refused.
//
// The CPU backend's memory is host memory, so the tests hand it plain host arrays.
#include "backend_cpu.h"
#include "check.h"
#include "discriminator.h"
#include "hf_fixture.h"
#include "rng.h"
#include "safetensors.h"
#include "test_arrays.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static Backend *be;
static Rng rng;

// The published hyperparameters (ARE.md), the MLP width aside.
static DiscriminatorConfig published(DiscriminatorKind kind, bool standardize) {
    return (DiscriminatorConfig){.kind = kind,
                                 .hidden = 128, // published: 512; narrower keeps the test fast
                                 .lr = 1e-3f,
                                 .eps = 1e-3f,
                                 .epochs = 30,
                                 .batch_size = 64,
                                 .standardize = standardize};
}

static const char *kind_name(DiscriminatorKind kind) {
    return kind == DISCRIMINATOR_MLP ? "mlp" : "linear";
}

static double *to_double(const float *x, size_t n) {
    double *d = new_array(n, sizeof *d);
    for (size_t i = 0; i < n; i++) d[i] = x[i];
    return d;
}

static int *random_labels(int n) {
    int *labels = new_array(n, sizeof *labels);
    for (int i = 0; i < n; i++) labels[i] = (int)(rng_next(&rng) & 1);
    return labels;
}

static float *get_params(const Discriminator *d) {
    float *p = new_array(discriminator_param_count(d), sizeof *p);
    discriminator_get_params(d, p);
    return p;
}

// --- a double-precision reference network -------------------------------------------------------

#define REF_MAX 64 // widest layer the reference handles

typedef struct {
    int n_features, hidden; // hidden 0: the linear discriminator
    double *params;         // discriminator.h's layout
    double mean[REF_MAX], inv_std[REF_MAX];
} RefNet;

// The network of d (parameters read back), standardising with statistics of X [n, F] computed
// here (population std; a constant feature only centred), or not at all when X is NULL.
static RefNet ref_net(const Discriminator *d, const DiscriminatorConfig *cfg, int F, const float *X,
                      int n) {
    assert(F <= REF_MAX && cfg->hidden <= REF_MAX);
    RefNet net = {.n_features = F, .hidden = cfg->kind == DISCRIMINATOR_MLP ? cfg->hidden : 0};
    net.params = to_double(get_params(d), discriminator_param_count(d));
    for (int c = 0; c < F; c++) {
        net.mean[c] = 0, net.inv_std[c] = 1;
        if (!X) continue;
        double sum = 0, squares = 0;
        for (int i = 0; i < n; i++) sum += X[i * F + c];
        net.mean[c] = sum / n;
        for (int i = 0; i < n; i++) squares += pow(X[i * F + c] - net.mean[c], 2);
        double std = sqrt(squares / n);
        if (std > 1e-6) net.inv_std[c] = 1 / std;
    }
    return net;
}

// y [out] = W x + b with W [out, in] then b [out] at p; returns what follows them.
static const double *ref_dense(const double *p, int in, int out, const double *x, double *y) {
    for (int o = 0; o < out; o++) {
        y[o] = p[(size_t)out * in + o];
        for (int i = 0; i < in; i++) y[o] += p[(size_t)o * in + i] * x[i];
    }
    return p + (size_t)out * in + out;
}

static void ref_logits(const RefNet *net, const double *x_raw, double logits[2]) {
    double x[REF_MAX], h[REF_MAX];
    for (int c = 0; c < net->n_features; c++) x[c] = (x_raw[c] - net->mean[c]) * net->inv_std[c];
    if (!net->hidden) {
        ref_dense(net->params, net->n_features, 2, x, logits);
        return;
    }
    const double *next = ref_dense(net->params, net->n_features, net->hidden, x, h);
    for (int j = 0; j < net->hidden; j++) h[j] = fmax(h[j], 0);
    ref_dense(next, net->hidden, 2, h, logits);
}

static double ref_mean_loss(const RefNet *net, const double *X, const int *targets, int n) {
    double sum = 0;
    for (int i = 0; i < n; i++) {
        double l[2];
        ref_logits(net, X + (size_t)i * net->n_features, l);
        double max = fmax(l[0], l[1]);
        sum += max + log(exp(l[0] - max) + exp(l[1] - max)) - l[targets[i]];
    }
    return sum / n;
}

static double ref_accuracy(const RefNet *net, const double *X, const int *labels, int n) {
    int correct = 0;
    for (int i = 0; i < n; i++) {
        double l[2];
        ref_logits(net, X + (size_t)i * net->n_features, l);
        correct += (l[1] > l[0]) == (labels[i] == 1);
    }
    return (double)correct / n;
}

// Central differences of ref_mean_loss in each element of v [n] (X or the parameters), which
// is restored afterwards.
static double *ref_gradient(const RefNet *net, const double *X, const int *targets, int rows,
                            double *v, size_t n, double h) {
    double *grad = new_array(n, sizeof *grad);
    for (size_t i = 0; i < n; i++) {
        double saved = v[i];
        v[i] = saved + h;
        double up = ref_mean_loss(net, X, targets, rows);
        v[i] = saved - h;
        double down = ref_mean_loss(net, X, targets, rows);
        v[i] = saved;
        grad[i] = (up - down) / (2 * h);
    }
    return grad;
}

// got [n] against want [n] (double) within 1e-5 of want's largest magnitude or 1e-5 relative.
static void check_against_double(const char *what, const float *got, const double *want, size_t n) {
    float *wantf = new_array(n, sizeof *wantf);
    double scale = 0;
    for (size_t i = 0; i < n; i++) {
        wantf[i] = (float)want[i];
        scale = fmax(scale, fabs(want[i]));
    }
    CHECK(scale > 0, "%s: the reference is all zero, the check proves nothing", what);
    check_close(what, got, wantf, n, 1e-5 * scale, 1e-5);
}

static void check_value(const char *what, double got, double want, double rtol) {
    printf("%-60s %.9g vs %.9g\n", what, got, want);
    CHECK(fabs(got - want) <= rtol * fabs(want), "%s: %.9g, expected %.9g", what, got, want);
}

// Rows [n, F] whose feature c is offset[c] + scale[c] * N(0, 1), and the last feature the
// constant 2.5 when constant_last (a zero std the standardisation must survive).
static float *features(int n, int F, const float *offset, const float *scale, bool constant_last) {
    float *x = new_array((size_t)n * F, sizeof *x);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < F; c++)
            x[i * F + c] =
                constant_last && c == F - 1 ? 2.5f : offset[c] + scale[c] * rng_normal(&rng);
    return x;
}

// --- the input gradient, loss and accuracy against the reference ---------------------------------

static void test_input_grad(DiscriminatorKind kind, bool standardize) {
    enum { F = 7, H = 10, N_FIT = 30, N = 13 };
    DiscriminatorConfig cfg = {kind, H, 1e-2f, 1e-3f, 2, 8, standardize};
    Discriminator *d = discriminator_create(be, &cfg, F, N_FIT);
    CHECK(d != NULL, "discriminator_create failed");
    if (!d) return;
    float offset[F], scale[F];
    for (int c = 0; c < F; c++) offset[c] = 3 * rng_normal(&rng), scale[c] = expf(rng_normal(&rng));

    discriminator_reset(d, 3);
    float *X_fit = features(N_FIT, F, offset, scale, true);
    CHECK(discriminator_fit(d, X_fit, random_labels(N_FIT), N_FIT, 4, NULL) == 0, "fit failed");
    float *X = features(N, F, offset, scale, false), *dX = new_array((size_t)N * F, sizeof *dX);
    int *labels = random_labels(N), targets[N];
    for (int i = 0; i < N; i++) targets[i] = 1;
    double loss = discriminator_input_grad(d, X, N, 1, dX), test_loss;
    double accuracy = discriminator_accuracy(d, X, labels, N, &test_loss);

    RefNet net = ref_net(d, &cfg, F, standardize ? X_fit : NULL, N_FIT);
    double *Xd = to_double(X, (size_t)N * F);
    char what[96];
    const char *name = kind_name(kind), *std = standardize ? ", standardised" : "";
    snprintf(what, sizeof what, "%s%s: input_grad loss", name, std);
    check_value(what, loss, ref_mean_loss(&net, Xd, targets, N), 1e-5);
    snprintf(what, sizeof what, "%s%s: dX (finite differences)", name, std);
    check_against_double(what, dX, ref_gradient(&net, Xd, targets, N, Xd, (size_t)N * F, 1e-5),
                         (size_t)N * F);
    snprintf(what, sizeof what, "%s%s: accuracy", name, std);
    check_value(what, accuracy, ref_accuracy(&net, Xd, labels, N), 0);
    snprintf(what, sizeof what, "%s%s: mean loss", name, std);
    check_value(what, test_loss, ref_mean_loss(&net, Xd, labels, N), 1e-5);
    discriminator_free(d);
    release_arrays();
}

// --- one Adam step reveals the parameter gradient ------------------------------------------------

// At step 1 Adam's moments are m = (1-b1) g and v = (1-b2) g^2, so the update is exactly
// lr * g / (|g| + eps): with eps = 1 it is a smooth, invertible function of g, not just its sign.
static void test_adam_step(DiscriminatorKind kind, bool standardize) {
    enum { F = 5, H = 6, N = 24 };
    DiscriminatorConfig cfg = {kind, H, 0.5f, 1.0f, 1, 64, standardize}; // one batch, one step
    Discriminator *d = discriminator_create(be, &cfg, F, N);
    CHECK(d != NULL, "discriminator_create failed");
    if (!d) return;
    float offset[F], scale[F];
    for (int c = 0; c < F; c++) offset[c] = rng_normal(&rng), scale[c] = expf(rng_normal(&rng));
    float *X = features(N, F, offset, scale, false);
    int *labels = random_labels(N);
    discriminator_reset(d, 5);
    float *before = get_params(d);
    double loss;
    CHECK(discriminator_fit(d, X, labels, N, 6, &loss) == 0, "fit failed");
    float *after = get_params(d);

    RefNet net = ref_net(d, &cfg, F, standardize ? X : NULL, N);
    size_t n = discriminator_param_count(d);
    for (size_t i = 0; i < n; i++) net.params[i] = before[i];
    double *Xd = to_double(X, (size_t)N * F);
    double *grad = ref_gradient(&net, Xd, labels, N, net.params, n, 1e-6);
    double *want = new_array(n, sizeof *want);
    float *update = new_array(n, sizeof *update);
    for (size_t i = 0; i < n; i++) {
        want[i] = cfg.lr * grad[i] / (fabs(grad[i]) + cfg.eps);
        update[i] = before[i] - after[i];
    }
    char what[96];
    const char *name = kind_name(kind), *std = standardize ? ", standardised" : "";
    snprintf(what, sizeof what, "%s%s: Adam step 1 (finite-difference gradient)", name, std);
    check_against_double(what, update, want, n);
    snprintf(what, sizeof what, "%s%s: the step's loss", name, std);
    check_value(what, loss, ref_mean_loss(&net, Xd, labels, N), 1e-5);
    discriminator_free(d);
    release_arrays();
}

// --- PyTorch -------------------------------------------------------------------------------------

// Tensor "<name>.<field>" of exactly n values into a test array; NULL after a failed check.
static float *case_floats(const SafetensorsFile *f, const char *name, const char *field, size_t n) {
    char key[64], err[512] = "no such tensor";
    snprintf(key, sizeof key, "%s.%s", name, field);
    const SafetensorsTensor *t = safetensors_find(f, key);
    float *values = new_array(n, sizeof *values);
    bool ok = t && safetensors_read_f32(f, t, values, n, err, sizeof err) == 0;
    CHECK(ok, "%s: %s: %s", safetensors_path(f), key, err);
    return ok ? values : NULL;
}

static int32_t *case_ints(const SafetensorsFile *f, const char *name, const char *field, size_t n) {
    char key[64], err[512] = "no such tensor";
    snprintf(key, sizeof key, "%s.%s", name, field);
    const SafetensorsTensor *t = safetensors_find(f, key);
    int32_t *values = new_array(n, sizeof *values);
    bool ok = t && safetensors_read_i32(f, t, values, n, err, sizeof err) == 0;
    CHECK(ok, "%s: %s: %s", safetensors_path(f), key, err);
    return ok ? values : NULL;
}

static void test_torch_case(const SafetensorsFile *f, const char *name) {
    // features, rows, held-out rows, hidden (0: linear), standardize, epochs, batch, fit seed,
    // generator target
    int32_t *config = case_ints(f, name, "config", 9);
    if (!config) return;
    int F = config[0], n = config[1], n_test = config[2];
    float *adam = case_floats(f, name, "adam", 2); // lr, eps
    float *X = case_floats(f, name, "x_train", (size_t)n * F);
    float *X_test = case_floats(f, name, "x_test", (size_t)n_test * F);
    int32_t *labels = case_ints(f, name, "y_train", n);
    int32_t *labels_test = case_ints(f, name, "y_test", n_test);
    float *logits = case_floats(f, name, "test_logits", (size_t)n_test * 2);
    float *last_loss = case_floats(f, name, "last_epoch_loss", 1);
    float *test_loss = case_floats(f, name, "test_loss", 1);
    float *gen_loss = case_floats(f, name, "gen_loss", 1);
    float *input_grad = case_floats(f, name, "input_grad", (size_t)n_test * F);
    if (!adam || !X || !X_test || !labels || !labels_test || !logits || !last_loss || !test_loss ||
        !gen_loss || !input_grad)
        return;
    DiscriminatorConfig cfg = {.kind = config[3] ? DISCRIMINATOR_MLP : DISCRIMINATOR_LINEAR,
                               .hidden = config[3],
                               .lr = adam[0],
                               .eps = adam[1],
                               .epochs = config[5],
                               .batch_size = config[6],
                               .standardize = config[4]};
    Discriminator *d = discriminator_create(be, &cfg, F, n);
    CHECK(d != NULL, "discriminator_create failed");
    if (!d) return;
    size_t n_params = discriminator_param_count(d);
    float *init = case_floats(f, name, "init", n_params);
    float *trained = case_floats(f, name, "trained", n_params);
    if (!init || !trained) {
        discriminator_free(d);
        return;
    }
    discriminator_reset(d, 0); // a fresh optimiser
    discriminator_set_params(d, init);
    double loss, held_out_loss;
    CHECK(discriminator_fit(d, X, labels, n, (uint64_t)config[7], &loss) == 0, "fit failed");
    double accuracy = discriminator_accuracy(d, X_test, labels_test, n_test, &held_out_loss);
    float *dX = new_array((size_t)n_test * F, sizeof *dX);
    double generator_loss = discriminator_input_grad(d, X_test, n_test, config[8], dX);

    int torch_correct = 0;
    for (int i = 0; i < n_test; i++)
        torch_correct += (logits[2 * i + 1] > logits[2 * i]) == (labels_test[i] == 1);
    char what[96];
    snprintf(what, sizeof what, "torch %s: trained parameters", name);
    check_against_reference(what, get_params(d), trained, n_params, 1e-5);
    snprintf(what, sizeof what, "torch %s: last epoch's loss", name);
    check_value(what, loss, last_loss[0], 1e-5);
    snprintf(what, sizeof what, "torch %s: held-out accuracy", name);
    check_value(what, accuracy, (double)torch_correct / n_test, 0);
    snprintf(what, sizeof what, "torch %s: held-out loss", name);
    check_value(what, held_out_loss, test_loss[0], 1e-4);
    snprintf(what, sizeof what, "torch %s: generator loss", name);
    check_value(what, generator_loss, gen_loss[0], 1e-4);
    snprintf(what, sizeof what, "torch %s: input gradient", name);
    check_against_reference(what, dX, input_grad, (size_t)n_test * F, 1e-5);
    discriminator_free(d);
}

static void test_torch(void) {
    char path[4096], err[512] = "";
    fixture_path(path, sizeof path, "discriminator.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof err);
    CHECK(f, "fixture missing or unreadable (run from the source tree or set ARE_SOURCE_DIR): %s",
          err);
    if (!f) return;
    test_torch_case(f, "mlp");
    test_torch_case(f, "linear");
    safetensors_close(f);
    release_arrays();
}

// --- behaviour -----------------------------------------------------------------------------------

// n rows [n, F] of N(0, I) shifted by +-separation/2 along a random unit direction by label.
static float *clusters(int n, int F, const int *labels, const float *direction, float separation) {
    float *x = random_floats(&rng, (size_t)n * F, 1);
    for (int i = 0; i < n; i++)
        for (int c = 0; c < F; c++)
            x[i * F + c] += (labels[i] ? 0.5f : -0.5f) * separation * direction[c];
    return x;
}

static float *unit_direction(int F) {
    float *v = random_floats(&rng, F, 1);
    double norm = 0;
    for (int c = 0; c < F; c++) norm += (double)v[c] * v[c];
    for (int c = 0; c < F; c++) v[c] /= (float)sqrt(norm);
    return v;
}

// Fits a fresh discriminator on (X, labels) and returns its accuracy on (X_test, labels_test).
static double fit_and_score(const DiscriminatorConfig *cfg, int F, const float *X,
                            const int *labels, int n, const float *X_test, const int *labels_test,
                            int n_test) {
    Discriminator *d = discriminator_create(be, cfg, F, n > n_test ? n : n_test);
    CHECK(d != NULL, "discriminator_create failed");
    if (!d) return NAN;
    discriminator_reset(d, 21);
    CHECK(discriminator_fit(d, X, labels, n, 22, NULL) == 0, "fit failed");
    double accuracy = discriminator_accuracy(d, X_test, labels_test, n_test, NULL);
    discriminator_free(d);
    return accuracy;
}

static void test_behaviour(void) {
    enum { F = 32, N = 256, N_TEST = 400 };
    int *labels = random_labels(N), *labels_test = random_labels(N_TEST);
    float *direction = unit_direction(F);
    // Means 10 standard deviations apart: the Bayes error is about 3e-7.
    float *X = clusters(N, F, labels, direction, 10),
          *X_test = clusters(N_TEST, F, labels_test, direction, 10);
    for (int k = 0; k < 2; k++) {
        DiscriminatorConfig cfg = published(k ? DISCRIMINATOR_MLP : DISCRIMINATOR_LINEAR, false);
        double accuracy = fit_and_score(&cfg, F, X, labels, N, X_test, labels_test, N_TEST);
        printf("separable clusters, %s: test accuracy %.4f\n", kind_name(cfg.kind), accuracy);
        CHECK(accuracy >= 0.99, "%s reaches only %.4f on separable clusters", kind_name(cfg.kind),
              accuracy);
    }

    // Identical classes: nothing to learn, so held-out accuracy is chance (+-0.1 = 4 sigma).
    float *same = clusters(N, F, labels, direction, 0),
          *same_test = clusters(N_TEST, F, labels_test, direction, 0);
    DiscriminatorConfig mlp = published(DISCRIMINATOR_MLP, false);
    double chance = fit_and_score(&mlp, F, same, labels, N, same_test, labels_test, N_TEST);
    printf("identical classes, mlp: test accuracy %.4f\n", chance);
    CHECK(fabs(chance - 0.5) < 0.1, "identical classes give %.4f, not chance", chance);

    // Wild scales: feature 0 is noise of scale 1000, the informative rest are of scale 1e-3.
    enum { F_WILD = 16 };
    float *wild_direction = unit_direction(F_WILD);
    wild_direction[0] = 0;
    float *wild = clusters(N, F_WILD, labels, wild_direction, 6);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < F_WILD; c++) wild[i * F_WILD + c] *= c == 0 ? 1000.0f : 1e-3f;
    double accuracy[2];
    for (int standardize = 0; standardize < 2; standardize++) {
        DiscriminatorConfig cfg = published(DISCRIMINATOR_MLP, standardize);
        accuracy[standardize] = fit_and_score(&cfg, F_WILD, wild, labels, N, wild, labels, N);
        printf("wild feature scales, mlp%s: train accuracy %.4f\n",
               standardize ? ", standardised" : "", accuracy[standardize]);
    }
    CHECK(accuracy[1] >= 0.95, "standardised fit of wild scales reaches only %.4f", accuracy[1]);
    CHECK(accuracy[0] < accuracy[1] - 0.1, "raw wild scales fit as well (%.4f) as standardised",
          accuracy[0]);
    release_arrays();
}

// --- contracts -----------------------------------------------------------------------------------

static bool identical(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static void test_contracts(void) {
    enum { F = 40, H = 300, N = 50 };
    DiscriminatorConfig cfg = {DISCRIMINATOR_MLP, H, 1e-3f, 1e-3f, 3, 16, true};
    Discriminator *d = discriminator_create(be, &cfg, F, N);
    CHECK(d != NULL, "discriminator_create failed");
    if (!d) return;
    size_t n_params = discriminator_param_count(d);
    CHECK(n_params == (size_t)H * F + H + 2 * H + 2, "MLP has %zu parameters", n_params);
    float *X = random_floats(&rng, (size_t)N * F, 2), *dX = new_array((size_t)N * F, sizeof *dX);
    int *labels = random_labels(N);

    // torch.nn.Linear's init: U(-1/sqrt(in), 1/sqrt(in)) for weight and bias of each layer.
    discriminator_reset(d, 1);
    float *init = get_params(d);
    const size_t start[4] = {0, (size_t)H * F, (size_t)H * F + H, (size_t)H * F + H + 2 * H};
    const size_t count[4] = {(size_t)H * F, H, 2 * H, 2};
    const float bound[4] = {1 / sqrtf(F), 1 / sqrtf(F), 1 / sqrtf(H), 1 / sqrtf(H)};
    for (int t = 0; t < 4; t++) {
        float largest = 0;
        double sum = 0;
        for (size_t i = start[t]; i < start[t] + count[t]; i++) {
            largest = fmaxf(largest, fabsf(init[i]));
            sum += init[i];
        }
        CHECK(largest <= bound[t], "init tensor %d reaches %g, past its bound %g", t, largest,
              bound[t]);
        if (count[t] < 100) continue; // too few draws to check the spread
        // A uniform's mean has std bound / sqrt(3 count): 5 of them is a generous band.
        CHECK(largest > 0.98f * bound[t] &&
                  fabs(sum / count[t]) < 5 * bound[t] / sqrt(3.0 * count[t]),
              "init tensor %d does not look uniform in +-%g (largest %g, mean %g)", t, bound[t],
              largest, sum / count[t]);
    }

    // Same seeds, same bits: a reset forgets optimiser and statistics; input_grad changes nothing.
    double loss_a, loss_b;
    CHECK(discriminator_fit(d, X, labels, N, 2, &loss_a) == 0, "fit failed");
    float *fitted = get_params(d);
    double generator_loss = discriminator_input_grad(d, X, N, 0, dX);
    CHECK(identical(get_params(d), fitted, n_params), "input_grad changed the parameters");
    CHECK(isfinite(generator_loss), "input_grad loss %g", generator_loss);
    discriminator_reset(d, 1);
    CHECK(identical(get_params(d), init, n_params), "reset with the same seed differs");
    discriminator_input_grad(d, X, N, 1, dX); // before any fit: must not dirty the next one
    CHECK(discriminator_fit(d, X, labels, N, 2, &loss_b) == 0, "fit failed");
    CHECK(identical(get_params(d), fitted, n_params) && loss_a == loss_b,
          "the same seeds give different fits (loss %.9g vs %.9g)", loss_a, loss_b);
    discriminator_reset(d, 1);
    CHECK(discriminator_fit(d, X, labels, N, 3, NULL) == 0, "fit failed");
    CHECK(!identical(get_params(d), fitted, n_params), "another batch order gives the same fit");
    discriminator_reset(d, 4);
    CHECK(!identical(get_params(d), init, n_params), "another init seed gives the same weights");

    // Bad input is refused without touching anything.
    float *kept = get_params(d);
    int bad_labels[N];
    memcpy(bad_labels, labels, sizeof bad_labels);
    bad_labels[N / 2] = 2;
    CHECK(discriminator_fit(d, X, labels, N + 1, 2, NULL) == -1, "fit of max_rows + 1 rows");
    CHECK(discriminator_fit(d, X, labels, 0, 2, NULL) == -1, "fit of no rows");
    CHECK(discriminator_fit(d, X, bad_labels, N, 2, NULL) == -1, "fit with label 2");
    CHECK(identical(get_params(d), kept, n_params), "a refused fit changed the parameters");
    double loss = 0;
    CHECK(isnan(discriminator_accuracy(d, X, labels, N + 1, &loss)) && isnan(loss),
          "accuracy of max_rows + 1 rows");
    CHECK(isnan(discriminator_accuracy(d, X, bad_labels, N, NULL)), "accuracy with label 2");
    CHECK(isnan(discriminator_input_grad(d, X, N, 2, dX)), "input_grad towards class 2");
    CHECK(isnan(discriminator_input_grad(d, X, 0, 1, dX)), "input_grad of no rows");
    discriminator_free(d);
    release_arrays();
}

int main(void) {
    be = backend_cpu_create(2);
    if (!be) {
        fprintf(stderr, "backend_cpu_create failed\n");
        return 1;
    }
    rng_seed(&rng, 1);
    for (int k = 0; k < 2; k++)
        for (int standardize = 0; standardize < 2; standardize++) {
            DiscriminatorKind kind = k ? DISCRIMINATOR_MLP : DISCRIMINATOR_LINEAR;
            test_input_grad(kind, standardize);
            test_adam_step(kind, standardize);
        }
    test_torch();
    test_behaviour();
    test_contracts();
    be->destroy(be);
    return check_summary();
}
