// Evaluation by generation (greedy continuations, decoded and measured as text) and by scoring
// (log-likelihoods of given tokens). Scoring packs many sequences into each forward and reduces
// the [T, vocab] logits to one loss per token on the backend, so only [T] floats reach the host.
#include "evaluate.h"

#include "fail.h"
#include "generate.h"
#include "text_metrics.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MC_MAX_CHOICES 26 // letters A .. Z

static int min_int(int a, int b) {
    return a < b ? a : b;
}
static int max_int(int a, int b) {
    return a > b ? a : b;
}

static void free_texts(char **texts, int n) {
    if (!texts) return;
    for (int i = 0; i < n; i++) free(texts[i]);
    free(texts);
}

// --- generation ------------------------------------------------------------------------------

static int check_generation(const LlamaModel *m, const TokenBatch *prompts, const EvalOptions *opt,
                            char *err, size_t err_len) {
    if (opt->max_new_tokens < 1)
        return fail(err, err_len, "max_new_tokens is %d, expected at least 1", opt->max_new_tokens);
    if (opt->batch_size < 1)
        return fail(err, err_len, "batch_size is %d, expected at least 1", opt->batch_size);
    if (opt->n_stop < 0 || (opt->n_stop > 0 && !opt->stop_tokens))
        return fail(err, err_len, "n_stop is %d with %s stop_tokens", opt->n_stop,
                    opt->stop_tokens ? "given" : "no");
    if (!opt->decode) return fail(err, err_len, "no decode function to turn tokens into text");
    if (prompts->n_seqs < 1) return fail(err, err_len, "no prompts to evaluate");
    int max_len = m->cfg.max_seq_len;
    for (int s = 0; s < prompts->n_seqs; s++) {
        int len = prompts->seq_len[s];
        if (len < 1 || len > max_len - opt->max_new_tokens)
            return fail(err, err_len,
                        "prompt %d has %d tokens: with max_new_tokens %d the model's max_seq_len "
                        "(%d) holds prompts of 1 .. %d tokens",
                        s, len, opt->max_new_tokens, max_len, max_len - opt->max_new_tokens);
    }
    return 0;
}

static bool is_stop(const EvalOptions *opt, int token) {
    for (int i = 0; i < opt->n_stop; i++)
        if (opt->stop_tokens[i] == token) return true;
    return false;
}

// The text of tokens[0..n), malloc'd; NULL when out of memory. The first guess of its size
// fits most texts; a second call covers the rest.
static char *decode_text(const EvalOptions *opt, const int *tokens, int n) {
    size_t cap = 8 * (size_t)n + 1;
    char *text = malloc(cap);
    if (!text) return NULL;
    size_t need = opt->decode(opt->decode_ctx, tokens, n, text, cap);
    if (need < cap) return text;
    char *bigger = realloc(text, need + 1);
    if (!bigger) {
        free(text);
        return NULL;
    }
    opt->decode(opt->decode_ctx, tokens, n, bigger, need + 1);
    return bigger;
}

