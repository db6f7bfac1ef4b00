// The config of `are pretrain` (libconfig syntax), read and checked in full before any work:
//
//   output = "runs/tiny";                 # the model folder to write (created)
//   seed = 1;
//   model = { dim = 64; ffn_dim = 176; n_layers = 2; n_heads = 4; n_kv_heads = 2;
//             max_seq_len = 128; rms_eps = 1e-5; rope_theta = 10000.0;
//             tie_embeddings = true; init_std = 0.02; };
//   data  = { tokenizer = "tokenizer.json"; text = "train.jsonl";
//             validation_fraction = 0.05; };   # or validation = "valid.jsonl"
//   train = { seq_len = 64; batch_seqs = 8; steps = 300; lr = 3e-3; min_lr = 3e-4;
//             warmup_steps = 20; beta1 = 0.9; beta2 = 0.95; eps = 1e-8; weight_decay = 0.1;
//             clip_norm = 1.0; eval_every = 50; checkpoint_every = 100; };
//
// Paths are relative to the current directory. Every error names the file, the line and the
// field; unknown fields are refused so a typo never silently falls back to a default.
#ifndef ARE_PRETRAIN_CONFIG_H
#define ARE_PRETRAIN_CONFIG_H

#include "llama_config.h"

#include <stddef.h>

#define PRETRAIN_PATH_MAX 1024

typedef struct {
    LlamaConfig model; // vocab_size 0: the tokenizer's size is filled in by the caller
    float init_std;    // weights ~ N(0, init_std^2) at step 0
    char tokenizer[PRETRAIN_PATH_MAX];  // tokenizer.json
    char text[PRETRAIN_PATH_MAX];       // training documents (JSONL, see text_corpus.h)
    char validation[PRETRAIN_PATH_MAX]; // validation documents, or "" to hold out a fraction
    float validation_fraction;          // share of the documents held out when no file
    char output[PRETRAIN_PATH_MAX];
    long long seed;
    int seq_len;      // tokens per training sequence
    int batch_seqs;   // sequences per step (tokens per step = seq_len * batch_seqs)
    int steps;        // optimiser steps in total
    int warmup_steps; // linear warmup from 0 to lr, then cosine decay to min_lr
    float lr, min_lr;
    float beta1, beta2, eps;
    float weight_decay;   // on every parameter, norms and embeddings too (torch.optim.AdamW's rule)
    float clip_norm;      // clip the global gradient norm to this (0: no clipping)
    int eval_every;       // validation loss every N steps (0: only at the end)
    int checkpoint_every; // checkpoint every N steps (0: only at the end)
} PretrainConfig;

// Reads and checks path. Returns 0, or -1 with "file:line: field ..." in err.
int pretrain_config_load(const char *path, PretrainConfig *c, char *err, size_t err_len);

#endif
