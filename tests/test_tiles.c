/* test_tiles.c - tile geometry: ownership, alignment, halos, layer positions, blending, grids. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tessera/tiles.h"
#include "test.h"

static const double PI = 3.14159265358979323846;

/* Counts failures quietly inside big loops, then reports once per case. */
static int g_bad;
#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (!(cond)) {                                                                             \
            if (g_bad++ < 5) {                                                                     \
                printf("  detail: ");                                                              \
                printf(__VA_ARGS__);                                                               \
                printf("\n");                                                                      \
            }                                                                                      \
        }                                                                                          \
    } while (0)

static uint64_t g_rng = 0x9e3779b97f4a7c15ull;
static double frand(void) {
    g_rng ^= g_rng << 13, g_rng ^= g_rng >> 7, g_rng ^= g_rng << 17;
    return (double)(g_rng >> 11) / 9007199254740992.0;
}

static int rect_inside(ts_rect in, ts_rect out) {
    return in.y >= out.y && in.x >= out.x && in.y + in.h <= out.y + out.h && in.x + in.w <= out.x + out.w;
}

/* The documented rule: one full stride cell per tile per axis. */
static int rule_ok(int size, int parts, int S) {
    int most = size / S > 1 ? size / S : 1;
    return parts >= 1 && parts <= most;
}

static const int SIZES[] = {1, 7, 16, 17, 31, 32, 37, 48, 63, 64, 100, 129, 255, 256};
#define NSIZES (int)(sizeof SIZES / sizeof SIZES[0])

/* Ownership, alignment, grid structure and balance over many shapes; refusals follow the rule. */
static void test_partition(void) {
    const int strides[] = {1, 4, 16};
    int ok_cases = 0, refused = 0;
    g_bad = 0;
    for (int si = 0; si < 3; si++)
        for (int hi = 0; hi < NSIZES; hi++)
            for (int wi = 0; wi < NSIZES; wi += 3)
                for (int R = 1; R <= 7; R++)
                    for (int C = 1; C <= 7; C += 2) {
                        int S = strides[si], H = SIZES[hi], W = SIZES[wi];
                        ts_tile_grid g;
                        ts_err err = {{0}};
                        int rc = ts_tiles_init(&g, H, W, R, C, S, 0, &err);
                        int want = rule_ok(H, R, S) && rule_ok(W, C, S);
                        CHECK((rc == 0) == want, "%dx%d grid %dx%d S=%d: rc %d, rule says %d (%s)", H, W, R,
                              C, S, rc, want, err.msg);
                        if (rc != 0) {
                            refused++;
                            CHECK(strlen(err.msg) > 0, "refusal without a message");
                            continue;
                        }
                        ok_cases++;
                        unsigned char *own = calloc((size_t)H * W, 1);
                        int minc = 1 << 30, maxc = 0;
                        for (int t = 0; t < ts_tiles_count(&g); t++) {
                            ts_tile k = ts_tiles_tile(&g, t);
                            CHECK(k.row == t / C && k.col == t % C, "row-major index");
                            CHECK(k.own.y % S == 0 && k.own.x % S == 0, "owned origin %d,%d not on stride %d",
                                  k.own.y, k.own.x, S);
                            CHECK(R == 1 || k.own.h >= S, "tile height %d < stride %d", k.own.h, S);
                            CHECK(C == 1 || k.own.w >= S, "tile width %d < stride %d", k.own.w, S);
                            ts_tile first = ts_tiles_tile(&g, k.row * C), top = ts_tiles_tile(&g, k.col);
                            CHECK(k.own.y == first.own.y && k.own.h == first.own.h, "rows share y cuts");
                            CHECK(k.own.x == top.own.x && k.own.w == top.own.w, "columns share x cuts");
                            if (k.col == 0) {
                                int cells = (k.own.h + S - 1) / S;
                                minc = cells < minc ? cells : minc;
                                maxc = cells > maxc ? cells : maxc;
                            }
                            CHECK(k.own.y >= 0 && k.own.x >= 0 && k.own.y + k.own.h <= H && k.own.x + k.own.w <= W,
                                  "owned rect inside the image");
                            for (int y = k.own.y; y < k.own.y + k.own.h && y < H; y++)
                                for (int x = k.own.x; x < k.own.x + k.own.w && x < W; x++) own[(size_t)y * W + x]++;
                        }
                        CHECK(maxc - minc <= 1, "row cells unbalanced: %d..%d", minc, maxc);
                        for (size_t i = 0; i < (size_t)H * W; i++)
                            CHECK(own[i] == 1, "%dx%d grid %dx%d S=%d: pixel %zu owned %d times", H, W, R, C,
                                  S, i, own[i]);
                        free(own);
                    }
    TS_EXPECT(g_bad == 0, "partition: %d problems", g_bad);
    TS_EXPECT(ok_cases > 500 && refused > 500, "partition: both outcomes exercised (%d ok, %d refused)",
              ok_cases, refused);
}

