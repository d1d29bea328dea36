/* fuzz_png.c - libFuzzer target: the PNG reader (libpng) from memory. */
#define FUZZ_WANTS(d, n) ((n) >= 8 && memcmp((d), "\x89PNG\r\n\x1a\n", 8) == 0)
#include "fuzz_image.h"
