// The shape of a Llama-family model: plain types shared by compute (which runs the model) and
// io (which reads and writes it), with no code that needs linking.
#ifndef ARE_LLAMA_CONFIG_H
#define ARE_LLAMA_CONFIG_H

#include <assert.h>
#include <stdbool.h>
#include <string.h>

typedef struct {
    int vocab_size;
    int dim;         // hidden_size
    int ffn_dim;     // intermediate_size
    int n_layers;    // num_hidden_layers
    int n_heads;     // num_attention_heads
    int n_kv_heads;  // num_key_value_heads (divides n_heads)
    int head_dim;    // hidden_size / num_attention_heads unless the checkpoint says otherwise
    int max_seq_len; // max_position_embeddings
    float rms_eps;   // rms_norm_eps
    float rope_theta;
    bool tie_embeddings; // lm_head shares the token embedding table
    bool qkv_bias;       // q/k/v projections add a bias (Qwen2); o_proj and the MLP never do
} LlamaConfig;

// The seven projections of a block; the LoRA target names are the HF module names.
typedef enum {
    PROJ_Q,    // q_proj    [n_heads*head_dim,    dim]
    PROJ_K,    // k_proj    [n_kv_heads*head_dim, dim]
    PROJ_V,    // v_proj    [n_kv_heads*head_dim, dim]
    PROJ_O,    // o_proj    [dim, n_heads*head_dim]
    PROJ_GATE, // gate_proj [ffn_dim, dim]
    PROJ_UP,   // up_proj   [ffn_dim, dim]
    PROJ_DOWN, // down_proj [dim, ffn_dim]
    PROJ_COUNT
} Projection;

// The HF module name of projection p: "q_proj", ..., "down_proj" (the LoRA target names).
static inline const char *projection_name(Projection p) {
    static const char *const names[PROJ_COUNT] = {
        "q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj",
    };
    assert(p >= 0 && p < PROJ_COUNT);
    return names[p];
}

// The projection called name[0..len), its HF module name ("up_proj") or the short form ("up");
// -1 when none is.
static inline int projection_from_name(const char *name, size_t len) {
    for (int p = 0; p < PROJ_COUNT; p++) {
        const char *full = projection_name((Projection)p);
        size_t short_len = strlen(full) - strlen("_proj");
        if ((len == strlen(full) || len == short_len) && !strncmp(name, full, len)) return p;
    }
    return -1;
}

// Whether projection p adds a bias b [out] (y = x W^T + b): q, k and v of a qkv_bias model.
static inline bool projection_has_bias(const LlamaConfig *cfg, Projection p) {
    return cfg->qkv_bias && (p == PROJ_Q || p == PROJ_K || p == PROJ_V);
}

// Shape of projection p: W [*out, *in].
static inline void projection_shape(const LlamaConfig *cfg, Projection p, int *out, int *in) {
    int q_dim = cfg->n_heads * cfg->head_dim;
    int kv_dim = cfg->n_kv_heads * cfg->head_dim;
    switch (p) {
    case PROJ_Q:
        *out = q_dim;
        *in = cfg->dim;
        break;
    case PROJ_K:
    case PROJ_V:
        *out = kv_dim;
        *in = cfg->dim;
        break;
    case PROJ_O:
        *out = cfg->dim;
        *in = q_dim;
        break;
    case PROJ_GATE:
    case PROJ_UP:
        *out = cfg->ffn_dim;
        *in = cfg->dim;
        break;
    case PROJ_DOWN:
        *out = cfg->dim;
        *in = cfg->ffn_dim;
        break;
    default:
        *out = *in = 0;
        assert(!"unknown projection");
    }
}

#endif
