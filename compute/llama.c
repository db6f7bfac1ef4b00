// The Llama forward and backward passes, block by block, forward and backward side by side.
//
// Residual stream: resid[l] [T, dim] is the input of block l. A block is
//   x_mid = x_in + o_proj(attention(rope(q_proj(ln1)), rope(k_proj(ln1)), v_proj(ln1)))
// (q/k/v_proj add a bias in a qkv_bias model such as Qwen2, before RoPE)
//   x_out = x_mid + down_proj(silu(gate_proj(ln2)) * up_proj(ln2))
// with ln1 = rmsnorm(x_in), ln2 = rmsnorm(x_mid). Backward carries dresid = dL/d(resid) down
// the stream, each block adding its branches' contributions in place.
#include "embedding_lora.h"
#include "linear.h"
#include "llama_workspace.h"
#include "lora.h"

#include <assert.h>
#include <string.h>

// --- projections -----------------------------------------------------------------------------

// Projection p of block layer, with its adapter when one is attached; base_grads routes the
// weight gradient to m->grad (full backward), else the base weight is frozen.
static Linear projection(const LlamaModel *m, int layer, Projection p, bool base_grads) {
    Linear lin = {0};
    projection_shape(&m->cfg, p, &lin.out, &lin.in);
    lin.W = m->w.blocks[layer].proj[p];
    lin.W16 = m->w.blocks[layer].proj16[p];
    lin.dW = base_grads ? m->grad.blocks[layer].proj[p] : NULL;
    const Lora *lora = m->lora;
    if (lora && lora_A(lora, layer, p)) {
        lin.rank = lora->rank;
        lin.scale = lora->scale;
        lin.A = lora_A(lora, layer, p);
        lin.B = lora_B(lora, &m->cfg, layer, p);
        lin.dA = lora_grad_A(lora, layer, p);
        lin.dB = lora_grad_B(lora, &m->cfg, layer, p);
    }
    return lin;
}

// The table the token lookup reads: the base embedding, or an embedding adapter merged into a
// copy of it (embedding_lora.h).
static const float *lookup_table(const LlamaModel *m) {
    return m->embed_lora ? m->embed_lora->table : m->w.embed;
}

// logits [T, vocab] = final_ln [T, dim] lm_head^T; lm_head is the embedding when tied, so its
// gradient then adds to the embedding's.
static Linear lm_head(const LlamaModel *m, bool grads) {
    Linear head = {
        .in = m->cfg.dim, .out = m->cfg.vocab_size, .W = m->w.lm_head, .W16 = m->w.lm_head16};
    head.dW = grads ? m->grad.lm_head : NULL;
    return head;
}

// The projections lin[0 .. n-1], which read the same input x [T, in]: y[i] [T, lin[i].out]
// (+)= x W_i^T with its LoRA term. 16-bit frozen matrices go to the backend as one
// gemm_matrix_parts call (they lie one after another, as llama_weights lays them out), with x16,
// x rounded by the op that made it (NULL where the backend rounds itself); the LoRA terms are
// low-rank adds after it, as in linear_forward.
static void project(Backend *be, const Linear *lin, int n, int T, const float *x,
                    const uint16_t *x16, float *const *ax, float *const *y, bool accumulate) {
    if (!lin[0].W16) {
        for (int i = 0; i < n; i++) linear_forward(be, &lin[i], T, x, ax[i], y[i], accumulate);
        return;
    }
    int N[MATRIX_PARTS];
    size_t offset = 0; // of W_i in the parts' matrix [N_0 + .. + N_{n-1}, in]
    assert(n <= MATRIX_PARTS);
    for (int i = 0; i < n; i++) {
        N[i] = lin[i].out;
        assert(lin[i].in == lin[0].in && lin[i].W16 == lin[0].W16 + offset);
        offset += (size_t)N[i] * lin[i].in;
    }
    be->gemm_matrix_parts(be, T, lin[0].in, x, x16, lin[0].W16, n, N, y, accumulate ? 1.0f : 0.0f);
    for (int i = 0; i < n; i++) linear_lora_forward(be, &lin[i], T, x, ax[i], y[i]);
}

