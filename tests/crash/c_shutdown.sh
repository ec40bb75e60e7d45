#!/bin/sh
# c_shutdown.sh - ending the daemon while reads are parked in it: a `cat
# wait` of an active run and a `cat` of an artifact still downloading.
# fusermount3 -u either refuses (the mount is busy) and changes nothing, or
# unmounts and the daemon ends; SIGTERM ends the daemon within 5 s with exit
# status 0, the parked readers get an error at once, the job runs on, and
# after a restart the run is re-attached and the download resumes. A
# provider that hangs does not hold SIGTERM either.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/nginx.sh"
nginx_serve_state || { fail "cannot start nginx"; finish; exit 1; }
trap 'nginx_cleanup; stop_daemon; rm -rf "$WORK"' INT TERM
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {
  "local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
  "slowfirst": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2},
           "artifact_root": "$STATE/runs", "artifact_base_url": "$NGINX_URL/slowfirst/"}}}
JSON
start_daemon || { fail "mount"; nginx_cleanup; finish; exit 1; }

# gone PID SECONDS: waits until the process has ended
gone() {
	i=0
	while kill -0 "$1" 2>/dev/null; do
		[ $i -ge $(($2 * 10)) ] && return 1
		sleep 0.1; i=$((i + 1))
	done
}

J=$(new_run down job)
cmd_config '["sh", "-c", "echo start >> \"$STARTS\"; sleep 12"]' \
	"\"env\": {\"STARTS\": \"$WORK/starts\"}" > "$WORK/cfg.job"
check "submit the long job" cp "$WORK/cfg.job" "$J/config.json"
A=$(new_run down art)
cmd_config '["sh", "-c", "head -c 2097152 /dev/urandom > $TRAINFS_OUTPUT_DIR/big.bin"]' \
	'"provider": "slowfirst"' > "$WORK/cfg.art"
check "submit the artifact job" cp "$WORK/cfg.art" "$A/config.json"
check_eq "the artifact job completes" completed "$(cat "$A/wait")"
check "its manifest arrives" wait_grep "$A/events" "artifacts: 1 files" 10
SHA=$(getfattr --absolute-names --only-values -n user.sha256 "$A/artifacts/big.bin")
check "the long job runs" wait_state "$J" running 20

cat "$J/wait" > "$WORK/wait.out" 2>&1 &
CW=$!
cat "$A/artifacts/big.bin" > "$WORK/big.1" 2> "$WORK/big.err" &
CA=$!
cat "$MNT/stream" > "$WORK/stream.out" 2>&1 &
CS=$!
check "the artifact read is parked on its download" wait_grep "$A/downloads" "big.bin downloading" 10
sleep 0.3

# fusermount3 -u while reads are parked
fusermount3 -u "$MNT" 2> "$WORK/umount.err"; rc=$?
if [ $rc -ne 0 ]; then
	check_contains "fusermount3 -u refuses a busy mount, saying so" "busy" "$WORK/umount.err"
	check "the mount still serves after the refused unmount" sh -c "[ \"\$(cat '$J/status')\" = running ]"
	check "the parked wait is still parked" kill -0 $CW
else
	pass "fusermount3 -u unmounted the busy mount"
	check "the daemon ends within 5 s of the unmount" gone "$DAEMON_PID" 5
	wait "$DAEMON_PID"; rc=$?
	check_eq "the daemon's exit status after the unmount" 0 $rc
	DAEMON_PID=""
	check "the parked wait ends with the unmount" gone $CW 5
	check "the parked artifact read ends with the unmount" gone $CA 5
	check "the parked stream read ends with the unmount" gone $CS 5
	start_daemon || { fail "restart"; nginx_cleanup; finish; exit 1; }
	cat "$J/wait" > "$WORK/wait.out" 2>&1 &
	CW=$!
	cat "$A/artifacts/big.bin" > "$WORK/big.1" 2> "$WORK/big.err" &
	CA=$!
	cat "$MNT/stream" > "$WORK/stream.out" 2>&1 &
	CS=$!
	wait_grep "$A/downloads" "big.bin downloading" 10
	sleep 0.3
