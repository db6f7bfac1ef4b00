// are-bench: throughput of the Llama engine on random weights, next to a plain sgemm ceiling.
//
// For each model shape it times, on one packed batch of varied-length sequences:
//   capture         forward up to the deepest captured layer, last-token hidden states (ARE's
//                   representation extraction R(x); blocks above that layer never run)
//   forward+logits  every block and the LM head
//   lora step       ARE's generator step: zero LoRA grads, forward with LoRA up to the deepest
//                   captured layer, a random dL/d(captured), backward down to the lowest LoRA block
//   lora backward   the backward of that step alone
// next to the sgemm reference: the seven projection GEMMs of one block at the same T through the
// backend's gemm (OpenBLAS on the CPU, same threads), once per block the row visits, run right
// after each timed repeat so that both see the same load on a shared machine. It is the rate the
// engine's matrix work would reach with no other op in between; "x sgemm" is the engine's GFLOP/s
// over it, and the goal is >= 0.60 on the GEMM-heavy shape's forward. Rates come from the best of
// a few repeats after one warm-up run (other work only ever slows a run down); the median is
// printed beside it to show the noise.
#include "backend_cpu.h"
#include "bench_flops.h"
#include "llama.h"
#include "lora.h"
#include "monotonic_clock.h"
#include "rng.h"

#include <assert.h>
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SEQS    16
#define MAX_REPEATS 16
#define GOAL_RATIO  0.60

typedef struct {
    const char *name;
    LlamaConfig cfg;
    bool gemm_heavy; // the goal applies to this shape's forward
    // The generator step, scaled from the published ARE run (LoRA on up/down of blocks 9..13 of
    // 32, hidden states 11..15 captured): LoRA blocks lora_first..lora_last, captured layers.
    int lora_first, lora_last;
    int n_capture;
    int capture[4]; // HF hidden_states indices
} Shape;

static const Shape shapes[] = {
    {.name = "tiny",
     .cfg = {.vocab_size = 512,
             .dim = 64,
             .ffn_dim = 176,
             .n_layers = 4,
             .n_heads = 4,
             .n_kv_heads = 2,
             .head_dim = 16,
             .max_seq_len = 256,
             .rms_eps = 1e-5f,
             .rope_theta = 10000.0f,
             .tie_embeddings = true},
     .lora_first = 1,
     .lora_last = 1,
     .n_capture = 2,
     .capture = {2, 3}},
    {.name = "100m",
     .cfg = {.vocab_size = 32000,
             .dim = 768,
             .ffn_dim = 2048,
             .n_layers = 12,
             .n_heads = 12,
             .n_kv_heads = 4,
             .head_dim = 64,
             .max_seq_len = 2048,
             .rms_eps = 1e-5f,
             .rope_theta = 10000.0f,
             .tie_embeddings = true},
     .gemm_heavy = true,
     .lora_first = 3,
     .lora_last = 5,
     .n_capture = 3,
     .capture = {4, 5, 6}},
};
static const int n_shapes = sizeof(shapes) / sizeof(shapes[0]);

static const unsigned lora_targets = (1u << PROJ_UP) | (1u << PROJ_DOWN);
static const int lora_rank = 8;
static const float lora_alpha = 8.0f;

// How much work one run does: --quick shrinks the batch and the repeats to a smoke test.
typedef struct {
    int n_seqs, min_len, max_len;
    int repeats;
} RunSize;

static const RunSize full_run = {.n_seqs = 8, .min_len = 64, .max_len = 128, .repeats = 5};
static const RunSize quick_run = {.n_seqs = 4, .min_len = 16, .max_len = 32, .repeats = 1};

typedef struct {
    int seq_len[MAX_SEQS];
    int *tokens; // [T] host
    int T, longest;
    TokenBatch view;
} Batch;