/* The shapes the rule is explained with. */
static void test_rule_examples(void) {
    ts_tile_grid g;
    ts_err err = {{0}};
    /* 37 px wide at stride 16: two full cells, so 3 columns are refused. */
    TS_EXPECT(ts_tiles_init(&g, 100, 37, 2, 3, 16, 0, &err) == -1, "100x37 as 2x3 at S=16 is refused");
    TS_EXPECT(strstr(err.msg, "columns") && strstr(err.msg, "37") && strstr(err.msg, "1 to 2"),
              "message names the axis, size and limit: '%s'", err.msg);
    TS_EXPECT(ts_tiles_init(&g, 100, 37, 2, 2, 16, 0, &err) == 0, "100x37 as 2x2 at S=16 works: %s", err.msg);
    ts_tile a = ts_tiles_tile(&g, 0), d = ts_tiles_tile(&g, 3);
    /* 7 cells of height (the last 4 px) -> 3 + 4 cells; 3 cells of width (last 5 px) -> 1 + 2. */
    TS_EXPECT(a.own.h == 48 && d.own.y == 48 && d.own.h == 52, "heights 48 + 52, got %d + %d", a.own.h,
              d.own.h);
    TS_EXPECT(a.own.w == 16 && d.own.x == 16 && d.own.w == 21, "widths 16 + 21, got %d + %d", a.own.w,
              d.own.w);
    TS_EXPECT(ts_tiles_init(&g, 100, 37, 6, 1, 16, 0, &err) == 0, "6 rows of 100 px: %s", err.msg);
    TS_EXPECT(ts_tiles_tile(&g, 5).own.h == 20, "the last row takes the partial cell: %d",
              ts_tiles_tile(&g, 5).own.h);
    TS_EXPECT(ts_tiles_init(&g, 100, 37, 7, 1, 16, 0, &err) == -1, "7 rows of 100 px would leave 4 px");
    TS_EXPECT(ts_tiles_init(&g, 10, 10, 1, 1, 16, 0, &err) == 0, "an image under one cell is one tile");
    TS_EXPECT(ts_tiles_init(&g, 10, 10, 2, 1, 16, 0, &err) == -1, "and cannot be cut");
    /* 1024 = 64 cells over 3 rows: 21, 21, 22 cells (extra cells go to the last rows). */
    TS_EXPECT(ts_tiles_init(&g, 1024, 1024, 3, 1, 16, 0, &err) == 0, "1024 in 3 rows");
    TS_EXPECT(ts_tiles_tile(&g, 0).own.h == 336 && ts_tiles_tile(&g, 1).own.h == 336 &&
                  ts_tiles_tile(&g, 2).own.h == 352,
              "1024 -> 336, 336, 352");
    TS_EXPECT(ts_tiles_init(&g, 0, 10, 1, 1, 16, 0, &err) == -1, "zero height refused");
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 0, 1, 16, 0, &err) == -1, "zero rows refused");
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 1, -2, 16, 0, &err) == -1, "negative columns refused");
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 1, 1, 0, 0, &err) == -1, "zero stride refused");
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 1, 1, 16, -1, &err) == -1, "negative halo refused");
    TS_EXPECT(ts_tiles_init(&g, 1 << 20, 1 << 20, 512, 512, 16, 0, &err) == -1 && strstr(err.msg, "65536"),
              "more than 65536 tiles refused: '%s'", err.msg);
    g.R = 99; /* a refused init leaves the grid alone */
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 9, 1, 16, 0, &err) == -1 && g.R == 99, "grid untouched on failure");
}

