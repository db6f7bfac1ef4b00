// Tests of the CPU backend, op by op: forward results against naive double-precision
// references, backward results against central finite differences of a double-precision loss
// (loss = sum(R * out) for a fixed random R), and the contracts of backend.h: accumulate vs
// overwrite, ignored cross-entropy rows, the KV cache, thread-count determinism.
//
// The CPU backend's memory is host memory, so the tests hand its ops plain host arrays.
#include "backend_cpu.h"
#include "check.h"
#include "rng.h"
#include "test_arrays.h"

#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static Backend *be; // two threads, as CI runs the tests
static Rng rng;

static float *copy_of(const float *x, size_t n) {
    float *c = new_array(n, sizeof *c);
    memcpy(c, x, n * sizeof *c);
    return c;
}

// Positions of a packed batch: 0 .. len-1 for each sequence in turn; *T receives the total.
static int *packed_positions(int n_seqs, const int *seq_len, int *T) {
    *T = 0;
    for (int s = 0; s < n_seqs; s++) *T += seq_len[s];
    int *pos = new_array(*T, sizeof *pos);
    for (int s = 0, t = 0; s < n_seqs; s++)
        for (int p = 0; p < seq_len[s]; p++) pos[t++] = p;
    return pos;
}

static double weighted_sum(const float *r, const float *x, size_t n) {
    double sum = 0;
    for (size_t i = 0; i < n; i++) sum += (double)r[i] * x[i];
    return sum;
}

// --- checks --------------------------------------------------------------------------------------

static bool check_identical(const char *what, const float *got, const float *want, size_t n) {
    bool identical = memcmp(got, want, n * sizeof *got) == 0;
    CHECK(identical, "%s: results differ in their bits", what);
    return identical;
}

// Compares grad [n] with central differences of loss(ctx) in each element of x [n], which is
// restored afterwards. Tolerance: 1% of the gradient's scale (its largest magnitude), or 1%
// relative, whichever is looser; fp32 forwards make the differences noisy at about 1e-4.
static void check_gradient(const char *what, double (*loss)(void *), void *ctx, float *x, size_t n,
                           const float *grad, float h) {
    float *numeric = new_array(n, sizeof *numeric);
    float scale = 0;
    for (size_t i = 0; i < n; i++) {
        float saved = x[i], up = saved + h, down = saved - h;
        x[i] = up;
        double loss_up = loss(ctx);
        x[i] = down;
        double loss_down = loss(ctx);
        x[i] = saved;
        numeric[i] = (float)((loss_up - loss_down) / ((double)up - (double)down));
        scale = fmaxf(scale, fabsf(numeric[i]));
    }
    char label[96];
    snprintf(label, sizeof label, "%s (finite differences)", what);
    CHECK(scale > 0, "%s: the loss does not depend on this input, the check proves nothing", label);
    check_close(label, grad, numeric, n, 1e-2 * scale, 1e-2);
}

// The accumulate contract: starting from prefill, the op must leave prefill + grad, where grad
// is what it leaves in a zeroed buffer.
static void check_accumulated(const char *what, const float *got, const float *prefill,
                              const float *grad, size_t n) {
    float *want = new_array(n, sizeof *want);
    for (size_t i = 0; i < n; i++) want[i] = prefill[i] + grad[i];
    check_close(what, got, want, n, 1e-5, 1e-5);
}

// --- memory --------------------------------------------------------------------------------------

static void test_memory(void) {
    const size_t sizes[] = {1, 3, 64, 1000, 40000};
    for (int s = 0; s < 5; s++) {
        size_t bytes = sizes[s];
        // Dirty a block first: the allocator likely hands the same one back.
        unsigned char *dirty = be->alloc(be, bytes);
        CHECK(dirty != NULL, "alloc(%zu) failed", bytes);
        if (!dirty) continue;
        memset(dirty, 0xA5, bytes);
        be->free(be, dirty);

        unsigned char *mem = be->alloc(be, bytes), *other = be->alloc(be, bytes);
        unsigned char *host = new_array(bytes, 1), *back = new_array(bytes, 1);
        CHECK(mem && other, "alloc(%zu) failed", bytes);
        if (!mem || !other) continue;
        CHECK((uintptr_t)mem % 64 == 0, "alloc(%zu) is not 64-byte aligned", bytes);
        size_t nonzero = 0;
        for (size_t i = 0; i < bytes; i++) nonzero += mem[i] != 0;
        CHECK(nonzero == 0, "alloc(%zu) has %zu nonzero bytes", bytes, nonzero);

        for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)(rng_next(&rng) | 1);
        be->to_device(be, mem, host, bytes);
        be->copy(be, other, mem, bytes);
        be->to_host(be, back, other, bytes);
        CHECK(memcmp(back, host, bytes) == 0, "to_device/copy/to_host round trip of %zu bytes",
              bytes);
        be->zero(be, other, bytes);
        be->to_host(be, back, other, bytes);
        nonzero = 0;
        for (size_t i = 0; i < bytes; i++) nonzero += back[i] != 0;
        CHECK(nonzero == 0, "zero left %zu nonzero bytes of %zu", nonzero, bytes);
        be->free(be, mem);
        be->free(be, other);
    }
    Backend *three = backend_cpu_create(3), *every = backend_cpu_create(0);
    CHECK(three && three->threads == 3, "backend_cpu_create(3) uses %d threads",
          three ? three->threads : -1);
    CHECK(every && every->threads >= 1, "backend_cpu_create(0) uses %d threads",
          every ? every->threads : -1);
    CHECK(every && strcmp(every->name, "cpu") == 0, "the backend is named cpu");
    if (three) three->destroy(three);
    if (every) every->destroy(every);
    release_arrays();
}

// --- gemm ----------------------------------------------------------------------------------------

typedef struct {
    bool trans_a, trans_b;
    int M, N, K, lda, ldb, ldc;
    const float *A, *B, *R;
    float *C;
} GemmCase;

static double gemm_loss(void *ctx) {
    GemmCase *g = ctx;
    be->gemm(be, g->trans_a, g->trans_b, g->M, g->N, g->K, 1.0f, g->A, g->lda, g->B, g->ldb, 0.0f,
             g->C, g->ldc);
    double sum = 0;
    for (int i = 0; i < g->M; i++) sum += weighted_sum(g->R + i * g->N, g->C + i * g->ldc, g->N);
    return sum;
}

