// Invariants of the whole Llama model, on small random models with grouped KV heads:
//   - packing: a sequence gives the same numbers alone as in a ragged batch, up to the order of
//     the sums inside matrix products (see order_tolerance);
//   - hidden-state indices mean what Hugging Face means (0 = embeddings, last = final norm);
//   - KV-cache decoding gives the logits of a full forward at every step;
//   - a LoRA adapter with B = 0 changes nothing, bit for bit;
//   - LoRA and full gradients of the whole model against central finite differences;
//   - forward and backward do work only where the loss lives (counted through the backend);
//   - seeded runs are bit-identical; sampling draws from the distribution it should;
//   - plans, batches and prompts that do not fit are errors with a message.
#include "backend_cpu.h"
#include "check.h"
#include "generate.h"
#include "lora.h"
#include "test_arrays.h"
#include "test_model.h"

#include <assert.h>
#include <stdlib.h>
#include <string.h>

static Backend *cpu; // two threads, as CI runs the tests
static Rng rng;      // test data

// vocab 50, dim 32, 4 query heads sharing 2 KV heads of 8 dims, 3 layers, ffn 40.
static LlamaConfig test_config(bool tied) {
    LlamaConfig cfg = test_model_config((TestModelShape){
        .vocab_size = 50, .dim = 32, .ffn_dim = 40, .n_layers = 3, .max_seq_len = 64});
    cfg.tie_embeddings = tied;
    return cfg;
}

static int *random_tokens(int n, int vocab) {
    int *tokens = new_array((size_t)n, sizeof *tokens);
    for (int i = 0; i < n; i++) tokens[i] = (int)(rng_next(&rng) % (uint64_t)vocab);
    return tokens;
}

static float *download(Backend *be, const float *src, size_t n) {
    float *host = new_array(n, sizeof *host);
    be->to_host(be, host, src, n * sizeof *host);
    return host;
}

static void upload_random(Backend *be, float *dst, size_t n, float std) {
    be->to_device(be, dst, random_floats(&rng, n, std), n * sizeof(float));
}

// Next-token targets of a packed batch: the following token, ignored (-100) at each end.
static int *next_token_targets(const TokenBatch *batch) {
    int T = 0;
    for (int s = 0; s < batch->n_seqs; s++) T += batch->seq_len[s];
    int *targets = new_array((size_t)T, sizeof *targets);
    for (int s = 0, t = 0; s < batch->n_seqs; s++)
        for (int i = 0; i < batch->seq_len[s]; i++, t++)
            targets[t] = i + 1 < batch->seq_len[s] ? batch->tokens[t + 1] : -100;
    return targets;
}

// --- models and workspaces -------------------------------------------------------------------

static void model_init(LlamaModel *m, Backend *be, bool tied, uint64_t seed) {
    LlamaConfig cfg = test_config(tied);
    test_model_init(m, &cfg, be, MATRIX_F32, 0.2f, seed);
}

// An adapter of rank 3 on targets in the layers of layer_on, attached to m. Every A and B is
// random: B = 0, as a fresh adapter has, would hide the gradients of A.
static Lora *attach_lora(LlamaModel *m, unsigned targets, const bool *layer_on) {
    Lora *lora = lora_create(&m->cfg, m->be, targets, layer_on, 3, 6.0f);
    assert(lora);
    upload_random(m->be, lora->params, lora->n_params, 0.2f);
    m->lora = lora;
    return lora;
}

static LlamaWorkspace *workspace(LlamaModel *m, WorkspacePlan plan) {
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    if (!ws) {
        fprintf(stderr, "workspace: %s\n", err);
        exit(1);
    }
    return ws;
}

static void forward(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *batch) {
    if (llama_forward(m, ws, batch) != 0) {
        fprintf(stderr, "forward: %s\n", llama_workspace_error(ws));
        exit(1);
    }
}

static void generate(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *prompts,
                     const GenerateOptions *opt, int *out_tokens, int *out_len) {
    if (llama_generate(m, ws, prompts, opt, out_tokens, out_len) != 0) {
        fprintf(stderr, "generate: %s\n", llama_workspace_error(ws));
        exit(1);
    }
}

// --- checks ----------------------------------------------------------------------------------

static bool identical(const float *a, const float *b, size_t n) {
    return memcmp(a, b, n * sizeof *a) == 0;
}

static double max_difference(const float *a, const float *b, size_t n) {
    double worst = 0;
    for (size_t i = 0; i < n; i++) worst = fmax(worst, fabs((double)a[i] - b[i]));
    return worst;
}

// What the engine promises across batch compositions (a sequence alone or among others, a
// decoding step or a full forward): the same numbers but for the order of the sums inside
// matrix products. OpenBLAS picks a kernel path for each row of a product by the number of
// rows and the row's place in a tile of rows (its Haswell and Zen kernels sum 6 of the 12 rows
// of a tile in another order; Prescott's the last row of an odd count), so a row's last bits
// depend on its neighbours; every other op runs per token in a fixed order.
//
// The bound: a K-term fp32 dot product, summed in any order, is within gamma_K sum|a_i b_i| of
// the exact value, gamma_K = K u / (1 - K u), u = 2^-24 (Higham, Accuracy and Stability of
// Numerical Algorithms, 2nd ed., section 3.1); two orders differ by at most twice that. In these
// models (weights of std 0.2, normalised activations of unit RMS, K <= 40) sum|a_i b_i|, about
// 0.13 K, is at most 1.4 times an output's largest entry, about 0.6 sqrt(K): we allow 2. A value
// has passed through `products` products in series; each one's difference is carried up by the
// residual stream at a gain of about 1 (RMSNorm rescales, and 0.2 sqrt(K) is about 1), so the
// differences add. The result is relative to the largest magnitude of the values compared.
static double order_tolerance(const LlamaConfig *cfg, int products) {
    int K = cfg->dim > cfg->ffn_dim ? cfg->dim : cfg->ffn_dim;
    if (cfg->n_heads * cfg->head_dim > K) K = cfg->n_heads * cfg->head_dim;
    double u = 0x1p-24, gamma = K * u / (1 - K * u);
    return 2 * (2 * gamma) * products;
}

// Products in series from the embedding to the logits: q/k/v, o, gate/up and down in each
// block, then the LM head; a LoRA projection adds a second product (x A^T, then B) to each.
static int products_to_logits(const LlamaConfig *cfg, bool lora) {
    return 4 * cfg->n_layers * (lora ? 2 : 1) + 1;
}

// --- packing and hidden-state indices --------------------------------------------------------

