#include "discriminator.h"

#include "adamw.h"
#include "linear.h"
#include "rng.h"

#include <assert.h>
#include <math.h>
#include <stdlib.h>

// A feature whose std over the fitted set is at most this is constant in practice: it is
// centred but not scaled (see feature_stats in backend.h).
#define MIN_STD 1e-6f

// Floats drawn on the host per upload when initialising the weights.
#define INIT_CHUNK 4096

#define N_CLASSES 2

// One torch.nn.Linear: y [n, out] = x [n, in] W^T + b.
typedef struct {
    int in, out;
    float *W, *b;   // [out, in], [out] in params
    float *dW, *db; // the same places in grads
} Layer;

struct Discriminator {
    Backend *be;
    DiscriminatorConfig cfg;
    int n_features, max_rows;
    int batch_rows; // rows of fit's mini-batch buffer: min(batch_size, max_rows)
    int n_layers;   // 1 (linear) or 2 (MLP)
    Layer layers[2];
    size_t n_params;
    size_t device_bytes; // backend memory held, for the memory plan
    float *params;       // [n_params] backend: each layer's W then b
    float *grads;        // [n_params] backend, the same layout
    AdamW opt;
    bool has_stats; // mean and inv_std hold the last fit's statistics (with standardize)

    float *activations;    // one backend allocation holding the tensors below
    float *mean, *inv_std; // [F] standardisation statistics
    float *standardized;   // [max_rows, F], NULL without standardize
    float *batch;          // [batch_rows, F] fit's gathered mini-batch
    float *hidden;         // [max_rows, H] after ReLU, MLP only
    float *dhidden;        // [max_rows, H]
    float *logits;         // [max_rows, 2], replaced by their gradient in backward
    float *loss;           // [max_rows] per-row cross-entropy
    // Backend ints, one allocation: an epoch's row order and the labels in that order.
    int *rows, *targets; // [max_rows]

    // Host scratch, so that nothing is allocated after create: one allocation of ints, one of
    // floats.
    int *host_rows, *host_targets; // [max_rows] each
    float *host_logits;            // [max_rows, 2]
    float *host_loss;              // [max_rows]
    float *host_chunk;             // [INIT_CHUNK] initial weights on their way to the backend
};

static int min_int(int a, int b) {
    return a < b ? a : b;
}

// --- the network ---------------------------------------------------------------------------------

static void dense_forward(Backend *be, const Layer *layer, int n, const float *x, float *y) {
    Linear lin = {.in = layer->in, .out = layer->out, .W = layer->W};
    linear_forward(be, &lin, n, x, NULL, y, false);
    be->bias_forward(be, n, layer->out, layer->b, y);
}

// From dy [n, out]: dx [n, in] = dy W (skipped when NULL); with param_grads, dW += dy^T x and
// db += the column sums of dy.
static void dense_backward(Backend *be, const Layer *layer, int n, const float *x, const float *dy,
                           bool param_grads, float *dx) {
    Linear lin = {
        .in = layer->in, .out = layer->out, .W = layer->W, .dW = param_grads ? layer->dW : NULL};
    linear_backward(be, &lin, n, x, NULL, dy, NULL, dx, false);
    if (param_grads) be->bias_backward(be, n, layer->out, dy, layer->db);
}

// logits [n, 2] of the network on x [n, F] (already standardised).
static void forward(Discriminator *d, const float *x, int n) {
    Backend *be = d->be;
    if (d->n_layers == 1) {
        dense_forward(be, &d->layers[0], n, x, d->logits);
        return;
    }
    dense_forward(be, &d->layers[0], n, x, d->hidden);
    be->relu_forward(be, n * d->cfg.hidden, d->hidden, d->hidden);
    dense_forward(be, &d->layers[1], n, d->hidden, d->logits);
}

