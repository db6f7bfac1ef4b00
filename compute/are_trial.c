#include "are_trial.h"

#include "adamw.h"
#include "fail.h"
#include "monotonic_clock.h"
#include "retain.h"
#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const are_stop_names[] = {"converged", "max_rounds", "guard", "baseline"};

// Independent random streams of a trial's seed.
enum { STREAM_LORA_INIT, STREAM_DISC_INIT, STREAM_DISC_ORDER, STREAM_GEN_ORDER, STREAM_RETAIN };

static uint64_t stream_seed(uint64_t seed, int stream, int round) {
    return rng_derive(rng_derive(seed, (uint64_t)stream), (uint64_t)round);
}

typedef struct {
    LlamaModel *m;
    Backend *be;
    const AreSamples *s;
    const AreOptions *opt;
    int F; // features per sample: n_rep_layers * dim
    int n_train, n_test;
    size_t *offset; // [n] host: first token of each sample in s->tokens

    // Backend memory, one allocation: H [n, F] in dataset order, H_train [n_train, F],
    // H_test [n_test, F], scratch [max(n_train, n_test), F], then rows_train [n_train] and
    // rows_test [n_test] (int) for gathering.
    void *device;
    float *H, *H_train, *H_test, *scratch;
    int *rows_train, *rows_test;

    // Host memory, one allocation.
    void *host;
    float *H_host;     // [n, F] for the sink
    float *lora_host;  // [n_params] for the sink
    float *best_lora;  // [n_params] LoRA weights of the best round so far
    int *labels_train; // [n_train]
    int *labels_test;  // [n_test]
    int *train_index;  // [n_train] dataset index of each train sample
    int *order;        // [max(n_train, max_seqs)] generator reading order, extraction batch
    int *batch_tokens; // [max_tokens]
    int *batch_len;    // [max_seqs]

    // cache_frozen_blocks: forwards start at block start_block from frozen_resid [n_tokens, dim]
    // (hidden_states[start_block] of every token of every prompt, in s->tokens order), the
    // batch's rows gathered into batch_resid [max_tokens, dim]. start_block 0: no cache.
    int start_block;
    float *frozen_resid, *batch_resid; // backend memory, one allocation of frozen_cache_bytes
    size_t frozen_cache_bytes;
    int max_tokens, longest; // of the largest batch, and the longest prompt

    LlamaWorkspace *ws;
    Discriminator *disc;
    AdamW adam;
    Retain *retain; // NULL when the retain loss is off
    AreMemoryPlan memory;
} Trial;

// Times one phase of a round into *seconds, between phase_start and phase_stop. Both read the
// clock once every op queued so far has run: phase times on a GPU, whose ops return before they
// finish, would otherwise move work from one phase into the next.
typedef struct {
    Backend *be;
    double start;
    double *seconds;
} PhaseTimer;

static PhaseTimer phase_start(Trial *t, double *seconds) {
    t->be->synchronize(t->be);
    return (PhaseTimer){.be = t->be, .start = monotonic_seconds(), .seconds = seconds};
}

static void phase_stop(PhaseTimer timer) {
    timer.be->synchronize(timer.be);
    *timer.seconds = monotonic_seconds() - timer.start;
}

static int check_options(const LlamaModel *m, const AreSamples *s, const AreOptions *o, char *err,
                         size_t err_len) {
    if (!m->lora) return fail(err, err_len, "no LoRA attached to the model");
    if (o->n_rep_layers < 1 || o->n_rep_layers > LLAMA_MAX_CAPTURE)
        return fail(err, err_len, "representation layers: between 1 and 64 expected");
    for (int i = 0; i < o->n_rep_layers; i++)
        if (llama_resolve_layer(&m->cfg, o->rep_layers[i]) < 0)
            return fail(err, err_len, "representation layer %d is outside the model's %d layers",
                        o->rep_layers[i], m->cfg.n_layers);
    if (o->target_label != 0 && o->target_label != 1)
        return fail(err, err_len, "target label must be 0 or 1");
    if (o->gen_batch_size < 1 || o->gen_epochs < 0 || o->extract_batch < 1 || o->max_rounds < 0)
        return fail(err, err_len, "batch sizes must be >= 1, epochs and rounds >= 0");
    if (!(o->retain_weight >= 0) || isinf(o->retain_weight))
        return fail(err, err_len, "retain weight must be a finite number >= 0");
    if (o->retain_weight > 0 && o->retain_label != 0 && o->retain_label != 1)
        return fail(err, err_len, "retain label must be 0 or 1");
    if (s->n < 2) return fail(err, err_len, "a task needs at least two prompts");
    return 0;
}

