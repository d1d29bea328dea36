#!/usr/bin/env bash
# gpu.sh - Tessera's CUDA backend against PyTorch + cuDNN (bench/torch_peer.py --device cuda) on the
# same GPU: seconds per evaluation and per L-BFGS iteration, achieved TFLOP/s and the share of the
# GPU's FP32 peak, side by side, at several image sizes.
#
# Usage: bench/gpu.sh [SIZES=512,1024,2048] [ITERS=10] [REPEATS=1] [MATH=fp32]
#   MATH     fp32 | tf32: `tessera --gpu-math` and the peer's TF32 switches (cuDNN and matmul) alike
#   env: TESSERA_ARGS  extra flags for `tessera run`
#        PYTHON        the interpreter with a CUDA-enabled torch + numpy [/usr/bin/python3]
#        CONTENT STYLE the pictures [/usr/share/darknet/data/dog.jpg, .../scream.jpg]
#        PEAK_TFLOPS   the GPU's peak to report against, instead of the FP32 peak computed below
#        CUDA_VISIBLE_DEVICES  which GPU (both programs use the first visible one)
# Needs bin/tessera built with the CUDA backend (make, with nvcc) and a GPU. Without a usable GPU it
# stops at once with Tessera's message and exit status 1. Without a CUDA-enabled torch it still
# measures Tessera and leaves the peer's columns empty (saying so).
#
# The same work on both sides, as bench/cpu.sh: one seeded VGG19 weights file (torch_peer.py
# --write-weights) read by both; the loss of docs/DESIGN.md §1 with the torchvision preset's
# weights given to Tessera explicitly; pictures resampled once by Tessera to 16-bit PNGs that both
# read; L-BFGS with 20 history pairs from the content image, ITERS iterations.
#
# Measured, per run (Tessera and torch alternate, never at the same time):
#  - s/iter: median seconds of iterations 2..ITERS (Tessera: its --log; every iteration ends with
#    dot products read back by the host, so the GPU has finished; the peer synchronises after
#    every evaluation). The first iteration (start-up, targets, cuDNN's autotuning) is excluded;
#  - s/eval: seconds of iterations 2..ITERS over the evaluations made in them (the line searches
#    differ: Tessera's Armijo backtracking, torch's strong Wolfe; compare s/eval);
#  - TFLOP/s: 284 GFLOP per evaluation at 512x384 (VGG19 forward + backward-to-input up to relu5_1:
#    18 x 40128 multiply-adds x 2 per pixel and pass), scaled by pixels, over s/eval;
#  - peak: FP32 (non-tensor-core) peak = SMs x FP32 lanes per SM (64 on sm_70/75/80, 128 on sm_86
#    and later) x 2 x the maximum SM clock, from Tessera's start-up line; with MATH=tf32 the TF32
#    tensor-core peak is several times higher, so pass PEAK_TFLOPS for a fair share.
set -eu
cd "$(dirname "$0")/.."
sizes=${1:-512,1024,2048} iters=${2:-10} repeats=${3:-1} math=${4:-fp32}
py=${PYTHON:-/usr/bin/python3}
content=${CONTENT:-/usr/share/darknet/data/dog.jpg} style=${STYLE:-/usr/share/darknet/data/scream.jpg}
die() { echo "gpu.sh: $*" >&2; exit 1; }
[ -x bin/tessera ] || die "bin/tessera missing; run make (with nvcc, so the CUDA backend is built)"
[ "$iters" -ge 3 ] || die "ITERS must be at least 3"
case $math in fp32 | tf32) ;; *) die "MATH must be fp32 or tf32" ;; esac
[ -r "$content" ] && [ -r "$style" ] || die "pictures missing ($content, $style); set CONTENT and STYLE"
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# ---- is there a GPU Tessera can use? ----
if ! bin/tessera run --content "$content" --style "$style" --output "$tmp/probe.png" --size 64 --iterations 1 \
    --weights random --backend cuda --gpu-math "$math" 2>"$tmp/probe.err" >/dev/null; then
    cat "$tmp/probe.err" >&2
    die "no usable GPU for Tessera (see the message above); nothing measured"
fi
gpu_line=$(grep -o 'CUDA device [0-9]* .*GEMMs' "$tmp/probe.err" | head -1)
[ -n "$gpu_line" ] || die "cannot read the device from Tessera's start-up line: $(head -1 "$tmp/probe.err")"
peer=1
if ! "$py" -c 'import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)' 2>/dev/null; then
    peer=0
    echo "gpu.sh: $py has no CUDA-enabled torch: measuring Tessera only (peer columns empty)" >&2
fi

weights=$tmp/vgg19_conv5_1.safetensors
"$py" bench/torch_peer.py --write-weights "$weights" --seed 0
# shellcheck disable=SC2054  # the commas are inside flag values
loss=(--weights "$weights" --arch vgg19 --pool max --preprocess torchvision
      --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1
      --layer-weights 1,0.25,0.0625,0.015625,0.015625 --content-layers relu4_2
      --content-weight 4 --style-weight 976.5625 --tv-weight 1000)

echo "tessera $(git log -1 --format='%h %s' 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
echo "$gpu_line; $iters iterations, $repeats repeat(s), --gpu-math $math"
command -v nvidia-smi >/dev/null && nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader |
    head -1 | sed 's/^/nvidia-smi: /'