// Sequences of uniformly drawn lengths in [min_len, max_len] and tokens, packed.
static int make_batch(Batch *b, const RunSize *size, int vocab, Rng *rng) {
    b->T = 0;
    b->longest = 0;
    for (int i = 0; i < size->n_seqs; i++) {
        b->seq_len[i] =
            size->min_len + (int)(rng_next(rng) % (uint64_t)(size->max_len - size->min_len + 1));
        b->T += b->seq_len[i];
        if (b->seq_len[i] > b->longest) b->longest = b->seq_len[i];
    }
    b->tokens = malloc((size_t)b->T * sizeof(int));
    if (!b->tokens) return -1;
    for (int t = 0; t < b->T; t++) b->tokens[t] = (int)(rng_next(rng) % (uint64_t)vocab);
    b->view = (TokenBatch){.n_seqs = size->n_seqs, .seq_len = b->seq_len, .tokens = b->tokens};
    return 0;
}

// Fills n floats of backend memory with N(0, std^2) values.
static int fill_normal(Backend *be, float *dst, size_t n, float std, Rng *rng) {
    float *host = malloc(n * sizeof(float));
    if (!host) return -1;
    for (size_t i = 0; i < n; i++) host[i] = std * rng_normal(rng);
    be->to_device(be, dst, host, n * sizeof(float));
    free(host);
    return 0;
}

// --- the sgemm reference ---------------------------------------------------------------------

typedef struct {
    Backend *be;
    const LlamaConfig *cfg;
    int T;
    int blocks; // how many times one run repeats the block's GEMMs
    float *memory;
    float *x, *w[PROJ_COUNT], *y; // x [T, widest in], W [out, in], y [T, widest out]
} Reference;

static int reference_create(Reference *ref, Backend *be, const LlamaConfig *cfg, int T, Rng *rng) {
    *ref = (Reference){.be = be, .cfg = cfg, .T = T, .blocks = 1};
    int widest = cfg->ffn_dim > cfg->dim ? cfg->ffn_dim : cfg->dim;
    if (cfg->n_heads * cfg->head_dim > widest) widest = cfg->n_heads * cfg->head_dim;
    size_t weight_floats = 0;
    for (int p = 0; p < PROJ_COUNT; p++) {
        int out, in;
        projection_shape(cfg, (Projection)p, &out, &in);
        weight_floats += (size_t)out * in;
    }
    size_t n = 2 * (size_t)T * widest + weight_floats;
    ref->memory = be->alloc(be, n * sizeof(float)); // freed by the caller, even on failure
    if (!ref->memory || fill_normal(be, ref->memory, n, 0.02f, rng)) return -1;
    ref->x = ref->memory;
    ref->y = ref->x + (size_t)T * widest;
    float *next = ref->y + (size_t)T * widest;
    for (int p = 0; p < PROJ_COUNT; p++) {
        int out, in;
        projection_shape(cfg, (Projection)p, &out, &in);
        ref->w[p] = next;
        next += (size_t)out * in;
    }
    return 0;
}

// The block's projections as the forward runs them, y [T, out] = x [T, in] @ W^T, blocks times,
// as plain cblas_sgemm calls threaded by OpenBLAS itself (the backend runs OpenBLAS on one
// thread per call inside its own OpenMP team; the reference is OpenBLAS left to itself).
static void run_reference(const Reference *ref) {
    openblas_set_num_threads(ref->be->threads);
    for (int b = 0; b < ref->blocks; b++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(ref->cfg, (Projection)p, &out, &in);
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, ref->T, out, in, 1.0f, ref->x, in,
                        ref->w[p], in, 0.0f, ref->y, out);
        }
    }
    openblas_set_num_threads(1);
}

// --- timing ----------------------------------------------------------------------------------

