// BPE training for a SentencePiece-style vocabulary with byte fallback (see tokenizer_train.h).
//
// Words are counted once each; a word is an array of token ids that shrinks as pairs merge.
// Each pair of adjacent ids keeps its count (summed over the words it occurs in, weighted by
// their counts) and the list of words it has occurred in, so a merge visits only the words
// that hold its pair: each such word takes its pairs out of the counts, merges, and puts its
// new pairs back. The next merge is the largest count, found by a scan over the pairs.
#include "tokenizer_train.h"
#include "fail.h"
#include "fnv1a.h"
#include "tokenizer_internal.h"
#include "unicode.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define MIN_PAIR_COUNT 2 // a pair seen once is not worth a token
#define N_BYTES        256

// --- strings: tokens, words and characters ---------------------------------------------------

// Distinct strings in an arena, numbered in order of arrival, each with a count, found by an
// open-addressing hash table of their numbers (-1 marks a free slot).
typedef struct {
    char *bytes;
    size_t size, cap;
    uint32_t *start, *len;
    int64_t *count;
    int n, n_cap;
    int32_t *index;
    uint32_t mask;
} StringTable;

static const char *string_at(const StringTable *st, int i) {
    return st->bytes + st->start[i];
}

// The slot of text in the index: where its number is, or the free slot where it would go.
static uint32_t string_slot(const StringTable *st, const char *text, size_t len) {
    uint32_t slot = (uint32_t)fnv1a(FNV1A_OFFSET, text, len) & st->mask;
    for (;; slot = (slot + 1) & st->mask) {
        int32_t i = st->index[slot];
        if (i < 0 || (st->len[i] == len && memcmp(string_at(st, i), text, len) == 0)) return slot;
    }
}

static int strings_find(const StringTable *st, const char *text, size_t len) {
    return st->index ? st->index[string_slot(st, text, len)] : -1;
}

// Room for one more string of len bytes: the arena, the per-string arrays and the index (kept
// at most half full) grow by doubling.
static bool strings_reserve(StringTable *st, size_t len) {
    if (st->size + len > st->cap) {
        size_t cap = st->cap ? st->cap : 4096;
        while (cap < st->size + len) cap *= 2;
        char *bytes = realloc(st->bytes, cap);
        if (!bytes) return false;
        st->bytes = bytes, st->cap = cap;
    }
    if (st->n == st->n_cap) {
        int cap = st->n_cap ? 2 * st->n_cap : 256;
        uint32_t *start = realloc(st->start, (size_t)cap * sizeof(uint32_t));
        if (start) st->start = start;
        uint32_t *lens = realloc(st->len, (size_t)cap * sizeof(uint32_t));
        if (lens) st->len = lens;
        int64_t *count = realloc(st->count, (size_t)cap * sizeof(int64_t));
        if (count) st->count = count;
        if (!start || !lens || !count) return false;
        st->n_cap = cap;
    }
    if (2 * ((size_t)st->n + 1) > (size_t)st->mask + 1 || !st->index) {
        uint32_t size = st->index ? 2 * (st->mask + 1) : 512;
        int32_t *index = malloc(size * sizeof(int32_t));
        if (!index) return false;
        memset(index, 0xff, size * sizeof(int32_t));
        free(st->index);
        st->index = index, st->mask = size - 1;
        for (int i = 0; i < st->n; i++) {
            st->index[string_slot(st, string_at(st, i), st->len[i])] = i;
        }
    }
    return true;
}

// The number of text, added (with count 0) when new; -1 when out of memory.
static int strings_intern(StringTable *st, const char *text, size_t len) {
    int found = strings_find(st, text, len);
    if (found >= 0) return found;
    if (len > UINT32_MAX || st->size + len > UINT32_MAX || !strings_reserve(st, len)) return -1;
    int i = st->n++;
    memcpy(st->bytes + st->size, text, len);
    st->start[i] = (uint32_t)st->size, st->len[i] = (uint32_t)len, st->count[i] = 0;
    st->size += len;
    st->index[string_slot(st, text, len)] = i;
    return i;
}

