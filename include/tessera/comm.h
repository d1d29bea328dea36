/* comm.h - the only interface to MPI. The binary is always MPI-capable; a single process started
 * without mpirun is a world of one. Collectives run over the current communicator: the world, or
 * after ts_comm_split_groups this rank's group (a batch runs one task per group); every function
 * here is collective over the current communicator unless noted. Time spent inside MPI is
 * accumulated for the per-rank timing report. */
#ifndef TESSERA_COMM_H
#define TESSERA_COMM_H

#include <stddef.h>

void ts_comm_init(int *argc, char ***argv);
void ts_comm_finalize(void);
int ts_comm_rank(void); /* rank in the current communicator; not collective */
int ts_comm_size(void); /* ranks in the current communicator; not collective */
int ts_comm_world_rank(void); /* not collective */
int ts_comm_world_size(void); /* not collective */
/* Ends every rank with this exit code (MPI_Abort when more than one rank runs). Not collective. */
void ts_comm_abort(int code);
double ts_comm_wtime(void);   /* not collective */
double ts_comm_seconds(void); /* seconds spent in communication so far; not collective */
double ts_comm_wait_seconds(void); /* seconds spent in ts_comm_wait_for_all so far; not collective */
void ts_comm_reset_seconds(void); /* starts both counts again (per batch task); not collective */

/* Groups. ts_comm_split_groups cuts the world into consecutive groups of group_size ranks (the last
 * one smaller when group_size does not divide the world) and makes this rank's group the current
 * communicator; it returns the group's index. Collective over the world. ts_comm_use_world and
 * ts_comm_use_group switch the current communicator (not collective). */
int ts_comm_split_groups(int group_size);
void ts_comm_use_world(void);
void ts_comm_use_group(void);
int ts_comm_group_index(void); /* 0 before any split; not collective */
int ts_comm_group_count(void); /* 1 before any split; not collective */

/* A shared counter for dynamic task queues, held by world rank 0. create (value 0) and free are
 * collective over the world; next is not collective: it atomically adds 1 and returns the value
 * before (one-sided MPI_Fetch_and_op, so the holder need not take part). */
void ts_comm_counter_create(void);
long ts_comm_counter_next(void);
void ts_comm_counter_free(void);

/* Ranks on this node (MPI_Comm_split_type shared); not collective after init. */
int ts_comm_local_size(void);
/* This rank's index among the ranks on its node (0 .. local_size-1): picks its GPU. Not collective. */
int ts_comm_local_rank(void);
/* 1 if the MPI library reports that it accepts GPU (CUDA) buffers (MPIX_Query_cuda_support), else 0
 * with why set. Not collective. */
int ts_comm_cuda_aware(char *why, size_t n);

void ts_comm_barrier(void);
/* A barrier whose time counts as waiting for slower ranks rather than communication: placed before a
 * collective, it splits the time a rank spends there into waiting (this) and moving data (the
 * collective). */
void ts_comm_wait_for_all(void);
/* A barrier that sleeps while it waits instead of spinning: ranks with nothing left to do wait for a
 * busy one without taking its core. */
void ts_comm_wait_idle(void);
/* Broadcasts bytes from root (any size: sent in pieces under MPI's int limit). */
void ts_comm_bcast(void *buf, size_t bytes, int root);
/* The maximum of v over ranks (e.g. agreeing that one rank failed). */
int ts_comm_max_int(int v);
/* Element-wise sum over ranks, in place. */
void ts_comm_sum_double(double *buf, size_t n);
/* An all-to-all exchange (per-rank counts and displacements in floats, as MPI_Alltoallv) as
 * non-blocking point-to-point messages (a receive from and a send to every rank with a non-zero
 * count), so a rank can compute while its pieces travel. ts_comm_xchg_start posts
 * them; ts_comm_xchg_wait_recv waits for the receives only (time counted as communication): with a
 * shared-memory transport that reads the sender's buffer itself the data arrive even while the
 * sender computes, so ranks are not held in lockstep by the sends. The send buffer stays in use
 * until ts_comm_xchg_wait_send (called by the next start on the same handle, and by free). Every rank
 * must start the same exchanges in the same order (they are matched by that order). */
typedef struct ts_comm_xchg ts_comm_xchg;
ts_comm_xchg *ts_comm_xchg_new(void); /* for the current communicator; not collective */
void ts_comm_xchg_start(ts_comm_xchg *x, const float *send, const int *scounts, const int *sdispls, float *recv,
                        const int *rcounts, const int *rdispls);
void ts_comm_xchg_wait_recv(ts_comm_xchg *x);
void ts_comm_xchg_wait_send(ts_comm_xchg *x);
void ts_comm_xchg_free(ts_comm_xchg *x); /* completes the sends in flight */
/* Per-rank counts and displacements in floats, as MPI_Gatherv / Scatterv. */
void ts_comm_gatherv_float(const float *send, int n, float *recv, const int *counts, const int *displs, int root);
void ts_comm_scatterv_float(const float *send, const int *counts, const int *displs, float *recv, int n, int root);
/* Gathers one double per rank on every rank (timing summaries). */
void ts_comm_allgather_double(double v, double *all);

#endif
