// The CPU backend: the reference implementation of every op in backend.h.
//
// Matrix products go to OpenBLAS; every other loop is an OpenMP loop with a static schedule in
// which each output element is written by exactly one iteration, summing its terms in a fixed
// order. So the results are bit-identical from run to run and for any thread count (gemm aside,
// whose bands depend on the thread count), and no loop needs atomics.
#include "backend_cpu.h"
#include "half.h"

#include <assert.h>
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// Alignment of every allocation: a cache line, and enough for any SIMD load.
#define ALIGNMENT 64

// Below this many elements of work a loop runs on one thread: waking the team would cost more
// than the loop itself. Results do not depend on it (see the top of the file).
#define MIN_PARALLEL_WORK 32768

// Columns that one iteration of a column-parallel loop owns: a few cache lines per row.
#define COLUMN_BLOCK 64

// Threads for a loop over rows * cols elements.
static int team(const Backend *be, size_t rows, size_t cols) {
    return rows * cols < MIN_PARALLEL_WORK ? 1 : be->threads;
}

static int min_int(int a, int b) {
    return a < b ? a : b;
}

// --- memory --------------------------------------------------------------------------------------

static void *cpu_alloc(Backend *be, size_t bytes) {
    (void)be;
    if (bytes > SIZE_MAX - ALIGNMENT) return NULL;
    // aligned_alloc wants a multiple of the alignment; a zero-byte request still gets memory so
    // that NULL always means failure.
    size_t rounded = bytes ? (bytes + ALIGNMENT - 1) / ALIGNMENT * ALIGNMENT : ALIGNMENT;
    void *ptr = aligned_alloc(ALIGNMENT, rounded);
    if (ptr) memset(ptr, 0, rounded);
    return ptr;
}

static void cpu_free(Backend *be, void *ptr) {
    (void)be;
    free(ptr);
}

// Host and device memory are the same memory here.
static void cpu_copy(Backend *be, void *dst, const void *src, size_t bytes) {
    (void)be;
    if (bytes) memcpy(dst, src, bytes);
}

// Every op has finished when it returns.
static void cpu_synchronize(Backend *be) {
    (void)be;
}

static void cpu_zero(Backend *be, void *dst, size_t bytes) {
    (void)be;
    if (bytes) memset(dst, 0, bytes);
}

// The backend and the scratch its 16-bit matrix products widen W into, one panel at a time.
#define PANEL_FLOATS (1 << 20)

typedef struct {
    Backend base; // first member: the Backend * handed out points at a CpuBackend
    float *panel; // [PANEL_FLOATS]
} CpuBackend;

static void cpu_destroy(Backend *be) {
    free(((CpuBackend *)be)->panel);
    free(be);
}

// --- linear algebra ------------------------------------------------------------------------------

// Below this many multiply-adds a product runs on one thread.
#define MIN_PARALLEL_GEMM (64 * 64 * 64)

// One thread pool: OpenBLAS runs single-threaded inside the backend's own OpenMP team, each
// thread computing one band of C's rows (or of its columns when C is wide and short). OpenBLAS's
// pthread pool would otherwise spin against OpenMP's idle threads at every switch between a
// matrix product and another op, which cost a quarter of a forward pass on two cores.
static void cpu_gemm(Backend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                     const float *A, int lda, const float *B, int ldb, float beta, float *C,
                     int ldc) {
    CBLAS_TRANSPOSE ta = trans_a ? CblasTrans : CblasNoTrans;
    CBLAS_TRANSPOSE tb = trans_b ? CblasTrans : CblasNoTrans;
    int threads = (double)M * N * K < MIN_PARALLEL_GEMM ? 1 : be->threads;
    bool split_rows = M >= N;
    int extent = split_rows ? M : N;
    // Bands of whole 16-row (column) panels, so each call keeps full-width kernel tiles.
    int band = ((extent + threads - 1) / threads + 15) / 16 * 16;
#pragma omp parallel for schedule(static) num_threads(threads)
    for (int start = 0; start < extent; start += band) {
        int n = min_int(band, extent - start);
        if (split_rows) // rows of op(A) and C
            cblas_sgemm(CblasRowMajor, ta, tb, n, N, K, alpha,
                        trans_a ? A + start : A + (size_t)start * lda, lda, B, ldb, beta,
                        C + (size_t)start * ldc, ldc);
        else // columns of op(B) and C
            cblas_sgemm(CblasRowMajor, ta, tb, M, n, K, alpha, A, lda,
                        trans_b ? B + (size_t)start * ldb : B + start, ldb, beta, C + start, ldc);
    }
}

