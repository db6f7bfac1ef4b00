// The retain loss (compute/retain.h) and its place in the ARE trial, on small random models:
//   - the backend's KL divergence against a double-precision host computation and central
//     finite differences of its own loss;
//   - backward from a caller's logit gradient: the same LoRA gradients as from targets when it
//     is the cross-entropy's gradient, and additive with targets;
//   - a retain step's loss and LoRA gradient against a host KL in double and central finite
//     differences; a pass reads every retain prompt once;
//   - an ARE trial with retain_weight > 0 keeps the retain prompts' next-token distribution
//     closer to the base model's than the same trial with weight 0;
//   - with weight 0 the retain label changes nothing, bit for bit, and bad options are errors.
#include "are_trial.h"
#include "backend_cpu.h"
#include "check.h"
#include "lora.h"
#include "retain.h"
#include "test_arrays.h"
#include "test_model.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

static Backend *cpu; // two threads, as CI runs the tests
static Rng rng;      // test data

static float *download(const float *src, size_t n) {
    float *host = new_array(n, sizeof *host);
    cpu->to_host(cpu, host, src, n * sizeof *host);
    return host;
}

static float *upload(const float *host, size_t n) {
    float *dev = cpu->alloc(cpu, n * sizeof *dev);
    cpu->to_device(cpu, dev, host, n * sizeof *dev);
    return dev;
}

// KL(softmax(ref) || softmax(logits)) over V logits in double; grad[V] = q - p when not NULL.
static double kl_reference(const float *ref, const float *logits, int V, double *grad) {
    double ref_max = -INFINITY, max = -INFINITY, ref_sum = 0, sum = 0, kl = 0;
    for (int v = 0; v < V; v++) {
        ref_max = fmax(ref_max, ref[v]);
        max = fmax(max, logits[v]);
    }
    for (int v = 0; v < V; v++) {
        ref_sum += exp(ref[v] - ref_max);
        sum += exp(logits[v] - max);
    }
    for (int v = 0; v < V; v++) {
        double log_p = ref[v] - ref_max - log(ref_sum), log_q = logits[v] - max - log(sum);
        kl += exp(log_p) * (log_p - log_q);
        if (grad) grad[v] = exp(log_q) - exp(log_p);
    }
    return kl;
}

// --- the backend op --------------------------------------------------------------------------

static void test_kl_op(void) {
    enum { N = 4, V = 37 };
    // Row 3's reference is so peaked that most of p underflows fp32: its logs must not.
    float *ref = random_floats(&rng, N * V, 2), *logits = random_floats(&rng, N * V, 2);
    ref[3 * V + 5] = 200;
    memcpy(logits + 2 * V, ref + 2 * V, V * sizeof(float)); // row 2: q == p
    float scale = 0.3f, *d_ref = upload(ref, N * V), *d_logits = upload(logits, N * V);
    float *d_loss = cpu->alloc(cpu, N * sizeof(float)), *d_grad = cpu->alloc(cpu, N * V * 4);
    cpu->kl_divergence(cpu, N, V, d_ref, d_logits, scale, d_loss, d_grad);
    float *loss = download(d_loss, N), *grad = download(d_grad, N * V);

    float want_loss[N], want_grad[N * V];
    double g[V];
    for (int i = 0; i < N; i++) {
        want_loss[i] = (float)kl_reference(ref + i * V, logits + i * V, V, g);
        for (int v = 0; v < V; v++) want_grad[i * V + v] = (float)(scale * g[v]);
    }
    check_close("KL divergence vs double host", loss, want_loss, N, 1e-6, 1e-5);
    check_close("KL gradient vs double host", grad, want_grad, N * V, 1e-7, 1e-5);
    CHECK(fabsf(loss[2]) < 1e-6f, "KL(p || p) is %g", loss[2]);
    CHECK(want_loss[3] > 1 && isfinite(loss[3]), "peaked reference: KL %g", loss[3]);

    // Central differences of the op's own loss (fp32 output of a double sum).
    float numeric[N * V], fd_step = 1e-2f;
    for (int i = 0; i < N * V; i++) {
        float saved = logits[i], up, down;
        double loss_up, loss_down;
        logits[i] = saved + fd_step;
        cpu->to_device(cpu, d_logits, logits, N * V * sizeof(float));
        cpu->kl_divergence(cpu, N, V, d_ref, d_logits, scale, d_loss, NULL);
        cpu->to_host(cpu, &up, d_loss + i / V, sizeof up);
        loss_up = up;
        logits[i] = saved - fd_step;
        cpu->to_device(cpu, d_logits, logits, N * V * sizeof(float));
        cpu->kl_divergence(cpu, N, V, d_ref, d_logits, scale, d_loss, NULL);
        cpu->to_host(cpu, &down, d_loss + i / V, sizeof down);
        loss_down = down;
        logits[i] = saved;
        numeric[i] = (float)(scale * (loss_up - loss_down) / (2.0 * fd_step));
    }
    check_close("KL gradient vs finite differences", grad, numeric, N * V, 2e-4, 1e-2);

    // In place, as the retain step runs it: the same numbers.
    cpu->to_device(cpu, d_logits, logits, N * V * sizeof(float));
    cpu->kl_divergence(cpu, N, V, d_ref, d_logits, scale, d_loss, d_logits);
    float *in_place = download(d_logits, N * V);
    CHECK(!memcmp(in_place, grad, N * V * sizeof(float)), "in-place gradient differs");

    cpu->free(cpu, d_ref);
    cpu->free(cpu, d_logits);
    cpu->free(cpu, d_loss);
    cpu->free(cpu, d_grad);
    release_arrays();
}

