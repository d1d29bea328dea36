/* cuda_plugin.h - how the program loads its CUDA backend.
 *
 * The CUDA backend is a shared object (libtessera-cuda.so, installed as bin/tessera-cuda.so beside the
 * binary) that backend.c opens with dlopen the first time a CUDA device is asked for. The program
 * itself is not linked with the CUDA libraries, so a CPU run neither loads cuBLAS (whose start-up
 * costs 0.16 s) nor needs CUDA installed, and CPU-only nodes run the same binary.
 *
 * The object exports one symbol, ts_cuda_plugin_init: given the host's services (its fatal-error
 * function, which prints "[rank r] file:line: ..." and aborts every rank) it returns its entry
 * points. Both sides are built from the same headers; the version and sizeof(ts_backend) guard
 * against mixing objects of different builds. */
#ifndef TESSERA_CUDA_PLUGIN_H
#define TESSERA_CUDA_PLUGIN_H

#include <stddef.h>

#include "tessera/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_CUDA_PLUGIN_VERSION 3
#define TS_CUDA_PLUGIN_SYMBOL "ts_cuda_plugin_init"

typedef struct {
    int version;
    size_t backend_size; /* sizeof(ts_backend) */
    void (*fatal)(const char *file, int line, const char *fmt, ...);
} ts_cuda_plugin_host;

typedef struct {
    int version;
    size_t backend_size;
    int (*device_count)(char *why, size_t n);
    const ts_backend *(*open)(int device, ts_gpu_math math, char *why, size_t n);
    void (*describe)(char *buf, size_t n);
    const ts_backend *(*bound)(void); /* the op table once a device is bound, else NULL */
} ts_cuda_plugin_api;

typedef const ts_cuda_plugin_api *(*ts_cuda_plugin_init_fn)(const ts_cuda_plugin_host *host);

#ifdef __cplusplus
}
#endif

#endif
