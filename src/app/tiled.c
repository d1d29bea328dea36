/* tiled.c - one image split into tiles across MPI ranks: the exact and independent modes.
 *
 * Rank 0 validates and reads everything, then broadcasts the job (loss spec, sizes, weights) and per
 * scale the style targets, and scatters each rank its tiles of the content and starting image.
 *  - exact: every evaluation fills halos from their owners, sums all tiles' partial Grams and loss
 *    sums with one allreduce, sends halo gradients back to their owners; L-BFGS/Adam run on the owned
 *    pixels with dot products summed over ranks. The result equals the single-process one.
 *  - independent: each tile (with its halo) is optimised alone against the global style targets, and
 *    rank 0 blends the tiles with raised-cosine weights. Earlier (coarse) scales run exact.
 */
#include "tessera/tiled.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/checkpoint.h"
#include "tessera/comm.h"
#include "tessera/fault.h"
#include "tessera/halo.h"
#include "tessera/npy.h"
#include "tessera/optim.h"
#include "tessera/progress.h"
#include "tessera/tiles.h"

#define TILE_STRIDE 16 /* cumulative stride before conv5_1: tile cuts align to it */

/* Everything the other ranks need to know about the job, as plain data. */
typedef struct {
    int mode; /* TS_MODE_* */
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc preproc;
    ts_loss_spec spec;
    int nscales, W[TS_MAX_LIST], H[TS_MAX_LIST], iterations[TS_MAX_LIST];
    int R, C, halo;
    int layer_halo; /* exact mode exchanges a 1-position ring before every conv (else one image halo) */
    int overlap;    /* ... while the conv's interior is computed (TESSERA_HALO_OVERLAP, default 1) */
    int conv;
    int nconv, in_c[TS_VGG_MAX_CONVS], out_c[TS_VGG_MAX_CONVS], is_random;
    char source[256], preset[16];
} job_desc;

typedef struct {
    const ts_backend *be;
    const ts_options *o;
    job_desc d;
    ts_vgg_weights wt;
    int nranks, rank;
    /* the current scale */
    int W, H;
    ts_tile_grid grid;
    int first, nlocal; /* this rank's tiles: first .. first+nlocal-1 */
    ts_tile *tile;
    ts_vgg *net;
    ts_objective *obj;
    float **xe, **ge; /* extended tiles: image and gradient */
    ts_halo_plan plan;
    ts_halo_plan lplan[TS_VGG_MAX_CONVS]; /* per-layer halos: one plan per (stride, channels) */
    int nlplans;
    double *partials;
    size_t npartials, nown;
    double io_seconds; /* rank 0: reading inputs, writing the output */
    ts_loss_terms last;
} tstate;

/* ---------- validation on rank 0 ---------- */

static int validate_tiling(const ts_job *job, int nranks, job_desc *d, ts_err *err) {
    const ts_options *o = job->opt;
    /* TESSERA_HALO_OVERLAP=0 ends every per-layer exchange right after it begins (to measure what the
     * overlap gains) */
    const char *ov = getenv("TESSERA_HALO_OVERLAP");
    d->overlap = 1;
    if (ov && *ov) {
        if (strcmp(ov, "0") != 0 && strcmp(ov, "1") != 0)
            return ts_fail(err, "TESSERA_HALO_OVERLAP=%s: want 0 (exchange, then convolve) or 1 (overlapped)", ov);
        d->overlap = ov[0] == '1';
    }
    int deepest = ts_loss_spec_deepest(&job->spec);
    int need = ts_vgg_margin(job->arch, deepest);
    d->halo = o->halo >= 0 ? o->halo : need;
    for (int k = 0; k < job->nscales; k++) {
        int W, H;
        ts_job_scale_size(job, k, &W, &H);
        d->W[k] = W;
        d->H[k] = H;
        if (k == 0) {
            if (o->tiles) {
                if (ts_tiles_parse(o->tiles, &d->R, &d->C, err)) return -1;
            } else if (ts_tiles_default(nranks, H, W, TILE_STRIDE, &d->R, &d->C, err)) {
                return ts_fail(err, "cannot cut the %dx%d image into %d tiles of at least %d px (give --tiles RxC)",
                               W, H, nranks, TILE_STRIDE);
            }
            /* the ring is exchanged layer by layer, collectively: every rank must hold exactly one tile */
            int one_each = d->R * d->C == nranks;
            const char *hx = o->halo_exchange;
            if (strcmp(hx, "layer") == 0 && d->mode == TS_MODE_EXACT && !one_each)
                return ts_fail(err, "--halo-exchange layer needs one tile per rank: %dx%d tiles on %d ranks (use "
                                    "--halo-exchange image, or --tiles with %d tiles)", d->R, d->C, nranks, nranks);
            d->layer_halo = d->mode == TS_MODE_EXACT && one_each && strcmp(hx, "image") != 0;
        }
        ts_tile_grid g;
        ts_err e2;
        if (ts_tiles_init(&g, H, W, d->R, d->C, TILE_STRIDE, d->halo, &e2))
            return ts_fail(err, "--tiles %dx%d at %dx%d (scale %d): %s", d->R, d->C, W, H, k + 1, e2.msg);
    }
    if (d->mode == TS_MODE_EXACT && !d->layer_halo && ((d->halo + TILE_STRIDE - 1) / TILE_STRIDE) * TILE_STRIDE < need)
        return ts_fail(err, "--halo %d is too small for exact mode: layer %s sees %d px beyond its cell (use --halo %d "
                            "or more, or leave it out)", o->halo, job->net_layer_name, need, need);
    return 0;
}

/* ---------- broadcasting the job and the weights ---------- */