static void test_packing(void) {
    LlamaModel m;
    model_init(&m, cpu, false, 11);
    const LlamaConfig *cfg = &m.cfg;
    int V = cfg->vocab_size, d = cfg->dim, lens[3] = {5, 9, 3}, T = 17, n_cap = 3;
    TokenBatch batch = {3, lens, random_tokens(T, V)};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 3,
                          .max_seq_len = 9,
                          .outputs = {.n_capture = n_cap,
                                      .layers = {0, 2, -1},
                                      .capture_at = CAPTURE_ALL_TOKENS,
                                      .logits = true}};
    LlamaWorkspace *ws = workspace(&m, plan);
    forward(&m, ws, &batch);
    float *logits = download(cpu, llama_logits(ws), (size_t)T * V);
    float *captured = download(cpu, llama_captured(ws), (size_t)T * n_cap * d);

    // Each sequence alone, through the same workspace.
    double tolerance = order_tolerance(cfg, products_to_logits(cfg, false));
    for (int s = 0, start = 0; s < 3; start += lens[s], s++) {
        TokenBatch alone = {1, &lens[s], batch.tokens + start};
        forward(&m, ws, &alone);
        char what[96];
        snprintf(what, sizeof what, "packing: logits of sequence %d alone vs in the batch", s);
        check_against_reference(what, download(cpu, llama_logits(ws), (size_t)lens[s] * V),
                                logits + (size_t)start * V, (size_t)lens[s] * V, tolerance);
        snprintf(what, sizeof what, "packing: hidden states of sequence %d alone vs batch", s);
        check_against_reference(
            what, download(cpu, llama_captured(ws), (size_t)lens[s] * n_cap * d),
            captured + (size_t)start * n_cap * d, (size_t)lens[s] * n_cap * d, tolerance);
    }

    // Last-token capture is the last row of each sequence of the all-token capture.
    plan.outputs.capture_at = CAPTURE_LAST_TOKEN;
    LlamaWorkspace *last_ws = workspace(&m, plan);
    forward(&m, last_ws, &batch);
    float *last = download(cpu, llama_captured(last_ws), (size_t)3 * n_cap * d);
    bool same = true;
    for (int s = 0, end = 0; s < 3; s++) {
        end += lens[s];
        same &= identical(last + (size_t)s * n_cap * d, captured + (size_t)(end - 1) * n_cap * d,
                          (size_t)n_cap * d);
    }
    CHECK(same, "last-token capture differs from the last rows of the all-token capture");

    // Index 0 is the embedding: the table's rows, exactly.
    float *embed = download(cpu, m.w.embed, (size_t)V * d);
    same = true;
    for (int t = 0; t < T; t++)
        same &= identical(captured + (size_t)t * n_cap * d, embed + (size_t)batch.tokens[t] * d,
                          (size_t)d);
    CHECK(same, "hidden state 0 is not the embedding of the tokens");

    // The last index is after the final norm (unit weights: every row has RMS 1), and the
    // logits are its rows times the LM head.
    float *lm_head = download(cpu, m.w.lm_head, (size_t)V * d);
    float *want = new_array((size_t)T * V, sizeof *want);
    double worst_rms = 0;
    for (int t = 0; t < T; t++) {
        const float *h = captured + ((size_t)t * n_cap + 2) * d;
        double ms = 0;
        for (int i = 0; i < d; i++) ms += (double)h[i] * h[i] / d;
        worst_rms = fmax(worst_rms, fabs(sqrt(ms) - 1));
        for (int v = 0; v < V; v++) {
            double sum = 0;
            for (int i = 0; i < d; i++) sum += (double)h[i] * lm_head[(size_t)v * d + i];
            want[(size_t)t * V + v] = (float)sum;
        }
    }
    CHECK(worst_rms < 1e-4, "hidden state -1 is not normalised: RMS off by %g", worst_rms);
    check_close("logits = hidden state -1 times lm_head", logits, want, (size_t)T * V, 1e-5, 1e-5);

    // A plan that needs only hidden state 2 (2 blocks) captures the same state.
    WorkspacePlan shallow = {
        .max_tokens = T,
        .max_seqs = 3,
        .max_seq_len = 9,
        .outputs = {.n_capture = 1, .layers = {2}, .capture_at = CAPTURE_ALL_TOKENS}};
    LlamaWorkspace *shallow_ws = workspace(&m, shallow);
    forward(&m, shallow_ws, &batch);
    float *state2 = download(cpu, llama_captured(shallow_ws), (size_t)T * d);
    same = true;
    for (int t = 0; t < T; t++)
        same &=
            identical(state2 + (size_t)t * d, captured + ((size_t)t * n_cap + 1) * d, (size_t)d);
    CHECK(same, "hidden state 2 differs between a 2-block and a full forward");

    llama_workspace_free(shallow_ws);
    llama_workspace_free(last_ws);
    llama_workspace_free(ws);
    llama_free(&m);
    release_arrays();
}

// --- KV-cache decoding -----------------------------------------------------------------------

enum { DECODE_STEPS = 8 };

// Greedy decoding of a ragged batch of prompts, DECODE_STEPS tokens. At every step k the
// logits that chose token k (left in the workspace by a generation of k tokens) must be those
// of a full forward over the prompt and the k-1 tokens before.
static void check_decoding(LlamaModel *m, const char *label) {
    int V = m->cfg.vocab_size, lens[3] = {4, 7, 2}, n_prompt = 13, longest = 7;
    TokenBatch prompts = {3, lens, random_tokens(n_prompt, V)};
    WorkspacePlan gen_plan = {.max_tokens = n_prompt,
                              .max_seqs = 3,
                              .max_seq_len = longest + DECODE_STEPS,
                              .outputs = {.logits = true},
                              .kv_slots = 3};
    WorkspacePlan full_plan = {.max_tokens = n_prompt + 3 * DECODE_STEPS,
                               .max_seqs = 3,
                               .max_seq_len = longest + DECODE_STEPS,
                               .outputs = {.logits = true}};
    LlamaWorkspace *gen_ws = workspace(m, gen_plan), *full_ws = workspace(m, full_plan);
    GenerateOptions opt = {.max_new_tokens = DECODE_STEPS, .temperature = 0, .top_p = 1};
    int final[3 * DECODE_STEPS], final_len[3], out[3 * DECODE_STEPS], out_len[3];
    generate(m, gen_ws, &prompts, &opt, final, final_len);
    CHECK(final_len[0] == DECODE_STEPS && final_len[1] == DECODE_STEPS &&
              final_len[2] == DECODE_STEPS,
          "%s: without stop tokens every sequence gets %d tokens", label, DECODE_STEPS);

    double worst = 0, tolerance = order_tolerance(&m->cfg, products_to_logits(&m->cfg, m->lora));
    bool prefixes = true;
    for (int k = 1; k <= DECODE_STEPS; k++) {
        opt.max_new_tokens = k;
        generate(m, gen_ws, &prompts, &opt, out, out_len);
        float *step_logits = download(m->be, llama_logits(gen_ws), (size_t)3 * V);
        int seq_len[3], *tokens = new_array((size_t)n_prompt + 3 * k, sizeof *tokens), T = 0;
        for (int s = 0, p = 0; s < 3; p += lens[s], s++) {
            prefixes &= out_len[s] == k &&
                        !memcmp(out + s * k, final + s * DECODE_STEPS, (size_t)k * sizeof *out);
            seq_len[s] = lens[s] + k - 1;
            memcpy(tokens + T, prompts.tokens + p, (size_t)lens[s] * sizeof *tokens);
            memcpy(tokens + T + lens[s], final + s * DECODE_STEPS,
                   (size_t)(k - 1) * sizeof *tokens);
            T += seq_len[s];
        }
        TokenBatch full = {3, seq_len, tokens};
        forward(m, full_ws, &full);
        float *logits = download(m->be, llama_logits(full_ws), (size_t)T * V);
        for (int s = 0, end = 0; s < 3; s++) {
            end += seq_len[s];
            const float *want = logits + (size_t)(end - 1) * V;
            double largest = 0;
            for (int v = 0; v < V; v++) largest = fmax(largest, fabs(want[v]));
            worst = fmax(worst, check_worst_ratio(step_logits + (size_t)s * V, want, (size_t)V,
                                                  tolerance * largest, tolerance, NULL));
        }
    }
    CHECK(prefixes, "%s: a shorter generation is not a prefix of a longer one", label);
    printf("%-60s worst error / tolerance %.4f\n", label, worst);
    CHECK(worst <= 1, "%s: cached decoding differs from full forwards", label);

    // A stop token ends a sequence, and is part of its output.
    int stop = final[2];
    opt = (GenerateOptions){
        .max_new_tokens = DECODE_STEPS, .top_p = 1, .stop_tokens = &stop, .n_stop = 1};
    generate(m, gen_ws, &prompts, &opt, out, out_len);
    bool stops = true;
    for (int s = 0; s < 3; s++) {
        int want = DECODE_STEPS;
        for (int i = DECODE_STEPS - 1; i >= 0; i--)
            if (final[s * DECODE_STEPS + i] == stop) want = i + 1;
        stops &= out_len[s] == want && !memcmp(out + s * DECODE_STEPS, final + s * DECODE_STEPS,
                                               (size_t)want * sizeof *out);
    }
    CHECK(stops, "%s: stop tokens do not end sequences where they appear", label);
    CHECK(out_len[0] <= 3, "%s: sequence 0 goes on past its stop token", label);

    llama_workspace_free(full_ws);
    llama_workspace_free(gen_ws);
}