// --- one block -------------------------------------------------------------------------------

// A decoding step's device inputs (views into ws->step), for block_forward's cached mode.
typedef struct {
    const int *tokens, *pos;  // [T]
    const int *slot, *kv_row; // [T]  cache slot of each token, and its cache row
    const int *rows;          // [n_out]  rows that need logits
} StepInputs;

// x_out [T, dim] = block(x_in [T, dim]). x_out may alias x_in (blocks backward will not visit
// run in place). step: keys and values go to the KV cache rows step->kv_row and attention
// reads the cache (generation); NULL: attention runs over the packed batch (positions ws->pos).
static void block_forward(LlamaModel *m, LlamaWorkspace *ws, int layer, int T, const float *x_in,
                          float *x_out, const StepInputs *step) {
    Backend *be = m->be;
    const LlamaConfig *cfg = &m->cfg;
    const LlamaBlockWeights *w = &m->w.blocks[layer];
    BlockActivations *a = &ws->blocks[layer];
    int d = cfg->dim, hd = cfg->head_dim, Hq = cfg->n_heads, Hkv = cfg->n_kv_heads;
    int kv_dim = Hkv * hd, L = ws->plan.max_seq_len;
    const int *pos = step ? step->pos : ws->pos;
    Linear lin[PROJ_COUNT];
    for (int p = 0; p < PROJ_COUNT; p++) lin[p] = projection(m, layer, p, false);

    // attention: q, k, v from one rounding of ln1 and one (fused) product
    be->rmsnorm_forward16(be, T, d, cfg->rms_eps, x_in, w->attn_norm, a->ln1, ws->act16, a->rstd1);
    float *qkv[3] = {a->q, a->k, a->v}; // indexed by PROJ_Q, PROJ_K, PROJ_V
    project(be, &lin[PROJ_Q], 3, T, a->ln1, ws->act16, &a->ax[PROJ_Q], qkv, false);
    for (int p = PROJ_Q; p <= PROJ_V; p++)
        if (w->bias[p]) be->bias_forward(be, T, lin[p].out, w->bias[p], qkv[p]);
    be->rope_forward(be, T, Hq, hd, cfg->rope_theta, pos, a->q);
    be->rope_forward(be, T, Hkv, hd, cfg->rope_theta, pos, a->k);
    if (step && ws->k_cache16[layer]) {
        be->kv_store_bf16(be, T, kv_dim, step->kv_row, a->k, ws->k_cache16[layer]);
        be->kv_store_bf16(be, T, kv_dim, step->kv_row, a->v, ws->v_cache16[layer]);
        be->attention_cached_bf16(be, T, Hq, Hkv, hd, L, step->slot, pos, a->q,
                                  ws->k_cache16[layer], ws->v_cache16[layer], a->att);
    } else if (step) {
        be->scatter_rows(be, T, kv_dim, step->kv_row, a->k, kv_dim, ws->k_cache[layer], kv_dim,
                         false);
        be->scatter_rows(be, T, kv_dim, step->kv_row, a->v, kv_dim, ws->v_cache[layer], kv_dim,
                         false);
        be->attention_cached(be, T, Hq, Hkv, hd, L, step->slot, pos, a->q, ws->k_cache[layer],
                             ws->v_cache[layer], a->att);
    } else {
        be->attention_forward(be, T, Hq, Hkv, hd, L, pos, a->q, a->k, a->v, a->att, a->probs);
    }
    be->copy(be, a->x_mid, x_in, (size_t)T * d * sizeof(float));
    project(be, &lin[PROJ_O], 1, T, a->att, NULL, &a->ax[PROJ_O], &a->x_mid, true);

    // MLP: gate and up from one rounding of ln2 and one (fused) product
    be->rmsnorm_forward16(be, T, d, cfg->rms_eps, a->x_mid, w->mlp_norm, a->ln2, ws->act16,
                          a->rstd2);
    float *gate_up[2] = {a->gate, a->up};
    project(be, &lin[PROJ_GATE], 2, T, a->ln2, ws->act16, &a->ax[PROJ_GATE], gate_up, false);
    be->swiglu_forward16(be, T * cfg->ffn_dim, a->gate, a->up, a->h, ws->act16);
    be->copy(be, x_out, a->x_mid, (size_t)T * d * sizeof(float));
    project(be, &lin[PROJ_DOWN], 1, T, a->h, ws->act16, &a->ax[PROJ_DOWN], &x_out, true);
}

