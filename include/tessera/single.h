/* single.h - the single-process driver: one process optimises the whole image (--mode single). */
#ifndef TESSERA_SINGLE_H
#define TESSERA_SINGLE_H

#include "tessera/job.h"

/* The run command: scales x the optimisation loop, then --output. Returns 0, or -1 with err (input
 * problems found late, e.g. an output that cannot be written; a non-finite loss). */
int ts_single_run(ts_job *job, ts_err *err);
/* The grad command: one evaluation at --init; prints the terms' JSON line, writes --grad-out. */
int ts_single_grad(ts_job *job, ts_err *err);

#endif
