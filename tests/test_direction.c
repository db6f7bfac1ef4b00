// The concept direction and its ablation (compute/direction.h), on a small random model:
//   - direction_of_classes against a plain double computation of the class means;
//   - the threshold accuracy along r: 1 on separable rows, 0.5 on rows that coincide;
//   - the ablated model's blocks write nothing along r: <h_i - h_0, r> is zero to rounding at
//     every hidden state below the final norm, for every token (and far from zero unablated);
//     with the embedding orthogonalised too, the residual stream itself has no component along
//     r: <h_i, r> is zero to rounding at the embedding and after every block (hidden_states
//     0..n_layers-1; hidden_states[n_layers] is the final norm's output, not the stream), where
//     the blocks' ablation alone leaves the embedding's component; dropping both adapters gives
//     the base model's outputs back bit for bit;
//   - the rank-1 LoRA and the embedding's, through the PEFT export and back (peft_save,
//     peft_load), equal the orthogonalised matrices (I - r r^T) W and E - (E r) r^T computed in
//     double, for fp32 and bf16 base matrices;
//   - against PEFT (tests/ref/make_direction_fixtures.py: a tied random Llama, an ablation built
//     in torch and saved by peft): our export of the same r equals the adapter peft saved, and
//     that adapter loaded here gives PEFT's forward: the embedding rows bit for bit, every
//     hidden state and the logits (the tied head left the base table) to 1e-4 relative; an
//     adapter whose saved embedding table is not the model's is refused;
//   - a model whose concept lives on one direction (every block writes only along u; the class
//     is the first token of prompts that end alike) loses it under ablation: a fresh linear
//     discriminator separates the classes before and is at chance after;
//   - activation addition (llama.h's steer): alpha = 0 changes no logit and no hidden state, bit
//     for bit; a vector v at layer L moves hidden_states[L] by exactly fl(h + v), nothing below.
#include "backend_cpu.h"
#include "check.h"
#include "direction.h"
#include "discriminator.h"
#include "hf_fixture.h"
#include "model_load.h"
#include "model_source.h"
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

// How far the residual stream of m lies along r, over tokens and hidden states 0..n_layers-1:
//   blocks: max of |<h_i - h_0, r>| / allowed_i (i >= 1) and of |<h_i - h_0, r>|, what the
//     blocks wrote along r;
//   stream: max of |<h_i, r>| / allowed_i' and of |<h_i, r>| / |h_i|, the stream itself.
// allowed: each block's two writes along r cancel between W y and B (A y), sums of
// K <= max(in) + dim products each rounded with relative error u (Higham's gamma_K), so the
// residue is at most ~2 K u times what the block writes; summed over the blocks so far. The
// orthogonalised embedding row leaves a few roundings of u |E[t]| along r (a = fl(E[t] r),
// fl(a r_j), the subtraction, |r|^2 = 1 +- 2u), within the same 2 K u of |h_0|: allowed_i' adds
// that to allowed_i.
typedef struct {
    double blocks_ratio, blocks_largest;
    double stream_ratio, stream_relative;
} AlongR;

static AlongR stream_along_r(LlamaModel *m, const float *r) {
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
    double u = FLT_EPSILON / 2;
    AlongR a = {0};
    for (int t = 0; t < T; t++) {
        const float *h0 = h + (size_t)t * L * d;
        double written = 0, norm0 = 0;
        for (int j = 0; j < d; j++) norm0 += (double)h0[j] * h0[j];
        norm0 = sqrt(norm0);
        for (int i = 0; i < L; i++) {
            const float *hi = h0 + (size_t)i * d, *prev = i ? hi - d : hi;
            double along = 0, along0 = 0, step = 0, norm = 0;
            for (int j = 0; j < d; j++) {
                along += (double)hi[j] * r[j];
                along0 += ((double)hi[j] - h0[j]) * r[j];
                step += ((double)hi[j] - prev[j]) * ((double)hi[j] - prev[j]);
                norm += (double)hi[j] * hi[j];
            }
            written += sqrt(step);
            double allowed = 2 * K * u * written;
            if (i > 0) {
                a.blocks_ratio = fmax(a.blocks_ratio, fabs(along0) / allowed);
                a.blocks_largest = fmax(a.blocks_largest, fabs(along0));
            }
            a.stream_ratio = fmax(a.stream_ratio, fabs(along) / (allowed + 2 * K * u * norm0));
            a.stream_relative = fmax(a.stream_relative, fabs(along) / sqrt(norm));
        }
    }
    return a;
}

static float *forward_outputs(LlamaModel *m, const float *v, int layer, size_t *n_out); // below

