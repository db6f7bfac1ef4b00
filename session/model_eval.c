#include "model_eval.h"
#include "monotonic_clock.h"
#include "trial_file_names.h"
#include "trial_summary_names.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Tokens of one log-likelihood or perplexity forward: enough to batch many short prompts,
// small enough that the [tokens, vocab] logits of a 32k vocabulary stay near 0.5 GB.
#define EVAL_BATCH_TOKENS 4096

static const char *const generate_metric_names[] = {
    METRIC_REFUSAL_RATE, METRIC_ANSWER_RATE, METRIC_REPETITION_4, METRIC_REPETITION_SEN,
    METRIC_SELF_BLEU,    METRIC_DISTINCT,    METRIC_DISTINCT_2};
#define N_GENERATE_METRICS ((int)(sizeof generate_metric_names / sizeof *generate_metric_names))
static const char *const mc_metric_names[] = {METRIC_ACCURACY_GENERATE, METRIC_ACCURACY_LOGLIK};

int eval_inputs_load(EvalInputs *in, const ModelSession *ms, const AreConfig *c, char *err,
                     size_t err_len) {
    *in = (EvalInputs){0};
    for (int i = 0; i < c->task.n_evaluate; i++) {
        if (eval_set_load(&in->sets[i], ms, c, &c->task.evaluate[i], err, err_len) < 0) {
            in->n_sets = i + 1;
            return -1;
        }
        in->n_sets = i + 1;
    }
    return perplexity_docs_load(&in->docs, ms, c, err, err_len);
}

void eval_inputs_free(EvalInputs *in) {
    for (int i = 0; i < in->n_sets; i++) eval_set_free(&in->sets[i]);
    token_pack_free(&in->docs);
    *in = (EvalInputs){0};
}

// Appends a metric to s.
static void add_metric(SetEval *s, const char *name, double value) {
    s->metric_names[s->n_metrics] = name;
    s->metrics[s->n_metrics++] = value;
}

// Appends a per-prompt array of s->n_texts values, NaN-filled; NULL when out of memory.
static double *add_values(SetEval *s, const char *name) {
    double *v = malloc((size_t)s->n_texts * sizeof *v + 1);
    if (!v) return NULL;
    for (int i = 0; i < s->n_texts; i++) v[i] = NAN;
    s->value_names[s->n_values] = name;
    s->values[s->n_values++] = v;
    return v;
}

static int mean_nll(LlamaModel *m, const TokenPack *heads, const TokenPack *tails, double *nll,
                    char *err, size_t err_len) {
    TokenBatch h = token_pack_batch(heads), t = token_pack_batch(tails);
    int budget = EVAL_BATCH_TOKENS > m->cfg.max_seq_len ? EVAL_BATCH_TOKENS : m->cfg.max_seq_len;
    return evaluate_continuation_nll(m, &h, &t, budget, nll, err, err_len);
}

int model_eval_likelihoods(LlamaModel *m, const EvalSet *set, double *target_nll,
                           double *refusal_nll, double *mean_target, double *mean_refusal,
                           char *err, size_t err_len) {
    *mean_target = *mean_refusal = NAN;
    for (int i = 0; i < set->n; i++) target_nll[i] = refusal_nll[i] = NAN;
    int n_targets = set->target_heads.n;
    double *nll = malloc((size_t)(n_targets > set->n ? n_targets : set->n) * sizeof *nll + 1);
    if (!nll) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int rc = 0;
    if (n_targets > 0 &&
        (rc = mean_nll(m, &set->target_heads, &set->target_tails, nll, err, err_len)) == 0) {
        double sum = 0;
        for (int i = 0; i < set->n; i++)
            if (set->target_of[i] >= 0) sum += target_nll[i] = nll[set->target_of[i]];
        *mean_target = sum / n_targets;
    }
    if (rc == 0 && set->refusal_heads.n > 0 &&
        (rc = mean_nll(m, &set->refusal_heads, &set->refusal_tails, refusal_nll, err, err_len)) ==
            0) {
        double sum = 0;
        for (int i = 0; i < set->n; i++) sum += refusal_nll[i];
        *mean_refusal = sum / set->n;
    }
    free(nll);
    return rc;
}