// Largest sum of `k` prompt lengths (the token budget of a batch of k prompts).
static int longest_batch_tokens(const AreSamples *s, int k, int *longest) {
    int *sorted = malloc((size_t)s->n * sizeof *sorted);
    if (!sorted) return -1;
    memcpy(sorted, s->len, (size_t)s->n * sizeof *sorted);
    // Partial selection of the k longest: k is small next to n in practice.
    int total = 0;
    for (int i = 0; i < k && i < s->n; i++) {
        int best = i;
        for (int j = i + 1; j < s->n; j++)
            if (sorted[j] > sorted[best]) best = j;
        int t = sorted[i];
        sorted[i] = sorted[best];
        sorted[best] = t;
        total += sorted[i];
    }
    *longest = sorted[0];
    free(sorted);
    return total;
}

static void trial_free(Trial *t) {
    if (t->be) {
        if (t->device) t->be->free(t->be, t->device);
        if (t->frozen_resid) t->be->free(t->be, t->frozen_resid);
        adamw_free(&t->adam, t->be);
    }
    discriminator_free(t->disc);
    retain_free(t->retain);
    llama_workspace_free(t->ws);
    free(t->host);
    free(t->offset);
}

// The retain loss over the train prompts labelled retain_label, its base distributions taken
// now: the LoRA was just initialised (B = 0), so the model is the base model.
static int retain_init(Trial *t, char *err, size_t err_len) {
    const AreSamples *s = t->s;
    const AreOptions *o = t->opt;
    int n = 0;
    size_t n_tokens = 0;
    for (int i = 0; i < s->n; i++)
        if (!s->is_test[i] && s->labels[i] == o->retain_label) {
            n++;
            n_tokens += (size_t)s->len[i];
        }
    if (n == 0)
        return fail(err, err_len, "the retain loss needs train prompts labelled %d; there are none",
                    o->retain_label);
    int *len = malloc((size_t)n * sizeof *len), *tokens = malloc(n_tokens * sizeof *tokens);
    if (!len || !tokens) {
        free(len);
        free(tokens);
        return fail(err, err_len, "out of memory");
    }
    size_t at = 0;
    for (int i = 0, k = 0; i < s->n; i++)
        if (!s->is_test[i] && s->labels[i] == o->retain_label) {
            len[k++] = s->len[i];
            memcpy(tokens + at, s->tokens + t->offset[i], (size_t)s->len[i] * sizeof *tokens);
            at += (size_t)s->len[i];
        }
    t->retain = retain_create(t->m, n, len, tokens, o->gen_batch_size,
                              stream_seed(o->seed, STREAM_RETAIN, 0), err, err_len);
    free(len);
    free(tokens);
    if (!t->retain) return -1;
    return retain_record_base(t->retain, err, err_len);
}

// The block where every forward can start: the lowest LoRA block, when caching is on and no
// representation is read below it; else 0.
static int frozen_blocks(const LlamaModel *m, const AreOptions *o) {
    int start = o->cache_frozen_blocks ? m->lora->lowest_layer : 0;
    for (int i = 0; i < o->n_rep_layers; i++) {
        int index = llama_resolve_layer(&m->cfg, o->rep_layers[i]);
        if (index < start) start = index;
    }
    return start < m->cfg.n_layers ? start : 0;
}

