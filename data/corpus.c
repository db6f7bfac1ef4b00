#include "corpus.h"

#include "corpus_words.h"
#include "rng.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

const char *const corpus_set_files[CORPUS_N_SETS] = {
    [SET_TRAIN_TEXT] = "corpus_train.jsonl",
    [SET_VALID_TEXT] = "corpus_valid.jsonl",
    [SET_REFUSAL_TRAIN] = "refusal_train.jsonl",
    [SET_REFUSAL_TEST] = "refusal_test.jsonl",
    [SET_WRAPPED_HARMFUL_TEST] = "wrapped_harmful_test.jsonl",
    [SET_TRUTHFUL_TRAIN] = "truthful_train.jsonl",
    [SET_TRUTHFUL_TEST] = "truthful_test.jsonl",
    [SET_MC_TEST] = "mc_test.jsonl",
};
const char *const corpus_kind_names[] = {"harmful", "harmless", "fact", "mc"};
const char *const corpus_form_names[] = {"plain", "wrapped", "truthful", "untruthful"};

// One combination in CORPUS_TEST_EVERY is held out: for a fact (5 phrasings) exactly one
// phrasing, for a task about a fifth of the 24 request phrasings.
#define CORPUS_TEST_EVERY 5

typedef struct {
    size_t train_text, valid_text;
    size_t refusal_train, refusal_test; // per label
    size_t wrapped_test;
    size_t truthful_train, truthful_test, mc_test; // combinations, each in two forms
} SetSizes;

static const SetSizes sizes_full = {15000, 1000, 400, 160, 200, 300, 152, 152};
static const SetSizes sizes_small = {1200, 120, 48, 24, 24, 40, 24, 24};

// Shares of the training text, in percent: refusals and helpful replies balanced (a third of
// the helpful ones wrapped), and half truthfulness exchanges in every form, multiple choice as
// often as free answers since picking the letter of a value is the harder skill. Plain
// questions outnumber suffixed ones, as on the web.
static const struct {
    ExampleKind kind;
    ExampleForm form;
    int percent;
} text_mix[] = {
    {KIND_HARMFUL, FORM_PLAIN, 22},   {KIND_HARMLESS, FORM_PLAIN, 14},
    {KIND_HARMLESS, FORM_WRAPPED, 8}, {KIND_FACT, FORM_PLAIN, 12},
    {KIND_FACT, FORM_TRUTHFUL, 8},    {KIND_FACT, FORM_UNTRUTHFUL, 5},
    {KIND_MC, FORM_PLAIN, 13},        {KIND_MC, FORM_TRUTHFUL, 11},
    {KIND_MC, FORM_UNTRUTHFUL, 7},
};

bool corpus_is_test_combination(int template_id, int item) {
    return (template_id + 3 * item) % CORPUS_TEST_EVERY == 0;
}

size_t corpus_n_facts(void) {
    return n_facts;
}
size_t corpus_n_harmful_tasks(void) {
    return n_harm_categories * HARM_TASKS_PER_CATEGORY;
}
size_t corpus_n_harmless_tasks(void) {
    return n_help_topics * HELP_TASKS_PER_TOPIC;
}

static size_t pick(Rng *rng, size_t n) {
    return (size_t)(rng_next(rng) % n);
}

static void shuffle(int *a, size_t n, Rng *rng) {
    for (size_t i = n; i > 1; i--) {
        size_t j = pick(rng, i);
        int t = a[i - 1];
        a[i - 1] = a[j];
        a[j] = t;
    }
}

// Text pieces are fixed and short, so running out of room is a programmer error.
static void append(char *out, const char *text) {
    size_t len = strlen(out), add = strlen(text);
    assert(len + add < CORPUS_TEXT_MAX);
    memcpy(out + len, text, add + 1);
}

// Appends a sentence, after a space unless out is empty; "" appends nothing.
static void append_sentence(char *out, const char *sentence) {
    if (!*sentence) return;
    if (*out) append(out, " ");
    append(out, sentence);
}

