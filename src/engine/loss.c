/* loss.c - content, style and TV losses and their gradients, on top of the VGG passes.
 *
 * An evaluation is forward (network, then partial sums: Gram matrices, content and TV sums over the
 * owned region) and backward (loss from the totals, then gradients). In one process the totals are
 * the partials; tiled runs add the partials of every tile in between. */
#include "tessera/loss.h"

#include <stdlib.h>
#include <string.h>

int ts_loss_spec_deepest(const ts_loss_spec *spec) {
    int d = 0;
    for (int i = 0; i < spec->nstyle; i++)
        if (spec->style_layer[i] > d) d = spec->style_layer[i];
    for (int i = 0; i < spec->ncontent; i++)
        if (spec->content_layer[i] > d) d = spec->content_layer[i];
    return d;
}

void ts_loss_spec_keep(const ts_loss_spec *spec, int *keep) {
    memset(keep, 0, sizeof(int) * TS_VGG_MAX_LAYERS);
    for (int i = 0; i < spec->nstyle; i++) keep[spec->style_layer[i]] = 1;
    for (int i = 0; i < spec->ncontent; i++) keep[spec->content_layer[i]] = 1;
}

static const ts_layer *layer(const ts_objective *obj, int l) { return &obj->net->layers[l]; }
static size_t positions(const ts_layer *L) { return (size_t)L->out_h * L->out_w; }
static size_t style_c(const ts_objective *obj, int i) { return (size_t)layer(obj, obj->spec.style_layer[i])->out_c; }

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

size_t ts_objective_npartials(const ts_objective *obj) {
    return ts_objective_ntargets(obj) + (size_t)obj->spec.ncontent + 1;
}

void ts_objective_init(ts_objective *obj, ts_vgg *net, const ts_loss_spec *spec) {
    memset(obj, 0, sizeof *obj);
    obj->net = net;
    obj->spec = *spec;
    for (int i = 0; i < spec->nstyle; i++) {
        size_t C = style_c(obj, i);
        obj->style_target[i] = net->be->alloc(C * C);
        obj->gram[i] = net->be->alloc(C * C);
    }
    obj->partials = ts_calloc(ts_objective_npartials(obj), sizeof(double));
    obj->stage = net->be->host_alloc(2 * max_style_cc(obj));
}

void ts_objective_free(ts_objective *obj) {
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < TS_MAX_LOSS_LAYERS; i++) {
        if (obj->style_target[i]) be->free(obj->style_target[i]);
        if (obj->gram[i]) be->free(obj->gram[i]);
        if (obj->content_target[i]) be->free(obj->content_target[i]);
    }
    free(obj->partials);
    if (obj->stage) be->host_free(obj->stage);
    memset(obj, 0, sizeof *obj);
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
            const ts_layer *L = layer(obj, obj->spec.style_layer[i]);
            size_t M = positions(L);
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

void ts_objective_set_content(ts_objective *obj, const float *content, int H, int W) {
    const ts_backend *be = obj->net->be;
    ts_vgg_forward(obj->net, content, H, W);
    for (int i = 0; i < obj->spec.ncontent; i++) {
        const ts_layer *L = layer(obj, obj->spec.content_layer[i]);
        size_t n = (size_t)L->out_c * positions(L);
        if (obj->content_target[i]) be->free(obj->content_target[i]);
        obj->content_target[i] = be->alloc(n);
        be->copy(L->out, obj->content_target[i], n);
    }
    obj->content_h = H;
    obj->content_w = W;
}

void ts_objective_set_tile(ts_objective *obj, const ts_objective_tile *tile) {
    obj->tiled = tile != NULL;
    if (tile) obj->tile = *tile;
}

/* The region losses read at a layer and the position count they are normalised by. */
static ts_rect style_region(const ts_objective *obj, int i, double *M) {
    const ts_layer *L = layer(obj, obj->spec.style_layer[i]);
    if (obj->tiled) {
        *M = obj->tile.style_m[i];
        return obj->tile.style[i];
    }
    *M = (double)positions(L);
    return (ts_rect){0, 0, L->out_h, L->out_w};
}

static ts_rect content_region(const ts_objective *obj, int i, double *M) {
    const ts_layer *L = layer(obj, obj->spec.content_layer[i]);
    if (obj->tiled) {
        *M = obj->tile.content_m[i];
        return obj->tile.content[i];
    }
    *M = (double)positions(L);
    return (ts_rect){0, 0, L->out_h, L->out_w};
}

/* Adds weight x G over each style layer's owned region (normalised by the global M) into packed, after
 * a forward pass; returns packed advanced past the Grams. */
