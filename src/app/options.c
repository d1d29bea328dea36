/* options.c - the option table: command line, JSON config, --help and defaults from one list. */
#include "tessera/options.h"

#include <cjson/cJSON.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "tessera/backend.h"
#include "tessera/files.h"
#include "tessera/loss.h"
#include "tessera/optim.h"

typedef enum { T_STR, T_INT, T_LONG, T_DBL, T_BOOL, T_STRS, T_INTS, T_DBLS } opt_type;

typedef struct {
    const char *name; /* kebab-case flag name; snake_case in JSON */
    opt_type type;
    size_t off, count_off;
    double min, max;
    unsigned cmds; /* TS_CMD_RUN | TS_CMD_GRAD */
    const char *choices;
    const char *arg;
    const char *help;
} opt_def;

#define OFF(f) offsetof(ts_options, f)
#define R TS_CMD_RUN
#define G TS_CMD_GRAD
#define BOTH (TS_CMD_RUN | TS_CMD_GRAD)
#define BIG 1e300

static const opt_def OPTS[] = {
    {"config", T_STR, OFF(config), 0, 0, 0, BOTH, NULL, "FILE", "JSON config (snake_case names); flags override it"},
    {"content", T_STR, OFF(content), 0, 0, 0, BOTH, NULL, "IMAGE", "content photo (PNG, JPEG, TIFF)"},
    {"style", T_STRS, OFF(style), OFF(nstyle), 0, 0, BOTH, NULL, "IMG[,IMG]", "style image(s)"},
    {"style-blend-weights", T_DBLS, OFF(style_blend_weights), OFF(nstyle_blend_weights), 0, BIG, BOTH, NULL,
     "W[,W]", "weight of each style image (normalised to sum 1; default equal)"},
    {"style-masks", T_STRS, OFF(style_masks), OFF(nstyle_masks), 0, 0, BOTH, NULL, "MASK[,MASK]",
     "one mask per style image, where on the content its style goes (greyscale, white = all of it; resampled)"},
    {"style-image-masks", T_STRS, OFF(style_image_masks), OFF(nstyle_image_masks), 0, 0, BOTH, NULL, "MASK[,MASK]",
     "with --style-masks: one mask per style image on that image, the part whose style is taken (default: all)"},
    {"output", T_STR, OFF(output), 0, 0, 0, R, NULL, "IMAGE", "output image (.png, .jpg, .tif)"},
    {"init", T_STR, OFF(init), 0, 0, 0, BOTH, NULL, "content|random|IMAGE",
     "starting image: the content, seeded noise, or an image/.npy file"},
    {"grad-out", T_STR, OFF(grad_out), 0, 0, 0, G, NULL, "FILE.npy", "where grad writes dL/dx (float32, 3xHxW)"},
    {"log", T_STR, OFF(log), 0, 0, 0, R, NULL, "FILE.jsonl", "one JSON line per iteration"},
    {"save-every", T_INT, OFF(save_every), 0, 0, 1e9, R, NULL, "N", "also write OUTPUT_iterN every N iterations (0: off)"},
    {"checkpoint-every", T_INT, OFF(checkpoint_every), 0, 0, 1e9, R, NULL, "N",
     "write image + optimiser state every N iterations (0: only when asked to stop)"},
    {"checkpoint-dir", T_STR, OFF(checkpoint_dir), 0, 0, 0, R, NULL, "DIR",
     "where checkpoints go (default OUTPUT.ckpt when checkpointing or resuming); a file DIR/STOP asks the run to stop"},
    {"resume", T_BOOL, OFF(resume), 0, 0, 1, R, NULL, NULL,
     "continue from the last complete checkpoint in the checkpoint dir (starts afresh when there is none)"},
    {"output-bits", T_INT, OFF(output_bits), 0, 8, 16, R, "8|16", "N", "bits per sample of PNG/TIFF output"},
    {"max-pixels", T_LONG, OFF(max_pixels), 0, 1, 4e12, BOTH, NULL, "N", "refuse input images with more pixels"},
    {"ignore-orientation", T_BOOL, OFF(ignore_orientation), 0, 0, 1, BOTH, NULL, NULL,
     "read images as stored: the orientation a JPEG (EXIF), PNG or TIFF records is not applied"},
    {"background", T_STR, OFF(background), 0, 0, 0, BOTH, NULL, "white|black|R,G,B",
     "what the transparent parts of images with alpha are composited over (R,G,B: 0-255 each)"},
    {"keep-alpha", T_BOOL, OFF(keep_alpha), 0, 0, 1, R, NULL, NULL,
     "write the content's alpha channel into the output (.png or .tif)"},
    {"keep-profile", T_BOOL, OFF(keep_profile), 0, 0, 1, R, NULL, NULL,
     "write the output in the content's own colour profile (converted back from sRGB, that profile embedded)"},
    {"size", T_INT, OFF(size), 0, 16, 1e6, BOTH, NULL, "PX", "long side of the output (content is resampled to it)"},
    {"style-scale", T_DBL, OFF(style_scale), 0, 0.01, 100, BOTH, NULL, "S", "style images are resampled to long side SIZE*S"},
    {"scales", T_INTS, OFF(scales), OFF(nscales), 16, 1e6, R, NULL, "PX[,PX]",
     "coarse-to-fine long sides, ending at the output size (default: SIZE alone)"},
    {"iterations", T_INTS, OFF(iterations), OFF(niterations), 0, 1e9, R, NULL, "N[,N]",
     "optimiser iterations (one value, or one per scale)"},
    {"weights", T_STR, OFF(weights), 0, 0, 0, BOTH, NULL, "FILE|random[:SEED]|auto",
     "VGG weights (safetensors); auto: weights/<arch>.safetensors if present, else the random stand-in"},
    {"arch", T_STR, OFF(arch), 0, 0, 0, BOTH, "vgg16|vgg19", "NAME", "network"},
    {"pool", T_STR, OFF(pool), 0, 0, 0, BOTH, "max|avg", "KIND", "pooling"},
    {"preprocess", T_STR, OFF(preprocess), 0, 0, 0, BOTH, "auto|torchvision|caffe", "KIND",
     "input normalisation (auto: from the weights file's metadata)"},
    {"conv", T_STR, OFF(conv), 0, 0, 0, BOTH, "auto|im2col|winograd", "ALGO",
     "convolution algorithm: auto = Winograd F(4x4,3x3) where channels >= 16, im2col + GEMM for conv1_1"},
    {"backend", T_STR, OFF(backend), 0, 0, 0, BOTH, NULL /* the device kinds' names: see choices() */, "NAME",
     "compute backend: cpu, cuda (GPU = node-local rank mod GPUs; exit 2 without one) or auto (GPU if any, else CPU)"},
    {"gpu-math", T_STR, OFF(gpu_math), 0, 0, 0, BOTH, "fp32|tf32", "MODE",
     "CUDA convolution/Gram GEMMs in fp32, or on TF32 tensor cores (Ampere and newer; faster, ~3e-4 relative error per layer)"},
    {"cuda-aware-mpi", T_BOOL, OFF(cuda_aware_mpi), 0, 0, 1, BOTH, NULL, NULL,
     "tiled modes on CUDA: pass GPU buffers to MPI for halo exchanges (the MPI library must report CUDA support)"},
    /* one weight per loss term: loss_weight[t] is --<name of term t>-weight (src/engine/loss_terms.c) */
    {"content-weight", T_DBL, OFF(loss_weight[0]), 0, 0, BIG, BOTH, NULL, "A", "alpha (default: the weights' preset)"},
    {"style-weight", T_DBL, OFF(loss_weight[1]), 0, 0, BIG, BOTH, NULL, "B", "beta (default: the weights' preset)"},
    {"tv-weight", T_DBL, OFF(loss_weight[2]), 0, 0, BIG, BOTH, NULL, "G", "gamma (default: the weights' preset)"},
    {"style-layers", T_STRS, OFF(style_layers), OFF(nstyle_layers), 0, 0, BOTH, NULL, "L[,L]", "layers of the style loss"},
    {"layer-weights", T_DBLS, OFF(layer_weights), OFF(nlayer_weights), 0, BIG, BOTH, NULL, "W[,W]",
     "lambda per style layer (default: the weights' preset)"},
    {"content-layers", T_STRS, OFF(content_layers), OFF(ncontent_layers), 0, 0, BOTH, NULL, "L[,L]", "layers of the content loss (random stand-in without this option: relu3_1)"},
    {"optimizer", T_STR, OFF(optimizer), 0, 0, 0, R, NULL /* the optimisers' table: see choices() */, "NAME", "optimiser"},
    {"lbfgs-history", T_INT, OFF(lbfgs_history), 0, 1, 1000, R, NULL, "M", "L-BFGS pairs kept (costs 24*M bytes per pixel)"},
    {"learning-rate", T_DBL, OFF(learning_rate), 0, 1e-9, 1e3, R, NULL, "LR", "Adam step size, in [0,1] pixel units"},
    {"original-colors", T_BOOL, OFF(original_colors), 0, 0, 1, R, NULL, NULL,
     "keep the content's colours: output luminance, content chroma"},
    {"luminance-only", T_BOOL, OFF(luminance_only), 0, 0, 1, BOTH, NULL, NULL,
     "transfer style on luminance only (content and style greyed, content chroma put back)"},
    {"mode", T_STR, OFF(mode), 0, 0, 0, BOTH, "auto|single|independent|exact", "MODE",
     "under mpirun: single (rank 0 alone), independent (blended tiles), exact (cooperating tiles, equals single); auto: single on one rank, exact on more"},
    {"tiles", T_STR, OFF(tiles), 0, 0, 0, BOTH, NULL, "RxC", "tile grid for independent/exact (default: one tile per rank)"},
    {"halo", T_INT, OFF(halo), 0, -1, 1e6, BOTH, NULL, "PX",
     "tile halo in pixels, rounded up to 16 (-1: the receptive margin of the deepest loss layer)"},
    {"halo-exchange", T_STR, OFF(halo_exchange), 0, 0, 0, BOTH, "auto|image|layer", "HOW",
     "exact mode: image = one halo of --halo px per tile, recomputed by its tile; layer = a 1-position ring "
     "exchanged with the neighbours before every convolution (one tile per rank); auto: layer when tiles = ranks"},
    {"blend", T_STR, OFF(blend), 0, 0, 0, R, "cosine|none", "KIND",
     "independent mode: blend tile overlaps with raised-cosine weights, or paste owned parts (none)"},
    {"seed", T_LONG, OFF(seed), 0, 0, 9.2e18, BOTH, NULL, "N", "seed for random init"},
    {"threads", T_INT, OFF(threads), 0, 0, 1024, BOTH, NULL, "N", "CPU threads (0: OMP_NUM_THREADS, SLURM_CPUS_PER_TASK or all cores)"},
    {"print-every", T_INT, OFF(print_every), 0, 0, 1e9, R, NULL, "N", "progress line every N iterations when not on a terminal (0: off)"},
    {"quiet", T_BOOL, OFF(quiet), 0, 0, 1, BOTH, NULL, NULL, "no progress output"},
};
#define NOPTS ((int)(sizeof OPTS / sizeof OPTS[0]))
_Static_assert(sizeof OPTS / sizeof OPTS[0] <= 64, "ts_options.given is too small");