typedef struct {
    double best, median; // seconds of the measured work
    double reference;    // best seconds of the reference runs interleaved with it
} Timing;

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// Times run(ctx) repeats times after one untimed warm-up (first touch of the workspace, thread
// start-up). prepare(ctx), when given, runs untimed before each run; the reference, when given,
// runs right after each. Returns 0, or -1 when a run fails.
static int measure(int (*prepare)(void *), int (*run)(void *), void *ctx, const Reference *ref,
                   int repeats, Timing *timing) {
    assert(repeats >= 1 && repeats <= MAX_REPEATS);
    double seconds[MAX_REPEATS];
    timing->reference = 0;
    for (int r = -1; r < repeats; r++) {
        if (prepare && prepare(ctx)) return -1;
        double start = monotonic_seconds();
        if (run(ctx)) return -1;
        if (r < 0) continue;
        seconds[r] = monotonic_seconds() - start;
        if (!ref) continue;
        start = monotonic_seconds();
        run_reference(ref);
        double reference = monotonic_seconds() - start;
        if (!timing->reference || reference < timing->reference) timing->reference = reference;
    }
    qsort(seconds, (size_t)repeats, sizeof(double), compare_doubles);
    timing->best = seconds[0];
    timing->median = seconds[repeats / 2];
    return 0;
}

// --- the attention share ---------------------------------------------------------------------

typedef struct {
    Backend *be;
    const LlamaConfig *cfg;
    int T, longest;
    const int *pos;                       // [T] backend
    float *q, *k, *v, *out, *probs;       // forward
    float *dout, *dscores, *dq, *dk, *dv; // backward
} AttentionContext;

static int run_attention_forward(void *ctx) {
    AttentionContext *c = ctx;
    const LlamaConfig *cfg = c->cfg;
    c->be->attention_forward(c->be, c->T, cfg->n_heads, cfg->n_kv_heads, cfg->head_dim, c->longest,
                             c->pos, c->q, c->k, c->v, c->out, c->probs);
    return 0;
}

static int run_attention_backward(void *ctx) {
    AttentionContext *c = ctx;
    const LlamaConfig *cfg = c->cfg;
    c->be->attention_backward(c->be, c->T, cfg->n_heads, cfg->n_kv_heads, cfg->head_dim, c->longest,
                              c->pos, c->q, c->k, c->v, c->probs, c->dout, c->dscores, c->dq, c->dk,
                              c->dv);
    return 0;
}

// Best seconds of one block's attention op, forward and backward, on the batch's positions:
// multiplied by the blocks a row visits, it estimates attention's share of the row's time.
static int attention_seconds(Backend *be, const LlamaConfig *cfg, const Batch *batch, int repeats,
                             Rng *rng, double *forward, double *backward) {
    AttentionContext c = {.be = be, .cfg = cfg, .T = batch->T, .longest = batch->longest};
    size_t T = (size_t)batch->T;
    size_t q_floats = T * cfg->n_heads * cfg->head_dim;
    size_t kv_floats = T * cfg->n_kv_heads * cfg->head_dim;
    size_t score_floats = T * cfg->n_heads * batch->longest;
    // q k v out probs | dout dscores dq dk dv
    size_t n = 2 * (3 * q_floats + 2 * kv_floats + score_floats);
    float *memory = be->alloc(be, n * sizeof(float));
    int *host_pos = malloc(T * sizeof(int));
    int *pos = be->alloc(be, T * sizeof(int));
    int rc = -1;
    if (!memory || !host_pos || !pos || fill_normal(be, memory, n, 1.0f, rng)) goto done;
    for (int i = 0, t = 0; i < batch->view.n_seqs; i++)
        for (int j = 0; j < batch->seq_len[i]; j++) host_pos[t++] = j;
    be->to_device(be, pos, host_pos, T * sizeof(int));
    c.pos = pos;
    c.q = memory;
    c.k = c.q + q_floats;
    c.v = c.k + kv_floats;
    c.out = c.v + kv_floats;
    c.probs = c.out + q_floats;
    c.dout = c.probs + score_floats;
    c.dscores = c.dout + q_floats;
    c.dq = c.dscores + score_floats;
    c.dk = c.dq + q_floats;
    c.dv = c.dk + kv_floats;
    Timing timing;
    measure(NULL, run_attention_forward, &c, NULL, repeats, &timing);
    *forward = timing.best;
    measure(NULL, run_attention_backward, &c, NULL, repeats, &timing);
    *backward = timing.best;
    rc = 0;
done:
    if (memory) be->free(be, memory);
    if (pos) be->free(be, pos);
    free(host_pos);
    return rc;
}

