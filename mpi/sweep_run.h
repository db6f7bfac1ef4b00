// `are sweep`: rank 0 keeps the queue of trials and the sweep's table (sweep.h5), and hands
// trials to the worker ranks as they become idle; workers run them and report small
// summaries. Alone (no mpirun, or one rank) the one process runs every trial itself.
#ifndef ARE_SWEEP_RUN_H
#define ARE_SWEEP_RUN_H

#include <stdbool.h>

typedef struct {
    const char *config_path;
    const char *const *overrides;
    int n_overrides;
    bool force;       // run on a folder whose sweep.h5 holds another config
    bool fail_fast;   // stop handing out trials after the first failure
    int max_failures; // stop handing out trials after this many failures (0: no limit)
    int threads;      // per rank; 0: the node's cores split among the computing ranks
    bool use_mpi;     // MPI is initialised (launched by mpirun)
} SweepOptions;

// Runs the sweep; collective over MPI_COMM_WORLD when use_mpi. Returns an exit code of
// exit_codes.h: EXIT_OK when every trial is done, EXIT_FAILED when a trial failed or the sweep
// could not run (the reason on stderr).
int sweep_run(const SweepOptions *o);

#endif
