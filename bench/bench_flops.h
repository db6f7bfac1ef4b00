// Floating-point operations of the model's pieces, 2 per multiply-add, for the benchmarks'
// TFLOP/s and MFU (bench_engine.c, bench_are_round.c).
#ifndef ARE_BENCH_FLOPS_H
#define ARE_BENCH_FLOPS_H

#include "llama.h"
#include "lora.h"

// The seven projections of one block over T tokens.
static inline double projection_flops(const LlamaConfig *cfg, double T) {
    double flops = 0;
    for (int p = 0; p < PROJ_COUNT; p++) {
        int out, in;
        projection_shape(cfg, (Projection)p, &out, &in);
        flops += 2.0 * T * in * out;
    }
    return flops;
}

// The forward of blocks first..last-1 over the batch (llama_forward_flops counts from block 0).
static inline double blocks_flops(const LlamaConfig *cfg, const TokenBatch *batch, int first,
                                  int last) {
    return llama_forward_flops(cfg, batch, last, false) -
           llama_forward_flops(cfg, batch, first, false);
}

// LoRA's forward products x A^T and (x A^T) B^T over T tokens in blocks first..last-1.
static inline double lora_forward_flops(const Lora *lora, const LlamaConfig *cfg, double T,
                                        int first, int last) {
    double flops = 0;
    for (int l = first; l < last; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, l, (Projection)p)) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            flops += 2.0 * T * lora->rank * (in + out);
        }
    }
    return flops;
}

// Backward over blocks first..last-1 with only LoRA trained. Every product's backward costs
// twice its forward (input gradient and weight gradient; attention's Q K^T and P V give dQ, dK
// and dP, dV), except the frozen base projections, which need only the input gradient
// dX = dY W: their skipped weight gradient dW = dY^T X is one projection_flops per block. So
//   backward = 2 * forward(blocks) - projection(blocks) + 2 * lora_forward(blocks)
// counting the lowest block's input gradient too, whether or not the engine skips it.
static inline double lora_backward_flops(const Lora *lora, const LlamaConfig *cfg,
                                         const TokenBatch *batch, double T, int first, int last) {
    return 2.0 * blocks_flops(cfg, batch, first, last) - (last - first) * projection_flops(cfg, T) +
           2.0 * lora_forward_flops(lora, cfg, T, first, last);
}

#endif
