#!/usr/bin/env bash
# t_checkpoint.sh - checkpoint/resume: a run stopped by the STOP file, SIGTERM or SIGUSR1 (single, exact
# and independent modes, L-BFGS and Adam) and resumed writes the same image as an uninterrupted run;
# checkpoints of another job or rank count are refused; a truncated checkpoint is refused; --resume
# without a checkpoint starts afresh; a NaN loss (injected with TESSERA_FAULT_NAN_AT) stops the run and
# keeps the last good checkpoint, from which the run resumes; an unwritable checkpoint directory is a
# warning; a rank killed with SIGKILL ends the job within seconds and leaves a checkpoint that resumes.
# One thread per process, so runs are bit-for-bit repeatable. A few minutes.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" checkpoint
if [ ! -x "$bin" ]; then
    echo "NOT OK $bin is not an executable (run make)"; echo "0 passed, 1 failed"; exit 1
fi
fx=$root/tests/fixtures/ref/vgg19_max
base=(run --content "$fx/content.png" --style "$fx/style.png" --weights random:3 --threads 1 --quiet)
two=(--scales 48,96 --iterations 6,8)
mpi=(mpirun --oversubscribe -np 2)
cd "$tmp" || exit 1

check() { local name=$1; shift; if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi; }
same() { # same NAME A B: the two images are byte for byte equal
    if cmp -s "$2" "$3"; then ok "$1"; else not_ok "$1" "$2 and $3 differ (or one is missing)"; fi
}
# wait_latest DIR: until DIR/LATEST exists (at most 60 s)
wait_latest() { local i; for i in $(seq 600); do [ -f "$1/LATEST" ] && return 0; sleep 0.1; done; return 1; }
# stop_midway NAME SIGNAL DIR OUT CMD...: starts CMD, signals it once a checkpoint exists; checks exit 0,
# no output written, a complete checkpoint left
stop_midway() {
    local name=$1 sig=$2 dir=$3 out=$4; shift 4
    "$@" >"$name.out" 2>&1 &
    local pid=$!
    wait_latest "$dir"
    kill "-$sig" "$pid"
    wait "$pid"
    local rc=$?
    check "$name: exit 0 after SIG$sig" [ "$rc" -eq 0 ]
    check "$name: says where it stopped" grep -q "stopped on request (SIG$sig)" "$name.out"
    check "$name: no output yet" [ ! -e "$out" ]
    check "$name: complete checkpoint" [ -f "$dir/$(cat "$dir/LATEST" 2>/dev/null)/COMPLETE" ]
}

# --- single process: STOP file, L-BFGS and Adam ---
for opt in lbfgs adam; do
    "$bin" "${base[@]}" "${two[@]}" --optimizer "$opt" --output "full_$opt.png" --log "full_$opt.jsonl"
    mkdir -p "s_$opt.ckpt" && touch "s_$opt.ckpt/STOP"
    "$bin" "${base[@]}" "${two[@]}" --optimizer "$opt" --output "s_$opt.png" --checkpoint-dir "s_$opt.ckpt" \
        --log "s_$opt.jsonl" 2>"s_$opt.err"
    check "$opt STOP file: exit 0" [ $? -eq 0 ]
    check "$opt STOP file: stopped after iteration 1" grep -q "after iteration 1;" "s_$opt.err"
    check "$opt STOP file: file consumed" [ ! -e "s_$opt.ckpt/STOP" ]
    check "$opt STOP file: generation 1" [ "$(cat "s_$opt.ckpt/LATEST")" = ckpt-00000001 ]
    "$bin" "${base[@]}" "${two[@]}" --optimizer "$opt" --output "s_$opt.png" --checkpoint-dir "s_$opt.ckpt" \
        --log "s_$opt.jsonl" --resume
    same "$opt resumed = uninterrupted" "full_$opt.png" "s_$opt.png"
    check "$opt log continues: same number of lines" [ "$(wc -l <"s_$opt.jsonl")" -eq "$(wc -l <"full_$opt.jsonl")" ]
done

# --- single process: SIGTERM mid-run, periodic checkpoints, one generation kept ---
stop_midway "single SIGTERM" TERM t.ckpt t.png "$bin" "${base[@]}" "${two[@]}" --output t.png --checkpoint-dir t.ckpt --checkpoint-every 2
check "one generation kept" [ "$(ls -d t.ckpt/ckpt-* | wc -l)" -eq 1 ]
"$bin" "${base[@]}" "${two[@]}" --output t.png --checkpoint-dir t.ckpt --resume
same "single SIGTERM: resumed = uninterrupted" full_lbfgs.png t.png

# --- style masks: a stopped masked run resumes to the uninterrupted image; other masks are refused ---
M=$root/tests/fixtures/ref/masks_hard
mk=(--style "$M/style1.png,$M/style2.png" --style-masks "$M/mask1.png,$M/mask2.png")
"$bin" "${base[@]}" "${two[@]}" "${mk[@]}" --output full_mask.png
mkdir -p m.ckpt && touch m.ckpt/STOP
"$bin" "${base[@]}" "${two[@]}" "${mk[@]}" --output m.png --checkpoint-dir m.ckpt 2>m.err
check "masks: STOP file, checkpoint written" [ -f "m.ckpt/$(cat m.ckpt/LATEST 2>/dev/null)/COMPLETE" ]
"$bin" "${base[@]}" "${two[@]}" "${mk[@]}" --output m.png --checkpoint-dir m.ckpt --resume
same "masks: resumed = uninterrupted" full_mask.png m.png
"$bin" "${base[@]}" "${two[@]}" --style "$M/style1.png,$M/style2.png" --style-masks "$M/mask2.png,$M/mask1.png" \
    --output m2.png --checkpoint-dir m.ckpt --resume 2>m2.err
