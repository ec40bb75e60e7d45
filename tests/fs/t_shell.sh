#!/bin/sh
# Shell tools over the tree, as a user reaches for them: `echo >` and
# `printf >` of a bad config fail where the shell looks (the write), an
# empty config is refused, `wait` of a created run answers at once, mv of a
# run between experiments moves it (no stray copy), rm -rf removes ended
# runs and experiments while a bare rmdir never deletes runs, grep -r and
# cp -r walk an active run without stopping on `wait`, and a dependency
# cannot vanish under a queued run.
. "$(dirname "$0")/lib.sh"
write_daemon_config 2 2
start_daemon || exit 1
E=$MNT/experiments

# errno of a failing command, from its message
err_of() { "$@" 2>&1 >/dev/null | sed 's/.*: //' | tail -1; }

# a bad config through the shell: the write fails, the shell says so
R=$(new_run sh bad)
check_eq "echo > of a bad config fails" "Invalid argument" \
	"$(err_of sh -c "/bin/echo '{\"comand\": [\"true\"]}' > '$R/config.json'")"
check_eq "printf > of a bad config fails" "Invalid argument" \
	"$(err_of sh -c "/usr/bin/printf '{\"command\": [\"true\"], \"priority\": \"x\"}' > '$R/config.json'")"
check "the shell's own echo fails too" sh -c "! sh -c \"echo '{\\\"x\\\": 1}' > '$R/config.json'\" 2>/dev/null"
check "and bash's" sh -c "! bash -c \"echo '{\\\"x\\\": 1}' > '$R/config.json'\" 2>/dev/null"
check_eq "... the run is still created" "created" "$(cat "$R/status")"
check_contains "... the reason is in events" "unknown key 'comand'" "$R/events"
check_eq "... once per refusal, not again at close" "1" "$(grep -c "unknown key 'comand'" "$R/events")"
check_eq "trailing garbage after the object fails its write" "Invalid argument" \
	"$(err_of sh -c "/usr/bin/printf '{\"command\": [\"true\"]} x' > '$R/config.json'")"
check_eq "not an object fails at once" "Invalid argument" \
	"$(err_of sh -c "/bin/echo '[1, 2]' > '$R/config.json'")"
check_eq "still created" "created" "$(cat "$R/status")"

# an empty config is a refusal with a reason, not a silent no-op
check_eq "cp /dev/null: EINVAL" "Invalid argument" "$(err_of cp /dev/null "$R/config.json")"
check_contains "empty config: reason" "config is empty (nothing was written)" "$R/events"
check_eq "empty config: still created" "created" "$(cat "$R/status")"
check_eq "touch config.json is harmless" "" "$(err_of touch "$R/config.json")"

# wait on a created run answers at once
check_eq "wait of a created run answers at once" "created" "$(timeout 5 cat "$R/wait")"

# a good config through echo > then submits, in pieces too
python3 - "$R/config.json" <<'PY' && ok || fail "a config written in small pieces"
import os, sys
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
for piece in ['{"comm', 'and": ["sh", "-c", "ech', 'o ok-${HOME:+home}"]', '}', '\n']:
    os.write(fd, piece.encode())
os.close(fd)
PY
check_eq "... it runs" "completed" "$(timeout 20 cat "$R/wait")"
check_contains "\${VAR} is the shell's" "ok-home" "$R/log"

# mv of a run to another experiment moves it
mkdir "$E/other"
check "mv of an ended run to another experiment" mv "$E/sh/runs/bad" "$E/other/runs/moved"
check "... gone from the first" test ! -e "$E/sh/runs/bad"
check_eq "... there whole" "completed" "$(cat "$E/other/runs/moved/status")"
check_contains "... with its log" "ok-home" "$E/other/runs/moved/log"
check_contains "... and its history" "moved from 'sh/bad' to 'other/moved'" "$E/other/runs/moved/events"
A=$(new_run sh active)
cmd_config '["sleep", "30"]' > "$A/config.json"
wait_state "$A" running
check "mv of an active run is refused" sh -c "! mv '$A' '$E/other/runs/active' 2>/dev/null"
check "... and leaves no stray run behind" test ! -e "$E/other/runs/active"
check_eq "... the active run is where it was" "running" "$(cat "$A/status")"
check "mv of a run out of runs/ is refused" sh -c "! mv '$E/other/runs/moved' '$E/other/moved' 2>/dev/null"
check "... without a stray copy" test ! -e "$E/other/moved"
check_eq "... it is EPERM, so mv never copies" "Operation not permitted" \
	"$(python3 -c "
