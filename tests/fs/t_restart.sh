#!/bin/sh
# Restart: kill -9 the daemon (and, later, unmount it) while two jobs run and
# one is queued; everything comes back, running jobs were never interrupted
# and are re-attached, a job that ended meanwhile shows its true exit code,
# and no job is started twice.
. "$(dirname "$0")/lib.sh"
write_daemon_config 2 2
start_daemon || exit 1

# each job counts its starts and waits for its own gate file
job() { # name exit-code
	echo "[\"sh\", \"-c\", \"echo start >> $WORK/$1.starts; echo \$\$ > $WORK/$1.pid; echo \\\"{'loss': 0.5, 'epoch': 1.0}\\\"; while [ ! -f $WORK/$1.gate ]; do sleep 0.05; done; echo done-$1; exit $2\"]"
}
A=$(new_run rs a); B=$(new_run rs b); C=$(new_run rs c)
job a 0 | { read -r argv; cmd_config "$argv"; } > "$A/config.json"
job b 5 | { read -r argv; cmd_config "$argv"; } > "$B/config.json"
wait_state "$A" running && wait_state "$B" running
job c 0 | { read -r argv; cmd_config "$argv"; } > "$C/config.json"
check_eq "third run waits in the queue" "queued" "$(cat "$C/status")"
# two more, submitted in the opposite order of their creation (and ids)
D=$(new_run rs d); F=$(new_run rs f)
cmd_config '["true"]' > "$F/config.json"
cmd_config '["true"]' > "$D/config.json"
queue_order() { grep -o 'rs/[df]' "$MNT/queue" | tr '\n' ' ' | sed 's/ $//'; }
check_eq "the queue in submission order" "rs/f rs/d" "$(queue_order)"
check "metrics before the crash" wait_grep "$A/metrics" "^loss 0.5" 10
APID=$(cat "$WORK/a.pid")

kill9_daemon
check "mount is gone" sh -c "! mountpoint -q '$MNT'"
check "job a survives the daemon" kill -0 "$APID"
touch "$WORK/b.gate"                        # b ends while nobody watches
i=0; while kill -0 "$(cat "$WORK/b.pid")" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

start_daemon || exit 1
check_eq "experiments are back" "default rs" "$(ls "$MNT/experiments" | tr '\n' ' ' | sed 's/ $//')"
check_eq "runs are back" "a b c d f" "$(ls "$MNT/experiments/rs/runs" | tr '\n' ' ' | sed 's/ $//')"
check_eq "job a is re-attached, still running" "running" "$(cat "$A/status")"
check_eq "after a restart the queue keeps submission order" "rs/f rs/d" "$(queue_order)"
check "job a process never interrupted" kill -0 "$APID"
check_eq "job b ended meanwhile: its true exit code" "failed" "$(cat "$B/wait")"
check_contains "b's exit code" '"exit_code":	5' "$B/status.json"
check_contains "b's reason" "exit code 5" "$B/status.json"
check_contains "b's log kept its last line" "done-b" "$B/log"
check_contains "a's metrics are back" "^loss 0.5" "$A/metrics"
check_contains "a's log is back" "start" "$WORK/a.starts"
check "queued c starts once b's slot is free" wait_state "$C" running 10

# a clean unmount and restart too
stop_daemon
check "job a survives an unmount" kill -0 "$APID"
start_daemon || exit 1
check_eq "a still running after remount" "running" "$(cat "$A/status")"
touch "$WORK/a.gate" "$WORK/c.gate"
check_eq "a completes" "completed" "$(cat "$A/wait")"
check_eq "c completes" "completed" "$(cat "$C/wait")"
for j in a b c; do
	check_eq "job $j started exactly once" "1" "$(wc -l < "$WORK/$j.starts")"
done
check_contains "a's log has its end" "done-a" "$A/log"
check_eq "no duplicate submission in events" "1" "$(grep -c 'attempt 1 submitted' "$A/events")"

finish
