// Class-mean distance and pooled within-class spread; the formulas are in class_separation.h.
#include "class_separation.h"
#include "fail.h"

#include <math.h>
#include <stdlib.h>

int class_separation(const float *x, const int *labels, int n, int d, ClassSeparation *out,
                     char *err, size_t err_len) {
    if (n < 1 || d < 1)
        return fail(err, err_len,
                    "class separation: %d samples of width %d; expected >= 1 "
                    "each",
                    n, d);
    int count[2] = {0, 0};
    for (int i = 0; i < n; i++) {
        if (labels[i] != 0 && labels[i] != 1)
            return fail(err, err_len,
                        "class separation: label of sample %d is %d; expected "
                        "0 or 1",
                        i, labels[i]);
        count[labels[i]]++;
    }
    for (int c = 0; c < 2; c++)
        if (!count[c])
            return fail(err, err_len, "class separation: no sample of class %d among %d", c, n);

    double *mu = calloc(2 * (size_t)d, sizeof *mu); // class means [2, d]
    if (!mu) return fail(err, err_len, "class separation: out of memory for width %d", d);
    for (int i = 0; i < n; i++) {
        double *m = mu + (size_t)labels[i] * d;
        for (int c = 0; c < d; c++) m[c] += x[(size_t)i * d + c];
    }
    for (int c = 0; c < d; c++) mu[c] /= count[0], mu[d + c] /= count[1];

    double between = 0, within = 0; // squared sums
    for (int c = 0; c < d; c++) between += (mu[d + c] - mu[c]) * (mu[d + c] - mu[c]);
    for (int i = 0; i < n; i++) {
        const double *m = mu + (size_t)labels[i] * d;
        for (int c = 0; c < d; c++) {
            double dev = x[(size_t)i * d + c] - m[c];
            within += dev * dev;
        }
    }
    free(mu);
    out->mean_distance = sqrt(between);
    out->within_spread = sqrt(within / n);
    out->ratio = out->mean_distance / out->within_spread;
    return 0;
}
