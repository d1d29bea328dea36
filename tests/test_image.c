/* test_image.c - image IO round trips, bad inputs, atomic writes, resampling; orientation (the eight
 * EXIF values against hand-written results; JPEG EXIF in both byte orders, PNG eXIf, the TIFF tag);
 * TIFF layouts through libtiff's RGBA interface and CMYK JPEG against what the files hold; multi-page. */
#include <dirent.h>
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jpeglib.h>
#include <png.h>
#include <tiffio.h>

#include "tessera/image.h"
#include "tessera/npy.h"
#include "test.h"

#ifdef TS_HAVE_LCMS2
#define TS_HAVE_LCMS2_VALUE 1
#else
#define TS_HAVE_LCMS2_VALUE 0
#endif

static char g_dir[64];

/* Path under the temp dir (ring of static buffers). */
static const char *P(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* Number of entries in the temp dir whose name contains ".tmp." */
static int tmp_leftovers(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void remove_tree(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        struct stat st;
        if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) remove_tree(p);
        else unlink(p);
    }
    closedir(d);
    rmdir(dir);
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* Copies src to dst cut to half its length. */
static void write_truncated(const char *src, const char *dst) {
    size_t n;
    unsigned char *b = read_bytes(src, &n);
    write_bytes(dst, b, n / 2);
    free(b);
}

static uint32_t rng = 12345;
static uint32_t next_rand(void) {
    rng = rng * 1664525u + 1013904223u;
    return rng >> 8;
}

/* Values k/levels, so they survive quantisation exactly. */
static void fill_quantised(ts_image *img, int levels) {
    for (size_t i = 0; i < 3 * (size_t)img->w * img->h; i++)
        img->data[i] = (float)((next_rand() % (levels + 1)) / (double)levels);
}

static void fill_smooth(ts_image *img) {
    size_t plane = (size_t)img->w * img->h;
    for (int y = 0; y < img->h; y++)
        for (int x = 0; x < img->w; x++) {
            size_t o = (size_t)y * img->w + x;
            img->data[o] = (float)x / (img->w - 1);
            img->data[plane + o] = (float)y / (img->h - 1);
            img->data[2 * plane + o] = 0.5f + 0.4f * (float)sin(0.1 * x + 0.07 * y);
        }
}

static double max_diff(const ts_image *a, const ts_image *b) {
    if (a->w != b->w || a->h != b->h || !a->data || !b->data) return 1e9;
    double m = 0;
    for (size_t i = 0; i < 3 * (size_t)a->w * a->h; i++) m = fmax(m, fabs(a->data[i] - b->data[i]));
    return m;
}

static double mean_diff(const ts_image *a, const ts_image *b) {
    if (a->w != b->w || a->h != b->h || !a->data || !b->data) return 1e9;
    double s = 0;
    size_t n = 3 * (size_t)a->w * a->h;
    for (size_t i = 0; i < n; i++) s += fabs(a->data[i] - b->data[i]);
    return s / n;
}

static float px(const ts_image *img, int c, int x, int y) {
    return img->data[(size_t)c * img->w * img->h + (size_t)y * img->w + x];
}

/* ---- writers of raw test files with the libraries directly ---- */

/* PNG of any colour type; rows are packed samples (big-endian for 16-bit). */
static void write_png_raw(const char *path, int w, int h, int depth, int type, const unsigned char *data,
                          size_t rowbytes, const png_color *pal, int npal) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, depth, type, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (pal) png_set_PLTE(png, info, pal, npal);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(data + rowbytes * y));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* An 8-bit RGB PNG of d (w x h x 3, interleaved) with an ICC profile and an eXIf block (either NULL) */
static void write_png_rgb8(const char *path, int w, int h, const unsigned char *d, const void *icc, uint32_t icc_len,
                           const unsigned char *exif, uint32_t exif_len) {
    FILE *f = fopen(path, "wb");
    png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop info = png_create_info_struct(png);
    png_init_io(png, f);
    png_set_IHDR(png, info, w, h, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE, PNG_COMPRESSION_TYPE_DEFAULT,
                 PNG_FILTER_TYPE_DEFAULT);
    if (icc) png_set_iCCP(png, info, "profile", PNG_COMPRESSION_TYPE_BASE, icc, icc_len);
    if (exif) png_set_eXIf_1(png, info, exif_len, (png_bytep)exif);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, d + (size_t)y * w * 3);
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    fclose(f);
}

/* A TIFF open for writing, an 8-bit w x h image of spp contiguous samples in photometric photo */
static TIFF *tiff_open8(const char *path, int w, int h, int spp, int photo) {
    TIFF *t = TIFFOpen(path, "w");
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photo);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
    return t;
}

/* An 8-bit RGB TIFF of d with an orientation (0: none given) and an ICC profile (NULL: none) */
static void write_tiff_rgb8(const char *path, int w, int h, const unsigned char *d, int orientation, const void *icc,
                            uint32_t icc_len) {
    TIFF *t = tiff_open8(path, w, h, 3, PHOTOMETRIC_RGB);
    if (orientation) TIFFSetField(t, TIFFTAG_ORIENTATION, orientation);
    if (icc) TIFFSetField(t, TIFFTAG_ICCPROFILE, icc_len, icc);
    for (int y = 0; y < h; y++) TIFFWriteScanline(t, (void *)(d + (size_t)y * w * 3), (uint32_t)y, 0);
    TIFFClose(t);
}

/* A JPEG of data (w x h x nc, interleaved, colour space cs) at quality q; adobe: 1 or 0 forces
 * libjpeg's Adobe marker on or off (-1: its default); icc: a profile to embed (NULL: none) */
static void write_jpeg_with(const char *path, int w, int h, int nc, J_COLOR_SPACE cs, const unsigned char *data, int q,
                            int adobe, const void *icc, unsigned icc_len) {
    struct jpeg_compress_struct c;
    struct jpeg_error_mgr e;
    c.err = jpeg_std_error(&e);
    jpeg_create_compress(&c);
    FILE *f = fopen(path, "wb");
    jpeg_stdio_dest(&c, f);
    c.image_width = w;
    c.image_height = h;
    c.input_components = nc;
    c.in_color_space = cs;
    jpeg_set_defaults(&c);
    if (adobe >= 0) c.write_Adobe_marker = adobe ? TRUE : FALSE;
    jpeg_set_quality(&c, q, TRUE);
    jpeg_start_compress(&c, TRUE);
    if (icc) jpeg_write_icc_profile(&c, icc, icc_len);
    while (c.next_scanline < c.image_height) {
        JSAMPROW r = (JSAMPROW)(data + (size_t)c.next_scanline * w * nc);
        jpeg_write_scanlines(&c, &r, 1);
    }
    jpeg_finish_compress(&c);
    jpeg_destroy_compress(&c);
    fclose(f);
}

static void write_jpeg_raw(const char *path, int w, int h, int nc, J_COLOR_SPACE cs, const unsigned char *data) {
    write_jpeg_with(path, w, h, nc, cs, data, 100, -1, NULL, 0);
}

/* A TIFF with the given layout; pixel (x,y) sample s comes from sample_fn. Tiled when tile > 0. */
typedef double (*sample_fn)(int x, int y, int s);

static void write_tiff_raw(const char *path, const char *mode, int w, int h, int spp, int bps, int fmt, int photo,
                           int planar, int tile, sample_fn fn) {
    TIFF *t = TIFFOpen(path, mode);
    TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
    TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
    TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, spp);
    TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, bps);
    TIFFSetField(t, TIFFTAG_SAMPLEFORMAT, fmt);
    TIFFSetField(t, TIFFTAG_PHOTOMETRIC, photo);
    TIFFSetField(t, TIFFTAG_PLANARCONFIG, planar);
    TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
    if (spp == 4 || spp == 2) {
        uint16_t extra = EXTRASAMPLE_UNASSALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
    }
    if (photo == PHOTOMETRIC_PALETTE) {
        static uint16_t map[3][256];
        TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]);
    }
    int sep = planar == PLANARCONFIG_SEPARATE;
    int bufspp = sep ? 1 : spp, bytes = bps >= 8 ? bps / 8 : 1;
    int nplanes = sep ? spp : 1;
    if (tile) {
        TIFFSetField(t, TIFFTAG_TILEWIDTH, tile);
        TIFFSetField(t, TIFFTAG_TILELENGTH, tile);
        unsigned char *buf = calloc((size_t)tile * tile * bufspp, bytes);
        for (int p = 0; p < nplanes; p++)
            for (int ty = 0; ty < h; ty += tile)
                for (int tx = 0; tx < w; tx += tile) {
                    for (int yy = 0; yy < tile; yy++)
                        for (int xx = 0; xx < tile; xx++)
                            for (int s = 0; s < bufspp; s++) {
                                int x = tx + xx, y = ty + yy;
                                double v = x < w && y < h ? fn(x, y, sep ? p : s) : 0.0;
                                size_t k = ((size_t)yy * tile + xx) * bufspp + s;
                                if (bps == 8) buf[k] = (unsigned char)v;
                                else if (bps == 16) ((uint16_t *)buf)[k] = (uint16_t)v;
                                else ((float *)buf)[k] = (float)v;
                            }
                    TIFFWriteTile(t, buf, tx, ty, 0, p);
                }
        free(buf);
    } else {
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 4);
        unsigned char *buf = calloc((size_t)w * bufspp, bytes);
        for (int p = 0; p < nplanes; p++)
            for (int y = 0; y < h; y++) {
                if (bps == 1) memset(buf, 0, (size_t)w * bufspp * bytes); /* bits are or-ed in */
                for (int x = 0; x < w; x++)
                    for (int s = 0; s < bufspp; s++) {
                        double v = fn(x, y, sep ? p : s);
                        size_t k = (size_t)x * bufspp + s;
                        if (bps == 8) buf[k] = (unsigned char)v;
                        else if (bps == 16) ((uint16_t *)buf)[k] = (uint16_t)v;
                        else if (bps == 32) ((float *)buf)[k] = (float)v;
                        else if (bps == 1) { /* packed bits */
                            if (s == 0 && ((int)v & 1)) buf[x / 8] |= (unsigned char)(0x80 >> (x % 8));
                        }
                    }
                TIFFWriteScanline(t, buf, y, p);
            }
        free(buf);
    }
    TIFFClose(t);
}

static double s8(int x, int y, int s) { return (x * 7 + y * 13 + s * 50) % 256; }

