/* test_safetensors.c - the safetensors reader on good and bad files written byte by byte.
 *
 * With no arguments: runs the tests. With file arguments: loads each file and lists its tensors and
 * metadata (used by tests/t_weights_tools.sh to check converter output with the C reader). */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/safetensors.h"
#include "test.h"

static char g_dir[64];

/* ---- a small safetensors writer ---------------------------------------------------------------- */

typedef struct {
    uint8_t *p;
    size_t len;
} bytes;

/* 8-byte LE length of header, the header text, then data. */
static bytes make_file(const char *header, const void *data, size_t data_len) {
    size_t hl = strlen(header);
    bytes b = {malloc(8 + hl + data_len + 1), 8 + hl + data_len};
    for (int i = 0; i < 8; i++) b.p[i] = (uint8_t)((uint64_t)hl >> (8 * i));
    memcpy(b.p + 8, header, hl);
    if (data_len) memcpy(b.p + 8 + hl, data, data_len);
    return b;
}

static void set_len(bytes *b, uint64_t v) {
    for (int i = 0; i < 8; i++) b->p[i] = (uint8_t)(v >> (8 * i));
}

static const char *path_of(const char *name) {
    static char buf[256];
    snprintf(buf, sizeof buf, "%s/%s", g_dir, name);
    return buf;
}

static void write_bytes(const char *path, const void *p, size_t len) {
    FILE *f = fopen(path, "wb");
    if (!f || (len && fwrite(p, 1, len, f) != len)) {
        perror(path);
        exit(1);
    }
    fclose(f);
}

static void put_f32(uint8_t *p, float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    for (int i = 0; i < 4; i++) p[i] = (uint8_t)(u >> (8 * i));
}

static void put_u16(uint8_t *p, uint16_t v) {
    p[0] = (uint8_t)v;
    p[1] = (uint8_t)(v >> 8);
}

/* Independent references: value = mantissa x 2^exponent in double. */
static double ref_f16(uint16_t h) {
    int s = h >> 15, e = (h >> 10) & 0x1f, m = h & 0x3ff;
    double v = e == 0 ? ldexp(m, -24) : ldexp(1024 + m, e - 25);
    return s ? -v : v;
}

static double ref_bf16(uint16_t h) {
    int s = h >> 15, e = (h >> 7) & 0xff, m = h & 0x7f;
    double v = e == 0 ? ldexp(m, -133) : ldexp(128 + m, e - 134);
    return s ? -v : v;
}

/* ---- checks ------------------------------------------------------------------------------------- */

/* Writes the file, loads it and expects failure with the path and `want` in the message. */
static void expect_bad(const char *name, bytes b, const char *want) {
    const char *path = path_of(name);
    write_bytes(path, b.p, b.len);
    free(b.p);
    ts_safetensors st;
    ts_err err = {{0}};
    int rc = ts_safetensors_load(path, &st, &err);
    TS_EXPECT(rc == -1, "%s: load returned %d, want -1", name, rc);
    TS_EXPECT(strstr(err.msg, path) != NULL, "%s: message does not name the file: %s", name, err.msg);
    TS_EXPECT(strstr(err.msg, want) != NULL, "%s: message lacks '%s': %s", name, want, err.msg);
    TS_EXPECT(strchr(err.msg, '\n') == NULL, "%s: message is not one line", name);
    TS_EXPECT(st.ntensors == 0 && st.tensors == NULL && st.nmeta == 0 && st.meta_keys == NULL,
              "%s: output not left empty", name);
    if (rc == 0) ts_safetensors_free(&st);
}

static void expect_bad_header(const char *name, const char *header, size_t data_len, const char *want) {
    uint8_t *data = calloc(data_len ? data_len : 1, 1);
    expect_bad(name, make_file(header, data, data_len), want);
    free(data);
}

