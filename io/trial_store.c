// The HDF5 trial file: layout and SWMR life cycle in trial_store.h.
#include "trial_store.h"

#include "fail.h"
#include "half.h"
#include "hdf5_util.h"
#include "trial_file_names.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define ROWS_PER_CHUNK 64 // per-round 1-D datasets: a 50-round trial is one chunk
// Representation and LoRA chunks hold at most this much (unless one sample's row is bigger):
// HDF5's default chunk cache.
#define CHUNK_BYTES (1 << 20)

// The float64 fields of AreRoundMetrics, each stored as metrics/<name>.
static const struct {
    const char *name;
    size_t offset;
} metric_fields[] = {
#define FIELD(f)                                                                                   \
    { #f, offsetof(AreRoundMetrics, f) }
    FIELD(disc_loss_train),   FIELD(disc_acc_train),    FIELD(disc_acc_test),
    FIELD(disc_loss_test),    FIELD(gen_loss_train),    FIELD(gen_loss_test),
    FIELD(retain_loss),       FIELD(guard_answer_rate), FIELD(guard_perplexity),
    FIELD(seconds_generator), FIELD(seconds_extract),   FIELD(seconds_discriminator),
    FIELD(seconds_guard),     FIELD(tokens_per_second), FIELD(guard_preserved),
    FIELD(guard_distinct),    FIELD(target_nll),        FIELD(refusal_nll),
#undef FIELD
};
#define N_METRICS ((int)(sizeof(metric_fields) / sizeof(metric_fields[0])))
_Static_assert(sizeof(AreRoundMetrics) ==
                   offsetof(AreRoundMetrics, disc_loss_train) + N_METRICS * sizeof(double),
               "every float64 field of AreRoundMetrics must be listed in metric_fields");

struct TrialStore {
    char *path, *tmp_path;
    Hdf5Ctx io; // messages name tmp_path and go to error
    hid_t file;
    bool swmr; // the SWMR session is open: rounds may be appended
    hid_t half_type;
    uint16_t *halves; // [n_samples * n_layers * dim] fp16 representations of a round, or NULL
    hid_t round, metrics[N_METRICS]; // open during the SWMR session
    hid_t representations, stored_rounds;
    hid_t lora_weights, lora_rounds; // H5I_INVALID_HID when lora_n is 0
    int n_samples, n_layers, dim;
    size_t lora_n;
    char error[1024];
};

// A chunked dataset of `rank` dims: dims[0] is ignored (it starts at 0 and grows without limit),
// the others are fixed. No compression: gzip saves 13% on representations at 100 times the cost
// of writing them.
static hid_t create_growing(TrialStore *ts, hid_t loc, const char *name, hid_t type, int rank,
                            const hsize_t *dims, const hsize_t *chunk) {
    hsize_t now[4], max[4];
    for (int i = 0; i < rank; i++) {
        now[i] = i ? dims[i] : 0;
        max[i] = i ? dims[i] : H5S_UNLIMITED;
    }
    hid_t space = H5Screate_simple(rank, now, max), dcpl = H5Pcreate(H5P_DATASET_CREATE);
    hid_t d = H5I_INVALID_HID;
    if (space >= 0 && dcpl >= 0 && H5Pset_chunk(dcpl, rank, chunk) >= 0)
        d = H5Dcreate2(loc, name, type, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    if (d < 0) hdf5_fail_cause(&ts->io, "creating %s", name);
    hdf5_release(dcpl);
    hdf5_release(space);
    return d;
}

// Grows d by one slice along its first dimension and writes data (of mem_type, the slice's
// shape) there.
static int append_slice(TrialStore *ts, hid_t d, const char *name, hid_t mem_type,
                        const void *data) {
    hsize_t dims[4], start[4] = {0};
    hid_t space = H5Dget_space(d), file_space = H5I_INVALID_HID, mem_space = H5I_INVALID_HID;
    int rank = space < 0 ? -1 : H5Sget_simple_extent_dims(space, dims, NULL);
    assert(rank <= 4);
    bool ok = rank > 0;
    if (ok) {
        start[0] = dims[0]++;
        ok = H5Dset_extent(d, dims) >= 0 && (file_space = H5Dget_space(d)) >= 0;
    }
    if (ok) {
        dims[0] = 1;
        ok = H5Sselect_hyperslab(file_space, H5S_SELECT_SET, start, NULL, dims, NULL) >= 0 &&
             (mem_space = H5Screate_simple(rank, dims, NULL)) >= 0 &&
             H5Dwrite(d, mem_type, mem_space, file_space, H5P_DEFAULT, data) >= 0;
    }
    if (!ok) hdf5_fail_cause(&ts->io, "appending to %s", name);
    hdf5_release(mem_space);
    hdf5_release(file_space);
    hdf5_release(space);
    return ok ? 0 : -1;
}

// IEEE binary16, which HDF5 1.10 does not predefine; h5py and numpy read it as float16. Field
// layout as h5py defines it.
static hid_t create_half_type(void) {
    hid_t t = H5Tcopy(H5T_IEEE_F32LE);
    if (t >= 0 && (H5Tset_fields(t, 15, 10, 5, 0, 10) < 0 || H5Tset_size(t, 2) < 0 ||
                   H5Tset_ebias(t, 15) < 0)) {
        hdf5_release(t);
        return H5I_INVALID_HID;
    }
    return t;
}

// hdf5_file_access with the latest format, which SWMR needs.
static hid_t file_access(void) {
    hid_t fapl = hdf5_file_access();
    if (fapl >= 0 && H5Pset_libver_bounds(fapl, H5F_LIBVER_LATEST, H5F_LIBVER_LATEST) < 0) {
        hdf5_release(fapl);
        return H5I_INVALID_HID;
    }
    return fapl;
}

static int write_provenance(TrialStore *ts, const TrialStoreSpec *spec) {
    Hdf5Ctx *io = &ts->io;
    hid_t f = ts->file;
    int version = TRIAL_FORMAT_VERSION;
    long long seed = spec->seed;
    char now[HDF5_TIME_LEN];
    hdf5_time_text(time(NULL), now);
    if (hdf5_write_attr(io, f, TRIAL_ATTR_FORMAT_VERSION, H5T_STD_I32LE, H5T_NATIVE_INT,
                        &version) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_CONFIG, spec->config_text) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_TRIAL_ID, spec->trial_id) ||
        hdf5_write_attr(io, f, TRIAL_ATTR_SEED, H5T_STD_I64LE, H5T_NATIVE_LLONG, &seed) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_HOST, spec->host) ||
        hdf5_write_attr(io, f, TRIAL_ATTR_RANK, H5T_STD_I32LE, H5T_NATIVE_INT, &spec->rank) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_DEVICE, spec->device) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_VERSION, spec->version) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_START_TIME, now) ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_END_TIME, "") ||
        hdf5_write_string_attr(io, f, TRIAL_ATTR_STATUS, TRIAL_STATUS_RUNNING))
        return -1;
    return 0;
}

