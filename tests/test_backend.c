/* test_backend.c - every CPU op against a naive reference and by finite differences / adjoints. */
#include <stdlib.h>
#include <string.h>

#include "tessera/backend.h"
#include "tessera/rng.h"
#include "naive_conv.h"
#include "test.h"

static uint64_t seed = 12345;
static void randn(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)(2.0 * ts_rng_uniform(&seed) - 1.0);
}

static double ddot(const float *a, const float *b, size_t n) {
    double s = 0;
    for (size_t i = 0; i < n; i++) s += (double)a[i] * b[i];
    return s;
}


static double max_rel_err(const float *a, const float *b, size_t n) {
    double m = 0, scale = 0;
    for (size_t i = 0; i < n; i++) scale = fmax(scale, fabs(b[i]));
    for (size_t i = 0; i < n; i++) m = fmax(m, fabs(a[i] - b[i]));
    return m / (scale > 0 ? scale : 1);
}

static void test_conv(const ts_backend *be, int C, int H, int W, int K) {
    size_t nx = (size_t)C * H * W, ny = (size_t)K * H * W, nw = (size_t)K * C * 9;
    float *x = malloc(nx * 4), *w = malloc(nw * 4), *b = malloc(K * 4), *y = malloc(ny * 4), *yr = malloc(ny * 4);
    float *dy = malloc(ny * 4), *dx = malloc(nx * 4);
    randn(x, nx, 1);
    randn(w, nw, 0.3f);
    randn(b, K, 0.1f);
    be->conv3x3_forward(x, C, H, W, w, b, K, NULL, y);
    conv_naive(x, C, H, W, w, b, K, yr);
    double e = max_rel_err(y, yr, ny);
    TS_EXPECT(e < 1e-5, "conv forward C=%d H=%d W=%d K=%d: max rel err %.3g", C, H, W, K, e);
    /* adjoint: <conv(x) - b, dy> == <x, conv_T(dy)> */
    randn(dy, ny, 1);
    conv_naive(x, C, H, W, w, NULL, K, yr);
    be->conv3x3_backward_input(dy, K, H, W, w, C, NULL, dx);
    double lhs = ddot(yr, dy, ny), rhs = ddot(x, dx, nx);
    TS_EXPECT(ts_test_rel(lhs, rhs, 1e-6) < 1e-5, "conv backward adjoint C=%d H=%d W=%d K=%d: %.9g vs %.9g", C, H, W,
              K, lhs, rhs);
    /* on an output rect (a tile's owned part inside a ring), with and without prepared weights: the
     * convolution inside the rect */
    conv_naive(x, C, H, W, w, b, K, yr);
    void *prep = be->conv3x3_prepare(w, C, K);
    for (int pass = 0; pass < 2 && H > 2 && W > 1; pass++) {
        const void *pw = pass ? prep : NULL;
        int y0 = 1, x0 = 1, h = H - 2, wd = W - 1;
        for (size_t i = 0; i < ny; i++) y[i] = 0.0f;
        be->conv3x3_forward_rect(x, C, H, W, w, b, K, pw, y0, x0, h, wd, y);
        double worst = 0, scale = 0;
        for (int k = 0; k < K; k++)
            for (int i = y0; i < y0 + h; i++)
                for (int j = x0; j < x0 + wd; j++) {
                    size_t q = ((size_t)k * H + i) * W + j;
                    worst = fmax(worst, fabs(y[q] - yr[q]));
                    scale = fmax(scale, fabs(yr[q]));
                }
        TS_EXPECT(worst <= 1e-5 * scale, "conv forward rect C=%d H=%d W=%d K=%d%s: max err %.3g (scale %.3g)", C, H, W,
                  K, pw ? " (prepared)" : "", worst, scale);
        if (!prep) break;
    }
    if (prep) be->conv3x3_release(prep);
    free(x), free(w), free(b), free(y), free(yr), free(dy), free(dx);
}