// From dlogits in d->logits, after forward on the same x: parameter gradients accumulated
// (with param_grads) and dx [n, F] overwritten (when not NULL).
static void backward(Discriminator *d, const float *x, int n, bool param_grads, float *dx) {
    Backend *be = d->be;
    if (d->n_layers == 1) {
        dense_backward(be, &d->layers[0], n, x, d->logits, param_grads, dx);
        return;
    }
    dense_backward(be, &d->layers[1], n, d->hidden, d->logits, param_grads, d->dhidden);
    be->relu_backward(be, n * d->cfg.hidden, d->hidden, d->dhidden, d->dhidden);
    dense_backward(be, &d->layers[0], n, x, d->dhidden, param_grads, dx);
}

static bool standardizing(const Discriminator *d) {
    return d->cfg.standardize && d->has_stats;
}

// What the network reads for X [n, F]: X itself, or X standardised with the fitted statistics.
static const float *network_input(Discriminator *d, const float *X, int n) {
    if (!standardizing(d)) return X;
    d->be->standardize_forward(d->be, n, d->n_features, X, d->mean, d->inv_std, d->standardized);
    return d->standardized;
}

// Mean of the first n per-row losses, summed in double on the host.
static double mean_loss(Discriminator *d, int n) {
    d->be->to_host(d->be, d->host_loss, d->loss, (size_t)n * sizeof(float));
    double sum = 0;
    for (int i = 0; i < n; i++) sum += d->host_loss[i];
    return sum / n;
}

static bool labels_valid(const int *labels, int n) {
    for (int i = 0; i < n; i++)
        if (labels[i] != 0 && labels[i] != 1) return false;
    return true;
}

// --- create, reset, parameters -------------------------------------------------------------------

// Lays out layer l (in -> out) at *offset of params and grads.
static void place_layer(Discriminator *d, int l, int in, int out, size_t *offset) {
    size_t weights = (size_t)out * in;
    d->layers[l] = (Layer){.in = in,
                           .out = out,
                           .W = d->params + *offset,
                           .b = d->params + *offset + weights,
                           .dW = d->grads + *offset,
                           .db = d->grads + *offset + weights};
    *offset += weights + out;
}

// Carves d->activations into its tensors.
static void place_activations(Discriminator *d) {
    size_t F = d->n_features, rows = d->max_rows, H = d->cfg.hidden;
    d->mean = d->activations;
    d->inv_std = d->mean + F;
    float *next = d->inv_std + F;
    if (d->cfg.standardize) {
        d->standardized = next;
        next += rows * F;
    }
    d->batch = next;
    next += (size_t)d->batch_rows * F;
    if (d->n_layers == 2) {
        d->hidden = next;
        d->dhidden = d->hidden + rows * H;
        next = d->dhidden + rows * H;
    }
    d->logits = next;
    d->loss = d->logits + rows * N_CLASSES;
}

static size_t activation_floats(const Discriminator *d) {
    size_t F = d->n_features, rows = d->max_rows, H = d->cfg.hidden;
    size_t n = 2 * F + (size_t)d->batch_rows * F + rows * (N_CLASSES + 1);
    if (d->cfg.standardize) n += rows * F;
    if (d->n_layers == 2) n += 2 * rows * H;
    return n;
}

