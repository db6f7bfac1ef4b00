// `are sweep CONFIG`: every trial of the config's sweep block, across the ranks of an MPI job
// or alone in one process, resumable.
#include "cli_args.h"
#include "commands.h"
#include "placement.h"
#include "sweep_run.h"
#include "sweep_spec.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_OVERRIDES 64

static const char usage[] =
    "usage: are sweep CONFIG [options]\n"
    "       mpirun -np N are sweep CONFIG [options]\n"
    "\n"
    "Runs every trial of CONFIG's sweep block (a trial config plus `sweep = { ... }`, see\n"
    "README, \"Sweeps\"). Under mpirun, rank 0 hands trials to the other ranks, longest first,\n"
    "and keeps OUTPUT/sweep.h5 (OUTPUT is the config's output.dir) up to date after every\n"
    "trial; alone, the process runs them itself. Rerunning the same command on the same folder\n"
    "skips the trials already done and runs the rest.\n"
    "\n"
    "  --dry-run          print the expanded trial table (index, id, repeat, seed, values) and "
    "exit\n"
    "  --set PATH=VALUE   override a config field for every trial (repeatable)\n"
    "  --force            run on a folder whose sweep.h5 was made by another config\n"
    "  --fail-fast        hand out no more trials after the first failure\n"
    "  --max-failures N   hand out no more trials after N failures\n"
    "  --threads N        CPU threads per rank (default: the node's cores split among ranks)\n"
    "  --device D         auto, cpu or cuda: --set device=D (auto: each rank's GPU when the node\n"
    "                     has GPUs, picked by node-local rank)\n"
    "  -h, --help         this text\n"
    "\n"
    "exit codes: 0 every trial done, 1 a trial failed or the sweep could not run, 2 bad\n"
    "command line\n";

int cmd_sweep(int argc, char **argv) {
    SweepOptions o = {.use_mpi = placement_launched_by_mpirun()};
    const char *overrides[MAX_OVERRIDES];
    char device_override[32] = "";
    bool dry_run = false;
    for (int i = 1; i < argc; i++) {
        const char *opt = argv[i];
        if (!strcmp(opt, "-h") || !strcmp(opt, "--help")) {
            fputs(usage, stdout);
            return EXIT_OK;
        }
        if (opt[0] != '-') {
            if (o.config_path) {
                fprintf(stderr, "are sweep: a second CONFIG '%s'\n%s", opt, usage);
                return EXIT_USAGE;
            }
            o.config_path = opt;
        } else if (!strcmp(opt, "--dry-run")) {
            dry_run = true;
        } else if (!strcmp(opt, "--force")) {
            o.force = true;
        } else if (!strcmp(opt, "--fail-fast")) {
            o.fail_fast = true;
        } else if (i + 1 < argc && (!strcmp(opt, "--set") || !strcmp(opt, "--max-failures") ||
                                    !strcmp(opt, "--threads") || !strcmp(opt, "--device"))) {
            const char *value = argv[++i];
            long long n;
            if (!strcmp(opt, "--device")) {
                if (device_override[0] || o.n_overrides == MAX_OVERRIDES) {
                    fprintf(stderr, "are sweep: a second --device, or too many --set, at '%s'\n",
                            value);
                    return EXIT_USAGE;
                }
                snprintf(device_override, sizeof device_override, "device=%s", value);
                overrides[o.n_overrides++] = device_override;
            } else if (!strcmp(opt, "--set")) {
                if (!strchr(value, '=') || o.n_overrides == MAX_OVERRIDES) {
                    fprintf(stderr, "are sweep: --set expects PATH=VALUE, got '%s'\n", value);
                    return EXIT_USAGE;
                }
                overrides[o.n_overrides++] = value;
            } else if (!parse_int_arg(value, 1, !strcmp(opt, "--threads") ? 4096 : 1 << 30, &n)) {
                fprintf(stderr, "are sweep: %s expects a positive integer, got '%s'\n", opt, value);
                return EXIT_USAGE;
            } else if (!strcmp(opt, "--threads")) {
                o.threads = (int)n;
            } else {
                o.max_failures = (int)n;
            }
        } else {
            fprintf(stderr, "are sweep: unknown option or missing value: '%s'\n%s", opt, usage);
            return EXIT_USAGE;
        }
    }
    if (!o.config_path) {
        fprintf(stderr, "are sweep: no CONFIG given\n%s", usage);
        return EXIT_USAGE;
    }
    o.overrides = overrides;
    if (dry_run) { // rank 0's table only; the other ranks of a job have nothing to do
        if (o.use_mpi) {
            int rank;
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
            if (rank != 0) return EXIT_OK;
        }
        SweepPlan plan;
        char err[1024];
        if (sweep_plan_load(&plan, o.config_path, overrides, o.n_overrides, err, sizeof err) < 0) {
            fprintf(stderr, "are sweep: %s\n", err);
            return EXIT_FAILED;
        }
        sweep_plan_print(stdout, &plan);
        sweep_plan_free(&plan);
        return EXIT_OK;
    }
    return sweep_run(&o);
}
