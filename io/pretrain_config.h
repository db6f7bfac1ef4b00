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
// Paths are relative to the current directory. The file is read by io/config_schema.h's engine,
// as run configs are, with the same checks and messages: every error names the file and the line
// (or the override), and the field; an unknown field is refused with the nearest known name, so
// a typo never silently falls back to a default. Beyond types and ranges: n_kv_heads (default
// n_heads) divides n_heads, n_heads divides dim into heads of an even size, seq_len <=
// max_seq_len, min_lr <= lr, warmup_steps <= steps, betas below 1, and at most one of
// data.validation and data.validation_fraction.
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

// Reads path, applies the overrides ("train.steps=10", n_overrides of them, in order before
// checking, as are_config_load does), checks every field and fills c. Returns 0, or -1 with
// "file:line: field ..." (or "--set override: ...") in err.
int pretrain_config_load(const char *path, const char *const *overrides, int n_overrides,
                         PretrainConfig *c, char *err, size_t err_len);

// c as a config file that pretrain_config_load reads back to the same values: every field with
// its value (defaults and overrides included, floats in the shortest form that reads back to the
// same float), sorted by path, the groups written as groups, and data.validation or
// data.validation_fraction (whichever the config uses). Two configs that resolve to the same
// values give the same text, so it is what a checkpoint records and --resume compares.
// A malloc'd string, or NULL when out of memory.
char *pretrain_config_text(const PretrainConfig *c);

#endif