// The likelihood measures of a generate set whose data has them.
static int add_likelihoods(SetEval *out, ModelSession *ms, const EvalSet *set, char *err,
                           size_t err_len) {
    if (set->target_heads.n == 0 && set->refusal_heads.n == 0) return 0;
    double *target = add_values(out, METRIC_TARGET_NLL),
           *refusal = add_values(out, METRIC_REFUSAL_NLL);
    double mean_target, mean_refusal;
    if (!target || !refusal) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    if (model_eval_likelihoods(&ms->model, set, target, refusal, &mean_target, &mean_refusal, err,
                               err_len) < 0)
        return -1;
    if (set->target_heads.n > 0) add_metric(out, METRIC_TARGET_NLL, mean_target);
    if (set->refusal_heads.n > 0) add_metric(out, METRIC_REFUSAL_NLL, mean_refusal);
    return 0;
}

static int run_set(SetEval *out, ModelSession *ms, const EvalSet *set, const AreConfig *c,
                   const EvalOptions *base_opt, char *err, size_t err_len) {
    *out = (SetEval){.set = set};
    EvalOptions opt = *base_opt;
    if (set->config->kind == EVAL_GENERATE) {
        TokenBatch prompts = token_pack_batch(&set->prompts);
        if (evaluate_generate(&ms->model, &prompts, &opt, &out->gen, err, err_len) < 0) return -1;
        const GenerateEval *g = &out->gen;
        double values[N_GENERATE_METRICS] = {g->refusal_rate,   g->answer_rate, g->repetition_4,
                                             g->repetition_sen, g->self_bleu,   g->distinct,
                                             g->distinct_2};
        for (int k = 0; k < N_GENERATE_METRICS; k++)
            add_metric(out, generate_metric_names[k], values[k]);
        out->texts = out->gen.texts;
        out->n_texts = out->gen.n;
        return add_likelihoods(out, ms, set, err, err_len);
    } else {
        opt.max_new_tokens = c->mc_max_new_tokens;
        McQuestions q = eval_set_mc(set);
        if (evaluate_mc(&ms->model, &q, &opt, &out->mc, err, err_len) < 0) return -1;
        out->n_metrics = 2;
        out->metrics[0] = out->mc.accuracy_generate;
        out->metrics[1] = out->mc.accuracy_loglik;
        memcpy(out->metric_names, mc_metric_names, sizeof mc_metric_names);
        out->texts = out->mc.texts;
        out->n_texts = out->mc.n;
    }
    return 0;
}

EvalOptions model_eval_options(ModelSession *ms, const AreConfig *c, const char **markers) {
    int n = 0; // are_config_load checked that both lists fit
    for (int i = 0; i < c->n_markers; i++) markers[n++] = c->markers[i];
    for (int i = 0; i < c->task.n_markers; i++) markers[n++] = c->task.markers[i];
    RefusalRule refusal = {.markers = markers,
                           .n_markers = n,
                           .case_sensitive = c->markers_case_sensitive,
                           .opening_sentences =
                               c->refusal_opening ? TEXT_REFUSAL_OPENING_SENTENCES : 0};
    return (EvalOptions){.max_new_tokens = c->eval_max_new_tokens,
                         .batch_size = c->eval_batch_size,
                         .max_batch_tokens = EVAL_BATCH_TOKENS,
                         .stop_tokens = ms->stop,
                         .n_stop = ms->n_stop,
                         .refusal = refusal,
                         .decode = model_session_decode,
                         .decode_ctx = ms};
}

int model_eval_perplexity(LlamaModel *m, const TokenPack *docs, double *perplexity, char *err,
                          size_t err_len) {
    *perplexity = NAN;
    if (docs->n == 0) return 0;
    TokenBatch batch = token_pack_batch(docs);
    int budget = EVAL_BATCH_TOKENS > m->cfg.max_seq_len ? EVAL_BATCH_TOKENS : m->cfg.max_seq_len;
    return evaluate_perplexity(m, &batch, budget, perplexity, err, err_len);
}

