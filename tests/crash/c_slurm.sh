#!/bin/sh
# c_slurm.sh - crashes and faults of the Slurm provider against a real
# one-node Slurm (tools/slurm-up in the test's directory, stopped at the
# end by tools/slurm-down; one daemon stopped and started again by
# tools/slurm-ctl, with the cluster's own command line):
#   hang      a second Slurm provider whose slurmrestd accepts and never
#             answers: a local run is not slowed, its status says so
#   accept    the daemon dies right after slurmrestd accepted a job
#             (TRAINFS_FAULT=slurm-after-accept): the restart adopts it,
#             one job in Slurm, one start
#   ctld      slurmctld stopped for 5 s and started again
#   restd     slurmrestd stopped for 60 s mid-run, a run queued meanwhile
#   storm     kill -9 of the daemon during 200 submissions to Slurm, a few
#             rounds: every acknowledged run once in Slurm, started once,
#             completed; the counts go to RELIABILITY.md's "## Slurm"
#             section (RELIABILITY=FILE writes elsewhere)
# When the cluster cannot start it says SKIP and counts nothing.
. "$(dirname "$0")/lib.sh"

# the cluster's own directory: slurmrestd runs as nobody and must reach
# its slurm.conf, which $WORK (0700) would not let it
CL=$(mktemp -d /tmp/trainfs-slurm.XXXXXX)
chmod 0755 "$CL"
POLL_MS=200
BACKOFF_MS=$((POLL_MS * 8))       # the poller's longest wait (3 doublings)
REPORT=${RELIABILITY:-$TOP/RELIABILITY.md}
HANG_PID=""
export SLURM_CONF="$CL/slurm.conf"

cleanup() {
	[ -n "$HANG_PID" ] && kill "$HANG_PID" 2>/dev/null
	HANG_PID=""
	stop_daemon
	sh "$TOP/tools/slurm-down" "$CL" 2>/dev/null
	[ -n "${KEEP:-}" ] || rm -rf "$CL"
}
trap 'cleanup; rm -rf "$WORK"; exit 1' INT TERM
# an error of the script's own leaves no cluster and no directory
trap 'cleanup; [ -n "${KEEP:-}" ] || rm -rf "$WORK"' EXIT

