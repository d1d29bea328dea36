/* cuda_loss.cu - the CUDA backend's loss ops: Gram matrices (cuBLAS), squared differences, total
 * variation, and copying rectangles of C x H x W tensors.
 *
 * Gram: G = scale F F^T with F row-major C x M is, column-major, F^T F of the M x C matrix: one
 * GEMM, then the upper triangle is mirrored so that G is exactly symmetric, as on the CPU.
 * TV: one thread per pixel of the rect (plus the row below and the column right of it, which its
 * differences reach) gathers every gradient term that lands on it, so no two threads write the same
 * pixel and no atomics are needed; the squared differences are summed in double. */
#include "cuda_common.h"

#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

static void gemm(cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k, float alpha, const float *A, int lda,
                 const float *B, int ldb, float beta, float *Cm, int ldc) {
    CUBLAS_CHECK(cublasGemmEx(ts_cuda_blas(), ta, tb, m, n, k, &alpha, A, CUDA_R_32F, lda, B, CUDA_R_32F, ldb, &beta,
                              Cm, CUDA_R_32F, ldc, ts_cuda_compute_type(), CUBLAS_GEMM_DEFAULT));
}

/* G[i][j] = G[j][i] for i > j (row-major): the lower triangle from the upper one */
__global__ void k_mirror_upper(float *G, int C) {
    PLANE_LOOP(q, (unsigned)C * C) {
        int i = (int)(q / C), j = (int)(q % C);
        if (i > j) G[q] = G[(size_t)j * C + i];
    }
}

void ts_cuda_gram(const float *F, int C, size_t M, float scale, float *G) {
    if (C == 0) return;
    TS_CHECK(M < (size_t)1 << 31, "Gram over %zu positions: over cuBLAS's int sizes", M);
    if (M == 0) {
        CUDA_CHECK(cudaMemsetAsync(G, 0, sizeof(float) * (size_t)C * C, 0));
        return;
    }
    gemm(CUBLAS_OP_T, CUBLAS_OP_N, C, C, (int)M, scale, F, (int)M, F, (int)M, 0.0f, G, C);
    TS_LAUNCH(k_mirror_upper, ts_cuda_grid2((size_t)C * C, 1), TS_CUDA_THREADS)(G, C);
    LAUNCH_CHECK();
}

/* dF (row-major C x M) += scale D F  ->  column-major dF^T (M x C) += scale F^T D^T, and the
 * column-major view of row-major D is D^T already */
void ts_cuda_gram_backward(const float *D, const float *F, int C, size_t M, float scale, float *dF) {
    if (C == 0 || M == 0) return;
    TS_CHECK(M < (size_t)1 << 31, "Gram backward over %zu positions: over cuBLAS's int sizes", M);
    gemm(CUBLAS_OP_N, CUBLAS_OP_N, (int)M, C, C, scale, F, (int)M, D, C, 1.0f, dF, (int)M);
}

/* ---------------- squared differences ---------------- */

