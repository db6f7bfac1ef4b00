// Greedy decoding on the GPU: the index of each logit row's largest entry (argmax_row's rule,
// backend.h), so that a decoding step copies one int per sequence to the host instead of its
// row of up to 128k+ logits. One block per row reduces a 64-bit key whose order is that rule,
// so the result is exact and does not depend on how the reduction is shaped.
#include "cuda_backend.h"
#include "cuda_ops.h"
#include "cuda_reduce.cuh"

// Threads per row, as for the losses over the same rows.
#define ARGMAX_THREADS 512

// A larger key is a better candidate: the value's bits in the high half, mapped to an unsigned
// order (NaN below -inf, -0 equal to +0), then the complemented index, so that of two equal
// values the lower index wins. No candidate, a NaN either, maps to 0, the reduction's identity.
static __device__ unsigned long long argmax_key(float v, int i) {
    unsigned bits = __float_as_uint(v == 0.0f ? 0.0f : v);
    unsigned order = isnan(v) ? 0u : (bits & 0x80000000u) ? ~bits : bits | 0x80000000u;
    return (unsigned long long)order << 32 | (unsigned)~i;
}

struct ReduceMaxKey {
    __device__ unsigned long long operator()(unsigned long long a, unsigned long long b) const {
        return a > b ? a : b;
    }
};

// Row r of x [n, V]: out[r] = its argmax.
static __global__ void __launch_bounds__(ARGMAX_THREADS)
    argmax_rows_kernel(int V, const float *x, int *out) {
    const float *row = x + (size_t)blockIdx.x * V;
    ReduceMaxKey better;
    unsigned long long best = 0;
    for (int i = threadIdx.x; i < V; i += blockDim.x) best = better(best, argmax_key(row[i], i));
    best = block_reduce(best, better, 0ull);
    if (threadIdx.x == 0) out[blockIdx.x] = (int)~(unsigned)best;
}

void cuda_argmax_rows(Backend *be, int n, int V, const float *x, int *out) {
    if (n <= 0) return;
    argmax_rows_kernel<<<n, ARGMAX_THREADS, 0, cuda_stream(be)>>>(V, x, out);
    CUDA_LAUNCHED();
}
