/* loss.c - content, style and TV losses and their gradients, on top of the VGG passes. */
#include "tessera/loss.h"

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

void ts_objective_init(ts_objective *obj, ts_vgg *net, const ts_loss_spec *spec) {
    memset(obj, 0, sizeof *obj);
    obj->net = net;
    obj->spec = *spec;
    for (int i = 0; i < spec->nstyle; i++) {
        size_t C = (size_t)net->layers[spec->style_layer[i]].out_c;
        obj->style_target[i] = net->be->alloc(C * C);
        obj->gram[i] = net->be->alloc(C * C);
    }
}

void ts_objective_free(ts_objective *obj) {
    const ts_backend *be = obj->net->be;
    for (int i = 0; i < TS_MAX_LOSS_LAYERS; i++) {
        if (obj->style_target[i]) be->free(obj->style_target[i]);
        if (obj->gram[i]) be->free(obj->gram[i]);
        if (obj->content_target[i]) be->free(obj->content_target[i]);
    }
    memset(obj, 0, sizeof *obj);
}

static const ts_layer *layer(const ts_objective *obj, int l) { return &obj->net->layers[l]; }
static size_t positions(const ts_layer *L) { return (size_t)L->out_h * L->out_w; }

void ts_objective_set_style(ts_objective *obj, const float *const *styles, const int *h, const int *w,
                            const double *blend, int nstyles) {
    const ts_backend *be = obj->net->be;
    double bsum = 0.0;
    for (int s = 0; s < nstyles; s++) bsum += blend ? blend[s] : 1.0;
    for (int i = 0; i < obj->spec.nstyle; i++) {
        size_t C = (size_t)layer(obj, obj->spec.style_layer[i])->out_c;
        be->fill(0.0f, obj->style_target[i], C * C);
    }
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

/* Backward injection: adds each loss's dL/dF at the layers it reads. */
static void inject(void *ctx, int l, float *grad) {
    ts_objective *obj = ctx;
    const ts_backend *be = obj->net->be;
    const ts_layer *L = layer(obj, l);
    double C = L->out_c, M = (double)positions(L);
    for (int i = 0; i < obj->spec.nstyle; i++) {
        if (obj->spec.style_layer[i] != l || obj->spec.style_lambda[i] == 0.0) continue;
        /* d/dF of lambda/(4C^2) sum (G-A)^2 with G = F F^T / M is lambda/(C^2 M) (G-A) F */
        double s = obj->spec.beta * obj->spec.style_lambda[i] / (C * C * M);
        be->gram_backward(obj->gram[i], L->out, L->out_c, (size_t)M, (float)s, grad);
    }
    for (int i = 0; i < obj->spec.ncontent; i++) {
        if (obj->spec.content_layer[i] != l) continue;
        double s = obj->spec.alpha / (2.0 * C * M);
        be->sqdiff(L->out, obj->content_target[i], (size_t)(C * M), (float)s, grad);
    }
}

ts_loss_terms ts_objective_eval(ts_objective *obj, const float *x, float *grad) {
    ts_vgg *net = obj->net;
    const ts_backend *be = net->be;
    const ts_loss_spec *sp = &obj->spec;
    int H = obj->content_h, W = obj->content_w;
    ts_loss_terms t = {0};

    ts_vgg_forward(net, x, H, W);
    for (int i = 0; i < sp->nstyle; i++) {
        const ts_layer *L = layer(obj, sp->style_layer[i]);
        be->gram(L->out, L->out_c, positions(L), (float)(1.0 / (double)positions(L)), obj->gram[i]);
    }
    if (obj->reduce_grams)
        for (int i = 0; i < sp->nstyle; i++) {
            size_t C = (size_t)layer(obj, sp->style_layer[i])->out_c;
            obj->reduce_grams(obj->gram[i], C * C, obj->reduce_ctx);
        }
    double e_style = 0.0, e_content = 0.0;
    for (int i = 0; i < sp->nstyle; i++) {
        size_t C = (size_t)layer(obj, sp->style_layer[i])->out_c;
        be->axpy(-1.0f, obj->style_target[i], obj->gram[i], C * C); /* gram[i] = G - A */
        e_style += sp->style_lambda[i] / (4.0 * (double)C * C) * be->dot(obj->gram[i], obj->gram[i], C * C);
    }
    for (int i = 0; i < sp->ncontent; i++) {
        const ts_layer *L = layer(obj, sp->content_layer[i]);
        double n = (double)L->out_c * positions(L);
        e_content += be->sqdiff(L->out, obj->content_target[i], (size_t)n, 0.0f, NULL) / (4.0 * n);
    }
    double tv_norm = 1.0 / (3.0 * H * W);
    t.content = sp->alpha * e_content;
    t.style = sp->beta * e_style;
    if (grad) {
        ts_vgg_backward(net, inject, obj, grad);
        t.tv = sp->gamma * tv_norm * be->tv(x, 3, H, W, (float)(sp->gamma * tv_norm), grad);
    } else {
        t.tv = sp->gamma * tv_norm * be->tv(x, 3, H, W, 0.0f, NULL);
    }
    t.total = t.content + t.style + t.tv;
    obj->last = t;
    return t;
}
