// are-bench-round: one ARE round on a Llama-2-7B-shaped model with random weights (issue 9),
// next to the published code's timings on one GPU.
//
// The task has the published run's shape: 256 train + 100 test prompts (random tokens, 20..60
// per prompt), representations hidden_states 11..15 at the last prompt token, LoRA rank 8 on
// up_proj,down_proj of blocks 9..13, the published discriminator (MLP 512 wide, Adam, 30 epochs
// of batch 64) and generator (Adam lr 1e-4, eps 1e-2, 2 epochs per round, target label 0).
// Everything runs through the trial loop of compute/are_trial.h, one trial per measurement,
// each trial round 0 plus exactly one generator round, with the frozen-block cache on:
//   extract          R(x) of every prompt, train and test (a trial with 0 generator epochs)
//   generator epoch  one epoch over the train prompts at each --batches size
//   round            the published round: 2 epochs at the fastest batch, extraction of every
//                    prompt, a fresh discriminator fitted on train and scored on both splits
// and greedy generation (compute/generate.h) of --answers answers of --max-new tokens each, all
// in one batch, with the LoRA attached. Nothing stops an answer early (no stop token), so every
// one runs to --max-new, the published code's 256-token cap.
//
// Timing. The trial reads its phase clocks after be->synchronize (a GPU backend's ops return
// before they finish), so its extraction and generator times are exact and the bench reports
// them. A round's wall time is measured from outside: the sink's round_metrics call ends round 0
// and round 1, and round 1's wall time is the time between the two, each read after a
// synchronize. "trial clk" beside it is the sum of the trial's phases. Every figure is the
// median of --repeats runs, each shape run once untimed before (lazily loaded kernels, cuBLAS's
// first choice of algorithm); the 16-bit products' scratch is sized as each workspace is made
// (llama_workspace_create), never inside a timed step. "H100 est" is what the row's FLOPs (with
// the attention products as the CUDA backend runs them, over whole key windows) or the bytes of
// weights and KV cache it reads take at an H100's peak rates, whichever is longer: the floor a
// real run is read against.
//
// Weights: the embedding, block 0, the final norm and the LM head are drawn by
// llama_weights_init_random, every other block is a copy of block 0. Drawing all 6.7e9 values
// of the 7B shape takes a host thread about three minutes (27 ns per normal), more than the
// whole device budget; the timings do not depend on the values.
#include "are_trial.h"
#include "backend_cpu.h"
#include "bench_flops.h"
#include "generate.h"
#include "llama.h"
#include "lora.h"
#include "monotonic_clock.h"
#include "rng.h"
#ifdef ARE_HAVE_CUDA
#include "backend_cuda.h"
#include "cuda_attention.h"
#include "cuda_devices.h"
#endif

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SEED          1234
#define MAX_BATCHES   16
#define EXTRACT_BATCH 32 // prompts per extraction forward, as `are run`
#define MIN_LEN       20 // prompt lengths, uniform in MIN_LEN..MAX_LEN tokens
#define MAX_LEN       60
#define WARM_PROMPTS  8 // train and test prompts of the warm-up trial, each
#define MAX_REPEATS   9 // --repeats

// The published run (Llama-2-7B-chat, fp16, one GPU; docs/method.md).
#define PUBLISHED_PROMPTS_PER_S 21.0
#define PUBLISHED_EPOCH_S       16.0 // one generator epoch over 256 prompts at batch 1
#define PUBLISHED_ROUND_S       56.0
#define PUBLISHED_ANSWER_S      2.46 // per answer of up to 256 tokens, greedy
#define PUBLISHED_EPOCHS        2    // generator epochs per round
// Issue 9's goals.
#define GOAL_ROUND_S   3.0
#define GOAL_ANSWERS_S 10.0 // 100 answers of 256 tokens
#define GOAL_MFU       0.40 // the generator step at the best batch
// An H100 SXM's datasheet peaks, for each row's expected time: dense 16-bit tensor cores, plain
// fp32 (the CUDA backend turns TF32 off), and HBM3 bandwidth.
#define H100_HALF_TFLOPS 989.0
#define H100_FP32_TFLOPS 67.0
#define H100_TB_S        3.35

typedef struct {
    const char *name;
    LlamaConfig cfg;
    int lora_first, lora_last; // LoRA blocks (published 9..13)
    int rep_first, rep_last;   // captured hidden_states indices (published 11..15)
} Shape;

static const Shape shapes[] = {
    {.name = "7b", // Llama-2-7B
     .cfg = {.vocab_size = 32000,
             .dim = 4096,
             .ffn_dim = 11008,
             .n_layers = 32,
             .n_heads = 32,
             .n_kv_heads = 32,
             .head_dim = 128,
             .max_seq_len = 4096,
             .rms_eps = 1e-5f,
             .rope_theta = 10000.0f,
             .tie_embeddings = false},
     .lora_first = 9,
     .lora_last = 13,
     .rep_first = 11,
     .rep_last = 15},
    // The same structure at 1/32 of the width and a quarter of the depth (layer choices
    // scaled to match), so that the whole bench runs in about a minute on two CPU cores.
    {.name = "small",
     .cfg = {.vocab_size = 2048,
             .dim = 128,
             .ffn_dim = 344,
             .n_layers = 8,
             .n_heads = 4,
             .n_kv_heads = 4,
             .head_dim = 32,
             .max_seq_len = 512,
             .rms_eps = 1e-5f,
             .rope_theta = 10000.0f,
             .tie_embeddings = false},
     .lora_first = 2,
     .lora_last = 3,
     .rep_first = 3,
     .rep_last = 4},
};
static const int n_shapes = sizeof(shapes) / sizeof(shapes[0]);

static const unsigned lora_targets = (1u << PROJ_UP) | (1u << PROJ_DOWN);
static const int lora_rank = 8;
static const float lora_alpha = 8.0f;

