#!/bin/sh
# Sweeps through the mount (DESIGN.md section 7): a grid covers its product
# exactly once; random with a seed gives the same params twice; a kill -9
# mid-sweep loses and repeats no trial; best.json submits as it is and
# gives the best value again; the median rule stops the bad trials and
# keeps the good; a failed trial is never the best; cancel and extend; bad
# sweep.json refused at close with the reason in events; compare.svg is XML.
. "$(dirname "$0")/lib.sh"
write_daemon_config 4 4
start_daemon || exit 1

E=$MNT/experiments/sw
mkdir "$E" || fail "mkdir experiment"

# the objective: (x - 0.3)^2 + (y - 2)^2, reported as eval_loss at STEPS
# steps (each DELAY s), falling to its value; x = 9 fails after reporting 0
OBJ=$WORK/obj.sh
cat > "$OBJ" <<'EOF'
#!/bin/sh
x=$1 y=$2 steps=${3:-1} delay=${4:-0}
[ "$x" = 9 ] && { echo '{"step": 1, "eval_loss": 0}'; exit 3; }
i=1
while [ $i -le "$steps" ]; do
	awk -v x="$x" -v y="$y" -v s=$i -v n="$steps" 'BEGIN {
		v = (x - 0.3) ^ 2 + (y - 2) ^ 2
		printf "{\"step\": %d, \"eval_loss\": %.6f}\n", s, v + (n - s) }'
	[ "$delay" != 0 ] && sleep "$delay"
	i=$((i + 1))
done
EOF
chmod +x "$OBJ"

# wait_sweep DIR STATE [seconds]: the first line of status
wait_sweep() {
	_d=$(( $(date +%s) + ${3:-60} ))
	while [ "$(date +%s)" -le "$_d" ]; do
		[ "$(head -1 "$1/status" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.1
	done
	echo "timeout: sweep $1 is $(head -1 "$1/status" 2>/dev/null), not $2" >&2
	return 1
}
# params SWEEP_DIR: the params columns of trials, one line a trial
params() { awk 'NR > 1 { $1 = $2 = $3 = $4 = ""; print }' "$1/trials"; }

# ---- bad input: refused at close, reason in events, nothing made ----
S=$E/sweeps/bad
mkdir "$S" || fail "mkdir sweep"
check_eq "a new sweep is created" "created" "$(head -1 "$S/status")"
if printf '{"base": {"command": ["true"]}, "space": {"x": {"uniform": [0, 1]}}, "objective": {"metric": "loss"}, "max_trials": 2, "colour": 1}' > "$S/sweep.json" 2>/dev/null
then fail "unknown key accepted"; else ok; fi
check_contains "unknown key named" "unknown key 'colour'" "$S/events"
if printf '{"base": {"command": ["true"]}, "space": {"lr": {"loguniform": [0, 1]}}, "objective": {"metric": "loss"}, "max_trials": 2}' > "$S/sweep.json" 2>/dev/null
then fail "loguniform from 0 accepted"; else ok; fi
check_contains "bad range named" "space.lr" "$S/events"
if printf '{"base": {"command": ["true"]}, "space": {"x": {"uniform": [0, 1]}}, "objective": {"metric": "loss"}, "method": "grid"}' > "$S/sweep.json" 2>/dev/null
then fail "uniform grid without step accepted"; else ok; fi
check_contains "grid refusal says why" "cannot be a grid" "$S/events"
if printf '{"base": {"command": ["true"], "colour": 2}, "space": {"x": {"uniform": [0, 1]}}, "objective": {"metric": "loss"}, "max_trials": 2}' > "$S/sweep.json" 2>/dev/null
then fail "bad base config accepted"; else ok; fi
check_contains "bad base named" "not a valid run config: unknown key 'colour'" "$S/events"
check_eq "still created after refusals" "created" "$(head -1 "$S/status")"
check_eq "no trial made" "0" "$(ls "$E/runs" | wc -l)"
if mkdir "$E/sweeps/../x" 2>/dev/null || mkdir "$E/sweeps/.hid" 2>/dev/null; then
	fail "bad sweep name accepted"; else ok; fi
if echo frobnicate > "$S/ctl" 2>/dev/null; then fail "bad ctl accepted"; else ok; fi
check_contains "bad ctl named" "unknown ctl command 'frobnicate'" "$S/events"
check "best.json absent before a best" test ! -e "$S/best.json"

# ---- grid: the product exactly once ----
G=$E/sweeps/g
mkdir "$G"
cat > "$WORK/g.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "{y}"]},
 "space": {"x": {"grid": [0, 0.5, 1]}, "y": {"int": [1, 3], "step": 1}},
 "objective": {"metric": "eval_loss", "mode": "min"},
 "method": "grid", "parallelism": 3}
