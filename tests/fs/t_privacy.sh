#!/bin/sh
# The mount is private to its user unless -o allow_other, and then others
# may read but not change; no secret of the daemon and no file outside the
# state directory can be reached through it.
. "$(dirname "$0")/lib.sh"
chmod 755 "$WORK"
as_nobody() { setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; }

SECRET=trainfs-test-secret-$$
export TRAINFS_TEST_TOKEN=$SECRET
start_daemon || exit 1
R=$(new_run priv r)
cmd_config '["sh", "-c", "echo hello"]' > "$R/config.json"
cat "$R/wait" >/dev/null

check "another user cannot list the mount" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups ls '$MNT' 2>/dev/null"
check "another user cannot read a status" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$R/status' 2>/dev/null"
check "no secret of the daemon's environment anywhere in the tree" sh -c "! grep -r -q '$SECRET' '$MNT' 2>/dev/null"
check "no symlinks can be made" sh -c "! ln -s /etc/passwd '$R/pw' 2>/dev/null"
check "no hard links can be made" sh -c "! ln '$R/status' '$R/st2' 2>/dev/null"
check "no device nodes" sh -c "! mknod '$R/dev' c 1 3 2>/dev/null"
check "the state directory is not named anywhere but the job's own log" \
	sh -c "! grep -r -l '$STATE' '$MNT' 2>/dev/null | grep -v '/log\$' | grep -q ."
check_eq "everything is owned by the daemon's user" "0" \
	"$(find "$MNT" ! -user "$(id -u)" 2>/dev/null | wc -l)"
stop_daemon

start_daemon -o allow_other || exit 1
check_eq "with allow_other, others can read" "completed" "$(as_nobody cat "$R/status")"
check "with allow_other, others cannot mkdir" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups mkdir '$MNT/experiments/theirs' 2>/dev/null"
check "with allow_other, others cannot cancel" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'echo cancel > $R/ctl' 2>/dev/null"
check "nothing was created by them" test ! -e "$MNT/experiments/theirs"
# what a run holds stays private: others see names and state only
T=$MNT/templates
printf '{"command": ["true"]}' > "$T/mine.json"
for f in config.json log events metrics metrics.jsonl status.json downloads; do
	check "with allow_other, others cannot read $f" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$R/$f' >/dev/null 2>&1"
done
check "others cannot list artifacts" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups ls '$R/artifacts' >/dev/null 2>&1"
check "others cannot list templates" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups ls '$T' >/dev/null 2>&1"
check "others cannot read a template" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$T/mine.json' >/dev/null 2>&1"
check "others cannot read the mount's events" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$MNT/events' >/dev/null 2>&1"
check "others cannot grep the log" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups grep -q hello '$R/log' 2>/dev/null"
check_eq "others see the run's name" "r" "$(as_nobody ls "$MNT/experiments/priv/runs")"
check_eq "others see its wait" "completed" "$(as_nobody cat "$R/wait")"
check_eq "the modes say so: config.json" "400" "$(stat -c %a "$R/config.json")"
check_eq "the modes say so: log" "400" "$(stat -c %a "$R/log")"
check_eq "the modes say so: artifacts" "500" "$(stat -c %a "$R/artifacts")"
check_eq "the modes say so: templates" "700" "$(stat -c %a "$T")"
check_eq "status stays world-readable" "444" "$(stat -c %a "$R/status")"
check_eq "the owner still reads everything" "hello" "$(cat "$R/log")"
stop_daemon

# -o share_read: others may read what runs hold, never change it
start_daemon -o allow_other,share_read || exit 1
check_eq "with share_read, others read the log" "hello" "$(as_nobody cat "$R/log")"
check "with share_read, others read config.json" sh -c "setpriv --reuid=nobody --regid=nogroup --clear-groups cat '$R/config.json' | grep -q hello"
check "with share_read, others still cannot cancel" sh -c "! setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'echo retry > $R/ctl' 2>/dev/null"
check_eq "with share_read, modes as before" "444" "$(stat -c %a "$R/log")"

finish
