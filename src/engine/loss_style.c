/* loss_style.c - the style term: Gram matrices of the style layers against the targets A_l.
 *
 *   E_style = sum_l lambda_l / (4 C_l^2) * sum_ij (G(F_l(x)) - A_l)_ij^2,  G(F) = F F^T / M
 *   d/dF of lambda/(4C^2) sum (G-A)^2 is lambda/(C^2 M) (G-A) F
 * With masks (spec.nmasks > 0, a style per region) every style s has its own target and mask w_s:
 *   G_w(F) = (F diag(w)) (F diag(w))^T / Z,  Z = sum_p w_p^2,  A_l,s = G_n_s(F_l(style_s))
 *   E_style = sum_l lambda_l sum_s b_s / (4 C_l^2) sum_ij (G_w_s(F_l(x)) - A_l,s)_ij^2
 *   d/dF = lambda b_s / (C^2 Z) (G - A) (F diag(w)) diag(w)
 * and a (layer, style) whose mask is empty there (Z = 0) contributes nothing.
 * Partial sums: each style layer's Gram(s) over the owned region, normalised by the global M (or Z),
 * C x C doubles per layer and style, so the tiles' Grams add up to the whole image's. */
#include <stdlib.h>
#include <string.h>

#include "loss_term.h"

static size_t style_c(const ts_objective *obj, int i) {
    return (size_t)ts_loss_layer(obj, obj->spec.style_layer[i])->out_c;
}

/* targets per layer: one blended, or one per mask */
static int slots(const ts_objective *obj) { return obj->spec.nmasks > 0 ? obj->spec.nmasks : 1; }

/* the mask level of layer l (its stride 2^k) */
static int level(const ts_objective *obj, int l) { return ts_vgg_layer_level(obj->net->arch, l); }

static size_t max_style_cc(const ts_objective *obj) {
    size_t m = 1;
    for (int i = 0; i < obj->spec.nstyle; i++)
        if (style_c(obj, i) * style_c(obj, i) > m) m = style_c(obj, i) * style_c(obj, i);
    return m;
}

size_t ts_objective_ntargets(const ts_objective *obj) {
    size_t n = 0;
    for (int i = 0; i < obj->spec.nstyle; i++) n += style_c(obj, i) * style_c(obj, i) * (size_t)slots(obj);
    return n;
}

static void *style_init(ts_objective *obj) {
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t n = style_c(obj, i) * style_c(obj, i) * (size_t)slots(obj);
        obj->style_target[i] = be->alloc(n);
        obj->gram[i] = be->alloc(n);
    }
    obj->stage = be->host_alloc(2 * max_style_cc(obj));
    return NULL; /* its state is the objective's style fields */
}

static void free_masks(ts_objective *obj) {
    const ts_backend *be = obj->net->be;
    for (int s = 0; s < TS_MAX_MASKS; s++)
        for (int k = 0; k < TS_LOSS_STRIDES; k++)
            if (obj->mask[s][k]) be->free(obj->mask[s][k]);
    memset(obj->mask, 0, sizeof obj->mask);
    if (obj->masked) be->free(obj->masked);
    if (obj->dmasked) be->free(obj->dmasked);
    obj->masked = obj->dmasked = NULL;
    obj->masked_n = 0;
}

static void style_free(ts_objective *obj, void *state) {
    (void)state;
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < TS_MAX_LOSS_LAYERS; i++) {
        if (obj->style_target[i]) be->free(obj->style_target[i]);
        if (obj->gram[i]) be->free(obj->gram[i]);
    }
    if (obj->stage) be->host_free(obj->stage);
    free_masks(obj);
}

/* the scratch for F * w: the largest style layer at the sizes of m */
static void ensure_scratch(ts_objective *obj, const ts_mask_set *m) {
    size_t need = 1;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        int l = obj->spec.style_layer[i], k = level(obj, l);
        size_t n = style_c(obj, i) * m->h[k] * m->w[k];
        if (n > need) need = n;
    }
    if (need <= obj->masked_n) return;
    const ts_backend *be = obj->net->be;
    if (obj->masked) be->free(obj->masked);
    if (obj->dmasked) be->free(obj->dmasked);
    obj->masked = be->alloc(need);
    obj->dmasked = be->alloc(need);
    obj->masked_n = need;
}

/* uploads mask s of m at every level */
static void upload_mask(const ts_backend *be, const ts_mask_set *m, int s, float **dst) {
    for (int k = 0; k < TS_LOSS_STRIDES; k++) {
        size_t n = (size_t)m->h[k] * m->w[k];
        dst[k] = be->alloc(n ? n : 1);
        be->upload(dst[k], m->level[s][k], n);
    }
}

