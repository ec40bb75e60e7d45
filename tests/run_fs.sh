#!/bin/sh
# run_fs.sh - runs every behaviour test (each mounts a real trainfs) and adds
# up their closing lines into one.
cd "$(dirname "$0")/.." || exit 1
p=0; f=0
for t in tests/fs/t_*.sh; do
	out=$(sh "$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out" | tail -20
		echo "fs $(basename "$t"): no result line (exit $rc)"; f=$((f + 1)); continue
	fi
	printf '%s\n' "$out" | grep -E '^FAIL' | head -20
	echo "fs $(basename "$t"): $line"
	p=$((p + $(echo "$line" | cut -d' ' -f1)))
	f=$((f + $(echo "$line" | cut -d' ' -f3)))
done
echo "$p passed, $f failed"
[ $f -eq 0 ]