// --- tiny models -----------------------------------------------------------------------------

// vocab 50, dim 32, 4 query heads sharing 2 KV heads of 8 dims, 3 layers, ffn 40.
static void model_init(LlamaModel *m, uint64_t seed) {
    LlamaConfig cfg = test_model_config((TestModelShape){
        .vocab_size = 50, .dim = 32, .ffn_dim = 40, .n_layers = 3, .max_seq_len = 64});
    test_model_init(m, &cfg, cpu, MATRIX_F32, 0.2f, seed);
}

// A fresh adapter (A random, B = 0) on q, v, up, down of blocks 0 and 1.
static Lora *attach_lora(LlamaModel *m) {
    bool layers[3] = {true, true, false};
    unsigned targets = 1u << PROJ_Q | 1u << PROJ_V | 1u << PROJ_UP | 1u << PROJ_DOWN;
    m->lora = lora_create(&m->cfg, cpu, targets, layers, 4, 8.0f);
    if (!m->lora || lora_init(m->lora, &m->cfg, cpu, 17) != 0) {
        fprintf(stderr, "out of memory for the LoRA\n");
        exit(1);
    }
    return m->lora;
}

static void model_free(LlamaModel *m) {
    lora_free(m->lora, cpu);
    m->lora = NULL;
    llama_free(m);
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

static int *random_tokens(int n, int vocab) {
    int *tokens = new_array((size_t)n, sizeof *tokens);
    for (int i = 0; i < n; i++) tokens[i] = (int)(rng_next(&rng) % (uint64_t)vocab);
    return tokens;
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

// --- backward from a caller's logit gradient -------------------------------------------------

static float *lora_grads_of(LlamaModel *m, LlamaWorkspace *ws, const BackwardSources *src) {
    Lora *lora = m->lora;
    cpu->zero(cpu, lora->grads, lora->n_params * sizeof(float));
    CHECK(llama_backward(m, ws, src, NULL) == 0, "backward: %s", llama_workspace_error(ws));
    return download(lora->grads, lora->n_params);
}

static void test_logit_source(void) {
    LlamaModel m;
    model_init(&m, 21);
    Lora *lora = attach_lora(&m);
    cpu->to_device(cpu, lora->params, random_floats(&rng, lora->n_params, 0.2f),
                   lora->n_params * sizeof(float));
    int V = m.cfg.vocab_size, lens[2] = {6, 4}, T = 10;
    TokenBatch batch = {2, lens, random_tokens(T, V)};
    LlamaWorkspace *ws = workspace(&m, (WorkspacePlan){.max_tokens = T,
                                                       .max_seqs = 2,
                                                       .max_seq_len = 6,
                                                       .outputs = {.logits = true},
                                                       .backward = BACKWARD_LORA});
    forward(&m, ws, &batch);

    // The cross-entropy's own gradient, computed outside and handed in as dlogits.
    int *targets = next_token_targets(&batch), counted = 0;
    for (int t = 0; t < T; t++) counted += targets[t] >= 0;
    int *d_targets = cpu->alloc(cpu, T * sizeof(int));
    float *d_loss = cpu->alloc(cpu, T * sizeof(float));
    float *ce_grad = cpu->alloc(cpu, (size_t)T * V * sizeof(float));
    float *other = upload(random_floats(&rng, (size_t)T * V, 0.1f), (size_t)T * V);
    cpu->to_device(cpu, d_targets, targets, T * sizeof(int));
    cpu->cross_entropy(cpu, T, V, llama_logits(ws), d_targets, 1.0f / counted, d_loss, ce_grad);

    size_t n = lora->n_params;
    float *from_targets = lora_grads_of(&m, ws, &(BackwardSources){.targets = targets});
    float *from_dlogits = lora_grads_of(&m, ws, &(BackwardSources){.dlogits = ce_grad});
    float *from_other = lora_grads_of(&m, ws, &(BackwardSources){.dlogits = other});
    float *from_both =
        lora_grads_of(&m, ws, &(BackwardSources){.targets = targets, .dlogits = other});
    CHECK(!memcmp(from_targets, from_dlogits, n * sizeof(float)),
          "backward from the cross-entropy's dlogits differs from backward from targets");
    float *sum = new_array(n, sizeof *sum);
    for (size_t i = 0; i < n; i++) sum[i] = from_targets[i] + from_other[i];
    check_close("targets + dlogits: the sum of each one's gradients", from_both, sum, n, 1e-6,
                1e-4);

    // A plan without logits refuses a logit gradient.
    LlamaWorkspace *no_logits =
        workspace(&m, (WorkspacePlan){.max_tokens = T,
                                      .max_seqs = 2,
                                      .max_seq_len = 6,
                                      .outputs = {.n_capture = 1, .layers = {2}},
                                      .backward = BACKWARD_LORA});
    forward(&m, no_logits, &batch);
    CHECK(llama_backward(&m, no_logits, &(BackwardSources){.dlogits = other}, NULL) < 0 &&
              strstr(llama_workspace_error(no_logits), "logit gradients needs logits"),
          "dlogits without logits: '%s'", llama_workspace_error(no_logits));

    llama_workspace_free(no_logits);
    llama_workspace_free(ws);
    cpu->free(cpu, d_targets);
    cpu->free(cpu, d_loss);
    cpu->free(cpu, ce_grad);
    cpu->free(cpu, other);
    model_free(&m);
    release_arrays();
}

// --- the retain step against finite differences ----------------------------------------------

// Retain prompts and an independent measure of their loss: a forward in a workspace of the
// test's own, and the KL in double against base logits the test recorded itself.
typedef struct {
    LlamaModel *m;
    LlamaWorkspace *ws;
    TokenBatch batch;
    int T;
    int last[8];   // last-token row of each prompt
    float *base;   // [n, V] host
    float *logits; // [T, V] host scratch
    float weight;
} RetainLoss;

static void last_rows(const float *logits, const RetainLoss *l, int V, float *rows) {
    for (int i = 0; i < l->batch.n_seqs; i++)
        memcpy(rows + (size_t)i * V, logits + (size_t)l->last[i] * V, V * sizeof(float));
}

static double retain_loss_reference(const RetainLoss *l) {
    int V = l->m->cfg.vocab_size, n = l->batch.n_seqs;
    forward(l->m, l->ws, &l->batch);
    float *rows = new_array((size_t)n * V, sizeof *rows);
    cpu->to_host(cpu, l->logits, llama_logits(l->ws), (size_t)l->T * V * sizeof(float));
    last_rows(l->logits, l, V, rows);
    double kl = 0;
    for (int i = 0; i < n; i++) kl += kl_reference(l->base + i * V, rows + i * V, V, NULL);
    return l->weight * kl / n;
}

static void test_retain_gradient(void) {
    LlamaModel m;
    model_init(&m, 31);
    Lora *lora = attach_lora(&m);
    int V = m.cfg.vocab_size, lens[3] = {5, 3, 6}, T = 14, n = 3;
    RetainLoss l = {.m = &m, .batch = {n, lens, random_tokens(T, V)}, .T = T, .weight = 0.7f};
    for (int i = 0, at = 0; i < n; i++) l.last[i] = (at += lens[i]) - 1;
    l.ws = workspace(
        &m, (WorkspacePlan){
                .max_tokens = T, .max_seqs = n, .max_seq_len = 6, .outputs = {.logits = true}});
    l.logits = new_array((size_t)T * V, sizeof(float));
    l.base = new_array((size_t)n * V, sizeof(float));

    char err[256] = "";
    Retain *r = retain_create(&m, n, lens, l.batch.tokens, n, 5, err, sizeof err);
    CHECK(r && retain_record_base(r, err, sizeof err) == 0, "retain: %s", err);
    forward(&m, l.ws, &l.batch); // B = 0: the base model
    cpu->to_host(cpu, l.logits, llama_logits(l.ws), (size_t)T * V * sizeof(float));
    last_rows(l.logits, &l, V, l.base);

    // Away from the base model: every A and B random.
    cpu->to_device(cpu, lora->params, random_floats(&rng, lora->n_params, 0.3f),
                   lora->n_params * sizeof(float));
    double want = retain_loss_reference(&l), loss, mean_kl;
    cpu->zero(cpu, lora->grads, lora->n_params * sizeof(float));
    CHECK(retain_step(r, l.weight, &loss, err, sizeof err) == 0, "retain step: %s", err);
    CHECK(want > 1e-3 && fabs(loss - want) <= 1e-5 * want, "retain loss %.9g, host %.9g", loss,
          want);
    CHECK(retain_divergence(r, &mean_kl, err, sizeof err) == 0 &&
              fabs(mean_kl * l.weight - want) <= 1e-5 * want,
          "mean KL %.9g, host %.9g", mean_kl, want / l.weight);
    float *grads = download(lora->grads, lora->n_params);

    // Central differences of the host loss, entries of every A and B.
    float fd_step = 1e-2f, numeric[64], analytic[64];
    int k = 0;
    for (int layer = 0; layer < 2; layer++)
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, layer, p)) continue;
            int out, in;
            projection_shape(&m.cfg, p, &out, &in);
            float *tensors[2] = {lora_A(lora, layer, p), lora_B(lora, &m.cfg, layer, p)};
            size_t sizes[2] = {(size_t)lora->rank * in, (size_t)out * lora->rank};
            for (int t = 0; t < 2; t++)
                for (int e = 0; e < 3; e++) {
                    size_t at = (size_t)(tensors[t] - lora->params) + rng_next(&rng) % sizes[t];
                    float saved, shifted;
                    cpu->to_host(cpu, &saved, lora->params + at, sizeof saved);
                    shifted = saved + fd_step;
                    cpu->to_device(cpu, lora->params + at, &shifted, sizeof shifted);
                    double up = retain_loss_reference(&l);
                    shifted = saved - fd_step;
                    cpu->to_device(cpu, lora->params + at, &shifted, sizeof shifted);
                    double down = retain_loss_reference(&l);
                    cpu->to_device(cpu, lora->params + at, &saved, sizeof saved);
                    numeric[k] = (float)((up - down) / (2.0 * fd_step));
                    analytic[k++] = grads[at];
                }
        }
    float scale = 0;
    for (int i = 0; i < k; i++) scale = fmaxf(scale, fabsf(numeric[i]));
    CHECK(k == 48 && scale > 0, "%d entries tried, largest difference %g", k, scale);
    check_close("retain LoRA gradient vs finite differences", analytic, numeric, (size_t)k,
                1e-2 * scale, 1e-2);

    llama_workspace_free(l.ws);
    retain_free(r);
    model_free(&m);
    release_arrays();
}

