// Text metrics (see text_metrics.h). Equal words and equal n-grams are found exactly by
// sorting, never by hashes that could collide: words get dense ids, and the n-grams of order k
// get dense ids from the pair (id of their first k-1 words, id of their last word), so every
// order costs one sort of 64-bit keys.
#include "text_metrics.h"

#include <assert.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// ---------------------------------------------------------------------------------------------
// Refusal markers

static char ascii_lower(char c) {
    return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static bool contains_ignoring_case(const char *text, const char *marker) {
    size_t len = strlen(marker);
    for (const char *s = text;; s++) {
        size_t i = 0;
        // A mismatch at the text's NUL stops the comparison, so s never runs past the text.
        while (i < len && ascii_lower(s[i]) == ascii_lower(marker[i])) i++;
        if (i == len) return true;
        if (*s == '\0') return false;
    }
}

// The ASCII character that the typographic quote s starts with stands for ('\'' or '"'), with
// its length in bytes in *len; 0 when s does not start with one (see text_metrics.h).
static char ascii_quote(const char *text, int *len) {
    const unsigned char *s = (const unsigned char *)text;
    *len = 3;
    if (s[0] == 0xe2 && s[1] == 0x80) { // U+2018 U+2019 U+201B; U+201C..U+201F
        if (s[2] == 0x98 || s[2] == 0x99 || s[2] == 0x9b) return '\'';
        if (s[2] >= 0x9c && s[2] <= 0x9f) return '"';
        if (s[2] == 0xb2) return '\''; // U+2032 prime
        if (s[2] == 0xb3) return '"';  // U+2033 double prime
    }
    if (s[0] == 0xef && s[1] == 0xbc && (s[2] == 0x87 || s[2] == 0x82)) // U+FF07 U+FF02
        return s[2] == 0x87 ? '\'' : '"';
    *len = 2;
    if (s[0] == 0xca && s[1] == 0xbc) return '\''; // U+02BC modifier letter apostrophe
    return 0;
}

// A malloc'd copy of text[0..len) with typographic quotes replaced by ASCII ones; NULL when
// out of memory.
static char *ascii_quotes(const char *text, size_t len) {
    char *out = malloc(len + 1), *o = out;
    if (!out) return NULL;
    for (size_t i = 0; i < len;) {
        int k;
        char quote = ascii_quote(text + i, &k);
        if (quote && i + (size_t)k <= len) {
            *o++ = quote;
            i += (size_t)k;
        } else {
            *o++ = text[i++];
        }
    }
    *o = '\0';
    return out;
}

static const char *next_sentence(const char **cursor, size_t *len);

// Bytes of text up to the end of its first n sentences (the whole text when it has fewer).
static size_t opening_length(const char *text, int n) {
    const char *cursor = text;
    size_t len;
    for (int i = 0; i < n; i++)
        if (!next_sentence(&cursor, &len)) return strlen(text);
    return (size_t)(cursor - text);
}

bool text_is_refusal(const char *text, const RefusalRule *rule) {
    size_t len =
        rule->opening_sentences > 0 ? opening_length(text, rule->opening_sentences) : strlen(text);
    // Out of memory: matched as written, the only way left.
    char *plain = ascii_quotes(text, len);
    bool found = false;
    for (int i = 0; i < rule->n_markers && !found; i++) {
        char *marker = ascii_quotes(rule->markers[i], strlen(rule->markers[i]));
        const char *m = marker ? marker : rule->markers[i], *t = plain ? plain : text;
        found = rule->case_sensitive ? strstr(t, m) != NULL : contains_ignoring_case(t, m);
        free(marker);
    }
    free(plain);
    return found;
}

// ---------------------------------------------------------------------------------------------
// Words and sentences

// Bytes of the whitespace character that s starts with (one of Python's str.isspace()
// characters, UTF-8 encoded), or 0 when s does not start with one. Short-circuiting reads no
// byte past a NUL.
static int space_length(const char *text) {
    const unsigned char *s = (const unsigned char *)text;
    if ((s[0] >= 0x09 && s[0] <= 0x0d) || (s[0] >= 0x1c && s[0] <= 0x20)) return 1;
    if (s[0] == 0xc2) return s[1] == 0x85 || s[1] == 0xa0 ? 2 : 0; // U+0085 U+00A0
    if (s[0] == 0xe1) return s[1] == 0x9a && s[2] == 0x80 ? 3 : 0; // U+1680
    if (s[0] == 0xe2 && s[1] == 0x80) // U+2000..U+200A U+2028 U+2029 U+202F
        return (s[2] >= 0x80 && s[2] <= 0x8a) || s[2] == 0xa8 || s[2] == 0xa9 || s[2] == 0xaf ? 3
                                                                                              : 0;
    if (s[0] == 0xe2) return s[1] == 0x81 && s[2] == 0x9f ? 3 : 0; // U+205F
    if (s[0] == 0xe3) return s[1] == 0x80 && s[2] == 0x80 ? 3 : 0; // U+3000
    return 0;
}

// The next word at or after *cursor, moving *cursor past it: its first byte, with its length in
// *len; NULL when no word is left. Inside a word, stepping byte by byte is safe: UTF-8
// continuation bytes never look like the first byte of a whitespace character.
static const char *next_word(const char **cursor, size_t *len) {
    const char *s = *cursor;
    for (int k; (k = space_length(s)) > 0;) s += k;
    if (*s == '\0') return NULL;
    const char *word = s;
    while (*s != '\0' && space_length(s) == 0) s++;
    *len = (size_t)(s - word);
    *cursor = s;
    return word;
}

static bool is_terminator(char c) {
    return c == '.' || c == '!' || c == '?' || c == '\n';
}

// The next sentence at or after *cursor (whitespace-stripped, never empty), moving *cursor past
// it: its first byte, with its length in *len; NULL when no sentence is left.
static const char *next_sentence(const char **cursor, size_t *len) {
    const char *s = *cursor;
    for (int k; (k = is_terminator(*s) ? 1 : space_length(s)) > 0;) s += k;
    if (*s == '\0') return NULL;
    const char *sentence = s, *end = s;
    while (*s != '\0' && !is_terminator(*s)) {
        int k = space_length(s);
        if (k == 0) end = s + 1; // the sentence ends after its last non-whitespace byte
        s += k > 0 ? k : 1;
    }
    *len = (size_t)(end - sentence);
    *cursor = s;
    return sentence;
}

size_t text_word_count(const char *text) {
    size_t n = 0, len;
    for (const char *cursor = text; next_word(&cursor, &len);) n++;
    return n;
}

static double repeated_share(size_t unique, size_t total) {
    return total > 0 ? 1.0 - (double)unique / (double)total : 0.0;
}

// ---------------------------------------------------------------------------------------------
// Dense ids by sorting

// A piece of text, [bytes, bytes + len), whose id goes to ids[slot].
typedef struct {
    const char *bytes;
    size_t len;
    size_t slot;
} Span;

// An n-gram as (id of its first n-1 words) << 32 | (id of its last word), whose id goes to
// ids[slot].
typedef struct {
    uint64_t key;
    size_t slot;
} GramKey;

static int compare_spans(const void *a, const void *b) {
    const Span *x = a, *y = b;
    int c = memcmp(x->bytes, y->bytes, x->len < y->len ? x->len : y->len);
    if (c != 0) return c;
    return (x->len > y->len) - (x->len < y->len);
}

static int compare_gram_keys(const void *a, const void *b) {
    const GramKey *x = a, *y = b;
    return (x->key > y->key) - (x->key < y->key);
}

// Sorts spans [n] and gives equal ones equal ids 0, 1, ... in ids[slot] (ids NULL: only
// counts); returns the number of distinct spans.
static size_t assign_span_ids(Span *spans, size_t n, uint32_t *ids) {
    qsort(spans, n, sizeof *spans, compare_spans);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || compare_spans(&spans[i - 1], &spans[i]) != 0) distinct++;
        if (ids) ids[spans[i].slot] = (uint32_t)(distinct - 1);
    }
    return distinct;
}