[ $peer -eq 1 ] && "$py" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "cuDNN", torch.backends.cudnn.version(), "on", torch.cuda.get_device_name(0))'

results=$tmp/results.tsv
: >"$results"
for size in ${sizes//,/ }; do
    bin/tessera run --content "$content" --style "$style" --output "$tmp/c$size.png" --output-bits 16 \
        --size "$size" --iterations 0 --weights "$weights" --quiet
    bin/tessera run --content "$style" --style "$style" --output "$tmp/s$size.png" --output-bits 16 \
        --size "$size" --iterations 0 --weights "$weights" --quiet
    for r in $(seq "$repeats"); do
        log=$tmp/t$size.$r.jsonl
        # shellcheck disable=SC2086
        if bin/tessera run --content "$tmp/c$size.png" --style "$tmp/s$size.png" --output "$tmp/o.png" --size "$size" \
            --init content --iterations "$iters" --lbfgs-history 20 "${loss[@]}" --backend cuda --gpu-math "$math" \
            --log "$log" --quiet ${TESSERA_ARGS:-} 2>"$tmp/t.err"; then
            "$py" - "$log" "$size" >>"$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
later = rows[1:]
sec = sum(r["seconds"] for r in later)
ev = rows[-1]["evaluations"] - rows[0]["evaluations"]
print("tessera", sys.argv[2], rows[0]["width"], rows[0]["height"], statistics.median(r["seconds"] for r in later),
      sec / ev, ev / len(later), 0, sep="\t")
EOF
        else
            echo "gpu.sh: tessera at $size px failed: $(tail -1 "$tmp/t.err")" >&2
        fi
        [ $peer -eq 1 ] || continue
        if "$py" bench/torch_peer.py --weights "$weights" --content "$tmp/c$size.png" --style "$tmp/s$size.png" \
            --iterations "$iters" --history 20 --device cuda --gpu-math "$math" >"$tmp/peer.json" 2>"$tmp/peer.err"; then
            "$py" - "$tmp/peer.json" "$size" >>"$results" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("torch", sys.argv[2], r["width"], r["height"], r["s_per_iter"], r["s_per_eval"], r["evals_per_iter"],
      r["peak_gpu_mb"], sep="\t")
EOF
        else
            echo "gpu.sh: the peer at $size px failed: $(tail -1 "$tmp/peer.err")" >&2
        fi
    done
done

"$py" - "$results" "$gpu_line" "${PEAK_TFLOPS:-}" <<'EOF'
import re, statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, size, w, h, s_it, s_ev, ev_it, mb = line.rstrip("\n").split("\t")
    runs.setdefault((int(size), who), []).append((float(s_it), float(s_ev), float(ev_it), float(mb), int(w), int(h)))
m = re.search(r"\(sm_(\d)(\d+), (\d+) SMs, (\d+) MHz\)", sys.argv[2])
peak = None
if sys.argv[3]:
    peak, what = float(sys.argv[3]), "PEAK_TFLOPS"
elif m:
    major, sms, mhz = int(m.group(1)), int(m.group(3)), int(m.group(4))
    lanes = 64 if (major, int(m.group(2))) in [(7, 0), (7, 5), (8, 0)] else 128
    peak, what = sms * lanes * 2 * mhz * 1e6 / 1e12, f"FP32 peak {sms} SMs x {lanes} lanes x 2 x {mhz} MHz"
med = lambda v: statistics.median(v)
fmt = lambda v, f: format(v, f) if v is not None else "-".rjust(int(re.match(r"\d+", f).group(0)))
print()
print(f"{'size':>9} | {'s/eval':>7} {'torch':>7} {'ratio':>6} | {'s/iter':>7} {'ev/it':>5} {'torch':>7} {'ev/it':>5}"
      f" | {'TFLOP/s':>7} {'torch':>7} | {'% peak':>6} {'torch':>6} | {'torch MB':>8}")
for size in sorted({s for s, _ in runs}):
    t, p = runs.get((size, "tessera")), runs.get((size, "torch"))
    ref = t or p
    w, h = ref[0][4], ref[0][5]
    tflop = 284e9 * w * h / (512 * 384) / 1e12
    ts = [med(x[i] for x in t) for i in range(4)] if t else [None] * 4
    ps = [med(x[i] for x in p) for i in range(4)] if p else [None] * 4
    tr = tflop / ts[1] if t else None
    pr = tflop / ps[1] if p else None
    ratio = ts[1] / ps[1] if t and p else None
    pct = lambda v: 100 * v / peak if v is not None and peak else None
    print(f"{f'{w}x{h}':>9} | {fmt(ts[1], '7.4f')} {fmt(ps[1], '7.4f')} {fmt(ratio, '6.2f')} | {fmt(ts[0], '7.4f')}"
          f" {fmt(ts[2], '5.2f')} {fmt(ps[0], '7.4f')} {fmt(ps[2], '5.2f')} | {fmt(tr, '7.2f')} {fmt(pr, '7.2f')}"
          f" | {fmt(pct(tr), '6.1f')} {fmt(pct(pr), '6.1f')} | {fmt(ps[3], '8.0f')}")
print("s/eval, s/iter: seconds (iterations 2..N); ratio: tessera/torch; TFLOP/s: 284 GFLOP per evaluation at "
      "512x384, scaled by pixels")
print(f"% peak: of {peak:.1f} TFLOP/s ({what})" if peak else "% peak: unknown (set PEAK_TFLOPS)")
EOF