// Batches of 2 over 5 prompts: 2, 2, 1, then a new pass. With the weights fixed, a pass's
// losses add up to the KL of every prompt once.
static void test_retain_passes(void) {
    LlamaModel m;
    model_init(&m, 41);
    Lora *lora = attach_lora(&m);
    int V = m.cfg.vocab_size, lens[5] = {4, 7, 3, 5, 6}, n = 5;
    int *tokens = random_tokens(25, V);
    char err[256] = "";
    Retain *r = retain_create(&m, n, lens, tokens, 2, 9, err, sizeof err);
    CHECK(r && retain_record_base(r, err, sizeof err) == 0, "retain: %s", err);
    cpu->to_device(cpu, lora->params, random_floats(&rng, lora->n_params, 0.3f),
                   lora->n_params * sizeof(float));
    double mean_kl;
    CHECK(retain_divergence(r, &mean_kl, err, sizeof err) == 0, "divergence: %s", err);
    static const int sizes[] = {2, 2, 1, 2, 2, 1};
    double pass[2] = {0, 0}, weight = 2.0, loss;
    for (int s = 0; s < 6; s++) {
        CHECK(retain_step(r, (float)weight, &loss, err, sizeof err) == 0, "step %d: %s", s, err);
        pass[s / 3] += loss / weight * sizes[s];
    }
    CHECK(mean_kl > 1e-3 && fabs(pass[0] - n * mean_kl) <= 1e-5 * n * mean_kl &&
              fabs(pass[1] - n * mean_kl) <= 1e-5 * n * mean_kl,
          "passes sum to %.9g and %.9g, every prompt's KL to %.9g", pass[0], pass[1], n * mean_kl);
    retain_free(r);

    CHECK(!retain_create(&m, 0, lens, tokens, 2, 9, err, sizeof err) &&
              strstr(err, "at least one prompt"),
          "no prompts: '%s'", err);
    model_free(&m);
    release_arrays();
}

