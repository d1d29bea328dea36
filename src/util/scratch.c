/* scratch.c - grow-only host work buffers kept between calls (see scratch.h). */
#include "tessera/scratch.h"

#include <stdlib.h>

#include "tessera/check.h"

static float *g_buf[TS_SCRATCH_SLOTS];
static size_t g_len[TS_SCRATCH_SLOTS];

float *ts_scratch(int slot, size_t n) {
    TS_CHECK(slot >= 0 && slot < TS_SCRATCH_SLOTS, "scratch slot %d out of range", slot);
    if (n > g_len[slot]) {
        free(g_buf[slot]);
        g_buf[slot] = NULL; /* free first: the old and new buffers never both count */
        g_buf[slot] = ts_malloc(sizeof(float) * n);
        g_len[slot] = n;
    }
    return g_buf[slot];
}

size_t ts_scratch_bytes(void) {
    size_t b = 0;
    for (int i = 0; i < TS_SCRATCH_SLOTS; i++) b += g_len[i] * sizeof(float);
    return b;
}

void ts_scratch_release(void) {
    for (int i = 0; i < TS_SCRATCH_SLOTS; i++) {
        free(g_buf[i]);
        g_buf[i] = NULL;
        g_len[i] = 0;
    }
}
