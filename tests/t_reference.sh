#!/usr/bin/env bash
# t_reference.sh - `tessera grad` against the PyTorch reference cases written by tests/torch_ref.py.
#
# For every case folder under tests/fixtures/ref: run the case's command line (expected.json "args",
# with bin/tessera replaced by $TESSERA_BIN) in a scratch copy of the folder, then compare the printed
# loss terms (relative error <= 1e-5) and the gradient (relative L2 error <= 1e-4) with refcheck.
# When /usr/bin/python3 has torch, a fresh set of cases with a random seed (REF_SEED to repeat one)
# is generated and checked too. Needs neither torch nor numpy otherwise.
#
# Env: TESSERA_BIN (default bin/tessera), BUILD (default build; $BUILD/tools/refcheck is used when
# it is up to date, else refcheck is compiled into a temporary folder), REF_SEED.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" ref

src=tests/tools/refcheck.c
refcheck=${BUILD:-build}/tools/refcheck
if [ ! -x "$refcheck" ] || [ "$src" -nt "$refcheck" ]; then
    refcheck=$tmp/refcheck
    # shellcheck disable=SC2046
    if ! ${CC:-mpicc} -std=c11 -O2 -Wall -Wextra -Iinclude "$src" -o "$refcheck" \
        $(pkg-config --cflags --libs libcjson) -lm; then
        echo "NOT OK build refcheck"
        echo "0 passed, 1 failed"
        exit 1
    fi
fi
case $refcheck in /*) ;; *) refcheck=$root/$refcheck ;; esac
command -v timeout >/dev/null && runner=(timeout 600)

# check_set DIR PREFIX [EXTRA ARGS...]: every case folder in DIR; names in the report are PREFIX +
# folder name; EXTRA ARGS are appended to each case's command line (e.g. another --conv).
check_set() {
    local dir=$1 prefix=$2 d name work rc out p f n=0
    shift 2
    local -a extra=("$@")
    local -a args
    for d in "$dir"/*/; do
        d=${d%/}
        [ -f "$d/expected.json" ] || continue
        n=$((n + 1))
        name=$prefix$(basename "$d")
        work=$tmp/run/$name
        mkdir -p "$work"
        cp "$d"/* "$work"/
        rm -f "$work/actual_grad.npy"
        mapfile -t args < <("$refcheck" args "$d/expected.json")
        if [ "${#args[@]}" -lt 2 ] || [ "${args[0]}" != bin/tessera ]; then
            echo "NOT OK $name/args cannot read the command line from expected.json"
            fail=$((fail + 1))
            continue
        fi
        args[0]=$bin
        (cd "$work" && "${runner[@]}" "${args[@]}" "${extra[@]}" >stdout.txt 2>stderr.txt)
        rc=$?
        if [ "$rc" -ne 0 ]; then
            echo "NOT OK $name/run exit status $rc"
            tail -n 5 "$work/stderr.txt" | sed 's/^/    /'
            fail=$((fail + 1))
            continue
        fi
        out=$("$refcheck" "$d/expected.json" "$d/grad.npy" "$work/stdout.txt" "$work/actual_grad.npy" "$name")
        rc=$?
        [ -n "$out" ] && echo "$out"
        p=$(grep -c '^OK ' <<<"$out")
        f=$(grep -c '^NOT OK ' <<<"$out")
        if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then
            echo "NOT OK $name/refcheck exit status $rc"
            f=1
        fi
        pass=$((pass + p))
        fail=$((fail + f))
    done
    if [ "$n" -eq 0 ]; then
        echo "NOT OK $prefix: no reference cases in $dir"
        fail=$((fail + 1))
    fi
}

check_set tests/fixtures/ref ""                        # the default: Winograd where channels >= 16
check_set tests/fixtures/ref "im2col-" --conv im2col    # the direct path, everywhere

if /usr/bin/python3 -c 'import torch, numpy' >/dev/null 2>&1; then
    seed=${REF_SEED:-$(((RANDOM << 15) | RANDOM))}
    echo "# fresh cases, seed $seed (REF_SEED=$seed repeats them)"
    if /usr/bin/python3 tests/torch_ref.py --out "$tmp/fresh" --seed "$seed" >"$tmp/fresh.log" 2>&1; then
        pass=$((pass + 1))
        echo "OK fresh/generate $(grep -i 'finite-difference' "$tmp/fresh.log")"
        check_set "$tmp/fresh" "fresh-"
    else
        echo "NOT OK fresh/generate (seed $seed)"
        tail -n 5 "$tmp/fresh.log" | sed 's/^/    /'
        fail=$((fail + 1))
    fi
else
    echo "# /usr/bin/python3 has no torch: fresh cases skipped"
fi

summary
