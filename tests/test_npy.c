/* test_npy.c - .npy write/read round trips, hand-written headers, refusals. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/npy.h"
#include "test.h"

static char g_dir[64];

static const char *P(const char *name) {
    static char buf[8][256];
    static int k;
    k = (k + 1) % 8;
    snprintf(buf[k], sizeof buf[k], "%s/%s", g_dir, name);
    return buf[k];
}

static void write_bytes(const char *path, const void *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (n) fwrite(data, 1, n, f);
    fclose(f);
}

static unsigned char *read_bytes(const char *path, size_t *n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        *n = 0;
        return NULL;
    }
    fseek(f, 0, SEEK_END);
    *n = (size_t)ftell(f);
    rewind(f);
    unsigned char *b = malloc(*n ? *n : 1);
    if (fread(b, 1, *n, f) != *n) *n = 0;
    fclose(f);
    return b;
}

/* A .npy file with the given header dict (padded to 64 bytes, version 1.0 or 2.0) and raw data. */
static void write_npy_raw(const char *path, int version, const char *dict, const void *data, size_t n) {
    size_t pre = version == 1 ? 10 : 12, len = strlen(dict);
    size_t hlen = len + 1 + (64 - (pre + len + 1) % 64) % 64;
    unsigned char *b = calloc(pre + hlen + n + 1, 1);
    memcpy(b, "\x93NUMPY", 6);
    b[6] = (unsigned char)version;
    b[7] = 0;
    b[8] = (unsigned char)hlen;
    b[9] = (unsigned char)(hlen >> 8);
    memcpy(b + pre, dict, len);
    memset(b + pre + len, ' ', hlen - len - 1);
    b[pre + hlen - 1] = '\n';
    if (n) memcpy(b + pre + hlen, data, n);
    write_bytes(path, b, pre + hlen + n);
    free(b);
}

static void expect_bad(const char *path, const char *what) {
    float *d = (float *)&d;
    int ndim = 99;
    int64_t shape[8];
    ts_err err = {{0}};
    int rc = ts_npy_read(path, &d, &ndim, shape, &err);
    if (getenv("TS_TEST_VERBOSE")) printf("  (expected) %s\n", err.msg);
    TS_EXPECT(rc == -1, "%s: read should fail", path);
    TS_EXPECT(strstr(err.msg, path) != NULL, "%s: message names the file: '%s'", path, err.msg);
    TS_EXPECT(!what || strstr(err.msg, what) != NULL, "%s: message should say '%s': '%s'", path, what, err.msg);
    TS_EXPECT(d == NULL, "%s: no data on failure", path);
    if (rc == 0) free(d);
}

