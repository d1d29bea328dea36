/* log.c - the --log writer and grad's JSON line. */
#include "tessera/log.h"

#include <errno.h>
#include <string.h>

/* errno of the first --log line that could not be written (stdio drops the line, so fclose cannot tell) */
static int g_log_errno;

int ts_log_open(const char *path, int append, FILE **log, ts_err *err) {
    *log = NULL;
    if (!path) return 0;
    *log = fopen(path, append ? "a" : "w");
    if (!*log) return ts_fail(err, "%s: cannot write log: %s", path, strerror(errno));
    g_log_errno = 0;
    return 0;
}

int ts_log_close(FILE *log, const char *path, ts_err *err) {
    if (!log) return 0;
    int bad = ferror(log), e = g_log_errno;
    if (fclose(log) != 0) {
        bad = 1;
        if (!e) e = errno;
    }
    g_log_errno = 0;
    if (bad) return ts_fail(err, "%s: cannot write the log: %s", path, e ? strerror(e) : "a write failed");
    return 0;
}

/* "total" and every term, as JSON members with %.<digits>g */
static void print_terms(FILE *f, const ts_loss_terms *t, int digits) {
    fprintf(f, "\"total\": %.*g", digits, t->total);
    for (int k = 0; k < ts_loss_nterms(); k++) fprintf(f, ", \"%s\": %.*g", ts_loss_term_name(k), digits, t->term[k]);
}

void ts_log_iteration(FILE *log, int iter, int scale, int W, int H, const ts_loss_terms *t, int evals,
                      double seconds, double elapsed, double comm, double wait, int tile) {
    if (!log) return;
    fprintf(log, "{\"iteration\": %d, \"scale\": %d, \"width\": %d, \"height\": %d, ", iter, scale, W, H);
    print_terms(log, t, 10);
    fprintf(log, ", \"evaluations\": %d, \"seconds\": %.4f, \"elapsed\": %.3f", evals, seconds, elapsed);
    if (comm >= 0) fprintf(log, ", \"communication\": %.4f", comm);
    if (wait >= 0) fprintf(log, ", \"waiting\": %.4f", wait);
    if (tile >= 0) fprintf(log, ", \"tile\": %d", tile);
    fputs("}\n", log);
    if (fflush(log) != 0 && !g_log_errno) g_log_errno = errno;
}

void ts_log_print_terms(const ts_loss_terms *t) {
    putchar('{');
    print_terms(stdout, t, 12);
    puts("}");
    fflush(stdout);
}