// --- the engine measurements -----------------------------------------------------------------

// Everything the rows of one shape share.
typedef struct {
    const Shape *shape;
    LlamaModel model;
    Lora *lora; // attached to the model for the lora rows only
    Batch batch;
    Reference reference;
    double attention_forward, attention_backward; // seconds of one block's attention op
    int repeats;
    int capture_blocks; // blocks the captures need: hidden_states[i] is block i-1's output
} ShapeBench;

typedef struct {
    LlamaModel *m;
    LlamaWorkspace *ws;
    const TokenBatch *batch;
    const float *captured_grad; // host, written into llama_captured_grad after each forward
    size_t captured_grad_bytes;
} StepContext;

static int run_forward(void *ctx) {
    StepContext *c = ctx;
    return llama_forward(c->m, c->ws, c->batch);
}

// Zero LoRA grads, forward, and the discriminator's gradient arriving at the captured states.
static int run_forward_for_backward(void *ctx) {
    StepContext *c = ctx;
    Backend *be = c->m->be;
    be->zero(be, c->m->lora->grads, c->m->lora->n_params * sizeof(float));
    if (llama_forward(c->m, c->ws, c->batch)) return -1;
    be->to_device(be, llama_captured_grad(c->ws), c->captured_grad, c->captured_grad_bytes);
    return 0;
}

static int run_backward(void *ctx) {
    StepContext *c = ctx;
    BackwardSources src = {.from_captured = true};
    return llama_backward(c->m, c->ws, &src, NULL);
}

static int run_lora_step(void *ctx) {
    return run_forward_for_backward(ctx) || run_backward(ctx);
}

// Times one row, its reference repeating the block GEMMs once per block the row visits.
static int measure_row(ShapeBench *b, const char *name, int forward_blocks, int backward_blocks,
                       int (*prepare)(void *), int (*run)(void *), StepContext *c, Timing *timing) {
    b->reference.blocks = forward_blocks + backward_blocks;
    if (!measure(prepare, run, c, &b->reference, b->repeats, timing)) return 0;
    fprintf(stderr, "are-bench: %s %s failed: %s\n", b->shape->name, name,
            llama_workspace_error(c->ws));
    return -1;
}

static void print_table_header(void) {
    printf("  %-15s %-6s %8s %9s %9s %8s %13s %7s %6s %8s\n", "measurement", "blocks", "best ms",
           "median ms", "tokens/s", "GFLOP/s", "sgemm GFLOP/s", "x sgemm", "attn%", "work MiB");
}

// One table row; returns the ratio to sgemm.
static double print_row(const ShapeBench *b, const char *name, int forward_blocks,
                        int backward_blocks, const Timing *timing, double flops,
                        size_t workspace_bytes) {
    char blocks[32];
    if (backward_blocks && forward_blocks)
        snprintf(blocks, sizeof(blocks), "%d+%db", forward_blocks, backward_blocks);
    else if (backward_blocks)
        snprintf(blocks, sizeof(blocks), "%db", backward_blocks);
    else
        snprintf(blocks, sizeof(blocks), "%d", forward_blocks);
    double gflops = flops / timing->best * 1e-9;
    double sgemm = (forward_blocks + backward_blocks) *
                   projection_flops(&b->model.cfg, b->batch.T) / timing->reference * 1e-9;
    double attention =
        forward_blocks * b->attention_forward + backward_blocks * b->attention_backward;
    printf("  %-15s %-6s %8.1f %9.1f %9.0f %8.1f %13.1f %7.2f %6.1f %8.1f\n", name, blocks,
           1e3 * timing->best, 1e3 * timing->median, b->batch.T / timing->best, gflops, sgemm,
           gflops / sgemm, 100.0 * attention / timing->best, (double)workspace_bytes / (1 << 20));
    return gflops / sgemm;
}

