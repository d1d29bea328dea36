/* image_tiff.c - TIFF reader and writer (8/16-bit RGB strips, deflate). Grey or RGB in 8/16-bit unsigned
 * or 32/64-bit float (strips or tiles, contiguous or separate planes, BigTIFF, alpha dropped) are read
 * with the scanline and tile readers, so 16-bit and float keep their precision; every other layout
 * libtiff can convert (palette, 1-4-bit, CMYK, YCbCr, LogLuv, ...) through its RGBA interface, 8 bits
 * per channel. The first image of a multi-page file is read (meta->pages says how many there are).
 * libtiff messages go to our error context (per-handle handlers, plus the global ones for the few
 * messages libtiff still sends there); nothing is printed. */
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tiffio.h>

#include "image_formats.h"

typedef struct {
    char msg[256]; /* first libtiff error */
} tiff_errctx;

static _Thread_local tiff_errctx *g_cur; /* the context of the call in progress, for global handlers */

static void record(tiff_errctx *ctx, const char *fmt, va_list ap) {
    if (ctx && !ctx->msg[0]) vsnprintf(ctx->msg, sizeof ctx->msg, fmt, ap);
}

static int on_error_r(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)module;
    record(user, fmt, ap);
    return 1; /* handled: the global handler is not called */
}

static int on_warning_r(TIFF *tif, void *user, const char *module, const char *fmt, va_list ap) {
    (void)tif;
    (void)user;
    (void)module;
    (void)fmt;
    (void)ap;
    return 1;
}

static void on_error_global(thandle_t h, const char *module, const char *fmt, va_list ap) {
    (void)h;
    (void)module;
    record(g_cur, fmt, ap);
}

static void on_warning_global(thandle_t h, const char *module, const char *fmt, va_list ap) {
    (void)h;
    (void)module;
    (void)fmt;
    (void)ap;
}

/* A file held in memory, read through libtiff's client procedures. */
typedef struct {
    const unsigned char *buf;
    uint64_t len, pos;
} mem_src;

static tmsize_t mem_read(thandle_t h, void *dst, tmsize_t n) {
    mem_src *m = (mem_src *)h;
    if (n <= 0 || m->pos >= m->len) return 0;
    uint64_t k = m->len - m->pos < (uint64_t)n ? m->len - m->pos : (uint64_t)n;
    memcpy(dst, m->buf + m->pos, (size_t)k);
    m->pos += k;
    return (tmsize_t)k;
}

static tmsize_t mem_write(thandle_t h, void *src, tmsize_t n) {
    (void)h;
    (void)src;
    (void)n;
    return -1; /* read-only */
}

static toff_t mem_seek(thandle_t h, toff_t off, int whence) {
    mem_src *m = (mem_src *)h;
    uint64_t base = whence == SEEK_CUR ? m->pos : whence == SEEK_END ? m->len : 0;
    if (off > UINT64_MAX - base) return (toff_t)-1;
    m->pos = base + off; /* past the end is allowed, as for files; reads there return 0 */
    return m->pos;
}

static int mem_close(thandle_t h) {
    (void)h;
    return 0;
}

static toff_t mem_size(thandle_t h) { return ((mem_src *)h)->len; }

static int mem_map(thandle_t h, void **base, toff_t *size) {
    (void)h;
    (void)base;
    (void)size;
    return 0; /* no mapping: libtiff reads through mem_read */
}

static void mem_unmap(thandle_t h, void *base, toff_t size) {
    (void)h;
    (void)base;
    (void)size;
}

/* Opens a file by name, or the memory source m when it is not NULL (name is then used in messages). */
static TIFF *open_tiff(const char *name, const char *mode, mem_src *m, tiff_errctx *ctx) {
    TIFFSetErrorHandler(NULL);
    TIFFSetWarningHandler(NULL);
    TIFFSetErrorHandlerExt(on_error_global);
    TIFFSetWarningHandlerExt(on_warning_global);
    g_cur = ctx;
    TIFFOpenOptions *o = TIFFOpenOptionsAlloc();
    if (!o) return NULL;
    TIFFOpenOptionsSetErrorHandlerExtR(o, on_error_r, ctx);
    TIFFOpenOptionsSetWarningHandlerExtR(o, on_warning_r, ctx);
    TIFF *tif = m ? TIFFClientOpenExt(name, mode, (thandle_t)m, mem_read, mem_write, mem_seek, mem_close, mem_size,
                                      mem_map, mem_unmap, o)
                  : TIFFOpenExt(name, mode, o);
    TIFFOpenOptionsFree(o);
    return tif;
}

