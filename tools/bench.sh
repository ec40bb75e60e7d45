#!/bin/sh
# bench.sh - measures trainfs against references taken in the same run, on
# this machine, and writes BENCHMARKS.md at the top of the repository.
# Run by `make bench` (after `make all`), as root, from the repository top:
#
#   sh tools/bench.sh
#
# Measures, each with its reference:
#   1. open+read+close of a run's status      vs tools/floorfs's status
#   2. ls -l of a runs/ dir of 10,000 runs     vs a tmpfs dir of 10,000 dirs
#      (warm median, and the cold first listing right after mount)
#   3. submissions/s (mkdir + write + close)   vs a plain dir on /tmp's disk,
#      and vs Slurm's 500/s
#   4. RSS and restart-to-ready, 100,000 runs  vs the same with an empty store
#   5. cold read of a 1 GiB artifact (download  vs curl URL | sha256sum from
#      from nginx, verify, cache, serve)           the same loopback nginx
#   6. warm read of that artifact (page cache)  vs cat of the cache file itself
#      (and, as information, with the page cache dropped before each read)
#   7. cat status of one run while another    vs the same reads with no flood
#      run floods 500,000 metric lines            (the floor)
#      (worst case and 99th percentile)
#   5 again, as information: a second cold read right after guest memory was
#      pre-faulted (on a VM that hands free memory back to its host, each
#      new page costs a host fault; the cold read allocates 2 GiB of them)
#   8. Slurm, on one cluster of tools/slurm-up started for the run:
#      500 submissions through the mount    vs 500 raw slurmrestd POSTs
#                                              over keep-alive, and 500 sbatch
#      HTTP requests per poll, 500 jobs     (goal: 1)
#      cat status with 500 jobs active      vs the same reads with none
#      (the section says SKIP, and why, when the cluster cannot start)
#   9. clouds (tools/bench_cloud.sh), 100 runs through tools/cloud-emu:
#      requests per poll per provider       (goal: 1)
#      a provider call's time in the daemon vs the emulator's own time
#  10. sweeps (tools/bench_sweep.sh), each trial a real job of the mount:
#      best of Branin and Hartmann-6 after vs Optuna's TPE, same trials and
#      20, 50, 100 trials (TPE, 10 seeds)      seeds; and trainfs random
#      trials/s with instant jobs             vs the same jobs as plain runs
#  11. the MLflow export (tools/bench_mlflow.sh), to a real mlflow server on
#      loopback: metric points/s exported    vs MLflow's Python client, same
#                                               points, log_batch of 1000
#      cat status while an export runs       vs the same with none running
#
# One section alone: `sh tools/bench.sh flood` runs only measure 7,
# `sh tools/bench.sh slurm` only measure 8, `... cloud` only 9, `... sweep`
# only 10, `... mlflow` only 11; each puts its rows and its
# paragraph into the BENCHMARKS.md that is there (replacing the ones an
# earlier run wrote), leaving the rest as it was.
#
# Measures 5 and 6 need about 3 GiB free on /tmp's filesystem (the job's
# 1 GiB output, served by a private nginx from tests/lib/nginx.sh, the 1 GiB
# cache file, and a margin); that is checked before anything is measured.
# Everything lives in a fresh directory under /tmp and is removed on exit,
# failure or interruption: mounts are unmounted and the daemons this script
# started are ended by their process id. Progress goes to stderr; the table
# goes to stdout and, with machine details and how each figure was measured,
# to BENCHMARKS.md (written only when every measure succeeded).
set -eu

TOP=$(cd "$(dirname "$0")/.." && pwd)
OUT=$TOP/BENCHMARKS.md
# The daemon measured is the default (unsanitized) build that `make all`
# leaves in build/default: ./trainfs follows whatever build was asked last
# (`make SANITIZE=... test` replaces it), and an ASan daemon has several
# times the RSS. The binaries are copied once below, so that a rebuild by
# someone else during the run does not change what is measured mid-way.
# TRAINFS=/path/to/trainfs measures that binary instead (as in tests/fs).
SRC_TRAINFS=${TRAINFS:-$TOP/build/default/trainfs}
[ -n "${TRAINFS:-}" ] || [ -x "$SRC_TRAINFS" ] || SRC_TRAINFS=$TOP/trainfs

READ_N=20000		# bench_read iterations per pass
LS_RUNS=10000		# entries of the listed directories
LS_REPEAT=5		# timed listings (after one warm-up)
SUBMIT_N=2000		# runs submitted
BIG_EXPS=10		# store of measure 4: BIG_EXPS x BIG_PER runs
BIG_PER=10000
SLURM_RATE=500		# Slurm's validated submissions per second
ART_BYTES=1073741824	# the artifact of measures 5 and 6: 1 GiB
ART_REPEAT=3		# timed warm reads (after one warm-up), each side
ART_CACHE=4G		# -o cache_size= of that daemon: holds it with room
PREFAULT_MB=3072	# memory written (tmpfs) and freed before the 2nd cold read

FLOOD_LINES=500000	# metric lines the flooding run writes (measure 7)
FLOOD_PAUSE_US=500	# between two timed reads of status (measure 7)
FLOOD_IDLE_N=4000	# reads of the floor (measure 7)

SLURM_N=500		# runs / jobs submitted each way (measure 8)
SLURM_BASE=${SLURM_PORT_BASE:-16850}	# the bench cluster's ports (slurm-up)
SLURM_READ_N=10000	# status reads, each side (measure 8)
SLURM_READ_PAUSE_US=500	# between two of them
SLURM_WATCH_S=5		# requests and passes counted over this long

export LC_ALL=C		# same sorting and number formats for every tool

ONLY=${1:-}		# one section by name, or every section
case $ONLY in
''|flood|slurm|cloud|sweep|mlflow) ;;
*) echo "usage: sh tools/bench.sh [flood|slurm|cloud|sweep|mlflow]" >&2; exit 2 ;;
esac

for f in "$SRC_TRAINFS" "$TOP/tools/floorfs" "$TOP/tools/bench_read" \
	"$TOP/tools/bench_submit" "$TOP/tools/bench_slurm"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f is missing: run 'make all' first" >&2
		exit 1
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (mounts a tmpfs)" >&2
	exit 1
fi
for c in python3 fusermount3 mountpoint curl sha256sum; do
	command -v "$c" >/dev/null 2>&1 || { echo "bench: needs $c" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/trainfs-bench.XXXXXX)
T_START=$(date +%s)
# measures 5 and 6: the job's output, the cache file and a margin
ART_NEED_KB=$((3 * ART_BYTES / 1024))
ART_AVAIL_KB=$(df -Pk "$WORK" | awk 'NR == 2 { print $4 }')
if [ -z "$ONLY" ] && [ "$ART_AVAIL_KB" -lt "$ART_NEED_KB" ]; then
	echo "bench: $((ART_AVAIL_KB / 1024)) MiB free under /tmp, measures 5" \
		"and 6 need $((ART_NEED_KB / 1024)) MiB" >&2
	rmdir "$WORK"
	exit 1
fi
TFS_PID=""		# the trainfs daemon currently running, if any
TFS_MNT=""		# and its mount point
FLOOR_PID=""
FLOOR_MNT=$WORK/floor
TMPFS_DIR=$WORK/tmpfs
POLL_PID=""
CHILD_PID=""		# a long helper run by bg()
DAEMON_CONF=""		# start_trainfs's --config (set below)
DAEMON_OPTS=""		# and extra options (-o ...), as words
NGINX_DIR=""		# the private nginx of measures 5 and 6, if running
ART_JOB_PID=$WORK/art-job.pid	# the job writing the 1 GiB artifact
SLURM_DIR=""		# the cluster of measure 8, once slurm-up ran

say() { echo "bench [$(( $(date +%s) - T_START ))s]: $*" >&2; }
die() { echo "bench: FAILED: $*" >&2; exit 1; }

# unmount MNT: fusermount3, retried while busy, then lazily as a last resort.
unmount() {
	mountpoint -q "$1" 2>/dev/null || return 0
	i=0
	while ! fusermount3 -u "$1" 2>/dev/null; do
		i=$((i + 1))
		if [ $i -ge 20 ]; then umount -l "$1" 2>/dev/null || true; break; fi
		sleep 0.1
	done
}

# end PID: it should already be exiting; TERM, then KILL after 5 s.
end_pid() {
	[ -n "$1" ] || return 0
	if kill -0 "$1" 2>/dev/null; then
		i=0
		while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -TERM "$1" 2>/dev/null || true
		i=0
		while kill -0 "$1" 2>/dev/null && [ $i -lt 50 ]; do
			sleep 0.1; i=$((i + 1))
		done
		kill -KILL "$1" 2>/dev/null || true
	fi
	wait "$1" 2>/dev/null || true
}

