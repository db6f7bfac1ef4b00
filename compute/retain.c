#include "retain.h"

#include "fail.h"
#include "rng.h"

#include <stdlib.h>
#include <string.h>

struct Retain {
    LlamaModel *m;
    Backend *be;
    int n, batch_size, V;
    LlamaWorkspace *ws;
    Rng rng;
    int next; // position in order of the next step's first prompt; n: a new pass starts

    // Backend memory, one allocation of device_bytes.
    void *device;
    size_t device_bytes;
    float *base_logits; // [n, V]  p_base of each prompt, as logits
    float *rows;        // [batch, V]  logits at the batch's last tokens, then their gradient
    float *ref;         // [batch, V]  base logits of the batch's prompts
    float *dlogits;     // [max_tokens, V]  the loss's gradient at every token of the batch
    float *kl;          // [batch]
    int *last_rows;     // [batch]  row of each prompt's last token in the packed batch
    int *prompts;       // [batch]  each prompt's index in the retain set (follows last_rows)

    // Host memory, one allocation.
    void *host;
    size_t *offset;    // [n]  first token of each prompt in tokens
    int *len;          // [n]
    int *tokens;       // [sum len]
    int *order;        // [n]  reading order of the current pass
    int *batch_tokens; // [max_tokens]
    int *batch_len;    // [batch]
    int *host_rows;    // [2 * batch]  last_rows then prompts, uploaded together
    int *sequential;   // [batch]  the prompts of a batch that reads the set in dataset order
    float *host_kl;    // [batch]
};

size_t retain_bytes(const Retain *r) {
    return r->device_bytes + llama_workspace_bytes(r->ws);
}

void retain_free(Retain *r) {
    if (!r) return;
    if (r->device) r->be->free(r->be, r->device);
    llama_workspace_free(r->ws);
    free(r->host);
    free(r);
}

// Places the buffers in the two allocations (host and device, each at least 8-byte aligned):
// size_t first, then floats and ints of 4 bytes.
static void lay_out(Retain *r, size_t total_tokens, size_t max_tokens) {
    size_t n = (size_t)r->n, batch = (size_t)r->batch_size, V = (size_t)r->V;
    r->base_logits = r->device;
    r->rows = r->base_logits + n * V;
    r->ref = r->rows + batch * V;
    r->dlogits = r->ref + batch * V;
    r->kl = r->dlogits + max_tokens * V;
    r->last_rows = (int *)(r->kl + batch);
    r->prompts = r->last_rows + batch;

    r->offset = r->host;
    r->len = (int *)(r->offset + n);
    r->tokens = r->len + n;
    r->order = r->tokens + total_tokens;
    r->batch_tokens = r->order + n;
    r->batch_len = r->batch_tokens + max_tokens;
    r->host_rows = r->batch_len + batch;
    r->sequential = r->host_rows + 2 * batch;
    r->host_kl = (float *)(r->sequential + batch);
}

Retain *retain_create(LlamaModel *m, int n, const int *len, const int *tokens, int batch_size,
                      uint64_t seed, char *err, size_t err_len) {
    if (n < 1 || batch_size < 1) {
        fail(err, err_len, "the retain loss needs at least one prompt and a batch size >= 1");
        return NULL;
    }
    Retain *r = calloc(1, sizeof *r);
    if (!r) {
        fail(err, err_len, "out of memory");
        return NULL;
    }
    *r = (Retain){.m = m, .be = m->be, .n = n, .V = m->cfg.vocab_size, .next = n};
    r->batch_size = batch_size < n ? batch_size : n;
    rng_seed(&r->rng, seed);
    size_t total_tokens = 0;
    int longest = 0;
    for (int i = 0; i < n; i++) {
        total_tokens += (size_t)len[i];
        if (len[i] > longest) longest = len[i];
    }
    // Room for batch_size of the longest prompt: exact at the published batch size of 1.
    int max_tokens = r->batch_size * longest;
    WorkspacePlan plan = {.max_tokens = max_tokens,
                          .max_seqs = r->batch_size,
                          .max_seq_len = longest,
                          .outputs = {.logits = true},
                          .backward = BACKWARD_LORA};
    if (!(r->ws = llama_workspace_create(m, &plan, err, err_len))) {
        retain_free(r);
        return NULL;
    }

    size_t batch = (size_t)r->batch_size, V = (size_t)r->V;
    size_t floats = ((size_t)n + 2 * batch + (size_t)max_tokens) * V + batch;
    r->device_bytes = floats * sizeof(float) + 2 * batch * sizeof(int);
    r->device = r->be->alloc(r->be, r->device_bytes);
    r->host = malloc((size_t)n * sizeof(size_t) +
                     ((size_t)n + total_tokens + (size_t)n + (size_t)max_tokens + 4 * batch) *
                         sizeof(int) +
                     batch * sizeof(float));
    if (!r->device || !r->host) {
        fail(err, err_len, "out of memory for the retain loss (%zu prompts, vocabulary %zu)",
             (size_t)n, V);
        retain_free(r);
        return NULL;
    }
    lay_out(r, total_tokens, (size_t)max_tokens);
    memcpy(r->len, len, (size_t)n * sizeof *len);
    memcpy(r->tokens, tokens, total_tokens * sizeof *tokens);
    for (size_t i = 0, at = 0; i < (size_t)n; at += (size_t)len[i], i++) r->offset[i] = at;
    return r;
}

