// Logistic-regression probe trained by L-BFGS on standardised features; see linear_probe.h.
#include "linear_probe.h"
#include "fail.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PAIRS        10   // L-BFGS memory: the usual choice, more buys little on a convex loss
#define ARMIJO       1e-4 // sufficient-decrease constant of the line search
#define MAX_HALVINGS 60   // step 2^-60: below that the objective no longer changes in double

LinearProbeOptions linear_probe_defaults(void) {
    return (LinearProbeOptions){.l2 = 1e-3, .iterations = 500, .tolerance = 1e-6};
}

typedef struct {
    const double *z; // standardised features [n, d]: the train rows first, then the test rows
    const double *t; // targets [n]: +1 for class 1, -1 for class 0
    int n_train, d;
    double l2;
    double *scores; // scratch [n]
} Problem;

// The objective (linear_probe.h) at w [d + 1] (bias last), with its gradient into g [d + 1].
static double objective(const Problem *pb, const double *w, double *g) {
    int n = pb->n_train, d = pb->d;
    double *s = pb->scores;
    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1, pb->z, d, w, 1, 0, s, 1);
    double loss = 0, grad_bias = 0;
    for (int i = 0; i < n; i++) {
        double m = pb->t[i] * (s[i] + w[d]);                 // the margin
        loss += m > 0 ? log1p(exp(-m)) : -m + log1p(exp(m)); // log(1 + e^-m) without overflow
        s[i] = -pb->t[i] / (1 + exp(m)) / n;                 // d loss_i / d score_i, over n
        grad_bias += s[i];
    }
    cblas_dgemv(CblasRowMajor, CblasTrans, n, d, 1, pb->z, d, s, 1, 0, g, 1);
    double w_squared = 0;
    for (int c = 0; c < d; c++) {
        g[c] += pb->l2 * w[c];
        w_squared += w[c] * w[c];
    }
    g[d] = grad_bias;
    return loss / n + 0.5 * pb->l2 * w_squared;
}

static double dot(const double *a, const double *b, int n) {
    return cblas_ddot(n, a, 1, b, 1);
}

// Minimises the objective from w = 0 by L-BFGS; the result into w [p], p = d + 1. work holds
// 4 vectors [p] and PAIRS pairs [p] each: 2 * PAIRS + 4 vectors.
static void minimise(const Problem *pb, const LinearProbeOptions *opt, double *w, double *work,
                     LinearProbeResult *out) {
    int p = pb->d + 1;
    double *g = work, *w_new = g + p, *g_new = w_new + p, *dir = g_new + p;
    double *s = dir + p, *y = s + (size_t)PAIRS * p; // pair j: s + j p, y + j p
    double rho[PAIRS], alpha[PAIRS];
    int stored = 0, next = 0; // pairs held, and the slot the next pair goes into

    memset(w, 0, (size_t)p * sizeof *w);
    double f = objective(pb, w, g);
    out->iterations = 0;
    out->converged = false;
    for (;; out->iterations++) {
        if (fabs(g[cblas_idamax(p, g, 1)]) <= opt->tolerance) {
            out->converged = true;
            return;
        }
        if (out->iterations == opt->iterations) return;

        // The two-loop recursion: dir = -H g, H the inverse-Hessian estimate of the pairs.
        for (int c = 0; c < p; c++) dir[c] = -g[c];
        for (int j = 0; j < stored; j++) { // newest to oldest
            int at = (next - 1 - j + PAIRS) % PAIRS;
            alpha[at] = rho[at] * dot(s + (size_t)at * p, dir, p);
            cblas_daxpy(p, -alpha[at], y + (size_t)at * p, 1, dir, 1);
        }
        int newest = (next - 1 + PAIRS) % PAIRS;
        double *sn = s + (size_t)newest * p, *yn = y + (size_t)newest * p;
        // Initial scale: the newest pair's curvature; on the first step, a unit-length step.
        cblas_dscal(p, stored ? dot(sn, yn, p) / dot(yn, yn, p) : 1 / cblas_dnrm2(p, g, 1), dir, 1);
        for (int j = stored - 1; j >= 0; j--) { // oldest to newest
            int at = (next - 1 - j + PAIRS) % PAIRS;
            double beta = rho[at] * dot(y + (size_t)at * p, dir, p);
            cblas_daxpy(p, alpha[at] - beta, s + (size_t)at * p, 1, dir, 1);
        }
        double slope = dot(g, dir, p); // negative: every stored pair has s.y > 0
        if (!(slope < 0)) { // unless rounding says otherwise: forget the pairs, descend on -g
            stored = 0;
            continue;
        }

        // Armijo backtracking from the full step.
        double step = 1, f_new = f;
        int halvings = 0;
        for (; halvings <= MAX_HALVINGS; halvings++, step /= 2) {
            for (int c = 0; c < p; c++) w_new[c] = w[c] + step * dir[c];
            f_new = objective(pb, w_new, g_new);
            if (f_new <= f + ARMIJO * step * slope) break;
        }
        if (halvings > MAX_HALVINGS) return; // rounding floor: no decrease left to find

        double *sj = s + (size_t)next * p, *yj = y + (size_t)next * p;
        for (int c = 0; c < p; c++) sj[c] = w_new[c] - w[c], yj[c] = g_new[c] - g[c];
        double sy = dot(sj, yj, p);
        if (sy > 0) { // always, for a strictly convex loss, unless rounding ate the step
            rho[next] = 1 / sy;
            next = (next + 1) % PAIRS;
            if (stored < PAIRS) stored++;
        } else if (stored == PAIRS) {
            stored--; // the slot just overwritten held the oldest pair
        }
        memcpy(w, w_new, (size_t)p * sizeof *w);
        memcpy(g, g_new, (size_t)p * sizeof *g);
        f = f_new;
    }
}

