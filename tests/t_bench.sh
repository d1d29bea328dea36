#!/usr/bin/env bash
# t_bench.sh - the benchmark scripts run as bench/RESULTS.md documents them and print the table they
# promise. Timings are never asserted (the machines are shared); the runs are 64 px, 2 iterations, so they take seconds.
#  - bench/scaling.sh with no CONFIGS runs all six configurations and prints one row each, with a
#    time per evaluation; every row but the 1-rank one has an efficiency and a paired efficiency in
#    percent, the 1-rank row '-' for those and for communication and waiting;
#  - CONFIGS picks configurations (the 1-rank run always comes along); an unknown one exits 2 naming it;
#  - bench/cost_model.py predict and check print their efficiencies.
# shellcheck source=tests/lib.sh
source "$(dirname "$0")/lib.sh" bench
content=$root/tests/fixtures/ref/vgg19_max/content.png
style=$root/tests/fixtures/ref/vgg19_max/style.png
num='[0-9]+\.[0-9]+'

# every row of the table has a time; the 1-rank row has no efficiency and no communication (-), the others
# have two percentages
if bench/scaling.sh 64 2 2 1 "$content" "$style" >"$tmp/all.txt" 2>"$tmp/err.txt"; then
    ok "scaling.sh with every configuration exits 0"
else
    not_ok "scaling.sh with every configuration exits 0" "$(tail -3 "$tmp/err.txt")"
fi
head -1 "$tmp/all.txt" | grep -q "^run (64 px, 2 iterations, x1) *s/eval *efficiency *paired" &&
    ok "scaling.sh prints its header" || not_ok "scaling.sh prints its header" "$(head -1 "$tmp/all.txt")"
for label in "1 rank(s), single" "2 x 1 rank at once (ceiling)" "2 rank(s), exact (layer halo)" \
    "2 rank(s), exact (layer halo, sync)" "2 rank(s), exact (image halo)" "2 rank(s), independent"; do
    line=$(grep -F -- "$label " "$tmp/all.txt" | head -1)
    rest=${line#"$label"}
    if [ "$label" = "1 rank(s), single" ]; then
        pat="^ +$num +- +- +- +- "
    else
        pat="^ +$num +$num% +$num% "
    fi
    [[ $rest =~ $pat ]] && ok "scaling.sh row '$label' has its figures" ||
        not_ok "scaling.sh row '$label' has its figures" "${line:-no such row}"
done
[ "$(wc -l <"$tmp/all.txt")" -eq 7 ] && ok "scaling.sh prints seven lines" ||
    not_ok "scaling.sh prints seven lines" "$(wc -l <"$tmp/all.txt") lines"

if CONFIGS=exact-layer bench/scaling.sh 64 2 2 1 "$content" "$style" >"$tmp/one.txt" 2>"$tmp/err.txt" &&
   [ "$(wc -l <"$tmp/one.txt")" -eq 3 ] && grep -q "^1 rank(s), single" "$tmp/one.txt" &&
   grep -q "^2 rank(s), exact (layer halo) " "$tmp/one.txt"; then
    ok "CONFIGS=exact-layer runs the 1-rank job and that one"
else
    not_ok "CONFIGS=exact-layer runs the 1-rank job and that one" "$(cat "$tmp/one.txt" "$tmp/err.txt")"
fi
CONFIGS=exact-layer,nope bench/scaling.sh 64 2 2 1 "$content" "$style" >"$tmp/out.txt" 2>"$tmp/err.txt"
rc=$?
[ $rc -eq 2 ] && grep -q "no configuration 'nope'" "$tmp/err.txt" && [ ! -s "$tmp/out.txt" ] &&
    ok "an unknown configuration exits 2 naming it" || not_ok "an unknown configuration exits 2 naming it" "rc=$rc"

if command -v python3 >/dev/null; then
    out=$(python3 bench/cost_model.py predict --ranks 16 --size 16384)
    [ "$(grep -cE "predicted parallel efficiency $num%" <<<"$out")" -eq 2 ] && ok "cost_model.py predict" ||
        not_ok "cost_model.py predict" "$out"
    out=$(python3 bench/cost_model.py check 1024 8.6 --layer 80 --image 70 --ceiling 95)
    [ "$(grep -cE "efficiency from the work $num%, times the ceiling $num%, measured $num%" <<<"$out")" -eq 2 ] &&
        ok "cost_model.py check" || not_ok "cost_model.py check" "$out"
else
    echo "# skip: no python3 for cost_model.py"
fi
summary
