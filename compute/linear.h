// One projection of a block, y = x W^T, with an optional LoRA adapter on it:
//   y[T,out] = x[T,in] W^T + scale * (x A^T) B^T,   W [out,in], A [rank,in], B [out,rank].
// Internal to the model (llama.c); forward and backward side by side.
#ifndef ARE_LINEAR_H
#define ARE_LINEAR_H

#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int in, out;
    const float *W;      // [out, in] fp32, or NULL when W16 holds it
    const uint16_t *W16; // [out, in] 16-bit (be->matrix_type, frozen), or NULL
    float *dW;           // [out, in] gradient, or NULL when base weights are frozen
    // LoRA, all NULL when the projection has no adapter
    int rank;
    float scale;    // alpha / rank
    const float *A; // [rank, in]
    const float *B; // [out, rank]
    float *dA;      // [rank, in]
    float *dB;      // [out, rank]
} Linear;

// y [T,out] = (y when accumulate) + x W^T + scale * ax B^T, with ax [T,rank] = x A^T kept for
// backward (ax is unused without an adapter).
void linear_forward(Backend *be, const Linear *lin, int T, const float *x, float *ax, float *y,
                    bool accumulate);

// Its LoRA term alone: y [T,out] += scale * ax B^T, ax = x A^T kept (nothing without an adapter).
// For a caller that ran the base product itself (several projections in one).
void linear_lora_forward(Backend *be, const Linear *lin, int T, const float *x, float *ax,
                         float *y);

// From dy [T,out]: dW += dy^T x (when dW), dB += scale dy^T ax, dA += dax^T x with
// dax [T,rank] = scale dy B (scratch), and dx [T,in] = (dx when accumulate) + dy W + dax A.
// dx may be NULL when nothing below needs it.
void linear_backward(Backend *be, const Linear *lin, int T, const float *x, const float *ax,
                     const float *dy, float *dax, float *dx, bool accumulate);

#endif
