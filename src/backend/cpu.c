/* cpu.c - the reference CPU backend: im2col + BLAS convolutions, plain loops elsewhere.
 * Threads: OpenMP for the loops, OpenBLAS's own pool for the GEMMs; both set by set_threads. */
#include <cblas.h>
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/backend.h"
#include "tessera/check.h"
#include "tessera/scratch.h"
#include "cpu_winograd.h"

/* im2col works on bands of rows so its buffer stays near this many floats whatever the image size */
#define COL_BUDGET_FLOATS ((size_t)8 << 20)

extern void openblas_set_num_threads(int num_threads);

static float *cpu_alloc(size_t n) { return ts_calloc(n, sizeof(float)); }
static void cpu_free(float *p) { free(p); }
static float *cpu_host_alloc(size_t n) { return ts_malloc(n * sizeof(float)); }
static void cpu_copy_mem(float *dst, const float *src, size_t n) { memcpy(dst, src, n * sizeof(float)); }

static void cpu_set_threads(int n) {
    if (n < 1) n = 1;
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
}

/* col[(c*9 + ky*3 + kx) * (nrows*W) + (y - y0)*W + x] = x[c, y+ky-1, x+kx-1] (0 outside) */
static void im2col_band(const float *x, int C, int H, int W, int y0, int nrows, float *col) {
    size_t bandM = (size_t)nrows * W;
#pragma omp parallel for schedule(static)
    for (int r = 0; r < C * 9; r++) {
        int c = r / 9, ky = (r % 9) / 3, kx = r % 3;
        float *dst = col + (size_t)r * bandM;
        const float *src = x + (size_t)c * H * W;
        for (int yy = 0; yy < nrows; yy++) {
            int sy = y0 + yy + ky - 1;
            float *d = dst + (size_t)yy * W;
            if (sy < 0 || sy >= H) {
                memset(d, 0, sizeof(float) * W);
                continue;
            }
            const float *s = src + (size_t)sy * W;
            int x_lo = kx == 0 ? 1 : 0, x_hi = kx == 2 ? W - 1 : W; /* valid output x range */
            if (x_lo > 0) d[0] = 0.0f;
            if (x_hi < W) d[W - 1] = 0.0f;
            if (x_hi > x_lo) memcpy(d + x_lo, s + x_lo + kx - 1, sizeof(float) * (size_t)(x_hi - x_lo));
        }
    }
}

/* dx[c, y+ky-1, x+kx-1] += col[...]; each channel is written by one thread */
static void col2im_band_add(const float *col, int C, int H, int W, int y0, int nrows, float *dx) {
    size_t bandM = (size_t)nrows * W;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        float *dst = dx + (size_t)c * H * W;
        for (int k = 0; k < 9; k++) {
            int ky = k / 3, kx = k % 3;
            const float *src = col + ((size_t)c * 9 + k) * bandM;
            for (int yy = 0; yy < nrows; yy++) {
                int sy = y0 + yy + ky - 1;
                if (sy < 0 || sy >= H) continue;
                const float *s = src + (size_t)yy * W;
                float *d = dst + (size_t)sy * W;
                int x_lo = kx == 0 ? 1 : 0, x_hi = kx == 2 ? W - 1 : W;
                for (int xx = x_lo; xx < x_hi; xx++) d[xx + kx - 1] += s[xx];
            }
        }
    }
}

static void cpu_conv3x3_forward(const float *x, int C, int H, int W, const float *weight,
                                const float *bias, int K, const void *prepared, float *y) {
    if (prepared) {
        ts_winograd_plan_forward(prepared, x, H, W, bias, y);
        return;
    }
    int rows = ts_im2col_band_rows(C, W, H, COL_BUDGET_FLOATS);
    float *col = ts_scratch(TS_SCRATCH_COL, (size_t)C * 9 * (size_t)rows * W);
    size_t HW = (size_t)H * W;
    for (int y0 = 0; y0 < H; y0 += rows) {
        int nr = H - y0 < rows ? H - y0 : rows;
        int bandM = nr * W;
        im2col_band(x, C, H, W, y0, nr, col);
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, bandM, C * 9, 1.0f, weight, C * 9,
                    col, bandM, 0.0f, y + (size_t)y0 * W, (int)HW);
    }
    if (bias) {
#pragma omp parallel for schedule(static)
        for (int k = 0; k < K; k++) {
            float *yk = y + (size_t)k * HW;
            for (size_t i = 0; i < HW; i++) yk[i] += bias[k];
        }
    }
}

/* Winograd computes the rect alone; im2col (conv1_1, where a ring costs little) the whole output */
static void cpu_conv3x3_forward_rect(const float *x, int C, int H, int W, const float *weight, const float *bias,
                                     int K, const void *prepared, int y0, int x0, int h, int w, float *y) {
    if (prepared) { /* checks the rect itself */
        ts_winograd_plan_forward_rect(prepared, x, H, W, bias, y0, x0, h, w, y);
        return;
    }
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "convolution rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    cpu_conv3x3_forward(x, C, H, W, weight, bias, K, NULL, y);
}

