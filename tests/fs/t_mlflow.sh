#!/bin/sh
# The MLflow export (DESIGN.md section 10) against a real MLflow tracking
# server from PyPI (tools/mlflow-venv.sh: build/venv, never the system),
# started here on loopback with --serve-artifacts and read back through
# MLflow's own REST API (tools/mlflow_check.py): a run's params, tags,
# status, every metric point with its step and time, and its artifacts'
# bytes match the mount's files; a pipeline (depends_on) and a sweep show
# as parents with their runs as children; the server stopped for 30 s
# mid-run and started again: every point arrives, none is sent twice, the
# mount answers meanwhile and the status says unreachable; a kill -9 of
# the daemon mid-export: the restarted one sends exactly the points the
# server had not acknowledged. About 100 s, 30 of them the outage.
. "$(dirname "$0")/lib.sh"

PY=$(cd "$TOP" && sh tools/mlflow-venv.sh 2>"$WORK/venv.log") || {
	echo "SKIP [t_mlflow.sh]: MLflow cannot be installed into build/venv: $(tail -1 "$WORK/venv.log")"
	echo "0 passed, 0 failed"; rm -rf "$WORK"; exit 0; }
MLFLOW=$(dirname "$PY")/mlflow
CHECK="python3 $TOP/tools/mlflow_check.py"

# a free port of 15500-15599
PORT=""
for p in $(seq $((15500 + $$ % 100)) 15599) $(seq 15500 15599); do
	if python3 -c 'import socket, sys
socket.socket().bind(("127.0.0.1", int(sys.argv[1])))' "$p" 2>/dev/null; then
		PORT=$p; break; fi
done
[ -n "$PORT" ] || { echo "SKIP [t_mlflow.sh]: no free port in 15500-15599"; echo "0 passed, 0 failed"; exit 0; }
URI=http://127.0.0.1:$PORT
SRV_PID=""

# The server in a process group of its own (setsid), stopped by that id:
# mlflow server runs its workers as children.
start_server() {
	setsid "$MLFLOW" server --host 127.0.0.1 --port "$PORT" --workers 1 \
		--backend-store-uri "sqlite:///$WORK/mlflow.db" --serve-artifacts \
		--artifacts-destination "$WORK/mlartifacts" \
		>>"$WORK/mlflow.log" 2>&1 &
	SRV_PID=$!
	_d=$(( $(date +%s) + 90 ))
	while [ "$(date +%s)" -le "$_d" ]; do
		curl -sf "$URI/health" >/dev/null 2>&1 && return 0
		kill -0 "$SRV_PID" 2>/dev/null || break
		sleep 0.3
	done
	echo "mlflow server did not start" >&2; tail -20 "$WORK/mlflow.log" >&2
	return 1
}
stop_server() {
	[ -n "$SRV_PID" ] || return 0
	kill -TERM "-$SRV_PID" 2>/dev/null
	_i=0
	while kill -0 "$SRV_PID" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	kill -KILL "-$SRV_PID" 2>/dev/null
	wait "$SRV_PID" 2>/dev/null
	SRV_PID=""
}
trap 'stop_server; stop_daemon; rm -rf "$WORK"' INT TERM

start_server || { fail "mlflow server starts"; stop_server; finish; exit 1; }
# the daemon's URI carries a password (the server takes any): it must
# never be written where the export says it is unreachable
PW=pw-$$-secret
AURI=$(printf '%s' "$URI" | sed "s|^http://|http://trainfs:$PW@|")
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 8, "max_jobs": 8}}},
 "mlflow": {"tracking_uri": "$AURI", "interval_ms": 200}}
JSON
start_daemon || { stop_server; exit 1; }
ST=$MNT/exports/mlflow/status

# stat LINE: a value of the export's status
stat_of() { awk -v k="$1" '$1 == k { print $2 }' "$ST"; }
# drained [seconds]: ok, nothing pending, no point waiting
drained() {
	_d=$(( $(date +%s) + ${1:-60} ))
	while [ "$(date +%s)" -le "$_d" ]; do
		[ "$(head -1 "$ST")" = ok ] && [ "$(stat_of runs_pending)" = 0 ] &&
			[ "$(stat_of points_backlog)" = 0 ] && return 0
		sleep 0.2
	done
	echo "export not drained:" >&2; sed 's/^/    | /' "$ST" >&2
	return 1
}
# lines FILE...: metric points in all of them
lines() { cat "$@" | wc -l | tr -d ' '; }

check_eq "status before anything" "ok" "$(head -1 "$ST")"

# emit.sh N DELAY KEY: N points of KEY, steps 1..N, DELAY s apart
EMIT=$WORK/emit.sh
cat > "$EMIT" <<'SH'
#!/bin/sh
i=1
while [ $i -le "$1" ]; do
	echo "{\"step\": $i, \"$3\": $i.25}"
	[ "$2" != 0 ] && sleep "$2"
	i=$((i + 1))
done
SH
# burst.sh: 6000 points, 200 every 0.1 s
BURST=$WORK/burst.sh
cat > "$BURST" <<'SH'
#!/bin/sh
i=1
while [ $i -le 30 ]; do
	awk -v b=$i 'BEGIN { for (j = 1; j <= 200; j++)
		printf "{\"step\": %d, \"v\": %d.5}\n", b * 1000 + j, j }'
	i=$((i + 1))
	sleep 0.1
done
SH
chmod +x "$EMIT" "$BURST"

