// The command line shared by the commands that take a trial config (`are run`, `are
// evaluate`, `are sweep`): CONFIG, repeatable --set PATH=VALUE overrides, --threads, --device D
// (the same as --set device=D, so that the trial's config records it), and per command
// --adapter, --steer and --show, or the sweep's --dry-run, --force, --fail-fast and --max-failures.
// `are pretrain` takes its CONFIG, --set and --threads from here too.
// Each command lists the options it takes in its own table (cli_args.h), with run_option_set
// and run_option_device for the two that add overrides.
#ifndef ARE_RUN_ARGS_H
#define ARE_RUN_ARGS_H

#include "cli_args.h"

#include <stdbool.h>

#define RUN_ARGS_MAX_OVERRIDES 64

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

// --set PATH=VALUE into a's overrides, with the command's help line.
Option run_option_set(RunArgs *a, const char *help);
// --device D into a's overrides as device=D, with the command's help line.
Option run_option_device(RunArgs *a, const char *help);

#endif
