/* fuzz_jpeg.c - libFuzzer target: the JPEG reader (libjpeg) from memory. */
#define FUZZ_WANTS(d, n) ((n) >= 3 && memcmp((d), "\xff\xd8\xff", 3) == 0)
#include "fuzz_image.h"
