#!/bin/sh
# run_all.sh BUILD_DIR - unit tests, behaviour tests on real mounts, then
# the crash and fault suite; ends with the sum of all three as "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
u=$(sh tests/run_unit.sh "${1:-build/default}" 2>&1); echo "$u" | sed '$d'
v=$(sh tests/run_fs.sh 2>&1); echo "$v" | sed '$d'
# the committed RELIABILITY.md is rewritten by `make crashtest` only; a
# plain `make test` leaves the tree as it found it
mkdir -p build
w=$(RELIABILITY=${RELIABILITY:-build/RELIABILITY.md} sh tests/run_crash.sh 2>&1); echo "$w" | sed '$d'
ul=$(echo "$u" | tail -1); vl=$(echo "$v" | tail -1); wl=$(echo "$w" | tail -1)
p=$(( $(echo "$ul" | cut -d' ' -f1) + $(echo "$vl" | cut -d' ' -f1) + $(echo "$wl" | cut -d' ' -f1) ))
f=$(( $(echo "$ul" | cut -d' ' -f3) + $(echo "$vl" | cut -d' ' -f3) + $(echo "$wl" | cut -d' ' -f3) ))
echo "$p passed, $f failed"
[ $f -eq 0 ]