// The plan of a row: the batch, the shape's captured layers (or logits), backward.
static WorkspacePlan make_plan(const ShapeBench *b, bool logits, int backward) {
    WorkspacePlan plan = {.max_tokens = b->batch.T,
                          .max_seqs = b->batch.view.n_seqs,
                          .max_seq_len = b->batch.longest,
                          .backward = backward};
    if (logits) {
        plan.outputs.logits = true;
    } else {
        plan.outputs.n_capture = b->shape->n_capture;
        memcpy(plan.outputs.layers, b->shape->capture, sizeof(b->shape->capture));
        plan.outputs.capture_at = CAPTURE_LAST_TOKEN;
    }
    return plan;
}

// Creates the workspace for plan, or prints why it cannot.
static LlamaWorkspace *create_workspace(LlamaModel *m, const WorkspacePlan *plan) {
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(m, plan, err, sizeof(err));
    if (!ws) fprintf(stderr, "are-bench: workspace: %s\n", err);
    return ws;
}

// A plain forward row (no LoRA attached): capture, or every block with logits.
// Returns the ratio to sgemm, or a negative value on failure.
static double bench_forward(ShapeBench *b, bool logits) {
    WorkspacePlan plan = make_plan(b, logits, BACKWARD_NONE);
    LlamaWorkspace *ws = create_workspace(&b->model, &plan);
    if (!ws) return -1;
    int blocks = logits ? b->model.cfg.n_layers : b->capture_blocks;
    const char *name = logits ? "forward+logits" : "capture";
    StepContext c = {.m = &b->model, .ws = ws, .batch = &b->batch.view};
    Timing timing;
    double ratio = -1;
    if (!measure_row(b, name, blocks, 0, NULL, run_forward, &c, &timing))
        ratio = print_row(b, name, blocks, 0, &timing,
                          llama_forward_flops(&b->model.cfg, &b->batch.view, blocks, logits),
                          llama_workspace_bytes(ws));
    llama_workspace_free(ws);
    return ratio;
}

// The generator step rows: the whole step, then its backward alone.
static int time_lora_rows(ShapeBench *b, StepContext *c) {
    const LlamaConfig *cfg = &b->model.cfg;
    int T = b->batch.T, top = b->capture_blocks, first = b->lora->lowest_layer;
    double forward = llama_forward_flops(cfg, &b->batch.view, top, false) +
                     lora_forward_flops(b->lora, cfg, T, 0, top);
    double backward = lora_backward_flops(b->lora, cfg, &b->batch.view, T, first, top);
    Timing step, back;
    if (measure_row(b, "lora step", top, top - first, NULL, run_lora_step, c, &step) ||
        measure_row(b, "lora backward", 0, top - first, run_forward_for_backward, run_backward, c,
                    &back))
        return -1;
    print_row(b, "lora step", top, top - first, &step, forward + backward,
              llama_workspace_bytes(c->ws));
    print_row(b, "lora backward", 0, top - first, &back, backward, llama_workspace_bytes(c->ws));
    return 0;
}

// Attaches the LoRA, plans its workspace and draws the gradient that the captures receive.
static int bench_lora_step(ShapeBench *b, Rng *rng) {
    LlamaModel *m = &b->model;
    m->lora = b->lora;
    WorkspacePlan plan = make_plan(b, false, BACKWARD_LORA);
    LlamaWorkspace *ws = create_workspace(m, &plan);
    size_t grad_floats = (size_t)b->batch.view.n_seqs * b->shape->n_capture * m->cfg.dim;
    float *grad = malloc(grad_floats * sizeof(float));
    int rc = -1;
    if (!grad) {
        fprintf(stderr, "are-bench: out of memory\n");
    } else if (ws) {
        for (size_t i = 0; i < grad_floats; i++) grad[i] = rng_normal(rng);
        StepContext c = {.m = m,
                         .ws = ws,
                         .batch = &b->batch.view,
                         .captured_grad = grad,
                         .captured_grad_bytes = grad_floats * sizeof(float)};
        rc = time_lora_rows(b, &c);
    }
    free(grad);
    llama_workspace_free(ws);
    m->lora = NULL;
    return rc;
}

