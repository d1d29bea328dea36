/* optimizers.c - the table of optimisers (--optimizer NAME) and the calls through their interface. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/check.h"
#include "tessera/optim.h"

extern const ts_optimizer ts_optimizer_lbfgs, ts_optimizer_adam;

/* A new optimiser: its file defines a ts_optimizer with a fresh checkpoint id, and gets a row here. */
static const ts_optimizer *const OPTIMIZERS[] = {&ts_optimizer_lbfgs, &ts_optimizer_adam};
#define NOPTIMIZERS (sizeof OPTIMIZERS / sizeof OPTIMIZERS[0])

const ts_optimizer *ts_optimizer_find(const char *name) {
    for (size_t i = 0; i < NOPTIMIZERS; i++)
        if (strcmp(OPTIMIZERS[i]->name, name) == 0) return OPTIMIZERS[i];
    return NULL;
}

const char *ts_optimizer_choices(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t len = 0;
        for (size_t i = 0; i < NOPTIMIZERS && len < sizeof buf; i++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "%s%s", i ? "|" : "", OPTIMIZERS[i]->name);
    }
    return buf;
}

const ts_optimizer *ts_optimizer_by_id(int id) {
    for (size_t i = 0; i < NOPTIMIZERS; i++)
        if (OPTIMIZERS[i]->id == id) return OPTIMIZERS[i];
    return NULL;
}

void ts_optim_init(ts_optim *o, const ts_optimizer *kind, const ts_optim_params *p) {
    o->kind = kind;
    o->state = ts_calloc(1, kind->size);
    kind->init(o->state, p);
}

ts_step_status ts_optim_step(ts_optim *o, float *x, ts_eval_fn eval, void *ctx) {
    return o->kind->step(o->state, x, eval, ctx);
}

void ts_optim_free(ts_optim *o) {
    if (!o->state) return;
    o->kind->free(o->state);
    free(o->state);
    o->state = NULL;
}

static int counter(const ts_optim *o, size_t at) { return *(const int *)((const char *)o->state + at); }
int ts_optim_evaluations(const ts_optim *o) { return counter(o, o->kind->evaluations_at); }
int ts_optim_iterations(const ts_optim *o) { return counter(o, o->kind->iterations_at); }