void ts_options_defaults(ts_options *o) {
    memset(o, 0, sizeof *o);
    o->init = ts_strdup("content");
    o->output_bits = 8;
    o->background = ts_strdup("white");
    o->max_pixels = 1L << 28;
    o->size = 512;
    o->style_scale = 1.0;
    o->iterations[0] = 500;
    o->niterations = 1;
    o->weights = ts_strdup("auto");
    o->arch = ts_strdup("vgg19");
    o->pool = ts_strdup("max");
    o->preprocess = ts_strdup("auto");
    o->backend = ts_strdup("cpu");
    o->gpu_math = ts_strdup("fp32");
    o->conv = ts_strdup("auto");
    for (int t = 0; t < TS_MAX_LIST; t++) o->loss_weight[t] = NAN; /* from the preset */
    const char *sl[] = {"relu1_1", "relu2_1", "relu3_1", "relu4_1", "relu5_1"};
    for (int i = 0; i < 5; i++) o->style_layers[i] = ts_strdup(sl[i]);
    o->nstyle_layers = 5;
    o->content_layers[0] = ts_strdup("relu4_2");
    o->ncontent_layers = 1;
    o->optimizer = ts_strdup("lbfgs");
    o->lbfgs_history = 20;
    o->learning_rate = 10.0 / 255.0;
    o->print_every = 50;
    o->mode = ts_strdup("auto");
    o->halo = -1;
    o->blend = ts_strdup("cosine");
    o->halo_exchange = ts_strdup("auto");
}