static void strings_free(StringTable *st) {
    free(st->bytes), free(st->start), free(st->len), free(st->count), free(st->index);
}

// --- pairs of adjacent tokens ------------------------------------------------------------------

typedef struct {
    int32_t left, right;
    int64_t count;  // occurrences in the corpus
    int32_t *words; // words it has occurred in (repeats, and words it has left, are possible)
    int n_words, words_cap;
    bool barred; // its text is a special or byte token's: never merged
} Pair;

typedef struct {
    Pair *items;
    int n, cap;
    int32_t *index; // open addressing by (left, right); -1 marks a free slot
    uint32_t mask;
} PairTable;

static uint32_t pair_slot(const PairTable *pt, int32_t left, int32_t right) {
    uint64_t h = ((uint64_t)(uint32_t)left << 32 | (uint32_t)right) * 0x9e3779b97f4a7c15u;
    uint32_t slot = (uint32_t)(h >> 32) & pt->mask;
    for (;; slot = (slot + 1) & pt->mask) {
        int32_t i = pt->index[slot];
        if (i < 0 || (pt->items[i].left == left && pt->items[i].right == right)) return slot;
    }
}

static bool pairs_grow(PairTable *pt) {
    if (pt->n == pt->cap) {
        int cap = pt->cap ? 2 * pt->cap : 1024;
        Pair *items = realloc(pt->items, (size_t)cap * sizeof(Pair));
        if (!items) return false;
        pt->items = items, pt->cap = cap;
    }
    if (pt->index && 2 * ((size_t)pt->n + 1) <= (size_t)pt->mask + 1) return true;
    uint32_t size = pt->index ? 2 * (pt->mask + 1) : 2048;
    int32_t *index = malloc(size * sizeof(int32_t));
    if (!index) return false;
    memset(index, 0xff, size * sizeof(int32_t));
    free(pt->index);
    pt->index = index, pt->mask = size - 1;
    for (int i = 0; i < pt->n; i++) {
        pt->index[pair_slot(pt, pt->items[i].left, pt->items[i].right)] = i;
    }
    return true;
}

// Adds count occurrences of (left, right) in word (a negative count takes them away); lists
// the word under the pair when list_word. Returns false when out of memory.
static bool pairs_add(PairTable *pt, int32_t left, int32_t right, int64_t count, int word,
                      bool list_word) {
    if (!pairs_grow(pt)) return false;
    uint32_t slot = pair_slot(pt, left, right);
    if (pt->index[slot] < 0) {
        pt->index[slot] = pt->n;
        pt->items[pt->n++] = (Pair){left, right, 0, NULL, 0, 0, false};
    }
    Pair *p = &pt->items[pt->index[slot]];
    p->count += count;
    if (!list_word) return true;
    if (p->n_words == p->words_cap) {
        int cap = p->words_cap ? 2 * p->words_cap : 4;
        int32_t *words = realloc(p->words, (size_t)cap * sizeof(int32_t));
        if (!words) return false;
        p->words = words, p->words_cap = cap;
    }
    p->words[p->n_words++] = word;
    return true;
}

static void pairs_free(PairTable *pt) {
    for (int i = 0; i < pt->n; i++) free(pt->items[i].words);
    free(pt->items), free(pt->index);
}

// --- the trainer -------------------------------------------------------------------------------

struct TokenizerTrainer {
    int vocab_size; // asked for
    FILE *progress;
    StringTable tokens; // token i is string i: specials, bytes, characters, merged tokens
    int n_special, unk, bos, eos;
    int *special_order; // the special tokens as the encoder tries them
    int first_char;     // tokens from here on merge (special and byte tokens never do)
    StringTable words;
    bool trained;
    // After training: word i is ids[word_start[i] .. + word_len[i]).
    int32_t *ids;
    uint32_t *word_start, *word_len;
    int32_t *merges; // [n_merges, 2]: left and right ids, in training order
    int n_merges, merges_cap;
};