/* Extended rects: effective halo rounded up to S, clipped, both edges stride-aligned. */
static void test_halo(void) {
    const int halos[] = {0, 1, 15, 16, 17, 40, 80, 200};
    g_bad = 0;
    for (int hi = 0; hi < 8; hi++)
        for (int R = 1; R <= 5; R++)
            for (int C = 1; C <= 4; C++) {
                const int H = 100, W = 133, S = 16, P = halos[hi];
                ts_tile_grid g;
                if (ts_tiles_init(&g, H, W, R, C, S, P, NULL)) continue;
                int pe = (P + S - 1) / S * S;
                CHECK(g.halo == P && g.halo_eff == pe && pe % S == 0 && pe >= P && pe < P + S,
                      "halo %d -> %d", P, g.halo_eff);
                for (int t = 0; t < ts_tiles_count(&g); t++) {
                    ts_tile k = ts_tiles_tile(&g, t);
                    int y0 = k.own.y - pe < 0 ? 0 : k.own.y - pe;
                    int x0 = k.own.x - pe < 0 ? 0 : k.own.x - pe;
                    int y1 = k.own.y + k.own.h + pe > H ? H : k.own.y + k.own.h + pe;
                    int x1 = k.own.x + k.own.w + pe > W ? W : k.own.x + k.own.w + pe;
                    CHECK(k.ext.y == y0 && k.ext.x == x0 && k.ext.h == y1 - y0 && k.ext.w == x1 - x0,
                          "P=%d tile %d ext %d,%d %dx%d", P, t, k.ext.y, k.ext.x, k.ext.h, k.ext.w);
                    CHECK(k.ext.y % S == 0 && k.ext.x % S == 0, "ext origin aligned");
                    CHECK((k.ext.y + k.ext.h) % S == 0 || k.ext.y + k.ext.h == H, "ext bottom aligned");
                    CHECK((k.ext.x + k.ext.w) % S == 0 || k.ext.x + k.ext.w == W, "ext right aligned");
                    CHECK(k.oy == k.own.y - k.ext.y && k.ox == k.own.x - k.ext.x, "offsets");
                    CHECK(rect_inside(k.own, k.ext), "own inside ext");
                    CHECK(k.ext.y >= 0 && k.ext.x >= 0 && k.ext.y + k.ext.h <= H && k.ext.x + k.ext.w <= W,
                          "ext inside image");
                    if (k.row == 0) CHECK(k.ext.y == 0 && k.oy == 0, "top border clipped");
                    if (k.col == C - 1) CHECK(k.ext.x + k.ext.w == W, "right border clipped");
                }
            }
    TS_EXPECT(g_bad == 0, "halo: %d problems", g_bad);

    /* A halo wider than the tiles: 64 px in 4 rows of 16, halo 40 -> 48: clipped, not refused. */
    ts_tile_grid g;
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 4, 1, 16, 40, NULL) == 0, "wide halo accepted");
    ts_tile k = ts_tiles_tile(&g, 1);
    TS_EXPECT(k.ext.y == 0 && k.ext.h == 64 && k.oy == 16, "tile 1 extends over the whole image");
    k = ts_tiles_tile(&g, 3);
    TS_EXPECT(k.ext.y == 0 && k.ext.h == 64 && k.oy == 48 && k.own.h == 16, "last tile: ext 0..64, oy 48");
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 1, 1, 16, 1000, NULL) == 0 && ts_tiles_tile(&g, 0).ext.h == 64,
              "one tile with a huge halo is the image");
    /* halo 1 becomes one whole cell */
    TS_EXPECT(ts_tiles_init(&g, 64, 64, 2, 2, 16, 1, NULL) == 0 && ts_tiles_tile(&g, 3).ext.y == 16 &&
                  ts_tiles_tile(&g, 0).ext.h == 48,
              "halo 1 rounds up to 16");
}

/* Layer positions: owned positions partition floor(H/s) x floor(W/s) at every stride. */
static void test_layers(void) {
    const int strides[] = {1, 2, 4, 8, 16};
    const int hs[] = {16, 17, 33, 47, 100, 129, 250, 256};
    int cases = 0;
    g_bad = 0;
    for (int S = 16; S <= 32; S += 16)
        for (int hi = 0; hi < 8; hi++)
            for (int wi = 0; wi < 8; wi += 3)
                for (int R = 1; R <= 6; R++)
                    for (int C = 1; C <= 4; C++)
                        for (int P = 0; P <= 80; P += 40) {
                            int H = hs[hi], W = hs[wi];
                            ts_tile_grid g;
                            if (ts_tiles_init(&g, H, W, R, C, S, P, NULL)) continue;
                            cases++;
                            for (int si = 0; si < 5; si++) {
                                int s = strides[si], Hs = H / s, Ws = W / s;
                                unsigned char *own = calloc((size_t)Hs * Ws + 1, 1);
                                for (int t = 0; t < ts_tiles_count(&g); t++) {
                                    ts_tile px = ts_tiles_tile(&g, t), k = ts_tiles_layer(&g, t, s);
                                    if (s == 1)
                                        CHECK(!memcmp(&px, &k, sizeof k), "stride 1 layer = pixel tile");
                                    /* p is owned iff p*s lies in the owned pixel range and p < H/s */
                                    for (int p = 0; p < Hs; p++) {
                                        int in = p * s >= px.own.y && p * s < px.own.y + px.own.h;
                                        CHECK(in == (p >= k.own.y && p < k.own.y + k.own.h), "row position %d",
                                              p);
                                    }
                                    for (int p = 0; p < Ws; p++) {
                                        int in = p * s >= px.own.x && p * s < px.own.x + px.own.w;
                                        CHECK(in == (p >= k.own.x && p < k.own.x + k.own.w), "col position %d",
                                              p);
                                    }
                                    CHECK(k.ext.y * s == px.ext.y && k.ext.x * s == px.ext.x, "ext origin / s");
                                    CHECK(k.ext.h == px.ext.h / s && k.ext.w == px.ext.w / s, "ext size floors");
                                    CHECK(k.ext.y + k.ext.h <= Hs && k.ext.x + k.ext.w <= Ws, "ext inside map");
                                    CHECK(rect_inside(k.own, k.ext), "s=%d tile %d: own inside ext", s, t);
                                    CHECK(k.oy == k.own.y - k.ext.y && k.ox == k.own.x - k.ext.x, "offsets");
                                    CHECK(k.own.h > 0 && k.own.w > 0, "every tile owns positions at s=%d", s);
                                    CHECK(k.own.y + k.own.h <= Hs && k.own.x + k.own.w <= Ws,
                                          "s=%d tile %d: owned positions beyond the %dx%d map", s, t, Hs, Ws);
                                    for (int y = k.own.y; y < k.own.y + k.own.h && y < Hs; y++)
                                        for (int x = k.own.x; x < k.own.x + k.own.w && x < Ws; x++)
                                            own[(size_t)y * Ws + x]++;
                                }
                                for (size_t i = 0; i < (size_t)Hs * Ws; i++)
                                    CHECK(own[i] == 1, "%dx%d %dx%d S=%d s=%d: position %zu owned %d times", H,
                                          W, R, C, S, s, i, own[i]);
                                free(own);
                            }
                        }
    TS_EXPECT(g_bad == 0, "layers: %d problems", g_bad);
    TS_EXPECT(cases > 300, "layers: %d grids", cases);

    /* 100 px, 2 rows at S=16 -> 48 + 52 px; at s=16 the map has 6 rows: 3 + 3 (pixel 96..99 dropped). */
    ts_tile_grid g;
    ts_tiles_init(&g, 100, 100, 2, 1, 16, 0, NULL);
    ts_tile a = ts_tiles_layer(&g, 0, 16), b = ts_tiles_layer(&g, 1, 16);
    TS_EXPECT(a.own.y == 0 && a.own.h == 3 && b.own.y == 3 && b.own.h == 3, "s=16: 3 + 3 positions");
    b = ts_tiles_layer(&g, 1, 8);
    TS_EXPECT(b.own.y == 6 && b.own.h == 6, "s=8: last tile owns positions 6..11, got %d+%d", b.own.y,
              b.own.h);
}

