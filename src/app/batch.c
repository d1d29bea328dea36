/* batch.c - the batch command: ranks in groups take tasks from a shared queue, each task runs as one
 * `tessera run` (tiled when its group has several ranks) into OUTPUT_DIR/<task>/, and the manifest
 * and contact sheet are rewritten as tasks finish. */
#include "tessera/batch.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tessera/batch_job.h"
#include "tessera/checkpoint.h"
#include "tessera/comm.h"
#include "tessera/dispatch.h"
#include "tessera/files.h"
#include "tessera/lossplot.h"
#include "tessera/progress.h"
#include "tessera/stop.h"
#include "tessera/summary.h"
#include "tessera/job.h"

typedef struct {
    const char *job_path;
    const char *output_dir; /* --output-dir, else $TESSERA_OUTPUT_DIR, else NULL */
    int group_size;
    long task;              /* --task I, -1: the whole queue */
    int list, summary;
} batch_args;

static void usage(void) {
    printf("usage: tessera batch JOB.json [--group-size G] [--output-dir D] [--task I | --list | --summary]\n\n"
           "Runs every task of a job file (content/style pairs x grid points; see jobs/README.md) into\n"
           "D/<task name>/ (output image, config.json, log.jsonl, loss.svg, DONE) and keeps D/manifest.json and\n"
           "D/index.html (contact sheet and loss curves) up to date. Under mpirun the ranks form groups of G\n"
           "(default 1) that take tasks from a shared queue; a group of several ranks runs its task tiled\n"
           "(the task's mode: auto = exact). Tasks whose DONE marker exists are skipped, so re-running a job\n"
           "finishes what is missing. SIGTERM, SIGUSR1 or a file D/STOP stop the tasks in hand at the next\n"
           "iteration with a checkpoint in D/<task name>/checkpoint (resumed by the next run) and take no new task.\n\n"
           "options:\n"
           "  --group-size G   ranks per group (default 1)\n"
           "  --output-dir D   overrides $TESSERA_OUTPUT_DIR, which overrides the job's output_dir\n"
           "  --task I         run only task I (0-based, in --list order) with all ranks as one group\n"
           "  --list           print the number of tasks, then one task name per line\n"
           "  --summary        only rewrite D/manifest.json and D/index.html from what is on disk\n\n"
           "exit status: 0 every task done (or stopped on request), 1 a task failed (see the manifest),\n"
           "2 bad job file or options.\n");
}

/* Returns 0, 1 after --help, -1 on a bad argument (err). */
static int parse_args(int argc, char **argv, batch_args *a, ts_err *err) {
    memset(a, 0, sizeof *a);
    a->group_size = 1;
    a->task = -1;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        const char *val = NULL;
        if (!strcmp(arg, "--help") || !strcmp(arg, "-h")) return 1;
        if (!strcmp(arg, "--list")) {
            a->list = 1;
            continue;
        }
        if (!strcmp(arg, "--summary")) {
            a->summary = 1;
            continue;
        }
        const char *names[] = {"--group-size", "--output-dir", "--task"};
        int which = -1;
        for (int k = 0; k < 3 && which < 0; k++) {
            size_t n = strlen(names[k]);
            if (!strcmp(arg, names[k])) {
                if (i + 1 >= argc) return ts_fail(err, "%s needs a value", names[k]);
                val = argv[++i];
                which = k;
            } else if (!strncmp(arg, names[k], n) && arg[n] == '=') {
                val = arg + n + 1;
                which = k;
            }
        }
        if (which < 0 && arg[0] == '-') return ts_fail(err, "batch: unknown option %s (see tessera batch --help)", arg);
        if (which < 0) {
            if (a->job_path) return ts_fail(err, "batch takes one job file, got \"%s\" and \"%s\"", a->job_path, arg);
            a->job_path = arg;
            continue;
        }
        if (which == 1) {
            if (!*val) return ts_fail(err, "--output-dir must not be empty");
            a->output_dir = val;
            continue;
        }
        char *end;
        long v = strtol(val, &end, 10);
        if (!*val || *end || v < (which == 0 ? 1 : 0) || v > 1000000000L)
            return ts_fail(err, "%s expects a whole number%s, got \"%s\"", names[which], which == 0 ? " >= 1" : " >= 0",
                           val);
        if (which == 0) a->group_size = (int)v;
        else a->task = v;
    }
    if (!a->job_path) return ts_fail(err, "batch needs a job file (see tessera batch --help)");
    if (a->list + a->summary + (a->task >= 0) > 1) return ts_fail(err, "--task, --list and --summary exclude each other");
    if (!a->output_dir) {
        const char *env = getenv("TESSERA_OUTPUT_DIR");
        if (env && *env) a->output_dir = env;
    }
    return 0;
}

