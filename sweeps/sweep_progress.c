// What rank 0 tells the person running a sweep; see sweep_progress.h.
#include "sweep_progress.h"

#include "duration_text.h"
#include "trial_summary_names.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

// The ETA spreads the mean time of the trials finished in this run over the trials left and the
// workers.
int sweep_progress_status(const SweepQueue *q, char *out, size_t len) {
    char eta[32] = "?";
    int finished = q->next - q->running, left = q->n_queue - q->next + q->running;
    if (left == 0)
        snprintf(eta, sizeof eta, "0m00s");
    else if (finished > 0 && q->workers > 0)
        duration_text(q->work_seconds / finished * left / q->workers, eta, sizeof eta);
    return snprintf(out, len, "[%d/%d done, %d running, %d failed, ETA %s]", q->done, q->total,
                    q->running, q->failed, eta);
}

// In a log (stderr not a terminal) there is no status line, only the lines of finished trials.
void sweep_progress_show(const SweepQueue *q) {
    if (!isatty(STDERR_FILENO)) return;
    char status[256];
    sweep_progress_status(q, status, sizeof status);
    fprintf(stderr, "\r\033[K%s", status);
    fflush(stderr);
}

void sweep_progress_clear(void) {
    if (isatty(STDERR_FILENO)) fputs("\r\033[K", stderr);
}

void sweep_progress_trial(const SweepQueue *q, int index, const TrialReport *r) {
    // One write per line, so that lines of other processes never cut into it.
    char line[2048];
    int at = sweep_progress_status(q, line, sizeof line);
    const SweepTrial *t = &q->plan->trials[index];
    at += snprintf(line + at, sizeof line - (size_t)at, " trial %d %s %s in %.0fs", index, t->id,
                   r->done ? "done" : "FAILED", r->seconds);
    if (!r->done) at += snprintf(line + at, sizeof line - (size_t)at, ": %s", r->error);
    for (int k = 0; k < r->summary.n && at < (int)sizeof line; k++)
        if (strstr(r->summary.names[k], SUMMARY_EDITED) == r->summary.names[k] &&
            strstr(r->summary.names[k], METRIC_REFUSAL_RATE))
            at += snprintf(line + at, sizeof line - (size_t)at, "  %s %.3f",
                           r->summary.names[k] + strlen(SUMMARY_EDITED), r->summary.values[k]);
    sweep_progress_clear();
    fprintf(stderr, "%s\n", line);
    sweep_progress_show(q);
}

void sweep_progress_summary(const SweepQueue *q) {
    printf("\n%-4s %-16s %-7s %8s  %s\n", "#", "trial", "status", "seconds", "params");
    for (int i = 0; i < q->plan->n; i++) {
        const SweepRow *r = &q->table->rows[i];
        printf("%-4d %-16s %-7s %8.1f  %s\n", i, r->id, sweep_status_names[r->status],
               isnan(r->seconds) ? 0.0 : r->seconds, r->params);
    }
    printf("\n%d done, %d failed, %d not run; sweep.h5 and trial files in %s\n", q->done, q->failed,
           q->total - q->done - q->failed, q->run_dir);
}
