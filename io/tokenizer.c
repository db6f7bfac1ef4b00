// Tokenizer core: the vocabulary and its index, merge pairs, special tokens, the merge engine,
// encode and decode. The models' own text handling is in tokenizer_spm.c and tokenizer_bpe.c,
// the loaders in tokenizer_json.c and tokenizer_gguf.c.
#include "fnv1a.h"
#include "tokenizer_internal.h"
#include "unicode.h"

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define PAIR_EMPTY UINT64_MAX

static uint64_t hash_pair(uint64_t key) { // a 64-bit mixer (splitmix64's finalizer)
    key = (key ^ key >> 30) * 0xbf58476d1ce4e5b9u;
    key = (key ^ key >> 27) * 0x94d049bb133111ebu;
    return key ^ key >> 31;
}

static uint32_t table_size_for(size_t n) { // a power of two at least twice n
    uint32_t size = 16;
    while (size < 2 * n) size *= 2;
    return size;
}

static const char *token_text(const Tokenizer *tok, int id) {
    return tok->text + tok->text_start[id];
}

// --- building ---------------------------------------------------------------------------------

Tokenizer *tokenizer_new(TokenizerKind kind, int n_tokens) {
    if (n_tokens <= 0 || n_tokens > TOKENIZER_MAX_TOKENS) return NULL;
    Tokenizer *tok = calloc(1, sizeof(*tok));
    if (!tok) return NULL;
    tok->kind = kind;
    tok->n_tokens = n_tokens;
    tok->text_start = calloc((size_t)n_tokens, sizeof(uint32_t));
    tok->text_len = calloc((size_t)n_tokens, sizeof(uint32_t));
    tok->piece_start = calloc((size_t)n_tokens, sizeof(uint32_t));
    tok->piece_len = calloc((size_t)n_tokens, sizeof(uint32_t));
    tok->type = calloc((size_t)n_tokens, 1);
    tok->strip = calloc((size_t)n_tokens, 1);
    tok->bos = tok->eos = tok->unk = -1;
    if (!tok->text_start || !tok->text_len || !tok->piece_start || !tok->piece_len || !tok->type ||
        !tok->strip) {
        tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

int tokenizer_set_token(Tokenizer *tok, int id, const char *text, size_t len, TokenType type,
                        char *err, size_t err_len) {
    if (id < 0 || id >= tok->n_tokens) {
        fail(err, err_len, "token id %d is outside the vocabulary of %d tokens", id, tok->n_tokens);
        return -1;
    }
    if (tok->type[id]) { // set before: only its type may change (tokenizer.json's added tokens)
        if (tok->text_len[id] != len || memcmp(token_text(tok, id), text, len) != 0) {
            fail(err, err_len, "token id %d is both '%.*s' and '%.*s'", id,
                 QUOTE(token_text(tok, id), tok->text_len[id]), QUOTE(text, len));
            return -1;
        }
        tok->type[id] = (uint8_t)type;
        return 0;
    }
    if (len > UINT32_MAX - tok->text_size) {
        fail(err, err_len, "token texts exceed 4 GiB");
        return -1;
    }
    if (tok->text_size + len > tok->text_cap) {
        size_t cap = tok->text_cap ? tok->text_cap : 4096;
        while (cap < tok->text_size + len) cap *= 2;
        char *grown = realloc(tok->text, cap);
        if (!grown) {
            fail(err, err_len, "out of memory for token texts");
            return -1;
        }
        tok->text = grown;
        tok->text_cap = cap;
    }
    if (len) memcpy(tok->text + tok->text_size, text, len);
    tok->text_start[id] = (uint32_t)tok->text_size;
    tok->text_len[id] = (uint32_t)len;
    tok->text_size += len;
    tok->type[id] = (uint8_t)type;
    return 0;
}

int tokenizer_index(Tokenizer *tok, char *err, size_t err_len) {
    tok->index_mask = table_size_for((size_t)tok->n_tokens) - 1;
    tok->index = malloc(((size_t)tok->index_mask + 1) * sizeof(int32_t));
    if (!tok->index) {
        fail(err, err_len, "out of memory for the vocabulary index");
        return -1;
    }
    memset(tok->index, 0xFF, ((size_t)tok->index_mask + 1) * sizeof(int32_t));
    for (int id = 0; id < tok->n_tokens; id++) {
        if (!tok->type[id]) {
            fail(err, err_len, "token id %d is missing (ids must run from 0 to %d)", id,
                 tok->n_tokens - 1);
            return -1;
        }
        const char *text = token_text(tok, id);
        uint32_t len = tok->text_len[id];
        if (len == 0) continue; // matches no text
        uint32_t slot = (uint32_t)fnv1a(FNV1A_OFFSET, text, len) & tok->index_mask;
        for (; tok->index[slot] >= 0; slot = (slot + 1) & tok->index_mask) {
            int other = tok->index[slot];
            if (tok->text_len[other] == len && memcmp(token_text(tok, other), text, len) == 0) {
                fail(err, err_len, "tokens %d and %d are both '%.*s'", other, id, QUOTE(text, len));
                return -1;
            }
        }
        tok->index[slot] = id;
    }
    return 0;
}

// The id of the token spelled a then b, or -1.
static int find_joined(const Tokenizer *tok, const char *a, size_t a_len, const char *b,
                       size_t b_len) {
    size_t len = a_len + b_len;
    if (len == 0 || len > UINT32_MAX) return -1;
    uint64_t h = fnv1a(fnv1a(FNV1A_OFFSET, a, a_len), b, b_len);
    for (uint32_t slot = (uint32_t)h & tok->index_mask; tok->index[slot] >= 0;
         slot = (slot + 1) & tok->index_mask) {
        int id = tok->index[slot];
        const char *text = token_text(tok, id);
        if (tok->text_len[id] == len && memcmp(text, a, a_len) == 0 &&
            memcmp(text + a_len, b, b_len) == 0) {
            return id;
        }
    }
    return -1;
}

int tokenizer_find(const Tokenizer *tok, const char *text, size_t len) {
    return find_joined(tok, text, len, "", 0);
}

static uint64_t pair_key(int left, int right) {
    return (uint64_t)left << 32 | (uint32_t)right;
}

static const MergePair *find_pair(const Tokenizer *tok, int left, int right) {
    if (!tok->pairs) return NULL;
    uint64_t key = pair_key(left, right);
    for (uint32_t slot = (uint32_t)hash_pair(key) & tok->pairs_mask;
         tok->pairs[slot].key != PAIR_EMPTY; slot = (slot + 1) & tok->pairs_mask) {
        if (tok->pairs[slot].key == key) return &tok->pairs[slot];
    }
    return NULL;
}

static void insert_pair(MergePair *table, uint32_t mask, MergePair pair) {
    uint32_t slot = (uint32_t)hash_pair(pair.key) & mask;
    while (table[slot].key != PAIR_EMPTY) slot = (slot + 1) & mask;
    table[slot] = pair;
}

// Makes room for n pairs in the table, which stays at most half full.
static int reserve_pairs(Tokenizer *tok, size_t n, char *err, size_t err_len) {
    if (tok->pairs && 2 * n <= (size_t)tok->pairs_mask + 1) return 0;
    uint32_t size = table_size_for(n);
    MergePair *table = malloc((size_t)size * sizeof(MergePair));
    if (!table) {
        fail(err, err_len, "out of memory for merges");
        return -1;
    }
    for (uint32_t i = 0; i < size; i++) table[i].key = PAIR_EMPTY;
    for (uint32_t i = 0; tok->pairs && i <= tok->pairs_mask; i++) {
        if (tok->pairs[i].key != PAIR_EMPTY) insert_pair(table, size - 1, tok->pairs[i]);
    }
    free(tok->pairs);
    tok->pairs = table;
    tok->pairs_mask = size - 1;
    return 0;
}

int tokenizer_reserve_merges(Tokenizer *tok, size_t n, char *err, size_t err_len) {
    return reserve_pairs(tok, n, err, err_len);
}

// Adds a pair unless it is there already (the first rank stays, as in llama.cpp).
static int add_pair(Tokenizer *tok, int left, int right, int rank, int result, char *err,
                    size_t err_len) {
    if (find_pair(tok, left, right)) return 0;
    size_t needed = (size_t)tok->n_pairs + 1;
    if (reserve_pairs(tok, needed < 512 ? 512 : needed, err, err_len)) return -1;
    insert_pair(tok->pairs, tok->pairs_mask, (MergePair){pair_key(left, right), rank, result});
    tok->n_pairs++;
    return 0;
}

int tokenizer_add_merge(Tokenizer *tok, const char *left, size_t left_len, const char *right,
                        size_t right_len, int rank, char *err, size_t err_len) {
    int left_id = tokenizer_find(tok, left, left_len);
    int right_id = tokenizer_find(tok, right, right_len);
    if (left_id < 0 || right_id < 0) {
        const char *missing = left_id < 0 ? left : right;
        size_t missing_len = left_id < 0 ? left_len : right_len;
        fail(err, err_len, "merge %d ('%.*s' '%.*s'): '%.*s' is not a token", rank,
             QUOTE(left, left_len), QUOTE(right, right_len), QUOTE(missing, missing_len));
        return -1;
    }
    int result = find_joined(tok, left, left_len, right, right_len);
    if (result < 0) {
        fail(err, err_len, "merge %d ('%.*s' '%.*s'): '%.*s%.*s' is not a token", rank,
             QUOTE(left, left_len), QUOTE(right, right_len), QUOTE(left, left_len),
             QUOTE(right, right_len));
        return -1;
    }
    return add_pair(tok, left_id, right_id, rank, result, err, err_len);
}

typedef struct {
    float score;
    int id;
} ScoredToken;

static int compare_scored(const void *a, const void *b) {
    const ScoredToken *x = a, *y = b;
    if (x->score != y->score) return x->score > y->score ? -1 : 1;
    return x->id - y->id;
}

int tokenizer_merges_from_scores(Tokenizer *tok, const float *scores, char *err, size_t err_len) {
    // Ranks stand for scores: the highest score ranks 0, equal scores share a rank (so that
    // ties go to the leftmost pair, as in llama.cpp). NaN scores rank last.
    int n = tok->n_tokens;
    ScoredToken *order = malloc((size_t)n * sizeof(ScoredToken));
    int *rank = malloc((size_t)n * sizeof(int));
    if (!order || !rank) {
        free(order), free(rank);
        fail(err, err_len, "out of memory for merges");
        return -1;
    }
    for (int i = 0; i < n; i++)
        order[i] = (ScoredToken){isnan(scores[i]) ? -INFINITY : scores[i], i};
    qsort(order, (size_t)n, sizeof(ScoredToken), compare_scored);
    for (int i = 0, r = 0; i < n; i++) {
        if (i > 0 && order[i].score != order[i - 1].score) r++;
        rank[order[i].id] = r;
    }
    int status = 0;
    for (int id = 0; id < n && status == 0; id++) {
        const char *text = token_text(tok, id);
        uint32_t len = tok->text_len[id];
        uint32_t cp;
        for (uint32_t cut = (uint32_t)utf8_decode(text, len, &cp); cut < len;
             cut += (uint32_t)utf8_decode(text + cut, len - cut, &cp)) {
            int left = tokenizer_find(tok, text, cut);
            int right = tokenizer_find(tok, text + cut, len - cut);
            if (left >= 0 && right >= 0) {
                status = add_pair(tok, left, right, rank[id], id, err, err_len);
                if (status) break;
            }
        }
    }
    free(order), free(rank);
    return status;
}

static int find_byte_tokens(Tokenizer *tok, char *err, size_t err_len) {
    for (int b = 0; b < 256; b++) {
        char text[8];
        int len;
        if (tok->kind == TOKENIZER_BPE) {
            len = utf8_encode(bpe_byte_char(b), text);
        } else {
            len = snprintf(text, sizeof(text), "<0x%02X>", b);
        }
        int id = tokenizer_find(tok, text, (size_t)len);
        if (id < 0 && tok->kind == TOKENIZER_SPM) { // llama.cpp's fallback: the byte itself
            char byte = (char)b;
            id = tokenizer_find(tok, &byte, 1);
        }
        // A byte-level vocabulary may lack bytes its corpus never held (SmolLM2's has no 0x04,
        // no 0xF5..0xFF): such a byte encodes as the unknown token, as in transformers.
        if (id < 0 && tok->unk < 0) {
            fail(err, err_len,
                 tok->kind == TOKENIZER_BPE
                     ? "the byte-level vocabulary has no token '%.*s' for byte 0x%02X and "
                       "no unknown token"
                     : "the vocabulary has neither '%.*s' for byte 0x%02X nor an "
                       "unknown token",
                 len, text, b);
            return -1;
        }
        tok->byte_token[b] = id;
    }
    return 0;
}

typedef struct {
    uint32_t len;
    int id;
} SpecialToken;

static int compare_specials(const void *a, const void *b) {
    const SpecialToken *x = a, *y = b;
    if (x->len != y->len) return x->len > y->len ? -1 : 1;
    return x->id - y->id;
}

static bool is_special_type(int type) {
    return type == TOKEN_CONTROL || type == TOKEN_USER_DEFINED || type == TOKEN_UNKNOWN;
}

static int collect_specials(Tokenizer *tok, char *err, size_t err_len) {
    SpecialToken *found = malloc((size_t)tok->n_tokens * sizeof(SpecialToken));
    tok->specials = malloc((size_t)tok->n_tokens * sizeof(int));
    if (!found || !tok->specials) {
        free(found);
        fail(err, err_len, "out of memory for special tokens");
        return -1;
    }
    int n = 0;
    for (int id = 0; id < tok->n_tokens; id++) {
        if (is_special_type(tok->type[id]) && tok->text_len[id] > 0) {
            found[n++] = (SpecialToken){tok->text_len[id], id};
        }
    }
    // Longest first, so that a special token containing another is found whole (llama.cpp).
    qsort(found, (size_t)n, sizeof(SpecialToken), compare_specials);
    for (int i = 0; i < n; i++) tok->specials[i] = found[i].id;
    tok->n_specials = n;
    free(found);
    return 0;
}

int tokenizer_byte_value(const char *text, size_t len) {
    if (len != 6 || memcmp(text, "<0x", 3) != 0 || text[5] != '>') return -1;
    int value = 0;
    for (int i = 3; i < 5; i++) {
        char c = text[i];
        int digit = c >= '0' && c <= '9'   ? c - '0'
                    : c >= 'A' && c <= 'F' ? c - 'A' + 10
                    : c >= 'a' && c <= 'f' ? c - 'a' + 10
                                           : -1;
        if (digit < 0) return -1;
        value = value * 16 + digit;
    }
    return value;
}

// Writes the bytes token id decodes to into out and returns their count, which is never more
// than the length of its text ("▁" becomes " ", a byte-level character one byte).
static uint32_t decode_token(const Tokenizer *tok, int id, char *out) {
    const char *text = token_text(tok, id);
    uint32_t len = tok->text_len[id];
    switch (tok->type[id]) {
    case TOKEN_CONTROL:
    case TOKEN_UNKNOWN:
    case TOKEN_UNUSED:
        return 0;
    case TOKEN_USER_DEFINED:
        memcpy(out, text, len);
        return len;
    case TOKEN_BYTE: {
        int byte = tokenizer_byte_value(text, len);
        if (byte >= 0) {
            out[0] = (char)byte;
            return 1;
        }
        break; // not of the <0xXX> form: decoded as a normal token
    }
    }
    uint32_t n = 0;
    if (tok->kind == TOKENIZER_SPM) {
        for (uint32_t i = 0; i < len;) {
            if (len - i >= SPACE_MARK_LEN && memcmp(text + i, SPACE_MARK, SPACE_MARK_LEN) == 0) {
                out[n++] = ' ';
                i += SPACE_MARK_LEN;
            } else {
                out[n++] = text[i++];
            }
        }
        return n;
    }
    // Byte-level: each character stands for a byte. A token with any other character
    // decodes to its text as written, as Hugging Face's ByteLevel decoder does.
    for (uint32_t i = 0; i < len;) {
        uint32_t cp;
        i += (uint32_t)utf8_decode(text + i, len - i, &cp);
        int byte = bpe_char_byte(cp);
        if (byte < 0) {
            memcpy(out, text, len);
            return len;
        }
        out[n++] = (char)byte;
    }
    return n;
}

static int build_pieces(Tokenizer *tok, char *err, size_t err_len) {
    tok->pieces = malloc(tok->text_size ? tok->text_size : 1); // no piece is longer than its text
    if (!tok->pieces) {
        fail(err, err_len, "out of memory for decoded pieces");
        return -1;
    }
    uint32_t used = 0;
    for (int id = 0; id < tok->n_tokens; id++) {
        tok->piece_start[id] = used;
        tok->piece_len[id] = decode_token(tok, id, tok->pieces + used);
        used += tok->piece_len[id];
    }
    return 0;
}

int tokenizer_finish(Tokenizer *tok, char *err, size_t err_len) {
    const char *names[] = {"BOS", "EOS", "unknown"};
    int *ids[] = {&tok->bos, &tok->eos, &tok->unk};
    for (int i = 0; i < 3; i++) {
        if (*ids[i] < -1 || *ids[i] >= tok->n_tokens) {
            fail(err, err_len, "the %s token id %d is outside the vocabulary of %d", names[i],
                 *ids[i], tok->n_tokens);
            return -1;
        }
    }
    if (tok->add_bos && tok->bos < 0) {
        fail(err, err_len, "BOS is to be added but the vocabulary names no BOS token");
        return -1;
    }
    if (find_byte_tokens(tok, err, err_len) || collect_specials(tok, err, err_len) ||
        build_pieces(tok, err, err_len)) {
        return -1;
    }
    return 0;
}

void tokenizer_free(Tokenizer *tok) {
    if (!tok) return;
    free(tok->text);
    free(tok->text_start);
    free(tok->text_len);
    free(tok->pieces);
    free(tok->piece_start);
    free(tok->piece_len);
    free(tok->type);
    free(tok->strip);
    free(tok->index);
    free(tok->pairs);
    free(tok->specials);
    free(tok);
}

// --- the merge engine -------------------------------------------------------------------------

static bool candidate_before(MergeCandidate a, MergeCandidate b) {
    return a.rank != b.rank ? a.rank < b.rank : a.left < b.left;
}

static void heap_push(EncodeScratch *s, MergeCandidate c) {
    int i = s->heap_len++;
    while (i > 0 && candidate_before(c, s->heap[(i - 1) / 2])) {
        s->heap[i] = s->heap[(i - 1) / 2];
        i = (i - 1) / 2;
    }
    s->heap[i] = c;
}

static MergeCandidate heap_pop(EncodeScratch *s) {
    MergeCandidate top = s->heap[0], last = s->heap[--s->heap_len];
    int i = 0;
    for (;;) {
        int child = 2 * i + 1;
        if (child >= s->heap_len) break;
        if (child + 1 < s->heap_len && candidate_before(s->heap[child + 1], s->heap[child])) {
            child++;
        }
        if (!candidate_before(s->heap[child], last)) break;
        s->heap[i] = s->heap[child];
        i = child;
    }
    s->heap[i] = last;
    return top;
}

static const MergePair *symbols_pair(const Tokenizer *tok, const Symbol *symbols, int left,
                                     int right) {
    if (left < 0 || right < 0 || symbols[left].id < 0 || symbols[right].id < 0) return NULL;
    return find_pair(tok, symbols[left].id, symbols[right].id);
}

static void consider_pair(const Tokenizer *tok, EncodeScratch *s, int left, int right) {
    const MergePair *pair = symbols_pair(tok, s->symbols, left, right);
    if (pair) heap_push(s, (MergeCandidate){pair->rank, left, right});
}

void tokenizer_merge_word(const Tokenizer *tok, EncodeScratch *s, int n, const char *word,
                          IdList *out) {
    Symbol *sym = s->symbols;
    s->heap_len = 0;
    for (int i = 1; i < n; i++) consider_pair(tok, s, i - 1, i);
    // Each merge adds at most two candidates, so the heap never holds more than 3n.
    while (s->heap_len > 0) {
        MergeCandidate c = heap_pop(s);
        if (sym[c.left].len == 0 || sym[c.left].next != c.right) continue; // stale
        const MergePair *pair = symbols_pair(tok, sym, c.left, c.right);
        if (!pair || pair->rank != c.rank) continue; // stale: a side has merged since
        Symbol *left = &sym[c.left], *right = &sym[c.right];
        left->id = pair->result;
        left->len += right->len;
        right->len = 0;
        left->next = right->next;
        if (right->next >= 0) sym[right->next].prev = c.left;
        consider_pair(tok, s, left->prev, c.left);
        consider_pair(tok, s, c.left, left->next);
    }
    for (int i = n > 0 ? 0 : -1; i >= 0; i = sym[i].next) {
        if (sym[i].id >= 0) {
            id_list_push(out, sym[i].id);
            continue;
        }
        for (uint32_t b = sym[i].start; b < sym[i].start + sym[i].len; b++) {
            int id = tok->byte_token[(unsigned char)word[b]];
            id_list_push(out, id >= 0 ? id : tok->unk);
        }
    }
}

// --- encoding ---------------------------------------------------------------------------------

// A stretch of the input: text to tokenize (id -1) or a special token's match.
typedef struct {
    size_t start, len;
    int id;
} Segment;

typedef struct {
    Segment *items;
    size_t count, cap;
} Segments;

static bool segments_push(Segments *list, Segment segment) {
    if (list->count == list->cap) {
        size_t cap = list->cap ? 2 * list->cap : 16;
        Segment *grown = realloc(list->items, cap * sizeof(Segment));
        if (!grown) return false;
        list->items = grown;
        list->cap = cap;
    }
    list->items[list->count++] = segment;
    return true;
}

static bool is_ascii_space(char c) {
    return c == ' ' || (c >= '\t' && c <= '\r');
}

// Cuts one text segment at every match of special token id, into out.
static bool split_at_token(const Tokenizer *tok, int id, const char *text, Segment segment,
                           Segments *out) {
    const char *needle = token_text(tok, id);
    size_t needle_len = tok->text_len[id];
    size_t pos = segment.start, end = segment.start + segment.len;
    while (pos < end) {
        const char *match = memmem(text + pos, end - pos, needle, needle_len);
        if (!match) break;
        size_t at = (size_t)(match - text), left_end = at;
        if (tok->strip[id] & TOKEN_LSTRIP) {
            while (left_end > pos && is_ascii_space(text[left_end - 1])) left_end--;
        }
        if (left_end > pos && !segments_push(out, (Segment){pos, left_end - pos, -1})) return false;
        if (!segments_push(out, (Segment){at, needle_len, id})) return false;
        pos = at + needle_len;
        if (tok->strip[id] & TOKEN_RSTRIP) {
            while (pos < end && is_ascii_space(text[pos])) pos++;
        }
    }
    return pos >= end || segments_push(out, (Segment){pos, end - pos, -1});
}

// The text cut into stretches of plain text and special tokens. For each special token,
// longest first, every plain stretch is cut at its matches (llama.cpp's
// tokenizer_st_partition). NULL items when out of memory.
static Segments split_specials(const Tokenizer *tok, const char *text, size_t len) {
    Segments current = {0}, next = {0};
    if (len == 0) return current;
    if (!segments_push(&current, (Segment){0, len, -1})) return current;
    for (int k = 0; k < tok->n_specials; k++) {
        int id = tok->specials[k];
        next.count = 0;
        for (size_t i = 0; i < current.count; i++) {
            Segment segment = current.items[i];
            bool ok = segment.id >= 0 ? segments_push(&next, segment)
                                      : split_at_token(tok, id, text, segment, &next);
            if (!ok) {
                free(current.items), free(next.items);
                return (Segments){0};
            }
        }
        Segments swap = current;
        current = next;
        next = swap;
    }
    free(next.items);
    return current;
}

static void free_scratch(EncodeScratch *s) {
    free(s->symbols);
    free(s->heap);
    free(s->buffer);
    free(s->cps);
    free(s->cp_offsets);
    free(s->word_ends);
}

// Scratch for segments of up to len bytes.
static bool alloc_scratch(const Tokenizer *tok, EncodeScratch *s, size_t len) {
    // A symbol per character (plus SentencePiece's "▁" before the text); the normalized text
    // or a byte-level word takes at most 3 bytes per input byte, plus the "▁".
    size_t n_symbols = len + 2;
    s->symbols = malloc(n_symbols * sizeof(Symbol));
    s->heap = malloc(3 * n_symbols * sizeof(MergeCandidate));
    s->buffer = malloc(spm_normalized_capacity(len));
    if (tok->kind == TOKENIZER_BPE) {
        s->cps = malloc((len + 1) * sizeof(uint32_t));
        s->cp_offsets = malloc((len + 1) * sizeof(uint32_t));
        s->word_ends = malloc((len + 1) * sizeof(uint32_t));
    }
    bool ok = s->symbols && s->heap && s->buffer &&
              (tok->kind != TOKENIZER_BPE || (s->cps && s->cp_offsets && s->word_ends));
    if (!ok) free_scratch(s);
    return ok;
}

int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, bool add_bos, int *ids,
                     int max_ids) {
    // There is at most one id per byte of the normalized text, which has at most 3 bytes per
    // input byte plus a "▁" per segment: this bound keeps the count an int.
    if (!tok || (!text && len) || max_ids < 0 || (max_ids > 0 && !ids) || len > INT_MAX / 8) {
        return -1;
    }
    if (add_bos && tok->bos < 0) return -1;
    IdList out = {ids, max_ids, 0};
    if (add_bos) id_list_push(&out, tok->bos);
    Segments segments = split_specials(tok, text, len);
    if (len > 0 && !segments.items) return -1;
    size_t longest = 0;
    for (size_t i = 0; i < segments.count; i++) {
        if (segments.items[i].id < 0 && segments.items[i].len > longest) {
            longest = segments.items[i].len;
        }
    }
    EncodeScratch scratch = {0};
    if (!alloc_scratch(tok, &scratch, longest)) {
        free(segments.items);
        return -1;
    }
    for (size_t i = 0; i < segments.count; i++) {
        Segment segment = segments.items[i];
        if (segment.id >= 0) {
            id_list_push(&out, segment.id);
        } else if (tok->kind == TOKENIZER_SPM) {
            spm_encode_segment(tok, text + segment.start, segment.len, segment.start == 0, &scratch,
                               &out);
        } else {
            bpe_encode_segment(tok, text + segment.start, segment.len, &scratch, &out);
        }
    }
    free_scratch(&scratch);
    free(segments.items);
    return out.count;
}

// --- decoding ---------------------------------------------------------------------------------

int tokenizer_decode(const Tokenizer *tok, const int *ids, int n, char *out, size_t cap) {
    if (!tok || n < 0 || (n > 0 && !ids) || (cap > 0 && !out)) return -1;
    size_t total = 0, room = cap > 0 ? cap - 1 : 0; // room for text, before the NUL
    bool drop_space = tok->space_prefix;            // the "▁" that encoding put before the text
    for (int i = 0; i < n; i++) {
        if (ids[i] < 0 || ids[i] >= tok->n_tokens) return -1;
        const char *piece = tok->pieces + tok->piece_start[ids[i]];
        size_t len = tok->piece_len[ids[i]];
        if (drop_space && len > 0) {
            if (piece[0] == ' ') piece++, len--;
            drop_space = false;
        }
        if (total < room) memcpy(out + total, piece, len < room - total ? len : room - total);
        total += len;
    }
    if (cap > 0) out[total < room ? total : room] = '\0';
    return total > INT_MAX ? -1 : (int)total;
}

int tokenizer_token_bytes(const Tokenizer *tok, int id, char *out, size_t cap) {
    if (!tok || id < 0 || id >= tok->n_tokens || (cap > 0 && !out)) return -1;
    uint32_t len = tok->piece_len[id];
    if (cap > 0) {
        size_t shown = len < cap - 1 ? len : cap - 1;
        memcpy(out, tok->pieces + tok->piece_start[id], shown);
        out[shown] = '\0';
    }
    return (int)len;
}

TokenizerKind tokenizer_kind(const Tokenizer *tok) {
    return tok->kind;
}

int tokenizer_vocab_size(const Tokenizer *tok) {
    return tok->n_tokens;
}

int tokenizer_bos(const Tokenizer *tok) {
    return tok->bos;
}

int tokenizer_eos(const Tokenizer *tok) {
    return tok->eos;
}

bool tokenizer_adds_bos(const Tokenizer *tok) {
    return tok->add_bos;
}

// --- loading ----------------------------------------------------------------------------------

Tokenizer *tokenizer_load(const char *source, char *err, size_t err_len) {
    struct stat st;
    if (stat(source, &st) != 0) {
        fail(err, err_len, "%s: no such file or folder", source);
        return NULL;
    }
    if (S_ISDIR(st.st_mode)) {
        size_t len = strlen(source) + sizeof("/tokenizer.json");
        char *path = malloc(len);
        if (!path) {
            fail(err, err_len, "%s: out of memory", source);
            return NULL;
        }
        snprintf(path, len, "%s/tokenizer.json", source);
        Tokenizer *tok = tokenizer_load_json(path, err, err_len);
        free(path);
        return tok;
    }
    FILE *f = fopen(source, "rb");
    char magic[4] = {0};
    bool is_gguf = f && fread(magic, 1, 4, f) == 4 && memcmp(magic, "GGUF", 4) == 0;
    if (f) fclose(f);
    if (!is_gguf) return tokenizer_load_json(source, err, err_len);
    Gguf *g = gguf_open(source, err, err_len);
    if (!g) return NULL;
    Tokenizer *tok = tokenizer_load_gguf(g, err, err_len);
    gguf_close(g); // the tokenizer keeps copies of everything it needs
    return tok;
}