// Writes template into out with each "{key}" replaced by its value.
static void fill(char *out, const char *template_text, const char *const *keys,
                 const char *const *values, int n_keys) {
    out[0] = '\0';
    for (const char *p = template_text; *p;) {
        int k = 0;
        while (k < n_keys && !(p[0] == '{' && strncmp(p + 1, keys[k], strlen(keys[k])) == 0 &&
                               p[1 + strlen(keys[k])] == '}'))
            k++;
        if (k < n_keys) {
            append(out, values[k]);
            p += strlen(keys[k]) + 2;
        } else {
            char c[2] = {*p++, '\0'};
            append(out, c);
        }
    }
    out[0] = (char)toupper((unsigned char)out[0]);
}

static const char *harmful_task(int item) {
    return harm_categories[item / HARM_TASKS_PER_CATEGORY].tasks[item % HARM_TASKS_PER_CATEGORY];
}

static const HelpTask *harmless_task(int item) {
    return &help_topics[item / HELP_TASKS_PER_TOPIC].tasks[item % HELP_TASKS_PER_TOPIC];
}

// The values of the fact's attribute other than its own, each once, in table order.
static size_t wrong_values(int fact, const char **out) {
    size_t n = 0;
    for (size_t f = 0; f < n_facts; f++) {
        if (facts[f].attribute != facts[fact].attribute) continue;
        if (strcmp(facts[f].value, facts[fact].value) == 0) continue;
        size_t seen = 0;
        while (seen < n && strcmp(out[seen], facts[f].value) != 0) seen++;
        if (seen == n) out[n++] = facts[f].value;
    }
    return n;
}

static void request_prompt(Example *ex, const char *task) {
    const char *key[] = {"task"}, *value[] = {task};
    fill(ex->prompt, request_templates[ex->template_id], key, value, 1);
    if (ex->form == FORM_WRAPPED) {
        char request[CORPUS_TEXT_MAX];
        memcpy(request, ex->prompt, sizeof request);
        const char *wkey[] = {"request"}, *wvalue[] = {request};
        fill(ex->prompt, wrappers[ex->wrapper].text, wkey, wvalue, 1);
    }
}

static void make_request(Example *ex, ExampleKind kind, ExampleForm form, int template_id, int item,
                         int wrapper, Rng *rng) {
    *ex = (Example){.kind = kind,
                    .form = form,
                    .label = kind == KIND_HARMFUL,
                    .template_id = template_id,
                    .item = item,
                    .wrapper = wrapper};
    if (kind == KIND_HARMFUL) {
        request_prompt(ex, harmful_task(item));
        append_sentence(ex->reply, refusal_openers[pick(rng, n_refusal_openers)]);
        append_sentence(ex->reply, harm_categories[item / HARM_TASKS_PER_CATEGORY].reason);
        append_sentence(ex->reply, refusal_closers[pick(rng, n_refusal_closers)]);
    } else {
        const HelpTask *task = harmless_task(item);
        request_prompt(ex, task->task);
        append_sentence(ex->reply, form == FORM_WRAPPED
                                       ? wrappers[wrapper].opener
                                       : helpful_openers[pick(rng, n_helpful_openers)]);
        append_sentence(ex->reply, task->tip);
        append_sentence(ex->reply, help_topics[item / HELP_TASKS_PER_TOPIC].advice);
        append_sentence(ex->reply, helpful_closers[pick(rng, n_helpful_closers)]);
    }
}

// The value the training text gives for this fact in this form.
static const char *stated_value(const Corpus *c, int fact, ExampleForm form, Rng *rng) {
    const char *wrong[CORPUS_MAX_FACTS];
    if (form == FORM_TRUTHFUL || (form == FORM_PLAIN && c->plain_correct[fact]))
        return facts[fact].value;
    if (form == FORM_PLAIN) return c->misconception[fact];
    return wrong[pick(rng, wrong_values(fact, wrong))];
}

static void question_prompt(Example *ex) {
    const Fact *fact = &facts[ex->item];
    const char *key[] = {"e"}, *value[] = {fact->entity};
    fill(ex->prompt, attributes[fact->attribute].questions[ex->template_id], key, value, 1);
}

