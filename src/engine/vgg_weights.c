/* vgg_weights.c - VGG conv weights from a safetensors file or the seeded random stand-in. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/rng.h"
#include "tessera/vgg.h"

static int conv_feature_index(ts_arch arch, int conv) {
    const ts_layer_desc *t;
    int n = ts_vgg_table(arch, &t);
    for (int i = 0; i < n; i++)
        if (t[i].conv == conv) return t[i].feature_index;
    return -1;
}

static int arch_nconv(ts_arch arch) { return arch == TS_VGG16 ? 13 : 16; }

int ts_vgg_weights_from_safetensors(const ts_safetensors *st, const char *path, ts_arch arch, int nconv,
                                    ts_vgg_weights *out, ts_err *err) {
    memset(out, 0, sizeof *out);
    if (nconv < 1 || nconv > arch_nconv(arch)) return ts_fail(err, "%s: bad conv count %d", path, nconv);
    out->arch = arch;
    const char *pp = ts_safetensors_meta(st, "preprocessing");
    if (!pp || strcmp(pp, "torchvision") == 0) out->preproc = TS_PREPROC_TORCHVISION;
    else if (strcmp(pp, "caffe") == 0) out->preproc = TS_PREPROC_CAFFE;
    else return ts_fail(err, "%s: unknown preprocessing \"%s\" in metadata (torchvision or caffe)", path, pp);
    int prev = 3;
    for (int j = 0; j < nconv; j++) {
        char wname[64], bname[64];
        int fi = conv_feature_index(arch, j);
        snprintf(wname, sizeof wname, "features.%d.weight", fi);
        snprintf(bname, sizeof bname, "features.%d.bias", fi);
        const ts_st_tensor *w = ts_safetensors_find(st, wname), *b = ts_safetensors_find(st, bname);
        if (!w || !b) {
            ts_vgg_weights_free(out);
            return ts_fail(err, "%s: missing tensor %s for %s conv %d (is this a %s file?)", path,
                           w ? bname : wname, ts_arch_name(arch), j + 1, ts_arch_name(arch));
        }
        if (w->ndim != 4 || w->shape[2] != 3 || w->shape[3] != 3 || w->shape[0] < 1 || w->shape[0] > 4096 ||
            w->shape[1] != prev) {
            ts_vgg_weights_free(out);
            return ts_fail(err, "%s: %s has shape [%lld,%lld,%lld,%lld]; expected [K,%d,3,3]", path, wname,
                           (long long)w->shape[0], w->ndim > 1 ? (long long)w->shape[1] : -1LL,
                           w->ndim > 2 ? (long long)w->shape[2] : -1LL,
                           w->ndim > 3 ? (long long)w->shape[3] : -1LL, prev);
        }
        if (b->ndim != 1 || b->shape[0] != w->shape[0]) {
            ts_vgg_weights_free(out);
            return ts_fail(err, "%s: %s must have shape [%lld]", path, bname, (long long)w->shape[0]);
        }
        int K = (int)w->shape[0];
        out->in_c[j] = prev;
        out->out_c[j] = K;
        out->w[j] = ts_malloc(sizeof(float) * w->numel);
        memcpy(out->w[j], w->data, sizeof(float) * w->numel);
        out->b[j] = ts_malloc(sizeof(float) * (size_t)K);
        memcpy(out->b[j], b->data, sizeof(float) * (size_t)K);
        out->nconv = j + 1;
        prev = K;
    }
    snprintf(out->source, sizeof out->source, "%s", path);
    return 0;
}

int ts_vgg_weights_load(const char *path, ts_arch arch, int nconv, ts_vgg_weights *out, ts_err *err) {
    ts_safetensors st;
    if (ts_safetensors_load(path, &st, err) != 0) return -1;
    int rc = ts_vgg_weights_from_safetensors(&st, path, arch, nconv, out, err);
    ts_safetensors_free(&st);
    return rc;
}

void ts_vgg_weights_random(ts_arch arch, uint64_t seed, int nconv, ts_vgg_weights *out) {
    static const int widths[5] = {64, 128, 256, 512, 512};
    memset(out, 0, sizeof *out);
    out->arch = arch;
    out->preproc = TS_PREPROC_TORCHVISION;
    out->is_random = 1;
    snprintf(out->source, sizeof out->source, "random:%llu", (unsigned long long)seed);
    const ts_layer_desc *t;
    int n = ts_vgg_table(arch, &t), prev = 3, block = 0;
    for (int i = 0; i < n && out->nconv < nconv; i++) {
        if (t[i].kind == TS_LAYER_POOL) block++;
        if (t[i].kind != TS_LAYER_CONV) continue;
        int j = t[i].conv, K = widths[block];
        size_t nw = (size_t)K * prev * 9;
        uint64_t s = seed * 0x100000001B3ull + (uint64_t)j * 0x9E3779B97F4A7C15ull;
        double std = sqrt(2.0 / (9.0 * K)); /* Kaiming normal, fan-out, ReLU gain */
        out->in_c[j] = prev;
        out->out_c[j] = K;
        out->w[j] = ts_malloc(sizeof(float) * nw);
        out->b[j] = ts_calloc((size_t)K, sizeof(float));
        for (size_t q = 0; q < nw; q += 2) {
            double u1 = ts_rng_uniform(&s), u2 = ts_rng_uniform(&s), r = sqrt(-2.0 * log(u1));
            out->w[j][q] = (float)(std * r * cos(2.0 * M_PI * u2));
            if (q + 1 < nw) out->w[j][q + 1] = (float)(std * r * sin(2.0 * M_PI * u2));
        }
        out->nconv = j + 1;
        prev = K;
    }
}

void ts_vgg_weights_free(ts_vgg_weights *wt) {
    for (int j = 0; j < TS_VGG_MAX_CONVS; j++) {
        free(wt->w[j]);
        free(wt->b[j]);
        wt->w[j] = wt->b[j] = NULL;
    }
    wt->nconv = 0;
}