static bytes good_file(void) {
    /* a: F32 [2,3] at 0..24; h: F16 [8] at 24..40; b: BF16 [4] at 40..48; s: F32 [] at 48..52;
     * z: F32 [0,4] empty at 52 */
    static const char *header =
        "{\"__metadata__\":{\"preprocessing\":\"caffe\",\"arch\":\"test\"},"
        "\"a\":{\"dtype\":\"F32\",\"shape\":[2,3],\"data_offsets\":[0,24]},"
        "\"h\":{\"dtype\":\"F16\",\"shape\":[8],\"data_offsets\":[24,40]},"
        "\"b\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[40,48]},"
        "\"s\":{\"dtype\":\"F32\",\"shape\":[],\"data_offsets\":[48,52]},"
        "\"z\":{\"dtype\":\"F32\",\"shape\":[0,4],\"data_offsets\":[52,52]}}    ";
    uint8_t data[52];
    const float a[6] = {1.0f, -2.5f, 3.0e38f, 1.0e-40f, 0.1f, -0.0f};
    for (int i = 0; i < 6; i++) put_f32(data + 4 * i, a[i]);
    const uint16_t h[8] = {0x0000, 0x8000, 0x0001, 0x03ff, 0x0400, 0x3c00, 0xc000, 0x7bff};
    for (int i = 0; i < 8; i++) put_u16(data + 24 + 2 * i, h[i]);
    const uint16_t bf[4] = {0x3f80, 0xc040, 0x0001, 0x7f7f};
    for (int i = 0; i < 4; i++) put_u16(data + 40 + 2 * i, bf[i]);
    put_f32(data + 48, 42.0f);
    return make_file(header, data, sizeof data);
}

static void test_good(void) {
    bytes b = good_file();
    const char *path = path_of("good.safetensors");
    write_bytes(path, b.p, b.len);
    free(b.p);
    ts_safetensors st;
    ts_err err = {{0}};
    int rc = ts_safetensors_load(path, &st, &err);
    TS_EXPECT(rc == 0, "good file refused: %s", err.msg);
    if (rc != 0) return;
    TS_EXPECT(st.ntensors == 5, "ntensors %d", st.ntensors);

    const ts_st_tensor *a = ts_safetensors_find(&st, "a");
    TS_EXPECT(a && a->dtype == TS_DT_F32 && a->ndim == 2 && a->shape[0] == 2 && a->shape[1] == 3 &&
                  a->numel == 6,
              "tensor a header");
    if (a) {
        const float want[6] = {1.0f, -2.5f, 3.0e38f, 1.0e-40f, 0.1f, -0.0f};
        TS_EXPECT(memcmp(a->data, want, sizeof want) == 0, "F32 values differ");
    }
    const ts_st_tensor *h = ts_safetensors_find(&st, "h");
    TS_EXPECT(h && h->dtype == TS_DT_F16 && h->ndim == 1 && h->numel == 8, "tensor h header");
    if (h) {
        const double want[8] = {0.0, -0.0, ldexp(1, -24), ldexp(1023, -24), ldexp(1, -14), 1.0, -2.0,
                                65504.0};
        for (int i = 0; i < 8; i++)
            TS_EXPECT((double)h->data[i] == want[i], "F16 [%d] = %g, want %g", i, h->data[i], want[i]);
        TS_EXPECT(signbit(h->data[1]) && !signbit(h->data[0]), "F16 signed zero");
    }
    const ts_st_tensor *bt = ts_safetensors_find(&st, "b");
    TS_EXPECT(bt && bt->dtype == TS_DT_BF16 && bt->numel == 4, "tensor b header");
    if (bt) {
        const double want[4] = {1.0, -3.0, ldexp(1, -133), ldexp(255, 127 - 7)};
        for (int i = 0; i < 4; i++)
            TS_EXPECT((double)bt->data[i] == want[i], "BF16 [%d] = %g, want %g", i, bt->data[i],
                      want[i]);
    }
    const ts_st_tensor *s = ts_safetensors_find(&st, "s");
    TS_EXPECT(s && s->ndim == 0 && s->numel == 1 && s->data[0] == 42.0f, "scalar tensor");
    const ts_st_tensor *z = ts_safetensors_find(&st, "z");
    TS_EXPECT(z && z->ndim == 2 && z->numel == 0, "empty tensor");

    TS_EXPECT(ts_safetensors_find(&st, "nope") == NULL, "find of a missing name");
    TS_EXPECT(ts_safetensors_find(&st, "__metadata__") == NULL, "__metadata__ is not a tensor");
    const char *pre = ts_safetensors_meta(&st, "preprocessing");
    TS_EXPECT(pre && strcmp(pre, "caffe") == 0, "metadata preprocessing = %s", pre ? pre : "NULL");
    TS_EXPECT(st.nmeta == 2, "nmeta %d", st.nmeta);
    TS_EXPECT(ts_safetensors_meta(&st, "nope") == NULL, "meta of a missing key");
    ts_safetensors_free(&st);
    TS_EXPECT(st.ntensors == 0 && st.tensors == NULL, "free empties the struct");
    ts_safetensors_free(&st); /* twice is harmless */
}

