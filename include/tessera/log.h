/* log.h - the --log file (one JSON line per iteration) and grad's JSON line: the loss terms by name,
 * in the order of the term table (loss.h). */
#ifndef TESSERA_LOG_H
#define TESSERA_LOG_H

#include <stdio.h>

#include "tessera/check.h"
#include "tessera/loss.h"

/* Opens path for the log, appended to when resuming (append) and started afresh otherwise; NULL
 * path: no log (returns 0 with *log NULL). -1 with err when it cannot be opened. */
int ts_log_open(const char *path, int append, FILE **log, ts_err *err);

/* One line: iteration, scale (1-based), size, the total and each weighted term, evaluations so far,
 * seconds of this iteration and since the start; comm >= 0 and wait >= 0 add this rank's seconds of
 * communication and of waiting for slower ranks so far, tile >= 0 the tile the line is about.
 * Nothing when log is NULL. */
void ts_log_iteration(FILE *log, int iter, int scale, int W, int H, const ts_loss_terms *t, int evals,
                      double seconds, double elapsed, double comm, double wait, int tile);

/* Closes a --log file (NULL: nothing to do); -1 with "PATH: cannot write the log: reason" when a line
 * could not be written (e.g. a full disk). */
int ts_log_close(FILE *log, const char *path, ts_err *err);

/* grad's line on stdout: {"total": T, "<term>": V, ...}, 12 significant digits. */
void ts_log_print_terms(const ts_loss_terms *t);

#endif