static void free_value(ts_options *o, const opt_def *d) {
    char *base = (char *)o + d->off;
    if (d->type == T_STR) {
        free(*(char **)base);
        *(char **)base = NULL;
    } else if (d->type == T_STRS) {
        int *n = (int *)((char *)o + d->count_off);
        for (int i = 0; i < *n; i++) free(((char **)base)[i]);
        *n = 0;
    }
}

void ts_options_free(ts_options *o) {
    for (int i = 0; i < NOPTS; i++) free_value(o, &OPTS[i]);
}

static void to_snake(const char *in, char *out, size_t n) {
    size_t i = 0;
    for (; in[i] && i + 1 < n; i++) out[i] = in[i] == '-' ? '_' : in[i];
    out[i] = 0;
}

static int find_opt(const char *name) {
    char want[64], have[64];
    to_snake(name, want, sizeof want);
    for (int i = 0; i < NOPTS; i++) {
        to_snake(OPTS[i].name, have, sizeof have);
        if (strcmp(want, have) == 0) return i;
    }
    return -1;
}

int ts_options_given(const ts_options *o, const char *name) {
    int i = find_opt(name);
    return i >= 0 && o->given[i];
}

/* An option's values, "a|b|c"; NULL: any. Two options take the names of a table: --backend the
 * device kinds (src/backend/devices.c), --optimizer the optimisers (src/engine/optimizers.c). */
