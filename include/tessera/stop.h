/* stop.h - stop requests for long runs on clusters that preempt.
 *
 * SIGTERM or SIGUSR1 (Slurm's --signal, scancel, a requeue) or a file named STOP in the checkpoint
 * directory ask the run to stop: every rank agrees on the request at the same iteration, writes its
 * checkpoint and the process exits 0. Signal handlers only set a flag; everything else happens in the
 * iteration loop.
 */
#ifndef TESSERA_STOP_H
#define TESSERA_STOP_H

/* Installs the SIGTERM and SIGUSR1 handlers (idempotent). Not collective. */
void ts_stop_install(void);
/* Adds a file whose existence asks for a stop (a batch's and a run's can be watched together; the
 * string is copied), and removes one. */
void ts_stop_watch_file(const char *path);
void ts_stop_unwatch_file(const char *path);
/* 1 if this process got a stop signal or the watched file exists. Local, cheap: call it once per
 * iteration and agree across ranks with ts_comm_max_int. */
int ts_stop_poll(void);
/* Set by the run loop when it stopped on request (after checkpointing): batch drivers leave the
 * task pending and take no further tasks. */
void ts_stop_mark_stopped(void);
int ts_stop_requested(void);
/* The signal that asked for the stop, 0 for the file or none (for the message). */
int ts_stop_signal(void);

#endif
