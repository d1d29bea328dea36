#!/usr/bin/env bash
# shellcheck disable=SC2154
# submit.sh - submits slurm/tessera.sbatch for one Tessera batch job with the site's settings:
#   slurm/submit.sh [--site NAME] [--cpu] [--dry-run] JOB.json [SBATCH OPTIONS] [-- TESSERA BATCH OPTIONS]
# The site profile's options come first on the sbatch command line and yours after them, so yours
# win (e.g. --time=4:00:00, --nodes=2, --job-name=x). Prints the job id.
set -u
# shellcheck source=submit-common.sh
source "$(dirname "${BASH_SOURCE[0]}")/submit-common.sh"
sub_parse "$@"
sub_site_options "$sub_kind"
sub_log_dir
name=tessera-$(basename "$sub_job" .json)
id=$(sub_sbatch "${site_opts[@]}" --job-name="$name" --output="$sub_logs/%x-%j.out" "${sub_user[@]}" \
    "$sub_root/slurm/tessera.sbatch" "$sub_job" "${sub_tessera[@]}") || exit
[ "$sub_dry" = 1 ] && { echo "dry run: nothing submitted" >&2; exit 0; }
echo "submitted job $id ($sub_kind, site $TESSERA_SITE); log in $sub_logs" >&2
echo "$id"