static void test_gemm(void) {
    int M = 5, N = 7, K = 6;
    for (int variant = 0; variant < 4; variant++) {
        bool ta = variant & 1, tb = variant & 2;
        // A is stored [M,K] or, transposed, [K,M]; B [K,N] or [N,K]; every row padded.
        int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
        int lda = a_cols + 2, ldb = b_cols + 1, ldc = N + 3;
        float *A = random_floats(&rng, (size_t)a_rows * lda, 1),
              *B = random_floats(&rng, (size_t)b_rows * ldb, 1);
        float *C = random_floats(&rng, (size_t)M * ldc, 1), *want = copy_of(C, (size_t)M * ldc);
        float alpha = 0.7f, beta = 0.3f;
        for (int i = 0; i < M; i++)
            for (int j = 0; j < N; j++) {
                double sum = 0;
                for (int k = 0; k < K; k++)
                    sum += (double)(ta ? A[k * lda + i] : A[i * lda + k]) *
                           (tb ? B[j * ldb + k] : B[k * ldb + j]);
                want[i * ldc + j] = (float)(alpha * sum + beta * C[i * ldc + j]);
            }
        be->gemm(be, ta, tb, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
        char what[64];
        snprintf(what, sizeof what, "gemm%s%s forward", ta ? " A^T" : "", tb ? " B^T" : "");
        check_close(what, C, want, (size_t)M * ldc, 1e-5, 1e-5);

        // loss = sum(R * op(A) op(B)); the gradients are products again, through the backend.
        GemmCase g = {ta, tb, M, N, K, lda, ldb, ldc, A, B, random_floats(&rng, (size_t)M * N, 1),
                      C};
        float *dA = new_array((size_t)a_rows * lda, sizeof *dA);
        float *dB = new_array((size_t)b_rows * ldb, sizeof *dB);
        if (ta) // dA [K,M] = op(B) @ R^T
            be->gemm(be, tb, true, K, M, N, 1.0f, B, ldb, g.R, N, 0.0f, dA, lda);
        else // dA [M,K] = R @ op(B)^T
            be->gemm(be, false, !tb, M, K, N, 1.0f, g.R, N, B, ldb, 0.0f, dA, lda);
        if (tb) // dB [N,K] = R^T @ op(A)
            be->gemm(be, true, ta, N, K, M, 1.0f, g.R, N, A, lda, 0.0f, dB, ldb);
        else // dB [K,N] = op(A)^T @ R
            be->gemm(be, !ta, false, K, N, M, 1.0f, A, lda, g.R, N, 0.0f, dB, ldb);
        snprintf(what, sizeof what, "gemm%s%s dA", ta ? " A^T" : "", tb ? " B^T" : "");
        check_gradient(what, gemm_loss, &g, A, (size_t)a_rows * lda, dA, 1e-2f);
        snprintf(what, sizeof what, "gemm%s%s dB", ta ? " A^T" : "", tb ? " B^T" : "");
        check_gradient(what, gemm_loss, &g, B, (size_t)b_rows * ldb, dB, 1e-2f);
    }
    release_arrays();
}

// --- element-wise ops and rows -------------------------------------------------------------------

static void test_axpy_add(void) {
    int n = 1000;
    float *x = random_floats(&rng, n, 1), *y = random_floats(&rng, n, 1),
          *want = new_array(n, sizeof *want);
    float a = -1.7f;
    for (int i = 0; i < n; i++) want[i] = (float)((double)y[i] + (double)a * x[i]);
    be->axpy(be, n, a, x, y);
    check_close("axpy", y, want, n, 1e-6, 1e-6);

    float *b = random_floats(&rng, n, 1), *out = new_array(n, sizeof *out);
    for (int i = 0; i < n; i++) want[i] = (float)((double)x[i] + b[i]);
    be->add(be, n, x, b, out);
    check_identical("add", out, want, n);
    be->add(be, n, x, b, x); // out aliasing a
    check_identical("add in place", x, want, n);
    release_arrays();
}

static void test_rows(void) {
    enum { SRC_ROWS = 10, N = 4, D = 5, LD_SRC = 7, LD_DST = 6 };
    const int rows[N] = {7, 2, 9, 0};
    float *src = random_floats(&rng, SRC_ROWS * LD_SRC, 1);
    float *dst = random_floats(&rng, N * LD_DST, 1), *want = copy_of(dst, N * LD_DST);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) want[i * LD_DST + c] = src[rows[i] * LD_SRC + c];
    be->gather_rows(be, N, D, rows, src, LD_SRC, dst, LD_DST);
    check_identical("gather_rows (padding untouched)", dst, want, N * LD_DST);

    // Scatter the N rows of a [N, LD_SRC] source into a [SRC_ROWS, LD_DST] destination.
    float *table = random_floats(&rng, SRC_ROWS * LD_DST, 1);
    float *overwritten = copy_of(table, SRC_ROWS * LD_DST),
          *added = copy_of(table, SRC_ROWS * LD_DST);
    float *want_overwritten = copy_of(table, SRC_ROWS * LD_DST);
    float *want_added = copy_of(table, SRC_ROWS * LD_DST);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) {
            want_overwritten[rows[i] * LD_DST + c] = src[i * LD_SRC + c];
            want_added[rows[i] * LD_DST + c] += src[i * LD_SRC + c];
        }
    be->scatter_rows(be, N, D, rows, src, LD_SRC, overwritten, LD_DST, false);
    be->scatter_rows(be, N, D, rows, src, LD_SRC, added, LD_DST, true);
    check_identical("scatter_rows overwrite", overwritten, want_overwritten, SRC_ROWS * LD_DST);
    check_identical("scatter_rows accumulate", added, want_added, SRC_ROWS * LD_DST);
    release_arrays();
}

// --- embedding -----------------------------------------------------------------------------------

typedef struct {
    int T, d;
    const int *tokens;
    const float *table, *R;
    float *out;
} EmbeddingCase;

static double embedding_loss(void *ctx) {
    EmbeddingCase *e = ctx;
    be->embedding_forward(be, e->T, e->d, e->tokens, e->table, e->out);
    return weighted_sum(e->R, e->out, (size_t)e->T * e->d);
}

static void test_embedding(void) {
    enum { V = 11, T = 9, D = 70 }; // D spans more than one 64-column block
    const int tokens[T] = {3, 1, 3, 3, 0, 10, 1, 5, 3};
    float *table = random_floats(&rng, V * D, 1), *out = new_array(T * D, sizeof *out);
    float *want = new_array(T * D, sizeof *want);
    for (int t = 0; t < T; t++) memcpy(want + t * D, table + tokens[t] * D, D * sizeof *want);
    be->embedding_forward(be, T, D, tokens, table, out);
    check_identical("embedding forward", out, want, T * D);

    EmbeddingCase e = {T, D, tokens, table, random_floats(&rng, T * D, 1), out};
    float *dtable = new_array(V * D, sizeof *dtable);
    be->embedding_backward(be, T, D, tokens, e.R, dtable);
    check_gradient("embedding dtable, repeated tokens", embedding_loss, &e, table, V * D, dtable,
                   1e-2f);
    float *prefill = random_floats(&rng, V * D, 1), *accumulated = copy_of(prefill, V * D);
    be->embedding_backward(be, T, D, tokens, e.R, accumulated);
    check_accumulated("embedding dtable accumulates", accumulated, prefill, dtable, V * D);
    release_arrays();
}

