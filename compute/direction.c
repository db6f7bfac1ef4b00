#include "direction.h"

#include "fail.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

int direction_of_classes(const float *reps, int n, size_t stride, int dim, const int *labels,
                         const bool *use, float *r, char *err, size_t err_len) {
    double *sum = calloc(2 * (size_t)dim, sizeof *sum);
    if (!sum) return fail(err, err_len, "out of memory");
    int count[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (!use[i] || (labels[i] != 0 && labels[i] != 1)) continue;
        count[labels[i]]++;
        const float *x = reps + (size_t)i * stride;
        for (int j = 0; j < dim; j++) sum[(size_t)labels[i] * dim + j] += x[j];
    }
    if (!count[0] || !count[1]) {
        free(sum);
        return fail(err, err_len,
                    "the direction needs rows of both classes (%d of class 0, %d of "
                    "class 1)",
                    count[0], count[1]);
    }
    double norm2 = 0;
    for (int j = 0; j < dim; j++) {
        sum[j] = sum[dim + j] / count[1] - sum[j] / count[0];
        norm2 += sum[j] * sum[j];
    }
    if (!(norm2 > 0) || !isfinite(norm2)) {
        free(sum);
        return fail(err, err_len, "the class means coincide: no direction between them");
    }
    double inv = 1 / sqrt(norm2);
    for (int j = 0; j < dim; j++) r[j] = (float)(sum[j] * inv);
    free(sum);
    return 0;
}

void direction_project(const float *reps, int n, size_t stride, int dim, const float *r,
                       float *proj) {
    for (int i = 0; i < n; i++) {
        const float *x = reps + (size_t)i * stride;
        double dot = 0;
        for (int j = 0; j < dim; j++) dot += (double)x[j] * r[j];
        proj[i] = (float)dot;
    }
}

double direction_threshold_accuracy(const float *proj, int n, const int *labels, const bool *fit,
                                    const bool *use) {
    double mean[2] = {0, 0};
    int count[2] = {0, 0};
    for (int i = 0; i < n; i++)
        if (fit[i] && (labels[i] == 0 || labels[i] == 1)) {
            mean[labels[i]] += proj[i];
            count[labels[i]]++;
        }
    if (!count[0] || !count[1]) return NAN;
    mean[0] /= count[0];
    mean[1] /= count[1];
    double mid = (mean[0] + mean[1]) / 2;
    int side1 = mean[1] > mean[0]; // class 1 lies above the midpoint
    int right = 0, total = 0;
    for (int i = 0; i < n; i++)
        if (use[i] && (labels[i] == 0 || labels[i] == 1)) {
            total++;
            right += ((proj[i] > mid) == side1) == (labels[i] == 1);
        }
    return total ? (double)right / total : NAN;
}

Lora *direction_lora_create(const LlamaModel *m) {
    bool *every = malloc((size_t)m->cfg.n_layers * sizeof *every);
    if (!every) return NULL;
    for (int l = 0; l < m->cfg.n_layers; l++) every[l] = true;
    Lora *lora = lora_create(&m->cfg, m->be, 1u << PROJ_O | 1u << PROJ_DOWN, every, 1, 1.0f);
    free(every);
    return lora;
}

// W [out, in] of block l's projection p on the host, as the forward uses it.
static void matrix_to_host(const LlamaModel *m, int l, Projection p, float *W, size_t n) {
    const LlamaBlockWeights *b = &m->w.blocks[l];
    if (b->proj[p])
        m->be->to_host(m->be, W, b->proj[p], n * sizeof(float));
    else
        m->be->matrix_to_host(m->be, W, b->proj16[p], n);
}

int direction_lora_set(Lora *lora, const LlamaModel *m, const float *r, char *err, size_t err_len) {
    const LlamaConfig *cfg = &m->cfg;
    if (lora->rank != 1 || lora->scale != 1.0f)
        return fail(err, err_len, "the ablation's LoRA must have rank 1 and scale 1");
    int widest = cfg->dim > cfg->ffn_dim ? cfg->dim : cfg->ffn_dim;
    if (cfg->n_heads * cfg->head_dim > widest) widest = cfg->n_heads * cfg->head_dim;
    float *W = malloc((size_t)cfg->dim * (size_t)widest * sizeof *W);
    float *A = malloc((size_t)widest * sizeof *A), *B = malloc((size_t)cfg->dim * sizeof *B);
    if (!W || !A || !B) {
        free(W);
        free(A);
        free(B);
        return fail(err, err_len, "out of memory");
    }
    for (int j = 0; j < cfg->dim; j++) B[j] = -r[j];
    const Projection writers[] = {PROJ_O, PROJ_DOWN};
    int rc = 0;
    for (int l = 0; l < cfg->n_layers && rc == 0; l++)
        for (int k = 0; k < 2 && rc == 0; k++) {
            Projection p = writers[k];
            int out, in;
            projection_shape(cfg, p, &out, &in);
            float *dA = lora_A(lora, l, p), *dB = lora_B(lora, cfg, l, p);
            if (!dA || !dB || out != cfg->dim) {
                rc = fail(err, err_len, "block %d's %s has no rank-1 adapter", l,
                          projection_name(p));
                break;
            }
            matrix_to_host(m, l, p, W, (size_t)out * (size_t)in);
            for (int j = 0; j < in; j++) { // A = r^T W, in double
                double dot = 0;
                for (int i = 0; i < out; i++) dot += (double)r[i] * W[(size_t)i * in + j];
                A[j] = (float)dot;
            }
            m->be->to_device(m->be, dA, A, (size_t)in * sizeof *A);
            m->be->to_device(m->be, dB, B, (size_t)out * sizeof *B);
        }
    free(W);
    free(A);
    free(B);
    return rc;
}

EmbeddingLora *direction_embedding_lora(const LlamaModel *m, const float *r, char *err,
                                        size_t err_len) {
    size_t vocab = (size_t)m->cfg.vocab_size, dim = (size_t)m->cfg.dim;
    float *E = malloc(vocab * dim * sizeof *E), *A = malloc(vocab * sizeof *A),
          *B = malloc(dim * sizeof *B);
    EmbeddingLora *e = NULL;
    if (!E || !A || !B) {
        fail(err, err_len, "out of memory for the embedding's ablation");
    } else {
        m->be->to_host(m->be, E, m->w.embed, vocab * dim * sizeof *E);
        for (size_t t = 0; t < vocab; t++) { // A = (E r)^T, in double
            double dot = 0;
            for (size_t j = 0; j < dim; j++) dot += (double)E[t * dim + j] * r[j];
            A[t] = (float)dot;
        }
        for (size_t j = 0; j < dim; j++) B[j] = -r[j];
        free(E); // before embedding_lora_create takes its own copy
        E = NULL;
        e = embedding_lora_create(m, 1, 1.0f, A, B, NULL, err, err_len);
    }
    free(E);
    free(A);
    free(B);
    return e;
}
