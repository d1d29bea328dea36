/* image_jpeg.c - JPEG reader (grey, RGB, CMYK and YCCK; the EXIF orientation) and writer (RGB, quality)
 * with libjpeg. CMYK (libjpeg turns YCCK into CMYK) comes to sRGB through the file's CMYK profile when
 * it has one and lcms2 is built in, else as R = (1 - C)(1 - K) etc.; either way the ink values are
 * read inverted, as Adobe's applications store them, when the file has an Adobe marker.
 * libjpeg errors longjmp back here; warnings that mean lost image data (premature end of file, corrupt
 * entropy data) are errors too, so a truncated file is refused; other warnings are dropped. */
#include <errno.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>

#include "image_formats.h"

typedef struct {
    struct jpeg_error_mgr mgr; /* first, so the cinfo->err pointer converts back */
    jmp_buf jmp;
    char msg[JMSG_LENGTH_MAX];
} jpeg_errctx;

static void on_error_exit(j_common_ptr cinfo) {
    jpeg_errctx *ctx = (jpeg_errctx *)cinfo->err;
    (*cinfo->err->format_message)(cinfo, ctx->msg);
    longjmp(ctx->jmp, 1);
}

static void on_emit(j_common_ptr cinfo, int level) {
    if (level >= 0) return; /* trace messages */
    switch (cinfo->err->msg_code) {
    case JWRN_JPEG_EOF:
    case JWRN_HIT_MARKER:
    case JWRN_HUFF_BAD_CODE:
    case JWRN_MUST_RESYNC:
        on_error_exit(cinfo);
        break;
    default: break;
    }
}

static void on_output(j_common_ptr cinfo) { (void)cinfo; }

static void init_errors(jpeg_errctx *ctx) {
    jpeg_std_error(&ctx->mgr);
    ctx->mgr.error_exit = on_error_exit;
    ctx->mgr.emit_message = on_emit;
    ctx->mgr.output_message = on_output;
    ctx->msg[0] = '\0';
}

/* the orientation of the first APP1 segment holding EXIF */
static int exif_orientation(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m; m = m->next)
        if (m->marker == JPEG_APP0 + 1 && m->data_length > 6 && !memcmp(m->data, "Exif\0\0", 6))
            return ts_exif_orientation(m->data + 6, m->data_length - 6);
    return 0;
}

