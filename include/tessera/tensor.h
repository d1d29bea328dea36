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

/* A rectangle of an image or of a layer's output: origin (row y, column x) and size (h rows, w
 * columns), in whatever coordinates its user states (a tile's rects are global, a loss region is in
 * the local tensor's). */
typedef struct {
    int y, x, h, w;
} ts_rect;

static inline size_t ts_numel(int c, int h, int w) { return (size_t)c * (size_t)h * (size_t)w; }
static inline size_t ts_tensor_numel(const ts_tensor *t) { return ts_numel(t->c, t->h, t->w); }

#endif