Discriminator *discriminator_create(Backend *be, const DiscriminatorConfig *cfg, int n_features,
                                    int max_rows) {
    assert(n_features > 0 && max_rows > 0 && cfg->batch_size > 0 && cfg->epochs >= 0);
    assert(cfg->kind == DISCRIMINATOR_LINEAR || cfg->hidden > 0);
    Discriminator *d = calloc(1, sizeof *d);
    if (!d) return NULL;
    d->be = be;
    d->cfg = *cfg;
    d->n_features = n_features;
    d->max_rows = max_rows;
    d->batch_rows = min_int(cfg->batch_size, max_rows);
    d->n_layers = cfg->kind == DISCRIMINATOR_MLP ? 2 : 1;

    size_t F = n_features, H = cfg->hidden;
    d->n_params =
        d->n_layers == 2 ? H * F + H + N_CLASSES * H + N_CLASSES : N_CLASSES * F + N_CLASSES;
    d->params = be->alloc(be, d->n_params * sizeof(float));
    d->grads = be->alloc(be, d->n_params * sizeof(float));
    d->activations = be->alloc(be, activation_floats(d) * sizeof(float));
    d->rows = be->alloc(be, 2 * (size_t)max_rows * sizeof(int));
    d->host_rows = malloc(2 * (size_t)max_rows * sizeof(int));
    d->host_logits = malloc(((size_t)max_rows * (N_CLASSES + 1) + INIT_CHUNK) * sizeof(float));
    AdamWConfig adam = {.lr = cfg->lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = cfg->eps};
    bool adam_ok = adamw_init(&d->opt, &adam, d->n_params, be) == 0;
    if (!d->params || !d->grads || !d->activations || !d->rows || !d->host_rows ||
        !d->host_logits || !adam_ok) {
        discriminator_free(d);
        return NULL;
    }
    place_activations(d);
    d->device_bytes = (4 * d->n_params + activation_floats(d)) * sizeof(float) +
                      2 * (size_t)max_rows * sizeof(int); // params, grads, 2 moments
    d->targets = d->rows + max_rows;
    d->host_targets = d->host_rows + max_rows;
    d->host_loss = d->host_logits + (size_t)max_rows * N_CLASSES;
    d->host_chunk = d->host_loss + max_rows;

    size_t offset = 0;
    if (d->n_layers == 2) {
        place_layer(d, 0, n_features, cfg->hidden, &offset);
        place_layer(d, 1, cfg->hidden, N_CLASSES, &offset);
    } else {
        place_layer(d, 0, n_features, N_CLASSES, &offset);
    }
    assert(offset == d->n_params);
    return d;
}

void discriminator_free(Discriminator *d) {
    if (!d) return;
    Backend *be = d->be;
    if (d->params) be->free(be, d->params);
    if (d->grads) be->free(be, d->grads);
    if (d->activations) be->free(be, d->activations);
    if (d->rows) be->free(be, d->rows);
    adamw_free(&d->opt, be);
    free(d->host_rows);
    free(d->host_logits);
    free(d);
}

// dst [n] (backend) <- U(-bound, bound), drawn on the host a chunk at a time.
static void upload_uniform(Discriminator *d, float *dst, size_t n, float bound, Rng *rng) {
    for (size_t start = 0; start < n; start += INIT_CHUNK) {
        size_t len = n - start < INIT_CHUNK ? n - start : INIT_CHUNK;
        for (size_t i = 0; i < len; i++)
            d->host_chunk[i] = (2.0f * rng_uniform(rng) - 1.0f) * bound;
        d->be->to_device(d->be, dst + start, d->host_chunk, len * sizeof(float));
    }
}

void discriminator_reset(Discriminator *d, uint64_t seed) {
    Rng rng;
    rng_seed(&rng, seed);
    for (int l = 0; l < d->n_layers; l++) {
        // torch.nn.Linear: kaiming_uniform_(a=sqrt(5)) for the weight is U(-1/sqrt(in), ..),
        // and the bias uses the same bound.
        const Layer *layer = &d->layers[l];
        float bound = 1.0f / sqrtf((float)layer->in);
        upload_uniform(d, layer->W, (size_t)layer->out * layer->in, bound, &rng);
        upload_uniform(d, layer->b, layer->out, bound, &rng);
    }
    d->be->zero(d->be, d->grads, d->n_params * sizeof(float));
    adamw_reset(&d->opt, d->be);
    d->has_stats = false;
}

size_t discriminator_bytes(const Discriminator *d) {
    return d->device_bytes;
}

size_t discriminator_param_count(const Discriminator *d) {
    return d->n_params;
}

void discriminator_get_params(const Discriminator *d, float *host) {
    d->be->to_host(d->be, host, d->params, d->n_params * sizeof(float));
}

void discriminator_set_params(Discriminator *d, const float *host) {
    d->be->to_device(d->be, d->params, host, d->n_params * sizeof(float));
}

// --- training and scoring ------------------------------------------------------------------------