void ts_objective_set_masks(ts_objective *obj, const ts_mask_set *m) {
    TS_CHECK(m->n == obj->spec.nmasks, "%d masks for an objective made for %d", m->n, obj->spec.nmasks);
    free_masks(obj);
    for (int s = 0; s < m->n; s++) upload_mask(obj->net->be, m, s, obj->mask[s]);
    memcpy(obj->mask_z, m->z, sizeof obj->mask_z);
    memcpy(obj->mask_h, m->h, sizeof obj->mask_h);
    memcpy(obj->mask_w, m->w, sizeof obj->mask_w);
    ensure_scratch(obj, m);
}

/* G (C x C) = scale * the Gram over rect r of the layer's output, guided by the mask w when not NULL
 * (backend memory, the tensor's positions): F * w first, into the scratch */
static void gram_of(ts_objective *obj, const ts_layer *L, ts_rect r, const float *w, float scale, float *G) {
    const ts_backend *be = obj->net->be;
    const float *F = L->out;
    if (w) {
        size_t M = (size_t)L->out_h * L->out_w;
        TS_CHECK((size_t)L->out_c * M <= obj->masked_n, "mask scratch of %zu floats for %zu", obj->masked_n,
                 (size_t)L->out_c * M);
        be->mul_positions(L->out, w, L->out_c, M, 0, obj->masked);
        F = obj->masked;
    }
    be->gram_rect(F, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, scale, G);
}

/* every style layer's mask level (h[k] x w[k] at its level k) must be the size of its output */
static void check_levels(const ts_objective *obj, const int *h, const int *w) {
    for (int i = 0; i < obj->spec.nstyle; i++) {
        const ts_layer *L = ts_loss_layer(obj, obj->spec.style_layer[i]);
        int k = level(obj, obj->spec.style_layer[i]);
        TS_CHECK(h[k] == L->out_h && w[k] == L->out_w, "mask of %dx%d for %s at %dx%d", w[k], h[k], L->name, L->out_w,
                 L->out_h);
    }
}

void ts_objective_set_style(ts_objective *obj, const float *const *styles, const int *h, const int *w,
                            const double *blend, int nstyles, const ts_mask_set *const *style_masks) {
    const ts_backend *be = obj->net->be;
    if (obj->spec.nmasks > 0) { /* one target per style, each its own image's guided Gram */
        TS_CHECK(nstyles == obj->spec.nmasks, "%d style images for %d masks", nstyles, obj->spec.nmasks);
        size_t n = ts_objective_ntargets(obj);
        double *acc = ts_calloc(n, sizeof(double));
        float *packed = ts_malloc(sizeof(float) * n);
        for (int s = 0; s < nstyles; s++)
            ts_objective_style_partials(obj, styles[s], h[s], w[s], NULL, style_masks ? style_masks[s] : NULL, s, 1.0,
                                        acc);
        for (size_t q = 0; q < n; q++) packed[q] = (float)acc[q];
        ts_objective_set_targets(obj, packed);
        free(packed);
        free(acc);
        return;
    }
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
        size_t n = style_c(obj, i) * style_c(obj, i) * (size_t)slots(obj);
        obj->net->be->download(packed, obj->style_target[i], n);
        packed += n;
    }
}

void ts_objective_set_targets(ts_objective *obj, const float *packed) {
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t n = style_c(obj, i) * style_c(obj, i) * (size_t)slots(obj);
        obj->net->be->upload(obj->style_target[i], packed, n);
        packed += n;
    }
}

/* adds G (C x C, backend memory) into the packed doubles, through the host stage */
static void add_packed(ts_objective *obj, const float *G, size_t CC, double *packed) {
    float *host = obj->stage;
    obj->net->be->download(host, G, CC);
    for (size_t k = 0; k < CC; k++) packed[k] += host[k];
}

/* after a forward pass: adds weight x each style layer's Gram(s) over the owned region into packed,
 * in the slot of each content mask, or into `slot` guided by the style mask `smask` (device levels,
 * normaliser z per level) when given, else plain, normalised by the global M */
static void add_style_grams(ts_objective *obj, double weight, int slot, float *const *smask, const double *sz,
                            double *packed) {
    for (int i = 0; i < obj->spec.nstyle; i++) {
        int l = obj->spec.style_layer[i], k = level(obj, l);
        const ts_layer *L = ts_loss_layer(obj, l);
        double M;
        ts_rect r = ts_loss_region(obj, l, &M);
        size_t CC = (size_t)L->out_c * L->out_c;
        if (slot < 0) { /* the evaluation with content masks: one guided Gram per mask */
            for (int s = 0; s < obj->spec.nmasks; s++) {
                double z = obj->mask_z[s][k];
                if (z > 0) {
                    gram_of(obj, L, r, obj->mask[s][k], (float)(weight / z), obj->gram[i] + s * CC);
                    add_packed(obj, obj->gram[i] + s * CC, CC, packed + s * CC);
                }
            }
        } else if (!smask || sz[k] > 0) {
            gram_of(obj, L, r, smask ? smask[k] : NULL, (float)(weight / (smask ? sz[k] : M)), obj->gram[i]);
            add_packed(obj, obj->gram[i], CC, packed + slot * CC);
        }
        packed += CC * (size_t)slots(obj);
    }
}

