/* halo.c - the halo exchange of the exact mode and its adjoint. */
#include "tessera/halo.h"

#include <stdlib.h>
#include <string.h>

#include "tessera/check.h"
#include "tessera/comm.h"

static int intersect(ts_rect a, ts_rect b, ts_rect *out) {
    int y0 = a.y > b.y ? a.y : b.y, x0 = a.x > b.x ? a.x : b.x;
    int y1 = a.y + a.h < b.y + b.h ? a.y + a.h : b.y + b.h, x1 = a.x + a.w < b.x + b.w ? a.x + a.w : b.x + b.w;
    if (y1 <= y0 || x1 <= x0) return 0;
    *out = (ts_rect){y0, x0, y1 - y0, x1 - x0};
    return 1;
}

static int owner(const ts_halo_plan *p, int t) { return ts_tiles_rank_of(ts_tiles_count(&p->grid), p->nranks, t); }
static size_t piece_floats(const ts_halo_plan *p, const ts_halo_piece *q) { return (size_t)p->C * q->r.h * q->r.w; }

void ts_halo_plan_init(ts_halo_plan *p, const ts_tile_grid *g, int nranks, int rank, const ts_backend *be,
                       int device_mpi) {
    ts_halo_plan_init_layer(p, g, 1, 3, nranks, rank, be, device_mpi);
}

void ts_halo_plan_init_layer(ts_halo_plan *p, const ts_tile_grid *g, int s, int C, int nranks, int rank,
                             const ts_backend *be, int device_mpi) {
    memset(p, 0, sizeof *p);
    p->s = s;
    p->C = C;
    p->be = be;
    p->device_mpi = device_mpi && be->on_device;
    p->grid = *g;
    p->nranks = nranks;
    p->rank = rank;
    int nt = ts_tiles_count(g), cap = 16;
    p->pieces = ts_malloc(sizeof(ts_halo_piece) * (size_t)cap);
    /* a fixed global order: by destination rank, then owner tile, then destination tile; both sides
     * walk the same list, so the packed buffers line up */
    for (int dr = 0; dr < nranks; dr++)
        for (int u = 0; u < nt; u++)
            for (int t = 0; t < nt; t++) {
                if (u == t || owner(p, t) != dr) continue;
                ts_rect r;
                if (!intersect(ts_tiles_layer(g, u, s).own, ts_tiles_layer(g, t, s).ext, &r)) continue;
                if (p->npieces == cap) {
                    cap *= 2;
                    p->pieces = ts_realloc(p->pieces, sizeof(ts_halo_piece) * (size_t)cap);
                }
                p->pieces[p->npieces++] = (ts_halo_piece){u, t, r};
            }
    p->scounts = ts_calloc((size_t)nranks, sizeof(int));
    p->sdispls = ts_calloc((size_t)nranks, sizeof(int));
    p->rcounts = ts_calloc((size_t)nranks, sizeof(int));
    p->rdispls = ts_calloc((size_t)nranks, sizeof(int));
    size_t biggest = 1;
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->src) == rank) p->scounts[owner(p, q->dst)] += (int)piece_floats(p, q);
        if (owner(p, q->dst) == rank) p->rcounts[owner(p, q->src)] += (int)piece_floats(p, q);
        if (piece_floats(p, q) > biggest) biggest = piece_floats(p, q);
    }
    for (int r = 1; r < nranks; r++) {
        p->sdispls[r] = p->sdispls[r - 1] + p->scounts[r - 1];
        p->rdispls[r] = p->rdispls[r - 1] + p->rcounts[r - 1];
    }
    p->nsend = (size_t)p->sdispls[nranks - 1] + (size_t)p->scounts[nranks - 1];
    p->nrecv = (size_t)p->rdispls[nranks - 1] + (size_t)p->rcounts[nranks - 1];
    if (be->on_device) {
        p->dsend = be->alloc(p->nsend ? p->nsend : 1);
        p->drecv = be->alloc(p->nrecv ? p->nrecv : 1);
    }
    if (p->device_mpi) {
        p->sendbuf = p->dsend;
        p->recvbuf = p->drecv;
    } else {
        p->sendbuf = be->host_alloc(p->nsend ? p->nsend : 1);
        p->recvbuf = be->host_alloc(p->nrecv ? p->nrecv : 1);
    }
    p->bytes_per_exchange = (long)(p->nsend * sizeof(float));
    p->pos = ts_calloc((size_t)nranks, sizeof(size_t));
    p->xchg = ts_comm_xchg_new();
    if (g->ring > 0) {
        p->zeros = be->alloc(biggest);
        be->fill(0.0f, p->zeros, biggest);
    }
}

