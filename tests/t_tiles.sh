#!/usr/bin/env bash
# t_tiles.sh - the tiled modes under mpirun: exact equals the single process (gradient against the
# PyTorch reference cases on 1-4 ranks and several grids, style masks included, and 10- and 8-iteration
# L-BFGS loss curves); masks in independent mode;
# independent blends away the seams that pasting leaves; bad tilings stop every rank with exit 2.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" tiles
if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun"; echo "0 passed, 0 failed"; exit 0; fi
mpi() { local np=$1; shift; timeout 300 mpirun --oversubscribe -np "$np" "$@"; }

refcheck=${BUILD:-build}/tools/refcheck
case $refcheck in /*) ;; *) refcheck=$root/$refcheck ;; esac
[ -x "$refcheck" ] || { echo "NOT OK refcheck not built (make tools)"; echo "0 passed, 1 failed"; exit 1; }

# ---- exact grad equals the reference on every grid (the mask cases: guided Grams, docs/DESIGN.md §1;
# masks_soft_three has a mask empty at the deepest layers, masks_style_side masks on the style images) ----
for case in vgg19_max custom_layers caffe masks_soft_three masks_style_side; do
    dir=$root/tests/fixtures/ref/$case
    mapfile -t args < <(cd "$dir" && "$refcheck" args expected.json)
    runs=("1 2x1" "2 1x2" "2 2x2" "3 1x3" "4 2x2" "4 1x2")
    case $case in
        masks_soft_three) runs=("2 1x2" "2 2x2" "3 1x3" "4 2x2") ;;
        masks_style_side) runs=("2 2x1" "2 2x2" "3 3x1" "4 2x2") ;; # 56 px high, 41 wide
    esac
    for run in "${runs[@]}"; do
        set -- $run
        np=$1 grid=$2 name="exact $case np=$np tiles=$grid"
        rm -f "$tmp/g.npy"
        if (cd "$dir" && mpi "$np" "$bin" "${args[@]:1}" --grad-out "$tmp/g.npy" --mode exact --tiles "$grid" --quiet \
            >"$tmp/out.txt" 2>"$tmp/err.txt"); then
            if (cd "$dir" && "$refcheck" expected.json grad.npy "$tmp/out.txt" "$tmp/g.npy" "$case-$np-$grid" >"$tmp/cmp.txt"); then
                ok "$name: loss terms and gradient match the reference"
            else
                not_ok "$name" "$(grep 'NOT OK' "$tmp/cmp.txt")"
            fi
        else
            not_ok "$name: exit status" "$(tail -3 "$tmp/err.txt")"
        fi
    done
done

# ---- exact grad equals the single-process grad to float rounding (1e-5 on every term and the gradient);
# this case has two style images of different shapes, whose Gram targets the ranks compute together ----
dir=$root/tests/fixtures/ref/two_styles
mapfile -t args < <(cd "$dir" && "$refcheck" args expected.json)
# exact_vs_single NAME SIZE NP GRID EXCHANGE OVERLAP: exact grad equals the single-process one at SIZE px
# (the case in $dir, its command line in args)
exact_vs_single() {
    local name=$1 size=$2 np=$3 grid=$4 hx=$5 overlap=$6 key
    key=$(basename "$dir")$size
    [ -e "$tmp/single$key.npy" ] ||
        (cd "$dir" && "$bin" "${args[@]:1}" --size "$size" --grad-out "$tmp/single$key.npy" --quiet | grep total >"$tmp/single$key.json")
    if (cd "$dir" && TESSERA_HALO_OVERLAP=$overlap mpi "$np" "$bin" "${args[@]:1}" --size "$size" --grad-out "$tmp/g.npy" \
            --mode exact --tiles "$grid" --halo-exchange "$hx" --quiet >"$tmp/out.txt" 2>"$tmp/err.txt") &&
       REFCHECK_GRAD_TOL=1e-5 "$refcheck" "$tmp/single$key.json" "$tmp/single$key.npy" "$tmp/out.txt" "$tmp/g.npy" \
           "exact$key-vs-single-$np-$grid" >"$tmp/cmp.txt"; then
        ok "$name"
    else
        not_ok "$name" "$(grep 'NOT OK' "$tmp/cmp.txt" 2>/dev/null; tail -2 "$tmp/err.txt")"
    fi
}
# both halo exchanges: a ring passed between neighbours before every conv, and one recomputed image halo;
# the ring exchange overlapped with the convolution's interior (default) and not (TESSERA_HALO_OVERLAP=0)
for run in "2 1x2 layer" "3 1x3 layer" "4 2x2 layer" "2 1x2 layer 0" "4 2x2 layer 0" "2 1x2 image" "3 1x3 image" \
    "4 2x2 image" "2 2x2 image"; do
    set -- $run
    overlap=${4:-1}
    exact_vs_single "exact np=$1 tiles=$2 ($3 halo$([ "$overlap" = 0 ] && echo ", not overlapped")) equals single-process grad within 1e-5" \
        64 "$1" "$2" "$3" "$overlap"
done
# at 224 px the first levels' owned parts are wide enough for the overlapped convolution to be cut
# (interior while the ring travels, bands after; at 64 px every level is convolved whole)
for run in "2 1x2" "4 2x2" "3 1x3"; do
    set -- $run
    exact_vs_single "exact np=$1 tiles=$2 at 224 px (overlapped convolutions cut in pieces) equals single-process grad within 1e-5" \
        224 "$1" "$2" layer 1
done
# with masks (two styles, top and bottom halves; resampled from 64 to 96 px, and at 224 px cut
# convolutions): the guided Grams of every tile add up to the single process's
dir=$root/tests/fixtures/ref/masks_hard
mapfile -t args < <(cd "$dir" && "$refcheck" args expected.json)
for run in "2 1x2 layer 96" "3 1x3 layer 96" "4 2x2 layer 96" "2 1x2 image 96" "4 2x2 image 96" "3 1x3 layer 224"; do
    set -- $run
    exact_vs_single "masks: exact np=$1 tiles=$2 ($3 halo, $4 px) equals single-process grad within 1e-5" "$4" "$1" "$2" "$3" 1
done
dir=$root/tests/fixtures/ref/two_styles
mapfile -t args < <(cd "$dir" && "$refcheck" args expected.json)
# the start line says which exchange ran (auto: the ring when tiles = ranks)
(cd "$dir" && mpi 2 "$bin" "${args[@]:1}" --grad-out "$tmp/g.npy" --mode exact 2>&1 >/dev/null) | grep -q "halos exchanged per layer" &&
    ok "auto picks the per-layer exchange with one tile per rank" || not_ok "auto picks the per-layer exchange with one tile per rank"
(cd "$dir" && mpi 2 "$bin" "${args[@]:1}" --grad-out "$tmp/g.npy" --mode exact --tiles 2x2 2>&1 >/dev/null) | grep -qE "halo [0-9]+ px" &&
    ok "auto picks the image halo when tiles outnumber ranks" || not_ok "auto picks the image halo when tiles outnumber ranks"

# ---- a 10-iteration L-BFGS run follows the single-process loss curve ----
F=$root/tests/fixtures/ref/vgg19_max
common=(run --content "$F/content.png" --style "$F/style.png" --weights random:2 --size 72 --iterations 10 --threads 1 --quiet)
"$bin" "${common[@]}" --output "$tmp/single.png" --log "$tmp/single.jsonl"
for run in "2 1x2" "3 2x2" "4 2x2"; do
    set -- $run
    np=$1 grid=$2
    if mpi "$np" "$bin" "${common[@]}" --mode exact --tiles "$grid" --output "$tmp/exact.png" --log "$tmp/exact.jsonl" 2>"$tmp/err.txt"; then
        worst=$(paste <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$tmp/single.jsonl") <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$tmp/exact.jsonl") |
            awk 'function abs(v){return v<0?-v:v} {d=abs($1-$2)/abs($1); if(d>m)m=d; n++} END{if(n!=10)print "lines:" n; else printf "%.3g", m}')
        if awk -v w="$worst" 'BEGIN{exit !(w+0 <= 1e-4 && w !~ /lines/)}'; then
            ok "exact np=$np tiles=$grid: loss curve within 1e-4 of single ($worst)"
        else
            not_ok "exact np=$np tiles=$grid: loss curve within 1e-4 of single" "worst relative difference $worst"
        fi
        [ -s "$tmp/exact.png" ] && ok "exact np=$np: output written" || not_ok "exact np=$np: output written"
    else
        not_ok "exact run np=$np tiles=$grid" "$(tail -3 "$tmp/err.txt")"
    fi
done

# ---- independent: blending removes seams that pasting leaves ----
ind=(run --content "$F/content.png" --style "$F/style.png" --weights random:2 --size 96 --iterations 20 --threads 1
     --quiet --mode independent --tiles 2x2 --halo 16)
if mpi 2 "$bin" "${ind[@]}" --output "$tmp/blend.png" 2>"$tmp/err.txt" &&
   mpi 2 "$bin" "${ind[@]}" --output "$tmp/paste.png" --blend none 2>>"$tmp/err.txt"; then
    sb=$("$bin" seams "$tmp/blend.png" --tiles 2x2 | sed -E 's/.*"score": ([0-9.]+).*/\1/')
    sp=$("$bin" seams "$tmp/paste.png" --tiles 2x2 | sed -E 's/.*"score": ([0-9.]+).*/\1/')
    awk -v b="$sb" 'BEGIN{exit !(b > 0.7 && b < 1.15)}' && ok "independent blended seam score near 1 ($sb)" ||
        not_ok "independent blended seam score near 1" "score $sb"
    awk -v b="$sb" -v p="$sp" 'BEGIN{exit !(b < 0.85 * p)}' && ok "blended ($sb) clearly below pasted ($sp)" ||
        not_ok "blended seam score clearly below pasted" "blended $sb, pasted $sp"
