// The workspace's layout, internal to the model: llama_workspace.c plans and allocates it,
// llama.c (forward, backward) and generate.c (KV-cache decoding) run in it.
#ifndef ARE_LLAMA_WORKSPACE_H
#define ARE_LLAMA_WORKSPACE_H

#include "llama.h"

#include "rng.h"

// What one block keeps from its forward for its backward. Blocks that backward does not visit
// share one such set, overwritten block after block. Sizes are for T = plan.max_tokens.
typedef struct {
    float *ln1, *rstd1;    // [T, dim], [T]  input_layernorm output and its 1/rms
    float *q;              // [T, n_heads*head_dim]     after RoPE
    float *k, *v;          // [T, n_kv_heads*head_dim]  k after RoPE
    float *probs;          // [T, n_heads, max_seq_len] attention weights
    float *att;            // [T, n_heads*head_dim]     attention output, o_proj input
    float *x_mid;          // [T, dim]  residual stream between attention and MLP
    float *ln2, *rstd2;    // [T, dim], [T]  post_attention_layernorm
    float *gate, *up;      // [T, ffn_dim]
    float *h;              // [T, ffn_dim]  silu(gate) * up, down_proj input
    float *ax[PROJ_COUNT]; // [T, lora rank] LoRA x A^T per adapted projection, else NULL
} BlockActivations;

// What a decoding step runs besides the workspace's own buffers: its sizes and what the model
// adds to the blocks. A recorded step (be->begin_recording) replays only for the same key.
typedef struct {
    int T, n_out;
    const Lora *lora;
    const float *steer;
    int steer_layer;
    const float *embed_table; // the base embedding or an embedding adapter's merged copy
} StepKey;

struct LlamaWorkspace {
    LlamaModel *model;
    Lora *lora; // the adapter attached when the plan was made (forward may run without it)
    WorkspacePlan plan;
    int capture_index[LLAMA_MAX_CAPTURE]; // plan.outputs.layers resolved to 0..n_layers
    int n_run;                            // forward runs blocks 0 .. n_run-1
    bool final_norm;   // forward applies the final norm (logits, or a capture at n_layers)
    int lowest_stored; // blocks lowest_stored .. n_run-1 keep activations (backward's range)

    // --- activations: one backend allocation ---
    void *act_memory;
    size_t act_bytes;
    float **resid;                // [n_run + 1] host array: resid[l] [T, dim] is the input of
                                  // block l, resid[n_run] the output of the last block run
    BlockActivations *blocks;     // [n_run] host array
    float *final_ln, *final_rstd; // [T, dim], [T]  final norm output (logits / capture input)
    float *logits;                // [T, vocab]
    float *captured;              // [rows, n_capture, dim]
    float **k_cache, **v_cache;   // [n_layers] host arrays of [kv_slots, max_seq_len, kv_dim]
    float *decode_hidden;         // [kv_slots, dim]  residual rows that need logits
    // k_cache and v_cache in bf16 where the backend keeps its KV cache so
    // (be->attention_cached_bf16); the fp32 entries are NULL then, and these NULL otherwise.
    uint16_t **k_cache16, **v_cache16;
    // [T, max(dim, ffn_dim)]  the input of the next 16-bit products (ln1, ln2, h or final_ln)
    // rounded by the op that made it (be->activations16 with 16-bit matrices), else NULL. One
    // buffer: each copy is dead once its products ran.
    uint16_t *act16;

    // --- gradients of activations and backward scratch: one backend allocation ---
    void *grad_memory;
    size_t grad_bytes;
    float *captured_grad;    // [rows, n_capture, dim]
    float *dresid;           // [T, dim]  gradient of the residual stream where backward is
    float *dfinal_ln;        // [T, dim]
    float *dlogits;          // [T, vocab]
    float *token_loss;       // [T]
    float *dln;              // [T, dim]  gradient of a block's norm output (ln1 or ln2)
    float *dq, *datt;        // [T, n_heads*head_dim]
    float *dk, *dv;          // [T, n_kv_heads*head_dim]
    float *dscores;          // [T, n_heads, max_seq_len]
    float *dh, *dgate, *dup; // [T, ffn_dim]
    float *dax;              // [T, lora rank]

    // --- integer inputs: one backend allocation ---
    void *int_memory;
    size_t int_bytes;
    int *tokens, *pos; // [T]
    int *capture_rows; // [rows]  the rows of [T, dim] that captures gather
    int *targets;      // [T]
    // [4 T + kv_slots]  a decoding step's inputs, uploaded at once and packed at its own T:
    // tokens, positions, cache slots (sequences), cache rows (slot * max_seq_len + pos), then
    // the rows that need logits; laid out by llama_forward_cached.
    int *step;
    int *greedy; // [kv_slots]  argmax of each of a decoding step's logit rows

    // --- host staging: one host allocation ---
    void *host_memory;
    int *host_pos;    // [T]
    int *host_rows;   // [max(rows, kv_slots)]  capture rows, or rows that need logits
    float *host_loss; // [T]
    // generation only
    int *host_slot;     // [T]
    int *host_step;     // [4 T + kv_slots]  step's staging, packed as it
    int *host_tokens;   // [kv_slots]  the tokens a decoding step feeds
    int *host_seqs;     // [kv_slots]  the sequences it samples for
    int *host_greedy;   // [kv_slots]  greedy, on the host
    float *host_logits; // [kv_slots, vocab]
    float *host_probs;  // [vocab]  sampling scratch
    int *host_order;    // [vocab]  sampling scratch
    Rng *rngs;          // [kv_slots]  one stream per sequence

    // --- decoding steps recorded by the backend (CUDA graphs) ---
    void *step_recording; // the recorded step, or NULL
    StepKey recorded;     // the key it was recorded for
    StepKey last_step;    // the key of the last step run

    // --- the last forward ---
    bool forward_done;  // its activations are intact (backward may run)
    Lora *forward_lora; // the adapter it ran with
    int T, n_rows;      // tokens, and rows of captured
    char error[256];
};

// Writes a message for llama_workspace_error and returns -1.
int llama_workspace_fail(LlamaWorkspace *ws, const char *fmt, ...);

// Checks that ws was planned for m and for the adapter m carries (NULL when attached later
// than planned). Returns 0 or fails with a message.
int llama_workspace_check_model(LlamaWorkspace *ws, const LlamaModel *m);

// One step of KV-cache decoding (generate.c): runs tokens [T] (host memory) at positions
// ws->host_pos of sequences (cache slots) ws->host_slot through every block, writing their keys
// and values into the cache and attending through it, then computes logits [n_out, vocab] for
// the rows ws->host_rows [n_out]. Its inputs go to the device in one upload (ws->step).
void llama_forward_cached(LlamaModel *m, LlamaWorkspace *ws, const int *tokens, int T, int n_out);

#endif
