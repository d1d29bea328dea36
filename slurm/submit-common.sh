# shellcheck shell=bash disable=SC2034,SC2154
# submit-common.sh - what slurm/submit.sh and slurm/submit-sweep.sh share: their command line, the
# checks made before anything is queued, and the sbatch options of the site profile. Sourced.
#
# Command line:  [--site NAME] [--cpu] [--throttle T] [--dry-run] JOB.json [SBATCH OPTIONS] [-- OPTIONS]
# Sets: sub_root sub_bin sub_job sub_kind sub_throttle sub_dry, arrays sub_user (sbatch options)
# and sub_tessera (tessera batch options); exports TESSERA_ROOT, TESSERA_SITE and, when set,
# TESSERA_OUTPUT_DIR made absolute, so the jobs see the same paths wherever they start.

sub_fail() { echo "tessera: error: $*" >&2; exit 2; }

# The submitting script's header comment (from its "# submit" line), then the profiles.
sub_usage() {
    sed -n '/^# submit/,/^[^#]/{/^#/s/^# \{0,1\}//p}' "$0"
    echo "Profiles (slurm/sites.sh, TESSERA_SITE): generic, comet, comet-k80, expanse. --cpu: CPU partition."
}

sub_parse() {
    sub_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
    sub_kind=gpu sub_throttle="" sub_dry=0 sub_job=""
    sub_user=() sub_tessera=()
    local site=${TESSERA_SITE:-generic}
    while [ $# -gt 0 ]; do
        case $1 in
        --site) [ $# -ge 2 ] || sub_fail "--site needs a profile name"; site=$2; shift 2 ;;
        --site=*) site=${1#--site=}; shift ;;
        --cpu) sub_kind=cpu; shift ;;
        --gpu) sub_kind=gpu; shift ;;
        --throttle) [ $# -ge 2 ] || sub_fail "--throttle needs a number"; sub_throttle=$2; shift 2 ;;
        --throttle=*) sub_throttle=${1#--throttle=}; shift ;;
        --dry-run) sub_dry=1; shift ;;
        -h | --help) sub_usage; exit 0 ;;
        -*) sub_fail "unknown option $1 before the job file (sbatch options go after it)" ;;
        *) sub_job=$1; shift; break ;;
        esac
    done
    [ -n "$sub_job" ] || { sub_usage >&2; exit 2; }
    while [ $# -gt 0 ]; do
        if [ "$1" = -- ]; then shift; sub_tessera=("$@"); break; fi
        sub_user+=("$1"); shift
    done
    if [ -n "$sub_throttle" ]; then
        case $sub_throttle in '' | *[!0-9]* | 0) sub_fail "--throttle wants a positive whole number, not '$sub_throttle'" ;; esac
    fi

    [ -f "$sub_job" ] || sub_fail "job file $sub_job not found"
    sub_job=$(cd "$(dirname "$sub_job")" && pwd)/$(basename "$sub_job")
    sub_bin=${TESSERA_BIN:-$sub_root/bin/tessera}
    case $sub_bin in /*) ;; *) sub_bin=$sub_root/$sub_bin ;; esac
    [ -x "$sub_bin" ] || sub_fail "$sub_bin not found; build it first (cd $sub_root && make): the SLURM scripts never build"

    # shellcheck source=sites.sh
    source "${TESSERA_SITE_FILE:-$sub_root/slurm/sites.sh}" || sub_fail "cannot read the site file"
    site_profile "$site" || exit 2
    [ -n "$sub_throttle" ] || sub_throttle=$throttle

    export TESSERA_ROOT=$sub_root TESSERA_SITE=$site
    [ -n "${TESSERA_SITE_FILE:-}" ] && export TESSERA_SITE_FILE
    if [ -n "${TESSERA_OUTPUT_DIR:-}" ]; then
        case $TESSERA_OUTPUT_DIR in /*) ;; *) TESSERA_OUTPUT_DIR=$PWD/$TESSERA_OUTPUT_DIR ;; esac
        export TESSERA_OUTPUT_DIR
    fi
}

# 0 when the user's sbatch options contain one of the given option names (-A, --account, ...)
sub_user_has() {
    local o n
    for o in "${sub_user[@]}"; do
        for n in "$@"; do
            case $o in "$n" | "$n"=*) return 0 ;; esac
            case $n in -?) case $o in "$n"?*) return 0 ;; esac ;; esac # -Afoo
        done
    done
    return 1
}

# the site's sbatch options for a job of kind gpu|cpu|small into the array site_opts
sub_site_options() {
    site_opts=()
    local part tasks cpus extra
    case $1 in
    gpu) part=$partition_gpu tasks=$tasks_gpu cpus=$cpus_gpu extra=$extra_gpu ;;
    cpu) part=$partition_cpu tasks=$tasks_cpu cpus=$cpus_cpu extra=$extra_cpu ;;
    small) part=$partition_small tasks="" cpus="" extra="" ;;
    esac
    [ -n "$part" ] && site_opts+=("--partition=$part")
    [ -n "$account" ] && site_opts+=("--account=$account")
    if [ "$1" != small ]; then
        [ -n "$time" ] && site_opts+=("--time=$time")
        [ "$1" = gpu ] && [ -n "$gres_gpu" ] && site_opts+=("--gres=$gres_gpu")
        [ -n "$tasks" ] && site_opts+=("--ntasks-per-node=$tasks")
        [ -n "$cpus" ] && site_opts+=("--cpus-per-task=$cpus")
    fi
    # shellcheck disable=SC2206
    [ -n "$extra" ] && site_opts+=($extra)
    if [ "$account_required" = yes ] && [ -z "$account" ] && ! sub_user_has -A --account; then
        sub_fail "site profile $TESSERA_SITE needs an account: set TESSERA_ACCOUNT or pass --account=NAME"
    fi
    return 0
}

# the log folder of the jobs (sbatch does not create it): TESSERA_LOG_DIR, default ./slurm-logs
sub_log_dir() {
    sub_logs=${TESSERA_LOG_DIR:-$PWD/slurm-logs}
    case $sub_logs in /*) ;; *) sub_logs=$PWD/$sub_logs ;; esac
    [ "$sub_dry" = 1 ] || mkdir -p "$sub_logs" || sub_fail "cannot create the log folder $sub_logs"
}

# runs sbatch (or prints it with --dry-run); the job id on stdout
sub_sbatch() {
    if [ "$sub_dry" = 1 ]; then
        printf '%q ' sbatch "$@" >&2
        echo >&2
        echo DRYRUN
        return 0
    fi
    command -v sbatch >/dev/null 2>&1 || sub_fail "sbatch not found: run this on a SLURM login node"
    local id
    id=$(sbatch --parsable "$@") || sub_fail "sbatch refused the job"
    echo "${id%%;*}"
}
