/* comm.c - MPI start-up, shutdown and abort; every MPI call of Tessera lives under src/dist. */
#include "tessera/comm.h"

#include <mpi.h>
#include <stdlib.h>

#include "tessera/check.h"

static int g_rank, g_size = 1, g_inited;

static void abort_hook(int code) { ts_comm_abort(code); }

void ts_comm_init(int *argc, char ***argv) {
    int provided;
    if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
        ts_fatal("MPI_Init_thread failed");
    }
    g_inited = 1;
    MPI_Comm_rank(MPI_COMM_WORLD, &g_rank);
    MPI_Comm_size(MPI_COMM_WORLD, &g_size);
    ts_set_rank(g_rank);
    ts_set_abort_hook(abort_hook);
}

void ts_comm_finalize(void) {
    if (g_inited) MPI_Finalize();
    g_inited = 0;
}

int ts_comm_rank(void) { return g_rank; }
int ts_comm_size(void) { return g_size; }

void ts_comm_abort(int code) {
    if (g_inited && g_size > 1) MPI_Abort(MPI_COMM_WORLD, code);
    if (g_inited) MPI_Finalize();
    exit(code);
}

double ts_comm_wtime(void) { return MPI_Wtime(); }
