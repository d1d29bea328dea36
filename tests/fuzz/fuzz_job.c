/* fuzz_job.c - libFuzzer target: the batch job-file reader (ts_batch_job_load), then every task's
 * options, folder and output names. The reader takes a path, so each input is written to one
 * scratch file first. Paths inside the seeds are relative to the repository root, where
 * tests/fuzz/run.sh runs the targets, so seeds reach past the input checks.
 * Built only in trees that have the batch module (include/tessera/batch_job.h). */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "tessera/batch_job.h"
#include "tessera/options.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char g_path[256];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!g_path[0]) {
        const char *dir = getenv("TMPDIR");
        snprintf(g_path, sizeof g_path, "%s/tessera-fuzz-job-%ld.json", dir && *dir ? dir : "/tmp", (long)getpid());
    }
    FILE *f = fopen(g_path, "wb");
    if (!f || fwrite(data, 1, size, f) != size || fclose(f) != 0) abort(); /* the scratch file must work */
    ts_batch_job job;
    ts_err err = {{0}};
    if (ts_batch_job_load(&job, g_path, "fuzz-out", &err) == 0) {
        for (int t = 0; t < job.ntasks; t++) {
            ts_options o;
            if (ts_batch_task_options(&job, t, &o, &err) != 0) __builtin_trap(); /* load checked them all */
            ts_options_free(&o);
            free(ts_batch_task_path(&job, t, ts_batch_output_name(&job)));
        }
        (void)ts_batch_random_weight_tasks(&job);
    } else if (err.msg[0] == '\0') {
        __builtin_trap(); /* a failure must say why */
    }
    ts_batch_job_free(&job);
    unlink(g_path);
    return 0;
}
