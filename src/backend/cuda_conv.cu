/* cuda_conv.cu - the CUDA backend's layers: 3x3 convolutions by im2col + cuBLAS GEMM, ReLU, pooling.
 *
 * Layouts are the CPU backend's (CHW, weights K x C x 3 x 3). cuBLAS is column-major, so a row-major
 * R x S matrix is handed over as the column-major S x R one (its transpose) with the same pointer:
 *   forward   y[K x M] = W[K x 9C] col[9C x M]    ->  y^T[M x K] = col^T[M x 9C] W^T[9C x K]
 *   backward  col[9C x M] = W^T[9C x K] dy[K x M] ->  col^T[M x 9C] = dy^T[M x K] W[K x 9C]
 * (M: positions of a band of rows). Like the CPU path, the image is cut into bands of rows so the
 * column buffer stays near col_budget() whatever the image size. col2im is a gather (each input
 * position sums the 9 column entries that read it), so no atomics and the same result every run.
 * The GEMMs use cublasGemmEx with the compute type of --gpu-math (fp32 or TF32 tensor cores). */
#include "cuda_common.h"

#ifndef TS_CUDA_COL_BUDGET_FLOATS /* tests/cuda_emu sets a small one so that every test image is banded */
#define TS_CUDA_COL_BUDGET_FLOATS ((size_t)64 << 20) /* 256 MB of columns per band */
#endif
#define COL_BUDGET_FLOATS ((size_t)(TS_CUDA_COL_BUDGET_FLOATS))

/* floats of columns per band: TESSERA_CUDA_COL_MB (whole MB, a tuning knob for benchmarks) or the default.
 * Measured on an H100 (bench/RESULTS.md): bands of 64, 24 and 8 MB, which could stay in its 50 MB L2 cache between
 * im2col and the GEMM, were 5-115% slower than 256 MB; the GEMMs over fewer positions fill fewer SMs. */
static size_t col_budget(void) {
    static size_t floats;
    if (!floats) {
        const char *e = getenv("TESSERA_CUDA_COL_MB");
        floats = COL_BUDGET_FLOATS;
        if (e && *e) {
            char *end;
            long mb = strtol(e, &end, 10);
            if (*end || mb < 1 || mb > 65536) ts_fatal("TESSERA_CUDA_COL_MB=%s: want a whole number of MB, 1..65536", e);
            floats = (size_t)mb << 18;
        }
    }
    return floats;
}

/* C = op(A) op(B) with alpha, beta; all float, column-major, compute type from --gpu-math */
static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *Cm, int ldc) {
    CUBLAS_CHECK(cublasGemmEx(ts_cuda_blas(), ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta,
                              Cm, CUDA_R_32F, ldc, ts_cuda_compute_type(), CUBLAS_GEMM_DEFAULT));
}

/* col[(c*9 + ky*3 + kx) * M + yy*W + x] = x[c, y0+yy+ky-1, x+kx-1] (0 outside), M = nrows*W;
 * grid y: the row r = c*9 + ky*3 + kx of col */
__global__ void k_im2col(const float *x, int H, int W, int y0, int nrows, float *col) {
    unsigned M = (unsigned)nrows * W, r = blockIdx.y;
    int c = (int)(r / 9), ky = (int)(r % 9) / 3, kx = (int)(r % 3);
    const float *xc = x + (size_t)c * H * W;
    float *dst = col + (size_t)r * M;
    PLANE_LOOP(p, M) {
        int yy = (int)(p / W), xx = (int)(p - (unsigned)yy * W);
        int sy = y0 + yy + ky - 1, sx = xx + kx - 1;
        dst[p] = (sy >= 0 && sy < H && sx >= 0 && sx < W) ? xc[(size_t)sy * W + sx] : 0.0f;
    }
}

/* dx[c, sy, sx] += sum over (ky, kx) of col[(c*9 + ky*3 + kx) * M + (sy-y0-ky+1)*W + (sx-kx+1)], for the
 * rows sy = r0 .. r1-1 that the band y0 .. y0+nrows-1 reaches (one above and one below it); grid y: c */
__global__ void k_col2im_add(const float *col, int H, int W, int y0, int nrows, int r0, int r1, float *dx) {
    unsigned M = (unsigned)nrows * W, n = (unsigned)(r1 - r0) * W;
    int c = (int)blockIdx.y;
    const float *cc = col + (size_t)c * 9 * M;
    float *dc = dx + (size_t)c * H * W;
    PLANE_LOOP(q, n) {
        int sy = r0 + (int)(q / W), sx = (int)(q % W);
        float s = 0.0f;
        for (int ky = 0; ky < 3; ky++) {
            int yy = sy - y0 - ky + 1;
            if (yy < 0 || yy >= nrows) continue;
            for (int kx = 0; kx < 3; kx++) {
                int xx = sx - kx + 1;
                if (xx < 0 || xx >= W) continue;
                s += cc[(size_t)(ky * 3 + kx) * M + (size_t)yy * W + xx];
            }
        }
        dc[(size_t)sy * W + sx] += s;
    }
}

