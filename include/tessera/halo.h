/* halo.h - moving tile halos between ranks for the exact mode.
 *
 * Every local tile keeps its extended rect (owned pixels plus halo) as a 3 x ext.h x ext.w buffer in
 * its backend's memory. forward() fills each halo from the tiles that own those pixels; reverse() is
 * its adjoint: the gradient that landed in a halo is sent back and added to the owner's pixels. One
 * exchange of non-blocking messages each way (ts_comm_xchg); the plan (which rectangles go where) is computed once per grid.
 * Pieces are packed and unpacked with the backend's region ops. On a GPU backend the packed pieces
 * travel through page-locked host buffers (one download before and one upload after each exchange),
 * or, with device_mpi, the packed GPU buffers are handed to a CUDA-aware MPI directly. */
#ifndef TESSERA_HALO_H
#define TESSERA_HALO_H

#include "tessera/backend.h"
#include "tessera/comm.h"
#include "tessera/tiles.h"
#include "tessera/vgg.h"

typedef struct {
    int src, dst; /* owner tile, tile whose halo needs the pixels */
    ts_rect r;    /* global pixel rect: own(src) intersected with ext(dst) */
} ts_halo_piece;

typedef struct {
    ts_tile_grid grid;
    int s, C; /* the layer stride the rects are taken at (ts_tiles_layer) and channels per position */
    int nranks, rank;
    int npieces;
    ts_halo_piece *pieces;
    int *scounts, *sdispls, *rcounts, *rdispls; /* forward direction, floats per rank */
    const ts_backend *be;
    int device_mpi;           /* MPI reads and writes the backend's (GPU) buffers itself */
    float *sendbuf, *recvbuf; /* what MPI sees: host (pinned on a GPU), or dsend/drecv with device_mpi */
    float *dsend, *drecv;     /* packed pieces in backend memory (GPU backends only, else NULL) */
    size_t nsend, nrecv;
    long bytes_per_exchange; /* this rank's sent bytes */
    float *zeros;            /* backend memory, largest piece: clears sent halos (ts_halo_reverse_move) */
    ts_comm_xchg *xchg;      /* the plan's messages in flight */
    size_t *pos;             /* per source rank: unpacking position */
    int pending;             /* 1: a forward exchange begun, 2: a reverse one, 0: none */
} ts_halo_plan;

/* device_mpi: only for a backend with on_device, and only when the MPI library accepts GPU buffers */
void ts_halo_plan_init(ts_halo_plan *p, const ts_tile_grid *g, int nranks, int rank, const ts_backend *be,
                       int device_mpi);
/* The same for the tensors of a layer of stride s with C channels (per-layer halos, grid ring > 0). */
void ts_halo_plan_init_layer(ts_halo_plan *p, const ts_tile_grid *g, int s, int C, int nranks, int rank,
                             const ts_backend *be, int device_mpi);
void ts_halo_plan_free(ts_halo_plan *p);
/* ext[i]: the extended buffer of the i-th tile this rank holds (tiles in ts_tiles_rank_first order) */
void ts_halo_forward(ts_halo_plan *p, float *const *ext);
void ts_halo_reverse(ts_halo_plan *p, float *const *ext);
/* reverse, and the halos sent are zeroed in their buffers (a gradient that moved to its owner) */
void ts_halo_reverse_move(ts_halo_plan *p, float *const *ext);
/* The same in two halves, so a rank computes while the pieces travel: begin packs what this rank
 * sends and posts the messages; end waits for what it receives and unpacks it (forward: sets the
 * halos; reverse: adds to the owned pixels). Between them the caller must not touch what is sent or
 * received: forward, the owned pixels may be read (not written) and the halos are stale until end;
 * reverse, the owned pixels that receive gradient may only be added to (end adds too). One
 * exchange per plan is in flight at a time; every rank begins and ends the same exchanges in the
 * same order. */
void ts_halo_forward_begin(ts_halo_plan *p, float *const *ext);
void ts_halo_forward_end(ts_halo_plan *p, float *const *ext);
void ts_halo_reverse_begin(ts_halo_plan *p, float *const *ext);
void ts_halo_reverse_move_begin(ts_halo_plan *p, float *const *ext);
void ts_halo_reverse_end(ts_halo_plan *p, float *const *ext);


/* ---- the per-layer rings of exact mode (one tile per rank) ----
 * A network's halo hook (vgg.h, ts_vgg_layout) that fills the ring of every conv input from the
 * neighbours and returns the ring's gradient to them: one plan per (layer stride, channels), made on
 * first use. */
typedef struct {
    ts_tile_grid grid; /* with its ring set (ts_tiles_set_ring) */
    int tile;          /* this rank's */
    ts_arch arch;
    int nranks, rank, device_mpi;
    const ts_backend *be;
    ts_halo_plan plans[TS_VGG_MAX_CONVS];
    int nplans;
} ts_layer_halos;

void ts_layer_halos_init(ts_layer_halos *h, const ts_tile_grid *g, int tile, ts_arch arch, int nranks, int rank,
                         const ts_backend *be, int device_mpi);
/* The layout of this rank's tile for ts_vgg_set_layout: tensor sizes, owned parts, the hook (on h,
 * which must outlive the network's use of it); overlap as the layout's. */
ts_vgg_layout ts_layer_halos_layout(ts_layer_halos *h, int overlap);
void ts_layer_halos_free(ts_layer_halos *h);

#endif