static void test_relu(const ts_backend *be) {
    size_t n = 1000;
    float *x = malloc(n * 4), *y = malloc(n * 4), *dy = malloc(n * 4), *dx = malloc(n * 4);
    randn(x, n, 1);
    randn(dy, n, 1);
    be->relu_forward(x, y, n);
    be->relu_backward(y, dy, dx, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) {
        if (y[i] != (x[i] > 0 ? x[i] : 0)) ok = 0;
        /* finite difference of sum(dy * relu(x)) away from the kink */
        if (fabsf(x[i]) > 1e-2f) {
            double h = 1e-3, fp = dy[i] * fmax(x[i] + h, 0), fm = dy[i] * fmax(x[i] - h, 0);
            if (fabs((fp - fm) / (2 * h) - dx[i]) > 1e-4) ok = 0;
        }
    }
    TS_EXPECT(ok, "relu forward/backward");
    free(x), free(y), free(dy), free(dx);
}

static void test_pool(const ts_backend *be, ts_pool_kind kind, int C, int H, int W) {
    int Ho = H / 2, Wo = W / 2;
    size_t nx = (size_t)C * H * W, ny = (size_t)C * Ho * Wo;
    float *x = malloc(nx * 4), *y = malloc(ny * 4), *dy = malloc(ny * 4), *dx = malloc(nx * 4), *xp = malloc(nx * 4),
          *yp = malloc(ny * 4);
    randn(x, nx, 1);
    randn(dy, ny, 1);
    ts_pool_shape whole = ts_pool_whole(H, W);
    be->pool_forward(kind, x, C, &whole, y);
    int ok = 1;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < Ho; i++)
            for (int j = 0; j < Wo; j++) {
                const float *p = x + ((size_t)c * H + 2 * i) * W + 2 * j;
                float v = kind == TS_POOL_MAX ? fmaxf(fmaxf(p[0], p[1]), fmaxf(p[W], p[W + 1]))
                                              : 0.25f * (p[0] + p[1] + p[W] + p[W + 1]);
                if (fabsf(v - y[((size_t)c * Ho + i) * Wo + j]) > 1e-6f) ok = 0;
            }
    TS_EXPECT(ok, "pool forward kind=%d %dx%dx%d", kind, C, H, W);
    be->pool_backward(kind, x, y, dy, C, &whole, dx);
    /* finite differences of f(x) = <dy, pool(x)> on every input */
    double h = 1e-3, worst = 0;
    for (size_t q = 0; q < nx; q++) {
        memcpy(xp, x, nx * 4);
        xp[q] = x[q] + (float)h;
        be->pool_forward(kind, xp, C, &whole, yp);
        double fp = ddot(yp, dy, ny);
        xp[q] = x[q] - (float)h;
        be->pool_forward(kind, xp, C, &whole, yp);
        double fm = ddot(yp, dy, ny);
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - dx[q]));
    }
    TS_EXPECT(worst < 2e-3, "pool backward kind=%d %dx%dx%d: worst FD error %.3g", kind, C, H, W, worst);
    /* the dropped last row/column of odd sizes gets no gradient */
    int zero = 1;
    if (H % 2)
        for (int c = 0; c < C; c++)
            for (int j = 0; j < W; j++) zero &= dx[((size_t)c * H + H - 1) * W + j] == 0.0f;
    if (W % 2)
        for (int c = 0; c < C; c++)
            for (int i = 0; i < H; i++) zero &= dx[((size_t)c * H + i) * W + W - 1] == 0.0f;
    TS_EXPECT(zero, "pool backward leaves floored row/column at zero");
    free(x), free(y), free(dy), free(dx), free(xp), free(yp);
}

/* pooling between rects (a tile's owned part inside a ring) equals cutting the rect out, pooling it
 * whole and pasting the result into a zeroed output; both directions overwrite everything */