/* h rows of n 8-bit samples into an open TIFF, sample i of row y s8(i, y, s); then closes it */
static void tiff_rows8(TIFF *t, int n, int h, int s) {
    unsigned char *row = malloc((size_t)n);
    for (int y = 0; y < h; y++) {
        for (int i = 0; i < n; i++) row[i] = (unsigned char)s8(i, y, s);
        TIFFWriteScanline(t, row, (uint32_t)y, 0);
    }
    free(row);
    TIFFClose(t);
}
static double s16(int x, int y, int s) { return (x * 977 + y * 4099 + s * 20000) % 65536; }
static double sf(int x, int y, int s) { return (x - 10) * 0.125 + y * 0.01 + s; } /* outside [0,1] too */
static double s1(int x, int y, int s) { (void)s; return (x + y) & 1; }

static uint32_t crc32_png(const unsigned char *p, size_t n) {
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
    }
    return c ^ 0xFFFFFFFFu;
}

static void put_be32(unsigned char *p, uint32_t v) {
    p[0] = (unsigned char)(v >> 24);
    p[1] = (unsigned char)(v >> 16);
    p[2] = (unsigned char)(v >> 8);
    p[3] = (unsigned char)v;
}

/* Expects a clean failure: -1, message naming the file, data NULL. `what` must occur in the message. */
static void expect_bad(const char *path, size_t max_pixels, const char *what) {
    ts_image img = {7, 7, (float *)&img};
    ts_err err = {{0}};
    int rc = ts_image_read(path, max_pixels, &img, &err);
    if (getenv("TS_TEST_VERBOSE")) printf("  (expected) %s\n", err.msg);
    TS_EXPECT(rc == -1, "%s: read should fail (rc %d)", path, rc);
    TS_EXPECT(strstr(err.msg, path) != NULL, "%s: message should name the file: '%s'", path, err.msg);
    TS_EXPECT(!what || strstr(err.msg, what) != NULL, "%s: message should say '%s': '%s'", path, what, err.msg);
    TS_EXPECT(img.data == NULL && img.w == 0 && img.h == 0, "%s: out should be empty on failure", path);
    if (rc == 0) ts_image_free(&img);
}

/* Writes img to name and reads it back into back (0 on success). */
static int round_trip(const char *name, const ts_image *img, int bits, int quality, ts_image *back) {
    ts_err err = {{0}};
    ts_image_write_opts o = {.bits = bits, .quality = quality};
    if (ts_image_write(P(name), img, &o, &err) != 0) {
        printf("write %s: %s\n", name, err.msg);
        return -1;
    }
    if (ts_image_read(P(name), 0, back, &err) != 0) {
        printf("read %s: %s\n", name, err.msg);
        return -1;
    }
    return 0;
}

static void test_round_trips(void) {
    ts_image a, b = {0, 0, NULL};
    ts_image_alloc(&a, 37, 23);

    fill_quantised(&a, 255);
    TS_EXPECT(round_trip("rt8.png", &a, 8, 0, &b) == 0, "png 8");
    TS_EXPECT(max_diff(&a, &b) < 1e-6, "png 8-bit round trip: max diff %g", max_diff(&a, &b));
    ts_image_free(&b);

    fill_quantised(&a, 65535);
    TS_EXPECT(round_trip("rt16.png", &a, 16, 0, &b) == 0, "png 16");
    TS_EXPECT(max_diff(&a, &b) < 0.5 / 65535, "png 16-bit round trip: max diff %g", max_diff(&a, &b));
    ts_image_free(&b);

    TS_EXPECT(round_trip("rt16.tif", &a, 16, 0, &b) == 0, "tiff 16");
    TS_EXPECT(max_diff(&a, &b) < 0.5 / 65535, "tiff 16-bit round trip: max diff %g", max_diff(&a, &b));
    ts_image_free(&b);

    fill_quantised(&a, 255);
    TS_EXPECT(round_trip("rt8.tiff", &a, 8, 0, &b) == 0, "tiff 8");
    TS_EXPECT(max_diff(&a, &b) < 1e-6, "tiff 8-bit round trip: max diff %g", max_diff(&a, &b));
    ts_image_free(&b);

    /* Unquantised values: 16-bit error is at most half a step. */
    for (size_t i = 0; i < 3 * (size_t)a.w * a.h; i++) a.data[i] = (float)((next_rand() % 1000003) / 1000003.0);
    TS_EXPECT(round_trip("rtf.png", &a, 16, 0, &b) == 0, "png 16 float");
    TS_EXPECT(max_diff(&a, &b) <= 0.5 / 65535 + 1e-7, "png 16-bit quantisation: max diff %g", max_diff(&a, &b));
    ts_image_free(&b);

    /* Out-of-range values are clamped. */
    a.data[0] = -3.0f;
    a.data[1] = 7.0f;
    TS_EXPECT(round_trip("clamp.png", &a, 8, 0, &b) == 0, "png clamp");
    TS_EXPECT(b.data && b.data[0] == 0.0f && b.data[1] == 1.0f, "clamping on write");
    ts_image_free(&b);
    ts_image_free(&a);

    ts_image_alloc(&a, 64, 48);
    fill_smooth(&a);
    TS_EXPECT(round_trip("rt.jpg", &a, 8, 0, &b) == 0, "jpeg");
    TS_EXPECT(mean_diff(&a, &b) < 0.02, "jpeg round trip: mean abs diff %g", mean_diff(&a, &b));
    ts_image_free(&b);
    TS_EXPECT(round_trip("rt_q30.jpeg", &a, 8, 30, &b) == 0, "jpeg q30");
    TS_EXPECT(mean_diff(&a, &b) < 0.05, "jpeg q30 round trip: mean abs diff %g", mean_diff(&a, &b));
    TS_EXPECT(file_size(P("rt_q30.jpeg")) < file_size(P("rt.jpg")), "lower quality, smaller file");
    ts_image_free(&b);

    /* .npy: values as they are, not clamped. */
    a.data[0] = -0.75f;
    a.data[5] = 3.25f;
    TS_EXPECT(round_trip("rt.npy", &a, 8, 0, &b) == 0, "npy");
    TS_EXPECT(max_diff(&a, &b) == 0.0, "npy image round trip is exact: %g", max_diff(&a, &b));
    ts_image_free(&b);

    /* Detection is by content: a PNG named .jpg still reads. */
    fill_quantised(&a, 255);
    TS_EXPECT(round_trip("is_png.png", &a, 8, 0, &b) == 0, "png");
    ts_image_free(&b);
    rename(P("is_png.png"), P("is_png.jpg"));
    ts_err err;
    TS_EXPECT(ts_image_read(P("is_png.jpg"), 0, &b, &err) == 0 && max_diff(&a, &b) < 1e-6, "content detection");
    ts_image_free(&b);
    ts_image_free(&a);
}

static void test_png_variants(void) {
    enum { W = 5, H = 3 };
    unsigned char d[W * H * 8];
    ts_image img;
    ts_err err;
    /* 8-bit grey */
    for (int i = 0; i < W * H; i++) d[i] = (unsigned char)(i * 17);
    write_png_raw(P("g8.png"), W, H, 8, PNG_COLOR_TYPE_GRAY, d, W, NULL, 0);
    TS_EXPECT(ts_image_read(P("g8.png"), 0, &img, &err) == 0, "grey png: %s", err.msg);
    if (img.data) {
        TS_EXPECT(img.w == W && img.h == H, "grey png size");
        TS_EXPECT(px(&img, 0, 4, 2) == 14 * 17 / 255.0f && px(&img, 1, 4, 2) == px(&img, 0, 4, 2) &&
                      px(&img, 2, 4, 2) == px(&img, 0, 4, 2),
                  "grey png becomes R=G=B");
        ts_image_free(&img);
    }
    /* 8-bit grey + alpha: straight alpha, composited over white: a v + (1 - a) */
    for (int i = 0; i < W * H; i++) {
        d[2 * i] = (unsigned char)(i * 10);
        d[2 * i + 1] = (unsigned char)(255 - i);
    }
    write_png_raw(P("ga8.png"), W, H, 8, PNG_COLOR_TYPE_GRAY_ALPHA, d, 2 * W, NULL, 0);
    TS_EXPECT(ts_image_read(P("ga8.png"), 0, &img, &err) == 0, "grey+alpha png: %s", err.msg);
    if (img.data) {
        float a = (255 - 8) / 255.0f, want = a * (80 / 255.0f) + (1.0f - a);
        TS_EXPECT(fabsf(px(&img, 2, 3, 1) - want) < 1e-6f, "grey+alpha png over white: %g, want %g", px(&img, 2, 3, 1), want);
        ts_image_free(&img);
    }
    /* 16-bit RGBA */
    for (int i = 0; i < W * H; i++)
        for (int c = 0; c < 4; c++) {
            unsigned v = (unsigned)(i * 4000 + c * 1000 + 1);
            d[8 * i + 2 * c] = (unsigned char)(v >> 8);
            d[8 * i + 2 * c + 1] = (unsigned char)v;
        }
    write_png_raw(P("rgba16.png"), W, H, 16, PNG_COLOR_TYPE_RGB_ALPHA, d, 8 * W, NULL, 0);
    TS_EXPECT(ts_image_read(P("rgba16.png"), 0, &img, &err) == 0, "rgba16 png: %s", err.msg);
    if (img.data) {
        int i = 2 * W + 3;
        double a = (i * 4000 + 3000 + 1) / 65535.0, g = (i * 4000 + 1000 + 1) / 65535.0;
        TS_EXPECT(fabs(px(&img, 1, 3, 2) - (a * g + 1 - a)) < 1e-6, "rgba16 png over white");
        ts_image_free(&img);
    }
    /* palette */
    png_color pal[3] = {{255, 0, 0}, {0, 255, 0}, {10, 20, 30}};
    for (int i = 0; i < W * H; i++) d[i] = (unsigned char)(i % 3);
    write_png_raw(P("pal.png"), W, H, 8, PNG_COLOR_TYPE_PALETTE, d, W, pal, 3);
    TS_EXPECT(ts_image_read(P("pal.png"), 0, &img, &err) == 0, "palette png: %s", err.msg);
    if (img.data) {
        TS_EXPECT(px(&img, 0, 2, 0) == 10 / 255.0f && px(&img, 1, 2, 0) == 20 / 255.0f &&
                      px(&img, 2, 2, 0) == 30 / 255.0f && px(&img, 1, 1, 0) == 1.0f,
                  "palette png values");
        ts_image_free(&img);
    }
    /* 16-bit RGB, Adam7 interlaced */
    {
        enum { IW = 13, IH = 11 };
        static unsigned char rgb[IH][IW * 6];
        png_bytep rows[IH];
        for (int y = 0; y < IH; y++) {
            rows[y] = rgb[y];
            for (int i = 0; i < IW * 3; i++) {
                unsigned v = (unsigned)(y * 3000 + i * 900);
                rgb[y][2 * i] = (unsigned char)(v >> 8);
                rgb[y][2 * i + 1] = (unsigned char)v;
            }
        }
        FILE *f = fopen(P("adam7.png"), "wb");
        png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png_create_info_struct(png);
        png_init_io(png, f);
        png_set_IHDR(png, info, IW, IH, 16, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_ADAM7, PNG_COMPRESSION_TYPE_DEFAULT,
                     PNG_FILTER_TYPE_DEFAULT);
        png_write_info(png, info);
        png_write_image(png, rows);
        png_write_end(png, info);
        png_destroy_write_struct(&png, &info);
        fclose(f);
        TS_EXPECT(ts_image_read(P("adam7.png"), 0, &img, &err) == 0, "interlaced png: %s", err.msg);
        if (img.data) {
            int bad = 0;
            for (int y = 0; y < IH; y++)
                for (int x = 0; x < IW; x++)
                    for (int c = 0; c < 3; c++)
                        bad += fabs(px(&img, c, x, y) - (y * 3000 + (3 * x + c) * 900) / 65535.0) > 1e-7;
            TS_EXPECT(bad == 0, "interlaced png: %d wrong samples", bad);
            ts_image_free(&img);
        }
    }
    /* 1-bit grey */
    memset(d, 0, sizeof d);
    for (int y = 0; y < H; y++) d[y] = 0xA0; /* 1 0 1 0 0 */
    write_png_raw(P("g1.png"), W, H, 1, PNG_COLOR_TYPE_GRAY, d, 1, NULL, 0);
    TS_EXPECT(ts_image_read(P("g1.png"), 0, &img, &err) == 0, "1-bit png: %s", err.msg);
    if (img.data) {
        TS_EXPECT(px(&img, 0, 0, 1) == 1.0f && px(&img, 0, 1, 1) == 0.0f && px(&img, 2, 2, 1) == 1.0f,
                  "1-bit png values");
        ts_image_free(&img);
    }
}