ms() { date +%s%3N; }
status_of() { cat "$1/status" 2>/dev/null; }
json_field() { # json_field RUN_DIR KEY: a member of status.json, "" if null
	python3 -c 'import json,sys
try:
    v = json.load(open(sys.argv[1] + "/status.json")).get(sys.argv[2])
except (OSError, ValueError):
    v = None
print("" if v is None else v)' "$1" "$2"
}
# first_line FILE: the health word of a provider's status
first_line() { head -n 1 "$1" 2>/dev/null; }
requests_of() { sed -n 's/^requests: //p' "$MNT/providers/$1/status"; }
# slurm_jobs UUID: the ids of Slurm's jobs (any state) whose comment names
# the run, one a line
slurm_jobs() {
	squeue -h -t all -o '%i %k' 2>/dev/null |
		awk -v k="trainfs $1/" 'index($0, k) { print $1 }'
}
njobs() { slurm_jobs "$1" | grep -c .; }
# nstarts UUID: attempts of the run the wrapper started (its started/ mark)
nstarts() { ls -d "$CL/jobs/$1"/*/started 2>/dev/null | grep -c .; }
# converged TEST RUN_DIR...: each completes, one job in Slurm, one start
converged() {
	what=$1; shift
	for r in "$@"; do
		n=$(basename "$r")
		check_eq "$what: $n completes" completed "$(final_of "$r" 60)"
		u=$(json_field "$r" run_id)
		check_eq "$what: $n is one job in Slurm" 1 "$(njobs "$u")"
		check_eq "$what: $n started once" 1 "$(nstarts "$u")"
	done
}
# mkcfg PROVIDER SLEEP: a job that notes its start and one line of output
mkcfg() {
	python3 -c 'import json, sys
job = ("echo \"$TRAINFS_RUN_ID\" >> \"$STARTS\"; "
       "echo one >> \"$TRAINFS_OUTPUT_DIR/line\"; sleep " + sys.argv[2])
print(json.dumps({"provider": sys.argv[1], "command": ["sh", "-c", job],
                  "env": {"STARTS": sys.argv[3]}}))' "$1" "$2" "$WORK/starts"
}
# wait_for SECONDS command...: until the command succeeds
wait_for() {
	deadline=$(( $(date +%s) + $1 )); shift
	while ! "$@"; do
		[ "$(date +%s)" -le "$deadline" ] || return 1
		sleep 0.1
	done
}
is_unreachable() { first_line "$MNT/providers/$1/status" | grep -q '^unreachable'; }
is_ok() { [ "$(first_line "$MNT/providers/$1/status")" = ok ]; }
has_job_id() { [ -n "$(json_field "$1" provider_job_id)" ]; }
final_of() { timeout "$2" cat "$1/wait" 2>/dev/null; }
# daemon_config [PROVIDER_JSON...]: local plus the named members
daemon_config() {
	{
		printf '{"poll_interval_ms": 100, "kill_grace_s": 1, '
		printf '"retry_backoff_s": 1, "providers": {"local": '
		printf '{"type": "local", "slots": {"cpus": 2, "max_jobs": 2}}'
		for p in "$@"; do printf ', %s' "$p"; done
		printf '}}\n'
	} > "$DCONF"
}

# ---- the cluster ----
: > "$WORK/starts"
if ! out=$(sh "$TOP/tools/slurm-up" "$CL" 2> "$WORK/slurm-up.err"); then
	echo "SKIP: $CRASH: the Slurm cluster did not start: $(tail -n 1 "$WORK/slurm-up.err")"
	cleanup
	finish
	exit 0
fi
SLURM=$(printf '%s' "$out" | python3 -c 'import json, sys
c = json.load(sys.stdin); c["poll_ms"] = int(sys.argv[1])
print(json.dumps(c))' "$POLL_MS")
echo "$CRASH: a one-node Slurm in $CL, poll_ms $POLL_MS"

# ---- hang: a provider that accepts and never answers ----
python3 -c 'import os, socket, sys
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
open(sys.argv[1] + ".new", "w").write("%d\n" % s.getsockname()[1])
os.rename(sys.argv[1] + ".new", sys.argv[1])
held = []     # accepted, never read, never answered
while True:
    held.append(s.accept()[0])' "$WORK/hang.port" &
HANG_PID=$!
wait_for 10 test -s "$WORK/hang.port" || fail "hang: the silent server did not start"
HANG_PORT=$(cat "$WORK/hang.port" 2>/dev/null)
(umask 077; echo "not.a.token" > "$WORK/hang.token")
# local_run NAME: submits a local run of 1 s, prints the ms to "completed"
local_run() {
	R=$(new_run hang "$1") || return 1
	mkcfg local 1 > "$WORK/cfg.$1"
	t0=$(ms)
	cp "$WORK/cfg.$1" "$R/config.json" || return 1
	[ "$(final_of "$R" 30)" = completed ] || return 1
	echo $(( $(ms) - t0 ))
}
daemon_config
start_daemon || fail "hang: mount"
base=$(local_run alone) || fail "hang: the local run alone completes"
stop_daemon
daemon_config "\"hang\": {\"type\": \"slurm\", \"url\": \"http://127.0.0.1:$HANG_PORT\",
 \"token_file\": \"$WORK/hang.token\", \"shared_dir\": \"$WORK/hang-jobs\",
 \"poll_ms\": $POLL_MS}"
start_daemon || fail "hang: mount with the hanging provider"
check "hang: providers/hang/status says unreachable while its call hangs" \
	wait_for 10 is_unreachable hang
sed 's/^/    | /' "$MNT/providers/hang/status" | head -1
with=$(local_run beside) || fail "hang: the local run beside it completes"
echo "$CRASH: hang: a 1 s local run took ${base:-?} ms alone, ${with:-?} ms next to the hanging provider"
if [ -n "$base" ] && [ -n "$with" ]; then
	check "hang: the local run is not delayed by 2 s or more" \
		test "$with" -lt $((base + 2000))
fi
check "hang: still unreachable after the local run" is_unreachable hang
check_eq "hang: the local provider is ok" ok "$(first_line "$MNT/providers/local/status")"
kill "$HANG_PID" 2>/dev/null; wait "$HANG_PID" 2>/dev/null; HANG_PID=""
stop_daemon

# the Slurm tests' daemon: local and the cluster
daemon_config "\"slurm\": $SLURM"

# ---- accept: the daemon dies between Slurm's accept and the record ----
export TRAINFS_FAULT=slurm-after-accept
start_daemon || fail "accept: mount with the fault"
unset TRAINFS_FAULT
R=$(new_run accept a1)
mkcfg slurm 1 > "$WORK/cfg.a1"
cp "$WORK/cfg.a1" "$R/config.json" 2>/dev/null
gone() { ! kill -0 "$DAEMON_PID" 2>/dev/null; }
check "accept: the daemon exits at the fault point" wait_for 30 gone
wait "$DAEMON_PID"; rc=$?
check_eq "accept: with code 86" 86 "$rc"
fusermount3 -u "$MNT" 2>/dev/null || umount -l "$MNT"
DAEMON_PID=""
# the run's UUID from Slurm's own record of the job (its comment): the
# daemon died before it wrote anything of the job down
uuid=$(squeue -h -t all -o '%k' 2>/dev/null |
	sed -n 's,^trainfs \([0-9a-f-]*\)/1 .*,\1,p' | head -n 1)
check_eq "accept: Slurm holds one job of the run before the restart" 1 "$(njobs "$uuid")"
start_daemon || fail "accept: restart"
check "accept: the restarted daemon records a job id" wait_for 20 has_job_id "$R"
check_eq "accept: it is the run's" "$uuid" "$(json_field "$R" run_id)"
check_eq "accept: the job adopted is the one in Slurm" "$(slurm_jobs "$uuid")" \
	"$(json_field "$R" provider_job_id)"
check_eq "accept: the run completes" completed "$(final_of "$R" 60)"
check_eq "accept: squeue shows exactly one job with the run's UUID" 1 "$(njobs "$uuid")"
check_eq "accept: the job ran once (one line of output)" 1 \
	"$(cat "$CL/jobs/$uuid"/*/output/line 2>/dev/null | grep -c .)"