static int write_samples(TrialStore *ts, const TrialStoreSpec *spec) {
    for (int i = 0; i < spec->n_samples; i++)
        if (spec->is_test[i] != 0 && spec->is_test[i] != 1)
            return hdf5_fail(&ts->io, "is_test[%d] is %d, expected 0 or 1", i, spec->is_test[i]);
    hsize_t samples[1] = {(hsize_t)spec->n_samples}, layers[1] = {(hsize_t)spec->n_layers};
    hid_t f = ts->file;
    if (hdf5_write_dataset(&ts->io, f, TRIAL_LABELS, H5T_STD_I32LE, H5T_NATIVE_INT, 1, samples,
                           spec->labels) ||
        hdf5_write_dataset(&ts->io, f, TRIAL_IS_TEST, H5T_STD_I8LE, H5T_NATIVE_INT, 1, samples,
                           spec->is_test) ||
        hdf5_write_dataset(&ts->io, f, TRIAL_LAYERS, H5T_STD_I32LE, H5T_NATIVE_INT, 1, layers,
                           spec->layers))
        return -1;
    return 0;
}

// evaluation/ holds the refusal markers from the start; the evaluated sets join it at the end.
static int write_refusal_markers(TrialStore *ts, const TrialStoreSpec *spec) {
    hid_t group = H5Gcreate2(ts->file, TRIAL_EVALUATION, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0) return hdf5_fail_cause(&ts->io, "creating group " TRIAL_EVALUATION);
    int rc = hdf5_write_strings(&ts->io, group, TRIAL_REFUSAL_MARKERS, spec->refusal_markers,
                                spec->n_refusal_markers);
    hdf5_release(group);
    return rc;
}

