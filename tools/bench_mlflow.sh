#!/bin/sh
# bench_mlflow.sh - measure 11 of BENCHMARKS.md: the MLflow export against a
# real tracking server (MLflow from PyPI in build/venv, tools/mlflow-venv.sh,
# started here on loopback with a SQLite backend, --serve-artifacts).
#   - throughput: one run of the mount prints MLFLOW_POINTS metric points
#     (MLFLOW_KEYS keys) at once; metric points per second from the run's
#     submission until the export's status says every point was sent,
#     against MLflow's own Python client (MlflowClient.log_batch) logging
#     the same points into a run of the same server, in batches of 1000
#     (MLflow's limit), timed in the same run;
#   - the same, the points stored before the export starts (a backlog:
#     the run ends while the server is out of reach, then the daemon is
#     started again pointing at it), timed from that start;
#   - cat status latency (tools/bench_read: open+read+close of a run's
#     status, 200 us apart) while that export runs, against the same reads
#     of the same mount with no export running.
# Prints markdown table rows on stdout, progress on stderr; SKIP rows when
# MLflow cannot be installed or its server does not start.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRAINFS=${TRAINFS:-$TOP/build/default/trainfs}
BENCH_READ=${BENCH_READ:-$TOP/tools/bench_read}
N=${MLFLOW_POINTS:-100000}
KEYS=${MLFLOW_KEYS:-4}
W=$(mktemp -d /tmp/tfs-bmlflow.XXXXXX)
MNT=$W/mnt
PID="" SRV=""
say() { echo "bench_mlflow: $*" >&2; }
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
cleanup() {
	rc=$?
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
	if [ -n "$SRV" ]; then
		kill -TERM "-$SRV" 2>/dev/null
		i=0
		while kill -0 "$SRV" 2>/dev/null && [ $i -lt 100 ]; do
			sleep 0.1
			i=$((i + 1))
		done
		kill -0 "$SRV" 2>/dev/null && kill -KILL "-$SRV" 2>/dev/null
		wait "$SRV" 2>/dev/null
	fi
	rm -rf "$W"
	exit $rc
}
trap cleanup EXIT
trap 'exit 1' INT TERM
skip() {
	row "MLflow export: metric points/s to a real server, live" "SKIP" "$1" "—" "(info)" "—"
	row "MLflow export: cat status while an export runs" "SKIP" "$1" "—" "(info)" "—"
	exit 0
}
mkdir -p "$MNT"

PY=$(sh "$TOP/tools/mlflow-venv.sh" "$TOP/build/venv" 2>"$W/venv.log") ||
	skip "MLflow cannot be installed: $(tail -1 "$W/venv.log")"
MLFLOW_V=$("$PY" -c 'import mlflow; print(mlflow.__version__)')
PORT=""
for p in $(seq 15599 -1 15500); do
	if python3 -c 'import socket, sys
socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
		PORT=$p; break; fi
done
[ -n "$PORT" ] || skip "no free port in 15500-15599"
URI=http://127.0.0.1:$PORT
setsid "$(dirname "$PY")/mlflow" server --host 127.0.0.1 --port "$PORT" \
	--workers 1 --backend-store-uri "sqlite:///$W/mlflow.db" \
	--serve-artifacts --artifacts-destination "$W/art" >"$W/server.log" 2>&1 &
SRV=$!
i=0
until curl -sf "$URI/health" >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -le 300 ] && kill -0 "$SRV" 2>/dev/null ||
		skip "the MLflow server did not start: $(tail -1 "$W/server.log")"
	sleep 0.3
done
say "MLflow $MLFLOW_V on $URI"

cat > "$W/daemon.json" <<EOF
{"poll_interval_ms": 100, "kill_grace_s": 1,
 "mlflow": {"tracking_uri": "$URI", "interval_ms": 100}}
EOF
"$TRAINFS" -f --state "$W/state" --config "$W/daemon.json" "$MNT" \
	2>>"$W/daemon.log" &
PID=$!
i=0
while ! mountpoint -q "$MNT"; do
	i=$((i + 1))
	[ $i -le 200 ] && kill -0 "$PID" 2>/dev/null || { say "no mount"; exit 1; }
	sleep 0.05
done
ST=$MNT/exports/mlflow/status
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$ST"; }
now() { date +%s.%N; }

# a run to read the status of, and the reads with no export running
mkdir -p "$MNT/experiments/b/runs/idle"
echo '{"command": ["true"]}' > "$MNT/experiments/b/runs/idle/config.json"
cat "$MNT/experiments/b/runs/idle/wait" >/dev/null
until [ "$(stat_of runs_pending)" = 0 ]; do sleep 0.1; done
RD=$MNT/experiments/b/runs/idle/status
BASE=$("$BENCH_READ" -p 200 "$RD" 5000)

