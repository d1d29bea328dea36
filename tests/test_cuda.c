/* test_cuda.c - every op of the CUDA backend against the CPU backend (the reference), op by op.
 *
 * Built twice by `make tools`:
 *  - build/tests/test_cuda loads the real CUDA backend: on a machine with a GPU it runs in full; with
 *    no GPU (or a build without CUDA) it prints "skipped: ..." and passes;
 *  - build/tests/test_cuda_emu loads the backend built against tests/cuda_emu, the same source run on
 *    the CPU (one thread after another, device memory unreadable from host code): it checks the
 *    kernels' index arithmetic, banding, reductions and cuBLAS layouts anywhere.
 *
 * Tolerances (error = max |cuda - cpu| / max |cpu|, per tensor), fp32 GEMMs:
 *  - convolution forward/backward, Gram, Gram backward: 2e-5. Both backends add up to 9C (<= 4608)
 *    float32 products in different orders (cuBLAS tiles and split-K against OpenBLAS or Winograd-free
 *    im2col); each sum's rounding error is a few units of 2^-24 times sqrt(terms) of the largest
 *    term, about 1e-6 of max|y| here, and the bound leaves 10x for unlucky orders;
 *  - element-wise ops (axpy, scale, sqdiff's and tv's gradient, Adam): 1e-6, one or two roundings
 *    apart (the GPU may fuse a multiply and an add into one FMA);
 *  - ReLU, pooling (max and average), region copies, copy, fill: exact (the same float operations);
 *  - reductions returned in double (dot, sqdiff, tv): 1e-12 relative, the same float terms added in
 *    double in another order.
 * With TF32 GEMMs (run after the fp32 ones) the convolution and Gram errors are printed and bounded by
 * 5e-3: TF32 keeps 10 of float's 23 mantissa bits, so each product carries up to ~5e-4 relative error
 * and sums of mixed-sign terms lose a little more relative to max|y|. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/backend.h"
#include "tessera/rng.h"
#include "test.h"

static const ts_backend *CPU, *GPU;
static uint64_t seed = 2024;
static double conv_tol = 2e-5;
static const char *mode = "fp32";

static void randn(float *x, size_t n, float scale) {
    for (size_t i = 0; i < n; i++) x[i] = scale * (float)(2.0 * ts_rng_uniform(&seed) - 1.0);
}

static float *hbuf(size_t n) { return calloc(n ? n : 1, sizeof(float)); }
static float *to_gpu(const float *h, size_t n) {
    float *d = GPU->alloc(n);
    GPU->upload(d, h, n);
    return d;
}
static float *from_gpu(const float *d, size_t n) {
    float *h = hbuf(n);
    GPU->download(h, d, n);
    return h;
}

/* max |a - b| / max |b| (b the CPU reference); 0 when both are all zero */
static double err_of(const float *a, const float *b, size_t n) {
    double m = 0, s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = fabs((double)a[i] - b[i]);
        if (d > m || d != d) m = d != d ? INFINITY : d;
        if (fabs(b[i]) > s) s = fabs(b[i]);
    }
    return m == 0 ? 0 : m / (s > 0 ? s : 1);
}

/* the GPU result (device) against the CPU one (host) */
static double gpu_err(const float *d, const float *ref, size_t n) {
    float *h = from_gpu(d, n);
    double e = err_of(h, ref, n);
    free(h);
    return e;
}