__global__ void k_sqdiff(const float *x, const float *t, size_t n, float gscale, float *g, double *partials) {
    double s = 0.0;
    GRID_STRIDE(i, n) {
        float d = x[i] - t[i];
        s += (double)d * (double)d;
        if (g) g[i] += gscale * d;
    }
    s = ts_block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

double ts_cuda_sqdiff(const float *x, const float *t, size_t n, float gscale, float *g) {
    if (n == 0) return 0.0;
    unsigned b = ts_cuda_reduce_blocks(n);
    TS_LAUNCH(k_sqdiff, b, TS_CUDA_THREADS)(x, t, n, gscale, g, ts_cuda_partials());
    LAUNCH_CHECK();
    return ts_cuda_finish_sum(ts_cuda_partials(), b);
}

/* ---------------- total variation ---------------- */

/* over the pixels (i, j) of rows y0 .. y0+eh-1, columns x0 .. x0+ew-1 of channel blockIdx.y, where the
 * rect is rows y0 .. y0+h-1, columns x0 .. x0+w-1 (eh, ew: one more where the image continues) */
__global__ void k_tv(const float *x, int H, int W, int y0, int x0, int h, int w, int eh, int ew, float coef, float *g,
                     double *partials) {
    int c = (int)blockIdx.y;
    double s = 0.0;
    PLANE_LOOP(q, (unsigned)eh * ew) {
        int i = y0 + (int)(q / ew), j = x0 + (int)(q % ew);
        const float *xc = x + (size_t)c * H * W;
        float v = xc[(size_t)i * W + j], grad = 0.0f;
        int row_in = i < y0 + h, col_in = j < x0 + w;
        if (row_in && col_in) { /* this pixel anchors a right and a lower difference */
            if (j + 1 < W) {
                float d = xc[(size_t)i * W + j + 1] - v;
                s += (double)d * d;
                grad -= coef * d;
            }
            if (i + 1 < H) {
                float d = xc[(size_t)(i + 1) * W + j] - v;
                s += (double)d * d;
                grad -= coef * d;
            }
        }
        if (row_in && j > x0 && j - 1 < x0 + w) { /* the right neighbour of (i, j-1) */
            float d = v - xc[(size_t)i * W + j - 1];
            grad += coef * d;
        }
        if (col_in && i > y0 && i - 1 < y0 + h) { /* the lower neighbour of (i-1, j) */
            float d = v - xc[(size_t)(i - 1) * W + j];
            grad += coef * d;
        }
        if (g) g[(size_t)c * H * W + (size_t)i * W + j] += grad;
    }
    s = ts_block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.y * gridDim.x + blockIdx.x] = s;
}

double ts_cuda_tv(const float *x, int C, int H, int W, int y0, int x0, int h, int w, float gscale, float *g) {
    if (C == 0 || h <= 0 || w <= 0) return 0.0;
    int eh = (y0 + h < H ? h + 1 : h), ew = (x0 + w < W ? w + 1 : w);
    TS_CHECK(C <= (int)TS_CUDA_MAX_PARTIALS, "tv over %d channels", C);
    dim3 grid = ts_cuda_grid2((size_t)eh * ew, (size_t)C);
    unsigned per = TS_CUDA_MAX_PARTIALS / (unsigned)C; /* blocks per channel: all partials fit */
    if (grid.x > per) grid.x = per;
    TS_LAUNCH(k_tv, grid, TS_CUDA_THREADS)(x, H, W, y0, x0, h, w, eh, ew, 2.0f * gscale, g, ts_cuda_partials());
    LAUNCH_CHECK();
    return ts_cuda_finish_sum(ts_cuda_partials(), grid.x * grid.y);
}

/* ---------------- rectangles ---------------- */

enum { REGION_GET, REGION_SET, REGION_ADD };

/* mode GET: packed = big's rect; SET: big's rect = packed; ADD: big's rect += packed; grid y: channel */
__global__ void k_region(int mode, float *big, float *packed, int H, int W, int y0, int x0, int h, int w) {
    int c = (int)blockIdx.y;
    float *pc = packed + (size_t)c * h * w;
    PLANE_LOOP(q, (unsigned)h * w) {
        int i = (int)(q / w), j = (int)(q % w);
        size_t b = ((size_t)c * H + y0 + i) * W + x0 + j;
        if (mode == REGION_GET) pc[q] = big[b];
        else if (mode == REGION_SET) big[b] = pc[q];
        else big[b] += pc[q];
    }
}

static void region(int mode, float *big, float *packed, int C, int H, int W, int y0, int x0, int h, int w) {
    if (C <= 0 || h <= 0 || w <= 0) return;
    TS_LAUNCH(k_region, ts_cuda_grid2((size_t)h * w, (size_t)C), TS_CUDA_THREADS)(mode, big, packed, H, W, y0, x0, h, w);
    LAUNCH_CHECK();
}

void ts_cuda_region_get(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
    region(REGION_GET, (float *)src, dst, C, H, W, y0, x0, h, w);
}