/* Every finite F16 and BF16 bit pattern, against the independent references. */
static void test_all_halves(void) {
    size_t n16 = 0, nbf = 0;
    uint8_t *data = malloc(4 * 65536);
    for (uint32_t u = 0; u < 65536; u++)
        if (((u >> 10) & 0x1f) != 0x1f) put_u16(data + 2 * n16++, (uint16_t)u);
    for (uint32_t u = 0; u < 65536; u++)
        if (((u >> 7) & 0xff) != 0xff) put_u16(data + 2 * (n16 + nbf++), (uint16_t)u);
    char header[256];
    snprintf(header, sizeof header,
             "{\"f16\":{\"dtype\":\"F16\",\"shape\":[%zu],\"data_offsets\":[0,%zu]},"
             "\"bf16\":{\"dtype\":\"BF16\",\"shape\":[%zu],\"data_offsets\":[%zu,%zu]}}",
             n16, 2 * n16, nbf, 2 * n16, 2 * (n16 + nbf));
    bytes b = make_file(header, data, 2 * (n16 + nbf));
    ts_safetensors st;
    ts_err err = {{0}};
    int rc = ts_safetensors_parse(b.p, b.len, "halves", &st, &err);
    TS_EXPECT(rc == 0, "all-halves file refused: %s", err.msg);
    if (rc == 0) {
        const ts_st_tensor *t16 = ts_safetensors_find(&st, "f16");
        const ts_st_tensor *tbf = ts_safetensors_find(&st, "bf16");
        int bad16 = 0, badbf = 0;
        for (size_t i = 0; i < n16; i++) {
            uint16_t h = (uint16_t)(data[2 * i] | data[2 * i + 1] << 8);
            double r = ref_f16(h);
            if ((double)t16->data[i] != r || !signbit(t16->data[i]) != !signbit(r)) bad16++;
        }
        for (size_t i = 0; i < nbf; i++) {
            uint16_t h = (uint16_t)(data[2 * (n16 + i)] | data[2 * (n16 + i) + 1] << 8);
            double r = ref_bf16(h);
            if ((double)tbf->data[i] != r || !signbit(tbf->data[i]) != !signbit(r)) badbf++;
        }
        TS_EXPECT(n16 == 63488 && bad16 == 0, "F16: %d of %zu values differ", bad16, n16);
        TS_EXPECT(nbf == 65280 && badbf == 0, "BF16: %d of %zu values differ", badbf, nbf);
        ts_safetensors_free(&st);
    }
    free(b.p);
    free(data);
}

/* One non-finite value in a tensor of the given dtype. */
static void bad_value(const char *name, const char *dtype, int size, uint32_t bits, const char *want) {
    char header[160];
    snprintf(header, sizeof header,
             "{\"w\":{\"dtype\":\"%s\",\"shape\":[2],\"data_offsets\":[0,%d]}}", dtype, 2 * size);
    uint8_t data[8] = {0};
    for (int i = 0; i < size; i++) data[size + i] = (uint8_t)(bits >> (8 * i));
    expect_bad(name, make_file(header, data, (size_t)(2 * size)), want);
}