/* grid y: the output channel */
__global__ void k_bias_add(float *y, const float *bias, size_t HW) {
    float b = bias[blockIdx.y];
    float *yk = y + (size_t)blockIdx.y * HW;
    PLANE_LOOP(i, HW) yk[i] += b;
}

void ts_cuda_conv3x3_forward(const float *x, int C, int H, int W, const float *weight, const float *bias, int K,
                             const void *prepared, float *y) {
    (void)prepared; /* the GPU has no prepared path (prepare returns NULL) */
    size_t HW = (size_t)H * W;
    if (HW == 0 || K == 0) return;
    TS_CHECK(HW < ((size_t)1 << 31), "convolution over %dx%d positions: over cuBLAS's int sizes", W, H);
    int rows = ts_im2col_band_rows(C, W, H, col_budget());
    float *col = ts_cuda_scratch((size_t)C * 9 * (size_t)rows * W);
    for (int y0 = 0; y0 < H; y0 += rows) {
        int nr = H - y0 < rows ? H - y0 : rows;
        size_t bandM = (size_t)nr * W;
        TS_LAUNCH(k_im2col, ts_cuda_grid2(bandM, (size_t)C * 9), TS_CUDA_THREADS)(x, H, W, y0, nr, col);
        LAUNCH_CHECK();
        gemm(CUBLAS_OP_N, CUBLAS_OP_N, (int)bandM, K, 9 * C, 1.0f, col, (int)bandM, weight, 9 * C, 0.0f,
             y + (size_t)y0 * W, (int)HW);
    }
    if (bias) {
        TS_LAUNCH(k_bias_add, ts_cuda_grid2(HW, (size_t)K), TS_CUDA_THREADS)(y, bias, HW);
        LAUNCH_CHECK();
    }
}

/* the whole output: im2col + GEMM gains nothing from skipping a ring (outside the rect is allowed) */
void ts_cuda_conv3x3_forward_rect(const float *x, int C, int H, int W, const float *weight, const float *bias, int K,
                                  const void *prepared, int y0, int x0, int h, int w, float *y) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "convolution rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    ts_cuda_conv3x3_forward(x, C, H, W, weight, bias, K, prepared, y);
}

void ts_cuda_conv3x3_backward_input(const float *dy, int K, int H, int W, const float *weight, int C,
                                    const void *prepared, float *dx) {
    (void)prepared;
    size_t HW = (size_t)H * W;
    if (HW == 0 || C == 0) return;
    TS_CHECK(HW < ((size_t)1 << 31), "convolution over %dx%d positions: over cuBLAS's int sizes", W, H);
    CUDA_CHECK(cudaMemsetAsync(dx, 0, sizeof(float) * (size_t)C * HW, 0));
    int rows = ts_im2col_band_rows(C, W, H, col_budget());
    float *col = ts_cuda_scratch((size_t)C * 9 * (size_t)rows * W);
    for (int y0 = 0; y0 < H; y0 += rows) {
        int nr = H - y0 < rows ? H - y0 : rows;
        size_t bandM = (size_t)nr * W;
        gemm(CUBLAS_OP_N, CUBLAS_OP_T, (int)bandM, 9 * C, K, 1.0f, dy + (size_t)y0 * W, (int)HW, weight, 9 * C, 0.0f,
             col, (int)bandM);
        int r0 = y0 > 0 ? y0 - 1 : 0, r1 = y0 + nr + 1 < H ? y0 + nr + 1 : H;
        TS_LAUNCH(k_col2im_add, ts_cuda_grid2((size_t)(r1 - r0) * W, (size_t)C), TS_CUDA_THREADS)(col, H, W, y0, nr, r0, r1,
                                                                                               dx);
        LAUNCH_CHECK();
    }
}

/* ---------------- ReLU ---------------- */

__global__ void k_relu_forward(const float *x, float *y, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        y[i] = x[i] > 0.0f ? x[i] : 0.0f;
}

__global__ void k_relu_backward(const float *y, const float *dy, float *dx, size_t n) {
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        dx[i] = y[i] > 0.0f ? dy[i] : 0.0f;
}