// --- RMSNorm -------------------------------------------------------------------------------------

typedef struct {
    int T, d;
    float eps;
    const float *x, *w, *R;
    float *out, *rstd;
} RmsnormCase;

static double rmsnorm_loss(void *ctx) {
    RmsnormCase *r = ctx;
    be->rmsnorm_forward(be, r->T, r->d, r->eps, r->x, r->w, r->out, r->rstd);
    return weighted_sum(r->R, r->out, (size_t)r->T * r->d);
}

static void test_rmsnorm(void) {
    enum { T = 5, D = 70 }; // D: not a multiple of 8, more than one 64-column block
    float eps = 1e-5f;
    // x far from unit scale, so that rstd is far from 1 and every power of it shows.
    float *x = random_floats(&rng, T * D, 3), *w = random_floats(&rng, D, 0.3f);
    for (int i = 0; i < D; i++) w[i] += 1;
    float *out = new_array(T * D, sizeof *out), *rstd = new_array(T, sizeof *rstd);
    float *want = new_array(T * D, sizeof *want), *want_rstd = new_array(T, sizeof *want_rstd);
    for (int t = 0; t < T; t++) {
        double sum_sq = 0;
        for (int i = 0; i < D; i++) sum_sq += (double)x[t * D + i] * x[t * D + i];
        double r = 1 / sqrt(sum_sq / D + eps);
        want_rstd[t] = (float)r;
        for (int i = 0; i < D; i++) want[t * D + i] = (float)(x[t * D + i] * r * w[i]);
    }
    be->rmsnorm_forward(be, T, D, eps, x, w, out, rstd);
    check_close("rmsnorm forward", out, want, T * D, 1e-6, 1e-5);
    check_close("rmsnorm rstd", rstd, want_rstd, T, 1e-6, 1e-5);

    // Row 0 weighs the loss by the output itself: the x-gradient of sum(out^2) nearly vanishes,
    // as the normalisation cancels the direct term, so an error in either term stands out.
    float *R = random_floats(&rng, T * D, 1);
    memcpy(R, out, D * sizeof *out);
    RmsnormCase r = {T, D, eps, x, w, R, out, rstd};
    float *dx = new_array(T * D, sizeof *dx), *dw = new_array(D, sizeof *dw);
    be->rmsnorm_backward(be, T, D, r.R, x, w, rstd, dx, dw);
    float *dx_prefill = random_floats(&rng, T * D, 1), *dw_prefill = random_floats(&rng, D, 1);
    float *dx_added = copy_of(dx_prefill, T * D), *dw_added = copy_of(dw_prefill, D);
    be->rmsnorm_backward(be, T, D, r.R, x, w, rstd, dx_added, dw_added);
    check_accumulated("rmsnorm dx accumulates", dx_added, dx_prefill, dx, T * D);
    check_accumulated("rmsnorm dw accumulates", dw_added, dw_prefill, dw, D);
    float *dx_alone = new_array(T * D, sizeof *dx_alone);
    be->rmsnorm_backward(be, T, D, r.R, x, w, rstd, dx_alone, NULL);
    check_identical("rmsnorm dx without dw", dx_alone, dx, T * D);

    check_gradient("rmsnorm dx", rmsnorm_loss, &r, x, T * D, dx, 1e-2f);
    check_gradient("rmsnorm dw", rmsnorm_loss, &r, w, D, dw, 1e-2f);
    release_arrays();
}

// --- rotary embedding ----------------------------------------------------------------------------

typedef struct {
    int T, H, hd;
    float theta;
    const int *pos;
    const float *x, *R;
    float *rotated;
} RopeCase;

static double rope_loss(void *ctx) {
    RopeCase *r = ctx;
    size_t n = (size_t)r->T * r->H * r->hd;
    memcpy(r->rotated, r->x, n * sizeof *r->x);
    be->rope_forward(be, r->T, r->H, r->hd, r->theta, r->pos, r->rotated);
    return weighted_sum(r->R, r->rotated, n);
}

static void test_rope(void) {
    const int seq_len[3] = {5, 3, 7};
    int T, H = 3, hd = 8;
    int *pos = packed_positions(3, seq_len, &T);
    size_t n = (size_t)T * H * hd;
    float theta = 10000;
    float *x = random_floats(&rng, n, 1), *rotated = copy_of(x, n),
          *want = new_array(n, sizeof *want);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < H; h++)
            for (int i = 0; i < hd / 2; i++) {
                double angle = pos[t] * pow(theta, -2.0 * i / hd);
                size_t lo = ((size_t)t * H + h) * hd + i, hi = lo + hd / 2;
                want[lo] = (float)(x[lo] * cos(angle) - x[hi] * sin(angle));
                want[hi] = (float)(x[hi] * cos(angle) + x[lo] * sin(angle));
            }
    be->rope_forward(be, T, H, hd, theta, pos, rotated);
    check_close("rope forward", rotated, want, n, 1e-6, 1e-5);
    float *restored = copy_of(rotated, n);
    be->rope_backward(be, T, H, hd, theta, pos, restored);
    check_close("rope backward undoes forward", restored, x, n, 1e-6, 1e-5);

    RopeCase r = {T, H, hd, theta, pos, x, random_floats(&rng, n, 1), rotated};
    float *dx = copy_of(r.R, n);
    be->rope_backward(be, T, H, hd, theta, pos, dx);
    check_gradient("rope dx", rope_loss, &r, x, n, dx, 1e-2f);
    release_arrays();
}

// --- attention -----------------------------------------------------------------------------------

// A packed batch of three sequences of different lengths, grouped KV heads, max_len longer than
// the longest sequence.
#define ATT_SEQS 3
static const int att_seq_len[ATT_SEQS] = {5, 2, 7};
enum { ATT_HQ = 4, ATT_HKV = 2, ATT_HD = 8, ATT_MAX_LEN = 9 };

typedef struct {
    int T;
    const int *pos;
    const float *q, *k, *v, *R;
    float *out, *probs;
} AttentionCase;