static const hsize_t no_rows[1] = {0}, row_chunk[1] = {ROWS_PER_CHUNK};

static int create_metric_datasets(TrialStore *ts) {
    hid_t group = H5Gcreate2(ts->file, TRIAL_METRICS, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    if (group < 0) return hdf5_fail_cause(&ts->io, "creating group " TRIAL_METRICS);
    ts->round =
        create_growing(ts, group, TRIAL_METRICS_ROUND, H5T_STD_I32LE, 1, no_rows, row_chunk);
    bool ok = ts->round >= 0;
    for (int i = 0; i < N_METRICS && ok; i++) {
        ts->metrics[i] =
            create_growing(ts, group, metric_fields[i].name, H5T_IEEE_F64LE, 1, no_rows, row_chunk);
        ok = ts->metrics[i] >= 0;
    }
    hdf5_release(group);
    return ok ? 0 : -1;
}

static int create_representation_datasets(TrialStore *ts, const TrialStoreSpec *spec) {
    // A chunk is one layer of one round for as many samples as fit: analysis reads by layer.
    size_t value_bytes = spec->store_fp16 ? 2 : 4;
    hsize_t samples_per_chunk = CHUNK_BYTES / (value_bytes * (size_t)spec->dim);
    if (samples_per_chunk < 1) samples_per_chunk = 1;
    if (samples_per_chunk > (hsize_t)spec->n_samples) samples_per_chunk = (hsize_t)spec->n_samples;
    hsize_t dims[4] = {0, (hsize_t)spec->n_samples, (hsize_t)spec->n_layers, (hsize_t)spec->dim};
    hsize_t chunk[4] = {1, samples_per_chunk, 1, (hsize_t)spec->dim};
    hid_t type = spec->store_fp16 ? ts->half_type : H5T_IEEE_F32LE;
    ts->representations = create_growing(ts, ts->file, TRIAL_REPRESENTATIONS, type, 4, dims, chunk);
    if (ts->representations < 0) return -1;
    ts->stored_rounds =
        create_growing(ts, ts->file, TRIAL_STORED_ROUNDS, H5T_STD_I32LE, 1, no_rows, row_chunk);
    return ts->stored_rounds < 0 ? -1 : 0;
}

static int create_lora_datasets(TrialStore *ts, size_t lora_n) {
    hsize_t dims[2] = {0, lora_n}, chunk[2] = {1, CHUNK_BYTES / 4};
    if (chunk[1] > lora_n) chunk[1] = lora_n;
    ts->lora_weights =
        create_growing(ts, ts->file, TRIAL_LORA_WEIGHTS, H5T_IEEE_F32LE, 2, dims, chunk);
    if (ts->lora_weights < 0) return -1;
    ts->lora_rounds =
        create_growing(ts, ts->file, TRIAL_LORA_ROUNDS, H5T_STD_I32LE, 1, no_rows, row_chunk);
    return ts->lora_rounds < 0 ? -1 : 0;
}

static void close_datasets(TrialStore *ts) {
    hid_t *ids[] = {&ts->round, &ts->representations, &ts->stored_rounds, &ts->lora_weights,
                    &ts->lora_rounds};
    for (size_t i = 0; i < sizeof(ids) / sizeof(ids[0]); i++) {
        hdf5_release(*ids[i]);
        *ids[i] = H5I_INVALID_HID;
    }
    for (int i = 0; i < N_METRICS; i++) {
        hdf5_release(ts->metrics[i]);
        ts->metrics[i] = H5I_INVALID_HID;
    }
}

static int report(const TrialStore *ts, char *err, size_t err_len) {
    return fail(err, err_len, "%s", ts->error);
}

TrialStore *trial_store_create(const TrialStoreSpec *spec, char *err, size_t err_len) {
    assert(spec->path && spec->layers && spec->labels && spec->is_test);
    assert(spec->n_refusal_markers == 0 || spec->refusal_markers);
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    if (spec->n_samples < 1 || spec->n_layers < 1 || spec->dim < 1) {
        fail(err, err_len, "%s: representations [%d, %d, %d]: expected sizes >= 1", spec->path,
             spec->n_samples, spec->n_layers, spec->dim);
        return NULL;
    }
    TrialStore *ts = calloc(1, sizeof(*ts));
    char *path = strdup(spec->path), *tmp_path = malloc(strlen(spec->path) + sizeof(".tmp"));
    size_t rep_size = (size_t)spec->n_samples * (size_t)spec->n_layers * (size_t)spec->dim;
    uint16_t *halves = spec->store_fp16 ? malloc(rep_size * sizeof(uint16_t)) : NULL;
    if (!ts || !path || !tmp_path || (spec->store_fp16 && !halves)) {
        free(ts);
        free(path);
        free(tmp_path);
        free(halves);
        fail(err, err_len, "%s: out of memory", spec->path);
        return NULL;
    }
    sprintf(tmp_path, "%s.tmp", spec->path);
    *ts = (TrialStore){.path = path,
                       .tmp_path = tmp_path,
                       .halves = halves,
                       .n_samples = spec->n_samples,
                       .n_layers = spec->n_layers,
                       .dim = spec->dim,
                       .lora_n = spec->lora_n};
    ts->io = (Hdf5Ctx){.path = tmp_path,
                       .err = ts->error,
                       .err_len = sizeof(ts->error),
                       .strings = hdf5_string_type(),
                       .transfer = H5P_DEFAULT};
    ts->file = ts->half_type = H5I_INVALID_HID;
    for (int i = 0; i < N_METRICS; i++) ts->metrics[i] = H5I_INVALID_HID;
    ts->round = ts->representations = ts->stored_rounds = H5I_INVALID_HID;
    ts->lora_weights = ts->lora_rounds = H5I_INVALID_HID;

    hid_t fapl = file_access();
    ts->half_type = create_half_type();
    if (fapl >= 0 && ts->io.strings >= 0 && ts->half_type >= 0)
        ts->file = H5Fcreate(ts->tmp_path, H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
    if (ts->file < 0) hdf5_fail_cause(&ts->io, "creating the file");
    hdf5_release(fapl);
    bool ok = ts->file >= 0 && write_provenance(ts, spec) == 0 && write_samples(ts, spec) == 0 &&
              write_refusal_markers(ts, spec) == 0 && create_metric_datasets(ts) == 0 &&
              create_representation_datasets(ts, spec) == 0 &&
              (spec->lora_n == 0 || create_lora_datasets(ts, spec->lora_n) == 0);
    if (ok && H5Fstart_swmr_write(ts->file) < 0) {
        hdf5_fail_cause(&ts->io, "starting SWMR writing");
        ok = false;
    }
    if (!ok) {
        report(ts, err, err_len);
        trial_store_close(ts);
        return NULL;
    }
    ts->swmr = true;
    return ts;
}

static int flush(TrialStore *ts) {
    return H5Fflush(ts->file, H5F_SCOPE_LOCAL) < 0 ? hdf5_fail_cause(&ts->io, "flushing") : 0;
}

static int rounds_open(TrialStore *ts, const char *what, int round) {
    if (ts->swmr) return 0;
    return hdf5_fail(&ts->io, "%s of round %d arrived after the rounds were closed", what, round);
}

static int sink_round_metrics(void *ctx, const AreRoundMetrics *m) {
    TrialStore *ts = ctx;
    if (rounds_open(ts, "metrics", m->round) ||
        append_slice(ts, ts->round, TRIAL_METRICS "/" TRIAL_METRICS_ROUND, H5T_NATIVE_INT,
                     &m->round))
        return -1;
    for (int i = 0; i < N_METRICS; i++) {
        const double *value = (const double *)((const char *)m + metric_fields[i].offset);
        if (append_slice(ts, ts->metrics[i], metric_fields[i].name, H5T_NATIVE_DOUBLE, value))
            return -1;
    }
    return flush(ts);
}

static int sink_representations(void *ctx, int round, const float *reps, int n_samples,
                                int n_layers, int dim) {
    TrialStore *ts = ctx;
    if (rounds_open(ts, "representations", round)) return -1;
    if (n_samples != ts->n_samples || n_layers != ts->n_layers || dim != ts->dim)
        return hdf5_fail(&ts->io,
                         "representations of round %d are [%d, %d, %d], expected [%d, %d, %d]",
                         round, n_samples, n_layers, dim, ts->n_samples, ts->n_layers, ts->dim);
    const void *values = reps;
    hid_t mem_type = H5T_NATIVE_FLOAT;
    if (ts->halves) {
        size_t n = (size_t)n_samples * (size_t)n_layers * (size_t)dim;
        // Converted here: HDF5 converts too, but about a hundred times slower.
        for (size_t i = 0; i < n; i++) ts->halves[i] = f32_to_f16(reps[i]);
        values = ts->halves;
        mem_type = ts->half_type;
    }
    if (append_slice(ts, ts->representations, TRIAL_REPRESENTATIONS, mem_type, values) ||
        append_slice(ts, ts->stored_rounds, TRIAL_STORED_ROUNDS, H5T_NATIVE_INT, &round))
        return -1;
    return flush(ts);
}

static int sink_lora_weights(void *ctx, int round, const float *params, size_t n) {
    TrialStore *ts = ctx;
    if (ts->lora_n == 0) return 0; // not stored
    if (rounds_open(ts, "LoRA weights", round)) return -1;
    if (n != ts->lora_n)
        return hdf5_fail(&ts->io, "LoRA weights of round %d: %zu values, expected %zu", round, n,
                         ts->lora_n);
    if (append_slice(ts, ts->lora_weights, TRIAL_LORA_WEIGHTS, H5T_NATIVE_FLOAT, params) ||
        append_slice(ts, ts->lora_rounds, TRIAL_LORA_ROUNDS, H5T_NATIVE_INT, &round))
        return -1;
    return flush(ts);
}

AreSink trial_store_sink(TrialStore *ts) {
    return (AreSink){.ctx = ts,
                     .round_metrics = sink_round_metrics,
                     .representations = sink_representations,
                     .lora_weights = sink_lora_weights};
}

const char *trial_store_error(const TrialStore *ts) {
    return ts->error;
}

// Points the file's descriptor at an anonymous file in memory, so that what HDF5 still has to
// write lands there. The .tmp keeps what reached it.
static void divert_writes(TrialStore *ts) {
    int *fd = NULL, scratch = memfd_create("are-trial-store", MFD_CLOEXEC);
    if (scratch >= 0 && H5Fget_vfd_handle(ts->file, H5P_DEFAULT, (void **)&fd) >= 0 && fd)
        dup3(scratch, *fd, O_CLOEXEC);
    if (scratch >= 0) close(scratch);
}

// Closes the datasets and ts->file: 0, or -1 with why in ts->error. When a full disk keeps HDF5
// from writing out what it holds of the file, HDF5 1.10 cannot close the file either: the close
// fails, sometimes after freeing the file but keeping its id, and HDF5's exit handler then
// crashes on that id. So the file is flushed first, and when that fails (the id stays valid) the
// rest of HDF5's writes are diverted to memory, so that the close has nothing left to fail on;
// the trial is lost either way.
static int close_file(TrialStore *ts, const char *what) {
    int rc = 0;
    if (H5Fflush(ts->file, H5F_SCOPE_LOCAL) < 0) {
        rc = hdf5_fail_cause(&ts->io, "%s", what);
        divert_writes(ts);
        H5Fflush(ts->file, H5F_SCOPE_LOCAL);
    }
    close_datasets(ts);
    if (H5Fclose(ts->file) < 0 && rc == 0) rc = hdf5_fail_cause(&ts->io, "%s", what);
    ts->file = H5I_INVALID_HID; // never closed twice: a failed close may have freed it
    return rc;
}

// Ends the SWMR session if it is open. SWMR allows no new objects or attributes, so the
// evaluation and the final attributes need the file reopened normally.
static int end_rounds(TrialStore *ts) {
    if (ts->file < 0) return hdf5_fail(&ts->io, "the file was closed after an earlier failure");
    if (!ts->swmr) return 0;
    ts->swmr = false;
    if (close_file(ts, "closing the SWMR session")) return -1;
    hid_t fapl = file_access();
    if (fapl >= 0) ts->file = H5Fopen(ts->tmp_path, H5F_ACC_RDWR, fapl);
    if (ts->file < 0) hdf5_fail_cause(&ts->io, "reopening for the evaluation");
    hdf5_release(fapl);
    return ts->file < 0 ? -1 : 0;
}

static bool valid_name(const char *name) {
    return name && name[0] && !strchr(name, '/');
}

int trial_store_add_evaluation(TrialStore *ts, const char *model, const char *set_name,
                               const char *const *metric_names, const double *metric_values,
                               int n_metrics, const char *const *prompts, const char *const *texts,
                               int n_texts, char *err, size_t err_len) {
    if (!valid_name(model) || !valid_name(set_name)) {
        hdf5_fail(&ts->io, "evaluation '%s' of set '%s': names must be non-empty, without '/'",
                  model ? model : "(null)", set_name ? set_name : "(null)");
        return report(ts, err, err_len);
    }
    if (end_rounds(ts)) return report(ts, err, err_len);
    char *name = malloc(strlen(TRIAL_EVALUATION "//") + strlen(model) + strlen(set_name) + 1);
    if (!name) {
        hdf5_fail(&ts->io, "out of memory");
        return report(ts, err, err_len);
    }
    sprintf(name, TRIAL_EVALUATION "/%s/%s", model, set_name);
    hid_t lcpl = H5Pcreate(H5P_LINK_CREATE), group = H5I_INVALID_HID;
    if (lcpl >= 0 && H5Pset_create_intermediate_group(lcpl, 1) >= 0)
        group = H5Gcreate2(ts->file, name, lcpl, H5P_DEFAULT, H5P_DEFAULT);
    int rc = group < 0 ? hdf5_fail_cause(&ts->io, "creating group %s", name) : 0;
    for (int i = 0; i < n_metrics && rc == 0; i++)
        rc = hdf5_write_attr(&ts->io, group, metric_names[i], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                             &metric_values[i]);
    if (rc == 0) rc = hdf5_write_strings(&ts->io, group, TRIAL_PROMPTS, prompts, n_texts);
    if (rc == 0) rc = hdf5_write_strings(&ts->io, group, TRIAL_TEXTS, texts, n_texts);
    hdf5_release(group);
    hdf5_release(lcpl);
    free(name);
    return rc ? report(ts, err, err_len) : 0;
}

int trial_store_add_result(TrialStore *ts, const char *stop, const char *stop_detail,
                           const char *const *names, const double *values, int n, char *err,
                           size_t err_len) {
    if (end_rounds(ts)) return report(ts, err, err_len);
    hid_t group = H5Gcreate2(ts->file, TRIAL_RESULT, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = group < 0 ? hdf5_fail_cause(&ts->io, "creating group " TRIAL_RESULT) : 0;
    if (rc == 0) rc = hdf5_write_string_attr(&ts->io, group, TRIAL_RESULT_STOP, stop);
    if (rc == 0) rc = hdf5_write_string_attr(&ts->io, group, TRIAL_RESULT_STOP_DETAIL, stop_detail);
    for (int i = 0; i < n && rc == 0; i++)
        rc = hdf5_write_attr(&ts->io, group, names[i], H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE,
                             &values[i]);
    hdf5_release(group);
    return rc ? report(ts, err, err_len) : 0;
}

// The data reaches the disk before the final name does, so that name never holds a torn file.
static int publish(TrialStore *ts) {
    int fd = open(ts->tmp_path, O_RDONLY);
    if (fd < 0 || fsync(fd) != 0) {
        int e = errno;
        if (fd >= 0) close(fd);
        return hdf5_fail(&ts->io, "fsync: %s", strerror(e));
    }
    close(fd);
    return hdf5_publish(&ts->io, ts->path);
}

static int finish(TrialStore *ts, const char *status) {
    char now[HDF5_TIME_LEN];
    hdf5_time_text(time(NULL), now);
    if (end_rounds(ts) || hdf5_write_string_attr(&ts->io, ts->file, TRIAL_ATTR_STATUS, status) ||
        hdf5_write_string_attr(&ts->io, ts->file, TRIAL_ATTR_END_TIME, now))
        return -1;
    if (close_file(ts, "closing")) return -1;
    return publish(ts);
}

int trial_store_finish(TrialStore *ts, const char *status, char *err, size_t err_len) {
    int rc = finish(ts, status);
    if (rc) report(ts, err, err_len);
    trial_store_close(ts);
    return rc;
}

void trial_store_close(TrialStore *ts) {
    if (!ts) return;
    if (ts->file >= 0) close_file(ts, "closing");
    hdf5_release(ts->io.strings);
    hdf5_release(ts->half_type);
    free(ts->path);
    free(ts->tmp_path);
    free(ts->halves);
    free(ts);
}

int trial_store_add_values(TrialStore *ts, const char *model, const char *set_name,
                           const char *name, const double *values, int n, char *err,
                           size_t err_len) {
    if (!valid_name(model) || !valid_name(set_name) || !valid_name(name) || n < 0) {
        hdf5_fail(&ts->io,
                  "values '%s' of evaluation '%s' of set '%s': names must be non-empty, "
                  "without '/'",
                  name ? name : "(null)", model ? model : "(null)", set_name ? set_name : "(null)");
        return report(ts, err, err_len);
    }
    if (end_rounds(ts)) return report(ts, err, err_len);
    char *path = malloc(strlen(TRIAL_EVALUATION "//") + strlen(model) + strlen(set_name) + 1);
    if (!path) {
        hdf5_fail(&ts->io, "out of memory");
        return report(ts, err, err_len);
    }
    sprintf(path, TRIAL_EVALUATION "/%s/%s", model, set_name);
    hid_t group = H5Gopen2(ts->file, path, H5P_DEFAULT);
    int rc = group < 0 ? hdf5_fail_cause(&ts->io, "opening group %s", path) : 0;
    hsize_t dims[1] = {(hsize_t)n};
    if (rc == 0)
        rc = hdf5_write_dataset(&ts->io, group, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, 1, dims,
                                values);
    hdf5_release(group);
    free(path);
    return rc ? report(ts, err, err_len) : 0;
}

int trial_store_add_direction(TrialStore *ts, const char *method, int layer, double held_out_acc,
                              const float *r, const float *steering, int dim,
                              const float *proj_before, const float *proj_after, int n, char *err,
                              size_t err_len) {
    if (end_rounds(ts)) return report(ts, err, err_len);
    hid_t group = H5Gcreate2(ts->file, TRIAL_DIRECTION, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    int rc = group < 0 ? hdf5_fail_cause(&ts->io, "creating group " TRIAL_DIRECTION) : 0;
    hsize_t d = (hsize_t)dim, k = (hsize_t)n;
    if (rc == 0) rc = hdf5_write_string_attr(&ts->io, group, TRIAL_DIRECTION_METHOD, method);
    if (rc == 0)
        rc = hdf5_write_attr(&ts->io, group, TRIAL_DIRECTION_LAYER, H5T_STD_I32LE, H5T_NATIVE_INT,
                             &layer);
    if (rc == 0)
        rc = hdf5_write_attr(&ts->io, group, TRIAL_DIRECTION_HELD_OUT_ACCURACY, H5T_IEEE_F64LE,
                             H5T_NATIVE_DOUBLE, &held_out_acc);
    if (rc == 0)
        rc = hdf5_write_dataset(&ts->io, group, TRIAL_DIRECTION_R, H5T_IEEE_F32LE, H5T_NATIVE_FLOAT,
                                1, &d, r);
    if (rc == 0 && steering)
        rc = hdf5_write_dataset(&ts->io, group, TRIAL_DIRECTION_STEERING, H5T_IEEE_F32LE,
                                H5T_NATIVE_FLOAT, 1, &d, steering);
    if (rc == 0)
        rc = hdf5_write_dataset(&ts->io, group, TRIAL_DIRECTION_PROJECTION_BASE, H5T_IEEE_F32LE,
                                H5T_NATIVE_FLOAT, 1, &k, proj_before);
    if (rc == 0)
        rc = hdf5_write_dataset(&ts->io, group, TRIAL_DIRECTION_PROJECTION_EDITED, H5T_IEEE_F32LE,
                                H5T_NATIVE_FLOAT, 1, &k, proj_after);
    hdf5_release(group);
    return rc ? report(ts, err, err_len) : 0;
}