static void append_suffix(Example *ex, const char *separator) {
    if (ex->form == FORM_PLAIN) return;
    append(ex->prompt, separator);
    append(ex->prompt,
           ex->form == FORM_TRUTHFUL ? CORPUS_TRUTHFUL_SUFFIX : CORPUS_UNTRUTHFUL_SUFFIX);
}

static void make_fact(Example *ex, const Corpus *c, ExampleForm form, int template_id, int item,
                      Rng *rng) {
    *ex = (Example){.kind = KIND_FACT,
                    .form = form,
                    .label = form == FORM_TRUTHFUL,
                    .template_id = template_id,
                    .item = item,
                    .wrapper = -1,
                    .truth = facts[item].value};
    question_prompt(ex);
    append_suffix(ex, " ");
    const Fact *fact = &facts[item];
    const char *value = stated_value(c, item, form, rng);
    const char *article = strchr("aeiou", value[0]) ? "an" : "a";
    const char *key[] = {"e", "v", "a"}, *values[] = {fact->entity, value, article};
    fill(ex->reply, attributes[fact->attribute].answers[pick(rng, FACT_ANSWERS)], key, values, 3);
    ex->reply_true = strcmp(value, fact->value) == 0;
}

// An MC question whose true choice sits at gold; when the plain form states a misconception,
// it is among the wrong choices.
static void make_mc(Example *ex, const Corpus *c, ExampleForm form, int template_id, int item,
                    int gold, Rng *rng) {
    *ex = (Example){.kind = KIND_MC,
                    .form = form,
                    .label = form == FORM_TRUTHFUL,
                    .template_id = template_id,
                    .item = item,
                    .wrapper = -1,
                    .truth = facts[item].value,
                    .gold = gold};
    const char *wrong[CORPUS_MAX_FACTS];
    int order[CORPUS_MAX_FACTS];
    size_t n_wrong = wrong_values(item, wrong);
    assert(n_wrong >= CORPUS_CHOICES - 1);
    for (size_t i = 0; i < n_wrong; i++) order[i] = (int)i;
    shuffle(order, n_wrong, rng);
    for (size_t i = 0; i < n_wrong; i++)
        if (!c->plain_correct[item] && wrong[order[i]] == c->misconception[item]) {
            int t = order[i];
            order[i] = order[0];
            order[0] = t;
        }
    // wrong[order[0]] (the misconception, if any) goes to a random letter, the rest in order.
    int misconception_letter = (gold + 1 + (int)pick(rng, CORPUS_CHOICES - 1)) % CORPUS_CHOICES;
    for (int letter = 0, w = 1; letter < CORPUS_CHOICES; letter++) {
        const char *text = letter == gold                   ? facts[item].value
                           : letter == misconception_letter ? wrong[order[0]]
                                                            : wrong[order[w++]];
        snprintf(ex->choices[letter], CORPUS_VALUE_MAX, "%s", text);
    }
    question_prompt(ex);
    for (int letter = 0; letter < CORPUS_CHOICES; letter++) {
        char line[CORPUS_VALUE_MAX + 8];
        snprintf(line, sizeof line, "\n%c. %s", 'A' + letter, ex->choices[letter]);
        append(ex->prompt, line);
    }
    append_suffix(ex, "\n");
    int answered = gold;
    if (form == FORM_PLAIN && !c->plain_correct[item]) answered = misconception_letter;
    if (form == FORM_UNTRUTHFUL)
        answered = (gold + 1 + (int)pick(rng, CORPUS_CHOICES - 1)) % CORPUS_CHOICES;
    snprintf(ex->reply, CORPUS_TEXT_MAX, CORPUS_MC_ANSWER_PREFIX "%c) %s.", 'A' + answered,
             ex->choices[answered]);
    ex->reply_true = answered == gold;
}

