// Evaluation on small random models, against independent truth:
//   - perplexity and multiple-choice log-likelihoods equal a naive computation (each sequence
//     alone through llama_forward, log-softmax of its logits in double on the host), whatever
//     the token budget of the packed forwards; a model with a zero LM head (uniform next-token
//     distribution) has perplexity exactly the vocabulary size and ties every choice;
//   - generative multiple choice reads the letter the model actually produces first (its
//     greedy token, found with a naive forward) through a fake vocabulary;
//   - evaluate_generate's texts are one-prompt-at-a-time llama_generate outputs decoded, stop
//     token left out, whatever the batch size, and its metrics are text_metrics.h's functions
//     applied to those texts;
//   - continuation likelihoods equal the naive per-token mean NLL, whatever the token budget;
//   - preservation: a model against itself keeps every answer; a model with one answer for every
//     prompt keeps nearly none and has one distinct answer;
//   - inputs that do not fit are errors with a message.
#include "backend_cpu.h"
#include "check.h"
#include "evaluate.h"
#include "generate.h"
#include "test_arrays.h"
#include "test_model.h"
#include "text_metrics.h"

#include <stdlib.h>
#include <string.h>

static Backend *cpu; // two threads, as CI runs the tests
static Rng rng;      // test data

enum { VOCAB = 50, MAX_SEQ_LEN = 64 };

static void model_init(LlamaModel *m, uint64_t seed) {
    LlamaConfig cfg = test_model_config((TestModelShape){
        .vocab_size = VOCAB, .dim = 32, .ffn_dim = 40, .n_layers = 2, .max_seq_len = MAX_SEQ_LEN});
    test_model_init(m, &cfg, cpu, MATRIX_F32, 0.2f, seed);
}

static int *random_tokens(int n) {
    int *tokens = new_array((size_t)n, sizeof *tokens);
    for (int i = 0; i < n; i++) tokens[i] = (int)(rng_next(&rng) % VOCAB);
    return tokens;
}

static int total(const int *lens, int n) {
    int sum = 0;
    for (int i = 0; i < n; i++) sum += lens[i];
    return sum;
}

// --- fake vocabularies -----------------------------------------------------------------------

// Token t decodes to pieces[t], concatenated, with snprintf's truncation.
static size_t decode_pieces(void *ctx, const int *tokens, int n, char *out, size_t cap) {
    const char *const *pieces = ctx;
    size_t len = 0;
    for (int i = 0; i < n; i++) {
        size_t k = strlen(pieces[tokens[i]]);
        if (len + 1 < cap)
            memcpy(out + len, pieces[tokens[i]], k < cap - 1 - len ? k : cap - 1 - len);
        len += k;
    }
    out[len < cap ? len : cap - 1] = '\0';
    return len;
}

static char *decode_all(const char *const *pieces, const int *tokens, int n) {
    size_t len = 0;
    for (int i = 0; i < n; i++) len += strlen(pieces[tokens[i]]);
    char *text = new_array(len + 1, 1);
    decode_pieces((void *)pieces, tokens, n, text, len + 1);
    return text;
}

static void fill_pieces(const char **pieces, const char *piece) {
    for (int t = 0; t < VOCAB; t++) pieces[t] = piece;
}

// Words that make sentences, refusals and pieces longer than evaluate's first guess of 8
// bytes per token.
static const char *const words[] = {"the ",    "cat ",  "sat. ",         "Sorry, ", "I ",
                                    "cannot ", "help ", "I apologize. ", "and ",    "so\n",
                                    "on ",     "it ",   "sorry "};
static const char *word_pieces[VOCAB];

// --- naive references ------------------------------------------------------------------------