static const char *why(const tiff_errctx *ctx) { return ctx->msg[0] ? ctx->msg : "unknown error"; }

#define TIFF_MAX_SAMPLES 16 /* samples per pixel read (colour + alpha + extra channels) */

/* How samples are laid out in a decoded scanline or tile. */
typedef struct {
    int bps;      /* 8, 16, 32 or 64 */
    int isfloat;  /* IEEE float samples */
    int invert;   /* min-is-white */
    int stride;   /* samples per pixel in the buffer */
} layout;

/* Stores n pixels of sample `off` from src into channel ch of dst (ch < 0: all three, for grey). */
static void put(float *dst, size_t plane, uint32_t w, const layout *L, const unsigned char *src, int off,
                uint32_t y, uint32_t x0, uint32_t n, int ch) {
    for (uint32_t i = 0; i < n; i++) {
        size_t k = (size_t)i * L->stride + off;
        double v;
        if (L->bps == 8) {
            v = src[k] / 255.0;
        } else if (L->bps == 16) {
            uint16_t s;
            memcpy(&s, src + 2 * k, 2);
            v = s / 65535.0;
        } else if (L->bps == 32) {
            float s;
            memcpy(&s, src + 4 * k, 4);
            v = s;
        } else {
            double s;
            memcpy(&s, src + 8 * k, 8);
            v = s;
        }
        if (L->invert) v = 1.0 - v;
        size_t o = (size_t)y * w + x0 + i;
        if (ch < 0) dst[o] = dst[plane + o] = dst[2 * plane + o] = (float)v;
        else dst[ch * plane + o] = (float)v;
    }
}

static int has_alpha(TIFF *tif, int spp, int ncolor, int *assoc);

/* Any layout libtiff's RGBA interface converts, 8 bits per channel; the raster in the file's own row
 * and column order (orientation: the file's), which ts_image_orient then turns upright. */
static int read_rgba(TIFF *tif, const char *path, uint32_t w, uint32_t h, ts_image_meta *meta, int spp,
                     ts_image *out, ts_err *err, tiff_errctx *ctx) {
    int orientation = meta->orientation, assoc;
    int alpha = has_alpha(tif, spp, 1, &assoc); /* libtiff's raster premultiplies any alpha */
    size_t plane = (size_t)w * h;
    uint32_t *raster = ts_malloc(sizeof(uint32_t) * plane);
    if (!TIFFReadRGBAImageOriented(tif, w, h, raster, orientation ? orientation : ORIENTATION_TOPLEFT, 0)) {
        free(raster);
        return ts_fail(err, "%s: bad or truncated TIFF file: %s", path, why(ctx));
    }
    float *dst = ts_malloc(3 * plane * sizeof(float));
    for (size_t p = 0; p < plane; p++) {
        dst[p] = TIFFGetR(raster[p]) / 255.0f;
        dst[plane + p] = TIFFGetG(raster[p]) / 255.0f;
        dst[2 * plane + p] = TIFFGetB(raster[p]) / 255.0f;
    }
    if (alpha) {
        meta->alpha = ts_malloc(plane * sizeof(float));
        for (size_t p = 0; p < plane; p++) meta->alpha[p] = TIFFGetA(raster[p]) / 255.0f;
        meta->premultiplied = 1;
    }
    free(raster);
    out->w = (int)w;
    out->h = (int)h;
    out->data = dst;
    return 0;
}

/* The colour and alpha samples of n pixels of one decoded row: all the samples of each pixel in turn
 * (sep_plane < 0), or one separate plane (its index: colour planes first, then alpha). Alpha goes to
 * dst's fourth plane, never inverted. */