static double attention_loss(void *ctx) {
    AttentionCase *a = ctx;
    be->attention_forward(be, a->T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, a->pos, a->q, a->k, a->v,
                          a->out, a->probs);
    return weighted_sum(a->R, a->out, (size_t)a->T * ATT_HQ * ATT_HD);
}

// Naive causal attention in double, written from the definition: token t of a sequence that
// starts at t - pos[t] attends to that sequence's tokens up to itself.
static void attention_reference(int T, const int *pos, const float *q, const float *k,
                                const float *v, float *out, float *probs) {
    double p[ATT_MAX_LEN];
    for (int t = 0; t < T; t++)
        for (int h = 0; h < ATT_HQ; h++) {
            int kv = h / (ATT_HQ / ATT_HKV), start = t - pos[t], n = pos[t] + 1;
            const float *qt = q + ((size_t)t * ATT_HQ + h) * ATT_HD;
            double max = -INFINITY, sum = 0;
            for (int j = 0; j < n; j++) {
                const float *kj = k + ((size_t)(start + j) * ATT_HKV + kv) * ATT_HD;
                double dot = 0;
                for (int i = 0; i < ATT_HD; i++) dot += (double)qt[i] * kj[i];
                p[j] = dot / sqrt(ATT_HD);
                max = fmax(max, p[j]);
            }
            for (int j = 0; j < n; j++) sum += p[j] = exp(p[j] - max);
            for (int i = 0; i < ATT_HD; i++) {
                double o = 0;
                for (int j = 0; j < n; j++)
                    o += p[j] / sum * v[((size_t)(start + j) * ATT_HKV + kv) * ATT_HD + i];
                out[((size_t)t * ATT_HQ + h) * ATT_HD + i] = (float)o;
            }
            for (int j = 0; j < n; j++)
                probs[((size_t)t * ATT_HQ + h) * ATT_MAX_LEN + j] = (float)(p[j] / sum);
        }
}

static void test_attention(void) {
    int T;
    int *pos = packed_positions(ATT_SEQS, att_seq_len, &T);
    size_t nq = (size_t)T * ATT_HQ * ATT_HD, nkv = (size_t)T * ATT_HKV * ATT_HD;
    size_t np = (size_t)T * ATT_HQ * ATT_MAX_LEN;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, nkv, 1),
          *v = random_floats(&rng, nkv, 1);
    float *out = new_array(nq, sizeof *out), *probs = new_array(np, sizeof *probs);
    float *want = new_array(nq, sizeof *want), *want_probs = new_array(np, sizeof *want_probs);
    attention_reference(T, pos, q, k, v, want, want_probs);
    be->attention_forward(be, T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, pos, q, k, v, out, probs);
    check_close("attention forward", out, want, nq, 1e-6, 1e-5);
    float *valid_probs = copy_of(probs, np); // entries past pos[t] are unused: zero in both
    for (int t = 0; t < T; t++)
        for (int h = 0; h < ATT_HQ; h++)
            for (int j = pos[t] + 1; j < ATT_MAX_LEN; j++)
                valid_probs[(t * ATT_HQ + h) * ATT_MAX_LEN + j] =
                    want_probs[(t * ATT_HQ + h) * ATT_MAX_LEN + j] = 0;
    check_close("attention probs", valid_probs, want_probs, np, 1e-6, 1e-5);

    AttentionCase a = {T, pos, q, k, v, random_floats(&rng, nq, 1), out, probs};
    float *dscores = new_array(np, sizeof *dscores);
    float *dq = new_array(nq, sizeof *dq), *dk = new_array(nkv, sizeof *dk);
    float *dv = new_array(nkv, sizeof *dv);
    be->attention_backward(be, T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, pos, q, k, v, probs, a.R,
                           dscores, dq, dk, dv);
    // Overwrite contract: stale gradients and scratch must not leak into the result.
    float *dq2 = random_floats(&rng, nq, 1), *dk2 = random_floats(&rng, nkv, 1),
          *dv2 = random_floats(&rng, nkv, 1);
    be->attention_backward(be, T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, pos, q, k, v, probs, a.R,
                           random_floats(&rng, np, 1), dq2, dk2, dv2);
    check_identical("attention dq overwrites", dq2, dq, nq);
    check_identical("attention dk overwrites", dk2, dk, nkv);
    check_identical("attention dv overwrites", dv2, dv, nkv);

    check_gradient("attention dq", attention_loss, &a, q, nq, dq, 1e-2f);
    check_gradient("attention dk", attention_loss, &a, k, nkv, dk, 1e-2f);
    check_gradient("attention dv", attention_loss, &a, v, nkv, dv, 1e-2f);
    release_arrays();
}

static void test_attention_cached(void) {
    int T;
    int *pos = packed_positions(ATT_SEQS, att_seq_len, &T);
    size_t nq = (size_t)T * ATT_HQ * ATT_HD, kv_row = ATT_HKV * ATT_HD;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, T * kv_row, 1);
    float *v = random_floats(&rng, T * kv_row, 1);
    float *out = new_array(nq, sizeof *out);
    float *probs = new_array((size_t)T * ATT_HQ * ATT_MAX_LEN, sizeof *probs);
    be->attention_forward(be, T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, pos, q, k, v, out, probs);

    // The same sequences placed into slots 2, 0, 3 of four; every other cache row is garbage
    // that a correct op never reads.
    enum { SLOTS = 4 };
    const int seq_slot[ATT_SEQS] = {2, 0, 3};
    float *k_cache = random_floats(&rng, SLOTS * ATT_MAX_LEN * kv_row, 100);
    float *v_cache = random_floats(&rng, SLOTS * ATT_MAX_LEN * kv_row, 100);
    int *slot = new_array(T, sizeof *slot);
    for (int s = 0, t = 0; s < ATT_SEQS; s++)
        for (int p = 0; p < att_seq_len[s]; p++, t++) {
            slot[t] = seq_slot[s];
            size_t row = ((size_t)slot[t] * ATT_MAX_LEN + pos[t]) * kv_row;
            memcpy(k_cache + row, k + t * kv_row, kv_row * sizeof *k);
            memcpy(v_cache + row, v + t * kv_row, kv_row * sizeof *v);
        }
    float *cached = new_array(nq, sizeof *cached);
    be->attention_cached(be, T, ATT_HQ, ATT_HKV, ATT_HD, ATT_MAX_LEN, slot, pos, q, k_cache,
                         v_cache, cached);
    float *want = new_array(nq, sizeof *want),
          *want_probs = copy_of(probs, T * ATT_HQ * ATT_MAX_LEN);
    attention_reference(T, pos, q, k, v, want, want_probs);
    check_close("attention_cached vs reference", cached, want, nq, 1e-6, 1e-5);
    // Generation with the cache must reproduce the full forward exactly, not just closely.
    check_identical("attention_cached == attention_forward", cached, out, nq);
    release_arrays();
}