static void print_shape(const ShapeBench *b, const RunSize *size) {
    const Shape *s = b->shape;
    const LlamaConfig *cfg = &s->cfg;
    printf("\nshape %s: %.2fM parameters (dim %d, %d layers, %d heads / %d kv, head %d, ffn %d, "
           "vocab %d%s)\n",
           s->name, 1e-6 * (double)b->model.w.n_floats, cfg->dim, cfg->n_layers, cfg->n_heads,
           cfg->n_kv_heads, cfg->head_dim, cfg->ffn_dim, cfg->vocab_size,
           cfg->tie_embeddings ? ", tied" : "");
    printf("batch: %d sequences of %d..%d tokens, packed: T = %d, longest %d\n",
           b->batch.view.n_seqs, size->min_len, size->max_len, b->batch.T, b->batch.longest);
    printf("capture: hidden_states");
    for (int i = 0; i < s->n_capture; i++) printf("%s%d", i ? "," : " ", s->capture[i]);
    printf(" (last token); lora: rank %d on %s,%s of blocks %d..%d, %zu parameters\n",
           b->lora->rank, projection_name(PROJ_UP), projection_name(PROJ_DOWN), s->lora_first,
           s->lora_last, b->lora->n_params);
    printf("sgemm GFLOP/s: the %d projection GEMMs of a block at T = %d alone, once per block the\n"
           "row visits, timed right after each repeat of the row\n\n",
           PROJ_COUNT, b->batch.T);
}

// Sets up a shape's model, LoRA, batch and reference. Returns 0, or -1 when out of memory.
static int shape_bench_create(ShapeBench *b, const Shape *s, Backend *be, const RunSize *size,
                              unsigned long long seed, Rng *rng) {
    const LlamaConfig *cfg = &s->cfg;
    *b = (ShapeBench){.shape = s, .model = {.cfg = *cfg, .be = be}, .repeats = size->repeats};
    for (int i = 0; i < s->n_capture; i++) {
        int layer = llama_resolve_layer(cfg, s->capture[i]);
        if (layer > b->capture_blocks) b->capture_blocks = layer;
    }
    bool *layer_on = calloc((size_t)cfg->n_layers, sizeof(bool));
    if (!layer_on || llama_weights_alloc(&b->model.w, cfg, be, MATRIX_F32) ||
        make_batch(&b->batch, size, cfg->vocab_size, rng)) {
        free(layer_on);
        return -1;
    }
    llama_weights_init_random(&b->model.w, cfg, be, 0.02f, seed);
    for (int l = s->lora_first; l <= s->lora_last; l++) layer_on[l] = true;
    b->lora = lora_create(cfg, be, lora_targets, layer_on, lora_rank, lora_alpha);
    free(layer_on);
    if (!b->lora || lora_init(b->lora, cfg, be, seed) != 0) return -1;
    if (reference_create(&b->reference, be, &b->model.cfg, b->batch.T, rng)) return -1;
    // The attention op alone is quick, and the more repeats the less its estimate is noise.
    return attention_seconds(be, cfg, &b->batch, MAX_REPEATS, rng, &b->attention_forward,
                             &b->attention_backward);
}

static void shape_bench_free(ShapeBench *b) {
    Backend *be = b->model.be;
    if (b->reference.memory) be->free(be, b->reference.memory);
    lora_free(b->lora, be);
    free(b->batch.tokens);
    llama_free(&b->model);
}

// All rows of one shape. *forward_ratio receives forward+logits' ratio to sgemm.
static int bench_shape(const Shape *s, Backend *be, const RunSize *size, unsigned long long seed,
                       double *forward_ratio) {
    const char *bad = llama_config_check(&s->cfg);
    if (bad) {
        fprintf(stderr, "are-bench: shape %s: %s\n", s->name, bad);
        return -1;
    }
    Rng rng;
    rng_seed(&rng, seed);
    ShapeBench b;
    int rc = -1;
    if (shape_bench_create(&b, s, be, size, seed, &rng)) {
        fprintf(stderr, "are-bench: shape %s: out of memory\n", s->name);
    } else {
        print_shape(&b, size);
        print_table_header();
        if (bench_forward(&b, false) >= 0 && (*forward_ratio = bench_forward(&b, true)) >= 0)
            rc = bench_lora_step(&b, &rng);
    }
    shape_bench_free(&b);
    return rc;
}