static void put_row(float *dst, size_t plane, uint32_t w, const layout *L, int ncolor, int alpha,
                    const unsigned char *src, int sep_plane, uint32_t y, uint32_t x0, uint32_t n) {
    layout LA = *L;
    LA.invert = 0;
    if (sep_plane >= 0) {
        if (sep_plane < ncolor) put(dst, plane, w, L, src, 0, y, x0, n, ncolor == 1 ? -1 : sep_plane);
        else put(dst, plane, w, &LA, src, 0, y, x0, n, 3);
        return;
    }
    for (int c = 0; c < ncolor; c++) put(dst, plane, w, L, src, c, y, x0, n, ncolor == 1 ? -1 : c);
    if (alpha) put(dst, plane, w, &LA, src, ncolor, y, x0, n, 3);
}

/* 1 when the first extra sample is alpha; *assoc when it is associated (premultiplied colours) */
static int has_alpha(TIFF *tif, int spp, int ncolor, int *assoc) {
    uint16_t nextra = 0, *extra = NULL;
    *assoc = 0;
    if (spp <= ncolor || !TIFFGetField(tif, TIFFTAG_EXTRASAMPLES, &nextra, &extra) || nextra < 1) return 0;
    *assoc = extra[0] == EXTRASAMPLE_ASSOCALPHA;
    return extra[0] == EXTRASAMPLE_ASSOCALPHA || extra[0] == EXTRASAMPLE_UNASSALPHA;
}

