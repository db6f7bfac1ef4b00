// BPE training (io/tokenizer_train.c), checked against
//   - the loader: the saved tokenizer.json loads, encodes the training text exactly as the
//     trainer segmented it (merges in training order), and round-trips unseen text, Unicode
//     and bytes outside the vocabulary through byte fallback;
//   - a naive trainer here, which recounts every pair from scratch before each merge;
//   - Hugging Face `tokenizers` on a tokenizer trained from a committed corpus
//     (tests/ref/make_trained_tokenizer_fixture.py), whose file must also come out the same;
//   - determinism, special tokens, and refused options.
#include "check.h"
#include "read_file.h"
#include "tokenizer.h"
#include "tokenizer_train.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static const char *specials[] = {"<|user|>", "<|assistant|>", "<|end|>"};

static const char *source_dir(void) {
    const char *root = getenv("ARE_SOURCE_DIR");
    return root ? root : ".";
}

// --- a generated corpus
// ---------------------------------------------------------------------------

static uint32_t next_random(uint64_t *state) {
    *state = *state * 6364136223846793005u + 1442695040888963407u;
    return (uint32_t)(*state >> 33);
}

// Word number i of a made-up language: syllables, some of them not ASCII.
static void made_up_word(int i, char *out) {
    static const char *syllables[] = {"ka", "to", "ri", "ne", "sa", "mu", "lo", "pi",
                                      "é",  "ün", "da", "ve", "or", "st", "qu", "ai"};
    out[0] = '\0';
    for (int k = 0; k < 1 + i % 3; k++, i /= 16) strcat(out, syllables[i % 16]);
}

// Chat exchanges of made-up words, frequent and rare ones (the square of a uniform number
// favours small word numbers), into a new buffer of *len bytes; the turns begin and end with
// special tokens when with_specials.
static char *make_corpus(int n_exchanges, bool with_specials, size_t *len) {
    size_t cap = (size_t)n_exchanges * 400 + 1;
    char *text = malloc(cap);
    uint64_t state = 42;
    size_t n = 0;
    for (int e = 0; e < n_exchanges; e++) {
        for (int turn = 0; turn < 2; turn++) {
            n += (size_t)snprintf(text + n, cap - n, "%s\n", with_specials ? specials[turn] : "");
            int n_words = 3 + (int)(next_random(&state) % 10);
            for (int w = 0; w < n_words; w++) {
                double u = next_random(&state) / 4294967296.0;
                char word[16];
                made_up_word((int)(u * u * 3000), word);
                n += (size_t)snprintf(text + n, cap - n, w ? " %s" : "%s", word);
            }
            n += (size_t)snprintf(text + n, cap - n, "%s%s\n", turn ? "." : "?",
                                  with_specials ? specials[2] : "");
        }
    }
    *len = n;
    return text;
}

static TokenizerTrainer *train(const char *text, size_t len, int vocab_size) {
    char err[256] = "";
    TokenizerTrainOptions opt = {vocab_size, NULL, NULL, NULL, specials, 3, NULL};
    TokenizerTrainer *t = tokenizer_trainer_new(&opt, err, sizeof(err));
    if (t && tokenizer_trainer_add_text(t, text, len, err, sizeof(err)) == 0 &&
        tokenizer_trainer_train(t, err, sizeof(err)) == 0) {
        return t;
    }
    fprintf(stderr, "training failed: %s\n", err);
    tokenizer_trainer_free(t);
    return NULL;
}

// The ids of text (at most max), or -1.
static int encode(const Tokenizer *tok, const char *text, int *ids, int max) {
    return tokenizer_encode(tok, text, strlen(text), false, ids, max);
}

static bool round_trips(const Tokenizer *tok, const char *text, size_t len) {
    int n = tokenizer_encode(tok, text, len, false, NULL, 0);
    int *ids = malloc((size_t)(n > 0 ? n : 1) * sizeof(int));
    char *back = malloc(len + 1);
    bool ok = n >= 0 && ids && back && tokenizer_encode(tok, text, len, false, ids, n) == n &&
              tokenizer_decode(tok, ids, n, back, len + 1) == (int)len &&
              memcmp(back, text, len) == 0;
    free(ids);
    free(back);
    return ok;
}

