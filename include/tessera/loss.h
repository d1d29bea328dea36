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

typedef struct {
    ts_vgg *net;
    ts_loss_spec spec;
    float *style_target[TS_MAX_LOSS_LAYERS]; /* C x C, backend memory */
    float *gram[TS_MAX_LOSS_LAYERS];         /* G(x) - A after an evaluation */
    float *content_target[TS_MAX_LOSS_LAYERS];
    int content_h, content_w; /* input size the content targets were taken at */
    ts_loss_terms last;
    /* Optional hook run on the packed style Grams of the current image before the loss is formed (the
     * place where distributed modes sum partial Grams). NULL in a single process. */
    void (*reduce_grams)(float *grams, size_t n, void *ctx);
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
/* Content features of a 3 x H x W image (backend memory); evaluations must use the same size. */
void ts_objective_set_content(ts_objective *obj, const float *content, int H, int W);

/* L(x) and, if grad is not NULL, dL/dx (3 x H x W, backend memory, overwritten). */
ts_loss_terms ts_objective_eval(ts_objective *obj, const float *x, float *grad);

#endif
