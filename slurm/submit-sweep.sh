#!/usr/bin/env bash
# shellcheck disable=SC2154
# submit-sweep.sh - submits a Tessera batch job as a SLURM job array, one task per array index, and
# a summary job that runs after every element has ended (--dependency=afterany):
#   slurm/submit-sweep.sh [--site NAME] [--cpu] [--throttle T] [--dry-run] JOB.json [SBATCH OPTIONS] [-- OPTIONS]
# N comes from `bin/tessera batch JOB.json --list`; the array is 0-(N-1)%T (T: --throttle, else the
# profile's). SBATCH OPTIONS apply to the array (after the site's, so they win; --array=3,5 reruns
# just those tasks); -A/--account, --qos and --reservation are passed to the summary job too.
# OPTIONS after -- go to every `tessera batch` of the array; only --output-dir to the summary.
# Prints the array job id and the summary job id.
set -u
# shellcheck source=submit-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/submit-common.sh"
sub_parse "$@"

list=$("$sub_bin" batch "$sub_job" --list) || sub_fail "tessera batch $sub_job --list failed"
n=$(head -n 1 <<<"$list")
case $n in '' | *[!0-9]*) sub_fail "tessera batch --list did not start with a task count: '$n'" ;; esac
[ "$n" -gt 0 ] || sub_fail "$sub_job has no tasks"

sub_log_dir
name=tessera-$(basename "$sub_job" .json)
sub_site_options "$sub_kind"
aid=$(sub_sbatch "${site_opts[@]}" --job-name="$name" --array="0-$((n - 1))%$sub_throttle" \
    --output="$sub_logs/%x-%A_%a.out" "${sub_user[@]}" \
    "$sub_root/slurm/sweep.sbatch" "$sub_job" "${sub_tessera[@]}") || exit

# the summary: the site's small partition, the user's account/qos/reservation, --output-dir if given
carry=()
for ((i = 0; i < ${#sub_user[@]}; i++)); do
    case ${sub_user[i]} in
    --account=* | --qos=* | --reservation=* | -A?* | -q?*) carry+=("${sub_user[i]}") ;;
    --account | --qos | --reservation | -A | -q) carry+=("${sub_user[i]}" "${sub_user[i + 1]:-}"); i=$((i + 1)) ;;
    esac
done
out=()
for ((i = 0; i < ${#sub_tessera[@]}; i++)); do
    case ${sub_tessera[i]} in
    --output-dir=*) out+=("${sub_tessera[i]}") ;;
    --output-dir) out+=("${sub_tessera[i]}" "${sub_tessera[i + 1]:-}"); i=$((i + 1)) ;;
    esac
done
sub_site_options small
sid=$(sub_sbatch "${site_opts[@]}" --job-name="$name-summary" --output="$sub_logs/%x-%j.out" \
    --dependency="afterany:$aid" --kill-on-invalid-dep=no "${carry[@]}" \
    "$sub_root/slurm/summary.sbatch" "$sub_job" "${out[@]}") || exit
[ "$sub_dry" = 1 ] && { echo "dry run: nothing submitted ($n tasks)" >&2; exit 0; }
echo "submitted array job $aid ($n tasks, $sub_throttle at a time, $sub_kind, site $TESSERA_SITE)" \
    "and summary job $sid after it; logs in $sub_logs" >&2
echo "$aid $sid"
