// The prompts of a task and of its evaluation sets, read from their files, put inside the chat
// template and tokenized, in the packed layout the engine takes (llama.h's TokenBatch).
#ifndef ARE_TASK_DATA_H
#define ARE_TASK_DATA_H

#include "are_config.h"
#include "are_trial.h"
#include "evaluate.h"
#include "model_session.h"
#include "prompt_set.h"

#include <stdbool.h>
#include <stddef.h>

// Sequences of token ids packed back to back, growing as they are appended.
typedef struct {
    int n;
    int *len;    // [n]
    int *tokens; // [sum len]
    size_t n_tokens;
    int cap_seqs;
    size_t cap_tokens;
} TokenPack;

int token_pack_append(TokenPack *p, const int *ids, int n); // 0, or -1 when out of memory
void token_pack_free(TokenPack *p);
TokenBatch token_pack_batch(const TokenPack *p);

// A task's prompts (every file of its data, splits as the rows say).
typedef struct {
    PromptSet set;
    TokenPack pack;
    int *labels;   // [n]
    bool *is_test; // [n]
} TaskPrompts;

int task_prompts_load(TaskPrompts *t, const ModelSession *ms, const AreConfig *c, char *err,
                      size_t err_len);
void task_prompts_free(TaskPrompts *t);
AreSamples task_prompts_samples(const TaskPrompts *t);

// One evaluation set: for kind generate, the templated prompts; for kind mc, the questions
// with the answer prefix "My answer is (" after the template (cut before a token that merges
// with the answer, see task_data.c), and each choice's continuation "X) text.".
typedef struct {
    const EvalSetConfig *config;
    PromptSet set;
    int *rows; // [n] rows of set in use (label filter, max_prompts)
    int n;
    TokenPack prompts;
    // mc only
    TokenPack choices; // sum of n_choices sequences
    int *n_choices;    // [n]
    int *gold;         // [n]
    // generate only: the likelihood measures' prompts (heads) and continuations (tails)
    TokenPack target_heads, target_tails;   // one per row with a target
    int *target_of;                         // [n] its index there, -1 for a row without one
    TokenPack refusal_heads, refusal_tails; // [n] the task's refusal_text, none without one
} EvalSet;

// Where the set's file keeps each field, as its config says.
PromptLayout eval_set_layout(const EvalSetConfig *config);

int eval_set_load(EvalSet *e, const ModelSession *ms, const AreConfig *c,
                  const EvalSetConfig *config, char *err, size_t err_len);
void eval_set_free(EvalSet *e);
McQuestions eval_set_mc(const EvalSet *e);

// The first c->perplexity_docs documents of c->perplexity_text, BOS first, cut to the model's
// context. An empty perplexity_text gives no documents.
int perplexity_docs_load(TokenPack *docs, const ModelSession *ms, const AreConfig *c, char *err,
                         size_t err_len);

#endif
