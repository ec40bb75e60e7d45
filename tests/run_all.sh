#!/bin/sh
# run_all.sh BUILD_DIR - unit tests, then behaviour tests on real mounts;
# ends with the sum of both as "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
u=$(sh tests/run_unit.sh "${1:-build/default}" 2>&1); echo "$u" | sed '$d'
v=$(sh tests/run_fs.sh 2>&1); echo "$v" | sed '$d'
ul=$(echo "$u" | tail -1); vl=$(echo "$v" | tail -1)
p=$(( $(echo "$ul" | cut -d' ' -f1) + $(echo "$vl" | cut -d' ' -f1) ))
f=$(( $(echo "$ul" | cut -d' ' -f3) + $(echo "$vl" | cut -d' ' -f3) ))
echo "$p passed, $f failed"
[ $f -eq 0 ]