static void test_decoding(void) {
    LlamaModel m;
    model_init(&m, cpu, true, 21);
    check_decoding(&m, "KV-cache decoding vs full forwards");
    bool layers[3] = {true, false, true};
    Lora *lora = attach_lora(&m, (1u << PROJ_COUNT) - 1, layers);
    check_decoding(&m, "KV-cache decoding vs full forwards, with LoRA");
    m.lora = NULL;
    lora_free(lora, cpu);
    llama_free(&m);
    release_arrays();
}

// --- LoRA ------------------------------------------------------------------------------------

static void test_lora_identity(void) {
    LlamaModel m;
    model_init(&m, cpu, false, 31);
    int V = m.cfg.vocab_size, d = m.cfg.dim, lens[2] = {6, 4}, T = 10;
    TokenBatch batch = {2, lens, random_tokens(T, V)};
    WorkspacePlan plan = {
        .max_tokens = T,
        .max_seqs = 2,
        .max_seq_len = 6,
        .outputs = {
            .n_capture = 2, .layers = {1, -1}, .capture_at = CAPTURE_ALL_TOKENS, .logits = true}};
    size_t n_logits = (size_t)T * V, n_captured = (size_t)T * 2 * d;
    LlamaWorkspace *base_ws = workspace(&m, plan);
    forward(&m, base_ws, &batch);
    float *logits = download(cpu, llama_logits(base_ws), n_logits);
    float *captured = download(cpu, llama_captured(base_ws), n_captured);

    // A fresh adapter (B = 0) on blocks 1 and 2: nothing changes, bit for bit.
    bool layers[3] = {false, true, true};
    Lora *lora = lora_create(&m.cfg, cpu, (1u << PROJ_COUNT) - 1, layers, 4, 8.0f);
    assert(lora);
    CHECK(lora_init(lora, &m.cfg, cpu, 5) == 0, "lora_init");
    m.lora = lora;
    LlamaWorkspace *ws = workspace(&m, plan);
    forward(&m, ws, &batch);
    CHECK(identical(download(cpu, llama_logits(ws), n_logits), logits, n_logits),
          "LoRA with B = 0 changes the logits");
    CHECK(identical(download(cpu, llama_captured(ws), n_captured), captured, n_captured),
          "LoRA with B = 0 changes the hidden states");

    // Random B changes what comes after block 1, and nothing before it.
    for (int l = 1; l < 3; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(&m.cfg, p, &out, &in);
            upload_random(cpu, lora_B(lora, &m.cfg, l, p), (size_t)out * lora->rank, 0.2f);
        }
    forward(&m, ws, &batch);
    float *adapted_logits = download(cpu, llama_logits(ws), n_logits);
    float *adapted = download(cpu, llama_captured(ws), n_captured);
    bool below_same = true;
    double above_change = 0;
    for (int t = 0; t < T; t++) {
        below_same &=
            identical(adapted + (size_t)t * 2 * d, captured + (size_t)t * 2 * d, (size_t)d);
        above_change =
            fmax(above_change, max_difference(adapted + ((size_t)t * 2 + 1) * d,
                                              captured + ((size_t)t * 2 + 1) * d, (size_t)d));
    }
    CHECK(below_same, "a LoRA on blocks 1 and 2 changes hidden state 1");
    CHECK(above_change > 1e-2, "a nonzero LoRA leaves the last hidden state unchanged (%g)",
          above_change);
    CHECK(max_difference(adapted_logits, logits, n_logits) > 1e-2,
          "a nonzero LoRA leaves the logits unchanged");

    // The workspace planned without the adapter refuses it; detached, the model is the base.
    CHECK(llama_forward(&m, base_ws, &batch) != 0 && strstr(llama_workspace_error(base_ws), "LoRA"),
          "a workspace planned without LoRA runs a model that carries one");
    m.lora = NULL;
    forward(&m, ws, &batch);
    CHECK(identical(download(cpu, llama_logits(ws), n_logits), logits, n_logits),
          "a detached adapter still changes the logits");

    llama_workspace_free(ws);
    llama_workspace_free(base_ws);
    lora_free(lora, cpu);
    llama_free(&m);
    release_arrays();
}

// --- gradients against finite differences ----------------------------------------------------

// A loss of the model's current weights through a fresh forward, in double precision: the mean
// next-token cross-entropy over targets (when set) plus sum(R * captured) (when R is set).
typedef struct {
    LlamaModel *m;
    LlamaWorkspace *ws;
    const TokenBatch *batch;
    int T;
    const int *targets; // [T] or NULL
    const float *R;     // [n_captured] or NULL
    size_t n_captured;
    float *scratch; // host, [max(T * vocab, n_captured)]
} Loss;

static double cross_entropy_reference(const float *logits, const int *targets, int T, int V) {
    double sum = 0;
    int counted = 0;
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        const float *row = logits + (size_t)t * V;
        double max = row[0], exps = 0;
        for (int v = 1; v < V; v++) max = fmax(max, row[v]);
        for (int v = 0; v < V; v++) exps += exp(row[v] - max);
        sum += max + log(exps) - row[targets[t]];
        counted++;
    }
    return sum / counted;
}

