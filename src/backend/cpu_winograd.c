/* cpu_winograd.c - Winograd F(4x4, 3x3) convolution for the CPU backend.
 *
 * Each 4x4 block of outputs comes from a 6x6 input patch:  Y = At [ (G g Gt) . (Bt d B) ] A,
 * with "." the elementwise product over the 36 transform-domain elements xi = (i, j). Summed over
 * input channels, the elementwise products become 36 GEMMs, M_xi [Cout x T] = U_xi [Cout x Cin] *
 * V_xi [Cin x T], over the T tiles of a band of tile rows.
 *
 * Interpolation points (Cook-Toom / Lavin construction), in transform-domain order:
 *     p = 0, 1, -1, 1/2, -2, infinity
 * In a float32 simulation (C = 256, ReLU-like inputs, Kaiming weights; max error normalised by max|y|,
 * and relative L2) the textbook set {0, +-1, +-2, inf} and its reciprocal {0, +-1, +-1/2, inf} (the
 * same algorithm on reversed data) both gave 9e-6 / 2.6e-6; this mixed set gave 3.5e-6 / 1.7e-6, and
 * direct summation 1.2e-6 / 6e-7.
 *
 * With A the 6x4 Vandermonde matrix of the points (last row e3 for infinity), G the 6x3 one, and
 * Bt = V^-T for the 6x6 one, rows rescaled so that Bt has small integers and At is exact:
 *
 *   Bt = [ 2 -3 -4  3  2  0 ]   G = [ 1/2     0     0    ]   At = [ 1  1  1  1    1  0 ]
 *        [ 0 -2  1  5  2  0 ]       [ 1/6   1/6   1/6    ]        [ 0  1 -1  1/2 -2  0 ]
 *        [ 0 -2  5 -1 -2  0 ]       [ 1/6  -1/6   1/6    ]        [ 0  1  1  1/4  4  0 ]
 *        [ 0  2  1 -2 -1  0 ]       [ 16/15 8/15  4/15   ]        [ 0  1 -1  1/8 -8  1 ]
 *        [ 0  1 -2 -1  2  0 ]       [ 1/30 -2/30  4/30   ]
 *        [ 0  2 -3 -4  3  2 ]       [ 0     0     1/2    ]
 *
 * The weight transform runs in double and is rounded once. The backward pass to the input is the
 * forward pass of the 180-degree-rotated dy with U_xi transposed (no kernel flip needed: rotating the
 * data flips the kernel); the rotation is folded into the gather and scatter of the transforms.
 *
 * Layouts: U [36][K][C] (plan), V [36][Cin][T], M [36][Cout][T] (per band). The transforms work on
 * one (channel, tile row) at a time, and every inner loop runs along a row (over columns or tiles) so
 * that it vectorises. */
#include <cblas.h>
#include <omp.h>
#include <stdlib.h>

#include "tessera/backend.h"
#include "tessera/check.h"
#include "tessera/scratch.h"
#include "cpu_winograd.h"

#define NXI 36                                    /* transform-domain elements per tile */
#define DEFAULT_SCRATCH_LIMIT ((size_t)32 << 20) /* bytes for V and M of one band */
#define BAND_TILES 192 /* tiles per band: enough for efficient GEMMs, few enough to stay in cache */

static size_t scratch_limit = DEFAULT_SCRATCH_LIMIT;

size_t ts_winograd_set_scratch_limit(size_t bytes) {
    size_t old = scratch_limit;
    scratch_limit = bytes ? bytes : DEFAULT_SCRATCH_LIMIT;
    return old;
}

struct ts_winograd_plan {
    int C, K;
    float *U; /* [36][K][C] */
};

/* ---- weight transform: U = G g Gt, in double, rounded once ---- */

/* (y0..y5) = G (x0, x1, x2); the y are lvalues */
#define G6(x0, x1, x2, y0, y1, y2, y3, y4, y5)                                                     \
    do {                                                                                           \
        double x0_ = (x0), x1_ = (x1), x2_ = (x2);                                                 \
        y0 = 0.5 * x0_;                                                                            \
        y1 = (x0_ + x1_ + x2_) * (1.0 / 6);                                                        \
        y2 = (x0_ - x1_ + x2_) * (1.0 / 6);                                                        \
        y3 = (4.0 * x0_ + 2.0 * x1_ + x2_) * (4.0 / 15);                                           \
        y4 = (x0_ - 2.0 * x1_ + 4.0 * x2_) * (1.0 / 30);                                           \
        y5 = 0.5 * x2_;                                                                            \
    } while (0)