static void test_conv(int C, int H, int W, int K) {
    size_t nx = (size_t)C * H * W, ny = (size_t)K * H * W, nw = (size_t)K * C * 9;
    float *x = hbuf(nx), *w = hbuf(nw), *b = hbuf(K), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
    randn(x, nx, 1);
    randn(w, nw, 0.3f);
    randn(b, K, 0.1f);
    randn(dy, ny, 1);
    CPU->conv3x3_forward(x, C, H, W, w, b, K, NULL, y);
    CPU->conv3x3_backward_input(dy, K, H, W, w, C, NULL, dx);
    float *gx = to_gpu(x, nx), *gw = to_gpu(w, nw), *gb = to_gpu(b, K), *gy = GPU->alloc(ny), *gdy = to_gpu(dy, ny);
    float *gdx = GPU->alloc(nx);
    GPU->fill(7.0f, gdx, nx); /* backward overwrites dx */
    GPU->conv3x3_forward(gx, C, H, W, gw, gb, K, NULL, gy);
    GPU->conv3x3_backward_input(gdy, K, H, W, gw, C, NULL, gdx);
    double ef = gpu_err(gy, y, ny), eb = gpu_err(gdx, dx, nx);
    TS_EXPECT(ef <= conv_tol, "%s conv forward C=%d H=%d W=%d K=%d: err %.3g > %.1g", mode, C, H, W, K, ef, conv_tol);
    TS_EXPECT(eb <= conv_tol, "%s conv backward C=%d H=%d W=%d K=%d: err %.3g > %.1g", mode, C, H, W, K, eb, conv_tol);
    printf("# %s conv C=%d H=%d W=%d K=%d: forward err %.2g, backward err %.2g\n", mode, C, H, W, K, ef, eb);
    /* no bias */
    CPU->conv3x3_forward(x, C, H, W, w, NULL, K, NULL, y);
    GPU->conv3x3_forward(gx, C, H, W, gw, NULL, K, NULL, gy);
    ef = gpu_err(gy, y, ny);
    TS_EXPECT(ef <= conv_tol, "%s conv forward without bias C=%d: err %.3g", mode, C, ef);
    /* on an output rect: inside it the convolution (what lies outside is the backend's choice) */
    if (H > 2 && W > 1) {
        int y0 = 1, x0 = 0, h = H - 2, wd = W - 1;
        size_t nr = (size_t)K * h * wd;
        float *want = hbuf(nr), *got = GPU->alloc(nr);
        GPU->conv3x3_forward_rect(gx, C, H, W, gw, gb, K, NULL, y0, x0, h, wd, gy);
        CPU->conv3x3_forward(x, C, H, W, w, b, K, NULL, y);
        CPU->region_get(y, K, H, W, y0, x0, h, wd, want);
        GPU->region_get(gy, K, H, W, y0, x0, h, wd, got);
        ef = gpu_err(got, want, nr);
        TS_EXPECT(ef <= conv_tol, "%s conv forward rect C=%d H=%d W=%d K=%d: err %.3g", mode, C, H, W, K, ef);
        GPU->free(got);
        free(want);
    }
    GPU->free(gx), GPU->free(gw), GPU->free(gb), GPU->free(gy), GPU->free(gdy), GPU->free(gdx);
    free(x), free(w), free(b), free(y), free(dy), free(dx);
}

static void test_gram(int C, size_t M) {
    size_t nf = (size_t)C * M, ng = (size_t)C * C;
    float *F = hbuf(nf), *G = hbuf(ng), *D = hbuf(ng), *dF = hbuf(nf);
    randn(F, nf, 1);
    randn(dF, nf, 1);
    float scale = 1.0f / (float)M;
    CPU->gram(F, C, M, scale, G);
    float *gF = to_gpu(F, nf), *gG = GPU->alloc(ng), *gdF = to_gpu(dF, nf);
    GPU->gram(gF, C, M, scale, gG);
    float *hG = from_gpu(gG, ng);
    double e = err_of(hG, G, ng);
    TS_EXPECT(e <= conv_tol, "%s gram C=%d M=%zu: err %.3g", mode, C, M, e);
    int sym = 1;
    for (int i = 0; i < C; i++)
        for (int j = 0; j < C; j++)
            if (hG[(size_t)i * C + j] != hG[(size_t)j * C + i]) sym = 0;
    TS_EXPECT(sym, "%s gram C=%d: exactly symmetric", mode, C);
    /* backward with a symmetric D, accumulating into dF */
    randn(D, ng, 1);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < i; j++) D[(size_t)i * C + j] = D[(size_t)j * C + i];
    float *gD = to_gpu(D, ng);
    CPU->gram_backward(D, F, C, M, 0.5f, dF);
    GPU->gram_backward(gD, gF, C, M, 0.5f, gdF);
    double eb = gpu_err(gdF, dF, nf);
    TS_EXPECT(eb <= conv_tol, "%s gram_backward C=%d M=%zu: err %.3g", mode, C, M, eb);
    printf("# %s gram C=%d M=%zu: err %.2g, backward err %.2g\n", mode, C, M, e, eb);
    GPU->free(gF), GPU->free(gG), GPU->free(gdF), GPU->free(gD);
    free(F), free(G), free(D), free(dF), free(hG);
}