static double evaluate(const Loss *loss) {
    Backend *be = loss->m->be;
    int V = loss->m->cfg.vocab_size;
    forward(loss->m, loss->ws, loss->batch);
    double value = 0;
    if (loss->targets) {
        be->to_host(be, loss->scratch, llama_logits(loss->ws), (size_t)loss->T * V * sizeof(float));
        value += cross_entropy_reference(loss->scratch, loss->targets, loss->T, V);
    }
    if (loss->R) {
        be->to_host(be, loss->scratch, llama_captured(loss->ws), loss->n_captured * sizeof(float));
        for (size_t i = 0; i < loss->n_captured; i++)
            value += (double)loss->R[i] * loss->scratch[i];
    }
    return value;
}

// Finite-difference step for weights of about unit scale and below.
#define FD_STEP 1e-2f

// Compares the gradient at entries idx[n] of one tensor (offsets into the parameter group
// params, backend memory; grads is the host copy of its gradients, same layout) with central
// differences of the loss. The tolerance, 1% of the tensor's largest difference plus 1%
// relative, allows for the noise of fp32 forwards. Returns the worst error / tolerance.
static double check_entries(const char *name, const Loss *loss, float *params, const float *grads,
                            const size_t *idx, int n) {
    Backend *be = loss->m->be;
    float numeric[8], analytic[8], scale = 0;
    assert(n <= 8);
    for (int i = 0; i < n; i++) {
        float saved, up, down;
        be->to_host(be, &saved, params + idx[i], sizeof saved);
        up = saved + FD_STEP;
        down = saved - FD_STEP;
        be->to_device(be, params + idx[i], &up, sizeof up);
        double loss_up = evaluate(loss);
        be->to_device(be, params + idx[i], &down, sizeof down);
        double loss_down = evaluate(loss);
        be->to_device(be, params + idx[i], &saved, sizeof saved);
        numeric[i] = (float)((loss_up - loss_down) / ((double)up - (double)down));
        analytic[i] = grads[idx[i]];
        scale = fmaxf(scale, fabsf(numeric[i]));
    }
    size_t at;
    double ratio = check_worst_ratio(analytic, numeric, (size_t)n, 1e-2 * scale, 1e-2, &at);
    CHECK(scale > 0, "%s: the loss does not depend on the entries tried", name);
    CHECK(ratio <= 1, "%s: gradient %.6g, finite differences %.6g", name, analytic[at],
          numeric[at]);
    return ratio;
}

static size_t random_below(size_t n) {
    return (size_t)(rng_next(&rng) % n);
}

// LoRA gradients on blocks 0 and 2 (block 1 between them has none) for q, v, o, gate, down,
// from loss = sum(R * captured) with last-token states 2 and -1 (after the final norm).
static void test_lora_gradients(void) {
    LlamaModel m;
    model_init(&m, cpu, false, 41);
    int V = m.cfg.vocab_size, d = m.cfg.dim, lens[2] = {5, 3}, T = 8;
    TokenBatch batch = {2, lens, random_tokens(T, V)};
    bool layers[3] = {true, false, true};
    unsigned targets =
        1u << PROJ_Q | 1u << PROJ_V | 1u << PROJ_O | 1u << PROJ_GATE | 1u << PROJ_DOWN;
    Lora *lora = attach_lora(&m, targets, layers);
    WorkspacePlan plan = {
        .max_tokens = T,
        .max_seqs = 2,
        .max_seq_len = 5,
        .outputs = {.n_capture = 2, .layers = {2, -1}, .capture_at = CAPTURE_LAST_TOKEN},
        .backward = BACKWARD_LORA};
    LlamaWorkspace *ws = workspace(&m, plan);
    size_t n = (size_t)2 * 2 * d;
    float *R = random_floats(&rng, n, 1);
    forward(&m, ws, &batch);
    cpu->to_device(cpu, llama_captured_grad(ws), R, n * sizeof *R);
    cpu->zero(cpu, lora->grads, lora->n_params * sizeof(float));
    BackwardSources src = {.from_captured = true};
    CHECK(llama_backward(&m, ws, &src, NULL) == 0, "LoRA backward: %s", llama_workspace_error(ws));
    float *grads = download(cpu, lora->grads, lora->n_params);

    Loss loss = {&m, ws, &batch, T, NULL, R, n, new_array(n, sizeof(float))};
    double worst = 0;
    int tensors = 0;
    for (int l = 0; l < m.cfg.n_layers; l++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, l, p)) continue;
            int out, in;
            projection_shape(&m.cfg, p, &out, &in);
            size_t a = (size_t)(lora_A(lora, l, p) - lora->params);
            size_t b = (size_t)(lora_B(lora, &m.cfg, l, p) - lora->params);
            size_t idx_a[3], idx_b[3];
            for (int i = 0; i < 3; i++) {
                idx_a[i] = a + random_below((size_t)lora->rank * in);
                idx_b[i] = b + random_below((size_t)out * lora->rank);
            }
            char name[64];
            snprintf(name, sizeof name, "LoRA layer %d %s A", l, projection_name((Projection)p));
            worst = fmax(worst, check_entries(name, &loss, lora->params, grads, idx_a, 3));
            snprintf(name, sizeof name, "LoRA layer %d %s B", l, projection_name((Projection)p));
            worst = fmax(worst, check_entries(name, &loss, lora->params, grads, idx_b, 3));
            tensors += 2;
        }
    printf("%-60s worst error / tolerance %.4f\n", "LoRA gradients vs finite differences", worst);
    CHECK(tensors == 20, "expected 10 adapted projections, found %d", tensors / 2);

    llama_workspace_free(ws);
    m.lora = NULL;
    lora_free(lora, cpu);
    llama_free(&m);
    release_arrays();
}

// A weight tensor: its name and where it lies in the parameter group.
typedef struct {
    char name[48];
    size_t offset, size;
} Tensor;

static Tensor tensor(const LlamaWeights *w, const float *view, size_t size, int layer,
                     const char *what) {
    Tensor t = {.offset = (size_t)(view - w->memory), .size = size};
    if (layer < 0)
        snprintf(t.name, sizeof t.name, "%s", what);
    else
        snprintf(t.name, sizeof t.name, "layer %d %s", layer, what);
    return t;
}

