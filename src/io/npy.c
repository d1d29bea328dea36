/* npy.c - float32 NumPy .npy files: write version 1.0 '<f4' C order; read versions 1-3, '<f4' or '<f8'.
 * The header dict is parsed as Python literal syntax: {'descr': '<f4', 'fortran_order': False,
 * 'shape': (3, 5, 7), } with either quote style, any spacing and an optional trailing comma. */
#include "tessera/npy.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "image_formats.h"

#define NPY_MAX_DIMS 8
#define NPY_MAX_HEADER (1 << 20)

static int host_le(void) {
    const uint16_t one = 1;
    unsigned char b;
    memcpy(&b, &one, 1);
    return b == 1;
}

static void swap_bytes(unsigned char *p, size_t n, size_t size) {
    for (size_t i = 0; i < n; i++, p += size)
        for (size_t a = 0, b = size - 1; a < b; a++, b--) {
            unsigned char t = p[a];
            p[a] = p[b];
            p[b] = t;
        }
}

/* "(3, 5, 7)" or "(10,)" into buf. */
static void format_shape(char *buf, size_t cap, int ndim, const int64_t *shape) {
    size_t n = (size_t)snprintf(buf, cap, "(");
    for (int i = 0; i < ndim && n < cap; i++)
        n += (size_t)snprintf(buf + n, cap - n, "%s%" PRId64, i ? ", " : "", shape[i]);
    if (n < cap) snprintf(buf + n, cap - n, ndim == 1 ? ",)" : ")");
}

/* Element count of a shape; -1 when a dimension is negative or the count overflows. */
static int64_t shape_count(int ndim, const int64_t *shape) {
    int64_t n = 1;
    for (int i = 0; i < ndim; i++) {
        if (shape[i] < 0) return -1;
        if (shape[i] && n > INT64_MAX / shape[i]) return -1;
        n *= shape[i];
    }
    return n;
}

int ts_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, ts_err *err) {
    if (ndim < 0 || ndim > NPY_MAX_DIMS)
        return ts_fail(err, "%s: cannot write a %d-dimensional array (at most %d)", path, ndim, NPY_MAX_DIMS);
    int64_t count = shape_count(ndim, shape);
    if (count < 0 || (uint64_t)count > SIZE_MAX / sizeof(float))
        return ts_fail(err, "%s: bad array shape", path);
    if (count > 0 && !data) return ts_fail(err, "%s: no data to write", path);

    char shp[256], dict[400];
    format_shape(shp, sizeof shp, ndim, shape);
    int len = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shp);
    size_t total = 10 + (size_t)len + 1; /* magic+version+length, dict, '\n' */
    size_t pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)len + pad + 1;
    unsigned char *head = ts_malloc(10 + hlen);
    memcpy(head, "\x93NUMPY\x01\x00", 8);
    head[8] = (unsigned char)(hlen & 0xFF);
    head[9] = (unsigned char)(hlen >> 8);
    memcpy(head + 10, dict, (size_t)len);
    memset(head + 10 + len, ' ', pad);
    head[10 + hlen - 1] = '\n';

    size_t tlen = strlen(path) + 32;
    char *tmp = ts_malloc(tlen);
    snprintf(tmp, tlen, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        int e = errno;
        free(head);
        ts_fail(err, "%s: cannot create %s: %s", path, tmp, strerror(e));
        free(tmp);
        return -1;
    }
    int ok = fwrite(head, 1, 10 + hlen, f) == 10 + hlen;
    if (host_le()) {
        if (ok && count > 0) ok = fwrite(data, sizeof(float), (size_t)count, f) == (size_t)count;
    } else {
        float chunk[1024];
        for (size_t i = 0; ok && i < (size_t)count; i += 1024) {
            size_t n = (size_t)count - i < 1024 ? (size_t)count - i : 1024;
            memcpy(chunk, data + i, n * sizeof(float));
            swap_bytes((unsigned char *)chunk, n, sizeof(float));
            ok = fwrite(chunk, sizeof(float), n, f) == n;
        }
    }
    if (fflush(f) != 0) ok = 0;
    int e = errno;
    if (fclose(f) != 0 && ok) {
        ok = 0;
        e = errno;
    }
    if (ok && rename(tmp, path) != 0) {
        ok = 0;
        e = errno;
    }
    if (!ok) unlink(tmp);
    free(head);
    free(tmp);
    if (!ok) return ts_fail(err, "%s: cannot write: %s", path, strerror(e));
    return 0;
}

/* ---- reading ---- */

typedef struct {
    int ndim;
    int64_t shape[NPY_MAX_DIMS];
    int itemsize; /* 4 ('<f4') or 8 ('<f8') */
    int64_t count;
} npy_info;

typedef struct {
    const char *p, *end;
} cursor;

