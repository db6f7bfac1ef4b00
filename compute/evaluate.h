// Generation-based evaluation of a model (with or without its LoRA attached): what ARE.md's
// "Evaluation" section measures, on token ids. Text is produced through a decode callback, so
// compute stays free of tokenizers; prompts arrive already templated and tokenized, packed as
// in llama.h.
#ifndef ARE_EVALUATE_H
#define ARE_EVALUATE_H

#include "llama.h"

#include <stdbool.h>
#include <stddef.h>

// Writes the text of tokens[0..n) (special tokens dropped) into out (cap >= 1 bytes, always
// NUL-terminated); returns the length it needed, like snprintf.
typedef size_t (*DecodeFn)(void *ctx, const int *tokens, int n, char *out, size_t cap);

typedef struct {
    int max_new_tokens;     // greedy continuation length, >= 1
    int batch_size;         // prompts generated together (KV-cache slots), >= 1
    int max_batch_tokens;   // tokens of one log-likelihood forward (evaluate_mc), >= the longest
                            // prompt + choice
    const int *stop_tokens; // a continuation ends after one; the stop token is not decoded
    int n_stop;
    const char *const *markers; // refusal markers (evaluate_generate)
    int n_markers;
    bool case_sensitive;
    DecodeFn decode;
    void *decode_ctx;
} EvalOptions;

typedef struct {
    int n;
    double refusal_rate;   // share of texts containing a marker
    double answer_rate;    // share of texts that are an answer (text_metrics.h's definition)
    double repetition_4;   // mean over texts
    double repetition_sen; // mean over texts
    double self_bleu;      // over the set (BLEU-4); NaN for a single text
    char **texts;          // [n] malloc'd, one allocation each; free with generate_eval_free
} GenerateEval;

// Greedy generation for every prompt (prompt + max_new_tokens must fit the model's
// max_seq_len) and the text metrics over the decoded continuations. Results do not depend on
// batch_size. Returns 0, or -1 with the reason in err (out then holds nothing to free).
int evaluate_generate(LlamaModel *m, const TokenBatch *prompts, const EvalOptions *opt,
                      GenerateEval *out, char *err, size_t err_len);
void generate_eval_free(GenerateEval *e);

// Multiple choice: per question, the prompt (template applied, ending with the answer prefix
// "My answer is (") and for each choice the tokens of its continuation "X) text".
typedef struct {
    int n_questions;
    const int *prompt_len; // [n_questions]
    const int *prompt;     // packed prompt tokens
    const int *n_choices;  // [n_questions], 1 .. 26 (letters A ..)
    const int *choice_len; // [sum n_choices], each >= 1
    const int *choice;     // packed continuation tokens, question after question
    const int *gold;       // [n_questions] index of the true choice
} McQuestions;

typedef struct {
    int n;
    double accuracy_generate; // greedy answer names the gold letter (mc_answer_names)
    double accuracy_loglik;   // the gold continuation has the highest log-likelihood
    double *loglik;           // [sum n_choices] log-likelihood of each choice's continuation
    int *loglik_choice;       // [n] the choice with the highest one (lowest index on ties)
    char **texts;             // [n] greedy continuations, malloc'd one each
} McEval;

// Both protocols of ARE.md: greedy max_new_tokens after each prompt, correct when the text
// names the gold letter; and the sum of log-probabilities of each choice's tokens given the
// prompt, correct when the gold choice has the highest. Returns 0, or -1 with the reason in
// err (out then holds nothing to free).
int evaluate_mc(LlamaModel *m, const McQuestions *q, const EvalOptions *opt, McEval *out, char *err,
                size_t err_len);
void mc_eval_free(McEval *e);

// Whether a greedy continuation of "... My answer is (" names choice (0 = 'A'): it contains
// "(X)" (its start "X)" counts, the prompt supplying the parenthesis), "X. " or "X: ".
bool mc_answer_names(const char *text, int choice);

// Perplexity of documents (each token sequence scored on predicting its own next tokens):
// exp of the mean next-token cross-entropy over every predicted token of every document.
// Documents are packed into forwards of at most max_batch_tokens tokens; each must fit one
// forward and the model's max_seq_len. Returns 0, or -1 with the reason in err.
int evaluate_perplexity(LlamaModel *m, const TokenBatch *docs, int max_batch_tokens,
                        double *perplexity, char *err, size_t err_len);

#endif
