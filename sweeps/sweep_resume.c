// Resuming a sweep; see sweep_resume.h.
#include "sweep_resume.h"

#include "io_error.h"
#include "trial_file_check.h"
#include "trial_summary.h"

#include <dirent.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef enum { FILE_NONE, FILE_DONE, FILE_BAD } TrialFile;

// What trials/<id>.h5 holds for trial t: nothing, t finished, or something else (why says
// what). files is the folder's scan (sweep_store_scan_trials): the finished files whose
// attributes read, with their seeds.
static TrialFile check_trial_file(const char *run_dir, const SweepTrial *t, const SweepTable *files,
                                  char *why, size_t why_len) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/trials/%s.h5", run_dir, t->id);
    switch (trial_file_check(path, t->id, why, why_len)) {
    case TRIAL_FILE_OK:
        break;
    case TRIAL_FILE_MISSING:
        return FILE_NONE;
    default:
        return FILE_BAD; // why says what is wrong: truncated, not HDF5, unfinished, ...
    }
    int f = sweep_table_find(files, t->id);
    if (f < 0) {
        snprintf(
            why, why_len,
            "%.700s: its attributes (trial_id, seed, host, rank, device, start and end time) do "
            "not read",
            path);
        return FILE_BAD;
    }
    if (files->rows[f].seed != t->seed) {
        snprintf(
            why, why_len,
            "%.700s holds the trial run with seed %llu, and the sweep gives it seed %llu now (its "
            "sweep seed changed?)",
            path, (unsigned long long)files->rows[f].seed, (unsigned long long)t->seed);
        return FILE_BAD;
    }
    return FILE_DONE;
}

// Row i of t from its finished file, when sweep.h5 did not know it was done. Returns 1, 0 when
// the file no longer reads (the trial runs again), or -1 when out of memory.
static int rescue(SweepTable *t, int i, const SweepTable *files, const char *run_dir) {
    char path[PATH_MAX], why[512];
    snprintf(path, sizeof path, "%s/trials/%s.h5", run_dir, t->rows[i].id);
    TrialSummary summary;
    if (trial_summary_read(path, &summary, why, sizeof why) < 0) return 0;
    const char *names[TRIAL_SUMMARY_MAX];
    for (int k = 0; k < summary.n; k++) names[k] = summary.names[k];
    if (sweep_table_copy_outcome(t, i, files, sweep_table_find(files, t->rows[i].id)) < 0 ||
        sweep_table_set_metrics(t, i, names, summary.values, summary.n) < 0)
        return -1;
    return 1;
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Whether name starts with a trial id (16 lower-case hex digits) followed by suffix.
static bool names_trial(const char *name, const char *suffix) {
    for (int k = 0; k < TRIAL_ID_LEN; k++)
        if (!name[k] || !strchr("0123456789abcdef", name[k])) return false;
    return !strcmp(name + TRIAL_ID_LEN, suffix);
}

// Appends "folder/name" to *list for each entry of run_dir/folder that names a trial (with one
// of the suffixes) not in ids (sorted). Returns 0, or -1 when out of memory.
static int find_strays(const char *run_dir, const char *folder, const char *const *suffixes,
                       char **ids, int n_ids, char ***list, int *n, int *capacity) {
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", run_dir, folder);
    DIR *dir = opendir(path);
    if (!dir) return 0; // no such folder: nothing left there
    int rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dir));) {
        bool trial = false;
        for (int s = 0; suffixes[s]; s++) trial = trial || names_trial(e->d_name, suffixes[s]);
        if (!trial) continue;
        char id[TRIAL_ID_LEN + 1], *key = id;
        memcpy(id, e->d_name, TRIAL_ID_LEN);
        id[TRIAL_ID_LEN] = '\0';
        if (bsearch(&key, ids, (size_t)n_ids, sizeof *ids, compare_strings)) continue;
        if (*n == *capacity) {
            int grown = *capacity ? 2 * *capacity : 16;
            char **more = realloc(*list, (size_t)grown * sizeof *more);
            if (!more) {
                rc = -1;
                break;
            }
            *list = more;
            *capacity = grown;
        }
        size_t len = strlen(folder) + strlen(e->d_name) + 2;
        if (!((*list)[*n] = malloc(len)))
            rc = -1;
        else
            snprintf((*list)[(*n)++], len, "%s/%s", folder, e->d_name);
    }
    closedir(dir);
    return rc;
}

