/* layer_halo.c - the exact mode's per-layer rings as a network halo hook (halo.h). */
#include <string.h>

#include "tessera/check.h"
#include "tessera/halo.h"

void ts_layer_halos_init(ts_layer_halos *h, const ts_tile_grid *g, int tile, ts_arch arch, int nranks, int rank,
                         const ts_backend *be, int device_mpi) {
    memset(h, 0, sizeof *h);
    h->grid = *g;
    h->tile = tile;
    h->arch = arch;
    h->nranks = nranks;
    h->rank = rank;
    h->be = be;
    h->device_mpi = device_mpi;
}

void ts_layer_halos_free(ts_layer_halos *h) {
    for (int i = 0; i < h->nplans; i++) ts_halo_plan_free(&h->plans[i]);
    h->nplans = 0;
}

static ts_halo_plan *plan_for(ts_layer_halos *h, int s, int C) {
    for (int i = 0; i < h->nplans; i++)
        if (h->plans[i].s == s && h->plans[i].C == C) return &h->plans[i];
    TS_CHECK(h->nplans < TS_VGG_MAX_CONVS, "more than %d per-layer halo plans", TS_VGG_MAX_CONVS);
    ts_halo_plan *p = &h->plans[h->nplans++];
    ts_halo_plan_init_layer(p, &h->grid, s, C, h->nranks, h->rank, h->be, h->device_mpi);
    return p;
}

/* the hook: fill the ring of a conv input, or send its gradient back */
static void hook(void *ctx, int layer, float *t, int C, int hgt, int w, ts_vgg_halo_op op) {
    ts_layer_halos *h = ctx;
    int s = ts_vgg_layer_stride(h->arch, layer);
    ts_halo_plan *p = plan_for(h, s, C);
    ts_tile k = ts_tiles_layer(&h->grid, h->tile, s);
    TS_CHECK(k.ext.h == hgt && k.ext.w == w, "layer %d: tensor %dx%d, tile %dx%d", layer, w, hgt, k.ext.w, k.ext.h);
    float *const ext[1] = {t};
    switch (op) {
    case TS_HALO_FILL_BEGIN: ts_halo_forward_begin(p, ext); break;
    case TS_HALO_FILL_END: ts_halo_forward_end(p, ext); break;
    case TS_HALO_RETURN_BEGIN: ts_halo_reverse_move_begin(p, ext); break;
    case TS_HALO_RETURN_END: ts_halo_reverse_end(p, ext); break;
    }
}

ts_vgg_layout ts_layer_halos_layout(ts_layer_halos *h, int overlap) {
    ts_vgg_layout lay;
    memset(&lay, 0, sizeof lay);
    for (int k = 0; k < 5; k++) {
        ts_tile kl = ts_tiles_layer(&h->grid, h->tile, 1 << k);
        lay.h[k] = kl.ext.h;
        lay.w[k] = kl.ext.w;
        lay.inner[k] = ts_tiles_owned_in_ext(&h->grid, h->tile, 1 << k);
    }
    lay.halo = hook;
    lay.ctx = h;
    lay.overlap = overlap;
    return lay;
}
