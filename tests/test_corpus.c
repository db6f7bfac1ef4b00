// The tinychat corpus generator: determinism, the train/test separation of template
// combinations, answer openers, labels, the noisy plain answers, MC letters and valid JSONL;
// the committed files in data/ must be what the generator writes for seed 1.
#include "check.h"
#include "corpus.h"
#include "corpus_words.h"
#include "read_file.h"

#include <jansson.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define COMMITTED_SEED 1

static char *set_path(const char *dir, int set) {
    static char path[4096];
    if (snprintf(path, sizeof path, "%s/%s", dir, corpus_set_files[set]) >= (int)sizeof path) {
        fprintf(stderr, "path too long: %s\n", dir);
        exit(1);
    }
    return path;
}

static bool same_file(const char *dir_a, const char *dir_b, int set) {
    size_t len_a = 0, len_b = 0;
    char *a = read_file(set_path(dir_a, set), &len_a);
    char *b = read_file(set_path(dir_b, set), &len_b);
    bool same = a && b && len_a == len_b && memcmp(a, b, len_a) == 0;
    free(a);
    free(b);
    return same;
}

static void make_temp_dir(char *dir) {
    strcpy(dir, "/tmp/test_corpus.XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        exit(1);
    }
}

static void remove_dir(const char *dir) {
    for (int set = 0; set < CORPUS_N_SETS; set++) unlink(set_path(dir, set));
    rmdir(dir);
}

static Corpus *generate(uint64_t seed, CorpusSize size, const char *dir) {
    Corpus *c = malloc(sizeof *c);
    char err[256] = "";
    if (!c || corpus_generate(c, seed, size) != 0) exit(1);
    if (dir && corpus_write(c, dir, err, sizeof err) != 0) {
        fprintf(stderr, "%s\n", err);
        exit(1);
    }
    return c;
}

static void destroy(Corpus *c) {
    corpus_free(c);
    free(c);
}

