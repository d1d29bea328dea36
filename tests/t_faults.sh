#!/usr/bin/env bash
# t_faults.sh - failures from outside the input: a rank killed mid-run, an unwritable output folder,
# a full disk.
#
# - kill -9 of one rank of `mpirun -np 2 ... --mode exact` (rank 1, then rank 0) and of
#   `--mode independent` (rank 1), once the run has logged an iteration: mpirun must exit non-zero
#   within 20 s, every rank must be gone, and no output image may appear.
# - an output folder the user cannot write (as root the run is made as user nobody with setpriv, since
#   root writes anywhere; skipped when that is not possible): exit 2 with one error line naming the
#   folder, the output already there unchanged, nothing else written. Single mode and mpirun.
# - a full disk (as root: a 64 KiB tmpfs; skipped when mount is not permitted): PNG, JPEG, TIFF and
#   .npy outputs too large for it, and a --log on a disk that fills during the run: one error line
#   with the system's reason ("No space left on device"), the previous output unchanged, no temporary
#   left, and (for the log) no image written either. Single mode and mpirun (exact).
# Env: TESSERA_BIN (default bin/tessera).
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" faults
export OMP_NUM_THREADS=1
if [ ! -x "$bin" ]; then
    not_ok "$bin is not an executable (run make)"
    summary
    exit 1
fi
fx=$root/tests/fixtures/ref/vgg19_max
in=$tmp/in
mkdir -p "$in"
cp "$fx/content.png" "$fx/style.png" "$fx/weights.safetensors" "$fx/init.npy" "$in/"
C=$in/content.png
S=$in/style.png
W=$in/weights.safetensors
have_mpi=1
command -v mpirun >/dev/null || have_mpi=0

# check NAME COND...: a test(1)-style condition
check() {
    local name=$1
    shift
    if "$@"; then ok "$name"; else not_ok "$name" "failed: $*"; fi
}
# tmp_left DIR: names of temporaries left in DIR
tmp_left() { find "$1" -maxdepth 1 -name '*.tmp.*' -printf '%f ' 2>/dev/null; }
# gone PID...: true when none of the processes exists any more (zombies count as gone)
gone() {
    local p s
    for p in "$@"; do
        s=$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) || continue
        [ -n "$s" ] && [ "$s" != Z ] && return 1
    done
    return 0
}