static void bcast_weights(tstate *st) {
    job_desc *d = &st->d;
    if (st->rank != 0) {
        memset(&st->wt, 0, sizeof st->wt);
        st->wt.arch = d->arch;
        st->wt.nconv = d->nconv;
        st->wt.preproc = d->preproc;
        st->wt.is_random = d->is_random;
        snprintf(st->wt.source, sizeof st->wt.source, "%s", d->source);
    }
    for (int j = 0; j < d->nconv; j++) {
        size_t nw = (size_t)d->out_c[j] * d->in_c[j] * 9;
        if (st->rank != 0) {
            st->wt.in_c[j] = d->in_c[j];
            st->wt.out_c[j] = d->out_c[j];
            st->wt.w[j] = ts_malloc(sizeof(float) * nw);
            st->wt.b[j] = ts_malloc(sizeof(float) * (size_t)d->out_c[j]);
        }
        ts_comm_bcast(st->wt.w[j], sizeof(float) * nw, 0);
        ts_comm_bcast(st->wt.b[j], sizeof(float) * (size_t)d->out_c[j], 0);
    }
}

/* ---------- per-scale set-up ---------- */

static ts_rect rel(ts_rect own, ts_rect ext) { return (ts_rect){own.y - ext.y, own.x - ext.x, own.h, own.w}; }

/* The owned regions of tile t of grid g (an H x W image) at every loss layer, for losses that add up
 * across tiles. */
static ts_objective_tile tile_regions(const tstate *st, const ts_tile_grid *g, int t) {
    const ts_loss_spec *sp = &st->d.spec;
    int H = g->H, W = g->W;
    ts_objective_tile ot;
    memset(&ot, 0, sizeof ot);
    ts_tile k = ts_tiles_tile(g, t);
    ot.image = rel(k.own, k.ext);
    ot.image_hw = (double)H * W;
    for (int i = 0; i < sp->nstyle; i++) {
        int s = ts_vgg_layer_stride(st->d.arch, sp->style_layer[i]);
        ts_tile kl = ts_tiles_layer(g, t, s);
        ot.style[i] = rel(kl.own, kl.ext);
        ot.style_m[i] = (double)(H / s) * (W / s);
    }
    for (int i = 0; i < sp->ncontent; i++) {
        int s = ts_vgg_layer_stride(st->d.arch, sp->content_layer[i]);
        ts_tile kl = ts_tiles_layer(g, t, s);
        ot.content[i] = rel(kl.own, kl.ext);
        ot.content_m[i] = (double)(H / s) * (W / s);
    }
    return ot;
}

static size_t ext_floats(const ts_tile *k) { return (size_t)3 * k->ext.h * k->ext.w; }
static size_t own_floats(const ts_tile *k) { return (size_t)3 * k->own.h * k->own.w; }

/* counts/displacements (floats) of every rank's tiles, ext or owned parts, in tile order */
static void grid_counts(const tstate *st, const ts_tile_grid *g, int ext, int *counts, int *displs) {
    int nt = ts_tiles_count(g);
    for (int r = 0; r < st->nranks; r++) {
        size_t n = 0;
        int f = ts_tiles_rank_first(nt, st->nranks, r), c = ts_tiles_rank_count(nt, st->nranks, r);
        for (int t = f; t < f + c; t++) {
            ts_tile k = ts_tiles_tile(g, t);
            n += ext ? ext_floats(&k) : own_floats(&k);
        }
        TS_CHECK(n < (size_t)1 << 31, "rank %d's tiles hold %zu floats, over MPI's count limit", r, n);
        counts[r] = (int)n;
        displs[r] = r ? displs[r - 1] + counts[r - 1] : 0;
    }
}

static void rank_counts(const tstate *st, int ext, int *counts, int *displs) {
    grid_counts(st, &st->grid, ext, counts, displs);
}

/* Rank 0 cuts a whole image into every extended rect of grid g; this rank's tiles, packed in tile
 * order, come back (malloc'd; NULL when it holds none). */
static float *scatter_grid(const tstate *st, const ts_tile_grid *g, const float *image) {
    int nt = ts_tiles_count(g);
    int *counts = ts_calloc((size_t)st->nranks, sizeof(int)), *displs = ts_calloc((size_t)st->nranks, sizeof(int));
    grid_counts(st, g, 1, counts, displs);
    float *packed = NULL;
    if (st->rank == 0) {
        packed = ts_malloc(sizeof(float) * ((size_t)displs[st->nranks - 1] + counts[st->nranks - 1] + 1));
        size_t off = 0;
        for (int t = 0; t < nt; t++) {
            ts_tile k = ts_tiles_tile(g, t);
            ts_tiles_crop(g, t, 3, image, packed + off);
            off += ext_floats(&k);
        }
    }
    float *mine = ts_malloc(sizeof(float) * ((size_t)counts[st->rank] + 1));
    ts_comm_scatterv_float(packed, counts, displs, mine, counts[st->rank], 0);
    free(packed);
    free(counts);
    free(displs);
    return mine;
}

/* Rank 0 cuts a whole image into every tile's extended rect; each rank receives its own tiles. */
static void scatter_ext(tstate *st, const float *image, float **dst) {
    float *mine = scatter_grid(st, &st->grid, image);
    size_t off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        st->be->upload(dst[i], mine + off, ext_floats(&st->tile[i]));
        off += ext_floats(&st->tile[i]);
    }
    free(mine);
}

/* owned part of tile i's extended buffer <-> a packed owned block */
static void own_get(const tstate *st, int i, const float *ext, float *own) {
    const ts_tile *k = &st->tile[i];
    st->be->region_get(ext, 3, k->ext.h, k->ext.w, k->oy, k->ox, k->own.h, k->own.w, own);
}

static void own_set(const tstate *st, int i, const float *own, float *ext) {
    const ts_tile *k = &st->tile[i];
    st->be->region_set(own, 3, k->ext.h, k->ext.w, k->oy, k->ox, k->own.h, k->own.w, ext);
}

/* Rank 0 assembles the whole image from every tile's owned block (mine: this rank's blocks packed in
 * tile order, backend memory). */
