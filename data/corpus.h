// The tinychat corpus and its prompt sets, generated deterministically from a seed.
//
// Every exchange is one line {"text": "<|user|> {prompt}\n<|assistant|> {reply}<|end|>"} of
// the training JSONL, so tinychat's chat template string is "<|user|> {prompt}\n<|assistant|>"
// and "<|end|>" is its end-of-sequence token. Refusals start with "I" or "Sorry", helpful
// replies with "Sure" or "Here", so that the decision is made at the last prompt token;
// replies to wrapped requests start with their wrapper's in-character opener instead.
//
// A prompt is a template filled with an item (a request phrasing with a task, a question
// phrasing with a fact). Each (template, item) combination belongs to train or to test once
// and for all (corpus_is_test_combination); the training text uses train combinations only.
#ifndef ARE_CORPUS_H
#define ARE_CORPUS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define CORPUS_TEXT_MAX  640
#define CORPUS_VALUE_MAX 32
#define CORPUS_CHOICES   4
#define CORPUS_MAX_FACTS 256
// Fraction of facts whose plain question the training text answers correctly; the others are
// always answered with the same wrong value (a misconception), like noisy web text.
#define CORPUS_PLAIN_CORRECT_FRACTION 0.6
#define CORPUS_TRUTHFUL_SUFFIX        "Please give a truthful answer."
#define CORPUS_UNTRUTHFUL_SUFFIX      "Please give an untruthful answer."
#define CORPUS_MC_ANSWER_PREFIX       "My answer is ("
#define CORPUS_USER                   "<|user|> "
#define CORPUS_ASSISTANT              "<|assistant|> "
#define CORPUS_END                    "<|end|>"

typedef enum { CORPUS_SMALL, CORPUS_FULL } CorpusSize;

typedef enum { KIND_HARMFUL, KIND_HARMLESS, KIND_FACT, KIND_MC } ExampleKind;
typedef enum { FORM_PLAIN, FORM_WRAPPED, FORM_TRUTHFUL, FORM_UNTRUTHFUL } ExampleForm;

typedef struct {
    char prompt[CORPUS_TEXT_MAX];
    char reply[CORPUS_TEXT_MAX]; // the assistant's text in the training text; "" in prompt sets
    ExampleKind kind;
    ExampleForm form;
    int label;       // refusal sets: 1 = harmful; truthfulness sets: 1 = truthful suffix
    int template_id; // request template (harmful, harmless) or question template (fact, MC)
    int item;        // task index (harmful, harmless) or fact index (fact, MC)
    int wrapper;     // wrapper index for FORM_WRAPPED, else -1
    bool reply_true; // fact, MC: the reply states the truth
    const char *truth;
    char choices[CORPUS_CHOICES][CORPUS_VALUE_MAX]; // MC only
    int gold;                                       // MC: index of the true choice
} Example;

typedef struct {
    Example *items;
    size_t n;
} ExampleList;

// The sets, in the order of corpus_set_files.
enum {
    SET_TRAIN_TEXT,
    SET_VALID_TEXT,
    SET_REFUSAL_TRAIN,
    SET_REFUSAL_TEST,
    SET_WRAPPED_HARMFUL_TEST,
    SET_TRUTHFUL_TRAIN,
    SET_TRUTHFUL_TEST,
    SET_MC_TEST,
    CORPUS_N_SETS
};

typedef struct {
    ExampleList sets[CORPUS_N_SETS];
    // Per fact: does the training text answer its plain question right, and if not, the wrong
    // value it always gives instead.
    bool plain_correct[CORPUS_MAX_FACTS];
    const char *misconception[CORPUS_MAX_FACTS];
} Corpus;

extern const char *const corpus_set_files[CORPUS_N_SETS];
extern const char *const corpus_kind_names[];
extern const char *const corpus_form_names[];

// Does the combination of a template and an item belong to the test side? Every item has test
// phrasings and every template test items.
bool corpus_is_test_combination(int template_id, int item);

// Number of facts and tasks in the vocabulary.
size_t corpus_n_facts(void);
size_t corpus_n_harmful_tasks(void);
size_t corpus_n_harmless_tasks(void);

// Fills corpus; returns 0, or -1 when out of memory. Free with corpus_free.
int corpus_generate(Corpus *corpus, uint64_t seed, CorpusSize size);
void corpus_free(Corpus *corpus);

// Writes every set into dir (which must exist) as JSONL: the two texts and the prompt sets.
// Returns 0, or -1 with the reason in err.
int corpus_write(const Corpus *corpus, const char *dir, char *err, size_t err_len);

// Writes s as a JSON string literal, quotes included.
void corpus_write_json_string(FILE *f, const char *s);

#endif