// The special tokens, longest first (ties by id), as the encoder tries them.
static int compare_specials(const void *a, const void *b, void *tokens) {
    const StringTable *st = tokens;
    int x = *(const int *)a, y = *(const int *)b;
    if (st->len[x] != st->len[y]) return st->len[x] > st->len[y] ? -1 : 1;
    return x - y;
}

static bool is_valid_utf8(const char *s, size_t len) {
    for (size_t i = 0; i < len;) {
        uint32_t cp;
        i += (size_t)utf8_decode(s + i, len - i, &cp);
        if (cp == UNICODE_INVALID) return false;
    }
    return true;
}

static int add_special(TokenizerTrainer *t, const char *name, char *err, size_t err_len) {
    size_t len = strlen(name);
    if (len == 0 || !is_valid_utf8(name, len)) {
        return fail(err, err_len, "special token '%s' is empty or not UTF-8", name);
    }
    int id = strings_intern(&t->tokens, name, len);
    if (id < 0) return fail(err, err_len, "out of memory");
    return id;
}

// The tokens that come before any learned one: special tokens, then bytes.
static int add_fixed_tokens(TokenizerTrainer *t, const TokenizerTrainOptions *opt, char *err,
                            size_t err_len) {
    if ((t->unk = add_special(t, opt->unk ? opt->unk : "<unk>", err, err_len)) < 0 ||
        (t->bos = add_special(t, opt->bos ? opt->bos : "<s>", err, err_len)) < 0 ||
        (t->eos = add_special(t, opt->eos ? opt->eos : "</s>", err, err_len)) < 0) {
        return -1;
    }
    for (int i = 0; i < opt->n_specials; i++) {
        if (add_special(t, opt->specials[i], err, err_len) < 0) return -1;
    }
    t->n_special = t->tokens.n;
    t->special_order = malloc((size_t)t->n_special * sizeof(int));
    if (!t->special_order) return fail(err, err_len, "out of memory");
    for (int i = 0; i < t->n_special; i++) t->special_order[i] = i;
    qsort_r(t->special_order, (size_t)t->n_special, sizeof(int), compare_specials, &t->tokens);
    for (int b = 0; b < N_BYTES; b++) {
        char name[8];
        snprintf(name, sizeof(name), "<0x%02X>", b);
        if (strings_find(&t->tokens, name, 6) >= 0) {
            return fail(err, err_len, "special token '%s' is the name of a byte token", name);
        }
        if (strings_intern(&t->tokens, name, 6) < 0) return fail(err, err_len, "out of memory");
    }
    t->first_char = t->tokens.n;
    if (t->vocab_size <= t->first_char) {
        return fail(err, err_len,
                    "a vocabulary of %d tokens has no room beyond the %d special and %d byte "
                    "tokens",
                    t->vocab_size, t->n_special, N_BYTES);
    }
    return 0;
}

TokenizerTrainer *tokenizer_trainer_new(const TokenizerTrainOptions *opt, char *err,
                                        size_t err_len) {
    TokenizerTrainer *t = calloc(1, sizeof(*t));
    if (!t) {
        fail(err, err_len, "out of memory");
        return NULL;
    }
    t->vocab_size = opt->vocab_size;
    t->progress = opt->progress;
    if (add_fixed_tokens(t, opt, err, err_len)) {
        tokenizer_trainer_free(t);
        return NULL;
    }
    return t;
}

void tokenizer_trainer_free(TokenizerTrainer *t) {
    if (!t) return;
    strings_free(&t->tokens);
    strings_free(&t->words);
    free(t->special_order);
    free(t->ids), free(t->word_start), free(t->word_len), free(t->merges);
    free(t);
}

// --- cutting text into words, as the loader's encoder does -------------------------------------

// What to do with each word of a text, and with each special token found in it.
typedef struct {
    int (*word)(void *ctx, const char *word, size_t len);
    int (*special)(void *ctx, int id);
    void *ctx;
} WordVisitor;

