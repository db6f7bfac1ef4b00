#include "task_data.h"

#include "chat_template.h"
#include "model_chat_template.h"
#include "text_corpus.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC_ANSWER_PREFIX " My answer is ("

int token_pack_append(TokenPack *p, const int *ids, int n) {
    if (p->n == p->cap_seqs) {
        int cap = p->cap_seqs ? 2 * p->cap_seqs : 64;
        int *len = realloc(p->len, (size_t)cap * sizeof *len);
        if (!len) return -1;
        p->len = len;
        p->cap_seqs = cap;
    }
    if (p->n_tokens + (size_t)n > p->cap_tokens) {
        size_t cap = p->cap_tokens ? 2 * p->cap_tokens : 4096;
        while (cap < p->n_tokens + (size_t)n) cap *= 2;
        int *tokens = realloc(p->tokens, cap * sizeof *tokens);
        if (!tokens) return -1;
        p->tokens = tokens;
        p->cap_tokens = cap;
    }
    memcpy(p->tokens + p->n_tokens, ids, (size_t)n * sizeof *ids);
    p->n_tokens += (size_t)n;
    p->len[p->n++] = n;
    return 0;
}

void token_pack_free(TokenPack *p) {
    free(p->len);
    free(p->tokens);
    *p = (TokenPack){0};
}

TokenBatch token_pack_batch(const TokenPack *p) {
    return (TokenBatch){.n_seqs = p->n, .seq_len = p->len, .tokens = p->tokens};
}

static int out_of_memory(char *err, size_t err_len) {
    snprintf(err, err_len, "out of memory");
    return -1;
}

// Encodes text (template applied when template_text is set) and appends it to pack, checking
// that it fits the model's context with room for `room` more tokens.
static int append_encoded(TokenPack *pack, const ModelSession *ms, const char *template_text,
                          const char *text, int room, const PromptRow *row, char *err,
                          size_t err_len) {
    int *ids, n;
    char why[256];
    if (model_session_encode(ms, template_text, text, &ids, &n, why, sizeof why) < 0) {
        snprintf(err, err_len, "%s:%d: prompt: %s", row->file, row->line, why);
        return -1;
    }
    int context = ms->model.cfg.max_seq_len;
    if (n + room > context) {
        snprintf(err, err_len, "%s:%d: prompt: %d tokens%s exceed the model's context of %d tokens",
                 row->file, row->line, n, room ? " with the answer" : "", context);
        free(ids);
        return -1;
    }
    int rc = token_pack_append(pack, ids, n);
    free(ids);
    return rc < 0 ? out_of_memory(err, err_len) : 0;
}

int task_prompts_load(TaskPrompts *t, const ModelSession *ms, const AreConfig *c, char *err,
                      size_t err_len) {
    *t = (TaskPrompts){0};
    for (int f = 0; f < c->task.n_data; f++)
        if (prompt_set_load(&t->set, c->task.data[f], NULL, err, err_len) < 0) return -1;
    char what[ARE_NAME_MAX + 8];
    snprintf(what, sizeof what, "task %s", c->task.name);
    if (prompt_set_check_task(&t->set, what, err, err_len) < 0) return -1;
    int n = t->set.n;
    t->labels = malloc((size_t)n * sizeof *t->labels);
    t->is_test = malloc((size_t)n * sizeof *t->is_test);
    if (!t->labels || !t->is_test) return out_of_memory(err, err_len);
    char *template_text =
        model_chat_template_resolve(c->model, ms->tok, c->template_text, false, err, err_len);
    int rc = template_text ? 0 : -1;
    for (int i = 0; i < n && rc == 0; i++) {
        const PromptRow *row = &t->set.rows[i];
        t->labels[i] = row->label;
        t->is_test[i] = row->split == PROMPT_TEST;
        rc = append_encoded(&t->pack, ms, template_text, row->prompt, 0, row, err, err_len);
    }
    free(template_text);
    return rc;
}

void task_prompts_free(TaskPrompts *t) {
    prompt_set_free(&t->set);
    token_pack_free(&t->pack);
    free(t->labels);
    free(t->is_test);
    *t = (TaskPrompts){0};
}

