#include "run_args.h"

#include <stdio.h>
#include <string.h>

static bool take_set(void *dest, char *value, char *why, size_t why_len) {
    RunArgs *a = dest;
    if (!strchr(value, '=')) return false;
    if (a->n_overrides == RUN_ARGS_MAX_OVERRIDES) {
        snprintf(why, why_len, "more than %d --set options at '%s'", RUN_ARGS_MAX_OVERRIDES, value);
        return false;
    }
    a->overrides[a->n_overrides++] = value;
    return true;
}

static bool take_device(void *dest, char *value, char *why, size_t why_len) {
    RunArgs *a = dest;
    if (a->n_overrides == RUN_ARGS_MAX_OVERRIDES || a->device_override[0]) {
        snprintf(why, why_len, "a second --device or too many --set at '%s'", value);
        return false;
    }
    snprintf(a->device_override, sizeof a->device_override, "device=%s", value);
    a->overrides[a->n_overrides++] = a->device_override;
    return true;
}

Option run_option_set(RunArgs *a, const char *help) {
    return (Option){.name = "--set",
                    .kind = OPTION_CUSTOM,
                    .dest = a,
                    .value = "PATH=VALUE",
                    .help = help,
                    .take = take_set,
                    .expects = "PATH=VALUE"};
}

Option run_option_device(RunArgs *a, const char *help) {
    return (Option){.name = "--device",
                    .kind = OPTION_CUSTOM,
                    .dest = a,
                    .value = "D",
                    .help = help,
                    .take = take_device};
}
