/* test_loss.c - the whole objective by finite differences (both architectures, poolings and
 * preprocessings), style blending, and invariants of the loss terms. */
#include <stdlib.h>
#include <string.h>

#include "tessera/loss.h"
#include "tessera/rng.h"
#include "test.h"

static uint64_t seed = 99;
static void fill_image(float *x, size_t n) {
    for (size_t i = 0; i < n; i++) x[i] = (float)ts_rng_uniform(&seed);
}

typedef struct {
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc pre;
    const char *style[4];
    const char *content[2];
} fd_case;

static void spec_from(const fd_case *c, ts_loss_spec *sp) {
    memset(sp, 0, sizeof *sp);
    for (int i = 0; i < 4 && c->style[i]; i++) {
        sp->style_layer[sp->nstyle] = ts_vgg_find(c->arch, c->style[i]);
        sp->style_lambda[sp->nstyle++] = 1.0 + i;
    }
    for (int i = 0; i < 2 && c->content[i]; i++) sp->content_layer[sp->ncontent++] = ts_vgg_find(c->arch, c->content[i]);
    ts_loss_spec_set_weight(sp, "content", 3.0);
    ts_loss_spec_set_weight(sp, "style", 50.0);
    ts_loss_spec_set_weight(sp, "tv", 0.5);
}

static double eval_total(ts_objective *obj, const float *x) { return ts_objective_eval(obj, x, NULL).total; }

static void fd_check(const fd_case *c) {
    const ts_backend *be = ts_backend_cpu();
    ts_loss_spec sp;
    spec_from(c, &sp);
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&sp, keep);
    ts_vgg_weights wt;
    ts_vgg_weights_random(c->arch, 7, 16, &wt);
    ts_vgg net;
    ts_vgg_init(&net, be, &wt, c->pool, c->pre, ts_loss_spec_deepest(&sp), keep);
    ts_objective obj;
    ts_objective_init(&obj, &net, &sp);
    int H = 19, W = 22; /* odd: pooling floors */
    size_t n = (size_t)3 * H * W;
    float *content = malloc(n * 4), *style = malloc(3 * 24 * 18 * 4), *x = malloc(n * 4), *g = malloc(n * 4),
          *d = malloc(n * 4), *xp = malloc(n * 4);
    fill_image(content, n);
    fill_image(style, 3 * 24 * 18);
    fill_image(x, n);
    const float *styles[1] = {style};
    int sh[1] = {24}, sw[1] = {18};
    ts_objective_set_style(&obj, styles, sh, sw, NULL, 1);
    ts_objective_set_content(&obj, content, H, W);
    ts_loss_terms t = ts_objective_eval(&obj, x, g);
    double tc = t.term[ts_loss_term_find("content")], ts = t.term[ts_loss_term_find("style")],
           tt = t.term[ts_loss_term_find("tv")];
    TS_EXPECT(tc > 0 && ts > 0 && tt > 0 && fabs(t.total - (tc + ts + tt)) < 1e-9 * t.total,
              "terms positive and summing (%s %s)", ts_arch_name(c->arch), c->style[0]);
    /* directional derivative along the gradient (scaled to max 1) plus some noise: the steepest
     * direction keeps float32 rounding of the loss small against the change it measures */
    double gmax0 = 0;
    for (size_t i = 0; i < n; i++) gmax0 = fmax(gmax0, fabs(g[i]));
    for (size_t i = 0; i < n; i++) d[i] = (float)(g[i] / gmax0 + 0.2 * (ts_rng_uniform(&seed) - 0.5));
    double gd = 0;
    for (size_t i = 0; i < n; i++) gd += (double)g[i] * d[i];
    /* small steps: the loss has kinks (ReLU, max pooling) that a large step crosses; Caffe input is 255x */
    double h = c->pre == TS_PREPROC_CAFFE ? 1e-4 : 1e-3;
    for (size_t i = 0; i < n; i++) xp[i] = x[i] + (float)h * d[i];
    double fp = eval_total(&obj, xp);
    for (size_t i = 0; i < n; i++) xp[i] = x[i] - (float)h * d[i];
    double fm = eval_total(&obj, xp);
    double fd = (fp - fm) / (2 * h);
    TS_EXPECT(ts_test_rel(fd, gd, 1e-12) < 2e-3, "%s %s pool=%d pre=%d: directional FD %.8g vs gradient %.8g",
              ts_arch_name(c->arch), c->style[0], c->pool, c->pre, fd, gd);
    /* a few single pixels, corners included */
    /* a corner, and the pixels with the largest gradient in each channel */
    size_t px[4] = {0, 0, 0, 0};
    for (int ch = 0; ch < 3; ch++)
        for (size_t i = (size_t)ch * H * W; i < (size_t)(ch + 1) * H * W; i++)
            if (fabs(g[i]) > fabs(g[px[ch + 1]]) || px[ch + 1] == 0) px[ch + 1] = i;
    for (int k = 0; k < 4; k++) {
        memcpy(xp, x, n * 4);
        xp[px[k]] = x[px[k]] + (float)h;
        fp = eval_total(&obj, xp);
        xp[px[k]] = x[px[k]] - (float)h;
        fm = eval_total(&obj, xp);
        fd = (fp - fm) / (2 * h);
        double scale = 0;
        for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(g[i]));
        TS_EXPECT(fabs(fd - g[px[k]]) < 2e-2 * scale, "%s pixel %zu: FD %.6g vs gradient %.6g (max |g| %.3g)",
                  ts_arch_name(c->arch), px[k], fd, g[px[k]], scale);
    }
    /* the loss is zero at the content when there is no style or TV term */
    ts_loss_spec only_content = sp;
    ts_loss_spec_set_weight(&only_content, "style", 0);
    ts_loss_spec_set_weight(&only_content, "tv", 0);
    obj.spec = only_content;
    t = ts_objective_eval(&obj, content, g);
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    TS_EXPECT(t.total == 0 && gmax == 0, "content loss and gradient vanish at the content (%g, %g)", t.total, gmax);
    ts_objective_free(&obj);
    ts_vgg_free(&net);
    ts_vgg_weights_free(&wt);
    free(content), free(style), free(x), free(g), free(d), free(xp);
}