// --- the retain loss in an ARE trial ---------------------------------------------------------

enum { N_SAMPLES = 24, MAX_ROUNDS = 3 };

// A task a tiny random model can see: label 1 prompts draw tokens from the upper half of the
// vocabulary, label 0 from the lower half; 16 train prompts and 8 test prompts.
typedef struct {
    int len[N_SAMPLES], labels[N_SAMPLES], tokens[N_SAMPLES * 8];
    bool is_test[N_SAMPLES];
    AreSamples samples;
} Task;

static void task_init(Task *t) {
    Rng task_rng;
    rng_seed(&task_rng, 5);
    for (int i = 0, at = 0; i < N_SAMPLES; i++) {
        t->labels[i] = i % 2;
        t->is_test[i] = i >= 16;
        t->len[i] = 4 + (int)(rng_next(&task_rng) % 5);
        for (int k = 0; k < t->len[i]; k++)
            t->tokens[at++] = t->labels[i] * 25 + (int)(rng_next(&task_rng) % 25);
    }
    t->samples = (AreSamples){N_SAMPLES, t->len, t->tokens, t->labels, t->is_test};
}

static AreOptions trial_options(float retain_weight, int retain_label) {
    return (AreOptions){.rep_layers = {2},
                        .n_rep_layers = 1,
                        .disc = {.kind = DISCRIMINATOR_LINEAR,
                                 .hidden = 8,
                                 .lr = 1e-2f,
                                 .eps = 1e-8f,
                                 .epochs = 20,
                                 .batch_size = 8,
                                 .standardize = true},
                        .target_label = 0,
                        .gen_lr = 5e-3f,
                        .gen_eps = 1e-6f,
                        .gen_epochs = 2,
                        .gen_batch_size = 4,
                        .retain_weight = retain_weight,
                        .retain_label = retain_label,
                        .max_rounds = MAX_ROUNDS,
                        .converge_low = 0.999f, // never: every round runs
                        .converge_high = 1.0f,
                        .extract_batch = 8,
                        .seed = 7,
                        .store_rounds = STORE_ROUNDS_ALL};
}

