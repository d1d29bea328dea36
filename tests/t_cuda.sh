#!/usr/bin/env bash
# t_cuda.sh - the CUDA backend end to end, and the command line around it.
#
# Always (any machine):
#  - --help lists --backend cpu|cuda|auto, --gpu-math fp32|tf32 and --cuda-aware-mpi, and says whether
#    this build has the CUDA backend;
#  - without a GPU: --backend cuda exits 2 with one "tessera: error: --backend cuda: ..." line naming
#    the missing GPU and writes nothing (also under mpirun); --backend auto runs on the CPU with a
#    one-line notice (none with --quiet) and gives the CPU's gradient bit for bit;
#  - --gpu-math and --cuda-aware-mpi input errors exit 2 (the latter when the MPI library does not
#    report CUDA support, as Debian's Open MPI does not);
#  - a CUDA=0 build (into a temporary folder) works, says "CPU backend only", has no CUDA libraries,
#    refuses --backend cuda with exit 2 and skips test_cuda.
#  - the binary is not linked with the CUDA libraries and a CPU run does not load them (the backend is
#    a shared object opened on first use); a missing or foreign TESSERA_CUDA_PLUGIN is reported;
# With a CUDA backend to run (a real GPU, and/or the same backend source built against tests/cuda_emu
# and run on the CPU: build/cuda-emu/libtessera-cuda-emu.so via TESSERA_CUDA_PLUGIN), for each:
#  - `tessera grad --backend cuda` on every PyTorch reference case (tests/fixtures/ref) within the
#    bounds t_reference.sh uses (loss terms 1e-5, gradient 1e-4 relative L2), and against the CPU
#    backend's grad within 1e-5 (both float32 with different summation orders; the CPU and PyTorch
#    agree to ~3e-6, so 1e-5 leaves room without hiding a wrong op, which shows as > 1e-3);
#  - --gpu-math tf32: the same comparison, printed, and bounded loosely (loss terms 2e-3, gradient 0.2
#    relative L2): enough to catch a broken TF32 path (errors of order 1), not to vouch for its
#    accuracy. TF32 keeps 10 mantissa bits; the emulation's simulation of it (tests/cuda_emu) gives
#    loss terms within 3e-5..8e-4 and gradients within 0.3%..9% on these cases;
#  - runs: L-BFGS and Adam whose loss falls, L-BFGS within 1e-4 of the CPU's loss curve over 5
#    iterations, multi-scale, --save-every, colour options;
#  - under mpirun: exact-mode grad on 2 ranks (halos through pinned host buffers) equals the
#    single-process CPU grad within 1e-5; one CUDA rank and one CPU rank (CUDA_VISIBLE_DEVICES empty
#    for the second) likewise, with the notice; an independent-mode run.
# Env: TESSERA_BIN (default bin/tessera), BUILD (default build).
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" cuda
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}
build=${BUILD:-build}
case $build in /*) ;; *) build=$root/$build ;; esac
refcheck=$build/tools/refcheck
emu_plugin=$build/cuda-emu/libtessera-cuda-emu.so
[ -x "$bin" ] || { echo "NOT OK $bin missing (run make)"; echo "0 passed, 1 failed"; exit 1; }
[ -x "$refcheck" ] || { echo "NOT OK $refcheck missing (run make tools)"; echo "0 passed, 1 failed"; exit 1; }
have_mpi=0
command -v mpirun >/dev/null && have_mpi=1
mpi() { local np=$1; shift; "${runner[@]}" mpirun --oversubscribe -np "$np" "$@"; }

ref=$root/tests/fixtures/ref
F=$ref/vgg19_max
mapfile -t gargs < <("$refcheck" args "$F/expected.json")
gargs=("${gargs[@]:1}")                       # grad --content content.png ... (relative to $F)
# one grad evaluation with binary $1 in $F, extra flags after; output in $tmp/$2.{txt,npy,err}
grad() {
    local b=$1 name=$2
    shift 2
    rm -f "$tmp/$name.npy"
    (cd "$F" && "${runner[@]}" "$b" "${gargs[@]}" --grad-out "$tmp/$name.npy" "$@" >"$tmp/$name.txt" 2>"$tmp/$name.err")
}
# expect_error NAME PATTERN CMD...: exit 2 with a "tessera: error:" line matching PATTERN (CMD may be mpi)
expect_error() {
    local name=$1 pat=$2 rc n
    shift 2
    "$@" >"$tmp/out.txt" 2>"$tmp/err.txt"
    rc=$?
    n=$(grep -c '^tessera: error:' "$tmp/err.txt")
    if [ $rc -eq 2 ] && [ "$n" -ge 1 ] && grep -q -- "$pat" "$tmp/err.txt"; then ok "$name"
    else not_ok "$name" "rc=$rc, $n error lines" "$(head -c 500 "$tmp/err.txt")"; fi
}

# ---- help ----
for cmd in run grad; do
    h=$("$bin" "$cmd" --help)
    if grep -q -- "--backend cpu|cuda|auto" <<<"$h" && grep -q -- "--gpu-math fp32|tf32" <<<"$h" &&
        grep -q -- "--cuda-aware-mpi" <<<"$h" && grep -q "this build has" <<<"$h"; then
        ok "$cmd --help lists --backend cpu|cuda|auto, --gpu-math, --cuda-aware-mpi and what this build has"
    else not_ok "$cmd --help lists the backend options"; fi
done

# ---- is there a GPU for bin/tessera? ----
grad "$bin" cpu --backend cpu --quiet || not_ok "grad --backend cpu runs" "$(cat "$tmp/cpu.err")"
gpu=0
if grad "$bin" probe --backend cuda --quiet; then gpu=1; fi
if [ $gpu -eq 0 ]; then
    echo "# no GPU for $bin: $(head -1 "$tmp/probe.err")"
    n=$(wc -l <"$tmp/probe.err")
    if grep -q '^tessera: error: --backend cuda: no CUDA GPU found\|^tessera: error: --backend cuda: .*no CUDA backend' \
        "$tmp/probe.err" && [ "$n" -eq 1 ] && [ ! -e "$tmp/probe.npy" ]; then
        ok "--backend cuda without a GPU: exit 2, one line naming the missing GPU, no output"
    else not_ok "--backend cuda without a GPU" "$(cat "$tmp/probe.err")"; fi
    expect_error "run --backend cuda without a GPU exits 2" "no CUDA" "$bin" run --content "$F/content.png" \
        --style "$F/style.png" --weights random --size 32 --iterations 1 --output "$tmp/nogpu.png" --backend cuda
    [ ! -e "$tmp/nogpu.png" ] && ok "run --backend cuda without a GPU writes no image" || not_ok "no image without a GPU"
    if [ $have_mpi -eq 1 ]; then
        expect_error "mpirun -np 2 --backend cuda without a GPU exits 2" "no CUDA" mpi 2 "$bin" grad \
            --content "$F/content.png" --style "$F/style.png" --init content --weights random --size 48 \
            --grad-out "$tmp/nogpu.npy" --backend cuda --mode exact
    fi
    # auto: the CPU, a notice, the same numbers
    if grad "$bin" auto --backend auto && cmp -s "$tmp/cpu.npy" "$tmp/auto.npy" && cmp -s "$tmp/cpu.txt" "$tmp/auto.txt"; then
        ok "--backend auto without a GPU runs on the CPU (the same gradient bit for bit)"
    else not_ok "--backend auto without a GPU" "$(cat "$tmp/auto.err")"; fi
    if [ "$(grep -c 'backend auto: no usable CUDA GPU.*running on the CPU' "$tmp/auto.err")" -eq 1 ]; then
        ok "--backend auto says once that it runs on the CPU"
    else not_ok "--backend auto notice" "$(cat "$tmp/auto.err")"; fi
    grad "$bin" autoq --backend auto --quiet
    [ ! -s "$tmp/autoq.err" ] && ok "--backend auto --quiet prints nothing" || not_ok "--backend auto --quiet" "$(cat "$tmp/autoq.err")"
fi
expect_error "--gpu-math must be fp32 or tf32" "gpu-math" "$bin" "${gargs[@]}" --grad-out "$tmp/x.npy" --gpu-math fast
expect_error "--cuda-aware-mpi with --backend cpu exits 2" "needs --backend cuda or auto" \
    "$bin" grad --content "$F/content.png" --style "$F/style.png" --init content --grad-out "$tmp/x.npy" --cuda-aware-mpi
(cd "$F" && "$bin" "${gargs[@]}" --grad-out "$tmp/cam.npy" --backend auto --cuda-aware-mpi --quiet >/dev/null 2>"$tmp/cam.err")
rc=$?
if grep -q "does not support GPU buffers" "$tmp/cam.err"; then
    [ $rc -eq 2 ] && [ ! -e "$tmp/cam.npy" ] && ok "--cuda-aware-mpi with an MPI library without CUDA support exits 2" ||
        not_ok "--cuda-aware-mpi without library support" "rc=$rc"
else
    echo "# this MPI library reports CUDA support"
    [ $rc -eq 0 ] && ok "--cuda-aware-mpi accepted (the MPI library reports CUDA support)" ||
        not_ok "--cuda-aware-mpi" "$(cat "$tmp/cam.err")"
fi

# ---- the CUDA libraries are loaded only when a GPU is asked for ----
if ldd "$bin" | grep -q 'libcudart\|libcublas'; then not_ok "$bin is not linked with the CUDA libraries"
else ok "$bin is not linked with the CUDA libraries"; fi
(cd "$F" && LD_DEBUG=files "$bin" "${gargs[@]}" --grad-out "$tmp/ld.npy" --backend cpu --quiet >/dev/null 2>"$tmp/ld.err")
if grep -q 'libcublas\|libcudart\|tessera-cuda' "$tmp/ld.err"; then not_ok "a CPU run loads no CUDA library"
else ok "a CPU run loads no CUDA library"; fi
expect_error "TESSERA_CUDA_PLUGIN naming no file: --backend cuda exits 2" "no such file" \
    env TESSERA_CUDA_PLUGIN="$tmp/none.so" "$bin" "${gargs[@]}" --grad-out "$tmp/x.npy" --backend cuda
other=$(ldd "$bin" | sed -n 's/.*libcjson[^ ]* => \([^ ]*\).*/\1/p' | head -1)
if [ -n "$other" ]; then
    expect_error "TESSERA_CUDA_PLUGIN naming another library: --backend cuda exits 2" "is not a CUDA backend" \
        env TESSERA_CUDA_PLUGIN="$other" "$bin" "${gargs[@]}" --grad-out "$tmp/x.npy" --backend cuda
