#!/bin/sh
# The live streams: `cat MOUNT/stream` while 100 runs go through their
# lives (completed, failed, retried, cancelled) sees every state change of
# every run once and in order, as each run's events file has them; the
# filtered streams under streams/ see only their experiment's or run's
# lines, metric points among them; O_NONBLOCK gives EAGAIN and poll() wakes
# when a line comes; a reader that falls behind gets the lines within its
# bound and one overflow line that counts the rest; many readers at once see
# the same lines; a removed run's or experiment's stream ends; grep -r over
# the mount does not block on them; SIGTERM ends the readers parked in the
# daemon.
. "$(dirname "$0")/lib.sh"
write_daemon_config 8 8
start_daemon || exit 1

# run_true_n EXP PREFIX N: N runs of `true`, submitted, then waited for
run_true_n() {
	_i=0
	while [ $_i -lt "$3" ]; do
		cmd_config '["true"]' > "$(new_run "$1" "$2$_i")/config.json"
		_i=$((_i + 1))
	done
	_i=0
	while [ $_i -lt "$3" ]; do
		timeout 30 cat "$MNT/experiments/$1/runs/$2$_i/wait" > /dev/null
		_i=$((_i + 1))
	done
}

# the pipe-like file and the tree of filters
check_eq "stream is an empty regular file" "0 regular empty file" \
	"$(stat -c '%s %F' "$MNT/stream")"
check "streams/ is a directory" test -d "$MNT/streams"
check "neither is listed (they block, as wait does)" sh -c \
	"! ls '$MNT' | grep -q stream"
check "stream is not written" sh -c "! (echo x > '$MNT/stream') 2>/dev/null"
mkdir "$MNT/experiments/life" "$MNT/experiments/other"
check "streams/ lists the experiments" sh -c \
	"ls '$MNT/streams' | grep -qx life && ls '$MNT/streams' | grep -qx other"
check_eq "an experiment's stream directory" "all runs" \
	"$(ls "$MNT/streams/life" | tr '\n' ' ' | sed 's/ $//')"
check "no such experiment: ENOENT" sh -c \
	"cat '$MNT/streams/nope/all' 2>&1 | grep -q 'No such file'"
check "no such run: ENOENT" sh -c \
	"cat '$MNT/streams/life/runs/nope' 2>&1 | grep -q 'No such file'"

# the stream file, read as lines into out, until killed
cat "$MNT/stream" > "$WORK/fire.out" 2> "$WORK/fire.err" &
FIRE=$!
cat "$MNT/streams/other/all" > "$WORK/other.out" &
OTHER=$!
sleep 0.3

# 100 runs: most complete, every 7th fails, every 13th fails and is retried
# once, every 10th is cancelled while it waits or runs
i=0
while [ $i -lt 100 ]; do
	R=$(new_run life "r$i")
	if [ $((i % 10)) -eq 0 ]; then
		cmd_config '["sleep", "30"]'
	elif [ $((i % 13)) -eq 0 ]; then
		cmd_config '["sh", "-c", "exit 1"]' '"max_retries": 1'
	elif [ $((i % 7)) -eq 0 ]; then
		cmd_config '["sh", "-c", "exit 3"]'
	else
		cmd_config '["true"]'
	fi > "$R/config.json"
	[ $((i % 10)) -eq 0 ] && echo cancel > "$R/ctl"
	i=$((i + 1))
done
# a run of the other experiment, with metric points
cat > "$WORK/metrics.py" <<'PY'
import time
for s in range(1, 4):
    print('{"step": %d, "loss": %r}' % (s, 1.0 / s), flush=True)
    time.sleep(0.2)
PY
O=$(new_run other m1)
cat "$MNT/streams/other/runs/m1" > "$WORK/m1.out" &
M1=$!
sleep 0.2
cmd_config "[\"python3\", \"$WORK/metrics.py\"]" > "$O/config.json"

ended=0
i=0
while [ $i -lt 100 ]; do
	s=$(timeout 60 cat "$MNT/experiments/life/runs/r$i/wait")
	case $s in completed|failed|stopped) ended=$((ended + 1)) ;; esac
	i=$((i + 1))
done
check_eq "the 100 runs ended" 100 "$ended"
check_eq "the metrics run completed" completed "$(timeout 30 cat "$O/wait")"
# a sweep's states, and a mount event
mkdir "$MNT/experiments/other/sweeps/sw"
printf '{"base": {"command": ["true"]}, "space": {"x": {"uniform": [0, 1]}}, "objective": {"metric": "loss"}, "max_trials": 2}' \
	> "$MNT/experiments/other/sweeps/sw/sweep.json"
check "the sweep completes" wait_grep "$MNT/experiments/other/sweeps/sw/status" completed 30
mkdir "$MNT/experiments/life/runs/-dash" 2>/dev/null
sleep 0.5
check "the stream reader still reads" kill -0 $FIRE
check "grep -r over the mount ends while streams are read" sh -c \
	"timeout 20 grep -r -c nothing-like-this '$MNT' > /dev/null; [ \$? -ne 124 ]"