// The frozen blocks' cache: frozen_resid for every prompt token, then batch_resid.
static int alloc_frozen_cache(Trial *t, char *err, size_t err_len) {
    size_t d = (size_t)t->m->cfg.dim, n_tokens = 0;
    for (int i = 0; i < t->s->n; i++) n_tokens += (size_t)t->s->len[i];
    t->frozen_cache_bytes = (n_tokens + (size_t)t->max_tokens) * d * sizeof(float);
    t->frozen_resid = t->be->alloc(t->be, t->frozen_cache_bytes);
    if (!t->frozen_resid) return fail(err, err_len, "out of memory for the frozen blocks' cache");
    t->batch_resid = t->frozen_resid + n_tokens * d;
    return 0;
}

// Runs every prompt through the frozen blocks once, into frozen_resid. Needs its own
// workspace, capturing hidden_states[start_block] at every token, for as long as it runs.
static int fill_frozen_cache(Trial *t, char *err, size_t err_len) {
    const AreSamples *s = t->s;
    size_t d = (size_t)t->m->cfg.dim;
    WorkspacePlan plan = {
        .max_tokens = t->max_tokens,
        .max_seqs = t->opt->extract_batch,
        .max_seq_len = t->longest,
        .outputs = {.n_capture = 1, .layers = {t->start_block}, .capture_at = CAPTURE_ALL_TOKENS},
        .backward = BACKWARD_NONE};
    LlamaWorkspace *ws = llama_workspace_create(t->m, &plan, err, err_len);
    if (!ws) return -1;
    int rc = 0, chunk = t->opt->extract_batch;
    for (int first = 0; rc == 0 && first < s->n; first += chunk) {
        int k = s->n - first < chunk ? s->n - first : chunk;
        size_t tokens = 0;
        for (int b = 0; b < k; b++) tokens += (size_t)s->len[first + b];
        TokenBatch batch = {
            .n_seqs = k, .seq_len = s->len + first, .tokens = s->tokens + t->offset[first]};
        if (llama_forward(t->m, ws, &batch) < 0)
            rc = fail(err, err_len, "%s", llama_workspace_error(ws));
        else
            t->be->copy(t->be, t->frozen_resid + t->offset[first] * d, llama_captured(ws),
                        tokens * d * sizeof(float));
    }
    llama_workspace_free(ws);
    return rc;
}

