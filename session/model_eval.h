// A model's measured behaviour on a task's evaluation sets (refusal and answer rates, text
// quality, multiple-choice accuracy) and its perplexity on held-out text: what `are evaluate`
// prints and `are run` stores for the base and the edited model.
#ifndef ARE_MODEL_EVAL_H
#define ARE_MODEL_EVAL_H

#include "are_config.h"
#include "evaluate.h"
#include "model_session.h"
#include "task_data.h"

#include <stdio.h>

#define MODEL_EVAL_MAX_METRICS 16
#define MODEL_EVAL_MAX_VALUES  4

typedef struct {
    const EvalSet *set;
    int n_metrics;
    const char *metric_names[MODEL_EVAL_MAX_METRICS];
    double metrics[MODEL_EVAL_MAX_METRICS];
    int n_texts;
    char **texts; // [n_texts] the generated answers (views into gen or mc)
    GenerateEval gen;
    McEval mc;
    // Per-prompt values ([n_texts] each, malloc'd; NaN where a prompt has none), e.g.
    // target_nll, and for an edited model preserved_prefix and preserved_rouge_l.
    int n_values;
    const char *value_names[MODEL_EVAL_MAX_VALUES];
    double *values[MODEL_EVAL_MAX_VALUES];
} SetEval;

typedef struct {
    SetEval sets[ARE_MAX_EVAL_SETS];
    int n_sets;
    double perplexity; // NaN without perplexity text
    double seconds;
} ModelEval;

// The evaluation inputs of a config, loaded once and reused for every model evaluated.
typedef struct {
    EvalSet sets[ARE_MAX_EVAL_SETS];
    int n_sets;
    TokenPack docs;
} EvalInputs;

int eval_inputs_load(EvalInputs *in, const ModelSession *ms, const AreConfig *c, char *err,
                     size_t err_len);
void eval_inputs_free(EvalInputs *in);

// The evaluation settings of c for the session's model; markers (room for ARE_MAX_MARKERS)
// receives the config's and the task's markers and must live as long as the options.
EvalOptions model_eval_options(ModelSession *ms, const AreConfig *c, const char **markers);

// Perplexity of the documents on m as it is now (NaN without documents). 0, or -1 with err.
int model_eval_perplexity(LlamaModel *m, const TokenPack *docs, double *perplexity, char *err,
                          size_t err_len);

// Evaluates the session's model as it is now (its LoRA attached, if any). Returns 0, or -1
// with the reason in err.
int model_eval_run(ModelEval *out, ModelSession *ms, const EvalInputs *in, const AreConfig *c,
                   char *err, size_t err_len);
void model_eval_free(ModelEval *e);

// Likelihood measures of a generate set on m as it is now: the mean per-token NLL of each row's
// target (NaN for a row without one) and of the task's refusal text (NaN everywhere without
// one) after the templated prompt, per prompt ([set->n] each) and as means over the prompts
// that have them. 0, or -1 with err.
int model_eval_likelihoods(LlamaModel *m, const EvalSet *set, double *target_nll,
                           double *refusal_nll, double *mean_target, double *mean_refusal,
                           char *err, size_t err_len);

// Adds to each generate set of edited what it kept of base's answers (evaluate_preservation
// with c's preserve_tokens): the means preserved_prefix and preserved_rouge_l, and the same per
// prompt. 0, or -1 with err.
int model_eval_preservation(ModelEval *edited, const ModelEval *base, const AreConfig *c, char *err,
                            size_t err_len);

// One line per set and metric: the base value, and the edited one beside it when given.
void model_eval_print(FILE *f, const ModelEval *base, const ModelEval *edited);

// The generate-kind set named name, or NULL.
const SetEval *model_eval_find(const ModelEval *e, const char *name);

#endif