void ts_objective_style_partials(ts_objective *obj, const float *x, int H, int W, const ts_objective_tile *tile,
                                 const ts_mask_set *mask, int slot, double weight, double *packed) {
    int was_tiled = obj->tiled;
    ts_objective_tile saved = obj->tile;
    ts_objective_set_tile(obj, tile);
    ts_vgg_forward(obj->net, x, H, W);
    float *dev[TS_LOSS_STRIDES] = {0};
    if (mask) {
        TS_CHECK(mask->n == 1, "a style image has one mask, not %d", mask->n);
        check_levels(obj, mask->h, mask->w);
        upload_mask(obj->net->be, mask, 0, dev);
        ensure_scratch(obj, mask);
    }
    add_style_grams(obj, weight, slot, mask ? dev : NULL, mask ? mask->z[0] : NULL, packed);
    for (int k = 0; k < TS_LOSS_STRIDES; k++)
        if (dev[k]) obj->net->be->free(dev[k]);
    obj->tiled = was_tiled;
    obj->tile = saved;
}

static void style_forward(ts_objective *obj, void *state, const float *x, double *partials) {
    (void)state;
    (void)x;
    if (obj->spec.nmasks > 0) {
        TS_CHECK(obj->mask[0][0], "masks not set (ts_objective_set_masks)");
        check_levels(obj, obj->mask_h, obj->mask_w);
    }
    add_style_grams(obj, 1.0, obj->spec.nmasks > 0 ? -1 : 0, NULL, NULL, partials);
}

/* also leaves G - A in obj->gram for the gradient (zero where a mask is empty) */
static double style_energy(ts_objective *obj, void *state, const double *totals) {
    (void)state;
    const ts_backend *be = obj->net->be;
    size_t maxcc = max_style_cc(obj);
    float *A = obj->stage, *D = obj->stage + maxcc;
    double e_style = 0.0;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t C = style_c(obj, i), CC = C * C;
        int k = level(obj, obj->spec.style_layer[i]);
        for (int s = 0; s < slots(obj); s++) {
            int masked = obj->spec.nmasks > 0, empty = masked && !(obj->mask_z[s][k] > 0);
            be->download(A, obj->style_target[i] + s * CC, CC);
            double e = 0.0;
            for (size_t q = 0; q < CC; q++) {
                double d = empty ? 0.0 : totals[q] - (double)A[q];
                e += d * d;
                D[q] = (float)d;
            }
            be->upload(obj->gram[i] + s * CC, D, CC);
            double b = masked ? obj->spec.mask_blend[s] : 1.0;
            e_style += b * obj->spec.style_lambda[i] / (4.0 * (double)C * C) * e;
            totals += CC;
        }
    }
    return e_style;
}

static void style_inject(ts_objective *obj, void *state, int l, double weight, float *grad) {
    (void)state;
    const ts_backend *be = obj->net->be;
    const ts_layer *L = ts_loss_layer(obj, l);
    double C = L->out_c;
    size_t CC = (size_t)L->out_c * L->out_c, M = (size_t)L->out_h * L->out_w;
    int k = level(obj, l);
    for (int i = 0; i < obj->spec.nstyle; i++) {
        if (obj->spec.style_layer[i] != l || obj->spec.style_lambda[i] == 0.0) continue;
        double Mg;
        ts_rect r = ts_loss_region(obj, l, &Mg);
        if (obj->spec.nmasks == 0) {
            float s = (float)(weight * obj->spec.style_lambda[i] / (C * C * Mg));
            be->gram_backward_rect(obj->gram[i], L->out, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, s, grad);
            continue;
        }
        for (int m = 0; m < obj->spec.nmasks; m++) {
            double z = obj->mask_z[m][k];
            if (!(z > 0)) continue;
            float s = (float)(weight * obj->spec.style_lambda[i] * obj->spec.mask_blend[m] / (C * C * z));
            be->mul_positions(L->out, obj->mask[m][k], L->out_c, M, 0, obj->masked);
            be->fill(0.0f, obj->dmasked, (size_t)L->out_c * M);
            be->gram_backward_rect(obj->gram[i] + m * CC, obj->masked, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h,
                                   r.w, s, obj->dmasked);
            be->mul_positions(obj->dmasked, obj->mask[m][k], L->out_c, M, 1, grad);
        }
    }
}

const ts_loss_term ts_loss_style = {"style",       style_init,   style_free,   ts_objective_ntargets,
                                    style_forward, style_energy, style_inject, NULL};
