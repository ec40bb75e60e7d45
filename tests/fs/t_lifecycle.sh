#!/bin/sh
# The daemon's life: SIGTERM and `fusermount3 -u` with parked reads, the
# state directory's lock, a stale mount left by a crash, files that grow
# under `tail -f`, inputs a job writes to, a cache changed behind the
# daemon's back, and pins that follow the cache entry.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/nginx.sh"
nginx_serve_state || { echo "cannot start nginx"; echo "0 passed, 1 failed"; exit 1; }
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {
  "local": {"type": "local", "slots": {"cpus": 4, "max_jobs": 4},
            "artifact_root": "$STATE/runs", "artifact_base_url": "$NGINX_URL/"},
  "one": {"type": "local", "slots": {"cpus": 1, "max_jobs": 1}},
  "slow": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2},
           "artifact_root": "$STATE/runs", "artifact_base_url": "$NGINX_URL/slowfirst/"}}}
JSON
trap 'nginx_cleanup; stop_daemon; rm -rf "$WORK"' INT TERM
start_daemon -o cache_size=3M || { nginx_cleanup; echo "0 passed, 1 failed"; exit 1; }
# restart: start again; when that fails (a stale mount below), clean up by
# hand and try once more, so that later checks still run
restart() {
	start_daemon -o cache_size=3M && return 0
	fail "start the daemon"; umount -l "$MNT" 2>/dev/null
	start_daemon -o cache_size=3M && return 0
	nginx_cleanup; finish; exit 1
}
out_of() { ls -d "$STATE"/runs/"$(python3 -c "import json;print(json.load(open('$1/status.json'))['run_id'])")"/attempt-*/output | tail -1; }
state_of() { getfattr --only-values -n user.trainfs.state "$1" 2>/dev/null; }
# gone PID SECONDS: true once PID has exited
gone() {
	n=0
	while kill -0 "$1" 2>/dev/null; do
		n=$((n + 1)); [ $n -gt $(($2 * 20)) ] && return 1; sleep 0.05
	done
}

# SIGTERM while a read waits for a slow download (32 KiB/s)
S=$(new_run life slow)
cmd_config '["sh", "-c", "head -c 2097152 /dev/urandom > $TRAINFS_OUTPUT_DIR/big.bin"]' '"provider": "slow"' > "$S/config.json"
cat "$S/wait" >/dev/null
wait_grep "$S/events" "artifacts: 1 files" 10
cat "$S/artifacts/big.bin" > "$WORK/big.out" 2> "$WORK/big.err" &
CAT=$!
n=0; until state_of "$S/artifacts/big.bin" | grep -q '^downloading [1-9]'; do
	n=$((n + 1)); [ $n -gt 200 ] && break; sleep 0.05; done
OLD=$DAEMON_PID
kill -TERM "$OLD"
check "SIGTERM ends the daemon within seconds" gone "$OLD" 10 || kill -9 "$OLD"
wait "$OLD"; RC=$?
DAEMON_PID=""
check_eq "and it exits with status 0" 0 "$RC"
check "the parked reader is answered" gone "$CAT" 5 || kill -9 "$CAT"
wait "$CAT"; RC=$?
check "with an error" test "$RC" -ne 0
check_eq "said once" 1 "$(wc -l < "$WORK/big.err")"
if grep -E -q 'Interrupted system call|Transport endpoint is not connected' "$WORK/big.err"; then ok
else fail "EINTR or ENOTCONN, got: $(cat "$WORK/big.err")"; fi
check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
check "the part file is kept to resume" sh -c "ls '$STATE'/cache/*.part >/dev/null 2>&1"
check_contains "the download was stopped, not finished" "kept to resume" "$WORK/daemon.log"
restart
check "after a restart the read completes" cmp -s "$S/artifacts/big.bin" "$(out_of "$S")/big.bin"
check "resuming from the part (206)" grep -q 'big.bin.* 206 ' "$NGINX_DIR/access.log"

# a second daemon on the same state directory is refused before mounting
mkdir -p "$WORK/mnt2"
timeout 20 "$TRAINFS" -f --state "$STATE" --config "$DCONF" "$WORK/mnt2" 2> "$WORK/second.err"
RC=$?
check "a second daemon is refused" test "$RC" -ne 0 -a "$RC" -ne 124
check_contains "saying who holds it" "state directory .* in use by pid $DAEMON_PID" "$WORK/second.err"
check "and it did not mount" sh -c "! mountpoint -q '$WORK/mnt2'"
check "the first daemon still serves" test -f "$S/status"

