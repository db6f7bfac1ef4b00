// Tokenizer tests:
//   - llama.cpp's conformance vectors for its Llama-2 (SentencePiece) and Llama-3 (byte-level
//     BPE) vocabularies, read as its test-tokenizer-0 reads them;
//   - Hugging Face `tokenizers` as the truth for tokenizer.json vocabularies of six shapes and
//     for the pre-tokenizer regexes (tests/ref/make_tokenizer_fixtures.py);
//   - special tokens, invalid UTF-8, empty input, buffer limits, and refused files.
#include "check.h"
#include "monotonic_clock.h"
#include "read_file.h"
#include "tokenizer.h"
#include "tokenizer_internal.h"
#include "unicode.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

// Time limits are for optimized builds; sanitizers and -O0 get ten times as long.
#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANITIZED 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__) || !defined(__OPTIMIZE__)
#define SANITIZED 1
#endif
#ifdef SANITIZED
#define TIME_SCALE 10.0
#else
#define TIME_SCALE 1.0
#endif

static const char *source_dir(void) {
    const char *root = getenv("ARE_SOURCE_DIR");
    return root ? root : ".";
}

static void data_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/../shared/data/tokenizers/%s", source_dir(), name);
}

static void fixture_path(char *out, size_t cap, const char *name) {
    snprintf(out, cap, "%s/tests/ref/fixtures/tokenizers/%s", source_dir(), name);
}

// Encodes text (NUL-terminated) into ids; returns the count.
static int encode(const Tokenizer *tok, const char *text, bool add_bos, int *ids, int max_ids) {
    return tokenizer_encode(tok, text, strlen(text), add_bos, ids, max_ids);
}

static bool same_ids(const int *a, int n_a, const int *b, int n_b) {
    return n_a == n_b && (n_a == 0 || memcmp(a, b, (size_t)n_a * sizeof(int)) == 0);
}

// --- llama.cpp conformance ------------------------------------------------------------------

// test-tokenizer-0 splits the .inp file at "\n__ggml_vocab_test__\n" (the text after the last
// separator, empty here, is no case) and reads one line of space-separated ids per case from
// .out; it encodes without BOS.
static void test_conformance(const char *label, const char *vocab_name) {
    char path[4096], inp_path[4200], out_path[4200];
    data_path(path, sizeof(path), vocab_name);
    snprintf(inp_path, sizeof(inp_path), "%s.inp", path);
    snprintf(out_path, sizeof(out_path), "%s.out", path);
    size_t inp_len;
    char *inp = read_file(inp_path, &inp_len), *out = read_file(out_path, NULL);
    if (!inp || !out) {
        SKIP("%s: conformance vectors not found at %s", label, path);
        free(inp), free(out);
        return;
    }
    char err[512] = "";
    double t0 = monotonic_seconds();
    Tokenizer *tok = tokenizer_load(path, err, sizeof(err));
    double load_seconds = monotonic_seconds() - t0;
    CHECK(tok != NULL, "%s: %s", label, err);
    if (!tok) {
        free(inp), free(out);
        return;
    }
    CHECK(load_seconds < 1.0 * TIME_SCALE, "%s: loading took %.2f s", label, load_seconds);

    const char *sep = "\n__ggml_vocab_test__\n";
    int n_cases = 0, n_passed = 0, n_round_trips = 0;
    char *case_start = inp, *line = out, *out_end = out + strlen(out);
    int *ids = malloc(4096 * sizeof(int));
    char *decoded = malloc(1 << 16);
    t0 = monotonic_seconds();
    while (case_start < inp + inp_len && line < out_end) {
        char *case_end = strstr(case_start, sep);
        if (!case_end) case_end = inp + inp_len;
        size_t case_len = (size_t)(case_end - case_start);
        char *line_end = strchr(line, '\n');
        if (!line_end) line_end = out_end;
        *line_end = '\0';

        int expected[4096], n_expected = 0;
        for (char *p = line; *p;) {
            char *next;
            long v = strtol(p, &next, 10);
            if (next == p) break;
            expected[n_expected++] = (int)v;
            p = next;
        }
        int n = tokenizer_encode(tok, case_start, case_len, false, ids, 4096);
        bool same = same_ids(ids, n, expected, n_expected);
        n_cases++;
        n_passed += same;
        CHECK(same, "%s: case %d '%.*s': %d ids, expected %d", label, n_cases,
              (int)(case_len < 60 ? case_len : 60), case_start, n, n_expected);
        int len = tokenizer_decode(tok, ids, n, decoded, 1 << 16);
        n_round_trips += len == (int)case_len && memcmp(decoded, case_start, case_len) == 0;

        case_start = case_end + strlen(sep);
        line = line_end + 1;
    }
    double encode_seconds = monotonic_seconds() - t0;
    printf("%s: %d/%d cases (load %.3f s, encode %.4f s)\n", label, n_passed, n_cases, load_seconds,
           encode_seconds);
    printf("%s: %d/%d round trips\n", label, n_round_trips, n_cases);
    CHECK(n_cases == 46, "%s: %d cases read, expected 46", label, n_cases);
    CHECK(n_round_trips == n_cases, "%s: %d of %d cases decode back to their text", label,
          n_round_trips, n_cases);
    free(ids), free(decoded);
    tokenizer_free(tok);
    free(inp), free(out);
}

