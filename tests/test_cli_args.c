// The table-driven command-line parser (cli/cli_args.h) that every `are` command's options go
// through: values stored per kind, ranges and choices enforced at their edges, every refusal
// naming the option and what it expects, and --help made from the table, each checked against
// text written out by hand.
#include "check.h"
#include "cli_args.h"
#include "exit_codes.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

typedef struct {
    const char *model, *name, *device;
    int count;
    long long seed;
    double rate, temperature;
    bool fast, count_given;
    const char *items[2];
    int n_items;
} Demo;

// OPTION_CUSTOM: a repeatable option with room for two values.
static bool take_item(void *dest, char *value, char *why, size_t why_len) {
    Demo *d = dest;
    if (d->n_items == 2) {
        snprintf(why, why_len, "more than 2 items at '%s'", value);
        return false;
    }
    d->items[d->n_items++] = value;
    return true;
}

// OPTION_CUSTOM refusing with the generic message: only upper-case text.
static bool take_upper(void *dest, char *value, char *why, size_t why_len) {
    (void)why, (void)why_len;
    for (const char *p = value; *p; p++)
        if (*p < 'A' || *p > 'Z') return false;
    *(const char **)dest = value;
    return true;
}

static const char *const devices[] = {"auto", "cpu", "cuda", NULL};

typedef struct {
    int rc;
    char out[4096], err[4096]; // what the parse printed on stdout and stderr
} Result;

// Reads what was written to the temporary file behind fd since its start into buf.
static void drain(FILE *tmp, char *buf, size_t len) {
    size_t n = fseek(tmp, 0, SEEK_SET) == 0 ? fread(buf, 1, len - 1, tmp) : 0;
    buf[n] = '\0';
}

