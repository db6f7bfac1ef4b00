#include "trial_id.h"

#include "fnv1a.h"

#include <stdio.h>
#include <stdlib.h>

void trial_id(const char *canonical_config, int repeat, char id[TRIAL_ID_LEN + 1]) {
    char tail[32];
    snprintf(tail, sizeof tail, "repeat = %d;\n", repeat);
    uint64_t h = fnv1a_text(fnv1a_text(FNV1A_OFFSET, canonical_config), tail);
    snprintf(id, TRIAL_ID_LEN + 1, "%016llx", (unsigned long long)h);
}

uint64_t trial_seed(uint64_t sweep_seed, const char *id) {
    char seed_text[32];
    snprintf(seed_text, sizeof seed_text, "%llu:", (unsigned long long)sweep_seed);
    return fnv1a_text(fnv1a_text(FNV1A_OFFSET, seed_text), id);
}

int trial_id_of_config(const AreConfig *c, int repeat, char id[TRIAL_ID_LEN + 1], char *err,
                       size_t err_len) {
    char *canonical = are_config_canonical(c);
    if (!canonical) {
        snprintf(err, err_len, "out of memory");
        return -1;
    }
    trial_id(canonical, repeat, id);
    free(canonical);
    return 0;
}
