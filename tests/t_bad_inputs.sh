#!/usr/bin/env bash
# t_bad_inputs.sh - the catalogue of bad inputs (tests/bad_inputs/README.md lists every case).
#
# Every case below runs as one process and under `mpirun -np 2` in --mode exact and --mode independent
# (grad cases: single and exact, as grad has no independent mode). A bad input must end with exit
# status 2 within the time limit (no hang), one "tessera: error: ..." line that matches the case's
# pattern and is the only "tessera:" line (single mode: the only line on stderr, nothing on stdout),
# no "[rank r]" fatal line, and nothing at all in the run's output folder (no image, log, gradient or
# temporary). A few inputs only look odd and are accepted (a PNG named .jpg; an unknown config key,
# which is warned about once): those must exit 0 and write the output.
#
# Inputs are built by tests/bad_inputs/craft.sh from the committed fixtures and fuzz seeds. In
# sanitizer builds (make test SANITIZE=1) LeakSanitizer runs on the single-mode runs only.
# Env: TESSERA_BIN (default bin/tessera), TESSERA_TEST_JOBS (runs in parallel, default 4; most of a
# failing run's time is Open MPI start-up and shut-down, not CPU), TESSERA_CASE_TIMEOUT (s, default 60),
# TESSERA_CASES (an extended regex: only the cases whose name matches; the README check still covers all).
# `bash tests/t_bad_inputs.sh --list` prints the catalogue as a Markdown table.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" bad-inputs
# shellcheck source=tests/bad_inputs/craft.sh
source "$root/tests/bad_inputs/craft.sh"
export OMP_NUM_THREADS=1
jobs=${TESSERA_TEST_JOBS:-4}
limit=${TESSERA_CASE_TIMEOUT:-60}

