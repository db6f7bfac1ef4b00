// Batched generation with a KV cache: greedy or temperature / top-p sampling.
#ifndef ARE_GENERATE_H
#define ARE_GENERATE_H

#include "llama.h"

#include "rng.h"

#include <stdint.h>

typedef struct {
    int max_new_tokens;
    float temperature;      // 0 = greedy (argmax, lowest id on ties)
    float top_p;            // nucleus sampling mass in (0, 1]; 1 = whole distribution
    uint64_t seed;          // sequence i samples from stream rng_derive(seed, i): batch-independent
    const int *stop_tokens; // host array; generation of a sequence ends after it emits one
    int n_stop;
    // Called with each token as soon as it is sampled (NULL: not called), so that a caller can
    // stream text while generation goes on.
    void (*on_token)(void *ctx, int seq, int token);
    void *on_token_ctx;
} GenerateOptions;

// Generates continuations of every prompt in the batch. ws must come from a plan with
// kv_slots >= prompts->n_seqs, outputs.logits set, and max_seq_len >= the longest prompt plus
// max_new_tokens. out_tokens [n_seqs, max_new_tokens] (host) receives each continuation, stop
// token included when one was emitted; out_len [n_seqs] its length. Returns 0 or -1 (message
// in llama_workspace_error). Afterwards llama_logits(ws) holds the logits of the last step, one
// row per sequence that was still generating then, in batch order.
int llama_generate(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *prompts,
                   const GenerateOptions *opt, int *out_tokens, int *out_len);

// Picks the next token from one row of logits [vocab] (host): greedy when temperature == 0,
// else softmax(logits / temperature) cut to the smallest set of most likely tokens whose mass
// reaches top_p, drawn from rng. probs and order are scratch of vocab entries each.
int sample_token(const float *logits, int vocab, float temperature, float top_p, Rng *rng,
                 float *probs, int *order);

#endif
