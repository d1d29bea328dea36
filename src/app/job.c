/* job.c - the job model: inputs validated and read up front, enumerated options resolved, and the
 * per-scale pieces (content, style targets, start image) that every driver uses. */
#include "tessera/job.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tessera/color.h"
#include "tessera/comm.h"
#include "tessera/presets.h"
#include "tessera/rng.h"

/* ---------- enumerated options: names in the order of each enum ---------- */

static const char *const MODE_NAMES[] = {"single", "independent", "exact", "auto"};
static const char *const BLEND_NAMES[] = {"cosine", "none"};
static const char *const HALO_XCHG_NAMES[] = {"auto", "image", "layer"};
static const char *const INIT_NAMES[] = {"content", "random"}; /* anything else names an image */
static const char *const POOL_NAMES[] = {[TS_POOL_MAX] = "max", [TS_POOL_AVG] = "avg"};
enum { PREPROCESS_AUTO = 2 };
static const char *const PREPROCESS_NAMES[] = {[TS_PREPROC_TORCHVISION] = "torchvision", [TS_PREPROC_CAFFE] = "caffe",
                                               [PREPROCESS_AUTO] = "auto"};
#define NNAMES(a) ((int)(sizeof a / sizeof a[0]))

int ts_choice(const char *value, const char *const *names, int n) {
    for (int i = 0; i < n; i++)
        if (strcmp(value, names[i]) == 0) return i;
    return -1;
}

/* a value the option table has already checked against its choices */
#define choice(value, names, what) checked_choice(value, names, NNAMES(names), what)
static int checked_choice(const char *value, const char *const *names, int n, const char *what) {
    int c = ts_choice(value, names, n);
    TS_CHECK(c >= 0, "--%s %s passed the option table but has no enum value", what, value);
    return c;
}

ts_mode ts_job_mode(const ts_options *o) {
    ts_mode m = (ts_mode)choice(o->mode, MODE_NAMES, "mode");
    if (m == TS_MODE_AUTO) m = ts_comm_size() > 1 ? TS_MODE_EXACT : TS_MODE_SINGLE;
    return m;
}

const char *ts_mode_name(ts_mode m) { return MODE_NAMES[m]; }

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

