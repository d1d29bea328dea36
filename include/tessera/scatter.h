/* scatter.h - whole images to tiles and back across the ranks of the current communicator: rank 0
 * cuts and sends every rank its tiles (tiles in ts_tiles_rank_first order, each its extended rect,
 * packed one after another), and gathers the owned parts, or the extended tiles blended, into the
 * whole image. Host memory; collective. */
#ifndef TESSERA_SCATTER_H
#define TESSERA_SCATTER_H

#include <stddef.h>

#include "tessera/tiles.h"

/* floats of tile k: its extended rect, or its owned part, times nch */
size_t ts_tile_ext_floats(const ts_tile *k, int nch);
size_t ts_tile_own_floats(const ts_tile *k, int nch);

/* Rank 0 cuts image (nch x H x W; NULL elsewhere) into every extended rect of grid g; this rank's
 * tiles come back packed (malloc'd, at least one float). */
float *ts_scatter_tiles(const ts_tile_grid *g, int nch, const float *image);
/* The same at layer stride s: image is nch x floor(H/s) x floor(W/s) and the tiles' rects those of
 * ts_tiles_layer (with the grid's ring, if set). */
float *ts_scatter_tiles_at(const ts_tile_grid *g, int s, int nch, const float *image);
/* Each rank sends its tiles' owned parts (mine, packed); rank 0 assembles them into image
 * (nch x H x W; ignored elsewhere). */
void ts_gather_owned(const ts_tile_grid *g, int nch, const float *mine, float *image);
/* Each rank sends its extended tiles (mine, packed); rank 0 blends them into image with the grid's
 * raised-cosine weights (blend = 1) or pastes their owned parts (blend = 0). */
void ts_gather_blended(const ts_tile_grid *g, int nch, const float *mine, int blend, float *image);

#endif
