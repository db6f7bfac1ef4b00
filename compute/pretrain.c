#include "pretrain.h"

#include "rng.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

float lr_schedule_at(const LrSchedule *s, int done) {
    if (done < s->warmup_steps) return s->lr * (float)(done + 1) / (float)s->warmup_steps;
    int decay_steps = s->steps - s->warmup_steps;
    double progress = decay_steps > 0 ? (double)(done - s->warmup_steps) / decay_steps : 1.0;
    if (progress > 1) progress = 1;
    return (float)(s->min_lr + 0.5 * (s->lr - s->min_lr) * (1 + cos(M_PI * progress)));
}

// --- reading order -----------------------------------------------------------------------------

int token_windows_init(TokenWindows *w, const int *stream, size_t n_tokens, int seq_len,
                       uint64_t seed) {
    *w = (TokenWindows){.stream = stream,
                        .n_tokens = n_tokens,
                        .seq_len = seq_len,
                        .seed = seed,
                        .order_epoch = -1};
    if (n_tokens < (size_t)seq_len + 1) return -1;
    w->n_windows = (n_tokens - 1) / (size_t)seq_len;
    w->order = malloc(w->n_windows * sizeof(*w->order));
    return w->order ? 0 : -1;
}

void token_windows_free(TokenWindows *w) {
    free(w->order);
    w->order = NULL;
}

void token_windows_get(const TokenWindows *w, size_t index, int *tokens, int *targets) {
    const int *start = w->stream + index * (size_t)w->seq_len;
    for (int t = 0; t < w->seq_len; t++) {
        tokens[t] = start[t];
        targets[t] = start[t + 1];
    }
}

// Fisher-Yates shuffle of the windows for one epoch, from its own stream of the seed.
static void shuffle_epoch(TokenWindows *w, long long epoch) {
    Rng rng;
    rng_seed(&rng, rng_derive(w->seed, (uint64_t)epoch));
    for (size_t i = 0; i < w->n_windows; i++) w->order[i] = i;
    for (size_t i = w->n_windows; i > 1; i--) {
        size_t j = (size_t)(rng_next(&rng) % i);
        size_t tmp = w->order[i - 1];
        w->order[i - 1] = w->order[j];
        w->order[j] = tmp;
    }
    w->order_epoch = epoch;
}

void token_windows_batch(TokenWindows *w, long long first, int n, int *tokens, int *targets) {
    for (int s = 0; s < n; s++) {
        long long position = first + s;
        long long epoch = position / (long long)w->n_windows;
        if (epoch != w->order_epoch) shuffle_epoch(w, epoch);
        size_t window = w->order[position % (long long)w->n_windows];
        token_windows_get(w, window, tokens + (size_t)s * w->seq_len,
                          targets + (size_t)s * w->seq_len);
    }
}

// --- the optimiser step ------------------------------------------------------------------------

int pretrainer_init(Pretrainer *p, LlamaModel *m, const PretrainOptions *o, char *err,
                    size_t err_len) {
    *p = (Pretrainer){.model = m, .options = *o};
    Backend *be = m->be;
    size_t T = (size_t)o->batch_seqs * (size_t)o->seq_len;
    WorkspacePlan plan = {.max_tokens = (int)T,
                          .max_seqs = o->batch_seqs,
                          .max_seq_len = o->seq_len,
                          .outputs = {.logits = true},
                          .backward = BACKWARD_FULL};
    if (llama_alloc_grads(m) < 0 || adamw_init(&p->opt, &o->adamw, m->w.n_floats, be) < 0)
        goto out_of_memory;
    if (!(p->ws = llama_workspace_create(m, &plan, err, err_len))) {
        pretrainer_free(p);
        return -1;
    }
    p->host_grad = malloc(m->w.n_floats * sizeof(float));
    p->seq_lens = malloc((size_t)o->batch_seqs * sizeof(int));
    p->loss_host = malloc(T * sizeof(float));
    p->targets_dev = be->alloc(be, T * sizeof(int));
    p->loss_dev = be->alloc(be, T * sizeof(float));
    if (!p->host_grad || !p->seq_lens || !p->loss_host || !p->targets_dev || !p->loss_dev)
        goto out_of_memory;
    for (int s = 0; s < o->batch_seqs; s++) p->seq_lens[s] = o->seq_len;
    return 0;
out_of_memory:
    snprintf(err, err_len, "out of memory for training (%zu parameters)", m->w.n_floats);
    pretrainer_free(p);
    return -1;
}

