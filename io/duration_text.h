// A duration as people read it in progress lines and ETAs: "4m05s", or "2h17m" from an hour on.
// Header-only, as compute/monotonic_clock.h, so that any layer (cli, sweeps) can use it.
#ifndef ARE_DURATION_TEXT_H
#define ARE_DURATION_TEXT_H

#include <stddef.h>
#include <stdio.h>

static inline void duration_text(double seconds, char *out, size_t len) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        snprintf(out, len, "%ldm%02lds", s / 60, s % 60);
}

#endif
