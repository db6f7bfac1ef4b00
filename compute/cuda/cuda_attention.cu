// Causal grouped-query attention over packed sequences, on the CUDA backend. The math follows
// the CPU reference (compute/cpu/backend_cpu.c, attend and cpu_attention_*) step by step: scores
// scaled after the dot product, the row max subtracted before expf, e_j normalised by one
// multiplication with 1/sum, and dscores carrying the scale.
//
// Training (attention_forward, attention_backward) runs its products as strided batched GEMMs
// on cuBLAS: on the tensor cores with bf16 operands and fp32 accumulation when the backend's
// frozen matrices are bf16; in plain fp32 (no TF32) with fp32 matrices, which match the CPU, and
// with fp16 ones, whose 11 bits bf16's 8 would undo (fp16 operands would flush small gradients
// to zero, issue 21). The products do not depend on where the batch's sequences start: the
// packed batch is cut into tiles of TILE tokens, and every query tile is multiplied with the
// window of W = (R + 1) * TILE keys that ends with its own tile, R * TILE >= max_len - 1, which
// holds every key any of its queries may attend to (t - pos[t] .. t). A softmax kernel per row
// then masks the window to the row's own keys.
//
//   q, k, v [T, H*hd]  --pack-->  per head, padded: [Hq, slots * TILE, hd], slots = tiles + R
//                                  (token u at row R*TILE + u; zero rows around; k, v repeated
//                                  for the Hq / Hkv query heads that read them)
//   forward   S_i = scale Q_i K_win(i)^T   [TILE, W]  for each (head, query tile) i
//             P_i = softmax(S_i), masked  -> probs [T, Hq, max_len] too
//             O_i = P_i V_win(i)           [TILE, hd] --unpack--> out
//   backward  dV_k += P_(k+r)^T dO_(k+r)   over r = 0..R: the query tiles whose windows hold
//             dP_i = dO_i V_win(i)^T               key tile k, at column block R - r
//             dS_i = P_i (dP_i - rowsum(P_i dP_i)) scale
//             dQ_i = dS_i K_win(i);  dK_k += dS_(k+r)^T Q_(k+r)   over r = 0..R
//             then dk, dv sum their group's query heads in head order (unpack)
//
// Every output element is written by one product or one thread, its terms summed in a fixed
// order (cuBLAS's for a given shape and GPU, the kernels' fixed reductions, the R + 1 products
// of dK and dV one after another), so a run repeats bit for bit and nothing needs atomics. The
// window computes W > max_len scores per query where a row needs pos[t] + 1 (over twice the
// causal pairs, more for sequences shorter than max_len); next to the projections that is under
// 1% of a 7B block's FLOPs at the ARE benchmark's lengths (docs/engine.md).
//
// Generation (attention_cached, over the KV cache) keeps one thread block per query row:
//   cached    block per query row (t, h): scores -> max -> exp, sum -> probs -> out
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

// Tokens per tile of the training products: the products' M (queries) and the unit of the key
// windows. 64 rows fill the tensor cores' tiles; the window overshoots max_len by up to a tile.
#define TILE 64

// --- checks and helpers --------------------------------------------------------------------------

// A key or value element as fp32: the fp32 cache and the packed batch as they are, the bf16
// cache widened (exactly).
static __device__ float widen(float x) {
    return x;
}
static __device__ float widen(__nv_bfloat16 x) {
    return __bfloat162float(x);
}