# fusermount3 -u with a parked `cat wait`: busy while the read waits, the
# reader's interrupt is answered, then the unmount goes through and a new
# daemon may start on the same state at once
W=$(new_run life sleeper)
cmd_config '["sleep", "30"]' > "$W/config.json"
wait_state "$W" running 10
cat "$W/wait" > "$WORK/wait.out" 2> "$WORK/wait.err" &
CAT=$!
sleep 0.5
check "an unmount with a parked wait is refused (busy)" sh -c "! fusermount3 -u '$MNT' 2>/dev/null"
check "the daemon still serves" test -f "$W/status"
kill -TERM "$CAT"
check "the parked wait is interrupted" gone "$CAT" 5
OLD=$DAEMON_PID
check "now the unmount goes through" fusermount3 -u "$MNT"
check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
check "a new daemon starts right after the unmount" start_daemon -o cache_size=3M
check "the old one ended" gone "$OLD" 10 || kill -9 "$OLD"
wait "$OLD"; RC=$?
check_eq "with status 0" 0 "$RC"
check_eq "the run is still running" "running" "$(cat "$W/status")"
echo cancel > "$W/ctl"

# a stale mount left by a crash is detected and cleaned at start
kill -9 "$DAEMON_PID"; wait "$DAEMON_PID" 2>/dev/null; DAEMON_PID=""
check "the crash left a stale mount" sh -c "stat '$MNT' 2>&1 | grep -q 'not connected'"
MOUNTS=$(grep -c "mounted on" "$WORK/daemon.log")
start_daemon -o cache_size=3M   # `mountpoint` may take the stale one
live() { [ "$(grep -c "mounted on" "$WORK/daemon.log")" -gt "$MOUNTS" ] && test -f "$MNT/README"; }
n=0; until live; do n=$((n + 1)); [ $n -gt 200 ] && break; sleep 0.05; done
if live; then ok; else
	fail "start over a stale mount"; umount -l "$MNT" 2>/dev/null
	restart
fi
check_contains "with a log line" "stale mount" "$WORK/daemon.log"

# tail -f of the daemon's events and of the queue shows new lines
tail -f "$MNT/events" > "$WORK/tail.events" 2>/dev/null &
TAILE=$!
tail -f "$MNT/queue" > "$WORK/tail.queue" 2>/dev/null &
TAILQ=$!
sleep 0.5
mkdir "$MNT/experiments/bad name" 2>/dev/null
Q1=$(new_run life q1)
cmd_config '["sleep", "30"]' '"provider": "one"' > "$Q1/config.json"
Q2=$(new_run life q2)
cmd_config '["sleep", "30"]' '"provider": "one"' > "$Q2/config.json"
check "tail -f events shows a line added later" wait_grep "$WORK/tail.events" "bad name" 10
check "tail -f queue shows a run queued later" wait_grep "$WORK/tail.queue" "life/q2" 10
kill "$TAILE" "$TAILQ" 2>/dev/null
echo cancel > "$Q1/ctl"; echo cancel > "$Q2/ctl"

# a job that writes its input in place does not change the cached artifact
P=$(new_run life prep)
cmd_config '["sh", "-c", "head -c 100000 /dev/urandom > $TRAINFS_OUTPUT_DIR/data.bin"]' > "$P/config.json"
F=$(new_run life vandal)
cmd_config '["sh", "-c", "echo overwritten > $TRAINFS_INPUT_data; cat $TRAINFS_INPUT_data"]' '"depends_on": ["prep"], "inputs": {"data": "prep:data.bin"}' > "$F/config.json"
check_eq "the job that writes its input completes" "completed" "$(cat "$F/wait")"
check_contains "it wrote its own copy" "overwritten" "$F/log"
POUT=$(out_of "$P")
PSHA=$(sha256sum "$POUT/data.bin" | cut -d' ' -f1)
check "the artifact still reads as the job wrote it" cmp -s "$P/artifacts/data.bin" "$POUT/data.bin"
check_eq "and the cache file still matches its name" "$PSHA" "$(sha256sum "$STATE/cache/$PSHA" | cut -d' ' -f1)"