// Log-probabilities of tokens[1..len) given what precedes each, and the greedy next token
// after the whole sequence, from one forward of the sequence alone and a log-softmax in double.
static double naive_loglik(LlamaModel *m, const int *tokens, int len, int first_scored,
                           int *greedy_next) {
    char err[256];
    WorkspacePlan plan = {
        .max_tokens = len, .max_seqs = 1, .max_seq_len = len, .outputs = {.logits = true}};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    TokenBatch alone = {1, &len, tokens};
    if (!ws || llama_forward(m, ws, &alone) != 0) {
        fprintf(stderr, "naive forward failed: %s\n", ws ? llama_workspace_error(ws) : err);
        exit(1);
    }
    float *logits = new_array((size_t)len * VOCAB, sizeof *logits);
    cpu->to_host(cpu, logits, llama_logits(ws), (size_t)len * VOCAB * sizeof *logits);
    llama_workspace_free(ws);
    double sum = 0;
    for (int i = first_scored; i < len; i++) {
        const float *row = logits + (size_t)(i - 1) * VOCAB;
        double max = row[0], z = 0;
        for (int v = 1; v < VOCAB; v++) max = fmax(max, row[v]);
        for (int v = 0; v < VOCAB; v++) z += exp(row[v] - max);
        sum += row[tokens[i]] - max - log(z);
    }
    if (greedy_next) {
        const float *last = logits + (size_t)(len - 1) * VOCAB;
        *greedy_next = 0;
        for (int v = 1; v < VOCAB; v++)
            if (last[v] > last[*greedy_next]) *greedy_next = v;
    }
    return sum;
}

// The greedy continuation of one prompt, generated alone: its length, tokens into out.
static int generate_alone(LlamaModel *m, const int *prompt, int len, int max_new, const int *stop,
                          int n_stop, int *out) {
    char err[256];
    WorkspacePlan plan = {.max_tokens = len,
                          .max_seqs = 1,
                          .max_seq_len = len + max_new,
                          .outputs = {.logits = true},
                          .kv_slots = 1};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    GenerateOptions opt = {
        .max_new_tokens = max_new, .top_p = 1, .stop_tokens = stop, .n_stop = n_stop};
    TokenBatch alone = {1, &len, prompt};
    int out_len;
    if (!ws || llama_generate(m, ws, &alone, &opt, out, &out_len) != 0) {
        fprintf(stderr, "generation failed: %s\n", ws ? llama_workspace_error(ws) : err);
        exit(1);
    }
    llama_workspace_free(ws);
    return out_len;
}

static void check_relative(const char *what, double got, double want, double rtol) {
    double error = fabs(got - want) / fabs(want);
    printf("%-60s relative error %.2e\n", what, error);
    CHECK(error <= rtol, "%s: %.9g, expected %.9g", what, got, want);
}

// --- perplexity ------------------------------------------------------------------------------

static void test_perplexity(void) {
    LlamaModel m;
    model_init(&m, 3);
    // With a budget of 16 every forward holds one document (the 1-token one rides along);
    // with 64 all of them share one forward.
    int lens[6] = {12, 9, 15, 1, 11, 16}, n = 6, T = total(lens, n);
    TokenBatch docs = {n, lens, random_tokens(T)};
    double loglik = 0;
    int predicted = 0;
    for (int d = 0, start = 0; d < n; start += lens[d], d++) {
        if (lens[d] > 1) loglik += naive_loglik(&m, docs.tokens + start, lens[d], 1, NULL);
        predicted += lens[d] - 1;
    }
    double want = exp(-loglik / predicted), got[3];
    int budgets[3] = {16, 27, 64};
    char err[256], what[96];
    for (int b = 0; b < 3; b++) {
        int rc = evaluate_perplexity(&m, &docs, budgets[b], &got[b], err, sizeof err);
        CHECK(rc == 0, "evaluate_perplexity with a budget of %d: %s", budgets[b], err);
        snprintf(what, sizeof what, "perplexity, budget %d tokens, vs naive", budgets[b]);
        check_relative(what, got[b], want, 1e-5);
    }
    check_relative("perplexity: one document per forward vs all in one", got[0], got[2], 1e-5);

    // Errors: documents that do not fit, nothing to predict, tokens outside the vocabulary.
    double ppl;
    CHECK(evaluate_perplexity(&m, &docs, 15, &ppl, err, sizeof err) != 0 &&
              strstr(err, "document 5 has 16 tokens"),
          "a 15-token budget accepts a 16-token document: %s", err);
    int long_len = MAX_SEQ_LEN + 1, ones[2] = {1, 1};
    TokenBatch too_long = {1, &long_len, random_tokens(long_len)};
    CHECK(evaluate_perplexity(&m, &too_long, 1000, &ppl, err, sizeof err) != 0 &&
              strstr(err, "max_seq_len 64"),
          "a document longer than the model's max_seq_len is accepted: %s", err);
    TokenBatch singles = {2, ones, docs.tokens};
    CHECK(evaluate_perplexity(&m, &singles, 16, &ppl, err, sizeof err) != 0 &&
              strstr(err, "predict no token"),
          "single-token documents give a perplexity: %s", err);
    int bad[3] = {1, VOCAB, 2}, three = 3;
    TokenBatch outside = {1, &three, bad};
    CHECK(evaluate_perplexity(&m, &outside, 16, &ppl, err, sizeof err) != 0 &&
              strstr(err, "vocabulary"),
          "a token outside the vocabulary is accepted: %s", err);
    CHECK(evaluate_perplexity(&m, &docs, 0, &ppl, err, sizeof err) != 0 &&
              strstr(err, "max_batch_tokens"),
          "a budget of 0 tokens is accepted");

    // A zero LM head predicts the uniform distribution: perplexity = vocabulary size.
    cpu->zero(cpu, m.w.lm_head, (size_t)VOCAB * m.cfg.dim * sizeof(float));
    CHECK(evaluate_perplexity(&m, &docs, 64, &ppl, err, sizeof err) == 0, "%s", err);
    check_relative("perplexity of a uniform model = vocabulary size", ppl, VOCAB, 1e-6);
    llama_free(&m);
    release_arrays();
}