// As assign_span_ids, for n-gram keys.
static size_t assign_gram_ids(GramKey *keys, size_t n, uint32_t *ids) {
    qsort(keys, n, sizeof *keys, compare_gram_keys);
    size_t distinct = 0;
    for (size_t i = 0; i < n; i++) {
        if (i == 0 || keys[i - 1].key != keys[i].key) distinct++;
        ids[keys[i].slot] = (uint32_t)(distinct - 1);
    }
    return distinct;
}

// ---------------------------------------------------------------------------------------------
// N-grams of a set of texts, one order at a time

typedef struct {
    int n_texts;
    int order;       // n of the n-grams in grams
    size_t *start;   // [n_texts + 1] index of each text's first word; start[n_texts] = total
    uint32_t *words; // [total] word ids, text after text: equal words, equal ids
    uint32_t *grams; // [total] id of the n-gram starting at each word (where one fits in the text)
    size_t n_distinct; // distinct n-grams of this order over all texts: ids 0 .. n_distinct-1
    GramKey *keys;     // [total] sort scratch
} Grams;

static void grams_free(Grams *g) {
    free(g->start);
    free(g->words);
    free(g->grams);
    free(g->keys);
}

// Number of n-grams of the current order in text t.
static size_t grams_in_text(const Grams *g, int t) {
    size_t len = g->start[t + 1] - g->start[t];
    return len >= (size_t)g->order ? len - (size_t)g->order + 1 : 0;
}