check_eq "accept: one start" 1 "$(grep -c -x "$uuid" "$WORK/starts")"
check_eq "accept: the attempt's started mark, once" 1 "$(nstarts "$uuid")"

# ---- ctld: slurmctld stopped for 5 s and started again ----
never_failed() { # never_failed RUN_DIR...: none of them reads "failed"
	for r in "$@"; do [ "$(status_of "$r")" != failed ] || return 1; done
}
C1=$(new_run ctld short)      # ends while slurmctld is down
C2=$(new_run ctld long)       # runs across the restart
C3=$(new_run ctld late)       # submitted while it is down
mkcfg slurm 3 > "$WORK/cfg.c1"; cp "$WORK/cfg.c1" "$C1/config.json"
mkcfg slurm 12 > "$WORK/cfg.c2"; cp "$WORK/cfg.c2" "$C2/config.json"
check "ctld: the runs start" wait_for 20 sh -c \
	"[ \"\$(cat '$C1/status')\" = running ] && [ \"\$(cat '$C2/status')\" = running ]"
sh "$TOP/tools/slurm-ctl" "$CL" stop slurmctld
mkcfg slurm 1 > "$WORK/cfg.c3"; cp "$WORK/cfg.c3" "$C3/config.json"
bad=0; i=0
while [ $i -lt 50 ]; do
	never_failed "$C1" "$C2" "$C3" || bad=$((bad + 1))
	[ "$(status_of "$C2")" = running ] || bad=$((bad + 1))
	sleep 0.1; i=$((i + 1))
done
check_eq "ctld: while slurmctld is down no run fails, the long one runs" 0 "$bad"
sed -n '1s/^/    | slurm status while slurmctld is down: /p' "$MNT/providers/slurm/status"
check "ctld: slurmctld starts again" sh "$TOP/tools/slurm-ctl" "$CL" start slurmctld
converged ctld "$C1" "$C2" "$C3"

# ---- restd: slurmrestd stopped for 60 s mid-run ----
OUTAGE_S=${SLURM_OUTAGE_S:-60}
L=$(new_run restd long)
Q=$(new_run restd queued)
mkcfg slurm $((OUTAGE_S + 15)) > "$WORK/cfg.long"
cp "$WORK/cfg.long" "$L/config.json"
check "restd: the long run runs" wait_state "$L" running 20
n0=$(requests_of slurm)
t0=$(ms)
sh "$TOP/tools/slurm-ctl" "$CL" stop slurmrestd
check "restd: providers/slurm/status says unreachable" wait_for 10 is_unreachable slurm
sed 's/^/    | /' "$MNT/providers/slurm/status" | head -1
check_contains "restd: MOUNT/events says so" "provider 'slurm': unreachable" "$MNT/events"
mkcfg slurm 1 > "$WORK/cfg.queued"
check "restd: a run is submitted while slurmrestd is down" cp "$WORK/cfg.queued" "$Q/config.json"
n1=$(requests_of slurm)
t1=$(ms)
bad=0
while [ $(( $(ms) - t0 )) -lt $((OUTAGE_S * 1000)) ]; do
	[ "$(status_of "$L")" = running ] || bad=$((bad + 1))
	never_failed "$Q" || bad=$((bad + 1))
	has_job_id "$Q" && bad=$((bad + 1))
	sleep 1
