// Tokenizers from the tokenizer.ggml.* metadata of a GGUF file, read as llama.cpp's
// llama_vocab::load does: tokens, token types and scores (model "llama", SentencePiece style)
// or tokens, types, merges and the pre-tokenizer's name (model "gpt2", byte-level BPE).
#include "tokenizer_internal.h"

#include <stdlib.h>
#include <string.h>

#define KEY_MODEL        "tokenizer.ggml.model"
#define KEY_PRE          "tokenizer.ggml.pre"
#define KEY_TOKENS       "tokenizer.ggml.tokens"
#define KEY_TYPES        "tokenizer.ggml.token_type"
#define KEY_SCORES       "tokenizer.ggml.scores"
#define KEY_MERGES       "tokenizer.ggml.merges"
#define KEY_ADD_BOS      "tokenizer.ggml.add_bos_token"
#define KEY_SPACE_PREFIX "tokenizer.ggml.add_space_prefix"

static bool string_is(GgufString s, const char *text) {
    return s.len == strlen(text) && memcmp(s.ptr, text, s.len) == 0;
}

// The length of array key, which must hold elements of type want (any integer type when want
// is GGUF_INT32, any float type when GGUF_FLOAT32); -1 with a message otherwise.
static int64_t array_length(const Gguf *g, const char *key, GgufType want, char *err,
                            size_t err_len) {
    GgufType type;
    uint64_t len;
    if (gguf_get_array(g, key, &type, &len, err, err_len)) return -1;
    bool integer = type <= GGUF_INT32 || type == GGUF_UINT64 || type == GGUF_INT64;
    bool real = type == GGUF_FLOAT32 || type == GGUF_FLOAT64;
    bool ok = want == GGUF_STRING ? type == GGUF_STRING : want == GGUF_INT32 ? integer : real;
    if (!ok) {
        fail(err, err_len, "%s: %s holds elements of type %d, not %s", gguf_path(g), key, (int)type,
             want == GGUF_STRING  ? "strings"
             : want == GGUF_INT32 ? "integers"
                                  : "floats");
        return -1;
    }
    return (int64_t)len;
}

static int read_tokens(Tokenizer *tok, const Gguf *g, char *err, size_t err_len) {
    int n = tok->n_tokens;
    bool has_types = gguf_has(g, KEY_TYPES);
    if (has_types) {
        int64_t n_types = array_length(g, KEY_TYPES, GGUF_INT32, err, err_len);
        if (n_types < 0) return -1;
        if (n_types != n) {
            fail(err, err_len, "%s: %s has %lld entries for %d tokens", gguf_path(g), KEY_TYPES,
                 (long long)n_types, n);
            return -1;
        }
    }
    for (int id = 0; id < n; id++) {
        GgufString text;
        int64_t type = TOKEN_NORMAL;
        if (gguf_array_string(g, KEY_TOKENS, (uint64_t)id, &text, err, err_len) ||
            (has_types && gguf_array_int(g, KEY_TYPES, (uint64_t)id, &type, err, err_len))) {
            return -1;
        }
        if (type < TOKEN_NORMAL || type > TOKEN_BYTE) {
            fail(err, err_len, "%s: %s[%d] = %lld is not a token type (1 to 6)", gguf_path(g),
                 KEY_TYPES, id, (long long)type);
            return -1;
        }
        char inner[256];
        if (tokenizer_set_token(tok, id, text.ptr, text.len, (TokenType)type, inner,
                                sizeof(inner))) {
            fail(err, err_len, "%s: %s: %s", gguf_path(g), KEY_TOKENS, inner);
            return -1;
        }
    }
    char inner[256];
    if (tokenizer_index(tok, inner, sizeof(inner))) {
        fail(err, err_len, "%s: %s: %s", gguf_path(g), KEY_TOKENS, inner);
        return -1;
    }
    return 0;
}

