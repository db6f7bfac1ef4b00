#include "fail.h"

#include <stdarg.h>
#include <stdio.h>

int fail(char *err, size_t err_len, const char *fmt, ...) {
    if (err && err_len) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }
    return -1;
}
