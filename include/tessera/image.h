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

/* Reads PNG (8/16-bit, grey, grey+alpha, RGB, RGBA, palette), JPEG (grey, RGB, CMYK, YCCK) or TIFF
 * (8/16-bit unsigned and 32-bit float grey or RGB at full precision, strips or tiles, BigTIFF; every
 * other layout libtiff converts, at 8 bits), or a float32 .npy of shape (3,H,W) (values taken as they
 * are). Transparent parts are composited over white. Grey becomes RGB. The image comes upright (the
 * file's orientation applied).
 * Images with w*h > max_pixels are refused before allocating. */
int ts_image_read(const char *path, size_t max_pixels, ts_image *out, ts_err *err);
/* How images are read: the pixel limit (0: TS_DEFAULT_MAX_PIXELS), and whether the orientation a
 * file records (EXIF in JPEG and PNG, the TIFF tag) is applied, so the image is the upright one every
 * viewer shows (the default), or ignored (the pixels as stored). */
typedef struct {
    size_t max_pixels;
    int ignore_orientation;
    const float *background; /* RGB in [0,1] that transparent parts are composited over; NULL: white */
    int keep_alpha;          /* hand the alpha channel back in ts_image_info */
    int keep_profile;        /* hand the embedded colour profile back in ts_image_info */
} ts_image_read_opts;
/* What the file said beside its pixels. */
typedef struct {
    int orientation; /* the orientation it records (1..8; 0: none) */
    int pages;       /* images in a multi-page TIFF (the first is read); 0 otherwise */
    float *alpha;    /* with keep_alpha, its alpha channel (w x h, [0,1], upright; malloc'd: the caller
                      * frees it), NULL when it has none */
    int profile;     /* 1: it carried a colour profile, converted to sRGB; 0: none (taken as sRGB); -1:
                      * one that was not used (profile_note says why; the pixels are taken as sRGB) */
    char profile_note[160];
    unsigned char *icc; /* with keep_profile, the profile's bytes (malloc'd), NULL when none was used */
    size_t icc_len;
} ts_image_info;
/* info may be NULL. */
int ts_image_read_with(const char *path, const ts_image_read_opts *opts, ts_image *out, ts_image_info *info,
                       ts_err *err);
/* Turns an image as stored into the one its orientation shows (EXIF/TIFF values 1..8: 1 as stored, 2
 * mirrored left-right, 3 turned 180 degrees, 4 mirrored top-bottom, 5 transposed, 6 turned 90 degrees
 * clockwise, 7 transposed across the other diagonal, 8 turned 90 degrees anticlockwise). */
void ts_image_orient(ts_image *img, int orientation);

/* The same readers and checks on a file held in memory (len bytes at buf); name stands for the file
 * in messages; the orientation is applied. Used by the fuzz targets. */
int ts_image_read_memory(const void *buf, size_t len, const char *name, size_t max_pixels, ts_image *out,
                         ts_err *err);

typedef struct {
    int bits;    /* 8 or 16 (PNG, TIFF); JPEG is always 8 */
    int quality; /* JPEG quality 1..100, 0 = default (95) */
    const float *alpha; /* NULL, or a straight alpha channel (w x h) written with the colours (PNG, TIFF) */
    const void *icc;    /* the colour profile the pixels are in, embedded; NULL: sRGB (its profile embedded
                         * when the build has lcms2; a PNG says sRGB without it too) */
    size_t icc_len;
} ts_image_write_opts;
/* 1 when this build converts colour profiles (Little CMS). */
int ts_image_profiles_available(void);
/* Converts a (planar RGB float) image from sRGB into an RGB colour profile; -1 with why if it cannot. */
int ts_image_from_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw);

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