static void test_generated_corpus(const char *dir) {
    size_t len;
    char *text = make_corpus(3000, true, &len);
    TokenizerTrainer *t = train(text, len, 800);
    CHECK(t != NULL, "training on the generated corpus");
    if (!t) {
        free(text);
        return;
    }
    CHECK(tokenizer_trainer_vocab_size(t) == 800, "vocabulary of %d tokens, not 800",
          tokenizer_trainer_vocab_size(t));
    char err[256] = "";
    CHECK(tokenizer_trainer_save(t, dir, err, sizeof(err)) == 0, "save: %s", err);
    char path[512];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    Tokenizer *tok = tokenizer_load_json(path, err, sizeof(err));
    CHECK(tok != NULL, "the loader reads the trained tokenizer.json: %s", err);
    if (!tok) {
        tokenizer_trainer_free(t);
        free(text);
        return;
    }
    CHECK(tokenizer_kind(tok) == TOKENIZER_SPM && tokenizer_vocab_size(tok) == 800,
          "SentencePiece-style, 800 tokens (%d)", tokenizer_vocab_size(tok));
    CHECK(tokenizer_bos(tok) == 1 && tokenizer_eos(tok) == 2 && tokenizer_adds_bos(tok),
          "BOS <s> = 1 put first, EOS </s> = 2 (%d, %d)", tokenizer_bos(tok), tokenizer_eos(tok));

    // The loader's merges by rank give the trainer's own segmentation of the whole corpus.
    int n = tokenizer_encode(tok, text, len, false, NULL, 0);
    int *ids = malloc((size_t)n * sizeof(int)), *want = malloc((size_t)n * sizeof(int));
    tokenizer_encode(tok, text, len, false, ids, n);
    int n_want = tokenizer_trainer_encode(t, text, len, want, n);
    int first_diff = -1;
    for (int i = 0; i < n && n == n_want && first_diff < 0; i++) {
        if (ids[i] != want[i]) first_diff = i;
    }
    CHECK(n == n_want && first_diff < 0,
          "the loader encodes the corpus as the trainer segmented it (%d vs %d ids, first "
          "difference at %d)",
          n, n_want, first_diff);
    CHECK((double)len / n > 3.0, "merges compress the corpus: %.2f bytes per token",
          (double)len / n);
    free(ids);
    free(want);

    size_t plain_len; // decoding leaves special tokens out, so the corpus without them
    char *plain = make_corpus(300, false, &plain_len);
    CHECK(round_trips(tok, plain, plain_len), "decode(encode(text)) is the text");
    free(plain);
    const char *unseen[] = {
        "Zebras quietly vex the jumping fox, 42 times!",
        "kato ri ne\n\ttabs, newlines\r\n and  double  spaces ",
        "日本語のテキスト, Ελληνικά, emoji \xF0\x9F\x98\x80 and é/ün from the corpus",
        "control bytes \x01\x02\x7F and a tab\t",
    };
    for (int i = 0; i < 4; i++) {
        CHECK(round_trips(tok, unseen[i], strlen(unseen[i])), "round trip of unseen text %d", i);
    }

    // Characters the corpus never had fall back to their bytes: <0xXX> after the 6 specials.
    int byte_ids[8];
    int n_bytes = encode(tok, "\xE6\x97\xA5", byte_ids, 8); // 日
    CHECK(n_bytes == 4 && byte_ids[1] == 6 + 0xE6 && byte_ids[2] == 6 + 0x97 &&
              byte_ids[3] == 6 + 0xA5,
          "an unseen character is \"▁\" and its three byte tokens (%d ids)", n_bytes);

    int one[4];
    for (int i = 0; i < 3; i++) {
        CHECK(encode(tok, specials[i], one, 4) == 1 && one[0] == 3 + i,
              "special token %s is the single id %d", specials[i], 3 + i);
    }
    char word[16], spaced[20];
    made_up_word(0, word); // the most frequent word
    snprintf(spaced, sizeof(spaced), " %s", word);
    CHECK(encode(tok, spaced, one, 4) == 1, "the most frequent word '%s' is one token", word);
    tokenizer_free(tok);
    tokenizer_trainer_free(t);
    free(text);
}

