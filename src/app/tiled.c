/* tiled.c - one image split into tiles across MPI ranks: the exact and independent modes.
 *
 * Rank 0 validates and reads everything, then broadcasts the job (loss spec, sizes, weights) and per
 * scale the style targets, and scatters each rank its tiles of the content and starting image
 * (tiled_setup.c). The optimisation is the loop of every mode (loop.h) with one of two evaluations:
 *  - exact: every evaluation fills halos from their owners, sums all tiles' partial Grams and loss
 *    sums with one allreduce, sends halo gradients back to their owners; L-BFGS/Adam run on the owned
 *    pixels with dot products summed over ranks. The result equals the single-process one.
 *  - independent: each tile (with its halo) is optimised alone against the global style targets, and
 *    rank 0 blends the tiles with raised-cosine weights. Earlier (coarse) scales run exact.
 * docs/DESIGN.md §4 describes both. */
#include "tessera/tiled.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/checkpoint.h"
#include "tessera/comm.h"
#include "tessera/log.h"
#include "tessera/loop.h"
#include "tessera/npy.h"
#include "tessera/progress.h"
#include "tessera/scatter.h"
#include "tiled_state.h"

/* ---------- the evaluations ---------- */

static double exact_eval(void *ctx, const float *x_own, float *g_own) {
    ts_tiled *st = ctx;
    ts_tiled_own_set(st, x_own, st->xe);
    ts_halo_forward(&st->plan, st->xe);
    memset(st->partials, 0, sizeof(double) * st->npartials);
    for (int i = 0; i < st->nlocal; i++) ts_objective_forward(&st->obj[i], st->xe[i], st->partials);
    ts_comm_wait_for_all(); /* time lost to the slowest forward pass: waiting, not communication */
    ts_comm_sum_double(st->partials, st->npartials);
    ts_loss_terms t = {0};
    for (int i = 0; i < st->nlocal; i++) t = ts_objective_backward(&st->obj[i], st->partials, st->xe[i], st->ge[i]);
    ts_comm_wait_for_all();
    ts_halo_reverse(&st->plan, st->ge);
    ts_tiled_own_get(st, st->ge, g_own);
    /* every rank with a tile formed the same terms from the same totals; when some ranks hold no
     * tile, rank 0 (which always holds one) tells them */
    if (ts_tiles_count(&st->grid) < st->nranks) ts_comm_bcast(&t, sizeof t, 0);
    st->last = t;
    return t.total;
}

static void sum_hook(double *v, int n, void *ctx) {
    (void)ctx;
    ts_comm_sum_double(v, (size_t)n);
}

typedef struct {
    ts_tiled *st;
    int i;
} indep_ctx;

/* one tile alone */
static double indep_eval(void *ctx, const float *x, float *g) {
    indep_ctx *c = ctx;
    ts_loss_terms t = ts_objective_eval(&c->st->obj[c->i], x, g);
    c->st->last = t;
    return t.total;
}

/* ---------- the optimisation of a scale ---------- */

/* What every mode's loop takes from the run as a whole. */
typedef struct {
    FILE *log;
    double t_start;
    ts_ckpt_ctl *ck;
    const ts_ckpt_pos *resume; /* resuming in this scale */
    int *global_iter;
} run_ctx;

static ts_loop loop_for(ts_tiled *st, const run_ctx *r, int k, size_t n, const char *label) {
    const ts_options *o = st->o;
    return (ts_loop){.optimizer = ts_optimizer_by_id(st->d.optimizer_id),
                     .params = ts_job_optim_params(o, st->be, n, (ts_reduce_hook){0}), .terms = &st->last,
                     .scale = k, .W = st->W, .H = st->H, .iterations = st->d.iterations[k], .tile = -1, .slot = -1,
                     .active = 1, .label = label, .speak = st->rank == 0 && !o->quiet, .print_every = o->print_every,
                     .log = r->log, .log_comm = 1, .t_start = r->t_start, .ck = r->ck};
}