/* the rect forms of Gram, its backward and sqdiff (a tile's owned part inside its ring): GPU = CPU */
static void test_loss_rect(int C, int H, int W, int y0, int x0, int h, int w) {
    size_t n = (size_t)C * H * W, ng = (size_t)C * C;
    float *F = hbuf(n), *T = hbuf(n), *dF = hbuf(n), *g = hbuf(n), *D = hbuf(ng), *G = hbuf(ng);
    randn(F, n, 1);
    randn(T, n, 1);
    randn(dF, n, 1);
    randn(g, n, 1);
    randn(D, ng, 1);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < i; j++) D[(size_t)i * C + j] = D[(size_t)j * C + i];
    float *gF = to_gpu(F, n), *gT = to_gpu(T, n), *gdF = to_gpu(dF, n), *gg = to_gpu(g, n), *gD = to_gpu(D, ng),
          *gG = GPU->alloc(ng);
    float scale = 1.0f / (float)((size_t)h * w);
    CPU->gram_rect(F, C, H, W, y0, x0, h, w, scale, G);
    GPU->gram_rect(gF, C, H, W, y0, x0, h, w, scale, gG);
    double e = gpu_err(gG, G, ng);
    CPU->gram_backward_rect(D, F, C, H, W, y0, x0, h, w, 0.5f, dF);
    GPU->gram_backward_rect(gD, gF, C, H, W, y0, x0, h, w, 0.5f, gdF);
    double eb = gpu_err(gdF, dF, n);
    TS_EXPECT(e <= conv_tol && eb <= conv_tol, "%s gram over rect (%d,%d %dx%d) of %dx%dx%d: err %.3g, backward %.3g", mode,
              x0, y0, w, h, C, H, W, e, eb);
    double c0 = CPU->sqdiff_rect(F, T, C, H, W, y0, x0, h, w, 0.0f, NULL);
    double g0 = GPU->sqdiff_rect(gF, gT, C, H, W, y0, x0, h, w, 0.0f, NULL);
    double c1 = CPU->sqdiff_rect(F, T, C, H, W, y0, x0, h, w, 0.37f, g);
    double g1 = GPU->sqdiff_rect(gF, gT, C, H, W, y0, x0, h, w, 0.37f, gg);
    double es = gpu_err(gg, g, n);
    TS_EXPECT(ts_test_rel(g0, c0, 1e-300) <= 1e-9 && ts_test_rel(g1, c1, 1e-300) <= 1e-9 && es <= 1e-6,
              "sqdiff over rect (%d,%d %dx%d) of %dx%dx%d: %.17g vs %.17g, with gradient %.17g vs %.17g, its err %.3g", x0,
              y0, w, h, C, H, W, g0, c0, g1, c1, es);
    GPU->free(gF), GPU->free(gT), GPU->free(gdF), GPU->free(gg), GPU->free(gD), GPU->free(gG);
    free(F), free(T), free(dF), free(g), free(D), free(G);
}