/* Per-layer rings: at every stride the extended rect is the owned rect grown by the ring, clipped to
 * the map; the owned rects are the image-halo grid's; pooling an inner region gives the next one. */
static void test_ring(void) {
    const int hs[] = {16, 17, 33, 47, 100, 129, 250};
    int cases = 0;
    g_bad = 0;
    for (int hi = 0; hi < 7; hi++)
        for (int wi = 0; wi < 7; wi += 2)
            for (int R = 1; R <= 5; R++)
                for (int C = 1; C <= 4; C++)
                    for (int ring = 1; ring <= 2; ring++) {
                        int H = hs[hi], W = hs[wi];
                        ts_tile_grid g, r;
                        if (ts_tiles_init(&g, H, W, R, C, 16, 70, NULL)) continue;
                        r = g;
                        ts_tiles_set_ring(&r, ring);
                        cases++;
                        for (int t = 0; t < ts_tiles_count(&g); t++)
                            for (int s = 1; s <= 16; s *= 2) {
                                int Hs = H / s, Ws = W / s;
                                ts_tile a = ts_tiles_layer(&g, t, s), k = ts_tiles_layer(&r, t, s);
                                CHECK(!memcmp(&a.own, &k.own, sizeof k.own), "ring keeps the owned rect");
                                int y0 = k.own.y - ring < 0 ? 0 : k.own.y - ring;
                                int x0 = k.own.x - ring < 0 ? 0 : k.own.x - ring;
                                int y1 = k.own.y + k.own.h + ring > Hs ? Hs : k.own.y + k.own.h + ring;
                                int x1 = k.own.x + k.own.w + ring > Ws ? Ws : k.own.x + k.own.w + ring;
                                CHECK(k.ext.y == y0 && k.ext.x == x0 && k.ext.h == y1 - y0 && k.ext.w == x1 - x0,
                                      "%dx%d grid %dx%d ring %d s=%d tile %d: ext %d,%d %dx%d", H, W, R, C, ring, s,
                                      t, k.ext.y, k.ext.x, k.ext.h, k.ext.w);
                                CHECK(k.oy == k.own.y - k.ext.y && k.ox == k.own.x - k.ext.x, "offsets");
                                if (s < 16) { /* 2x2 pooling of the owned part lands on the next owned part */
                                    ts_tile n = ts_tiles_layer(&r, t, 2 * s);
                                    CHECK(n.own.y == k.own.y / 2 && n.own.x == k.own.x / 2 && k.own.y % 2 == 0 &&
                                              k.own.x % 2 == 0 && n.own.h == k.own.h / 2 && n.own.w == k.own.w / 2,
                                          "s=%d tile %d: pooling %dx%d onto %dx%d", s, t, k.own.h, k.own.w, n.own.h,
                                          n.own.w);
                                }
                            }
                    }
    TS_EXPECT(g_bad == 0, "ring: %d problems", g_bad);
    TS_EXPECT(cases > 200, "ring: %d grids", cases);
    /* 1x2 over 100 px: tile 0 owns columns 0..47, its ring reaches column 48; at s=16 (6 columns)
     * tile 1 owns 3..5 and its ring starts at 2 */
    ts_tile_grid g;
    ts_tiles_init(&g, 100, 100, 1, 2, 16, 0, NULL);
    ts_tiles_set_ring(&g, 1);
    ts_tile a = ts_tiles_tile(&g, 0), b = ts_tiles_layer(&g, 1, 16);
    TS_EXPECT(a.ext.x == 0 && a.ext.w == 49 && a.ext.h == 100, "ring tile 0: ext %d+%d", a.ext.x, a.ext.w);
    TS_EXPECT(b.own.x == 3 && b.own.w == 3 && b.ext.x == 2 && b.ext.w == 4 && b.ox == 1, "ring s=16 tile 1");
}

