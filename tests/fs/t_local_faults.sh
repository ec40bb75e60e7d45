#!/bin/sh
# Faults of the local provider, on a real mount: a supervisor killed with
# -9 (its job is ended before the run fails or retries, also what left the
# job's session), signals meant for the daemon (they cancel nothing), a
# slow job start (the attempt stays, a cancel meanwhile holds), secrets in
# the daemon's environment (never in a job's), and files a job puts where
# the daemon reads (FIFOs, links, odd names: nothing blocks, nothing
# hides the rest). Only processes of this test are signalled, by pid.
. "$(dirname "$0")/lib.sh"

SECRET=trainfs-secret-$$-token
write_daemon_config 4 4
SECRET_TOKEN=$SECRET start_daemon || exit 1

# The job: records each start, and whether an earlier start of the same
# name still lives then; with ESC set it leaves a process that escaped
# its session; it ends when its gate appears.
cat > "$WORK/job.sh" <<'SH'
n=$1; d=$(dirname "$0")
alive() { [ -e /proc/$1 ] && ! grep -q '^State:[[:space:]]*Z' /proc/$1/status 2>/dev/null; }
for p in $(cat "$d/$n.pids" 2>/dev/null); do alive "$p" && echo "$p" >> "$d/$n.overlap"; done
echo $$ >> "$d/$n.pids"
if [ -n "${ESC:-}" ]; then setsid sleep 1000 & echo $! > "$d/$n.esc"; fi
while [ ! -f "$d/$n.gate" ]; do sleep 0.05; done
SH
job() { # name [extra JSON members]
	cmd_config "[\"sh\", \"$WORK/job.sh\", \"$1\"]" "${2:-\"max_retries\": 0}"
}
field() { python3 -c "import json,sys;print(json.load(open(sys.argv[1]))[sys.argv[2]])" "$1/status.json" "$2"; }
alive() { [ -e "/proc/$1" ] && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
wait_dead() { # pid [seconds]
	i=0; while alive "$1" && [ $i -lt $(( ${2:-10} * 20 )) ]; do sleep 0.05; i=$((i+1)); done
	! alive "$1"
}
wait_alive_file() { wait_grep "$1" . "${2:-10}"; }
wait_exists() { # file [seconds]
	i=0; while [ ! -e "$1" ] && [ $i -lt $(( ${2:-10} * 20 )) ]; do sleep 0.05; i=$((i+1)); done
	[ -e "$1" ]
}
# cgroup v2 writable here? (as local.c decides: the trainfs dir it made)
CG=""
for m in $(awk '$9 == "cgroup2" {print $5}' /proc/self/mountinfo); do
	[ -d "$m$(sed -n 's/^0:://p' /proc/self/cgroup)/trainfs" ] && CG=$m
done

# ---- a supervisor killed with -9 ----
# max_retries 0: the run is not "failed" while its job still runs
A=$(new_run lf lost0)
job lost0 > "$A/config.json"
wait_state "$A" running && wait_alive_file "$WORK/lost0.pids"
JP=$(cat "$WORK/lost0.pids")
kill -9 "$(field "$A" provider_job_id)"
wait_state "$A" failed 20
check "failed only once its job is gone" sh -c "! [ -e /proc/$JP ] || grep -q '^State:.*Z' /proc/$JP/status"
check_contains "the reason says so" "supervisor lost" "$A/status.json"

# with a retry: the second attempt never runs beside the first
B=$(new_run lf lost1)
job lost1 '"max_retries": 1' > "$B/config.json"
wait_state "$B" running && wait_alive_file "$WORK/lost1.pids"
kill -9 "$(field "$B" provider_job_id)"
check "attempt 2 started" wait_grep "$B/events" "attempt 2 submitted" 20
i=0; while [ "$(wc -l < "$WORK/lost1.pids")" -lt 2 ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i+1)); done
check_eq "two starts in all" "2" "$(wc -l < "$WORK/lost1.pids")"
check "no start while the one before it lived" test ! -e "$WORK/lost1.overlap"
touch "$WORK/lost1.gate"
check_eq "the retry completes" "completed" "$(timeout 20 cat "$B/wait")"