// --- 16-bit frozen matrices ----------------------------------------------------------------------

static void cpu_matrix_to_device(Backend *be, uint16_t *dst, const float *host_src, size_t n) {
    bool bf16 = be->matrix_type == MATRIX_BF16;
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (size_t i = 0; i < n; i++)
        dst[i] = bf16 ? f32_to_bf16(host_src[i]) : f32_to_f16(host_src[i]);
}

static void widen(const Backend *be, float *dst, const uint16_t *src, size_t n) {
    bool bf16 = be->matrix_type == MATRIX_BF16;
    for (size_t i = 0; i < n; i++) dst[i] = bf16 ? bf16_to_f32(src[i]) : f16_to_f32(src[i]);
}

static void cpu_matrix_to_host(Backend *be, float *host_dst, const uint16_t *src, size_t n) {
    widen(be, host_dst, src, n);
}

// W is widened to fp32 a panel of whole rows at a time and multiplied by cpu_gemm, so the result
// equals an fp32 product with the rounded W up to the order of the sums over K (non-transposed W
// splits K into panels).
static void cpu_gemm_matrix(Backend *be, bool trans_w, int M, int N, int K, float alpha,
                            const float *A, int lda, const uint16_t *W, int ldw, float beta,
                            float *C, int ldc) {
    float *panel = ((CpuBackend *)be)->panel;
    int w_rows = trans_w ? N : K, w_cols = trans_w ? K : N;
    if (w_rows == 0 || w_cols == 0) { // nothing to widen: C = beta C (or zero-sized)
        be->gemm(be, false, trans_w, M, N, K, alpha, A, lda, panel, 1, beta, C, ldc);
        return;
    }
    assert(w_cols <= PANEL_FLOATS); // a row of W is an input or output dimension of a layer
    int rows_per_panel = PANEL_FLOATS / w_cols;
    for (int r0 = 0; r0 < w_rows; r0 += rows_per_panel) {
        int rows = min_int(rows_per_panel, w_rows - r0);
#pragma omp parallel for schedule(static) num_threads(team(be, rows, w_cols))
        for (int r = 0; r < rows; r++)
            widen(be, panel + (size_t)r * w_cols, W + (size_t)(r0 + r) * ldw, (size_t)w_cols);
        if (trans_w) // C[:, r0..r0+rows) = alpha A panel^T + beta C[:, r0..)
            be->gemm(be, false, true, M, rows, K, alpha, A, lda, panel, w_cols, beta, C + r0, ldc);
        else // C = alpha A[:, r0..r0+rows) panel + (beta on the first panel, then 1) C
            be->gemm(be, false, false, M, N, rows, alpha, A + r0, lda, panel, w_cols,
                     r0 == 0 ? beta : 1.0f, C, ldc);
    }
}

// The CPU multiplies fp32 activations (activations16 is unset, A16 unused): each part is its
// own gemm_matrix, so the results are those of separate products exactly.
static void cpu_gemm_matrix_parts(Backend *be, int M, int K, const float *A, const uint16_t *A16,
                                  const uint16_t *W, int n_parts, const int *N, float *const *C,
                                  float beta) {
    (void)A16;
    for (int p = 0; p < n_parts; p++) {
        cpu_gemm_matrix(be, true, M, N[p], K, 1.0f, A, K, W, K, beta, C[p], N[p]);
        W += (size_t)N[p] * K;
    }
}