static const char *choices(const opt_def *d) {
    if (d->off == OFF(backend)) return ts_backend_choices();
    if (d->off == OFF(optimizer)) return ts_optimizer_choices();
    return d->choices;
}

static int check_choice(const opt_def *d, const char *v, const char *src, ts_err *err) {
    const char *p = choices(d);
    if (!p) return 0;
    size_t n = strlen(v);
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == n && strncmp(p, v, n) == 0) return 0;
        if (!bar) break;
        p = bar + 1;
    }
    return ts_fail(err, "%s: %s must be one of %s, not \"%s\"", src, d->name, choices(d), v);
}

static int parse_number(const opt_def *d, const char *s, double *out, const char *src, ts_err *err) {
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    while (end && isspace((unsigned char)*end)) end++;
    if (s == end || *end || errno == ERANGE || !isfinite(v))
        return ts_fail(err, "%s: %s expects a number, got \"%s\"", src, d->name, s);
    if ((d->type == T_INT || d->type == T_LONG || d->type == T_INTS) && v != floor(v))
        return ts_fail(err, "%s: %s expects a whole number, got \"%s\"", src, d->name, s);
    if (d->max > d->min && (v < d->min || v > d->max))
        return ts_fail(err, "%s: %s = %s is out of range [%g, %g]", src, d->name, s, d->min, d->max);
    *out = v;
    return 0;
}

