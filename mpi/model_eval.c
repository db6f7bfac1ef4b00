#include "model_eval.h"
#include "monotonic_clock.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

// Tokens of one log-likelihood or perplexity forward: enough to batch many short prompts,
// small enough that the [tokens, vocab] logits of a 32k vocabulary stay near 0.5 GB.
#define EVAL_BATCH_TOKENS 4096

static const char *const generate_metric_names[] = {"refusal_rate", "answer_rate", "repetition_4",
                                                    "repetition_sen", "self_bleu"};
static const char *const mc_metric_names[] = {"accuracy_generate", "accuracy_loglik"};

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

static int run_set(SetEval *out, ModelSession *ms, const EvalSet *set, const AreConfig *c,
                   const EvalOptions *base_opt, char *err, size_t err_len) {
    *out = (SetEval){.set = set};
    EvalOptions opt = *base_opt;
    if (set->config->kind == EVAL_GENERATE) {
        TokenBatch prompts = token_pack_batch(&set->prompts);
        if (evaluate_generate(&ms->model, &prompts, &opt, &out->gen, err, err_len) < 0) return -1;
        double values[] = {out->gen.refusal_rate, out->gen.answer_rate, out->gen.repetition_4,
                           out->gen.repetition_sen, out->gen.self_bleu};
        out->n_metrics = 5;
        memcpy(out->metrics, values, sizeof values);
        memcpy(out->metric_names, generate_metric_names, sizeof generate_metric_names);
        out->texts = out->gen.texts;
        out->n_texts = out->gen.n;
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
    for (int i = 0; i < c->n_markers; i++) markers[i] = c->markers[i];
    return (EvalOptions){.max_new_tokens = c->eval_max_new_tokens,
                         .batch_size = c->eval_batch_size,
                         .max_batch_tokens = EVAL_BATCH_TOKENS,
                         .stop_tokens = ms->stop,
                         .n_stop = ms->n_stop,
                         .markers = markers,
                         .n_markers = c->n_markers,
                         .case_sensitive = c->markers_case_sensitive,
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
    }
    *e = (ModelEval){0};
}

void model_eval_print(FILE *f, const ModelEval *base, const ModelEval *edited) {
    fprintf(f, "%-18s %-18s %9s%s\n", "set", "metric", edited ? "base" : "value",
            edited ? "     edited" : "");
    for (int i = 0; i < base->n_sets; i++) {
        const SetEval *s = &base->sets[i];
        for (int k = 0; k < s->n_metrics; k++) {
            fprintf(f, "%-18s %-18s %9.3f", s->set->config->name, s->metric_names[k],
                    s->metrics[k]);
            if (edited) fprintf(f, "  %9.3f", edited->sets[i].metrics[k]);
            fputc('\n', f);
        }
    }
    if (!isnan(base->perplexity)) {
        fprintf(f, "%-18s %-18s %9.3f", "held_out_text", "perplexity", base->perplexity);
        if (edited) fprintf(f, "  %9.3f", edited->perplexity);
        fputc('\n', f);
    }
}

const SetEval *model_eval_find(const ModelEval *e, const char *name) {
    for (int i = 0; i < e->n_sets; i++)
        if (!strcmp(e->sets[i].set->config->name, name)) return &e->sets[i];
    return NULL;
}
