// Full-parameter training of a Llama from scratch (`are pretrain`): the learning-rate schedule,
// the order in which a token stream is read, and the optimiser step (forward, full backward,
// global-norm clipping, AdamW). No file I/O here; checkpoints are the caller's.
//
// Everything random derives from (seed, step), never from how many steps ran in this process,
// so a run resumed from a checkpoint at step s continues bit-identically to one that never
// stopped: the state to keep is the weights, the AdamW moments and the step count.
#ifndef ARE_PRETRAIN_H
#define ARE_PRETRAIN_H

#include "adamw.h"
#include "llama.h"

#include <stddef.h>
#include <stdint.h>

// Linear warmup from 0 to lr over warmup_steps, then cosine decay to min_lr at steps.
typedef struct {
    float lr, min_lr;
    int warmup_steps, steps;
} LrSchedule;

// The learning rate of the optimiser step that follows `done` completed steps.
float lr_schedule_at(const LrSchedule *s, int done);

// A token stream cut into windows of seq_len + 1 tokens (inputs and their next-token targets);
// window w starts at token w * seq_len. Training reads the windows epoch after epoch, each epoch
// in its own seeded shuffle.
typedef struct {
    const int *stream; // [n_tokens] host, not owned
    size_t n_tokens;
    int seq_len;
    size_t n_windows;
    uint64_t seed;
    size_t *order;         // [n_windows] the shuffle of order_epoch
    long long order_epoch; // -1 before the first shuffle
} TokenWindows;

// Returns 0, or -1 when out of memory or the stream is shorter than one window.
int token_windows_init(TokenWindows *w, const int *stream, size_t n_tokens, int seq_len,
                       uint64_t seed);
void token_windows_free(TokenWindows *w);
// Window index (unshuffled) into tokens, targets [seq_len] host.
void token_windows_get(const TokenWindows *w, size_t index, int *tokens, int *targets);
// The n windows at positions first .. first+n-1 of the shuffled reading order (across epochs)
// into tokens, targets [n * seq_len].
void token_windows_batch(TokenWindows *w, long long first, int n, int *tokens, int *targets);

typedef struct {
    AdamWConfig adamw; // adamw.lr is replaced by the schedule at every step
    LrSchedule schedule;
    float clip_norm; // global gradient-norm limit, 0 for none
    int batch_seqs, seq_len;
} PretrainOptions;

typedef struct {
    LlamaModel *model; // with grads allocated by pretrainer_init
    PretrainOptions options;
    LlamaWorkspace *ws;
    AdamW opt;        // opt.step = optimiser steps done
    float *host_grad; // [n_floats] host copy of the gradient, for its norm
    int *seq_lens;    // [batch_seqs] host, every one seq_len
    int *targets_dev; // [batch_seqs * seq_len] backend, for the validation loss
    float *loss_dev;  // [batch_seqs * seq_len] backend
    float *loss_host; // [batch_seqs * seq_len]
} Pretrainer;

typedef struct {
    double loss;      // mean next-token cross-entropy of the batch
    double grad_norm; // global L2 norm of the gradient before clipping
    float lr;
} PretrainStepStats;

// Allocates everything the steps need (gradients, workspace, moments); nothing is allocated
// after. Returns 0, or -1 with the reason in err.
int pretrainer_init(Pretrainer *p, LlamaModel *m, const PretrainOptions *o, char *err,
                    size_t err_len);
void pretrainer_free(Pretrainer *p);

// One optimiser step on batch_seqs sequences: tokens, targets [batch_seqs * seq_len] host.
// Returns 0, or -1 with the reason in err when the loss or gradient is not finite.
int pretrainer_step(Pretrainer *p, const int *tokens, const int *targets, PretrainStepStats *st,
                    char *err, size_t err_len);

// Summed next-token loss of n_seqs (<= batch_seqs) sequences of seq_len, without gradients;
// *count gets the number of targets it sums.
void pretrainer_eval(Pretrainer *p, int n_seqs, const int *tokens, const int *targets,
                     double *loss_sum, long long *count);

#endif