/* Stores one scalar (or one list element at index k) given as text. */
static int store_text(ts_options *o, const opt_def *d, const char *s, int k, const char *src, ts_err *err) {
    char *base = (char *)o + d->off;
    double v = 0.0;
    switch (d->type) {
    case T_STR:
        if (!*s) return ts_fail(err, "%s: %s must not be empty", src, d->name);
        if (check_choice(d, s, src, err)) return -1;
        free(*(char **)base);
        *(char **)base = ts_strdup(s);
        return 0;
    case T_STRS:
        if (!*s) return ts_fail(err, "%s: %s has an empty element", src, d->name);
        ((char **)base)[k] = ts_strdup(s);
        return 0;
    case T_BOOL:
        if (!strcmp(s, "1") || !strcmp(s, "true") || !strcmp(s, "yes")) *(int *)base = 1;
        else if (!strcmp(s, "0") || !strcmp(s, "false") || !strcmp(s, "no")) *(int *)base = 0;
        else return ts_fail(err, "%s: %s expects true or false, got \"%s\"", src, d->name, s);
        return 0;
    default: break;
    }
    if (parse_number(d, s, &v, src, err)) return -1;
    if (d->type == T_INT) *(int *)base = (int)v;
    else if (d->type == T_LONG) *(long *)base = (long)v;
    else if (d->type == T_DBL) *(double *)base = v;
    else if (d->type == T_INTS) ((int *)base)[k] = (int)v;
    else ((double *)base)[k] = v;
    return 0;
}

static int is_list(const opt_def *d) { return d->type == T_STRS || d->type == T_INTS || d->type == T_DBLS; }

/* A comma-separated list (command line, or a string in JSON). */
static int store_list_text(ts_options *o, const opt_def *d, const char *s, const char *src, ts_err *err) {
    free_value(o, d);
    int *n = (int *)((char *)o + d->count_off);
    *n = 0;
    char *copy = ts_strdup(s), *save = NULL;
    int rc = 0;
    size_t len = strlen(copy);
    if (!len) rc = ts_fail(err, "%s: %s needs at least one value", src, d->name);
    else if (copy[0] == ',' || copy[len - 1] == ',' || strstr(copy, ",,"))
        rc = ts_fail(err, "%s: %s has an empty element in \"%s\"", src, d->name, s);
    for (char *tok = strtok_r(copy, ",", &save); tok && !rc; tok = strtok_r(NULL, ",", &save)) {
        if (*n >= TS_MAX_LIST) {
            rc = ts_fail(err, "%s: %s takes at most %d values", src, d->name, TS_MAX_LIST);
            break;
        }
        if (store_text(o, d, tok, *n, src, err)) rc = -1;
        else (*n)++;
    }
    free(copy);
    return rc;
}

static int store_json(ts_options *o, const opt_def *d, const cJSON *v, const char *src, ts_err *err) {
    char buf[64];
    if (is_list(d)) {
        if (cJSON_IsString(v)) return store_list_text(o, d, v->valuestring, src, err);
        if (cJSON_IsNumber(v) && d->type != T_STRS) { /* one value for a list */
            snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
            return store_list_text(o, d, buf, src, err);
        }
        if (!cJSON_IsArray(v) || cJSON_GetArraySize(v) < 1 || cJSON_GetArraySize(v) > TS_MAX_LIST)
            return ts_fail(err, "%s: %s must be a list of 1 to %d values", src, d->name, TS_MAX_LIST);
        free_value(o, d);
        int *n = (int *)((char *)o + d->count_off);
        *n = 0;
        const cJSON *e;
        cJSON_ArrayForEach(e, v) {
            if (d->type == T_STRS) {
                if (!cJSON_IsString(e)) return ts_fail(err, "%s: %s must hold strings", src, d->name);
                if (store_text(o, d, e->valuestring, *n, src, err)) return -1;
            } else {
                if (!cJSON_IsNumber(e)) return ts_fail(err, "%s: %s must hold numbers", src, d->name);
                snprintf(buf, sizeof buf, "%.17g", e->valuedouble);
                if (store_text(o, d, buf, *n, src, err)) return -1;
            }
            (*n)++;
        }
        return 0;
    }
    switch (d->type) {
    case T_STR:
        if (!cJSON_IsString(v)) return ts_fail(err, "%s: %s must be a string", src, d->name);
        return store_text(o, d, v->valuestring, 0, src, err);
    case T_BOOL:
        if (!cJSON_IsBool(v)) return ts_fail(err, "%s: %s must be true or false", src, d->name);
        return store_text(o, d, cJSON_IsTrue(v) ? "true" : "false", 0, src, err);
    default:
        if (!cJSON_IsNumber(v)) return ts_fail(err, "%s: %s must be a number", src, d->name);
        snprintf(buf, sizeof buf, "%.17g", v->valuedouble);
        return store_text(o, d, buf, 0, src, err);
    }
}

