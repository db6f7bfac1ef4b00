#include "sweep_run.h"

#include "are_config.h"
#include "exit_codes.h"
#include "fault_point.h"
#include "fs.h"
#include "placement.h"
#include "sweep_lock.h"
#include "sweep_resume.h"
#include "sweep_store.h"
#include "sweep_worker.h"
#include "trial_file_names.h"

#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

// Messages between rank 0 and the workers. A worker says READY once, then RESULT after each
// trial; rank 0 answers each with TRIAL (the plan index, or -1: stop).
enum { TAG_READY = 1, TAG_TRIAL, TAG_RESULT };
#define READY_MAX  384
#define RESULT_MAX (TRIAL_SUMMARY_MAX * (TRIAL_SUMMARY_NAME_MAX + 32) + 1024)

typedef struct {
    const SweepOptions *o;
    SweepPlan plan;
    SweepTable *table;
    char run_dir[ARE_PATH_MAX];
    char *config_record; // the sweep file's text and the command line's overrides
    SweepLock lock;      // this rank's hold on the run folder
    int *queue;          // plan indices still to run, in the order to hand them out
    int n_queue, next;
    int running, done, failed, total;
    double start, work_seconds; // wall clock, and the sum of finished trials' seconds
    int workers;                // ranks that run trials (the process itself when alone)
    bool stopping;              // fail_fast or max_failures reached
} Sweep;

static double wall_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// --- every rank: the plan and the folder -------------------------------------------------------

// The plan, and the run folder (the base config's output.dir) into s->run_dir.
static int load_plan(Sweep *s, char *err, size_t err_len) {
    const SweepOptions *o = s->o;
    if (sweep_plan_load(&s->plan, o->config_path, o->overrides, o->n_overrides, err, err_len) < 0)
        return -1;
    AreConfig *base = malloc(sizeof *base);
    if (!base) return snprintf(err, err_len, "out of memory"), -1;
    int rc = sweep_trial_config(o->config_path, o->overrides, o->n_overrides, &s->plan, NULL, base,
                                err, err_len);
    if (rc == 0) snprintf(s->run_dir, sizeof s->run_dir, "%s", base->output_dir);
    free(base);
    return rc;
}

// --- rank 0: the table and resume ----------------------------------------------------------------