static int trial_init(Trial *t, LlamaModel *m, const AreSamples *s, const AreOptions *o, char *err,
                      size_t err_len) {
    *t = (Trial){.m = m, .be = m->be, .s = s, .opt = o};
    t->F = o->n_rep_layers * m->cfg.dim;
    for (int i = 0; i < s->n; i++) s->is_test[i] ? t->n_test++ : t->n_train++;
    if (t->n_train < 1 || (t->n_test < 1 && !o->converge_on_train))
        return fail(err, err_len,
                    "the task needs train prompts, and test prompts to test convergence on");

    int longest = 0;
    int extract_tokens = longest_batch_tokens(s, o->extract_batch, &longest);
    int gen_tokens = longest_batch_tokens(s, o->gen_batch_size, &longest);
    if (extract_tokens < 0 || gen_tokens < 0) return fail(err, err_len, "out of memory");
    int max_seqs = o->extract_batch > o->gen_batch_size ? o->extract_batch : o->gen_batch_size;
    int max_tokens = extract_tokens > gen_tokens ? extract_tokens : gen_tokens;

    WorkspacePlan plan = {
        .max_tokens = max_tokens,
        .max_seqs = max_seqs,
        .max_seq_len = longest,
        .outputs = {.n_capture = o->n_rep_layers, .capture_at = CAPTURE_LAST_TOKEN},
        .backward = BACKWARD_LORA};
    memcpy(plan.outputs.layers, o->rep_layers, (size_t)o->n_rep_layers * sizeof(int));
    if (!(t->ws = llama_workspace_create(m, &plan, err, err_len))) return -1;

    size_t F = (size_t)t->F, n = (size_t)s->n;
    size_t scratch_rows = (size_t)(t->n_train > t->n_test ? t->n_train : t->n_test);
    size_t floats = (n + (size_t)t->n_train + (size_t)t->n_test + scratch_rows) * F;
    t->device = t->be->alloc(t->be, floats * sizeof(float) + n * sizeof(int));
    size_t n_params = m->lora->n_params;
    // order holds the generator's reading order of the train samples and, during extraction,
    // the indices of one extraction batch: whichever is longer.
    size_t order_len = (size_t)(t->n_train > max_seqs ? t->n_train : max_seqs);
    t->host = malloc(n * F * sizeof(float) + 2 * n_params * sizeof(float) +
                     (2 * (size_t)t->n_train + (size_t)t->n_test + order_len + (size_t)max_tokens +
                      (size_t)max_seqs) *
                         sizeof(int));
    t->offset = malloc(n * sizeof *t->offset);
    t->disc = discriminator_create(t->be, &o->disc, t->F, s->n);
    AdamWConfig adam = {.lr = o->gen_lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = o->gen_eps};
    if (!t->device || !t->host || !t->offset || !t->disc ||
        adamw_init(&t->adam, &adam, n_params, t->be) < 0)
        return fail(err, err_len, "out of memory for the trial's buffers");

    t->H = t->device;
    t->H_train = t->H + n * F;
    t->H_test = t->H_train + (size_t)t->n_train * F;
    t->scratch = t->H_test + (size_t)t->n_test * F;
    t->rows_train = (int *)(t->scratch + scratch_rows * F);
    t->rows_test = t->rows_train + t->n_train;

    t->H_host = t->host;
    t->lora_host = t->H_host + n * F;
    t->best_lora = t->lora_host + n_params;
    t->labels_train = (int *)(t->best_lora + n_params);
    t->labels_test = t->labels_train + t->n_train;
    t->train_index = t->labels_test + t->n_test;
    t->order = t->train_index + t->n_train;
    t->batch_tokens = t->order + order_len;
    t->batch_len = t->batch_tokens + max_tokens;

    // rows_train and rows_test side by side in one host array, then one upload.
    int *rows = malloc(n * sizeof *rows);
    if (!rows) return fail(err, err_len, "out of memory");
    size_t at = 0;
    for (int i = 0, k_train = 0, k_test = 0; i < s->n; i++) {
        t->offset[i] = at;
        at += (size_t)s->len[i];
        if (s->is_test[i]) {
            rows[t->n_train + k_test] = i;
            t->labels_test[k_test++] = s->labels[i];
        } else {
            rows[k_train] = i;
            t->train_index[k_train] = i;
            t->labels_train[k_train++] = s->labels[i];
        }
    }
    t->be->to_device(t->be, t->rows_train, rows, n * sizeof *rows);
    free(rows);
    t->start_block = frozen_blocks(m, o);
    t->max_tokens = max_tokens;
    t->longest = longest;
    if (t->start_block > 0 && alloc_frozen_cache(t, err, err_len) < 0) return -1;
    if (o->retain_weight > 0 && retain_init(t, err, err_len) < 0) return -1;

    AreMemoryPlan *mem = &t->memory;
    mem->weights = llama_weights_bytes(&m->w);
    mem->lora = (2 + 2) * n_params * sizeof(float); // params, grads, AdamW's two moments
    mem->activations = llama_workspace_bytes(t->ws);
    mem->frozen_cache = t->frozen_cache_bytes;
    mem->trial = floats * sizeof(float) + n * sizeof(int) + discriminator_bytes(t->disc) +
                 (t->retain ? retain_bytes(t->retain) : 0);
    mem->first_block = m->lora->lowest_layer;
    mem->last_block = 0;
    for (int i = 0; i < o->n_rep_layers; i++) {
        int layer = llama_resolve_layer(&m->cfg, o->rep_layers[i]);
        // hidden_states[L] is the output of block L - 1 (the last one after the final norm)
        if (layer - 1 > mem->last_block) mem->last_block = layer - 1;
    }
    return 0;
}

