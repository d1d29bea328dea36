/* loss_style.c - the style term: Gram matrices of the style layers against the targets A_l.
 *
 *   E_style = sum_l lambda_l / (4 C_l^2) * sum_ij (G(F_l(x)) - A_l)_ij^2,  G(F) = F F^T / M
 *   d/dF of lambda/(4C^2) sum (G-A)^2 is lambda/(C^2 M) (G-A) F
 * Partial sums: each style layer's Gram over the owned region, normalised by the global M (C x C
 * doubles a layer), so the tiles' Grams add up to the whole image's. */
#include <string.h>

#include "loss_term.h"

static size_t style_c(const ts_objective *obj, int i) {
    return (size_t)ts_loss_layer(obj, obj->spec.style_layer[i])->out_c;
}

static size_t max_style_cc(const ts_objective *obj) {
    size_t m = 1;
    for (int i = 0; i < obj->spec.nstyle; i++)
        if (style_c(obj, i) * style_c(obj, i) > m) m = style_c(obj, i) * style_c(obj, i);
    return m;
}

size_t ts_objective_ntargets(const ts_objective *obj) {
    size_t n = 0;
    for (int i = 0; i < obj->spec.nstyle; i++) n += style_c(obj, i) * style_c(obj, i);
    return n;
}

static void *style_init(ts_objective *obj) {
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t C = style_c(obj, i);
        obj->style_target[i] = be->alloc(C * C);
        obj->gram[i] = be->alloc(C * C);
    }
    obj->stage = be->host_alloc(2 * max_style_cc(obj));
    return NULL; /* its state is the objective's style fields */
}

static void style_free(ts_objective *obj, void *state) {
    (void)state;
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < TS_MAX_LOSS_LAYERS; i++) {
        if (obj->style_target[i]) be->free(obj->style_target[i]);
        if (obj->gram[i]) be->free(obj->gram[i]);
    }
    if (obj->stage) be->host_free(obj->stage);
}

void ts_objective_set_style(ts_objective *obj, const float *const *styles, const int *h, const int *w,
                            const double *blend, int nstyles) {
    const ts_backend *be = obj->net->be;
    double bsum = 0.0;
    for (int s = 0; s < nstyles; s++) bsum += blend ? blend[s] : 1.0;
    for (int i = 0; i < obj->spec.nstyle; i++) be->fill(0.0f, obj->style_target[i], style_c(obj, i) * style_c(obj, i));
    for (int s = 0; s < nstyles; s++) {
        double b = (blend ? blend[s] : 1.0) / bsum;
        ts_vgg_forward(obj->net, styles[s], h[s], w[s]);
        for (int i = 0; i < obj->spec.nstyle; i++) {
            const ts_layer *L = ts_loss_layer(obj, obj->spec.style_layer[i]);
            size_t M = (size_t)L->out_h * L->out_w;
            be->gram(L->out, L->out_c, M, (float)(b / (double)M), obj->gram[i]);
            be->axpy(1.0f, obj->gram[i], obj->style_target[i], (size_t)L->out_c * L->out_c);
        }
    }
}

void ts_objective_get_targets(const ts_objective *obj, float *packed) {
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t n = style_c(obj, i) * style_c(obj, i);
        obj->net->be->download(packed, obj->style_target[i], n);
        packed += n;
    }
}

void ts_objective_set_targets(ts_objective *obj, const float *packed) {
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t n = style_c(obj, i) * style_c(obj, i);
        obj->net->be->upload(obj->style_target[i], packed, n);
        packed += n;
    }
}

/* Adds weight x G over each style layer's owned region (normalised by the global M) into packed, after
 * a forward pass. */
static void add_style_grams(ts_objective *obj, double weight, double *packed) {
    const ts_backend *be = obj->net->be;
    float *host = obj->stage;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        int l = obj->spec.style_layer[i];
        const ts_layer *L = ts_loss_layer(obj, l);
        double M;
        ts_rect r = ts_loss_region(obj, l, &M);
        size_t CC = (size_t)L->out_c * L->out_c;
        float scale = (float)(weight / M);
        be->gram_rect(L->out, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, scale, obj->gram[i]);
        be->download(host, obj->gram[i], CC);
        for (size_t k = 0; k < CC; k++) packed[k] += host[k];
        packed += CC;
    }
}

void ts_objective_style_partials(ts_objective *obj, const float *x, int H, int W, const ts_objective_tile *tile,
                                 double weight, double *packed) {
    int was_tiled = obj->tiled;
    ts_objective_tile saved = obj->tile;
    ts_objective_set_tile(obj, tile);
    ts_vgg_forward(obj->net, x, H, W);
    add_style_grams(obj, weight, packed);
    obj->tiled = was_tiled;
    obj->tile = saved;
}

static void style_forward(ts_objective *obj, void *state, const float *x, double *partials) {
    (void)state;
    (void)x;
    add_style_grams(obj, 1.0, partials);
}

/* also leaves G - A in obj->gram for the gradient */
static double style_energy(ts_objective *obj, void *state, const double *totals) {
    (void)state;
    const ts_backend *be = obj->net->be;
    size_t maxcc = max_style_cc(obj);
    float *A = obj->stage, *D = obj->stage + maxcc;
    double e_style = 0.0;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t C = style_c(obj, i), CC = C * C;
        be->download(A, obj->style_target[i], CC);
        double e = 0.0;
        for (size_t k = 0; k < CC; k++) {
            double d = totals[k] - (double)A[k];
            e += d * d;
            D[k] = (float)d;
        }
        be->upload(obj->gram[i], D, CC);
        e_style += obj->spec.style_lambda[i] / (4.0 * (double)C * C) * e;
        totals += CC;
    }
    return e_style;
}

static void style_inject(ts_objective *obj, void *state, int l, double weight, float *grad) {
    (void)state;
    const ts_backend *be = obj->net->be;
    const ts_layer *L = ts_loss_layer(obj, l);
    double C = L->out_c;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        if (obj->spec.style_layer[i] != l || obj->spec.style_lambda[i] == 0.0) continue;
        double M;
        ts_rect r = ts_loss_region(obj, l, &M);
        float s = (float)(weight * obj->spec.style_lambda[i] / (C * C * M));
        be->gram_backward_rect(obj->gram[i], L->out, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, s, grad);
    }
}

const ts_loss_term ts_loss_style = {"style",       style_init,   style_free,   ts_objective_ntargets,
                                    style_forward, style_energy, style_inject, NULL};
