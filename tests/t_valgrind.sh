#!/usr/bin/env bash
# t_valgrind.sh - small single-process runs under valgrind's memcheck: no invalid reads or writes, no
# use of uninitialised values, no memory definitely lost.
#
# Runs (one thread, the random stand-in network up to relu2_1, 40 px): `run` with L-BFGS for 2
# iterations (PNG output and --log), `run` with Adam, --original-colors and 16-bit TIFF output, `grad`
# from a .npy, and two failing inputs (a PNG cut in half, a weights file with overlapping tensors) to
# check the error paths free what they took. Each must exit with its own status (0 or 2, not
# valgrind's 99), report "ERROR SUMMARY: 0 errors" and 0 bytes definitely lost.
# tests/valgrind.supp names the only suppressions: memory Open MPI keeps from MPI_Init and loses in
# MPI_Finalize (plus Open MPI's own suppression file when installed).
# Skips when valgrind is missing, and for sanitizer builds (ASan binaries cannot run under valgrind).
# Env: TESSERA_BIN (default bin/tessera).
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" valgrind
if [ ! -x "$bin" ]; then
    not_ok "$bin is not an executable (run make)"
    summary
    exit 1
fi
if ! command -v valgrind >/dev/null; then
    echo "skipped: valgrind is not installed (apt-get install valgrind)"
    ok "valgrind runs (skipped: no valgrind)"
    summary
    exit
fi
if ldd "$bin" 2>/dev/null | grep -q 'libasan\|libubsan'; then
    echo "skipped: $bin is a sanitizer build"
    ok "valgrind runs (skipped: sanitizer build)"
    summary
    exit
fi
export OMP_NUM_THREADS=1
# Open MPI's plugins stay loaded, so their frames keep names in the reports
export OMPI_MCA_mca_base_component_disable_dlclose=1
supp=(--suppressions="$root/tests/valgrind.supp")
[ -f /usr/share/openmpi/openmpi-valgrind.supp ] && supp+=(--suppressions=/usr/share/openmpi/openmpi-valgrind.supp)
vg=(valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite --show-leak-kinds=definite
    --num-callers=30 "${supp[@]}")

fx=$root/tests/fixtures/ref/vgg19_max
C=$fx/content.png
S=$fx/style.png
# shellcheck disable=SC2054  # commas inside option values
small=(--weights random:1 --size 40 --style-layers relu1_1,relu2_1 --content-layers relu2_1 --quiet)
head -c 4000 "$C" >"$tmp/half.png"
# the fixture weights with the second tensor's region moved onto the first one
hlen=$(od -An -tu8 -N8 "$fx/weights.safetensors" | tr -d ' ')
hdr=$(head -c $((8 + hlen)) "$fx/weights.safetensors" | tail -c "$hlen")
{ head -c 8 "$fx/weights.safetensors"; printf '%s' "${hdr/'"data_offsets":[864,896]'/'"data_offsets":[832,864]'}"
  tail -c +$((9 + hlen)) "$fx/weights.safetensors"; } >"$tmp/overlap.safetensors"

# memcheck NAME STATUS -- cmd...: runs cmd under valgrind, expects exit STATUS and a clean report
memcheck() {
    local name=$1 want=$2
    shift 3
    local log=$tmp/vg.log t0=$SECONDS rc lost errs why=()
    "${vg[@]}" --log-file="$log" "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$log" | tail -1)
    lost=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$log" | tail -1 | tr -d ,)
    [ "$rc" -eq "$want" ] || why+=("exit status $rc, expected $want (99: valgrind found errors)")
    [ "${errs:-x}" = 0 ] || why+=("valgrind: ${errs:-no} errors")
    [ "${lost:-0}" = 0 ] || why+=("valgrind: $lost bytes definitely lost")
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name ($((SECONDS - t0)) s)"
    else
        not_ok "$name" "${why[@]}" "stderr: $(head -c 300 "$tmp/stderr")" \
            "report: $(grep -E 'Invalid|uninitialised|definitely lost in|at 0x|by 0x' "$log" | head -25)"
    fi
}

memcheck "run: L-BFGS, 2 iterations, PNG and --log" 0 -- \
    "$bin" run --content "$C" --style "$S" --output "$tmp/out.png" --log "$tmp/log.jsonl" --iterations 2 "${small[@]}"
memcheck "run: Adam, --original-colors, 16-bit TIFF" 0 -- \
    "$bin" run --content "$C" --style "$S" --output "$tmp/out.tif" --output-bits 16 --optimizer adam \
    --original-colors --iterations 2 "${small[@]}"
memcheck "grad from a .npy" 0 -- \
    "$bin" grad --content "$C" --style "$S" --init "$fx/init.npy" --grad-out "$tmp/grad.npy" "${small[@]}"
memcheck "bad input: a PNG cut in half" 2 -- \
    "$bin" run --content "$tmp/half.png" --style "$S" --output "$tmp/bad.png" --iterations 2 "${small[@]}"
memcheck "bad input: overlapping weights" 2 -- \
    "$bin" run --content "$C" --style "$S" --output "$tmp/bad.png" --iterations 2 "${small[@]}" \
    --weights "$tmp/overlap.safetensors"
if [ -s "$tmp/out.png" ] && [ -s "$tmp/out.tif" ] && [ -s "$tmp/grad.npy" ]; then ok "outputs written"
else not_ok "outputs written" "$(ls "$tmp")"; fi

summary
