// Tokenizers from Hugging Face tokenizer.json files whose model is BPE, in the two shapes that
// Llama-family checkpoints use:
//   - byte-level: a ByteLevel pre-tokenizer, alone (GPT-2's regex), after a Split with
//     Llama-3's or GPT-2's regex, or after Digits (SmolLM);
//   - SentencePiece style: byte_fallback, spaces replaced by "▁" either by the normalizer
//     (Prepend "▁" + Replace " " -> "▁", Llama-2's) or by a Metaspace pre-tokenizer.
// Merges apply by their rank in model.merges, as Hugging Face does. Anything else is refused
// with the field and value that are not understood. BOS, EOS and add_bos come from the
// post-processor's template, and from tokenizer_config.json beside the file when it is there.
#include "json_error.h"
#include "tokenizer_internal.h"

#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LLAMA3_REGEX                                                                               \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| "                     \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define QWEN2_REGEX                                                                                \
    "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| "                          \
    "?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+"
#define GPT2_REGEX                                                                                 \
    "'s|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+"

// Messages name the file; err receives "name: what".
typedef struct {
    const char *name;
    char *err;
    size_t err_len;
} Context;

__attribute__((format(printf, 2, 3))) static int context_fail(const Context *c, const char *fmt,
                                                              ...) {
    char what[512];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    fail(c->err, c->err_len, "%s: %s", c->name, what);
    return -1;
}

// The string at key of obj, or NULL when absent or not a string.
static const char *string_at(const json_t *obj, const char *key) {
    return json_string_value(json_object_get(obj, key));
}

static bool string_at_is(const json_t *obj, const char *key, const char *want) {
    const char *s = string_at(obj, key);
    return s && strcmp(s, want) == 0;
}

// A boolean at key of obj, fallback when absent or null.
static bool flag_at(const json_t *obj, const char *key, bool fallback) {
    const json_t *value = json_object_get(obj, key);
    return json_is_boolean(value) ? json_is_true(value) : fallback;
}

// --- normalizer and pre-tokenizer ------------------------------------------------------------

// The steps of a normalizer or pre-tokenizer: the members of a Sequence, or the one step.
static int steps_of(const Context *c, const json_t *root, const char *field, const char *list_key,
                    json_t *steps) {
    const json_t *value = json_object_get(root, field);
    if (!value || json_is_null(value)) return 0;
    if (!json_is_object(value) || !string_at(value, "type")) {
        return context_fail(c, "%s is %s, not an object with a type", field, json_type_name(value));
    }
    if (!string_at_is(value, "type", "Sequence")) return json_array_append(steps, (json_t *)value);
    const json_t *list = json_object_get(value, list_key);
    size_t i;
    const json_t *step;
    if (!json_is_array(list)) return context_fail(c, "%s.%s is not an array", field, list_key);
    json_array_foreach(list, i, step) {
        if (!json_is_object(step) || !string_at(step, "type")) {
            return context_fail(c, "%s.%s[%zu] is not an object with a type", field, list_key, i);
        }
        json_array_append(steps, (json_t *)step);
    }
    return 0;
}

static int read_spm_normalizer(const Context *c, Tokenizer *tok, const json_t *steps,
                               bool *replaces_spaces) {
    size_t i;
    const json_t *step;
    json_array_foreach(steps, i, step) {
        const char *type = string_at(step, "type");
        if (strcmp(type, "Prepend") == 0 && string_at_is(step, "prepend", SPACE_MARK)) {
            tok->space_prefix = true;
        } else if (strcmp(type, "Replace") == 0 && string_at_is(step, "content", SPACE_MARK) &&
                   string_at_is(json_object_get(step, "pattern"), "String", " ")) {
            *replaces_spaces = true;
        } else {
            return context_fail(c,
                                "normalizer step %s is not supported (only Prepend \"▁\" and "
                                "Replace \" \" -> \"▁\" are)",
                                type);
        }
    }
    return 0;
}

