/* tiled.h - the tiled driver: one image split into tiles across the MPI ranks (modes independent and
 * exact). */
#ifndef TESSERA_TILED_H
#define TESSERA_TILED_H

#include "tessera/job.h"

/* Collective: every rank calls it with the same options. Returns 0; -1 on rank 0 with err set
 * (input problem: exit 2); -2 on other ranks when the job failed (exit 2 without a message). */
int ts_tiled_main(ts_command cmd, ts_options *o, ts_mode mode, ts_err *err);

#endif
