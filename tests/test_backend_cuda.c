// The CUDA backend against the CPU backend (the reference): every op of backend.h on the same
// random inputs uploaded to both, then a whole small Llama model with a LoRA adapter, forward and
// backward, with fp32, bf16 and fp16 frozen matrices; and run-to-run determinism on the GPU.
//
// Tolerances. Each output element passes when |candidate - reference| <= atol + rtol * scale,
// where scale is the magnitude its rounding errors are relative to: the sum of the magnitudes of
// the terms that make the element (so that cancellation cannot make the tolerance vanish), or
// the reference's own magnitude where nothing cancels. u = 2^-24 is fp32's unit roundoff:
//   - ops made of one correctly rounded operation per element (copies, one add, one multiply,
//     comparisons) must match exactly: IEEE fixes their results;
//   - a few operations per element (FMA contraction or not, 2-ulp expf/sinf/rsqrtf): 4u-64u;
//   - a sum of n terms in another order: in practice ~sqrt(n) u of the sum of magnitudes;
//     reductions here get 1e-5 to 5e-5 of it, which is many times that for n <= 50000;
//   - 16-bit matrices: rounding the activations to bf16 (fp16) may cost 2^-8 (2^-11) of each
//     product, accumulated over K: that fraction of sum_k |a_k w_k|.
// A wrong index or formula errs by O(1) of the scale, far beyond every tolerance here. Each
// comparison prints its largest absolute difference, its largest difference as a fraction of
// the scale, and the worst ratio to the tolerance (<= 1 passes), so a GPU log shows the margins.
#include "backend_cpu.h"
#include "check.h"
#include "generate.h"
#include "half.h"
#include "lora.h"
#include "rng.h"
#include "test_arrays.h"
#include "test_model.h"
#ifdef ARE_HAVE_CUDA
#include "backend_cuda.h"
#include "cuda_devices.h"
#endif

#include <assert.h>
#include <float.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static Backend *cpu, *gpu; // the reference (two threads, as CI runs) and the candidate (fp32)
static Rng rng;

static int device_count(void) {
#ifdef ARE_HAVE_CUDA
    return cuda_device_count();
#else
    return 0;
#endif
}

// The backend under test on device 0 with frozen matrices of type matrices, or NULL with the
// reason in err.
static Backend *candidate_create(MatrixType matrices, char *err, size_t err_len) {
#ifdef ARE_HAVE_CUDA
    return backend_cuda_create(0, matrices, err, err_len);
#else
    (void)matrices;
    snprintf(err, err_len, "built without CUDA");
    return NULL;
#endif
}

// --- memory on both backends ---------------------------------------------------------------------

// Backend arrays, freed together at the end of each test (as test_arrays.h does on the host).
#define MAX_DEVICE_ARRAYS 256
static struct {
    Backend *be;
    void *ptr;
} device_arrays[MAX_DEVICE_ARRAYS];
static int n_device_arrays;

static void *device_alloc(Backend *be, size_t bytes) {
    void *ptr = be->alloc(be, bytes ? bytes : sizeof(float));
    if (!ptr) {
        fprintf(stderr, "%s: out of memory for %zu bytes\n", be->name, bytes);
        exit(1);
    }
    assert(n_device_arrays < MAX_DEVICE_ARRAYS);
    device_arrays[n_device_arrays].be = be;
    device_arrays[n_device_arrays++].ptr = ptr;
    return ptr;
}

static void release_all(void) {
    while (n_device_arrays) {
        n_device_arrays--;
        device_arrays[n_device_arrays].be->free(device_arrays[n_device_arrays].be,
                                                device_arrays[n_device_arrays].ptr);
    }
    release_arrays();
}

// One tensor on both backends: the reference's copy and the candidate's.
typedef struct {
    float *cpu, *gpu;
} Floats;

typedef struct {
    int *cpu, *gpu;
} Ints;

static void *upload(Backend *be, const void *host, size_t bytes) {
    void *dev = device_alloc(be, bytes);
    if (bytes) be->to_device(be, dev, host, bytes);
    return dev;
}

static Floats both(const float *host, size_t n) {
    return (Floats){upload(cpu, host, n * sizeof *host), upload(gpu, host, n * sizeof *host)};
}

static Ints both_ints(const int *host, size_t n) {
    return (Ints){upload(cpu, host, n * sizeof *host), upload(gpu, host, n * sizeof *host)};
}

// An output the op overwrites: NaN everywhere on both, so that a read of stale values shows.
static Floats both_nan(size_t n) {
    float *host = new_array(n, sizeof *host);
    for (size_t i = 0; i < n; i++) host[i] = NAN;
    return both(host, n);
}

static float *download(Backend *be, const float *src, size_t n) {
    float *host = new_array(n, sizeof *host);
    if (n) be->to_host(be, host, src, n * sizeof *host);
    return host;
}

static float max_abs(const float *x, size_t n) {
    float m = 0;
    for (size_t i = 0; i < n; i++) m = fmaxf(m, fabsf(x[i]));
    return m;
}

// Positions of a packed batch: 0 .. len-1 for each sequence in turn; *T receives the total.
static int *packed_positions(int n_seqs, const int *seq_len, int *T) {
    *T = 0;
    for (int s = 0; s < n_seqs; s++) *T += seq_len[s];
    int *pos = new_array((size_t)*T, sizeof *pos);
    for (int s = 0, t = 0; s < n_seqs; s++)
        for (int p = 0; p < seq_len[s]; p++) pos[t++] = p;
    return pos;
}

// --- comparisons ---------------------------------------------------------------------------------

// Checks |got - want| <= atol + rtol * scale[i] for each of n elements (scale NULL: |want[i]|);
// a NaN must meet a NaN. Prints the largest difference, absolutely and as a fraction of the
// scale, and the worst ratio to the tolerance.
static void compare_host(const char *what, const float *got, const float *want, size_t n,
                         double rtol, const float *scale, double atol) {
    double worst = 0, max_diff = 0, max_rel = 0;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        double ratio, diff, s = scale ? scale[i] : fabs((double)want[i]);
        if (isnan(want[i]) || isnan(got[i])) {
            diff = isnan(want[i]) && isnan(got[i]) ? 0 : INFINITY;
        } else {
            diff = fabs((double)got[i] - (double)want[i]);
        }
        double tol = atol + rtol * s;
        ratio = diff == 0 ? 0 : tol > 0 ? diff / tol : INFINITY;
        max_diff = fmax(max_diff, diff);
        if (s > 0) max_rel = fmax(max_rel, diff / s);
        if (ratio > worst) {
            worst = ratio;
            at = i;
        }
    }
    printf("  %-50s max|diff| %9.3g  max|diff|/scale %9.3g  worst/tol %8.4f\n", what, max_diff,
           max_rel, worst);
    CHECK(worst <= 1, "%s: element %zu is %.9g, the reference %.9g (%.3g times the tolerance)",
          what, at, n ? got[at] : 0, n ? want[at] : 0, worst);
}

// The same for a tensor on both backends, downloaded first.
static void compare(const char *what, Floats x, size_t n, double rtol, const float *scale,
                    double atol) {
    compare_host(what, download(gpu, x.gpu, n), download(cpu, x.cpu, n), n, rtol, scale, atol);
}

// Ops that IEEE arithmetic fixes exactly: zero tolerance (+0 and -0 count as equal).
static void compare_exact(const char *what, Floats x, size_t n) {
    compare(what, x, n, 0, NULL, 0);
}

// Run-to-run determinism on the candidate: the same bits.
static void check_identical(const char *what, const float *a, const float *b, size_t n) {
    bool same = memcmp(a, b, n * sizeof *a) == 0;
    printf("  %-50s %s\n", what, same ? "bit-identical" : "DIFFER");
    CHECK(same, "%s: two runs differ in their bits", what);
}

// --- memory --------------------------------------------------------------------------------------

// alloc is zero-filled, even where it hands back memory just freed (workspaces rely on it), and
// to_device, copy, zero and to_host move bytes exactly, from one byte to megabytes.
static void test_memory(void) {
    printf("memory\n");
    const size_t sizes[] = {1, 3, 4096, 1000003, 8u << 20};
    for (int s = 0; s < 5; s++) {
        size_t bytes = sizes[s], nonzero = 0;
        unsigned char *host = new_array(bytes, 1), *back = new_array(bytes, 1);
        for (size_t i = 0; i < bytes; i++) host[i] = (unsigned char)(rng_next(&rng) | 1);
        unsigned char *dirty = gpu->alloc(gpu, bytes);
        CHECK(dirty != NULL, "alloc(%zu) failed", bytes);
        if (!dirty) continue;
        gpu->to_device(gpu, dirty, host, bytes);
        gpu->free(gpu, dirty);
        unsigned char *mem = device_alloc(gpu, bytes), *other = device_alloc(gpu, bytes);
        gpu->to_host(gpu, back, mem, bytes);
        for (size_t i = 0; i < bytes; i++) nonzero += back[i] != 0;
        CHECK(nonzero == 0, "alloc(%zu) has %zu nonzero bytes", bytes, nonzero);
        gpu->to_device(gpu, mem, host, bytes);
        gpu->copy(gpu, other, mem, bytes);
        gpu->to_host(gpu, back, other, bytes);
        CHECK(memcmp(back, host, bytes) == 0, "to_device, copy, to_host of %zu bytes", bytes);
        gpu->zero(gpu, other, bytes);
        gpu->to_host(gpu, back, other, bytes);
        nonzero = 0;
        for (size_t i = 0; i < bytes; i++) nonzero += back[i] != 0;
        CHECK(nonzero == 0, "zero left %zu nonzero bytes of %zu", nonzero, bytes);
    }
    printf("  %-50s checked\n", "alloc zero-filled, to_device/copy/zero/to_host");
    release_all();
}

// --- gemm ----------------------------------------------------------------------------------------

// C[M,N] = alpha op(A) op(B) + beta C with every row padded (the padding of C must stay as it
// was). Tolerance 2^-18 (16u) of alpha sum_k |a_ik b_kj| + |beta c_ij|: the two products sum
// in different orders, each within a few u of that in practice. It also says the fp32 path
// must be fp32: TF32 tensor cores (10-bit mantissa) err by ~2^-11 |a||b| sqrt(K) per element,
// over ten times this at the sizes here.
static void gemm_case(bool ta, bool tb, int M, int N, int K, float alpha, float beta) {
    int a_rows = ta ? K : M, a_cols = ta ? M : K, b_rows = tb ? N : K, b_cols = tb ? K : N;
    int lda = a_cols + 3, ldb = b_cols + 2, ldc = N + 5;
    size_t na = (size_t)a_rows * lda, nb = (size_t)b_rows * ldb, nc = (size_t)M * ldc;
    float *A = random_floats(&rng, na, 1), *B = random_floats(&rng, nb, 1),
          *C = random_floats(&rng, nc, 1);
    Floats a = both(A, na), b = both(B, nb), c = both(C, nc);
    cpu->gemm(cpu, ta, tb, M, N, K, alpha, a.cpu, lda, b.cpu, ldb, beta, c.cpu, ldc);
    gpu->gemm(gpu, ta, tb, M, N, K, alpha, a.gpu, lda, b.gpu, ldb, beta, c.gpu, ldc);
    float *scale = new_array(nc, sizeof *scale); // padding: scale 0, so it must be untouched
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int k = 0; k < K; k++)
                sum += fabs((double)(ta ? A[(size_t)k * lda + i] : A[(size_t)i * lda + k]) *
                            (tb ? B[(size_t)j * ldb + k] : B[(size_t)k * ldb + j]));
            scale[(size_t)i * ldc + j] =
                (float)(fabs(alpha) * sum + fabs((double)beta * C[(size_t)i * ldc + j]));
        }
    char what[96];
    snprintf(what, sizeof what, "gemm%s%s %dx%dx%d alpha %g beta %g", ta ? " A^T" : "",
             tb ? " B^T" : "", M, N, K, alpha, beta);
    compare(what, c, nc, 0x1p-18, scale, 0);
}

static void test_gemm(void) {
    printf("gemm\n");
    // Several of cuBLAS's tiles in every dimension, and multiples of none.
    for (int variant = 0; variant < 8; variant++)
        gemm_case(variant & 1, variant & 2, 130, 71, 257, 0.75f, variant & 4 ? 1.0f : 0.0f);
    gemm_case(false, false, 9, 11, 0, 0.75f, 0.5f); // K = 0: C = beta C
    gemm_case(true, true, 9, 11, 0, 0.75f, 0.0f);   // K = 0, beta 0: C = 0
    release_all();
}

// --- element-wise ops and rows -------------------------------------------------------------------

static void test_axpy_add(void) {
    printf("axpy, add\n");
    int n = 1000003; // many blocks, and not a multiple of any block size
    float *x = random_floats(&rng, (size_t)n, 1), *y = random_floats(&rng, (size_t)n, 1);
    float *b = random_floats(&rng, (size_t)n, 1), a = -1.7f;
    Floats dx = both(x, n), dy = both(y, n), db = both(b, n);
    cpu->axpy(cpu, n, a, dx.cpu, dy.cpu);
    gpu->axpy(gpu, n, a, dx.gpu, dy.gpu);
    // y + a x, fused or not: within one rounding of each term, 4u of |y| + |a x|.
    float *scale = new_array((size_t)n, sizeof *scale);
    for (int i = 0; i < n; i++) scale[i] = fabsf(y[i]) + fabsf(a * x[i]);
    compare("axpy", dy, (size_t)n, 0x1p-22, scale, 0);

    Floats out = both_nan((size_t)n);
    cpu->add(cpu, n, dx.cpu, db.cpu, out.cpu);
    gpu->add(gpu, n, dx.gpu, db.gpu, out.gpu);
    compare_exact("add", out, (size_t)n);
    cpu->add(cpu, n, dx.cpu, db.cpu, dx.cpu); // out aliasing a
    gpu->add(gpu, n, dx.gpu, db.gpu, dx.gpu);
    compare_exact("add in place (out = a)", dx, (size_t)n);
    release_all();
}

