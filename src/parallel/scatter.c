/* scatter.c - whole images to tiles and back (scatter.h): one MPI scatter or gather a call. */
#include "tessera/scatter.h"

#include <stdlib.h>
#include <string.h>

#include "tessera/check.h"
#include "tessera/comm.h"

size_t ts_tile_ext_floats(const ts_tile *k, int nch) { return (size_t)nch * k->ext.h * k->ext.w; }
size_t ts_tile_own_floats(const ts_tile *k, int nch) { return (size_t)nch * k->own.h * k->own.w; }

/* tile t's rect at stride s: its extended rect, or its owned part */
static ts_rect rect_of(const ts_tile_grid *g, int t, int s, int ext) {
    ts_tile k = ts_tiles_layer(g, t, s);
    return ext ? k.ext : k.own;
}

/* counts and displacements (floats) of every rank's tiles at stride s, extended rects or owned parts;
 * returns the total */
static size_t rank_counts(const ts_tile_grid *g, int s, int nch, int ext, int *counts, int *displs) {
    int nt = ts_tiles_count(g), nranks = ts_comm_size();
    size_t total = 0;
    for (int r = 0; r < nranks; r++) {
        size_t n = 0;
        int f = ts_tiles_rank_first(nt, nranks, r), c = ts_tiles_rank_count(nt, nranks, r);
        for (int t = f; t < f + c; t++) {
            ts_rect q = rect_of(g, t, s, ext);
            n += (size_t)nch * q.h * q.w;
        }
        TS_CHECK(n < (size_t)1 << 31, "rank %d's tiles hold %zu floats, over MPI's count limit", r, n);
        counts[r] = (int)n;
        displs[r] = r ? displs[r - 1] + counts[r - 1] : 0;
        total += n;
    }
    return total;
}

typedef struct {
    int *counts, *displs;
    size_t total;
} layout;

static layout layout_of(const ts_tile_grid *g, int s, int nch, int ext) {
    layout l;
    size_t n = (size_t)ts_comm_size();
    l.counts = ts_calloc(n, sizeof(int));
    l.displs = ts_calloc(n, sizeof(int));
    l.total = rank_counts(g, s, nch, ext, l.counts, l.displs);
    return l;
}

static void layout_free(layout *l) {
    free(l->counts);
    free(l->displs);
}

float *ts_scatter_tiles_at(const ts_tile_grid *g, int s, int nch, const float *image) {
    int rank = ts_comm_rank();
    layout l = layout_of(g, s, nch, 1);
    float *packed = NULL;
    if (rank == 0) {
        packed = ts_malloc(sizeof(float) * (l.total + 1));
        float *p = packed;
        for (int t = 0; t < ts_tiles_count(g); t++) {
            ts_rect r = rect_of(g, t, s, 1);
            ts_tiles_crop_at(g, t, s, nch, image, p);
            p += (size_t)nch * r.h * r.w;
        }
    }
    float *mine = ts_malloc(sizeof(float) * ((size_t)l.counts[rank] + 1));
    ts_comm_scatterv_float(packed, l.counts, l.displs, mine, l.counts[rank], 0);
    free(packed);
    layout_free(&l);
    return mine;
}

float *ts_scatter_tiles(const ts_tile_grid *g, int nch, const float *image) {
    return ts_scatter_tiles_at(g, 1, nch, image);
}

/* every rank's packed tiles on rank 0 (malloc'd there, NULL elsewhere) */
static float *gather(const ts_tile_grid *g, int nch, int ext, const float *mine) {
    int rank = ts_comm_rank();
    layout l = layout_of(g, 1, nch, ext);
    float *all = rank == 0 ? ts_malloc(sizeof(float) * (l.total + 1)) : NULL;
    ts_comm_gatherv_float(mine, l.counts[rank], all, l.counts, l.displs, 0);
    layout_free(&l);
    return all;
}

void ts_gather_owned(const ts_tile_grid *g, int nch, const float *mine, float *image) {
    float *all = gather(g, nch, 0, mine);
    if (!all) return;
    size_t off = 0;
    for (int t = 0; t < ts_tiles_count(g); t++) {
        ts_tile k = ts_tiles_tile(g, t);
        for (int c = 0; c < nch; c++)
            for (int y = 0; y < k.own.h; y++)
                memcpy(image + ((size_t)c * g->H + k.own.y + y) * g->W + k.own.x,
                       all + off + ((size_t)c * k.own.h + y) * k.own.w, sizeof(float) * (size_t)k.own.w);
        off += ts_tile_own_floats(&k, nch);
    }
    free(all);
}

void ts_gather_blended(const ts_tile_grid *g, int nch, const float *mine, int blend, float *image) {
    float *all = gather(g, nch, 1, mine);
    if (!all) return;
    int nt = ts_tiles_count(g);
    const float **tiles = ts_malloc(sizeof(float *) * (size_t)nt);
    size_t off = 0;
    for (int t = 0; t < nt; t++) {
        ts_tile k = ts_tiles_tile(g, t);
        tiles[t] = all + off;
        off += ts_tile_ext_floats(&k, nch);
    }
    if (blend) ts_tiles_blend(g, nch, tiles, image);
    else
        for (int t = 0; t < nt; t++) ts_tiles_paste(g, t, nch, tiles[t], image);
    free(tiles);
    free(all);
}
