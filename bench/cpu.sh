#!/usr/bin/env bash
# cpu.sh - Tessera against the PyTorch CPU peer (bench/torch_peer.py): seconds per evaluation and per
# L-BFGS iteration, effective GFLOP/s and peak RSS, side by side, at several image sizes.
#
# Usage: bench/cpu.sh [SIZES=256,512,1024] [THREADS=2] [ITERS=6] [REPEATS=1]
#   env: TESSERA_ARGS  extra flags for `tessera run` (e.g. "--conv im2col")
#        PYTHON        the interpreter with torch + numpy [/usr/bin/python3]
#        CONTENT STYLE the pictures [/usr/share/darknet/data/dog.jpg, .../scream.jpg]
# Needs bin/tessera (make), /usr/bin/time and PyTorch (Debian python3-torch). Run it on an idle machine
# if you can; on a shared one use REPEATS > 1.
#
# Same work on both sides:
#  - network: one weights file, written by `torch_peer.py --write-weights` (VGG19 conv1_1..conv5_1,
#    standard widths, seeded Kaiming-normal), read by both programs;
#  - loss: docs/DESIGN.md §1 (style relu1_1..relu5_1 with lambda_l = 4096/C_l^2, content relu4_2,
#    TV; max pooling; torchvision normalisation), with the weights passed to Tessera explicitly and
#    hard-wired in the peer (alpha 4, beta 4e6/4096, gamma 1000);
#  - pixels: for each size, Tessera resamples the pictures once (`tessera run --iterations 0`, 16-bit
#    PNG); both programs then read those PNGs, so they optimise the same image from the same start;
#  - L-BFGS with 20 history pairs, starting from the content, ITERS iterations, THREADS threads
#    (OMP_WAIT_POLICY=passive for Tessera; torch.set_num_threads for the peer).
#
# Measured, per run (each program is its own process; tessera and torch alternate, never in parallel):
#  - s/iter: median of the seconds of iterations 2..ITERS (Tessera: its --log; the peer: the same
#    from its closure timestamps); the first iteration (with the initial evaluation, targets and
#    start-up before it) is excluded;
#  - s/eval: seconds of iterations 2..ITERS / evaluations (forward + backward) made in them. This is
#    the fair comparison: the line searches differ (Tessera: backtracking Armijo, torch: strong Wolfe),
#    so evaluations per iteration (ev/it) may differ;
#  - GFLOP/s: VGG19 forward + backward-to-input up to relu5_1 = 284 GFLOP per evaluation at 512x384,
#    scaled with the pixel count, divided by s/eval (effective: Winograd does fewer real FLOPs);
#  - peak RSS: "Maximum resident set size" of /usr/bin/time -v, whole process (the peer's includes
#    the Python interpreter and torch, about 230 MB, printed under the table).
# With REPEATS > 1 every figure is the median over the repeats. The table's ratios are tessera/torch.
set -eu
cd "$(dirname "$0")/.."
sizes=${1:-256,512,1024} threads=${2:-2} iters=${3:-6} repeats=${4:-1}
py=${PYTHON:-/usr/bin/python3}
content=${CONTENT:-/usr/share/darknet/data/dog.jpg} style=${STYLE:-/usr/share/darknet/data/scream.jpg}
[ -x bin/tessera ] || { echo "cpu.sh: bin/tessera missing; run make" >&2; exit 1; }
[ "$iters" -ge 3 ] || { echo "cpu.sh: ITERS must be at least 3" >&2; exit 1; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
weights=$tmp/vgg19_conv5_1.safetensors
"$py" bench/torch_peer.py --write-weights "$weights" --seed 0

# shellcheck disable=SC2054  # the commas are inside flag values
loss=(--weights "$weights" --arch vgg19 --pool max --preprocess torchvision
      --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1
      --layer-weights 1,0.25,0.0625,0.015625,0.015625 --content-layers relu4_2
      --content-weight 4 --style-weight 976.5625 --tv-weight 1000)
rss() { sed -n 's/.*Maximum resident set size (kbytes): //p' "$1"; }

echo "tessera $(git log -1 --format='%h %s' 2>/dev/null || echo '?')$(git diff --quiet HEAD -- src include 2>/dev/null || echo ' (+ uncommitted changes in src/include)')"
echo "torch $("$py" -c 'import torch; print(torch.__version__)'); $threads threads, $iters iterations, $repeats repeat(s); load average $(cut -d' ' -f1-3 /proc/loadavg)"
results=$tmp/results.tsv
: >"$results"
for size in ${sizes//,/ }; do
    # the pictures at this size, resampled once by Tessera, 16 bits per sample
    bin/tessera run --content "$content" --style "$style" --output "$tmp/c$size.png" --output-bits 16 \
        --size "$size" --iterations 0 --weights "$weights" --quiet
    bin/tessera run --content "$style" --style "$style" --output "$tmp/s$size.png" --output-bits 16 \
        --size "$size" --iterations 0 --weights "$weights" --quiet
    for r in $(seq "$repeats"); do
        log=$tmp/t$size.$r.jsonl
        # shellcheck disable=SC2086
        OMP_WAIT_POLICY=passive /usr/bin/time -v -o "$tmp/time" bin/tessera run --content "$tmp/c$size.png" \
            --style "$tmp/s$size.png" --output "$tmp/o.png" --size "$size" --init content \
            --iterations "$iters" --threads "$threads" --lbfgs-history 20 "${loss[@]}" \
            --log "$log" --quiet ${TESSERA_ARGS:-}
        "$py" - "$log" "$(rss "$tmp/time")" "$size" >>"$results" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
later = rows[1:]  # iterations 2..N
sec = sum(r["seconds"] for r in later)
ev = rows[-1]["evaluations"] - rows[0]["evaluations"]
print("tessera", sys.argv[3], rows[0]["width"], rows[0]["height"], statistics.median(r["seconds"] for r in later),
      sec / ev, ev / len(later), sys.argv[2], 0, sep="\t")
EOF
        OMP_NUM_THREADS=$threads /usr/bin/time -v -o "$tmp/time" "$py" bench/torch_peer.py --weights "$weights" \
            --content "$tmp/c$size.png" --style "$tmp/s$size.png" --iterations "$iters" --threads "$threads" \
            --history 20 >"$tmp/peer.json"
        "$py" - "$tmp/peer.json" "$(rss "$tmp/time")" "$size" >>"$results" <<'EOF'
import json, sys
r = json.load(open(sys.argv[1]))
print("torch", sys.argv[3], r["width"], r["height"], r["s_per_iter"], r["s_per_eval"], r["evals_per_iter"],
      sys.argv[2], r["import_rss_kb"], sep="\t")
EOF
    done
done

"$py" - "$results" <<'EOF'
import statistics, sys
runs = {}
for line in open(sys.argv[1]):
    who, size, w, h, s_it, s_ev, ev_it, rss, rss0 = line.split("\t")
    runs.setdefault((int(size), who), []).append((float(s_it), float(s_ev), float(ev_it), float(rss), int(w), int(h),
                                                  float(rss0)))
med = lambda v: statistics.median(v)
print()
print(f"{'size':>9} | {'s/eval':>7} {'torch':>7} {'ratio':>6} | {'s/iter':>7} {'ev/it':>5} {'torch':>7} {'ev/it':>5} {'ratio':>6}"
      f" | {'GFLOP/s':>7} {'torch':>7} | {'RSS MB':>7} {'torch':>7} {'ratio':>6}")
for size in sorted({s for s, _ in runs}):
    t, p = runs[(size, "tessera")], runs[(size, "torch")]
    w, h = t[0][4], t[0][5]
    gflop = 284e9 * w * h / (512 * 384) / 1e9
    ts, ps = [med(x[i] for x in t) for i in range(4)], [med(x[i] for x in p) for i in range(4)]
    print(f"{f'{w}x{h}':>9} | {ts[1]:7.3f} {ps[1]:7.3f} {ts[1] / ps[1]:6.2f} | {ts[0]:7.3f} {ts[2]:5.2f} {ps[0]:7.3f} {ps[2]:5.2f}"
          f" {ts[0] / ps[0]:6.2f} | {gflop / ts[1]:7.1f} {gflop / ps[1]:7.1f} | {ts[3] / 1024:7.0f} {ps[3] / 1024:7.0f}"
          f" {ts[3] / ps[3]:6.2f}")
print("s/eval, s/iter: seconds (iterations 2..N); ratio: tessera/torch; GFLOP/s: effective, 284 GFLOP per "
      "evaluation at 512x384; RSS: peak, whole process")
print(f"(the peer's RSS right after importing torch and numpy: "
      f"{med(x[6] for k, v in runs.items() if k[1] == 'torch' for x in v) / 1024:.0f} MB)")
EOF