/* ---------- one task ---------- */

typedef enum { TASK_DONE, TASK_FAILED, TASK_STOPPED } task_result;

static int write_marker(const ts_batch_job *job, int t, const char *file, const char *json, ts_err *err) {
    char *p = ts_batch_task_path(job, t, file);
    int rc = ts_file_write_atomic(p, json, strlen(json), err);
    free(p);
    return rc;
}

static void remove_marker(const ts_batch_job *job, int t, const char *file) {
    char *p = ts_batch_task_path(job, t, file);
    unlink(p);
    free(p);
}

/* The leader's part after a successful run: loss plot, then DONE (last). */
static int finish_task(const ts_batch_job *job, int t, double seconds, int ranks, double *loss, ts_err *err) {
    char *log = ts_batch_task_path(job, t, "log.jsonl"), *svg = ts_batch_task_path(job, t, "loss.svg");
    ts_loss_curve c;
    int rc = ts_loss_curve_read(log, &c, err);
    *loss = NAN;
    if (rc == 0) {
        if (c.n) *loss = c.loss[c.n - 1];
        rc = ts_loss_plot_svg(svg, job->tasks[t].name, &c, NULL, 1, err);
        ts_loss_curve_free(&c);
    }
    free(log);
    free(svg);
    if (rc) return -1;
    char done[512];
    if (isfinite(*loss))
        snprintf(done, sizeof done, "{\"status\": \"done\", \"loss\": %.10g, \"seconds\": %.3f, \"ranks\": %d}\n", *loss,
                 seconds, ranks);
    else snprintf(done, sizeof done, "{\"status\": \"done\", \"loss\": null, \"seconds\": %.3f, \"ranks\": %d}\n", seconds, ranks);
    if (write_marker(job, t, "DONE", done, err)) return -1;
    char *ck = ts_batch_task_path(job, t, "checkpoint"); /* the result is in place: its checkpoint has served */
    ts_ckpt_remove(ck);
    free(ck);
    return 0;
}

/* Runs task t on the current group (collective over it). The group's rank 0 writes the markers and
 * prints the progress lines. */
