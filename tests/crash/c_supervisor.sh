#!/bin/sh
# c_supervisor.sh - kill -9 of a job's supervisor (trainfs-sup) while the
# job runs: no second copy of the job may start while the first still runs,
# a run with max_retries 0 must not show "failed" while its job runs, and
# the run ends with nothing of its job left behind.
. "$(dirname "$0")/lib.sh"

start_daemon || { fail "mount"; finish; exit 1; }

# The job holds a lock of its own for its whole life (sleep inherits the
# fd): a copy that finds it taken says so, and the test can tell from it
# whether a job still runs. $PPID is the job's supervisor.
job='exec 9>>"$LOCK"; flock -n 9 || echo concurrent >> "$STARTS"; echo "start $TRAINFS_ATTEMPT $PPID" >> "$STARTS"; sleep 6'
for r in a b; do
	: > "$WORK/starts.$r"
	retries=1; [ $r = b ] && retries=0
	R=$(new_run sup $r)
	printf '{"command": ["sh", "-c", %s], "max_retries": %d,
 "env": {"LOCK": "%s", "STARTS": "%s"}}\n' \
		"$(printf '%s' "$job" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')" \
		$retries "$WORK/lock.$r" "$WORK/starts.$r" > "$WORK/cfg.$r"
	check "submit $r" cp "$WORK/cfg.$r" "$R/config.json"
done
for r in a b; do
	check "job $r started" wait_grep "$WORK/starts.$r" "^start 1 " 20
done
# kill -9 the supervisors: pids of this test's own processes only
for r in a b; do
	sup=$(sed -n 's/^start 1 //p' "$WORK/starts.$r")
	if pgrep -f "$WORK" | grep -qx "$sup" &&
	   [ "$(cat /proc/$sup/comm 2>/dev/null)" = trainfs-sup ]; then
		kill -9 "$sup"; pass "killed supervisor $sup of run $r"
	else
		fail "no supervisor at pid '$sup' for run $r"
	fi
done

job_alive() { ! flock -n "$WORK/lock.$1" true; }
# while b's job still runs, b must not be "failed"
bad=""
while job_alive b; do
	s=$(cat "$MNT/experiments/sup/runs/b/status")
	[ "$s" = failed ] && bad="$s"
	sleep 0.1
done
check_eq "max_retries 0: not failed while the job still runs" "" "$bad"
for r in a b; do
	R=$MNT/experiments/sup/runs/$r
	st=$(timeout 30 cat "$R/wait")
	case $st in
	completed|failed|stopped) pass "run $r ended ($st)" ;;
	*) fail "run $r did not end in 30 s: '$st' ($(cat "$R/status"))" ;;
	esac
	check "run $r: no job process left once it ended" flock -n "$WORK/lock.$r" true
	check_eq "run $r: never two copies at once" "" \
		"$(grep concurrent "$WORK/starts.$r")"
	sed 's/^/    | starts.'$r': /' "$WORK/starts.$r"
	grep -E 'supervisor|attempt|state' "$R/events" | sed 's/^/    | events.'$r': /'
done
finish