static void test_stream_orthogonal(void) {
    LlamaModel m;
    model_init(&m, MATRIX_F32, 11);
    float *r = unit_vector(m.cfg.dim);
    size_t n;
    float *plain = forward_outputs(&m, NULL, 0, &n);
    m.lora = direction_lora_create(&m);
    CHECK(m.lora && m.lora->rank == 1 && m.lora->scale == 1.0f, "rank-1 LoRA of scale 1");
    AlongR base = stream_along_r(&m, r); // the LoRA all zero: the base model
    CHECK(base.blocks_largest > 0.05,
          "the base model's blocks write along r (%g): the check can "
          "fail",
          base.blocks_largest);
    char err[256];
    CHECK(direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    AlongR blocks = stream_along_r(&m, r);
    printf("ablated blocks: largest |<h_i - h_0, r>| %.3g, %.3g of the rounding bound\n",
           blocks.blocks_largest, blocks.blocks_ratio);
    CHECK(blocks.blocks_ratio <= 1,
          "the ablated blocks write %g along r, %.3g times the rounding "
          "bound",
          blocks.blocks_largest, blocks.blocks_ratio);
    CHECK(blocks.stream_ratio > 1,
          "the blocks' ablation alone removes the embedding's component "
          "along r (%.3g of the bound): the check can fail",
          blocks.stream_ratio);
    m.embed_lora = direction_embedding_lora(&m, r, err, sizeof err);
    CHECK(m.embed_lora, "%s", err);
    AlongR all = stream_along_r(&m, r);
    printf("ablated blocks and embedding: largest |<h, r>| / |h| %.3g (base %.3g, blocks only "
           "%.3g), %.3g of the rounding bound\n",
           all.stream_relative, base.stream_relative, blocks.stream_relative, all.stream_ratio);
    CHECK(all.stream_ratio <= 1,
          "the ablated stream keeps %.3g |h| along r, %.3g times the "
          "rounding bound",
          all.stream_relative, all.stream_ratio);
    embedding_lora_free(m.embed_lora, cpu);
    m.embed_lora = NULL;
    lora_free(m.lora, cpu);
    m.lora = NULL;
    float *again = forward_outputs(&m, NULL, 0, &n);
    CHECK(!memcmp(plain, again, n * sizeof *plain), "without the adapters the model is not the "
                                                    "base one bit for bit");
    llama_free(&m);
}

// E + (B A)^T of the embedding adapter read back, against E - (E r) r^T in double: A = fl(E r)
// and B A round once each, u relative to E r's terms.
static double embedding_worst(const LlamaModel *m, const PeftAdapter *a, const float *r) {
    const LlamaConfig *cfg = &m->cfg;
    int V = cfg->vocab_size, d = cfg->dim;
    float *E = new_array((size_t)V * d, sizeof *E);
    cpu->to_host(cpu, E, m->w.embed, (size_t)V * d * sizeof *E);
    double worst = 0;
    for (int t = 0; t < V; t++) {
        double er = 0, scale = 0;
        for (int j = 0; j < d; j++) {
            er += (double)E[(size_t)t * d + j] * r[j];
            scale += fabs((double)E[(size_t)t * d + j] * r[j]);
        }
        for (int j = 0; j < d; j++) {
            double want = E[(size_t)t * d + j] - r[j] * er;
            double got = (double)E[(size_t)t * d + j] + (double)a->embed_B[j] * a->embed_A[t];
            double allowed = 2 * (FLT_EPSILON / 2) * (fabs(r[j]) * scale) + 1e-30;
            worst = fmax(worst, fabs(got - want) / allowed);
        }
    }
    return worst;
}

// W + B A of the adapter read back from its PEFT export, against (I - r r^T) W in double, and
// the embedding's likewise.
static void test_export_equals_orthogonalised(MatrixType matrices, const char *name) {
    LlamaModel m;
    model_init(&m, matrices, 12);
    const LlamaConfig *cfg = &m.cfg;
    float *r = unit_vector(cfg->dim);
    m.lora = direction_lora_create(&m);
    char err[256], dir[] = "/tmp/test_direction_XXXXXX";
    CHECK(direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    m.embed_lora = direction_embedding_lora(&m, r, err, sizeof err);
    CHECK(m.embed_lora, "%s", err);
    PeftAdapter saved, loaded;
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    CHECK(peft_from_model(&saved, &m, err, sizeof err) == 0, "%s", err);
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
    CHECK(loaded.embed_A && loaded.embed_B && (loaded.targets & PEFT_EMBED_TOKENS),
          "%s: the embedding adapter read back", name);
    if (loaded.embed_A) {
        double emb = embedding_worst(&m, &loaded, r);
        printf("%s export: W + B A within %.3g, the embedding within %.3g of the rounding bound\n",
               name, worst, emb);
        CHECK(emb <= 1, "%s: E + (B A)^T is %.3g times the rounding bound from E - (E r) r^T", name,
              emb);
    }
    peft_adapter_free(&saved);
    peft_adapter_free(&loaded);
    char path[128];
    snprintf(path, sizeof path, "%s/adapter_model.safetensors", dir);
    unlink(path);
    snprintf(path, sizeof path, "%s/adapter_config.json", dir);
    unlink(path);
    rmdir(dir);
    embedding_lora_free(m.embed_lora, cpu);
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

#define PEFT_RTOL 1e-4 // float32 forwards of the same model, summed in other orders

// Hidden states 0..n_layers [n_layers + 1, T, dim] and logits [T, vocab] of one sequence, as
// the fixture stores them.
static void check_forward(LlamaModel *m, const SafetensorsFile *f, const int *tokens, int T) {
    const LlamaConfig *cfg = &m->cfg;
    int L = cfg->n_layers + 1, d = cfg->dim;
    WorkspacePlan plan = {
        .max_tokens = T,
        .max_seqs = 1,
        .max_seq_len = T,
        .outputs = {.n_capture = L, .capture_at = CAPTURE_ALL_TOKENS, .logits = true}};
    for (int i = 0; i < L; i++) plan.outputs.layers[i] = i;
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    TokenBatch batch = {.n_seqs = 1, .seq_len = &T, .tokens = tokens};
    CHECK(llama_forward(m, ws, &batch) == 0, "forward: %s", llama_workspace_error(ws));
    size_t n_hidden = (size_t)L * T * d, n_logits = (size_t)T * cfg->vocab_size;
    float *got = new_array(n_hidden, sizeof *got), *hidden = new_array(n_hidden, sizeof *hidden);
    float *logits = new_array(n_logits, sizeof *logits);
    float *captured = new_array(n_hidden, sizeof *captured); // [T, L, dim]
    cpu->to_host(cpu, captured, llama_captured(ws), n_hidden * sizeof *captured);
    cpu->to_host(cpu, logits, llama_logits(ws), n_logits * sizeof *logits);
    llama_workspace_free(ws);
    for (int i = 0; i < L; i++) // as transformers stacks them: [L, T, dim]
        for (int t = 0; t < T; t++)
            memcpy(got + ((size_t)i * T + t) * d, captured + ((size_t)t * L + i) * d,
                   (size_t)d * sizeof *got);
    float *want = read_expected(f, "expect.hidden_states", n_hidden);
    float *want_logits = read_expected(f, "expect.logits", n_logits);
    if (!want || !want_logits) return;
    CHECK(!memcmp(got, want, (size_t)T * d * sizeof *got),
          "the adapted embedding rows differ from PEFT's");
    for (int i = 1; i < L; i++) {
        char label[64];
        snprintf(label, sizeof label, "PEFT's ablation: hidden_states[%d]", i);
        check_against_reference(label, got + (size_t)i * T * d, want + (size_t)i * T * d,
                                (size_t)T * d, PEFT_RTOL);
    }
    check_against_reference("PEFT's ablation: logits (tied head)", logits, want_logits, n_logits,
                            PEFT_RTOL);
    free(want);
    free(want_logits);
}

// The ablation exported here and the one peft saved: the same tensors (A to the last bit of
// its float64 sum rounded once, B = -r exactly), the same targets.
static void check_same_adapter(const PeftAdapter *ours, const PeftAdapter *theirs) {
    const LlamaConfig *cfg = &ours->base;
    CHECK(ours->targets == theirs->targets && ours->rank == 1 && theirs->rank == 1 &&
              ours->alpha == theirs->alpha,
          "targets %#x and %#x, r %d and %d", ours->targets, theirs->targets, ours->rank,
          theirs->rank);
    if (ours->targets != theirs->targets || !ours->embed_A || !theirs->embed_A) return;
    double worst = 0;
    bool same_B = !memcmp(ours->embed_B, theirs->embed_B, (size_t)cfg->dim * sizeof(float));
    for (int t = 0; t < cfg->vocab_size; t++)
        worst = fmax(worst, fabs(ours->embed_A[t] - theirs->embed_A[t]) /
                                (FLT_EPSILON * fabs(theirs->embed_A[t]) + 1e-30));
    for (int l = 0; l < cfg->n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            const float *A = peft_A(ours, l, p), *A2 = peft_A(theirs, l, p);
            if (!A || !A2) continue;
            int out, in;
            projection_shape(cfg, p, &out, &in);
            same_B &= !memcmp(peft_B(ours, l, p), peft_B(theirs, l, p), (size_t)out * sizeof *A);
            for (int j = 0; j < in; j++)
                worst = fmax(worst, fabs(A[j] - A2[j]) / (FLT_EPSILON * fabs(A2[j]) + 1e-30));
        }
    printf("our export against peft's: every A within %.3g ulp, B %s\n", worst,
           same_B ? "the same" : "different");
    CHECK(worst <= 1, "an A differs by %.3g ulp from peft's", worst);
    CHECK(same_B, "a B is not peft's -r");
}

static void test_against_peft(void) {
    char tiny[4096], lora_dir[4096], expect_path[4096], err[512] = "";
    fixture_path(tiny, sizeof tiny, "direction_tiny");
    fixture_path(lora_dir, sizeof lora_dir, "direction_tiny_lora");
    fixture_path(expect_path, sizeof expect_path, "direction_tiny_expect.safetensors");
    SafetensorsFile *f = safetensors_open(expect_path, err, sizeof err);
    ModelSource *src = f ? model_source_open(tiny, err, sizeof err) : NULL;
    LlamaModel m = {0};
    if (!src || model_load(&m, src, cpu, MATRIX_F32, err, sizeof err) < 0) {
        CHECK(0, "the direction fixture: %s", err);
        model_source_close(src);
        if (f) safetensors_close(f);
        return;
    }
    model_source_close(src);
    CHECK(m.cfg.tie_embeddings, "the fixture's head is tied (what the test is about)");
    int tokens[64], T = 0;
    const SafetensorsTensor *t = safetensors_find(f, "input.tokens");
    if (t && t->n_elements <= 64 &&
        safetensors_read_i32(f, t, tokens, (size_t)t->n_elements, err, sizeof err) == 0)
        T = (int)t->n_elements;
    float *r = read_expected(f, "input.r", (size_t)m.cfg.dim);
    CHECK(T > 0 && r, "the fixture's tokens and r");
    PeftAdapter ours, theirs;
    m.lora = direction_lora_create(&m);
    CHECK(r && direction_lora_set(m.lora, &m, r, err, sizeof err) == 0, "%s", err);
    m.embed_lora = direction_embedding_lora(&m, r, err, sizeof err);
    CHECK(m.embed_lora, "%s", err);
    CHECK(peft_from_model(&ours, &m, err, sizeof err) == 0, "%s", err);
    CHECK(peft_load(lora_dir, &m.cfg, &theirs, err, sizeof err) == 0, "peft_load: %s", err);
    check_same_adapter(&ours, &theirs);
    CHECK(theirs.embed_base, "peft saved the embedding table beside the adapter");
    lora_free(m.lora, cpu);
    embedding_lora_free(m.embed_lora, cpu);
    m.lora = NULL;
    m.embed_lora = NULL;

    CHECK(model_attach_peft(&m, &theirs, err, sizeof err) == 0, "attach: %s", err);
    if (T > 0 && m.embed_lora) check_forward(&m, f, tokens, T);
    lora_free(m.lora, cpu);
    embedding_lora_free(m.embed_lora, cpu);
    m.lora = NULL;
    m.embed_lora = NULL;
    if (theirs.embed_base) {
        theirs.embed_base[7] += 1;
        CHECK(model_attach_peft(&m, &theirs, err, sizeof err) < 0 &&
                  strstr(err, "other than the model's"),
              "another embedding table refused: %s", err);
        lora_free(m.lora, cpu);
        embedding_lora_free(m.embed_lora, cpu);
    }
    // The same adapter with ensure_weight_tying: PEFT would adapt the tied head too.
    char tied_dir[4096], path[4096];
    make_temp_dir(tied_dir, "direction_tied");
    const char *names[] = {"adapter_model.safetensors"};
    copy_files(lora_dir, tied_dir, names, 1);
    join(path, sizeof path, lora_dir, "adapter_config.json");
    size_t len;
    char *config = read_file(path, &len),
         *flag = config ? strstr(config, "\"ensure_weight_tying\": false") : NULL;
    CHECK(flag, "the fixture's adapter_config.json has ensure_weight_tying false");
    if (flag) {
        memcpy(flag, "\"ensure_weight_tying\":  true", strlen("\"ensure_weight_tying\": false"));
        join(path, sizeof path, tied_dir, "adapter_config.json");
        write_text(path, config);
        PeftAdapter tied;
        CHECK(peft_load(tied_dir, &m.cfg, &tied, err, sizeof err) < 0 &&
                  strstr(err, "ensure_weight_tying = true"),
              "ensure_weight_tying refused: %s", err);
    }
    free(config);
    remove_dir(tied_dir);
    peft_adapter_free(&ours);
    peft_adapter_free(&theirs);
    free(r);
    safetensors_close(f);
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
    test_against_peft();
    cpu->matrix_type = MATRIX_BF16; // the matrices as a GPU holds them
    test_export_equals_orthogonalised(MATRIX_BF16, "bf16");
    release_arrays();
    cpu->destroy(cpu);
    return check_summary();
}
