// Byte-level BPE (GPT-2 style: Llama-3, SmolLM2, Qwen2): a regex pre-tokenizer cuts the text into
// words, each byte of a word stands for a printable character (GPT-2's byte-to-unicode map),
// and adjacent tokens merge by the rank of their pair in the merge list.
//
// The regexes are matched by hand, one alternative after the other as a backtracking regex
// engine would try them, over the code points of the text; a byte that is not valid UTF-8 is a
// character of its own that is neither letter, number nor space.
#include "tokenizer_internal.h"
#include "unicode.h"

// Bytes that GPT-2's map keeps as they are: printable Latin-1 ('!'..'~', '¡'..'¬', '®'..'ÿ').
static bool is_printable_byte(uint32_t b) {
    return (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
}

// The other 68 bytes (0x00-0x20, 0x7F-0xA0, 0xAD) take U+0100.. in byte order.
uint32_t bpe_byte_char(int b) {
    if (is_printable_byte((uint32_t)b)) return (uint32_t)b;
    if (b <= 0x20) return 0x100 + (uint32_t)b;
    if (b <= 0xA0) return 0x100 + 33 + (uint32_t)(b - 0x7F);
    return 0x100 + 67; // 0xAD
}

int bpe_char_byte(uint32_t cp) {
    if (cp <= 0xFF) return is_printable_byte(cp) ? (int)cp : -1;
    if (cp < 0x100 + 33) return (int)(cp - 0x100);
    if (cp < 0x100 + 67) return (int)(cp - 0x100 - 33 + 0x7F);
    return cp == 0x100 + 67 ? 0xAD : -1;
}

// --- pre-tokenizers ---------------------------------------------------------------------------

// The code points of a stretch of text; positions at or past end read as nothing (no class).
typedef struct {
    const uint32_t *cps;
    size_t end;
} Text;

static uint32_t at(Text t, size_t i) {
    return i < t.end ? t.cps[i] : UNICODE_INVALID;
}
static int classes(Text t, size_t i) {
    return i < t.end ? unicode_class(t.cps[i]) : 0;
}
static bool is_letter(Text t, size_t i) {
    return classes(t, i) & UNICODE_LETTER;
}
static bool is_number(Text t, size_t i) {
    return classes(t, i) & UNICODE_NUMBER;
}
static bool is_space(Text t, size_t i) {
    return classes(t, i) & UNICODE_WHITESPACE;
}
static bool is_newline(Text t, size_t i) {
    return at(t, i) == '\r' || at(t, i) == '\n';
}

// [^\s\p{L}\p{N}]: any other character.
static bool is_other(Text t, size_t i) {
    return i < t.end && !(classes(t, i) & (UNICODE_LETTER | UNICODE_NUMBER | UNICODE_WHITESPACE));
}

static size_t skip(Text t, size_t i, bool (*in_class)(Text, size_t)) {
    while (in_class(t, i)) i++;
    return i;
}

static uint32_t ascii_lower(uint32_t c) {
    return c >= 'A' && c <= 'Z' ? c + 32 : c;
}

// 's|'t|'re|'ve|'m|'ll|'d at i (any_case: ASCII letters of either case): the end, or i.
static size_t contraction(Text t, size_t i, bool any_case) {
    if (at(t, i) != '\'') return i;
    uint32_t a = at(t, i + 1), b = at(t, i + 2);
    if (any_case) a = ascii_lower(a), b = ascii_lower(b);
    if (a == 's' || a == 't' || a == 'm' || a == 'd') return i + 2;
    if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return i + 3;
    return i;
}

// \s+(?!\S)|\s+ at i: spaces followed by a non-space leave their last space to the next word.
static size_t match_spaces(Text t, size_t i) {
    size_t end = skip(t, i, is_space);
    if (end == i) return i + 1; // nothing matches: the character alone (not reached)
    return end < t.end && end - i >= 2 ? end - 1 : end;
}

// 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+
static size_t match_gpt2(Text t, size_t i) {
    size_t end = contraction(t, i, false);
    if (end > i) return end;
    size_t j = i + (at(t, i) == ' '); // " ?": taken when what follows matches
    if (is_letter(t, j)) return skip(t, j, is_letter);
    if (is_number(t, j)) return skip(t, j, is_number);
    if (is_other(t, j)) return skip(t, j, is_other);
    return match_spaces(t, i);
}

// (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|
// \s*[\r\n]+|\s+(?!\S)|\s+
// with max_digits 3 (Llama-3); Qwen2's is the same with \p{N} (max_digits 1).
static size_t match_llama3(Text t, size_t i, size_t max_digits) {
    size_t end = contraction(t, i, true);
    if (end > i) return end;
    if (is_letter(t, i)) return skip(t, i, is_letter);
    if (!is_newline(t, i) && !is_number(t, i) && is_letter(t, i + 1)) {
        return skip(t, i + 1, is_letter);
    }
    if (is_number(t, i)) {
        for (end = i + 1; end < i + max_digits && is_number(t, end);) end++;
        return end;
    }
    size_t j = i + (at(t, i) == ' ');
    if (is_other(t, j)) return skip(t, skip(t, j, is_other), is_newline);
    // \s*[\r\n]+: the spaces up to and including the last newline among them.
    size_t spaces_end = skip(t, i, is_space);
    for (end = spaces_end; end > i && !is_newline(t, end - 1);) end--;
    if (end > i) return end;
    return match_spaces(t, i);
}

int bpe_pretokenize(Pretokenizer p, const char *text, size_t len, EncodeScratch *s) {
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        s->cp_offsets[n] = (uint32_t)i;
        i += (size_t)utf8_decode(text + i, len - i, &s->cps[n]);
    }
    s->cp_offsets[n] = (uint32_t)len;
    int n_words = 0;
    size_t digit = 0; // SmolLM: the next digit at or after i (or n)
    for (size_t i = 0; i < n;) {
        Text t = {s->cps, n};
        size_t end;
        if (p == PRETOKENIZER_LLAMA3 || p == PRETOKENIZER_QWEN2) {
            end = match_llama3(t, i, p == PRETOKENIZER_LLAMA3 ? 3 : 1);
        } else if (p == PRETOKENIZER_GPT2) {
            end = match_gpt2(t, i);
        } else if (is_number(t, i)) { // SmolLM: each digit alone, GPT-2's regex between
            end = i + 1;
        } else {
            if (digit < i) digit = i;
            while (digit < n && !is_number(t, digit)) digit++;
            end = match_gpt2((Text){s->cps, digit}, i);
        }
        s->word_ends[n_words++] = s->cp_offsets[end];
        i = end;
    }
    return n_words;
}

