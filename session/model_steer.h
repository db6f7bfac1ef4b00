// `--steer FILE` of `are generate` and `are evaluate`: the steering vector an activation-addition
// trial stored in its trial file, added to the loaded model's residual stream at its layer in
// every forward (llama.h's steer).
#ifndef ARE_MODEL_STEER_H
#define ARE_MODEL_STEER_H

#include "model_session.h"

#include <stddef.h>

// Reads the vector from trial_file and attaches it to s's model. Refuses a vector whose length
// is not the model's dim or whose layer is not below the final norm. Returns 0, or -1 with the
// reason in err.
int model_steer(ModelSession *s, const char *trial_file, char *err, size_t err_len);
// Detaches and frees it (nothing when not steering).
void model_unsteer(ModelSession *s);

#endif
