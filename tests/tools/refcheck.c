/* refcheck.c - compares the output of `tessera grad` with a reference case written by
 * tests/torch_ref.py. Needs only cJSON (no torch, no numpy).
 *
 * Build:
 *   mpicc -std=c11 -O2 -Wall -Wextra -Iinclude tests/tools/refcheck.c -o build/tools/refcheck \
 *         $(pkg-config --cflags --libs libcjson) -lm
 *
 * Usage:
 *   refcheck args expected.json
 *       prints the case's command line (the "args" array), one argument per line
 *   refcheck expected.json grad.npy actual_stdout.txt actual_grad.npy [name]
 *       prints "OK name/term rel=..." or "NOT OK name/term rel=..." for total, content, style,
 *       tv (tolerance 1e-5, relative to |expected|, floor 1e-12 |total|) and grad (relative L2
 *       error, tolerance 1e-4). name defaults to the folder holding expected.json.
 * Exit status: 0 all OK, 1 something NOT OK, 2 a file could not be read.
 */
#include <cJSON.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LOSS_TOL 1e-5
#define GRAD_TOL_DEFAULT 1e-4
/* REFCHECK_GRAD_TOL tightens (or loosens) the gradient bound, e.g. 1e-5 when comparing two Tessera
 * runs that must agree to float rounding */
static double GRAD_TOL = GRAD_TOL_DEFAULT;

/* Whole file into a NUL-terminated buffer; NULL (with a message) on failure. */
static char *read_file(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "refcheck: cannot open %s\n", path);
        return NULL;
    }
    size_t cap = 1 << 16, n = 0;
    char *buf = malloc(cap + 1);
    while (buf) {
        size_t got = fread(buf + n, 1, cap - n, f);
        n += got;
        if (n < cap) break;
        cap *= 2;
        char *nb = realloc(buf, cap + 1);
        if (!nb) free(buf);
        buf = nb;
    }
    int err = ferror(f);
    fclose(f);
    if (!buf || err) {
        fprintf(stderr, "refcheck: cannot read %s\n", path);
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len) *len = n;
    return buf;
}

static cJSON *read_json(const char *path) {
    size_t len;
    char *text = read_file(path, &len);
    if (!text) return NULL;
    const char *end = NULL;
    cJSON *j = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!j) fprintf(stderr, "refcheck: %s: bad JSON at byte %ld\n", path, end ? (long)(end - text) : -1L);
    free(text);
    return j;
}

/* ---- minimal .npy reader: '<f4' (or '<f8', converted), C order ---- */

typedef struct {
    int ndim;
    long shape[8];
    size_t n;
    float *data;
} npy;

/* Finds key in the header dict and returns a pointer just past the ':' after it. */
static const char *npy_field(const char *hdr, const char *key) {
    const char *p = strstr(hdr, key);
    if (!p) return NULL;
    p = strchr(p + strlen(key), ':');
    return p ? p + 1 : NULL;
}