// Greedy continuations of every prompt, in batches of opt->batch_size through one workspace
// planned for the largest batch, decoded with the stop token left out: [n_seqs] malloc'd
// texts, or NULL with the reason in err. With kept (room for n_seqs * max_new_tokens) and
// kept_len ([n_seqs]), the continuations' ids go there too. The prompts must have passed
// check_generation.
static char **generate_texts(LlamaModel *m, const TokenBatch *prompts, const EvalOptions *opt,
                             int *kept, int *kept_len, char *err, size_t err_len) {
    int n = prompts->n_seqs, batch = min_int(opt->batch_size, n), max_new = opt->max_new_tokens;
    int max_tokens = 0, longest = 0;
    for (int first = 0; first < n; first += batch) {
        int tokens = 0;
        for (int s = first; s < min_int(first + batch, n); s++) {
            tokens += prompts->seq_len[s];
            longest = max_int(longest, prompts->seq_len[s]);
        }
        max_tokens = max_int(max_tokens, tokens);
    }
    WorkspacePlan plan = {.max_tokens = max_tokens,
                          .max_seqs = batch,
                          .max_seq_len = longest + max_new,
                          .outputs = {.logits = true},
                          .kv_slots = batch};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, err_len);
    if (!ws) return NULL;
    char **texts = calloc((size_t)n, sizeof *texts);
    int *generated = malloc((size_t)batch * (max_new + 1) * sizeof *generated);
    if (!texts || !generated) {
        fail(err, err_len, "out of host memory for %d generations", n);
        goto failed;
    }
    int *generated_len = generated + (size_t)batch * max_new; // [batch]
    GenerateOptions greedy = {.max_new_tokens = max_new,
                              .temperature = 0,
                              .top_p = 1,
                              .stop_tokens = opt->stop_tokens,
                              .n_stop = opt->n_stop};
    const int *tokens = prompts->tokens;
    for (int first = 0; first < n; first += batch) {
        TokenBatch chunk = {min_int(batch, n - first), prompts->seq_len + first, tokens};
        if (llama_generate(m, ws, &chunk, &greedy, generated, generated_len) != 0) {
            fail(err, err_len, "prompts %d .. %d: %s", first, first + chunk.n_seqs - 1,
                 llama_workspace_error(ws));
            goto failed;
        }
        for (int i = 0; i < chunk.n_seqs; i++) {
            const int *continuation = generated + (size_t)i * max_new;
            int len = generated_len[i];
            if (len > 0 && is_stop(opt, continuation[len - 1])) len--;
            if (kept) {
                memcpy(kept + (size_t)(first + i) * max_new, continuation,
                       (size_t)len * sizeof(int));
                kept_len[first + i] = len;
            }
            texts[first + i] = decode_text(opt, continuation, len);
            if (!texts[first + i]) {
                fail(err, err_len, "out of host memory for the text of prompt %d", first + i);
                goto failed;
            }
            tokens += chunk.seq_len[i];
        }
    }
    free(generated);
    llama_workspace_free(ws);
    return texts;

failed:
    free_texts(texts, n);
    free(generated);
    llama_workspace_free(ws);
    return NULL;
}

// Fills the metrics of e from its texts. Returns 0, or -1 when memory runs out.
static int measure_texts(GenerateEval *e, const EvalOptions *opt) {
    double refusals = 0, answers = 0, repetition_4 = 0, repetition_sen = 0;
    for (int i = 0; i < e->n; i++) {
        const char *text = e->texts[i];
        refusals += text_is_refusal(text, &opt->refusal);
        answers += text_is_answer(text, &opt->refusal);
        repetition_4 += repetition_n(text, 4);
        repetition_sen += repetition_sentences(text);
    }
    e->refusal_rate = refusals / e->n;
    e->answer_rate = answers / e->n;
    e->repetition_4 = repetition_4 / e->n;
    e->repetition_sen = repetition_sen / e->n;
    // Self-BLEU needs two texts (each is scored against the others): NaN for one.
    const char *const *texts = (const char *const *)e->texts;
    e->self_bleu = self_bleu(texts, e->n, 4);
    e->distinct = distinct_texts(texts, e->n);
    e->distinct_2 = distinct_n(texts, e->n, 2); // NaN also when no text has two words
    bool out_of_memory = isnan(e->repetition_4) || isnan(e->repetition_sen) ||
                         (e->n >= 2 && isnan(e->self_bleu)) || isnan(e->distinct);
    return out_of_memory ? -1 : 0;
}

int evaluate_generate(LlamaModel *m, const TokenBatch *prompts, const EvalOptions *opt,
                      GenerateEval *out, char *err, size_t err_len) {
    memset(out, 0, sizeof *out);
    if (check_generation(m, prompts, opt, err, err_len) != 0) return -1;
    const RefusalRule *rule = &opt->refusal;
    if (rule->n_markers < 0 || (rule->n_markers > 0 && !rule->markers))
        return fail(err, err_len, "n_markers is %d with %s markers", rule->n_markers,
                    rule->markers ? "given" : "no");
    int n = prompts->n_seqs;
    out->n_tokens = malloc((size_t)n * sizeof *out->n_tokens);
    out->tokens = malloc((size_t)n * opt->max_new_tokens * sizeof *out->tokens);
    if (!out->n_tokens || !out->tokens) {
        generate_eval_free(out);
        return fail(err, err_len, "out of host memory for %d continuations", n);
    }
    char **texts = generate_texts(m, prompts, opt, out->tokens, out->n_tokens, err, err_len);
    if (!texts) {
        generate_eval_free(out);
        return -1;
    }
    out->n = n;
    out->texts = texts;
    out->max_new_tokens = opt->max_new_tokens;
    if (measure_texts(out, opt) != 0) {
        generate_eval_free(out);
        return fail(err, err_len, "out of host memory for the text metrics");
    }
    return 0;
}