static void test_rows(void) {
    printf("gather_rows, scatter_rows\n");
    enum { SRC_ROWS = 3000, N = 2000, D = 300, LD_SRC = 301, LD_DST = 305 };
    // Gather: any rows, repeats allowed; the padding of dst stays as it was.
    int *rows = new_array(N, sizeof *rows);
    for (int i = 0; i < N; i++) rows[i] = (int)(rng_next(&rng) % SRC_ROWS);
    Ints drows = both_ints(rows, N);
    Floats src = both(random_floats(&rng, (size_t)SRC_ROWS * LD_SRC, 1), (size_t)SRC_ROWS * LD_SRC);
    Floats dst = both(random_floats(&rng, (size_t)N * LD_DST, 1), (size_t)N * LD_DST);
    cpu->gather_rows(cpu, N, D, drows.cpu, src.cpu, LD_SRC, dst.cpu, LD_DST);
    gpu->gather_rows(gpu, N, D, drows.gpu, src.gpu, LD_SRC, dst.gpu, LD_DST);
    compare_exact("gather_rows (padding untouched)", dst, (size_t)N * LD_DST);

    // Scatter N rows of a [N, LD_SRC] source into distinct rows (a random permutation's first
    // N) of a [SRC_ROWS, LD_DST] table, overwriting and accumulating (one add: exact).
    int *perm = new_array(SRC_ROWS, sizeof *perm);
    for (int i = 0; i < SRC_ROWS; i++) perm[i] = i;
    for (int i = SRC_ROWS - 1; i > 0; i--) {
        int j = (int)(rng_next(&rng) % (uint64_t)(i + 1)), swap = perm[i];
        perm[i] = perm[j];
        perm[j] = swap;
    }
    Ints distinct = both_ints(perm, N);
    float *table = random_floats(&rng, (size_t)SRC_ROWS * LD_DST, 1);
    for (int accumulate = 0; accumulate < 2; accumulate++) {
        Floats t = both(table, (size_t)SRC_ROWS * LD_DST);
        cpu->scatter_rows(cpu, N, D, distinct.cpu, src.cpu, LD_SRC, t.cpu, LD_DST, accumulate);
        gpu->scatter_rows(gpu, N, D, distinct.gpu, src.gpu, LD_SRC, t.gpu, LD_DST, accumulate);
        compare_exact(accumulate ? "scatter_rows accumulate" : "scatter_rows overwrite", t,
                      (size_t)SRC_ROWS * LD_DST);
    }
    release_all();
}

// --- embedding -----------------------------------------------------------------------------------

static void test_embedding(void) {
    printf("embedding\n");
    enum { V = 1000, T = 3000, D = 260 };
    // 64 distinct tokens (about 47 repeats each) and the last row of the table.
    int *tokens = new_array(T, sizeof *tokens), repeats[V] = {0};
    for (int t = 0; t < T; t++) tokens[t] = t == T - 1 ? V - 1 : (int)(rng_next(&rng) % 64);
    for (int t = 0; t < T; t++) repeats[tokens[t]]++;
    Ints dtokens = both_ints(tokens, T);
    Floats table = both(random_floats(&rng, (size_t)V * D, 1), (size_t)V * D);
    Floats out = both_nan((size_t)T * D);
    cpu->embedding_forward(cpu, T, D, dtokens.cpu, table.cpu, out.cpu);
    gpu->embedding_forward(gpu, T, D, dtokens.gpu, table.gpu, out.gpu);
    compare_exact("embedding forward", out, (size_t)T * D);

    // Accumulated into a random table: a sum of repeats + 1 terms per element, in any order
    // within (repeats + 1) u of their magnitudes (the worst case, so 2^-22 leaves 2x for both).
    float *dout = random_floats(&rng, (size_t)T * D, 1), *dtable0 = random_floats(&rng, V * D, 1);
    Floats ddout = both(dout, (size_t)T * D), dtable = both(dtable0, (size_t)V * D);
    cpu->embedding_backward(cpu, T, D, dtokens.cpu, ddout.cpu, dtable.cpu);
    gpu->embedding_backward(gpu, T, D, dtokens.gpu, ddout.gpu, dtable.gpu);
    float *scale = new_array((size_t)V * D, sizeof *scale);
    for (int i = 0; i < V * D; i++) scale[i] = fabsf(dtable0[i]);
    for (int t = 0; t < T; t++)
        for (int c = 0; c < D; c++) scale[tokens[t] * D + c] += fabsf(dout[(size_t)t * D + c]);
    for (int v = 0; v < V; v++)
        for (int c = 0; c < D; c++) scale[v * D + c] *= (float)(repeats[v] + 1);
    compare("embedding backward (repeated tokens, accumulates)", dtable, (size_t)V * D, 0x1p-22,
            scale, 0);
    release_all();
}

// --- RMSNorm -------------------------------------------------------------------------------------

static void rmsnorm_case(int T, int d) {
    float eps = 1e-5f;
    // Rows of RMS 0.003 to 3: at the small end eps outweighs mean(x^2), so its place shows.
    float *x = random_floats(&rng, (size_t)T * d, 1), *w = random_floats(&rng, (size_t)d, 0.3f);
    for (int t = 0; t < T; t++)
        for (int i = 0; i < d; i++) x[(size_t)t * d + i] *= 3 * powf(10, -(float)(t % 4));
    for (int i = 0; i < d; i++) w[i] += 1;
    Floats x_in = both(x, (size_t)T * d), w_in = both(w, (size_t)d);
    Floats out = both_nan((size_t)T * d), rstd = both_nan((size_t)T);
    cpu->rmsnorm_forward(cpu, T, d, eps, x_in.cpu, w_in.cpu, out.cpu, rstd.cpu);
    gpu->rmsnorm_forward(gpu, T, d, eps, x_in.gpu, w_in.gpu, out.gpu, rstd.gpu);
    // rstd comes from a sum of d squares (no cancellation): sqrt(d) u relative at most in
    // practice, 4e-6 at d = 4096, plus rsqrt's 2 ulps; out is rstd times two exact factors.
    char what[96];
    snprintf(what, sizeof what, "rmsnorm forward [%d,%d]", T, d);
    compare(what, out, (size_t)T * d, 1e-5, NULL, 0);
    snprintf(what, sizeof what, "rmsnorm rstd [%d]", T);
    compare(what, rstd, (size_t)T, 1e-5, NULL, 0);

    // Backward into random dx, dw (both accumulate). dx_j = r w_j g_j - r^3 x_j sum(g w x) / d:
    // its scale is |dx0| + r |w_j g_j| + r^3 |x_j| sum |g w x| / d; r^3 triples r's error, so
    // 3e-5. dw_j = sum_t g_tj x_tj r_t: scale |dw0| + sum_t |g x r|.
    float *g = random_floats(&rng, (size_t)T * d, 1), *dx0 = random_floats(&rng, (size_t)T * d, 1);
    float *dw0 = random_floats(&rng, (size_t)d, 1), *r = download(cpu, rstd.cpu, (size_t)T);
    Floats dg = both(g, (size_t)T * d), dx = both(dx0, (size_t)T * d), dw = both(dw0, (size_t)d);
    Floats dx_alone = both(dx0, (size_t)T * d);
    cpu->rmsnorm_backward(cpu, T, d, dg.cpu, x_in.cpu, w_in.cpu, rstd.cpu, dx.cpu, dw.cpu);
    gpu->rmsnorm_backward(gpu, T, d, dg.gpu, x_in.gpu, w_in.gpu, rstd.gpu, dx.gpu, dw.gpu);
    cpu->rmsnorm_backward(cpu, T, d, dg.cpu, x_in.cpu, w_in.cpu, rstd.cpu, dx_alone.cpu, NULL);
    gpu->rmsnorm_backward(gpu, T, d, dg.gpu, x_in.gpu, w_in.gpu, rstd.gpu, dx_alone.gpu, NULL);
    float *dx_scale = new_array((size_t)T * d, sizeof *dx_scale);
    float *dw_scale = new_array((size_t)d, sizeof *dw_scale);
    for (int i = 0; i < d; i++) dw_scale[i] = fabsf(dw0[i]);
    for (int t = 0; t < T; t++) {
        const float *xt = x + (size_t)t * d, *gt = g + (size_t)t * d;
        double rt = r[t], sum = 0;
        for (int i = 0; i < d; i++) sum += fabs((double)gt[i] * w[i] * xt[i]);
        for (int i = 0; i < d; i++) {
            dx_scale[(size_t)t * d + i] =
                (float)(fabs(dx0[(size_t)t * d + i]) + rt * fabs((double)w[i] * gt[i]) +
                        rt * rt * rt * fabs(xt[i]) * sum / d);
            dw_scale[i] += (float)fabs(gt[i] * xt[i] * rt);
        }
    }
    snprintf(what, sizeof what, "rmsnorm backward dx [%d,%d]", T, d);
    compare(what, dx, (size_t)T * d, 3e-5, dx_scale, 0);
    snprintf(what, sizeof what, "rmsnorm backward dw [%d]", d);
    compare(what, dw, (size_t)d, 3e-5, dw_scale, 0);
    snprintf(what, sizeof what, "rmsnorm backward dx without dw [%d,%d]", T, d);
    compare(what, dx_alone, (size_t)T * d, 3e-5, dx_scale, 0);
}

static void test_rmsnorm(void) {
    printf("rmsnorm\n");
    rmsnorm_case(16, 4096);
    rmsnorm_case(37, 70); // d not a multiple of a warp
    release_all();
}

// --- rotary embedding ----------------------------------------------------------------------------

// Each output is a c - b s of a pair (a, b): scale |a| + |b|. The angle pos * inv_freq is
// rounded to fp32 (and inv_freq = theta^(-2i/hd) comes from a powf within a few ulps), so the
// two sides' angles may differ by a few ulps of pos: tolerance 2^-20 (1 + pos) of the scale.
static void rope_case(int H, int hd, float theta) {
    const int seq_len[3] = {300, 45, 128};
    int T, *pos = packed_positions(3, seq_len, &T), half = hd / 2;
    size_t n = (size_t)T * H * hd;
    Ints dpos = both_ints(pos, (size_t)T);
    float *scale = new_array(n, sizeof *scale);
    for (int backward = 0; backward < 2; backward++) {
        float *x = random_floats(&rng, n, 1);
        Floats dx = both(x, n);
        if (backward) {
            cpu->rope_backward(cpu, T, H, hd, theta, dpos.cpu, dx.cpu);
            gpu->rope_backward(gpu, T, H, hd, theta, dpos.gpu, dx.gpu);
        } else {
            cpu->rope_forward(cpu, T, H, hd, theta, dpos.cpu, dx.cpu);
            gpu->rope_forward(gpu, T, H, hd, theta, dpos.gpu, dx.gpu);
        }
        for (int t = 0; t < T; t++)
            for (int h = 0; h < H; h++)
                for (int i = 0; i < half; i++) {
                    size_t lo = ((size_t)t * H + h) * hd + i, hi = lo + half;
                    scale[lo] = scale[hi] = (fabsf(x[lo]) + fabsf(x[hi])) * (float)(1 + pos[t]);
                }
        char what[96];
        snprintf(what, sizeof what, "rope %s H %d hd %d theta %g",
                 backward ? "backward" : "forward", H, hd, theta);
        compare(what, dx, n, 0x1p-20, scale, 0);
    }
}

static void test_rope(void) {
    printf("rope\n");
    rope_case(4, 64, 10000);
    rope_case(8, 16, 500000);
    release_all();
}

// --- attention -----------------------------------------------------------------------------------

// The softmax of one query row q [hd] against n keys at k (rows stride floats apart), in double.
static void softmax_row(const float *q, const float *k, size_t stride, int n, int hd, double *p) {
    double max = -INFINITY, sum = 0;
    for (int j = 0; j < n; j++) {
        double dot = 0;
        for (int i = 0; i < hd; i++) dot += (double)q[i] * k[(size_t)j * stride + i];
        p[j] = dot / sqrt(hd);
        max = fmax(max, p[j]);
    }
    for (int j = 0; j < n; j++) sum += p[j] = exp(p[j] - max);
    for (int j = 0; j < n; j++) p[j] /= sum;
}

// out_scale [hd] = sum_j p_j |v_j|: what the rounding errors of an attention output row are
// relative to (a probability's relative error, from the score's rounding, times its term).
static void attention_out_scale(const double *p, const float *v, size_t stride, int n, int hd,
                                float *out_scale) {
    for (int i = 0; i < hd; i++) {
        double sum = 0;
        for (int j = 0; j < n; j++) sum += p[j] * fabs(v[(size_t)j * stride + i]);
        out_scale[i] = (float)sum;
    }
}

typedef struct {
    int T, Hq, Hkv, hd, max_len;
    const int *pos;
} AttentionShape;

// Scales of the backward's outputs over a packed batch. With dp_j = dout . v_j, the scores'
// gradient is ds_j = p_j (dp_j - sum_l p_l dp_l) / sqrt(hd); its terms are bounded by
// s_j = p_j (a_j + sum_l p_l a_l) / sqrt(hd), a_j = sum_i |dout_i v_ji|. Then
//   dq_t = sum_j ds_j k_j -> sum_j s_j |k_j|;   dk_u = sum_(t,h) ds_u q_t -> sum s_u |q_t|;
//   dv_u = sum_(t,h) p_u dout_t -> sum p_u |dout_t|.
static void attention_backward_scales(const AttentionShape *s, const float *q, const float *k,
                                      const float *v, const float *dout, float *dq_scale,
                                      float *dk_scale, float *dv_scale) {
    int group = s->Hq / s->Hkv, hd = s->hd;
    size_t q_stride = (size_t)s->Hq * hd, kv_stride = (size_t)s->Hkv * hd;
    size_t nkv = (size_t)s->T * kv_stride;
    double *p = new_array((size_t)s->max_len, sizeof *p), *a = new_array(s->max_len, sizeof *a);
    double *dk_sum = new_array(nkv, sizeof *dk_sum), *dv_sum = new_array(nkv, sizeof *dv_sum);
    for (int t = 0; t < s->T; t++)
        for (int h = 0; h < s->Hq; h++) {
            int n = s->pos[t] + 1, start = t - s->pos[t];
            size_t kv = (size_t)start * kv_stride + (size_t)(h / group) * hd;
            const float *qt = q + t * q_stride + (size_t)h * hd, *gt = dout + t * q_stride + h * hd;
            softmax_row(qt, k + kv, kv_stride, n, hd, p);
            double pa = 0;
            for (int j = 0; j < n; j++) {
                a[j] = 0;
                for (int i = 0; i < hd; i++)
                    a[j] += fabs((double)gt[i] * v[kv + (size_t)j * kv_stride + i]);
                pa += p[j] * a[j];
            }
            for (int i = 0; i < hd; i++) {
                double sum = 0;
                for (int j = 0; j < n; j++)
                    sum += p[j] * (a[j] + pa) / sqrt(hd) * fabs(k[kv + (size_t)j * kv_stride + i]);
                dq_scale[t * q_stride + (size_t)h * hd + i] = (float)sum;
            }
            for (int j = 0; j < n; j++) {
                double sj = p[j] * (a[j] + pa) / sqrt(hd);
                for (int i = 0; i < hd; i++) {
                    dk_sum[kv + (size_t)j * kv_stride + i] += sj * fabs(qt[i]);
                    dv_sum[kv + (size_t)j * kv_stride + i] += p[j] * fabs(gt[i]);
                }
            }
        }
    for (size_t i = 0; i < nkv; i++) {
        dk_scale[i] = (float)dk_sum[i];
        dv_scale[i] = (float)dv_sum[i];
    }
}