static void cpu_conv3x3_backward_input(const float *dy, int K, int H, int W, const float *weight, int C,
                                       const void *prepared, float *dx) {
    if (prepared) {
        ts_winograd_plan_backward_input(prepared, dy, H, W, dx);
        return;
    }
    int rows = ts_im2col_band_rows(C, W, H, COL_BUDGET_FLOATS);
    float *col = ts_scratch(TS_SCRATCH_COL, (size_t)C * 9 * (size_t)rows * W);
    size_t HW = (size_t)H * W;
    memset(dx, 0, sizeof(float) * (size_t)C * HW);
    for (int y0 = 0; y0 < H; y0 += rows) {
        int nr = H - y0 < rows ? H - y0 : rows;
        int bandM = nr * W;
        cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, C * 9, bandM, K, 1.0f, weight, C * 9,
                    dy + (size_t)y0 * W, (int)HW, 0.0f, col, bandM);
        col2im_band_add(col, C, H, W, y0, nr, dx);
    }
}

/* Winograd F(4x4,3x3) with weights transformed once (4x the weights' memory) */
static void *cpu_conv3x3_prepare(const float *weight, int C, int K) { return ts_winograd_plan_create(weight, C, K); }
static void cpu_conv3x3_release(void *p) { ts_winograd_plan_free(p); }
static size_t cpu_conv3x3_prepared_bytes(const void *p) { return p ? ts_winograd_plan_bytes(p) : 0; }

static void cpu_relu_forward(const float *x, float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

static void cpu_relu_backward(const float *y, const float *dy, float *dx, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

static void zero_floats(float *p, long n) {
    if (n > 0) memset(p, 0, sizeof(float) * (size_t)n);
}

static void cpu_pool_forward(ts_pool_kind kind, const float *x, int C, const ts_pool_shape *s, float *y) {
    TS_CHECK(ts_pool_shape_valid(s), "pool: rects outside their tensors");
    int ho = s->h / 2, wo = s->w / 2;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * s->H * s->W + (size_t)s->y * s->W + s->x;
        float *yc = y + (size_t)c * s->Ho * s->Wo;
        for (int i = 0; i < s->Ho; i++) {
            float *row = yc + (size_t)i * s->Wo;
            int r = i - s->oy;
            if (r < 0 || r >= ho) {
                zero_floats(row, s->Wo);
                continue;
            }
            zero_floats(row, s->ox);
            zero_floats(row + s->ox + wo, (long)s->Wo - s->ox - wo);
            const float *r0 = xc + (size_t)(2 * r) * s->W, *r1 = r0 + s->W;
            float *d = row + s->ox;
            for (int j = 0; j < wo; j++) {
                float a = r0[2 * j], b = r0[2 * j + 1], e = r1[2 * j], f = r1[2 * j + 1];
                if (kind == TS_POOL_MAX) {
                    float m = a;
                    if (b > m) m = b;
                    if (e > m) m = e;
                    if (f > m) m = f;
                    d[j] = m;
                } else {
                    d[j] = 0.25f * (a + b + e + f);
                }
            }
        }
    }
}

static void cpu_pool_backward(ts_pool_kind kind, const float *x, const float *y, const float *dy, int C,
                              const ts_pool_shape *s, float *dx) {
    TS_CHECK(ts_pool_shape_valid(s), "pool: rects outside their tensors");
    int ho = s->h / 2, wo = s->w / 2;
    (void)y;
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        size_t plane = (size_t)c * s->H * s->W;
        const float *gc = dy + (size_t)c * s->Ho * s->Wo + (size_t)s->oy * s->Wo + s->ox;
        for (int yy = 0; yy < s->H; yy++) {
            float *row = dx + plane + (size_t)yy * s->W;
            int r = yy - s->y;
            if (r < 0 || r >= 2 * ho) {
                zero_floats(row, s->W);
                continue;
            }
            zero_floats(row, s->x);
            zero_floats(row + s->x + 2 * wo, (long)s->W - s->x - 2 * wo);
            if (r & 1) continue; /* written with the row above */
            const float *x0 = x + plane + (size_t)yy * s->W + s->x, *x1 = x0 + s->W;
            float *d0 = row + s->x, *d1 = d0 + s->W;
            const float *g = gc + (size_t)(r / 2) * s->Wo;
            for (int j = 0; j < wo; j++) {
                float v = g[j];
                if (kind == TS_POOL_MAX) { /* the first maximum in row-major order takes it all */
                    float w4[4] = {x0[2 * j], x0[2 * j + 1], x1[2 * j], x1[2 * j + 1]};
                    int best = 0;
                    for (int q = 1; q < 4; q++)
                        if (w4[q] > w4[best]) best = q;
                    d0[2 * j] = best == 0 ? v : 0.0f;
                    d0[2 * j + 1] = best == 1 ? v : 0.0f;
                    d1[2 * j] = best == 2 ? v : 0.0f;
                    d1[2 * j + 1] = best == 3 ? v : 0.0f;
                } else {
                    d0[2 * j] = d0[2 * j + 1] = d1[2 * j] = d1[2 * j + 1] = 0.25f * v;
                }
            }
        }
    }
}