// Packs the prompts idx[0..k) into the batch buffers (and their cached residual rows).
static TokenBatch gather_batch(Trial *t, const int *idx, int k) {
    size_t at = 0, d = (size_t)t->m->cfg.dim;
    for (int b = 0; b < k; b++) {
        int i = idx[b];
        size_t len = (size_t)t->s->len[i];
        t->batch_len[b] = t->s->len[i];
        memcpy(t->batch_tokens + at, t->s->tokens + t->offset[i], len * sizeof(int));
        if (t->start_block > 0)
            t->be->copy(t->be, t->batch_resid + at * d, t->frozen_resid + t->offset[i] * d,
                        len * d * sizeof(float));
        at += len;
    }
    return (TokenBatch){.n_seqs = k, .seq_len = t->batch_len, .tokens = t->batch_tokens};
}

// llama_forward of a batch from gather_batch, from the cached frozen blocks when there are any.
static int forward_batch(Trial *t, const TokenBatch *batch, char *err, size_t err_len) {
    if (llama_forward_from(t->m, t->ws, batch, t->start_block, t->batch_resid) < 0)
        return fail(err, err_len, "%s", llama_workspace_error(t->ws));
    return 0;
}

// R(x) of every sample into H [n, F] (dataset order), then gathered into H_train and H_test.
static int extract(Trial *t, char *err, size_t err_len) {
    Backend *be = t->be;
    int n = t->s->n, chunk = t->opt->extract_batch;
    for (int first = 0; first < n; first += chunk) {
        int k = n - first < chunk ? n - first : chunk;
        for (int b = 0; b < k; b++) t->order[b] = first + b;
        TokenBatch batch = gather_batch(t, t->order, k);
        if (forward_batch(t, &batch, err, err_len) < 0) return -1;
        be->copy(be, t->H + (size_t)first * t->F, llama_captured(t->ws),
                 (size_t)k * (size_t)t->F * sizeof(float));
    }
    be->gather_rows(be, t->n_train, t->F, t->rows_train, t->H, t->F, t->H_train, t->F);
    if (t->n_test) be->gather_rows(be, t->n_test, t->F, t->rows_test, t->H, t->F, t->H_test, t->F);
    return 0;
}

// Fisher-Yates over the train samples (dataset indices) from the round's stream.
static void shuffle_train(Trial *t, int round, int epoch) {
    Rng rng;
    rng_seed(&rng, stream_seed(t->opt->seed, STREAM_GEN_ORDER, round * 1000 + epoch));
    memcpy(t->order, t->train_index, (size_t)t->n_train * sizeof(int));
    for (int i = t->n_train; i > 1; i--) {
        int j = (int)(rng_next(&rng) % (uint64_t)i);
        int tmp = t->order[i - 1];
        t->order[i - 1] = t->order[j];
        t->order[j] = tmp;
    }
}

