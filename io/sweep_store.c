// The HDF5 file of a sweep: layout, crash safety and resume in sweep_store.h.
#include "sweep_store.h"

#include "fail.h"
#include "fault_point.h"
#include "fnv1a.h"
#include "hdf5_util.h"
#include "trial_file_check.h"
#include "trial_file_names.h"

#include <assert.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SWEEP_FORMAT_VERSION 1
#define IMAGE_INCREMENT      (1 << 16) // growth step of the file being built in memory
// HDF5 converts the values of each read and write through a buffer that it allocates and zeroes
// every time, 1 MiB by default: most of the cost of an update. Tables convert in strips of this.
#define CONVERSION_BUFFER (1 << 16)
#define QUOTED_LINE_MAX   80 // how much of a differing config line a message shows

const char *const sweep_status_names[4] = {"pending", "running", "done", "failed"};

// ---- the table in memory ----

static void free_row_strings(SweepRow *row) {
    free(row->params);
    free(row->host);
    free(row->device);
    free(row->error);
}

// A pending row with every string "". Returns -1 when out of memory (the row is then freeable).
static int init_pending_row(SweepRow *row) {
    *row = (SweepRow){.rank = -1, .start_time = NAN, .end_time = NAN, .seconds = NAN};
    row->params = strdup("");
    row->host = strdup("");
    row->device = strdup("");
    row->error = strdup("");
    return row->params && row->host && row->device && row->error ? 0 : -1;
}

static double *metrics_of_row(const SweepTable *t, int row) {
    return t->metrics + (size_t)row * (size_t)t->n_metrics;
}

SweepTable *sweep_table_new(const char *name, const char *version, const char *config_text,
                            int n_trials) {
    assert(n_trials >= 0);
    SweepTable *t = calloc(1, sizeof(*t));
    if (!t) return NULL;
    t->rows = calloc((size_t)n_trials + 1, sizeof(SweepRow)); // + 1: never a 0-byte request
    t->metrics = malloc(sizeof(double));                      // [n_trials, 0]
    t->name = strdup(name ? name : "");
    t->version = strdup(version ? version : "");
    t->config_text = strdup(config_text ? config_text : "");
    bool ok = t->rows && t->metrics && t->name && t->version && t->config_text;
    for (int i = 0; ok && i < n_trials; i++) {
        t->n_trials = i + 1;
        ok = init_pending_row(&t->rows[i]) == 0;
    }
    if (!ok) {
        sweep_table_free(t);
        return NULL;
    }
    hdf5_time_text(time(NULL), t->created);
    return t;
}

void sweep_table_free(SweepTable *t) {
    if (!t) return;
    for (int i = 0; i < t->n_trials; i++) free_row_strings(&t->rows[i]);
    for (int i = 0; i < t->n_metrics; i++) free(t->metric_names[i]);
    free(t->rows);
    free(t->metric_names);
    free(t->metrics);
    free(t->name);
    free(t->version);
    free(t->config_text);
    free(t);
}

// Replaces *slot by a copy of value (NULL counts as ""), keeping the old string when out of
// memory.
static int replace_string(char **slot, const char *value) {
    char *copy = strdup(value ? value : "");
    if (!copy) return -1;
    free(*slot);
    *slot = copy;
    return 0;
}

