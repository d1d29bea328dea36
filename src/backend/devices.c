/* devices.c - the device backends (GPU kinds) the program knows, each a plugin: a shared object
 * opened on first use (device_plugin.h). A new kind is its plugin's sources, their build rule in the
 * Makefile, and a row here.
 *
 * Where a kind's plugin is looked for, first found wins:
 *   $<env> (a path; when set, nothing else is tried),
 *   the binary's own path + <suffix> (bin/tessera -> bin/tessera-cuda.so, installed by make),
 *   the build folder's copy (for the test programs in build/; the Makefile defines its path).
 * A build without the kind's compiler defines no build path and installs no object. */
#include <dlfcn.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device_plugin.h"
#include "tessera/backend.h"
#include "tessera/check.h"

#ifndef TS_CUDA_PLUGIN_PATH
#define TS_CUDA_PLUGIN_PATH NULL
#endif

typedef struct {
    const char *name;       /* --backend NAME */
    const char *label;      /* in messages: "CUDA device 0", "no CUDA GPU" */
    const char *env;        /* the variable that names the plugin's file */
    const char *suffix;     /* appended to the binary's path */
    const char *build_path; /* the build folder's copy, or NULL */
    const char *no_build;   /* why a build has none */
} device_kind;

static const device_kind KINDS[] = {
    {"cuda", "CUDA", "TESSERA_CUDA_PLUGIN", "-cuda.so", TS_CUDA_PLUGIN_PATH, "no nvcc found, or built with CUDA=0"},
};
#define NKINDS ((int)(sizeof KINDS / sizeof KINDS[0]))

static struct {
    int tried;
    const ts_device_plugin_api *api;
    char why[320]; /* why there is none */
} plugins[NKINDS];

int ts_device_kinds(void) { return NKINDS; }
const char *ts_device_kind_name(int k) { return KINDS[k].name; }
const char *ts_device_kind_label(int k) { return KINDS[k].label; }

int ts_device_find(const char *name) {
    for (int k = 0; k < NKINDS; k++)
        if (strcmp(KINDS[k].name, name) == 0) return k;
    return -1;
}

static void try_open(int k, const char *path, int *found) {
    if (plugins[k].api || access(path, F_OK) != 0) return;
    *found = 1;
    void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
    if (!h) {
        snprintf(plugins[k].why, sizeof plugins[k].why, "the %s backend cannot be loaded: %s", KINDS[k].label,
                 dlerror());
        return;
    }
    ts_device_plugin_init_fn init = (ts_device_plugin_init_fn)dlsym(h, TS_DEVICE_PLUGIN_SYMBOL);
    static const ts_device_plugin_host host = {TS_DEVICE_PLUGIN_VERSION, sizeof(ts_backend), ts_fatal_at};
    const ts_device_plugin_api *api = init ? init(&host) : NULL;
    if (!api || api->version != TS_DEVICE_PLUGIN_VERSION || api->backend_size != sizeof(ts_backend) ||
        strcmp(api->kind, KINDS[k].name) != 0) {
        snprintf(plugins[k].why, sizeof plugins[k].why, "%s is not a %s backend of this build of tessera (rebuild with make)",
                 path, KINDS[k].label);
        dlclose(h);
        return;
    }
    plugins[k].api = api; /* kept open for the life of the process */
}

static const ts_device_plugin_api *load(int k) {
    if (plugins[k].tried) return plugins[k].api;
    plugins[k].tried = 1;
    const device_kind *d = &KINDS[k];
    int found = 0;
    const char *env = getenv(d->env);
    if (env && *env) {
        try_open(k, env, &found);
        if (!found) snprintf(plugins[k].why, sizeof plugins[k].why, "%s=%s: no such file", d->env, env);
        return plugins[k].api;
    }
    char exe[PATH_MAX];
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 32);
    if (n > 0) {
        exe[n] = 0;
        strcat(exe, d->suffix);
        try_open(k, exe, &found);
    }
    if (d->build_path) try_open(k, d->build_path, &found);
    if (!found)
        snprintf(plugins[k].why, sizeof plugins[k].why, "this build has no %s backend (%s)", d->label, d->no_build);
    return plugins[k].api;
}

int ts_device_built(int k) { return load(k) != NULL; }

int ts_device_count(int k, char *why, size_t n) {
    if (!load(k)) {
        if (why && n) snprintf(why, n, "%s", plugins[k].why);
        return 0;
    }
    return plugins[k].api->device_count(why, n);
}

const ts_backend *ts_device_open(int k, int device, ts_gpu_math math, char *why, size_t n) {
    if (!load(k)) {
        if (why && n) snprintf(why, n, "%s", plugins[k].why);
        return NULL;
    }
    return plugins[k].api->open(device, math, why, n);
}

void ts_device_describe(int k, char *buf, size_t n) {
    if (!buf || !n) return;
    buf[0] = 0;
    if (plugins[k].api) plugins[k].api->describe(buf, n);
}

const ts_backend *ts_device_bound(int k) { return plugins[k].api ? plugins[k].api->bound() : NULL; }
