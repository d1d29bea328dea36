/* fuzz_image.h - the body of the image-reader fuzz targets (fuzz_png.c, fuzz_jpeg.c, fuzz_tiff.c,
 * fuzz_npy.c): each defines FUZZ_WANTS(d, n), true for inputs that start like its format, and includes
 * this file. Other inputs are skipped, so each target spends its time in one reader. The pixel limit
 * is lowered so that a header declaring a large image costs megabytes, not gigabytes. */
#ifndef TESSERA_FUZZ_IMAGE_H
#define TESSERA_FUZZ_IMAGE_H

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "tessera/image.h"

#define FUZZ_MAX_PIXELS ((size_t)1 << 18)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!(FUZZ_WANTS(data, size))) return 0;
    ts_image img;
    ts_err err = {{0}};
    if (ts_image_read_memory(data, size, "fuzz", FUZZ_MAX_PIXELS, &img, &err) != 0) {
        if (img.data != NULL || err.msg[0] == '\0') __builtin_trap();
        return 0;
    }
    /* an accepted image has a size within the limit, and every sample is readable and finite (the
     * float readers refuse NaN and infinities; the integer ones cannot make them) */
    if (img.w <= 0 || img.h <= 0 || (size_t)img.w * (size_t)img.h > FUZZ_MAX_PIXELS) __builtin_trap();
    for (size_t i = 0; i < (size_t)3 * img.w * img.h; i++)
        if (!isfinite(img.data[i])) __builtin_trap();
    ts_image_free(&img);
    return 0;
}

#endif
