/* single.c - one process optimises the whole image: per scale the targets and start image, then the
 * optimisation loop (loop.h); intermediate images, the output, and the grad command. */
#include "tessera/single.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/checkpoint.h"
#include "tessera/log.h"
#include "tessera/loop.h"
#include "tessera/npy.h"
#include "tessera/progress.h"

typedef struct {
    ts_job *job;
    ts_vgg net;
    ts_objective obj;
    float *x; /* backend memory */
    int W, H;
    ts_image content_scaled; /* original colours at the current scale */
} single_state;

static double eval_cb(void *ctx, const float *x, float *grad) {
    single_state *st = ctx;
    return ts_objective_eval(&st->obj, x, grad).total;
}

/* Sets up targets for scale k and the starting image (from the previous scale when k > 0). */
static void setup_scale(single_state *st, int k) {
    ts_job *job = st->job;
    const ts_backend *be = job->be;
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    ts_image_free(&st->content_scaled);
    ts_image c, start = {0}, prev = {0};
    ts_job_content(job, k, &st->content_scaled, &c);
    ts_job_style_targets(job, &st->obj, k);
    if (job->nmasks) {
        ts_mask_set m;
        ts_job_masks(job, k, &m);
        ts_objective_set_masks(&st->obj, &m);
        ts_mask_set_free(&m);
    }
    float *cd = ts_job_upload(be, &c);
    ts_objective_set_content(&st->obj, cd, H, W);
    be->free(cd);
    if (k > 0 && st->x) {
        ts_image_alloc(&prev, st->W, st->H);
        be->download(prev.data, st->x, ts_numel(3, st->H, st->W));
    }
    if (k > 0 && !st->x) ts_image_resize(&c, W, H, &start); /* resuming: the checkpoint brings the image */
    else ts_job_start(job, k, &prev, &c, &start);
    ts_image_free(&prev);
    if (st->x) be->free(st->x);
    st->x = ts_job_upload(be, &start);
    ts_image_free(&start);
    ts_image_free(&c);
    st->W = W;
    st->H = H;
}

static void state_init(single_state *st, ts_job *job) {
    memset(st, 0, sizeof *st);
    st->job = job;
    job->be->set_threads(job->threads);
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&job->spec, keep);
    ts_vgg_init(&st->net, job->be, &job->weights, job->pool, job->preproc, ts_loss_spec_deepest(&job->spec), keep);
    if (job->conv != TS_CONV_AUTO) ts_vgg_set_conv(&st->net, job->conv);
    ts_objective_init(&st->obj, &st->net, &job->spec);
}

static void state_free(single_state *st) {
    if (st->x) st->job->be->free(st->x);
    ts_objective_free(&st->obj);
    ts_vgg_free(&st->net);
    ts_image_free(&st->content_scaled);
}

/* The image as it will be written: colours put back if asked. */
static void final_image(single_state *st, ts_image *out) {
    ts_image_alloc(out, st->W, st->H);
    st->job->be->download(out->data, st->x, ts_numel(3, st->H, st->W));
    ts_job_final_colors(st->job, out, &st->content_scaled);
}


/* --save-every: OUTPUT_iterN beside the output, every N iterations */
static int save_intermediate(void *ctx, int n, ts_err *err) {
    single_state *st = ctx;
    const ts_options *o = st->job->opt;
    if (o->save_every <= 0 || n % o->save_every != 0) return 0;
    size_t len = strlen(o->output) + 32;
    char *name = ts_malloc(len);
    const char *dot = strrchr(o->output, '.'), *slash = strrchr(o->output, '/');
    if (!dot || (slash && dot < slash)) dot = o->output + strlen(o->output);
    snprintf(name, len, "%.*s_iter%d%s", (int)(dot - o->output), o->output, n, dot);
    ts_image img;
    final_image(st, &img);
    int rc = ts_job_write_image(st->job, name, &img, err);
    free(name);
    ts_image_free(&img);
    return rc;
}

