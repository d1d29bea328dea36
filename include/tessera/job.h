/* job.h - the job model: one image's run or grad with every input checked, read and resolved before
 * any work (ts_job_prepare), and the pieces each scale needs (sizes, content, style targets, start
 * image), shared by the single-process driver (single.h) and the tiled one (tiled.h). */
#ifndef TESSERA_JOB_H
#define TESSERA_JOB_H

#include "tessera/image.h"
#include "tessera/loss.h"
#include "tessera/optim.h"
#include "tessera/options.h"
#include "tessera/vgg.h"

/* Enumerated options, resolved once: the name tables are in src/app/job.c. The mode's values are
 * also part of checkpoint fingerprints, so they stay as they are. */
typedef enum { TS_MODE_SINGLE = 0, TS_MODE_INDEPENDENT = 1, TS_MODE_EXACT = 2, TS_MODE_AUTO = 3 } ts_mode;
typedef enum { TS_BLEND_COSINE = 0, TS_BLEND_NONE = 1 } ts_blend;
typedef enum { TS_HALO_XCHG_AUTO = 0, TS_HALO_XCHG_IMAGE = 1, TS_HALO_XCHG_LAYER = 2 } ts_halo_xchg;
typedef enum { TS_INIT_CONTENT = 0, TS_INIT_RANDOM = 1, TS_INIT_IMAGE = 2 } ts_init_kind;

/* The position of value in names (n of them), -1 when it is none of them. */
int ts_choice(const char *value, const char *const *names, int n);
/* --mode on the current communicator: auto is single on one rank, exact on more. Not collective. */
ts_mode ts_job_mode(const ts_options *o);
const char *ts_mode_name(ts_mode m);

typedef struct {
    ts_options *opt;
    const ts_backend *be;
    ts_backend_choice backend; /* which backend and device this process uses */
    ts_mode mode;
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc preproc;
    ts_conv_algo conv;
    const ts_optimizer *optimizer;
    ts_blend blend;
    ts_halo_xchg halo_xchg;
    ts_init_kind init_kind;
    ts_vgg_weights weights;
    char *weights_path; /* NULL for the random stand-in */
    int weights_missing; /* auto found no file */
    const char *preset; /* "random", "torchvision" or "caffe" */
    ts_loss_spec spec;
    ts_image content;          /* as read */
    ts_image style[TS_MAX_LIST]; /* as read */
    int nstyle;
    ts_image mask[TS_MAX_LIST];       /* --style-masks as read, luminance (every channel); nmasks of them */
    ts_image style_mask[TS_MAX_LIST]; /* --style-image-masks as read; nstyle_masks of them */
    int nmasks, nstyle_masks;
    ts_image init;             /* as read, when --init names a file */
    float background[3];       /* --background */
    float *content_alpha;      /* with --keep-alpha, the content's alpha channel (content.w x h), NULL: none */
    unsigned char *content_icc; /* with --keep-profile, the content's colour profile, NULL: none (sRGB) */
    size_t content_icc_len;
    int scales[TS_MAX_LIST];   /* long side per scale */
    int iterations[TS_MAX_LIST];
    int nscales;
    int threads;
    char net_layer_name[24]; /* the deepest layer the losses need */
} ts_job;

/* What --weights auto finds for arch: $TESSERA_WEIGHTS, weights/<arch>.safetensors, or the same
 * beside the binary (malloc'd path); NULL: none, the random stand-in is used. */
char *ts_find_weights(const char *arch);
/* CPU threads for a process: requested (> 0), else OMP_NUM_THREADS or SLURM_CPUS_PER_TASK, else the
 * node's cores shared among node_ranks processes. */
int ts_job_threads(int requested, int node_ranks);
/* --backend, --gpu-math and --cuda-aware-mpi for a process with this node-local rank (its GPU is
 * local_rank mod the GPUs it sees). Returns 0, or -1 with err (no GPU for --backend cuda, an MPI
 * library without GPU support for --cuda-aware-mpi): input problems, exit code 2. */
int ts_job_select_backend(const ts_options *o, int local_rank, ts_backend_choice *ch, ts_err *err);
/* The one-line notice that --backend auto fell back to the CPU (nothing with --quiet). */
void ts_job_backend_notice(const ts_job *job);
/* "cuda device 0 NAME (sm_XY, N SMs, C MHz), fp32 GEMMs" or "CPU, N threads", for the start-up line */
void ts_backend_describe(const ts_backend_choice *ch, const char *gpu_math, int threads, char *buf, size_t n);

/* Everything that can be wrong with the input is found here, before any output is opened.
 * Returns 0, or -1 with err set (the caller exits with code 2). */
int ts_job_prepare(ts_job *job, ts_options *opt, ts_command cmd, ts_err *err);
void ts_job_free(ts_job *job);

/* Pieces of a run (k: scale index). */
void ts_job_scale_size(const ts_job *job, int k, int *W, int *H);
/* the content at scale k: orig (for colour preservation) and for_loss (grey with --luminance-only) */
void ts_job_content(const ts_job *job, int k, ts_image *orig, ts_image *for_loss);
/* style image s resampled for scale k (grey with --luminance-only), and its blend weight (sum 1) */
void ts_job_style_image(const ts_job *job, int k, int s, ts_image *out);
double ts_job_style_weight(const ts_job *job, int s);
/* the style targets at scale k, computed with obj's network */
void ts_job_style_targets(ts_job *job, ts_objective *obj, int k);
/* The content masks at scale k (the content's working size), all of them; out->n = 0 without masks. */
void ts_job_masks(const ts_job *job, int k, ts_mask_set *out);
/* Style image s's mask at scale k (that image's working size); out->n = 0 when it has none. */
void ts_job_style_mask(const ts_job *job, int k, int s, ts_mask_set *out);
/* the starting image of scale k: --init at k = 0, else prev upsampled */
void ts_job_start(const ts_job *job, int k, const ts_image *prev, const ts_image *content_for_loss, ts_image *start);
/* --original-colors / --luminance-only applied to a finished image */
void ts_job_final_colors(const ts_job *job, ts_image *img, const ts_image *content_orig);
/* Writes an output image (the final one or an intermediate), with the content's alpha channel
 * resampled to its size when --keep-alpha found one, in the content's profile with --keep-profile. */
int ts_job_write_image(const ts_job *job, const char *path, const ts_image *img, ts_err *err);
/* An image copied into new backend memory (3 x h x w floats). */
float *ts_job_upload(const ts_backend *be, const ts_image *img);
/* The optimiser settings of the options, for a vector of n floats. */
ts_optim_params ts_job_optim_params(const ts_options *o, const ts_backend *be, size_t n, ts_reduce_hook hook);

#endif