static void gather_owned(tstate *st, const float *mine_be, ts_image *out) {
    int nt = ts_tiles_count(&st->grid);
    int *counts = ts_calloc((size_t)st->nranks, sizeof(int)), *displs = ts_calloc((size_t)st->nranks, sizeof(int));
    rank_counts(st, 0, counts, displs);
    float *mine = ts_malloc(sizeof(float) * ((size_t)counts[st->rank] + 1));
    st->be->download(mine, mine_be, (size_t)counts[st->rank]);
    float *all = st->rank == 0 ? ts_malloc(sizeof(float) * ((size_t)displs[st->nranks - 1] + counts[st->nranks - 1] + 1))
                               : NULL;
    ts_comm_gatherv_float(mine, counts[st->rank], all, counts, displs, 0);
    if (st->rank == 0) {
        ts_image_alloc(out, st->W, st->H);
        size_t off = 0;
        for (int t = 0; t < nt; t++) {
            ts_tile k = ts_tiles_tile(&st->grid, t);
            for (int c = 0; c < 3; c++)
                for (int y = 0; y < k.own.h; y++)
                    memcpy(out->data + ((size_t)c * st->H + k.own.y + y) * st->W + k.own.x,
                           all + off + ((size_t)c * k.own.h + y) * k.own.w, sizeof(float) * (size_t)k.own.w);
            off += own_floats(&k);
        }
    }
    free(mine);
    free(all);
    free(counts);
    free(displs);
}

/* Rank 0 blends every tile's extended buffer into the whole image. */
static void gather_blend(tstate *st, ts_image *out) {
    int nt = ts_tiles_count(&st->grid);
    int *counts = ts_calloc((size_t)st->nranks, sizeof(int)), *displs = ts_calloc((size_t)st->nranks, sizeof(int));
    rank_counts(st, 1, counts, displs);
    float *mine = ts_malloc(sizeof(float) * ((size_t)counts[st->rank] + 1));
    size_t off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        st->be->download(mine + off, st->xe[i], ext_floats(&st->tile[i]));
        off += ext_floats(&st->tile[i]);
    }
    float *all = st->rank == 0 ? ts_malloc(sizeof(float) * ((size_t)displs[st->nranks - 1] + counts[st->nranks - 1] + 1))
                               : NULL;
    ts_comm_gatherv_float(mine, counts[st->rank], all, counts, displs, 0);
    if (st->rank == 0) {
        const float **tiles = ts_malloc(sizeof(float *) * (size_t)nt);
        off = 0;
        for (int t = 0; t < nt; t++) {
            ts_tile k = ts_tiles_tile(&st->grid, t);
            tiles[t] = all + off;
            off += ext_floats(&k);
        }
        ts_image_alloc(out, st->W, st->H);
        if (strcmp(st->o->blend, "none") == 0)
            for (int t = 0; t < nt; t++) ts_tiles_paste(&st->grid, t, 3, tiles[t], out->data);
        else ts_tiles_blend(&st->grid, 3, tiles, out->data);
        free(tiles);
    }
    free(mine);
    free(all);
    free(counts);
    free(displs);
}

static void scale_free(tstate *st) {
    for (int i = 0; i < st->nlocal; i++) {
        ts_objective_free(&st->obj[i]);
        ts_vgg_free(&st->net[i]);
        st->be->free(st->xe[i]);
        st->be->free(st->ge[i]);
    }
    free(st->tile);
    free(st->net);
    free(st->obj);
    free(st->xe);
    free(st->ge);
    free(st->partials);
    ts_halo_plan_free(&st->plan);
    for (int i = 0; i < st->nlplans; i++) ts_halo_plan_free(&st->lplan[i]);
    st->nlplans = 0;
    st->nlocal = 0;
    st->tile = NULL;
    st->net = NULL;
    st->obj = NULL;
    st->xe = st->ge = NULL;
    st->partials = NULL;
}

/* ---------- per-layer halos ---------- */

static ts_halo_plan *layer_plan(tstate *st, int s, int C) {
    for (int i = 0; i < st->nlplans; i++)
        if (st->lplan[i].s == s && st->lplan[i].C == C) return &st->lplan[i];
    TS_CHECK(st->nlplans < TS_VGG_MAX_CONVS, "more than %d per-layer halo plans", TS_VGG_MAX_CONVS);
    ts_halo_plan *p = &st->lplan[st->nlplans++];
    ts_halo_plan_init_layer(p, &st->grid, s, C, st->nranks, st->rank, st->be, st->o->cuda_aware_mpi);
    return p;
}

/* the network's halo hook: fill the ring of a conv input, or send its gradient back (one tile per rank) */
static void layer_halo(void *ctx, int layer, float *t, int C, int h, int w, ts_vgg_halo_op op) {
    tstate *st = ctx;
    int s = ts_vgg_layer_stride(st->d.arch, layer);
    ts_halo_plan *p = layer_plan(st, s, C);
    ts_tile k = ts_tiles_layer(&st->grid, st->first, s);
    TS_CHECK(k.ext.h == h && k.ext.w == w, "layer %d: tensor %dx%d, tile %dx%d", layer, w, h, k.ext.w, k.ext.h);
    float *const ext[1] = {t};
    switch (op) {
    case TS_HALO_FILL_BEGIN: ts_halo_forward_begin(p, ext); break;
    case TS_HALO_FILL_END: ts_halo_forward_end(p, ext); break;
    case TS_HALO_RETURN_BEGIN: ts_halo_reverse_move_begin(p, ext); break;
    case TS_HALO_RETURN_END: ts_halo_reverse_end(p, ext); break;
    }
}

static void set_layout(tstate *st, int i) {
    ts_vgg_layout lay;
    memset(&lay, 0, sizeof lay);
    for (int k = 0; k < 5; k++) {
        ts_tile kl = ts_tiles_layer(&st->grid, st->first + i, 1 << k);
        lay.h[k] = kl.ext.h;
        lay.w[k] = kl.ext.w;
        lay.inner[k] = rel(kl.own, kl.ext);
    }
    lay.halo = layer_halo;
    lay.ctx = st;
    lay.overlap = st->d.overlap;
    ts_vgg_set_layout(&st->net[i], &lay);
}

/* Tiles, networks and targets of scale k; start (rank 0, whole image) is scattered to the tiles.
 * job and content/style images exist on rank 0 only. */