// Every weight tensor of the model (the embedding at rows the batch uses) against finite
// differences of the mean next-token cross-entropy; with captured set, plus sum(R * captured)
// of the states 0 (the embedding) and 2 at every token, injected in the middle of backward.
static void check_full_gradients(bool tied, bool captured) {
    LlamaModel m;
    model_init(&m, cpu, tied, tied ? 51 : 52);
    CHECK(llama_alloc_grads(&m) == 0, "llama_alloc_grads failed");
    const LlamaConfig *cfg = &m.cfg;
    int V = cfg->vocab_size, d = cfg->dim, lens[2] = {6, 4}, T = 10;
    TokenBatch batch = {2, lens, random_tokens(T, V)};
    int *targets = next_token_targets(&batch);
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 2,
                          .max_seq_len = 6,
                          .outputs = {.logits = true},
                          .backward = BACKWARD_FULL};
    if (captured)
        plan.outputs = (LlamaOutputs){
            .n_capture = 2, .layers = {0, 2}, .capture_at = CAPTURE_ALL_TOKENS, .logits = true};
    size_t n_captured = (size_t)T * plan.outputs.n_capture * d;
    float *R = captured ? random_floats(&rng, n_captured, 0.1f) : NULL;
    LlamaWorkspace *ws = workspace(&m, plan);
    forward(&m, ws, &batch);
    if (R) cpu->to_device(cpu, llama_captured_grad(ws), R, n_captured * sizeof *R);
    cpu->zero(cpu, m.grad.memory, m.grad.n_floats * sizeof(float));
    BackwardSources src = {.from_captured = captured, .targets = targets};
    double cross_entropy = -1;
    CHECK(llama_backward(&m, ws, &src, &cross_entropy) == 0, "full backward: %s",
          llama_workspace_error(ws));
    float *grads = download(cpu, m.grad.memory, m.grad.n_floats);

    Loss loss = {&m,      ws,   &batch, T,
                 targets, NULL, 0,      new_array((size_t)T * V + n_captured, sizeof(float))};
    double reference = evaluate(&loss);
    CHECK(fabs(cross_entropy - reference) <= 1e-5 * reference,
          "cross-entropy loss %.9g, reference %.9g", cross_entropy, reference);
    loss.R = R;
    loss.n_captured = n_captured;

    Tensor tensors[3 + 9 * 3];
    int n_tensors = 0;
    const LlamaWeights *w = &m.w;
    for (int l = 0; l < cfg->n_layers; l++) {
        tensors[n_tensors++] = tensor(w, w->blocks[l].attn_norm, (size_t)d, l, "input_layernorm");
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(cfg, p, &out, &in);
            tensors[n_tensors++] = tensor(w, w->blocks[l].proj[p], (size_t)out * in, l,
                                          projection_name((Projection)p));
        }
        tensors[n_tensors++] =
            tensor(w, w->blocks[l].mlp_norm, (size_t)d, l, "post_attention_layernorm");
    }
    tensors[n_tensors++] = tensor(w, w->final_norm, (size_t)d, -1, "final norm");
    if (!tied) tensors[n_tensors++] = tensor(w, w->lm_head, (size_t)V * d, -1, "lm_head");

    double worst = 0;
    for (int i = 0; i < n_tensors; i++) {
        size_t idx[3];
        for (int k = 0; k < 3; k++) idx[k] = tensors[i].offset + random_below(tensors[i].size);
        worst = fmax(worst, check_entries(tensors[i].name, &loss, m.w.memory, grads, idx, 3));
    }
    // Embedding rows of tokens in the batch (tied, the LM head adds to every row).
    size_t idx[6];
    for (int k = 0; k < 6; k++)
        idx[k] = (size_t)batch.tokens[random_below((size_t)T)] * d + random_below((size_t)d);
    worst = fmax(worst, check_entries("embed_tokens", &loss, m.w.memory, grads, idx, 6));

    char what[96];
    snprintf(what, sizeof what, "full gradients vs finite differences, %s%s",
             tied ? "tied" : "untied", captured ? ", + captured states" : "");
    printf("%-60s worst error / tolerance %.4f\n", what, worst);
    llama_workspace_free(ws);
    llama_free(&m);
    release_arrays();
}

static void test_full_gradients(void) {
    check_full_gradients(false, false);
    check_full_gradients(true, true);
}

// --- work only where the loss lives ----------------------------------------------------------

// A backend that counts what the model asks of the CPU backend: gemm work, and calls made once
// per block run (attention forward), per block visited backward (attention backward) and per
// backward that reaches the embedding. It copies the CPU backend's table, whose ops read
// nothing of it but the thread count, and passes every counted call on to the CPU backend.
static struct {
    Backend table;
    double gemm_flops;
    int attention_forward, attention_backward, embedding_backward;
} counter;

static void counting_gemm(Backend *be, bool trans_a, bool trans_b, int M, int N, int K, float alpha,
                          const float *A, int lda, const float *B, int ldb, float beta, float *C,
                          int ldc) {
    (void)be;
    counter.gemm_flops += 2.0 * M * N * K;
    cpu->gemm(cpu, trans_a, trans_b, M, N, K, alpha, A, lda, B, ldb, beta, C, ldc);
}

static void counting_attention_forward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                       const int *pos, const float *q, const float *k,
                                       const float *v, float *out, float *probs) {
    (void)be;
    counter.attention_forward++;
    cpu->attention_forward(cpu, T, Hq, Hkv, hd, max_len, pos, q, k, v, out, probs);
}

static void counting_attention_backward(Backend *be, int T, int Hq, int Hkv, int hd, int max_len,
                                        const int *pos, const float *q, const float *k,
                                        const float *v, const float *probs, const float *dout,
                                        float *dscores, float *dq, float *dk, float *dv) {
    (void)be;
    counter.attention_backward++;
    cpu->attention_backward(cpu, T, Hq, Hkv, hd, max_len, pos, q, k, v, probs, dout, dscores, dq,
                            dk, dv);
}

static void counting_embedding_backward(Backend *be, int T, int d, const int *tokens,
                                        const float *dout, float *dtable) {
    (void)be;
    counter.embedding_backward++;
    cpu->embedding_backward(cpu, T, d, tokens, dout, dtable);
}

static void counter_reset(void) {
    counter.gemm_flops = 0;
    counter.attention_forward = counter.attention_backward = counter.embedding_backward = 0;
}

// 2 * T * (in + out) * rank per adapted projection of block layer: the LoRA part of a forward.
static double lora_flops(const Lora *lora, const LlamaConfig *cfg, int layer, int T) {
    double flops = 0;
    for (int p = 0; p < PROJ_COUNT; p++) {
        if (!lora_A(lora, layer, p)) continue;
        int out, in;
        projection_shape(cfg, p, &out, &in);
        flops += 2.0 * T * (in + out) * lora->rank;
    }
    return flops;
}

// A model on the CPU backend whose gemm, attention and embedding-backward calls are counted.
static void counting_model_init(LlamaModel *m, uint64_t seed) {
    counter.table = *cpu;
    counter.table.gemm = counting_gemm;
    counter.table.attention_forward = counting_attention_forward;
    counter.table.attention_backward = counting_attention_backward;
    counter.table.embedding_backward = counting_embedding_backward;
    model_init(m, &counter.table, false, seed);
}