// Training twice on the same text writes the same bytes.
static void test_determinism(const char *dir_a, const char *dir_b) {
    size_t len;
    char *text = make_corpus(300, true, &len);
    char err[256] = "";
    TokenizerTrainer *a = train(text, len, 500), *b = train(text, len, 500);
    bool saved = a && b && tokenizer_trainer_save(a, dir_a, err, sizeof(err)) == 0 &&
                 tokenizer_trainer_save(b, dir_b, err, sizeof(err)) == 0;
    CHECK(saved, "two trainings saved: %s", err);
    char path_a[512], path_b[512];
    snprintf(path_a, sizeof(path_a), "%s/tokenizer.json", dir_a);
    snprintf(path_b, sizeof(path_b), "%s/tokenizer.json", dir_b);
    size_t len_a = 0, len_b = 0;
    char *file_a = read_file(path_a, &len_a), *file_b = read_file(path_b, &len_b);
    CHECK(file_a && file_b && len_a == len_b && memcmp(file_a, file_b, len_a) == 0,
          "the same text gives byte-identical tokenizer.json files");
    free(file_a);
    free(file_b);
    tokenizer_trainer_free(a);
    tokenizer_trainer_free(b);
    free(text);
}

// --- a naive trainer ---------------------------------------------------------------------------

// Naive BPE on text of space-separated words (no specials, not starting with a space): every
// word is "▁" + word; before each merge all pairs are counted afresh. Token texts go to tokens
// (n_tokens of them, the first first_char given), and the merges to merges as "left right".
#define NAIVE_MAX_TOKENS 600
#define NAIVE_MAX_WORDS  2000
#define NAIVE_WORD_IDS   40

typedef struct {
    char *tokens[NAIVE_MAX_TOKENS];
    int n_tokens, first_char;
    int ids[NAIVE_MAX_WORDS][NAIVE_WORD_IDS], len[NAIVE_MAX_WORDS], count[NAIVE_MAX_WORDS];
    int n_words;
} Naive;

static int naive_find(const Naive *nv, const char *text) {
    for (int i = nv->first_char; i < nv->n_tokens; i++) {
        if (!strcmp(nv->tokens[i], text)) return i;
    }
    return -1;
}

static int utf8_length(unsigned char c) {
    return c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
}

// The words with their counts, and the characters most frequent first (ties in byte order).
static void naive_words(Naive *nv, const char *text) {
    char *copy = strdup(text), *save = NULL;
    char *words[NAIVE_MAX_WORDS];
    for (char *w = strtok_r(copy, " ", &save); w; w = strtok_r(NULL, " ", &save)) {
        char marked[64];
        snprintf(marked, sizeof(marked), "\xE2\x96\x81%s", w);
        int found = -1;
        for (int i = 0; i < nv->n_words && found < 0; i++) {
            if (!strcmp(words[i], marked)) found = i;
        }
        if (found < 0) {
            found = nv->n_words++;
            words[found] = strdup(marked);
            nv->count[found] = 0;
        }
        nv->count[found]++;
    }
    char *chars[256];
    long char_count[256];
    int n_chars = 0;
    for (int i = 0; i < nv->n_words; i++) {
        for (const char *c = words[i]; *c; c += utf8_length((unsigned char)*c)) {
            int k = 0, len = utf8_length((unsigned char)*c);
            while (k < n_chars && strncmp(chars[k], c, (size_t)len) != 0) k++;
            if (k == n_chars) chars[n_chars] = strndup(c, (size_t)len), char_count[n_chars++] = 0;
            char_count[k] += nv->count[i];
        }
    }
    for (int i = 0; i < n_chars; i++) { // selection sort: most frequent, then smaller bytes
        for (int j = i + 1; j < n_chars; j++) {
            bool before = char_count[j] > char_count[i] ||
                          (char_count[j] == char_count[i] && strcmp(chars[j], chars[i]) < 0);
            if (before) {
                char *c = chars[i];
                long k = char_count[i];
                chars[i] = chars[j], char_count[i] = char_count[j];
                chars[j] = c, char_count[j] = k;
            }
        }
        nv->tokens[nv->n_tokens++] = chars[i];
    }
    for (int i = 0; i < nv->n_words; i++) {
        nv->len[i] = 0;
        for (const char *c = words[i]; *c; c += utf8_length((unsigned char)*c)) {
            char one[5] = {0};
            memcpy(one, c, (size_t)utf8_length((unsigned char)*c));
            nv->ids[i][nv->len[i]++] = naive_find(nv, one);
        }
        free(words[i]);
    }
    free(copy);
}