static task_result run_task(const ts_batch_job *job, int t, int group, ts_err *err) {
    int leader = ts_comm_rank() == 0, ranks = ts_comm_size();
    const char *name = job->tasks[t].name;
    double t0 = ts_now();
    int rc = 0;
    ts_options o;
    memset(&o, 0, sizeof o);
    if (leader) {
        fprintf(stderr, "tessera: [group %d] task %d/%d %s: started on %d rank%s\n", group, t + 1, job->ntasks, name,
                ranks, ranks == 1 ? "" : "s");
        char *dir = ts_batch_task_path(job, t, NULL);
        rc = ts_mkdirs(dir, err);
        free(dir);
        remove_marker(job, t, "DONE");
        remove_marker(job, t, "FAILED");
    }
    if (rc == 0) rc = ts_batch_task_options(job, t, &o, err); /* checked at load: every rank gets the same */
    if (rc == 0 && !ts_options_given(&o, "threads")) o.threads = ts_job_threads(0, ts_comm_local_size()); /* ranks share a node's cores */
    if (rc == 0 && leader) {
        char *cfg = ts_options_to_json(&o), *p = ts_batch_task_path(job, t, "config.json");
        rc = ts_file_write_atomic(p, cfg, strlen(cfg), err);
        free(cfg);
        free(p);
    }
    if (ts_comm_max_int(rc ? 1 : 0)) rc = -1; /* the folder or config failed on the leader */
    else {
        ts_comm_reset_seconds();
        rc = ts_dispatch(TS_CMD_RUN, &o, err); /* in the single mode every rank ends with rank 0's status */
    }
    ts_options_free(&o);
    int stopped = ts_comm_max_int(ts_stop_requested());
    double seconds = ts_now() - t0, loss = NAN;
    if (!leader) return rc ? TASK_FAILED : stopped ? TASK_STOPPED : TASK_DONE;
    if (stopped && rc == 0) {
        fprintf(stderr, "tessera: [group %d] task %d/%d %s: stopped on request after %.1f s; left pending\n", group,
                t + 1, job->ntasks, name, seconds);
        return TASK_STOPPED;
    }
    if (rc == 0) rc = finish_task(job, t, seconds, ranks, &loss, err);
    if (rc == 0) {
        fprintf(stderr, "tessera: [group %d] task %d/%d %s: done in %.1f s, loss %.6g\n", group, t + 1, job->ntasks, name,
                seconds, loss);
        return TASK_DONE;
    }
    fprintf(stderr, "tessera: [group %d] task %d/%d %s: failed after %.1f s: %s\n", group, t + 1, job->ntasks, name,
            seconds, err->msg);
    char *json = NULL;
    {
        ts_buf b = {0};
        ts_buf_printf(&b, "{\"status\": \"failed\", \"seconds\": %.3f, \"error\": \"", seconds);
        for (const char *c = err->msg; *c; c++) { /* a JSON string */
            if (*c == '"' || *c == '\\') ts_buf_printf(&b, "\\%c", *c);
            else if ((unsigned char)*c < 0x20) ts_buf_printf(&b, "\\u%04x", (unsigned char)*c);
            else ts_buf_printf(&b, "%c", *c);
        }
        ts_buf_puts(&b, "\"}\n");
        json = b.s;
    }
    ts_err e2;
    char *dir = ts_batch_task_path(job, t, NULL);
    if (ts_mkdirs(dir, &e2) || write_marker(job, t, "FAILED", json, &e2))
        fprintf(stderr, "tessera: warning: cannot mark %s failed: %s\n", name, e2.msg);
    free(dir);
    free(json);
    return TASK_FAILED;
}

static void summary_now(const ts_batch_job *job) {
    ts_err err;
    if (ts_summary_write(job, &err)) fprintf(stderr, "tessera: warning: summary not written: %s\n", err.msg);
}

/* ---------- the queue ---------- */

static int stop_wanted(void) { return ts_stop_requested() || ts_stop_poll(); }

/* Every rank: groups of group_size take pending tasks from the shared counter until none is left or
 * a stop is requested. Returns 1 if a task of this rank's group failed, and sets *stopped. */
static int run_queue(const ts_batch_job *job, int group_size, int *stopped) {
    int wrank = ts_comm_world_rank(), wsize = ts_comm_world_size();
    /* world rank 0 looks at the folders once; everyone works from that list */
    int npending = 0;
    int *pending = ts_malloc(sizeof(int) * (size_t)(job->ntasks + 1));
    if (wrank == 0) {
        for (int t = 0; t < job->ntasks; t++) {
            double l, s;
            if (ts_summary_task_status(job, t, &l, &s, NULL) != TS_TASK_DONE) pending[npending++] = t;
        }
    }
    ts_comm_bcast(&npending, sizeof npending, 0);
    ts_comm_bcast(pending, sizeof(int) * (size_t)npending, 0);
    if (group_size > wsize) group_size = wsize;
    int group = ts_comm_split_groups(group_size);
    int ngroups = ts_comm_group_count(), leader = ts_comm_rank() == 0;
    if (wrank == 0)
        fprintf(stderr, "tessera: batch %s: %d task%s, %d done before, %d to run; %d group%s of %s%d rank%s; output %s\n",
                job->path, job->ntasks, job->ntasks == 1 ? "" : "s", job->ntasks - npending, npending, ngroups,
                ngroups == 1 ? "" : "s", wsize % group_size ? "up to " : "", group_size, group_size == 1 ? "" : "s",
                job->output_dir);
    ts_comm_use_world();
    ts_comm_counter_create();
    ts_comm_use_group();
    int failed = 0, stop = 0;
    for (;;) {
        long next[2] = {-1, 0}; /* index into pending, stop flag */
        if (leader) {
            next[1] = stop_wanted();
            if (!next[1]) next[0] = ts_comm_counter_next();
        }
        ts_comm_bcast(next, sizeof next, 0);
        if (next[1]) {
            stop = 1;
            break;
        }
        if (next[0] < 0 || next[0] >= npending) break;
        ts_err err = {{0}};
        task_result r = run_task(job, pending[next[0]], group, &err);
        if (r == TASK_STOPPED) {
            stop = 1;
            break;
        }
        if (r == TASK_FAILED) failed = 1;
        if (leader) summary_now(job);
    }
    ts_comm_use_world();
    ts_comm_wait_idle(); /* groups that ran out of tasks wait here for the busy ones, asleep */
    ts_comm_counter_free();
    if (leader && stop)
        fprintf(stderr, "tessera: [group %d] stop requested%s: taking no further tasks\n", group,
                ts_stop_signal() ? " by signal" : "");
    *stopped = ts_comm_max_int(stop);
    free(pending);
    return failed;
}

