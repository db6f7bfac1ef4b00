#include "trial.h"

#include "baseline_trial.h"
#include "fault_point.h"
#include "fs.h"
#include "model_eval.h"
#include "model_load.h"
#include "model_steer.h"
#include "task_data.h"
#include "trial_file_names.h"
#include "trial_store.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Prints a line per round (when there is a log) and passes everything on to the trial file.
typedef struct {
    AreSink file;
    FILE *log;
    const char *device;
    const char *matrices; // "fp32", "bf16", "fp16"
    int max_rounds;
    double seconds_so_far;
} ProgressSink;

static double gib(size_t bytes) {
    return (double)bytes / (1024.0 * 1024.0 * 1024.0);
}

static int progress_memory(void *ctx, const AreMemoryPlan *m) {
    ProgressSink *p = ctx;
    if (p->log)
        fprintf(p->log,
                "memory on %s: weights %.2f GiB (%s matrices), LoRA + AdamW %.3f GiB, "
                "activations %.3f GiB (blocks %d..%d), frozen-block cache %.3f GiB, "
                "representations + discriminator + retain %.3f GiB; %.2f GiB in all\n",
                p->device, gib(m->weights), p->matrices, gib(m->lora), gib(m->activations),
                m->first_block, m->last_block, gib(m->frozen_cache), gib(m->trial),
                gib(m->weights + m->lora + m->activations + m->frozen_cache + m->trial));
    return 0;
}

static int progress_round(void *ctx, const AreRoundMetrics *r) {
    ProgressSink *p = ctx;
    double seconds =
        r->seconds_generator + r->seconds_extract + r->seconds_discriminator + r->seconds_guard;
    p->seconds_so_far += seconds;
    if (p->log) {
        FILE *f = p->log;
        fprintf(f, "round %2d/%d  gen loss %7.4f  fresh D acc train %.3f test %.3f", r->round,
                p->max_rounds, r->gen_loss_train, r->disc_acc_train, r->disc_acc_test);
        if (!isnan(r->retain_loss)) fprintf(f, "  retain %.4f", r->retain_loss);
        if (!isnan(r->guard_answer_rate))
            fprintf(f, "  answer rate %.2f ppl %.3f preserved %.2f distinct %.2f",
                    r->guard_answer_rate, r->guard_perplexity, r->guard_preserved,
                    r->guard_distinct);
        if (!isnan(r->target_nll)) fprintf(f, "  target nll %.3f", r->target_nll);
        if (!isnan(r->refusal_nll)) fprintf(f, "  refusal nll %.3f", r->refusal_nll);
        fprintf(f, "  gen %.1fs extract %.1fs D %.1fs", r->seconds_generator, r->seconds_extract,
                r->seconds_discriminator);
        if (r->round > 0 && r->round < p->max_rounds)
            fprintf(f, "  ETA <= %.0fs", p->seconds_so_far / r->round * (p->max_rounds - r->round));
        fputc('\n', f);
    }
    int rc = p->file.round_metrics ? p->file.round_metrics(p->file.ctx, r) : 0;
    fault_point("trial_round"); // the trial file half written
    return rc;
}

static int progress_representations(void *ctx, int round, const float *reps, int n, int layers,
                                    int dim) {
    ProgressSink *p = ctx;
    return p->file.representations(p->file.ctx, round, reps, n, layers, dim);
}

static int progress_lora(void *ctx, int round, const float *params, size_t n) {
    ProgressSink *p = ctx;
    return p->file.lora_weights(p->file.ctx, round, params, n);
}

// The quality guard: on one generate set, the answer rate, what the answers keep of round 0's
// (mean ROUGE-L F1) and the share of distinct answers, with the perplexity on the held-out
// text, when a bound needs them; the likelihood measures of likelihood_set, when there is one.
typedef struct {
    ModelSession *ms;
    const AreConfig *c;
    const EvalSet *set;            // NULL: no bound, likelihoods only
    const EvalSet *likelihood_set; // NULL: none
    const TokenPack *docs;
    GenerateEval round0; // the answers of the first measurement (the base model's)
    double *nll;         // [2 * likelihood_set->n] scratch
    char *err;
    size_t err_len;
} Guard;

