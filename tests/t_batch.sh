#!/usr/bin/env bash
# t_batch.sh - tessera batch: the smoke sweep under mpirun -np 2 (every task done, manifest, per-task
# files, summary), re-runs skip finished tasks, --list/--task/--summary, output-folder precedence, a
# group of 2 ranks runs its task tiled, the dynamic queue balances uneven tasks, bad job files stop
# with exit 2 before any task, a task that cannot write its output is marked failed, stop requests
# (STOP file, signal) leave tasks pending; index.html renders in headless Chromium.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" batch
if ! command -v mpirun >/dev/null; then echo "skipped: no mpirun"; echo "0 passed, 0 failed"; exit 0; fi
mpi() { local np=$1; shift; timeout 300 mpirun --oversubscribe -np "$np" "$@"; }
py=/usr/bin/python3
[ -x "$py" ] || py=python3

F=$root/tests/fixtures/ref
C1=$F/vgg19_max/content.png S1=$F/vgg19_max/style.png C2=$F/two_styles/content.png
# small and shallow: the network up to relu3_1, so a task takes a fraction of a second
FAST='"weights": "random", "style_layers": ["relu1_1", "relu2_1", "relu3_1"], "content_layers": ["relu3_1"], "threads": 1'

# json_get FILE EXPR: a Python expression over the parsed file j (prints it)
json_get() { "$py" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }

