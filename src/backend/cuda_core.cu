/* cuda_core.cu - the CUDA backend's device, memory and vector ops, its op table, and the entry point
 * of the shared object it is built into (see device_plugin.h).
 *
 * One device per process (picked by backend.c from the node-local rank). Memory comes from the
 * stream-ordered allocator (cudaMallocAsync, pool kept between evaluations, so the per-evaluation
 * buffers of the tiled losses cost no cudaMalloc) where the device has one, else cudaMalloc.
 * Reductions (dot, sqdiff, tv) accumulate each thread's terms in double, add them per block with a
 * fixed tree, then add the block partials in one more block: the same order on every run, and only
 * the final double crosses to the host. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cuda_common.h"
#include "device_plugin.h"

static struct {
    int bound, device, pools;
    cublasHandle_t blas;
    cublasComputeType_t compute;
    float *scratch;
    size_t scratch_n;
    double *partials;
    char name[128];
    int major, minor, sms, clock_mhz;
} g;

static ts_backend g_table;

cublasHandle_t ts_cuda_blas(void) { return g.blas; }
cublasComputeType_t ts_cuda_compute_type(void) { return g.compute; }
double *ts_cuda_partials(void) { return g.partials; }

/* ---------------- memory ---------------- */

static float *cuda_alloc(size_t n) {
    void *p = NULL;
    size_t bytes = (n ? n : 1) * sizeof(float);
    if (g.pools) CUDA_CHECK(cudaMallocAsync(&p, bytes, 0));
    else CUDA_CHECK(cudaMalloc(&p, bytes));
    CUDA_CHECK(cudaMemsetAsync(p, 0, bytes, 0));
    return (float *)p;
}

static void cuda_free(float *p) {
    if (!p) return;
    if (g.pools) CUDA_CHECK(cudaFreeAsync(p, 0));
    else CUDA_CHECK(cudaFree(p));
}

static void cuda_upload(float *dst, const float *src, size_t n) {
    if (n) CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyHostToDevice));
}

static void cuda_download(float *dst, const float *src, size_t n) {
    if (n) CUDA_CHECK(cudaMemcpy(dst, src, n * sizeof(float), cudaMemcpyDeviceToHost));
}

static float *cuda_host_alloc(size_t n) {
    void *p = NULL;
    CUDA_CHECK(cudaMallocHost(&p, (n ? n : 1) * sizeof(float)));
    return (float *)p;
}

static void cuda_host_free(float *p) {
    if (p) CUDA_CHECK(cudaFreeHost(p));
}

static void cuda_synchronize(void) { CUDA_CHECK(cudaDeviceSynchronize()); }

static void cuda_set_threads(int n) { (void)n; /* host threads are not the GPU's business */ }

float *ts_cuda_scratch(size_t n) {
    if (n > g.scratch_n) {
        if (g.scratch) CUDA_CHECK(cudaFree(g.scratch)); /* synchronises: no op still reads it */
        CUDA_CHECK(cudaMalloc(&g.scratch, n * sizeof(float)));
        g.scratch_n = n;
    }
    return g.scratch;
}

/* ---------------- reductions ---------------- */

__global__ void k_finish_sum(const double *partials, unsigned n, double *out) {
    double v = 0.0;
    for (unsigned i = threadIdx.x; i < n; i += blockDim.x) v += partials[i];
    v = ts_block_sum(v);
    if (threadIdx.x == 0) *out = v;
}

double ts_cuda_finish_sum(const double *partials, unsigned nblocks) {
    double *out = g.partials + TS_CUDA_MAX_PARTIALS, host = 0.0;
    TS_LAUNCH(k_finish_sum, 1, TS_CUDA_THREADS)(partials, nblocks, out);
    LAUNCH_CHECK();
    CUDA_CHECK(cudaMemcpy(&host, out, sizeof host, cudaMemcpyDeviceToHost));
    return host;
}

__global__ void k_dot(const float *x, const float *y, size_t n, double *partials) {
    double s = 0.0;
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < n; i += (size_t)gridDim.x * blockDim.x)
        s += (double)x[i] * (double)y[i];
    s = ts_block_sum(s);
    if (threadIdx.x == 0) partials[blockIdx.x] = s;
}

static double cuda_dot(const float *x, const float *y, size_t n) {
    if (n == 0) return 0.0;
    unsigned b = ts_cuda_reduce_blocks(n);
    TS_LAUNCH(k_dot, b, TS_CUDA_THREADS)(x, y, n, g.partials);
    LAUNCH_CHECK();
    return ts_cuda_finish_sum(g.partials, b);
}

/* ---------------- element-wise vector ops ---------------- */

#define GRID_STRIDE(i, n)                                                                          \
    for (size_t i = blockIdx.x * (size_t)blockDim.x + threadIdx.x; i < (n); i += (size_t)gridDim.x * blockDim.x)

__global__ void k_axpy(float a, const float *x, float *y, size_t n) {
    GRID_STRIDE(i, n) y[i] += a * x[i];
}
__global__ void k_scale(float a, float *x, size_t n) {
    GRID_STRIDE(i, n) x[i] *= a;
}
__global__ void k_fill(float v, float *x, size_t n) {
    GRID_STRIDE(i, n) x[i] = v;
}

