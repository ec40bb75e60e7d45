# lib.sh - shared helpers for the behaviour tests: each test mounts a real
# trainfs on a fresh mount point with a fresh state directory, drives it with
# ordinary tools, and counts checks. Sourced by tests/fs/t_*.sh.
set -u

TOP=$(cd "$(dirname "$0")/../.." && pwd)
TRAINFS=${TRAINFS:-$TOP/trainfs}
TRAIN_PY=$TOP/tools/train.py
WORK=$(mktemp -d /tmp/trainfs-test.XXXXXX)
MNT=$WORK/mnt
STATE=$WORK/state
DCONF=$WORK/daemon.json
mkdir -p "$MNT"
PASSED=0
FAILED=0
DAEMON_PID=""

ok() { PASSED=$((PASSED + 1)); }
fail() { FAILED=$((FAILED + 1)); echo "FAIL [$(basename "$0")]: $*" >&2; }
check() { # check "what" command...
	what=$1; shift
	if "$@"; then ok; else fail "$what"; fi
}
check_eq() { # check_eq "what" expected actual
	if [ "$2" = "$3" ]; then ok; else fail "$1: expected '$2', got '$3'"; fi
}
check_contains() { # check_contains "what" needle file
	if grep -q -- "$2" "$3" 2>/dev/null; then ok; else
		fail "$1: '$2' not in $3"; sed 's/^/    | /' "$3" 2>/dev/null | tail -5 >&2; fi
}

# A daemon config with short periods so tests run fast.
write_daemon_config() { # [max_jobs] [cpus]
	cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {"local": {"type": "local",
   "slots": {"cpus": ${2:-2}, "max_jobs": ${1:-2}}}}}
JSON
}

start_daemon() {
	[ -f "$DCONF" ] || write_daemon_config
	"$TRAINFS" -f --state "$STATE" --config "$DCONF" "$@" "$MNT" \
		2>>"$WORK/daemon.log" &
	DAEMON_PID=$!
	i=0
	while ! mountpoint -q "$MNT"; do
		i=$((i + 1))
		if [ $i -gt 100 ] || ! kill -0 "$DAEMON_PID" 2>/dev/null; then
			echo "daemon did not mount" >&2; cat "$WORK/daemon.log" >&2
			return 1
		fi
		sleep 0.05
	done
}

stop_daemon() {
	if mountpoint -q "$MNT"; then fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"; fi
	[ -n "$DAEMON_PID" ] && wait "$DAEMON_PID" 2>/dev/null
	DAEMON_PID=""
}

kill9_daemon() {
	kill -9 "$DAEMON_PID" 2>/dev/null
	wait "$DAEMON_PID" 2>/dev/null
	fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT" 2>/dev/null
	DAEMON_PID=""
}

# wait_state RUN_DIR STATE [seconds]: polls status until it reads STATE.
wait_state() {
	deadline=$(( $(date +%s) + ${3:-20} ))
	while [ "$(date +%s)" -le "$deadline" ]; do
		[ "$(cat "$1/status" 2>/dev/null)" = "$2" ] && return 0
		sleep 0.05
	done
	echo "timeout waiting for $1 to be $2 (is $(cat "$1/status" 2>/dev/null))" >&2
	return 1
}

# wait_file FILE PATTERN [seconds]: polls until FILE contains PATTERN.
wait_grep() {
	deadline=$(( $(date +%s) + ${3:-20} ))
	while [ "$(date +%s)" -le "$deadline" ]; do
		grep -q -- "$2" "$1" 2>/dev/null && return 0
		sleep 0.05
	done
	return 1
}

# new_run EXP RUN: mkdir both (the experiment may exist); prints the path.
new_run() {
	mkdir -p "$MNT/experiments/$1" 2>/dev/null
	mkdir "$MNT/experiments/$1/runs/$2" && echo "$MNT/experiments/$1/runs/$2"
}

# cmd_config 'argv as JSON array' [extra JSON members]
cmd_config() {
	if [ -n "${2:-}" ]; then printf '{"command": %s, %s}\n' "$1" "$2"
	else printf '{"command": %s}\n' "$1"; fi
}

# js FILE KEY...: a member of a JSON file, "" when absent or null
js() {
	python3 - "$@" <<'PY' 2>/dev/null
import json, sys
v = json.load(open(sys.argv[1]))
for k in sys.argv[2:]:
    v = v[int(k)] if isinstance(v, list) else v.get(k)
    if v is None:
        break
print("" if v is None else v)
PY
}
# wait_cmd SECONDS command...: until the command succeeds
wait_cmd() {
	_deadline=$(( $(date +%s) + $1 )); shift
	while [ "$(date +%s)" -le "$_deadline" ]; do
		"$@" && return 0
		sleep 0.1
	done
	return 1
}

finish() {
	stop_daemon
	# under SANITIZE= builds the daemon reports here; any report fails
	if grep -E -q 'AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer' "$WORK/daemon.log" 2>/dev/null; then
		fail "sanitizer report from the daemon"
		grep -E -A 12 'AddressSanitizer|LeakSanitizer|runtime error:|ThreadSanitizer' "$WORK/daemon.log" | head -40 >&2
	fi
	# jobs of this test that still run are its own: end them
	pkill -KILL -f "$WORK" 2>/dev/null
	if [ -n "${KEEP:-}" ]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
	echo "$PASSED passed, $FAILED failed"
	[ "$FAILED" -eq 0 ]
}
trap 'stop_daemon; rm -rf "$WORK"' INT TERM