// What a trial reports.
typedef struct {
    AreRoundMetrics rounds[MAX_ROUNDS + 1];
    int n_rounds;
    float *reps; // [rounds, samples, dim] host
    size_t n_reps;
    float *lora; // [n_lora] the final weights
    size_t n_lora;
    double retain_kl; // mean KL(base || edited) over the label 0 train prompts after the trial
} TrialRecord;

static int record_metrics(void *ctx, const AreRoundMetrics *r) {
    TrialRecord *rec = ctx;
    rec->rounds[rec->n_rounds++] = *r;
    return 0;
}

static int record_reps(void *ctx, int round, const float *reps, int n, int layers, int dim) {
    TrialRecord *rec = ctx;
    size_t size = (size_t)n * layers * dim;
    memcpy(rec->reps + (size_t)round * size, reps, size * sizeof *reps);
    return 0;
}

// A trial expected to fail: its message in err.
static bool trial_fails(const Task *task, const AreOptions *opt, char *err, size_t err_len) {
    LlamaModel m;
    model_init(&m, 3);
    attach_lora(&m);
    AreResult result;
    int rc = are_trial_run(&m, &task->samples, opt, NULL, NULL, &result, err, err_len);
    model_free(&m);
    return rc < 0;
}

static bool same_bits(double a, double b) {
    return !memcmp(&a, &b, sizeof a); // NaN included
}

