/* loss.h - the objective of DESIGN.md section 1: content, style (Gram) and total-variation terms.
 *
 *   G(F) = F F^T / M;  A_l = sum_s b_s G(F_l(style_s))
 *   E_style   = sum_l lambda_l / (4 C_l^2) * sum_ij (G(F_l(x)) - A_l)_ij^2
 *   E_content = sum_c 1 / (4 C M) * sum (F_c(x) - F_c(content))^2
 *   E_tv      = 1 / (3 H W) * sum (horizontal and vertical squared differences of the [0,1] image)
 *   L = alpha E_content + beta E_style + gamma E_tv, gradient w.r.t. the [0,1] RGB image.
 */
#ifndef TESSERA_LOSS_H
#define TESSERA_LOSS_H

#include "tessera/vgg.h"

#define TS_MAX_LOSS_LAYERS 16

typedef struct {
    int nstyle;
    int style_layer[TS_MAX_LOSS_LAYERS]; /* layer indices into the architecture's table */
    double style_lambda[TS_MAX_LOSS_LAYERS];
    int ncontent;
    int content_layer[TS_MAX_LOSS_LAYERS];
    double alpha, beta, gamma;
} ts_loss_spec;

/* The weighted terms: content = alpha E_content, style = beta E_style, tv = gamma E_tv. */
typedef struct {
    double total, content, style, tv;
} ts_loss_terms;

/* Where the losses are read when the image is split into tiles: the owned region of the image and of
 * each loss layer's output, with the global sizes the loss is normalised by. Partial sums over owned
 * regions, added across tiles, give exactly the whole image's loss. */
typedef struct {
    ts_rect image;
    double image_hw; /* global H * W */
    ts_rect style[TS_MAX_LOSS_LAYERS];
    double style_m[TS_MAX_LOSS_LAYERS]; /* global positions M of the layer */
    ts_rect content[TS_MAX_LOSS_LAYERS];
    double content_m[TS_MAX_LOSS_LAYERS];
} ts_objective_tile;

typedef struct {
    ts_vgg *net;
    ts_loss_spec spec;
    float *style_target[TS_MAX_LOSS_LAYERS]; /* C x C, backend memory */
    float *gram[TS_MAX_LOSS_LAYERS];         /* G(x) - A after an evaluation */
    float *content_target[TS_MAX_LOSS_LAYERS];
    int content_h, content_w; /* input size the content targets were taken at */
    int tiled;
    ts_objective_tile tile;
    double *partials; /* this evaluation's packed partial sums */
    float *stage;     /* host staging for Gram matrices, 2 x the largest C x C (page-locked on a GPU) */
    ts_loss_terms last;
    /* Optional hook run once per evaluation on the packed partial sums (style Grams, content and TV
     * sums) before the loss is formed: where distributed modes add the tiles' partials. */
    void (*reduce)(double *partials, size_t n, void *ctx);
    void *reduce_ctx;
} ts_objective;

/* The deepest layer the spec needs and which layer outputs losses read (for ts_vgg_init). */
int ts_loss_spec_deepest(const ts_loss_spec *spec);
void ts_loss_spec_keep(const ts_loss_spec *spec, int *keep /* TS_VGG_MAX_LAYERS */);

void ts_objective_init(ts_objective *obj, ts_vgg *net, const ts_loss_spec *spec);
void ts_objective_free(ts_objective *obj);

/* A_l from nstyles style images (each 3 x h_s x w_s, [0,1], backend memory) and blend weights b_s
 * (normalised here to sum 1; NULL = equal). */
void ts_objective_set_style(ts_objective *obj, const float *const *styles, const int *h, const int *w,
                            const double *blend, int nstyles);
/* The style targets packed layer after layer (host memory, ts_objective_ntargets floats), so one rank
 * can compute them and the others receive them. */
size_t ts_objective_ntargets(const ts_objective *obj);
void ts_objective_get_targets(const ts_objective *obj, float *packed);
void ts_objective_set_targets(ts_objective *obj, const float *packed);

/* Adds weight x this tile's share of G(F_l(style)) for every style layer into packed (doubles, in the
 * order of ts_objective_get_targets): the network runs on the style tile x (3 x H x W, backend memory)
 * and only the owned regions of tile count, normalised by the global M (tile NULL: the whole image).
 * Summed over the tiles of a style image, this is that image's term of A_l. */
void ts_objective_style_partials(ts_objective *obj, const float *x, int H, int W, const ts_objective_tile *tile,
                                 double weight, double *packed);

/* Content features of a 3 x H x W image (backend memory); evaluations must use the same size. */
void ts_objective_set_content(ts_objective *obj, const float *content, int H, int W);
/* Read the losses over owned regions only (tile != NULL) or over everything (NULL, the default). */
void ts_objective_set_tile(ts_objective *obj, const ts_objective_tile *tile);

/* The two halves of an evaluation, for callers that add partials across tiles themselves:
 * forward ADDS this tile's partial sums into partials (ts_objective_npartials doubles); backward takes
 * the totals and writes dL/dx for this tile's input (grad, overwritten; it reaches halo pixels). */
size_t ts_objective_npartials(const ts_objective *obj);
void ts_objective_forward(ts_objective *obj, const float *x, double *partials);
ts_loss_terms ts_objective_backward(ts_objective *obj, const double *totals, const float *x, float *grad);

/* L(x) and, if grad is not NULL, dL/dx (3 x H x W, backend memory, overwritten): forward, the reduce
 * hook, backward. */
ts_loss_terms ts_objective_eval(ts_objective *obj, const float *x, float *grad);

#endif
