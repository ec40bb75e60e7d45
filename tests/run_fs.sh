#!/bin/sh
# run_fs.sh - runs every behaviour test (each mounts a real trainfs), showing
# their FAIL lines, and adds up their closing lines into one.
cd "$(dirname "$0")/.." || exit 1
exec sh tests/run_files.sh fs fails tests/fs/t_*.sh