done
n2=$(requests_of slurm)
t2=$(ms)
check_eq "restd: the long run stays running, the queued one waits, nothing fails" 0 "$bad"
check "restd: slurmrestd starts again" sh "$TOP/tools/slurm-ctl" "$CL" start slurmrestd
t3=$(ms)
wait_for 30 is_ok slurm
back=$(( $(ms) - t3 ))
# requests while it was down: each pass is one GET jobs (two tries of a
# refused connect) and the queued run's POST; a pass waits twice as long
# after each failure, up to 8 intervals
span=$((t2 - t1))
passes=$((span / BACKOFF_MS + 1))
echo "$CRASH: restd: $((n2 - n1)) requests in $((span / 1000)) s of outage" \
	"(backoff: doubled per failed pass up to $BACKOFF_MS ms;" \
	"without it $((span / POLL_MS)) passes), $((n1 - n0)) while it went down;" \
	"ok $back ms after slurmrestd answered"
check "restd: polling backs off (at most 3 requests a pass of $BACKOFF_MS ms)" \
	test $((n2 - n1)) -le $((3 * passes + 6))
check "restd: the provider says ok within two backoff intervals (and 1 s)" \
	test "$back" -le $((2 * BACKOFF_MS + 1000))
check_contains "restd: MOUNT/events says it is reachable again" \
	"provider 'slurm': reachable again" "$MNT/events"
check "restd: the queued run is submitted" wait_for 10 has_job_id "$Q"
converged restd "$Q" "$L"

# ---- storm: kill -9 of the daemon during 200 submissions ----
NRUNS=${SLURM_STORM_RUNS:-200}
ROUNDS=${SLURM_STORM_ROUNDS:-4}
mkdir -p "$MNT/experiments/storm"
: > "$WORK/acks.0"; : > "$WORK/storm-starts"
ts=$(ms)
# storm.py's writer (acks.0: "ack NAME" once close() returned 0), with
# Slurm runs of 1 or 2 s that note their start outside the mount
python3 - "$TOP/tests/crash" "$WORK" "$SEED" "$NRUNS" 2> "$WORK/writer.err" <<'PY' &
import argparse, json, sys
sys.path.insert(0, sys.argv[1])
import storm
work, seed, n = sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def config_for(args, name):
    job = 'echo "$TRAINFS_RUN_ID" >> "$STARTS"; sleep %d' % (1 + int(name[-4:]) % 2)
    return (json.dumps({"provider": "slurm", "command": ["sh", "-c", job],
                        "env": {"STARTS": work + "/storm-starts"}}) +
            "\n").encode()

storm.config_for = config_for
storm.writer(argparse.Namespace(work=work, seed=seed, pace=0.01), 0,
             ["w0-%04d" % i for i in range(n)])
PY
WPID=$!
tried() { grep -c . "$WORK/acks.0"; }
r=1; rounds=0
# round r kills once a random number of runs within the r-th of ROUNDS+1
# slices were tried, a random moment (up to 50 ms) later
awk_rand() { awk -v s="$1" 'BEGIN { srand(s); printf "%d\n", rand() * 1000 }'; }
while [ $r -le "$ROUNDS" ] && kill -0 $WPID 2>/dev/null; do
	goal=$(( NRUNS * (r - 1) / (ROUNDS + 1) + NRUNS * $(awk_rand $((SEED + r))) / 1000 / (ROUNDS + 1) + 1 ))
	while [ "$(tried)" -lt $goal ] && kill -0 $WPID 2>/dev/null; do sleep 0.01; done
	kill -0 $WPID 2>/dev/null || break
	sleep "0.0$(( $(awk_rand $((SEED + 100 + r))) % 50 ))"
	kill9_daemon
	start_daemon || { fail "storm: restart $r"; break; }
	echo "$CRASH: storm: round $r: killed at $(tried) tried"
	rounds=$r; r=$((r + 1))