static void test_jpeg_variants(void) {
    enum { W = 16, H = 8 };
    unsigned char d[W * H * 4];
    for (int i = 0; i < W * H; i++) d[i] = 128;
    write_jpeg_raw(P("grey.jpg"), W, H, 1, JCS_GRAYSCALE, d);
    ts_image img;
    ts_err err;
    TS_EXPECT(ts_image_read(P("grey.jpg"), 0, &img, &err) == 0, "grey jpeg: %s", err.msg);
    if (img.data) {
        TS_EXPECT(fabs(px(&img, 0, 3, 3) - 128 / 255.0) < 2 / 255.0 && px(&img, 2, 3, 3) == px(&img, 0, 3, 3),
                  "grey jpeg value %g", px(&img, 0, 3, 3));
        ts_image_free(&img);
    }
    /* CMYK: libjpeg writes an Adobe marker, so the stored inks are read inverted (Adobe's convention):
     * R = C K / 255^2 of the stored values; without the marker R = (255 - C)(255 - K) / 255^2 */
    for (int i = 0; i < W * H * 4; i++) d[i] = (unsigned char)(40 + (i * 7) % 200);
    for (int adobe = 1; adobe >= 0; adobe--) {
        write_jpeg_with(P("cmyk.jpg"), W, H, 4, JCS_CMYK, d, 100, adobe, NULL, 0);
        TS_EXPECT(ts_image_read(P("cmyk.jpg"), 0, &img, &err) == 0, "CMYK jpeg (Adobe marker %d): %s", adobe, err.msg);
        if (!img.data) continue;
        double sum = 0, worst = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) {
                    const unsigned char *q = d + ((size_t)y * W + x) * 4;
                    double want = adobe ? q[c] * q[3] / 65025.0 : (255 - q[c]) * (255 - q[3]) / 65025.0;
                    double e = fabs(px(&img, c, x, y) - want);
                    sum += e;
                    worst = fmax(worst, e);
                }
        TS_EXPECT(sum / (3 * W * H) < 2 / 255.0 && worst < 16 / 255.0,
                  "CMYK jpeg (Adobe marker %d) against (1-C)(1-K): mean %.4f, worst %.4f", adobe, sum / (3 * W * H), worst);
        ts_image_free(&img);
    }
}

/* Tessera's direct TIFF path against libtiff's own RGBA reader on the same file (8-bit layouts,
 * opaque): the same pixels */
static void direct_vs_rgba(const char *path, const char *what) {
    ts_image img;
    ts_err err;
    TIFF *t = TIFFOpen(path, "r");
    uint32_t w = 0, h = 0;
    TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
    TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
    uint32_t *ras = malloc(sizeof(uint32_t) * w * h);
    int got = TIFFReadRGBAImageOriented(t, w, h, ras, ORIENTATION_TOPLEFT, 0);
    TIFFClose(t);
    int ok = got && ts_image_read(path, 0, &img, &err) == 0 && img.w == (int)w && img.h == (int)h;
    for (uint32_t p = 0; ok && p < w * h; p++) {
        int x = (int)(p % w), y = (int)(p / w);
        ok &= px(&img, 0, x, y) == TIFFGetR(ras[p]) / 255.0f && px(&img, 1, x, y) == TIFFGetG(ras[p]) / 255.0f &&
              px(&img, 2, x, y) == TIFFGetB(ras[p]) / 255.0f;
    }
    TS_EXPECT(ok, "%s: the direct path gives libtiff's RGBA reader's pixels", what);
    if (got && img.data) ts_image_free(&img);
    free(ras);
}