static int read_metaspace(const Context *c, Tokenizer *tok, const json_t *step) {
    if (!string_at_is(step, "replacement", SPACE_MARK)) {
        return context_fail(c, "pre_tokenizer Metaspace.replacement is not \"▁\"");
    }
    const char *scheme = string_at(step, "prepend_scheme");
    if (!scheme) scheme = flag_at(step, "add_prefix_space", true) ? "always" : "never";
    if (strcmp(scheme, "always") != 0 && strcmp(scheme, "first") != 0 &&
        strcmp(scheme, "never") != 0) {
        return context_fail(
            c, "pre_tokenizer Metaspace.prepend_scheme '%s' is not always, first or never", scheme);
    }
    tok->space_prefix = strcmp(scheme, "never") != 0;
    tok->space_prefix_first_only = strcmp(scheme, "first") == 0;
    tok->space_prefix_unless_space = true;
    tok->split_at_spaces = flag_at(step, "split", true);
    return 0;
}

static int read_spm_pipeline(const Context *c, Tokenizer *tok, const json_t *normalizer,
                             const json_t *pre) {
    bool replaces_spaces = false;
    if (read_spm_normalizer(c, tok, normalizer, &replaces_spaces)) return -1;
    if (json_array_size(pre) == 1 && string_at_is(json_array_get(pre, 0), "type", "Metaspace") &&
        !replaces_spaces && !tok->space_prefix) {
        return read_metaspace(c, tok, json_array_get(pre, 0));
    }
    if (json_array_size(pre) > 0) {
        return context_fail(
            c,
            "pre_tokenizer %s is not supported with a SentencePiece-style vocabulary "
            "(only Metaspace alone, or none after a \"▁\" normalizer)",
            string_at(json_array_get(pre, 0), "type"));
    }
    if (!replaces_spaces) {
        return context_fail(c,
                            "neither normalizer nor pre_tokenizer replaces spaces with \"▁\"; only "
                            "SentencePiece-style and byte-level BPE vocabularies are supported");
    }
    return 0;
}

static int read_byte_level(const Context *c, const json_t *step, bool want_regex) {
    if (flag_at(step, "add_prefix_space", true)) {
        return context_fail(c, "pre_tokenizer ByteLevel.add_prefix_space = true is not supported");
    }
    if (flag_at(step, "use_regex", true) != want_regex) {
        return context_fail(c, "pre_tokenizer ByteLevel.use_regex = %s is not supported here",
                            want_regex ? "false" : "true");
    }
    return 0;
}

static int read_split(const Context *c, Tokenizer *tok, const json_t *step) {
    const char *regex = string_at(json_object_get(step, "pattern"), "Regex");
    if (!regex) return context_fail(c, "pre_tokenizer Split.pattern is not a Regex");
    if (strcmp(regex, LLAMA3_REGEX) == 0) {
        tok->pretokenizer = PRETOKENIZER_LLAMA3;
    } else if (strcmp(regex, QWEN2_REGEX) == 0) {
        tok->pretokenizer = PRETOKENIZER_QWEN2;
    } else if (strcmp(regex, GPT2_REGEX) == 0) {
        tok->pretokenizer = PRETOKENIZER_GPT2;
    } else {
        return context_fail(
            c,
            "pre_tokenizer Split pattern '%.200s' is not a known pre-tokenizer regex "
            "(known: Llama-3's, Qwen2's and GPT-2's)",
            regex);
    }
    if (!string_at_is(step, "behavior", "Isolated") || flag_at(step, "invert", false)) {
        return context_fail(c, "pre_tokenizer Split is not behavior Isolated without invert");
    }
    return 0;
}