int ts_batch_main(int argc, char **argv) {
    batch_args a;
    ts_err err = {{0}};
    int wrank = ts_comm_world_rank();
    int rc = parse_args(argc, argv, &a, &err);
    if (rc == 1) {
        if (wrank == 0) usage();
        return 0;
    }
    ts_batch_job job;
    memset(&job, 0, sizeof job);
    /* every rank reads the job (a shared file system, as for configs); rank 0 reports */
    if (rc == 0) rc = ts_batch_job_load(&job, a.job_path, a.output_dir, &err);
    if (rc == 0 && a.task >= job.ntasks)
        rc = ts_fail(&err, "--task %ld is out of range: %s has %d task%s (0 to %d)", a.task, a.job_path, job.ntasks,
                     job.ntasks == 1 ? "" : "s", job.ntasks - 1);
    if (rc == 0 && wrank == 0 && !a.list) rc = ts_mkdirs(job.output_dir, &err);
    if (ts_comm_max_int(rc ? 1 : 0)) {
        if (wrank == 0) fprintf(stderr, "tessera: error: %s\n", rc ? err.msg : "the job file is not the same on every rank");
        ts_batch_job_free(&job);
        return 2;
    }
    if (a.list) {
        if (wrank == 0) {
            printf("%d\n", job.ntasks);
            for (int t = 0; t < job.ntasks; t++) printf("%s\n", job.tasks[t].name);
            fflush(stdout);
        }
        ts_batch_job_free(&job);
        return 0;
    }
    if (a.summary) {
        if (wrank == 0 && ts_summary_write(&job, &err)) rc = -1;
        if (rc) fprintf(stderr, "tessera: error: %s\n", err.msg);
        ts_batch_job_free(&job);
        return rc ? 2 : 0;
    }
    if (wrank == 0) {
        int nr = ts_batch_random_weight_tasks(&job);
        if (nr)
            fprintf(stderr, "tessera: %d of %d tasks use the random stand-in network (weights random, or auto with no "
                            "weights file found), which transfers texture and colour visibly weaker than ImageNet "
                            "weights (see weights/README.md)\n",
                    nr, job.ntasks);
    }
    ts_stop_install();
    {
        size_t n = strlen(job.output_dir) + 8;
        char *stop = ts_malloc(n);
        snprintf(stop, n, "%s/STOP", job.output_dir);
        ts_stop_watch_file(stop);
        free(stop);
    }
    int failed = 0, stopped = 0;
    if (a.task >= 0) { /* one task, every rank in one group */
        double l, s;
        int done = 0;
        if (wrank == 0) done = ts_summary_task_status(&job, (int)a.task, &l, &s, NULL) == TS_TASK_DONE;
        ts_comm_bcast(&done, sizeof done, 0);
        if (done) {
            if (wrank == 0)
                fprintf(stderr, "tessera: task %ld %s is already done (remove %s/%s/DONE to run it again)\n", a.task,
                        job.tasks[a.task].name, job.output_dir, job.tasks[a.task].name);
        } else {
            task_result r = run_task(&job, (int)a.task, 0, &err);
            failed = r == TASK_FAILED;
            stopped = r == TASK_STOPPED;
        }
    } else {
        failed = run_queue(&job, a.group_size, &stopped);
    }
    failed = ts_comm_max_int(failed);
    if (wrank == 0) {
        summary_now(&job);
        fprintf(stderr, "tessera: batch %s: summary in %s/index.html\n", job.path, job.output_dir);
    }
    ts_batch_job_free(&job);
    if (stopped) return 0;
    return failed ? 1 : 0;
}
