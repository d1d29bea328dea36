/* test_loss.c - the whole objective by finite differences (both architectures, poolings and
 * preprocessings), style blending, and invariants of the loss terms; the guided Grams of style masks
 * by finite differences, against the unmasked loss (one all-ones mask) and with an empty mask. */
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

/* The central difference with step h along the gradient g at x (scaled to max 1) plus some noise,
 * and in *gd the derivative the gradient predicts there: the steepest direction keeps float32
 * rounding of the loss small against the change it measures. */
static double directional_fd(ts_objective *obj, const float *x, const float *g, size_t n, double h, double *gd) {
    float *d = malloc(n * 4), *xp = calloc(n, 4);
    double gmax = 0;
    for (size_t i = 0; i < n; i++) gmax = fmax(gmax, fabs(g[i]));
    for (size_t i = 0; i < n; i++) d[i] = (float)(g[i] / gmax + 0.2 * (ts_rng_uniform(&seed) - 0.5));
    double dot = 0;
    for (size_t i = 0; i < n; i++) dot += (double)g[i] * d[i];
    *gd = dot;
    for (size_t i = 0; i < n; i++) xp[i] = x[i] + (float)h * d[i];
    double fp = eval_total(obj, xp);
    for (size_t i = 0; i < n; i++) xp[i] = x[i] - (float)h * d[i];
    double fm = eval_total(obj, xp);
    free(d), free(xp);
    return (fp - fm) / (2 * h);
}

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
          *xp = malloc(n * 4);
    fill_image(content, n);
    fill_image(style, 3 * 24 * 18);
    fill_image(x, n);
    const float *styles[1] = {style};
    int sh[1] = {24}, sw[1] = {18};
    ts_objective_set_style(&obj, styles, sh, sw, NULL, 1, NULL);
    ts_objective_set_content(&obj, content, H, W);
    ts_loss_terms t = ts_objective_eval(&obj, x, g);
    double tc = t.term[ts_loss_term_find("content")], ts = t.term[ts_loss_term_find("style")],
           tt = t.term[ts_loss_term_find("tv")];
    TS_EXPECT(tc > 0 && ts > 0 && tt > 0 && fabs(t.total - (tc + ts + tt)) < 1e-9 * t.total,
              "terms positive and summing (%s %s)", ts_arch_name(c->arch), c->style[0]);
    /* small steps: the loss has kinks (ReLU, max pooling) that a large step crosses; Caffe input is 255x */
    double h = c->pre == TS_PREPROC_CAFFE ? 1e-4 : 1e-3, gd, fp, fm;
    double fd = directional_fd(&obj, x, g, n, h, &gd);
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
    free(content), free(style), free(x), free(g), free(xp);
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
    ts_objective_set_style(&a, one, h1, w1, NULL, 1, NULL);
    ts_objective_set_style(&b, same, hs, ws, bl, 2, NULL);
    size_t C = 64;
    double worst = 0;
    for (size_t i = 0; i < C * C; i++) worst = fmax(worst, fabs(a.style_target[0][i] - b.style_target[0][i]));
    TS_EXPECT(worst < 1e-5, "blend of identical styles equals one style (%.3g)", worst);
    /* 0.3 * A(s1) + 0.7 * A(s2) */
    ts_objective c;
    ts_objective_init(&c, &net, &sp);
    const float *only2[1] = {s2};
    int h3[1] = {10}, w3[1] = {12};
    ts_objective_set_style(&c, only2, h3, w3, NULL, 1, NULL);
    ts_objective_set_style(&b, two, h2, w2, bl, 2, NULL);
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

/* ---- guided Grams (masks) ---- */

typedef struct {
    ts_vgg_weights wt;
    ts_vgg net;
    ts_loss_spec sp;
    int H, W;
    float *content, *s1, *s2;
} mask_case;

