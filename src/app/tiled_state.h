/* tiled_state.h - private to the tiled driver (tiled.c, tiled_setup.c): what every rank knows about
 * the job, and its tiles, networks and halos at the current scale. */
#ifndef TESSERA_TILED_STATE_H
#define TESSERA_TILED_STATE_H

#include "tessera/halo.h"
#include "tessera/job.h"
#include "tessera/tiles.h"

#define TILE_STRIDE 16 /* cumulative stride before conv5_1: tile cuts align to it */

/* Everything the other ranks need to know about the job, as plain data (broadcast by rank 0). */
typedef struct {
    ts_mode mode; /* exact or independent */
    ts_arch arch;
    ts_pool_kind pool;
    ts_preproc preproc;
    ts_conv_algo conv;
    int optimizer_id;
    ts_blend blend;
    ts_loss_spec spec;
    int nscales, W[TS_MAX_LIST], H[TS_MAX_LIST], iterations[TS_MAX_LIST];
    int R, C, halo;
    int layer_halo; /* exact mode exchanges a 1-position ring before every conv (else one image halo) */
    int overlap;    /* ... while the conv's interior is computed (TESSERA_HALO_OVERLAP, default 1) */
    int nconv, in_c[TS_VGG_MAX_CONVS], out_c[TS_VGG_MAX_CONVS], is_random;
    char source[256], preset[16];
} ts_tiled_desc;

typedef struct {
    const ts_backend *be;
    const ts_options *o;
    ts_tiled_desc d;
    ts_vgg_weights wt; /* rank 0: the job's (borrowed); elsewhere received */
    int nranks, rank;
    /* the current scale */
    int W, H;
    ts_tile_grid grid;
    int first, nlocal; /* this rank's tiles: first .. first+nlocal-1 */
    ts_tile *tile;
    ts_vgg *net;
    ts_objective *obj;
    float **xe, **ge; /* extended tiles: image and gradient (backend memory) */
    ts_halo_plan plan;     /* the image halo */
    ts_layer_halos rings;  /* the per-layer rings (layer exchange) */
    double *partials;
    size_t npartials, nown;
    double io_seconds; /* rank 0: reading inputs, writing the output */
    ts_loss_terms last;
} ts_tiled;

/* Rank 0: checks that the job can be tiled on nranks and fills the tiling part of d. 0, or -1 with
 * err (an input problem). */
int ts_tiled_validate(const ts_job *job, int nranks, ts_tiled_desc *d, ts_err *err);
/* Rank 0 fills the rest of st->d from the job; then every rank receives d and the weights. */
void ts_tiled_share_job(ts_tiled *st, const ts_job *job, ts_command cmd);
/* Tiles, networks and targets of scale k; content and start (rank 0, whole images) are scattered to
 * the tiles. job and the images exist on rank 0 only. tiled_losses: the losses read owned parts (exact
 * mode) rather than whole tiles (independent mode's last scale). */
void ts_tiled_scale_setup(ts_tiled *st, ts_job *job, int k, const ts_image *content, const ts_image *start,
                          int tiled_losses);
void ts_tiled_scale_free(ts_tiled *st);
/* Every local tile's owned pixels, packed (backend memory), out of or into the extended tiles */
void ts_tiled_own_get(const ts_tiled *st, float *const *ext, float *own);
void ts_tiled_own_set(const ts_tiled *st, const float *own, float *const *ext);

#endif
