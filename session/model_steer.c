#include "model_steer.h"

#include "trial_steering.h"

#include <stdio.h>

int model_steer(ModelSession *s, const char *trial_file, char *err, size_t err_len) {
    TrialSteering t;
    if (trial_steering_read(trial_file, &t, err, err_len) < 0) return -1;
    const LlamaConfig *cfg = &s->model.cfg;
    int layer = llama_resolve_layer(cfg, t.layer), rc = -1;
    Backend *be = s->be;
    float *steer = NULL;
    if (t.dim != cfg->dim)
        snprintf(err, err_len,
                 "%s: the steering vector has %d values, the model's hidden size is %d", trial_file,
                 t.dim, cfg->dim);
    else if (layer < 0 || layer >= cfg->n_layers)
        snprintf(err, err_len,
                 "%s: the steering layer hidden_states[%d] is not below the model's final norm "
                 "(0..%d)",
                 trial_file, t.layer, cfg->n_layers - 1);
    else if (!(steer = be->alloc(be, (size_t)t.dim * sizeof *steer)))
        snprintf(err, err_len, "out of memory for the steering vector");
    else {
        be->to_device(be, steer, t.steer, (size_t)t.dim * sizeof *steer);
        model_unsteer(s);
        s->model.steer = steer;
        s->model.steer_layer = layer;
        rc = 0;
    }
    trial_steering_free(&t);
    return rc;
}

void model_unsteer(ModelSession *s) {
    if (!s->model.steer) return;
    s->be->free(s->be, (void *)s->model.steer);
    s->model.steer = NULL;
}
