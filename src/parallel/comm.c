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
#include <time.h>

#include "tessera/check.h"

/* g_comm is the current communicator: the world, or this rank's group in a batch (ts_comm_split_groups);
 * g_rank and g_size describe it. The world stays reachable for the batch's task counter. */
static MPI_Comm g_comm, g_group = MPI_COMM_NULL;
static MPI_Win g_counter_win = MPI_WIN_NULL;
static long *g_counter;
static int g_rank, g_size = 1, g_inited, g_local_size = 1, g_local_rank;
static int g_world_rank, g_world_size = 1, g_group_index, g_ngroups = 1;
static double g_comm_seconds, g_wait_seconds;

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
    MPI_Comm_rank(MPI_COMM_WORLD, &g_world_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_world_size);
    g_comm = MPI_COMM_WORLD;
    g_rank = g_world_rank;
    g_size = g_world_size;
    /* errors come back as codes and go through ts_fatal, which aborts every rank */
    MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
    MPI_Comm node;
    if (MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, g_world_rank, MPI_INFO_NULL, &node) == MPI_SUCCESS) {
        MPI_Comm_size(node, &g_local_size);
        MPI_Comm_rank(node, &g_local_rank);
        MPI_Comm_free(&node);
    }
    ts_set_rank(g_world_rank);
    ts_set_abort_hook(abort_hook);
}

void ts_comm_finalize(void) {
    if (g_inited) {
        ts_comm_use_world();
        if (g_group != MPI_COMM_NULL) MPI_Comm_free(&g_group);
        g_group = MPI_COMM_NULL;
        MPI_Finalize();
    }
    g_inited = 0;
}

int ts_comm_rank(void) { return g_rank; }
int ts_comm_size(void) { return g_size; }
int ts_comm_world_rank(void) { return g_world_rank; }
int ts_comm_world_size(void) { return g_world_size; }
int ts_comm_group_index(void) { return g_group_index; }
int ts_comm_group_count(void) { return g_ngroups; }

static void use(MPI_Comm c) {
    g_comm = c;
    MPI_Comm_rank(c, &g_rank);
    MPI_Comm_size(c, &g_size);
}

int ts_comm_split_groups(int group_size) {
    if (!g_inited) return 0;
    if (group_size < 1) group_size = 1;
    use(MPI_COMM_WORLD);
    if (g_group != MPI_COMM_NULL) MPI_Comm_free(&g_group);
    g_group_index = g_world_rank / group_size;
    g_ngroups = (g_world_size + group_size - 1) / group_size;
    MPI_CHECK(MPI_Comm_split(MPI_COMM_WORLD, g_group_index, g_world_rank, &g_group));
    MPI_Comm_set_errhandler(g_group, MPI_ERRORS_RETURN);
    use(g_group);
    return g_group_index;
}

void ts_comm_use_world(void) {
    if (g_inited) use(MPI_COMM_WORLD);
}

void ts_comm_use_group(void) {
    if (g_inited && g_group != MPI_COMM_NULL) use(g_group);
}

/* The task counter lives in a window on world rank 0; a passive-target fetch-and-add needs no
 * cooperation from rank 0, which is busy with its own tasks. */
void ts_comm_counter_create(void) {
    if (!g_inited || g_counter_win != MPI_WIN_NULL) return;
    MPI_Aint bytes = g_world_rank == 0 ? (MPI_Aint)sizeof(long) : 0;
    MPI_CHECK(MPI_Win_allocate(bytes, sizeof(long), MPI_INFO_NULL, MPI_COMM_WORLD, &g_counter, &g_counter_win));
    if (g_world_rank == 0) {
        MPI_CHECK(MPI_Win_lock(MPI_LOCK_EXCLUSIVE, 0, 0, g_counter_win));
        *g_counter = 0;
        MPI_CHECK(MPI_Win_unlock(0, g_counter_win));
    }
    MPI_CHECK(MPI_Barrier(MPI_COMM_WORLD)); /* nobody takes a number before it is zero */
}

long ts_comm_counter_next(void) {
    if (!g_inited || g_counter_win == MPI_WIN_NULL) ts_fatal("task counter used before ts_comm_counter_create");
    long one = 1, got = -1;
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Win_lock(MPI_LOCK_SHARED, 0, 0, g_counter_win));
    MPI_CHECK(MPI_Fetch_and_op(&one, &got, MPI_LONG, 0, 0, MPI_SUM, g_counter_win));
    MPI_CHECK(MPI_Win_unlock(0, g_counter_win));
    g_comm_seconds += MPI_Wtime() - t;
    return got;
}

void ts_comm_counter_free(void) {
    if (g_inited && g_counter_win != MPI_WIN_NULL) MPI_CHECK(MPI_Win_free(&g_counter_win));
    g_counter_win = MPI_WIN_NULL;
}
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
double ts_comm_wait_seconds(void) { return g_wait_seconds; }
void ts_comm_reset_seconds(void) { g_comm_seconds = g_wait_seconds = 0.0; }

