/* batch_job.h - batch jobs and sweeps: a job file names content/style pairs, a config, fixed options and
 * a grid of option values; its tasks are pairs x grid points, each run as one `tessera run` into
 * OUTPUT_DIR/<task name>/. The job file format is described in jobs/README.md. */
#ifndef TESSERA_BATCH_JOB_H
#define TESSERA_BATCH_JOB_H

#include "tessera/check.h"
#include "tessera/options.h"

#define TS_BATCH_MAX_GRID 16

typedef struct {
    char *name;    /* stable: built from the inputs and the grid values only */
    char *content;
    char *style[TS_MAX_LIST];
    int nstyle;
    int pair;      /* index of its content/style pair */
    int point[TS_BATCH_MAX_GRID]; /* index of its value on each grid axis */
    char *grid_json;   /* {"key": value, ...}: this task's grid values, applied after the fixed options */
    char *params_json; /* {"content": ..., "style": ..., grid values...}: for the manifest */
} ts_batch_task;

typedef struct {
    char *path;        /* the job file */
    char *output_dir;  /* after --output-dir / $TESSERA_OUTPUT_DIR */
    char *config;      /* NULL: none */
    char *config_json; /* its content, keys the option table does not know removed (warned once) */
    char *options_json; /* the fixed options as JSON text; NULL: none */
    char *format;      /* output image extension: png or jpg */
    int ngrid;
    char *grid_key[TS_BATCH_MAX_GRID];   /* in the job file's order */
    int grid_count[TS_BATCH_MAX_GRID];
    char **grid_value[TS_BATCH_MAX_GRID]; /* each value as JSON text */
    char **grid_label[TS_BATCH_MAX_GRID]; /* each value as written in names ("1e5", "64") */
    int npairs;
    char **pair_label; /* "content-stem / style-stem" */
    ts_batch_task *tasks;
    int ntasks;
} ts_batch_job;

/* Reads and checks a job file: JSON, keys, lists, every input file readable, every task's options
 * valid through the option table, names unique. output_dir, when not NULL, overrides the file's.
 * Returns 0, or -1 with one message in err (the caller exits 2). Not collective. */
int ts_batch_job_load(ts_batch_job *job, const char *path, const char *output_dir, ts_err *err);
void ts_batch_job_free(ts_batch_job *job);

/* The resolved options of task t: defaults, quiet, the config, the fixed options, the grid values,
 * then content, style, output and log in the task's folder. Returns 0 or -1 (err). */
int ts_batch_task_options(const ts_batch_job *job, int t, ts_options *o, ts_err *err);

/* How many tasks use the random stand-in network: "random[:SEED]", or "auto" with no weights file
 * found. */
int ts_batch_random_weight_tasks(const ts_batch_job *job);

/* Paths inside the output folder (malloc'd): the task folder, or a file in it (file may be NULL). */
char *ts_batch_task_path(const ts_batch_job *job, int t, const char *file);
/* The output image's file name inside the task folder: "output.png" or "output.jpg". */
const char *ts_batch_output_name(const ts_batch_job *job);

#endif