static void scale_setup(tstate *st, ts_job *job, int k, const ts_image *content, const ts_image *start, int tiled_losses) {
    st->W = st->d.W[k];
    st->H = st->d.H[k];
    ts_err err;
    TS_CHECK(ts_tiles_init(&st->grid, st->H, st->W, st->d.R, st->d.C, TILE_STRIDE, st->d.halo, &err) == 0, "%s",
             err.msg); /* validated on rank 0 */
    int layered = tiled_losses && st->d.layer_halo;
    if (layered) ts_tiles_set_ring(&st->grid, 1);
    int nt = ts_tiles_count(&st->grid);
    st->first = ts_tiles_rank_first(nt, st->nranks, st->rank);
    st->nlocal = ts_tiles_rank_count(nt, st->nranks, st->rank);
    int n = st->nlocal ? st->nlocal : 1;
    st->tile = ts_calloc((size_t)n, sizeof(ts_tile));
    st->net = ts_calloc((size_t)n, sizeof(ts_vgg));
    st->obj = ts_calloc((size_t)n, sizeof(ts_objective));
    st->xe = ts_calloc((size_t)n, sizeof(float *));
    st->ge = ts_calloc((size_t)n, sizeof(float *));
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&st->d.spec, keep);
    int deepest = ts_loss_spec_deepest(&st->d.spec);
    st->nown = 0;
    for (int i = 0; i < st->nlocal; i++) {
        st->tile[i] = ts_tiles_tile(&st->grid, st->first + i);
        ts_vgg_init(&st->net[i], st->be, &st->wt, st->d.pool, st->d.preproc, deepest, keep);
        if (st->d.conv != TS_CONV_AUTO) ts_vgg_set_conv(&st->net[i], (ts_conv_algo)st->d.conv);
        if (layered) set_layout(st, i);
        ts_objective_init(&st->obj[i], &st->net[i], &st->d.spec);
        st->xe[i] = st->be->alloc(ext_floats(&st->tile[i]));
        st->ge[i] = st->be->alloc(ext_floats(&st->tile[i]));
        st->nown += own_floats(&st->tile[i]);
    }
    /* style targets: each style image is cut into tiles like the content (Grams add up exactly), every
     * rank adds its tiles' shares, one sum gives every rank the targets */
    ts_vgg tnet;
    ts_objective tobj;
    ts_vgg_init(&tnet, st->be, &st->wt, st->d.pool, st->d.preproc, deepest, keep);
    if (st->d.conv != TS_CONV_AUTO) ts_vgg_set_conv(&tnet, (ts_conv_algo)st->d.conv);
    ts_objective_init(&tobj, &tnet, &st->d.spec);
    size_t ntg = ts_objective_ntargets(&tobj);
    st->npartials = ts_objective_npartials(&tobj); /* ranks without tiles take part in the sums too */
    double *acc = ts_calloc(ntg ? ntg : 1, sizeof(double));
    int nstyle = st->rank == 0 ? job->nstyle : 0;
    ts_comm_bcast(&nstyle, sizeof nstyle, 0);
    /* exact Grams need the receptive margin, whatever halo the mode uses for the content */
    int shalo = st->d.halo > ts_vgg_margin(st->d.arch, deepest) ? st->d.halo : ts_vgg_margin(st->d.arch, deepest);
    for (int s = 0; s < nstyle; s++) {
        ts_image si = {0};
        int dims[2] = {0, 0};
        double b = 0;
        if (st->rank == 0) {
            ts_job_style_image(job, k, s, &si);
            dims[0] = si.h;
            dims[1] = si.w;
            b = ts_job_style_weight(job, s);
        }
        ts_comm_bcast(dims, sizeof dims, 0);
        ts_comm_bcast(&b, sizeof b, 0);
        ts_tile_grid gs;
        int R = 1, C = 1;
        ts_err e;
        if (ts_tiles_default(st->nranks, dims[0], dims[1], TILE_STRIDE, &R, &C, &e) != 0 ||
            ts_tiles_init(&gs, dims[0], dims[1], R, C, TILE_STRIDE, shalo, &e) != 0)
            TS_CHECK(ts_tiles_init(&gs, dims[0], dims[1], 1, 1, TILE_STRIDE, shalo, &e) == 0, "%s", e.msg);
        float *mine = scatter_grid(st, &gs, si.data);
        int nt = ts_tiles_count(&gs), f = ts_tiles_rank_first(nt, st->nranks, st->rank);
        size_t off = 0;
        for (int t = f; t < f + ts_tiles_rank_count(nt, st->nranks, st->rank); t++) {
            ts_tile kt = ts_tiles_tile(&gs, t);
            ts_objective_tile ot = tile_regions(st, &gs, t);
            float *xt = st->be->alloc(ext_floats(&kt));
            st->be->upload(xt, mine + off, ext_floats(&kt));
            ts_objective_style_partials(&tobj, xt, kt.ext.h, kt.ext.w, &ot, b, acc);
            st->be->free(xt);
            off += ext_floats(&kt);
        }
        free(mine);
        ts_image_free(&si);
    }
    ts_comm_sum_double(acc, ntg);
    float *targets = ts_malloc(sizeof(float) * (ntg ? ntg : 1));
    for (size_t q = 0; q < ntg; q++) targets[q] = (float)acc[q];
    free(acc);
    ts_objective_free(&tobj);
    ts_vgg_free(&tnet);
    /* content features of each extended tile */
    scatter_ext(st, st->rank == 0 ? content->data : NULL, st->xe);
    for (int i = 0; i < st->nlocal; i++) {
        ts_objective_set_targets(&st->obj[i], targets);
        ts_objective_set_content(&st->obj[i], st->xe[i], st->tile[i].ext.h, st->tile[i].ext.w);
        if (tiled_losses) {
            ts_objective_tile ot = tile_regions(st, &st->grid, st->first + i);
            ts_objective_set_tile(&st->obj[i], &ot);
        }
    }
    free(targets);
    scatter_ext(st, st->rank == 0 ? start->data : NULL, st->xe);
    ts_halo_plan_init(&st->plan, &st->grid, st->nranks, st->rank, st->be, st->o->cuda_aware_mpi);
    st->partials = ts_calloc(st->npartials, sizeof(double));
}