static void test_relu(void) {
    size_t n = 5000;
    float *x = hbuf(n), *y = hbuf(n), *dy = hbuf(n), *dx = hbuf(n);
    randn(x, n, 1);
    randn(dy, n, 1);
    x[0] = 0.0f;
    x[1] = -0.0f;
    CPU->relu_forward(x, y, n);
    CPU->relu_backward(y, dy, dx, n);
    float *gx = to_gpu(x, n), *gy = GPU->alloc(n), *gdy = to_gpu(dy, n), *gdx = GPU->alloc(n);
    GPU->relu_forward(gx, gy, n);
    GPU->relu_backward(gy, gdy, gdx, n);
    TS_EXPECT(gpu_err(gy, y, n) == 0, "relu forward exact");
    TS_EXPECT(gpu_err(gdx, dx, n) == 0, "relu backward exact");
    GPU->relu_forward(gx, gx, n); /* in place */
    TS_EXPECT(gpu_err(gx, y, n) == 0, "relu forward in place");
    GPU->relu_backward(gy, gdy, gdy, n);
    TS_EXPECT(gpu_err(gdy, dx, n) == 0, "relu backward in place");
    GPU->free(gx), GPU->free(gy), GPU->free(gdy), GPU->free(gdx);
    free(x), free(y), free(dy), free(dx);
}

static void test_pool(ts_pool_kind kind, int C, int H, int W, int ties, const ts_pool_shape *rect) {
    ts_pool_shape s = rect ? *rect : ts_pool_whole(H, W);
    size_t nx = (size_t)C * H * W, ny = (size_t)C * s.Ho * s.Wo;
    float *x = hbuf(nx), *y = hbuf(ny), *dy = hbuf(ny), *dx = hbuf(nx);
    randn(x, nx, 1);
    if (ties) /* ties inside windows: the first maximum in row-major order takes the gradient */
        for (size_t i = 0; i < nx; i++) x[i] = (float)((int)(x[i] * 2.0f));
    randn(dy, ny, 1);
    CPU->pool_forward(kind, x, C, &s, y);
    CPU->pool_backward(kind, x, y, dy, C, &s, dx);
    float *gx = to_gpu(x, nx), *gy = GPU->alloc(ny), *gdy = to_gpu(dy, ny), *gdx = GPU->alloc(nx);
    GPU->fill(3.0f, gdx, nx); /* both overwrite: the dropped row/column and what lies outside the rects */
    GPU->fill(3.0f, gy, ny);
    GPU->pool_forward(kind, gx, C, &s, gy);
    GPU->pool_backward(kind, gx, gy, gdy, C, &s, gdx);
    const char *k = kind == TS_POOL_MAX ? "max" : "avg", *r = rect ? " rect" : "";
    TS_EXPECT(gpu_err(gy, y, ny) == 0, "%s pool forward C=%d H=%d W=%d%s%s exact", k, C, H, W, ties ? " (ties)" : "", r);
    TS_EXPECT(gpu_err(gdx, dx, nx) == 0, "%s pool backward C=%d H=%d W=%d%s%s exact", k, C, H, W, ties ? " (ties)" : "",
              r);
    GPU->free(gx), GPU->free(gy), GPU->free(gdy), GPU->free(gdx);
    free(x), free(y), free(dy), free(dx);
}

static void test_sqdiff(size_t n) {
    float *x = hbuf(n), *t = hbuf(n), *g = hbuf(n);
    randn(x, n, 1);
    randn(t, n, 1);
    randn(g, n, 1);
    float *gx = to_gpu(x, n), *gt = to_gpu(t, n), *gg = to_gpu(g, n);
    double c0 = CPU->sqdiff(x, t, n, 0.0f, NULL), g0 = GPU->sqdiff(gx, gt, n, 0.0f, NULL);
    TS_EXPECT(ts_test_rel(g0, c0, 1e-300) <= 1e-12, "sqdiff n=%zu: %.17g vs %.17g", n, g0, c0);
    double c1 = CPU->sqdiff(x, t, n, 0.37f, g), g1 = GPU->sqdiff(gx, gt, n, 0.37f, gg);
    TS_EXPECT(ts_test_rel(g1, c1, 1e-300) <= 1e-12, "sqdiff with gradient n=%zu: %.17g vs %.17g", n, g1, c1);
    double e = gpu_err(gg, g, n);
    TS_EXPECT(e <= 1e-6, "sqdiff gradient n=%zu: err %.3g", n, e);
    GPU->free(gx), GPU->free(gt), GPU->free(gg);
    free(x), free(t), free(g);
}