int model_eval_run(ModelEval *out, ModelSession *ms, const EvalInputs *in, const AreConfig *c,
                   char *err, size_t err_len) {
    *out = (ModelEval){.perplexity = NAN};
    double start = monotonic_seconds();
    const char *markers[ARE_MAX_MARKERS];
    EvalOptions opt = model_eval_options(ms, c, markers);
    for (int i = 0; i < in->n_sets; i++) {
        if (run_set(&out->sets[i], ms, &in->sets[i], c, &opt, err, err_len) < 0) {
            out->n_sets = i + 1;
            return -1;
        }
        out->n_sets = i + 1;
    }
    if (model_eval_perplexity(&ms->model, &in->docs, &out->perplexity, err, err_len) < 0) return -1;
    out->seconds = monotonic_seconds() - start;
    return 0;
}

void model_eval_free(ModelEval *e) {
    for (int i = 0; i < e->n_sets; i++) {
        generate_eval_free(&e->sets[i].gen);
        mc_eval_free(&e->sets[i].mc);
        for (int k = 0; k < e->sets[i].n_values; k++) free(e->sets[i].values[k]);
    }
    *e = (ModelEval){0};
}

void model_eval_print(FILE *f, const ModelEval *base, const ModelEval *edited) {
    fprintf(f, "%-18s %-18s %9s%s\n", "set", "metric", edited ? "base" : "value",
            edited ? "     edited" : "");
    for (int i = 0; i < base->n_sets; i++) {
        const SetEval *s = &base->sets[i], *e = edited ? &edited->sets[i] : NULL;
        // The edited model's extra metrics (what it preserved of the base's answers) come last.
        for (int k = 0; k < (e ? e->n_metrics : s->n_metrics); k++) {
            const char *name = k < s->n_metrics ? s->metric_names[k] : e->metric_names[k];
            fprintf(f, "%-18s %-18s ", s->set->config->name, name);
            if (k < s->n_metrics)
                fprintf(f, "%9.3f", s->metrics[k]);
            else
                fprintf(f, "%9s", "-");
            if (e) fprintf(f, "  %9.3f", e->metrics[k]);
            fputc('\n', f);
        }
    }
    if (!isnan(base->perplexity)) {
        fprintf(f, "%-18s %-18s %9.3f", TRIAL_SET_HELD_OUT_TEXT, TRIAL_PERPLEXITY,
                base->perplexity);
        if (edited) fprintf(f, "  %9.3f", edited->perplexity);
        fputc('\n', f);
    }
}

const SetEval *model_eval_find(const ModelEval *e, const char *name) {
    for (int i = 0; i < e->n_sets; i++)
        if (!strcmp(e->sets[i].set->config->name, name)) return &e->sets[i];
    return NULL;
}

int model_eval_preservation(ModelEval *edited, const ModelEval *base, const AreConfig *c, char *err,
                            size_t err_len) {
    for (int i = 0; i < edited->n_sets; i++) {
        SetEval *e = &edited->sets[i];
        if (e->set->config->kind != EVAL_GENERATE) continue;
        double *prefix = add_values(e, METRIC_PRESERVED_PREFIX),
               *rouge = add_values(e, METRIC_PRESERVED_ROUGE_L);
        if (!prefix || !rouge) {
            snprintf(err, err_len, "out of memory");
            return -1;
        }
        if (evaluate_preservation(&base->sets[i].gen, &e->gen, c->preserve_tokens, prefix, rouge,
                                  err, err_len) < 0)
            return -1;
        double sum_prefix = 0, sum_rouge = 0;
        for (int k = 0; k < e->n_texts; k++) {
            sum_prefix += prefix[k];
            sum_rouge += rouge[k];
        }
        add_metric(e, METRIC_PRESERVED_PREFIX, sum_prefix / e->n_texts);
        add_metric(e, METRIC_PRESERVED_ROUGE_L, sum_rouge / e->n_texts);
    }
    return 0;
}
