// Llama models in GGUF files; see gguf_model.h.
#include "gguf_model.h"
#include "fail.h"
#include "gguf_dequant.h"

#include <assert.h>
#include <float.h>
#include <inttypes.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool string_is(GgufString s, const char *expected) {
    return s.len == strlen(expected) && memcmp(s.ptr, expected, s.len) == 0;
}

// --- config --------------------------------------------------------------------------------

// A count under key: an integer in [1, INT_MAX].
static int get_count(const Gguf *g, const char *key, int *out, char *err, size_t err_len) {
    int64_t v;
    if (gguf_get_int(g, key, &v, err, err_len) < 0) return -1;
    if (v < 1 || v > INT_MAX) {
        fail(err, err_len, "%s: %s is %" PRId64 ", expected a count from 1 to %d", gguf_path(g),
             key, v, INT_MAX);
        return -1;
    }
    *out = (int)v;
    return 0;
}

// A positive finite number under key.
static int get_positive(const Gguf *g, const char *key, float *out, char *err, size_t err_len) {
    double v;
    if (gguf_get_float(g, key, &v, err, err_len) < 0) return -1;
    if (!(v > 0 && v <= FLT_MAX)) {
        fail(err, err_len, "%s: %s is %g, expected a positive finite number", gguf_path(g), key, v);
        return -1;
    }
    *out = (float)v;
    return 0;
}

// The architectures read: general.architecture, whether q/k/v carry biases, and whether q/k
// rows are permuted (see unpermute_heads). A qwen2 file is a Llama with those biases, its
// metadata under "qwen2.*".
static const struct {
    const char *name;
    bool qkv_bias, permuted_qk;
} architectures[] = {{"llama", false, true}, {"qwen2", true, false}};

// The index of the file's general.architecture in architectures, or -1 with a message.
static int read_architecture(const Gguf *g, char *err, size_t err_len) {
    GgufString arch;
    if (gguf_get_string(g, "general.architecture", &arch, err, err_len) < 0) return -1;
    for (size_t i = 0; i < sizeof(architectures) / sizeof(architectures[0]); i++)
        if (string_is(arch, architectures[i].name)) return (int)i;
    fail(err, err_len,
         "%s: general.architecture is '%.*s', expected 'llama' or 'qwen2' (only Llama and "
         "Qwen2 models are read)",
         gguf_path(g), (int)(arch.len < 80 ? arch.len : 80), arch.ptr);
    return -1;
}

// The architecture's own metadata key "<arch>.<suffix>", in key[96].
static const char *arch_key(char key[96], const char *arch, const char *suffix) {
    snprintf(key, 96, "%s.%s", arch, suffix);
    return key;
}

// Head sizes: key_length when given (it may differ from dim / n_heads), value_length and
// rope.dimension_count equal to it when given, since the engine rotates whole heads.
static int read_head_dim(const Gguf *g, const char *arch, LlamaConfig *cfg, char *err,
                         size_t err_len) {
    const char *path = gguf_path(g);
    char key[96];
    if (gguf_has(g, arch_key(key, arch, "attention.key_length"))) {
        if (get_count(g, key, &cfg->head_dim, err, err_len) < 0) return -1;
    } else if (cfg->dim % cfg->n_heads == 0) {
        cfg->head_dim = cfg->dim / cfg->n_heads;
    } else {
        fail(err, err_len,
             "%s: %s.embedding_length = %d is not a multiple of "
             "%s.attention.head_count = %d and %s is absent",
             path, arch, cfg->dim, arch, cfg->n_heads, key);
        return -1;
    }
    if ((int64_t)cfg->n_heads * cfg->head_dim > INT_MAX) {
        fail(err, err_len, "%s: %d heads of size %d overflow the attention width", path,
             cfg->n_heads, cfg->head_dim);
        return -1;
    }
    if (cfg->head_dim % 2) {
        fail(err, err_len, "%s: head size %d is odd, RoPE needs it even", path, cfg->head_dim);
        return -1;
    }
    static const char *const same_keys[] = {"attention.value_length", "rope.dimension_count"};
    for (int i = 0; i < 2; i++) {
        int v;
        if (!gguf_has(g, arch_key(key, arch, same_keys[i]))) continue;
        if (get_count(g, key, &v, err, err_len) < 0) return -1;
        if (v != cfg->head_dim) {
            fail(err, err_len, "%s: %s = %d, expected the head size %d", path, key, v,
                 cfg->head_dim);
            return -1;
        }
    }
    return 0;
}

