#!/bin/sh
# bench_sweep.sh - measure 10 of BENCHMARKS.md: sweeps through a real mount.
#   - quality: Branin (2-D) and Hartmann-6 (6-D), each trial a tiny real
#     job (python3 tools/objectives.py FUNCTION X...) that a sweep of the
#     mount runs, SWEEP_TRIALS trials one at a time (as Optuna's study.optimize
#     runs them), seeds SWEEP_SEEDS, for trainfs's random and TPE; beside
#     them Optuna's TPESampler(seed) on the same functions, trials and
#     seeds (tools/optuna_peer.py, in a virtual environment under build/).
#     The best value found after 20, 50 and 100 trials, median over the
#     seeds, and its regret (best - the function's known minimum);
#   - the machinery: trials per second of a sweep whose jobs cost nothing
#     (`sh -c echo`), SWEEP_FAST_N trials, parallelism SWEEP_PAR, against
#     the same jobs submitted as plain runs, all at once, through the same
#     slots (the mount's own floor for running them).
# Prints markdown table rows on stdout, progress on stderr; the JSON lines
# are kept in build/sweep/ for tools/search_table.py.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRAINFS=${TRAINFS:-$TOP/build/default/trainfs}
TRIALS=${SWEEP_TRIALS:-100}
SEEDS=${SWEEP_SEEDS:-0-9}
FAST_N=${SWEEP_FAST_N:-200}
PAR=${SWEEP_PAR:-8}
CONC=${SWEEP_CONC:-8}          # sweeps of the quality part at once
OUT=$TOP/build/sweep
W=$(mktemp -d /tmp/tfs-bsweep.XXXXXX)
MNT=$W/mnt
PID=""
say() { echo "bench_sweep: $*" >&2; }
die() { say "$*"; exit 1; }
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
mkdir -p "$MNT" "$OUT"
lo=${SEEDS%-*} hi=${SEEDS#*-}

PY=$(sh "$TOP/tools/venv.sh" "$TOP/build/venv") || die "cannot make the venv"
OPTUNA_V=$("$PY" -c 'import optuna; print(optuna.__version__)')

cat > "$W/daemon.json" <<EOF
{"poll_interval_ms": 100, "kill_grace_s": 1,
 "providers": {"local": {"type": "local",
   "slots": {"cpus": 64, "max_jobs": $PAR}}}}
EOF
"$TRAINFS" -f --state "$W/state" --config "$W/daemon.json" "$MNT" \
	2>>"$W/daemon.log" &
PID=$!
i=0
while ! mountpoint -q "$MNT"; do
	i=$((i + 1))
	[ $i -le 200 ] && kill -0 "$PID" 2>/dev/null || die "no mount"
	sleep 0.05
done
E=$MNT/experiments

now() { date +%s.%N; }
# wait_sweep DIR: until its status is completed (or fails)
wait_sweep() {
	while :; do
		ws=$(head -1 "$1/status")
		case $ws in completed) return 0 ;; running) sleep 0.2 ;;
		*) die "sweep $1 is $ws: $(tail -3 "$1/events")" ;; esac
	done
}

# ---- the machinery: instant trials, and the same jobs as plain runs ----
say "$FAST_N instant trials, parallelism $PAR"
mkdir "$E/fast" "$E/fast/sweeps/s"
cat > "$W/fast.json" <<EOF
{"base": {"command": ["sh", "-c", "echo '{\"value\": {x}}'"]},
 "space": {"x": {"uniform": [0, 1]}},
 "objective": {"metric": "value"}, "method": "tpe", "seed": 1,
 "max_trials": $FAST_N, "parallelism": $PAR}
EOF
t0=$(now)
cp "$W/fast.json" "$E/fast/sweeps/s/sweep.json"
wait_sweep "$E/fast/sweeps/s"
t1=$(now)
n=$(grep -c ' completed ' "$E/fast/sweeps/s/trials") || true
[ "$n" -eq "$FAST_N" ] || die "$n of $FAST_N instant trials completed"
say "$FAST_N plain runs of the same job, all at once"
mkdir "$E/plain"
t2=$(now)
i=1
while [ $i -le "$FAST_N" ]; do
	mkdir "$E/plain/runs/p$i"
	printf '{"command": ["sh", "-c", "echo {\\"value\\": 0.5}"]}' \
		> "$E/plain/runs/p$i/config.json"
	i=$((i + 1))
done
i=1
while [ $i -le "$FAST_N" ]; do
	[ "$(cat "$E/plain/runs/p$i/wait")" = completed ] ||
		die "plain run p$i did not complete"
	i=$((i + 1))