// An fp32 value as an operand of the training products: as it is, or rounded to bf16 (nearest
// even) for the tensor cores.
template <typename E> static __device__ E narrow(float x);
template <> __device__ float narrow<float>(float x) {
    return x;
}
template <> __device__ __nv_bfloat16 narrow<__nv_bfloat16>(float x) {
    return __float2bfloat16_rn(x);
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

// --- tiles and their scratch ---------------------------------------------------------------------

// The tiling of one training op (see the top of the file). Every per-head tensor of the
// products is [Hq * slots * TILE, hd] (head-major, then padded rows), and the window tensor
// [Hq * slots * TILE, W]: row r of either is query slot r / TILE of its head, so one stride
// steps through all (head, tile) pairs and a strided batched GEMM covers them in one call.
typedef struct {
    int T, Hq, Hkv, hd, max_len;
    int R;       // key tiles before a query tile's own in its window: R * TILE >= max_len - 1
    int slots;   // tile slots per head: R leading zero tiles (the first windows' keys), then
                 // ceil(T / TILE) tiles of tokens, the last padded with zero rows
    int W;       // keys per window, (R + 1) * TILE
    size_t rows; // Hq * slots * TILE
} Tiles;

static Tiles attention_tiles(const char *op, int T, int Hq, int Hkv, int hd, int max_len) {
    Tiles g = {T, Hq, Hkv, hd, max_len, 0, 0, 0, 0};
    g.R = (max_len - 1 + TILE - 1) / TILE;
    g.slots = (T + TILE - 1) / TILE + g.R;
    g.W = (g.R + 1) * TILE;
    g.rows = (size_t)Hq * g.slots * TILE;
    // A row per thread block, the window's row stride in bf16 elements (2 W) as a cuBLAS int.
    if (g.rows > INT_MAX || 2 * (size_t)g.W > INT_MAX) {
        fprintf(stderr,
                "are: %s: T=%d, Hq=%d, max_len=%d make %zu window rows of %d keys, "
                "more than a launch or cuBLAS can index\n",
                op, T, Hq, max_len, g.rows, g.W);
        exit(3);
    }
    return g;
}

// Where a window row r stands: its head h and token t (-1 for a padding row, which attends to
// nothing), the column of its first key in the window, and how many keys it attends to.
typedef struct {
    int h, t, first, n;
} WindowRow;

static __device__ WindowRow window_row(const Tiles &g, size_t r, const int *pos) {
    int slot = (int)(r / TILE), offset = (int)(r % TILE); // slot over all heads
    WindowRow row = {slot / g.slots, (slot % g.slots - g.R) * TILE + offset, 0, 0};
    if (row.t < 0 || row.t >= g.T) {
        row.t = -1;
        return row;
    }
    row.n = row_length(pos, row.t, g.max_len, true);
    // The window starts R tiles before the row's own tile: key t - pos[t] sits at column
    // (offset + R * TILE) - pos[t].
    row.first = offset + g.R * TILE - (row.n - 1);
    return row;
}

// Elements of E per window row: the products read P and dS as E in place of the fp32 scores
// they replace, row by row, so a row of E keeps the fp32 row's byte stride.
template <typename E> static __host__ __device__ int window_ld(const Tiles &g) {
    return (int)(g.W * (sizeof(float) / sizeof(E)));
}

// The one scratch allocation of the training ops, on the backend (grown, never shrunk; see
// scratch in cuda_backend.h): the forward sizes it for the backward too, so a training step
// that has run once allocates nothing. Operands in E (float or bf16), results in fp32.
typedef struct {
    void *q, *k, *v, *dout; // E [rows, hd] each, packed (k, v repeated per query head)
    float *window;          // [rows, W]: S, then P (as E); dP, then dS (as E); or P (as E)
    float *out, *dk, *dv;   // [rows, hd]: O (forward) or dQ (backward), dK, dV per query head
} Scratch;

static size_t aligned(size_t bytes) {
    return (bytes + 255) & ~(size_t)255;
}

static Scratch attention_scratch(Backend *be, const Tiles &g, size_t element_bytes) {
    size_t operand = aligned(g.rows * g.hd * element_bytes), result = aligned(g.rows * g.hd * 4);
    size_t window = aligned(g.rows * g.W * sizeof(float));
    CudaBackend *cb = cuda_backend(be);
    cb->attention_scratch = scratch(be, cb->attention_scratch, &cb->attention_scratch_bytes,
                                    4 * operand + window + 3 * result);
    char *at = (char *)cb->attention_scratch, *results = at + 4 * operand + window;
    Scratch s = {at,
                 at + operand,
                 at + 2 * operand,
                 at + 3 * operand,
                 (float *)(at + 4 * operand),
                 (float *)results,
                 (float *)(results + result),
                 (float *)(results + 2 * result)};
    return s;
}

// --- packing -------------------------------------------------------------------------------------

// Block (row, h), threads over hd: dst [Hq, slots * TILE, hd] row `row` of head h is token
// u = row - R * TILE of src [T, src_heads * hd], its head h / (Hq / src_heads), in E; rows that
// hold no token are zero: their scores are masked, and a zero key, value or query row adds
// nothing to any product.
template <typename E>
static __global__ void pack_kernel(Tiles g, int src_heads, const float *src, E *dst) {
    int row = blockIdx.x, h = blockIdx.y, u = row - g.R * TILE;
    E *out = dst + ((size_t)h * g.slots * TILE + row) * g.hd;
    if (u < 0 || u >= g.T) {
        for (int d = threadIdx.x; d < g.hd; d += blockDim.x) out[d] = narrow<E>(0.0f);
        return;
    }
    const float *in = src + ((size_t)u * src_heads + h / (g.Hq / src_heads)) * g.hd;
    for (int d = threadIdx.x; d < g.hd; d += blockDim.x) out[d] = narrow<E>(in[d]);
}

template <typename E>
static void pack(Backend *be, const Tiles &g, int src_heads, const float *src, void *dst) {
    dim3 grid(g.slots * TILE, g.Hq);
    pack_kernel<E><<<grid, ATTENTION_THREADS, 0, cuda_stream(be)>>>(g, src_heads, src, (E *)dst);
    CUDA_LAUNCHED();
}

// Block (u, head), threads over hd: dst [T, dst_heads * hd] row u, head `head` = the sum over
// i < sum_heads of src [Hq, slots * TILE, hd] head head * sum_heads + i, token u, in i order.
// sum_heads: 1 for out and dq, Hq / Hkv for dk and dv (the query heads of a KV head).
static __global__ void unpack_kernel(Tiles g, int sum_heads, const float *src, float *dst) {
    int u = blockIdx.x, head = blockIdx.y;
    size_t head_rows = (size_t)g.slots * TILE;
    const float *in = src + ((size_t)head * sum_heads * head_rows + g.R * TILE + u) * g.hd;
    float *out = dst + ((size_t)u * gridDim.y + head) * g.hd;
    for (int d = threadIdx.x; d < g.hd; d += blockDim.x) {
        float acc = in[d];
        for (int i = 1; i < sum_heads; i++) acc += in[i * head_rows * g.hd + d];
        out[d] = acc;
    }
}

static void unpack(Backend *be, const Tiles &g, int dst_heads, const float *src, float *dst) {
    dim3 grid(g.T, dst_heads);
    unpack_kernel<<<grid, ATTENTION_THREADS, 0, cuda_stream(be)>>>(g, g.Hq / dst_heads, src, dst);
    CUDA_LAUNCHED();
}

// --- batched products ----------------------------------------------------------------------------

static cublasOperation_t op(bool trans) {
    return trans ? CUBLAS_OP_T : CUBLAS_OP_N;
}

// Row-major C_i [M,N] = alpha op(A_i) op(B_i) + beta C_i for i < batch, X_i = X + i * stride_X
// elements (A and B of type `type`, C fp32), accumulated in fp32: mapped to column-major cuBLAS
// as C^T = op(B)^T op(A)^T, as cuda_gemm maps one product.
static void batched_gemm(Backend *be, cudaDataType type, bool trans_a, bool trans_b, int M, int N,
                         int K, float alpha, const void *A, int lda, long long stride_a,
                         const void *B, int ldb, long long stride_b, float beta, float *C, int ldc,
                         long long stride_c, int batch) {
    if (batch <= 0) return;
    CUBLAS_CHECK(cublasGemmStridedBatchedEx(cuda_backend(be)->cublas, op(trans_b), op(trans_a), N,
                                            M, K, &alpha, B, type, ldb, stride_b, A, type, lda,
                                            stride_a, &beta, C, CUDA_R_32F, ldc, stride_c, batch,
                                            CUBLAS_COMPUTE_32F, CUBLAS_GEMM_DEFAULT));
}

// --- forward -------------------------------------------------------------------------------------

// Block r per window row (t, h) (see window_row): window row r holds the scores S (fp32) over
// the row's window; this writes the row's probabilities p_j = softmax(S)_j over its n keys to
// probs [T, Hq, max_len] at (t, h, j), and the row again as E for the product P V: p_j at its
// key's column, 0 at every other (and on padding rows). Dynamic shared memory: max_len floats.
template <typename E>
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    softmax_kernel(Tiles g, const int *pos, float *window, float *probs) {
    extern __shared__ float e[]; // [n]
    size_t r = blockIdx.x;
    WindowRow row = window_row(g, r, pos);
    const float *scores = window + r * g.W + row.first;
    float max = -INFINITY, sum = 0, inv_sum = 0;
    if (row.n) { // uniform in the block: every thread takes the reductions' barriers or none
        for (int j = threadIdx.x; j < row.n; j += blockDim.x) max = fmaxf(max, scores[j]);
        max = block_max(max);
        for (int j = threadIdx.x; j < row.n; j += blockDim.x) {
            e[j] = expf(scores[j] - max);
            sum += e[j];
        }
        inv_sum = 1.0f / block_sum(sum);
    }
    __syncthreads(); // the scores are read before P overwrites them, e[] written before read
    float *p_out = row.n ? probs + ((size_t)row.t * g.Hq + row.h) * g.max_len : NULL;
    E *p_row = (E *)window + r * window_ld<E>(g);
    for (int c = threadIdx.x; c < g.W; c += blockDim.x) {
        int j = c - row.first;
        float p = 0;
        if (j >= 0 && j < row.n) p_out[j] = p = e[j] * inv_sum;
        p_row[c] = narrow<E>(p);
    }
}

template <typename E>
static void forward(Backend *be, const Tiles &g, cudaDataType type, const int *pos, const float *q,
                    const float *k, const float *v, float *out, float *probs) {
    Scratch s = attention_scratch(be, g, sizeof(E));
    pack<E>(be, g, g.Hq, q, s.q);
    pack<E>(be, g, g.Hkv, k, s.k);
    pack<E>(be, g, g.Hkv, v, s.v);
    // Query slots i = R .. Hq * slots - 1 over all heads; slot i's key window starts at slot
    // i - R. Slots below R of a head hold no token: their windows reach into the previous
    // head's rows (finite, and their outputs unused), which keeps one stride for all.
    long long tile = (long long)TILE * g.hd, window_tile = (long long)TILE * g.W;
    int ld = window_ld<E>(g), batch = g.Hq * g.slots - g.R;
    const E *Q = (const E *)s.q, *K = (const E *)s.k, *V = (const E *)s.v;
    // S_i [TILE, W] = scale Q_i [TILE, hd] K_win(i) [W, hd]^T
    batched_gemm(be, type, false, true, TILE, g.W, g.hd, attention_scale(g.hd), Q + g.R * tile,
                 g.hd, tile, K, g.hd, tile, 0, s.window + g.R * window_tile, g.W, window_tile,
                 batch);
    size_t shared_bytes = (size_t)g.max_len * sizeof(float);
    attention_shared_memory(be, "attention_forward", (const void *)softmax_kernel<E>, shared_bytes);
    softmax_kernel<E><<<(unsigned)g.rows, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
        g, pos, s.window, probs);
    CUDA_LAUNCHED();
    // O_i [TILE, hd] = P_i [TILE, W] V_win(i) [W, hd]
    const E *P = (const E *)s.window;
    batched_gemm(be, type, false, false, TILE, g.hd, g.W, 1, P + g.R * TILE * (long long)ld, ld,
                 TILE * (long long)ld, V, g.hd, tile, 0, s.out + g.R * tile, g.hd, tile, batch);
    unpack(be, g, g.Hq, s.out, out);
}