static void test_tiff_variants(void) {
    ts_image img;
    ts_err err;
    const int W = 40, H = 30;
    /* 16-bit RGB, tiled 16x16 (edge tiles partly outside) */
    write_tiff_raw(P("tiled16.tif"), "w", W, H, 3, 16, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 16, s16);
    TS_EXPECT(ts_image_read(P("tiled16.tif"), 0, &img, &err) == 0, "tiled tiff: %s", err.msg);
    if (img.data) {
        int bad = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) bad += fabs(px(&img, c, x, y) - s16(x, y, c) / 65535.0) > 1e-7;
        TS_EXPECT(img.w == W && img.h == H && bad == 0, "tiled 16-bit tiff: %d wrong samples", bad);
        ts_image_free(&img);
    }
    /* float32 RGB strips: values as they are */
    write_tiff_raw(P("float.tif"), "w", W, H, 3, 32, SAMPLEFORMAT_IEEEFP, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 0, sf);
    TS_EXPECT(ts_image_read(P("float.tif"), 0, &img, &err) == 0, "float tiff: %s", err.msg);
    if (img.data) {
        int bad = 0;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) bad += px(&img, c, x, y) != (float)sf(x, y, c);
        TS_EXPECT(bad == 0, "float tiff: %d wrong samples", bad);
        ts_image_free(&img);
    }
    /* float32 grey, tiled */
    write_tiff_raw(P("floatg.tif"), "w", W, H, 1, 32, SAMPLEFORMAT_IEEEFP, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, 16, sf);
    TS_EXPECT(ts_image_read(P("floatg.tif"), 0, &img, &err) == 0, "float grey tiled tiff: %s", err.msg);
    if (img.data) {
        TS_EXPECT(px(&img, 2, 33, 21) == (float)sf(33, 21, 0) && px(&img, 0, 33, 21) == (float)sf(33, 21, 0),
                  "float grey tiled tiff value");
        ts_image_free(&img);
    }
    /* 8-bit grey strips */
    write_tiff_raw(P("grey8.tif"), "w", W, H, 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, 0, s8);
    TS_EXPECT(ts_image_read(P("grey8.tif"), 0, &img, &err) == 0, "grey tiff: %s", err.msg);
    if (img.data) {
        TS_EXPECT(px(&img, 0, 5, 7) == (float)(s8(5, 7, 0) / 255.0) && px(&img, 1, 5, 7) == px(&img, 0, 5, 7) &&
                      px(&img, 2, 5, 7) == px(&img, 0, 5, 7),
                  "grey tiff R=G=B");
        ts_image_free(&img);
    }
    /* 8-bit min-is-white */
    write_tiff_raw(P("white8.tif"), "w", W, H, 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISWHITE, PLANARCONFIG_CONTIG, 0, s8);
    TS_EXPECT(ts_image_read(P("white8.tif"), 0, &img, &err) == 0, "min-is-white tiff: %s", err.msg);
    if (img.data) {
        TS_EXPECT(fabs(px(&img, 0, 5, 7) - (1 - s8(5, 7, 0) / 255.0)) < 1e-6, "min-is-white inverted");
        ts_image_free(&img);
    }
    /* 8-bit RGBA (unassociated alpha): over white, over black, over a colour; the alpha kept */
    write_tiff_raw(P("rgba8.tif"), "w", W, H, 4, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 0, s8);
    {
        double a = s8(9, 4, 3) / 255.0, v = s8(9, 4, 2) / 255.0;
        TS_EXPECT(ts_image_read(P("rgba8.tif"), 0, &img, &err) == 0, "rgba tiff: %s", err.msg);
        if (img.data) {
            TS_EXPECT(fabs(px(&img, 2, 9, 4) - (a * v + 1 - a)) < 1e-6, "rgba tiff over white");
            ts_image_free(&img);
        }
        const float black[3] = {0, 0, 0}, teal[3] = {0.1f, 0.5f, 0.6f};
        ts_image_read_opts ob = {.background = black}, oc = {.background = teal, .keep_alpha = 1};
        ts_image_info info = {0};
        TS_EXPECT(ts_image_read_with(P("rgba8.tif"), &ob, &img, NULL, &err) == 0 && fabs(px(&img, 2, 9, 4) - a * v) < 1e-6,
                  "rgba tiff over black");
        ts_image_free(&img);
        TS_EXPECT(ts_image_read_with(P("rgba8.tif"), &oc, &img, &info, &err) == 0 &&
                      fabs(px(&img, 2, 9, 4) - (a * v + (1 - a) * 0.6)) < 1e-6 && info.alpha &&
                      fabs(info.alpha[4 * W + 9] - a) < 1e-7,
                  "rgba tiff over a colour, alpha handed back");
        ts_image_free(&img);
        free(info.alpha);
    }
    /* associated (premultiplied) alpha: c + (1 - a) white */
    write_tiff_raw(P("assoc8.tif"), "w", W, H, 4, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 0, s8);
    {
        TIFF *t = TIFFOpen(P("assoc8.tif"), "r+");
        uint16_t extra = EXTRASAMPLE_ASSOCALPHA;
        TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, &extra);
        TIFFRewriteDirectory(t);
        TIFFClose(t);
        double a = s8(9, 4, 3) / 255.0, v = s8(9, 4, 2) / 255.0;
        TS_EXPECT(ts_image_read(P("assoc8.tif"), 0, &img, &err) == 0 && fabs(px(&img, 2, 9, 4) - (v + 1 - a)) < 1e-6,
                  "associated-alpha tiff: premultiplied colours over white");
        ts_image_free(&img);
    }
    /* the direct path against libtiff's RGBA reader: grey, min-is-white, RGB strips, tiles, planes */
    write_tiff_raw(P("x_grey.tif"), "w", W, H, 1, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, 0, s8);
    direct_vs_rgba(P("x_grey.tif"), "8-bit grey");
    direct_vs_rgba(P("white8.tif"), "8-bit min-is-white");
    write_tiff_raw(P("x_rgb.tif"), "w", W, H, 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 0, s8);
    direct_vs_rgba(P("x_rgb.tif"), "8-bit RGB strips");
    write_tiff_raw(P("x_tiled.tif"), "w", W, H, 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 16, s8);
    direct_vs_rgba(P("x_tiled.tif"), "8-bit RGB tiles");
    write_tiff_raw(P("x_sep.tif"), "w", W, H, 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_SEPARATE, 0, s8);
    direct_vs_rgba(P("x_sep.tif"), "8-bit RGB separate planes");
    /* 16-bit RGB, separate planes, tiled and stripped */
    write_tiff_raw(P("sep16.tif"), "w", W, H, 3, 16, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_SEPARATE, 0, s16);
    write_tiff_raw(P("sep16t.tif"), "w", W, H, 3, 16, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_SEPARATE, 16, s16);
    for (int k = 0; k < 2; k++) {
        const char *name = P(k ? "sep16t.tif" : "sep16.tif");
        TS_EXPECT(ts_image_read(name, 0, &img, &err) == 0, "separate-plane tiff: %s", err.msg);
        if (img.data) {
            int bad = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < 3; c++) bad += fabs(px(&img, c, x, y) - s16(x, y, c) / 65535.0) > 1e-7;
            TS_EXPECT(bad == 0, "%s: %d wrong samples", name, bad);
            ts_image_free(&img);
        }
    }
    /* BigTIFF */
    write_tiff_raw(P("big.tif"), "w8", W, H, 3, 8, SAMPLEFORMAT_UINT, PHOTOMETRIC_RGB, PLANARCONFIG_CONTIG, 0, s8);
    size_t n;
    unsigned char *b = read_bytes(P("big.tif"), &n);
    TS_EXPECT(n > 4 && b[2] == 43, "BigTIFF written for the test");
    free(b);
    TS_EXPECT(ts_image_read(P("big.tif"), 0, &img, &err) == 0, "bigtiff: %s", err.msg);
    if (img.data) {
        TS_EXPECT(px(&img, 1, 39, 29) == (float)(s8(39, 29, 1) / 255.0), "bigtiff value");
        ts_image_free(&img);
    }
    /* YCbCr JPEG-in-TIFF (libtiff converts to RGB) */
    if (TIFFIsCODECConfigured(COMPRESSION_JPEG)) {
        TIFF *t = TIFFOpen(P("jpeg.tif"), "w");
        TIFFSetField(t, TIFFTAG_IMAGEWIDTH, 48);
        TIFFSetField(t, TIFFTAG_IMAGELENGTH, 32);
        TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
        TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
        TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
        TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
        TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
        TIFFSetField(t, TIFFTAG_JPEGQUALITY, 95);
        TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 16);
        unsigned char row[48 * 3];
        for (int y = 0; y < 32; y++) {
            for (int x = 0; x < 48; x++) {
                row[3 * x] = (unsigned char)(x * 5);
                row[3 * x + 1] = (unsigned char)(y * 7);
                row[3 * x + 2] = 100;
            }
            TIFFWriteScanline(t, row, y, 0);
        }
        TIFFClose(t);
        TS_EXPECT(ts_image_read(P("jpeg.tif"), 0, &img, &err) == 0, "JPEG-in-TIFF: %s", err.msg);
        if (img.data) {
            double m = 0;
            for (int y = 0; y < 32; y++)
                for (int x = 0; x < 48; x++)
                    m += fabs(px(&img, 0, x, y) - x * 5 / 255.0) + fabs(px(&img, 1, x, y) - y * 7 / 255.0) +
                         fabs(px(&img, 2, x, y) - 100 / 255.0);
            TS_EXPECT(m / (3 * 48 * 32) < 0.02, "JPEG-in-TIFF mean abs diff %g", m / (3 * 48 * 32));
            ts_image_free(&img);
        }
    }
    /* through libtiff's RGBA interface, against what the files hold: 1-bit bilevel */
    write_tiff_raw(P("bits1.tif"), "w", W, H, 1, 1, SAMPLEFORMAT_UINT, PHOTOMETRIC_MINISBLACK, PLANARCONFIG_CONTIG, 0, s1);
    TS_EXPECT(ts_image_read(P("bits1.tif"), 0, &img, &err) == 0, "1-bit tiff: %s", err.msg);
    if (img.data) {
        int ok = 1;
        for (int y = 0; y < H; y++)
            for (int x = 0; x < W; x++)
                for (int c = 0; c < 3; c++) ok &= px(&img, c, x, y) == (float)((x + y) & 1);
        TS_EXPECT(ok, "1-bit tiff: black and white pixels");
        ts_image_free(&img);
    }
    /* palette: an 8-bit index into a 16-bit colour map (entries v * 257, so 8 bits hold them exactly) */
    {
        TIFF *t = tiff_open8(P("pal.tif"), W, H, 1, PHOTOMETRIC_PALETTE);
        static uint16_t map[3][256];
        for (int i = 0; i < 256; i++) map[0][i] = (uint16_t)(i * 257), map[1][i] = (uint16_t)((255 - i) * 257),
                                       map[2][i] = (uint16_t)(((i * 3) % 256) * 257);
        TIFFSetField(t, TIFFTAG_COLORMAP, map[0], map[1], map[2]);
        tiff_rows8(t, W, H, 0);
        TS_EXPECT(ts_image_read(P("pal.tif"), 0, &img, &err) == 0, "palette tiff: %s", err.msg);
        if (img.data) {
            int ok = 1;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++) {
                    int i = (int)s8(x, y, 0);
                    ok &= px(&img, 0, x, y) == i / 255.0f && px(&img, 1, x, y) == (255 - i) / 255.0f &&
                          px(&img, 2, x, y) == ((i * 3) % 256) / 255.0f;
                }
            TS_EXPECT(ok, "palette tiff: every pixel is its colour-map entry");
            ts_image_free(&img);
        }
    }
    /* CMYK (separated, 8-bit): R = (255 - C)(255 - K) / 255^2 within a step of 8 bits */
    {
        TIFF *t = tiff_open8(P("cmyk.tif"), W, H, 4, PHOTOMETRIC_SEPARATED);
        TIFFSetField(t, TIFFTAG_INKSET, INKSET_CMYK);
        tiff_rows8(t, W * 4, H, 1);
        TS_EXPECT(ts_image_read(P("cmyk.tif"), 0, &img, &err) == 0, "cmyk tiff: %s", err.msg);
        if (img.data) {
            double worst = 0;
            for (int y = 0; y < H; y++)
                for (int x = 0; x < W; x++)
                    for (int c = 0; c < 3; c++) {
                        double k = s8(4 * x + 3, y, 1), v = s8(4 * x + c, y, 1);
                        worst = fmax(worst, fabs(px(&img, c, x, y) - (255 - v) * (255 - k) / 65025.0));
                    }
            TS_EXPECT(worst <= 1.0 / 255 + 1e-6, "cmyk tiff against (1-C)(1-K): worst %.4f", worst);
            ts_image_free(&img);
        }
    }
}

