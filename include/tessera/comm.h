/* comm.h - the only interface to MPI. The binary is always MPI-capable; a single process started
 * without mpirun is a world of one. */
#ifndef TESSERA_COMM_H
#define TESSERA_COMM_H

void ts_comm_init(int *argc, char ***argv);
void ts_comm_finalize(void);
int ts_comm_rank(void);
int ts_comm_size(void);
/* Ends every rank with this exit code (MPI_Abort when more than one rank runs). */
void ts_comm_abort(int code);
double ts_comm_wtime(void);

#endif