/* ---------- the exact evaluation ---------- */

static double exact_eval(void *ctx, const float *x_own, float *g_own) {
    tstate *st = ctx;
    size_t off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        own_set(st, i, x_own + off, st->xe[i]);
        off += own_floats(&st->tile[i]);
    }
    ts_halo_forward(&st->plan, st->xe);
    memset(st->partials, 0, sizeof(double) * st->npartials);
    for (int i = 0; i < st->nlocal; i++) ts_objective_forward(&st->obj[i], st->xe[i], st->partials);
    ts_comm_wait_for_all(); /* time lost to the slowest forward pass: waiting, not communication */
    ts_comm_sum_double(st->partials, st->npartials);
    ts_loss_terms t = {0};
    for (int i = 0; i < st->nlocal; i++) t = ts_objective_backward(&st->obj[i], st->partials, st->xe[i], st->ge[i]);
    ts_comm_wait_for_all();
    ts_halo_reverse(&st->plan, st->ge);
    off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        own_get(st, i, st->ge[i], g_own + off);
        off += own_floats(&st->tile[i]);
    }
    /* every rank with a tile formed the same terms from the same totals; when some ranks hold no
     * tile, rank 0 (which always holds one) tells them */
    if (ts_tiles_count(&st->grid) < st->nranks) {
        double tot[4] = {t.total, t.content, t.style, t.tv};
        ts_comm_bcast(tot, sizeof tot, 0);
        t = (ts_loss_terms){tot[0], tot[1], tot[2], tot[3]};
    }
    st->last = t;
    return t.total;
}

static void sum_hook(double *v, int n, void *ctx) {
    (void)ctx;
    ts_comm_sum_double(v, (size_t)n);
}

/* ---------- the independent evaluation (one tile alone) ---------- */

typedef struct {
    tstate *st;
    int i;
} indep_ctx;

static double indep_eval(void *ctx, const float *x, float *g) {
    indep_ctx *c = ctx;
    ts_loss_terms t = ts_objective_eval(&c->st->obj[c->i], x, g);
    c->st->last = t;
    return t.total;
}

/* ---------- drivers ---------- */

static void log_line(FILE *log, int iter, int k, const tstate *st, int evals, double dt, double elapsed, int tile) {
    ts_log_iteration(log, iter, k + 1, st->W, st->H, st->last, evals, dt, elapsed, ts_comm_seconds(),
                     ts_comm_wait_seconds(), tile);
}

/* Optimises the owned pixels of all tiles together (exact). Returns 0 or -1 (err) on a non-finite loss. */
static int optimise_exact(tstate *st, int k, FILE *log, int *global_iter, double t_start, ts_ckpt_ctl *ck,
                          const ts_ckpt_pos *resume, int *stopped, ts_err *err) {
    const ts_options *o = st->o;
    float *x = st->be->alloc(st->nown ? st->nown : 1);
    size_t off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        own_get(st, i, st->xe[i], x + off);
        off += own_floats(&st->tile[i]);
    }
    int use_adam = strcmp(o->optimizer, "adam") == 0, rc = 0;
    ts_lbfgs lb;
    ts_adam ad;
    if (use_adam) ts_adam_init(&ad, st->be, st->nown, (float)o->learning_rate);
    else ts_lbfgs_init(&lb, st->be, st->nown, o->lbfgs_history, (ts_reduce_hook){sum_hook, NULL});
    ts_ckpt_data cd = {.lbfgs = use_adam ? NULL : &lb, .adam = use_adam ? &ad : NULL, .nblocks = 1, .blocks = &x,
                       .sizes = &st->nown};
    int it0 = 1;
    if (resume) {
        if (ts_ckpt_load(&ck->cfg, st->be, &cd, err)) rc = -1;
        it0 = resume->iter + 1;
    }
    ts_progress prog;
    char label[64];
    snprintf(label, sizeof label, "[%dx%d, %dx%d tiles]", st->W, st->H, st->d.R, st->d.C);
    ts_progress_start(&prog, label, st->d.iterations[k], o->print_every, o->quiet || st->rank != 0);
    for (int it = it0; it <= st->d.iterations[k] && rc == 0; it++) {
        double t0 = ts_now();
        ts_step_status s = use_adam ? ts_adam_step(&ad, x, exact_eval, st) : ts_lbfgs_step(&lb, x, exact_eval, st);
        st->last.total = ts_fault_loss(st->last.total, *global_iter + 1);
        if (!isfinite(st->last.total)) {
            rc = ts_fail(err, "loss became %s at iteration %d; stopping (try smaller weights or learning rate)%s%s",
                         isnan(st->last.total) ? "NaN" : "infinite", *global_iter + 1,
                         ck->dir ? "; the last good checkpoint stays in " : "", ck->dir ? ck->dir : "");
            break;
        }
        if (s != TS_STEP_OK) {
            if (st->rank == 0 && !o->quiet)
                fprintf(stderr, "\ntessera: L-BFGS stopped at iteration %d of scale %d (%s)\n", it, k + 1,
                        s == TS_STEP_CONVERGED ? "converged" : "no further decrease");
            break;
        }
        (*global_iter)++;
        log_line(log, *global_iter, k, st, use_adam ? ad.nevals : lb.nevals, ts_now() - t0, ts_now() - t_start, -1);
        ts_progress_update(&prog, it, st->last.total);
        cd.pos = (ts_ckpt_pos){k, it, *global_iter, -1, 1, ts_now() - t_start};
        if (ts_ckpt_tick(ck, st->be, &cd, *global_iter, 0)) {
            *stopped = 1;
            break;
        }
    }
    ts_progress_end(&prog, use_adam ? ad.iter : lb.iter, st->last.total);
    off = 0;
    for (int i = 0; i < st->nlocal; i++) { /* the result back into the tiles, halos refreshed */
        own_set(st, i, x + off, st->xe[i]);
        off += own_floats(&st->tile[i]);
    }
    ts_halo_forward(&st->plan, st->xe);
    if (use_adam) ts_adam_free(&ad);
    else ts_lbfgs_free(&lb);
    st->be->free(x);
    return rc;
}

