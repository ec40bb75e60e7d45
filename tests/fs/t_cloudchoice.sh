#!/bin/sh
# The cheapest offer across the three clouds, through a real mount: one
# daemon with RunPod, Lambda and Vast.ai on tools/cloud-emu (nginx /dav/
# as the run store), runs whose provider is the list ["lambda", "runpod",
# "vastai"]: the first goes to the cheapest that fits now (Vast.ai's
# $0.31/h offer, before RunPod's $0.34 and Lambda's $1.29), status.json
# says which and why, and the instance is really there in the emulator;
# with Vast.ai's capacity gone the next goes to RunPod; with RunPod's gone
# too, to Lambda; cost_usd follows the price of the one chosen; nothing is
# left billing at the end.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/nginx.sh"
EMU=$TOP/tools/cloud-emu
ED=$WORK/emu
KEY=choice-key-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
mkdir -p "$WORK/store"
cleanup() {
	stop_daemon
	[ -n "${EPID:-}" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	EPID=
	nginx_cleanup 2>/dev/null
}
trap 'cleanup; rm -rf "$WORK"; exit 1' INT TERM
if ! nginx_start "$WORK/store" >/dev/null 2>&1 ||
   ! curl -s -f -T /dev/null "$NGINX_URL/dav/probe" >/dev/null; then
	echo "SKIP: nginx with /dav/ did not start"
	cleanup; finish; exit 0
fi
(umask 077
 printf 'runpod=%s,lambda=%s,vastai=%s\n' "$KEY" "$KEY" "$KEY" > "$WORK/keys"
 printf '%s\n' "$KEY" > "$WORK/api.key")
cat > "$WORK/emu.json" <<'JSON'
{"kill_grace_s": 1,
 "runpod": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090",
     "memoryInGb": 24, "cloudType": "COMMUNITY", "dataCenterId": "EU-RO-1",
     "costPerHr": 0.34, "spotCostPerHr": 0.2, "capacity": 4}]},
 "lambda": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "instance_types": [{"name": "gpu_1x_a100_sxm4",
     "description": "1x A100 (40 GB SXM4)", "gpu_description": "A100 (40 GB SXM4)",
     "price_cents_per_hour": 129, "specs": {"vcpus": 30, "memory_gib": 200,
     "storage_gib": 512, "gpus": 1}, "capacity": {"us-east-1": 4}}]},
 "vastai": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "offers": [{"id": 5001, "gpu_name": "RTX 4090", "num_gpus": 1,
     "gpu_ram": 24564, "dph_total": 0.31, "dph_base": 0.29, "min_bid": 0.15,
     "cpu_cores": 16, "cpu_ram": 64000, "disk_space": 200,
     "reliability2": 0.995, "geolocation": "US", "verification": "verified",
     "machine_id": 301, "host_id": 41, "capacity": 4}]}}
JSON
"$EMU" --port 0 --state "$ED" --keys "@$WORK/keys" --config "$WORK/emu.json" \
	2>"$WORK/emu.err" &
EPID=$!
i=0
while [ ! -s "$ED/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
[ -s "$ED/port" ] || { cat "$WORK/emu.err" >&2; fail "emulator did not start"; cleanup; finish; exit 1; }
EURL=http://127.0.0.1:$(cat "$ED/port")
conf() { # conf TYPE EXTRA
	printf '{"type": "%s", "url": "%s", "api_key_file": "%s", ' \
		"$1" "$EURL" "$WORK/api.key"
	printf '"store": "%s/dav/runs", "poll_ms": 200, "rps": 50%s}' \
		"$NGINX_URL" "$2"
}
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
   "runpod": $(conf runpod ', "gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "price_per_hour": 0.34, "cloud_type": "COMMUNITY"}]'),
   "lambda": $(conf lambda ', "ssh_key_name": "test"'),
   "vastai": $(conf vastai '')}}
