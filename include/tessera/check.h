/* check.h - fatal errors, input errors, checked allocation.
 *
 * Two kinds of failure (docs/DESIGN.md §6):
 *  - system failures (out of memory, IO, MPI, CUDA) go through ts_fatal(), which prints
 *    "[rank r] file:line: message" and aborts every rank through the abort hook;
 *  - input problems (bad image, bad weights, bad config) are returned to the caller as an error
 *    string (ts_err) so the application can report them once and exit with code 2.
 */
#ifndef TESSERA_CHECK_H
#define TESSERA_CHECK_H

#include <stddef.h>
#include <stdnoreturn.h>

#define TS_ERR_LEN 512

/* An input-error message buffer: functions that can fail on bad input take one and return -1. */
typedef struct {
    char msg[TS_ERR_LEN];
} ts_err;

/* Formats into err (if non-NULL) and returns -1, so callers can write `return ts_fail(err, ...)`. */
int ts_fail(ts_err *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

noreturn void ts_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
#define ts_fatal(...) ts_fatal_at(__FILE__, __LINE__, __VA_ARGS__)

/* Abort hook: the MPI layer installs one that calls MPI_Abort; the default calls exit(code). */
void ts_set_abort_hook(void (*hook)(int code));
/* Rank shown in messages ("[rank r]"); set once by the MPI layer, 0 otherwise. */
void ts_set_rank(int rank);
int ts_rank(void);

void *ts_malloc_at(const char *file, int line, size_t bytes);
void *ts_calloc_at(const char *file, int line, size_t n, size_t size);
void *ts_realloc_at(const char *file, int line, void *p, size_t bytes);
char *ts_strdup_at(const char *file, int line, const char *s);
#define ts_malloc(b) ts_malloc_at(__FILE__, __LINE__, (b))
#define ts_calloc(n, s) ts_calloc_at(__FILE__, __LINE__, (n), (s))
#define ts_realloc(p, b) ts_realloc_at(__FILE__, __LINE__, (p), (b))
#define ts_strdup(s) ts_strdup_at(__FILE__, __LINE__, (s))

#define TS_CHECK(cond, ...)                                                                        \
    do {                                                                                           \
        if (!(cond)) ts_fatal_at(__FILE__, __LINE__, __VA_ARGS__);                                 \
    } while (0)

#endif
