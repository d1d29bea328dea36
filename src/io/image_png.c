/* image_png.c - PNG reader (8/16-bit, every colour type) and writer (8/16-bit RGB) with libpng.
 * libpng errors longjmp back here through png_jmpbuf; warnings are dropped. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdlib.h>
#include <string.h>

#include "image_formats.h"

/* Error context: libpng's message is kept for our own message. */
typedef struct {
    char msg[200];
} png_errctx;

static void on_error(png_structp png, png_const_charp msg) {
    png_errctx *ctx = png_get_error_ptr(png);
    snprintf(ctx->msg, sizeof ctx->msg, "%s", msg ? msg : "unknown error");
    png_longjmp(png, 1);
}

static void on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

/* libpng's allocations: rows and chunk buffers, never near this for a picture Tessera can use */
#define PNG_ALLOC_MAX ((png_alloc_size_t)256 << 20)
static png_voidp bounded_malloc(png_structp png, png_alloc_size_t n) {
    (void)png;
    return n > PNG_ALLOC_MAX ? NULL : malloc(n);
}
static void plain_free(png_structp png, png_voidp p) {
    (void)png;
    free(p);
}

/* One decoded row (8 or 16-bit big-endian RGB or RGBA: ch 3 or 4) into planar float; the fourth
 * plane is alpha. */
static void convert_row(float *dst, size_t plane, png_uint_32 w, png_uint_32 y, const unsigned char *r, int bd,
                        int ch) {
    float *o = dst + (size_t)y * w;
    for (png_uint_32 x = 0; x < w; x++) {
        for (int c = 0; c < ch; c++) {
            if (bd == 8) {
                o[c * plane + x] = r[ch * x + c] / 255.0f;
            } else {
                const unsigned char *p = r + 2 * (ch * x + c);
                o[c * plane + x] = (float)(((unsigned)p[0] << 8 | p[1]) / 65535.0);
            }
        }
    }
}

int ts_png_read(const char *path, FILE *f, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err) {
    memset(meta, 0, sizeof *meta);
    png_errctx ctx = {{0}};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    if (!png) return ts_fail(err, "%s: cannot set up the PNG reader", path);
    png_infop info = png_create_info_struct(png);
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return ts_fail(err, "%s: cannot set up the PNG reader", path);
    }
    /* Changed after setjmp, so volatile. */
    unsigned char *volatile buf = NULL;
    png_bytep *volatile rows = NULL;
    float *volatile pix = NULL;

    if (setjmp(png_jmpbuf(png))) {
        free(buf);
        free(rows);
        free(pix);
        png_destroy_read_struct(&png, &info, NULL);
        if (feof(f)) return ts_fail(err, "%s: truncated PNG file (it ends early)", path);
        return ts_fail(err, "%s: bad PNG file: %s", path, ctx.msg);
    }
    png_init_io(png, f);
    /* Let our own size check give the message, not libpng's default 1e6 limit. */
    png_set_user_limits(png, PNG_UINT_31_MAX, PNG_UINT_31_MAX);
    /* libpng buffers an ancillary chunk (suggested palette, text) whole, allocating what its length
     * field says before reading it, whatever png_set_chunk_malloc_max says: a forged length would take
     * gigabytes. Its own allocations are bounded instead (a refused one skips the chunk). */
    png_set_mem_fn(png, NULL, bounded_malloc, plain_free);
    png_read_info(png, info);

    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
#ifdef PNG_iCCP_SUPPORTED
    png_charp icc_name = NULL;
    png_bytep icc = NULL;
    png_uint_32 icc_len = 0;
    int icc_comp = 0;
    if (png_get_iCCP(png, info, &icc_name, &icc_comp, &icc, &icc_len) && icc && icc_len) {
        meta->icc = ts_malloc(icc_len);
        memcpy(meta->icc, icc, icc_len);
        meta->icc_len = icc_len;
    }
