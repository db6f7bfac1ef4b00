// A minimal test harness: each test program counts its checks and ends with the plain line
// "N passed, N failed[, N skipped]" that CI reads, exiting non-zero on any failure, and with
// CHECK_SKIP_CODE (which ctest reports as "Skipped") when everything was skipped.
#ifndef ARE_CHECK_H
#define ARE_CHECK_H

#include <math.h>
#include <stdio.h>

#define CHECK_SKIP_CODE 77

static int check_passed, check_failed, check_skipped;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "FAIL %s:%d: ", __FILE__, __LINE__);                                   \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\n");                                                                 \
        }                                                                                          \
    } while (0)

// Marks a whole check as skipped, with the reason printed plainly.
#define SKIP(...)                                                                                  \
    do {                                                                                           \
        check_skipped++;                                                                           \
        printf("skipped: ");                                                                       \
        printf(__VA_ARGS__);                                                                       \
        printf("\n");                                                                              \
    } while (0)

// Largest |a-b| / (atol + rtol*|b|) over n values: <= 1 means every value is within tolerance.
static inline double check_worst_ratio(const float *a, const float *b, size_t n, double atol,
                                       double rtol, size_t *worst_index) {
    double worst = 0;
    size_t wi = 0;
    for (size_t i = 0; i < n; i++) {
        double r = fabs((double)a[i] - (double)b[i]) / (atol + rtol * fabs((double)b[i]));
        if (!(r <= worst)) { // NaN counts as worst
            worst = isnan(r) ? INFINITY : r;
            wi = i;
        }
    }
    if (worst_index) *worst_index = wi;
    return worst;
}

// Checks that n values got match want within atol + rtol*|want| each, printing the worst error
// as a ratio of the tolerance (<= 1 passes).
static inline void check_close(const char *what, const float *got, const float *want, size_t n,
                               double atol, double rtol) {
    size_t at;
    double ratio = check_worst_ratio(got, want, n, atol, rtol, &at);
    printf("%-60s worst error / tolerance %.4f\n", what, ratio);
    CHECK(ratio <= 1, "%s: element %zu is %.9g, expected %.9g", what, at, got[at], want[at]);
}

// Engine values against reference values within rtol of the largest reference magnitude,
// printing the worst error as a ratio of the tolerance (<= 1 passes).
static inline void check_against_reference(const char *label, const float *got, const float *expect,
                                           size_t n, double rtol) {
    double max_abs = 0;
    for (size_t i = 0; i < n; i++) max_abs = fmax(max_abs, fabs(expect[i]));
    size_t wi;
    double worst = check_worst_ratio(got, expect, n, rtol * max_abs, rtol, &wi);
    printf("  %-58s worst %.3g of tolerance (index %zu: %.7g vs %.7g)\n", label, worst, wi, got[wi],
           expect[wi]);
    CHECK(worst <= 1, "%s: %.3g times the tolerance at index %zu (engine %.7g, reference %.7g)",
          label, worst, wi, got[wi], expect[wi]);
}

static inline int check_summary(void) {
    if (check_skipped)
        printf("%d passed, %d failed, %d skipped\n", check_passed, check_failed, check_skipped);
    else
        printf("%d passed, %d failed\n", check_passed, check_failed);
    if (check_failed) return 1;
    return check_passed == 0 && check_skipped > 0 ? CHECK_SKIP_CODE : 0;
}

#endif