/* Separable ramp half-width at the cut b of an axis, as documented. */
static int ramp_d(int pe, int b, int size) {
    int d = pe < b ? pe : b;
    return d < size - b ? d : size - b;
}

/* Weights: positive sums, owner share, 1 away from cuts, no ramp at borders, smooth, ~0 at edges. */
static void test_weights(void) {
    const int hs[] = {64, 100, 129, 256};
    g_bad = 0;
    for (int hi = 0; hi < 4; hi++)
        for (int R = 1; R <= 4; R++)
            for (int C = 1; C <= 4; C++)
                for (int P = 0; P <= 48; P += 12) {
                    int H = hs[hi], W = hs[3 - hi], S = 16;
                    ts_tile_grid g;
                    if (ts_tiles_init(&g, H, W, R, C, S, P, NULL)) continue;
                    int pe = g.halo_eff, n = ts_tiles_count(&g);
                    /* smallest ramp half-width over all cuts, for the smoothness bound */
                    int dmin = 1 << 30;
                    for (int t = 1; t < n; t++) {
                        ts_tile k = ts_tiles_tile(&g, t);
                        if (k.col == 0 && k.row > 0) {
                            int d = ramp_d(pe, k.own.y, H);
                            dmin = d < dmin ? d : dmin;
                        }
                        if (k.row == 0 && k.col > 0) {
                            int d = ramp_d(pe, k.own.x, W);
                            dmin = d < dmin ? d : dmin;
                        }
                    }
                    double bound = dmin > 0 && dmin < (1 << 30) ? PI / (2.0 * dmin) + 1e-6 : 1.0;
                    double *sum = calloc((size_t)H * W, sizeof *sum);
                    for (int t = 0; t < n; t++) {
                        ts_tile k = ts_tiles_tile(&g, t);
                        int eh = k.ext.h, ew = k.ext.w;
                        float *w = malloc((size_t)eh * ew * sizeof *w);
                        ts_tiles_weights(&g, t, w);
                        double jump = 0;
                        for (int y = 0; y < eh; y++)
                            for (int x = 0; x < ew; x++) {
                                double v = w[(size_t)y * ew + x];
                                int gy = k.ext.y + y, gx = k.ext.x + x;
                                CHECK(v >= 0 && v <= 1, "weight %g out of [0,1]", v);
                                sum[(size_t)gy * W + gx] += v;
                                int owned = y >= k.oy && y < k.oy + k.own.h && x >= k.ox && x < k.ox + k.own.w;
                                if (owned) CHECK(v > 1.0 / 16, "owner weight %g", v);
                                /* 1 when at least 2*pe px from every cut shared with a neighbour */
                                int far = (k.row == 0 || gy >= k.own.y + pe) &&
                                          (k.row == R - 1 || gy < k.own.y + k.own.h - pe) &&
                                          (k.col == 0 || gx >= k.own.x + pe) &&
                                          (k.col == C - 1 || gx < k.own.x + k.own.w - pe);
                                if (far) CHECK(v == 1.0f, "interior weight %g at %d,%d", v, gy, gx);
                                if (x + 1 < ew) jump = fmax(jump, fabs(w[(size_t)y * ew + x + 1] - v));
                                if (y + 1 < eh) jump = fmax(jump, fabs(w[(size_t)(y + 1) * ew + x] - v));
                            }
                        /* edges facing a neighbour: the weight outside is 0, so the edge value is small */
                        for (int x = 0; x < ew; x++) {
                            if (k.row > 0) jump = fmax(jump, w[x]);
                            if (k.row < R - 1) jump = fmax(jump, w[(size_t)(eh - 1) * ew + x]);
                        }
                        for (int y = 0; y < eh; y++) {
                            if (k.col > 0) jump = fmax(jump, w[(size_t)y * ew]);
                            if (k.col < C - 1) jump = fmax(jump, w[(size_t)y * ew + ew - 1]);
                        }
                        if (n > 1 && P > 0)
                            CHECK(jump <= bound, "%dx%d %dx%d P=%d tile %d: jump %g > %g", H, W, R, C, P, t,
                                  jump, bound);
                        free(w);
                    }
                    for (size_t i = 0; i < (size_t)H * W; i++) CHECK(sum[i] > 0.25 / 4, "weight sum %g", sum[i]);
                    free(sum);
                }
    TS_EXPECT(g_bad == 0, "weights: %d problems", g_bad);

    /* Tiles wider than two halos: the ramps of a cut are complementary, so weights sum to one. */
    ts_tile_grid g;
    ts_tiles_init(&g, 256, 192, 4, 3, 16, 16, NULL);
    double *sum = calloc(256 * 192, sizeof *sum);
    for (int t = 0; t < 12; t++) {
        ts_tile k = ts_tiles_tile(&g, t);
        float *w = malloc((size_t)k.ext.h * k.ext.w * sizeof *w);
        ts_tiles_weights(&g, t, w);
        for (int y = 0; y < k.ext.h; y++)
            for (int x = 0; x < k.ext.w; x++) sum[(k.ext.y + y) * 192 + k.ext.x + x] += w[y * k.ext.w + x];
        if (t == 5) { /* an inner tile: near 0 at its ext edges, 1 in the middle */
            TS_EXPECT(w[0] < 1e-4 && w[(k.ext.h / 2) * k.ext.w + k.ext.w / 2] == 1.0f, "inner tile profile");
        }
        free(w);
    }
    double worst = 0;
    for (int i = 0; i < 256 * 192; i++) worst = fmax(worst, fabs(sum[i] - 1));
    TS_EXPECT(worst < 1e-6, "partition of unity: worst |sum - 1| = %g", worst);
    free(sum);

    /* No ramp at image borders: a 2x1 grid is flat across x. */
    ts_tiles_init(&g, 64, 64, 2, 1, 16, 16, NULL);
    ts_tile k = ts_tiles_tile(&g, 0);
    float *w = malloc((size_t)k.ext.h * k.ext.w * sizeof *w);
    ts_tiles_weights(&g, 0, w);
    int flat = 1;
    for (int y = 0; y < k.ext.h; y++)
        for (int x = 0; x < k.ext.w; x++) flat &= w[y * k.ext.w + x] == w[y * k.ext.w];
    TS_EXPECT(flat && w[0] == 1.0f, "no ramp along image borders");
    free(w);
}

