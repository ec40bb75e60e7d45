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
. "$TOP/tests/lib/cloud_emu.sh"
KEY=choice-key-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
emu_start3 "$KEY"
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
check_eq "a: the instance runs in the emulator" True "$(emu_field vastai "$AJ" exists)"
check "a: running" wait_state "$A" running 30
check_eq "a: its price is the offer's" 0.31 "$(js "$A/status.json" price_per_hour)"

# a job without GPUs: RunPod (here GPU pods only) refuses it, so a list
# goes on to the next provider, and a run of RunPod alone fails saying so
D=$(new_run ch cpu)
cmd_config '["sh", "-c", "sleep 600"]' \
	'"provider": ["runpod", "lambda"], "resources": {"gpus": 0}' \
	> "$D/config.json" || fail "config.json of $D refused"
check "cpu: has a job" wait_cmd 30 has_job "$D"
check_eq "cpu: not on runpod, the cheaper, but lambda" lambda "$(js "$D/status.json" provider)"
case $(js "$D/status.json" provider_choice why) in
*"runpod runs GPU pods only"*) ok ;;
*) fail "cpu: the choice says why not runpod: '$(js "$D/status.json" provider_choice why)'" ;;
esac
echo cancel > "$D/ctl"
check "cpu: stopped" wait_state "$D" stopped 30
E=$(new_run ch cpuonly)
cmd_config '["true"]' '"provider": "runpod", "resources": {"gpus": 0}' \
	> "$E/config.json" || fail "config.json of $E refused"
check "cpuonly: fails" wait_state "$E" failed 20
check_contains "cpuonly: saying why" "runpod runs GPU pods only" "$E/status.json"
check_eq "cpuonly: no pod was made" 0 "$(curl -s "$EURL/_emu/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin).get("runpod", [])))')"

# Vast.ai has nothing more: the next run goes to the next cheapest
emu capacity '{"provider": "vastai", "available": 0}'
sleep 0.5
B=$(new_run ch b)
submit "$B"
check "b: has a job" wait_cmd 30 has_job "$B"
check_eq "b: on runpod once vastai has no capacity" runpod "$(js "$B/status.json" provider)"
BJ=$(js "$B/status.json" provider_job_id)
check_eq "b: the pod runs in the emulator" True "$(emu_field runpod "$BJ" exists)"

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
check "no instance left billing" wait_cmd 30 emu_nobill
cleanup
finish