static int read_bpe_pipeline(const Context *c, Tokenizer *tok, const json_t *normalizer,
                             const json_t *pre) {
    // Qwen2's NFC is taken, not applied: text is read as already NFC (most is), as llama.cpp
    // reads a Qwen2 GGUF file, whose metadata does not name the normalizer at all.
    bool nfc = json_array_size(normalizer) == 1 &&
               string_at_is(json_array_get(normalizer, 0), "type", "NFC");
    if (json_array_size(normalizer) > 0 && !nfc) {
        return context_fail(c, "normalizer %s is not supported with a byte-level vocabulary",
                            string_at(json_array_get(normalizer, 0), "type"));
    }
    const json_t *first = json_array_get(pre, 0), *last = json_array_get(pre, 1);
    const char *first_type = string_at(first, "type");
    if (json_array_size(pre) == 1) {
        tok->pretokenizer = PRETOKENIZER_GPT2;
        return read_byte_level(c, first, true);
    }
    if (json_array_size(pre) == 2 && strcmp(first_type, "Split") == 0) {
        return read_split(c, tok, first) || read_byte_level(c, last, false) ? -1 : 0;
    }
    if (json_array_size(pre) == 2 && strcmp(first_type, "Digits") == 0) {
        if (!flag_at(first, "individual_digits", false)) {
            return context_fail(c,
                                "pre_tokenizer Digits.individual_digits = false is not supported");
        }
        tok->pretokenizer = PRETOKENIZER_SMOLLM;
        return read_byte_level(c, last, true);
    }
    return context_fail(c,
                        "pre_tokenizer sequence starting with %s is not supported (only ByteLevel, "
                        "Split + ByteLevel, Digits + ByteLevel)",
                        first_type);
}

// Whether the pre-tokenizer ends in ByteLevel (a byte-level vocabulary).
static bool is_byte_level(const json_t *pre) {
    size_t n = json_array_size(pre);
    return n > 0 && string_at_is(json_array_get(pre, n - 1), "type", "ByteLevel");
}

// --- vocabulary ----------------------------------------------------------------------------

static int check_model(const Context *c, const json_t *model) {
    if (!json_is_object(model)) return context_fail(c, "model is missing or not an object");
    const char *type = string_at(model, "type");
    if (!type || strcmp(type, "BPE") != 0) {
        return context_fail(c, "model.type '%s' is not supported (only BPE is)",
                            type ? type : "(none)");
    }
    const char *affixes[] = {"continuing_subword_prefix", "end_of_word_suffix"};
    for (int i = 0; i < 2; i++) {
        const json_t *value = json_object_get(model, affixes[i]);
        bool unset = !value || json_is_null(value) || string_at_is(model, affixes[i], "");
        if (!unset) return context_fail(c, "model.%s is not supported", affixes[i]);
    }
    const json_t *dropout = json_object_get(model, "dropout");
    if (json_is_number(dropout) && json_number_value(dropout) != 0) {
        return context_fail(c, "model.dropout = %g is not supported", json_number_value(dropout));
    }
    if (!json_is_object(json_object_get(model, "vocab"))) {
        return context_fail(c, "model.vocab is missing or not an object");
    }
    if (!json_is_array(json_object_get(model, "merges"))) {
        return context_fail(c, "model.merges is missing or not an array");
    }
    return 0;
}

// An id from the file: an integer in [0, limit).
static int read_id(const Context *c, const json_t *value, long long limit, const char *field,
                   const char *token, int *id) {
    if (!json_is_integer(value)) {
        return context_fail(c, "%s: '%.60s' has %s for its id, not an integer", field, token,
                            json_type_name(value));
    }
    long long v = json_integer_value(value);
    if (v < 0 || v >= limit) {
        return context_fail(c, "%s: '%.60s' has id %lld, outside 0..%lld (the number of tokens)",
                            field, token, v, limit - 1);
    }
    *id = (int)v;
    return 0;
}