# what left the job's session dies with it too (a cgroup per job)
if [ -n "$CG" ]; then
	E=$(new_run lf escape)
	cmd_config "[\"env\", \"ESC=1\", \"sh\", \"$WORK/job.sh\", \"escape\"]" > "$E/config.json"
	wait_state "$E" running && wait_alive_file "$WORK/escape.esc"
	EP=$(cat "$WORK/escape.esc")
	check "the escaped process runs" alive "$EP"
	echo cancel > "$E/ctl"
	check_eq "cancelled" "stopped" "$(timeout 20 cat "$E/wait")"
	check "the escaped process is gone after cancel" wait_dead "$EP" 5
	kill -9 "$EP" 2>/dev/null

	E2=$(new_run lf escape2)
	cmd_config "[\"env\", \"ESC=1\", \"sh\", \"$WORK/job.sh\", \"escape2\"]" > "$E2/config.json"
	wait_state "$E2" running && wait_alive_file "$WORK/escape2.esc"
	EP2=$(cat "$WORK/escape2.esc")
	kill -9 "$(field "$E2" provider_job_id)"
	wait_state "$E2" failed 20
	check "the escaped process is gone with its supervisor" wait_dead "$EP2" 5
	kill -9 "$EP2" 2>/dev/null
else
	echo "SKIP escaped processes: no writable cgroup v2 here" >&2
fi

# ---- signals meant for the daemon cancel nothing ----
T=$(new_run lf signals)
job signals > "$T/config.json"
wait_state "$T" running && wait_alive_file "$WORK/signals.pids"
SP=$(field "$T" provider_job_id)
for s in TERM INT HUP; do kill -s $s "$SP"; done
kill -TERM "$DAEMON_PID"                 # as `pkill trainfs` would
wait "$DAEMON_PID" 2>/dev/null
mountpoint -q "$MNT" && fusermount3 -u "$MNT" 2>/dev/null
DAEMON_PID=""
check "the supervisor survives TERM, INT, HUP" kill -0 "$SP"
check "the job survives them" alive "$(cat "$WORK/signals.pids")"
SECRET_TOKEN=$SECRET start_daemon || exit 1
check_eq "still running after the daemon's restart" "running" "$(cat "$T/status")"
check "no cancel in its events" sh -c "! grep -q cancel '$T/events'"
echo cancel > "$T/ctl"
check_eq "ctl cancel still cancels" "stopped" "$(timeout 20 cat "$T/wait")"

# ---- a slow job start ----
# the job's log is a FIFO nobody reads: its open() blocks the start
S=$(new_run lf slow)
SDIR=$STATE/runs/$(field "$S" run_id)
mkdir -p "$SDIR" && rm -f "$SDIR/log" && mkfifo "$SDIR/log"
job slow '"max_retries": 1' > "$S/config.json"
sleep 1
check_eq "a slow start is initializing" "initializing" "$(cat "$S/status")"
kill9_daemon                             # the daemon dies meanwhile
SECRET_TOKEN=$SECRET start_daemon || exit 1
sleep 3                                  # longer than find() ever waited
check_eq "still initializing after a restart" "initializing" "$(cat "$S/status")"
check_eq "still attempt 1" "1" "$(field "$S" attempt)"
check "no retry of a slow start" sh -c "! grep -q 'retry' '$S/events'"
check "reading a FIFO log through the mount does not block" sh -c "timeout 5 cat '$S/log' > /dev/null"
check "and lets no blocked start go on" test ! -e "$WORK/slow.pids"
echo cancel > "$S/ctl"
check_eq "a cancel during the start holds" "stopped" "$(timeout 20 cat "$S/wait")"
timeout 2 cat "$SDIR/log" > /dev/null 2>&1 &   # lets a blocked start go on
sleep 1
check "the cancelled job never ran" test ! -e "$WORK/slow.pids"
check "no second attempt" test ! -e "$SDIR/attempt-2"

