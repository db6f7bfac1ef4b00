// LoRA adapters on the projections of a Llama model: W x + (alpha / rank) * B (A x).
//
// A [rank, in] starts random (PEFT's default, kaiming-uniform: U(-1/sqrt(in), 1/sqrt(in))),
// B [out, rank] starts at zero, so a fresh adapter leaves the model unchanged. All adapted
// tensors live in one allocation (params) with gradients (grads) in the identical layout, so
// an optimiser sees one flat vector of n_params.
#ifndef ARE_LORA_H
#define ARE_LORA_H

#include "llama.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define LORA_NOT_ADAPTED SIZE_MAX

struct Lora {
    int rank;
    float alpha;
    float scale;      // alpha / rank
    unsigned targets; // bit (1u << p) set: projection p adapted (in every adapted layer)
    int n_layers;
    bool *layer_on;   // [n_layers] host
    int lowest_layer; // lowest adapted block, n_layers when none
    size_t n_params;
    float *params;  // [n_params] backend memory
    float *grads;   // [n_params] backend memory
    size_t *offset; // [n_layers * PROJ_COUNT] host: offset of A in params (B follows A),
                    // LORA_NOT_ADAPTED where (layer, projection) has no adapter
};

// Creates an adapter on the projections in targets (bitmask) of the layers where
// layer_on[l] is true. Returns NULL when out of memory.
Lora *lora_create(const LlamaConfig *cfg, Backend *be, unsigned targets, const bool *layer_on,
                  int rank, float alpha);
void lora_free(Lora *lora, Backend *be);
// A <- U(-1/sqrt(in), 1/sqrt(in)) from seed, B <- 0. Returns 0, or -1 when out of memory.
int lora_init(Lora *lora, const LlamaConfig *cfg, Backend *be, unsigned long long seed);
// Views of one adapted projection (NULL when not adapted); A [rank, in], B [out, rank].
float *lora_A(const Lora *lora, int layer, Projection p);
float *lora_B(const Lora *lora, const LlamaConfig *cfg, int layer, Projection p);
float *lora_grad_A(const Lora *lora, int layer, Projection p);
float *lora_grad_B(const Lora *lora, const LlamaConfig *cfg, int layer, Projection p);
// Parses "q_proj,v_proj" (or "q,v", "up,down", "all") into a target bitmask; -1 on an unknown
// name, with the bad name copied to bad (size bad_len).
int lora_parse_targets(const char *list, unsigned *targets, char *bad, size_t bad_len);

#endif