static void test_work_range(void) {
    LlamaModel m;
    counting_model_init(&m, 71);
    const LlamaConfig *cfg = &m.cfg;
    int lens[2] = {6, 4}, T = 10;
    TokenBatch batch = {2, lens, random_tokens(T, cfg->vocab_size)};
    // Per block: attention (not a gemm here) and the projections.
    double attention = 4.0 * (6 * 7 / 2 + 4 * 5 / 2) * cfg->n_heads * cfg->head_dim;
    double projections = llama_forward_flops(cfg, &batch, 1, false) - attention;
    WorkspacePlan plan = {.max_tokens = T, .max_seqs = 2, .max_seq_len = 6};

    // Logits: every block and the LM head, as llama_forward_flops counts them.
    plan.outputs = (LlamaOutputs){.logits = true};
    LlamaWorkspace *ws = workspace(&m, plan);
    counter_reset();
    forward(&m, ws, &batch);
    CHECK(counter.attention_forward == 3, "a logits forward ran %d blocks, not 3",
          counter.attention_forward);
    CHECK(counter.gemm_flops == llama_forward_flops(cfg, &batch, 3, true) - 3 * attention,
          "a logits forward did %.0f gemm FLOPs, llama_forward_flops says %.0f", counter.gemm_flops,
          llama_forward_flops(cfg, &batch, 3, true) - 3 * attention);
    llama_workspace_free(ws);

    // Hidden state 2 needs blocks 0 and 1 and no LM head; state 0 needs no block.
    plan.outputs = (LlamaOutputs){.n_capture = 1, .layers = {2}};
    ws = workspace(&m, plan);
    counter_reset();
    forward(&m, ws, &batch);
    CHECK(counter.attention_forward == 2 && counter.gemm_flops == 2 * projections,
          "capturing state 2 ran %d blocks and %.0f gemm FLOPs, not 2 and %.0f",
          counter.attention_forward, counter.gemm_flops, 2 * projections);
    llama_workspace_free(ws);
    plan.outputs.layers[0] = 0;
    ws = workspace(&m, plan);
    counter_reset();
    forward(&m, ws, &batch);
    CHECK(counter.attention_forward == 0 && counter.gemm_flops == 0,
          "capturing state 0 ran %d blocks", counter.attention_forward);
    llama_workspace_free(ws);

    // LoRA on block 1 only, capture state 2: backward visits block 1 alone and computes no
    // weight gradient. Its gemm work is then below one block's projections plus the LoRA
    // terms; a weight gradient or a visit to block 0 would each add a block's projections.
    bool layers[3] = {false, true, false};
    Lora *lora = attach_lora(&m, (1u << PROJ_COUNT) - 1, layers);
    plan.outputs.layers[0] = 2;
    plan.backward = BACKWARD_LORA;
    ws = workspace(&m, plan);
    counter_reset();
    forward(&m, ws, &batch);
    CHECK(counter.attention_forward == 2, "the LoRA forward ran %d blocks, not 2",
          counter.attention_forward);
    counter_reset();
    cpu->zero(cpu, llama_captured_grad(ws), (size_t)2 * cfg->dim * sizeof(float));
    BackwardSources from_captured = {.from_captured = true};
    CHECK(llama_backward(&m, ws, &from_captured, NULL) == 0, "LoRA backward: %s",
          llama_workspace_error(ws));
    double bound = projections + 4 * lora_flops(lora, cfg, 1, T);
    CHECK(counter.attention_backward == 1 && counter.embedding_backward == 0,
          "LoRA backward visited %d blocks and %d embeddings, not 1 and 0",
          counter.attention_backward, counter.embedding_backward);
    CHECK(counter.gemm_flops > 0 && counter.gemm_flops < bound,
          "LoRA backward did %.0f gemm FLOPs, more than %.0f", counter.gemm_flops, bound);
    size_t bytes_from_block_1 = llama_workspace_bytes(ws);
    llama_workspace_free(ws);
    m.lora = NULL;
    lora_free(lora, cpu);

    // Activations are kept only for the blocks backward visits.
    layers[0] = true;
    lora = attach_lora(&m, (1u << PROJ_COUNT) - 1, layers);
    ws = workspace(&m, plan);
    CHECK(llama_workspace_bytes(ws) > bytes_from_block_1,
          "a LoRA from block 0 keeps no more activations than one from block 1");
    counter_reset();
    forward(&m, ws, &batch);
    CHECK(llama_backward(&m, ws, &from_captured, NULL) == 0, "LoRA backward: %s",
          llama_workspace_error(ws));
    CHECK(counter.attention_backward == 2 && counter.embedding_backward == 0,
          "LoRA backward from block 0 visited %d blocks and %d embeddings, not 2 and 0",
          counter.attention_backward, counter.embedding_backward);
    llama_workspace_free(ws);
    m.lora = NULL;
    lora_free(lora, cpu);

    // Full backward from state 2: blocks 1 and 0, then the embedding.
    CHECK(llama_alloc_grads(&m) == 0, "llama_alloc_grads failed");
    plan.backward = BACKWARD_FULL;
    ws = workspace(&m, plan);
    forward(&m, ws, &batch);
    counter_reset();
    CHECK(llama_backward(&m, ws, &from_captured, NULL) == 0, "full backward: %s",
          llama_workspace_error(ws));
    CHECK(counter.attention_backward == 2 && counter.embedding_backward == 1,
          "full backward from state 2 visited %d blocks and %d embeddings, not 2 and 1",
          counter.attention_backward, counter.embedding_backward);
    llama_workspace_free(ws);
    llama_free(&m);
    release_arrays();
}

// Blocks below the lowest LoRA block run once: llama_forward_from block 1, given hidden state 1
// of every token (captured by a forward of its own), captures state 3 and gives LoRA gradients
// bit for bit as a whole forward does, running one block fewer. Starting above the lowest LoRA
// block or above a captured state is refused.
static void test_forward_from(void) {
    LlamaModel m;
    counting_model_init(&m, 91);
    const LlamaConfig *cfg = &m.cfg;
    int lens[3] = {7, 3, 5}, T = 15, d = cfg->dim;
    TokenBatch batch = {3, lens, random_tokens(T, cfg->vocab_size)};
    bool layers[3] = {false, true, true};
    Lora *lora = attach_lora(&m, (1u << PROJ_COUNT) - 1, layers);
    WorkspacePlan plan = {.max_tokens = T, .max_seqs = 3, .max_seq_len = 7};

    plan.outputs = (LlamaOutputs){.n_capture = 1, .layers = {1}, .capture_at = CAPTURE_ALL_TOKENS};
    LlamaWorkspace *prefix_ws = workspace(&m, plan);
    forward(&m, prefix_ws, &batch);
    float *prefix = llama_captured(prefix_ws); // [T, dim] hidden state 1 of every token

    plan.outputs = (LlamaOutputs){.n_capture = 1, .layers = {3}};
    plan.backward = BACKWARD_LORA;
    LlamaWorkspace *ws = workspace(&m, plan);
    float *grad_in = random_floats(&rng, (size_t)3 * d, 1.0f);
    BackwardSources from_captured = {.from_captured = true};
    float *captured[2], *grads[2];
    int blocks[2];
    for (int run = 0; run < 2; run++) {
        counter_reset();
        int rc =
            run ? llama_forward_from(&m, ws, &batch, 1, prefix) : llama_forward(&m, ws, &batch);
        CHECK(rc == 0, "forward from block %d: %s", run, llama_workspace_error(ws));
        blocks[run] = counter.attention_forward;
        captured[run] = download(cpu, llama_captured(ws), (size_t)3 * d);
        cpu->to_device(cpu, llama_captured_grad(ws), grad_in, (size_t)3 * d * sizeof(float));
        cpu->zero(cpu, lora->grads, lora->n_params * sizeof(float));
        CHECK(llama_backward(&m, ws, &from_captured, NULL) == 0, "backward: %s",
              llama_workspace_error(ws));
        grads[run] = download(cpu, lora->grads, lora->n_params);
    }
    CHECK(blocks[0] == 3 && blocks[1] == 2, "blocks run: %d whole, %d from block 1", blocks[0],
          blocks[1]);
    CHECK(identical(captured[0], captured[1], (size_t)3 * d),
          "state 3 from block 1 differs from the whole forward's by %.3g",
          max_difference(captured[0], captured[1], (size_t)3 * d));
    CHECK(identical(grads[0], grads[1], lora->n_params),
          "LoRA gradients from block 1 differ by %.3g",
          max_difference(grads[0], grads[1], lora->n_params));
    CHECK(llama_forward_from(&m, ws, &batch, 2, prefix) != 0 &&
              strstr(llama_workspace_error(ws), "lowest block"),
          "a start above the lowest LoRA block is refused: %s", llama_workspace_error(ws));
    llama_workspace_free(ws);
    plan.outputs = (LlamaOutputs){.n_capture = 2, .layers = {1, 3}};
    plan.backward = BACKWARD_NONE;
    ws = workspace(&m, plan);
    CHECK(llama_forward_from(&m, ws, &batch, 2, prefix) != 0 &&
              strstr(llama_workspace_error(ws), "cannot capture hidden state 1"),
          "a start above a captured state is refused: %s", llama_workspace_error(ws));
    llama_workspace_free(ws);
    llama_workspace_free(prefix_ws);
    m.lora = NULL;
    lora_free(lora, cpu);
    llama_free(&m);
    release_arrays();
}

