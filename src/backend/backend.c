/* backend.c - the choice of --backend: the CPU, a device kind (devices.c) or auto; lookups by name. */
#include <stdio.h>
#include <string.h>

#include "tessera/backend.h"

const ts_backend *ts_backend_by_name(const char *name) {
    if (!name || strcmp(name, "cpu") == 0) return ts_backend_cpu();
    int k = ts_device_find(name);
    return k >= 0 ? ts_device_bound(k) : NULL;
}

const char *ts_backend_choices(void) {
    static char buf[256];
    if (!buf[0]) {
        size_t len = (size_t)snprintf(buf, sizeof buf, "cpu");
        for (int k = 0; k < ts_device_kinds() && len < sizeof buf; k++)
            len += (size_t)snprintf(buf + len, sizeof buf - len, "|%s", ts_device_kind_name(k));
        if (len < sizeof buf) snprintf(buf + len, sizeof buf - len, "|auto");
    }
    return buf;
}

int ts_gpu_math_parse(const char *s, ts_gpu_math *out) {
    if (strcmp(s, "fp32") == 0) *out = TS_GPU_MATH_FP32;
    else if (strcmp(s, "tf32") == 0) *out = TS_GPU_MATH_TF32;
    else return -1;
    return 0;
}

/* Binds device local_rank % (devices of kind k) when there is one; 0, or -1 with why and *count. */
static int try_kind(int k, int local_rank, ts_gpu_math math, ts_backend_choice *out, char *why, size_t n) {
    int count = ts_device_count(k, why, n);
    out->kind = ts_device_kind_label(k);
    out->device_count = count;
    if (count <= 0) return -1;
    int dev = (local_rank > 0 ? local_rank : 0) % count;
    const ts_backend *be = ts_device_open(k, dev, math, why, n);
    if (!be) return -1;
    out->be = be;
    out->device = dev;
    ts_device_describe(k, out->device_name, sizeof out->device_name);
    return 0;
}

int ts_backend_select(const char *name, int local_rank, ts_gpu_math math, ts_backend_choice *out) {
    memset(out, 0, sizeof *out);
    out->device = -1;
    if (strcmp(name, "cpu") == 0) {
        out->be = ts_backend_cpu();
        return 0;
    }
    char why[320] = "";
    if (strcmp(name, "auto") == 0) {
        for (int k = 0; k < ts_device_kinds(); k++)
            if (try_kind(k, local_rank, math, out, why, sizeof why) == 0) return 0;
        out->be = ts_backend_cpu();
        out->device = -1;
        out->fell_back = 1;
        snprintf(out->why, sizeof out->why, "%s", why);
        return 0;
    }
    int k = ts_device_find(name);
    if (k < 0) {
        snprintf(out->why, sizeof out->why, "--backend must be one of %s, not \"%s\"", ts_backend_choices(), name);
        return -1;
    }
    if (try_kind(k, local_rank, math, out, why, sizeof why) == 0) return 0;
    const char *label = ts_device_kind_label(k);
    int count = out->device_count;
    if (count > 0)
        snprintf(out->why, sizeof out->why, "--backend %s: %s device %d (for node-local rank %d; %d visible) cannot "
                 "be used: %s", name, label, (local_rank > 0 ? local_rank : 0) % count, local_rank, count, why);
    else if (!ts_device_built(k))
        snprintf(out->why, sizeof out->why, "--backend %s: %s", name, why);
    else
        snprintf(out->why, sizeof out->why, "--backend %s: no %s GPU found for node-local rank %d (%s)", name, label,
                 local_rank, why);
    return -1;
}
