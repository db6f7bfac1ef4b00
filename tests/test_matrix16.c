// Frozen base matrices in 16 bits (bf16, fp16) on the CPU backend:
//   - matrix_to_device rounds to nearest even, as a rounding worked out here another way
//     (pick the nearer of the two neighbouring 16-bit values, the even one on a tie) says;
//     fp16 overflow, subnormals and NaN included; matrix_to_host widens exactly;
//   - gemm_matrix, both orientations and with W split into several panels, equals an fp32 gemm
//     with the rounded W;
//   - a model whose matrices are 16-bit gives the captured states, logits and LoRA gradients of
//     an fp32 model holding the same rounded weights;
//   - a full backward (which trains the base weights) is refused on such a model.
#include "backend_cpu.h"
#include "check.h"
#include "lora.h"
#include "test_arrays.h"
#include "test_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Rng rng;

// --- rounding, worked out independently -------------------------------------------------------

// The 16-bit value nearest to x among all finite values of the format and infinity, ties to
// the even encoding: candidates are enumerated by widening every encoding of the same sign.
typedef float (*Widen)(uint16_t);

static float widen_bf16(uint16_t h) {
    uint32_t bits = (uint32_t)h << 16;
    float x;
    memcpy(&x, &bits, sizeof x);
    return x;
}

static float widen_f16(uint16_t h) {
    int exponent = h >> 10 & 0x1f, mantissa = h & 0x3ff;
    double magnitude = exponent == 0    ? ldexp(mantissa, -24)
                       : exponent == 31 ? (mantissa ? NAN : INFINITY)
                                        : ldexp(1024 + mantissa, exponent - 25);
    return (float)(h & 0x8000 ? -magnitude : magnitude);
}

// Binary search over the encodings of x's sign, ordered by magnitude (both formats order
// their positive encodings by value). Returns the encoding.
static uint16_t nearest(float x, Widen widen, uint16_t inf_bits) {
    uint16_t sign = signbit(x) ? 0x8000 : 0;
    double target = fabs((double)x);
    uint16_t lo = 0, hi = inf_bits; // widen(lo) <= target <= widen(hi) holds from here on
    if (target >= widen(hi)) return sign | hi;
    while (hi - lo > 1) {
        uint16_t mid = (uint16_t)((lo + hi) / 2);
        if (widen(mid) <= target)
            lo = mid;
        else
            hi = mid;
    }
    // Infinity stands where the next value would be if the exponent went on (IEEE rounds
    // overflow that way): the largest finite value plus its ulp.
    double hi_value =
        hi == inf_bits ? 2.0 * widen((uint16_t)(hi - 1)) - widen((uint16_t)(hi - 2)) : widen(hi);
    double below = target - widen(lo), above = hi_value - target;
    uint16_t pick = below < above ? lo : above < below ? hi : (lo % 2 == 0 ? lo : hi);
    return sign | pick;
}

static void check_rounding(Backend *be, MatrixType type, const float *x, int n) {
    be->matrix_type = type;
    Widen widen = type == MATRIX_BF16 ? widen_bf16 : widen_f16;
    uint16_t inf_bits = type == MATRIX_BF16 ? 0x7f80 : 0x7c00;
    uint16_t *stored = be->alloc(be, (size_t)n * sizeof *stored);
    float *back = new_array((size_t)n, sizeof *back);
    be->matrix_to_device(be, stored, x, (size_t)n);
    be->matrix_to_host(be, back, stored, (size_t)n);
    int wrong = 0, first = -1;
    for (int i = 0; i < n; i++) {
        bool ok = isnan(x[i]) ? isnan(back[i])
                              : back[i] == widen(nearest(x[i], widen, inf_bits)) &&
                                    signbit(back[i]) == signbit(x[i]);
        if (!ok && wrong++ == 0) first = i;
    }
    CHECK(wrong == 0, "%s: %d of %d values rounded otherwise, first %.9g -> %.9g",
          type == MATRIX_BF16 ? "bf16" : "fp16", wrong, n, first >= 0 ? x[first] : 0,
          first >= 0 ? back[first] : 0);
    be->free(be, stored);
    free(back);
}

static void test_rounding(Backend *be) {
    enum { N = 20000 };
    float *x = new_array(N, sizeof *x);
    int k = 0;
    // Ties of both formats (1 + half an ulp rounds down to even, 1 + 3 half-ulps up), the
    // largest half and the midpoint above it (65520 rounds to infinity), subnormal halves,
    // zeros of both signs, infinities and NaN.
    const float special[] = {1.0f + 0x1p-8f,
                             1.0f + 3 * 0x1p-8f,
                             1.0f + 0x1p-11f,
                             1.0f + 3 * 0x1p-11f,
                             65504.0f,
                             65519.0f,
                             65520.0f,
                             1e6f,
                             0x1p-24f,
                             0x1p-25f,
                             3 * 0x1p-26f,
                             0x1p-15f,
                             0.0f,
                             -0.0f,
                             INFINITY,
                             -INFINITY,
                             NAN,
                             3.0e38f,
                             -1.17549435e-38f};
    for (size_t i = 0; i < sizeof special / sizeof special[0]; i++) x[k++] = special[i];
    while (k < N) { // values across many binades, both signs
        float v = rng_normal(&rng) * ldexpf(1.0f, (int)(rng_next(&rng) % 40) - 28);
        x[k++] = v;
    }
    check_rounding(be, MATRIX_BF16, x, N);
    check_rounding(be, MATRIX_F16, x, N);
    be->matrix_type = MATRIX_F32;
    free(x);
}