static double *add_style_grams(ts_objective *obj, double weight, double *packed) {
    const ts_backend *be = obj->net->be;
    float *host = obj->stage;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        const ts_layer *L = layer(obj, obj->spec.style_layer[i]);
        double M;
        ts_rect r = style_region(obj, i, &M);
        size_t CC = (size_t)L->out_c * L->out_c;
        float scale = (float)(weight / M);
        be->gram_rect(L->out, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, scale, obj->gram[i]);
        be->download(host, obj->gram[i], CC);
        for (size_t k = 0; k < CC; k++) packed[k] += host[k];
        packed += CC;
    }
    return packed;
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

void ts_objective_forward(ts_objective *obj, const float *x, double *partials) {
    ts_vgg *net = obj->net;
    const ts_backend *be = net->be;
    const ts_loss_spec *sp = &obj->spec;
    int H = obj->content_h, W = obj->content_w;
    ts_vgg_forward(net, x, H, W);
    double *p = add_style_grams(obj, 1.0, partials);
    for (int i = 0; i < sp->ncontent; i++) {
        const ts_layer *L = layer(obj, sp->content_layer[i]);
        double M;
        ts_rect r = content_region(obj, i, &M);
        double e = be->sqdiff_rect(L->out, obj->content_target[i], L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w,
                                   0.0f, NULL);
        *p++ += e / (4.0 * L->out_c * M);
    }
    ts_rect ri = obj->tiled ? obj->tile.image : (ts_rect){0, 0, H, W};
    double hw = obj->tiled ? obj->tile.image_hw : (double)H * W;
    *p += be->tv(x, 3, H, W, ri.y, ri.x, ri.h, ri.w, 0.0f, NULL) / (3.0 * hw);
}

/* Backward injection: adds each loss's dL/dF at the layers it reads (owned regions only). */
static void inject(void *ctx, int l, float *grad) {
    ts_objective *obj = ctx;
    const ts_backend *be = obj->net->be;
    const ts_layer *L = layer(obj, l);
    double C = L->out_c;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        if (obj->spec.style_layer[i] != l || obj->spec.style_lambda[i] == 0.0) continue;
        double M;
        ts_rect r = style_region(obj, i, &M);
        /* d/dF of lambda/(4C^2) sum (G-A)^2 with G = F F^T / M is lambda/(C^2 M) (G-A) F */
        float s = (float)(obj->spec.beta * obj->spec.style_lambda[i] / (C * C * M));
        be->gram_backward_rect(obj->gram[i], L->out, L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, s, grad);
    }
    for (int i = 0; i < obj->spec.ncontent; i++) {
        if (obj->spec.content_layer[i] != l) continue;
        double M;
        ts_rect r = content_region(obj, i, &M);
        float s = (float)(obj->spec.alpha / (2.0 * C * M));
        be->sqdiff_rect(L->out, obj->content_target[i], L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, s, grad);
    }
}

ts_loss_terms ts_objective_backward(ts_objective *obj, const double *totals, const float *x, float *grad) {
    const ts_backend *be = obj->net->be;
    const ts_loss_spec *sp = &obj->spec;
    int H = obj->content_h, W = obj->content_w;
    ts_loss_terms t = {0};
    const double *p = totals;
    double e_style = 0.0, e_content = 0.0;
    size_t maxcc = max_style_cc(obj);
    float *A = obj->stage, *D = obj->stage + maxcc;
    for (int i = 0; i < sp->nstyle; i++) {
        size_t C = style_c(obj, i), CC = C * C;
        be->download(A, obj->style_target[i], CC);
        double e = 0.0;
        for (size_t k = 0; k < CC; k++) {
            double d = p[k] - (double)A[k];
            e += d * d;
            D[k] = (float)d;
        }
        be->upload(obj->gram[i], D, CC); /* G - A, read by the backward pass */
        e_style += sp->style_lambda[i] / (4.0 * (double)C * C) * e;
        p += CC;
    }
    for (int i = 0; i < sp->ncontent; i++) e_content += *p++;
    double e_tv = *p;
    t.content = sp->alpha * e_content;
    t.style = sp->beta * e_style;
    t.tv = sp->gamma * e_tv;
    t.total = t.content + t.style + t.tv;
    if (grad) {
        ts_vgg_backward(obj->net, inject, obj, grad);
        ts_rect ri = obj->tiled ? obj->tile.image : (ts_rect){0, 0, H, W};
        double hw = obj->tiled ? obj->tile.image_hw : (double)H * W;
        be->tv(x, 3, H, W, ri.y, ri.x, ri.h, ri.w, (float)(sp->gamma / (3.0 * hw)), grad);
    }
    obj->last = t;
    return t;
}

ts_loss_terms ts_objective_eval(ts_objective *obj, const float *x, float *grad) {
    size_t n = ts_objective_npartials(obj);
    memset(obj->partials, 0, sizeof(double) * n);
    ts_objective_forward(obj, x, obj->partials);
    if (obj->reduce) obj->reduce(obj->partials, n, obj->reduce_ctx);
    return ts_objective_backward(obj, obj->partials, x, grad);
}
