// Causal grouped-query attention over packed sequences, on the CUDA backend. The math follows
// the CPU reference (compute/cpu/backend_cpu.c, attend and cpu_attention_*) step by step: scores
// scaled after the dot product, the row max subtracted before expf, e_j normalised by one
// multiplication with 1/sum, and dscores carrying the scale.
//
// Every kernel gives one output row to one thread block, which writes it alone and sums its terms
// in a fixed order (fixed-shape warp and block reductions, sequential loops over keys or queries),
// so results are bit-identical from run to run and no kernel needs atomics.
//
//   forward, cached   block per query row (t, h): scores -> max -> exp, sum -> probs -> out
//   backward          block per query row (t, h): dscores, dq; then block per key row (u, g):
//                     dk, dv gathered from the dscores and probs rows of the later queries
#include "cuda_attention.h"
#include "cuda_backend.h"
#include "cuda_reduce.cuh"

#include <cuda_bf16.h>
#include <limits.h>
#include <math.h>

// Threads of every attention block: 4 warps. Keys are spread over the warps, head dimensions and
// key positions over the threads; any hd and row length are covered by loops.
#define ATTENTION_THREADS 128
#define ATTENTION_WARPS   (ATTENTION_THREADS / WARP_SIZE)

// --- checks and helpers --------------------------------------------------------------------------

// A key or value element as fp32: the fp32 cache and the packed batch as they are, the bf16
// cache widened (exactly).
static __device__ float widen(float x) {
    return x;
}
static __device__ float widen(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

// a [hd] . b [hd], for a whole warp (lanes over hd); every lane gets the result.
template <typename KV> static __device__ float warp_dot(const float *a, const KV *b, int hd) {
    float partial = 0;
    for (int d = threadIdx.x % WARP_SIZE; d < hd; d += WARP_SIZE) partial += a[d] * widen(b[d]);
    return warp_reduce(partial, ReduceSum());
}

// pos[t] + 1, the number of keys token t attends to. A position out of range would index past
// the probs row (or past the keys of the batch): stop the kernel, which fails the next CUDA call
// loudly, rather than read or write foreign memory. packed: keys are the batch's own tokens
// t-pos[t] .. t, so pos[t] <= t too.
static __device__ int row_length(const int *pos, int t, int max_len, bool packed) {
    int p = pos[t];
    if (p < 0 || p >= max_len || (packed && p > t)) {
        if (threadIdx.x == 0) printf("are: attention: pos[%d] = %d out of range\n", t, p);
        __trap();
    }
    return p + 1;
}

// An op's sizes that no kernel can run with: say which and exit, like a failed launch would.
static void attention_check(const char *op, int T, int Hq, int Hkv, int hd, int max_len) {
    if (T < 0 || Hq <= 0 || Hkv <= 0 || Hq % Hkv != 0 || hd <= 0 || max_len <= 0 ||
        (size_t)T * Hq > INT_MAX) {
        fprintf(stderr,
                "are: %s: unsupported sizes T=%d Hq=%d Hkv=%d hd=%d max_len=%d (need Hq a "
                "multiple of Hkv, positive sizes, T*Hq <= INT_MAX)\n",
                op, T, Hq, Hkv, hd, max_len);
        exit(3);
    }
}

// A block's shared memory is its `bytes` of dynamic shared memory plus the kernel's static
// __shared__ arrays (the block reductions'). Past the 48 KiB default the dynamic part needs a
// per-kernel opt-in, and the two together must fit the device's limit, or the op cannot run.
static void attention_shared_memory(Backend *be, const char *op, const void *kernel, size_t bytes) {
    int limit = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&limit, cudaDevAttrMaxSharedMemoryPerBlockOptin,
                                      cuda_backend(be)->device));
    cudaFuncAttributes attributes;
    CUDA_CHECK(cudaFuncGetAttributes(&attributes, kernel));
    size_t total = bytes + attributes.sharedSizeBytes;
    if (total > (size_t)limit) {
        fprintf(stderr,
                "are: %s: needs %zu bytes of shared memory per block (%zu dynamic, %zu static), "
                "the device allows %d (hd or max_len too large)\n",
                op, total, bytes, (size_t)attributes.sharedSizeBytes, limit);
        exit(3);
    }
    if (total > 48 * 1024)
        CUDA_CHECK(
            cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, (int)bytes));
}

static float attention_scale(int hd) {
    return (float)(1.0 / sqrt((double)hd));
}

// --- forward -------------------------------------------------------------------------------------