// A packed batch of four sequences (one a single token), grouped KV heads (4 query heads on 2),
// max_len above the longest sequence. Forward 3e-5 of the scale: a score's rounding over hd
// terms moves its probability by a few 1e-6 relative at most in practice. Backward 5e-5: the
// same, through one more product and sum.
static void attention_case(int hd) {
    const int seq_len[4] = {150, 37, 260, 1};
    int T, *pos = packed_positions(4, seq_len, &T), Hq = 4, Hkv = 2, max_len = 270;
    AttentionShape shape = {T, Hq, Hkv, hd, max_len, pos};
    size_t nq = (size_t)T * Hq * hd, nkv = (size_t)T * Hkv * hd, np = (size_t)T * Hq * max_len;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, nkv, 1),
          *v = random_floats(&rng, nkv, 1), *g = random_floats(&rng, nq, 1);
    Ints dpos = both_ints(pos, (size_t)T);
    Floats q_in = both(q, nq), k_in = both(k, nkv), v_in = both(v, nkv), dout = both(g, nq);
    Floats out = both_nan(nq), probs = both_nan(np);
    cpu->attention_forward(cpu, T, Hq, Hkv, hd, max_len, dpos.cpu, q_in.cpu, k_in.cpu, v_in.cpu,
                           out.cpu, probs.cpu);
    gpu->attention_forward(gpu, T, Hq, Hkv, hd, max_len, dpos.gpu, q_in.gpu, k_in.gpu, v_in.gpu,
                           out.gpu, probs.gpu);
    float *out_scale = new_array(nq, sizeof *out_scale);
    double *p = new_array((size_t)max_len, sizeof *p);
    size_t q_stride = (size_t)Hq * hd, kv_stride = (size_t)Hkv * hd;
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hq; h++) {
            size_t kv = (size_t)(t - pos[t]) * kv_stride + (size_t)(h / (Hq / Hkv)) * hd;
            softmax_row(q + t * q_stride + (size_t)h * hd, k + kv, kv_stride, pos[t] + 1, hd, p);
            attention_out_scale(p, v + kv, kv_stride, pos[t] + 1, hd,
                                out_scale + t * q_stride + (size_t)h * hd);
        }
    char what[96];
    snprintf(what, sizeof what, "attention forward hd %d, T %d", hd, T);
    compare(what, out, nq, 3e-5, out_scale, 0);
    // Probabilities past pos[t] are unused: only 0..pos[t] of each row is compared.
    float *got = download(gpu, probs.gpu, np), *want = download(cpu, probs.cpu, np);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < Hq; h++)
            for (int j = pos[t] + 1; j < max_len; j++)
                got[((size_t)t * Hq + h) * max_len + j] = want[((size_t)t * Hq + h) * max_len + j] =
                    0;
    snprintf(what, sizeof what, "attention probs hd %d", hd);
    compare_host(what, got, want, np, 3e-5, NULL, 1e-12);

    // Backward into NaN-filled gradients and scratch: all three are overwritten.
    Floats dq = both_nan(nq), dk = both_nan(nkv), dv = both_nan(nkv), dscores = both_nan(np);
    cpu->attention_backward(cpu, T, Hq, Hkv, hd, max_len, dpos.cpu, q_in.cpu, k_in.cpu, v_in.cpu,
                            probs.cpu, dout.cpu, dscores.cpu, dq.cpu, dk.cpu, dv.cpu);
    gpu->attention_backward(gpu, T, Hq, Hkv, hd, max_len, dpos.gpu, q_in.gpu, k_in.gpu, v_in.gpu,
                            probs.gpu, dout.gpu, dscores.gpu, dq.gpu, dk.gpu, dv.gpu);
    float *dq_scale = new_array(nq, sizeof *dq_scale), *dk_scale = new_array(nkv, sizeof(float));
    float *dv_scale = new_array(nkv, sizeof *dv_scale);
    attention_backward_scales(&shape, q, k, v, g, dq_scale, dk_scale, dv_scale);
    snprintf(what, sizeof what, "attention backward dq hd %d", hd);
    compare(what, dq, nq, 5e-5, dq_scale, 0);
    snprintf(what, sizeof what, "attention backward dk hd %d", hd);
    compare(what, dk, nkv, 5e-5, dk_scale, 0);
    snprintf(what, sizeof what, "attention backward dv hd %d", hd);
    compare(what, dv, nkv, 5e-5, dv_scale, 0);

    // The same backward again on the GPU, into fresh buffers: the same bits.
    Floats dq2 = both_nan(nq), dk2 = both_nan(nkv), dv2 = both_nan(nkv), ds2 = both_nan(np);
    gpu->attention_backward(gpu, T, Hq, Hkv, hd, max_len, dpos.gpu, q_in.gpu, k_in.gpu, v_in.gpu,
                            probs.gpu, dout.gpu, ds2.gpu, dq2.gpu, dk2.gpu, dv2.gpu);
    snprintf(what, sizeof what, "attention backward twice on the GPU, hd %d: dq", hd);
    check_identical(what, download(gpu, dq2.gpu, nq), download(gpu, dq.gpu, nq), nq);
    snprintf(what, sizeof what, "attention backward twice on the GPU, hd %d: dk", hd);
    check_identical(what, download(gpu, dk2.gpu, nkv), download(gpu, dk.gpu, nkv), nkv);
    snprintf(what, sizeof what, "attention backward twice on the GPU, hd %d: dv", hd);
    check_identical(what, download(gpu, dv2.gpu, nkv), download(gpu, dv.gpu, nkv), nkv);
}

// The KV cache: queries against cache rows slot * max_len + 0 .. pos. Rows no query may read
// hold garbage of size 100, which any stray read would show.
static void attention_cached_case(int hd, int T, const int *slot, const int *pos) {
    enum { SLOTS = 4, HQ = 4, HKV = 2, MAX_LEN = 270 };
    size_t q_stride = (size_t)HQ * hd, kv_stride = (size_t)HKV * hd, nq = (size_t)T * q_stride;
    size_t ncache = (size_t)SLOTS * MAX_LEN * kv_stride;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, ncache, 100),
          *v = random_floats(&rng, ncache, 100);
    for (int t = 0; t < T; t++) // the rows token t reads: unit scale
        for (int j = 0; j <= pos[t]; j++)
            for (size_t i = 0; i < kv_stride; i++) {
                size_t row = ((size_t)slot[t] * MAX_LEN + j) * kv_stride;
                k[row + i] = rng_normal(&rng);
                v[row + i] = rng_normal(&rng);
            }
    Ints dslot = both_ints(slot, (size_t)T), dpos = both_ints(pos, (size_t)T);
    Floats dq = both(q, nq), dk = both(k, ncache), dv = both(v, ncache), out = both_nan(nq);
    cpu->attention_cached(cpu, T, HQ, HKV, hd, MAX_LEN, dslot.cpu, dpos.cpu, dq.cpu, dk.cpu, dv.cpu,
                          out.cpu);
    gpu->attention_cached(gpu, T, HQ, HKV, hd, MAX_LEN, dslot.gpu, dpos.gpu, dq.gpu, dk.gpu, dv.gpu,
                          out.gpu);
    float *scale = new_array(nq, sizeof *scale);
    double *p = new_array(MAX_LEN, sizeof *p);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < HQ; h++) {
            size_t kv = (size_t)slot[t] * MAX_LEN * kv_stride + (size_t)(h / (HQ / HKV)) * hd;
            softmax_row(q + t * q_stride + (size_t)h * hd, k + kv, kv_stride, pos[t] + 1, hd, p);
            attention_out_scale(p, v + kv, kv_stride, pos[t] + 1, hd,
                                scale + t * q_stride + (size_t)h * hd);
        }
    char what[96];
    snprintf(what, sizeof what, "attention_cached hd %d, %d queries", hd, T);
    compare(what, out, nq, 3e-5, scale, 0);
}

static void test_attention(void) {
    printf("attention\n");
    attention_case(16);
    attention_case(64);
    release_all();
    // Prefill: three sequences in slots 2, 0, 3 of four, every token a query (slot 1 unused).
    const int seq_len[3] = {150, 37, 260}, seq_slot[3] = {2, 0, 3};
    int T, *pos = packed_positions(3, seq_len, &T), *slot = new_array((size_t)T, sizeof *slot);
    for (int s = 0, t = 0; s < 3; s++)
        for (int i = 0; i < seq_len[s]; i++) slot[t++] = seq_slot[s];
    attention_cached_case(64, T, slot, pos);
    attention_cached_case(16, T, slot, pos);
    // Decoding: one query per slot, at positions from the last row to the first.
    const int decode_slot[4] = {0, 1, 2, 3}, decode_pos[4] = {269, 0, 100, 31};
    attention_cached_case(64, 4, decode_slot, decode_pos);
    release_all();
}

// --- attention on the tensor cores ---------------------------------------------------------------

// With bf16 matrices the candidate's training attention multiplies bf16 operands (8
// significant bits, unit roundoff u = 2^-8) with fp32 accumulation; the reference stays fp32.
// The bounds below follow each rounding; 1e-4 and 3e-5 / 5e-5 cover their second-order terms
// and both sides' fp32 sums (the fp32 tolerances of attention_case).
//   scores: q and k rounded, each product q_i k_i off by <= (2u + u^2) |q_i k_i|, so row (t, h)'s
//     scores move by at most eps = (2u + 1e-4) max_j sum_i |q_i k_ji| / sqrt(hd);
//   probabilities: p'_j / p_j lies in [e^-2eps, e^2eps]: |dp_j| <= expm1(2 eps) p_j;
//   out = sum_j bf16(p'_j) bf16(v_j): <= (expm1(2 eps) + 2u e^2eps) sum_j p_j |v_j|.
// The backward gets the reference's probabilities, so it is bounded by its own roundings, in the
// scales of attention_backward_scales (s_j = p_j (a_j + sum_l p_l a_l) / sqrt(hd)):
//   dv = sum p dout, both rounded: 2u of sum p |dout|;
//   dp_j from bf16 dout and v: off by 2u a_j, so ds_j by 2u s_j; ds rounded (u) and k or q
//   rounded (u): dq and dk within 4u = 2^-6 of sum_j s_j |k_j| and sum s_u |q_t|.
// A wrong tile, window column or head errs by O(1) of these scales.
#define BF16_U 0x1p-8

// An array of n NaNs on one backend: an output that must be overwritten.
static float *nans(Backend *be, size_t n) {
    float *host = new_array(n, sizeof *host);
    for (size_t i = 0; i < n; i++) host[i] = NAN;
    return upload(be, host, n * sizeof *host);
}

// The forward's tolerance scale of each output element and probability (rtol 1 against them).
static void attention_bf16_forward_scales(const AttentionShape *s, const float *q, const float *k,
                                          const float *v, float *out_scale, float *probs_scale) {
    int group = s->Hq / s->Hkv, hd = s->hd;
    size_t q_stride = (size_t)s->Hq * hd, kv_stride = (size_t)s->Hkv * hd;
    double *p = new_array((size_t)s->max_len, sizeof *p);
    for (int t = 0; t < s->T; t++)
        for (int h = 0; h < s->Hq; h++) {
            int n = s->pos[t] + 1;
            size_t kv = (size_t)(t - s->pos[t]) * kv_stride + (size_t)(h / group) * hd;
            const float *qt = q + t * q_stride + (size_t)h * hd;
            double largest = 0;
            for (int j = 0; j < n; j++) {
                double sum = 0;
                for (int i = 0; i < hd; i++) sum += fabs((double)qt[i] * k[kv + j * kv_stride + i]);
                largest = fmax(largest, sum);
            }
            double eps = (2 * BF16_U + 1e-4) * largest / sqrt(hd), spread = expm1(2 * eps);
            double out_rtol = spread + 2 * BF16_U * exp(2 * eps) + 3e-5;
            softmax_row(qt, k + kv, kv_stride, n, hd, p);
            float *row = out_scale + t * q_stride + (size_t)h * hd;
            attention_out_scale(p, v + kv, kv_stride, n, hd, row);
            for (int i = 0; i < hd; i++) row[i] = (float)(out_rtol * row[i]);
            float *prow = probs_scale + ((size_t)t * s->Hq + h) * s->max_len;
            for (int j = 0; j < s->max_len; j++)
                prow[j] = j < n ? (float)((spread + 3e-5) * p[j]) : 0;
        }
}

