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

finish