# ---- the smoke sweep: jobs/smoke.json under mpirun -np 2 ----
D=/usr/share/darknet/data
if [ -f "$D/dog.jpg" ] && [ -f "$D/scream.jpg" ]; then
    out=$tmp/smoke
    t0=$SECONDS
    if mpi 2 "$bin" batch jobs/smoke.json --output-dir "$out" >"$tmp/smoke.out" 2>"$tmp/smoke.err"; then
        ok "smoke sweep exits 0 under mpirun -np 2 ($((SECONDS - t0)) s)"
    else
        not_ok "smoke sweep exits 0" "$(tail -5 "$tmp/smoke.err")"
    fi
    mapfile -t names < <("$bin" batch jobs/smoke.json --list | tail -n +2)
    n=$("$bin" batch jobs/smoke.json --list | head -1)
    [ "$n" = 4 ] && [ ${#names[@]} -eq 4 ] && ok "--list: 4 tasks, one name per line" ||
        not_ok "--list: 4 tasks" "count $n, names ${#names[@]}"
    [[ " ${names[*]} " == *" dog__scream__size-64_style_weight-1e5 "* ]] && ok "task names carry inputs and grid values" ||
        not_ok "task names carry inputs and grid values" "${names[*]}"
    m=$out/manifest.json
    if check=$(json_get "$m" "'|'.join(sorted(t['name'] for t in j['tasks'])) + ' ' + ','.join(sorted(set(t['status'] for t in j['tasks']))) + ' ' + str(all(set(t) >= {'name','params','status','output','loss','seconds'} and t['loss'] > 0 and t['seconds'] > 0 and 'size' in t['params'] and 'style_weight' in t['params'] for t in j['tasks']))" 2>&1) &&
        [ "$check" = "$(printf '%s\n' "${names[@]}" | sort | paste -sd'|') done True" ]; then
        ok "manifest.json: valid JSON, 4 tasks done with name, params, output, loss, seconds"
    else
        not_ok "manifest.json valid and complete" "$check"
    fi
    missing=""
    for nm in "${names[@]}"; do
        for f in output.png config.json log.jsonl loss.svg DONE; do [ -s "$out/$nm/$f" ] || missing="$missing $nm/$f"; done
        rel=$(json_get "$m" "[t['output'] for t in j['tasks'] if t['name'] == '$nm'][0]")
        [ -f "$out/$rel" ] || missing="$missing manifest-output:$rel"
    done
    [ -z "$missing" ] && ok "per-task image, config, log, loss plot and DONE present" || not_ok "per-task files" "$missing"
    nm=dog__scream__size-64_style_weight-1e5
    [ "$(json_get "$out/$nm/config.json" "j['size'], j['style_weight'], j['output'].endswith('$nm/output.png')")" = "64 100000 True" ] &&
        ok "config.json holds the task's resolved options" || not_ok "config.json holds the task's options"
    grep -q '<polyline' "$out/$nm/loss.svg" && grep -q '>iteration<' "$out/$nm/loss.svg" && grep -q 'log scale' "$out/$nm/loss.svg" &&
        ok "loss.svg: a curve with labelled axes" || not_ok "loss.svg: a curve with labelled axes"
    [ -s "$out/index.html" ] && grep -c '<img class="thumb"' "$out/index.html" | grep -qx 4 &&
        ok "index.html has 4 thumbnails" || not_ok "index.html has 4 thumbnails"
    ! grep -Eq 'src="(https?:)?//|<script' "$out/index.html" && ok "index.html is self-contained (no remote or script)" ||
        not_ok "index.html is self-contained"
    grep -q '4 of 4 tasks use the random stand-in' "$out/index.html" && grep -q 'tasks use the random stand-in' "$tmp/smoke.err" &&
        ok "the random stand-in network is named on the page and on stderr" || not_ok "random stand-in labelled"
    [ "$(grep -c ': started' "$tmp/smoke.err")" = 4 ] && [ "$(grep -c ': done in' "$tmp/smoke.err")" = 4 ] &&
        grep -q 'group 1' "$tmp/smoke.err" && grep -q 'group 0' "$tmp/smoke.err" &&
        ok "progress: a start and a finish line per task, both groups worked" ||
        not_ok "progress lines" "$(cat "$tmp/smoke.err")"

    # ---- re-running skips what is done ----
    before=$(stat -c %Y "$out/$nm/DONE")
    sleep 1
    if mpi 2 "$bin" batch jobs/smoke.json --output-dir "$out" 2>"$tmp/rerun.err" && ! grep -q ': started' "$tmp/rerun.err" &&
        grep -q '4 done before, 0 to run' "$tmp/rerun.err" && [ "$(stat -c %Y "$out/$nm/DONE")" = "$before" ]; then
        ok "re-run skips the 4 finished tasks"
    else
        not_ok "re-run skips finished tasks" "$(cat "$tmp/rerun.err")"
    fi

    # ---- screenshot test: the contact sheet renders, thumbnails decode ----
    chrome=$(command -v chromium || command -v chromium-browser || true)
    if [ -z "$chrome" ]; then
        echo "skipped: chromium not installed (scripts/deps.sh test)"
    else
        sed 's#</body>#<script>addEventListener("load",function(){document.querySelectorAll("img").forEach(function(i){i.setAttribute("data-w",i.naturalWidth)});document.body.setAttribute("data-checked","yes")})</script></body>#' \
            "$out/index.html" >"$out/check.html"
        cflags=(--headless --no-sandbox --disable-gpu --hide-scrollbars --user-data-dir="$tmp/chrome")
        if timeout 60 "$chrome" "${cflags[@]}" --virtual-time-budget=5000 --dump-dom "file://$out/check.html" \
            >"$tmp/dom.html" 2>"$tmp/chrome.err" && grep -q 'data-checked="yes"' "$tmp/dom.html"; then
            bad=""
            for nm in "${names[@]}"; do
                w=$(sed -E 's/.*size-([0-9]+)_.*/\1/' <<<"$nm")
                grep -q "<img class=\"thumb\" src=\"$nm/output.png\" alt=\"$nm\" data-w=\"$w\">" "$tmp/dom.html" || bad="$bad $nm"
                sw=$(sed -E 's/.*style_weight-([0-9e]+).*/\1/' <<<"$nm")
                grep -q ">style_weight=$sw, size=$w<" "$tmp/dom.html" || bad="$bad label:$nm"
            done
            grep -q 'src="losses.svg"[^>]*data-w="[1-9]' "$tmp/dom.html" || bad="$bad losses.svg"
            [ -z "$bad" ] && ok "chromium: every thumbnail decoded at its size, labelled by its parameters; loss plot decoded" ||
                not_ok "chromium: thumbnails decoded and labelled" "$bad"
            if timeout 60 "$chrome" "${cflags[@]}" --window-size=1000,900 --screenshot="$tmp/shot.png" "file://$out/index.html" \
                >/dev/null 2>&1 && [ -s "$tmp/shot.png" ]; then
                # the same window on an empty page gives the size of a blank screenshot
                printf '<!DOCTYPE html><html><body style="background:#fafafa"></body></html>\n' >"$tmp/blank.html"
                timeout 60 "$chrome" "${cflags[@]}" --window-size=1000,900 --screenshot="$tmp/blank.png" \
                    "file://$tmp/blank.html" >/dev/null 2>&1
                s1=$(stat -c %s "$tmp/shot.png") s0=$(stat -c %s "$tmp/blank.png" 2>/dev/null || echo 0)
                [ "$s0" -gt 0 ] && [ "$s1" -gt $((20 * s0)) ] &&
                    ok "chromium screenshot of index.html is not blank ($s1 bytes of PNG against $s0 for an empty page)" ||
                    not_ok "screenshot not blank" "$s1 bytes against $s0 for an empty page"
            else
                not_ok "chromium screenshot written"
            fi
        else
            echo "skipped: chromium cannot start here ($(tail -1 "$tmp/chrome.err"))"
        fi
    fi
    # the regions example (style masks in options and grid): read, checked, and one task run
    n=$("$bin" batch jobs/regions.json --list 2>"$tmp/reg.err" | head -1)
    [ "$n" = 4 ] && ok "jobs/regions.json: 4 tasks, its masks found" || not_ok "jobs/regions.json lists 4 tasks" "$n $(cat "$tmp/reg.err")"
    if "$bin" batch jobs/regions.json --task 0 --output-dir "$tmp/regions" >"$tmp/reg.out" 2>"$tmp/reg.err" &&
        t0name=$("$bin" batch jobs/regions.json --list | sed -n 2p) && [ -s "$tmp/regions/$t0name/output.png" ]; then
        ok "jobs/regions.json: task 0 (two styles, masks on content and style images) writes its output"
    else
        not_ok "jobs/regions.json task 0" "$(tail -3 "$tmp/reg.err")"
    fi
else
    echo "skipped: smoke sweep (no $D/dog.jpg and scream.jpg: apt-get install darknet)"
fi

# ---- --list names do not depend on the order of the grid keys; --task / --summary ----
cat >"$tmp/a.json" <<EOF
{"output_dir": "$tmp/a", "content": "$C1", "style": ["$S1"],
 "options": {$FAST, "size": 48, "iterations": 3}, "grid": {"tv_weight": [0.1, 1], "seed": [1, 2]}}
EOF
cat >"$tmp/b.json" <<EOF
{"output_dir": "$tmp/a", "content": "$C1", "style": ["$S1"],
 "options": {$FAST, "size": 48, "iterations": 3}, "grid": {"seed": [1, 2], "tv_weight": [0.1, 1]}}
EOF
"$bin" batch "$tmp/a.json" --list >"$tmp/la.txt" && "$bin" batch "$tmp/b.json" --list >"$tmp/lb.txt"
[ "$(sort "$tmp/la.txt")" = "$(sort "$tmp/lb.txt")" ] && [ "$(head -1 "$tmp/la.txt")" = 4 ] &&
    ok "--list: the same names whatever the order of the grid keys" || not_ok "--list names independent of key order" "$(cat "$tmp/la.txt" "$tmp/lb.txt")"
third=$(sed -n 4p "$tmp/la.txt")
if "$bin" batch "$tmp/a.json" --task 2 2>"$tmp/task.err" && [ -f "$tmp/a/$third/DONE" ] &&
    [ "$(find "$tmp/a" -name DONE | wc -l)" = 1 ]; then
    ok "--task 2 runs only the third task ($third)"
else
    not_ok "--task 2 runs only the third task" "$(cat "$tmp/task.err")"
fi
[ "$(json_get "$tmp/a/manifest.json" "','.join(t['status'] for t in j['tasks'])")" = "pending,pending,done,pending" ] &&
    ok "--task writes the manifest: one done, three pending" || not_ok "--task manifest statuses"
"$bin" batch "$tmp/a.json" --task 2 2>"$tmp/task2.err" && grep -q 'already done' "$tmp/task2.err" &&
    ok "--task on a finished task does nothing" || not_ok "--task on a finished task" "$(cat "$tmp/task2.err")"
"$bin" batch "$tmp/a.json" --task 4 2>"$tmp/e.txt"; rc=$?
[ $rc = 2 ] && grep -q 'out of range' "$tmp/e.txt" && ok "--task out of range: exit 2" || not_ok "--task out of range" "rc=$rc $(cat "$tmp/e.txt")"
rm -f "$tmp/a/manifest.json" "$tmp/a/index.html"
"$bin" batch "$tmp/a.json" --summary 2>/dev/null
[ "$(json_get "$tmp/a/manifest.json" "','.join(t['status'] for t in j['tasks'])")" = "pending,pending,done,pending" ] &&
    [ -s "$tmp/a/index.html" ] && ok "--summary rebuilds manifest and index.html from disk" || not_ok "--summary rebuilds"
[ "$(find "$tmp/a" -name DONE | wc -l)" = 1 ] && ok "--summary runs no task" || not_ok "--summary runs no task"

# ---- output folder: --output-dir beats TESSERA_OUTPUT_DIR beats the file ----
TESSERA_OUTPUT_DIR=$tmp/env "$bin" batch "$tmp/a.json" --summary 2>/dev/null
TESSERA_OUTPUT_DIR=$tmp/env2 "$bin" batch "$tmp/a.json" --summary --output-dir "$tmp/flag" 2>/dev/null
[ -f "$tmp/env/manifest.json" ] && [ -f "$tmp/flag/manifest.json" ] && [ ! -e "$tmp/env2" ] &&
    ok "output folder: flag beats TESSERA_OUTPUT_DIR beats output_dir" || not_ok "output folder precedence"

# ---- a group of 2 ranks runs its task tiled (exact), close to the single-process result ----
cat >"$tmp/g.json" <<EOF
{"output_dir": "$tmp/g1", "pairs": [["$C2", "$S1"]], "options": {$FAST, "size": 64, "iterations": 5}}
EOF
"$bin" batch "$tmp/g.json" 2>/dev/null
if mpi 2 "$bin" batch "$tmp/g.json" --group-size 2 --output-dir "$tmp/g2" 2>"$tmp/g2.err"; then
    nm=$(ls "$tmp/g2" | grep __)
    l1=$(json_get "$tmp/g1/manifest.json" "j['tasks'][0]['loss']")
    l2=$(json_get "$tmp/g2/manifest.json" "j['tasks'][0]['loss']")
    grep -q 'started on 2 ranks' "$tmp/g2.err" && grep -q '"communication"' "$tmp/g2/$nm/log.jsonl" &&
        ok "--group-size 2: the task runs on 2 ranks through the tiled driver" || not_ok "--group-size 2 runs tiled" "$(cat "$tmp/g2.err")"
    awk -v a="$l1" -v b="$l2" 'BEGIN{d=(a-b)/a; if(d<0)d=-d; exit !(d < 0.02)}' &&
        ok "--group-size 2: loss $l2 matches the single-process $l1 (exact mode)" || not_ok "tiled loss matches" "$l1 vs $l2"
else
    not_ok "--group-size 2 run" "$(tail -3 "$tmp/g2.err")"
fi

# ---- the dynamic queue balances uneven tasks: one long task, three short ones on 2 groups ----
cat >"$tmp/u.json" <<EOF
{"output_dir": "$tmp/u", "content": "$C1", "style": "$S1",
 "options": {$FAST, "size": 64, "optimizer": "adam"}, "grid": {"iterations": [60, 1, 2, 3]}}
EOF
if mpi 2 "$bin" batch "$tmp/u.json" 2>"$tmp/u.err"; then
    long=$(grep 'iterations-60: done' "$tmp/u.err" | sed -E 's/.*\[group ([0-9]+)\].*/\1/')
    nlong=$(grep -c "\[group $long\] .*: done in" "$tmp/u.err")
    nother=$(grep ': done in' "$tmp/u.err" | grep -vc "\[group $long\]")
    [ "$nlong" = 1 ] && [ "$nother" = 3 ] && ok "dynamic queue: the long task's group ran 1 task, the other 3" ||
        not_ok "dynamic queue balances" "$(grep ': done in' "$tmp/u.err")"
else
    not_ok "uneven job runs" "$(tail -3 "$tmp/u.err")"
fi

# ---- bad job files: exit 2, one message, no task run ----
np=2 # the first case under mpirun -np 2 (one message from all ranks), the others in one process
bad() { # bad NAME JSON EXPECTED-TEXT
    printf '%s\n' "$2" >"$tmp/bad.json"
    rm -rf "$tmp/badout"
    if [ $np = 2 ]; then
        mpi 2 "$bin" batch "$tmp/bad.json" --output-dir "$tmp/badout" >"$tmp/bad.out" 2>"$tmp/bad.err"
    else
        "$bin" batch "$tmp/bad.json" --output-dir "$tmp/badout" >"$tmp/bad.out" 2>"$tmp/bad.err"
    fi
    local rc=$?
    np=1
    if [ $rc = 2 ] && [ "$(grep -c 'tessera: error:' "$tmp/bad.err")" = 1 ] && grep -q -- "$3" "$tmp/bad.err" &&
        [ -z "$(find "$tmp/badout" -mindepth 1 2>/dev/null)" ]; then
        ok "bad job ($1): exit 2, one message, nothing run"
    else
        not_ok "bad job ($1)" "rc=$rc" "$(cat "$tmp/bad.err")"
    fi
}
base="\"content\": \"$C1\", \"style\": \"$S1\", \"options\": {$FAST, \"iterations\": 1}"
bad "malformed JSON" "{\"output_dir\": \"x\", $base," "malformed JSON near line"
bad "unknown grid option" "{$base, \"grid\": {\"style_wieght\": [1, 2]}}" 'unknown option "style_wieght"'
bad "empty grid list" "{$base, \"grid\": {\"size\": []}}" '"size" must be a non-empty list'
bad "empty content list" "{\"content\": [], \"style\": \"$S1\"}" '"content" must be a path or a non-empty list'
bad "missing content file" "{\"content\": \"$tmp/nope.png\", \"style\": \"$S1\"}" "nope.png\": No such file"
bad "missing style file" "{\"pairs\": [[\"$C1\", [\"$S1\", \"$tmp/gone.jpg\"]]]}" "gone.jpg\": No such file"
bad "grid value out of range" "{$base, \"grid\": {\"size\": [48, 5]}}" "grid size\[1\]: size = 5 is out of range"
bad "bad option value" "{$base, \"grid\": {\"optimizer\": [\"lbfgs\", \"sgd\"]}}" "optimizer must be one of lbfgs|adam"
bad "unknown key" "{$base, \"gird\": {}}" 'unknown key "gird"'
bad "per-task option in options" "{\"content\": \"$C1\", \"style\": \"$S1\", \"options\": {\"output\": \"x.png\"}}" '"output" cannot be set here'
bad "missing config" "{$base, \"config\": \"$tmp/none.json\"}" "none.json"
bad "duplicate names" "{\"content\": [\"$C1\", \"$F/caffe/../vgg19_max/content.png\"], \"style\": \"$S1\"}" "both named"
bad "pairs and content" "{$base, \"pairs\": [[\"$C1\", \"$S1\"]]}" 'either "pairs"'
bad "missing style mask" "{$base, \"grid\": {\"style_masks\": [[\"$C1\"], [\"$tmp/nomask.png\"]]}}" "nomask.png\": No such file"
bad "style masks count" "{\"content\": \"$C1\", \"style\": \"$S1\", \"options\": {$FAST, \"style_masks\": [\"$C1\", \"$C1\"]}}" '"style_masks" has 2 masks for 1 style'

# ---- a task that cannot write its output is marked failed; the others go on ----
cat >"$tmp/f.json" <<EOF
{"output_dir": "$tmp/f", "content": "$C1", "style": "$S1", "options": {$FAST, "iterations": 2}, "grid": {"size": [48, 64]}}
EOF
first=$("$bin" batch "$tmp/f.json" --list | sed -n 2p)
mkdir -p "$tmp/f/$first/output.png" # a folder where the image should go
mpi 2 "$bin" batch "$tmp/f.json" >/dev/null 2>"$tmp/f.err"; rc=$?
st=$(json_get "$tmp/f/manifest.json" "','.join(t['status'] for t in j['tasks']) + ' ' + str('directory' in j['tasks'][0].get('error', ''))")
[ $rc = 1 ] && [ "$st" = "failed,done True" ] && [ -f "$tmp/f/$first/FAILED" ] && [ ! -f "$tmp/f/$first/DONE" ] &&
    ok "failing task: marked failed with its error, the other done, exit status 1" ||
    not_ok "failing task marked failed" "rc=$rc statuses=$st" "$(cat "$tmp/f.err")"
rmdir "$tmp/f/$first/output.png"
"$bin" batch "$tmp/f.json" 2>"$tmp/f2.err"; rc=$?
[ $rc = 0 ] && [ "$(grep -c ': started' "$tmp/f2.err")" = 1 ] &&
    [ "$(json_get "$tmp/f/manifest.json" "','.join(t['status'] for t in j['tasks'])")" = "done,done" ] &&
    ok "re-run retries only the failed task" || not_ok "re-run retries the failed task" "$(cat "$tmp/f2.err")"

# ---- stop requests: a STOP file takes no task; a signal ends the batch after the running task ----
cat >"$tmp/s.json" <<EOF
{"output_dir": "$tmp/s", "content": "$C1", "style": "$S1", "options": {$FAST, "size": 64, "optimizer": "adam"},
 "grid": {"iterations": [40, 41, 42]}}
EOF
mkdir -p "$tmp/s" && touch "$tmp/s/STOP"
mpi 2 "$bin" batch "$tmp/s.json" 2>"$tmp/s.err"; rc=$?
[ $rc = 0 ] && ! grep -q ': started' "$tmp/s.err" &&
    [ "$(json_get "$tmp/s/manifest.json" "j['counts']['pending']")" = 3 ] &&
    ok "STOP file: no task taken, all pending, exit 0" || not_ok "STOP file" "rc=$rc $(cat "$tmp/s.err")"
rm -f "$tmp/s/STOP"
"$bin" batch "$tmp/s.json" 2>"$tmp/sig.err" &
pid=$!
for _ in $(seq 1 300); do grep -q ': started' "$tmp/sig.err" && break; sleep 0.1; done
kill -USR1 "$pid"
wait "$pid"; rc=$?
counts=$(json_get "$tmp/s/manifest.json" "j['counts']['done'], j['counts']['pending']")
first=$(ls -d "$tmp"/s/*/checkpoint 2>/dev/null | head -1)
[ $rc = 0 ] && [ "$counts" = "0 3" ] && grep -q 'stop requested by signal' "$tmp/sig.err" && [ -f "$first/LATEST" ] &&
    ok "SIGUSR1: the running task checkpoints, every task stays pending, exit 0" ||
    not_ok "SIGUSR1 stops the batch" "rc=$rc counts=$counts checkpoint=$first" "$(cat "$tmp/sig.err")"
"$bin" batch "$tmp/s.json" 2>"$tmp/res.err"; rc=$?
counts=$(json_get "$tmp/s/manifest.json" "j['counts']['done'], j['counts']['pending']")
[ $rc = 0 ] && [ "$counts" = "3 0" ] && grep -q 'resuming from' "$tmp/res.err" && [ ! -e "$first" ] &&
    ok "re-run after the stop: the stopped task resumes from its checkpoint, all done, checkpoint removed" ||
    not_ok "resume after the stop" "rc=$rc counts=$counts" "$(cat "$tmp/res.err")"

summary
