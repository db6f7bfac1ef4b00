// A linear probe: how linearly decodable the class is from a layer's representations, as the
// held-out accuracy of an L2-regularised logistic regression trained on the train split.
//
// For samples x [n, d] (float32, row-major), labels y in {0, 1} and a train/test split:
//   1. Standardise every feature with the train split's mean and population std (divisor
//      n_train): z = (x - mean) / std. A feature constant over the train split (std 0) is set
//      to 0 in both splits, so it can carry no weight.
//   2. Fit w [d] and bias b to minimise, over the train split,
//          (1/n_train) sum_i log(1 + exp(-t_i (w.z_i + b)))  +  (l2/2) |w|^2,   t_i = 2 y_i - 1
//      (the bias is not penalised). With l2 > 0 the objective is strictly convex, so its
//      minimum, and with it the accuracy, does not depend on the optimiser (with l2 = 0 and
//      separable classes there is no minimum: w grows until the iteration limit); the optimiser is
//      L-BFGS (10 pairs, Armijo backtracking from a zero start), chosen because d reaches 4096,
//      where Newton's d x d solves cost 1e10 flops each, while plain gradient descent needs a step
//      size and thousands of steps on badly conditioned features. Every iteration is full-batch,
//      with no randomness: the same inputs give the same numbers (on one build and BLAS thread
//      count).
//   3. Predict class 1 where w.z + b > 0 (class 0 on a tie) and count the matches.
#ifndef ARE_LINEAR_PROBE_H
#define ARE_LINEAR_PROBE_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    double l2;        // penalty strength (default 1e-3; the sklearn default C = 1 is 1/n_train)
    int iterations;   // most L-BFGS iterations (default 500)
    double tolerance; // stop once every gradient coordinate is within this (default 1e-6)
} LinearProbeOptions;

LinearProbeOptions linear_probe_defaults(void);

typedef struct {
    double train_accuracy, test_accuracy; // fractions in [0, 1]
    int iterations;                       // L-BFGS iterations run
    bool converged; // stopped on the tolerance (false: on the iteration limit or rounding)
} LinearProbeResult;

// Trains on the rows with is_test[i] == 0 and measures on those with is_test[i] != 0 (the trial
// file's labels and is_test arrays as they are). opt NULL means the defaults. weights, when not
// NULL, receives the fitted w [d] followed by b, in standardised coordinates.
// Errors (one line into err, return -1): n or d < 1, a label not 0 or 1, a class absent from the
// train split, an empty test split, a non-finite value, l2 < 0, iterations < 0, out of memory.
int linear_probe(const float *x, const int *labels, const int *is_test, int n, int d,
                 const LinearProbeOptions *opt, LinearProbeResult *out, double *weights, char *err,
                 size_t err_len);

#endif