done
wait $WPID; wrc=$?
check_eq "storm: the writer ends well" 0 "$wrc"
sed 's/^/    | writer: /' "$WORK/writer.err" | head -5
tw=$(ms)
acked=$(sed -n 's/^ack //p' "$WORK/acks.0")
nacked=$(printf '%s\n' "$acked" | grep -c .)
SR=$MNT/experiments/storm/runs
pending() { # the acknowledged runs not yet final
	for n in $acked; do
		case $(status_of "$SR/$n") in completed | failed | stopped) ;;
		*) return 0 ;; esac
	done
	return 1
}
deadline=$(( $(date +%s) + 240 ))
while pending && [ "$(date +%s)" -le "$deadline" ]; do sleep 1; done
if pending; then fail "storm: every acknowledged run ends within 240 s"
else pass "storm: every acknowledged run ends within 240 s"; fi
td=$(ms)
squeue -h -t all -o '%i %k' > "$WORK/squeue" 2>&1
in_slurm=0; twice=0; started2=0; lost=0; notdone=0; problems=""
for n in $acked; do
	u=$(json_field "$SR/$n" run_id)
	st=$(status_of "$SR/$n")
	j=0; s=0
	if [ -n "$u" ]; then
		j=$(awk -v k="trainfs $u/" 'index($0, k)' "$WORK/squeue" | grep -c .)
		s=$(grep -c -x "$u" "$WORK/storm-starts")
	fi
	[ "$j" -ge 1 ] && in_slurm=$((in_slurm + 1))
	[ "$j" -gt 1 ] && twice=$((twice + 1))
	if [ "$s" -gt 1 ] || { [ -n "$u" ] && [ "$(nstarts "$u")" -gt 1 ]; }; then
		started2=$((started2 + 1))
	fi
	if [ -z "$u" ] || [ "$j" -eq 0 ] || [ "$s" -eq 0 ]; then
		lost=$((lost + 1)); problems="$problems $n(lost:$st,$j jobs,$s starts)"
	elif [ "$st" != completed ]; then
		notdone=$((notdone + 1)); problems="$problems $n($st)"
	fi
done
# no job of any run, acknowledged or not, twice
dups=$(awk '$2 == "trainfs" { print $3 }' "$WORK/squeue" | sort | uniq -d | grep -c .)
echo "$CRASH: storm: $nacked acknowledged of $NRUNS, $rounds kills," \
	"$in_slurm in Slurm, $twice in Slurm twice, $started2 started twice," \
	"$lost lost, $notdone not completed; submissions $(( (tw - ts) / 1000 )) s," \
	"settling $(( (td - tw) / 1000 )) s"
[ -n "$problems" ] && echo "    | $(echo $problems | cut -c1-400)"
check "storm: some runs were acknowledged and the daemon was killed" \
	test "$nacked" -gt 0 -a "$rounds" -gt 0
check_eq "storm: every acknowledged run is in Slurm" "$nacked" "$in_slurm"
check_eq "storm: no run is in Slurm twice" 0 "$twice"
check_eq "storm: no attempt has two jobs in Slurm" 0 "$dups"
check_eq "storm: no run started twice" 0 "$started2"
check_eq "storm: no acknowledged run lost" 0 "$lost"
check_eq "storm: every acknowledged run completed" 0 "$notdone"

# the report: this suite's section of RELIABILITY.md, replaced in place
python3 - "$REPORT" <<PY
import sys
path = sys.argv[1]
sec = """## Slurm

Written by \`tests/crash/c_slurm.sh\` (run by \`make test\`, which writes
build/RELIABILITY.md; \`make crashtest\` rewrites this section) against a
one-node Slurm (tools/slurm-up): $NRUNS runs submitted to Slurm through
the mount while the daemon is killed with SIGKILL $rounds times at random
moments and started again; a run is acknowledged when close() of its
config.json returned 0. A run counts in Slurm when \`squeue -t all\` has
a job whose comment names it; a start is the job's own line outside the
mount and the wrapper's \`<uuid>/<attempt>/started\` mark. Goal: zero in
the last four columns.

| rounds | runs acknowledged | in Slurm | in Slurm twice | started twice | lost | not completed |
|---|---|---|---|---|---|---|
| $rounds | $nacked | $in_slurm | $twice | $started2 | $lost | $notdone |

The same run's faults: slurmrestd stopped for $((span / 1000)) s while a
run ran cost $((n2 - n1)) requests (a failed pass doubles the wait before
the next, up to 8 intervals, $BACKOFF_MS ms; without that, $((span / POLL_MS))
passes), and the provider said ok $back ms after slurmrestd answered again;
a 1 s local run took ${base:-?} ms alone and ${with:-?} ms next to a Slurm
provider that never answers.

Seed $SEED (replay with \`CRASH_SEED=$SEED sh tests/crash/c_slurm.sh\`);
submissions $(( (tw - ts) / 1000 )) s, settling $(( (td - tw) / 1000 )) s, on $(date -u +%F).
"""
try:
    old = open(path).read()
except OSError:
    old = "# Reliability\n"
i = old.find("\n## Slurm\n")
if i < 0:
    new = old.rstrip("\n") + "\n\n" + sec
else:
    j = old.find("\n## ", i + 1)
    new = old[:i] + "\n" + sec + (old[j:] if j >= 0 else "")
open(path, "w").write(new)
PY

cleanup
[ -n "${KEEP:-}" ] && echo "kept $CL" >&2
finish
