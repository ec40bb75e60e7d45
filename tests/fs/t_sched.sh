#!/bin/sh
# The scheduler through the mount (the slots' capacity is test_fake's):
# GPUs handed out without overlap, dependencies and pipelines with inputs,
# cycle and unknown-run refusal, a large run not starved by a stream of
# small ones, the queue's reasons, the leaderboard.
. "$(dirname "$0")/lib.sh"
# a webhook listener on loopback: records each POST body, fails the first
cat > "$WORK/hook.py" <<'PY'
import http.server, sys, json
out, portfile = sys.argv[1], sys.argv[2]
seen = {"n": 0}
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        seen["n"] += 1
        if seen["n"] == 1:          # the first delivery fails: retried
            self.send_response(503); self.end_headers(); return
        with open(out, "a") as f:
            f.write(self.headers["Content-Type"] + " " + body.decode() + "\n")
        self.send_response(200); self.end_headers()
    def log_message(self, *a): pass
s = http.server.HTTPServer(("127.0.0.1", 0), H)
open(portfile, "w").write(str(s.server_port))
s.serve_forever()
PY
python3 "$WORK/hook.py" "$WORK/hooks" "$WORK/hookport" &
HOOK=$!
while [ ! -s "$WORK/hookport" ]; do sleep 0.05; done
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "starvation_s": 1,
 "notify": {"webhook": "http://127.0.0.1:$(cat "$WORK/hookport")/hook", "on": ["failed"]},
 "providers": {
  "local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
  "gpu": {"type": "local", "slots": {"cpus": 4, "gpus": 2, "max_jobs": 4}}}}
JSON
start_daemon || exit 1
E=$MNT/experiments

check_contains "providers status shows capacity" "jobs: 0/2" "$MNT/providers/local/status"