/* Optimises each local tile alone (independent). The ranks step through their tiles in lockstep (slot j,
 * iteration it; a rank with fewer tiles idles) so that stop requests and checkpoints happen at the same
 * iteration everywhere. */
static int optimise_independent(tstate *st, int k, FILE *log, int *global_iter, double t_start, ts_ckpt_ctl *ck,
                                const ts_ckpt_pos *resume, int *stopped, ts_err *err) {
    const ts_options *o = st->o;
    int use_adam = strcmp(o->optimizer, "adam") == 0, rc = 0, iters = st->d.iterations[k], most = 0;
    int slots = ts_comm_max_int(st->nlocal);
    int base = resume ? resume->global_iter - resume->tile * iters - resume->iter : *global_iter;
    size_t *sizes = ts_malloc(sizeof(size_t) * (size_t)(st->nlocal ? st->nlocal : 1));
    for (int i = 0; i < st->nlocal; i++) sizes[i] = ext_floats(&st->tile[i]);
    int halt = 0; /* some rank failed */
    for (int j = resume ? resume->tile : 0; j < slots && !*stopped && !halt && rc == 0; j++) {
        int active = j < st->nlocal && !(resume && j == resume->tile && !resume->active);
        size_t n = active ? sizes[j] : 0;
        indep_ctx c = {st, j};
        ts_lbfgs lb;
        ts_adam ad;
        if (active && use_adam) ts_adam_init(&ad, st->be, n, (float)o->learning_rate);
        else if (active) ts_lbfgs_init(&lb, st->be, n, o->lbfgs_history, (ts_reduce_hook){0});
        int had = active;
        ts_ckpt_data cd = {.lbfgs = active && !use_adam ? &lb : NULL, .adam = active && use_adam ? &ad : NULL,
                           .nblocks = st->nlocal, .blocks = st->xe, .sizes = sizes};
        int it0 = 1, failed = 0;
        if (resume && j == resume->tile) {
            if (ts_ckpt_load(&ck->cfg, st->be, &cd, err)) failed = 1;
            it0 = resume->iter + 1;
        }
        ts_progress prog;
        char label[64];
        snprintf(label, sizeof label, "[rank 0 tile %d of %d]", st->first + j + 1, ts_tiles_count(&st->grid));
        ts_progress_start(&prog, label, iters, o->print_every, o->quiet || st->rank != 0 || !active);
        int done = it0 - 1;
        for (int it = it0; it <= iters && !failed; it++) {
            if (active) {
                double t0 = ts_now();
                ts_step_status s = use_adam ? ts_adam_step(&ad, st->xe[j], indep_eval, &c)
                                            : ts_lbfgs_step(&lb, st->xe[j], indep_eval, &c);
                st->last.total = ts_fault_loss(st->last.total, base + j * iters + it);
                if (!isfinite(st->last.total)) {
                    rc = ts_fail(err, "loss of tile %d became %s at iteration %d; stopping%s%s", st->first + j,
                                 isnan(st->last.total) ? "NaN" : "infinite", base + it,
                                 ck->dir ? "; the last good checkpoint stays in " : "", ck->dir ? ck->dir : "");
                    failed = 1;
                } else if (s != TS_STEP_OK) {
                    active = 0; /* this tile is done; the rank idles to the end of the slot */
                } else {
                    done = it;
                    if (st->rank == 0)
                        log_line(log, base + it, k, st, use_adam ? ad.nevals : lb.nevals, ts_now() - t0,
                                 ts_now() - t_start, st->first + j);
                    ts_progress_update(&prog, it, st->last.total);
                }
            }
            cd.lbfgs = active && !use_adam ? &lb : NULL;
            cd.adam = active && use_adam ? &ad : NULL;
            cd.pos = (ts_ckpt_pos){k, it, base + j * iters + it, j, active, ts_now() - t_start};
            int v = ts_ckpt_tick(ck, st->be, &cd, j * iters + it, failed);
            if (v == 1) *stopped = 1;
            if (v == 2) halt = 1;
            if (v) break;
        }
        if (had) ts_progress_end(&prog, done, st->last.total);
        if (done > most) most = done;
        if (had && use_adam) ts_adam_free(&ad);
        else if (had) ts_lbfgs_free(&lb);
        if (failed && rc == 0) rc = -1;
    }
    free(sizes);
    *global_iter = base + most;
    if (ts_comm_max_int(rc ? 1 : 0) && rc == 0) rc = ts_fail(err, "a tile's loss became non-finite on another rank");
    return rc;
}

/* Which backend every rank runs on, for rank 0's start-up line; rank 0 also prints the notice when
 * --backend auto left ranks on the CPU. */
static void backends_summary(const tstate *st, const ts_backend_choice *ch, char *buf, size_t n) {
    double *dev = ts_malloc(sizeof(double) * (size_t)st->nranks);
    ts_comm_allgather_double(ch->device >= 0 ? ch->device : ch->fell_back ? -2 : -1, dev);
    int gpus = 0, fell = 0;
    for (int r = 0; r < st->nranks; r++) {
        gpus += dev[r] >= 0;
        fell += dev[r] == -2;
    }
    if (gpus == 0) snprintf(buf, n, "CPU on every rank");
    else if (gpus == st->nranks) snprintf(buf, n, "CUDA on every rank (rank 0: device %d %s, %s GEMMs%s)", ch->device,
                                          ch->device_name, st->o->gpu_math, st->o->cuda_aware_mpi ? ", CUDA-aware MPI" : "");
    else snprintf(buf, n, "CUDA on %d rank%s, CPU on %d", gpus, gpus == 1 ? "" : "s", st->nranks - gpus);
    if (st->rank == 0 && fell && !st->o->quiet)
        fprintf(stderr, "tessera: --backend auto: %d of %d ranks found no usable CUDA GPU and run on the CPU%s%s%s\n", fell,
                st->nranks, ch->fell_back ? " (rank 0: " : "", ch->fell_back ? ch->why : "", ch->fell_back ? ")" : "");
    free(dev);
}