static int cmp_name(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* Sorted, so an object with a million keys costs milliseconds, not hours. */
int ts_json_duplicate_key(const struct cJSON *obj, const char *where, int comments_repeat, ts_err *err) {
    int n = cJSON_GetArraySize(obj), k = 0, rc = 0;
    const char **names = ts_malloc(sizeof(char *) * (size_t)(n > 0 ? n : 1));
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) if (!comments_repeat || it->string[0] != '_') names[k++] = it->string;
    qsort(names, (size_t)k, sizeof *names, cmp_name);
    for (int i = 1; i < k && rc == 0; i++)
        if (strcmp(names[i - 1], names[i]) == 0) rc = ts_fail(err, "%s: key \"%.100s\" appears twice", where, names[i]);
    free(names);
    return rc;
}

#define MAX_KEY_WARNINGS 10 /* unknown keys named one by one; the rest are counted */

int ts_options_apply_json(ts_options *o, const char *text, size_t len, const char *source, ts_err *err) {
    const char *end = NULL;
    cJSON *root = cJSON_ParseWithLengthOpts(text, len, &end, 0);
    if (!root) {
        size_t pos = end && end >= text ? (size_t)(end - text) : 0;
        int line = 1;
        for (size_t i = 0; i < pos && i < len; i++) line += text[i] == '\n';
        return ts_fail(err, "%s: malformed JSON near line %d (byte %zu)", source, line, pos);
    }
    if (!cJSON_IsObject(root)) {
        cJSON_Delete(root);
        return ts_fail(err, "%s: a config must be a JSON object", source);
    }
    if (ts_json_duplicate_key(root, source, 1, err)) { /* comments ("_...") may repeat */
        cJSON_Delete(root);
        return -1;
    }
    int rc = 0, unknown = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, root) {
        if (it->string[0] == '_') continue; /* comments */
        int i = find_opt(it->string);
        if (i < 0 || strcmp(it->string, "config") == 0 || strchr(it->string, '-')) {
            if (ts_rank() == 0 && ++unknown <= MAX_KEY_WARNINGS) /* every rank reads the config; rank 0 says it */
                fprintf(stderr, "tessera: warning: %s: unknown key \"%.100s\" ignored\n", source, it->string);
            continue;
        }
        if (cJSON_IsNull(it)) continue; /* null: keep the default */
        if (store_json(o, &OPTS[i], it, source, err)) {
            rc = -1;
            break;
        }
        o->given[i] = 1;
    }
    if (ts_rank() == 0 && unknown > MAX_KEY_WARNINGS)
        fprintf(stderr, "tessera: warning: %s: %d more unknown keys ignored\n", source, unknown - MAX_KEY_WARNINGS);
    cJSON_Delete(root);
    return rc;
}

int ts_options_load_config(ts_options *o, const char *path, ts_err *err) {
    size_t n = 0;
    char *buf = ts_file_read(path, (size_t)16 << 20, &n, err);
    if (!buf) return -1;
    int rc = ts_options_apply_json(o, buf, n, path, err);
    free(buf);
    return rc;
}

