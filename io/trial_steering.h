// The steering vector an activation-addition trial stored (trial_store_add_direction), read back
// for `are generate --steer` and `are evaluate --steer`.
#ifndef ARE_TRIAL_STEERING_H
#define ARE_TRIAL_STEERING_H

#include <stddef.h>

typedef struct {
    int layer;    // HF hidden_states index it is added at
    int dim;      // its length
    float *steer; // [dim], malloc'd
} TrialSteering;

// Reads direction/steering and direction's attribute layer from the trial file at path.
// Returns 0, or -1 with "path: what is wrong" in err (not HDF5, no direction group, a trial of
// another method without a steering vector, a vector that is not one-dimensional or not finite).
int trial_steering_read(const char *path, TrialSteering *s, char *err, size_t err_len);
void trial_steering_free(TrialSteering *s);

#endif