// --- determinism and sampling ----------------------------------------------------------------

// Full and LoRA gradients from targets and captured states at once, twice: the same bits.
static void test_determinism(void) {
    LlamaModel m;
    model_init(&m, cpu, false, 81);
    CHECK(llama_alloc_grads(&m) == 0, "llama_alloc_grads failed");
    bool layers[3] = {true, true, true};
    Lora *lora = attach_lora(&m, (1u << PROJ_COUNT) - 1, layers);
    int V = m.cfg.vocab_size, d = m.cfg.dim, lens[2] = {7, 5}, T = 12;
    TokenBatch batch = {2, lens, random_tokens(T, V)};
    WorkspacePlan plan = {.max_tokens = T,
                          .max_seqs = 2,
                          .max_seq_len = 7,
                          .outputs = {.n_capture = 2,
                                      .layers = {1, -1},
                                      .capture_at = CAPTURE_LAST_TOKEN,
                                      .logits = true},
                          .backward = BACKWARD_FULL};
    LlamaWorkspace *ws = workspace(&m, plan);
    size_t n_captured = (size_t)2 * 2 * d;
    float *R = random_floats(&rng, n_captured, 1);
    BackwardSources src = {.from_captured = true, .targets = next_token_targets(&batch)};
    float *grads[2], *lora_grads[2], *logits[2];
    double loss[2];
    for (int run = 0; run < 2; run++) {
        cpu->zero(cpu, m.grad.memory, m.grad.n_floats * sizeof(float));
        cpu->zero(cpu, lora->grads, lora->n_params * sizeof(float));
        forward(&m, ws, &batch);
        cpu->to_device(cpu, llama_captured_grad(ws), R, n_captured * sizeof *R);
        CHECK(llama_backward(&m, ws, &src, &loss[run]) == 0, "backward: %s",
              llama_workspace_error(ws));
        grads[run] = download(cpu, m.grad.memory, m.grad.n_floats);
        lora_grads[run] = download(cpu, lora->grads, lora->n_params);
        logits[run] = download(cpu, llama_logits(ws), (size_t)T * V);
    }
    CHECK(identical(logits[0], logits[1], (size_t)T * V), "two forwards differ");
    CHECK(loss[0] == loss[1], "two losses differ: %.9g, %.9g", loss[0], loss[1]);
    CHECK(identical(grads[0], grads[1], m.grad.n_floats), "two full backwards differ");
    CHECK(identical(lora_grads[0], lora_grads[1], lora->n_params), "two LoRA backwards differ");
    llama_workspace_free(ws);
    m.lora = NULL;
    lora_free(lora, cpu);
    llama_free(&m);
    release_arrays();
}

static void test_sampled_generation(void) {
    LlamaModel m;
    model_init(&m, cpu, true, 91);
    enum { STEPS = 10 };
    int V = m.cfg.vocab_size, lens[3] = {3, 5, 4};
    TokenBatch prompts = {3, lens, random_tokens(12, V)};
    WorkspacePlan plan = {.max_tokens = 12,
                          .max_seqs = 3,
                          .max_seq_len = 5 + STEPS,
                          .outputs = {.logits = true},
                          .kv_slots = 3};
    LlamaWorkspace *ws = workspace(&m, plan);
    GenerateOptions opt = {.max_new_tokens = STEPS, .temperature = 1, .top_p = 0.9f, .seed = 7};
    int first[3 * STEPS], again[3 * STEPS], other[3 * STEPS], len[3];
    generate(&m, ws, &prompts, &opt, first, len);
    generate(&m, ws, &prompts, &opt, again, len);
    CHECK(!memcmp(first, again, sizeof first), "two sampled generations with one seed differ");
    opt.seed = 8;
    generate(&m, ws, &prompts, &opt, other, len);
    CHECK(memcmp(first, other, sizeof first) != 0, "two seeds sample the same tokens");

    // A sequence's tokens do not depend on the rest of the batch.
    TokenBatch fewer = {2, lens, prompts.tokens};
    opt.seed = 7;
    generate(&m, ws, &fewer, &opt, other, len);
    CHECK(!memcmp(first, other, 2 * STEPS * sizeof *first),
          "dropping sequence 2 changes what sequences 0 and 1 sample");

    // A nucleus smaller than the top token is greedy decoding.
    int greedy[3 * STEPS];
    opt = (GenerateOptions){.max_new_tokens = STEPS, .temperature = 0, .top_p = 1};
    generate(&m, ws, &prompts, &opt, greedy, len);
    opt = (GenerateOptions){.max_new_tokens = STEPS, .temperature = 1, .top_p = 1e-6f, .seed = 3};
    generate(&m, ws, &prompts, &opt, other, len);
    CHECK(!memcmp(greedy, other, sizeof greedy), "top_p = 1e-6 does not sample greedily");
    llama_workspace_free(ws);
    llama_free(&m);
    release_arrays();
}

// Draw frequencies of sample_token against softmax(logits / temperature) cut to its nucleus,
// computed here independently: tokens by probability (ties: lower id first), smallest prefix
// with mass >= top_p, renormalised.
static void check_draws(const float *logits, int V, float temperature, float top_p) {
    double p[8], sum = 0, max = logits[0];
    assert(V <= 8);
    for (int i = 1; i < V; i++) max = fmax(max, logits[i]);
    for (int i = 0; i < V; i++) sum += p[i] = exp((logits[i] - max) / temperature);
    bool taken[8] = {0};
    double kept = 0;
    while (kept < top_p * sum) {
        int best = -1;
        for (int i = 0; i < V; i++)
            if (!taken[i] && (best < 0 || p[i] > p[best])) best = i;
        taken[best] = true;
        kept += p[best];
    }
    enum { DRAWS = 50000 };
    int count[8] = {0}, order[8];
    float probs[8];
    Rng draws;
    rng_seed(&draws, 99);
    for (int i = 0; i < DRAWS; i++)
        count[sample_token(logits, V, temperature, top_p, &draws, probs, order)]++;
    double worst = 0;
    bool outside = false;
    for (int i = 0; i < V; i++) {
        double want = taken[i] ? p[i] / kept : 0;
        worst = fmax(worst, fabs((double)count[i] / DRAWS - want));
        outside |= !taken[i] && count[i] > 0;
    }
    char what[96];
    snprintf(what, sizeof what, "sample_token frequencies, temperature %.2f, top_p %.2f",
             temperature, top_p);
    printf("%-60s worst |frequency - p| %.4f\n", what, worst);
    // The standard error of a frequency is at most sqrt(0.25 / 50000) = 0.0022.
    CHECK(worst < 0.01, "%s: off by %.4f", what, worst);
    CHECK(!outside, "%s: drew a token outside the nucleus", what);
}

