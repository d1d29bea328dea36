/* safetensors.h - a validating safetensors reader.
 *
 * File layout: 8-byte little-endian header length N, N bytes of JSON header, then the data region.
 * The header maps tensor names to {"dtype", "shape", "data_offsets": [begin, end]} (offsets relative to
 * the data region) and may hold "__metadata__" (string -> string). Every check of docs/DESIGN.md §2
 * is made: header length within the file, JSON well formed, every offset pair inside the data region,
 * begin <= end, regions non-overlapping, dtype size x shape = byte count, supported dtype.
 * Tensors are converted to float32 on load (F32, F16, BF16 accepted).
 */
#ifndef TESSERA_SAFETENSORS_H
#define TESSERA_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "tessera/check.h"

typedef enum { TS_DT_F32 = 0, TS_DT_F16, TS_DT_BF16 } ts_dtype;

typedef struct {
    char *name;
    ts_dtype dtype; /* dtype in the file */
    int ndim;
    int64_t shape[8];
    size_t numel;
    float *data; /* converted to float32, malloc'd */
} ts_st_tensor;

typedef struct {
    int ntensors;
    ts_st_tensor *tensors;
    int nmeta;
    char **meta_keys; /* __metadata__ entries */
    char **meta_values;
} ts_safetensors;

/* Parses a whole file held in memory (used by the loader and the fuzz target). source names the file
 * in messages. On failure returns -1, err says what and where, and *out is left empty. */
int ts_safetensors_parse(const uint8_t *buf, size_t len, const char *source, ts_safetensors *out,
                         ts_err *err);
int ts_safetensors_load(const char *path, ts_safetensors *out, ts_err *err);
void ts_safetensors_free(ts_safetensors *st);

const ts_st_tensor *ts_safetensors_find(const ts_safetensors *st, const char *name);
const char *ts_safetensors_meta(const ts_safetensors *st, const char *key); /* NULL if absent */

#endif
