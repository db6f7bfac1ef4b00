// LoRA adapter layout, initialisation and target parsing; the AdamW wrapper's step count and
// reset. (The AdamW update itself is checked against PyTorch in test_llama_reference and
// against the formula in test_ops.)
#include "adamw.h"
#include "backend_cpu.h"
#include "check.h"
#include "lora.h"

#include <stdlib.h>
#include <string.h>

static const LlamaConfig cfg = {.vocab_size = 40,
                                .dim = 16,
                                .ffn_dim = 24,
                                .n_layers = 4,
                                .n_heads = 4,
                                .n_kv_heads = 2,
                                .head_dim = 4,
                                .max_seq_len = 32,
                                .rms_eps = 1e-5f,
                                .rope_theta = 10000.0f};

static void test_layout(Backend *be) {
    bool on[4] = {false, true, false, true};
    unsigned targets = (1u << PROJ_K) | (1u << PROJ_DOWN);
    Lora *lora = lora_create(&cfg, be, targets, on, 3, 6.0f);
    CHECK(lora, "lora_create failed");
    if (!lora) return;
    CHECK(lora->scale == 2.0f, "scale alpha/rank = %g", lora->scale);
    CHECK(lora->lowest_layer == 1, "lowest layer %d", lora->lowest_layer);
    // k_proj [8, 16], down_proj [16, 24]: r*(in+out) = 3*24 + 3*40 per layer, two layers.
    CHECK(lora->n_params == 2 * (3 * 24 + 3 * 40), "n_params %zu", lora->n_params);
    CHECK(lora_A(lora, 0, PROJ_K) == NULL, "layer 0 not adapted");
    CHECK(lora_A(lora, 1, PROJ_Q) == NULL, "q_proj not adapted");
    CHECK(lora_B(lora, &cfg, 1, PROJ_K) == lora_A(lora, 1, PROJ_K) + 3 * 16, "B follows A");
    CHECK(lora_grad_B(lora, &cfg, 3, PROJ_DOWN) - lora->grads ==
              lora_B(lora, &cfg, 3, PROJ_DOWN) - lora->params,
          "grads mirror params");
    // The adapted tensors tile [0, n_params) exactly, without gaps or overlaps.
    char *seen = calloc(lora->n_params, 1);
    int overlaps = 0;
    for (int l = 0; l < 4; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            float *A = lora_A(lora, l, (Projection)p);
            if (!A) continue;
            int out, in;
            projection_shape(&cfg, (Projection)p, &out, &in);
            size_t off = (size_t)(A - lora->params), n = 3 * (size_t)(in + out);
            for (size_t i = off; i < off + n && i < lora->n_params; i++) overlaps += seen[i]++;
        }
    size_t covered = 0;
    for (size_t i = 0; i < lora->n_params; i++) covered += seen[i] != 0;
    CHECK(overlaps == 0 && covered == lora->n_params, "tiling: %d overlaps, %zu of %zu covered",
          overlaps, covered, lora->n_params);
    free(seen);
    lora_free(lora, be);

    bool none[4] = {false};
    lora = lora_create(&cfg, be, targets, none, 3, 6.0f);
    CHECK(lora && lora->n_params == 0 && lora->lowest_layer == 4, "empty adapter");
    lora_free(lora, be);
}

