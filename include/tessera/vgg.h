/* vgg.h - the VGG16/VGG19 conv trunk: a static layer table, weights, forward and backward-to-input.
 *
 * Layers are named conv{b}_{i}, relu{b}_{i}, pool{b}. The network runs only up to the deepest layer a
 * loss needs. Forward keeps what backward needs; backward produces dL/dx for the [0,1] RGB image,
 * through the preprocessing. No weight gradients.
 */
#ifndef TESSERA_VGG_H
#define TESSERA_VGG_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/backend.h"
#include "tessera/check.h"
#include "tessera/safetensors.h"
#include "tessera/tensor.h"

typedef enum { TS_VGG16 = 16, TS_VGG19 = 19 } ts_arch;
typedef enum { TS_LAYER_CONV, TS_LAYER_RELU, TS_LAYER_POOL } ts_layer_kind;
typedef enum { TS_PREPROC_TORCHVISION = 0, TS_PREPROC_CAFFE = 1 } ts_preproc;

#define TS_VGG_MAX_LAYERS 40
#define TS_VGG_MAX_CONVS 16

typedef struct {
    ts_layer_kind kind;
    char name[24];
    int feature_index; /* torchvision features.N index */
    int conv;          /* index among the convs (conv layers only), else -1 */
} ts_layer_desc;

/* The static table of an architecture; returns the number of layers (conv, relu, pool). */
int ts_vgg_table(ts_arch arch, const ts_layer_desc **layers);
/* Index of a named layer in the table, -1 if the name is not a layer of this architecture. */
int ts_vgg_find(ts_arch arch, const char *name);
const char *ts_arch_name(ts_arch arch);
/* Cumulative stride of layer l's output (1, 2, 4, 8 or 16), and its level k: the poolings up to l,
 * stride 2^k. */
int ts_vgg_layer_stride(ts_arch arch, int l);
int ts_vgg_layer_level(ts_arch arch, int l);
/* How far (px) beyond its stride cell an output position of layer l sees into the input: the sum of
 * the input strides of the 3x3 convolutions up to l (70 for VGG19 relu5_1). */
int ts_vgg_margin(ts_arch arch, int l);
int ts_arch_parse(const char *s, ts_arch *out); /* "vgg16" / "vgg19"; 0 ok, -1 unknown */

/* Conv weights on the host: K x C x 3 x 3 and K biases per conv, widths read from the source. */
typedef struct {
    ts_arch arch;
    int nconv;
    int in_c[TS_VGG_MAX_CONVS], out_c[TS_VGG_MAX_CONVS];
    float *w[TS_VGG_MAX_CONVS], *b[TS_VGG_MAX_CONVS];
    ts_preproc preproc; /* from the file's metadata (torchvision when absent) */
    int is_random;      /* the seeded stand-in */
    char source[256];   /* a description for logs */
} ts_vgg_weights;

/* Takes the first nconv convs of arch from a safetensors file (keys features.N.weight/bias).
 * Validates presence, rank, 3x3 kernels, bias length and that widths chain (first input is 3). */
int ts_vgg_weights_from_safetensors(const ts_safetensors *st, const char *path, ts_arch arch, int nconv,
                                    ts_vgg_weights *out, ts_err *err);
int ts_vgg_weights_load(const char *path, ts_arch arch, int nconv, ts_vgg_weights *out, ts_err *err);
/* The seeded random stand-in: Kaiming-normal (fan-out, ReLU gain) weights, zero biases, standard
 * VGG widths (64, 128, 256, 512, 512), torchvision preprocessing. */
void ts_vgg_weights_random(ts_arch arch, uint64_t seed, int nconv, ts_vgg_weights *out);
void ts_vgg_weights_free(ts_vgg_weights *wt);

/* Per-layer halos (the exact mode's layer exchange). The tensors at stride 2^k (k = 0..4) are
 * h[k] x w[k]: the tile's owned part inner[k] plus a ring from its neighbours. The network calls
 * halo(ctx, layer, t, C, h, w, op) in pairs:
 * - TS_HALO_FILL_BEGIN before every conv but the first starts filling the ring of its input t from
 *   the tiles that own it; TS_HALO_FILL_END completes it. In between the network convolves the
 *   positions whose 3x3 window stays inside the owned part (when the backend computes a rect alone,
 *   conv_rect_windowed), then after END the frame next to the ring, so the messages travel while
 *   the rank computes.
 * - TS_HALO_RETURN_BEGIN after that conv's backward pass sends the ring of the input gradient to its
 *   owners and zeroes it; TS_HALO_RETURN_END, after the next layer's losses have added their
 *   gradient (inject; additions commute), adds what the neighbours sent back.
 * Forward convolutions are asked for inner[k] only (conv3x3_forward_rect; "same" padding over the
 * whole tensor): their ring outputs are stale or wrong and never read, since pooling reads inner[k]
 * only, losses read owned regions, every ring is overwritten before the next conv, and the gradient
 * reaching a ring is zero. All tiles call forward and backward together (the halo function is
 * collective). overlap = 0 ends every exchange right after it begins (for measuring the overlap). */
