/* cuda_runtime.h (test emulation) - just enough of the CUDA runtime, on the CPU, to run Tessera's CUDA
 * backend (src/backend/cuda*.cu) compiled with g++ on a machine without a GPU.
 *
 * What it checks and what it cannot:
 *  - Kernels run as written: TS_LAUNCH(k, blocks, threads)(args) loops over every block and, inside a
 *    block, over every thread (from the last to thread 0, so that the emulated block sum hands thread
 *    0 the total). Index arithmetic, bounds, band splitting and the reductions' bookkeeping are
 *    exercised for real; races, warp-level behaviour, launch limits of real hardware and performance
 *    are not.
 *  - "Device" memory lives in one reserved address range that is mapped PROT_NONE except while a
 *    kernel, a copy or a GEMM runs, so host code that dereferences backend memory directly (instead
 *    of upload/download) crashes, as it would with real device pointers. Every pointer argument of a
 *    kernel must lie inside a device allocation, and cudaMemcpy checks that its direction matches
 *    where the pointers live.
 *  - One emulated device ("CPU emulation"), or none when CUDA_VISIBLE_DEVICES is set and empty, so
 *    --backend auto's fallback and mixed CPU/GPU ranks can be tested too.
 * Only the calls Tessera makes exist; they return cudaSuccess or the error a real runtime gives. */
#ifndef TESSERA_CUDA_EMU_RUNTIME_H
#define TESSERA_CUDA_EMU_RUNTIME_H

#include <sys/mman.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <type_traits>

#define TS_CUDA_EMULATION 1
#define __global__
#define __device__
#define __host__
#define __shared__ static

typedef enum {
    cudaSuccess = 0,
    cudaErrorInvalidValue = 1,
    cudaErrorMemoryAllocation = 2,
    cudaErrorInvalidConfiguration = 9,
    cudaErrorInvalidDevice = 101,
    cudaErrorNoDevice = 100,
    cudaErrorInsufficientDriver = 35,
    cudaErrorIllegalAddress = 700,
} cudaError_t;

typedef enum {
    cudaMemcpyHostToHost = 0,
    cudaMemcpyHostToDevice = 1,
    cudaMemcpyDeviceToHost = 2,
    cudaMemcpyDeviceToDevice = 3,
} cudaMemcpyKind;

typedef enum {
    cudaDevAttrClockRate = 13,
    cudaDevAttrMultiProcessorCount = 16,
    cudaDevAttrMemoryPoolsSupported = 115,
} cudaDeviceAttr;
typedef enum { cudaMemPoolAttrReleaseThreshold = 4 } cudaMemPoolAttr;
typedef void *cudaMemPool_t;
typedef void *cudaStream_t;

struct cudaDeviceProp {
    char name[256];
    int major, minor;
};

struct dim3 {
    unsigned x, y, z;
    dim3(unsigned x_ = 1, unsigned y_ = 1, unsigned z_ = 1) : x(x_), y(y_), z(z_) {}
};
inline dim3 blockIdx, threadIdx, blockDim, gridDim;

/* ---- the device address range ---- */

struct ts_emu_state {
    char *base = nullptr;
    size_t reserved = (size_t)64 << 30, used = 0; /* bump allocation, page-aligned */
    std::map<uintptr_t, size_t> live;             /* start -> bytes */
    std::multimap<size_t, uintptr_t> spare;       /* freed blocks (zeroed) by their page-rounded size */
    int open = 0;
    cudaError_t last = cudaSuccess;
};
inline ts_emu_state ts_emu;

inline void ts_emu_die(const char *what) {
    fprintf(stderr, "cuda emulation: %s\n", what);
    abort();
}

