// The Llama-family model: config, weights, the activation workspace, forward and backward.
//
// Layout and conventions follow Hugging Face's LlamaForCausalLM exactly, so that checkpoints
// load without conversion and layer numbers mean what transformers users expect:
//   - weights as stored in safetensors: a projection is W [out, in], y = x @ W^T;
//   - RoPE in the rotate-half convention on the un-permuted q/k projections;
//   - hidden_states[0] = embedding output, hidden_states[i] = input of block i (= output of
//     block i-1) for i < n_layers, hidden_states[n_layers] = final_norm(output of last block);
//     a negative index i means n_layers + 1 + i.
//
// Batches are packed: the tokens of all sequences back to back, no padding, so a sequence's
// results never depend on which other sequences share its batch.
#ifndef ARE_LLAMA_H
#define ARE_LLAMA_H

#include "backend.h"
#include "llama_config.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct Lora Lora;                   // lora.h
typedef struct EmbeddingLora EmbeddingLora; // embedding_lora.h

typedef struct {
    float *attn_norm;             // [dim]   input_layernorm
    float *proj[PROJ_COUNT];      // see Projection; NULL when the matrices are 16-bit
    uint16_t *proj16[PROJ_COUNT]; // the same in 16 bits; NULL when they are fp32
    float *bias[PROJ_COUNT];      // [out] fp32, frozen under LoRA; NULL unless projection_has_bias
    float *mlp_norm;              // [dim]   post_attention_layernorm
} LlamaBlockWeights;

// Every parameter tensor of a model, as views into one backend allocation of n_floats, and,
// when the matrices are 16-bit, the projections and an untied LM head as views into a second
// allocation of n_halves. The embedding and the norms always stay fp32 (the embedding is read
// row by row, not multiplied). The same struct holds gradients (full backward, always fp32)
// with the identical layout.
typedef struct {
    MatrixType matrices; // how proj and an untied lm_head are stored
    float *memory;
    size_t n_floats;
    uint16_t *memory16; // NULL when matrices is MATRIX_F32
    size_t n_halves;
    float *embed;              // [vocab, dim]
    LlamaBlockWeights *blocks; // [n_layers] (host array of views)
    float *final_norm;         // [dim]
    float *lm_head;            // [vocab, dim]; == embed when tied; NULL when 16-bit
    uint16_t *lm_head16;       // [vocab, dim] when untied and 16-bit, else NULL
} LlamaWeights;

// Allocates (zero-filled) weights for cfg on be, the matrices stored as `matrices`: MATRIX_F32,
// or be->matrix_type for frozen 16-bit base weights (forward and LoRA backward only; a model
// whose weights train, or that needs llama_alloc_grads, keeps MATRIX_F32). Returns 0, or -1
// when out of memory.
int llama_weights_alloc(LlamaWeights *w, const LlamaConfig *cfg, Backend *be, MatrixType matrices);
// Backend bytes the weights hold.
size_t llama_weights_bytes(const LlamaWeights *w);
void llama_weights_free(LlamaWeights *w, Backend *be);
// Fills every weight with seeded random values: matrices and biases N(0, init_std^2), norms 1.
void llama_weights_init_random(LlamaWeights *w, const LlamaConfig *cfg, Backend *be, float init_std,
                               unsigned long long seed);
// Returns the config's error in a sentence (static string), or NULL when it is consistent.
const char *llama_config_check(const LlamaConfig *cfg);

typedef struct {
    LlamaConfig cfg;
    Backend *be;
    LlamaWeights w;
    LlamaWeights grad; // allocated by llama_alloc_grads for full backward; memory NULL otherwise
    Lora *lora;        // attached adapter (applied in forward, trained in backward), or NULL
    // A frozen adapter on the token embedding, whose merged table the lookup reads instead of
    // w.embed (the head keeps w.lm_head), or NULL.
    EmbeddingLora *embed_lora;
    // Activation addition: steer [dim] (backend memory) is added to hidden_states[steer_layer]
    // (0..n_layers-1: the input of that block) at every token of every forward; NULL: none.
    const float *steer;
    int steer_layer;
} LlamaModel;

int llama_alloc_grads(LlamaModel *m); // 0, or -1 when out of memory
void llama_free(LlamaModel *m);       // weights and grads; not the backend, not the lora

// --- what one forward computes ---------------------------------------------------------------

typedef enum {
    CAPTURE_LAST_TOKEN, // one row per sequence: its last token
    CAPTURE_ALL_TOKENS, // one row per token
} CapturePosition;

#define LLAMA_MAX_CAPTURE 64