/* U[xi][k][c] for all c of one output channel k; T: 18 C doubles */
static void transform_weights_k(const float *weight, int C, int K, int k, double *T, float *U) {
    const float *w = weight + (size_t)k * C * 9;
    double *t[18]; /* t[3i + b][c] = (G g_c)[i][b] */
    for (int i = 0; i < 18; i++) t[i] = T + (size_t)i * C;
    for (int b = 0; b < 3; b++) {
#pragma omp simd
        for (int c = 0; c < C; c++)
            G6(w[c * 9 + b], w[c * 9 + 3 + b], w[c * 9 + 6 + b], t[b][c], t[3 + b][c], t[6 + b][c], t[9 + b][c],
               t[12 + b][c], t[15 + b][c]);
    }
    for (int i = 0; i < 6; i++) {
        float *u[6];
        for (int j = 0; j < 6; j++) u[j] = U + ((size_t)(i * 6 + j) * K + k) * C;
        const double *t0 = t[3 * i], *t1 = t[3 * i + 1], *t2 = t[3 * i + 2];
#pragma omp simd
        for (int c = 0; c < C; c++) {
            double v0, v1, v2, v3, v4, v5;
            G6(t0[c], t1[c], t2[c], v0, v1, v2, v3, v4, v5);
            u[0][c] = (float)v0, u[1][c] = (float)v1, u[2][c] = (float)v2;
            u[3][c] = (float)v3, u[4][c] = (float)v4, u[5][c] = (float)v5;
        }
    }
}

static void transform_weights(const float *weight, int C, int K, float *U) {
#pragma omp parallel
    {
        double *T = ts_malloc(sizeof(double) * 18 * (size_t)C);
#pragma omp for schedule(static)
        for (int k = 0; k < K; k++) transform_weights_k(weight, C, K, k, T, U);
        free(T);
    }
}

ts_winograd_plan *ts_winograd_plan_create(const float *weight, int C, int K) {
    TS_CHECK(C >= 1 && K >= 1, "winograd plan: bad channel counts C=%d K=%d", C, K);
    ts_winograd_plan *p = ts_malloc(sizeof *p);
    p->C = C;
    p->K = K;
    p->U = ts_malloc(sizeof(float) * NXI * (size_t)K * C);
    transform_weights(weight, C, K, p->U);
    return p;
}

void ts_winograd_plan_free(ts_winograd_plan *plan) {
    if (!plan) return;
    free(plan->U);
    free(plan);
}

size_t ts_winograd_plan_bytes(const ts_winograd_plan *plan) {
    return sizeof(float) * NXI * (size_t)plan->K * plan->C;
}

/* ---- 1-D transforms of one 6-vector; the loops below apply them across tiles or columns ---- */

/* (v0..v5) = Bt (d0..d5); the v are lvalues */
#define BT6(d0, d1, d2, d3, d4, d5, v0, v1, v2, v3, v4, v5)                                         \
    do {                                                                                           \
        float a_ = (d1) - (d3), b_ = (d2) - (d4);                                                  \
        v0 = 2.0f * (((d0) - (d2)) - b_) - 3.0f * a_;                                              \
        v1 = 3.0f * ((d3) + (d4)) - 2.0f * a_ + b_;                                                \
        v2 = 3.0f * ((d2) - (d3)) - 2.0f * a_ + 2.0f * b_;                                         \
        v3 = 2.0f * a_ + b_;                                                                       \
        v4 = a_ - 2.0f * b_;                                                                       \
        v5 = 2.0f * (a_ - ((d3) - (d5))) - 3.0f * b_;                                              \
    } while (0)

/* (o0..o3) = At (m0..m5) */
#define AT6(m0, m1, m2, m3, m4, m5, o0, o1, o2, o3)                                                 \
    do {                                                                                           \
        float s_ = (m1) + (m2), d_ = (m1) - (m2), m3_ = (m3), m4_ = (m4);                           \
        o0 = (m0) + s_ + m3_ + m4_;                                                                \
        o1 = d_ + 0.5f * m3_ - 2.0f * m4_;                                                         \
        o2 = s_ + 0.25f * m3_ + 4.0f * m4_;                                                        \
        o3 = d_ + 0.125f * m3_ - 8.0f * m4_ + (m5);                                                \
    } while (0)

/* ---- one convolution over bands of tile rows ---- */

typedef struct {
    int H, W, tw;           /* image size, tiles per row */
    int rotate;             /* 1: read and write the image rotated by 180 degrees (backward) */
    int oy, ox, oh, ow;     /* the output rect the tiles cover (the whole image when rotating) */
} geom;

/* Image row yy as seen through the rotation (the columns are reversed by the caller). */
static size_t row_offset(const geom *g, int yy) { return (size_t)(g->rotate ? g->H - 1 - yy : yy) * g->W; }

