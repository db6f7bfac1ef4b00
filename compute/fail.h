// How compute reports errors: a fallible function takes a caller's buffer err of err_len bytes
// and writes one line there saying what went wrong.
#ifndef ARE_FAIL_H
#define ARE_FAIL_H

#include <stddef.h>

// printf into err (nothing when err is NULL or err_len is 0). Returns -1, so that a failing
// function can report and return in one statement: `return fail(err, err_len, ...);`.
int fail(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
