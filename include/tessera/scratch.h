/* scratch.h - grow-only host work buffers kept between calls.
 *
 * The CPU convolutions need tens of megabytes of workspace per call (Winograd's transformed input
 * and products, im2col's columns). Allocating them per call hands the memory back to the kernel on
 * free and page-faults it in again on the next call: about a twentieth of an evaluation, and more when
 * two ranks fault at once. A slot keeps its buffer, grown to the largest request seen, until the
 * process ends. Call from the thread that drives the backend, never inside a parallel region;
 * contents are not kept between calls (a caller owns a slot only until it returns).
 */
#ifndef TESSERA_SCRATCH_H
#define TESSERA_SCRATCH_H

#include <stddef.h>

enum { TS_SCRATCH_WINO_V, TS_SCRATCH_WINO_M, TS_SCRATCH_COL, TS_SCRATCH_SLOTS };

/* at least n floats for slot (uninitialised) */
float *ts_scratch(int slot, size_t n);

#endif