typedef struct {
    const char *device;  // "cpu" or "cuda"
    int threads;         // cpu
    MatrixType matrices; // -1 until given: bf16 on cuda, fp32 on cpu
    const Shape *shape;
    int n_train, n_test;  // --prompts, --test
    int answers, max_new; // generation
    int batches[MAX_BATCHES], n_batches;
    double peak_tflops; // 0: from the device (cuda) or none (cpu)
    int repeats;        // timed runs of each measurement; the median is reported
    bool plan_only;     // --plan-only: the full-size trial's memory plan, then stop
} Options;

// --- prompts -----------------------------------------------------------------------------------

// A task of random prompts, train first, then test; labels alternate 0, 1.
typedef struct {
    int *len, *tokens, *labels;
    bool *is_test;
    int n_tokens;
    AreSamples samples;
} Prompts;

static void prompts_free(Prompts *p) {
    free(p->len);
    free(p->tokens);
    free(p->labels);
    free(p->is_test);
    *p = (Prompts){0};
}

// Returns 0, or -1 when out of memory.
static int prompts_make(Prompts *p, int n_train, int n_test, int vocab, uint64_t seed) {
    int n = n_train + n_test;
    Rng rng;
    rng_seed(&rng, seed);
    *p = (Prompts){.len = malloc((size_t)n * sizeof(int)),
                   .tokens = malloc((size_t)n * MAX_LEN * sizeof(int)),
                   .labels = malloc((size_t)n * sizeof(int)),
                   .is_test = malloc((size_t)n * sizeof(bool))};
    if (!p->len || !p->tokens || !p->labels || !p->is_test) {
        prompts_free(p);
        return -1;
    }
    for (int i = 0; i < n; i++) {
        p->len[i] = MIN_LEN + (int)(rng_next(&rng) % (MAX_LEN - MIN_LEN + 1));
        p->labels[i] = i % 2;
        p->is_test[i] = i >= n_train;
        for (int t = 0; t < p->len[i]; t++)
            p->tokens[p->n_tokens++] = (int)(rng_next(&rng) % (uint64_t)vocab);
    }
    p->samples = (AreSamples){
        .n = n, .len = p->len, .tokens = p->tokens, .labels = p->labels, .is_test = p->is_test};
    return 0;
}

// The first n prompts as a token batch (the train split when n = n_train).
static TokenBatch prompts_batch(const Prompts *p, int n) {
    return (TokenBatch){.n_seqs = n, .seq_len = p->len, .tokens = p->tokens};
}

static int longest(const Prompts *p, int n) {
    int max = 0;
    for (int i = 0; i < n; i++)
        if (p->len[i] > max) max = p->len[i];
    return max;
}

static double total_tokens(const TokenBatch *b) {
    double T = 0;
    for (int i = 0; i < b->n_seqs; i++) T += b->seq_len[i];
    return T;
}

// --- the model ---------------------------------------------------------------------------------

typedef struct {
    Backend *be;
    const Shape *shape;
    LlamaModel model;
    Lora *lora;
    int start_block; // where the trial's forwards start (frozen-block cache), as the trial does
} Bench;

// The clock once every op queued so far has finished.
static double synced_now(Bench *b) {
    b->be->synchronize(b->be);
    return monotonic_seconds();
}

// Block 0 drawn, then copied into blocks 1..n-1 (see the top of the file).
static void init_weights(LlamaModel *m) {
    LlamaConfig one_block = m->cfg;
    one_block.n_layers = 1;
    llama_weights_init_random(&m->w, &one_block, m->be, 0.02f, SEED);
    Backend *be = m->be;
    size_t norm_bytes = (size_t)m->cfg.dim * sizeof(float);
    const LlamaBlockWeights *first = &m->w.blocks[0];
    for (int l = 1; l < m->cfg.n_layers; l++) {
        LlamaBlockWeights *b = &m->w.blocks[l];
        be->copy(be, b->attn_norm, first->attn_norm, norm_bytes);
        be->copy(be, b->mlp_norm, first->mlp_norm, norm_bytes);
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(&m->cfg, (Projection)p, &out, &in);
            size_t n = (size_t)out * in;
            if (b->proj16[p])
                be->copy(be, b->proj16[p], first->proj16[p], n * sizeof(uint16_t));
            else
                be->copy(be, b->proj[p], first->proj[p], n * sizeof(float));
        }
    }
}

// Weights, LoRA and the sync word. Returns 0, or -1 when out of memory.
static int bench_create(Bench *b, Backend *be, const Shape *shape, MatrixType matrices) {
    *b = (Bench){.be = be, .shape = shape, .model = {.cfg = shape->cfg, .be = be}};
    const LlamaConfig *cfg = &shape->cfg;
    bool *layer_on = calloc((size_t)cfg->n_layers, sizeof(bool));
    if (!layer_on || llama_weights_alloc(&b->model.w, cfg, be, matrices) < 0) {
        free(layer_on);
        return -1;
    }
    for (int l = shape->lora_first; l <= shape->lora_last; l++) layer_on[l] = true;
    b->lora = lora_create(cfg, be, lora_targets, layer_on, lora_rank, lora_alpha);
    free(layer_on);
    if (!b->lora) return -1;
    b->model.lora = b->lora; // the trial re-initialises it from its seed
    b->start_block = shape->lora_first < shape->rep_first ? shape->lora_first : shape->rep_first;
    init_weights(&b->model);
    return 0;
}

static void bench_free(Bench *b) {
    lora_free(b->lora, b->be);
    llama_free(&b->model);
}

// --- floating-point operations (2 per multiply-add) ------------------------------------------

// The deepest block a forward runs: hidden_states[i] is the output of block i-1.
static int top_block(const Shape *s) {
    return s->rep_last;
}

// One extraction forward of the batch: blocks start..top with the LoRA.
static double extract_flops(const Bench *b, const TokenBatch *batch) {
    const LlamaConfig *cfg = &b->model.cfg;
    int top = top_block(b->shape);
    return blocks_flops(cfg, batch, b->start_block, top) +
           lora_forward_flops(b->lora, cfg, total_tokens(batch), 0, top);
}