typedef struct {
    int n_capture;                 // hidden states to capture (0 = none)
    int layers[LLAMA_MAX_CAPTURE]; // HF hidden_states indices, negatives allowed
    CapturePosition capture_at;
    bool logits; // compute logits [T, vocab] (runs every block)
} LlamaOutputs;

// Plans a workspace: the largest batch it must hold, what forward must produce, and whether
// backward will run (and from which block down), so every buffer is allocated once.
typedef struct {
    int max_tokens;  // T of the largest batch (all sequences together)
    int max_seqs;    // sequences of the largest batch
    int max_seq_len; // longest single sequence (attention rows)
    LlamaOutputs outputs;
    // Backward: none, LoRA gradients only (down to the lowest LoRA block), or full gradients
    // (down to the embedding; needs llama_alloc_grads). Activations are kept for exactly the
    // blocks backward will visit.
    enum { BACKWARD_NONE, BACKWARD_LORA, BACKWARD_FULL } backward;
    // Generation: a KV cache for kv_slots sequences of up to max_seq_len tokens each.
    int kv_slots;
} WorkspacePlan;

typedef struct LlamaWorkspace LlamaWorkspace;

// Allocates the workspace for plan (one allocation for activations, one for gradients of
// activations). Returns NULL and writes why into err (size err_len) when the plan cannot
// hold (bad layer index, out of memory, backward without LoRA or grads...).
LlamaWorkspace *llama_workspace_create(LlamaModel *m, const WorkspacePlan *plan, char *err,
                                       size_t err_len);
void llama_workspace_free(LlamaWorkspace *ws);
size_t llama_workspace_bytes(const LlamaWorkspace *ws); // backend memory it holds

// Packed batch of token sequences, host memory.
typedef struct {
    int n_seqs;
    const int *seq_len; // [n_seqs], each >= 1
    const int *tokens;  // [sum(seq_len)], sequence after sequence
} TokenBatch;

// Runs the batch through the model and produces the plan's outputs. Runs blocks only up to
// the deepest one an output needs. When the plan has backward, keeps activations for it.
// Returns 0, or -1 when the batch exceeds the plan (message in ws, llama_workspace_error).
int llama_forward(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *batch);

// llama_forward from the input of block start on: start_resid [T, dim] (backend memory) holds
// hidden_states[start] of the batch's tokens, packed as the batch is, and blocks start.. run
// on it. Blocks below the lowest LoRA block never change, so a caller that runs the same
// prompts again and again (ARE's extraction and generator epochs) computes their residual
// stream there once and starts from it. start may not be above the lowest block backward
// visits, nor above a captured state; start 0 is llama_forward (start_resid unused).
int llama_forward_from(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *batch, int start,
                       const float *start_resid);

// Outputs of the last forward, backend memory:
//   captured [rows, n_capture, dim], rows = n_seqs (last token) or T (all tokens), layers in
//   the order the plan lists them;
//   logits [T, vocab].
float *llama_captured(LlamaWorkspace *ws);
float *llama_logits(LlamaWorkspace *ws);
// Gradient buffer for the captured states, same shape as llama_captured; backward reads it.
// The caller writes it (e.g. a discriminator's input gradient) between forward and backward.
float *llama_captured_grad(LlamaWorkspace *ws);
const char *llama_workspace_error(const LlamaWorkspace *ws);

// Where backward starts; any combination of the three, at least one (their gradients add up).
typedef struct {
    bool from_captured; // use llama_captured_grad as dL/d(captured)
    // Next-token cross-entropy: targets [T] host array (negative = ignored), loss is the mean
    // over non-ignored targets (Hugging Face's loss with labels); NULL for none.
    const int *targets;
    // A loss of the caller's on the logits: dL/d(logits) [T, vocab], backend memory, rows the
    // loss does not touch set to 0 (e.g. a KL divergence on each sequence's last token);
    // NULL for none. Needs logits in the plan.
    const float *dlogits;
} BackwardSources;

// Back-propagates the sources of the last forward. Accumulates (+=) into the LoRA gradients
// (when a LoRA is attached) and into m->grad (BACKWARD_FULL); zero them between steps.
// Writes the cross-entropy loss into *loss when targets are given. Returns 0 or -1.
int llama_backward(LlamaModel *m, LlamaWorkspace *ws, const BackwardSources *src, double *loss);

// Resolves an HF hidden_states index (negative allowed) to 0..n_layers; -1 if out of range.
int llama_resolve_layer(const LlamaConfig *cfg, int index);

// Floating-point operations of one forward over T tokens in sequences of the given lengths
// (2 per multiply-add), counting blocks 0..n_blocks-1 and the LM head when lm_head is set.
double llama_forward_flops(const LlamaConfig *cfg, const TokenBatch *batch, int n_blocks,
                           bool lm_head);

#endif