// ws->dresid holds dL/d(x_out) of block layer; leaves dL/d(x_in) there when input_grad (the
// lowest LoRA block skips it: nothing below needs it). Accumulates LoRA gradients, and the
// block's weight gradients when full.
static void block_backward(LlamaModel *m, LlamaWorkspace *ws, int layer, int T, bool full,
                           bool input_grad) {
    Backend *be = m->be;
    const LlamaConfig *cfg = &m->cfg;
    const LlamaBlockWeights *w = &m->w.blocks[layer];
    LlamaBlockWeights *g = full ? &m->grad.blocks[layer] : NULL;
    const BlockActivations *a = &ws->blocks[layer];
    int d = cfg->dim, hd = cfg->head_dim, Hq = cfg->n_heads, Hkv = cfg->n_kv_heads;
    int L = ws->plan.max_seq_len;
    Linear lin[PROJ_COUNT];
    for (int p = 0; p < PROJ_COUNT; p++) lin[p] = projection(m, layer, p, full);

    // MLP: dresid = dL/d(x_out) is also dL/d(down_proj output)
    linear_backward(be, &lin[PROJ_DOWN], T, a->h, a->ax[PROJ_DOWN], ws->dresid, ws->dax, ws->dh,
                    false);
    be->swiglu_backward(be, T * cfg->ffn_dim, a->gate, a->up, ws->dh, ws->dgate, ws->dup);
    linear_backward(be, &lin[PROJ_GATE], T, a->ln2, a->ax[PROJ_GATE], ws->dgate, ws->dax, ws->dln,
                    false);
    linear_backward(be, &lin[PROJ_UP], T, a->ln2, a->ax[PROJ_UP], ws->dup, ws->dax, ws->dln, true);
    be->rmsnorm_backward(be, T, d, ws->dln, a->x_mid, w->mlp_norm, a->rstd2, ws->dresid,
                         g ? g->mlp_norm : NULL);

    // attention: dresid = dL/d(x_mid) is also dL/d(o_proj output)
    linear_backward(be, &lin[PROJ_O], T, a->att, a->ax[PROJ_O], ws->dresid, ws->dax, ws->datt,
                    false);
    be->attention_backward(be, T, Hq, Hkv, hd, L, ws->pos, a->q, a->k, a->v, a->probs, ws->datt,
                           ws->dscores, ws->dq, ws->dk, ws->dv);
    be->rope_backward(be, T, Hq, hd, cfg->rope_theta, ws->pos, ws->dq);
    be->rope_backward(be, T, Hkv, hd, cfg->rope_theta, ws->pos, ws->dk);
    // The biases are frozen under LoRA; only full backward (every weight trains) takes theirs.
    const float *dqkv[3] = {ws->dq, ws->dk, ws->dv};
    for (int p = PROJ_Q; g && p <= PROJ_V; p++)
        if (g->bias[p]) be->bias_backward(be, T, lin[p].out, dqkv[p], g->bias[p]);
    float *dln1 = input_grad ? ws->dln : NULL;
    linear_backward(be, &lin[PROJ_Q], T, a->ln1, a->ax[PROJ_Q], ws->dq, ws->dax, dln1, false);
    linear_backward(be, &lin[PROJ_K], T, a->ln1, a->ax[PROJ_K], ws->dk, ws->dax, dln1, true);
    linear_backward(be, &lin[PROJ_V], T, a->ln1, a->ax[PROJ_V], ws->dv, ws->dax, dln1, true);
    if (input_grad)
        be->rmsnorm_backward(be, T, d, ws->dln, ws->resid[layer], w->attn_norm, a->rstd1,
                             ws->dresid, g ? g->attn_norm : NULL);
}

