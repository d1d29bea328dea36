/* dispatch.c - one run or grad over the current communicator, in the mode the options ask for. */
#include "tessera/dispatch.h"

#include <stdio.h>

#include "tessera/comm.h"
#include "tessera/job.h"
#include "tessera/single.h"
#include "tessera/tiled.h"

/* One image in the single mode: rank 0 works, the other ranks (if any) wait. */
static int single_job(ts_command cmd, ts_options *o, ts_err *err) {
    ts_job job;
    int rc = ts_job_prepare(&job, o, cmd, err);
    if (rc == 0) rc = cmd == TS_CMD_RUN ? ts_single_run(&job, err) : ts_single_grad(&job, err);
    ts_job_free(&job);
    return rc;
}

int ts_dispatch(ts_command cmd, ts_options *o, ts_err *err) {
    ts_mode mode = ts_job_mode(o);
    int rank = ts_comm_rank(), size = ts_comm_size();
    if (mode == TS_MODE_INDEPENDENT && cmd == TS_CMD_GRAD)
        return rank == 0 ? ts_fail(err, "grad works in the single and exact modes (--mode independent has no global "
                                        "gradient)")
                         : -2;
    if (mode != TS_MODE_SINGLE) return ts_tiled_main(cmd, o, mode, err);
    int rc = 0;
    if (rank == 0) {
        if (size > 1 && !o->quiet)
            fprintf(stderr, "tessera: --mode single: rank 0 works on the image, the other %d rank%s wait\n", size - 1,
                    size == 2 ? "" : "s");
        rc = single_job(cmd, o, err);
    }
    /* only rank 0 worked and knows how it went: the others wait for it asleep (their cores stay free),
     * then every rank ends with its status (-2: failed on rank 0, which reports) */
    if (size > 1) {
        ts_comm_wait_idle();
        if (ts_comm_max_int(rc ? 1 : 0) && rc == 0) rc = -2;
    }
    return rc;
}
