#!/bin/sh
# Metrics and the end of a run through a real mount: timeout_s counted per
# attempt, the last metrics of a long log there as soon as `wait` says
# completed, a large artifact readable right after `wait`, metrics.jsonl's
# size and reads at offsets, and a flood of metric lines in bounded memory.
. "$(dirname "$0")/lib.sh"
start_daemon || exit 1

# VmHWM / VmRSS of the daemon in MB
mem_mb() { awk -v k="$1:" '$1 == k { print int($2 / 1024) }' "/proc/$DAEMON_PID/status"; }

# timeout_s is per attempt: attempt 1 fails after 3 s of a 4 s timeout, so
# attempt 2 starts past 4 s from the first start and must get its own 4 s
T=$(new_run m timeout)
cmd_config '["sh", "-c", "if [ \"$TRAINFS_ATTEMPT\" = 1 ]; then sleep 3; exit 1; fi; sleep 2; echo second"]' \
	'"timeout_s": 4, "max_retries": 1' > "$T/config.json"
check_eq "a retry gets the whole timeout" "completed" "$(timeout 30 cat "$T/wait")"
check_contains "the second attempt ran to its end" "second" "$T/log"
check "no timeout was applied" sh -c "! grep -q 'timeout after' '$T/events'"
# and each attempt is still bounded by it
T2=$(new_run m timeout2)
cmd_config '["sh", "-c", "if [ \"$TRAINFS_ATTEMPT\" = 1 ]; then exit 1; fi; sleep 30"]' \
	'"timeout_s": 2, "max_retries": 1' > "$T2/config.json"
check_eq "a retry past its timeout fails" "failed" "$(timeout 30 cat "$T2/wait")"
check_contains "with the timeout as reason" "timeout after 2 s" "$T2/status.json"

# four passes' worth of log (a pass reads 4 MiB) before the last metrics,
# one of them without its newline: all there the moment `wait` returns
L=$(new_run m longlog)
cat > "$WORK/longlog.py" <<'PY'
import sys
sys.stdout.write(("x" * 1023 + "\n") * (16 * 1024))
sys.stdout.write('{"final_acc": 0.99}\n')
sys.stdout.write('{"last_loss": 0.01}')
PY
cmd_config "[\"python3\", \"$WORK/longlog.py\"]" > "$L/config.json"
check_eq "long log completes" "completed" "$(timeout 60 cat "$L/wait")"
check_contains "the last full metric line is in" "final_acc 0.99" "$L/metrics"
check_contains "the unterminated last line is in" "last_loss 0.01" "$L/metrics"

# `wait` returns only once the outputs are listed: a large artifact is
# there to copy right away
A=$(new_run m artifact)
cmd_config '["sh", "-c", "head -c 104857600 /dev/urandom > $TRAINFS_OUTPUT_DIR/model.bin"]' \
	> "$A/config.json"
st=$(timeout 60 cat "$A/wait")
check "cp of the artifact right after wait" cp "$A/artifacts/model.bin" "$WORK/model.bin"
check_eq "wait said completed" "completed" "$st"
OUTF=$(ls -d "$STATE"/runs/*/attempt-1/output/model.bin 2>/dev/null | head -1)
check "the copy is the job's file" cmp -s "$WORK/model.bin" "$OUTF"
rm -f "$WORK/model.bin"
check_contains "the end waited for the outputs" "collecting outputs" "$A/events"

# a flood: 600,000 metric lines, every one kept, in bounded memory
F=$(new_run m flood)
cat > "$WORK/flood.py" <<'PY'
import sys
w = sys.stdout.write
for i in range(600000):
    w('{"loss": %d}\n' % i)
PY
cmd_config "[\"python3\", \"$WORK/flood.py\"]" > "$F/config.json"
check_eq "flood completes" "completed" "$(timeout 60 cat "$F/wait")"
check_eq "every line is in metrics.jsonl" "600000" "$(grep -c '"key":"loss"' "$F/metrics.jsonl")"
check_contains "the latest value" "loss 599999" "$F/metrics"
hwm=$(mem_mb VmHWM)
# (a sanitizer's quarantine and shadow memory come on top; the baseline
# took over 1 GB unsanitized)
bound=200
grep -qaE '__(asan|tsan)_' "$TRAINFS" && bound=800
check "daemon peak memory stays bounded (${hwm} MB)" test "$hwm" -lt "$bound"

# metrics.jsonl: stat's size is what a read returns, a read at an offset
# is that part of the whole, and open handles share no copy of it
size=$(stat -c %s "$F/metrics.jsonl")
check_eq "stat size equals bytes read" "$size" "$(wc -c < "$F/metrics.jsonl")"
cat "$F/metrics.jsonl" > "$WORK/all.jsonl"
check_eq "the last line" '{"step":600000,"time":' "$(tail -n 1 "$WORK/all.jsonl" | cut -c1-22)"
dd if="$F/metrics.jsonl" of="$WORK/part" bs=1000 skip=12345 count=7 2>/dev/null
dd if="$WORK/all.jsonl" of="$WORK/part.ref" bs=1000 skip=12345 count=7 2>/dev/null
check "a read at an offset" cmp -s "$WORK/part" "$WORK/part.ref"
rss0=$(mem_mb VmRSS)
python3 - "$F/metrics.jsonl" "$DAEMON_PID" > "$WORK/rss" <<'PY'
import os, sys
fds = [os.open(sys.argv[1], os.O_RDONLY) for _ in range(16)]
for fd in fds:
    os.read(fd, 1)
for l in open("/proc/%s/status" % sys.argv[2]):
    if l.startswith("VmRSS:"):
        print(int(l.split()[1]) // 1024)
PY
rss1=$(cat "$WORK/rss")
check "16 open handles cost no copies ($rss0 -> $rss1 MB)" test "$rss1" -lt $((rss0 + 50))
E=$(new_run m empty)
check_eq "stat of a run without metrics" "0" "$(stat -c %s "$E/metrics.jsonl")"
check_eq "and it reads empty" "" "$(cat "$E/metrics.jsonl")"

# tail -f follows metrics.jsonl as points arrive
G=$(new_run m grow)
cmd_config '["sh", "-c", "for i in 1 2 3; do echo \"{\\\"v\\\": $i}\"; sleep 0.5; done; sleep 2; echo \"{\\\"v\\\": 9}\""]' \
	> "$G/config.json"
wait_grep "$G/metrics" "v 1" 10
tail -f "$G/metrics.jsonl" > "$WORK/tail.out" 2>/dev/null &
TAILP=$!
check "tail -f sees a later point" wait_grep "$WORK/tail.out" '"value":9}' 20
kill "$TAILP" 2>/dev/null
check_eq "each point once" "4" "$(grep -c '"key":"v"' "$WORK/tail.out")"

# the size and offsets survive a restart (kept in the store)
stop_daemon
start_daemon || exit 1
check_eq "size after a restart" "$size" "$(stat -c %s "$F/metrics.jsonl")"
check "same bytes after a restart" cmp -s "$F/metrics.jsonl" "$WORK/all.jsonl"
finish
