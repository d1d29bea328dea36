/* loss_content.c - the content term: features of the content layers against the content's own.
 *
 *   E_content = sum_c 1 / (4 C M) * sum (F_c(x) - F_c(content))^2,  d/dF = 1 / (2 C M) (F - P)
 * Partial sums: one double per content layer, the squared differences over the owned region divided
 * by 4 C M with the global M. */
#include <stdlib.h>

#include "loss_term.h"

typedef struct {
    float *target[TS_MAX_LOSS_LAYERS]; /* F_c(content), backend memory */
} content_state;

static void *content_init(ts_objective *obj) {
    (void)obj;
    return ts_calloc(1, sizeof(content_state));
}

static void content_free(ts_objective *obj, void *state) {
    content_state *cs = state;
    for (int i = 0; i < TS_MAX_LOSS_LAYERS; i++)
        if (cs->target[i]) obj->net->be->free(cs->target[i]);
    free(cs);
}

void ts_objective_set_content(ts_objective *obj, const float *content, int H, int W) {
    const ts_backend *be = obj->net->be;
    content_state *cs = obj->state[ts_loss_term_find("content")];
    ts_vgg_forward(obj->net, content, H, W);
    for (int i = 0; i < obj->spec.ncontent; i++) {
        const ts_layer *L = ts_loss_layer(obj, obj->spec.content_layer[i]);
        size_t n = (size_t)L->out_c * L->out_h * L->out_w;
        if (cs->target[i]) be->free(cs->target[i]);
        cs->target[i] = be->alloc(n);
        be->copy(L->out, cs->target[i], n);
    }
    obj->content_h = H;
    obj->content_w = W;
}

static size_t content_npartials(const ts_objective *obj) { return (size_t)obj->spec.ncontent; }

static void content_forward(ts_objective *obj, void *state, const float *x, double *partials) {
    (void)x;
    content_state *cs = state;
    for (int i = 0; i < obj->spec.ncontent; i++) {
        int l = obj->spec.content_layer[i];
        const ts_layer *L = ts_loss_layer(obj, l);
        double M;
        ts_rect r = ts_loss_region(obj, l, &M);
        double e = obj->net->be->sqdiff_rect(L->out, cs->target[i], L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w,
                                             0.0f, NULL);
        partials[i] += e / (4.0 * L->out_c * M);
    }
}

static double content_energy(ts_objective *obj, void *state, const double *totals) {
    (void)state;
    double e = 0.0;
    for (int i = 0; i < obj->spec.ncontent; i++) e += totals[i];
    return e;
}

static void content_inject(ts_objective *obj, void *state, int l, double weight, float *grad) {
    content_state *cs = state;
    const ts_layer *L = ts_loss_layer(obj, l);
    double C = L->out_c;
    for (int i = 0; i < obj->spec.ncontent; i++) {
        if (obj->spec.content_layer[i] != l) continue;
        double M;
        ts_rect r = ts_loss_region(obj, l, &M);
        float s = (float)(weight / (2.0 * C * M));
        obj->net->be->sqdiff_rect(L->out, cs->target[i], L->out_c, L->out_h, L->out_w, r.y, r.x, r.h, r.w, s, grad);
    }
}

const ts_loss_term ts_loss_content = {"content",       content_init,   content_free,   content_npartials,
                                      content_forward, content_energy, content_inject, NULL};