static void cuda_axpy(float a, const float *x, float *y, size_t n) {
    if (n == 0) return;
    TS_LAUNCH(k_axpy, ts_cuda_blocks(n), TS_CUDA_THREADS)(a, x, y, n);
    LAUNCH_CHECK();
}

static void cuda_scale(float a, float *x, size_t n) {
    if (n == 0) return;
    TS_LAUNCH(k_scale, ts_cuda_blocks(n), TS_CUDA_THREADS)(a, x, n);
    LAUNCH_CHECK();
}

static void cuda_fill(float v, float *x, size_t n) {
    if (n == 0) return;
    TS_LAUNCH(k_fill, ts_cuda_blocks(n), TS_CUDA_THREADS)(v, x, n);
    LAUNCH_CHECK();
}

static void cuda_copy(const float *src, float *dst, size_t n) {
    if (n && src != dst) CUDA_CHECK(cudaMemcpyAsync(dst, src, n * sizeof(float), cudaMemcpyDeviceToDevice, 0));
}

/* the CPU backend's formula, term for term (step and 1/sqrt(bias correction 2) from the host) */
__global__ void k_adam(float *x, const float *gr, float *m, float *v, size_t n, float beta1, float beta2, float eps,
                       float step, float inv_sqrt_bc2) {
    GRID_STRIDE(i, n) {
        float gi = gr[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * gi;
        float vi = beta2 * v[i] + (1.0f - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        x[i] -= step * mi / (sqrtf(vi) * inv_sqrt_bc2 + eps);
    }
}

static void cuda_adam_step(float *x, const float *gr, float *m, float *v, size_t n, float lr, float beta1, float beta2,
                           float eps, int t) {
    if (n == 0) return;
    double bc1 = 1.0 - pow(beta1, t), bc2 = 1.0 - pow(beta2, t);
    float step = (float)(lr / bc1);
    float inv_sqrt_bc2 = (float)(1.0 / sqrt(bc2));
    TS_LAUNCH(k_adam, ts_cuda_blocks(n), TS_CUDA_THREADS)(x, gr, m, v, n, beta1, beta2, eps, step, inv_sqrt_bc2);
    LAUNCH_CHECK();
}

/* No Winograd on the GPU: the convolutions always take the direct (im2col + cuBLAS) path, --conv
 * changes nothing there. */
static void cuda_conv3x3_release(void *p) { (void)p; }
static size_t cuda_conv3x3_prepared_bytes(const void *p) {
    (void)p;
    return 0;
}

/* ---------------- device binding ---------------- */

static int cuda_device_count(char *why, size_t n) {
    int count = 0, rt = 0;
    cudaError_t e = cudaGetDeviceCount(&count);
    if (e != cudaSuccess) {
        (void)cudaRuntimeGetVersion(&rt);
        const char *hint = e == cudaErrorInsufficientDriver ? ": no NVIDIA driver is loaded, or it is older than "
                                                              "this CUDA runtime"
                           : e == cudaErrorNoDevice ? " (CUDA_VISIBLE_DEVICES may hide them)"
                                                    : "";
        if (why && n)
            snprintf(why, n, "cudaGetDeviceCount: %s%s; CUDA runtime %d.%d", cudaGetErrorString(e), hint, rt / 1000,
                     rt % 1000 / 10);
        (void)cudaGetLastError(); /* not sticky: clear it */
        return 0;
    }
    if (count == 0 && why && n) snprintf(why, n, "the CUDA runtime reports no devices");
    return count;
}

static const ts_backend *cuda_bound(void) { return g.bound ? &g_table : NULL; }

static void fill_table(void) {
    ts_backend *t = &g_table;
    memset(t, 0, sizeof *t);
    t->name = "cuda";
    t->on_device = 1;
    t->conv_rect_windowed = 0; /* the rect convolution computes the whole output (one im2col GEMM) */
    t->alloc = cuda_alloc;
    t->free = cuda_free;
    t->upload = cuda_upload;
    t->download = cuda_download;
    t->set_threads = cuda_set_threads;
    t->host_alloc = cuda_host_alloc;
    t->host_free = cuda_host_free;
    t->synchronize = cuda_synchronize;
    t->conv3x3_forward = ts_cuda_conv3x3_forward;
    t->conv3x3_forward_rect = ts_cuda_conv3x3_forward_rect;
    t->conv3x3_backward_input = ts_cuda_conv3x3_backward_input;
    t->conv3x3_prepare = NULL; /* no fast path: the net skips preparing (and downloading) weights */
    t->conv3x3_release = cuda_conv3x3_release;
    t->conv3x3_prepared_bytes = cuda_conv3x3_prepared_bytes;
    t->relu_forward = ts_cuda_relu_forward;
    t->relu_backward = ts_cuda_relu_backward;
    t->pool_forward = ts_cuda_pool_forward;
    t->pool_backward = ts_cuda_pool_backward;
    t->gram = ts_cuda_gram;
    t->gram_backward = ts_cuda_gram_backward;
    t->gram_rect = ts_cuda_gram_rect;
    t->gram_backward_rect = ts_cuda_gram_backward_rect;
    t->dot = cuda_dot;
    t->axpy = cuda_axpy;
    t->scale = cuda_scale;
    t->copy = cuda_copy;
    t->fill = cuda_fill;
    t->sqdiff = ts_cuda_sqdiff;
    t->sqdiff_rect = ts_cuda_sqdiff_rect;
    t->tv = ts_cuda_tv;
    t->region_get = ts_cuda_region_get;
    t->region_add = ts_cuda_region_add;
    t->region_set = ts_cuda_region_set;
    t->mul_positions = ts_cuda_mul_positions;
    t->adam_step = cuda_adam_step;
}

static void set_math(ts_gpu_math math) {
    /* fp32: no tensor-core shortcuts. tf32: inputs rounded to TF32 (10-bit mantissa) inside the
     * GEMMs on GPUs with compute capability 8.0 or newer; older GPUs compute in fp32 either way. */
    g.compute = math == TS_GPU_MATH_TF32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
    CUBLAS_CHECK(cublasSetMathMode(g.blas, math == TS_GPU_MATH_TF32 ? CUBLAS_TF32_TENSOR_OP_MATH : CUBLAS_DEFAULT_MATH));
}

static const ts_backend *cuda_open(int device, ts_gpu_math math, char *why, size_t n) {
    if (g.bound) {
        if (device != g.device && why && n)
            snprintf(why, n, "this process already uses CUDA device %d", g.device);
        if (device != g.device) return NULL;
        set_math(math);
        return &g_table;
    }
    /* failures up to a working context are reported (the caller may fall back to the CPU);
     * after that, every failure is fatal */
    cudaError_t e = cudaSetDevice(device);
    if (e == cudaSuccess) e = cudaFree(NULL); /* creates the context now, so a busy or broken GPU shows here */
    if (e != cudaSuccess) {
        if (why && n) snprintf(why, n, "device %d: %s (%s)", device, cudaGetErrorString(e), cudaGetErrorName(e));
        (void)cudaGetLastError();
        return NULL;
    }
    cudaDeviceProp prop;
    CUDA_CHECK(cudaGetDeviceProperties(&prop, device));
    snprintf(g.name, sizeof g.name, "%.*s", (int)sizeof g.name - 1, prop.name);
    g.major = prop.major;
    g.minor = prop.minor;
    int khz = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&g.sms, cudaDevAttrMultiProcessorCount, device));
    CUDA_CHECK(cudaDeviceGetAttribute(&khz, cudaDevAttrClockRate, device));
    g.clock_mhz = khz / 1000;
    int pools = 0;
    CUDA_CHECK(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device));
    g.pools = pools;
    if (pools) { /* keep freed memory in the pool instead of returning it at every synchronisation */
        cudaMemPool_t pool;
        CUDA_CHECK(cudaDeviceGetDefaultMemPool(&pool, device));
        unsigned long long keep = ~0ull;
        CUDA_CHECK(cudaMemPoolSetAttribute(pool, cudaMemPoolAttrReleaseThreshold, &keep));
    }
    CUBLAS_CHECK(cublasCreate(&g.blas));
    CUBLAS_CHECK(cublasSetStream(g.blas, 0));
    CUBLAS_CHECK(cublasSetPointerMode(g.blas, CUBLAS_POINTER_MODE_HOST));
    CUDA_CHECK(cudaMalloc(&g.partials, sizeof(double) * (TS_CUDA_MAX_PARTIALS + 1)));
    g.device = device;
    g.bound = 1;
    set_math(math);
    fill_table();
    return &g_table;
}

