/* vgg.c - the VGG layer tables and the network's forward and backward-to-input passes. */
#include "tessera/vgg.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static ts_layer_desc g_tables[2][TS_VGG_MAX_LAYERS];
static int g_counts[2];

static void build_table(ts_arch arch, ts_layer_desc *t, int *count) {
    static const int vgg16_blocks[5] = {2, 2, 3, 3, 3}, vgg19_blocks[5] = {2, 2, 4, 4, 4};
    const int *blocks = arch == TS_VGG16 ? vgg16_blocks : vgg19_blocks;
    int n = 0, fi = 0, conv = 0;
    for (int b = 0; b < 5; b++) {
        for (int i = 0; i < blocks[b]; i++) {
            t[n] = (ts_layer_desc){TS_LAYER_CONV, "", fi++, conv++};
            snprintf(t[n].name, sizeof t[n].name, "conv%d_%d", b + 1, i + 1);
            n++;
            t[n] = (ts_layer_desc){TS_LAYER_RELU, "", fi++, -1};
            snprintf(t[n].name, sizeof t[n].name, "relu%d_%d", b + 1, i + 1);
            n++;
        }
        t[n] = (ts_layer_desc){TS_LAYER_POOL, "", fi++, -1};
        snprintf(t[n].name, sizeof t[n].name, "pool%d", b + 1);
        n++;
    }
    *count = n;
}

int ts_vgg_table(ts_arch arch, const ts_layer_desc **layers) {
    int k = arch == TS_VGG16 ? 0 : 1;
    if (!g_counts[k]) build_table(arch, g_tables[k], &g_counts[k]);
    *layers = g_tables[k];
    return g_counts[k];
}

int ts_vgg_find(ts_arch arch, const char *name) {
    const ts_layer_desc *t;
    int n = ts_vgg_table(arch, &t);
    for (int i = 0; i < n; i++)
        if (strcmp(t[i].name, name) == 0) return i;
    return -1;
}

int ts_vgg_layer_level(ts_arch arch, int l) {
    const ts_layer_desc *t;
    ts_vgg_table(arch, &t);
    int k = 0;
    for (int i = 0; i <= l; i++) k += t[i].kind == TS_LAYER_POOL;
    return k;
}

int ts_vgg_layer_stride(ts_arch arch, int l) { return 1 << ts_vgg_layer_level(arch, l); }

int ts_vgg_margin(ts_arch arch, int l) {
    const ts_layer_desc *t;
    ts_vgg_table(arch, &t);
    int s = 1, m = 0;
    for (int i = 0; i <= l; i++) {
        if (t[i].kind == TS_LAYER_CONV) m += s;
        if (t[i].kind == TS_LAYER_POOL) s *= 2;
    }
    return m;
}

const char *ts_arch_name(ts_arch arch) { return arch == TS_VGG16 ? "vgg16" : "vgg19"; }

int ts_arch_parse(const char *s, ts_arch *out) {
    if (strcmp(s, "vgg16") == 0) *out = TS_VGG16;
    else if (strcmp(s, "vgg19") == 0) *out = TS_VGG19;
    else return -1;
    return 0;
}

const char *ts_preproc_name(ts_preproc p) { return p == TS_PREPROC_CAFFE ? "caffe" : "torchvision"; }

void ts_preproc_affine(ts_preproc p, float scale[3], float shift[3], int src[3]) {
    if (p == TS_PREPROC_CAFFE) {
        static const float mean_bgr[3] = {103.939f, 116.779f, 123.68f};
        for (int c = 0; c < 3; c++) {
            src[c] = 2 - c; /* network channel 0 is blue */
            scale[c] = 255.0f;
            shift[c] = -mean_bgr[c];
        }
    } else {
        static const float mean[3] = {0.485f, 0.456f, 0.406f}, std[3] = {0.229f, 0.224f, 0.225f};
        for (int c = 0; c < 3; c++) {
            src[c] = c;
            scale[c] = 1.0f / std[c];
            shift[c] = -mean[c] / std[c];
        }
    }
}

