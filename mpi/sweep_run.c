#include "sweep_run.h"

#include "are_config.h"
#include "exit_codes.h"
#include "fs.h"
#include "placement.h"
#include "sweep_lock.h"
#include "sweep_progress.h"
#include "sweep_queue.h"
#include "sweep_worker.h"

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
    char run_dir[ARE_PATH_MAX];
    SweepLock lock; // this rank's hold on the run folder
    SweepQueue q;   // rank 0: the table, the queue and the counts
} Sweep;

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

// --- rank 0: the folder -------------------------------------------------------------------------

static int open_run(Sweep *s, char *err, size_t err_len) {
    const SweepOptions *o = s->o;
    if (load_plan(s, err, err_len) < 0) return -1;
    char trials[ARE_PATH_MAX + 16];
    snprintf(trials, sizeof trials, "%s/trials", s->run_dir);
    if (make_dirs(trials, err, err_len) < 0) return -1;
    // One sweep per folder at a time, and none while ranks of a killed job still write there:
    // they would race with it.
    if (sweep_lock_take(&s->lock, s->run_dir, true, err, err_len) < 0) return -1;
    SweepQueueOptions qo = {.config_path = o->config_path,
                            .overrides = o->overrides,
                            .n_overrides = o->n_overrides,
                            .force = o->force,
                            .max_failures = o->fail_fast ? 1 : o->max_failures,
                            .version = ARE_VERSION};
    return sweep_queue_open(&s->q, &s->plan, s->run_dir, &qo, err, err_len);
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
    s->q.workers = size - 1;
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
            if (sweep_queue_finish(&s->q, index, &r, err, err_len) < 0) return -1;
            snprintf(host, sizeof host, "%s", s->q.table->rows[index].host);
            snprintf(device, sizeof device, "%s", r.device);
        }
        int index = sweep_queue_next(&s->q);
        if (index >= 0 &&
            sweep_queue_start(&s->q, index, host, st.MPI_SOURCE, device, err, err_len) < 0)
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
    s->q.workers = 1;
    for (int index; (index = sweep_queue_next(&s->q)) >= 0;) {
        if (sweep_queue_start(&s->q, index, host, 0, "cpu", err, err_len) < 0) return -1;
        TrialReport r;
        sweep_worker_run(w, &s->plan, &s->plan.trials[index], &r);
        if (sweep_queue_finish(&s->q, index, &r, err, err_len) < 0) return -1;
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
    Sweep s = {.o = o, .lock = SWEEP_LOCK_NONE};
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
    if (rank == 0) sweep_progress_clear();
    if (rank == 0 && rc == 0) sweep_progress_summary(&s.q);
    sweep_worker_close(&w);
    sweep_queue_close(&s.q);
    sweep_plan_free(&s.plan);
    sweep_lock_release(&s.lock);
    if (rc < 0) return EXIT_FAILED;
    return rank == 0 && !sweep_queue_all_done(&s.q) ? EXIT_FAILED : EXIT_OK;
}