EOF
cp "$WORK/g.json" "$G/sweep.json" && ok || fail "cp grid sweep.json"
check "grid completes" wait_sweep "$G" completed
check_eq "9 trials" "9" "$(awk 'NR > 1' "$G/trials" | wc -l)"
check_eq "every point once" \
	"0 1|0 2|0 3|0.5 1|0.5 2|0.5 3|1 1|1 2|1 3|" \
	"$(params "$G" | awk '{ printf "%s %s|", $1, $2 }' | tr -s ' ' | sed 's/^ //; s/| /|/g')"
check_eq "the product's runs are made" "9" "$(ls "$E/runs" | grep -c '^g-00[1-9]$')"
check_contains "best is (0.5, 2)" "g-005" "$G/best"
if echo 'extend 1' > "$G/ctl" 2>/dev/null; then fail "extend past the grid accepted"; else ok; fi
check_contains "extend refusal says the grid" "the grid has 9 points" "$G/events"
if cp "$WORK/g.json" "$G/sweep.json" 2>/dev/null; then fail "sweep.json written twice"; else ok; fi
check_eq "sweep.json read-only" "444" "$(stat -c %a "$G/sweep.json")"

# ---- best.json submits as it is, and gives the best value again ----
F=$(new_run sw final)
cp "$G/best.json" "$F/config.json" && ok || fail "cp best.json"
check "final run completes" wait_state "$F" completed 20
check_eq "final value is the best" "$(awk '$1 == "eval_loss" { print $2 }' "$G/best")" \
	"$(awk '$1 == "eval_loss" { print $2 }' "$F/metrics")"

# ---- random with a seed: the same params twice ----
for n in r1 r2; do
	mkdir "$E/sweeps/$n"
	cat > "$WORK/$n.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "{y}"]},
 "space": {"x": {"uniform": [-1, 1]}, "y": {"int": [0, 4]},
	   "opt": {"choice": ["adam", "sgd"]}},
 "objective": {"metric": "eval_loss"}, "method": "random", "seed": 42,
 "max_trials": 6, "parallelism": 2}
EOF
	cp "$WORK/$n.json" "$E/sweeps/$n/sweep.json" || fail "cp $n"
done
check "r1 completes" wait_sweep "$E/sweeps/r1" completed
check "r2 completes" wait_sweep "$E/sweeps/r2" completed
check_eq "same seed, same params" "$(params "$E/sweeps/r1")" "$(params "$E/sweeps/r2")"
n1=$(params "$E/sweeps/r1" | sort -u | wc -l)
check_eq "6 distinct trials" "6" "$n1"

# ---- a failed trial is never the best ----
B=$E/sweeps/f
mkdir "$B"
cat > "$WORK/f.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "2"]},
 "space": {"x": {"grid": [9, 1, 2]}},
 "objective": {"metric": "eval_loss"}, "method": "grid"}
EOF
cp "$WORK/f.json" "$B/sweep.json"
check "f completes" wait_sweep "$B" completed
check_contains "the failed trial is failed" "^f-001  *failed" "$B/trials"
check_contains "best is the lowest completed" "f-002" "$B/best"
check_contains "failed counted" "^failed *1" "$B/status"

# ---- a template as the base ----
printf '{"command": ["%s", "{x}", "2"], "params": {"x": 0}}\n' "$OBJ" \
	> "$MNT/templates/obj.json" || fail "write template"
T=$E/sweeps/t
mkdir "$T"
if printf '{"base": "no-such", "space": {"x": {"grid": [1]}}, "objective": {"metric": "eval_loss"}, "method": "grid"}' > "$T/sweep.json" 2>/dev/null
then fail "a missing template accepted"; else ok; fi
check_contains "missing template named" "no-such" "$T/events"
printf '{"base": "obj", "space": {"x": {"grid": [0.3, 1]}}, "objective": {"metric": "eval_loss"}, "method": "grid"}' > "$T/sweep.json" &&
	ok || fail "template base refused: $(tail -1 "$T/events")"