import os
try: os.rename('$E/other/runs/moved', '$E/other/moved'); print('renamed')
except OSError as e: print(os.strerror(e.errno))")"

# grep -r and cp -r over an active run do not stop on wait
check "grep -r over an active run ends" sh -c "timeout 10 grep -r -c sleep '$A' >/dev/null"
check "cp -r of an active run ends" timeout 10 cp -r "$A" "$WORK/copy"
check "... the copy has the config" grep -q sleep "$WORK/copy/config.json"
check_eq "wait still opens by name" "EAGAIN" "$(python3 -c "
import os
fd = os.open('$A/wait', os.O_RDONLY | os.O_NONBLOCK)
try: os.read(fd, 10); print('read')
except BlockingIOError: print('EAGAIN')")"

# rm -rf: refused for an active run, removes an ended one
check "rm -rf of an active run fails" sh -c "! rm -rf '$A' 2>/dev/null"
check_eq "... and leaves it running" "running" "$(cat "$A/status")"
echo cancel > "$A/ctl"
check_eq "cancelled" "stopped" "$(timeout 20 cat "$A/wait")"
check_eq "rm -rf of an ended run: no error" "" "$(rm -rf "$A" 2>&1)"
check "... the run is gone" test ! -e "$A"
check_eq "bare rmdir of an experiment with runs: ENOTEMPTY" "Directory not empty" \
	"$(err_of rmdir "$E/other")"
check_eq "... its runs are all there" "moved" "$(ls "$E/other/runs")"
check_contains "... with a reason" "experiment 'other' still has 1 run" "$MNT/events"
check_eq "rm -rf of an experiment of ended runs: no error" "" "$(rm -rf "$E/other" 2>&1)"
check "... it is gone" test ! -e "$E/other"

# a dependency cannot vanish under a queued run
D=$(new_run dep up)
cmd_config '["true"]' > "$D/config.json"
check_eq "dependency done" "completed" "$(timeout 20 cat "$D/wait")"
B=$(new_run dep blocker)
cmd_config '["sleep", "30"]' '"resources": {"cpus": 2}' > "$B/config.json"
wait_state "$B" running
Q2=$(new_run dep down2)
cmd_config '["true"]' '"depends_on": ["up"], "resources": {"cpus": 2}' > "$Q2/config.json"
check_eq "dependent waits in the queue" "queued" "$(cat "$Q2/status")"
check_eq "rmdir of a dependency of a queued run: EBUSY" "Device or resource busy" "$(err_of rmdir "$D")"
check_eq "mv of it: refused too" "Device or resource busy" \
	"$(python3 -c "
import os
try: os.rename('$D', '$E/dep/runs/up2'); print('renamed')
except OSError as e: print(os.strerror(e.errno))")"
check_contains "... with the reason" "queued run 'dep/down2' depends on it" "$D/events"
mkdir "$E/dep2"
check_eq "rename of an experiment a queued run names: EBUSY" "Device or resource busy" \
	"$(cmd_config '["true"]' '"depends_on": ["dep/up"], "resources": {"cpus": 2}' > "$WORK/x.json"
	   R3=$(new_run dep2 cross); cp "$WORK/x.json" "$R3/config.json"
	   err_of mv "$E/dep" "$E/dep-renamed")"
echo cancel > "$B/ctl"
check_eq "dependents run once the slot is free" "completed" "$(timeout 20 cat "$Q2/wait")"
check_eq "so does the one in the other experiment" "completed" "$(timeout 20 cat "$E/dep2/runs/cross/wait")"
check "the dependency can go once nothing waits on it" rmdir "$D"

# scratch files of a removed run are freed with it
S=$(new_run sc s)
i=0; while [ $i -lt 40 ]; do : > "$S/draft$i"; i=$((i + 1)); done
rmdir "$S"
S2=$(new_run sc s2)
i=0; n=0; while [ $i -lt 40 ]; do sh -c ": > '$S2/draft$i'" 2>/dev/null && n=$((n + 1)); i=$((i + 1)); done
check_eq "scratch files of a removed run do not count against the limit" "40" "$n"

finish
