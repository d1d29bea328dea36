#!/usr/bin/env bash
# run.sh - runs every libFuzzer target (build-fuzz/fuzz_*, from `make fuzz`) for a bounded time each.
#
# Usage: tests/fuzz/run.sh SECONDS [TARGET...]      (targets by name, e.g. fuzz_png; default: all)
# Env:   FUZZ_BUILD   where the targets are (default build-fuzz)
#        FUZZ_LOG_DIR where logs, grown corpora and crash inputs go (default: a new folder under $TMPDIR)
#
# Each target starts from its committed seeds (tests/fuzz/corpus/<name>/, read only) plus the
# dictionary tests/fuzz/<name>.dict when there is one; new inputs go to a scratch corpus in the log
# folder. A finding - a crash, a sanitizer report, a leak, an input slower than 10 s or one using more
# than 2 GiB - is a failure: its input is saved in the log folder (crash-*, leak-*, timeout-*, oom-*)
# and the line names it. Prints per target the executions run, and ends "N passed, N failed".
set -u
cd "$(dirname "$0")/../.." || exit 1
secs=${1:-}
case $secs in '' | *[!0-9]*) echo "usage: $0 SECONDS [TARGET...]" >&2; exit 2 ;; esac
shift
build=${FUZZ_BUILD:-build-fuzz}
log_dir=${FUZZ_LOG_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/tessera-fuzz.XXXXXX")}
mkdir -p "$log_dir"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    for b in "$build"/fuzz_*; do
        [ -x "$b" ] && [ -f "$b" ] && case $b in *.d) ;; *) targets+=("$(basename "$b")") ;; esac
    done
fi
pass=0
fail=0
if [ ${#targets[@]} -eq 0 ]; then
    echo "NOT OK no fuzz targets in $build (run make fuzz)"
    echo "0 passed, 1 failed"
    exit 1
fi
for name in "${targets[@]}"; do
    bin=$build/$name
    short=${name#fuzz_}
    seeds=tests/fuzz/corpus/$short
    work=$log_dir/corpus-$short
    log=$log_dir/$name.log
    mkdir -p "$work"
    if [ ! -x "$bin" ]; then
        echo "NOT OK $name: $bin is missing (run make fuzz)"
        fail=$((fail + 1))
        continue
    fi
    args=(-max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1
          -artifact_prefix="$log_dir/$name-")
    [ -f "tests/fuzz/$short.dict" ] && args+=(-dict="tests/fuzz/$short.dict")
    dirs=("$work")
    [ -d "$seeds" ] && dirs+=("$seeds")
    # the outer timeout only catches a fuzzer that does not stop by itself
    timeout $((secs + 120)) "$bin" "${args[@]}" "${dirs[@]}" >"$log" 2>&1
    rc=$?
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    found=()
    for f in "$log_dir/$name"-*; do [ -e "$f" ] && found+=("$f"); done
    if [ "$rc" -eq 0 ] && [ ${#found[@]} -eq 0 ]; then
        pass=$((pass + 1))
        echo "OK $name: ${execs:-?} executions in ${secs} s, no finding"
    else
        fail=$((fail + 1))
        echo "NOT OK $name: finding after ${execs:-?} executions (exit $rc); input: ${found[*]:-none saved}; log: $log"
        grep -E '^(==[0-9]+==ERROR|SUMMARY|.*runtime error)' "$log" | head -5 | sed 's/^/    /'
    fi
done
echo "fuzz logs: $log_dir"
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
