// The concept direction and its ablation (compute/direction.h), on a small random model:
//   - direction_of_classes against a plain double computation of the class means;
//   - the threshold accuracy along r: 1 on separable rows, 0.5 on rows that coincide;
//   - the ablated model's blocks write nothing along r: <h_i - h_0, r> is zero to rounding at
//     every hidden state below the final norm, for every token (and far from zero unablated);
//   - the rank-1 LoRA, through the PEFT export and back (peft_save, peft_load), equals the
//     orthogonalised matrices (I - r r^T) W computed in double, for fp32 and bf16 base matrices;
//   - a model whose concept lives on one direction (every block writes only along u; the class
//     is the first token of prompts that end alike) loses it under ablation: a fresh linear
//     discriminator separates the classes before and is at chance after;
//   - activation addition (llama.h's steer): alpha = 0 changes no logit and no hidden state, bit
//     for bit; a vector v at layer L moves hidden_states[L] by exactly fl(h + v), nothing below.
#include "backend_cpu.h"
#include "check.h"
#include "direction.h"
#include "discriminator.h"
#include "model_load.h"
#include "peft.h"
#include "test_arrays.h"
#include "test_model.h"

#include <float.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static Backend *cpu;
static Rng rng;

static void model_init(LlamaModel *m, MatrixType matrices, uint64_t seed) {
    LlamaConfig cfg = test_model_config((TestModelShape){
        .vocab_size = 50, .dim = 32, .ffn_dim = 48, .n_layers = 3, .max_seq_len = 64});
    test_model_init(m, &cfg, cpu, matrices, 0.2f, seed);
}

static float *unit_vector(int dim) {
    float *r = random_floats(&rng, (size_t)dim, 1);
    double n2 = 0;
    for (int j = 0; j < dim; j++) n2 += (double)r[j] * r[j];
    for (int j = 0; j < dim; j++) r[j] = (float)(r[j] / sqrt(n2));
    return r;
}

static void test_class_means(void) {
    enum { N = 9, D = 5, STRIDE = 7 }; // rows wider than the slice read
    float *rows = random_floats(&rng, N * STRIDE, 1), r[D];
    int labels[N] = {0, 1, 1, 0, 1, 0, 0, 1, 1};
    bool use[N] = {true, true, true, true, true, true, false, true, false};
    double mean[2][D] = {{0}}, norm2 = 0;
    int count[2] = {0, 0};
    for (int i = 0; i < N; i++)
        if (use[i]) {
            count[labels[i]]++;
            for (int j = 0; j < D; j++) mean[labels[i]][j] += rows[i * STRIDE + j];
        }
    double want[D];
    for (int j = 0; j < D; j++) {
        want[j] = mean[1][j] / count[1] - mean[0][j] / count[0];
        norm2 += want[j] * want[j];
    }
    char err[256];
    CHECK(direction_of_classes(rows, N, STRIDE, D, labels, use, r, err, sizeof err) == 0, "%s",
          err);
    double worst = 0;
    for (int j = 0; j < D; j++) worst = fmax(worst, fabs(r[j] - want[j] / sqrt(norm2)));
    CHECK(worst <= FLT_EPSILON, "class-mean direction off by %g", worst);

    bool only0[N] = {true, false, false, true};
    CHECK(direction_of_classes(rows, N, STRIDE, D, labels, only0, r, err, sizeof err) < 0 &&
              strstr(err, "both classes"),
          "one class refused: %s", err);

    float proj[4] = {-2, -1, 1, 2}, same[4] = {3, 3, 3, 3};
    int lab[4] = {0, 0, 1, 1};
    bool all[4] = {true, true, true, true};
    CHECK(direction_threshold_accuracy(proj, 4, lab, all, all) == 1, "separable rows");
    CHECK(direction_threshold_accuracy(same, 4, lab, all, all) == 0.5, "coinciding rows: chance");
}