int ts_options_parse(ts_options *o, ts_command cmd, int argc, char **argv, ts_err *err) {
    /* the config first, so that flags override it */
    for (int a = 0; a < argc; a++) {
        const char *v = NULL;
        if (!strcmp(argv[a], "--config") && a + 1 < argc) v = argv[a + 1];
        else if (!strncmp(argv[a], "--config=", 9)) v = argv[a] + 9;
        if (v) {
            free(o->config);
            o->config = ts_strdup(v);
            o->given[find_opt("config")] = 1;
            if (ts_options_load_config(o, v, err)) return -1;
        }
    }
    for (int a = 0; a < argc; a++) {
        const char *arg = argv[a];
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) {
            if (ts_rank() == 0) ts_options_print_help(cmd, "tessera");
            return 1;
        }
        if (strncmp(arg, "--", 2) != 0)
            return ts_fail(err, "unexpected argument \"%s\" (options start with --; see --help)", arg);
        char name[64];
        const char *eq = strchr(arg + 2, '=');
        size_t nl = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
        if (nl >= sizeof name) return ts_fail(err, "unknown option %.60s (see --help)", arg);
        memcpy(name, arg + 2, nl);
        name[nl] = 0;
        int i = find_opt(name);
        if (i < 0 || strchr(name, '_') || !(OPTS[i].cmds & cmd))
            return ts_fail(err, "unknown option --%s (see --help)", name);
        const opt_def *d = &OPTS[i];
        const char *val = eq ? eq + 1 : NULL;
        if (d->type == T_BOOL && !val) val = "true";
        if (!val) {
            if (a + 1 >= argc) return ts_fail(err, "--%s needs a value", name);
            val = argv[++a];
        }
        if (!strcmp(name, "config")) continue;
        char src[80];
        snprintf(src, sizeof src, "--%s", name);
        int rc = is_list(d) ? store_list_text(o, d, val, src, err) : store_text(o, d, val, 0, src, err);
        if (rc) return -1;
        o->given[i] = 1;
    }
    return 0;
}

static void append(char **buf, size_t *len, size_t *cap, const char *s) {
    size_t n = strlen(s);
    if (*len + n + 1 > *cap) {
        *cap = (*len + n + 1) * 2;
        *buf = ts_realloc(*buf, *cap);
    }
    memcpy(*buf + *len, s, n + 1);
    *len += n;
}

/* The value of one option as JSON text; null for preset-dependent values not set. */
static void value_json(const ts_options *o, const opt_def *d, char *out, size_t n) {
    const char *base = (const char *)o + d->off;
    int cnt = is_list(d) ? *(const int *)((const char *)o + d->count_off) : 0;
    size_t len = 0;
    out[0] = 0;
    switch (d->type) {
    case T_STR: {
        const char *s = *(char *const *)base;
        cJSON *str = cJSON_CreateString(s ? s : "");
        char *p = s ? cJSON_PrintUnformatted(str) : NULL;
        snprintf(out, n, "%s", p ? p : "null");
        free(p);
        cJSON_Delete(str);
        return;
    }
    case T_INT: snprintf(out, n, "%d", *(const int *)base); return;
    case T_LONG: snprintf(out, n, "%ld", *(const long *)base); return;
    case T_BOOL: snprintf(out, n, "%s", *(const int *)base ? "true" : "false"); return;
    case T_DBL: {
        double v = *(const double *)base;
        if (isnan(v)) snprintf(out, n, "null");
        else snprintf(out, n, "%.10g", v);
        return;
    }
    default: break;
    }
    if (cnt == 0) {
        snprintf(out, n, "null");
        return;
    }
    len += (size_t)snprintf(out + len, n - len, "[");
    for (int k = 0; k < cnt && len < n; k++) {
        if (d->type == T_STRS) len += (size_t)snprintf(out + len, n - len, "%s\"%s\"", k ? ", " : "", ((char *const *)base)[k]);
        else if (d->type == T_INTS) len += (size_t)snprintf(out + len, n - len, "%s%d", k ? ", " : "", ((const int *)base)[k]);
        else len += (size_t)snprintf(out + len, n - len, "%s%.10g", k ? ", " : "", ((const double *)base)[k]);
    }
    if (len < n) snprintf(out + len, n - len, "]");
}

