/* backend.c - the table of backends, looked up by name; the choice of --backend cpu|cuda|auto; and
 * the loading of the CUDA backend, a shared object opened on first use (cuda_plugin.h).
 *
 * Where the CUDA backend is looked for, first found wins:
 *   $TESSERA_CUDA_PLUGIN (a path; when set, nothing else is tried),
 *   the binary's own path + "-cuda.so" (bin/tessera -> bin/tessera-cuda.so, installed by make),
 *   the build folder's libtessera-cuda.so (TS_CUDA_PLUGIN_PATH, for the test programs in build/).
 * A build without nvcc (or with CUDA=0) defines no TS_CUDA_PLUGIN_PATH and installs no object. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cuda_plugin.h"
#include "tessera/backend.h"
#include "tessera/check.h"

static struct {
    int tried;
    const ts_cuda_plugin_api *api;
    char why[320]; /* why there is none */
} plugin;

static void try_open(const char *path, int *found) {
    if (plugin.api || access(path, F_OK) != 0) return;
    *found = 1;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(plugin.why, sizeof plugin.why, "the CUDA backend cannot be loaded: %s", dlerror());
        return;
    }
    ts_cuda_plugin_init_fn init = (ts_cuda_plugin_init_fn)dlsym(h, TS_CUDA_PLUGIN_SYMBOL);
    static const ts_cuda_plugin_host host = {TS_CUDA_PLUGIN_VERSION, sizeof(ts_backend), ts_fatal_at};
    const ts_cuda_plugin_api *api = init ? init(&host) : NULL;
    if (!api || api->version != TS_CUDA_PLUGIN_VERSION || api->backend_size != sizeof(ts_backend)) {
        snprintf(plugin.why, sizeof plugin.why, "%s is not a CUDA backend of this build of tessera (rebuild with make)",
                 path);
        dlclose(h);
        return;
    }
    plugin.api = api; /* kept open for the life of the process */
}

static const ts_cuda_plugin_api *load(void) {
    if (plugin.tried) return plugin.api;
    plugin.tried = 1;
    int found = 0;
    const char *env = getenv("TESSERA_CUDA_PLUGIN");
    if (env && *env) {
        try_open(env, &found);
        if (!found) snprintf(plugin.why, sizeof plugin.why, "TESSERA_CUDA_PLUGIN=%s: no such file", env);
        return plugin.api;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 16);
    if (n > 0) {
        exe[n] = 0;
        strcat(exe, "-cuda.so");
        try_open(exe, &found);
    }
#ifdef TS_CUDA_PLUGIN_PATH
    try_open(TS_CUDA_PLUGIN_PATH, &found);
#endif
    if (!found)
        snprintf(plugin.why, sizeof plugin.why, "this build has no CUDA backend (no nvcc found, or built with CUDA=0)");
    return plugin.api;
}

int ts_cuda_built(void) { return load() != NULL; }

int ts_cuda_device_count(char *why, size_t n) {
    if (!load()) {
        if (why && n) snprintf(why, n, "%s", plugin.why);
        return 0;
    }
    return plugin.api->device_count(why, n);
}

const ts_backend *ts_cuda_open(int device, ts_gpu_math math, char *why, size_t n) {
    if (!load()) {
        if (why && n) snprintf(why, n, "%s", plugin.why);
        return NULL;
    }
    return plugin.api->open(device, math, why, n);
}

void ts_cuda_describe(char *buf, size_t n) {
    if (!buf || !n) return;
    buf[0] = 0;
    if (plugin.api) plugin.api->describe(buf, n);
}

const ts_backend *ts_backend_by_name(const char *name) {
    if (!name || strcmp(name, "cpu") == 0) return ts_backend_cpu();
    if (strcmp(name, "cuda") == 0) return plugin.api ? plugin.api->bound() : NULL;
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
    char why[320] = "";
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
    else if (!plugin.api)
        snprintf(out->why, sizeof out->why, "--backend cuda: %s", why);
    else
        snprintf(out->why, sizeof out->why, "--backend cuda: no CUDA GPU found for node-local rank %d (%s)", local_rank,
                 why);
    return -1;
}