// RoPE scaling (linear, YaRN, Llama 3.1's rope_freqs) changes the numerics: refused.
static int check_rope_scaling(const Gguf *g, const char *arch, char *err, size_t err_len) {
    GgufString type;
    char key[96];
    if (!gguf_has(g, arch_key(key, arch, "rope.scaling.type"))) return 0;
    if (gguf_get_string(g, key, &type, err, err_len) < 0) return -1;
    if (!string_is(type, "none")) {
        fail(err, err_len, "%s: %s is '%.*s', only 'none' is supported", gguf_path(g), key,
             (int)(type.len < 80 ? type.len : 80), type.ptr);
        return -1;
    }
    return 0;
}

static int read_vocab_size(const Gguf *g, LlamaConfig *cfg, char *err, size_t err_len) {
    const GgufTensor *embd = gguf_find_tensor(g, "token_embd.weight");
    uint64_t n;
    GgufType elem_type;
    if (embd) {
        n = embd->ne[1];
    } else if (gguf_get_array(g, "tokenizer.ggml.tokens", &elem_type, &n, err, err_len) < 0) {
        fail(err, err_len,
             "%s: neither token_embd.weight nor tokenizer.ggml.tokens gives the vocabulary "
             "size",
             gguf_path(g));
        return -1;
    }
    if (n < 1 || n > INT_MAX) {
        fail(err, err_len, "%s: vocabulary size %" PRIu64 " is out of range", gguf_path(g), n);
        return -1;
    }
    cfg->vocab_size = (int)n;
    return 0;
}

int gguf_llama_config(const Gguf *g, LlamaConfig *cfg, char *err, size_t err_len) {
    const char *path = gguf_path(g);
    memset(cfg, 0, sizeof(*cfg));
    int index = read_architecture(g, err, err_len);
    if (index < 0) return -1;
    const char *arch = architectures[index].name;
    cfg->qkv_bias = architectures[index].qkv_bias;
    char key[96];
    if (get_count(g, arch_key(key, arch, "block_count"), &cfg->n_layers, err, err_len) < 0 ||
        get_count(g, arch_key(key, arch, "embedding_length"), &cfg->dim, err, err_len) < 0 ||
        get_count(g, arch_key(key, arch, "feed_forward_length"), &cfg->ffn_dim, err, err_len) < 0 ||
        get_count(g, arch_key(key, arch, "attention.head_count"), &cfg->n_heads, err, err_len) <
            0 ||
        get_count(g, arch_key(key, arch, "context_length"), &cfg->max_seq_len, err, err_len) < 0)
        return -1;
    if (get_positive(g, arch_key(key, arch, "attention.layer_norm_rms_epsilon"), &cfg->rms_eps, err,
                     err_len) < 0)
        return -1;
    if (check_rope_scaling(g, arch, err, err_len) < 0) return -1;

    // Optional keys, with the defaults llama.cpp and transformers use.
    cfg->rope_theta = 10000;
    if (gguf_has(g, arch_key(key, arch, "rope.freq_base")) &&
        get_positive(g, key, &cfg->rope_theta, err, err_len) < 0)
        return -1;
    cfg->n_kv_heads = cfg->n_heads;
    if (gguf_has(g, arch_key(key, arch, "attention.head_count_kv")) &&
        get_count(g, key, &cfg->n_kv_heads, err, err_len) < 0)
        return -1;
    if (cfg->n_heads % cfg->n_kv_heads) {
        fail(err, err_len,
             "%s: %s.attention.head_count_kv = %d does not divide "
             "%s.attention.head_count = %d",
             path, arch, cfg->n_kv_heads, arch, cfg->n_heads);
        return -1;
    }
    if (read_head_dim(g, arch, cfg, err, err_len) < 0) return -1;
    if (read_vocab_size(g, cfg, err, err_len) < 0) return -1;
    cfg->tie_embeddings = gguf_find_tensor(g, "output.weight") == NULL;
    return 0;
}