static char *to_json(const ts_options *o, int skip_io) {
    char *buf = NULL, line[4096], val[3800], key[64];
    size_t len = 0, cap = 0;
    append(&buf, &len, &cap, "{\n");
    int first = 1;
    for (int i = 0; i < NOPTS; i++) {
        const opt_def *d = &OPTS[i];
        if (!strcmp(d->name, "config")) continue;
        if (skip_io && (d->type == T_STR || d->type == T_STRS) && !choices(d) &&
            (!strcmp(d->name, "content") || !strcmp(d->name, "style") || !strcmp(d->name, "output") ||
             !strcmp(d->name, "grad-out") || !strcmp(d->name, "log")))
            continue;
        to_snake(d->name, key, sizeof key);
        value_json(o, d, val, sizeof val);
        snprintf(line, sizeof line, "%s  \"%s\": %s", first ? "" : ",\n", key, val);
        append(&buf, &len, &cap, line);
        first = 0;
    }
    append(&buf, &len, &cap, "\n}\n");
    return buf;
}

char *ts_options_defaults_json(void) {
    ts_options o;
    ts_options_defaults(&o);
    char *s = to_json(&o, 1);
    ts_options_free(&o);
    return s;
}

char *ts_options_to_json(const ts_options *o) { return to_json(o, 0); }

void ts_options_print_help(ts_command cmd, const char *prog) {
    ts_options d;
    ts_options_defaults(&d);
    if (cmd == TS_CMD_RUN)
        printf("usage: %s run --content IMAGE --style IMAGE[,IMAGE...] --output IMAGE [options]\n\n"
               "Optimises an image so that its VGG features match the content photo and its Gram\n"
               "matrices match the style image(s) (Gatys et al.), then writes it.\n\n",
               prog);
    else {
        printf("usage: %s grad --content IMAGE --style IMAGE[,IMAGE...] --init IMAGE --grad-out G.npy [options]\n\n"
               "Evaluates the loss once at the --init image and prints one JSON line\n{\"total\":...",
               prog);
        for (int t = 0; t < ts_loss_nterms(); t++) printf(",\"%s\":...", ts_loss_term_name(t));
        printf("} (the weighted terms); writes dL/dx\n"
               "with respect to the [0,1] RGB image as float32 .npy of shape (3,H,W).\n\n");
    }
    printf("options (config-file keys are the same names in snake_case):\n");
    for (int i = 0; i < NOPTS; i++) {
        const opt_def *o = &OPTS[i];
        if (!(o->cmds & cmd)) continue;
        char flag[80], val[512];
        const char *arg = choices(o) ? choices(o) : o->arg;
        snprintf(flag, sizeof flag, "--%s%s%s", o->name, arg ? " " : "", arg ? arg : "");
        printf("  %-34s %s", flag, o->help);
        value_json(&d, o, val, sizeof val);
        if (o->type == T_BOOL) printf("\n");
        else if (strcmp(val, "null") != 0 && strcmp(val, "\"\"") != 0 && strcmp(val, "0") != 0)
            printf(" [%s]\n", val);
        else printf("\n");
    }
    printf("\n");
    for (int k = 0; k < ts_device_kinds(); k++) {
        const char *name = ts_device_kind_name(k), *label = ts_device_kind_label(k);
        if (ts_device_built(k))
            printf("this build has the %s backend (--backend %s needs a GPU; auto falls back to the CPU)\n", label, name);
        else printf("this build has no %s backend: --backend %s exits 2, auto runs on the CPU\n", label, name);
    }
    printf("exit status: 0 success, 2 bad input (flags, config, images, weights), 1 system failure.\n");
    ts_options_free(&d);
}