static void skip_ws(cursor *c) {
    while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

static int take(cursor *c, char ch) {
    skip_ws(c);
    if (c->p < c->end && *c->p == ch) {
        c->p++;
        return 1;
    }
    return 0;
}

/* A quoted string ('...' or "...") into buf; 0 on error. */
static int parse_str(cursor *c, char *buf, size_t cap) {
    skip_ws(c);
    if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
    char q = *c->p++;
    size_t n = 0;
    while (c->p < c->end && *c->p != q) {
        if (n + 1 >= cap) return 0;
        buf[n++] = *c->p++;
    }
    if (c->p >= c->end) return 0;
    c->p++;
    buf[n] = '\0';
    return 1;
}

static int parse_word(cursor *c, const char *w) {
    skip_ws(c);
    size_t n = strlen(w);
    if ((size_t)(c->end - c->p) < n || memcmp(c->p, w, n) != 0) return 0;
    c->p += n;
    return 1;
}

/* "(3, 5, 7)", "(10,)", "()"; 0 on error, -2 for too many dimensions. */
static int parse_shape(cursor *c, npy_info *info) {
    if (!take(c, '(')) return 0;
    info->ndim = 0;
    if (take(c, ')')) return 1;
    for (;;) {
        skip_ws(c);
        if (c->p >= c->end || *c->p < '0' || *c->p > '9') return 0;
        int64_t v = 0;
        while (c->p < c->end && *c->p >= '0' && *c->p <= '9') {
            if (v > (INT64_MAX - 9) / 10) return 0;
            v = v * 10 + (*c->p++ - '0');
        }
        if (c->p < c->end && *c->p == 'L') c->p++; /* Python 2 long */
        if (info->ndim == NPY_MAX_DIMS) return -2;
        info->shape[info->ndim++] = v;
        if (take(c, ')')) return 1;
        if (!take(c, ',')) return 0;
        if (take(c, ')')) return 1;
    }
}

static int parse_header(const char *path, const char *h, size_t n, npy_info *info, ts_err *err) {
    cursor c = {h, h + n};
    char key[64], descr[64] = "";
    int have_descr = 0, have_order = 0, have_shape = 0, fortran = 0;
    if (!take(&c, '{')) return ts_fail(err, "%s: bad .npy header (no dict)", path);
    while (!take(&c, '}')) {
        if (!parse_str(&c, key, sizeof key) || !take(&c, ':'))
            return ts_fail(err, "%s: bad .npy header (cannot parse the dict)", path);
        if (!strcmp(key, "descr")) {
            if (!parse_str(&c, descr, sizeof descr))
                return ts_fail(err, "%s: bad .npy header (descr is not a simple type string)", path);
            have_descr = 1;
        } else if (!strcmp(key, "fortran_order")) {
            if (parse_word(&c, "True")) fortran = 1;
            else if (parse_word(&c, "False")) fortran = 0;
            else return ts_fail(err, "%s: bad .npy header (fortran_order is not True or False)", path);
            have_order = 1;
        } else if (!strcmp(key, "shape")) {
            int r = parse_shape(&c, info);
            if (r == -2) return ts_fail(err, "%s: .npy array has more than %d dimensions", path, NPY_MAX_DIMS);
            if (!r) return ts_fail(err, "%s: bad .npy header (cannot parse the shape)", path);
            have_shape = 1;
        } else {
            return ts_fail(err, "%s: bad .npy header (unexpected key '%s')", path, key);
        }
        if (!take(&c, ',')) {
            if (!take(&c, '}')) return ts_fail(err, "%s: bad .npy header (cannot parse the dict)", path);
            break;
        }
    }
    if (!have_descr || !have_order || !have_shape)
        return ts_fail(err, "%s: bad .npy header (needs descr, fortran_order and shape)", path);
    if (fortran) return ts_fail(err, "%s: .npy array is in Fortran order; only C order is supported", path);
    if (!strcmp(descr, "<f4")) info->itemsize = 4;
    else if (!strcmp(descr, "<f8")) info->itemsize = 8;
    else if (descr[0] == '>')
        return ts_fail(err, "%s: .npy array is big-endian ('%s'); only little-endian '<f4'/'<f8' is supported",
                       path, descr);
    else
        return ts_fail(err, "%s: .npy dtype '%s' is not supported (need '<f4' or '<f8')", path, descr);
    info->count = shape_count(info->ndim, info->shape);
    if (info->count < 0 || (uint64_t)info->count > SIZE_MAX / 8)
        return ts_fail(err, "%s: .npy shape is too large", path);
    return 0;
}

/* Parses the header of a stream of `size` bytes open at its start and checks the data size against it;
 * f is left at the data. The caller closes f. */
static int read_npy_header(const char *path, FILE *f, uint64_t size, npy_info *info, ts_err *err) {
    if (size == 0) return ts_fail(err, "%s: file is empty", path);
    unsigned char pre[12];
    size_t got = fread(pre, 1, 10, f);
    if (got < 10 || memcmp(pre, "\x93NUMPY", 6) != 0) return ts_fail(err, "%s: not a .npy file (bad magic)", path);
    int major = pre[6];
    size_t hlen, off;
    if (major == 1) {
        hlen = pre[8] | (size_t)pre[9] << 8;
        off = 10;
    } else if (major == 2 || major == 3) {
        if (fread(pre + 10, 1, 2, f) != 2) return ts_fail(err, "%s: truncated .npy header", path);
        hlen = pre[8] | (size_t)pre[9] << 8 | (size_t)pre[10] << 16 | (size_t)pre[11] << 24;
        off = 12;
    } else {
        return ts_fail(err, "%s: .npy format version %d is not supported", path, major);
    }
    if (hlen > NPY_MAX_HEADER || off + hlen > size) return ts_fail(err, "%s: truncated or bad .npy header", path);
    char *h = ts_malloc(hlen + 1);
    if (fread(h, 1, hlen, f) != hlen) {
        free(h);
        return ts_fail(err, "%s: truncated .npy header", path);
    }
    h[hlen] = '\0';
    int rc = parse_header(path, h, hlen, info, err);
    free(h);
    if (rc != 0) return -1;
    uint64_t need = (uint64_t)info->count * info->itemsize;
    uint64_t have = size - off - hlen;
    if (have != need) {
        char shp[256];
        format_shape(shp, sizeof shp, info->ndim, info->shape);
        return ts_fail(err, "%s: %s .npy data: shape %s needs %" PRIu64 " bytes, the file holds %" PRIu64, path,
                       have < need ? "truncated" : "size mismatch in", shp, need, have);
    }
    return 0;
}

/* Opens path for reading if it is a regular file; *size gets its length. */
static FILE *open_regular(const char *path, uint64_t *size, ts_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ts_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        ts_fail(err, "%s: not a regular file", path);
        return NULL;
    }
    *size = (uint64_t)st.st_size;
    return f;
}

