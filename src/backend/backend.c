/* backend.c - the table of backends, looked up by name, and the choice of --backend cpu|cuda|auto. */
#include <stdio.h>
#include <string.h>

#include "tessera/backend.h"

#ifndef TS_HAVE_CUDA
/* A build without nvcc (or with CUDA=0): the CUDA entry points say so. */
int ts_cuda_built(void) { return 0; }
int ts_cuda_device_count(char *why, size_t n) {
    if (why && n) snprintf(why, n, "this build has no CUDA backend (no nvcc found, or built with CUDA=0)");
    return 0;
}
const ts_backend *ts_cuda_open(int device, ts_gpu_math math, char *why, size_t n) {
    (void)device;
    (void)math;
    ts_cuda_device_count(why, n);
    return NULL;
}
void ts_cuda_describe(char *buf, size_t n) {
    if (buf && n) buf[0] = 0;
}
static const ts_backend *cuda_bound(void) { return NULL; }
#else
const ts_backend *ts_cuda_bound_backend(void); /* cuda_core.cu: the table once a device is bound */
static const ts_backend *cuda_bound(void) { return ts_cuda_bound_backend(); }
#endif

const ts_backend *ts_backend_by_name(const char *name) {
    if (!name || strcmp(name, "cpu") == 0) return ts_backend_cpu();
    if (strcmp(name, "cuda") == 0) return cuda_bound();
    return NULL;
}

int ts_gpu_math_parse(const char *s, ts_gpu_math *out) {
    if (strcmp(s, "fp32") == 0) *out = TS_GPU_MATH_FP32;
    else if (strcmp(s, "tf32") == 0) *out = TS_GPU_MATH_TF32;
    else return -1;
    return 0;
}

int ts_backend_select(const char *name, int local_rank, ts_gpu_math math, ts_backend_choice *out) {
    memset(out, 0, sizeof *out);
    out->device = -1;
    int want_cuda = strcmp(name, "cuda") == 0, is_auto = strcmp(name, "auto") == 0;
    if (strcmp(name, "cpu") == 0) {
        out->be = ts_backend_cpu();
        return 0;
    }
    if (!want_cuda && !is_auto) {
        snprintf(out->why, sizeof out->why, "--backend must be cpu, cuda or auto, not \"%s\"", name);
        return -1;
    }
    char why[200] = "";
    int count = ts_cuda_device_count(why, sizeof why);
    out->device_count = count;
    if (count > 0) {
        int dev = (local_rank > 0 ? local_rank : 0) % count;
        const ts_backend *be = ts_cuda_open(dev, math, why, sizeof why);
        if (be) {
            out->be = be;
            out->device = dev;
            ts_cuda_describe(out->device_name, sizeof out->device_name);
            return 0;
        }
    }
    if (is_auto) {
        out->be = ts_backend_cpu();
        out->fell_back = 1;
        snprintf(out->why, sizeof out->why, "%s", why);
        return 0;
    }
    if (count > 0)
        snprintf(out->why, sizeof out->why, "--backend cuda: CUDA device %d (for node-local rank %d; %d visible) cannot "
                 "be used: %s", (local_rank > 0 ? local_rank : 0) % count, local_rank, count, why);
    else
        snprintf(out->why, sizeof out->why, "--backend cuda: no CUDA GPU found for node-local rank %d (%s)", local_rank,
                 why);
    return -1;
}