// Splits texts [n_texts] into words and gives them ids (order 1). Returns 0, or -1 when memory
// runs out or there are more words than 32-bit ids can number.
static int grams_init(Grams *g, const char *const *texts, int n_texts) {
    *g = (Grams){.n_texts = n_texts, .order = 1};
    g->start = malloc(((size_t)n_texts + 1) * sizeof *g->start);
    if (!g->start) return -1;
    g->start[0] = 0;
    for (int t = 0; t < n_texts; t++) g->start[t + 1] = g->start[t] + text_word_count(texts[t]);
    size_t total = g->start[n_texts];
    if (total >= UINT32_MAX) {
        grams_free(g);
        return -1;
    }
    size_t slots = total > 0 ? total : 1; // malloc(0) may return NULL
    g->words = malloc(slots * sizeof *g->words);
    g->grams = malloc(slots * sizeof *g->grams);
    g->keys = malloc(slots * sizeof *g->keys);
    Span *spans = malloc(slots * sizeof *spans);
    if (!g->words || !g->grams || !g->keys || !spans) {
        free(spans);
        grams_free(g);
        return -1;
    }
    size_t i = 0, len;
    for (int t = 0; t < n_texts; t++) {
        const char *cursor = texts[t], *word;
        while ((word = next_word(&cursor, &len))) {
            spans[i] = (Span){word, len, i};
            i++;
        }
    }
    g->n_distinct = assign_span_ids(spans, total, g->words);
    free(spans);
    memcpy(g->grams, g->words, total * sizeof *g->grams);
    return 0;
}

// Moves grams to the next order: the n-gram at word i extends the one of the order before
// (still in grams[i]) by word i + order.
static void grams_next_order(Grams *g) {
    size_t k = (size_t)g->order + 1;
    size_t n_keys = 0;
    for (int t = 0; t < g->n_texts; t++)
        for (size_t i = g->start[t]; i + k <= g->start[t + 1]; i++)
            g->keys[n_keys++] = (GramKey){(uint64_t)g->grams[i] << 32 | g->words[i + k - 1], i};
    g->n_distinct = assign_gram_ids(g->keys, n_keys, g->grams);
    g->order = (int)k;
}

// ---------------------------------------------------------------------------------------------
// Repetition

double repetition_n(const char *text, int n) {
    assert(n >= 1);
    Grams g;
    if (grams_init(&g, &text, 1) != 0) return NAN;
    while (g.order < n && grams_in_text(&g, 0) > 0) grams_next_order(&g);
    size_t total = g.order == n ? grams_in_text(&g, 0) : 0;
    double share = repeated_share(g.n_distinct, total);
    grams_free(&g);
    return share;
}

