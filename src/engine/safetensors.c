/* safetensors.c - a validating safetensors reader (docs/DESIGN.md §2).
 *
 * The whole file is held in memory; the header is parsed with cJSON and every field is checked before
 * any tensor data is touched. Data are converted to float32; F16 and BF16 conversions are exact.
 * Every failure returns -1 with a one-line message that starts with the file name.
 */
#include "tessera/safetensors.h"

#include <cjson/cJSON.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define MAX_HEADER_BYTES 100000000ull /* 100 MB */
#define MAX_EXACT_INT 9007199254740992.0 /* 2^53 */
#define MAX_DIMS 8

/* ---- small helpers ---------------------------------------------------------------------------- */

/* Copies a name into buf for messages: at most 64 bytes, non-printable bytes as '?'. */
static const char *safe_name(const char *s, char *buf, size_t cap) {
    size_t n = 0;
    if (!s) s = "(null)";
    for (; *s && n + 4 < cap && n < 64; s++)
        buf[n++] = (*s >= 0x20 && *s < 0x7f) ? *s : '?';
    if (*s) {
        memcpy(buf + n, "...", 3);
        n += 3;
    }
    buf[n] = '\0';
    return buf;
}

/* A JSON number that is a non-negative integer no larger than 2^53. */
static int json_uint(const cJSON *item, uint64_t *out) {
    if (!cJSON_IsNumber(item)) return -1;
    double v = item->valuedouble;
    if (!isfinite(v) || v < 0.0 || v > MAX_EXACT_INT || floor(v) != v) return -1;
    *out = (uint64_t)v;
    return 0;
}

static uint64_t read_u64_le(const uint8_t *p) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
    return v;
}

static float bits_to_float(uint32_t bits) {
    float f;
    memcpy(&f, &bits, sizeof f);
    return f;
}

/* IEEE half -> float, exact for every input (subnormals, infinities, NaN payloads). */
static float half_to_float(uint16_t h) {
    uint32_t sign = (uint32_t)(h >> 15) << 31;
    uint32_t exp = (h >> 10) & 0x1f;
    uint32_t mant = h & 0x3ff;
    if (exp == 0) {
        float v = ldexpf((float)mant, -24); /* zero or subnormal: mant * 2^-24 */
        return sign ? -v : v;
    }
    if (exp == 31) return bits_to_float(sign | 0x7f800000u | (mant << 13));
    return bits_to_float(sign | ((exp - 15 + 127) << 23) | (mant << 13));
}

static size_t dtype_size(ts_dtype dt) { return dt == TS_DT_F32 ? 4 : 2; }

/* Supported dtypes return 0; known but unsupported ones return 1; anything else -1. */
static int parse_dtype(const char *s, ts_dtype *dt) {
    static const char *const known_unsupported[] = {
        "F64",     "I64",     "I32",     "I16",     "I8",      "U64",     "U32", "U16", "U8",
        "BOOL",    "F8_E4M3", "F8_E5M2", "F8_E8M0", "F6_E2M3", "F6_E3M2", "F4",  "C64", NULL};
    if (strcmp(s, "F32") == 0) *dt = TS_DT_F32;
    else if (strcmp(s, "F16") == 0) *dt = TS_DT_F16;
    else if (strcmp(s, "BF16") == 0) *dt = TS_DT_BF16;
    else {
        for (int i = 0; known_unsupported[i]; i++)
            if (strcmp(s, known_unsupported[i]) == 0) return 1;
        return -1;
    }
    return 0;
}

/* ---- validation of one tensor entry ------------------------------------------------------------ */

typedef struct {
    uint64_t begin, end;
    int index; /* into out->tensors */
} region;

static int cmp_region(const void *a, const void *b) {
    const region *x = a, *y = b;
    if (x->begin != y->begin) return x->begin < y->begin ? -1 : 1;
    if (x->end != y->end) return x->end < y->end ? -1 : 1;
    return 0;
}

