/* rng.h - splitmix64: a small, well-mixed generator for seeded weights and noise. */
#ifndef TESSERA_RNG_H
#define TESSERA_RNG_H

#include <stdint.h>

static inline uint64_t ts_rng_next(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* uniform in (0, 1) */
static inline double ts_rng_uniform(uint64_t *s) {
    return ((double)(ts_rng_next(s) >> 11) + 0.5) * (1.0 / 9007199254740992.0);
}

#endif