void ts_vgg_init(ts_vgg *net, const ts_backend *be, const ts_vgg_weights *wt, ts_pool_kind pool,
                 ts_preproc preproc, int deepest, const int *keep) {
    memset(net, 0, sizeof *net);
    const ts_layer_desc *t;
    int n = ts_vgg_table(wt->arch, &t);
    TS_CHECK(deepest >= 0 && deepest < n, "layer index %d out of range", deepest);
    net->be = be;
    net->arch = wt->arch;
    net->pool = pool;
    net->preproc = preproc;
    net->nlayers = deepest + 1;
    for (int i = 0; i < net->nlayers; i++) {
        net->layers[i].kind = t[i].kind;
        net->layers[i].name = t[i].name;
        net->layers[i].conv = t[i].conv;
        net->keep[i] = keep ? keep[i] : 0;
        if (t[i].kind == TS_LAYER_CONV) {
            int j = t[i].conv;
            TS_CHECK(j < wt->nconv, "weights hold %d convs, %s needs more", wt->nconv, t[i].name);
            size_t nw = (size_t)wt->out_c[j] * wt->in_c[j] * 9;
            net->w[j] = be->alloc(nw);
            net->b[j] = be->alloc((size_t)wt->out_c[j]);
            be->upload(net->w[j], wt->w[j], nw);
            be->upload(net->b[j], wt->b[j], (size_t)wt->out_c[j]);
        }
    }
    /* channel counts follow from the weights */
    int c = 3;
    for (int i = 0; i < net->nlayers; i++) {
        ts_layer *L = &net->layers[i];
        L->in_c = c;
        if (L->kind == TS_LAYER_CONV) {
            TS_CHECK(wt->in_c[L->conv] == c, "conv %s expects %d input channels, gets %d", L->name,
                     wt->in_c[L->conv], c);
            c = wt->out_c[L->conv];
        }
        L->out_c = c;
    }
    ts_vgg_set_conv(net, TS_CONV_AUTO);
}

static void free_buffers(ts_vgg *net) {
    const ts_backend *be = net->be;
    for (int i = 0; i < net->nlayers; i++) {
        if (net->layers[i].owns_out) be->free(net->layers[i].out);
        net->layers[i].out = NULL;
        net->layers[i].owns_out = 0;
    }
    if (net->input) be->free(net->input);
    for (int k = 0; k < 2; k++)
        if (net->scratch[k]) be->free(net->scratch[k]);
    net->input = net->scratch[0] = net->scratch[1] = NULL;
    net->H = net->W = 0;
}

size_t ts_vgg_set_conv(ts_vgg *net, ts_conv_algo algo) {
    const ts_backend *be = net->be;
    size_t bytes = 0;
    for (int i = 0; i < net->nlayers; i++) {
        const ts_layer *L = &net->layers[i];
        if (L->kind != TS_LAYER_CONV) continue;
        int j = L->conv;
        if (net->prepared[j]) be->conv3x3_release(net->prepared[j]);
        net->prepared[j] = NULL;
        int fast = algo == TS_CONV_FAST || (algo == TS_CONV_AUTO && L->in_c >= 16 && L->out_c >= 16);
        if (fast && be->conv3x3_prepare) {
            /* the host copy is what the plan is made from */
            size_t nw = (size_t)L->out_c * L->in_c * 9;
            float *host = ts_malloc(sizeof(float) * nw);
            be->download(host, net->w[j], nw);
            net->prepared[j] = be->conv3x3_prepare(host, L->in_c, L->out_c);
            free(host);
            bytes += be->conv3x3_prepared_bytes(net->prepared[j]);
        }
    }
    return bytes;
}

