#!/bin/sh
# Artifacts (DESIGN.md section 6) through a real mount and a real nginx:
# manifests, lazy SHA-256-verified downloads, corruption, 404, a slow server
# with concurrent readers, a transfer cut mid-way that resumes, the cache at
# its cap, a restart mid-download, and inputs handed to a dependent run.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/nginx.sh"
nginx_serve_state || { echo "cannot start nginx"; echo "0 passed, 1 failed"; exit 1; }
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {
  "local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2},
            "artifact_root": "$STATE/runs", "artifact_base_url": "$NGINX_URL/"},
  "slow": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2},
           "artifact_root": "$STATE/runs", "artifact_base_url": "$NGINX_URL/slow/"}}}
JSON
start_daemon -o cache_size=5M || exit 1
trap 'nginx_cleanup; stop_daemon; rm -rf "$WORK"' INT TERM
ago() { n=$(grep -c "$1" "$NGINX_DIR/access.log" 2>/dev/null); echo "${n:-0}"; }
out_of() { ls -d "$STATE"/runs/"$(python3 -c "import json;print(json.load(open('$1/status.json'))['run_id'])")"/attempt-*/output | tail -1; }

# a job that writes a model, a nested file and a small one
R=$(new_run art model)
cmd_config '["sh", "-c", "head -c 1048576 /dev/urandom > $TRAINFS_OUTPUT_DIR/model.safetensors; mkdir -p $TRAINFS_OUTPUT_DIR/sub/dir; echo weights > $TRAINFS_OUTPUT_DIR/sub/dir/w.txt; echo hi > $TRAINFS_OUTPUT_DIR/small.txt"]' > "$R/config.json"
check_eq "job completes" "completed" "$(cat "$R/wait")"
check "manifest arrives" wait_grep "$R/events" "artifacts: 3 files" 10
OUT=$(out_of "$R")
check_eq "artifacts listed" "model.safetensors small.txt sub" "$(ls "$R/artifacts" | tr '\n' ' ' | sed 's/ $//')"
check_eq "real size before any download" "1048576" "$(stat -c %s "$R/artifacts/model.safetensors")"
check_eq "nested directories" "w.txt" "$(ls "$R/artifacts/sub/dir")"
SHA=$(sha256sum "$OUT/model.safetensors" | cut -d' ' -f1)
check_eq "user.sha256 without download" "$SHA" "$(getfattr --only-values -n user.sha256 "$R/artifacts/model.safetensors")"
check_eq "state remote" "remote" "$(getfattr --only-values -n user.trainfs.state "$R/artifacts/model.safetensors")"
check_eq "nothing fetched yet" "0" "$(ago 'model.safetensors')"
check_contains "downloads file lists it" "model.safetensors remote 0/1048576" "$R/downloads"
check_contains "status.json artifact summary" '"count":	3' "$R/status.json"

check "cp downloads and verifies" cp "$R/artifacts/model.safetensors" "$WORK/model.copy"
check "the copy is the job's file" cmp -s "$WORK/model.copy" "$OUT/model.safetensors"
check_eq "sha256sum through the mount" "$SHA" "$(sha256sum "$R/artifacts/model.safetensors" | cut -d' ' -f1)"
check_eq "state verified" "verified" "$(getfattr --only-values -n user.trainfs.state "$R/artifacts/model.safetensors")"
check_eq "fetched from nginx exactly once" "1" "$(ago 'GET /.*model.safetensors')"
check_eq "nested file" "weights" "$(cat "$R/artifacts/sub/dir/w.txt")"
check "verified file is in the cache under its hash" test -f "$STATE/cache/$SHA"
check "artifacts are read-only" sh -c "! sh -c \"echo x > '$R/artifacts/small.txt'\" 2>/dev/null"

# corruption: the file changes after the manifest was taken
R2=$(new_run art corrupt)
cmd_config '["sh", "-c", "echo original > $TRAINFS_OUTPUT_DIR/c.bin"]' > "$R2/config.json"
cat "$R2/wait" >/dev/null
wait_grep "$R2/events" "artifacts: 1 files" 10
echo tampered > "$(out_of "$R2")/c.bin"
check_eq "mismatch: read fails with EIO" "Input/output error" "$(cat "$R2/artifacts/c.bin" 2>&1 >/dev/null | sed 's/.*: //')"
check_contains "event names both hashes" "sha256 mismatch: expected $(printf 'original\n' | sha256sum | cut -c1-16)" "$R2/events"
check_contains "retried once" "retrying the download once" "$R2/events"
check_eq "two downloads, then no more" "2" "$(ago 'GET /.*c.bin')"
check "no corrupt file in the cache" sh -c "! ls '$STATE/cache' | grep -q \"$(printf 'tampered\n' | sha256sum | cut -d' ' -f1)\""
check "state says corrupt" sh -c "getfattr --only-values -n user.trainfs.state '$R2/artifacts/c.bin' | grep -q '^corrupt'"

