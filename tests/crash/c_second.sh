#!/bin/sh
# c_second.sh - a second daemon on the same state directory must be refused
# with a clear message naming the first, and change nothing: every run is
# handed to the provider once and started once. Once an unmount has
# returned, the state is free for the next daemon at once.
. "$(dirname "$0")/lib.sh"

write_daemon_config 1 1
start_daemon || { fail "mount"; finish; exit 1; }
MNT2=$WORK/mnt2
mkdir -p "$MNT2"
job='echo "$TRAINFS_RUN" >> "$STARTS"; sleep 2'
for r in r1 r2 r3; do
	R=$(new_run two $r)
	cmd_config "[\"sh\", \"-c\", $(printf '%s' "$job" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')]" \
		"\"env\": {\"STARTS\": \"$WORK/starts\"}" > "$WORK/cfg"
	check "submit $r" cp "$WORK/cfg" "$R/config.json"
done
check "r1 runs, r2 and r3 wait for the one slot" wait_state "$MNT/experiments/two/runs/r1" running 20

# the second daemon, on another mount point, same state
"$TRAINFS" -f --state "$STATE" --config "$DCONF" "$MNT2" > "$WORK/second.out" 2>&1 &
P2=$!
i=0
while kill -0 $P2 2>/dev/null && ! mountpoint -q "$MNT2" && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1)); done
if mountpoint -q "$MNT2"; then
	fail "a second daemon on the same state mounted $MNT2"
	sleep 3    # long enough for both to hand out the queued runs
	fusermount3 -u "$MNT2"
	wait $P2
else
	wait $P2; rc=$?
	check "the second daemon exits with an error" test $rc -ne 0
	pass "the second daemon did not mount"
fi
sed 's/^/    | second: /' "$WORK/second.out"
check_contains "it says the state is in use" "in use" "$WORK/second.out"
check_contains "it names the first daemon's pid" "$DAEMON_PID" "$WORK/second.out"

for r in r1 r2 r3; do
	R=$MNT/experiments/two/runs/$r
	check_eq "$r completes" completed "$(timeout 30 cat "$R/wait")"
	check_eq "$r handed to the provider once" 1 "$(grep -c 'attempt 1 submitted' "$R/events")"
	check_eq "$r started once" 1 "$(grep -cx "two/$r" "$WORK/starts")"
done

# an unmount returns only once the daemon let go of the state
stop_daemon
"$TRAINFS" -f --state "$STATE" --config "$DCONF" "$MNT2" > "$WORK/third.out" 2>&1 &
P3=$!
i=0
while kill -0 $P3 2>/dev/null && ! mountpoint -q "$MNT2" && [ $i -lt 100 ]; do
	sleep 0.1; i=$((i + 1)); done
check "right after the unmount a new daemon takes the state" mountpoint -q "$MNT2"
sed 's/^/    | next: /' "$WORK/third.out"
check_eq "it sees the runs" "r1 r2 r3" "$(ls "$MNT2/experiments/two/runs" 2>/dev/null | tr '\n' ' ' | sed 's/ $//')"
fusermount3 -u "$MNT2" 2>/dev/null
wait $P3
finish
