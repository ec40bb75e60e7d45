#!/bin/sh
# run_crash.sh - runs the crash and fault suite (tests/crash/c_*.sh: each
# mounts a real trainfs and kills, unmounts or starves it), printing every
# check by name, and adds up their closing lines into one.
cd "$(dirname "$0")/.." || exit 1
p=0; f=0
for t in tests/crash/c_*.sh; do
	out=$(sh "$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	printf '%s\n' "$out" | grep -v -E '^[0-9]+ passed, [0-9]+ failed'
	if [ -z "$line" ]; then
		echo "crash $(basename "$t"): no result line (exit $rc)"; f=$((f + 1)); continue
	fi
	echo "crash $(basename "$t"): $line"
	p=$((p + $(echo "$line" | cut -d' ' -f1)))
	f=$((f + $(echo "$line" | cut -d' ' -f3)))
done
echo "$p passed, $f failed"
[ $f -eq 0 ]
