#!/usr/bin/env bash
# t_slurm.sh - the SLURM scripts (slurm/) on a real single-node Slurm started here in a private
# folder (tests/slurm/cluster.sh): the smoke sweep as a job array with its dependent summary job,
# one job with tessera.sbatch, a job stopped by SIGUSR1 that requeues itself and finishes, sbatch
# flags winning over the site profile, TESSERA_OUTPUT_DIR; and, without a cluster, the refusals
# (outside SLURM, no binary, no account) and the options each site profile gives sbatch.
# Needs root and Debian's slurm-wlm + munge (scripts/deps.sh test); without them it skips.
source "$(dirname "$0")/lib.sh" slurm
source "$root/tests/slurm/cluster.sh"
export TESSERA_LOG_DIR=$tmp/logs
unset TESSERA_OUTPUT_DIR TESSERA_SITE TESSERA_SITE_FILE TESSERA_ACCOUNT TESSERA_LAUNCHER

# --- without a cluster ---------------------------------------------------------------------------
for s in tessera sweep summary; do
    out=$(env -u SLURM_JOB_ID bash "slurm/$s.sbatch" jobs/smoke.json 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -q "SLURM batch script" <<<"$out"; then
        ok "$s.sbatch refuses to run outside SLURM (exit 2)"
    else
        not_ok "$s.sbatch outside SLURM" "rc=$rc" "$out"
    fi
done

for w in submit submit-sweep; do
    out=$(TESSERA_BIN=$tmp/none "slurm/$w.sh" --dry-run jobs/smoke.json 2>&1)
    rc=$?
    if [ $rc -eq 2 ] && grep -q "never build" <<<"$out" && grep -q "make" <<<"$out"; then
        ok "$w.sh refuses without a binary and says how to build"
    else
        not_ok "$w.sh without a binary" "rc=$rc" "$out"
    fi
done

if [ ! -x "$bin" ]; then
    echo "skipped: $bin not built (make)"
    summary
    exit
fi

# the site profiles' sbatch options; the user's come after them and so win
out=$(slurm/submit.sh --site comet --dry-run jobs/smoke.json --partition=gpu-shared 2>&1)
if grep -q -- "--partition=gpu .*--gres=gpu:p100:4 .*--ntasks-per-node=4 .*--cpus-per-task=6 .*--partition=gpu-shared " <<<"$out"; then
    ok "comet profile: gpu partition, 4 P100 per node, one rank per GPU; the user's --partition comes last"
else
    not_ok "comet profile options" "$out"
fi
out=$(slurm/submit.sh --site comet --cpu --dry-run jobs/smoke.json 2>&1)
if grep -q -- "--partition=compute " <<<"$out" && ! grep -q -- "--gres" <<<"$out"; then
    ok "comet CPU variant: compute partition, no GPUs"
else
    not_ok "comet CPU variant" "$out"
fi
out=$(slurm/submit.sh --site expanse --dry-run jobs/smoke.json 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "needs an account" <<<"$out"; then
    ok "expanse profile refuses to submit without an account"
else
    not_ok "expanse without an account" "rc=$rc" "$out"
fi
out=$(TESSERA_ACCOUNT=abc123 slurm/submit.sh --site expanse --dry-run jobs/smoke.json 2>&1)
if grep -q -- "--partition=gpu .*--account=abc123 .*--gres=gpu:v100:4 " <<<"$out"; then
    ok "expanse profile: gpu partition, account from TESSERA_ACCOUNT, V100 gres"
else
    not_ok "expanse profile options" "$out"
fi
out=$(slurm/submit.sh --site nowhere --dry-run jobs/smoke.json 2>&1)
rc=$?
if [ $rc -eq 2 ] && grep -q "unknown site profile" <<<"$out"; then
    ok "an unknown site profile is refused"
else
    not_ok "unknown site profile" "rc=$rc" "$out"
fi

# --- on a private single-node Slurm --------------------------------------------------------------
if ! "$bin" batch --help >/dev/null 2>&1; then
    echo "skipped: $bin has no batch command"
    summary
    exit
fi
if [ ! -r /usr/share/darknet/data/dog.jpg ]; then
    echo "skipped: the smoke job's images are missing (apt-get install darknet)"
    summary
    exit
fi
if ! slurm_cluster_start "$tmp/cluster"; then
    echo "skipped: no Slurm here: $slurm_cluster_why"
    summary
    exit
fi
trap 'slurm_cluster_stop; rm -rf "$tmp"' EXIT
echo "# private Slurm up ($SLURM_CONF)"

# waits until the jobs have left the queue (at most $1 s). A job that requeued itself waits for a
# begin time about two minutes ahead (Slurm's rule); the test makes it eligible 3 s after the requeue
# instead: slurmd revokes the old run's credentials with one-second resolution, so a restart within
# the same second is refused ("Job credential revoked") and the job fails.
wait_jobs() {
    local limit=$1 left id st reason
    shift
    local ids
    ids=$(IFS=,; echo "$*")
    local t0=$SECONDS
    while [ $((SECONDS - t0)) -lt "$limit" ]; do
        left=$(squeue -h -j "$ids" -o '%i %T %r' 2>/dev/null)
        [ -z "$left" ] && return 0
        while read -r id st reason; do
            [ "$st" = PENDING ] && [ "$reason" = BeginTime ] && scontrol update JobId="$id" StartTime=now+3 >/dev/null 2>&1
        done <<<"$left"
        sleep 1
    done
    return 1
}
field() { scontrol show job "$1" 2>/dev/null | tr ' ' '\n' | sed -n "s|^$2=||p" | head -n 1; }
done_count() { find "$1" -mindepth 2 -maxdepth 2 -name DONE 2>/dev/null | wc -l; }
ntasks=$("$bin" batch jobs/smoke.json --list | head -n 1)

# 1. the smoke sweep as a job array + the dependent summary job, into TESSERA_OUTPUT_DIR
t0=$SECONDS
ids=$(TESSERA_OUTPUT_DIR=$tmp/sweep slurm/submit-sweep.sh --throttle 2 jobs/smoke.json 2>"$tmp/sub.err")
read -r aid sid <<<"$ids"
throttle=$(field "$aid" ArrayTaskThrottle)
# element 0 gets SIGUSR1 mid-task: it must stop cleanly and requeue only if its task is left undone
log0=$tmp/logs/tessera-smoke-${aid}_0.out
for _ in $(seq 1 600); do grep -q "started on" "$log0" 2>/dev/null && break; sleep 0.2; done
scancel --signal=USR1 --batch "${aid}_0"
if wait_jobs 240 "$aid" "$sid"; then
    if grep -q "got SIGUSR1" "$log0" && grep -Eq "no work is left: not requeued|requeueing job" "$log0"; then
        ok "array element 0 forwarded SIGUSR1 and decided on requeueing from its task's DONE marker"
    else
        not_ok "array element after SIGUSR1" "$(tail -6 "$log0" 2>&1)"
    fi
    states=$(scontrol show job "$aid" | grep -o 'JobState=[A-Z]*' | sort | uniq -c | tr -s ' ')
    sstate=$(field "$sid" JobState)
    dep_ok=1
    sstart=$(date -d "$(field "$sid" StartTime)" +%s)
    for e in $(scontrol show job "$aid" | sed -n 's/.*EndTime=\([^ ]*\).*/\1/p'); do
        [ "$(date -d "$e" +%s)" -le "$sstart" ] || dep_ok=0
    done
    if [ "$states" = " $ntasks JobState=COMPLETED" ] && [ "$throttle" = 2 ] && [ "$(done_count "$tmp/sweep")" = "$ntasks" ]; then
        ok "sweep: $ntasks array tasks (throttle 2) all COMPLETED, $ntasks DONE markers in TESSERA_OUTPUT_DIR ($((SECONDS - t0)) s)"
    else
        not_ok "sweep array" "states: $states throttle: $throttle DONE: $(done_count "$tmp/sweep")" "$(cat "$tmp"/logs/*_0.out 2>&1 | tail -5)"
    fi
    if [ "$sstate" = COMPLETED ] && [ "$dep_ok" = 1 ] && [ -s "$tmp/sweep/index.html" ] &&
        grep -Eq '"done":[[:space:]]*'"$ntasks"',' "$tmp/sweep/manifest.json" &&
        grep -Eq '"pending":[[:space:]]*0' "$tmp/sweep/manifest.json" &&
        grep -Eq '"output_dir":[[:space:]]*"'"$tmp/sweep"'"' "$tmp/sweep/manifest.json"; then
        ok "summary job ran after every array task ended: manifest ($ntasks done, 0 pending) and index.html"
    else
        not_ok "summary job" "state $sstate, after the array: $dep_ok" "$(head -8 "$tmp/sweep/manifest.json" 2>&1)"
    fi
else
    not_ok "sweep did not finish in 240 s" "$(squeue 2>&1)" "$(cat "$tmp/sub.err")"
    scancel "$aid" "$sid" 2>/dev/null
fi

# 2. one job, every task, two ranks in two groups
t0=$SECONDS
id=$(TESSERA_OUTPUT_DIR=$tmp/one slurm/submit.sh jobs/smoke.json --ntasks=2 --job-name=one 2>"$tmp/sub.err")
if wait_jobs 180 "$id" && [ "$(field "$id" JobState)" = COMPLETED ] && [ "$(done_count "$tmp/one")" = "$ntasks" ] &&
    grep -q "2 rank(s) x 1 thread(s)" "$tmp/logs/one-$id.out" && [ "$(field "$id" NumTasks)" = 2 ]; then
    ok "tessera.sbatch: one job on 2 ranks (2 groups) finished all $ntasks tasks ($((SECONDS - t0)) s)"
else
    not_ok "tessera.sbatch one job" "job '$id' state $(field "$id" JobState)" "$(cat "$tmp/sub.err")" \
        "$(tail -5 "$tmp/logs/one-$id.out" 2>&1)"
fi

# 3. SIGUSR1 (as sent before the time limit by --signal=B:USR1@120): the script forwards it,
# tessera stops (after its current task, or at a checkpoint) and exits 0, the script requeues, the
# rerun finishes what is left and leaves the tasks done before alone
t0=$SECONDS
id=$(TESSERA_OUTPUT_DIR=$tmp/rq slurm/submit.sh jobs/smoke.json --job-name=rq 2>"$tmp/sub.err")
log=$tmp/logs/rq-$id.out
# the signal comes once the first task is done, during the next one
for _ in $(seq 1 900); do [ "$(done_count "$tmp/rq")" -gt 0 ] && break; sleep 0.2; done
scancel --signal=USR1 --batch "$id"
# once requeued (pending), note the tasks done so far: the rerun must leave their DONE markers alone
for _ in $(seq 1 600); do [ "$(field "$id" JobState)" = PENDING ] && break; sleep 0.2; done
before=$(find "$tmp/rq" -mindepth 2 -maxdepth 2 -name DONE -exec stat -c '%n %i %Y' {} + 2>/dev/null | sort)
kept=1
if wait_jobs 240 "$id"; then
    while read -r f ino mt; do
        [ -n "$f" ] && [ "$(stat -c '%i %Y' "$f" 2>/dev/null)" != "$ino $mt" ] && kept=0
    done <<<"$before"
fi
if [ "$(field "$id" JobState)" = COMPLETED ] && [ "$(field "$id" Restarts)" = 1 ] && [ -n "$before" ] &&
    [ "$kept" = 1 ] && [ "$(done_count "$tmp/rq")" = "$ntasks" ] && grep -q "requeueing job $id" "$log" &&
    grep -q "(restart 1)" "$log"; then
    ok "USR1 mid-run: tessera stopped with exit 0, the job requeued itself once, the rerun kept the $(wc -l <<<"$before") done task(s) and finished ($((SECONDS - t0)) s)"
else
    not_ok "requeue after USR1" "job '$id' state $(field "$id" JobState) restarts $(field "$id" Restarts) DONE $(done_count "$tmp/rq")" \
        "done before the requeue: ${before:-none}; untouched: $kept" \
        "$(tail -12 "$log" 2>&1)"
fi

# 4. sbatch flags win over the site profile (a profile from TESSERA_SITE_FILE, jobs held)
cat >"$tmp/sites.sh" <<'EOF'
site_profile() {
    partition_gpu=debug partition_cpu=debug partition_small=debug account="" account_required=no
    gres_gpu="" tasks_gpu="" tasks_cpu="" cpus_gpu=2 cpus_cpu=1 time=00:30:00 throttle=3
    modules="" launcher=auto extra_gpu="--comment=from-site" extra_cpu=""
}
EOF
a=$(TESSERA_SITE_FILE=$tmp/sites.sh slurm/submit.sh jobs/smoke.json --hold 2>/dev/null)
b=$(TESSERA_SITE_FILE=$tmp/sites.sh slurm/submit.sh jobs/smoke.json --hold --time=7 --cpus-per-task=1 \
    --job-name=mine 2>/dev/null)
fa="$(field "$a" TimeLimit) $(field "$a" Partition) $(field "$a" CPUs/Task) $(field "$a" Comment) $(field "$a" JobName)"
fb="$(field "$b" TimeLimit) $(field "$b" Partition) $(field "$b" CPUs/Task) $(field "$b" Comment) $(field "$b" JobName)"
if [ "$fa" = "00:30:00 debug 2 from-site tessera-smoke" ] && [ "$fb" = "00:07:00 debug 1 from-site mine" ]; then
    ok "site profile applied (time 30 min, 2 CPUs per task) and sbatch --time/--cpus-per-task/--job-name override it"
else
    not_ok "site profile vs sbatch flags" "site only: $fa" "with flags: $fb"
fi
scancel "$a" "$b" 2>/dev/null

# 5. inside the allocation: no binary -> exit 2 and the build hint, nothing built
TESSERA_BIN=$tmp/none sbatch --wait -o "$tmp/nobin.out" slurm/tessera.sbatch jobs/smoke.json >/dev/null 2>&1
rc=$?
if [ $rc -eq 2 ] && grep -q "never build" "$tmp/nobin.out"; then
    ok "tessera.sbatch in a job without the binary exits 2 and says how to build"
else
    not_ok "tessera.sbatch without binary" "rc=$rc" "$(cat "$tmp/nobin.out" 2>&1)"
fi

summary
