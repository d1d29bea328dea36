/* progress.c - progress lines with rate and ETA. */
#include "tessera/progress.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

double ts_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void ts_progress_start(ts_progress *p, const char *label, int total, int every, int quiet) {
    memset(p, 0, sizeof *p);
    p->total = total;
    p->every = every;
    p->quiet = quiet;
    p->tty = isatty(STDERR_FILENO);
    p->t0 = ts_now();
    snprintf(p->label, sizeof p->label, "%s", label);
}

static void fmt_time(double s, char *out, size_t n) {
    if (s < 0 || s > 1e7) snprintf(out, n, "?");
    else if (s < 60) snprintf(out, n, "%.0fs", s);
    else if (s < 3600) snprintf(out, n, "%dm%02ds", (int)s / 60, (int)s % 60);
    else snprintf(out, n, "%dh%02dm", (int)s / 3600, ((int)s % 3600) / 60);
}

static void line(ts_progress *p, int iter, double loss, const char *end) {
    double el = ts_now() - p->t0, rate = iter > 0 ? iter / el : 0.0;
    char eta[32], spent[32];
    fmt_time(rate > 0 ? (p->total - iter) / rate : -1, eta, sizeof eta);
    fmt_time(el, spent, sizeof spent);
    fprintf(stderr, "%s%s iter %d/%d  loss %.6g  %.2f it/s  elapsed %s  ETA %s%s", p->tty ? "\r" : "", p->label,
            iter, p->total, loss, rate, spent, eta, end);
    fflush(stderr);
}

void ts_progress_update(ts_progress *p, int iter, double loss) {
    if (p->quiet) return;
    if (p->tty) line(p, iter, loss, "\033[K");
    else if (p->every > 0 && iter % p->every == 0) line(p, iter, loss, "\n");
}

void ts_progress_end(ts_progress *p, int iter, double loss) {
    if (p->quiet) return;
    if (p->tty || p->every <= 0 || iter % p->every != 0) line(p, iter, loss, p->tty ? "\033[K\n" : "\n");
}
