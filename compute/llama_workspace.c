// Planning and allocating the workspace: which blocks forward runs, which keep activations for
// backward, and one allocation per group of buffers (activations, their gradients, integer
// inputs, host staging), so that forward, backward and generation never allocate.
#include "llama_workspace.h"

#include "lora.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int llama_workspace_fail(LlamaWorkspace *ws, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    vsnprintf(ws->error, sizeof ws->error, fmt, args);
    va_end(args);
    return -1;
}

int llama_workspace_check_model(LlamaWorkspace *ws, const LlamaModel *m) {
    if (m != ws->model) return llama_workspace_fail(ws, "the workspace belongs to another model");
    if (m->lora && m->lora != ws->lora)
        return llama_workspace_fail(ws, "the model's LoRA adapter was attached after the "
                                        "workspace was planned; plan a new workspace");
    return 0;
}

// --- the plan --------------------------------------------------------------------------------

// Resolves the plan into the range of blocks forward runs and the range backward visits.
static int resolve_plan(LlamaWorkspace *ws) {
    const WorkspacePlan *plan = &ws->plan;
    const LlamaModel *m = ws->model;
    int n = m->cfg.n_layers;
    if (plan->max_tokens < 1 || plan->max_seqs < 1 || plan->max_seq_len < 1)
        return llama_workspace_fail(ws, "max_tokens, max_seqs and max_seq_len must be positive");
    if (plan->kv_slots < 0) return llama_workspace_fail(ws, "kv_slots must not be negative");
    const LlamaOutputs *out = &plan->outputs;
    if (out->n_capture < 0 || out->n_capture > LLAMA_MAX_CAPTURE)
        return llama_workspace_fail(ws, "n_capture must be between 0 and %d", LLAMA_MAX_CAPTURE);
    if (out->capture_at != CAPTURE_LAST_TOKEN && out->capture_at != CAPTURE_ALL_TOKENS)
        return llama_workspace_fail(ws, "capture_at must be last token or all tokens");

    // Hidden state i < n is the input of block i: blocks 0..i-1 make it. The last one and the
    // logits come after the final norm, behind every block.
    ws->n_run = out->logits ? n : 0;
    ws->final_norm = out->logits;
    for (int c = 0; c < out->n_capture; c++) {
        int i = llama_resolve_layer(&m->cfg, out->layers[c]);
        if (i < 0)
            return llama_workspace_fail(ws,
                                        "captured layer %d is out of range: the model has %d "
                                        "hidden states, indices %d .. %d",
                                        out->layers[c], n + 1, -(n + 1), n);
        ws->capture_index[c] = i;
        if (i > ws->n_run) ws->n_run = i;
        if (i == n) ws->final_norm = true;
    }

    switch (plan->backward) {
    case BACKWARD_NONE:
        ws->lowest_stored = ws->n_run;
        break;
    case BACKWARD_LORA:
        if (!m->lora)
            return llama_workspace_fail(ws, "backward for LoRA needs a LoRA adapter attached to "
                                            "the model");
        if (m->lora->lowest_layer >= ws->n_run)
            return llama_workspace_fail(ws,
                                        "no output depends on a LoRA layer: the lowest adapted "
                                        "block is %d, the outputs need blocks below %d",
                                        m->lora->lowest_layer, ws->n_run);
        ws->lowest_stored = m->lora->lowest_layer;
        break;
    case BACKWARD_FULL:
        if (!m->grad.memory)
            return llama_workspace_fail(ws, "full backward needs the model's gradients "
                                            "(llama_alloc_grads)");
        if (m->w.matrices != MATRIX_F32)
            return llama_workspace_fail(ws, "full backward trains the base weights, which need "
                                            "fp32 matrices (base_weights = \"fp32\")");
        if (out->n_capture == 0 && !out->logits)
            return llama_workspace_fail(ws, "backward needs an output: logits or a capture");
        ws->lowest_stored = 0;
        break;
    default:
        return llama_workspace_fail(ws, "unknown backward mode");
    }
    return 0;
}

// --- the layout ------------------------------------------------------------------------------

// Every buffer starts on this boundary (bytes).
#define BUFFER_ALIGN 256

