/* image_formats.h - per-format readers and writers behind ts_image_read / ts_image_write (internal).
 *
 * Readers fill *out only on success (out->data allocated with ts_image_alloc) and name `path` in every
 * message. Writers write to `tmp` (the temporary name) and name `path` in messages; the caller renames
 * the file on success and unlinks it on failure.
 */
#ifndef TESSERA_IMAGE_FORMATS_H
#define TESSERA_IMAGE_FORMATS_H

#include <stdint.h>
#include <stdio.h>

#include "tessera/image.h"

/* 0 when w x h is a usable size under max_pixels (0 = TS_DEFAULT_MAX_PIXELS); else -1 with a message.
 * Call it before allocating any pixel buffer. */
int ts_image_check_size(const char *path, uint64_t w, uint64_t h, size_t max_pixels, ts_err *err);

/* What a reader learns about a file beside its pixels. */
typedef struct {
    int orientation; /* EXIF / TIFF orientation 1..8 (how the stored pixels are to be shown); 0: none */
    int pages;       /* TIFF: images in the file (the first is read); 0 for the other formats */
    float *alpha;    /* the alpha channel (w x h, [0,1], malloc'd; the caller frees it), NULL: none */
    int premultiplied; /* the colours are premultiplied by alpha (TIFF associated alpha, libtiff's RGBA) */
    unsigned char *icc; /* the embedded colour profile (malloc'd; the caller frees it), NULL: none */
    size_t icc_len;
    int icc_cmyk;       /* the profile belongs to CMYK samples converted to RGB without it (not applied) */
    int icc_applied;    /* the reader converted through the profile itself (CMYK JPEG) */
} ts_image_meta;

/* Releases what meta holds (alpha, icc). */
void ts_image_meta_free(ts_image_meta *meta);
/* pix holds 4 planes of plane floats: the fourth becomes meta->alpha; returns pix shrunk to 3 planes. */
float *ts_image_split_alpha(float *pix, size_t plane, ts_image_meta *meta);

/* f is open at the start of the file; the caller closes it. meta is filled (zeroed first); on
 * failure too it may hold what was read (a profile), which the caller releases (ts_image_meta_free). */
int ts_png_read(const char *path, FILE *f, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err);
int ts_jpeg_read(const char *path, FILE *f, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err);
int ts_tiff_read(const char *path, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err);
/* The same from len bytes at buf (name is used in messages). */
int ts_tiff_read_memory(const char *name, const void *buf, size_t len, size_t max_pixels, ts_image *out,
                        ts_image_meta *meta, ts_err *err);

/* Colour profiles (icc.c, Little CMS): 1 when this build can use them. to_srgb converts a planar RGB
 * float image from the embedded profile (RGB, or grey: the first channel is read) to sRGB in place;
 * from_srgb the other way (RGB profiles). -1 with why when the profile cannot be used. srgb: the
 * sRGB profile's bytes for outputs (malloc'd; NULL without lcms2). */
int ts_icc_available(void);
int ts_icc_to_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw);
int ts_icc_from_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw);
void *ts_icc_srgb(size_t *n);
/* A CMYK profile's transform of 8-bit CMYK samples (inverted: stored as 1 - ink) to sRGB; NULL when the
 * profile is not a CMYK one or cannot be used. cmyk_row converts npix pixels to interleaved RGB float
 * in [0,1]. */
void *ts_icc_cmyk_open(const void *icc, size_t n, int inverted);
void ts_icc_cmyk_row(void *t, const unsigned char *cmyk, float *rgb, size_t npix);
void ts_icc_close(void *t);

/* The Orientation tag of an EXIF block (the TIFF structure after JPEG's "Exif\0\0", or PNG's eXIf
 * chunk): 1..8, or 0 when it has none or the block is malformed. */
int ts_exif_orientation(const unsigned char *tiff, size_t n);
/* A float32 .npy of shape (3,H,W); values copied as they are (must be finite). */
int ts_npy_read_image(const char *path, size_t max_pixels, ts_image *out, ts_err *err);
/* The same from a stream of size bytes open at its start (the caller closes it). */
int ts_npy_read_image_stream(const char *name, FILE *f, uint64_t size, size_t max_pixels, ts_image *out,
                             ts_err *err);

/* What a writer embeds beside the pixels: a straight alpha channel (w x h; NULL: none) written as a
 * fourth sample (PNG, TIFF), and the colour profile's bytes (NULL: none; a PNG then says sRGB). */
typedef struct {
    const float *alpha;
    const void *icc;
    size_t icc_len;
} ts_image_extras;
int ts_png_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int bits,
                 ts_err *err);
int ts_jpeg_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int quality,
                  ts_err *err);
int ts_tiff_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int bits,
                  ts_err *err);

/* [0,1] float to integer sample, clamped and rounded; NaN becomes 0. */
static inline uint8_t ts_to_u8(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 255;
    return (uint8_t)(v * 255.0f + 0.5f);
}

static inline uint16_t ts_to_u16(float v) {
    if (!(v > 0.0f)) return 0;
    if (v >= 1.0f) return 65535;
    return (uint16_t)((double)v * 65535.0 + 0.5);
}

/* Row y of a planar image as interleaved RGB (or RGBA, with an alpha plane) samples: 8-bit, or 16-bit
 * in big-endian (PNG) or the machine's order (TIFF, which records it). row holds (3 or 4) * w *
 * bits/8 bytes. */
enum { TS_ROW_BIG_ENDIAN = 1, TS_ROW_NATIVE = 0 };
void ts_image_pack_row(const ts_image *img, const float *alpha, int y, int bits, int order, unsigned char *row);

/* Flushes and closes a file written through stdio; -1 with "PATH: cannot write WHAT: reason". */
int ts_close_written(FILE *f, const char *path, const char *what, ts_err *err);

#endif