// --- multiple choice -------------------------------------------------------------------------

// Questions with random prompts and choices: n_choices, choice lengths as given.
static McQuestions random_questions(int n, const int *prompt_len, const int *n_choices,
                                    const int *choice_len, const int *gold) {
    int n_all = total(n_choices, n);
    return (McQuestions){.n_questions = n,
                         .prompt_len = prompt_len,
                         .prompt = random_tokens(total(prompt_len, n)),
                         .n_choices = n_choices,
                         .choice_len = choice_len,
                         .choice = random_tokens(total(choice_len, n_all)),
                         .gold = gold};
}

// The naive log-likelihood of every choice: prompt and choice concatenated, alone.
static double *naive_choice_logliks(LlamaModel *m, const McQuestions *q) {
    double *loglik = new_array((size_t)total(q->n_choices, q->n_questions), sizeof *loglik);
    const int *prompt = q->prompt, *choice = q->choice;
    for (int i = 0, c = 0; i < q->n_questions; prompt += q->prompt_len[i], i++)
        for (int j = 0; j < q->n_choices[i]; choice += q->choice_len[c], j++, c++) {
            int len = q->prompt_len[i] + q->choice_len[c];
            int *tokens = new_array((size_t)len, sizeof *tokens);
            memcpy(tokens, prompt, (size_t)q->prompt_len[i] * sizeof *tokens);
            memcpy(tokens + q->prompt_len[i], choice, (size_t)q->choice_len[c] * sizeof *tokens);
            loglik[c] = naive_loglik(m, tokens, len, q->prompt_len[i], NULL);
        }
    return loglik;
}

static EvalOptions letter_options(const char *const *pieces, int max_new, int batch,
                                  int max_batch_tokens) {
    return (EvalOptions){.max_new_tokens = max_new,
                         .batch_size = batch,
                         .max_batch_tokens = max_batch_tokens,
                         .decode = decode_pieces,
                         .decode_ctx = (void *)pieces};
}

