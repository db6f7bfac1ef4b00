// Error messages into the caller's buffer; see io_error.h.
#include "io_error.h"

#include <stdarg.h>
#include <stdio.h>

int io_error(char *err, size_t err_len, const char *fmt, ...) {
    if (!err || err_len == 0) return -1;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}