double repetition_sentences(const char *text) {
    size_t n = 0, len;
    for (const char *cursor = text; next_sentence(&cursor, &len);) n++;
    if (n == 0) return 0.0;
    Span *spans = malloc(n * sizeof *spans);
    if (!spans) return NAN;
    const char *cursor = text, *sentence;
    for (size_t i = 0; (sentence = next_sentence(&cursor, &len)); i++)
        spans[i] = (Span){sentence, len, i};
    double share = repeated_share(assign_span_ids(spans, n, NULL), n);
    free(spans);
    return share;
}

// ---------------------------------------------------------------------------------------------
// Answer rate

static bool has_letter(const char *word, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)word[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c >= 0x80) return true;
    }
    return false;
}

bool text_is_degenerate(const char *text) {
    const char *cursor = text, *word, *first = NULL;
    size_t len, first_len = 0;
    int with_letter = 0;
    bool one_word_repeated = true;
    while ((word = next_word(&cursor, &len))) {
        if (!first) {
            first = word;
            first_len = len;
        } else if (len != first_len || memcmp(word, first, len) != 0) {
            one_word_repeated = false;
        }
        with_letter += has_letter(word, len);
    }
    if (with_letter < TEXT_ANSWER_MIN_WORDS || one_word_repeated) return true;
    return !(repetition_n(text, 4) < TEXT_ANSWER_MAX_REPETITION4); // NaN counts as degenerate
}

bool text_is_answer(const char *text, const RefusalRule *rule) {
    return !text_is_degenerate(text) && !text_is_refusal(text, rule);
}

// ---------------------------------------------------------------------------------------------
// Self-BLEU

// For each n-gram id of one order (arrays sized for the total words): the largest count it has
// in any one text, a text with that count, and the largest count in any other text, so that
// the largest count over the references of hypothesis t (all texts but t) is a lookup.
typedef struct {
    uint32_t *best;
    int *best_text;
    uint32_t *second;
    uint32_t *count;          // scratch, all 0 between uses
    uint32_t *distinct;       // [total] each text's distinct n-grams, text after text
    uint32_t *distinct_count; // [total] their counts within their text
    size_t *first;            // [n_texts + 1] text t's are distinct[first[t] .. first[t+1])
} ReferenceCounts;

static void reference_counts_free(ReferenceCounts *r) {
    free(r->best);
    free(r->best_text);
    free(r->second);
    free(r->count);
    free(r->distinct);
    free(r->distinct_count);
    free(r->first);
}

static int reference_counts_init(ReferenceCounts *r, size_t total, int n_texts) {
    size_t slots = total > 0 ? total : 1;
    *r = (ReferenceCounts){
        .best = malloc(slots * sizeof *r->best),
        .best_text = malloc(slots * sizeof *r->best_text),
        .second = malloc(slots * sizeof *r->second),
        .count = calloc(slots, sizeof *r->count),
        .distinct = malloc(slots * sizeof *r->distinct),
        .distinct_count = malloc(slots * sizeof *r->distinct_count),
        .first = malloc(((size_t)n_texts + 1) * sizeof *r->first),
    };
    if (r->best && r->best_text && r->second && r->count && r->distinct && r->distinct_count &&
        r->first)
        return 0;
    reference_counts_free(r);
    return -1;
}

