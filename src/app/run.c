/* run.c - one image: inputs validated up front, then scales x optimiser loop, then the output. */
#include "tessera/run.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/checkpoint.h"
#include "tessera/color.h"
#include "tessera/comm.h"
#include "tessera/fault.h"
#include "tessera/npy.h"
#include "tessera/optim.h"
#include "tessera/presets.h"
#include "tessera/progress.h"
#include "tessera/rng.h"

/* ---------- preparation: everything that can be wrong with the input ---------- */

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* weights "auto": $TESSERA_WEIGHTS, ./weights/<arch>.safetensors, <binary>/../weights/<arch>.safetensors */
char *ts_find_weights(const char *arch) {
    char path[PATH_MAX + 64];
    const char *env = getenv("TESSERA_WEIGHTS");
    if (env && *env) return ts_strdup(env);
    snprintf(path, sizeof path, "weights/%s.safetensors", arch);
    if (file_exists(path)) return ts_strdup(path);
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        snprintf(path, sizeof path, "%s/../weights/%s.safetensors", exe, arch);
        if (file_exists(path)) return ts_strdup(path);
    }
    return NULL;
}

static int parse_random_seed(const char *w, uint64_t *seed) {
    if (strcmp(w, "random") == 0) {
        *seed = 0;
        return 1;
    }
    if (strncmp(w, "random:", 7) != 0) return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(w + 7, &end, 10);
    if (!w[7] || *end || errno) return -1;
    *seed = v;
    return 1;
}