check "masks: a checkpoint of other masks is refused" grep -q "other options or inputs" m2.err

# --- refusals ---
"$bin" "${base[@]}" "${two[@]}" --output t2.png --checkpoint-dir t.ckpt --resume --style-weight 123 2>o.err
check "other options: exit 2" [ $? -eq 2 ]
check "other options: says so" grep -q "other options or inputs" o.err
check "other options: no output" [ ! -e t2.png ]
"${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" --mode exact --output t2.png --checkpoint-dir t.ckpt --resume 2>r.err
check "other rank count: exit non-zero" [ $? -ne 0 ]
check "other rank count: refused" grep -q "checkpoint" r.err
cp -r t.ckpt cut.ckpt
f=$(ls cut.ckpt/ckpt-*/rank-0.bin)
head -c $(($(stat -c %s "$f") / 2)) "$f" >"$f.half" && mv "$f.half" "$f"
"$bin" "${base[@]}" "${two[@]}" --output t2.png --checkpoint-dir cut.ckpt --resume 2>c.err
check "truncated checkpoint: exit 2" [ $? -eq 2 ]
check "truncated checkpoint: says so" grep -q "truncated" c.err
"$bin" "${base[@]}" "${two[@]}" --output fresh.png --checkpoint-dir none.ckpt --resume
check "--resume without a checkpoint starts afresh" [ -s fresh.png ]
same "fresh run = uninterrupted" full_lbfgs.png fresh.png
check "default directory is OUTPUT.ckpt" sh -c "'$bin' ${base[*]} --size 48 --iterations 2 --output d.png --checkpoint-every 1 && test -f d.png.ckpt/LATEST"
touch notadir
"$bin" "${base[@]}" --size 48 --iterations 3 --output w.png --checkpoint-dir notadir/ckpt --checkpoint-every 1 2>w.err
check "unwritable checkpoint dir: run still ends" [ -s w.png ]
check "unwritable checkpoint dir: warned" grep -q "warning: checkpoint at iteration 1 failed" w.err

# --- NaN: stop, keep the last good checkpoint, resume from it ---
TESSERA_FAULT_NAN_AT=5 "$bin" "${base[@]}" "${two[@]}" --output n.png --checkpoint-dir n.ckpt --checkpoint-every 2 2>n.err
check "NaN: exit 2" [ $? -eq 2 ]
check "NaN: message" grep -q "loss became NaN at iteration 5" n.err
check "NaN: no output" [ ! -e n.png ]
check "NaN: last good checkpoint kept" [ "$(cat n.ckpt/LATEST)" = ckpt-00000004 ]
"$bin" "${base[@]}" "${two[@]}" --output n.png --checkpoint-dir n.ckpt --resume
same "NaN: resumed from the good checkpoint = uninterrupted" full_lbfgs.png n.png

# --- two ranks: exact and independent, SIGUSR1 forwarded by mpirun ---
for mode in exact independent; do
    tiles=(--mode "$mode" --tiles 2x2)
    "${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" "${tiles[@]}" --output "full_$mode.png" >/dev/null 2>&1
    stop_midway "$mode SIGUSR1" USR1 "$mode.ckpt" "$mode.png" "${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" "${tiles[@]}" \
        --output "$mode.png" --checkpoint-dir "$mode.ckpt" --checkpoint-every 3
    check "$mode: one file per rank" [ "$(ls "$mode.ckpt/$(cat "$mode.ckpt/LATEST")"/rank-*.bin | wc -l)" -eq 2 ]
    "${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" "${tiles[@]}" --output "$mode.png" --checkpoint-dir "$mode.ckpt" --resume >/dev/null 2>&1
    same "$mode: resumed = uninterrupted" "full_$mode.png" "$mode.png"
    TESSERA_FAULT_NAN_AT=4 "${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" "${tiles[@]}" --output "nan_$mode.png" \
        --checkpoint-dir "nan_$mode.ckpt" --checkpoint-every 2 >"nan_$mode.err" 2>&1
    check "$mode NaN: exit non-zero" [ $? -ne 0 ]
    check "$mode NaN: message" grep -q "became NaN at iteration 4" "nan_$mode.err"
    check "$mode NaN: last good checkpoint kept" [ "$(cat "nan_$mode.ckpt/LATEST")" = ckpt-00000002 ]
done
# --- a rank killed mid-run: the job ends within seconds, the last checkpoint is intact and resumes ---
"${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" --mode exact --tiles 2x2 --output k.png --checkpoint-dir k.ckpt \
    --checkpoint-every 1 >k.out 2>&1 &
pid=$!
wait_latest k.ckpt
sleep 1
victim=$(pgrep -P "$pid" -f tessera | tail -1)
t0=$SECONDS
[ -n "$victim" ] && kill -9 "$victim"
wait "$pid"
rc=$?
check "killed rank: the job fails" [ "$rc" -ne 0 ]
check "killed rank: the job ends within 30 s" [ $((SECONDS - t0)) -le 30 ]
gen=$(cat k.ckpt/LATEST)
check "killed rank: LATEST names a complete checkpoint" [ -f "k.ckpt/$gen/COMPLETE" ]
"${mpi[@]}" "$bin" "${base[@]}" "${two[@]}" --mode exact --tiles 2x2 --output k.png --checkpoint-dir k.ckpt --resume >/dev/null 2>&1
same "killed rank: resumed = uninterrupted" full_exact.png k.png
summary
