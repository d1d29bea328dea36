/* image.c - format detection, read/write dispatch, atomic writes, allocation, sizes. */
#include "tessera/image.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_formats.h"
#include "tessera/npy.h"

int ts_image_check_size(const char *path, uint64_t w, uint64_t h, size_t max_pixels, ts_err *err) {
    if (max_pixels == 0) max_pixels = TS_DEFAULT_MAX_PIXELS;
    if (w == 0 || h == 0)
        return ts_fail(err, "%s: image has an empty size (%" PRIu64 "x%" PRIu64 ")", path, w, h);
    if (w > INT_MAX || h > INT_MAX)
        return ts_fail(err, "%s: image is %" PRIu64 "x%" PRIu64 ", a side is over %d pixels", path, w,
                       h, INT_MAX);
    uint64_t n = w * h; /* both < 2^31: no overflow */
    if (n > max_pixels)
        return ts_fail(err,
                       "%s: image is %" PRIu64 "x%" PRIu64 " = %" PRIu64
                       " pixels, over the limit of %zu (--max-pixels)",
                       path, w, h, n, max_pixels);
    if (n > SIZE_MAX / (3 * sizeof(float)))
        return ts_fail(err, "%s: image is %" PRIu64 "x%" PRIu64 ", too large for this machine", path,
                       w, h);
    return 0;
}

void ts_image_alloc(ts_image *img, int w, int h) {
    TS_CHECK(w > 0 && h > 0, "ts_image_alloc: bad size %dx%d", w, h);
    size_t n = (size_t)w * (size_t)h;
    TS_CHECK(n <= SIZE_MAX / (3 * sizeof(float)), "ts_image_alloc: %dx%d overflows", w, h);
    img->w = w;
    img->h = h;
    img->data = ts_calloc(3 * n, sizeof(float));
}

void ts_image_pack_row(const ts_image *img, const float *alpha, int y, int bits, int order, unsigned char *row) {
    size_t plane = (size_t)img->w * img->h;
    int nch = alpha ? 4 : 3;
    for (int x = 0; x < img->w; x++)
        for (int c = 0; c < nch; c++) {
            float v = c < 3 ? img->data[c * plane + (size_t)y * img->w + x] : alpha[(size_t)y * img->w + x];
            size_t i = (size_t)nch * x + c;
            if (bits == 8) {
                row[i] = ts_to_u8(v);
            } else if (order == TS_ROW_BIG_ENDIAN) {
                uint16_t s = ts_to_u16(v);
                row[2 * i] = (unsigned char)(s >> 8);
                row[2 * i + 1] = (unsigned char)(s & 0xFF);
            } else {
                uint16_t s = ts_to_u16(v);
                memcpy(row + 2 * i, &s, 2);
            }
        }
}

int ts_close_written(FILE *f, const char *path, const char *what, ts_err *err) {
    int bad = fflush(f) != 0 || ferror(f);
    int e = errno;
    if (fclose(f) != 0 && !bad) {
        bad = 1;
        e = errno;
    }
    if (bad) return ts_fail(err, "%s: cannot write %s: %s", path, what, strerror(e));
    return 0;
}

void ts_image_free(ts_image *img) {
    if (!img) return;
    free(img->data);
    img->data = NULL;
    img->w = img->h = 0;
}

ts_image_format ts_image_format_from_name(const char *path) {
    if (!path) return TS_FMT_UNKNOWN;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    const char *dot = strrchr(base, '.');
    if (!dot) return TS_FMT_UNKNOWN;
    const char *ext = dot + 1;
    if (!strcasecmp(ext, "png")) return TS_FMT_PNG;
    if (!strcasecmp(ext, "jpg") || !strcasecmp(ext, "jpeg")) return TS_FMT_JPEG;
    if (!strcasecmp(ext, "tif") || !strcasecmp(ext, "tiff")) return TS_FMT_TIFF;
    if (!strcasecmp(ext, "npy")) return TS_FMT_NPY;
    return TS_FMT_UNKNOWN;
}

static const char *format_name(ts_image_format f) {
    switch (f) {
    case TS_FMT_PNG: return "PNG";
    case TS_FMT_JPEG: return "JPEG";
    case TS_FMT_TIFF: return "TIFF";
    case TS_FMT_NPY: return ".npy";
    default: return "unknown";
    }
}