// Special tokens are found in the text before the model splits it, longest first; after one,
// SentencePiece puts its "▁" before the text again (llama.cpp's is_prev_special).
static void test_gguf_specials(void) {
    char spm_path[4096], bpe_path[4096], err[512] = "";
    data_path(spm_path, sizeof(spm_path), "ggml-vocab-llama-spm.gguf");
    data_path(bpe_path, sizeof(bpe_path), "ggml-vocab-llama-bpe.gguf");
    Tokenizer *spm = tokenizer_load(spm_path, err, sizeof(err));
    Tokenizer *bpe = spm ? tokenizer_load(bpe_path, err, sizeof(err)) : NULL;
    if (!spm || !bpe) {
        SKIP("special tokens: llama.cpp vocabularies not found (%s)", err);
        tokenizer_free(spm);
        return;
    }
    CHECK(tokenizer_kind(spm) == TOKENIZER_SPM && tokenizer_kind(bpe) == TOKENIZER_BPE, "kinds");
    CHECK(tokenizer_vocab_size(spm) == 32000 && tokenizer_vocab_size(bpe) == 128256,
          "vocab sizes %d %d", tokenizer_vocab_size(spm), tokenizer_vocab_size(bpe));
    CHECK(tokenizer_bos(spm) == 1 && tokenizer_eos(spm) == 2 && tokenizer_adds_bos(spm),
          "spm bos %d eos %d", tokenizer_bos(spm), tokenizer_eos(spm));
    CHECK(tokenizer_bos(bpe) == 128000 && tokenizer_eos(bpe) == 128001 && tokenizer_adds_bos(bpe),
          "bpe bos %d eos %d", tokenizer_bos(bpe), tokenizer_eos(bpe));

    int ids[64], n;
    // "▁Hello" is 15043 and "Hello" 9906 in the conformance cases.
    n = encode(spm, "<s>Hello</s>", false, ids, 64);
    CHECK(same_ids(ids, n, (int[]){1, 15043, 2}, 3), "spm <s>Hello</s>: %d ids", n);
    n = encode(spm, "Hello", true, ids, 64);
    CHECK(same_ids(ids, n, (int[]){1, 15043}, 2), "spm BOS Hello: %d ids", n);
    n = encode(bpe, "<|begin_of_text|>Hello<|eot_id|>", false, ids, 64);
    CHECK(same_ids(ids, n, (int[]){128000, 9906, 128009}, 3), "bpe specials: %d ids", n);
    n = encode(bpe, "Hello<|begin_of_text|>", true, ids, 64);
    CHECK(same_ids(ids, n, (int[]){128000, 9906, 128000}, 3), "bpe BOS + special: %d ids", n);
    // A special token's text inside a longer one's is not matched by itself.
    n = encode(bpe, "<|start_header_id|>", false, ids, 64);
    CHECK(same_ids(ids, n, (int[]){128006}, 1), "bpe <|start_header_id|>: %d ids", n);

    char text[64];
    int len = tokenizer_decode(bpe, (int[]){128000, 9906, 128009}, 3, text, sizeof(text));
    CHECK(len == 5 && strcmp(text, "Hello") == 0, "specials are not decoded: '%s'", text);
    len = tokenizer_decode(spm, (int[]){1, 15043, 2}, 3, text, sizeof(text));
    CHECK(len == 5 && strcmp(text, "Hello") == 0, "spm decode drops the first space: '%s'", text);
    CHECK(tokenizer_token_bytes(spm, 15043, text, sizeof(text)) == 6 && !strcmp(text, " Hello"),
          "token bytes of '▁Hello': '%s'", text);
    CHECK(tokenizer_token_bytes(spm, 3 + 0xE2, text, sizeof(text)) == 1 &&
              (unsigned char)text[0] == 0xE2,
          "token bytes of <0xE2>");
    CHECK(tokenizer_token_bytes(bpe, 128001, text, sizeof(text)) == 0 && text[0] == '\0',
          "a control token has no bytes");
    CHECK(tokenizer_token_bytes(bpe, 128256, text, sizeof(text)) == -1, "id out of range");
    CHECK(tokenizer_decode(bpe, (int[]){5, -1}, 2, text, sizeof(text)) == -1, "negative id");

    // Invalid UTF-8 is encoded byte by byte and decodes back to the same bytes.
    const char *invalid[] = {"\xff",
                             "ab\xfe\xff",
                             "\x80 lone continuation",
                             "cut \xe2\x96",
                             "overlong \xc0\xaf",
                             "surrogate \xed\xa0\x80!",
                             "\xf4\x90\x80\x80",
                             "mixed \xc3\xa9\xc3 \xa9"};
    for (int i = 0; i < 8; i++) {
        for (int k = 0; k < 2; k++) {
            Tokenizer *tok = k ? bpe : spm;
            size_t text_len = strlen(invalid[i]);
            n = tokenizer_encode(tok, invalid[i], text_len, false, ids, 64);
            char back[128];
            len = tokenizer_decode(tok, ids, n, back, sizeof(back));
            CHECK(n > 0 && len == (int)text_len && memcmp(back, invalid[i], text_len) == 0,
                  "%s: invalid UTF-8 case %d does not decode back (%d ids, %d bytes)",
                  k ? "bpe" : "spm", i, n, len);
        }
    }
    n = encode(spm, "\xff", false, ids, 64);
    CHECK(same_ids(ids, n, (int[]){29871, 3 + 0xFF}, 2), "spm 0xFF is ▁ <0xFF>: %d ids", n);
    n = encode(bpe, "\xff", false, ids, 64);
    CHECK(n == 1 && ids[0] == tokenizer_find(bpe, "\xc3\xbf", 2), "bpe 0xFF is 'ÿ'");

    // Empty input; buffers too small: the count is still the full one.
    CHECK(encode(spm, "", false, ids, 64) == 0 && encode(bpe, "", false, ids, 64) == 0, "empty");
    CHECK(encode(bpe, "", true, ids, 64) == 1 && ids[0] == 128000, "empty with BOS");
    CHECK(tokenizer_encode(bpe, NULL, 0, false, NULL, 0) == 0, "NULL empty text");
    int full = encode(bpe, "Hello world, how are you?", false, ids, 64);
    int few[3] = {-7, -7, -7};
    CHECK(encode(bpe, "Hello world, how are you?", false, few, 2) == full && few[2] == -7 &&
              few[0] == ids[0] && few[1] == ids[1],
          "max_ids: %d of %d", 2, full);
    CHECK(tokenizer_decode(bpe, ids, full, text, 6) == 25 && strcmp(text, "Hello") == 0,
          "decode into 6 bytes: '%s'", text);
    CHECK(tokenizer_decode(bpe, ids, full, NULL, 0) == 25, "decode length only");

    // Long inputs stay fast: one 100000-letter word (100000 byte symbols to merge), a run of
    // spaces, and digits.
    size_t long_len = 100000;
    char *long_text = malloc(long_len + 1);
    int max_ids = (int)long_len + 2; // SentencePiece: "▁" and a token per digit
    int *long_ids = malloc((size_t)max_ids * sizeof(int));
    const char fill[] = {'a', ' ', '7'};
    for (int f = 0; f < 3; f++) {
        memset(long_text, fill[f], long_len);
        long_text[long_len] = '\0';
        for (int k = 0; k < 2; k++) {
            Tokenizer *tok = k ? bpe : spm;
            double t0 = monotonic_seconds();
            n = tokenizer_encode(tok, long_text, long_len, false, long_ids, max_ids);
            double seconds = monotonic_seconds() - t0;
            char *back = malloc(long_len + 8);
            len = tokenizer_decode(tok, long_ids, n, back, long_len + 8);
            CHECK(n > 0 && n <= max_ids && len == (int)long_len &&
                      memcmp(back, long_text, long_len) == 0,
                  "%s: long '%c' text round trip (%d ids)", k ? "bpe" : "spm", fill[f], n);
            CHECK(seconds < 1.0 * TIME_SCALE, "%s: 100000 x '%c' took %.2f s", k ? "bpe" : "spm",
                  fill[f], seconds);
            free(back);
        }
    }
    free(long_text), free(long_ids);
    tokenizer_free(spm);
    tokenizer_free(bpe);
}

