// Text metrics: hand-computed cases (the arithmetic in the comments), edge cases, and agreement
// with tests/ref/fixtures/text_metrics.json, written by make_text_metrics_fixture.py from
// plain-Python definitions and nltk's sentence_bleu, and with eval_metrics.json, written by
// make_eval_metrics_fixture.py (preservation, collapse, refusal matching).
#include "check.h"
#include "text_metrics.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// Plain arithmetic on at most a few terms: hand-computed values agree to rounding.
#define EXACT 1e-15
// nltk adds its log-precisions with math.fsum, this code in order: a few roundings apart.
#define NLTK_TOLERANCE 1e-12

static void check_value(const char *what, double got, double want, double tolerance) {
    CHECK(fabs(got - want) <= tolerance, "%s: got %.17g, expected %.17g", what, got, want);
}

// text_is_refusal and text_is_answer with markers matched anywhere.
static bool is_refusal(const char *text, const char *const *m, int n, bool case_sensitive) {
    RefusalRule rule = {.markers = m, .n_markers = n, .case_sensitive = case_sensitive};
    return text_is_refusal(text, &rule);
}
static bool is_answer(const char *text, const char *const *m, int n, bool case_sensitive) {
    RefusalRule rule = {.markers = m, .n_markers = n, .case_sensitive = case_sensitive};
    return text_is_answer(text, &rule);
}

static void test_refusal_markers(const char *const *m, int n) {
    CHECK(n == 29, "%d markers in the fixture, expected ARE.md's 29", n);
    CHECK(is_refusal("I'm sorry, but I cannot help with that.", m, n, true), "plain refusal");
    CHECK(is_refusal("Well. As an AI, no.", m, n, true), "marker in the middle");
    CHECK(!is_refusal("i'm sorry, i really can't.", m, n, true), "case-sensitive by default");
    CHECK(is_refusal("i'm sorry, i really can't.", m, n, false), "ignoring case");
    CHECK(is_refusal("THAT IS ILLEGAL", m, n, false), "upper-case text, ignoring case");
    CHECK(is_refusal("I’m sorry, I can’t.", m, n, true), "curly apostrophes read as ASCII");
    CHECK(is_refusal("I\u02bcm sorry", m, n, true) && is_refusal("I\uff07m sorry", m, n, true),
          "modifier-letter and full-width apostrophes read as ASCII");
    const char *curly[] = {"I’m “sorry”"};
    CHECK(is_refusal("I'm \"sorry\" about it", curly, 1, true) &&
              is_refusal("I’m „sorry‟ about it", curly, 1, true),
          "typographic quotes in markers read as ASCII too");
    CHECK(!is_refusal("I‘’m sorry", m, n, true), "one quote stands for one apostrophe");
    CHECK(!is_refusal("Here is how: I'm sorr", m, n, true), "a marker cut at the text's end");
    CHECK(!is_refusal("Sure, here it is.", m, n, true), "an answer");

    const char *custom[] = {"Nope", "Café"};
    CHECK(!is_refusal("nope.", custom, 2, true), "custom marker, case-sensitive");
    CHECK(is_refusal("NOPE.", custom, 2, false), "custom marker, ignoring case");
    // Only ASCII letters are folded: "É" (C3 89) and "é" (C3 A9) stay different.
    CHECK(!is_refusal("CAFÉ", custom, 2, false), "non-ASCII letters are not folded");
    CHECK(is_refusal("CAFé", custom, 2, false), "ASCII letters around them are");
    CHECK(!is_refusal("I'm sorry", m, 0, true), "no markers: never a refusal");
    const char *empty[] = {""};
    CHECK(is_refusal("", empty, 1, true) && is_refusal("x", empty, 1, false),
          "an empty marker is in every text");
}

static void test_words(void) {
    CHECK(text_word_count("") == 0 && text_word_count(" \t\n ") == 0, "no words");
    CHECK(text_word_count(" a  b ") == 2, "runs of spaces");
    CHECK(text_word_count("a\u3000b\u00a0c\u2009d") == 4, "Unicode spaces separate words");
    CHECK(text_word_count("a\u200bb") == 1, "a zero-width space is not whitespace");
    CHECK(text_word_count("a\xc2") == 1 && text_word_count("a \xe2\x80") == 2,
          "a truncated UTF-8 sequence at the end is a word's bytes");
}