// A new random order of the n rows (Fisher-Yates from the identity, like torch.randperm at each
// epoch), uploaded with the labels in that order.
static void shuffle(Discriminator *d, const int *labels, int n, Rng *rng) {
    int *rows = d->host_rows;
    for (int i = 0; i < n; i++) rows[i] = i;
    for (int i = n - 1; i > 0; i--) {
        int j = (int)(rng_next(rng) % (uint64_t)(i + 1));
        int swap = rows[i];
        rows[i] = rows[j];
        rows[j] = swap;
    }
    for (int i = 0; i < n; i++) d->host_targets[i] = labels[rows[i]];
    d->be->to_device(d->be, d->rows, rows, (size_t)n * sizeof(int));
    d->be->to_device(d->be, d->targets, d->host_targets, (size_t)n * sizeof(int));
}

// One Adam step on the mean cross-entropy of the n rows in d->batch against targets [n];
// their losses before the step go to loss [n].
static void train_step(Discriminator *d, int n, const int *targets, float *loss) {
    Backend *be = d->be;
    forward(d, d->batch, n);
    be->cross_entropy(be, n, N_CLASSES, d->logits, targets, 1.0f / n, loss, d->logits);
    be->zero(be, d->grads, d->n_params * sizeof(float));
    backward(d, d->batch, n, true, NULL);
    adamw_step(&d->opt, be, d->params, d->grads);
}

int discriminator_fit(Discriminator *d, const float *X, const int *labels, int n, uint64_t seed,
                      double *last_epoch_loss) {
    if (n < 1 || n > d->max_rows || !labels_valid(labels, n)) return -1;
    Backend *be = d->be;
    int F = d->n_features;
    if (d->cfg.standardize) {
        be->feature_stats(be, n, F, X, MIN_STD, d->mean, d->inv_std);
        d->has_stats = true;
    }
    const float *inputs = network_input(d, X, n);
    int batch = min_int(d->batch_rows, n);
    Rng rng;
    rng_seed(&rng, seed);
    for (int epoch = 0; epoch < d->cfg.epochs; epoch++) {
        shuffle(d, labels, n, &rng);
        for (int start = 0; start < n; start += batch) {
            int rows = min_int(batch, n - start);
            be->gather_rows(be, rows, F, d->rows + start, inputs, F, d->batch, F);
            train_step(d, rows, d->targets + start, d->loss + start);
        }
    }
    if (last_epoch_loss) *last_epoch_loss = d->cfg.epochs ? mean_loss(d, n) : NAN;
    return 0;
}

double discriminator_accuracy(Discriminator *d, const float *X, const int *labels, int n,
                              double *mean_loss_out) {
    if (mean_loss_out) *mean_loss_out = NAN;
    if (n < 1 || n > d->max_rows || !labels_valid(labels, n)) return NAN;
    Backend *be = d->be;
    forward(d, network_input(d, X, n), n);
    be->to_host(be, d->host_logits, d->logits, (size_t)n * N_CLASSES * sizeof(float));
    int correct = 0;
    for (int i = 0; i < n; i++) {
        const float *row = d->host_logits + (size_t)i * N_CLASSES;
        correct += (row[1] > row[0]) == (labels[i] == 1);
    }
    if (mean_loss_out) {
        be->to_device(be, d->targets, labels, (size_t)n * sizeof(int));
        be->cross_entropy(be, n, N_CLASSES, d->logits, d->targets, 1.0f, d->loss, NULL);
        *mean_loss_out = mean_loss(d, n);
    }
    return (double)correct / n;
}

double discriminator_input_grad(Discriminator *d, const float *X, int n, int target, float *dX) {
    if (n < 1 || n > d->max_rows || (target != 0 && target != 1)) return NAN;
    Backend *be = d->be;
    const float *inputs = network_input(d, X, n);
    forward(d, inputs, n);
    for (int i = 0; i < n; i++) d->host_targets[i] = target;
    be->to_device(be, d->targets, d->host_targets, (size_t)n * sizeof(int));
    be->cross_entropy(be, n, N_CLASSES, d->logits, d->targets, 1.0f / n, d->loss, d->logits);
    backward(d, inputs, n, false, dX);
    if (standardizing(d)) be->standardize_backward(be, n, d->n_features, dX, d->inv_std, dX);
    return mean_loss(d, n);
}