static int resolve_threads(int t) {
    if (t > 0) return t;
    const char *e = getenv("OMP_NUM_THREADS");
    if (!e || !*e) e = getenv("SLURM_CPUS_PER_TASK");
    if (e && atoi(e) > 0) return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

/* output channels of layer l under these weights */
static int layer_channels(const ts_vgg_weights *wt, int l) {
    const ts_layer_desc *t;
    ts_vgg_table(wt->arch, &t);
    int c = 3;
    for (int i = 0; i <= l; i++)
        if (t[i].kind == TS_LAYER_CONV) c = wt->out_c[t[i].conv];
    return c;
}

static int convs_upto(ts_arch arch, int l) {
    const ts_layer_desc *t;
    ts_vgg_table(arch, &t);
    int n = 0;
    for (int i = 0; i <= l; i++) n += t[i].kind == TS_LAYER_CONV;
    return n;
}

static int parse_layers(ts_arch arch, char **names, int n, int *idx, const char *what, ts_err *err) {
    for (int i = 0; i < n; i++) {
        idx[i] = ts_vgg_find(arch, names[i]);
        if (idx[i] < 0)
            return ts_fail(err, "--%s: \"%s\" is not a layer of %s (names: conv1_1, relu1_1, pool1, ... relu5_%d)",
                           what, names[i], ts_arch_name(arch), arch == TS_VGG16 ? 3 : 4);
        for (int j = 0; j < i; j++)
            if (idx[j] == idx[i]) return ts_fail(err, "--%s: layer %s is listed twice", what, names[i]);
    }
    return 0;
}

static int check_size(const ts_job *job, int w, int h, int deepest, const char *what, ts_err *err) {
    int s = ts_vgg_layer_stride(job->arch, deepest);
    if (w / s < 1 || h / s < 1)
        return ts_fail(err, "%s at %dx%d is too small: layer %s needs at least %d px on each side", what, w, h,
                       job->net_layer_name, s);
    if ((size_t)w * (size_t)h > (size_t)job->opt->max_pixels)
        return ts_fail(err, "%s at %dx%d is over the pixel limit %ld (--max-pixels)", what, w, h, job->opt->max_pixels);
    return 0;
}

int ts_job_select_backend(const ts_options *o, int local_rank, ts_backend_choice *ch, ts_err *err) {
    ts_gpu_math math = TS_GPU_MATH_FP32;
    if (ts_gpu_math_parse(o->gpu_math, &math)) return ts_fail(err, "--gpu-math must be fp32 or tf32");
    if (o->cuda_aware_mpi) {
        char why[256];
        if (strcmp(o->backend, "cpu") == 0) return ts_fail(err, "--cuda-aware-mpi needs --backend cuda or auto");
        if (!ts_comm_cuda_aware(why, sizeof why))
            return ts_fail(err, "--cuda-aware-mpi: the MPI library does not support GPU buffers: %s (leave the flag out: "
                                "halos then go through pinned host memory)", why);
    }
    if (ts_backend_select(o->backend, local_rank, math, ch)) return ts_fail(err, "%s", ch->why);
    return 0;
}

void ts_job_backend_notice(const ts_job *job) {
    if (job->backend.fell_back && !job->opt->quiet)
        fprintf(stderr, "tessera: --backend auto: no usable CUDA GPU (%s); running on the CPU\n", job->backend.why);
}

void ts_backend_describe(const ts_backend_choice *ch, const char *gpu_math, int threads, char *buf, size_t n) {
    if (ch->device >= 0) snprintf(buf, n, "CUDA device %d %s, %s GEMMs", ch->device, ch->device_name, gpu_math);
    else snprintf(buf, n, "CPU, %d thread%s", threads, threads == 1 ? "" : "s");
}

int ts_job_prepare(ts_job *job, ts_options *o, int need_output, ts_err *err) {
    memset(job, 0, sizeof *job);
    job->opt = o;
    if (!o->content) return ts_fail(err, "--content is required (see --help)");
    if (o->nstyle < 1) return ts_fail(err, "--style is required (see --help)");
    if (need_output && !o->output) return ts_fail(err, "--output is required (see --help)");
    if (!need_output && !o->grad_out) return ts_fail(err, "--grad-out is required (see --help)");
    if (!need_output && ts_image_format_from_name(o->grad_out) != TS_FMT_NPY)
        return ts_fail(err, "%s: --grad-out must name a .npy file", o->grad_out);
    if (!need_output && !ts_options_given(o, "init"))
        return ts_fail(err, "--init is required for grad (content, random or an image file)");
    if (ts_arch_parse(o->arch, &job->arch)) return ts_fail(err, "--arch must be vgg16 or vgg19");
    job->pool = strcmp(o->pool, "avg") == 0 ? TS_POOL_AVG : TS_POOL_MAX;
    if (ts_conv_algo_parse(o->conv, &job->conv)) return ts_fail(err, "--conv must be auto, im2col or winograd");
    if (ts_job_select_backend(o, ts_comm_local_rank(), &job->backend, err)) return -1;
    job->be = job->backend.be;
    if (o->nstyle_blend_weights && o->nstyle_blend_weights != o->nstyle)
        return ts_fail(err, "--style-blend-weights has %d values for %d style images", o->nstyle_blend_weights,
                       o->nstyle);
    if (o->nstyle_blend_weights) {
        double s = 0;
        for (int i = 0; i < o->nstyle_blend_weights; i++) s += o->style_blend_weights[i];
        if (!(s > 0)) return ts_fail(err, "--style-blend-weights must not all be zero");
    }
    if (o->nlayer_weights && o->nlayer_weights != o->nstyle_layers)
        return ts_fail(err, "--layer-weights has %d values for %d style layers", o->nlayer_weights, o->nstyle_layers);

    /* which weights: a file, or the random stand-in (which has its own preset) */
    uint64_t seed = 0;
    char *path = NULL;
    if (strcmp(o->weights, "auto") == 0) {
        path = ts_find_weights(o->arch);
        job->weights_missing = !path;
    } else {
        int r = parse_random_seed(o->weights, &seed);
        if (r < 0) return ts_fail(err, "--weights %s: expected random:SEED with a whole number", o->weights);
        if (r == 0) path = ts_strdup(o->weights);
    }
    job->weights_path = path; /* freed with the job */
    const char *preset_name = path ? NULL : "random";
    if (preset_name && !ts_options_given(o, "content-layers")) {
        /* the random network's relu4_2 barely tells pictures apart: its preset reads content earlier */
        free(o->content_layers[0]);
        for (int i = 1; i < o->ncontent_layers; i++) free(o->content_layers[i]);
        o->content_layers[0] = ts_strdup(ts_preset_get("random")->content_layer);
        o->ncontent_layers = 1;
    }

    /* layers */
    ts_loss_spec *sp = &job->spec;
    sp->nstyle = o->nstyle_layers;
    sp->ncontent = o->ncontent_layers;
    if (parse_layers(job->arch, o->style_layers, o->nstyle_layers, sp->style_layer, "style-layers", err)) return -1;
    if (parse_layers(job->arch, o->content_layers, o->ncontent_layers, sp->content_layer, "content-layers", err))
        return -1;
    if (sp->nstyle + sp->ncontent == 0) return ts_fail(err, "no loss layers: give --style-layers or --content-layers");
    int deepest = ts_loss_spec_deepest(sp);
    const ts_layer_desc *tab;
    ts_vgg_table(job->arch, &tab);
    snprintf(job->net_layer_name, sizeof job->net_layer_name, "%s", tab[deepest].name);

    /* scales and iterations */
    if (o->nscales) {
        for (int i = 1; i < o->nscales; i++)
            if (o->scales[i] <= o->scales[i - 1]) return ts_fail(err, "--scales must increase (coarse to fine)");
        if (ts_options_given(o, "size") && o->scales[o->nscales - 1] != o->size)
            return ts_fail(err, "--scales must end at --size (%d), not %d", o->size, o->scales[o->nscales - 1]);
        job->nscales = o->nscales;
        memcpy(job->scales, o->scales, sizeof(int) * (size_t)o->nscales);
    } else {
        job->nscales = 1;
        job->scales[0] = o->size;
    }
    if (o->niterations != 1 && o->niterations != job->nscales)
        return ts_fail(err, "--iterations has %d values for %d scales (give one, or one per scale)", o->niterations,
                       job->nscales);
    for (int i = 0; i < job->nscales; i++) job->iterations[i] = o->iterations[o->niterations == 1 ? 0 : i];

    /* outputs: a known format and an existing directory, checked before any work */
    if (need_output) {
        if (ts_image_format_from_name(o->output) == TS_FMT_UNKNOWN ||
            ts_image_format_from_name(o->output) == TS_FMT_NPY)
            return ts_fail(err, "%s: output name must end in .png, .jpg, .jpeg, .tif or .tiff", o->output);
        if (o->output_bits != 8 && o->output_bits != 16) return ts_fail(err, "--output-bits must be 8 or 16");
    }
    const char *outs[3] = {need_output ? o->output : o->grad_out, o->log, NULL};
    for (int i = 0; i < 2; i++) {
        if (!outs[i]) continue;
        char dir[PATH_MAX];
        snprintf(dir, sizeof dir, "%s", outs[i]);
        char *slash = strrchr(dir, '/');
        if (!slash) strcpy(dir, ".");
        else if (slash == dir) dir[1] = 0;
        else *slash = 0;
        struct stat st;
        if (stat(outs[i], &st) == 0 && S_ISDIR(st.st_mode))
            return ts_fail(err, "%s: is a directory, not a file name", outs[i]);
        if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
            return ts_fail(err, "%s: directory %s does not exist", outs[i], dir);
        if (access(dir, W_OK) != 0) return ts_fail(err, "%s: directory %s is not writable", outs[i], dir);
    }
    job->threads = resolve_threads(o->threads);

    /* images */
    if (ts_image_read(o->content, (size_t)o->max_pixels, &job->content, err)) return -1;
    for (int s = 0; s < o->nstyle; s++) {
        if (ts_image_read(o->style[s], (size_t)o->max_pixels, &job->style[s], err)) return -1;
        job->nstyle++;
    }
    if (strcmp(o->init, "content") != 0 && strcmp(o->init, "random") != 0) {
        if (ts_image_read(o->init, (size_t)o->max_pixels, &job->init, err)) return -1;
    }
    for (int k = 0; k < job->nscales; k++) {
        int w, h;
        char what[PATH_MAX + 32];
        ts_image_fit_long_side(job->content.w, job->content.h, job->scales[k], &w, &h);
        snprintf(what, sizeof what, "content %s", o->content);
        if (check_size(job, w, h, deepest, what, err)) return -1;
        int sl = (int)lround(job->scales[k] * o->style_scale);
        for (int s = 0; s < job->nstyle; s++) {
            ts_image_fit_long_side(job->style[s].w, job->style[s].h, sl, &w, &h);
            snprintf(what, sizeof what, "style %s", o->style[s]);
            if (check_size(job, w, h, deepest, what, err)) return -1;
        }
    }

    int nconv = convs_upto(job->arch, deepest);
    if (path) {
        if (ts_vgg_weights_load(path, job->arch, nconv, &job->weights, err)) return -1;
    } else {
        ts_vgg_weights_random(job->arch, seed, nconv, &job->weights);
        if (job->weights_missing && !o->quiet) /* said once the input is known to be good */
            fprintf(stderr, "tessera: no %s weights found (weights/%s.safetensors or $TESSERA_WEIGHTS); using the "
                            "random stand-in network random:0, which transfers texture and colour visibly weaker "
                            "than ImageNet weights (see weights/README.md)\n",
                    o->arch, o->arch);
    }
    if (strcmp(o->preprocess, "auto") == 0) job->preproc = job->weights.preproc;
    else if (strcmp(o->preprocess, "caffe") == 0) job->preproc = TS_PREPROC_CAFFE;
    else job->preproc = TS_PREPROC_TORCHVISION;

    /* loss weights: the user's, else the preset of this kind of weights */
    job->preset = job->weights.is_random ? "random" : ts_preproc_name(job->weights.preproc);
    const ts_preset *pr = ts_preset_get(job->preset);
    sp->alpha = isnan(o->content_weight) ? pr->content_weight : o->content_weight;
    sp->beta = isnan(o->style_weight) ? pr->style_weight : o->style_weight;
    sp->gamma = isnan(o->tv_weight) ? pr->tv_weight : o->tv_weight;
    for (int i = 0; i < sp->nstyle; i++) {
        double C = layer_channels(&job->weights, sp->style_layer[i]);
        sp->style_lambda[i] = o->nlayer_weights ? o->layer_weights[i] : pr->layer_scale / (C * C);
    }
    return 0;
}

void ts_job_free(ts_job *job) {
    ts_image_free(&job->content);
    for (int s = 0; s < job->nstyle; s++) ts_image_free(&job->style[s]);
    ts_image_free(&job->init);
    ts_vgg_weights_free(&job->weights);
    free(job->weights_path);
}

/* ---------- the optimisation ---------- */

typedef struct {
    ts_job *job;
    ts_vgg net;
    ts_objective obj;
    float *x; /* backend memory */
    int W, H;
    ts_image content_scaled; /* original colours at the current scale */
} ts_state;

static double eval_cb(void *ctx, const float *x, float *grad) {
    ts_state *st = ctx;
    return ts_objective_eval(&st->obj, x, grad).total;
}

static float *upload_image(const ts_backend *be, const ts_image *img) {
    size_t n = ts_numel(3, img->h, img->w);
    float *d = be->alloc(n);
    be->upload(d, img->data, n);
    return d;
}

void ts_job_scale_size(const ts_job *job, int k, int *W, int *H) {
    ts_image_fit_long_side(job->content.w, job->content.h, job->scales[k], W, H);
}

void ts_job_content(const ts_job *job, int k, ts_image *orig, ts_image *for_loss) {
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    ts_image_resize(&job->content, W, H, orig);
    ts_image_resize(orig, W, H, for_loss);
    if (job->opt->luminance_only) ts_color_to_luminance(for_loss->data, (size_t)W * H);
}

void ts_job_style_image(const ts_job *job, int k, int s, ts_image *out) {
    const ts_options *o = job->opt;
    int sl = (int)lround(job->scales[k] * o->style_scale), w, h;
    ts_image_fit_long_side(job->style[s].w, job->style[s].h, sl, &w, &h);
    ts_image_resize(&job->style[s], w, h, out);
    if (o->luminance_only) ts_color_to_luminance(out->data, (size_t)w * h);
}

double ts_job_style_weight(const ts_job *job, int s) {
    const ts_options *o = job->opt;
    if (!o->nstyle_blend_weights) return 1.0 / job->nstyle;
    double sum = 0;
    for (int i = 0; i < o->nstyle_blend_weights; i++) sum += o->style_blend_weights[i];
    return o->style_blend_weights[s] / sum;
}

void ts_job_style_targets(ts_job *job, ts_objective *obj, int k) {
    const ts_options *o = job->opt;
    const ts_backend *be = job->be;
    float *sd[TS_MAX_LIST];
    int sw[TS_MAX_LIST], sh[TS_MAX_LIST];
    for (int s = 0; s < job->nstyle; s++) {
        ts_image si;
        ts_job_style_image(job, k, s, &si);
        sw[s] = si.w;
        sh[s] = si.h;
        sd[s] = upload_image(be, &si);
        ts_image_free(&si);
    }
    ts_objective_set_style(obj, (const float *const *)sd, sh, sw,
                           o->nstyle_blend_weights ? o->style_blend_weights : NULL, job->nstyle);
    for (int s = 0; s < job->nstyle; s++) be->free(sd[s]);
}

void ts_job_start(const ts_job *job, int k, const ts_image *prev, const ts_image *content_for_loss, ts_image *start) {
    const ts_options *o = job->opt;
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    if (k > 0) { /* upsample the previous scale's result */
        ts_image_resize(prev, W, H, start);
    } else if (strcmp(o->init, "content") == 0) {
        ts_image_resize(content_for_loss, W, H, start);
    } else if (strcmp(o->init, "random") == 0) {
        ts_image_alloc(start, W, H);
        uint64_t s = (uint64_t)o->seed * 0x9E3779B97F4A7C15ull + 1;
        for (size_t i = 0; i < ts_numel(3, H, W); i++) start->data[i] = (float)ts_rng_uniform(&s);
    } else {
        ts_image_resize(&job->init, W, H, start);
    }
}

void ts_job_final_colors(const ts_job *job, ts_image *img, const ts_image *content_orig) {
    if (job->opt->original_colors || job->opt->luminance_only)
        ts_color_combine(img->data, content_orig->data, img->data, (size_t)img->w * img->h);
}

/* Sets up targets for scale k and the starting image (from the previous scale when k > 0). */
static void setup_scale(ts_state *st, int k) {
    ts_job *job = st->job;
    const ts_backend *be = job->be;
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    ts_image_free(&st->content_scaled);
    ts_image c, start = {0}, prev = {0};
    ts_job_content(job, k, &st->content_scaled, &c);
    ts_job_style_targets(job, &st->obj, k);
    float *cd = upload_image(be, &c);
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
    st->x = upload_image(be, &start);
    ts_image_free(&start);
    ts_image_free(&c);
    st->W = W;
    st->H = H;
}

static void state_init(ts_state *st, ts_job *job) {
    memset(st, 0, sizeof *st);
    st->job = job;
    job->be->set_threads(job->threads);
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&job->spec, keep);
    ts_vgg_init(&st->net, job->be, &job->weights, job->pool, job->preproc, ts_loss_spec_deepest(&job->spec), keep);
    if (job->conv != TS_CONV_AUTO) ts_vgg_set_conv(&st->net, job->conv);
    ts_objective_init(&st->obj, &st->net, &job->spec);
}