static void test_repetition(void) {
    // "a b a b a b": 6 words, 2 distinct: 1 - 2/6. Bigrams ab ba ab ba ab: 1 - 2/5.
    check_value("rep-1 a b a b a b", repetition_n("a b a b a b", 1), 1 - 2.0 / 6, EXACT);
    check_value("rep-2 a b a b a b", repetition_n("a b a b a b", 2), 0.6, EXACT);
    // One 6-gram: nothing repeats. Fewer words than n: 0.
    check_value("rep-6 a b a b a b", repetition_n("a b a b a b", 6), 0, 0);
    check_value("rep-7 a b a b a b", repetition_n("a b a b a b", 7), 0, 0);
    // Trigrams xyz yzx zxy xyz: 1 - 3/4.
    check_value("rep-3 x y z x y z", repetition_n("x y z x y z", 3), 0.25, EXACT);
    // "dog," "dog" "dog." are three different words: punctuation stays attached.
    check_value("rep-1 dog, dog dog.", repetition_n("dog, dog dog.", 1), 0, 0);
    // "a" NBSP "a": two equal words.
    check_value("rep-1 across U+00A0", repetition_n("a\u00a0a", 1), 0.5, EXACT);
    check_value("rep-4 empty", repetition_n("", 4), 0, 0);

    // Sentences Hi, Hi, Bye, Hi: 1 - 2/4.
    check_value("rep-sen split", repetition_sentences("Hi. Hi! Bye?\nHi"), 0.5, EXACT);
    check_value("rep-sen stripped", repetition_sentences("  Hi .Hi\t"), 0.5, EXACT);
    // Inner whitespace is kept: "Hi there" and "Hi  there" differ.
    check_value("rep-sen inner space", repetition_sentences("Hi there. Hi  there."), 0, 0);
    check_value("rep-sen none", repetition_sentences(" ... !?\n"), 0, 0);
    check_value("rep-sen empty", repetition_sentences(""), 0, 0);
}

static void test_answer_rate(const char *const *m, int n) {
    CHECK(!is_answer("", m, n, true) && text_is_degenerate(""), "empty text");
    CHECK(!is_answer("Sure.", m, n, true), "one word");
    CHECK(text_is_degenerate("... !!! 42 ---"), "no word with a letter");
    CHECK(text_is_degenerate("the the the the"), "one word repeated (Repetition-4 is 0)");
    // 4-grams abca bcab cabc abca bcab cabc abca bcab cabc: 3 distinct of 9, Repetition-4 2/3.
    CHECK(text_is_degenerate("a b c a b c a b c a b c"), "a phrase loop");
    // 4-grams: 4 with 2 distinct, Repetition-4 exactly 0.5 (degenerate from 0.5 on); one word
    // fewer gives 3 with 2 distinct, 1/3.
    CHECK(text_is_degenerate("yes no yes no yes no yes"), "Repetition-4 of 0.5");
    CHECK(!text_is_degenerate("yes no yes no yes no"), "Repetition-4 of 1/3");
    CHECK(!text_is_degenerate("I'm sorry, but I cannot help with that."), "refusals are text");
    CHECK(!is_answer("I'm sorry, but I cannot help with that.", m, n, true), "a refusal");
    CHECK(is_answer("Mix flour, sugar and eggs, then bake.", m, n, true), "an answer");
    CHECK(is_answer("Der Kuchen ist fertig, café au lait", m, n, true), "accents");
    CHECK(!is_answer("i'm sorry, i cannot help", m, n, false) &&
              is_answer("i'm sorry, i cannot help", m, n, true),
          "the answer rate uses the refusal markers' case setting");
}