// --- gemm_matrix ------------------------------------------------------------------------------

// max |a - b| / (1 + |b|): relative for large values, absolute for the O(1) and smaller ones,
// whose fp32 rounding follows the size of the terms summed, not of the sum.
static double max_rel_diff(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]) / (1.0 + fabs((double)b[i]));
        if (!(d <= worst)) worst = d; // NaN sticks
    }
    return worst;
}

// C [M,N] = 0.5 A W^T (or A W) + 1.5 C with W large enough that the CPU widens it in two
// panels, against cpu gemm on the widened W. K-split panels reorder sums: tolerance 1e-5.
static void test_gemm_matrix(Backend *be, MatrixType type, bool trans_w) {
    enum { M = 5, N = 700, K = 1600, LDA = K + 3, LDC = N + 2 };
    be->matrix_type = type;
    size_t w_n = (size_t)N * K;
    float *a = random_floats(&rng, (size_t)M * LDA, 1.0f);
    float *w = random_floats(&rng, w_n, 0.05f);
    float *c = random_floats(&rng, (size_t)M * LDC, 1.0f);
    float *got = be->alloc(be, (size_t)M * LDC * sizeof(float));
    float *want = be->alloc(be, (size_t)M * LDC * sizeof(float));
    float *wide = be->alloc(be, w_n * sizeof(float));
    uint16_t *w16 = be->alloc(be, w_n * sizeof(uint16_t));
    be->matrix_to_device(be, w16, w, w_n);
    be->matrix_to_host(be, wide, w16, w_n);
    memcpy(got, c, (size_t)M * LDC * sizeof(float));
    memcpy(want, c, (size_t)M * LDC * sizeof(float));
    // trans_w: W [N,K]; else W [K,N] (the same numbers read as the other shape)
    be->gemm_matrix(be, trans_w, M, N, K, 0.5f, a, LDA, w16, trans_w ? K : N, 1.5f, got, LDC);
    be->gemm(be, false, trans_w, M, N, K, 0.5f, a, LDA, wide, trans_w ? K : N, 1.5f, want, LDC);
    double d = max_rel_diff(got, want, (size_t)M * LDC);
    CHECK(d < 1e-5, "gemm_matrix %s trans_w %d: rel diff %.3g",
          type == MATRIX_BF16 ? "bf16" : "fp16", trans_w, d);
    printf("gemm_matrix %s trans_w=%d: max rel diff %.2g\n", type == MATRIX_BF16 ? "bf16" : "fp16",
           trans_w, d);
    be->free(be, got);
    be->free(be, want);
    be->free(be, wide);
    be->free(be, w16);
    free(a);
    free(w);
    free(c);
    be->matrix_type = MATRIX_F32;
}

// --- the model --------------------------------------------------------------------------------

static LlamaConfig test_config(void) {
    return test_model_config((TestModelShape){
        .vocab_size = 61, .dim = 32, .ffn_dim = 48, .n_layers = 3, .max_seq_len = 64});
}

// ref gets the weights of m16 widened back to fp32: the same model, held in fp32. The two
// layouts differ, so view by view (CPU backends: host memory on both sides).
static void copy_widened(LlamaModel *ref, const LlamaModel *m16) {
    Backend *be = m16->be;
    const LlamaConfig *cfg = &ref->cfg;
    size_t table = (size_t)cfg->vocab_size * cfg->dim;
    be->copy(be, ref->w.embed, m16->w.embed, table * sizeof(float));
    be->copy(be, ref->w.final_norm, m16->w.final_norm, (size_t)cfg->dim * sizeof(float));
    be->matrix_to_host(be, ref->w.lm_head, m16->w.lm_head16, table);
    for (int l = 0; l < cfg->n_layers; l++) {
        const LlamaBlockWeights *b = &m16->w.blocks[l];
        be->copy(be, ref->w.blocks[l].attn_norm, b->attn_norm, (size_t)cfg->dim * sizeof(float));
        be->copy(be, ref->w.blocks[l].mlp_norm, b->mlp_norm, (size_t)cfg->dim * sizeof(float));
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            be->matrix_to_host(be, ref->w.blocks[l].proj[p], b->proj16[p], (size_t)out * in);
        }
    }
}