// Which kernels OpenBLAS runs: a build older than the CPU does not know its model and falls
// back to its generic SSE3 ("Prescott") kernels, several times slower than the CPU allows.
static void print_blas(void) {
    const char *core = openblas_get_corename();
    printf("blas: %s\n", openblas_get_config());
    if (!strcmp(core, "Prescott") && __builtin_cpu_supports("avx2"))
        printf("note: OpenBLAS does not know this CPU and runs generic SSE3 kernels; set\n"
               "      OPENBLAS_CORETYPE=%s before starting for sgemm at full speed\n",
               __builtin_cpu_supports("avx512f") ? "SkylakeX" : "Haswell");
}

static void print_usage(FILE *f) {
    fprintf(f, "usage: are-bench [--threads N] [--shape tiny|100m|all] [--quick] [--help]\n\n"
               "Times the Llama engine on random weights (capture, forward with logits, the LoRA\n"
               "generator step and its backward) next to a plain sgemm on the same GEMM sizes.\n\n"
               "  --threads N   CPU threads for the ops and OpenBLAS (default: every core)\n"
               "  --shape S     tiny, 100m or all (default all)\n"
               "  --quick       a small batch, one repeat: a smoke test, not a measurement\n\n"
               "exit codes: 0 done, 1 the run failed, 2 bad command line\n");
}

int main(int argc, char **argv) {
    int threads = 0;
    const char *shape_name = "all";
    const RunSize *size = &full_run;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            print_usage(stdout);
            return 0;
        } else if (!strcmp(argv[i], "--quick")) {
            size = &quick_run;
        } else if (!strcmp(argv[i], "--threads") && i + 1 < argc) {
            threads = (int)strtol(argv[++i], &end, 10);
            if (*end || threads < 1) {
                fprintf(stderr, "are-bench: --threads wants a positive integer, not '%s'\n",
                        argv[i]);
                return 2;
            }
        } else if (!strcmp(argv[i], "--shape") && i + 1 < argc) {
            shape_name = argv[++i];
        } else {
            fprintf(stderr, "are-bench: unknown or incomplete option '%s'\n\n", argv[i]);
            print_usage(stderr);
            return 2;
        }
    }
    bool known = !strcmp(shape_name, "all");
    for (int i = 0; i < n_shapes; i++) known |= !strcmp(shape_name, shapes[i].name);
    if (!known) {
        fprintf(stderr, "are-bench: unknown shape '%s' (tiny, 100m or all)\n", shape_name);
        return 2;
    }

    Backend *be = backend_cpu_create(threads);
    if (!be) {
        fprintf(stderr, "are-bench: cannot create the CPU backend (out of memory)\n");
        return 1;
    }
    printf("are-bench: backend %s, %d threads, %s run: %d timed repeat%s after a warm-up\n",
           be->name, be->threads, size == &quick_run ? "quick" : "full", size->repeats,
           size->repeats > 1 ? "s, rates from the best" : "");
    print_blas();
    int rc = 0;
    for (int i = 0; i < n_shapes && !rc; i++) {
        const Shape *s = &shapes[i];
        if (strcmp(shape_name, "all") && strcmp(shape_name, s->name)) continue;
        double forward_ratio = 0;
        rc = bench_shape(s, be, size, 1234 + (unsigned long long)i, &forward_ratio);
        if (!rc && s->gemm_heavy)
            printf("\ngoal: %s forward+logits at %.2f of sgemm (>= %.2f): %s\n", s->name,
                   forward_ratio, GOAL_RATIO, forward_ratio >= GOAL_RATIO ? "met" : "NOT met");
    }
    be->destroy(be);
    return rc ? 1 : 0;
}
