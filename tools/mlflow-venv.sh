#!/bin/sh
# mlflow-venv.sh [DIR] - installs MLflow (the tracking server the export's
# tests and benchmark talk to, and its Python client for the comparison)
# into the benchmark's virtual environment (default build/venv),
# idempotently; never into the system. About 90 s and 400 MB the first
# time. Prints the environment's python on stdout, or fails with pip's
# reason on stderr.
set -e
dir=${1:-build/venv}
if ! "$dir/bin/python" -c 'import mlflow' 2>/dev/null; then
	[ -x "$dir/bin/python" ] || python3 -m venv "$dir" >&2
	"$dir/bin/pip" install --quiet --disable-pip-version-check mlflow >&2
fi
echo "$dir/bin/python"
