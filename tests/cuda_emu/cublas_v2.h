/* cublas_v2.h (test emulation) - the cuBLAS calls Tessera's CUDA backend makes, on the CPU (see
 * cuda_runtime.h here). cublasGemmEx follows cuBLAS's definition exactly: column-major matrices,
 * C = alpha op(A) op(B) + beta C (C is not read when beta == 0). Sums are taken in double, so this
 * is a reference-quality GEMM; with CUBLAS_COMPUTE_32F_FAST_TF32 the inputs are first rounded to TF32
 * (10 explicit mantissa bits, to nearest), which models the rounding of TF32 tensor cores (they add
 * in fp32, not double: the emulation slightly understates their error). */
#ifndef TESSERA_CUDA_EMU_CUBLAS_H
#define TESSERA_CUDA_EMU_CUBLAS_H

#include <vector>

#include "cuda_runtime.h"

typedef enum {
    CUBLAS_STATUS_SUCCESS = 0,
    CUBLAS_STATUS_NOT_INITIALIZED = 1,
    CUBLAS_STATUS_INVALID_VALUE = 7,
    CUBLAS_STATUS_NOT_SUPPORTED = 15,
} cublasStatus_t;
typedef enum { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 } cublasOperation_t;
typedef enum { CUBLAS_POINTER_MODE_HOST = 0 } cublasPointerMode_t;
typedef enum { CUBLAS_DEFAULT_MATH = 0, CUBLAS_TF32_TENSOR_OP_MATH = 3 } cublasMath_t;
typedef enum { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 } cublasComputeType_t;
typedef enum { CUDA_R_32F = 0 } cudaDataType;
typedef enum { CUBLAS_GEMM_DEFAULT = -1 } cublasGemmAlgo_t;
typedef struct ts_emu_blas *cublasHandle_t;
struct ts_emu_blas {
    int math;
};

inline const char *cublasGetStatusString(cublasStatus_t s) {
    switch (s) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    default: return "CUBLAS_STATUS_NOT_SUPPORTED";
    }
}
inline cublasStatus_t cublasCreate(cublasHandle_t *h) {
    *h = new ts_emu_blas{0};
    return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t h, cudaStream_t s) {
    (void)s;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t h, cublasPointerMode_t m) {
    (void)m;
    return h ? CUBLAS_STATUS_SUCCESS : CUBLAS_STATUS_NOT_INITIALIZED;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t h, cublasMath_t m) {
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    h->math = m;
    return CUBLAS_STATUS_SUCCESS;
}

inline float ts_emu_tf32(float v) {
    uint32_t u;
    memcpy(&u, &v, 4);
    if ((u & 0x7f800000u) != 0x7f800000u) u = (u + 0x1000u) & ~0x1fffu; /* keep 10 of 23 mantissa bits */
    memcpy(&v, &u, 4);
    return v;
}

inline cublasStatus_t cublasGemmEx(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n, int k,
                                   const void *alpha, const void *A, cudaDataType at, int lda, const void *B,
                                   cudaDataType bt, int ldb, const void *beta, void *C, cudaDataType ct, int ldc,
                                   cublasComputeType_t compute, cublasGemmAlgo_t algo) {
    (void)at, (void)bt, (void)ct, (void)algo;
    if (!h) return CUBLAS_STATUS_NOT_INITIALIZED;
    if (m < 0 || n < 0 || k < 0 || lda < (ta == CUBLAS_OP_N ? m : k) || ldb < (tb == CUBLAS_OP_N ? k : n) || ldc < m ||
        lda < 1 || ldb < 1 || ldc < 1)
        return CUBLAS_STATUS_INVALID_VALUE;
    if (m == 0 || n == 0) return CUBLAS_STATUS_SUCCESS;
    const float *a = (const float *)A, *b = (const float *)B;
    float *c = (float *)C, al = *(const float *)alpha, be = *(const float *)beta;
    /* every element the call reads or writes must be device memory */
    size_t a_last = ta == CUBLAS_OP_N ? (size_t)(k - 1) * lda + m : (size_t)(m - 1) * lda + k;
    size_t b_last = tb == CUBLAS_OP_N ? (size_t)(n - 1) * ldb + k : (size_t)(k - 1) * ldb + n;
    if ((k && (ts_emu_device_extent(a) < a_last * 4 || ts_emu_device_extent(b) < b_last * 4)) ||
        ts_emu_device_extent(c) < ((size_t)(n - 1) * ldc + m) * 4)
        ts_emu_die("cublasGemmEx: a matrix is not (all) device memory");
    int tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
    auto in = [tf32](float v) { return tf32 ? (double)ts_emu_tf32(v) : (double)v; };
    ts_emu_open();
    std::vector<double> acc((size_t)m);
    auto bval = [&](int l, int j) { return in(tb == CUBLAS_OP_N ? b[(size_t)j * ldb + l] : b[(size_t)l * ldb + j]); };
    for (int j = 0; j < n; j++) {
        if (ta == CUBLAS_OP_N) { /* columns of A scaled and added: contiguous */
            for (int i = 0; i < m; i++) acc[i] = 0.0;
            for (int l = 0; l < k; l++) {
                double bv = bval(l, j);
                const float *col = a + (size_t)l * lda;
                for (int i = 0; i < m; i++) acc[i] += in(col[i]) * bv;
            }
        } else { /* op(A) row i is stored column i of A: dot products */
            for (int i = 0; i < m; i++) {
                const float *row = a + (size_t)i * lda;
                double s = 0.0;
                for (int l = 0; l < k; l++) s += in(row[l]) * bval(l, j);
                acc[i] = s;
            }
        }
        float *cj = c + (size_t)j * ldc;
        for (int i = 0; i < m; i++) cj[i] = (float)(al * acc[i] + (be == 0.0f ? 0.0 : (double)be * cj[i]));
    }
    ts_emu_close();
    return CUBLAS_STATUS_SUCCESS;
}

#endif
