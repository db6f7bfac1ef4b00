// Model files and adapters into the engine; see model_load.h.
#include "model_load.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The engine's 16-bit view of parameter kind at layer, or NULL when it is stored in fp32.
static uint16_t *matrix16_view(const LlamaWeights *w, ParamKind kind, int layer) {
    if (kind == PARAM_LM_HEAD) return w->lm_head16;
    if (kind >= PARAM_PROJ_FIRST && kind < PARAM_PROJ_FIRST + PROJ_COUNT)
        return w->blocks[layer].proj16[kind - PARAM_PROJ_FIRST];
    return NULL;
}

// The engine's fp32 view of parameter kind at layer (whole-model kinds ignore layer), or NULL
// when it is stored in 16 bits.
static float *weight_view(const LlamaWeights *w, ParamKind kind, int layer) {
    switch (kind) {
    case PARAM_EMBED:
        return w->embed;
    case PARAM_ATTN_NORM:
        return w->blocks[layer].attn_norm;
    case PARAM_MLP_NORM:
        return w->blocks[layer].mlp_norm;
    case PARAM_FINAL_NORM:
        return w->final_norm;
    case PARAM_LM_HEAD:
        return w->lm_head;
    default:
        if (param_is_bias(kind)) return w->blocks[layer].bias[kind - PARAM_BIAS_FIRST];
        return w->blocks[layer].proj[kind - PARAM_PROJ_FIRST];
    }
}

int model_load(LlamaModel *m, const ModelSource *src, Backend *be, MatrixType matrices, char *err,
               size_t err_len) {
    const LlamaConfig *cfg = model_source_config(src);
    const char *bad = llama_config_check(cfg);
    if (bad) {
        snprintf(err, err_len, "the model's config cannot run: %s", bad);
        return -1;
    }
    memset(m, 0, sizeof(*m));
    m->cfg = *cfg;
    m->be = be;
    // One host buffer as large as the largest tensor stages every read.
    size_t largest = 0;
    for (int k = 0; k < PARAM_COUNT; k++) {
        size_t n = param_elements(cfg, (ParamKind)k);
        if (n > largest) largest = n;
    }
    float *host = malloc(largest * sizeof(float));
    if (!host || llama_weights_alloc(&m->w, cfg, be, matrices) < 0) {
        snprintf(err, err_len, "out of memory for the model's weights");
        free(host);
        return -1;
    }
    int rc = 0;
    for (int k = 0; rc == 0 && k < PARAM_COUNT; k++) {
        if (!param_present(cfg, (ParamKind)k)) continue;
        int n_layers = param_per_layer((ParamKind)k) ? cfg->n_layers : 1;
        size_t n = param_elements(cfg, (ParamKind)k);
        for (int l = 0; rc == 0 && l < n_layers; l++) {
            rc = model_source_read(src, (ParamKind)k, l, host, err, err_len);
            uint16_t *narrow = matrix16_view(&m->w, (ParamKind)k, l);
            if (rc == 0 && narrow)
                be->matrix_to_device(be, narrow, host, n);
            else if (rc == 0)
                be->to_device(be, weight_view(&m->w, (ParamKind)k, l), host, n * sizeof(float));
        }
    }
    free(host);
    if (rc < 0) llama_free(m);
    return rc;
}

static bool same_shape(const LlamaConfig *a, const LlamaConfig *b) {
    return a->dim == b->dim && a->ffn_dim == b->ffn_dim && a->n_layers == b->n_layers &&
           a->n_heads == b->n_heads && a->n_kv_heads == b->n_kv_heads && a->head_dim == b->head_dim;
}

typedef struct {
    const LlamaWeights *w;
    // [w->n_floats + w->n_halves]: a host copy of w->memory, then w->memory16 widened to fp32
    const float *host;
} HostWeights;

static const float *host_param(void *ctx, ParamKind kind, int layer) {
    const HostWeights *h = ctx;
    const uint16_t *narrow = matrix16_view(h->w, kind, layer);
    if (narrow) return h->host + h->w->n_floats + (narrow - h->w->memory16);
    return h->host + (weight_view(h->w, kind, layer) - h->w->memory);
}