static void test_tv(int C, int H, int W, int y0, int x0, int h, int w) {
    size_t n = (size_t)C * H * W;
    float *x = hbuf(n), *g = hbuf(n);
    randn(x, n, 1);
    randn(g, n, 1);
    float *gx = to_gpu(x, n), *gg = to_gpu(g, n);
    double c0 = CPU->tv(x, C, H, W, y0, x0, h, w, 0.0f, NULL), g0 = GPU->tv(gx, C, H, W, y0, x0, h, w, 0.0f, NULL);
    TS_EXPECT(ts_test_rel(g0, c0, 1e-300) <= 1e-12, "tv %dx%d rect (%d,%d,%d,%d): %.17g vs %.17g", H, W, y0, x0, h, w,
              g0, c0);
    double c1 = CPU->tv(x, C, H, W, y0, x0, h, w, 0.25f, g), g1 = GPU->tv(gx, C, H, W, y0, x0, h, w, 0.25f, gg);
    TS_EXPECT(ts_test_rel(g1, c1, 1e-300) <= 1e-12, "tv with gradient: %.17g vs %.17g", g1, c1);
    double e = gpu_err(gg, g, n);
    TS_EXPECT(e <= 1e-6, "tv gradient %dx%d rect (%d,%d,%d,%d): err %.3g", H, W, y0, x0, h, w, e);
    GPU->free(gx), GPU->free(gg);
    free(x), free(g);
}

static void test_regions(void) {
    int C = 3, H = 23, W = 17, y0 = 4, x0 = 5, h = 11, w = 9;
    size_t nb = (size_t)C * H * W, ns = (size_t)C * h * w;
    float *big = hbuf(nb), *small = hbuf(ns), *out = hbuf(ns), *big2 = hbuf(nb);
    randn(big, nb, 1);
    randn(small, ns, 1);
    float *gbig = to_gpu(big, nb), *gsmall = to_gpu(small, ns), *gout = GPU->alloc(ns);
    CPU->region_get(big, C, H, W, y0, x0, h, w, out);
    GPU->region_get(gbig, C, H, W, y0, x0, h, w, gout);
    TS_EXPECT(gpu_err(gout, out, ns) == 0, "region_get exact");
    memcpy(big2, big, nb * sizeof(float));
    CPU->region_add(small, C, H, W, y0, x0, h, w, big2);
    GPU->region_add(gsmall, C, H, W, y0, x0, h, w, gbig);
    TS_EXPECT(gpu_err(gbig, big2, nb) == 0, "region_add exact");
    CPU->region_set(small, C, H, W, 0, W - w, h, w, big2); /* touching the right edge */
    GPU->region_set(gsmall, C, H, W, 0, W - w, h, w, gbig);
    TS_EXPECT(gpu_err(gbig, big2, nb) == 0, "region_set exact");
    GPU->free(gbig), GPU->free(gsmall), GPU->free(gout);
    free(big), free(small), free(out), free(big2);
}

static void test_mul_positions(int C, size_t M) {
    size_t n = (size_t)C * M;
    float *x = hbuf(n), *w = hbuf(M), *y = hbuf(n);
    randn(x, n, 1);
    randn(w, M, 1);
    randn(y, n, 1);
    float *gx = to_gpu(x, n), *gw = to_gpu(w, M), *gy = to_gpu(y, n);
    CPU->mul_positions(x, w, C, M, 1, y);
    GPU->mul_positions(gx, gw, C, M, 1, gy);
    TS_EXPECT(gpu_err(gy, y, n) == 0, "mul_positions C=%d M=%zu (add) exact", C, M);
    CPU->mul_positions(x, w, C, M, 0, y);
    GPU->mul_positions(gx, gw, C, M, 0, gx); /* in place */
    TS_EXPECT(gpu_err(gx, y, n) == 0, "mul_positions C=%d M=%zu (set, in place) exact", C, M);
    GPU->free(gx), GPU->free(gw), GPU->free(gy);
    free(x), free(w), free(y);
}