static void test_sample_token(void) {
    // Tokens 3 and 5 tie for the top.
    const float logits[6] = {1.0f, 0.5f, -1.0f, 2.0f, 0.0f, 2.0f};
    float probs[6];
    int order[6];
    Rng unused;
    rng_seed(&unused, 1);
    CHECK(sample_token(logits, 6, 0, 1, &unused, probs, order) == 3,
          "greedy sampling does not pick the lowest of tied top tokens");
    check_draws(logits, 6, 1.0f, 1.0f);
    check_draws(logits, 6, 0.5f, 1.0f);
    check_draws(logits, 6, 1.0f, 0.6f);
    check_draws(logits, 6, 2.0f, 0.8f);
}

// --- errors ----------------------------------------------------------------------------------

static bool plan_fails(LlamaModel *m, const WorkspacePlan *plan, const char *expected) {
    char err[256] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, plan, err, sizeof err);
    llama_workspace_free(ws);
    return !ws && strstr(err, expected);
}

static void test_errors(void) {
    LlamaModel m;
    model_init(&m, cpu, false, 101);
    WorkspacePlan plan = {.max_tokens = 8,
                          .max_seqs = 2,
                          .max_seq_len = 6,
                          .outputs = {.n_capture = 1, .layers = {4}}};
    CHECK(plan_fails(&m, &plan, "out of range"), "capture index 4 of 3 layers is accepted");
    plan.outputs.layers[0] = -5;
    CHECK(plan_fails(&m, &plan, "out of range"), "capture index -5 of 3 layers is accepted");
    plan.outputs.layers[0] = -4; // = 0, the embedding
    plan.backward = BACKWARD_LORA;
    CHECK(plan_fails(&m, &plan, "LoRA"), "LoRA backward without an adapter is accepted");
    plan.backward = BACKWARD_FULL;
    CHECK(plan_fails(&m, &plan, "llama_alloc_grads"), "full backward without grads is accepted");
    bool layers[3] = {false, false, true};
    Lora *lora = attach_lora(&m, 1u << PROJ_Q, layers);
    plan.outputs.layers[0] = 2;
    plan.backward = BACKWARD_LORA;
    CHECK(plan_fails(&m, &plan, "no output depends"),
          "LoRA backward from state 2 with the adapter on block 2 is accepted");
    m.lora = NULL;
    lora_free(lora, cpu);
    CHECK(llama_alloc_grads(&m) == 0, "llama_alloc_grads failed");
    plan.outputs.n_capture = 0;
    plan.backward = BACKWARD_FULL;
    CHECK(plan_fails(&m, &plan, "needs an output"), "backward with no output is accepted");

    plan = (WorkspacePlan){.max_tokens = 8,
                           .max_seqs = 2,
                           .max_seq_len = 6,
                           .outputs = {.logits = true},
                           .backward = BACKWARD_FULL,
                           .kv_slots = 2};
    LlamaWorkspace *ws = workspace(&m, plan);
    int lens[3] = {5, 4, 1}, tokens[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
    BackwardSources src = {.targets = tokens};
    CHECK(llama_backward(&m, ws, &src, NULL) != 0 && strstr(llama_workspace_error(ws), "forward"),
          "backward before any forward is accepted");
    TokenBatch too_many = {2, lens, tokens}, three = {3, lens, tokens};
    TokenBatch one = {1, lens + 1, tokens}, bad_token = {1, lens, tokens};
    CHECK(llama_forward(&m, ws, &too_many) != 0 && strstr(llama_workspace_error(ws), "max_tokens"),
          "a batch of 9 tokens runs in a workspace of 8");
    CHECK(llama_forward(&m, ws, &three) != 0 && strstr(llama_workspace_error(ws), "sequences"),
          "3 sequences run in a workspace of 2");
    tokens[2] = 50;
    CHECK(llama_forward(&m, ws, &bad_token) != 0 && strstr(llama_workspace_error(ws), "vocab"),
          "token 50 of a 50-token vocabulary is accepted");
    tokens[2] = 3;
    int out[2 * 2], out_len[2];
    GenerateOptions opt = {.max_new_tokens = 2, .top_p = 1};
    CHECK(llama_generate(&m, ws, &too_many, &opt, out, out_len) != 0 &&
              strstr(llama_workspace_error(ws), "prompt 0"),
          "a 5-token prompt with 2 new tokens fits 6 positions");
    opt.top_p = 0;
    CHECK(llama_generate(&m, ws, &one, &opt, out, out_len) != 0 &&
              strstr(llama_workspace_error(ws), "top_p"),
          "top_p = 0 is accepted");

    // Generation overwrites the activations that backward needs.
    forward(&m, ws, &one);
    opt.top_p = 1;
    generate(&m, ws, &one, &opt, out, out_len);
    CHECK(llama_backward(&m, ws, &src, NULL) != 0 && strstr(llama_workspace_error(ws), "forward"),
          "backward runs on activations overwritten by generation");
    llama_workspace_free(ws);

    LlamaConfig cfg = test_config(false);
    cfg.n_kv_heads = 3;
    CHECK(llama_config_check(&cfg) != NULL, "4 heads over 3 KV heads is a valid config");
    cfg = test_config(false);
    cfg.head_dim = 7;
    CHECK(llama_config_check(&cfg) != NULL, "an odd head_dim is a valid config");
    cfg = test_config(false);
    CHECK(llama_config_check(&cfg) == NULL, "the test config is invalid: %s",
          llama_config_check(&cfg));
    CHECK(llama_resolve_layer(&cfg, -1) == 3 && llama_resolve_layer(&cfg, -4) == 0 &&
              llama_resolve_layer(&cfg, 3) == 3 && llama_resolve_layer(&cfg, 4) == -1,
          "llama_resolve_layer does not follow Hugging Face's indexing");
    llama_free(&m);
    release_arrays();
}

int main(void) {
    cpu = backend_cpu_create(2);
    if (!cpu) {
        fprintf(stderr, "backend_cpu_create failed\n");
        return 1;
    }
    rng_seed(&rng, 1);
    test_packing();
    test_decoding();
    test_lora_identity();
    test_lora_gradients();
    test_full_gradients();
    test_work_range();
    test_forward_from();
    test_determinism();
    test_sampled_generation();
    test_sample_token();
    test_errors();
    cpu->destroy(cpu);
    return check_summary();
}