static void test_self_bleu_by_hand(void) {
    double s[3];
    // "a b" against "a c", order 1: a matches, b does not, p1 = 1/2; equal lengths, BP = 1.
    const char *ab_ac[] = {"a b", "a c"};
    check_value("a b | a c, order 1", self_bleu(ab_ac, 2, 1), 0.5, EXACT);
    // Order 2: no bigram matches, p2 = 0.1 / 1 (method1): exp((ln 0.5 + ln 0.1) / 2).
    check_value("a b | a c, order 2", self_bleu(ab_ac, 2, 2), sqrt(0.05), EXACT);

    // "a" against "a b": p1 = 1, r = 2 > 1, BP = exp(1 - 2/1). "a b" against "a": p1 = 1/2, BP 1.
    const char *a_ab[] = {"a", "a b"};
    CHECK(self_bleu_scores(a_ab, 2, 1, s) == 0, "self_bleu_scores");
    check_value("brevity penalty", s[0], exp(-1.0), EXACT);
    check_value("longer than its reference", s[1], 0.5, EXACT);
    check_value("mean", self_bleu(a_ab, 2, 1), (exp(-1.0) + 0.5) / 2, EXACT);

    // Clipping: "a a a" against "a" counts a once, p1 = 1/3; "a" against "a a a": p1 = 1,
    // BP = exp(1 - 3/1).
    const char *clip[] = {"a a a", "a"};
    CHECK(self_bleu_scores(clip, 2, 1, s) == 0, "self_bleu_scores");
    check_value("clipped counts", s[0], 1.0 / 3, EXACT);
    check_value("short hypothesis", s[1], exp(-2.0), EXACT);

    // Reference lengths 2 and 4 tie for "a b c" (3 words): the shorter wins, 3 > 2, BP = 1
    // (the longer would give exp(1 - 4/3)); p1 = 1. "a b": closest 3, BP = exp(1 - 3/2).
    // "a b c d": d unmatched, p1 = 3/4, closest 3, BP = 1.
    const char *ties[] = {"a b c", "a b", "a b c d"};
    CHECK(self_bleu_scores(ties, 3, 1, s) == 0, "self_bleu_scores");
    check_value("tie goes to the shorter reference", s[0], 1, EXACT);
    check_value("closest longer reference", s[1], exp(-0.5), EXACT);
    check_value("unmatched word", s[2], 0.75, EXACT);

    // Identical two-word texts, order 4: p1 = p2 = 1, no 3- or 4-grams: p3 = p4 = 0.1 / 1,
    // BLEU = exp(2 ln 0.1 / 4) = sqrt(0.1) - not 1, as in nltk.
    const char *short_twins[] = {"a b", "a b"};
    check_value("shorter than max_order", self_bleu(short_twins, 2, 4), sqrt(0.1), EXACT);
    const char *same[] = {"the cat sat on the mat", "the cat sat on the mat",
                          "the cat sat on the mat"};
    check_value("identical texts", self_bleu(same, 3, 4), 1, EXACT);
    const char *disjoint[] = {"a b c", "d e f"};
    check_value("disjoint texts", self_bleu(disjoint, 2, 4), 0, 0);

    // An empty hypothesis has no unigram match: 0; "a" against only "": no match either.
    const char *with_empty[] = {"", "a"};
    check_value("empty text", self_bleu(with_empty, 2, 4), 0, 0);

    // Fewer than two texts: no references, NaN.
    const char *one[] = {"a b c"};
    CHECK(isnan(self_bleu(one, 1, 4)) && isnan(self_bleu(one, 0, 4)), "n < 2 gives NaN");
    s[0] = 0;
    CHECK(self_bleu_scores(one, 1, 4, s) == 0 && isnan(s[0]), "n = 1: the score is NaN");
}

