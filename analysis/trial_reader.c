// Reading a trial file for analysis; see trial_reader.h.
#include "trial_reader.h"

#include "fail.h"
#include "hdf5_util.h"
#include "trial_file_names.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

// The length of a 1-D dataset, or -1 when it is missing or not 1-D.
static long long dataset_length(hid_t loc, const char *name) {
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    hsize_t dims[1] = {0};
    long long n = space >= 0 && H5Sget_simple_extent_ndims(space) == 1 &&
                          H5Sget_simple_extent_dims(space, dims, NULL) == 1
                      ? (long long)dims[0]
                      : -1;
    hdf5_release(space);
    hdf5_release(d);
    return n;
}

// Reads the first n elements of 1-D dataset name as mem_type into a new array *out.
static int read_prefix(Hdf5Ctx *c, hid_t loc, const char *name, hid_t mem_type, size_t size,
                       long long n, void **out) {
    long long have = dataset_length(loc, name);
    if (have < n) return hdf5_fail(c, "%s: missing, or shorter than %lld", name, n);
    if (!(*out = calloc((size_t)(n > 0 ? n : 1), size)))
        return hdf5_fail(c, "out of memory reading %s", name);
    if (n == 0) return 0;
    hid_t d = H5Dopen2(loc, name, H5P_DEFAULT);
    hid_t file_space = d < 0 ? H5I_INVALID_HID : H5Dget_space(d);
    hsize_t start[1] = {0}, count[1] = {(hsize_t)n};
    hid_t mem_space = H5Screate_simple(1, count, NULL);
    bool ok = file_space >= 0 && mem_space >= 0 &&
              H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
              H5Dread(d, mem_type, mem_space, file_space, H5P_DEFAULT, *out) >= 0;
    if (!ok) hdf5_fail_cause(c, "reading %s", name);
    hdf5_release(mem_space);
    hdf5_release(file_space);
    hdf5_release(d);
    return ok ? 0 : -1;
}

typedef struct {
    TrialReader *r;
    bool full;
} MetricWalk;

static herr_t collect_metric(hid_t loc, const char *name, const H5L_info_t *info, void *data) {
    (void)info;
    MetricWalk *w = data;
    TrialReader *r = w->r;
    if (!strcmp(name, TRIAL_METRICS_ROUND) || dataset_length(loc, name) < 0) return 0;
    if (r->n_metrics == TRIAL_READER_MAX_METRICS) {
        w->full = true;
        return 1;
    }
    r->metric_names[r->n_metrics++] = strdup(name);
    return r->metric_names[r->n_metrics - 1] ? 0 : -1;
}

// The quoted value of the `task = "...";` line of the canonical config, or "" when none.
static char *task_of_config(const char *config) {
    static const char key[] = "task = \"";
    for (const char *line = config; line && *line; line = strchr(line, '\n')) {
        if (*line == '\n') line++;
        if (strncmp(line, key, sizeof key - 1)) continue;
        const char *start = line + sizeof key - 1, *end = strchr(start, '"');
        return end ? strndup(start, (size_t)(end - start)) : strdup("");
    }
    return strdup("");
}

static int read_metrics(Hdf5Ctx *c, TrialReader *r) {
    hid_t g = H5Gopen2(r->file, TRIAL_METRICS, H5P_DEFAULT);
    if (g < 0) return hdf5_fail_cause(c, "group " TRIAL_METRICS);
    MetricWalk w = {r, false};
    int rc = H5Literate(g, H5_INDEX_NAME, H5_ITER_INC, NULL, collect_metric, &w) < 0
                 ? hdf5_fail(c, "listing " TRIAL_METRICS ": out of memory")
                 : 0;
    if (rc == 0 && w.full)
        rc = hdf5_fail(c, TRIAL_METRICS ": more than %d datasets", TRIAL_READER_MAX_METRICS);
    // Datasets of a file being written may be one flush apart: keep the rounds all of them have.
    long long n = rc == 0 ? dataset_length(g, TRIAL_METRICS_ROUND) : -1;
    if (rc == 0 && n < 0)
        rc = hdf5_fail(c, TRIAL_METRICS "/" TRIAL_METRICS_ROUND ": missing or not 1-D");
    for (int i = 0; rc == 0 && i < r->n_metrics; i++) {
        long long len = dataset_length(g, r->metric_names[i]);
        if (len < n) n = len;
    }
    if (rc == 0) {
        r->n_rounds = (int)n;
        rc = read_prefix(c, g, TRIAL_METRICS_ROUND, H5T_NATIVE_INT, sizeof(int), n,
                         (void **)&r->round);
    }
    for (int i = 0; rc == 0 && i < r->n_metrics; i++)
        rc = read_prefix(c, g, r->metric_names[i], H5T_NATIVE_DOUBLE, sizeof(double), n,
                         (void **)&r->metrics[i]);
    hdf5_release(g);
    return rc;
}

