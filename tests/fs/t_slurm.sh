#!/bin/sh
# The Slurm provider through a real mount against a real one-node Slurm
# (tools/slurm-up, slurmrestd with JWT): submit, the log while the job runs,
# metrics, exit codes 0 and 3, cancel (gone from squeue), pause/resume, a
# timeout, a job Slurm refuses, verified artifacts, a hostile argv,
# resources in scontrol, a bad
# token and a loose token file, the token kept out of logs, state and the
# job's environment, a node failure retried, and a job Slurm forgot while
# the daemon was down. Says SKIP when the cluster cannot start.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/slurm.sh"

SDIR=$(mktemp -d /tmp/tfs-slurm.XXXXXX)
cleanup() {
	stop_daemon
	slurm_cluster_down "$SDIR"
	[ -n "${KEEP:-}" ] || rm -rf "$SDIR"
}
# the cluster is stopped however the test ends (set -u, a signal)
trap cleanup EXIT
trap 'cleanup; rm -rf "$WORK"; exit 1' INT TERM
if ! slurm_cluster_up "$SDIR"; then
	cleanup
	finish
	exit 0
fi

job_of() { js "$1/status.json" provider_job_id; }
# in_squeue UUID: the ids of this run's jobs that squeue lists
in_squeue() { squeue -h -o '%i %k' | awk -v u="$1" 'index($0, "trainfs " u "/") { print $1 }'; }
check_match() { # check_match "what" ERE value
	if printf '%s\n' "$3" | grep -q -E -- "$2"; then ok; else
		fail "$1: '$3' does not match '$2'"; fi
}
gone_from_squeue() { [ -z "$(in_squeue "$1")" ]; }
squeue_state_is() { [ "$(squeue -h -j "$1" -o %t 2>/dev/null)" = "$2" ]; }
node_idle() { sinfo -h -N -o %T | grep -q -E '^(idle|mixed|allocated)$'; }

# the token in a file of the test's own (never DIR/token), 0600
TOKEN=$(cat "$SDIR/token")
TOKF=$WORK/slurm.token
(umask 077; cat "$SDIR/token" > "$TOKF")
python3 - "$SDIR/provider.json" "$TOKF" > "$WORK/slurm.json" <<'PY'
import json, sys
p = json.load(open(sys.argv[1]))
p["token_file"] = sys.argv[2]
p["poll_ms"] = 200
print(json.dumps(p))
PY
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
   "slurm": $(cat "$WORK/slurm.json")}}
JSON
start_daemon || { cleanup; fail "daemon did not start"; finish; exit 1; }
PST=$MNT/providers/slurm/status
check "provider ok" wait_grep "$PST" "^ok" 30