int ts_conv_algo_parse(const char *s, ts_conv_algo *out) {
    if (strcmp(s, "auto") == 0) *out = TS_CONV_AUTO;
    else if (strcmp(s, "im2col") == 0) *out = TS_CONV_DIRECT;
    else if (strcmp(s, "winograd") == 0) *out = TS_CONV_FAST;
    else return -1;
    return 0;
}

void ts_vgg_free(ts_vgg *net) {
    for (int j = 0; j < TS_VGG_MAX_CONVS; j++)
        if (net->prepared[j]) net->be->conv3x3_release(net->prepared[j]);
    free_buffers(net);
    for (int j = 0; j < TS_VGG_MAX_CONVS; j++) {
        if (net->w[j]) net->be->free(net->w[j]);
        if (net->b[j]) net->be->free(net->b[j]);
    }
    memset(net, 0, sizeof *net);
}

/* Shapes and buffers for an H x W input; ReLU works in place unless its input is read by a loss. */
static void resize(ts_vgg *net, int H, int W) {
    if (net->H == H && net->W == W) return;
    free_buffers(net);
    const ts_backend *be = net->be;
    const ts_vgg_layout *lay = net->layered ? &net->layout : NULL;
    TS_CHECK(!lay || (lay->h[0] == H && lay->w[0] == W), "input %dx%d does not match the layout's %dx%d", W, H,
             lay ? lay->w[0] : 0, lay ? lay->h[0] : 0);
    int h = H, w = W, level = 0;
    size_t maxn = ts_numel(3, H, W);
    for (int i = 0; i < net->nlayers; i++) {
        ts_layer *L = &net->layers[i];
        L->in_h = h;
        L->in_w = w;
        if (L->kind == TS_LAYER_POOL && lay) {
            TS_CHECK(level < 4, "layer %s: no layout level %d", L->name, level + 1);
            const ts_rect *a = &lay->inner[level], *b = &lay->inner[level + 1];
            TS_CHECK(a->h / 2 == b->h && a->w / 2 == b->w, "layer %s: inner %dx%d does not pool onto %dx%d", L->name,
                     a->w, a->h, b->w, b->h);
            level++;
            h = lay->h[level];
            w = lay->w[level];
        } else if (L->kind == TS_LAYER_POOL) {
            h /= 2;
            w /= 2;
        }
        TS_CHECK(h >= 1 && w >= 1, "input %dx%d is too small for layer %s", W, H, L->name);
        L->out_h = h;
        L->out_w = w;
        size_t n = ts_numel(L->out_c, h, w);
        if (ts_numel(L->in_c, L->in_h, L->in_w) > maxn) maxn = ts_numel(L->in_c, L->in_h, L->in_w);
        if (n > maxn) maxn = n;
        if (L->kind == TS_LAYER_RELU && i > 0 && !net->keep[i - 1]) {
            L->out = net->layers[i - 1].out;
            L->owns_out = 0;
        } else {
            L->out = be->alloc(n);
            L->owns_out = 1;
        }
    }
    net->input = be->alloc(ts_numel(3, H, W));
    net->scratch[0] = be->alloc(maxn);
    net->scratch[1] = be->alloc(maxn);
    net->scratch_n = maxn;
    net->H = H;
    net->W = W;
}

void ts_vgg_set_layout(ts_vgg *net, const ts_vgg_layout *layout) {
    free_buffers(net);
    net->layered = layout != NULL;
    if (layout) net->layout = *layout;
}

/* where layer L pools: the whole input, or (tiled) the inner region of layout level k onto that of k + 1,
 * the rings around them zero */
static ts_pool_shape pool_shape(const ts_vgg *net, const ts_layer *L, int k) {
    if (!net->layered) return ts_pool_whole(L->in_h, L->in_w);
    const ts_rect *a = &net->layout.inner[k], *b = &net->layout.inner[k + 1];
    ts_pool_shape s = {L->in_h, L->in_w, a->y, a->x, a->h, a->w, L->out_h, L->out_w, b->y, b->x};
    return s;
}

