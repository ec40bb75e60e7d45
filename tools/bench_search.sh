#!/bin/sh
# bench_search.sh - trainfs's search methods beside Optuna's TPE, the peer
# of sweeps, on the functions of tools/objectives.py (Branin, Hartmann-6 and
# mixed5): the same trials and seeds each, the methods alone in process (no
# mount, no jobs). Run from the repository top after `make all`:
#
#   sh tools/bench_search.sh [TRIALS [SEEDS]]      (default 100 0-9)
#
# Installs Optuna into build/venv (tools/venv.sh) when it is not there,
# checks that the C and Python functions agree, writes the JSON lines to
# build/search/{trainfs,optuna}.jsonl and prints tools/search_table.py's
# table: the median over the seeds of the best value after 20, 50 and 100
# trials, per function and sampler, and whether the goal holds (trainfs-tpe
# no worse than optuna-tpe at 50 and 100 trials, better than random in a
# majority of seeds). Exits 1 when it does not.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRIALS=${1:-100}
SEEDS=${2:-0-9}
OUT=$TOP/build/search
BENCH=$TOP/tools/bench_search
[ -x "$BENCH" ] || { echo "bench_search: run make first" >&2; exit 1; }
mkdir -p "$OUT"
PY=$(sh "$TOP/tools/venv.sh" "$TOP/build/venv")

# The two implementations of each function must be one function.
check() {
	c=$("$BENCH" --eval "$1" "$2" | sed 's/.*: *//; s/}//')
	n=$1; shift 2
	p=$(python3 "$TOP/tools/objectives.py" "$n" "$@" | sed 's/.*: *//; s/}//')
	[ "$(awk -v a="$c" -v b="$p" 'BEGIN { d = a - b; print (d < 1e-9 && d > -1e-9) }')" = 1 ] ||
		{ echo "bench_search: $n differs: C $c, Python $p" >&2; exit 1; }
}
check branin '{"x1": 1.5, "x2": 7}' 1.5 7
check branin '{"x1": -4, "x2": 14}' -4 14
check hartmann6 '{"x1": 0.1, "x2": 0.2, "x3": 0.3, "x4": 0.4, "x5": 0.5, "x6": 0.6}' \
	0.1 0.2 0.3 0.4 0.5 0.6
check mixed5 '{"opt": "lion", "layers": 2, "lr": 0.02, "dropout": 0.35, "wd": 3e-06}' \
	lion 2 0.02 0.35 3e-06
check mixed5 '{"opt": "sgd", "layers": 8, "lr": 1e-05, "dropout": 0, "wd": 0.01}' \
	sgd 8 1e-05 0 0.01

echo "bench_search: trainfs random and tpe, $TRIALS trials, seeds $SEEDS" >&2
"$BENCH" --trials "$TRIALS" --seeds "$SEEDS" > "$OUT/trainfs.jsonl"
echo "bench_search: optuna tpe" >&2
"$PY" "$TOP/tools/optuna_peer.py" --trials "$TRIALS" --seeds "$SEEDS" \
	> "$OUT/optuna.jsonl"
echo "optuna $("$PY" -c 'import optuna; print(optuna.__version__)')," \
	"$TRIALS trials, seeds $SEEDS"
python3 "$TOP/tools/search_table.py" "$OUT/trainfs.jsonl" "$OUT/optuna.jsonl"
