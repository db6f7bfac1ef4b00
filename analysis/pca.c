// PCA as one symmetric eigenproblem, on the covariance or on the Gram matrix; see pca.h.
#include "pca.h"
#include "fail.h"

#include <cblas.h>
#include <lapacke.h>
#include <math.h>
#include <stdbool.h>
#include <stdlib.h>

// A Gram eigenvalue below this fraction of the largest counts as zero: its eigenvector lies, to
// rounding, in the null space of Xc^T, and Xc^T u is noise rather than a direction.
#define GRAM_ZERO_FRACTION 1e-9

// The k largest eigenpairs of the symmetric m x m matrix a (its upper triangle stored row-major,
// which is the lower triangle column-major; a is overwritten): eigenvalues decreasing into
// w [m] (the first k used), eigenvectors as contiguous columns z [k][m]. Returns LAPACK's info.
static int top_eigenpairs(double *a, int m, int k, double *w, double *z) {
    lapack_int found, isuppz[2 * k];
    // Range 'I' computes only the k wanted eigenvectors; abstol = safe minimum is what LAPACK
    // recommends for the most accurate eigenvalues.
    lapack_int info = LAPACKE_dsyevr(LAPACK_COL_MAJOR, 'V', 'I', 'L', m, a, m, 0, 0, m - k + 1, m,
                                     LAPACKE_dlamch('S'), &found, w, z, m, isuppz);
    if (info) return info;
    for (int lo = 0, hi = k - 1; lo < hi; lo++, hi--) { // dsyevr's order is ascending
        double t = w[lo];
        w[lo] = w[hi], w[hi] = t;
        for (int i = 0; i < m; i++) {
            t = z[(size_t)lo * m + i];
            z[(size_t)lo * m + i] = z[(size_t)hi * m + i], z[(size_t)hi * m + i] = t;
        }
    }
    return 0;
}

// components [k, d] and variance [k] from C = Xc^T Xc / (n - 1), xc [n, d] centred.
static int fit_covariance(const double *xc, int n, int d, int k, double *components,
                          double *variance, char *err, size_t err_len) {
    // matrix [d, d], eigenvalues [d], eigenvectors [k, d]
    double *a = malloc(((size_t)d * d + d + (size_t)k * d) * sizeof *a);
    if (!a) return fail(err, err_len, "pca: out of memory for the %d x %d covariance", d, d);
    double *w = a + (size_t)d * d, *z = w + d;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, d, n, 1.0 / (n - 1), xc, d, 0, a, d);
    int info = top_eigenpairs(a, d, k, w, z);
    if (!info) {
        for (size_t i = 0; i < (size_t)k * d; i++) components[i] = z[i];
        for (int j = 0; j < k; j++) variance[j] = fmax(w[j], 0); // rounding can leave -1e-17
    }
    free(a);
    if (info)
        return fail(err, err_len,
                    "pca: LAPACK dsyevr failed (info %d) on the %d x %d "
                    "covariance",
                    info, d, d);
    return 0;
}

// components [k, d] and variance [k] from G = Xc Xc^T / (n - 1), xc [n, d] centred: G u = l u
// gives C (Xc^T u) = l (Xc^T u). Sets *degenerate, writing nothing, when one of the k leading
// eigenvalues is zero.
static int fit_gram(const double *xc, int n, int d, int k, double *components, double *variance,
                    bool *degenerate, char *err, size_t err_len) {
    // matrix [n, n], eigenvalues [n], eigenvectors [k, n]
    double *a = malloc(((size_t)n * n + n + (size_t)k * n) * sizeof *a);
    if (!a) return fail(err, err_len, "pca: out of memory for the %d x %d Gram matrix", n, n);
    double *w = a + (size_t)n * n, *z = w + n;
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, d, 1.0 / (n - 1), xc, d, 0, a, n);
    int info = top_eigenpairs(a, n, k, w, z);
    *degenerate = !info && !(w[k - 1] > GRAM_ZERO_FRACTION * w[0]);
    if (!info && !*degenerate) {
        // components [k, d] = U^T [k, n] Xc [n, d]; z holds U^T row-major
        cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, k, d, n, 1, z, n, xc, d, 0,
                    components, d);
        for (int j = 0; j < k; j++) {
            double *v = components + (size_t)j * d;
            double norm = cblas_dnrm2(d, v, 1);
            for (int c = 0; c < d; c++) v[c] /= norm;
            variance[j] = w[j];
        }
    }
    free(a);
    if (info)
        return fail(err, err_len,
                    "pca: LAPACK dsyevr failed (info %d) on the %d x %d "
                    "Gram matrix",
                    info, n, n);
    return 0;
}

