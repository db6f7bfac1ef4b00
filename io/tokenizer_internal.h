// What the tokenizer's source files share: the Tokenizer itself, the builder that the
// tokenizer.json and GGUF loaders fill, the merge engine, and the two models' text handling.
#ifndef ARE_TOKENIZER_INTERNAL_H
#define ARE_TOKENIZER_INTERNAL_H

#include "fail.h"
#include "tokenizer.h"

#include <stdint.h>

// U+2581 "▁", which SentencePiece vocabularies write for a space.
#define SPACE_MARK     "\xE2\x96\x81"
#define SPACE_MARK_LEN 3

// Far above any real vocabulary; keeps every count of tokens and merges in an int.
#define TOKENIZER_MAX_TOKENS (1 << 24)

// Token types, numbered as GGUF's tokenizer.ggml.token_type.
typedef enum {
    TOKEN_NORMAL = 1,
    TOKEN_UNKNOWN = 2,
    TOKEN_CONTROL = 3,      // BOS, EOS, chat markers: matched in text, never decoded
    TOKEN_USER_DEFINED = 4, // added tokens: matched in text, decoded as written
    TOKEN_UNUSED = 5,
    TOKEN_BYTE = 6, // <0xXX>: SentencePiece's byte fallback
} TokenType;

// Added-token options of tokenizer.json: whitespace beside a match is dropped.
enum { TOKEN_LSTRIP = 1, TOKEN_RSTRIP = 2 };

// How byte-level BPE cuts text into words before merging: the regex of its pre-tokenizer.
typedef enum {
    // GPT-2's: 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
    PRETOKENIZER_GPT2,
    // Llama-3's: (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}|
    //            ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
    PRETOKENIZER_LLAMA3,
    // SmolLM's: every digit alone, then GPT-2's regex on the rest.
    PRETOKENIZER_SMOLLM,
    // Qwen2's: Llama-3's with \p{N} (one digit a word) in place of \p{N}{1,3}.
    PRETOKENIZER_QWEN2,
} Pretokenizer;

// A pair of adjacent tokens that merges into one, and how early (lower rank first).
typedef struct {
    uint64_t key; // left id << 32 | right id; all ones when the slot is free
    int32_t rank;
    int32_t result;
} MergePair;

struct Tokenizer {
    TokenizerKind kind;
    int n_tokens;

    // Token i's text is text[text_start[i] .. + text_len[i]) (an arena that grows while
    // loading); the bytes it decodes to are likewise in pieces.
    char *text;
    size_t text_size, text_cap;
    uint32_t *text_start, *text_len;
    char *pieces;
    uint32_t *piece_start, *piece_len;
    uint8_t *type;  // TokenType
    uint8_t *strip; // TOKEN_LSTRIP | TOKEN_RSTRIP

    int32_t *index; // open-addressing hash table of ids by text; -1 marks a free slot
    uint32_t index_mask;

    MergePair *pairs; // open-addressing hash table by key
    uint32_t pairs_mask;
    int n_pairs;

    int byte_token[256]; // the token that stands for each byte, -1 when none
    int *specials;       // control, user-defined and unknown tokens, longest text first
    int n_specials;

    int bos, eos, unk; // -1 when absent
    bool add_bos;

    bool ignore_merges; // a word that is itself a token is not merged (Llama-3)

    // Byte-level BPE.
    Pretokenizer pretokenizer;

    // SentencePiece style: spaces become U+2581 "▁", and one "▁" goes before the text.
    bool space_prefix;
    bool space_prefix_first_only;   // only before the text's start, not after special tokens
    bool space_prefix_unless_space; // not where the text already starts with a space
    bool split_at_spaces;           // every "▁" starts a word of its own (Metaspace split)
};

// --- building (tokenizer.c) -----------------------------------------------------------------
// printf arguments that quote at most 60 bytes of a token's text: "'%.*s'".
#define QUOTE(text, len) (int)((len) < 60 ? (len) : 60), (text)

// Builders return 0, or -1 with a message in err (naming the token or merge, not the file: the
// loaders add the file and field).

// A tokenizer of n_tokens tokens whose texts are still to be set; NULL when out of memory.
Tokenizer *tokenizer_new(TokenizerKind kind, int n_tokens);
int tokenizer_set_token(Tokenizer *tok, int id, const char *text, size_t len, TokenType type,
                        char *err, size_t err_len);