// Activation addition on hidden_states[index] (states [T, dim]), when the model steers there.
static void steer(LlamaModel *m, int index, int T, float *states) {
    if (m->steer && m->steer_layer == index)
        m->be->bias_forward(m->be, T, m->cfg.dim, m->steer, states);
}

// --- captured hidden states ------------------------------------------------------------------

static bool captures_at(const LlamaWorkspace *ws, int index) {
    for (int c = 0; c < ws->plan.outputs.n_capture; c++)
        if (ws->capture_index[c] == index) return true;
    return false;
}

// Copies the captured rows of hidden state `index` (states [T, dim]) into captured.
static void capture(LlamaModel *m, LlamaWorkspace *ws, int index, const float *states) {
    int d = m->cfg.dim, n_capture = ws->plan.outputs.n_capture;
    for (int c = 0; c < n_capture; c++)
        if (ws->capture_index[c] == index)
            m->be->gather_rows(m->be, ws->n_rows, d, ws->capture_rows, states, d,
                               ws->captured + (size_t)c * d, n_capture * d);
}

// Adds the gradients of the captured rows of hidden state `index` into dstates [T, dim].
static void inject_captured_grad(LlamaModel *m, LlamaWorkspace *ws, int index, float *dstates) {
    int d = m->cfg.dim, n_capture = ws->plan.outputs.n_capture;
    for (int c = 0; c < n_capture; c++)
        if (ws->capture_index[c] == index)
            m->be->scatter_rows(m->be, ws->n_rows, d, ws->capture_rows,
                                ws->captured_grad + (size_t)c * d, n_capture * d, dstates, d, true);
}

// --- forward ---------------------------------------------------------------------------------

// Checks the batch against the plan and uploads tokens, positions and capture rows.
static int load_batch(LlamaWorkspace *ws, const TokenBatch *batch) {
    const WorkspacePlan *plan = &ws->plan;
    Backend *be = ws->model->be;
    int vocab = ws->model->cfg.vocab_size;
    if (batch->n_seqs < 1 || batch->n_seqs > plan->max_seqs)
        return llama_workspace_fail(ws, "the batch has %d sequences, the workspace holds 1 .. %d",
                                    batch->n_seqs, plan->max_seqs);
    int T = 0;
    for (int s = 0; s < batch->n_seqs; s++) {
        int len = batch->seq_len[s];
        if (len < 1 || len > plan->max_seq_len)
            return llama_workspace_fail(ws,
                                        "sequence %d has %d tokens, the workspace holds 1 .. %d", s,
                                        len, plan->max_seq_len);
        if (len > plan->max_tokens - T)
            return llama_workspace_fail(ws,
                                        "the batch has more than %d tokens, the workspace's "
                                        "max_tokens",
                                        plan->max_tokens);
        for (int i = 0; i < len; i++) ws->host_pos[T + i] = i;
        T += len;
        if (plan->outputs.capture_at == CAPTURE_LAST_TOKEN) ws->host_rows[s] = T - 1;
    }
    for (int t = 0; t < T; t++)
        if (batch->tokens[t] < 0 || batch->tokens[t] >= vocab)
            return llama_workspace_fail(ws,
                                        "token %d of the batch is %d, outside the vocabulary "
                                        "(%d tokens)",
                                        t, batch->tokens[t], vocab);
    ws->T = T;
    ws->n_rows = plan->outputs.capture_at == CAPTURE_LAST_TOKEN ? batch->n_seqs : T;
    if (plan->outputs.capture_at == CAPTURE_ALL_TOKENS)
        for (int t = 0; t < T; t++) ws->host_rows[t] = t;
    be->to_device(be, ws->tokens, batch->tokens, (size_t)T * sizeof(int));
    be->to_device(be, ws->pos, ws->host_pos, (size_t)T * sizeof(int));
    if (ws->capture_rows)
        be->to_device(be, ws->capture_rows, ws->host_rows, (size_t)ws->n_rows * sizeof(int));
    return 0;
}