void generate_eval_free(GenerateEval *e) {
    free_texts(e->texts, e->n);
    free(e->tokens);
    free(e->n_tokens);
    memset(e, 0, sizeof *e);
}

// --- scoring ---------------------------------------------------------------------------------

// A sequence head + tail whose tail is scored: log p(tail | head), head_len >= 1.
typedef struct {
    const int *head, *tail;
    int head_len, tail_len;
} Scored;

// The longest sequence that forwards of budget tokens can score.
static int scoring_limit(const LlamaModel *m, int budget) {
    return min_int(m->cfg.max_seq_len, budget);
}

// Host staging of one scoring forward of up to max_tokens tokens in max_seqs sequences.
typedef struct {
    int *tokens, *targets; // [max_tokens]
    int *seq_len;          // [max_seqs]
    float *loss;           // [max_tokens]
} ScoringHost;

// Cuts seqs[0..n) into consecutive runs of at most budget tokens each: run r is
// seqs[starts[r] .. starts[r + 1]). Returns the number of runs; writes the most tokens and the
// most sequences of any run.
static int plan_runs(const Scored *seqs, int n, int budget, int *starts, int *max_tokens,
                     int *max_seqs) {
    int runs = 0, tokens = budget;
    *max_tokens = *max_seqs = 0;
    for (int s = 0; s < n; s++) {
        int len = seqs[s].head_len + seqs[s].tail_len;
        if (tokens + len > budget) {
            starts[runs++] = s;
            tokens = 0;
        }
        tokens += len;
        *max_tokens = max_int(*max_tokens, tokens);
        *max_seqs = max_int(*max_seqs, s + 1 - starts[runs - 1]);
    }
    starts[runs] = n;
    return runs;
}

// Packs seqs into host->tokens with next-token targets on the tail positions only (position i
// predicts token i + 1; -1 elsewhere). Returns the number of tokens.
static int pack_run(ScoringHost *host, const Scored *seqs, int n) {
    int T = 0;
    for (int s = 0; s < n; s++) {
        const Scored *q = &seqs[s];
        int len = q->head_len + q->tail_len;
        memcpy(host->tokens + T, q->head, (size_t)q->head_len * sizeof(int));
        memcpy(host->tokens + T + q->head_len, q->tail, (size_t)q->tail_len * sizeof(int));
        for (int i = 0; i < len; i++)
            host->targets[T + i] =
                i + 1 >= q->head_len && i + 1 < len ? host->tokens[T + i + 1] : -1;
        host->seq_len[s] = len;
        T += len;
    }
    return T;
}