// Forward and backward with bf16 operands against the fp32 reference, on a packed batch of
// n_seqs sequences, each twice on the candidate (the same bits).
static void attention_bf16_case(Backend *be, int n_seqs, const int *seq_len, int Hq, int Hkv,
                                int hd, int max_len) {
    int T, *pos = packed_positions(n_seqs, seq_len, &T);
    AttentionShape shape = {T, Hq, Hkv, hd, max_len, pos};
    size_t nq = (size_t)T * Hq * hd, nkv = (size_t)T * Hkv * hd, np = (size_t)T * Hq * max_len;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, nkv, 1),
          *v = random_floats(&rng, nkv, 1), *g = random_floats(&rng, nq, 1);
    char what[128], tag[64];
    snprintf(tag, sizeof tag, "T %d, %d on %d heads, hd %d, max_len %d", T, Hq, Hkv, hd, max_len);

    // Forward: the reference, then the candidate twice.
    int *cpos = upload(cpu, pos, (size_t)T * sizeof *pos), *bpos = upload(be, pos, T * sizeof *pos);
    float *cq = upload(cpu, q, nq * 4), *ck = upload(cpu, k, nkv * 4),
          *cv = upload(cpu, v, nkv * 4);
    float *bq = upload(be, q, nq * 4), *bk = upload(be, k, nkv * 4), *bv = upload(be, v, nkv * 4);
    float *cout = nans(cpu, nq), *cprobs = nans(cpu, np), *bout[2], *bprobs[2];
    cpu->attention_forward(cpu, T, Hq, Hkv, hd, max_len, cpos, cq, ck, cv, cout, cprobs);
    for (int run = 0; run < 2; run++) {
        bout[run] = nans(be, nq);
        bprobs[run] = nans(be, np);
        be->attention_forward(be, T, Hq, Hkv, hd, max_len, bpos, bq, bk, bv, bout[run],
                              bprobs[run]);
    }
    float *out_scale = new_array(nq, sizeof *out_scale), *probs_scale = new_array(np, 4);
    attention_bf16_forward_scales(&shape, q, k, v, out_scale, probs_scale);
    float *want_probs = download(cpu, cprobs, np), *got_probs = download(be, bprobs[0], np);
    snprintf(what, sizeof what, "bf16 attention forward, %s", tag);
    compare_host(what, download(be, bout[0], nq), download(cpu, cout, nq), nq, 1, out_scale, 0);
    // Probabilities past pos[t] are unused (NaN on both): only 0..pos[t] of each row counts.
    float *got_valid = new_array(np, sizeof *got_valid), *want_valid = new_array(np, 4);
    for (int t = 0; t < T; t++)
        for (size_t j = 0; j <= (size_t)pos[t]; j++)
            for (int h = 0; h < Hq; h++) {
                size_t at = ((size_t)t * Hq + h) * max_len + j;
                got_valid[at] = got_probs[at];
                want_valid[at] = want_probs[at];
            }
    snprintf(what, sizeof what, "bf16 attention probs, %s", tag);
    compare_host(what, got_valid, want_valid, np, 1, probs_scale, 1e-30);
    snprintf(what, sizeof what, "bf16 attention forward twice: out");
    check_identical(what, download(be, bout[1], nq), download(be, bout[0], nq), nq);
    snprintf(what, sizeof what, "bf16 attention forward twice: probs");
    check_identical(what, download(be, bprobs[1], np), got_probs, np);

    // Backward from the reference's probabilities, into NaN-filled outputs and scratch.
    float *cg = upload(cpu, g, nq * 4), *bg = upload(be, g, nq * 4);
    float *bp = upload(be, want_probs, np * 4);
    float *cdq = nans(cpu, nq), *cdk = nans(cpu, nkv), *cdv = nans(cpu, nkv);
    cpu->attention_backward(cpu, T, Hq, Hkv, hd, max_len, cpos, cq, ck, cv, cprobs, cg,
                            nans(cpu, np), cdq, cdk, cdv);
    float *bdq[2], *bdk[2], *bdv[2];
    for (int run = 0; run < 2; run++) {
        bdq[run] = nans(be, nq);
        bdk[run] = nans(be, nkv);
        bdv[run] = nans(be, nkv);
        be->attention_backward(be, T, Hq, Hkv, hd, max_len, bpos, bq, bk, bv, bp, bg, nans(be, np),
                               bdq[run], bdk[run], bdv[run]);
    }
    float *dq_scale = new_array(nq, sizeof *dq_scale), *dk_scale = new_array(nkv, 4),
          *dv_scale = new_array(nkv, 4);
    attention_backward_scales(&shape, q, k, v, g, dq_scale, dk_scale, dv_scale);
    double rtol_dqk = 4 * BF16_U + 1e-4 + 5e-5, rtol_dv = 2 * BF16_U + 1e-4 + 5e-5;
    snprintf(what, sizeof what, "bf16 attention backward dq, %s", tag);
    compare_host(what, download(be, bdq[0], nq), download(cpu, cdq, nq), nq, rtol_dqk, dq_scale, 0);
    snprintf(what, sizeof what, "bf16 attention backward dk");
    compare_host(what, download(be, bdk[0], nkv), download(cpu, cdk, nkv), nkv, rtol_dqk, dk_scale,
                 0);
    snprintf(what, sizeof what, "bf16 attention backward dv");
    compare_host(what, download(be, bdv[0], nkv), download(cpu, cdv, nkv), nkv, rtol_dv, dv_scale,
                 0);
    check_identical("bf16 attention backward twice: dq", download(be, bdq[1], nq),
                    download(be, bdq[0], nq), nq);
    check_identical("bf16 attention backward twice: dk", download(be, bdk[1], nkv),
                    download(be, bdk[0], nkv), nkv);
    check_identical("bf16 attention backward twice: dv", download(be, bdv[1], nkv),
                    download(be, bdv[0], nkv), nkv);
}

// Packed sequences of different lengths, crossing the 64-token tiles or not, over key windows
// of one to six tiles, with 1, 3 and 4 query heads per KV head.
static void test_attention_bf16(void) {
    printf("attention, bf16 operands (16-bit matrices)\n");
    char err[256];
    Backend *be = candidate_create(MATRIX_BF16, err, sizeof err);
    CHECK(be != NULL, "bf16 backend: %s", err);
    if (!be) return;
    const int mixed[6] = {150, 37, 260, 1, 64, 65}, short_seqs[3] = {40, 64, 30},
              single[5] = {1, 1, 1, 1, 1};
    attention_bf16_case(be, 6, mixed, 6, 2, 64, 270);
    attention_bf16_case(be, 3, short_seqs, 4, 1, 32, 64);
    attention_bf16_case(be, 5, single, 4, 4, 16, 1);
    release_all();
    be->destroy(be);
}

// --- SwiGLU --------------------------------------------------------------------------------------

static void test_swiglu(void) {
    printf("swiglu\n");
    int n = 1000005;
    float *gate = random_floats(&rng, (size_t)n, 3), *up = random_floats(&rng, (size_t)n, 1);
    float *dh = random_floats(&rng, (size_t)n, 1);
    gate[0] = 100;  // exp(-gate) underflows
    gate[1] = -100; // exp(-gate) overflows: silu is -0, not NaN
    gate[2] = 20;
    gate[3] = -20;
    Floats dgate_in = both(gate, n), dup_in = both(up, n), ddh = both(dh, n), h = both_nan(n);
    cpu->swiglu_forward(cpu, n, dgate_in.cpu, dup_in.cpu, h.cpu);
    gpu->swiglu_forward(gpu, n, dgate_in.gpu, dup_in.gpu, h.gpu);
    // A product of exact factors and silu (expf within 2 ulps, a division): 1e-5 relative
    // leaves room for fast intrinsics, not for a wrong formula.
    compare("swiglu forward", h, (size_t)n, 1e-5, NULL, 0);

    Floats dgate = both_nan(n), dup = both_nan(n);
    cpu->swiglu_backward(cpu, n, dgate_in.cpu, dup_in.cpu, ddh.cpu, dgate.cpu, dup.cpu);
    gpu->swiglu_backward(gpu, n, dgate_in.gpu, dup_in.gpu, ddh.gpu, dgate.gpu, dup.gpu);
    // dgate = dh up s (1 + g (1 - s)), s = sigmoid(g): 1 + g (1 - s) cancels near g = -1.28,
    // so the scale is |dh up| s (1 + |g| (1 - s)).
    float *scale = new_array((size_t)n, sizeof *scale);
    for (int i = 0; i < n; i++) {
        double s = 1 / (1 + exp(-(double)gate[i]));
        scale[i] = (float)(fabs((double)dh[i] * up[i]) * s * (1 + fabs(gate[i]) * (1 - s)));
    }
    compare("swiglu backward dgate", dgate, (size_t)n, 1e-5, scale, 0);
    compare("swiglu backward dup", dup, (size_t)n, 1e-5, NULL, 0);
    release_all();
}

// --- cross-entropy and KL divergence -------------------------------------------------------------

// log(sum(exp(row))) over V logits, in double.
static double log_sum_exp(const float *row, int V) {
    double max = -INFINITY, sum = 0;
    for (int i = 0; i < V; i++) max = fmax(max, row[i]);
    for (int i = 0; i < V; i++) sum += exp(row[i] - max);
    return max + log(sum);
}

// Over V = 50000 (a vocabulary, many blocks per row), with ignored rows (-1 and -100) and a row
// 100 above the rest, whose exp() would overflow without the max taken out. The loss
// max + log(sum) - logit cancels: atol 3e-5 for the sum over V in another order (relative
// 1e-5 of it at most in practice, which log turns absolute), plus 8u of |lse| + |logit|.
// dlogits = scale (p - onehot): 3e-5 of scale (p + onehot), a probability's relative error.
static void test_cross_entropy(void) {
    printf("cross_entropy\n");
    enum { T = 12, V = 50000 };
    const int targets[T] = {5, -1, 49999, 0, -100, 17, 123, 4000, -1, 7, 8, 9};
    float scale = 0.125f, *logits = random_floats(&rng, (size_t)T * V, 3);
    for (int i = 0; i < V; i++) logits[3 * V + i] += 100;
    Ints dtargets = both_ints(targets, T);
    Floats dlogits_in = both(logits, (size_t)T * V);
    float *loss_scale = new_array(T, sizeof *loss_scale);
    float *grad_scale = new_array((size_t)T * V, sizeof *grad_scale);
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue; // zero scale: exactly 0 loss and gradient
        const float *row = logits + (size_t)t * V;
        double lse = log_sum_exp(row, V);
        loss_scale[t] = (float)(fabs(lse) + fabs(row[targets[t]]));
        for (int i = 0; i < V; i++)
            grad_scale[(size_t)t * V + i] =
                (float)(scale * (exp(row[i] - lse) + (i == targets[t])));
    }
    for (int variant = 0; variant < 3; variant++) { // dlogits apart, NULL, in place
        Floats loss = both_nan(T), dlogits = both_nan((size_t)T * V);
        Floats in_place = both(logits, (size_t)T * V);
        const char *name = variant == 0 ? "" : variant == 1 ? " (dlogits NULL)" : " (in place)";
        if (variant == 2) dlogits = in_place;
        float *lc = variant == 2 ? in_place.cpu : dlogits_in.cpu;
        float *lg = variant == 2 ? in_place.gpu : dlogits_in.gpu;
        cpu->cross_entropy(cpu, T, V, lc, dtargets.cpu, scale, loss.cpu,
                           variant == 1 ? NULL : dlogits.cpu);
        gpu->cross_entropy(gpu, T, V, lg, dtargets.gpu, scale, loss.gpu,
                           variant == 1 ? NULL : dlogits.gpu);
        char what[96];
        snprintf(what, sizeof what, "cross_entropy loss%s", name);
        compare(what, loss, T, 0x1p-21, loss_scale, 3e-5);
        float *got = download(gpu, loss.gpu, T);
        for (int t = 0; t < T; t++)
            if (targets[t] < 0) CHECK(got[t] == 0, "ignored row %d has loss %g", t, got[t]);
        if (variant == 1) continue;
        snprintf(what, sizeof what, "cross_entropy dlogits%s", name);
        compare(what, dlogits, (size_t)T * V, 3e-5, grad_scale, 0);
    }
    release_all();
}

// Argmax has one right answer, so every index must equal the CPU's. Over V = 128257 (past Llama
// 3's vocabulary, odd): rows of integers in -500..499, each with many tied maxima; a row whose
// single maximum is its last entry and one whose is its first; a row of -inf, one of NaN, one
// with NaN first and -0 tied with +0 after it. Then 100 rows of 1000 (a decoding step's batch).
static void test_argmax_rows(void) {
    printf("argmax_rows\n");
    enum { N = 8, V = 128257, N_BATCH = 100, V_BATCH = 1000 };
    float *x = new_array((size_t)N * V, sizeof *x);
    for (size_t i = 0; i < (size_t)N * V; i++) x[i] = (float)(int)(rng_uniform(&rng) * 1000) - 500;
    float *row = x + 2 * (size_t)V;
    row[V - 1] = 1000;
    row += V;
    row[0] = 1000;
    row += V;
    for (int i = 0; i < V; i++) row[i] = -INFINITY;
    row += V;
    for (int i = 0; i < V; i++) row[i] = NAN;
    row += V;
    for (int i = 0; i < V; i++) row[i] = i == 0 ? NAN : i == 7 ? -0.0f : i == 9 ? 0.0f : -1;
    for (int pass = 0; pass < 2; pass++) {
        int n = pass ? N_BATCH : N, v = pass ? V_BATCH : V;
        float *logits = pass ? random_floats(&rng, (size_t)n * v, 5) : x;
        Floats dx = both(logits, (size_t)n * v);
        Ints out = {device_alloc(cpu, n * sizeof(int)), device_alloc(gpu, n * sizeof(int))};
        cpu->argmax_rows(cpu, n, v, dx.cpu, out.cpu);
        gpu->argmax_rows(gpu, n, v, dx.gpu, out.gpu);
        int *want = new_array(n, sizeof *want), *got = new_array(n, sizeof *got), same = 0;
        cpu->to_host(cpu, want, out.cpu, n * sizeof(int));
        gpu->to_host(gpu, got, out.gpu, n * sizeof(int));
        for (int r = 0; r < n; r++) same += got[r] == want[r];
        printf("  %d rows of %d: %d as on the CPU\n", n, v, same);
        CHECK(same == n, "argmax_rows over %d rows of %d: %d differ from the CPU's", n, v,
              n - same);
    }
    release_all();
}

// KL(softmax(ref) || softmax(logits)) over V = 50000, one row 100 above the rest in both, one
// whose reference is so peaked (a spike of 200) that most of p underflows fp32 while its logs
// do not. The loss sum_v p_v (log p_v - log q_v) is a difference of two log-sum-exps and a sum
// of V terms: atol 3e-5 (as cross_entropy), plus 8u of |lse_p| + |lse_q| + sum p (|log p| +
// |log q|). dlogits = scale (q - p): 3e-5 of scale (q + p).
static void test_kl_divergence(void) {
    printf("kl_divergence\n");
    enum { N = 5, V = 50000 };
    float scale = 0.3f, *ref = random_floats(&rng, (size_t)N * V, 2),
          *logits = random_floats(&rng, (size_t)N * V, 2);
    for (int i = 0; i < V; i++) {
        ref[1 * V + i] += 100;
        logits[1 * V + i] += 100;
    }
    ref[3 * V + 77] = 200;
    memcpy(logits + 4 * V, ref + 4 * V, V * sizeof *logits); // row 4: q == p, KL 0
    float *loss_scale = new_array(N, sizeof *loss_scale);
    float *grad_scale = new_array((size_t)N * V, sizeof *grad_scale);
    for (int r = 0; r < N; r++) {
        const float *pr = ref + (size_t)r * V, *qr = logits + (size_t)r * V;
        double lse_p = log_sum_exp(pr, V), lse_q = log_sum_exp(qr, V);
        double sum = fabs(lse_p) + fabs(lse_q);
        for (int i = 0; i < V; i++) {
            double log_p = pr[i] - lse_p, log_q = qr[i] - lse_q;
            sum += exp(log_p) * (fabs(log_p) + fabs(log_q));
            grad_scale[(size_t)r * V + i] = (float)(scale * (exp(log_p) + exp(log_q)));
        }
        loss_scale[r] = (float)sum;
    }
    Floats dref = both(ref, (size_t)N * V), dlogits_in = both(logits, (size_t)N * V);
    for (int variant = 0; variant < 3; variant++) { // dlogits apart, NULL, in place
        Floats loss = both_nan(N), dlogits = both_nan((size_t)N * V);
        Floats in_place = both(logits, (size_t)N * V);
        const char *name = variant == 0 ? "" : variant == 1 ? " (dlogits NULL)" : " (in place)";
        if (variant == 2) dlogits = in_place;
        float *lc = variant == 2 ? in_place.cpu : dlogits_in.cpu;
        float *lg = variant == 2 ? in_place.gpu : dlogits_in.gpu;
        cpu->kl_divergence(cpu, N, V, dref.cpu, lc, scale, loss.cpu,
                           variant == 1 ? NULL : dlogits.cpu);
        gpu->kl_divergence(gpu, N, V, dref.gpu, lg, scale, loss.gpu,
                           variant == 1 ? NULL : dlogits.gpu);
        char what[96];
        snprintf(what, sizeof what, "kl_divergence loss%s", name);
        compare(what, loss, N, 0x1p-21, loss_scale, 3e-5);
        if (variant == 1) continue;
        snprintf(what, sizeof what, "kl_divergence dlogits%s", name);
        compare(what, dlogits, (size_t)N * V, 3e-5, grad_scale, 0);
    }
    release_all();
}