static bool is_trial_id(const char *s) {
    for (int i = 0; i < SWEEP_ID_LEN; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f'))) return false;
    return s[SWEEP_ID_LEN] == '\0';
}

int sweep_table_set_trial(SweepTable *t, int row, const char *id, int repeat, const char *params,
                          uint64_t seed) {
    assert(row >= 0 && row < t->n_trials && is_trial_id(id));
    SweepRow *r = &t->rows[row];
    memcpy(r->id, id, SWEEP_ID_LEN + 1);
    r->repeat = repeat;
    r->seed = seed;
    return replace_string(&r->params, params);
}

int sweep_table_start(SweepTable *t, int row, const char *host, int rank, const char *device,
                      double start_time) {
    assert(row >= 0 && row < t->n_trials);
    SweepRow *r = &t->rows[row];
    r->status = SWEEP_RUNNING;
    r->rank = rank;
    r->start_time = start_time;
    r->end_time = r->seconds = NAN;
    double *metrics = metrics_of_row(t, row);
    for (int k = 0; k < t->n_metrics; k++) metrics[k] = NAN;
    if (replace_string(&r->host, host) || replace_string(&r->device, device) ||
        replace_string(&r->error, ""))
        return -1;
    return 0;
}

int sweep_table_finish(SweepTable *t, int row, SweepStatus status, double end_time, double seconds,
                       const char *error) {
    assert(row >= 0 && row < t->n_trials && (status == SWEEP_DONE || status == SWEEP_FAILED));
    SweepRow *r = &t->rows[row];
    r->status = status;
    r->end_time = end_time;
    r->seconds = seconds;
    return replace_string(&r->error, error);
}

static int metric_column(const SweepTable *t, const char *name) {
    for (int k = 0; k < t->n_metrics; k++)
        if (strcmp(t->metric_names[k], name) == 0) return k;
    return -1;
}

// Appends a metric column, NaN in every row, and returns its index (-1: out of memory).
static int add_metric_column(SweepTable *t, const char *name) {
    int m = t->n_metrics;
    size_t n = (size_t)t->n_trials;
    char *copy = strdup(name);
    char **names = realloc(t->metric_names, (size_t)(m + 1) * sizeof(char *));
    if (names) t->metric_names = names;
    double *metrics = malloc((n * (size_t)(m + 1) + 1) * sizeof(double)); // [n, m + 1]
    if (!copy || !names || !metrics) {
        free(copy);
        free(metrics);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        memcpy(metrics + i * (size_t)(m + 1), t->metrics + i * (size_t)m,
               (size_t)m * sizeof(double));
        metrics[i * (size_t)(m + 1) + (size_t)m] = NAN;
    }
    free(t->metrics);
    t->metrics = metrics;
    t->metric_names[m] = copy;
    t->n_metrics = m + 1;
    return m;
}

int sweep_table_set_metrics(SweepTable *t, int row, const char *const *names, const double *values,
                            int n) {
    assert(row >= 0 && row < t->n_trials);
    for (int i = 0; i < n; i++) {
        int k = metric_column(t, names[i]);
        if (k < 0) k = add_metric_column(t, names[i]);
        if (k < 0) return -1;
        metrics_of_row(t, row)[k] = values[i];
    }
    return 0;
}

double sweep_table_metric(const SweepTable *t, int row, const char *name) {
    assert(row >= 0 && row < t->n_trials);
    int k = metric_column(t, name);
    return k < 0 ? NAN : metrics_of_row(t, row)[k];
}

void sweep_table_remove(SweepTable *t, int row) {
    assert(row >= 0 && row < t->n_trials);
    free_row_strings(&t->rows[row]);
    int after = t->n_trials - row - 1, m = t->n_metrics;
    memmove(&t->rows[row], &t->rows[row + 1], (size_t)after * sizeof(SweepRow));
    memmove(metrics_of_row(t, row), metrics_of_row(t, row + 1),
            (size_t)after * (size_t)m * sizeof(double));
    t->n_trials--;
}

int sweep_table_find(const SweepTable *t, const char *id) {
    for (int i = 0; i < t->n_trials; i++)
        if (strcmp(t->rows[i].id, id) == 0) return i;
    return -1;
}

int sweep_table_copy_outcome(SweepTable *dst, int dst_row, const SweepTable *src, int src_row) {
    assert(src_row >= 0 && src_row < src->n_trials && (dst != src || dst_row != src_row));
    const SweepRow *s = &src->rows[src_row];
    SweepRow *d = &dst->rows[dst_row];
    if (sweep_table_start(dst, dst_row, s->host, s->rank, s->device, s->start_time) ||
        replace_string(&d->error, s->error))
        return -1;
    d->status = s->status;
    d->end_time = s->end_time;
    d->seconds = s->seconds;
    // Only the metrics the row has: a NaN column of src stays out of dst.
    const double *values = metrics_of_row(src, src_row);
    for (int k = 0; k < src->n_metrics; k++) {
        if (isnan(values[k])) continue;
        const char *name = src->metric_names[k];
        if (sweep_table_set_metrics(dst, dst_row, &name, &values[k], 1)) return -1;
    }
    return 0;
}

// ---- paths ----

// printf into a path buffer. Returns -1 with a message in err when the path does not fit.
__attribute__((format(printf, 4, 5))) static int make_path(char out[PATH_MAX], char *err,
                                                           size_t err_len, const char *fmt, ...) {
    va_list args;
    va_start(args, fmt);
    int n = vsnprintf(out, PATH_MAX, fmt, args);
    va_end(args);
    if (n < 0 || n >= PATH_MAX) return fail(err, err_len, "%.200s...: path too long", out);
    return 0;
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

int sweep_store_remove_stale_trial(const char *run_dir, const char *id, char *err, size_t err_len) {
    char path[PATH_MAX];
    if (make_path(path, err, err_len, "%s/trials/%s.h5.tmp", run_dir, id)) return -1;
    if (unlink(path) != 0 && errno != ENOENT)
        return fail(err, err_len, "%s: cannot delete: %s", path, strerror(errno));
    return 0;
}

int sweep_table_resume(SweepTable *t, const SweepTable *old, const char *run_dir, char *err,
                       size_t err_len) {
    if (old) memcpy(t->created, old->created, sizeof(t->created));
    int carried = 0;
    for (int i = 0; i < t->n_trials; i++) {
        const char *id = t->rows[i].id;
        char trial_file[PATH_MAX];
        if (make_path(trial_file, err, err_len, "%s/trials/%s.h5", run_dir, id)) return -1;
        int j = old ? sweep_table_find(old, id) : -1;
        if (j >= 0 && old->rows[j].status == SWEEP_DONE && exists(trial_file)) {
            if (sweep_table_copy_outcome(t, i, old, j))
                return fail(err, err_len, "%s: out of memory resuming trial %s", run_dir, id);
            carried++;
        } else if (sweep_store_remove_stale_trial(run_dir, id, err, err_len)) {
            return -1;
        }
    }
    return carried;
}

// ---- the config comparison ----

// Writes line `start` of text (the offset where a line begins) quoted into out, or "the end of
// the file" when text ends there.
static void quote_line(const char *text, size_t start, char *out, size_t out_len) {
    const char *line = text + start;
    if (*line == '\0') {
        snprintf(out, out_len, "the end of the file");
        return;
    }
    int len = (int)strcspn(line, "\n");
    bool cut = len > QUOTED_LINE_MAX;
    snprintf(out, out_len, "\"%.*s%s\"", cut ? QUOTED_LINE_MAX : len, line, cut ? "..." : "");
}

// text as the file stores it (invalid UTF-8 as U+FFFD), malloc'd; NULL when out of memory.
static char *stored_text(const char *text) {
    char *copy = malloc(3 * strlen(text) + 1);
    if (copy) hdf5_utf8_repair(text, copy);
    return copy;
}

// 0 when the stored config text there equals config_text, else -1 with the first line that
// differs in err.
static int compare_configs(const char *there, const char *config_text, const char *run_dir,
                           const char *config_path, char *err, size_t err_len) {
    size_t at = 0, line_start = 0;
    int line = 1;
    while (there[at] && there[at] == config_text[at]) {
        if (there[at] == '\n') {
            line++;
            line_start = at + 1;
        }
        at++;
    }
    if (there[at] == config_text[at]) return 0;
    char old_line[QUOTED_LINE_MAX + 8], new_line[QUOTED_LINE_MAX + 8];
    quote_line(there, line_start, old_line, sizeof(old_line));
    quote_line(config_text, line_start, new_line, sizeof(new_line));
    return fail(err, err_len,
                "%s/sweep.h5 was written for another sweep config than %s: line %d is %s in "
                "the stored config, %s in %s",
                run_dir, config_path, line, old_line, new_line, config_path);
}

int sweep_store_check_config(const SweepTable *stored, const char *config_text, const char *run_dir,
                             const char *config_path, char *err, size_t err_len) {
    char *here = stored_text(config_text); // as sweep.h5 would store it
    if (!here) return fail(err, err_len, "%s: out of memory comparing configs", run_dir);
    int rc = compare_configs(stored->config_text, here, run_dir, config_path, err, err_len);
    free(here);
    return rc;
}

// ---- HDF5 helpers ----

// The types and properties that every read and write uses, into c (-1: HDF5 failed).
static int open_ctx(Hdf5Ctx *c) {
    c->strings = hdf5_string_type();
    c->transfer = H5Pcreate(H5P_DATASET_XFER);
    if (c->strings >= 0 && c->transfer >= 0 &&
        H5Pset_buffer(c->transfer, CONVERSION_BUFFER, NULL, NULL) >= 0)
        return 0;
    return hdf5_fail_cause(c, "setting up HDF5");
}

static void close_ctx(Hdf5Ctx *c) {
    hdf5_release(c->strings);
    hdf5_release(c->transfer);
}

// 64-bit FNV-1a of text as the file stores it, as 16 lower-case hex digits (-1: out of memory).
// Hashing the stored text rather than the bytes given lets a reader check the one against the
// other, whatever bytes the config held.
static int config_hash(const char *text, char out[SWEEP_ID_LEN + 1]) {
    char *stored = stored_text(text);
    if (!stored) return -1;
    uint64_t h = fnv1a_text(FNV1A_OFFSET, stored);
    snprintf(out, SWEEP_ID_LEN + 1, "%016llx", (unsigned long long)h);
    free(stored);
    return 0;
}

// ---- writing ----

// The columns of the trial table that come from SweepRow fields (table/index is the row's
// position), by their paths in the file.
typedef enum {
    COLUMN_INT,
    COLUMN_U64,
    COLUMN_DOUBLE,
    COLUMN_STRING,
    COLUMN_ID,
    COLUMN_STATUS
} ColumnKind;

static const struct {
    const char *name;
    ColumnKind kind;
    size_t offset;
} columns[] = {
    {"table/id", COLUMN_ID, offsetof(SweepRow, id)},
    {"table/repeat", COLUMN_INT, offsetof(SweepRow, repeat)},
    {"table/status", COLUMN_STATUS, offsetof(SweepRow, status)},
    {"table/params", COLUMN_STRING, offsetof(SweepRow, params)},
    {"table/seed", COLUMN_U64, offsetof(SweepRow, seed)},
    {"table/host", COLUMN_STRING, offsetof(SweepRow, host)},
    {"table/rank", COLUMN_INT, offsetof(SweepRow, rank)},
    {"table/device", COLUMN_STRING, offsetof(SweepRow, device)},
    {"table/start_time", COLUMN_DOUBLE, offsetof(SweepRow, start_time)},
    {"table/end_time", COLUMN_DOUBLE, offsetof(SweepRow, end_time)},
    {"table/seconds", COLUMN_DOUBLE, offsetof(SweepRow, seconds)},
    {"table/error", COLUMN_STRING, offsetof(SweepRow, error)},
};
#define N_COLUMNS ((int)(sizeof(columns) / sizeof(columns[0])))

// The file and memory types of a numeric column's values.
static hid_t file_type_of(ColumnKind kind) {
    return kind == COLUMN_INT ? H5T_STD_I32LE : kind == COLUMN_U64 ? H5T_STD_U64LE : H5T_IEEE_F64LE;
}
static hid_t mem_type_of(ColumnKind kind) {
    return kind == COLUMN_INT   ? H5T_NATIVE_INT
           : kind == COLUMN_U64 ? H5T_NATIVE_UINT64
                                : H5T_NATIVE_DOUBLE;
}
static size_t value_size_of(ColumnKind kind) {
    return kind == COLUMN_INT   ? sizeof(int)
           : kind == COLUMN_U64 ? sizeof(uint64_t)
                                : sizeof(double);
}

// Row r's string in a string, id or status column.
static const char *row_string(const SweepRow *r, int column) {
    const char *field = (const char *)r + columns[column].offset;
    switch (columns[column].kind) {
    case COLUMN_ID:
        return field;
    case COLUMN_STATUS:
        return sweep_status_names[r->status];
    default:
        return *(char *const *)field;
    }
}

// Gathers one column of the rows into scratch ([n_trials] values or string pointers) and writes
// it.
static int write_column(Hdf5Ctx *c, hid_t file, const SweepTable *t, int column, void *scratch) {
    ColumnKind kind = columns[column].kind;
    hsize_t dims[1] = {(hsize_t)t->n_trials};
    if (kind == COLUMN_STRING || kind == COLUMN_ID || kind == COLUMN_STATUS) {
        const char **strings = scratch;
        for (int i = 0; i < t->n_trials; i++) strings[i] = row_string(&t->rows[i], column);
        return hdf5_write_strings(c, file, columns[column].name, strings, t->n_trials);
    }
    size_t size = value_size_of(kind);
    for (int i = 0; i < t->n_trials; i++)
        memcpy((char *)scratch + (size_t)i * size,
               (const char *)&t->rows[i] + columns[column].offset, size);
    return hdf5_write_dataset(c, file, columns[column].name, file_type_of(kind), mem_type_of(kind),
                              1, dims, scratch);
}

static int write_attributes(Hdf5Ctx *c, hid_t file, const SweepTable *t) {
    int version = SWEEP_FORMAT_VERSION;
    char updated[HDF5_TIME_LEN], hash[SWEEP_ID_LEN + 1];
    hdf5_time_text(time(NULL), updated);
    if (config_hash(t->config_text, hash)) return hdf5_fail(c, "out of memory hashing the config");
    if (hdf5_write_attr(c, file, "format_version", H5T_STD_I32LE, H5T_NATIVE_INT, &version) ||
        hdf5_write_string_attr(c, file, "name", t->name) ||
        hdf5_write_string_attr(c, file, "version", t->version) ||
        hdf5_write_string_attr(c, file, "created", t->created) ||
        hdf5_write_string_attr(c, file, "updated", updated) ||
        hdf5_write_attr(c, file, "n_trials", H5T_STD_I32LE, H5T_NATIVE_INT, &t->n_trials) ||
        hdf5_write_string_attr(c, file, "config", t->config_text) ||
        hdf5_write_string_attr(c, file, "config_hash", hash))
        return -1;
    return 0;
}

static int write_table(Hdf5Ctx *c, hid_t file, const SweepTable *t) {
    for (int i = 0; i < t->n_trials; i++)
        if (!is_trial_id(t->rows[i].id)) return hdf5_fail(c, "row %d has no trial id", i);
    hid_t table = H5Gcreate2(file, "table", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (table < 0) return hdf5_fail_cause(c, "creating group table");
    hdf5_release(table); // the datasets go in by path
    // [n_trials] values or pointers, the widest being 8 bytes.
    _Static_assert(sizeof(char *) <= 8 && sizeof(double) == 8, "scratch holds 8-byte values");
    void *scratch = malloc((size_t)t->n_trials * 8 + 8);
    int rc = scratch ? 0 : hdf5_fail(c, "out of memory writing the table");
    int *index = scratch;
    for (int i = 0; i < t->n_trials && rc == 0; i++) index[i] = i;
    hsize_t dims[2] = {(hsize_t)t->n_trials, (hsize_t)t->n_metrics};
    if (rc == 0)
        rc = hdf5_write_dataset(c, file, "table/index", H5T_STD_I32LE, H5T_NATIVE_INT, 1, dims,
                                index);
    for (int k = 0; k < N_COLUMNS && rc == 0; k++) rc = write_column(c, file, t, k, scratch);
    if (rc == 0)
        rc = hdf5_write_strings(c, file, "table/metric_names", (const char *const *)t->metric_names,
                                t->n_metrics);
    if (rc == 0)
        rc = hdf5_write_dataset(c, file, "table/metrics", H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 2,
                                dims, t->metrics);
    free(scratch);
    return rc;
}

// trials/<id> -> trials/<id>.h5:/ for each done trial. HDF5 looks for a relative target beside
// the file that holds the link.
static int write_trial_links(Hdf5Ctx *c, hid_t file, const SweepTable *t) {
    hid_t trials = H5Gcreate2(file, "trials", H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (trials < 0) return hdf5_fail_cause(c, "creating group trials");
    int rc = 0;
    for (int i = 0; i < t->n_trials && rc == 0; i++) {
        const SweepRow *r = &t->rows[i];
        if (r->status != SWEEP_DONE) continue;
        char target[sizeof("trials/.h5") + SWEEP_ID_LEN];
        snprintf(target, sizeof(target), "trials/%s.h5", r->id);
        if (H5Lcreate_external(target, "/", trials, r->id, H5P_DEFAULT, H5P_DEFAULT) < 0)
            rc = hdf5_fail_cause(c, "linking trials/%s", r->id);
    }
    hdf5_release(trials);
    return rc;
}

// Builds the whole file in memory (HDF5's core driver, nothing on disk) and returns its bytes
// in *image (malloc'd) and *size.
static int build_image(Hdf5Ctx *c, const SweepTable *t, void **image, size_t *size) {
    hid_t fapl = H5Pcreate(H5P_FILE_ACCESS), file = H5I_INVALID_HID;
    if (fapl >= 0 && H5Pset_fapl_core(fapl, IMAGE_INCREMENT, false) >= 0)
        file = H5Fcreate(c->path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    hdf5_release(fapl);
    if (file < 0) return hdf5_fail_cause(c, "creating the file in memory");
    int rc = write_attributes(c, file, t);
    if (rc == 0) rc = write_table(c, file, t);
    if (rc == 0) rc = write_trial_links(c, file, t);
    ssize_t bytes = -1;
    if (rc == 0 &&
        (H5Fflush(file, H5F_SCOPE_GLOBAL) < 0 || (bytes = H5Fget_file_image(file, NULL, 0)) < 0))
        rc = hdf5_fail_cause(c, "taking the file image");
    if (rc == 0 && !(*image = malloc((size_t)bytes)))
        rc = hdf5_fail(c, "out of memory for a %zd-byte file", bytes);
    if (rc == 0 && H5Fget_file_image(file, *image, (size_t)bytes) < 0) {
        rc = hdf5_fail_cause(c, "taking the file image");
        free(*image);
        *image = NULL;
    }
    *size = rc == 0 ? (size_t)bytes : 0;
    H5Fclose(file);
    return rc;
}

// Writes size bytes to path (created or truncated) and fsyncs them.
static int write_durably(Hdf5Ctx *c, const void *bytes, size_t size) {
    int fd = open(c->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return hdf5_fail(c, "cannot create: %s", strerror(errno));
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(fd, (const char *)bytes + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += (size_t)n;
    }
    const char *why = done < size ? "writing" : fsync(fd) != 0 ? "fsync" : NULL;
    int e = errno;
    if (close(fd) != 0 && !why) {
        why = "closing";
        e = errno;
    }
    if (why)
        return hdf5_fail(c, "%s: %s", why, done < size && e == 0 ? "short write" : strerror(e));
    return 0;
}

int sweep_store_write(const SweepTable *t, const char *run_dir, char *err, size_t err_len) {
    char path[PATH_MAX], tmp[PATH_MAX];
    if (make_path(path, err, err_len, "%s/sweep.h5", run_dir) ||
        make_path(tmp, err, err_len, "%s/sweep.h5.tmp", run_dir))
        return -1;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Hdf5Ctx c = {.path = tmp, .err = err, .err_len = err_len};
    void *image = NULL;
    size_t size = 0;
    int rc = open_ctx(&c);
    if (rc == 0) rc = build_image(&c, t, &image, &size);
    close_ctx(&c);
    if (rc == 0) rc = write_durably(&c, image, size);
    free(image);
    fault_point("sweep_write"); // the new table durable as sweep.h5.tmp, not yet renamed
    if (rc == 0) rc = hdf5_publish(&c, path);
    if (rc != 0) unlink(tmp); // a torn .tmp would be ignored anyway; this only tidies up
    return rc;
}

// ---- reading ----

static hid_t open_for_reading(Hdf5Ctx *c) {
    hid_t fapl = hdf5_file_access(), file = H5I_INVALID_HID;
    if (fapl >= 0) file = H5Fopen(c->path, H5F_ACC_RDONLY, fapl);
    if (file < 0) hdf5_fail_cause(c, "not a readable HDF5 file");
    hdf5_release(fapl);
    return file;
}

// "[a]" or "[a, b]".
static void shape_text(int rank, const hsize_t *dims, char out[64]) {
    if (rank == 1)
        snprintf(out, 64, "[%llu]", (unsigned long long)dims[0]);
    else
        snprintf(out, 64, "[%llu, %llu]", (unsigned long long)dims[0], (unsigned long long)dims[1]);
}

// Opens dataset name of loc, which must have the shape dims[rank] (rank 1 or 2).
static hid_t open_shaped(Hdf5Ctx *c, hid_t loc, const char *name, int rank, const hsize_t *dims) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    if (d < 0) {
        hdf5_fail_cause(c, "dataset %s", name);
        return H5I_INVALID_HID;
    }
    hid_t space = H5Dget_space(d);
    hsize_t have[2] = {0, 0};
    int have_rank = space < 0 ? -1 : H5Sget_simple_extent_ndims(space);
    if (have_rank == rank) H5Sget_simple_extent_dims(space, have, NULL);
    hdf5_release(space);
    if (have_rank != rank || have[0] != dims[0] || (rank == 2 && have[1] != dims[1])) {
        hdf5_release(d);
        char want[64], found[64];
        shape_text(rank, dims, want);
        shape_text(have_rank, have, found);
        hdf5_fail(c, "%s: shape %s, expected %s", name,
                  have_rank < 1 || have_rank > 2 ? "other" : found, want);
        return H5I_INVALID_HID;
    }
    return d;
}

// Reads dataset name (shape dims[rank]) of loc into out as mem_type.
static int read_dataset(Hdf5Ctx *c, hid_t loc, const char *name, hid_t mem_type, int rank,
                        const hsize_t *dims, void *out) {
    hid_t d = open_shaped(c, loc, name, rank, dims);
    if (d < 0) return -1;
    bool empty = dims[0] == 0 || (rank == 2 && dims[1] == 0);
    int rc = 0;
    if (!empty && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, c->transfer, out) < 0)
        rc = hdf5_fail_cause(c, "reading %s", name);
    hdf5_release(d);
    return rc;
}

// Reads the [n] strings of dataset name into strings (NULL entries become ""); the caller frees
// them with free_hdf5_strings.
static int read_strings(Hdf5Ctx *c, hid_t loc, const char *name, int n, char **strings) {
    hsize_t dims[1] = {(hsize_t)n};
    memset(strings, 0, (size_t)n * sizeof(char *));
    return read_dataset(c, loc, name, c->strings, 1, dims, strings);
}

static void free_hdf5_strings(char **strings, int n) {
    for (int i = 0; i < n; i++) H5free_memory(strings[i]);
}

// Stores the [n_trials] strings of a string, id or status column into the rows.
static int scatter_strings(Hdf5Ctx *c, SweepTable *t, int column, char **strings) {
    const char *name = columns[column].name;
    for (int i = 0; i < t->n_trials; i++) {
        SweepRow *r = &t->rows[i];
        const char *s = strings[i] ? strings[i] : "";
        char *field = (char *)r + columns[column].offset;
        switch (columns[column].kind) {
        case COLUMN_ID:
            if (!is_trial_id(s))
                return hdf5_fail(c, "%s[%d] is \"%.40s\", expected %d hex digits", name, i, s,
                                 SWEEP_ID_LEN);
            memcpy(field, s, SWEEP_ID_LEN + 1);
            break;
        case COLUMN_STATUS: {
            int k = 0;
            while (k < 4 && strcmp(s, sweep_status_names[k]) != 0) k++;
            if (k == 4)
                return hdf5_fail(c,
                                 "%s[%d] is \"%.40s\", expected pending, running, done or failed",
                                 name, i, s);
            r->status = (SweepStatus)k;
            break;
        }
        default:
            if (replace_string((char **)field, s))
                return hdf5_fail(c, "out of memory reading %s", name);
        }
    }
    return 0;
}

// Reads one column into the rows, through scratch ([n_trials] 8-byte values).
static int read_column(Hdf5Ctx *c, hid_t file, SweepTable *t, int column, void *scratch) {
    ColumnKind kind = columns[column].kind;
    if (kind == COLUMN_STRING || kind == COLUMN_ID || kind == COLUMN_STATUS) {
        int rc = read_strings(c, file, columns[column].name, t->n_trials, scratch);
        if (rc == 0) rc = scatter_strings(c, t, column, scratch);
        free_hdf5_strings(scratch, t->n_trials);
        return rc;
    }
    hsize_t dims[1] = {(hsize_t)t->n_trials};
    if (read_dataset(c, file, columns[column].name, mem_type_of(kind), 1, dims, scratch)) return -1;
    size_t size = value_size_of(kind);
    for (int i = 0; i < t->n_trials; i++)
        memcpy((char *)&t->rows[i] + columns[column].offset, (char *)scratch + (size_t)i * size,
               size);
    return 0;
}

// table/metric_names and table/metrics into t (which has no metrics yet).
static int read_metrics(Hdf5Ctx *c, hid_t file, SweepTable *t) {
    hid_t d = H5Dopen2(file, "table/metric_names", H5P_DEFAULT);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    hssize_t m = space < 0 ? -1 : H5Sget_simple_extent_npoints(space);
    hdf5_release(space);
    hdf5_release(d);
    if (m < 0) return hdf5_fail_cause(c, "dataset table/metric_names");
    if (m > INT_MAX / 2) return hdf5_fail(c, "table/metric_names: %lld names", (long long)m);
    char **names = calloc((size_t)m + 1, sizeof(char *));
    if (!names) return hdf5_fail(c, "out of memory reading table/metric_names");
    int rc = read_strings(c, file, "table/metric_names", (int)m, names);
    for (int k = 0; k < m && rc == 0; k++) {
        const char *name = names[k] ? names[k] : "";
        if (metric_column(t, name) >= 0)
            rc = hdf5_fail(c, "table/metric_names[%d] \"%.40s\" appears twice", k, name);
        else if (add_metric_column(t, name) < 0)
            rc = hdf5_fail(c, "out of memory reading table/metric_names");
    }
    free_hdf5_strings(names, (int)m);
    free(names);
    hsize_t dims[2] = {(hsize_t)t->n_trials, (hsize_t)t->n_metrics};
    if (rc == 0)
        rc = read_dataset(c, file, "table/metrics", H5T_NATIVE_DOUBLE, 2, dims, t->metrics);
    return rc;
}

static int read_rows(Hdf5Ctx *c, hid_t file, SweepTable *t) {
    void *scratch = malloc((size_t)t->n_trials * 8 + 8);
    int rc = scratch ? 0 : hdf5_fail(c, "out of memory reading the table");
    hsize_t dims[1] = {(hsize_t)t->n_trials};
    if (rc == 0) rc = read_dataset(c, file, "table/index", H5T_NATIVE_INT, 1, dims, scratch);
    for (int i = 0; i < t->n_trials && rc == 0; i++)
        if (((int *)scratch)[i] != i)
            rc = hdf5_fail(c, "table/index[%d] is %d, expected %d", i, ((int *)scratch)[i], i);
    for (int k = 0; k < N_COLUMNS && rc == 0; k++) rc = read_column(c, file, t, k, scratch);
    if (rc == 0) rc = read_metrics(c, file, t);
    free(scratch);
    return rc;
}

// The table in an open sweep file, or NULL with the reason in c->err.
static SweepTable *read_table(Hdf5Ctx *c, hid_t file) {
    int format = 0, n_trials = 0;
    char *name = NULL, *version = NULL, *created = NULL, *config = NULL, *hash = NULL;
    char want_hash[SWEEP_ID_LEN + 1];
    int rc = hdf5_read_number_attr(c, file, "format_version", H5T_NATIVE_INT, &format);
    if (rc == 0 && format != SWEEP_FORMAT_VERSION)
        rc = hdf5_fail(c, "format_version is %d, expected %d", format, SWEEP_FORMAT_VERSION);
    if (rc == 0) rc = hdf5_read_number_attr(c, file, "n_trials", H5T_NATIVE_INT, &n_trials);
    if (rc == 0 && n_trials < 0) rc = hdf5_fail(c, "n_trials is %d, expected >= 0", n_trials);
    if (rc == 0)
        rc = hdf5_read_string_attr(c, file, "name", &name) ||
             hdf5_read_string_attr(c, file, "version", &version) ||
             hdf5_read_string_attr(c, file, "created", &created) ||
             hdf5_read_string_attr(c, file, "config", &config) ||
             hdf5_read_string_attr(c, file, "config_hash", &hash);
    if (rc == 0 && config_hash(config, want_hash))
        rc = hdf5_fail(c, "out of memory hashing the config");
    // Before are hashed the stored text, it hashed the config's bytes, which a U+FFFD in the
    // text stands for: such a file's hash cannot be checked, and is not held against it.
    if (rc == 0 && strcmp(hash, want_hash) != 0 && !strstr(config, "\xEF\xBF\xBD"))
        rc = hdf5_fail(c, "config_hash is \"%.40s\", but the config attribute hashes to %s", hash,
                       want_hash);
    SweepTable *t = rc == 0 ? sweep_table_new(name, version, config, n_trials) : NULL;
    if (rc == 0 && !t) rc = hdf5_fail(c, "out of memory for %d trials", n_trials);
    if (rc == 0) {
        snprintf(t->created, sizeof(t->created), "%s", created);
        rc = read_rows(c, file, t);
    }
    free(name);
    free(version);
    free(created);
    free(config);
    free(hash);
    if (rc != 0) {
        sweep_table_free(t);
        return NULL;
    }
    return t;
}

int sweep_store_read(const char *run_dir, SweepTable **out, char *err, size_t err_len) {
    *out = NULL;
    char path[PATH_MAX];
    if (make_path(path, err, err_len, "%s/sweep.h5", run_dir)) return -1;
    if (!exists(path)) {
        if (errno == ENOENT) return 0;
        return fail(err, err_len, "%s: %s", path, strerror(errno));
    }
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Hdf5Ctx c = {.path = path, .err = err, .err_len = err_len};
    hid_t file = open_ctx(&c) == 0 ? open_for_reading(&c) : H5I_INVALID_HID;
    if (file >= 0) {
        *out = read_table(&c, file);
        H5Fclose(file);
    }
    close_ctx(&c);
    return *out ? 1 : -1;
}

// ---- the rescue: finished trial files ----

// Fills row (a pending row) from the attributes of trial file c->path, which must name trial id.
static int read_trial_file(Hdf5Ctx *c, const char *id, SweepRow *row) {
    hid_t file = open_for_reading(c);
    if (file < 0) return -1;
    char *trial_id = NULL, *host = NULL, *device = NULL, *start = NULL, *end = NULL;
    long long seed = 0;
    int rank = -1;
    int rc = hdf5_read_string_attr(c, file, TRIAL_ATTR_TRIAL_ID, &trial_id);
    if (rc == 0 && strcmp(trial_id, id) != 0)
        rc = hdf5_fail(c, TRIAL_ATTR_TRIAL_ID " is \"%.40s\", expected %s as in the file's name",
                       trial_id, id);
    if (rc == 0)
        rc = hdf5_read_number_attr(c, file, TRIAL_ATTR_SEED, H5T_NATIVE_LLONG, &seed) ||
             hdf5_read_number_attr(c, file, TRIAL_ATTR_RANK, H5T_NATIVE_INT, &rank) ||
             hdf5_read_string_attr(c, file, TRIAL_ATTR_HOST, &host) ||
             hdf5_read_string_attr(c, file, TRIAL_ATTR_DEVICE, &device) ||
             hdf5_read_string_attr(c, file, TRIAL_ATTR_START_TIME, &start) ||
             hdf5_read_string_attr(c, file, TRIAL_ATTR_END_TIME, &end);
    if (rc == 0) {
        memcpy(row->id, id, SWEEP_ID_LEN + 1);
        row->repeat = -1;
        row->status = SWEEP_DONE;
        row->seed = (uint64_t)seed; // trial_store keeps the 64 seed bits as a signed integer
        row->rank = rank;
        row->start_time = hdf5_time_parse(start);
        row->end_time = hdf5_time_parse(end);
        row->seconds = row->end_time - row->start_time;
        free(row->host);
        free(row->device);
        row->host = host;
        row->device = device;
        host = device = NULL;
    }
    free(trial_id);
    free(host);
    free(device);
    free(start);
    free(end);
    H5Fclose(file);
    return rc;
}

static int compare_ids(const void *a, const void *b) {
    return strcmp(a, b);
}

// The ids of run_dir/trials/<id>.h5, sorted, into *ids ([*n][SWEEP_ID_LEN + 1], malloc'd).
static int list_trial_files(const char *folder, char (**ids)[SWEEP_ID_LEN + 1], int *n, char *err,
                            size_t err_len) {
    *ids = NULL;
    *n = 0;
    DIR *dir = opendir(folder);
    if (!dir) {
        if (errno == ENOENT) return 0; // no trial has started
        return fail(err, err_len, "%s: cannot list: %s", folder, strerror(errno));
    }
    int capacity = 0, rc = 0;
    for (struct dirent *e; rc == 0 && (e = readdir(dir));) {
        size_t len = strlen(e->d_name);
        if (len != SWEEP_ID_LEN + 3 || strcmp(e->d_name + SWEEP_ID_LEN, ".h5") != 0) continue;
        char id[SWEEP_ID_LEN + 1];
        memcpy(id, e->d_name, SWEEP_ID_LEN);
        id[SWEEP_ID_LEN] = '\0';
        if (!is_trial_id(id)) continue;
        if (*n == capacity) {
            capacity = capacity ? 2 * capacity : 64;
            void *grown = realloc(*ids, (size_t)capacity * sizeof(**ids));
            if (!grown) {
                rc = fail(err, err_len, "%s: out of memory listing trial files", folder);
                break;
            }
            *ids = grown;
        }
        memcpy((*ids)[(*n)++], id, SWEEP_ID_LEN + 1);
    }
    closedir(dir);
    if (rc == 0 && *n > 1) qsort(*ids, (size_t)*n, sizeof(**ids), compare_ids);
    return rc;
}

SweepTable *sweep_store_scan_trials(const char *run_dir, char *err, size_t err_len) {
    return sweep_store_scan_trials_noting(run_dir, NULL, NULL, err, err_len);
}

SweepTable *sweep_store_scan_trials_noting(const char *run_dir,
                                           void (*skipped)(void *ctx, const char *why), void *ctx,
                                           char *err, size_t err_len) {
    char folder[PATH_MAX];
    char(*ids)[SWEEP_ID_LEN + 1] = NULL;
    int n = 0;
    if (make_path(folder, err, err_len, "%s/trials", run_dir) ||
        list_trial_files(folder, &ids, &n, err, err_len))
        return NULL;
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    Hdf5Ctx c = {.path = folder, .err = err, .err_len = err_len};
    SweepTable *t = NULL;
    if (open_ctx(&c) == 0 && !(t = sweep_table_new("", "", "", n)))
        fail(err, err_len, "%s: out of memory for %d trial files", folder, n);
    if (!t) {
        close_ctx(&c);
        free(ids);
        return NULL;
    }
    // A file that cannot be read is no finished trial: why it is not goes to skipped.
    char path[PATH_MAX], why[1024];
    c = (Hdf5Ctx){.path = path,
                  .err = why,
                  .err_len = sizeof(why),
                  .strings = c.strings,
                  .transfer = c.transfer};
    int kept = 0;
    for (int i = 0; i < n; i++) {
        if (make_path(path, why, sizeof(why), "%s/%s.h5", folder, ids[i]) == 0 &&
            trial_file_check(path, ids[i], why, sizeof(why)) == TRIAL_FILE_OK &&
            read_trial_file(&c, ids[i], &t->rows[kept]) == 0)
            kept++;
        else if (skipped)
            skipped(ctx, why);
    }
    // The rows of skipped files (beyond kept) are pending rows: drop them.
    for (int i = kept; i < n; i++) free_row_strings(&t->rows[i]);
    t->n_trials = kept;
    double first_start = INFINITY;
    for (int i = 0; i < kept; i++) first_start = fmin(first_start, t->rows[i].start_time);
    if (isfinite(first_start)) hdf5_time_text((time_t)first_start, t->created);
    close_ctx(&c);
    free(ids);
    return t;
}
