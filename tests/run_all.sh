#!/usr/bin/env bash
# Runs every test: the C unit tests (build/tests/test_*) and the shell tests (tests/t_*.sh).
# Each prints its own "N passed, N failed" line; this adds them up and prints the total last.
# A test that crashes or exits non-zero without reporting failures counts as one failure.
set -u
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export TESSERA_BIN=${BIN:-bin/tessera}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
export OMPI_MCA_rmaps_base_oversubscribe=1
# sanitizer builds (make test SANITIZE=1): Open MPI keeps allocations until exit; the slow unwinder
# attributes them to its libraries so tests/sanitizer.supp can name them, and Tessera's own stay reported
export OMPI_MCA_mca_base_component_disable_dlclose=1
export LSAN_OPTIONS=${LSAN_OPTIONS:-suppressions=$PWD/tests/sanitizer.supp:print_suppressions=0}
export ASAN_OPTIONS=${ASAN_OPTIONS:-fast_unwind_on_malloc=0:detect_stack_use_after_return=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
total_pass=0; total_fail=0; failed_names=()
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-tests.XXXXXX")
run_one() {
    local name=$1; shift
    local log="$log_dir/$(basename "$name").log"
    local t0=$SECONDS
    "$@" >"$log" 2>&1
    local rc=$?
    local line p f
    line=$(grep -E '^([A-Za-z]+: )?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=$(sed -E 's/^([A-Za-z]+: )?([0-9]+) passed.*/\2/' <<<"$line")
        f=$(sed -E 's/^([A-Za-z]+: )?[0-9]+ passed, ([0-9]+) failed.*/\2/' <<<"$line")
    else
        p=0; f=0
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
    total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
    if [ "$f" -ne 0 ]; then
        failed_names+=("$name"); echo "FAIL $name ($p passed, $f failed, rc=$rc, $((SECONDS - t0))s)"
        grep -E 'NOT OK|error|Error|FAIL' "$log" | head -20 | sed 's/^/    /'
    else
        echo "ok   $name ($p passed, $((SECONDS - t0))s)"
    fi
}
for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_one "$(basename "$t")" "$t"
done
for t in tests/t_*.sh; do
    [ -f "$t" ] || continue
    run_one "$(basename "$t")" bash "$t"
done
echo "logs: $log_dir"
[ ${#failed_names[@]} -eq 0 ] || echo "failing: ${failed_names[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