inline void ts_emu_reserve() {
    if (ts_emu.base) return;
    void *p = mmap(nullptr, ts_emu.reserved, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (p == MAP_FAILED) ts_emu_die("cannot reserve the device address range");
    ts_emu.base = (char *)p;
}

/* device memory readable and writable while a kernel, copy or GEMM runs (nested calls allowed) */
inline void ts_emu_open() {
    if (ts_emu.open++ == 0 && ts_emu.used && mprotect(ts_emu.base, ts_emu.used, PROT_READ | PROT_WRITE))
        ts_emu_die("mprotect");
}
inline void ts_emu_close() {
    if (--ts_emu.open == 0 && ts_emu.used && mprotect(ts_emu.base, ts_emu.used, PROT_NONE)) ts_emu_die("mprotect");
}

/* bytes from p to the end of its device allocation; 0 if p is not device memory */
inline size_t ts_emu_device_extent(const void *p) {
    uintptr_t a = (uintptr_t)p;
    auto it = ts_emu.live.upper_bound(a);
    if (it == ts_emu.live.begin()) return 0;
    --it;
    if (a >= it->first + it->second) return 0;
    return it->first + it->second - a;
}

inline cudaError_t ts_emu_set(cudaError_t e) {
    if (e != cudaSuccess) ts_emu.last = e;
    return e;
}

/* ---- kernel launches ---- */

template <class T> inline void ts_emu_check_arg(const T &a) {
    if constexpr (std::is_pointer<T>::value) {
        if (a && !ts_emu_device_extent((const void *)a)) ts_emu_die("a kernel was given a pointer that is not device memory");
    }
}

template <class... P> struct ts_emu_launcher {
    void (*kernel)(P...);
    dim3 grid;
    unsigned threads;
    template <class... A> void operator()(A... a) {
        /* the limits of real hardware (compute capability 3.0 and later) */
        if (grid.x == 0 || grid.y == 0 || grid.z != 1 || threads == 0 || threads > 1024 || grid.x > 0x7fffffffu ||
            grid.y > 65535) {
            ts_emu_set(cudaErrorInvalidConfiguration);
            return;
        }
        (ts_emu_check_arg(a), ...);
        ts_emu_open();
        gridDim = grid;
        blockDim = dim3(threads);
        for (unsigned by = 0; by < grid.y; by++)
            for (unsigned bx = 0; bx < grid.x; bx++) {
                blockIdx = dim3(bx, by);
                for (unsigned t = threads; t-- > 0;) {
                    threadIdx = dim3(t, 0, 0);
                    kernel(static_cast<P>(a)...);
                }
            }
        ts_emu_close();
    }
};
template <class... P> ts_emu_launcher<P...> ts_emu_launch(void (*k)(P...), dim3 grid, unsigned threads) {
    return ts_emu_launcher<P...>{k, grid, threads};
}
#define TS_LAUNCH(kernel, blocks, threads) ts_emu_launch(kernel, (blocks), (threads))

/* threads of a block run from the last to thread 0: thread 0 receives the block's total */
inline double ts_emu_block_sum(double v) {
    static double acc = 0.0;
    acc += v;
    if (threadIdx.x != 0) return v;
    double total = acc;
    acc = 0.0;
    return total;
}

/* ---- runtime calls ---- */

inline const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorInvalidDevice: return "invalid device ordinal";
    case cudaErrorInsufficientDriver: return "CUDA driver version is insufficient for CUDA runtime version";
    default: return "unknown error";
    }
}
inline const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "cudaSuccess";
    case cudaErrorInvalidValue: return "cudaErrorInvalidValue";
    case cudaErrorMemoryAllocation: return "cudaErrorMemoryAllocation";
    case cudaErrorInvalidConfiguration: return "cudaErrorInvalidConfiguration";
    case cudaErrorNoDevice: return "cudaErrorNoDevice";
    case cudaErrorInvalidDevice: return "cudaErrorInvalidDevice";
    case cudaErrorInsufficientDriver: return "cudaErrorInsufficientDriver";
    default: return "cudaErrorUnknown";
    }
}
inline cudaError_t cudaGetLastError() {
    cudaError_t e = ts_emu.last;
    ts_emu.last = cudaSuccess;
    return e;
}

inline int ts_emu_device_count() {
    const char *v = getenv("CUDA_VISIBLE_DEVICES");
    return v && !*v ? 0 : 1;
}
inline cudaError_t cudaGetDeviceCount(int *n) {
    *n = 0;
    if (ts_emu_device_count() == 0) return ts_emu_set(cudaErrorNoDevice);
    *n = 1;
    return cudaSuccess;
}
inline cudaError_t cudaRuntimeGetVersion(int *v) {
    *v = 13000;
    return cudaSuccess;
}
inline cudaError_t cudaSetDevice(int d) {
    return d >= 0 && d < ts_emu_device_count() ? cudaSuccess : ts_emu_set(cudaErrorInvalidDevice);
}
inline cudaError_t cudaGetDeviceProperties(cudaDeviceProp *p, int d) {
    if (d != 0) return ts_emu_set(cudaErrorInvalidDevice);
    memset(p, 0, sizeof *p);
    snprintf(p->name, sizeof p->name, "CPU emulation");
    p->major = 8;
    p->minor = 0;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr a, int d) {
    (void)d;
    *v = a == cudaDevAttrClockRate ? 1000 : 1; /* one SM at 1 MHz: a CPU thread */
    return cudaSuccess;
}
inline cudaError_t cudaDeviceGetDefaultMemPool(cudaMemPool_t *p, int d) {
    (void)d;
    *p = nullptr;
    return cudaSuccess;
}
inline cudaError_t cudaMemPoolSetAttribute(cudaMemPool_t p, cudaMemPoolAttr a, void *v) {
    (void)p, (void)a, (void)v;
    return cudaSuccess;
}
inline cudaError_t cudaDeviceSynchronize() { return cudaSuccess; }

