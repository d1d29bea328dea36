/* image.h - reading, writing and resampling images.
 *
 * In memory an image is planar RGB float in [0,1]: data[c*h*w + y*w + x], c = 0 (R), 1 (G), 2 (B).
 * Readers detect the format from the file's first bytes (not its name); writers pick the format from
 * the output name's extension. Every input problem is returned as -1 with a message in err that names
 * the file; nothing is allocated beyond what the caller gets back, and nothing is half-written.
 */
#ifndef TESSERA_IMAGE_H
#define TESSERA_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/check.h"

typedef struct {
    int w, h;
    float *data; /* 3*h*w, planar RGB, [0,1] */
} ts_image;

typedef enum { TS_FMT_UNKNOWN = 0, TS_FMT_PNG, TS_FMT_JPEG, TS_FMT_TIFF, TS_FMT_NPY } ts_image_format;

/* Default pixel limit (w*h) checked before any pixel buffer is allocated. */
#define TS_DEFAULT_MAX_PIXELS ((size_t)1 << 28) /* 268 Mpx */

/* Reads PNG (8/16-bit, grey, grey+alpha, RGB, RGBA, palette), JPEG (grey, RGB, CMYK refused with a
 * message) or TIFF (8/16-bit unsigned and 32-bit float, strips or tiles, grey or RGB, BigTIFF), or a
 * float32 .npy of shape (3,H,W) (values taken as they are). Alpha is dropped. Grey becomes RGB.
 * Images with w*h > max_pixels are refused before allocating. */
int ts_image_read(const char *path, size_t max_pixels, ts_image *out, ts_err *err);
/* The same readers and checks on a file held in memory (len bytes at buf); name stands for the file
 * in messages. Used by the fuzz targets. */
int ts_image_read_memory(const void *buf, size_t len, const char *name, size_t max_pixels, ts_image *out,
                         ts_err *err);

typedef struct {
    int bits;    /* 8 or 16 (PNG, TIFF); JPEG is always 8 */
    int quality; /* JPEG quality 1..100, 0 = default (95) */
} ts_image_write_opts;

/* Writes by extension: .png, .jpg/.jpeg, .tif/.tiff (BigTIFF when the data passes 2 GiB).
 * Values are clamped to [0,1] and rounded. Written to "<path>.tmp.<pid>" then renamed, so a failure
 * never leaves a partial file at path. opts may be NULL (8-bit, quality 95). */
int ts_image_write(const char *path, const ts_image *img, const ts_image_write_opts *opts, ts_err *err);

ts_image_format ts_image_format_from_name(const char *path);

void ts_image_alloc(ts_image *img, int w, int h);
void ts_image_free(ts_image *img);

/* The size whose long side is n, keeping the aspect ratio (rounded, at least 1 px). */
void ts_image_fit_long_side(int w, int h, int n, int *nw, int *nh);

/* Resamples to nw x nh with an anti-aliasing filter (separable, triangle/area-style filter widened by
 * the scale factor when shrinking; bilinear-like when enlarging). When nw == w and nh == h the pixels
 * are copied unchanged. out is allocated. */
void ts_image_resize(const ts_image *in, int nw, int nh, ts_image *out);

#endif
