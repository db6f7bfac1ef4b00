// What rank 0 tells the person running a sweep: the status "[done/total, running, failed, ETA]",
// kept at the bottom of a terminal and rewritten in place as trials start and end; one line per
// finished trial (the only lines in a log, when stderr is not a terminal); and the table of
// every trial at the end.
#ifndef ARE_SWEEP_PROGRESS_H
#define ARE_SWEEP_PROGRESS_H

#include "sweep_queue.h"

#include <stddef.h>

// The status into out (len bytes); returns its length as snprintf does.
int sweep_progress_status(const SweepQueue *q, char *out, size_t len);

// On a terminal, the status line written over the last one.
void sweep_progress_show(const SweepQueue *q);
// On a terminal, the status line erased.
void sweep_progress_clear(void);

// The line of trial index, just finished as r says, then the status again.
void sweep_progress_trial(const SweepQueue *q, int index, const TrialReport *r);

// Every trial with its status, seconds and parameters, and the counts, on stdout.
void sweep_progress_summary(const SweepQueue *q);

#endif
