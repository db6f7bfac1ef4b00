// Where an ARE trial reports what it measures: per-round metrics, stored representations and
// LoRA weights. The trial loop (compute) calls these; io implements them for HDF5, so the
// numerics never include hdf5.h. Every callback returns 0, or -1 to stop the trial (e.g. the
// disk is full); a NULL callback is skipped. Arrays are host memory, valid during the call.
#ifndef ARE_ARE_SINK_H
#define ARE_ARE_SINK_H

#include <stddef.h>

typedef struct {
    int round; // 0 = the base model's discriminator, then 1, 2, ...
    double disc_loss_train, disc_acc_train, disc_acc_test, disc_loss_test;
    double gen_loss_train, gen_loss_test;       // NaN in round 0 (no generator step yet)
    double retain_loss;                         // NaN when the retain loss is off
    double guard_answer_rate, guard_perplexity; // NaN when not measured this round
    double guard_preserved, guard_distinct;     // NaN when not measured this round
    double target_nll, refusal_nll;             // NaN when not measured this round
    double seconds_generator, seconds_extract, seconds_discriminator, seconds_guard;
    double tokens_per_second; // generator step throughput
} AreRoundMetrics;

// Backend memory of a trial, all of it allocated before round 0 (nothing grows later).
typedef struct {
    size_t weights;              // the base model (16-bit matrices count 2 bytes)
    size_t lora;                 // LoRA parameters and gradients, AdamW moments
    size_t activations;          // forward activations and their gradients for the generator step
    size_t frozen_cache;         // hidden_states[first_block] of every prompt token (0: no cache)
    size_t trial;                // representations, discriminator, retain-loss workspace
    int first_block, last_block; // the blocks a generator step runs (first..last inclusive)
} AreMemoryPlan;

typedef struct {
    void *ctx;
    // Once, when every buffer is allocated and before anything runs (return -1 to stop there).
    int (*memory_plan)(void *ctx, const AreMemoryPlan *plan);
    int (*round_metrics)(void *ctx, const AreRoundMetrics *m);
    // Representations after `round`: reps [n_samples, n_layers, dim], in dataset order.
    int (*representations)(void *ctx, int round, const float *reps, int n_samples, int n_layers,
                           int dim);
    // The LoRA parameters after `round` (lora.h's flat layout), n floats.
    int (*lora_weights)(void *ctx, int round, const float *params, size_t n);
} AreSink;

#endif