/* Cuts every tile from one image: fills tiles[t] (caller frees). */
static float **crop_all(const ts_tile_grid *g, int nch, const float *img) {
    int n = ts_tiles_count(g);
    float **tiles = malloc((size_t)n * sizeof *tiles);
    for (int t = 0; t < n; t++) {
        ts_tile k = ts_tiles_tile(g, t);
        tiles[t] = malloc((size_t)nch * k.ext.h * k.ext.w * sizeof(float));
        ts_tiles_crop(g, t, nch, img, tiles[t]);
    }
    return tiles;
}

static void free_all(float **tiles, int n) {
    for (int t = 0; t < n; t++) free(tiles[t]);
    free(tiles);
}

/* Blending: constants and crops of one image come back exactly; different tiles join smoothly. */
static void test_blend(void) {
    const int hs[] = {16, 37, 64, 100, 129};
    int cases = 0;
    double worst_img = 0;
    g_bad = 0;
    for (int hi = 0; hi < 5; hi++)
        for (int wi = 0; wi < 5; wi++)
            for (int R = 1; R <= 4; R++)
                for (int C = 1; C <= 4; C++)
                    for (int P = 0; P <= 80; P += 20) {
                        int H = hs[hi], W = hs[wi], S = 16, nch = 1 + (R + C) % 3;
                        ts_tile_grid g;
                        if (ts_tiles_init(&g, H, W, R, C, S, P, NULL)) continue;
                        cases++;
                        int n = ts_tiles_count(&g);
                        size_t np = (size_t)H * W;
                        float *img = malloc(nch * np * sizeof *img), *out = malloc(nch * np * sizeof *out);
                        /* constant per channel */
                        const float cval[3] = {0.3f, -1.7f, 12345.678f};
                        for (int c = 0; c < nch; c++)
                            for (size_t i = 0; i < np; i++) img[c * np + i] = cval[c];
                        float **tiles = crop_all(&g, nch, img);
                        ts_tiles_blend(&g, nch, (const float *const *)tiles, out);
                        CHECK(!memcmp(img, out, nch * np * sizeof *img), "%dx%d %dx%d P=%d: constant changed", H,
                              W, R, C, P);
                        free_all(tiles, n);
                        /* random image */
                        for (size_t i = 0; i < nch * np; i++) img[i] = (float)(frand() * 2 - 0.5);
                        tiles = crop_all(&g, nch, img);
                        ts_tiles_blend(&g, nch, (const float *const *)tiles, out);
                        double e = 0;
                        for (size_t i = 0; i < nch * np; i++) e = fmax(e, fabs(out[i] - img[i]));
                        worst_img = fmax(worst_img, e);
                        CHECK(e <= 1e-6, "%dx%d %dx%d P=%d: image error %g", H, W, R, C, P, e);
                        /* paste of the owned parts is the identity too */
                        memset(out, 0, nch * np * sizeof *out);
                        for (int t = 0; t < n; t++) ts_tiles_paste(&g, t, nch, tiles[t], out);
                        CHECK(!memcmp(img, out, nch * np * sizeof *img), "paste round trip");
                        free_all(tiles, n);
                        free(img);
                        free(out);
                    }
    TS_EXPECT(g_bad == 0, "blend: %d problems", g_bad);
    TS_EXPECT(cases > 150, "blend: %d grids", cases);
    TS_EXPECT(worst_img <= 1e-6, "blend of crops returns the image: worst error %g", worst_img);

    /* Tiles of different constants: blended output is bounded and smooth, pasting has hard steps. */
    ts_tile_grid g;
    ts_tiles_init(&g, 256, 256, 4, 4, 16, 16, NULL);
    float **tiles = malloc(16 * sizeof *tiles);
    for (int t = 0; t < 16; t++) {
        ts_tile k = ts_tiles_tile(&g, t);
        size_t m = (size_t)k.ext.h * k.ext.w;
        tiles[t] = malloc(m * sizeof(float));
        for (size_t i = 0; i < m; i++) tiles[t][i] = (float)t;
    }
    float *out = malloc(256 * 256 * sizeof *out), *pasted = malloc(256 * 256 * sizeof *pasted);
    ts_tiles_blend(&g, 1, (const float *const *)tiles, out);
    for (int t = 0; t < 16; t++) ts_tiles_paste(&g, t, 1, tiles[t], pasted);
    double jb = 0, jp = 0, lo = 1e9, hi = -1e9;
    for (int y = 0; y < 256; y++)
        for (int x = 0; x < 256; x++) {
            double v = out[y * 256 + x];
            lo = fmin(lo, v), hi = fmax(hi, v);
            if (x < 255) {
                jb = fmax(jb, fabs(out[y * 256 + x + 1] - v));
                jp = fmax(jp, fabs(pasted[y * 256 + x + 1] - pasted[y * 256 + x]));
            }
            if (y < 255) {
                jb = fmax(jb, fabs(out[(y + 1) * 256 + x] - v));
                jp = fmax(jp, fabs(pasted[(y + 1) * 256 + x] - pasted[y * 256 + x]));
            }
        }
    TS_EXPECT(lo >= 0 && hi <= 15, "blend stays within the inputs: [%g, %g]", lo, hi);
    /* neighbours differ by at most 4 (one row down); a ramp of half-width 16 moves < pi/64 per px */
    TS_EXPECT(jb <= 4 * PI / 64 + 1e-5, "blended jump %g", jb);
    TS_EXPECT(jp == 4, "pasted jump %g", jp);
    free_all(tiles, 16);
    free(out);
    free(pasted);
}

