/* loss_tv.c - the total-variation term: smoothness of the [0,1] image itself.
 *
 *   E_tv = 1 / (3 H W) * sum over pixels of the squared differences to the right and lower neighbours
 * Partial sum: one double, over the owned pixels (the differences reach into the halo). */
#include "loss_term.h"

static size_t tv_npartials(const ts_objective *obj) {
    (void)obj;
    return 1;
}

static void tv_forward(ts_objective *obj, void *state, const float *x, double *partials) {
    (void)state;
    double hw;
    ts_rect r = ts_loss_region(obj, -1, &hw);
    *partials += obj->net->be->tv(x, 3, obj->content_h, obj->content_w, r.y, r.x, r.h, r.w, 0.0f, NULL) / (3.0 * hw);
}

static double tv_energy(ts_objective *obj, void *state, const double *totals) {
    (void)obj;
    (void)state;
    return *totals;
}

static void tv_image_grad(ts_objective *obj, void *state, const float *x, double weight, float *grad) {
    (void)state;
    double hw;
    ts_rect r = ts_loss_region(obj, -1, &hw);
    obj->net->be->tv(x, 3, obj->content_h, obj->content_w, r.y, r.x, r.h, r.w, (float)(weight / (3.0 * hw)), grad);
}

const ts_loss_term ts_loss_tv = {"tv", NULL, NULL, tv_npartials, tv_forward, tv_energy, NULL, tv_image_grad};
