// SentencePiece-style BPE (Llama-2, Mistral, TinyLlama): spaces become "▁" (U+2581), a "▁"
// goes before the text, and the characters of the result merge pairwise into tokens; bytes of
// characters outside the vocabulary become <0xXX> tokens.
#include "tokenizer_internal.h"
#include "unicode.h"

#include <string.h>

size_t spm_normalized_capacity(size_t len) {
    return SPACE_MARK_LEN * (len + 1);
}

static void encode_word(const Tokenizer *tok, EncodeScratch *s, const char *word, size_t len,
                        IdList *out) {
    if (tok->ignore_merges) { // a word that is a token as a whole is taken as it is
        int id = tokenizer_find(tok, word, len);
        if (id >= 0) {
            id_list_push(out, id);
            return;
        }
    }
    int n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        int char_len = utf8_decode(word + i, len - i, &cp);
        int id = tokenizer_find(tok, word + i, (size_t)char_len);
        s->symbols[n] = (Symbol){id, n - 1, n + 1, (uint32_t)i, (uint32_t)char_len};
        i += (size_t)char_len;
    }
    if (n > 0) s->symbols[n - 1].next = -1;
    tokenizer_merge_word(tok, s, n, word, out);
}

static bool starts_with_mark(const char *s, size_t len) {
    return len >= SPACE_MARK_LEN && memcmp(s, SPACE_MARK, SPACE_MARK_LEN) == 0;
}

void spm_encode_segment(const Tokenizer *tok, const char *text, size_t len, bool at_start,
                        EncodeScratch *s, IdList *out) {
    char *normal = s->buffer;
    size_t n = 0;
    bool prefix = tok->space_prefix && (at_start || !tok->space_prefix_first_only) &&
                  !(tok->space_prefix_unless_space && len > 0 && text[0] == ' ');
    if (prefix) {
        memcpy(normal, SPACE_MARK, SPACE_MARK_LEN);
        n += SPACE_MARK_LEN;
    }
    for (size_t i = 0; i < len; i++) {
        if (text[i] == ' ') {
            memcpy(normal + n, SPACE_MARK, SPACE_MARK_LEN);
            n += SPACE_MARK_LEN;
        } else {
            normal[n++] = text[i];
        }
    }
    if (!tok->split_at_spaces) {
        encode_word(tok, s, normal, n, out);
        return;
    }
    // Metaspace's split: each "▁" begins a new word.
    size_t word = 0;
    for (size_t i = 1; i < n; i++) {
        if (starts_with_mark(normal + i, n - i)) {
            encode_word(tok, s, normal + word, i - word, out);
            word = i;
        }
    }
    if (word < n) encode_word(tok, s, normal + word, n - word, out);
}