// The generator phase of a round: D frozen, the LoRA trained so that D(R(x)) = target for every
// train prompt, plus the retain loss when on. Writes the mean losses of the last epoch into r
// and the train tokens processed.
static int generator_step(Trial *t, int round, AreRoundMetrics *r, double *tokens, char *err,
                          size_t err_len) {
    Backend *be = t->be;
    Lora *lora = t->m->lora;
    const AreOptions *o = t->opt;
    adamw_reset(&t->adam, be);
    *tokens = 0;
    BackwardSources src = {.from_captured = true};
    for (int epoch = 0; epoch < o->gen_epochs; epoch++) {
        shuffle_train(t, round, epoch);
        double sum = 0, retain_sum = 0;
        int batches = 0;
        for (int first = 0; first < t->n_train; first += o->gen_batch_size) {
            int k = t->n_train - first < o->gen_batch_size ? t->n_train - first : o->gen_batch_size;
            // gather_batch reads idx while it writes the batch buffers, which do not overlap.
            TokenBatch batch = gather_batch(t, t->order + first, k);
            if (forward_batch(t, &batch, err, err_len) < 0) return -1;
            double loss = discriminator_input_grad(t->disc, llama_captured(t->ws), k,
                                                   o->target_label, llama_captured_grad(t->ws));
            if (!isfinite(loss)) return fail(err, err_len, "the generator loss is not finite");
            be->zero(be, lora->grads, lora->n_params * sizeof(float));
            if (llama_backward(t->m, t->ws, &src, NULL) < 0)
                return fail(err, err_len, "%s", llama_workspace_error(t->ws));
            if (t->retain) { // its gradients add to the discriminator term's before the step
                double retain;
                if (retain_step(t->retain, o->retain_weight, &retain, err, err_len) < 0) return -1;
                if (!isfinite(retain)) return fail(err, err_len, "the retain loss is not finite");
                retain_sum += retain;
            }
            adamw_step(&t->adam, be, lora->params, lora->grads);
            sum += loss;
            batches++;
            for (int b = 0; b < k; b++) *tokens += t->batch_len[b];
        }
        r->gen_loss_train = sum / batches;
        if (t->retain) r->retain_loss = retain_sum / batches;
    }
    return 0;
}

// Mean loss of the (frozen) discriminator against the target on H_rows [n, F].
static double target_loss(Trial *t, const float *H_rows, int n) {
    if (n == 0) return NAN;
    return discriminator_input_grad(t->disc, H_rows, n, t->opt->target_label, t->scratch);
}

// A fresh discriminator fitted on the train representations, scored on both splits.
static void fresh_discriminator(Trial *t, int round, AreRoundMetrics *r) {
    discriminator_reset(t->disc, stream_seed(t->opt->seed, STREAM_DISC_INIT, round));
    discriminator_fit(t->disc, t->H_train, t->labels_train, t->n_train,
                      stream_seed(t->opt->seed, STREAM_DISC_ORDER, round), &r->disc_loss_train);
    double unused;
    r->disc_acc_train =
        discriminator_accuracy(t->disc, t->H_train, t->labels_train, t->n_train, &unused);
    r->disc_acc_test = t->n_test ? discriminator_accuracy(t->disc, t->H_test, t->labels_test,
                                                          t->n_test, &r->disc_loss_test)
                                 : NAN;
}

static AreRoundMetrics empty_metrics(int round) {
    return (AreRoundMetrics){.round = round,
                             .disc_loss_test = NAN,
                             .gen_loss_train = NAN,
                             .gen_loss_test = NAN,
                             .retain_loss = NAN,
                             .guard_answer_rate = NAN,
                             .guard_perplexity = NAN,
                             .guard_preserved = NAN,
                             .guard_distinct = NAN,
                             .target_nll = NAN,
                             .refusal_nll = NAN};
}

// One round into r: the generator phase against the current D (none in round 0, the base model:
// the LoRA starts with B = 0), R+ of every prompt, then a fresh D fitted on it.
static int play_round(Trial *t, int round, AreRoundMetrics *r, char *err, size_t err_len) {
    *r = empty_metrics(round);
    PhaseTimer timer;
    if (round > 0) {
        double tokens;
        timer = phase_start(t, &r->seconds_generator);
        if (generator_step(t, round, r, &tokens, err, err_len) < 0) return -1;
        phase_stop(timer);
        r->tokens_per_second = r->seconds_generator > 0 ? tokens / r->seconds_generator : 0;
    }

    timer = phase_start(t, &r->seconds_extract);
    if (extract(t, err, err_len) < 0) return -1;
    phase_stop(timer);
    if (round > 0) r->gen_loss_test = target_loss(t, t->H_test, t->n_test); // D still frozen

    timer = phase_start(t, &r->seconds_discriminator);
    // The fresh D replaces the old one for good: the next round's generator trains against it.
    fresh_discriminator(t, round, r);
    phase_stop(timer);
    return 0;
}