// One generator pass over the batch: the extraction forward, then backward from the captured
// states down to the lowest LoRA block. The discriminator and Adam are not counted (under 1%).
static double generator_flops(const Bench *b, const TokenBatch *batch) {
    int top = top_block(b->shape), low = b->lora->lowest_layer;
    return extract_flops(b, batch) +
           lora_backward_flops(b->lora, &b->model.cfg, batch, total_tokens(batch), low, top);
}

// Greedy generation of max_new tokens after each prompt: the prompt and every token but the
// last are fed through all blocks (a sequence's causal attention over its whole length is the
// prefill's plus every decoding step's), and the LM head runs once per sampled token.
static double generation_flops(const Bench *b, const TokenBatch *prompts, int max_new) {
    const LlamaConfig *cfg = &b->model.cfg;
    int *fed = malloc((size_t)prompts->n_seqs * sizeof(int));
    if (!fed) return 0;
    for (int i = 0; i < prompts->n_seqs; i++) fed[i] = prompts->seq_len[i] + max_new - 1;
    TokenBatch all = {.n_seqs = prompts->n_seqs, .seq_len = fed};
    double T = total_tokens(&all);
    double flops = llama_forward_flops(cfg, &all, cfg->n_layers, false) +
                   lora_forward_flops(b->lora, cfg, T, 0, cfg->n_layers) +
                   2.0 * prompts->n_seqs * max_new * (double)cfg->vocab_size * cfg->dim;
    free(fed);
    return flops;
}

// The attention products' FLOPs beyond the causal pairs that the counts above hold: the CUDA
// backend multiplies every 64-token query tile with its whole window of keys (cuda_attention.h),
// which depends on the step's tokens and on the trial's longest prompt (its workspaces'
// max_len). Steps of per_step prompts in prompt order, each forward through forward_blocks
// blocks and backward through backward_blocks (twice a forward's products). The H100 estimates
// add them; the TFLOP/s and MFU count the model's FLOPs alone. 0 on the CPU backend, which
// computes the causal pairs only.
static double attention_window_flops(const Bench *b, const Prompts *p, int n, int per_step,
                                     int forward_blocks, int backward_blocks) {
    double extra = 0;
#ifdef ARE_HAVE_CUDA
    if (strcmp(b->be->name, "cuda") != 0) return 0;
    const LlamaConfig *cfg = &b->model.cfg;
    int max_len = longest(p, n);
    for (int first = 0; first < n; first += per_step) {
        TokenBatch step = {.n_seqs = n - first < per_step ? n - first : per_step,
                           .seq_len = p->len + first};
        int T = (int)total_tokens(&step);
        double causal = llama_forward_flops(cfg, &step, 1, false) - projection_flops(cfg, T);
        extra += (forward_blocks + 2.0 * backward_blocks) *
                 (cuda_attention_flops(T, cfg->n_heads, cfg->head_dim, max_len) - causal);
    }
#else
    (void)b, (void)p, (void)n, (void)per_step, (void)forward_blocks, (void)backward_blocks;
#endif
    return extra;
}

// --- bytes of weights and KV cache read, for the expected times ----------------------------

// One block's weights: the seven projections in the matrices' type, the two norms in fp32.
// Fusing q|k|v and gate|up into one product each (gemm_matrix_parts) changes neither the FLOPs
// nor these bytes: every weight is still read once per forward. It saves launches and narrow
// products. CUDA fuses only steps of at most 128 rows (decoding) and splits the fused output at
// 8 bytes per value: activation traffic, not counted here, T (q + 2 kv + 2 ffn) 8 bytes a block,
// 4 T / dim of the fused weights' bytes (10% at T = 100 answers on the 7B shape; the
// generation row's bytes count the weights only). With bf16 matrices the
// norms and SwiGLU write their outputs' bf16 copies themselves: no rounding pass (which read 4
// and wrote 2 bytes per value per product: three times over ln1, twice over ln2).
static double block_bytes(const Bench *b) {
    const LlamaConfig *cfg = &b->model.cfg;
    double matrix = b->model.w.matrices == MATRIX_F32 ? 4 : 2;
    return projection_flops(cfg, 1) / 2 * matrix + 2.0 * cfg->dim * sizeof(float);
}

static int ceil_div(int a, int b) {
    return (a + b - 1) / b;
}

// Extraction of n prompts: every forward of EXTRACT_BATCH prompts reads the weights of the
// blocks it runs once.
static double extract_bytes(const Bench *b, int n) {
    return ceil_div(n, EXTRACT_BATCH) * (top_block(b->shape) - b->start_block) * block_bytes(b);
}

// A generator epoch over n prompts at `batch`: each step reads the weights of the forward's
// blocks, then of the backward's.
static double generator_bytes(const Bench *b, int n, int batch) {
    int top = top_block(b->shape);
    return ceil_div(n, batch) * (2 * top - b->start_block - b->lora->lowest_layer) * block_bytes(b);
}

// Generation: max_new forwards (the prefill, then a decoding step per token but the last) read
// every block and the LM head; each decoding step of a sequence also reads its keys and values
// so far in every layer (bf16 where the backend keeps its KV cache so, else fp32).
static double generation_bytes(const Bench *b, const TokenBatch *prompts, int max_new) {
    const LlamaConfig *cfg = &b->model.cfg;
    double matrix = b->model.w.matrices == MATRIX_F32 ? 4 : 2;
    double weights = cfg->n_layers * block_bytes(b) + (double)cfg->vocab_size * cfg->dim * matrix;
    double cached_rows = 0; // (sequence, step) pairs x positions read
    for (int i = 0; i < prompts->n_seqs; i++)
        for (int s = 1; s < max_new; s++) cached_rows += prompts->seq_len[i] + s;
    double kv_bytes = b->be->attention_cached_bf16 ? 2 : 4;
    double kv_row = 2.0 * cfg->n_kv_heads * cfg->head_dim * kv_bytes * cfg->n_layers;
    return max_new * weights + cached_rows * kv_row;
}

// The time an H100 would take at its peak FLOP rate or its memory bandwidth, whichever binds:
// a floor that the measured time can be read against. Activation traffic is not counted.
static double h100_seconds(const Bench *b, double flops, double bytes) {
    double peak = b->model.w.matrices == MATRIX_F32 ? H100_FP32_TFLOPS : H100_HALF_TFLOPS;
    double compute = flops / (peak * 1e12), memory = bytes / (H100_TB_S * 1e12);
    return compute > memory ? compute : memory;
}