# the jobs are POSIX sh scripts in the test's directory, which the node sees
GO=$WORK/go
mkdir -p "$GO"
cat > "$WORK/talk.sh" <<'SH'
# talk.sh GATE: a line, a metric, then waits for GATE before the next
echo "line one"
printf '{"step": 1, "loss": 0.25}\n' >> "$TRAINFS_METRICS"
echo '{"acc": 0.75}'
i=0
while [ ! -e "$1" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
echo "line two"
SH
slurm_config() { # slurm_config 'argv JSON' [extra members]
	cmd_config "$1" "\"provider\": \"slurm\"${2:+, $2}"
}
submit() { # submit RUN_DIR 'argv JSON' [extra members]: writes config.json
	slurm_config "$2" "${3:-}" > "$1/config.json" 2>>"$WORK/submit.err" ||
		fail "config.json of $1 refused: $(tail -1 "$1/events" 2>/dev/null)"
}

# ---- first wave: everything that may run side by side ----
A=$(new_run slurm talk)
submit "$A" "[\"sh\", \"$WORK/talk.sh\", \"$GO/talk\"]"
F=$(new_run slurm fail3)
submit "$F" '["sh", "-c", "echo about to fail; exit 3"]'
C=$(new_run slurm cancel)
submit "$C" '["sleep", "60"]'
P=$(new_run slurm pause)
submit "$P" '["sh", "-c", "while :; do sleep 0.2; done"]'
T=$(new_run slurm timeout)
submit "$T" '["sleep", "60"]' '"timeout_s": 3'
# more memory than any node has: Slurm refuses the job (its error_code)
X=$(new_run slurm toobig)
submit "$X" '["true"]' '"resources": {"memory_mb": 100000000}'
# artifacts, the argv and the environment, with resources
ARGV_JSON='["a b", "it'"'"'s", "say \"hi\"", "$HOME and `id`", "back\\slash\\", "two\nlines", "", "tab\there", "*"]'
cat > "$WORK/art.py" <<'PY'
import json, os, sys
out = os.environ["TRAINFS_OUTPUT_DIR"]
json.dump(sys.argv[1:], open(os.path.join(out, "argv.json"), "w"))
with open(os.path.join(out, "env.txt"), "w") as f:
    for k, v in sorted(os.environ.items()):
        f.write("%s=%s\n" % (k, v))
with open(os.path.join(out, "model.bin"), "wb") as f:
    f.write(os.urandom(300000))
os.makedirs(os.path.join(out, "sub"), exist_ok=True)
open(os.path.join(out, "sub", "small.txt"), "w").write("small\n")
PY
R=$(new_run slurm art)
submit "$R" "[\"python3\", \"$WORK/art.py\", $(printf "%s\n" "$ARGV_JSON" | sed 's/^\[//; s/\]$//')]" \
	'"resources": {"cpus": 2, "memory_mb": 300}'
check_eq "config.json says slurm" "slurm" "$(js "$A/config.json" provider)"

# submit, and the log while the job runs (tail -f follows it)
check "talk runs" wait_state "$A" running 60
check "log has the first line while running" wait_grep "$A/log" "line one" 60
tail -f "$A/log" > "$WORK/tail.out" 2>/dev/null &
TAIL=$!
check_eq "still running with a partial log" "running" "$(cat "$A/status")"
check "no second line yet" sh -c "! grep -q 'line two' '$A/log'"
check_eq "the provider" "slurm" "$(js "$A/status.json" provider)"
AID=$(job_of "$A")
check "the run's job is in squeue with its comment" sh -c "squeue -h -o '%i %k' | grep -q '^$AID trainfs $(js "$A/status.json" run_id)/1 slurm/talk'"
check "metric from \$TRAINFS_METRICS" wait_grep "$A/metrics" "loss 0.25" 30
check "metric from a JSON dict in the log" wait_grep "$A/metrics" "acc 0.75" 30
touch "$GO/talk"
check "talk completes" wait_state "$A" completed 60
check "tail -f saw the line written later" wait_grep "$WORK/tail.out" "line two" 20
kill "$TAIL" 2>/dev/null; wait "$TAIL" 2>/dev/null
check_eq "exit code 0" "0" "$(js "$A/status.json" exit_code)"
check_eq "the whole log" "line one|{\"acc\": 0.75}|line two" "$(grep -v '^--- trainfs' "$A/log" | tr '\n' '|' | sed 's/|$//')"

# exit 3
check "fail3 fails" wait_state "$F" failed 60
check_eq "exit code 3, not the wait status" "3" "$(js "$F/status.json" exit_code)"
check_match "reason has Slurm's NonZeroExitCode" 'exit code 3.*NonZeroExitCode' "$(js "$F/status.json" reason)"
check_contains "its log" "about to fail" "$F/log"

# a job Slurm refuses fails at once with Slurm's words, the provider ok
check "toobig fails" wait_state "$X" failed 30
check_match "its reason is Slurm's refusal" 'submission refused: Slurm refused .*Requested node configuration is not available' "$(js "$X/status.json" reason)"
check_eq "the provider stays ok" ok "$(head -1 "$MNT/providers/slurm/status")"

# cancel: stopped, and the job gone from squeue
check "cancel runs" wait_state "$C" running 60
CU=$(js "$C/status.json" run_id)
check_eq "squeue has it" "$(job_of "$C")" "$(in_squeue "$CU")"
echo cancel > "$C/ctl"
check "cancelled run is stopped" wait_state "$C" stopped 60
check "gone from squeue" wait_cmd 30 gone_from_squeue "$CU"

# pause -> ST in squeue, resume -> running
check "pause runs" wait_state "$P" running 60
PID_=$(job_of "$P")
echo pause > "$P/ctl"
check "paused" wait_state "$P" paused 30
check "squeue says ST" wait_cmd 20 squeue_state_is "$PID_" ST
echo resume > "$P/ctl"
check "resumed" wait_state "$P" running 30
check "squeue says R" wait_cmd 20 squeue_state_is "$PID_" R

# timeout_s: 3
check "timeout fails" wait_state "$T" failed 60
check_contains "timeout reason" "timeout after 3 s" "$T/status.json"
check "timed-out job gone from squeue" wait_cmd 30 gone_from_squeue "$(js "$T/status.json" run_id)"

# artifacts, verified; the argv intact; resources
check "art completes" wait_state "$R" completed 60
RID=$(job_of "$R")
scontrol show job "$RID" > "$WORK/scontrol.txt" 2>&1
check_contains "scontrol: NumCPUs=2" "NumCPUs=2 " "$WORK/scontrol.txt"
check_contains "scontrol: 300M per node" "MinMemoryNode=300M" "$WORK/scontrol.txt"
check "manifest arrives" wait_grep "$R/events" "artifacts: 4 files" 30
check_eq "artifacts listed" "argv.json env.txt model.bin sub" "$(ls "$R/artifacts" | tr '\n' ' ' | sed 's/ $//')"
check_eq "ls -l shows the real size" "300000" "$(ls -l "$R/artifacts/model.bin" | awk '{print $5}')"
SRC=$SDIR/jobs/$(js "$R/status.json" run_id)/1/output
check "cat gives the job's bytes" cmp -s "$R/artifacts/model.bin" "$SRC/model.bin"
check_eq "sha256sum matches user.sha256" "$(getfattr --absolute-names --only-values -n user.sha256 "$R/artifacts/model.bin")" "$(sha256sum "$R/artifacts/model.bin" | cut -d' ' -f1)"
check_eq "nested file" "small" "$(cat "$R/artifacts/sub/small.txt")"
check_contains "downloads says verified" "model.bin verified" "$R/downloads"
check "argv reached the job intact" python3 -c '
import json, sys
want = json.loads(sys.argv[1]); got = json.load(open(sys.argv[2]))
sys.exit(0 if want == got else (print("want", want, "got", got) or 1))' "$ARGV_JSON" "$R/artifacts/argv.json"
check "no SLURM_JWT in the job's environment" sh -c "! grep -q '^SLURM_JWT=' '$R/artifacts/env.txt'"
check "no token in the job's environment" sh -c "! grep -q -F '$TOKEN' '$R/artifacts/env.txt'"
check_contains "the job had its run id" "^TRAINFS_RUN_ID=$(js "$R/status.json" run_id)" "$R/artifacts/env.txt"
echo cancel > "$P/ctl"
wait_state "$P" stopped 60

# ---- a wrong token: unreachable, nothing fails, then the real one ----
S=$(new_run slurm survivor)
submit "$S" "[\"sh\", \"$WORK/talk.sh\", \"$GO/survivor\"]"
check "survivor runs" wait_state "$S" running 60
(umask 077; printf '%s\n' "${TOKEN%?????}AAAAA" > "$TOKF.new"); mv "$TOKF.new" "$TOKF"
BAD=$(cat "$TOKF")
check "status: token rejected" wait_grep "$PST" "^unreachable: token rejected (" 30
check "MOUNT/events says so" wait_grep "$MNT/events" "provider 'slurm': unreachable: token rejected" 10
W=$(new_run slurm waiter)
submit "$W" '["sh", "-c", "echo waited"]'
check "a new run waits in initializing" wait_state "$W" initializing 30
# a few more passes with the bad token
n0=$(sed -n 's/^requests: //p' "$PST")
check "the provider is still asked" wait_cmd 30 sh -c "[ \"\$(sed -n 's/^requests: //p' '$PST')\" -gt $((n0 + 2)) ]"
check_eq "the waiting run does not fail" "initializing" "$(cat "$W/status")"
check_eq "the running run does not fail" "running" "$(cat "$S/status")"
check "still unreachable" grep -q "^unreachable: token rejected" "$PST"
(umask 077; printf '%s\n' "$TOKEN" > "$TOKF.new"); mv "$TOKF.new" "$TOKF"
check "status ok again" wait_grep "$PST" "^ok" 30
check "MOUNT/events: reachable again" wait_grep "$MNT/events" "provider 'slurm': reachable again" 10
check "the waiting run proceeds" wait_state "$W" completed 60
check_contains "and ran" "waited" "$W/log"
touch "$GO/survivor"
check "the survivor completes" wait_state "$S" completed 60

# ---- a node failure, under max_retries 1 (alone on the node: setting it
# down ends every job on it). Slurm 22.05 requeues the batch job (its
# slurmrestd leaves jobs requeueable, Requeue=1) rather than ending it
# NODE_FAIL: the connector takes a requeue as the end of the attempt, and
# the wrapper refuses the requeued job's second start, so the command runs
# once per attempt either way ----
cat > "$WORK/once.sh" <<'SH'
# the first start waits to be killed; the second one ends at once
echo start >> "$1.starts"
if [ -e "$1" ]; then echo second start; exit 0; fi
: > "$1"
echo first start
sleep 60
SH
N=$(new_run slurm nodefail)
submit "$N" "[\"sh\", \"$WORK/once.sh\", \"$WORK/once\"]" '"max_retries": 1'
check "nodefail runs" wait_state "$N" running 60
check "its first start began" wait_grep "$N/log" "first start" 30
NU=$(js "$N/status.json" run_id)
N1=$(job_of "$N")
scontrol update nodename="$SLURM_NODE" state=down reason=test
check "attempt 1 ends, the run is queued again" wait_cmd 30 sh -c "grep -q 'retry 1 of 1' '$N/events'"
N1STATE=$(squeue -h -t all -j "$N1" -o '%T %r' 2>/dev/null)
scontrol update nodename="$SLURM_NODE" state=resume 2>/dev/null
check "the node is back" wait_cmd 60 node_idle
check "retried and completed" wait_state "$N" completed 90
check_eq "attempt 2" "2" "$(js "$N/status.json" attempt)"
check_eq "same run id" "$NU" "$(js "$N/status.json" run_id)"
check_match "attempt 1's reason: NODE_FAIL or Slurm's requeue" "NODE_FAIL|requeued by Slurm" "$(js "$N/status.json" history 0 reason)"
check_contains "the second start ran" "second start" "$N/log"
check "a new Slurm job for attempt 2" test "$(job_of "$N")" != "$N1"
check_eq "one job per attempt in Slurm" "2" "$(squeue -h -t all -o '%k' | grep -c "trainfs $NU/")"
# attempt 1's job, when requeued, starts again and must refuse to run
n1_ended() { ! squeue -h -j "$N1" -o %T 2>/dev/null | grep -q .; }
check "attempt 1's Slurm job has ended" wait_cmd 60 n1_ended
check_eq "the command ran once per attempt" "2" "$(wc -l < "$WORK/once.starts")"
echo "node failure: Slurm job $N1 of attempt 1 was '$N1STATE' then" \
     "'$(squeue -h -t all -j "$N1" -o '%T %r' 2>/dev/null)'" >&2

# ---- a job Slurm forgot while the daemon was down ----
sed -i 's/^MinJobAge=.*/MinJobAge=2/' "$SLURM_CONF"
scontrol reconfigure
K=$(new_run slurm forgot)
submit "$K" "[\"sh\", \"$WORK/talk.sh\", \"$GO/forgot\"]"
K5=$(new_run slurm forgot5)
submit "$K5" "[\"sh\", \"-c\", \"sh $WORK/talk.sh $GO/forgot; exit 5\"]"
check "forgot runs" wait_state "$K" running 60
check "forgot5 runs" wait_state "$K5" running 60
KU=$(js "$K/status.json" run_id); K5U=$(js "$K5/status.json" run_id)
stop_daemon
touch "$GO/forgot"
forgotten() { [ -z "$(squeue -h -t all -o '%k' | grep -e "trainfs $KU/" -e "trainfs $K5U/")" ]; }
check "Slurm purged both jobs" wait_cmd 90 forgotten
check "exit files are there" test -s "$SDIR/jobs/$KU/1/exit"
start_daemon || fail "daemon did not restart"
check "forgotten job ends completed" wait_state "$K" completed 60
check_eq "exit code 0 from the exit file" "0" "$(js "$K/status.json" exit_code)"
check "forgotten job exit 5 ends failed" wait_state "$K5" failed 60
check_eq "exit code 5 from the exit file" "5" "$(js "$K5/status.json" exit_code)"
check "never 'job lost'" sh -c "! grep -q -i 'lost' '$K/events' '$K5/events'"

# ---- a token file others may read: the daemon refuses to start ----
LOOSE=$WORK/loose.token
cat "$SDIR/token" > "$LOOSE"; chmod 0644 "$LOOSE"
python3 - "$DCONF" "$LOOSE" > "$WORK/loose.json" <<'PY'
import json, sys
c = json.load(open(sys.argv[1]))
c["providers"]["slurm"]["token_file"] = sys.argv[2]
print(json.dumps(c))
PY
mkdir -p "$WORK/mnt2"
timeout 30 "$TRAINFS" -f --state "$WORK/state2" --config "$WORK/loose.json" \
	"$WORK/mnt2" > "$WORK/loose.out" 2>&1
rc=$?
mountpoint -q "$WORK/mnt2" && fusermount3 -u "$WORK/mnt2"
check "refused: exit non-zero" test "$rc" -ne 0 -a "$rc" -ne 124
check_contains "the message names the file" "$LOOSE" "$WORK/loose.out"
check_contains "and says why" "mode 0644" "$WORK/loose.out"

# ---- the token is nowhere ----
stop_daemon
for t in "$TOKEN" "$BAD"; do
	check "no token in the state dir" sh -c "! grep -r -q -F '$t' '$STATE'"
	check "no token in the daemon log" sh -c "! grep -q -F '$t' '$WORK/daemon.log' '$WORK/loose.out'"
done

cleanup
finish
