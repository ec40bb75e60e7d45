#!/bin/sh
# run_unit.sh BUILD_DIR - runs every C unit test and adds up their closing
# "N passed, N failed" lines into one.
BUILD=${1:-build/default}
p=0; f=0
for t in "$BUILD"/tests/test_*; do
	[ -x "$t" ] || continue
	case "$t" in *.d|*.o) continue ;; esac
	out=$("$t" 2>&1); rc=$?
	line=$(printf '%s\n' "$out" | grep -E '^[0-9]+ passed, [0-9]+ failed' | tail -1)
	if [ -z "$line" ]; then
		printf '%s\n' "$out" | tail -20
		echo "unit $(basename "$t"): no result line (exit $rc)"; f=$((f + 1)); continue
	fi
	[ $rc -ne 0 ] && printf '%s\n' "$out" | grep -E 'FAIL|ERROR|Sanitizer' | head -20
	echo "unit $(basename "$t"): $line"
	p=$((p + $(echo "$line" | cut -d' ' -f1)))
	f=$((f + $(echo "$line" | cut -d' ' -f3)))
	[ $rc -ne 0 ] && [ "$(echo "$line" | cut -d' ' -f3)" -eq 0 ] && f=$((f + 1))
done
echo "$p passed, $f failed"
[ $f -eq 0 ]