// Hands out consecutive buffers of one group. With a NULL base it only measures, so the same
// layout code first sizes a group and then places its buffers.
typedef struct {
    char *base;
    size_t bytes;
} Carver;

static void *carve(Carver *c, size_t count, size_t size) {
    size_t offset = c->bytes;
    c->bytes += (count * size + BUFFER_ALIGN - 1) / BUFFER_ALIGN * BUFFER_ALIGN;
    return c->base ? c->base + offset : NULL;
}

static float *floats(Carver *c, size_t count) {
    return carve(c, count, sizeof(float));
}
static int *ints(Carver *c, size_t count) {
    return carve(c, count, sizeof(int));
}

static size_t max_size(size_t a, size_t b) {
    return a > b ? a : b;
}

// One block's activation set. A stored set keeps a LoRA stash per adapted projection; the
// shared scratch set needs one, since each stash is dead once its projection is done.
static BlockActivations carve_block(LlamaWorkspace *ws, Carver *act, int layer, bool stored) {
    const LlamaConfig *cfg = &ws->model->cfg;
    size_t T = (size_t)ws->plan.max_tokens, d = (size_t)cfg->dim, f = (size_t)cfg->ffn_dim;
    size_t q_dim = (size_t)cfg->n_heads * cfg->head_dim;
    size_t kv_dim = (size_t)cfg->n_kv_heads * cfg->head_dim;
    BlockActivations b = {0};
    b.ln1 = floats(act, T * d);
    b.rstd1 = floats(act, T);
    b.q = floats(act, T * q_dim);
    b.k = floats(act, T * kv_dim);
    b.v = floats(act, T * kv_dim);
    b.probs = floats(act, T * (size_t)cfg->n_heads * (size_t)ws->plan.max_seq_len);
    b.att = floats(act, T * q_dim);
    b.x_mid = floats(act, T * d);
    b.ln2 = floats(act, T * d);
    b.rstd2 = floats(act, T);
    b.gate = floats(act, T * f);
    b.up = floats(act, T * f);
    b.h = floats(act, T * f);
    const Lora *lora = ws->lora;
    if (!lora) return b;
    size_t stash = T * (size_t)lora->rank;
    if (!stored) {
        float *scratch = floats(act, stash);
        for (int p = 0; p < PROJ_COUNT; p++) b.ax[p] = scratch;
        return b;
    }
    for (int p = 0; p < PROJ_COUNT; p++)
        if (lora->offset[layer * PROJ_COUNT + p] != LORA_NOT_ADAPTED) b.ax[p] = floats(act, stash);
    return b;
}

