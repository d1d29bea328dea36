/* backend.h - the op table. Every op the network, the losses and the optimisers need, with a CPU
 * reference implementation (backend/cpu*.c) and a device one per GPU kind (today CUDA + cuBLAS,
 * backend/cuda*.cu, loaded as a plugin: devices.c) behind the same verbs. Pointers passed to ops live where the backend keeps its memory (host for CPU, device
 * for CUDA); alloc/upload/download move data, and code outside the backend never dereferences them.
 * No MPI here. Reductions return double. */
#ifndef TESSERA_BACKEND_H
#define TESSERA_BACKEND_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum { TS_POOL_MAX = 0, TS_POOL_AVG = 1 } ts_pool_kind;

/* Where 2x2 stride-2 pooling reads and writes: the windows cover the rect (y, x, h, w) of a C x H x W
 * input (odd h, w floored) and land on the rect (oy, ox, h/2, w/2) of a C x Ho x Wo output. A tiled
 * network pools the owned part of a tensor that carries a ring of neighbour positions straight into
 * the owned part of the next one; ts_pool_whole is the plain case. */
typedef struct {
    int H, W, y, x, h, w;
    int Ho, Wo, oy, ox;
} ts_pool_shape;

/* 1 when the rect (y, x, h, w) lies inside an H x W plane */
static inline int ts_rect_inside(int y, int x, int h, int w, int H, int W) {
    return y >= 0 && x >= 0 && h >= 0 && w >= 0 && y + h <= H && x + w <= W;
}

static inline ts_pool_shape ts_pool_whole(int H, int W) {
    ts_pool_shape s = {H, W, 0, 0, H, W, H / 2, W / 2, 0, 0};
    return s;
}
/* 1 when both rects lie inside their tensors */
static inline int ts_pool_shape_valid(const ts_pool_shape *s) {
    return ts_rect_inside(s->y, s->x, s->h, s->w, s->H, s->W) &&
           ts_rect_inside(s->oy, s->ox, s->h / 2, s->w / 2, s->Ho, s->Wo);
}

