// The discriminator of ARE: a small classifier on representations, linear (Linear(F, 2)) or
// MLP (Linear(F, H) -> ReLU -> Linear(H, 2)), trained with cross-entropy and Adam, as the
// published code does; and, for the generator step, the gradient of its loss with respect to
// its input, which flows back into the language model.
//
// Optional standardisation (not in the published method): features are mapped to
// (x - mean) / std with the mean and std of the set it was last fitted on, so that raw
// residual-stream features of very different scales can be separated at all.
//
// Parameters, gradients and Adam moments each live in one backend allocation; fitting and
// scoring allocate nothing.
#ifndef ARE_DISCRIMINATOR_H
#define ARE_DISCRIMINATOR_H

#include "backend.h"

#include <stdbool.h>
#include <stdint.h>

typedef enum { DISCRIMINATOR_LINEAR, DISCRIMINATOR_MLP } DiscriminatorKind;

typedef struct {
    DiscriminatorKind kind;
    int hidden;       // MLP hidden width (published: 512)
    float lr, eps;    // Adam (published: 1e-3, 1e-3; betas 0.9, 0.999, no weight decay)
    int epochs;       // passes over the training set per fit (published: 30)
    int batch_size;   // published: 64
    bool standardize; // standardise features with the fitted set's statistics
} DiscriminatorConfig;

typedef struct Discriminator Discriminator;

// A discriminator over n_features inputs that handles up to max_rows rows per call (cfg must be
// valid: positive sizes, lr and eps). Its weights are zero until discriminator_reset.
// Returns NULL when out of memory.
Discriminator *discriminator_create(Backend *be, const DiscriminatorConfig *cfg, int n_features,
                                    int max_rows);
void discriminator_free(Discriminator *d);

// Re-initialises the weights as a fresh torch.nn.Linear (U(-1/sqrt(in), 1/sqrt(in)) for weights
// and biases) from seed, zeroes the optimiser and forgets the standardisation statistics:
// a "fresh discriminator".
void discriminator_reset(Discriminator *d, uint64_t seed);

// Trains on X [n, F] (backend memory) with labels [n] (host, 0 or 1) for cfg.epochs epochs of
// shuffled mini-batches (order from seed; the last batch of an epoch may be short, as a torch
// DataLoader with shuffle=True), one Adam step on the mean cross-entropy of each batch. With
// standardize, first sets the statistics from X; until the first fit after a reset, inputs pass
// unstandardised. Writes the mean loss over the rows of the last epoch (each taken before its
// batch's step, NaN with 0 epochs) into *last_epoch_loss (may be NULL).
// Returns 0, or -1 when n is not in 1..max_rows or a label is not 0 or 1.
int discriminator_fit(Discriminator *d, const float *X, const int *labels, int n, uint64_t seed,
                      double *last_epoch_loss);

// Accuracy of argmax predictions on X [n, F] against labels (a tie predicts 0, as torch.argmax),
// and the mean loss (may be NULL). NaN when n is not in 1..max_rows or a label is not 0 or 1.
double discriminator_accuracy(Discriminator *d, const float *X, const int *labels, int n,
                              double *mean_loss);

// Generator step: the mean cross-entropy of D(X) against target for every row, returned, and
// its gradient with respect to X written into dX [n, F] (backend memory, overwritten; the
// standardisation is part of D, so its 1/std is in there). D's parameters, gradients and
// optimiser are not touched. NaN (dX untouched) when n is not in 1..max_rows or target not 0/1.
double discriminator_input_grad(Discriminator *d, const float *X, int n, int target, float *dX);

// The parameters as torch.nn.Linear's (weight, bias) of each layer in turn, on the host:
// MLP: W1 [H, F], b1 [H], W2 [2, H], b2 [2]; linear: W [2, F], b [2].
size_t discriminator_param_count(const Discriminator *d);
// Backend memory the discriminator holds (parameters, gradients, moments, activations).
size_t discriminator_bytes(const Discriminator *d);
void discriminator_get_params(const Discriminator *d, float *host);
// Sets them (the optimiser and statistics are kept: reset first for a fresh discriminator).
void discriminator_set_params(Discriminator *d, const float *host);

#endif