# ---- one run: params, tags, status, metrics, artifacts ----
A=$(new_run tr a)
printf '{"command": ["python3", "%s", "--lr", "{lr}", "--epochs", "2", "--seed", "{seed}"], "params": {"lr": 0.05, "seed": 3, "note": "x y"}, "tags": {"team": "vision"}}\n' \
	"$TRAIN_PY" > "$A/config.json"
check_eq "run a completes" completed "$(timeout 60 cat "$A/wait")"
check "export drains" drained 30
check "run a matches its files in MLflow" $CHECK run "$URI" tr a "$A"

# ---- the server down for 30 s in the middle of a run ----
L=$(new_run tr long)
cmd_config "[\"$EMIT\", \"400\", \"0.1\", \"loss\"]" > "$L/config.json"
_d=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -le "$_d" ] && [ "$($CHECK points "$URI" tr long 2>/dev/null || echo 0)" -lt 20 ]; do sleep 0.3; done
check "points of the long run arrive while it runs" test "$($CHECK points "$URI" tr long)" -ge 20
DOWN_AT=$(date +%s)
stop_server
_d=$(( $(date +%s) + 15 ))
while [ "$(date +%s)" -le "$_d" ] && ! head -1 "$ST" | grep -q '^unreachable: '; do sleep 0.2; done
check "status says unreachable" sh -c "head -1 '$ST' | grep -q '^unreachable: '"
T0=$(date +%s%N)
cat "$L/status" >/dev/null
T1=$(date +%s%N)
check "a read of the mount is not held up ($(( (T1 - T0) / 1000000 )) ms)" test $(( (T1 - T0) / 1000000 )) -lt 500
# a pipeline and a sweep run their course meanwhile
P1=$(new_run tr p1); P2=$(new_run tr p2); P3=$(new_run tr p3)
cmd_config "[\"$EMIT\", \"2\", \"0\", \"acc\"]" > "$P1/config.json"
cmd_config "[\"$EMIT\", \"3\", \"0\", \"acc\"]" '"depends_on": ["p1"]' > "$P2/config.json"
cmd_config "[\"$EMIT\", \"4\", \"0\", \"acc\"]" '"depends_on": ["p2"]' > "$P3/config.json"
S=$MNT/experiments/tr/sweeps/sw
mkdir "$S"
printf '{"base": {"command": ["%s", "{x}", "0", "loss"]}, "space": {"x": {"grid": [1, 2, 3]}}, "objective": {"metric": "loss", "mode": "min"}, "method": "grid", "parallelism": 3}\n' "$EMIT" > "$S/sweep.json" || fail "sweep.json"
check_eq "pipeline ends while the server is down" completed "$(timeout 30 cat "$P3/wait")"
_d=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -le "$_d" ] && [ "$(head -1 "$S/status")" != completed ]; do sleep 0.2; done
check_eq "sweep ends while the server is down" completed "$(head -1 "$S/status")"
check "points wait in the backlog" test "$(stat_of points_backlog)" -gt 0
while [ $(( $(date +%s) - DOWN_AT )) -lt 30 ]; do sleep 0.5; done
start_server || fail "mlflow server starts again"
check_eq "long run completes" completed "$(timeout 60 cat "$L/wait")"
check "export drains after the outage" drained 60
check "the long run: every point, once" $CHECK run "$URI" tr long "$L"
for r in p1 p2 p3 sw-001 sw-002 sw-003; do
	check "run $r matches" $CHECK run "$URI" tr "$r" "$MNT/experiments/tr/runs/$r"
done
check_eq "the pipeline is a parent of its runs" "FINISHED p1 p2 p3" "$($CHECK children "$URI" tr p1-pipeline)"
check_eq "the sweep is a parent of its trials" "FINISHED sw-001 sw-002 sw-003" "$($CHECK children "$URI" tr sw)"
ALL=$(lines "$MNT"/experiments/tr/runs/*/metrics.jsonl)
check_eq "every point sent once across the outage" "$ALL" "$(stat_of points_sent)"

check "the URI's password is in no log line" sh -c "! grep -q -F '$PW' '$WORK/daemon.log'"
check "nor in the export's status" sh -c "! grep -q -F '$PW' '$ST'"

# ---- kill -9 mid-export: the restarted daemon sends what was not acked ----
K=$(new_run tr burst)
cmd_config "[\"$BURST\"]" > "$K/config.json"
_d=$(( $(date +%s) + 30 ))
while [ "$(date +%s)" -le "$_d" ] && [ "$($CHECK points "$URI" tr burst 2>/dev/null || echo 0)" -lt 1000 ]; do sleep 0.1; done
kill9_daemon
sleep 1
POS=$($CHECK tag "$URI" tr burst trainfs.metrics_pos)
check "the server holds part of the burst at the kill (pos $POS)" test "${POS:-0}" -gt 0
start_daemon || { stop_server; finish; exit 1; }
check_eq "burst completes" completed "$(timeout 60 cat "$K/wait")"
check "export drains after the restart" drained 60
WANT=$(python3 -c 'import sys
n = off = 0
for l in open(sys.argv[1], "rb"):
    off += len(l)
    n += off > int(sys.argv[2])
print(n)' "$K/metrics.jsonl" "$POS")
check_eq "the restart sends only what the server lacked" "$WANT" "$(stat_of points_sent)"
check "the burst: every point, once" $CHECK run "$URI" tr burst "$K"
stop_server
finish