// Counts the n-grams of g's current order per text and over all texts.
static void reference_counts_fill(ReferenceCounts *r, const Grams *g) {
    size_t m = 0;
    for (int t = 0; t < g->n_texts; t++) {
        r->first[t] = m;
        for (size_t i = g->start[t], end = i + grams_in_text(g, t); i < end; i++)
            if (r->count[g->grams[i]]++ == 0) r->distinct[m++] = g->grams[i];
        for (size_t j = r->first[t]; j < m; j++) {
            r->distinct_count[j] = r->count[r->distinct[j]];
            r->count[r->distinct[j]] = 0;
        }
    }
    r->first[g->n_texts] = m;

    for (size_t id = 0; id < g->n_distinct; id++) {
        r->best[id] = r->second[id] = 0;
        r->best_text[id] = -1;
    }
    for (int t = 0; t < g->n_texts; t++) {
        for (size_t j = r->first[t]; j < r->first[t + 1]; j++) {
            uint32_t id = r->distinct[j], c = r->distinct_count[j];
            if (c > r->best[id]) {
                r->second[id] = r->best[id];
                r->best[id] = c;
                r->best_text[id] = t;
            } else if (c > r->second[id]) {
                r->second[id] = c;
            }
        }
    }
}

// nltk's modified precision numerator for hypothesis t: its n-gram counts clipped to the
// largest count in any one reference.
static size_t clipped_matches(const ReferenceCounts *r, int t) {
    size_t clipped = 0;
    for (size_t j = r->first[t]; j < r->first[t + 1]; j++) {
        uint32_t id = r->distinct[j];
        uint32_t in_references = r->best_text[id] == t ? r->second[id] : r->best[id];
        clipped += r->distinct_count[j] < in_references ? r->distinct_count[j] : in_references;
    }
    return clipped;
}

static int compare_sizes(const void *a, const void *b) {
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return (x > y) - (x < y);
}

// nltk's closest_ref_length over the texts other than a hypothesis of hyp_len words: the
// nearest length, the shorter on a tie. sorted [n >= 2] holds every text's length in ascending
// order, the hypothesis's own among them.
static size_t closest_other_length(const size_t *sorted, int n, size_t hyp_len) {
    int own = 0, hi = n; // own: first index holding hyp_len (the hypothesis's, or an equal one)
    while (own < hi) {
        int mid = own + (hi - own) / 2;
        if (sorted[mid] < hyp_len)
            own = mid + 1;
        else
            hi = mid;
    }
    if (own + 1 < n && sorted[own + 1] == hyp_len) return hyp_len;
    if (own + 1 == n) return sorted[own - 1];
    if (own == 0) return sorted[own + 1];
    size_t shorter = sorted[own - 1], longer = sorted[own + 1];
    return hyp_len - shorter <= longer - hyp_len ? shorter : longer;
}

// sentence_bleu from the clipped and total n-gram counts [max_order] of one hypothesis.
static double sentence_bleu(const size_t *clipped, const size_t *total, int max_order,
                            size_t hyp_len, size_t ref_len) {
    if (clipped[0] == 0) return 0.0;
    double weight = 1.0 / max_order, log_sum = 0.0;
    for (int k = 0; k < max_order; k++) {
        double denominator = (double)(total[k] > 0 ? total[k] : 1);
        double p = clipped[k] > 0 ? (double)clipped[k] / denominator : 0.1 / denominator;
        log_sum += weight * log(p);
    }
    double brevity = hyp_len > ref_len ? 1.0 : exp(1.0 - (double)ref_len / (double)hyp_len);
    return brevity * exp(log_sum);
}

int self_bleu_scores(const char *const *texts, int n, int max_order, double *scores) {
    assert(n >= 0 && max_order >= 1);
    if (n < 2) {
        for (int t = 0; t < n; t++) scores[t] = NAN;
        return 0;
    }
    Grams g;
    if (grams_init(&g, texts, n) != 0) return -1;
    ReferenceCounts r;
    size_t *clipped = malloc((size_t)n * (size_t)max_order * sizeof *clipped);
    size_t *total = malloc((size_t)n * (size_t)max_order * sizeof *total);
    size_t *sorted_lengths = malloc((size_t)n * sizeof *sorted_lengths);
    if (!clipped || !total || !sorted_lengths || reference_counts_init(&r, g.start[n], n) != 0) {
        free(clipped);
        free(total);
        free(sorted_lengths);
        grams_free(&g);
        return -1;
    }

    // clipped, total [n, max_order]
    for (int k = 1; k <= max_order; k++) {
        if (k > 1) grams_next_order(&g);
        reference_counts_fill(&r, &g);
        for (int t = 0; t < n; t++) {
            clipped[t * max_order + k - 1] = clipped_matches(&r, t);
            total[t * max_order + k - 1] = grams_in_text(&g, t);
        }
    }
    for (int t = 0; t < n; t++) sorted_lengths[t] = g.start[t + 1] - g.start[t];
    qsort(sorted_lengths, (size_t)n, sizeof *sorted_lengths, compare_sizes);
    for (int t = 0; t < n; t++) {
        size_t hyp_len = g.start[t + 1] - g.start[t];
        size_t ref_len = closest_other_length(sorted_lengths, n, hyp_len);
        scores[t] = sentence_bleu(&clipped[t * max_order], &total[t * max_order], max_order,
                                  hyp_len, ref_len);
    }

    reference_counts_free(&r);
    free(clipped);
    free(total);
    free(sorted_lengths);
    grams_free(&g);
    return 0;
}