static void test_bad_inputs(void) {
    ts_image a, b;
    ts_image_alloc(&a, 64, 48);
    fill_smooth(&a);
    ts_err err;
    ts_image_write(P("good.png"), &a, NULL, &err);
    ts_image_write(P("good.jpg"), &a, NULL, &err);
    ts_image_write(P("good.tif"), &a, NULL, &err);
    ts_image_write(P("good.npy"), &a, NULL, &err);

    expect_bad(P("missing.png"), 0, "No such file");
    write_bytes(P("empty.png"), "", 0);
    expect_bad(P("empty.png"), 0, "empty");
    write_bytes(P("text.png"), "hello, this is not an image\n", 28);
    expect_bad(P("text.png"), 0, "not a PNG");
    write_bytes(P("short.jpg"), "\xFF\xD8", 2);
    expect_bad(P("short.jpg"), 0, NULL);
    expect_bad(g_dir, 0, "directory");

    const char *goods[] = {"good.png", "good.jpg", "good.tif", "good.npy"};
    const char *halves[] = {"half.png", "half.jpg", "half.tif", "half.npy"};
    for (int i = 0; i < 4; i++) {
        write_truncated(P(goods[i]), P(halves[i]));
        expect_bad(P(halves[i]), 0, NULL);
        /* pixel limit, checked from the header */
        expect_bad(P(goods[i]), 1000, "over the limit of 1000");
        TS_EXPECT(ts_image_read(P(goods[i]), 64 * 48, &b, &err) == 0, "%s at exactly the limit: %s", goods[i], err.msg);
        ts_image_free(&b);
    }
    /* Only the IHDR chunk: the header is fine, the image data is missing. */
    size_t n;
    unsigned char *png = read_bytes(P("good.png"), &n);
    write_bytes(P("hdr_only.png"), png, 33);
    expect_bad(P("hdr_only.png"), 0, NULL);
    /* IHDR patched to 100000 x 100000 with a valid CRC. */
    put_be32(png + 16, 100000);
    put_be32(png + 20, 100000);
    put_be32(png + 29, crc32_png(png + 12, 17));
    write_bytes(P("huge.png"), png, n);
    expect_bad(P("huge.png"), 0, "100000x100000 = 10000000000 pixels, over the limit of 268435456 (--max-pixels)");
    /* Corrupt CRC in IHDR. */
    png[29] ^= 0xFF;
    write_bytes(P("badcrc.png"), png, n);
    expect_bad(P("badcrc.png"), 0, NULL);
    free(png);

    /* A TIFF whose first IFD offset points past the end. */
    unsigned char *tif = read_bytes(P("good.tif"), &n);
    put_be32(tif + 4, 0x7FFFFFF0); /* little-endian file: a huge offset either way */
    write_bytes(P("badifd.tif"), tif, n);
    expect_bad(P("badifd.tif"), 0, NULL);
    free(tif);

    /* Hand-made uncompressed grey TIFF with its IFD first, then cut inside the strip data. */
    {
        enum { TW = 20, TH = 10, NE = 9, DATA = 8 + 2 + NE * 12 + 4 };
        static unsigned char t[DATA + TW * TH];
        memcpy(t, "II*\0\x08\0\0\0", 8);
        t[8] = NE;
        const uint16_t tags[NE][2] = {{256, TW}, {257, TH}, {258, 8}, {259, 1}, {262, 1},
                                      {273, DATA}, {277, 1}, {278, TH}, {279, TW * TH}};
        for (int i = 0; i < NE; i++) {
            unsigned char *e = t + 10 + 12 * i;
            int is_long = tags[i][0] == 273 || tags[i][0] == 279;
            e[0] = (unsigned char)tags[i][0];
            e[1] = (unsigned char)(tags[i][0] >> 8);
            e[2] = is_long ? 4 : 3; /* LONG or SHORT */
            e[4] = 1;               /* count */
            e[8] = (unsigned char)tags[i][1];
            e[9] = (unsigned char)(tags[i][1] >> 8);
        }
        for (int i = 0; i < TW * TH; i++) t[DATA + i] = (unsigned char)i;
        write_bytes(P("ifdfirst.tif"), t, sizeof t);
        TS_EXPECT(ts_image_read(P("ifdfirst.tif"), 0, &b, &err) == 0, "hand-made TIFF: %s", err.msg);
        if (b.data) {
            TS_EXPECT(px(&b, 1, 3, 2) == (float)((2 * TW + 3) / 255.0), "hand-made TIFF value");
            ts_image_free(&b);
        }
        write_bytes(P("ifdfirst_cut.tif"), t, DATA + TW * TH / 2);
        expect_bad(P("ifdfirst_cut.tif"), 0, NULL);
    }
    /* Deflate TIFF with garbage in the compressed data. */
    unsigned char *zt = read_bytes(P("good.tif"), &n);
    for (size_t i = 200; i < 1200 && i < n; i++) zt[i] = (unsigned char)(i * 131);
    write_bytes(P("garbage.tif"), zt, n);
    expect_bad(P("garbage.tif"), 0, NULL);
    free(zt);

    /* .npy image with the wrong shape */
    int64_t shape[3] = {2, 4, 4};
    float z[32] = {0};
    TS_EXPECT(ts_npy_write(P("shape.npy"), z, 3, shape, &err) == 0, "npy write");
    expect_bad(P("shape.npy"), 0, "(3, H, W)");
    int64_t shape1[3] = {3, 2, 2};
    z[5] = NAN;
    TS_EXPECT(ts_npy_write(P("nan.npy"), z, 3, shape1, &err) == 0, "npy write");
    expect_bad(P("nan.npy"), 0, "NaN");
    ts_image_free(&a);
}

static void test_writes(void) {
    ts_image a, b, c;
    ts_image_alloc(&a, 64, 48);
    ts_image_alloc(&b, 64, 48);
    fill_smooth(&a);
    fill_quantised(&b, 255);
    ts_err err;

    /* Unwritable place: -1, names the file, leaves nothing. */
    const char *nodir = P("no/such/dir/out.png");
    TS_EXPECT(ts_image_write(nodir, &a, NULL, &err) == -1, "write into a missing directory fails");
    TS_EXPECT(strstr(err.msg, nodir) != NULL, "message names the file: %s", err.msg);
    TS_EXPECT(!exists(nodir) && tmp_leftovers() == 0, "nothing left behind");
    TS_EXPECT(ts_image_write(P("x.bmp"), &a, NULL, &err) == -1 && strstr(err.msg, "x.bmp"), "unknown extension");
    TS_EXPECT(!exists(P("x.bmp")), "nothing written for an unknown extension");
    ts_image_write_opts o12 = {.bits = 12}, oq = {.bits = 8, .quality = 101};
    TS_EXPECT(ts_image_write(P("x12.png"), &a, &o12, &err) == -1 && !exists(P("x12.png")), "12-bit refused");
    TS_EXPECT(ts_image_write(P("xq.jpg"), &a, &oq, &err) == -1 && !exists(P("xq.jpg")), "quality 101 refused");

    /* Over an existing file: replaced on success. */
    const char *names[] = {"atomic.png", "atomic.jpg", "atomic.tif", "atomic.npy"};
    for (int i = 0; i < 4; i++) {
        const char *p = P(names[i]);
        TS_EXPECT(ts_image_write(p, &a, NULL, &err) == 0, "%s: %s", p, err.msg);
        TS_EXPECT(ts_image_write(p, &b, NULL, &err) == 0, "%s: %s", p, err.msg);
        TS_EXPECT(ts_image_read(p, 0, &c, &err) == 0, "%s: %s", p, err.msg);
        TS_EXPECT(mean_diff(&b, &c) < (i == 1 ? 0.2 : 1e-6), "%s holds the second image (%g)", p, mean_diff(&b, &c));
        ts_image_free(&c);
    }

    /* A write that fails half-way (file size limit) leaves the old file as it was and no temporary. */
    ts_image big;
    ts_image_alloc(&big, 256, 256);
    fill_quantised(&big, 65535); /* noise: does not compress */
    struct rlimit old, lim;
    getrlimit(RLIMIT_FSIZE, &old);
    signal(SIGXFSZ, SIG_IGN);
    for (int i = 0; i < 4; i++) {
        const char *p = P(names[i]);
        size_t n0, n1;
        unsigned char *before = read_bytes(p, &n0);
        lim = old;
        lim.rlim_cur = 20000;
        setrlimit(RLIMIT_FSIZE, &lim);
        ts_image_write_opts o16 = {.bits = 16, .quality = 100};
        int rc = ts_image_write(p, &big, &o16, &err);
        setrlimit(RLIMIT_FSIZE, &old);
        if (getenv("TS_TEST_VERBOSE")) printf("  (expected) %s\n", err.msg);
        TS_EXPECT(rc == -1, "%s: write over the size limit fails", p);
        TS_EXPECT(strstr(err.msg, p) != NULL, "message names the file: %s", err.msg);
        unsigned char *after = read_bytes(p, &n1);
        TS_EXPECT(n0 == n1 && memcmp(before, after, n0) == 0, "%s unchanged after a failed write", p);
        TS_EXPECT(tmp_leftovers() == 0, "%s: no temporary left", p);
        free(before);
        free(after);
    }
    signal(SIGXFSZ, SIG_DFL);
    ts_image_free(&big);

    /* Target is a directory: the rename fails, the temporary is removed. */
    mkdir(P("dir.png"), 0755);
    TS_EXPECT(ts_image_write(P("dir.png"), &a, NULL, &err) == -1, "write over a directory fails");
    struct stat st;
    TS_EXPECT(stat(P("dir.png"), &st) == 0 && S_ISDIR(st.st_mode) && tmp_leftovers() == 0,
              "directory untouched, no temporary");
    ts_image_free(&a);
    ts_image_free(&b);
}

static void test_resize(void) {
    ts_image a, b;
    ts_image_alloc(&a, 37, 23);
    fill_quantised(&a, 1000);
    ts_image_resize(&a, 37, 23, &b);
    TS_EXPECT(b.w == 37 && b.h == 23 && memcmp(a.data, b.data, sizeof(float) * 3 * 37 * 23) == 0,
              "same size is an exact copy");
    ts_image_free(&b);

    for (size_t i = 0; i < 3 * 37 * 23; i++) a.data[i] = 0.3f;
    int sizes[][2] = {{10, 7}, {18, 11}, {36, 22}, {80, 50}, {1, 1}, {37, 5}};
    for (int k = 0; k < 6; k++) {
        ts_image_resize(&a, sizes[k][0], sizes[k][1], &b);
        double m = 0;
        for (size_t i = 0; i < 3 * (size_t)b.w * b.h; i++) m = fmax(m, fabs(b.data[i] - 0.3));
        TS_EXPECT(b.w == sizes[k][0] && b.h == sizes[k][1] && m < 1e-6, "constant stays constant at %dx%d (%g)",
                  sizes[k][0], sizes[k][1], m);
        ts_image_free(&b);
    }
    ts_image_free(&a);

    /* 1-px checkerboard halved: ~0.5 everywhere, exactly 0.5 away from the edges. */
    ts_image_alloc(&a, 64, 64);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 64; y++)
            for (int x = 0; x < 64; x++) a.data[c * 4096 + y * 64 + x] = (float)((x + y) & 1);
    ts_image_resize(&a, 32, 32, &b);
    double inner = 0, all = 0;
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < 32; y++)
            for (int x = 0; x < 32; x++) {
                double d = fabs(px(&b, c, x, y) - 0.5);
                all = fmax(all, d);
                if (x > 0 && y > 0 && x < 31 && y < 31) inner = fmax(inner, d);
            }
    TS_EXPECT(inner < 1e-6, "checkerboard halved: inner pixels 0.5 (max dev %g)", inner);
    TS_EXPECT(all < 0.15, "checkerboard halved: edge pixels near 0.5 (max dev %g)", all);
    ts_image_free(&b);
    /* A non-integer factor still suppresses the checkerboard. */
    ts_image_resize(&a, 23, 23, &b);
    inner = 0;
    for (int y = 2; y < 21; y++)
        for (int x = 2; x < 21; x++) inner = fmax(inner, fabs(px(&b, 0, x, y) - 0.5));
    TS_EXPECT(inner < 0.1, "checkerboard at 64->23: inner pixels near 0.5 (max dev %g)", inner);
    ts_image_free(&b);
    ts_image_free(&a);

    /* Enlarging is bilinear with pixel centres aligned: [0 1] -> [0 .25 .75 1]. */
    ts_image_alloc(&a, 2, 1);
    for (int c = 0; c < 3; c++) {
        a.data[c * 2] = 0.0f;
        a.data[c * 2 + 1] = 1.0f;
    }
    ts_image_resize(&a, 4, 1, &b);
    TS_EXPECT(fabs(px(&b, 1, 0, 0)) < 1e-6 && fabs(px(&b, 1, 1, 0) - 0.25) < 1e-6 &&
                  fabs(px(&b, 1, 2, 0) - 0.75) < 1e-6 && fabs(px(&b, 1, 3, 0) - 1.0) < 1e-6,
              "bilinear enlarge: %g %g %g %g", px(&b, 1, 0, 0), px(&b, 1, 1, 0), px(&b, 1, 2, 0), px(&b, 1, 3, 0));
    ts_image_free(&b);
    ts_image_free(&a);

    int nw, nh;
    ts_image_fit_long_side(1920, 1080, 512, &nw, &nh);
    TS_EXPECT(nw == 512 && nh == 288, "fit 1920x1080 -> %dx%d", nw, nh);
    ts_image_fit_long_side(1080, 1920, 512, &nw, &nh);
    TS_EXPECT(nw == 288 && nh == 512, "fit 1080x1920 -> %dx%d", nw, nh);
    ts_image_fit_long_side(1000, 333, 100, &nw, &nh);
    TS_EXPECT(nw == 100 && nh == 33, "fit 1000x333 -> %dx%d", nw, nh);
    ts_image_fit_long_side(1000, 335, 100, &nw, &nh);
    TS_EXPECT(nw == 100 && nh == 34, "fit rounds 33.5 up -> %dx%d", nw, nh);
    ts_image_fit_long_side(1000, 1, 10, &nw, &nh);
    TS_EXPECT(nw == 10 && nh == 1, "fit keeps at least 1 px -> %dx%d", nw, nh);
    ts_image_fit_long_side(640, 480, 640, &nw, &nh);
    TS_EXPECT(nw == 640 && nh == 480, "fit same size -> %dx%d", nw, nh);
    ts_image_fit_long_side(300, 300, 1024, &nw, &nh);
    TS_EXPECT(nw == 1024 && nh == 1024, "fit enlarges square -> %dx%d", nw, nh);
}