static void test_mc_loglik(void) {
    LlamaModel m;
    model_init(&m, 5);
    int prompt_len[4] = {5, 9, 3, 7}, n_choices[4] = {2, 4, 3, 1};
    int choice_len[10] = {3, 1, 5, 2, 4, 2, 1, 3, 3, 2}, gold[4] = {0};
    McQuestions q = random_questions(4, prompt_len, n_choices, choice_len, gold);
    double *want = naive_choice_logliks(&m, &q);
    // Gold: the naive best choice for questions 0, 1 and 3, another one for question 2.
    int best[4];
    for (int i = 0, first = 0; i < 4; first += n_choices[i], i++) {
        best[i] = 0;
        for (int j = 1; j < n_choices[i]; j++)
            if (want[first + j] > want[first + best[i]]) best[i] = j;
        gold[i] = i == 2 ? (best[i] + 1) % n_choices[i] : best[i];
    }
    static const char *letters[VOCAB];
    fill_pieces(letters, "x ");
    char err[256], what[96];
    int budgets[2] = {14, 1000}; // the longest prompt + choice (14 tokens) vs all in one
    float *got[2], *expect = new_array(10, sizeof *expect);
    for (int c = 0; c < 10; c++) expect[c] = (float)want[c];
    for (int b = 0; b < 2; b++) {
        EvalOptions opt = letter_options(letters, 2, 3, budgets[b]);
        McEval e;
        CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) == 0, "evaluate_mc: %s", err);
        got[b] = new_array(10, sizeof *got[b]);
        for (int c = 0; c < 10; c++) got[b][c] = (float)e.loglik[c];
        snprintf(what, sizeof what, "choice log-likelihoods, budget %d tokens, vs naive",
                 budgets[b]);
        check_close(what, got[b], expect, 10, 1e-5, 1e-5);
        CHECK(e.n == 4 && !memcmp(e.loglik_choice, best, sizeof best),
              "the picked choices differ from the naive best ones");
        CHECK(e.accuracy_loglik == 0.75, "log-likelihood accuracy %g, expected 3 of 4",
              e.accuracy_loglik);
        mc_eval_free(&e);
    }
    check_close("choice log-likelihoods: budget 14 vs all in one forward", got[0], got[1], 10, 1e-5,
                1e-5);

    // A zero LM head gives every choice of one length the same log-likelihood, exactly:
    // the lowest index wins.
    int tie_len[2] = {3, 3}, two = 2, gold_second = 1;
    McQuestions tie = random_questions(1, prompt_len, &two, tie_len, &gold_second);
    cpu->zero(cpu, m.w.lm_head, (size_t)VOCAB * m.cfg.dim * sizeof(float));
    EvalOptions opt = letter_options(letters, 2, 1, 64);
    McEval e;
    CHECK(evaluate_mc(&m, &tie, &opt, &e, err, sizeof err) == 0, "evaluate_mc: %s", err);
    check_relative("uniform model: choice log-likelihood = -3 log(vocab)", e.loglik[0],
                   -3 * log(VOCAB), 1e-6);
    CHECK(e.loglik[0] == e.loglik[1] && e.loglik_choice[0] == 0 && e.accuracy_loglik == 0,
          "a tie picks choice %d (log-likelihoods %.9g, %.9g), expected the first",
          e.loglik_choice[0], e.loglik[0], e.loglik[1]);
    mc_eval_free(&e);
    llama_free(&m);
    release_arrays();
}

