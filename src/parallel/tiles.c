/* tiles.c - tile geometry: cuts, halos, layer positions, blend weights, rank assignment.
 * Every 2-D quantity is the product of two independent axes, so the work is done per axis. */
#include "tessera/tiles.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define TS_TILES_MAX_SIZE (1 << 24) /* px per image side */
#define TS_TILES_MAX_STRIDE 4096
#define TS_TILES_MAX_PARTS 65536 /* tiles in a grid, and rows or columns in "RxC" */
#define TS_TILES_PI 3.14159265358979323846

/* One axis of the grid: size px cut into parts at stride S, halo he (a multiple of S), or a
 * per-layer ring of positions (ring > 0). */
typedef struct {
    int size, parts, S, he, ring;
} axis;

static int imin(int a, int b) { return a < b ? a : b; }
static int imax(int a, int b) { return a > b ? a : b; }

static axis axis_y(const ts_tile_grid *g) { return (axis){g->H, g->R, g->S, g->halo_eff, g->ring}; }
static axis axis_x(const ts_tile_grid *g) { return (axis){g->W, g->C, g->S, g->halo_eff, g->ring}; }

/* Start of part i (i == parts gives size). The ceil(size/S) cells are shared evenly; the last
 * (cells % parts) parts take one extra cell, since the final cell may be partial. */
static int axis_cut(axis a, int i) {
    int cells = (a.size + a.S - 1) / a.S;
    int base = cells / a.parts, rem = cells % a.parts;
    int before = i * base + imax(0, i - (a.parts - rem));
    return imin(a.size, before * a.S);
}

static int axis_ext0(axis a, int i) { return imax(0, axis_cut(a, i) - a.he); }
static int axis_ext1(axis a, int i) { return imin(a.size, axis_cut(a, i + 1) + a.he); }

/* Every part needs at least one full stride cell: at most floor(size / S) parts (1 when size < S).
 * With the cut above that is also enough: only a last part of one partial cell could be narrower. */
static int axis_check(axis a, const char *parts_name, const char *size_name, ts_err *err) {
    int most = imax(1, a.size / a.S);
    if (a.parts < 1 || a.parts > most)
        return ts_fail(err,
                       "tiles: %d tile %s do not fit a %s of %d px: each needs at least one stride "
                       "cell of %d px, so use 1 to %d",
                       a.parts, parts_name, size_name, a.size, a.S, most);
    return 0;
}

int ts_tiles_init(ts_tile_grid *g, int H, int W, int R, int C, int S, int halo, ts_err *err) {
    if (H < 1 || W < 1 || H > TS_TILES_MAX_SIZE || W > TS_TILES_MAX_SIZE)
        return ts_fail(err, "tiles: image of %d x %d px (height x width) out of range (1 to %d a side)",
                       H, W, TS_TILES_MAX_SIZE);
    if (S < 1 || S > TS_TILES_MAX_STRIDE)
        return ts_fail(err, "tiles: stride %d out of range (1 to %d)", S, TS_TILES_MAX_STRIDE);
    if (halo < 0 || halo > TS_TILES_MAX_SIZE)
        return ts_fail(err, "tiles: halo %d px out of range (0 to %d)", halo, TS_TILES_MAX_SIZE);
    if (R < 1 || C < 1 || (long long)R * C > TS_TILES_MAX_PARTS)
        return ts_fail(err, "tiles: a %dx%d grid; need at least 1x1 and at most %d tiles", R, C,
                       TS_TILES_MAX_PARTS);
    ts_tile_grid t = {H, W, R, C, S, halo, (halo + S - 1) / S * S, 0};
    if (axis_check(axis_y(&t), "rows", "height", err) || axis_check(axis_x(&t), "columns", "width", err))
        return -1;
    *g = t;
    return 0;
}

void ts_tiles_set_ring(ts_tile_grid *g, int r) {
    TS_CHECK(r >= 0 && r <= TS_TILES_MAX_SIZE, "tiles: ring %d out of range", r);
    g->ring = r;
}

int ts_tiles_count(const ts_tile_grid *g) { return g->R * g->C; }

/* Owned and extended ranges of part i at stride s, in that stride's positions. */
static void axis_layer(axis a, int i, int s, int *own0, int *own1, int *ext0, int *ext1) {
    int n = a.size / s;
    *own0 = imin((axis_cut(a, i) + s - 1) / s, n);
    *own1 = imin((axis_cut(a, i + 1) + s - 1) / s, n);
    if (a.ring > 0) {
        *ext0 = imax(0, *own0 - a.ring);
        *ext1 = imin(n, *own1 + a.ring);
        return;
    }
    int e0 = axis_ext0(a, i), e1 = axis_ext1(a, i);
    *ext0 = e0 / s;                /* e0 is 0 or a multiple of S, hence of s */
    *ext1 = e0 / s + (e1 - e0) / s; /* the extended tile's own pooling floors */
}