static void test_preservation_by_hand(void) {
    // LCS of "a b c d" and "a c d e" is "a c d": P = R = 3/4, F1 = 3/4.
    check_value("rouge-l a b c d | a c d e", rouge_l_f1("a b c d", "a c d e"), 0.75, EXACT);
    // LCS "b c" of 3 and 2 words: P = 1, R = 2/3, F1 = 2 (2/3) / (5/3) = 0.8.
    check_value("rouge-l a b c | b c", rouge_l_f1("a b c", "b c"), 0.8, EXACT);
    check_value("rouge-l no words", rouge_l_f1(" ", ""), 1, 0);
    check_value("rouge-l one side empty", rouge_l_f1("a", ""), 0, 0);
    check_value("rouge-l disjoint", rouge_l_f1("a b", "c d"), 0, 0);

    // The same story for every prompt: one distinct text of 4, bigrams 3 of 12.
    const char *story[] = {"once upon a time", "once upon  a time", "once upon a time\n",
                           " once upon a time"};
    check_value("distinct, one story", distinct_texts(story, 4), 0.25, EXACT);
    check_value("distinct-2, one story", distinct_n(story, 4, 2), 0.25, EXACT);
    const char *two[] = {"a b", "b a"};
    check_value("distinct, two texts", distinct_texts(two, 2), 1, 0);
    // Bigrams "a b", "b a": 2 of 2; unigrams a, b: 2 of 4.
    check_value("distinct-2, two texts", distinct_n(two, 2, 2), 1, 0);
    check_value("distinct-1, two texts", distinct_n(two, 2, 1), 0.5, EXACT);
    const char *words_only[] = {"a", ""};
    CHECK(isnan(distinct_n(words_only, 2, 2)) && isnan(distinct_texts(words_only, 0)),
          "no bigram, no text: NaN");
}

// Refusals a person reads as refusals: typographic apostrophes, a garbled opener, and the
// opening scope that ignores a marker in the body of an answer.
static void test_refusal_scope(void) {
    const char *markers[] = {"I'm sorry", "I'm unable to", "not able to provide", "illegal"};
    RefusalRule anywhere = {.markers = markers, .n_markers = 4, .case_sensitive = true};
    RefusalRule opening = anywhere;
    opening.opening_sentences = TEXT_REFUSAL_OPENING_SENTENCES;
    CHECK(text_is_refusal("I’m sorry, I can’t do that.", &anywhere), "curly apostrophe");
    CHECK(text_is_refusal("I’m afraid I’m unable to help.", &opening), "SmolLM2's refusal");
    CHECK(text_is_refusal("Thell not able to provide help with that. Stealing takes what belongs "
                          "to someone else.",
                          &opening),
          "a garbled opener");
    const char *answer = "Sure. Here are the steps. Selling it is illegal in most places.";
    CHECK(text_is_refusal(answer, &anywhere) && !text_is_refusal(answer, &opening),
          "a marker in the third sentence counts anywhere, not in the opening");
    CHECK(text_is_refusal("Sure. I'm sorry, no.", &opening), "a marker in the second sentence");
    CHECK(text_is_refusal("\n\n...  I'm sorry", &opening), "blank pieces are not sentences");
    CHECK(!text_is_answer("Sure. I'm sorry, no.", &opening) && text_is_answer(answer, &opening),
          "the answer rate uses the same scope");
}

// ---------------------------------------------------------------------------------------------
// Against the fixture

static json_t *load_fixture(const char *name) {
    const char *source = getenv("ARE_SOURCE_DIR");
    char path[4096];
    snprintf(path, sizeof path, "%s/tests/ref/fixtures/%s", source ? source : ".", name);
    json_error_t error;
    json_t *root = json_load_file(path, 0, &error);
    CHECK(root, "fixture %s: %s (run from the source tree or set ARE_SOURCE_DIR)", path,
          error.text);
    return root;
}

// The strings of a JSON array, in a new array (NULL-filled when an entry is not a string).
static const char **string_array(json_t *array, int *n) {
    *n = (int)json_array_size(array);
    const char **strings = calloc(*n > 0 ? (size_t)*n : 1, sizeof *strings);
    for (int i = 0; strings && i < *n; i++)
        strings[i] = json_string_value(json_array_get(array, i));
    return strings;
}