check "t completes" wait_sweep "$T" completed
check_contains "the template's trials ran with their params" "^t-001  *completed  *0 " "$T/trials"
check_eq "best.json names the template" "obj" "$(js "$T/best.json" template)"

# ---- the median rule: bad trials stop early, good ones run out ----
M=$E/sweeps/m
mkdir "$M"
# three good trials first, then bad ones (x far from 0.3), then a good one
cat > "$WORK/m.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "2", "8", "0.25"]},
 "space": {"x": {"grid": [0.3, 0.4, 0.2, 30, 40, 0.35]}},
 "objective": {"metric": "eval_loss"}, "method": "grid", "parallelism": 1,
 "early_stop": {"rule": "median", "warmup_steps": 2, "min_trials": 3}}
EOF
cp "$WORK/m.json" "$M/sweep.json"
check "m completes" wait_sweep "$M" completed 90
check_eq "the good trials complete, the bad stop early" \
	"completed no|completed no|completed no|stopped yes|stopped yes|completed no|" \
	"$(awk 'NR > 1 { printf "%s %s|", $2, $4 }' "$M/trials")"
check_contains "early stop says why" "worse than the median" "$M/events"
check_contains "the run's reason says so" "stopped early by sweep 'm'" "$E/runs/m-004/status.json"
check_eq "a stopped trial is cut short" "1" \
	"$(awk '/"step"/ { n++ } END { print (n < 8) }' "$E/runs/m-004/metrics.jsonl")"

# ---- the rule over long series (more points than it keeps) ----
LONG=$WORK/long.sh
cat > "$LONG" <<'EOF'
#!/bin/sh
# 2000 steps of (x + 1/step) at once; a bad x then lingers to be stopped
awk -v x="$1" 'BEGIN { for (s = 1; s <= 2000; s++)
	printf "{\"step\": %d, \"eval_loss\": %.6f}\n", s, x + 1 / s }'
awk -v x="$1" 'BEGIN { exit !(x > 5) }' && sleep 8
exit 0
EOF
chmod +x "$LONG"
L=$E/sweeps/l
mkdir "$L"
printf '{"base": {"command": ["%s", "{x}"]}, "space": {"x": {"grid": [1, 2, 3, 50, 0.5]}}, "objective": {"metric": "eval_loss"}, "method": "grid", "parallelism": 1, "early_stop": {"rule": "median", "warmup_steps": 1500, "min_trials": 3}}' "$LONG" > "$L/sweep.json" || fail "long sweep refused"
check "l completes" wait_sweep "$L" completed 60
check_eq "past the kept points the bad trial is stopped" \
	"completed no|completed no|completed no|stopped yes|completed no|" \
	"$(awk 'NR > 1 { printf "%s %s|", $2, $4 }' "$L/trials")"

# ---- compare.svg: XML, the best-so-far line, every point inside the axes ----
out=$(python3 "$TOP/tests/lib/svgcheck.py" "$G/compare.svg" --series 1 \
	--name 'best so far' 2>&1) && ok || fail "compare.svg: $out"
case $out in *points=*) ok ;; *) fail "compare.svg has no points: $out" ;; esac
check_contains "compare.svg labels the best" "g-005" "$G/compare.svg"

# ---- kill -9 mid-sweep: no trial lost, none twice ----
K=$E/sweeps/k
mkdir "$K"
cat > "$WORK/k.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "2", "2", "0.2"]},
 "space": {"x": {"uniform": [0, 10]}},
 "objective": {"metric": "eval_loss"}, "method": "tpe", "seed": 3,
 "max_trials": 16, "parallelism": 3}
EOF
cp "$WORK/k.json" "$K/sweep.json"
check "some trials made" wait_grep "$K/events" "trial 4 " 20
before=$(params "$K" | head -4)
kill9_daemon
start_daemon || exit 1
if wait_sweep "$K" completed 150; then ok; else
	fail "k completes after the kill"
	# what held it: the trials, and each unfinished trial's run
	sed 's/^/    | /' "$K/trials" "$K/events" | tail -40 >&2
	for r in "$E"/runs/k-*; do
		[ "$(cat "$r/status")" = completed ] && continue
		echo "    | $(basename "$r"): $(cat "$r/status")" >&2
		sed 's/^/    |   /' "$r/events" | tail -8 >&2
	done