static int read_scores(Tokenizer *tok, const Gguf *g, char *err, size_t err_len) {
    float *scores = calloc((size_t)tok->n_tokens, sizeof(float)); // all equal when absent
    if (!scores) {
        fail(err, err_len, "%s: out of memory for scores", gguf_path(g));
        return -1;
    }
    int status = 0;
    if (gguf_has(g, KEY_SCORES)) {
        int64_t n_scores = array_length(g, KEY_SCORES, GGUF_FLOAT32, err, err_len);
        if (n_scores >= 0 && n_scores != tok->n_tokens) {
            fail(err, err_len, "%s: %s has %lld entries for %d tokens", gguf_path(g), KEY_SCORES,
                 (long long)n_scores, tok->n_tokens);
        }
        status = n_scores == tok->n_tokens ? 0 : -1;
        for (int id = 0; id < tok->n_tokens && status == 0; id++) {
            double score;
            status = gguf_array_float(g, KEY_SCORES, (uint64_t)id, &score, err, err_len);
            scores[id] = (float)score;
        }
    }
    char inner[256];
    if (status == 0 && tokenizer_merges_from_scores(tok, scores, inner, sizeof(inner))) {
        fail(err, err_len, "%s: %s: %s", gguf_path(g), KEY_SCORES, inner);
        status = -1;
    }
    free(scores);
    return status;
}

static int read_merges(Tokenizer *tok, const Gguf *g, char *err, size_t err_len) {
    int64_t n_merges = array_length(g, KEY_MERGES, GGUF_STRING, err, err_len);
    if (n_merges < 0) return -1;
    if (n_merges > INT32_MAX) {
        fail(err, err_len, "%s: %s has too many entries (%lld)", gguf_path(g), KEY_MERGES,
             (long long)n_merges);
        return -1;
    }
    char inner[256];
    if (tokenizer_reserve_merges(tok, (size_t)n_merges, inner, sizeof(inner))) {
        fail(err, err_len, "%s: %s: %s", gguf_path(g), KEY_MERGES, inner);
        return -1;
    }
    for (int64_t rank = 0; rank < n_merges; rank++) {
        GgufString merge;
        if (gguf_array_string(g, KEY_MERGES, (uint64_t)rank, &merge, err, err_len)) return -1;
        // "left right", split at the first space after the first byte (a side may be a space).
        const char *space = merge.len > 1 ? memchr(merge.ptr + 1, ' ', merge.len - 1) : NULL;
        if (!space) {
            fail(err, err_len, "%s: %s[%lld] '%.*s' is not two tokens apart by a space",
                 gguf_path(g), KEY_MERGES, (long long)rank, QUOTE(merge.ptr, merge.len));
            return -1;
        }
        size_t left_len = (size_t)(space - merge.ptr);
        if (tokenizer_add_merge(tok, merge.ptr, left_len, space + 1, merge.len - left_len - 1,
                                (int)rank, inner, sizeof(inner))) {
            fail(err, err_len, "%s: %s: %s", gguf_path(g), KEY_MERGES, inner);
            return -1;
        }
    }
    return 0;
}

// The pre-tokenizer that llama.cpp names tokenizer.ggml.pre.
static int read_pretokenizer(Tokenizer *tok, const Gguf *g, char *err, size_t err_len) {
    GgufString pre = {"", 0};
    if (gguf_has(g, KEY_PRE) && gguf_get_string(g, KEY_PRE, &pre, err, err_len)) return -1;
    if (string_is(pre, "llama-bpe") || string_is(pre, "llama3") || string_is(pre, "llama-v3")) {
        tok->pretokenizer = PRETOKENIZER_LLAMA3;
        tok->ignore_merges = true;
        tok->add_bos = true;
    } else if (string_is(pre, "gpt-2") || string_is(pre, "gpt2")) {
        tok->pretokenizer = PRETOKENIZER_GPT2;
    } else if (string_is(pre, "smollm")) {
        tok->pretokenizer = PRETOKENIZER_SMOLLM;
    } else if (string_is(pre, "qwen2")) {
        tok->pretokenizer = PRETOKENIZER_QWEN2;
    } else {
        fail(err, err_len,
             "%s: %s '%.*s' is not a known pre-tokenizer (known: llama-bpe, llama3, "
             "llama-v3, gpt-2, smollm, qwen2)",
             gguf_path(g), KEY_PRE, QUOTE(pre.ptr, pre.len));
        return -1;
    }
    return 0;
}