void pretrainer_free(Pretrainer *p) {
    Backend *be = p->model->be;
    llama_workspace_free(p->ws);
    adamw_free(&p->opt, be);
    if (p->targets_dev) be->free(be, p->targets_dev);
    if (p->loss_dev) be->free(be, p->loss_dev);
    free(p->host_grad);
    free(p->seq_lens);
    free(p->loss_host);
    p->ws = NULL;
    p->targets_dev = NULL;
    p->loss_dev = NULL;
    p->host_grad = p->loss_host = NULL;
    p->seq_lens = NULL;
}

// Global L2 norm of the gradient, summed in double on the host.
static double gradient_norm(Pretrainer *p) {
    const LlamaWeights *g = &p->model->grad;
    p->model->be->to_host(p->model->be, p->host_grad, g->memory, g->n_floats * sizeof(float));
    double sum = 0;
    for (size_t i = 0; i < g->n_floats; i++) sum += (double)p->host_grad[i] * p->host_grad[i];
    return sqrt(sum);
}

// g *= factor, as g += (factor - 1) g in chunks that fit axpy's int count.
static void scale_gradient(Backend *be, LlamaWeights *g, float factor) {
    const size_t chunk = (size_t)1 << 30;
    for (size_t at = 0; at < g->n_floats; at += chunk) {
        int n = (int)(g->n_floats - at < chunk ? g->n_floats - at : chunk);
        be->axpy(be, n, factor - 1, g->memory + at, g->memory + at);
    }
}

int pretrainer_step(Pretrainer *p, const int *tokens, const int *targets, PretrainStepStats *st,
                    char *err, size_t err_len) {
    LlamaModel *m = p->model;
    Backend *be = m->be;
    const PretrainOptions *o = &p->options;
    TokenBatch batch = {.n_seqs = o->batch_seqs, .seq_len = p->seq_lens, .tokens = tokens};
    be->zero(be, m->grad.memory, m->grad.n_floats * sizeof(float));
    int rc = llama_forward(m, p->ws, &batch);
    assert(rc == 0); // the workspace was planned for exactly this batch shape
    BackwardSources sources = {.targets = targets};
    rc = llama_backward(m, p->ws, &sources, &st->loss);
    assert(rc == 0);
    (void)rc;
    st->grad_norm = gradient_norm(p);
    if (!isfinite(st->loss) || !isfinite(st->grad_norm)) {
        snprintf(err, err_len, "step %d: the loss (%g) or the gradient norm (%g) is not finite",
                 p->opt.step + 1, st->loss, st->grad_norm);
        return -1;
    }
    if (o->clip_norm > 0 && st->grad_norm > o->clip_norm)
        scale_gradient(be, &m->grad, (float)(o->clip_norm / st->grad_norm));
    st->lr = p->opt.cfg.lr = lr_schedule_at(&o->schedule, p->opt.step);
    adamw_step(&p->opt, be, m->w.memory, m->grad.memory);
    return 0;
}

void pretrainer_eval(Pretrainer *p, int n_seqs, const int *tokens, const int *targets,
                     double *loss_sum, long long *count) {
    LlamaModel *m = p->model;
    Backend *be = m->be;
    assert(n_seqs >= 1 && n_seqs <= p->options.batch_seqs);
    int T = n_seqs * p->options.seq_len;
    TokenBatch batch = {.n_seqs = n_seqs, .seq_len = p->seq_lens, .tokens = tokens};
    int rc = llama_forward(m, p->ws, &batch);
    assert(rc == 0);
    (void)rc;
    be->to_device(be, p->targets_dev, targets, (size_t)T * sizeof(int));
    be->cross_entropy(be, T, m->cfg.vocab_size, llama_logits(p->ws), p->targets_dev, 1.0f,
                      p->loss_dev, NULL);
    be->to_host(be, p->loss_host, p->loss_dev, (size_t)T * sizeof(float));
    *loss_sum = 0;
    *count = 0;
    for (int t = 0; t < T; t++) {
        if (targets[t] < 0) continue;
        *loss_sum += p->loss_host[t];
        (*count)++;
    }
}
