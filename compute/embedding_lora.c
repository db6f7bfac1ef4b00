#include "embedding_lora.h"

#include "fail.h"

#include <stdlib.h>
#include <string.h>

EmbeddingLora *embedding_lora_create(const LlamaModel *m, int rank, float alpha, const float *A,
                                     const float *B, const float *base, char *err, size_t err_len) {
    const LlamaConfig *cfg = &m->cfg;
    size_t vocab = (size_t)cfg->vocab_size, dim = (size_t)cfg->dim, n = vocab * dim;
    EmbeddingLora *e = calloc(1, sizeof *e);
    float *E = malloc(n * sizeof *E);
    if (e) e->A = malloc((size_t)rank * (vocab + dim) * sizeof *e->A);
    if (e && e->A) e->table = m->be->alloc(m->be, n * sizeof *e->table);
    if (!E || !e || !e->A || !e->table) {
        fail(err, err_len, "out of memory for the embedding adapter ([%zu, %zu] floats)", vocab,
             dim);
        goto fail;
    }
    e->rank = rank;
    e->alpha = alpha;
    e->scale = alpha / (float)rank; // as lora_create and PEFT compute it
    e->B = e->A + (size_t)rank * vocab;
    memcpy(e->A, A, (size_t)rank * vocab * sizeof *A);
    memcpy(e->B, B, dim * (size_t)rank * sizeof *B);
    m->be->to_host(m->be, E, m->w.embed, n * sizeof *E);
    if (base && memcmp(base, E, n * sizeof *E)) {
        fail(err, err_len,
             "the adapter carries an embedding table (embed_tokens.base_layer.weight) other "
             "than the model's: a resized or retrained embedding is not supported");
        goto fail;
    }
    for (size_t t = 0; t < vocab; t++)
        for (size_t j = 0; j < dim; j++) {
            float delta = 0; // (B A)[j][t], summed in float over k as a matmul does
            for (int k = 0; k < rank; k++)
                delta += e->A[(size_t)k * vocab + t] * e->B[j * rank + k];
            float scaled = delta * e->scale;
            E[t * dim + j] += scaled;
        }
    m->be->to_device(m->be, e->table, E, n * sizeof *E);
    free(E);
    return e;
fail:
    free(E);
    embedding_lora_free(e, m->be);
    return NULL;
}

void embedding_lora_free(EmbeddingLora *e, Backend *be) {
    if (!e) return;
    if (e->table) be->free(be, e->table);
    free(e->A);
    free(e);
}
