# shellcheck shell=bash
# shellcheck disable=SC2059  # the byte writers build printf escapes on purpose
# craft.sh - builds the bad inputs of the catalogue (tests/t_bad_inputs.sh) into a folder, from the
# committed reference fixtures (tests/fixtures/ref) and fuzz seeds (tests/fuzz/corpus). Sourced; gives
#   craft_bad_inputs DIR     writes every file the catalogue names into DIR; prints "setup: ..." lines
#                            for anything it could not build and returns non-zero then
# Only bash, coreutils, grep and gzip (for CRC-32) are used. Each file differs from a good one in one way.

# crc32 of stdin as 4 big-endian bytes (gzip's trailer holds it little-endian)
crc32_be() {
    local b
    b=$(gzip -c | tail -c 8 | head -c 4 | od -An -tx1 | tr -d ' \n')
    printf "\\x${b:6:2}\\x${b:4:2}\\x${b:2:2}\\x${b:0:2}"
}
# be32 N -> 4 big-endian bytes; le32 / le64 N -> little-endian bytes
be32() { printf "\\x$(printf %02x $(($1 >> 24 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 & 255)))"; }
le32() { printf "\\x$(printf %02x $(($1 & 255)))\\x$(printf %02x $(($1 >> 8 & 255)))\\x$(printf %02x $(($1 >> 16 & 255)))\\x$(printf %02x $(($1 >> 24 & 255)))"; }
le64() { le32 $(($1 & 0xffffffff)); le32 $(($1 >> 32 & 0xffffffff)); }
# patch FILE OFFSET < bytes: overwrite in place
patch_at() { dd of="$1" bs=1 seek="$2" conv=notrunc status=none; }
# half IN OUT: the first half of IN
half() { head -c $(($(stat -c %s "$1") / 2)) "$1" >"$2"; }
u16le() { od -An -tu2 --endian=little -j"$2" -N2 "$1" | tr -d ' '; }
u32le() { od -An -tu4 --endian=little -j"$2" -N4 "$1" | tr -d ' '; }
# offset of the first occurrence of the byte pair (hex, e.g. ffc0) in FILE, empty if none
find_marker() { LC_ALL=C grep -obUaP "\\x${2:0:2}\\x${2:2:2}" "$1" 2>/dev/null | head -n 1 | cut -d: -f1; }

# png_ihdr IN OUT W H DEPTH CTYPE: IN with its IHDR fields replaced and the chunk's CRC recomputed
# (binary pieces go through files: shell variables cannot hold NUL bytes)
png_ihdr() {
    local in=$1 out=$2
    { printf 'IHDR'; be32 "$3"; be32 "$4"; printf "\\x$(printf %02x "$5")\\x$(printf %02x "$6")"
      dd if="$in" bs=1 skip=26 count=3 status=none; } >"$out.ihdr"
    { head -c 16 "$in"; tail -c +5 "$out.ihdr"; crc32_be <"$out.ihdr"; tail -c +34 "$in"; } >"$out"
    rm -f "$out.ihdr"
}