// Every number of two trials but the timings, bit for bit.
static bool same_record(const TrialRecord *a, const TrialRecord *b) {
    if (a->n_rounds != b->n_rounds || memcmp(a->reps, b->reps, a->n_reps * sizeof(float)) ||
        memcmp(a->lora, b->lora, a->n_lora * sizeof(float)))
        return false;
    for (int i = 0; i < a->n_rounds; i++) {
        const AreRoundMetrics *x = &a->rounds[i], *y = &b->rounds[i];
        if (!same_bits(x->disc_loss_train, y->disc_loss_train) ||
            !same_bits(x->disc_acc_train, y->disc_acc_train) ||
            !same_bits(x->disc_acc_test, y->disc_acc_test) ||
            !same_bits(x->disc_loss_test, y->disc_loss_test) ||
            !same_bits(x->gen_loss_train, y->gen_loss_train) ||
            !same_bits(x->gen_loss_test, y->gen_loss_test) ||
            !same_bits(x->retain_loss, y->retain_loss))
            return false;
    }
    return true;
}

// Runs the trial on a fresh model, measuring the retain prompts' divergence from the base
// model afterwards with a Retain of the test's own (recorded before the trial).
static int run_trial(const Task *task, const AreOptions *opt, TrialRecord *rec, char *err,
                     size_t err_len) {
    LlamaModel m;
    model_init(&m, 3);
    Lora *lora = attach_lora(&m);
    int len[N_SAMPLES], tokens[N_SAMPLES * 8], n = 0, at = 0;
    for (int i = 0, from = 0; i < N_SAMPLES; from += task->len[i], i++)
        if (!task->is_test[i] && task->labels[i] == 0) {
            len[n++] = task->len[i];
            memcpy(tokens + at, task->tokens + from, task->len[i] * sizeof(int));
            at += task->len[i];
        }
    char why[256];
    Retain *probe = retain_create(&m, n, len, tokens, 8, 1, why, sizeof why);
    if (!probe || retain_record_base(probe, why, sizeof why) < 0) {
        fprintf(stderr, "probe: %s\n", why);
        exit(1);
    }
    size_t n_reps = (size_t)(MAX_ROUNDS + 1) * N_SAMPLES * m.cfg.dim;
    *rec = (TrialRecord){
        .reps = new_array(n_reps, sizeof(float)), .n_reps = n_reps, .n_lora = lora->n_params};
    AreSink sink = {.ctx = rec, .round_metrics = record_metrics, .representations = record_reps};
    AreResult result;
    int rc = are_trial_run(&m, &task->samples, opt, &sink, NULL, &result, err, err_len);
    if (rc == 0) {
        rec->lora = download(lora->params, lora->n_params);
        CHECK(retain_divergence(probe, &rec->retain_kl, why, sizeof why) == 0, "probe: %s", why);
    }
    retain_free(probe);
    model_free(&m);
    return rc;
}