static void test_model(MatrixType type) {
    const char *name = type == MATRIX_BF16 ? "bf16" : "fp16";
    Backend *be16 = backend_cpu_create(2), *be32 = backend_cpu_create(2);
    be16->matrix_type = type;
    LlamaConfig cfg = test_config();
    LlamaModel m16, ref;
    test_model_init(&m16, &cfg, be16, type, 0.2f, 7);
    test_model_alloc(&ref, &cfg, be32, MATRIX_F32);
    CHECK(m16.w.lm_head == NULL && m16.w.blocks[1].proj[PROJ_UP] == NULL &&
              llama_weights_bytes(&m16.w) < llama_weights_bytes(&ref.w) * 6 / 10,
          "%s: matrices live in 16 bits (%zu of %zu bytes)", name, llama_weights_bytes(&m16.w),
          llama_weights_bytes(&ref.w));
    copy_widened(&ref, &m16);

    // LoRA on q, v, up and down of blocks 1 and 2, the same random A and B on both.
    bool layer_on[3] = {false, true, true};
    unsigned targets = 1u << PROJ_Q | 1u << PROJ_V | 1u << PROJ_UP | 1u << PROJ_DOWN;
    m16.lora = lora_create(&m16.cfg, be16, targets, layer_on, 4, 8.0f);
    ref.lora = lora_create(&ref.cfg, be32, targets, layer_on, 4, 8.0f);
    float *params = random_floats(&rng, m16.lora->n_params, 0.2f);
    be16->to_device(be16, m16.lora->params, params, m16.lora->n_params * sizeof(float));
    be32->to_device(be32, ref.lora->params, params, ref.lora->n_params * sizeof(float));

    int seq_len[3] = {7, 12, 4}, T = 23;
    int *tokens = new_array(T, sizeof *tokens);
    for (int t = 0; t < T; t++) tokens[t] = (int)(rng_next(&rng) % 61);
    TokenBatch batch = {3, seq_len, tokens};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 3,
                          .max_seq_len = 12,
                          .outputs = {.n_capture = 2, .layers = {2, -1}, .logits = true},
                          .backward = BACKWARD_LORA};
    char err[256];
    LlamaWorkspace *ws16 = llama_workspace_create(&m16, &plan, err, sizeof err);
    LlamaWorkspace *ws32 = llama_workspace_create(&ref, &plan, err, sizeof err);
    CHECK(ws16 && ws32, "workspaces: %s", err);
    size_t n_cap = 3 * 2 * 32, n_logits = (size_t)T * 61;
    float *grad = random_floats(&rng, n_cap, 1.0f);
    be16->to_device(be16, llama_captured_grad(ws16), grad, n_cap * sizeof(float));
    be32->to_device(be32, llama_captured_grad(ws32), grad, n_cap * sizeof(float));
    BackwardSources from_captured = {.from_captured = true};
    CHECK(llama_forward(&m16, ws16, &batch) == 0 && llama_forward(&ref, ws32, &batch) == 0 &&
              llama_backward(&m16, ws16, &from_captured, NULL) == 0 &&
              llama_backward(&ref, ws32, &from_captured, NULL) == 0,
          "forward and backward");
    // Host and device memory are one on the CPU: compare in place.
    double d_cap = max_rel_diff(llama_captured(ws16), llama_captured(ws32), n_cap);
    double d_logits = max_rel_diff(llama_logits(ws16), llama_logits(ws32), n_logits);
    double d_grads = max_rel_diff(m16.lora->grads, ref.lora->grads, m16.lora->n_params);
    CHECK(d_cap < 1e-5 && d_logits < 1e-5 && d_grads < 1e-4,
          "%s model vs fp32 with the rounded weights: captured %.3g, logits %.3g, LoRA grads %.3g",
          name, d_cap, d_logits, d_grads);
    printf("%s model: captured %.2g, logits %.2g, LoRA grads %.2g (max rel diff)\n", name, d_cap,
           d_logits, d_grads);

    // Training the base weights needs them in fp32.
    CHECK(llama_alloc_grads(&m16) == 0, "grads");
    WorkspacePlan full = plan;
    full.backward = BACKWARD_FULL;
    LlamaWorkspace *refused = llama_workspace_create(&m16, &full, err, sizeof err);
    CHECK(!refused && strstr(err, "fp32"), "%s: full backward refused, got '%s'", name,
          refused ? "a workspace" : err);

    llama_workspace_free(ws16);
    llama_workspace_free(ws32);
    lora_free(m16.lora, be16);
    lora_free(ref.lora, be32);
    llama_free(&m16);
    llama_free(&ref);
    be16->destroy(be16);
    be32->destroy(be32);
    free(params);
    free(tokens);
    free(grad);
}

int main(void) {
    rng_seed(&rng, 16);
    Backend *be = backend_cpu_create(2);
    test_rounding(be);
    for (int t = MATRIX_BF16; t <= MATRIX_F16; t++) {
        test_gemm_matrix(be, (MatrixType)t, true);
        test_gemm_matrix(be, (MatrixType)t, false);
        test_model((MatrixType)t);
    }
    be->destroy(be);
    return check_summary();
}
