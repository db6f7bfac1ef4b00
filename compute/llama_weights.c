// Model config, the parameter layout (one allocation, views into it), random initialisation,
// and the model's bookkeeping (layer indices, FLOP counts).
#include "llama.h"

#include "rng.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

static size_t projection_size(const LlamaConfig *cfg, Projection p) {
    int out, in;
    projection_shape(cfg, p, &out, &in);
    return (size_t)out * (size_t)in;
}

const char *llama_config_check(const LlamaConfig *cfg) {
    if (cfg->vocab_size <= 0) return "vocab_size must be positive";
    if (cfg->dim <= 0) return "hidden_size must be positive";
    if (cfg->ffn_dim <= 0) return "intermediate_size must be positive";
    if (cfg->n_layers <= 0) return "num_hidden_layers must be positive";
    if (cfg->n_heads <= 0) return "num_attention_heads must be positive";
    if (cfg->n_kv_heads <= 0) return "num_key_value_heads must be positive";
    if (cfg->n_heads % cfg->n_kv_heads != 0)
        return "num_attention_heads must be a multiple of num_key_value_heads";
    if (cfg->head_dim <= 0 || cfg->head_dim % 2 != 0)
        return "head_dim must be positive and even (rotary embeddings rotate pairs)";
    if (cfg->max_seq_len <= 0) return "max_position_embeddings must be positive";
    if (!(cfg->rms_eps > 0) || !isfinite(cfg->rms_eps))
        return "rms_norm_eps must be positive and finite";
    if (!(cfg->rope_theta > 0) || !isfinite(cfg->rope_theta))
        return "rope_theta must be positive and finite";
    return NULL;
}

// --- parameter layout ------------------------------------------------------------------------

// The matrices of a block (the seven projections) and of an untied LM head.
static size_t block_matrix_size(const LlamaConfig *cfg) {
    size_t n = 0;
    for (int p = 0; p < PROJ_COUNT; p++) n += projection_size(cfg, (Projection)p);
    return n;
}

// The biases of a block (none unless qkv_bias).
static size_t block_bias_size(const LlamaConfig *cfg) {
    size_t n = 0;
    for (int p = 0; p < PROJ_COUNT; p++) {
        int out, in;
        projection_shape(cfg, (Projection)p, &out, &in);
        if (projection_has_bias(cfg, (Projection)p)) n += (size_t)out;
    }
    return n;
}

// Layout of the fp32 allocation: embed, per block attn_norm, the seven projections (fp32
// matrices only), their biases and mlp_norm, then final_norm, then lm_head (untied fp32 only).
// The 16-bit allocation holds the blocks' projections in the same order, then an untied
// lm_head.
static void weight_sizes(const LlamaConfig *cfg, bool matrices16, size_t *n_floats,
                         size_t *n_halves) {
    size_t table = (size_t)cfg->vocab_size * (size_t)cfg->dim;
    size_t matrices =
        (size_t)cfg->n_layers * block_matrix_size(cfg) + (cfg->tie_embeddings ? 0 : table);
    size_t per_block = 2 * (size_t)cfg->dim + block_bias_size(cfg);
    *n_floats =
        table + (size_t)cfg->n_layers * per_block + (size_t)cfg->dim + (matrices16 ? 0 : matrices);
    *n_halves = matrices16 ? matrices : 0;
}

static float *take(float **cursor, size_t n) {
    float *view = *cursor;
    *cursor += n;
    return view;
}

static uint16_t *take16(uint16_t **cursor, size_t n) {
    uint16_t *view = *cursor;
    *cursor += n;
    return view;
}

int llama_weights_alloc(LlamaWeights *w, const LlamaConfig *cfg, Backend *be, MatrixType matrices) {
    assert(llama_config_check(cfg) == NULL);
    assert(matrices == MATRIX_F32 || matrices == be->matrix_type);
    memset(w, 0, sizeof *w);
    bool narrow = matrices != MATRIX_F32;
    w->matrices = matrices;
    weight_sizes(cfg, narrow, &w->n_floats, &w->n_halves);
    w->blocks = calloc((size_t)cfg->n_layers, sizeof *w->blocks);
    w->memory = be->alloc(be, w->n_floats * sizeof(float));
    if (narrow) w->memory16 = be->alloc(be, w->n_halves * sizeof(uint16_t));
    if (!w->blocks || !w->memory || (narrow && !w->memory16)) {
        llama_weights_free(w, be);
        return -1;
    }
    size_t table = (size_t)cfg->vocab_size * (size_t)cfg->dim;
    float *cursor = w->memory;
    uint16_t *cursor16 = w->memory16;
    w->embed = take(&cursor, table);
    for (int l = 0; l < cfg->n_layers; l++) {
        LlamaBlockWeights *b = &w->blocks[l];
        b->attn_norm = take(&cursor, (size_t)cfg->dim);
        for (int p = 0; p < PROJ_COUNT; p++) {
            size_t n = projection_size(cfg, (Projection)p);
            if (narrow)
                b->proj16[p] = take16(&cursor16, n);
            else
                b->proj[p] = take(&cursor, n);
        }
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            if (projection_has_bias(cfg, (Projection)p)) b->bias[p] = take(&cursor, (size_t)out);
        }
        b->mlp_norm = take(&cursor, (size_t)cfg->dim);
    }
    w->final_norm = take(&cursor, (size_t)cfg->dim);
    if (cfg->tie_embeddings)
        w->lm_head = w->embed;
    else if (narrow)
        w->lm_head16 = take16(&cursor16, table);
    else
        w->lm_head = take(&cursor, table);
    assert((size_t)(cursor - w->memory) == w->n_floats);
    assert((size_t)(cursor16 - w->memory16) == w->n_halves);
    return 0;
}

