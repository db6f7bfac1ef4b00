// What a worker does with a trial of the plan: resolve its config, keep the model loaded
// across trials (reloading only when a trial names another model or thread count), run it,
// and report done or failed with the summary numbers. Used by worker ranks and by a sweep
// that runs alone in one process.
#ifndef ARE_SWEEP_WORKER_H
#define ARE_SWEEP_WORKER_H

#include "are_config.h"
#include "model_session.h"
#include "sweep_queue.h"
#include "sweep_spec.h"

#include <stdbool.h>

typedef struct {
    const char *config_path;
    const char *const *overrides; // the command line's --set, before each trial's own
    int n_overrides;
    int threads; // this rank's CPU threads
    int gpu;     // the GPU picked by node-local rank, -1 when the node has none
    ModelSession ms;
    // What ms holds ("" when nothing is loaded), on what: a trial with other values reloads.
    char model[1024];
    int model_threads;
    char model_device[16], model_base_weights[8];
} SweepWorker;

// The config of trial t of the plan (the file, the sweep's set, the command line's overrides,
// then t's own; its id checked against the plan's), or with t NULL the sweep's base config.
// Returns 0, or -1 with err.
int sweep_trial_config(const char *config_path, const char *const *overrides, int n_overrides,
                       const SweepPlan *plan, const SweepTrial *t, AreConfig *c, char *err,
                       size_t err_len);

// Runs trial t of the plan. Never fails itself: a trial that cannot run is reported failed
// with the reason.
void sweep_worker_run(SweepWorker *w, const SweepPlan *plan, const SweepTrial *t,
                      TrialReport *report);
void sweep_worker_close(SweepWorker *w);

#endif
