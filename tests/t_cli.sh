#!/usr/bin/env bash
# t_cli.sh - the command line's handling of bad input, and its success paths.
#
# Bad input (missing/empty/truncated/mislabelled images, broken weights files, malformed configs,
# bad flags) must end with exit status 2, one "tessera: error: ..." line on stderr that names the
# culprit (the file or the flag), and no output file or *.tmp.* leftover. The success paths check
# the written files (PNG/JPEG/TIFF magic, PNG size from IHDR), the --log lines, --save-every,
# `defaults`, `layers`, `version` and the --help texts. With mpirun present, a bad and a good run
# under `mpirun -np 2` too.
#
# Env: TESSERA_BIN (default bin/tessera). Uses random or the small fixture weights, so it needs no
# downloaded weights; a couple of minutes at most on two cores.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" cli
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-2}

if [ ! -x "$bin" ]; then
    echo "NOT OK $bin is not an executable (run make)"
    echo "0 passed, 1 failed"
    exit 1
fi

# ---- inputs --------------------------------------------------------------------------------------
fx=$root/tests/fixtures/ref
in=$tmp/in
out=$tmp/out                 # every command writes into this folder only
mkdir -p "$in" "$out"
cp "$fx/vgg19_max/content.png" "$in/content.png"
cp "$fx/vgg19_max/style.png" "$in/style.png"
cp "$fx/two_styles/style2.png" "$in/style2.png"
cp "$fx/vgg19_max/init.npy" "$in/init.npy"
W19=$fx/vgg19_max/weights.safetensors          # narrow vgg19, fast
W16=$fx/vgg16_avg_scaled/weights.safetensors   # narrow vgg16
C=$in/content.png
S=$in/style.png
O=$out/out.png
G=$out/grad.npy
# the quick run: fixture weights, small size, 2 iterations
fast=(--weights "$W19" --size 32 --iterations 2 --quiet)

# png_dims FILE -> "W H" from the IHDR chunk ("0 0" when there is no file)
png_dims() {
    local w h
    [ -s "$1" ] || { echo "0 0"; return; }
    w=$(od -An -tu1 -j16 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    h=$(od -An -tu1 -j20 -N4 "$1" | awk '{print $1*16777216 + $2*65536 + $3*256 + $4}')
    echo "$w $h"
}
# magic FILE N -> first N bytes as hex
magic() { od -An -tx1 -N"$2" "$1" | tr -d ' \n'; }
# tiff_bps FILE -> the first BitsPerSample value of the first IFD (tag 258), "?" if absent
tiff_bps() {
    local f=$1 e ifd n i off tag typ cnt val
    case $(magic "$f" 2) in 4949) e=little ;; 4d4d) e=big ;; *) echo "?"; return ;; esac
    u16() { od --endian=$e -An -tu2 -j"$1" -N2 "$f" | tr -d ' '; }
    u32() { od --endian=$e -An -tu4 -j"$1" -N4 "$f" | tr -d ' '; }
    ifd=$(u32 4)
    n=$(u16 "$ifd")
    for ((i = 0; i < n; i++)); do
        off=$((ifd + 2 + 12 * i))
        tag=$(u16 "$off")
        [ "$tag" = 258 ] || continue
        cnt=$(u32 $((off + 4)))
        if [ "$cnt" -le 2 ]; then val=$(u16 $((off + 8))); else val=$(u16 "$(u32 $((off + 8)))"); fi
        echo "$val"
        return
    done
    echo "?"
}
# crc32 of stdin, as 4 big-endian bytes written to stdout (gzip's trailer holds it little-endian)
crc32_be() {
    local b
    b=$(gzip -c | tail -c 8 | head -c 4 | od -An -tx1 | tr -d ' \n')
    # shellcheck disable=SC2059  # the format is the escaped bytes
    printf "\\x${b:6:2}\\x${b:4:2}\\x${b:2:2}\\x${b:0:2}"
}

# a real JPEG to cut in half (the fixtures only hold PNGs): written by tessera itself
"$bin" run --content "$C" --style "$S" --output "$in/real.jpg" "${fast[@]}" --size 64 >/dev/null 2>&1
"$bin" run --content "$C" --style "$S" --output "$in/real.tif" "${fast[@]}" --size 64 --output-bits 16 >/dev/null 2>&1
[ -s "$in/real.jpg" ] || not_ok "setup: tessera could not write a JPEG to work with"
[ -s "$in/real.tif" ] || not_ok "setup: tessera could not write a TIFF to work with"
: >"$in/empty.png"
: >"$in/empty.safetensors"
head -c $(($(stat -c %s "$C") / 2)) "$C" >"$in/trunc.png"
if [ -s "$in/real.jpg" ]; then
    head -c $(($(stat -c %s "$in/real.jpg") / 2)) "$in/real.jpg" >"$in/trunc.jpg"
