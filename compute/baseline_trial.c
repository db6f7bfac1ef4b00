#include "baseline_trial.h"

#include "direction.h"
#include "fail.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Lora *baseline_lora(const LlamaModel *m) {
    return direction_lora_create(m);
}

void baseline_direction_free(BaselineDirection *dir) {
    free(dir->r);
    free(dir->proj_before);
    free(dir->proj_after);
    free(dir->steering);
    *dir = (BaselineDirection){0};
}

// Passes a measurement on to the caller's sink as round `round`, keeping its representations.
typedef struct {
    const AreSink *next;
    int round;
    bool store;  // representations go on to the sink
    float *reps; // [n, n_layers, dim] of the last measurement
    size_t reps_len;
    AreRoundMetrics metrics;
} Measure;

static int measure_plan(void *ctx, const AreMemoryPlan *plan) {
    Measure *m = ctx;
    if (m->round > 0 || !m->next || !m->next->memory_plan) return 0; // once per trial
    return m->next->memory_plan(m->next->ctx, plan);
}

static int measure_metrics(void *ctx, const AreRoundMetrics *r) {
    Measure *m = ctx;
    m->metrics = *r;
    m->metrics.round = m->round;
    if (!m->next || !m->next->round_metrics) return 0;
    return m->next->round_metrics(m->next->ctx, &m->metrics);
}

static int measure_reps(void *ctx, int round, const float *reps, int n, int layers, int dim) {
    (void)round;
    Measure *m = ctx;
    size_t len = (size_t)n * (size_t)layers * (size_t)dim;
    if (len != m->reps_len) {
        free(m->reps);
        if (!(m->reps = malloc(len * sizeof *m->reps))) return -1;
        m->reps_len = len;
    }
    memcpy(m->reps, reps, len * sizeof *reps);
    if (!m->store || !m->next || !m->next->representations) return 0;
    return m->next->representations(m->next->ctx, m->round, reps, n, layers, dim);
}

// are_trial_run's round 0 on m as it is now, reported as `round`.
static int measure(LlamaModel *m, const AreSamples *s, const AreOptions *opt, Measure *ms,
                   int round, AreResult *res, char *err, size_t err_len) {
    AreOptions o = *opt;
    o.max_rounds = 0;
    o.keep_lora = true;
    o.guard_every = 0;
    o.store_rounds = STORE_ROUNDS_ALL; // every measurement is kept here, stored as opt says
    o.store_lora = false;
    ms->round = round;
    ms->store = opt->store_rounds != STORE_ROUNDS_NONE;
    AreSink sink = {.ctx = ms,
                    .memory_plan = measure_plan,
                    .round_metrics = measure_metrics,
                    .representations = measure_reps};
    if (are_trial_run(m, s, &o, &sink, NULL, res, err, err_len) < 0) return -1;
    if (!ms->reps) return fail(err, err_len, "out of memory for the representations");
    return 0;
}

// The test split when there is one, else the train split.
static void held_out(const AreSamples *s, bool *fit, bool *use) {
    int n_test = 0;
    for (int i = 0; i < s->n; i++) n_test += s->is_test[i];
    for (int i = 0; i < s->n; i++) {
        fit[i] = !s->is_test[i];
        use[i] = n_test ? s->is_test[i] : !s->is_test[i];
    }
}

// Whether b lets r be taken at hidden_states index layer.
static bool allowed(const BaselineOptions *b, int layer) {
    for (int i = 0; i < b->n_layers; i++)
        if (b->layers[i] == layer) return true;
    return b->n_layers == 0;
}

// r at the representation layer (of those b allows) whose r separates the held-out split best
// (first on ties), and the base model's projections on it; with below_norm, only layers below
// the final norm.
static int choose_direction(const Measure *ms, const AreSamples *s, const AreOptions *opt,
                            const BaselineOptions *b, const LlamaConfig *cfg, bool below_norm,
                            BaselineDirection *dir, char *err, size_t err_len) {
    int dim = cfg->dim;
    int n = s->n, L = opt->n_rep_layers;
    bool *fit = malloc((size_t)n * sizeof *fit), *use = malloc((size_t)n * sizeof *use);
    float *r = malloc((size_t)dim * sizeof *r), *proj = malloc((size_t)n * sizeof *proj);
    dir->r = malloc((size_t)dim * sizeof *dir->r);
    dir->proj_before = malloc((size_t)n * sizeof *dir->proj_before);
    dir->proj_after = malloc((size_t)n * sizeof *dir->proj_after);
    int rc = 0;
    if (!fit || !use || !r || !proj || !dir->r || !dir->proj_before || !dir->proj_after) {
        rc = fail(err, err_len, "out of memory");
        goto done;
    }
    held_out(s, fit, use);
    dir->dim = dim;
    dir->n = n;
    dir->held_out_acc = -1;
    size_t stride = (size_t)L * (size_t)dim;
    for (int k = 0; k < L; k++) {
        if (!allowed(b, opt->rep_layers[k])) continue;
        if (below_norm && llama_resolve_layer(cfg, opt->rep_layers[k]) >= cfg->n_layers) continue;
        const float *at = ms->reps + (size_t)k * dim;
        if (direction_of_classes(at, n, stride, dim, s->labels, fit, r, err, err_len) < 0) {
            rc = -1;
            goto done;
        }
        direction_project(at, n, stride, dim, r, proj);
        double acc = direction_threshold_accuracy(proj, n, s->labels, fit, use);
        if (acc > dir->held_out_acc) {
            dir->held_out_acc = acc;
            dir->layer = opt->rep_layers[k];
            memcpy(dir->r, r, (size_t)dim * sizeof *r);
            memcpy(dir->proj_before, proj, (size_t)n * sizeof *proj);
        }
    }
    if (dir->held_out_acc < 0)
        rc = fail(err, err_len,
                  "activation addition needs a layer of are.layers%s below the final "
                  "norm (hidden_states[%d])",
                  b->n_layers ? " (and of baseline.layers)" : "", cfg->n_layers);
done:
    free(fit);
    free(use);
    free(r);
    free(proj);
    return rc;
}