static int guard_generate(Guard *g, LlamaModel *m, AreQuality *q) {
    const char *markers[ARE_MAX_MARKERS];
    EvalOptions opt = model_eval_options(g->ms, g->c, markers);
    TokenBatch prompts = token_pack_batch(&g->set->prompts);
    GenerateEval e;
    if (evaluate_generate(m, &prompts, &opt, &e, g->err, g->err_len) < 0) return -1;
    q->answer_rate = e.answer_rate;
    q->distinct = e.distinct;
    if (!g->round0.texts) {
        g->round0 = e; // kept: later rounds compare with it
        q->preserved = 1;
    } else {
        double sum = 0;
        for (int i = 0; i < e.n; i++) sum += rouge_l_f1(g->round0.texts[i], e.texts[i]);
        q->preserved = sum / e.n;
        generate_eval_free(&e);
    }
    return model_eval_perplexity(m, g->docs, &q->perplexity, g->err, g->err_len);
}

static int guard_measure(void *ctx, LlamaModel *m, AreQuality *q) {
    Guard *g = ctx;
    if (g->set && guard_generate(g, m, q) < 0) return -1;
    if (!g->likelihood_set) return 0;
    int n = g->likelihood_set->n;
    return model_eval_likelihoods(m, g->likelihood_set, g->nll, g->nll + n, &q->target_nll,
                                  &q->refusal_nll, g->err, g->err_len);
}

static const EvalSet *find_set(const EvalInputs *in, const char *name) {
    for (int i = 0; i < in->n_sets; i++)
        if (!strcmp(in->sets[i].config->name, name)) return &in->sets[i];
    return NULL;
}

static bool guard_bounds(const AreConfig *c) {
    return c->guard.min_answer_rate > 0 || c->guard.max_perplexity_ratio > 0 ||
           c->guard.min_preserved > 0 || c->guard.min_distinct > 0;
}

static AreOptions trial_options(const AreConfig *c) {
    AreOptions o = {
        .n_rep_layers = c->n_rep_layers,
        .disc = {.kind = c->disc.kind == DISC_MLP ? DISCRIMINATOR_MLP : DISCRIMINATOR_LINEAR,
                 .hidden = c->disc.hidden,
                 .lr = c->disc.lr,
                 .eps = c->disc.eps,
                 .epochs = c->disc.epochs,
                 .batch_size = c->disc.batch_size,
                 .standardize = c->disc.standardize},
        .target_label = c->task.target_label,
        .gen_lr = c->gen.lr,
        .gen_eps = c->gen.eps,
        .gen_epochs = c->gen.epochs,
        .gen_batch_size = c->gen.batch_size,
        .retain_weight = c->gen.retain_weight,
        .retain_label = c->gen.retain_label,
        .max_rounds = c->max_rounds,
        .converge_low = c->converge_low,
        .converge_high = c->converge_high,
        .converge_on_train = c->converge_on_train,
        .extract_batch = 32,
        .cache_frozen_blocks = c->cache_frozen_blocks,
        .seed = (uint64_t)c->seed,
        .store_rounds = c->store_rounds == STORE_ALL          ? STORE_ROUNDS_ALL
                        : c->store_rounds == STORE_FIRST_LAST ? STORE_ROUNDS_FIRST_LAST
                                                              : STORE_ROUNDS_NONE,
        .store_lora = c->store_lora,
        .guard_every = c->guard.every,
        .min_answer_rate = c->guard.min_answer_rate,
        .max_perplexity_ratio = c->guard.max_perplexity_ratio,
        .min_preserved = c->guard.min_preserved,
        .min_distinct = c->guard.min_distinct,
        .best_guarded = c->guard.best_guarded,
    };
    memcpy(o.rep_layers, c->rep_layers, (size_t)c->n_rep_layers * sizeof(int));
    // The guard runs only when it has a bound to enforce or likelihoods to record.
    if (!guard_bounds(c) && !c->task.likelihood_set[0]) o.guard_every = 0;
    return o;
}