// Packs the prompts idx[0..k) into the batch buffers and uploads where each one's last token
// lies in the batch and which prompt it is.
static TokenBatch load_batch(Retain *r, const int *idx, int k) {
    int at = 0;
    for (int b = 0; b < k; b++) {
        int i = idx[b];
        memcpy(r->batch_tokens + at, r->tokens + r->offset[i], (size_t)r->len[i] * sizeof(int));
        r->batch_len[b] = r->len[i];
        at += r->len[i];
        r->host_rows[b] = at - 1;
        r->host_rows[r->batch_size + b] = i;
    }
    r->be->to_device(r->be, r->last_rows, r->host_rows, 2 * (size_t)r->batch_size * sizeof(int));
    return (TokenBatch){.n_seqs = k, .seq_len = r->batch_len, .tokens = r->batch_tokens};
}

// Runs prompts idx[0..k) forward and gathers the logits at their last tokens into rows.
static int forward_rows(Retain *r, const int *idx, int k, char *err, size_t err_len) {
    TokenBatch batch = load_batch(r, idx, k);
    if (llama_forward(r->m, r->ws, &batch) < 0)
        return fail(err, err_len, "retain loss: %s", llama_workspace_error(r->ws));
    r->be->gather_rows(r->be, k, r->V, r->last_rows, llama_logits(r->ws), r->V, r->rows, r->V);
    return 0;
}

// Sum over the k rows of KL(p_base || p); with dlogits, rows becomes scale * its gradient.
static double divergence(Retain *r, int k, float scale, bool dlogits) {
    Backend *be = r->be;
    be->gather_rows(be, k, r->V, r->prompts, r->base_logits, r->V, r->ref, r->V);
    be->kl_divergence(be, k, r->V, r->ref, r->rows, scale, r->kl, dlogits ? r->rows : NULL);
    be->to_host(be, r->host_kl, r->kl, (size_t)k * sizeof(float));
    double sum = 0;
    for (int b = 0; b < k; b++) sum += r->host_kl[b];
    return sum;
}

// The prompts first .. first + k - 1, a batch of a pass in dataset order.
static const int *in_sequence(Retain *r, int first, int k) {
    for (int b = 0; b < k; b++) r->sequential[b] = first + b;
    return r->sequential;
}

int retain_record_base(Retain *r, char *err, size_t err_len) {
    for (int first = 0; first < r->n; first += r->batch_size) {
        int k = r->n - first < r->batch_size ? r->n - first : r->batch_size;
        if (forward_rows(r, in_sequence(r, first, k), k, err, err_len) < 0) return -1;
        r->be->copy(r->be, r->base_logits + (size_t)first * r->V, r->rows,
                    (size_t)k * (size_t)r->V * sizeof(float));
    }
    return 0;
}

int retain_divergence(Retain *r, double *mean_kl, char *err, size_t err_len) {
    double sum = 0;
    for (int first = 0; first < r->n; first += r->batch_size) {
        int k = r->n - first < r->batch_size ? r->n - first : r->batch_size;
        if (forward_rows(r, in_sequence(r, first, k), k, err, err_len) < 0) return -1;
        sum += divergence(r, k, 0, false);
    }
    *mean_kl = sum / r->n;
    return 0;
}

// A new pass: Fisher-Yates over the retain prompts from the stream.
static void shuffle(Retain *r) {
    for (int i = 0; i < r->n; i++) r->order[i] = i;
    for (int i = r->n; i > 1; i--) {
        int j = (int)(rng_next(&r->rng) % (uint64_t)i);
        int tmp = r->order[i - 1];
        r->order[i - 1] = r->order[j];
        r->order[j] = tmp;
    }
    r->next = 0;
}

int retain_step(Retain *r, float weight, double *loss, char *err, size_t err_len) {
    Backend *be = r->be;
    if (r->next == r->n) shuffle(r);
    int k = r->n - r->next < r->batch_size ? r->n - r->next : r->batch_size;
    if (forward_rows(r, r->order + r->next, k, err, err_len) < 0) return -1;
    r->next += k;
    *loss = weight * divergence(r, k, weight / (float)k, true) / k;

    // The loss lives on the last tokens only: their rows of dL/dlogits, zero elsewhere.
    int T = 0;
    for (int b = 0; b < k; b++) T += r->batch_len[b];
    be->zero(be, r->dlogits, (size_t)T * (size_t)r->V * sizeof(float));
    be->scatter_rows(be, k, r->V, r->last_rows, r->rows, r->V, r->dlogits, r->V, false);
    BackwardSources src = {.dlogits = r->dlogits};
    if (llama_backward(r->m, r->ws, &src, NULL) < 0)
        return fail(err, err_len, "retain loss: %s", llama_workspace_error(r->ws));
    return 0;
}