cleanup() {
	rc=$?
	set +e
	trap - EXIT INT TERM
	if [ "$rc" -ne 0 ]; then
		for l in "$WORK"/*.log; do
			[ -s "$l" ] || continue
			echo "bench: last lines of $(basename "$l"):" >&2
			tail -n 15 "$l" | sed 's/^/    | /' >&2
		done
	fi
	[ -n "$POLL_PID" ] && kill "$POLL_PID" 2>/dev/null && wait "$POLL_PID" 2>/dev/null
	[ -n "$CHILD_PID" ] && kill "$CHILD_PID" 2>/dev/null && wait "$CHILD_PID" 2>/dev/null
	[ -n "$TFS_MNT" ] && unmount "$TFS_MNT"
	end_pid "$TFS_PID"
	# the 1 GiB job (its supervisor outlives the daemon): by its pid,
	# and only while that pid is still our head
	if [ -s "$ART_JOB_PID" ]; then
		jp=$(cat "$ART_JOB_PID")
		case $jp in
		''|*[!0-9]*) ;;
		*) grep -qa "^head" "/proc/$jp/cmdline" 2>/dev/null &&
			kill "$jp" 2>/dev/null ;;
		esac
	fi
	[ -n "$NGINX_DIR" ] && nginx_cleanup
	[ -n "$SLURM_DIR" ] && sh "$TOP/tools/slurm-down" "$SLURM_DIR"
	unmount "$FLOOR_MNT"
	end_pid "$FLOOR_PID"
	if mountpoint -q "$TMPFS_DIR" 2>/dev/null; then
		umount "$TMPFS_DIR" 2>/dev/null || umount -l "$TMPFS_DIR"
	fi
	# never recurse into something still mounted
	if grep -q " $WORK/" /proc/mounts; then
		echo "bench: something is still mounted under $WORK; left in place" >&2
	else
		rm -rf "$WORK"
	fi
	[ "$rc" -ne 0 ] && echo "bench: failed (status $rc); BENCHMARKS.md not written" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# nginx_start/nginx_cleanup: a private nginx on 127.0.0.1 (measures 5, 6)
# shellcheck source=tests/lib/nginx.sh
. "$TOP/tests/lib/nginx.sh"

mkdir "$WORK/bin"
cp "$SRC_TRAINFS" "$TOP/tools/floorfs" "$TOP/tools/bench_read" \
	"$TOP/tools/bench_submit" "$TOP/tools/bench_slurm" "$WORK/bin/"
TRAINFS=$WORK/bin/trainfs
FLOORFS=$WORK/bin/floorfs
BENCH_READ=$WORK/bin/bench_read
BENCH_SUBMIT=$WORK/bin/bench_submit
BENCH_SLURM=$WORK/bin/bench_slurm
BIN_SUM=$(sha256sum "$TRAINFS" | cut -c1-12)
BIN_TIME=$(date -u -r "$SRC_TRAINFS" '+%Y-%m-%d %H:%M:%S UTC')
for f in "$TRAINFS" "$FLOORFS" "$BENCH_READ" "$BENCH_SUBMIT" "$BENCH_SLURM"; do
	if grep -qaE '__(asan|ubsan|tsan|lsan|msan)_' "$f"; then
		echo "bench: $(basename "$f") was built with a sanitizer; rebuild without" \
			"(make clean && make all)" >&2
		exit 1
	fi
done

# ---------------------------------------------------------------- helpers --

# Python helpers, written once.
cat > "$WORK/timels.py" <<'PY'
# timels.py DIR WARMUP N: times `ls -l DIR > /dev/null` N times after WARMUP
# untimed listings; prints "median_ms=.. min_ms=.. max_ms=.. samples=a,b,..".
import statistics, subprocess, sys, time
d, warm, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def once():
    t0 = time.perf_counter()
    subprocess.run(["ls", "-l", d], stdout=subprocess.DEVNULL, check=True)
    return (time.perf_counter() - t0) * 1000.0
for _ in range(warm):
    once()
s = [once() for _ in range(n)]
print("median_ms=%.2f min_ms=%.2f max_ms=%.2f samples=%s" % (
    statistics.median(s), min(s), max(s), ",".join("%.1f" % x for x in s)))
PY

cat > "$WORK/mkdirs.py" <<'PY'
# mkdirs.py BASE FIRST_EXP NEXP NPER [PID]: os.mkdir of BASE/e<k> (for k
# from FIRST_EXP, skipped if it exists) and of BASE/e<k>/runs/r0..r<NPER-1>
# when BASE ends in /experiments, else of BASE/r0..r<NPER-1>; progress (with
# the VmRSS of process PID, the daemon, if given) to stderr.
import os, sys, time
base, first, nexp, nper = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
pid = sys.argv[5] if len(sys.argv) > 5 else None
def rss():
    if not pid:
        return ""
    with open("/proc/%s/status" % pid) as f:
        for l in f:
            if l.startswith("VmRSS:"):
                return ", daemon VmRSS %.1f MB" % (int(l.split()[1]) / 1024)
    return ""
t_all = time.perf_counter()
for k in range(first, first + nexp):
    if base.endswith("/experiments"):
        exp = "%s/e%d" % (base, k)
        if not os.path.isdir(exp):
            os.mkdir(exp)
        runs = exp + "/runs"
    else:
        runs = base
    t0 = time.perf_counter()
    for i in range(nper):
        os.mkdir("%s/r%d" % (runs, i))
    dt = time.perf_counter() - t0
    if base.endswith("/experiments"):
        print("bench:   e%d: %d runs in %.1f s (%.0f mkdir/s)%s" % (
            k, nper, dt, nper / dt, rss()), file=sys.stderr, flush=True)
dt = time.perf_counter() - t_all
print("mkdir_per_s=%.1f n=%d seconds=%.3f" % (nexp * nper / dt, nexp * nper, dt))
PY

cat > "$WORK/poll_ready.py" <<'PY'
# poll_ready.py PATH FLAG TIMEOUT_S: creates FLAG once polling, then every
# 10 ms opens, reads and closes PATH until a read returns data; prints the
# CLOCK_REALTIME in ns of that success (exit 1 on timeout).
import os, sys, time
path, flag, timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
open(flag, "w").close()
deadline = time.monotonic() + timeout
while True:
    try:
        fd = os.open(path, os.O_RDONLY)
        try:
            data = os.read(fd, 4096)
        finally:
            os.close(fd)
        if data:
            print(time.time_ns())
            sys.exit(0)
    except OSError:
        pass
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.01)
PY

# bg OUT CMD...: runs CMD, its stdout to OUT, in the background and waits for
# it: dash runs a trap only once the foreground command is done, but a trapped
# signal interrupts `wait`, so INT/TERM during a long step end it at once.
bg() {
	bg_out=$1
	shift
	"$@" > "$bg_out" &
	CHILD_PID=$!
	bg_rc=0
	wait "$CHILD_PID" || bg_rc=$?
	CHILD_PID=""
	return "$bg_rc"
}

# wait_grep REGEX FILE TENTHS_OF_S WHY: until FILE has a line matching
# REGEX, else dies with WHY.
wait_grep() {
	wg_i=0
	until grep -q "$1" "$2"; do
		wg_i=$((wg_i + 1))
		[ $wg_i -le "$3" ] || die "$4"
		sleep 0.1
	done
}

# field NAME LINE: the value of NAME=value in a key=value line.
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# row MEASURE TRAINFS REFERENCE RATIO GOAL MET
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
yesno() { if holds "$1"; then echo yes; else echo NO; fi; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

# calc 'awk expression': prints it evaluated, with 4 decimals.
calc() { awk "BEGIN { printf \"%.4f\\n\", $1 }"; }
# holds 'awk condition': true when it holds.
holds() { [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; }

# write_daemon_config FILE: every job held in the queue (max_jobs 0).
# (start_trainfs uses DAEMON_CONF, this file unless measure 5 says otherwise)
write_daemon_config() {
	cat > "$1" <<'JSON'
{"poll_interval_ms": 500,
 "providers": {"local": {"type": "local",
   "slots": {"cpus": 2, "max_jobs": 0}}}}
JSON
}

# start_trainfs STATE MNT LOG [PIN]: starts the daemon in the foreground, in
# the background of this script (under PIN, a taskset prefix, if given), and
# waits for the mount (up to 120 s).
start_trainfs() {
	mkdir -p "$2"
	# shellcheck disable=SC2086 # PIN is words or nothing
	# shellcheck disable=SC2086 # DAEMON_OPTS too
	${4:-} "$TRAINFS" -f --state "$1" --config "$DAEMON_CONF" $DAEMON_OPTS \
		"$2" 2>>"$3" &
	TFS_PID=$!
	TFS_MNT=$2
	wait_mount "$2" "$TFS_PID" 1200 || die "trainfs did not mount on $2"
}

# wait_mount MNT PID TENTHS_OF_S
wait_mount() {
	i=0
	while ! mountpoint -q "$1"; do
		i=$((i + 1))
		if [ $i -gt "$3" ] || ! kill -0 "$2" 2>/dev/null; then
			return 1
		fi
		sleep 0.1
	done
}

stop_trainfs() {
	unmount "$TFS_MNT"
	end_pid "$TFS_PID"
	TFS_PID=""
	TFS_MNT=""
}

# timed_start STATE MNT LOG PROBE: starts trainfs and sets START_MS to the ms
# from just before its exec until PROBE (a file under MNT) reads non-empty.
# (Not called in $(...): the daemon must be this shell's child.)
timed_start() {
	rm -f "$WORK/poll.flag"
	python3 "$WORK/poll_ready.py" "$4" "$WORK/poll.flag" 120 \
		> "$WORK/poll.out" &
	POLL_PID=$!
	while [ ! -e "$WORK/poll.flag" ]; do
		kill -0 "$POLL_PID" 2>/dev/null || die "poller did not start"
		sleep 0.01
	done
	mkdir -p "$2"
	t0=$(date +%s%N)
	# shellcheck disable=SC2086
	"$TRAINFS" -f --state "$1" --config "$DAEMON_CONF" $DAEMON_OPTS \
		"$2" 2>>"$3" &
	TFS_PID=$!
	TFS_MNT=$2
	wait "$POLL_PID" || { POLL_PID=""; die "$4 not readable within 120 s"; }
	POLL_PID=""
	t1=$(cat "$WORK/poll.out")
	wait_mount "$2" "$TFS_PID" 100 || die "trainfs not mounted on $2"
	START_MS=$(calc "($t1 - $t0) / 1e6")
}

# rss_kb PID: VmRSS in kB.
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
hwm_kb() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

# bench_read_median PATH: median_us of one bench_read pass.
bench_read_median() {
	# shellcheck disable=SC2086
	line=$($PIN_C "$BENCH_READ" "$1" "$READ_N") || die "bench_read $1"
	say "  $1: $line"
	field median_us "$line"
}

min2() { if holds "$1 < $2"; then echo "$1"; else echo "$2"; fi; }

# Measure 1 pins the daemon to CPU 1 and the reader to CPU 0, both for
# floorfs and trainfs: unpinned, each pass lands at random on one of two
# latencies (same CPU or not; ~35 vs ~50 us on a 2-core VM), which swamps
# the difference being measured.
PIN_D=""
PIN_C=""
if [ "$(nproc)" -ge 2 ] && command -v taskset >/dev/null 2>&1; then
	PIN_D="taskset -c 1"
	PIN_C="taskset -c 0"
fi

PIN_NOTE="Both daemons run pinned to CPU 1 and the reader to CPU 0 (taskset):
unpinned on a 2-core machine, each pass lands at random on one of two
latencies (reader and daemon on the same CPU or not) and the noise swamps the
difference being measured."
[ -n "$PIN_D" ] || PIN_NOTE="Nothing is pinned (taskset or a second CPU missing)."

TMP_FS=$(findmnt -no FSTYPE -T /tmp 2>/dev/null || stat -f -c %T /tmp)

write_daemon_config "$WORK/daemon.json"
DAEMON_CONF=$WORK/daemon.json
printf '{"command": ["true"]}\n' > "$WORK/config.json"

# ------------------------- 7. status reads during a flood of metrics ----
# (defined here, run after 6, or alone with `sh tools/bench.sh flood`)

cat > "$WORK/flood.py" <<'PY'
# flood.py N: writes N metric lines {"loss": i} to stdout (the job's log)
# as fast as python3 can.
import sys
w = sys.stdout.write
for i in range(int(sys.argv[1])):
    w('{"loss": %d}\n' % i)
PY

# measure_flood: sets FLOOD_* from two bench_read passes on the status of a
# running run: one with nothing else going on (the floor), one while a
# second run writes FLOOD_LINES metric lines to its log as fast as it can,
# lasting until that run has ended and its metrics are in.
measure_flood() {
	say "(7) status reads while another run floods $FLOOD_LINES metric lines"
	STATE_F=$WORK/state-flood
	MNT_F=$WORK/mnt-flood
	cat > "$WORK/daemon-flood.json" <<'JSON'
{"poll_interval_ms": 500,
 "providers": {"local": {"type": "local",
   "slots": {"cpus": 2, "max_jobs": 2}}}}
JSON
	DAEMON_CONF=$WORK/daemon-flood.json
	start_trainfs "$STATE_F" "$MNT_F" "$WORK/trainfs-flood.log"
	mkdir "$MNT_F/experiments/fl"
	FL_QUIET=$MNT_F/experiments/fl/runs/quiet
	FL_FLOOD=$MNT_F/experiments/fl/runs/flood
	mkdir "$FL_QUIET" "$FL_FLOOD"
	printf '{"command": ["sleep", "600"]}\n' > "$FL_QUIET/config.json"
	i=0
	until [ "$(cat "$FL_QUIET/status")" = running ]; do
		i=$((i + 1))
		[ $i -le 300 ] || die "the quiet run is not running within 30 s"
		sleep 0.1
	done
	line=$("$BENCH_READ" -p "$FLOOD_PAUSE_US" "$FL_QUIET/status" \
		"$FLOOD_IDLE_N") || die "bench_read of the idle status"
	say "  floor (no flood): $line"
	FLOOD_IDLE_P99=$(field p99_us "$line")
	FLOOD_IDLE_MAX=$(field max_us "$line")
	FLOOD_IDLE_MED=$(field median_us "$line")
	rm -f "$WORK/flood.stop"
	# the timed reads start once the submission is acknowledged: its
	# durable commit is measure 3's, not this one's
	printf '{"command": ["python3", "%s", "%s"]}\n' "$WORK/flood.py" \
		"$FLOOD_LINES" > "$FL_FLOOD/config.json"
	t0=$(date +%s%N)
	"$BENCH_READ" -s "$WORK/flood.stop" -p "$FLOOD_PAUSE_US" \
		"$FL_QUIET/status" 10000000 > "$WORK/flood-read.out" &
	CHILD_PID=$!
	st=$(cat "$FL_FLOOD/wait") || die "reading $FL_FLOOD/wait"
	t1=$(date +%s%N)
	touch "$WORK/flood.stop"
	wait "$CHILD_PID" || { CHILD_PID=""; die "bench_read during the flood"; }
	CHILD_PID=""
	[ "$st" = completed ] || die "the flooding run ended '$st', not completed"
	# what a reader finds once `wait` returned (read after the timed
	# reads: the FUSE loop serves one request at a time, and reading the
	# whole file would be measured too), then once the count stops changing
	# (its own points: cpu samples may land beside them)
	FLOOD_AT_WAIT=$(grep -c '"key":"loss"' "$FL_FLOOD/metrics.jsonl")
	prev=-1
	FLOOD_GOT=$FLOOD_AT_WAIT
	while [ "$FLOOD_GOT" != "$prev" ]; do
		prev=$FLOOD_GOT
		sleep 1
		FLOOD_GOT=$(grep -c '"key":"loss"' "$FL_FLOOD/metrics.jsonl")
	done
	line=$(cat "$WORK/flood-read.out")
	say "  during the flood: $line"
	FLOOD_P99=$(field p99_us "$line")
	FLOOD_MAX=$(field max_us "$line")
	FLOOD_MED=$(field median_us "$line")
	FLOOD_N=$(field n "$line")
	FLOOD_S=$(calc "($t1 - $t0) / 1e9")
	FLOOD_HWM=$(calc "$(hwm_kb "$TFS_PID") / 1024")
	say "  the run ended after $FLOOD_S s with $FLOOD_AT_WAIT of" \
		"$FLOOD_LINES lines in metrics.jsonl ($FLOOD_GOT in the end);" \
		"daemon VmHWM $FLOOD_HWM MB"
	echo cancel > "$FL_QUIET/ctl"
	stop_trainfs
	DAEMON_CONF=$WORK/daemon.json
}

# flood_rows: measure 7's rows of the table.
flood_rows() {
	row "status open+read+close during a flood of $FLOOD_LINES metric lines, p99" \
		"$(fmt "$FLOOD_P99" '%.1f µs')" "$(fmt "$FLOOD_IDLE_P99" '%.1f µs') (no flood)" \
		"$(ratio "$FLOOD_P99" "$FLOOD_IDLE_P99")" "≤ 2x no flood" \
		"$(yesno "$FLOOD_P99 <= 2 * $FLOOD_IDLE_P99")"
	row "status open+read+close during a flood of $FLOOD_LINES metric lines, worst" \
		"$(fmt "$FLOOD_MAX" '%.1f µs')" "$(fmt "$FLOOD_IDLE_MAX" '%.1f µs') (no flood)" \
		"$(ratio "$FLOOD_MAX" "$FLOOD_IDLE_MAX")" "< 5 ms" \
		"$(yesno "$FLOOD_MAX < 5000")"
}

# flood_how: measure 7's paragraph of "How measured".
flood_how() {
	cat <<EOF
**Status read during a metrics flood.** A daemon on a fresh state whose
local provider runs two jobs: run \`quiet\` (\`sleep 600\`, running) and run
\`flood\`, a python3 job that writes $FLOOD_LINES lines \`{"loss": N}\` to its
log as fast as it can. \`tools/bench_read -p $FLOOD_PAUSE_US\` times open + read +
close of quiet's \`status\`, pausing $FLOOD_PAUSE_US µs between reads: first
$FLOOD_IDLE_N reads before the flood (the floor; median $FLOOD_IDLE_MED µs), then from
the moment the flooding run's submission was acknowledged (its close() of
config.json returned) until its \`wait\` returned ($FLOOD_N reads, median
$FLOOD_MED µs). From its submission to \`wait\` the flooding run took
$FLOOD_S s; right after \`wait\`, metrics.jsonl held $FLOOD_AT_WAIT of its
$FLOOD_LINES points ($FLOOD_GOT in the end); the daemon's peak VmHWM was
$FLOOD_HWM MB. Nothing is pinned: on a 2-core machine the job, the daemon's
scan and the reader share the CPUs, and the worst case is mostly the
reader or the daemon waiting for one (the floor's own worst case shows it).
EOF
}

# splice_section ROWS HOW ROW_KEY [AFTER_KEY]: puts a section's rows (file
# ROWS) and paragraphs (file HOW) into the BENCHMARKS.md there, for a
# section run alone: the rows replace those starting with ROW_KEY, else go
# after the last row starting with AFTER_KEY, else after the first table;
# the paragraphs replace the old ones (from the line that begins like HOW's
# first to the next bold heading), else go before the scheduler's.
splice_section() {
	python3 - "$OUT" "$@" <<'PY' || die "cannot update $OUT"
import sys
out, rows, how, row_key = sys.argv[1:5]
after_key = sys.argv[5] if len(sys.argv) > 5 else None
lines = open(out).read().split("\n")
rows = open(rows).read().rstrip("\n").split("\n")
how = open(how).read().rstrip("\n").split("\n")
old = [i for i, l in enumerate(lines) if l.startswith(row_key)]
after = [i for i, l in enumerate(lines) if after_key and l.startswith(after_key)]
if old:
    at = old[0]
    lines = [l for l in lines if not l.startswith(row_key)]
elif after:
    at = after[-1] + 1
else:
    at = next(i for i, l in enumerate(lines) if l.startswith("|"))
    while at < len(lines) and lines[at].startswith("|"):
        at += 1
lines[at:at] = rows
key = how[0].split(".**")[0]
old = [i for i, l in enumerate(lines) if l.startswith(key)]
if old:
    end = old[0] + 1
    while end < len(lines) and not (lines[end].startswith(("**", "## "))
                                    and lines[end - 1] == ""):
        end += 1
    while end > old[0] + 1 and lines[end - 1] == "":
        end -= 1
    lines[old[0]:end] = how
else:
    at = next((i for i, l in enumerate(lines)
               if l.startswith("**Scheduler decision time.**")), len(lines))
    lines[at:at] = how + [""]
open(out + ".new", "w").write("\n".join(lines))
PY
	mv "$OUT.new" "$OUT"
	cat "$1"
}

# `sh tools/bench.sh flood`: measure 7 alone, into the BENCHMARKS.md there
if [ "$ONLY" = flood ]; then
	[ -f "$OUT" ] || die "$OUT is missing: run the whole bench once first"
	measure_flood
	flood_rows > "$WORK/flood-rows.md"
	flood_how > "$WORK/flood-how.md"
	splice_section "$WORK/flood-rows.md" "$WORK/flood-how.md" \
		"| status open+read+close during a flood"
	say "wrote measure 7 into $OUT"
	exit 0
fi

# ----------------------------------------------------------- 8. Slurm ----
# (defined here, run after 7, or alone with `sh tools/bench.sh slurm`)

# slurm_cmd CMD...: a Slurm client command against the bench's cluster.
slurm_cmd() { SLURM_CONF=$SLURM_DIR/slurm.conf "$@"; }

# slurm_count [NAME_PREFIX]: the jobs squeue shows (those whose name starts
# with NAME_PREFIX, if given).
slurm_count() {
	slurm_cmd squeue -h -o '%j' > "$WORK/squeue.out" || die "squeue failed"
	grep -c "^${1:-}" "$WORK/squeue.out" || true
}

# slurm_clear: every job of the cluster cancelled, and gone from squeue
# (up to 120 s), so that each measure starts from the same queue.
slurm_clear() {
	slurm_cmd scancel -u root || die "scancel failed"
	i=0
	while [ "$(slurm_count)" -ne 0 ]; do
		i=$((i + 1))
		[ $i -le 1200 ] || die "jobs still in squeue 120 s after scancel"
		sleep 0.1
	done
	sleep 1
}

# slurm_raw: SLURM_RAW_RATE from bench_slurm, SLURM_N POSTs of the body.
slurm_raw() {
	line=$("$BENCH_SLURM" "$SLURM_URL/slurm/$SLURM_API/job/submit" root \
		"$SLURM_DIR/token" "$WORK/slurm-body.json" "$SLURM_N") ||
		die "bench_slurm"
	say "  raw slurmrestd: $line"
	n=$(slurm_count bench-raw)
	[ "$n" -eq "$SLURM_N" ] || die "squeue shows $n raw jobs, not $SLURM_N"
	SLURM_RAW_RATE=$(field submits_per_s "$line")
	SLURM_RAW_CONNECTS=$(field connects "$line")
	slurm_clear
}

# slurm_done T0 WHAT PREFIX: SLURM_DONE_RATE, of SLURM_N jobs since T0
# (date +%s%N), said as WHAT; checks that squeue shows SLURM_N jobs named
# PREFIX..., then clears the queue.
slurm_done() {
	t1=$(date +%s%N)
	SLURM_DONE_RATE=$(calc "$SLURM_N / (($t1 - $1) / 1e9)")
	say "  $2: $SLURM_DONE_RATE /s"
	n=$(slurm_count "$3")
	[ "$n" -eq "$SLURM_N" ] || die "squeue shows $n $3 jobs, not $SLURM_N"
	slurm_clear
}

# slurm_raw_pair: SLURM_RAW_PAIR_RATE from two bench_slurm at once, half
# the POSTs each: two in flight, as the daemon's two submit lanes.
slurm_raw_pair() {
	h=$((SLURM_N / 2))
	t0=$(date +%s%N)
	"$BENCH_SLURM" "$SLURM_URL/slurm/$SLURM_API/job/submit" root \
		"$SLURM_DIR/token" "$WORK/slurm-body.json" "$h" \
		> "$WORK/slurm-pair.out" &
	CHILD_PID=$!
	"$BENCH_SLURM" "$SLURM_URL/slurm/$SLURM_API/job/submit" root \
		"$SLURM_DIR/token" "$WORK/slurm-body.json" "$((SLURM_N - h))" \
		> /dev/null || die "bench_slurm"
	wait "$CHILD_PID" || { CHILD_PID=""; die "bench_slurm"; }
	CHILD_PID=""
	slurm_done "$t0" "raw slurmrestd, two at once" bench-raw
	SLURM_RAW_PAIR_RATE=$SLURM_DONE_RATE
}

cat > "$WORK/wait_job_id.py" <<'PY'
# wait_job_id.py STATUS_JSON TIMEOUT_S: reads STATUS_JSON (open, read,
# close) every 10 ms until its provider_job_id is set; prints the
# CLOCK_REALTIME in ns of that read (exit 1 on timeout).
import json, sys, time
path, timeout = sys.argv[1], float(sys.argv[2])
deadline = time.monotonic() + timeout
while True:
    try:
        with open(path) as f:
            if json.load(f).get("provider_job_id"):
                print(time.time_ns())
                sys.exit(0)
    except (OSError, ValueError):
        pass
    if time.monotonic() > deadline:
        sys.exit(1)
    time.sleep(0.01)
PY

cat > "$WORK/job_ids.py" <<'PY'
# job_ids.py RUNS_DIR PREFIX N: prints how many distinct provider_job_id
# the runs PREFIX0..PREFIX<N-1> have.
import json, sys
d, prefix, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
ids = set()
for i in range(n):
    with open("%s/%s%d/status.json" % (d, prefix, i)) as f:
        j = json.load(f).get("provider_job_id")
    if j:
        ids.add(j)
print(len(ids))
PY

cat > "$WORK/slurm_files.py" <<'PY'
# slurm_files.py PROVIDER_JSON WORK: from the provider config slurm-up
# printed, the daemon's config (that provider, its default slots), the
# run's config, the raw POST body and the sbatch script: all the same job,
# `sleep 600`, so that every job stays pending or running. Prints the
# provider's url, api_version and partition.
import json, sys
prov, work = json.load(open(sys.argv[1])), sys.argv[2]
json.dump({"poll_interval_ms": 500, "providers": {"slurm": prov}},
          open(work + "/daemon-slurm.json", "w"))
json.dump({"provider": "slurm", "command": ["sleep", "600"]},
          open(work + "/slurm-run.json", "w"))
# padded to the size of trainfs's wrapper script (about 4 KB here)
script = "#!/bin/sh\n# " + "x" * 4000 + "\nexec sleep 600\n"
open(work + "/slurm-job.sh", "w").write(script)
jobs = work + "/slurm/jobs"
body = {"script": script, "job": {
    "name": "bench-raw", "comment": "bench raw",
    "partition": prov["partition"], "current_working_directory": jobs,
    "standard_output": jobs + "/raw.out", "standard_error": jobs + "/raw.out",
    "environment": {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:"
                            "/usr/bin:/sbin:/bin"},
    "tasks": 1, "cpus_per_task": 1, "requeue": False}}
json.dump(body, open(work + "/slurm-body.json", "w"))
print(prov["url"], prov["api_version"], prov["partition"])
PY

# status_value FILE KEY: the value of a "KEY: value" or "KEY value" line.
status_value() { sed -n "s/^$2:\{0,1\} //p" "$1" | head -n 1; }

# slurm_sbatch: SLURM_SBATCH_RATE from SLURM_N sbatch calls in a loop.
slurm_sbatch() {
	t0=$(date +%s%N)
	i=0
	while [ $i -lt "$SLURM_N" ]; do
		slurm_cmd sbatch -Q -p "$SLURM_PART" -J bench-sbatch \
			-o "$SLURM_DIR/jobs/sbatch.out" "$WORK/slurm-job.sh" ||
			die "sbatch $i failed"
		i=$((i + 1))
	done
	slurm_done "$t0" sbatch bench-sbatch
	SLURM_SBATCH_RATE=$SLURM_DONE_RATE
}

# slurm_status_reads: SLURM_<WHAT>_{MED,P99,MAX} from the probe's status.
slurm_status_reads() {
	line=$("$BENCH_READ" -p "$SLURM_READ_PAUSE_US" "$SL_PROBE/status" \
		"$SLURM_READ_N") || die "bench_read of the probe's status"
	say "  status reads ($2): $line"
	eval "SLURM_$1_MED=\$(field median_us \"\$line\")"
	eval "SLURM_$1_P99=\$(field p99_us \"\$line\")"
	eval "SLURM_$1_MAX=\$(field max_us \"\$line\")"
}

# slurm_mount: SLURM_MOUNT_* from SLURM_N runs submitted through the mount.
slurm_mount() {
	SL_RUNS=$MNT_S/experiments/sl/runs
	SL_LAST=$SL_RUNS/s$((SLURM_N - 1))
	python3 "$WORK/wait_job_id.py" "$SL_LAST/status.json" 300 \
		> "$WORK/slurm-last.out" &
	POLL_PID=$!
	t0=$(date +%s%N)
	line=$("$BENCH_SUBMIT" -p s "$SL_RUNS" "$SLURM_N" \
		"$WORK/slurm-run.json") || die "bench_submit of $SLURM_N Slurm runs"
	t1=$(date +%s%N)
	wait "$POLL_PID" || { POLL_PID=""; die "$SL_LAST had no job id in 300 s"; }
	POLL_PID=""
	t2=$(cat "$WORK/slurm-last.out")
	say "  bench_submit: $line"
	SLURM_CLOSE_S=$(calc "($t1 - $t0) / 1e9")
	SLURM_MOUNT_S=$(calc "($t2 - $t0) / 1e9")
	SLURM_MOUNT_RATE=$(calc "$SLURM_N / $SLURM_MOUNT_S")
	say "  every run closed after $SLURM_CLOSE_S s, the last job id after" \
		"$SLURM_MOUNT_S s: $SLURM_MOUNT_RATE /s"
	n=$(python3 "$WORK/job_ids.py" "$SL_RUNS" s "$SLURM_N") ||
		die "reading the runs' status.json"
	[ "$n" -eq "$SLURM_N" ] || die "$n of $SLURM_N runs have a job id"
	n=$(slurm_count trainfs-)
	[ "$n" -eq "$SLURM_N" ] || die "squeue shows $n trainfs jobs, not $SLURM_N"
}

# slurm_requests: SLURM_REQ* over SLURM_WATCH_S, once the provider counts
# the SLURM_N jobs (and 2 s more, so that a poll has seen them all).
slurm_requests() {
	SL_PST=$MNT_S/providers/slurm/status
	wait_grep "^jobs: $SLURM_N/" "$SL_PST" 300 \
		"the provider does not count $SLURM_N jobs within 30 s"
	sleep 2
	cp "$SL_PST" "$WORK/slurm-st0"
	cp "$MNT_S/scheduler" "$WORK/slurm-sc0"
	sleep "$SLURM_WATCH_S"
	cp "$SL_PST" "$WORK/slurm-st1"
	cp "$MNT_S/scheduler" "$WORK/slurm-sc1"
	SLURM_REQ_LAST=$(status_value "$WORK/slurm-st1" requests_last_poll)
	SLURM_REQ=$(( $(status_value "$WORK/slurm-st1" requests) - \
		$(status_value "$WORK/slurm-st0" requests) ))
	SLURM_PASSES=$(( $(status_value "$WORK/slurm-sc1" passes) - \
		$(status_value "$WORK/slurm-sc0" passes) ))
	[ "$SLURM_PASSES" -gt 0 ] || die "no poll pass in $SLURM_WATCH_S s"
	SLURM_REQ_PER=$(calc "$SLURM_REQ / $SLURM_PASSES")
	say "  $SLURM_REQ requests in $SLURM_PASSES passes over" \
		"$SLURM_WATCH_S s; last poll: $SLURM_REQ_LAST"
}

# slurm_mount_pass K: a daemon on a fresh state, SLURM_N runs through it
# (slurm_mount); the first pass also reads a probe's status before and
# after, and counts the requests per poll, with the SLURM_N active.
slurm_mount_pass() {
	STATE_S=$WORK/state-slurm$1
	MNT_S=$WORK/mnt-slurm$1
	DAEMON_CONF=$WORK/daemon-slurm.json
	start_trainfs "$STATE_S" "$MNT_S" "$WORK/trainfs-slurm.log"
	DAEMON_CONF=$WORK/daemon.json
	mkdir "$MNT_S/experiments/probe" "$MNT_S/experiments/sl"
	SL_PROBE=$MNT_S/experiments/probe/runs/probe
	mkdir "$SL_PROBE"
	[ "$1" -eq 1 ] && slurm_status_reads FLOOR "no Slurm job"
	slurm_mount
	if [ "$1" -eq 1 ]; then
		slurm_requests
		slurm_status_reads BUSY "$SLURM_N Slurm jobs active"
		grep -q "^jobs: $SLURM_N/" "$SL_PST" ||
			die "the $SLURM_N runs were not all active during the reads"
	fi
	slurm_clear
	stop_trainfs
}

# measure_slurm: sets SLURM_* (or SLURM_SKIP, the reason) from one cluster:
# SLURM_N sbatch calls, then SLURM_N raw POSTs and SLURM_N runs through
# the mount, twice in turn (the better of each kept), SLURM_N raw POSTs two
# at a time.
measure_slurm() {
	say "(8) Slurm: $SLURM_N submissions each way, then polls and status" \
		"reads with $SLURM_N jobs active"
	SLURM_SKIP=""
	SLURM_DIR=$WORK/slurm
	# slurmrestd runs as nobody and reads the cluster's slurm.conf
	chmod o+x "$WORK"
	if ! SLURM_PORT_BASE=$SLURM_BASE sh "$TOP/tools/slurm-up" "$SLURM_DIR" \
		> "$WORK/slurm-provider.json" 2> "$WORK/slurm-up.out"; then
		SLURM_SKIP="the cluster did not start ($(grep '^slurm-up:' \
			"$WORK/slurm-up.out" | tail -n 1 | sed 's/; last lines.*//' |
			cut -c1-200))"
		say "  SKIP: $SLURM_SKIP"
		sh "$TOP/tools/slurm-down" "$SLURM_DIR"
		SLURM_DIR=""
		return 0
	fi
	SLURM_VER=$(slurm_cmd sinfo -V 2>/dev/null | sed 's/^slurm //')
	line=$(python3 "$WORK/slurm_files.py" "$WORK/slurm-provider.json" \
		"$WORK") || die "cannot write the Slurm configs"
	SLURM_URL=${line%% *}
	line=${line#* }
	SLURM_API=${line%% *}
	SLURM_PART=${line#* }

	# untimed: slurmctld's first jobs after its start cost it more
	say "  warm-up: 50 raw POSTs"
	"$BENCH_SLURM" "$SLURM_URL/slurm/$SLURM_API/job/submit" root \
		"$SLURM_DIR/token" "$WORK/slurm-body.json" 50 > /dev/null ||
		die "bench_slurm (warm-up)"
	slurm_clear
	say "  sbatch in a shell loop"
	slurm_sbatch
	say "  raw slurmrestd POSTs, first pass"
	slurm_raw
	SLURM_RAW1=$SLURM_RAW_RATE
	say "  through the mount, first pass (and the polls and reads)"
	slurm_mount_pass 1
	SLURM_MOUNT1=$SLURM_MOUNT_RATE
	say "  raw slurmrestd POSTs, second pass"
	slurm_raw
	SLURM_RAW2=$SLURM_RAW_RATE
	say "  through the mount, second pass"
	slurm_mount_pass 2
	SLURM_MOUNT2=$SLURM_MOUNT_RATE
	SLURM_RAW=$SLURM_RAW1
	if holds "$SLURM_RAW2 > $SLURM_RAW1"; then SLURM_RAW=$SLURM_RAW2; fi
	if holds "$SLURM_MOUNT1 > $SLURM_MOUNT_RATE"; then
		SLURM_MOUNT_RATE=$SLURM_MOUNT1
	fi
	say "  raw slurmrestd POSTs, two connections at once"
	slurm_raw_pair
	sh "$TOP/tools/slurm-down" "$SLURM_DIR"
	SLURM_DIR=""
}

# slurm_rows: measure 8's rows of the table.
slurm_rows() {
	if [ -n "$SLURM_SKIP" ]; then
		for m in "$SLURM_N submissions through the mount" \
			"HTTP requests per poll pass, $SLURM_N jobs active" \
			"status open+read+close, $SLURM_N jobs active"; do
			row "Slurm: $m" "SKIP" "SKIP: $SLURM_SKIP" "—" "—" "—"
		done
		return 0
	fi
	row "Slurm: $SLURM_N submissions through the mount, first mkdir to the last job id" \
		"$(fmt "$SLURM_MOUNT_RATE" '%.0f /s')" \
		"$(fmt "$SLURM_RAW" '%.0f /s') (raw slurmrestd POSTs, one keep-alive connection)" \
		"$(ratio "$SLURM_MOUNT_RATE" "$SLURM_RAW")" "≥ 0.9x raw" \
		"$(yesno "$SLURM_MOUNT_RATE >= 0.9 * $SLURM_RAW")"
	row "Slurm: $SLURM_N submissions through the mount vs raw, two POSTs in flight" \
		"$(fmt "$SLURM_MOUNT_RATE" '%.0f /s')" \
		"$(fmt "$SLURM_RAW_PAIR_RATE" '%.0f /s') (two bench_slurm at once, $((SLURM_N / 2)) each)" \
		"$(ratio "$SLURM_MOUNT_RATE" "$SLURM_RAW_PAIR_RATE")" "(info)" "—"
	row "Slurm: $SLURM_N submissions through the mount vs sbatch" \
		"$(fmt "$SLURM_MOUNT_RATE" '%.0f /s')" \
		"$(fmt "$SLURM_SBATCH_RATE" '%.0f /s') ($SLURM_N sbatch in a shell loop)" \
		"$(ratio "$SLURM_MOUNT_RATE" "$SLURM_SBATCH_RATE")" "(info)" "—"
	row "Slurm: HTTP requests per poll pass, $SLURM_N jobs active" \
		"$(fmt "$SLURM_REQ_PER" '%.2f') ($SLURM_REQ in $SLURM_PASSES passes; last poll: $SLURM_REQ_LAST)" \
		"—" "—" "1" \
		"$(yesno "$SLURM_REQ_PER <= 1 && $SLURM_REQ_LAST <= 1")"
	row "Slurm: status open+read+close, $SLURM_N jobs active, median" \
		"$(fmt "$SLURM_BUSY_MED" '%.1f µs')" \
		"$(fmt "$SLURM_FLOOR_MED" '%.1f µs') (no Slurm job)" \
		"$(ratio "$SLURM_BUSY_MED" "$SLURM_FLOOR_MED")" "≤ 1.5x none" \
		"$(yesno "$SLURM_BUSY_MED <= 1.5 * $SLURM_FLOOR_MED")"
	row "Slurm: status open+read+close, $SLURM_N jobs active, p99" \
		"$(fmt "$SLURM_BUSY_P99" '%.1f µs')" \
		"$(fmt "$SLURM_FLOOR_P99" '%.1f µs') (no Slurm job)" \
		"$(ratio "$SLURM_BUSY_P99" "$SLURM_FLOOR_P99")" "≤ 1.5x none" \
		"$(yesno "$SLURM_BUSY_P99 <= 1.5 * $SLURM_FLOOR_P99")"
}

# slurm_how: measure 8's paragraphs of "How measured".
slurm_how() {
	if [ -n "$SLURM_SKIP" ]; then
		echo "**Slurm.** Skipped: $SLURM_SKIP."
		return 0
	fi
	cat <<EOF
**Slurm.** One cluster for the whole measure: \`tools/slurm-up\` (Slurm
$SLURM_VER, one node on loopback, slurmrestd with JWT, ports from
$SLURM_BASE), stopped by \`tools/slurm-down\` at the end or on any failure.
Every job is \`sleep 600\`, so that all $SLURM_N stay pending or running (the
node runs a few at a time); between two measures every job is cancelled
(\`scancel -u root\`) and the next begins a second after squeue is empty
(the first after 50 untimed POSTs). Order: sbatch, raw, mount, raw, mount,
raw two at a time; the better of the two raw passes and of the two mount
passes are compared (the cluster's speed drifts over the run: it keeps
the cancelled jobs for MinJobAge, and the machine is shared; alternating
gives both sides the same). The reference is \`tools/bench_slurm\`: $SLURM_N POSTs of one job body
(a 4 KB script, the size of trainfs's wrapper, and the job fields trainfs
sends) to \`job/submit\`, one after another over one keep-alive connection
of libcurl (connections opened: $SLURM_RAW_CONNECTS), each checked for a 200 with a job_id
($(fmt "$SLURM_RAW1" '%.0f') and $(fmt "$SLURM_RAW2" '%.0f') /s). The daemon keeps two POSTs in flight (two
submit lanes, two keep-alive connections), so the information row beside
it is two \`bench_slurm\` at once, $((SLURM_N / 2)) POSTs each, timed together. The
sbatch row is $SLURM_N \`sbatch -Q\` of the same script in a shell loop.
Through the mount, a daemon whose only provider is the cluster
(poll_interval_ms 500) gets $SLURM_N runs from
\`tools/bench_submit\` (mkdir, write and close of a config.json with
\`"provider": "slurm"\`, what \`cp\` does); the clock runs from just before
the first mkdir until a reader polling the last run's \`status.json\` every
10 ms sees its \`provider_job_id\`. The runs go to Slurm in their order, one
POST each, two at a time, and the job ids of a pass's runs are recorded
together once slurmrestd answered all of them, after those of the earlier
passes: so the clock stops when Slurm holds all $SLURM_N and trainfs knows
their ids (checked after: $SLURM_N runs with distinct job ids, $SLURM_N
trainfs jobs in squeue), on a fresh state each pass ($(fmt "$SLURM_MOUNT1" '%.0f') and
$(fmt "$SLURM_MOUNT2" '%.0f') /s; in the second, the last close() returned after $(fmt "$SLURM_CLOSE_S" '%.3f') s and
the last id came after $(fmt "$SLURM_MOUNT_S" '%.3f') s).

In the first pass, with the $SLURM_N jobs in Slurm and counted by the provider, and 2 s more,
\`providers/slurm/status\` and \`scheduler\` are read, and again $SLURM_WATCH_S s
later: the growth of \`requests:\` over that of \`passes\` (a pass polls
once), and \`requests_last_poll\` at the end. The status reads are
\`tools/bench_read -p $SLURM_READ_PAUSE_US\` ($SLURM_READ_N reads, $SLURM_READ_PAUSE_US µs apart) of the \`status\` of one
run left in state created, in an experiment of its own: first before the
$SLURM_N were submitted (the floor; worst $(fmt "$SLURM_FLOOR_MAX" '%.0f') µs), then with the $SLURM_N
active while the daemon polls them (worst $(fmt "$SLURM_BUSY_MAX" '%.0f') µs). Nothing is pinned:
slurmctld, slurmrestd, the daemon and the reader share the CPUs.
EOF
}

# ----------------------------------------------------------- 9. clouds ----
# tools/bench_cloud.sh, through the emulator; its rows, and how
cloud_how() {
	cat <<EOF
**Clouds.** \`tools/bench_cloud.sh\` mounts a daemon whose providers are
tools/cloud-emu's RunPod, Lambda and Vast.ai on loopback (with nginx /dav/
as the run store the jobs' wrappers PUT to), submits ${CLOUD_N:-100} runs, a third to
each (each job sleeps while it is measured), and reads the emulator's own
log of requests: requests per poll is every API request of a provider over
${CLOUD_WATCH_S:-6} s with all the instances running, divided by its list requests (a
poll is one list); the added latency is the mean time of a provider call as
the daemon saw it (\`request_us\` over \`requests\` in
providers/<name>/status) less the emulator's own mean time per request. The
emulator's rate limits are lifted and the daemon paces at 50 requests a
second, so that the daemon's work is measured, not Lambda's one launch per
10 s; the runs are cancelled at the end and no instance may be left billing.
EOF
}
measure_cloud() {
	say "(9) clouds: ${CLOUD_N:-100} runs through cloud-emu"
	TRAINFS="$SRC_TRAINFS" sh "$TOP/tools/bench_cloud.sh" > "$WORK/cloud-rows.md" ||
		die "tools/bench_cloud.sh failed"
}

# `sh tools/bench.sh cloud`: measure 9 alone, into the BENCHMARKS.md there
if [ "$ONLY" = cloud ]; then
	[ -f "$OUT" ] || die "$OUT is missing: run the whole bench once first"
	measure_cloud
	cloud_how > "$WORK/cloud-how.md"
	splice_section "$WORK/cloud-rows.md" "$WORK/cloud-how.md" "| Cloud: " \
		"| Slurm: "
	say "wrote measure 9 into $OUT"
	exit 0
fi

# ----------------------------------------------------------- 10. sweeps ----
sweep_how() {
	cat <<EOF
**Sweeps.** \`tools/bench_sweep.sh\` mounts a daemon with one local
provider and runs, for Branin (2-D, minimum 0.397887) and Hartmann-6 (6-D,
minimum -3.32237), a sweep of ${SWEEP_TRIALS:-100} trials per method (random, TPE) and seed
(${SWEEP_SEEDS:-0-9}), one trial at a time as Optuna's \`study.optimize\` runs them, eight
sweeps at once; each trial is a real job of the mount, \`python3
tools/objectives.py FUNCTION X...\`, whose printed \`{"value": ...}\` is the
objective. Optuna's TPESampler(seed) with its defaults runs the same
functions, trials and seeds in process (tools/optuna_peer.py, Optuna from
PyPI in build/venv). Reported: the median over the seeds of the best value
within the first 20, 50 and 100 trials, and its regret (best less the known
minimum); the ratio is trainfs's regret over Optuna's. The JSON lines and
tools/search_table.py's table are kept in build/sweep/. Trials per second:
a sweep of ${SWEEP_FAST_N:-200} trials of \`sh -c echo\` at parallelism 8, from the
write of sweep.json to its completed state, against the same ${SWEEP_FAST_N:-200} jobs
submitted as plain runs at once into the same 8 slots and waited for.
EOF
}
measure_sweep() {
	say "(10) sweeps: Branin and Hartmann-6 beside Optuna, instant trials"
	TRAINFS="$SRC_TRAINFS" sh "$TOP/tools/bench_sweep.sh" > "$WORK/sweep-rows.md" ||
		die "tools/bench_sweep.sh failed"
}

# `sh tools/bench.sh sweep`: measure 10 alone, into the BENCHMARKS.md there
if [ "$ONLY" = sweep ]; then
	[ -f "$OUT" ] || die "$OUT is missing: run the whole bench once first"
	measure_sweep
	sweep_how > "$WORK/sweep-how.md"
	splice_section "$WORK/sweep-rows.md" "$WORK/sweep-how.md" "| Sweep: " \
		"| Cloud: "
	say "wrote measure 10 into $OUT"
	exit 0
fi

# ----------------------------------------------------- 11. MLflow export ----
mlflow_how() {
	cat <<EOF
**MLflow export.** \`tools/bench_mlflow.sh\` starts \`mlflow server\` (MLflow
from PyPI in build/venv, SQLite backend, \`--serve-artifacts\`, one worker)
on a loopback port and mounts a daemon whose config exports to it every
100 ms. One run prints ${MLFLOW_POINTS:-100000} metric points (${MLFLOW_KEYS:-4} keys) at once; the
rate is the points over the time from the write of its config.json to the
export's status counting them all sent: the daemon's scan of the run's
output and the status reads below share the CPUs with the server
meanwhile, which the client's measure does not have.
The reference is MLflow's own Python client (\`MlflowClient.log_batch\`, 1000
points a call, MLflow's limit) logging the same points into a run of the
same server in the same bench run. The backlog row: the same points stored
while the daemon's export pointed at a closed port, then the daemon started
again pointing at the server, timed from that start to the last point sent.
\`cat status\` latency: tools/bench_read
(open+read+close, 200 us apart) of an ended run's status during that
export, against the same reads of the same mount before it, with no export
running. Without MLflow (no PyPI) the rows say SKIP and why.
EOF
}
measure_mlflow() {
	say "(11) the MLflow export beside MLflow's own client, status reads"
	TRAINFS="$SRC_TRAINFS" BENCH_READ="$TOP/tools/bench_read" \
		sh "$TOP/tools/bench_mlflow.sh" > "$WORK/mlflow-rows.md" ||
		die "tools/bench_mlflow.sh failed"
}

# `sh tools/bench.sh mlflow`: measure 11 alone, into the BENCHMARKS.md there
if [ "$ONLY" = mlflow ]; then
	[ -f "$OUT" ] || die "$OUT is missing: run the whole bench once first"
	measure_mlflow
	mlflow_how > "$WORK/mlflow-how.md"
	splice_section "$WORK/mlflow-rows.md" "$WORK/mlflow-how.md" \
		"| MLflow export: " "| Sweep: "
	say "wrote measure 11 into $OUT"
	exit 0
fi

# `sh tools/bench.sh slurm`: measure 8 alone, into the BENCHMARKS.md there
if [ "$ONLY" = slurm ]; then
	[ -f "$OUT" ] || die "$OUT is missing: run the whole bench once first"
	measure_slurm
	slurm_rows > "$WORK/slurm-rows.md"
	slurm_how > "$WORK/slurm-how.md"
	splice_section "$WORK/slurm-rows.md" "$WORK/slurm-how.md" "| Slurm: " \
		"| status open+read+close during a flood"
	say "wrote measure 8 into $OUT"
	exit 0
fi

# ------------------------------------------- 1. status read vs floorfs ----

say "(1) status read latency: floorfs vs trainfs, $READ_N reads per pass"
mkdir -p "$FLOOR_MNT"
# shellcheck disable=SC2086
$PIN_D "$FLOORFS" -f "$FLOOR_MNT" 2>>"$WORK/floorfs.log" &
FLOOR_PID=$!
wait_mount "$FLOOR_MNT" "$FLOOR_PID" 100 || die "floorfs did not mount"

STATE_A=$WORK/state-a
MNT_A=$WORK/mnt-a
start_trainfs "$STATE_A" "$MNT_A" "$WORK/trainfs-a.log" "$PIN_D"
mkdir "$MNT_A/experiments/rd"
mkdir "$MNT_A/experiments/rd/runs/r"
cp "$WORK/config.json" "$MNT_A/experiments/rd/runs/r/config.json"
RD_STATUS=$MNT_A/experiments/rd/runs/r/status
RD_STATE=$(cat "$RD_STATUS")
case "$RD_STATE" in
created|queued) ;;
*) die "the read benchmark's run is '$RD_STATE', not created or queued" ;;
esac

RD_F1=$(bench_read_median "$FLOOR_MNT/status")
RD_T1=$(bench_read_median "$RD_STATUS")
RD_F2=$(bench_read_median "$FLOOR_MNT/status")
RD_T2=$(bench_read_median "$RD_STATUS")
READ_FLOOR=$(min2 "$RD_F1" "$RD_F2")
READ_TFS=$(min2 "$RD_T1" "$RD_T2")
unmount "$FLOOR_MNT"
end_pid "$FLOOR_PID"
FLOOR_PID=""
stop_trainfs

# ------------------------------------------------ 3. submissions per s ----
# (on the state of 1, before the store of 2 and 4 exists; no pinning)

say "(3) submissions: $SUBMIT_N into a plain dir on $TMP_FS, then into trainfs"
mkdir -p "$WORK/plain/runs"
line=$("$BENCH_SUBMIT" -p s "$WORK/plain/runs" "$SUBMIT_N" "$WORK/config.json") \
	|| die "bench_submit into a plain directory"
say "  plain dir: $line"
SUB_PLAIN=$(field submits_per_s "$line")
start_trainfs "$STATE_A" "$MNT_A" "$WORK/trainfs-a.log"
mkdir "$MNT_A/experiments/sub"
line=$("$BENCH_SUBMIT" -p s "$MNT_A/experiments/sub/runs" "$SUBMIT_N" "$WORK/config.json") \
	|| die "bench_submit into trainfs"
say "  trainfs:   $line"
SUB_TFS=$(field submits_per_s "$line")
n=$(ls "$MNT_A/experiments/sub/runs" | wc -l)
[ "$n" -eq "$SUBMIT_N" ] || die "trainfs lists $n runs after $SUBMIT_N submits"
st=$(cat "$MNT_A/experiments/sub/runs/s$((SUBMIT_N - 1))/status")
[ "$st" = queued ] || die "last submitted run is '$st', not queued"
stop_trainfs

# ------------------------------------------ 2. ls -l of 10,000 runs -------

say "(2) ls -l of $LS_RUNS entries: tmpfs vs trainfs"
mkdir -p "$TMPFS_DIR"
mount -t tmpfs -o size=64m,mode=0755 bench-tmpfs "$TMPFS_DIR"
python3 "$WORK/mkdirs.py" "$TMPFS_DIR" 0 1 "$LS_RUNS" >/dev/null
line=$(python3 "$WORK/timels.py" "$TMPFS_DIR" 1 "$LS_REPEAT")
say "  tmpfs:         $line"
LS_TMPFS=$(field median_ms "$line")
umount "$TMPFS_DIR"

STATE_B=$WORK/state-b
MNT_B=$WORK/mnt-b
start_trainfs "$STATE_B" "$MNT_B" "$WORK/trainfs-b.log"
say "  creating $LS_RUNS runs in e0 (os.mkdir)"
bg "$WORK/mkdirs.out" python3 "$WORK/mkdirs.py" "$MNT_B/experiments" 0 1 \
	"$LS_RUNS" "$TFS_PID" || die "creating $LS_RUNS runs"
line=$(cat "$WORK/mkdirs.out")
MKDIR_RATE=$(field mkdir_per_s "$line")
n=$(ls "$MNT_B/experiments/e0/runs" | wc -l)
[ "$n" -eq "$LS_RUNS" ] || die "trainfs lists $n runs, not $LS_RUNS"
stop_trainfs
start_trainfs "$STATE_B" "$MNT_B" "$WORK/trainfs-b.log"
line=$(python3 "$WORK/timels.py" "$MNT_B/experiments/e0/runs" 0 1)
say "  trainfs cold:  $line"
LS_COLD=$(field median_ms "$line")
line=$(python3 "$WORK/timels.py" "$MNT_B/experiments/e0/runs" 1 "$LS_REPEAT")
say "  trainfs warm:  $line"
LS_TFS=$(field median_ms "$line")

# ------------------------------------- 4. RSS and restart, 100,000 runs ---

say "(4) reference: RSS and start time with an empty store"
STATE_E=$WORK/state-empty
MNT_E=$WORK/mnt-empty
stop_trainfs
start_trainfs "$STATE_E" "$MNT_E" "$WORK/trainfs-empty.log"
mkdir "$MNT_E/experiments/e0"
mkdir "$MNT_E/experiments/e0/runs/r0"
stop_trainfs
timed_start "$STATE_E" "$MNT_E" "$WORK/trainfs-empty.log" \
	"$MNT_E/experiments/e0/runs/r0/status"
START_EMPTY=$START_MS
ls -l "$MNT_E/experiments/e0/runs" >/dev/null
RSS_EMPTY=$(rss_kb "$TFS_PID")
say "  start ${START_EMPTY} ms, VmRSS ${RSS_EMPTY} kB"
stop_trainfs

BIG=$((BIG_EXPS * BIG_PER))
say "(4) creating $BIG runs ($BIG_EXPS experiments of $BIG_PER; e0 exists)"
start_trainfs "$STATE_B" "$MNT_B" "$WORK/trainfs-b.log"
bg "$WORK/mkdirs.out" python3 "$WORK/mkdirs.py" "$MNT_B/experiments" 1 \
	$((BIG_EXPS - 1)) "$BIG_PER" "$TFS_PID" || die "creating $BIG runs"
line=$(cat "$WORK/mkdirs.out")
say "  $line"
RSS_BEFORE=$(rss_kb "$TFS_PID")
stop_trainfs
say "(4) restart with $BIG runs in the store"
timed_start "$STATE_B" "$MNT_B" "$WORK/trainfs-b.log" \
	"$MNT_B/experiments/e0/runs/r0/status"
START_BIG=$START_MS
RSS_READY=$(rss_kb "$TFS_PID")
say "  ready in ${START_BIG} ms, VmRSS ${RSS_READY} kB; listing every runs dir"
total=0
k=0
while [ $k -lt "$BIG_EXPS" ]; do
	n=$(ls -l "$MNT_B/experiments/e$k/runs" | grep -c '^d' || true)
	total=$((total + n))
	k=$((k + 1))
done
[ "$total" -eq "$BIG" ] || die "trainfs lists $total runs after restart, not $BIG"
RSS_BIG=$(rss_kb "$TFS_PID")
HWM_BIG=$(hwm_kb "$TFS_PID")
DB_KB=$(du -sk "$STATE_B" | cut -f1)
say "  VmRSS ${RSS_BIG} kB (peak ${HWM_BIG} kB), state dir ${DB_KB} kB"
stop_trainfs

# ------------------------------- 5, 6. a 1 GiB artifact from nginx -------
# (a fresh state, a daemon that runs jobs, and a private nginx serving the
# runs' output directories, as in tests/fs/t_artifacts.sh; no pinning)

# ms_between T0 T1: the ms (one decimal) between two `date +%s%N`.
ms_between() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f\n", (b - a) / 1e6 }'; }

# cat_ms FILE: ms of `cat FILE > /dev/null`.
cat_ms() {
	t0=$(date +%s%N)
	cat "$1" > /dev/null || die "cat $1"
	t1=$(date +%s%N)
	ms_between "$t0" "$t1"
}

# curl_ms URL SHA: ms of `curl -s URL | sha256sum`, which must print SHA.
curl_ms() {
	t0=$(date +%s%N)
	sum=$(curl -s "$1" | sha256sum)
	t1=$(date +%s%N)
	[ "${sum%% *}" = "$2" ] || die "curl $1 | sha256sum gave ${sum%% *}, not $2"
	ms_between "$t0" "$t1"
}

# mbps MS: MB/s (10^6 bytes) of reading ART_BYTES in MS milliseconds.
mbps() { calc "$ART_BYTES / 1e6 / ($1 / 1000)"; }
# median VALUES...
median() { printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
# drop_caches: writes back, then drops the page cache, dentries and inodes.
drop_caches() { sync && echo 3 > /proc/sys/vm/drop_caches; }
# xattr FILE NAME
xattr() {
	python3 -c 'import os, sys; print(os.getxattr(sys.argv[1], sys.argv[2]).decode())' "$1" "$2"
}

say "(5) cold read of a $ART_BYTES-byte artifact from a loopback nginx"
STATE_C=$WORK/state-art
MNT_C=$WORK/mnt-art
mkdir -p "$STATE_C/runs"
nginx_start "$STATE_C/runs" || die "cannot start nginx"
cat > "$WORK/daemon-art.json" <<JSON
{"poll_interval_ms": 100,
 "providers": {"local": {"type": "local",
   "slots": {"cpus": 2, "max_jobs": 1},
   "artifact_root": "$STATE_C/runs", "artifact_base_url": "$NGINX_URL/"}}}
JSON
DAEMON_CONF=$WORK/daemon-art.json
DAEMON_OPTS="-o cache_size=$ART_CACHE"
start_trainfs "$STATE_C" "$MNT_C" "$WORK/trainfs-art.log"
mkdir "$MNT_C/experiments/art"
ART_RUN=$MNT_C/experiments/art/runs/big
mkdir "$ART_RUN"
# the job records its pid (so that cleanup can end it), then becomes head
# shellcheck disable=SC2016 # $$ and $TRAINFS_OUTPUT_DIR are the job's
printf '{"command": ["sh", "-c", "echo $$ > %s; exec head -c %s /dev/urandom > \\"$TRAINFS_OUTPUT_DIR/model.bin\\""]}\n' \
	"$ART_JOB_PID" "$ART_BYTES" > "$ART_RUN/config.json"
bg "$WORK/art-wait.out" cat "$ART_RUN/wait" || die "reading $ART_RUN/wait"
st=$(cat "$WORK/art-wait.out")
[ "$st" = completed ] || die "the artifact's run ended '$st', not completed"
wait_grep "artifacts: 1 files" "$ART_RUN/events" 1200 \
	"no manifest of 1 file within 120 s"
ART_UUID=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["run_id"])' \
	"$ART_RUN/status.json")
ART=$ART_RUN/artifacts/model.bin
ART_SRC=$STATE_C/runs/$ART_UUID/attempt-1/output/model.bin
ART_URL=$NGINX_URL/$ART_UUID/attempt-1/output/model.bin
[ -f "$ART_SRC" ] || die "the job's output $ART_SRC is missing"
n=$(stat -c %s "$ART")
[ "$n" -eq "$ART_BYTES" ] || die "artifacts/model.bin is $n bytes, not $ART_BYTES"
ART_SHA=$(xattr "$ART" user.sha256)
st=$(xattr "$ART" user.trainfs.state)
[ "$st" = remote ] || die "artifacts/model.bin is '$st' before the first read"
ART_CACHE_FILE=$STATE_C/cache/$ART_SHA
say "  run $ART_UUID, sha256 $ART_SHA"

REF1_MS=$(curl_ms "$ART_URL" "$ART_SHA")
say "  curl | sha256sum: $REF1_MS ms"
COLD_MS=$(cat_ms "$ART")
say "  trainfs cold cat: $COLD_MS ms"
REF2_MS=$(curl_ms "$ART_URL" "$ART_SHA")
say "  curl | sha256sum: $REF2_MS ms"
REF_MS=$(min2 "$REF1_MS" "$REF2_MS")
st=$(xattr "$ART" user.trainfs.state)
[ "$st" = verified ] || die "artifacts/model.bin is '$st' after a read"
n=$(stat -c %s "$ART_CACHE_FILE")
[ "$n" -eq "$ART_BYTES" ] || die "the cache file is $n bytes, not $ART_BYTES"
n=$(grep -c "^GET /$ART_UUID/attempt-1/output/model.bin 200 " "$NGINX_DIR/access.log" || true)
[ "$n" -eq 3 ] || die "nginx served model.bin $n times, not 3 (2 curl, 1 trainfs)"
COLD_MBPS=$(mbps "$COLD_MS")
REF_MBPS=$(mbps "$REF_MS")

say "(6) warm reads: through the mount vs the cache file, $ART_REPEAT each"
cat_ms "$ART" > /dev/null
cat_ms "$ART_CACHE_FILE" > /dev/null
WARM_T=""
WARM_D=""
k=0
while [ $k -lt "$ART_REPEAT" ]; do
	t=$(cat_ms "$ART")
	d=$(cat_ms "$ART_CACHE_FILE")
	WARM_T="$WARM_T $t"
	WARM_D="$WARM_D $d"
	k=$((k + 1))
done
# shellcheck disable=SC2086 # lists of numbers
WARM_T_MS=$(median $WARM_T)
# shellcheck disable=SC2086
WARM_D_MS=$(median $WARM_D)
say "  mount:$WARM_T ms; cache file:$WARM_D ms"
WARM_T_MBPS=$(mbps "$WARM_T_MS")
WARM_D_MBPS=$(mbps "$WARM_D_MS")

DROP_T=""
DROP_D=""
if (drop_caches) 2>/dev/null; then
	say "(6) reads with the page cache dropped before each, $ART_REPEAT each"
	k=0
	while [ $k -lt "$ART_REPEAT" ]; do
		drop_caches
		t=$(cat_ms "$ART")
		drop_caches
		d=$(cat_ms "$ART_CACHE_FILE")
		DROP_T="$DROP_T $t"
		DROP_D="$DROP_D $d"
		k=$((k + 1))
	done
	# shellcheck disable=SC2086
	DROP_T_MS=$(median $DROP_T)
	# shellcheck disable=SC2086
	DROP_D_MS=$(median $DROP_D)
	say "  mount:$DROP_T ms; cache file:$DROP_D ms"
	DROP_T_MBPS=$(mbps "$DROP_T_MS")
	DROP_D_MBPS=$(mbps "$DROP_D_MS")
else
	say "(6) cannot write /proc/sys/vm/drop_caches: that row is n/a"
fi
st=$(xattr "$ART" user.trainfs.state)
[ "$st" = verified ] || die "artifacts/model.bin is '$st' after the reads"
n=$(grep -c "model.bin" "$NGINX_DIR/access.log" || true)
[ "$n" -eq 3 ] || die "nginx got $n requests for model.bin, not 3"

# 5 again: the artifact evicted (daemon stopped, cache file removed), then
# PREFAULT_MB written into a tmpfs that is unmounted at once, so that the
# pages the cold read allocates (part file, FUSE page cache) were just in
# use; skipped when that much memory is not available.
PF_COLD_MS=""
mem_mb=$(awk '/^MemAvailable:/ { print int($2 / 1024) }' /proc/meminfo)
if [ "$mem_mb" -ge $((PREFAULT_MB + 2 * ART_BYTES / 1048576 + 1024)) ]; then
	say "(5) again, guest memory pre-faulted ($PREFAULT_MB MiB through a tmpfs)"
	stop_trainfs
	rm -f "$ART_CACHE_FILE"
	start_trainfs "$STATE_C" "$MNT_C" "$WORK/trainfs-art.log"
	st=$(xattr "$ART" user.trainfs.state)
	[ "$st" = remote ] || die "artifacts/model.bin is '$st' after its eviction"
	mkdir -p "$TMPFS_DIR"
	mount -t tmpfs -o size=${PREFAULT_MB}m,mode=0700 bench-prefault "$TMPFS_DIR"
	t0=$(date +%s%N)
	dd if=/dev/zero of="$TMPFS_DIR/fill" bs=1M count="$PREFAULT_MB" \
		status=none || die "filling the pre-fault tmpfs"
	t1=$(date +%s%N)
	umount "$TMPFS_DIR"
	PF_FILL_MS=$(ms_between "$t0" "$t1")
	PF_COLD_MS=$(cat_ms "$ART")
	say "  filled in $PF_FILL_MS ms; trainfs cold cat: $PF_COLD_MS ms"
	st=$(xattr "$ART" user.trainfs.state)
	[ "$st" = verified ] || die "artifacts/model.bin is '$st' after a read"
	n=$(grep -c "^GET /$ART_UUID/attempt-1/output/model.bin 200 " "$NGINX_DIR/access.log" || true)
	[ "$n" -eq 4 ] || die "nginx served model.bin $n times, not 4"
	PF_COLD_MBPS=$(mbps "$PF_COLD_MS")
else
	say "(5) again: skipped, $mem_mb MiB of memory available"
fi
# shellcheck disable=SC2153 # NGINX_BIN is set by tests/lib/nginx.sh
NGINX_VER=$("$NGINX_BIN" -v 2>&1 | sed 's/^nginx version: //')
CURL_VER=$(curl -V | head -n 1 | cut -d' ' -f1-2)
stop_trainfs
nginx_cleanup || true
rm -f "$ART_SRC" "$ART_CACHE_FILE" "$ART_JOB_PID"
DAEMON_CONF=$WORK/daemon.json
DAEMON_OPTS=""

measure_flood
measure_slurm
measure_cloud
measure_sweep
measure_mlflow

# ------------------------------------------------------------ the report --


RSS_BIG_MB=$(calc "$RSS_BIG / 1024")
RSS_EMPTY_MB=$(calc "$RSS_EMPTY / 1024")
START_BIG_S=$(calc "$START_BIG / 1000")
START_EMPTY_S=$(calc "$START_EMPTY / 1000")

{
	row measure trainfs reference "ratio (trainfs / ref)" goal "met?"
	row --- --- --- --- --- ---
	row "status open+read+close, median" \
		"$(fmt "$READ_TFS" '%.1f µs')" "$(fmt "$READ_FLOOR" '%.1f µs') (floorfs)" \
		"$(ratio "$READ_TFS" "$READ_FLOOR")" "≤ 1.5x floor" \
		"$(yesno "$READ_TFS <= 1.5 * $READ_FLOOR")"
	row "ls -l of $LS_RUNS runs, warm median of $LS_REPEAT" \
		"$(fmt "$LS_TFS" '%.1f ms')" "$(fmt "$LS_TMPFS" '%.1f ms') (tmpfs)" \
		"$(ratio "$LS_TFS" "$LS_TMPFS")" "≤ 3x tmpfs" \
		"$(yesno "$LS_TFS <= 3 * $LS_TMPFS")"
	row "ls -l of $LS_RUNS runs, cold (first after mount)" \
		"$(fmt "$LS_COLD" '%.1f ms')" "$(fmt "$LS_TMPFS" '%.1f ms') (tmpfs, warm)" \
		"$(ratio "$LS_COLD" "$LS_TMPFS")" "(info; 3x for warm)" \
		"$(if holds "$LS_COLD <= 3 * $LS_TMPFS"; then echo "(within 3x)"; else echo "(over 3x)"; fi)"
	row "submissions/s, $SUBMIT_N runs, held queue" \
		"$(fmt "$SUB_TFS" '%.0f /s')" "$(fmt "$SUB_PLAIN" '%.0f /s') (plain dir, $TMP_FS)" \
		"$(ratio "$SUB_TFS" "$SUB_PLAIN")" "(info)" "—"
	row "submissions/s vs Slurm" \
		"$(fmt "$SUB_TFS" '%.0f /s')" "$SLURM_RATE /s (Slurm, validated)" \
		"$(ratio "$SUB_TFS" "$SLURM_RATE")" "≥ $SLURM_RATE /s" \
		"$(yesno "$SUB_TFS >= $SLURM_RATE")"
	row "daemon RSS, $BIG runs, index warm" \
		"$(fmt "$RSS_BIG_MB" '%.1f MB')" "$(fmt "$RSS_EMPTY_MB" '%.1f MB') (empty store: 1 run)" \
		"$(ratio "$RSS_BIG" "$RSS_EMPTY")" "< 200 MB" \
		"$(yesno "$RSS_BIG_MB < 200")"
	row "restart to ready, $BIG runs" \
		"$(fmt "$START_BIG_S" '%.3f s')" "$(fmt "$START_EMPTY_S" '%.3f s') (empty store: 1 run)" \
		"$(ratio "$START_BIG" "$START_EMPTY")" "< 3 s" \
		"$(yesno "$START_BIG_S < 3")"
	row "artifact of 1 GiB, cold read from nginx (cat)" \
		"$(fmt "$COLD_MBPS" '%.0f MB/s')" "$(fmt "$REF_MBPS" '%.0f MB/s') (curl piped to sha256sum, same nginx)" \
		"$(ratio "$COLD_MBPS" "$REF_MBPS")" "≥ 0.8x curl" \
		"$(yesno "$COLD_MBPS >= 0.8 * $REF_MBPS")"
	row "artifact of 1 GiB, warm read (cat), median of $ART_REPEAT" \
		"$(fmt "$WARM_T_MBPS" '%.0f MB/s')" "$(fmt "$WARM_D_MBPS" '%.0f MB/s') (cat of the cache file)" \
		"$(ratio "$WARM_T_MBPS" "$WARM_D_MBPS")" "≥ 0.7x cache file" \
		"$(yesno "$WARM_T_MBPS >= 0.7 * $WARM_D_MBPS")"
	if [ -n "$PF_COLD_MS" ]; then
		row "artifact of 1 GiB, cold read, guest memory pre-faulted" \
			"$(fmt "$PF_COLD_MBPS" '%.0f MB/s')" "$(fmt "$REF_MBPS" '%.0f MB/s') (the same curl reference)" \
			"$(ratio "$PF_COLD_MBPS" "$REF_MBPS")" "(info)" "—"
	else
		row "artifact of 1 GiB, cold read, guest memory pre-faulted" \
			"n/a" "n/a (not enough memory available)" "n/a" "(info)" "—"
	fi
	if [ -n "$DROP_T" ]; then
		row "artifact of 1 GiB, page cache dropped before each read, median of $ART_REPEAT" \
			"$(fmt "$DROP_T_MBPS" '%.0f MB/s')" "$(fmt "$DROP_D_MBPS" '%.0f MB/s') (cat of the cache file)" \
			"$(ratio "$DROP_T_MBPS" "$DROP_D_MBPS")" "(info)" "—"
	else
		row "artifact of 1 GiB, page cache dropped before each read" \
			"n/a" "n/a (drop_caches not permitted)" "n/a" "(info)" "—"
	fi
	flood_rows
	slurm_rows
	cat "$WORK/cloud-rows.md"
	cat "$WORK/sweep-rows.md"
	cat "$WORK/mlflow-rows.md"
} > "$WORK/table.md"

COMMIT=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
# virtio-balloon free page reporting (feature bit 5): free memory goes back
# to the host, and touching it again costs a fault on the host
BALLOON="no virtio balloon"
for d in /sys/bus/virtio/devices/*; do
	[ "$(cat "$d/device" 2>/dev/null)" = 0x0005 ] || continue
	if [ "$(cut -c6 "$d/features" 2>/dev/null)" = 1 ]; then
		BALLOON="virtio-balloon with free page reporting (order $(cat /sys/module/page_reporting/parameters/page_reporting_order 2>/dev/null || echo '?'))"
	else
		BALLOON="virtio-balloon without free page reporting"
	fi
done
if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	COMMIT="$COMMIT (+ uncommitted changes in the working tree)"
fi
# the scheduler's figures, from their own script, same binary
say "scheduler figures (tools/bench_sched.sh)"
TRAINFS="$SRC_TRAINFS" sh "$TOP/tools/bench_sched.sh" >> "$WORK/table.md"
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n 1)
ELAPSED=$(( $(date +%s) - T_START ))

cat > "$WORK/BENCHMARKS.md" <<EOF
# trainfs benchmarks

Written by \`make bench\` (tools/bench.sh); every figure is measured against a
reference taken in the same run on the same machine. Regenerate rather than
edit.

$(cat "$WORK/table.md")

## Machine

- nproc: $(nproc)
- CPU: ${CPU:-unknown}
- kernel: $(uname -r)
- libfuse: $(fusermount3 -V 2>&1 | head -n 1)
- /tmp filesystem: $TMP_FS
- memory: $(awk '/^MemTotal:/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo); $BALLOON
- nginx: $NGINX_VER; curl: $CURL_VER
- date: $(date -u '+%Y-%m-%d %H:%M:%S UTC')
- trainfs commit: $COMMIT
- trainfs binary: ${SRC_TRAINFS#"$TOP"/}, built $BIN_TIME, sha256 $BIN_SUM...
- benchmark wall time: ${ELAPSED} s

## How measured

Each daemon runs in the foreground with a fresh state directory under /tmp and
a config whose only provider, local, has \`max_jobs\` 0, so every submitted job
stays queued and no job process competes for the CPU.

**Status read.** \`tools/bench_read PATH $READ_N\` times open + one read + close
of a file $READ_N times after 100 untimed warm-ups and prints the median. The
trainfs file is the \`status\` of a run that was submitted into the held queue
(state: $RD_STATE); the reference is the \`status\` of \`tools/floorfs\`, a
minimal single-threaded low-level FUSE filesystem serving a constant with the
same direct_io and 1 s cache timeouts. The passes alternate floorfs, trainfs,
floorfs, trainfs, and the better median of each is kept. Medians per pass:
floorfs $RD_F1 / $RD_F2 µs, trainfs $RD_T1 / $RD_T2 µs. $PIN_NOTE floorfs has no flush handler, so
each of its closes costs one round trip less than trainfs's.

**ls -l.** A runs/ directory of $LS_RUNS runs (state created, made with
python3 \`os.mkdir\`, at $(fmt "$MKDIR_RATE" '%.0f') mkdir/s) against a freshly
mounted tmpfs directory holding $LS_RUNS empty subdirectories. Each figure is
the median of $LS_REPEAT runs of \`ls -l DIR > /dev/null\` timed by python3
\`time.perf_counter\` around \`subprocess.run\` (so both include starting
\`ls\`), after one untimed warm-up listing. The cold row is the very first
listing after the daemon was restarted on that store, before any lookup, so
the kernel holds no dentries or attributes of the runs; tmpfs has no cold
state (its dentries are the filesystem), so its warm median is the reference.

**Submissions.** \`tools/bench_submit -p s RUNS_DIR $SUBMIT_N CONFIG\` does, per
run, mkdir RUNS_DIR/sN, open config.json (\`{"command": ["true"]}\`), write,
close, and reports runs per second over the whole loop. On trainfs RUNS_DIR is
the runs/ directory of a new experiment and the close is the submit (the
config is validated and the run queued; the script checks that all
$SUBMIT_N runs are listed and the last one is queued). The reference is the
same program into a plain directory on /tmp's disk ($TMP_FS),
without sync. The goal is Slurm's validated $SLURM_RATE submissions/s.

**RSS and restart.** $BIG runs in state created ($BIG_EXPS experiments
e0..e$((BIG_EXPS - 1)) of $BIG_PER runs, python3 \`os.mkdir\` on the mount), then
unmount (fusermount3 -u) and a wait for the daemon to exit; the page cache is
left as it is (no drop_caches), as after a daemon restart. The restart time
runs from just before the daemon's exec (\`date +%s%N\`) until a poller that
opens, reads and closes \`experiments/e0/runs/r0/status\` every 10 ms first
reads data (the poller was started, and polling, before the exec). The RSS is
VmRSS from /proc/PID/status after one \`ls -l\` of every runs/ directory (which
also checks that all $BIG runs came back). Also seen: VmRSS $(fmt "$(calc "$RSS_READY / 1024")" '%.1f') MB
right at ready, $(fmt "$(calc "$RSS_BEFORE / 1024")" '%.1f') MB just after creating the runs (before the
restart), peak VmHWM $(fmt "$(calc "$HWM_BIG / 1024")" '%.1f') MB; state directory $(fmt "$(calc "$DB_KB / 1024")" '%.1f') MB. The reference row
is the same daemon on a store holding only e0/r0 (so that the same file is
probed), timed and measured the same way.

**Artifact, cold.** A daemon on a fresh state with \`-o cache_size=$ART_CACHE\`,
whose local provider runs one job at a time and publishes outputs through a
private nginx on 127.0.0.1 (tests/lib/nginx.sh, \`sendfile on\`, serving
\`<state>/runs\`: \`artifact_root\` and \`artifact_base_url\` as in
tests/fs/t_artifacts.sh). The job is \`head -c $ART_BYTES /dev/urandom >
\$TRAINFS_OUTPUT_DIR/model.bin\`; once it is completed and \`events\` says
"artifacts: 1 files", the script checks that the artifact is \`remote\`, then
times \`cat artifacts/model.bin > /dev/null\` (\`date +%s%N\` around it): the
first read downloads the file from nginx with libcurl, hashes it as it
arrives, writes it into the cache (fsync, rename), and only then serves it.
The reference is \`curl -s URL | sha256sum\` of the same file from the same
nginx, run just before and just after (the faster is kept: $REF1_MS / $REF2_MS ms;
trainfs $COLD_MS ms); the source file is in the page cache for all three
(the job just wrote it). The script checks the reference's hash, that the
artifact is then \`verified\`, that the cache file has the full size, and that
nginx served the file exactly 3 times. MB/s are 10^6 bytes per second.

**Artifact, warm.** Then one untimed \`cat\` of the artifact through the mount
and one of the cache file itself (\`<state>/cache/<sha256>\`), followed by
$ART_REPEAT rounds of (mount, cache file), each \`cat FILE > /dev/null\`; the
medians are compared. The page cache is left as it is: a verified artifact is
opened with keep_cache, so the kernel may serve it from the pages of earlier
reads. Times (ms): mount$WARM_T; cache file$WARM_D.
$(if [ -n "$DROP_T" ]; then echo "The information row repeats the
$ART_REPEAT rounds with \`sync; echo 3 > /proc/sys/vm/drop_caches\` before every
read (so the mount reads go through the daemon, which reads the cache file
from disk). Times (ms): mount$DROP_T; cache file$DROP_D."; else echo "Writing
/proc/sys/vm/drop_caches was not permitted, so the dropped-cache row is n/a."; fi)
$(if [ -n "$PF_COLD_MS" ]; then echo "
**Artifact, cold, memory pre-faulted.** The same cold read once more, after
the daemon was stopped, the cache file removed and the daemon started again
(the artifact is \`remote\` again): just before the \`cat\`, $PREFAULT_MB MiB of zeros
are written into a tmpfs (in $PF_FILL_MS ms) that is then unmounted, so the pages
the cold read allocates (1 GiB of part file, 1 GiB of the mount's page
cache) were in use a moment before. On a VM whose balloon reports free
pages to the host ($BALLOON here), a page
that has been free for a while costs a host fault when it is touched again,
and this row shows how much of the first cold read that was. Time:
$PF_COLD_MS ms."; fi)

The 1 GiB files are removed at the end of the measure.

$(flood_how)

$(slurm_how)

$(cloud_how)

$(sweep_how)

$(mlflow_how)

**Scheduler decision time.** tools/bench_sched.sh: one slot held by a
blocker with 10 (then 10,000) runs queued behind it; the running run is
cancelled seven times in turn and each pass that starts the next run records
how long its decision took (MOUNT/scheduler's \`last_start_decide_us\`, which
includes committing the state change to SQLite); the median is reported. The
queue is kept sorted as runs join it and a pass stops as soon as every
provider is full, so the decision does not grow with the queue.

**Drain.** 1,000 runs of \`true\` queued behind two blockers on a 2-slot
provider; from cancelling the blockers to the last run completed. Each run
costs a fork of the supervisor, a fork and exec of the job, two fsynced
status files and its state changes in SQLite; a finished job wakes the
daemon through a FIFO instead of waiting for the next poll.
EOF

mv "$WORK/BENCHMARKS.md" "$OUT"
cat "$WORK/table.md"
say "wrote $OUT"
