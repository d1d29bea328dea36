/* lbfgs.c - limited-memory BFGS: two-loop recursion, backtracking line search (Armijo, with
 * quadratic interpolation), history updated only on positive curvature. */
#include <math.h>
#include <stddef.h>
#include <stdlib.h>

#include "tessera/check.h"
#include "tessera/optim.h"

#define ARMIJO_C1 1e-4
#define MAX_LINE_EVALS 20

static double rdot(ts_lbfgs *o, const float *a, const float *b) {
    double v = o->be->dot(a, b, o->n);
    if (o->hook.reduce_sum) o->hook.reduce_sum(&v, 1, o->hook.ctx);
    return v;
}

void ts_lbfgs_init(ts_lbfgs *o, const ts_backend *be, size_t n, int history, ts_reduce_hook hook) {
    TS_CHECK(history >= 1, "L-BFGS history must be at least 1");
    *o = (ts_lbfgs){.be = be, .hook = hook, .n = n, .m = history};
    o->g = be->alloc(n);
    o->d = be->alloc(n);
    o->g_old = be->alloc(n);
    o->s = ts_calloc((size_t)history, sizeof(float *));
    o->y = ts_calloc((size_t)history, sizeof(float *));
    o->rho = ts_calloc((size_t)history, sizeof(double));
    o->alpha = ts_calloc((size_t)history, sizeof(double));
}

void ts_lbfgs_free(ts_lbfgs *o) {
    const ts_backend *be = o->be;
    be->free(o->g);
    be->free(o->d);
    be->free(o->g_old);
    for (int i = 0; i < o->m; i++) {
        if (o->s[i]) be->free(o->s[i]);
        if (o->y[i]) be->free(o->y[i]);
    }
    free(o->s);
    free(o->y);
    free(o->rho);
    free(o->alpha);
}

/* d = -H g by the two-loop recursion over the stored pairs (newest first, then oldest first) */
static void direction(ts_lbfgs *o) {
    const ts_backend *be = o->be;
    be->copy(o->g, o->d, o->n);
    be->scale(-1.0f, o->d, o->n);
    if (o->count == 0) return;
    for (int k = 0; k < o->count; k++) {
        int i = (o->head - 1 - k + o->m) % o->m;
        o->alpha[i] = o->rho[i] * rdot(o, o->s[i], o->d);
        be->axpy((float)-o->alpha[i], o->y[i], o->d, o->n);
    }
    int newest = (o->head - 1 + o->m) % o->m;
    double gamma = 1.0 / (o->rho[newest] * rdot(o, o->y[newest], o->y[newest]));
    be->scale((float)gamma, o->d, o->n);
    for (int k = o->count - 1; k >= 0; k--) {
        int i = (o->head - 1 - k + o->m) % o->m;
        double beta = o->rho[i] * rdot(o, o->y[i], o->d);
        be->axpy((float)(o->alpha[i] - beta), o->s[i], o->d, o->n);
    }
}