// --- trials ----------------------------------------------------------------------------------

// The sink: when round 0 and round 1 ended, and round 1's own metrics.
typedef struct {
    Bench *b;
    double ended[2];
    AreRoundMetrics round1;
    AreMemoryPlan plan;
    bool stop_at_plan; // --plan-only: the trial stops once it has reported its plan
} RoundClock;

static int on_memory_plan(void *ctx, const AreMemoryPlan *plan) {
    RoundClock *c = ctx;
    c->plan = *plan;
    return c->stop_at_plan ? -1 : 0;
}

static double gib(size_t bytes) {
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

static void print_plan(const AreMemoryPlan *m) {
    printf("memory of the trial (allocated before round 0): weights %.2f GiB, LoRA + AdamW %.3f "
           "GiB, activations %.3f GiB (blocks %d..%d), frozen-block cache %.3f GiB, "
           "representations + discriminator %.3f GiB; %.2f GiB in all\n",
           gib(m->weights), gib(m->lora), gib(m->activations), m->first_block, m->last_block,
           gib(m->frozen_cache), gib(m->trial),
           gib(m->weights + m->lora + m->activations + m->frozen_cache + m->trial));
}

static int on_round(void *ctx, const AreRoundMetrics *m) {
    RoundClock *c = ctx;
    if (m->round < 0 || m->round > 1) return -1;
    c->ended[m->round] = synced_now(c->b);
    if (m->round == 1) c->round1 = *m;
    return 0;
}

typedef struct {
    double wall;              // round 1, from the sink's clock
    double discriminator;     // its discriminator phase
    AreRoundMetrics reported; // the trial's own clocks
    AreMemoryPlan plan;
} RoundTime;

// The published options, one generator round of gen_epochs epochs at batch `batch`.
static AreOptions round_options(const Shape *s, int gen_epochs, int batch) {
    AreOptions o = {
        .n_rep_layers = s->rep_last - s->rep_first + 1,
        .disc = {.kind = DISCRIMINATOR_MLP,
                 .hidden = 512,
                 .lr = 1e-3f,
                 .eps = 1e-3f,
                 .epochs = 30,
                 .batch_size = 64},
        .target_label = 0,
        .gen_lr = 1e-4f,
        .gen_eps = 1e-2f,
        .gen_epochs = gen_epochs,
        .gen_batch_size = batch,
        .max_rounds = 1,
        .converge_low = 0.45f,
        .converge_high = 0.70f,
        .extract_batch = EXTRACT_BATCH,
        .cache_frozen_blocks = true,
        .seed = SEED,
        .store_rounds = STORE_ROUNDS_NONE,
    };
    for (int i = 0; i < o.n_rep_layers; i++) o.rep_layers[i] = s->rep_first + i;
    return o;
}

// Runs one trial; returns 0, or -1 with the reason printed.
static int run_round(Bench *b, const AreSamples *samples, int gen_epochs, int batch,
                     RoundTime *time) {
    AreOptions opt = round_options(b->shape, gen_epochs, batch);
    RoundClock clock = {.b = b};
    AreSink sink = {.ctx = &clock, .memory_plan = on_memory_plan, .round_metrics = on_round};
    AreResult result;
    char err[256];
    if (are_trial_run(&b->model, samples, &opt, &sink, NULL, &result, err, sizeof err) < 0) {
        fprintf(stderr, "are-bench-round: trial (%d epochs, batch %d): %s\n", gen_epochs, batch,
                err);
        return -1;
    }
    *time = (RoundTime){.wall = clock.ended[1] - clock.ended[0],
                        .discriminator = clock.round1.seconds_discriminator,
                        .reported = clock.round1,
                        .plan = clock.plan};
    return 0;
}

static int compare_doubles(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

// The median of v [n] (sorted in place).
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, compare_doubles);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// run_round `repeats` times (at most MAX_REPEATS); each clock of *time is the median of its
// values over the runs. Returns 0, or -1 with the reason printed.
static int run_rounds(Bench *b, const AreSamples *samples, int gen_epochs, int batch, int repeats,
                      RoundTime *time) {
    double wall[MAX_REPEATS], disc[MAX_REPEATS], gen[MAX_REPEATS], extract[MAX_REPEATS],
        trial_disc[MAX_REPEATS];
    for (int r = 0; r < repeats; r++) {
        if (run_round(b, samples, gen_epochs, batch, time) < 0) return -1;
        wall[r] = time->wall;
        disc[r] = time->discriminator;
        gen[r] = time->reported.seconds_generator;
        extract[r] = time->reported.seconds_extract;
        trial_disc[r] = time->reported.seconds_discriminator;
    }
    time->wall = median(wall, repeats);
    time->discriminator = median(disc, repeats);
    time->reported.seconds_generator = median(gen, repeats);
    time->reported.seconds_extract = median(extract, repeats);
    time->reported.seconds_discriminator = median(trial_disc, repeats);
    return 0;
}

// --plan-only: the round's trial set up in full (frozen-block cache included), its memory plan
// printed, then stopped before round 0. Returns 0, or -1 with the reason printed.
static int print_round_plan(Bench *b, const AreSamples *samples) {
    AreOptions opt = round_options(b->shape, PUBLISHED_EPOCHS, 1);
    RoundClock clock = {.b = b, .stop_at_plan = true};
    AreSink sink = {.ctx = &clock, .memory_plan = on_memory_plan};
    AreResult result;
    char err[256];
    if (are_trial_run(&b->model, samples, &opt, &sink, NULL, &result, err, sizeof err) == 0 ||
        clock.plan.weights == 0) {
        fprintf(stderr, "are-bench-round: the trial did not report its plan: %s\n", err);
        return -1;
    }
    print_plan(&clock.plan);
    return 0;
}

// --- generation --------------------------------------------------------------------------------

// Times greedy generation of max_new tokens after each of the prompts, in one batch, after an
// untimed warm-up of two tokens: the median of `repeats` runs. Returns 0, or -1 with the reason
// printed.
static int time_generation(Bench *b, const Prompts *p, int n, int max_new, int repeats,
                           double *seconds) {
    TokenBatch prompts = prompts_batch(p, n);
    WorkspacePlan plan = {.max_tokens = p->n_tokens,
                          .max_seqs = n,
                          .max_seq_len = longest(p, n) + max_new,
                          .outputs = {.logits = true},
                          .kv_slots = n};
    char err[256];
    LlamaWorkspace *ws = llama_workspace_create(&b->model, &plan, err, sizeof err);
    if (!ws) {
        fprintf(stderr, "are-bench-round: generation workspace: %s\n", err);
        return -1;
    }
    int *out_tokens = malloc((size_t)n * max_new * sizeof(int));
    int *out_len = malloc((size_t)n * sizeof(int));
    GenerateOptions opt = {.max_new_tokens = max_new, .temperature = 0, .top_p = 1, .seed = SEED};
    GenerateOptions warm = opt;
    warm.max_new_tokens = max_new < 2 ? max_new : 2;
    int rc = -1;
    if (!out_tokens || !out_len) {
        fprintf(stderr, "are-bench-round: out of memory\n");
    } else if (llama_generate(&b->model, ws, &prompts, &warm, out_tokens, out_len) == 0) {
        double times[MAX_REPEATS];
        rc = 0;
        for (int r = 0; rc == 0 && r < repeats; r++) {
            double start = synced_now(b);
            rc = llama_generate(&b->model, ws, &prompts, &opt, out_tokens, out_len);
            times[r] = synced_now(b) - start;
        }
        *seconds = median(times, repeats);
    }
    if (rc < 0 && out_tokens && out_len)
        fprintf(stderr, "are-bench-round: generation: %s\n", llama_workspace_error(ws));
    for (int i = 0; rc == 0 && i < n; i++)
        if (out_len[i] != max_new) {
            fprintf(stderr, "are-bench-round: answer %d stopped after %d tokens\n", i, out_len[i]);
            rc = -1;
        }
    free(out_tokens);
    free(out_len);
    llama_workspace_free(ws);
    return rc;
}

// --- the report --------------------------------------------------------------------------------

static double peak_tflops; // 0: MFU not printed

// Model FLOPs utilisation: the achieved rate over the peak.
static double mfu(double flops, double seconds) {
    return peak_tflops > 0 ? flops / seconds * 1e-12 / peak_tflops : 0;
}

static void print_header(int repeats) {
    printf("\nmedians of %d timed run%s each, after an untimed one of the same shape\n", repeats,
           repeats > 1 ? "s" : "");
    printf("%-34s %9s %10s %8s %6s %10s %8s %10s %9s\n", "measurement", "seconds", "tokens/s",
           "TFLOP/s", "MFU", "published", "speedup", "trial clk", "H100 est");
}

// One row. tokens or flops 0: not applicable; published 0: no published figure; trial_clock < 0:
// the trial has no clock of its own for it; expected 0: no H100 estimate.
static void print_row(const char *name, double seconds, double tokens, double flops,
                      double published, double trial_clock, double expected) {
    char tps[16] = "-", tflops[16] = "-", util[16] = "-", pub[16] = "-", speed[16] = "-",
         clk[16] = "-", est[16] = "-";
    if (tokens > 0) snprintf(tps, sizeof tps, "%.0f", tokens / seconds);
    if (flops > 0) snprintf(tflops, sizeof tflops, "%.3g", flops / seconds * 1e-12);
    if (flops > 0 && peak_tflops > 0)
        snprintf(util, sizeof util, "%.1f%%", 100.0 * mfu(flops, seconds));
    if (published > 0) {
        snprintf(pub, sizeof pub, "%.2f", published);
        snprintf(speed, sizeof speed, "%.1fx", published / seconds);
    }
    if (trial_clock >= 0) snprintf(clk, sizeof clk, "%.3f", trial_clock);
    if (expected > 0) snprintf(est, sizeof est, "%.3g", expected);
    printf("%-34s %9.3f %10s %8s %6s %10s %8s %10s %9s\n", name, seconds, tps, tflops, util, pub,
           speed, clk, est);
    fflush(stdout);
}

#ifdef ARE_HAVE_CUDA
// Peak TFLOP/s of a GPU by name (NVIDIA's datasheets, dense): 16-bit tensor cores for 16-bit
// matrices, plain fp32 for fp32 ones (the CUDA backend turns TF32 off so that its products
// match the CPU's). 0 when unknown.
static double gpu_peak(const char *name, MatrixType matrices) {
    static const struct {
        const char *name; // a part of the device name, the first match wins
        double half, fp32;
    } peaks[] = {
        {"H100 PCIe", 756, 51}, {"H100 NVL", 835, 60}, {"H100", 989, 67},
        {"H200", 989, 67},      {"A100", 312, 19.5},
    };
    for (size_t i = 0; i < sizeof peaks / sizeof peaks[0]; i++)
        if (strstr(name, peaks[i].name))
            return matrices == MATRIX_F32 ? peaks[i].fp32 : peaks[i].half;
    return 0;
}
#endif

// --- the command line --------------------------------------------------------------------------

static void print_usage(FILE *f) {
    fprintf(
        f, "usage: are-bench-round [--device cpu|cuda] [--threads N] [--matrices fp32|bf16|fp16]\n"
           "                       [--shape 7b|small] [--prompts N] [--test N] [--answers N]\n"
           "                       [--max-new N] [--batches 1,8,32,...] [--repeats N]\n"
           "                       [--peak-tflops X] [--plan-only]\n\n"
           "Times one ARE round (extraction, generator epochs, the published round) and batched\n"
           "greedy generation on a model with random weights, against the published code.\n\n"
           "  --device D       cpu (default) or cuda (GPU 0)\n"
           "  --threads N      CPU threads (default: every core)\n"
           "  --matrices M     storage of the frozen matrices (default bf16 on cuda, fp32 on cpu)\n"
           "  --shape S        7b (Llama-2-7B, default) or small (the same structure, a CPU smoke\n"
           "                   test)\n"
           "  --prompts N      train prompts (default 256)\n"
           "  --test N         test prompts (default 100)\n"
           "  --answers N      answers to generate (default 100)\n"
           "  --max-new N      tokens per answer (default 256)\n"
           "  --batches LIST   generator batch sizes (default 1,8,32,128)\n"
           "  --repeats N      timed runs per measurement, the median reported (default 3, at\n"
           "                   most 9)\n"
           "  --peak-tflops X  peak for MFU (default: the GPU's from its name; none on cpu)\n"
           "  --plan-only      set the round's trial up, print its memory plan, and stop\n\n"
           "exit codes: 0 done, 1 the run failed, 2 bad command line\n");
}

// A positive integer, or -1.
static int parse_positive(const char *s) {
    char *end;
    long v = strtol(s, &end, 10);
    return *s && !*end && v >= 1 && v <= 1000000 ? (int)v : -1;
}

static int parse_batches(const char *list, Options *o) {
    o->n_batches = 0;
    char copy[256];
    snprintf(copy, sizeof copy, "%s", list);
    for (char *save, *item = strtok_r(copy, ",", &save); item; item = strtok_r(NULL, ",", &save)) {
        if (o->n_batches == MAX_BATCHES || (o->batches[o->n_batches] = parse_positive(item)) < 0)
            return -1;
        o->n_batches++;
    }
    return o->n_batches > 0 ? 0 : -1;
}

// Returns 0, 1 after --help, or 2 on a bad command line (message printed).
static int parse_args(int argc, char **argv, Options *o) {
    *o = (Options){.device = "cpu",
                   .matrices = (MatrixType)-1,
                   .shape = &shapes[0],
                   .n_train = 256,
                   .n_test = 100,
                   .answers = 100,
                   .max_new = 256,
                   .batches = {1, 8, 32, 128},
                   .n_batches = 4,
                   .repeats = 3};
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
            print_usage(stdout);
            return 1;
        }
        if (!strcmp(a, "--plan-only")) {
            o->plan_only = true;
            continue;
        }
        if (!v) {
            fprintf(stderr, "are-bench-round: unknown or incomplete option '%s'\n\n", a);
            print_usage(stderr);
            return 2;
        }
        i++;
        int bad = 0;
        if (!strcmp(a, "--device")) {
            o->device = v;
            bad = strcmp(v, "cpu") && strcmp(v, "cuda");
        } else if (!strcmp(a, "--threads")) {
            bad = (o->threads = parse_positive(v)) < 0;
        } else if (!strcmp(a, "--matrices")) {
            o->matrices = !strcmp(v, "fp32")   ? MATRIX_F32
                          : !strcmp(v, "bf16") ? MATRIX_BF16
                          : !strcmp(v, "fp16") ? MATRIX_F16
                                               : (MatrixType)-1;
            bad = (int)o->matrices == -1;
        } else if (!strcmp(a, "--shape")) {
            o->shape = NULL;
            for (int s = 0; s < n_shapes; s++)
                if (!strcmp(v, shapes[s].name)) o->shape = &shapes[s];
            bad = !o->shape;
        } else if (!strcmp(a, "--prompts")) {
            bad = (o->n_train = parse_positive(v)) < 2;
        } else if (!strcmp(a, "--test")) {
            bad = (o->n_test = parse_positive(v)) < 0;
        } else if (!strcmp(a, "--answers")) {
            bad = (o->answers = parse_positive(v)) < 0;
        } else if (!strcmp(a, "--max-new")) {
            bad = (o->max_new = parse_positive(v)) < 0;
        } else if (!strcmp(a, "--repeats")) {
            o->repeats = parse_positive(v);
            bad = o->repeats < 0 || o->repeats > MAX_REPEATS;
        } else if (!strcmp(a, "--batches")) {
            bad = parse_batches(v, o) < 0;
        } else if (!strcmp(a, "--peak-tflops")) {
            char *end;
            o->peak_tflops = strtod(v, &end);
            bad = !*v || *end || !(o->peak_tflops > 0);
        } else {
            fprintf(stderr, "are-bench-round: unknown option '%s'\n\n", a);
            print_usage(stderr);
            return 2;
        }
        if (bad) {
            fprintf(stderr, "are-bench-round: bad value '%s' for %s (see --help)\n", v, a);
            return 2;
        }
    }
    if ((int)o->matrices == -1) o->matrices = !strcmp(o->device, "cuda") ? MATRIX_BF16 : MATRIX_F32;
    return 0;
}