static void cpu_axpy(Backend *be, int n, float a, const float *x, float *y) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_add(Backend *be, int n, const float *a, const float *b, float *out) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) out[i] = a[i] + b[i];
}

// Dot product in eight interleaved partial sums: a fixed order that the compiler can still
// vectorise (a single running sum would be a serial chain it may not reorder).
static float dot(const float *a, const float *b, int n) {
    float partial[8] = {0};
    int i = 0;
    for (; i + 8 <= n; i += 8)
        for (int lane = 0; lane < 8; lane++) partial[lane] += a[i + lane] * b[i + lane];
    float sum = 0;
    for (; i < n; i++) sum += a[i] * b[i];
    for (int lane = 0; lane < 8; lane++) sum += partial[lane];
    return sum;
}

// y[n] += a * x[n], for the short contiguous rows inside other ops' loops.
static void add_scaled(int n, float a, const float *x, float *y) {
    for (int i = 0; i < n; i++) y[i] += a * x[i];
}

// --- rows ----------------------------------------------------------------------------------------

static void cpu_gather_rows(Backend *be, int n, int d, const int *rows, const float *src,
                            int ld_src, float *dst, int ld_dst) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int i = 0; i < n; i++)
        memcpy(dst + (size_t)i * ld_dst, src + (size_t)rows[i] * ld_src, d * sizeof(float));
}

static void cpu_scatter_rows(Backend *be, int n, int d, const int *rows, const float *src,
                             int ld_src, float *dst, int ld_dst, bool accumulate) {
    // rows are distinct, so each destination row belongs to one iteration.
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int i = 0; i < n; i++) {
        const float *from = src + (size_t)i * ld_src;
        float *to = dst + (size_t)rows[i] * ld_dst;
        if (accumulate)
            add_scaled(d, 1.0f, from, to);
        else
            memcpy(to, from, d * sizeof(float));
    }
}

// --- embedding -----------------------------------------------------------------------------------

static void cpu_embedding_forward(Backend *be, int T, int d, const int *tokens, const float *table,
                                  float *out) {
    cpu_gather_rows(be, T, d, tokens, table, d, out, d);
}

static void cpu_embedding_backward(Backend *be, int T, int d, const int *tokens, const float *dout,
                                   float *dtable) {
    // A token may repeat, so rows of dtable cannot be split between threads; columns can.
    // Each column block adds the tokens in order, whatever the thread count.
#pragma omp parallel for schedule(static) num_threads(team(be, T, d))
    for (int c0 = 0; c0 < d; c0 += COLUMN_BLOCK) {
        int width = min_int(COLUMN_BLOCK, d - c0);
        for (int t = 0; t < T; t++)
            add_scaled(width, 1.0f, dout + (size_t)t * d + c0, dtable + (size_t)tokens[t] * d + c0);
    }
}

// --- RMSNorm -------------------------------------------------------------------------------------

static void cpu_rmsnorm_forward(Backend *be, int T, int d, float eps, const float *x,
                                const float *w, float *out, float *rstd) {
#pragma omp parallel for schedule(static) num_threads(team(be, T, d))
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * d;
        float *ot = out + (size_t)t * d;
        float r = 1.0f / sqrtf(dot(xt, xt, d) / d + eps);
        rstd[t] = r;
        for (int i = 0; i < d; i++) ot[i] = w[i] * (xt[i] * r); // Hugging Face's rounding order
    }
}

// No 16-bit copy: the CPU's products read the fp32 output.
static void cpu_rmsnorm_forward16(Backend *be, int T, int d, float eps, const float *x,
                                  const float *w, float *out, uint16_t *out16, float *rstd) {
    (void)out16;
    cpu_rmsnorm_forward(be, T, d, eps, x, w, out, rstd);
}

