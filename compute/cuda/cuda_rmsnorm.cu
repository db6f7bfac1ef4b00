// RMSNorm, forward and backward: one block per token row for the row sums; the weight gradient,
// a sum over tokens, one thread per column.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

#include <cuda_bf16.h>

// Threads per row: a model dimension of 2048..8192 gives each thread 8..32 elements.
#define RMSNORM_THREADS 256

// Row t of x, out [T,d]: rstd[t] = 1 / sqrt(mean(x^2) + eps), out = w * (x * rstd), and
// out16 [T,d] = out rounded to bf16 when out16 is not NULL (the products' operand, written
// while the value is in a register instead of by a rounding pass per product).
static __global__ void __launch_bounds__(RMSNORM_THREADS)
    rmsnorm_forward_kernel(int d, float eps, const float *x, const float *w, float *out,
                           __nv_bfloat16 *out16, float *rstd) {
    const float *xt = x + (size_t)blockIdx.x * d;
    float *ot = out + (size_t)blockIdx.x * d;
    float squares = 0;
    for (int i = threadIdx.x; i < d; i += blockDim.x) squares += xt[i] * xt[i];
    float r = 1.0f / sqrtf(block_sum(squares) / d + eps);
    if (threadIdx.x == 0) rstd[blockIdx.x] = r;
    for (int i = threadIdx.x; i < d; i += blockDim.x) {
        float v = w[i] * (xt[i] * r); // Hugging Face's rounding order
        ot[i] = v;
        if (out16) out16[(size_t)blockIdx.x * d + i] = __float2bfloat16_rn(v);
    }
}

void cuda_rmsnorm_forward(Backend *be, int T, int d, float eps, const float *x, const float *w,
                          float *out, float *rstd) {
    cuda_rmsnorm_forward16(be, T, d, eps, x, w, out, NULL, rstd);
}

// activations16 is set for bf16 matrices only (backend_cuda_create), so out16 is bf16.
void cuda_rmsnorm_forward16(Backend *be, int T, int d, float eps, const float *x, const float *w,
                            float *out, uint16_t *out16, float *rstd) {
    if (T <= 0) return;
    if (!be->activations16) out16 = NULL;
    rmsnorm_forward_kernel<<<T, RMSNORM_THREADS, 0, cuda_stream(be)>>>(
        d, eps, x, w, out, (__nv_bfloat16 *)out16, rstd);
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
