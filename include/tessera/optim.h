/* optim.h - optimisers of the image, written against the backend's vector ops, behind one interface.
 *
 * An optimiser is a row of the table in src/engine/optimizers.c: a ts_optimizer (name, init, step,
 * free, and one state function that saves and loads its state for checkpoints). The run loop
 * (src/app/loop.c) and the checkpoints (src/app/checkpoint.c) only use that interface, and
 * --optimizer takes the table's names, so a new optimiser is one file with its ts_optimizer and one
 * row in the table (and, if it has settings of its own, their options in src/app/options.c).
 *
 * Every dot product is a local sum passed through the reduce_sum hook, which does nothing in a single
 * process and becomes an allreduce (in double) when the image is split across ranks, so every rank takes
 * the same decisions.
 *
 * L-BFGS memory: 2 * history vectors of 3*H*W floats, i.e. 24 * history bytes per pixel
 * (history 20: 480 B/px, 94 MB at 512x384; history 100: 2.4 KB/px).
 */
#ifndef TESSERA_OPTIM_H
#define TESSERA_OPTIM_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/backend.h"

/* Evaluates the loss at x and writes its gradient; returns the (global) loss. */
typedef double (*ts_eval_fn)(void *ctx, const float *x, float *grad);

typedef struct {
    void (*reduce_sum)(double *values, int n, void *ctx); /* NULL: single process */
    void *ctx;
} ts_reduce_hook;

typedef enum { TS_STEP_OK = 0, TS_STEP_CONVERGED = 1, TS_STEP_FAILED = 2 } ts_step_status;

/* ---- the interface ---- */

/* What an optimiser is set up with: the backend, the length of the vector it optimises (this rank's
 * part), the reduction hook, and the settings some optimisers read. */
typedef struct {
    const ts_backend *be;
    size_t n;
    ts_reduce_hook hook;
    int history;          /* L-BFGS: pairs kept */
    double learning_rate; /* Adam: step size */
} ts_optim_params;

/* Moves an optimiser's state to or from a checkpoint with one function for both directions, so what
 * is saved is what is loaded: each call writes the field (saving) or overwrites it (loading). floats
 * are backend memory; loading, the file must hold exactly n of them. mismatch says that a loaded value
 * does not fit this run (the load then fails with that message). */
typedef struct ts_state_io ts_state_io;
struct ts_state_io {
    int loading;
    void (*i32)(ts_state_io *io, int *v);
    void (*u64)(ts_state_io *io, uint64_t *v);
    void (*f64)(ts_state_io *io, double *v);
    void (*floats)(ts_state_io *io, float *x, size_t n);
    void (*mismatch)(ts_state_io *io, const char *fmt, ...);
};

/* n int fields in turn */
static inline void ts_state_io_ints(ts_state_io *io, int *const *fields, int n) {
    for (int i = 0; i < n; i++) io->i32(io, fields[i]);
}

typedef struct {
    const char *name;  /* as --optimizer names it */
    const char *label; /* in messages: "L-BFGS" */
    int id;            /* stored in checkpoints: stays the optimiser's for good, never reused */
    size_t size;       /* bytes of its state */
    void (*init)(void *state, const ts_optim_params *p);
    /* One iteration (it evaluates at x first when it has not yet); CONVERGED or FAILED: no step was
     * taken and none will be (the gradient vanished; no decrease found) */
    ts_step_status (*step)(void *state, float *x, ts_eval_fn eval, void *ctx);
    void (*free)(void *state);
    void (*state_io)(void *state, ts_state_io *io);
    size_t iterations_at, evaluations_at; /* offsets of the int counters in the state (so far; restored by a load) */
} ts_optimizer;

/* The table: by --optimizer name or by checkpoint id; NULL when unknown. */
const ts_optimizer *ts_optimizer_find(const char *name);
const ts_optimizer *ts_optimizer_by_id(int id);
/* What --optimizer takes: "lbfgs|adam" (the table's names). */
const char *ts_optimizer_choices(void);

/* One optimiser at work. */
typedef struct {
    const ts_optimizer *kind;
    void *state;
} ts_optim;

void ts_optim_init(ts_optim *o, const ts_optimizer *kind, const ts_optim_params *p);
ts_step_status ts_optim_step(ts_optim *o, float *x, ts_eval_fn eval, void *ctx);
void ts_optim_free(ts_optim *o);
int ts_optim_evaluations(const ts_optim *o);
int ts_optim_iterations(const ts_optim *o);

/* ---- the optimisers (their own functions, also used directly by the tests) ---- */

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
