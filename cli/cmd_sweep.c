// `are sweep CONFIG`: every trial of the config's sweep block, across the ranks of an MPI job
// or alone in one process, resumable.
#include "commands.h"
#include "placement.h"
#include "run_args.h"
#include "sweep_run.h"
#include "sweep_spec.h"

#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char synopsis[] =
    "usage: are sweep CONFIG [options]\n"
    "       mpirun -np N are sweep CONFIG [options]\n"
    "\n"
    "Runs every trial of CONFIG's sweep block (a trial config plus `sweep = { ... }`, see\n"
    "README, \"Sweeps\"). Under mpirun, rank 0 hands trials to the other ranks, longest first,\n"
    "and keeps OUTPUT/sweep.h5 (OUTPUT is the config's output.dir) up to date after every\n"
    "trial; alone, the process runs them itself. Rerunning the same command on the same folder\n"
    "skips the trials already done and runs the rest.\n"
    "\n";

int cmd_sweep(int argc, char **argv) {
    RunArgs args = {0};
    const Option options[] = {
        {"--dry-run", OPTION_FLAG, &args.dry_run, NULL,
         .help = "print the expanded trial table (index, id, repeat, seed, values) and exit"},
        run_option_set(&args, "override a config field for every trial (repeatable)"),
        {"--force", OPTION_FLAG, &args.force, NULL,
         .help = "run on a folder whose sweep.h5 was made by another config (trials\n"
                 "whose files hold another seed run again; files of trials no longer\n"
                 "in the sweep are listed and kept)"},
        {"--fail-fast", OPTION_FLAG, &args.fail_fast, NULL,
         .help = "hand out no more trials after the first failure"},
        {"--max-failures", OPTION_INT, &args.max_failures, "N",
         .help = "hand out no more trials after N failures", .lo = 1, .hi = 1 << 30,
         .expects = "a positive integer"},
        option_threads(&args.threads,
                       "CPU threads per rank (default: the node's cores split among ranks)"),
        run_option_device(&args,
                          "auto, cpu or cuda: --set device=D (auto: each rank's GPU when the node\n"
                          "has GPUs, picked by node-local rank)"),
    };
    CommandLine cl = {"sweep",
                      synopsis,
                      .epilogue = "\nexit codes: 0 every trial done, 1 a trial failed or the sweep "
                                  "could not run, 2 bad\ncommand line\n",
                      .operand = "CONFIG",
                      .operand_value = &args.config,
                      .operand_required = true,
                      .options = options,
                      .n_options = (int)(sizeof options / sizeof options[0])};
    int rc = cli_parse(&cl, argc, argv);
    if (rc >= 0) return rc;
    SweepOptions o = {.use_mpi = placement_launched_by_mpirun(),
                      .config_path = args.config,
                      .overrides = args.overrides,
                      .n_overrides = args.n_overrides,
                      .force = args.force,
                      .fail_fast = args.fail_fast,
                      .max_failures = args.max_failures,
                      .threads = args.threads};
    if (args.dry_run) { // rank 0's table only; the other ranks of a job have nothing to do
        if (o.use_mpi) {
            int rank;
            MPI_Comm_rank(MPI_COMM_WORLD, &rank);
            if (rank != 0) return EXIT_OK;
        }
        SweepPlan plan;
        char err[1024];
        if (sweep_plan_load(&plan, o.config_path, o.overrides, o.n_overrides, err, sizeof err) <
            0) {
            fprintf(stderr, "are sweep: %s\n", err);
            return EXIT_FAILED;
        }
        sweep_plan_print(stdout, &plan);
        sweep_plan_free(&plan);
        return EXIT_OK;
    }
    return sweep_run(&o);
}