// A stretch without special tokens: spaces become "▁", one "▁" goes before the text's start
// unless it begins with a space, and each "▁" begins a word. normal has room for the result.
static int visit_plain(const char *text, size_t start, size_t len, char *normal,
                       const WordVisitor *v) {
    const char *s = text + start;
    size_t n = 0;
    if (start == 0 && s[0] != ' ') {
        memcpy(normal, SPACE_MARK, SPACE_MARK_LEN);
        n = SPACE_MARK_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (s[i] == ' ') {
            memcpy(normal + n, SPACE_MARK, SPACE_MARK_LEN);
            n += SPACE_MARK_LEN;
        } else {
            normal[n++] = s[i];
        }
    }
    size_t word = 0;
    for (size_t i = 1; i < n; i++) {
        if (n - i >= SPACE_MARK_LEN && memcmp(normal + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
            if (v->word(v->ctx, normal + word, i - word)) return -1;
            word = i;
        }
    }
    return v->word(v->ctx, normal + word, n - word);
}

// Cuts text[start, start + len) at every match of the k-th special token to try, then the
// stretches between the matches at the later (shorter) ones.
static int visit_segment(const TokenizerTrainer *t, int k, const char *text, size_t start,
                         size_t len, char *normal, const WordVisitor *v) {
    if (len == 0) return 0;
    if (k == t->n_special) return visit_plain(text, start, len, normal, v);
    int id = t->special_order[k];
    const char *needle = string_at(&t->tokens, id);
    size_t needle_len = t->tokens.len[id], pos = start, end = start + len;
    const char *match;
    while (pos < end && (match = memmem(text + pos, end - pos, needle, needle_len))) {
        size_t at = (size_t)(match - text);
        if (visit_segment(t, k + 1, text, pos, at - pos, normal, v)) return -1;
        if (v->special(v->ctx, id)) return -1;
        pos = at + needle_len;
    }
    return visit_segment(t, k + 1, text, pos, end - pos, normal, v);
}

static int visit_words(const TokenizerTrainer *t, const char *text, size_t len,
                       const WordVisitor *v) {
    char *normal = malloc(SPACE_MARK_LEN * (len + 1));
    if (!normal) return -1;
    int status = visit_segment(t, 0, text, 0, len, normal, v);
    free(normal);
    return status;
}

static int count_word(void *ctx, const char *word, size_t len) {
    StringTable *words = ctx;
    int i = strings_intern(words, word, len);
    if (i < 0) return -1;
    words->count[i]++;
    return 0;
}

static int skip_special(void *ctx, int id) {
    (void)ctx, (void)id;
    return 0;
}

int tokenizer_trainer_add_text(TokenizerTrainer *t, const char *text, size_t len, char *err,
                               size_t err_len) {
    if (t->trained) return fail(err, err_len, "text added after training");
    WordVisitor v = {count_word, skip_special, &t->words};
    if (visit_words(t, text, len, &v)) return fail(err, err_len, "out of memory");
    return 0;
}

// --- training ------------------------------------------------------------------------------------

// Characters by count, most frequent first, ties in byte order.
static int compare_chars(const void *a, const void *b, void *chars) {
    const StringTable *st = chars;
    int x = *(const int *)a, y = *(const int *)b;
    if (st->count[x] != st->count[y]) return st->count[x] > st->count[y] ? -1 : 1;
    uint32_t len = st->len[x] < st->len[y] ? st->len[x] : st->len[y];
    int c = memcmp(string_at(st, x), string_at(st, y), len);
    return c ? c : (int)st->len[x] - (int)st->len[y];
}

// The characters of the corpus (well-formed UTF-8 only) become tokens, as many as fit.
static int choose_characters(TokenizerTrainer *t) {
    StringTable chars = {0};
    int status = 0;
    for (int w = 0; w < t->words.n && status == 0; w++) {
        const char *word = string_at(&t->words, w);
        uint32_t cp;
        for (size_t i = 0, len = t->words.len[w]; i < len && status == 0;) {
            int char_len = utf8_decode(word + i, len - i, &cp);
            if (cp != UNICODE_INVALID) {
                int c = strings_intern(&chars, word + i, (size_t)char_len);
                if (c < 0) {
                    status = -1;
                } else {
                    chars.count[c] += t->words.count[w];
                }
            }
            i += (size_t)char_len;
        }
    }
    int *order = status == 0 ? malloc(((size_t)chars.n + 1) * sizeof(int)) : NULL;
    if (!order) status = -1;
    for (int i = 0; status == 0 && i < chars.n; i++) order[i] = i;
    if (status == 0) qsort_r(order, (size_t)chars.n, sizeof(int), compare_chars, &chars);
    int room = t->vocab_size - t->tokens.n;
    for (int i = 0; status == 0 && i < chars.n && i < room; i++) {
        status = strings_intern(&t->tokens, string_at(&chars, order[i]), chars.len[order[i]]) < 0;
    }
    free(order);
    strings_free(&chars);
    return status ? -1 : 0;
}

// Each word as token ids: its characters, or the bytes of those that are not tokens.
static int words_to_ids(TokenizerTrainer *t) {
    t->ids = malloc((t->words.size + 1) * sizeof(int32_t));
    t->word_start = malloc(((size_t)t->words.n + 1) * sizeof(uint32_t));
    t->word_len = malloc(((size_t)t->words.n + 1) * sizeof(uint32_t));
    if (!t->ids || !t->word_start || !t->word_len) return -1;
    uint32_t n = 0;
    for (int w = 0; w < t->words.n; w++) {
        const char *word = string_at(&t->words, w);
        t->word_start[w] = n;
        uint32_t cp;
        for (size_t i = 0, len = t->words.len[w]; i < len;) {
            int char_len = utf8_decode(word + i, len - i, &cp);
            int id =
                cp == UNICODE_INVALID ? -1 : strings_find(&t->tokens, word + i, (size_t)char_len);
            if (id >= t->first_char) {
                t->ids[n++] = id;
            } else {
                for (int b = 0; b < char_len; b++) {
                    t->ids[n++] = t->n_special + (unsigned char)word[i + (size_t)b];
                }
            }
            i += (size_t)char_len;
        }
        t->word_len[w] = n - t->word_start[w];
    }
    return 0;
}

// Which pairs of a word list the word: all of them, none, or those that hold a given token.
enum { LIST_ALL = -1, LIST_NONE = -2 };

// Adds (sign 1) or takes away (sign -1) the pairs of word w, listing w under those that listed
// asks for.
static bool word_pairs(const TokenizerTrainer *t, PairTable *pt, int w, int sign, int listed) {
    const int32_t *ids = t->ids + t->word_start[w];
    int64_t count = sign * t->words.count[w];
    for (uint32_t i = 1; i < t->word_len[w]; i++) {
        if (ids[i - 1] < t->first_char || ids[i] < t->first_char) continue;
        bool list = listed == LIST_ALL || ids[i - 1] == listed || ids[i] == listed;
        if (!pairs_add(pt, ids[i - 1], ids[i], count, w, list)) return false;
    }
    return true;
}

// Replaces every (left, right) in word w by merged, left to right.
static void merge_in_word(TokenizerTrainer *t, int w, int32_t left, int32_t right, int32_t merged) {
    int32_t *ids = t->ids + t->word_start[w];
    uint32_t n = t->word_len[w], out = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (i + 1 < n && ids[i] == left && ids[i + 1] == right) {
            ids[out++] = merged;
            i++;
        } else {
            ids[out++] = ids[i];
        }
    }
    t->word_len[w] = out;
}