else
    not_ok "independent runs" "$(tail -3 "$tmp/err.txt")"
fi

# ---- masks in runs: exact follows the single-process loss curve; independent (its coarse scale exact)
# runs to the end with falling loss ----
M=$root/tests/fixtures/ref/masks_hard
mk=(run --content "$M/content.png" --style "$M/style1.png,$M/style2.png" --style-masks "$M/mask1.png,$M/mask2.png"
    --weights random:2 --threads 1 --quiet)
first_last() { sed -n -E '1p;$p' "$1" | sed -E 's/.*"total": ([^,]*),.*/\1/' | tr '\n' ' '; }
if "$bin" "${mk[@]}" --size 64 --iterations 8 --output "$tmp/ms.png" --log "$tmp/ms.jsonl" 2>"$tmp/err.txt" &&
   mpi 2 "$bin" "${mk[@]}" --size 64 --iterations 8 --mode exact --output "$tmp/me.png" --log "$tmp/me.jsonl" 2>>"$tmp/err.txt"; then
    worst=$(paste <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$tmp/ms.jsonl") <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$tmp/me.jsonl") |
        awk 'function abs(v){return v<0?-v:v} {d=abs($1-$2)/abs($1); if(d>m)m=d; n++} END{if(n!=8)print "lines:" n; else printf "%.3g", m}')
    awk -v w="$worst" 'BEGIN{exit !(w+0 <= 1e-4 && w !~ /lines/)}' && ok "masks: exact np=2 loss curve within 1e-4 of single ($worst)" ||
        not_ok "masks: exact np=2 loss curve within 1e-4 of single" "worst relative difference $worst"
