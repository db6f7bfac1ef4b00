// How every layer reports errors: a fallible function takes a caller's buffer err of err_len
// bytes and writes one line there saying what went wrong (in io: which file, which field or
// tensor, and what was expected). Header-only, so that io shares it without linking compute.
#ifndef ARE_FAIL_H
#define ARE_FAIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>

// printf into err (nothing when err is NULL or err_len is 0). Returns -1, so that a failing
// function can report and return in one statement: `return fail(err, err_len, ...);`.
__attribute__((format(printf, 3, 4))) static inline int fail(char *err, size_t err_len,
                                                             const char *fmt, ...) {
    if (err && err_len) {
        va_list args;
        va_start(args, fmt);
        vsnprintf(err, err_len, fmt, args);
        va_end(args);
    }
    return -1;
}

#endif
