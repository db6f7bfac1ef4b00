// A subcommand's command line from its table of options; see cli_args.h.
#include "cli_args.h"

#include "exit_codes.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#define HELP_GAP 3 // spaces between the longest "--name VALUE" and the help column

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

// What o's value must be, in words: its own text, or one made from its kind into buf.
static const char *expected(const Option *o, char *buf, size_t len) {
    if (o->expects) return o->expects;
    switch (o->kind) {
    case OPTION_INT:
    case OPTION_INT64:
        snprintf(buf, len, "an integer in %.0f..%.0f", o->lo, o->hi);
        return buf;
    case OPTION_REAL:
        if (isinf(o->hi))
            snprintf(buf, len, "a number %s %g", o->open_lo ? ">" : ">=", o->lo);
        else
            snprintf(buf, len, "a number in %s%g, %g]", o->open_lo ? "(" : "[", o->lo, o->hi);
        return buf;
    case OPTION_STRING:
        if (!o->choices) break;
        // "a, b or c"
        buf[0] = '\0';
        for (size_t i = 0, at = 0; o->choices[i] && at < len; i++) {
            const char *sep = i == 0 ? "" : o->choices[i + 1] ? ", " : " or ";
            at += (size_t)snprintf(buf + at, len - at, "%s%s", sep, o->choices[i]);
        }
        return buf;
    case OPTION_FLAG:
    case OPTION_CUSTOM:
        break;
    }
    return o->value ? o->value : "a value";
}

static bool one_of(const char *const *choices, const char *value) {
    for (int i = 0; choices[i]; i++)
        if (!strcmp(choices[i], value)) return true;
    return false;
}

// Stores value at o's destination; false when it is not a value o takes (why it is not in why
// when the option says).
static bool take(const Option *o, char *value, char *why, size_t why_len) {
    long long n;
    double x;
    switch (o->kind) {
    case OPTION_INT:
    case OPTION_INT64:
        if (!parse_int_arg(value, (long long)o->lo, (long long)o->hi, &n)) return false;
        if (o->kind == OPTION_INT)
            *(int *)o->dest = (int)n;
        else
            *(long long *)o->dest = n;
        return true;
    case OPTION_REAL:
        if (!parse_real_arg(value, o->lo, o->hi, &x) || (o->open_lo && x == o->lo)) return false;
        *(double *)o->dest = x;
        return true;
    case OPTION_STRING:
        if (o->choices && !one_of(o->choices, value)) return false;
        *(const char **)o->dest = value;
        return true;
    case OPTION_CUSTOM:
        return o->take(o->dest, value, why, why_len);
    case OPTION_FLAG:
        break;
    }
    return false;
}

int cli_usage_error(const CommandLine *cl, const char *fmt, ...) {
    fprintf(stderr, "are %s: ", cl->command);
    va_list args;
    va_start(args, fmt);
    vfprintf(stderr, fmt, args);
    va_end(args);
    fputc('\n', stderr);
    cli_usage(cl, stderr);
    return EXIT_USAGE;
}

Option option_threads(int *threads, const char *help) {
    return (Option){.name = "--threads",
                    .kind = OPTION_INT,
                    .dest = threads,
                    .value = "N",
                    .help = help,
                    .lo = 1,
                    .hi = 4096};
}

int cli_parse(const CommandLine *cl, int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        const char *arg = argv[i];
        if (!strcmp(arg, "-h") || !strcmp(arg, "--help")) {
            cli_usage(cl, stdout);
            return EXIT_OK;
        }
        if (arg[0] != '-') {
            if (!cl->operand) return cli_usage_error(cl, "unexpected argument '%s'", arg);
            if (*cl->operand_value)
                return cli_usage_error(cl, "a second %s '%s'", cl->operand, arg);
            *cl->operand_value = arg;
            continue;
        }
        const Option *o = cl->options;
        while (o < cl->options + cl->n_options && strcmp(o->name, arg) &&
               !(o->alias && !strcmp(o->alias, arg)))
            o++;
        if (o == cl->options + cl->n_options)
            return cli_usage_error(cl, "unknown option '%s'", arg);
        if (o->given) *o->given = true;
        if (o->kind == OPTION_FLAG) {
            *(bool *)o->dest = true;
            continue;
        }
        char what[256], why[256] = "";
        if (i + 1 == argc)
            return cli_usage_error(cl, "%s needs a value: %s", arg, expected(o, what, sizeof what));
        char *value = argv[++i];
        if (take(o, value, why, sizeof why)) continue;
        if (why[0]) return cli_usage_error(cl, "%s: %s", arg, why);
        return cli_usage_error(cl, "%s expects %s, got '%s'", arg, expected(o, what, sizeof what),
                               value);
    }
    if (cl->operand_required && !*cl->operand_value)
        return cli_usage_error(cl, "no %s given", cl->operand);
    return -1;
}

void cli_usage(const CommandLine *cl, FILE *f) {
    fputs(cl->synopsis, f);
    static const char help_name[] = "-h, --help";
    int width = (int)strlen(help_name);
    for (int i = 0; i < cl->n_options; i++) {
        const Option *o = &cl->options[i];
        int w = (o->alias ? (int)strlen(o->alias) + 2 : 0) + (int)strlen(o->name) +
                (o->value ? 1 + (int)strlen(o->value) : 0);
        if (w > width) width = w;
    }
    int column = 2 + width + HELP_GAP;
    for (int i = 0; i <= cl->n_options; i++) {
        const Option *o = i < cl->n_options ? &cl->options[i] : NULL;
        char heading[256];
        // "-o, --out FILE"
        snprintf(heading, sizeof heading, "%s%s%s%s%s", o && o->alias ? o->alias : "",
                 o && o->alias ? ", " : "", o ? o->name : help_name, o && o->value ? " " : "",
                 o && o->value ? o->value : "");
        fprintf(f, "  %-*s", column - 2, heading);
        // Each line of the help under the first.
        for (const char *line = o ? o->help : "this text", *end;; line = end + 1) {
            end = strchr(line, '\n');
            fprintf(f, "%.*s\n", end ? (int)(end - line) : (int)strlen(line), line);
            if (!end) break;
            fprintf(f, "%*s", column, "");
        }
    }
    if (cl->epilogue) fputs(cl->epilogue, f);
}