static void test_init(Backend *be) {
    bool on[4] = {true, true, true, true};
    unsigned all = (1u << PROJ_COUNT) - 1;
    Lora *a = lora_create(&cfg, be, all, on, 4, 8.0f);
    Lora *b = lora_create(&cfg, be, all, on, 4, 8.0f);
    CHECK(lora_init(a, &cfg, be, 7) == 0 && lora_init(b, &cfg, be, 7) == 0, "lora_init");
    CHECK(!memcmp(a->params, b->params, a->n_params * sizeof(float)), "same seed, same init");
    CHECK(lora_init(b, &cfg, be, 8) == 0, "lora_init");
    CHECK(memcmp(a->params, b->params, a->n_params * sizeof(float)), "other seed, other init");

    int bad_bound = 0, nonzero_B = 0;
    double sum = 0, sum_sq = 0;
    size_t n_A = 0;
    for (int l = 0; l < 4; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(&cfg, (Projection)p, &out, &in);
            const float *A = lora_A(a, l, (Projection)p), *B = lora_B(a, &cfg, l, (Projection)p);
            float bound = 1.0f / sqrtf((float)in);
            for (int i = 0; i < 4 * in; i++) {
                bad_bound += fabsf(A[i]) > bound;
                sum += A[i] / bound;
                sum_sq += (A[i] / bound) * (A[i] / bound);
            }
            n_A += 4 * (size_t)in;
            for (int i = 0; i < out * 4; i++) nonzero_B += B[i] != 0.0f;
        }
    CHECK(bad_bound == 0, "%d A entries outside +-1/sqrt(in)", bad_bound);
    CHECK(nonzero_B == 0, "%d B entries nonzero", nonzero_B);
    // U(-1, 1) after scaling: mean 0, variance 1/3.
    double mean = sum / n_A, var = sum_sq / n_A - mean * mean;
    CHECK(fabs(mean) < 0.05 && fabs(var - 1.0 / 3.0) < 0.03, "A ~ U(-b, b): mean %g var %g", mean,
          var);
    lora_free(a, be);
    lora_free(b, be);
}

static void test_parse_targets(void) {
    unsigned t;
    char bad[32];
    CHECK(lora_parse_targets("q_proj,v_proj", &t, bad, sizeof bad) == 0 &&
              t == ((1u << PROJ_Q) | (1u << PROJ_V)),
          "q_proj,v_proj -> %#x", t);
    CHECK(lora_parse_targets("up, down", &t, bad, sizeof bad) == 0 &&
              t == ((1u << PROJ_UP) | (1u << PROJ_DOWN)),
          "short names -> %#x", t);
    CHECK(lora_parse_targets("all", &t, bad, sizeof bad) == 0 && t == (1u << PROJ_COUNT) - 1,
          "all");
    CHECK(lora_parse_targets("q,mlp", &t, bad, sizeof bad) == -1 && !strcmp(bad, "mlp"),
          "unknown name reported: '%s'", bad);
    CHECK(lora_parse_targets("q_pro", &t, bad, sizeof bad) == -1, "prefix is not a name");
    CHECK(lora_parse_targets("", &t, bad, sizeof bad) == -1, "empty list refused");
}

// A reset optimiser is a new optimiser: it replays the first run bit for bit.
static void test_adamw_reset(Backend *be) {
    enum { N = 10 };
    float p0[N], g[N];
    for (int i = 0; i < N; i++)
        p0[i] = 0.1f * (float)i - 0.3f, g[i] = 0.05f * (float)(i % 3) - 0.04f;
    AdamWConfig c = adamw_defaults();
    c.lr = 0.01f;
    AdamW opt;
    CHECK(adamw_init(&opt, &c, N, be) == 0, "adamw_init");
    float first[N], second[N];
    memcpy(first, p0, sizeof p0);
    for (int s = 0; s < 3; s++) adamw_step(&opt, be, first, g);
    CHECK(opt.step == 3, "step count %d", opt.step);
    adamw_reset(&opt, be);
    CHECK(opt.step == 0, "reset step");
    memcpy(second, p0, sizeof p0);
    for (int s = 0; s < 3; s++) adamw_step(&opt, be, second, g);
    CHECK(!memcmp(first, second, sizeof first), "reset replays the first run");
    CHECK(memcmp(first, p0, sizeof p0), "steps moved the parameters");
    adamw_free(&opt, be);
}

int main(void) {
    Backend *be = backend_cpu_create(2);
    test_layout(be);
    test_init(be);
    test_parse_targets();
    test_adamw_reset(be);
    be->destroy(be);
    return check_summary();
}
