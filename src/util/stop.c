/* stop.c - stop requests: signal flags and a watched STOP file. */
#include "tessera/stop.h"

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t got_signal;
static int installed, stopped;
#define MAX_WATCH 4
static char *watch[MAX_WATCH];

static void on_signal(int sig) { got_signal = sig; }

void ts_stop_install(void) {
    if (installed) return;
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    installed = 1;
}

void ts_stop_watch_file(const char *path) {
    for (int i = 0; path && i < MAX_WATCH; i++)
        if (!watch[i]) {
            watch[i] = strdup(path);
            return;
        }
}

void ts_stop_unwatch_file(const char *path) {
    for (int i = 0; path && i < MAX_WATCH; i++)
        if (watch[i] && !strcmp(watch[i], path)) {
            free(watch[i]);
            watch[i] = NULL;
        }
}

int ts_stop_poll(void) {
    if (got_signal) return 1;
    for (int i = 0; i < MAX_WATCH; i++)
        if (watch[i] && access(watch[i], F_OK) == 0) return 1;
    return 0;
}

void ts_stop_mark_stopped(void) { stopped = 1; }
int ts_stop_requested(void) { return stopped; }
int ts_stop_signal(void) { return (int)got_signal; }