static int cmp_str_ptr(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Checks one tensor entry and fills t (name, dtype, shape, numel) and r (its byte range). */
static int parse_entry(const cJSON *entry, uint64_t data_len, const char *src, ts_st_tensor *t,
                       region *r, ts_err *err) {
    char nb[80];
    const char *name = safe_name(entry->string, nb, sizeof nb);
    if (!cJSON_IsObject(entry))
        return ts_fail(err, "%s: tensor '%s': entry is not a JSON object", src, name);

    const cJSON *dtype = cJSON_GetObjectItemCaseSensitive(entry, "dtype");
    const cJSON *shape = cJSON_GetObjectItemCaseSensitive(entry, "shape");
    const cJSON *offs = cJSON_GetObjectItemCaseSensitive(entry, "data_offsets");
    if (!dtype) return ts_fail(err, "%s: tensor '%s': missing \"dtype\"", src, name);
    if (!shape) return ts_fail(err, "%s: tensor '%s': missing \"shape\"", src, name);
    if (!offs) return ts_fail(err, "%s: tensor '%s': missing \"data_offsets\"", src, name);

    if (!cJSON_IsString(dtype))
        return ts_fail(err, "%s: tensor '%s': \"dtype\" is not a string", src, name);
    char db[80];
    int rc = parse_dtype(dtype->valuestring, &t->dtype);
    if (rc == 1)
        return ts_fail(err, "%s: tensor '%s': dtype %s is not supported (Tessera reads F32, F16, BF16)",
                       src, name, safe_name(dtype->valuestring, db, sizeof db));
    if (rc < 0)
        return ts_fail(err, "%s: tensor '%s': unknown dtype '%s'", src, name,
                       safe_name(dtype->valuestring, db, sizeof db));

    if (!cJSON_IsArray(shape))
        return ts_fail(err, "%s: tensor '%s': \"shape\" is not an array", src, name);
    int ndim = cJSON_GetArraySize(shape);
    if (ndim > MAX_DIMS)
        return ts_fail(err, "%s: tensor '%s': %d dimensions (at most %d)", src, name, ndim, MAX_DIMS);
    uint64_t numel = 1;
    int d = 0;
    const cJSON *dim;
    cJSON_ArrayForEach(dim, shape) {
        uint64_t v;
        if (json_uint(dim, &v) != 0)
            return ts_fail(err, "%s: tensor '%s': shape[%d] is not a non-negative integer", src, name,
                           d);
        if (v != 0 && numel > (uint64_t)MAX_EXACT_INT / v)
            return ts_fail(err, "%s: tensor '%s': shape is too large", src, name);
        numel *= v;
        t->shape[d++] = (int64_t)v;
    }
    t->ndim = ndim;

    if (!cJSON_IsArray(offs) || cJSON_GetArraySize(offs) != 2)
        return ts_fail(err, "%s: tensor '%s': \"data_offsets\" is not an array of two numbers", src,
                       name);
    uint64_t begin, end;
    if (json_uint(cJSON_GetArrayItem(offs, 0), &begin) != 0 ||
        json_uint(cJSON_GetArrayItem(offs, 1), &end) != 0)
        return ts_fail(err, "%s: tensor '%s': data_offsets are not non-negative integers", src, name);
    if (begin > end)
        return ts_fail(err, "%s: tensor '%s': data_offsets begin %llu > end %llu", src, name,
                       (unsigned long long)begin, (unsigned long long)end);
    if (end > data_len)
        return ts_fail(err, "%s: tensor '%s': data_offsets end %llu is beyond the data region (%llu bytes)",
                       src, name, (unsigned long long)end, (unsigned long long)data_len);
    uint64_t want = numel * dtype_size(t->dtype); /* numel <= 2^53 and end <= data_len bound this */
    if (end - begin != want)
        return ts_fail(err, "%s: tensor '%s': %llu bytes in data_offsets, but dtype %s x shape needs %llu",
                       src, name, (unsigned long long)(end - begin), dtype->valuestring,
                       (unsigned long long)want);
    t->numel = (size_t)numel;
    r->begin = begin;
    r->end = end;
    return 0;
}

/* Converts one tensor's bytes to float32 and checks every value is finite. */
static int convert_tensor(const uint8_t *p, const char *src, ts_st_tensor *t, ts_err *err) {
    t->data = ts_malloc(t->numel * sizeof(float));
    for (size_t i = 0; i < t->numel; i++) {
        float v;
        if (t->dtype == TS_DT_F32) {
            const uint8_t *q = p + 4 * i;
            v = bits_to_float((uint32_t)q[0] | (uint32_t)q[1] << 8 | (uint32_t)q[2] << 16 |
                              (uint32_t)q[3] << 24);
        } else {
            uint16_t h = (uint16_t)(p[2 * i] | p[2 * i + 1] << 8);
            v = t->dtype == TS_DT_F16 ? half_to_float(h) : bits_to_float((uint32_t)h << 16);
        }
        if (!isfinite(v)) {
            char nb[80];
            return ts_fail(err, "%s: tensor '%s': element %zu is %s; weights must be finite", src,
                           safe_name(t->name, nb, sizeof nb), i, isnan(v) ? "NaN" : "infinite");
        }
        t->data[i] = v;
    }
    return 0;
}

/* Duplicate keys (cJSON keeps both): sort the names and compare neighbours. */
static int check_duplicates(const cJSON *obj, const char *where, const char *src, ts_err *err) {
    int n = cJSON_GetArraySize(obj);
    const char **names = ts_malloc((size_t)(n ? n : 1) * sizeof(char *));
    int k = 0, rc = 0;
    const cJSON *item;
    cJSON_ArrayForEach(item, obj) names[k++] = item->string ? item->string : "";
    qsort(names, (size_t)k, sizeof *names, cmp_str_ptr);
    for (int i = 1; i < k; i++) {
        if (strcmp(names[i - 1], names[i]) == 0) {
            char nb[80];
            rc = ts_fail(err, "%s: key '%s' appears twice in the %s", src,
                         safe_name(names[i], nb, sizeof nb), where);
            break;
        }
    }
    free(names);
    return rc;
}

static int parse_metadata(const cJSON *meta, const char *src, ts_safetensors *st, ts_err *err) {
    if (!cJSON_IsObject(meta)) return ts_fail(err, "%s: \"__metadata__\" is not a JSON object", src);
    if (check_duplicates(meta, "__metadata__", src, err) != 0) return -1;
    int n = cJSON_GetArraySize(meta);
    st->meta_keys = ts_calloc((size_t)n, sizeof(char *));
    st->meta_values = ts_calloc((size_t)n, sizeof(char *));
    const cJSON *item;
    cJSON_ArrayForEach(item, meta) {
        char nb[80];
        if (!cJSON_IsString(item))
            return ts_fail(err, "%s: __metadata__ entry '%s' is not a string", src,
                           safe_name(item->string, nb, sizeof nb));
        st->meta_keys[st->nmeta] = ts_strdup(item->string);
        st->meta_values[st->nmeta] = ts_strdup(item->valuestring);
        st->nmeta++;
    }
    return 0;
}

/* ---- the parser --------------------------------------------------------------------------------- */

static int parse_header(const cJSON *root, const uint8_t *data, uint64_t data_len, const char *src,
                        ts_safetensors *st, ts_err *err) {
    int nkeys = cJSON_GetArraySize(root);
    if (check_duplicates(root, "header", src, err) != 0) return -1;

    const cJSON *meta = cJSON_GetObjectItemCaseSensitive(root, "__metadata__");
    if (meta && parse_metadata(meta, src, st, err) != 0) return -1;

    int n = nkeys - (meta ? 1 : 0);
    st->tensors = ts_calloc((size_t)(n ? n : 1), sizeof(ts_st_tensor));
    region *regions = ts_malloc((size_t)(n ? n : 1) * sizeof(region));
    int rc = 0;
    const cJSON *entry;
    cJSON_ArrayForEach(entry, root) {
        if (entry == meta) continue;
        ts_st_tensor *t = &st->tensors[st->ntensors];
        t->name = ts_strdup(entry->string ? entry->string : "");
        st->ntensors++;
        regions[st->ntensors - 1].index = st->ntensors - 1;
        if ((rc = parse_entry(entry, data_len, src, t, &regions[st->ntensors - 1], err)) != 0) break;
    }

    /* Regions must not overlap; empty ones hold no bytes and are skipped. */
    if (rc == 0) {
        qsort(regions, (size_t)st->ntensors, sizeof *regions, cmp_region);
        const region *prev = NULL;
        for (int i = 0; i < st->ntensors && rc == 0; i++) {
            const region *r = &regions[i];
            if (r->begin == r->end) continue;
            if (prev && r->begin < prev->end) {
                char a[80], b[80];
                rc = ts_fail(err, "%s: tensors '%s' and '%s' overlap in the data region", src,
                             safe_name(st->tensors[prev->index].name, a, sizeof a),
                             safe_name(st->tensors[r->index].name, b, sizeof b));
            }
            prev = r;
        }
    }
    for (int i = 0; i < st->ntensors && rc == 0; i++)
        rc = convert_tensor(data + regions[i].begin, src, &st->tensors[regions[i].index], err);
    free(regions);
    return rc;
}

int ts_safetensors_parse(const uint8_t *buf, size_t len, const char *source, ts_safetensors *out,
                         ts_err *err) {
    const char *src = source ? source : "(safetensors)";
    memset(out, 0, sizeof *out);
    if (!buf || len < 8)
        return ts_fail(err, "%s: file too short for a safetensors header (%zu bytes)", src, len);
    uint64_t hlen = read_u64_le(buf);
    if (hlen == 0) return ts_fail(err, "%s: header length is 0", src);
    if (hlen > len - 8)
        return ts_fail(err, "%s: header length %llu is beyond the end of the file (%zu bytes)", src,
                       (unsigned long long)hlen, len);
    if (hlen > MAX_HEADER_BYTES)
        return ts_fail(err, "%s: header length %llu exceeds the %llu-byte limit", src,
                       (unsigned long long)hlen, MAX_HEADER_BYTES);

    /* A NUL-terminated copy, so cJSON never depends on the length limit alone. */
    char *text = ts_malloc((size_t)hlen + 1);
    memcpy(text, buf + 8, (size_t)hlen);
    text[hlen] = '\0';
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, (size_t)hlen, &end, 0);
    int rc = 0;
    if (!root) {
        size_t pos = (end && end >= text && end <= text + hlen) ? (size_t)(end - text) : 0;
        rc = ts_fail(err, "%s: header is not valid JSON (error at header byte %zu of %llu)", src, pos,
                     (unsigned long long)hlen);
    } else {
        /* Only whitespace may follow the JSON value (writers pad with spaces). */
        size_t pos = (size_t)(end - text);
        for (size_t i = pos; i < hlen && rc == 0; i++)
            if (!strchr(" \t\r\n", text[i]) || text[i] == '\0')
                rc = ts_fail(err, "%s: header has trailing bytes after the JSON object (at byte %zu)",
                             src, i);
        if (rc == 0 && !cJSON_IsObject(root))
            rc = ts_fail(err, "%s: header is JSON but not an object", src);
        if (rc == 0)
            rc = parse_header(root, buf + 8 + hlen, (uint64_t)(len - 8 - hlen), src, out, err);
    }
    cJSON_Delete(root);
    free(text);
    if (rc != 0) ts_safetensors_free(out);
    return rc;
}