// The guard's measurement of the model as it is now (LoRA attached), into r.
static int measure_quality(Trial *t, const AreGuard *guard, AreRoundMetrics *r, char *err,
                           size_t err_len) {
    AreQuality q = {NAN, NAN, NAN, NAN, NAN, NAN};
    PhaseTimer timer = phase_start(t, &r->seconds_guard);
    if (guard->measure(guard->ctx, t->m, &q) < 0)
        return fail(err, err_len, "the quality guard's measurement failed");
    phase_stop(timer);
    r->guard_answer_rate = q.answer_rate;
    r->guard_perplexity = q.perplexity;
    r->guard_preserved = q.preserved;
    r->guard_distinct = q.distinct;
    r->target_nll = q.target_nll;
    r->refusal_nll = q.refusal_nll;
    return 0;
}

// Whether a round's measured quality is inside the guard's bounds (a bound of 0 is off); when
// not, the first bound it crosses goes into detail.
static bool within_bounds(const AreOptions *o, const AreRoundMetrics *r, double base_perplexity,
                          char *detail, size_t detail_len) {
    if (o->min_answer_rate > 0 && r->guard_answer_rate < o->min_answer_rate) {
        snprintf(detail, detail_len, "answer rate %.3f < %.3f at round %d", r->guard_answer_rate,
                 (double)o->min_answer_rate, r->round);
        return false;
    }
    if (o->min_preserved > 0 && r->guard_preserved < o->min_preserved) {
        snprintf(detail, detail_len, "preserved %.3f < %.3f of the base answers at round %d",
                 r->guard_preserved, (double)o->min_preserved, r->round);
        return false;
    }
    if (o->min_distinct > 0 && r->guard_distinct < o->min_distinct) {
        snprintf(detail, detail_len, "distinct answers %.3f < %.3f at round %d", r->guard_distinct,
                 (double)o->min_distinct, r->round);
        return false;
    }
    if (o->max_perplexity_ratio > 0 && base_perplexity > 0 &&
        r->guard_perplexity / base_perplexity > o->max_perplexity_ratio) {
        snprintf(detail, detail_len,
                 "perplexity %.3f is %.2fx the base model's (> %.2fx) at round %d",
                 r->guard_perplexity, r->guard_perplexity / base_perplexity,
                 (double)o->max_perplexity_ratio, r->round);
        return false;
    }
    return true;
}

static void lora_to_host(Trial *t, float *host) {
    Lora *lora = t->m->lora;
    t->be->to_host(t->be, host, lora->params, lora->n_params * sizeof(float));
}

static bool store_round(const AreOptions *o, int round, bool last) {
    return o->store_rounds == STORE_ROUNDS_ALL ||
           (o->store_rounds == STORE_ROUNDS_FIRST_LAST && (round == 0 || last));
}

// What a round sends to the sink: its metrics, the representations of every prompt when
// store_rounds keeps the round, and with store_lora the LoRA weights from round 1 on (round 0's
// are the seed's init, which changes nothing).
static int send_round(Trial *t, const AreSink *sink, const AreRoundMetrics *r, bool last, char *err,
                      size_t err_len) {
    if (!sink) return 0;
    const AreOptions *o = t->opt;
    if (sink->round_metrics && sink->round_metrics(sink->ctx, r) < 0)
        return fail(err, err_len, "writing the round metrics failed");
    if (sink->representations && store_round(o, r->round, last)) {
        t->be->to_host(t->be, t->H_host, t->H, (size_t)t->s->n * (size_t)t->F * sizeof(float));
        if (sink->representations(sink->ctx, r->round, t->H_host, t->s->n, o->n_rep_layers,
                                  t->m->cfg.dim) < 0)
            return fail(err, err_len, "writing the representations failed");
    }
    if (sink->lora_weights && o->store_lora && r->round > 0) {
        lora_to_host(t, t->lora_host);
        if (sink->lora_weights(sink->ctx, r->round, t->lora_host, t->m->lora->n_params) < 0)
            return fail(err, err_len, "writing the LoRA weights failed");
    }
    return 0;
}

