// A model on disk, whichever format it arrived in: a Hugging Face folder (config.json plus
// model.safetensors or sharded model-0000N-of-0000M.safetensors with its index json) or a
// single GGUF file. Opening reads the config and checks that every parameter tensor the config
// implies is present with the right shape (and that nothing unexpected is there); reading
// converts one tensor to fp32 in the engine's layout (HF's: W [out, in], rotate-half q/k).
#ifndef ARE_MODEL_SOURCE_H
#define ARE_MODEL_SOURCE_H

#include "llama_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

// The parameter tensors of a Llama model, per block where a layer applies.
typedef enum {
    PARAM_EMBED,      // [vocab, dim]         model.embed_tokens.weight  | token_embd.weight
    PARAM_ATTN_NORM,  // [dim]      per layer input_layernorm          | blk.N.attn_norm
    PARAM_PROJ_FIRST, // PARAM_PROJ_FIRST + p: projection p per layer   | blk.N.attn_q ... ffn_down
    PARAM_MLP_NORM = PARAM_PROJ_FIRST + PROJ_COUNT, // [dim] per layer post_attention_layernorm
    // PARAM_BIAS_FIRST + p, p = PROJ_Q, PROJ_K, PROJ_V: [out] per layer, qkv_bias models only
    //                                        self_attn.q_proj.bias ... | blk.N.attn_q.bias ...
    PARAM_BIAS_FIRST,
    PARAM_FINAL_NORM = PARAM_BIAS_FIRST + PROJ_V + 1, // [dim] model.norm.weight | output_norm
    PARAM_LM_HEAD, // [vocab, dim]         lm_head.weight (absent when tied) | output.weight
    PARAM_COUNT
} ParamKind;

// Whether kind has one tensor per block.
static inline bool param_per_layer(ParamKind kind) {
    return kind >= PARAM_ATTN_NORM && kind < PARAM_FINAL_NORM;
}
// Whether kind is the bias of a projection.
static inline bool param_is_bias(ParamKind kind) {
    return kind >= PARAM_BIAS_FIRST && kind < PARAM_FINAL_NORM;
}
// Whether the model has kind at all: a tied model has no LM head of its own, only a qkv_bias
// model has biases.
static inline bool param_present(const LlamaConfig *cfg, ParamKind kind) {
    if (param_is_bias(kind)) return cfg->qkv_bias;
    return kind != PARAM_LM_HEAD || !cfg->tie_embeddings;
}
// Shape of one tensor of kind: writes shape[0..n_dims-1] and returns n_dims (2 for matrices
// [out, in], 1 for norms [dim] and biases [out]).
static inline int param_shape(const LlamaConfig *cfg, ParamKind kind, int64_t shape[2]) {
    int out = cfg->dim, in = 0;
    if (kind == PARAM_EMBED || kind == PARAM_LM_HEAD) {
        out = cfg->vocab_size;
        in = cfg->dim;
    } else if (kind >= PARAM_PROJ_FIRST && kind < PARAM_PROJ_FIRST + PROJ_COUNT) {
        projection_shape(cfg, (Projection)(kind - PARAM_PROJ_FIRST), &out, &in);
    } else if (param_is_bias(kind)) {
        int ignored;
        projection_shape(cfg, (Projection)(kind - PARAM_BIAS_FIRST), &out, &ignored);
    }
    shape[0] = out;
    shape[1] = in;
    return in ? 2 : 1;
}
static inline size_t param_elements(const LlamaConfig *cfg, ParamKind kind) {
    int64_t shape[2];
    return param_shape(cfg, kind, shape) == 2 ? (size_t)shape[0] * (size_t)shape[1]
                                              : (size_t)shape[0];
}

typedef enum { MODEL_FORMAT_HF, MODEL_FORMAT_GGUF } ModelFormat;

typedef struct ModelSource ModelSource;

// Opens a model folder or a .gguf file. NULL on error, with the file, tensor or field and what
// was expected in err.
ModelSource *model_source_open(const char *path, char *err, size_t err_len);
void model_source_close(ModelSource *src);

const LlamaConfig *model_source_config(const ModelSource *src);
ModelFormat model_source_format(const ModelSource *src);
// The stored data type of a parameter ("BF16", "F32", "Q4_K", ...), for `are inspect`; NULL
// for a parameter the model does not have (see param_present).
const char *model_source_dtype(const ModelSource *src, ParamKind kind, int layer);

// Reads one parameter (layer ignored for whole-model kinds) as fp32 into dst, which holds
// exactly the element count of its shape. 0, or -1 with a message in err.
int model_source_read(const ModelSource *src, ParamKind kind, int layer, float *dst, char *err,
                      size_t err_len);

#endif
