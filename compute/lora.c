#include "lora.h"

#include "rng.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

Lora *lora_create(const LlamaConfig *cfg, Backend *be, unsigned targets, const bool *layer_on,
                  int rank, float alpha) {
    Lora *lora = calloc(1, sizeof(Lora));
    if (!lora) return NULL;
    lora->rank = rank;
    lora->alpha = alpha;
    lora->scale = alpha / (float)rank;
    lora->targets = targets;
    lora->n_layers = cfg->n_layers;
    lora->lowest_layer = cfg->n_layers;
    lora->layer_on = calloc((size_t)cfg->n_layers, sizeof(bool));
    lora->offset = malloc((size_t)cfg->n_layers * PROJ_COUNT * sizeof(size_t));
    if (!lora->layer_on || !lora->offset) goto fail;

    // Layer-major, projection-minor: A [rank, in] then B [out, rank] of each adapted pair.
    size_t n = 0;
    for (int l = 0; l < cfg->n_layers; l++) {
        lora->layer_on[l] = layer_on[l];
        if (layer_on[l] && targets && l < lora->lowest_layer) lora->lowest_layer = l;
        for (int p = 0; p < PROJ_COUNT; p++) {
            size_t *off = &lora->offset[l * PROJ_COUNT + p];
            *off = LORA_NOT_ADAPTED;
            if (!layer_on[l] || !(targets & (1u << p))) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            *off = n;
            n += (size_t)rank * (size_t)(in + out);
        }
    }
    lora->n_params = n;
    if (n) {
        // One allocation holds params then grads, so the adapter is one tensor group.
        lora->params = be->alloc(be, 2 * n * sizeof(float));
        if (!lora->params) goto fail;
        lora->grads = lora->params + n;
    }
    return lora;
fail:
    lora_free(lora, be);
    return NULL;
}

void lora_free(Lora *lora, Backend *be) {
    if (!lora) return;
    if (lora->params) be->free(be, lora->params);
    free(lora->layer_on);
    free(lora->offset);
    free(lora);
}

int lora_init(Lora *lora, const LlamaConfig *cfg, Backend *be, unsigned long long seed) {
    if (!lora->n_params) return 0;
    float *host = calloc(lora->n_params, sizeof(float));
    if (!host) return -1;
    Rng rng;
    rng_seed(&rng, seed);
    for (int l = 0; l < cfg->n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            size_t off = lora->offset[l * PROJ_COUNT + p];
            if (off == LORA_NOT_ADAPTED) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            // PEFT: kaiming_uniform_(A, a=sqrt(5)) is U(-1/sqrt(in), 1/sqrt(in)); B stays 0.
            float bound = 1.0f / sqrtf((float)in);
            for (size_t i = 0; i < (size_t)lora->rank * (size_t)in; i++)
                host[off + i] = (2.0f * rng_uniform(&rng) - 1.0f) * bound;
        }
    }
    be->to_device(be, lora->params, host, lora->n_params * sizeof(float));
    be->zero(be, lora->grads, lora->n_params * sizeof(float));
    free(host);
    return 0;
}

float *lora_A(const Lora *lora, int layer, Projection p) {
    size_t off = lora->offset[layer * PROJ_COUNT + p];
    return off == LORA_NOT_ADAPTED ? NULL : lora->params + off;
}

float *lora_grad_A(const Lora *lora, int layer, Projection p) {
    size_t off = lora->offset[layer * PROJ_COUNT + p];
    return off == LORA_NOT_ADAPTED ? NULL : lora->grads + off;
}

static size_t a_size(const Lora *lora, const LlamaConfig *cfg, Projection p) {
    int out, in;
    projection_shape(cfg, p, &out, &in);
    return (size_t)lora->rank * (size_t)in;
}

float *lora_B(const Lora *lora, const LlamaConfig *cfg, int layer, Projection p) {
    float *A = lora_A(lora, layer, p);
    return A ? A + a_size(lora, cfg, p) : NULL;
}

float *lora_grad_B(const Lora *lora, const LlamaConfig *cfg, int layer, Projection p) {
    float *dA = lora_grad_A(lora, layer, p);
    return dA ? dA + a_size(lora, cfg, p) : NULL;
}

int lora_parse_targets(const char *list, unsigned *targets, char *bad, size_t bad_len) {
    *targets = 0;
    if (!strcmp(list, "all")) {
        *targets = (1u << PROJ_COUNT) - 1;
        return 0;
    }
    const char *s = list;
    while (*s) {
        while (*s == ' ' || *s == ',') s++;
        if (!*s) break;
        size_t len = strcspn(s, ", ");
        int p = projection_from_name(s, len);
        if (p < 0) {
            if (bad_len) snprintf(bad, bad_len, "%.*s", (int)len, s);
            return -1;
        }
        *targets |= 1u << p;
        s += len;
    }
    if (!*targets) {
        if (bad_len) snprintf(bad, bad_len, "(empty list)");
        return -1;
    }
    return 0;
}