void ts_halo_plan_free(ts_halo_plan *p) {
    ts_comm_xchg_free(p->xchg); /* before the buffers go: sends in flight still read them */
    free(p->pos);
    free(p->pieces);
    free(p->scounts);
    free(p->sdispls);
    free(p->rcounts);
    free(p->rdispls);
    if (!p->device_mpi) {
        p->be->host_free(p->sendbuf);
        p->be->host_free(p->recvbuf);
    }
    if (p->dsend) p->be->free(p->dsend);
    if (p->drecv) p->be->free(p->drecv);
    if (p->zeros) p->be->free(p->zeros);
    memset(p, 0, sizeof *p);
}

/* copies the global rect r between a packed buffer (backend memory) and tile t's extended buffer:
 * to_packed, or back (add: accumulate) */
static void move(const ts_halo_plan *p, int t, float *ext, ts_rect r, float *packed, int to_packed, int add) {
    ts_tile k = ts_tiles_layer(&p->grid, t, p->s);
    int y = r.y - k.ext.y, x = r.x - k.ext.x;
    if (to_packed) p->be->region_get(ext, p->C, k.ext.h, k.ext.w, y, x, r.h, r.w, packed);
    else if (add) p->be->region_add(packed, p->C, k.ext.h, k.ext.w, y, x, r.h, r.w, ext);
    else p->be->region_set(packed, p->C, k.ext.h, k.ext.w, y, x, r.h, r.w, ext);
}

static float *local_ext(const ts_halo_plan *p, float *const *ext, int t) {
    int first = ts_tiles_rank_first(ts_tiles_count(&p->grid), p->nranks, p->rank);
    return ext[t - first];
}

/* where pieces are packed: backend memory (GPU) or the MPI buffers themselves (CPU) */
static float *pack_send(const ts_halo_plan *p) { return p->dsend ? p->dsend : p->sendbuf; }
static float *pack_recv(const ts_halo_plan *p) { return p->drecv ? p->drecv : p->recvbuf; }

/* Starts one exchange: send (packed, n floats, counts sc/sd) -> recv (rc/rd), staged through the
 * host buffers when the backend is a GPU and MPI may not touch its memory. begin() has already
 * waited for the plan's previous sends, before the packing overwrote their buffers. */
static void exchange_begin(ts_halo_plan *p, float *pk_send, float *mpi_send, size_t nsend, const int *sc,
                           const int *sd, float *mpi_recv, const int *rc, const int *rd) {
    if (pk_send != mpi_send) p->be->download(mpi_send, pk_send, nsend);
    else if (p->be->synchronize) p->be->synchronize(); /* MPI reads GPU memory: the packing must be done */
    ts_comm_xchg_start(p->xchg, mpi_send, sc, sd, mpi_recv, rc, rd);
}

static void exchange_end(ts_halo_plan *p, float *pk_recv, float *mpi_recv, size_t nrecv) {
    ts_comm_xchg_wait_recv(p->xchg);
    if (pk_recv != mpi_recv) p->be->upload(pk_recv, mpi_recv, nrecv);
}

