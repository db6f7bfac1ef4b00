// The HDF5 file of a sweep, runs/<name>/sweep.h5, owned by rank 0: the sweep config, the trial
// table and links to the trial files. Its layout:
//
//   attributes     format_version (1), name, version (are's), created and updated (ISO-8601 UTC),
//                  n_trials, config (the whole sweep config file), config_hash (64-bit FNV-1a of
//                  config as stored, 16 hex digits; older files hashed the config file's raw bytes,
//                  which differ where config holds U+FFFD, and such a hash goes unchecked)
//   table/<column> [n_trials] one dataset per column, row i is trial index i: index int32, id
//                  string (16 hex digits), repeat int32, status string ("pending", "running",
//                  "done", "failed"), params string ("path=value; path=value"), seed uint64, host
//                  string, rank int32 (-1 before the trial starts), device string, start_time and
//                  end_time float64 (Unix seconds, NaN until then), seconds float64 (wall time,
//                  NaN until the end), error string ("" unless the trial failed)
//   table/metric_names [metric] strings, in the order they first appeared
//   table/metrics  [n_trials, metric] float64 summary metrics, NaN where a trial has none of that
//                  name (trials of different tasks report different metrics)
//   trials/<id>    for each done trial, an external link to trials/<id>.h5:/ (relative to the
//                  folder of sweep.h5, so the run folder can move)
//
// Strings are variable-length UTF-8 (invalid bytes become U+FFFD).
//
// Crash safety: rank 0 keeps the table in memory and every sweep_store_write builds a complete
// new file in memory, writes it to sweep.h5.tmp, fsyncs it and renames it over sweep.h5. A kill at
// any instant leaves sweep.h5 as it was before or after the update, never torn, and a reader
// that has the old file open keeps reading it whole. A sweep.h5.tmp left by a crash is ignored
// and overwritten by the next update.
//
// Resume: sweep_store_read the old table, sweep_store_check_config against the config given
// now, sweep_table_new for the trials the config expands to, then sweep_table_resume keeps the
// done trials whose files exist and clears what the others left. When sweep.h5 is missing or
// unreadable, sweep_store_scan_trials rebuilds the done rows from the finished trial files.
//
// Reading and writing silence HDF5's own printing of its error stack for the process (messages
// come back through err instead). Not thread-safe.
#ifndef ARE_SWEEP_STORE_H
#define ARE_SWEEP_STORE_H

#include <stddef.h>
#include <stdint.h>

#define SWEEP_ID_LEN 16 // hex digits of a trial id

typedef enum { SWEEP_PENDING, SWEEP_RUNNING, SWEEP_DONE, SWEEP_FAILED } SweepStatus;

// "pending", "running", "done", "failed": the status column's strings.
extern const char *const sweep_status_names[4];

// One trial. The strings are never NULL and belong to the table.
typedef struct {
    char id[SWEEP_ID_LEN + 1];
    int repeat;
    SweepStatus status;
    char *params; // the trial's overrides, "path=value" joined by "; "
    uint64_t seed;
    char *host;
    int rank;                    // -1 until started
    char *device;                // e.g. "cuda:0 NVIDIA H100" or "cpu"
    double start_time, end_time; // Unix seconds; NaN until started / ended
    double seconds;              // wall time of the trial; NaN until ended
    char *error;                 // why the trial failed; "" otherwise
} SweepRow;

// The whole table, read freely; change it only through the functions below, which keep the
// strings and the metrics matrix consistent.
typedef struct {
    char *name, *version, *config_text;
    char created[32]; // ISO-8601 UTC: when the sweep first started
    int n_trials;
    SweepRow *rows; // [n_trials], row i is trial index i
    int n_metrics;
    char **metric_names; // [n_metrics], in the order they first appeared
    double *metrics;     // [n_trials, n_metrics], NaN where a trial lacks a metric
} SweepTable;

// A table of n_trials pending rows (id "", repeat 0, params "", seed 0), created now. NULL when
// out of memory.
SweepTable *sweep_table_new(const char *name, const char *version, const char *config_text,
                            int n_trials);
void sweep_table_free(SweepTable *t); // NULL is fine

// The setters below return 0, or -1 when out of memory (the row then keeps its old values or
// some of the new ones, and is still valid). Rows and statuses out of range are programmer
// errors (asserted).