/* All tiles' owned pixels optimised together (exact). */
static ts_loop_status optimise_exact(ts_tiled *st, int k, const run_ctx *r, ts_err *err) {
    float *x = st->be->alloc(st->nown ? st->nown : 1);
    ts_tiled_own_get(st, st->xe, x);
    char label[64];
    snprintf(label, sizeof label, "[%dx%d, %dx%d tiles]", st->W, st->H, st->d.R, st->d.C);
    ts_loop l = loop_for(st, r, k, st->nown, label);
    l.params.hook = (ts_reduce_hook){sum_hook, NULL};
    l.x = x;
    l.eval = exact_eval;
    l.ctx = st;
    l.resume = r->resume;
    l.log_base = l.ckpt_base = l.tick_base = *r->global_iter - (r->resume ? r->resume->iter : 0);
    l.saved = (ts_ckpt_data){.nblocks = 1, .blocks = &x, .sizes = &st->nown};
    ts_loop_status s = ts_loop_run(&l, err);
    *r->global_iter = l.log_base + l.done;
    ts_tiled_own_set(st, x, st->xe); /* the result back into the tiles, halos refreshed */
    ts_halo_forward(&st->plan, st->xe);
    st->be->free(x);
    return s;
}

/* Each local tile optimised alone (independent). The ranks step through their tiles in lockstep (slot
 * j, iteration it; a rank with fewer tiles idles) so that stop requests and checkpoints happen at the
 * same iteration everywhere. */
static ts_loop_status optimise_independent(ts_tiled *st, int k, const run_ctx *r, ts_err *err) {
    const ts_ckpt_pos *resume = r->resume;
    int iters = st->d.iterations[k], slots = ts_comm_max_int(st->nlocal), most = 0;
    int base = resume ? resume->global_iter - resume->tile * iters - resume->iter : *r->global_iter;
    size_t *sizes = ts_malloc(sizeof(size_t) * (size_t)(st->nlocal ? st->nlocal : 1));
    for (int i = 0; i < st->nlocal; i++) sizes[i] = ts_tile_ext_floats(&st->tile[i], 3);
    ts_loop_status s = TS_LOOP_DONE;
    for (int j = resume ? resume->tile : 0; j < slots && s == TS_LOOP_DONE; j++) {
        const ts_ckpt_pos *rp = resume && j == resume->tile ? resume : NULL;
        int active = j < st->nlocal && !(rp && !rp->active);
        char label[64];
        snprintf(label, sizeof label, "[rank 0 tile %d of %d]", st->first + j + 1, ts_tiles_count(&st->grid));
        indep_ctx c = {st, j};
        ts_loop l = loop_for(st, r, k, active ? sizes[j] : 0, label);
        l.x = active ? st->xe[j] : NULL;
        l.eval = indep_eval;
        l.ctx = &c;
        l.resume = rp;
        l.log_base = base;
        l.ckpt_base = base + j * iters;
        l.tick_base = j * iters;
        l.tile = st->first + j;
        l.slot = j;
        l.active = active;
        l.lockstep = 1;
        l.saved = (ts_ckpt_data){.nblocks = st->nlocal, .blocks = st->xe, .sizes = sizes};
        s = ts_loop_run(&l, err);
        if (l.done > most) most = l.done;
    }
    free(sizes);
    *r->global_iter = base + most;
    return s;
}

/* ---------- reporting ---------- */

/* Which backend every rank runs on, for rank 0's start-up line; rank 0 also prints the notice when
 * --backend auto left ranks on the CPU. */