# every state change once, in order per run, as the events files have them
cat > "$WORK/compare.py" <<'PY'
import json, os, re, sys
out, runs, exp = sys.argv[1], sys.argv[2], sys.argv[3]
got = {}
bad = 0
for line in open(out):
    o = json.loads(line)
    if o.get("type") != "state":
        continue
    name = o["run"]
    if not name.startswith(exp + "/"):
        continue
    got.setdefault(name.split("/", 1)[1], []).append((o["from"], o["to"]))
n = 0
kinds = set()
for r in sorted(os.listdir(runs)):
    want = re.findall(r"state (\S+) -> ([^\s:]+)", open(os.path.join(runs, r, "events")).read())
    have = got.pop(r, [])
    n += len(want)
    kinds.update(t for _, t in want)
    if [t for _, t in want].count("queued") > 1:
        kinds.add("retried")
    if have != want:
        bad += 1
        print("run %s: stream %s, events %s" % (r, have, want), file=sys.stderr)
    for a, b in zip(have, have[1:]):
        if a[1] != b[0]:
            bad += 1
print(n, bad, len(got), " ".join(sorted(kinds)))
PY
set -- $(python3 "$WORK/compare.py" "$WORK/fire.out" "$MNT/experiments/life/runs" life)
check "the stream holds the state changes ($1 of them)" [ "${1:-0}" -ge 300 ]
check_eq "every run's changes arrive once, in order" 0 "${2:-x}"
check_eq "no run the events files do not know" 0 "${3:-x}"
shift 3
kinds="$*"
check "completed, failed, stopped and retried runs among them ($kinds)" sh -c \
	"echo '$kinds' | grep -q stopped && echo '$kinds' | grep -q failed && echo '$kinds' | grep -q completed && echo '$kinds' | grep -q retried"
check "each line is JSON with time, run_id, reason and attempt" python3 -c "
import json, sys
for l in open(sys.argv[1]):
    o = json.loads(l)
    if o['type'] == 'state':
        assert o['time'].endswith('Z') and o['run_id'] > 0
        assert 'reason' in o and o['attempt'] >= 0
" "$WORK/fire.out"
check "the firehose has no metric points" sh -c "! grep -q '\"metric\"' '$WORK/fire.out'"
check "the firehose has the sweep's changes and the mount's events" python3 -c "
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
sw = [(o['from'], o['to']) for o in ls if o['type'] == 'sweep' and o['sweep'] == 'other/sw']
assert sw == [('created', 'running'), ('running', 'completed')], sw
assert any(o['type'] == 'event' and \"invalid run name '-dash'\" in o['text'] for o in ls)
" "$WORK/fire.out"

# the filters
check "the experiment's stream has only its runs" python3 -c "
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert ls and all(o.get('run', 'other/').startswith('other/') for o in ls)
assert any(o['type'] == 'metric' for o in ls)
assert any(o['type'] == 'sweep' for o in ls)
assert not any(o['type'] == 'event' for o in ls)
" "$WORK/other.out"
check "the run's stream: its states and its 3 metric points, in step order" python3 -c "
import json, sys
ls = [json.loads(l) for l in open(sys.argv[1])]
assert all(o['run'] == 'other/m1' for o in ls), ls
m = [(o['step'], o['key'], o['value']) for o in ls if o['type'] == 'metric']
assert m == [(1, 'loss', 1), (2, 'loss', 0.5), (3, 'loss', 1.0 / 3)], m
assert [o['to'] for o in ls if o['type'] == 'state'][-1] == 'completed'
" "$WORK/m1.out"

# O_NONBLOCK and poll()
cat > "$WORK/poll.py" <<'PY'
import os, select, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
try:
    os.read(fd, 65536)
    print("read-without-eagain")
except BlockingIOError:
    print("eagain")
p = select.poll()
p.register(fd, select.POLLIN)
print("idle" if not p.poll(300) else "ready-too-soon")
open(sys.argv[2], "w").close()          # the test makes a change now
t = time.time()
ev = p.poll(10000)
print("pollin" if ev and ev[0][1] & select.POLLIN else "no-pollin")
data = os.read(fd, 65536).decode()
print("line" if data.endswith("\n") and '"to":"queued"' in data else "bad:" + data)
os.close(fd)
PY
P=$(new_run other p1)
python3 "$WORK/poll.py" "$MNT/stream" "$WORK/go" > "$WORK/poll.out" 2>&1 &
PP=$!
wait_cmd 10 test -e "$WORK/go"
cmd_config '["true"]' > "$P/config.json"
wait $PP
timeout 30 cat "$P/wait" > /dev/null     # nothing in flight for the next part
check_eq "O_NONBLOCK, poll() idle, POLLIN on a change, a line" \
	"eagain idle pollin line" "$(tr '\n' ' ' < "$WORK/poll.out" | sed 's/ $//')"

# many readers at once see the same lines
N=0
while [ $N -lt 20 ]; do
	cat "$MNT/stream" > "$WORK/many.$N" &
	eval "MANY_$N=\$!"
	N=$((N + 1))
done
dd if="$MNT/stream" of="$WORK/many.dd" bs=7 status=none &
DD=$!
sleep 0.5
run_true_n other many 10
sleep 0.5
N=0
same=0
while [ $N -lt 20 ]; do
	eval "kill \$MANY_$N"
	cmp -s "$WORK/many.0" "$WORK/many.$N" && same=$((same + 1))
	N=$((N + 1))
done
check_eq "20 readers got the same lines" 20 "$same"
kill $DD
check "a reader of 7 bytes at a time gets them too, whole" cmp -s "$WORK/many.0" "$WORK/many.dd"
check "... 30 state changes of the 10 runs at least" \
	[ "$(grep -c '"type":"state"' "$WORK/many.0")" -ge 30 ]
kill $FIRE $OTHER $M1 2>/dev/null

# a reader that falls behind: 16 lines kept, the rest counted
stop_daemon
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "stream_queue": 16,
 "providers": {"local": {"type": "local", "slots": {"cpus": 8, "max_jobs": 8}}}}
