/* loss.c - the objective: the network's passes and the loss terms' partial sums, energies and
 * gradients (loss_term.h), in the order of the term table.
 *
 * An evaluation is forward (network, then every term's partial sums over the owned region) and
 * backward (the terms from the totals, then gradients). In one process the totals are the partials;
 * tiled runs add the partials of every tile in between. */
#include "tessera/loss.h"

#include <stdlib.h>
#include <string.h>

#include "loss_term.h"

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

void ts_loss_spec_set_weight(ts_loss_spec *spec, const char *term, double weight) {
    int t = ts_loss_term_find(term);
    TS_CHECK(t >= 0, "no loss term \"%s\"", term);
    spec->weight[t] = weight;
}

size_t ts_objective_npartials(const ts_objective *obj) {
    size_t n = 0;
    for (int t = 0; t < ts_loss_nterms(); t++) n += ts_loss_term_get(t)->npartials(obj);
    return n;
}

void ts_objective_init(ts_objective *obj, ts_vgg *net, const ts_loss_spec *spec) {
    memset(obj, 0, sizeof *obj);
    obj->net = net;
    obj->spec = *spec;
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const ts_loss_term *k = ts_loss_term_get(t);
        if (k->init) obj->state[t] = k->init(obj);
    }
    obj->partials = ts_calloc(ts_objective_npartials(obj), sizeof(double));
}

void ts_objective_free(ts_objective *obj) {
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const ts_loss_term *k = ts_loss_term_get(t);
        if (k->free) k->free(obj, obj->state[t]);
    }
    free(obj->partials);
    memset(obj, 0, sizeof *obj);
}

void ts_objective_set_tile(ts_objective *obj, const ts_objective_tile *tile) {
    obj->tiled = tile != NULL;
    if (tile) obj->tile = *tile;
}

ts_rect ts_loss_region(const ts_objective *obj, int l, double *M) {
    int h = obj->content_h, w = obj->content_w, k = 0;
    if (l >= 0) {
        const ts_layer *L = ts_loss_layer(obj, l);
        h = L->out_h;
        w = L->out_w;
        k = ts_vgg_layer_level(obj->net->arch, l);
    }
    if (obj->tiled) {
        int s = 1 << k;
        *M = (double)(obj->tile.H / s) * (obj->tile.W / s);
        return obj->tile.own[k];
    }
    *M = (double)h * w;
    return (ts_rect){0, 0, h, w};
}

void ts_objective_forward(ts_objective *obj, const float *x, double *partials) {
    ts_vgg_forward(obj->net, x, obj->content_h, obj->content_w);
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const ts_loss_term *k = ts_loss_term_get(t);
        k->forward(obj, obj->state[t], x, partials);
        partials += k->npartials(obj);
    }
}

/* the backward pass's injection: every term's dL/dF at the layers it reads */
static void inject(void *ctx, int l, float *grad) {
    ts_objective *obj = ctx;
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const ts_loss_term *k = ts_loss_term_get(t);
        if (k->inject) k->inject(obj, obj->state[t], l, obj->spec.weight[t], grad);
    }
}

ts_loss_terms ts_objective_backward(ts_objective *obj, const double *totals, const float *x, float *grad) {
    ts_loss_terms r = {0};
    const double *p = totals;
    for (int t = 0; t < ts_loss_nterms(); t++) {
        const ts_loss_term *k = ts_loss_term_get(t);
        r.term[t] = obj->spec.weight[t] * k->energy(obj, obj->state[t], p);
        r.total += r.term[t];
        p += k->npartials(obj);
    }
    if (grad) {
        ts_vgg_backward(obj->net, inject, obj, grad);
        for (int t = 0; t < ts_loss_nterms(); t++) {
            const ts_loss_term *k = ts_loss_term_get(t);
            if (k->image_grad) k->image_grad(obj, obj->state[t], x, obj->spec.weight[t], grad);
        }
    }
    obj->last = r;
    return r;
}

ts_loss_terms ts_objective_eval(ts_objective *obj, const float *x, float *grad) {
    size_t n = ts_objective_npartials(obj);
    memset(obj->partials, 0, sizeof(double) * n);
    ts_objective_forward(obj, x, obj->partials);
    if (obj->reduce) obj->reduce(obj->partials, n, obj->reduce_ctx);
    return ts_objective_backward(obj, obj->partials, x, grad);
}
