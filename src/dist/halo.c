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
static size_t piece_floats(const ts_halo_piece *q) { return (size_t)3 * q->r.h * q->r.w; }

void ts_halo_plan_init(ts_halo_plan *p, const ts_tile_grid *g, int nranks, int rank) {
    memset(p, 0, sizeof *p);
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
                if (!intersect(ts_tiles_tile(g, u).own, ts_tiles_tile(g, t).ext, &r)) continue;
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
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->src) == rank) p->scounts[owner(p, q->dst)] += (int)piece_floats(q);
        if (owner(p, q->dst) == rank) p->rcounts[owner(p, q->src)] += (int)piece_floats(q);
    }
    for (int r = 1; r < nranks; r++) {
        p->sdispls[r] = p->sdispls[r - 1] + p->scounts[r - 1];
        p->rdispls[r] = p->rdispls[r - 1] + p->rcounts[r - 1];
    }
    p->nsend = (size_t)p->sdispls[nranks - 1] + (size_t)p->scounts[nranks - 1];
    p->nrecv = (size_t)p->rdispls[nranks - 1] + (size_t)p->rcounts[nranks - 1];
    p->sendbuf = ts_malloc(sizeof(float) * (p->nsend ? p->nsend : 1));
    p->recvbuf = ts_malloc(sizeof(float) * (p->nrecv ? p->nrecv : 1));
    p->bytes_per_exchange = (long)(p->nsend * sizeof(float));
}

void ts_halo_plan_free(ts_halo_plan *p) {
    free(p->pieces);
    free(p->scounts);
    free(p->sdispls);
    free(p->rcounts);
    free(p->rdispls);
    free(p->sendbuf);
    free(p->recvbuf);
    memset(p, 0, sizeof *p);
}

/* copies the global rect r between a packed buffer and tile t's extended buffer (add: accumulate) */
static void move(const ts_halo_plan *p, int t, float *ext, ts_rect r, float *packed, int to_packed, int add) {
    ts_tile k = ts_tiles_tile(&p->grid, t);
    for (int c = 0; c < 3; c++)
        for (int y = 0; y < r.h; y++) {
            float *e = ext + ((size_t)c * k.ext.h + (r.y - k.ext.y + y)) * k.ext.w + (r.x - k.ext.x);
            float *b = packed + ((size_t)c * r.h + y) * r.w;
            if (to_packed) memcpy(b, e, sizeof(float) * (size_t)r.w);
            else if (add)
                for (int x = 0; x < r.w; x++) e[x] += b[x];
            else memcpy(e, b, sizeof(float) * (size_t)r.w);
        }
}

static float *local_ext(const ts_halo_plan *p, float *const *ext, int t) {
    int first = ts_tiles_rank_first(ts_tiles_count(&p->grid), p->nranks, p->rank);
    return ext[t - first];
}

void ts_halo_forward(ts_halo_plan *p, float *const *ext) {
    size_t off = 0;
    for (int i = 0; i < p->npieces; i++) { /* pack: pieces this rank owns, in the global order */
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->src) != p->rank) continue;
        move(p, q->src, local_ext(p, ext, q->src), q->r, p->sendbuf + off, 1, 0);
        off += piece_floats(q);
    }
    ts_comm_alltoallv_float(p->sendbuf, p->scounts, p->sdispls, p->recvbuf, p->rcounts, p->rdispls);
    /* unpack in the same order: received pieces are grouped by source rank */
    size_t *pos = ts_calloc((size_t)p->nranks, sizeof(size_t));
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->dst) != p->rank) continue;
        int sr = owner(p, q->src);
        move(p, q->dst, local_ext(p, ext, q->dst), q->r, p->recvbuf + p->rdispls[sr] + pos[sr], 0, 0);
        pos[sr] += piece_floats(q);
    }
    free(pos);
}

void ts_halo_reverse(ts_halo_plan *p, float *const *ext) {
    /* the same pieces the other way: halo gradients go back to their owners and are added */
    size_t *pos = ts_calloc((size_t)p->nranks, sizeof(size_t));
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->dst) != p->rank) continue;
        int sr = owner(p, q->src);
        move(p, q->dst, local_ext(p, ext, q->dst), q->r, p->recvbuf + p->rdispls[sr] + pos[sr], 1, 0);
        pos[sr] += piece_floats(q);
    }
    free(pos);
    ts_comm_alltoallv_float(p->recvbuf, p->rcounts, p->rdispls, p->sendbuf, p->scounts, p->sdispls);
    size_t off = 0;
    for (int i = 0; i < p->npieces; i++) {
        const ts_halo_piece *q = &p->pieces[i];
        if (owner(p, q->src) != p->rank) continue;
        move(p, q->src, local_ext(p, ext, q->src), q->r, p->sendbuf + off, 0, 1);
        off += piece_floats(q);
    }
}
