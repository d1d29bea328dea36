/* loop.c - the per-scale optimisation loop of every mode (loop.h). */
#include "tessera/loop.h"

#include <math.h>
#include <stdio.h>

#include "tessera/comm.h"
#include "tessera/fault.h"
#include "tessera/log.h"
#include "tessera/progress.h"

static const char *stop_reason(ts_step_status s) {
    return s == TS_STEP_CONVERGED ? "converged" : "found no further decrease";
}

/* " (tile N)" for a tile's loop, "" otherwise */
static void tile_note(const ts_loop *l, char *buf, size_t n) {
    if (l->tile >= 0) snprintf(buf, n, " (tile %d)", l->tile);
    else buf[0] = 0;
}

ts_loop_status ts_loop_run(ts_loop *l, ts_err *err) {
    ts_optim opt = {0};
    int active = l->active, failed = 0, first = l->resume ? l->resume->iter + 1 : 1;
    char note[32];
    tile_note(l, note, sizeof note);
    if (active) ts_optim_init(&opt, l->optimizer, &l->params);
    ts_ckpt_data cd = l->saved;
    cd.opt = active ? &opt : NULL;
    if (l->resume && ts_ckpt_load(&l->ck->cfg, l->params.be, &cd, err)) {
        ts_optim_free(&opt);
        return TS_LOOP_FAILED;
    }
    ts_progress prog;
    ts_progress_start(&prog, l->label, l->iterations, l->print_every, !l->speak || !active);
    l->done = first - 1;
    l->step_seconds = 0.0;
    l->timed_steps = 0;
    double f = NAN;
    int v = 0;
    for (int it = first; it <= l->iterations; it++) {
        if (active) {
            double t0 = ts_now();
            ts_step_status s = ts_optim_step(&opt, l->x, l->eval, l->ctx);
            double dt = ts_now() - t0;
            f = ts_fault_loss(l->terms->total, l->ckpt_base + it);
            if (!isfinite(f)) {
                ts_fail(err, "loss became %s at iteration %d%s; stopping (try smaller weights or learning rate)%s%s",
                        isnan(f) ? "NaN" : "infinite", l->log_base + it, note,
                        l->ck->dir ? "; the last good checkpoint stays in " : "", l->ck->dir ? l->ck->dir : "");
                failed = 1;
            } else if (s != TS_STEP_OK) {
                if (l->speak)
                    fprintf(stderr, "\ntessera: %s %s at iteration %d of scale %d%s; moving on\n", l->optimizer->label,
                            stop_reason(s), it, l->scale + 1, note);
                if (!l->lockstep) break;
                active = 0; /* idle to the end of the scale */
            } else {
                l->done = it;
                if (it > 1) {
                    l->step_seconds += dt;
                    l->timed_steps++;
                }
                ts_log_iteration(l->log, l->log_base + it, l->scale + 1, l->W, l->H, l->terms,
                                 ts_optim_evaluations(&opt), dt, ts_now() - l->t_start,
                                 l->log_comm ? ts_comm_seconds() : -1, l->log_comm ? ts_comm_wait_seconds() : -1,
                                 l->tile);
                ts_progress_update(&prog, it, f);
                if (l->after && l->after(l->after_ctx, l->log_base + it, err)) failed = 1;
            }
        }
        cd.opt = active ? &opt : NULL;
        cd.pos = (ts_ckpt_pos){l->scale, it, l->ckpt_base + it, l->slot, active, ts_now() - l->t_start};
        v = ts_ckpt_tick(l->ck, l->params.be, &cd, l->tick_base + it, failed);
        if (v) break;
    }
    ts_progress_end(&prog, l->done, f);
    ts_optim_free(&opt);
    if (failed) return TS_LOOP_FAILED;
    return v == 1 ? TS_LOOP_STOPPED : v == 2 ? TS_LOOP_HALTED : TS_LOOP_DONE;
}
