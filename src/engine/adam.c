/* adam.c - Adam (Kingma & Ba) on the image; one evaluation per step. */
#include <stddef.h>

#include "tessera/optim.h"

void ts_adam_init(ts_adam *o, const ts_backend *be, size_t n, float lr) {
    *o = (ts_adam){.be = be, .n = n, .lr = lr, .beta1 = 0.9f, .beta2 = 0.999f, .eps = 1e-8f};
    o->g = be->alloc(n);
    o->m = be->alloc(n);
    o->v = be->alloc(n);
}

ts_step_status ts_adam_step(ts_adam *o, float *x, ts_eval_fn eval, void *ctx) {
    o->f = eval(ctx, x, o->g);
    o->nevals++;
    o->iter++;
    o->be->adam_step(x, o->g, o->m, o->v, o->n, o->lr, o->beta1, o->beta2, o->eps, o->iter);
    return TS_STEP_OK;
}

void ts_adam_free(ts_adam *o) {
    o->be->free(o->g);
    o->be->free(o->m);
    o->be->free(o->v);
}

/* ---- as a ts_optimizer ---- */

/* the step count (bias correction), the counters and both moments; the settings come from the run */
static void adam_state_io(void *st, ts_state_io *io) {
    ts_adam *o = st;
    uint64_t n = o->n;
    io->u64(io, &n);
    if (io->loading && n != o->n) {
        io->mismatch(io, "checkpoint has %zu values; the run has %zu", (size_t)n, o->n);
        return;
    }
    int *const counts[] = {&o->iter, &o->nevals};
    ts_state_io_ints(io, counts, 2);
    io->f64(io, &o->f);
    io->floats(io, o->m, o->n);
    io->floats(io, o->v, o->n);
}

static void adam_init(void *st, const ts_optim_params *p) { ts_adam_init(st, p->be, p->n, (float)p->learning_rate); }
static ts_step_status adam_step(void *st, float *x, ts_eval_fn eval, void *ctx) { return ts_adam_step(st, x, eval, ctx); }
static void adam_free(void *st) { ts_adam_free(st); }

/* name, label, checkpoint id, state size, init, step, free, state_io, counters */
const ts_optimizer ts_optimizer_adam = {"adam", "Adam", 2, sizeof(ts_adam), adam_init, adam_step, adam_free,
                                      adam_state_io, offsetof(ts_adam, iter), offsetof(ts_adam, nevals)};
