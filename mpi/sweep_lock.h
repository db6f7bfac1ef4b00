// A sweep's hold on its run folder: one sweep at a time, and none while a rank of an earlier
// sweep still works there (a killed job's ranks can outlive its rank 0 for a while).
//
//   OUTPUT/sweep.lock        rank 0 (or the lone process) holds it exclusively for the whole run,
//                            so that a second sweep's rank 0 is refused;
//   OUTPUT/sweep.ranks.lock  every rank holds it shared while the sweep runs; rank 0 takes it
//                            exclusively for an instant before its workers start, so that a
//                            sweep is refused while any rank of an earlier one still holds it.
//
// Both are flock(2) locks: the kernel releases them when the process ends, however it ends, and
// the files themselves stay (empty). A rank of an MPI job also dies with its launcher
// (sweep_lock_die_with_launcher), so that a killed mpirun does not leave ranks computing.
#ifndef ARE_SWEEP_LOCK_H
#define ARE_SWEEP_LOCK_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    int folder_fd, ranks_fd; // -1 when not held
} SweepLock;

#define SWEEP_LOCK_NONE ((SweepLock){-1, -1})

// Rank 0 (orchestrator true): both locks, after checking that no rank of another sweep holds
// the ranks' lock. A worker: the ranks' lock, shared. run_dir must exist. Returns 0, or -1
// with "path: who holds it" in err (and nothing held).
int sweep_lock_take(SweepLock *l, const char *run_dir, bool orchestrator, char *err,
                    size_t err_len);
void sweep_lock_release(SweepLock *l);

// Has the kernel kill this process (SIGKILL) when its parent, the launcher (mpirun, Open MPI's
// orted or Slurm's step daemon), dies; if the launcher is already gone, dies at once. For a
// rank of an MPI job only: a process started from a shell would die with the shell.
void sweep_lock_die_with_launcher(void);

#endif
