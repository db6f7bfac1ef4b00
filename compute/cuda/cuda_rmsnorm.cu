// RMSNorm, forward and backward: one block per token row for the row sums; the weight gradient,
// a sum over tokens, one thread per column.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

// Threads per row: a model dimension of 2048..8192 gives each thread 8..32 elements.
#define RMSNORM_THREADS 256

// Row t of x, out [T,d]: rstd[t] = 1 / sqrt(mean(x^2) + eps), out = w * (x * rstd).
static __global__ void __launch_bounds__(RMSNORM_THREADS)
    rmsnorm_forward_kernel(int d, float eps, const float *x, const float *w, float *out,
                           float *rstd) {
    const float *xt = x + (size_t)blockIdx.x * d;
    float *ot = out + (size_t)blockIdx.x * d;
    float squares = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) squares += xt[i] * xt[i];
    float r = 1.0f / sqrtf(block_sum(squares) / d + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int i = threadIdx.x; i < d; i += blockDim.x)
        ot[i] = w[i] * (xt[i] * r); // Hugging Face's rounding order
}

void cuda_rmsnorm_forward(Backend *be, int T, int d, float eps, const float *x, const float *w,
                          float *out, float *rstd) {
    if (T <= 0) return;
    rmsnorm_forward_kernel<<<T, RMSNORM_THREADS, 0, cuda_stream(be)>>>(d, eps, x, w, out, rstd);
    CUDA_LAUNCHED();
}

// Row t: dx_j += r w_j dout_j + (d r / d x_j) sum_i w_i dout_i x_i, d r / d x_j = -r^3 x_j / d
static __global__ void __launch_bounds__(RMSNORM_THREADS)
    rmsnorm_backward_dx_kernel(int d, const float *dout, const float *x, const float *w,
                               const float *rstd, float *dx) {
    const float *xt = x + (size_t)blockIdx.x * d, *gt = dout + (size_t)blockIdx.x * d;
    float *dxt = dx + (size_t)blockIdx.x * d;
    float r = rstd[blockIdx.x], sum_gwx = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) sum_gwx += gt[i] * w[i] * xt[i];
    float k = r * r * r * block_sum(sum_gwx) / d;
    for (int i = threadIdx.x; i < d; i += blockDim.x) dxt[i] += r * gt[i] * w[i] - k * xt[i];
}

// dw [d] += sum over tokens of dout * (x * rstd): one thread per column, tokens in order.
static __global__ void rmsnorm_backward_dw_kernel(int T, int d, const float *dout, const float *x,
                                                  const float *rstd, float *dw) {
    size_t c = thread_index();
    if (c >= (size_t)d) return;
    float sum = dw[c];
    for (int t = 0; t < T; t++) {
        size_t i = (size_t)t * d + c;
        sum += dout[i] * (x[i] * rstd[t]);
    }
    dw[c] = sum;
}

void cuda_rmsnorm_backward(Backend *be, int T, int d, const float *dout, const float *x,
                           const float *w, const float *rstd, float *dx, float *dw) {
    if (T <= 0) return;
    rmsnorm_backward_dx_kernel<<<T, RMSNORM_THREADS, 0, cuda_stream(be)>>>(d, dout, x, w, rstd, dx);
    CUDA_LAUNCHED();
    if (!dw || d <= 0) return;
    rmsnorm_backward_dw_kernel<<<cuda_blocks(d, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                                 cuda_stream(be)>>>(T, d, dout, x, rstd, dw);
    CUDA_LAUNCHED();
}