typedef enum { TS_HALO_FILL_BEGIN, TS_HALO_FILL_END, TS_HALO_RETURN_BEGIN, TS_HALO_RETURN_END } ts_vgg_halo_op;
typedef void (*ts_vgg_halo_fn)(void *ctx, int layer, float *t, int C, int h, int w, ts_vgg_halo_op op);
typedef struct {
    int h[5], w[5];
    ts_rect inner[5];
    ts_vgg_halo_fn halo;
    void *ctx;
    int overlap;
} ts_vgg_layout;

/* A network instance bound to a backend, sized for one input size at a time. */
typedef struct {
    ts_layer_kind kind;
    const char *name;
    int conv;                /* conv index or -1 */
    int in_c, in_h, in_w;    /* input shape */
    int out_c, out_h, out_w; /* output shape */
    float *out;              /* activation (backend memory); may alias the previous layer's (in-place ReLU) */
    int owns_out;
} ts_layer;

typedef struct {
    const ts_backend *be;
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc preproc;
    int nlayers; /* run up to and including layer nlayers-1 */
    ts_layer layers[TS_VGG_MAX_LAYERS];
    int keep[TS_VGG_MAX_LAYERS]; /* layer output read by a loss: never overwritten in place */
    float *w[TS_VGG_MAX_CONVS], *b[TS_VGG_MAX_CONVS]; /* backend copies */
    void *prepared[TS_VGG_MAX_CONVS];                 /* fast-algorithm weights, or NULL */
    int H, W;                                         /* current input size, 0 before the first forward */
    float *input;                                     /* preprocessed input, 3 x H x W */
    float *scratch[2];                                /* backward buffers */
    size_t scratch_n;
    int layered;          /* a layout is set (ts_vgg_set_layout) */
    ts_vgg_layout layout;
} ts_vgg;

/* deepest: the deepest layer index any loss needs; keep[i] (nonzero) marks layers read by losses
 * (may be NULL). The weights must hold at least the convs up to deepest. */
void ts_vgg_init(ts_vgg *net, const ts_backend *be, const ts_vgg_weights *wt, ts_pool_kind pool,
                 ts_preproc preproc, int deepest, const int *keep);
void ts_vgg_free(ts_vgg *net);

/* Which convolution algorithm: AUTO (the default) uses the backend's prepared fast path (Winograd on
 * the CPU) for convs with at least 16 input and output channels and the direct one for conv1_1;
 * DIRECT uses the direct path everywhere (im2col + GEMM on the CPU); FAST uses the fast path on
 * every conv. Returns the bytes held by prepared weights. */
typedef enum { TS_CONV_AUTO = 0, TS_CONV_DIRECT = 1, TS_CONV_FAST = 2 } ts_conv_algo;
size_t ts_vgg_set_conv(ts_vgg *net, ts_conv_algo algo);
int ts_conv_algo_parse(const char *s, ts_conv_algo *out); /* "auto", "im2col", "winograd" */

/* Runs with per-layer halos from now on (NULL: back to whole tensors); the input must then be
 * h[0] x w[0]. Each pool must map inner[k] (floored halves) onto inner[k+1]. */
void ts_vgg_set_layout(ts_vgg *net, const ts_vgg_layout *layout);
/* x: 3 x H x W RGB in [0,1] (backend memory). Fills every layer's out. */
void ts_vgg_forward(ts_vgg *net, const float *x, int H, int W);

/* Backward from the top: for each layer from deepest down, inject(ctx, layer, grad) may add dL/d(out)
 * into grad (a buffer of the layer's output size, zeroed at the start); then the gradient is carried
 * through the layer. Ends with dL/dx for the [0,1] RGB image, written (overwritten) into dx. */
typedef void (*ts_vgg_inject_fn)(void *ctx, int layer, float *grad);
void ts_vgg_backward(ts_vgg *net, ts_vgg_inject_fn inject, void *ctx, float *dx);

/* The preprocessing as an affine map per channel: y[c] = scale[c] * x[src[c]] + shift[c]. */
void ts_preproc_affine(ts_preproc p, float scale[3], float shift[3], int src[3]);
const char *ts_preproc_name(ts_preproc p);

#endif
