/* device_plugin.h - how the program loads a device backend (a GPU kind: CUDA today).
 *
 * A device backend is a shared object (for CUDA libtessera-cuda.so, installed as bin/tessera-cuda.so
 * beside the binary) that devices.c opens with dlopen the first time a device of its kind is asked
 * for. The program itself is not linked with the device libraries, so a CPU run neither loads them
 * (cuBLAS's start-up costs 0.16 s) nor needs them installed, and CPU-only nodes run the same binary.
 *
 * The object exports one symbol, ts_device_plugin_init: given the host's services (its fatal-error
 * function, which prints "[rank r] file:line: ..." and aborts every rank) it returns its entry
 * points. Both sides are built from the same headers; the version and sizeof(ts_backend) guard
 * against mixing objects of different builds. The kinds the program knows are the rows of devices.c. */
#ifndef TESSERA_DEVICE_PLUGIN_H
#define TESSERA_DEVICE_PLUGIN_H

#include <stddef.h>

#include "tessera/backend.h"

#ifdef __cplusplus
extern "C" {
#endif

#define TS_DEVICE_PLUGIN_VERSION 5
#define TS_DEVICE_PLUGIN_SYMBOL "ts_device_plugin_init"

typedef struct {
    int version;
    size_t backend_size; /* sizeof(ts_backend) */
    void (*fatal)(const char *file, int line, const char *fmt, ...);
} ts_device_plugin_host;

typedef struct {
    int version;
    size_t backend_size;
    const char *kind; /* the row it answers to: "cuda" */
    int (*device_count)(char *why, size_t n);
    const ts_backend *(*open)(int device, ts_gpu_math math, char *why, size_t n);
    void (*describe)(char *buf, size_t n);
    const ts_backend *(*bound)(void); /* the op table once a device is bound, else NULL */
} ts_device_plugin_api;

typedef const ts_device_plugin_api *(*ts_device_plugin_init_fn)(const ts_device_plugin_host *host);

#ifdef __cplusplus
}
#endif

#endif
