// Row copies by index (gather, scatter) and the embedding, which is a gather forward and a
// scatter-add with repeated rows backward.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

// dst[i*ld_dst + c] = src[rows[i]*ld_src + c] for i < n, c < d: one thread per element.
static __global__ void gather_rows_kernel(int n, int d, const int *rows, const float *src,
                                          int ld_src, float *dst, int ld_dst) {
    size_t idx = thread_index();
    if (idx >= (size_t)n * d) return;
    size_t i = idx / d, c = idx % d;
    dst[i * ld_dst + c] = src[(size_t)rows[i] * ld_src + c];
}

void cuda_gather_rows(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                      float *dst, int ld_dst) {
    if (n <= 0 || d <= 0) return;
    size_t count = (size_t)n * d;
    gather_rows_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                         cuda_stream(be)>>>(n, d, rows, src, ld_src, dst, ld_dst);
    CUDA_LAUNCHED();
}

// dst[rows[i]*ld_dst + c] (+)= src[i*ld_src + c]: rows are distinct, so no two threads share a
// destination.
static __global__ void scatter_rows_kernel(int n, int d, const int *rows, const float *src,
                                           int ld_src, float *dst, int ld_dst, bool accumulate) {
    size_t idx = thread_index();
    if (idx >= (size_t)n * d) return;
    size_t i = idx / d, c = idx % d;
    float *to = dst + (size_t)rows[i] * ld_dst + c;
    float from = src[i * ld_src + c];
    *to = accumulate ? *to + from : from;
}

void cuda_scatter_rows(Backend *be, int n, int d, const int *rows, const float *src, int ld_src,
                       float *dst, int ld_dst, bool accumulate) {
    if (n <= 0 || d <= 0) return;
    size_t count = (size_t)n * d;
    scatter_rows_kernel<<<cuda_blocks(count, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                          cuda_stream(be)>>>(n, d, rows, src, ld_src, dst, ld_dst, accumulate);
    CUDA_LAUNCHED();
}

// out [T,d] = table[tokens[t], :]
void cuda_embedding_forward(Backend *be, int T, int d, const int *tokens, const float *table,
                            float *out) {
    cuda_gather_rows(be, T, d, tokens, table, d, out, d);
}

// dtable[tokens[t], c] += dout[t, c]. A token may repeat, so rows of dtable cannot be split
// between threads; columns can: one thread per column adds the tokens in order, the CPU's order.
static __global__ void embedding_backward_kernel(int T, int d, const int *tokens, const float *dout,
                                                 float *dtable) {
    size_t c = thread_index();
    if (c >= (size_t)d) return;
    for (int t = 0; t < T; t++) dtable[(size_t)tokens[t] * d + c] += dout[(size_t)t * d + c];
}

void cuda_embedding_backward(Backend *be, int T, int d, const int *tokens, const float *dout,
                             float *dtable) {
    if (T <= 0 || d <= 0) return;
    embedding_backward_kernel<<<cuda_blocks(d, ELEMENT_THREADS), ELEMENT_THREADS, 0,
                                cuda_stream(be)>>>(T, d, tokens, dout, dtable);
    CUDA_LAUNCHED();
}