// --- AdamW ---------------------------------------------------------------------------------------

// Five steps, each compared and then continued from each side's own state. A step is a handful
// of roundings (two powers, a sqrt, a division), and differences carry into later steps: 2^-19
// (32u) of |m|'s scale sum_k b1^(step-k) (1 - b1) |g_k|, carried from step to step (m keeps the
// rounding of earlier steps, which a cancellation in this step does not shrink; nvcc fuses the
// update into one fma, the CPU does not), of |v|, and of |p| + step * lr for params (each step
// moves a parameter by about lr at most).
static void test_adamw(void) {
    printf("adamw\n");
    enum { STEPS = 5 };
    int n = 1000003;
    float lr = 1e-2f, beta1 = 0.9f, beta2 = 0.999f, eps = 1e-8f, weight_decay = 0.1f;
    Floats params = both(random_floats(&rng, (size_t)n, 1), (size_t)n);
    Floats m = both(new_array((size_t)n, sizeof(float)), (size_t)n);
    Floats v = both(new_array((size_t)n, sizeof(float)), (size_t)n);
    float *m_scale = new_array((size_t)n, sizeof *m_scale);
    float *p_scale = new_array((size_t)n, sizeof *p_scale);
    for (int step = 1; step <= STEPS; step++) {
        float *g = random_floats(&rng, (size_t)n, 1);
        g[0] = 0;
        g[1] = 1e-7f; // sqrt(v) comparable with eps: eps must sit where it belongs
        g[2] = 1e3f;
        Floats grads = both(g, (size_t)n);
        cpu->adamw(cpu, (size_t)n, lr, beta1, beta2, eps, weight_decay, step, params.cpu, grads.cpu,
                   m.cpu, v.cpu);
        gpu->adamw(gpu, (size_t)n, lr, beta1, beta2, eps, weight_decay, step, params.gpu, grads.gpu,
                   m.gpu, v.gpu);
        float *p_new = download(cpu, params.cpu, (size_t)n);
        for (int i = 0; i < n; i++) {
            m_scale[i] = beta1 * m_scale[i] + (1 - beta1) * fabsf(g[i]);
            p_scale[i] = fabsf(p_new[i]) + step * lr;
        }
        char what[96];
        snprintf(what, sizeof what, "adamw step %d params", step);
        compare(what, params, (size_t)n, 0x1p-19, p_scale, 0);
        snprintf(what, sizeof what, "adamw step %d m", step);
        compare(what, m, (size_t)n, 0x1p-19, m_scale, 0);
        snprintf(what, sizeof what, "adamw step %d v", step);
        compare(what, v, (size_t)n, 0x1p-19, NULL, 0);
    }
    release_all();
}

// --- the discriminator's dense network -----------------------------------------------------------

static void test_bias_relu(void) {
    printf("bias, relu\n");
    enum { N = 5000, D = 300 };
    float *x = random_floats(&rng, (size_t)N * D, 1), *bias = random_floats(&rng, D, 1);
    Floats biased = both(x, (size_t)N * D), dbias_in = both(bias, D);
    cpu->bias_forward(cpu, N, D, dbias_in.cpu, biased.cpu);
    gpu->bias_forward(gpu, N, D, dbias_in.gpu, biased.gpu);
    compare_exact("bias_forward", biased, (size_t)N * D);

    // Column sums of N = 5000 rows into a random dbias: 1e-5 of |dbias0| + sum |dout|.
    float *dout = random_floats(&rng, (size_t)N * D, 1);
    Floats ddout = both(dout, (size_t)N * D), dbias = both(bias, D);
    cpu->bias_backward(cpu, N, D, ddout.cpu, dbias.cpu);
    gpu->bias_backward(gpu, N, D, ddout.gpu, dbias.gpu);
    float *scale = new_array(D, sizeof *scale);
    for (int c = 0; c < D; c++) scale[c] = fabsf(bias[c]);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) scale[c] += fabsf(dout[(size_t)i * D + c]);
    compare("bias_backward (accumulates column sums)", dbias, D, 1e-5, scale, 0);

    // ReLU: NaN passes through the forward; the backward gives 0 where out is NaN or <= 0.
    for (int i = 0; i < N * D; i += 997) x[i] = NAN;
    Floats dx_in = both(x, (size_t)N * D), out = both_nan((size_t)N * D);
    cpu->relu_forward(cpu, N * D, dx_in.cpu, out.cpu);
    gpu->relu_forward(gpu, N * D, dx_in.gpu, out.gpu);
    compare_exact("relu_forward (with NaN)", out, (size_t)N * D);
    cpu->relu_forward(cpu, N * D, dx_in.cpu, dx_in.cpu);
    gpu->relu_forward(gpu, N * D, dx_in.gpu, dx_in.gpu);
    compare_exact("relu_forward in place", dx_in, (size_t)N * D);
    Floats dx = both_nan((size_t)N * D);
    cpu->relu_backward(cpu, N * D, out.cpu, ddout.cpu, dx.cpu);
    gpu->relu_backward(gpu, N * D, out.gpu, ddout.gpu, dx.gpu);
    compare_exact("relu_backward", dx, (size_t)N * D);
    cpu->relu_backward(cpu, N * D, out.cpu, ddout.cpu, ddout.cpu);
    gpu->relu_backward(gpu, N * D, out.gpu, ddout.gpu, ddout.gpu);
    compare_exact("relu_backward in place", ddout, (size_t)N * D);
    release_all();
}

static void test_standardize(void) {
    printf("feature_stats, standardize\n");
    enum { N = 3000, D = 300 };
    float min_std = 1e-6f, *x = random_floats(&rng, (size_t)N * D, 1);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) {
            float *e = &x[(size_t)i * D + c];
            if (c == 0)
                *e = 3; // constant: centred, inv_std 1
            else if (c == 1)
                *e = i % 2 ? 1e-7f : 0; // std 5e-8, under min_std: constant too
            else if (c == 2)
                *e = 1e4f + 1e-2f * *e; // far from zero: the deviations must not cancel
            else
                *e = (float)c + expf((float)(c % 7) - 3) * *e;
        }
    Floats dx = both(x, (size_t)N * D), mean = both_nan(D), inv_std = both_nan(D);
    cpu->feature_stats(cpu, N, D, dx.cpu, min_std, mean.cpu, inv_std.cpu);
    gpu->feature_stats(gpu, N, D, dx.gpu, min_std, mean.gpu, inv_std.gpu);
    // The mean to 1e-6 of mean |x|; inv_std to 1e-5 relative, column 2 included: a std 1e-6
    // of the mean needs the deviations taken from an accurate mean, as the CPU does in double.
    float *mean_scale = new_array(D, sizeof *mean_scale);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++) mean_scale[c] += fabsf(x[(size_t)i * D + c]) / N;
    compare("feature_stats mean", mean, D, 1e-6, mean_scale, 0);
    compare("feature_stats inv_std (constant columns 1)", inv_std, D, 1e-5, NULL, 0);
    float *inv = download(gpu, inv_std.gpu, D);
    CHECK(inv[0] == 1 && inv[1] == 1, "constant columns have inv_std %g and %g, not 1", inv[0],
          inv[1]);

    // Forward with the reference's statistics on both, so that only the op differs: (x - mean)
    // inv_std within 4u of (|x| + |mean|) inv_std; the backward is one multiply: exact.
    Floats stats = both(download(cpu, mean.cpu, D), D),
           inv_ref = both(download(cpu, inv_std.cpu, D), D);
    float *mu = download(cpu, mean.cpu, D), *is = download(cpu, inv_std.cpu, D);
    float *scale = new_array((size_t)N * D, sizeof *scale);
    for (int i = 0; i < N; i++)
        for (int c = 0; c < D; c++)
            scale[(size_t)i * D + c] = (fabsf(x[(size_t)i * D + c]) + fabsf(mu[c])) * is[c];
    Floats out = both_nan((size_t)N * D);
    cpu->standardize_forward(cpu, N, D, dx.cpu, stats.cpu, inv_ref.cpu, out.cpu);
    gpu->standardize_forward(gpu, N, D, dx.gpu, stats.gpu, inv_ref.gpu, out.gpu);
    compare("standardize_forward", out, (size_t)N * D, 0x1p-22, scale, 0);
    cpu->standardize_forward(cpu, N, D, dx.cpu, stats.cpu, inv_ref.cpu, dx.cpu);
    gpu->standardize_forward(gpu, N, D, dx.gpu, stats.gpu, inv_ref.gpu, dx.gpu);
    compare("standardize_forward in place", dx, (size_t)N * D, 0x1p-22, scale, 0);
    Floats dout = both(random_floats(&rng, (size_t)N * D, 1), (size_t)N * D);
    Floats dstd = both_nan((size_t)N * D);
    cpu->standardize_backward(cpu, N, D, dout.cpu, inv_ref.cpu, dstd.cpu);
    gpu->standardize_backward(gpu, N, D, dout.gpu, inv_ref.gpu, dstd.gpu);
    compare_exact("standardize_backward", dstd, (size_t)N * D);
    cpu->standardize_backward(cpu, N, D, dout.cpu, inv_ref.cpu, dout.cpu);
    gpu->standardize_backward(gpu, N, D, dout.gpu, inv_ref.gpu, dout.gpu);
    compare_exact("standardize_backward in place", dout, (size_t)N * D);
    release_all();
}

// --- 16-bit frozen matrices ----------------------------------------------------------------------

// x rounded to nearest even to a float with `bits` significant bits, exponents down to min_exp
// (below, the ulp stays 2^(min_exp - bits + 1): subnormals) and largest finite value max (above
// it, infinity). Written from the definition in double arithmetic, not from bit tricks:
// bf16 is (8, -126, 0x1.fep127), fp16 (11, -14, 65504).
static float round_to(float x, int bits, int min_exp, double max) {
    if (isnan(x) || isinf(x) || x == 0) return x;
    int e;
    frexp(x, &e); // |x| in [2^(e-1), 2^e)
    int exp = e - 1 < min_exp ? min_exp : e - 1;
    double ulp = ldexp(1, exp - bits + 1);
    double r = rint(x / ulp) * ulp; // rint rounds half to even; the division is exact
    if (fabs(r) > max) return copysignf(INFINITY, x);
    return (float)r; // keeps the sign of a value that rounds to zero
}

static float round_matrix(MatrixType t, float x) {
    return t == MATRIX_BF16 ? round_to(x, 8, -126, 0x1.fep127) : round_to(x, 11, -14, 65504);
}

static const char *matrix_name(MatrixType t) {
    return t == MATRIX_F32 ? "fp32" : t == MATRIX_BF16 ? "bf16" : "fp16";
}

// matrix_to_device then matrix_to_host gives back exactly the rounding of the input: ties, both
// signs of zero, overflow to infinity, NaN, fp16's subnormals (real weights reach them), and
// random values over the whole exponent range of normal fp32 numbers.
static void matrix_round_trip(Backend *be, MatrixType t) {
    const float special[] = {0.0f,
                             -0.0f,
                             1.0f,
                             -1.0f,
                             1.0f + 0x1p-8f,     // bf16 tie: to 1
                             1.0f + 3 * 0x1p-8f, // bf16 tie: up
                             1.0f + 0x1p-11f,    // fp16 tie: to 1
                             1.0f + 3 * 0x1p-11f,
                             65504.0f,
                             65519.0f,
                             65520.0f, // fp16 tie at the top: to infinity
                             -65520.0f,
                             70000.0f,
                             1e6f,
                             FLT_MAX, // bf16: rounds up to infinity
                             -FLT_MAX,
                             INFINITY,
                             -INFINITY,
                             NAN,
                             6.1e-5f,  // just under fp16's smallest normal
                             0x1p-24f, // fp16's smallest subnormal
                             0x1p-25f, // tie: to 0
                             3 * 0x1p-25f,
                             1e-8f,
                             -1e-8f, // to -0 in fp16
                             FLT_MIN,
                             1e-30f};
    size_t n_special = sizeof special / sizeof *special, n = 100003;
    float *x = new_array(n, sizeof *x), *want = new_array(n, sizeof *want);
    memcpy(x, special, sizeof special);
    for (size_t i = n_special; i < n; i++) {
        if (i % 2) { // random bits, fp32 subnormals left out (no weight is one)
            uint32_t bits = (uint32_t)rng_next(&rng);
            if ((bits & 0x7f800000u) == 0) bits |= 0x00800000u;
            memcpy(&x[i], &bits, sizeof bits);
        } else { // weights of every scale from 1e-8 to 1e5
            x[i] = rng_normal(&rng) * powf(10, -8 + 13 * rng_uniform(&rng));
        }
    }
    for (size_t i = 0; i < n; i++) want[i] = round_matrix(t, x[i]);
    uint16_t *dev = device_alloc(be, n * sizeof *dev);
    float *got = new_array(n, sizeof *got);
    be->matrix_to_device(be, dev, x, n);
    be->matrix_to_host(be, got, dev, n);
    size_t bad = 0, first = 0;
    for (size_t i = 0; i < n; i++) {
        bool same = isnan(want[i]) ? isnan(got[i]) : memcmp(&got[i], &want[i], sizeof *got) == 0;
        if (!same && !bad++) first = i;
    }
    printf("  %-50s %zu of %zu differ\n", t == MATRIX_BF16 ? "bf16 round trip" : "fp16 round trip",
           bad, n);
    CHECK(bad == 0, "%s round trip: %zu values differ, first %.9g -> %.9g, expected %.9g",
          matrix_name(t), bad, x[first], got[first], want[first]);
}