// The number of tokens: one past the largest id of model.vocab and added_tokens, which may not
// exceed how many tokens the two name.
static int count_tokens(const Context *c, const json_t *vocab, const json_t *added, int *count) {
    long long limit = (long long)json_object_size(vocab) + (long long)json_array_size(added);
    if (limit > TOKENIZER_MAX_TOKENS) {
        return context_fail(c, "%lld tokens are more than can be loaded", limit);
    }
    int largest = -1, id = -1;
    const char *text;
    const json_t *value;
    json_object_foreach((json_t *)vocab, text, value) {
        if (read_id(c, value, limit, "model.vocab", text, &id)) return -1;
        if (id > largest) largest = id;
    }
    size_t i;
    json_array_foreach(added, i, value) {
        const char *content = string_at(value, "content");
        if (!content) return context_fail(c, "added_tokens[%zu] has no content string", i);
        if (read_id(c, json_object_get(value, "id"), limit, "added_tokens", content, &id)) {
            return -1;
        }
        if (id > largest) largest = id;
    }
    if (largest < 0) return context_fail(c, "model.vocab is empty");
    *count = largest + 1;
    return 0;
}

static int set_token(const Context *c, Tokenizer *tok, const char *field, int id, const char *text,
                     TokenType type) {
    char inner[256];
    if (tokenizer_set_token(tok, id, text, strlen(text), type, inner, sizeof(inner))) {
        return context_fail(c, "%s: %s", field, inner);
    }
    return 0;
}

static int read_vocab(const Context *c, Tokenizer *tok, const json_t *model, const json_t *added) {
    const char *text;
    const json_t *value;
    const char *unk = string_at(model, "unk_token");
    json_object_foreach((json_t *)json_object_get(model, "vocab"), text, value) {
        bool is_byte = tok->kind == TOKENIZER_SPM && tokenizer_byte_value(text, strlen(text)) >= 0;
        TokenType type = is_byte ? TOKEN_BYTE : TOKEN_NORMAL;
        if (unk && strcmp(text, unk) == 0) type = TOKEN_UNKNOWN;
        if (set_token(c, tok, "model.vocab", (int)json_integer_value(value), text, type)) {
            return -1;
        }
    }
    size_t i;
    json_array_foreach(added, i, value) {
        int id = (int)json_integer_value(json_object_get(value, "id"));
        const char *content = string_at(value, "content");
        TokenType type = flag_at(value, "special", false) ? TOKEN_CONTROL : TOKEN_USER_DEFINED;
        if (unk && strcmp(content, unk) == 0) type = TOKEN_UNKNOWN;
        if (set_token(c, tok, "added_tokens", id, content, type)) return -1;
        tok->strip[id] = (uint8_t)((flag_at(value, "lstrip", false) ? TOKEN_LSTRIP : 0) |
                                   (flag_at(value, "rstrip", false) ? TOKEN_RSTRIP : 0));
    }
    char inner[256];
    if (tokenizer_index(tok, inner, sizeof(inner)))
        return context_fail(c, "model.vocab: %s", inner);
    if (unk) {
        tok->unk = tokenizer_find(tok, unk, strlen(unk));
        if (tok->unk < 0) return context_fail(c, "model.unk_token '%.60s' is not a token", unk);
    }
    return 0;
}

