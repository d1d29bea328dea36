/* hash.h - FNV-1a, 64 bits: stable names and fingerprints (not for security). */
#ifndef TESSERA_HASH_H
#define TESSERA_HASH_H

#include <stddef.h>
#include <stdint.h>

#define TS_FNV1A_START 1469598103934665603ull

/* Continues hash h (start with TS_FNV1A_START) over n bytes. */
static inline uint64_t ts_fnv1a(uint64_t h, const void *p, size_t n) {
    const unsigned char *b = (const unsigned char *)p;
    for (size_t i = 0; i < n; i++) h = (h ^ b[i]) * 1099511628211ull;
    return h;
}

#endif