inline cudaError_t cudaMalloc(void **p, size_t bytes) {
    ts_emu_reserve();
    size_t page = 4096, n = (bytes + page - 1) / page * page;
    if (n == 0) n = page;
    char *q;
    auto reuse = ts_emu.spare.find(n); /* a freed block of the same size keeps the range compact */
    if (reuse != ts_emu.spare.end()) {
        q = (char *)reuse->second;
        ts_emu.spare.erase(reuse);
    } else {
        if (ts_emu.used + n > ts_emu.reserved) return ts_emu_set(cudaErrorMemoryAllocation);
        q = ts_emu.base + ts_emu.used;
        ts_emu.used += n;
        if (ts_emu.open && mprotect(q, n, PROT_READ | PROT_WRITE)) ts_emu_die("mprotect");
    }
    ts_emu.live[(uintptr_t)q] = bytes ? bytes : 1;
    *p = q;
    return cudaSuccess;
}
template <class T> inline cudaError_t cudaMalloc(T **p, size_t bytes) { return cudaMalloc((void **)p, bytes); }
inline cudaError_t cudaMallocAsync(void **p, size_t bytes, cudaStream_t s) {
    (void)s;
    return cudaMalloc(p, bytes);
}
inline cudaError_t cudaFree(void *p) {
    if (!p) return cudaSuccess; /* cudaFree(NULL): context creation, nothing to do */
    auto it = ts_emu.live.find((uintptr_t)p);
    if (it == ts_emu.live.end()) return ts_emu_set(cudaErrorInvalidValue);
    size_t page = 4096, n = (it->second + page - 1) / page * page;
    madvise(p, n, MADV_DONTNEED); /* give the memory back (it reads as zeros again); the addresses stay */
    ts_emu.live.erase(it);
    ts_emu.spare.insert({n, (uintptr_t)p});
    return cudaSuccess;
}
inline cudaError_t cudaFreeAsync(void *p, cudaStream_t s) {
    (void)s;
    return cudaFree(p);
}
inline cudaError_t cudaMallocHost(void **p, size_t bytes) {
    *p = malloc(bytes ? bytes : 1);
    return *p ? cudaSuccess : ts_emu_set(cudaErrorMemoryAllocation);
}
inline cudaError_t cudaFreeHost(void *p) {
    free(p);
    return cudaSuccess;
}

inline cudaError_t cudaMemsetAsync(void *p, int v, size_t bytes, cudaStream_t s) {
    (void)s;
    if (bytes && ts_emu_device_extent(p) < bytes) return ts_emu_set(cudaErrorInvalidValue);
    ts_emu_open();
    memset(p, v, bytes);
    ts_emu_close();
    return cudaSuccess;
}

inline cudaError_t cudaMemcpy(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind) {
    if (!bytes) return cudaSuccess;
    int dst_dev = ts_emu_device_extent(dst) >= bytes, src_dev = ts_emu_device_extent(src) >= bytes;
    int ok = (kind == cudaMemcpyHostToDevice && dst_dev && !ts_emu_device_extent(src)) ||
             (kind == cudaMemcpyDeviceToHost && src_dev && !ts_emu_device_extent(dst)) ||
             (kind == cudaMemcpyDeviceToDevice && src_dev && dst_dev) || kind == cudaMemcpyHostToHost;
    if (!ok) ts_emu_die("cudaMemcpy: the pointers do not match the direction (or overrun an allocation)");
    ts_emu_open();
    memmove(dst, src, bytes);
    ts_emu_close();
    return cudaSuccess;
}
inline cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t bytes, cudaMemcpyKind kind, cudaStream_t s) {
    (void)s;
    return cudaMemcpy(dst, src, bytes, kind);
}

/* ---- device functions the kernels use ---- */
inline void __syncthreads() {}

#endif