# GPUs: two one-GPU runs get different devices; a two-GPU run waits
G1=$(new_run gpu g1); G2=$(new_run gpu g2); G3=$(new_run gpu g3)
GJOB='["sh", "-c", "echo dev=$CUDA_VISIBLE_DEVICES; sleep 1.5"]'
cmd_config "$GJOB" '"provider": "gpu", "resources": {"gpus": 1}' > "$G1/config.json"
cmd_config "$GJOB" '"provider": "gpu", "resources": {"gpus": 1}' > "$G2/config.json"
wait_state "$G1" running; wait_state "$G2" running
check_contains "status.json lists the GPUs while it runs" '"gpus"' "$G1/status.json"
cmd_config "$GJOB" '"provider": "gpu", "resources": {"gpus": 2}' > "$G3/config.json"
check_contains "the 2-GPU run says why it waits" "needs 2 gpus, 0 free on gpu" "$MNT/queue"
cat "$G1/wait" "$G2/wait" "$G3/wait" > /dev/null
check_eq "distinct GPUs" "dev=0 dev=1" "$(cat "$G1/log" "$G2/log" | sort | tr '\n' ' ' | sed 's/ $//')"
check_contains "the 2-GPU run got both" "dev=0,1" "$G3/log"
check "more GPUs than the provider has: refused" sh -c "! cp /dev/stdin '$(new_run gpu g4)/config.json' 2>/dev/null <<J
{\"command\": [\"true\"], \"provider\": \"gpu\", \"resources\": {\"gpus\": 3}}
J"

# dependencies: a failed branch fails its dependents, others carry on
A=$(new_run dag a); B=$(new_run dag b); C=$(new_run dag c); D=$(new_run dag d)
cmd_config '["sh", "-c", "sleep 0.5; exit 1"]' > "$A/config.json"
cmd_config '["true"]' '"depends_on": ["a"]' > "$B/config.json"
check_contains "queue: waiting for its dependency" "dag/b .*waiting for dependency a (" "$MNT/queue"
cmd_config '["true"]' > "$C/config.json"
cmd_config '["true"]' '"depends_on": ["c", "default/none-such"]' > "$WORK/unknown.json"
check "unknown dependency refused" sh -c "! cp '$WORK/unknown.json' '$D/config.json' 2>/dev/null"
check_contains "with the reason" "unknown run 'default/none-such'" "$D/events"
cmd_config '["true"]' '"depends_on": ["c"]' > "$D/config.json"
check_eq "b fails with its dependency" "failed" "$(cat "$B/wait")"
check_contains "reason names the dependency" "dependency a failed" "$B/status.json"
check_eq "c completes" "completed" "$(cat "$C/wait")"
check_eq "d, on the other branch, completes" "completed" "$(cat "$D/wait")"

# a cycle is refused at submit
X=$(new_run dag x); Y=$(new_run dag y)
cmd_config '["true"]' '"depends_on": ["x"]' > "$Y/config.json"
cmd_config '["true"]' '"depends_on": ["y"]' > "$WORK/cycle.json"
check "cycle refused" sh -c "! cp '$WORK/cycle.json' '$X/config.json' 2>/dev/null"
check_contains "cycle reason" "a cycle" "$X/events"
check_eq "x stays created" "created" "$(cat "$X/status")"
echo cancel > "$Y/ctl"

# a pipeline: prepare -> finetune -> inference -> evaluation, with inputs
P=$(new_run pipe prepare); F=$(new_run pipe finetune); I=$(new_run pipe inference); V=$(new_run pipe evaluation)
cmd_config '["sh", "-c", "seq 1 100 > $TRAINFS_OUTPUT_DIR/data.txt"]' > "$P/config.json"
cmd_config '["sh", "-c", "awk \"{s+=\\$1} END {print s}\" $TRAINFS_INPUT_data > $TRAINFS_OUTPUT_DIR/model.txt"]' \
	'"depends_on": ["prepare"], "inputs": {"data": "prepare:data.txt"}' > "$F/config.json"
cmd_config '["sh", "-c", "echo $(( $(cat $TRAINFS_INPUT_model) * 2 )) > $TRAINFS_OUTPUT_DIR/pred.txt"]' \
	'"depends_on": ["finetune"], "inputs": {"model": "finetune:model.txt"}' > "$I/config.json"
cmd_config '["sh", "-c", "echo \"{\\\"score\\\": $(cat $TRAINFS_INPUT_pred)}\""]' \
	'"kind": "evaluation", "depends_on": ["inference"], "inputs": {"pred": "inference:pred.txt"}' > "$V/config.json"
check_eq "the pipeline completes" "completed" "$(timeout 60 cat "$V/wait")"
check_contains "the evaluation saw the whole chain" "^score 10100$" "$V/metrics"

# starvation: a 2-cpu run behind a stream of 1-cpu runs still starts
S=$(new_run starve big)
i=0
( while [ $i -lt 30 ]; do i=$((i+1)); R=$(new_run starve s$i) || break
  cmd_config '["sleep", "0.5"]' > "$R/config.json"; sleep 0.15; done ) &
STREAM=$!
sleep 0.5
cmd_config '["sh", "-c", "date +%s%N"]' '"resources": {"cpus": 2}' > "$S/config.json"
check_eq "the big run completes while the stream goes on" "completed" "$(timeout 30 cat "$S/wait")"
check "it did not wait for the whole stream" kill -0 $STREAM
wait $STREAM
for R in "$E"/starve/runs/s*; do cat "$R/wait" >/dev/null; done

# the leaderboard ranks by the objective
for lr in 1 2 3; do
	R=$(new_run lb r$lr)
	cmd_config "[\"sh\", \"-c\", \"echo '{\\\"eval_loss\\\": 0.$lr, \\\"acc\\\": 0.$((9 - lr))}'\"]" > "$R/config.json"
	cat "$R/wait" >/dev/null
done
echo "eval_loss min" > "$E/lb/objective"
check_eq "best run first" "r1" "$(awk 'NR==2{print $2}' "$E/lb/leaderboard")"
check_eq "worst run last" "r3" "$(awk 'NR==4{print $2}' "$E/lb/leaderboard")"
echo "acc max" > "$E/lb/objective"
check_eq "max mode" "r1" "$(awk 'NR==2{print $2}' "$E/lb/leaderboard")"
check_eq "objective reads back" "acc max" "$(cat "$E/lb/objective")"
check_contains "the scheduler file" "^passes [1-9]" "$MNT/scheduler"

# notifications: the daemon's webhook hears of failures (after one 503),
# a run's own command hears of its completion
check "webhook got the failure of dag/a" wait_grep "$WORK/hooks" '"run":"dag/a","run_id":"[-0-9a-f]*","state":"failed"' 15
check_contains "as JSON" "^application/json " "$WORK/hooks"
check "completions are not sent to the failed-only webhook" sh -c "! grep -q '\"state\":\"completed\"' '$WORK/hooks'"
N=$(new_run note cmd)
cmd_config '["true"]' "\"notify\": {\"command\": [\"sh\", \"-c\", \"cat > $WORK/note.json; echo \$TRAINFS_NOTIFY_RUN \$TRAINFS_NOTIFY_STATE >> $WORK/note.json\"]}" > "$N/config.json"
cat "$N/wait" > /dev/null
check "the run's notify command ran" wait_grep "$WORK/note.json" "note/cmd completed" 10
check_contains "with the JSON on its input" '"state":"completed"' "$WORK/note.json"
kill $HOOK 2>/dev/null

finish