// C = alpha A op(W) + beta C with W in 16 bits, against the reference's fp32 gemm on the
// rounded W (rounded here). The backend may round A to W's type as well: each product then
// errs by up to u16 = 2^-8 (bf16) or 2^-11 (fp16) relative, so the tolerance is u16 + 2^-18
// of |alpha| sum_k |a_k w_k| + |beta c|, accumulated over K in the worst case. a_scale sizes A:
// gradients of 1e-9 lie below fp16's smallest subnormal and activations of 1e6 above its
// largest value, so fp16 holds these to the same tolerance only if the product scales A.
static void gemm_matrix_case(Backend *be, MatrixType t, bool trans_w, float beta, float a_scale) {
    int M = 37, N = 200, K = 300, lda = K + 3, ldc = N + 5;
    int w_rows = trans_w ? N : K, w_cols = trans_w ? K : N, ldw = w_cols + 2;
    size_t na = (size_t)M * lda, nw = (size_t)w_rows * ldw, nc = (size_t)M * ldc;
    float *A = random_floats(&rng, na, a_scale), *W = random_floats(&rng, nw, 0.05f);
    float *C = random_floats(&rng, nc, a_scale), *W_rounded = new_array(nw, sizeof *W_rounded);
    for (size_t i = 0; i < nw; i++) W_rounded[i] = round_matrix(t, W[i]);
    float alpha = 0.5f;
    float *a_ref = upload(cpu, A, na * sizeof *A), *w_ref = upload(cpu, W_rounded, nw * sizeof *W);
    float *c_ref = upload(cpu, C, nc * sizeof *C);
    float *a = upload(be, A, na * sizeof *A), *c = upload(be, C, nc * sizeof *C);
    uint16_t *w = device_alloc(be, nw * sizeof *w);
    be->matrix_to_device(be, w, W, nw);
    cpu->gemm(cpu, false, trans_w, M, N, K, alpha, a_ref, lda, w_ref, ldw, beta, c_ref, ldc);
    be->gemm_matrix(be, trans_w, M, N, K, alpha, a, lda, w, ldw, beta, c, ldc);
    float *scale = new_array(nc, sizeof *scale); // padding: scale 0, untouched
    for (int i = 0; i < M; i++)
        for (int j = 0; j < N; j++) {
            double sum = 0;
            for (int k = 0; k < K; k++)
                sum += fabs(
                    (double)A[(size_t)i * lda + k] *
                    (trans_w ? W_rounded[(size_t)j * ldw + k] : W_rounded[(size_t)k * ldw + j]));
            scale[(size_t)i * ldc + j] =
                (float)(fabs(alpha) * sum + fabs((double)beta * C[(size_t)i * ldc + j]));
        }
    char what[96];
    snprintf(what, sizeof what, "gemm_matrix %s%s %dx%dx%d beta %g, A of std %g", matrix_name(t),
             trans_w ? " W^T" : "", M, N, K, beta, a_scale);
    double u16 = t == MATRIX_BF16 ? 0x1p-8 : 0x1p-11;
    compare_host(what, download(be, c, nc), download(cpu, c_ref, nc), nc, u16 + 0x1p-18, scale, 0);
}

static void test_matrices(void) {
    printf("16-bit matrices\n");
    // The host rounding itself, on values whose rounding is known.
    CHECK(round_matrix(MATRIX_F16, 65519.0f) == 65504.0f && isinf(round_matrix(MATRIX_F16, 65520)),
          "host fp16 rounding at the top of the range");
    CHECK(round_matrix(MATRIX_F16, 1 + 0x1p-11f) == 1 &&
              round_matrix(MATRIX_F16, 1 + 3 * 0x1p-11f) == 1 + 0x1p-9f,
          "host fp16 rounding of ties");
    CHECK(round_matrix(MATRIX_F16, 0x1p-25f) == 0 &&
              round_matrix(MATRIX_F16, 3 * 0x1p-25f) == 0x1p-23f,
          "host fp16 rounding of subnormal ties");
    CHECK(round_matrix(MATRIX_BF16, 1 + 0x1p-8f) == 1 &&
              round_matrix(MATRIX_BF16, 1 + 3 * 0x1p-8f) == 1 + 0x1p-6f &&
              isinf(round_matrix(MATRIX_BF16, FLT_MAX)),
          "host bf16 rounding of ties and overflow");
    for (MatrixType t = MATRIX_BF16; t <= MATRIX_F16; t++) {
        char err[256];
        Backend *be = candidate_create(t, err, sizeof err);
        CHECK(be != NULL, "%s backend: %s", matrix_name(t), err);
        if (!be) continue;
        CHECK(be->matrix_type == t, "the %s backend says its matrices are %s", matrix_name(t),
              matrix_name(be->matrix_type));
        matrix_round_trip(be, t);
        for (int variant = 0; variant < 4; variant++)
            gemm_matrix_case(be, t, variant & 1, variant & 2 ? 1.0f : 0.0f, 1);
        gemm_matrix_case(be, t, false, 1, 1e-9f); // gradients
        gemm_matrix_case(be, t, true, 0, 1e6f);   // activations
        release_all();
        be->destroy(be);
    }
}

// --- the KV cache in bf16 -----------------------------------------------------------------------

// A CUDA backend with 16-bit matrices keeps its KV cache in bf16. kv_store_bf16 rounds every
// cache row, and attention_cached_bf16 then matches the reference's attention_cached over the
// same rows rounded on the host (the same values, exactly) within attention_cached's own
// tolerance; every row of the cache is stored, the unread ones with garbage of size 100.
static void test_kv_cache_bf16(void) {
    printf("KV cache in bf16\n");
    CHECK(!gpu->kv_store_bf16 && !gpu->attention_cached_bf16,
          "the CUDA backend with fp32 matrices keeps a bf16 KV cache");
    char err[256];
    Backend *be = candidate_create(MATRIX_BF16, err, sizeof err);
    CHECK(be && be->kv_store_bf16 && be->attention_cached_bf16,
          "the CUDA backend with bf16 matrices has no bf16 KV cache (%s)", be ? "" : err);
    if (!be || !be->kv_store_bf16 || !be->attention_cached_bf16) return;
    enum { SLOTS = 3, HQ = 4, HKV = 2, HD = 64, MAX_LEN = 100 };
    const int slot[5] = {0, 2, 1, 2, 0}, pos[5] = {99, 0, 41, 7, 12};
    int T = 5, rows = SLOTS * MAX_LEN;
    size_t q_stride = (size_t)HQ * HD, kv_stride = (size_t)HKV * HD, nq = (size_t)T * q_stride;
    size_t ncache = (size_t)rows * kv_stride;
    float *q = random_floats(&rng, nq, 1), *k = random_floats(&rng, ncache, 100),
          *v = random_floats(&rng, ncache, 100);
    for (int t = 0; t < T; t++) // the rows token t reads: unit scale
        for (int j = 0; j <= pos[t]; j++)
            for (size_t i = 0; i < kv_stride; i++) {
                size_t row = ((size_t)slot[t] * MAX_LEN + j) * kv_stride;
                k[row + i] = rng_normal(&rng);
                v[row + i] = rng_normal(&rng);
            }
    // Source row r goes to cache row rows - 1 - r.
    int *cache_row = new_array((size_t)rows, sizeof *cache_row);
    float *k_src = new_array(ncache, sizeof *k_src), *v_src = new_array(ncache, sizeof *v_src);
    for (int r = 0; r < rows; r++) {
        cache_row[r] = rows - 1 - r;
        memcpy(k_src + r * kv_stride, k + cache_row[r] * kv_stride, kv_stride * sizeof(float));
        memcpy(v_src + r * kv_stride, v + cache_row[r] * kv_stride, kv_stride * sizeof(float));
    }
    float *k_rounded = new_array(ncache, sizeof *k_rounded);
    float *v_rounded = new_array(ncache, sizeof *v_rounded);
    for (size_t i = 0; i < ncache; i++) {
        k_rounded[i] = round_matrix(MATRIX_BF16, k[i]);
        v_rounded[i] = round_matrix(MATRIX_BF16, v[i]);
    }
    uint16_t *k16 = device_alloc(be, ncache * sizeof(uint16_t));
    uint16_t *v16 = device_alloc(be, ncache * sizeof(uint16_t));
    be->kv_store_bf16(be, rows, (int)kv_stride, upload(be, cache_row, (size_t)rows * sizeof(int)),
                      upload(be, k_src, ncache * sizeof(float)), k16);
    be->kv_store_bf16(be, rows, (int)kv_stride, upload(be, cache_row, (size_t)rows * sizeof(int)),
                      upload(be, v_src, ncache * sizeof(float)), v16);
    uint16_t *stored = new_array(ncache, sizeof *stored);
    be->to_host(be, stored, k16, ncache * sizeof *stored);
    size_t wrong = 0;
    for (size_t i = 0; i < ncache; i++) { // bf16 is the top half of an fp32
        uint32_t bits = (uint32_t)stored[i] << 16;
        float widened;
        memcpy(&widened, &bits, sizeof widened);
        wrong += widened != k_rounded[i];
    }
    CHECK(wrong == 0, "kv_store_bf16: %zu stored keys are not the host's bf16 rounding", wrong);

    float *out = device_alloc(be, nq * sizeof(float));
    be->attention_cached_bf16(be, T, HQ, HKV, HD, MAX_LEN, upload(be, slot, sizeof slot),
                              upload(be, pos, sizeof pos), upload(be, q, nq * sizeof(float)), k16,
                              v16, out);
    float *out_ref = device_alloc(cpu, nq * sizeof(float));
    cpu->attention_cached(cpu, T, HQ, HKV, HD, MAX_LEN, upload(cpu, slot, sizeof slot),
                          upload(cpu, pos, sizeof pos), upload(cpu, q, nq * sizeof(float)),
                          upload(cpu, k_rounded, ncache * sizeof(float)),
                          upload(cpu, v_rounded, ncache * sizeof(float)), out_ref);
    float *scale = new_array(nq, sizeof *scale);
    double *p = new_array(MAX_LEN, sizeof *p);
    for (int t = 0; t < T; t++)
        for (int h = 0; h < HQ; h++) {
            size_t kv = (size_t)slot[t] * MAX_LEN * kv_stride + (size_t)(h / (HQ / HKV)) * HD;
            softmax_row(q + t * q_stride + (size_t)h * HD, k_rounded + kv, kv_stride, pos[t] + 1,
                        HD, p);
            attention_out_scale(p, v_rounded + kv, kv_stride, pos[t] + 1, HD,
                                scale + t * q_stride + (size_t)h * HD);
        }
    compare_host("attention_cached_bf16 against fp32 on the rounded cache", download(be, out, nq),
                 download(cpu, out_ref, nq), nq, 3e-5, scale, 0);
    release_all();
    be->destroy(be);
}

// --- the whole model -----------------------------------------------------------------------------

// dim 64, 4 query heads on 2 KV heads of 16 dims, 4 layers, ffn 172 (a multiple of no tile),
// vocab 300, an untied LM head (a 16-bit matrix when the others are), q/k/v biases (Qwen2's;
// without them the same code runs minus the bias adds).
static LlamaConfig model_config(void) {
    LlamaConfig cfg = test_model_config((TestModelShape){
        .vocab_size = 300, .dim = 64, .ffn_dim = 172, .n_layers = 4, .max_seq_len = 128});
    cfg.qkv_bias = true;
    return cfg;
}

// One side of the comparison: a model, its adapter and workspace on one backend.
typedef struct {
    Backend *be;
    LlamaModel m;
    Lora *lora;
} Side;

static LlamaWorkspace *workspace(Side *s, const WorkspacePlan *plan) {
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(&s->m, plan, err, sizeof err);
    if (!ws) {
        fprintf(stderr, "%s workspace: %s\n", s->be->name, err);
        exit(1);
    }
    return ws;
}

static void forward(Side *s, LlamaWorkspace *ws, const TokenBatch *batch) {
    if (llama_forward(&s->m, ws, batch) != 0) {
        fprintf(stderr, "%s forward: %s\n", s->be->name, llama_workspace_error(ws));
        exit(1);
    }
}

// Downloads a weight matrix, fp32 or 16-bit (widened exactly).
static float *download_matrix(Backend *be, const float *f32, const uint16_t *f16, size_t n) {
    if (f32) return download(be, f32, n);
    float *host = new_array(n, sizeof *host);
    be->matrix_to_host(be, host, f16, n);
    return host;
}

// Within rtol of the tensor's largest reference magnitude (the scale of every element).
static void compare_tensor(const char *what, const float *got, const float *want, size_t n,
                           double rtol) {
    float *scale = new_array(n, sizeof *scale), largest = max_abs(want, n);
    for (size_t i = 0; i < n; i++) scale[i] = largest;
    compare_host(what, got, want, n, rtol, scale, 0);
}

