#!/bin/sh
# demo.sh - what `make demo` runs after building: mounts trainfs on ./mnt
# (state in ./.state), submits the example trainer as a run on the local
# provider, follows it, and shows its status, metrics and outputs. The mount
# is left in place to explore; `fusermount3 -u mnt` ends it.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
MNT=$TOP/mnt
STATE=$TOP/.state
RUN=lr-0.1-$(date +%Y%m%d-%H%M%S)
R=$MNT/experiments/demo/runs/$RUN

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }

mkdir -p "$MNT"
if mountpoint -q "$MNT"; then fusermount3 -u "$MNT"; fi
say "./trainfs --state .state mnt"
"$TOP/trainfs" --state "$STATE" "$MNT"
i=0; while ! mountpoint -q "$MNT" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done

say "mkdir -p mnt/experiments/demo && mkdir mnt/experiments/demo/runs/$RUN"
mkdir -p "$MNT/experiments/demo"
mkdir "$R"
cat > "$TOP/.state/demo-config.json" <<JSON
{
  "kind": "training",
  "command": ["python3", "$TOP/tools/train.py", "--lr", "{lr}",
              "--epochs", "{epochs}", "--sleep", "0.3"],
  "params": {"lr": 0.1, "epochs": 5},
  "resources": {"cpus": 1},
  "tags": {"demo": "yes"}
}
JSON
cat "$TOP/.state/demo-config.json"
say "cp config.json $R/config.json      # submits the run"
cp "$TOP/.state/demo-config.json" "$R/config.json"
say "cat .../status"
cat "$R/status"
say "tail -f .../log   (until the run ends)"
tail -f "$R/log" &
TAIL=$!
state=$(cat "$R/wait")
sleep 1.2
kill $TAIL 2>/dev/null || true
wait $TAIL 2>/dev/null || true
say "cat .../wait      # blocked until the run ended"
echo "$state"
say "cat .../metrics"
cat "$R/metrics"
say "head -3 .../metrics.jsonl"
head -3 "$R/metrics.jsonl"
say "cat .../events"
cat "$R/events"
say "ls -l .../"
ls -l "$R"
i=0
while ! grep -q "artifacts: " "$R/events" && [ $i -lt 100 ]; do sleep 0.05; i=$((i+1)); done
say "ls -l .../artifacts/           # the model, listed with its size, not downloaded yet"
ls -l "$R/artifacts/"
say "getfattr -n user.sha256 .../artifacts/model.bin   # the hash the job's side computed"
getfattr --absolute-names --only-values -n user.sha256 "$R/artifacts/model.bin"; echo
say "getfattr -n user.trainfs.state .../artifacts/model.bin"
getfattr --absolute-names --only-values -n user.trainfs.state "$R/artifacts/model.bin"; echo
say "cp .../artifacts/model.bin /tmp/demo-model.bin    # downloads, verifies, copies"
cp "$R/artifacts/model.bin" /tmp/demo-model.bin
say "sha256sum /tmp/demo-model.bin; getfattr -n user.trainfs.state ..."
sha256sum /tmp/demo-model.bin
getfattr --absolute-names --only-values -n user.trainfs.state "$R/artifacts/model.bin"; echo
echo
echo "trainfs stays mounted on ./mnt: explore it, then 'fusermount3 -u mnt'."
[ "$state" = completed ] &&
	[ "$(getfattr --absolute-names --only-values -n user.trainfs.state "$R/artifacts/model.bin")" = verified ]