// --- encoding ---------------------------------------------------------------------------------

static void encode_word(const Tokenizer *tok, EncodeScratch *s, const char *word, size_t len,
                        IdList *out) {
    if (tok->ignore_merges) { // a word that is a token as a whole is taken as it is
        size_t n = 0;
        for (size_t i = 0; i < len; i++) {
            n += (size_t)utf8_encode(bpe_byte_char((unsigned char)word[i]), s->buffer + n);
        }
        int id = tokenizer_find(tok, s->buffer, n);
        if (id >= 0) {
            id_list_push(out, id);
            return;
        }
    }
    int n = (int)len;
    for (int i = 0; i < n; i++) {
        int id = tok->byte_token[(unsigned char)word[i]];
        s->symbols[i] = (Symbol){id, i - 1, i + 1 < n ? i + 1 : -1, (uint32_t)i, 1};
    }
    tokenizer_merge_word(tok, s, n, word, out);
}

void bpe_encode_segment(const Tokenizer *tok, const char *text, size_t len, EncodeScratch *s,
                        IdList *out) {
    int n_words = bpe_pretokenize(tok->pretokenizer, text, len, s);
    size_t start = 0;
    for (int w = 0; w < n_words; w++) {
        encode_word(tok, s, text + start, s->word_ends[w] - start, out);
        start = s->word_ends[w];
    }
}
