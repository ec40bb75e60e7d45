#!/bin/sh
# run_files.sh LABEL all|fails SCRIPT... - runs each test script (each mounts
# a real trainfs), shows every line of its output (all) or only its FAIL
# and SKIP lines (fails), and adds up their closing lines into one.
cd "$(dirname "$0")/.." || exit 1
label=$1; show=$2; shift 2
p=0; f=0
for t in "$@"; do
	out=$(sh "$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ "$show" = all ]; then
		printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed'
	elif [ -n "$line" ]; then
		printf '%s\n' "$out" | grep -E '^(FAIL|SKIP)' | head -20
	else
		printf '%s\n' "$out" | tail -20
	fi
	if [ -z "$line" ]; then
		echo "$label $(basename "$t"): no result line (exit $rc)"; f=$((f + 1)); continue
	fi
	echo "$label $(basename "$t"): $line"
	p=$((p + $(echo "$line" | cut -d' ' -f1)))
	f=$((f + $(echo "$line" | cut -d' ' -f3)))
done
echo "$p passed, $f failed"
[ $f -eq 0 ]