// --- main --------------------------------------------------------------------------------------

// The backend the options ask for, its description in `what`; NULL with the reason printed.
static Backend *create_backend(const Options *o, char *what, size_t what_len) {
    if (!strcmp(o->device, "cpu")) {
        Backend *be = backend_cpu_create(o->threads);
        if (!be) {
            fprintf(stderr, "are-bench-round: cannot create the CPU backend (out of memory)\n");
            return NULL;
        }
        be->matrix_type = o->matrices; // 16-bit matrices are widened product by product
        snprintf(what, what_len, "cpu, %d thread%s", be->threads, be->threads > 1 ? "s" : "");
        peak_tflops = o->peak_tflops;
        return be;
    }
#ifdef ARE_HAVE_CUDA
    char err[256];
    CudaDeviceInfo info;
    if (cuda_device_info(0, &info) < 0) {
        fprintf(stderr, "are-bench-round: no CUDA device\n");
        return NULL;
    }
    Backend *be = backend_cuda_create(0, o->matrices, err, sizeof err);
    if (!be) {
        fprintf(stderr, "are-bench-round: CUDA backend: %s\n", err);
        return NULL;
    }
    snprintf(what, what_len, "cuda (%s, sm_%d%d, %.1f GiB)", info.name, info.major, info.minor,
             (double)info.memory_bytes / (1 << 30));
    peak_tflops = o->peak_tflops > 0 ? o->peak_tflops : gpu_peak(info.name, o->matrices);
    return be;
#else
    (void)what;
    (void)what_len;
    fprintf(stderr, "are-bench-round: this build has no CUDA (no nvcc at configure time)\n");
    return NULL;
#endif
}