static int tmp_leftovers(void) {
    DIR *d = opendir(g_dir);
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void round_trip(const char *name, int ndim, const int64_t *shape, const char *shape_text) {
    int64_t count = 1;
    for (int i = 0; i < ndim; i++) count *= shape[i];
    float *a = malloc(sizeof(float) * (count ? count : 1));
    for (int64_t i = 0; i < count; i++) a[i] = (float)(i * 0.37 - 5.0);
    ts_err err;
    TS_EXPECT(ts_npy_write(P(name), a, ndim, shape, &err) == 0, "%s: write: %s", name, err.msg);

    /* Header layout: version 1.0, total header a multiple of 64, ends in '\n', numpy's dict text. */
    size_t n;
    unsigned char *b = read_bytes(P(name), &n);
    size_t hlen = b ? (size_t)(b[8] | b[9] << 8) : 0;
    TS_EXPECT(b && n >= 10 && !memcmp(b, "\x93NUMPY\x01\x00", 8), "%s: magic and version", name);
    TS_EXPECT(b && (10 + hlen) % 64 == 0 && b[10 + hlen - 1] == '\n', "%s: header padded to 64", name);
    TS_EXPECT(b && n == 10 + hlen + (size_t)count * 4, "%s: file size", name);
    char expect[200];
    snprintf(expect, sizeof expect, "{'descr': '<f4', 'fortran_order': False, 'shape': %s, }", shape_text);
    TS_EXPECT(b && !memcmp(b + 10, expect, strlen(expect)), "%s: header dict '%.*s'", name, (int)strlen(expect),
              b ? (const char *)b + 10 : "");
    free(b);

    float *d = NULL;
    int nd = -1;
    int64_t sh[8];
    TS_EXPECT(ts_npy_read(P(name), &d, &nd, sh, &err) == 0, "%s: read: %s", name, err.msg);
    int same = nd == ndim;
    for (int i = 0; same && i < ndim; i++) same = sh[i] == shape[i];
    TS_EXPECT(same, "%s: shape read back", name);
    TS_EXPECT(d && (count == 0 || !memcmp(a, d, sizeof(float) * count)), "%s: data read back exactly", name);
    free(d);
    free(a);
}

int main(void) {
    snprintf(g_dir, sizeof g_dir, "/tmp/ts-test-npy-XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    int64_t s357[3] = {3, 5, 7}, s10[1] = {10}, s04[2] = {0, 4};
    round_trip("a.npy", 3, s357, "(3, 5, 7)");
    round_trip("b.npy", 1, s10, "(10,)");
    round_trip("c.npy", 0, s10, "()");
    round_trip("d.npy", 2, s04, "(0, 4)");

    /* '<f8' written by hand, converted to float */
    double f8[6] = {0.5, -1.25, 3.0, 1e-3, 2.5e10, -0.0};
    write_npy_raw(P("f8.npy"), 1, "{'descr': '<f8', 'fortran_order': False, 'shape': (2, 3), }", f8, sizeof f8);
    float *d = NULL;
    int nd;
    int64_t sh[8];
    ts_err err;
    TS_EXPECT(ts_npy_read(P("f8.npy"), &d, &nd, sh, &err) == 0, "f8: %s", err.msg);
    if (d) {
        int ok = nd == 2 && sh[0] == 2 && sh[1] == 3;
        for (int i = 0; i < 6; i++) ok = ok && d[i] == (float)f8[i];
        TS_EXPECT(ok, "f8 converted");
        free(d);
    }
    /* Other spellings: double quotes, other key order, no trailing comma, version 2.0 */
    float f4[4] = {1, 2, 3, 4};
    write_npy_raw(P("v2.npy"), 2, "{\"shape\": ( 4 , ), \"fortran_order\":False,\"descr\":\"<f4\"}", f4, sizeof f4);
    TS_EXPECT(ts_npy_read(P("v2.npy"), &d, &nd, sh, &err) == 0, "v2: %s", err.msg);
    if (d) {
        TS_EXPECT(nd == 1 && sh[0] == 4 && d[3] == 4.0f, "v2 values");
        free(d);
    }

    /* Refusals */
    expect_bad(P("missing.npy"), "No such file");
    write_bytes(P("magic.npy"), "\x93NUMPX\x01\x00\x10\x00{}              \n", 26);
    expect_bad(P("magic.npy"), "magic");
    write_bytes(P("empty.npy"), "", 0);
    expect_bad(P("empty.npy"), NULL);
    write_npy_raw(P("trunc.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3, 5, 7), }", f4, sizeof f4);
    expect_bad(P("trunc.npy"), "truncated");
    write_npy_raw(P("extra.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (3,), }", f4, sizeof f4);
    expect_bad(P("extra.npy"), "mismatch");
    write_npy_raw(P("be.npy"), 1, "{'descr': '>f4', 'fortran_order': False, 'shape': (4,), }", f4, sizeof f4);
    expect_bad(P("be.npy"), "big-endian");
    write_npy_raw(P("fortran.npy"), 1, "{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", f4, sizeof f4);
    expect_bad(P("fortran.npy"), "Fortran");
    write_npy_raw(P("int.npy"), 1, "{'descr': '<i4', 'fortran_order': False, 'shape': (4,), }", f4, sizeof f4);
    expect_bad(P("int.npy"), "'<i4' is not supported");
    write_npy_raw(P("dims.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (1,1,1,1,1,1,1,1,4), }", f4,
                  sizeof f4);
    expect_bad(P("dims.npy"), "more than 8");
    write_npy_raw(P("nodict.npy"), 1, "'descr': '<f4'", f4, sizeof f4);
    expect_bad(P("nodict.npy"), "header");
    write_npy_raw(P("nokey.npy"), 1, "{'descr': '<f4', 'shape': (4,), }", f4, sizeof f4);
    expect_bad(P("nokey.npy"), "fortran_order");
    write_npy_raw(P("badshape.npy"), 1, "{'descr': '<f4', 'fortran_order': False, 'shape': (4, x), }", f4, sizeof f4);
    expect_bad(P("badshape.npy"), "shape");
    write_npy_raw(P("huge.npy"), 1,
                  "{'descr': '<f4', 'fortran_order': False, 'shape': (100000000000, 100000000000), }", f4,
                  sizeof f4);
    expect_bad(P("huge.npy"), NULL);
    size_t n;
    unsigned char *b = read_bytes(P("a.npy"), &n);
    write_bytes(P("hdrcut.npy"), b, 40);
    expect_bad(P("hdrcut.npy"), "header");
    free(b);

    /* Unwritable place: -1, nothing left */
    const char *nodir = P("no/dir/x.npy");
    TS_EXPECT(ts_npy_write(nodir, f4, 1, s10, &err) == -1 && strstr(err.msg, nodir), "write to a missing dir");
    TS_EXPECT(tmp_leftovers() == 0, "no temporary left");
    int64_t neg[1] = {-1};
    TS_EXPECT(ts_npy_write(P("neg.npy"), f4, 1, neg, &err) == -1 && access(P("neg.npy"), F_OK) != 0, "negative shape refused");

    /* clean up */
    DIR *dir = opendir(g_dir);
    struct dirent *e;
    while ((e = readdir(dir)))
        if (e->d_name[0] != '.') unlink(P(e->d_name));
    closedir(dir);
    rmdir(g_dir);
    return ts_test_summary();
}