// Names the trial of row: id (SWEEP_ID_LEN lower-case hex digits), repeat, params, seed.
int sweep_table_set_trial(SweepTable *t, int row, const char *id, int repeat, const char *params,
                          uint64_t seed);

// Marks row running on host/rank/device since start_time, forgetting any earlier outcome (end,
// seconds, error, metrics).
int sweep_table_start(SweepTable *t, int row, const char *host, int rank, const char *device,
                      double start_time);

// Records the end of row's trial: status SWEEP_DONE or SWEEP_FAILED (error says why; NULL is "").
int sweep_table_finish(SweepTable *t, int row, SweepStatus status, double end_time, double seconds,
                       const char *error);

// Sets n summary metrics of row. A name new to the table becomes a new column, NaN for the other
// rows; metrics of row not named here keep their values.
int sweep_table_set_metrics(SweepTable *t, int row, const char *const *names, const double *values,
                            int n);

// Row's value of the named metric, NaN when it has none.
double sweep_table_metric(const SweepTable *t, int row, const char *name);

// Removes row from t; the rows after it move up one, with their metrics.
void sweep_table_remove(SweepTable *t, int row);

// The row of trial id, or -1.
int sweep_table_find(const SweepTable *t, const char *id);

// Copies the outcome of src's row src_row (status, host, rank, device, times, error, metrics)
// into dst's row dst_row, which keeps its own id, repeat, params and seed.
int sweep_table_copy_outcome(SweepTable *dst, int dst_row, const SweepTable *src, int src_row);

// Carries an earlier run's results into t, a fresh table whose rows name the trials to run: a
// row whose id is done in old and whose trial file run_dir/trials/<id>.h5 exists gets old's
// outcome; every other row stays pending and loses its leftover trials/<id>.h5.tmp. t takes old's
// creation time. old may come from sweep_store_read or sweep_store_scan_trials, or be NULL (then
// only the leftovers go). Returns the number of rows carried over, or -1 with the reason in err.
int sweep_table_resume(SweepTable *t, const SweepTable *old, const char *run_dir, char *err,
                       size_t err_len);

// Whether stored (read from run_dir's sweep.h5) was written for the same sweep config text as
// config_text (read from config_path), compared as sweep.h5 stores it (invalid UTF-8 as U+FFFD).
// Returns 0 when they are equal, else -1 with a message in err naming both files and the first line
// that differs; the caller decides whether to refuse.
int sweep_store_check_config(const SweepTable *stored, const char *config_text, const char *run_dir,
                             const char *config_path, char *err, size_t err_len);

// Replaces run_dir/sweep.h5 with t, atomically (see the top). run_dir must exist. On failure
// sweep.h5 stays as it was and err says why.
int sweep_store_write(const SweepTable *t, const char *run_dir, char *err, size_t err_len);

// Reads run_dir/sweep.h5 into *out. Returns 1 when read; 0 when there is no sweep.h5 (*out NULL,
// a fresh run folder); -1 with "path: what is wrong" in err when it is unreadable or not a sweep
// file of this format (*out NULL).
int sweep_store_read(const char *run_dir, SweepTable **out, char *err, size_t err_len);

// Deletes run_dir/trials/<id>.h5.tmp, the file of an unfinished trial, if there is one.
int sweep_store_remove_stale_trial(const char *run_dir, const char *id, char *err, size_t err_len);

// The rescue when sweep.h5 is lost: a table with one done row per finished trial file
// run_dir/trials/<id>.h5 (16 hex digits; *.tmp files are unfinished and skipped), sorted by id,
// rebuilt from the files' attributes (trial_id, seed, host, rank, device, start_time, end_time).
// What only sweep.h5 knew is missing: params "", repeat -1, no metrics; name and config "";
// created is the earliest start_time (now when there is no file). Files that fail
// trial_file_check (truncated, unfinished, their trial_id not their name, ...) are skipped
// (their trials run again). NULL with the reason in err when the folder cannot be listed or memory
// runs out.
SweepTable *sweep_store_scan_trials(const char *run_dir, char *err, size_t err_len);

// sweep_store_scan_trials that calls skipped(ctx, why) for each trial file it leaves out, why
// naming the file and what is wrong with it (trial_file_check's words: truncated, not HDF5, ...).
SweepTable *sweep_store_scan_trials_noting(const char *run_dir,
                                           void (*skipped)(void *ctx, const char *why), void *ctx,
                                           char *err, size_t err_len);

#endif