// GPT-2's byte map: 256 distinct printable characters, inverted by bpe_char_byte.
static void test_byte_map(void) {
    bool ok = true;
    for (int b = 0; b < 256; b++) {
        uint32_t cp = bpe_byte_char(b);
        ok &= bpe_char_byte(cp) == b && !(unicode_class(cp) & UNICODE_WHITESPACE) && cp > 0x20;
        for (int c = 0; c < b; c++) ok &= bpe_byte_char(c) != cp;
    }
    CHECK(ok, "the byte map is not a bijection onto printable characters");
    CHECK(bpe_byte_char(' ') == 0x120 && bpe_byte_char('\n') == 0x10A &&
              bpe_byte_char(0xAD) == 0x143,
          "'Ġ' for space, 'Ċ' for newline, U+0143 for 0xAD");
    CHECK(bpe_char_byte(0x144) == -1 && bpe_char_byte(0xAD) == -1 && bpe_char_byte(' ') == -1,
          "characters outside the map");
}

static void test_utf8(void) {
    struct {
        const char *s;
        int len;
        uint32_t cp;
    } cases[] = {{"A", 1, 'A'},
                 {"\xc3\xa9", 2, 0xE9},
                 {"\xe2\x96\x81", 3, 0x2581},
                 {"\xf0\x9f\xa6\x99", 4, 0x1F999},
                 {"\xc0\xaf", 1, UNICODE_INVALID},
                 {"\xed\xa0\x80", 1, UNICODE_INVALID},
                 {"\xf4\x90\x80\x80", 1, UNICODE_INVALID},
                 {"\x80", 1, UNICODE_INVALID},
                 {"\xe2\x96", 1, UNICODE_INVALID},
                 {"\xff", 1, UNICODE_INVALID}};
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        uint32_t cp;
        int len = utf8_decode(cases[i].s, strlen(cases[i].s), &cp);
        CHECK(len == cases[i].len && cp == cases[i].cp, "utf8_decode case %zu: %d U+%X", i, len,
              cp);
        if (cp != UNICODE_INVALID) {
            char out[4];
            CHECK(utf8_encode(cp, out) == len && memcmp(out, cases[i].s, (size_t)len) == 0,
                  "utf8_encode U+%X", cp);
        }
    }
    CHECK(unicode_class(0x3000) == UNICODE_WHITESPACE && unicode_class(0x1C) == 0 &&
              unicode_class(0x2164) == UNICODE_NUMBER && unicode_class(0x1C5) == UNICODE_LETTER &&
              unicode_class(0x301) == 0 && unicode_class(UNICODE_INVALID) == 0,
          "unicode classes");
}

