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
#
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

export LC_ALL=C		# same sorting and number formats for every tool

for f in "$SRC_TRAINFS" "$TOP/tools/floorfs" "$TOP/tools/bench_read" \
	"$TOP/tools/bench_submit"; do
	if [ ! -x "$f" ]; then
		echo "bench: $f is missing: run 'make all' first" >&2
		exit 1
	fi
done
if [ "$(id -u)" -ne 0 ]; then
	echo "bench: run as root (mounts a tmpfs)" >&2
	exit 1
fi
for c in python3 fusermount3 mountpoint; do
	command -v "$c" >/dev/null 2>&1 || { echo "bench: needs $c" >&2; exit 1; }
done

WORK=$(mktemp -d /tmp/trainfs-bench.XXXXXX)
T_START=$(date +%s)
TFS_PID=""		# the trainfs daemon currently running, if any
TFS_MNT=""		# and its mount point
FLOOR_PID=""
FLOOR_MNT=$WORK/floor
TMPFS_DIR=$WORK/tmpfs
POLL_PID=""
CHILD_PID=""		# a long helper run by bg()

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

mkdir "$WORK/bin"
cp "$SRC_TRAINFS" "$TOP/tools/floorfs" "$TOP/tools/bench_read" \
	"$TOP/tools/bench_submit" "$WORK/bin/"
TRAINFS=$WORK/bin/trainfs
FLOORFS=$WORK/bin/floorfs
BENCH_READ=$WORK/bin/bench_read
BENCH_SUBMIT=$WORK/bin/bench_submit
BIN_SUM=$(sha256sum "$TRAINFS" | cut -c1-12)
BIN_TIME=$(date -u -r "$SRC_TRAINFS" '+%Y-%m-%d %H:%M:%S UTC')
for f in "$TRAINFS" "$FLOORFS" "$BENCH_READ" "$BENCH_SUBMIT"; do
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

# field NAME LINE: the value of NAME=value in a key=value line.
field() {
	echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"
}

# calc 'awk expression': prints it evaluated, with 4 decimals.
calc() { awk "BEGIN { printf \"%.4f\\n\", $1 }"; }
# holds 'awk condition': true when it holds.
holds() { [ "$(awk "BEGIN { print ($1) ? 1 : 0 }")" = 1 ]; }

# write_daemon_config FILE: every job held in the queue (max_jobs 0).
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
	${4:-} "$TRAINFS" -f --state "$1" --config "$WORK/daemon.json" "$2" 2>>"$3" &
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
	"$TRAINFS" -f --state "$1" --config "$WORK/daemon.json" "$2" 2>>"$3" &
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
printf '{"command": ["true"]}\n' > "$WORK/config.json"

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

# ------------------------------------------------------------ the report --

# row MEASURE TRAINFS REFERENCE RATIO GOAL MET
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
yesno() { if holds "$1"; then echo yes; else echo NO; fi; }
fmt() { awk -v v="$1" -v f="$2" 'BEGIN { printf f, v }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2fx", a / b }'; }

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
} > "$WORK/table.md"

COMMIT=$(git -C "$TOP" rev-parse --short HEAD 2>/dev/null || echo unknown)
if [ -n "$(git -C "$TOP" status --porcelain --untracked-files=no 2>/dev/null)" ]; then
	COMMIT="$COMMIT (+ uncommitted changes in the working tree)"
fi
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
EOF

mv "$WORK/BENCHMARKS.md" "$OUT"
cat "$WORK/table.md"
say "wrote $OUT"
