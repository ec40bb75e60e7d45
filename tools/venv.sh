#!/bin/sh
# venv.sh [DIR] - makes the Python virtual environment the Optuna peer runs
# in (default build/venv), idempotently: Optuna is the peer of the sweep
# benchmark, not a dependency of trainfs, so it never goes into the system.
# Prints the environment's python on stdout.
set -e
dir=${1:-build/venv}
if ! "$dir/bin/python" -c 'import optuna' 2>/dev/null; then
	python3 -m venv "$dir" >&2
	"$dir/bin/pip" install --quiet --disable-pip-version-check optuna >&2
fi
echo "$dir/bin/python"
