/* fuzz_npy.c - libFuzzer target: the .npy image reader (its own header parser) from memory. */
#define FUZZ_WANTS(d, n) ((n) >= 6 && memcmp((d), "\x93NUMPY", 6) == 0)
#include "fuzz_image.h"
