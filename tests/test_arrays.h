// Test arrays for the engine tests: zero-filled, and released together at the end of each test
// so that a test body can allocate freely without freeing.
#ifndef ARE_TEST_ARRAYS_H
#define ARE_TEST_ARRAYS_H

#include "rng.h"

#include <assert.h>
#include <stdlib.h>

#define MAX_ARRAYS 256
static void *arrays[MAX_ARRAYS];
static int n_arrays;

static inline void *new_array(size_t n, size_t size) {
    assert(n_arrays < MAX_ARRAYS);
    void *a = calloc(n ? n : 1, size);
    assert(a);
    return arrays[n_arrays++] = a;
}

static inline void release_arrays(void) {
    while (n_arrays) free(arrays[--n_arrays]);
}

// n values drawn from N(0, std^2).
static inline float *random_floats(Rng *rng, size_t n, float std) {
    float *x = new_array(n, sizeof *x);
    for (size_t i = 0; i < n; i++) x[i] = std * rng_normal(rng);
    return x;
}

#endif