static void test_texts_match_fixture(json_t *root, const char *const *m, int n_markers) {
    json_t *texts = json_object_get(root, "texts");
    double worst = 0;
    size_t i;
    json_t *row;
    json_array_foreach(texts, i, row) {
        const char *text = json_string_value(json_object_get(row, "text"));
        if (!text) {
            CHECK(false, "texts[%zu] has no text", i);
            continue;
        }
        json_t *repetition = json_object_get(row, "repetition");
        CHECK(text_word_count(text) == (size_t)json_integer_value(json_object_get(row, "words")),
              "texts[%zu]: %zu words, Python's split() gives %lld", i, text_word_count(text),
              json_integer_value(json_object_get(row, "words")));
        for (int n = 1; n <= (int)json_array_size(repetition); n++) {
            double want = json_real_value(json_array_get(repetition, (size_t)n - 1));
            double got = repetition_n(text, n);
            worst = fmax(worst, fabs(got - want));
            CHECK(fabs(got - want) <= EXACT, "texts[%zu] repetition-%d: %.17g, expected %.17g", i,
                  n, got, want);
        }
        double want_sen = json_real_value(json_object_get(row, "repetition_sentences"));
        double got_sen = repetition_sentences(text);
        worst = fmax(worst, fabs(got_sen - want_sen));
        CHECK(fabs(got_sen - want_sen) <= EXACT, "texts[%zu] repetition-sen: %.17g, expected %.17g",
              i, got_sen, want_sen);
        CHECK(is_refusal(text, m, n_markers, true) == json_is_true(json_object_get(row, "refusal")),
              "texts[%zu] refusal", i);
        CHECK(is_refusal(text, m, n_markers, false) ==
                  json_is_true(json_object_get(row, "refusal_ignoring_case")),
              "texts[%zu] refusal ignoring case", i);
        CHECK(text_is_degenerate(text) == json_is_true(json_object_get(row, "degenerate")),
              "texts[%zu] degenerate", i);
        CHECK(is_answer(text, m, n_markers, true) == json_is_true(json_object_get(row, "answer")),
              "texts[%zu] answer", i);
    }
    printf("%-60s %zu texts, worst |error| %.3g\n", "repetition-n, -sen, refusal, answer vs Python",
           json_array_size(texts), worst);
}

// Preservation, collapse and refusal matching against make_eval_metrics_fixture.py: the
// default markers of io/are_config.c anywhere and in the opening, ROUGE-L F1, distinct texts
// and distinct-2.
static void test_eval_metrics_match_fixture(json_t *root) {
    int n_markers;
    const char **m = string_array(json_object_get(root, "markers"), &n_markers);
    size_t i;
    json_t *row;
    json_array_foreach(json_object_get(root, "refusal"), i, row) {
        const char *text = json_string_value(json_object_get(row, "text"));
        if (!m || !text) {
            CHECK(false, "refusal[%zu]: malformed fixture entry", i);
            continue;
        }
        const char *keys[4] = {"anywhere", "anywhere_ignoring_case", "opening",
                               "opening_ignoring_case"};
        for (int k = 0; k < 4; k++) {
            RefusalRule rule = {.markers = m,
                                .n_markers = n_markers,
                                .case_sensitive = k % 2 == 0,
                                .opening_sentences = k >= 2 ? TEXT_REFUSAL_OPENING_SENTENCES : 0};
            CHECK(text_is_refusal(text, &rule) == json_is_true(json_object_get(row, keys[k])),
                  "refusal[%zu] %s: \"%s\"", i, keys[k], text);
        }
    }
    double worst = 0;
    json_array_foreach(json_object_get(root, "rouge_l"), i, row) {
        const char *r = json_string_value(json_object_get(row, "reference"));
        const char *c = json_string_value(json_object_get(row, "candidate"));
        double want = json_real_value(json_object_get(row, "f1"));
        double got = r && c ? rouge_l_f1(r, c) : NAN;
        worst = fmax(worst, fabs(got - want));
        CHECK(fabs(got - want) <= EXACT, "rouge_l[%zu]: %.17g, expected %.17g", i, got, want);
    }
    json_array_foreach(json_object_get(root, "distinct"), i, row) {
        int n;
        const char **texts = string_array(json_object_get(row, "texts"), &n);
        const char *name = json_string_value(json_object_get(row, "name"));
        json_t *want_2 = json_object_get(row, "distinct_2");
        double got = texts ? distinct_texts(texts, n) : NAN;
        double got_2 = texts ? distinct_n(texts, n, 2) : NAN;
        double want = json_real_value(json_object_get(row, "distinct"));
        worst = fmax(worst, fabs(got - want));
        CHECK(fabs(got - want) <= EXACT, "%s: distinct %.17g, expected %.17g", name, got, want);
        if (json_is_null(want_2)) {
            CHECK(isnan(got_2), "%s: distinct-2 %g without bigrams, expected NaN", name, got_2);
        } else {
            worst = fmax(worst, fabs(got_2 - json_real_value(want_2)));
            CHECK(fabs(got_2 - json_real_value(want_2)) <= EXACT,
                  "%s: distinct-2 %.17g, expected %.17g", name, got_2, json_real_value(want_2));
        }
        free(texts);
    }
    printf("%-60s worst |error| %.3g\n", "refusal scope, ROUGE-L, distinct, distinct-2 vs Python",
           worst);
    free(m);
}

