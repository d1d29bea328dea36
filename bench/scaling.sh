#!/usr/bin/env bash
# scaling.sh - strong scaling of the tiled modes on one machine: the same image on 1 rank and on N
# ranks (1 thread each). The figure is seconds per loss evaluation after the first iteration (L-BFGS
# takes a varying number of evaluations per iteration, so seconds per iteration would compare unlike
# work); each configuration runs REPEAT times, interleaved, and the median is reported.
# Parallel efficiency = t1 / (N * tN): of the medians, and the median of each repeat's own ratio (its
# runs follow each other, so a stretch of time in which the shared machine is slower slows both).
# The `concurrent` line is the ceiling of any N-rank run here: N copies of the 1-rank job at once, no
# communication at all; its efficiency is t1 / (slowest copy), the share N ranks lose to sharing the
# machine's memory bandwidth and caches. Figures are for this machine only; run it on an idle one.
# Usage: bench/scaling.sh [SIZE=1024] [ITERATIONS=4] [N=2] [REPEAT=1] [CONTENT] [STYLE]
#   env CONFIGS: the configurations to run, of single concurrent exact-layer exact-layer-sync exact-image
#   independent (default all; single is always run, as every efficiency is against it), e.g.
#   CONFIGS=exact-layer for more repeats of one mode in the same time. exact-layer-sync is the layer
#   exchange with TESSERA_HALO_OVERLAP=0 (each exchange completes before its convolution starts)
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
    if [ -n "$a" ] && [ "$eb" -gt "$ea" ]; then awk -v a="$a" -v b="$b" -v n="$((eb - ea))" 'BEGIN{printf "%.3f", (b-a)/n}'; else printf -- -; fi
}
median() { sort -g | awk '{a[NR]=$1} END{if (NR) print (NR%2)?a[(NR+1)/2]:(a[NR/2]+a[NR/2+1])/2; else print "-"}'; }

# configurations: name, ranks, mode, halo exchange, TESSERA_HALO_OVERLAP
all=("single 1 single - 1" "concurrent $n concurrent - 1" "exact-layer $n exact layer 1" "exact-layer-sync $n exact layer 0"
    "exact-image $n exact image 1" "independent $n independent image 1")
want=${CONFIGS:-} configs=()
for c in "${all[@]}"; do
    name=${c%% *}
    [ "$name" = single ] || [ -z "$want" ] || [[ " ${want//,/ } " == *" $name "* ]] && configs+=("$c")
done
names=" $(for c in "${all[@]}"; do printf '%s ' "${c%% *}"; done)"
for w in ${want//,/ }; do
    [[ $names == *" $w "* ]] || { echo "scaling.sh: CONFIGS: no configuration '$w' (of$names)" >&2; exit 2; }
done
for r in $(seq "$repeat"); do
    for c in "${configs[@]}"; do
        read -r name np mode hx ov <<<"$c"
        log="$tmp/$name.$r.jsonl"
        if [ "$np" = 1 ]; then
            bin/tessera "${common[@]}" --output "$tmp/$name.png" --log "$log"
        elif [ "$mode" = concurrent ]; then # N separate 1-rank jobs; a tiled run waits for its slowest rank
            for k in $(seq "$np"); do bin/tessera "${common[@]}" --output "$tmp/$name.$k.png" --log "$log.$k" & done
            wait
            for k in $(seq "$np"); do per_eval "$log.$k" elapsed; echo; done | sort -g | tail -1 >>"$tmp/$name.elapsed"
            printf -- '-\n' >>"$tmp/$name.communication"
            printf -- '-\n' >>"$tmp/$name.waiting"
            continue
        else
            TESSERA_HALO_OVERLAP=$ov mpirun --oversubscribe -np "$np" bin/tessera "${common[@]}" --mode "$mode" --halo-exchange "$hx" \
                --output "$tmp/$name.png" --log "$log" 2>"$tmp/$name.err" || { cat "$tmp/$name.err"; exit 1; }
        fi
        for key in elapsed communication waiting; do per_eval "$log" "$key" >>"$tmp/$name.$key"; echo >>"$tmp/$name.$key"; done
    done
done

printf "%-36s %8s %11s %8s %8s %8s  %s\n" "run ($size px, $iters iterations, x$repeat)" "s/eval" "efficiency" "paired" \
    "comm" "wait" "each run (s/eval)"
t1=$(grep -v '^-' "$tmp/single.elapsed" | median)
for c in "${configs[@]}"; do
    read -r name np mode hx ov <<<"$c"
    t=$(grep -v '^-' "$tmp/$name.elapsed" | median)
    label="$np rank(s), $mode"
    sync=
    [ "$ov" = 0 ] && sync=", sync"
    [ "$mode" = exact ] && label="$label ($hx halo$sync)"
    [ "$mode" = concurrent ] && label="$np x 1 rank at once (ceiling)"
    eff=- paired=-
    per=1
    [ "$mode" = concurrent ] || per=$np
    if [ "$np" != 1 ]; then
        eff=$(awk -v a="$t1" -v b="$t" -v n="$per" 'BEGIN{printf "%.1f%%", 100*a/(n*b)}')
        paired=$(paste "$tmp/single.elapsed" "$tmp/$name.elapsed" | awk -v n="$per" '$1!="-" && $2!="-" && $2>0 {print 100*$1/(n*$2)}' |
            median | awk '{printf "%.1f%%", $1}')
    fi
    printf "%-36s %8s %11s %8s %8s %8s  %s\n" "$label" "$t" "$eff" "$paired" "$(grep -v '^-' "$tmp/$name.communication" | median)" \
        "$(grep -v '^-' "$tmp/$name.waiting" | median)" "$(tr '\n' ' ' <"$tmp/$name.elapsed")"
done
