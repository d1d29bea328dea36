/* summary.h - a batch job's summary from what is on disk: OUTPUT_DIR/manifest.json (every task's
 * name, parameters, status, output, loss, seconds) and OUTPUT_DIR/index.html (a contact sheet of the
 * outputs labelled by their parameters, and the loss curves). */
#ifndef TESSERA_SUMMARY_H
#define TESSERA_SUMMARY_H

#include "tessera/batch_job.h"

typedef enum { TS_TASK_PENDING = 0, TS_TASK_DONE = 1, TS_TASK_FAILED = 2 } ts_task_status;

/* What a task's folder says: DONE (written last by a finished task) or FAILED, else pending. loss
 * and seconds are NAN when unknown; error (may be NULL) gets a failed task's message (malloc'd). */
ts_task_status ts_summary_task_status(const ts_batch_job *job, int t, double *loss, double *seconds, char **error);

/* Writes manifest.json, losses.svg and index.html atomically, under a lock on OUTPUT_DIR/.lock so
 * that groups finishing together do not interleave. Returns 0, or -1 with err. Not collective. */
int ts_summary_write(const ts_batch_job *job, ts_err *err);

#endif