// --- tensors -------------------------------------------------------------------------------

// ggml's name of a parameter.
static void tensor_name(ParamKind kind, int layer, char *buf, size_t len) {
    static const char *const proj_names[PROJ_COUNT] = {
        "attn_q", "attn_k", "attn_v", "attn_output", "ffn_gate", "ffn_up", "ffn_down"};
    switch (kind) {
    case PARAM_EMBED:
        snprintf(buf, len, "token_embd.weight");
        break;
    case PARAM_FINAL_NORM:
        snprintf(buf, len, "output_norm.weight");
        break;
    case PARAM_LM_HEAD:
        snprintf(buf, len, "output.weight");
        break;
    case PARAM_ATTN_NORM:
        snprintf(buf, len, "blk.%d.attn_norm.weight", layer);
        break;
    case PARAM_MLP_NORM:
        snprintf(buf, len, "blk.%d.ffn_norm.weight", layer);
        break;
    default:
        if (param_is_bias(kind)) {
            snprintf(buf, len, "blk.%d.%s.bias", layer, proj_names[kind - PARAM_BIAS_FIRST]);
            break;
        }
        assert(kind >= PARAM_PROJ_FIRST && kind < PARAM_PROJ_FIRST + PROJ_COUNT);
        snprintf(buf, len, "blk.%d.%s.weight", layer, proj_names[kind - PARAM_PROJ_FIRST]);
    }
}

// The ggml shape of a parameter: ggml lists dimensions fastest first, so a matrix HF stores as
// [out, in] is ne = [in, out]. Returns n_dims.
static int ggml_shape(const LlamaConfig *cfg, ParamKind kind, uint64_t ne[2]) {
    int64_t shape[2];
    int n_dims = param_shape(cfg, kind, shape);
    for (int i = 0; i < n_dims; i++) ne[i] = (uint64_t)shape[n_dims - 1 - i];
    return n_dims;
}

static int check_param(const Gguf *g, const LlamaConfig *cfg, ParamKind kind, int layer, bool *seen,
                       char *err, size_t err_len) {
    char name[64];
    tensor_name(kind, layer, name, sizeof(name));
    const GgufTensor *t = gguf_find_tensor(g, name);
    if (!t) {
        fail(err, err_len, "%s: tensor '%s' is missing", gguf_path(g), name);
        return -1;
    }
    uint64_t ne[2];
    int n_dims = ggml_shape(cfg, kind, ne);
    if (t->n_dims != (uint32_t)n_dims || t->ne[0] != ne[0] || (n_dims == 2 && t->ne[1] != ne[1])) {
        char want[80];
        if (n_dims == 1)
            snprintf(want, sizeof(want), "[%" PRIu64 "]", ne[0]);
        else
            snprintf(want, sizeof(want),
                     "[%" PRIu64 ", %" PRIu64 "] (HF [%" PRIu64 ", %" PRIu64 "])", ne[0], ne[1],
                     ne[1], ne[0]);
        fail(err, err_len,
             "%s: tensor '%s' has %" PRIu32 " dims, ne [%" PRIu64 ", %" PRIu64 ", %" PRIu64
             ", %" PRIu64 "], expected ne %s",
             gguf_path(g), name, t->n_dims, t->ne[0], t->ne[1], t->ne[2], t->ne[3], want);
        return -1;
    }
    // An unread type is refused now rather than midway through loading.
    if (!ggml_type_is_readable(t->type)) {
        fail(err, err_len, "%s: tensor '%s' is %s, a type that is not read", gguf_path(g), name,
             ggml_type_name(t->type));
        return -1;
    }
    seen[t - gguf_tensor(g, 0)] = true;
    return 0;
}