static void backends_summary(const ts_tiled *st, const ts_backend_choice *ch, char *buf, size_t n) {
    double *dev = ts_malloc(sizeof(double) * (size_t)st->nranks);
    ts_comm_allgather_double(ch->device >= 0 ? ch->device : ch->fell_back ? -2 : -1, dev);
    int gpus = 0, fell = 0;
    for (int r = 0; r < st->nranks; r++) {
        gpus += dev[r] >= 0;
        fell += dev[r] == -2;
    }
    const char *kind = ch->kind ? ch->kind : "GPU"; /* the device kind asked for (one per run) */
    if (gpus == 0) snprintf(buf, n, "CPU on every rank");
    else if (gpus == st->nranks) snprintf(buf, n, "%s on every rank (rank 0: device %d %s, %s GEMMs%s)", kind, ch->device,
                                          ch->device_name, st->o->gpu_math, st->o->cuda_aware_mpi ? ", CUDA-aware MPI" : "");
    else snprintf(buf, n, "%s on %d rank%s, CPU on %d", kind, gpus, gpus == 1 ? "" : "s", st->nranks - gpus);
    if (st->rank == 0 && fell && !st->o->quiet)
        fprintf(stderr, "tessera: --backend auto: %d of %d ranks found no usable %s GPU and run on the CPU%s%s%s\n", fell,
                st->nranks, kind, ch->fell_back ? " (rank 0: " : "", ch->fell_back ? ch->why : "", ch->fell_back ? ")" : "");
    free(dev);
}

/* The end-of-run line: per-rank compute (wall minus communication, waiting and IO), communication,
 * waiting for slower ranks, rank 0's IO, the slowest rank and the halo recompute overhead. */
static void timing_summary(const ts_tiled *st, double wall, double halo_ratio) {
    double v[3] = {ts_comm_seconds(), ts_comm_wait_seconds(), st->io_seconds};
    double compute = wall - v[0] - v[1] - v[2];
    size_t n = (size_t)st->nranks;
    double *all = ts_malloc(sizeof(double) * n * 4);
    ts_comm_allgather_double(v[0], all);
    ts_comm_allgather_double(v[1], all + n);
    ts_comm_allgather_double(v[2], all + 2 * n);
    ts_comm_allgather_double(compute, all + 3 * n);
    if (st->rank == 0 && !st->o->quiet) {
        int slow = 0;
        double *cm = all, *wt = all + n, *cp = all + 3 * n;
        double cmin = cp[0], cmax = cp[0], mmax = cm[0], wmax = wt[0];
        for (int r = 1; r < st->nranks; r++) {
            if (cp[r] < cmin) cmin = cp[r];
            if (cp[r] > cmax) cmax = cp[r], slow = r;
            if (cm[r] > mmax) mmax = cm[r];
            if (wt[r] > wmax) wmax = wt[r];
        }
        fprintf(stderr,
                "tessera: %d ranks, %dx%d tiles: compute %.1f-%.1f s per rank (slowest rank %d), communication up to "
                "%.1f s, waiting for slower ranks up to %.1f s, IO %.1f s (rank 0), halo recompute +%.0f%% pixels\n",
                st->nranks, st->d.R, st->d.C, cmin, cmax, slow, mmax, wmax, all[2 * n], 100.0 * halo_ratio);
    }
    free(all);
}

static double halo_overhead(const ts_tile_grid *g) {
    double ext = 0, own = 0;
    for (int t = 0; t < ts_tiles_count(g); t++) {
        ts_tile k = ts_tiles_tile(g, t);
        ext += (double)k.ext.h * k.ext.w;
        own += (double)k.own.h * k.own.w;
    }
    return ext / own - 1.0;
}

/* ---------- the driver ---------- */

/* 1 on every rank when some rank failed (rc != 0) */
static int any_failed(int rc) { return ts_comm_max_int(rc ? 1 : 0); }

/* the scale's result into rank 0's whole image */
static void gather_result(ts_tiled *st, int blended, ts_image *result) {
    size_t n = blended ? 0 : st->nown;
    for (int i = 0; i < st->nlocal && blended; i++) n += ts_tile_ext_floats(&st->tile[i], 3);
    float *mine = ts_malloc(sizeof(float) * (n + 1)), *p = mine;
    if (blended) {
        for (int i = 0; i < st->nlocal; i++) {
            st->be->download(p, st->xe[i], ts_tile_ext_floats(&st->tile[i], 3));
            p += ts_tile_ext_floats(&st->tile[i], 3);
        }
    } else {
        float *own = st->be->alloc(st->nown ? st->nown : 1);
        ts_tiled_own_get(st, st->xe, own);
        st->be->download(mine, own, st->nown);
        st->be->free(own);
    }
    if (st->rank == 0) ts_image_alloc(result, st->W, st->H);
    if (blended) ts_gather_blended(&st->grid, 3, mine, st->d.blend == TS_BLEND_COSINE, result->data);
    else ts_gather_owned(&st->grid, 3, mine, result->data);
    free(mine);
}

