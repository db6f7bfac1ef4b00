// How io reports errors: every fallible function takes a caller's buffer err of err_len bytes
// and writes one line there saying which file, which field or tensor, and what was expected.
#ifndef ARE_IO_ERROR_H
#define ARE_IO_ERROR_H

#include <stddef.h>

// printf into err (nothing when err is NULL or err_len is 0). Returns -1, so that a failing
// function can report and return in one statement: `return io_error(err, err_len, ...);`.
int io_error(char *err, size_t err_len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

#endif