/* The end-of-run line: per-rank compute (wall minus communication, waiting and IO), communication,
 * waiting for slower ranks, rank 0's IO, the slowest rank and the halo recompute overhead. */
static void timing_summary(const tstate *st, double wall, double halo_ratio) {
    double v[3] = {ts_comm_seconds(), ts_comm_wait_seconds(), st->io_seconds};
    double compute = wall - v[0] - v[1] - v[2];
    size_t n = (size_t)st->nranks;
    double *all = ts_malloc(sizeof(double) * n * 4);
    ts_comm_allgather_double(v[0], all);
    ts_comm_allgather_double(v[1], all + n);
    ts_comm_allgather_double(v[2], all + 2 * n);
    ts_comm_allgather_double(compute, all + 3 * n);
    if (st->rank == 0 && !st->o->quiet) {
        int slow = 0;
        double *cm = all, *wt = all + n, *cp = all + 3 * n;
        double cmin = cp[0], cmax = cp[0], mmax = cm[0], wmax = wt[0];
        for (int r = 1; r < st->nranks; r++) {
            if (cp[r] < cmin) cmin = cp[r];
            if (cp[r] > cmax) cmax = cp[r], slow = r;
            if (cm[r] > mmax) mmax = cm[r];
            if (wt[r] > wmax) wmax = wt[r];
        }
        fprintf(stderr,
                "tessera: %d ranks, %dx%d tiles: compute %.1f-%.1f s per rank (slowest rank %d), communication up to "
                "%.1f s, waiting for slower ranks up to %.1f s, IO %.1f s (rank 0), halo recompute +%.0f%% pixels\n",
                st->nranks, st->d.R, st->d.C, cmin, cmax, slow, mmax, wmax, all[2 * n], 100.0 * halo_ratio);
    }
    free(all);
}

static double halo_overhead(const ts_tile_grid *g) {
    double ext = 0, own = 0;
    for (int t = 0; t < ts_tiles_count(g); t++) {
        ts_tile k = ts_tiles_tile(g, t);
        ext += (double)k.ext.h * k.ext.w;
        own += (double)k.own.h * k.own.w;
    }
    return ext / own - 1.0;
}