fi

# ---- a build without CUDA ----
if [ "${TESSERA_SKIP_CPU_BUILD:-0}" = 1 ]; then
    echo "# CUDA=0 build skipped (TESSERA_SKIP_CPU_BUILD=1)"
elif make -s -C "$root" CUDA=0 BUILD="$tmp/b0" BIN="$tmp/b0/tessera" -j2 all "$tmp/b0/tests/test_cuda" >"$tmp/b0.log" 2>&1; then
    grep -q "CUDA     : off (CUDA=0); CPU backend only" "$tmp/b0.log" && ok "make CUDA=0 says: CPU backend only" ||
        not_ok "make CUDA=0 says CPU backend only" "$(grep CUDA "$tmp/b0.log")"
    if [ -e "$tmp/b0/tessera-cuda.so" ]; then not_ok "CUDA=0 build installs no CUDA backend"
    else ok "CUDA=0 build installs no CUDA backend"; fi
    expect_error "CUDA=0 build: --backend cuda exits 2 (no CUDA backend)" "no CUDA backend" "$tmp/b0/tessera" \
        grad --content "$F/content.png" --style "$F/style.png" --init content --grad-out "$tmp/x.npy" --backend cuda
    (cd "$F" && "$tmp/b0/tessera" "${gargs[@]}" --grad-out "$tmp/b0.npy" --backend auto --quiet >"$tmp/b0.txt") &&
        cmp -s "$tmp/b0.npy" "$tmp/cpu.npy" && ok "CUDA=0 build: --backend auto runs on the CPU (the CPU's gradient bit for bit)" ||
        not_ok "CUDA=0 build: --backend auto runs on the CPU"
    "$tmp/b0/tessera" run --help | grep -q "this build has no CUDA backend" && ok "CUDA=0 build: --help says no CUDA backend" ||
        not_ok "CUDA=0 build: --help says no CUDA backend"
    out=$("$tmp/b0/tests/test_cuda")
    [ $? -eq 0 ] && grep -q "^skipped: this build has no CUDA backend" <<<"$out" && ok "CUDA=0 build: test_cuda skips" ||
        not_ok "CUDA=0 build: test_cuda skips" "$out"