# The catalogue: NAME | EXPECT | MODES | ARGUMENTS
#   EXPECT     an extended regex the error line must match; "ok" (accepted: exit 0, output written);
#              "warn:REGEX" (accepted with one "tessera: warning:" line matching REGEX)
#   MODES      "all" (single, exact, independent) or a list of them
#   ARGUMENTS  tessera's arguments; $RUN is a good run (content, style, output, log, the narrow fixture
#              weights, 32 px, 2 iterations), later flags override earlier ones; $GRAD the same for
#              grad; $in the inputs' folder; $D the run's (empty) output folder; $C $S $O $W19 $W16.
catalogue() {
    cat <<'EOF'
image: missing file                  | nosuch\.png.*No such file           | all | $RUN --content $in/nosuch.png
image: empty file                    | empty\.png.*empty                   | all | $RUN --content $in/empty.png
image: a directory                   | dir\.png.*directory                 | all | $RUN --content $in/dir.png
image: text file named .png          | text\.png.*not a PNG                | all | $RUN --content $in/text.png
image: text file named .jpg          | text\.jpg.*not a PNG                | all | $RUN --content $in/text.jpg
image: PNG named .jpg (accepted)     | ok                                  | all | $RUN --content $in/png_named.jpg
image: JPEG named .tif (accepted)    | ok                                  | all | $RUN --content $in/jpeg_named.tif
image: PNG cut in half               | half\.png.*truncated                | all | $RUN --content $in/half.png
image: PNG with only its header      | hdronly\.png.*truncated             | all | $RUN --content $in/hdronly.png
image: PNG with a bad IHDR CRC       | badcrc\.png.*CRC                    | all | $RUN --content $in/badcrc.png
image: PNG with garbage image data   | garbage\.png.*bad PNG               | all | $RUN --content $in/garbage.png
image: PNG with bit depth 3          | depth3\.png.*IHDR                   | all | $RUN --content $in/depth3.png
image: PNG with colour type 5        | ctype5\.png.*IHDR                   | all | $RUN --content $in/ctype5.png
image: PNG declaring 100000x100000   | huge\.png.*100000x100000.*max-pixels | all | $RUN --content $in/huge.png
image: JPEG cut in half              | half\.jpg.*(truncated|Premature)    | all | $RUN --content $in/half.jpg
image: JPEG cut after its headers    | hdronly\.jpg.*(truncated|Premature) | all | $RUN --content $in/hdronly.jpg
image: JPEG with garbage scan data   | garbage\.jpg.*(Corrupt|truncated)   | all | $RUN --content $in/garbage.jpg
image: JPEG with 12-bit samples      | p12\.jpg.*precision 12              | all | $RUN --content $in/p12.jpg
image: CMYK JPEG (accepted)          | ok                                  | all | $RUN --content $in/cmyk.jpg
image: portrait JPEG, EXIF orientation 6 (accepted) | ok                 | all | $RUN --content $in/portrait.jpg
image: --background grey             | --background.*grey                  | all | $RUN --background grey
image: --background 1,2              | --background                        | all | $RUN --background 1,2
image: --keep-alpha to a JPEG        | keep-alpha.*png                     | all | $RUN --keep-alpha --output $D/out.jpg
image: JPEG declaring 60000x60000    | huge\.jpg.*60000x60000.*max-pixels  | all | $RUN --content $in/huge.jpg
image: TIFF cut in half              | half\.tif.*TIFF                     | all | $RUN --content $in/half.tif
image: TIFF with a garbage IFD       | garbage_ifd\.tif.*TIFF              | all | $RUN --content $in/garbage_ifd.tif
image: TIFF with its IFD beyond the end | ifd_beyond\.tif.*TIFF            | all | $RUN --content $in/ifd_beyond.tif
image: TIFF with garbage deflate data | garbage_data\.tif.*TIFF            | all | $RUN --content $in/garbage_data.tif
image: TIFF declaring 100000x100000  | huge\.tif.*100000x100000.*max-pixels | all | $RUN --content $in/huge.tif
image: TIFF with 65520x65520 tiles   | huge_tiles\.tif.*tiles.*max-pixels  | all | $RUN --content $in/huge_tiles.tif
image: TIFF with 65535 samples per pixel | spp65535\.tif.*65535 samples      | all | $RUN --content $in/spp65535.tif
image: 1-bit TIFF (accepted)         | ok                                  | all | $RUN --content $in/bilevel1.tif
image: 32-bit signed TIFF            | int32\.tif.*32-bit signed           | all | $RUN --content $in/int32.tif
image: palette TIFF (accepted)       | ok                                  | all | $RUN --content $in/palette.tif
image: CMYK TIFF (accepted)          | ok                                  | all | $RUN --content $in/cmyk.tif
image: content over --max-pixels 100 | content\.png.*--max-pixels          | all | $RUN --max-pixels 100
image: style over --max-pixels       | style\.png.*--max-pixels            | all | $RUN --content $in/rgb.jpg --max-pixels 500
image: style cut in half             | half\.png.*truncated                | all | $RUN --style $in/half.png
image: second style missing          | nosuch\.png                         | all | $RUN --style $S,$in/nosuch.png
image: --init .npy cut in half       | half\.npy.*truncated                | all | $RUN --init $in/half.npy
image: --init .npy of shape (4,2,2)  | four\.npy.*shape                    | all | $RUN --init $in/four.npy
image: --init .npy holding NaN       | nan\.npy.*NaN                       | all | $RUN --init $in/nan.npy
image: --init .npy in Fortran order  | fortran\.npy.*Fortran               | all | $RUN --init $in/fortran.npy
image: --init .npy declaring 3x100000x100000 | huge\.npy                   | all | $RUN --init $in/huge.npy
image: --init file missing           | nosuch\.png                         | all | $RUN --init $in/nosuch.png
weights: missing file                | nosuch\.safetensors.*No such file   | all | $RUN --weights $in/nosuch.safetensors
weights: empty file                  | empty\.safetensors.*too short       | all | $RUN --weights $in/empty.safetensors
weights: a directory                 | dir\.safetensors.*regular file      | all | $RUN --weights $in/dir.safetensors
weights: cut in half                 | half\.safetensors.*beyond the data  | all | $RUN --weights $in/half.safetensors
weights: header length beyond the file | hdr_beyond\.safetensors.*beyond the end | all | $RUN --weights $in/hdr_beyond.safetensors
weights: header length 2^63-1        | hdr_huge\.safetensors.*beyond the end | all | $RUN --weights $in/hdr_huge.safetensors
weights: header not JSON             | not_json\.safetensors.*not valid JSON | all | $RUN --weights $in/not_json.safetensors
weights: header a JSON array         | array\.safetensors.*not an object   | all | $RUN --weights $in/array.safetensors
weights: trailing bytes after the header JSON | trailing\.safetensors.*trailing | all | $RUN --weights $in/trailing.safetensors
weights: offsets beyond the data     | beyond\.safetensors.*beyond the data | all | $RUN --weights $in/beyond.safetensors
weights: offsets begin after end     | begin_after_end\.safetensors.*begin | all | $RUN --weights $in/begin_after_end.safetensors
weights: overlapping offsets         | overlap\.safetensors.*overlap       | all | $RUN --weights $in/overlap.safetensors
weights: negative offset             | negative_offset\.safetensors.*non-negative | all | $RUN --weights $in/negative_offset.safetensors
weights: dtype I64                   | dtype_i64\.safetensors.*I64.*not supported | all | $RUN --weights $in/dtype_i64.safetensors
weights: unknown dtype               | dtype_unknown\.safetensors.*unknown dtype | all | $RUN --weights $in/dtype_unknown.safetensors
weights: byte count not dtype x shape | bytes_mismatch\.safetensors.*needs 36 | all | $RUN --weights $in/bytes_mismatch.safetensors
weights: negative dimension          | shape_negative\.safetensors.*shape  | all | $RUN --weights $in/shape_negative.safetensors
weights: wrong shape, same size      | wrong_shape\.safetensors.*features\.2\.weight | all | $RUN --weights $in/wrong_shape.safetensors
weights: missing key                 | missing_key\.safetensors.*features\.0\.bias | all | $RUN --weights $in/missing_key.safetensors
weights: key given twice             | duplicate_key\.safetensors.*twice   | all | $RUN --weights $in/duplicate_key.safetensors
weights: NaN weight                  | nan\.safetensors.*NaN               | all | $RUN --weights $in/nan.safetensors
weights: infinite bias               | inf\.safetensors.*infinite          | all | $RUN --weights $in/inf.safetensors
weights: metadata value not a string | meta_not_string\.safetensors.*__metadata__ | all | $RUN --weights $in/meta_not_string.safetensors
weights: unknown preprocessing       | meta_unknown_pre\.safetensors.*preprocessing | all | $RUN --weights $in/meta_unknown_pre.safetensors
weights: VGG16 file with --arch vgg19 | w16\.safetensors.*vgg19            | all | $RUN --weights $W16 --arch vgg19
weights: random:abc                  | random:abc                          | all | $RUN --weights random:abc
config: missing file                 | nosuch\.json.*No such file          | all | $RUN --config $in/nosuch.json
config: empty file                   | empty\.json.*malformed              | all | $RUN --config $in/empty.json
config: a directory                  | dir\.json.*regular file             | all | $RUN --config $in/dir.json
config: malformed JSON               | malformed\.json.*malformed          | all | $RUN --config $in/malformed.json
config: byte-order mark (accepted)   | ok                                  | all | $RUN --config $in/bom.json
config: a JSON array                 | array\.json.*JSON object            | all | $RUN --config $in/array.json
config: string for a number          | wrong_type\.json.*size.*number      | all | $RUN --config $in/wrong_type.json
config: object for a number          | object_value\.json.*size.*number    | all | $RUN --config $in/object_value.json
config: number for a bool            | bool_number\.json.*quiet            | all | $RUN --config $in/bool_number.json
config: numbers for a list of names  | list_type\.json.*style-layers       | all | $RUN --config $in/list_type.json
config: list of 17 values            | list_long\.json.*iterations         | all | $RUN --config $in/list_long.json
config: size out of range            | size3\.json.*size.*out of range     | all | $RUN --config $in/size3.json
config: number overflowing a double  | overflow\.json.*size                | all | $RUN --config $in/overflow.json
config: negative style weight        | neg_weight\.json.*style-weight      | all | $RUN --config $in/neg_weight.json
config: arch not a choice            | arch\.json.*vgg11                   | all | $RUN --config $in/arch.json
config: unknown layer name           | relu9_1                             | all | $RUN --config $in/bad_layer.json
config: key given twice              | dup\.json.*twice                    | all | $RUN --config $in/dup.json
config: 200000 keys, one given twice | many_keys\.json.*k7.*twice          | all | $RUN --config $in/many_keys.json
config: unknown key (warned, not fatal) | warn:unknown_key\.json.*no_such_option | all | $RUN --config $in/unknown_key.json
flags: unknown flag                  | --no-such-flag                      | all | $RUN --no-such-flag 1
flags: stray argument                | stray                               | all | $RUN stray
flags: value missing at the end      | --size.*needs a value               | all | $RUN --size
flags: --size abc                    | --size.*number                      | all | $RUN --size abc
flags: --size 32x                    | --size.*number                      | all | $RUN --size 32x
flags: --size 1e9                    | --size.*out of range                | all | $RUN --size 1e9
flags: --size 20, too small for relu5_1 | relu5_1                          | all | $RUN --size 20
flags: --iterations -1               | --iterations.*out of range          | all | $RUN --iterations -1
flags: --iterations with 3 values for one scale | --iterations             | all | $RUN --iterations 1,2,3
flags: --scales decreasing           | --scales.*increase                  | all | $RUN --scales 64,32 --size 32
flags: --max-pixels 0                | --max-pixels.*out of range          | all | $RUN --max-pixels 0
flags: --content-weight nan          | --content-weight.*number            | all | $RUN --content-weight nan
flags: --style-weight inf            | --style-weight.*number              | all | $RUN --style-weight inf
flags: --tv-weight -1                | --tv-weight.*out of range           | all | $RUN --tv-weight -1
flags: --arch vgg11                  | vgg11                               | all | $RUN --arch vgg11
flags: --pool min                    | --pool.*min                         | all | $RUN --pool min
flags: --conv fft                    | --conv.*fft                         | all | $RUN --conv fft
flags: --preprocess bgr              | --preprocess.*bgr                   | all | $RUN --preprocess bgr
flags: --backend tpu                 | --backend.*tpu                      | all | $RUN --backend tpu
flags: --optimizer sgd               | --optimizer.*sgd                    | all | $RUN --optimizer sgd
flags: --mode bogus                  | --mode.*bogus                       | all | $RUN --mode bogus
flags: --lbfgs-history 0             | --lbfgs-history.*out of range       | all | $RUN --lbfgs-history 0
flags: --learning-rate 0             | --learning-rate.*out of range       | all | $RUN --learning-rate 0
flags: --threads -1                  | --threads.*out of range             | all | $RUN --threads -1
flags: --save-every -1               | --save-every.*out of range          | all | $RUN --save-every -1
flags: --halo -5                     | --halo.*out of range                | all | $RUN --halo -5
flags: --output-bits 12              | --output-bits                       | all | $RUN --output-bits 12
flags: --style-layers relu9_1        | relu9_1                             | all | $RUN --style-layers relu1_1,relu9_1
flags: a style layer listed twice    | relu2_1.*twice                      | all | $RUN --style-layers relu1_1,relu2_1,relu2_1
flags: --layer-weights count         | --layer-weights                     | all | $RUN --layer-weights 1,2
flags: --style-blend-weights count   | --style-blend-weights               | all | $RUN --style-blend-weights 1,2
flags: --style-blend-weights all zero | --style-blend-weights.*zero        | all | $RUN --style $S,$S --style-blend-weights 0,0
flags: trailing comma in --style     | empty element                       | all | $RUN --style $S,
masks: mask file missing             | nosuch\.png.*No such file           | all | $RUN --style-masks $in/nosuch.png
masks: mask cut in half              | half\.png.*truncated                | all | $RUN --style-masks $in/half.png
masks: more masks than styles        | --style-masks has 2 masks for 1 style | all | $RUN --style-masks $C,$C
masks: style-image masks alone       | --style-image-masks needs --style-masks | all | $RUN --style-image-masks $S
masks: style-image masks count       | --style-image-masks has 2 masks for 1 | all | $RUN --style-masks $C --style-image-masks $S,$S
masks: a black style-image mask      | black\.npy.*black                   | all | $RUN --style-masks $C --style-image-masks $in/black.npy
masks: a photo as mask (accepted)    | ok                                  | all | $RUN --style-masks $C --style-image-masks $S
flags: missing --content             | --content.*required                 | all | run --style $S --output $O --weights $W19 --size 32 --quiet
flags: missing --style               | --style.*required                   | all | run --content $C --output $O --weights $W19 --size 32 --quiet
flags: missing --output              | --output.*required                  | all | run --content $C --style $S --weights $W19 --size 32 --quiet
flags: output name out.xyz           | out\.xyz                            | all | $RUN --output $D/out.xyz
flags: output in a missing folder    | nosuch                              | all | $RUN --output $D/nosuch/out.png
flags: output is a directory         | dir\.png.*directory                 | all | $RUN --output $in/dir.png
flags: --log in a missing folder     | nosuch                              | all | $RUN --log $D/nosuch/log.jsonl
grad: missing --grad-out             | --grad-out.*required                | single exact | grad --content $C --style $S --init $in/init.npy --weights $W19 --size 32 --quiet
grad: --grad-out not .npy            | g\.png.*npy                         | single exact | $GRAD --grad-out $D/g.png
grad: missing --init                 | --init.*required                    | single exact | grad --content $C --style $S --grad-out $G --weights $W19 --size 32 --quiet
grad: --init .npy cut in half        | half\.npy.*truncated                | single exact | $GRAD --init $in/half.npy
grad: --grad-out in a missing folder | nosuch                              | single exact | $GRAD --grad-out $D/nosuch/g.npy
EOF
}