static int npy_read(const char *path, npy *out) {
    size_t len;
    char *buf = read_file(path, &len);
    if (!buf) return -1;
    const unsigned char *b = (const unsigned char *)buf;
    size_t hlen, hstart;
    if (len < 10 || memcmp(b, "\x93NUMPY", 6) != 0) goto bad;
    if (b[6] == 1) {
        hlen = b[8] | (size_t)b[9] << 8;
        hstart = 10;
    } else if ((b[6] == 2 || b[6] == 3) && len >= 12) {
        hlen = b[8] | (size_t)b[9] << 8 | (size_t)b[10] << 16 | (size_t)b[11] << 24;
        hstart = 12;
    } else {
        goto bad;
    }
    if (hlen > len - hstart) goto bad;
    char *hdr = malloc(hlen + 1);
    if (!hdr) goto bad;
    memcpy(hdr, buf + hstart, hlen);
    hdr[hlen] = '\0';

    const char *d = npy_field(hdr, "'descr'");
    const char *fo = npy_field(hdr, "'fortran_order'");
    const char *sh = npy_field(hdr, "'shape'");
    int ok = d && fo && sh, esize = 4;
    if (ok) {
        while (*d == ' ') d++;
        while (*fo == ' ') fo++;
        while (*sh == ' ') sh++;
        if (strncmp(d, "'<f8'", 5) == 0) esize = 8;
        ok = (esize == 8 || strncmp(d, "'<f4'", 5) == 0) && strncmp(fo, "False", 5) == 0 && *sh == '(';
    }
    out->ndim = 0;
    out->n = 1;
    if (ok) {
        const char *p = sh + 1;
        for (;;) {
            while (*p == ' ' || *p == ',') p++;
            if (*p == ')') break;
            char *e;
            long v = strtol(p, &e, 10);
            if (e == p || v < 0 || out->ndim == 8) {
                ok = 0;
                break;
            }
            out->shape[out->ndim++] = v;
            out->n *= (size_t)v;
            p = e;
        }
    }
    free(hdr);
    if (!ok) {
        fprintf(stderr, "refcheck: %s: not a C-order '<f4' or '<f8' array\n", path);
        free(buf);
        return -1;
    }
    size_t off = hstart + hlen;
    if (len - off != out->n * (size_t)esize) {
        fprintf(stderr, "refcheck: %s: %zu data bytes, shape needs %zu\n", path, len - off,
                out->n * (size_t)esize);
        free(buf);
        return -1;
    }
    out->data = malloc(out->n ? out->n * sizeof(float) : 1);
    if (!out->data) goto bad;
    for (size_t i = 0; i < out->n; i++) {
        const unsigned char *q = b + off + (size_t)esize * i;
        uint64_t u = 0;
        for (int k = esize - 1; k >= 0; k--) u = u << 8 | q[k];
        if (esize == 4) {
            uint32_t u32 = (uint32_t)u;
            memcpy(&out->data[i], &u32, 4);
        } else {
            double v;
            memcpy(&v, &u, 8);
            out->data[i] = (float)v;
        }
    }
    free(buf);
    return 0;
bad:
    fprintf(stderr, "refcheck: %s: not a .npy file\n", path);
    free(buf);
    return -1;
}

/* ---- the checks ---- */

static int n_bad;

static void report(const char *name, const char *term, double rel, double tol, const char *extra) {
    int ok = rel <= tol; /* false for NaN */
    if (!ok) n_bad++;
    printf("%s %s/%s rel=%.3e%s%s\n", ok ? "OK" : "NOT OK", name, term, rel, ok ? "" : " ", ok ? "" : extra);
}

/* The last line of stdout that is a JSON object with a "total" member. */
static cJSON *find_result(const char *path) {
    char *text = read_file(path, NULL);
    if (!text) return NULL;
    cJSON *found = NULL;
    for (char *line = text; *line;) {
        char *nl = strchr(line, '\n');
        size_t n = nl ? (size_t)(nl - line) : strlen(line);
        const char *p = line;
        while (p < line + n && (*p == ' ' || *p == '\t')) p++;
        if (p < line + n && *p == '{') {
            cJSON *j = cJSON_ParseWithLength(p, n - (size_t)(p - line));
            if (j && cJSON_IsNumber(cJSON_GetObjectItemCaseSensitive(j, "total"))) {
                cJSON_Delete(found);
                found = j;
            } else {
                cJSON_Delete(j);
            }
        }
        line += n + (nl ? 1 : 0);
    }
    free(text);
    return found;
}

static int print_args(const char *path) {
    cJSON *j = read_json(path);
    if (!j) return 2;
    cJSON *args = cJSON_GetObjectItemCaseSensitive(j, "args");
    int rc = cJSON_IsArray(args) ? 0 : 2;
    cJSON *a;
    cJSON_ArrayForEach(a, args) {
        if (!cJSON_IsString(a) || strchr(a->valuestring, '\n')) rc = 2;
    }
    if (rc) {
        fprintf(stderr, "refcheck: %s: \"args\" is not an array of one-line strings\n", path);
    } else {
        cJSON_ArrayForEach(a, args) printf("%s\n", a->valuestring);
    }
    cJSON_Delete(j);
    return rc;
}