JSON
start_daemon || exit 1
cat "$MNT/streams/life/all" > "$WORK/fast.out" &
FAST=$!
cat > "$WORK/slow.py" <<'PY'
import os, sys, time
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_NONBLOCK)
open(sys.argv[2], "w").close()
while not os.path.exists(sys.argv[3]):
    time.sleep(0.05)
out = b""
while True:
    try:
        b = os.read(fd, 65536)
    except BlockingIOError:
        break
    if not b:
        break
    out += b
sys.stdout.write(out.decode())
PY
python3 "$WORK/slow.py" "$MNT/streams/life/all" "$WORK/slow.ready" "$WORK/slow.go" > "$WORK/slow.out" &
SLOW=$!
wait_cmd 10 test -e "$WORK/slow.ready"
run_true_n life slow 12
sleep 0.5
touch "$WORK/slow.go"
wait $SLOW
total=$(grep -c . "$WORK/fast.out")
check "the fast reader kept up: 36 lines or more, no overflow" sh -c \
	"[ $total -ge 36 ] && ! grep -q overflow '$WORK/fast.out'"
check_eq "the slow reader: 16 lines, then how many it missed" \
	"$(head -16 "$WORK/fast.out"; echo "{\"type\":\"overflow\",\"missed\":$((total - 16))}")" \
	"$(cat "$WORK/slow.out")"
kill $FAST

# a removed run's or experiment's stream ends
mkdir "$MNT/experiments/brief" "$MNT/experiments/brief/runs/g"
cat "$MNT/streams/brief/runs/g" > /dev/null &
GR=$!
cat "$MNT/streams/brief/all" > /dev/null &
GE=$!
sleep 0.3
rmdir "$MNT/experiments/brief/runs/g"
check "a removed run's stream ends" wait_cmd 5 sh -c "! kill -0 $GR 2>/dev/null"
check "... while its experiment's goes on" kill -0 $GE
rmdir "$MNT/experiments/brief"
check "a removed experiment's stream ends" wait_cmd 5 sh -c "! kill -0 $GE 2>/dev/null"
wait $GR; rc=$?
check_eq "... with an end of file" 0 $rc

# SIGTERM with readers parked and a poll() waiting: they end, it ends
cat "$MNT/stream" > "$WORK/last.out" 2>&1 &
LAST=$!
cat "$MNT/streams/life/runs/r1" > /dev/null 2>&1 &
LAST2=$!
cat > "$WORK/pollwait.py" <<'PY'
import os, select, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
p = select.poll()
p.register(fd, select.POLLIN)
p.poll(60000)
print("woke")
PY
python3 "$WORK/pollwait.py" "$MNT/stream" > "$WORK/pollwait.out" 2>&1 &
PW=$!
sleep 0.5
kill -TERM "$DAEMON_PID"
gone() { i=0; while kill -0 "$1" 2>/dev/null; do [ $i -ge 50 ] && return 1; sleep 0.1; i=$((i + 1)); done; }
check "the daemon ends within 5 s of SIGTERM" gone "$DAEMON_PID"
wait "$DAEMON_PID"; rc=$?
check_eq "... with status 0" 0 "$rc"
DAEMON_PID=""
check "the parked readers end" sh -c "sleep 1; ! kill -0 $LAST 2>/dev/null && ! kill -0 $LAST2 2>/dev/null"
wait $LAST; rc=$?
check_eq "cat of the stream ends cleanly, as at a pipe's end" 0 "$rc"
check "the poll() returns" sh -c "sleep 1; ! kill -0 $PW 2>/dev/null"
kill $PW $LAST2 2>/dev/null
finish