// Reads an optional token id key into *id.
static int read_token_id(const Tokenizer *tok, const Gguf *g, const char *key, int *id, char *err,
                         size_t err_len) {
    if (!gguf_has(g, key)) return 0;
    int64_t value;
    if (gguf_get_int(g, key, &value, err, err_len)) return -1;
    if (value < 0 || value >= tok->n_tokens) {
        fail(err, err_len, "%s: %s = %lld is outside the vocabulary of %d tokens", gguf_path(g),
             key, (long long)value, tok->n_tokens);
        return -1;
    }
    *id = (int)value;
    return 0;
}

static int read_flag(const Gguf *g, const char *key, bool *flag, char *err, size_t err_len) {
    if (!gguf_has(g, key)) return 0;
    int64_t value;
    if (gguf_get_int(g, key, &value, err, err_len)) return -1;
    *flag = value != 0;
    return 0;
}

static int read_specials(Tokenizer *tok, const Gguf *g, char *err, size_t err_len) {
    if (read_token_id(tok, g, "tokenizer.ggml.bos_token_id", &tok->bos, err, err_len) ||
        read_token_id(tok, g, "tokenizer.ggml.eos_token_id", &tok->eos, err, err_len) ||
        read_token_id(tok, g, "tokenizer.ggml.unknown_token_id", &tok->unk, err, err_len) ||
        read_flag(g, KEY_ADD_BOS, &tok->add_bos, err, err_len)) {
        return -1;
    }
    return 0;
}

Tokenizer *tokenizer_load_gguf(const Gguf *g, char *err, size_t err_len) {
    GgufString model;
    if (gguf_get_string(g, KEY_MODEL, &model, err, err_len)) return NULL;
    TokenizerKind kind;
    if (string_is(model, "llama")) {
        kind = TOKENIZER_SPM;
    } else if (string_is(model, "gpt2")) {
        kind = TOKENIZER_BPE;
    } else {
        fail(err, err_len, "%s: %s '%.*s' is not a supported tokenizer (supported: llama, gpt2)",
             gguf_path(g), KEY_MODEL, QUOTE(model.ptr, model.len));
        return NULL;
    }
    int64_t n_tokens = array_length(g, KEY_TOKENS, GGUF_STRING, err, err_len);
    if (n_tokens < 0) return NULL;
    Tokenizer *tok =
        n_tokens > 0 && n_tokens <= INT32_MAX ? tokenizer_new(kind, (int)n_tokens) : NULL;
    if (!tok) {
        fail(err, err_len, "%s: %s: %lld tokens are more than can be loaded", gguf_path(g),
             KEY_TOKENS, (long long)n_tokens);
        return NULL;
    }
    int status = read_tokens(tok, g, err, err_len);
    if (status == 0 && kind == TOKENIZER_SPM) {
        // llama.cpp's defaults for SentencePiece vocabularies, where they fit.
        tok->bos = n_tokens > 1 ? 1 : -1;
        tok->eos = n_tokens > 2 ? 2 : -1;
        tok->unk = 0;
        tok->add_bos = true;
        tok->space_prefix = true;
        if (read_flag(g, KEY_SPACE_PREFIX, &tok->space_prefix, err, err_len) ||
            read_scores(tok, g, err, err_len)) {
            status = -1;
        }
    } else if (status == 0) {
        if (read_pretokenizer(tok, g, err, err_len) || read_merges(tok, g, err, err_len)) {
            status = -1;
        }
    }
    if (status == 0) status = read_specials(tok, g, err, err_len);
    char inner[256];
    if (status == 0 && tokenizer_finish(tok, inner, sizeof(inner))) {
        fail(err, err_len, "%s: %s", gguf_path(g), inner);
        status = -1;
    }
    if (status) {
        tokenizer_free(tok);
        return NULL;
    }
    return tok;
}