AreSamples task_prompts_samples(const TaskPrompts *t) {
    return (AreSamples){.n = t->pack.n,
                        .len = t->pack.len,
                        .tokens = t->pack.tokens,
                        .labels = t->labels,
                        .is_test = t->is_test};
}

// The ids of text (no template, no BOS handling beyond the tokenizer's default).
static int encode_plain(const ModelSession *ms, const char *text, int **ids, int *n,
                        const PromptRow *row, char *err, size_t err_len) {
    char why[256];
    if (model_session_encode(ms, NULL, text, ids, n, why, sizeof why) < 0) {
        snprintf(err, err_len, "%s:%d: %s", row->file, row->line, why);
        return -1;
    }
    return 0;
}

static int common_prefix(const int *a, int na, const int *b, int nb) {
    int k = 0;
    while (k < na && k < nb && a[k] == b[k]) k++;
    return k;
}

// An MC question: the prompt with the answer prefix, and each choice "X) text." after it.
// Tokenizers may merge across the boundary ("(A" as one token, as tinychat's does), so each
// choice is encoded together with the prompt, and the question's prompt is the longest prefix
// that every choice's encoding shares with the prompt's own: both protocols then continue
// from tokens the model has seen before an answer (a lone "(" it never has).
static int append_mc_question(EvalSet *e, const ModelSession *ms, const char *template_text,
                              const PromptRow *row, int max_new, char *err, size_t err_len) {
    if (row->n_choices < 2 || !row->answer || strlen(row->answer) != 1 || row->answer[0] < 'A' ||
        row->answer[0] >= 'A' + row->n_choices) {
        snprintf(err, err_len,
                 "%s:%d: answer: a multiple-choice row needs choices and an answer letter among "
                 "them",
                 row->file, row->line);
        return -1;
    }
    char why[256];
    char *templated = chat_template_apply(template_text, NULL, row->prompt, why, sizeof why);
    if (!templated) {
        snprintf(err, err_len, "%s:%d: prompt: %s", row->file, row->line, why);
        return -1;
    }
    size_t longest = 0;
    for (int k = 0; k < row->n_choices; k++)
        if (strlen(row->choices[k]) > longest) longest = strlen(row->choices[k]);
    size_t cap = strlen(templated) + strlen(MC_ANSWER_PREFIX) + longest + 8;
    char *text = malloc(cap);
    int *choice_ids[PROMPT_SET_MAX_CHOICES] = {0}, choice_n[PROMPT_SET_MAX_CHOICES];
    int *prompt_ids = NULL, prompt_n = 0, rc = -1;
    if (!text) {
        out_of_memory(err, err_len);
        goto done;
    }
    snprintf(text, cap, "%s%s", templated, MC_ANSWER_PREFIX);
    if (encode_plain(ms, text, &prompt_ids, &prompt_n, row, err, err_len) < 0) goto done;
    if (prompt_n + max_new > ms->model.cfg.max_seq_len) {
        snprintf(err, err_len,
                 "%s:%d: prompt: %d tokens with the answer exceed the model's "
                 "context of %d tokens",
                 row->file, row->line, prompt_n, ms->model.cfg.max_seq_len);
        goto done;
    }
    int shared = prompt_n;
    for (int k = 0; k < row->n_choices; k++) {
        snprintf(text, cap, "%s%s%c) %s.", templated, MC_ANSWER_PREFIX, 'A' + k, row->choices[k]);
        if (encode_plain(ms, text, &choice_ids[k], &choice_n[k], row, err, err_len) < 0) goto done;
        int common = common_prefix(prompt_ids, prompt_n, choice_ids[k], choice_n[k]);
        if (common < shared) shared = common;
    }
    if (token_pack_append(&e->prompts, prompt_ids, shared) < 0) {
        out_of_memory(err, err_len);
        goto done;
    }
    for (int k = 0; k < row->n_choices; k++)
        if (token_pack_append(&e->choices, choice_ids[k] + shared, choice_n[k] - shared) < 0) {
            out_of_memory(err, err_len);
            goto done;
        }
    e->n_choices[e->prompts.n - 1] = row->n_choices;
    e->gold[e->prompts.n - 1] = row->answer[0] - 'A';
    rc = 0;
done:
    for (int k = 0; k < PROMPT_SET_MAX_CHOICES; k++) free(choice_ids[k]);
    free(prompt_ids);
    free(text);
    free(templated);
    return rc;
}