// Max over tokens and hidden states 1..n_layers-1 of |<h_i - h_0, r>| / allowed, and of
// |<h_i - h_0, r>| itself. allowed: each block's two writes along r cancel between W y and
// B (A y), sums of K <= max(in) + dim products each rounded with relative error u (Higham's
// gamma_K), so the residue is at most ~2 K u times what the block writes; summed over the
// blocks so far.
static void stream_along_r(LlamaModel *m, const float *r, double *worst_ratio, double *largest) {
    const LlamaConfig *cfg = &m->cfg;
    enum { SEQS = 3 };
    int len[SEQS] = {5, 9, 2}, T = 16, tokens[16];
    for (int i = 0; i < T; i++) tokens[i] = (int)(rng_next(&rng) % (uint64_t)cfg->vocab_size);
    WorkspacePlan plan = {
        .max_tokens = T,
        .max_seqs = SEQS,
        .max_seq_len = 9,
        .outputs = {.n_capture = cfg->n_layers, .capture_at = CAPTURE_ALL_TOKENS}};
    for (int i = 0; i < cfg->n_layers; i++) plan.outputs.layers[i] = i;
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    if (!ws) {
        fprintf(stderr, "workspace: %s\n", err);
        exit(1);
    }
    TokenBatch batch = {.n_seqs = SEQS, .seq_len = len, .tokens = tokens};
    CHECK(llama_forward(m, ws, &batch) == 0, "forward: %s", llama_workspace_error(ws));
    int L = cfg->n_layers, d = cfg->dim;
    float *h = new_array((size_t)T * L * d, sizeof *h);
    cpu->to_host(cpu, h, llama_captured(ws), (size_t)T * L * d * sizeof *h);
    llama_workspace_free(ws);
    int K = (cfg->ffn_dim > cfg->n_heads * cfg->head_dim ? cfg->ffn_dim
                                                         : cfg->n_heads * cfg->head_dim) +
            d;
    *worst_ratio = *largest = 0;
    for (int t = 0; t < T; t++) {
        const float *h0 = h + (size_t)t * L * d;
        double written = 0;
        for (int i = 1; i < L; i++) {
            const float *hi = h0 + (size_t)i * d, *prev = hi - d;
            double along = 0, step = 0;
            for (int j = 0; j < d; j++) {
                along += ((double)hi[j] - h0[j]) * r[j];
                step += ((double)hi[j] - prev[j]) * ((double)hi[j] - prev[j]);
            }
            written += sqrt(step);
            double allowed = 2 * K * (FLT_EPSILON / 2) * written;
            *worst_ratio = fmax(*worst_ratio, fabs(along) / allowed);
            *largest = fmax(*largest, fabs(along));
        }
    }
}