// Block th = t * Hq + h: out[t, h, :] = softmax(scale * q[t,h] . k_j) @ v_j over the row's
// n = pos[t] + 1 keys. Packed batch (slot NULL): keys are tokens t-pos[t] .. t of k, v [T, Hkv*hd].
// KV cache: keys are rows slot[t]*max_len + 0 .. pos[t] of k, v [slots, max_len, Hkv*hd].
// The row's scores live in probs [T, Hq, max_len] at th*max_len when given (and end there as
// the probabilities), else in shared memory after the query; both run the same operations, so
// the cached and packed paths give bit-identical outputs for the same keys.
// Dynamic shared memory: hd floats (query), plus max_len floats (scores) when probs is NULL.
// KV: float, or __nv_bfloat16 for a bf16 KV cache (widened as read, the same operations after).
template <typename KV>
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    attention_rows_kernel(int Hq, int Hkv, int hd, int max_len, float scale, const int *slot,
                          const int *pos, const float *q, const KV *k, const KV *v, float *out,
                          float *probs) {
    extern __shared__ float shared[];
    int th = blockIdx.x, t = th / Hq, h = th % Hq, group = Hq / Hkv;
    int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    int n = row_length(pos, t, max_len, slot == NULL);
    if (slot && slot[t] < 0) {
        if (threadIdx.x == 0) printf("are: attention_cached: slot[%d] = %d\n", t, slot[t]);
        __trap();
    }
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    size_t first_key = slot ? (size_t)slot[t] * max_len : (size_t)(t - (n - 1));
    size_t kv_offset = first_key * kv_stride + (size_t)(h / group) * hd;
    const KV *k_rows = k + kv_offset, *v_rows = v + kv_offset;
    float *q_row = shared;                                              // [hd]
    float *scores = probs ? probs + (size_t)th * max_len : shared + hd; // [n]

    for (int d = threadIdx.x; d < hd; d += blockDim.x) q_row[d] = q[t * q_stride + h * hd + d];
    __syncthreads();

    // scores_j = scale * q . k_j, one warp per key
    for (int j = warp; j < n; j += ATTENTION_WARPS) {
        float score = warp_dot(q_row, k_rows + j * kv_stride, hd) * scale;
        if (lane == 0) scores[j] = score;
    }
    __syncthreads();

    // softmax over the row: subtract the max, exponentiate, multiply by 1/sum
    float max = -INFINITY;
    for (int j = threadIdx.x; j < n; j += blockDim.x) max = fmaxf(max, scores[j]);
    max = block_max(max);
    float sum = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) {
        float e = expf(scores[j] - max);
        scores[j] = e;
        sum += e;
    }
    float inv_sum = 1.0f / block_sum(sum);
    for (int j = threadIdx.x; j < n; j += blockDim.x) scores[j] *= inv_sum;
    __syncthreads();

    // out = sum_j p_j v_j, threads over hd, keys in order
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0;
        for (int j = 0; j < n; j++) acc += scores[j] * widen(v_rows[j * kv_stride + d]);
        out[t * q_stride + h * hd + d] = acc;
    }
}

extern "C" void cuda_attention_forward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                       const int *pos, const float *q, const float *k,
                                       const float *v, float *out, float *probs) {
    attention_check("attention_forward", T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    size_t shared_bytes = (size_t)hd * sizeof(float);
    attention_shared_memory(be, "attention_forward", (const void *)attention_rows_kernel<float>,
                            shared_bytes);
    attention_rows_kernel<float><<<T * Hq, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
        Hq, Hkv, hd, max_len, attention_scale(hd), NULL, pos, q, k, v, out, probs);
    CUDA_LAUNCHED();
}

// attention_cached over a cache of KV elements (float or bf16).
template <typename KV>
static void attention_over_cache(Backend *be, const char *op, int T, int Hq, int Hkv, int hd,
                                 int max_len, const int *slot, const int *pos, const float *q,
                                 const KV *k_cache, const KV *v_cache, float *out) {
    attention_check(op, T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    size_t shared_bytes = ((size_t)hd + max_len) * sizeof(float);
    attention_shared_memory(be, op, (const void *)attention_rows_kernel<KV>, shared_bytes);
    attention_rows_kernel<KV><<<T * Hq, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
        Hq, Hkv, hd, max_len, attention_scale(hd), slot, pos, q, k_cache, v_cache, out, NULL);
    CUDA_LAUNCHED();
}

extern "C" void cuda_attention_cached(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                      const int *slot, const int *pos, const float *q,
                                      const float *k_cache, const float *v_cache, float *out) {
    attention_over_cache(be, "attention_cached", T, Hq, Hkv, hd, max_len, slot, pos, q, k_cache,
                         v_cache, out);
}

extern "C" void cuda_attention_cached_bf16(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                           const int *slot, const int *pos, const float *q,
                                           const uint16_t *k_cache, const uint16_t *v_cache,
                                           float *out) {
    attention_over_cache(be, "attention_cached_bf16", T, Hq, Hkv, hd, max_len, slot, pos, q,
                         (const __nv_bfloat16 *)k_cache, (const __nv_bfloat16 *)v_cache, out);
}

// cache[rows[i], c] = src[i, c] rounded to bf16, i < n, c < d: block i per row, threads over c.
static __global__ void kv_store_bf16_kernel(int d, const int *rows, const float *src,
                                            __nv_bfloat16 *cache) {
    size_t row = (size_t)rows[blockIdx.x];
    for (int c = threadIdx.x; c < d; c += blockDim.x)
        cache[row * d + c] = __float2bfloat16_rn(src[(size_t)blockIdx.x * d + c]);
}

