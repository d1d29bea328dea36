#!/usr/bin/env bash
# t_run.sh - end-to-end `tessera run`: the loss falls (L-BFGS and Adam), a two-scale run ends at
# the output size, --init random --seed N is deterministic, --original-colors and --luminance-only
# runs succeed. Uses the small fixture images with random:3 weights; well under two minutes.
#
# Env: TESSERA_BIN (default bin/tessera).
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" run
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

if [ ! -x "$bin" ]; then
    echo "NOT OK $bin is not an executable (run make)"
    echo "0 passed, 1 failed"
    exit 1
fi

fx=$root/tests/fixtures/ref/vgg19_max
C=$fx/content.png
S=$fx/style.png
base=(run --content "$C" --style "$S" --weights random:3 --quiet)

# tess NAME ARGS...: run tessera, report a failure with its stderr; returns its status
tess() {
    local name=$1
    shift
    "${runner[@]}" "$bin" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "$name: exit 0"
    else
        not_ok "$name: exit 0" "exit status $rc" "command: tessera $*" "stderr: $(tail -c 600 "$tmp/stderr")"
    fi
    return "$rc"
}
# field LOG KEY -> that key's value on every line (one per line)
field() { sed -nE "s/.*\"$2\"[[:space:]]*:[[:space:]]*([^,}[:space:]]+).*/\\1/p" "$1"; }
# all_finite: every line of stdin is a finite decimal number
all_finite() { ! grep -vqE '^-?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'; }
# png_dims FILE -> "W H" ("0 0" when there is no file)
png_dims() {
    [ -s "$1" ] || { echo "0 0"; return; }
    od -An -tu1 -j16 -N8 "$1" |
        awk '{print $1*16777216 + $2*65536 + $3*256 + $4, $5*16777216 + $6*65536 + $7*256 + $8}'
}
is_png() { [ "$(od -An -tx1 -N8 "$1" | tr -d ' \n')" = 89504e470d0a1a0a ]; }

# loss_falls NAME LOG ITERS RATIO: ITERS log lines, all totals finite, last < RATIO * first
loss_falls() {
    local name=$1 log=$2 iters=$3 ratio=$4 n first last
    n=$(grep -c . "$log")
    check "$name: $iters log lines (got $n)" test "$n" -eq "$iters"
    if field "$log" total | all_finite && [ "$(field "$log" total | wc -l)" -eq "$n" ]; then
        ok "$name: all logged totals finite"
    else
        not_ok "$name: all logged totals finite" "totals: $(field "$log" total | tr '\n' ' ' | head -c 400)"
    fi
    first=$(field "$log" total | head -n 1)
    last=$(field "$log" total | tail -n 1)
    if awk -v a="$first" -v b="$last" -v r="$ratio" 'BEGIN { exit !(a > 0 && b < r * a) }'; then
        ok "$name: last total $last < $ratio x first $first"
    else
        not_ok "$name: last total < $ratio x first" "first $first, last $last"
    fi
}

# ---- L-BFGS: 20 iterations, the loss at least halves ---------------------------------------------
if tess "lbfgs" "${base[@]}" --output "$tmp/lbfgs.png" --size 48 --iterations 20 --log "$tmp/lbfgs.jsonl"; then
    loss_falls "lbfgs" "$tmp/lbfgs.jsonl" 20 0.5
    check "lbfgs: output is a PNG" is_png "$tmp/lbfgs.png"
    read -r w h < <(png_dims "$tmp/lbfgs.png")
    check "lbfgs: output long side 48 (${w}x$h)" test "$w" -eq 48 -a "$h" -le 48 -o "$h" -eq 48 -a "$w" -le 48
    its=$(field "$tmp/lbfgs.jsonl" iteration | tr '\n' ' ')
    check "lbfgs: iterations logged 1..20 in order" test "$its" = "$(seq 1 20 | tr '\n' ' ')"
else
    for n in lines finite falls png size order; do not_ok "lbfgs: $n" "run failed"; done
