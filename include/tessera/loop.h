/* loop.h - one scale's optimisation, the same for every mode: the optimiser's steps, the stop on a
 * non-finite loss, the optimiser's own stop, log lines, progress, a per-iteration hook (intermediate
 * images), checkpoints and stop requests. The single, exact and independent drivers fill a ts_loop
 * with their evaluation function and what they save, and run it.
 *
 * Iteration numbers: the loop runs iterations it = first..iterations of the scale (first is 1, or the
 * one after a checkpoint's); log lines and messages call it log_base + it, the checkpoint position
 * (and fault injection) ckpt_base + it, --checkpoint-every counts tick_base + it. One image (single,
 * exact) has all three equal to the iterations before the scale; independent mode numbers its tiles'
 * slots within the scale (docs/DESIGN.md §4). */
#ifndef TESSERA_LOOP_H
#define TESSERA_LOOP_H

#include <stdio.h>

#include "tessera/checkpoint.h"
#include "tessera/loss.h"
#include "tessera/optim.h"

typedef struct {
    /* what is optimised */
    const ts_optimizer *optimizer;
    ts_optim_params params; /* the backend, n floats of x, the hook */
    float *x;               /* backend memory */
    ts_eval_fn eval;
    void *ctx;
    const ts_loss_terms *terms; /* where eval leaves the terms of its last evaluation */
    /* where in the schedule */
    int scale, W, H; /* scale index (0-based) and image size, for log lines */
    int iterations;  /* of this scale */
    int log_base, ckpt_base, tick_base;
    int tile; /* -1, or the tile (global index) the loop is about: messages, log lines */
    int slot; /* the checkpoint position's tile field: -1, or the rank's local tile slot */
    /* active = 0: this rank has nothing to optimise; it only keeps in step with the others. lockstep:
     * when the optimiser stops early, keep stepping (idle) to the end of the scale with the others
     * instead of ending the loop (independent mode, whose ranks stop at different times) */
    int active, lockstep;
    const ts_ckpt_pos *resume; /* resuming inside this loop: its state comes from the checkpoint */
    /* reporting */
    const char *label;     /* of the progress line */
    int speak;             /* this rank prints progress and notices */
    int print_every;       /* --print-every */
    FILE *log;             /* NULL: no log lines */
    int log_comm;          /* log lines carry this rank's communication and waiting seconds */
    double t_start;        /* of the run, for the elapsed seconds */
    /* checkpoints: the controller and the image blocks it saves (the loop sets position and state) */
    ts_ckpt_ctl *ck;
    ts_ckpt_data saved;
    /* after every completed iteration n (log numbering): 0 to go on, or -1 with err (NULL: none) */
    int (*after)(void *ctx, int n, ts_err *err);
    void *after_ctx;
    /* results */
    int done;              /* the last iteration completed (first - 1 when none) */
    double step_seconds;   /* time of the iterations after the scale's first (first steps cost more) */
    int timed_steps;
} ts_loop;

typedef enum {
    TS_LOOP_DONE = 0,    /* the scale's iterations ran, or the optimiser stopped early */
    TS_LOOP_STOPPED = 1, /* stopped on request (checkpoint saved when there is a directory) */
    TS_LOOP_HALTED = 2,  /* another rank failed: nothing saved, its error is its own */
    TS_LOOP_FAILED = -1  /* failed here: err says why (a non-finite loss, a failed hook or load) */
} ts_loop_status;

/* Runs the loop; collective when the checkpoint controller is. */
ts_loop_status ts_loop_run(ts_loop *l, ts_err *err);

#endif