done
t3=$(now)
FAST=$(awk -v n="$FAST_N" -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", n / (b - a) }')
PLAIN=$(awk -v n="$FAST_N" -v a="$t2" -v b="$t3" 'BEGIN { printf "%.1f", n / (b - a) }')

# ---- quality: random and TPE through the mount, Optuna beside ----
say "Optuna $OPTUNA_V: branin, hartmann6, $TRIALS trials, seeds $SEEDS"
"$PY" "$TOP/tools/optuna_peer.py" --trials "$TRIALS" --seeds "$SEEDS" \
	--functions branin,hartmann6 > "$OUT/optuna.jsonl" ||
	die "optuna_peer.py failed"
: > "$OUT/mount.jsonl"
mkdir "$E/q"
# sweep_make FUNCTION METHOD SEED: starts one sweep
sweep_make() {
	nargs=$(python3 "$TOP/tools/objectives.py" space "$1" |
		python3 -c 'import json, sys; print(len(json.load(sys.stdin)))')
	args=""
	k=1
	while [ $k -le "$nargs" ]; do
		args="$args, \"{x$k}\""
		k=$((k + 1))
	done
	mkdir "$E/q/sweeps/$1-$2-$3"
	cat > "$W/q.json" <<EOF
{"base": {"command": ["python3", "$TOP/tools/objectives.py", "$1"$args]},
 "space": $(python3 "$TOP/tools/objectives.py" space "$1"),
 "objective": {"metric": "value", "mode": "min"},
 "method": "$2", "seed": $3, "max_trials": $TRIALS, "parallelism": 1}
EOF
	cp "$W/q.json" "$E/q/sweeps/$1-$2-$3/sweep.json" ||
		die "sweep.json of $1-$2-$3 refused: $(tail -2 "$E/q/sweeps/$1-$2-$3/events")"
}
# sweep_result FUNCTION METHOD SEED: its JSON line, from the trials' runs
sweep_result() {
	name=$1-$2-$3
	k=1
	while [ $k -le "$TRIALS" ]; do
		awk '$1 == "value" { print $2 }' \
			"$E/q/runs/$name-$(printf %03d $k)/metrics"
		k=$((k + 1))
	done | python3 -c '
import json, sys
vals = [float(l) for l in sys.stdin if l.strip()]
fn, sampler, seed, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
if len(vals) != n:
    sys.exit("%d of %d trials have a value" % (len(vals), n))
best = {str(a): min(vals[:a]) for a in (20, 50, 100) if a <= n}
print(json.dumps({"function": fn, "sampler": "trainfs-" + sampler,
                  "seed": seed, "trials": n, "best": best}))
' "$1" "$2" "$3" "$TRIALS" >> "$OUT/mount.jsonl" || die "sweep $name: no result"
}
jobs=""
for fn in branin hartmann6; do
	for m in random tpe; do
		s=$lo
		while [ "$s" -le "$hi" ]; do
			jobs="$jobs $fn:$m:$s"
			s=$((s + 1))
		done
	done
done
say "trainfs random and tpe through the mount: $(echo $jobs | wc -w) sweeps, $CONC at a time"
tq0=$(now)
set -- $jobs
while [ $# -gt 0 ]; do
	batch=""
	k=0
	while [ $# -gt 0 ] && [ $k -lt "$CONC" ]; do
		batch="$batch $1"
		shift
		k=$((k + 1))
	done
	for j in $batch; do
		IFS=: read -r fn m s <<EOF
$j
EOF
		sweep_make "$fn" "$m" "$s"
	done
	for j in $batch; do
		IFS=: read -r fn m s <<EOF
$j
EOF
		wait_sweep "$E/q/sweeps/$fn-$m-$s"
		sweep_result "$fn" "$m" "$s"
	done
done
tq1=$(now)
TOTAL=$(awk -v a="$tq0" -v b="$tq1" 'BEGIN { printf "%.0f", b - a }')
python3 "$TOP/tools/search_table.py" "$OUT/mount.jsonl" "$OUT/optuna.jsonl" \
	> "$OUT/table.txt" || true
cat "$OUT/table.txt" >&2

# ---- the rows ----
python3 - "$OUT/mount.jsonl" "$OUT/optuna.jsonl" "$OPTUNA_V" "$TRIALS" \
	"$SEEDS" <<'PY'
import json, statistics, sys
mins = {"branin": 0.397887, "hartmann6": -3.32237}
rows = [json.loads(l) for f in sys.argv[1:3] for l in open(f) if l.strip()]
ver, trials, seeds = sys.argv[3], int(sys.argv[4]), sys.argv[5]
by = {}
for r in rows:
    by.setdefault((r["function"], r["sampler"]), {})[r["seed"]] = r["best"]
def med(fn, sp, at):
    return statistics.median(b[str(at)] for b in by[(fn, sp)].values())
def row(*c):
    print("| " + " | ".join(c) + " |")
for fn in ("branin", "hartmann6"):
    n = len(by[(fn, "trainfs-tpe")])
    for at in (20, 50, 100):
        if at > trials:
            continue
        t, o, r = (med(fn, s, at) for s in
                   ("trainfs-tpe", "optuna-tpe", "trainfs-random"))
        rt, ro = t - mins[fn], o - mins[fn]
        ratio = "%.2fx" % (rt / ro) if ro > 0 else "—"
        goal = at in (50, 100)
        row("Sweep: %s, best after %d trials, trainfs TPE through the mount "
            "(median of %d seeds; random: %.4g)" % (fn, at, n, r),
            "%.4g (regret %.3g)" % (t, rt),
            "%.4g (regret %.3g; Optuna %s TPE, same seeds)" % (o, ro, ver),
            ratio + " of regret",
            "≤ 1x Optuna's" if goal else "(info)",
            ("yes" if t <= o else "NO") if goal else "—")
    tpe, rnd = by[(fn, "trainfs-tpe")], by[(fn, "trainfs-random")]
    last = str(max(int(k) for b in tpe.values() for k in b))
    common = sorted(set(tpe) & set(rnd))
    wins = sum(tpe[s][last] < rnd[s][last] for s in common)
    row("Sweep: %s, trainfs TPE better than trainfs random at %s trials"
        % (fn, last), "%d of %d seeds" % (wins, len(common)), "—", "—",
        "a majority", "yes" if 2 * wins > len(common) else "NO")
PY
row "Sweep: trials/s, $FAST_N trials of an instant job, parallelism $PAR (TPE)" \
	"$FAST /s" "$PLAIN /s (the same jobs as $FAST_N plain runs submitted at once, same $PAR slots)" \
	"$(awk -v a="$FAST" -v b="$PLAIN" 'BEGIN { printf "%.2fx", a / b }')" "(info)" "—"
say "quality part: ${TOTAL} s for $(echo $jobs | wc -w) sweeps of $TRIALS trials"