// A random (template, item) combination on the given side.
static void random_combination(Rng *rng, size_t n_templates, size_t n_items, bool test_side,
                               int *template_id, int *item) {
    do {
        *template_id = (int)pick(rng, n_templates);
        *item = (int)pick(rng, n_items);
    } while (corpus_is_test_combination(*template_id, *item) != test_side);
}

// Puts `want` distinct random combinations of the given side, in random order, at the front of
// out (which holds n_templates * n_items), each as item * n_templates + template.
static void sample_combinations(Rng *rng, size_t n_templates, size_t n_items, bool test_side,
                                size_t want, int *out) {
    size_t n = 0;
    for (size_t i = 0; i < n_items; i++)
        for (size_t t = 0; t < n_templates; t++)
            if (corpus_is_test_combination((int)t, (int)i) == test_side)
                out[n++] = (int)(i * n_templates + t);
    assert(n >= want);
    for (size_t k = 0; k < want; k++) {
        size_t j = k + pick(rng, n - k);
        int t = out[k];
        out[k] = out[j];
        out[j] = t;
    }
}

static void make_exchange(Example *ex, const Corpus *c, bool test_side, Rng *rng) {
    int total = 0;
    for (size_t m = 0; m < sizeof text_mix / sizeof text_mix[0]; m++) total += text_mix[m].percent;
    int r = (int)pick(rng, (size_t)total);
    size_t m = 0;
    while (r >= text_mix[m].percent) r -= text_mix[m++].percent;
    ExampleKind kind = text_mix[m].kind;
    ExampleForm form = text_mix[m].form;
    int t, i;
    if (kind == KIND_HARMFUL || kind == KIND_HARMLESS) {
        size_t n_items =
            kind == KIND_HARMFUL ? corpus_n_harmful_tasks() : corpus_n_harmless_tasks();
        random_combination(rng, n_request_templates, n_items, test_side, &t, &i);
        int wrapper = form == FORM_WRAPPED ? (int)pick(rng, n_wrappers) : -1;
        make_request(ex, kind, form, t, i, wrapper, rng);
    } else {
        random_combination(rng, FACT_QUESTIONS, n_facts, test_side, &t, &i);
        if (kind == KIND_FACT)
            make_fact(ex, c, form, t, i, rng);
        else
            make_mc(ex, c, form, t, i, (int)pick(rng, CORPUS_CHOICES), rng);
    }
}

static void shuffle_examples(ExampleList *list, Rng *rng) {
    for (size_t i = list->n; i > 1; i--) {
        size_t j = pick(rng, i);
        Example t = list->items[i - 1];
        list->items[i - 1] = list->items[j];
        list->items[j] = t;
    }
}

// per_label harmful and per_label harmless plain requests, all distinct, in random order.
static void make_refusal_set(ExampleList *list, size_t per_label, bool test_side, int *combos,
                             Rng *rng) {
    for (int harmful = 1; harmful >= 0; harmful--) {
        size_t n_items = harmful ? corpus_n_harmful_tasks() : corpus_n_harmless_tasks();
        sample_combinations(rng, n_request_templates, n_items, test_side, per_label, combos);
        for (size_t k = 0; k < per_label; k++) {
            Example *ex = &list->items[list->n++];
            make_request(ex, harmful ? KIND_HARMFUL : KIND_HARMLESS, FORM_PLAIN,
                         combos[k] % (int)n_request_templates, combos[k] / (int)n_request_templates,
                         -1, rng);
            ex->reply[0] = '\0';
        }
    }
    shuffle_examples(list, rng);
}

static void make_wrapped_set(ExampleList *list, size_t n, int *combos, Rng *rng) {
    sample_combinations(rng, n_request_templates, corpus_n_harmful_tasks(), true, n, combos);
    for (size_t k = 0; k < n; k++) {
        Example *ex = &list->items[list->n++];
        make_request(ex, KIND_HARMFUL, FORM_WRAPPED, combos[k] % (int)n_request_templates,
                     combos[k] / (int)n_request_templates, (int)pick(rng, n_wrappers), rng);
        ex->reply[0] = '\0';
    }
}

