#!/bin/sh
# c_stale.sh - a daemon killed with SIGKILL leaves its mount behind, dead
# ("Transport endpoint is not connected"). The next start on that mount
# point must see it, clean it up and mount, with nothing lost.
. "$(dirname "$0")/lib.sh"

start_daemon || { fail "mount"; finish; exit 1; }
R=$(new_run crashed r1)
cmd_config '["sh", "-c", "echo $TRAINFS_RUN >> \"$STARTS\"; sleep 1"]' \
	"\"env\": {\"STARTS\": \"$WORK/starts\"}" > "$WORK/cfg"
check "submit" cp "$WORK/cfg" "$R/config.json"
check "the job starts" wait_grep "$WORK/starts" "crashed/r1" 20

kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
stat "$MNT" > /dev/null 2> "$WORK/stat.err"
check_contains "the mount is left dead" "not connected" "$WORK/stat.err"

mounts() { grep -c " $MNT fuse" /proc/self/mounts; }
: > "$WORK/daemon.log"
"$TRAINFS" -f --state "$STATE" --config "$DCONF" "$MNT" 2>>"$WORK/daemon.log" &
DAEMON_PID=$!
i=0
while kill -0 "$DAEMON_PID" 2>/dev/null && ! ls "$MNT/experiments" > /dev/null 2>&1 &&
      [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
check "a new daemon serves on the mount point" sh -c "ls '$MNT/experiments/crashed' > /dev/null"
sed 's/^/    | daemon: /' "$WORK/daemon.log"
check_eq "the dead mount is gone, not buried under the new one" 1 "$(mounts)"
check "the daemon said it cleaned the dead mount up" grep -Eqi "stale|dead|not connected|unmount" "$WORK/daemon.log"
if ! ls "$MNT/experiments" > /dev/null 2>&1; then
	# clean up by hand, so that what follows can still be checked
	kill -9 "$DAEMON_PID" 2>/dev/null; wait "$DAEMON_PID"
	while [ "$(mounts)" -gt 0 ]; do umount -l "$MNT" || break; done
	start_daemon || { fail "mount after a manual cleanup"; finish; exit 1; }
fi
check_eq "the run survived" completed "$(timeout 30 cat "$R/wait")"
check_eq "its job started once" 1 "$(grep -cx crashed/r1 "$WORK/starts")"
stop_daemon
while [ "$(mounts)" -gt 0 ]; do umount -l "$MNT" || break; done
finish
