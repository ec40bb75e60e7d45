#!/bin/sh
# run_all.sh BUILD_DIR - the include graph, unit tests, behaviour tests on
# real mounts, then the crash and fault suite; ends with the sum of all four
# as "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
i=$(sh tests/run_includes.sh 2>&1); echo "$i" | sed '$d'
u=$(sh tests/run_unit.sh "${1:-build/default}" 2>&1); echo "$u" | sed '$d'
v=$(sh tests/run_fs.sh 2>&1); echo "$v" | sed '$d'
# the committed RELIABILITY.md is rewritten by `make crashtest` only; a
# plain `make test` leaves the tree as it found it
mkdir -p build
w=$(RELIABILITY=${RELIABILITY:-build/RELIABILITY.md} sh tests/run_crash.sh 2>&1); echo "$w" | sed '$d'
il=$(echo "$i" | tail -1)
ul=$(echo "$u" | tail -1); vl=$(echo "$v" | tail -1); wl=$(echo "$w" | tail -1)
p=$(( $(echo "$il" | cut -d' ' -f1) + $(echo "$ul" | cut -d' ' -f1) + $(echo "$vl" | cut -d' ' -f1) + $(echo "$wl" | cut -d' ' -f1) ))
f=$(( $(echo "$il" | cut -d' ' -f3) + $(echo "$ul" | cut -d' ' -f3) + $(echo "$vl" | cut -d' ' -f3) + $(echo "$wl" | cut -d' ' -f3) ))
echo "$p passed, $f failed"
[ $f -eq 0 ]