static void cpu_rmsnorm_backward(Backend *be, int T, int d, const float *dout, const float *x,
                                 const float *w, const float *rstd, float *dx, float *dw) {
    // dx_j = r w_j dout_j + (d r / d x_j) sum_i w_i dout_i x_i,  with d r / d x_j = -r^3 x_j / d
#pragma omp parallel for schedule(static) num_threads(team(be, T, d))
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * d, *gt = dout + (size_t)t * d;
        float *dxt = dx + (size_t)t * d;
        float r = rstd[t];
        float sum_gwx = 0;
        for (int i = 0; i < d; i++) sum_gwx += gt[i] * w[i] * xt[i];
        float k = r * r * r * sum_gwx / d;
        for (int i = 0; i < d; i++) dxt[i] += r * gt[i] * w[i] - k * xt[i];
    }
    // dw sums over tokens: split by columns so that every column adds its tokens in order.
    if (!dw) return;
#pragma omp parallel for schedule(static) num_threads(team(be, T, d))
    for (int c0 = 0; c0 < d; c0 += COLUMN_BLOCK) {
        int c1 = min_int(c0 + COLUMN_BLOCK, d);
        for (int t = 0; t < T; t++) {
            const float *xt = x + (size_t)t * d, *gt = dout + (size_t)t * d;
            for (int c = c0; c < c1; c++) dw[c] += gt[c] * (xt[c] * rstd[t]);
        }
    }
}

// --- rotary embedding ----------------------------------------------------------------------------

// Rotates pairs (i, i + hd/2) of every head by angle = direction * pos * theta^(-2i/hd); the
// inverse frequency and angle are rounded to fp32 as Hugging Face computes them.
static void rope_rotate(Backend *be, int T, int H, int hd, float theta, const int *pos, float *x,
                        float direction) {
    int half = hd / 2;
    size_t row = (size_t)H * hd;
#pragma omp parallel for schedule(static) num_threads(team(be, T, row))
    for (int t = 0; t < T; t++) {
        float *xt = x + t * row;
        for (int i = 0; i < half; i++) {
            float inv_freq = 1.0f / powf(theta, (float)(2 * i) / (float)hd);
            float angle = (float)pos[t] * inv_freq;
            float c = cosf(angle), s = direction * sinf(angle);
            for (int h = 0; h < H; h++) {
                float *xh = xt + (size_t)h * hd;
                float a = xh[i], b = xh[i + half];
                xh[i] = a * c - b * s;
                xh[i + half] = b * c + a * s;
            }
        }
    }
}

static void cpu_rope_forward(Backend *be, int T, int H, int hd, float theta, const int *pos,
                             float *x) {
    assert(hd % 2 == 0);
    rope_rotate(be, T, H, hd, theta, pos, x, 1.0f);
}

// A rotation's transpose is the rotation by the opposite angle.
static void cpu_rope_backward(Backend *be, int T, int H, int hd, float theta, const int *pos,
                              float *dx) {
    assert(hd % 2 == 0);
    rope_rotate(be, T, H, hd, theta, pos, dx, -1.0f);
}

// --- causal self-attention -----------------------------------------------------------------------

// Attention loops hand out (token, head) rows round-robin (schedule(static, 1)): a causal row's
// cost grows with its position, so contiguous chunks would leave the last thread the most work.

static float attention_scale(int hd) {
    return (float)(1.0 / sqrt((double)hd));
}