// Learns merges until vocab_size tokens; returns the number of merges, written to merges.
static int naive_train(Naive *nv, const char *text, int vocab_size, char **merges) {
    nv->n_tokens = nv->first_char = 6 + 256;
    for (int i = 0; i < nv->first_char; i++) nv->tokens[i] = NULL; // never compared
    naive_words(nv, text);
    int n_merges = 0, side = NAIVE_MAX_TOKENS - nv->first_char;
    long *counts = malloc((size_t)side * (size_t)side * sizeof(long)); // [left, right]
    while (nv->n_tokens < vocab_size && n_merges < NAIVE_MAX_TOKENS) {
        memset(counts, 0, (size_t)side * (size_t)side * sizeof(long));
        for (int w = 0; w < nv->n_words; w++) {
            for (int i = 1; i < nv->len[w]; i++) {
                int l = nv->ids[w][i - 1] - nv->first_char, r = nv->ids[w][i] - nv->first_char;
                counts[l * side + r] += nv->count[w];
            }
        }
        long best_count = 1; // a pair must occur twice
        int best_left = -1, best_right = -1;
        for (int l = 0; l < side; l++) {
            for (int r = 0; r < side; r++) {
                if (counts[l * side + r] > best_count) {
                    best_count = counts[l * side + r];
                    best_left = l + nv->first_char, best_right = r + nv->first_char;
                }
            }
        }
        if (best_left < 0) break;
        char joined[128];
        snprintf(joined, sizeof(joined), "%s%s", nv->tokens[best_left], nv->tokens[best_right]);
        int merged = naive_find(nv, joined);
        if (merged < 0) nv->tokens[merged = nv->n_tokens++] = strdup(joined);
        merges[n_merges] = malloc(strlen(joined) + 2);
        sprintf(merges[n_merges++], "%s %s", nv->tokens[best_left], nv->tokens[best_right]);
        for (int w = 0; w < nv->n_words; w++) {
            int out = 0;
            for (int i = 0; i < nv->len[w]; i++) {
                bool pair = i + 1 < nv->len[w] && nv->ids[w][i] == best_left &&
                            nv->ids[w][i + 1] == best_right;
                nv->ids[w][out++] = pair ? merged : nv->ids[w][i];
                if (pair) i++;
            }
            nv->len[w] = out;
        }
    }
    free(counts);
    return n_merges;
}