else
    not_ok "make CUDA=0 builds" "$(tail -5 "$tmp/b0.log")"
fi
rm -rf "$tmp/b0"

# ---- the CUDA backend at work: a real GPU, and the CPU emulation ----
targets=()
[ $gpu -eq 1 ] && targets+=("$bin")
emu=$tmp/tessera-emu # bin/tessera with the emulated backend
if [ -f "$emu_plugin" ]; then
    printf '#!/bin/sh\nTESSERA_CUDA_PLUGIN=%s exec %s "$@"\n' "$emu_plugin" "$bin" >"$emu"
    chmod +x "$emu"
    targets+=("$emu")
fi
[ ${#targets[@]} -eq 0 ] && echo "# skipped: no GPU and no $emu_plugin (make tools): the CUDA backend itself is not run"

# worst relative difference of every "total" in two --log files with the same number of lines
curve_diff() {
    paste <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$1") <(sed -E 's/.*"total": ([^,]*),.*/\1/' "$2") |
        awk 'function abs(v){return v<0?-v:v} {d=abs($1-$2)/abs($1); if(d>m)m=d; n++} END{if(n<2)print "lines:" n; else printf "%.3g", m}'
}
falls() { # the loss of the last --log line is below the first's
    awk -F'"total": ' 'NR==1{split($2,a,","); f=a[1]} END{split($2,b,","); exit !(NR >= 2 && b[1] < f)}' "$1"
}

for b in "${targets[@]}"; do
    label=gpu
    [ "$b" = "$emu" ] && label=emu
    echo "# --- $label: $b ---"
    # every PyTorch reference case with --backend cuda, and against the CPU backend
    for d in "$ref"/*/; do
        d=${d%/}
        c=$(basename "$d")
        mapfile -t a < <("$refcheck" args "$d/expected.json")
        a=("${a[@]:1}")
        rm -f "$tmp/c.npy" "$tmp/p.npy"
        if (cd "$d" && "${runner[@]}" "$b" "${a[@]}" --grad-out "$tmp/c.npy" --backend cuda --quiet >"$tmp/c.txt" 2>"$tmp/c.err") &&
            (cd "$d" && "${runner[@]}" "$bin" "${a[@]}" --grad-out "$tmp/p.npy" --backend cpu --conv im2col --quiet >"$tmp/p.txt"); then
            if (cd "$d" && "$refcheck" expected.json grad.npy "$tmp/c.txt" "$tmp/c.npy" "$label-$c" >"$tmp/cmp.txt"); then
                ok "$label $c: grad --backend cuda matches the PyTorch reference"
            else not_ok "$label $c: grad --backend cuda matches the PyTorch reference" "$(grep 'NOT OK' "$tmp/cmp.txt")"; fi
            if REFCHECK_GRAD_TOL=1e-5 "$refcheck" "$tmp/p.txt" "$tmp/p.npy" "$tmp/c.txt" "$tmp/c.npy" "$label-$c-vs-cpu" >"$tmp/cmp.txt"; then
                ok "$label $c: grad --backend cuda equals the CPU's within 1e-5"
            else not_ok "$label $c: cuda vs cpu within 1e-5" "$(grep 'NOT OK' "$tmp/cmp.txt")"; fi
        else
            not_ok "$label $c: grad runs" "$(tail -3 "$tmp/c.err")"
        fi
    done
    # the column band (TESSERA_CUDA_COL_MB) changes how the image is cut into bands, not the result
    if grad "$b" band1 --backend cuda --quiet && TESSERA_CUDA_COL_MB=1 grad "$b" band2 --backend cuda --quiet &&
        REFCHECK_GRAD_TOL=1e-5 "$refcheck" "$tmp/band1.txt" "$tmp/band1.npy" "$tmp/band2.txt" "$tmp/band2.npy" band >"$tmp/cmp.txt"; then
        ok "$label TESSERA_CUDA_COL_MB=1: the same grad within 1e-5"
    else not_ok "$label TESSERA_CUDA_COL_MB=1" "$(cat "$tmp/band2.err" "$tmp/cmp.txt" 2>/dev/null | head -5)"; fi
    TESSERA_CUDA_COL_MB=0x grad "$b" bandx --backend cuda --quiet
    rc=$?
    [ $rc -ne 0 ] && grep -q 'TESSERA_CUDA_COL_MB=0x: want a whole number of MB' "$tmp/bandx.err" && [ ! -e "$tmp/bandx.npy" ] &&
        ok "$label TESSERA_CUDA_COL_MB=0x stops with a message naming it" || not_ok "$label bad TESSERA_CUDA_COL_MB" "rc=$rc $(cat "$tmp/bandx.err")"
    # TF32: printed, loosely bounded
    if grad "$b" tf32 --backend cuda --gpu-math tf32 --quiet; then
        REFCHECK_GRAD_TOL=1 "$refcheck" "$tmp/cpu.txt" "$tmp/cpu.npy" "$tmp/tf32.txt" "$tmp/tf32.npy" tf32 >"$tmp/cmp.txt"
        lw=$(grep -v '/grad ' "$tmp/cmp.txt" | sed -nE 's/.* rel=([0-9.eE+-]+).*/\1/p' | sort -g | tail -1)
        gw=$(sed -nE 's/.*tf32\/grad rel=([0-9.eE+-]+).*/\1/p' "$tmp/cmp.txt")
        echo "# $label --gpu-math tf32 vs the fp32 CPU: loss terms within $lw, gradient within $gw (relative L2)"
        awk -v l="$lw" -v g="$gw" 'BEGIN{exit !(l != "" && g != "" && l + 0 <= 2e-3 && g + 0 <= 0.2)}' &&
            ok "$label tf32 grad close to the fp32 CPU's (loss $lw, gradient $gw)" ||
            not_ok "$label tf32 grad close to the fp32 CPU's" "$(cat "$tmp/cmp.txt")"
    else not_ok "$label grad --gpu-math tf32 runs" "$(cat "$tmp/tf32.err")"; fi

    # runs
    R=(run --content "$F/content.png" --style "$F/style.png" --weights "$F/weights.safetensors" --size 40 --threads 2 --quiet)
    if "${runner[@]}" "$b" "${R[@]}" --backend cuda --iterations 5 --output "$tmp/cu.png" --log "$tmp/cu.jsonl" 2>"$tmp/run.err" &&
        "${runner[@]}" "$bin" "${R[@]}" --backend cpu --conv im2col --iterations 5 --output "$tmp/cp.png" --log "$tmp/cp.jsonl"; then
        falls "$tmp/cu.jsonl" && ok "$label L-BFGS run: the loss falls" || not_ok "$label L-BFGS: the loss falls"
        w=$(curve_diff "$tmp/cp.jsonl" "$tmp/cu.jsonl")
        awk -v w="$w" 'BEGIN{exit !(w !~ /lines/ && w + 0 <= 1e-4)}' && ok "$label L-BFGS loss curve within 1e-4 of the CPU's ($w)" ||
            not_ok "$label L-BFGS loss curve within 1e-4 of the CPU's" "$w"
    else not_ok "$label L-BFGS run" "$(tail -3 "$tmp/run.err")"; fi
    if "${runner[@]}" "$b" "${R[@]}" --backend cuda --optimizer adam --iterations 6 --output "$tmp/ad.png" --log "$tmp/ad.jsonl" 2>"$tmp/run.err"; then
        falls "$tmp/ad.jsonl" && ok "$label Adam run: the loss falls" || not_ok "$label Adam: the loss falls"
    else not_ok "$label Adam run" "$(tail -3 "$tmp/run.err")"; fi
    if "${runner[@]}" "$b" "${R[@]}" --backend cuda --scales 24,40 --iterations 2,2 --save-every 3 --original-colors \
        --output "$tmp/ms.png" 2>"$tmp/run.err" && [ -s "$tmp/ms.png" ] && [ -s "$tmp/ms_iter3.png" ]; then
        ok "$label multi-scale run with --save-every and --original-colors"
    else not_ok "$label multi-scale run" "$(tail -3 "$tmp/run.err")"; fi

    # under mpirun
    [ $have_mpi -eq 1 ] || continue
    grad "$bin" single --backend cpu --conv im2col --quiet
    if (cd "$F" && mpi 2 "$b" "${gargs[@]}" --grad-out "$tmp/ex.npy" --backend cuda --mode exact --tiles 1x2 --quiet \
        >"$tmp/ex.txt" 2>"$tmp/ex.err"); then
        REFCHECK_GRAD_TOL=1e-5 "$refcheck" "$tmp/single.txt" "$tmp/single.npy" "$tmp/ex.txt" "$tmp/ex.npy" "$label-exact2" >"$tmp/cmp.txt" &&
            ok "$label exact mode on 2 CUDA ranks equals the CPU grad within 1e-5" ||
            not_ok "$label exact mode on 2 CUDA ranks" "$(grep 'NOT OK' "$tmp/cmp.txt")"
    else not_ok "$label exact mode on 2 CUDA ranks runs" "$(tail -3 "$tmp/ex.err")"; fi
    # one rank on the GPU, one that sees none: --backend auto puts it on the CPU
    if (cd "$F" && "${runner[@]}" mpirun --oversubscribe -np 1 "$b" "${gargs[@]}" --grad-out "$tmp/mx.npy" --backend auto \
        --mode exact --tiles 2x1 : -np 1 env CUDA_VISIBLE_DEVICES= "$b" "${gargs[@]}" --grad-out "$tmp/mx.npy" --backend auto \
        --mode exact --tiles 2x1 >"$tmp/mx.txt" 2>"$tmp/mx.err"); then
        REFCHECK_GRAD_TOL=1e-5 "$refcheck" "$tmp/single.txt" "$tmp/single.npy" "$tmp/mx.txt" "$tmp/mx.npy" "$label-mixed" >"$tmp/cmp.txt" &&
            ok "$label one CUDA rank + one CPU rank: exact grad equals the CPU's within 1e-5" ||
            not_ok "$label mixed ranks" "$(grep 'NOT OK' "$tmp/cmp.txt")"
        grep -q "1 of 2 ranks found no usable CUDA GPU and run on the CPU" "$tmp/mx.err" &&
            grep -q "CUDA on 1 rank, CPU on 1" "$tmp/mx.err" && ok "$label mixed ranks: the notice and the start-up line say so" ||
            not_ok "$label mixed ranks notice" "$(cat "$tmp/mx.err")"
    else not_ok "$label mixed CUDA/CPU ranks run" "$(tail -3 "$tmp/mx.err")"; fi
    if mpi 2 "$b" "${R[@]}" --backend cuda --mode independent --tiles 1x2 --halo 16 --iterations 3 --output "$tmp/ind.png" \
        2>"$tmp/ind.err" && [ -s "$tmp/ind.png" ]; then
        ok "$label independent mode on 2 CUDA ranks"
    else not_ok "$label independent mode on 2 CUDA ranks" "$(tail -3 "$tmp/ind.err")"; fi
done

summary