/* The name of the folder holding path ("." when there is none). */
static void case_name(const char *path, char *out, size_t cap) {
    const char *end = strrchr(path, '/');
    if (!end) {
        snprintf(out, cap, ".");
        return;
    }
    const char *start = end;
    while (start > path && start[-1] != '/') start--;
    snprintf(out, cap, "%.*s", (int)(end - start), start);
}

int main(int argc, char **argv) {
    const char *tol = getenv("REFCHECK_GRAD_TOL");
    if (tol && atof(tol) > 0) GRAD_TOL = atof(tol);
    if (argc == 3 && strcmp(argv[1], "args") == 0) return print_args(argv[2]);
    if (argc != 5 && argc != 6) {
        fprintf(stderr, "usage: refcheck args expected.json\n"
                        "       refcheck expected.json grad.npy actual_stdout.txt actual_grad.npy [name]\n");
        return 2;
    }
    char name[256];
    if (argc == 6)
        snprintf(name, sizeof name, "%s", argv[5]);
    else
        case_name(argv[1], name, sizeof name);

    cJSON *exp = read_json(argv[1]);
    npy ref = {0}, got = {0};
    if (!exp || npy_read(argv[2], &ref) != 0) {
        cJSON_Delete(exp);
        free(ref.data);
        return 2;
    }

    /* loss terms */
    static const char *terms[] = {"total", "content", "style", "tv"};
    cJSON *act = find_result(argv[3]);
    const cJSON *et = cJSON_GetObjectItemCaseSensitive(exp, "total");
    double floor_ = 1e-12 * fabs(cJSON_IsNumber(et) ? et->valuedouble : 0.0);
    if (!act) {
        printf("NOT OK %s/output no JSON line with \"total\" in %s\n", name, argv[3]);
        n_bad++;
    }
    for (int i = 0; act && i < 4; i++) {
        const cJSON *e = cJSON_GetObjectItemCaseSensitive(exp, terms[i]);
        const cJSON *a = cJSON_GetObjectItemCaseSensitive(act, terms[i]);
        char extra[160];
        if (!cJSON_IsNumber(e) || !cJSON_IsNumber(a)) {
            snprintf(extra, sizeof extra, "(missing \"%s\")", terms[i]);
            report(name, terms[i], NAN, LOSS_TOL, extra);
            continue;
        }
        double den = fmax(fabs(e->valuedouble), floor_);
        double rel = den > 0 ? fabs(a->valuedouble - e->valuedouble) / den : fabs(a->valuedouble);
        snprintf(extra, sizeof extra, "(tol %.0e, expected %.9g, got %.9g)", LOSS_TOL, e->valuedouble,
                 a->valuedouble);
        report(name, terms[i], rel, LOSS_TOL, extra);
    }

    /* gradient */
    if (npy_read(argv[4], &got) != 0) {
        printf("NOT OK %s/grad cannot read %s\n", name, argv[4]);
        n_bad++;
    } else {
        int same = got.ndim == ref.ndim;
        for (int i = 0; same && i < ref.ndim; i++) same = got.shape[i] == ref.shape[i];
        if (!same) {
            printf("NOT OK %s/grad shape differs from the reference\n", name);
            n_bad++;
        } else {
            double num = 0, den = 0;
            for (size_t i = 0; i < ref.n; i++) {
                double d = (double)got.data[i] - ref.data[i];
                num += d * d;
                den += (double)ref.data[i] * ref.data[i];
            }
            double rel = den > 0 ? sqrt(num / den) : sqrt(num);
            char extra[160];
            snprintf(extra, sizeof extra, "(tol %.0e, |g_ref| %.6g, |g - g_ref| %.6g)", GRAD_TOL, sqrt(den),
                     sqrt(num));
            report(name, "grad", rel, GRAD_TOL, extra);
        }
    }

    cJSON_Delete(act);
    cJSON_Delete(exp);
    free(ref.data);
    free(got.data);
    return n_bad ? 1 : 0;
}
