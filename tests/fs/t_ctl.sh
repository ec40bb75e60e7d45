#!/bin/sh
# ctl and wait through the mount: pause/resume stop and continue the whole
# process group, cancel ends it, wait blocks (and honours O_NONBLOCK and
# poll()), retry starts a new attempt, priority reorders the queue.
. "$(dirname "$0")/lib.sh"
write_daemon_config 1 2
start_daemon || exit 1

# a job whose child process ticks into a file every 50 ms
R=$(new_run ctl ticker)
TICKS=$WORK/ticks
ESC=$WORK/esc_ticks
# and one that left the job's process group and session (setsid): where the
# job has a cgroup, pause freezes it too
cmd_config "[\"sh\", \"-c\", \"setsid sh -c 'while :; do echo t >> $ESC; sleep 0.05; done' & sh -c 'while :; do echo t >> $TICKS; sleep 0.05; done' & wait\"]" > "$R/config.json"
check "ticker runs" wait_state "$R" running
check "ticks grow" wait_grep "$TICKS" t 10
echo pause > "$R/ctl" && ok || fail "echo pause"
check "paused" wait_state "$R" paused 10
sleep 0.3; a=$(wc -l < "$TICKS"); sleep 0.6; b=$(wc -l < "$TICKS")
check_eq "no progress while paused (child of the job too)" "$a" "$b"
if grep -q '"cgroup"' "$STATE"/runs/*/attempt-1/job.json 2>/dev/null; then
	ea=$(wc -l < "$ESC"); sleep 0.6; eb=$(wc -l < "$ESC")
	check_eq "no progress while paused (escaped child, cgroup frozen)" "$ea" "$eb"
else
	echo "SKIP [t_ctl.sh]: no job cgroup here, an escaped child is not paused"
fi
check_contains "pause in events" "state running -> paused" "$R/events"
echo resume > "$R/ctl" && ok || fail "echo resume"
check "running again" wait_state "$R" running 10
sleep 0.5; c=$(wc -l < "$TICKS")
check "progress after resume" test "$c" -gt "$b"
check "escaped child resumes too" test "$(wc -l < "$ESC")" -gt "${eb:-0}"

# O_NONBLOCK wait on an active run: EAGAIN; poll() says not ready
python3 - "$R/wait" > "$WORK/nb.out" <<'PY'
import errno, os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 64); print("read")
except BlockingIOError:
    print("EAGAIN")
p = select.poll(); p.register(fd, select.POLLIN)
print("ready" if p.poll(200) else "not-ready")
PY
check_eq "O_NONBLOCK wait" "EAGAIN not-ready" "$(tr '\n' ' ' < "$WORK/nb.out" | sed 's/ $//')"

# a blocked reader and a poll() waiter both wake on cancel
cat "$R/wait" > "$WORK/wait.out" &
WAITER=$!
python3 - "$R/wait" > "$WORK/poll.out" <<'PY' &
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
p = select.poll(); p.register(fd, select.POLLIN)
ev = p.poll(20000)
print("woke" if ev else "timeout", os.read(fd, 64).decode().strip())
PY
POLLER=$!
sleep 0.5
check "wait still blocks while running" kill -0 $WAITER
echo cancel > "$R/ctl" && ok || fail "echo cancel"
wait $WAITER
check_eq "blocked wait returns stopped" "stopped" "$(cat "$WORK/wait.out")"
wait $POLLER
check_eq "poll() woke with the state" "woke stopped" "$(cat "$WORK/poll.out")"
check_contains "reason cancelled" '"reason":	"cancelled"' "$R/status.json"
sleep 0.3; d=$(wc -l < "$TICKS"); sleep 0.4; e=$(wc -l < "$TICKS")
check_eq "the whole process group ended" "$d" "$e"

# a job that ignores TERM is KILLed after the grace period
R2=$(new_run ctl stubborn)
cmd_config '["sh", "-c", "trap \"\" TERM; while :; do sleep 0.1; done"]' > "$R2/config.json"
wait_state "$R2" running
echo cancel > "$R2/ctl"
check_eq "TERM-ignoring job ends stopped" "stopped" "$(timeout 15 cat "$R2/wait")"

# cancelling a queued run stops it at once; priority reorders the queue
B=$(new_run ctl blocker)
cmd_config '["sleep", "30"]' > "$B/config.json"
wait_state "$B" running
L=$(new_run ctl low); H=$(new_run ctl high); Q=$(new_run ctl doomed)
cmd_config '["true"]' > "$L/config.json"
cmd_config '["true"]' > "$Q/config.json"
cmd_config '["true"]' '"priority": 5' > "$H/config.json"
check_eq "queue order by priority" "ctl/high ctl/low ctl/doomed" \
	"$(awk '{print $2}' "$MNT/queue" | tr '\n' ' ' | sed 's/ $//')"
check_contains "queue says why" "no free slot on local" "$MNT/queue"
echo "priority 10" > "$Q/ctl"
check_eq "priority 10 moves a run to the head" "ctl/doomed" "$(awk 'NR==1{print $2}' "$MNT/queue")"
echo cancel > "$Q/ctl"
check_eq "queued run cancelled at once" "stopped" "$(cat "$Q/status")"
echo cancel > "$B/ctl"
check_eq "high runs before low" "completed" "$(cat "$H/wait")"
check_eq "low completes" "completed" "$(cat "$L/wait")"
HS=$(python3 -c "import json;print(json.load(open('$H/status.json'))['started'])")
LS=$(python3 -c "import json;print(json.load(open('$L/status.json'))['started'])")
check "high started first" test "$HS" \< "$LS"

# retry: a new attempt of the same run, same run id
F=$(new_run ctl flaky)
cmd_config "[\"sh\", \"-c\", \"test -f $WORK/fixed || exit 4\"]" > "$F/config.json"
check_eq "first attempt fails" "failed" "$(cat "$F/wait")"
ID1=$(python3 -c "import json;print(json.load(open('$F/status.json'))['run_id'])")
touch "$WORK/fixed"
echo retry > "$F/ctl" && ok || fail "echo retry"
check_eq "second attempt completes" "completed" "$(cat "$F/wait")"
python3 -c "import json;d=json.load(open('$F/status.json'));print(d['attempt'], d['run_id'])" > "$WORK/retry.out"
check_eq "attempt 2, same run id" "2 $ID1" "$(cat "$WORK/retry.out")"
check_contains "retry in events" "retry requested" "$F/events"

# wait on a run never submitted answers at once: it may never be
Z=$(new_run ctl gone)
check_eq "wait of a created run: at once" "created" "$(timeout 5 cat "$Z/wait")"
rmdir "$Z"
check_contains "wait of a removed run: ENOENT" "No such file or directory" \
	"$(cat "$Z/wait" > "$WORK/gone.out" 2>&1; echo "$WORK/gone.out")"

# timeout_s
T=$(new_run ctl slow)
cmd_config '["sleep", "30"]' '"timeout_s": 1' > "$T/config.json"
check_eq "timeout fails the run" "failed" "$(timeout 20 cat "$T/wait")"
check_contains "timeout reason" "timeout after 1 s" "$T/status.json"

# a run whose job ended while its outputs are hashed: pause is refused
# with a reason, never accepted and then silently dropped
O=$(new_run ctl outputs)
cmd_config '["sh", "-c", "head -c 1073741824 /dev/zero > $TRAINFS_OUTPUT_DIR/big.bin"]' \
	> "$O/config.json"
if wait_grep "$O/events" "collecting outputs" 60; then
	if echo pause > "$O/ctl" 2>/dev/null; then
		fail "pause accepted while outputs are collected"
	else ok; fi
	check_contains "the refusal says why" "outputs are being collected" "$O/events"
else
	fail "the run never showed collecting outputs"
fi
check_eq "the run still completes" "completed" "$(timeout 60 cat "$O/wait")"

finish