// docs/method.md's loop: rounds until a fresh D's accuracy is inside the convergence band, the
// guard fails, or max_rounds; then the best round's LoRA weights are attached.
static int run_rounds(Trial *t, const AreSink *sink, const AreGuard *guard, AreResult *res,
                      char *err, size_t err_len) {
    const AreOptions *o = t->opt;
    bool guarded = guard && guard->measure && o->guard_every > 0;
    bool keep_best = guarded && o->best_guarded; // else the best round is simply the last
    double base_perplexity = 0;
    res->stop = ARE_STOP_MAX_ROUNDS;
    for (int round = 0; round <= o->max_rounds; round++) {
        AreRoundMetrics r;
        if (play_round(t, round, &r, err, err_len) < 0) return -1;
        double acc = o->converge_on_train ? r.disc_acc_train : r.disc_acc_test;
        bool converged = round > 0 && acc > o->converge_low && acc < o->converge_high;
        bool last = converged || round == o->max_rounds;

        bool passed = true;
        if (guarded && (round % o->guard_every == 0 || last)) {
            if (measure_quality(t, guard, &r, err, err_len) < 0) return -1;
            if (round == 0) // the base model: the perplexity baseline, it cannot stop the trial
                base_perplexity = r.guard_perplexity;
            else
                passed = within_bounds(o, &r, base_perplexity, res->stop_detail,
                                       sizeof res->stop_detail);
        }
        res->rounds = round;
        res->final_disc_acc = acc;
        if (!passed) {
            res->stop = ARE_STOP_GUARD;
            last = true;
        } else if (converged) {
            res->stop = ARE_STOP_CONVERGED;
            snprintf(res->stop_detail, sizeof res->stop_detail,
                     "fresh discriminator accuracy %.3f inside (%.2f, %.2f) at round %d", acc,
                     (double)o->converge_low, (double)o->converge_high, round);
        }
        // The best round: the last one whose measured quality passed (round 0, the base model,
        // when none did), or simply the last.
        if (round == 0 || !keep_best || (passed && !isnan(r.guard_answer_rate))) {
            res->best_round = round;
            if (keep_best) lora_to_host(t, t->best_lora);
        }

        if (send_round(t, sink, &r, last, err, err_len) < 0) return -1;
        if (last) break;
    }
    if (res->stop == ARE_STOP_MAX_ROUNDS)
        snprintf(res->stop_detail, sizeof res->stop_detail,
                 "no convergence within %d rounds (last accuracy %.3f)", o->max_rounds,
                 res->final_disc_acc);
    // The best round's weights stay attached, so the caller evaluates and exports them.
    if (keep_best) {
        Lora *lora = t->m->lora;
        t->be->to_device(t->be, lora->params, t->best_lora, lora->n_params * sizeof(float));
    }
    return 0;
}

int are_trial_run(LlamaModel *m, const AreSamples *samples, const AreOptions *opt,
                  const AreSink *sink, const AreGuard *guard, AreResult *result, char *err,
                  size_t err_len) {
    *result = (AreResult){0};
    if (check_options(m, samples, opt, err, err_len) < 0) return -1;
    double start = monotonic_seconds();
    if (!opt->keep_lora &&
        lora_init(m->lora, &m->cfg, m->be, stream_seed(opt->seed, STREAM_LORA_INIT, 0)) < 0)
        return fail(err, err_len, "out of memory initialising the LoRA");
    Trial t;
    int rc = trial_init(&t, m, samples, opt, err, err_len);
    if (rc == 0 && sink && sink->memory_plan && sink->memory_plan(sink->ctx, &t.memory) < 0)
        rc = fail(err, err_len, "the trial's sink stopped it before round 0");
    if (rc == 0 && t.start_block > 0) rc = fill_frozen_cache(&t, err, err_len);
    if (rc == 0) rc = run_rounds(&t, sink, guard, result, err, err_len);
    trial_free(&t);
    result->seconds = monotonic_seconds() - start;
    return rc;
}
