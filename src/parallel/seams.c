/* seams.c - the seam score: differences across tile cuts against differences just beside them. */
#include "tessera/seams.h"

#include <math.h>

/* sum over channels and the cut's length of |I(a) - I(b)| for the pixel pair at offsets (a, b) from
 * the cut, along a vertical (vert = 1: columns a, b) or horizontal cut at position p */
static double pair_sum(const float *img, int C, int H, int W, int vert, int p, int a, int b, int *n) {
    double s = 0;
    int len = vert ? H : W, lim = vert ? W : H;
    if (p + a < 0 || p + b < 0 || p + a >= lim || p + b >= lim) return 0;
    for (int c = 0; c < C; c++)
        for (int i = 0; i < len; i++) {
            size_t ia = vert ? ((size_t)c * H + i) * W + (size_t)(p + a) : ((size_t)c * H + (size_t)(p + a)) * W + i;
            size_t ib = vert ? ((size_t)c * H + i) * W + (size_t)(p + b) : ((size_t)c * H + (size_t)(p + b)) * W + i;
            s += fabs((double)img[ia] - img[ib]);
        }
    *n += C * len;
    return s;
}

double ts_seam_score(const float *img, int C, int H, int W, const ts_tile_grid *g) {
    double across = 0, beside = 0;
    int na = 0, nb = 0;
    for (int v = 0; v < 2; v++) {
        int cuts = v ? g->C : g->R;
        for (int k = 1; k < cuts; k++) {
            ts_tile t = ts_tiles_tile(g, v ? k : k * g->C);
            int p = v ? t.own.x : t.own.y; /* first pixel after the cut */
            across += pair_sum(img, C, H, W, v, p, -1, 0, &na);
            beside += pair_sum(img, C, H, W, v, p, -3, -2, &nb) + pair_sum(img, C, H, W, v, p, 2, 3, &nb);
        }
    }
    if (na == 0 || nb == 0) return 1.0;
    double b = beside / nb;
    return b > 0 ? (across / na) / b : (across > 0 ? INFINITY : 1.0);
}
