/* options.h - every setting of a run, with one table that drives the command line, JSON configs
 * (the same names in snake_case), --help and the printed defaults. Flags override the config file. */
#ifndef TESSERA_OPTIONS_H
#define TESSERA_OPTIONS_H

#include <stddef.h>

#include "tessera/check.h"

#define TS_MAX_LIST 16

typedef struct {
    /* inputs and outputs */
    char *content;
    char *style[TS_MAX_LIST];
    int nstyle;
    double style_blend_weights[TS_MAX_LIST];
    int nstyle_blend_weights;
    char *style_masks[TS_MAX_LIST]; /* one content mask per style image: where each style goes */
    int nstyle_masks;
    char *style_image_masks[TS_MAX_LIST]; /* one mask per style image on that image */
    int nstyle_image_masks;
    char *output;
    char *init;
    char *grad_out;
    char *log;
    char *config;
    int save_every;
    int checkpoint_every;
    char *checkpoint_dir;
    int resume;
    int output_bits;
    long max_pixels;
    int ignore_orientation; /* images as stored, their EXIF/TIFF orientation not applied */
    char *background;       /* what transparent parts of inputs are composited over: white | black | R,G,B */
    int keep_alpha;         /* the content's alpha channel into the output */
    int keep_profile;       /* the output in the content's colour profile instead of sRGB */
    /* image sizes */
    int size;
    double style_scale;
    int scales[TS_MAX_LIST];
    int nscales;
    int iterations[TS_MAX_LIST];
    int niterations;
    /* network */
    char *weights;
    char *arch;
    char *pool;
    char *preprocess;
    char *backend;  /* cpu | cuda | auto */
    char *gpu_math; /* fp32 | tf32 */
    int cuda_aware_mpi;
    char *conv; /* auto | im2col | winograd */
    /* loss */
    double loss_weight[TS_MAX_LIST]; /* --<term>-weight, by loss-term index (loss.h); NaN: the preset's */
    char *style_layers[TS_MAX_LIST];
    int nstyle_layers;
    double layer_weights[TS_MAX_LIST];
    int nlayer_weights;
    char *content_layers[TS_MAX_LIST];
    int ncontent_layers;
    /* optimiser */
    char *optimizer;
    int lbfgs_history;
    double learning_rate;
    /* colour */
    int original_colors;
    int luminance_only;
    /* distribution */
    char *mode;  /* single | independent | exact | auto */
    char *tiles; /* "RxC", NULL: a grid that fits the ranks */
    int halo;    /* px, -1: what the mode needs */
    char *blend; /* independent mode's gather: cosine | none */
    char *halo_exchange; /* exact mode: auto | image | layer */
    /* run */
    long seed;
    int threads;
    int print_every;
    int quiet;
    /* which options were given (by flag or config), indexed like the option table */
    unsigned char given[64];
} ts_options;

/* Which command's flags: "run" takes all; "grad" takes the evaluation ones. */
typedef enum { TS_CMD_RUN = 1, TS_CMD_GRAD = 2 } ts_command;

void ts_options_defaults(ts_options *o);
void ts_options_free(ts_options *o);

/* Parses argv (after the command word). A --config file is read first, then flags override it.
 * Returns 0, 1 if --help was printed, -1 on a bad flag/value/config (err says which). */
int ts_options_parse(ts_options *o, ts_command cmd, int argc, char **argv, ts_err *err);
/* Applies a JSON config text (snake_case names); unknown keys are warned about on stderr. */
int ts_options_apply_json(ts_options *o, const char *text, size_t len, const char *source, ts_err *err);
int ts_options_load_config(ts_options *o, const char *path, ts_err *err);

/* A key given twice in a JSON object (cJSON keeps both) is an error: returns -1 with err naming it
 * (where: the file or part of it), else 0. comments_repeat: keys starting with "_" may repeat. */
struct cJSON;
int ts_json_duplicate_key(const struct cJSON *obj, const char *where, int comments_repeat, ts_err *err);

/* 1 if the named option (kebab or snake case) was set by the user. */
int ts_options_given(const ts_options *o, const char *name);

void ts_options_print_help(ts_command cmd, const char *prog);
/* Writes every option with its default as a JSON object (what configs/default.json holds). */
char *ts_options_defaults_json(void);
/* The resolved options as JSON (for the per-run record). */
char *ts_options_to_json(const ts_options *o);

#endif