static void test_vectors(size_t n) {
    float *x = hbuf(n), *y = hbuf(n);
    randn(x, n, 1);
    randn(y, n, 1);
    float *gx = to_gpu(x, n), *gy = to_gpu(y, n);
    double c = CPU->dot(x, y, n), g = GPU->dot(gx, gy, n);
    TS_EXPECT(ts_test_rel(g, c, 1e-300) <= 1e-12, "dot n=%zu: %.17g vs %.17g", n, g, c);
    TS_EXPECT(GPU->dot(gx, gy, n) == g, "dot n=%zu: the same value on a second call", n);
    CPU->axpy(-0.3f, x, y, n);
    GPU->axpy(-0.3f, gx, gy, n);
    TS_EXPECT(gpu_err(gy, y, n) <= 1e-6, "axpy n=%zu", n);
    CPU->scale(1.7f, y, n);
    GPU->scale(1.7f, gy, n);
    TS_EXPECT(gpu_err(gy, y, n) <= 1e-6, "scale n=%zu", n);
    float *gz = GPU->alloc(n), *zero = hbuf(n);
    TS_EXPECT(gpu_err(gz, zero, n) == 0, "alloc gives zeros (n=%zu)", n);
    GPU->copy(gx, gz, n);
    TS_EXPECT(gpu_err(gz, x, n) == 0, "copy n=%zu", n);
    CPU->fill(0.125f, x, n);
    GPU->fill(0.125f, gz, n);
    TS_EXPECT(gpu_err(gz, x, n) == 0, "fill n=%zu", n);
    TS_EXPECT(GPU->dot(gx, gy, 0) == 0.0, "dot of nothing is 0");
    GPU->free(gx), GPU->free(gy), GPU->free(gz);
    free(x), free(y), free(zero);
}

static void test_adam(size_t n) {
    float *x = hbuf(n), *g = hbuf(n), *m = hbuf(n), *v = hbuf(n);
    randn(x, n, 1);
    float *gx = to_gpu(x, n), *gg = GPU->alloc(n), *gm = GPU->alloc(n), *gv = GPU->alloc(n);
    for (int t = 1; t <= 5; t++) {
        randn(g, n, 1);
        GPU->upload(gg, g, n);
        CPU->adam_step(x, g, m, v, n, 0.01f, 0.9f, 0.999f, 1e-8f, t);
        GPU->adam_step(gx, gg, gm, gv, n, 0.01f, 0.9f, 0.999f, 1e-8f, t);
    }
    TS_EXPECT(gpu_err(gx, x, n) <= 1e-6, "adam x after 5 steps: err %.3g", gpu_err(gx, x, n));
    TS_EXPECT(gpu_err(gm, m, n) <= 1e-6, "adam m after 5 steps");
    TS_EXPECT(gpu_err(gv, v, n) <= 1e-6, "adam v after 5 steps");
    GPU->free(gx), GPU->free(gg), GPU->free(gm), GPU->free(gv);
    free(x), free(g), free(m), free(v);
}

static void test_host_buffers(void) {
    size_t n = 1000;
    float *h = GPU->host_alloc(n), *src = hbuf(n);
    randn(src, n, 1);
    float *d = to_gpu(src, n);
    GPU->download(h, d, n);
    if (GPU->synchronize) GPU->synchronize();
    TS_EXPECT(memcmp(h, src, n * sizeof(float)) == 0, "download into a page-locked host buffer");
    GPU->host_free(h);
    GPU->free(d);
    free(src);
}