extern "C" void cuda_kv_store_bf16(Backend *be, int n, int d, const int *rows, const float *src,
                                   uint16_t *cache) {
    if (n <= 0 || d <= 0) return;
    kv_store_bf16_kernel<<<n, ELEMENT_THREADS, 0, cuda_stream(be)>>>(d, rows, src,
                                                                     (__nv_bfloat16 *)cache);
    CUDA_LAUNCHED();
}

// --- backward ------------------------------------------------------------------------------------

// Block th = t * Hq + h, query row (t, h) over its n keys (as in the forward):
// dp_j = dout[t,h] . v_j;  dscores_j = p_j (dp_j - sum_i p_i dp_i) * scale (the gradient of
// q . k_j, softmax and scale folded in), kept in dscores [T, Hq, max_len] for the key kernel;
// dq[t,h] = sum_j dscores_j k_j. Dynamic shared memory: hd floats (dout row).
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    attention_backward_query_kernel(int Hq, int Hkv, int hd, int max_len, float scale,
                                    const int *pos, const float *k, const float *v,
                                    const float *probs, const float *dout, float *dscores,
                                    float *dq) {
    extern __shared__ float shared[];
    int th = blockIdx.x, t = th / Hq, h = th % Hq, group = Hq / Hkv;
    int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    int n = row_length(pos, t, max_len, true);
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    size_t kv_offset = (size_t)(t - (n - 1)) * kv_stride + (size_t)(h / group) * hd;
    const float *k_rows = k + kv_offset, *v_rows = v + kv_offset;
    const float *p = probs + (size_t)th * max_len;
    float *ds = dscores + (size_t)th * max_len;
    float *dout_row = shared; // [hd]

    for (int d = threadIdx.x; d < hd; d += blockDim.x)
        dout_row[d] = dout[t * q_stride + h * hd + d];
    __syncthreads();

    // dp_j, one warp per key, staged in ds
    for (int j = warp; j < n; j += ATTENTION_WARPS) {
        float dp = warp_dot(dout_row, v_rows + j * kv_stride, hd);
        if (lane == 0) ds[j] = dp;
    }
    __syncthreads();

    // softmax backward
    float sum_p_dp = 0;
    for (int j = threadIdx.x; j < n; j += blockDim.x) sum_p_dp += p[j] * ds[j];
    sum_p_dp = block_sum(sum_p_dp);
    for (int j = threadIdx.x; j < n; j += blockDim.x) ds[j] = p[j] * (ds[j] - sum_p_dp) * scale;
    __syncthreads();

    // dq = sum_j ds_j k_j, threads over hd, keys in order
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float acc = 0;
        for (int j = 0; j < n; j++) acc += ds[j] * k_rows[j * kv_stride + d];
        dq[t * q_stride + h * hd + d] = acc;
    }
}

// Block ug = u * Hkv + g, key row (u, kv head g), threads over hd:
// dk[u,g] = sum dscores[t,h,j] q[t,h],  dv[u,g] = sum probs[t,h,j] dout[t,h]
// over the queries t = u .. the end of u's sequence (where pos drops back to 0, or T), and over
// the query heads h of group g, in that order; j = pos[u] is key u's index in each of those rows.
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    attention_backward_key_kernel(int T, int Hq, int Hkv, int hd, int max_len, const int *pos,
                                  const float *q, const float *probs, const float *dout,
                                  const float *dscores, float *dk, float *dv) {
    int ug = blockIdx.x, u = ug / Hkv, g = ug % Hkv, group = Hq / Hkv;
    int j = row_length(pos, u, max_len, true) - 1;
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    for (int d = threadIdx.x; d < hd; d += blockDim.x) {
        float dk_acc = 0, dv_acc = 0;
        for (int t = u; t < T && (t == u || pos[t] != 0); t++) {
            for (int h = g * group; h < (g + 1) * group; h++) {
                size_t row = ((size_t)t * Hq + h) * max_len;
                dk_acc += dscores[row + j] * q[t * q_stride + h * hd + d];
                dv_acc += probs[row + j] * dout[t * q_stride + h * hd + d];
            }
        }
        dk[u * kv_stride + g * hd + d] = dk_acc;
        dv[u * kv_stride + g * hd + d] = dv_acc;
    }
}

extern "C" void cuda_attention_backward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                        const int *pos, const float *q, const float *k,
                                        const float *v, const float *probs, const float *dout,
                                        float *dscores, float *dq, float *dk, float *dv) {
    attention_check("attention_backward", T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    size_t shared_bytes = (size_t)hd * sizeof(float);
    attention_shared_memory(be, "attention_backward", (const void *)attention_backward_query_kernel,
                            shared_bytes);
    // The key kernel reads every dscores row the query kernel wrote: same stream, in order.
    attention_backward_query_kernel<<<T * Hq, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
        Hq, Hkv, hd, max_len, attention_scale(hd), pos, k, v, probs, dout, dscores, dq);
    CUDA_LAUNCHED();
    attention_backward_key_kernel<<<T * Hkv, ATTENTION_THREADS, 0, cuda_stream(be)>>>(
        T, Hq, Hkv, hd, max_len, pos, q, probs, dout, dscores, dk, dv);
    CUDA_LAUNCHED();
}