# a cache file changed while the daemon is down is hashed again, not served
stop_daemon
touch -r "$STATE/cache/$PSHA" "$WORK/stamp"
printf 'XXXX' | dd of="$STATE/cache/$PSHA" bs=1 seek=10 conv=notrunc 2>/dev/null
touch -r "$WORK/stamp" "$STATE/cache/$PSHA"
restart
check "a changed cache file is not verified after a restart" sh -c "[ \"\$(getfattr --only-values -n user.trainfs.state '$P/artifacts/data.bin' 2>/dev/null)\" != verified ]"
check "a read gets the real bytes" cmp -s "$P/artifacts/data.bin" "$POUT/data.bin"
check_contains "the drop is logged" "dropped $PSHA" "$WORK/daemon.log"

# poll() on `wait` keeps one handle per open file, however often it asks:
# 1000 open files polled 100 times add no 100,000 handles to the daemon
PR=$(new_run life polled)
cmd_config '["sleep", "60"]' > "$PR/config.json"
wait_state "$PR" running 10
cat > "$WORK/poll.py" <<'PY'
import os, resource, select, sys
resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
p = select.poll()
for _ in range(1000):
    p.register(os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK), select.POLLIN)
for _ in range(100):
    p.poll(1)
print("done", flush=True)
sys.stdin.read()
PY
rss() { awk '/VmRSS/ {print $2}' "/proc/$DAEMON_PID/status"; }
BEFORE=$(rss)
mkfifo "$WORK/hold"
python3 "$WORK/poll.py" "$PR/wait" < "$WORK/hold" > "$WORK/poll.out" &
PY=$!
exec 7> "$WORK/hold"
wait_grep "$WORK/poll.out" done 30
AFTER=$(rss)
exec 7>&-
wait "$PY"
if grep -a -q __asan_init "$TRAINFS"; then
	echo "SKIP: rss says nothing under AddressSanitizer (its quarantine keeps freed memory)"
else
	check "repeated polls do not pile up handles (rss $BEFORE -> $AFTER kB)" test $((AFTER - BEFORE)) -lt 4096
fi
echo cancel > "$PR/ctl"

# Replies that fail, by a shim in front of libfuse: while $WORK/failopen
# exists fuse_reply_open fails (as when the opener is gone; the shim answers
# EIO itself), and an open must leak no handle, fd or pin; while
# $WORK/faildata exists fuse_reply_data fails the way libfuse reports a
# failed read of the descriptor (it has answered EIO itself), and the read
# must not be answered a second time.
cat > "$WORK/shim.c" <<'C'
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
struct fuse_file_info;
struct fuse_bufvec;
typedef struct fuse_req *fuse_req_t;
int fuse_reply_err(fuse_req_t req, int err);
static int failing(const char *what)
{
	char p[4096];
	const char *w = getenv("SHIM_DIR");

	if (!w)
		return 0;
	snprintf(p, sizeof(p), "%s/%s", w, what);
	return access(p, F_OK) == 0;
}
int fuse_reply_open(fuse_req_t req, const struct fuse_file_info *fi)
{
	int (*real)(fuse_req_t, const struct fuse_file_info *) =
		(int (*)(fuse_req_t, const struct fuse_file_info *))
		dlsym(RTLD_NEXT, "fuse_reply_open");

	if (failing("failopen")) {
		fuse_reply_err(req, EIO);
		return -ENOENT;
	}
	return real(req, fi);
}
int fuse_reply_data(fuse_req_t req, struct fuse_bufvec *bufv, int flags)
{
	int (*real)(fuse_req_t, struct fuse_bufvec *, int) =
		(int (*)(fuse_req_t, struct fuse_bufvec *, int))
		dlsym(RTLD_NEXT, "fuse_reply_data");

	if (failing("faildata")) {
		fuse_reply_err(req, EIO);
		return EIO;
	}
	return real(req, bufv, flags);
}
/*
 * While lateintr exists, the interrupt function of the last request that
 * registered one is called again at the next getattr, after that request
 * was answered: the window libfuse leaves between taking an interrupt
 * function under its lock and calling it, while another thread answers.
 */
