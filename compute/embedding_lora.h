// A LoRA on the token embedding, as PEFT adapts an nn.Embedding: row t of the lookup becomes
//
//   E[t] + scale * B A[:, t]      A [rank, vocab] (lora_embedding_A), B [dim, rank]
//                                 (lora_embedding_B), scale = alpha / rank
//
// The engine trains no embedding adapter, so this one is frozen and merged once into a table of
// its own (one more [vocab, dim] fp32 on the backend) that the lookup reads instead of w.embed.
// The LM head keeps reading w.lm_head, which is the base table when the head is tied: as in
// PEFT, where a LoRA on embed_tokens leaves lm_head alone. Dropping the adapter
// (embedding_lora_free) gives the base model back bit for bit, w.embed never having changed.
#ifndef ARE_EMBEDDING_LORA_H
#define ARE_EMBEDDING_LORA_H

#include "llama.h"

#include <stddef.h>

struct EmbeddingLora {
    int rank;
    float alpha;
    float scale;  // alpha / rank
    float *A;     // [rank, vocab] host; B [dim, rank] follows it in the same allocation
    float *B;     //
    float *table; // [vocab, dim] backend: E + scale (B A)^T, what the lookup reads
};

// The adapter (A, B copied) merged into a copy of m's embedding, each element rounded as PEFT's
// forward rounds it: fl(E[t][j] + fl(fl(sum_k A[k][t] B[j][k]) * scale)), bit for bit PEFT's
// float32 rows at rank 1. base (may be NULL): the table PEFT saved beside the adapter
// (save_embedding_layers), which PEFT loads into the model; it must equal m's. Returns NULL
// with the reason in err.
EmbeddingLora *embedding_lora_create(const LlamaModel *m, int rank, float alpha, const float *A,
                                     const float *B, const float *base, char *err, size_t err_len);
void embedding_lora_free(EmbeddingLora *e, Backend *be);

#endif