static ts_image_format detect(const unsigned char *b, size_t n) {
    if (n >= 8 && !memcmp(b, "\x89PNG\r\n\x1a\n", 8)) return TS_FMT_PNG;
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return TS_FMT_JPEG;
    if (n >= 4 && (!memcmp(b, "II*\0", 4) || !memcmp(b, "MM\0*", 4) || !memcmp(b, "II+\0", 4) ||
                   !memcmp(b, "MM\0+", 4)))
        return TS_FMT_TIFF;
    if (n >= 6 && !memcmp(b, "\x93NUMPY", 6)) return TS_FMT_NPY;
    return TS_FMT_UNKNOWN;
}

/* nch planes of W x H turned by orientation o (2..8) into new memory; *w2, *h2 the new size */
static float *orient_planes(const float *src, int nch, int W, int H, int o, int *w2out, int *h2out) {
    int swap = o >= 5, w2 = swap ? H : W, h2 = swap ? W : H;
    size_t plane = (size_t)W * H;
    float *d = ts_malloc((size_t)nch * plane * sizeof(float));
    for (int y = 0; y < h2; y++)
        for (int x = 0; x < w2; x++) {
            int sx, sy; /* the stored pixel shown at (x, y) */
            switch (o) {
            case 2: sx = W - 1 - x, sy = y; break;
            case 3: sx = W - 1 - x, sy = H - 1 - y; break;
            case 4: sx = x, sy = H - 1 - y; break;
            case 5: sx = y, sy = x; break;
            case 6: sx = y, sy = H - 1 - x; break;
            case 7: sx = W - 1 - y, sy = H - 1 - x; break;
            default: sx = W - 1 - y, sy = x; break; /* 8 */
            }
            for (int c = 0; c < nch; c++) d[c * plane + (size_t)y * w2 + x] = src[c * plane + (size_t)sy * W + sx];
        }
    *w2out = w2;
    *h2out = h2;
    return d;
}

void ts_image_orient(ts_image *img, int o) {
    if (o < 2 || o > 8) return;
    int w2, h2;
    float *d = orient_planes(img->data, 3, img->w, img->h, o, &w2, &h2);
    free(img->data);
    img->data = d;
    img->w = w2;
    img->h = h2;
}

/* colours and alpha into the picture over background b (white when NULL): a c + (1 - a) b, or c +
 * (1 - a) b for premultiplied colours */
static void composite(ts_image *img, const float *alpha, int premultiplied, const float *b) {
    static const float white[3] = {1, 1, 1};
    if (!b) b = white;
    size_t plane = (size_t)img->w * img->h;
    for (int c = 0; c < 3; c++)
        for (size_t p = 0; p < plane; p++) {
            float a = alpha[p], v = img->data[c * plane + p];
            img->data[c * plane + p] = (premultiplied ? v : a * v) + (1.0f - a) * b[c];
        }
}

void ts_image_meta_free(ts_image_meta *meta) {
    free(meta->alpha);
    meta->alpha = NULL;
    free(meta->icc);
    meta->icc = NULL;
}

float *ts_image_split_alpha(float *pix, size_t plane, ts_image_meta *meta) {
    meta->alpha = ts_malloc(plane * sizeof(float));
    memcpy(meta->alpha, pix + 3 * plane, plane * sizeof(float));
    return ts_realloc(pix, 3 * plane * sizeof(float));
}

int ts_image_profiles_available(void) { return ts_icc_available(); }

int ts_image_from_srgb(ts_image *img, const void *icc, size_t n, char *why, size_t nw) {
    return ts_icc_from_srgb(img, icc, n, why, nw);
}