# st_header FILE: the JSON header of a safetensors file; st_rebuild SRC OUT HEADER: a file with HEADER
# (its length recomputed) and SRC's data region
st_header() {
    local n
    n=$(od -An -tu8 --endian=little -N8 "$1" | tr -d ' ')
    head -c $((8 + n)) "$1" | tail -c "$n"
}
st_rebuild() {
    local n
    n=$(od -An -tu8 --endian=little -N8 "$1" | tr -d ' ')
    { le64 ${#3}; printf '%s' "$3"; tail -c +$((9 + n)) "$1"; } >"$2"
}

# tiff_tag_entry FILE TAG: byte offset of TAG's entry in the first IFD of a little-endian TIFF
tiff_tag_entry() {
    local f=$1 ifd n i o
    ifd=$(u32le "$f" 4)
    n=$(u16le "$f" "$ifd")
    for ((i = 0; i < n; i++)); do
        o=$((ifd + 2 + 12 * i))
        [ "$(u16le "$f" "$o")" = "$2" ] && { echo "$o"; return; }
    done
}

craft_bad_inputs() {
    local d=$1 root fx seeds bad=0 hdr h2 o sof ifd n
    root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
    fx=$root/tests/fixtures/ref
    seeds=$root/tests/fuzz/corpus
    mkdir -p "$d"
    setup_fail() { echo "setup: $*"; bad=1; }
    same() { cmp -s "$1" "$2" && setup_fail "$2 is unchanged"; }

    # ---- good inputs the cases start from
    cp "$fx/vgg19_max/content.png" "$d/content.png"
    cp "$fx/vgg19_max/style.png" "$d/style.png"
    cp "$fx/vgg19_max/init.npy" "$d/init.npy"
    cp "$fx/vgg19_max/weights.safetensors" "$d/w19.safetensors"
    cp "$fx/vgg16_avg_scaled/weights.safetensors" "$d/w16.safetensors"
    cp "$seeds/jpeg/rgb.jpg" "$d/rgb.jpg"
    # a portrait photo: EXIF orientation 6 (turn 90 degrees clockwise) after the SOI
    { head -c 2 "$d/rgb.jpg"
      printf '\xff\xe1\x00\x22Exif\x00\x00II*\x00\x08\x00\x00\x00\x01\x00\x12\x01\x03\x00\x01\x00\x00\x00\x06\x00\x00\x00\x00\x00\x00\x00'
      tail -c +3 "$d/rgb.jpg"; } >"$d/portrait.jpg"
    cp "$seeds/tiff/rgb8.tif" "$d/rgb8.tif"
    cp "$seeds/tiff/rgb8_deflate.tif" "$d/deflate.tif"
    for f in jpeg/cmyk.jpg tiff/bilevel1.tif tiff/int32.tif tiff/palette.tif tiff/cmyk.tif npy/fortran.npy; do
        cp "$seeds/$f" "$d/${f#*/}"
    done

    # ---- images: missing, empty, not images, mislabelled
    : >"$d/empty.png"
    mkdir -p "$d/dir.png"
    echo "this is not an image" >"$d/text.png"
    echo "this is not an image" >"$d/text.jpg"
    cp "$d/content.png" "$d/png_named.jpg"
    cp "$d/rgb.jpg" "$d/jpeg_named.tif"

    # ---- PNG: cut, header only, bad CRC, garbage data, absurd size, invalid depth / colour type
    half "$d/content.png" "$d/half.png"
    head -c 33 "$d/content.png" >"$d/hdronly.png"
    cp "$d/content.png" "$d/badcrc.png"
    printf '\x00\x00\x00\x00' | patch_at "$d/badcrc.png" 29
    same "$d/content.png" "$d/badcrc.png"
    cp "$d/content.png" "$d/garbage.png"
    o=$(LC_ALL=C grep -obUa IDAT "$d/content.png" | head -n 1 | cut -d: -f1)   # the first IDAT chunk
    [ -n "$o" ] && printf '%0128d' 0 | tr 0 '\252' | patch_at "$d/garbage.png" $((o + 40))
    same "$d/content.png" "$d/garbage.png"
    png_ihdr "$d/content.png" "$d/huge.png" 100000 100000 8 2
    png_ihdr "$d/content.png" "$d/depth3.png" 63 47 3 2
    png_ihdr "$d/content.png" "$d/ctype5.png" 63 47 8 5

    # ---- JPEG: cut, header only, garbage scan, absurd size, 12-bit precision
    half "$d/rgb.jpg" "$d/half.jpg"
    sof=$(find_marker "$d/rgb.jpg" ffc0)
    o=$(find_marker "$d/rgb.jpg" ffda)
    if [ -n "$sof" ] && [ -n "$o" ]; then
        head -c $((o + 2)) "$d/rgb.jpg" >"$d/hdronly.jpg"
        cp "$d/rgb.jpg" "$d/huge.jpg"
        printf '\xea\x60\xea\x60' | patch_at "$d/huge.jpg" $((sof + 5))   # 60000 x 60000
        cp "$d/rgb.jpg" "$d/p12.jpg"
        printf '\x0c' | patch_at "$d/p12.jpg" $((sof + 4))                # 12-bit samples
        cp "$d/rgb.jpg" "$d/garbage.jpg"                                 # the scan data replaced by 0xff 0x01 pairs
        n=$(($(stat -c %s "$d/rgb.jpg") - o - 30))
        printf '%0*d' $((n / 2)) 0 | sed 's/0/\xff\x01/g' | patch_at "$d/garbage.jpg" $((o + 20))
        same "$d/rgb.jpg" "$d/huge.jpg"
        same "$d/rgb.jpg" "$d/garbage.jpg"
    else
        setup_fail "no SOF0/SOS marker in rgb.jpg"
    fi

    # ---- TIFF: cut, garbage IFD, IFD beyond the file, garbage compressed data, absurd size
    half "$d/deflate.tif" "$d/half.tif"
    cp "$d/rgb8.tif" "$d/garbage_ifd.tif"
    ifd=$(u32le "$d/rgb8.tif" 4)
    n=$(u16le "$d/rgb8.tif" "$ifd")
    printf '%0*d' $((12 * n)) 0 | tr 0 '\351' | patch_at "$d/garbage_ifd.tif" $((ifd + 2))
    same "$d/rgb8.tif" "$d/garbage_ifd.tif"
    cp "$d/rgb8.tif" "$d/ifd_beyond.tif"
    le32 2147483000 | patch_at "$d/ifd_beyond.tif" 4
    cp "$d/deflate.tif" "$d/garbage_data.tif"
    printf '%0200d' 0 | tr 0 '\133' | patch_at "$d/garbage_data.tif" 60
    same "$d/deflate.tif" "$d/garbage_data.tif"
    cp "$seeds/tiff/tiled.tif" "$d/huge_tiles.tif"   # TileWidth, TileLength = 65520 (LONG)
    for tag in 322 323; do
        o=$(tiff_tag_entry "$d/huge_tiles.tif" $tag)
        [ -n "$o" ] || { setup_fail "tiled.tif has no tag $tag"; continue; }
        le32 65520 | patch_at "$d/huge_tiles.tif" $((o + 8))
    done
    cp "$seeds/tiff/miniswhite.tif" "$d/spp65535.tif"   # SamplesPerPixel = 65535
    o=$(tiff_tag_entry "$d/spp65535.tif" 277)
    if [ -n "$o" ]; then printf '\xff\xff' | patch_at "$d/spp65535.tif" $((o + 8)); else setup_fail "no tag 277"; fi
    cp "$d/rgb8.tif" "$d/huge.tif"
    for tag in 256 257; do   # ImageWidth, ImageLength = 100000 (LONG)
        o=$(tiff_tag_entry "$d/rgb8.tif" $tag)
        [ -n "$o" ] || { setup_fail "rgb8.tif has no tag $tag"; continue; }
        { printf '\x04\x00\x01\x00\x00\x00'; le32 100000; } | patch_at "$d/huge.tif" $((o + 2))
    done

    # ---- .npy: cut, wrong shape, NaN, absurd size
    half "$d/init.npy" "$d/half.npy"
    npy_file() { # npy_file OUT SHAPE-TEXT < data
        local h="{'descr': '<f4', 'fortran_order': False, 'shape': $2, }"
        while [ $(((10 + ${#h} + 1) % 64)) -ne 0 ]; do h+=" "; done
        { printf '\x93NUMPY\x01\x00'; le32 $((${#h} + 1)) | head -c 2; printf '%s\n' "$h"; cat; } >"$1"
    }
    head -c 64 /dev/zero | npy_file "$d/four.npy" "(4, 2, 2)"
    { head -c 40 /dev/zero; printf '\x00\x00\xc0\x7f'; head -c 4 /dev/zero; } | npy_file "$d/nan.npy" "(3, 2, 2)"
    head -c 48 /dev/zero | npy_file "$d/huge.npy" "(3, 100000, 100000)"
    head -c $((3 * 8 * 8 * 4)) /dev/zero | npy_file "$d/black.npy" "(3, 8, 8)" # an all-black mask

    # ---- weights (safetensors), each from the narrow VGG19 fixture
    local W=$d/w19.safetensors
    : >"$d/empty.safetensors"
    mkdir -p "$d/dir.safetensors"
    half "$W" "$d/half.safetensors"
    { le64 1048576; printf '{"a":1}'; } >"$d/hdr_beyond.safetensors"
    { printf '\xff\xff\xff\xff\xff\xff\xff\x7f'; printf '{}'; } >"$d/hdr_huge.safetensors"
    { le64 11; printf 'hello world'; } >"$d/not_json.safetensors"
    { le64 7; printf '[1,2,3]'; } >"$d/array.safetensors"
    hdr=$(st_header "$W")
    ed_st() { # ed_st NAME FROM TO: the header with the first FROM replaced by TO
        h2=${hdr/"$2"/"$3"}
        [ "$h2" != "$hdr" ] || setup_fail "$1: '$2' not in the header"
        st_rebuild "$W" "$d/$1.safetensors" "$h2"
    }
    ed_st beyond '"data_offsets":[0,864]' '"data_offsets":[0,99999999]'
    ed_st begin_after_end '"data_offsets":[0,864]' '"data_offsets":[864,0]'
    ed_st overlap '"data_offsets":[864,896]' '"data_offsets":[832,864]'
    ed_st negative_offset '"data_offsets":[0,864]' '"data_offsets":[-4,860]'
    ed_st dtype_i64 '"features.0.bias":{"dtype":"F32","shape":[8],"data_offsets":[864,896]}' \
        '"features.0.bias":{"dtype":"I64","shape":[4],"data_offsets":[864,896]}'
    ed_st dtype_unknown '"features.0.bias":{"dtype":"F32"' '"features.0.bias":{"dtype":"Q7"'
    ed_st bytes_mismatch '"features.0.bias":{"dtype":"F32","shape":[8]' '"features.0.bias":{"dtype":"F32","shape":[9]'
    ed_st wrong_shape '"features.2.weight":{"dtype":"F32","shape":[8,8,3,3]' '"features.2.weight":{"dtype":"F32","shape":[8,8,9,1]'
    ed_st missing_key '"features.0.bias":{"dtype":"F32","shape":[8],"data_offsets":[864,896]},' ''
    ed_st duplicate_key '"features.0.bias":{' '"features.0.weight":{'
    ed_st meta_not_string '"preprocessing":"torchvision"' '"preprocessing":7'
    ed_st meta_unknown_pre '"preprocessing":"torchvision"' '"preprocessing":"bgr"'
    ed_st shape_negative '"features.0.bias":{"dtype":"F32","shape":[8]' '"features.0.bias":{"dtype":"F32","shape":[-8]'
    st_rebuild "$W" "$d/trailing.safetensors" "$hdr xyz"
    n=$(od -An -tu8 --endian=little -N8 "$W" | tr -d ' ')
    cp "$W" "$d/nan.safetensors"
    printf '\x00\x00\xc0\x7f' | patch_at "$d/nan.safetensors" $((8 + n + 16))
    cp "$W" "$d/inf.safetensors"
    printf '\x00\x00\x80\x7f' | patch_at "$d/inf.safetensors" $((8 + n + 868))

    # ---- configs
    : >"$d/empty.json"
    mkdir -p "$d/dir.json"
    printf '{"size": }' >"$d/malformed.json"
    printf '[{"size": 32}]' >"$d/array.json"
    printf '{"size": "big"}' >"$d/wrong_type.json"
    printf '{"size": 3}' >"$d/size3.json"
    printf '{"style_weight": -1}' >"$d/neg_weight.json"
    printf '{"quiet": 1}' >"$d/bool_number.json"
    printf '{"style_layers": [1, 2]}' >"$d/list_type.json"
    printf '{"iterations": [1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1,1]}' >"$d/list_long.json"
    printf '{"seed": 1, "seed": 2}' >"$d/dup.json"
    printf '{"size": 1e999}' >"$d/overflow.json"
    printf '{"arch": "vgg11"}' >"$d/arch.json"
    printf '{"size": {"px": 32}}' >"$d/object_value.json"
    printf '{"style_layers": ["relu1_1", "relu9_1"]}' >"$d/bad_layer.json"
    printf '{"size": 32, "no_such_option": 1}' >"$d/unknown_key.json"
    printf '\xef\xbb\xbf{"size": 32}' >"$d/bom.json"
    # 200000 unknown keys and one key given twice: found at once (a pairwise check took minutes)
    { printf '{'; seq 1 200000 | awk '{printf "\"k%d\": %d, ", $1, $1}'; printf '"k7": 0}'; } >"$d/many_keys.json"
    return "$bad"
}