fi
if [ -s "$in/real.tif" ]; then
    head -c $(($(stat -c %s "$in/real.tif") / 2)) "$in/real.tif" >"$in/trunc.tif"
fi
# the JPEG with its SOF0 frame header saying 60000 x 60000
sof=$(LC_ALL=C grep -obUaP '\xff\xc0' "$in/real.jpg" 2>/dev/null | head -n 1 | cut -d: -f1)
cp "$in/real.jpg" "$in/huge.jpg" 2>/dev/null
[ -n "$sof" ] && printf '\xea\x60\xea\x60' | dd of="$in/huge.jpg" bs=1 seek=$((sof + 5)) conv=notrunc 2>/dev/null
# the TIFF with ImageWidth and ImageLength set to 65520 (SHORT) or 15728640 (LONG)
cp "$in/real.tif" "$in/huge.tif" 2>/dev/null
if [ -s "$in/real.tif" ] && [ "$(magic "$in/real.tif" 2)" = 4949 ]; then
    ifd=$(od -An -tu4 --endian=little -j4 -N4 "$in/real.tif" | tr -d ' ')
    nent=$(od -An -tu2 --endian=little -j"$ifd" -N2 "$in/real.tif" | tr -d ' ')
    for ((i = 0; i < nent; i++)); do
        o=$((ifd + 2 + 12 * i))
        read -r tag typ < <(od -An -tu2 --endian=little -j"$o" -N4 "$in/real.tif")
        [ "$tag" = 256 ] || [ "$tag" = 257 ] || continue
        if [ "$typ" = 3 ]; then v='\xf0\xff'; else v='\x00\x00\xf0\x00'; fi
        # shellcheck disable=SC2059
        printf "$v" | dd of="$in/huge.tif" bs=1 seek=$((o + 8)) conv=notrunc 2>/dev/null
    done
fi
cmp -s "$in/real.jpg" "$in/huge.jpg" && not_ok "setup: could not build huge.jpg"
cmp -s "$in/real.tif" "$in/huge.tif" && not_ok "setup: could not build huge.tif"
echo "this is not an image" >"$in/text.png"
cp "$C" "$in/really_png.jpg"
# a PNG whose IHDR (with a valid CRC) declares 100000 x 100000 pixels; the data is the real 63x47 one
{
    head -c 16 "$C"
    printf '\x00\x01\x86\xa0\x00\x01\x86\xa0'
    dd if="$C" bs=1 skip=24 count=5 2>/dev/null
    { printf 'IHDR\x00\x01\x86\xa0\x00\x01\x86\xa0'; dd if="$C" bs=1 skip=24 count=5 2>/dev/null; } | crc32_be
    tail -c +34 "$C"
} >"$in/huge.png"
# weights: a header length far beyond the file, a header that is not JSON
printf '\x00\x00\x00\x10\x00\x00\x00\x00{"a":1}' >"$in/hdr_beyond.safetensors"
printf '\x0b\x00\x00\x00\x00\x00\x00\x00hello world' >"$in/not_json.safetensors"
# weights with one tensor's shape changed to a same-size wrong one (features.2.weight 8x8x3x3 -> 8x8x9x1)
hlen=$(od -An -tu8 -N8 "$W19" | tr -d ' ')
hdr=$(head -c $((8 + hlen)) "$W19" | tail -c "$hlen")
hdr2=${hdr/'"features.2.weight":{"dtype":"F32","shape":[8,8,3,3]'/'"features.2.weight":{"dtype":"F32","shape":[8,8,9,1]'}
{ head -c 8 "$W19"; printf '%s' "$hdr2"; tail -c +$((9 + hlen)) "$W19"; } >"$in/wrong_shape.safetensors"
if [ "$hdr" = "$hdr2" ] || [ "$(stat -c %s "$W19")" != "$(stat -c %s "$in/wrong_shape.safetensors")" ]; then
    not_ok "setup: could not build wrong_shape.safetensors"