static void test_parse(void) {
    const struct {
        const char *s;
        int r, c;
    } good[] = {{"2x3", 2, 3}, {"1x1", 1, 1}, {"16X1", 16, 1}, {"10x20", 10, 20}, {"65536x1", 65536, 1}};
    for (int i = 0; i < 5; i++) {
        int r = 0, c = 0;
        ts_err err = {{0}};
        int rc = ts_tiles_parse(good[i].s, &r, &c, &err);
        TS_EXPECT(rc == 0 && r == good[i].r && c == good[i].c, "'%s' -> %d %d (rc %d: %s)", good[i].s, r, c, rc,
                  err.msg);
    }
    const char *bad[] = {"",     "2",     "2x",    "x3",   "2x3x4", "0x2",  "2x0",          "-1x2",
                         "+2x3", " 2x3",  "2x3 ",  "2 x3", "axb",   "2.5x3", "99999999999x1", "65537x1",
                         "2*3",  "2x-3",  "2x3\n", "x",    "2xx3",  "0x0"};
    int nbad = (int)(sizeof bad / sizeof bad[0]);
    for (int i = 0; i < nbad; i++) {
        int r = -7, c = -7;
        ts_err err = {{0}};
        int rc = ts_tiles_parse(bad[i], &r, &c, &err);
        TS_EXPECT(rc == -1 && r == -7 && c == -7 && strstr(err.msg, "ROWSxCOLS"),
                  "'%s' refused with an example (rc %d: %s)", bad[i], rc, err.msg);
    }
    int r, c;
    TS_EXPECT(ts_tiles_parse(NULL, &r, &c, NULL) == -1, "NULL refused");
}

static double aspect_score(int H, int W, int R, int C) { return fabs(log(((double)H / R) / ((double)W / C))); }

