/* files.h - small file helpers for the batch outputs: whole-file reads, atomic writes, mkdir -p. */
#ifndef TESSERA_FILES_H
#define TESSERA_FILES_H

#include <stddef.h>

#include "tessera/check.h"

/* Reads a regular file of at most max bytes, NUL-terminated; *len gets its length (may be NULL).
 * NULL with err set when it is missing, not a regular file, too big or unreadable. */
char *ts_file_read(const char *path, size_t max, size_t *len, ts_err *err);
/* Writes data to path.tmp.PID, then renames it over path: readers see the old or the new file. */
int ts_file_write_atomic(const char *path, const char *data, size_t len, ts_err *err);
/* Creates a directory and its missing parents (mode 0777 before umask). */
int ts_mkdirs(const char *path, ts_err *err);
/* 1 if path exists as a regular file. */
int ts_file_exists(const char *path);

/* A growing string for building JSON, HTML and SVG text. */
typedef struct {
    char *s;
    size_t len, cap;
} ts_buf;
void ts_buf_printf(ts_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void ts_buf_puts(ts_buf *b, const char *s);
/* s with & < > " ' escaped for HTML and XML text and attributes */
void ts_buf_escape(ts_buf *b, const char *s);
void ts_buf_free(ts_buf *b);

#endif