# the export of N points, reads going on meanwhile
cat > "$W/emit.py" <<EOF
import sys
keys = ["k%d" % i for i in range($KEYS)]
for i in range($N):
    sys.stdout.write('{"step": %d, "%s": %d.5}\n' % (i // $KEYS, keys[i % $KEYS], i))
EOF
SENT0=$(stat_of points_sent)
mkdir "$MNT/experiments/b/runs/flood"
t0=$(now)
printf '{"command": ["python3", "%s"]}\n' "$W/emit.py" > "$MNT/experiments/b/runs/flood/config.json"
"$BENCH_READ" -p 200 -s "$W/stop" "$RD" 100000000 > "$W/during" &
BR=$!
deadline=$(( $(date +%s) + 1800 ))
while [ $(( $(stat_of points_sent) - SENT0 )) -lt "$N" ]; do
	[ "$(date +%s)" -le "$deadline" ] || { say "export did not finish"; touch "$W/stop"; exit 1; }
	sleep 0.05
done
t1=$(now)
touch "$W/stop"
wait "$BR"
DURING=$(cat "$W/during")
OURS=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) }')
say "trainfs: $N points in $(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f", b - a }') s"

# MLflow's own client, the same points, batches of 1000
THEIRS=$("$PY" - "$URI" "$N" "$KEYS" <<'PY'
import sys, time
from mlflow.tracking import MlflowClient
from mlflow.entities import Metric
uri, n, keys = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
c = MlflowClient(uri)
eid = c.create_experiment("peer")
run = c.create_run(eid)
ts = int(time.time() * 1000)
pts = [Metric("k%d" % (i % keys), i + 0.5, ts, i // keys) for i in range(n)]
t0 = time.time()
for i in range(0, n, 1000):
    c.log_batch(run.info.run_id, metrics=pts[i:i + 1000])
print("%.0f" % (n / (time.time() - t0)))
PY
)
say "MLflow client: $THEIRS points/s"

# the export alone: the same points stored while the server was out of
# reach (a port nothing listens on), then a restart pointing at it
fusermount3 -u "$MNT"
wait "$PID"
PID=""
sed "s|$URI|http://127.0.0.1:9|" "$W/daemon.json" > "$W/daemon-off.json"
"$TRAINFS" -f --state "$W/state2" --config "$W/daemon-off.json" "$MNT" \
	2>>"$W/daemon.log" &
PID=$!
i=0
while ! mountpoint -q "$MNT"; do
	i=$((i + 1))
	[ $i -le 200 ] && kill -0 "$PID" 2>/dev/null || { say "no mount"; exit 1; }
	sleep 0.05
done
mkdir -p "$MNT/experiments/c/runs/flood"
printf '{"command": ["python3", "%s"]}\n' "$W/emit.py" > "$MNT/experiments/c/runs/flood/config.json"
cat "$MNT/experiments/c/runs/flood/wait" >/dev/null
fusermount3 -u "$MNT"
wait "$PID"
t0=$(now)
"$TRAINFS" -f --state "$W/state2" --config "$W/daemon.json" "$MNT" \
	2>>"$W/daemon.log" &
PID=$!
while [ "$(stat_of points_sent 2>/dev/null || echo 0)" != "$N" ]; do
	[ "$(date +%s)" -le "$deadline" ] || { say "backlog export did not finish"; exit 1; }
	sleep 0.05
done
t1=$(now)
BACKLOG=$(awk -v a="$t0" -v b="$t1" -v n="$N" 'BEGIN { printf "%.0f", n / (b - a) }')
say "trainfs, a stored backlog: $BACKLOG points/s"

us() { echo "$1" | tr ' ' '\n' | awk -F= -v k="$2" '$1 == k { print $2 }'; }
row "MLflow export: metric points/s of a stored backlog ($N points, the run ended first; from the daemon's start)" \
	"$BACKLOG /s" "$THEIRS /s (MLflow's client, as below)" \
	"$(awk -v a="$BACKLOG" -v b="$THEIRS" 'BEGIN { printf "%.2fx", a / b }')" "(info)" "—"
row "MLflow export: metric points/s to a real server, live ($N points, $KEYS keys, one run)" \
	"$OURS /s" "$THEIRS /s (MLflow $MLFLOW_V's Python client, log_batch of 1000, same server)" \
	"$(awk -v a="$OURS" -v b="$THEIRS" 'BEGIN { printf "%.2fx", a / b }')" "(info)" "—"
B50=$(us "$BASE" median_us) B99=$(us "$BASE" p99_us)
D50=$(us "$DURING" median_us) D99=$(us "$DURING" p99_us)
row "MLflow export: cat status while an export runs, median (p99), $(us "$DURING" n) reads" \
	"$D50 us ($D99 us)" "$B50 us ($B99 us) with no export running, same mount" \
	"$(awk -v a="$D50" -v b="$B50" 'BEGIN { printf "%.2fx", a / b }')" "≤ 1.5x" \
	"$(awk -v a="$D50" -v b="$B50" 'BEGIN { print (a <= 1.5 * b) ? "yes" : "NO" }')"