void ts_cuda_relu_forward(const float *x, float *y, size_t n) {
    if (n == 0) return;
    TS_LAUNCH(k_relu_forward, ts_cuda_blocks(n), TS_CUDA_THREADS)(x, y, n);
    LAUNCH_CHECK();
}

void ts_cuda_relu_backward(const float *y, const float *dy, float *dx, size_t n) {
    if (n == 0) return;
    TS_LAUNCH(k_relu_backward, ts_cuda_blocks(n), TS_CUDA_THREADS)(y, dy, dx, n);
    LAUNCH_CHECK();
}

/* ---------------- pooling: 2x2 stride 2, odd sizes floored ---------------- */

/* grid y: the channel; one thread per output position (zero outside the output rect) */
__global__ void k_pool_forward(int avg, const float *x, ts_pool_shape s, float *y) {
    int c = (int)blockIdx.y, ho = s.h / 2, wo = s.w / 2;
    const float *xc = x + (size_t)c * s.H * s.W;
    float *yc = y + (size_t)c * s.Ho * s.Wo;
    PLANE_LOOP(i, (unsigned)s.Ho * s.Wo) {
        int oi = (int)(i / s.Wo) - s.oy, oj = (int)(i % s.Wo) - s.ox;
        float v = 0.0f;
        if (oi >= 0 && oi < ho && oj >= 0 && oj < wo) {
            const float *r0 = xc + (size_t)(s.y + 2 * oi) * s.W + s.x + 2 * oj, *r1 = r0 + s.W;
            float a = r0[0], b = r0[1], d = r1[0], e = r1[1];
            if (avg) {
                v = 0.25f * (a + b + d + e);
            } else { /* the CPU's comparisons, in its order */
                v = a;
                if (b > v) v = b;
                if (d > v) v = d;
                if (e > v) v = e;
            }
        }
        yc[i] = v;
    }
}

/* one thread per input position: its share of its window's gradient (0 outside the input rect and in
 * its dropped odd row/column); max routes to the first maximum of the window in row-major order */
__global__ void k_pool_backward(int avg, const float *x, const float *dy, ts_pool_shape s, float *dx) {
    int c = (int)blockIdx.y, ho = s.h / 2, wo = s.w / 2;
    const float *xc = x + (size_t)c * s.H * s.W, *gc = dy + (size_t)c * s.Ho * s.Wo;
    float *dc = dx + (size_t)c * s.H * s.W;
    PLANE_LOOP(i, (unsigned)s.H * s.W) {
        int ry = (int)(i / s.W) - s.y, rx = (int)(i % s.W) - s.x;
        float v = 0.0f;
        if (ry >= 0 && rx >= 0 && ry / 2 < ho && rx / 2 < wo) {
            int oi = ry / 2, oj = rx / 2;
            float go = gc[(size_t)(s.oy + oi) * s.Wo + s.ox + oj];
            if (avg) {
                v = 0.25f * go;
            } else {
                const float *r0 = xc + (size_t)(s.y + 2 * oi) * s.W + s.x + 2 * oj;
                float w4[4] = {r0[0], r0[1], r0[s.W], r0[s.W + 1]};
                int best = 0;
                for (int q = 1; q < 4; q++)
                    if (w4[q] > w4[best]) best = q;
                int mine = (ry - 2 * oi) * 2 + (rx - 2 * oj);
                v = best == mine ? go : 0.0f;
            }
        }
        dc[i] = v;
    }
}

void ts_cuda_pool_forward(ts_pool_kind kind, const float *x, int C, const ts_pool_shape *s, float *y) {
    TS_CHECK(ts_pool_shape_valid(s), "pool: rects outside their tensors");
    size_t n = (size_t)s->Ho * s->Wo;
    if (n == 0 || C == 0) return;
    TS_LAUNCH(k_pool_forward, ts_cuda_grid2(n, (size_t)C), TS_CUDA_THREADS)(kind == TS_POOL_AVG, x, *s, y);
    LAUNCH_CHECK();
}

void ts_cuda_pool_backward(ts_pool_kind kind, const float *x, const float *y, const float *dy, int C,
                           const ts_pool_shape *s, float *dx) {
    TS_CHECK(ts_pool_shape_valid(s), "pool: rects outside their tensors");
    (void)y;
    size_t n = (size_t)s->H * s->W;
    if (n == 0 || C == 0) return;
    TS_LAUNCH(k_pool_backward, ts_cuda_grid2(n, (size_t)C), TS_CUDA_THREADS)(kind == TS_POOL_AVG, x, dy, *s, dx);
    LAUNCH_CHECK();
}