int ts_job_threads(int requested, int node_ranks) {
    if (requested > 0) return requested;
    const char *e = getenv("OMP_NUM_THREADS");
    if (!e || !*e) e = getenv("SLURM_CPUS_PER_TASK");
    if (e && atoi(e) > 0) return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int per = (int)(n > 0 ? n : 1) / (node_ranks > 0 ? node_ranks : 1);
    return per > 0 ? per : 1;
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

/* style image s's working size at scale k: long side --style-scale times the scale's */
static void style_size(const ts_job *job, int k, int s, int *w, int *h) {
    int sl = (int)lround(job->scales[k] * job->opt->style_scale);
    ts_image_fit_long_side(job->style[s].w, job->style[s].h, sl, w, h);
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
        fprintf(stderr, "tessera: --backend auto: no usable %s GPU (%s); running on the CPU\n",
                job->backend.kind ? job->backend.kind : "device", job->backend.why);
}

void ts_backend_describe(const ts_backend_choice *ch, const char *gpu_math, int threads, char *buf, size_t n) {
    if (ch->device >= 0) snprintf(buf, n, "%s device %d %s, %s GEMMs", ch->kind, ch->device, ch->device_name, gpu_math);
    else snprintf(buf, n, "CPU, %d thread%s", threads, threads == 1 ? "" : "s");
}

/* --background: white, black or R,G,B (0-255 each) */
static int parse_background(const char *s, float *b, ts_err *err) {
    int r, g, bl, n = -1;
    if (!strcmp(s, "white")) b[0] = b[1] = b[2] = 1.0f;
    else if (!strcmp(s, "black")) b[0] = b[1] = b[2] = 0.0f;
    else if (sscanf(s, "%d,%d,%d%n", &r, &g, &bl, &n) == 3 && n == (int)strlen(s) && r >= 0 && r <= 255 && g >= 0 &&
             g <= 255 && bl >= 0 && bl <= 255)
        b[0] = r / 255.0f, b[1] = g / 255.0f, b[2] = bl / 255.0f;
    else return ts_fail(err, "--background must be white, black or R,G,B (0-255 each), not \"%s\"", s);
    return 0;
}

/* an input image, upright unless --ignore-orientation, over the background where it is transparent; of
 * a multi-page TIFF the first page, said once; alpha: where its alpha channel goes (NULL: dropped) */
static int read_image_bg(const ts_job *job, const char *path, const float *bg, ts_image *img, float **alpha,
                         ts_image_info *infop, ts_err *err) {
    const ts_options *o = job->opt;
    ts_image_read_opts ro = {.max_pixels = (size_t)o->max_pixels, .ignore_orientation = o->ignore_orientation,
                             .background = bg, .keep_alpha = alpha != NULL, .keep_profile = infop != NULL};
    ts_image_info info;
    if (ts_image_read_with(path, &ro, img, &info, err)) return -1;
    if (alpha) *alpha = info.alpha;
    if (infop) *infop = info;
    else free(info.icc);
    if (info.pages > 1 && !o->quiet)
        fprintf(stderr, "tessera: note: %s holds %d images; reading the first\n", path, info.pages);
    if (info.profile < 0 && !o->quiet)
        fprintf(stderr, "tessera: note: %s: %s; its pixels are taken as sRGB\n", path, info.profile_note);
    return 0;
}

static int read_image(const ts_job *job, const char *path, ts_image *img, ts_err *err) {
    return read_image_bg(job, path, job->background, img, NULL, NULL, err);
}

/* --style-masks and --style-image-masks: one per style image each, read as luminance */
static int read_mask(const ts_job *job, const char *path, ts_image *m, ts_err *err) {
    static const float black[3] = {0, 0, 0}; /* a transparent part of a mask: not this style's */
    if (read_image_bg(job, path, black, m, NULL, NULL, err)) return -1;
    ts_color_to_luminance(m->data, (size_t)m->w * m->h);
    return 0;
}

static int read_masks(ts_job *job, ts_err *err) {
    const ts_options *o = job->opt;
    if (o->nstyle_image_masks && !o->nstyle_masks)
        return ts_fail(err, "--style-image-masks needs --style-masks (where on the content each style goes)");
    if (o->nstyle_masks && o->nstyle_masks != o->nstyle)
        return ts_fail(err, "--style-masks has %d masks for %d style images", o->nstyle_masks, o->nstyle);
    if (o->nstyle_image_masks && o->nstyle_image_masks != o->nstyle)
        return ts_fail(err, "--style-image-masks has %d masks for %d style images", o->nstyle_image_masks, o->nstyle);
    for (int s = 0; s < o->nstyle_masks; s++) {
        if (read_mask(job, o->style_masks[s], &job->mask[s], err)) return -1;
        job->nmasks++;
    }
    for (int s = 0; s < o->nstyle_image_masks; s++) {
        if (read_mask(job, o->style_image_masks[s], &job->style_mask[s], err)) return -1;
        job->nstyle_masks++;
        double sum = 0;
        for (size_t p = 0; p < (size_t)job->style_mask[s].w * job->style_mask[s].h; p++) sum += job->style_mask[s].data[p];
        if (!(sum > 0))
            return ts_fail(err, "%s: the mask of style image %d is black: no part of %s would be used",
                           o->style_image_masks[s], s + 1, o->style[s]);
    }
    job->spec.nmasks = job->nmasks;
    for (int s = 0; s < job->nmasks; s++) job->spec.mask_blend[s] = ts_job_style_weight(job, s);
    return 0;
}

int ts_job_prepare(ts_job *job, ts_options *o, ts_command cmd, ts_err *err) {
    memset(job, 0, sizeof *job);
    job->opt = o;
    int need_output = cmd == TS_CMD_RUN;
    if (!o->content) return ts_fail(err, "--content is required (see --help)");
    if (o->nstyle < 1) return ts_fail(err, "--style is required (see --help)");
    if (need_output && !o->output) return ts_fail(err, "--output is required (see --help)");
    if (!need_output && !o->grad_out) return ts_fail(err, "--grad-out is required (see --help)");
    if (!need_output && ts_image_format_from_name(o->grad_out) != TS_FMT_NPY)
        return ts_fail(err, "%s: --grad-out must name a .npy file", o->grad_out);
    if (!need_output && !ts_options_given(o, "init"))
        return ts_fail(err, "--init is required for grad (content, random or an image file)");
    if (ts_arch_parse(o->arch, &job->arch)) return ts_fail(err, "--arch must be vgg16 or vgg19");
    job->pool = (ts_pool_kind)choice(o->pool, POOL_NAMES, "pool");
    if (ts_conv_algo_parse(o->conv, &job->conv)) return ts_fail(err, "--conv must be auto, im2col or winograd");
    job->mode = ts_job_mode(o);
    job->optimizer = ts_optimizer_find(o->optimizer);
    TS_CHECK(job->optimizer, "--optimizer %s passed the option table but is not an optimiser", o->optimizer);
    job->blend = (ts_blend)choice(o->blend, BLEND_NAMES, "blend");
    job->halo_xchg = (ts_halo_xchg)choice(o->halo_exchange, HALO_XCHG_NAMES, "halo-exchange");
    int init = ts_choice(o->init, INIT_NAMES, TS_INIT_IMAGE);
    job->init_kind = init < 0 ? TS_INIT_IMAGE : (ts_init_kind)init;
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
    job->threads = ts_job_threads(o->threads, 1);

    /* images */
    if (parse_background(o->background, job->background, err)) return -1;
    if (o->keep_alpha && ts_image_format_from_name(o->output) != TS_FMT_PNG &&
        ts_image_format_from_name(o->output) != TS_FMT_TIFF)
        return ts_fail(err, "%s: --keep-alpha needs a .png or .tif output (JPEG has no alpha channel)", o->output);
    ts_image_info ci;
    if (read_image_bg(job, o->content, job->background, &job->content, o->keep_alpha ? &job->content_alpha : NULL, &ci,
                      err))
        return -1;
    if (o->keep_profile) {
        job->content_icc = ci.icc;
        job->content_icc_len = ci.icc_len;
    } else {
        free(ci.icc);
    }
    for (int s = 0; s < o->nstyle; s++) {
        if (read_image(job, o->style[s], &job->style[s], err)) return -1;
        job->nstyle++;
    }
    if (job->init_kind == TS_INIT_IMAGE && read_image(job, o->init, &job->init, err)) return -1;
    if (read_masks(job, err)) return -1;
    for (int k = 0; k < job->nscales; k++) {
        int w, h;
        char what[PATH_MAX + 32];
        ts_image_fit_long_side(job->content.w, job->content.h, job->scales[k], &w, &h);
        snprintf(what, sizeof what, "content %s", o->content);
        if (check_size(job, w, h, deepest, what, err)) return -1;
        for (int s = 0; s < job->nstyle; s++) {
            style_size(job, k, s, &w, &h);
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
    int pre = choice(o->preprocess, PREPROCESS_NAMES, "preprocess");
    job->preproc = pre == PREPROCESS_AUTO ? job->weights.preproc : (ts_preproc)pre;

    /* loss weights: the user's, else the preset of this kind of weights */
    job->preset = job->weights.is_random ? "random" : ts_preproc_name(job->weights.preproc);
    const ts_preset *pr = ts_preset_get(job->preset);
    for (int t = 0; t < ts_loss_nterms(); t++)
        sp->weight[t] = isnan(o->loss_weight[t]) ? ts_preset_weight(pr, ts_loss_term_name(t)) : o->loss_weight[t];
    for (int i = 0; i < sp->nstyle; i++) {
        double C = layer_channels(&job->weights, sp->style_layer[i]);
        sp->style_lambda[i] = o->nlayer_weights ? o->layer_weights[i] : pr->layer_scale / (C * C);
    }
    return 0;
}

void ts_job_free(ts_job *job) {
    ts_image_free(&job->content);
    for (int s = 0; s < job->nstyle; s++) ts_image_free(&job->style[s]);
    for (int s = 0; s < job->nmasks; s++) ts_image_free(&job->mask[s]);
    for (int s = 0; s < job->nstyle_masks; s++) ts_image_free(&job->style_mask[s]);
    ts_image_free(&job->init);
    free(job->content_alpha);
    free(job->content_icc);
    ts_vgg_weights_free(&job->weights);
    free(job->weights_path);
}

/* ---------- the pieces of a scale ---------- */

float *ts_job_upload(const ts_backend *be, const ts_image *img) {
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
    int w, h;
    style_size(job, k, s, &w, &h);
    ts_image_resize(&job->style[s], w, h, out);
    if (job->opt->luminance_only) ts_color_to_luminance(out->data, (size_t)w * h);
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
        sd[s] = ts_job_upload(be, &si);
        ts_image_free(&si);
    }
    ts_mask_set ms[TS_MAX_LIST];
    const ts_mask_set *msp[TS_MAX_LIST];
    for (int s = 0; s < job->nstyle; s++) {
        ts_job_style_mask(job, k, s, &ms[s]);
        msp[s] = ms[s].n ? &ms[s] : NULL;
    }
    ts_objective_set_style(obj, (const float *const *)sd, sh, sw,
                           o->nstyle_blend_weights ? o->style_blend_weights : NULL, job->nstyle, msp);
    for (int s = 0; s < job->nstyle; s++) {
        be->free(sd[s]);
        ts_mask_set_free(&ms[s]);
    }
}

/* masks resampled to W x H (their first channel: the luminance), as a set */
static void mask_set_of(const ts_image *masks, int n, int W, int H, ts_mask_set *out) {
    float *plane[TS_MAX_LIST];
    for (int s = 0; s < n; s++) {
        ts_image r;
        ts_image_resize(&masks[s], W, H, &r);
        plane[s] = r.data; /* the first of its three equal planes */
    }
    ts_mask_set_build(out, (const float *const *)plane, n, H, W);
    for (int s = 0; s < n; s++) free(plane[s]);
}

void ts_job_masks(const ts_job *job, int k, ts_mask_set *out) {
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    mask_set_of(job->mask, job->nmasks, W, H, out);
}

void ts_job_style_mask(const ts_job *job, int k, int s, ts_mask_set *out) {
    if (s >= job->nstyle_masks) {
        memset(out, 0, sizeof *out);
        return;
    }
    int w, h;
    style_size(job, k, s, &w, &h);
    mask_set_of(&job->style_mask[s], 1, w, h, out);
}

void ts_job_start(const ts_job *job, int k, const ts_image *prev, const ts_image *content_for_loss, ts_image *start) {
    const ts_options *o = job->opt;
    int W, H;
    ts_job_scale_size(job, k, &W, &H);
    if (k > 0) { /* upsample the previous scale's result */
        ts_image_resize(prev, W, H, start);
    } else if (job->init_kind == TS_INIT_CONTENT) {
        ts_image_resize(content_for_loss, W, H, start);
    } else if (job->init_kind == TS_INIT_RANDOM) {
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


int ts_job_write_image(const ts_job *job, const char *path, const ts_image *img, ts_err *err) {
    ts_image_write_opts w = {.bits = job->opt->output_bits, .quality = 95};
    ts_image a = {0}, ar = {0};
    if (job->content_alpha) { /* resampled as an image: three copies of the channel */
        size_t n = (size_t)job->content.w * job->content.h;
        ts_image_alloc(&a, job->content.w, job->content.h);
        for (int c = 0; c < 3; c++) memcpy(a.data + c * n, job->content_alpha, n * sizeof(float));
        ts_image_resize(&a, img->w, img->h, &ar);
        w.alpha = ar.data;
    }
    ts_image inprof = {0}; /* --keep-profile: the pixels in the content's profile */
    if (job->content_icc) {
        char why[160];
        ts_image_alloc(&inprof, img->w, img->h);
        memcpy(inprof.data, img->data, sizeof(float) * 3 * (size_t)img->w * img->h);
        if (ts_image_from_srgb(&inprof, job->content_icc, job->content_icc_len, why, sizeof why) == 0) {
            w.icc = job->content_icc;
            w.icc_len = job->content_icc_len;
            img = &inprof;
        } else if (!job->opt->quiet) {
            fprintf(stderr, "tessera: note: --keep-profile: %s: %s; writing sRGB\n", job->opt->content, why);
        }
    }
    int rc = ts_image_write(path, img, &w, err);
    ts_image_free(&a);
    ts_image_free(&ar);
    ts_image_free(&inprof);
    return rc;
}

ts_optim_params ts_job_optim_params(const ts_options *o, const ts_backend *be, size_t n, ts_reduce_hook hook) {
    return (ts_optim_params){.be = be, .n = n, .hook = hook, .history = o->lbfgs_history,
                             .learning_rate = o->learning_rate};
}
