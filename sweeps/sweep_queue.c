// Rank 0's bookkeeping of a sweep; see sweep_queue.h.
#include "sweep_queue.h"

#include "fault_point.h"
#include "sweep_progress.h"
#include "sweep_resume.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

// The wall clock sweep.h5 records trials' starts and ends on (the monotonic one has no date).
static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The table of the plan's trials, and what makes this sweep: the file and the command line's
// overrides, so that a rerun with another --set is a different sweep too (output.dir says
// where, not what: left out).
static int new_table(SweepQueue *q, const SweepQueueOptions *o, char *err, size_t err_len) {
    const SweepPlan *plan = q->plan;
    size_t len = strlen(plan->config_text) + 1;
    for (int i = 0; i < o->n_overrides; i++) len += strlen(o->overrides[i]) + 16;
    if (!(q->config_record = malloc(len))) return snprintf(err, err_len, "out of memory"), -1;
    size_t at = (size_t)snprintf(q->config_record, len, "%s", plan->config_text);
    for (int i = 0; i < o->n_overrides; i++)
        if (strncmp(o->overrides[i], "output.dir=", 11) != 0)
            at +=
                (size_t)snprintf(q->config_record + at, len - at, "\n# --set %s", o->overrides[i]);
    const char *name = strrchr(q->run_dir, '/') ? strrchr(q->run_dir, '/') + 1 : q->run_dir;
    q->table = sweep_table_new(name, o->version, q->config_record, plan->n);
    if (!q->table) return snprintf(err, err_len, "out of memory"), -1;
    for (int i = 0; i < plan->n; i++) {
        const SweepTrial *t = &plan->trials[i];
        char params[4096] = "";
        for (int k = 0, at = 0; k < t->n_overrides && at < (int)sizeof params; k++)
            at += snprintf(params + at, sizeof params - (size_t)at, "%s%s", k ? "; " : "",
                           t->overrides[k]);
        if (sweep_table_set_trial(q->table, i, t->id, t->repeat, params, t->seed) < 0)
            return snprintf(err, err_len, "out of memory"), -1;
    }
    return 0;
}

// Resume: what sweep.h5 says is done, and what finished trial files say when the sweep
// stopped between a trial's end and the table's update (or before any update).
static int resume(SweepQueue *q, const SweepQueueOptions *o, char *err, size_t err_len) {
    SweepTable *old = NULL;
    int found = sweep_store_read(q->run_dir, &old, err, err_len);
    if (found < 0) return -1;
    bool forced = false;
    if (found && sweep_store_check_config(old, q->config_record, q->run_dir, o->config_path, err,
                                          err_len) < 0) {
        if (!o->force) {
            sweep_table_free(old);
            size_t used = strlen(err);
            snprintf(err + used, err_len - used, " (--force runs it anyway)");
            return -1;
        }
        fprintf(stderr, "are sweep: %s; going on as --force says\n", err);
        forced = true;
    }
    int carried = sweep_resume(q->table, q->plan, old, q->run_dir, forced, stderr, err, err_len);
    sweep_table_free(old);
    return carried < 0 ? -1 : 0;
}

int sweep_queue_open(SweepQueue *q, const SweepPlan *plan, const char *run_dir,
                     const SweepQueueOptions *o, char *err, size_t err_len) {
    *q = (SweepQueue){.plan = plan, .run_dir = run_dir, .max_failures = o->max_failures};
    if (new_table(q, o, err, err_len) < 0 || resume(q, o, err, err_len) < 0) return -1;
    q->queue = malloc((size_t)(plan->n + 1) * sizeof *q->queue);
    if (!q->queue) return snprintf(err, err_len, "out of memory"), -1;
    for (int k = 0; k < plan->n; k++) {
        int i = plan->order[k];
        if (q->table->rows[i].status == SWEEP_DONE) {
            q->done++;
            continue;
        }
        if (sweep_store_remove_stale_trial(run_dir, plan->trials[i].id, err, err_len) < 0)
            return -1;
        q->queue[q->n_queue++] = i;
    }
    q->total = plan->n;
    fprintf(stderr, "are sweep: %d trials in %s, %d already done, %d to run\n", plan->n, run_dir,
            q->done, q->n_queue);
    return sweep_store_write(q->table, run_dir, err, err_len);
}

int sweep_queue_next(SweepQueue *q) {
    if (q->stopping || q->next == q->n_queue) return -1;
    return q->queue[q->next++];
}

int sweep_queue_start(SweepQueue *q, int index, const char *host, int rank, const char *device,
                      char *err, size_t err_len) {
    sweep_table_start(q->table, index, host, rank, device, wall_now());
    q->running++;
    int rc = sweep_store_write(q->table, q->run_dir, err, err_len);
    fault_point("trial_started"); // sweep.h5 says running, nothing of the trial written yet
    sweep_progress_show(q);
    return rc;
}

int sweep_queue_finish(SweepQueue *q, int index, const TrialReport *r, char *err, size_t err_len) {
    q->running--;
    q->work_seconds += r->seconds;
    if (r->done) {
        const char *names[TRIAL_SUMMARY_MAX];
        for (int k = 0; k < r->summary.n; k++) names[k] = r->summary.names[k];
        sweep_table_set_metrics(q->table, index, names, r->summary.values, r->summary.n);
        q->done++;
    } else {
        q->failed++;
        if (q->max_failures > 0 && q->failed >= q->max_failures) q->stopping = true;
    }
    sweep_table_finish(q->table, index, r->done ? SWEEP_DONE : SWEEP_FAILED, wall_now(), r->seconds,
                       r->done ? "" : r->error);
    if (sweep_store_write(q->table, q->run_dir, err, err_len) < 0) return -1;
    fault_point("trial_recorded"); // sweep.h5 has the trial, the next not handed out yet
    sweep_progress_trial(q, index, r);
    return 0;
}

bool sweep_queue_all_done(const SweepQueue *q) {
    return q->failed == 0 && q->done >= q->total;
}

void sweep_queue_close(SweepQueue *q) {
    sweep_table_free(q->table);
    free(q->queue);
    free(q->config_record);
}
