/* progress.h - progress output for long runs: a redrawn line on a terminal (iteration, loss, rate,
 * ETA), a plain line every N iterations otherwise. Written to stderr. */
#ifndef TESSERA_PROGRESS_H
#define TESSERA_PROGRESS_H

typedef struct {
    int total;
    int every; /* when not a terminal */
    int tty, quiet;
    double t0;
    char label[64];
} ts_progress;

double ts_now(void); /* monotonic seconds */
void ts_progress_start(ts_progress *p, const char *label, int total, int every, int quiet);
void ts_progress_update(ts_progress *p, int iter, double loss);
void ts_progress_end(ts_progress *p, int iter, double loss);

#endif