// --- SwiGLU --------------------------------------------------------------------------------------

typedef struct {
    int n;
    const float *gate, *up, *R;
    float *h;
} SwigluCase;

static double swiglu_loss(void *ctx) {
    SwigluCase *s = ctx;
    be->swiglu_forward(be, s->n, s->gate, s->up, s->h);
    return weighted_sum(s->R, s->h, s->n);
}

static void test_swiglu(void) {
    int n = 200;
    float *gate = random_floats(&rng, n, 2), *up = random_floats(&rng, n, 1),
          *h = new_array(n, sizeof *h);
    gate[0] = 100;  // exp(-gate) underflows
    gate[1] = -100; // exp(-gate) overflows: silu must still be -0, not NaN
    float *want = new_array(n, sizeof *want);
    for (int i = 0; i < n; i++) want[i] = (float)(gate[i] / (1 + exp(-(double)gate[i])) * up[i]);
    be->swiglu_forward(be, n, gate, up, h);
    check_close("swiglu forward", h, want, n, 1e-6, 1e-5);

    SwigluCase s = {n, gate, up, random_floats(&rng, n, 1), h};
    float *dgate = new_array(n, sizeof *dgate), *dup = new_array(n, sizeof *dup);
    be->swiglu_backward(be, n, gate, up, s.R, dgate, dup);
    float *dgate2 = random_floats(&rng, n, 1), *dup2 = random_floats(&rng, n, 1);
    be->swiglu_backward(be, n, gate, up, s.R, dgate2, dup2);
    check_identical("swiglu dgate overwrites", dgate2, dgate, n);
    check_identical("swiglu dup overwrites", dup2, dup, n);
    check_gradient("swiglu dgate", swiglu_loss, &s, gate, n, dgate, 1e-2f);
    check_gradient("swiglu dup", swiglu_loss, &s, up, n, dup, 1e-2f);
    release_arrays();
}

// --- cross-entropy -------------------------------------------------------------------------------

typedef struct {
    int T, V;
    const float *logits;
    const int *targets;
    float scale;
    float *loss;
} CrossEntropyCase;

// What dlogits is the gradient of: scale * the sum of the per-row losses.
static double cross_entropy_loss(void *ctx) {
    CrossEntropyCase *c = ctx;
    be->cross_entropy(be, c->T, c->V, c->logits, c->targets, c->scale, c->loss, NULL);
    double sum = 0;
    for (int t = 0; t < c->T; t++) sum += c->loss[t];
    return c->scale * sum;
}

static void test_cross_entropy(void) {
    enum { T = 6, V = 37 };
    const int targets[T] = {3, -1, 36, 0, -1, 17};
    float scale = 0.25f;
    float *logits = random_floats(&rng, T * V, 2);
    for (int i = 0; i < V; i++) logits[3 * V + i] += 1000; // exp() of these would overflow
    float *loss = random_floats(&rng, T, 1),
          *dlogits = random_floats(&rng, T * V, 1); // garbage, overwritten
    float *want_loss = new_array(T, sizeof *want_loss);
    float *want_dlogits = new_array(T * V, sizeof *want_dlogits);
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue; // zero loss and gradient
        const float *row = logits + t * V;
        double max = -INFINITY, sum = 0;
        for (int i = 0; i < V; i++) max = fmax(max, row[i]);
        for (int i = 0; i < V; i++) sum += exp(row[i] - max);
        want_loss[t] = (float)(max + log(sum) - row[targets[t]]);
        for (int i = 0; i < V; i++)
            want_dlogits[t * V + i] =
                (float)(scale * (exp(row[i] - max) / sum - (i == targets[t])));
    }
    be->cross_entropy(be, T, V, logits, targets, scale, loss, dlogits);
    check_close("cross_entropy loss", loss, want_loss, T, 1e-6, 1e-5);
    check_close("cross_entropy dlogits", dlogits, want_dlogits, T * V, 1e-7, 1e-5);
    for (int t = 1; t < T; t += 3) { // the ignored rows, exactly zero
        CHECK(loss[t] == 0, "ignored row %d has loss %g", t, loss[t]);
        float worst = 0;
        for (int i = 0; i < V; i++) worst = fmaxf(worst, fabsf(dlogits[t * V + i]));
        CHECK(worst == 0, "ignored row %d has a gradient up to %g", t, worst);
    }

    float *loss_only = new_array(T, sizeof *loss_only), *in_place = copy_of(logits, T * V);
    float *loss_in_place = new_array(T, sizeof *loss_in_place);
    be->cross_entropy(be, T, V, logits, targets, scale, loss_only, NULL);
    be->cross_entropy(be, T, V, in_place, targets, scale, loss_in_place, in_place);
    check_identical("cross_entropy loss without dlogits", loss_only, loss, T);
    check_identical("cross_entropy loss in place", loss_in_place, loss, T);
    check_identical("cross_entropy dlogits in place", in_place, dlogits, T * V);

    CrossEntropyCase c = {T, V, logits, targets, scale, loss_only};
    check_gradient("cross_entropy dlogits", cross_entropy_loss, &c, logits, T * V, dlogits, 1e-2f);
    release_arrays();
}

// --- greedy decoding -----------------------------------------------------------------------------

// Whether out is the argmax of x [V] under backend.h's rule, checked as properties rather than by
// a scan: x[out] is no NaN and no entry is larger, every entry before it is smaller or NaN; for
// a row of NaN, out is 0.
static bool is_argmax(const float *x, int V, int out) {
    if (out < 0 || out >= V) return false;
    if (isnan(x[out])) {
        for (int i = 0; i < V; i++)
            if (!isnan(x[i])) return false;
        return out == 0;
    }
    for (int i = 0; i < V; i++)
        if (x[i] > x[out] || (i < out && x[i] == x[out])) return false;
    return true;
}