static void test_pool_rect(const ts_backend *be, ts_pool_kind kind, int C, ts_pool_shape s) {
    size_t nx = (size_t)C * s.H * s.W, ny = (size_t)C * s.Ho * s.Wo, nr = (size_t)C * s.h * s.w,
           nq = (size_t)C * (s.h / 2) * (s.w / 2);
    float *x = malloc(nx * 4), *dy = malloc(ny * 4), *y = malloc(ny * 4), *dx = malloc(nx * 4), *xr = malloc(nr * 4),
          *yr = malloc(nq * 4), *dyr = malloc(nq * 4), *dxr = malloc(nr * 4), *want_y = calloc(ny, 4),
          *want_dx = calloc(nx, 4);
    randn(x, nx, 2);
    randn(dy, ny, 3);
    ts_pool_shape inner = ts_pool_whole(s.h, s.w);
    be->region_get(x, C, s.H, s.W, s.y, s.x, s.h, s.w, xr);
    be->pool_forward(kind, xr, C, &inner, yr);
    be->region_set(yr, C, s.Ho, s.Wo, s.oy, s.ox, s.h / 2, s.w / 2, want_y);
    be->region_get(dy, C, s.Ho, s.Wo, s.oy, s.ox, s.h / 2, s.w / 2, dyr);
    be->pool_backward(kind, xr, yr, dyr, C, &inner, dxr);
    be->region_set(dxr, C, s.H, s.W, s.y, s.x, s.h, s.w, want_dx);
    for (size_t i = 0; i < ny; i++) y[i] = 7.0f;
    for (size_t i = 0; i < nx; i++) dx[i] = 7.0f;
    be->pool_forward(kind, x, C, &s, y);
    be->pool_backward(kind, x, y, dy, C, &s, dx);
    TS_EXPECT(memcmp(y, want_y, ny * 4) == 0 && memcmp(dx, want_dx, nx * 4) == 0,
              "pool kind=%d %dx%d rect (%d,%d %dx%d) onto %dx%d at (%d,%d): equals cut, pool, paste", kind, s.W,
              s.H, s.x, s.y, s.w, s.h, s.Wo, s.Ho, s.ox, s.oy);
    free(x), free(dy), free(y), free(dx), free(xr), free(yr), free(dyr), free(dxr), free(want_y), free(want_dx);
}

static void test_gram(const ts_backend *be, int C, size_t M) {
    float *F = malloc(C * M * 4), *G = malloc((size_t)C * C * 4), *D = malloc((size_t)C * C * 4),
          *dF = calloc(C * M, 4), *Fp = malloc(C * M * 4), *Gp = malloc((size_t)C * C * 4);
    randn(F, C * M, 1);
    float scale = 1.0f / (float)M;
    be->gram(F, C, M, scale, G);
    double worst = 0;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++) {
            double s = 0;
            for (size_t m = 0; m < M; m++) s += (double)F[i * M + m] * F[j * M + m];
            worst = fmax(worst, fabs(s * scale - G[i * C + j]));
        }
    TS_EXPECT(worst < 1e-5, "gram C=%d M=%zu: max err %.3g", C, M, worst);
    /* f(F) = sum(D .* G(F)) with D symmetric: df/dF = 2 scale D F */
    randn(D, (size_t)C * C, 1);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < i; j++) D[i * C + j] = D[j * C + i];
    be->gram_backward(D, F, C, M, 2 * scale, dF);
    double h = 1e-2;
    worst = 0;
    for (size_t q = 0; q < C * M; q += 7) {
        memcpy(Fp, F, C * M * 4);
        Fp[q] = F[q] + (float)h;
        be->gram(Fp, C, M, scale, Gp);
        double fp = ddot(D, Gp, (size_t)C * C);
        Fp[q] = F[q] - (float)h;
        be->gram(Fp, C, M, scale, Gp);
        double fm = ddot(D, Gp, (size_t)C * C);
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - dF[q]));
    }
    TS_EXPECT(worst < 1e-3, "gram backward FD worst %.3g", worst);
    free(F), free(G), free(D), free(dF), free(Fp), free(Gp);
}

/* gram_rect, gram_backward_rect and sqdiff_rect over the rect (y0, x0, h, w) equal the whole-tensor ops
 * on a copy of the rect (the gradients added back into it), and change nothing outside it */