static void state_free(ts_state *st) {
    if (st->x) st->job->be->free(st->x);
    ts_objective_free(&st->obj);
    ts_vgg_free(&st->net);
    ts_image_free(&st->content_scaled);
}

/* The image as it will be written: colours put back if asked. */
static void final_image(ts_state *st, ts_image *out) {
    ts_image_alloc(out, st->W, st->H);
    st->job->be->download(out->data, st->x, ts_numel(3, st->H, st->W));
    ts_job_final_colors(st->job, out, &st->content_scaled);
}

static char *iter_name(const char *output, int iter) {
    size_t n = strlen(output) + 32;
    char *s = ts_malloc(n);
    const char *dot = strrchr(output, '.'), *slash = strrchr(output, '/');
    if (!dot || (slash && dot < slash)) dot = output + strlen(output);
    snprintf(s, n, "%.*s_iter%d%s", (int)(dot - output), output, iter, dot);
    return s;
}

/* errno of the first --log line that could not be written (stdio drops the line, so fclose cannot tell) */
static int g_log_errno;

int ts_log_close(FILE *log, const char *path, ts_err *err) {
    if (!log) return 0;
    int bad = ferror(log), e = g_log_errno;
    if (fclose(log) != 0) {
        bad = 1;
        if (!e) e = errno;
    }
    g_log_errno = 0;
    if (bad) return ts_fail(err, "%s: cannot write the log: %s", path, e ? strerror(e) : "a write failed");
    return 0;
}