/* layout level (log2 of the stride) of each layer's input */
static void input_levels(const ts_vgg *net, int *level) {
    int k = 0;
    for (int i = 0; i < net->nlayers; i++) {
        level[i] = k;
        if (net->layers[i].kind == TS_LAYER_POOL) k++;
    }
}

static void conv_rect(const ts_vgg *net, const ts_layer *L, const float *in, int y, int x, int h, int w) {
    if (h <= 0 || w <= 0) return;
    net->be->conv3x3_forward_rect(in, L->in_c, L->in_h, L->in_w, net->w[L->conv], net->b[L->conv], L->out_c,
                                  net->prepared[L->conv], y, x, h, w, L->out);
}

/* Width of the band beside a ring on the low (lo) and high (hi) side of an owned span of n positions:
 * at least 1 where there is a ring (the 3x3 window reaches one position out), 4 on the low side
 * and 1..4 on the high side so the span between is a whole number of Winograd's 4-position tiles
 * (the pieces then cost the tiles of the whole span). 0 where there is no ring. Returns 0 when the
 * bands would be more than 1/16 of the span: each piece reads all the transformed weights again,
 * which at the deep layers (512 x 512 weights, few tiles) cost more than the overlap saves
 * (measured: a one-tile band beside 60 positions +13-17%, beside 28 +27%, beside 124 about 0-4%). */
static int bands(int n, int lo, int hi, int *blo, int *bhi) {
    *blo = lo ? 4 : 0;
    int rest = n - *blo;
    *bhi = hi && rest > 0 ? (rest - 1) % 4 + 1 : 0;
    int inner = rest - *bhi;
    return inner > 0 && inner >= 16 * (*blo + *bhi);
}

/* conv i of a layered network over the owned part r of its input: the ring comes from the
 * neighbours (the image's ring came with x). Where the backend computes a rect alone, the interior
 * (whose windows stay inside r) is convolved while the ring travels, then the bands beside it. */
static void conv_layered(ts_vgg *net, int i, const float *in, const ts_rect *r) {
    const ts_layer *L = &net->layers[i];
    if (i == 0) {
        conv_rect(net, L, in, r->y, r->x, r->h, r->w);
        return;
    }
    float *t = (float *)in;
    int top, bot, left, right;
    int split = net->layout.overlap && net->be->conv_rect_windowed && net->prepared[L->conv] &&
                bands(r->h, r->y > 0, r->y + r->h < L->in_h, &top, &bot) &&
                bands(r->w, r->x > 0, r->x + r->w < L->in_w, &left, &right);
    net->layout.halo(net->layout.ctx, i, t, L->in_c, L->in_h, L->in_w, TS_HALO_FILL_BEGIN);
    int y1 = r->y + r->h, x1 = r->x + r->w;
    if (split) conv_rect(net, L, in, r->y + top, r->x + left, r->h - top - bot, r->w - left - right);
    net->layout.halo(net->layout.ctx, i, t, L->in_c, L->in_h, L->in_w, TS_HALO_FILL_END);
    if (!split) {
        conv_rect(net, L, in, r->y, r->x, r->h, r->w);
        return;
    }
    conv_rect(net, L, in, r->y, r->x, top, r->w);     /* top band, full width */
    conv_rect(net, L, in, y1 - bot, r->x, bot, r->w); /* bottom band */
    conv_rect(net, L, in, r->y + top, r->x, r->h - top - bot, left);       /* left, between them */
    conv_rect(net, L, in, r->y + top, x1 - right, r->h - top - bot, right); /* right */
}