double self_bleu(const char *const *texts, int n, int max_order) {
    if (n < 2) return NAN;
    double *scores = malloc((size_t)n * sizeof *scores);
    if (!scores || self_bleu_scores(texts, n, max_order, scores) != 0) {
        free(scores);
        return NAN;
    }
    double sum = 0.0;
    for (int t = 0; t < n; t++) sum += scores[t];
    free(scores);
    return sum / n;
}

// ---------------------------------------------------------------------------------------------
// Collapse across texts and preservation of a text

double distinct_texts(const char *const *texts, int n) {
    if (n < 1) return NAN;
    // Texts are equal after whitespace normalisation exactly when their word id sequences are.
    Grams g;
    if (grams_init(&g, texts, n) != 0) return NAN;
    Span *spans = malloc((size_t)n * sizeof *spans);
    if (!spans) {
        grams_free(&g);
        return NAN;
    }
    for (int t = 0; t < n; t++)
        spans[t] = (Span){(const char *)(g.words + g.start[t]),
                          (g.start[t + 1] - g.start[t]) * sizeof *g.words, (size_t)t};
    double share = (double)assign_span_ids(spans, (size_t)n, NULL) / n;
    free(spans);
    grams_free(&g);
    return share;
}

double distinct_n(const char *const *texts, int n, int order) {
    assert(order >= 1);
    if (n < 1) return NAN;
    Grams g;
    if (grams_init(&g, texts, n) != 0) return NAN;
    while (g.order < order) grams_next_order(&g);
    size_t total = 0;
    for (int t = 0; t < n; t++) total += grams_in_text(&g, t);
    double share = total > 0 ? (double)g.n_distinct / (double)total : NAN;
    grams_free(&g);
    return share;
}

double rouge_l_f1(const char *reference, const char *candidate) {
    const char *pair[] = {reference, candidate};
    Grams g;
    if (grams_init(&g, pair, 2) != 0) return NAN;
    size_t nr = g.start[1], nc = g.start[2] - g.start[1];
    const uint32_t *r = g.words, *c = g.words + nr;
    double f1;
    if (nr == 0 || nc == 0) {
        f1 = nr == nc ? 1.0 : 0.0;
    } else {
        // LCS by dynamic programming over the candidate, one row of the table at a time.
        size_t *row = calloc(nc + 1, sizeof *row);
        if (!row) {
            grams_free(&g);
            return NAN;
        }
        for (size_t i = 0; i < nr; i++) {
            size_t diagonal = 0; // row[j] of the previous reference word, before it was updated
            for (size_t j = 1; j <= nc; j++) {
                size_t above = row[j];
                row[j] = r[i] == c[j - 1]      ? diagonal + 1
                         : row[j - 1] > row[j] ? row[j - 1]
                                               : row[j];
                diagonal = above;
            }
        }
        size_t lcs = row[nc];
        free(row);
        double precision = (double)lcs / (double)nc, recall = (double)lcs / (double)nr;
        f1 = lcs > 0 ? 2 * precision * recall / (precision + recall) : 0.0;
    }
    grams_free(&g);
    return f1;
}