/* the convolution and Gram shapes: odd sizes, C=3, VGG widths, one image wide enough that the column
 * buffer is cut into several bands on a real GPU too */
static void gemm_ops(void) {
    test_conv(3, 17, 13, 8);
    test_conv(16, 9, 31, 24);
    test_conv(64, 24, 20, 64);
    test_conv(128, 12, 10, 256);
    test_conv(512, 6, 5, 512);
    test_conv(512, 20, 1024, 4);
    test_gram(64, 1000);
    test_gram(3, 17);
    test_gram(512, 120);
    test_loss_rect(64, 20, 30, 0, 1, 20, 29); /* ring on the left */
    test_loss_rect(32, 14, 9, 1, 1, 12, 7);   /* ring all round */
    test_loss_rect(16, 10, 12, 1, 0, 8, 12);  /* as wide as the tensor */
    test_loss_rect(8, 6, 7, 0, 0, 6, 7);      /* whole */
}

int main(void) {
#ifdef TS_TEST_CUDA_PLUGIN /* test_cuda_emu: the backend built against tests/cuda_emu */
    setenv("TESSERA_CUDA_PLUGIN", TS_TEST_CUDA_PLUGIN, 1);
#endif
    int cuda = ts_device_find("cuda");
    if (!ts_device_built(cuda)) {
        char why[400];
        ts_device_count(cuda, why, sizeof why);
        printf("skipped: %s\n", why);
        return 0;
    }
    ts_backend_choice ch;
    if (ts_backend_select("cuda", 0, TS_GPU_MATH_FP32, &ch)) {
        printf("skipped: no GPU (%s)\n", ch.why);
        return 0;
    }
    CPU = ts_backend_cpu();
    GPU = ch.be;
    CPU->set_threads(2);
    printf("# CUDA device %d: %s\n", ch.device, ch.device_name);
    TS_EXPECT(GPU->on_device && !CPU->on_device, "the CUDA backend says its memory is on the device");
    TS_EXPECT(ts_backend_by_name("cuda") == GPU, "ts_backend_by_name(\"cuda\") gives the bound backend");

    gemm_ops();
    test_relu();
    test_pool(TS_POOL_MAX, 5, 9, 11, 0, NULL);
    test_pool(TS_POOL_MAX, 4, 8, 6, 1, NULL);
    test_pool(TS_POOL_AVG, 5, 9, 11, 0, NULL);
    test_pool(TS_POOL_AVG, 3, 2, 3, 0, NULL);
    /* a tile's owned part inside a ring, pooled onto the next level's owned part */
    ts_pool_shape ring = {12, 14, 1, 1, 10, 11, 7, 8, 1, 1};
    test_pool(TS_POOL_MAX, 4, 12, 14, 1, &ring);
    test_pool(TS_POOL_AVG, 3, 12, 14, 0, &ring);
    test_sqdiff(1);
    test_sqdiff(100003);
    test_sqdiff(1 << 20);
    test_tv(3, 31, 29, 0, 0, 31, 29);    /* the whole image */
    test_tv(3, 31, 29, 5, 7, 10, 12);    /* an interior rect: differences reach out of it */
    test_tv(3, 31, 29, 16, 13, 15, 16);  /* touching the bottom and right edges */
    test_tv(1, 1, 1, 0, 0, 1, 1);        /* one pixel: no differences */
    test_regions();
    test_mul_positions(3, 31);
    test_mul_positions(256, 4097);
    test_vectors(1);
    test_vectors(12345);
    test_vectors(3u << 20);
    test_adam(50000);
    test_host_buffers();

    /* the same GEMM ops with TF32 tensor cores (printed: the accuracy cost of --gpu-math tf32) */
    if (!ts_device_open(cuda, ch.device, TS_GPU_MATH_TF32, NULL, 0)) {
        TS_EXPECT(0, "switching the bound device to TF32");
    } else {
        mode = "tf32";
        conv_tol = 5e-3;
        gemm_ops();
    }
    return ts_test_summary();
}