static Lora *trial_lora(const ModelSession *ms, const AreConfig *c, char *err, size_t err_len) {
    const LlamaConfig *cfg = &ms->model.cfg;
    bool *layer_on = calloc((size_t)cfg->n_layers, sizeof *layer_on);
    if (!layer_on) {
        snprintf(err, err_len, "out of memory");
        return NULL;
    }
    for (int i = 0; i < c->gen.n_layers; i++) {
        int l = c->gen.layers[i];
        if (l < 0 || l >= cfg->n_layers) {
            snprintf(err, err_len,
                     "are.generator.layers: layer %d is outside the model's %d "
                     "blocks (0..%d)",
                     l, cfg->n_layers, cfg->n_layers - 1);
            free(layer_on);
            return NULL;
        }
        layer_on[l] = true;
    }
    Lora *lora = lora_create(cfg, ms->be, c->gen.targets, layer_on, c->gen.rank, c->gen.alpha);
    free(layer_on);
    if (!lora) snprintf(err, err_len, "out of memory for the LoRA");
    return lora;
}

// One line for people: how the loop ended and each set's first metric, base -> edited.
static void summary_line(TrialOutcome *o, const ModelEval *base, const ModelEval *edited) {
    const AreResult *r = &o->result;
    int at = snprintf(o->summary_line, sizeof o->summary_line, "%s after %d rounds (%s)",
                      are_stop_names[r->stop], r->rounds, r->stop_detail);
    for (int i = 0; i < base->n_sets && at < (int)sizeof o->summary_line; i++) {
        const SetEval *b = &base->sets[i], *e = &edited->sets[i];
        at += snprintf(o->summary_line + at, sizeof o->summary_line - (size_t)at,
                       "; %s %s %.2f -> %.2f", b->set->config->name, b->metric_names[0],
                       b->metrics[0], e->metrics[0]);
    }
}

static int store_evaluation(TrialStore *ts, const char *model, const ModelEval *e, char *err,
                            size_t err_len) {
    for (int i = 0; i < e->n_sets; i++) {
        const SetEval *s = &e->sets[i];
        const char **prompts = malloc((size_t)s->n_texts * sizeof *prompts + 1);
        if (!prompts) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        for (int k = 0; k < s->n_texts; k++) prompts[k] = s->set->set.rows[s->set->rows[k]].prompt;
        int rc = trial_store_add_evaluation(
            ts, model, s->set->config->name, s->metric_names, s->metrics, s->n_metrics, prompts,
            (const char *const *)s->texts, s->n_texts, err, err_len);
        free(prompts);
        for (int k = 0; k < s->n_values && rc == 0; k++)
            rc = trial_store_add_values(ts, model, s->set->config->name, s->value_names[k],
                                        s->values[k], s->n_texts, err, err_len);
        if (rc < 0) return -1;
    }
    const char *name = TRIAL_PERPLEXITY;
    return trial_store_add_evaluation(ts, model, TRIAL_SET_HELD_OUT_TEXT, &name, &e->perplexity, 1,
                                      NULL, NULL, 0, err, err_len);
}

static int export_adapter(const ModelSession *ms, const AreConfig *c, const char *dir, char *err,
                          size_t err_len) {
    PeftAdapter adapter;
    if (peft_from_model(&adapter, &ms->model, err, err_len) < 0) return -1;
    int rc = peft_save(dir, &adapter, c->model, err, err_len);
    peft_adapter_free(&adapter);
    return rc;
}

// Whether c's method edits weights, so that the trial has an adapter to export (activation
// addition's edit is a steering vector, stored in the trial file).
static bool edits_weights(const AreConfig *c) {
    return c->method == METHOD_ARE || c->method == METHOD_DIRECTION_ABLATION;
}

// Everything a trial holds, released by release().
typedef struct {
    TaskPrompts task;
    EvalInputs eval;
    const EvalSet *guard_set, *likelihood_set; // sets of eval; NULL: none
    ModelEval base, edited;
    TrialStore *store;
} TrialState;