// The trainer learns the naive trainer's merges on text (vocab_size tokens asked), and the
// loader encodes text as the trainer segmented it.
static void test_against_naive(const char *dir, const char *name, const char *text, size_t n,
                               int vocab_size) {
    Naive *nv = calloc(1, sizeof(Naive));
    char *merges[NAIVE_MAX_TOKENS];
    int n_merges = naive_train(nv, text, vocab_size, merges);

    TokenizerTrainer *t = train(text, n, vocab_size);
    char err[256] = "";
    bool saved = t && tokenizer_trainer_save(t, dir, err, sizeof(err)) == 0;
    CHECK(saved, "train and save: %s", err);
    char path[512];
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    json_error_t jerr;
    json_t *root = saved ? json_load_file(path, 0, &jerr) : NULL;
    json_t *got = json_object_get(json_object_get(root, "model"), "merges");
    CHECK(t && tokenizer_trainer_merge_count(t) == n_merges &&
              (int)json_array_size(got) == n_merges,
          "%s: as many merges as the naive trainer (%d vs %d)", name,
          t ? tokenizer_trainer_merge_count(t) : -1, n_merges);
    int first_diff = -1;
    for (int i = 0; i < n_merges && i < (int)json_array_size(got) && first_diff < 0; i++) {
        if (strcmp(json_string_value(json_array_get(got, (size_t)i)), merges[i])) first_diff = i;
    }
    CHECK(n_merges > 30 && first_diff < 0,
          "%s: the merges are the naive trainer's, in its order (first difference at %d of %d)",
          name, first_diff, n_merges);
    Tokenizer *tok = saved ? tokenizer_load_json(path, err, sizeof(err)) : NULL;
    int ids[4096], want[4096];
    int n_ids = tok ? tokenizer_encode(tok, text, n, false, ids, 4096) : -1;
    int n_want = t ? tokenizer_trainer_encode(t, text, n, want, 4096) : -2;
    CHECK(n_ids == n_want && n_ids <= 4096 && memcmp(ids, want, (size_t)n_ids * sizeof(int)) == 0,
          "%s: the loader encodes the text as the trainer segmented it (%d, %d ids)", name, n_ids,
          n_want);
    tokenizer_free(tok);
    json_decref(root);
    tokenizer_trainer_free(t);
    for (int i = 0; i < n_merges; i++) free(merges[i]);
    for (int i = nv->first_char; i < nv->n_tokens; i++) free(nv->tokens[i]);
    free(nv);
}

// Made-up words, and random strings over "abc" (many ties between pair counts).
static void test_naive_corpora(const char *dir) {
    char text[1 << 14];
    size_t n = 0;
    uint64_t state = 7;
    for (int i = 0; i < 1500; i++) {
        double u = next_random(&state) / 4294967296.0;
        char word[16];
        made_up_word((int)(u * u * 200), word);
        n += (size_t)snprintf(text + n, sizeof(text) - n, i ? " %s" : "%s", word);
    }
    test_against_naive(dir, "made-up words", text, n, 262 + 60);
    n = 0;
    for (int i = 0; i < 600; i++) {
        if (i) text[n++] = ' ';
        for (int k = 0, len = 1 + (int)(next_random(&state) % 8); k < len; k++) {
            text[n++] = (char)('a' + next_random(&state) % 3);
        }
    }
    text[n] = '\0';
    test_against_naive(dir, "abc", text, n, 262 + 300);
}

// --- Hugging Face on a committed training
// ---------------------------------------------------------

static void test_against_hugging_face(const char *dir) {
    char path[512];
    snprintf(path, sizeof(path), "%s/tests/ref/fixtures/tokenizers/trained/corpus.txt",
             source_dir());
    size_t len, committed_len;
    char *text = read_file(path, &len);
    snprintf(path, sizeof(path), "%s/tests/ref/fixtures/tokenizers/trained/tokenizer.json",
             source_dir());
    char *committed = read_file(path, &committed_len);
    snprintf(path, sizeof(path), "%s/tests/ref/fixtures/tokenizers/trained/cases.json",
             source_dir());
    json_error_t jerr;
    json_t *cases = json_load_file(path, 0, &jerr);
    if (!text || !committed || !cases) {
        SKIP("tests/ref/fixtures/tokenizers/trained/ is missing");
        free(text), free(committed), json_decref(cases);
        return;
    }
    // The options of tests/ref/make_trained_tokenizer_fixture.py.
    TokenizerTrainer *t = train(text, len, 400);
    char err[256] = "";
    CHECK(t && tokenizer_trainer_save(t, dir, err, sizeof(err)) == 0, "train and save: %s", err);
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    size_t fresh_len = 0;
    char *fresh = read_file(path, &fresh_len);
    CHECK(fresh && fresh_len == committed_len && memcmp(fresh, committed, fresh_len) == 0,
          "training on the committed corpus gives the committed tokenizer.json");
    Tokenizer *tok = tokenizer_load_json(path, err, sizeof(err));
    CHECK(tok != NULL, "load: %s", err);
    size_t i;
    json_t *c;
    json_array_foreach(cases, i, c) {
        const char *input = json_string_value(json_object_get(c, "text"));
        json_t *want = json_object_get(c, "ids");
        int ids[512];
        int n = tok ? tokenizer_encode(tok, input, strlen(input), true, ids, 512) : -1;
        bool same = n == (int)json_array_size(want);
        for (int k = 0; same && k < n; k++) {
            same = ids[k] == json_integer_value(json_array_get(want, (size_t)k));
        }
        CHECK(same, "case %zu: the ids Hugging Face gives for '%.40s'", i, input);
    }
    tokenizer_free(tok);
    tokenizer_trainer_free(t);
    free(fresh);
    free(text), free(committed), json_decref(cases);
}

