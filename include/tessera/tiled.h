/* tiled.h - one image split into tiles across the MPI ranks (modes independent and exact). */
#ifndef TESSERA_TILED_H
#define TESSERA_TILED_H

#include "tessera/options.h"
#include "tessera/run.h"

enum { TS_MODE_SINGLE = 0, TS_MODE_INDEPENDENT = 1, TS_MODE_EXACT = 2 };

/* Collective: every rank calls it with the same options. Returns 0; -1 on rank 0 with err set
 * (input problem: exit 2); -2 on other ranks when the job failed (exit 2 without a message). */
int ts_tiled_main(ts_command cmd, ts_options *o, int mode, ts_err *err);

/* Threads for this rank: --threads, else OMP_NUM_THREADS or SLURM_CPUS_PER_TASK, else the node's
 * cores shared among the ranks on the node. */
int ts_threads_per_rank(int requested);

#endif