/* grad at the final size: one exact evaluation, the gradient gathered into result */
static void grad_once(ts_tiled *st, ts_image *result) {
    float *g = st->be->alloc(st->nown ? st->nown : 1), *x = st->be->alloc(st->nown ? st->nown : 1);
    ts_tiled_own_get(st, st->xe, x);
    exact_eval(st, x, g);
    float *host = ts_malloc(sizeof(float) * (st->nown + 1));
    st->be->download(host, g, st->nown);
    if (st->rank == 0) ts_image_alloc(result, st->W, st->H);
    ts_gather_owned(&st->grid, 3, host, result->data);
    free(host);
    st->be->free(g);
    st->be->free(x);
}

/* Rank 0 writes what the command produces: grad's .npy and JSON line, or the output image. */
static int write_result(ts_tiled *st, ts_command cmd, const ts_job *job, ts_image *result, const ts_image *orig,
                        int global_iter, double t_start, ts_err *err) {
    const ts_options *o = st->o;
    double t_io = ts_now();
    int rc;
    if (cmd == TS_CMD_GRAD) {
        int64_t shape[3] = {3, result->h, result->w};
        rc = ts_npy_write(o->grad_out, result->data, 3, shape, err);
        if (rc == 0) ts_log_print_terms(&st->last);
    } else {
        ts_job_final_colors(job, result, orig);
        rc = ts_job_write_image(job, o->output, result, err);
        if (rc == 0 && !o->quiet)
            fprintf(stderr, "tessera: wrote %s (%dx%d): loss %.6g after %d iterations in %.1f s\n", o->output,
                    result->w, result->h, st->last.total, global_iter, ts_now() - t_start);
    }
    st->io_seconds += ts_now() - t_io;
    return rc;
}

