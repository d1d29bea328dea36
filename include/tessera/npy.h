/* npy.h - float32 NumPy .npy files (version 1.0/2.0, little-endian, C order). */
#ifndef TESSERA_NPY_H
#define TESSERA_NPY_H

#include <stdint.h>

#include "tessera/check.h"

/* Writes atomically (temporary name + rename). */
int ts_npy_write(const char *path, const float *data, int ndim, const int64_t *shape, ts_err *err);

/* Reads a '<f4' (or '<f8', converted) C-order array of at most 8 dims. *data is malloc'd. */
int ts_npy_read(const char *path, float **data, int *ndim, int64_t shape[8], ts_err *err);

#endif