static void cpu_gram(const float *F, int C, size_t M, float scale, float *G) {
    if (M == 0) { /* OpenBLAS leaves C untouched when K is 0, whatever beta */
        memset(G, 0, sizeof(float) * (size_t)C * C);
        return;
    }
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, C, (int)M, scale, F, (int)M, 0.0f, G, C);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < i; j++) G[(size_t)i * C + j] = G[(size_t)j * C + i];
}

static void cpu_gram_backward(const float *D, const float *F, int C, size_t M, float scale, float *dF) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, (int)M, C, scale, D, C, F, (int)M, 1.0f,
                dF, (int)M);
}

static double cpu_dot(const float *x, const float *y, size_t n) {
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) s += (double)x[i] * (double)y[i];
    return s;
}

static void cpu_axpy(float a, const float *x, float *y, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) y[i] += a * x[i];
}

static void cpu_scale(float a, float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] *= a;
}

static void cpu_fill(float v, float *x, size_t n) {
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) x[i] = v;
}

static double cpu_sqdiff(const float *x, const float *t, size_t n, float gscale, float *g) {
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (size_t i = 0; i < n; i++) {
        float d = x[i] - t[i];
        s += (double)d * (double)d;
        if (g) g[i] += gscale * d;
    }
    return s;
}

/* A rect's rows are C x w blocks with a row stride of H W between channels (lda); a rect as wide as
 * the tensor is one block of h W positions. The rows' products are added in turn. */
static int rect_blocks(int W, int h, int w, int *bw) {
    *bw = w == W ? h * w : w;
    return w == W ? (h > 0) : h;
}

/* the row stride between channels (the BLAS's lda) of a C x H x W tensor, after checking the rect */
static int rect_lda(const char *op, int H, int W, int y0, int x0, int h, int w) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "%s rect (%d,%d %dx%d) outside %dx%d", op, x0, y0, w, h, W, H);
    TS_CHECK((size_t)H * W < ((size_t)1 << 31), "%s over %dx%d positions: over the BLAS's int sizes", op, W, H);
    return H * W;
}

static void cpu_gram_rect(const float *F, int C, int H, int W, int y0, int x0, int h, int w, float scale, float *G) {
    int lda = rect_lda("Gram", H, W, y0, x0, h, w), bw, n = rect_blocks(W, h, w, &bw);
    if (n == 0 || bw == 0) {
        memset(G, 0, sizeof(float) * (size_t)C * C);
        return;
    }
    for (int r = 0; r < n; r++)
        cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, C, bw, scale, F + (size_t)(y0 + r) * W + x0, lda,
                    r ? 1.0f : 0.0f, G, C);
    for (int i = 0; i < C; i++)
        for (int j = 0; j < i; j++) G[(size_t)i * C + j] = G[(size_t)j * C + i];
}

static void cpu_gram_backward_rect(const float *D, const float *F, int C, int H, int W, int y0, int x0, int h, int w,
                                   float scale, float *dF) {
    int lda = rect_lda("Gram", H, W, y0, x0, h, w), bw, n = rect_blocks(W, h, w, &bw);
    for (int r = 0; r < n && bw > 0; r++) {
        size_t off = (size_t)(y0 + r) * W + x0;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, C, bw, C, scale, D, C, F + off, lda, 1.0f, dF + off, lda);
    }
}

static double cpu_sqdiff_rect(const float *x, const float *t, int C, int H, int W, int y0, int x0, int h, int w,
                              float gscale, float *g) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "sqdiff rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    size_t HW = (size_t)H * W;
    if (h == H && w == W) return cpu_sqdiff(x, t, (size_t)C * HW, gscale, g);
    double s = 0.0;
#pragma omp parallel for reduction(+ : s) schedule(static) collapse(2)
    for (int c = 0; c < C; c++) {
        for (int i = 0; i < h; i++) {
            size_t off = (size_t)c * HW + (size_t)(y0 + i) * W + x0;
            for (int j = 0; j < w; j++) {
                float d = x[off + j] - t[off + j];
                s += (double)d * (double)d;
                if (g) g[off + j] += gscale * d;
            }
        }
    }
    return s;
}