static void print_setup(const Options *o, const Bench *b, const Prompts *p, const char *backend,
                        double init_seconds) {
    const Shape *s = b->shape;
    const LlamaConfig *cfg = &s->cfg;
    const LlamaWeights *w = &b->model.w;
    printf("are-bench-round: %s, %s matrices", backend, matrix_type_name(o->matrices));
    if (peak_tflops > 0)
        printf(", MFU against a peak of %.4g TFLOP/s (%s)", peak_tflops,
               o->peak_tflops > 0          ? "--peak-tflops"
               : o->matrices == MATRIX_F32 ? "dense fp32, no TF32"
                                           : "dense 16-bit tensor cores");
    double params = (double)(w->n_floats + w->n_halves);
    printf("\nmodel %s: %.2f%s parameters (dim %d, %d layers, %d heads / %d kv, head %d, ffn %d, "
           "vocab %d%s), weights %.2f GiB, random (block 0 drawn in %.1f s, copied to the rest)\n",
           s->name, params >= 1e9 ? 1e-9 * params : 1e-6 * params, params >= 1e9 ? "B" : "M",
           cfg->dim, cfg->n_layers, cfg->n_heads, cfg->n_kv_heads, cfg->head_dim, cfg->ffn_dim,
           cfg->vocab_size, cfg->tie_embeddings ? ", tied" : "",
           (double)llama_weights_bytes(w) / (1 << 30), init_seconds);
    TokenBatch train = prompts_batch(p, o->n_train);
    printf("task: %d train + %d test prompts of %d..%d random tokens (%.0f train tokens, %d in "
           "all)\n",
           o->n_train, o->n_test, MIN_LEN, MAX_LEN, total_tokens(&train), p->n_tokens);
    printf("representations hidden_states %d..%d (last token, %d features); LoRA rank %d on "
           "up_proj,down_proj of blocks %d..%d (%zu parameters); blocks 0..%d run once per "
           "trial (frozen-block cache), forwards run blocks %d..%d, backward %d..%d\n",
           s->rep_first, s->rep_last, (s->rep_last - s->rep_first + 1) * cfg->dim, lora_rank,
           s->lora_first, s->lora_last, b->lora->n_params, b->start_block - 1, b->start_block,
           top_block(s) - 1, top_block(s) - 1, b->lora->lowest_layer);
    printf("round: the published one: %d generator epochs (Adam lr 1e-4, eps 1e-2), extraction "
           "of every prompt (%d per forward), a fresh MLP-512 discriminator (30 epochs of batch "
           "64)\n",
           PUBLISHED_EPOCHS, EXTRACT_BATCH);
    printf("published (Llama-2-7B-chat, fp16, one GPU): %.0f prompts/s extraction, %.0f s per "
           "generator epoch at batch 1, %.0f s per round, %.2f s per answer\n",
           PUBLISHED_PROMPTS_PER_S, PUBLISHED_EPOCH_S, PUBLISHED_ROUND_S, PUBLISHED_ANSWER_S);
    printf("FLOPs: 2 per multiply-add of the blocks that run and the LoRA; backward of frozen\n"
           "projections counts their input gradient only (no weight gradient is taken), so a\n"
           "generator pass is forward + 2 x forward(backward's blocks) - projections(those\n"
           "blocks); discriminator and Adam not counted. \"trial clk\": the sum of the trial's\n"
           "own phase clocks (each read after the backend finished its queued work)\n");
}