static void lay_out(LlamaWorkspace *ws, Carver *act, Carver *grad, Carver *integer, Carver *host) {
    const LlamaConfig *cfg = &ws->model->cfg;
    const WorkspacePlan *plan = &ws->plan;
    const LlamaOutputs *out = &plan->outputs;
    size_t T = (size_t)plan->max_tokens, d = (size_t)cfg->dim, f = (size_t)cfg->ffn_dim;
    size_t V = (size_t)cfg->vocab_size, L = (size_t)plan->max_seq_len;
    size_t q_dim = (size_t)cfg->n_heads * cfg->head_dim;
    size_t kv_dim = (size_t)cfg->n_kv_heads * cfg->head_dim;
    size_t rows = out->capture_at == CAPTURE_LAST_TOKEN ? (size_t)plan->max_seqs : T;
    size_t captured = rows * (size_t)out->n_capture * d;
    size_t slots = (size_t)plan->kv_slots;
    size_t rank = ws->lora ? (size_t)ws->lora->rank : 0;
    bool backward = plan->backward != BACKWARD_NONE;

    // Blocks below lowest_stored run in place on one residual buffer and one activation set.
    for (int l = 0; l <= ws->n_run; l++)
        ws->resid[l] = l > 0 && l < ws->lowest_stored ? ws->resid[0] : floats(act, T * d);
    for (int l = 0; l < ws->n_run; l++)
        ws->blocks[l] = l > 0 && l < ws->lowest_stored
                            ? ws->blocks[0]
                            : carve_block(ws, act, l, l >= ws->lowest_stored);
    if (ws->final_norm) {
        ws->final_ln = floats(act, T * d);
        ws->final_rstd = floats(act, T);
    }
    if (out->logits) ws->logits = floats(act, T * V);
    if (captured) ws->captured = floats(act, captured);
    if (slots) {
        bool bf16_cache = ws->model->be->attention_cached_bf16 != NULL;
        for (int l = 0; l < cfg->n_layers; l++) {
            if (bf16_cache) {
                ws->k_cache16[l] = carve(act, slots * L * kv_dim, sizeof(uint16_t));
                ws->v_cache16[l] = carve(act, slots * L * kv_dim, sizeof(uint16_t));
            } else {
                ws->k_cache[l] = floats(act, slots * L * kv_dim);
                ws->v_cache[l] = floats(act, slots * L * kv_dim);
            }
        }
        ws->decode_hidden = floats(act, slots * d);
    }
    if (ws->model->be->activations16 && ws->model->w.matrices != MATRIX_F32)
        ws->act16 = carve(act, T * max_size(d, f), sizeof(uint16_t));

    if (backward) {
        if (captured) ws->captured_grad = floats(grad, captured);
        ws->dresid = floats(grad, T * d);
        if (ws->final_norm) ws->dfinal_ln = floats(grad, T * d);
        if (out->logits) {
            ws->dlogits = floats(grad, T * V);
            ws->token_loss = floats(grad, T);
        }
        ws->dln = floats(grad, T * d);
        ws->dq = floats(grad, T * q_dim);
        ws->datt = floats(grad, T * q_dim);
        ws->dk = floats(grad, T * kv_dim);
        ws->dv = floats(grad, T * kv_dim);
        ws->dscores = floats(grad, T * (size_t)cfg->n_heads * L);
        ws->dh = floats(grad, T * f);
        ws->dgate = floats(grad, T * f);
        ws->dup = floats(grad, T * f);
        if (rank) ws->dax = floats(grad, T * rank);
    }

    ws->tokens = ints(integer, T);
    ws->pos = ints(integer, T);
    if (captured) ws->capture_rows = ints(integer, rows);
    if (backward && out->logits) ws->targets = ints(integer, T);
    if (slots) {
        ws->step = ints(integer, 4 * T + slots);
        ws->greedy = ints(integer, slots);
    }

    ws->host_pos = ints(host, T);
    ws->host_rows = ints(host, max_size(rows, slots));
    if (backward && out->logits) ws->host_loss = floats(host, T);
    if (slots) {
        ws->host_slot = ints(host, T);
        ws->host_step = ints(host, 4 * T + slots);
        ws->host_tokens = ints(host, slots);
        ws->host_seqs = ints(host, slots);
        ws->host_greedy = ints(host, slots);
        ws->host_logits = floats(host, slots * V);
        ws->host_probs = floats(host, V);
        ws->host_order = ints(host, V);
        ws->rngs = carve(host, slots, sizeof(Rng));
    }
}

// Sizes the backend's scratch for the 16-bit products this workspace runs, so that none grows
// inside a step: up to max_tokens rows; inputs as wide as a projection's input, or in backward
// its output (dx = dy W), the LM head's vocabulary included where it is 16-bit; fused outputs
// of q|k|v or gate|up.
static void reserve_matrix_scratch(LlamaWorkspace *ws) {
    const LlamaModel *m = ws->model;
    const LlamaConfig *cfg = &m->cfg;
    Backend *be = m->be;
    if (!be->reserve_matrix_scratch || m->w.matrices == MATRIX_F32) return;
    size_t q_dim = (size_t)cfg->n_heads * cfg->head_dim;
    size_t kv_dim = (size_t)cfg->n_kv_heads * cfg->head_dim;
    size_t d = (size_t)cfg->dim, f = (size_t)cfg->ffn_dim;
    size_t width_in = max_size(max_size(d, f), q_dim);
    if (ws->plan.backward != BACKWARD_NONE && ws->plan.outputs.logits && m->w.lm_head16)
        width_in = max_size(width_in, (size_t)cfg->vocab_size);
    size_t width_out = max_size(q_dim + 2 * kv_dim, 2 * f);
    be->reserve_matrix_scratch(be, ws->plan.max_tokens, (int)width_in, (int)width_out);
}