ts_step_status ts_lbfgs_step(ts_lbfgs *o, float *x, ts_eval_fn eval, void *ctx) {
    const ts_backend *be = o->be;
    if (!o->started) {
        o->f = eval(ctx, x, o->g);
        o->nevals++;
        o->started = 1;
    }
    double gg = rdot(o, o->g, o->g);
    if (gg == 0.0) return TS_STEP_CONVERGED;
    for (int attempt = 0; attempt < 2; attempt++) {
        direction(o);
        double gtd = rdot(o, o->g, o->d);
        if (!(gtd < 0.0)) { /* not a descent direction: forget the history */
            o->count = o->head = 0;
            continue;
        }
        /* first step (no curvature yet): an RMS pixel change of about 1e-3 */
        double t = 1.0;
        if (o->count == 0) {
            double ntot = (double)o->n; /* all ranks' pixels */
            if (o->hook.reduce_sum) o->hook.reduce_sum(&ntot, 1, o->hook.ctx);
            t = fmin(1.0, 1e-3 * sqrt(ntot) / sqrt(gg));
        }
        be->copy(o->g, o->g_old, o->n);
        double f0 = o->f, f = 0.0;
        int ok = 0;
        double t_prev = 0.0;
        for (int k = 0; k < MAX_LINE_EVALS; k++) {
            be->axpy((float)(t - t_prev), o->d, x, o->n); /* x = x0 + t d */
            t_prev = t;
            f = eval(ctx, x, o->g);
            o->nevals++;
            if (isfinite(f) && f <= f0 + ARMIJO_C1 * t * gtd) {
                ok = 1;
                break;
            }
            double tq = isfinite(f) ? -gtd * t * t / (2.0 * (f - f0 - gtd * t)) : 0.1 * t;
            t = fmin(fmax(tq, 0.1 * t), 0.5 * t);
        }
        if (!ok) {
            be->axpy((float)-t_prev, o->d, x, o->n); /* back to x0 */
            be->copy(o->g_old, o->g, o->n);
            if (o->count == 0) return TS_STEP_FAILED;
            o->count = o->head = 0;
            continue;
        }
        /* s = t d, y = g - g_old */
        int i = o->head;
        if (!o->s[i]) {
            o->s[i] = be->alloc(o->n);
            o->y[i] = be->alloc(o->n);
        }
        be->copy(o->d, o->s[i], o->n);
        be->scale((float)t, o->s[i], o->n);
        be->copy(o->g, o->y[i], o->n);
        be->axpy(-1.0f, o->g_old, o->y[i], o->n);
        double ys = rdot(o, o->y[i], o->s[i]);
        if (ys > 1e-10) {
            o->rho[i] = 1.0 / ys;
            o->head = (o->head + 1) % o->m;
            if (o->count < o->m) o->count++;
        }
        o->f = f;
        o->iter++;
        return TS_STEP_OK;
    }
    return TS_STEP_FAILED;
}

/* ---- as a ts_optimizer ---- */

/* sizes, position in the history ring, counters, the gradient, then each stored pair */
static void lbfgs_state_io(void *st, ts_state_io *io) {
    ts_lbfgs *o = st;
    uint64_t n = o->n;
    int m = o->m;
    io->u64(io, &n);
    io->i32(io, &m);
    if (io->loading && (n != o->n || m != o->m)) {
        io->mismatch(io, "checkpoint has %zu values and history %d; the run has %zu and %d", (size_t)n, m, o->n, o->m);
        return;
    }
    int *const counts[] = {&o->count, &o->head, &o->iter, &o->nevals, &o->started};
    ts_state_io_ints(io, counts, 5);
    io->f64(io, &o->f);
    if (o->count < 0 || o->count > m || o->head < 0 || o->head >= m) {
        io->mismatch(io, "checkpoint is truncated or does not fit this run");
        return;
    }
    io->floats(io, o->g, o->n);
    for (int i = 0; i < m; i++) {
        int present = o->s[i] != NULL;
        io->i32(io, &present);
        if (!present) continue;
        io->f64(io, &o->rho[i]);
        if (!o->s[i]) {
            o->s[i] = o->be->alloc(o->n);
            o->y[i] = o->be->alloc(o->n);
        }
        io->floats(io, o->s[i], o->n);
        io->floats(io, o->y[i], o->n);
    }
}

static void lbfgs_init(void *st, const ts_optim_params *p) { ts_lbfgs_init(st, p->be, p->n, p->history, p->hook); }
static ts_step_status lbfgs_step(void *st, float *x, ts_eval_fn eval, void *ctx) { return ts_lbfgs_step(st, x, eval, ctx); }
static void lbfgs_free(void *st) { ts_lbfgs_free(st); }

/* name, label, checkpoint id, state size, init, step, free, state_io, counters */
const ts_optimizer ts_optimizer_lbfgs = {"lbfgs", "L-BFGS", 1, sizeof(ts_lbfgs), lbfgs_init, lbfgs_step, lbfgs_free,
                                      lbfgs_state_io, offsetof(ts_lbfgs, iter), offsetof(ts_lbfgs, nevals)};