void ts_comm_abort(int code) {
    if (g_inited && g_world_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    if (g_inited) MPI_Finalize();
    exit(code);
}

double ts_comm_wtime(void) { return MPI_Wtime(); }

void ts_comm_barrier(void) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Barrier(g_comm));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_wait_for_all(void) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Barrier(g_comm));
    g_wait_seconds += MPI_Wtime() - t;
}

void ts_comm_wait_idle(void) {
    double t = MPI_Wtime();
    MPI_Request req;
    int done = 0;
    MPI_CHECK(MPI_Ibarrier(g_comm, &req));
    for (;;) {
        MPI_CHECK(MPI_Test(&req, &done, MPI_STATUS_IGNORE));
        if (done) break;
        struct timespec ts = {0, 2000000}; /* 2 ms */
        nanosleep(&ts, NULL);
    }
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_bcast(void *buf, size_t bytes, int root) {
    double t = MPI_Wtime();
    char *p = buf;
    while (bytes > 0) {
        int n = bytes > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)bytes;
        MPI_CHECK(MPI_Bcast(p, n, MPI_BYTE, root, g_comm));
        p += n;
        bytes -= (size_t)n;
    }
    g_comm_seconds += MPI_Wtime() - t;
}

int ts_comm_max_int(int v) {
    int out;
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Allreduce(&v, &out, 1, MPI_INT, MPI_MAX, g_comm));
    g_comm_seconds += MPI_Wtime() - t;
    return out;
}

void ts_comm_sum_double(double *buf, size_t n) {
    double t = MPI_Wtime();
    while (n > 0) {
        int k = n > (size_t)(INT_MAX / 2) ? INT_MAX / 2 : (int)n;
        MPI_CHECK(MPI_Allreduce(MPI_IN_PLACE, buf, k, MPI_DOUBLE, MPI_SUM, g_comm));
        buf += k;
        n -= (size_t)k;
    }
    g_comm_seconds += MPI_Wtime() - t;
}

struct ts_comm_xchg {
    MPI_Comm comm;
    int n;            /* ranks */
    int nrecv, nsend; /* requests in flight */
    MPI_Request *recv, *send;
};

enum { XCHG_TAG = 7301 };

ts_comm_xchg *ts_comm_xchg_new(void) {
    ts_comm_xchg *x = ts_calloc(1, sizeof *x);
    x->comm = g_comm;
    x->n = g_size;
    x->recv = ts_malloc(sizeof(MPI_Request) * (size_t)g_size);
    x->send = ts_malloc(sizeof(MPI_Request) * (size_t)g_size);
    return x;
}

void ts_comm_xchg_start(ts_comm_xchg *x, const float *send, const int *scounts, const int *sdispls, float *recv,
                        const int *rcounts, const int *rdispls) {
    ts_comm_xchg_wait_send(x);
    TS_CHECK(x->nrecv == 0, "ts_comm_xchg_start: the previous exchange's receives were not waited for");
    double t = MPI_Wtime();
    for (int r = 0; r < x->n; r++) /* receives first: a message that arrives finds its buffer */
        if (rcounts[r] > 0)
            MPI_CHECK(MPI_Irecv(recv + rdispls[r], rcounts[r], MPI_FLOAT, r, XCHG_TAG, x->comm, &x->recv[x->nrecv++]));
    for (int r = 0; r < x->n; r++)
        if (scounts[r] > 0)
            MPI_CHECK(MPI_Isend(send + sdispls[r], scounts[r], MPI_FLOAT, r, XCHG_TAG, x->comm, &x->send[x->nsend++]));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_xchg_wait_recv(ts_comm_xchg *x) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Waitall(x->nrecv, x->recv, MPI_STATUSES_IGNORE));
    x->nrecv = 0;
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_xchg_wait_send(ts_comm_xchg *x) {
    if (x->nsend == 0) return;
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Waitall(x->nsend, x->send, MPI_STATUSES_IGNORE));
    x->nsend = 0;
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_xchg_free(ts_comm_xchg *x) {
    if (!x) return;
    ts_comm_xchg_wait_recv(x);
    ts_comm_xchg_wait_send(x);
    free(x->recv);
    free(x->send);
    free(x);
}

void ts_comm_gatherv_float(const float *send, int n, float *recv, const int *counts, const int *displs, int root) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Gatherv(send, n, MPI_FLOAT, recv, counts, displs, MPI_FLOAT, root, g_comm));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_scatterv_float(const float *send, const int *counts, const int *displs, float *recv, int n, int root) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Scatterv(send, counts, displs, MPI_FLOAT, recv, n, MPI_FLOAT, root, g_comm));
    g_comm_seconds += MPI_Wtime() - t;
}

void ts_comm_allgather_double(double v, double *all) {
    double t = MPI_Wtime();
    MPI_CHECK(MPI_Allgather(&v, 1, MPI_DOUBLE, all, 1, MPI_DOUBLE, g_comm));
    g_comm_seconds += MPI_Wtime() - t;
}