// Writes loglik[s], the sum of log-probabilities of seqs[s]'s tail tokens given what precedes
// each, for s < n. The sequences run in order, packed into forwards of at most budget tokens;
// each must fit scoring_limit. Returns 0, or -1 with the reason in err.
static int score_tails(LlamaModel *m, const Scored *seqs, int n, int budget, double *loglik,
                       char *err, size_t err_len) {
    Backend *be = m->be;
    int vocab = m->cfg.vocab_size, longest = 0;
    for (int s = 0; s < n; s++) longest = max_int(longest, seqs[s].head_len + seqs[s].tail_len);
    int *starts = malloc((size_t)(n + 1) * sizeof *starts);
    if (!starts) return fail(err, err_len, "out of host memory for %d sequences", n);
    int max_tokens, max_seqs, runs = plan_runs(seqs, n, budget, starts, &max_tokens, &max_seqs);

    WorkspacePlan plan = {.max_tokens = max_tokens,
                          .max_seqs = max_seqs,
                          .max_seq_len = longest,
                          .outputs = {.logits = true}};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, err_len);
    size_t host_ints = 2 * (size_t)max_tokens + (size_t)max_seqs;
    void *host_memory = malloc(host_ints * sizeof(int) + (size_t)max_tokens * sizeof(float));
    // Targets [max_tokens] and losses [max_tokens] on the backend.
    void *device_memory = be->alloc(be, (size_t)max_tokens * (sizeof(int) + sizeof(float)));
    int rc = -1;
    if (!ws) goto done;
    if (!host_memory || !device_memory) {
        fail(err, err_len, "out of memory for scoring forwards of %d tokens", max_tokens);
        goto done;
    }
    ScoringHost host = {.tokens = host_memory,
                        .targets = (int *)host_memory + max_tokens,
                        .seq_len = (int *)host_memory + 2 * (size_t)max_tokens,
                        .loss = (float *)((int *)host_memory + host_ints)};
    int *targets = device_memory;
    float *loss = (float *)(targets + max_tokens);

    for (int r = 0; r < runs; r++) {
        const Scored *run = seqs + starts[r];
        int n_run = starts[r + 1] - starts[r];
        int T = pack_run(&host, run, n_run);
        TokenBatch batch = {n_run, host.seq_len, host.tokens};
        if (llama_forward(m, ws, &batch) != 0) {
            fail(err, err_len, "sequences %d .. %d: %s", starts[r], starts[r + 1] - 1,
                 llama_workspace_error(ws));
            goto done;
        }
        be->to_device(be, targets, host.targets, (size_t)T * sizeof(int));
        be->cross_entropy(be, T, vocab, llama_logits(ws), targets, 1.0f, loss, NULL);
        be->to_host(be, host.loss, loss, (size_t)T * sizeof(float));
        for (int s = 0, t = 0; s < n_run; t += host.seq_len[s], s++) {
            double sum = 0;
            for (int i = run[s].head_len - 1; i < host.seq_len[s] - 1; i++) sum -= host.loss[t + i];
            loglik[starts[r] + s] = sum;
        }
    }
    rc = 0;
done:
    if (device_memory) be->free(be, device_memory);
    free(host_memory);
    llama_workspace_free(ws);
    free(starts);
    return rc;
}

int evaluate_perplexity(LlamaModel *m, const TokenBatch *docs, int max_batch_tokens,
                        double *perplexity, char *err, size_t err_len) {
    if (docs->n_seqs < 1) return fail(err, err_len, "no documents to score");
    if (max_batch_tokens < 1)
        return fail(err, err_len, "max_batch_tokens is %d, expected at least 1", max_batch_tokens);
    int n = docs->n_seqs, limit = scoring_limit(m, max_batch_tokens);
    long long predicted = 0;
    for (int d = 0; d < n; d++) {
        int len = docs->seq_len[d];
        if (len < 1 || len > limit)
            return fail(err, err_len,
                        "document %d has %d tokens, expected 1 .. %d (max_batch_tokens %d, the "
                        "model's max_seq_len %d)",
                        d, len, limit, max_batch_tokens, m->cfg.max_seq_len);
        predicted += len - 1;
    }
    if (predicted == 0)
        return fail(err, err_len, "the documents predict no token: each has a single token");

    Scored *seqs = malloc((size_t)n * sizeof *seqs);
    double *loglik = malloc((size_t)n * sizeof *loglik);
    int rc = -1;
    if (!seqs || !loglik) {
        fail(err, err_len, "out of host memory for %d documents", n);
        goto done;
    }
    // Every token after the first is predicted from the ones before it.
    const int *doc = docs->tokens;
    for (int d = 0; d < n; doc += docs->seq_len[d], d++)
        seqs[d] =
            (Scored){.head = doc, .head_len = 1, .tail = doc + 1, .tail_len = docs->seq_len[d] - 1};
    if (score_tails(m, seqs, n, max_batch_tokens, loglik, err, err_len) != 0) goto done;
    double total = 0;
    for (int d = 0; d < n; d++) total += loglik[d];
    *perplexity = exp(-total / (double)predicted);
    rc = 0;
done:
    free(seqs);
    free(loglik);
    return rc;
}