// The forward's outputs and the LoRA gradients of one model, built on both backends from the
// same seeds, each within rtol of the tensor's largest value (2 rtol for gradients, one more
// pass). fp32: 1e-4; on the CPU, perturbing every product's input by 4u moved them by at most
// 1.3e-6 of it. 16-bit: the candidate may round the activations before each of the 8 products
// per block, 2^-8 (bf16) relative each, compounded over 4 blocks and the backward; emulating
// exactly that rounding on the CPU moved them by at most 1.2e-2 of it: bf16 5e-2, and fp16
// (2^-11) 2^-3 of that. With bf16 matrices the attention's operands are bf16 too (see
// test_attention_bf16): 1.6e-2 under the emulator, within the same 5e-2.
static void test_model(MatrixType t) {
    printf("model, %s matrices\n", matrix_name(t));
    double rtol = t == MATRIX_F32 ? 1e-4 : t == MATRIX_BF16 ? 5e-2 : 6e-3;
    char err[256];
    Side sides[2] = {{.be = backend_cpu_create(2)}, {.be = candidate_create(t, err, sizeof err)}};
    CHECK(sides[0].be && sides[1].be, "%s backends: %s", matrix_name(t),
          sides[1].be ? "out of memory" : err);
    if (!sides[0].be || !sides[1].be) {
        for (int i = 0; i < 2; i++)
            if (sides[i].be) sides[i].be->destroy(sides[i].be);
        return;
    }
    sides[0].be->matrix_type = t; // the reference keeps 16-bit matrices too, widened per product
    LlamaConfig cfg = model_config();
    int V = cfg.vocab_size, d = cfg.dim;
    for (int i = 0; i < 2; i++) {
        Side *s = &sides[i];
        test_model_init(&s->m, &cfg, s->be, t, 0.1f, 17);
    }

    // The same seed gives the same weights on both: fp32 tensors bit for bit, 16-bit matrices
    // as the same rounding.
    bool same = true;
    LlamaWeights *w0 = &sides[0].m.w, *w1 = &sides[1].m.w;
    size_t table = (size_t)V * d;
    Backend *ref = sides[0].be, *cand = sides[1].be;
    same &= !memcmp(download(ref, w0->embed, table), download(cand, w1->embed, table),
                    table * sizeof(float));
    same &=
        !memcmp(download_matrix(ref, w0->lm_head, w0->lm_head16, table),
                download_matrix(cand, w1->lm_head, w1->lm_head16, table), table * sizeof(float));
    for (int l = 0; l < cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(&cfg, (Projection)p, &out, &in);
            size_t n = (size_t)out * in;
            LlamaBlockWeights *b0 = &w0->blocks[l], *b1 = &w1->blocks[l];
            same &=
                !memcmp(download_matrix(ref, b0->proj[p], b0->proj16[p], n),
                        download_matrix(cand, b1->proj[p], b1->proj16[p], n), n * sizeof(float));
        }
    CHECK(same, "%s: llama_weights_init_random gives different weights on the two backends",
          matrix_name(t));
    release_arrays();

    // A packed batch of three sequences; hidden states 1, 2, 3 and the final norm's output of
    // every token, and the logits.
    int lens[3] = {37, 64, 11}, T = 112;
    int *tokens = new_array((size_t)T, sizeof *tokens), *targets = new_array(T, sizeof *targets);
    for (int i = 0; i < T; i++) tokens[i] = (int)(rng_next(&rng) % (uint64_t)V);
    for (int s = 0, i = 0; s < 3; s++) // next-token targets, ignored at each sequence's end
        for (int j = 0; j < lens[s]; j++, i++) targets[i] = j + 1 < lens[s] ? tokens[i + 1] : -100;
    TokenBatch batch = {3, lens, tokens};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 3,
                          .max_seq_len = 64,
                          .outputs = {.n_capture = 4,
                                      .layers = {1, 2, 3, -1},
                                      .capture_at = CAPTURE_ALL_TOKENS,
                                      .logits = true}};
    float *captured[2], *logits[2];
    size_t n_captured = (size_t)T * 4 * d, n_logits = (size_t)T * V;
    for (int i = 0; i < 2; i++) {
        LlamaWorkspace *ws = workspace(&sides[i], &plan);
        forward(&sides[i], ws, &batch);
        captured[i] = download(sides[i].be, llama_captured(ws), n_captured);
        logits[i] = download(sides[i].be, llama_logits(ws), n_logits);
        llama_workspace_free(ws);
    }
    for (int c = 0; c < 4; c++) { // captured [T, 4, d]: layer c of every token
        float *layer[2];
        for (int i = 0; i < 2; i++) {
            layer[i] = new_array((size_t)T * d, sizeof(float));
            for (int tok = 0; tok < T; tok++)
                memcpy(layer[i] + (size_t)tok * d, captured[i] + ((size_t)tok * 4 + c) * d,
                       d * sizeof(float));
        }
        char what[96];
        snprintf(what, sizeof what, "%s hidden state %d", matrix_name(t), plan.outputs.layers[c]);
        compare_tensor(what, layer[1], layer[0], (size_t)T * d, rtol);
    }
    char what[96];
    snprintf(what, sizeof what, "%s logits", matrix_name(t));
    compare_tensor(what, logits[1], logits[0], n_logits, rtol);

    // A LoRA on every projection of blocks 1 and 3, from the same seed, with random B so that
    // it changes the forward and A's gradients are not zero.
    bool layer_on[4] = {false, true, false, true};
    for (int i = 0; i < 2; i++) {
        Side *s = &sides[i];
        s->lora = lora_create(&cfg, s->be, (1u << PROJ_COUNT) - 1, layer_on, 4, 8.0f);
        CHECK(s->lora && lora_init(s->lora, &cfg, s->be, 23) == 0, "%s: lora", s->be->name);
        if (!s->lora) exit(1);
        s->m.lora = s->lora;
    }
    Lora *lora = sides[0].lora;
    for (int l = 0; l < cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, l, (Projection)p)) continue;
            int out, in;
            projection_shape(&cfg, (Projection)p, &out, &in);
            float *B = random_floats(&rng, (size_t)out * lora->rank, 0.05f);
            for (int i = 0; i < 2; i++)
                sides[i].be->to_device(sides[i].be, lora_B(sides[i].lora, &cfg, l, (Projection)p),
                                       B, (size_t)out * lora->rank * sizeof *B);
        }
    CHECK(!memcmp(download(ref, lora->params, lora->n_params),
                  download(cand, sides[1].lora->params, lora->n_params),
                  lora->n_params * sizeof(float)),
          "lora_init gives different adapters on the two backends");

    // Backward from a fixed gradient of the last tokens' hidden states 2 and -1 and from the
    // next-token loss; on the candidate twice, which must give the same bits.
    plan.outputs = (LlamaOutputs){
        .n_capture = 2, .layers = {2, -1}, .capture_at = CAPTURE_LAST_TOKEN, .logits = true};
    plan.backward = BACKWARD_LORA;
    size_t n_grad_in = (size_t)3 * 2 * d;
    float *grad_in = random_floats(&rng, n_grad_in, 1), *grads[3];
    BackwardSources src = {.from_captured = true, .targets = targets};
    double loss[3];
    for (int run = 0; run < 3; run++) {
        Side *s = &sides[run ? 1 : 0];
        LlamaWorkspace *ws = workspace(s, &plan);
        forward(s, ws, &batch);
        s->be->to_device(s->be, llama_captured_grad(ws), grad_in, n_grad_in * sizeof *grad_in);
        s->be->zero(s->be, s->lora->grads, s->lora->n_params * sizeof(float));
        CHECK(llama_backward(&s->m, ws, &src, &loss[run]) == 0, "%s backward: %s", s->be->name,
              llama_workspace_error(ws));
        grads[run] = download(s->be, s->lora->grads, s->lora->n_params);
        llama_workspace_free(ws);
    }
    printf("  %-50s %.9g vs %.9g\n", "next-token loss", loss[1], loss[0]);
    CHECK(fabs(loss[1] - loss[0]) <= rtol * fabs(loss[0]), "%s loss %.9g, the reference %.9g",
          matrix_name(t), loss[1], loss[0]);
    for (int l = 0; l < cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            float *A = lora_A(lora, l, (Projection)p);
            if (!A) continue;
            int out, in;
            projection_shape(&cfg, (Projection)p, &out, &in);
            size_t a = (size_t)(A - lora->params), na = (size_t)lora->rank * in;
            size_t b = (size_t)(lora_B(lora, &cfg, l, (Projection)p) - lora->params);
            snprintf(what, sizeof what, "%s LoRA grad layer %d %s A", matrix_name(t), l,
                     projection_name((Projection)p));
            compare_tensor(what, grads[1] + a, grads[0] + a, na, 2 * rtol);
            snprintf(what, sizeof what, "%s LoRA grad layer %d %s B", matrix_name(t), l,
                     projection_name((Projection)p));
            compare_tensor(what, grads[1] + b, grads[0] + b, (size_t)out * lora->rank, 2 * rtol);
        }
    snprintf(what, sizeof what, "%s LoRA backward twice on the GPU", matrix_name(t));
    check_identical(what, grads[2], grads[1], lora->n_params);
    CHECK(loss[2] == loss[1], "two GPU losses differ: %.9g, %.9g", loss[1], loss[2]);

    for (int i = 0; i < 2; i++) {
        sides[i].m.lora = NULL;
        lora_free(sides[i].lora, sides[i].be);
        llama_free(&sides[i].m);
    }
    release_all();
    for (int i = 0; i < 2; i++) sides[i].be->destroy(sides[i].be);
}

// Greedy answers of one model with 16-bit matrices on two CUDA backends, one keeping its KV
// cache in bf16 (the default), one in fp32 (its bf16 ops removed): equal, but where the fp32
// run's two best tokens at the first difference were a near tie that rounding every key and
// value to 2^-9 may flip. The logits of that step come from a full forward (no cache) of the
// prompt and the answer so far; a near tie is a gap under 2^-6 of the row's logit range, eight
// times the rounding, for its growth through the blocks.
static void test_generation_kv_bf16(void) {
    printf("greedy generation, bf16 KV cache against fp32\n");
    enum { N = 8, NEW = 24 };
    char err[256];
    Backend *bes[2] = {candidate_create(MATRIX_BF16, err, sizeof err),
                       candidate_create(MATRIX_BF16, err, sizeof err)};
    CHECK(bes[0] && bes[1], "bf16 backends: %s", err);
    if (!bes[0] || !bes[1]) return;
    bes[1]->kv_store_bf16 = NULL;
    bes[1]->attention_cached_bf16 = NULL;
    LlamaConfig cfg = model_config();
    int V = cfg.vocab_size, lens[N], total = 0, longest = 0;
    for (int i = 0; i < N; i++) {
        lens[i] = 5 + (int)(rng_next(&rng) % 16);
        total += lens[i];
        longest = lens[i] > longest ? lens[i] : longest;
    }
    int *tokens = new_array((size_t)total, sizeof *tokens);
    for (int t = 0; t < total; t++) tokens[t] = (int)(rng_next(&rng) % (uint64_t)V);
    TokenBatch prompts = {N, lens, tokens};
    WorkspacePlan plan = {.max_tokens = total,
                          .max_seqs = N,
                          .max_seq_len = longest + NEW,
                          .outputs = {.logits = true},
                          .kv_slots = N};
    GenerateOptions greedy = {.max_new_tokens = NEW, .temperature = 0, .top_p = 1};
    Side sides[2];
    int *answers[2];
    size_t cache_bytes[2];
    for (int i = 0; i < 2; i++) {
        Side *s = &sides[i];
        *s = (Side){.be = bes[i]};
        test_model_init(&s->m, &cfg, s->be, MATRIX_BF16, 0.1f, 29);
        LlamaWorkspace *ws = workspace(s, &plan);
        int out_len[N];
        answers[i] = new_array((size_t)N * NEW, sizeof(int));
        CHECK(llama_generate(&s->m, ws, &prompts, &greedy, answers[i], out_len) == 0,
              "generation: %s", llama_workspace_error(ws));
        cache_bytes[i] = llama_workspace_bytes(ws);
        llama_workspace_free(ws);
    }
    CHECK(cache_bytes[0] < cache_bytes[1],
          "the bf16 KV cache's workspace (%zu bytes) is not "
          "smaller than the fp32 one's (%zu)",
          cache_bytes[0], cache_bytes[1]);
    int differing = 0, untied = 0, first = 0;
    double widest = 0; // the largest gap / range at a difference
    for (int s = 0; s < N; first += lens[s], s++) {
        const int *a = answers[0] + s * NEW, *b = answers[1] + s * NEW;
        int p = 0;
        while (p < NEW && a[p] == b[p]) p++;
        if (p == NEW) continue;
        differing++;
        int len = lens[s] + p, *seq = new_array((size_t)len, sizeof *seq);
        memcpy(seq, tokens + first, lens[s] * sizeof(int));
        memcpy(seq + lens[s], b, p * sizeof(int));
        TokenBatch one = {1, &len, seq};
        WorkspacePlan full = {
            .max_tokens = len, .max_seqs = 1, .max_seq_len = len, .outputs = {.logits = true}};
        LlamaWorkspace *ws = workspace(&sides[1], &full);
        forward(&sides[1], ws, &one);
        float *row = download(bes[1], llama_logits(ws) + (size_t)(len - 1) * V, V);
        llama_workspace_free(ws);
        float lo = row[0], hi = row[0];
        for (int j = 1; j < V; j++) {
            lo = row[j] < lo ? row[j] : lo;
            hi = row[j] > hi ? row[j] : hi;
        }
        double gap = fabs((double)row[a[p]] - row[b[p]]) / (hi - lo);
        widest = gap > widest ? gap : widest;
        untied += gap > 0x1p-6;
    }
    printf("  %d of %d answers differ; widest gap at a difference %.3g of the logit range\n",
           differing, N, widest);
    CHECK(untied == 0, "%d answers differ from the fp32 cache's where no near tie was", untied);
    for (int i = 0; i < 2; i++) {
        llama_free(&sides[i].m);
        bes[i]->destroy(bes[i]);
    }
    release_all();
}

// --- the GPU path: 16-bit activations, fused products, one upload per step
// ------------------------

// Whether two device buffers hold the same bytes.
static bool same_bytes(Backend *be, const void *a, const void *b, size_t bytes) {
    unsigned char *x = new_array(bytes, 1), *y = new_array(bytes, 1);
    be->to_host(be, x, a, bytes);
    be->to_host(be, y, b, bytes);
    return memcmp(x, y, bytes) == 0;
}

// The old path of gemm_matrix_parts: one gemm_matrix per part, each rounding A itself.
static void separate_products(Backend *be, int M, int K, const float *A, const uint16_t *A16,
                              const uint16_t *W, int n_parts, const int *N, float *const *C,
                              float beta) {
    (void)A16;
    for (int p = 0; p < n_parts; p++) {
        be->gemm_matrix(be, true, M, N[p], K, 1.0f, A, K, W, K, beta, C[p], N[p]);
        W += (size_t)N[p] * K;
    }
}

// rmsnorm_forward16 and swiglu_forward16 on the bf16 backend: the fp32 outputs are the plain
// ops' bits, and the 16-bit copy is exactly the host's bf16 rounding of them (the rounding the
// products did before, so a product reading it is the same product). Where activations16 is
// unset (fp16, fp32 matrices, the CPU) the 16-bit copy is left alone.
static void test_rounded_activations(void) {
    printf("16-bit activations written by RMSNorm and SwiGLU\n");
    CHECK(!cpu->activations16 && !gpu->activations16,
          "activations16 is set on the CPU or the fp32 CUDA backend");
    char err[256];
    for (MatrixType t = MATRIX_BF16; t <= MATRIX_F16; t++) {
        Backend *be = candidate_create(t, err, sizeof err);
        CHECK(be != NULL, "%s backend: %s", matrix_name(t), err);
        if (!be) continue;
        CHECK(be->activations16 == (t == MATRIX_BF16), "%s backend: activations16 is %d",
              matrix_name(t), be->activations16);
        int T = 37, d = 300, n = T * d;
        float *x = random_floats(&rng, (size_t)n, 3), *w = random_floats(&rng, (size_t)d, 1);
        float *up = random_floats(&rng, (size_t)n, 2);
        uint16_t *sentinel = new_array((size_t)n, sizeof *sentinel);
        for (int i = 0; i < n; i++) sentinel[i] = 0xabcd;
        float *dx = upload(be, x, n * sizeof *x), *dw = upload(be, w, d * sizeof *w);
        float *dup = upload(be, up, n * sizeof *up);
        float *out[2] = {device_alloc(be, n * sizeof(float)), device_alloc(be, n * sizeof(float))};
        float *rstd[2] = {device_alloc(be, T * sizeof(float)), device_alloc(be, T * sizeof(float))};
        uint16_t *out16 = upload(be, sentinel, n * sizeof *sentinel);
        uint16_t *host16 = new_array((size_t)n, sizeof *host16);

        be->rmsnorm_forward(be, T, d, 1e-5f, dx, dw, out[0], rstd[0]);
        be->rmsnorm_forward16(be, T, d, 1e-5f, dx, dw, out[1], out16, rstd[1]);
        CHECK(same_bytes(be, out[0], out[1], n * sizeof(float)) &&
                  same_bytes(be, rstd[0], rstd[1], T * sizeof(float)),
              "%s rmsnorm_forward16's fp32 output differs from rmsnorm_forward's", matrix_name(t));
        float *normed = download(be, out[0], (size_t)n);
        be->to_host(be, host16, out16, n * sizeof *host16);
        size_t wrong = 0;
        for (int i = 0; i < n; i++)
            wrong += host16[i] != (t == MATRIX_BF16 ? f32_to_bf16(normed[i]) : 0xabcd);
        printf("  %-50s %zu of %d wrong\n",
               t == MATRIX_BF16 ? "rmsnorm bf16 copy" : "rmsnorm fp16: copy untouched", wrong, n);
        CHECK(wrong == 0, "%s rmsnorm_forward16: %zu values of the 16-bit copy wrong",
              matrix_name(t), wrong);

        be->to_device(be, out16, sentinel, n * sizeof *sentinel);
        be->swiglu_forward(be, n, dx, dup, out[0]);
        be->swiglu_forward16(be, n, dx, dup, out[1], out16);
        CHECK(same_bytes(be, out[0], out[1], n * sizeof(float)),
              "%s swiglu_forward16's fp32 output differs from swiglu_forward's", matrix_name(t));
        float *h = download(be, out[0], (size_t)n);
        be->to_host(be, host16, out16, n * sizeof *host16);
        wrong = 0;
        for (int i = 0; i < n; i++)
            wrong += host16[i] != (t == MATRIX_BF16 ? f32_to_bf16(h[i]) : 0xabcd);
        printf("  %-50s %zu of %d wrong\n",
               t == MATRIX_BF16 ? "swiglu bf16 copy" : "swiglu fp16: copy untouched", wrong, n);
        CHECK(wrong == 0, "%s swiglu_forward16: %zu values of the 16-bit copy wrong",
              matrix_name(t), wrong);
        release_all();
        be->destroy(be);
    }
}