static bool word_has_pair(const TokenizerTrainer *t, int w, int32_t left, int32_t right) {
    const int32_t *ids = t->ids + t->word_start[w];
    for (uint32_t i = 1; i < t->word_len[w]; i++) {
        if (ids[i - 1] == left && ids[i] == right) return true;
    }
    return false;
}

// The pair to merge next: the largest count, ties to the smaller (left, right); -1 for none.
static int best_pair(const PairTable *pt) {
    int best = -1;
    for (int i = 0; i < pt->n; i++) {
        const Pair *p = &pt->items[i], *b = best >= 0 ? &pt->items[best] : NULL;
        if (p->count < MIN_PAIR_COUNT || p->barred) continue;
        if (!b || p->count > b->count ||
            (p->count == b->count &&
             (p->left < b->left || (p->left == b->left && p->right < b->right)))) {
            best = i;
        }
    }
    return best;
}

// Merges pair number best into a token (new, unless another merge spelled the same text).
// Returns the token, or -1 when out of memory. A pair whose text is a special or byte token's
// (a corpus that spells "<0x41>" out) is barred instead, and gives that token.
static int merge(TokenizerTrainer *t, PairTable *pt, int best, int *last_visit) {
    Pair p = pt->items[best]; // a copy: merging adds pairs, which may move the table
    size_t left_len = t->tokens.len[p.left], right_len = t->tokens.len[p.right];
    char *text = malloc(left_len + right_len);
    if (!text) return -1;
    memcpy(text, string_at(&t->tokens, p.left), left_len);
    memcpy(text + left_len, string_at(&t->tokens, p.right), right_len);
    int merged = strings_intern(&t->tokens, text, left_len + right_len);
    free(text);
    if (merged >= 0 && merged < t->first_char) pt->items[best].barred = true;
    if (merged < t->first_char) return merged;
    if (t->n_merges == t->merges_cap) { // a merge that adds no token would exceed a fixed bound
        int cap = t->merges_cap ? 2 * t->merges_cap : 1024;
        int32_t *merges = realloc(t->merges, 2 * (size_t)cap * sizeof(int32_t));
        if (!merges) return -1;
        t->merges = merges, t->merges_cap = cap;
    }
    t->merges[2 * t->n_merges] = p.left, t->merges[2 * t->n_merges + 1] = p.right;
    t->n_merges++;
    // The merged token is longer than either side, so the pairs that words are listed under
    // below never include this one: p.words is not reallocated while it is read.
    for (int k = 0; k < p.n_words; k++) {
        int w = p.words[k];
        if (last_visit[w] == t->n_merges || !word_has_pair(t, w, p.left, p.right)) continue;
        last_visit[w] = t->n_merges;
        if (!word_pairs(t, pt, w, -1, LIST_NONE)) return -1;
        merge_in_word(t, w, p.left, p.right, merged);
        if (!word_pairs(t, pt, w, 1, merged)) return -1;
    }
    Pair *done = &pt->items[best];
    free(done->words);
    done->words = NULL, done->n_words = done->words_cap = 0;
    return merged;
}

