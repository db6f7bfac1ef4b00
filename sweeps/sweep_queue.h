// Rank 0's bookkeeping of a sweep, apart from how trials travel: the table of trials (sweep.h5)
// built from the plan and what an earlier run on the folder finished (sweep_resume.h), the queue
// of trials still to run in the plan's order, and the counts the progress line shows. The same
// for a sweep over MPI and for one process running every trial itself (mpi/sweep_run.c).
#ifndef ARE_SWEEP_QUEUE_H
#define ARE_SWEEP_QUEUE_H

#include "sweep_spec.h"
#include "sweep_store.h"
#include "trial_summary.h"

#include <stdbool.h>

// What running one trial came to, as a worker reports it.
typedef struct {
    bool done; // else failed
    double seconds;
    char error[512];
    char device[64];
    TrialSummary summary;
} TrialReport;

// What the command line says that the bookkeeping needs.
typedef struct {
    const char *config_path;      // the sweep file, for messages
    const char *const *overrides; // the command line's --set: part of what makes the sweep
    int n_overrides;
    bool force;          // go on over a sweep.h5 of another config
    int max_failures;    // stop handing out trials after this many failures (0: never)
    const char *version; // the are version sweep.h5 records
} SweepQueueOptions;

typedef struct {
    const SweepPlan *plan;
    const char *run_dir;
    int max_failures;
    SweepTable *table;
    char *config_record; // the sweep file's text and the command line's overrides
    int *queue;          // plan indices still to run, in the order to hand them out
    int n_queue, next;
    int running, done, failed, total;
    double work_seconds; // the sum of the finished trials' seconds
    int workers;         // ranks that run trials (the process itself when alone); set by the caller
    bool stopping;       // max_failures reached
} SweepQueue;

// Builds the table of plan's trials in run_dir (whose trials/ folder exists), carries over
// what an earlier run there finished, queues the rest (deleting their stale files), says so in
// one line on stderr and writes sweep.h5. run_dir and plan must outlive q. Returns 0, or -1
// with err (a sweep.h5 of another config without force among the reasons).
int sweep_queue_open(SweepQueue *q, const SweepPlan *plan, const char *run_dir,
                     const SweepQueueOptions *o, char *err, size_t err_len);

// The next trial to hand out, or -1 when the queue is empty or the sweep is stopping.
int sweep_queue_next(SweepQueue *q);

// Trial index starts on host's rank (device "cpu", "cuda:0", ...): recorded in sweep.h5.
// Returns 0, or -1 with err when sweep.h5 cannot be written.
int sweep_queue_start(SweepQueue *q, int index, const char *host, int rank, const char *device,
                      char *err, size_t err_len);

// Trial index ended as r says: recorded in sweep.h5 and reported in one line on stderr.
// Returns 0, or -1 with err when sweep.h5 cannot be written.
int sweep_queue_finish(SweepQueue *q, int index, const TrialReport *r, char *err, size_t err_len);

// Whether every trial of the plan is done.
bool sweep_queue_all_done(const SweepQueue *q);

void sweep_queue_close(SweepQueue *q);

#endif