static void test_default(void) {
    const int shapes[][2] = {{1024, 1024}, {512, 2048}, {2048, 512}, {600, 800}, {100, 37}};
    g_bad = 0;
    for (int si = 0; si < 5; si++)
        for (int n = 1; n <= 16; n++) {
            int H = shapes[si][0], W = shapes[si][1], R = 0, C = 0;
            ts_err err = {{0}};
            int rc = ts_tiles_default(n, H, W, 16, &R, &C, &err);
            int feasible = 0;
            for (int r = 1; r <= n; r++)
                if (n % r == 0 && rule_ok(H, r, 16) && rule_ok(W, n / r, 16)) feasible = 1;
            CHECK(rc == (feasible ? 0 : -1), "%dx%d n=%d: rc %d (%s)", H, W, n, rc, err.msg);
            if (rc) continue;
            ts_tile_grid g;
            CHECK(R * C == n, "%dx%d n=%d: %dx%d", H, W, n, R, C);
            CHECK(ts_tiles_init(&g, H, W, R, C, 16, 0, NULL) == 0, "default grid can be cut");
            for (int r = 1; r <= n; r++)
                if (n % r == 0 && rule_ok(H, r, 16) && rule_ok(W, n / r, 16))
                    CHECK(aspect_score(H, W, R, C) <= aspect_score(H, W, r, n / r) + 1e-12,
                          "%dx%d n=%d: %dx%d less square than %dx%d", H, W, n, R, C, r, n / r);
        }
    TS_EXPECT(g_bad == 0, "default: %d problems", g_bad);
    int R, C;
    TS_EXPECT(!ts_tiles_default(4, 1024, 1024, 16, &R, &C, NULL) && R == 2 && C == 2, "4 -> 2x2");
    TS_EXPECT(!ts_tiles_default(2, 1024, 1024, 16, &R, &C, NULL) && R == 2 && C == 1, "2 square -> 2x1 strips");
    TS_EXPECT(!ts_tiles_default(2, 512, 2048, 16, &R, &C, NULL) && R == 1 && C == 2, "2 wide -> 1x2");
    TS_EXPECT(!ts_tiles_default(12, 2048, 512, 16, &R, &C, NULL) && R == 6 && C == 2, "12 tall -> 6x2");
    TS_EXPECT(!ts_tiles_default(16, 1024, 1024, 16, &R, &C, NULL) && R == 4 && C == 4, "16 -> 4x4");
    TS_EXPECT(!ts_tiles_default(3, 32, 64, 16, &R, &C, NULL) && R == 1 && C == 3, "3 on 32x64 -> 1x3");
    ts_err err = {{0}};
    TS_EXPECT(ts_tiles_default(5, 32, 32, 16, &R, &C, &err) == -1 && strstr(err.msg, "5 tiles"),
              "5 tiles of 32x32 impossible: '%s'", err.msg);
    TS_EXPECT(ts_tiles_default(0, 32, 32, 16, &R, &C, &err) == -1, "0 ranks refused");
}

static void test_assign(void) {
    g_bad = 0;
    for (int nt = 1; nt <= 40; nt++)
        for (int nr = 1; nr <= 12; nr++) {
            int total = 0, lo = 1 << 30, hi = 0;
            for (int r = 0; r < nr; r++) {
                int cnt = ts_tiles_rank_count(nt, nr, r), first = ts_tiles_rank_first(nt, nr, r);
                CHECK(first == total, "blocks contiguous in rank order");
                for (int t = first; t < first + cnt; t++)
                    CHECK(ts_tiles_rank_of(nt, nr, t) == r, "%d tiles %d ranks: tile %d -> %d, want %d", nt, nr,
                          t, ts_tiles_rank_of(nt, nr, t), r);
                total += cnt;
                lo = cnt < lo ? cnt : lo;
                hi = cnt > hi ? cnt : hi;
            }
            CHECK(total == nt, "%d tiles %d ranks: counts add to %d", nt, nr, total);
            CHECK(hi - lo <= 1, "%d tiles %d ranks: counts %d..%d", nt, nr, lo, hi);
        }
    TS_EXPECT(g_bad == 0, "assign: %d problems", g_bad);
    TS_EXPECT(ts_tiles_rank_of(6, 4, 0) == 0 && ts_tiles_rank_of(6, 4, 1) == 0 && ts_tiles_rank_of(6, 4, 2) == 1 &&
                  ts_tiles_rank_of(6, 4, 3) == 1 && ts_tiles_rank_of(6, 4, 4) == 2 && ts_tiles_rank_of(6, 4, 5) == 3,
              "6 tiles on 4 ranks: 2,2,1,1");
    TS_EXPECT(ts_tiles_rank_count(2, 4, 3) == 0, "more ranks than tiles: the last ranks idle");
}

int main(void) {
    test_partition();
    test_rule_examples();
    test_halo();
    test_layers();
    test_ring();
    test_weights();
    test_blend();
    test_parse();
    test_default();
    test_assign();
    return ts_test_summary();
}