int ts_jpeg_read(const char *path, FILE *f, size_t max_pixels, ts_image *out, ts_image_meta *meta, ts_err *err) {
    memset(meta, 0, sizeof *meta);
    struct jpeg_decompress_struct cinfo;
    jpeg_errctx ctx;
    init_errors(&ctx);
    cinfo.err = &ctx.mgr;
    /* Changed after setjmp, so volatile. */
    unsigned char *volatile row = NULL;
    float *volatile pix = NULL, *volatile rgb = NULL;
    void *volatile xf = NULL; /* a CMYK profile's transform */

    if (setjmp(ctx.jmp)) {
        jpeg_destroy_decompress(&cinfo);
        free(row);
        free(pix);
        free(rgb);
        ts_icc_close(xf);
        return ts_fail(err, "%s: bad or truncated JPEG file: %s", path, ctx.msg);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_stdio_src(&cinfo, f);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 2, 0xFFFF); /* ICC profile chunks */
    jpeg_read_header(&cinfo, TRUE);
    meta->orientation = exif_orientation(&cinfo);
    JOCTET *icc = NULL;
    unsigned int icc_len = 0;
    if (jpeg_read_icc_profile(&cinfo, &icc, &icc_len) && icc) {
        meta->icc = icc; /* malloc'd by libjpeg */
        meta->icc_len = icc_len;
    }

    if (ts_image_check_size(path, cinfo.image_width, cinfo.image_height, max_pixels, err) != 0) {
        jpeg_destroy_decompress(&cinfo);
        return -1;
    }
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    /* a CMYK profile: the inks through it (lcms2), else converted without it (a note says so) */
    if (cmyk && meta->icc) xf = ts_icc_cmyk_open(meta->icc, meta->icc_len, inverted);
    meta->icc_cmyk = cmyk && meta->icc && !xf;
    meta->icc_applied = xf != NULL;
    int grey = !cmyk && (cinfo.jpeg_color_space == JCS_GRAYSCALE || cinfo.num_components == 1);
    cinfo.out_color_space = cmyk ? JCS_CMYK : grey ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_start_decompress(&cinfo);

    int w = (int)cinfo.output_width, h = (int)cinfo.output_height, nc = cinfo.output_components;
    if (nc != (cmyk ? 4 : grey ? 1 : 3) || w != (int)cinfo.image_width || h != (int)cinfo.image_height) {
        jpeg_destroy_decompress(&cinfo);
        ts_icc_close(xf);
        return ts_fail(err, "%s: unsupported JPEG layout (%d components)", path, nc);
    }
    unsigned char *r = ts_malloc((size_t)w * nc);
    row = r;
    float *rr = xf ? ts_malloc(sizeof(float) * 3 * (size_t)w) : NULL;
    rgb = rr;
    size_t plane = (size_t)w * h;
    float *dst = ts_malloc(3 * plane * sizeof(float));
    pix = dst;
    while (cinfo.output_scanline < cinfo.output_height) {
        size_t y = cinfo.output_scanline;
        JSAMPROW rp = r;
        if (jpeg_read_scanlines(&cinfo, &rp, 1) != 1) {
            snprintf(ctx.msg, sizeof ctx.msg, "no scanline data");
            longjmp(ctx.jmp, 1);
        }
        if (xf) ts_icc_cmyk_row(xf, r, rr, (size_t)w);
        for (int x = 0; x < w; x++) {
            if (xf) {
                for (int c = 0; c < 3; c++) dst[c * plane + y * w + x] = rr[3 * x + c];
            } else if (cmyk) { /* the ink left out: (1 - C)(1 - K), from stored values that may be inverted */
                const unsigned char *q = r + (size_t)x * 4;
                float k = (inverted ? q[3] : 255 - q[3]) / 255.0f;
                for (int c = 0; c < 3; c++)
                    dst[c * plane + y * w + x] = (inverted ? q[c] : 255 - q[c]) / 255.0f * k;
            } else {
                for (int c = 0; c < 3; c++) dst[c * plane + y * w + x] = r[x * nc + (nc == 3 ? c : 0)] / 255.0f;
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(r);
    free(rr);
    ts_icc_close(xf);
    out->w = w;
    out->h = h;
    out->data = dst;
    return 0;
}

int ts_jpeg_write(const char *tmp, const char *path, const ts_image *img, const ts_image_extras *x, int quality,
                  ts_err *err) {
    FILE *f = fopen(tmp, "wb");
    if (!f) return ts_fail(err, "%s: cannot create %s: %s", path, tmp, strerror(errno));
    struct jpeg_compress_struct cinfo;
    jpeg_errctx ctx;
    init_errors(&ctx);
    cinfo.err = &ctx.mgr;
    int w = img->w, h = img->h;
    unsigned char *row = ts_malloc((size_t)w * 3);

    if (setjmp(ctx.jmp)) {
        int e = ferror(f) ? errno : 0; /* the system's reason, when stdio saw it */
        jpeg_destroy_compress(&cinfo);
        fclose(f);
        free(row);
        if (e) return ts_fail(err, "%s: cannot write JPEG: %s", path, strerror(e));
        return ts_fail(err, "%s: cannot write JPEG: %s", path, ctx.msg);
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)w;
    cinfo.image_height = (JDIMENSION)h;
    cinfo.input_components = 3;
    cinfo.in_color_space = JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    if (x->icc) jpeg_write_icc_profile(&cinfo, x->icc, (unsigned int)x->icc_len);
    while (cinfo.next_scanline < cinfo.image_height) {
        ts_image_pack_row(img, NULL, (int)cinfo.next_scanline, 8, TS_ROW_NATIVE, row);
        JSAMPROW rp = row;
        jpeg_write_scanlines(&cinfo, &rp, 1);
    }
    jpeg_finish_compress(&cinfo); /* flushes and checks the stream */
    jpeg_destroy_compress(&cinfo);
    free(row);
    return ts_close_written(f, path, "JPEG", err);
}