ts_tile ts_tiles_layer(const ts_tile_grid *g, int t, int s) {
    TS_CHECK(t >= 0 && t < ts_tiles_count(g), "tile %d out of range (grid %dx%d)", t, g->R, g->C);
    TS_CHECK(s >= 1 && g->S % s == 0, "layer stride %d does not divide the tile stride %d", s, g->S);
    ts_tile r = {.row = t / g->C, .col = t % g->C};
    int o0, o1, e0, e1;
    axis_layer(axis_y(g), r.row, s, &o0, &o1, &e0, &e1);
    r.own.y = o0, r.own.h = o1 - o0, r.ext.y = e0, r.ext.h = e1 - e0;
    axis_layer(axis_x(g), r.col, s, &o0, &o1, &e0, &e1);
    r.own.x = o0, r.own.w = o1 - o0, r.ext.x = e0, r.ext.w = e1 - e0;
    r.oy = r.own.y - r.ext.y;
    r.ox = r.own.x - r.ext.x;
    return r;
}

ts_tile ts_tiles_tile(const ts_tile_grid *g, int t) { return ts_tiles_layer(g, t, 1); }

ts_rect ts_tiles_owned_in_ext(const ts_tile_grid *g, int t, int s) {
    ts_tile k = ts_tiles_layer(g, t, s);
    return (ts_rect){k.own.y - k.ext.y, k.own.x - k.ext.x, k.own.h, k.own.w};
}

void ts_tiles_crop_at(const ts_tile_grid *g, int t, int s, int nch, const float *image, float *tile) {
    ts_tile k = ts_tiles_layer(g, t, s);
    int H = g->H / s, W = g->W / s;
    for (int c = 0; c < nch; c++)
        for (int y = 0; y < k.ext.h; y++)
            memcpy(tile + ((size_t)c * k.ext.h + y) * k.ext.w, image + ((size_t)c * H + k.ext.y + y) * W + k.ext.x,
                   (size_t)k.ext.w * sizeof(float));
}

void ts_tiles_crop(const ts_tile_grid *g, int t, int nch, const float *image, float *tile) {
    ts_tiles_crop_at(g, t, 1, nch, image, tile);
}

void ts_tiles_paste(const ts_tile_grid *g, int t, int nch, const float *tile, float *image) {
    ts_tile k = ts_tiles_tile(g, t);
    for (int c = 0; c < nch; c++)
        for (int y = 0; y < k.own.h; y++)
            memcpy(image + ((size_t)c * g->H + k.own.y + y) * g->W + k.own.x,
                   tile + ((size_t)c * k.ext.h + k.oy + y) * k.ext.w + k.ox,
                   (size_t)k.own.w * sizeof(float));
}

/* Raised-cosine step across the cut at b over [b - d, b + d), sampled at pixel centres:
 * 0 before, 1 after, and ramp(b-1-j) + ramp(b+j) = 1, so two neighbours' ramps sum to one. */
static double ramp_up(int y, int b, int d) {
    if (d == 0) return y >= b ? 1.0 : 0.0;
    double u = (y + 0.5 - (b - d)) / (2.0 * d);
    if (u <= 0) return 0.0;
    if (u >= 1) return 1.0;
    return 0.5 - 0.5 * cos(TS_TILES_PI * u);
}

/* Weight of part i at global pixel y: ramps only at cuts shared with a neighbour. */
static double axis_weight(axis a, int i, int y) {
    double w = 1.0;
    if (i > 0) {
        int b = axis_cut(a, i);
        w *= ramp_up(y, b, imin(a.he, imin(b, a.size - b)));
    }
    if (i < a.parts - 1) {
        int b = axis_cut(a, i + 1);
        w *= 1.0 - ramp_up(y, b, imin(a.he, imin(b, a.size - b)));
    }
    return w;
}

void ts_tiles_weights(const ts_tile_grid *g, int t, float *w) {
    ts_tile k = ts_tiles_tile(g, t);
    axis ay = axis_y(g), ax = axis_x(g);
    for (int y = 0; y < k.ext.h; y++) {
        double wy = axis_weight(ay, k.row, k.ext.y + y);
        for (int x = 0; x < k.ext.w; x++)
            w[(size_t)y * k.ext.w + x] = (float)(wy * axis_weight(ax, k.col, k.ext.x + x));
    }
}