// One query row q [hd] against n keys and values at k, v (rows stride floats apart):
// out [hd] = softmax(scale * q.k_j) @ v. With probs [n] the scores are computed once and the
// probabilities kept; without (a KV-cache query has no scratch row) they are recomputed, in
// exactly the same operations, so both paths give bit-identical outputs.
static void attend(const float *q, const float *k, const float *v, size_t stride, int n, int hd,
                   float scale, float *probs, float *out) {
    float max = -INFINITY;
    for (int j = 0; j < n; j++) {
        float score = dot(q, k + j * stride, hd) * scale;
        if (probs) probs[j] = score;
        max = fmaxf(max, score);
    }
    float sum = 0;
    for (int j = 0; j < n; j++) {
        float score = probs ? probs[j] : dot(q, k + j * stride, hd) * scale;
        float e = expf(score - max);
        if (probs) probs[j] = e;
        sum += e;
    }
    float inv_sum = 1.0f / sum;
    memset(out, 0, hd * sizeof(float));
    for (int j = 0; j < n; j++) {
        float e = probs ? probs[j] : expf(dot(q, k + j * stride, hd) * scale - max);
        float p = e * inv_sum;
        if (probs) probs[j] = p;
        add_scaled(hd, p, v + j * stride, out);
    }
}

static void cpu_attention_forward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                  const int *pos, const float *q, const float *k, const float *v,
                                  float *out, float *probs) {
    assert(Hq % Hkv == 0);
    int group = Hq / Hkv;
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    float scale = attention_scale(hd);
#pragma omp parallel for schedule(static, 1) num_threads(team(be, (size_t)T *Hq, hd))
    for (int th = 0; th < T * Hq; th++) {
        int t = th / Hq, h = th % Hq;
        assert(pos[t] <= t && pos[t] < max_len);
        size_t kv_offset = (size_t)(t - pos[t]) * kv_stride + (size_t)(h / group) * hd;
        attend(q + t * q_stride + (size_t)h * hd, k + kv_offset, v + kv_offset, kv_stride,
               pos[t] + 1, hd, scale, probs + (size_t)th * max_len,
               out + t * q_stride + (size_t)h * hd);
    }
}

static void cpu_attention_backward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                   const int *pos, const float *q, const float *k, const float *v,
                                   const float *probs, const float *dout, float *dscores, float *dq,
                                   float *dk, float *dv) {
    assert(Hq % Hkv == 0);
    int group = Hq / Hkv;
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    float scale = attention_scale(hd);
#pragma omp parallel num_threads(team(be, (size_t)T *Hq, hd))
    {
        // Per query row (t, h): dscores (gradient of q.k_j, softmax and scale folded in), dq.
#pragma omp for schedule(static, 1)
        for (int th = 0; th < T * Hq; th++) {
            int t = th / Hq, h = th % Hq, n = pos[t] + 1;
            size_t kv_offset = (size_t)(t - pos[t]) * kv_stride + (size_t)(h / group) * hd;
            const float *p = probs + (size_t)th * max_len;
            const float *dout_row = dout + t * q_stride + (size_t)h * hd;
            float *ds = dscores + (size_t)th * max_len;
            float *dq_row = dq + t * q_stride + (size_t)h * hd;
            float sum_p_dp = 0; // softmax backward: ds_j = p_j (dp_j - sum_i p_i dp_i)
            for (int j = 0; j < n; j++) {
                ds[j] = dot(dout_row, v + kv_offset + j * kv_stride, hd);
                sum_p_dp += p[j] * ds[j];
            }
            memset(dq_row, 0, hd * sizeof(float));
            for (int j = 0; j < n; j++) {
                ds[j] = p[j] * (ds[j] - sum_p_dp) * scale;
                add_scaled(hd, ds[j], k + kv_offset + j * kv_stride, dq_row);
            }
        }
        // Per key row (u, kv head): gather from every query of its sequence at or after u, and
        // from every query head of the group, in a fixed order (no two rows share an output).
#pragma omp for schedule(static, 1)
        for (int ug = 0; ug < T * Hkv; ug++) {
            int u = ug / Hkv, g = ug % Hkv, j = pos[u];
            float *dk_row = dk + u * kv_stride + (size_t)g * hd;
            float *dv_row = dv + u * kv_stride + (size_t)g * hd;
            memset(dk_row, 0, hd * sizeof(float));
            memset(dv_row, 0, hd * sizeof(float));
            for (int t = u; t < T && (t == u || pos[t] != 0); t++) {
                for (int h = g * group; h < (g + 1) * group; h++) {
                    size_t row = ((size_t)t * Hq + h) * max_len;
                    add_scaled(hd, dscores[row + j], q + t * q_stride + (size_t)h * hd, dk_row);
                    add_scaled(hd, probs[row + j], dout + t * q_stride + (size_t)h * hd, dv_row);
                }
            }
        }
    }
}