void ts_cuda_region_add(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
    region(REGION_ADD, dst, (float *)src, C, H, W, y0, x0, h, w);
}

void ts_cuda_region_set(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst) {
    region(REGION_SET, dst, (float *)src, C, H, W, y0, x0, h, w);
}

/* ---------------- masks: per-position weights ---------------- */

/* grid y: channel */
__global__ void k_mul_positions(const float *x, const float *w, size_t M, int add, float *y) {
    size_t c = blockIdx.y;
    PLANE_LOOP(p, M) {
        float v = x[c * M + p] * w[p];
        if (add) y[c * M + p] += v;
        else y[c * M + p] = v;
    }
}

void ts_cuda_mul_positions(const float *x, const float *w, int C, size_t M, int add, float *y) {
    if (C <= 0 || M == 0) return;
    TS_LAUNCH(k_mul_positions, ts_cuda_grid2(M, (size_t)C), TS_CUDA_THREADS)(x, w, M, add, y);
    LAUNCH_CHECK();
}

/* ---------------- the losses over a rect ----------------
 * A tile's owned part is copied out (region_get) into the backend's scratch, the whole-tensor op runs on
 * the copy and a gradient is added back (region_add): on the GPU the copies cost far less than the
 * one cuBLAS call per row of the rect that the strided form (as on the CPU) would take. */

static int whole(int H, int W, int y0, int x0, int h, int w) { return y0 == 0 && x0 == 0 && h == H && w == W; }

void ts_cuda_gram_rect(const float *F, int C, int H, int W, int y0, int x0, int h, int w, float scale, float *G) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "Gram rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    size_t M = (size_t)h * w;
    if (whole(H, W, y0, x0, h, w)) return ts_cuda_gram(F, C, M, scale, G);
    float *f = ts_cuda_scratch((size_t)C * M);
    ts_cuda_region_get(F, C, H, W, y0, x0, h, w, f);
    ts_cuda_gram(f, C, M, scale, G);
}

void ts_cuda_gram_backward_rect(const float *D, const float *F, int C, int H, int W, int y0, int x0, int h, int w,
                                float scale, float *dF) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "Gram rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    size_t M = (size_t)h * w, n = (size_t)C * M;
    if (whole(H, W, y0, x0, h, w)) return ts_cuda_gram_backward(D, F, C, M, scale, dF);
    if (n == 0) return;
    float *f = ts_cuda_scratch(2 * n), *d = f + n;
    ts_cuda_region_get(F, C, H, W, y0, x0, h, w, f);
    CUDA_CHECK(cudaMemsetAsync(d, 0, sizeof(float) * n, 0));
    ts_cuda_gram_backward(D, f, C, M, scale, d);
    ts_cuda_region_add(d, C, H, W, y0, x0, h, w, dF);
}

double ts_cuda_sqdiff_rect(const float *x, const float *t, int C, int H, int W, int y0, int x0, int h, int w,
                           float gscale, float *g) {
    TS_CHECK(ts_rect_inside(y0, x0, h, w, H, W), "sqdiff rect (%d,%d %dx%d) outside %dx%d", x0, y0, w, h, W, H);
    size_t n = (size_t)C * h * w;
    if (whole(H, W, y0, x0, h, w)) return ts_cuda_sqdiff(x, t, n, gscale, g);
    if (n == 0) return 0.0;
    float *a = ts_cuda_scratch((g ? 3 : 2) * n), *b = a + n, *d = g ? b + n : NULL;
    ts_cuda_region_get(x, C, H, W, y0, x0, h, w, a);
    ts_cuda_region_get(t, C, H, W, y0, x0, h, w, b);
    if (d) CUDA_CHECK(cudaMemsetAsync(d, 0, sizeof(float) * n, 0));
    double s = ts_cuda_sqdiff(a, b, n, gscale, d);
    if (d) ts_cuda_region_add(d, C, H, W, y0, x0, h, w, g);
    return s;
}