static void mask_case_init(mask_case *m, int nmasks) {
    memset(m, 0, sizeof *m);
    const char *layers[] = {"relu1_1", "relu2_1", "relu3_1", "relu4_1"};
    for (int i = 0; i < 4; i++) {
        m->sp.style_layer[m->sp.nstyle] = ts_vgg_find(TS_VGG19, layers[i]);
        m->sp.style_lambda[m->sp.nstyle++] = 1.0 + i;
    }
    m->sp.content_layer[m->sp.ncontent++] = ts_vgg_find(TS_VGG19, "relu2_2");
    ts_loss_spec_set_weight(&m->sp, "content", 1.0);
    ts_loss_spec_set_weight(&m->sp, "style", 30.0);
    ts_loss_spec_set_weight(&m->sp, "tv", 0.2);
    m->sp.nmasks = nmasks;
    m->sp.mask_blend[0] = 0.3;
    m->sp.mask_blend[1] = 0.7;
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&m->sp, keep);
    ts_vgg_weights_random(TS_VGG19, 11, 16, &m->wt);
    ts_vgg_init(&m->net, ts_backend_cpu(), &m->wt, TS_POOL_MAX, TS_PREPROC_TORCHVISION, ts_loss_spec_deepest(&m->sp),
                keep);
    m->H = 37, m->W = 42; /* odd: pooling floors */
    size_t n = (size_t)3 * m->H * m->W;
    m->content = malloc(n * 4), m->s1 = malloc(3 * 30 * 34 * 4), m->s2 = malloc(3 * 26 * 40 * 4);
    fill_image(m->content, n);
    fill_image(m->s1, 3 * 30 * 34);
    fill_image(m->s2, 3 * 26 * 40);
}

static void mask_case_free(mask_case *m) {
    ts_vgg_free(&m->net);
    ts_vgg_weights_free(&m->wt);
    free(m->content), free(m->s1), free(m->s2);
}

/* an objective on the case with nstyles styles (s1, s2) and as many content masks (planes; NULL: none) */
static void mask_objective(mask_case *m, ts_objective *obj, int nstyles, float *const *planes,
                           const ts_mask_set *const *style_masks) {
    ts_loss_spec sp = m->sp;
    sp.nmasks = planes ? nstyles : 0;
    ts_objective_init(obj, &m->net, &sp);
    const float *st[2] = {m->s1, m->s2};
    int h[2] = {30, 26}, w[2] = {34, 40};
    double blend[2] = {3, 7};
    ts_objective_set_style(obj, st, h, w, blend, nstyles, style_masks);
    if (planes) {
        ts_mask_set ms;
        ts_mask_set_build(&ms, (const float *const *)planes, sp.nmasks, m->H, m->W);
        ts_objective_set_masks(obj, &ms);
        ts_mask_set_free(&ms);
    }
    ts_objective_set_content(obj, m->content, m->H, m->W);
}

static double rel_l2(const float *a, const float *b, size_t n, double scale_b) {
    double d = 0, r = 0;
    for (size_t i = 0; i < n; i++) {
        d += (a[i] - scale_b * b[i]) * (a[i] - scale_b * b[i]);
        r += a[i] * a[i];
    }
    return sqrt(d / (r > 0 ? r : 1));
}

