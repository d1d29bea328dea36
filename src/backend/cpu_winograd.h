/* cpu_winograd.h - private to the CPU backend: 3x3 'same' convolutions by Winograd F(4x4, 3x3), a
 * fast path beside the im2col reference of backend/cpu.c, with the same semantics (CHW float32, weights K x C x 3 x 3,
 * bias K or NULL, zero padding 1, stride 1; backward overwrites dx).
 *
 * A plan holds the transformed weights U (36 * K * C floats, four times the weights) and serves both
 * directions: the backward pass uses U transposed on the 180-degree-rotated image. The plain calls
 * transform the weights on every call. Scratch per call is bounded by ts_winograd_set_scratch_limit.
 * Threads: OpenMP (omp_set_num_threads / the backend's set_threads); the GEMMs run one per thread. */
#ifndef TESSERA_CPU_WINOGRAD_H
#define TESSERA_CPU_WINOGRAD_H

#include <stddef.h>

typedef struct ts_winograd_plan ts_winograd_plan;

/* Transforms weight (K x C x 3 x 3, copied; the caller keeps its own). C, K >= 1. */
ts_winograd_plan *ts_winograd_plan_create(const float *weight, int C, int K);
void ts_winograd_plan_free(ts_winograd_plan *plan);
/* bytes held by the plan (the transformed weights) */
size_t ts_winograd_plan_bytes(const ts_winograd_plan *plan);

/* y (K x H x W) = conv(x (C x H x W)) + bias (bias may be NULL) */
void ts_winograd_plan_forward(const ts_winograd_plan *plan, const float *x, int H, int W, const float *bias,
                              float *y);
/* The same on the output rect (y0, x0, h, w) only (the input is read with its padding as usual); the
 * rest of y is not written. A tiled network skips the ring positions whose outputs nobody reads, and
 * with them a whole column of 4x4 tiles when the ring makes a tensor one position wider. */
void ts_winograd_plan_forward_rect(const ts_winograd_plan *plan, const float *x, int H, int W, const float *bias,
                                   int y0, int x0, int h, int w, float *y);
/* dx (C x H x W, overwritten) = conv_transpose(dy (K x H x W)) */
void ts_winograd_plan_backward_input(const ts_winograd_plan *plan, const float *dy, int H, int W, float *dx);

/* The same without a plan (weight transform on each call). */
void ts_winograd_conv3x3_forward(const float *x, int C, int H, int W, const float *weight, const float *bias,
                                 int K, float *y);
void ts_winograd_conv3x3_backward_input(const float *dy, int K, int H, int W, const float *weight, int C,
                                        float *dx);

/* Upper bound in bytes for the transform-domain buffers of one call (the image is processed in bands
 * of tile rows to stay under it; one tile row is the minimum). 0 restores the default. Returns the
 * previous value. Not thread-safe: set it before running convolutions. */
size_t ts_winograd_set_scratch_limit(size_t bytes);

#endif
