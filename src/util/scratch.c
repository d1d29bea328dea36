/* scratch.c - grow-only host work buffers kept between calls (see scratch.h). */
#include "tessera/scratch.h"

#include <stdlib.h>

#include "tessera/check.h"

static float *g_buf[TS_SCRATCH_SLOTS];
static size_t g_len[TS_SCRATCH_SLOTS];

float *ts_scratch(int slot, size_t n) {
    TS_CHECK(slot >= 0 && slot < TS_SCRATCH_SLOTS, "scratch slot %d out of range", slot);
    if (n > g_len[slot]) {
        free(g_buf[slot]); /* free first: the old and new buffers never both count */
        g_buf[slot] = ts_malloc(sizeof(float) * n);
        g_len[slot] = n;
    }
    return g_buf[slot];
}
