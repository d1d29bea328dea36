#!/usr/bin/env bash
# deps.sh - checks Tessera's Debian packages and installs the missing ones when it can (root + apt).
# Usage: scripts/deps.sh build|demo|test    (each set includes the ones before it)
# Without root or apt it prints the exact apt-get line to run and exits 1.
set -u
want=${1:-build}
pkgs=(make gcc pkg-config openmpi-bin libopenmpi-dev libtiff-dev libpng-dev libjpeg-dev libcjson-dev
      libopenblas-openmp-dev liblcms2-dev) # lcms2: colour profiles (optional to the build, installed here)
case $want in
demo) pkgs+=(darknet) ;;                                  # its data folder holds the sample photo and painting
test) pkgs+=(darknet python3-numpy python3-torch file chromium # numpy: weights tools; torch: fresh reference
             slurm-wlm munge valgrind clang libclang-rt-14-dev) ;; # cases; chromium: the batch summary;
             # slurm + munge: tests/t_slurm.sh; valgrind: memcheck test; clang + libclang-rt: libFuzzer targets
build) ;;
*) echo "usage: $0 build|demo|test" >&2; exit 2 ;;
esac
missing=()
for p in "${pkgs[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "tessera: missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >/dev/null 2>&1 || echo "tessera: apt-get update failed; trying the install anyway" >&2
    if apt-get install -y -qq --no-install-recommends "${missing[@]}" >/tmp/tessera-apt.log 2>&1; then
        echo "tessera: installed ${missing[*]}" >&2
        exit 0
    fi
    echo "tessera: apt-get install failed (log: /tmp/tessera-apt.log)" >&2
fi
echo "tessera: please run:  sudo apt-get install ${missing[*]}" >&2
exit 1