# 404: the file is gone from the server
R3=$(new_run art gone)
cmd_config '["sh", "-c", "echo x > $TRAINFS_OUTPUT_DIR/g.bin"]' > "$R3/config.json"
cat "$R3/wait" >/dev/null
wait_grep "$R3/events" "artifacts: 1 files" 10
rm "$(out_of "$R3")/g.bin"
check_eq "404: EIO" "Input/output error" "$(cat "$R3/artifacts/g.bin" 2>&1 >/dev/null | sed 's/.*: //')"
check_contains "404 in events" "404" "$R3/events"

# a manifest the job wrote itself, naming a path outside the run, is
# ignored: the manifest lists what the output directory holds
R4=$(new_run art evil)
cmd_config '["sh", "-c", "echo x > $TRAINFS_OUTPUT_DIR/ok; printf %s \"[{\\\"path\\\":\\\"../../../../etc/passwd\\\",\\\"size\\\":1,\\\"sha256\\\":\\\"0000000000000000000000000000000000000000000000000000000000000000\\\"}]\" > $TRAINFS_OUTPUT_DIR/../manifest.json"]' > "$R4/config.json"
cat "$R4/wait" >/dev/null
check "the job's own manifest is not taken" wait_grep "$R4/events" "artifacts: 1 files" 10
check_eq "only the real output listed" "ok" "$(ls "$R4/artifacts")"

# a slow server and three concurrent readers share one download
S=$(new_run art slowrun)
cmd_config '["sh", "-c", "head -c 2097152 /dev/urandom > $TRAINFS_OUTPUT_DIR/big.bin"]' '"provider": "slow"' > "$S/config.json"
cat "$S/wait" >/dev/null
wait_grep "$S/events" "artifacts: 1 files" 10
READERS=""
for i in 1 2 3; do cat "$S/artifacts/big.bin" > "$WORK/r$i" & READERS="$READERS $!"; done
sleep 1
check "progress is visible while downloading" sh -c "getfattr --only-values -n user.trainfs.state '$S/artifacts/big.bin' | grep -q '^downloading [1-9]'"
check_contains "downloads file shows progress" "big.bin downloading" "$S/downloads"
for p in $READERS; do wait "$p"; done
SOUT=$(out_of "$S")
for i in 1 2 3; do check "reader $i got the file" cmp -s "$WORK/r$i" "$SOUT/big.bin"; done
check_eq "one transfer for three readers" "1" "$(ago 'GET /slow/.*big.bin')"

# a transfer cut mid-way resumes with a Range request
S2=$(new_run art cut)
cmd_config '["sh", "-c", "head -c 2097152 /dev/urandom > $TRAINFS_OUTPUT_DIR/cut.bin"]' '"provider": "slow"' > "$S2/config.json"
cat "$S2/wait" >/dev/null
wait_grep "$S2/events" "artifacts: 1 files" 10
cat "$S2/artifacts/cut.bin" > "$WORK/cut" &
CAT=$!
sleep 1.5
nginx_stop; sleep 0.5; nginx_restart
wait $CAT
check "cut transfer completes correctly" cmp -s "$WORK/cut" "$(out_of "$S2")/cut.bin"
check "resumed with Range (206)" grep -q 'cut.bin.* 206 ' "$NGINX_DIR/access.log"

# the cache at its cap (5 MiB): the least recently used file goes
for n in 1 2 3; do
	X=$(new_run art cap$n)
	cmd_config '["sh", "-c", "head -c 2000000 /dev/urandom > $TRAINFS_OUTPUT_DIR/f.bin"]' > "$X/config.json"
	cat "$X/wait" >/dev/null
	wait_grep "$X/events" "artifacts: 1 files" 10
	cat "$X/artifacts/f.bin" > /dev/null
done
check "cache stays under its cap" test "$(du -sb "$STATE/cache" | cut -f1)" -le $((5 * 1048576 + 4096))
check_eq "the least recently used was evicted" "remote" \
	"$(getfattr --only-values -n user.trainfs.state "$MNT/experiments/art/runs/cap1/artifacts/f.bin")"
# a reader has every byte once they are hashed; "verified" follows when the
# file is durable in the cache, a moment later
art_state() { getfattr --only-values -n user.trainfs.state "$1" 2>/dev/null; }
i=0
while [ "$(art_state "$MNT/experiments/art/runs/cap3/artifacts/f.bin")" != verified ] &&
      [ $i -lt 100 ]; do i=$((i + 1)); sleep 0.05; done