# the table as fields: NAME<TAB>EXPECT<TAB>MODES<TAB>ARGS (a column bar has spaces on both sides; a bar
# inside a pattern has none)
table() {
    catalogue | sed -E 's/[[:space:]]+\|[[:space:]]+/\t/g; s/[[:space:]]+$//'
}

if [ "${1:-}" = --list ]; then
    echo "| case | expected | modes |"
    echo "|---|---|---|"
    table | while IFS=$'\t' read -r name expect modes _; do
        case $expect in ok) e="accepted" ;; warn:*) e="accepted, warning /${expect#warn:}/" ;; *) e="exit 2, /$expect/" ;; esac
        printf '| %s | %s | %s |\n' "$name" "${e//|/\\|}" "$modes"
    done
    exit 0
fi

if [ ! -x "$bin" ]; then
    not_ok "$bin is not an executable (run make)"
    summary
    exit 1
fi
in=$tmp/in
if ! craft_bad_inputs "$in" >"$tmp/craft.log" 2>&1; then
    not_ok "setup: building the bad inputs" "$(cat "$tmp/craft.log")"
fi
have_mpi=1
command -v mpirun >/dev/null || have_mpi=0

# run_one INDEX MODE ARGS: runs one case in one mode; leaves rc, seconds, stdout, stderr in its folder
# shellcheck disable=SC2034  # the locals are for the arguments' eval
run_one() {
    local k=$1 mode=$2 args=$3
    local r=$tmp/runs/$k.$mode
    mkdir -p "$r/out"
    local D=$r/out C=$in/content.png S=$in/style.png W19=$in/w19.safetensors W16=$in/w16.safetensors
    local O=$D/out.png L=$D/log.jsonl G=$D/grad.npy
    local RUN="run --content $C --style $S --output $O --log $L --weights $W19 --size 32 --iterations 2 --quiet"
    local GRAD="grad --content $C --style $S --init $in/init.npy --grad-out $G --weights $W19 --size 32 --quiet"
    eval "set -- $args"
    local cmd=$1
    shift
    local t0=$SECONDS
    if [ "$mode" = single ]; then
        timeout "$limit" "$bin" "$cmd" "$@" >"$r/stdout" 2>"$r/stderr"
    else # sanitizer builds: leaks are checked in the single-mode runs (the same error paths on rank 0);
         # under mpirun only ASan's memory errors and UBSan, as leak checking costs seconds a process
        ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
            timeout "$limit" mpirun -np 2 "$bin" "$cmd" --mode "$mode" "$@" >"$r/stdout" 2>"$r/stderr"
    fi
    echo $? >"$r/rc"
    echo $((SECONDS - t0)) >"$r/seconds"
}