extern "C" void cuda_attention_forward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                       const int *pos, const float *q, const float *k,
                                       const float *v, float *out, float *probs) {
    attention_check("attention_forward", T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    Tiles g = attention_tiles("attention_forward", T, Hq, Hkv, hd, max_len);
    if (be->matrix_type == MATRIX_BF16)
        forward<__nv_bfloat16>(be, g, CUDA_R_16BF, pos, q, k, v, out, probs);
    else
        forward<float>(be, g, CUDA_R_32F, pos, q, k, v, out, probs);
}

// --- backward ------------------------------------------------------------------------------------

// Block r per window row (t, h): the row's probabilities from probs [T, Hq, max_len] as E at
// their keys' columns, 0 elsewhere, for dV = P^T dO.
template <typename E>
static __global__ void expand_probs_kernel(Tiles g, const int *pos, const float *probs,
                                           float *window) {
    size_t r = blockIdx.x;
    WindowRow row = window_row(g, r, pos);
    const float *p = row.n ? probs + ((size_t)row.t * g.Hq + row.h) * g.max_len : NULL;
    E *p_row = (E *)window + r * window_ld<E>(g);
    for (int c = threadIdx.x; c < g.W; c += blockDim.x) {
        int j = c - row.first;
        p_row[c] = narrow<E>(j >= 0 && j < row.n ? p[j] : 0.0f);
    }
}

// Block r per window row (t, h): window row r holds dP = dO V^T (fp32) over the window; this
// replaces it by dS (as E) with ds_j = p_j (dp_j - sum_l p_l dp_l) * scale over the row's keys
// (p from probs), 0 elsewhere. Dynamic shared memory: max_len floats.
template <typename E>
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    softmax_backward_kernel(Tiles g, float scale, const int *pos, const float *probs,
                            float *window) {
    extern __shared__ float ds[]; // [n]
    size_t r = blockIdx.x;
    WindowRow row = window_row(g, r, pos);
    const float *dp = window + r * g.W + row.first;
    if (row.n) { // uniform in the block
        const float *p = probs + ((size_t)row.t * g.Hq + row.h) * g.max_len;
        float sum_p_dp = 0;
        for (int j = threadIdx.x; j < row.n; j += blockDim.x) sum_p_dp += p[j] * dp[j];
        sum_p_dp = block_sum(sum_p_dp);
        for (int j = threadIdx.x; j < row.n; j += blockDim.x)
            ds[j] = p[j] * (dp[j] - sum_p_dp) * scale;
    }
    __syncthreads(); // dP is read before dS overwrites it, ds[] written before read
    E *ds_row = (E *)window + r * window_ld<E>(g);
    for (int c = threadIdx.x; c < g.W; c += blockDim.x) {
        int j = c - row.first;
        ds_row[c] = narrow<E>(j >= 0 && j < row.n ? ds[j] : 0.0f);
    }
}

// grad_k (+)= A_(k+r) [TILE queries, column block R - r] ^T X_(k+r) [TILE, hd] for key slots
// k = R .. and r = 0 .. R in turn (r = 0 overwrites): the query tiles whose windows hold key
// tile k. A is P (for dV, X = dO) or dS (for dK, X = Q), as E in the window rows. Where k + r
// passes the end of its head it lands on the next head's leading slots, whose rows are zero.
template <typename E>
static void key_gradient(Backend *be, const Tiles &g, cudaDataType type, const E *A, const E *X,
                         float *grad) {
    long long tile = (long long)TILE * g.hd, ld = window_ld<E>(g);
    for (int r = 0; r <= g.R; r++) {
        const E *a = A + (g.R + r) * TILE * ld + (g.R - r) * TILE;
        batched_gemm(be, type, true, false, TILE, g.hd, TILE, 1, a, (int)ld, TILE * ld,
                     X + (g.R + r) * tile, g.hd, tile, r ? 1.0f : 0.0f, grad + g.R * tile, g.hd,
                     tile, g.Hq * g.slots - g.R - r);
    }
}

template <typename E>
static void backward(Backend *be, const Tiles &g, cudaDataType type, const int *pos, const float *q,
                     const float *k, const float *v, const float *probs, const float *dout,
                     float *dq, float *dk, float *dv) {
    Scratch s = attention_scratch(be, g, sizeof(E));
    pack<E>(be, g, g.Hq, q, s.q);
    pack<E>(be, g, g.Hkv, k, s.k);
    pack<E>(be, g, g.Hkv, v, s.v);
    pack<E>(be, g, g.Hq, dout, s.dout);
    const E *Q = (const E *)s.q, *K = (const E *)s.k, *V = (const E *)s.v;
    const E *dO = (const E *)s.dout, *window = (const E *)s.window;
    long long tile = (long long)TILE * g.hd, window_tile = (long long)TILE * g.W;
    int ld = window_ld<E>(g), batch = g.Hq * g.slots - g.R;

    // dV first, from P spread back over the windows; dP then takes the window rows over.
    expand_probs_kernel<E>
        <<<(unsigned)g.rows, ATTENTION_THREADS, 0, cuda_stream(be)>>>(g, pos, probs, s.window);
    CUDA_LAUNCHED();
    key_gradient<E>(be, g, type, window, dO, s.dv);
    // dP_i [TILE, W] = dO_i [TILE, hd] V_win(i) [W, hd]^T
    batched_gemm(be, type, false, true, TILE, g.W, g.hd, 1, dO + g.R * tile, g.hd, tile, V, g.hd,
                 tile, 0, s.window + g.R * window_tile, g.W, window_tile, batch);
    size_t shared_bytes = (size_t)g.max_len * sizeof(float);
    attention_shared_memory(be, "attention_backward", (const void *)softmax_backward_kernel<E>,
                            shared_bytes);
    softmax_backward_kernel<E>
        <<<(unsigned)g.rows, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
            g, attention_scale(g.hd), pos, probs, s.window);
    CUDA_LAUNCHED();
    // dQ_i [TILE, hd] = dS_i [TILE, W] K_win(i) [W, hd]; then dK from dS and Q
    batched_gemm(be, type, false, false, TILE, g.hd, g.W, 1, window + g.R * TILE * (long long)ld,
                 ld, TILE * (long long)ld, K, g.hd, tile, 0, s.out + g.R * tile, g.hd, tile, batch);
    key_gradient<E>(be, g, type, window, Q, s.dk);
    unpack(be, g, g.Hq, s.out, dq);
    unpack(be, g, g.Hkv, s.dk, dk);
    unpack(be, g, g.Hkv, s.dv, dv);
}

