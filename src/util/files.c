/* files.c - whole-file reads, atomic writes, mkdir -p and a growing string. */
#include "tessera/files.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *ts_file_read(const char *path, size_t max, size_t *len, ts_err *err) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        ts_fail(err, "%s: cannot open: %s", path, strerror(errno));
        return NULL;
    }
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        fclose(f);
        ts_fail(err, "%s: not a regular file of at most %zu bytes", path, max);
        return NULL;
    }
    size_t n = (size_t)st.st_size;
    char *buf = ts_malloc(n + 1);
    size_t got = fread(buf, 1, n, f);
    fclose(f);
    if (got != n) {
        free(buf);
        ts_fail(err, "%s: read error", path);
        return NULL;
    }
    buf[n] = 0;
    if (len) *len = n;
    return buf;
}

int ts_file_write_atomic(const char *path, const char *data, size_t len, ts_err *err) {
    size_t tl = strlen(path) + 32;
    char *tmp = ts_malloc(tl);
    snprintf(tmp, tl, "%s.tmp.%ld", path, (long)getpid());
    FILE *f = fopen(tmp, "wb");
    int rc = 0;
    if (!f) {
        rc = ts_fail(err, "%s: cannot write: %s", path, strerror(errno));
    } else {
        int ok = fwrite(data, 1, len, f) == len;
        ok = fflush(f) == 0 && ok;
        ok = fclose(f) == 0 && ok;
        if (!ok) rc = ts_fail(err, "%s: write error (disk full?)", path);
        else if (rename(tmp, path) != 0) rc = ts_fail(err, "%s: cannot rename into place: %s", path, strerror(errno));
        if (rc) unlink(tmp);
    }
    free(tmp);
    return rc;
}

int ts_mkdirs(const char *path, ts_err *err) {
    char *p = ts_strdup(path);
    size_t n = strlen(p);
    while (n > 1 && p[n - 1] == '/') p[--n] = 0;
    int rc = 0;
    for (char *s = p + 1;; s++) {
        int end = *s == 0;
        if (*s == '/' || end) {
            *s = 0;
            struct stat st;
            if (mkdir(p, 0777) != 0 && errno != EEXIST) {
                rc = ts_fail(err, "%s: cannot create directory %s: %s", path, p, strerror(errno));
                break;
            }
            if (stat(p, &st) != 0 || !S_ISDIR(st.st_mode)) {
                rc = ts_fail(err, "%s: %s is not a directory", path, p);
                break;
            }
            if (end) break;
            *s = '/';
        }
    }
    free(p);
    return rc;
}

int ts_file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static void reserve(ts_buf *b, size_t extra) {
    if (b->len + extra + 1 <= b->cap) return;
    b->cap = (b->len + extra + 1) * 2;
    b->s = ts_realloc(b->s, b->cap);
}

void ts_buf_printf(ts_buf *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return;
    reserve(b, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void ts_buf_puts(ts_buf *b, const char *s) {
    size_t n = strlen(s);
    reserve(b, n);
    memcpy(b->s + b->len, s, n + 1);
    b->len += n;
}

void ts_buf_escape(ts_buf *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&': ts_buf_puts(b, "&amp;"); break;
        case '<': ts_buf_puts(b, "&lt;"); break;
        case '>': ts_buf_puts(b, "&gt;"); break;
        case '"': ts_buf_puts(b, "&quot;"); break;
        case '\'': ts_buf_puts(b, "&#39;"); break;
        default: {
            char c[2] = {*s, 0};
            ts_buf_puts(b, c);
        }
        }
    }
}

void ts_buf_free(ts_buf *b) {
    free(b->s);
    b->s = NULL;
    b->len = b->cap = 0;
}