# check_one INDEX MODE NAME EXPECT: the verdict on one run
check_one() {
    local k=$1 mode=$2 name=$3 expect=$4
    local r=$tmp/runs/$k.$mode why=() rc secs lines err left
    rc=$(cat "$r/rc")
    secs=$(cat "$r/seconds")
    left=$(cd "$r/out" && find . -mindepth 1 | sed 's|^\./||' | sort | tr '\n' ' ')
    lines=$(cat "$r/stdout" "$r/stderr" | grep -c '^tessera:')
    err=$(cat "$r/stdout" "$r/stderr" | grep '^tessera: error:' | head -n 1)
    [ "$rc" -eq 124 ] && why+=("no exit within ${limit} s (hang)")
    grep -q '^\[rank [0-9]*\]' "$r/stderr" && why+=("a fatal [rank r] line")
    case $expect in
    ok | warn:*)
        [ "$rc" -eq 0 ] || why+=("exit status $rc, expected 0")
        [ -s "$r/out/out.png" ] || why+=("no output written")
        [ -z "$err" ] || why+=("an error line: $err")
        case $left in *tmp*) why+=("temporary left: $left") ;; esac
        if [ "${expect%%:*}" = warn ]; then
            local w n
            n=$(grep -c '^tessera: warning:' "$r/stderr")
            w=$(grep '^tessera: warning:' "$r/stderr" | head -n 1)
            [ "$n" -eq 1 ] || why+=("$n warning lines, expected 1")
            grep -qE -- "${expect#warn:}" <<<"$w" || why+=("warning does not match /${expect#warn:}/: $w")
        fi
        ;;
    *)
        [ "$rc" -eq 2 ] || why+=("exit status $rc, expected 2")
        [ -n "$err" ] || why+=("no 'tessera: error:' line")
        [ "$lines" -eq 1 ] || why+=("$lines 'tessera:' lines, expected 1")
        [ -z "$err" ] || grep -qE -- "$expect" <<<"$err" || why+=("error line does not match /$expect/")
        if [ "$mode" = single ]; then
            [ "$(wc -l <"$r/stderr")" -eq 1 ] || why+=("stderr has $(wc -l <"$r/stderr") lines, expected 1")
            [ ! -s "$r/stdout" ] || why+=("output on stdout")
        fi
        [ -z "$left" ] || why+=("left in the output folder: $left")
        ;;
    esac
    if [ ${#why[@]} -eq 0 ]; then
        ok "$name [$mode, ${secs}s]"
    else
        not_ok "$name [$mode]" "${why[@]}" "error line: ${err:-none}" "stderr: $(head -c 500 "$r/stderr")"
    fi
}

# ---- run every case in every mode, a few at a time, then judge them in order ----------------------
mapfile -t rows < <(table | grep -E -- "^[^	]*(${TESSERA_CASES:-.})")
declare -a names expects modelist argv
for ((k = 0; k < ${#rows[@]}; k++)); do
    IFS=$'\t' read -r "names[k]" "expects[k]" "modelist[k]" "argv[k]" <<<"${rows[k]}"
    [ "${modelist[k]}" = all ] && modelist[k]="single exact independent"
done
running=0
for ((k = 0; k < ${#rows[@]}; k++)); do
    for mode in ${modelist[k]}; do
        [ "$mode" != single ] && [ "$have_mpi" -eq 0 ] && continue
        run_one "$k" "$mode" "${argv[k]}" &
        running=$((running + 1))
        if [ "$running" -ge "$jobs" ]; then
            wait -n
            running=$((running - 1))
        fi
    done
done
wait
for ((k = 0; k < ${#rows[@]}; k++)); do
    for mode in ${modelist[k]}; do
        [ "$mode" != single ] && [ "$have_mpi" -eq 0 ] && continue
        check_one "$k" "$mode" "${names[k]}" "${expects[k]}"
    done
done
[ "$have_mpi" -eq 1 ] || ok "MPI modes (skipped: no mpirun)"

# names must be unique, and tests/bad_inputs/README.md must list every case
dups=$(table | cut -f1 | sort | uniq -d | tr '\n' ';')
if [ -z "$dups" ]; then ok "case names are unique"; else not_ok "case names are unique" "repeated: $dups"; fi
missing=()
mapfile -t all_names < <(table | cut -f1)
for n in "${all_names[@]}"; do grep -qF -- "| $n |" "$root/tests/bad_inputs/README.md" 2>/dev/null || missing+=("$n"); done
if [ ${#missing[@]} -eq 0 ]; then ok "tests/bad_inputs/README.md lists all ${#all_names[@]} cases"
else not_ok "tests/bad_inputs/README.md lists every case" "missing: ${missing[*]}" "(regenerate the table with: bash tests/t_bad_inputs.sh --list)"; fi

summary