int llama_forward(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *batch) {
    return llama_forward_from(m, ws, batch, 0, NULL);
}

int llama_forward_from(LlamaModel *m, LlamaWorkspace *ws, const TokenBatch *batch, int start,
                       const float *start_resid) {
    if (llama_workspace_check_model(ws, m) != 0 || load_batch(ws, batch) != 0) return -1;
    Backend *be = m->be;
    const LlamaConfig *cfg = &m->cfg;
    int T = ws->T, d = cfg->dim, n = cfg->n_layers;
    if (start < 0 || start > ws->lowest_stored)
        return llama_workspace_fail(ws,
                                    "forward from block %d: outside 0 .. %d (the lowest block "
                                    "that backward visits)",
                                    start, ws->lowest_stored);
    for (int c = 0; c < ws->plan.outputs.n_capture; c++)
        if (ws->capture_index[c] < start)
            return llama_workspace_fail(ws, "forward from block %d cannot capture hidden state %d",
                                        start, ws->capture_index[c]);

    if (start == 0)
        be->embedding_forward(be, T, d, ws->tokens, lookup_table(m), ws->resid[0]);
    else
        be->copy(be, ws->resid[start], start_resid, (size_t)T * (size_t)d * sizeof(float));
    for (int l = start; l < ws->n_run; l++) {
        if (l > start || l == 0) steer(m, l, T, ws->resid[l]); // start_resid has it already
        capture(m, ws, l, ws->resid[l]); // before the block, which may overwrite it in place
        block_forward(m, ws, l, T, ws->resid[l], ws->resid[l + 1], NULL);
    }
    if (ws->n_run < n) {
        if (ws->n_run > start) steer(m, ws->n_run, T, ws->resid[ws->n_run]);
        capture(m, ws, ws->n_run, ws->resid[ws->n_run]);
    }
    if (ws->final_norm) {
        be->rmsnorm_forward16(be, T, d, cfg->rms_eps, ws->resid[n], m->w.final_norm, ws->final_ln,
                              ws->act16, ws->final_rstd);
        capture(m, ws, n, ws->final_ln);
    }
    if (ws->plan.outputs.logits) {
        Linear head = lm_head(m, false);
        float *ax = NULL;
        project(be, &head, 1, T, ws->final_ln, ws->act16, &ax, &ws->logits, false);
    }
    ws->forward_done = true;
    ws->forward_lora = m->lora;
    return 0;
}

// The ops of one decoding step on its uploaded inputs: every block over the KV cache, then the
// final norm and the LM head for the rows that need a next token.
static void decoding_step(LlamaModel *m, LlamaWorkspace *ws, const StepInputs *step, int T,
                          int n_out) {
    Backend *be = m->be;
    const LlamaConfig *cfg = &m->cfg;
    int d = cfg->dim, n = cfg->n_layers;
    be->embedding_forward(be, T, d, step->tokens, lookup_table(m), ws->resid[0]);
    for (int l = 0; l < n; l++) {
        steer(m, l, T, ws->resid[l]);
        block_forward(m, ws, l, T, ws->resid[l], ws->resid[l + 1], step);
    }
    be->gather_rows(be, n_out, d, step->rows, ws->resid[n], d, ws->decode_hidden, d);
    be->rmsnorm_forward16(be, n_out, d, cfg->rms_eps, ws->decode_hidden, m->w.final_norm,
                          ws->final_ln, ws->act16, ws->final_rstd);
    Linear head = lm_head(m, false);
    float *ax = NULL;
    project(be, &head, 1, n_out, ws->final_ln, ws->act16, &ax, &ws->logits, false);
}

