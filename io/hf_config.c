// config.json -> LlamaConfig; see hf_config.h.
#include "hf_config.h"
#include "json_error.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Large enough for any released Llama-family model, small enough that the product of two
// dimensions (a tensor's element count) fits in 64 bits with room to spare.
#define MAX_DIMENSION (1 << 24)

// qkv_bias: the architecture's q/k/v projections carry biases (and its config says nothing
// about them); max_positions: transformers' default max_position_embeddings for it.
static const struct {
    const char *architecture;
    const char *model_type;
    bool qkv_bias;
    int max_positions;
} supported[] = {
    {"LlamaForCausalLM", "llama", false, 2048},
    {"MistralForCausalLM", "mistral", false, 2048},
    {"Qwen2ForCausalLM", "qwen2", true, 32768},
};
static const int n_supported = sizeof(supported) / sizeof(supported[0]);

const char *const hf_projection_paths[PROJ_COUNT] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

// What one parse needs to report errors: the file's name and where the message goes.
typedef struct {
    const json_t *root;
    const char *name;
    char *err;
    size_t err_len;
} Parser;

static int fail(const Parser *p, const char *fmt, ...) {
    if (p->err && p->err_len) {
        int n = snprintf(p->err, p->err_len, "%s: ", p->name);
        if (n >= 0 && (size_t)n < p->err_len) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(p->err + n, p->err_len - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

// The field's value, or NULL when absent or null (both mean "use the default").
static const json_t *field(const Parser *p, const char *key) {
    const json_t *v = json_object_get(p->root, key);
    return json_is_null(v) ? NULL : v;
}

// An integer field in [lo, hi]; fallback when absent, unless required (fallback < 0 there).
static int get_int(const Parser *p, const char *key, bool required, int fallback, int lo, int hi,
                   int *out) {
    const json_t *v = field(p, key);
    if (!v) {
        if (required)
            return fail(p, "missing required field '%s' (expected an integer in %d..%d)", key, lo,
                        hi);
        *out = fallback;
        return 0;
    }
    if (!json_is_integer(v))
        return fail(p, "field '%s' must be an integer in %d..%d, got %s", key, lo, hi,
                    json_type_name(v));
    json_int_t x = json_integer_value(v);
    if (x < lo || x > hi)
        return fail(p, "field '%s' is %lld, expected an integer in %d..%d", key, (long long)x, lo,
                    hi);
    *out = (int)x;
    return 0;
}

// A positive, finite number (integer or real) that survives the conversion to float.
static int get_positive_float(const Parser *p, const char *key, double fallback, float *out) {
    const json_t *v = field(p, key);
    if (!v) {
        *out = (float)fallback;
        return 0;
    }
    if (!json_is_number(v))
        return fail(p, "field '%s' must be a positive number, got %s", key, json_type_name(v));
    float x = (float)json_number_value(v);
    if (!(x > 0) || !isfinite(x))
        return fail(p, "field '%s' is %g, expected a positive finite number", key,
                    json_number_value(v));
    *out = x;
    return 0;
}

static int get_bool(const Parser *p, const char *key, bool fallback, bool *out) {
    const json_t *v = field(p, key);
    if (!v) {
        *out = fallback;
        return 0;
    }
    if (!json_is_boolean(v))
        return fail(p, "field '%s' must be true or false, got %s", key, json_type_name(v));
    *out = json_is_true(v);
    return 0;
}

// architectures[0] (or model_type when the list is absent) must be one the engine runs; returns
// its index in supported, or -1.
static int read_architecture(const Parser *p, HfConfig *out) {
    const json_t *archs = field(p, "architectures");
    const json_t *model_type = field(p, "model_type");
    if (model_type && !json_is_string(model_type))
        return fail(p, "field 'model_type' must be a string, got %s", json_type_name(model_type));
    if (archs && !json_is_array(archs))
        return fail(p, "field 'architectures' must be an array of strings, got %s",
                    json_type_name(archs));
    const json_t *first = archs ? json_array_get(archs, 0) : NULL;
    if (archs && !json_is_string(first))
        return fail(p, "field 'architectures' must hold at least one string");
    if (!first && !model_type)
        return fail(p, "missing required field 'architectures' (expected [\"LlamaForCausalLM\"], "
                       "[\"MistralForCausalLM\"] or [\"Qwen2ForCausalLM\"])");
    for (int i = 0; i < n_supported; i++) {
        bool arch_ok = first ? !strcmp(json_string_value(first), supported[i].architecture)
                             : !strcmp(json_string_value(model_type), supported[i].model_type);
        if (!arch_ok) continue;
        snprintf(out->architecture, sizeof(out->architecture), "%s", supported[i].architecture);
        return i;
    }
    return fail(p,
                "architecture '%.100s' is not supported (expected LlamaForCausalLM, "
                "MistralForCausalLM or Qwen2ForCausalLM)",
                first ? json_string_value(first) : json_string_value(model_type));
}

// Features that change the numerics and that the engine does not implement. arch: the index in
// supported.
static int refuse_unsupported(const Parser *p, int arch, int max_seq_len) {
    const json_t *model_type = field(p, "model_type");
    if (model_type && strcmp(json_string_value(model_type), supported[arch].model_type))
        return fail(p, "model_type '%.100s' is not supported with architecture %s (expected %s)",
                    json_string_value(model_type), supported[arch].architecture,
                    supported[arch].model_type);
    const json_t *act = field(p, "hidden_act");
    if (act && !json_is_string(act))
        return fail(p, "field 'hidden_act' must be a string, got %s", json_type_name(act));
    if (act && strcmp(json_string_value(act), "silu"))
        return fail(p, "hidden_act '%.100s' is not supported (only silu)", json_string_value(act));
    static const char *const biases[] = {"attention_bias", "mlp_bias"};
    for (int i = 0; i < 2; i++) {
        bool on = false;
        if (get_bool(p, biases[i], false, &on) < 0) return -1;
        if (on) return fail(p, "%s = true is not supported (the engine has no biases)", biases[i]);
    }

    const json_t *scaling = field(p, "rope_scaling");
    if (scaling) {
        if (!json_is_object(scaling))
            return fail(p, "field 'rope_scaling' must be an object or null, got %s",
                        json_type_name(scaling));
        const json_t *type = json_object_get(scaling, "rope_type");
        if (!type) type = json_object_get(scaling, "type");
        if (!json_is_string(type))
            return fail(p, "rope_scaling has no string 'rope_type' or 'type'");
        if (strcmp(json_string_value(type), "default"))
            return fail(p,
                        "rope_scaling type '%.100s' is not implemented (only plain RoPE: "
                        "rope_scaling null)",
                        json_string_value(type));
    }

    // Qwen2 attends through its sliding_window only when use_sliding_window is on.
    bool windowed = true;
    if (!strcmp(supported[arch].model_type, "qwen2")) {
        if (get_bool(p, "use_sliding_window", false, &windowed) < 0) return -1;
        if (windowed)
            return fail(p, "use_sliding_window = true is not supported (sliding-window attention "
                           "is not implemented)");
    }
    const json_t *window = field(p, "sliding_window");
    if (window && windowed) {
        if (!json_is_integer(window))
            return fail(p, "field 'sliding_window' must be an integer or null, got %s",
                        json_type_name(window));
        if (json_integer_value(window) < max_seq_len)
            return fail(p,
                        "sliding_window %lld is shorter than max_position_embeddings %d: "
                        "sliding-window attention is not implemented",
                        (long long)json_integer_value(window), max_seq_len);
    }
    const json_t *layer_types = field(p, "layer_types");
    for (size_t i = 0; i < json_array_size(layer_types); i++) {
        const char *type = json_string_value(json_array_get(layer_types, i));
        if (!type || strcmp(type, "full_attention"))
            return fail(p,
                        "layer_types[%zu] is '%.100s': only full attention is implemented "
                        "(expected \"full_attention\")",
                        i, type ? type : "(not a string)");
    }
    return 0;
}

// rope_theta: transformers >= 5 writes it inside rope_parameters with the RoPE type, earlier
// versions at the top level. Where both are present they must agree.
static int read_rope_theta(const Parser *p, float *theta) {
    if (get_positive_float(p, "rope_theta", 10000.0, theta) < 0) return -1;
    const json_t *params = field(p, "rope_parameters");
    if (!params) return 0;
    if (!json_is_object(params))
        return fail(p, "field 'rope_parameters' must be an object or null, got %s",
                    json_type_name(params));
    const json_t *type = json_object_get(params, "rope_type");
    if (type && (!json_is_string(type) || strcmp(json_string_value(type), "default")))
        return fail(p,
                    "rope_parameters.rope_type '%.100s' is not implemented (only plain RoPE: "
                    "\"default\")",
                    json_is_string(type) ? json_string_value(type) : "(not a string)");
    float top = *theta;
    Parser nested = *p;
    nested.root = params;
    if (get_positive_float(&nested, "rope_theta", top, theta) < 0) return -1;
    if (field(p, "rope_theta") && *theta != top)
        return fail(p, "rope_theta %g and rope_parameters.rope_theta %g disagree", top, *theta);
    return 0;
}

static int read_dimensions(const Parser *p, int max_positions, LlamaConfig *c) {
    if (get_int(p, "vocab_size", true, 0, 1, MAX_DIMENSION, &c->vocab_size) < 0 ||
        get_int(p, "hidden_size", true, 0, 1, MAX_DIMENSION, &c->dim) < 0 ||
        get_int(p, "intermediate_size", true, 0, 1, MAX_DIMENSION, &c->ffn_dim) < 0 ||
        get_int(p, "num_hidden_layers", true, 0, 1, MAX_DIMENSION, &c->n_layers) < 0 ||
        get_int(p, "num_attention_heads", true, 0, 1, MAX_DIMENSION, &c->n_heads) < 0 ||
        get_int(p, "num_key_value_heads", false, c->n_heads, 1, MAX_DIMENSION, &c->n_kv_heads) <
            0 ||
        get_int(p, "max_position_embeddings", false, max_positions, 1, MAX_DIMENSION,
                &c->max_seq_len) < 0)
        return -1;
    if (c->n_heads % c->n_kv_heads)
        return fail(p, "num_attention_heads %d is not a multiple of num_key_value_heads %d",
                    c->n_heads, c->n_kv_heads);
    if (!field(p, "head_dim") && c->dim % c->n_heads)
        return fail(p,
                    "hidden_size %d is not a multiple of num_attention_heads %d (and there "
                    "is no head_dim)",
                    c->dim, c->n_heads);
    if (get_int(p, "head_dim", false, c->dim / c->n_heads, 1, MAX_DIMENSION, &c->head_dim) < 0)
        return -1;
    if (c->head_dim % 2)
        return fail(p, "head_dim %d must be even (rotary embeddings rotate pairs)", c->head_dim);
    if ((long long)c->n_heads * c->head_dim > INT_MAX)
        return fail(p, "num_attention_heads * head_dim = %lld is too large",
                    (long long)c->n_heads * c->head_dim);
    return 0;
}

// bos_token_id / eos_token_id: one id, a list of ids, or null; each inside the vocabulary.
static int read_token_ids(const Parser *p, const char *key, int vocab, int *ids, int max_ids,
                          int *n_ids) {
    const json_t *v = field(p, key);
    *n_ids = 0;
    if (!v) return 0;
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    if (!json_is_array(v) && !json_is_integer(v))
        return fail(p, "field '%s' must be a token id, a list of token ids or null, got %s", key,
                    json_type_name(v));
    if (n > (size_t)max_ids)
        return fail(p, "field '%s' lists %zu ids, at most %d are supported", key, n, max_ids);
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        if (!json_is_integer(item))
            return fail(p, "field '%s' must hold integer token ids, got %s", key,
                        json_type_name(item));
        json_int_t id = json_integer_value(item);
        if (id < 0 || id >= vocab)
            return fail(p, "field '%s' holds %lld, outside the vocabulary (0..%d)", key,
                        (long long)id, vocab - 1);
        ids[(*n_ids)++] = (int)id;
    }
    return 0;
}

static int parse_root(const Parser *p, HfConfig *out) {
    LlamaConfig *c = &out->cfg;
    int arch = read_architecture(p, out);
    if (arch < 0 || read_dimensions(p, supported[arch].max_positions, c) < 0 ||
        get_positive_float(p, "rms_norm_eps", 1e-6, &c->rms_eps) < 0 ||
        read_rope_theta(p, &c->rope_theta) < 0 ||
        get_bool(p, "tie_word_embeddings", false, &c->tie_embeddings) < 0 ||
        refuse_unsupported(p, arch, c->max_seq_len) < 0)
        return -1;
    c->qkv_bias = supported[arch].qkv_bias;
    int bos[HF_CONFIG_MAX_EOS], n_bos;
    if (read_token_ids(p, "bos_token_id", c->vocab_size, bos, HF_CONFIG_MAX_EOS, &n_bos) < 0 ||
        read_token_ids(p, "eos_token_id", c->vocab_size, out->eos_token_ids, HF_CONFIG_MAX_EOS,
                       &out->n_eos) < 0)
        return -1;
    out->bos_token_id = n_bos ? bos[0] : -1;
    return 0;
}

int hf_config_parse(const char *text, size_t len, const char *name, HfConfig *out, char *err,
                    size_t err_len) {
    memset(out, 0, sizeof(*out));
    Parser p = {.name = name, .err = err, .err_len = err_len};
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        return json_load_error(err, err_len, name, &jerr);
    }
    p.root = root;
    int rc = json_is_object(root)
                 ? parse_root(&p, out)
                 : fail(&p, "expected a JSON object, got %s", json_type_name(root));
    json_decref(root);
    return rc;
}

int hf_config_load(const char *path, HfConfig *out, char *err, size_t err_len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, err_len, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    // A config.json is a few kilobytes; anything far larger is not one.
    enum { MAX_CONFIG_BYTES = 1 << 20 };
    char *text = malloc(MAX_CONFIG_BYTES);
    size_t len = text ? fread(text, 1, MAX_CONFIG_BYTES, f) : 0;
    bool too_long = text && len == MAX_CONFIG_BYTES && fgetc(f) != EOF;
    bool read_error = ferror(f);
    fclose(f);
    int rc = -1;
    if (!text)
        snprintf(err, err_len, "%s: out of memory", path);
    else if (read_error)
        snprintf(err, err_len, "%s: read error", path);
    else if (too_long)
        snprintf(err, err_len, "%s: larger than %d bytes, not a model config", path,
                 MAX_CONFIG_BYTES);
    else
        rc = hf_config_parse(text, len, path, out, err, err_len);
    free(text);
    return rc;
}