int ts_safetensors_load(const char *path, ts_safetensors *out, ts_err *err) {
    memset(out, 0, sizeof *out);
    FILE *f = fopen(path, "rb");
    if (!f) return ts_fail(err, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fileno(f), &sb) != 0) {
        int e = errno;
        fclose(f);
        return ts_fail(err, "%s: cannot stat: %s", path, strerror(e));
    }
    if (!S_ISREG(sb.st_mode)) {
        fclose(f);
        return ts_fail(err, "%s: not a regular file", path);
    }
    if ((uint64_t)sb.st_size > (uint64_t)SIZE_MAX / 2) {
        fclose(f);
        return ts_fail(err, "%s: file too large (%lld bytes)", path, (long long)sb.st_size);
    }
    size_t len = (size_t)sb.st_size;
    uint8_t *buf = ts_malloc(len);
    size_t got = fread(buf, 1, len, f);
    int read_err = ferror(f);
    fclose(f);
    if (got != len) {
        free(buf);
        return ts_fail(err, "%s: read %zu of %zu bytes%s", path, got, len,
                       read_err ? " (read error)" : " (file changed while reading?)");
    }
    int rc = ts_safetensors_parse(buf, len, path, out, err);
    free(buf);
    return rc;
}

void ts_safetensors_free(ts_safetensors *st) {
    if (!st) return;
    for (int i = 0; i < st->ntensors; i++) {
        free(st->tensors[i].name);
        free(st->tensors[i].data);
    }
    free(st->tensors);
    for (int i = 0; i < st->nmeta; i++) {
        free(st->meta_keys[i]);
        free(st->meta_values[i]);
    }
    free(st->meta_keys);
    free(st->meta_values);
    memset(st, 0, sizeof *st);
}

const ts_st_tensor *ts_safetensors_find(const ts_safetensors *st, const char *name) {
    for (int i = 0; i < st->ntensors; i++)
        if (strcmp(st->tensors[i].name, name) == 0) return &st->tensors[i];
    return NULL;
}

const char *ts_safetensors_meta(const ts_safetensors *st, const char *key) {
    for (int i = 0; i < st->nmeta; i++)
        if (strcmp(st->meta_keys[i], key) == 0) return st->meta_values[i];
    return NULL;
}