/* V[xi][off + t] for tile row ty of one input plane. Columns first, straight from the 6 image rows
 * (rows outside the image read `zero`), into 6 lines with line[1 + x] = column x (zero padded,
 * reversed when rotating); then rows, tile t reading line[4t .. 4t+5]. lines: 6 (4 tw + 4) floats. */
static void input_tile_row(const geom *g, const float *plane, const float *zero, int ty, float *lines, float *V,
                           size_t xi_stride, size_t off) {
    int W = g->W, tw = g->tw, L = 4 * tw + 4;
    /* line[j] is image column c0 + j; the columns that exist are line[jlo .. jhi) */
    int c0 = g->ox - 1, jlo = c0 < 0 ? -c0 : 0, jhi = W - c0 < L ? W - c0 : L;
    const float *r[6];
    float *z[6];
    for (int i = 0; i < 6; i++) {
        int yy = g->oy + 4 * ty - 1 + i;
        r[i] = yy < 0 || yy >= g->H ? zero : plane + row_offset(g, yy);
        z[i] = lines + (size_t)i * L;
        for (int j = 0; j < jlo; j++) z[i][j] = 0.0f;
        for (int j = jhi; j < L; j++) z[i][j] = 0.0f;
    }
    if (!g->rotate) {
#pragma omp simd
        for (int j = jlo; j < jhi; j++) {
            int x = c0 + j;
            BT6(r[0][x], r[1][x], r[2][x], r[3][x], r[4][x], r[5][x], z[0][j], z[1][j], z[2][j], z[3][j], z[4][j],
                z[5][j]);
        }
    } else {
#pragma omp simd
        for (int x = 0; x < W; x++) {
            BT6(r[0][x], r[1][x], r[2][x], r[3][x], r[4][x], r[5][x], z[0][W - x], z[1][W - x], z[2][W - x],
                z[3][W - x], z[4][W - x], z[5][W - x]);
        }
    }
    for (int i = 0; i < 6; i++) {
        const float *zi = z[i];
        float *o[6];
        for (int j = 0; j < 6; j++) o[j] = V + (size_t)(i * 6 + j) * xi_stride + off;
#pragma omp simd
        for (int t = 0; t < tw; t++) {
            const float *d = zi + 4 * t;
            BT6(d[0], d[1], d[2], d[3], d[4], d[5], o[0][t], o[1][t], o[2][t], o[3][t], o[4][t], o[5][t]);
        }
    }
}

/* Output rows 4ty..4ty+3 of one output plane from M[xi][off + t], plus bias. Columns first into
 * tmp[p][j][t] (24 tw floats), then rows into line[4t + q] (4 tw floats), copied to the image. */
static void output_tile_row(const geom *g, const float *M, size_t xi_stride, size_t off, int ty, float bias,
                            float *tmp, float *line, float *plane) {
    int tw = g->tw, W = g->W;
    for (int j = 0; j < 6; j++) {
        const float *m[6];
        float *o[4];
        for (int i = 0; i < 6; i++) m[i] = M + (size_t)(i * 6 + j) * xi_stride + off;
        for (int p = 0; p < 4; p++) o[p] = tmp + ((size_t)p * 6 + j) * tw;
#pragma omp simd
        for (int t = 0; t < tw; t++) {
            AT6(m[0][t], m[1][t], m[2][t], m[3][t], m[4][t], m[5][t], o[0][t], o[1][t], o[2][t], o[3][t]);
        }
    }
    for (int p = 0; p < 4 && 4 * ty + p < g->oh; p++) {
        const float *m = tmp + (size_t)p * 6 * tw;
#pragma omp simd
        for (int t = 0; t < tw; t++) {
            AT6(m[t], m[tw + t], m[2 * tw + t], m[3 * tw + t], m[4 * tw + t], m[5 * tw + t], line[4 * t],
                line[4 * t + 1], line[4 * t + 2], line[4 * t + 3]);
        }
        float *dst = plane + row_offset(g, g->oy + 4 * ty + p);
        if (!g->rotate) {
            dst += g->ox;
#pragma omp simd
            for (int x = 0; x < g->ow; x++) dst[x] = line[x] + bias;
        } else {
#pragma omp simd
            for (int x = 0; x < W; x++) dst[W - 1 - x] = line[x] + bias;
        }
    }
}

/* y (Cout planes) = Winograd conv of x (Cin planes) with U. Forward: U_xi is Cout x Cin. Backward
 * (rotate = 1): U_xi is Cin x Cout, used transposed. ldu = the plan's C. */