JSON
start_daemon || { fail "daemon did not start"; cleanup; finish; exit 1; }
for p in runpod lambda vastai; do
	check "$p is ok" wait_grep "$MNT/providers/$p/status" "^ok" 20
done

emu() { curl -s -X POST -H 'Content-Type: application/json' --data-binary "$2" "$EURL/_emu/$1" >/dev/null; }
# inst PROVIDER ID FIELD: a field of an instance in /_emu/state
inst() {
	curl -s "$EURL/_emu/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
print([x for x in d[sys.argv[1]] if str(x["id"]) == sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3" 2>/dev/null
}
has_job() { [ -n "$(js "$1/status.json" provider_job_id)" ]; }
submit() { # submit RUN_DIR
	cmd_config '["sh", "-c", "sleep 600"]' \
		'"provider": ["lambda", "runpod", "vastai"], "resources": {"gpus": 1}' \
		> "$1/config.json" || fail "config.json of $1 refused"
}

# a quote cache to be filled: the offers are asked for by the providers'
# own threads, never while the scheduler decides
sleep 1
A=$(new_run ch a)
submit "$A"
check "a: has a job" wait_cmd 30 has_job "$A"
check_eq "a: on the cheapest, vastai" vastai "$(js "$A/status.json" provider)"
check_eq "a: the choice says so" vastai "$(js "$A/status.json" provider_choice chosen)"
WHY=$(js "$A/status.json" provider_choice why)
case $WHY in
"cheapest: vastai \$0.31/h; then runpod \$0.34/h, lambda \$1.29/h") ok ;;
*) fail "a: the why names the chosen, then the others by price: '$WHY'" ;;
esac
AJ=$(js "$A/status.json" provider_job_id)
check_eq "a: the instance runs in the emulator" True "$(inst vastai "$AJ" exists)"
check "a: running" wait_state "$A" running 30
check_eq "a: its price is the offer's" 0.31 "$(js "$A/status.json" price_per_hour)"

# Vast.ai has nothing more: the next run goes to the next cheapest
emu capacity '{"provider": "vastai", "available": 0}'
sleep 0.5
B=$(new_run ch b)
submit "$B"
check "b: has a job" wait_cmd 30 has_job "$B"
check_eq "b: on runpod once vastai has no capacity" runpod "$(js "$B/status.json" provider)"
BJ=$(js "$B/status.json" provider_job_id)
check_eq "b: the pod runs in the emulator" True "$(inst runpod "$BJ" exists)"

emu capacity '{"provider": "runpod", "available": 0}'
sleep 0.5
C=$(new_run ch c)
submit "$C"
check "c: has a job" wait_cmd 40 has_job "$C"
check_eq "c: on lambda, the one left" lambda "$(js "$C/status.json" provider)"
check "c: running" wait_state "$C" running 30
check_eq "c: its price is Lambda's" 1.29 "$(js "$C/status.json" price_per_hour)"
sleep 2
CA=$(js "$A/status.json" cost_usd)
CC=$(js "$C/status.json" cost_usd)
check "c costs more an hour than a: cost_usd a $CA, c $CC after similar times" \
	python3 -c "import sys; a, c = float(sys.argv[1]), float(sys.argv[2]); sys.exit(0 if 0 < a and 0 < c and c / 1.29 > a / 0.31 * 0.3 else 1)" "$CA" "$CC"
check_contains "MOUNT/cost has a line for lambda" lambda "$MNT/cost"
check_contains "MOUNT/cost has a line for vastai" vastai "$MNT/cost"

# cancel all three: nothing left billing
for r in "$A" "$B" "$C"; do echo cancel > "$r/ctl"; done
for r in "$A" "$B" "$C"; do
	check "$(basename "$r"): stopped" wait_state "$r" stopped 30
done
billing() {
	curl -s "$EURL/_emu/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
sys.exit(0 if any(i.get("billing") for p in ("runpod","lambda","vastai") for i in d.get(p, [])) else 1)'
}
nobill() { ! billing; }
check "no instance left billing" wait_cmd 30 nobill
cleanup
finish
