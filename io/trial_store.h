// The HDF5 file of one ARE trial (runs/<name>/trials/<trial_id>.h5), written by the worker that
// runs the trial. Its layout (every name in it: trial_file_names.h), all of it created at trial
// start:
//
//   attributes   format_version (1), config (resolved config text), trial_id, seed, host, rank,
//                device, version, start_time and end_time (ISO-8601 UTC; end_time "" until
//                finished), status ("running" until finished)
//   metrics/<f>  [round] one growing dataset per AreRoundMetrics field f (round: int32, the
//                rest float64), one row per trial_store_sink round_metrics call
//   representations  [stored_round, sample, layer, dim] float16 or float32, growing
//   stored_rounds    [stored_round] int32: the round each representations slice was taken after
//   labels [sample] int32, is_test [sample] int8 (0 train, 1 test), layers [layer] int32 (HF
//                hidden_states indices)
//   lora_weights [stored_lora, n] float32 and lora_rounds [stored_lora] int32 (when lora_n > 0)
//   evaluation/refusal_markers [marker] strings; evaluation/<model>/<set>/ per evaluated set:
//                one float64 attribute per metric, prompts [text] and texts [text] strings,
//                and per-prompt float64 [text] datasets (trial_store_add_values)
//
// Strings are variable-length UTF-8 (invalid bytes, e.g. a generation cut inside a character,
// become U+FFFD). The file is written as "<path>.tmp" and appears under path only through
// rename(2) after a successful close, so a final name always holds a whole file.
//
// Reading while it grows: after creating everything, the store starts an HDF5 SWMR write
// session and flushes after every sink call, so h5py (h5py.File(p, "r", swmr=True), then
// dataset.refresh()) or the C API (H5F_ACC_SWMR_READ) sees each round as it lands. Readers take
// min(len(stored_rounds), len(representations)) slices, since two datasets may be one flush
// apart. SWMR forbids new objects and attributes, so the evaluation and the final attributes
// are written after the session ends: the first trial_store_add_evaluation or trial_store_finish
// closes the file and reopens it normally, and the sink accepts no more rounds after that.
// Plain (non-SWMR) readers such as h5dump are refused while the writer holds the file; they read
// a finished file, a .tmp left by trial_store_close, and one left by a killed process after
// `h5clear -s` (its rounds up to the last flush intact).
//
// Creating a store silences HDF5's own printing of its error stack for the process (messages
// come back through err instead). Not thread-safe: one thread writes one store.
#ifndef ARE_TRIAL_STORE_H
#define ARE_TRIAL_STORE_H

#include "are_sink.h"

#include <stdbool.h>
#include <stddef.h>

typedef struct TrialStore TrialStore;

typedef struct {
    const char *path;        // final name; its folder must exist
    const char *config_text; // the resolved config (are_config_canonical)
    const char *trial_id;
    long long seed;
    const char *host;
    int rank;
    const char *device;  // what ran the trial, e.g. "cuda:0 NVIDIA H100" or "cpu"
    const char *version; // are's version
    const char *const *refusal_markers;
    int n_refusal_markers;
    int n_samples, n_layers, dim; // representation shape of one round, each >= 1
    const int *layers;            // [n_layers] HF hidden_states indices
    const int *labels;            // [n_samples]
    const int *is_test;           // [n_samples] 0 train, 1 test
    bool store_fp16;              // representations as IEEE half (else float32)
    size_t lora_n;                // LoRA parameters per stored round; 0: no LoRA datasets
} TrialStoreSpec;

// Creates "<path>.tmp" (replacing any left there) with everything above, and starts the SWMR
// session. Returns NULL with "file: what failed: why" in err.
TrialStore *trial_store_create(const TrialStoreSpec *spec, char *err, size_t err_len);

// The sink that the trial loop writes rounds through: each callback appends and flushes, and
// returns -1 (message in trial_store_error) on an HDF5 failure, a shape that differs from the
// spec, or a call after the SWMR session ended. With lora_n 0, LoRA weights are accepted and
// dropped.
AreSink trial_store_sink(TrialStore *ts);

// The message of the last failure ("" when none).
const char *trial_store_error(const TrialStore *ts);

// Writes evaluation/<model>/<set_name>/: the metrics as attributes, prompts and texts as
// [n_texts] string datasets. model is "base" or "edited"; names may not contain '/'.
int trial_store_add_evaluation(TrialStore *ts, const char *model, const char *set_name,
                               const char *const *metric_names, const double *metric_values,
                               int n_metrics, const char *const *prompts, const char *const *texts,
                               int n_texts, char *err, size_t err_len);

// Writes values[0..n) as the float64 dataset evaluation/<model>/<set_name>/<name>, one value per
// prompt of a set that trial_store_add_evaluation has written (e.g. preserved_rouge_l).
int trial_store_add_values(TrialStore *ts, const char *model, const char *set_name,
                           const char *name, const double *values, int n, char *err,
                           size_t err_len);

// The trial's outcome, as group `result`: attributes `stop` ("converged", "max_rounds",
// "guard"), `stop_detail` (one line for people) and one double per name (rounds, best_round,
// final discriminator accuracy, ...). Like evaluations, written after the last round.
int trial_store_add_result(TrialStore *ts, const char *stop, const char *stop_detail,
                           const char *const *names, const double *values, int n, char *err,
                           size_t err_len);

// A baseline's direction (compute/baseline_trial.h), as group `direction`: attributes `method`,
// `layer` (the HF hidden_states index r was taken at) and `held_out_accuracy`; datasets `r`
// [dim] and `projection_base`, `projection_edited` [n_samples] (<representation at layer, r>
// of every sample in dataset order, base and edited model; labels and split as stored); with
// steering (not NULL), also `steering` [dim]: the vector activation addition adds at layer
// (what `are generate --steer` and `are evaluate --steer` read).
int trial_store_add_direction(TrialStore *ts, const char *method, int layer, double held_out_acc,
                              const float *r, const float *steering, int dim,
                              const float *proj_before, const float *proj_after, int n, char *err,
                              size_t err_len);

// Sets status (e.g. "done") and end_time, closes and fsyncs the file, renames it to path
// (replacing a file of that name) and frees ts. Returns 0, or -1 with the .tmp file kept (ts is
// freed either way; a .tmp that a full disk kept HDF5 from completing is emptied, see
// trial_store_close).
int trial_store_finish(TrialStore *ts, const char *status, char *err, size_t err_len);

// Abandons an unfinished trial: closes whatever is open and frees ts (NULL is fine). The .tmp
// file stays for inspection; the final name is never created. When a full disk keeps HDF5 from
// flushing the file, the .tmp is emptied first, since HDF5 can close it only once the rest of it
// fits.
void trial_store_close(TrialStore *ts);

#endif