// Parses argv (NULL-terminated, argv[0] the command) with the demo table into *d, capturing
// stdout and stderr.
static Result parse(Demo *d, bool require_model, char **argv) {
    *d = (Demo){.device = "auto", .rate = 0.5};
    const Option options[] = {
        {"--name", OPTION_STRING, &d->name, "TEXT", .help = "a name", .alias = "-n"},
        {"--count", OPTION_INT, &d->count, "N", .help = "how many\nof them", .lo = 1, .hi = 4096,
         .given = &d->count_given},
        {"--seed", OPTION_INT64, &d->seed, "S", .help = "a seed", .lo = 0,
         .hi = 9007199254740992.0},
        {"--rate", OPTION_REAL, &d->rate, "P", .help = "a share", .lo = 0, .hi = 1,
         .open_lo = true},
        {"--temperature", OPTION_REAL, &d->temperature, "T", .help = "heat", .lo = 0,
         .hi = HUGE_VAL},
        {"--device", OPTION_STRING, &d->device, "D", .help = "where", .choices = devices},
        {"--fast", OPTION_FLAG, &d->fast, NULL, .help = "hurry"},
        {"--item", OPTION_CUSTOM, d, "X", .help = "repeatable", .take = take_item},
        {"--upper", OPTION_CUSTOM, &d->name, "W", .help = "shout", .take = take_upper,
         .expects = "upper-case letters"},
    };
    CommandLine cl = {"demo",
                      "usage: are demo MODEL [options]\n\n",
                      .epilogue = "\nthe end\n",
                      .operand = "MODEL",
                      .operand_value = &d->model,
                      .operand_required = require_model,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int argc = 0;
    while (argv[argc]) argc++;
    Result r;
    FILE *out = tmpfile(), *err = tmpfile();
    fflush(stdout);
    fflush(stderr);
    int saved_out = dup(STDOUT_FILENO), saved_err = dup(STDERR_FILENO);
    dup2(fileno(out), STDOUT_FILENO);
    dup2(fileno(err), STDERR_FILENO);
    r.rc = cli_parse(&cl, argc, argv);
    fflush(stdout);
    fflush(stderr);
    dup2(saved_out, STDOUT_FILENO);
    dup2(saved_err, STDERR_FILENO);
    close(saved_out);
    close(saved_err);
    drain(out, r.out, sizeof r.out);
    drain(err, r.err, sizeof r.err);
    fclose(out);
    fclose(err);
    return r;
}

// argv for parse: the command's name, then the arguments.
#define ARGV(...) ((char *[]){"demo", __VA_ARGS__, NULL})

// The first line of text.
static const char *first_line(const char *text, char *buf, size_t len) {
    size_t n = strcspn(text, "\n");
    snprintf(buf, len, "%.*s", (int)n, text);
    return buf;
}

// A refused command line: exit code 2, the message as the first line of stderr, the usage after
// it, nothing on stdout.
static void check_refused(char **argv, bool require_model, const char *message) {
    Demo d;
    Result r = parse(&d, require_model, argv);
    char line[512], want[512];
    snprintf(want, sizeof want, "are demo: %s", message);
    CHECK(r.rc == EXIT_USAGE, "%s: exit %d, expected %d", message, r.rc, EXIT_USAGE);
    CHECK(!strcmp(first_line(r.err, line, sizeof line), want), "stderr starts '%s', expected '%s'",
          line, want);
    CHECK(strstr(r.err, "\nusage: are demo MODEL [options]\n"), "%s: no usage after it", message);
    CHECK(r.out[0] == '\0', "%s: stdout has '%s'", message, r.out);
}

static void test_values(void) {
    Demo d;
    Result r = parse(&d, true,
                     ARGV("--count", "4096", "m", "--seed", "9007199254740992", "--rate", "1",
                          "--temperature", "1e300", "--device", "cuda", "--fast", "--item", "a",
                          "--item", "--b", "--name", "--fast"));
    CHECK(r.rc == -1, "parse returned %d, expected -1 (go on)", r.rc);
    CHECK(d.model && !strcmp(d.model, "m"), "operand %s", d.model ? d.model : "(null)");
    CHECK(d.count == 4096 && d.count_given, "count %d given %d", d.count, d.count_given);
    CHECK(d.seed == 9007199254740992LL, "seed %lld", d.seed);
    CHECK(d.rate == 1 && d.temperature == 1e300, "rate %g temperature %g", d.rate, d.temperature);
    CHECK(!strcmp(d.device, "cuda") && d.fast, "device %s fast %d", d.device, d.fast);
    // A value is the next argument whatever it looks like.
    CHECK(d.n_items == 2 && !strcmp(d.items[1], "--b"), "items %d", d.n_items);
    CHECK(d.name && !strcmp(d.name, "--fast"), "name %s", d.name ? d.name : "(null)");
    CHECK(r.out[0] == '\0' && r.err[0] == '\0', "printed '%s' '%s'", r.out, r.err);

    // Absent options keep what the caller set.
    r = parse(&d, false, ARGV("--rate", "1e-300"));
    CHECK(r.rc == -1 && d.rate == 1e-300, "rc %d rate %g", r.rc, d.rate);
    CHECK(!d.model && !strcmp(d.device, "auto") && d.count == 0 && !d.count_given && !d.fast,
          "defaults changed");
    r = parse(&d, false, ARGV("--upper", "ABC", "--count", "1", "--seed", "0"));
    CHECK(r.rc == -1 && !strcmp(d.name, "ABC") && d.count == 1 && d.seed == 0, "rc %d", r.rc);
    // The alias is the same option.
    r = parse(&d, false, ARGV("-n", "short", "m"));
    CHECK(r.rc == -1 && d.name && !strcmp(d.name, "short") && !strcmp(d.model, "m"), "rc %d", r.rc);
}

static void test_refusals(void) {
    check_refused(ARGV("m", "--count", "0"), true,
                  "--count expects an integer in 1..4096, got '0'");
    check_refused(ARGV("m", "--count", "4097"), true,
                  "--count expects an integer in 1..4096, got '4097'");
    check_refused(ARGV("m", "--count", "12x"), true,
                  "--count expects an integer in 1..4096, got '12x'");
    check_refused(ARGV("m", "--count", ""), true, "--count expects an integer in 1..4096, got ''");
    check_refused(ARGV("m", "--count", "2.0"), true,
                  "--count expects an integer in 1..4096, got '2.0'");
    check_refused(ARGV("m", "--seed", "9007199254740993"), true,
                  "--seed expects an integer in 0..9007199254740992, got '9007199254740993'");
    check_refused(ARGV("m", "--seed", "-1"), true,
                  "--seed expects an integer in 0..9007199254740992, got '-1'");
    // The open end of (0, 1] and the closed one, and what is no finite number.
    check_refused(ARGV("m", "--rate", "0"), true, "--rate expects a number in (0, 1], got '0'");
    check_refused(ARGV("m", "--rate", "1.0000001"), true,
                  "--rate expects a number in (0, 1], got '1.0000001'");
    check_refused(ARGV("m", "--rate", "nan"), true, "--rate expects a number in (0, 1], got 'nan'");
    check_refused(ARGV("m", "--temperature", "-1e-300"), true,
                  "--temperature expects a number >= 0, got '-1e-300'");
    check_refused(ARGV("m", "--temperature", "inf"), true,
                  "--temperature expects a number >= 0, got 'inf'");
    check_refused(ARGV("m", "--device", "gpu"), true,
                  "--device expects auto, cpu or cuda, got 'gpu'");
    check_refused(ARGV("m", "--upper", "abc"), true,
                  "--upper expects upper-case letters, got 'abc'");
    check_refused(ARGV("m", "--item", "a", "--item", "b", "--item", "c"), true,
                  "--item: more than 2 items at 'c'");
    check_refused(ARGV("m", "--count"), true, "--count needs a value: an integer in 1..4096");
    check_refused(ARGV("m", "--name"), true, "--name needs a value: TEXT");
    check_refused(ARGV("m", "-n"), true, "-n needs a value: TEXT");
    check_refused(ARGV("m", "--bogus"), true, "unknown option '--bogus'");
    check_refused(ARGV("m", "-"), true, "unknown option '-'");
    check_refused(ARGV("m", "n"), true, "a second MODEL 'n'");
    check_refused(ARGV("--fast"), true, "no MODEL given");
}

static void test_help(void) {
    static const char usage[] = "usage: are demo MODEL [options]\n"
                                "\n"
                                "  -n, --name TEXT   a name\n"
                                "  --count N         how many\n"
                                "                    of them\n"
                                "  --seed S          a seed\n"
                                "  --rate P          a share\n"
                                "  --temperature T   heat\n"
                                "  --device D        where\n"
                                "  --fast            hurry\n"
                                "  --item X          repeatable\n"
                                "  --upper W         shout\n"
                                "  -h, --help        this text\n"
                                "\n"
                                "the end\n";
    Demo d;
    // Help wins wherever it stands, even after an argument that would be refused.
    const char *asks[] = {"-h", "--help"};
    for (int i = 0; i < 2; i++) {
        Result r = parse(&d, true, ARGV("--count", "3", (char *)asks[i], "--bogus"));
        CHECK(r.rc == EXIT_OK, "%s: exit %d", asks[i], r.rc);
        CHECK(!strcmp(r.out, usage), "%s printed:\n%s", asks[i], r.out);
        CHECK(r.err[0] == '\0', "%s: stderr has '%s'", asks[i], r.err);
    }
    Result r = parse(&d, true, ARGV("--bogus"));
    const char *after = strchr(r.err, '\n');
    CHECK(after && !strcmp(after + 1, usage), "the usage after an error:\n%s", r.err);
}

int main(void) {
    test_values();
    test_refusals();
    test_help();
    printf("%d passed, %d failed\n", check_passed, check_failed);
    return check_failed ? 1 : 0;
}