static void print_goal(const char *what, double value, const char *unit, double goal, bool below) {
    bool met = below ? value <= goal : value >= goal;
    printf("goal: %s %s %.3g%s: %.3g%s, %s\n", what, below ? "<=" : ">=", goal, unit, value, unit,
           met ? "met" : "NOT met");
}

// Issue 9's goals apply to the 7B shape at the published sizes.
static bool published_sizes(const Options *o) {
    return !strcmp(o->shape->name, "7b") && o->n_train == 256 && o->n_test == 100 &&
           o->answers == 100 && o->max_new == 256;
}

// Every measurement in turn, each row printed as soon as it is measured; generation comes
// second so that a run cut short by a time limit still has it. Each measurement is the median
// of o->repeats runs after an untimed one of the same shape, so that lazily loaded kernels and
// cuBLAS's first choice of algorithm for a shape fall outside the timed runs.
static int run_bench(const Options *o, Bench *b, const Prompts *p, const Prompts *warm,
                     const Prompts *answers) {
    TokenBatch train = prompts_batch(p, o->n_train), all = prompts_batch(p, o->n_train + o->n_test);
    int n_all = o->n_train + o->n_test;
    char name[64];
    RoundTime t;
    print_header(o->repeats);

    // Warm-up: every kernel of the trial loaded and every buffer touched once.
    if (run_round(b, &warm->samples, 1, WARM_PROMPTS, &t) < 0) return -1;

    if (run_rounds(b, &p->samples, 0, 1, o->repeats, &t) < 0) return -1;
    double extract = t.reported.seconds_extract;
    snprintf(name, sizeof name, "extract %d prompts", n_all);
    int top = top_block(b->shape), forward_blocks = top - b->start_block;
    double extract_window = attention_window_flops(b, p, n_all, EXTRACT_BATCH, forward_blocks, 0);
    print_row(name, extract, total_tokens(&all), extract_flops(b, &all),
              n_all / PUBLISHED_PROMPTS_PER_S, t.reported.seconds_extract,
              h100_seconds(b, extract_flops(b, &all) + extract_window, extract_bytes(b, n_all)));
    print_row("discriminator fit + scores", t.discriminator, 0, 0, 0, -1, 0);

    // The LoRA attached is the 0-epoch trial's fresh one; its values do not change the work.
    double generation = 0;
    TokenBatch prompts = prompts_batch(answers, o->answers);
    if (time_generation(b, answers, o->answers, o->max_new, o->repeats, &generation) < 0) return -1;
    snprintf(name, sizeof name, "generate %d answers x %d tokens", o->answers, o->max_new);
    double gen_flops = generation_flops(b, &prompts, o->max_new);
    print_row(name, generation, (double)o->answers * o->max_new, gen_flops,
              o->answers * PUBLISHED_ANSWER_S, -1,
              h100_seconds(b, gen_flops, generation_bytes(b, &prompts, o->max_new)));

    double best_epoch = 0, epoch_flops = generator_flops(b, &train);
    int best_batch = 0;
    for (int i = 0; i < o->n_batches; i++) {
        int batch = o->batches[i];
        // One untimed generator step at this batch size: a trial of `batch` train prompts.
        Prompts step;
        if (prompts_make(&step, batch, WARM_PROMPTS, b->model.cfg.vocab_size, rng_derive(SEED, 4)) <
            0) {
            fprintf(stderr, "are-bench-round: out of memory for the prompts\n");
            return -1;
        }
        int rc = run_round(b, &step.samples, 1, batch, &t);
        prompts_free(&step);
        if (rc < 0 || run_rounds(b, &p->samples, 1, batch, o->repeats, &t) < 0) return -1;
        double epoch = t.reported.seconds_generator;
        snprintf(name, sizeof name, "generator epoch, batch %d", batch);
        double window = attention_window_flops(b, p, o->n_train, batch, forward_blocks,
                                               top - b->lora->lowest_layer);
        print_row(name, epoch, total_tokens(&train), epoch_flops,
                  PUBLISHED_EPOCH_S * o->n_train / 256, t.reported.seconds_generator,
                  h100_seconds(b, epoch_flops + window, generator_bytes(b, o->n_train, batch)));
        if (!best_batch || epoch < best_epoch) {
            best_epoch = epoch;
            best_batch = batch;
        }
    }

    if (run_rounds(b, &p->samples, PUBLISHED_EPOCHS, best_batch, o->repeats, &t) < 0) return -1;
    double round = t.wall;
    double round_flops = PUBLISHED_EPOCHS * epoch_flops + extract_flops(b, &all);
    double round_bytes =
        PUBLISHED_EPOCHS * generator_bytes(b, o->n_train, best_batch) + extract_bytes(b, n_all);
    double round_window =
        PUBLISHED_EPOCHS * attention_window_flops(b, p, o->n_train, best_batch, forward_blocks,
                                                  top - b->lora->lowest_layer) +
        extract_window;
    snprintf(name, sizeof name, "round (%d epochs at batch %d)", PUBLISHED_EPOCHS, best_batch);
    print_row(name, round, 0, round_flops, PUBLISHED_ROUND_S,
              t.reported.seconds_generator + t.reported.seconds_extract +
                  t.reported.seconds_discriminator,
              h100_seconds(b, round_flops + round_window, round_bytes));

    printf("\nround: %.3f s = %d generator epochs at batch %d + extraction + discriminator "
           "(trial clocks: %.3f + %.3f + %.3f s)\n",
           round, PUBLISHED_EPOCHS, best_batch, t.reported.seconds_generator,
           t.reported.seconds_extract, t.reported.seconds_discriminator);
    print_plan(&t.plan);
    printf("generation: %.3f s per answer in a batch of %d, %.1f tokens/s per answer\n",
           generation / o->answers, o->answers, o->max_new / generation);
    printf("H100 est: the time at an H100's peak (%.0f TFLOP/s dense 16-bit, %.0f fp32) or at its "
           "%.2f TB/s reading the weights and the KV cache, whichever is longer; the CUDA "
           "attention's whole key windows counted; activations and the discriminator not "
           "counted\n",
           H100_HALF_TFLOPS, H100_FP32_TFLOPS, H100_TB_S);
    if (!published_sizes(o)) {
        printf("goals: issue 9's goals apply to --shape 7b at the default sizes\n");
        return 0;
    }
    print_goal("one round", round, " s", GOAL_ROUND_S, true);
    print_goal("100 answers", generation, " s", GOAL_ANSWERS_S, true);
    if (peak_tflops > 0) {
        snprintf(name, sizeof name, "generator step MFU (batch %d)", best_batch);
        print_goal(name, 100.0 * mfu(epoch_flops, best_epoch), "%", 100.0 * GOAL_MFU, false);
    }
    return 0;
}