static void test_answer_rule(void) {
    struct {
        const char *text;
        int choice;
        bool names;
    } cases[] = {
        {"B) the second", 1, true},
        {"I pick (B) here", 1, true},
        {"so B. yes", 1, true},
        {"answer B: yes", 1, true},
        {"C) no (B", 1, false},
        {"B.", 1, false},
        {" B) late", 1, false},
        {"b) lower case", 1, false},
        {"A) B)", 1, false},
        {"B:no space", 1, false},
        {"Z) last letter", 25, true},
        {"A) x", 26, false},
        {"", 0, false},
        {"(A)", 0, true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++)
        CHECK(mc_answer_names(cases[i].text, cases[i].choice) == cases[i].names,
              "\"%s\" %s choice %d", cases[i].text, cases[i].names ? "does not name" : "names",
              cases[i].choice);
}

// Greedy answers through fake vocabularies built around the model's actual first token.
static void test_mc_generate(void) {
    LlamaModel m;
    model_init(&m, 7);
    int prompt_len[4] = {6, 4, 8, 5}, n_choices[4] = {4, 4, 4, 4}, gold[4];
    int choice_len[16] = {2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2, 2};
    McQuestions q = random_questions(4, prompt_len, n_choices, choice_len, gold);
    int first_token[4];
    for (int i = 0, start = 0; i < 4; start += prompt_len[i], i++)
        naive_loglik(&m, q.prompt + start, prompt_len[i], prompt_len[i], &first_token[i]);

    // Token t reads "A)" .. "D)" by t mod 4: only the first token can name a letter.
    static const char *letter_of[VOCAB];
    static const char *const abcd[4] = {"A)", "B)", "C)", "D)"};
    for (int t = 0; t < VOCAB; t++) letter_of[t] = abcd[t % 4];
    for (int i = 0; i < 4; i++) gold[i] = (first_token[i] + (i % 2)) % 4; // right, wrong, ...
    EvalOptions opt = letter_options(letter_of, 3, 3, 64);
    McEval e;
    char err[256];
    CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) == 0, "evaluate_mc: %s", err);
    bool first_letters = true;
    for (int i = 0; i < 4; i++) first_letters &= e.texts[i][0] == 'A' + first_token[i] % 4;
    CHECK(first_letters, "a greedy text does not start with the letter of the greedy token");
    CHECK(e.accuracy_generate == 0.5, "generative accuracy %g, expected 2 of 4",
          e.accuracy_generate);
    mc_eval_free(&e);

    // One question, its first greedy token decoding to each answer format, every other token
    // to "x" (so that no space follows the format unless it has one).
    static const char *shapes[VOCAB];
    struct {
        const char *piece;
        bool names;
    } formats[] = {{"(B)", true}, {"B. ", true},  {"B: ", true}, {"B)", true},
                   {"B.", false}, {"xB)", false}, {"(B", false}};
    McQuestions one = q;
    one.n_questions = 1;
    int gold_b = 1;
    one.gold = &gold_b;
    opt.decode_ctx = shapes;
    for (size_t f = 0; f < sizeof formats / sizeof formats[0]; f++) {
        for (int t = 0; t < VOCAB; t++) shapes[t] = t == first_token[0] ? formats[f].piece : "x";
        CHECK(evaluate_mc(&m, &one, &opt, &e, err, sizeof err) == 0, "evaluate_mc: %s", err);
        CHECK(e.accuracy_generate == formats[f].names, "greedy text \"%s\" scores %g", e.texts[0],
              e.accuracy_generate);
        mc_eval_free(&e);
    }
    llama_free(&m);
    release_arrays();
}

static void test_mc_errors(void) {
    LlamaModel m;
    model_init(&m, 9);
    int prompt_len[2] = {5, 61}, n_choices[2] = {2, 2}, choice_len[4] = {3, 4, 2, 2};
    int gold[2] = {0, 1};
    McQuestions q = random_questions(1, prompt_len, n_choices, choice_len, gold);
    static const char *pieces[VOCAB];
    fill_pieces(pieces, "x");
    EvalOptions opt = letter_options(pieces, 4, 2, 8);
    McEval e;
    char err[256];
    CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) != 0 && strstr(err, "choice 1") &&
              !e.loglik && !e.texts,
          "a 9-token prompt + choice is accepted by forwards of 8 tokens: %s", err);
    opt.max_batch_tokens = 64;
    gold[0] = 2;
    CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) != 0 && strstr(err, "gold"),
          "gold choice 2 of 2 is accepted");
    gold[0] = 0;
    choice_len[1] = 0;
    CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) != 0 && strstr(err, "choice 1"),
          "an empty choice is accepted");
    choice_len[1] = 4;
    q = random_questions(2, prompt_len, n_choices, choice_len, gold);
    CHECK(evaluate_mc(&m, &q, &opt, &e, err, sizeof err) != 0 && strstr(err, "prompt 1"),
          "a 61-token prompt with 4 new tokens is accepted by a 64-token model: %s", err);
    llama_free(&m);
    release_arrays();
}

// --- generation ------------------------------------------------------------------------------

enum { N_PROMPTS = 5, MAX_NEW = 12 };

