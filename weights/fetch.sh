#!/usr/bin/env bash
# fetch.sh - download torchvision VGG weights, check the SHA-256 prefix in the file name, and convert
# the conv trunk to DIR/<arch>.safetensors.
#
# Usage: weights/fetch.sh [vgg19|vgg16] [DIR]   download (or reuse DIR/<file>.pth) and convert;
#                                               default vgg19 into the weights/ folder
#        weights/fetch.sh --verify FILE         check FILE's SHA-256 against the hex digits in its name
# Environment: TESSERA_WEIGHTS_BASE_URL  a mirror holding the same file names
#              (default https://download.pytorch.org/models; file:// URLs work with curl)
#              PYTHON                    Python 3 with numpy for the converter (default python3)
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
PYTHON=${PYTHON:-python3}
BASE_URL=${TESSERA_WEIGHTS_BASE_URL:-https://download.pytorch.org/models}

die() {
    echo "fetch.sh: error: $*" >&2
    exit 1
}

sha256_of() {
    if command -v sha256sum >/dev/null 2>&1; then
        sha256sum "$1" | cut -d' ' -f1
    elif command -v shasum >/dev/null 2>&1; then
        shasum -a 256 "$1" | cut -d' ' -f1
    else
        "$PYTHON" -c 'import hashlib,sys
h = hashlib.sha256()
with open(sys.argv[1], "rb") as f:
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
print(h.hexdigest())' "$1"
    fi
}

# verify FILE: the name ends in -<hex>.<ext> (at least 8 hex digits, torchvision style) and the
# file's SHA-256 starts with those digits. Prints the result; returns 0 on a match.
verify() {
    local file=$1 base prefix sum
    [ -f "$file" ] || { echo "fetch.sh: $file: no such file" >&2; return 1; }
    base=$(basename "$file")
    prefix=$(sed -nE 's/^.*-([0-9a-f]{8,64})\.[A-Za-z0-9]+$/\1/p' <<<"$base")
    if [ -z "$prefix" ]; then
        echo "fetch.sh: $file: the name carries no hash prefix (expected NAME-xxxxxxxx.pth)" >&2
        return 1
    fi
    sum=$(sha256_of "$file")
    if [ "${sum:0:${#prefix}}" = "$prefix" ]; then
        echo "fetch.sh: $base: SHA-256 $sum matches the prefix $prefix"
        return 0
    fi
    echo "fetch.sh: $file: SHA-256 $sum does not start with $prefix (damaged or wrong file)" >&2
    return 1
}

download() { # URL OUT
    if command -v curl >/dev/null 2>&1; then
        curl -fL --retry 2 --connect-timeout 20 -o "$2" "$1"
    elif command -v wget >/dev/null 2>&1; then
        wget -O "$2" "$1"
    else
        die "neither curl nor wget is installed"
    fi
}

if [ "${1:-}" = "--verify" ]; then
    [ $# -eq 2 ] || die "usage: fetch.sh --verify FILE"
    verify "$2"
    exit
fi
case "${1:-}" in -h | --help)
    sed -n '2,/^set /{/^#/s/^# \{0,1\}//p}' "$0"
    exit 0
    ;;
esac

arch=${1:-vgg19}
dir=${2:-$HERE}
case "$arch" in
vgg19) file=vgg19-dcbb9e9d.pth ;;
vgg16) file=vgg16-397923af.pth ;;
*) die "unknown network '$arch' (use vgg19 or vgg16)" ;;
esac
url="$BASE_URL/$file"
out="$dir/$arch.safetensors"
mkdir -p "$dir" || die "cannot create $dir"

if [ -f "$dir/$file" ] && verify "$dir/$file"; then
    echo "fetch.sh: using the existing $dir/$file"
else
    rm -f "$dir/$file"
    echo "fetch.sh: downloading $url"
    if ! download "$url" "$dir/$file.part"; then
        rm -f "$dir/$file.part"
        die "download of $url failed (no network?). On a machine with internet access fetch that URL," \
            "copy $file into $dir and run this script again; it checks the file and converts it."
    fi
    mv "$dir/$file.part" "$dir/$file"
    if ! verify "$dir/$file"; then
        rm -f "$dir/$file"
        die "checksum mismatch: deleted $dir/$file"
    fi
fi

"$PYTHON" -c 'import numpy' 2>/dev/null ||
    die "$PYTHON cannot import numpy (Debian: apt-get install python3-numpy; or set PYTHON=...)"
"$PYTHON" "$HERE/convert_pth.py" "$dir/$file" "$out" --arch "$arch" --preprocessing torchvision
echo "fetch.sh: done: $out (the .pth in $dir is no longer needed)"
