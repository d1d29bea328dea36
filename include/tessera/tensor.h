/* tensor.h - float32 CHW tensors, one image at a time. */
#ifndef TESSERA_TENSOR_H
#define TESSERA_TENSOR_H

#include <stddef.h>

typedef enum { TS_HOST = 0, TS_DEVICE = 1 } ts_location;

typedef struct {
    int c, h, w;
    float *data;
    ts_location loc;
} ts_tensor;

/* A rectangle of a layer's output (or of the image), in the local tensor's coordinates. */
typedef struct {
    int y, x, h, w;
} ts_region;

static inline size_t ts_numel(int c, int h, int w) { return (size_t)c * (size_t)h * (size_t)w; }
static inline size_t ts_tensor_numel(const ts_tensor *t) { return ts_numel(t->c, t->h, t->w); }

#endif
