// Numbers on the command line: the whole argument must be the number, within its range.
#ifndef ARE_CLI_ARGS_H
#define ARE_CLI_ARGS_H

#include <stdbool.h>

// A base-10 integer in lo..hi.
bool parse_int_arg(const char *text, long long lo, long long hi, long long *out);
// A finite real number in lo..hi.
bool parse_real_arg(const char *text, double lo, double hi, double *out);

#endif
