#!/usr/bin/env bash
# t_profiles.sh - colour profiles end to end, with and without Little CMS (test_image checks the
# conversions themselves, against a matrix reference, and the profiles outputs carry):
#  - this build: `make` reports lcms2 where it is installed; a content carrying a profile (a TIFF
#    tessera wrote) runs with --keep-profile and without, silently;
#  - a build without lcms2 (LCMS_VERSION= at make): `make` says profiles are ignored, test_image's
#    fallback checks pass (a profile not used, with a note; a PNG output with the sRGB chunk), and a
#    content carrying a profile runs with exactly one note.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" profiles
F=$root/tests/fixtures/ref/vgg19_max
run=(run --style "$F/style.png" --weights random:1 --size 24 --iterations 0 --style-layers relu1_1 --content-layers relu1_1)

make -s -C "$root" check-deps 2>/dev/null | grep -q "lcms2    : [0-9]" && have=1 || have=0
if [ "$have" = 1 ]; then
    ok "make reports lcms2"
    "$bin" "${run[@]}" --content "$F/content.png" --output "$tmp/p.tif" --quiet # carries the sRGB profile
    for keep in "" --keep-profile; do
        "$bin" "${run[@]}" --content "$tmp/p.tif" --output "$tmp/k.tif" $keep 2>"$tmp/k.err"
        rc=$?
        [ $rc -eq 0 ] && [ -s "$tmp/k.tif" ] && ! grep -q "note:" "$tmp/k.err" &&
            ok "a content with a profile runs${keep:+ with $keep}, without a note" ||
            not_ok "a content with a profile runs${keep:+ with $keep}" "rc=$rc $(cat "$tmp/k.err")"
    done
else
    echo "# this machine has no lcms2 (apt-get install liblcms2-dev): only the build without it is checked"
fi

# ---- a build without lcms2 ----
if make -s -C "$root" LCMS_VERSION= CUDA=0 BUILD="$tmp/nl" BIN="$tmp/nl/tessera" -j2 all "$tmp/nl/tests/test_image" \
    >"$tmp/nl.log" 2>&1; then
    grep -q "lcms2    : not found: colour profiles are ignored" "$tmp/nl.log" && ok "make without lcms2 says profiles are ignored" ||
        not_ok "make without lcms2 says so" "$(grep lcms2 "$tmp/nl.log")"
    out=$("$tmp/nl/tests/test_image" 2>&1)
    tail -1 <<<"$out" | grep -q " 0 failed" && grep -q "no lcms2" <<<"$out" && ok "without lcms2: test_image passes its fallback checks" ||
        not_ok "without lcms2: test_image" "$(grep 'NOT OK' <<<"$out" | head -3)"
    if [ "$have" = 1 ]; then
        "$tmp/nl/tessera" "${run[@]}" --content "$tmp/p.tif" --output "$tmp/nl.png" 2>"$tmp/nl.err"
        rc=$?
        [ $rc -eq 0 ] && [ -s "$tmp/nl.png" ] && [ "$(grep -c 'note:.*lcms' "$tmp/nl.err")" = 1 ] &&
            ok "without lcms2: a content with a profile runs, with one note" ||
            not_ok "without lcms2: a content with a profile runs with one note" "rc=$rc $(cat "$tmp/nl.err")"
    fi
else
    not_ok "build without lcms2" "$(tail -5 "$tmp/nl.log")"
fi
summary
