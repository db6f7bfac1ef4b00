#include "run_args.h"

#include "cli_args.h"
#include "commands.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static int usage_error(const char *command, const char *usage, const char *what, const char *arg) {
    fprintf(stderr, "are %s: %s '%s'\n%s", command, what, arg, usage);
    return EXIT_USAGE;
}

int run_args_parse(int argc, char **argv, const char *command, const char *usage, int allowed,
                   RunArgs *a) {
    *a = (RunArgs){0};
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (opt[0] != '-') {
            if (a->config) return usage_error(command, usage, "a second CONFIG", opt);
            a->config = opt;
            continue;
        }
        bool sweep = allowed & RUN_ARGS_SWEEP;
        bool *flag = !sweep                        ? NULL
                     : !strcmp(opt, "--dry-run")   ? &a->dry_run
                     : !strcmp(opt, "--force")     ? &a->force
                     : !strcmp(opt, "--fail-fast") ? &a->fail_fast
                                                   : NULL;
        if (flag) {
            *flag = true;
            continue;
        }
        bool known = !strcmp(opt, "--set") || !strcmp(opt, "--threads") ||
                     !strcmp(opt, "--device") ||
                     (!strcmp(opt, "--adapter") && (allowed & RUN_ARGS_ADAPTER)) ||
                     (!strcmp(opt, "--steer") && (allowed & RUN_ARGS_STEER)) ||
                     (!strcmp(opt, "--show") && (allowed & RUN_ARGS_SHOW)) ||
                     (!strcmp(opt, "--max-failures") && sweep);
        if (!known) return usage_error(command, usage, "unknown option", opt);
        if (i + 1 == argc) return usage_error(command, usage, "missing value after", opt);
        const char *value = argv[++i];
        long long n;
        if (!strcmp(opt, "--set")) {
            if (!strchr(value, '='))
                return usage_error(command, usage, "--set expects PATH=VALUE, got", value);
            if (a->n_overrides == RUN_ARGS_MAX_OVERRIDES)
                return usage_error(command, usage, "more than 64 --set options at", value);
            a->overrides[a->n_overrides++] = value;
        } else if (!strcmp(opt, "--device")) {
            if (a->n_overrides == RUN_ARGS_MAX_OVERRIDES || a->device_override[0])
                return usage_error(command, usage, "a second --device or too many --set at", value);
            snprintf(a->device_override, sizeof a->device_override, "device=%s", value);
            a->overrides[a->n_overrides++] = a->device_override;
        } else if (!strcmp(opt, "--adapter")) {
            a->adapter = value;
        } else if (!strcmp(opt, "--steer")) {
            a->steer = value;
        } else if (!strcmp(opt, "--max-failures")) {
            if (!parse_int_arg(value, 1, 1 << 30, &n))
                return usage_error(command, usage, "--max-failures expects a positive integer, got",
                                   value);
            a->max_failures = (int)n;
        } else if (!strcmp(opt, "--show")) {
            if (!parse_int_arg(value, 0, 1 << 20, &n))
                return usage_error(command, usage, "--show expects a count >= 0, got", value);
            a->show = (int)n;
        } else {
            if (!parse_int_arg(value, 1, 4096, &n))
                return usage_error(command, usage, "--threads expects an integer in 1..4096, got",
                                   value);
            a->threads = (int)n;
        }
    }
    if (!a->config) {
        fprintf(stderr, "are %s: no CONFIG given\n%s", command, usage);
        return EXIT_USAGE;
    }
    return -1;
}