int evaluate_continuation_nll(LlamaModel *m, const TokenBatch *heads, const TokenBatch *tails,
                              int max_batch_tokens, double *nll, char *err, size_t err_len) {
    int n = heads->n_seqs;
    if (n < 1 || tails->n_seqs != n)
        return fail(err, err_len, "%d prompts and %d continuations, expected as many, at least 1",
                    n, tails->n_seqs);
    if (max_batch_tokens < 1)
        return fail(err, err_len, "max_batch_tokens is %d, expected at least 1", max_batch_tokens);
    int limit = scoring_limit(m, max_batch_tokens);
    Scored *seqs = malloc((size_t)n * sizeof *seqs);
    if (!seqs) return fail(err, err_len, "out of host memory for %d sequences", n);
    const int *head = heads->tokens, *tail = tails->tokens;
    for (int s = 0; s < n; head += heads->seq_len[s], tail += tails->seq_len[s], s++) {
        int head_len = heads->seq_len[s], tail_len = tails->seq_len[s];
        if (head_len < 1 || tail_len < 1 || head_len + tail_len > limit) {
            free(seqs);
            return fail(err, err_len,
                        "sequence %d: %d prompt and %d continuation tokens, expected at least 1 "
                        "each and at most %d together (max_batch_tokens %d, the model's "
                        "max_seq_len %d)",
                        s, head_len, tail_len, limit, max_batch_tokens, m->cfg.max_seq_len);
        }
        seqs[s] = (Scored){.head = head, .head_len = head_len, .tail = tail, .tail_len = tail_len};
    }
    int rc = score_tails(m, seqs, n, max_batch_tokens, nll, err, err_len);
    for (int s = 0; s < n && rc == 0; s++) nll[s] = -nll[s] / tails->seq_len[s];
    free(seqs);
    return rc;
}

int evaluate_preservation(const GenerateEval *base, const GenerateEval *edited, int n_prefix,
                          double *prefix, double *rouge_l, char *err, size_t err_len) {
    if (base->n != edited->n)
        return fail(err, err_len, "the base model has %d answers and the edited one %d", base->n,
                    edited->n);
    if (n_prefix < 1) return fail(err, err_len, "n_prefix is %d, expected at least 1", n_prefix);
    for (int i = 0; i < base->n; i++) {
        int nb = min_int(base->n_tokens[i], n_prefix), ne = min_int(edited->n_tokens[i], n_prefix);
        const int *b = base->tokens + (size_t)i * base->max_new_tokens,
                  *e = edited->tokens + (size_t)i * edited->max_new_tokens;
        prefix[i] = nb == ne && !memcmp(b, e, (size_t)nb * sizeof *b);
        rouge_l[i] = rouge_l_f1(base->texts[i], edited->texts[i]);
        if (isnan(rouge_l[i])) return fail(err, err_len, "out of host memory for ROUGE-L");
    }
    return 0;
}

// --- multiple choice -------------------------------------------------------------------------

bool mc_answer_names(const char *text, int choice) {
    if (choice < 0 || choice >= MC_MAX_CHOICES) return false;
    char letter = (char)('A' + choice);
    char closed[] = {'(', letter, ')', '\0'}, dot[] = {letter, '.', ' ', '\0'},
         colon[] = {letter, ':', ' ', '\0'};
    bool opens = text[0] == letter && text[1] == ')'; // the prompt ends with "("
    return opens || strstr(text, closed) || strstr(text, dot) || strstr(text, colon);
}