int ts_tiled_main(ts_command cmd, ts_options *o, ts_mode mode, ts_err *err) {
    ts_tiled st;
    memset(&st, 0, sizeof st);
    st.o = o;
    st.nranks = ts_comm_size();
    st.rank = ts_comm_rank();
    st.d.mode = mode;
    double t_begin = ts_now();
    ts_job job;
    memset(&job, 0, sizeof job);
    ts_ckpt_ctl ck;
    memset(&ck, 0, sizeof ck);
    ts_ckpt_pos resume = {0};
    FILE *log = NULL;
    ts_image result = {0}, content_orig = {0};
    int rc = 0, found = 0, stopped = 0, global_iter = 0, shared = 0, timed = 0;
    double halo_ratio = 0;

    /* rank 0 reads and checks everything while the others wait; bad input stops every rank together */
    if (st.rank == 0) {
        double t_io = ts_now();
        rc = ts_job_prepare(&job, o, cmd, err);
        st.io_seconds += ts_now() - t_io;
        if (rc == 0) rc = ts_tiled_validate(&job, st.nranks, &st.d, err);
    }
    ts_comm_wait_for_all();
    if (any_failed(rc)) goto done;
    ts_tiled_share_job(&st, &job, cmd);
    shared = 1;

    /* each rank its own backend (rank 0 chose in ts_job_prepare): the GPU of its node-local rank */
    ts_backend_choice bch;
    if (st.rank == 0) {
        bch = job.backend;
    } else {
        ts_err berr;
        rc = ts_job_select_backend(o, ts_comm_local_rank(), &bch, &berr);
        if (rc) fprintf(stderr, "tessera: error: rank %d: %s\n", st.rank, berr.msg);
    }
    if (any_failed(rc)) {
        if (st.rank == 0) rc = ts_fail(err, "--backend %s: not every rank has a usable GPU (see above)", o->backend);
        goto done;
    }
    st.be = bch.be;
    char where[320];
    backends_summary(&st, &bch, where, sizeof where);
    st.be->set_threads(ts_job_threads(o->threads, ts_comm_local_size())); /* ranks on one node share its cores */
    double t_start = ts_now();
    ts_ckpt_ctl_init(&ck, o, ts_ckpt_fingerprint(o, mode, st.nranks), 1, st.rank, st.nranks);
    if (cmd == TS_CMD_RUN && ck.resume && (found = ts_ckpt_peek(&ck.cfg, &resume, err)) < 0) rc = -1;
    if (rc == 0 && st.rank == 0 && cmd == TS_CMD_RUN) rc = ts_log_open(o->log, found, &log, err);
    if (any_failed(rc)) goto done;
    timed = 1;

    char halo_desc[64];
    if (st.d.layer_halo) snprintf(halo_desc, sizeof halo_desc, "halos exchanged per layer");
    else snprintf(halo_desc, sizeof halo_desc, "halo %d px", st.d.halo);
    if (st.rank == 0 && !o->quiet)
        fprintf(stderr, "tessera: %s mode on %d ranks, %dx%d tiles, %s; %s, %s%s weights (%s preset); %s\n",
                ts_mode_name(mode), st.nranks, st.d.R, st.d.C, halo_desc, ts_arch_name(st.d.arch),
                st.d.is_random ? "random stand-in " : "", st.d.source, st.d.preset, where);
    if (found) ts_ckpt_resuming(&ck, &resume);
    if (found) {
        t_start -= resume.elapsed;
        global_iter = resume.global_iter;
    }
    for (int k = found ? resume.scale : 0; k < st.d.nscales && rc == 0 && !stopped; k++) {
        ts_image content = {0}, start = {0};
        int resuming = found && k == resume.scale;
        if (st.rank == 0) {
            ts_image_free(&content_orig);
            ts_job_content(&job, k, &content_orig, &content);
            if (resuming) ts_image_resize(&content, content.w, content.h, &start); /* the checkpoint brings the image */
            else ts_job_start(&job, k, &result, &content, &start);
        }
        int indep = mode == TS_MODE_INDEPENDENT && k == st.d.nscales - 1 && cmd == TS_CMD_RUN;
        ts_tiled_scale_setup(&st, &job, k, &content, &start, !indep);
        halo_ratio = halo_overhead(&st.grid);
        ts_image_free(&content);
        ts_image_free(&start);
        ts_image_free(&result);
        if (cmd == TS_CMD_GRAD) {
            grad_once(&st, &result);
        } else {
            run_ctx r = {log, t_start, &ck, resuming ? &resume : NULL, &global_iter};
            ts_loop_status s = indep ? optimise_independent(&st, k, &r, err) : optimise_exact(&st, k, &r, err);
            if (s == TS_LOOP_HALTED) rc = ts_fail(err, "a tile's loss became non-finite on another rank");
            else if (s == TS_LOOP_FAILED) rc = -1;
            stopped = s == TS_LOOP_STOPPED;
            if (rc == 0 && !stopped) gather_result(&st, indep, &result);
        }
        ts_tiled_scale_free(&st);
    }
    if (ts_log_close(log, o->log, rc ? NULL : err) != 0) rc = -1; /* a full disk: said by rank 0, agreed below */
    log = NULL;
    if (stopped) ts_ckpt_stopped(&ck, global_iter);
    if (rc == 0 && st.rank == 0 && !stopped)
        rc = write_result(&st, cmd, &job, &result, &content_orig, global_iter, t_start, err);

done:
    if (timed) timing_summary(&st, ts_now() - t_begin, halo_ratio);
    int any = any_failed(rc);
    ts_image_free(&result);
    ts_image_free(&content_orig);
    if (st.rank != 0 && shared) ts_vgg_weights_free(&st.wt);
    ts_job_free(&job);
    ts_ckpt_ctl_free(&ck);
    if (!any) return 0;
    return rc ? -1 : -2;
}