/* Reads the first directory of an open TIFF into *out. */
static int read_tiff(TIFF *tif, const char *path, size_t max_pixels, ts_image *out, ts_image_meta *meta,
                     ts_err *err, tiff_errctx *ctx) {
    uint32_t w = 0, h = 0;
    uint16_t spp = 1, bps = 1, fmt = SAMPLEFORMAT_UINT, planar = PLANARCONFIG_CONTIG, photo = 0;
    uint16_t comp = COMPRESSION_NONE;
    if (!TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &w) || !TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &h))
        return ts_fail(err, "%s: TIFF has no image size: %s", path, why(ctx));
    if (ts_image_check_size(path, w, h, max_pixels, err) != 0) return -1;
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &spp);
    TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &bps);
    TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &fmt);
    TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &comp);
    if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &photo))
        photo = spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;
    uint16_t orient = ORIENTATION_TOPLEFT;
    TIFFGetFieldDefaulted(tif, TIFFTAG_ORIENTATION, &orient);
    meta->orientation = orient >= 1 && orient <= 8 ? orient : 0;

    if (photo == PHOTOMETRIC_YCBCR && comp == COMPRESSION_JPEG) {
        /* libtiff's JPEG codec converts to RGB for us */
        if (!TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB))
            return ts_fail(err, "%s: cannot decode YCbCr JPEG-in-TIFF: %s", path, why(ctx));
        photo = PHOTOMETRIC_RGB;
    }
    int ncolor = photo == PHOTOMETRIC_MINISBLACK || photo == PHOTOMETRIC_MINISWHITE ? 1
                 : photo == PHOTOMETRIC_RGB                                       ? 3
                                                                                  : 0;
    int isfloat = fmt == SAMPLEFORMAT_IEEEFP;
    int direct_samples = (fmt == SAMPLEFORMAT_UINT && (bps == 8 || bps == 16)) || (isfloat && (bps == 32 || bps == 64));
    char emsg[1024] = "";
    if ((!ncolor || !direct_samples) && spp <= TIFF_MAX_SAMPLES && TIFFRGBAImageOK(tif, emsg))
        return read_rgba(tif, path, w, h, meta, spp, out, err, ctx);
    if (!ncolor)
        return ts_fail(err, "%s: TIFF photometric interpretation %u is not supported (libtiff: %s)", path, photo,
                       emsg[0] ? emsg : "cannot convert it");
    if (spp < ncolor)
        return ts_fail(err, "%s: TIFF has %u samples per pixel, too few for its colour type", path, spp);
    if (spp > TIFF_MAX_SAMPLES) /* extra channels only widen the decode buffers */
        return ts_fail(err, "%s: TIFF has %u samples per pixel (at most %d are read)", path, spp, TIFF_MAX_SAMPLES);
    if (!direct_samples)
        return ts_fail(err,
                       "%s: TIFF with %u-bit %s samples is not supported (need 8/16-bit unsigned or "
                       "32-bit float)",
                       path, bps,
                       fmt == SAMPLEFORMAT_INT ? "signed" : isfloat ? "float" : fmt == SAMPLEFORMAT_UINT ? "unsigned" : "other");
    if (planar != PLANARCONFIG_CONTIG && planar != PLANARCONFIG_SEPARATE)
        return ts_fail(err, "%s: TIFF planar configuration %u is not supported", path, planar);
    int separate = planar == PLANARCONFIG_SEPARATE && spp > 1;
    layout L = {bps, isfloat, photo == PHOTOMETRIC_MINISWHITE, separate ? 1 : spp};
    int assoc, alpha = has_alpha(tif, spp, ncolor, &assoc);
    int nplanes = separate ? ncolor + alpha : 1; /* planes we read; extra planes past alpha are skipped */
    size_t bytes = (size_t)bps / 8;

    uint32_t tw = 0, th = 0;
    if (TIFFIsTiled(tif)) {
        /* a tile is decoded whole: its size is checked against the pixel limit like the image's */
        TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw);
        TIFFGetField(tif, TIFFTAG_TILELENGTH, &th);
        size_t lim = max_pixels ? max_pixels : TS_DEFAULT_MAX_PIXELS;
        if ((uint64_t)tw * th > lim)
            return ts_fail(err, "%s: TIFF tiles of %ux%u pixels are over the limit of %zu (--max-pixels)", path, tw,
                           th, lim);
    }

    size_t plane = (size_t)w * h;
    float *dst = ts_malloc((3 + (size_t)alpha) * plane * sizeof(float));
    unsigned char *buf = NULL;
    int ok = 1;
    if (TIFFIsTiled(tif)) {
        tmsize_t tsize = TIFFTileSize(tif);
        if (tw == 0 || th == 0 || tsize <= 0 || (uint64_t)tsize < (uint64_t)tw * th * L.stride * bytes) {
            free(dst);
            return ts_fail(err, "%s: TIFF has a bad tile size (%ux%u): %s", path, tw, th, why(ctx));
        }
        buf = ts_malloc((size_t)tsize);
        size_t tile_row = (size_t)tw * L.stride * bytes;
        for (int s = 0; s < nplanes && ok; s++) {
            for (uint32_t ty = 0; ty < h && ok; ty += th) {
                for (uint32_t tx = 0; tx < w && ok; tx += tw) {
                    if (TIFFReadTile(tif, buf, tx, ty, 0, (uint16_t)s) < 0) {
                        ok = 0;
                        break;
                    }
                    uint32_t nx = w - tx < tw ? w - tx : tw, ny = h - ty < th ? h - ty : th;
                    for (uint32_t r = 0; r < ny; r++) {
                        put_row(dst, plane, w, &L, ncolor, alpha, buf + r * tile_row, separate ? s : -1, ty + r,
                                tx, nx);
                    }
                }
            }
        }
    } else {
        tmsize_t lsize = TIFFScanlineSize(tif);
        if (lsize <= 0 || (uint64_t)lsize < (uint64_t)w * L.stride * bytes) {
            free(dst);
            return ts_fail(err, "%s: TIFF has a bad scanline size: %s", path, why(ctx));
        }
        buf = ts_malloc((size_t)lsize);
        for (int s = 0; s < nplanes && ok; s++) {
            for (uint32_t y = 0; y < h; y++) {
                if (TIFFReadScanline(tif, buf, y, (uint16_t)s) < 0) {
                    ok = 0;
                    break;
                }
                put_row(dst, plane, w, &L, ncolor, alpha, buf, separate ? s : -1, y, 0, w);
            }
        }
    }
    free(buf);
    if (!ok) {
        free(dst);
        return ts_fail(err, "%s: bad or truncated TIFF file: %s", path, why(ctx));
    }
    if (isfloat) {
        for (size_t i = 0; i < (3 + (size_t)alpha) * plane; i++) {
            if (!isfinite(dst[i])) {
                free(dst);
                return ts_fail(err, "%s: float TIFF holds NaN or infinite values", path);
            }
        }
    }
    if (alpha) {
        dst = ts_image_split_alpha(dst, plane, meta);
        meta->premultiplied = assoc;
    }
    out->w = (int)w;
    out->h = (int)h;
    out->data = dst;
    return 0;
}