static void test_names(void) {
    TS_EXPECT(ts_image_format_from_name("a.png") == TS_FMT_PNG, "png");
    TS_EXPECT(ts_image_format_from_name("dir/A.PNG") == TS_FMT_PNG, "PNG upper case");
    TS_EXPECT(ts_image_format_from_name("b.jpg") == TS_FMT_JPEG && ts_image_format_from_name("b.JPEG") == TS_FMT_JPEG,
              "jpeg");
    TS_EXPECT(ts_image_format_from_name("c.tif") == TS_FMT_TIFF && ts_image_format_from_name("c.tiff") == TS_FMT_TIFF,
              "tiff");
    TS_EXPECT(ts_image_format_from_name("d.npy") == TS_FMT_NPY, "npy");
    TS_EXPECT(ts_image_format_from_name("noext") == TS_FMT_UNKNOWN, "no extension");
    TS_EXPECT(ts_image_format_from_name("dir.png/file") == TS_FMT_UNKNOWN, "extension of a directory");
    TS_EXPECT(ts_image_format_from_name("e.gif") == TS_FMT_UNKNOWN, "gif");
}

/* ---- orientation: EXIF (JPEG APP1, PNG eXIf) and the TIFF tag ---- */

/* An EXIF block (a TIFF structure) whose IFD0 holds Orientation = o; big: "MM" byte order. Returns
 * its length (26 bytes). */
static size_t exif_block(unsigned char *b, int o, int big) {
    unsigned char le[] = {'I', 'I', 42, 0, 8, 0, 0, 0, 1, 0, 0x12, 0x01, 3, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0};
    unsigned char be[] = {'M', 'M', 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0};
    memcpy(b, big ? be : le, sizeof le);
    if (big) b[19] = (unsigned char)o;
    else b[18] = (unsigned char)o;
    return sizeof le;
}

/* the JPEG file src with an APP1 "Exif" segment holding block (n bytes) after its SOI, as dst */
static void jpeg_with_app1(const char *src, const char *dst, const unsigned char *block, size_t n) {
    size_t len;
    unsigned char *j = read_bytes(src, &len);
    unsigned char *out = malloc(len + n + 10);
    size_t seg = n + 8; /* length field, "Exif\0\0", block */
    memcpy(out, j, 2);
    out[2] = 0xFF, out[3] = 0xE1, out[4] = (unsigned char)(seg >> 8), out[5] = (unsigned char)seg;
    memcpy(out + 6, "Exif\0\0", 6);
    memcpy(out + 12, block, n);
    memcpy(out + 12 + n, j + 2, len - 2);
    write_bytes(dst, out, len + n + 10);
    free(out);
    free(j);
}

static int same_pixels(const ts_image *a, const ts_image *b) {
    return a->w == b->w && a->h == b->h && memcmp(a->data, b->data, sizeof(float) * 3 * a->w * a->h) == 0;
}

static void test_orientation(void) {
    /* the eight orientations on a 3x2 image against hand-written results: v(x, y) = 10 y + x */
    static const float want[9][6] = {{0},
                                     {0, 1, 2, 10, 11, 12},  {2, 1, 0, 12, 11, 10},  {12, 11, 10, 2, 1, 0},
                                     {10, 11, 12, 0, 1, 2},  {0, 10, 1, 11, 2, 12},  {10, 0, 11, 1, 12, 2},
                                     {12, 2, 11, 1, 10, 0}, {2, 12, 1, 11, 0, 10}};
    for (int o = 1; o <= 8; o++) {
        ts_image img;
        ts_image_alloc(&img, 3, 2);
        for (int c = 0; c < 3; c++)
            for (int p = 0; p < 6; p++) img.data[c * 6 + p] = (float)(10 * (p / 3) + p % 3 + 100 * c);
        ts_image_orient(&img, o);
        int ok = (o >= 5 ? img.w == 2 && img.h == 3 : img.w == 3 && img.h == 2);
        for (int c = 0; c < 3 && ok; c++)
            for (int p = 0; p < 6; p++) ok &= img.data[c * 6 + p] == want[o][p] + 100 * c;
        TS_EXPECT(ok, "orientation %d turns the image as EXIF says (%dx%d)", o, img.w, img.h);
        ts_image_free(&img);
    }
    /* a JPEG with EXIF orientation o (both byte orders) reads upright; ignored, as stored */
    int W = 24, H = 16;
    unsigned char *d = malloc((size_t)W * H * 3);
    for (int i = 0; i < W * H * 3; i++) d[i] = (unsigned char)((i * 37 + (i / (3 * W)) * 11) % 256);
    write_jpeg_raw(P("plain.jpg"), W, H, 3, JCS_RGB, d);
    ts_image stored, up, raw;
    ts_err err = {{0}};
    TS_EXPECT(ts_image_read(P("plain.jpg"), 0, &stored, &err) == 0, "plain jpeg: %s", err.msg);
    for (int o = 1; o <= 8; o++)
        for (int big = 0; big < 2; big++) {
            unsigned char b[32];
            size_t n = exif_block(b, o, big);
            jpeg_with_app1(P("plain.jpg"), P("exif.jpg"), b, n);
            ts_image want_img = {stored.w, stored.h, malloc(sizeof(float) * 3 * W * H)};
            memcpy(want_img.data, stored.data, sizeof(float) * 3 * W * H);
            ts_image_orient(&want_img, o);
            ts_image_read_opts ignore = {.ignore_orientation = 1};
            int r1 = ts_image_read(P("exif.jpg"), 0, &up, &err), r2 = ts_image_read_with(P("exif.jpg"), &ignore, &raw, NULL, &err);
            TS_EXPECT(r1 == 0 && r2 == 0 && same_pixels(&up, &want_img) && same_pixels(&raw, &stored),
                      "JPEG with EXIF orientation %d (%s): upright on reading, as stored with ignore_orientation", o,
                      big ? "MM" : "II");
            ts_image_free(&up), ts_image_free(&raw), ts_image_free(&want_img);
        }
    /* a malformed EXIF block (IFD0 beyond its end, a wrong type) is no orientation, not an error */
    unsigned char bad[32];
    size_t n = exif_block(bad, 6, 0);
    bad[4] = 200; /* IFD0 offset past the block */
    jpeg_with_app1(P("plain.jpg"), P("badexif.jpg"), bad, n);
    TS_EXPECT(ts_image_read(P("badexif.jpg"), 0, &up, &err) == 0 && same_pixels(&up, &stored),
              "a JPEG whose EXIF points past its end reads as stored");
    ts_image_free(&up);
    exif_block(bad, 6, 0);
    bad[12] = 4; /* LONG instead of SHORT */
    jpeg_with_app1(P("plain.jpg"), P("badexif.jpg"), bad, n);
    TS_EXPECT(ts_image_read(P("badexif.jpg"), 0, &up, &err) == 0 && same_pixels(&up, &stored),
              "a JPEG whose Orientation has the wrong type reads as stored");
    ts_image_free(&up);
    /* PNG's eXIf chunk */
    {
        unsigned char b[32];
        write_png_rgb8(P("exif.png"), W, H, d, NULL, 0, b, (uint32_t)exif_block(b, 8, 1));
        write_png_rgb8(P("noexif.png"), W, H, d, NULL, 0, NULL, 0);
        ts_image a, b2;
        TS_EXPECT(ts_image_read(P("exif.png"), 0, &a, &err) == 0 && ts_image_read(P("noexif.png"), 0, &b2, &err) == 0,
                  "png with eXIf: %s", err.msg);
        ts_image_orient(&b2, 8);
        TS_EXPECT(same_pixels(&a, &b2) && a.w == H, "PNG with an eXIf orientation 8 reads upright (%dx%d)", a.w, a.h);
        ts_image_free(&a), ts_image_free(&b2);
    }
    /* the TIFF tag */
    for (int o = 2; o <= 8; o += 3) {
        write_tiff_rgb8(P("orient.tif"), W, H, d, o, NULL, 0);
        ts_image a, b2;
        write_png_rgb8(P("noexif.png"), W, H, d, NULL, 0, NULL, 0);
        TS_EXPECT(ts_image_read(P("orient.tif"), 0, &a, &err) == 0 && ts_image_read(P("noexif.png"), 0, &b2, &err) == 0,
                  "tiff with orientation: %s", err.msg);
        ts_image_orient(&b2, o);
        TS_EXPECT(same_pixels(&a, &b2), "TIFF with orientation %d reads upright (%dx%d)", o, a.w, a.h);
        ts_image_free(&a), ts_image_free(&b2);
    }
    /* alpha written and read back (PNG and TIFF, 8 and 16 bits); JPEG and .npy have none */
    {
        ts_image a;
        ts_image_alloc(&a, W, H);
        fill_smooth(&a);
        float *al = malloc(sizeof(float) * W * H);
        for (int p = 0; p < W * H; p++) al[p] = (float)(p % 17) / 16.0f;
        const char *names[4] = {"a8.png", "a16.png", "a8.tif", "a16.tif"};
        for (int k = 0; k < 4; k++) {
            ts_image_write_opts wo = {.bits = k % 2 ? 16 : 8, .alpha = al};
            ts_image_read_opts ro = {.keep_alpha = 1};
            ts_image_info info = {0};
            ts_image back;
            int ok = ts_image_write(P(names[k]), &a, &wo, &err) == 0 &&
                     ts_image_read_with(P(names[k]), &ro, &back, &info, &err) == 0 && info.alpha;
            double worst = 0;
            for (int p = 0; ok && p < W * H; p++) worst = fmax(worst, fabs(info.alpha[p] - al[p]));
            TS_EXPECT(ok && worst <= (k % 2 ? 1e-4 : 2.5e-3), "%s: alpha written and read back (worst %.2g)", names[k],
                      worst);
            if (ok) ts_image_free(&back);
            free(info.alpha);
        }
        ts_image_write_opts wj = {.alpha = al};
        TS_EXPECT(ts_image_write(P("a.jpg"), &a, &wj, &err) != 0 && strstr(err.msg, "alpha") && !exists(P("a.jpg")),
                  "a JPEG output with alpha is refused: %s", err.msg);
        free(al);
        ts_image_free(&a);
    }
    /* a two-page TIFF: the first page is read and the pages are counted */
    {
        TIFF *t = TIFFOpen(P("pages.tif"), "w");
        for (int page = 0; page < 2; page++) {
            TIFFSetField(t, TIFFTAG_IMAGEWIDTH, W);
            TIFFSetField(t, TIFFTAG_IMAGELENGTH, H);
            TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 1);
            TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
            TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_MINISBLACK);
            unsigned char row[64];
            for (int y = 0; y < H; y++) {
                memset(row, page ? 200 : 50, sizeof row);
                TIFFWriteScanline(t, row, (uint32_t)y, 0);
            }
            TIFFWriteDirectory(t);
        }
        TIFFClose(t);
        ts_image a;
        ts_image_info info = {0};
        ts_image_read_opts plain = {0};
        TS_EXPECT(ts_image_read_with(P("pages.tif"), &plain, &a, &info, &err) == 0 && info.pages == 2 &&
                      px(&a, 0, 1, 1) == 50 / 255.0f,
                  "a two-page TIFF: the first page read, %d pages counted", info.pages);
        ts_image_free(&a);
    }
    ts_image_free(&stored);
    free(d);
}

