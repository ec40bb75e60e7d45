#!/bin/sh
# Bad input at the file boundary (DESIGN.md section 9): each gives its errno,
# leaves a reason in events and creates nothing half-way.
. "$(dirname "$0")/lib.sh"
start_daemon || exit 1
E=$MNT/experiments

# errno of a failing command, from its message
err_of() { "$@" 2>&1 >/dev/null | sed 's/.*: //' | tail -1; }

# invalid names
check_eq "mkdir '..' in experiments" "File exists" "$(err_of mkdir "$E/..")"
check_eq "leading dot refused" "Invalid argument" "$(err_of mkdir "$E/.hidden")"
LONG=$(printf 'a%.0s' $(seq 1 200))
check_eq "200-char name refused" "Invalid argument" "$(err_of mkdir "$E/$LONG")"
check_eq "control character refused" "Invalid argument" "$(err_of mkdir "$E/$(printf 'a\tb')")"
check_eq "space refused" "Invalid argument" "$(err_of mkdir "$E/a b")"
check_eq "128-char name accepted" "" "$(err_of mkdir "$E/$(printf 'b%.0s' $(seq 1 128))")"
check_eq "129-char name refused" "Invalid argument" "$(err_of mkdir "$E/$(printf 'c%.0s' $(seq 1 129))")"
mkdir "$E/ok"
check_eq "invalid run name refused" "Invalid argument" "$(err_of mkdir "$E/ok/runs/-dash")"
check_eq "nothing half-created" "ok default $(printf 'b%.0s' $(seq 1 128))" \
	"$(ls "$E" | LC_ALL=C sort -r | tr '\n' ' ' | sed 's/ $//')"
check_eq "no run created" "" "$(ls "$E/ok/runs")"
check_contains "refusals are in the mount's events" "invalid run name '-dash'" "$MNT/events"
check_contains "refused experiment names too" "invalid experiment name '.hidden'" "$MNT/events"
mkdir "$E/ok/runs/r1"
check_eq "rename a run to a/b" "No such file or directory" "$(err_of mv "$E/ok/runs/r1" "$E/ok/runs/a/b")"
check_eq "rename a run to a bad name" "Invalid argument" \
	"$(python3 -c "
import os
try: os.rename('$E/ok/runs/r1', '$E/ok/runs/.x'); print('renamed')
except OSError as e: print(os.strerror(e.errno))")"
check "renamed to a good name" mv "$E/ok/runs/r1" "$E/ok/runs/r2"
check_eq "rename kept the run" "created" "$(cat "$E/ok/runs/r2/status")"
check_eq "mkdir outside the tree" "Operation not permitted" "$(err_of mkdir "$MNT/stray")"
check_eq "files cannot be made at the top" "Permission denied" "$(err_of touch "$MNT/stray")"

# invalid configs: EINVAL at close, the reason in events, still created
R=$E/ok/runs/r2
try_config() { # what file expected-errno expected-reason
	check_eq "$1: errno" "$3" "$(err_of cp "$2" "$R/config.json")"
	check_eq "$1: still created" "created" "$(cat "$R/status")"
	check_contains "$1: reason in events" "$4" "$R/events"
}
printf '{"command": ["true"' > "$WORK/broken.json"
try_config "broken JSON" "$WORK/broken.json" "Invalid argument" "config rejected: invalid JSON"
echo '{"comand": ["true"]}' > "$WORK/unknown.json"
try_config "unknown key" "$WORK/unknown.json" "Invalid argument" "unknown key 'comand'"
echo '{"command": ["true"], "priority": "high"}' > "$WORK/type.json"
try_config "wrong type" "$WORK/type.json" "Invalid argument" "'priority'"
echo '{"command": []}' > "$WORK/empty.json"
try_config "empty command" "$WORK/empty.json" "Invalid argument" "'command'"
echo '{"command": ["x"], "resources": {"cpus": 64}}' > "$WORK/big.json"
try_config "resources over capacity" "$WORK/big.json" "Invalid argument" "needs 64 cpus"
echo '{"command": ["x", "{lr}"]}' > "$WORK/param.json"
try_config "unknown param" "$WORK/param.json" "Invalid argument" "unknown param 'lr'"
python3 -c "
import json; print(json.dumps({'command': ['true'], 'tags': {'pad': 'x' * (2 << 20)}}))" > "$WORK/2mib.json"
check_eq "2 MiB config: EFBIG" "File too large" "$(err_of cp "$WORK/2mib.json" "$R/config.json")"
check_eq "2 MiB config: still created" "created" "$(cat "$R/status")"
check_contains "2 MiB: reason in events" "larger than 1 MiB" "$R/events"
check_eq "config.json still empty" "0" "$(stat -c %s "$R/config.json")"

# a good config then goes through, and config.json is then EBUSY
cmd_config '["true"]' > "$R/config.json" && ok || fail "valid config after refusals"
check_eq "second write: EBUSY" "Device or resource busy" \
	"$(err_of sh -c "/bin/echo '{}' > '$R/config.json'")"
check_eq "truncate after submit: EBUSY" "Device or resource busy" "$(err_of truncate -s 0 "$R/config.json")"

# unknown ctl commands
wait_state "$R" completed
check_eq "unknown ctl: EINVAL" "Invalid argument" "$(err_of sh -c "/bin/echo explode > '$R/ctl'")"
check_contains "ctl reason in events" "unknown ctl command 'explode'" "$R/events"
check_eq "bad priority: EINVAL" "Invalid argument" "$(err_of sh -c "/bin/echo 'priority high' > '$R/ctl'")"
check_eq "pause a completed run: EINVAL" "Invalid argument" "$(err_of sh -c "/bin/echo pause > '$R/ctl'")"
check_contains "pause reason in events" "cannot pause: run is completed" "$R/events"
check_eq "cat ctl shows the commands" "cancel | pause | resume | retry | priority N" "$(cat "$R/ctl")"

# generated files are read-only
check_eq "status is read-only" "Permission denied" "$(err_of sh -c "/bin/echo x > '$R/status'")"
check_eq "a file of an ended run: rm is a no-op" "" "$(err_of rm -f "$R/status")"
check_eq "... the file stays" "completed" "$(cat "$R/status")"
check_eq "default cannot be removed" "Device or resource busy" "$(err_of rmdir "$E/default")"

finish