// Lists the trial files and adapters in run_dir of trials that plan does not have: a sweep
// whose config changed leaves them, and keeps them (they may be all that is left of a result).
static int print_strays(const SweepPlan *plan, const char *run_dir, FILE *notes, char *err,
                        size_t err_len) {
    char **ids = malloc((size_t)(plan->n + 1) * sizeof *ids), **list = NULL;
    int n = 0, capacity = 0, rc = ids ? 0 : -1;
    static const char *const trial_files[] = {".h5", ".h5.tmp", NULL};
    static const char *const adapters[] = {"", NULL};
    if (rc == 0) {
        for (int i = 0; i < plan->n; i++) ids[i] = (char *)plan->trials[i].id;
        qsort(ids, (size_t)plan->n, sizeof *ids, compare_strings);
        rc = find_strays(run_dir, "trials", trial_files, ids, plan->n, &list, &n, &capacity);
    }
    if (rc == 0)
        rc = find_strays(run_dir, "adapters", adapters, ids, plan->n, &list, &n, &capacity);
    if (rc == 0 && n > 0) {
        qsort(list, (size_t)n, sizeof *list, compare_strings);
        fprintf(notes,
                "are sweep: %d entries in %s belong to trials that are no longer in the sweep; "
                "they are kept:\n",
                n, run_dir);
        for (int k = 0; k < n; k++) fprintf(notes, "  %s\n", list[k]);
    }
    for (int k = 0; k < n; k++) free(list[k]);
    free(list);
    free(ids);
    return rc == 0 ? 0 : io_error(err, err_len, "out of memory listing %s", run_dir);
}

int sweep_resume(SweepTable *t, const SweepPlan *plan, SweepTable *old, const char *run_dir,
                 bool list_strays, FILE *notes, char *err, size_t err_len) {
    if (list_strays && print_strays(plan, run_dir, notes, err, err_len) < 0) return -1;
    SweepTable *files = sweep_store_scan_trials(run_dir, err, err_len);
    TrialFile *state = malloc((size_t)(plan->n + 1) * sizeof *state);
    if (!files || !state) {
        sweep_table_free(files);
        free(state);
        return files ? io_error(err, err_len, "out of memory") : -1;
    }
    // Whatever sweep.h5 says, a trial is done only when its file says so.
    for (int i = 0; i < plan->n; i++) {
        const SweepTrial *trial = &plan->trials[i];
        char why[1024];
        state[i] = check_trial_file(run_dir, trial, files, why, sizeof why);
        if (state[i] == FILE_BAD)
            fprintf(notes, "are sweep: trial %s: %s: it runs again\n", trial->id, why);
        int j = old ? sweep_table_find(old, trial->id) : -1;
        if (j < 0 || old->rows[j].status != SWEEP_DONE || state[i] == FILE_DONE) continue;
        if (state[i] == FILE_NONE)
            fprintf(notes,
                    "are sweep: trial %s: sweep.h5 says done, but trials/%s.h5 is gone: "
                    "it runs again\n",
                    trial->id, trial->id);
        // Not done any more, so that sweep_table_resume leaves it (the status changes even
        // when the empty error text finds no memory).
        sweep_table_finish(old, j, SWEEP_FAILED, NAN, NAN, "");
    }
    int carried = sweep_table_resume(t, old, run_dir, err, err_len), interrupted = 0;
    for (int i = 0; carried >= 0 && i < plan->n; i++) {
        if (t->rows[i].status == SWEEP_DONE) continue;
        if (state[i] == FILE_DONE) { // finished, but sweep.h5 was not told before the run stopped
            int rescued = rescue(t, i, files, run_dir);
            if (rescued < 0)
                carried = io_error(err, err_len, "out of memory resuming trial %s", t->rows[i].id);
            else
                carried += rescued;
            continue;
        }
        int j = old ? sweep_table_find(old, t->rows[i].id) : -1;
        if (j < 0 || old->rows[j].status != SWEEP_RUNNING) continue;
        const SweepRow *r = &old->rows[j];
        char why[768];
        snprintf(why, sizeof why,
                 "interrupted: the sweep stopped while rank %d on %s ran the trial; it runs again "
                 "when the sweep resumes",
                 r->rank, r->host);
        if (sweep_table_copy_outcome(t, i, old, j) < 0 ||
            sweep_table_finish(t, i, SWEEP_FAILED, NAN, NAN, why) < 0)
            carried = io_error(err, err_len, "out of memory resuming trial %s", t->rows[i].id);
        interrupted++;
    }
    if (carried >= 0 && interrupted > 0)
        fprintf(notes,
                "are sweep: %d trial%s interrupted when the sweep last stopped (marked failed, "
                "\"interrupted: ...\", until %s again)\n",
                interrupted, interrupted == 1 ? " was" : "s were",
                interrupted == 1 ? "it runs" : "they run");
    sweep_table_free(files);
    free(state);
    return carried;
}