// dscores, the CPU reference's scratch, is not needed: dS lives in the window scratch.
extern "C" void cuda_attention_backward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                        const int *pos, const float *q, const float *k,
                                        const float *v, const float *probs, const float *dout,
                                        float *dscores, float *dq, float *dk, float *dv) {
    (void)dscores;
    attention_check("attention_backward", T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    Tiles g = attention_tiles("attention_backward", T, Hq, Hkv, hd, max_len);
    if (be->matrix_type == MATRIX_BF16)
        backward<__nv_bfloat16>(be, g, CUDA_R_16BF, pos, q, k, v, probs, dout, dq, dk, dv);
    else
        backward<float>(be, g, CUDA_R_32F, pos, q, k, v, probs, dout, dq, dk, dv);
}

// The forward's two window products over the Hq * slots - R query tiles they run (the leading
// slots of every head but the first included); the backward's dP, dQ and the R + 1 tile
// products each of dV and dK make four.
extern "C" double cuda_attention_flops(int T, int Hq, int hd, int max_len) {
    if (T <= 0) return 0;
    Tiles g = attention_tiles("cuda_attention_flops", T, Hq, Hq, hd, max_len);
    return 2 * 2 * ((double)g.Hq * g.slots - g.R) * TILE * (double)g.W * hd;
}

// --- generation: attention over the KV cache -----------------------------------------------------

// Block th = t * Hq + h: out[t, h, :] = softmax(scale * q[t,h] . k_j) @ v_j over the row's
// n = pos[t] + 1 keys, cache rows slot[t]*max_len + 0 .. pos[t] of k, v [slots, max_len, Hkv*hd].
// Dynamic shared memory: hd floats (query), then max_len floats (scores).
// KV: float, or __nv_bfloat16 for a bf16 KV cache (widened as read, the same operations after).
template <typename KV>
static __global__ void __launch_bounds__(ATTENTION_THREADS)
    attention_cached_kernel(int Hq, int Hkv, int hd, int max_len, float scale, const int *slot,
                            const int *pos, const float *q, const KV *k, const KV *v, float *out) {
    extern __shared__ float shared[];
    int th = blockIdx.x, t = th / Hq, h = th % Hq, group = Hq / Hkv;
    int warp = threadIdx.x / WARP_SIZE, lane = threadIdx.x % WARP_SIZE;
    int n = row_length(pos, t, max_len, false);
    if (slot[t] < 0) {
        if (threadIdx.x == 0) printf("are: attention_cached: slot[%d] = %d\n", t, slot[t]);
        __trap();
    }
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    size_t kv_offset = (size_t)slot[t] * max_len * kv_stride + (size_t)(h / group) * hd;
    const KV *k_rows = k + kv_offset, *v_rows = v + kv_offset;
    float *q_row = shared, *scores = shared + hd; // [hd], [n]

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

// attention_cached over a cache of KV elements (float or bf16).
template <typename KV>
static void attention_over_cache(Backend *be, const char *op, int T, int Hq, int Hkv, int hd,
                                 int max_len, const int *slot, const int *pos, const float *q,
                                 const KV *k_cache, const KV *v_cache, float *out) {
    attention_check(op, T, Hq, Hkv, hd, max_len);
    if (T == 0) return;
    size_t shared_bytes = ((size_t)hd + max_len) * sizeof(float);
    attention_shared_memory(be, op, (const void *)attention_cached_kernel<KV>, shared_bytes);
    attention_cached_kernel<KV><<<T * Hq, ATTENTION_THREADS, shared_bytes, cuda_stream(be)>>>(
        Hq, Hkv, hd, max_len, attention_scale(hd), slot, pos, q, k_cache, v_cache, out);
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
