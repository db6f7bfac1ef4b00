// A concept's direction in the residual stream, and its removal by orthogonalisation (the
// refusal-direction ablation of Arditi et al. 2024, "Refusal in language models is mediated by
// a single direction").
//
//   r = normalise(mean of class-1 representations - mean of class-0 representations)
//
// Every matrix W that writes into the residual stream (o_proj and down_proj of every block)
// becomes (I - r r^T) W, so no block adds anything along r. That is W + B A with B = -r [dim, 1]
// and A = r^T W [1, in]: a LoRA of rank 1 with alpha 1 (scale 1), which is how the edit is
// applied, evaluated and exported (PEFT). The token embedding, which writes the stream's start,
// becomes E - (E r) r^T: PEFT's embedding LoRA with lora_embedding_A = (E r)^T [1, vocab] and
// lora_embedding_B = -r [dim, 1] (embedding_lora.h), on the lookup only (a tied head stays the
// base table, as in PEFT). With both, the residual stream has no component along r anywhere.
#ifndef ARE_DIRECTION_H
#define ARE_DIRECTION_H

#include "embedding_lora.h"
#include "llama.h"
#include "lora.h"

#include <stdbool.h>
#include <stddef.h>

// r [dim] from the rows i with use[i] of reps (row i at reps + i * stride, dim floats), by
// labels[i] (0 or 1), in double precision. Returns 0, or -1 with the reason in err when a class
// has no row or the class means coincide.
int direction_of_classes(const float *reps, int n, size_t stride, int dim, const int *labels,
                         const bool *use, float *r, char *err, size_t err_len);

// <rep_i, r> of every row into proj [n].
void direction_project(const float *reps, int n, size_t stride, int dim, const float *r,
                       float *proj);

// How well r separates the classes on the rows with use[i] (a held-out split): the accuracy of
// thresholding <rep, r> at the midpoint of the two class means' projections, which r was fitted
// to on the rows with fit[i]. Used to choose r's layer.
double direction_threshold_accuracy(const float *proj, int n, const int *labels, const bool *fit,
                                    const bool *use);

// A rank-1 LoRA (alpha 1) on o_proj and down_proj of every block of m, all zero (the model
// unchanged); NULL when out of memory.
Lora *direction_lora_create(const LlamaModel *m);
// Sets such a LoRA to the ablation of r [dim, unit norm]: A = r^T W, B = -r, W read as the
// forward uses it (16-bit matrices as stored). Returns 0, or -1 with the reason in err.
int direction_lora_set(Lora *lora, const LlamaModel *m, const float *r, char *err, size_t err_len);

// The embedding's ablation of r [dim, unit norm]: A = fl(E r)^T (summed in double), B = -r, rank
// 1, alpha 1 (embedding_lora_create). Returns NULL with the reason in err.
EmbeddingLora *direction_embedding_lora(const LlamaModel *m, const float *r, char *err,
                                        size_t err_len);

#endif