// Checks q against the options and the model; counts the choices of all questions.
static int check_questions(const LlamaModel *m, const McQuestions *q, const EvalOptions *opt,
                           int *total_choices, char *err, size_t err_len) {
    if (q->n_questions < 1) return fail(err, err_len, "no questions to evaluate");
    if (opt->max_batch_tokens < 1)
        return fail(err, err_len, "max_batch_tokens is %d, expected at least 1",
                    opt->max_batch_tokens);
    int limit = scoring_limit(m, opt->max_batch_tokens), c = 0;
    for (int i = 0; i < q->n_questions; i++) {
        int n_choices = q->n_choices[i];
        if (n_choices < 1 || n_choices > MC_MAX_CHOICES)
            return fail(err, err_len, "question %d has %d choices, expected 1 .. %d", i, n_choices,
                        MC_MAX_CHOICES);
        if (q->gold[i] < 0 || q->gold[i] >= n_choices)
            return fail(err, err_len, "question %d: gold choice %d, expected 0 .. %d", i,
                        q->gold[i], n_choices - 1);
        for (int j = 0; j < n_choices; j++, c++) {
            int len = q->prompt_len[i] + q->choice_len[c];
            if (q->choice_len[c] < 1 || len > limit)
                return fail(err, err_len,
                            "question %d, choice %d: %d prompt and %d choice tokens, expected a "
                            "choice of at least 1 token and at most %d together "
                            "(max_batch_tokens %d, the model's max_seq_len %d)",
                            i, j, q->prompt_len[i], q->choice_len[c], limit, opt->max_batch_tokens,
                            m->cfg.max_seq_len);
        }
    }
    *total_choices = c;
    return 0;
}

// The log-likelihood protocol: e->loglik of every choice and e->loglik_choice of every
// question. Returns 0, or -1 with the reason in err.
static int score_choices(LlamaModel *m, const McQuestions *q, int total_choices,
                         const EvalOptions *opt, McEval *e, char *err, size_t err_len) {
    Scored *seqs = malloc((size_t)total_choices * sizeof *seqs);
    if (!seqs) return fail(err, err_len, "out of host memory for %d choices", total_choices);
    const int *prompt = q->prompt, *choice = q->choice;
    for (int i = 0, c = 0; i < q->n_questions; prompt += q->prompt_len[i], i++)
        for (int j = 0; j < q->n_choices[i]; choice += q->choice_len[c], j++, c++)
            seqs[c] = (Scored){.head = prompt,
                               .head_len = q->prompt_len[i],
                               .tail = choice,
                               .tail_len = q->choice_len[c]};
    int rc = score_tails(m, seqs, total_choices, opt->max_batch_tokens, e->loglik, err, err_len);
    free(seqs);
    if (rc != 0) return -1;
    int correct = 0;
    for (int i = 0, first = 0; i < q->n_questions; first += q->n_choices[i], i++) {
        int best = 0; // strictly greater replaces, so ties keep the lowest index
        for (int j = 1; j < q->n_choices[i]; j++)
            if (e->loglik[first + j] > e->loglik[first + best]) best = j;
        e->loglik_choice[i] = best;
        correct += best == q->gold[i];
    }
    e->accuracy_loglik = (double)correct / q->n_questions;
    return 0;
}

int evaluate_mc(LlamaModel *m, const McQuestions *q, const EvalOptions *opt, McEval *out, char *err,
                size_t err_len) {
    memset(out, 0, sizeof *out);
    TokenBatch prompts = {q->n_questions, q->prompt_len, q->prompt};
    int total_choices = 0;
    if (check_questions(m, q, opt, &total_choices, err, err_len) != 0 ||
        check_generation(m, &prompts, opt, err, err_len) != 0)
        return -1;
    out->n = q->n_questions;
    out->loglik = malloc((size_t)total_choices * sizeof *out->loglik);
    out->loglik_choice = malloc((size_t)out->n * sizeof *out->loglik_choice);
    if (!out->loglik || !out->loglik_choice) {
        mc_eval_free(out);
        return fail(err, err_len, "out of host memory for %d questions", q->n_questions);
    }
    if (score_choices(m, q, total_choices, opt, out, err, err_len) != 0 ||
        !(out->texts = generate_texts(m, &prompts, opt, NULL, NULL, err, err_len))) {
        mc_eval_free(out);
        return -1;
    }
    int correct = 0;
    for (int i = 0; i < out->n; i++) correct += mc_answer_names(out->texts[i], q->gold[i]);
    out->accuracy_generate = (double)correct / out->n;
    return 0;
}

void mc_eval_free(McEval *e) {
    free(e->loglik);
    free(e->loglik_choice);
    free_texts(e->texts, e->n);
    memset(e, 0, sizeof *e);
}