/* A_l of two identical style images with any blend equals A_l of one */
static void blend_check(void) {
    const ts_backend *be = ts_backend_cpu();
    ts_loss_spec sp = {.nstyle = 2, .style_layer = {ts_vgg_find(TS_VGG16, "relu1_1"), ts_vgg_find(TS_VGG16, "relu2_1")},
                       .style_lambda = {1, 1}};
    ts_loss_spec_set_weight(&sp, "style", 1);
    ts_vgg_weights wt;
    ts_vgg_weights_random(TS_VGG16, 3, 16, &wt);
    ts_vgg net;
    ts_vgg_init(&net, be, &wt, TS_POOL_MAX, TS_PREPROC_TORCHVISION, ts_loss_spec_deepest(&sp), NULL);
    ts_objective a, b;
    ts_objective_init(&a, &net, &sp);
    ts_objective_init(&b, &net, &sp);
    float *s1 = malloc(3 * 16 * 20 * 4), *s2 = malloc(3 * 10 * 12 * 4);
    fill_image(s1, 3 * 16 * 20);
    fill_image(s2, 3 * 10 * 12);
    const float *one[1] = {s1}, *two[2] = {s1, s2}, *same[2] = {s1, s1};
    int h1[1] = {16}, w1[1] = {20}, h2[2] = {16, 10}, w2[2] = {20, 12}, hs[2] = {16, 16}, ws[2] = {20, 20};
    double bl[2] = {3, 7}; /* normalised to 0.3, 0.7 */
    ts_objective_set_style(&a, one, h1, w1, NULL, 1);
    ts_objective_set_style(&b, same, hs, ws, bl, 2);
    size_t C = 64;
    double worst = 0;
    for (size_t i = 0; i < C * C; i++) worst = fmax(worst, fabs(a.style_target[0][i] - b.style_target[0][i]));
    TS_EXPECT(worst < 1e-5, "blend of identical styles equals one style (%.3g)", worst);
    /* 0.3 * A(s1) + 0.7 * A(s2) */
    ts_objective c;
    ts_objective_init(&c, &net, &sp);
    const float *only2[1] = {s2};
    int h3[1] = {10}, w3[1] = {12};
    ts_objective_set_style(&c, only2, h3, w3, NULL, 1);
    ts_objective_set_style(&b, two, h2, w2, bl, 2);
    worst = 0;
    for (size_t i = 0; i < C * C; i++)
        worst = fmax(worst, fabs(0.3 * a.style_target[0][i] + 0.7 * c.style_target[0][i] - b.style_target[0][i]));
    TS_EXPECT(worst < 1e-5, "blended target is the weighted sum (%.3g)", worst);
    ts_objective_free(&a);
    ts_objective_free(&b);
    ts_objective_free(&c);
    ts_vgg_free(&net);
    ts_vgg_weights_free(&wt);
    free(s1), free(s2);
}

int main(void) {
    ts_backend_cpu()->set_threads(2);
    fd_case cases[] = {
        {TS_VGG19, TS_POOL_MAX, TS_PREPROC_TORCHVISION, {"relu1_1", "relu2_1", "relu3_1", "relu5_1"}, {"relu4_2"}},
        {TS_VGG16, TS_POOL_AVG, TS_PREPROC_TORCHVISION, {"relu1_2", "pool2", "relu3_3"}, {"relu2_2"}},
        {TS_VGG19, TS_POOL_AVG, TS_PREPROC_CAFFE, {"conv1_1", "relu2_1"}, {"conv3_1", "relu1_2"}},
        {TS_VGG16, TS_POOL_MAX, TS_PREPROC_TORCHVISION, {"relu4_1"}, {"pool1"}},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) fd_check(&cases[i]);
    blend_check();
    return ts_test_summary();
}