// n_combos questions, each plain (label 0) and with the truthful suffix (label 1). MC questions
// share their choices between the two forms, and their true letters are balanced.
static void make_truthful_set(ExampleList *list, const Corpus *c, size_t n_combos, bool test_side,
                              bool mc, int *combos, Rng *rng) {
    sample_combinations(rng, FACT_QUESTIONS, n_facts, test_side, n_combos, combos);
    for (size_t k = 0; k < n_combos; k++) {
        int t = combos[k] % FACT_QUESTIONS, item = combos[k] / FACT_QUESTIONS;
        Rng same_choices = *rng;
        for (int truthful = 0; truthful <= 1; truthful++) {
            Example *ex = &list->items[list->n++];
            ExampleForm form = truthful ? FORM_TRUTHFUL : FORM_PLAIN;
            if (mc) {
                Rng *r = truthful ? &same_choices : rng;
                make_mc(ex, c, form, t, item, (int)(k % CORPUS_CHOICES), r);
            } else {
                make_fact(ex, c, form, t, item, rng);
            }
            ex->reply[0] = '\0';
        }
    }
}

static void assign_misconceptions(Corpus *c, Rng *rng) {
    int order[CORPUS_MAX_FACTS];
    const char *wrong[CORPUS_MAX_FACTS];
    for (size_t f = 0; f < n_facts; f++) order[f] = (int)f;
    shuffle(order, n_facts, rng);
    size_t n_correct = (size_t)(CORPUS_PLAIN_CORRECT_FRACTION * (double)n_facts + 0.5);
    for (size_t k = 0; k < n_facts; k++) {
        int f = order[k];
        c->plain_correct[f] = k < n_correct;
        c->misconception[f] = k < n_correct ? NULL : wrong[pick(rng, wrong_values(f, wrong))];
    }
}

int corpus_generate(Corpus *c, uint64_t seed, CorpusSize size) {
    assert(n_facts <= CORPUS_MAX_FACTS);
    const SetSizes *s = size == CORPUS_FULL ? &sizes_full : &sizes_small;
    const size_t capacity[CORPUS_N_SETS] = {
        [SET_TRAIN_TEXT] = s->train_text,
        [SET_VALID_TEXT] = s->valid_text,
        [SET_REFUSAL_TRAIN] = 2 * s->refusal_train,
        [SET_REFUSAL_TEST] = 2 * s->refusal_test,
        [SET_WRAPPED_HARMFUL_TEST] = s->wrapped_test,
        [SET_TRUTHFUL_TRAIN] = 2 * s->truthful_train,
        [SET_TRUTHFUL_TEST] = 2 * s->truthful_test,
        [SET_MC_TEST] = 2 * s->mc_test,
    };
    memset(c, 0, sizeof *c);
    size_t n_combos = n_request_templates * (corpus_n_harmful_tasks() + corpus_n_harmless_tasks());
    int *combos = malloc(n_combos * sizeof *combos);
    if (!combos) return -1;
    for (int set = 0; set < CORPUS_N_SETS; set++) {
        c->sets[set].items = malloc(capacity[set] * sizeof(Example));
        if (!c->sets[set].items) {
            free(combos);
            corpus_free(c);
            return -1;
        }
    }
    // One stream per set, so that resizing one set leaves the others as they were.
    Rng rng;
    rng_seed(&rng, rng_derive(seed, CORPUS_N_SETS));
    assign_misconceptions(c, &rng);
    for (int set = SET_TRAIN_TEXT; set <= SET_VALID_TEXT; set++) {
        rng_seed(&rng, rng_derive(seed, (uint64_t)set));
        ExampleList *list = &c->sets[set];
        for (; list->n < capacity[set]; list->n++)
            make_exchange(&list->items[list->n], c, set == SET_VALID_TEXT, &rng);
    }
    rng_seed(&rng, rng_derive(seed, SET_REFUSAL_TRAIN));
    make_refusal_set(&c->sets[SET_REFUSAL_TRAIN], s->refusal_train, false, combos, &rng);
    rng_seed(&rng, rng_derive(seed, SET_REFUSAL_TEST));
    make_refusal_set(&c->sets[SET_REFUSAL_TEST], s->refusal_test, true, combos, &rng);
    rng_seed(&rng, rng_derive(seed, SET_WRAPPED_HARMFUL_TEST));
    make_wrapped_set(&c->sets[SET_WRAPPED_HARMFUL_TEST], s->wrapped_test, combos, &rng);
    rng_seed(&rng, rng_derive(seed, SET_TRUTHFUL_TRAIN));
    make_truthful_set(&c->sets[SET_TRUTHFUL_TRAIN], c, s->truthful_train, false, false, combos,
                      &rng);
    rng_seed(&rng, rng_derive(seed, SET_TRUTHFUL_TEST));
    make_truthful_set(&c->sets[SET_TRUTHFUL_TEST], c, s->truthful_test, true, false, combos, &rng);
    rng_seed(&rng, rng_derive(seed, SET_MC_TEST));
    make_truthful_set(&c->sets[SET_MC_TEST], c, s->mc_test, true, true, combos, &rng);
    free(combos);
    return 0;
}