static void wino_run(const float *x, int Cin, int H, int W, const float *U, int ldu, int Cout, int rotate,
                     const float *bias, const int rect[4], float *y) {
    if (H <= 0 || W <= 0) return;
    geom g = {.H = H, .W = W, .rotate = rotate, .oy = 0, .ox = 0, .oh = H, .ow = W};
    if (rect) {
        g.oy = rect[0], g.ox = rect[1], g.oh = rect[2], g.ow = rect[3];
        if (g.oh <= 0 || g.ow <= 0) return;
    }
    g.tw = (g.ow + 3) / 4;
    int tw = g.tw, th = (g.oh + 3) / 4;
    size_t HW = (size_t)H * W;
    size_t per_row = sizeof(float) * NXI * (size_t)(Cin + Cout) * tw;
    size_t most = scratch_limit / per_row;
    int band = (BAND_TILES + tw - 1) / tw;
    if ((size_t)band > most) band = (int)most;
    if (band < 1) band = 1;
    if (band > th) band = th;
    float *V = ts_scratch(TS_SCRATCH_WINO_V, NXI * (size_t)Cin * band * tw);
    float *M = ts_scratch(TS_SCRATCH_WINO_M, NXI * (size_t)Cout * band * tw);

    for (int ty0 = 0; ty0 < th; ty0 += band) {
        int nr = th - ty0 < band ? th - ty0 : band;
        int T = nr * tw;
#pragma omp parallel
        {
            float *lines = ts_malloc(sizeof(float) * 6 * (size_t)(4 * tw + 4));
            float *zero = ts_calloc((size_t)W, sizeof(float));
#pragma omp for collapse(2) schedule(static)
            for (int c = 0; c < Cin; c++)
                for (int r = 0; r < nr; r++)
                    input_tile_row(&g, x + (size_t)c * HW, zero, ty0 + r, lines, V, (size_t)Cin * T,
                                   (size_t)c * T + (size_t)r * tw);
            free(lines);
            free(zero);
        }
        /* Single-threaded GEMMs side by side (OpenBLAS runs serially inside a parallel region), split
         * into column blocks when there are many threads. */
        int nblk = (4 * omp_get_max_threads() + NXI - 1) / NXI;
        if (nblk > T / 64) nblk = T / 64 > 1 ? T / 64 : 1;
#pragma omp parallel for collapse(2) schedule(dynamic, 1)
        for (int xi = 0; xi < NXI; xi++)
            for (int b = 0; b < nblk; b++) {
                int t0 = (int)((long)T * b / nblk), n = (int)((long)T * (b + 1) / nblk) - t0;
                cblas_sgemm(CblasRowMajor, rotate ? CblasTrans : CblasNoTrans, CblasNoTrans, Cout, n, Cin, 1.0f,
                            U + (size_t)xi * Cin * Cout, ldu, V + (size_t)xi * Cin * T + t0, T, 0.0f,
                            M + (size_t)xi * Cout * T + t0, T);
            }
#pragma omp parallel
        {
            float *buf = ts_malloc(sizeof(float) * 28 * (size_t)tw);
#pragma omp for collapse(2) schedule(static)
            for (int k = 0; k < Cout; k++)
                for (int r = 0; r < nr; r++)
                    output_tile_row(&g, M, (size_t)Cout * T, (size_t)k * T + (size_t)r * tw, ty0 + r,
                                    bias ? bias[k] : 0.0f, buf, buf + 24 * (size_t)tw, y + (size_t)k * HW);
            free(buf);
        }
    }
}

void ts_winograd_plan_forward(const ts_winograd_plan *plan, const float *x, int H, int W, const float *bias,
                              float *y) {
    wino_run(x, plan->C, H, W, plan->U, plan->C, plan->K, 0, bias, NULL, y);
}

void ts_winograd_plan_forward_rect(const ts_winograd_plan *plan, const float *x, int H, int W, const float *bias,
                                   int y0, int x0, int h, int w, float *y) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "convolution rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    int rect[4] = {y0, x0, h, w};
    wino_run(x, plan->C, H, W, plan->U, plan->C, plan->K, 0, bias, rect, y);
}

void ts_winograd_plan_backward_input(const ts_winograd_plan *plan, const float *dy, int H, int W, float *dx) {
    wino_run(dy, plan->K, H, W, plan->U, plan->C, plan->C, 1, NULL, NULL, dx);
}

void ts_winograd_conv3x3_forward(const float *x, int C, int H, int W, const float *weight, const float *bias,
                                 int K, float *y) {
    ts_winograd_plan *p = ts_winograd_plan_create(weight, C, K);
    ts_winograd_plan_forward(p, x, H, W, bias, y);
    ts_winograd_plan_free(p);
}

void ts_winograd_conv3x3_backward_input(const float *dy, int K, int H, int W, const float *weight, int C,
                                        float *dx) {
    ts_winograd_plan *p = ts_winograd_plan_create(weight, C, K);
    ts_winograd_plan_backward_input(p, dy, H, W, dx);
    ts_winograd_plan_free(p);
}