static void test_argmax_rows(void) {
    enum { N = 12, V = 301 };
    float *x = new_array((size_t)N * V, sizeof *x);
    int *out = new_array(N, sizeof *out);
    // Values on a coarse grid, so that most rows have tied maxima; then rows with the
    // special cases: -inf everywhere, NaN everywhere, NaN first, -0 tied with +0, NaN scattered
    // around a maximum at the end.
    for (size_t i = 0; i < (size_t)N * V; i++) x[i] = (float)(int)(rng_uniform(&rng) * 8) - 4;
    float *row = x + 6 * V;
    for (int i = 0; i < V; i++) row[i] = -INFINITY;
    row += V;
    for (int i = 0; i < V; i++) row[i] = NAN;
    row += V;
    row[0] = NAN;
    row += V;
    for (int i = 0; i < V; i++) row[i] = i == 5 ? 0.0f : i == 9 ? -0.0f : -1;
    row += V;
    for (int i = 0; i < V; i++) row[i] = i % 3 ? NAN : 0;
    row[V - 1] = 1;
    be->argmax_rows(be, N, V, x, out);
    int right = 0;
    for (int r = 0; r < N; r++) right += is_argmax(x + (size_t)r * V, V, out[r]);
    CHECK(right == N, "argmax_rows: %d of %d rows right", right, N);
    CHECK(out[6] == 0 && out[7] == 0 && out[9] == 5 && out[10] == V - 1,
          "argmax_rows special rows: %d %d %d %d", out[6], out[7], out[9], out[10]);
    be->argmax_rows(be, 1, 1, x, out);
    CHECK(out[0] == 0, "argmax_rows of one entry: %d", out[0]);
    release_arrays();
}

// --- AdamW ---------------------------------------------------------------------------------------

static void test_adamw(void) {
    enum { N = 50, STEPS = 3 };
    float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.1f;
    float *params = random_floats(&rng, N, 1), *m = new_array(N, sizeof *m),
          *v = new_array(N, sizeof *v);
    double want_p[N], want_m[N] = {0}, want_v[N] = {0};
    for (int i = 0; i < N; i++) want_p[i] = params[i];
    float *got = new_array(3 * N, sizeof *got), *want = new_array(3 * N, sizeof *want);
    for (int step = 1; step <= STEPS; step++) {
        float *grads = random_floats(&rng, N, 1);
        grads[0] = 0;
        grads[1] = 1e-7f; // sqrt(v) comparable with eps: the eps term must sit where it belongs
        for (int i = 0; i < N; i++) {
            want_p[i] -= (double)lr * weight_decay * want_p[i];
            want_m[i] = beta1 * want_m[i] + (1 - (double)beta1) * grads[i];
            want_v[i] = beta2 * want_v[i] + (1 - (double)beta2) * grads[i] * grads[i];
            double bias1 = 1 - pow(beta1, step), bias2 = 1 - pow(beta2, step);
            want_p[i] -= lr / bias1 * want_m[i] / (sqrt(want_v[i]) / sqrt(bias2) + eps);
            want[i] = (float)want_p[i], want[N + i] = (float)want_m[i];
            want[2 * N + i] = (float)want_v[i];
        }
        be->adamw(be, N, lr, beta1, beta2, eps, weight_decay, step, params, grads, m, v);
        memcpy(got, params, N * sizeof *got);
        memcpy(got + N, m, N * sizeof *got);
        memcpy(got + 2 * N, v, N * sizeof *got);
        char what[64];
        snprintf(what, sizeof what, "adamw step %d (params, m, v)", step);
        check_close(what, got, want, 3 * N, 1e-7, 1e-5);
    }
    release_arrays();
}

// --- the discriminator's dense network -----------------------------------------------------------

typedef struct {
    int n, d;
    const float *x, *mean, *inv_std, *R;
    float *out;
} DenseCase;

static double relu_loss(void *ctx) {
    DenseCase *c = ctx;
    be->relu_forward(be, c->n * c->d, c->x, c->out);
    return weighted_sum(c->R, c->out, (size_t)c->n * c->d);
}

static double standardize_loss(void *ctx) {
    DenseCase *c = ctx;
    be->standardize_forward(be, c->n, c->d, c->x, c->mean, c->inv_std, c->out);
    return weighted_sum(c->R, c->out, (size_t)c->n * c->d);
}

static void test_bias_relu(void) {
    enum { N = 37, D = 70 }; // more columns than one column block
    float *x = random_floats(&rng, N * D, 1), *bias = random_floats(&rng, D, 1);
    float *want = new_array(N * D, sizeof *want), *biased = copy_of(x, N * D);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) want[i * D + c] = x[i * D + c] + bias[c];
    be->bias_forward(be, N, D, bias, biased);
    check_identical("bias_forward", biased, want, N * D);

    float *dbias = random_floats(&rng, D, 1), *want_dbias = new_array(D, sizeof *want_dbias);
    for (int c = 0; c < D; c++) {
        double sum = dbias[c];
        for (int i = 0; i < N; i++) sum += x[i * D + c];
        want_dbias[c] = (float)sum;
    }
    be->bias_backward(be, N, D, x, dbias);
    check_close("bias_backward (accumulates column sums)", dbias, want_dbias, D, 1e-5, 1e-5);

    // ReLU inputs kept 0.1 away from its kink, so that finite differences do not straddle it.
    for (int i = 0; i < N * D; i++) x[i] = copysignf(0.1f + fabsf(x[i]), x[i]);
    float *relu = new_array(N * D, sizeof *relu);
    for (int i = 0; i < N * D; i++) want[i] = x[i] > 0 ? x[i] : 0;
    be->relu_forward(be, N * D, x, relu);
    check_identical("relu_forward", relu, want, N * D);
    float *in_place = copy_of(x, N * D);
    be->relu_forward(be, N * D, in_place, in_place);
    check_identical("relu_forward in place", in_place, want, N * D);
    float nan_in = NAN, nan_out = 0;
    be->relu_forward(be, 1, &nan_in, &nan_out);
    CHECK(isnan(nan_out), "relu_forward(NaN) = %g hides the NaN", nan_out);

    DenseCase c = {.n = N, .d = D, .x = x, .R = random_floats(&rng, N * D, 1), .out = relu};
    float *dx = random_floats(&rng, N * D, 1), *dx_in_place = copy_of(c.R, N * D);
    be->relu_backward(be, N * D, relu, c.R, dx);
    be->relu_backward(be, N * D, relu, dx_in_place, dx_in_place);
    check_identical("relu_backward in place", dx_in_place, dx, N * D);
    check_gradient("relu_backward", relu_loss, &c, x, N * D, dx, 1e-2f);
    release_arrays();
}

