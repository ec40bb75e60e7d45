#!/bin/sh
# bench_cloud.sh - measure 9 of BENCHMARKS.md: cloud runs through a real
# mount against tools/cloud-emu (RunPod, Lambda and Vast.ai on loopback),
# with nginx (/dav/) as the run store the jobs' wrappers PUT to:
#   - CLOUD_N runs, round-robin over the three providers, from the first
#     mkdir to the last provider job id (and every one running);
#   - requests per poll per provider while they run: all of the
#     provider's API requests over CLOUD_WATCH_S divided by its list
#     requests (one list is one poll), from the emulator's own log;
#   - the daemon's added latency per provider call: the mean time a
#     request takes as the daemon sees it (providers/<name>/status,
#     request_us over requests) less the emulator's own mean time per
#     request (requests.log), over the same run.
# The emulator's rate limits and launch intervals are lifted here (Lambda's
# one launch per 10 s would make 34 launches take six minutes), and the
# daemon's own pace set to 50 requests a second: what is measured is the
# daemon's work, not the providers' limits, which t_cloud* test.
# Prints markdown table rows on stdout, progress on stderr.
set -eu
TOP=$(cd "$(dirname "$0")/.." && pwd)
TRAINFS=${TRAINFS:-$TOP/build/default/trainfs}
N=${CLOUD_N:-100}
WATCH=${CLOUD_WATCH_S:-6}
POLL_MS=1000
W=$(mktemp -d /tmp/tfs-bcloud.XXXXXX)
MNT=$W/mnt
ED=$W/emu
PID=""
EPID=""
say() { echo "bench_cloud: $*" >&2; }
cleanup() {
	mountpoint -q "$MNT" 2>/dev/null && fusermount3 -u "$MNT" 2>/dev/null
	[ -n "$PID" ] && wait "$PID" 2>/dev/null
	[ -n "$EPID" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	nginx_cleanup >/dev/null 2>&1 || true
	rm -rf "$W"
}
trap cleanup EXIT INT TERM
. "$TOP/tests/lib/nginx.sh"
mkdir -p "$MNT" "$W/store"
row() { printf '| %s | %s | %s | %s | %s | %s |\n' "$@"; }
skip() {
	for m in "$N cloud runs submitted" "requests per poll" \
		"added latency per provider call"; do
		row "Cloud: $m" SKIP "SKIP: $1" "—" "—" "—"
	done
	exit 0
}

nginx_start "$W/store" >/dev/null 2>&1 || skip "nginx did not start"
curl -s -f -T /dev/null "$NGINX_URL/dav/probe" >/dev/null ||
	skip "nginx has no PUT (/dav/)"
KEY=bench-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
(umask 077
 printf 'runpod=%s,lambda=%s,vastai=%s\n' "$KEY" "$KEY" "$KEY" > "$W/keys"
 printf '%s\n' "$KEY" > "$W/api.key")
python3 - "$W/emu.json" "$N" <<'PY'
import json, sys
n = int(sys.argv[2])
free = {"rps": 0, "burst": 1, "launch_interval_s": 0}
json.dump({"kill_grace_s": 1,
           "runpod": {"boot_s": 0.2, "limits": free, "gpu_types": [
               {"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090",
                "memoryInGb": 24, "cloudType": "COMMUNITY",
                "dataCenterId": "EU-RO-1", "costPerHr": 0.34,
                "spotCostPerHr": 0.2, "capacity": n}]},
           "lambda": {"boot_s": 0.2, "limits": free, "instance_types": [
               {"name": "gpu_1x_a100_sxm4",
                "description": "1x A100 (40 GB SXM4)",
                "gpu_description": "A100 (40 GB SXM4)",
                "price_cents_per_hour": 129,
                "specs": {"vcpus": 30, "memory_gib": 200,
                          "storage_gib": 512, "gpus": 1},
                "capacity": {"us-east-1": n}}]},
           "vastai": {"boot_s": 0.2, "limits": free, "offers": [
               {"id": 5001, "gpu_name": "RTX 4090", "num_gpus": 1,
                "gpu_ram": 24564, "dph_total": 0.31, "dph_base": 0.29,
                "min_bid": 0.15, "cpu_cores": 16, "cpu_ram": 64000,
                "disk_space": 200, "reliability2": 0.995,
                "geolocation": "US", "verification": "verified",
                "machine_id": 301, "host_id": 41, "capacity": n}]}},
          open(sys.argv[1], "w"))
PY
"$TOP/tools/cloud-emu" --port 0 --state "$ED" --keys "@$W/keys" \
	--config "$W/emu.json" 2>"$W/emu.err" &
EPID=$!
i=0
while [ ! -s "$ED/port" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$ED/port" ] || skip "the emulator did not start"
EURL=http://127.0.0.1:$(cat "$ED/port")

conf() { # conf TYPE EXTRA
	printf '{"type": "%s", "url": "%s", "api_key_file": "%s", ' \
		"$1" "$EURL" "$W/api.key"
	printf '"store": "%s/dav/runs", "poll_ms": %d, "rps": 50%s}' \
		"$NGINX_URL" "$POLL_MS" "$2"
}
cat > "$W/d.json" <<JSON
{"poll_interval_ms": $POLL_MS, "kill_grace_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 0}},
   "runpod": $(conf runpod ', "gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "price_per_hour": 0.34, "cloud_type": "COMMUNITY"}]'),
   "lambda": $(conf lambda ', "ssh_key_name": "bench"'),
   "vastai": $(conf vastai '')}}
JSON
"$TRAINFS" -f --state "$W/state" --config "$W/d.json" "$MNT" 2>"$W/daemon.log" &
PID=$!
i=0
while ! mountpoint -q "$MNT"; do
	i=$((i + 1))
	[ $i -lt 400 ] || skip "trainfs did not mount ($(tail -n 1 "$W/daemon.log"))"
	sleep 0.05
done
for p in runpod lambda vastai; do
	i=0
	until head -n 1 "$MNT/providers/$p/status" | grep -q '^ok'; do
		i=$((i + 1))
		[ $i -lt 200 ] || skip "provider $p is not ok: $(head -n 1 "$MNT/providers/$p/status")"
		sleep 0.1
	done
done
mkdir "$MNT/experiments/c"

say "submitting $N cloud runs"
T=$(python3 - "$MNT/experiments/c/runs" "$N" <<'PY'
import json, os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
provs = ["runpod", "lambda", "vastai"]
t0 = time.monotonic()
for i in range(n):
    os.mkdir("%s/c%d" % (d, i))
    with open("%s/c%d/config.json" % (d, i), "w") as f:
        json.dump({"provider": provs[i % 3], "resources": {"gpus": 1},
                   "command": ["sh", "-c", "sleep 40"]}, f)
closed = time.monotonic() - t0
left = set(range(n))
while left and time.monotonic() - t0 < 300:
    for i in list(left):
        try:
            s = json.load(open("%s/c%d/status.json" % (d, i)))
        except (OSError, ValueError):
            continue
        if s.get("provider_job_id"):
            left.discard(i)
    time.sleep(0.05)
print("%.4f %.4f %d" % (closed, time.monotonic() - t0, len(left)))
PY
)
CLOSED=${T%% *}; T=${T#* }; ALL=${T%% *}; LEFT=${T#* }
[ "$LEFT" -eq 0 ] || skip "$LEFT of $N runs had no job id in 300 s"
RATE=$(awk -v n="$N" -v t="$ALL" 'BEGIN { printf "%.1f", n / t }')
say "every run closed after $CLOSED s, the last job id after $ALL s"
# every run running, so that the polls below see $N instances
python3 - "$MNT/experiments/c/runs" "$N" <<'PY' || skip "not every run is running"
import os, sys, time
d, n = sys.argv[1], int(sys.argv[2])
t0 = time.monotonic()
while time.monotonic() - t0 < 120:
    if all(open("%s/c%d/status" % (d, i)).read().strip() == "running"
           for i in range(n)):
        sys.exit(0)
    time.sleep(0.2)
sys.exit(1)
PY
T0=$(date +%s.%N)
sleep "$WATCH"
T1=$(date +%s.%N)
for p in runpod lambda vastai; do
	sed -n 's/^request_us: //p' "$MNT/providers/$p/status" > "$W/us1.$p"
	sed -n 's/^requests: //p' "$MNT/providers/$p/status" > "$W/rq1.$p"
done
# requests per poll over the window, and the emulator's own time per
# request over the whole run, from its log
python3 - "$ED/requests.log" "$T0" "$T1" > "$W/emu.out" <<'PY'
import sys
log, t0, t1 = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
pref = {"runpod": "/v1/", "lambda": "/api/v1/", "vastai": "/api/v0/"}
lists = {"runpod": ("GET", "/v1/pods"), "lambda": ("GET", "/api/v1/instances"),
         "vastai": ("GET", "/api/v0/instances/")}
win = {p: [0, 0] for p in pref}
own = {p: [0, 0.0] for p in pref}
for line in open(log):
    f = line.split()
    if len(f) != 5:
        continue
    t, m, path, ms = float(f[0]), f[1], f[2], float(f[4])
    for p, pr in pref.items():
        if not path.startswith(pr):
            continue
        own[p][0] += 1
        own[p][1] += ms
        if t0 <= t <= t1:
            win[p][0] += 1
            if (m, path) == lists[p]:
                win[p][1] += 1
for p in pref:
    print(p, win[p][0], win[p][1], own[p][0],
          "%.3f" % (own[p][1] / own[p][0] if own[p][0] else 0))
PY
ROWS=""
while read -r p total polls nreq emu_ms; do
	per=$(awk -v a="$total" -v b="$polls" 'BEGIN { if (b) printf "%.2f", a / b; else print "inf" }')
	ok=$(awk -v a="$total" -v b="$polls" 'BEGIN { print (b && a == b) ? "yes" : "NO" }')
	row "Cloud: requests per poll, $p, $((N / 3)) or so instances running" \
		"$per ($total requests in $polls polls, ${WATCH} s)" "—" "—" "1" "$ok"
	rq=$(cat "$W/rq1.$p"); us=$(cat "$W/us1.$p")
	if [ -n "$rq" ] && [ -n "$us" ] && [ "$rq" -gt 0 ]; then
		d_ms=$(awk -v u="$us" -v r="$rq" 'BEGIN { printf "%.3f", u / r / 1000 }')
		add=$(awk -v d="$d_ms" -v e="$emu_ms" 'BEGIN { printf "%+.3f", d - e }')
		ROWS="$ROWS$(row "Cloud: added latency per $p call (mean of $rq)" \
			"$d_ms ms (the daemon's)" \
			"$emu_ms ms (the emulator's own, of $nreq)" \
			"$add ms" "(info)" "—")
"
	else
		ROWS="$ROWS$(row "Cloud: added latency per $p call" "n/a" \
			"the provider's status has no request_us line" "—" "(info)" "—")
"
	fi
done < "$W/emu.out"
printf '%s' "$ROWS"
row "Cloud: $N runs submitted through the mount (a third each to runpod, lambda, vastai), first mkdir to the last job id" \
	"$RATE /s ($ALL s; every config closed after $CLOSED s)" "—" "—" "(info)" "—"

# cancel everything and check that nothing is left billing
for i in $(seq 0 $((N - 1))); do echo cancel > "$MNT/experiments/c/runs/c$i/ctl"; done
python3 - "$EURL" <<'PY' || say "WARNING: an instance is still billing 60 s after the cancels"
import json, sys, time, urllib.request
t0 = time.monotonic()
while time.monotonic() - t0 < 60:
    st = json.load(urllib.request.urlopen(sys.argv[1] + "/_emu/state"))
    if not any(i.get("billing") for p in ("runpod", "lambda", "vastai")
               for i in st.get(p, [])):
        sys.exit(0)
    time.sleep(0.5)
sys.exit(1)
PY