// A generate set's likelihood measures: the row's target and the task's refusal text, each as
// the tokens after the templated prompt. Tokenizers may merge across the boundary, so the text
// is encoded together with the prompt and split where the two encodings part (as for mc).
// A space goes between them when the template ends in a visible character and the text does
// not start with whitespace, as a chat model's answer would.
static int append_continuation(TokenPack *heads, TokenPack *tails, const ModelSession *ms,
                               const char *template_text, const PromptRow *row,
                               const char *continuation, const char *field, char *err,
                               size_t err_len) {
    char why[256];
    char *templated = chat_template_apply(template_text, NULL, row->prompt, why, sizeof why);
    if (!templated) {
        snprintf(err, err_len, "%s:%d: prompt: %s", row->file, row->line, why);
        return -1;
    }
    size_t n = strlen(templated);
    bool spaced = n > 0 && !strchr(" \t\n", templated[n - 1]) && !strchr(" \t\n", continuation[0]);
    size_t cap = n + strlen(continuation) + 2;
    char *text = malloc(cap);
    int *head = NULL, *full = NULL, head_n = 0, full_n = 0, rc = -1;
    if (!text) {
        out_of_memory(err, err_len);
        goto done;
    }
    snprintf(text, cap, "%s%s%s", templated, spaced ? " " : "", continuation);
    if (encode_plain(ms, templated, &head, &head_n, row, err, err_len) < 0 ||
        encode_plain(ms, text, &full, &full_n, row, err, err_len) < 0)
        goto done;
    int shared = common_prefix(head, head_n, full, full_n);
    if (shared < 1 || shared == full_n || full_n > ms->model.cfg.max_seq_len) {
        snprintf(err, err_len,
                 "%s:%d: %s: %d tokens after the prompt's %d, expected at least 1 and at most "
                 "the model's context of %d tokens in all",
                 row->file, row->line, field, full_n - shared, shared, ms->model.cfg.max_seq_len);
        goto done;
    }
    if (token_pack_append(heads, full, shared) < 0 ||
        token_pack_append(tails, full + shared, full_n - shared) < 0) {
        out_of_memory(err, err_len);
        goto done;
    }
    rc = 0;
done:
    free(head);
    free(full);
    free(text);
    free(templated);
    return rc;
}

// The target and refusal continuations of a generate set's rows.
// template_text is the resolved chat template (never "auto").
static int load_likelihoods(EvalSet *e, const ModelSession *ms, const AreConfig *c,
                            const char *template_text, char *err, size_t err_len) {
    e->target_of = malloc((size_t)e->n * sizeof *e->target_of + 1);
    if (!e->target_of) return out_of_memory(err, err_len);
    for (int i = 0; i < e->n; i++) {
        const PromptRow *row = &e->set.rows[e->rows[i]];
        e->target_of[i] = row->target ? e->target_heads.n : -1;
        if (row->target &&
            append_continuation(&e->target_heads, &e->target_tails, ms, template_text, row,
                                row->target, e->config->columns.target, err, err_len) < 0)
            return -1;
        if (c->task.refusal_text[0] &&
            append_continuation(&e->refusal_heads, &e->refusal_tails, ms, template_text, row,
                                c->task.refusal_text, "refusal_text", err, err_len) < 0)
            return -1;
    }
    return 0;
}

PromptLayout eval_set_layout(const EvalSetConfig *config) {
    const ColumnNames *k = &config->columns;
    int split = !strcmp(config->constant_split, "train")  ? PROMPT_TRAIN
                : !strcmp(config->constant_split, "test") ? PROMPT_TEST
                                                          : PROMPT_ANY;
    return (PromptLayout){.prompt = k->prompt,
                          .label = k->label,
                          .split = k->split,
                          .target = k->target,
                          .answer = k->answer,
                          .choices = k->choices,
                          .label_all = config->constant_label,
                          .split_all = split};
}

