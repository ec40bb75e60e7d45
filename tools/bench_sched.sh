#!/bin/sh
# bench_sched.sh - the scheduler's figures, through a real mount:
#  (7) the time to decide to start one run with 10 and with 10,000 runs
#      queued behind it (MOUNT/scheduler's last_start_decide_us, the median
#      of the passes that started a run), and their ratio (goal < 5x);
#  (8) the time for 1,000 queued instant jobs to drain through 2 slots.
# Prints markdown table rows on stdout; progress on stderr.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRAINFS=${TRAINFS:-$TOP/build/default/trainfs}
W=$(mktemp -d /tmp/tfs-bsched.XXXXXX)
MNT=$W/mnt
PID=""
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
	pkill -KILL -f "$W" 2>/dev/null || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
mkdir -p "$MNT"

start() { # max_jobs
	rm -rf "$W/state"
	cat > "$W/d.json" <<JSON
{"poll_interval_ms": 500, "kill_grace_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": $1}}}}
JSON
	"$TRAINFS" -f --state "$W/state" --config "$W/d.json" "$MNT" 2>/dev/null &
	PID=$!
	while ! mountpoint -q "$MNT"; do sleep 0.02; done
}
stop() { fusermount3 -u "$MNT"; wait "$PID" 2>/dev/null || true; PID=""; }

# submits N runs of argv into experiment E (Python: fast, no fork per run)
submit() { # E N ARGV-JSON [PREFIX]
	python3 - "$MNT/experiments/$1/runs" "$2" "$3" "${4:-q}" <<'PY'
import os, sys
d, n, argv, pre = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
for i in range(n):
    os.mkdir(f"{d}/{pre}{i}")
    with open(f"{d}/{pre}{i}/config.json", "w") as f:
        f.write('{"command": %s}' % argv)
PY
}

# (7) decision time with N queued: one slot, held by a blocker; N runs
# queue behind; then blockers are released one at a time and every pass
# that starts a run records its decision time.
decide() { # N
	start 1
	mkdir "$MNT/experiments/s"
	submit s 1 '["sleep", "600"]' blocker
	while [ "$(cat "$MNT/experiments/s/runs/blocker0/status")" != running ]; do sleep 0.02; done
	echo "  queueing $1 runs" >&2
	submit s "$1" '["sleep", "600"]'
	vals=""
	prev=blocker0
	for k in 0 1 2 3 4 5 6; do
		# end the running one; the next pass starts the head: q$k
		echo cancel > "$MNT/experiments/s/runs/$prev/ctl"
		i=0
		while [ "$(cat "$MNT/experiments/s/runs/q$k/status")" != running ] &&
		      [ $i -lt 1000 ]; do
			sleep 0.01; i=$((i + 1))
		done
		vals="$vals $(awk '$1=="last_start_decide_us"{print $2}' "$MNT/scheduler")"
		prev=q$k
	done
	stop
	echo "$vals" | tr ' ' '\n' | grep . | sort -n | awk '{v[NR]=$1} END{print v[int((NR+1)/2)]}'
}

echo "scheduler: decision time with 10 queued" >&2
D10=$(decide 10)
echo "scheduler: decision time with 10000 queued" >&2
D10K=$(decide 10000)
RATIO=$(awk -v a="$D10K" -v b="$D10" 'BEGIN{printf "%.2f", (b > 0 ? a / b : 0)}')
MET=$(awk -v r="$RATIO" 'BEGIN{print (r < 5 ? "yes" : "NO")}')

# (8) drain: 1,000 instant jobs queued behind 2 blockers, then released
echo "scheduler: drain of 1000 instant jobs through 2 slots" >&2
start 2
mkdir "$MNT/experiments/d"
submit d 2 '["sleep", "600"]' blocker
while [ "$(cat "$MNT/experiments/d/runs/blocker1/status")" != running ]; do sleep 0.02; done
submit d 1000 '["true"]'
T0=$(date +%s%N)
echo cancel > "$MNT/experiments/d/runs/blocker0/ctl"
echo cancel > "$MNT/experiments/d/runs/blocker1/ctl"
cat "$MNT/experiments/d/runs/q999/wait" > /dev/null
T1=$(date +%s%N)
n=$(cat "$MNT"/experiments/d/runs/q*/status | grep -c -x completed || true)
[ "$n" -eq 1000 ] || echo "warning: only $n of 1000 completed" >&2
stop
DRAIN=$(awk -v a="$T0" -v b="$T1" 'BEGIN{printf "%.1f", (b - a) / 1e9}')
RATE=$(awk -v s="$DRAIN" 'BEGIN{printf "%.1f", 1000 / s}')

echo "| schedule one run, 10 queued (median decision) | $D10 µs | — | — | (base) | — |"
echo "| schedule one run, 10,000 queued (median decision) | $D10K µs | $D10 µs (10 queued) | ${RATIO}x | < 5x | $MET |"
echo "| drain 1,000 queued instant jobs through 2 slots | $DRAIN s ($RATE jobs/s) | — | — | (info) | — |"