// --- edge cases --------------------------------------------------------------------------------

// A corpus that spells out a byte token's name never merges into that token.
static void test_byte_token_names_in_text(const char *dir) {
    char text[4096] = "";
    for (int i = 0; i < 100; i++) strcat(text, "x<0x41> ");
    TokenizerTrainer *t = train(text, strlen(text), 600);
    char err[256] = "", path[512];
    CHECK(t && tokenizer_trainer_save(t, dir, err, sizeof(err)) == 0, "train and save: %s", err);
    snprintf(path, sizeof(path), "%s/tokenizer.json", dir);
    Tokenizer *tok = tokenizer_load_json(path, err, sizeof(err));
    CHECK(tok && round_trips(tok, "x<0x41> x<0x41>", 15),
          "'<0x41>' in the text decodes as written, not as 'A': %s", err);
    tokenizer_free(tok);
    tokenizer_trainer_free(t);
}

static void test_refused_options(void) {
    char err[256] = "";
    TokenizerTrainOptions small = {200, NULL, NULL, NULL, specials, 3, NULL};
    CHECK(!tokenizer_trainer_new(&small, err, sizeof(err)) && strstr(err, "no room"),
          "a vocabulary smaller than the byte tokens is refused: %s", err);
    const char *byte_name[] = {"<0x41>"};
    TokenizerTrainOptions clash = {1000, NULL, NULL, NULL, byte_name, 1, NULL};
    CHECK(!tokenizer_trainer_new(&clash, err, sizeof(err)) && strstr(err, "byte token"),
          "a special token named like a byte token is refused: %s", err);
    const char *empty[] = {""};
    TokenizerTrainOptions blank = {1000, NULL, NULL, NULL, empty, 1, NULL};
    CHECK(!tokenizer_trainer_new(&blank, err, sizeof(err)) && strstr(err, "empty"),
          "an empty special token is refused: %s", err);
}

int main(void) {
    char dirs[5][64];
    for (int i = 0; i < 5; i++) {
        snprintf(dirs[i], sizeof(dirs[i]), "/tmp/are_tokenizer_train_XXXXXX");
        if (!mkdtemp(dirs[i])) {
            fprintf(stderr, "cannot make a temporary folder\n");
            return 1;
        }
    }
    test_generated_corpus(dirs[0]);
    test_determinism(dirs[1], dirs[2]);
    test_naive_corpora(dirs[3]);
    test_against_hugging_face(dirs[4]);
    test_byte_token_names_in_text(dirs[3]);
    test_refused_options();
    for (int i = 0; i < 5; i++) {
        char path[400];
        snprintf(path, sizeof(path), "%s/tokenizer.json", dirs[i]);
        unlink(path);
        snprintf(path, sizeof(path), "%s/tokenizer_config.json", dirs[i]);
        unlink(path);
        rmdir(dirs[i]);
    }
    return check_summary();
}
