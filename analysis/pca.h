// Principal component analysis of stored representations: the 2-D projections per class that
// `are analyze` plots, and the explained-variance fraction printed beside them.
//
// For samples x [n, d] (float32, row-major) with mean m, the covariance is
//     C = sum_i (x_i - m)(x_i - m)^T / (n - 1)            (d x d, the unbiased estimate)
// and a k-component fit holds C's k leading eigenpairs: components [k, d], unit rows, in order of
// decreasing variance; variance[j] = the j-th largest eigenvalue of C = the sample variance of
// the data projected on components[j]; total_variance = trace(C) = the sum of all d variances,
// so variance[j] / total_variance is the fraction of variance component j explains.
//
// Sign rule: an eigenvector is defined only up to sign, so each component is flipped to make its
// largest-magnitude coordinate positive (the first such coordinate on a tie); the same data then
// always give the same plot orientation, whichever path or LAPACK build computed it.
//
// All arithmetic is in double precision (LAPACK dsyevr for the eigenpairs).
#ifndef ARE_PCA_H
#define ARE_PCA_H

#include <stddef.h>

// Which symmetric eigenproblem gives the components. Both give the same fit up to rounding:
//   PCA_COVARIANCE  C itself (d x d): costs about n d^2 + d^3 flops.
//   PCA_GRAM        the Gram matrix G = Xc Xc^T / (n - 1) (n x n, Xc = centred x), whose nonzero
//                   eigenvalues are C's, an eigenvector u giving the component Xc^T u / |Xc^T u|:
//                   about n^2 d + n^3 flops. When the data span fewer than k dimensions (some of
//                   the k leading eigenvalues are zero to rounding), G's eigenvectors give no
//                   direction for the missing ones, and the fit falls back to PCA_COVARIANCE.
//   PCA_AUTO        the cheaper one: PCA_GRAM when n < d (representations: n = 512 samples of
//                   width d = 4096 cost 1e9 flops this way instead of 1e11), else PCA_COVARIANCE.
typedef enum { PCA_AUTO, PCA_COVARIANCE, PCA_GRAM } PcaMethod;

typedef struct {
    int k, d;
    double *mean;          // [d]
    double *components;    // [k, d] unit rows, decreasing variance, sign rule above
    double *variance;      // [k] eigenvalues of C, decreasing, >= 0
    double total_variance; // trace(C); 0 when all samples are equal
    PcaMethod method;      // the path that produced the fit: PCA_COVARIANCE or PCA_GRAM
} Pca;

// Fits k components to x [n, d]. Requires n >= 2, d >= 1, 1 <= k <= min(n, d), and finite x.
// Components past the rank of the centred data (at most n - 1) have variance 0 and are some
// orthonormal completion. On success fills *out (free with pca_free) and returns 0; on error
// (bad arguments, non-finite input, LAPACK failure, out of memory) writes one line into err,
// leaves *out empty (pca_free-safe) and returns -1.
int pca_fit(const float *x, int n, int d, int k, PcaMethod method, Pca *out, char *err,
            size_t err_len);

// Coordinates of x [n, d] (same width as the fit) on the components: y [n, k] with
// y[i, j] = (x_i - mean) . components[j].
void pca_project(const Pca *pca, const float *x, int n, double *y);

// Frees what pca_fit allocated and empties *pca (NULL or an empty Pca are fine).
void pca_free(Pca *pca);

#endif