// gemm_matrix_parts against one gemm_matrix per part, bit for bit (the same roundings and the
// same sums in the same order, fused or not): q|k|v of a grouped-query shape and gate|up, at
// row counts the CUDA backend fuses (<= 128) and runs separately, overwriting and accumulating,
// with the activation's 16-bit copy given (bf16: read instead of rounding) and not.
static void fused_case(Backend *be, int M, int K, int n_parts, const int *N, float beta,
                       bool with16) {
    int total = 0;
    for (int p = 0; p < n_parts; p++) total += N[p];
    float *A = random_floats(&rng, (size_t)M * K, 2),
          *W = random_floats(&rng, (size_t)total * K, 0.1f);
    uint16_t *A16 = new_array((size_t)M * K, sizeof *A16);
    for (size_t i = 0; i < (size_t)M * K; i++) A16[i] = f32_to_bf16(A[i]);
    float *a = upload(be, A, (size_t)M * K * sizeof *A);
    uint16_t *a16 = upload(be, A16, (size_t)M * K * sizeof *A16);
    uint16_t *w = device_alloc(be, (size_t)total * K * sizeof *w);
    be->matrix_to_device(be, w, W, (size_t)total * K);
    float *fused[MATRIX_PARTS], *separate[MATRIX_PARTS];
    for (int p = 0; p < n_parts; p++) {
        float *C = random_floats(&rng, (size_t)M * N[p], 1);
        fused[p] = upload(be, C, (size_t)M * N[p] * sizeof *C);
        separate[p] = upload(be, C, (size_t)M * N[p] * sizeof *C);
    }
    be->gemm_matrix_parts(be, M, K, a, with16 ? a16 : NULL, w, n_parts, N, fused, beta);
    separate_products(be, M, K, a, NULL, w, n_parts, N, separate, beta);
    bool same = true;
    for (int p = 0; p < n_parts; p++)
        same &= same_bytes(be, fused[p], separate[p], (size_t)M * N[p] * sizeof(float));
    char what[96];
    snprintf(what, sizeof what, "%s %d parts %dx%dx%d beta %g%s", matrix_name(be->matrix_type),
             n_parts, M, total, K, beta, with16 ? ", A16" : "");
    printf("  %-50s %s\n", what, same ? "bit-identical" : "DIFFER");
    CHECK(same, "gemm_matrix_parts %s differs from separate gemm_matrix calls", what);
}

static void test_fused_products(void) {
    printf("fused products of frozen matrices (gemm_matrix_parts)\n");
    const int qkv[3] = {64, 32, 32}, gate_up[2] = {172, 172};
    char err[256];
    for (MatrixType t = MATRIX_BF16; t <= MATRIX_F16; t++) {
        Backend *be = candidate_create(t, err, sizeof err);
        CHECK(be != NULL, "%s backend: %s", matrix_name(t), err);
        if (!be) continue;
        const int rows[4] = {1, 128, 129, 200};
        for (int r = 0; r < 4; r++) {
            fused_case(be, rows[r], 64, 3, qkv, 0, r % 2);
            fused_case(be, rows[r], 64, 2, gate_up, r < 2 ? 1 : 0, r < 2);
        }
        fused_case(be, 7, 172, 1, (const int[]){64}, 1, false); // down_proj: one part, += C
        release_all();
        be->destroy(be);
    }
}

// One LlamaModel on a backend: bf16 weights from seed 31 and a LoRA on q, v, gate and down of
// blocks 1 and 2 with random B, as test_model's.
static void gpu_path_side(Side *s, Backend *be, const LlamaConfig *cfg) {
    *s = (Side){.be = be, .m = {.cfg = *cfg, .be = be}};
    if (llama_weights_alloc(&s->m.w, cfg, be, MATRIX_BF16) != 0) {
        fprintf(stderr, "out of memory for the model\n");
        exit(1);
    }
    llama_weights_init_random(&s->m.w, cfg, be, 0.1f, 31);
    bool layer_on[4] = {false, true, true, false};
    unsigned targets = 1u << PROJ_Q | 1u << PROJ_V | 1u << PROJ_GATE | 1u << PROJ_DOWN;
    s->lora = lora_create(cfg, be, targets, layer_on, 4, 8.0f);
    CHECK(s->lora && lora_init(s->lora, cfg, be, 37) == 0, "lora");
    if (!s->lora) exit(1);
    Rng b_rng;
    rng_seed(&b_rng, 41);
    float *B = random_floats(&b_rng, s->lora->n_params, 0.05f);
    be->to_device(be, s->lora->params, B, s->lora->n_params * sizeof *B); // A and B random
    s->m.lora = s->lora;
}

// Counting wrappers of the candidate's transfers: a decoding step makes one upload and one
// download (the greedy tokens), whatever its batch.
static int uploads, downloads, replays;
static void (*real_to_device)(Backend *, void *, const void *, size_t);
static void (*real_to_host)(Backend *, void *, const void *, size_t);
static bool (*real_run_recording)(Backend *, void *);
static void counted_to_device(Backend *be, void *dst, const void *src, size_t bytes) {
    uploads++;
    real_to_device(be, dst, src, bytes);
}
static void counted_to_host(Backend *be, void *dst, const void *src, size_t bytes) {
    downloads++;
    real_to_host(be, dst, src, bytes);
}
static bool counted_run_recording(Backend *be, void *recording) {
    bool ran = real_run_recording(be, recording);
    replays += ran;
    return ran;
}

// Greedy generation on s, its transfers and replays counted in uploads, downloads, replays.
static void generate_counted(Side *s, LlamaWorkspace *ws, const TokenBatch *prompts,
                             const GenerateOptions *opt, int *answers) {
    int out_len[MAX_DEVICE_ARRAYS];
    assert(prompts->n_seqs <= MAX_DEVICE_ARRAYS);
    real_to_device = s->be->to_device;
    real_to_host = s->be->to_host;
    real_run_recording = s->be->run_recording;
    s->be->to_device = counted_to_device;
    s->be->to_host = counted_to_host;
    s->be->run_recording = counted_run_recording;
    uploads = downloads = replays = 0;
    CHECK(llama_generate(&s->m, ws, prompts, opt, answers, out_len) == 0, "generation: %s",
          llama_workspace_error(ws));
    s->be->to_device = real_to_device;
    s->be->to_host = real_to_host;
    s->be->run_recording = real_run_recording;
}

// The whole model, bf16 with a LoRA, on the new path (the 16-bit copies written by the norms
// and SwiGLU, q|k|v and gate|up as one product each, fused for decoding steps, decoding steps
// replayed from a CUDA graph) and on the old one (each product rounding its own input, one
// gemm_matrix per projection, op by op) on two CUDA backends: the same bits in the forward's
// logits (142 tokens: products run per part, reading the copies), in the LoRA gradients, in
// greedy answers and in the last decoding step's logits (8 rows: fused, replayed); one upload
// and one download per decoding step; every step from the third on a replay (the first of a
// shape runs op by op, the second is recorded); and no replay of a recording whose scratch the
// backend has since reallocated.
static void test_gpu_path_model(void) {
    printf("model, bf16: the GPU path against the per-product one\n");
    enum { N = 8, NEW = 12 };
    char err[256];
    Backend *bes[2] = {candidate_create(MATRIX_BF16, err, sizeof err),
                       candidate_create(MATRIX_BF16, err, sizeof err)};
    CHECK(bes[0] && bes[1], "bf16 backends: %s", err);
    if (!bes[0] || !bes[1]) return;
    bes[1]->activations16 = false;
    bes[1]->gemm_matrix_parts = separate_products;
    bes[1]->begin_recording = NULL;
    LlamaConfig cfg = model_config();
    int V = cfg.vocab_size;
    Side sides[2];
    for (int i = 0; i < 2; i++) gpu_path_side(&sides[i], bes[i], &cfg);

    int lens[4] = {37, 64, 11, 30}, T = 142;
    int *tokens = new_array((size_t)T, sizeof *tokens), *targets = new_array(T, sizeof *targets);
    for (int i = 0; i < T; i++) tokens[i] = (int)(rng_next(&rng) % (uint64_t)V);
    for (int i = 0; i < T; i++) targets[i] = i + 1 < T ? tokens[i + 1] : -100;
    TokenBatch batch = {4, lens, tokens};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 4,
                          .max_seq_len = 64,
                          .outputs = {.logits = true},
                          .backward = BACKWARD_LORA};
    float *logits[2], *grads[2];
    double loss[2];
    BackwardSources src = {.targets = targets};
    for (int i = 0; i < 2; i++) {
        Side *s = &sides[i];
        LlamaWorkspace *ws = workspace(s, &plan);
        forward(s, ws, &batch);
        logits[i] = download(s->be, llama_logits(ws), (size_t)T * V);
        s->be->zero(s->be, s->lora->grads, s->lora->n_params * sizeof(float));
        CHECK(llama_backward(&s->m, ws, &src, &loss[i]) == 0, "backward: %s",
              llama_workspace_error(ws));
        grads[i] = download(s->be, s->lora->grads, s->lora->n_params);
        llama_workspace_free(ws);
    }
    check_identical("bf16 logits, forward of 142 tokens", logits[0], logits[1], (size_t)T * V);
    check_identical("bf16 LoRA gradients", grads[0], grads[1], sides[0].lora->n_params);

    int plens[N], total = 0, longest = 0;
    for (int i = 0; i < N; i++) {
        plens[i] = 3 + (int)(rng_next(&rng) % 12);
        total += plens[i];
        longest = plens[i] > longest ? plens[i] : longest;
    }
    TokenBatch prompts = {N, plens, tokens}; // total <= 8 * 14 = 112 tokens <= T
    WorkspacePlan gen = {.max_tokens = total,
                         .max_seqs = N,
                         .max_seq_len = longest + NEW,
                         .outputs = {.logits = true},
                         .kv_slots = N};
    GenerateOptions greedy = {.max_new_tokens = NEW, .temperature = 0, .top_p = 1};
    int *answers[2];
    for (int i = 0; i < 2; i++) {
        Side *s = &sides[i];
        LlamaWorkspace *ws = workspace(s, &gen);
        answers[i] = new_array((size_t)N * NEW, sizeof(int));
        generate_counted(s, ws, &prompts, &greedy, answers[i]);
        printf("  %-50s %d uploads, %d downloads, %d replays for %d steps\n",
               i ? "per-product path, op by op" : "GPU path", uploads, downloads, replays, NEW);
        CHECK(uploads == NEW && downloads == NEW,
              "generation of %d tokens made %d uploads and %d downloads, not one each per step",
              NEW, uploads, downloads);
        CHECK(replays == (i ? 0 : NEW - 2), "%d of %d decoding steps replayed a recording", replays,
              NEW);
        logits[i] = download(s->be, llama_logits(ws), (size_t)N * V); // the last step's rows
        if (i == 0) {
            // Scratch reallocated under the recording (a larger workspace's reservation): the
            // next generation must record again, not replay freed memory. Its first decoding
            // step would replay a stale recording (NEW - 1 replays); recorded again at its
            // second, NEW - 2 replay.
            s->be->reserve_matrix_scratch(s->be, 4 * gen.max_tokens, 4 * cfg.ffn_dim,
                                          4 * cfg.ffn_dim);
            int *again = new_array((size_t)N * NEW, sizeof(int));
            generate_counted(s, ws, &prompts, &greedy, again);
            printf("  %-50s %d replays for %d steps\n", "GPU path, scratch reallocated", replays,
                   NEW);
            CHECK(replays == NEW - 2 && !memcmp(again, answers[0], (size_t)N * NEW * sizeof(int)),
                  "after the scratch moved: %d replays of %d steps, answers %s", replays, NEW,
                  memcmp(again, answers[0], (size_t)N * NEW * sizeof(int)) ? "differ" : "equal");
        }
        llama_workspace_free(ws);
    }
    CHECK(!memcmp(answers[0], answers[1], (size_t)N * NEW * sizeof(int)),
          "greedy answers differ between the GPU path and the per-product one");
    check_identical("bf16 logits, last decoding step of 8 rows", logits[0], logits[1],
                    (size_t)N * V);
    for (int i = 0; i < 2; i++) {
        sides[i].m.lora = NULL;
        lora_free(sides[i].lora, bes[i]);
        llama_free(&sides[i].m);
        bes[i]->destroy(bes[i]);
    }
    release_all();
}

int main(void) {
    int devices = device_count();
    if (devices == 0) {
#ifdef ARE_HAVE_CUDA
        SKIP("no CUDA device on this machine");
#else
        SKIP("built without CUDA");
#endif
        return check_summary();
    }
    char err[256];
    cpu = backend_cpu_create(2);
    gpu = candidate_create(MATRIX_F32, err, sizeof err);
    CHECK(cpu != NULL, "backend_cpu_create failed");
    CHECK(gpu != NULL, "backend_cuda_create: %s", err);
    if (!cpu || !gpu) return check_summary();
    printf("reference %s, candidate %s\n", cpu->name, gpu->name);
    rng_seed(&rng, 1);
    test_memory();
    test_gemm();
    test_axpy_add();
    test_rows();
    test_embedding();
    test_rmsnorm();
    test_rope();
    test_attention();
    test_attention_bf16();
    test_swiglu();
    test_cross_entropy();
    test_argmax_rows();
    test_kl_divergence();
    test_adamw();
    test_bias_relu();
    test_standardize();
    test_matrices();
    test_kv_cache_bf16();
    for (MatrixType t = MATRIX_F32; t <= MATRIX_F16; t++) test_model(t);
    test_generation_kv_bf16();
    test_rounded_activations();
    test_fused_products();
    test_gpu_path_model();
    gpu->destroy(gpu);
    cpu->destroy(cpu);
    return check_summary();
}