static void test_loss_rect(const ts_backend *be, int C, int H, int W, int y0, int x0, int h, int w) {
    size_t n = (size_t)C * H * W, nr = (size_t)C * h * w, CC = (size_t)C * C;
    float *F = malloc(n * 4), *T = malloc(n * 4), *D = malloc(CC * 4), *Fr = malloc(nr * 4 + 4), *Tr = malloc(nr * 4 + 4),
          *dr = calloc(nr + 1, 4), *G = malloc(CC * 4), *Gw = malloc(CC * 4), *base = malloc(n * 4), *got = malloc(n * 4),
          *want = malloc(n * 4);
    randn(F, n, 1);
    randn(T, n, 1);
    randn(base, n, 1);
    randn(D, CC, 1);
    for (int i = 0; i < C; i++) /* D symmetric, as gram_backward asks */
        for (int j = 0; j < i; j++) D[(size_t)i * C + j] = D[(size_t)j * C + i];
    float scale = 1.0f / (float)(nr ? (double)h * w : 1.0);
    be->region_get(F, C, H, W, y0, x0, h, w, Fr);
    be->region_get(T, C, H, W, y0, x0, h, w, Tr);
    /* Gram */
    be->gram(Fr, C, (size_t)h * w, scale, Gw);
    for (size_t i = 0; i < CC; i++) G[i] = 7.0f;
    be->gram_rect(F, C, H, W, y0, x0, h, w, scale, G);
    double gd = 0, gs = 1e-30;
    for (size_t i = 0; i < CC; i++) gd = fmax(gd, fabs(G[i] - Gw[i])), gs = fmax(gs, fabs(Gw[i]));
    /* Gram backward */
    memcpy(want, base, n * 4);
    be->gram_backward(D, Fr, C, (size_t)h * w, 0.5f, dr);
    be->region_add(dr, C, H, W, y0, x0, h, w, want);
    memcpy(got, base, n * 4);
    be->gram_backward_rect(D, F, C, H, W, y0, x0, h, w, 0.5f, got);
    double bd = max_rel_err(got, want, n);
    /* squared differences, with and without a gradient */
    memset(dr, 0, nr * 4);
    double sw = be->sqdiff(Fr, Tr, nr, 0.25f, dr);
    memcpy(want, base, n * 4);
    be->region_add(dr, C, H, W, y0, x0, h, w, want);
    memcpy(got, base, n * 4);
    double sg = be->sqdiff_rect(F, T, C, H, W, y0, x0, h, w, 0.25f, got);
    double s0 = be->sqdiff_rect(F, T, C, H, W, y0, x0, h, w, 0.0f, NULL);
    double sd = max_rel_err(got, want, n);
    /* outside the rect: the gradients' base, bit for bit */
    int outside_same = 1;
    memcpy(want, base, n * 4);
    be->gram_backward_rect(D, F, C, H, W, y0, x0, h, w, 0.5f, want);
    be->sqdiff_rect(F, T, C, H, W, y0, x0, h, w, 0.25f, want);
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                size_t k = ((size_t)c * H + i) * W + j;
                if ((i < y0 || i >= y0 + h || j < x0 || j >= x0 + w) && memcmp(&want[k], &base[k], 4)) outside_same = 0;
            }
    TS_EXPECT(gd <= 1e-5 * gs && bd <= 1e-5 && fabs(sg - sw) <= 1e-9 * fmax(sw, 1e-30) && s0 == sg && sd <= 1e-6 &&
                  outside_same,
              "loss ops over rect (%d,%d %dx%d) of %dx%dx%d: Gram err %.2g (of %.2g), backward %.2g, sqdiff %.17g vs %.17g "
              "(no gradient %.17g), its gradient %.2g, outside unchanged %d",
              x0, y0, w, h, C, H, W, gd, gs, bd, sg, sw, s0, sd, outside_same);
    free(F), free(T), free(D), free(Fr), free(Tr), free(dr), free(G), free(Gw), free(base), free(got), free(want);
}

