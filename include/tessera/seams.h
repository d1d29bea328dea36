/* seams.h - how visible tile boundaries are in an image. */
#ifndef TESSERA_SEAMS_H
#define TESSERA_SEAMS_H

#include "tessera/tiles.h"

/* For every cut between neighbouring tiles of grid g: the mean absolute difference between the two
 * pixel rows (columns) that meet at the cut, divided by the mean absolute difference of pixel pairs
 * 2 and 3 px to either side of it. 1.0: the cut looks like any other place; above 1: a visible seam.
 * img: C x H x W planar. Returns 1.0 for a grid with a single tile. */
double ts_seam_score(const float *img, int C, int H, int W, const ts_tile_grid *g);

#endif
