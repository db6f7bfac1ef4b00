#include "sweep_worker.h"

#include "monotonic_clock.h"
#include "trial.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// The session for the config's model, loaded once and kept while trials share it.
static int session_for(SweepWorker *w, const AreConfig *c, char *err, size_t err_len) {
    int threads = w->threads ? w->threads : c->threads;
    if (w->model[0] && !strcmp(w->model, c->model) && w->model_threads == threads &&
        !strcmp(w->model_device, c->device) && !strcmp(w->model_base_weights, c->base_weights))
        return 0;
    sweep_worker_close(w);
    DeviceChoice dev = {c->device, c->base_weights, threads, w->gpu};
    if (model_session_open(&w->ms, c->model, NULL, &dev, err, err_len) < 0) {
        model_session_close(&w->ms);
        return -1;
    }
    snprintf(w->model, sizeof w->model, "%s", c->model);
    w->model_threads = threads;
    snprintf(w->model_device, sizeof w->model_device, "%s", c->device);
    snprintf(w->model_base_weights, sizeof w->model_base_weights, "%s", c->base_weights);
    return 0;
}

int sweep_trial_config(const char *config_path, const char *const *overrides, int n_overrides,
                       const SweepPlan *plan, const SweepTrial *t, AreConfig *c, char *err,
                       size_t err_len) {
    int n_trial = t ? t->n_overrides : 0, n = n_overrides + plan->n_settings + n_trial;
    const char **all = malloc((size_t)(n + 1) * sizeof *all);
    if (!all) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    int k = 0;
    for (int i = 0; i < plan->n_settings; i++) all[k++] = plan->settings[i];
    for (int i = 0; i < n_overrides; i++) all[k++] = overrides[i];
    for (int i = 0; i < n_trial; i++) all[k++] = t->overrides[i];
    int rc = are_config_load(config_path, all, n, c, err, err_len);
    free(all);
    if (rc < 0 || !t) return rc;
    // The file is read again for every trial: one edited since the plan was made would run
    // another trial under this one's id.
    char id[TRIAL_ID_LEN + 1];
    if (trial_id_of_config(c, t->repeat, id, err, err_len) < 0) return -1;
    if (strcmp(id, t->id) != 0) {
        snprintf(err, err_len,
                 "%s changed since the sweep was planned: trial %s now resolves to %s (restart "
                 "the sweep)",
                 config_path, t->id, id);
        return -1;
    }
    c->seed = (long long)t->seed;
    return 0;
}

void sweep_worker_run(SweepWorker *w, const SweepPlan *plan, const SweepTrial *t,
                      TrialReport *report) {
    *report = (TrialReport){0};
    double start = monotonic_seconds();
    AreConfig *c = malloc(sizeof *c);
    TrialOutcome *outcome = malloc(sizeof *outcome);
    char *err = report->error;
    size_t err_len = sizeof report->error;
    if (!c || !outcome) {
        snprintf(err, err_len, "out of memory");
    } else if (sweep_trial_config(w->config_path, w->overrides, w->n_overrides, plan, t, c, err,
                                  err_len) == 0 &&
               session_for(w, c, err, err_len) == 0 &&
               trial_run(&w->ms, c, t->id, NULL, outcome, err, err_len) == 0) {
        report->done = true;
        report->summary = outcome->summary;
    }
    snprintf(report->device, sizeof report->device, "%s", w->ms.be ? w->ms.device : "cpu");
    report->seconds = monotonic_seconds() - start;
    free(outcome);
    free(c);
}

void sweep_worker_close(SweepWorker *w) {
    if (w->model[0]) model_session_close(&w->ms);
    w->model[0] = '\0';
}