static void release(TrialState *s, ModelSession *ms) {
    if (s->store) trial_store_close(s->store);
    model_eval_free(&s->edited);
    model_eval_free(&s->base);
    eval_inputs_free(&s->eval);
    task_prompts_free(&s->task);
    if (ms->model.lora) {
        lora_free(ms->model.lora, ms->be);
        ms->model.lora = NULL;
    }
    model_unsteer(ms);                                 // activation addition's
    embedding_lora_free(ms->model.embed_lora, ms->be); // direction ablation's
    ms->model.embed_lora = NULL;
}

// Where the trial's files go: OUTPUT/trials/ID.h5 and, when the method edits weights, the
// adapter in OUTPUT/adapters/ID.
static int name_files(const AreConfig *c, TrialOutcome *out, char *err, size_t err_len) {
    char dir[ARE_PATH_MAX + 16];
    snprintf(dir, sizeof dir, "%s/trials", c->output_dir);
    if (make_dirs(dir, err, err_len) < 0) return -1;
    snprintf(out->trial_file, sizeof out->trial_file, "%s/%s.h5", dir, out->id);
    snprintf(dir, sizeof dir, "%s/adapters", c->output_dir);
    if (make_dirs(dir, err, err_len) < 0) return -1;
    if (edits_weights(c))
        snprintf(out->adapter_dir, sizeof out->adapter_dir, "%s/%s", dir, out->id);
    return 0;
}

// The task's train and test prompts (what the edit reads) and its evaluation sets, among them
// the guard's set and the likelihood set when the config names them.
static int load_task_data(TrialState *s, ModelSession *ms, const AreConfig *c, char *err,
                          size_t err_len) {
    if (task_prompts_load(&s->task, ms, c, err, err_len) < 0 ||
        eval_inputs_load(&s->eval, ms, c, err, err_len) < 0)
        return -1;
    if (guard_bounds(c) && !(s->guard_set = find_set(&s->eval, c->guard.set))) {
        snprintf(err, err_len, "are.guard.set: no evaluation set named %s in task %s", c->guard.set,
                 c->task.name);
        return -1;
    }
    if (c->task.likelihood_set[0] &&
        !(s->likelihood_set = find_set(&s->eval, c->task.likelihood_set))) {
        snprintf(err, err_len, "tasks.%s.likelihood_set: no evaluation set named %s", c->task.name,
                 c->task.likelihood_set);
        return -1;
    }
    return 0;
}

static int evaluate_base(TrialState *s, ModelSession *ms, const AreConfig *c, FILE *log,
                         const TrialOutcome *out, char *err, size_t err_len) {
    if (log)
        fprintf(log, "trial %s: task %s, %d prompts; evaluating the base model\n", out->id,
                c->task.name, s->task.pack.n);
    return model_eval_run(&s->base, ms, &s->eval, c, err, err_len);
}

// A fresh LoRA for the edit: ARE's on its configured blocks, or the rank-1 one a baseline
// fills (baseline_trial.h).
static int attach_lora(ModelSession *ms, const AreConfig *c, char *err, size_t err_len) {
    ms->model.lora =
        c->method == METHOD_ARE ? trial_lora(ms, c, err, err_len) : baseline_lora(&ms->model);
    if (!ms->model.lora) {
        if (c->method != METHOD_ARE) snprintf(err, err_len, "out of memory for the LoRA");
        return -1;
    }
    return 0;
}