/* Reads from the file path, or from m when it is not NULL. */
static int tiff_read_from(const char *path, mem_src *m, size_t max_pixels, ts_image *out, ts_image_meta *meta,
                          ts_err *err) {
    memset(meta, 0, sizeof *meta);
    tiff_errctx ctx = {{0}};
    TIFF *tif = open_tiff(path, m ? "rm" : "r", m, &ctx);
    if (!tif) {
        g_cur = NULL;
        return ts_fail(err, "%s: bad or truncated TIFF file: %s", path, why(&ctx));
    }
    meta->pages = TIFFNumberOfDirectories(tif);
    int rc = read_tiff(tif, path, max_pixels, out, meta, err, &ctx);
    uint32_t icc_len = 0;
    void *icc = NULL;
    if (rc == 0 && TIFFGetField(tif, TIFFTAG_ICCPROFILE, &icc_len, &icc) && icc && icc_len) {
        meta->icc = ts_malloc(icc_len);
        memcpy(meta->icc, icc, icc_len);
        meta->icc_len = icc_len;
    }
    TIFFClose(tif);
    g_cur = NULL;
    return rc;
}

int ts_tiff_read(const char *path, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err) {
    return tiff_read_from(path, NULL, max_pixels, out, meta, err);
}

int ts_tiff_read_memory(const char *name, const void *buf, size_t len, size_t max_pixels, ts_image *out,
                        ts_image_meta *meta, ts_err *err) {
    mem_src m = {buf, len, 0};
    return tiff_read_from(name, &m, max_pixels, out, meta, err);
}

int ts_tiff_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int bits,
                  ts_err *err) {
    const float *alpha = x->alpha;
    uint32_t w = (uint32_t)img->w, h = (uint32_t)img->h;
    size_t plane = (size_t)w * h, bpp = (size_t)bits / 8;
    int nch = alpha ? 4 : 3, big = nch * (double)plane * (double)bpp > 2147483648.0;
    tiff_errctx ctx = {{0}};
    errno = 0;
    TIFF *tif = open_tiff(tmp, big ? "w8" : "w", NULL, &ctx);
    if (!tif) {
        int e = errno;
        g_cur = NULL;
        return ts_fail(err, "%s: cannot create %s: %s", path, tmp, e ? strerror(e) : why(&ctx));
    }
    size_t rowbytes = (size_t)w * nch * bpp;
    uint32_t rps = (uint32_t)(262144 / rowbytes); /* strips of about 256 KiB */
    if (rps < 1) rps = 1;
    int deflate = TIFFIsCODECConfigured(COMPRESSION_ADOBE_DEFLATE);
    int ok = TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, w) && TIFFSetField(tif, TIFFTAG_IMAGELENGTH, h) &&
             TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)bits) &&
             TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)nch) &&
             TIFFSetField(tif, TIFFTAG_SAMPLEFORMAT, SAMPLEFORMAT_UINT) &&
             TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB) &&
             TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG) &&
             TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT) &&
             TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps) &&
             TIFFSetField(tif, TIFFTAG_COMPRESSION, deflate ? COMPRESSION_ADOBE_DEFLATE : COMPRESSION_NONE);
    if (ok && deflate) ok = TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
    uint16_t extra = EXTRASAMPLE_UNASSALPHA; /* straight alpha */
    if (ok && alpha) ok = TIFFSetField(tif, TIFFTAG_EXTRASAMPLES, 1, &extra);
    if (ok && x->icc) ok = TIFFSetField(tif, TIFFTAG_ICCPROFILE, (uint32_t)x->icc_len, x->icc);

    unsigned char *row = ts_malloc(rowbytes);
    int sys = 0; /* the system's reason for a failed write (errno), when there is one */
    errno = 0;
    for (uint32_t y = 0; y < h && ok; y++) {
        ts_image_pack_row(img, alpha, (int)y, bits, TS_ROW_NATIVE, row);
        if (TIFFWriteScanline(tif, row, y, 0) < 0) {
            ok = 0;
            sys = errno;
        }
    }
    free(row);
    if (ok && !TIFFFlush(tif)) { /* writes the last strip and the directory */
        ok = 0;
        sys = errno;
    }
    TIFFClose(tif);
    g_cur = NULL;
    if (!ok && sys) return ts_fail(err, "%s: cannot write TIFF: %s (%s)", path, strerror(sys), why(&ctx));
    if (!ok) return ts_fail(err, "%s: cannot write TIFF: %s", path, why(&ctx));
    return 0;
}
