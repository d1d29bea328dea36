/* checkpoint.h - image and optimiser state on disk, so a stopped, preempted or crashed run continues
 * where it was (--checkpoint-every, --checkpoint-dir, --resume).
 *
 * Layout of the checkpoint directory (shared by all ranks, e.g. on the cluster's shared filesystem):
 *   ckpt-NNNNNNNN/rank-R.bin   one file per rank (NNNNNNNN: iterations done), each written to a
 *                              temporary name, synced and renamed
 *   ckpt-NNNNNNNN/COMPLETE     written by rank 0 once every rank's file is in place
 *   LATEST                     the name of the newest complete generation, replaced atomically
 * Older generations are removed once LATEST names a newer one, so a crash at any moment leaves LATEST
 * naming a complete generation. Files are in the machine's byte order, for resuming on the same kind
 * of machine, and carry a fingerprint of the options that shape the result: a checkpoint written by a
 * different job is refused.
 */
#ifndef TESSERA_CHECKPOINT_H
#define TESSERA_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/backend.h"
#include "tessera/check.h"
#include "tessera/optim.h"
#include "tessera/options.h"

typedef struct {
    const char *dir;
    uint64_t fingerprint;
    int collective; /* 1: every rank of the communicator takes part; 0: this process alone */
    int rank, nranks;
    char gen[32]; /* set by ts_ckpt_peek: the generation found */
} ts_ckpt_cfg;

/* Where a run is: scale index, iterations done in it and overall, the tile being optimised (independent
 * mode: local index; -1 otherwise) and the seconds spent so far. */
typedef struct {
    int scale, iter, global_iter, tile;
    int active; /* 1 when the rank's optimiser state is saved (0: it has nothing to optimise now) */
    double elapsed;
} ts_ckpt_pos;

/* What a rank saves: its position, its optimiser's state (through the optimiser's state function;
 * NULL: none) and its image blocks (backend memory: the owned pixels, or one block per tile). */
typedef struct {
    ts_ckpt_pos pos;
    ts_optim *opt;
    int nblocks;
    float *const *blocks;
    const size_t *sizes;
} ts_ckpt_data;

/* A hash of the options that determine the result (not iterations, outputs, logging or threads), the
 * mode and the number of ranks. */
uint64_t ts_ckpt_fingerprint(const ts_options *o, int mode, int nranks);
/* The checkpoint directory the options ask for: --checkpoint-dir, else OUTPUT.ckpt when checkpointing
 * or resuming, else NULL (malloc'ed). */
char *ts_ckpt_dir(const ts_options *o);

/* Writes a generation. Collective when cfg->collective. Returns 0, or -1 with err; a failed save leaves
 * the previous generation as LATEST. */
int ts_ckpt_save(const ts_ckpt_cfg *cfg, const ts_backend *be, const ts_ckpt_data *d, ts_err *err);
/* Finds the newest complete generation and reads this rank's position from it. Returns 1 (found), 0 (no
 * checkpoint yet) or -1 with err (unreadable, truncated or from another job). Collective when
 * cfg->collective: every rank gets the same return value. */
int ts_ckpt_peek(ts_ckpt_cfg *cfg, ts_ckpt_pos *pos, ts_err *err);
/* Reads the optimiser state and image blocks of the generation peek found into d, whose optimiser and
 * blocks are already set up with the sizes the run uses. Same return convention as peek (0: loaded). */
int ts_ckpt_load(const ts_ckpt_cfg *cfg, const ts_backend *be, ts_ckpt_data *d, ts_err *err);

/* Removes a checkpoint directory and everything Tessera put in it (when its result is safely written). */
void ts_ckpt_remove(const char *dir);

/* What a run loop needs: stop requests polled and agreed each iteration, checkpoints when due. */
typedef struct {
    ts_ckpt_cfg cfg;
    char *dir;       /* NULL: no checkpoints (a stop request then just stops) */
    char *stop_file; /* DIR/STOP */
    int every, resume;
} ts_ckpt_ctl;

/* From the options: the directory, --checkpoint-every, --resume. With a directory, SIGTERM/SIGUSR1 and the
 * file DIR/STOP become stop requests. collective: every rank of the communicator runs the loop. */
void ts_ckpt_ctl_init(ts_ckpt_ctl *c, const ts_options *o, uint64_t fingerprint, int collective, int rank,
                      int nranks);
void ts_ckpt_ctl_free(ts_ckpt_ctl *c);
/* After an iteration: agrees on a stop request and on failures (failed: this rank's loss went bad), saves
 * when stopping or when count (the iterations the schedule counts) is a multiple of --checkpoint-every (a
 * failed save is reported and the run goes on with the previous checkpoint kept). Returns 0 to go on, 1
 * when the run must stop now, 2 when some rank failed (nothing saved). */
int ts_ckpt_tick(ts_ckpt_ctl *c, const ts_backend *be, const ts_ckpt_data *d, int count, int failed);
/* Resuming from the checkpoint at pos (ts_ckpt_peek found it): rank 0 says so, even with --quiet, since
 * the result continues an earlier run. */
void ts_ckpt_resuming(const ts_ckpt_ctl *c, const ts_ckpt_pos *pos);
/* After a stop: rank 0 says where the run stopped and removes DIR/STOP; marks the stop for batch drivers. */
void ts_ckpt_stopped(ts_ckpt_ctl *c, int global_iter);

#endif
