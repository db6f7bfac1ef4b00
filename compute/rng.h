// Seeded random numbers: the same seed gives the same stream on every machine and backend.
// xoshiro256** seeded through splitmix64.
#ifndef ARE_RNG_H
#define ARE_RNG_H

#include <stdint.h>

typedef struct {
    uint64_t s[4];
} Rng;

void rng_seed(Rng *rng, uint64_t seed);
uint64_t rng_next(Rng *rng);
// Uniform in [0, 1) with 24 random bits, so every value is exactly representable as a float.
float rng_uniform(Rng *rng);
// Standard normal (Box-Muller).
float rng_normal(Rng *rng);
// Mixes a seed with a stream index so that parallel streams (one per sequence, one per trial)
// are independent of each other and of the order they are drawn in.
uint64_t rng_derive(uint64_t seed, uint64_t stream);

#endif