static void cpu_attention_cached(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                 const int *slot, const int *pos, const float *q,
                                 const float *k_cache, const float *v_cache, float *out) {
    assert(Hq % Hkv == 0);
    int group = Hq / Hkv;
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    float scale = attention_scale(hd);
#pragma omp parallel for schedule(static, 1) num_threads(team(be, (size_t)T *Hq, hd))
    for (int th = 0; th < T * Hq; th++) {
        int t = th / Hq, h = th % Hq;
        assert(pos[t] < max_len);
        size_t kv_offset = (size_t)slot[t] * max_len * kv_stride + (size_t)(h / group) * hd;
        attend(q + t * q_stride + (size_t)h * hd, k_cache + kv_offset, v_cache + kv_offset,
               kv_stride, pos[t] + 1, hd, scale, NULL, out + t * q_stride + (size_t)h * hd);
    }
}

// --- SwiGLU --------------------------------------------------------------------------------------

static void cpu_swiglu_forward(Backend *be, int n, const float *gate, const float *up, float *h) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) h[i] = gate[i] / (1.0f + expf(-gate[i])) * up[i];
}

// No 16-bit copy: the CPU's products read the fp32 output.
static void cpu_swiglu_forward16(Backend *be, int n, const float *gate, const float *up, float *h,
                                 uint16_t *h16) {
    (void)h16;
    cpu_swiglu_forward(be, n, gate, up, h);
}

static void cpu_swiglu_backward(Backend *be, int n, const float *gate, const float *up,
                                const float *dh, float *dgate, float *dup) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) {
        float g = gate[i], sigmoid = 1.0f / (1.0f + expf(-g));
        float silu = g * sigmoid, dsilu = sigmoid * (1.0f + g * (1.0f - sigmoid));
        float grad_gate = dh[i] * up[i] * dsilu; // both read before either is written
        dup[i] = dh[i] * silu;
        dgate[i] = grad_gate;
    }
}

// --- softmax cross-entropy -----------------------------------------------------------------------

static void cpu_cross_entropy(Backend *be, int T, int V, const float *logits, const int *targets,
                              float scale, float *loss, float *dlogits) {
#pragma omp parallel for schedule(static) num_threads(team(be, T, V))
    for (int t = 0; t < T; t++) {
        const float *row = logits + (size_t)t * V;
        float *drow = dlogits ? dlogits + (size_t)t * V : NULL;
        int target = targets[t];
        assert(target < V);
        if (target < 0) {
            loss[t] = 0;
            if (drow) memset(drow, 0, V * sizeof(float));
            continue;
        }
        // drow may alias row: the target's logit is read first, and every other logit just
        // before its slot takes the unnormalised probability.
        float target_logit = row[target], max = -INFINITY;
        for (int i = 0; i < V; i++) max = fmaxf(max, row[i]);
        double sum = 0; // of V terms in (0, 1]: double keeps the log exact to fp32
        for (int i = 0; i < V; i++) {
            float e = expf(row[i] - max);
            if (drow) drow[i] = e;
            sum += e;
        }
        loss[t] = (float)(max + log(sum) - target_logit);
        if (!drow) continue;
        float inv_sum = (float)(1.0 / sum);
        for (int i = 0; i < V; i++) drow[i] = scale * (drow[i] * inv_sum - (i == target));
    }
}

// --- greedy decoding -----------------------------------------------------------------------------

static void cpu_argmax_rows(Backend *be, int n, int V, const float *x, int *out) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, V))
    for (int i = 0; i < n; i++) out[i] = argmax_row(x + (size_t)i * V, V);
}