void ts_vgg_forward(ts_vgg *net, const float *x, int H, int W) {
    const ts_backend *be = net->be;
    resize(net, H, W);
    float scale[3], shift[3];
    int src[3];
    size_t HW = (size_t)H * W;
    ts_preproc_affine(net->preproc, scale, shift, src);
    for (int c = 0; c < 3; c++) {
        be->fill(shift[c], net->input + c * HW, HW);
        be->axpy(scale[c], x + src[c] * HW, net->input + c * HW, HW);
    }
    const float *in = net->input;
    int level[TS_VGG_MAX_LAYERS];
    input_levels(net, level);
    for (int i = 0; i < net->nlayers; i++) {
        ts_layer *L = &net->layers[i];
        size_t n = ts_numel(L->out_c, L->out_h, L->out_w);
        switch (L->kind) {
        case TS_LAYER_CONV:
            if (net->layered) { /* outputs on the ring are never read (the ring is refilled first) */
                conv_layered(net, i, in, &net->layout.inner[level[i]]);
            } else {
                be->conv3x3_forward(in, L->in_c, L->in_h, L->in_w, net->w[L->conv], net->b[L->conv], L->out_c,
                                    net->prepared[L->conv], L->out);
            }
            break;
        case TS_LAYER_RELU: be->relu_forward(in, L->out, n); break;
        case TS_LAYER_POOL: {
            ts_pool_shape ps = pool_shape(net, L, level[i]);
            be->pool_forward(net->pool, in, L->in_c, &ps, L->out);
            break;
        }
        }
        in = L->out;
    }
}

void ts_vgg_backward(ts_vgg *net, ts_vgg_inject_fn inject, void *ctx, float *dx) {
    const ts_backend *be = net->be;
    int top = net->nlayers - 1;
    float *g = net->scratch[0], *other = net->scratch[1];
    be->fill(0.0f, g, ts_numel(net->layers[top].out_c, net->layers[top].out_h, net->layers[top].out_w));
    int level[TS_VGG_MAX_LAYERS];
    input_levels(net, level);
    int returning = -1; /* the conv whose input gradient (now g) has its ring on the way to the neighbours */
    for (int i = top; i >= 0; i--) {
        ts_layer *L = &net->layers[i];
        if (inject) inject(ctx, i, g);
        if (returning >= 0) { /* the losses added theirs to g, now the neighbours' */
            const ts_layer *R = &net->layers[returning];
            net->layout.halo(net->layout.ctx, returning, g, R->in_c, R->in_h, R->in_w, TS_HALO_RETURN_END);
            returning = -1;
        }
        const float *in = i > 0 ? net->layers[i - 1].out : net->input;
        switch (L->kind) {
        case TS_LAYER_CONV:
            be->conv3x3_backward_input(g, L->out_c, L->in_h, L->in_w, net->w[L->conv], L->in_c, net->prepared[L->conv],
                                       other);
            /* what reached the input's ring belongs to the neighbours (the image's: to the caller) */
            if (net->layered && i > 0) {
                net->layout.halo(net->layout.ctx, i, other, L->in_c, L->in_h, L->in_w, TS_HALO_RETURN_BEGIN);
                if (net->layout.overlap) returning = i;
                else net->layout.halo(net->layout.ctx, i, other, L->in_c, L->in_h, L->in_w, TS_HALO_RETURN_END);
            }
            break;
        case TS_LAYER_RELU:
            be->relu_backward(L->out, g, g, ts_numel(L->out_c, L->out_h, L->out_w));
            continue; /* in place: g stays the current buffer */
        case TS_LAYER_POOL: {
            ts_pool_shape ps = pool_shape(net, L, level[i]);
            be->pool_backward(net->pool, in, L->out, g, L->in_c, &ps, other);
            break;
        }
        }
        float *t = g;
        g = other;
        other = t;
    }
    /* through the preprocessing: y[c] = scale[c] * x[src[c]] + shift[c] */
    float scale[3], shift[3];
    int src[3];
    size_t HW = (size_t)net->H * net->W;
    ts_preproc_affine(net->preproc, scale, shift, src);
    for (int c = 0; c < 3; c++) {
        be->copy(g + c * HW, dx + src[c] * HW, HW);
        be->scale(scale[c], dx + src[c] * HW, HW);
    }
}