int linear_probe(const float *x, const int *labels, const int *is_test, int n, int d,
                 const LinearProbeOptions *opt, LinearProbeResult *out, double *weights, char *err,
                 size_t err_len) {
    LinearProbeOptions defaults = linear_probe_defaults();
    if (!opt) opt = &defaults;
    if (n < 1 || d < 1)
        return fail(err, err_len, "linear probe: %d samples of width %d; expected >= 1 each", n, d);
    if (!(opt->l2 >= 0 && isfinite(opt->l2)) || opt->iterations < 0 || !(opt->tolerance >= 0))
        return fail(err, err_len,
                    "linear probe: options l2 %g, iterations %d, tolerance %g; "
                    "expected l2 >= 0, iterations >= 0, tolerance >= 0",
                    opt->l2, opt->iterations, opt->tolerance);
    int n_train = 0, train_class[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return fail(err, err_len, "linear probe: label of sample %d is %d; expected 0 or 1", i,
                        labels[i]);
        if (!is_test[i]) n_train++, train_class[labels[i]]++;
    }
    for (int cls = 0; cls < 2; cls++)
        if (!train_class[cls])
            return fail(err, err_len,
                        "linear probe: no sample of class %d among the %d "
                        "training samples; a probe needs both classes",
                        cls, n_train);
    if (n_train == n)
        return fail(err, err_len, "linear probe: no held-out sample among %d (is_test all 0)", n);

    int p = d + 1;
    // z [n, d], t [n], scores [n], mean [d], inv_std [d], w [p], optimiser work [2 PAIRS + 4][p]
    size_t count = (size_t)n * d + 2 * (size_t)n + 2 * (size_t)d + (size_t)(2 * PAIRS + 5) * p;
    double *z = malloc(count * sizeof *z);
    if (!z)
        return fail(err, err_len, "linear probe: out of memory for %d samples of width %d", n, d);
    double *t = z + (size_t)n * d, *scores = t + n, *mean = scores + n, *inv_std = mean + d;
    double *w = inv_std + d, *work = w + p;

    // Rows in probe order (train, then test); targets alongside.
    for (int i = 0, train_row = 0, test_row = n_train; i < n; i++) {
        int row = is_test[i] ? test_row++ : train_row++;
        const float *xi = x + (size_t)i * d;
        for (int c = 0; c < d; c++) {
            if (!isfinite(xi[c])) {
                free(z);
                return fail(err, err_len,
                            "linear probe: sample %d, feature %d is %g; "
                            "expected a finite value",
                            i, c, xi[c]);
            }
            z[(size_t)row * d + c] = xi[c];
        }
        t[row] = labels[i] ? 1 : -1;
    }
    for (int c = 0; c < d; c++) {
        double sum = 0, squares = 0;
        for (int i = 0; i < n_train; i++) sum += z[(size_t)i * d + c];
        mean[c] = sum / n_train;
        for (int i = 0; i < n_train; i++) {
            double dev = z[(size_t)i * d + c] - mean[c];
            squares += dev * dev;
        }
        inv_std[c] = squares > 0 ? 1 / sqrt(squares / n_train) : 0; // constant: the feature -> 0
    }
    for (size_t i = 0; i < (size_t)n * d; i++) z[i] = (z[i] - mean[i % d]) * inv_std[i % d];

    Problem pb = {.z = z, .t = t, .n_train = n_train, .d = d, .l2 = opt->l2, .scores = scores};
    minimise(&pb, opt, w, work, out);

    cblas_dgemv(CblasRowMajor, CblasNoTrans, n, d, 1, z, d, w, 1, 0, scores, 1);
    int correct_train = 0, correct_test = 0;
    for (int i = 0; i < n; i++) {
        int right = (scores[i] + w[d] > 0) == (t[i] > 0);
        if (i < n_train)
            correct_train += right;
        else
            correct_test += right;
    }
    out->train_accuracy = (double)correct_train / n_train;
    out->test_accuracy = (double)correct_test / (n - n_train);
    if (weights) memcpy(weights, w, (size_t)p * sizeof *w);
    free(z);
    return 0;
}