# ---- a rank killed mid-run -----------------------------------------------------------------------
# kill_rank MODE RANK: starts a long run, kills RANK with SIGKILL after the first logged iteration
kill_rank() {
    local mode=$1 rank=$2 d=$tmp/kill_${1}_$2 what="kill -9 rank $2 of mpirun -np 2 --mode $1"
    mkdir -p "$d"
    mpirun -np 2 "$bin" run --content "$C" --style "$S" --output "$d/out.png" --log "$d/log.jsonl" \
        --weights random:1 --size 64 --iterations 1000000 --optimizer adam --mode "$mode" --quiet \
        >"$d/stdout" 2>"$d/stderr" &
    local mp=$! i p victim="" ranks=()
    for ((i = 0; i < 600; i++)); do # up to 60 s for the first iteration
        [ -s "$d/log.jsonl" ] && break
        kill -0 "$mp" 2>/dev/null || break
        sleep 0.1
    done
    for p in $(pgrep -P "$mp"); do
        ranks+=("$p")
        tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$rank" && victim=$p
    done
    if [ ! -s "$d/log.jsonl" ] || [ -z "$victim" ] || [ ${#ranks[@]} -ne 2 ]; then
        not_ok "$what: setup" "log: $(wc -l <"$d/log.jsonl" 2>/dev/null) lines, ranks: ${ranks[*]:-none}, victim: ${victim:-none}" \
            "stderr: $(head -c 400 "$d/stderr")"
        kill -9 "$mp" "${ranks[@]}" 2>/dev/null
        wait "$mp" 2>/dev/null
        return
    fi
    local t0 rc=""
    t0=$(date +%s%N)
    kill -9 "$victim"
    for ((i = 0; i < 200; i++)); do # 20 s
        if ! kill -0 "$mp" 2>/dev/null; then
            wait "$mp"
            rc=$?
            break
        fi
        sleep 0.1
    done
    local ms=$((($(date +%s%N) - t0) / 1000000))
    if [ -z "$rc" ]; then
        not_ok "$what: mpirun exits within 20 s" "still running after ${ms} ms"
        kill -9 "$mp" "${ranks[@]}" 2>/dev/null
        wait "$mp" 2>/dev/null
    else
        ok "$what: mpirun exits within 20 s (${ms} ms)"
        check "$what: exit status non-zero (got $rc)" test "$rc" -ne 0
    fi
    for ((i = 0; i < 50; i++)); do gone "${ranks[@]}" && break; sleep 0.1; done
    check "$what: every rank is gone" gone "${ranks[@]}"
    check "$what: no output image" test ! -e "$d/out.png"
    check "$what: no temporary left ($(tmp_left "$d"))" test -z "$(tmp_left "$d")"
}

if [ "$have_mpi" -eq 1 ]; then
    kill_rank exact 1
    kill_rank exact 0
    kill_rank independent 1
else
    ok "killed rank (skipped: no mpirun)"
fi

# ---- expect_write_error NAME PATTERN PRECIOUS -- cmd...: exit 2, one error line matching PATTERN, the
# file PRECIOUS (an earlier output) unchanged, no temporary left beside it
expect_write_error() {
    local name=$1 pat=$2 precious=$3
    shift 4
    local dir before rc last n
    dir=$(dirname "$precious")
    before=$(md5sum <"$precious")
    timeout 120 "$@" >"$tmp/stdout" 2>"$tmp/stderr"
    rc=$?
    last=$(grep -h '^tessera: error:' "$tmp/stderr" "$tmp/stdout" | head -n 1)
    n=$(grep -hc '^tessera: error:' "$tmp/stderr" "$tmp/stdout" | awk '{s += $1} END {print s}')
    local why=()
    [ "$rc" -eq 2 ] || why+=("exit status $rc, expected 2")
    [ "$n" -eq 1 ] || why+=("$n error lines, expected 1")
    grep -qE -- "$pat" <<<"$last" || why+=("error line does not match /$pat/")
    grep -q '^\[rank' "$tmp/stderr" && why+=("a fatal [rank r] line")
    [ "$(md5sum <"$precious")" = "$before" ] || why+=("the earlier output $precious changed")
    [ -z "$(tmp_left "$dir")" ] || why+=("temporary left: $(tmp_left "$dir")")
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name"
        printf '    %s\n' "$last"
    else
        not_ok "$name" "${why[@]}" "error line: ${last:-none}" "stderr: $(head -c 500 "$tmp/stderr")"
    fi
}

# ---- an unwritable output folder -----------------------------------------------------------------
ro=$tmp/readonly
mkdir -p "$ro"
printf 'an earlier output\n' >"$ro/out.png"
as_user=()
if [ "$(id -u)" -eq 0 ]; then
    # root ignores permissions: run as nobody, who can read the inputs but not write the folder
    if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
        as_user=(setpriv --reuid=65534 --regid=65534 --clear-groups)
        chmod 755 "$tmp" "$in"
        chmod 644 "$in"/*
    fi
fi
chmod 555 "$ro"
if [ "$(id -u)" -eq 0 ] && [ ${#as_user[@]} -eq 0 ]; then
    ok "unwritable folder (skipped: root without setpriv cannot be denied a write)"
elif ! "${as_user[@]}" test -r "$bin" -a -r "$C"; then
    ok "unwritable folder (skipped: user nobody cannot read $bin or the inputs)"
else
    run_args=(run --content "$C" --style "$S" --output "$ro/out.png" --weights "$W" --size 32 --iterations 2 --quiet)
    expect_write_error "unwritable folder: single mode" 'readonly.*not writable' "$ro/out.png" -- \
        "${as_user[@]}" "$bin" "${run_args[@]}"
    mkdir -p "$tmp/open"
    chmod 777 "$tmp/open"
    expect_write_error "unwritable folder: --log there" 'readonly.*not writable' "$ro/out.png" -- \
        "${as_user[@]}" "$bin" "${run_args[@]}" --output "$tmp/open/out.png" --log "$ro/log.jsonl"
    check "unwritable folder: no output elsewhere" test -z "$(ls -A "$tmp/open")"
    if [ "$have_mpi" -eq 1 ]; then
        # as nobody, mpirun needs no permission to run as root, and a HOME it may use
        expect_write_error "unwritable folder: mpirun -np 2 --mode exact" 'readonly.*not writable' "$ro/out.png" -- \
            env HOME=/tmp "${as_user[@]}" mpirun -np 2 "$bin" "${run_args[@]}" --mode exact
    fi
    check "unwritable folder: holds only the earlier output" test "$(ls -A "$ro")" = out.png
fi
chmod 755 "$ro"

# ---- a full disk ---------------------------------------------------------------------------------
full=$tmp/full
mkdir -p "$full"
if [ "$(id -u)" -ne 0 ] || ! mount -t tmpfs -o size=64k,mode=755 tessera-full "$full" 2>/dev/null; then
    ok "full disk (skipped: cannot mount a 64 KiB tmpfs; needs root)"
else
    trap 'umount "$full" 2>/dev/null; rm -rf "$tmp"' EXIT
    printf 'an earlier output\n' >"$full/out.png"
    cp "$full/out.png" "$full/out.jpg"
    cp "$full/out.png" "$full/out.tif"
    cp "$full/out.png" "$full/grad.npy"
    # random start and 256 px: outputs of 100-200 KB, which cannot fit
    big=(--content "$C" --style "$S" --weights "$W" --size 256 --iterations 1 --init random --quiet)
    for ext in png jpg tif; do
        expect_write_error "full disk: .$ext output" "out\\.$ext.*No space left on device" "$full/out.$ext" -- \
            "$bin" run "${big[@]}" --output "$full/out.$ext"
    done
    expect_write_error "full disk: grad .npy output" "grad\\.npy.*No space left on device" "$full/grad.npy" -- \
        "$bin" grad --content "$C" --style "$S" --weights "$W" --size 256 --init random --grad-out "$full/grad.npy" --quiet
    if [ "$have_mpi" -eq 1 ]; then
        expect_write_error "full disk: mpirun -np 2 --mode exact, .png output" "out\\.png.*No space left on device" \
            "$full/out.png" -- mpirun -np 2 "$bin" run "${big[@]}" --output "$full/out.png" --mode exact
    fi
    # the log: the image goes elsewhere; the disk the log is on fills up during the run
    mkdir -p "$tmp/img"
    head -c 60000 /dev/zero >"$full/filler" 2>/dev/null
    expect_write_error "full disk: --log on a full disk" "log\\.jsonl.*(No space left on device|could not)" "$full/out.png" -- \
        "$bin" run "${big[@]}" --size 32 --iterations 200 --output "$tmp/img/out.png" --log "$full/log.jsonl"
    if [ "$have_mpi" -eq 1 ]; then
        rm -f "$full/log.jsonl"
        expect_write_error "full disk: --log on a full disk, mpirun -np 2 --mode exact" \
            "log\\.jsonl.*No space left on device" "$full/out.png" -- \
            mpirun -np 2 "$bin" run "${big[@]}" --size 32 --iterations 200 --output "$tmp/img/out.png" \
            --log "$full/log.jsonl" --mode exact
    fi
    rm -f "$full/filler"
    check "full disk: no image written elsewhere" test ! -e "$tmp/img/out.png"
    left=$(cd "$full" && find . -mindepth 1 ! -name log.jsonl | sort | tr '\n' ' ')
    check "full disk: holds only the earlier outputs and the log (besides it: $left)" \
        test "$left" = "./grad.npy ./out.jpg ./out.png ./out.tif "
    umount "$full" 2>/dev/null || not_ok "full disk: umount"
    trap 'rm -rf "$tmp"' EXIT
fi

summary