/* colour profile, orientation, alpha and what is said of them, after a reader */
static void finish(ts_image *out, ts_image_meta *meta, const ts_image_read_opts *opts, ts_image_info *info) {
    int profile = 0;
    char note[160] = "";
    if (meta->icc && meta->icc_applied) {
        profile = 1;
    } else if (meta->icc && meta->icc_cmyk) {
        profile = -1;
        snprintf(note, sizeof note, "its CMYK profile is not used (%s; the inks are converted without it)",
                 ts_icc_available() ? "it cannot be read" : "this build has no Little CMS (lcms2)");
    } else if (meta->icc) {
        profile = ts_icc_to_srgb(out, meta->icc, meta->icc_len, note, sizeof note) == 0 ? 1 : -1;
    }
    int o = opts && opts->ignore_orientation ? 1 : meta->orientation;
    if (meta->alpha && o >= 2 && o <= 8) {
        int w2, h2;
        float *a = orient_planes(meta->alpha, 1, out->w, out->h, o, &w2, &h2);
        free(meta->alpha);
        meta->alpha = a;
    }
    ts_image_orient(out, o);
    if (meta->alpha) composite(out, meta->alpha, meta->premultiplied, opts ? opts->background : NULL);
    if (info) {
        memset(info, 0, sizeof *info);
        info->orientation = meta->orientation;
        info->pages = meta->pages;
        info->profile = profile;
        snprintf(info->profile_note, sizeof info->profile_note, "%s", note);
        if (meta->alpha && opts && opts->keep_alpha) { /* straight alpha, upright */
            info->alpha = meta->alpha;
            meta->alpha = NULL;
        }
        if (profile == 1 && opts && opts->keep_profile) {
            info->icc = meta->icc;
            info->icc_len = meta->icc_len;
            meta->icc = NULL;
        }
    }
    ts_image_meta_free(meta);
}

/* the pixels as the file stores them, and what it says of them */
static int read_stored(const char *path, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err) {
    out->w = out->h = 0;
    out->data = NULL;
    memset(meta, 0, sizeof *meta);
    FILE *f = fopen(path, "rb");
    if (!f) return ts_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && S_ISDIR(st.st_mode)) {
        fclose(f);
        return ts_fail(err, "%s: is a directory, not an image", path);
    }
    unsigned char magic[8];
    size_t n = fread(magic, 1, sizeof magic, f);
    if (n == 0) {
        int e = ferror(f) ? errno : 0;
        fclose(f);
        if (e) return ts_fail(err, "%s: cannot read: %s", path, strerror(e));
        return ts_fail(err, "%s: file is empty", path);
    }
    ts_image_format fmt = detect(magic, n);
    int rc;
    switch (fmt) {
    case TS_FMT_PNG:
    case TS_FMT_JPEG:
        rewind(f);
        rc = fmt == TS_FMT_PNG ? ts_png_read(path, f, max_pixels, out, meta, err)
                               : ts_jpeg_read(path, f, max_pixels, out, meta, err);
        fclose(f);
        return rc;
    case TS_FMT_TIFF:
        fclose(f);
        return ts_tiff_read(path, max_pixels, out, meta, err);
    case TS_FMT_NPY:
        fclose(f);
        return ts_npy_read_image(path, max_pixels, out, err);
    default: break;
    }
    fclose(f);
    ts_image_format by_name = ts_image_format_from_name(path);
    if (by_name != TS_FMT_UNKNOWN)
        return ts_fail(err, "%s: not a PNG, JPEG, TIFF or .npy file (the name says %s, the content does not)",
                       path, format_name(by_name));
    return ts_fail(err, "%s: not a PNG, JPEG, TIFF or .npy file", path);
}

int ts_image_read_with(const char *path, const ts_image_read_opts *opts, ts_image *out, ts_image_info *info,
                       ts_err *err) {
    ts_image_meta meta;
    if (read_stored(path, opts->max_pixels, out, &meta, err)) {
        ts_image_meta_free(&meta);
        return -1;
    }
    finish(out, &meta, opts, info);
    return 0;
}

int ts_image_read(const char *path, size_t max_pixels, ts_image *out, ts_err *err) {
    ts_image_read_opts o = {.max_pixels = max_pixels};
    return ts_image_read_with(path, &o, out, NULL, err);
}