static void test_generate(void) {
    LlamaModel m;
    model_init(&m, 13);
    int lens[N_PROMPTS] = {4, 9, 2, 6, 3}, T = total(lens, N_PROMPTS);
    TokenBatch prompts = {N_PROMPTS, lens, random_tokens(T)};
    // The stop token: one that the first continuation emits in its middle.
    int tokens[N_PROMPTS][MAX_NEW], n_tokens[N_PROMPTS];
    generate_alone(&m, prompts.tokens, lens[0], MAX_NEW, NULL, 0, tokens[0]);
    int stop = tokens[0][MAX_NEW / 2];

    char *want[N_PROMPTS];
    bool stopped = false;
    for (int s = 0, start = 0; s < N_PROMPTS; start += lens[s], s++) {
        n_tokens[s] =
            generate_alone(&m, prompts.tokens + start, lens[s], MAX_NEW, &stop, 1, tokens[s]);
        int len = n_tokens[s];
        if (len > 0 && tokens[s][len - 1] == stop) {
            len--;
            stopped = true;
        }
        want[s] = decode_all(word_pieces, tokens[s], len);
    }
    CHECK(stopped, "no continuation ended at the stop token %d", stop);

    const char *markers[2] = {"cannot", "help"};
    RefusalRule rule = {.markers = markers, .n_markers = 2, .case_sensitive = true};
    double refusals = 0, answers = 0, rep4 = 0, rep_sen = 0;
    for (int s = 0; s < N_PROMPTS; s++) {
        refusals += text_is_refusal(want[s], &rule);
        answers += text_is_answer(want[s], &rule);
        rep4 += repetition_n(want[s], 4);
        rep_sen += repetition_sentences(want[s]);
    }
    const char *const *want_texts = (const char *const *)want;
    double bleu = self_bleu(want_texts, N_PROMPTS, 4);
    double distinct = distinct_texts(want_texts, N_PROMPTS);
    double distinct_2 = distinct_n(want_texts, N_PROMPTS, 2);

    int batch_sizes[4] = {1, 2, 5, 8};
    char err[256];
    for (int b = 0; b < 4; b++) {
        EvalOptions opt = {.max_new_tokens = MAX_NEW,
                           .batch_size = batch_sizes[b],
                           .stop_tokens = &stop,
                           .n_stop = 1,
                           .refusal = rule,
                           .decode = decode_pieces,
                           .decode_ctx = word_pieces};
        GenerateEval e;
        CHECK(evaluate_generate(&m, &prompts, &opt, &e, err, sizeof err) == 0,
              "evaluate_generate: %s", err);
        bool same = e.n == N_PROMPTS;
        for (int s = 0; same && s < N_PROMPTS; s++)
            same = !strcmp(e.texts[s], want[s]) &&
                   e.n_tokens[s] == n_tokens[s] - (tokens[s][n_tokens[s] - 1] == stop) &&
                   !memcmp(e.tokens + s * MAX_NEW, tokens[s], e.n_tokens[s] * sizeof(int));
        CHECK(same, "batch size %d: the texts differ from one-at-a-time generations",
              batch_sizes[b]);
        CHECK(e.refusal_rate == refusals / N_PROMPTS && e.answer_rate == answers / N_PROMPTS &&
                  e.repetition_4 == rep4 / N_PROMPTS && e.repetition_sen == rep_sen / N_PROMPTS &&
                  e.self_bleu == bleu && e.distinct == distinct && e.distinct_2 == distinct_2,
              "batch size %d: metrics differ from text_metrics.h's on the texts", batch_sizes[b]);
        printf("batch size %d: refusal %.2f answer %.2f rep-4 %.3f rep-sen %.3f self-BLEU %.3f\n",
               batch_sizes[b], e.refusal_rate, e.answer_rate, e.repetition_4, e.repetition_sen,
               e.self_bleu);
        generate_eval_free(&e);
    }

    // Case-insensitive markers: "CANNOT" finds "cannot". Pieces longer than evaluate's first
    // guess of 8 bytes per token make it decode again into a larger buffer.
    const char *upper[1] = {"CANNOT"};
    static const char *long_pieces[VOCAB];
    for (int t = 0; t < VOCAB; t++)
        long_pieces[t] = strcmp(word_pieces[t], "cannot ") ? "a piece of 20 bytes. " : "cannot ";
    EvalOptions opt = {.max_new_tokens = MAX_NEW,
                       .batch_size = 2,
                       .stop_tokens = &stop,
                       .n_stop = 1,
                       .refusal = {.markers = upper, .n_markers = 1},
                       .decode = decode_pieces,
                       .decode_ctx = long_pieces};
    double upper_refusals = 0;
    bool same = true;
    GenerateEval e;
    CHECK(evaluate_generate(&m, &prompts, &opt, &e, err, sizeof err) == 0, "%s", err);
    for (int s = 0; s < N_PROMPTS; s++) {
        int len = n_tokens[s] - (tokens[s][n_tokens[s] - 1] == stop);
        char *text = decode_all(long_pieces, tokens[s], len);
        upper_refusals += text_is_refusal(text, &opt.refusal);
        same &= !strcmp(e.texts[s], text);
    }
    CHECK(same, "texts of long pieces differ from one-at-a-time generations");
    CHECK(upper_refusals > 0 && e.refusal_rate == upper_refusals / N_PROMPTS,
          "case-insensitive refusal rate %g, expected %g (> 0)", e.refusal_rate,
          upper_refusals / N_PROMPTS);
    generate_eval_free(&e);

    // Errors: a prompt that leaves no room for its continuation, options out of range.
    int long_lens[2] = {3, MAX_SEQ_LEN - MAX_NEW + 1};
    TokenBatch too_long = {2, long_lens, random_tokens(total(long_lens, 2))};
    CHECK(evaluate_generate(&m, &too_long, &opt, &e, err, sizeof err) != 0 &&
              strstr(err, "prompt 1") && strstr(err, "max_seq_len") && !e.texts,
          "a %d-token prompt with %d new tokens is accepted by a %d-token model: %s", long_lens[1],
          MAX_NEW, MAX_SEQ_LEN, err);
    opt.batch_size = 0;
    CHECK(evaluate_generate(&m, &prompts, &opt, &e, err, sizeof err) != 0 &&
              strstr(err, "batch_size"),
          "batch size 0 is accepted");
    opt.batch_size = 2;
    opt.decode = NULL;
    CHECK(evaluate_generate(&m, &prompts, &opt, &e, err, sizeof err) != 0 && strstr(err, "decode"),
          "no decode function is accepted");
    opt.decode = decode_pieces;
    opt.max_new_tokens = 0;
    CHECK(evaluate_generate(&m, &prompts, &opt, &e, err, sizeof err) != 0 &&
              strstr(err, "max_new_tokens"),
          "0 new tokens are accepted");
    llama_free(&m);
    release_arrays();
}