static int open_run(Sweep *s, char *err, size_t err_len) {
    const SweepOptions *o = s->o;
    if (load_plan(s, err, err_len) < 0) return -1;
    char trials[ARE_PATH_MAX + 16];
    snprintf(trials, sizeof trials, "%s/trials", s->run_dir);
    if (make_dirs(trials, err, err_len) < 0) return -1;
    // One sweep per folder at a time, and none while ranks of a killed job still write there:
    // they would race with it.
    if (sweep_lock_take(&s->lock, s->run_dir, true, err, err_len) < 0) return -1;

    // What makes this sweep: the file and the command line's overrides, so that a rerun with
    // another --set is a different sweep too (output.dir says where, not what: left out).
    size_t len = strlen(s->plan.config_text) + 1;
    for (int i = 0; i < o->n_overrides; i++) len += strlen(o->overrides[i]) + 16;
    if (!(s->config_record = malloc(len))) return snprintf(err, err_len, "out of memory"), -1;
    size_t at = (size_t)snprintf(s->config_record, len, "%s", s->plan.config_text);
    for (int i = 0; i < o->n_overrides; i++)
        if (strncmp(o->overrides[i], "output.dir=", 11) != 0)
            at +=
                (size_t)snprintf(s->config_record + at, len - at, "\n# --set %s", o->overrides[i]);
    const char *name = strrchr(s->run_dir, '/') ? strrchr(s->run_dir, '/') + 1 : s->run_dir;
    s->table = sweep_table_new(name, ARE_VERSION, s->config_record, s->plan.n);
    if (!s->table) return snprintf(err, err_len, "out of memory"), -1;
    for (int i = 0; i < s->plan.n; i++) {
        const SweepTrial *t = &s->plan.trials[i];
        char params[4096] = "";
        for (int k = 0, at = 0; k < t->n_overrides && at < (int)sizeof params; k++)
            at += snprintf(params + at, sizeof params - (size_t)at, "%s%s", k ? "; " : "",
                           t->overrides[k]);
        if (sweep_table_set_trial(s->table, i, t->id, t->repeat, params, t->seed) < 0)
            return snprintf(err, err_len, "out of memory"), -1;
    }

    // Resume: what sweep.h5 says is done, and what finished trial files say when the sweep
    // stopped between a trial's end and the table's update (or before any update).
    SweepTable *old = NULL;
    int found = sweep_store_read(s->run_dir, &old, err, err_len);
    if (found < 0) return -1;
    bool forced = false;
    if (found && sweep_store_check_config(old, s->config_record, s->run_dir, o->config_path, err,
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
    int carried = sweep_resume(s->table, &s->plan, old, s->run_dir, forced, stderr, err, err_len);
    sweep_table_free(old);
    if (carried < 0) return -1;

    s->queue = malloc((size_t)(s->plan.n + 1) * sizeof *s->queue);
    if (!s->queue) return snprintf(err, err_len, "out of memory"), -1;
    for (int k = 0; k < s->plan.n; k++) {
        int i = s->plan.order[k];
        if (s->table->rows[i].status == SWEEP_DONE) {
            s->done++;
            continue;
        }
        if (sweep_store_remove_stale_trial(s->run_dir, s->plan.trials[i].id, err, err_len) < 0)
            return -1;
        s->queue[s->n_queue++] = i;
    }
    s->total = s->plan.n;
    fprintf(stderr, "are sweep: %d trials in %s, %d already done, %d to run\n", s->plan.n,
            s->run_dir, s->done, s->n_queue);
    return sweep_store_write(s->table, s->run_dir, err, err_len);
}

// --- rank 0: progress --------------------------------------------------------------------------

static void format_duration(double seconds, char *out, size_t len) {
    long s = (long)(seconds + 0.5);
    if (s >= 3600)
        snprintf(out, len, "%ldh%02ldm", s / 3600, s / 60 % 60);
    else
        snprintf(out, len, "%ldm%02lds", s / 60, s % 60);
}

// "[done/total, running, failed, ETA]": the ETA spreads the mean time of the trials finished
// in this run over the trials left and the workers.
static int format_status(const Sweep *s, char *out, size_t len) {
    char eta[32] = "?";
    int finished = s->next - s->running, left = s->n_queue - s->next + s->running;
    if (left == 0)
        snprintf(eta, sizeof eta, "0m00s");
    else if (finished > 0 && s->workers > 0)
        format_duration(s->work_seconds / finished * left / s->workers, eta, sizeof eta);
    return snprintf(out, len, "[%d/%d done, %d running, %d failed, ETA %s]", s->done, s->total,
                    s->running, s->failed, eta);
}

static void print_summary_table(const Sweep *s) {
    printf("\n%-4s %-16s %-7s %8s  %s\n", "#", "trial", "status", "seconds", "params");
    for (int i = 0; i < s->plan.n; i++) {
        const SweepRow *r = &s->table->rows[i];
        printf("%-4d %-16s %-7s %8.1f  %s\n", i, r->id, sweep_status_names[r->status],
               isnan(r->seconds) ? 0.0 : r->seconds, r->params);
    }
    printf("\n%d done, %d failed, %d not run; sweep.h5 and trial files in %s\n", s->done, s->failed,
           s->total - s->done - s->failed, s->run_dir);
}

// On a terminal, a status line kept at the bottom and rewritten in place as trials start and
// end; in a log (stderr not a terminal), only the lines of finished trials.
static void show_status(const Sweep *s) {
    if (!isatty(STDERR_FILENO)) return;
    char status[256];
    format_status(s, status, sizeof status);
    fprintf(stderr, "\r\033[K%s", status);
    fflush(stderr);
}

static void clear_status(void) {
    if (isatty(STDERR_FILENO)) fputs("\r\033[K", stderr);
}

// --- rank 0: recording ---------------------------------------------------------------------------

static int record_start(Sweep *s, int index, const char *host, int rank, const char *device,
                        char *err, size_t err_len) {
    sweep_table_start(s->table, index, host, rank, device, wall_now());
    s->running++;
    int rc = sweep_store_write(s->table, s->run_dir, err, err_len);
    fault_point("trial_started"); // sweep.h5 says running, nothing of the trial written yet
    show_status(s);
    return rc;
}

static int record_result(Sweep *s, int index, const TrialReport *r, char *err, size_t err_len) {
    s->running--;
    s->work_seconds += r->seconds;
    if (r->done) {
        const char *names[TRIAL_SUMMARY_MAX];
        for (int k = 0; k < r->summary.n; k++) names[k] = r->summary.names[k];
        sweep_table_set_metrics(s->table, index, names, r->summary.values, r->summary.n);
        s->done++;
    } else {
        s->failed++;
        if (s->o->fail_fast || (s->o->max_failures > 0 && s->failed >= s->o->max_failures))
            s->stopping = true;
    }
    sweep_table_finish(s->table, index, r->done ? SWEEP_DONE : SWEEP_FAILED, wall_now(), r->seconds,
                       r->done ? "" : r->error);
    if (sweep_store_write(s->table, s->run_dir, err, err_len) < 0) return -1;
    fault_point("trial_recorded"); // sweep.h5 has the trial, the next not handed out yet
    // One write per line, so that lines of other processes never cut into it.
    char line[2048];
    int at = format_status(s, line, sizeof line);
    const SweepTrial *t = &s->plan.trials[index];
    at += snprintf(line + at, sizeof line - (size_t)at, " trial %d %s %s in %.0fs", index, t->id,
                   r->done ? "done" : "FAILED", r->seconds);
    if (!r->done) at += snprintf(line + at, sizeof line - (size_t)at, ": %s", r->error);
    for (int k = 0; k < r->summary.n && at < (int)sizeof line; k++)
        if (strstr(r->summary.names[k], TRIAL_MODEL_EDITED ".") == r->summary.names[k] &&
            strstr(r->summary.names[k], "refusal_rate"))
            at += snprintf(line + at, sizeof line - (size_t)at, "  %s %.3f",
                           r->summary.names[k] + strlen(TRIAL_MODEL_EDITED "."),
                           r->summary.values[k]);
    clear_status();
    fprintf(stderr, "%s\n", line);
    show_status(s);
    return 0;
}

// The next trial to hand out, or -1.
static int next_trial(Sweep *s) {
    if (s->stopping || s->next == s->n_queue) return -1;
    return s->queue[s->next++];
}

// --- result messages -----------------------------------------------------------------------------

static int pack_report(const TrialReport *r, int index, char *buf, size_t len) {
    int at = snprintf(buf, len, "%d\n%d\n%.17g\n%s\n%d\n", index, r->done, r->seconds, r->device,
                      r->summary.n);
    for (int k = 0; k < r->summary.n && at < (int)len; k++)
        at += snprintf(buf + at, len - (size_t)at, "%.17g %s\n", r->summary.values[k],
                       r->summary.names[k]);
    // The error text last, so it may hold anything but a NUL.
    if (at < (int)len) at += snprintf(buf + at, len - (size_t)at, "%s", r->error);
    return at < (int)len ? at + 1 : (int)len;
}

static int unpack_report(char *buf, TrialReport *r) {
    *r = (TrialReport){0};
    int index, done, n, used = 0;
    if (sscanf(buf, "%d\n%d\n%lg\n%63s\n%d\n%n", &index, &done, &r->seconds, r->device, &n,
               &used) != 5 ||
        n < 0 || n > TRIAL_SUMMARY_MAX)
        return -1;
    char *p = buf + used;
    for (int k = 0; k < n; k++) {
        int len = 0;
        if (sscanf(p, "%lg %127s\n%n", &r->summary.values[k], r->summary.names[k], &len) != 2)
            return -1;
        p += len;
    }
    r->summary.n = n;
    r->done = done != 0;
    snprintf(r->error, sizeof r->error, "%s", p);
    return index;
}

// --- the two roles ------------------------------------------------------------------------------

// Waits for a message from any worker without spinning: Open MPI's blocking receive polls at
// full speed, which would take a core from the workers on rank 0's node.
static void wait_for_message(MPI_Status *status) {
    int flag = 0;
    struct timespec pause = {0, 2000000}; // 2 ms
    for (;;) {
        MPI_Iprobe(MPI_ANY_SOURCE, MPI_ANY_TAG, MPI_COMM_WORLD, &flag, status);
        if (flag) return;
        nanosleep(&pause, NULL);
    }
}

static int orchestrate(Sweep *s, int size, char *err, size_t err_len) {
    static char buf[RESULT_MAX];
    int active = size - 1, stop = -1;
    s->workers = size - 1;
    while (active > 0) {
        MPI_Status st;
        wait_for_message(&st);
        MPI_Recv(buf, RESULT_MAX, MPI_CHAR, st.MPI_SOURCE, st.MPI_TAG, MPI_COMM_WORLD, &st);
        char host[256] = "?", device[64] = "cpu";
        if (st.MPI_TAG == TAG_READY) {
            sscanf(buf, "%255s %63s", host, device);
        } else {
            TrialReport r;
            int index = unpack_report(buf, &r);
            if (index < 0 || index >= s->plan.n)
                return snprintf(err, err_len, "a malformed result from rank %d", st.MPI_SOURCE), -1;
            if (record_result(s, index, &r, err, err_len) < 0) return -1;
            snprintf(host, sizeof host, "%s", s->table->rows[index].host);
            snprintf(device, sizeof device, "%s", r.device);
        }
        int index = next_trial(s);
        if (index >= 0 && record_start(s, index, host, st.MPI_SOURCE, device, err, err_len) < 0)
            return -1;
        MPI_Send(index >= 0 ? &index : &stop, 1, MPI_INT, st.MPI_SOURCE, TAG_TRIAL, MPI_COMM_WORLD);
        if (index < 0) active--;
    }
    return 0;
}

static void work(SweepWorker *w, const SweepPlan *plan, const Placement *pl) {
    static char buf[RESULT_MAX];
    snprintf(buf, sizeof buf, "%s cpu", pl->host);
    MPI_Send(buf, (int)strlen(buf) + 1, MPI_CHAR, 0, TAG_READY, MPI_COMM_WORLD);
    for (;;) {
        int index;
        MPI_Recv(&index, 1, MPI_INT, 0, TAG_TRIAL, MPI_COMM_WORLD, MPI_STATUS_IGNORE);
        if (index < 0) return;
        TrialReport r;
        sweep_worker_run(w, plan, &plan->trials[index], &r);
        int len = pack_report(&r, index, buf, sizeof buf);
        MPI_Send(buf, len, MPI_CHAR, 0, TAG_RESULT, MPI_COMM_WORLD);
    }
}

// Alone: the process runs the queue itself.
static int run_alone(Sweep *s, SweepWorker *w, char *err, size_t err_len) {
    char host[256] = "unknown";
    gethostname(host, sizeof host - 1);
    s->workers = 1;
    for (int index; (index = next_trial(s)) >= 0;) {
        if (record_start(s, index, host, 0, "cpu", err, err_len) < 0) return -1;
        TrialReport r;
        sweep_worker_run(w, &s->plan, &s->plan.trials[index], &r);
        if (record_result(s, index, &r, err, err_len) < 0) return -1;
    }
    return 0;
}

int sweep_run(const SweepOptions *o) {
    int rank = 0, size = 1;
    Placement pl = {.threads = o->threads};
    if (o->use_mpi) {
        sweep_lock_die_with_launcher();
        MPI_Comm_rank(MPI_COMM_WORLD, &rank);
        MPI_Comm_size(MPI_COMM_WORLD, &size);
        if (placement_discover(&pl, o->threads, size > 1) < 0) {
            fprintf(stderr, "are sweep: MPI failed to place the ranks\n");
            return EXIT_FAILED;
        }
    }
    char err[1024] = "";
    Sweep s = {.o = o, .start = wall_now(), .lock = SWEEP_LOCK_NONE};
    SweepWorker w = {.config_path = o->config_path,
                     .overrides = o->overrides,
                     .n_overrides = o->n_overrides,
                     .threads = pl.threads,
                     .gpu = pl.gpu};
    int rc = 0;
    if (rank == 0) {
        rc = open_run(&s, err, sizeof err);
        if (rc < 0) fprintf(stderr, "are sweep: %s\n", err);
    } else {
        // Every rank expands the same plan from the same file, so only indices travel.
        rc = load_plan(&s, err, sizeof err);
    }
    if (size > 1) { // a rank that could not start takes every rank down with it
        int failed = rc < 0, any = 0;
        MPI_Allreduce(&failed, &any, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD);
        if (any && rank != 0 && rc < 0) fprintf(stderr, "are sweep: rank %d: %s\n", rank, err);
        rc = any ? -1 : 0;
    }
    if (rc == 0) {
        if (size == 1) {
            rc = run_alone(&s, &w, err, sizeof err);
        } else if (rank == 0) {
            rc = orchestrate(&s, size, err, sizeof err);
        } else if (sweep_lock_take(&s.lock, s.run_dir, false, err, sizeof err) < 0) {
            // Rank 0 has just checked the folder, so only a sweep that bypassed that gets here.
            fprintf(stderr, "are sweep: rank %d: %s\n", rank, err);
            MPI_Abort(MPI_COMM_WORLD, EXIT_FAILED);
        } else {
            work(&w, &s.plan, &pl);
        }
        if (rc < 0) fprintf(stderr, "are sweep: %s\n", err);
        // Workers wait for rank 0's answers: when it cannot go on, nobody else can end them.
        if (rc < 0 && size > 1) MPI_Abort(MPI_COMM_WORLD, EXIT_FAILED);
    }
    if (rank == 0) clear_status();
    if (rank == 0 && rc == 0) print_summary_table(&s);
    sweep_worker_close(&w);
    sweep_table_free(s.table);
    sweep_plan_free(&s.plan);
    free(s.queue);
    free(s.config_record);
    sweep_lock_release(&s.lock);
    if (rc < 0) return EXIT_FAILED;
    return rank == 0 && (s.failed > 0 || s.done < s.total) ? EXIT_FAILED : EXIT_OK;
}