fi
# .npy files: cut in half; a well-formed float32 one of shape (4, 2, 2)
head -c $(($(stat -c %s "$in/init.npy") / 2)) "$in/init.npy" >"$in/trunc.npy"
npy_hdr="{'descr': '<f4', 'fortran_order': False, 'shape': (4, 2, 2), }"
while [ $(((10 + ${#npy_hdr} + 1) % 64)) -ne 0 ]; do npy_hdr+=" "; done
# shellcheck disable=SC2059
{ printf '\x93NUMPY\x01\x00'; printf "\\x$(printf %02x $(((${#npy_hdr} + 1) % 256)))\\x$(printf %02x $(((${#npy_hdr} + 1) / 256)))"
  printf '%s\n' "$npy_hdr"; head -c 64 /dev/zero; } >"$in/four.npy"
# configs
printf '{"size": }' >"$in/malformed.json"
printf '{"size": "big"}' >"$in/wrongtype.json"
printf '{"size": 3}' >"$in/size3.json"
printf '{"style_weight": -1}' >"$in/negweight.json"
printf '{"size": 32, "iterations": [2], "no_such_option": 1}' >"$in/unknown_key.json"
printf '[{"size": 32}]' >"$in/array.json"
printf '{"size": 40, "iterations": [2]}' >"$in/size40.json"

# ---- helpers -------------------------------------------------------------------------------------
# check_no_output NAME: no out.png / grad.npy and no *.tmp.* leftovers in the output folder
check_no_output() {
    local f left=()
    for f in "$out"/out.* "$out"/grad.npy "$out"/*.tmp.* "$out"/.*.tmp.*; do
        [ -e "$f" ] && left+=("${f##*/}")
    done
    [ ${#left[@]} -eq 0 ] || { echo "leftover output: ${left[*]}"; return 1; }
    return 0
}
# tmp_left: names of *.tmp.* files in the output folder (empty when none)
tmp_left() {
    local f
    for f in "$out"/*.tmp.* "$out"/.*.tmp.*; do [ -e "$f" ] && printf '%s ' "${f##*/}"; done
}

# expect_fail_2 NAME PATTERN -- cmd...
# exit status exactly 2; stderr's last line starts with "tessera: error:" and mentions PATTERN
# (an extended regex; plain names are fine); stderr is that single line; no output file or temporary left in $out.
expect_fail_2() {
    local name=$1 pat=$2
    shift 3
    rm -rf "${out:?}"/* "${out:?}"/.[!.]* 2>/dev/null
    "${runner[@]}" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    local rc=$? why=() last nl
    last=$(tail -n 1 "$tmp/stderr")
    nl=$(wc -l <"$tmp/stderr")
    [ "$rc" -eq 2 ] || why+=("exit status $rc, expected 2")
    case $last in
        "tessera: error:"*) ;;
        *) why+=("last stderr line does not start with 'tessera: error:'") ;;
    esac
    grep -qE -- "$pat" <<<"$last" || why+=("last stderr line does not match /$pat/")
    [ "$nl" -le 1 ] || why+=("stderr has $nl lines, expected 1")
    local left
    left=$(check_no_output) || why+=("$left")
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name"
        [ -z "${VERBOSE:-}" ] || printf '    %s\n' "$last"
    else
        not_ok "$name" "${why[@]}" "command: ${*#"$bin" }" "stderr: $(head -c 600 "$tmp/stderr")"
    fi
}

# expect_ok NAME -- cmd...: exit status 0 (stdout/stderr kept in $tmp/stdout, $tmp/stderr)
expect_ok() {
    local name=$1
    shift 2
    "${runner[@]}" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    local rc=$?
    if [ "$rc" -eq 0 ]; then
        ok "$name"
        return 0
    fi
    not_ok "$name" "exit status $rc, expected 0" "command: ${*#"$bin" }" "stderr: $(tail -c 600 "$tmp/stderr")"
    return 1
}

# check NAME COND...: evaluate a test(1)-style condition
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}

R=(run --content "$C" --style "$S" --output "$O")

# ---- images --------------------------------------------------------------------------------------
expect_fail_2 "image: missing content"            nosuch.png     -- "$bin" run --content "$in/nosuch.png" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: empty content"              empty.png      -- "$bin" run --content "$in/empty.png" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: truncated PNG"              trunc.png      -- "$bin" run --content "$in/trunc.png" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: truncated JPEG"             trunc.jpg      -- "$bin" run --content "$in/trunc.jpg" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: text file named .png"       text.png       -- "$bin" run --content "$in/text.png" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: truncated PNG as style"     trunc.png      -- "$bin" run --content "$C" --style "$in/trunc.png" --output "$O" "${fast[@]}"
expect_fail_2 "image: PNG declaring 100000x100000" 'huge\.png.*(pixel|large|big|dimension)' -- "$bin" run --content "$in/huge.png" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: JPEG declaring 60000x60000" 'huge\.jpg.*(pixel|large|big|dimension)' -- "$bin" run --content "$in/huge.jpg" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: TIFF declaring 65520x65520" 'huge\.tif.*(pixel|large|big|dimension)' -- "$bin" run --content "$in/huge.tif" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: truncated TIFF"             trunc.tif      -- "$bin" run --content "$in/trunc.tif" --style "$S" --output "$O" "${fast[@]}"
expect_fail_2 "image: --max-pixels 100"           content.png    -- "$bin" "${R[@]}" "${fast[@]}" --max-pixels 100
expect_fail_2 "image: missing style among several" missing.png   -- "$bin" run --content "$C" --style "$S,$in/missing.png" --output "$O" "${fast[@]}"
rm -f "$O"
expect_ok "image: PNG named .jpg is read by content" -- "$bin" run --content "$in/really_png.jpg" --style "$S" --output "$O" "${fast[@]}"
check "image: PNG named .jpg gives an output" test -s "$O"
rm -f "$O"

# a portrait phone photo: a 16x12 JPEG whose EXIF says "turn 90 degrees clockwise" (orientation 6)
# comes out 12 wide and 16 high (at --size 16), as stored with --ignore-orientation
J=$root/tests/fuzz/corpus/jpeg/rgb.jpg
{ head -c 2 "$J"; printf '\xff\xe1\x00\x22Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00'
  tail -c +3 "$J"; } >"$in/portrait.jpg"
orient_run() { "$bin" run --content "$in/portrait.jpg" --style "$S" --output "$O" --weights random:1 --size 16 --iterations 0 \
    --style-layers relu1_1 --content-layers relu1_1 "$@" 2>&1 | grep -o 'wrote [^ ]* ([0-9]*x[0-9]*)' | grep -o '([0-9]*x[0-9]*)'; }
check "image: a JPEG with EXIF orientation 6 is read upright (12x16)" test "$(orient_run)" = "(12x16)"
check "image: --ignore-orientation reads it as stored (16x12)" test "$(orient_run --ignore-orientation)" = "(16x12)"
rm -f "$O"
# alpha: composited over --background; --keep-alpha carries the content's alpha into a PNG or TIFF output
A=$root/tests/fuzz/corpus/png/palette_trns.png # transparent in parts
arun() { "$bin" run --content "$A" --style "$S" --weights random:1 --size 16 --iterations 0 --style-layers relu1_1 \
    --content-layers relu1_1 --quiet "$@"; }
arun --output "$out/w.png" && arun --output "$out/b.png" --background black && arun --output "$out/c.png" --background 0,128,255
check "image: --background white, black and R,G,B give three different pictures" \
    sh -c "! cmp -s '$out/w.png' '$out/b.png' && ! cmp -s '$out/b.png' '$out/c.png' && ! cmp -s '$out/w.png' '$out/c.png'"
arun --output "$out/k.png" --keep-alpha && arun --output "$out/k.tif" --keep-alpha
check "image: --keep-alpha writes an RGBA PNG" sh -c "file '$out/k.png' | grep -q RGBA"
check "image: --keep-alpha writes a TIFF" sh -c "file '$out/k.tif' | grep -q TIFF"
check "image: without --keep-alpha the output has no alpha" sh -c "file '$out/w.png' | grep -vq RGBA"
expect_fail_2 "image: --keep-alpha with a JPEG output" 'keep-alpha.*png' -- "$bin" run --content "$A" --style "$S" \
    --output "$out/out.jpg" --keep-alpha "${fast[@]}"
expect_fail_2 "image: --background 300,0,0" '--background' -- "$bin" "${R[@]}" "${fast[@]}" --background 300,0,0
expect_fail_2 "image: --background grey" '--background' -- "$bin" "${R[@]}" "${fast[@]}" --background grey
rm -f "$out"/*

# ---- weights -------------------------------------------------------------------------------------
expect_fail_2 "weights: missing file"             nosuch.safetensors      -- "$bin" "${R[@]}" "${fast[@]}" --weights "$in/nosuch.safetensors"
expect_fail_2 "weights: empty file"               empty.safetensors       -- "$bin" "${R[@]}" "${fast[@]}" --weights "$in/empty.safetensors"
expect_fail_2 "weights: header length beyond file" hdr_beyond.safetensors -- "$bin" "${R[@]}" "${fast[@]}" --weights "$in/hdr_beyond.safetensors"
expect_fail_2 "weights: header not JSON"          not_json.safetensors    -- "$bin" "${R[@]}" "${fast[@]}" --weights "$in/not_json.safetensors"
expect_fail_2 "weights: vgg16 file with --arch vgg19" weights.safetensors -- "$bin" "${R[@]}" "${fast[@]}" --weights "$W16" --arch vgg19
expect_fail_2 "weights: wrong tensor shape"       wrong_shape.safetensors -- "$bin" "${R[@]}" "${fast[@]}" --weights "$in/wrong_shape.safetensors"
expect_fail_2 "weights: random:abc"               random:abc              -- "$bin" "${R[@]}" "${fast[@]}" --weights random:abc

# ---- config --------------------------------------------------------------------------------------
expect_fail_2 "config: malformed JSON"            malformed.json -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/malformed.json"
expect_fail_2 "config: wrong type"                size           -- "$bin" "${R[@]}" --weights "$W19" --quiet --config "$in/wrongtype.json"
expect_fail_2 "config: size out of range"         size           -- "$bin" "${R[@]}" --weights "$W19" --quiet --config "$in/size3.json"
expect_fail_2 "config: negative style_weight"     'style[_-]weight' -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/negweight.json"
expect_fail_2 "config: JSON array"                array.json     -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/array.json"
expect_fail_2 "config: missing file"              nosuch.json    -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/nosuch.json"
rm -f "$O"
if expect_ok "config: unknown key is only a warning" -- "$bin" "${R[@]}" --weights "$W19" --quiet --config "$in/unknown_key.json"; then
    if grep -q 'no_such_option' "$tmp/stderr" && grep -qi 'warn' "$tmp/stderr"; then
        ok "config: unknown key warned about on stderr"
    else
        not_ok "config: unknown key warned about on stderr" "stderr: $(head -c 400 "$tmp/stderr")"
    fi
    check "config: unknown key run wrote the output" test -s "$O"
else
    not_ok "config: unknown key warned about on stderr" "run failed"
    not_ok "config: unknown key run wrote the output" "run failed"
fi
rm -f "$O"
if expect_ok "config: size 40 with --size 32" -- "$bin" "${R[@]}" --weights "$W19" --quiet --config "$in/size40.json" --size 32; then
    read -r w h < <(png_dims "$O")
    if [ "$w" -eq 32 ] || [ "$h" -eq 32 ] && [ "$w" -le 32 ] && [ "$h" -le 32 ]; then
        ok "config: flag overrides config (long side 32, got ${w}x$h)"
    else
        not_ok "config: flag overrides config" "output is ${w}x$h, expected long side 32"
    fi
else
    not_ok "config: flag overrides config" "run failed"
fi
rm -f "$O"
if expect_ok "config: size 40 alone" -- "$bin" "${R[@]}" --weights "$W19" --quiet --config "$in/size40.json"; then
    read -r w h < <(png_dims "$O")
    if [ "$w" -eq 40 ] || [ "$h" -eq 40 ] && [ "$w" -le 40 ] && [ "$h" -le 40 ]; then
        ok "config: config size is used (long side 40, got ${w}x$h)"
    else
        not_ok "config: config size is used" "output is ${w}x$h, expected long side 40"
    fi
else
    not_ok "config: config size is used" "run failed"
fi
rm -f "$O"

# ---- flags ---------------------------------------------------------------------------------------
expect_fail_2 "flags: unknown flag"               --no-such-flag  -- "$bin" "${R[@]}" "${fast[@]}" --no-such-flag
expect_fail_2 "flags: missing value at the end"   --size          -- "$bin" "${R[@]}" --weights "$W19" --quiet --iterations 2 --size
expect_fail_2 "flags: --size abc"                 --size          -- "$bin" "${R[@]}" "${fast[@]}" --size abc
expect_fail_2 "flags: --size 32x"                 --size          -- "$bin" "${R[@]}" "${fast[@]}" --size 32x
expect_fail_2 "flags: --arch vgg11"               vgg11           -- "$bin" "${R[@]}" "${fast[@]}" --arch vgg11
expect_fail_2 "flags: --pool min"                 min             -- "$bin" "${R[@]}" "${fast[@]}" --pool min
expect_fail_2 "flags: unknown style layer"        relu9_1         -- "$bin" "${R[@]}" "${fast[@]}" --style-layers relu1_1,relu9_1
expect_fail_2 "flags: unknown content layer"      relu9_2         -- "$bin" "${R[@]}" "${fast[@]}" --content-layers relu9_2
expect_fail_2 "flags: duplicate style layer"      relu2_1         -- "$bin" "${R[@]}" "${fast[@]}" --style-layers relu1_1,relu2_1,relu2_1
expect_fail_2 "flags: --layer-weights count"      --layer-weights -- "$bin" "${R[@]}" "${fast[@]}" --layer-weights 1,2
expect_fail_2 "flags: --style-blend-weights count" --style-blend-weights -- "$bin" "${R[@]}" "${fast[@]}" --style-blend-weights 1,2
expect_fail_2 "flags: --scales 64,32"             --scales        -- "$bin" "${R[@]}" --weights "$W19" --quiet --size 32 --scales 64,32 --iterations 2
expect_fail_2 "flags: --iterations 1,2,3 with one scale" --iterations -- "$bin" "${R[@]}" --weights "$W19" --quiet --size 32 --iterations 1,2,3
expect_fail_2 "flags: output out.xyz"             out.xyz         -- "$bin" run --content "$C" --style "$S" --output "$out/out.xyz" "${fast[@]}"
expect_fail_2 "flags: output in a missing folder" nosuchdir       -- "$bin" run --content "$C" --style "$S" --output "$out/nosuchdir/out.png" "${fast[@]}"
expect_fail_2 "flags: --size 8 too small"         --size          -- "$bin" "${R[@]}" --weights "$W19" --quiet --iterations 2 --size 8
expect_fail_2 "flags: --size 20 too small for relu5_1" relu5_1  -- "$bin" "${R[@]}" --weights "$W19" --quiet --iterations 2 --size 20
expect_fail_2 "flags: style too small (--style-scale 0.3)" style.png -- "$bin" "${R[@]}" "${fast[@]}" --style-scale 0.3
expect_fail_2 "flags: first of --scales 16,32 too small" relu5_1 -- "$bin" "${R[@]}" --weights "$W19" --quiet --size 32 --scales 16,32 --iterations 2
expect_fail_2 "flags: --log in a missing folder"  nosuchdir       -- "$bin" "${R[@]}" "${fast[@]}" --log "$out/nosuchdir/log.jsonl"
expect_fail_2 "flags: --init truncated .npy"      trunc.npy       -- "$bin" "${R[@]}" "${fast[@]}" --init "$in/trunc.npy"
expect_fail_2 "flags: --init .npy of shape (4,2,2)" four.npy      -- "$bin" "${R[@]}" "${fast[@]}" --init "$in/four.npy"
expect_fail_2 "flags: --init missing image"       nosuch.png      -- "$bin" "${R[@]}" "${fast[@]}" --init "$in/nosuch.png"
expect_fail_2 "flags: missing --output"           --output        -- "$bin" run --content "$C" --style "$S" "${fast[@]}"
expect_fail_2 "flags: missing --style"            --style         -- "$bin" run --content "$C" --output "$O" "${fast[@]}"
expect_fail_2 "flags: --output-bits 12"           --output-bits   -- "$bin" "${R[@]}" "${fast[@]}" --output-bits 12
expect_fail_2 "flags: --optimizer sgd"            sgd             -- "$bin" "${R[@]}" "${fast[@]}" --optimizer sgd

# ---- grad ----------------------------------------------------------------------------------------
GR=(grad --content "$C" --style "$S" --weights "$W19" --size 32 --quiet)
expect_fail_2 "grad: missing --grad-out"          --grad-out -- "$bin" "${GR[@]}" --init "$in/init.npy"
expect_fail_2 "grad: missing --init"              --init     -- "$bin" "${GR[@]}" --grad-out "$G"
expect_fail_2 "grad: --grad-out in a missing folder" nosuchdir -- "$bin" "${GR[@]}" --init "$in/init.npy" --grad-out "$out/nosuchdir/grad.npy"
expect_fail_2 "grad: --init file missing"         nosuch.npy -- "$bin" "${GR[@]}" --init "$in/nosuch.npy" --grad-out "$G"

# ---- success paths -------------------------------------------------------------------------------
RR=(--weights random:1 --size 32 --quiet)
rm -f "$out"/*
if expect_ok "run: random weights, PNG" -- "$bin" "${R[@]}" "${RR[@]}" --iterations 3 --log "$out/log.jsonl"; then
    check "run: PNG magic" test "$(magic "$O" 8)" = 89504e470d0a1a0a
    read -r w h < <(png_dims "$O")
    check "run: PNG long side 32 (${w}x$h)" test "$w" -eq 32 -o "$h" -eq 32
    n=$(grep -c . "$out/log.jsonl")
    check "run: --log has 3 lines (got $n)" test "$n" -eq 3
    bad=0
    while IFS= read -r line; do
        for k in iteration total content style tv seconds; do
            grep -q "\"$k\"[[:space:]]*:" <<<"$line" || bad=$((bad + 1))
        done
    done <"$out/log.jsonl"
    check "run: every --log line has iteration,total,content,style,tv,seconds" test "$bad" -eq 0
    check "run: no *.tmp.* left" test -z "$(tmp_left)"
else
    for n in "PNG magic" "PNG long side" "--log lines" "--log keys" "no tmp left"; do not_ok "run: $n" "run failed"; done
fi

if expect_ok "run: JPEG output" -- "$bin" run --content "$C" --style "$S" --output "$out/o.jpg" --weights "$W19" --size 32 --iterations 2 --quiet; then
    check "run: JPEG magic" test "$(magic "$out/o.jpg" 3)" = ffd8ff
else
    not_ok "run: JPEG magic" "run failed"
fi
if expect_ok "run: 16-bit TIFF output" -- "$bin" run --content "$C" --style "$S" --output "$out/o.tif" --weights "$W19" --size 32 --iterations 2 --quiet --output-bits 16; then
    m=$(magic "$out/o.tif" 4)
    check "run: TIFF magic ($m)" test "$m" = 49492a00 -o "$m" = 4d4d002a
    bps=$(tiff_bps "$out/o.tif")
    check "run: TIFF BitsPerSample is 16 (got $bps)" test "$bps" = 16
else
    not_ok "run: TIFF magic" "run failed"
    not_ok "run: TIFF BitsPerSample is 16" "run failed"
fi
# the JPEG and 16-bit TIFF just written are readable inputs
if [ -s "$out/o.jpg" ] && [ -s "$out/o.tif" ]; then
    cp "$out/o.jpg" "$out/o.tif" "$in/"
    rm -f "$O"
    expect_ok "run: JPEG content, 16-bit TIFF style" -- "$bin" run --content "$in/o.jpg" --style "$in/o.tif" --output "$O" "${fast[@]}"
    check "run: JPEG/TIFF inputs give an output" test -s "$O"
    rm -f "$O"
else
    not_ok "run: JPEG content, 16-bit TIFF style" "no JPEG/TIFF written above"
    not_ok "run: JPEG/TIFF inputs give an output" "no JPEG/TIFF written above"
fi
if expect_ok "run: 16-bit PNG output" -- "$bin" run --content "$C" --style "$S" --output "$out/o16.png" --weights "$W19" --size 32 --iterations 2 --quiet --output-bits 16; then
    # IHDR bit depth is byte 24
    bd=$(od -An -tu1 -j24 -N1 "$out/o16.png" | tr -d ' ')
    check "run: 16-bit PNG has bit depth 16 (got $bd)" test "$bd" = 16
else
    not_ok "run: 16-bit PNG has bit depth 16" "run failed"
fi

rm -f "$out"/*
if expect_ok "run: --save-every 2 --iterations 4" -- "$bin" "${R[@]}" --weights "$W19" --size 32 --quiet --iterations 4 --save-every 2; then
    check "run: out_iter2.png written" test -s "$out/out_iter2.png"
    check "run: out_iter4.png written" test -s "$out/out_iter4.png"
    check "run: out.png written" test -s "$O"
    check "run: out_iter2.png is a PNG" test "$(magic "$out/out_iter2.png" 8)" = 89504e470d0a1a0a
else
    for n in iter2 iter4 out iter2-magic; do not_ok "run: --save-every $n" "run failed"; done
fi

rm -f "$O"
expect_ok "run: two styles with --style-blend-weights 1,3" -- "$bin" run --content "$C" --style "$S,$in/style2.png" --style-blend-weights 1,3 --output "$O" "${fast[@]}"
check "run: two styles give an output" test -s "$O"

# an existing output is left alone when the run fails
rm -f "$out"/*
printf 'precious content\n' >"$O"
cp "$O" "$tmp/precious"
"${runner[@]}" "$bin" run --content "$C" --style "$S,$in/missing.png" --output "$O" "${fast[@]}" >/dev/null 2>"$tmp/stderr"
rc=$?
check "failed run over an existing output exits 2 (got $rc)" test "$rc" -eq 2
check "failed run leaves an existing output unchanged" cmp -s "$O" "$tmp/precious"
check "failed run leaves no *.tmp.*" test -z "$(tmp_left)"
rm -f "$out"/*

# grad success
if expect_ok "grad: writes the gradient" -- "$bin" "${GR[@]}" --init "$in/init.npy" --grad-out "$G"; then
    check "grad: .npy magic" test "$(magic "$G" 6)" = 934e554d5059
    if grep -q '"total"' "$tmp/stdout"; then ok "grad: prints the loss JSON line"; else not_ok "grad: prints the loss JSON line" "stdout: $(head -c 300 "$tmp/stdout")"; fi
else
    not_ok "grad: .npy magic" "grad failed"
    not_ok "grad: prints the loss JSON line" "grad failed"
fi
rm -f "$out"/*

# defaults
if expect_ok "defaults exits 0" -- "$bin" defaults; then
    if [ -x /usr/bin/python3 ]; then
        if /usr/bin/python3 -m json.tool <"$tmp/stdout" >/dev/null 2>&1; then
            ok "defaults prints valid JSON"
        else
            not_ok "defaults prints valid JSON" "output: $(head -c 300 "$tmp/stdout")"
        fi
    else
        ok "defaults prints valid JSON (skipped: no /usr/bin/python3)"
    fi
    # the printed defaults, fed back as a config, are accepted
    cp "$tmp/stdout" "$in/defaults.json"
    expect_ok "defaults output is an accepted config" -- "$bin" "${R[@]}" --config "$in/defaults.json" "${fast[@]}"
    rm -f "$O"
else
    not_ok "defaults prints valid JSON" "defaults failed"
fi

# help texts mention every flag used above
for cmd in run grad; do
    if expect_ok "$cmd --help exits 0" -- "$bin" "$cmd" --help; then
        cp "$tmp/stdout" "$tmp/help_$cmd"
        cat "$tmp/stderr" >>"$tmp/help_$cmd"
    fi
done
missing=()
for f in --config --content --style --style-blend-weights --output --init --log --save-every --output-bits \
    --max-pixels --size --scales --iterations --weights --arch --pool --style-layers --layer-weights \
    --content-layers --optimizer --original-colors --luminance-only --seed --threads --quiet; do
    grep -q -- "$f\b" "$tmp/help_run" 2>/dev/null || missing+=("$f")
done
check "run --help mentions every flag used (missing: ${missing[*]:-none})" test ${#missing[@]} -eq 0
missing=()
for f in --config --content --style --init --grad-out --max-pixels --size --weights --arch --pool \
    --style-layers --layer-weights --content-layers --quiet; do
    grep -q -- "$f\b" "$tmp/help_grad" 2>/dev/null || missing+=("$f")
done
check "grad --help mentions every flag used (missing: ${missing[*]:-none})" test ${#missing[@]} -eq 0

if expect_ok "tessera --help exits 0" -- "$bin" --help; then
    check "tessera --help lists run and grad" grep -q 'grad' "$tmp/stdout"
fi

if expect_ok "layers --arch vgg16" -- "$bin" layers --arch vgg16; then
    n=$(grep -c . "$tmp/stdout")
    check "layers --arch vgg16: 31 lines (got $n)" test "$n" -eq 31
    check "layers --arch vgg16: ends in pool5" test "$(grep . "$tmp/stdout" | tail -n 1 | tr -d ' ')" = pool5
fi
if expect_ok "layers (vgg19 default)" -- "$bin" layers; then
    n=$(grep -c . "$tmp/stdout")
    check "layers vgg19: 37 lines (got $n)" test "$n" -eq 37
fi
expect_fail_2 "layers --arch vgg11" --arch -- "$bin" layers --arch vgg11

if expect_ok "version exits 0" -- "$bin" version; then
    check "version prints a version" grep -qE '[0-9]+\.[0-9]+' "$tmp/stdout"
fi
expect_fail_2 "unknown command" frobnicate -- "$bin" frobnicate
"${runner[@]}" "$bin" >/dev/null 2>&1
rc=$?
check "no command exits 2 (got $rc)" test "$rc" -eq 2

# ---- under mpirun --------------------------------------------------------------------------------
# bad input under 2 ranks: exit status 2 from mpirun, the error line names the file, no output.
# ---- list syntax, duplicate config keys, --grad-out naming, an output that is a directory ----
expect_fail_2 "flags: trailing comma in --style"    'empty element' -- "$bin" run --content "$C" --style "$S," --output "$O" "${fast[@]}"
expect_fail_2 "flags: empty element in --layer-weights" 'empty element' -- "$bin" "${R[@]}" "${fast[@]}" --layer-weights 1,,1
printf '{"size": 32, "size": 40}\n' >"$in/dup.json"
expect_fail_2 "config: key given twice"             'dup\.json.*twice' -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/dup.json"
printf '{"iterations": 2}\n' >"$in/iters.json"
expect_ok "config: one number for a list option" -- "$bin" "${R[@]}" "${fast[@]}" --config "$in/iters.json"
expect_fail_2 "grad: --grad-out must be .npy"        'g\.png'  -- "$bin" grad --content "$C" --style "$S" --init content --grad-out "$out/g.png" --weights random:1 --size 32
mkdir -p "$tmp/adir.png"   # outside $out, which expect_fail_2 empties
expect_fail_2 "output: an existing directory"       'adir\.png.*directory' -- "$bin" run --content "$C" --style "$S" --output "$tmp/adir.png" "${fast[@]}"
rmdir "$tmp/adir.png"
# configs/default.json is what `tessera defaults` prints
if "$bin" defaults | cmp -s - "$root/configs/default.json"; then ok "configs/default.json equals tessera defaults"
else not_ok "configs/default.json equals tessera defaults" "$("$bin" defaults | diff - "$root/configs/default.json" | head -5)"; fi

# (MPI_Abort's banner may follow the error line, so only "some line" is required here.)
if command -v mpirun >/dev/null; then
    export OMPI_MCA_rmaps_base_oversubscribe=${OMPI_MCA_rmaps_base_oversubscribe:-1}
    mpi=(mpirun -np 2)
    rm -f "$out"/*
    "${runner[@]}" "${mpi[@]}" "$bin" run --content "$C" --style "$S,$in/missing.png" --output "$O" "${fast[@]}" \
        >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    check "mpirun -np 2, missing style: exit 2 (got $rc)" test "$rc" -eq 2
    if grep -E '^tessera: error:.*missing\.png' "$tmp/stderr" "$tmp/stdout" >/dev/null; then
        ok "mpirun -np 2, missing style: error line names missing.png"
    else
        not_ok "mpirun -np 2, missing style: error line names missing.png" "stderr: $(head -c 600 "$tmp/stderr")"
    fi
    n=$(grep -hc '^tessera: error:' "$tmp/stderr" "$tmp/stdout" | awk '{s += $1} END {print s}')
    check "mpirun -np 2, missing style: the error is printed once (got $n)" test "$n" -eq 1
    left=$(check_no_output)
    check "mpirun -np 2, missing style: no output or temporary ($left)" test -z "$left"
    rm -f "$out"/*
    expect_ok "mpirun -np 2, good input: exit 0" -- "${mpi[@]}" "$bin" "${R[@]}" "${fast[@]}" --log "$out/log.jsonl"
    check "mpirun -np 2, good input: output written" test -s "$O"
    n=$(grep -c . "$out/log.jsonl" 2>/dev/null)
    check "mpirun -np 2, good input: 2 log lines, not one set per rank (got ${n:-0})" test "${n:-0}" -eq 2
    rm -f "$out"/*
else
    ok "mpirun checks (skipped: no mpirun)"
fi

summary