/* Opens path, parses the header and checks the data size against the file; *fp is left at the data. */
static int open_npy(const char *path, FILE **fp, npy_info *info, ts_err *err) {
    uint64_t size;
    FILE *f = open_regular(path, &size, err);
    if (!f) return -1;
    if (read_npy_header(path, f, size, info, err) != 0) {
        fclose(f);
        return -1;
    }
    *fp = f;
    return 0;
}

/* Reads info->count values into dst (converting f8). */
static int read_values(const char *path, FILE *f, const npy_info *info, float *dst, ts_err *err) {
    size_t n = (size_t)info->count;
    if (info->itemsize == 4) {
        if (fread(dst, sizeof(float), n, f) != n) return ts_fail(err, "%s: truncated .npy data", path);
        if (!host_le()) swap_bytes((unsigned char *)dst, n, 4);
        return 0;
    }
    double chunk[1024];
    for (size_t i = 0; i < n; i += 1024) {
        size_t m = n - i < 1024 ? n - i : 1024;
        if (fread(chunk, sizeof(double), m, f) != m) return ts_fail(err, "%s: truncated .npy data", path);
        if (!host_le()) swap_bytes((unsigned char *)chunk, m, 8);
        for (size_t k = 0; k < m; k++) dst[i + k] = (float)chunk[k];
    }
    return 0;
}

int ts_npy_read(const char *path, float **data, int *ndim, int64_t shape[8], ts_err *err) {
    *data = NULL;
    *ndim = 0;
    FILE *f = NULL;
    npy_info info;
    if (open_npy(path, &f, &info, err) != 0) return -1;
    float *d = ts_malloc((size_t)info.count * sizeof(float));
    if (read_values(path, f, &info, d, err) != 0) {
        free(d);
        fclose(f);
        return -1;
    }
    fclose(f);
    *data = d;
    *ndim = info.ndim;
    for (int i = 0; i < info.ndim; i++) shape[i] = info.shape[i];
    return 0;
}

/* The image in a stream of `size` bytes open at its start; the caller closes f. */
static int read_npy_image(const char *path, FILE *f, uint64_t size, size_t max_pixels, ts_image *out, ts_err *err) {
    npy_info info;
    if (read_npy_header(path, f, size, &info, err) != 0) return -1;
    if (info.ndim != 3 || info.shape[0] != 3) {
        char shp[256];
        format_shape(shp, sizeof shp, info.ndim, info.shape);
        return ts_fail(err, "%s: .npy image must have shape (3, H, W), not %s", path, shp);
    }
    if (ts_image_check_size(path, (uint64_t)info.shape[2], (uint64_t)info.shape[1], max_pixels, err) != 0) return -1;
    ts_image img;
    ts_image_alloc(&img, (int)info.shape[2], (int)info.shape[1]);
    if (read_values(path, f, &info, img.data, err) != 0) {
        ts_image_free(&img);
        return -1;
    }
    for (size_t i = 0; i < (size_t)info.count; i++) {
        if (!isfinite(img.data[i])) {
            ts_image_free(&img);
            return ts_fail(err, "%s: .npy image holds NaN or infinite values", path);
        }
    }
    *out = img;
    return 0;
}

int ts_npy_read_image(const char *path, size_t max_pixels, ts_image *out, ts_err *err) {
    uint64_t size;
    FILE *f = open_regular(path, &size, err);
    if (!f) return -1;
    int rc = read_npy_image(path, f, size, max_pixels, out, err);
    fclose(f);
    return rc;
}

int ts_npy_read_image_stream(const char *name, FILE *f, uint64_t size, size_t max_pixels, ts_image *out,
                             ts_err *err) {
    return read_npy_image(name, f, size, max_pixels, out, err);
}