// --- likelihood of a continuation ------------------------------------------------------------

static void test_continuation_nll(void) {
    LlamaModel m;
    model_init(&m, 21);
    enum { N = 4 };
    int head_lens[N] = {5, 1, 9, 3}, tail_lens[N] = {3, 6, 1, 7};
    TokenBatch heads = {N, head_lens, random_tokens(total(head_lens, N))};
    TokenBatch tails = {N, tail_lens, random_tokens(total(tail_lens, N))};
    double want[N];
    for (int s = 0, h = 0, t = 0; s < N; h += head_lens[s], t += tail_lens[s], s++) {
        int len = head_lens[s] + tail_lens[s];
        int *joined = new_array((size_t)len, sizeof *joined);
        memcpy(joined, heads.tokens + h, head_lens[s] * sizeof(int));
        memcpy(joined + head_lens[s], tails.tokens + t, tail_lens[s] * sizeof(int));
        want[s] = -naive_loglik(&m, joined, len, head_lens[s], NULL) / tail_lens[s];
    }
    char err[256], what[96];
    int budgets[2] = {16, 64};
    for (int b = 0; b < 2; b++) {
        double got[N];
        CHECK(evaluate_continuation_nll(&m, &heads, &tails, budgets[b], got, err, sizeof err) == 0,
              "evaluate_continuation_nll: %s", err);
        for (int s = 0; s < N; s++) {
            snprintf(what, sizeof what, "continuation NLL %d, budget %d, vs naive", s, budgets[b]);
            check_relative(what, got[s], want[s], 1e-5);
        }
    }
    double nll[N];
    int empty[N] = {3, 0, 1, 7};
    TokenBatch no_tail = {N, empty, tails.tokens};
    CHECK(evaluate_continuation_nll(&m, &heads, &no_tail, 64, nll, err, sizeof err) != 0 &&
              strstr(err, "sequence 1"),
          "an empty continuation is accepted: %s", err);
    CHECK(evaluate_continuation_nll(&m, &heads, &tails, 9, nll, err, sizeof err) != 0 &&
              strstr(err, "sequence 2") && strstr(err, "max_batch_tokens 9"),
          "a 10-token sequence is accepted by a budget of 9: %s", err);
    llama_free(&m);
    release_arrays();
}

// --- preservation and collapse ---------------------------------------------------------------

