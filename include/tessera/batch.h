/* batch.h - the batch command: groups of ranks take a job file's tasks (batch_job.h) from a shared
 * queue and keep the job's manifest and contact sheet (summary.h) up to date. */
#ifndef TESSERA_BATCH_H
#define TESSERA_BATCH_H

/* The batch command (after ts_comm_init); argv after the word "batch". Returns the exit status. */
int ts_batch_main(int argc, char **argv);

#endif
