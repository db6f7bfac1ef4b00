// Feature standardisation of the discriminator: per-column statistics (one thread per column,
// rows in order, in double as on the CPU) and the standardisation, forward and backward (one
// thread per element).
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

// Column c of x [n,d]: mean and the population std in two passes, the squared deviations from
// the mean (they do not cancel as mean(x^2) - mean(x)^2 would for features far from zero).
// inv_std = 1 / std, or 1 for a column whose std is at most min_std (constant in practice).
static __global__ void feature_stats_kernel(int n, int d, const float *x, float min_std,
                                            float *mean, float *inv_std) {
    size_t c = thread_index();
    if (c >= (size_t)d) return;
    double mu = 0, squares = 0;
    for (int i = 0; i < n; i++) mu += x[(size_t)i * d + c];
    mu /= n;
    for (int i = 0; i < n; i++) {
        double deviation = x[(size_t)i * d + c] - mu;
        squares += deviation * deviation;
    }
    double std = sqrt(squares / n);
    mean[c] = (float)mu;
    inv_std[c] = std > min_std ? (float)(1.0 / std) : 1.0f;
}

void cuda_feature_stats(Backend *be, int n, int d, const float *x, float min_std, float *mean,
                        float *inv_std) {
    if (d <= 0) return;
    feature_stats_kernel<<<cuda_blocks(d, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, d, x, min_std, mean, inv_std);
    CUDA_LAUNCHED();
}

// out [n,d] = (x - mean) * inv_std, column by column (out may alias x).
static __global__ void standardize_forward_kernel(int n, int d, const float *x, const float *mean,
                                                  const float *inv_std, float *out) {
    size_t i = thread_index();
    if (i >= (size_t)n * d) return;
    size_t c = i % d;
    out[i] = (x[i] - mean[c]) * inv_std[c];
}

void cuda_standardize_forward(Backend *be, int n, int d, const float *x, const float *mean,
                              const float *inv_std, float *out) {
    if (n <= 0 || d <= 0) return;
    size_t count = (size_t)n * d;
    standardize_forward_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                                 cuda_stream(be)>>>(n, d, x, mean, inv_std, out);
    CUDA_LAUNCHED();
}

// dx [n,d] = dout * inv_std, column by column (dx may alias dout).
static __global__ void standardize_backward_kernel(int n, int d, const float *dout,
                                                   const float *inv_std, float *dx) {
    size_t i = thread_index();
    if (i < (size_t)n * d) dx[i] = dout[i] * inv_std[i % d];
}

void cuda_standardize_backward(Backend *be, int n, int d, const float *dout, const float *inv_std,
                               float *dx) {
    if (n <= 0 || d <= 0) return;
    size_t count = (size_t)n * d;
    standardize_backward_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                                  cuda_stream(be)>>>(n, d, dout, inv_std, dx);
    CUDA_LAUNCHED();
}