typedef struct ts_backend {
    const char *name;
    int on_device; /* 1: op pointers are GPU memory (the host reaches them only through upload/download) */
    /* 1: conv3x3_forward_rect with prepared weights computes inside the rect only, so a convolution cut
     * into rects costs about what it costs whole (a tiled network then convolves its interior while the
     * ring is exchanged); 0: it may compute the whole output every call */
    int conv_rect_windowed;

    /* memory */
    float *(*alloc)(size_t n); /* n floats, zeroed */
    void (*free)(float *p);
    void (*upload)(float *dst, const float *host_src, size_t n);
    void (*download)(float *host_dst, const float *src, size_t n);
    void (*set_threads)(int nthreads);
    /* host staging buffers for transfers (halos, Gram partials): page-locked on CUDA so copies run at
     * full speed, plain malloc on the CPU; n floats, not zeroed */
    float *(*host_alloc)(size_t n);
    void (*host_free)(float *p);
    /* waits until every op issued so far has finished, before another library (a CUDA-aware MPI)
     * reads or writes backend memory; NULL when ops finish before they return (CPU) */
    void (*synchronize)(void);

    /* layers. conv: 3x3, stride 1, zero padding 1, weights K x C x 3 x 3, bias K.
     * prepared: NULL, or what conv3x3_prepare returned for these weights (a faster algorithm's
     * pre-transformed weights, e.g. Winograd's); the result is the same convolution either way. */
    void (*conv3x3_forward)(const float *x, int C, int H, int W, const float *weight, const float *bias,
                            int K, const void *prepared, float *y);
    /* the same on the output rect (y0, x0, h, w) only, the input read with its zero padding as usual:
     * inside the rect y is the convolution; outside it a backend may leave y as it was or write the
     * convolution there too. A tiled network skips the ring positions whose outputs nobody reads. */
    void (*conv3x3_forward_rect)(const float *x, int C, int H, int W, const float *weight, const float *bias, int K,
                                 const void *prepared, int y0, int x0, int h, int w, float *y);
    /* dx = conv_transpose(dy) (overwrites dx); gradient w.r.t. the input only */
    void (*conv3x3_backward_input)(const float *dy, int K, int H, int W, const float *weight, int C,
                                   const void *prepared, float *dx);
    /* Prepares constant weights for a fast algorithm; NULL when the backend has none for this
     * shape (the ops then use the weights directly). */
    void *(*conv3x3_prepare)(const float *weight, int C, int K);
    void (*conv3x3_release)(void *prepared);
    size_t (*conv3x3_prepared_bytes)(const void *prepared);
    void (*relu_forward)(const float *x, float *y, size_t n); /* x == y allowed */
    /* dx = dy * (y > 0), y the ReLU output; dx == dy allowed */
    void (*relu_backward)(const float *y, const float *dy, float *dx, size_t n);
    /* 2x2 stride 2 as s says: y (C x Ho x Wo) overwritten, zero outside the output rect */
    void (*pool_forward)(ts_pool_kind kind, const float *x, int C, const ts_pool_shape *s, float *y);
    /* dx (C x H x W, overwritten; zero outside the windows, so in dropped odd rows/columns too) from
     * dy; max routes to the first maximum of each window in row-major order (x is the pooling input,
     * y its output) */
    void (*pool_backward)(ts_pool_kind kind, const float *x, const float *y, const float *dy, int C,
                          const ts_pool_shape *s, float *dx);

    /* G (C x C) = scale * F F^T, F is C x M */
    void (*gram)(const float *F, int C, size_t M, float scale, float *G);
    /* dF (C x M) += scale * D F, D is C x C symmetric */
    void (*gram_backward)(const float *D, const float *F, int C, size_t M, float scale, float *dF);
    /* The same two over the rect (y0, x0, h, w) of C x H x W tensors, read and written in place (a
     * tile's owned part inside its ring, without copying it out; the whole tensor is the rect
     * (0, 0, H, W) and then the same calls as above): M = h w, F and dF are the whole tensors, dF is
     * changed inside the rect only */
    void (*gram_rect)(const float *F, int C, int H, int W, int y0, int x0, int h, int w, float scale, float *G);
    void (*gram_backward_rect)(const float *D, const float *F, int C, int H, int W, int y0, int x0, int h, int w,
                               float scale, float *dF);

    /* vector ops (n floats) */
    double (*dot)(const float *x, const float *y, size_t n);
    void (*axpy)(float a, const float *x, float *y, size_t n); /* y += a x */
    void (*scale)(float a, float *x, size_t n);                /* x *= a */
    void (*copy)(const float *src, float *dst, size_t n);
    void (*fill)(float v, float *x, size_t n);
    /* returns sum (x - t)^2 (double); if g: g += gscale * (x - t) */
    double (*sqdiff)(const float *x, const float *t, size_t n, float gscale, float *g);
    /* sqdiff over the rect (y0, x0, h, w) of C x H x W tensors x, t and g (g changed inside it only) */
    double (*sqdiff_rect)(const float *x, const float *t, int C, int H, int W, int y0, int x0, int h, int w,
                          float gscale, float *g);
    /* total variation of a C x H x W image over the pixels of the rect (y0, x0, h, w): returns the sum
     * of each such pixel's squared differences to its right and lower neighbours (where those lie in
     * the image); if g: g += gscale * d/dx of that sum (which reaches neighbours outside the rect) */
    double (*tv)(const float *x, int C, int H, int W, int y0, int x0, int h, int w, float gscale, float *g);
    /* dst (C x h x w) = the rect (y0, x0, h, w) of src (C x H x W) */
    void (*region_get)(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
    /* the rect (y0, x0, h, w) of dst (C x H x W) += src (C x h x w) */
    void (*region_add)(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
    /* the rect (y0, x0, h, w) of dst (C x H x W) = src (C x h x w) */
    void (*region_set)(const float *src, int C, int H, int W, int y0, int x0, int h, int w, float *dst);
    /* y (C x M) = x * w position by position (w: M values, the same for every channel), or y += x * w
     * when add; y == x allowed when not add (the guided Grams' masks, docs/DESIGN.md §1) */
    void (*mul_positions)(const float *x, const float *w, int C, size_t M, int add, float *y);
    /* Adam update for n parameters at step t (1-based) */
    void (*adam_step)(float *x, const float *g, float *m, float *v, size_t n, float lr, float beta1,
                      float beta2, float eps, int t);
} ts_backend;

const ts_backend *ts_backend_cpu(void);
/* "cpu" or a device kind ("cuda"); NULL if unknown or not loaded. A device kind's backend is usable
 * only after ts_backend_select (or ts_device_open) has bound a device. */
const ts_backend *ts_backend_by_name(const char *name);

/* ---- choosing a backend (--backend cpu|<device kind>|auto) ---- */

typedef enum { TS_GPU_MATH_FP32 = 0, TS_GPU_MATH_TF32 = 1 } ts_gpu_math;

typedef struct {
    const ts_backend *be;
    const char *kind;      /* the device kind's label ("CUDA") chosen or tried; NULL with --backend cpu */
    int device;            /* device index, -1 on the CPU */
    int device_count;      /* devices of that kind this process sees (0 without the plugin or a GPU) */
    char device_name[160]; /* e.g. "NVIDIA H100 80GB HBM3 (sm_90, 132 SMs, 1980 MHz)", "" on the CPU */
    int fell_back;         /* "auto" found no usable GPU and chose the CPU */
    char why[400];         /* why there is no GPU (fallback notice or error message) */
} ts_backend_choice;

/* name: "cpu", a device kind ("cuda") or "auto" (the first kind with a usable device, else the
 * CPU). A device is picked as local_rank % (devices visible), so one rank per GPU on each node needs
 * no set-up. Returns 0, or -1 with out->why set (a kind without a usable device, an unknown name).
 * At most one device per process: a second select of a kind keeps the first device. */
int ts_backend_select(const char *name, int local_rank, ts_gpu_math math, ts_backend_choice *out);
/* What --backend takes: "cpu|cuda|auto" (the device kinds of devices.c between cpu and auto). */
const char *ts_backend_choices(void);
/* "fp32" / "tf32"; 0 ok, -1 unknown */
int ts_gpu_math_parse(const char *s, ts_gpu_math *out);

/* ---- device backends: one plugin per kind (src/backend/devices.c, device_plugin.h) ----
 * A plugin is a shared object loaded on first use, so CPU runs never load the device libraries.
 * These exist in every build; a kind that was not built reports that. k: 0 .. ts_device_kinds()-1. */

int ts_device_kinds(void);
const char *ts_device_kind_name(int k);  /* as --backend names it: "cuda" */
const char *ts_device_kind_label(int k); /* in messages: "CUDA" */
int ts_device_find(const char *name);    /* the kind's index, -1 when none */
/* 1 if kind k's plugin can be loaded (built, and its libraries present). */
int ts_device_built(int k);
/* devices of kind k visible to this process; 0 with why set when there are none or no driver. */
int ts_device_count(int k, char *why, size_t n);
/* Binds this process to a device and sets the math mode of the convolution/Gram GEMMs; returns the
 * backend, or NULL with why (no such device, no driver, a context that cannot be made). */
const ts_backend *ts_device_open(int k, int device, ts_gpu_math math, char *why, size_t n);
/* The bound device as "NAME (sm_XY, N SMs, C MHz)"; "" when none is bound. */
void ts_device_describe(int k, char *buf, size_t n);
/* kind k's op table once a device is bound, else NULL */
const ts_backend *ts_device_bound(int k);

#ifdef __cplusplus
}
#endif

/* Rows of an H-row image whose 3x3 im2col columns (C * 9 * W floats a row) fit in budget floats, at
 * least 1 and at most H: both backends convolve in row bands of this height. */
static inline int ts_im2col_band_rows(int C, int W, int H, size_t budget) {
    size_t per_row = (size_t)C * 9 * (size_t)W;
    size_t rows = budget / (per_row ? per_row : 1);
    if (rows < 1) rows = 1;
    if (rows > (size_t)H) rows = (size_t)H;
    return (int)rows;
}

#endif