int gguf_llama_check(const Gguf *g, const LlamaConfig *cfg, char *err, size_t err_len) {
    int n = gguf_n_tensors(g);
    bool *seen = calloc(n ? (size_t)n : 1, sizeof(bool)); // by tensor index
    if (!seen) {
        fail(err, err_len, "%s: out of memory", gguf_path(g));
        return -1;
    }
    int rc = 0;
    for (int kind = 0; kind < PARAM_COUNT && rc == 0; kind++) {
        if (!param_present(cfg, (ParamKind)kind)) continue;
        int n_layers = param_per_layer((ParamKind)kind) ? cfg->n_layers : 1;
        for (int layer = 0; layer < n_layers && rc == 0; layer++)
            rc = check_param(g, cfg, (ParamKind)kind, layer, seen, err, err_len);
    }
    for (int i = 0; i < n && rc == 0; i++) {
        if (seen[i]) continue;
        GgufString name = gguf_tensor(g, i)->name;
        fail(err, err_len,
             "%s: unexpected tensor '%.*s' (a %s with %d blocks%s has no such parameter)",
             gguf_path(g), (int)(name.len < 80 ? name.len : 80), name.ptr,
             cfg->qkv_bias ? "Qwen2" : "Llama", cfg->n_layers,
             cfg->tie_embeddings ? " and tied embeddings" : "");
        rc = -1;
    }
    free(seen);
    return rc;
}

const char *gguf_llama_dtype(const Gguf *g, ParamKind kind, int layer) {
    char name[64];
    tensor_name(kind, layer, name, sizeof(name));
    const GgufTensor *t = gguf_find_tensor(g, name);
    return t ? ggml_type_name(t->type) : NULL;
}

// convert_hf_to_gguf.py stores a llama model's q and k with each head's rows reordered from
// HF's rotate-half halves to llama.cpp's interleaved pairs: HF row j*half + i of a head (j in
// {0, 1}, i < half) is stored at row 2i + j. This puts every row back. w: [n_heads*head_dim,
// dim] (dim 1 for a bias). A qwen2 file is stored as HF has it (llama.cpp runs it with NEOX,
// rotate-half RoPE), which tests/test_qwen2.c checks against transformers' reading of one.
static int unpermute_heads(float *w, int n_heads, int head_dim, int dim) {
    size_t head_size = (size_t)head_dim * (size_t)dim;
    float *stored = malloc(head_size * sizeof(float)); // one head as stored
    if (!stored) return -1;
    int half = head_dim / 2;
    for (int h = 0; h < n_heads; h++) {
        float *head = w + (size_t)h * head_size;
        memcpy(stored, head, head_size * sizeof(float));
        for (int j = 0; j < 2; j++)
            for (int i = 0; i < half; i++)
                memcpy(head + (size_t)(j * half + i) * dim, stored + (size_t)(2 * i + j) * dim,
                       (size_t)dim * sizeof(float));
    }
    free(stored);
    return 0;
}

int gguf_llama_read(const Gguf *g, const LlamaConfig *cfg, ParamKind kind, int layer, float *dst,
                    char *err, size_t err_len) {
    if (param_per_layer(kind) && (layer < 0 || layer >= cfg->n_layers)) {
        fail(err, err_len, "%s: layer %d is out of range (the model has %d)", gguf_path(g), layer,
             cfg->n_layers);
        return -1;
    }
    char name[64];
    tensor_name(kind, layer, name, sizeof(name));
    const GgufTensor *t = gguf_find_tensor(g, name);
    if (!t) {
        fail(err, err_len, "%s: tensor '%s' is missing%s", gguf_path(g), name,
             kind == PARAM_LM_HEAD ? " (the embeddings are tied: read PARAM_EMBED)" : "");
        return -1;
    }
    uint64_t n_elements = param_elements(cfg, kind);
    if (t->n_elements != n_elements) {
        fail(err, err_len, "%s: tensor '%s' has %" PRIu64 " elements, the config implies %" PRIu64,
             gguf_path(g), name, t->n_elements, n_elements);
        return -1;
    }
    if (gguf_tensor_to_f32(g, t, dst, err, err_len) < 0) return -1;
    int n_heads = kind == PARAM_PROJ_FIRST + PROJ_Q   ? cfg->n_heads
                  : kind == PARAM_PROJ_FIRST + PROJ_K ? cfg->n_kv_heads
                                                      : 0;
    int arch = read_architecture(g, err, err_len);
    if (arch < 0) return -1;
    if (!architectures[arch].permuted_qk) n_heads = 0;
    if (n_heads && unpermute_heads(dst, n_heads, cfg->head_dim, cfg->dim) < 0) {
        fail(err, err_len, "%s: out of memory reading '%s'", gguf_path(g), name);
        return -1;
    }
    return 0;
}