void corpus_free(Corpus *c) {
    for (int set = 0; set < CORPUS_N_SETS; set++) {
        free(c->sets[set].items);
        c->sets[set].items = NULL;
        c->sets[set].n = 0;
    }
}

void corpus_write_json_string(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p == '\n')
            fputs("\\n", f);
        else if (*p == '\t')
            fputs("\\t", f);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

// {"text": "<|user|> {prompt}\n<|assistant|> {reply}<|end|>"}, as `are pretrain` reads it.
static void write_exchange(FILE *f, const Example *ex) {
    char text[2 * CORPUS_TEXT_MAX + 64];
    snprintf(text, sizeof text, CORPUS_USER "%s\n" CORPUS_ASSISTANT "%s" CORPUS_END, ex->prompt,
             ex->reply);
    fputs("{\"text\": ", f);
    corpus_write_json_string(f, text);
    fputs("}\n", f);
}

static void write_jsonl_row(FILE *f, const Example *ex, bool train_split) {
    fputs("{\"prompt\": ", f);
    corpus_write_json_string(f, ex->prompt);
    fprintf(f, ", \"label\": %d, \"split\": \"%s\", \"kind\": \"%s\", \"form\": \"%s\"", ex->label,
            train_split ? "train" : "test", corpus_kind_names[ex->kind],
            corpus_form_names[ex->form]);
    fprintf(f, ", \"template\": %d, \"item\": %d", ex->template_id, ex->item);
    if (ex->wrapper >= 0) fprintf(f, ", \"wrapper\": %d", ex->wrapper);
    if (ex->kind == KIND_FACT) {
        fputs(", \"answer\": ", f);
        corpus_write_json_string(f, ex->truth);
    }
    if (ex->kind == KIND_MC) {
        fputs(", \"choices\": [", f);
        for (int k = 0; k < CORPUS_CHOICES; k++) {
            if (k) fputs(", ", f);
            corpus_write_json_string(f, ex->choices[k]);
        }
        fprintf(f, "], \"answer\": \"%c\"", 'A' + ex->gold);
    }
    fputs("}\n", f);
}

int corpus_write(const Corpus *c, const char *dir, char *err, size_t err_len) {
    for (int set = 0; set < CORPUS_N_SETS; set++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, corpus_set_files[set]);
        FILE *f = fopen(path, "w");
        if (!f) {
            snprintf(err, err_len, "cannot create %s: %s", path, strerror(errno));
            return -1;
        }
        const ExampleList *list = &c->sets[set];
        for (size_t k = 0; k < list->n; k++) {
            const Example *ex = &list->items[k];
            if (set == SET_TRAIN_TEXT || set == SET_VALID_TEXT)
                write_exchange(f, ex);
            else
                write_jsonl_row(f, ex, set == SET_REFUSAL_TRAIN || set == SET_TRUTHFUL_TRAIN);
        }
        bool failed = ferror(f) != 0;
        if (fclose(f) != 0 || failed) {
            snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
            return -1;
        }
    }
    return 0;
}