typedef void (*intr_fn)(fuse_req_t, void *);
static intr_fn late_fn;
static fuse_req_t late_req;
static void *late_data;
void fuse_req_interrupt_func(fuse_req_t req, intr_fn fn, void *data)
{
	void (*real)(fuse_req_t, intr_fn, void *) =
		(void (*)(fuse_req_t, intr_fn, void *))
		dlsym(RTLD_NEXT, "fuse_req_interrupt_func");

	real(req, fn, data);
	if (fn && failing("lateintr")) {
		late_fn = fn;
		late_req = req;
		late_data = data;
	}
}
int fuse_reply_attr(fuse_req_t req, const void *attr, double timeout)
{
	int (*real)(fuse_req_t, const void *, double) =
		(int (*)(fuse_req_t, const void *, double))
		dlsym(RTLD_NEXT, "fuse_reply_attr");
	intr_fn fn = late_fn;

	if (fn && !failing("lateintr")) {
		late_fn = NULL;
		fn(late_req, late_data);
	}
	return real(req, attr, timeout);
}
C
if cc -shared -fPIC -o "$WORK/shim.so" "$WORK/shim.c" -ldl 2>"$WORK/shim.err"; then
	stop_daemon
	SHIM_DIR=$WORK LD_PRELOAD=$WORK/shim.so \
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	start_daemon -d -o cache_size=3M || restart
	cat "$P/artifacts/data.bin" > /dev/null
	touch "$WORK/failopen"
	FAILS=0
	for i in 1 2 3 4 5; do
		cat "$P/artifacts/data.bin" > /dev/null 2>&1 || FAILS=$((FAILS + 1))
	done
	rm "$WORK/failopen"
	check_eq "the shim failed the opens" 5 "$FAILS"
	sleep 0.3
	LEAKED=$(ls -l "/proc/$DAEMON_PID/fd" 2>/dev/null | grep -c "$STATE/cache/")
	check_eq "no cache file stays open after failed opens" 0 "$LEAKED"
	# a fresh page cache, so that the read reaches the daemon
	stop_daemon
	SHIM_DIR=$WORK LD_PRELOAD=$WORK/shim.so \
	ASAN_OPTIONS=${ASAN_OPTIONS:-}:verify_asan_link_order=0 \
	start_daemon -d -o cache_size=3M || restart
	# an interrupt that comes after a finished download answered the read
	L=$(new_run life late)
	cmd_config '["sh", "-c", "head -c 65536 /dev/urandom > $TRAINFS_OUTPUT_DIR/l.bin"]' '"provider": "slow"' > "$L/config.json"
	cat "$L/wait" > /dev/null
	wait_grep "$L/events" "artifacts: 1 files" 10
	touch "$WORK/lateintr"
	check "a read parked on a download completes" cmp -s "$L/artifacts/l.bin" "$(out_of "$L")/l.bin"
	rm "$WORK/lateintr"
	stat "$L/status" > /dev/null     # the late interrupt runs here
	check "the daemon survives a late interrupt" test -f "$L/status"
	L0=$(wc -l < "$WORK/daemon.log")
	touch "$WORK/faildata"
	check "a read whose data cannot be sent fails" sh -c "! cat '$P/artifacts/data.bin' > /dev/null 2>&1"
	rm "$WORK/faildata"
	sleep 0.3
	tail -n +"$((L0 + 1))" "$WORK/daemon.log" > "$WORK/faildata.log"
	READS=$(grep -c 'opcode: READ' "$WORK/faildata.log")
	check "the read reached the daemon" test "$READS" -ge 1
	check_eq "each read is answered once" "$READS" "$(grep -c 'error: -5 ' "$WORK/faildata.log")"
	check "the daemon survives it" test -f "$P/status"
	stop_daemon
	restart
else
	fail "cannot build the shim: $(cat "$WORK/shim.err")"
fi

# an open artifact's pin follows the cache entry when the run's manifest
# goes (a retry): closed, it is evictable again (cap 3M, two 2 MB files)
A=$(new_run life pinned)
cmd_config "[\"sh\", \"-c\", \"if [ ! -e $WORK/once ]; then touch $WORK/once; head -c 2000000 /dev/urandom > \$TRAINFS_OUTPUT_DIR/a.bin; exit 1; fi\"]" > "$A/config.json"
check_eq "the first attempt fails" "failed" "$(cat "$A/wait")"
wait_grep "$A/events" "artifacts: 1 files" 10
cat "$A/artifacts/a.bin" > /dev/null
sleep 30 < "$A/artifacts/a.bin" &
HOLD=$!
sleep 0.3
echo retry > "$A/ctl"
wait_state "$A" completed 20
kill "$HOLD"; wait "$HOLD" 2>/dev/null
sleep 0.5
B=$(new_run life next)
cmd_config '["sh", "-c", "head -c 2000000 /dev/urandom > $TRAINFS_OUTPUT_DIR/b.bin"]' > "$B/config.json"
cat "$B/wait" >/dev/null
wait_grep "$B/events" "artifacts: 1 files" 10
check "a closed artifact of an unloaded manifest is evictable" cmp -s "$B/artifacts/b.bin" "$(out_of "$B")/b.bin"

nginx_cleanup
finish
