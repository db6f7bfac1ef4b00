// A subcommand's command line, parsed from a table of its options: each option's name, the kind
// of value it takes, where the value goes and its lines of --help. One parser gives every command
// the same behaviour: -h or --help prints the usage made from the table; an unknown option, a
// missing value or a value out of range is refused with a message that names the option and what
// it expects, followed by the usage.
#ifndef ARE_CLI_ARGS_H
#define ARE_CLI_ARGS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    OPTION_FLAG,   // no value: *(bool *)dest = true
    OPTION_INT,    // an integer in lo..hi: *(int *)dest
    OPTION_INT64,  // an integer in lo..hi: *(long long *)dest
    OPTION_REAL,   // a finite number in lo..hi (lo itself excluded with open_lo): *(double *)dest
    OPTION_STRING, // any text, or one of choices: *(const char **)dest
    OPTION_CUSTOM, // take(dest, value) stores it, or refuses it (lists, repeatable options)
} OptionKind;

typedef struct {
    const char *name; // "--threads"
    OptionKind kind;
    void *dest;
    const char *value;          // the value's name in the help ("N"); NULL for a flag
    const char *help;           // lines separated by '\n', aligned under the first in --help
    double lo, hi;              // OPTION_INT, OPTION_INT64, OPTION_REAL
    bool open_lo;               // OPTION_REAL: values above lo only
    const char *const *choices; // OPTION_STRING: the values allowed (NULL-terminated), or NULL
    // OPTION_CUSTOM: stores value (argv's own text, which it may change), or returns false,
    // with why it refuses it in why (else the message says what the option expects).
    bool (*take)(void *dest, char *value, char *why, size_t why_len);
    // What the value must be, for messages ("a folder"); NULL: said from the kind, the range
    // and the choices ("an integer in 1..4096", "auto, cpu or cuda"), or the value's name.
    const char *expects;
    bool *given;       // set to true when the option appears, when not NULL
    const char *alias; // a short name for the same option ("-o" for "--out"), or NULL
} Option;

typedef struct {
    const char *command;        // "generate": messages start "are generate: "
    const char *synopsis;       // the usage before the options: usage lines, description, "\n"
    const char *epilogue;       // the usage after the options, or NULL
    const char *operand;        // the name of the one positional argument ("MODEL"), or NULL
    const char **operand_value; // where it goes (left as it is when absent)
    bool operand_required;      // its absence is an error: "no MODEL given"
    const Option *options;
    int n_options;
} CommandLine;

// Parses argv (argv[0] = the command's name) into the options' destinations, which keep their
// values where an option is absent. Returns -1 to go on, or the exit code to return at once:
// EXIT_OK after --help (the usage on stdout), EXIT_USAGE after an error (the message and the
// usage on stderr).
int cli_parse(const CommandLine *cl, int argc, char **argv);

// The usage: the synopsis, one entry per option of the table and -h, --help, the epilogue.
void cli_usage(const CommandLine *cl, FILE *f);

// For what the command checks after parsing (options needed together):
// prints "are COMMAND: " and the formatted message, then the usage, to stderr. Returns
// EXIT_USAGE.
int cli_usage_error(const CommandLine *cl, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

// --threads N (1..4096) into *threads, with the command's help line: every command that computes
// takes it, with one range.
Option option_threads(int *threads, const char *help);

// A base-10 integer in lo..hi: the whole text must be the number.
bool parse_int_arg(const char *text, long long lo, long long hi, long long *out);
// A finite real number in lo..hi: the whole text must be the number.
bool parse_real_arg(const char *text, double lo, double hi, double *out);

#endif