static void test_standardize(void) {
    enum { N = 50, D = 70 };
    float *x = random_floats(&rng, N * D, 1);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) {
            float *v = &x[i * D + c];
            if (c == 0)
                *v = 3; // constant: only centred
            else if (c == 1)
                *v = i % 2 ? 1e-7f : 0; // std 5e-8, under min_std: constant too
            else if (c == 2)
                *v = 1e4f + 1e-2f * *v; // far from zero: must not cancel
            else
                *v = (float)c + expf((float)(c % 7) - 3) * *v;
        }
    float min_std = 1e-6f;
    float *mean = random_floats(&rng, D, 1), *inv_std = random_floats(&rng, D, 1); // overwritten
    float *want_mean = new_array(D, sizeof *want_mean), *want_inv = new_array(D, sizeof *want_inv);
    for (int c = 0; c < D; c++) {
        double sum = 0, squares = 0;
        for (int i = 0; i < N; i++) sum += x[i * D + c];
        double mu = sum / N;
        for (int i = 0; i < N; i++) squares += (x[i * D + c] - mu) * (x[i * D + c] - mu);
        double std = sqrt(squares / N); // the population std
        want_mean[c] = (float)mu;
        want_inv[c] = std > min_std ? (float)(1 / std) : 1;
    }
    CHECK(want_inv[0] == 1 && want_inv[1] == 1 && want_inv[2] > 10, "the test's columns are off");
    be->feature_stats(be, N, D, x, min_std, mean, inv_std);
    check_close("feature_stats mean", mean, want_mean, D, 1e-6, 1e-6);
    check_close("feature_stats inv_std (population, constant columns 1)", inv_std, want_inv, D,
                1e-6, 1e-5);

    float *out = new_array(N * D, sizeof *out), *want = new_array(N * D, sizeof *want);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++)
            want[i * D + c] = (float)(((double)x[i * D + c] - mean[c]) * inv_std[c]);
    be->standardize_forward(be, N, D, x, mean, inv_std, out);
    check_close("standardize_forward", out, want, N * D, 1e-5, 1e-5);
    float *in_place = copy_of(x, N * D);
    be->standardize_forward(be, N, D, in_place, mean, inv_std, in_place);
    check_identical("standardize_forward in place", in_place, out, N * D);

    // Steps of finite differences vanish in the rounding of values near 1e4: bring the column
    // far from zero, and its mean, back to zero.
    for (int i = 0; i < N; i++) x[i * D + 2] = rng_normal(&rng);
    mean[2] = 0;
    DenseCase c = {N, D, x, mean, inv_std, random_floats(&rng, N * D, 1), out};
    float *dx = random_floats(&rng, N * D, 1), *dx_in_place = copy_of(c.R, N * D);
    be->standardize_backward(be, N, D, c.R, inv_std, dx);
    be->standardize_backward(be, N, D, dx_in_place, inv_std, dx_in_place);
    check_identical("standardize_backward in place", dx_in_place, dx, N * D);
    check_gradient("standardize_backward", standardize_loss, &c, x, N * D, dx, 1e-2f);
    release_arrays();
}

// --- determinism ---------------------------------------------------------------------------------

#define MAX_RESULTS 40
typedef struct {
    const char *name;
    const float *data;
    size_t n;
} Result;