static int read_merges(const Context *c, Tokenizer *tok, const json_t *merges) {
    char inner[256];
    if (tokenizer_reserve_merges(tok, json_array_size(merges), inner, sizeof(inner))) {
        return context_fail(c, "model.merges: %s", inner);
    }
    size_t rank;
    const json_t *merge;
    json_array_foreach(merges, rank, merge) {
        if (rank > INT32_MAX) return context_fail(c, "model.merges has too many entries");
        const char *left, *right;
        size_t left_len, right_len;
        if (json_is_array(merge) && json_array_size(merge) == 2 &&
            json_is_string(json_array_get(merge, 0)) && json_is_string(json_array_get(merge, 1))) {
            left = json_string_value(json_array_get(merge, 0)); // the newer form: a pair
            right = json_string_value(json_array_get(merge, 1));
            left_len = strlen(left), right_len = strlen(right);
        } else if (json_is_string(merge)) { // the older form: "left right"
            left = json_string_value(merge);
            const char *space = strchr(left, ' ');
            if (!space || strchr(space + 1, ' ')) {
                return context_fail(
                    c, "model.merges[%zu] '%.60s' is not two tokens apart by one space", rank,
                    left);
            }
            left_len = (size_t)(space - left);
            right = space + 1;
            right_len = strlen(right);
        } else {
            return context_fail(c, "model.merges[%zu] is %s, not a string or a pair of strings",
                                rank, json_type_name(merge));
        }
        if (tokenizer_add_merge(tok, left, left_len, right, right_len, (int)rank, inner,
                                sizeof(inner))) {
            return context_fail(c, "model.merges: %s", inner);
        }
    }
    return 0;
}

// --- BOS, EOS -----------------------------------------------------------------------------

static int find_named(const Context *c, const Tokenizer *tok, const char *field, const char *name,
                      int *id) {
    *id = tokenizer_find(tok, name, strlen(name));
    if (*id < 0) return context_fail(c, "%s '%.60s' is not a token", field, name);
    return 0;
}

// A TemplateProcessing post-processor (alone or in a Sequence) whose single-sequence template
// starts with a special token adds that token as BOS.
static int read_post_processor(const Context *c, Tokenizer *tok, const json_t *root) {
    json_t *steps = json_array();
    if (!steps) return context_fail(c, "out of memory");
    int status = steps_of(c, root, "post_processor", "processors", steps);
    size_t i;
    const json_t *step;
    json_array_foreach(steps, i, step) {
        if (status || !string_at_is(step, "type", "TemplateProcessing")) continue;
        const json_t *first = json_array_get(json_object_get(step, "single"), 0);
        const char *name = string_at(json_object_get(first, "SpecialToken"), "id");
        if (name) {
            status = find_named(c, tok, "post_processor TemplateProcessing token", name, &tok->bos);
            tok->add_bos = true;
        }
    }
    json_decref(steps);
    return status;
}

// A special token named in tokenizer_config.json: a string or {"content": string}.
static const char *config_token(const json_t *config, const char *key) {
    const json_t *value = json_object_get(config, key);
    return json_is_string(value) ? json_string_value(value) : string_at(value, "content");
}

// tokenizer_config.json beside path, when it is there: bos_token, eos_token, add_bos_token.
static int read_config(Tokenizer *tok, const char *path, char *err, size_t err_len) {
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path + 1) : 0;
    size_t len = dir_len + sizeof("tokenizer_config.json");
    char *config_path = malloc(len);
    if (!config_path) {
        fail(err, err_len, "%s: out of memory", path);
        return -1;
    }
    snprintf(config_path, len, "%.*stokenizer_config.json", (int)dir_len, path);
    FILE *f = fopen(config_path, "rb");
    if (!f) {
        free(config_path);
        return 0;
    }
    fclose(f);
    json_error_t jerr;
    // Integers are read as reals: transformers writes model_max_length as 1e30 spelled out,
    // which overflows jansson's integers; only strings and booleans are read from this file.
    json_t *config = json_load_file(config_path, JSON_DECODE_INT_AS_REAL, &jerr);
    Context c = {config_path, err, err_len};
    int status = 0;
    if (!config) {
        json_load_error(err, err_len, config_path, &jerr);
        status = -1;
    } else if (!json_is_object(config)) {
        status = context_fail(&c, "is %s, not an object", json_type_name(config));
    } else {
        const char *bos = config_token(config, "bos_token");
        const char *eos = config_token(config, "eos_token");
        if (bos) status = find_named(&c, tok, "bos_token", bos, &tok->bos);
        if (eos && status == 0) status = find_named(&c, tok, "eos_token", eos, &tok->eos);
        tok->add_bos = flag_at(config, "add_bos_token", tok->add_bos);
    }
    json_decref(config);
    free(config_path);
    return status;
}

