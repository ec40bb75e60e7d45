#!/bin/sh
# c_full.sh - the state directory fills up (a small tmpfs) or turns
# read-only (ext4 on a loop device in its emergency read-only mode, as after
# a disk error): a submission is refused with ENOSPC or EROFS (or EIO, as
# the kernel's fsync says after such an error) and a reason in events or,
# while nothing can be written, in the daemon's log; the refused run stays
# "created" and never starts, reads go on being
# served, and once space or write access is back a submission works, and
# what was accepted (and only that) survives a restart.
. "$(dirname "$0")/lib.sh"

mkdir -p "$STATE"
if ! mount -t tmpfs -o size=16m tmpfs "$STATE" 2>/dev/null; then
	echo "SKIP: c_full: cannot mount a tmpfs (needs root)"
	finish; exit 0
fi
cleanup() { stop_daemon; umount "$STATE" 2>/dev/null || umount -l "$STATE"; }
trap 'cleanup; rm -rf "$WORK"' INT TERM
start_daemon || { fail "mount"; cleanup; finish; exit 1; }

# submit RUN CONFIG_FILE: prints "ok" or the errno's name and the call
submit() {
	python3 - "$E/$1/config.json" "$2" <<'PY'
import errno, os, sys
data = open(sys.argv[2], "rb").read()
stage = "open"
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_TRUNC)
    stage = "write"
    os.write(fd, data)
    stage = "close"
    os.close(fd)
    print("ok")
except OSError as e:
    print("%s at %s" % (errno.errorcode.get(e.errno, e.errno), stage))
PY
}
alive() { kill -0 "$DAEMON_PID" 2>/dev/null; }
# refused EXP RUN CONFIG ERRNO_RE: the submission fails with an errno
# matching ERRNO_RE at close, the run stays created and never starts, and
# the daemon goes on serving reads of the run r0. (Its events cannot take
# the reason while nothing can be written: that is checked later.)
refused() {
	res=$(submit "$2" "$3")
	if printf '%s\n' "$res" | grep -Eqx "($4) at close"; then
		pass "$4: the submission is refused ($res)"
	else
		fail "$4: the submission is refused: expected '$4 at close', got '$res'"
	fi
	sleep 1      # several scheduler passes
	check_eq "$4: the refused run stays created" created "$(cat "$E/$2/status")"
	check_eq "$4: the refused run never starts" "" "$(grep -x "$1/$2" "$WORK/starts")"
	sed "s/^/    | $2 events meanwhile: /" "$E/$2/events" | tail -3
	check "$4: the daemon survives" alive
	check_eq "$4: reads are served meanwhile" completed "$(cat "$E/r0/status")"
	check "$4: the log is served meanwhile" sh -c "cat '$E/r0/log' > /dev/null"
}
# A small config, and one of about 480 KiB, so that storing it needs fresh
# space (SQLite reuses what its log already holds).
python3 - "$WORK" <<'PY'
import json, sys
for name, pad in (("small", 0), ("big", 8)):
    env = {"PAD%d" % i: "x" * 60000 for i in range(pad)}
    env["STARTS"] = sys.argv[1] + "/starts"
    json.dump({"command": ["sh", "-c", 'echo "$TRAINFS_RUN" >> "$STARTS"'],
               "env": env}, open("%s/%s.json" % (sys.argv[1], name), "w"))
PY

# --- the state directory fills up
E=$MNT/experiments/full/runs
R0=$(new_run full r0)
mkdir "$E/r1"
check_eq "a first run is submitted" ok "$(submit r0 "$WORK/small.json")"
check_eq "it completes" completed "$(timeout 30 cat "$R0/wait")"
cat /dev/zero > "$STATE/filler" 2>/dev/null
refused full r1 "$WORK/big.json" ENOSPC
rm -f "$STATE/filler"
check_eq "with space back, the submission is accepted" ok "$(submit r1 "$WORK/big.json")"
check "the refusal's reason is in events by now" grep -Eqi "space|ENOSPC" "$E/r1/events"
sed 's/^/    | r1 events: /' "$E/r1/events" | head -4
check_eq "and completes" completed "$(timeout 30 cat "$E/r1/wait")"
check_eq "and started once" 1 "$(grep -cx full/r1 "$WORK/starts")"
stop_daemon
start_daemon || { fail "restart"; cleanup; finish; exit 1; }
for r in r0 r1; do
	check_eq "$r still completed after a restart" completed "$(cat "$E/$r/status")"
	check_eq "$r started once in all" 1 "$(grep -cx full/$r "$WORK/starts")"
done
cleanup

# --- the state directory turns read-only
STATE=$WORK/state2
IMG=$WORK/state2.img
mkdir -p "$STATE"
if ! { truncate -s 64M "$IMG" && mkfs.ext4 -q -F "$IMG" &&
       mount -o loop,errors=remount-ro "$IMG" "$STATE"; } 2>/dev/null; then
	echo "SKIP: c_full: cannot mount an ext4 image on a loop device"
	finish; exit $?
fi
DEV=$(basename "$(findmnt -n -o SOURCE "$STATE")")
start_daemon || { fail "mount"; cleanup; finish; exit 1; }
E=$MNT/experiments/ro/runs
R0=$(new_run ro r0)
mkdir "$E/r2"
check_eq "a first run is submitted" ok "$(submit r0 "$WORK/small.json")"
check_eq "it completes" completed "$(timeout 30 cat "$R0/wait")"
echo 1 > "/sys/fs/ext4/$DEV/trigger_fs_error"
check "the state directory is read-only now" sh -c "! touch '$STATE/probe' 2>/dev/null"
# The kernel fails fsync() with EIO after such an error, write() with
# EROFS: either errno tells the truth.
refused ro r2 "$WORK/small.json" "EROFS|EIO"
check "the daemon's log says why" grep -Eqi "ro/r2.*(read-only|input/output error)" "$WORK/daemon.log"
grep -Ei "ro/r2.*(read-only|input/output error)" "$WORK/daemon.log" | sed 's/^/    | daemon: /' | head -2
stop_daemon
umount "$STATE"
e2fsck -fy "$IMG" > /dev/null 2>&1
mount -o loop,errors=remount-ro "$IMG" "$STATE" ||
	{ fail "cannot mount the repaired image"; finish; exit 1; }
start_daemon || { fail "restart"; cleanup; finish; exit 1; }
check_eq "repaired and restarted, the refused run is still created" created "$(cat "$E/r2/status")"
check_eq "writable again, the submission is accepted" ok "$(submit r2 "$WORK/small.json")"
check_eq "and completes" completed "$(timeout 30 cat "$E/r2/wait")"
check_eq "and started once" 1 "$(grep -cx ro/r2 "$WORK/starts")"
check_eq "the first run is still completed" completed "$(cat "$R0/status")"
cleanup
finish
