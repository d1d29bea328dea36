/* adam.c - Adam (Kingma & Ba) on the image; one evaluation per step. */
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