static int read_representation_shape(Hdf5Ctx *c, TrialReader *r) {
    r->reps = H5Dopen2(r->file, TRIAL_REPRESENTATIONS, H5P_DEFAULT);
    if (r->reps < 0) return hdf5_fail_cause(c, "dataset " TRIAL_REPRESENTATIONS);
    hid_t space = H5Dget_space(r->reps);
    hsize_t dims[4] = {0};
    bool ok = space >= 0 && H5Sget_simple_extent_ndims(space) == 4 &&
              H5Sget_simple_extent_dims(space, dims, NULL) == 4;
    hdf5_release(space);
    if (!ok)
        return hdf5_fail(c, TRIAL_REPRESENTATIONS
                         ": expected 4 dimensions [round, sample, layer, dim]");
    long long stored = dataset_length(r->file, TRIAL_STORED_ROUNDS);
    if (stored < 0) return hdf5_fail(c, TRIAL_STORED_ROUNDS ": missing or not 1-D");
    r->n_stored = (int)((long long)dims[0] < stored ? (long long)dims[0] : stored);
    r->n_samples = (int)dims[1];
    r->n_layers = (int)dims[2];
    r->dim = (int)dims[3];
    if (r->n_samples < 1 || r->n_layers < 1 || r->dim < 1)
        return hdf5_fail(c, TRIAL_REPRESENTATIONS ": an empty dimension");
    return 0;
}

int trial_reader_open(TrialReader *r, const char *path, char *err, size_t err_len) {
    *r = (TrialReader){.file = H5I_INVALID_HID, .reps = H5I_INVALID_HID};
    Hdf5Ctx c = {.path = path, .err = err, .err_len = err_len, .transfer = H5P_DEFAULT};
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (!(r->path = strdup(path))) return fail(err, err_len, "%s: out of memory", path);
    c.strings = hdf5_string_type();
    hid_t fapl = hdf5_file_access();
    if (fapl >= 0) r->file = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, fapl);
    // The cause first: the next HDF5 call, the release, clears HDF5's error stack.
    int rc = r->file < 0 ? hdf5_fail_cause(&c, "not a readable trial file") : 0;
    hdf5_release(fapl);
    char *config = NULL;
    if (rc == 0)
        rc = hdf5_read_string_attr(&c, r->file, TRIAL_ATTR_TRIAL_ID, &r->trial_id) ||
                     hdf5_read_string_attr(&c, r->file, TRIAL_ATTR_STATUS, &r->status) ||
                     hdf5_read_string_attr(&c, r->file, TRIAL_ATTR_CONFIG, &config)
                 ? -1
                 : 0;
    if (rc == 0 && !(r->task = task_of_config(config)))
        rc = hdf5_fail(&c, "out of memory reading " TRIAL_ATTR_CONFIG);
    free(config);
    if (rc == 0) rc = read_metrics(&c, r);
    if (rc == 0) rc = read_representation_shape(&c, r);
    if (rc == 0)
        rc = read_prefix(&c, r->file, TRIAL_STORED_ROUNDS, H5T_NATIVE_INT, sizeof(int), r->n_stored,
                         (void **)&r->stored_rounds) ||
                     read_prefix(&c, r->file, TRIAL_LAYERS, H5T_NATIVE_INT, sizeof(int),
                                 r->n_layers, (void **)&r->layers) ||
                     read_prefix(&c, r->file, TRIAL_LABELS, H5T_NATIVE_INT, sizeof(int),
                                 r->n_samples, (void **)&r->labels) ||
                     read_prefix(&c, r->file, TRIAL_IS_TEST, H5T_NATIVE_INT, sizeof(int),
                                 r->n_samples, (void **)&r->is_test)
                 ? -1
                 : 0;
    hdf5_release(c.strings);
    if (rc < 0) trial_reader_close(r);
    return rc;
}

const double *trial_reader_metric(const TrialReader *r, const char *name) {
    for (int i = 0; i < r->n_metrics; i++)
        if (!strcmp(r->metric_names[i], name)) return r->metrics[i];
    return NULL;
}

int trial_reader_slice(TrialReader *r, int s, int l, float *out, char *err, size_t err_len) {
    hid_t file_space = H5Dget_space(r->reps);
    hsize_t start[4] = {(hsize_t)s, 0, (hsize_t)l, 0};
    hsize_t count[4] = {1, (hsize_t)r->n_samples, 1, (hsize_t)r->dim};
    hsize_t mem_dims[2] = {(hsize_t)r->n_samples, (hsize_t)r->dim};
    hid_t mem_space = H5Screate_simple(2, mem_dims, NULL);
    bool ok = file_space >= 0 && mem_space >= 0 &&
              H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, count, NULL) >= 0 &&
              H5Dread(r->reps, H5T_NATIVE_FLOAT, mem_space, file_space, H5P_DEFAULT, out) >= 0;
    hdf5_release(mem_space);
    hdf5_release(file_space);
    if (ok) return 0;
    Hdf5Ctx c = {.path = r->path, .err = err, .err_len = err_len};
    return hdf5_fail_cause(&c, "reading " TRIAL_REPRESENTATIONS " of stored round %d, layer %d", s,
                           l);
}

void trial_reader_close(TrialReader *r) {
    hdf5_release(r->reps);
    if (r->file >= 0) H5Fclose(r->file);
    for (int i = 0; i < r->n_metrics; i++) {
        free(r->metric_names[i]);
        free(r->metrics[i]);
    }
    free(r->round);
    free(r->stored_rounds);
    free(r->layers);
    free(r->labels);
    free(r->is_test);
    free(r->path);
    free(r->trial_id);
    free(r->status);
    free(r->task);
    *r = (TrialReader){.file = H5I_INVALID_HID, .reps = H5I_INVALID_HID};
}
