#!/usr/bin/env bash
# test.sh - the README's second command (and what .ci/run runs): installs what is missing, builds, and
# runs three stages:
#   1. the test suite (make test: C unit tests and tests/t_*.sh),
#   2. the same suite built with AddressSanitizer + UndefinedBehaviorSanitizer (make test SANITIZE=1),
#   3. every fuzz target for TESSERA_FUZZ_SECONDS each (default 60; make fuzz, tests/fuzz/run.sh).
# Each stage's own total is shown as "<stage>: N passed, N failed"; the last line is the combined
# "N passed, N failed", and the exit status is non-zero on any failure (a stage that cannot build or
# crashes counts as one failure). Logs, and the input of any fuzz finding, stay in the folder printed
# at the end.
# Env: TESSERA_SANITIZE=0 skips stage 2, TESSERA_FUZZ_SECONDS=0 skips stage 3.
set -u
cd "$(dirname "$0")/.." || exit 1
scripts/deps.sh test || echo "tessera: continuing without some test packages; tests that need them skip" >&2
log_dir=$(mktemp -d "${TMPDIR:-/tmp}/tessera-test.XXXXXX")
total_pass=0
total_fail=0
failed_stages=()

# stage NAME CMD...: runs CMD (output shown, with its closing "N passed, N failed" line relabelled
# "NAME: ..."), adds its counts to the totals
stage() {
    local name=$1
    shift
    local log=$log_dir/${name// /_}.log
    echo "==== $name"
    "$@" 2>&1 | tee "$log" | sed -u -E "s/^([0-9]+ passed, [0-9]+ failed)\$/$name: \\1/"
    local rc=${PIPESTATUS[0]} line p=0 f=0
    line=$(grep -E '^[0-9]+ passed, [0-9]+ failed$' "$log" | tail -1)
    if [ -n "$line" ]; then
        p=${line%% passed*}
        f=${line#*passed, }
        f=${f%% failed*}
    fi
    if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
        f=1
        echo "$name: exit status $rc without a failing test (a build failure or a crash; see $log)"
    fi
    total_pass=$((total_pass + p))
    total_fail=$((total_fail + f))
    [ "$f" -eq 0 ] || failed_stages+=("$name")
}

# stage 1
build_and_test() { make -s all tools && make -s test; }
stage "test suite" build_and_test

# stage 2
if [ "${TESSERA_SANITIZE:-1}" != 0 ]; then
    sanitized() { make -s SANITIZE=1 all tools && make -s SANITIZE=1 test; }
    stage "sanitizer suite" sanitized
else
    echo "==== sanitizer suite: skipped (TESSERA_SANITIZE=0)"
fi

# stage 3: needs clang with libFuzzer (Debian: clang, libclang-rt-14-dev)
fuzz_secs=${TESSERA_FUZZ_SECONDS:-60}
fuzz_ok() {
    local d
    d=$(mktemp -d)
    printf 'int LLVMFuzzerTestOneInput(const char *d, unsigned long n) { (void)d; (void)n; return 0; }\n' >"$d/t.c"
    "${FUZZ_CC:-clang}" -fsanitize=fuzzer,address "$d/t.c" -o "$d/t" >/dev/null 2>&1
    local rc=$?
    rm -rf "$d"
    return $rc
}
if [ "$fuzz_secs" = 0 ]; then
    echo "==== fuzzing: skipped (TESSERA_FUZZ_SECONDS=0)"
elif ! fuzz_ok; then
    echo "==== fuzzing: skipped: ${FUZZ_CC:-clang} cannot build libFuzzer targets (apt-get install clang libclang-rt-14-dev)"
    total_pass=$((total_pass + 1))
else
    fuzz() { make -s fuzz >/dev/null && FUZZ_LOG_DIR=$log_dir/fuzz tests/fuzz/run.sh "$fuzz_secs"; }
    stage "fuzzing" fuzz
fi

echo "logs: $log_dir"
[ ${#failed_stages[@]} -eq 0 ] || echo "failing stages: ${failed_stages[*]}"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
