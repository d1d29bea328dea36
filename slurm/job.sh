# shellcheck shell=bash disable=SC2034,SC2154
# job.sh - what every Tessera batch script does inside its allocation; sourced by the *.sbatch scripts
# after their own "am I inside SLURM" check.
#
#   job_init            finds the checkout and bin/tessera (never builds), loads the site profile's
#                       modules, sets threads, picks the launcher
#   job_step ARGS...    runs the ranks: LAUNCHER bin/tessera ARGS, in the background, forwarding
#                       SIGUSR1/SIGTERM to it; sets job_rc and job_stop_signal
#   job_requeue_if_stopped CHECK...
#                       after a SIGUSR1 stop (tessera checkpointed and exited 0), requeues this job
#                       when the command CHECK says work is left (exit 0)
#   job_work_left JOB [OPTIONS]          0 when a task of the job has no DONE marker
#   job_task_left I JOB [OPTIONS]        0 when task I has no DONE marker

job_say() { echo "tessera-slurm: $*" >&2; }
job_fail() { echo "tessera: error: $*" >&2; exit 2; }

job_init() {
    # the checkout: the wrappers export TESSERA_ROOT; plain sbatch from the checkout's root works too
    job_root=${TESSERA_ROOT:-${SLURM_SUBMIT_DIR:-$PWD}}
    [ -f "$job_root/slurm/sites.sh" ] ||
        job_fail "cannot find the Tessera checkout at $job_root: submit from its root or set TESSERA_ROOT"
    job_bin=${TESSERA_BIN:-$job_root/bin/tessera}
    case $job_bin in /*) ;; *) job_bin=$job_root/$job_bin ;; esac
    [ -x "$job_bin" ] ||
        job_fail "$job_bin not found; build it before submitting (cd $job_root && make); batch scripts never build"

    # shellcheck source=sites.sh
    source "${TESSERA_SITE_FILE:-$job_root/slurm/sites.sh}" || job_fail "cannot read the site file"
    site_profile "${TESSERA_SITE:-generic}" || exit 2

    if [ -n "$modules" ]; then
        if ! type module >/dev/null 2>&1; then
            local init
            for init in /etc/profile.d/modules.sh /etc/profile.d/lmod.sh /usr/share/lmod/lmod/init/bash; do
                # shellcheck disable=SC1090
                [ -f "$init" ] && source "$init" && break
            done
        fi
        type module >/dev/null 2>&1 || job_fail "site profile wants modules ($modules) but 'module' is not available"
        # shellcheck disable=SC2086
        module load $modules || job_fail "module load $modules failed"
    fi

    # threads per rank: what SLURM gave each task; srun of Slurm 22.05+ needs it said again
    if [ -n "${SLURM_CPUS_PER_TASK:-}" ]; then
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-$SLURM_CPUS_PER_TASK}
        export SRUN_CPUS_PER_TASK=$SLURM_CPUS_PER_TASK
    else
        export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
    fi
    export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}

    job_launcher=${TESSERA_LAUNCHER:-$launcher}
    if [ "$job_launcher" = auto ]; then
        if srun --mpi=list 2>&1 | grep -qw pmix; then
            job_launcher="srun --mpi=pmix"
        else
            job_launcher=mpirun
        fi
    fi
    case $job_launcher in
    srun*) job_launcher="$job_launcher --kill-on-bad-exit=1" ;;
    mpirun*) job_launcher="$job_launcher --bind-to none" ;; # ranks keep all their cores for threads
    esac
    job_say "job ${SLURM_JOB_ID} (restart ${SLURM_RESTART_COUNT:-0}) on ${SLURM_JOB_NODELIST:-?}:" \
        "${SLURM_NTASKS:-1} rank(s) x $OMP_NUM_THREADS thread(s), site ${TESSERA_SITE:-generic}, launcher: $job_launcher"
}

job_stop_signal=""
job_pid=""
_job_forward() {
    job_stop_signal=$1
    if [ -n "$job_pid" ]; then
        job_say "got SIG$1: asking tessera to checkpoint and stop"
        kill -s "$1" "$job_pid" 2>/dev/null
    fi
}

job_step() {
    trap '_job_forward USR1' USR1
    trap '_job_forward TERM' TERM
    job_say "running: $job_launcher $job_bin $*"
    # shellcheck disable=SC2086
    $job_launcher "$job_bin" "$@" &
    job_pid=$!
    # a trapped signal interrupts wait (status > 128) while the step still runs: wait again
    while :; do
        wait "$job_pid"
        job_rc=$?
        [ "$job_rc" -gt 128 ] && kill -0 "$job_pid" 2>/dev/null && continue
        break
    done
    job_pid=""
    job_say "tessera exited with status $job_rc"
}

job_requeue_if_stopped() {
    [ "$job_stop_signal" = USR1 ] && [ "$job_rc" -eq 0 ] || return 0
    if ! "$@"; then
        job_say "stopped, but no work is left: not requeued"
        return 0
    fi
    job_say "work is left: requeueing job $SLURM_JOB_ID; the next run resumes where this one stopped"
    scontrol requeue "$SLURM_JOB_ID" || job_say "scontrol requeue failed: resubmit to finish"
}

# After a step that was not stopped: success must mean the work is done. srun can report a step
# whose tasks never started (e.g. "task 0 launch failed") with status 0; this turns that into a
# failed job instead of a COMPLETED one that did nothing.
job_check_done() {
    [ -z "$job_stop_signal" ] && [ "$job_rc" -eq 0 ] || return 0
    if "$@"; then
        job_say "tessera reported success but work is left (did the job step start? see the launcher's messages above)"
        job_rc=1
    fi
}

# The job's output folder as tessera resolves it: --output-dir, else $TESSERA_OUTPUT_DIR, else the
# job file's "output_dir" (relative paths from the submit folder, where the job runs).
job_output_dir() {
    local job=$1 d=""
    shift
    while [ $# -gt 0 ]; do
        case $1 in
        --output-dir) d=${2:-}; shift ;;
        --output-dir=*) d=${1#--output-dir=} ;;
        esac
        shift
    done
    [ -n "$d" ] || d=${TESSERA_OUTPUT_DIR:-}
    [ -n "$d" ] || d=$(tr -d '\n' <"$job" | sed -n 's/.*"output_dir"[[:space:]]*:[[:space:]]*"\([^"]*\)".*/\1/p')
    [ -n "$d" ] && echo "$d"
}

# Task names from `tessera batch JOB --list` (its first line is the count).
job_task_names() { "$job_bin" batch "$1" --list 2>/dev/null | tail -n +2; }

# When in doubt (no list, no folder) these say "work left": a needless requeue finds every task
# done and ends at once, a missed one leaves work undone.
job_work_left() {
    local d names name
    d=$(job_output_dir "$@") || return 0
    names=$(job_task_names "$1") && [ -n "$names" ] || return 0
    while IFS= read -r name; do
        [ -e "$d/$name/DONE" ] || return 0
    done <<<"$names"
    return 1
}

job_task_left() {
    local i=$1 d name
    shift
    d=$(job_output_dir "$@") || return 0
    name=$(job_task_names "$1" | sed -n "$((i + 1))p")
    [ -n "$name" ] || return 0
    [ ! -e "$d/$name/DONE" ]
}