// A token's text on one line: control characters as \xXX.
static void print_token(FILE *f, const char *text, size_t len) {
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)text[i];
        if (c < 0x20 || c == 0x7f) {
            fprintf(f, "\\x%02X", c);
        } else {
            fputc(c, f);
        }
    }
}

int tokenizer_trainer_train(TokenizerTrainer *t, char *err, size_t err_len) {
    if (t->trained) return fail(err, err_len, "the tokenizer is trained already");
    t->trained = true;
    if (choose_characters(t) || words_to_ids(t)) return fail(err, err_len, "out of memory");
    int *last_visit = calloc((size_t)t->words.n + 1, sizeof(int));
    PairTable pt = {0};
    int status = last_visit ? 0 : -1;
    for (int w = 0; w < t->words.n && status == 0; w++) {
        if (!word_pairs(t, &pt, w, 1, LIST_ALL)) status = -1;
    }
    if (t->progress) {
        fprintf(t->progress, "%d distinct words, %d characters, %d pairs; up to %d merges\n",
                t->words.n, t->tokens.n - t->first_char, pt.n, t->vocab_size - t->tokens.n);
    }
    while (status == 0 && t->tokens.n < t->vocab_size) {
        int best = best_pair(&pt);
        if (best < 0) break;
        int64_t count = pt.items[best].count;
        int merged = merge(t, &pt, best, last_visit);
        if (merged < 0) status = -1;
        int step = t->n_merges;
        bool report = step % 100 == 0 || t->tokens.n == t->vocab_size;
        if (merged >= t->first_char && t->progress && report) {
            fprintf(t->progress, "merge %d: %d tokens, last '", step, t->tokens.n);
            print_token(t->progress, string_at(&t->tokens, merged), t->tokens.len[merged]);
            fprintf(t->progress, "' (%lld times)\n", (long long)count);
        }
    }
    pairs_free(&pt);
    free(last_visit);
    if (status) return fail(err, err_len, "out of memory");
    if (t->progress && t->tokens.n < t->vocab_size) {
        fprintf(t->progress, "no pair occurs %d times any more: %d tokens, not %d\n",
                MIN_PAIR_COUNT, t->tokens.n, t->vocab_size);
    }
    return 0;
}

