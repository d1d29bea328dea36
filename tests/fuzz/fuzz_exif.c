/* fuzz_exif.c - libFuzzer target: the EXIF Orientation parser (src/io/exif.c) on any bytes. It must
 * return 0..8 and read nothing outside the block (ASan checks the second). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "image_formats.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    /* a copy of exactly size bytes, so any read past the end is caught */
    unsigned char *b = malloc(size ? size : 1);
    if (size) memcpy(b, data, size);
    int o = ts_exif_orientation(b, size);
    free(b);
    if (o < 0 || o > 8) __builtin_trap();
    return 0;
}