// --- AdamW ---------------------------------------------------------------------------------------

static void cpu_adamw(Backend *be, size_t n, float lr, float beta1, float beta2, float eps,
                      float weight_decay, int step, float *params, const float *grads, float *m,
                      float *v) {
    assert(step >= 1);
    float step_size = (float)(lr / (1.0 - pow(beta1, step)));
    float bias_correction2_sqrt = (float)sqrt(1.0 - pow(beta2, step));
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (size_t i = 0; i < n; i++) {
        float g = grads[i], p = params[i];
        p -= lr * weight_decay * p;
        m[i] = beta1 * m[i] + (1.0f - beta1) * g;
        v[i] = beta2 * v[i] + (1.0f - beta2) * g * g;
        params[i] = p - step_size * m[i] / (sqrtf(v[i]) / bias_correction2_sqrt + eps);
    }
}

// --- the discriminator's dense network ----------------------------------------------------------

static void cpu_bias_forward(Backend *be, int n, int d, const float *bias, float *x) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int i = 0; i < n; i++) add_scaled(d, 1.0f, bias, x + (size_t)i * d);
}

static void cpu_bias_backward(Backend *be, int n, int d, const float *dout, float *dbias) {
    // Split by columns so that every column adds its rows in order.
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int c0 = 0; c0 < d; c0 += COLUMN_BLOCK) {
        int width = min_int(COLUMN_BLOCK, d - c0);
        for (int i = 0; i < n; i++) add_scaled(width, 1.0f, dout + (size_t)i * d + c0, dbias + c0);
    }
}

static void cpu_relu_forward(Backend *be, int n, const float *x, float *out) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) out[i] = x[i] < 0 ? 0 : x[i]; // NaN < 0 is false: NaN stays
}

static void cpu_relu_backward(Backend *be, int n, const float *out, const float *dout, float *dx) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, 1))
    for (int i = 0; i < n; i++) dx[i] = out[i] > 0 ? dout[i] : 0;
}

static void cpu_feature_stats(Backend *be, int n, int d, const float *x, float min_std, float *mean,
                              float *inv_std) {
    // Two passes in double over a block of columns: the squared deviations from the mean do not
    // cancel as mean(x^2) - mean(x)^2 would for features far from zero.
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int c0 = 0; c0 < d; c0 += COLUMN_BLOCK) {
        int width = min_int(COLUMN_BLOCK, d - c0);
        double mu[COLUMN_BLOCK] = {0}, squares[COLUMN_BLOCK] = {0};
        for (int i = 0; i < n; i++)
            for (int c = 0; c < width; c++) mu[c] += x[(size_t)i * d + c0 + c];
        for (int c = 0; c < width; c++) mu[c] /= n;
        for (int i = 0; i < n; i++)
            for (int c = 0; c < width; c++) {
                double deviation = x[(size_t)i * d + c0 + c] - mu[c];
                squares[c] += deviation * deviation;
            }
        for (int c = 0; c < width; c++) {
            double std = sqrt(squares[c] / n);
            mean[c0 + c] = (float)mu[c];
            inv_std[c0 + c] = std > min_std ? (float)(1.0 / std) : 1.0f;
        }
    }
}

static void cpu_standardize_forward(Backend *be, int n, int d, const float *x, const float *mean,
                                    const float *inv_std, float *out) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++)
            out[(size_t)i * d + c] = (x[(size_t)i * d + c] - mean[c]) * inv_std[c];
}

static void cpu_standardize_backward(Backend *be, int n, int d, const float *dout,
                                     const float *inv_std, float *dx) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, d))
    for (int i = 0; i < n; i++)
        for (int c = 0; c < d; c++) dx[(size_t)i * d + c] = dout[(size_t)i * d + c] * inv_std[c];
}

// --- KL divergence to a reference distribution ---------------------------------------------------