static void cuda_describe(char *buf, size_t n) {
    if (!buf || !n) return;
    if (!g.bound) buf[0] = 0;
    else snprintf(buf, n, "%s (sm_%d%d, %d SMs, %d MHz)", g.name, g.major, g.minor, g.sms, g.clock_mhz);
}

/* ---------------- the shared object's entry point ---------------- */

static void (*host_fatal)(const char *file, int line, const char *fmt, ...);

/* The backend's fatal errors (CUDA_CHECK, TS_CHECK) go to the program's ts_fatal_at, which knows the
 * rank and stops every rank; the object is linked -Bsymbolic, so this definition is the one its own
 * code calls. */
extern "C" [[noreturn]] void ts_fatal_at(const char *file, int line, const char *fmt, ...) {
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (host_fatal) host_fatal(file, line, "%s", msg);
    fprintf(stderr, "%s:%d: %s\n", file, line, msg);
    abort();
}

extern "C" __attribute__((visibility("default"))) const ts_device_plugin_api *
ts_device_plugin_init(const ts_device_plugin_host *host) {
    static const ts_device_plugin_api api = {TS_DEVICE_PLUGIN_VERSION, sizeof(ts_backend), "cuda", cuda_device_count,
                                             cuda_open, cuda_describe, cuda_bound};
    if (!host || host->version != TS_DEVICE_PLUGIN_VERSION || host->backend_size != sizeof(ts_backend)) return NULL;
    host_fatal = host->fatal;
    return &api;
}
