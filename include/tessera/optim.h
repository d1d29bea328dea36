/* optim.h - L-BFGS and Adam on the image, written against the backend's vector ops.
 *
 * Every dot product is a local sum passed through the reduce_sum hook, which does nothing in a single
 * process and becomes an allreduce (in double) when the image is split across ranks, so every rank takes
 * the same decisions. State lives in plain structs so it can be checkpointed.
 *
 * L-BFGS memory: 2 * history vectors of 3*H*W floats, i.e. 24 * history bytes per pixel
 * (history 20: 480 B/px, 94 MB at 512x384; history 100: 2.4 KB/px).
 */
#ifndef TESSERA_OPTIM_H
#define TESSERA_OPTIM_H

#include <stddef.h>

#include "tessera/backend.h"

/* Evaluates the loss at x and writes its gradient; returns the (global) loss. */
typedef double (*ts_eval_fn)(void *ctx, const float *x, float *grad);

typedef struct {
    void (*reduce_sum)(double *values, int n, void *ctx); /* NULL: single process */
    void *ctx;
} ts_reduce_hook;

typedef enum { TS_STEP_OK = 0, TS_STEP_CONVERGED = 1, TS_STEP_FAILED = 2 } ts_step_status;

typedef struct {
    const ts_backend *be;
    ts_reduce_hook hook;
    size_t n;
    int m; /* history size */
    float *g, *d, *g_old;
    float **s, **y;
    double *rho, *alpha;
    int count, head; /* stored pairs, index of the next slot */
    int iter, nevals;
    double f;
    int started;
} ts_lbfgs;

void ts_lbfgs_init(ts_lbfgs *o, const ts_backend *be, size_t n, int history, ts_reduce_hook hook);
/* One iteration (direction, line search, history update). Evaluates at x first if not started. */
ts_step_status ts_lbfgs_step(ts_lbfgs *o, float *x, ts_eval_fn eval, void *ctx);
void ts_lbfgs_free(ts_lbfgs *o);

typedef struct {
    const ts_backend *be;
    size_t n;
    float *g, *m, *v;
    float lr, beta1, beta2, eps;
    int iter, nevals;
    double f; /* loss at the start of the last step */
} ts_adam;

void ts_adam_init(ts_adam *o, const ts_backend *be, size_t n, float lr);
ts_step_status ts_adam_step(ts_adam *o, float *x, ts_eval_fn eval, void *ctx);
void ts_adam_free(ts_adam *o);

#endif