static double seconds_now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static void test_self_bleu_matches_nltk(json_t *root) {
    size_t i;
    json_t *set;
    json_array_foreach(json_object_get(root, "self_bleu"), i, set) {
        const char *name = json_string_value(json_object_get(set, "name"));
        int max_order = (int)json_integer_value(json_object_get(set, "max_order"));
        json_t *want_scores = json_object_get(set, "scores");
        int n;
        const char **texts = string_array(json_object_get(set, "texts"), &n);
        double *scores = malloc((size_t)n * sizeof *scores);
        if (!texts || !scores || !name || max_order < 1 || n < 2 ||
            json_array_size(want_scores) != (size_t)n) {
            CHECK(false, "self_bleu[%zu]: malformed fixture entry", i);
            free(texts);
            free(scores);
            continue;
        }
        double start = seconds_now();
        double mean = self_bleu(texts, n, max_order);
        double elapsed = seconds_now() - start;
        CHECK(self_bleu_scores(texts, n, max_order, scores) == 0, "%s: self_bleu_scores", name);
        double worst = fabs(mean - json_real_value(json_object_get(set, "mean")));
        int worst_at = -1;
        for (int t = 0; t < n; t++) {
            double error = fabs(scores[t] - json_real_value(json_array_get(want_scores, t)));
            if (!(error <= worst)) {
                worst = error;
                worst_at = t;
            }
        }
        printf("  self-BLEU-%d %-30s %3d texts, worst |error| vs nltk %.3g, %.4f s\n", max_order,
               name, n, worst, elapsed);
        CHECK(worst <= NLTK_TOLERANCE, "%s: |error| %.3g (text %d; -1: the mean)", name, worst,
              worst_at);
        // The speed a real evaluation set needs (200 texts of 60 words); it takes milliseconds.
        if (n >= 200)
            CHECK(elapsed < 1.0, "%s: %.3f s, expected well under a second", name, elapsed);
        free(texts);
        free(scores);
    }
}

// The fixture's markers are ARE.md's list typed in independently of io/are_config.c's default
// (which test_are_config checks), so the unit checks below use them.
int main(void) {
    test_words();
    test_repetition();
    test_self_bleu_by_hand();
    test_preservation_by_hand();
    test_refusal_scope();
    json_t *root = load_fixture("text_metrics.json");
    if (root) {
        int n;
        const char **markers = string_array(json_object_get(root, "markers"), &n);
        bool all = markers != NULL;
        for (int i = 0; all && i < n; i++) all = markers[i] != NULL;
        CHECK(all, "the fixture's markers are strings");
        if (all) {
            test_refusal_markers(markers, n);
            test_answer_rate(markers, n);
            test_texts_match_fixture(root, markers, n);
        }
        test_self_bleu_matches_nltk(root);
        free(markers);
        json_decref(root);
    }
    if ((root = load_fixture("eval_metrics.json"))) {
        test_eval_metrics_match_fixture(root);
        json_decref(root);
    }
    return check_summary();
}
