#include "cli_args.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>

bool parse_int_arg(const char *text, long long lo, long long hi, long long *out) {
    char *end;
    errno = 0;
    long long x = strtoll(text, &end, 10);
    if (end == text || *end || errno || x < lo || x > hi) return false;
    *out = x;
    return true;
}

bool parse_real_arg(const char *text, double lo, double hi, double *out) {
    char *end;
    errno = 0;
    double x = strtod(text, &end);
    if (end == text || *end || errno || !isfinite(x) || x < lo || x > hi) return false;
    *out = x;
    return true;
}
