/* masks.c - masks of the guided Grams at every layer stride (loss.h, docs/DESIGN.md §1): the mask,
 * then 2x2 averages with the floor rule, as the network pools. Host memory. */
#include <stdlib.h>
#include <string.h>

#include "tessera/loss.h"

static float clamp01(float v) { return v < 0.0f ? 0.0f : v > 1.0f ? 1.0f : v; }

void ts_mask_set_sum(ts_mask_set *m) {
    for (int s = 0; s < m->n; s++)
        for (int k = 0; k < TS_LOSS_STRIDES; k++) {
            double z = 0.0;
            size_t n = (size_t)m->h[k] * m->w[k];
            for (size_t p = 0; p < n; p++) z += (double)m->level[s][k][p] * m->level[s][k][p];
            m->z[s][k] = z;
        }
}

void ts_mask_set_build(ts_mask_set *m, const float *const *masks, int n, int H, int W) {
    memset(m, 0, sizeof *m);
    m->n = n;
    for (int k = 0; k < TS_LOSS_STRIDES; k++) {
        m->h[k] = k ? m->h[k - 1] / 2 : H;
        m->w[k] = k ? m->w[k - 1] / 2 : W;
    }
    for (int s = 0; s < n; s++) {
        for (int k = 0; k < TS_LOSS_STRIDES; k++)
            m->level[s][k] = ts_malloc(sizeof(float) * ((size_t)m->h[k] * m->w[k] + 1));
        for (size_t p = 0; p < (size_t)H * W; p++) m->level[s][0][p] = clamp01(masks[s][p]);
        for (int k = 1; k < TS_LOSS_STRIDES; k++) {
            const float *a = m->level[s][k - 1];
            int wa = m->w[k - 1];
            for (int y = 0; y < m->h[k]; y++)
                for (int x = 0; x < m->w[k]; x++) {
                    const float *q = a + (size_t)2 * y * wa + 2 * x;
                    m->level[s][k][(size_t)y * m->w[k] + x] = 0.25f * (q[0] + q[1] + q[wa] + q[wa + 1]);
                }
        }
    }
    ts_mask_set_sum(m);
}

void ts_mask_set_crop(const ts_mask_set *whole, const ts_rect *r, ts_mask_set *out) {
    memset(out, 0, sizeof *out);
    out->n = whole->n;
    memcpy(out->z, whole->z, sizeof out->z);
    for (int k = 0; k < TS_LOSS_STRIDES; k++) {
        TS_CHECK(ts_rect_inside(r[k].y, r[k].x, r[k].h, r[k].w, whole->h[k], whole->w[k]), "mask crop at stride %d outside the mask", 1 << k);
        out->h[k] = r[k].h;
        out->w[k] = r[k].w;
        for (int s = 0; s < whole->n; s++) {
            out->level[s][k] = ts_malloc(sizeof(float) * ((size_t)r[k].h * r[k].w + 1));
            for (int y = 0; y < r[k].h; y++)
                memcpy(out->level[s][k] + (size_t)y * r[k].w,
                       whole->level[s][k] + (size_t)(r[k].y + y) * whole->w[k] + r[k].x, sizeof(float) * (size_t)r[k].w);
        }
    }
}

void ts_mask_set_free(ts_mask_set *m) {
    for (int s = 0; s < m->n; s++)
        for (int k = 0; k < TS_LOSS_STRIDES; k++) free(m->level[s][k]);
    memset(m, 0, sizeof *m);
}