int ts_tiled_main(ts_command cmd, ts_options *o, int mode, ts_err *err) {
    tstate st;
    memset(&st, 0, sizeof st);
    st.o = o;
    st.nranks = ts_comm_size();
    st.rank = ts_comm_rank();
    double t_begin = ts_now();
    ts_job job;
    memset(&job, 0, sizeof job);
    int rc = 0;
    st.d.mode = mode;
    if (st.rank == 0) {
        double t_io = ts_now();
        rc = ts_job_prepare(&job, o, cmd == TS_CMD_RUN, err);
        st.io_seconds += ts_now() - t_io;
        if (rc == 0) rc = validate_tiling(&job, st.nranks, &st.d, err);
    }
    ts_comm_wait_for_all(); /* the other ranks wait while rank 0 reads the inputs */
    if (ts_comm_max_int(rc ? 1 : 0)) { /* rank 0 found bad input: everyone stops together */
        ts_job_free(&job);
        return st.rank == 0 ? -1 : -2;
    }
    if (st.rank == 0) {
        job_desc *d = &st.d;
        d->arch = job.arch;
        d->pool = job.pool;
        d->preproc = job.preproc;
        d->spec = job.spec;
        d->nscales = cmd == TS_CMD_RUN ? job.nscales : 1;
        for (int k = 0; k < job.nscales; k++) d->iterations[k] = job.iterations[k];
        d->conv = job.conv;
        d->nconv = job.weights.nconv;
        memcpy(d->in_c, job.weights.in_c, sizeof d->in_c);
        memcpy(d->out_c, job.weights.out_c, sizeof d->out_c);
        d->is_random = job.weights.is_random;
        snprintf(d->source, sizeof d->source, "%s", job.weights.source);
        snprintf(d->preset, sizeof d->preset, "%s", job.preset);
        st.wt = job.weights; /* borrowed: freed with the job */
    }
    ts_comm_bcast(&st.d, sizeof st.d, 0);
    bcast_weights(&st);
    /* each rank its own backend (rank 0 chose in ts_job_prepare): the GPU of its node-local rank */
    ts_backend_choice bch;
    if (st.rank == 0) {
        bch = job.backend;
    } else {
        ts_err berr;
        rc = ts_job_select_backend(o, ts_comm_local_rank(), &bch, &berr);
        if (rc) fprintf(stderr, "tessera: error: rank %d: %s\n", st.rank, berr.msg);
    }
    if (ts_comm_max_int(rc ? 1 : 0)) {
        if (st.rank == 0) ts_fail(err, "--backend %s: not every rank has a usable GPU (see above)", o->backend);
        ts_job_free(&job);
        if (st.rank != 0) ts_vgg_weights_free(&st.wt);
        return st.rank == 0 ? -1 : -2;
    }
    st.be = bch.be;
    char where[320];
    backends_summary(&st, &bch, where, sizeof where);
    /* threads: ranks on one node share its cores */
    st.be->set_threads(ts_threads_per_rank(o->threads));
    double t_start = ts_now();
    ts_ckpt_ctl ck;
    ts_ckpt_ctl_init(&ck, o, ts_ckpt_fingerprint(o, mode, st.nranks), 1, st.rank, st.nranks);
    ts_ckpt_pos resume = {0};
    int found = 0, stopped = 0;
    if (cmd == TS_CMD_RUN && ck.resume && (found = ts_ckpt_peek(&ck.cfg, &resume, err)) < 0) rc = -1;
    FILE *log = NULL;
    if (rc == 0 && st.rank == 0 && cmd == TS_CMD_RUN && o->log) {
        log = fopen(o->log, found ? "a" : "w");
        if (!log) rc = ts_fail(err, "%s: cannot write log", o->log);
    }
    if (ts_comm_max_int(rc ? 1 : 0)) {
        ts_job_free(&job);
        ts_ckpt_ctl_free(&ck);
        if (st.rank != 0) ts_vgg_weights_free(&st.wt);
        return st.rank == 0 ? -1 : -2;
    }
    char halo_desc[64];
    if (st.d.layer_halo) snprintf(halo_desc, sizeof halo_desc, "halos exchanged per layer");
    else snprintf(halo_desc, sizeof halo_desc, "halo %d px", st.d.halo);
    if (st.rank == 0 && !o->quiet)
        fprintf(stderr, "tessera: %s mode on %d ranks, %dx%d tiles, %s; %s, %s%s weights (%s preset); %s\n",
                mode == TS_MODE_EXACT ? "exact" : "independent", st.nranks, st.d.R, st.d.C, halo_desc,
                ts_arch_name(st.d.arch), st.d.is_random ? "random stand-in " : "", st.d.source, st.d.preset, where);

    ts_image result = {0}, content_orig = {0};
    int global_iter = 0; /* set from the checkpoint below when resuming */
    double halo_ratio = 0;
    if (found && st.rank == 0) /* said even with --quiet: the result continues an earlier run */
        fprintf(stderr, "tessera: resuming from %s/%s: scale %d, iteration %d\n", ck.dir, ck.cfg.gen,
                resume.scale + 1, resume.global_iter);
    if (found) {
        t_start -= resume.elapsed;
        global_iter = resume.global_iter;
    }
    for (int k = found ? resume.scale : 0; k < st.d.nscales && rc == 0 && !stopped; k++) {
        ts_image content = {0}, start = {0};
        int resuming = found && k == resume.scale;
        if (st.rank == 0) {
            ts_image_free(&content_orig);
            ts_job_content(&job, k, &content_orig, &content);
            if (resuming) ts_image_resize(&content, content.w, content.h, &start); /* the checkpoint brings the image */
            else ts_job_start(&job, k, &result, &content, &start);
        }
        int last = k == st.d.nscales - 1;
        int indep = mode == TS_MODE_INDEPENDENT && last && cmd == TS_CMD_RUN;
        scale_setup(&st, &job, k, &content, &start, !indep);
        halo_ratio = halo_overhead(&st.grid);
        ts_image_free(&content);
        ts_image_free(&start);
        ts_image_free(&result);
        if (cmd == TS_CMD_GRAD) {
            float *g = st.be->alloc(st.nown ? st.nown : 1), *x = st.be->alloc(st.nown ? st.nown : 1);
            size_t off = 0;
            for (int i = 0; i < st.nlocal; i++) {
                own_get(&st, i, st.xe[i], x + off);
                off += own_floats(&st.tile[i]);
            }
            exact_eval(&st, x, g);
            gather_owned(&st, g, &result);
            st.be->free(g);
            st.be->free(x);
        } else {
            const ts_ckpt_pos *rp = resuming ? &resume : NULL;
            rc = indep ? optimise_independent(&st, k, log, &global_iter, t_start, &ck, rp, &stopped, err)
                       : optimise_exact(&st, k, log, &global_iter, t_start, &ck, rp, &stopped, err);
            if (rc == 0 && !stopped) {
                if (indep) {
                    gather_blend(&st, &result);
                } else {
                    float *mine = st.be->alloc(st.nown ? st.nown : 1);
                    size_t off = 0;
                    for (int i = 0; i < st.nlocal; i++) {
                        own_get(&st, i, st.xe[i], mine + off);
                        off += own_floats(&st.tile[i]);
                    }
                    gather_owned(&st, mine, &result);
                    st.be->free(mine);
                }
            }
        }
        scale_free(&st);
    }
    if (ts_log_close(log, o->log, rc ? NULL : err) != 0) rc = -1; /* a full disk: said by rank 0, agreed below */
    if (stopped) ts_ckpt_stopped(&ck, global_iter);
    if (rc == 0 && st.rank == 0 && !stopped) {
        if (cmd == TS_CMD_GRAD) {
            int64_t shape[3] = {3, result.h, result.w};
            double t_io = ts_now();
            rc = ts_npy_write(o->grad_out, result.data, 3, shape, err);
            st.io_seconds += ts_now() - t_io;
            if (rc == 0) {
                printf("{\"total\": %.12g, \"content\": %.12g, \"style\": %.12g, \"tv\": %.12g}\n", st.last.total,
                       st.last.content, st.last.style, st.last.tv);
                fflush(stdout);
            }
        } else {
            ts_job_final_colors(&job, &result, &content_orig);
            ts_image_write_opts wopts = {.bits = o->output_bits, .quality = 95};
            double t_io = ts_now();
            rc = ts_image_write(o->output, &result, &wopts, err);
            st.io_seconds += ts_now() - t_io;
            if (rc == 0 && !o->quiet)
                fprintf(stderr, "tessera: wrote %s (%dx%d): loss %.6g after %d iterations in %.1f s\n", o->output,
                        result.w, result.h, st.last.total, global_iter, ts_now() - t_start);
        }
    }
    timing_summary(&st, ts_now() - t_begin, halo_ratio);
    int any = ts_comm_max_int(rc ? 1 : 0);
    ts_image_free(&result);
    ts_image_free(&content_orig);
    if (st.rank != 0) ts_vgg_weights_free(&st.wt);
    ts_job_free(&job);
    ts_ckpt_ctl_free(&ck);
    if (any) return rc ? -1 : -2;
    return 0;
}

int ts_threads_per_rank(int requested) {
    if (requested > 0) return requested;
    const char *e = getenv("OMP_NUM_THREADS");
    if (!e || !*e) e = getenv("SLURM_CPUS_PER_TASK");
    if (e && atoi(e) > 0) return atoi(e);
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    int per = (int)(n > 0 ? n : 1) / ts_comm_local_size();
    return per > 0 ? per : 1;
}