static double cpu_tv(const float *x, int C, int H, int W, int y0, int x0, int h, int w, float gscale, float *g) {
    double s = 0.0;
    /* channels in parallel: a channel's gradient is written by one thread only */
#pragma omp parallel for reduction(+ : s) schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * H * W;
        float *gc = g ? g + (size_t)c * H * W : NULL;
        for (int i = y0; i < y0 + h; i++) {
            for (int j = x0; j < x0 + w; j++) {
                float v = xc[(size_t)i * W + j];
                if (j + 1 < W) {
                    float d = xc[(size_t)i * W + j + 1] - v;
                    s += (double)d * d;
                    if (gc) {
                        gc[(size_t)i * W + j + 1] += 2.0f * gscale * d;
                        gc[(size_t)i * W + j] -= 2.0f * gscale * d;
                    }
                }
                if (i + 1 < H) {
                    float d = xc[(size_t)(i + 1) * W + j] - v;
                    s += (double)d * d;
                    if (gc) {
                        gc[(size_t)(i + 1) * W + j] += 2.0f * gscale * d;
                        gc[(size_t)i * W + j] -= 2.0f * gscale * d;
                    }
                }
            }
        }
    }
    return s;
}

static void cpu_region_get(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < h; i++)
            memcpy(dst + ((size_t)c * h + i) * w, src + ((size_t)c * H + y0 + i) * W + x0, sizeof(float) * (size_t)w);
}

static void cpu_region_add(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < h; i++) {
            const float *s = src + ((size_t)c * h + i) * w;
            float *d = dst + ((size_t)c * H + y0 + i) * W + x0;
            for (int j = 0; j < w; j++) d[j] += s[j];
        }
}

static void cpu_region_set(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++)
        for (int i = 0; i < h; i++)
            memcpy(dst + ((size_t)c * H + y0 + i) * W + x0, src + ((size_t)c * h + i) * w, sizeof(float) * (size_t)w);
}

static void cpu_mul_positions(const float *x, const float *w, int C, size_t M, int add, float *y) {
#pragma omp parallel for schedule(static)
    for (int c = 0; c < C; c++) {
        const float *xc = x + (size_t)c * M;
        float *yc = y + (size_t)c * M;
        if (add)
            for (size_t p = 0; p < M; p++) yc[p] += xc[p] * w[p];
        else
            for (size_t p = 0; p < M; p++) yc[p] = xc[p] * w[p];
    }
}

static void cpu_adam_step(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                          float beta2, float eps, int t) {
    double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    float step = (float)(lr / bc1);
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
#pragma omp parallel for schedule(static)
    for (size_t i = 0; i < n; i++) {
        m[i] = beta1 * m[i] + (1.0f - beta1) * g[i];
        v[i] = beta2 * v[i] + (1.0f - beta2) * g[i] * g[i];
        x[i] -= step * m[i] / (sqrtf(v[i]) * inv_sqrt_bc2 + eps);
    }
}

static void cpu_copy(const float *src, float *dst, size_t n) { memcpy(dst, src, n * sizeof(float)); }

static const ts_backend cpu_backend = {
    .name = "cpu",
    .on_device = 0,
    .conv_rect_windowed = 1,
    .alloc = cpu_alloc,
    .free = cpu_free,
    .upload = cpu_copy_mem,
    .download = cpu_copy_mem,
    .set_threads = cpu_set_threads,
    .host_alloc = cpu_host_alloc,
    .host_free = cpu_free,
    .conv3x3_forward = cpu_conv3x3_forward,
    .conv3x3_forward_rect = cpu_conv3x3_forward_rect,
    .conv3x3_backward_input = cpu_conv3x3_backward_input,
    .conv3x3_prepare = cpu_conv3x3_prepare,
    .conv3x3_release = cpu_conv3x3_release,
    .conv3x3_prepared_bytes = cpu_conv3x3_prepared_bytes,
    .relu_forward = cpu_relu_forward,
    .relu_backward = cpu_relu_backward,
    .pool_forward = cpu_pool_forward,
    .pool_backward = cpu_pool_backward,
    .gram = cpu_gram,
    .gram_backward = cpu_gram_backward,
    .gram_rect = cpu_gram_rect,
    .gram_backward_rect = cpu_gram_backward_rect,
    .dot = cpu_dot,
    .axpy = cpu_axpy,
    .scale = cpu_scale,
    .copy = cpu_copy,
    .fill = cpu_fill,
    .sqdiff = cpu_sqdiff,
    .sqdiff_rect = cpu_sqdiff_rect,
    .tv = cpu_tv,
    .region_get = cpu_region_get,
    .region_add = cpu_region_add,
    .region_set = cpu_region_set,
    .mul_positions = cpu_mul_positions,
    .adam_step = cpu_adam_step,
};

const ts_backend *ts_backend_cpu(void) { return &cpu_backend; }
