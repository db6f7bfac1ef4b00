// Seconds on the monotonic clock, for timing and ETAs: it never jumps when the wall clock is set.
// Header-only so that every layer (compute, io, mpi, analysis, bench, tests) can use it.
#ifndef ARE_MONOTONIC_CLOCK_H
#define ARE_MONOTONIC_CLOCK_H

#include <time.h>

static inline double monotonic_seconds(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

#endif