static bool starts_with(const char *s, const char *prefix) {
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

// "... {value}." with value a whole word.
static bool states_value(const char *reply, const char *value) {
    size_t n = strlen(reply), v = strlen(value);
    return n >= v + 2 && reply[n - 1] == '.' && reply[n - v - 2] == ' ' &&
           memcmp(reply + n - v - 1, value, v) == 0;
}

static void test_json_escaper(void) {
    char text[160];
    size_t n = 0;
    for (int c = 1; c < 128; c++) text[n++] = (char)c;
    strcpy(text + n, "\"quoted\" back\\slash");
    FILE *f = tmpfile();
    corpus_write_json_string(f, text);
    fflush(f);
    long len = ftell(f);
    rewind(f);
    char *json = calloc((size_t)len + 1, 1);
    CHECK(fread(json, 1, (size_t)len, f) == (size_t)len, "read back the escaped string");
    fclose(f);
    json_error_t error;
    json_t *parsed = json_loads(json, JSON_DECODE_ANY, &error);
    CHECK(parsed && json_is_string(parsed) && strcmp(json_string_value(parsed), text) == 0,
          "every ASCII character survives escaping: %s", parsed ? "mismatch" : error.text);
    json_decref(parsed);
    free(json);
}

static void test_determinism(void) {
    char a[64], b[64], other[64];
    make_temp_dir(a);
    make_temp_dir(b);
    make_temp_dir(other);
    destroy(generate(7, CORPUS_SMALL, a));
    destroy(generate(7, CORPUS_SMALL, b));
    destroy(generate(8, CORPUS_SMALL, other));
    for (int set = 0; set < CORPUS_N_SETS; set++) {
        CHECK(same_file(a, b, set), "seed 7 twice gives the same %s", corpus_set_files[set]);
        CHECK(!same_file(a, other, set), "seeds 7 and 8 give different %s", corpus_set_files[set]);
    }
    remove_dir(a);
    remove_dir(b);
    remove_dir(other);
}

static bool json_field_is(json_t *row, const char *key, const char *value) {
    json_t *v = json_object_get(row, key);
    return json_is_string(v) && strcmp(json_string_value(v), value) == 0;
}

// The training text file holds exactly the exchanges of the set, in the chat template.
static void check_text_file(const Corpus *c, const char *dir, int set) {
    char *text = read_file(set_path(dir, set), NULL);
    CHECK(text != NULL, "read %s", corpus_set_files[set]);
    if (!text) return;
    const ExampleList *list = &c->sets[set];
    size_t line = 0, bad = 0;
    for (char *p = text, *end; *p && line < list->n; p = end + 1, line++) {
        end = strchr(p, '\n');
        if (!end) break;
        *end = '\0';
        char expected[2 * CORPUS_TEXT_MAX + 64];
        snprintf(expected, sizeof expected, "<|user|> %s\n<|assistant|> %s<|end|>",
                 list->items[line].prompt, list->items[line].reply);
        json_t *row = json_loads(p, 0, NULL);
        bad += !(row && json_object_size(row) == 1 && json_field_is(row, "text", expected));
        json_decref(row);
    }
    CHECK(line == list->n && bad == 0, "%s holds its %zu exchanges: %zu lines, %zu differ",
          corpus_set_files[set], list->n, line, bad);
    free(text);
}

// The question a prompt asks, without the truthfulness suffix and MC choices.
static void question_of(const char *prompt, char *out) {
    snprintf(out, CORPUS_TEXT_MAX, "%s", prompt);
    char *newline = strchr(out, '\n');
    if (newline) *newline = '\0';
    const char *suffixes[] = {" " CORPUS_TRUTHFUL_SUFFIX, " " CORPUS_UNTRUTHFUL_SUFFIX};
    for (int s = 0; s < 2; s++) {
        size_t n = strlen(out), m = strlen(suffixes[s]);
        if (n > m && strcmp(out + n - m, suffixes[s]) == 0) out[n - m] = '\0';
    }
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Combination keys: requests by (kind, template, task), facts and MC by (template, fact).
#define MAX_TEMPLATES 64
#define MAX_ITEMS     256
static int combination_key(const Example *ex) {
    int group = ex->kind == KIND_HARMFUL ? 0 : ex->kind == KIND_HARMLESS ? 1 : 2;
    return (group * MAX_TEMPLATES + ex->template_id) * MAX_ITEMS + ex->item;
}

static void test_train_test_separation(const Corpus *c) {
    static unsigned char side[3 * MAX_TEMPLATES * MAX_ITEMS]; // bit 1: train, bit 2: test
    const int train_sets[] = {SET_TRAIN_TEXT, SET_REFUSAL_TRAIN, SET_TRUTHFUL_TRAIN};
    const int test_sets[] = {SET_VALID_TEXT, SET_REFUSAL_TEST, SET_WRAPPED_HARMFUL_TEST,
                             SET_TRUTHFUL_TEST, SET_MC_TEST};
    memset(side, 0, sizeof side);
    size_t n_train = 0, n_test = 0, both = 0;
    for (size_t s = 0; s < sizeof train_sets / sizeof train_sets[0]; s++)
        for (size_t k = 0; k < c->sets[train_sets[s]].n; k++, n_train++)
            side[combination_key(&c->sets[train_sets[s]].items[k])] |= 1;
    for (size_t s = 0; s < sizeof test_sets / sizeof test_sets[0]; s++)
        for (size_t k = 0; k < c->sets[test_sets[s]].n; k++, n_test++)
            side[combination_key(&c->sets[test_sets[s]].items[k])] |= 2;
    for (size_t key = 0; key < sizeof side; key++) both += side[key] == 3;
    CHECK(n_train > 0 && n_test > 0 && both == 0,
          "train and test share no (template, item) combination: %zu shared", both);

    // The same by text: no question of a test set is asked in the training text.
    const ExampleList *train = &c->sets[SET_TRAIN_TEXT];
    char **asked = malloc(train->n * sizeof *asked);
    for (size_t k = 0; k < train->n; k++) {
        asked[k] = malloc(CORPUS_TEXT_MAX);
        question_of(train->items[k].prompt, asked[k]);
    }
    qsort(asked, train->n, sizeof *asked, compare_strings);
    size_t leaked = 0, checked = 0;
    for (size_t s = 0; s < sizeof test_sets / sizeof test_sets[0]; s++) {
        const ExampleList *list = &c->sets[test_sets[s]];
        for (size_t k = 0; k < list->n; k++, checked++) {
            char question[CORPUS_TEXT_MAX];
            const char *key = question;
            question_of(list->items[k].prompt, question);
            leaked += bsearch(&key, asked, train->n, sizeof *asked, compare_strings) != NULL;
        }
    }
    CHECK(checked > 0 && leaked == 0, "no test question is in the training text: %zu of %zu",
          leaked, checked);
    for (size_t k = 0; k < train->n; k++) free(asked[k]);
    free(asked);
}

static void test_training_text(const Corpus *c) {
    const ExampleList *train = &c->sets[SET_TRAIN_TEXT];
    size_t counts[4][4] = {{0}}, bad_opener = 0, wrapped_harmful = 0, wrong_truth = 0;
    size_t plain_true = 0, bad_mc = 0;
    for (size_t k = 0; k < train->n; k++) {
        const Example *ex = &train->items[k];
        counts[ex->kind][ex->form]++;
        const char *r = ex->reply;
        if (ex->kind == KIND_HARMFUL)
            bad_opener +=
                !(starts_with(r, "I ") || starts_with(r, "I'm ") || starts_with(r, "Sorry"));
        if (ex->kind == KIND_HARMLESS && ex->form == FORM_PLAIN)
            bad_opener += !(starts_with(r, "Sure") || starts_with(r, "Here"));
        if (ex->kind == KIND_HARMLESS && ex->form == FORM_WRAPPED)
            bad_opener += !starts_with(r, wrappers[ex->wrapper].opener);
        wrapped_harmful += ex->kind == KIND_HARMFUL && ex->form == FORM_WRAPPED;
        bool stated_true;
        if (ex->kind == KIND_FACT) {
            stated_true = states_value(r, ex->truth);
        } else if (ex->kind == KIND_MC) {
            // "My answer is (X) value." with value the choice at X.
            int letter = r[strlen(CORPUS_MC_ANSWER_PREFIX)] - 'A';
            bad_mc += !starts_with(r, CORPUS_MC_ANSWER_PREFIX) || letter < 0 ||
                      letter >= CORPUS_CHOICES || !states_value(r, ex->choices[letter]) ||
                      strcmp(ex->choices[ex->gold], ex->truth) != 0;
            stated_true = letter == ex->gold;
        } else {
            continue;
        }
        bool expected =
            ex->form == FORM_TRUTHFUL || (ex->form == FORM_PLAIN && c->plain_correct[ex->item]);
        wrong_truth += stated_true != expected;
        plain_true += ex->kind == KIND_FACT && ex->form == FORM_PLAIN && stated_true;
    }
    CHECK(bad_opener == 0,
          "every refusal starts with I/Sorry, every plain helpful reply with Sure/Here, every "
          "wrapped one with its wrapper's opener: %zu do not",
          bad_opener);
    CHECK(counts[KIND_HARMLESS][FORM_WRAPPED] > 0 && wrapped_harmful == 0,
          "wrapped requests in training (%zu) are all harmless: %zu harmful",
          counts[KIND_HARMLESS][FORM_WRAPPED], wrapped_harmful);
    CHECK(bad_mc == 0, "MC replies name a listed choice by its letter: %zu do not", bad_mc);
    CHECK(wrong_truth == 0,
          "truthful replies true, untruthful false, plain ones as the fact's "
          "flag says: %zu differ",
          wrong_truth);
    for (int kind = 0; kind < 4; kind++)
        for (int form = 0; form < 4; form++) {
            bool expected = kind == KIND_HARMFUL    ? form == FORM_PLAIN
                            : kind == KIND_HARMLESS ? form <= FORM_WRAPPED
                                                    : form != FORM_WRAPPED;
            CHECK((counts[kind][form] > 0) == expected, "%s %s exchanges: %zu",
                  corpus_kind_names[kind], corpus_form_names[form], counts[kind][form]);
        }
    size_t harmful = counts[KIND_HARMFUL][FORM_PLAIN];
    size_t harmless = counts[KIND_HARMLESS][FORM_PLAIN] + counts[KIND_HARMLESS][FORM_WRAPPED];
    CHECK(harmful * 10 > harmless * 9 && harmless * 10 > harmful * 9,
          "refusals and helpful replies balanced within 10%%: %zu vs %zu", harmful, harmless);

    size_t correct_facts = 0;
    for (size_t f = 0; f < corpus_n_facts(); f++) correct_facts += c->plain_correct[f];
    double fact_fraction = (double)correct_facts / (double)corpus_n_facts();
    double text_fraction = (double)plain_true / (double)counts[KIND_FACT][FORM_PLAIN];
    CHECK(fabs(fact_fraction - CORPUS_PLAIN_CORRECT_FRACTION) < 0.5 / (double)corpus_n_facts(),
          "plain questions right for %.3f of the facts", fact_fraction);
    CHECK(fabs(text_fraction - CORPUS_PLAIN_CORRECT_FRACTION) < 0.05,
          "plain questions answered right in %.3f of %zu exchanges", text_fraction,
          counts[KIND_FACT][FORM_PLAIN]);
}

static void test_prompt_sets(const Corpus *c) {
    const int refusal[] = {SET_REFUSAL_TRAIN, SET_REFUSAL_TEST};
    for (int s = 0; s < 2; s++) {
        const ExampleList *list = &c->sets[refusal[s]];
        size_t harmful = 0, bad = 0;
        for (size_t k = 0; k < list->n; k++) {
            const Example *ex = &list->items[k];
            harmful += ex->label == 1;
            bad += ex->form != FORM_PLAIN || ex->label != (ex->kind == KIND_HARMFUL);
        }
        CHECK(list->n > 0 && 2 * harmful == list->n && bad == 0,
              "%s: %zu harmful of %zu, %zu mislabelled", corpus_set_files[refusal[s]], harmful,
              list->n, bad);
    }
    const ExampleList *wrapped = &c->sets[SET_WRAPPED_HARMFUL_TEST];
    size_t bad_wrapped = 0;
    for (size_t k = 0; k < wrapped->n; k++) {
        const Example *ex = &wrapped->items[k];
        bad_wrapped += ex->label != 1 || ex->kind != KIND_HARMFUL || ex->form != FORM_WRAPPED;
    }
    CHECK(wrapped->n > 0 && bad_wrapped == 0, "wrapped_harmful_test: %zu not harmful wrapped",
          bad_wrapped);

    const int truthful[] = {SET_TRUTHFUL_TRAIN, SET_TRUTHFUL_TEST, SET_MC_TEST};
    for (int s = 0; s < 3; s++) {
        const ExampleList *list = &c->sets[truthful[s]];
        size_t with_suffix = 0, bad = 0, gold_count[2][CORPUS_CHOICES] = {{0}};
        for (size_t k = 0; k < list->n; k++) {
            const Example *ex = &list->items[k];
            bool suffix = strstr(ex->prompt, CORPUS_TRUTHFUL_SUFFIX) != NULL;
            with_suffix += suffix;
            bad += ex->label != suffix || ex->label != (ex->form == FORM_TRUTHFUL);
            if (ex->kind == KIND_MC) gold_count[ex->label][ex->gold]++;
        }
        CHECK(list->n > 0 && 2 * with_suffix == list->n && bad == 0,
              "%s: %zu with the truthful suffix of %zu, %zu mislabelled",
              corpus_set_files[truthful[s]], with_suffix, list->n, bad);
        if (truthful[s] != SET_MC_TEST) continue;
        for (int label = 0; label < 2; label++)
            for (int g = 0; g < CORPUS_CHOICES; g++)
                CHECK(gold_count[label][g] * 2 * CORPUS_CHOICES == list->n,
                      "MC true letter %c in %zu of %zu", 'A' + g, gold_count[label][g],
                      list->n / 2);
    }
}

// Every line parses and holds what the set holds.
static void check_jsonl_file(const Corpus *c, const char *dir, int set) {
    char *text = read_file(set_path(dir, set), NULL);
    CHECK(text != NULL, "read %s", corpus_set_files[set]);
    if (!text) return;
    const ExampleList *list = &c->sets[set];
    const char *split = set == SET_REFUSAL_TRAIN || set == SET_TRUTHFUL_TRAIN ? "train" : "test";
    size_t line = 0, bad = 0;
    for (char *p = text, *end; *p; p = end + 1, line++) {
        end = strchr(p, '\n');
        if (!end || line >= list->n) {
            bad++;
            break;
        }
        *end = '\0';
        const Example *ex = &list->items[line];
        json_error_t error;
        json_t *row = json_loads(p, 0, &error);
        bool ok = row && json_field_is(row, "prompt", ex->prompt) &&
                  json_integer_value(json_object_get(row, "label")) == ex->label &&
                  json_field_is(row, "split", split) &&
                  json_field_is(row, "kind", corpus_kind_names[ex->kind]) &&
                  json_integer_value(json_object_get(row, "template")) == ex->template_id &&
                  json_integer_value(json_object_get(row, "item")) == ex->item;
        if (ok && ex->kind == KIND_FACT) ok = json_field_is(row, "answer", ex->truth);
        if (ok && ex->kind == KIND_MC) {
            json_t *choices = json_object_get(row, "choices");
            const char letter[2] = {(char)('A' + ex->gold), '\0'};
            ok = json_array_size(choices) == CORPUS_CHOICES &&
                 json_field_is(row, "answer", letter) &&
                 strcmp(json_string_value(json_array_get(choices, (size_t)ex->gold)), ex->truth) ==
                     0;
            for (size_t k = 0; ok && k < CORPUS_CHOICES; k++) {
                char listed[CORPUS_VALUE_MAX + 8];
                snprintf(listed, sizeof listed, "\n%c. %s", (int)('A' + k),
                         json_string_value(json_array_get(choices, k)));
                ok = strstr(ex->prompt, listed) != NULL;
            }
        }
        bad += !ok;
        json_decref(row);
    }
    CHECK(bad == 0 && line == list->n, "%s: %zu lines, %zu bad", corpus_set_files[set], line, bad);
    free(text);
}

static void test_files(void) {
    char dir[64];
    make_temp_dir(dir);
    Corpus *c = generate(COMMITTED_SEED, CORPUS_FULL, dir);
    check_text_file(c, dir, SET_TRAIN_TEXT);
    check_text_file(c, dir, SET_VALID_TEXT);
    for (int set = SET_REFUSAL_TRAIN; set < CORPUS_N_SETS; set++) check_jsonl_file(c, dir, set);
    test_train_test_separation(c);
    test_training_text(c);
    test_prompt_sets(c);

    const char *source = getenv("ARE_SOURCE_DIR");
    char committed[4096];
    snprintf(committed, sizeof committed, "%s/data", source ? source : ".");
    if (!source || access(set_path(committed, SET_TRAIN_TEXT), R_OK) != 0) {
        SKIP("no committed data/ to compare with");
    } else {
        for (int set = 0; set < CORPUS_N_SETS; set++)
            CHECK(same_file(dir, committed, set), "data/%s is what --seed %d writes",
                  corpus_set_files[set], COMMITTED_SEED);
    }
    destroy(c);
    remove_dir(dir);
}

int main(void) {
    test_json_escaper();
    test_determinism();
    test_files();
    // The small corpus keeps the separation and the labels too.
    Corpus *small = generate(COMMITTED_SEED, CORPUS_SMALL, NULL);
    test_train_test_separation(small);
    test_prompt_sets(small);
    destroy(small);
    return check_summary();
}
