/* tiled_setup.c - the tiled driver's set-up: the tiling checked on rank 0, the job and the weights
 * broadcast, and per scale the tiles, their networks, the style targets (computed by all ranks
 * together) and the scattered content and start images. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/comm.h"
#include "tessera/scatter.h"
#include "tiled_state.h"

/* ---------- validation on rank 0 ---------- */

int ts_tiled_validate(const ts_job *job, int nranks, ts_tiled_desc *d, ts_err *err) {
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
            if (job->halo_xchg == TS_HALO_XCHG_LAYER && d->mode == TS_MODE_EXACT && !one_each)
                return ts_fail(err, "--halo-exchange layer needs one tile per rank: %dx%d tiles on %d ranks (use "
                                    "--halo-exchange image, or --tiles with %d tiles)", d->R, d->C, nranks, nranks);
            d->layer_halo = d->mode == TS_MODE_EXACT && one_each && job->halo_xchg != TS_HALO_XCHG_IMAGE;
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

/* ---------- the job and the weights to every rank ---------- */

static void bcast_weights(ts_tiled *st) {
    ts_tiled_desc *d = &st->d;
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

void ts_tiled_share_job(ts_tiled *st, const ts_job *job, ts_command cmd) {
    if (st->rank == 0) {
        ts_tiled_desc *d = &st->d;
        d->arch = job->arch;
        d->pool = job->pool;
        d->preproc = job->preproc;
        d->conv = job->conv;
        d->optimizer_id = job->optimizer->id;
        d->blend = job->blend;
        d->spec = job->spec;
        d->nscales = cmd == TS_CMD_RUN ? job->nscales : 1;
        for (int k = 0; k < job->nscales; k++) d->iterations[k] = job->iterations[k];
        d->nconv = job->weights.nconv;
        memcpy(d->in_c, job->weights.in_c, sizeof d->in_c);
        memcpy(d->out_c, job->weights.out_c, sizeof d->out_c);
        d->is_random = job->weights.is_random;
        snprintf(d->source, sizeof d->source, "%s", job->weights.source);
        snprintf(d->preset, sizeof d->preset, "%s", job->preset);
        st->wt = job->weights; /* borrowed: freed with the job */
    }
    ts_comm_bcast(&st->d, sizeof st->d, 0);
    bcast_weights(st);
}

/* ---------- per-scale set-up ---------- */

/* Where tile t of grid g reads its losses: its owned part at every stride. */
static ts_objective_tile tile_regions(const ts_tile_grid *g, int t) {
    ts_objective_tile ot;
    memset(&ot, 0, sizeof ot);
    for (int k = 0; k < TS_LOSS_STRIDES; k++) ot.own[k] = ts_tiles_owned_in_ext(g, t, 1 << k);
    ot.H = g->H;
    ot.W = g->W;
    return ot;
}

static void net_init(const ts_tiled *st, ts_vgg *net) {
    int keep[TS_VGG_MAX_LAYERS];
    ts_loss_spec_keep(&st->d.spec, keep);
    ts_vgg_init(net, st->be, &st->wt, st->d.pool, st->d.preproc, ts_loss_spec_deepest(&st->d.spec), keep);
    if (st->d.conv != TS_CONV_AUTO) ts_vgg_set_conv(net, st->d.conv);
}

/* Rank 0 cuts a whole image into the tiles' extended rects; each rank uploads its own. */
static void scatter_ext(ts_tiled *st, const float *image, float **dst) {
    float *mine = ts_scatter_tiles(&st->grid, 3, image);
    size_t off = 0;
    for (int i = 0; i < st->nlocal; i++) {
        st->be->upload(dst[i], mine + off, ts_tile_ext_floats(&st->tile[i], 3));
        off += ts_tile_ext_floats(&st->tile[i], 3);
    }
    free(mine);
}

/* Masks to tiles: rank 0 holds the whole image's n masks (whole; ignored elsewhere), every rank gets
 * the levels of its tiles of grid g (their rects at every stride, tiles in order: out[i] for the i-th),
 * normalised by the whole image's sums (the tiles' own sums with own_sums: independent mode). */
static void scatter_masks(const ts_tiled *st, const ts_tile_grid *g, const ts_mask_set *whole, int n, int own_sums,
                          ts_mask_set *out) {
    int nt = ts_tiles_count(g), first = ts_tiles_rank_first(nt, st->nranks, st->rank);
    int count = ts_tiles_rank_count(nt, st->nranks, st->rank);
    double z[TS_MAX_MASKS][TS_LOSS_STRIDES];
    if (st->rank == 0) memcpy(z, whole->z, sizeof z);
    ts_comm_bcast(z, sizeof z, 0);
    for (int i = 0; i < count; i++) {
        memset(&out[i], 0, sizeof out[i]);
        out[i].n = n;
        memcpy(out[i].z, z, sizeof z);
    }
    for (int s = 0; s < n; s++)
        for (int k = 0; k < TS_LOSS_STRIDES; k++) {
            float *mine = ts_scatter_tiles_at(g, 1 << k, 1, st->rank == 0 ? whole->level[s][k] : NULL), *p = mine;
            for (int i = 0; i < count; i++) {
                ts_rect r = ts_tiles_layer(g, first + i, 1 << k).ext;
                size_t np = (size_t)r.h * r.w;
                out[i].h[k] = r.h;
                out[i].w[k] = r.w;
                out[i].level[s][k] = ts_malloc(sizeof(float) * (np + 1));
                memcpy(out[i].level[s][k], p, sizeof(float) * np);
                p += np;
            }
            free(mine);
        }
    for (int i = 0; i < count && own_sums; i++) ts_mask_set_sum(&out[i]);
}

/* The style targets of scale k: each style image is cut into tiles like the content (Grams add up
 * exactly), every rank adds its tiles' shares, one sum gives every rank the targets (malloc'd). With
 * masks each style image has its own target (slot s), guided by its own mask when it has one. */
static float *style_targets(ts_tiled *st, ts_job *job, int k) {
    ts_vgg tnet;
    ts_objective tobj;
    net_init(st, &tnet);
    ts_objective_init(&tobj, &tnet, &st->d.spec);
    size_t ntg = ts_objective_ntargets(&tobj);
    st->npartials = ts_objective_npartials(&tobj); /* ranks without tiles take part in the sums too */
    double *acc = ts_calloc(ntg ? ntg : 1, sizeof(double));
    int nstyle = st->rank == 0 ? job->nstyle : 0;
    ts_comm_bcast(&nstyle, sizeof nstyle, 0);
    /* exact Grams need the receptive margin, whatever halo the mode uses for the content */
    int margin = ts_vgg_margin(st->d.arch, ts_loss_spec_deepest(&st->d.spec));
    int shalo = st->d.halo > margin ? st->d.halo : margin;
    for (int s = 0; s < nstyle; s++) {
        ts_image si = {0};
        int dims[3] = {0, 0, 0}; /* height, width, whether it has a mask */
        double b = 0;
        ts_mask_set whole = {0}; /* rank 0: the style image's own mask */
        if (st->rank == 0) {
            ts_job_style_image(job, k, s, &si);
            dims[0] = si.h;
            dims[1] = si.w;
            b = ts_job_style_weight(job, s);
            ts_job_style_mask(job, k, s, &whole);
            dims[2] = whole.n;
        }
        ts_comm_bcast(dims, sizeof dims, 0);
        ts_comm_bcast(&b, sizeof b, 0);
        int masked = st->d.spec.nmasks > 0;
        ts_tile_grid gs;
        int R = 1, C = 1;
        ts_err e;
        if (ts_tiles_default(st->nranks, dims[0], dims[1], TILE_STRIDE, &R, &C, &e) != 0 ||
            ts_tiles_init(&gs, dims[0], dims[1], R, C, TILE_STRIDE, shalo, &e) != 0)
            TS_CHECK(ts_tiles_init(&gs, dims[0], dims[1], 1, 1, TILE_STRIDE, shalo, &e) == 0, "%s", e.msg);
        float *mine = ts_scatter_tiles(&gs, 3, si.data);
        int nt = ts_tiles_count(&gs), f = ts_tiles_rank_first(nt, st->nranks, st->rank);
        int nmine = ts_tiles_rank_count(nt, st->nranks, st->rank);
        ts_mask_set *sm = ts_calloc((size_t)(nmine ? nmine : 1), sizeof *sm);
        if (dims[2]) scatter_masks(st, &gs, &whole, 1, 0, sm);
        size_t off = 0;
        for (int t = f; t < f + nmine; t++) {
            ts_tile kt = ts_tiles_tile(&gs, t);
            ts_objective_tile ot = tile_regions(&gs, t);
            float *xt = st->be->alloc(ts_tile_ext_floats(&kt, 3));
            st->be->upload(xt, mine + off, ts_tile_ext_floats(&kt, 3));
            ts_objective_style_partials(&tobj, xt, kt.ext.h, kt.ext.w, &ot, dims[2] ? &sm[t - f] : NULL,
                                        masked ? s : 0, masked ? 1.0 : b, acc);
            st->be->free(xt);
            off += ts_tile_ext_floats(&kt, 3);
            ts_mask_set_free(&sm[t - f]);
        }
        free(sm);
        free(mine);
        ts_mask_set_free(&whole);
        ts_image_free(&si);
    }
    ts_comm_sum_double(acc, ntg);
    float *targets = ts_malloc(sizeof(float) * (ntg ? ntg : 1));
    for (size_t q = 0; q < ntg; q++) targets[q] = (float)acc[q];
    free(acc);
    ts_objective_free(&tobj);
    ts_vgg_free(&tnet);
    return targets;
}

void ts_tiled_scale_setup(ts_tiled *st, ts_job *job, int k, const ts_image *content, const ts_image *start,
                          int tiled_losses) {
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
    ts_layer_halos_init(&st->rings, &st->grid, st->first, st->d.arch, st->nranks, st->rank, st->be,
                        st->o->cuda_aware_mpi);
    st->nown = 0;
    for (int i = 0; i < st->nlocal; i++) {
        st->tile[i] = ts_tiles_tile(&st->grid, st->first + i);
        net_init(st, &st->net[i]);
        if (layered) {
            ts_vgg_layout lay = ts_layer_halos_layout(&st->rings, st->d.overlap);
            ts_vgg_set_layout(&st->net[i], &lay);
        }
        ts_objective_init(&st->obj[i], &st->net[i], &st->d.spec);
        st->xe[i] = st->be->alloc(ts_tile_ext_floats(&st->tile[i], 3));
        st->ge[i] = st->be->alloc(ts_tile_ext_floats(&st->tile[i], 3));
        st->nown += ts_tile_own_floats(&st->tile[i], 3);
    }
    float *targets = style_targets(st, job, k);
    /* content features of each extended tile */
    scatter_ext(st, st->rank == 0 ? content->data : NULL, st->xe);
    for (int i = 0; i < st->nlocal; i++) {
        ts_objective_set_targets(&st->obj[i], targets);
        ts_objective_set_content(&st->obj[i], st->xe[i], st->tile[i].ext.h, st->tile[i].ext.w);
        if (tiled_losses) {
            ts_objective_tile ot = tile_regions(&st->grid, st->first + i);
            ts_objective_set_tile(&st->obj[i], &ot);
        }
    }
    free(targets);
    if (st->d.spec.nmasks) { /* the content masks, cut like the image (at every stride) */
        ts_mask_set whole = {0}, *mine = ts_calloc((size_t)n, sizeof *mine);
        if (st->rank == 0) ts_job_masks(job, k, &whole);
        scatter_masks(st, &st->grid, &whole, st->d.spec.nmasks, !tiled_losses, mine);
        for (int i = 0; i < st->nlocal; i++) {
            ts_objective_set_masks(&st->obj[i], &mine[i]);
            ts_mask_set_free(&mine[i]);
        }
        free(mine);
        ts_mask_set_free(&whole);
    }
    scatter_ext(st, st->rank == 0 ? start->data : NULL, st->xe);
    ts_halo_plan_init(&st->plan, &st->grid, st->nranks, st->rank, st->be, st->o->cuda_aware_mpi);
    st->partials = ts_calloc(st->npartials, sizeof(double));
}

void ts_tiled_scale_free(ts_tiled *st) {
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
    ts_layer_halos_free(&st->rings);
    st->nlocal = 0;
    st->tile = NULL;
    st->net = NULL;
    st->obj = NULL;
    st->xe = st->ge = NULL;
    st->partials = NULL;
}

void ts_tiled_own_get(const ts_tiled *st, float *const *ext, float *own) {
    for (int i = 0; i < st->nlocal; i++) {
        const ts_tile *k = &st->tile[i];
        st->be->region_get(ext[i], 3, k->ext.h, k->ext.w, k->oy, k->ox, k->own.h, k->own.w, own);
        own += ts_tile_own_floats(k, 3);
    }
}

void ts_tiled_own_set(const ts_tiled *st, const float *own, float *const *ext) {
    for (int i = 0; i < st->nlocal; i++) {
        const ts_tile *k = &st->tile[i];
        st->be->region_set(own, 3, k->ext.h, k->ext.w, k->oy, k->ox, k->own.h, k->own.w, ext[i]);
        own += ts_tile_own_floats(k, 3);
    }
}
