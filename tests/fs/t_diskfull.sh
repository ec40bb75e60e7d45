#!/bin/sh
# A state directory that fills up: a submission that cannot be recorded is
# refused with ENOSPC and a reason, never runs and is not half-there after a
# restart; reads go on; once space returns, submissions go in again. A
# state directory that is read-only is refused at start with the reason.
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" -ne 0 ]; then
	echo "SKIP: needs root to mount a small tmpfs"; echo "0 passed, 0 failed"; exit 0
fi
SFS=$WORK/statefs
mkdir -p "$SFS" "$WORK/marks"
mount -t tmpfs -o size=8m,mode=0700 tmpfs "$SFS" || { echo "SKIP: cannot mount tmpfs"; echo "0 passed, 0 failed"; exit 0; }
cleanup_fs() { mountpoint -q "$SFS" && umount -l "$SFS"; }
STATE=$SFS/state
start_daemon || { cleanup_fs; exit 1; }
E=$MNT/experiments

err_of() { "$@" 2>&1 >/dev/null | sed 's/.*: //' | tail -1; }

R=$(new_run full r1)
# a config large enough that its commit must grow the database
python3 - "$WORK/marks/r1" > "$WORK/big.json" <<'PY'
import json, sys
# blanks are kept as written: the stored text is as large as the file
print('{"command": %s,%s"kind": "training"}'
      % (json.dumps(["touch", sys.argv[1]]), " " * 900000))
PY
dd if=/dev/zero of="$SFS/fill" bs=64k 2>/dev/null
check "the state directory is full" sh -c "! dd if=/dev/zero of='$SFS/more' bs=4k count=1 2>/dev/null"

check_eq "submission on a full disk: ENOSPC" "No space left on device" \
	"$(err_of cp "$WORK/big.json" "$R/config.json")"
check_eq "... the run stays created" "created" "$(cat "$R/status")"
check_eq "reads go on: ls" "default full" "$(ls "$E" | tr '\n' ' ' | sed 's/ $//')"
check_eq "reads go on: status.json" "created" \
	"$(python3 -c "import json; print(json.load(open('$R/status.json'))['state'])")"
check_eq "... wait says it never went in" "created" "$(timeout 5 cat "$R/wait")"

# space returns: a second run goes through, then the first one is written again
rm -f "$SFS/fill" "$SFS/more"
R2=$(new_run full r2)
cmd_config "[\"touch\", \"$WORK/marks/r2\"]" > "$R2/config.json" && ok || fail "a submission once space is back"
check_eq "... it runs" "completed" "$(timeout 20 cat "$R2/wait")"
check "the refused run never ran, though the scheduler has moved on" test ! -e "$WORK/marks/r1"
check_eq "... and is still created" "created" "$(cat "$R/status")"
# events cannot be written on a full disk: the reason is in the log
check_contains "... the log says why" "cannot record the submission: no space left in the state directory" "$WORK/daemon.log"
check "the same config goes in now" cp "$WORK/big.json" "$R/config.json"
check_eq "... and runs once" "completed" "$(timeout 20 cat "$R/wait")"
check_contains "... its events now say why the first try failed" \
	"config not submitted: cannot record the submission: no space left" "$R/events"
check "... its job ran" test -e "$WORK/marks/r1"

# after a restart everything is as the writers were told
stop_daemon
start_daemon || { cleanup_fs; exit 1; }
check_eq "after a restart: r1 completed" "completed" "$(cat "$R/status")"
check_eq "after a restart: r2 completed" "completed" "$(cat "$R2/status")"
check_eq "one submission of r1 on record" "1" "$(grep -c "submitted to 'local' (config" "$R/events")"
stop_daemon

# a read-only state directory is refused at start, with the reason
mount -o remount,ro "$SFS"
"$TRAINFS" -f --state "$STATE" --config "$DCONF" "$MNT" 2>"$WORK/ro.err" &
RO_PID=$!
i=0; while kill -0 $RO_PID 2>/dev/null && ! mountpoint -q "$MNT" && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; fi
wait $RO_PID; RO_RC=$?
check_eq "read-only state directory: exit 1" "1" "$RO_RC"
check_contains "... with the reason" "'$STATE[^']*': Read-only file system" "$WORK/ro.err"

cleanup_fs
finish