int tokenizer_trainer_vocab_size(const TokenizerTrainer *t) {
    return t->tokens.n;
}

int tokenizer_trainer_merge_count(const TokenizerTrainer *t) {
    return t->n_merges;
}

// --- encoding with the trainer's own segmentation ------------------------------------------------

typedef struct {
    const TokenizerTrainer *t;
    int *ids;
    int max, count;
} Encoding;

static void encoding_push(Encoding *e, int id) {
    if (e->count < e->max) e->ids[e->count] = id;
    e->count++;
}

static int encode_word(void *ctx, const char *word, size_t len) {
    Encoding *e = ctx;
    int w = strings_find(&e->t->words, word, len);
    if (w < 0) return -1;
    for (uint32_t i = 0; i < e->t->word_len[w]; i++) {
        encoding_push(e, e->t->ids[e->t->word_start[w] + i]);
    }
    return 0;
}

static int encode_special(void *ctx, int id) {
    encoding_push(ctx, id);
    return 0;
}

int tokenizer_trainer_encode(const TokenizerTrainer *t, const char *text, size_t len, int *ids,
                             int max_ids) {
    if (!t->trained) return -1;
    Encoding e = {t, ids, max_ids, 0};
    WordVisitor v = {encode_word, encode_special, &e};
    return visit_words(t, text, len, &v) ? -1 : e.count;
}

// --- saving ------------------------------------------------------------------------------------

static json_t *token_string(const TokenizerTrainer *t, int id) {
    return json_stringn(string_at(&t->tokens, id), t->tokens.len[id]);
}

static json_t *added_tokens(const TokenizerTrainer *t) {
    json_t *list = json_array();
    for (int id = 0; id < t->n_special; id++) {
        json_array_append_new(list,
                              json_pack("{s:i, s:o, s:b, s:b, s:b, s:b, s:b}", "id", id, "content",
                                        token_string(t, id), "single_word", 0, "lstrip", 0,
                                        "rstrip", 0, "normalized", 0, "special", 1));
    }
    return list;
}

// Metaspace, as the loader and Hugging Face read it: "▁" for spaces, one before the text.
static json_t *metaspace(void) {
    return json_pack("{s:s, s:s, s:s, s:b}", "type", "Metaspace", "replacement", SPACE_MARK,
                     "prepend_scheme", "first", "split", 1);
}

// BOS before every text, as Llama-2 does.
static json_t *post_processor(const TokenizerTrainer *t) {
    json_t *bos = token_string(t, t->bos);
    const char *name = json_string_value(bos);
    json_t *processor = json_pack(
        "{s:s, s:[{s:{s:O, s:i}}, {s:{s:s, s:i}}], s:[{s:{s:O, s:i}}, {s:{s:s, s:i}}, "
        "{s:{s:O, s:i}}, {s:{s:s, s:i}}], s:{s:{s:O, s:[i], s:[O]}}}",
        "type", "TemplateProcessing", "single", "SpecialToken", "id", bos, "type_id", 0, "Sequence",
        "id", "A", "type_id", 0, "pair", "SpecialToken", "id", bos, "type_id", 0, "Sequence", "id",
        "A", "type_id", 0, "SpecialToken", "id", bos, "type_id", 1, "Sequence", "id", "B",
        "type_id", 1, "special_tokens", name, "id", bos, "ids", t->bos, "tokens", bos);
    json_decref(bos);
    return processor;
}

