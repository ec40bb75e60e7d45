#!/bin/sh
# t_trainer.sh - the example trainer speaks one step convention on both of
# its channels (HF-style dicts in the log, JSON lines in $TRAINFS_METRICS),
# so what `metrics` shows is what its log says last.
. "$(dirname "$0")/lib.sh"

start_daemon || { fail "mount"; finish; exit 1; }
R=$(new_run trainer r1)
cmd_config "[\"python3\", \"$TRAIN_PY\", \"--epochs\", \"3\"]" > "$WORK/cfg.json"
check "submit" cp "$WORK/cfg.json" "$R/config.json"
check_eq "the run completes" "completed" "$(cat "$R/wait")"

# The log's last line is the summary; its train_loss is the run's.
tail -1 "$R/log" > "$WORK/last"
check_contains "the log ends with the summary" "'train_loss'" "$WORK/last"
want=$(python3 -c "import ast,sys; print(ast.literal_eval(open(sys.argv[1]).read())['train_loss'])" "$WORK/last")
got=$(sed -n 's/^train_loss //p' "$R/metrics")
check_eq "final train_loss in metrics is the log's" "$want" "$got"

# One step axis: every point's step is a global step (1..45 for 3 epochs of
# 15 steps), and no key's history goes back in steps.
python3 - "$R/metrics.jsonl" "$R/log" > "$WORK/steps" <<'PY'
import ast, json, sys
last = ast.literal_eval(open(sys.argv[2]).read().splitlines()[-1])
gs = last["step"]
seen, bad = {}, []
for l in open(sys.argv[1]):
    d = json.loads(l)
    k = d["key"]
    if k.startswith("sys/"):
        continue
    if not 1 <= d["step"] <= gs:
        bad.append("%s at step %r" % (k, d["step"]))
    if k in seen and d["step"] < seen[k]:
        bad.append("%s goes back from step %r to %r" % (k, seen[k], d["step"]))
    seen[k] = d["step"]
for k in ("train_loss", "eval_loss", "loss", "batch_loss"):
    if seen.get(k) != gs:
        bad.append("%s ends at step %r, not %r" % (k, seen.get(k), gs))
print(gs, "; ".join(bad) or "ok")
PY
check_eq "one step convention in metrics.jsonl" "45 ok" "$(cat "$WORK/steps")"
finish