// Runs every op once, from inputs drawn from a fixed seed, on shapes large enough (over 32k
// elements of work each) that every loop splits between threads. Lists the outputs in results,
// gemm's first, and returns their count.
static int run_every_op(Backend *b, Result *results) {
    rng_seed(&rng, 7);
    const int seq_len[3] = {64, 40, 56};
    int T, d = 256, ffn = 512, V = 300, Hq = 8, Hkv = 2, hd = 32, max_len = 64, slots = 3;
    int *pos = packed_positions(3, seq_len, &T);
    size_t Td = (size_t)T * d, Vd = (size_t)V * d, nkv = (size_t)T * Hkv * hd;
    size_t nprobs = (size_t)T * Hq * max_len, ncache = (size_t)slots * max_len * Hkv * hd;
    int *tokens = new_array(T, sizeof *tokens), *targets = new_array(T, sizeof *targets);
    int *rows = new_array(T, sizeof *rows), *slot = new_array(T, sizeof *slot);
    for (int t = 0; t < T; t++) {
        tokens[t] = (int)(rng_next(&rng) % 40); // many repeats
        targets[t] = t % 5 ? (int)(rng_next(&rng) % V) : -1;
        rows[t] = t * 7 % V; // distinct
        slot[t] = t == 0 ? 0 : slot[t - 1] + (pos[t] == 0);
    }
    int n = 0;

    float *x = random_floats(&rng, Td, 1), *w = random_floats(&rng, d, 1),
          *dout = random_floats(&rng, Td, 1);
    float *weights = random_floats(&rng, (size_t)d * d, 1),
          *product = new_array(Td, sizeof *product);
    b->gemm(b, false, true, T, d, d, 1.0f, x, d, weights, d, 0.0f, product, d); // x @ W^T
    results[n++] = (Result){"gemm", product, Td};

    float *axpy = copy_of(x, Td), *sum = new_array(Td, sizeof *sum);
    b->axpy(b, (int)Td, 0.3f, dout, axpy);
    b->add(b, (int)Td, x, dout, sum);
    results[n++] = (Result){"axpy", axpy, Td};
    results[n++] = (Result){"add", sum, Td};

    float *table = random_floats(&rng, Vd, 1), *gathered = new_array(Td, sizeof *gathered);
    float *overwritten = copy_of(table, Vd), *added = copy_of(table, Vd);
    b->gather_rows(b, T, d, rows, table, d, gathered, d);
    b->scatter_rows(b, T, d, rows, x, d, overwritten, d, false);
    b->scatter_rows(b, T, d, rows, x, d, added, d, true);
    results[n++] = (Result){"gather_rows", gathered, Td};
    results[n++] = (Result){"scatter_rows overwrite", overwritten, Td};
    results[n++] = (Result){"scatter_rows accumulate", added, Td};

    float *embedded = new_array(Td, sizeof *embedded), *dtable = new_array(Vd, sizeof *dtable);
    b->embedding_forward(b, T, d, tokens, table, embedded);
    b->embedding_backward(b, T, d, tokens, dout, dtable);
    results[n++] = (Result){"embedding forward", embedded, Td};
    results[n++] = (Result){"embedding backward", dtable, Vd};

    float *normed = new_array(Td, sizeof *normed), *rstd = new_array(T, sizeof *rstd);
    float *dx = copy_of(dout, Td), *dw = copy_of(w, d);
    b->rmsnorm_forward(b, T, d, 1e-5f, x, w, normed, rstd);
    b->rmsnorm_backward(b, T, d, dout, x, w, rstd, dx, dw);
    results[n++] = (Result){"rmsnorm forward", normed, Td};
    results[n++] = (Result){"rmsnorm rstd", rstd, T};
    results[n++] = (Result){"rmsnorm dx", dx, Td};
    results[n++] = (Result){"rmsnorm dw", dw, d};

    // q is [T, Hq*hd] = [T, d].
    float *q = copy_of(x, Td), *dq_rotated = copy_of(dout, Td);
    b->rope_forward(b, T, Hq, hd, 10000, pos, q);
    b->rope_backward(b, T, Hq, hd, 10000, pos, dq_rotated);
    results[n++] = (Result){"rope forward", q, Td};
    results[n++] = (Result){"rope backward", dq_rotated, Td};

    float *k = random_floats(&rng, nkv, 1), *v = random_floats(&rng, nkv, 1);
    float *attended = new_array(Td, sizeof *attended), *probs = new_array(nprobs, sizeof *probs);
    float *dscores = new_array(nprobs, sizeof *dscores), *dq = new_array(Td, sizeof *dq);
    float *dk = new_array(nkv, sizeof *dk), *dv = new_array(nkv, sizeof *dv);
    b->attention_forward(b, T, Hq, Hkv, hd, max_len, pos, q, k, v, attended, probs);
    b->attention_backward(b, T, Hq, Hkv, hd, max_len, pos, q, k, v, probs, dout, dscores, dq, dk,
                          dv);
    results[n++] = (Result){"attention forward", attended, Td};
    results[n++] = (Result){"attention probs", probs, nprobs};
    results[n++] = (Result){"attention dq", dq, Td};
    results[n++] = (Result){"attention dk", dk, nkv};
    results[n++] = (Result){"attention dv", dv, nkv};

    float *k_cache = random_floats(&rng, ncache, 1), *v_cache = random_floats(&rng, ncache, 1);
    float *cached = new_array(Td, sizeof *cached);
    b->attention_cached(b, T, Hq, Hkv, hd, max_len, slot, pos, q, k_cache, v_cache, cached);
    results[n++] = (Result){"attention_cached", cached, Td};

    size_t nffn = (size_t)T * ffn;
    float *gate = random_floats(&rng, nffn, 2), *up = random_floats(&rng, nffn, 1);
    float *dh = random_floats(&rng, nffn, 1), *h = new_array(nffn, sizeof *h);
    float *dgate = new_array(nffn, sizeof *dgate), *dup = new_array(nffn, sizeof *dup);
    b->swiglu_forward(b, (int)nffn, gate, up, h);
    b->swiglu_backward(b, (int)nffn, gate, up, dh, dgate, dup);
    results[n++] = (Result){"swiglu forward", h, nffn};
    results[n++] = (Result){"swiglu dgate", dgate, nffn};
    results[n++] = (Result){"swiglu dup", dup, nffn};

    size_t nlogits = (size_t)T * V;
    float *logits = random_floats(&rng, nlogits, 3), *loss = new_array(T, sizeof *loss);
    float *dlogits = new_array(nlogits, sizeof *dlogits);
    b->cross_entropy(b, T, V, logits, targets, 0.01f, loss, dlogits);
    results[n++] = (Result){"cross_entropy loss", loss, T};
    results[n++] = (Result){"cross_entropy dlogits", dlogits, nlogits};

    float *params = copy_of(x, Td), *m = new_array(Td, sizeof *m),
          *var = new_array(Td, sizeof *var);
    for (int step = 1; step <= 2; step++)
        b->adamw(b, Td, 1e-3f, 0.9f, 0.999f, 1e-8f, 0.01f, step, params, dout, m, var);
    results[n++] = (Result){"adamw params", params, Td};
    results[n++] = (Result){"adamw m", m, Td};
    results[n++] = (Result){"adamw v", var, Td};

    float *biased = copy_of(x, Td), *dbias = copy_of(w, d);
    b->bias_forward(b, T, d, w, biased);
    b->bias_backward(b, T, d, dout, dbias);
    results[n++] = (Result){"bias forward", biased, Td};
    results[n++] = (Result){"bias backward", dbias, d};
    float *relu = new_array(Td, sizeof *relu), *drelu = new_array(Td, sizeof *drelu);
    b->relu_forward(b, (int)Td, x, relu);
    b->relu_backward(b, (int)Td, relu, dout, drelu);
    results[n++] = (Result){"relu forward", relu, Td};
    results[n++] = (Result){"relu backward", drelu, Td};
    float *mean = new_array(d, sizeof *mean), *inv_std = new_array(d, sizeof *inv_std);
    float *standardized = new_array(Td, sizeof *standardized), *dstd = new_array(Td, sizeof *dstd);
    b->feature_stats(b, T, d, x, 1e-6f, mean, inv_std);
    b->standardize_forward(b, T, d, x, mean, inv_std, standardized);
    b->standardize_backward(b, T, d, dout, inv_std, dstd);
    results[n++] = (Result){"feature_stats mean", mean, d};
    results[n++] = (Result){"feature_stats inv_std", inv_std, d};
    results[n++] = (Result){"standardize forward", standardized, Td};
    results[n++] = (Result){"standardize backward", dstd, Td};
    assert(n <= MAX_RESULTS);
    return n;
}

static void test_determinism(void) {
    Backend *serial = backend_cpu_create(1);
    CHECK(serial != NULL, "backend_cpu_create(1) failed");
    if (!serial) return;
    Result one[MAX_RESULTS], two[MAX_RESULTS], again[MAX_RESULTS];
    int n = run_every_op(serial, one);
    run_every_op(be, two);
    run_every_op(be, again);
    int differ_threads = 0, differ_runs = 0;
    for (int i = 0; i < n; i++) {
        char what[80];
        snprintf(what, sizeof what, "%s, same backend twice", two[i].name);
        differ_runs += !check_identical(what, again[i].data, two[i].data, two[i].n);
        if (i == 0) continue; // OpenBLAS blocks gemm by thread count
        snprintf(what, sizeof what, "%s, 1 thread vs 2", two[i].name);
        differ_threads += !check_identical(what, one[i].data, two[i].data, two[i].n);
    }
    printf("determinism: %d outputs, %d differ between runs, %d between 1 and 2 threads\n", n,
           differ_runs, differ_threads);
    serial->destroy(serial);
    release_arrays();
}

int main(void) {
    be = backend_cpu_create(2);
    if (!be) {
        fprintf(stderr, "backend_cpu_create failed\n");
        return 1;
    }
    rng_seed(&rng, 1);
    test_memory();
    test_gemm();
    test_axpy_add();
    test_rows();
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_attention_cached();
    test_swiglu();
    test_cross_entropy();
    test_argmax_rows();
    test_adamw();
    test_bias_relu();
    test_standardize();
    test_determinism();
    be->destroy(be);
    return check_summary();
}
