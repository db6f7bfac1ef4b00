// LoRA adapters in Hugging Face PEFT's layout, so that an edit made here loads in Python and an
// adapter made there loads here. A PEFT adapter folder holds
//   adapter_config.json        {"peft_type": "LORA", "r", "lora_alpha", "target_modules",
//                               "layers_to_transform", ...}
//   adapter_model.safetensors  base_model.model.model.layers.N.self_attn.q_proj.lora_A.weight
//                              [r, in] and ...lora_B.weight [out, r] for each adapted
//                              projection (mlp.gate_proj ... for the MLP ones);
//                              base_model.model.model.embed_tokens.lora_embedding_A [r, vocab]
//                              and ...lora_embedding_B [dim, r] when embed_tokens is a target
// and adapts W x into W x + (lora_alpha / r) B A x, and embedding row t into
// E[t] + (lora_alpha / r) B A[:, t]. PeftAdapter is plain host data; session/model_load.h moves it
// to and from the engine's Lora and EmbeddingLora.
#ifndef ARE_PEFT_H
#define ARE_PEFT_H

#include "llama_config.h"

#include <stdbool.h>
#include <stddef.h>

// targets bit of the token embedding (embed_tokens), beside the projections' (1u << p).
#define PEFT_EMBED_TOKENS (1u << PROJ_COUNT)

typedef struct {
    LlamaConfig base;  // the model it adapts, which sets the shapes of A and B
    int rank;          // r
    float alpha;       // lora_alpha
    unsigned targets;  // bit (1u << p) set: projection p adapted in every adapted layer;
                       // PEFT_EMBED_TOKENS: the token embedding adapted (every layer adapted)
    bool *layer_on;    // [base.n_layers]
    float *memory;     // every A and B, one allocation
    float *embed_A;    // [rank, vocab] lora_embedding_A, NULL without PEFT_EMBED_TOKENS
    float *embed_B;    // [dim, rank] lora_embedding_B
    float *embed_base; // [vocab, dim] embed_tokens.base_layer.weight, the table PEFT saves
                       // beside an embedding adapter (save_embedding_layers); NULL when absent
    float **A, **B;    // [base.n_layers * PROJ_COUNT] views: A [rank, in], B [out, rank], or
                       // NULL where (layer, projection) is not adapted; see peft_A / peft_B
} PeftAdapter;

static inline float *peft_A(const PeftAdapter *a, int layer, Projection p) {
    return a->A[layer * PROJ_COUNT + p];
}
static inline float *peft_B(const PeftAdapter *a, int layer, Projection p) {
    return a->B[layer * PROJ_COUNT + p];
}

// Allocates a zero-filled adapter on the projections in targets of the layers where layer_on[l]
// is true (and on the embedding with PEFT_EMBED_TOKENS). Returns 0, or -1 when out of memory.
int peft_adapter_alloc(PeftAdapter *a, const LlamaConfig *base, unsigned targets,
                       const bool *layer_on, int rank, float alpha);
void peft_adapter_free(PeftAdapter *a);

// Reads the adapter folder dir for the model base. Refuses, naming the field or tensor, what
// would not compute what PEFT computes: DoRA, rsLoRA, biases, per-module ranks, modules to
// save, target modules other than the seven projections and embed_tokens, layers outside the
// model, tensors missing, unexpected or shaped for another base model. With
// layers_to_transform, embed_tokens is not adapted (PEFT matches only modules inside layers);
// ensure_weight_tying on a tied model (PEFT then adapts lm_head too) is refused.
// lora_dropout is ignored (inference).
// Returns 0, or -1 with the reason in err.
int peft_load(const char *dir, const LlamaConfig *base, PeftAdapter *a, char *err, size_t err_len);

// Writes the adapter into dir (created when missing) as F32 tensors (an embedding adapter
// without its base table: PEFT loads it onto the model's own); base_model (may be NULL)
// is recorded as base_model_name_or_path. Each file is written under a temporary name and
// renamed into place. Returns 0, or -1 with the reason in err.
int peft_save(const char *dir, const PeftAdapter *a, const char *base_model, char *err,
              size_t err_len);

#endif
