#!/usr/bin/env bash
# scaling.sh - strong scaling of the tiled modes on one machine: the same image on 1 rank and on N
# ranks (1 thread each), seconds per iteration from the logs (median, first iteration excluded),
# parallel efficiency = t1 / (N * tN). Figures are for this machine only; run it on an idle one.
# Usage: bench/scaling.sh [SIZE=1024] [ITERATIONS=4] [N=2] [CONTENT] [STYLE]
set -eu
cd "$(dirname "$0")/.."
size=${1:-1024} iters=${2:-4} n=${3:-2}
content=${4:-/usr/share/darknet/data/dog.jpg} style=${5:-/usr/share/darknet/data/scream.jpg}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(run --content "$content" --style "$style" --weights random:0 --size "$size" --iterations "$iters" --threads 1 --quiet)
median() { sed -E 's/.*"seconds": ([0-9.]+).*/\1/' "$1" | tail -n +2 | sort -g | awk '{a[NR]=$1} END{print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2}'; }
evals() { tail -1 "$1" | sed -E 's/.*"evaluations": ([0-9]+).*/\1/'; }
# per_iter LOG KEY: growth of a running total (communication, waiting) per iteration after the first
per_iter() {
    local a b n
    a=$(head -1 "$1" | sed -nE "s/.*\"$2\": ([0-9.]+).*/\1/p"); b=$(tail -1 "$1" | sed -nE "s/.*\"$2\": ([0-9.]+).*/\1/p")
    n=$(($(wc -l <"$1") - 1))
    if [ -n "$a" ] && [ "$n" -gt 0 ]; then awk -v a="$a" -v b="$b" -v n="$n" 'BEGIN{printf "%.3f", (b-a)/n}'; else echo -; fi
}
bin/tessera "${common[@]}" --output "$tmp/one.png" --log "$tmp/one.jsonl"
t1=$(median "$tmp/one.jsonl")
printf "%-34s %10s %8s %11s %12s %12s\n" "run ($size px, $iters iterations)" "s/iter" "evals" "efficiency" \
    "comm s/iter" "wait s/iter"
printf "%-34s %10.3f %8s %11s %12s %12s\n" "1 rank, single" "$t1" "$(evals "$tmp/one.jsonl")" "-" - -
for mode in exact independent; do
    mpirun --oversubscribe -np "$n" bin/tessera "${common[@]}" --mode "$mode" --output "$tmp/$mode.png" \
        --log "$tmp/$mode.jsonl" 2>"$tmp/$mode.err" || { cat "$tmp/$mode.err"; exit 1; }
    tn=$(median "$tmp/$mode.jsonl")
    printf "%-34s %10.3f %8s %10.1f%% %12s %12s\n" "$n ranks, $mode" "$tn" "$(evals "$tmp/$mode.jsonl")" \
        "$(awk -v a="$t1" -v b="$tn" -v n="$n" 'BEGIN{print 100*a/(n*b)}')" \
        "$(per_iter "$tmp/$mode.jsonl" communication)" "$(per_iter "$tmp/$mode.jsonl" waiting)"
done
echo "halo: $(grep -ho 'halo recompute +[0-9]*%' "$tmp/exact.err" 2>/dev/null || echo '(see --log)')"
