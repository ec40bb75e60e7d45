#!/bin/sh
# c_storm.sh - kill -9 of the daemon at random moments while 1,000 runs are
# submitted by 4 parallel writers, 20 rounds, then an account of every run
# (storm.py); writes RELIABILITY.md (RELIABILITY=FILE writes elsewhere).
# STORM_RUNS, STORM_ROUNDS make a smaller storm for a quick look.
. "$(dirname "$0")/lib.sh"

python3 "$TOP/tests/crash/storm.py" --trainfs "$TRAINFS" --work "$WORK" \
	--seed "$SEED" --runs "${STORM_RUNS:-1000}" --writers 4 \
	--rounds "${STORM_ROUNDS:-20}" \
	--report "${RELIABILITY:-$TOP/RELIABILITY.md}" > "$WORK/storm.out" 2>&1
rc=$?
grep -v -E '^(PASS|FAIL): |^[0-9]+ passed, [0-9]+ failed' "$WORK/storm.out"
PASSED=$((PASSED + $(grep -c '^PASS: ' "$WORK/storm.out")))
FAILED=$((FAILED + $(grep -c '^FAIL: ' "$WORK/storm.out")))
grep -E '^(PASS|FAIL): ' "$WORK/storm.out"
[ $rc -eq 0 ] || grep -q '^FAIL: ' "$WORK/storm.out" ||
	fail "storm.py exited with $rc"
finish