static void test_stream_orthogonal(void) {
    LlamaModel m;
    model_init(&m, MATRIX_F32, 11);
    float *r = unit_vector(m.cfg.dim);
    m.lora = direction_lora_create(&m);
    CHECK(m.lora && m.lora->rank == 1 && m.lora->scale == 1.0f, "rank-1 LoRA of scale 1");
    double ratio, largest;
    stream_along_r(&m, r, &ratio, &largest); // all zero: the base model
    CHECK(largest > 0.05, "the base model's blocks write along r (%g): the check can fail",
          largest);
    char err[256];
    CHECK(direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    stream_along_r(&m, r, &ratio, &largest);
    printf("ablated: largest |<h_i - h_0, r>| %.3g, %.3g of the rounding bound\n", largest, ratio);
    CHECK(ratio <= 1, "the ablated blocks write %g along r, %.3g times the rounding bound", largest,
          ratio);
    lora_free(m.lora, cpu);
    llama_free(&m);
}

// W + B A of the adapter read back from its PEFT export, against (I - r r^T) W in double.
static void test_export_equals_orthogonalised(MatrixType matrices, const char *name) {
    LlamaModel m;
    model_init(&m, matrices, 12);
    const LlamaConfig *cfg = &m.cfg;
    float *r = unit_vector(cfg->dim);
    m.lora = direction_lora_create(&m);
    char err[256], dir[] = "/tmp/test_direction_XXXXXX";
    CHECK(direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    PeftAdapter saved, loaded;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(peft_from_lora(&saved, m.lora, cfg, cpu, err, sizeof err) == 0, "%s", err);
    CHECK(peft_save(dir, &saved, "random", err, sizeof err) == 0, "save: %s", err);
    CHECK(peft_load(dir, cfg, &loaded, err, sizeof err) == 0, "load: %s", err);
    CHECK(loaded.rank == 1 && loaded.alpha == 1, "rank %d alpha %g", loaded.rank, loaded.alpha);
    double worst = 0;
    const Projection writers[] = {PROJ_O, PROJ_DOWN};
    for (int l = 0; l < cfg->n_layers; l++)
        for (int k = 0; k < 2; k++) {
            Projection p = writers[k];
            int out, in;
            projection_shape(cfg, p, &out, &in);
            float *W = new_array((size_t)out * in, sizeof *W);
            if (matrices == MATRIX_F32)
                cpu->to_host(cpu, W, m.w.blocks[l].proj[p], (size_t)out * in * sizeof *W);
            else
                cpu->matrix_to_host(cpu, W, m.w.blocks[l].proj16[p], (size_t)out * in);
            const float *A = peft_A(&loaded, l, p), *B = peft_B(&loaded, l, p);
            CHECK(A && B, "block %d %s adapted", l, projection_name(p));
            if (!A || !B) continue;
            for (int j = 0; j < in; j++) {
                double rw = 0, scale = 0; // r^T W[:, j], and the size of its terms
                for (int i = 0; i < out; i++) {
                    rw += (double)r[i] * W[(size_t)i * in + j];
                    scale += fabs((double)r[i] * W[(size_t)i * in + j]);
                }
                for (int i = 0; i < out; i++) {
                    double want = W[(size_t)i * in + j] - r[i] * rw;
                    double got = (double)W[(size_t)i * in + j] + (double)B[i] * A[j];
                    // A = fl(r^T W) and B A round once each: u relative to r^T W's terms
                    double allowed = 2 * (FLT_EPSILON / 2) * (fabs(r[i]) * scale) + 1e-30;
                    worst = fmax(worst, fabs(got - want) / allowed);
                }
            }
        }
    CHECK(worst <= 1, "%s: W + B A is %.3g times the rounding bound from (I - r r^T) W", name,
          worst);
    peft_adapter_free(&saved);
    peft_adapter_free(&loaded);
    char path[128];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    unlink(path);
    rmdir(dir);
    lora_free(m.lora, cpu);
    llama_free(&m);
}

// hidden_states[layer] at the last token of each prompt [c, x, 0] (c: 1 for class 1, 2 for
// class 0; x from the prompt's index) into reps [n, dim] (backend memory).
static void last_token_states(LlamaModel *m, int n, int layer, float *reps) {
    int *len = new_array((size_t)n, sizeof *len),
        *tokens = new_array(3 * (size_t)n, sizeof *tokens);
    for (int i = 0; i < n; i++) {
        len[i] = 3;
        tokens[3 * i] = i % 2 ? 1 : 2;
        tokens[3 * i + 1] = 3 + (i * 7) % 40;
        tokens[3 * i + 2] = 0;
    }
    WorkspacePlan plan = {.max_tokens = 3 * n,
                          .max_seqs = n,
                          .max_seq_len = 3,
                          .outputs = {.n_capture = 1, .layers = {layer}}};
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    TokenBatch batch = {.n_seqs = n, .seq_len = len, .tokens = tokens};
    CHECK(llama_forward(m, ws, &batch) == 0, "forward: %s", llama_workspace_error(ws));
    cpu->copy(cpu, reps, llama_captured(ws), (size_t)n * m->cfg.dim * sizeof *reps);
    llama_workspace_free(ws);
}

// Accuracy of a fresh linear discriminator fitted on rows 0, 1, 4, 5, ... on rows 2, 3, 6, 7, ...
static double held_out_accuracy(const float *reps, int n, int dim, const int *labels) {
    DiscriminatorConfig cfg = {
        .kind = DISCRIMINATOR_LINEAR, .lr = 1e-2f, .eps = 1e-8f, .epochs = 200, .batch_size = 16};
    Discriminator *d = discriminator_create(cpu, &cfg, dim, n);
    int half = n / 2, *train_labels = new_array((size_t)half, sizeof(int)),
        *test_labels = new_array((size_t)half, sizeof(int)),
        *rows = new_array((size_t)half, sizeof(int));
    float *train = cpu->alloc(cpu, (size_t)half * dim * sizeof(float)),
          *test = cpu->alloc(cpu, (size_t)half * dim * sizeof(float));
    int *d_rows = cpu->alloc(cpu, (size_t)half * sizeof(int));
    for (int parity = 0; parity < 2; parity++) {
        for (int k = 0; k < half; k++) rows[k] = 4 * (k / 2) + 2 * parity + k % 2; // both classes
        cpu->to_device(cpu, d_rows, rows, (size_t)half * sizeof(int));
        cpu->gather_rows(cpu, half, dim, d_rows, reps, dim, parity ? test : train, dim);
        for (int k = 0; k < half; k++) (parity ? test_labels : train_labels)[k] = labels[rows[k]];
    }
    discriminator_reset(d, 5);
    discriminator_fit(d, train, train_labels, half, 6, NULL);
    double acc = discriminator_accuracy(d, test, test_labels, half, NULL);
    discriminator_free(d);
    cpu->free(cpu, train);
    cpu->free(cpu, test);
    cpu->free(cpu, d_rows);
    return acc;
}

static void test_concept_on_one_direction(void) {
    LlamaModel m;
    model_init(&m, MATRIX_F32, 14);
    const LlamaConfig *cfg = &m.cfg;
    int d = cfg->dim, in = cfg->n_heads * cfg->head_dim, n = 64, layer = cfg->n_layers - 1;
    float *u = unit_vector(d);
    // Every block writes along u alone: o_proj = u v^T, down_proj = 0.
    for (int l = 0; l < cfg->n_layers; l++) {
        float *v = random_floats(&rng, (size_t)in, 0.5f), *W = new_array((size_t)d * in, sizeof *W);
        for (int i = 0; i < d; i++)
            for (int j = 0; j < in; j++) W[(size_t)i * in + j] = u[i] * v[j];
        cpu->to_device(cpu, m.w.blocks[l].proj[PROJ_O], W, (size_t)d * in * sizeof *W);
        cpu->zero(cpu, m.w.blocks[l].proj[PROJ_DOWN], (size_t)d * cfg->ffn_dim * sizeof(float));
    }
    int *labels = new_array((size_t)n, sizeof *labels);
    bool *all = new_array((size_t)n, sizeof *all);
    for (int i = 0; i < n; i++) {
        labels[i] = i % 2;
        all[i] = true;
    }
    float *reps = cpu->alloc(cpu, (size_t)n * d * sizeof *reps), r[64];
    float *host = new_array((size_t)n * d, sizeof *host);
    last_token_states(&m, n, layer, reps);
    double before = held_out_accuracy(reps, n, d, labels);
    cpu->to_host(cpu, host, reps, (size_t)n * d * sizeof *host);
    char err[256];
    CHECK(direction_of_classes(host, n, (size_t)d, d, labels, all, r, err, sizeof err) == 0, "%s",
          err);
    double cos = 0;
    for (int j = 0; j < d; j++) cos += (double)r[j] * u[j];
    m.lora = direction_lora_create(&m);
    CHECK(direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    last_token_states(&m, n, layer, reps);
    double after = held_out_accuracy(reps, n, d, labels);
    cpu->to_host(cpu, host, reps, (size_t)n * d * sizeof *host);
    double spread = 0; // every prompt ends in token 0: all rows should be its embedding
    for (int i = 1; i < n; i++)
        for (int j = 0; j < d; j++) spread = fmax(spread, fabs(host[(size_t)i * d + j] - host[j]));
    printf("concept on one direction: |cos(r, u)| %.6f, held-out accuracy %.3f -> %.3f, rows "
           "differ by %.2g after\n",
           fabs(cos), before, after, spread);
    CHECK(fabs(fabs(cos) - 1) < 1e-4, "r is not u: cos %g", cos);
    CHECK(before >= 0.8, "the concept is not there to begin with: accuracy %.3f", before);
    CHECK(after == 0.5, "a discriminator still finds the concept: accuracy %.3f", after);
    CHECK(spread < 1e-5, "the ablated rows differ by %g", spread);
    cpu->free(cpu, reps);
    lora_free(m.lora, cpu);
    llama_free(&m);
}

// Logits and hidden_states[0..n_layers] of one batch, steered by v at layer (v NULL: not).
static float *forward_outputs(LlamaModel *m, const float *v, int layer, size_t *n_out) {
    const LlamaConfig *cfg = &m->cfg;
    int len[2] = {4, 7}, T = 11, tokens[11] = {1, 5, 9, 2, 7, 3, 3, 8, 0, 4, 6};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 2,
                          .max_seq_len = 7,
                          .outputs = {.n_capture = cfg->n_layers + 1,
                                      .capture_at = CAPTURE_ALL_TOKENS,
                                      .logits = true}};
    for (int i = 0; i <= cfg->n_layers; i++) plan.outputs.layers[i] = i;
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    float *dv = NULL;
    if (v) {
        dv = cpu->alloc(cpu, (size_t)cfg->dim * sizeof *dv);
        cpu->to_device(cpu, dv, v, (size_t)cfg->dim * sizeof *dv);
    }
    m->steer = dv;
    m->steer_layer = layer;
    TokenBatch batch = {.n_seqs = 2, .seq_len = len, .tokens = tokens};
    CHECK(llama_forward(m, ws, &batch) == 0, "forward: %s", llama_workspace_error(ws));
    size_t n_hidden = (size_t)T * (cfg->n_layers + 1) * cfg->dim,
           n_logits = (size_t)T * cfg->vocab_size;
    float *out = new_array(n_hidden + n_logits, sizeof *out);
    cpu->to_host(cpu, out, llama_captured(ws), n_hidden * sizeof *out);
    cpu->to_host(cpu, out + n_hidden, llama_logits(ws), n_logits * sizeof *out);
    llama_workspace_free(ws);
    m->steer = NULL;
    if (dv) cpu->free(cpu, dv);
    *n_out = n_hidden + n_logits;
    return out;
}

static void test_steering(void) {
    LlamaModel m;
    model_init(&m, MATRIX_F32, 13);
    const LlamaConfig *cfg = &m.cfg;
    int L = cfg->n_layers + 1, d = cfg->dim, layer = 1;
    float *zero = new_array((size_t)d, sizeof *zero), *v = random_floats(&rng, (size_t)d, 1);
    size_t n;
    float *plain = forward_outputs(&m, NULL, 0, &n);
    float *zeroed = forward_outputs(&m, zero, layer, &n);
    CHECK(!memcmp(plain, zeroed, n * sizeof *plain), "alpha = 0 changed the outputs");
    float *steered = forward_outputs(&m, v, layer, &n);
    int exact = 1, below = 1;
    for (int t = 0; t < 11; t++)
        for (int j = 0; j < d; j++) {
            size_t at = ((size_t)t * L + layer) * d + j;
            exact &= steered[at] == plain[at] + v[j];
            for (int i = 0; i < layer; i++)
                below &= steered[((size_t)t * L + i) * d + j] == plain[((size_t)t * L + i) * d + j];
        }
    CHECK(exact, "hidden_states[%d] is not h + v", layer);
    CHECK(below, "steering at %d changed a hidden state below it", layer);
    CHECK(memcmp(plain + n - 11 * (size_t)cfg->vocab_size,
                 steered + n - 11 * (size_t)cfg->vocab_size,
                 11 * (size_t)cfg->vocab_size * sizeof *plain),
          "steering changed no logit");
    llama_free(&m);
}

int main(void) {
    cpu = backend_cpu_create(2);
    rng_seed(&rng, 2026);
    test_class_means();
    test_stream_orthogonal();
    test_concept_on_one_direction();
    test_steering();
    test_export_equals_orthogonalised(MATRIX_F32, "fp32");
    cpu->matrix_type = MATRIX_BF16; // the matrices as a GPU holds them
    test_export_equals_orthogonalised(MATRIX_BF16, "bf16");
    release_arrays();
    cpu->destroy(cpu);
    return check_summary();
}