int model_save(const LlamaModel *m, const char *dir, int bos, int eos, char *err, size_t err_len) {
    float *host = malloc((m->w.n_floats + m->w.n_halves) * sizeof(float));
    if (!host) {
        snprintf(err, err_len, "%s: out of memory for a host copy of the weights", dir);
        return -1;
    }
    m->be->to_host(m->be, host, m->w.memory, m->w.n_floats * sizeof(float));
    if (m->w.memory16)
        m->be->matrix_to_host(m->be, host + m->w.n_floats, m->w.memory16, m->w.n_halves);
    HostWeights h = {&m->w, host};
    int rc = hf_write_folder(dir, &m->cfg, bos, eos, host_param, &h, err, err_len);
    free(host);
    return rc;
}

Lora *lora_from_peft(const PeftAdapter *a, const LlamaConfig *cfg, Backend *be, char *err,
                     size_t err_len) {
    if (!same_shape(&a->base, cfg)) {
        snprintf(err, err_len, "the adapter was read for a model of other dimensions");
        return NULL;
    }
    Lora *lora =
        lora_create(cfg, be, a->targets & ~PEFT_EMBED_TOKENS, a->layer_on, a->rank, a->alpha);
    if (!lora) {
        snprintf(err, err_len, "out of memory for the adapter");
        return NULL;
    }
    be->zero(be, lora->grads, lora->n_params * sizeof(float));
    for (int l = 0; l < cfg->n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!peft_A(a, l, (Projection)p)) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            size_t rank = (size_t)a->rank;
            be->to_device(be, lora_A(lora, l, (Projection)p), peft_A(a, l, (Projection)p),
                          rank * (size_t)in * sizeof(float));
            be->to_device(be, lora_B(lora, cfg, l, (Projection)p), peft_B(a, l, (Projection)p),
                          (size_t)out * rank * sizeof(float));
        }
    }
    return lora;
}

// peft_from_lora with the embedding adapter embed (may be NULL) too.
static int peft_of(PeftAdapter *a, const Lora *lora, const EmbeddingLora *embed,
                   const LlamaConfig *cfg, Backend *be, char *err, size_t err_len) {
    if (embed && (embed->rank != lora->rank || embed->alpha != lora->alpha)) {
        snprintf(err, err_len,
                 "the embedding adapter (r %d, alpha %g) and the projections' (r %d, alpha %g) "
                 "differ: one PEFT adapter holds one r and lora_alpha",
                 embed->rank, (double)embed->alpha, lora->rank, (double)lora->alpha);
        return -1;
    }
    unsigned targets = lora->targets | (embed ? PEFT_EMBED_TOKENS : 0);
    if (peft_adapter_alloc(a, cfg, targets, lora->layer_on, lora->rank, lora->alpha) < 0) {
        snprintf(err, err_len, "out of memory for the adapter");
        return -1;
    }
    if (embed) {
        memcpy(a->embed_A, embed->A, (size_t)lora->rank * (size_t)cfg->vocab_size * sizeof(float));
        memcpy(a->embed_B, embed->B, (size_t)cfg->dim * (size_t)lora->rank * sizeof(float));
    }
    for (int l = 0; l < cfg->n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, l, (Projection)p)) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            size_t rank = (size_t)lora->rank;
            be->to_host(be, peft_A(a, l, (Projection)p), lora_A(lora, l, (Projection)p),
                        rank * (size_t)in * sizeof(float));
            be->to_host(be, peft_B(a, l, (Projection)p), lora_B(lora, cfg, l, (Projection)p),
                        (size_t)out * rank * sizeof(float));
        }
    }
    return 0;
}

int peft_from_lora(PeftAdapter *a, const Lora *lora, const LlamaConfig *cfg, Backend *be, char *err,
                   size_t err_len) {
    return peft_of(a, lora, NULL, cfg, be, err, err_len);
}

int peft_from_model(PeftAdapter *a, const LlamaModel *m, char *err, size_t err_len) {
    return peft_of(a, m->lora, m->embed_lora, &m->cfg, m->be, err, err_len);
}

int model_attach_peft(LlamaModel *m, const PeftAdapter *a, char *err, size_t err_len) {
    if (!(m->lora = lora_from_peft(a, &m->cfg, m->be, err, err_len))) return -1;
    if (a->embed_A &&
        !(m->embed_lora = embedding_lora_create(m, a->rank, a->alpha, a->embed_A, a->embed_B,
                                                a->embed_base, err, err_len)))
        return -1;
    return 0;
}