else
    not_ok "masks: single and exact runs" "$(tail -3 "$tmp/err.txt")"
fi
if mpi 2 "$bin" "${mk[@]}" --scales 48,96 --iterations 4,6 --mode independent --tiles 2x2 --halo 16 --output "$tmp/mi.png" \
    --log "$tmp/mi.jsonl" 2>"$tmp/err.txt" && [ -s "$tmp/mi.png" ]; then
    set -- $(first_last "$tmp/mi.jsonl")
    awk -v a="$1" -v b="$2" 'BEGIN{exit !(b < a)}' && ok "masks: independent run (coarse scale exact) writes its output, loss falls ($1 -> $2)" ||
        not_ok "masks: independent run: the loss falls" "$1 -> $2"
else
    not_ok "masks: independent run" "$(tail -3 "$tmp/err.txt")"
fi

# ---- the seam score itself: a hard step at the cut is a seam, a smooth image is not ----
"$bin" seams "$root/tests/fixtures/ref/vgg19_max/content.png" --tiles 1x2 >"$tmp/s.txt" && ok "seams runs" || not_ok "seams runs"
"$bin" seams "$tmp/paste.png" --tiles 9x9 >/dev/null 2>"$tmp/err.txt"; rc=$?
[ $rc -eq 2 ] && grep -q "tessera: error:" "$tmp/err.txt" && ok "seams: impossible grid exits 2" || not_ok "seams: impossible grid exits 2" "rc=$rc"