/* ---- colour profiles ---- */
#ifdef TS_HAVE_LCMS2
#include <lcms2.h>

/* the RGB -> XYZ matrix of primaries (x, y) with white (xw, yw), into m (row major) */
static void rgb_to_xyz(const double p[3][2], double xw, double yw, double m[3][3]) {
    double P[3][3], W[3] = {xw / yw, 1.0, (1 - xw - yw) / yw};
    for (int c = 0; c < 3; c++) {
        P[0][c] = p[c][0] / p[c][1];
        P[1][c] = 1.0;
        P[2][c] = (1 - p[c][0] - p[c][1]) / p[c][1];
    }
    /* S = P^-1 W, by Cramer */
    double det = P[0][0] * (P[1][1] * P[2][2] - P[1][2] * P[2][1]) - P[0][1] * (P[1][0] * P[2][2] - P[1][2] * P[2][0]) +
                 P[0][2] * (P[1][0] * P[2][1] - P[1][1] * P[2][0]);
    double S[3];
    for (int c = 0; c < 3; c++) {
        double Q[3][3];
        memcpy(Q, P, sizeof Q);
        for (int r = 0; r < 3; r++) Q[r][c] = W[r];
        S[c] = (Q[0][0] * (Q[1][1] * Q[2][2] - Q[1][2] * Q[2][1]) - Q[0][1] * (Q[1][0] * Q[2][2] - Q[1][2] * Q[2][0]) +
                Q[0][2] * (Q[1][0] * Q[2][1] - Q[1][1] * Q[2][0])) / det;
    }
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) m[r][c] = P[r][c] * S[c];
}

static void inverse3(const double a[3][3], double b[3][3]) {
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) - a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            int r0 = (j + 1) % 3, r1 = (j + 2) % 3, c0 = (i + 1) % 3, c1 = (i + 2) % 3;
            b[i][j] = (a[r0][c0] * a[r1][c1] - a[r0][c1] * a[r1][c0]) / det;
        }
}

static double srgb_encode(double v) {
    v = v < 0 ? 0 : v > 1 ? 1 : v;
    return v <= 0.0031308 ? 12.92 * v : 1.055 * pow(v, 1 / 2.4) - 0.055;
}

static const double ADOBE[3][2] = {{0.64, 0.33}, {0.21, 0.71}, {0.15, 0.06}};
static const double SRGB[3][2] = {{0.64, 0.33}, {0.30, 0.60}, {0.15, 0.06}};
#define ADOBE_GAMMA (563.0 / 256.0)

/* an Adobe RGB (1998) profile made with lcms: D65, the primaries above, gamma 563/256 */
static unsigned char *adobe_profile(cmsUInt32Number *n) {
    cmsCIExyY white = {0.3127, 0.3290, 1.0};
    cmsCIExyYTRIPLE prim = {{0.64, 0.33, 1}, {0.21, 0.71, 1}, {0.15, 0.06, 1}};
    cmsToneCurve *g = cmsBuildGamma(NULL, ADOBE_GAMMA);
    cmsToneCurve *curves[3] = {g, g, g};
    cmsHPROFILE p = cmsCreateRGBProfile(&white, &prim, curves);
    cmsSaveProfileToMem(p, NULL, n);
    unsigned char *b = malloc(*n);
    cmsSaveProfileToMem(p, b, n);
    cmsCloseProfile(p);
    cmsFreeToneCurve(g);
    return b;
}

/* A CMYK output profile made here: its A2B0 table maps inks to what R = (1 - C)(1 - K) (etc.) gives in
 * sRGB, through Lab, on a 9-point grid. Reading a CMYK JPEG through it should give that formula back. */
static cmsHTRANSFORM g_srgb_to_lab;
static cmsInt32Number naive_cmyk_sampler(const cmsUInt16Number in[], cmsUInt16Number out[], void *cargo) {
    (void)cargo;
    float rgb[3], k = 1.0f - in[3] / 65535.0f;
    for (int c = 0; c < 3; c++) rgb[c] = (1.0f - in[c] / 65535.0f) * k;
    cmsCIELab lab;
    cmsDoTransform(g_srgb_to_lab, rgb, &lab, 1);
    cmsFloat2LabEncoded(out, &lab);
    return TRUE;
}

static unsigned char *naive_cmyk_profile(cmsUInt32Number *n) {
    cmsHPROFILE srgb = cmsCreate_sRGBProfile(), labp = cmsCreateLab4Profile(NULL);
    g_srgb_to_lab = cmsCreateTransform(srgb, TYPE_RGB_FLT, labp, TYPE_Lab_DBL, INTENT_PERCEPTUAL, 0);
    cmsHPROFILE p = cmsCreateProfilePlaceholder(NULL);
    cmsSetProfileVersion(p, 2.1); /* a v2 lut16 table: a lone CLUT is not a v4 mAB one */
    cmsSetDeviceClass(p, cmsSigOutputClass);
    cmsSetColorSpace(p, cmsSigCmykData);
    cmsSetPCS(p, cmsSigLabData);
    cmsPipeline *lut = cmsPipelineAlloc(NULL, 4, 3);
    cmsStage *clut = cmsStageAllocCLut16bit(NULL, 9, 4, 3, NULL);
    cmsStageSampleCLut16bit(clut, naive_cmyk_sampler, NULL, 0);
    cmsPipelineInsertStage(lut, cmsAT_BEGIN, clut);
    cmsWriteTag(p, cmsSigAToB0Tag, lut);
    cmsWriteTag(p, cmsSigMediaWhitePointTag, cmsD50_XYZ());
    cmsSaveProfileToMem(p, NULL, n);
    unsigned char *b = malloc(*n);
    cmsSaveProfileToMem(p, b, n);
    cmsPipelineFree(lut);
    cmsCloseProfile(p);
    cmsDeleteTransform(g_srgb_to_lab);
    cmsCloseProfile(srgb);
    cmsCloseProfile(labp);
    return b;
}

/* the description tag of an ICC profile's bytes, or "" */
static void profile_description(const void *icc, size_t n, char *out, size_t on) {
    out[0] = 0;
    cmsHPROFILE p = cmsOpenProfileFromMem(icc, (cmsUInt32Number)n);
    if (!p) return;
    cmsGetProfileInfoASCII(p, cmsInfoDescription, "en", "US", out, (cmsUInt32Number)on);
    cmsCloseProfile(p);
}
#endif