// The trial file, created before the edit so that each round goes into it as it ends: the
// config as resolved, where the trial runs, the refusal markers, the samples' labels and split.
static int open_trial_file(TrialState *s, ModelSession *ms, const AreConfig *c,
                           const TrialOutcome *out, char *err, size_t err_len) {
    char *canonical = are_config_canonical(c);
    int *is_test = malloc((size_t)s->task.pack.n * sizeof *is_test + 1);
    if (!canonical || !is_test) {
        free(canonical);
        free(is_test);
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    for (int i = 0; i < s->task.pack.n; i++) is_test[i] = s->task.is_test[i];
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    const char *markers[ARE_MAX_MARKERS];
    EvalOptions eval_opt = model_eval_options(ms, c, markers);
    TrialStoreSpec spec = {
        .path = out->trial_file,
        .config_text = canonical,
        .trial_id = out->id,
        .seed = c->seed,
        .host = host,
        .rank = 0,
        .device = ms->device,
        .version = ARE_VERSION,
        .refusal_markers = markers,
        .n_refusal_markers = eval_opt.refusal.n_markers,
        .n_samples = s->task.pack.n,
        .n_layers = c->n_rep_layers,
        .dim = ms->model.cfg.dim,
        .layers = c->rep_layers,
        .labels = s->task.labels,
        .is_test = is_test,
        .store_fp16 = c->store_fp16,
        // a baseline has no rounds of LoRA weights
        .lora_n = c->store_lora && c->method == METHOD_ARE ? ms->model.lora->n_params : 0};
    s->store = trial_store_create(&spec, err, err_len);
    free(is_test);
    free(canonical);
    return s->store ? 0 : -1;
}

// The method itself: the ARE loop, or a baseline (baseline_trial.h), whose direction goes into
// the trial file beside the rounds.
static int run_method(ModelSession *ms, const AreConfig *c, const AreSamples *samples,
                      const AreOptions *opt, const AreSink *sink, const AreGuard *guard,
                      TrialStore *ts, AreResult *result, char *err, size_t err_len) {
    if (c->method == METHOD_ARE)
        return are_trial_run(&ms->model, samples, opt, sink, guard, result, err, err_len);
    BaselineOptions b = {.kind = c->method == METHOD_NONE ? BASELINE_NONE
                                 : c->method == METHOD_DIRECTION_ABLATION
                                     ? BASELINE_DIRECTION_ABLATION
                                     : BASELINE_ACTIVATION_ADDITION,
                         .alpha = c->steer_alpha,
                         .n_layers = c->n_baseline_layers};
    memcpy(b.layers, c->baseline_layers, (size_t)c->n_baseline_layers * sizeof *b.layers);
    BaselineDirection dir;
    int rc = baseline_trial_run(&ms->model, samples, opt, &b, sink, result, &dir, err, err_len);
    if (rc == 0 && dir.r)
        rc = trial_store_add_direction(ts, trial_method_names[c->method], dir.layer,
                                       dir.held_out_acc, dir.r, dir.steering, dir.dim,
                                       dir.proj_before, dir.proj_after, dir.n, err, err_len);
    baseline_direction_free(&dir);
    return rc;
}

// The guard on s's sets, for the method's rounds; guard_free releases it.
static int guard_init(Guard *g, const TrialState *s, ModelSession *ms, const AreConfig *c,
                      char *err, size_t err_len) {
    *g = (Guard){.ms = ms,
                 .c = c,
                 .set = s->guard_set,
                 .likelihood_set = s->likelihood_set,
                 .docs = &s->eval.docs,
                 .err = err,
                 .err_len = err_len};
    if (s->likelihood_set &&
        !(g->nll = malloc(2 * (size_t)s->likelihood_set->n * sizeof *g->nll))) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    return 0;
}

static void guard_free(Guard *g) {
    generate_eval_free(&g->round0);
    free(g->nll);
}

// The edit: a fresh LoRA, the trial file, then the method, each round going to the log and the
// file, the guard measuring on its set.
static int edit(TrialState *s, ModelSession *ms, const AreConfig *c, FILE *log, TrialOutcome *out,
                char *err, size_t err_len) {
    Guard guard_ctx;
    if (attach_lora(ms, c, err, err_len) < 0 || open_trial_file(s, ms, c, out, err, err_len) < 0 ||
        guard_init(&guard_ctx, s, ms, c, err, err_len) < 0)
        return -1;
    ProgressSink progress = {.file = trial_store_sink(s->store),
                             .log = log,
                             .device = ms->device,
                             .matrices = matrix_type_name(ms->model.w.matrices),
                             .max_rounds = c->max_rounds};
    AreSink sink = {.ctx = &progress,
                    .memory_plan = progress_memory,
                    .round_metrics = progress_round,
                    .representations = progress_representations,
                    .lora_weights = progress_lora};
    AreGuard guard = {.ctx = &guard_ctx, .measure = guard_measure};
    AreOptions opt = trial_options(c);
    AreSamples samples = task_prompts_samples(&s->task);
    int rc = run_method(ms, c, &samples, &opt, &sink, &guard, s->store, &out->result, err, err_len);
    guard_free(&guard_ctx);
    if (rc < 0) {
        // The loop says what it was writing; the store says why that failed (a full disk, ...).
        const char *why = trial_store_error(s->store);
        size_t used = strlen(err);
        if (why[0] && used + 1 < err_len) snprintf(err + used, err_len - used, ": %s", why);
    }
    return rc;
}

// The edited model (the weights of the round the loop kept) on the same sets, and what its
// answers kept of the base model's.
static int evaluate_edited(TrialState *s, ModelSession *ms, const AreConfig *c, FILE *log,
                           const TrialOutcome *out, char *err, size_t err_len) {
    if (log)
        fprintf(log, "trial %s: %s; evaluating the edited model (round %d)\n", out->id,
                are_stop_names[out->result.stop], out->result.best_round);
    if (model_eval_run(&s->edited, ms, &s->eval, c, err, err_len) < 0) return -1;
    return model_eval_preservation(&s->edited, &s->base, c, err, err_len);
}

static int store_result(TrialStore *ts, const AreResult *r, char *err, size_t err_len) {
    const char *names[] = {TRIAL_RESULT_ROUNDS, TRIAL_RESULT_CONVERGED, TRIAL_RESULT_BEST_ROUND,
                           TRIAL_RESULT_FINAL_DISC, TRIAL_RESULT_SECONDS};
    double values[] = {r->rounds, r->stop == ARE_STOP_CONVERGED, r->best_round, r->final_disc_acc,
                       r->seconds};
    return trial_store_add_result(ts, are_stop_names[r->stop], r->stop_detail, names, values, 5,
                                  err, err_len);
}

// Both evaluations and the outcome into the trial file, which then takes its final name; the
// adapter beside it.
static int write_out(TrialState *s, ModelSession *ms, const AreConfig *c, TrialOutcome *out,
                     char *err, size_t err_len) {
    if (store_evaluation(s->store, TRIAL_MODEL_BASE, &s->base, err, err_len) < 0 ||
        store_evaluation(s->store, TRIAL_MODEL_EDITED, &s->edited, err, err_len) < 0 ||
        (edits_weights(c) && export_adapter(ms, c, out->adapter_dir, err, err_len) < 0) ||
        store_result(s->store, &out->result, err, err_len) < 0)
        return -1;
    TrialStore *store = s->store;
    s->store = NULL; // finished or closed by trial_store_finish, either way
    if (trial_store_finish(store, are_stop_names[out->result.stop], err, err_len) < 0) return -1;
    fault_point("trial_done"); // the trial file in place, the sweep's table not yet updated
    return 0;
}

// One trial, in the order docs/run.md describes `are run`.
static int run(TrialState *s, ModelSession *ms, const AreConfig *c, FILE *log, TrialOutcome *out,
               char *err, size_t err_len) {
    if (name_files(c, out, err, err_len) < 0 || load_task_data(s, ms, c, err, err_len) < 0 ||
        evaluate_base(s, ms, c, log, out, err, err_len) < 0 ||
        edit(s, ms, c, log, out, err, err_len) < 0 ||
        evaluate_edited(s, ms, c, log, out, err, err_len) < 0 ||
        write_out(s, ms, c, out, err, err_len) < 0)
        return -1;
    summary_line(out, &s->base, &s->edited);
    if (log) model_eval_print(stdout, &s->base, &s->edited);
    return trial_summary_read(out->trial_file, &out->summary, err, err_len);
}

int trial_run(ModelSession *ms, const AreConfig *c, const char *id, FILE *log, TrialOutcome *out,
              char *err, size_t err_len) {
    *out = (TrialOutcome){0};
    snprintf(out->id, sizeof out->id, "%s", id);
    TrialState s = {0};
    int rc = run(&s, ms, c, log, out, err, err_len);
    release(&s, ms);
    return rc;
}