static int slot_of(const AreOptions *opt, int layer) {
    for (int k = 0; k < opt->n_rep_layers; k++)
        if (opt->rep_layers[k] == layer) return k;
    return 0;
}

// alpha * r, pointing towards target's class, added at dir's layer from now on.
static int start_steering(LlamaModel *m, const AreOptions *opt, float alpha, BaselineDirection *dir,
                          char *err, size_t err_len) {
    int dim = m->cfg.dim;
    float sign = opt->target_label == 1 ? 1.0f : -1.0f; // r points from class 0 to class 1
    if (!(dir->steering = malloc((size_t)dim * sizeof *dir->steering)))
        return fail(err, err_len, "out of memory");
    for (int j = 0; j < dim; j++) dir->steering[j] = sign * alpha * dir->r[j];
    float *steer = m->be->alloc(m->be, (size_t)dim * sizeof *steer);
    if (!steer) return fail(err, err_len, "out of memory for the steering vector");
    m->be->to_device(m->be, steer, dir->steering, (size_t)dim * sizeof *steer);
    m->steer = steer;
    m->steer_layer = llama_resolve_layer(&m->cfg, dir->layer);
    return 0;
}

// Orthogonalises every writer into the residual stream against r: the blocks' o_proj and
// down_proj (m's LoRA) and the token embedding (m->embed_lora, from now on).
static int ablate(LlamaModel *m, const float *r, char *err, size_t err_len) {
    if (direction_lora_set(m->lora, m, r, err, err_len) < 0) return -1;
    return (m->embed_lora = direction_embedding_lora(m, r, err, err_len)) ? 0 : -1;
}

int baseline_trial_run(LlamaModel *m, const AreSamples *samples, const AreOptions *opt,
                       const BaselineOptions *b, const AreSink *sink, AreResult *result,
                       BaselineDirection *dir, char *err, size_t err_len) {
    BaselineKind kind = b->kind;
    float alpha = b->alpha;
    *result = (AreResult){.stop = ARE_STOP_BASELINE};
    *dir = (BaselineDirection){0};
    if (!m->lora) return fail(err, err_len, "no LoRA attached to the model");
    // The LoRA starts at zero: round 0 is the base model.
    m->be->zero(m->be, m->lora->params, m->lora->n_params * sizeof(float));
    Measure ms = {.next = sink};
    AreResult base;
    int rc = measure(m, samples, opt, &ms, 0, &base, err, err_len);
    result->seconds = base.seconds;
    result->final_disc_acc = base.final_disc_acc;
    if (rc == 0 && kind == BASELINE_NONE)
        snprintf(result->stop_detail, sizeof result->stop_detail,
                 "baseline none: the base model, unedited");
    if (rc == 0 && kind != BASELINE_NONE) {
        int dim = m->cfg.dim;
        bool steering = kind == BASELINE_ACTIVATION_ADDITION;
        AreResult edited;
        rc = choose_direction(&ms, samples, opt, b, &m->cfg, steering, dir, err, err_len);
        if (rc == 0)
            rc = steering ? start_steering(m, opt, alpha, dir, err, err_len)
                          : ablate(m, dir->r, err, err_len);
        if (rc == 0) rc = measure(m, samples, opt, &ms, 1, &edited, err, err_len);
        if (rc == 0) {
            size_t stride = (size_t)opt->n_rep_layers * (size_t)dim;
            direction_project(ms.reps + (size_t)slot_of(opt, dir->layer) * dim, samples->n, stride,
                              dim, dir->r, dir->proj_after);
            result->rounds = result->best_round = 1;
            result->final_disc_acc = edited.final_disc_acc;
            result->seconds += edited.seconds;
            if (steering)
                snprintf(result->stop_detail, sizeof result->stop_detail,
                         "activation addition of %g x hidden_states[%d]'s class-mean direction "
                         "(held-out threshold accuracy %.3f)",
                         (double)alpha, dir->layer, dir->held_out_acc);
            else
                snprintf(result->stop_detail, sizeof result->stop_detail,
                         "direction ablation along hidden_states[%d]'s class-mean direction "
                         "(held-out threshold accuracy %.3f)",
                         dir->layer, dir->held_out_acc);
        }
    }
    free(ms.reps);
    if (rc < 0) baseline_direction_free(dir);
    return rc;
}