void ts_tiles_blend(const ts_tile_grid *g, int nch, const float *const *tiles, float *out) {
    axis ay = axis_y(g), ax = axis_x(g);
    /* Column weights of every tile column, stored back to back, and their sum per image column. */
    int *xoff = ts_malloc((size_t)(g->C + 1) * sizeof *xoff);
    xoff[0] = 0;
    for (int c = 0; c < g->C; c++) xoff[c + 1] = xoff[c] + axis_ext1(ax, c) - axis_ext0(ax, c);
    double *wx = ts_malloc((size_t)xoff[g->C] * sizeof *wx);
    double *sx = ts_calloc((size_t)g->W, sizeof *sx);
    for (int c = 0; c < g->C; c++)
        for (int x = axis_ext0(ax, c); x < axis_ext1(ax, c); x++) {
            wx[xoff[c] + x - axis_ext0(ax, c)] = axis_weight(ax, c, x);
            sx[x] += axis_weight(ax, c, x);
        }
    double *acc = ts_malloc((size_t)g->W * sizeof *acc);
    double *wy = ts_malloc((size_t)g->R * sizeof *wy);
    for (int y = 0; y < g->H; y++) {
        double sy = 0;
        for (int r = 0; r < g->R; r++) {
            int inside = y >= axis_ext0(ay, r) && y < axis_ext1(ay, r);
            wy[r] = inside ? axis_weight(ay, r, y) : 0.0;
            sy += wy[r];
        }
        for (int ch = 0; ch < nch; ch++) {
            for (int x = 0; x < g->W; x++) acc[x] = 0;
            for (int r = 0; r < g->R; r++) {
                if (wy[r] == 0) continue;
                int ey0 = axis_ext0(ay, r), eh = axis_ext1(ay, r) - ey0;
                for (int c = 0; c < g->C; c++) {
                    int ex0 = axis_ext0(ax, c), ew = axis_ext1(ax, c) - ex0;
                    const float *row = tiles[r * g->C + c] + ((size_t)ch * eh + (y - ey0)) * ew;
                    const double *w = wx + xoff[c];
                    for (int j = 0; j < ew; j++) acc[ex0 + j] += wy[r] * w[j] * row[j];
                }
            }
            float *o = out + ((size_t)ch * g->H + y) * g->W;
            for (int x = 0; x < g->W; x++) o[x] = (float)(acc[x] / (sy * sx[x]));
        }
    }
    free(wy);
    free(acc);
    free(sx);
    free(wx);
    free(xoff);
}

/* One decimal number of 1..TS_TILES_MAX_PARTS at *p; advances p. */
static int parse_count(const char **p, int *v) {
    const char *s = *p;
    long n = 0;
    if (*s < '0' || *s > '9') return -1;
    while (*s >= '0' && *s <= '9') {
        n = n * 10 + (*s++ - '0');
        if (n > TS_TILES_MAX_PARTS) return -1;
    }
    if (n < 1) return -1;
    *v = (int)n;
    *p = s;
    return 0;
}

int ts_tiles_parse(const char *s, int *R, int *C, ts_err *err) {
    const char *p = s;
    int r, c;
    if (!s || parse_count(&p, &r) || (*p != 'x' && *p != 'X') || (p++, parse_count(&p, &c)) || *p)
        return ts_fail(err, "tiles: '%s' is not a grid; expected ROWSxCOLS such as 2x3 (1 to %d each)",
                       s ? s : "(null)", TS_TILES_MAX_PARTS);
    *R = r;
    *C = c;
    return 0;
}

int ts_tiles_default(int n, int H, int W, int S, int *R, int *C, ts_err *err) {
    if (n < 1) return ts_fail(err, "tiles: %d ranks; need at least 1", n);
    int best_r = 0;
    double best = 0;
    for (int r = n; r >= 1; r--) { /* more rows first: ties keep full-width strips */
        ts_tile_grid g;
        if (n % r || ts_tiles_init(&g, H, W, r, n / r, S, 0, NULL)) continue;
        double score = fabs(log(((double)H / r) / ((double)W / (n / r))));
        if (!best_r || score < best - 1e-12) best_r = r, best = score;
    }
    if (!best_r)
        return ts_fail(err, "tiles: an image of %d x %d px (height x width) cannot be cut into %d tiles "
                       "of at least %d px a side", H, W, n, S);
    *R = best_r;
    *C = n / best_r;
    return 0;
}

int ts_tiles_rank_count(int ntiles, int nranks, int rank) {
    TS_CHECK(ntiles >= 0 && nranks >= 1 && rank >= 0 && rank < nranks, "bad rank %d of %d", rank, nranks);
    return ntiles / nranks + (rank < ntiles % nranks);
}

int ts_tiles_rank_first(int ntiles, int nranks, int rank) {
    TS_CHECK(ntiles >= 0 && nranks >= 1 && rank >= 0 && rank < nranks, "bad rank %d of %d", rank, nranks);
    return rank * (ntiles / nranks) + imin(rank, ntiles % nranks);
}

int ts_tiles_rank_of(int ntiles, int nranks, int t) {
    TS_CHECK(nranks >= 1 && t >= 0 && t < ntiles, "tile %d out of range (%d tiles)", t, ntiles);
    int base = ntiles / nranks, rem = ntiles % nranks;
    if (t < rem * (base + 1)) return t / (base + 1);
    return rem + (t - rem * (base + 1)) / base;
}
