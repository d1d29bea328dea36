# shellcheck shell=bash
# lib.sh - the shared set-up of the shell tests, sourced as: source "$(dirname "$0")/lib.sh" NAME
# Gives: the repository root as the working folder ($root), the binary ($bin, absolute; from
# TESSERA_BIN, default bin/tessera), mpirun allowed as root, passive OpenMP waiting (spinning threads
# make runs many times slower when the cores are shared), a temporary folder $tmp removed on exit,
# $runner (a timeout), the pass/fail counters with ok / not_ok, and summary for the closing line.
set -u
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
root=$PWD
bin=${TESSERA_BIN:-bin/tessera}
case $bin in /*) ;; *) bin=$root/$bin ;; esac
export OMPI_ALLOW_RUN_AS_ROOT=${OMPI_ALLOW_RUN_AS_ROOT:-1}
export OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=${OMPI_ALLOW_RUN_AS_ROOT_CONFIRM:-1}
export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tessera-${1:-test}.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
runner=()
command -v timeout >/dev/null && runner=(timeout 300)

ok() { pass=$((pass + 1)); echo "OK $1"; }
not_ok() {
    fail=$((fail + 1)); echo "NOT OK $1"
    shift
    local l
    for l in "$@"; do printf '    %s\n' "$l"; done
}
# the closing line; the exit status of the test
summary() {
    echo "$pass passed, $fail failed"
    [ "$fail" -eq 0 ]
}
