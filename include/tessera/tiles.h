/* tiles.h - tile geometry for the distributed modes: pure arithmetic, no MPI, no network.
 *
 * An H x W image is cut into R x C tiles (row-major index t = row * C + col). Along each axis the
 * ceil(size / S) stride cells are shared as evenly as possible; the LAST parts get the extra cell,
 * because the image's final cell may be partial (size need not be a multiple of S). Cuts fall on
 * multiples of S, so owned origins are stride-aligned and the owned rects partition the image.
 *
 * Halo rule: the halo P is rounded UP to a multiple of S (the effective halo), added on every side
 * and clipped to the image. Both edges of an extended rect stay on multiples of S (or on the image
 * border), so pooling windows in a tile line up with the global ones. A halo wider than a tile is
 * legal: it is only clipped.
 *
 * Images are planar float CHW buffers; a tile buffer covers the tile's extended rect.
 */
#ifndef TESSERA_TILES_H
#define TESSERA_TILES_H

#include "tessera/check.h"
#include "tessera/tensor.h" /* ts_rect */

typedef struct {
    int row, col;
    ts_rect own; /* owned rect: every pixel (or position) is owned by exactly one tile */
    ts_rect ext; /* owned rect grown by the effective halo, clipped to the image */
    int oy, ox;  /* offset of own inside ext: own.y - ext.y, own.x - ext.x */
} ts_tile;

/* Plain ints only, so the grid can be copied or broadcast as bytes. */
typedef struct {
    int H, W;     /* image size, px */
    int R, C;     /* tile rows and columns */
    int S;        /* stride the cuts are aligned to */
    int halo;     /* requested halo, px */
    int halo_eff; /* halo rounded up to a multiple of S */
    int ring;     /* 0: one image halo (above); > 0: per-layer halos, see ts_tiles_set_ring */
} ts_tile_grid;

/* Sets up an R x C grid over H x W at stride S with halo P. Every tile needs one full stride
 * cell per axis: R must be 1..max(1, floor(H/S)) and C 1..max(1, floor(W/S)), else -1 with the
 * reason in err (also for sizes < 1, halo < 0, more than 65536 tiles). An axis with a single tile
 * takes any size (nothing is cut along it). */
int ts_tiles_init(ts_tile_grid *g, int H, int W, int R, int C, int S, int halo, ts_err *err);

/* Per-layer halos (the exact mode's layer exchange): with ring r > 0, a tile's extended rect at
 * every layer stride s (ts_tiles_layer, and ts_tiles_tile for s = 1) is its owned rect at that
 * stride grown by r positions on each side, clipped to the floor(H/s) x floor(W/s) map, instead of
 * the pixel halo divided by s. The halo and halo_eff fields are then unused (blend weights still
 * read them). r = 0 restores the image halo. */
void ts_tiles_set_ring(ts_tile_grid *g, int r);

/* Number of tiles, R * C. */
int ts_tiles_count(const ts_tile_grid *g);

/* Tile t (0 <= t < R*C) in image pixels. */
ts_tile ts_tiles_tile(const ts_tile_grid *g, int t);

/* Tile t at a layer of cumulative stride s (s must divide S), in that layer's positions.
 * Position p covers pixels [p*s, p*s + s); the tile owns p when p*s lies in its owned pixel range
 * and p < floor(size / s), so owned positions partition the floor(H/s) x floor(W/s) map.
 * ext is what the extended tile's own pooled map covers: the pixel ext origin / s, size
 * floor(pixel ext size / s). Both rects are in the global map's coordinates. s = 1: ts_tiles_tile. */
ts_tile ts_tiles_layer(const ts_tile_grid *g, int t, int s);

/* Tile t's owned part at stride s inside its extended rect (in the extended tensor's coordinates). */
ts_rect ts_tiles_owned_in_ext(const ts_tile_grid *g, int t, int s);

/* Copies tile t's extended rect of an nch x H x W image into tile (nch x ext.h x ext.w). */
void ts_tiles_crop(const ts_tile_grid *g, int t, int nch, const float *image, float *tile);
/* The same at layer stride s: image is nch x floor(H/s) x floor(W/s), the rect ts_tiles_layer's. */
void ts_tiles_crop_at(const ts_tile_grid *g, int t, int s, int nch, const float *image, float *tile);

/* Copies the owned part of tile (nch x ext.h x ext.w) into its place in image (no blending). */
void ts_tiles_paste(const ts_tile_grid *g, int t, int nch, const float *tile, float *image);

/* Blend weights of tile t over its extended rect (ext.h x ext.w): 1 inside, a raised-cosine ramp
 * across each cut shared with a neighbour, centred on the cut, of width 2*min(halo_eff, the cut's
 * distance to the image border); none at image borders. Separable; the owner's weight is > 1/16. */
void ts_tiles_weights(const ts_tile_grid *g, int t, float *w);

/* Blends R*C extended tiles (tiles[t]: nch x ext.h x ext.w) into out (nch x H x W), each pixel the
 * weighted mean of the tiles covering it (sums in double): equal inputs come back exactly. */
void ts_tiles_blend(const ts_tile_grid *g, int nch, const float *const *tiles, float *out);

/* Parses "RxC" (or "RXC"): decimal digits only, 1..65536 each. Returns -1 for anything else. */
int ts_tiles_parse(const char *s, int *R, int *C, ts_err *err);

/* Default grid for n ranks: R*C = n, the factorisation that can be cut at stride S whose tiles are
 * closest to square for this image (ties: more rows, since full-width strips are contiguous).
 * Returns -1 when no factorisation of n can be cut. */
int ts_tiles_default(int n, int H, int W, int S, int *R, int *C, ts_err *err);

/* Tiles to ranks when tiles may outnumber ranks: contiguous blocks in tile order, the first
 * (ntiles % nranks) ranks taking one more, so counts differ by at most one (a rank may get none).
 * rank_first/rank_count give a rank's block [first, first + count); rank_of is its inverse. */
int ts_tiles_rank_of(int ntiles, int nranks, int t);
int ts_tiles_rank_first(int ntiles, int nranks, int rank);
int ts_tiles_rank_count(int ntiles, int nranks, int rank);

#endif