// After every token is set: the text index (refusing duplicate texts).
int tokenizer_index(Tokenizer *tok, char *err, size_t err_len);
// The byte that a byte-fallback token's text "<0xXX>" stands for, or -1 for other texts.
int tokenizer_byte_value(const char *text, size_t len);
// The id of the token spelled text[0..len), or -1.
int tokenizer_find(const Tokenizer *tok, const char *text, size_t len);
// Room for n merges (optional: the table grows as needed).
int tokenizer_reserve_merges(Tokenizer *tok, size_t n, char *err, size_t err_len);
// Byte-level BPE: merge number rank of the pair "left right" (both sides and their
// concatenation must be tokens; a repeated pair keeps its first rank).
int tokenizer_add_merge(Tokenizer *tok, const char *left, size_t left_len, const char *right,
                        size_t right_len, int rank, char *err, size_t err_len);
// SentencePiece scores: any two adjacent tokens whose concatenation is a token merge into it,
// the highest score first (llama.cpp's llm_tokenizer_spm).
int tokenizer_merges_from_scores(Tokenizer *tok, const float *scores, char *err, size_t err_len);
// Last step: byte tokens, special tokens, decoded pieces; checks bos/eos/unk.
int tokenizer_finish(Tokenizer *tok, char *err, size_t err_len);

// tokenizer_json.c: from the text of a tokenizer.json (name labels the messages), without the
// tokenizer_config.json that tokenizer_load_json reads beside a file.
Tokenizer *tokenizer_load_json_text(const char *text, size_t len, const char *name, char *err,
                                    size_t err_len);

// --- encoding ---------------------------------------------------------------------------------
// Where ids go: the first max of them are stored, all are counted.
typedef struct {
    int *ids;
    int max;
    int count;
} IdList;

static inline void id_list_push(IdList *list, int id) {
    if (list->count < list->max) list->ids[list->count] = id;
    list->count++;
}

// One symbol of the word being merged: a token (or -1: no token, bytes to fall back on) over
// bytes [start, start + len) of the word, in a doubly linked list. Merged-away symbols have
// len 0.
typedef struct {
    int id;
    int prev, next;
    uint32_t start, len;
} Symbol;

// A merge that may apply: symbols left and right, adjacent when it was found. It is stale when
// they no longer are, or no longer merge at this rank.
typedef struct {
    int32_t rank, left, right;
} MergeCandidate;

// Scratch memory of one encode call, sized for its text.
typedef struct {
    Symbol *symbols;
    MergeCandidate *heap;
    int heap_len;
    char *buffer;         // the normalized text (SentencePiece) or a byte-level word
    uint32_t *cps;        // code points of a segment (byte-level BPE)
    uint32_t *cp_offsets; // byte offset of each code point, and one past the last
    uint32_t *word_ends;  // byte offset where each pre-tokenizer word ends
} EncodeScratch;

// Merges symbols[0..n) (ids set, linked in order) by rank until no pair merges, then appends
// the surviving symbols' ids to out, bytes of symbols without a token as byte tokens (or unk).
void tokenizer_merge_word(const Tokenizer *tok, EncodeScratch *s, int n, const char *word,
                          IdList *out);

// tokenizer_spm.c: one stretch of text between special tokens. at_start: it begins the text.
void spm_encode_segment(const Tokenizer *tok, const char *text, size_t len, bool at_start,
                        EncodeScratch *s, IdList *out);
// Bytes of the normalized form of a segment of len bytes, at most.
size_t spm_normalized_capacity(size_t len);

// tokenizer_bpe.c
void bpe_encode_segment(const Tokenizer *tok, const char *text, size_t len, EncodeScratch *s,
                        IdList *out);
// Cuts text into the pre-tokenizer's words: stores the byte offset where each word ends in
// s->word_ends and returns the count.
int bpe_pretokenize(Pretokenizer p, const char *text, size_t len, EncodeScratch *s);
// The GPT-2 byte-to-character map: byte b stands for code point bpe_byte_char(b).
uint32_t bpe_byte_char(int b);
// Its inverse: the byte that code point cp stands for, or -1.
int bpe_char_byte(uint32_t cp);

#endif