static bool same_step(const StepKey *a, const StepKey *b) {
    return a->T == b->T && a->n_out == b->n_out && a->lora == b->lora && a->steer == b->steer &&
           a->steer_layer == b->steer_layer && a->embed_table == b->embed_table;
}

void llama_forward_cached(LlamaModel *m, LlamaWorkspace *ws, const int *tokens, int T, int n_out) {
    Backend *be = m->be;
    assert(ws->n_run == m->cfg.n_layers && ws->plan.outputs.logits);
    ws->forward_done = false; // the activations no longer match the last llama_forward

    // One upload: tokens [T] | pos [T] | slot [T] | kv_row [T] | rows [n_out], packed at T, so
    // that a step of the same T finds its inputs at the same addresses (a recording's).
    int *host = ws->host_step;
    memcpy(host, tokens, (size_t)T * sizeof(int));
    memcpy(host + T, ws->host_pos, (size_t)T * sizeof(int));
    memcpy(host + 2 * T, ws->host_slot, (size_t)T * sizeof(int));
    for (int t = 0; t < T; t++)
        host[3 * T + t] = ws->host_slot[t] * ws->plan.max_seq_len + ws->host_pos[t];
    memcpy(host + 4 * T, ws->host_rows, (size_t)n_out * sizeof(int));
    be->to_device(be, ws->step, host, (size_t)(4 * T + n_out) * sizeof(int));
    int *in = ws->step;
    StepInputs step = {in, in + T, in + 2 * T, in + 3 * T, in + 4 * T};

    // Where the backend records: a step replays the recording of its key; a step whose key
    // repeats the last one's is recorded (the first of a key runs as it is, so that whatever it
    // grows, it grows outside a recording); the rest run op by op.
    StepKey key = {T, n_out, m->lora, m->steer, m->steer_layer, lookup_table(m)};
    bool repeat = same_step(&key, &ws->last_step);
    ws->last_step = key;
    if (be->begin_recording && ws->step_recording && same_step(&key, &ws->recorded) &&
        be->run_recording(be, ws->step_recording))
        return;
    if (be->begin_recording && repeat) {
        if (ws->step_recording) be->free_recording(be, ws->step_recording);
        be->begin_recording(be);
        decoding_step(m, ws, &step, T, n_out);
        ws->step_recording = be->end_recording(be);
        ws->recorded = key;
        if (ws->step_recording && be->run_recording(be, ws->step_recording)) return;
    }
    decoding_step(m, ws, &step, T, n_out);
}

// --- backward --------------------------------------------------------------------------------

// Next-token cross-entropy, mean over non-ignored targets: its gradient into ws->dlogits and
// the loss (0 when every target is ignored). Returns whether any target counted.
static bool cross_entropy_grad(LlamaModel *m, LlamaWorkspace *ws, const int *targets,
                               double *loss) {
    Backend *be = m->be;
    int T = ws->T, counted = 0;
    for (int t = 0; t < T; t++) counted += targets[t] >= 0;
    if (loss) *loss = 0;
    if (counted == 0) return false;
    be->to_device(be, ws->targets, targets, (size_t)T * sizeof(int));
    be->cross_entropy(be, T, m->cfg.vocab_size, ws->logits, ws->targets, 1.0f / (float)counted,
                      ws->token_loss, ws->dlogits);
    if (loss) {
        be->to_host(be, ws->host_loss, ws->token_loss, (size_t)T * sizeof(float));
        double sum = 0;
        for (int t = 0; t < T; t++) sum += ws->host_loss[t];
        *loss = sum / counted;
    }
    return true;
}

// dL/d(logits) of the sources: the cross-entropy's, the caller's, or their sum (in ws->dlogits);
// NULL when no source reaches the logits.
static const float *logits_grad(LlamaModel *m, LlamaWorkspace *ws, const BackwardSources *src,
                                double *loss) {
    bool counted = src->targets && cross_entropy_grad(m, ws, src->targets, loss);
    if (!src->dlogits) return counted ? ws->dlogits : NULL;
    if (!counted) return src->dlogits;
    m->be->axpy(m->be, ws->T * m->cfg.vocab_size, 1.0f, src->dlogits, ws->dlogits);
    return ws->dlogits;
}

