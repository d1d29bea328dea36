/* check.c - fatal errors, input-error messages and checked allocation. */
#include "tessera/check.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int g_rank;
static void (*g_abort_hook)(int code);

void ts_set_rank(int rank) { g_rank = rank; }
int ts_rank(void) { return g_rank; }
void ts_set_abort_hook(void (*hook)(int code)) { g_abort_hook = hook; }

int ts_fail(ts_err *err, const char *fmt, ...) {
    if (err) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err->msg, sizeof err->msg, fmt, ap);
        va_end(ap);
    }
    return -1;
}

noreturn void ts_fatal_at(const char *file, int line, const char *fmt, ...) {
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "[rank %d] %s:%d: ", g_rank, file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    fflush(stderr);
    if (g_abort_hook) g_abort_hook(1);
    exit(1);
}

void *ts_malloc_at(const char *file, int line, size_t bytes) {
    void *p = malloc(bytes ? bytes : 1);
    if (!p) ts_fatal_at(file, line, "out of memory allocating %zu bytes", bytes);
    return p;
}

void *ts_calloc_at(const char *file, int line, size_t n, size_t size) {
    void *p = calloc(n ? n : 1, size ? size : 1);
    if (!p) ts_fatal_at(file, line, "out of memory allocating %zu x %zu bytes", n, size);
    return p;
}

void *ts_realloc_at(const char *file, int line, void *p, size_t bytes) {
    void *q = realloc(p, bytes ? bytes : 1);
    if (!q) ts_fatal_at(file, line, "out of memory reallocating %zu bytes", bytes);
    return q;
}

char *ts_strdup_at(const char *file, int line, const char *s) {
    size_t n = strlen(s) + 1;
    char *p = ts_malloc_at(file, line, n);
    memcpy(p, s, n);
    return p;
}