fi

# SIGTERM while reads are parked
kill -TERM "$DAEMON_PID"
check "SIGTERM ends the daemon within 5 s" gone "$DAEMON_PID" 5
check "the parked wait is answered within 1 s more" gone $CW 1
check "the parked artifact read is answered within 1 s more" gone $CA 1
check "the parked stream read is answered within 1 s more" gone $CS 1
if kill -0 "$DAEMON_PID" 2>/dev/null; then
	echo "    | the daemon still runs: kill -9"
	kill -9 "$DAEMON_PID"
fi
wait "$DAEMON_PID"; rc=$?
DAEMON_PID=""
check_eq "the daemon's exit status after SIGTERM" 0 $rc
wait $CW; wrc=$?
check "the parked wait got an error, not a state" sh -c "[ $wrc -ne 0 ] && ! grep -qx running '$WORK/wait.out'"
sed 's/^/    | wait: /' "$WORK/wait.out"
wait $CA; arc=$?
check "the parked artifact read got an error" test $arc -ne 0
sed 's/^/    | cat: /' "$WORK/big.err"
wait $CS; src=$?
check_eq "the parked stream read ended as a pipe does, with status 0" 0 $src
check "the mount is gone" sh -c "! mountpoint -q '$MNT'"
if grep -E -q 'AddressSanitizer|runtime error:|ThreadSanitizer|Segmentation|double' "$WORK/daemon.log"; then
	fail "the daemon reported trouble on the way out"; tail -20 "$WORK/daemon.log"
else
	pass "nothing bad in the daemon's log"
fi
mountpoint -q "$MNT" || fusermount3 -u "$MNT" 2>/dev/null

# the job runs on; a restart re-attaches it and resumes the download
check_eq "the job ran once and runs on" "start" "$(cat "$WORK/starts")"
start_daemon || { fail "restart"; nginx_cleanup; finish; exit 1; }
check_eq "after the restart the run ends as it should" completed "$(timeout 30 cat "$J/wait")"
check_eq "the job started once" 1 "$(grep -c start "$WORK/starts")"
check "the download resumes and completes" timeout 30 cp "$A/artifacts/big.bin" "$WORK/big.2"
check_eq "the bytes served match their SHA-256" "$SHA" "$(sha256sum "$WORK/big.2" | cut -d' ' -f1)"
stop_daemon

# A provider that accepts and never answers (slurmrestd behind a dead
# proxy) holds no SIGTERM: its call in flight gives up at once.
python3 -c '
import socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(16)
print(s.getsockname()[1], flush=True)
held = []
while True:
    held.append(s.accept()[0])
' > "$WORK/hang.port" &
HANG=$!
trap 'kill $HANG 2>/dev/null; nginx_cleanup; stop_daemon; rm -rf "$WORK"' INT TERM
i=0
while [ ! -s "$WORK/hang.port" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
(umask 077; echo "not.a.token" > "$WORK/hang.token")
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "providers": {"local": {"type": "local"},
 "hang": {"type": "slurm", "url": "http://127.0.0.1:$(cat "$WORK/hang.port")",
          "token_file": "$WORK/hang.token", "shared_dir": "$WORK/hang.shared"}}}
JSON
start_daemon || { fail "mount with a hanging provider"; kill $HANG; nginx_cleanup; finish; exit 1; }
check "the hanging provider's call is in flight" wait_grep "$MNT/providers/hang/status" "call in flight" 10
kill -TERM "$DAEMON_PID"
check "SIGTERM ends the daemon within 2 s while a provider hangs" gone "$DAEMON_PID" 2
kill -0 "$DAEMON_PID" 2>/dev/null && kill -9 "$DAEMON_PID"
wait "$DAEMON_PID"; rc=$?
DAEMON_PID=""
check_eq "the exit status with a hanging provider" 0 $rc
mountpoint -q "$MNT" && fusermount3 -u "$MNT" 2>/dev/null
kill $HANG 2>/dev/null
nginx_cleanup
finish