check_eq "the newest is kept" "verified" \
	"$(art_state "$MNT/experiments/art/runs/cap3/artifacts/f.bin")"
check "an evicted file reads again" cmp -s "$MNT/experiments/art/runs/cap1/artifacts/f.bin" \
	"$(out_of "$MNT/experiments/art/runs/cap1")/f.bin"

# a restart in the middle of a download resumes from the part on disk
S3=$(new_run art restart)
cmd_config '["sh", "-c", "head -c 2097152 /dev/urandom > $TRAINFS_OUTPUT_DIR/r.bin"]' '"provider": "slow"' > "$S3/config.json"
cat "$S3/wait" >/dev/null
wait_grep "$S3/events" "artifacts: 1 files" 10
cat "$S3/artifacts/r.bin" > /dev/null 2>&1 &
CAT=$!
sleep 1.5
kill9_daemon
wait $CAT 2>/dev/null
check "a part file was left" sh -c "ls '$STATE'/cache/*.part >/dev/null 2>&1"
start_daemon -o cache_size=5M || exit 1
check "after the restart the read completes" cmp -s "$S3/artifacts/r.bin" "$(out_of "$S3")/r.bin"
check "and it resumed with Range" grep -q 'r.bin.* 206 ' "$NGINX_DIR/access.log"
N=$(ago 'GET /slow/.*r.bin')
stop_daemon
start_daemon -o cache_size=5M || exit 1
check "a verified file reads after a restart" cmp -s "$S3/artifacts/r.bin" "$(out_of "$S3")/r.bin"
check_eq "without being downloaded again" "$N" "$(ago 'GET /slow/.*r.bin')"

# inputs: a dependent run gets a verified artifact of its dependency
P=$(new_run art prepare)
cmd_config '["sh", "-c", "head -c 100000 /dev/urandom > $TRAINFS_OUTPUT_DIR/data.bin"]' > "$P/config.json"
F=$(new_run art finetune)
cmd_config '["sh", "-c", "sha256sum $TRAINFS_INPUT_data"]' '"depends_on": ["prepare"], "inputs": {"data": "prepare:data.bin"}' > "$F/config.json"
check_eq "dependent run completes" "completed" "$(cat "$F/wait")"
check_contains "it read the verified input" "$(sha256sum "$(out_of "$P")/data.bin" | cut -d' ' -f1)" "$F/log"
check_contains "from its inputs directory" "/inputs/data/data.bin" "$F/log"
G=$(new_run art badinput)
cmd_config '["true"]' '"depends_on": ["prepare"], "inputs": {"x": "prepare:nope.bin"}' > "$G/config.json"
check_eq "a missing input fails the run" "failed" "$(cat "$G/wait")"
check_contains "with the reason" "has no artifact 'nope.bin'" "$G/status.json"

# Tail reads that ask for more than the file holds, while the daemon forks
# for job after job: each such reply is shorter than the request, and a
# fork between libfuse writing its reply header and correcting its length
# stranded the reader (the kernel refused the reply, nobody answered).
T=$(new_run art tail)
cmd_config '["sh", "-c", "head -c 1053576 /dev/urandom > $TRAINFS_OUTPUT_DIR/t.bin"]' > "$T/config.json"
cat "$T/wait" >/dev/null
wait_grep "$T/events" "artifacts: 1 files" 10
check "the odd-sized file verifies" cmp -s "$T/artifacts/t.bin" "$(out_of "$T")/t.bin"
mkdir "$MNT/experiments/forks"
( i=0; while [ $i -lt 150 ]; do i=$((i + 1))
	mkdir "$MNT/experiments/forks/runs/f$i" 2>/dev/null &&
	cmd_config '["true"]' > "$MNT/experiments/forks/runs/f$i/config.json"
  done ) &
FORKER=$!
check_eq "tail reads during job launches are all answered" "ok" "$(python3 - "$T/artifacts/t.bin" "$(out_of "$T")/t.bin" <<'PY'
import os, signal, sys, time
mnt, src = sys.argv[1], sys.argv[2]
want = open(src, "rb").read()[-5000:]
signal.alarm(10)                # a stranded read never returns
t0 = time.time()
while time.time() - t0 < 8:
    fd = os.open(mnt, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    got = os.pread(fd, 131072, len(want) and os.fstat(fd).st_size - 5000)
    os.close(fd)
    if got != want:
        print("a tail read gave %d bytes, not the file's last 5000" % len(got))
        sys.exit(0)
print("ok")
PY
)"
kill $FORKER 2>/dev/null; wait $FORKER 2>/dev/null
check "no reply was refused" sh -c "! grep -q 'splice from pipe' '$WORK/daemon.log'"

nginx_cleanup
finish