# ---- secrets and the environment ----
V=$(new_run lf env)
cmd_config '["env"]' > "$V/config.json"
check_eq "env job completes" "completed" "$(timeout 20 cat "$V/wait")"
check "the daemon's secret is not in the job's log" sh -c "! grep -q '$SECRET' '$V/log'"
check_contains "PATH is there" "^PATH=" "$V/log"
check_contains "HOME is there" "^HOME=" "$V/log"
check_contains "TRAINFS_RUN is there" "^TRAINFS_RUN=lf/env" "$V/log"

# ---- files the job writes where the daemon reads ----
# odd names, links and FIFOs in the output: each left out with an event
O=$(new_run lf outputs)
cmd_config '["sh", "-c", "cd $TRAINFS_OUTPUT_DIR; echo real > real.txt; echo odd > \"$(printf \"a\\nb\")\"; ln -s /etc/passwd link; mkfifo pipe"]' > "$O/config.json"
check_eq "outputs job completes" "completed" "$(timeout 20 cat "$O/wait")"
check "manifest stored" wait_grep "$O/events" "artifacts: 1 files" 10
check_eq "real.txt is listed" "real.txt" "$(ls "$O/artifacts" 2>&1)"
check_contains "the odd name is named" "skipped 'a.u000ab': its name has a control character" "$O/events"
check_contains "the link is named" "skipped 'link': a symbolic link" "$O/events"
check_contains "the FIFO is named" "skipped 'pipe': a FIFO" "$O/events"
check_eq "real.txt reads back" "real" "$(cat "$O/artifacts/real.txt")"

# a FIFO at exit.json in the job's directory blocks no poll
F=$(new_run lf fifo)
cmd_config "[\"sh\", \"-c\", \"mkfifo exit.json; touch $WORK/fifo.ready; while [ ! -f $WORK/fifo.gate ]; do sleep 0.05; done\"]" > "$F/config.json"
check "fifo job started" wait_exists "$WORK/fifo.ready" 20
G=$(new_run lf other)
cmd_config '["true"]' > "$G/config.json"
check_eq "another run completes meanwhile" "completed" "$(timeout 10 cat "$G/wait")"
check_eq "the fifo run still runs" "running" "$(cat "$F/status")"
touch "$WORK/fifo.gate"
check_eq "and completes" "completed" "$(timeout 10 cat "$F/wait")"

# ---- the provider's config passes and sets variables ----
kill9_daemon                             # a poller stuck on a FIFO cannot stop
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {"local": {"type": "local", "pass_env": ["PASSED_ON"],
   "env": {"SET_HERE": "yes"}, "slots": {"cpus": 4, "max_jobs": 4}}}}
JSON
SECRET_TOKEN=$SECRET PASSED_ON=ok start_daemon || fail "pass_env and env refused"
P=$(new_run lf passenv)
cmd_config '["env"]' > "$P/config.json"
check_eq "passenv job completes" "completed" "$(timeout 20 cat "$P/wait")"
check_contains "pass_env passes" "^PASSED_ON=ok" "$P/log"
check_contains "env sets" "^SET_HERE=yes" "$P/log"
check "still no secret" sh -c "! grep -q '$SECRET' '$P/log'"

for n in lost0 lost1 signals slow escape escape2; do touch "$WORK/$n.gate"; done
for f in "$WORK"/*.esc; do [ -f "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null; done
for f in "$WORK"/*.pids; do [ -f "$f" ] && for p in $(cat "$f"); do kill -9 "$p" 2>/dev/null; done; done
# a job that swaps its log for a link: stat and read of log agree (empty)
L=$(new_run faults loglink)
cmd_config '["sh", "-c", "ln -sf /etc/services \"$(dirname \"$TRAINFS_METRICS\")/log\"; echo done"]' \
	> "$L/config.json"
timeout 30 cat "$L/wait" >/dev/null
check_eq "stat size of a linked log matches what reads give" \
	"$(cat "$L/log" | wc -c)" "$(stat -c %s "$L/log")"

finish
