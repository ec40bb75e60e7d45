# slurm.sh - sourced by tests: a one-node real Slurm on loopback, started by
# tools/slurm-up in a scratch directory and stopped by tools/slurm-down.
#
#   slurm_cluster_up DIR    starts the cluster in DIR with the caller's
#                           SLURM_PORT_BASE (tools/slurm-up's default when
#                           unset); sets SLURM_DIR, SLURM_PROVIDER (the
#                           provider JSON slurm-up printed, also kept in
#                           DIR/provider.json) and SLURM_NODE, and exports
#                           SLURM_CONF for squeue/scontrol. On failure it
#                           prints "SKIP: <reason>" and returns 1: the caller
#                           then ends with "0 passed, 0 failed" (a test that
#                           cannot run says so, it never passes silently)
#   slurm_cluster_down DIR  stops what slurm_cluster_up started (by pid, in
#                           tools/slurm-down); DIR stays, for its logs
#
# DIR should lie outside a test's $WORK: tests/fs/lib.sh's finish() ends
# every process whose command line names $WORK, the cluster's daemons too.

SLURM_TOOLS=${SLURM_TOOLS:-${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}/tools}

slurm_cluster_up() {
	if [ $# -ne 1 ]; then
		echo "usage: slurm_cluster_up DIR" >&2
		return 2
	fi
	if [ "$(id -u)" -ne 0 ]; then
		echo "SKIP: a Slurm cluster needs root (slurmd runs jobs as their users)"
		return 1
	fi
	mkdir -p "$1" || { echo "SKIP: cannot create '$1'"; return 1; }
	SLURM_DIR=$(cd "$1" && pwd)
	if ! sh "$SLURM_TOOLS/slurm-up" "$SLURM_DIR" \
		>"$SLURM_DIR/provider.json" 2>"$SLURM_DIR/up.err"; then
		_why=$(grep -v '^ *$' "$SLURM_DIR/up.err" | head -1)
		echo "SKIP: the Slurm cluster did not start (port base" \
		     "${SLURM_PORT_BASE:-16800}): ${_why:-tools/slurm-up failed}"
		sed 's/^/    | /' "$SLURM_DIR/up.err" | tail -8 >&2
		sh "$SLURM_TOOLS/slurm-down" "$SLURM_DIR" >/dev/null 2>&1
		return 1
	fi
	SLURM_PROVIDER=$(cat "$SLURM_DIR/provider.json")
	SLURM_CONF=$SLURM_DIR/slurm.conf
	export SLURM_CONF
	SLURM_NODE=$(sinfo -h -N -o '%N' | head -1)
	return 0
}

slurm_cluster_down() {
	[ $# -eq 1 ] && [ -d "$1" ] || return 0
	sh "$SLURM_TOOLS/slurm-down" "$1"
}