static void mask_checks(void) {
    mask_case m;
    mask_case_init(&m, 2);
    size_t n = (size_t)3 * m.H * m.W, np = (size_t)m.H * m.W;
    float *x = malloc(n * 4), *g = malloc(n * 4), *g2 = malloc(n * 4);
    fill_image(x, n);
    float *ramp = malloc(np * 4), *rest = malloc(np * 4), *ones = malloc(np * 4), *zeros = calloc(np, 4);
    for (int y = 0; y < m.H; y++)
        for (int i = 0; i < m.W; i++) {
            ramp[y * m.W + i] = (float)i / (m.W - 1);
            rest[y * m.W + i] = 0.9f * (1.0f - ramp[y * m.W + i]) * (y < m.H / 2 ? 1.0f : 0.5f);
            ones[y * m.W + i] = 1.0f;
        }
    /* a style-image mask on style 2: a vertical ramp */
    float *sm = malloc(26 * 40 * 4);
    for (int p = 0; p < 26 * 40; p++) sm[p] = 0.25f + 0.75f * (float)(p / 40) / 25.0f;
    ts_mask_set smask;
    const float *smp[1] = {sm};
    ts_mask_set_build(&smask, smp, 1, 26, 40);
    const ts_mask_set *style_masks[2] = {NULL, &smask};

    /* finite differences through the guided Grams (soft masks, a style-image mask) */
    ts_objective obj;
    float *planes[2] = {ramp, rest};
    mask_objective(&m, &obj, 2, planes, style_masks);
    ts_loss_terms t = ts_objective_eval(&obj, x, g);
    double gd, fd = directional_fd(&obj, x, g, n, 1e-3, &gd);
    TS_EXPECT(t.term[ts_loss_term_find("style")] > 0 && ts_test_rel(fd, gd, 1e-12) < 2e-3,
              "masks: directional FD %.8g vs gradient %.8g", fd, gd);
    ts_objective_free(&obj);

    /* one all-ones mask on one style is today's loss */
    ts_objective plain, one;
    float *one_plane[1] = {ones};
    mask_objective(&m, &plain, 1, NULL, NULL);
    m.sp.mask_blend[0] = 1.0;
    mask_objective(&m, &one, 1, one_plane, NULL);
    ts_loss_terms a = ts_objective_eval(&plain, x, g), b = ts_objective_eval(&one, x, g2);
    int st = ts_loss_term_find("style");
    TS_EXPECT(ts_test_rel(a.term[st], b.term[st], 1e-30) < 1e-5 && rel_l2(g, g2, n, 1.0) < 1e-5,
              "masks: one all-ones mask gives the unmasked loss (style %.9g vs %.9g, gradient %.2g)", a.term[st],
              b.term[st], rel_l2(g, g2, n, 1.0));
    ts_objective_free(&one);

    /* a mask that is empty everywhere contributes nothing: with an all-ones mask on style 1 beside it,
     * the style term is b_1 times the plain one-style term, and so is its gradient */
    ts_objective half;
    float *pair[2] = {ones, zeros};
    m.sp.mask_blend[0] = 0.3;
    mask_objective(&m, &half, 2, pair, NULL);
    for (int k = 0; k < 2; k++) { /* the style term alone */
        ts_objective *o = k ? &plain : &half;
        ts_loss_spec_set_weight(&o->spec, "content", 0);
        ts_loss_spec_set_weight(&o->spec, "tv", 0);
    }
    a = ts_objective_eval(&plain, x, g);
    b = ts_objective_eval(&half, x, g2);
    TS_EXPECT(ts_test_rel(0.3 * a.term[st], b.term[st], 1e-30) < 1e-5 && rel_l2(g2, g, n, 0.3) < 1e-5,
              "masks: an empty mask contributes nothing (style %.9g vs 0.3 x %.9g, gradient %.2g)", b.term[st],
              a.term[st], rel_l2(g2, g, n, 0.3));
    ts_objective_free(&half);
    ts_objective_free(&plain);

    /* the mask levels: 2x2 averages with the floor rule, sums of squares */
    ts_mask_set lv;
    const float *rp[1] = {ramp};
    ts_mask_set_build(&lv, rp, 1, m.H, m.W);
    float want = 0.25f * (ramp[2 * m.W + 2] + ramp[2 * m.W + 3] + ramp[3 * m.W + 2] + ramp[3 * m.W + 3]);
    double z1 = 0;
    for (int p = 0; p < lv.h[1] * lv.w[1]; p++) z1 += (double)lv.level[0][1][p] * lv.level[0][1][p];
    TS_EXPECT(lv.h[1] == 18 && lv.w[1] == 21 && lv.h[4] == 2 && lv.w[4] == 2 && lv.level[0][1][1 * 21 + 1] == want &&
                  fabs(lv.z[0][1] - z1) <= 1e-12 * z1,
              "mask levels: %dx%d at stride 2 (floor), %dx%d at 16, averages, z = sum of squares", lv.w[1], lv.h[1],
              lv.w[4], lv.h[4]);
    ts_mask_set_free(&lv);

    ts_mask_set_free(&smask);
    mask_case_free(&m);
    free(x), free(g), free(g2), free(ramp), free(rest), free(ones), free(zeros), free(sm);
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
    mask_checks();
    return ts_test_summary();
}
