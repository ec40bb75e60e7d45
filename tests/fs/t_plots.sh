#!/bin/sh
# t_plots.sh - the pictures through a real mount: a real training run's
# metrics.svg parses as XML with one path per metric and every point inside
# its axes, its stat size is the bytes a read gives and its mtime moves as
# points come; a run without metrics says so; an experiment's compare.svg
# says there is no objective until one is set, then shows each run's value,
# the failed ones apart and the best by name; a long history draws in
# bounded time, and a second read is served from what the first drew.
. "$(dirname "$0")/lib.sh"

CHECK_SVG=$TOP/tests/lib/svgcheck.py
start_daemon || { fail "mount"; finish; exit 1; }

# svg_ok WHAT FILE [svgcheck args]: the chart passes svgcheck.py
svg_ok() {
	what=$1; f=$2; shift 2
	cp "$f" "$WORK/check.svg" 2>/dev/null
	if out=$(python3 "$CHECK_SVG" "$WORK/check.svg" "$@"); then ok; else
		fail "$what: $out"; fi
}
# size_ok WHAT FILE: stat's size is what a read returns
size_ok() {
	check_eq "$1" "$(stat -c %s "$2")" "$(wc -c < "$2")"
}
mtime_ns() { python3 -c 'import os, sys; print(os.stat(sys.argv[1]).st_mtime_ns)' "$1"; }

# a real trainer: HF-style dicts in the log, JSON lines in $TRAINFS_METRICS
T=$(new_run plots train)
cmd_config "[\"python3\", \"$TRAIN_PY\", \"--epochs\", \"4\"]" > "$T/config.json"
check_eq "the trainer completes" "completed" "$(timeout 60 cat "$T/wait")"
nkeys=$(wc -l < "$T/metrics")
check "it reported several metrics ($nkeys)" test "$nkeys" -ge 4
svg_ok "metrics.svg: one path per metric, inside the axes" "$T/metrics.svg" \
	--series "$nkeys" --name loss --name batch_loss --name eval_loss
size_ok "metrics.svg: stat size equals bytes read" "$T/metrics.svg"
check_eq "metrics.svg is dated like metrics" "$(mtime_ns "$T/metrics")" \
	"$(mtime_ns "$T/metrics.svg")"
check_contains "titled by the run" "plots/train: metrics by step" "$T/metrics.svg"
ls "$T" > "$WORK/ls"
check_contains "listed in the run" "^metrics.svg$" "$WORK/ls"

# a run whose points come one at a time: the chart grows with them
G=$(new_run plots grow)
cmd_config '["sh", "-c", "for i in 1 2 3 4 5 6; do echo \"{\\\"step\\\": $i, \\\"loss\\\": $((10 - i))}\"; sleep 0.4; done"]' \
	> "$G/config.json"
wait_grep "$G/metrics" "loss 8" 20
s1=$(stat -c %s "$G/metrics.svg"); m1=$(mtime_ns "$G/metrics.svg")
svg_ok "a growing run's chart parses" "$G/metrics.svg" --series 1
size_ok "a growing run's chart: stat size equals bytes read" "$G/metrics.svg"
check_eq "the growing run completes" "completed" "$(timeout 30 cat "$G/wait")"
s2=$(stat -c %s "$G/metrics.svg"); m2=$(mtime_ns "$G/metrics.svg")
check "its size changed with the points ($s1 -> $s2)" test "$s1" != "$s2"
check "its mtime moved on ($m1 -> $m2)" test "$m2" -gt "$m1"
size_ok "the grown chart: stat size equals bytes read" "$G/metrics.svg"

# no metrics at all: a picture that says so
N=$(new_run plots none)
cmd_config '["true"]' > "$N/config.json"
cat "$N/wait" > /dev/null
svg_ok "no metrics: still an SVG" "$N/metrics.svg" --series 0
check_contains "no metrics: it says so" "no metrics yet" "$N/metrics.svg"

# compare.svg of an experiment: no objective, then one
E=$MNT/experiments/cmp
for spec in "r1 0.3 0" "r2 0.1 1" "r3 0.2 0" "r4 - 0"; do
	set -- $spec
	R=$(new_run cmp "$1")
	if [ "$2" = - ]; then body='echo no metric here'
	else body="echo '{\\\"eval_loss\\\": $2}'"; fi
	cmd_config "[\"sh\", \"-c\", \"$body; exit $3\"]" > "$R/config.json"
	cat "$R/wait" > /dev/null
done
svg_ok "compare.svg without an objective parses" "$E/compare.svg" --series 0
check_contains "it says how to set one" "no objective set" "$E/compare.svg"
m1=$(mtime_ns "$E/compare.svg")
echo "eval_loss min" > "$E/objective"
svg_ok "compare.svg: the best-so-far path, points inside the axes" \
	"$E/compare.svg" --series 1 --name "best so far"
size_ok "compare.svg: stat size equals bytes read" "$E/compare.svg"
check "compare.svg's mtime moved with the objective" test "$(mtime_ns "$E/compare.svg")" -gt "$m1"
# r2 failed, so its 0.1 is not the best; r4 has no value
check_contains "the best is named" "best: r3 = 0.2" "$E/compare.svg"
check_contains "failed and valueless runs counted apart" "2 failed or without a value" "$E/compare.svg"
check_contains "the others counted" "2 with a value" "$E/compare.svg"
echo "eval_loss max" > "$E/objective"
check_contains "max mode: the highest is best" "best: r1 = 0.3" "$E/compare.svg"
ls "$E" > "$WORK/ls"
check_contains "listed in the experiment" "^compare.svg$" "$WORK/ls"

# a long history: drawn in bounded time, then served from what was drawn
F=$(new_run plots long)
cat > "$WORK/long.py" <<'PY'
import math, sys
w = sys.stdout.write
for i in range(100000):
    w('{"step": %d, "loss": %.6f, "grad_norm": %.4f}\n'
      % (i, 2 * math.exp(-i / 20000) + (5 if i == 77777 else 0), 1 + (i % 100) / 50))
PY
cmd_config "[\"python3\", \"$WORK/long.py\"]" > "$F/config.json"
check_eq "the long run completes" "completed" "$(timeout 60 cat "$F/wait")"
t0=$(date +%s%N)
stat -c %s "$F/metrics.svg" > /dev/null
t1=$(date +%s%N)
cat "$F/metrics.svg" > "$WORK/long.svg"
t2=$(date +%s%N)
first=$(( (t1 - t0) / 1000000 )); second=$(( (t2 - t1) / 1000000 ))
echo "# metrics.svg of 200000 points: drawn in $first ms, read again in $second ms" >&2
check "drawn in bounded time (${first} ms)" test "$first" -lt 10000
check "the read after the stat is served from it (${second} ms)" test "$second" -lt 1000
svg_ok "the long history's chart" "$WORK/long.svg" --series 2
check "thinned to a bounded size ($(wc -c < "$WORK/long.svg") bytes)" \
	test "$(wc -c < "$WORK/long.svg")" -lt 400000
size_ok "the long chart: stat size equals bytes read" "$F/metrics.svg"

finish
