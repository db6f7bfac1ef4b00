// How far apart two classes of representations sit, relative to how spread out each is: the
// class-mean distance per round that `are analyze` tabulates and plots.
//
// For samples x_i [d] with labels y_i in {0, 1}, n_0 and n_1 samples per class (n = n_0 + n_1):
//     mu_c            = (1/n_c) sum_{i: y_i = c} x_i                            class means [d]
//     mean_distance   = |mu_1 - mu_0|                                           Euclidean
//     within_spread   = sqrt( (1/n) sum_i |x_i - mu_{y_i}|^2 )
//                       the root mean squared distance of a sample to its own class mean, pooled
//                       over both classes (each sample weighs the same; divisor n, not n - 2)
//     ratio           = mean_distance / within_spread
// All in the units of x, except ratio (unitless, unchanged by translating, rotating or uniformly
// scaling x). ratio follows IEEE division: +inf when every sample sits on its class mean and the
// means differ, NaN when all samples are equal. Computed in double precision.
#ifndef ARE_CLASS_SEPARATION_H
#define ARE_CLASS_SEPARATION_H

#include <stddef.h>

typedef struct {
    double mean_distance, within_spread, ratio;
} ClassSeparation;

// The numbers above for x [n, d] (float32, row-major) and labels [n]. A non-finite x gives
// non-finite numbers. Errors (one line into err, return -1): n or d < 1, a label not 0 or 1,
// a class with no sample, out of memory.
int class_separation(const float *x, const int *labels, int n, int d, ClassSeparation *out,
                     char *err, size_t err_len);

#endif