// The pre-tokenizers cut as Hugging Face's regex Split does.
static void test_pretokenizer_splits(void) {
    char path[4096];
    fixture_path(path, sizeof(path), "pretokenizer_splits.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    if (!root) return;
    const char *names[] = {"llama3", "gpt2", "smollm", "qwen2"};
    Pretokenizer kinds[] = {PRETOKENIZER_LLAMA3, PRETOKENIZER_GPT2, PRETOKENIZER_SMOLLM,
                            PRETOKENIZER_QWEN2};
    EncodeScratch s = {0};
    size_t cap = 1024;
    s.cps = malloc(cap * sizeof(uint32_t));
    s.cp_offsets = malloc(cap * sizeof(uint32_t));
    s.word_ends = malloc(cap * sizeof(uint32_t));
    for (int k = 0; k < 4; k++) {
        json_t *cases = json_object_get(root, names[k]);
        size_t i;
        json_t *pieces;
        int n_ok = 0, n_cases = (int)json_array_size(cases);
        json_array_foreach(cases, i, pieces) {
            char text[1024] = "";
            uint32_t expected[256];
            int n_expected = 0;
            size_t len = 0, j;
            json_t *piece;
            json_array_foreach(pieces, j, piece) {
                size_t piece_len = json_string_length(piece);
                memcpy(text + len, json_string_value(piece), piece_len);
                len += piece_len;
                expected[n_expected++] = (uint32_t)len;
            }
            int n = bpe_pretokenize(kinds[k], text, len, &s);
            bool same = n == n_expected && (n == 0 || memcmp(s.word_ends, expected,
                                                             (size_t)n * sizeof(uint32_t)) == 0);
            n_ok += same;
            CHECK(same, "%s split of case %zu '%.*s': %d words, expected %d", names[k], i, (int)len,
                  text, n, n_expected);
        }
        CHECK(n_cases == 400, "%s: %d split cases", names[k], n_cases);
        printf("%s pre-tokenizer: %d/%d splits as Hugging Face\n", names[k], n_ok, n_cases);
    }
    free(s.cps), free(s.cp_offsets), free(s.word_ends);
    json_decref(root);
}

static void check_hf_cases(const char *name, const Tokenizer *tok, json_t *cases) {
    size_t i;
    json_t *c;
    int n_ok = 0;
    json_array_foreach(cases, i, c) {
        const char *text = json_string_value(json_object_get(c, "text"));
        size_t text_len = json_string_length(json_object_get(c, "text"));
        int ids[512], want[512], want_bos[512];
        int n_want = 0, n_want_bos = 0;
        size_t k;
        json_t *v;
        json_array_foreach(json_object_get(c, "ids"), k, v) want[n_want++] =
            (int)json_integer_value(v);
        json_array_foreach(json_object_get(c, "ids_with_bos"), k, v) {
            want_bos[n_want_bos++] = (int)json_integer_value(v);
        }
        int n = tokenizer_encode(tok, text, text_len, false, ids, 512);
        bool ok = same_ids(ids, n, want, n_want);
        CHECK(ok, "%s: '%s': %d ids, Hugging Face %d", name, text, n, n_want);
        n = tokenizer_encode(tok, text, text_len, tokenizer_adds_bos(tok), ids, 512);
        CHECK(same_ids(ids, n, want_bos, n_want_bos), "%s: '%s' with BOS: %d ids, HF %d", name,
              text, n, n_want_bos);
        const char *decoded = json_string_value(json_object_get(c, "decoded"));
        char back[1024];
        if (decoded) {
            n = tokenizer_encode(tok, text, text_len, false, ids, 512);
            tokenizer_decode(tok, ids, n, back, sizeof(back));
            CHECK(strcmp(back, decoded) == 0, "%s: '%s' decodes to '%s', HF '%s'", name, text, back,
                  decoded);
            ok &= strcmp(back, decoded) == 0;
        }
        n_ok += ok;
    }
    printf("%s: %d/%zu cases as Hugging Face\n", name, n_ok, json_array_size(cases));
}

// tokenizer.json vocabularies of each supported shape, against Hugging Face tokenizers.
static void test_hf_fixtures(void) {
    char path[4096];
    fixture_path(path, sizeof(path), "cases.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root != NULL, "%s: %s", path, jerr.text);
    if (!root) return;
    size_t i;
    json_t *entry;
    json_array_foreach(root, i, entry) {
        const char *name = json_string_value(json_object_get(entry, "name"));
        char folder[4096], err[512] = "";
        fixture_path(folder, sizeof(folder), name);
        Tokenizer *tok = tokenizer_load(folder, err, sizeof(err));
        CHECK(tok != NULL, "%s", err);
        if (!tok) continue;
        CHECK(tokenizer_vocab_size(tok) == json_integer_value(json_object_get(entry, "vocab_size")),
              "%s: vocab size %d", name, tokenizer_vocab_size(tok));
        check_hf_cases(name, tok, json_object_get(entry, "cases"));
        tokenizer_free(tok);
    }
    json_decref(root);
}

// BOS and EOS from the template and from tokenizer_config.json; merges as pairs (the newer
// tokenizer.json form) give the same tokenizer.
static void test_json_details(void) {
    char folder[4096], file[4200], err[512] = "";
    fixture_path(folder, sizeof(folder), "llama3");
    snprintf(file, sizeof(file), "%s/tokenizer.json", folder);
    Tokenizer *tok = tokenizer_load(file, err, sizeof(err));
    CHECK(tok != NULL, "%s", err);
    if (!tok) return;
    CHECK(tokenizer_kind(tok) == TOKENIZER_BPE && tokenizer_bos(tok) == 0 &&
              tokenizer_eos(tok) == 2 && tokenizer_adds_bos(tok),
          "llama3 fixture: bos %d eos %d (tokenizer_config.json names <|eot_id|> = 2)",
          tokenizer_bos(tok), tokenizer_eos(tok));

    size_t len;
    char *text = read_file(file, &len);
    json_t *root = json_loads(text, 0, NULL);
    json_t *merges = json_object_get(json_object_get(root, "model"), "merges");
    size_t i;
    json_t *merge;
    json_array_foreach(merges, i, merge) {
        const char *m = json_string_value(merge), *space = strchr(m, ' ');
        json_array_set_new(merges, i, json_pack("[s#s]", m, (int)(space - m), space + 1));
    }
    char *pairs_text = json_dumps(root, 0);
    Tokenizer *pairs =
        tokenizer_load_json_text(pairs_text, strlen(pairs_text), "pairs", err, sizeof(err));
    CHECK(pairs != NULL, "%s", err);
    const char *sample = "We'Ve been told 12345 times:\n  naïve café 🦙!";
    int a[128], b[128];
    int n_a = encode(tok, sample, false, a, 128);
    int n_b = pairs ? encode(pairs, sample, false, b, 128) : -1;
    CHECK(same_ids(a, n_a, b, n_b), "merges as pairs: %d vs %d ids", n_a, n_b);
    // Without tokenizer_config.json, EOS falls back on the usual end-of-text names.
    CHECK(pairs && tokenizer_eos(pairs) == 1, "eos without config: %d",
          pairs ? tokenizer_eos(pairs) : -2);
    tokenizer_free(pairs);
    free(pairs_text);
    json_decref(root);
    free(text);
    tokenizer_free(tok);
}

// A tokenizer.json whose model part is the given text (vocab, merges), around a small
// SentencePiece-style or byte-level pipeline.
static Tokenizer *load_inline(const char *json, char *err, size_t err_len) {
    return tokenizer_load_json_text(json, strlen(json), "inline.json", err, err_len);
}

static void expect_refused(const char *what, Tokenizer *tok, const char *err,
                           const char *expected) {
    CHECK(tok == NULL && strstr(err, expected) != NULL, "%s: expected an error with '%s', got '%s'",
          what, expected, tok ? "(loaded)" : err);
    if (!tok) printf("  refused %-28s %s\n", what, err);
    tokenizer_free(tok);
}

#define SPM_HEAD                                                                                   \
    "{\"normalizer\": {\"type\": \"Replace\", \"pattern\": {\"String\": \" \"}, "                  \
    "\"content\": \"\\u2581\"}, \"model\": {\"type\": \"BPE\", \"byte_fallback\": true, "

static void test_refused_files(void) {
    char err[512];
    expect_refused(
        "unknown model type",
        load_inline("{\"model\": {\"type\": \"WordPiece\", \"vocab\": {}}}", err, sizeof(err)), err,
        "model.type 'WordPiece' is not supported");
    expect_refused(
        "id out of range",
        load_inline(SPM_HEAD "\"vocab\": {\"a\": 0, \"b\": 7}, \"merges\": []}}", err, sizeof(err)),
        err, "'b' has id 7, outside 0..1");
    expect_refused(
        "negative id",
        load_inline(SPM_HEAD "\"vocab\": {\"a\": -1}, \"merges\": []}}", err, sizeof(err)), err,
        "'a' has id -1");
    expect_refused("id missing",
                   load_inline(SPM_HEAD "\"vocab\": {\"a\": 0, \"c\": 2}, \"merges\": []}, "
                                        "\"added_tokens\": [{\"id\": 2, \"content\": \"c\"}]}",
                               err, sizeof(err)),
                   err, "token id 1 is missing");
    expect_refused("merge of an unknown token",
                   load_inline(SPM_HEAD "\"vocab\": {\"a\": 0, \"b\": 1, \"ab\": 2}, "
                                        "\"merges\": [\"a b\", \"a x\"]}}",
                               err, sizeof(err)),
                   err, "merge 1 ('a' 'x'): 'x' is not a token");
    expect_refused("merge into an unknown token",
                   load_inline(SPM_HEAD "\"vocab\": {\"a\": 0, \"b\": 1}, \"merges\": [[\"a\", "
                                        "\"b\"]]}}",
                               err, sizeof(err)),
                   err, "merge 0 ('a' 'b'): 'ab' is not a token");
    expect_refused(
        "merge without a space",
        load_inline(SPM_HEAD "\"vocab\": {\"a\": 0}, \"merges\": [\"ab\"]}}", err, sizeof(err)),
        err, "model.merges[0] 'ab' is not two tokens apart by one space");
    expect_refused(
        "no byte tokens",
        load_inline(SPM_HEAD "\"vocab\": {\"a\": 0}, \"merges\": []}}", err, sizeof(err)), err,
        "neither '<0x00>' for byte 0x00 nor an unknown token");
    expect_refused(
        "unknown Split regex",
        load_inline("{\"pre_tokenizer\": {\"type\": \"Sequence\", \"pretokenizers\": "
                    "[{\"type\": \"Split\", \"pattern\": {\"Regex\": \"\\\\w+|\\\\s+\"}, "
                    "\"behavior\": \"Isolated\"}, {\"type\": \"ByteLevel\", "
                    "\"add_prefix_space\": false, \"use_regex\": false}]}, "
                    "\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                    "\"merges\": []}}",
                    err, sizeof(err)),
        err, "Split pattern '\\w+|\\s+' is not a known pre-tokenizer regex");
    expect_refused("byte-level without bytes",
                   load_inline("{\"pre_tokenizer\": {\"type\": \"ByteLevel\", "
                               "\"add_prefix_space\": false}, \"model\": {\"type\": \"BPE\", "
                               "\"vocab\": {\"a\": 0}, \"merges\": []}}",
                               err, sizeof(err)),
                   err, "the byte-level vocabulary has no token");
    expect_refused("unsupported normalizer",
                   load_inline("{\"normalizer\": {\"type\": \"NFKC\"}, \"model\": {\"type\": "
                               "\"BPE\", \"byte_fallback\": true, \"vocab\": {\"a\": 0}, "
                               "\"merges\": []}}",
                               err, sizeof(err)),
                   err, "normalizer step NFKC is not supported");
    expect_refused("no byte fallback",
                   load_inline("{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": 0}, "
                               "\"merges\": []}}",
                               err, sizeof(err)),
                   err, "model.byte_fallback is false");
    expect_refused(
        "duplicate key",
        load_inline(SPM_HEAD "\"vocab\": {\"a\": 0, \"a\": 1}, \"merges\": []}}", err, sizeof(err)),
        err, "inline.json:1:");
    expect_refused("not an object", load_inline("[1, 2]", err, sizeof(err)), err,
                   "inline.json: is an array, not an object");

    // Malformed JSON in a file: the message names the file, line and column.
    char dir[] = "/tmp/are_tokenizer_XXXXXX", path[256];
    CHECK(mkdtemp(dir) != NULL, "mkdtemp");
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    FILE *f = fopen(path, "w");
    fputs("{\n  \"model\": {\n    \"type\": \"BPE\",,\n  }\n}\n", f);
    fclose(f);
    char expected[300];
    snprintf(expected, sizeof(expected), "%s:3:19:", path);
    expect_refused("malformed JSON", tokenizer_load(dir, err, sizeof(err)), err, expected);
    remove(path);
    rmdir(dir);
    expect_refused("missing file", tokenizer_load("/nonexistent/tokenizer.json", err, sizeof(err)),
                   err, "/nonexistent/tokenizer.json: no such file");

    const char *ggufs[][2] = {
        {"bad_model.gguf", "tokenizer.ggml.model 'bert' is not a supported tokenizer"},
        {"bad_merge.gguf", "merge 1 ('a' 'zz'): 'zz' is not a token"},
        {"bad_pre.gguf", "tokenizer.ggml.pre 'falcon' is not a known pre-tokenizer"},
    };
    for (int i = 0; i < 3; i++) {
        fixture_path(path, sizeof(path), ggufs[i][0]);
        expect_refused(ggufs[i][0], tokenizer_load(path, err, sizeof(err)), err, ggufs[i][1]);
    }
}

int main(void) {
    test_utf8();
    test_byte_map();
    test_pretokenizer_splits();
    test_conformance("llama-spm", "ggml-vocab-llama-spm.gguf");
    test_conformance("llama-bpe", "ggml-vocab-llama-bpe.gguf");
    test_gguf_specials();
    test_hf_fixtures();
    test_json_details();
    test_refused_files();
    return check_summary();
}