// A model that answers every prompt alike (a zero LM head: every logit 0, so greedy decoding
// takes token 0 every step) keeps nearly nothing of a working model's answers and has one
// distinct answer; the working model against itself keeps everything.
static void test_preservation(void) {
    enum { N = 24, NEW = 10 };
    LlamaModel m;
    model_init(&m, 31);
    int lens[N];
    for (int s = 0; s < N; s++) lens[s] = 2 + s % 5;
    TokenBatch prompts = {N, lens, random_tokens(total(lens, N))};
    const char *markers[1] = {"Sorry"};
    EvalOptions opt = {.max_new_tokens = NEW,
                       .batch_size = 8,
                       .refusal = {.markers = markers, .n_markers = 1, .case_sensitive = true},
                       .decode = decode_pieces,
                       .decode_ctx = word_pieces};
    GenerateEval base, same, collapsed;
    char err[256];
    CHECK(evaluate_generate(&m, &prompts, &opt, &base, err, sizeof err) == 0, "%s", err);
    opt.batch_size = 3; // other batches, the same answers
    CHECK(evaluate_generate(&m, &prompts, &opt, &same, err, sizeof err) == 0, "%s", err);
    cpu->zero(cpu, m.w.lm_head, (size_t)VOCAB * m.cfg.dim * sizeof(float));
    CHECK(evaluate_generate(&m, &prompts, &opt, &collapsed, err, sizeof err) == 0, "%s", err);

    double prefix[N], rouge[N], sum_prefix = 0, sum_rouge = 0;
    CHECK(evaluate_preservation(&base, &same, 4, prefix, rouge, err, sizeof err) == 0, "%s", err);
    for (int s = 0; s < N; s++) {
        sum_prefix += prefix[s];
        sum_rouge += rouge[s];
    }
    CHECK(sum_prefix == N && sum_rouge == N,
          "a model against itself keeps %g prefixes and %g "
          "ROUGE-L of %d",
          sum_prefix, sum_rouge, N);
    CHECK(evaluate_preservation(&base, &collapsed, 4, prefix, rouge, err, sizeof err) == 0, "%s",
          err);
    sum_prefix = sum_rouge = 0;
    for (int s = 0; s < N; s++) {
        sum_prefix += prefix[s];
        sum_rouge += rouge[s];
        CHECK(rouge[s] == rouge_l_f1(base.texts[s], collapsed.texts[s]),
              "prompt %d: ROUGE-L %g, expected rouge_l_f1's", s, rouge[s]);
    }
    double base_distinct = base.distinct;
    printf("one answer for every prompt: preserved prefix %.3f ROUGE-L %.3f, distinct %.3f "
           "(base %.3f), distinct-2 %.3f (base %.3f)\n",
           sum_prefix / N, sum_rouge / N, collapsed.distinct, base_distinct, collapsed.distinct_2,
           base.distinct_2);
    CHECK(sum_prefix / N < 0.1 && sum_rouge / N < 0.15,
          "one answer for every prompt keeps %.3f prefixes and %.3f ROUGE-L", sum_prefix / N,
          sum_rouge / N);
    CHECK(collapsed.distinct == 1.0 / N && collapsed.distinct_2 < 0.1 && base_distinct > 0.9,
          "distinct %.3f (expected 1/%d), distinct-2 %.3f; the working model's distinct %.3f",
          collapsed.distinct, N, collapsed.distinct_2, base_distinct);
    collapsed.n--;
    CHECK(evaluate_preservation(&base, &collapsed, 4, prefix, rouge, err, sizeof err) != 0 &&
              strstr(err, "24 answers"),
          "sets of different sizes are compared: %s", err);
    collapsed.n++;
    generate_eval_free(&base);
    generate_eval_free(&same);
    generate_eval_free(&collapsed);
    llama_free(&m);
    release_arrays();
}

int main(void) {
    cpu = backend_cpu_create(2);
    if (!cpu) {
        fprintf(stderr, "backend_cpu_create failed\n");
        return 1;
    }
    rng_seed(&rng, 1);
    for (int t = 0; t < VOCAB; t++) word_pieces[t] = words[t % (sizeof words / sizeof words[0])];
    test_perplexity();
    test_mc_loglik();
    test_answer_rule();
    test_mc_generate();
    test_mc_errors();
    test_generate();
    test_continuation_nll();
    test_preservation();
    cpu->destroy(cpu);
    return check_summary();
}
