#!/usr/bin/env bash
# demo.sh - the README's first command: installs what is missing, builds, and stylises a real photo
# (Debian darknet's dog.jpg) with a real painting (Munch's The Scream from the same folder).
# Usage: scripts/demo.sh [OUTPUT.png] [extra tessera run options...]
set -eu
cd "$(dirname "$0")/.."
scripts/deps.sh demo
make -s
out=${1:-out/dog_scream.png}
[ $# -gt 0 ] && shift
mkdir -p "$(dirname "$out")"
data=/usr/share/darknet/data
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
bin/tessera run --content "$data/dog.jpg" --style "$data/scream.jpg" --output "$out" \
    --size 256 --iterations 200 --log "${out%.*}.jsonl" "$@"
echo "demo: open $out (the loss per iteration is in ${out%.*}.jsonl)"