int ts_single_run(ts_job *job, ts_err *err) {
    ts_options *o = job->opt;
    ts_ckpt_ctl ck;
    ts_ckpt_ctl_init(&ck, o, ts_ckpt_fingerprint(o, TS_MODE_SINGLE, 1), 0, 0, 1);
    ts_ckpt_pos resume = {0};
    int found = 0;
    FILE *log = NULL;
    if ((ck.resume && (found = ts_ckpt_peek(&ck.cfg, &resume, err)) < 0) || ts_log_open(o->log, found, &log, err)) {
        ts_ckpt_ctl_free(&ck);
        return -1;
    }
    single_state st;
    state_init(&st, job);
    double t_start = ts_now() - (found ? resume.elapsed : 0.0);
    int global_iter = found ? resume.global_iter : 0, total_iters = 0, rc = 0, stopped = 0, timed = 0;
    double timed_seconds = 0.0;
    for (int k = 0; k < job->nscales; k++) total_iters += job->iterations[k];
    char where[256];
    ts_backend_describe(&job->backend, o->gpu_math, job->threads, where, sizeof where);
    ts_job_backend_notice(job);
    if (!o->quiet)
        fprintf(stderr, "tessera: %s, %s%s weights (%s, %s preset), %s, %d scale%s, %d iterations\n",
                ts_arch_name(job->arch), job->weights.is_random ? "random stand-in " : "", job->weights.source,
                ts_preproc_name(job->preproc), job->preset, where, job->nscales, job->nscales == 1 ? "" : "s",
                total_iters);
    if (found) ts_ckpt_resuming(&ck, &resume);
    for (int k = found ? resume.scale : 0; k < job->nscales && rc == 0 && !stopped; k++) {
        setup_scale(&st, k);
        size_t n = ts_numel(3, st.H, st.W);
        char label[64];
        snprintf(label, sizeof label, "[%dx%d]", st.W, st.H);
        const ts_ckpt_pos *rp = found && k == resume.scale ? &resume : NULL;
        int base = global_iter - (rp ? rp->iter : 0);
        ts_loop l = {.optimizer = job->optimizer, .params = ts_job_optim_params(o, job->be, n, (ts_reduce_hook){0}),
                     .x = st.x, .eval = eval_cb, .ctx = &st, .terms = &st.obj.last,
                     .scale = k, .W = st.W, .H = st.H, .iterations = job->iterations[k],
                     .log_base = base, .ckpt_base = base, .tick_base = base, .tile = -1, .slot = -1, .active = 1,
                     .resume = rp, .label = label, .speak = !o->quiet, .print_every = o->print_every, .log = log,
                     .t_start = t_start, .ck = &ck, .saved = {.nblocks = 1, .blocks = &st.x, .sizes = &n},
                     .after = save_intermediate, .after_ctx = &st};
        ts_loop_status s = ts_loop_run(&l, err);
        global_iter = base + l.done;
        timed_seconds += l.step_seconds;
        timed += l.timed_steps;
        if (s == TS_LOOP_FAILED || s == TS_LOOP_HALTED) rc = -1;
        stopped = s == TS_LOOP_STOPPED;
    }
    if (ts_log_close(log, o->log, rc ? NULL : err) != 0) rc = -1; /* e.g. a full disk: no output then */
    if (stopped) ts_ckpt_stopped(&ck, global_iter);
    if (rc == 0 && !stopped) {
        ts_image img;
        final_image(&st, &img);
        rc = ts_job_write_image(job, o->output, &img, err);
        ts_image_free(&img);
        if (rc == 0 && !o->quiet)
            fprintf(stderr, "tessera: wrote %s (%dx%d): loss %.6g after %d iterations in %.1f s (%.3f s/iteration)\n",
                    o->output, st.W, st.H, st.obj.last.total, global_iter, ts_now() - t_start,
                    timed ? timed_seconds / timed : 0.0);
    }
    state_free(&st);
    ts_ckpt_ctl_free(&ck);
    return rc;
}

int ts_single_grad(ts_job *job, ts_err *err) {
    single_state st;
    ts_job_backend_notice(job);
    state_init(&st, job);
    setup_scale(&st, job->nscales - 1);
    /* grad evaluates at --init itself, at the final size */
    size_t n = ts_numel(3, st.H, st.W);
    float *g = job->be->alloc(n);
    ts_loss_terms t = ts_objective_eval(&st.obj, st.x, g);
    float *host = ts_malloc(sizeof(float) * n);
    job->be->download(host, g, n);
    int64_t shape[3] = {3, st.H, st.W};
    int rc = ts_npy_write(job->opt->grad_out, host, 3, shape, err);
    if (rc == 0) ts_log_print_terms(&t);
    free(host);
    job->be->free(g);
    state_free(&st);
    return rc;
}
