/* cuda_common.h - what the CUDA backend's files share: checked calls, launch shapes, the bound
 * device's cuBLAS handle and math mode, scratch memory, and the ops each file defines.
 *
 * Every CUDA runtime and cuBLAS call goes through CUDA_CHECK / CUBLAS_CHECK, and every kernel launch
 * is followed by LAUNCH_CHECK(); a failure is a system failure (ts_fatal: "[rank r] file:line: ...",
 * all ranks stop). All work runs on the legacy default stream, in order, so a download (cudaMemcpy)
 * sees every op issued before it and no other synchronisation is needed.
 *
 * Kernels are launched as TS_LAUNCH(kernel, blocks, threads)(args...), which is kernel<<<blocks,
 * threads>>>(args...) here; tests/cuda_emu compiles the same files with g++ and runs the kernels one
 * thread after another on the CPU (with TS_CUDA_EMULATION), to check them without a GPU. */
#ifndef TESSERA_CUDA_COMMON_H
#define TESSERA_CUDA_COMMON_H

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <stddef.h>

/* check.h spells C11's noreturn; C++ says [[noreturn]] */
#define noreturn [[noreturn]]
extern "C" {
#include "tessera/backend.h"
#include "tessera/check.h"
}
#undef noreturn

#define CUDA_CHECK(call)                                                                           \
    do {                                                                                           \
        cudaError_t e_ = (call);                                                                   \
        if (e_ != cudaSuccess) ts_fatal("CUDA: %s: %s (%s)", #call, cudaGetErrorString(e_), cudaGetErrorName(e_)); \
    } while (0)

#define CUBLAS_CHECK(call)                                                                         \
    do {                                                                                           \
        cublasStatus_t s_ = (call);                                                                \
        if (s_ != CUBLAS_STATUS_SUCCESS) ts_fatal("cuBLAS: %s: %s", #call, cublasGetStatusString(s_)); \
    } while (0)

/* after every <<<...>>>: launch errors (bad configuration, missing kernel image for this GPU) */
#define LAUNCH_CHECK() CUDA_CHECK(cudaGetLastError())

#define TS_CUDA_THREADS 256

#ifndef TS_LAUNCH
#define TS_LAUNCH(kernel, blocks, threads) kernel<<<(blocks), (threads)>>>
#endif

/* A 2D grid for per-plane kernels: y picks the plane (a channel, or a row of the column matrix),
 * x covers the plane's n items with a grid-stride loop in 32-bit arithmetic (n < 2^31: index
 * divisions by the width stay cheap). */
static inline dim3 ts_cuda_grid2(size_t n, size_t planes) {
    TS_CHECK(n < ((size_t)1 << 31) && planes >= 1 && planes <= 65535, "CUDA grid: %zu items x %zu planes", n, planes);
    size_t b = (n + TS_CUDA_THREADS - 1) / TS_CUDA_THREADS;
    if (b < 1) b = 1;
    if (b > 65535) b = 65535;
    return dim3((unsigned)b, (unsigned)planes, 1);
}
#define PLANE_LOOP(i, n) for (unsigned i = blockIdx.x * blockDim.x + threadIdx.x; i < (unsigned)(n); i += gridDim.x * blockDim.x)

/* blocks for a grid-stride loop over n items (n > 0) */
static inline unsigned ts_cuda_blocks(size_t n) {
    size_t b = (n + TS_CUDA_THREADS - 1) / TS_CUDA_THREADS;
    return (unsigned)(b > 65535u * 16u ? 65535u * 16u : b);
}

/* the bound device (cuda_core.cu) */
cublasHandle_t ts_cuda_blas(void);
cublasComputeType_t ts_cuda_compute_type(void); /* 32F, or 32F_FAST_TF32 with --gpu-math tf32 */
/* device scratch of at least n floats, kept and grown between calls (one user at a time) */
float *ts_cuda_scratch(size_t n);
/* sum of per-block double partials (nblocks of them, on the device) -> one double on the host */
double ts_cuda_finish_sum(const double *partials, unsigned nblocks);
/* device buffer for up to TS_CUDA_MAX_PARTIALS block partials */
#define TS_CUDA_MAX_PARTIALS 1024u
double *ts_cuda_partials(void);
/* blocks for a reduction over n items: at most TS_CUDA_MAX_PARTIALS, fixed for a given n so that
 * sums are reproducible run to run */
static inline unsigned ts_cuda_reduce_blocks(size_t n) {
    size_t b = (n + TS_CUDA_THREADS - 1) / TS_CUDA_THREADS;
    if (b < 1) b = 1;
    return (unsigned)(b > TS_CUDA_MAX_PARTIALS ? TS_CUDA_MAX_PARTIALS : b);
}

/* block-wide sum of one double per thread (blockDim.x == TS_CUDA_THREADS); thread 0 gets the total */
#ifdef TS_CUDA_EMULATION
#define ts_block_sum ts_emu_block_sum /* the emulation runs a block's threads one after another */
#else
__device__ inline double ts_block_sum(double v) {
    __shared__ double warp_sums[TS_CUDA_THREADS / 32];
    for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
    if (lane == 0) warp_sums[warp] = v;
    __syncthreads();
    if (warp == 0) {
        v = lane < TS_CUDA_THREADS / 32 ? warp_sums[lane] : 0.0;
        for (int o = 16; o > 0; o >>= 1) v += __shfl_down_sync(0xffffffffu, v, o);
    }
    return v;
}
#endif

/* cuda_conv.cu */
void ts_cuda_conv3x3_forward(const float *x, int C, int H, int W, const float *weight, const float *bias, int K,
                             const void *prepared, float *y);
void ts_cuda_conv3x3_forward_rect(const float *x, int C, int H, int W, const float *weight, const float *bias, int K,
                                  const void *prepared, int y0, int x0, int h, int w, float *y);
void ts_cuda_conv3x3_backward_input(const float *dy, int K, int H, int W, const float *weight, int C,
                                    const void *prepared, float *dx);
void ts_cuda_relu_forward(const float *x, float *y, size_t n);
void ts_cuda_relu_backward(const float *y, const float *dy, float *dx, size_t n);
void ts_cuda_pool_forward(ts_pool_kind kind, const float *x, int C, const ts_pool_shape *s, float *y);
void ts_cuda_pool_backward(ts_pool_kind kind, const float *x, const float *y, const float *dy, int C,
                           const ts_pool_shape *s, float *dx);

/* cuda_loss.cu */
void ts_cuda_gram(const float *F, int C, size_t M, float scale, float *G);
void ts_cuda_gram_backward(const float *D, const float *F, int C, size_t M, float scale, float *dF);
double ts_cuda_sqdiff(const float *x, const float *t, size_t n, float gscale, float *g);
double ts_cuda_tv(const float *x, int C, int H, int W, int y0, int x0, int h, int w, float gscale, float *g);
void ts_cuda_region_get(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
void ts_cuda_region_add(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
void ts_cuda_mul_positions(const float *x, const float *w, int C, size_t M, int add, float *y);
void ts_cuda_region_set(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
void ts_cuda_gram_rect(const float *F, int C, int H, int W, int y0, int x0, int h, int w, float scale, float *G);
void ts_cuda_gram_backward_rect(const float *D, const float *F, int C, int H, int W, int y0, int x0, int h, int w,
                                float scale, float *dF);
double ts_cuda_sqdiff_rect(const float *x, const float *t, int C, int H, int W, int y0, int x0, int h, int w,
                           float gscale, float *g);

#endif