static void test_trial(void) {
    static Task task;
    task_init(&task);
    static TrialRecord off, off_label_1, on;
    char err[256] = "";
    AreOptions opt_off = trial_options(0, 0), opt_on = trial_options(2.0f, 0);
    CHECK(run_trial(&task, &opt_off, &off, err, sizeof err) == 0, "trial, retain off: %s", err);
    CHECK(run_trial(&task, &opt_on, &on, err, sizeof err) == 0, "trial, retain on: %s", err);
    AreOptions opt = trial_options(0, 1);
    CHECK(run_trial(&task, &opt, &off_label_1, err, sizeof err) == 0, "trial: %s", err);

    printf("%-60s %.5f (off) -> %.5f (weight 2)\n", "retain prompts' KL to the base model",
           off.retain_kl, on.retain_kl);
    CHECK(off.retain_kl > 1e-3, "without the retain loss the model hardly moved: KL %g",
          off.retain_kl);
    CHECK(on.retain_kl < 0.5 * off.retain_kl,
          "the retain loss should keep the KL well below %g, got %g", off.retain_kl, on.retain_kl);
    CHECK(off.n_rounds == MAX_ROUNDS + 1 && on.n_rounds == MAX_ROUNDS + 1, "rounds %d, %d",
          off.n_rounds, on.n_rounds);
    for (int i = 0; i < on.n_rounds; i++) {
        CHECK(isnan(off.rounds[i].retain_loss), "retain off: round %d's retain loss is %g", i,
              off.rounds[i].retain_loss);
        bool measured =
            i > 0 && on.rounds[i].retain_loss >= 0 && isfinite(on.rounds[i].retain_loss);
        CHECK(i == 0 ? isnan(on.rounds[0].retain_loss) : measured, "round %d retain loss %g", i,
              on.rounds[i].retain_loss);
    }
    // The generator still does its job under the retain loss.
    CHECK(on.rounds[MAX_ROUNDS].gen_loss_train < on.rounds[1].gen_loss_train,
          "generator loss %g -> %g", on.rounds[1].gen_loss_train,
          on.rounds[MAX_ROUNDS].gen_loss_train);

    // Off, the retain label is never read: bit-identical results.
    CHECK(same_record(&off, &off_label_1), "retain off: the retain label changed results");
    CHECK(!same_record(&off, &on), "retain on: results identical to retain off");

    // Bad options.
    opt = trial_options(NAN, 0);
    CHECK(trial_fails(&task, &opt, err, sizeof err) && strstr(err, "retain weight"),
          "NaN weight: '%s'", err);
    opt = trial_options(1, 2);
    CHECK(trial_fails(&task, &opt, err, sizeof err) && strstr(err, "retain label"), "label 2: '%s'",
          err);
    for (int i = 0; i < N_SAMPLES; i++)
        if (!task.is_test[i]) task.labels[i] = 1; // label 0 only among the test prompts
    opt = trial_options(1, 0);
    CHECK(trial_fails(&task, &opt, err, sizeof err) &&
              strstr(err, "needs train prompts labelled 0"),
          "no retain prompts: '%s'", err);
    release_arrays();
}

int main(void) {
    cpu = backend_cpu_create(2);
    rng_seed(&rng, 2024);
    test_kl_op();
    test_logit_source();
    test_retain_gradient();
    test_retain_passes();
    test_trial();
    cpu->destroy(cpu);
    return check_summary();
}
