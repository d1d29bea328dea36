/* comm.c - MPI start-up, shutdown, abort and the collectives Tessera uses; every MPI call of
 * Tessera lives in this file. */
#include "tessera/comm.h"

#include <limits.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#if defined(__has_include)
#if __has_include(<mpi-ext.h>)
#include <mpi-ext.h> /* Open MPI's extensions: MPIX_Query_cuda_support */
#endif
#endif

#include "tessera/check.h"

static int g_rank, g_size = 1, g_inited, g_local_size = 1, g_local_rank;
static double g_comm_seconds;

#define MPI_CHECK(call)                                                                            \
    do {                                                                                           \
        int rc_ = (call);                                                                          \
        if (rc_ != MPI_SUCCESS) ts_fatal("%s failed (MPI error %d)", #call, rc_);               \
    } while (0)

static void abort_hook(int code) { ts_comm_abort(code); }

void ts_comm_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) ts_fatal("MPI_Init_thread failed");
    g_inited = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    /* errors come back as codes and go through ts_fatal, which aborts every rank */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local_size);
        MPI_Comm_rank(node, &g_local_rank);
        MPI_Comm_free(&node);
    }
    ts_set_rank(g_rank);
    ts_set_abort_hook(abort_hook);
}

void ts_comm_finalize(void) {
    if (g_inited) MPI_Finalize();
    g_inited = 0;
}

int ts_comm_rank(void) { return g_rank; }
int ts_comm_size(void) { return g_size; }
int ts_comm_local_size(void) { return g_local_size; }
int ts_comm_local_rank(void) { return g_local_rank; }

int ts_comm_cuda_aware(char *why, size_t n) {
#if defined(OMPI_HAVE_MPI_EXT_CUDA) || defined(MPIX_CUDA_AWARE_SUPPORT)
    /* the run-time answer of the library actually loaded (the compile-time macro only says how the
     * headers were configured) */
    if (MPIX_Query_cuda_support() == 1) return 1;
    if (why && n)
        snprintf(why, n, "MPIX_Query_cuda_support() returns 0 (this MPI library was built without CUDA support, or it "
                         "is switched off at run time)");
    return 0;
#else
    if (why && n)
        snprintf(why, n, "this MPI library offers no way to ask for CUDA support (no MPIX_Query_cuda_support in "
                         "mpi-ext.h), so GPU buffers are not passed to it");
    return 0;
#endif
}
double ts_comm_seconds(void) { return g_comm_seconds; }

void ts_comm_abort(int code) {
    if (g_inited && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    if (g_inited) MPI_Finalize();
    exit(code);
}

double ts_comm_wtime(void) { return MPI_Wtime(); }

void ts_comm_barrier(void) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_bcast(void *buf, size_t bytes, int root) {
    double t = MPI_Wtime();
    char *p = buf;
    while (bytes > 0) {
        int n = bytes > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)bytes;
        MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, root, MPI_COMM_WORLD));
        p += n;
        bytes -= (size_t)n;
    }
    g_comm_seconds += MPI_Wtime() - t;
}

int ts_comm_max_int(int v) {
    int out;
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
    return out;
}

void ts_comm_sum_double(double *buf, size_t n) {
    double t = MPI_Wtime();
    while (n > 0) {
        int k = n > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)n;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, k, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD));
        buf += k;
        n -= (size_t)k;
    }
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_alltoallv_float(const float *send, const int *scounts, const int *sdispls, float *recv,
                             const int *rcounts, const int *rdispls) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Alltoallv(send, scounts, sdispls, MPI_FLOAT, recv, rcounts, rdispls, MPI_FLOAT, MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_gatherv_float(const float *send, int n, float *recv, const int *counts, const int *displs, int root) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Gatherv(send, n, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, root, MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_scatterv_float(const float *send, const int *counts, const int *displs, float *recv, int n, int root) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Scatterv(send, counts, displs, MPI_FLOAT, recv, n, MPI_FLOAT, root, MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_allgather_double(double v, double *all) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Allgather(&v, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, MPI_COMM_WORLD));
    g_comm_seconds += MPI_Wtime() - t;
}