static void test_vector_ops(const ts_backend *be) {
    size_t n = 1001;
    float *x = malloc(n * 4), *y = malloc(n * 4), *t = malloc(n * 4), *g = calloc(n, 4), *x2 = malloc(n * 4);
    randn(x, n, 1);
    randn(y, n, 1);
    randn(t, n, 1);
    TS_EXPECT(ts_test_rel(be->dot(x, y, n), ddot(x, y, n), 1e-9) < 1e-12, "dot");
    memcpy(x2, y, n * 4);
    be->axpy(0.5f, x, x2, n);
    int ok = 1;
    for (size_t i = 0; i < n; i++) ok &= fabsf(x2[i] - (y[i] + 0.5f * x[i])) < 1e-6f;
    TS_EXPECT(ok, "axpy");
    be->scale(-2.0f, x2, n);
    be->copy(x, x2, n);
    TS_EXPECT(memcmp(x, x2, n * 4) == 0, "copy");
    be->fill(3.0f, x2, n);
    TS_EXPECT(x2[0] == 3.0f && x2[n - 1] == 3.0f, "fill");
    double s = be->sqdiff(x, t, n, 0.5f, g), sr = 0;
    ok = 1;
    for (size_t i = 0; i < n; i++) {
        sr += (double)(x[i] - t[i]) * (x[i] - t[i]);
        ok &= fabsf(g[i] - 0.5f * (x[i] - t[i])) < 1e-6f;
    }
    TS_EXPECT(ts_test_rel(s, sr, 1e-9) < 1e-9 && ok, "sqdiff value and gradient");
    /* tv: finite differences on a 3x5x7 image */
    int C = 3, H = 5, W = 7;
    size_t m = (size_t)C * H * W;
    float *img = malloc(m * 4), *gt = calloc(m, 4), *ip = malloc(m * 4);
    randn(img, m, 1);
    be->tv(img, C, H, W, 0, 0, H, W, 1.0f, gt);
    double worst = 0, h = 1e-2;
    for (size_t q = 0; q < m; q++) {
        memcpy(ip, img, m * 4);
        ip[q] += (float)h;
        double fp = be->tv(ip, C, H, W, 0, 0, H, W, 0, NULL);
        ip[q] = img[q] - (float)h;
        double fm = be->tv(ip, C, H, W, 0, 0, H, W, 0, NULL);
        worst = fmax(worst, fabs((fp - fm) / (2 * h) - gt[q]));
    }
    TS_EXPECT(worst < 1e-3, "tv gradient FD worst %.3g", worst);
    /* tv over rects that partition the image adds up to the whole (each pixel's right and lower
     * differences counted by the rect that holds the pixel), gradients too */
    float *gp = calloc(m, 4);
    double parts = be->tv(img, C, H, W, 0, 0, 2, 3, 1.0f, gp) + be->tv(img, C, H, W, 0, 3, 2, 4, 1.0f, gp) +
                   be->tv(img, C, H, W, 2, 0, 3, 7, 1.0f, gp);
    double whole = be->tv(img, C, H, W, 0, 0, H, W, 0, NULL);
    double gdiff = 0;
    for (size_t q = 0; q < m; q++) gdiff = fmax(gdiff, fabs(gp[q] - gt[q]));
    TS_EXPECT(fabs(parts - whole) < 1e-9 * whole && gdiff < 1e-5, "tv over a partition: %.9g vs %.9g, grad %.3g", parts,
              whole, gdiff);
    /* region_get then region_add into zeros puts the rect back and nothing else */
    float *r = malloc((size_t)C * 2 * 3 * 4), *back = calloc(m, 4);
    be->region_get(img, C, H, W, 1, 2, 2, 3, r);
    be->region_add(r, C, H, W, 1, 2, 2, 3, back);
    int rok = 1;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < H; i++)
            for (int j = 0; j < W; j++) {
                size_t q = ((size_t)c * H + i) * W + j;
                int inside = i >= 1 && i < 3 && j >= 2 && j < 5;
                rok &= back[q] == (inside ? img[q] : 0.0f);
            }
    TS_EXPECT(rok, "region_get / region_add");
    free(gp), free(r), free(back);
    free(x), free(y), free(t), free(g), free(x2), free(img), free(gt), free(ip);
}

static void test_adam(const ts_backend *be) {
    float x[2] = {1.0f, -2.0f}, g[2] = {0.5f, -0.25f}, m[2] = {0}, v[2] = {0};
    be->adam_step(x, g, m, v, 2, 0.1f, 0.9f, 0.999f, 1e-8f, 1);
    /* first step moves each coordinate by lr * sign(g) */
    TS_EXPECT(fabsf(x[0] - 0.9f) < 1e-5f && fabsf(x[1] + 1.9f) < 1e-5f, "adam first step %g %g", x[0], x[1]);
}