static void test_bad(void) {
    const char *t1 = "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}";
    bytes b;

    b = make_file(t1, "\0\0\0\0\0\0\0\0", 8);
    set_len(&b, b.len - 8 + 100);
    expect_bad("len_beyond.safetensors", b, "beyond the end of the file");

    b = make_file(t1, "\0\0\0\0\0\0\0\0", 8);
    set_len(&b, UINT64_MAX);
    expect_bad("len_huge.safetensors", b, "beyond the end of the file");

    b = make_file(t1, "\0\0\0\0\0\0\0\0", 8);
    set_len(&b, 0);
    expect_bad("len_zero.safetensors", b, "header length is 0");

    expect_bad_header("not_json.safetensors", "{\"w\": {\"dtype\" \"F32\"}}", 0, "not valid JSON");
    expect_bad_header("binary.safetensors", "\x01\x02\x03garbage", 0, "not valid JSON");
    expect_bad_header("array.safetensors", "[1,2,3]", 0, "not an object");
    expect_bad_header("string.safetensors", "\"hello\"", 0, "not an object");
    expect_bad_header("trailing.safetensors", "{} x", 0, "trailing bytes");
    expect_bad_header("entry_not_object.safetensors", "{\"w\":[1,2]}", 0, "not a JSON object");

    expect_bad_header("no_dtype.safetensors", "{\"w\":{\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "missing \"dtype\"");
    expect_bad_header("no_shape.safetensors", "{\"w\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", 8,
                      "missing \"shape\"");
    expect_bad_header("no_offsets.safetensors", "{\"w\":{\"dtype\":\"F32\",\"shape\":[2]}}", 8,
                      "missing \"data_offsets\"");
    expect_bad_header("dtype_number.safetensors",
                      "{\"w\":{\"dtype\":32,\"shape\":[2],\"data_offsets\":[0,8]}}", 8, "not a string");
    expect_bad_header("dtype_unknown.safetensors",
                      "{\"w\":{\"dtype\":\"Q7\",\"shape\":[2],\"data_offsets\":[0,8]}}", 8,
                      "unknown dtype 'Q7'");
    expect_bad_header("dtype_f64.safetensors",
                      "{\"w\":{\"dtype\":\"F64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                      "tensor 'w': dtype F64 is not supported");
    expect_bad_header("dtype_i64.safetensors",
                      "{\"w\":{\"dtype\":\"I64\",\"shape\":[1],\"data_offsets\":[0,8]}}", 8,
                      "dtype I64 is not supported");

    expect_bad_header("offsets_range.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]}}", 4,
                      "beyond the data region");
    expect_bad_header("offsets_range2.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,16]}}", 12,
                      "beyond the data region");
    expect_bad_header("offsets_reversed.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[8,0]}}", 8,
                      "begin 8 > end 0");
    expect_bad_header("offsets_three.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,4,8]}}", 8,
                      "array of two numbers");
    expect_bad_header("offsets_negative.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[-8,0]}}", 8,
                      "not non-negative integers");
    expect_bad_header("offsets_string.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[\"0\",8]}}", 8,
                      "not non-negative integers");
    expect_bad_header("overlap.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"v\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[4,12]}}",
                      12, "overlap");
    expect_bad_header("same_region.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2],\"data_offsets\":[0,8]},"
                      "\"v\":{\"dtype\":\"BF16\",\"shape\":[4],\"data_offsets\":[0,8]}}",
                      8, "overlap");
    expect_bad_header("byte_count.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[3],\"data_offsets\":[0,8]}}", 8,
                      "dtype F32 x shape needs 12");
    expect_bad_header("byte_count_f16.safetensors",
                      "{\"w\":{\"dtype\":\"F16\",\"shape\":[2,2],\"data_offsets\":[0,16]}}", 16,
                      "needs 8");
    expect_bad_header("shape_negative.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[-2],\"data_offsets\":[0,8]}}", 8,
                      "shape[0] is not a non-negative integer");
    expect_bad_header("shape_fraction.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[2,1.5],\"data_offsets\":[0,12]}}", 12,
                      "shape[1] is not a non-negative integer");
    expect_bad_header("shape_string.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[\"2\"],\"data_offsets\":[0,8]}}", 8,
                      "shape[0] is not a non-negative integer");
    expect_bad_header("shape_huge_number.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1e300],\"data_offsets\":[0,8]}}", 8,
                      "shape[0] is not a non-negative integer");
    expect_bad_header("shape_not_array.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":2,\"data_offsets\":[0,8]}}", 8,
                      "\"shape\" is not an array");
    expect_bad_header("shape_ndim.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1,1,1,1,1,1,1,1,2],\"data_offsets\":[0,8]}}",
                      8, "9 dimensions");
    expect_bad_header("shape_overflow.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[9007199254740992,9007199254740992,4],"
                      "\"data_offsets\":[0,8]}}",
                      8, "shape is too large");
    expect_bad_header("duplicate.safetensors",
                      "{\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[0,4]},"
                      "\"w\":{\"dtype\":\"F32\",\"shape\":[1],\"data_offsets\":[4,8]}}",
                      8, "'w' appears twice");
    expect_bad_header("meta_not_object.safetensors", "{\"__metadata__\":[\"caffe\"]}", 0,
                      "\"__metadata__\" is not a JSON object");
    expect_bad_header("meta_not_string.safetensors", "{\"__metadata__\":{\"preprocessing\":1}}", 0,
                      "entry 'preprocessing' is not a string");
    expect_bad_header("meta_duplicate.safetensors",
                      "{\"__metadata__\":{\"a\":\"1\",\"a\":\"2\"}}", 0, "appears twice in the __metadata__");
    expect_bad_header("meta_twice.safetensors", "{\"__metadata__\":{},\"__metadata__\":{}}", 0,
                      "appears twice");
    expect_bad_header("odd_name.safetensors",
                      "{\"w\\n\\u0001x\":{\"dtype\":\"Q\",\"shape\":[1],\"data_offsets\":[0,4]}}", 4,
                      "tensor 'w??x'");

    bad_value("nan_f32.safetensors", "F32", 4, 0x7fc00000u, "element 1 is NaN; weights must be finite");
    bad_value("inf_f32.safetensors", "F32", 4, 0xff800000u, "infinite; weights must be finite");
    bad_value("nan_f16.safetensors", "F16", 2, 0x7e00u, "tensor 'w': element 1 is NaN");
    bad_value("inf_f16.safetensors", "F16", 2, 0x7c00u, "element 1 is infinite");
    bad_value("nan_bf16.safetensors", "BF16", 2, 0x7fc1u, "element 1 is NaN");

    /* Truncations of a good file: inside the data, inside the header, inside the length. */
    bytes g = good_file();
    b = (bytes){malloc(g.len), g.len - 3};
    memcpy(b.p, g.p, g.len);
    expect_bad("truncated_data.safetensors", b, "beyond the data region");
    b = (bytes){malloc(g.len), 40};
    memcpy(b.p, g.p, g.len);
    expect_bad("truncated_header.safetensors", b, "beyond the end of the file");
    b = (bytes){malloc(g.len), 5};
    memcpy(b.p, g.p, g.len);
    expect_bad("truncated_length.safetensors", b, "too short");
    free(g.p);
    expect_bad("empty.safetensors", (bytes){malloc(1), 0}, "too short");

    /* Files that cannot be read. */
    ts_safetensors st;
    ts_err err = {{0}};
    const char *missing = path_of("missing.safetensors");
    TS_EXPECT(ts_safetensors_load(missing, &st, &err) == -1, "missing file accepted");
    TS_EXPECT(strstr(err.msg, missing) && strstr(err.msg, "cannot open"), "missing file: %s", err.msg);
    TS_EXPECT(st.ntensors == 0 && st.tensors == NULL, "missing file: output not empty");
    TS_EXPECT(ts_safetensors_load(g_dir, &st, &err) == -1 && strstr(err.msg, "not a regular file"),
              "directory: %s", err.msg);

    /* parse() names its source and handles tiny buffers. */
    TS_EXPECT(ts_safetensors_parse(NULL, 0, "mem.bin", &st, &err) == -1 && strstr(err.msg, "mem.bin"),
              "NULL buffer: %s", err.msg);
    TS_EXPECT(ts_safetensors_parse((const uint8_t *)"\x02\0\0\0\0\0\0\0{}", 10, "mem.bin", &st, &err) ==
                  0 && st.ntensors == 0,
              "empty object header: %s", err.msg);
    ts_safetensors_free(&st);
}

