/* dispatch.h - one run or grad with resolved options, over the current communicator: the mode picks
 * the single-process driver (rank 0 works, the others wait) or a tiled one (exact, independent).
 * Used by the run/grad commands (the world) and by batch tasks (a group of ranks). */
#ifndef TESSERA_DISPATCH_H
#define TESSERA_DISPATCH_H

#include "tessera/options.h"

/* Collective over the current communicator; every rank passes the same options. Returns 0; -1 on
 * the communicator's rank 0 with err set (an input problem, found before or while running); -2 on
 * other ranks when the job failed (in the single mode they wait, asleep, for rank 0 to finish). */
int ts_dispatch(ts_command cmd, ts_options *o, ts_err *err);

#endif