static void test_profiles(void) {
    int W = 16, H = 8;
    unsigned char *d = malloc((size_t)W * H * 3);
    for (int i = 0; i < W * H * 3; i++) d[i] = (unsigned char)((i * 53) % 256);
    ts_err err = {{0}};
    TS_EXPECT(ts_image_profiles_available() == (TS_HAVE_LCMS2_VALUE), "profiles available as built");
#ifdef TS_HAVE_LCMS2
    cmsUInt32Number n = 0;
    unsigned char *adobe = adobe_profile(&n);
    /* the reference: Adobe RGB decoded, through XYZ (both white points D65), into sRGB */
    double ma[3][3], ms[3][3], msi[3][3], m[3][3];
    rgb_to_xyz(ADOBE, 0.3127, 0.3290, ma);
    rgb_to_xyz(SRGB, 0.3127, 0.3290, ms);
    inverse3(ms, msi);
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) m[i][j] = msi[i][0] * ma[0][j] + msi[i][1] * ma[1][j] + msi[i][2] * ma[2][j];
    /* the same pixels with the profile in a PNG, a TIFF and a JPEG (the JPEG's own coding aside) */
    write_png_rgb8(P("adobe.png"), W, H, d, adobe, n, NULL, 0);
    write_tiff_rgb8(P("adobe.tif"), W, H, d, 0, adobe, n);
    const char *files[2] = {"adobe.png", "adobe.tif"};
    for (int k = 0; k < 2; k++) {
        ts_image img;
        ts_image_info info;
        ts_image_read_opts ro = {.keep_profile = 1};
        int ok = ts_image_read_with(P(files[k]), &ro, &img, &info, &err) == 0 && info.profile == 1 && info.icc &&
                 info.icc_len == n;
        double worst = 0;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; x < W; x++) {
                const unsigned char *q = d + ((size_t)y * W + x) * 3;
                double lin[3];
                for (int c = 0; c < 3; c++) lin[c] = pow(q[c] / 255.0, ADOBE_GAMMA);
                for (int c = 0; c < 3; c++) {
                    double want = srgb_encode(m[c][0] * lin[0] + m[c][1] * lin[1] + m[c][2] * lin[2]);
                    worst = fmax(worst, fabs(px(&img, c, x, y) - want));
                }
            }
        TS_EXPECT(ok && worst < 1.0 / 255, "%s: Adobe RGB read as sRGB, within 1/255 of the matrix reference (%.2g): %s",
                  files[k], worst, err.msg);
        if (ok) {
            ts_image_free(&img);
            free(info.icc);
        }
    }
    /* a JPEG with the profile: its decoded samples (libjpeg directly) through the matrix reference */
    {
        write_jpeg_with(P("adobe.jpg"), W, H, 3, JCS_RGB, d, 95, -1, adobe, n);
        struct jpeg_error_mgr e;
        struct jpeg_decompress_struct dc;
        dc.err = jpeg_std_error(&e);
        jpeg_create_decompress(&dc);
        FILE *f = fopen(P("adobe.jpg"), "rb");
        jpeg_stdio_src(&dc, f);
        jpeg_read_header(&dc, TRUE);
        jpeg_start_decompress(&dc);
        unsigned char *raw = malloc((size_t)W * H * 3);
        while (dc.output_scanline < dc.output_height) {
            JSAMPROW r = raw + (size_t)dc.output_scanline * W * 3;
            jpeg_read_scanlines(&dc, &r, 1);
        }
        jpeg_finish_decompress(&dc);
        jpeg_destroy_decompress(&dc);
        fclose(f);
        ts_image img;
        int ok = ts_image_read(P("adobe.jpg"), 0, &img, &err) == 0;
        double worst = 0;
        for (int y = 0; ok && y < H; y++)
            for (int x = 0; x < W; x++) {
                const unsigned char *q = raw + ((size_t)y * W + x) * 3;
                double lin[3];
                for (int k = 0; k < 3; k++) lin[k] = pow(q[k] / 255.0, ADOBE_GAMMA);
                for (int k = 0; k < 3; k++)
                    worst = fmax(worst, fabs(px(&img, k, x, y) - srgb_encode(m[k][0] * lin[0] + m[k][1] * lin[1] +
                                                                             m[k][2] * lin[2])));
            }
        TS_EXPECT(ok && worst < 1.0 / 255, "adobe.jpg: Adobe RGB read as sRGB, within 1/255 of the matrix reference (%.2g)",
                  worst);
        if (ok) ts_image_free(&img);
        free(raw);
    }
    /* a CMYK JPEG with a CMYK profile (a print shop's): through the profile; this one encodes the
     * plain formula, so the formula comes back within the table's interpolation */
    {
        cmsUInt32Number cn = 0;
        unsigned char *cp = naive_cmyk_profile(&cn), *ink = malloc((size_t)W * H * 4);
        for (int i = 0; i < W * H * 4; i++) ink[i] = (unsigned char)(30 + (i * 29) % 200);
        write_jpeg_with(P("cmyk_icc.jpg"), W, H, 4, JCS_CMYK, ink, 100, 1, cp, cn);
        write_jpeg_with(P("cmyk_plain.jpg"), W, H, 4, JCS_CMYK, ink, 100, 1, NULL, 0);
        ts_image a2, b2;
        ts_image_info info;
        ts_image_read_opts ro = {0};
        int ok = ts_image_read_with(P("cmyk_icc.jpg"), &ro, &a2, &info, &err) == 0 && info.profile == 1 &&
                 ts_image_read(P("cmyk_plain.jpg"), 0, &b2, &err) == 0;
        double worst = ok ? max_diff(&a2, &b2) : 1;
        TS_EXPECT(ok && worst < 3.0 / 255,
                  "a CMYK JPEG read through its CMYK profile (profile %d %s; worst %.2g against the formula)",
                  info.profile, info.profile_note, worst);
        if (ok) ts_image_free(&a2), ts_image_free(&b2);
        free(cp);
        free(ink);
    }
    /* outputs carry the sRGB profile, as a second decoder (the libraries themselves) sees */
    ts_image a;
    ts_image_alloc(&a, W, H);
    fill_smooth(&a);
    char desc[256];
    TS_EXPECT(ts_image_write(P("out.png"), &a, NULL, &err) == 0 && ts_image_write(P("out.tif"), &a, NULL, &err) == 0 &&
                  ts_image_write(P("out.jpg"), &a, NULL, &err) == 0,
              "outputs written: %s", err.msg);
    {
        FILE *f = fopen(P("out.png"), "rb");
        png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
        png_infop info = png_create_info_struct(png);
        png_init_io(png, f);
        png_read_info(png, info);
        png_charp name;
        int comp;
        png_bytep prof = NULL;
        png_uint_32 plen = 0;
        int got = png_get_iCCP(png, info, &name, &comp, &prof, &plen) != 0;
        if (got) profile_description(prof, plen, desc, sizeof desc);
        TS_EXPECT(got && strstr(desc, "sRGB"), "a PNG output carries an sRGB profile (\"%s\")", got ? desc : "");
        png_destroy_read_struct(&png, &info, NULL);
        fclose(f);
        TIFF *t = TIFFOpen(P("out.tif"), "r");
        uint32_t tl = 0;
        void *tp = NULL;
        got = TIFFGetField(t, TIFFTAG_ICCPROFILE, &tl, &tp) && tp;
        if (got) profile_description(tp, tl, desc, sizeof desc);
        TS_EXPECT(got && strstr(desc, "sRGB"), "a TIFF output carries an sRGB profile (\"%s\")", got ? desc : "");
        TIFFClose(t);
        struct jpeg_decompress_struct c;
        struct jpeg_error_mgr e;
        c.err = jpeg_std_error(&e);
        jpeg_create_decompress(&c);
        f = fopen(P("out.jpg"), "rb");
        jpeg_stdio_src(&c, f);
        jpeg_save_markers(&c, JPEG_APP0 + 2, 0xFFFF);
        jpeg_read_header(&c, TRUE);
        JOCTET *jp = NULL;
        unsigned int jl = 0;
        got = jpeg_read_icc_profile(&c, &jp, &jl) && jp;
        if (got) profile_description(jp, jl, desc, sizeof desc);
        TS_EXPECT(got && strstr(desc, "sRGB"), "a JPEG output carries an sRGB profile (\"%s\")", got ? desc : "");
        free(jp);
        jpeg_destroy_decompress(&c);
        fclose(f);
    }
    /* our own sRGB outputs read back unchanged (no conversion through sRGB) */
    ts_image b;
    TS_EXPECT(ts_image_read(P("out.tif"), 0, &b, &err) == 0 && max_diff(&a, &b) < 0.5 / 255 + 1e-6,
              "an sRGB-tagged output reads back as written");
    ts_image_free(&b);
    /* into the content's profile and back (--keep-profile's path) */
    ts_image c2;
    ts_image_alloc(&c2, W, H);
    memcpy(c2.data, a.data, sizeof(float) * 3 * W * H);
    char why[160];
    TS_EXPECT(ts_image_from_srgb(&c2, adobe, n, why, sizeof why) == 0, "sRGB into Adobe RGB: %s", why);
    ts_image_write_opts wo = {.bits = 16, .icc = adobe, .icc_len = n};
    TS_EXPECT(ts_image_write(P("kept.tif"), &c2, &wo, &err) == 0 && ts_image_read(P("kept.tif"), 0, &b, &err) == 0 &&
                  max_diff(&a, &b) < 2e-3,
              "written in Adobe RGB with its profile, read back as the sRGB it came from (%.2g)", max_diff(&a, &b));
    ts_image_free(&b);
    ts_image_free(&c2);
    /* an unreadable profile is not an error: a note, the pixels as sRGB */
    unsigned char junk[200];
    memset(junk, 0x5a, sizeof junk);
    {
        write_tiff_rgb8(P("junk.tif"), W, H, d, 0, junk, (uint32_t)sizeof junk);
        ts_image_info info;
        ts_image_read_opts ro = {0};
        TS_EXPECT(ts_image_read_with(P("junk.tif"), &ro, &b, &info, &err) == 0 && info.profile == -1 &&
                      info.profile_note[0] && px(&b, 0, 1, 0) == d[3] / 255.0f,
                  "an unreadable profile: read as sRGB with a note (\"%s\")", info.profile_note);
        ts_image_free(&b);
    }
    ts_image_free(&a);
    free(adobe);
#else
    printf("# colour profiles: this build has no lcms2; the fallback is checked\n");
    /* a profile is not used, with a note; a PNG output says sRGB with its sRGB chunk */
    unsigned char junk[200];
    memset(junk, 0x5a, sizeof junk);
    write_tiff_rgb8(P("prof.tif"), W, H, d, 0, junk, (uint32_t)sizeof junk);
    ts_image a;
    ts_image_info info;
    ts_image_read_opts ro = {0};
    TS_EXPECT(ts_image_read_with(P("prof.tif"), &ro, &a, &info, &err) == 0 && info.profile == -1 &&
                  strstr(info.profile_note, "lcms") && px(&a, 0, 1, 0) == d[3] / 255.0f,
              "without lcms2 a profile is not used, with a note (\"%s\")", info.profile_note);
    TS_EXPECT(ts_image_write(P("out.png"), &a, NULL, &err) == 0, "png written");
    FILE *f = fopen(P("out.png"), "rb");
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, NULL, NULL, NULL);
    png_infop pi = png_create_info_struct(png);
    png_init_io(png, f);
    png_read_info(png, pi);
    int intent = -1;
    TS_EXPECT(png_get_sRGB(png, pi, &intent) != 0, "without lcms2 a PNG output still says sRGB (sRGB chunk)");
    png_destroy_read_struct(&png, &pi, NULL);
    fclose(f);
    ts_image_free(&a);
#endif
    free(d);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ts-test-image-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_names();
    test_round_trips();
    test_png_variants();
    test_jpeg_variants();
    test_tiff_variants();
    test_bad_inputs();
    test_writes();
    test_resize();
    test_orientation();
    test_profiles();
    remove_tree(g_dir);
    return ts_test_summary();
}