/* mul_positions: every channel times the same per-position weights, set or added, in place too */
static void test_mul_positions(const ts_backend *be, int C, size_t M) {
    size_t n = (size_t)C * M;
    float *x = be->alloc(n), *w = be->alloc(M), *y = be->alloc(n), *z = be->alloc(n);
    randn(x, n, 1);
    randn(w, M, 1);
    randn(y, n, 1);
    memcpy(z, y, n * sizeof(float));
    be->mul_positions(x, w, C, M, 1, y);
    int add_ok = 1, set_ok = 1;
    for (int c = 0; c < C; c++)
        for (size_t p = 0; p < M; p++) add_ok &= y[c * M + p] == z[c * M + p] + x[c * M + p] * w[p];
    be->mul_positions(x, w, C, M, 0, y);
    memcpy(z, x, n * sizeof(float));
    be->mul_positions(z, w, C, M, 0, z); /* in place */
    for (int c = 0; c < C; c++)
        for (size_t p = 0; p < M; p++) set_ok &= y[c * M + p] == x[c * M + p] * w[p] && z[c * M + p] == y[c * M + p];
    TS_EXPECT(add_ok, "mul_positions C=%d M=%zu adds x*w", C, M);
    TS_EXPECT(set_ok, "mul_positions C=%d M=%zu sets x*w, also in place", C, M);
    be->free(x), be->free(w), be->free(y), be->free(z);
}

int main(void) {
    const ts_backend *be = ts_backend_cpu();
    be->set_threads(2);
    test_conv(be, 3, 7, 9, 4);
    test_conv(be, 5, 1, 1, 2);
    test_conv(be, 1, 2, 13, 3);
    test_conv(be, 64, 40, 512, 4); /* several im2col row bands */
    test_relu(be);
    test_pool(be, TS_POOL_MAX, 2, 6, 8);
    test_pool(be, TS_POOL_MAX, 3, 7, 5);
    test_pool(be, TS_POOL_AVG, 3, 7, 5);
    test_pool(be, TS_POOL_AVG, 1, 1, 3);
    /* H, W, y, x, h, w, Ho, Wo, oy, ox: rings on one side, on all sides, odd rects, the whole input */
    test_pool_rect(be, TS_POOL_MAX, 3, (ts_pool_shape){10, 9, 0, 0, 8, 8, 5, 5, 0, 0});
    test_pool_rect(be, TS_POOL_MAX, 2, (ts_pool_shape){12, 14, 1, 1, 10, 12, 7, 8, 1, 1});
    test_pool_rect(be, TS_POOL_AVG, 2, (ts_pool_shape){12, 14, 1, 1, 10, 12, 7, 8, 1, 1});
    test_pool_rect(be, TS_POOL_MAX, 2, (ts_pool_shape){11, 10, 1, 0, 9, 7, 6, 5, 1, 1});
    test_pool_rect(be, TS_POOL_AVG, 1, (ts_pool_shape){6, 6, 0, 0, 6, 6, 3, 3, 0, 0});
    ts_pool_shape bad = {6, 6, 1, 0, 6, 6, 3, 3, 0, 0};
    TS_EXPECT(!ts_pool_shape_valid(&bad) && ts_pool_shape_valid(&(ts_pool_shape){6, 6, 0, 0, 6, 6, 3, 3, 0, 0}),
              "pool shape check: a rect past the input's edge is refused");
    test_gram(be, 5, 37);
    test_gram(be, 16, 300);
    test_loss_rect(be, 6, 9, 11, 0, 0, 9, 11);  /* whole */
    test_loss_rect(be, 6, 9, 11, 0, 0, 9, 10);  /* ring on the right */
    test_loss_rect(be, 6, 9, 11, 0, 1, 9, 10);  /* ring on the left */
    test_loss_rect(be, 6, 9, 11, 1, 1, 7, 9);   /* ring all round */
    test_loss_rect(be, 6, 9, 11, 1, 0, 7, 11);  /* as wide as the tensor: one block */
    test_loss_rect(be, 33, 5, 40, 2, 3, 1, 36); /* one row */
    test_loss_rect(be, 4, 12, 7, 0, 6, 12, 1);  /* one column */
    test_loss_rect(be, 4, 6, 6, 3, 2, 0, 3);    /* empty */
    test_vector_ops(be);
    test_mul_positions(be, 3, 17);
    test_mul_positions(be, 64, 1000);
    test_adam(be);
    TS_EXPECT(ts_backend_by_name("cpu") == be && ts_backend_by_name("nonesuch") == NULL, "backend lookup");
    return ts_test_summary();
}
