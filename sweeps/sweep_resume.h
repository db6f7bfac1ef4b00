// Resuming a sweep: which of its trials an earlier run on the same folder finished, judged by
// what that run left there (sweep.h5's table, the finished trial files) and by the trial files
// alone, since sweep.h5 may be older than they are or gone.
//
// A trial counts as done only when its file trials/<id>.h5 reads (io/trial_summary.h, as the
// sweep's table and the analysis read it) and holds the seed the plan gives the trial now: the
// id covers the resolved config, the seed the rest of what makes the trial's numbers, so a
// sweep seed changed under --force runs every trial again instead of keeping results of the
// old seeds. Every other trial runs again, and each reason is said: a file that does not read,
// one of another seed, a file gone that sweep.h5 says is done. Trials that sweep.h5 says were
// running when the earlier run stopped (its job was killed, a rank died) are marked failed with
// "interrupted: ..." until they start again, and counted.
#ifndef ARE_SWEEP_RESUME_H
#define ARE_SWEEP_RESUME_H

#include "sweep_spec.h"
#include "sweep_store.h"

#include <stdbool.h>
#include <stdio.h>

// Fills t, the fresh table of plan's trials (sweep_table_set_trial done for every row), with
// what the earlier run on run_dir finished: old is its sweep.h5 (NULL when there is none) and
// is changed (rows whose files fail the checks lose their done status). Deletes the leftover
// trials/<id>.h5.tmp of every trial that runs again. With list_strays (a sweep run on a folder
// of another config), also lists the trial files and adapters of trials not in plan, which are
// kept. Notes go to notes, one line each, prefixed with "are sweep: ". Returns the number of
// trials carried over as done, or -1 with the reason in err.
int sweep_resume(SweepTable *t, const SweepPlan *plan, SweepTable *old, const char *run_dir,
                 bool list_strays, FILE *notes, char *err, size_t err_len);

#endif