fi
check_eq "16 trials" "16" "$(awk 'NR > 1' "$K/trials" | wc -l)"
check_eq "16 runs, each once" "16" "$(ls "$E/runs" | grep -c '^k-0[01][0-9]$')"
check_eq "the first trials kept their params" "$before" "$(params "$K" | head -4)"
dups=0
for r in "$E"/runs/k-*; do
	[ "$(grep -c 'submitted to' "$r/events")" -le 2 ] || dups=$((dups + 1))
	[ "$(grep -c '^.* attempt 1 submitted' "$r/events")" -le 1 ] || dups=$((dups + 1))
done
check_eq "no trial submitted or started twice" "0" "$dups"
check_eq "every trial completed" "16" "$(grep -c ' completed ' "$K/trials")"

# ---- cancel: the sweep and its active trials stop; extend ----
C=$E/sweeps/c
mkdir "$C"
cat > "$WORK/c.json" <<EOF
{"base": {"command": ["$OBJ", "{x}", "2", "100", "0.2"]},
 "space": {"x": {"uniform": [0, 1]}},
 "objective": {"metric": "eval_loss"}, "method": "random",
 "max_trials": 10, "parallelism": 2}
EOF
cp "$WORK/c.json" "$C/sweep.json"
check "c trials run" wait_state "$E/runs/c-002" running 20
echo cancel > "$C/ctl" && ok || fail "echo cancel"
check "c stopped" wait_sweep "$C" stopped 10
check "c-001 stopped" wait_state "$E/runs/c-001" stopped 20
check "c-002 stopped" wait_state "$E/runs/c-002" stopped 20
check_eq "no trial after cancel" "2" "$(ls "$E/runs" | grep -c '^c-')"
wait_cmd 20 sh -c "! grep -q ' active ' '$C/trials'" && ok ||
	fail "trials of a cancelled sweep still active: $(cat "$C/trials")"
check_eq "its trials stopped" "2" "$(grep -c '^c-00[12]  *stopped' "$C/trials")"
check_contains "a cancelled sweep has none active" "^active *0" "$C/status"
if echo 'extend 2' > "$C/ctl" 2>/dev/null; then fail "extend of a stopped sweep"; else ok; fi
check_contains "extend of a stopped sweep said" "cannot extend: the sweep is stopped" "$C/events"
if rmdir "$C" 2>/dev/null; then ok; else fail "rmdir a cancelled sweep: $(tail -1 "$C/events")"; fi
echo 'extend 2' > "$E/sweeps/r1/ctl" && ok || fail "extend r1"
check "r1 completes again" wait_sweep "$E/sweeps/r1" completed 30
check_eq "r1 has 8 trials" "8" "$(awk 'NR > 1' "$E/sweeps/r1/trials" | wc -l)"

# ---- removal, and a new sweep of the same name ----
if rmdir "$E/sweeps/g" 2>/dev/null; then ok; else fail "rmdir an ended sweep"; fi
check "its runs stay" test -d "$E/runs/g-001"
check "g gone" test ! -e "$E/sweeps/g"
mkdir "$E/sweeps/g"
if cp "$WORK/g.json" "$E/sweeps/g/sweep.json" 2>/dev/null; then
	fail "a sweep whose trials' names are taken accepted"; else ok; fi
check_contains "the taken name said" "run 'g-001' exists already" "$E/sweeps/g/events"
check_eq "the new g is still created" "created" "$(head -1 "$E/sweeps/g/status")"
mkdir "$E/runs/h-002"
mkdir "$E/sweeps/h"
if cp "$WORK/g.json" "$E/sweeps/h/sweep.json" 2>/dev/null; then
	fail "a sweep over a run made by hand accepted"; else ok; fi
check_contains "the hand-made run said" "run 'h-002' exists already" "$E/sweeps/h/events"
check_eq "the hand-made run untouched" "created" "$(cat "$E/runs/h-002/status")"
# a cancelled sweep that never started stays cancelled
echo cancel > "$E/sweeps/h/ctl" && ok || fail "cancel a created sweep"
rmdir "$E/runs/h-002"
if cp "$WORK/g.json" "$E/sweeps/h/sweep.json" 2>/dev/null; then
	fail "sweep.json of a cancelled sweep accepted"; else ok; fi
check_contains "cancelled said" "the sweep is stopped" "$E/sweeps/h/events"
# a renamed trial is shown by its name now
mv "$E/runs/f-002" "$E/runs/f-best" && ok || fail "mv a trial's run"
check_contains "best names the run as it is called now" "^run  *f-best" "$B/best"

finish