int ts_image_read_memory(const void *buf, size_t len, const char *name, size_t max_pixels, ts_image *out,
                         ts_err *err) {
    out->w = out->h = 0;
    out->data = NULL;
    if (!buf || len == 0) return ts_fail(err, "%s: file is empty", name);
    ts_image_format fmt = detect(buf, len);
    if (fmt == TS_FMT_UNKNOWN) return ts_fail(err, "%s: not a PNG, JPEG, TIFF or .npy file", name);
    ts_image_meta meta = {0};
    int rc;
    if (fmt == TS_FMT_TIFF) {
        rc = ts_tiff_read_memory(name, buf, len, max_pixels, out, &meta, err);
    } else { /* the stream readers take a FILE: a read-only stream over the buffer */
        FILE *f = fmemopen((void *)buf, len, "rb");
        if (!f) return ts_fail(err, "%s: cannot open a stream over %zu bytes: %s", name, len, strerror(errno));
        rc = fmt == TS_FMT_PNG    ? ts_png_read(name, f, max_pixels, out, &meta, err)
             : fmt == TS_FMT_JPEG ? ts_jpeg_read(name, f, max_pixels, out, &meta, err)
                                  : ts_npy_read_image_stream(name, f, len, max_pixels, out, err);
        fclose(f);
    }
    if (rc == 0) finish(out, &meta, NULL, NULL);
    else ts_image_meta_free(&meta);
    return rc;
}

/* .npy output: shape (3,H,W), float32 as is. ts_npy_write is itself atomic. */
static int write_npy(const char *path, const ts_image *img, ts_err *err) {
    int64_t shape[3] = {3, img->h, img->w};
    return ts_npy_write(path, img->data, 3, shape, err);
}

int ts_image_write(const char *path, const ts_image *img, const ts_image_write_opts *opts, ts_err *err) {
    int bits = opts && opts->bits ? opts->bits : 8;
    int quality = opts && opts->quality ? opts->quality : 95;
    if (!img || !img->data || img->w <= 0 || img->h <= 0)
        return ts_fail(err, "%s: nothing to write (empty image)", path);
    ts_image_format fmt = ts_image_format_from_name(path);
    if (fmt == TS_FMT_UNKNOWN)
        return ts_fail(err, "%s: cannot tell the output format from the name (use .png, .jpg, .jpeg, "
                            ".tif, .tiff or .npy)",
                       path);
    if (fmt == TS_FMT_NPY) return write_npy(path, img, err);
    if ((fmt == TS_FMT_PNG || fmt == TS_FMT_TIFF) && bits != 8 && bits != 16)
        return ts_fail(err, "%s: cannot write %d-bit %s (use 8 or 16)", path, bits, format_name(fmt));
    if (quality < 1 || quality > 100)
        return ts_fail(err, "%s: JPEG quality %d is out of range 1..100", path, quality);
    if (opts && opts->alpha && (fmt == TS_FMT_JPEG || fmt == TS_FMT_NPY))
        return ts_fail(err, "%s: %s has no alpha channel (write .png or .tif)", path, format_name(fmt));

    size_t len = strlen(path) + 32;
    char *tmp = ts_malloc(len);
    snprintf(tmp, len, "%s.tmp.%ld", path, (long)getpid());
    int rc;
    /* the profile: the caller's, else sRGB's own (with lcms2) */
    ts_image_extras x = {opts ? opts->alpha : NULL, opts ? opts->icc : NULL, opts ? opts->icc_len : 0};
    void *srgb = NULL;
    if (!x.icc) {
        srgb = ts_icc_srgb(&x.icc_len);
        x.icc = srgb;
    }
    if (fmt == TS_FMT_PNG) rc = ts_png_write(tmp, path, img, &x, bits, err);
    else if (fmt == TS_FMT_JPEG) rc = ts_jpeg_write(tmp, path, img, &x, quality, err);
    else rc = ts_tiff_write(tmp, path, img, &x, bits, err);
    free(srgb);
    if (rc == 0 && rename(tmp, path) != 0)
        rc = ts_fail(err, "%s: cannot rename the temporary file into place: %s", path, strerror(errno));
    if (rc != 0) unlink(tmp);
    free(tmp);
    return rc;
}

void ts_image_fit_long_side(int w, int h, int n, int *nw, int *nh) {
    if (w <= 0 || h <= 0 || n <= 0) {
        *nw = w;
        *nh = h;
        return;
    }
    if (w >= h) {
        *nw = n;
        *nh = (int)floor((double)h * n / w + 0.5);
    } else {
        *nh = n;
        *nw = (int)floor((double)w * n / h + 0.5);
    }
    if (*nw < 1) *nw = 1;
    if (*nh < 1) *nh = 1;
}
