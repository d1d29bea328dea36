/* fuzz_tiff.c - libFuzzer target: the TIFF reader (libtiff through client procedures over memory),
 * classic and BigTIFF, either byte order. */
#define FUZZ_WANTS(d, n) ((n) >= 4 && (memcmp((d), "II", 2) == 0 || memcmp((d), "MM", 2) == 0))
#include "fuzz_image.h"
