// Element-by-element ops (axpy, add, SwiGLU, ReLU) and the bias of a dense layer, one thread per
// element. Each reads all its inputs before writing, so an output may alias an input of the same
// element.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

#include <cuda_bf16.h>

// --- axpy, add -----------------------------------------------------------------------------------

static __global__ void axpy_kernel(int n, float a, const float *x, float *y) {
    size_t i = thread_index();
    if (i < (size_t)n) y[i] += a * x[i];
}

void cuda_axpy(Backend *be, int n, float a, const float *x, float *y) {
    if (n <= 0) return;
    axpy_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(n, a, x,
                                                                                          y);
    CUDA_LAUNCHED();
}

static __global__ void add_kernel(int n, const float *a, const float *b, float *out) {
    size_t i = thread_index();
    if (i < (size_t)n) out[i] = a[i] + b[i];
}

void cuda_add(Backend *be, int n, const float *a, const float *b, float *out) {
    if (n <= 0) return;
    add_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(n, a, b,
                                                                                         out);
    CUDA_LAUNCHED();
}

// --- SwiGLU: h = silu(gate) * up -----------------------------------------------------------------

// h16 [n] = h rounded to bf16 when h16 is not NULL (down_proj's operand, see rmsnorm_forward).
static __global__ void swiglu_forward_kernel(int n, const float *gate, const float *up, float *h,
                                             __nv_bfloat16 *h16) {
    size_t i = thread_index();
    if (i >= (size_t)n) return;
    float v = gate[i] / (1.0f + expf(-gate[i])) * up[i];
    h[i] = v;
    if (h16) h16[i] = __float2bfloat16_rn(v);
}

void cuda_swiglu_forward(Backend *be, int n, const float *gate, const float *up, float *h) {
    cuda_swiglu_forward16(be, n, gate, up, h, NULL);
}

// activations16 is set for bf16 matrices only (backend_cuda_create), so h16 is bf16.
void cuda_swiglu_forward16(Backend *be, int n, const float *gate, const float *up, float *h,
                           uint16_t *h16) {
    if (n <= 0) return;
    if (!be->activations16) h16 = NULL;
    swiglu_forward_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, gate, up, h, (__nv_bfloat16 *)h16);
    CUDA_LAUNCHED();
}

// dgate = dh * up * silu'(gate), silu'(g) = sigmoid(g) (1 + g (1 - sigmoid(g))); dup = dh * silu.
static __global__ void swiglu_backward_kernel(int n, const float *gate, const float *up,
                                              const float *dh, float *dgate, float *dup) {
    size_t i = thread_index();
    if (i >= (size_t)n) return;
    float g = gate[i], sigmoid = 1.0f / (1.0f + expf(-g));
    float silu = g * sigmoid, dsilu = sigmoid * (1.0f + g * (1.0f - sigmoid));
    float grad_gate = dh[i] * up[i] * dsilu; // both read before either is written
    dup[i] = dh[i] * silu;
    dgate[i] = grad_gate;
}

void cuda_swiglu_backward(Backend *be, int n, const float *gate, const float *up, const float *dh,
                          float *dgate, float *dup) {
    if (n <= 0) return;
    swiglu_backward_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                             cuda_stream(be)>>>(n, gate, up, dh, dgate, dup);
    CUDA_LAUNCHED();
}

// --- ReLU ----------------------------------------------------------------------------------------

static __global__ void relu_forward_kernel(int n, const float *x, float *out) {
    size_t i = thread_index();
    if (i < (size_t)n) out[i] = x[i] < 0 ? 0 : x[i]; // NaN < 0 is false: NaN stays
}

void cuda_relu_forward(Backend *be, int n, const float *x, float *out) {
    if (n <= 0) return;
    relu_forward_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, x, out);
    CUDA_LAUNCHED();
}

static __global__ void relu_backward_kernel(int n, const float *out, const float *dout, float *dx) {
    size_t i = thread_index();
    if (i < (size_t)n) dx[i] = out[i] > 0 ? dout[i] : 0;
}

void cuda_relu_backward(Backend *be, int n, const float *out, const float *dout, float *dx) {
    if (n <= 0) return;
    relu_backward_kernel<<<cuda_blocks(n, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, out, dout, dx);
    CUDA_LAUNCHED();
}

// --- bias ----------------------------------------------------------------------------------------

// x [n,d] += bias [d], one thread per element of x.
static __global__ void bias_forward_kernel(int n, int d, const float *bias, float *x) {
    size_t i = thread_index();
    if (i < (size_t)n * d) x[i] += bias[i % d];
}

void cuda_bias_forward(Backend *be, int n, int d, const float *bias, float *x) {
    if (n <= 0 || d <= 0) return;
    size_t count = (size_t)n * d;
    bias_forward_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                          cuda_stream(be)>>>(n, d, bias, x);
    CUDA_LAUNCHED();
}

// dbias [d] += column sums of dout [n,d]: one thread per column adds the rows in order, as the
// CPU does.
static __global__ void bias_backward_kernel(int n, int d, const float *dout, float *dbias) {
    size_t c = thread_index();
    if (c >= (size_t)d) return;
    float sum = dbias[c];
    for (int i = 0; i < n; i++) sum += dout[(size_t)i * d + c];
    dbias[c] = sum;
}

void cuda_bias_backward(Backend *be, int n, int d, const float *dout, float *dbias) {
    if (n <= 0 || d <= 0) return;
    bias_backward_kernel<<<cuda_blocks(d, ELEMENT_THREADS), ELEMENT_THREADS, 0, cuda_stream(be)>>>(
        n, d, dout, dbias);
    CUDA_LAUNCHED();
}