/* The pieces this rank owns, contiguous in the global order: packed to be sent (forward), or the
 * gradient that came back for them added to the owned pixels (reverse). */
static void walk_owned(ts_halo_plan *p, float *const *ext, float *packed, int to_packed) {
    size_t off = 0;
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->src) != p->rank) continue;
        move(p, q->src, local_ext(p, ext, q->src), q->r, packed + off, to_packed, !to_packed);
        off += piece_floats(p, q);
    }
}

/* The pieces of this rank's halos, grouped by the rank that owns them: set from what arrived
 * (forward), or packed to go back to their owners and, with clear, zeroed (reverse). */
static void walk_halos(ts_halo_plan *p, float *const *ext, float *packed, int to_packed, int clear) {
    for (int r = 0; r < p->nranks; r++) p->pos[r] = 0;
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->dst) != p->rank) continue;
        int sr = owner(p, q->src);
        float *e = local_ext(p, ext, q->dst);
        move(p, q->dst, e, q->r, packed + p->rdispls[sr] + p->pos[sr], to_packed, 0);
        if (clear) move(p, q->dst, e, q->r, p->zeros, 0, 0);
        p->pos[sr] += piece_floats(p, q);
    }
}

static void begin(ts_halo_plan *p, int dir) {
    TS_CHECK(!p->pending, "halo exchange begun while another of this plan is in flight");
    ts_comm_xchg_wait_send(p->xchg); /* the buffers are about to be packed again */
    p->pending = dir;
}

void ts_halo_forward_begin(ts_halo_plan *p, float *const *ext) {
    begin(p, 1);
    walk_owned(p, ext, pack_send(p), 1);
    exchange_begin(p, pack_send(p), p->sendbuf, p->nsend, p->scounts, p->sdispls, p->recvbuf, p->rcounts, p->rdispls);
}

void ts_halo_forward_end(ts_halo_plan *p, float *const *ext) {
    TS_CHECK(p->pending == 1, "ts_halo_forward_end without ts_halo_forward_begin");
    exchange_end(p, pack_recv(p), p->recvbuf, p->nrecv);
    p->pending = 0;
    walk_halos(p, ext, pack_recv(p), 0, 0);
}

void ts_halo_forward(ts_halo_plan *p, float *const *ext) {
    ts_halo_forward_begin(p, ext);
    ts_halo_forward_end(p, ext);
}

/* the same pieces the other way: halo gradients go back to their owners and are added */
static void reverse_begin(ts_halo_plan *p, float *const *ext, int clear) {
    begin(p, 2);
    walk_halos(p, ext, pack_recv(p), 1, clear);
    exchange_begin(p, pack_recv(p), p->recvbuf, p->nrecv, p->rcounts, p->rdispls, p->sendbuf, p->scounts, p->sdispls);
}

void ts_halo_reverse_end(ts_halo_plan *p, float *const *ext) {
    TS_CHECK(p->pending == 2, "ts_halo_reverse_end without a reverse begin");
    exchange_end(p, pack_send(p), p->sendbuf, p->nsend);
    p->pending = 0;
    walk_owned(p, ext, pack_send(p), 0);
}

void ts_halo_reverse_begin(ts_halo_plan *p, float *const *ext) { reverse_begin(p, ext, 0); }

void ts_halo_reverse_move_begin(ts_halo_plan *p, float *const *ext) {
    TS_CHECK(p->zeros, "ts_halo_reverse_move needs a plan on a grid with per-layer halos");
    reverse_begin(p, ext, 1);
}

void ts_halo_reverse(ts_halo_plan *p, float *const *ext) {
    ts_halo_reverse_begin(p, ext);
    ts_halo_reverse_end(p, ext);
}

void ts_halo_reverse_move(ts_halo_plan *p, float *const *ext) {
    ts_halo_reverse_move_begin(p, ext);
    ts_halo_reverse_end(p, ext);
}