/* Mutations of the good file: every truncation and many random byte changes must either load or fail
 * with a message naming the source; never crash (run under valgrind or SANITIZE=1 to see leaks). */
static void test_mutations(void) {
    bytes g = good_file();
    uint8_t *m = malloc(g.len);
    int bad_msgs = 0, loaded = 0;
    unsigned seed = 12345;
    for (size_t cut = 0; cut <= g.len; cut++) {
        ts_safetensors st;
        ts_err err = {{0}};
        if (ts_safetensors_parse(g.p, cut, "mut", &st, &err) == 0) {
            loaded++;
            ts_safetensors_free(&st);
        } else if (strncmp(err.msg, "mut: ", 5) != 0) {
            bad_msgs++;
        }
    }
    TS_EXPECT(loaded == 1, "only the whole file loads among truncations (%d loaded)", loaded);
    for (int it = 0; it < 20000; it++) {
        memcpy(m, g.p, g.len);
        int nflip = 1 + (int)((seed = seed * 1103515245u + 12345u) >> 16) % 4;
        for (int k = 0; k < nflip; k++) {
            seed = seed * 1103515245u + 12345u;
            size_t pos = (seed >> 8) % g.len;
            seed = seed * 1103515245u + 12345u;
            static const char interesting[] = "{}[]\",:-.0123456789e \x00\xff";
            m[pos] = (seed >> 20) & 1 ? (uint8_t)(seed >> 8) : (uint8_t)interesting[(seed >> 9) % 24];
        }
        ts_safetensors st;
        ts_err err = {{0}};
        if (ts_safetensors_parse(m, g.len, "mut", &st, &err) == 0) {
            for (int i = 0; i < st.ntensors; i++)
                for (size_t j = 0; j < st.tensors[i].numel; j++)
                    if (!isfinite(st.tensors[i].data[j])) bad_msgs++;
            ts_safetensors_free(&st);
        } else if (strncmp(err.msg, "mut: ", 5) != 0 || strchr(err.msg, '\n')) {
            bad_msgs++;
        }
    }
    TS_EXPECT(bad_msgs == 0, "%d mutated inputs gave a malformed message or non-finite data", bad_msgs);
    free(m);
    free(g.p);
}