void ts_log_iteration(FILE *log, int iter, int scale, int W, int H, ts_loss_terms t, int evals, double seconds,
                      double elapsed, double comm, double wait, int tile) {
    if (!log) return;
    fprintf(log,
            "{\"iteration\": %d, \"scale\": %d, \"width\": %d, \"height\": %d, \"total\": %.10g, \"content\": %.10g, "
            "\"style\": %.10g, \"tv\": %.10g, \"evaluations\": %d, \"seconds\": %.4f, \"elapsed\": %.3f",
            iter, scale, W, H, t.total, t.content, t.style, t.tv, evals, seconds, elapsed);
    if (comm >= 0) fprintf(log, ", \"communication\": %.4f", comm);
    if (wait >= 0) fprintf(log, ", \"waiting\": %.4f", wait);
    if (tile >= 0) fprintf(log, ", \"tile\": %d", tile);
    fputs("}\n", log);
    if (fflush(log) != 0 && !g_log_errno) g_log_errno = errno;
}

int ts_job_run(ts_job *job, ts_err *err) {
    ts_options *o = job->opt;
    ts_state st;
    ts_ckpt_ctl ck;
    ts_ckpt_ctl_init(&ck, o, ts_ckpt_fingerprint(o, 0, 1), 0, 0, 1);
    ts_ckpt_pos resume = {0};
    int found = 0;
    if (ck.resume && (found = ts_ckpt_peek(&ck.cfg, &resume, err)) < 0) {
        ts_ckpt_ctl_free(&ck);
        return -1;
    }
    FILE *log = NULL;
    if (o->log) {
        log = fopen(o->log, found ? "a" : "w");
        if (!log) {
            ts_ckpt_ctl_free(&ck);
            return ts_fail(err, "%s: cannot write log: %s", o->log, strerror(errno));
        }
    }
    state_init(&st, job);
    ts_image_write_opts wopts = {.bits = o->output_bits, .quality = 95};
    double t_start = ts_now() - (found ? resume.elapsed : 0.0);
    int global_iter = found ? resume.global_iter : 0, total_iters = 0, rc = 0, stopped = 0;
    for (int k = 0; k < job->nscales; k++) total_iters += job->iterations[k];
    char where[256];
    ts_backend_describe(&job->backend, o->gpu_math, job->threads, where, sizeof where);
    ts_job_backend_notice(job);
    if (!o->quiet)
        fprintf(stderr, "tessera: %s, %s%s weights (%s, %s preset), %s, %d scale%s, %d iterations\n",
                ts_arch_name(job->arch), job->weights.is_random ? "random stand-in " : "", job->weights.source, ts_preproc_name(job->preproc), job->preset,
                where, job->nscales, job->nscales == 1 ? "" : "s", total_iters);
    double iter_seconds = 0.0;
    int timed_iters = 0;
    if (found) /* said even with --quiet: the result continues an earlier run */
        fprintf(stderr, "tessera: resuming from %s/%s: scale %d, iteration %d\n", ck.dir, ck.cfg.gen,
                resume.scale + 1, resume.global_iter);
    for (int k = found ? resume.scale : 0; k < job->nscales && rc == 0 && !stopped; k++) {
        setup_scale(&st, k);
        size_t n = ts_numel(3, st.H, st.W);
        char label[64];
        snprintf(label, sizeof label, "[%dx%d]", st.W, st.H);
        ts_progress prog;
        ts_progress_start(&prog, label, job->iterations[k], o->print_every, o->quiet);
        ts_lbfgs lb;
        ts_adam ad;
        int use_adam = strcmp(o->optimizer, "adam") == 0;
        if (use_adam) ts_adam_init(&ad, job->be, n, (float)o->learning_rate);
        else ts_lbfgs_init(&lb, job->be, n, o->lbfgs_history, (ts_reduce_hook){0});
        ts_ckpt_data cd = {.lbfgs = use_adam ? NULL : &lb, .adam = use_adam ? &ad : NULL, .nblocks = 1,
                           .blocks = &st.x, .sizes = &n};
        int it0 = 1;
        if (found && k == resume.scale) {
            if (ts_ckpt_load(&ck.cfg, job->be, &cd, err)) rc = -1;
            it0 = resume.iter + 1;
        }
        double f = NAN;
        for (int it = it0; it <= job->iterations[k] && rc == 0; it++) {
            double t0 = ts_now();
            ts_step_status s = use_adam ? ts_adam_step(&ad, st.x, eval_cb, &st) : ts_lbfgs_step(&lb, st.x, eval_cb, &st);
            double dt = ts_now() - t0;
            ts_loss_terms t = st.obj.last;
            f = ts_fault_loss(t.total, global_iter + 1);
            if (!isfinite(f)) {
                rc = ts_fail(err, "loss became %s at iteration %d; stopping (try smaller weights or learning rate)%s%s",
                             isnan(f) ? "NaN" : "infinite", global_iter + 1,
                             ck.dir ? "; the last good checkpoint stays in " : "", ck.dir ? ck.dir : "");
                break;
            }
            if (s != TS_STEP_OK) {
                if (!o->quiet)
                    fprintf(stderr, "\ntessera: L-BFGS %s at iteration %d of scale %d; moving on\n",
                            s == TS_STEP_CONVERGED ? "converged" : "found no further decrease", it, k + 1);
                break;
            }
            global_iter++;
            if (it > 1) {
                iter_seconds += dt;
                timed_iters++;
            }
            ts_log_iteration(log, global_iter, k + 1, st.W, st.H, t, use_adam ? ad.nevals : lb.nevals, dt,
                             ts_now() - t_start, -1, -1, -1);
            ts_progress_update(&prog, it, f);
            if (o->save_every > 0 && global_iter % o->save_every == 0) {
                ts_image img;
                final_image(&st, &img);
                char *name = iter_name(o->output, global_iter);
                if (ts_image_write(name, &img, &wopts, err)) rc = -1;
                free(name);
                ts_image_free(&img);
                if (rc) break;
            }
            cd.pos = (ts_ckpt_pos){k, it, global_iter, -1, 1, ts_now() - t_start};
            if (ts_ckpt_tick(&ck, job->be, &cd, global_iter, 0)) {
                stopped = 1;
                break;
            }
        }
        ts_progress_end(&prog, use_adam ? ad.iter : lb.iter, f);
        if (use_adam) ts_adam_free(&ad);
        else ts_lbfgs_free(&lb);
    }
    if (ts_log_close(log, o->log, rc ? NULL : err) != 0) rc = -1; /* e.g. a full disk: no output then */
    if (stopped) ts_ckpt_stopped(&ck, global_iter);
    if (rc == 0 && !stopped) {
        ts_image img;
        final_image(&st, &img);
        rc = ts_image_write(o->output, &img, &wopts, err);
        ts_image_free(&img);
        if (rc == 0 && !o->quiet)
            fprintf(stderr, "tessera: wrote %s (%dx%d): loss %.6g after %d iterations in %.1f s (%.3f s/iteration)\n",
                    o->output, st.W, st.H, st.obj.last.total, global_iter, ts_now() - t_start,
                    timed_iters ? iter_seconds / timed_iters : 0.0);
    }
    state_free(&st);
    ts_ckpt_ctl_free(&ck);
    return rc;
}

int ts_job_grad(ts_job *job, ts_err *err) {
    ts_state st;
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
    if (rc == 0) {
        printf("{\"total\": %.12g, \"content\": %.12g, \"style\": %.12g, \"tv\": %.12g}\n", t.total, t.content,
               t.style, t.tv);
        fflush(stdout);
    }
    free(host);
    job->be->free(g);
    state_free(&st);
    return rc;
}
