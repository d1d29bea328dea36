/* run.h - one image: validate inputs, load weights, scales x optimiser loop, write the output. */
#ifndef TESSERA_RUN_H
#define TESSERA_RUN_H

#include <stdio.h>

#include "tessera/image.h"
#include "tessera/loss.h"
#include "tessera/options.h"
#include "tessera/vgg.h"

typedef struct {
    ts_options *opt;
    const ts_backend *be;
    ts_backend_choice backend; /* which backend and device this process uses */
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc preproc;
    ts_vgg_weights weights;
    char *weights_path; /* NULL for the random stand-in */
    int weights_missing; /* auto found no file */
    const char *preset; /* "random", "torchvision" or "caffe" */
    ts_loss_spec spec;
    ts_image content;          /* as read */
    ts_image style[TS_MAX_LIST]; /* as read */
    int nstyle;
    ts_image init;             /* as read, when --init names a file */
    int scales[TS_MAX_LIST];   /* long side per scale */
    int iterations[TS_MAX_LIST];
    int nscales;
    int threads;
    ts_conv_algo conv;
    char net_layer_name[24]; /* the deepest layer the losses need */
} ts_job;

/* What --weights auto finds for arch: $TESSERA_WEIGHTS, weights/<arch>.safetensors, or the same
 * beside the binary (malloc'd path); NULL: none, the random stand-in is used. */
char *ts_find_weights(const char *arch);
/* --backend, --gpu-math and --cuda-aware-mpi for a process with this node-local rank (its GPU is
 * local_rank mod the GPUs it sees). Returns 0, or -1 with err (no GPU for --backend cuda, an MPI
 * library without CUDA support for --cuda-aware-mpi): input problems, exit code 2. */
int ts_job_select_backend(const ts_options *o, int local_rank, ts_backend_choice *ch, ts_err *err);
/* The one-line notice that --backend auto fell back to the CPU (nothing with --quiet). */
void ts_job_backend_notice(const ts_job *job);
/* "CUDA device 0 NAME (sm_XY, N SMs, C MHz), fp32 GEMMs" or "CPU, N threads", for the start-up line */
void ts_backend_describe(const ts_backend_choice *ch, const char *gpu_math, int threads, char *buf, size_t n);

/* Everything that can be wrong with the input is found here, before any output is opened.
 * Returns 0, or -1 with err set (the caller exits with code 2). */
int ts_job_prepare(ts_job *job, ts_options *opt, int need_output, ts_err *err);
void ts_job_free(ts_job *job);

/* The run command: optimise and write --output. Returns 0, or -1 with err (input problems found late,
 * e.g. an output that cannot be written). */
int ts_job_run(ts_job *job, ts_err *err);
/* Pieces of a run that the tiled drivers share (k: scale index). */
void ts_job_scale_size(const ts_job *job, int k, int *W, int *H);
/* the content at scale k: orig (for colour preservation) and for_loss (grey with --luminance-only) */
void ts_job_content(const ts_job *job, int k, ts_image *orig, ts_image *for_loss);
/* style image s resampled for scale k (grey with --luminance-only), and its blend weight (sum 1) */
void ts_job_style_image(const ts_job *job, int k, int s, ts_image *out);
double ts_job_style_weight(const ts_job *job, int s);
/* the style targets at scale k, computed with obj's network */
void ts_job_style_targets(ts_job *job, ts_objective *obj, int k);
/* the starting image of scale k: --init at k = 0, else prev upsampled */
void ts_job_start(const ts_job *job, int k, const ts_image *prev, const ts_image *content_for_loss, ts_image *start);
/* --original-colors / --luminance-only applied to a finished image */
void ts_job_final_colors(const ts_job *job, ts_image *img, const ts_image *content_orig);

/* One --log line (JSON): iteration, scale (1-based), size, the weighted loss terms, evaluations so
 * far, seconds of this iteration and since the start; comm >= 0 and wait >= 0 add this rank's seconds
 * of communication and of waiting for slower ranks so far, tile >= 0 the tile the line is about.
 * Nothing when log is NULL. */
void ts_log_iteration(FILE *log, int iter, int scale, int W, int H, ts_loss_terms t, int evals, double seconds,
                      double elapsed, double comm, double wait, int tile);

/* Closes a --log file (NULL: nothing to do); -1 with "PATH: cannot write the log: reason" when a line
 * could not be written (e.g. a full disk). */
int ts_log_close(FILE *log, const char *path, ts_err *err);

/* The grad command: one evaluation at --init; prints the JSON line, writes --grad-out. */
int ts_job_grad(ts_job *job, ts_err *err);

#endif