int main(int argc, char **argv) {
    Options o;
    int rc = parse_args(argc, argv, &o);
    if (rc) return rc == 1 ? 0 : 2;
    const LlamaConfig *cfg = &o.shape->cfg;
    if (MAX_LEN + o.max_new > cfg->max_seq_len) {
        fprintf(stderr,
                "are-bench-round: --max-new %d: prompts of %d tokens and the answer "
                "exceed the model's %d positions\n",
                o.max_new, MAX_LEN, cfg->max_seq_len);
        return 2;
    }
    char backend[320];
    Backend *be = create_backend(&o, backend, sizeof backend);
    if (!be) return 1;

    Bench b;
    Prompts task = {0}, warm = {0}, answers = {0};
    rc = 1;
    double start = monotonic_seconds();
    if (bench_create(&b, be, o.shape, o.matrices) < 0 ||
        prompts_make(&task, o.n_train, o.n_test, cfg->vocab_size, rng_derive(SEED, 1)) < 0 ||
        prompts_make(&warm, WARM_PROMPTS, WARM_PROMPTS, cfg->vocab_size, rng_derive(SEED, 2)) < 0 ||
        prompts_make(&answers, o.answers, 0, cfg->vocab_size, rng_derive(SEED, 3)) < 0) {
        fprintf(stderr, "are-bench-round: out of memory for the model or the prompts\n");
    } else {
        print_setup(&o, &b, &task, backend, synced_now(&b) - start);
        fflush(stdout); // a run cut short by a time limit still shows its setup
        rc = (o.plan_only ? print_round_plan(&b, &task.samples)
                          : run_bench(&o, &b, &task, &warm, &answers)) < 0;
    }
    prompts_free(&task);
    prompts_free(&warm);
    prompts_free(&answers);
    bench_free(&b);
    be->destroy(be);
    return rc;
}
