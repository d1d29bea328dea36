/* loss.h - the objective (docs/DESIGN.md §1): a list of loss terms over the VGG features.
 *
 *   G(F) = F F^T / M;  A_l = sum_s b_s G(F_l(style_s))
 *   E_style   = sum_l lambda_l / (4 C_l^2) * sum_ij (G(F_l(x)) - A_l)_ij^2
 *   with masks (a style per region), guided Grams G_w(F) = F diag(w^2) F^T / sum_p w_p^2 and one
 *   target per style: E_style = sum_l lambda_l sum_s b_s / (4 C_l^2) sum_ij (G_m_s - A_l,s)_ij^2
 *   E_content = sum_c 1 / (4 C M) * sum (F_c(x) - F_c(content))^2
 *   E_tv      = 1 / (3 H W) * sum (horizontal and vertical squared differences of the [0,1] image)
 *   L = sum_t w_t E_t (w = alpha, beta, gamma), gradient w.r.t. the [0,1] RGB image.
 *
 * The terms are the rows of the table in src/engine/loss_terms.c, in that order everywhere: the log
 * lines, grad's JSON, the packed partial sums that tiled runs add across ranks. Each term is a file
 * (src/engine/loss_<name>.c) with the functions of src/engine/loss_term.h; its weight is the option
 * --<name>-weight. A new term is its file, a row in the table and its weight option.
 */
#ifndef TESSERA_LOSS_H
#define TESSERA_LOSS_H

#include "tessera/vgg.h"

#define TS_MAX_LOSS_LAYERS 16
#define TS_MAX_LOSS_TERMS 8
#define TS_LOSS_STRIDES 5 /* layer strides 1, 2, 4, 8, 16 */
#define TS_MAX_MASKS 16   /* style masks: one per style image */

typedef struct {
    int nstyle;
    int style_layer[TS_MAX_LOSS_LAYERS]; /* layer indices into the architecture's table */
    double style_lambda[TS_MAX_LOSS_LAYERS];
    int ncontent;
    int content_layer[TS_MAX_LOSS_LAYERS];
    double weight[TS_MAX_LOSS_TERMS]; /* per term, in table order (alpha, beta, gamma) */
    int nmasks;                       /* style masks: one per style image, 0 for none (one blended target) */
    double mask_blend[TS_MAX_MASKS];   /* with masks: b_s, summing to 1 */
} ts_loss_spec;

/* Masks for guided Grams (docs/DESIGN.md §1): n masks, each one weight per position at every layer
 * stride 2^k (k = 0..4: the mask, then 2x2 averages with the floor rule, as the network pools), h[k]
 * x w[k] values in host memory, and z[s][k] = sum of w^2 over the whole image at that stride, which
 * the guided Grams are normalised by. */
typedef struct {
    int n;
    int h[TS_LOSS_STRIDES], w[TS_LOSS_STRIDES];
    float *level[TS_MAX_MASKS][TS_LOSS_STRIDES];
    double z[TS_MAX_MASKS][TS_LOSS_STRIDES];
} ts_mask_set;

/* The levels of n full-resolution H x W masks (values clamped to [0,1]); z their sums. */
void ts_mask_set_build(ts_mask_set *m, const float *const *masks, int n, int H, int W);
/* The rects r[k] of every level of whole (the owned part and ring of a tile), z kept: the whole's. */
void ts_mask_set_crop(const ts_mask_set *whole, const ts_rect *r /* TS_LOSS_STRIDES */, ts_mask_set *out);
/* z from the levels held (a tile read as a picture of its own: independent mode) */
void ts_mask_set_sum(ts_mask_set *m);
void ts_mask_set_free(ts_mask_set *m);

/* The terms of one evaluation: term[t] is the weighted w_t E_t, total their sum. */
typedef struct {
    double total;
    double term[TS_MAX_LOSS_TERMS];
} ts_loss_terms;

/* The table of terms: how many, each one's name ("content", "style", "tv": the keys of log lines and
 * grad's JSON), and the index of a name (-1 if none). */
int ts_loss_nterms(void);
const char *ts_loss_term_name(int t);
int ts_loss_term_find(const char *name);
/* Sets the weight of the named term (a term that does not exist is a bug). */
void ts_loss_spec_set_weight(ts_loss_spec *spec, const char *term, double weight);

/* Where the losses are read when the image is split into tiles: the tile's owned part at each layer
 * stride 2^k (k = 0..4), in the tile tensor's coordinates, and the whole image's size, by which the
 * losses are normalised (M = floor(H/s) floor(W/s) at stride s). Partial sums over owned parts,
 * added across tiles, give exactly the whole image's loss. */
typedef struct {
    ts_rect own[TS_LOSS_STRIDES];
    int H, W;
} ts_objective_tile;

typedef struct {
    ts_vgg *net;
    ts_loss_spec spec;
    void *state[TS_MAX_LOSS_TERMS]; /* what a term keeps (its targets), by table index */
    /* the style term's, which the drivers reach through the calls below */
    float *style_target[TS_MAX_LOSS_LAYERS]; /* C x C, backend memory */
    float *gram[TS_MAX_LOSS_LAYERS];         /* G(x) - A after an evaluation */
    float *stage; /* host staging for Gram matrices, 2 x the largest C x C (page-locked on a GPU) */
    /* guided Grams: the content masks at every stride (backend memory) and their normalisers; targets
     * and G - A then hold one C x C block per mask */
    float *mask[TS_MAX_MASKS][TS_LOSS_STRIDES];
    double mask_z[TS_MAX_MASKS][TS_LOSS_STRIDES];
    int mask_h[TS_LOSS_STRIDES], mask_w[TS_LOSS_STRIDES];
    float *masked, *dmasked; /* scratch, the largest style layer: F * w and its gradient */
    size_t masked_n;
    int content_h, content_w; /* input size the content targets were taken at */
    int tiled;
    ts_objective_tile tile;
    double *partials; /* this evaluation's packed partial sums */
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
 * (normalised here to sum 1; NULL = equal). With masks (spec.nmasks) one target per style instead,
 * A_l,s = G_n_s(F_l(style_s)), guided by style_masks[s] (NULL, or a NULL entry: all ones). */
void ts_objective_set_style(ts_objective *obj, const float *const *styles, const int *h, const int *w,
                            const double *blend, int nstyles, const ts_mask_set *const *style_masks);
/* The content masks of the image the losses read (one per style, tensor-sized levels: the whole
 * image, or a tile's extended rects), with the normalisers in m->z. */
void ts_objective_set_masks(ts_objective *obj, const ts_mask_set *m);
/* The style targets packed layer after layer (host memory, ts_objective_ntargets floats), so one rank
 * can compute them and the others receive them. */
size_t ts_objective_ntargets(const ts_objective *obj);
void ts_objective_get_targets(const ts_objective *obj, float *packed);
void ts_objective_set_targets(ts_objective *obj, const float *packed);

/* Adds weight x this tile's share of G(F_l(style)) for every style layer into packed (doubles, in the
 * order of ts_objective_get_targets; slot: the style's block with masks, else 0): the network runs on
 * the style tile x (3 x H x W, backend memory) and only the owned regions of tile count, normalised by
 * the global M (tile NULL: the whole image), or guided by mask (the tile's levels of the style image's
 * mask, normalised by its z; NULL: none). Summed over the tiles of a style image, this is that image's
 * term of A_l (A_l,s with masks). */
void ts_objective_style_partials(ts_objective *obj, const float *x, int H, int W, const ts_objective_tile *tile,
                                 const ts_mask_set *mask, int slot, double weight, double *packed);

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