int pca_fit(const float *x, int n, int d, int k, PcaMethod method, Pca *out, char *err,
            size_t err_len) {
    *out = (Pca){0};
    if (n < 2) return fail(err, err_len, "pca: %d samples; at least 2 needed", n);
    if (d < 1) return fail(err, err_len, "pca: sample width %d; expected >= 1", d);
    int k_max = n < d ? n : d;
    if (k < 1 || k > k_max)
        return fail(err, err_len,
                    "pca: %d components asked of %d samples of width %d; "
                    "expected 1..%d",
                    k, n, d, k_max);
    // the fit: mean [d], components [k, d], variance [k]
    double *fit = malloc(((size_t)d + (size_t)k * d + k) * sizeof *fit);
    double *xc = malloc((size_t)n * d * sizeof *xc); // centred x [n, d]
    if (!fit || !xc) {
        free(fit), free(xc);
        return fail(err, err_len, "pca: out of memory for %d samples of width %d", n, d);
    }
    Pca p = {
        .k = k, .d = d, .mean = fit, .components = fit + d, .variance = fit + d + (size_t)k * d};

    for (int c = 0; c < d; c++) p.mean[c] = 0;
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) p.mean[c] += x[(size_t)i * d + c];
    for (int c = 0; c < d; c++) {
        p.mean[c] /= n;
        if (!isfinite(p.mean[c])) {
            free(fit), free(xc);
            return fail(err, err_len, "pca: feature %d is not finite in every sample", c);
        }
    }
    double sum_squares = 0;
    for (size_t i = 0; i < (size_t)n * d; i++) {
        xc[i] = x[i] - p.mean[i % d];
        sum_squares += xc[i] * xc[i];
    }
    p.total_variance = sum_squares / (n - 1);

    bool degenerate = false;
    if (method == PCA_AUTO) method = n < d ? PCA_GRAM : PCA_COVARIANCE;
    int rc = method == PCA_GRAM
                 ? fit_gram(xc, n, d, k, p.components, p.variance, &degenerate, err, err_len)
                 : fit_covariance(xc, n, d, k, p.components, p.variance, err, err_len);
    if (!rc && degenerate) {
        method = PCA_COVARIANCE;
        rc = fit_covariance(xc, n, d, k, p.components, p.variance, err, err_len);
    }
    free(xc);
    if (rc) {
        free(fit);
        return -1;
    }
    p.method = method;

    for (int j = 0; j < k; j++) { // the sign rule
        double *v = p.components + (size_t)j * d;
        int at = 0;
        for (int c = 1; c < d; c++)
            if (fabs(v[c]) > fabs(v[at])) at = c;
        if (v[at] < 0)
            for (int c = 0; c < d; c++) v[c] = -v[c];
    }
    *out = p;
    return 0;
}

void pca_project(const Pca *pca, const float *x, int n, double *y) {
    int d = pca->d;
    for (int i = 0; i < n; i++) {
        const float *xi = x + (size_t)i * d;
        for (int j = 0; j < pca->k; j++) {
            const double *v = pca->components + (size_t)j * d;
            double s = 0;
            for (int c = 0; c < d; c++) s += (xi[c] - pca->mean[c]) * v[c];
            y[(size_t)i * pca->k + j] = s;
        }
    }
}

void pca_free(Pca *pca) {
    if (!pca) return;
    free(pca->mean);
    *pca = (Pca){0};
}
