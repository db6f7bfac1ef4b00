// The command line shared by the commands that take a trial config (`are run`, `are
// evaluate`, `are sweep`): CONFIG, repeatable --set PATH=VALUE overrides, --threads, --device D
// (the same as --set device=D, so that the trial's config records it), and per command
// --adapter, --steer and --show, or the sweep's --dry-run, --force, --fail-fast and --max-failures.
#ifndef ARE_RUN_ARGS_H
#define ARE_RUN_ARGS_H

#include <stdbool.h>

#define RUN_ARGS_MAX_OVERRIDES 64

enum { RUN_ARGS_ADAPTER = 1, RUN_ARGS_SHOW = 2, RUN_ARGS_SWEEP = 4, RUN_ARGS_STEER = 8 };

typedef struct {
    const char *config;
    const char *overrides[RUN_ARGS_MAX_OVERRIDES];
    int n_overrides;
    const char *adapter;            // NULL when not given
    const char *steer;              // --steer TRIAL_FILE; NULL when not given
    int show;                       // answers to print per set
    int threads;                    // 0: not given
    char device_override[32];       // "device=D" for --device D, one of overrides
    bool dry_run, force, fail_fast; // the sweep's flags
    int max_failures;               // the sweep's --max-failures; 0: not given
} RunArgs;

// Parses argv (argv[0] = the command name) allowing the options in `allowed`. Returns -1 to go
// on, or the exit code to return at once (after --help, or a usage error printed to stderr).
int run_args_parse(int argc, char **argv, const char *command, const char *usage, int allowed,
                   RunArgs *a);

#endif
