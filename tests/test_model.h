// Small random Llama models for the engine tests: the one shape family they share (4 query heads
// sharing 2 KV heads, so grouped-query attention is always exercised) and the one way they build
// a model by hand (allocate, then draw every weight from a seed).
#ifndef ARE_TEST_MODEL_H
#define ARE_TEST_MODEL_H

#include "llama.h"

#include <stdio.h>
#include <stdlib.h>

// What differs between the test models; test_model_config fixes the rest.
typedef struct {
    int vocab_size, dim, ffn_dim, n_layers, max_seq_len;
} TestModelShape;

// 4 query heads sharing 2 KV heads, each dim / 4 wide; RMSNorm eps 1e-5, RoPE theta 1e4; untied
// embeddings and no q/k/v bias (a test sets tie_embeddings or qkv_bias on the result).
static inline LlamaConfig test_model_config(TestModelShape s) {
    return (LlamaConfig){.vocab_size = s.vocab_size,
                         .dim = s.dim,
                         .ffn_dim = s.ffn_dim,
                         .n_layers = s.n_layers,
                         .n_heads = 4,
                         .n_kv_heads = 2,
                         .head_dim = s.dim / 4,
                         .max_seq_len = s.max_seq_len,
                         .rms_eps = 1e-5f,
                         .rope_theta = 10000.0f};
}

// m: the model cfg on be, its weights allocated (matrices stored as `matrices`) but not set, no
// LoRA. Exits when out of memory: no test can go on without its model.
static inline void test_model_alloc(LlamaModel *m, const LlamaConfig *cfg, Backend *be,
                                    MatrixType matrices) {
    *m = (LlamaModel){.cfg = *cfg, .be = be};
    if (llama_weights_alloc(&m->w, &m->cfg, be, matrices) != 0) {
        fprintf(stderr, "%s: out of memory for the test model\n", be->name);
        exit(1);
    }
}

// test_model_alloc, then every weight drawn by llama_weights_init_random from seed: matrices
// and biases N(0, init_std^2), norms 1.
static inline void test_model_init(LlamaModel *m, const LlamaConfig *cfg, Backend *be,
                                   MatrixType matrices, float init_std, unsigned long long seed) {
    test_model_alloc(m, cfg, be, matrices);
    llama_weights_init_random(&m->w, &m->cfg, be, init_std, seed);
}

#endif