fi

# ---- Adam: 30 iterations, the loss falls ---------------------------------------------------------
if tess "adam" "${base[@]}" --output "$tmp/adam.png" --size 48 --iterations 30 --optimizer adam --log "$tmp/adam.jsonl"; then
    loss_falls "adam" "$tmp/adam.jsonl" 30 1
else
    for n in lines finite falls; do not_ok "adam: $n" "run failed"; done
fi

# ---- two scales: 24 then 48 ----------------------------------------------------------------------
if tess "two scales" "${base[@]}" --output "$tmp/scales.png" --size 48 --scales 24,48 --iterations 5,5 --log "$tmp/scales.jsonl"; then
    n=$(grep -c . "$tmp/scales.jsonl")
    check "two scales: 10 log lines (got $n)" test "$n" -eq 10
    wf=$(field "$tmp/scales.jsonl" width | head -n 1)
    wl=$(field "$tmp/scales.jsonl" width | tail -n 1)
    check "two scales: first logged width 24 (got $wf)" test "$wf" = 24
    check "two scales: last logged width 48 (got $wl)" test "$wl" = 48
    sl=$(field "$tmp/scales.jsonl" scale | tail -n 1)
    check "two scales: last logged scale 2 (got $sl)" test "$sl" = 2
    check "two scales: all logged totals finite" eval 'field "$tmp/scales.jsonl" total | all_finite'
    read -r w h < <(png_dims "$tmp/scales.png")
    check "two scales: output long side 48 (${w}x$h)" test "$w" -eq 48 -a "$h" -le 48 -o "$h" -eq 48 -a "$w" -le 48
else
    for n in lines first-width last-width last-scale finite size; do not_ok "two scales: $n" "run failed"; done
fi

# ---- determinism: --init random --seed 7 twice ---------------------------------------------------
det=(--size 32 --iterations 5 --init random --seed 7 --threads 1)
tess "seed 7, first run" "${base[@]}" --output "$tmp/seed7a.png" "${det[@]}"
tess "seed 7, second run" "${base[@]}" --output "$tmp/seed7b.png" "${det[@]}"
check "seed 7: the two outputs are byte-identical" cmp -s "$tmp/seed7a.png" "$tmp/seed7b.png"
# with two threads too (the same thread count each time)
tess "seed 7, 2 threads, first run" "${base[@]}" --output "$tmp/seed7c.png" "${det[@]}" --threads 2
tess "seed 7, 2 threads, second run" "${base[@]}" --output "$tmp/seed7d.png" "${det[@]}" --threads 2
check "seed 7, 2 threads: the two outputs are byte-identical" cmp -s "$tmp/seed7c.png" "$tmp/seed7d.png"
tess "seed 8" "${base[@]}" --output "$tmp/seed8.png" --size 32 --iterations 5 --init random --seed 8 --threads 1
check "seed 8: differs from seed 7" eval '[ -s "$tmp/seed8.png" ] && ! cmp -s "$tmp/seed7a.png" "$tmp/seed8.png"'

# ---- colour options ------------------------------------------------------------------------------
col=(--size 32 --iterations 3 --threads 1)
tess "plain" "${base[@]}" --output "$tmp/plain.png" "${col[@]}"
for opt in original-colors luminance-only; do
    if tess "--$opt" "${base[@]}" --output "$tmp/$opt.png" "${col[@]}" "--$opt"; then
        check "--$opt: output is a PNG" is_png "$tmp/$opt.png"
        read -r w h < <(png_dims "$tmp/$opt.png")
        check "--$opt: output is 32x24 (${w}x$h)" test "$w" -eq 32 -a "$h" -eq 24
        check "--$opt: output differs from the plain run" eval '[ -s "$tmp/plain.png" ] && ! cmp -s "$tmp/plain.png" "$tmp/$opt.png"'
    else
        for n in png size differs; do not_ok "--$opt: $n" "run failed"; done
    fi
done

summary