# ---- bad tilings: exit 2 on every rank, one message, no output, no hang ----
bad() {
    local name=$1 pat=$2; shift 2
    rm -f "$tmp/bad.png"
    mpi 3 "$bin" "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    local rc=$? n
    n=$(grep -c '^tessera: error:' "$tmp/err.txt")
    if [ $rc -eq 2 ] && [ "$n" -eq 1 ] && grep -q -- "$pat" "$tmp/err.txt" && [ ! -e "$tmp/bad.png" ]; then ok "$name"
    else not_ok "$name" "rc=$rc, $n error lines" "$(head -c 400 "$tmp/err.txt")"; fi
}
B=(run --content "$F/content.png" --style "$F/style.png" --weights random:2 --iterations 1 --output "$tmp/bad.png" --quiet)
bad "grid that cannot be cut" "do not fit" "${B[@]}" --size 48 --mode exact --tiles 1x4
bad "halo too small for exact" "too small for exact" "${B[@]}" --size 64 --mode exact --tiles 1x2 --halo 16
bad "halo too small with --halo-exchange image" "too small for exact" "${B[@]}" --size 64 --mode exact --halo 16 \
    --halo-exchange image
bad "per-layer exchange needs a tile per rank" "one tile per rank" "${B[@]}" --size 64 --mode exact --tiles 2x2 \
    --halo-exchange layer
bad "bad --halo-exchange value" "halo-exchange" "${B[@]}" --size 64 --mode exact --halo-exchange ring
bad "bad --tiles syntax" "tiles" "${B[@]}" --size 64 --mode exact --tiles 2by2
TESSERA_HALO_OVERLAP=yes bad "bad TESSERA_HALO_OVERLAP value" "TESSERA_HALO_OVERLAP" "${B[@]}" --size 64 --mode exact
bad "grad in independent mode" "independent" grad --content "$F/content.png" --style "$F/style.png" --weights random:2 \
    --init content --grad-out "$tmp/bad.npy" --mode independent
bad "missing style under mpirun" "missing.png" "${B[@]}" --style "$tmp/missing.png" --mode exact
bad "missing style, --mode single under mpirun" "missing.png" "${B[@]}" --style "$tmp/missing.png" --mode single

# ---- --mode single under mpirun: every rank ends with rank 0's status (the others wait for it) ----
each_rank() { mpi 3 sh -c '"$@"; echo $? >"'"$tmp"'/rc.$OMPI_COMM_WORLD_RANK"' sh "$@" >/dev/null 2>&1; cat "$tmp"/rc.0 "$tmp"/rc.1 "$tmp"/rc.2 | tr '\n' ' '; }
rm -f "$tmp"/rc.*
got=$(each_rank "$bin" "${B[@]}" --style "$tmp/missing.png" --mode single)
[ "$got" = "2 2 2 " ] && ok "--mode single, bad input: every rank exits 2" || not_ok "--mode single, bad input: every rank exits 2" "exit codes: $got"
rm -f "$tmp"/rc.*
got=$(each_rank "$bin" "${B[@]}" --size 32 --mode single)
[ "$got" = "0 0 0 " ] && [ -s "$tmp/bad.png" ] && ok "--mode single: rank 0 writes the image, every rank exits 0" ||
    not_ok "--mode single: every rank exits 0" "exit codes: $got"

summary
