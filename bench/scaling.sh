#!/usr/bin/env bash
# scaling.sh - strong scaling of the tiled modes on one machine: the same image on 1 rank and on N
# ranks (1 thread each). The figure is seconds per loss evaluation after the first iteration (L-BFGS
# takes a varying number of evaluations per iteration, so seconds per iteration would compare unlike
# work); each configuration runs REPEAT times, interleaved, and the median is reported.
# Parallel efficiency = t1 / (N * tN). Figures are for this machine only; run it on an idle one.
# Usage: bench/scaling.sh [SIZE=1024] [ITERATIONS=4] [N=2] [REPEAT=1] [CONTENT] [STYLE]
set -eu
cd "$(dirname "$0")/.."
size=${1:-1024} iters=${2:-4} n=${3:-2} repeat=${4:-1}
content=${5:-/usr/share/darknet/data/dog.jpg} style=${6:-/usr/share/darknet/data/scream.jpg}
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 OMP_WAIT_POLICY=passive
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
common=(run --content "$content" --style "$style" --weights random:0 --size "$size" --iterations "$iters" --threads 1 --quiet)
# field LINE KEY: a number from a JSON log line
field() { sed -nE "s/.*\"$2\": ([0-9.]+).*/\1/p" <<<"$1"; }
# per_eval LOG KEY: growth of a running total (elapsed, communication, waiting) per evaluation after
# the first iteration
per_eval() {
    local a b ea eb
    a=$(field "$(head -1 "$1")" "$2") b=$(field "$(tail -1 "$1")" "$2")
    ea=$(field "$(head -1 "$1")" evaluations) eb=$(field "$(tail -1 "$1")" evaluations)
    if [ -n "$a" ] && [ "$eb" -gt "$ea" ]; then awk -v a="$a" -v b="$b" -v n="$((eb - ea))" 'BEGIN{printf "%.3f", (b-a)/n}'; else echo -; fi
}
median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; else print "-"}'; }

# configurations: name, ranks, mode, halo exchange
configs=("single 1 single -" "exact-layer $n exact layer" "exact-image $n exact image" "independent $n independent image")
for r in $(seq "$repeat"); do
    for c in "${configs[@]}"; do
        read -r name np mode hx <<<"$c"
        log="$tmp/$name.$r.jsonl"
        if [ "$np" = 1 ]; then
            bin/tessera "${common[@]}" --output "$tmp/$name.png" --log "$log"
        else
            mpirun --oversubscribe -np "$np" bin/tessera "${common[@]}" --mode "$mode" --halo-exchange "$hx" \
                --output "$tmp/$name.png" --log "$log" 2>"$tmp/$name.err" || { cat "$tmp/$name.err"; exit 1; }
        fi
        for key in elapsed communication waiting; do per_eval "$log" "$key" >>"$tmp/$name.$key"; echo >>"$tmp/$name.$key"; done
    done
done

printf "%-34s %10s %11s %12s %12s  %s\n" "run ($size px, $iters iterations, x$repeat)" "s/eval" "efficiency" "comm s/eval" \
    "wait s/eval" "each run (s/eval)"
t1=$(grep -v '^-' "$tmp/single.elapsed" | median)
for c in "${configs[@]}"; do
    read -r name np mode hx <<<"$c"
    t=$(grep -v '^-' "$tmp/$name.elapsed" | median)
    label="$np rank(s), $mode"
    [ "$mode" = exact ] && label="$label ($hx halo)"
    eff=-
    [ "$np" != 1 ] && eff=$(awk -v a="$t1" -v b="$t" -v n="$np" 'BEGIN{printf "%.1f%%", 100*a/(n*b)}')
    printf "%-34s %10s %11s %12s %12s  %s\n" "$label" "$t" "$eff" "$(grep -v '^-' "$tmp/$name.communication" | median)" \
        "$(grep -v '^-' "$tmp/$name.waiting" | median)" "$(tr '\n' ' ' <"$tmp/$name.elapsed")"
done