static int check_backward(LlamaModel *m, LlamaWorkspace *ws, const BackwardSources *src) {
    const LlamaOutputs *out = &ws->plan.outputs;
    if (llama_workspace_check_model(ws, m) != 0) return -1;
    if (ws->plan.backward == BACKWARD_NONE)
        return llama_workspace_fail(ws, "the workspace was planned without backward");
    if (!ws->forward_done)
        return llama_workspace_fail(ws, "backward needs the activations of a llama_forward "
                                        "(generation overwrites them)");
    if (ws->plan.backward == BACKWARD_LORA && !m->lora)
        return llama_workspace_fail(ws, "LoRA backward without a LoRA adapter attached");
    if (m->lora != ws->forward_lora)
        return llama_workspace_fail(ws, "the LoRA adapter changed between forward and backward");
    if (!src->from_captured && !src->targets && !src->dlogits)
        return llama_workspace_fail(ws, "backward has no source: no captured gradients, targets "
                                        "or logit gradients");
    if (src->from_captured && out->n_capture == 0)
        return llama_workspace_fail(ws, "backward from captured states, but the plan captures "
                                        "none");
    if ((src->targets || src->dlogits) && !out->logits)
        return llama_workspace_fail(ws, "backward from %s needs logits in the plan",
                                    src->targets ? "targets" : "logit gradients");
    if (src->targets)
        for (int t = 0; t < ws->T; t++)
            if (src->targets[t] >= m->cfg.vocab_size)
                return llama_workspace_fail(ws,
                                            "target %d is %d, outside the vocabulary (%d "
                                            "tokens)",
                                            t, src->targets[t], m->cfg.vocab_size);
    return 0;
}

int llama_backward(LlamaModel *m, LlamaWorkspace *ws, const BackwardSources *src, double *loss) {
    if (check_backward(m, ws, src) != 0) return -1;
    Backend *be = m->be;
    const LlamaConfig *cfg = &m->cfg;
    int T = ws->T, d = cfg->dim, n = cfg->n_layers;
    bool full = ws->plan.backward == BACKWARD_FULL;
    size_t stream_bytes = (size_t)T * d * sizeof(float);
    be->zero(be, ws->dresid, stream_bytes);

    // Above the blocks: the LM head and captures after the final norm meet at dfinal_ln.
    const float *dlogits = logits_grad(m, ws, src, loss);
    bool head = dlogits != NULL;
    if (head) {
        Linear lm = lm_head(m, full);
        linear_backward(be, &lm, T, ws->final_ln, NULL, dlogits, NULL, ws->dfinal_ln, false);
    }
    if (src->from_captured && captures_at(ws, n)) {
        if (!head) be->zero(be, ws->dfinal_ln, stream_bytes);
        inject_captured_grad(m, ws, n, ws->dfinal_ln);
        head = true;
    }
    if (head)
        be->rmsnorm_backward(be, T, d, ws->dfinal_ln, ws->resid[n], m->w.final_norm, ws->final_rstd,
                             ws->dresid, full ? m->grad.final_norm : NULL);

    // Down the blocks to the lowest one with a trainable parameter; a captured state adds its
    // gradient where it leaves the stream (state l + 1 is the output of block l).
    int lowest = ws->lowest_stored;
    for (int l = ws->n_run - 1; l >= lowest; l--) {
        if (src->from_captured && l + 1 < n) inject_captured_grad(m, ws, l + 1, ws->dresid);
        block_backward(m, ws, l, T, full, full || l > lowest);
    }
    if (full) {
        if (src->from_captured) inject_captured_grad(m, ws, 0, ws->dresid);
        be->embedding_backward(be, T, d, ws->tokens, ws->dresid, m->grad.embed);
    }
    return 0;
}