static json_t *model(const TokenizerTrainer *t) {
    json_t *vocab = json_object();
    for (int id = 0; id < t->tokens.n; id++) {
        char *name = strndup(string_at(&t->tokens, id), t->tokens.len[id]);
        if (name) json_object_set_new(vocab, name, json_integer(id));
        free(name);
    }
    json_t *merges = json_array();
    for (int k = 0; k < t->n_merges; k++) { // "left right": no token holds a space
        int left = t->merges[2 * k], right = t->merges[2 * k + 1];
        json_array_append_new(
            merges, json_sprintf("%.*s %.*s", (int)t->tokens.len[left], string_at(&t->tokens, left),
                                 (int)t->tokens.len[right], string_at(&t->tokens, right)));
    }
    return json_pack("{s:s, s:n, s:o, s:n, s:n, s:b, s:b, s:b, s:o, s:o}", "type", "BPE", "dropout",
                     "unk_token", token_string(t, t->unk), "continuing_subword_prefix",
                     "end_of_word_suffix", "fuse_unk", 1, "byte_fallback", 1, "ignore_merges", 0,
                     "vocab", vocab, "merges", merges);
}

static json_t *tokenizer_json(const TokenizerTrainer *t) {
    return json_pack("{s:s, s:n, s:n, s:o, s:n, s:o, s:o, s:{s:s, s:[o, {s:s}, {s:s}]}, s:o}",
                     "version", "1.0", "truncation", "padding", "added_tokens", added_tokens(t),
                     "normalizer", "pre_tokenizer", metaspace(), "post_processor",
                     post_processor(t), "decoder", "type", "Sequence", "decoders", metaspace(),
                     "type", "ByteFallback", "type", "Fuse", "model", model(t));
}

// What transformers reads beside tokenizer.json: the special tokens and that BOS goes first.
static json_t *tokenizer_config(const TokenizerTrainer *t) {
    json_t *extra = json_array();
    for (int id = 0; id < t->n_special; id++) {
        if (id != t->unk && id != t->bos && id != t->eos) {
            json_array_append_new(extra, token_string(t, id));
        }
    }
    return json_pack("{s:b, s:b, s:o, s:o, s:o, s:o, s:b, s:s}", "add_bos_token", 1,
                     "add_eos_token", 0, "bos_token", token_string(t, t->bos), "eos_token",
                     token_string(t, t->eos), "unk_token", token_string(t, t->unk),
                     "additional_special_tokens", extra, "clean_up_tokenization_spaces", 0,
                     "tokenizer_class", "PreTrainedTokenizerFast");
}

// Writes json to dir/name, consuming json (NULL: it could not be built).
static int write_json(json_t *json, const char *dir, const char *name, char *err, size_t err_len) {
    size_t len = strlen(dir) + strlen(name) + 2;
    char *path = malloc(len);
    int status = 0;
    if (!json || !path) {
        status = fail(err, err_len, "out of memory");
    } else {
        snprintf(path, len, "%s/%s", dir, name);
        if (json_dump_file(json, path, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) {
            status = fail(err, err_len, "%s: cannot write", path);
        }
    }
    free(path);
    json_decref(json);
    return status;
}

int tokenizer_trainer_save(const TokenizerTrainer *t, const char *dir, char *err, size_t err_len) {
    if (!t->trained) return fail(err, err_len, "the tokenizer is not trained yet");
    if (write_json(tokenizer_json(t), dir, "tokenizer.json", err, err_len)) return -1;
    return write_json(tokenizer_config(t), dir, "tokenizer_config.json", err, err_len);
}