size_t llama_weights_bytes(const LlamaWeights *w) {
    return w->n_floats * sizeof(float) + w->n_halves * sizeof(uint16_t);
}

void llama_weights_free(LlamaWeights *w, Backend *be) {
    if (w->memory) be->free(be, w->memory);
    if (w->memory16) be->free(be, w->memory16);
    free(w->blocks);
    memset(w, 0, sizeof *w);
}

// --- random initialisation -------------------------------------------------------------------

// Values are generated on the host in chunks of this many floats, then uploaded.
#define FILL_CHUNK 4096

// dst[n] (fp32) or dst16[n] (16-bit, the other NULL) = std * N(0,1) from rng, or 1 when std is
// 0 (a norm's weight). The same seed gives the same values either way, before rounding.
static void fill(Backend *be, float *dst, uint16_t *dst16, size_t n, float std, Rng *rng) {
    float chunk[FILL_CHUNK];
    for (size_t done = 0; done < n; done += FILL_CHUNK) {
        size_t count = n - done < FILL_CHUNK ? n - done : FILL_CHUNK;
        for (size_t i = 0; i < count; i++) chunk[i] = std ? std * rng_normal(rng) : 1.0f;
        if (dst16)
            be->matrix_to_device(be, dst16 + done, chunk, count);
        else
            be->to_device(be, dst + done, chunk, count * sizeof(float));
    }
}

void llama_weights_init_random(LlamaWeights *w, const LlamaConfig *cfg, Backend *be, float init_std,
                               unsigned long long seed) {
    Rng rng;
    rng_seed(&rng, seed);
    size_t table = (size_t)cfg->vocab_size * (size_t)cfg->dim;
    fill(be, w->embed, NULL, table, init_std, &rng);
    for (int l = 0; l < cfg->n_layers; l++) {
        LlamaBlockWeights *b = &w->blocks[l];
        fill(be, b->attn_norm, NULL, (size_t)cfg->dim, 0, &rng);
        for (int p = 0; p < PROJ_COUNT; p++)
            fill(be, b->proj[p], b->proj16[p], projection_size(cfg, (Projection)p), init_std, &rng);
        fill(be, b->mlp_norm, NULL, (size_t)cfg->dim, 0, &rng);
        for (int p = 0; p < PROJ_COUNT; p++) {
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            if (b->bias[p]) fill(be, b->bias[p], NULL, (size_t)out, init_std, &rng);
        }
    }
    fill(be, w->final_norm, NULL, (size_t)cfg->dim, 0, &rng);
    if (!cfg->tie_embeddings) fill(be, w->lm_head, w->lm_head16, table, init_std, &rng);
}

// --- the model -------------------------------------------------------------------------------

int llama_alloc_grads(LlamaModel *m) {
    if (m->grad.memory) return 0;
    return llama_weights_alloc(&m->grad, &m->cfg, m->be, MATRIX_F32);
}

void llama_free(LlamaModel *m) {
    llama_weights_free(&m->w, m->be);
    llama_weights_free(&m->grad, m->be);
}

int llama_resolve_layer(const LlamaConfig *cfg, int index) {
    int n = cfg->n_layers;
    if (index < -(n + 1) || index > n) return -1;
    return index < 0 ? n + 1 + index : index;
}

double llama_forward_flops(const LlamaConfig *cfg, const TokenBatch *batch, int n_blocks,
                           bool lm_head) {
    double tokens = 0, attention_pairs = 0; // (query, key) pairs over all causal rows
    for (int s = 0; s < batch->n_seqs; s++) {
        double len = batch->seq_len[s];
        tokens += len;
        attention_pairs += len * (len + 1) / 2;
    }
    double projections = 0;
    for (int p = 0; p < PROJ_COUNT; p++) projections += (double)projection_size(cfg, p);
    // Per pair and query head: a score (hd multiply-adds) and a weighted value (hd more).
    double block = 2 * tokens * projections +
                   4 * attention_pairs * (double)cfg->n_heads * (double)cfg->head_dim;
    double head = lm_head ? 2 * tokens * (double)cfg->vocab_size * (double)cfg->dim : 0;
    return n_blocks * block + head;
}