/* Removes the scratch directory (flat: files only). */
static void remove_dir(const char *dir) {
    DIR *d = opendir(dir);
    if (!d) return;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
        char p[512];
        snprintf(p, sizeof p, "%s/%s", dir, e->d_name);
        unlink(p);
    }
    closedir(d);
    if (rmdir(dir) != 0) printf("warning: could not remove %s\n", dir);
}

/* Tool mode: list each file's tensors and metadata. */
static int list_files(int argc, char **argv) {
    for (int i = 1; i < argc; i++) {
        ts_safetensors st;
        ts_err err = {{0}};
        int rc = ts_safetensors_load(argv[i], &st, &err);
        TS_EXPECT(rc == 0, "%s", err.msg);
        if (rc != 0) continue;
        static const char *dt[] = {"F32", "F16", "BF16"};
        for (int m = 0; m < st.nmeta; m++) printf("meta %s=%s\n", st.meta_keys[m], st.meta_values[m]);
        for (int t = 0; t < st.ntensors; t++) {
            const ts_st_tensor *x = &st.tensors[t];
            double sum = 0;
            for (size_t j = 0; j < x->numel; j++) sum += x->data[j];
            printf("tensor %s %s [", x->name, dt[x->dtype]);
            for (int d = 0; d < x->ndim; d++) printf(d ? ",%lld" : "%lld", (long long)x->shape[d]);
            printf("] sum=%.9g\n", sum);
        }
        ts_safetensors_free(&st);
    }
    return ts_test_summary();
}

int main(int argc, char **argv) {
    if (argc > 1) return list_files(argc, argv);
    snprintf(g_dir, sizeof g_dir, "%s", "/tmp/tessera-st.XXXXXX");
    if (!mkdtemp(g_dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_good();
    test_all_halves();
    test_bad();
    test_mutations();
    remove_dir(g_dir);
    return ts_test_summary();
}