#endif
    if (ts_image_check_size(path, w, h, max_pixels, err) != 0) {
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int depth = png_get_bit_depth(png, info);
    int type = png_get_color_type(png, info);
    /* Everything to 8 or 16-bit RGB or RGBA: palette/low-depth grey expanded, tRNS to alpha. */
    png_set_expand(png);
    if (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    int passes = png_set_interlace_handling(png);
    png_read_update_info(png, info);

    int ch = png_get_channels(png, info);
    int bd = png_get_bit_depth(png, info);
    size_t rowbytes = png_get_rowbytes(png, info);
    if ((ch != 3 && ch != 4) || (bd != 8 && bd != 16) || rowbytes < (size_t)w * ch * (bd / 8)) {
        png_destroy_read_struct(&png, &info, NULL);
        return ts_fail(err, "%s: unsupported PNG layout (bit depth %d, colour type %d)", path, depth,
                       type);
    }
    size_t plane = (size_t)w * h;
    float *dst = ts_malloc((size_t)ch * plane * sizeof(float));
    pix = dst;
    if (passes == 1) { /* row by row: no whole-image byte buffer */
        unsigned char *r = ts_malloc(rowbytes);
        buf = r;
        for (png_uint_32 y = 0; y < h; y++) {
            png_read_row(png, r, NULL);
            convert_row(dst, plane, w, y, r, bd, ch);
        }
    } else { /* interlaced: the whole image at once */
        unsigned char *all = ts_malloc(rowbytes * h);
        buf = all;
        png_bytep *rp = ts_malloc(sizeof(png_bytep) * h);
        rows = rp;
        for (png_uint_32 y = 0; y < h; y++) rp[y] = all + rowbytes * y;
        png_read_image(png, rp);
        for (png_uint_32 y = 0; y < h; y++) convert_row(dst, plane, w, y, rp[y], bd, ch);
    }
    png_read_end(png, info);
#ifdef PNG_eXIf_SUPPORTED
    png_bytep exif = NULL;
    png_uint_32 nexif = 0;
    if (png_get_eXIf_1(png, info, &nexif, &exif) && exif) meta->orientation = ts_exif_orientation(exif, nexif);
#endif
    png_destroy_read_struct(&png, &info, NULL);
    free(buf);
    free(rows);
    if (ch == 4) dst = ts_image_split_alpha(dst, plane, meta); /* straight (unassociated), as PNG defines it */
    out->w = (int)w;
    out->h = (int)h;
    out->data = dst;
    return 0;
}

int ts_png_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int bits,
                 ts_err *err) {
    const float *alpha = x->alpha;
    FILE *f = fopen(tmp, "wb");
    if (!f) return ts_fail(err, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    png_errctx ctx = {{0}};
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, on_error, on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_write_struct(&png, NULL);
        fclose(f);
        return ts_fail(err, "%s: cannot set up the PNG writer", path);
    }
    int w = img->w, h = img->h, bpp = bits / 8, nch = alpha ? 4 : 3;
    unsigned char *row = ts_malloc((size_t)w * nch * bpp);

    if (setjmp(png_jmpbuf(png))) {
        int e = ferror(f) ? errno : 0; /* the system's reason, when stdio saw it */
        png_destroy_write_struct(&png, &info);
        fclose(f);
        free(row);
        if (e) return ts_fail(err, "%s: cannot write PNG: %s", path, strerror(e));
        return ts_fail(err, "%s: cannot write PNG: %s", path, ctx.msg);
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, bits, alpha ? PNG_COLOR_TYPE_RGB_ALPHA : PNG_COLOR_TYPE_RGB,
                 PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    if (x->icc) png_set_iCCP(png, info, "ICC profile", PNG_COMPRESSION_TYPE_BASE, x->icc, (png_uint_32)x->icc_len);
    else png_set_sRGB(png, info, PNG_sRGB_INTENT_PERCEPTUAL);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) {
        ts_image_pack_row(img, alpha, y, bits, TS_ROW_BIG_ENDIAN, row);
        png_write_row(png, row);
    }
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    free(row);
    return ts_close_written(f, path, "PNG", err);
}