// Without a tokenizer_config.json, EOS is the first of the usual end-of-text tokens present.
static void guess_eos(Tokenizer *tok) {
    const char *names[] = {"</s>", "<|end_of_text|>", "<|endoftext|>"};
    for (int i = 0; i < 3 && tok->eos < 0; i++)
        tok->eos = tokenizer_find(tok, names[i], strlen(names[i]));
}

// --- loading ------------------------------------------------------------------------------

static Tokenizer *from_json(const Context *c, const json_t *root) {
    if (!json_is_object(root)) {
        context_fail(c, "is %s, not an object", json_type_name(root));
        return NULL;
    }
    const json_t *model = json_object_get(root, "model");
    const json_t *added = json_object_get(root, "added_tokens");
    if (check_model(c, model)) return NULL;
    if (added && !json_is_array(added) && !json_is_null(added)) {
        context_fail(c, "added_tokens is %s, not an array", json_type_name(added));
        return NULL;
    }
    json_t *normalizer = json_array(), *pre = json_array();
    Tokenizer *tok = NULL;
    int n_tokens = 0;
    if (!normalizer || !pre) {
        context_fail(c, "out of memory");
    } else if (steps_of(c, root, "normalizer", "normalizers", normalizer) == 0 &&
               steps_of(c, root, "pre_tokenizer", "pretokenizers", pre) == 0 &&
               count_tokens(c, json_object_get(model, "vocab"), added, &n_tokens) == 0) {
        bool byte_level = is_byte_level(pre);
        tok = tokenizer_new(byte_level ? TOKENIZER_BPE : TOKENIZER_SPM, n_tokens);
        if (!tok) context_fail(c, "out of memory for %d tokens", n_tokens);
    }
    int status = tok ? 0 : -1;
    if (status == 0) tok->ignore_merges = flag_at(model, "ignore_merges", false);
    if (status == 0 && tok->kind == TOKENIZER_BPE) {
        status = read_bpe_pipeline(c, tok, normalizer, pre);
    } else if (status == 0) {
        status =
            flag_at(model, "byte_fallback", false)
                ? read_spm_pipeline(c, tok, normalizer, pre)
                : context_fail(c, "model.byte_fallback is false: only byte-level and byte-fallback "
                                  "(SentencePiece-style) BPE vocabularies are supported");
    }
    if (status == 0) status = read_vocab(c, tok, model, added);
    if (status == 0) status = read_merges(c, tok, json_object_get(model, "merges"));
    if (status == 0) status = read_post_processor(c, tok, root);
    json_decref(normalizer);
    json_decref(pre);
    if (status) {
        tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

static Tokenizer *finish(const Context *c, Tokenizer *tok) {
    char inner[256];
    guess_eos(tok);
    if (tokenizer_finish(tok, inner, sizeof(inner))) {
        context_fail(c, "%s", inner);
        tokenizer_free(tok);
        return NULL;
    }
    return tok;
}

Tokenizer *tokenizer_load_json_text(const char *text, size_t len, const char *name, char *err,
                                    size_t err_len) {
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        json_load_error(err, err_len, name, &jerr);
        return NULL;
    }
    Context c = {name, err, err_len};
    Tokenizer *tok = from_json(&c, root);
    json_decref(root);
    return tok ? finish(&c, tok) : NULL;
}

Tokenizer *tokenizer_load_json(const char *path, char *err, size_t err_len) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        json_load_error(err, err_len, path, &jerr);
        return NULL;
    }
    Context c = {path, err, err_len};
    Tokenizer *tok = from_json(&c, root);
    json_decref(root);
    if (tok && read_config(tok, path, err, err_len)) {
        tokenizer_free(tok);
        return NULL;
    }
    return tok ? finish(&c, tok) : NULL;
}
