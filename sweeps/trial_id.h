// Trial ids: the same resolved config and repeat index always name the same trial, whatever
// the order trials are expanded or handed out in, so a rerun finds the trials already done.
#ifndef ARE_TRIAL_ID_H
#define ARE_TRIAL_ID_H

#include "are_config.h"

#include <stddef.h>
#include <stdint.h>

#define TRIAL_ID_LEN 16 // hex digits

// 64-bit FNV-1a of the canonical config text (are_config_canonical) followed by
// "repeat = N;", as 16 lower-case hex digits and a NUL in id.
void trial_id(const char *canonical_config, int repeat, char id[TRIAL_ID_LEN + 1]);

// trial_id of the config's canonical text (are_config_canonical). Returns 0, or -1 when out of
// memory (with the reason in err).
int trial_id_of_config(const AreConfig *c, int repeat, char id[TRIAL_ID_LEN + 1], char *err,
                       size_t err_len);

// The trial's seed: from the sweep seed and the id, never from arrival order.
uint64_t trial_seed(uint64_t sweep_seed, const char *id);

#endif
