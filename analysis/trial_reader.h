// Reads one trial file (io/trial_store.h has its layout) for the representation analysis:
// the per-round metrics, the stored rounds' representations one (round, layer) slice at a
// time, labels and splits. A finished file and one still being written (<id>.h5.tmp, opened
// as an HDF5 SWMR reader) read alike; of a growing file the reader sees the rounds flushed
// when it opened.
#ifndef ARE_TRIAL_READER_H
#define ARE_TRIAL_READER_H

#include <hdf5.h>
#include <stddef.h>

#define TRIAL_READER_MAX_METRICS 32

typedef struct {
    hid_t file, reps;
    char *path;
    char *trial_id, *status, *task; // task: the `task = "..."` line of the stored config
    // metrics/<name> [n_rounds] as doubles, round numbers in `round`
    int n_rounds, n_metrics;
    int *round;
    char *metric_names[TRIAL_READER_MAX_METRICS];
    double *metrics[TRIAL_READER_MAX_METRICS];
    // representations [n_stored, n_samples, n_layers, dim], read by trial_reader_slice
    int n_stored, n_samples, n_layers, dim;
    int *stored_rounds; // [n_stored]
    int *layers;        // [n_layers] HF hidden_states indices
    int *labels;        // [n_samples]
    int *is_test;       // [n_samples] 0 train, 1 test
} TrialReader;

// Opens path and reads everything but the representations. Returns 0, or -1 with
// "path: what is wrong" in err (r is then empty; trial_reader_close is still fine).
int trial_reader_open(TrialReader *r, const char *path, char *err, size_t err_len);

// The values of metrics/<name> [n_rounds], or NULL when the file has no such metric.
const double *trial_reader_metric(const TrialReader *r, const char *name);

// Reads the representations of stored round index s (0..n_stored-1) at layer index l
// (0..n_layers-1) into out [n_samples, dim] as float32.
int trial_reader_slice(TrialReader *r, int s, int l, float *out, char *err, size_t err_len);

void trial_reader_close(TrialReader *r);

#endif