int eval_set_load(EvalSet *e, const ModelSession *ms, const AreConfig *c,
                  const EvalSetConfig *config, char *err, size_t err_len) {
    *e = (EvalSet){.config = config};
    PromptLayout layout = eval_set_layout(config);
    if (prompt_set_load(&e->set, config->data, &layout, err, err_len) < 0) return -1;
    e->rows = malloc((size_t)e->set.n * sizeof *e->rows + 1);
    if (!e->rows) return out_of_memory(err, err_len);
    int label = config->label < 0 ? PROMPT_ANY : config->label;
    e->n = prompt_set_select(&e->set, label, PROMPT_ANY, e->rows);
    if (e->n == 0) {
        snprintf(err, err_len, "%s: no rows with label %d for evaluation set %s", config->data,
                 config->label, config->name);
        return -1;
    }
    if (c->eval_max_prompts > 0 && e->n > c->eval_max_prompts) e->n = c->eval_max_prompts;
    bool mc = config->kind == EVAL_MC;
    if (mc) {
        e->n_choices = malloc((size_t)e->n * sizeof *e->n_choices);
        e->gold = malloc((size_t)e->n * sizeof *e->gold);
        if (!e->n_choices || !e->gold) return out_of_memory(err, err_len);
    }
    char *template_text =
        model_chat_template_resolve(c->model, ms->tok, c->template_text, false, err, err_len);
    int rc = template_text ? 0 : -1;
    for (int i = 0; i < e->n && rc == 0; i++) {
        const PromptRow *row = &e->set.rows[e->rows[i]];
        rc = mc ? append_mc_question(e, ms, template_text, row, c->mc_max_new_tokens, err, err_len)
                : append_encoded(&e->prompts, ms, template_text, row->prompt,
                                 c->eval_max_new_tokens, row, err, err_len);
    }
    if (rc == 0 && !mc) rc = load_likelihoods(e, ms, c, template_text, err, err_len);
    free(template_text);
    return rc;
}

void eval_set_free(EvalSet *e) {
    token_pack_free(&e->target_heads);
    token_pack_free(&e->target_tails);
    token_pack_free(&e->refusal_heads);
    token_pack_free(&e->refusal_tails);
    free(e->target_of);
    prompt_set_free(&e->set);
    token_pack_free(&e->prompts);
    token_pack_free(&e->choices);
    free(e->rows);
    free(e->n_choices);
    free(e->gold);
    *e = (EvalSet){0};
}

McQuestions eval_set_mc(const EvalSet *e) {
    return (McQuestions){.n_questions = e->prompts.n,
                         .prompt_len = e->prompts.len,
                         .prompt = e->prompts.tokens,
                         .n_choices = e->n_choices,
                         .choice_len = e->choices.len,
                         .choice = e->choices.tokens,
                         .gold = e->gold};
}

int perplexity_docs_load(TokenPack *docs, const ModelSession *ms, const AreConfig *c, char *err,
                         size_t err_len) {
    *docs = (TokenPack){0};
    if (!c->perplexity_text[0]) return 0;
    TextCorpus corpus;
    if (text_corpus_load(c->perplexity_text, &corpus, err, err_len) < 0) return -1;
    // perplexity_docs 0 means every document.
    int n = c->perplexity_docs == 0 || corpus.n_docs < c->perplexity_docs ? corpus.n_docs
                                                                          : c->perplexity_docs;
    int context = ms->model.cfg.max_seq_len, rc = 0;
    for (int d = 0; d < n && rc == 0; d++) {
        int *ids, len;
        PromptRow where = {.file = c->perplexity_text, .line = d + 1};
        if (encode_plain(ms, corpus.docs[d], &ids, &len, &where, err, err_len) < 0) {
            rc = -1;
            break;
        }
        // A document of one token predicts nothing; a long one is cut to the context.
        if (len >= 2 && token_pack_append(docs, ids, len < context ? len : context) < 0)
            rc = out_of_memory(err, err_len);
        free(ids);
    }
    text_corpus_free(&corpus);
    return rc;
}