// log(sum(exp(row))) over V logits, the sum in double as in cpu_cross_entropy.
static double log_sum_exp(const float *row, int V) {
    float max = -INFINITY;
    for (int i = 0; i < V; i++) max = fmaxf(max, row[i]);
    double sum = 0;
    for (int i = 0; i < V; i++) sum += expf(row[i] - max);
    return max + log(sum);
}

static void cpu_kl_divergence(Backend *be, int n, int V, const float *ref_logits,
                              const float *logits, float scale, float *loss, float *dlogits) {
#pragma omp parallel for schedule(static) num_threads(team(be, n, V))
    for (int r = 0; r < n; r++) {
        const float *ref = ref_logits + (size_t)r * V, *row = logits + (size_t)r * V;
        float *drow = dlogits ? dlogits + (size_t)r * V : NULL;
        double ref_lse = log_sum_exp(ref, V), lse = log_sum_exp(row, V), kl = 0;
        // drow may alias row: each logit is read just before its slot takes the gradient.
        for (int i = 0; i < V; i++) {
            double log_p = ref[i] - ref_lse, log_q = row[i] - lse, p = exp(log_p);
            kl += p * (log_p - log_q);
            if (drow) drow[i] = scale * (float)(exp(log_q) - p);
        }
        loss[r] = (float)kl;
    }
}

Backend *backend_cpu_create(int threads) {
    CpuBackend *cpu = malloc(sizeof *cpu);
    float *panel = malloc(PANEL_FLOATS * sizeof(float));
    if (!cpu || !panel) {
        free(cpu);
        free(panel);
        return NULL;
    }
    if (threads <= 0) threads = omp_get_max_threads();
    omp_set_num_threads(threads);
    openblas_set_num_threads(1); // cpu_gemm parallelises around OpenBLAS

    cpu->panel = panel;
    Backend *be = &cpu->base;
    *be = (Backend){
        .name = "cpu",
        .threads = threads,
        .alloc = cpu_alloc,
        .free = cpu_free,
        .to_device = cpu_copy,
        .to_host = cpu_copy,
        .copy = cpu_copy,
        .zero = cpu_zero,
        .synchronize = cpu_synchronize,
        .destroy = cpu_destroy,
        .matrix_type = MATRIX_F32,
        .matrix_to_device = cpu_matrix_to_device,
        .matrix_to_host = cpu_matrix_to_host,
        .gemm = cpu_gemm,
        .gemm_matrix = cpu_gemm_matrix,
        .gemm_matrix_parts = cpu_gemm_matrix_parts,
        .axpy = cpu_axpy,
        .add = cpu_add,
        .gather_rows = cpu_gather_rows,
        .scatter_rows = cpu_scatter_rows,
        .embedding_forward = cpu_embedding_forward,
        .embedding_backward = cpu_embedding_backward,
        .rmsnorm_forward = cpu_rmsnorm_forward,
        .rmsnorm_forward16 = cpu_rmsnorm_forward16,
        .rmsnorm_backward = cpu_rmsnorm_backward,
        .rope_forward = cpu_rope_forward,
        .rope_backward = cpu_rope_backward,
        .attention_forward = cpu_attention_forward,
        .attention_backward = cpu_attention_backward,
        .attention_cached = cpu_attention_cached,
        .swiglu_forward = cpu_swiglu_forward,
        .swiglu_forward16 = cpu_swiglu_forward16,
        .swiglu_backward = cpu_swiglu_backward,
        .cross_entropy = cpu_cross_entropy,
        .argmax_rows = cpu_argmax_rows,
        .adamw = cpu_adamw,
        .bias_forward = cpu_bias_forward,
        .bias_backward = cpu_bias_backward,
        .relu_forward = cpu_relu_forward,
        .relu_backward = cpu_relu_backward,
        .feature_stats = cpu_feature_stats,
        .standardize_forward = cpu_standardize_forward,
        .standardize_backward = cpu_standardize_backward,
        .kl_divergence = cpu_kl_divergence,
    };
    return be;
}
