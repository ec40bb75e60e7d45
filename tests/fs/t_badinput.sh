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

# refusals that say why
R=$(new_run ok words)
try_config2() { # what json expected-reason
	printf '%s' "$2" > "$WORK/c.json"
	check_eq "$1: EINVAL" "Invalid argument" "$(err_of cp "$WORK/c.json" "$R/config.json")"
	check_contains "$1: reason" "$3" "$R/events"
}
try_config2 "1e309" '{"command": ["x"], "params": {"lr": 1e309}}' "'params.lr' is out of range"
python3 -c "print('{\"command\": [\"x\"], \"tags\": ' + '[' * 10000 + ']' * 10000 + '}')" > "$WORK/deep.json"
check_eq "10,000-deep nesting: EINVAL" "Invalid argument" "$(err_of cp "$WORK/deep.json" "$R/config.json")"
check_contains "... nested too deeply" "config is nested too deeply: more than 32 levels" "$R/events"
try_config2 "missing workdir" '{"command": ["true"], "workdir": "/no/such/dir"}' "'workdir': cannot use '/no/such/dir'"
try_config2 "workdir a file" '{"command": ["true"], "workdir": "/etc/passwd"}' "'workdir': '/etc/passwd' is not a directory"
check_eq "... still created" "created" "$(cat "$R/status")"
check_eq "objective 'bogus': EINVAL" "Invalid argument" "$(err_of sh -c "/bin/echo bogus > '$E/ok/objective'")"
check_contains "... with the form it takes" "objective must be 'METRIC min' or 'METRIC max'" "$MNT/events"
check_eq "... nothing set" "" "$(cat "$E/ok/objective")"

# ctl: split over writes, a flood, a huge write
cmd_config '["sleep", "30"]' > "$R/config.json"
wait_state "$R" running
python3 - "$R/ctl" <<'PY' && ok || fail "a ctl command split over two writes"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY)
os.write(fd, b"pau")
os.write(fd, b"se\n")
os.close(fd)
PY
check "... is carried out" wait_state "$R" paused 10
check_eq "a 10 MB ctl write: EINVAL" "[Errno 22] Invalid argument" \
	"$(err_of python3 -c "
import os
fd = os.open('$R/ctl', os.O_WRONLY)
os.write(fd, b'x' * 10000000)")"
check_contains "... with an event" "ctl command too long" "$R/events"
python3 -c "
import os
for i in range(1500):
    try:
        fd = os.open('$R/ctl', os.O_WRONLY); os.write(fd, b'explode\n')
    except OSError: pass
    finally: os.close(fd)
for i in range(1500):
    try: os.mkdir('$E/.bad%d' % i)
    except OSError: pass"
check "a flood of refusals keeps the run's events bounded" \
	sh -c "[ \$(wc -l < '$R/events') -le 1101 ]"
check_contains "... saying what was dropped" "earlier lines dropped" "$R/events"
check_contains "... keeping the newest" "unknown ctl command 'explode'" "$R/events"
check "the mount's events are bounded too" sh -c "[ \$(wc -l < '$MNT/events') -le 1101 ]"
echo resume > "$R/ctl"; echo cancel > "$R/ctl"

# templates: nothing is left of one that was never written or was refused
check_eq "touch templates/x.json: refused" "Invalid argument" "$(err_of touch "$MNT/templates/x.json")"
check "... and leaves no template" test ! -e "$MNT/templates/x.json"
check_contains "... with a reason" "template 'x' refused: nothing was written" "$MNT/events"
check "a refused template write leaves nothing" sh -c "! /bin/echo '{\"comand\": 1}' > '$MNT/templates/y.json' 2>/dev/null"
check "... no y.json" test ! -e "$MNT/templates/y.json"
check_eq "templates still empty" "" "$(ls "$MNT/templates")"

# links
check_eq "ln -s: EPERM" "Operation not permitted" "$(err_of ln -s /etc/passwd "$R/pw")"
check_contains "... with an event" "symbolic links cannot be made" "$MNT/events"
stop_daemon

# the command line: each refusal exits 1 at once with the reason
try_mount() { # mountpoint args...: prints the exit status
	mp=$1; shift
	timeout 10 "$TRAINFS" -f --state "$STATE" "$@" "$mp" 2>"$WORK/err"; echo $?
	mountpoint -q "$mp" 2>/dev/null && fusermount3 -u "$mp"
}
check_eq "--config naming a missing file fails" "1" "$(try_mount "$MNT" --config "$WORK/nope.json")"
check_contains "... saying so" "cannot read config '$WORK/nope.json'" "$WORK/err"
for v in 0 -5; do
	check_eq "poll_ms=$v refused" "1" "$(try_mount "$MNT" -o poll_ms=$v)"
	check_contains "... saying the range" "poll_ms must be an integer from 10 to 600000" "$WORK/err"
done
: > "$WORK/afile"
check_eq "a mountpoint that is a file is refused" "1" "$(try_mount "$WORK/afile")"
check_contains "... saying so" "is not a directory" "$WORK/err"
mkdir -p "$WORK/full"; : > "$WORK/full/mine"
check_eq "a non-empty mountpoint is refused" "1" "$(try_mount "$WORK/full")"
check_contains "... naming -o nonempty" "is not empty: the mount would hide its files; add -o nonempty" "$WORK/err"
MNT_SAVE=$MNT; MNT=$WORK/full
start_daemon -o nonempty && ok || fail "-o nonempty mounts anyway"
stop_daemon
MNT=$MNT_SAVE

finish