// Sizes every group, allocates each once, and places the buffers.
static int allocate(LlamaWorkspace *ws) {
    Backend *be = ws->model->be;
    int n_layers = ws->model->cfg.n_layers;
    ws->resid = calloc((size_t)ws->n_run + 1, sizeof *ws->resid);
    ws->blocks = calloc((size_t)ws->n_run + 1, sizeof *ws->blocks); // + 1: never calloc(0)
    ws->k_cache = calloc((size_t)n_layers, sizeof *ws->k_cache);
    ws->v_cache = calloc((size_t)n_layers, sizeof *ws->v_cache);
    ws->k_cache16 = calloc((size_t)n_layers, sizeof *ws->k_cache16);
    ws->v_cache16 = calloc((size_t)n_layers, sizeof *ws->v_cache16);
    if (!ws->resid || !ws->blocks || !ws->k_cache || !ws->v_cache || !ws->k_cache16 ||
        !ws->v_cache16)
        return llama_workspace_fail(ws, "out of host memory");

    Carver act = {0}, grad = {0}, integer = {0}, host = {0};
    lay_out(ws, &act, &grad, &integer, &host);
    ws->act_bytes = act.bytes;
    ws->grad_bytes = grad.bytes;
    ws->int_bytes = integer.bytes;
    ws->act_memory = be->alloc(be, act.bytes);
    ws->grad_memory = grad.bytes ? be->alloc(be, grad.bytes) : NULL;
    ws->int_memory = be->alloc(be, integer.bytes);
    ws->host_memory = malloc(host.bytes);
    if (!ws->act_memory || (grad.bytes && !ws->grad_memory) || !ws->int_memory || !ws->host_memory)
        return llama_workspace_fail(ws, "out of memory: the workspace needs %.1f MiB",
                                    (double)(act.bytes + grad.bytes + integer.bytes) / 1048576);
    act.bytes = grad.bytes = integer.bytes = host.bytes = 0;
    act.base = ws->act_memory;
    grad.base = ws->grad_memory;
    integer.base = ws->int_memory;
    host.base = ws->host_memory;
    lay_out(ws, &act, &grad, &integer, &host);
    reserve_matrix_scratch(ws);
    return 0;
}

LlamaWorkspace *llama_workspace_create(LlamaModel *m, const WorkspacePlan *plan, char *err,
                                       size_t err_len) {
    LlamaWorkspace *ws = calloc(1, sizeof *ws);
    if (!ws) {
        snprintf(err, err_len, "out of host memory");
        return NULL;
    }
    ws->model = m;
    ws->lora = m->lora;
    ws->plan = *plan;
    if (resolve_plan(ws) != 0 || allocate(ws) != 0) {
        snprintf(err, err_len, "%s", ws->error);
        llama_workspace_free(ws);
        return NULL;
    }
    return ws;
}

void llama_workspace_free(LlamaWorkspace *ws) {
    if (!ws) return;
    Backend *be = ws->model->be;
    if (ws->step_recording) be->free_recording(be, ws->step_recording);
    if (ws->act_memory) be->free(be, ws->act_memory);
    if (ws->grad_memory) be->free(be, ws->grad_memory);
    if (ws->int_memory) be->free(be, ws->int_memory);
    free(ws->host_memory);
    free(ws->resid);
    free(ws->blocks);
    free(ws->k_cache);
    free(ws->v_cache);
    free(ws->k_cache16);
    free(ws->v_cache16);
    free(ws);
}

size_t llama_workspace_bytes(const LlamaWorkspace *ws) {
    return ws->act_bytes + ws->grad_bytes + ws->int_bytes;
}

float *llama_captured(LlamaWorkspace *ws) {
    return ws->captured;
}
float *llama_logits(LlamaWorkspace *ws) {
    return ws->logits;
}
float *llama_captured_grad(LlamaWorkspace *ws) {
    return ws->captured_grad;
}
const char *llama_workspace_error(const LlamaWorkspace *ws) {
    return ws->error;
}
