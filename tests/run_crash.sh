#!/bin/sh
# run_crash.sh - runs the crash and fault suite (tests/crash/c_*.sh: each
# mounts a real trainfs and kills, unmounts or starves it), printing every
# check by name, and adds up their closing lines into one.
cd "$(dirname "$0")/.." || exit 1
exec sh tests/run_files.sh crash all tests/crash/c_*.sh
