#!/bin/sh
# The tour of DESIGN.md section 3-5 with real tools: mkdir, cp, cat, ls,
# tail -f, Python's open(), through a real mount.
. "$(dirname "$0")/lib.sh"
start_daemon || exit 1

# the tree
check "README exists" test -s "$MNT/README"
check "experiments/default exists" test -d "$MNT/experiments/default"
check "providers/local/status" test -f "$MNT/providers/local/status"
check_eq "local provider ok" "ok" "$(head -1 "$MNT/providers/local/status")"
check "queue file" test -f "$MNT/queue"
check "templates dir" test -d "$MNT/templates"

# an experiment and a run
check "mkdir experiment" mkdir "$MNT/experiments/mnist"
check "description write" sh -c "echo 'digits, small MLP' > '$MNT/experiments/mnist/description'"
check_eq "description read" "digits, small MLP" "$(cat "$MNT/experiments/mnist/description")"
check "mkdir run" mkdir "$MNT/experiments/mnist/runs/lr-01"
R=$MNT/experiments/mnist/runs/lr-01
check_eq "new run is created" "created" "$(cat "$R/status")"
check_eq "run dir lists its files (wait opens by name)" "artifacts config.json ctl downloads events log metrics metrics.jsonl metrics.svg status status.json" \
	"$(ls "$R" | tr '\n' ' ' | sed 's/ $//')"
check_eq "mkdir of an existing run" "1" "$(mkdir "$R" 2>/dev/null; echo $?)"

# submit with cp
cat > "$WORK/cfg.json" <<JSON
{"command": ["python3", "$TRAIN_PY", "--lr", "{lr}", "--epochs", "{epochs}", "--sleep", "0.4"],
 "params": {"lr": 0.1, "epochs": 4}, "kind": "training"}
JSON
check "cp config.json submits" cp "$WORK/cfg.json" "$R/config.json"
check "config.json reads back as submitted" cmp -s "$WORK/cfg.json" "$R/config.json"
check_eq "config.json is read-only after submit" "444" "$(stat -c %a "$R/config.json")"
check "status leaves created" sh -c "[ \"\$(cat '$R/status')\" != created ]"
check "runs" wait_state "$R" running

# tail -f follows the log while the job runs
tail -f "$R/log" > "$WORK/tail.out" 2>/dev/null &
TAIL=$!
check "tail -f sees epoch 2 while running" wait_grep "$WORK/tail.out" "'epoch': 2.0" 20
check_eq "still running while tail follows" "running" "$(cat "$R/status")"
check "metrics appear while running" wait_grep "$R/metrics" "^loss " 10

# wait blocks until the end and gives the final word
check_eq "wait gives the final state" "completed" "$(cat "$R/wait")"
sleep 1.5   # tail -f on FUSE polls once a second
kill $TAIL 2>/dev/null; wait $TAIL 2>/dev/null
check_contains "tail -f saw the end of the log" "train_runtime" "$WORK/tail.out"
check "tail -f output equals the log" cmp -s "$WORK/tail.out" "$R/log"
check_eq "status completed" "completed" "$(cat "$R/status")"

# true sizes: stat agrees with what a read returns, for every file
for f in config.json status status.json log metrics metrics.jsonl events ctl wait downloads; do
	check_eq "st_size of $f" "$(cat "$R/$f" | wc -c)" "$(stat -c %s "$R/$f")"
done
for f in README queue events providers/local/status; do
	check_eq "st_size of $f" "$(cat "$MNT/$f" | wc -c)" "$(stat -c %s "$MNT/$f")"
done

# metrics: HF dicts from the log and JSON lines from $TRAINFS_METRICS
check_contains "eval_accuracy metric" "^eval_accuracy 0\.9" "$R/metrics"
check_contains "batch_loss from TRAINFS_METRICS" "^batch_loss " "$R/metrics"
check_contains "metrics.jsonl records" '"key":"eval_loss"' "$R/metrics.jsonl"
check_eq "metrics.jsonl lines are JSON" "0" "$(python3 -c "
import json,sys
for l in open('$R/metrics.jsonl'): d=json.loads(l); assert set(d)=={'step','time','key','value'}
print(0)")"

# status.json is the full record
python3 - "$R/status.json" > "$WORK/sj.out" <<'PY'
import json, sys
d = json.load(open(sys.argv[1]))
print(d["state"], d["exit_code"], d["attempt"], d["provider"],
      bool(d["provider_job_id"]), len(d["config_sha256"]), d["reason"])
PY
check_eq "status.json fields" "completed 0 1 local True 64 exit code 0" "$(cat "$WORK/sj.out")"
SHA=$(sha256sum "$WORK/cfg.json" | cut -d' ' -f1)
check_contains "status.json carries the config sha256" "$SHA" "$R/status.json"
check_contains "events record the state changes" "state running -> completed" "$R/events"
check_contains "events record the submission" "submitted to 'local'" "$R/events"

# the model was written to the output directory of the attempt
check "model written" sh -c "ls '$STATE'/runs/*/attempt-1/output/model.json >/dev/null"

# Python's open() submits too, and a second run lists in ls -l
R2=$(new_run mnist py-open)
python3 -c "
with open('$R2/config.json', 'w') as f:
    f.write('{\"command\": [\"sh\", \"-c\", \"echo from-python; exit 0\"]}')
" && ok || fail "python open() submit"
check_eq "python-submitted run completes" "completed" "$(cat "$R2/wait")"
check_contains "its log" "from-python" "$R2/log"
check_eq "ls -l runs lists both" "2" "$(ls -l "$MNT/experiments/mnist/runs" | grep -c '^d')"

# a failing job: exit code and reason
R3=$(new_run mnist fails)
cmd_config '["sh", "-c", "echo bad >&2; exit 3"]' > "$R3/config.json"
check_eq "failing job ends failed" "failed" "$(cat "$R3/wait")"
check_contains "reason names the exit code" '"reason":	"exit code 3"' "$R3/status.json"
check_contains "stderr is in the log" "bad" "$R3/log"

# rmdir: a finished run can go; an experiment with an active run cannot
check "rmdir finished run" rmdir "$R3"
check "run is gone" test ! -e "$R3"
R4=$(new_run busy sleeper)
cmd_config '["sleep", "30"]' > "$R4/config.json"
wait_state "$R4" running
check_eq "rmdir experiment with active run: ENOTEMPTY" "Directory not empty" \
	"$(rmdir "$MNT/experiments/busy" 2>&1 | sed 's/.*: //')"
echo cancel > "$R4/ctl"
check_eq "cancelled run stops" "stopped" "$(cat "$R4/wait")"
check_eq "rmdir of an experiment with ended runs: ENOTEMPTY" "Directory not empty" \
	"$(rmdir "$MNT/experiments/busy" 2>&1 | sed 's/.*: //')"
check "rm -rf removes it once nothing runs" rm -rf "$MNT/experiments/busy"
check "experiment gone" test ! -e "$MNT/experiments/busy"

finish
