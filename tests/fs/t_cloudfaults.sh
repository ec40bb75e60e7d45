#!/bin/sh
# Two faults of a cloud attempt through a real mount, on RunPod, Lambda
# and Vast.ai at once (tools/cloud-emu, nginx as the run store, one daemon):
# an instance that never boots is timed out (boot_timeout_s 10), terminated
# in the emulator and retried as attempt 2 of the same run, which
# completes; a wrapper that quits before its job (a store that answers its
# started probe 403) ends its attempt on the poll that reads its ended key,
# with the wrapper's reason in events, its instance terminated (on Lambda,
# whose VM stays active, long before heartbeat_timeout_s), and is retried
# under max_retries, a store outage being worth another attempt; a run's
# inputs (a dependency's verified artifact) reach the instance through the
# store and are checked there before the job.
. "$(dirname "$0")/lib.sh"
. "$TOP/tests/lib/cloud_emu.sh"
KEY=faults-key-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
emu_start3 "$KEY"
PROVS="runpod lambda vastai"
conf() { # conf TYPE STORE_LOCATION EXTRA
	printf '{"type": "%s", "url": "%s", "api_key_file": "%s", ' \
		"$1" "$EURL" "$WORK/api.key"
	printf '"store": "%s/%s/runs", "poll_ms": 200, "rps": 50, ' \
		"$NGINX_URL" "$2"
	printf '"boot_timeout_s": 10%s}' "$3"
}
extra() {
	case $1 in
	runpod) echo ', "gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "price_per_hour": 0.34, "cloud_type": "COMMUNITY"}]' ;;
	lambda) echo ', "ssh_key_name": "test", "heartbeat_timeout_s": 40' ;;
	esac
}
{
	printf '{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,\n'
	printf ' "providers": {"local": {"type": "local"}'
	for p in $PROVS; do
		printf ',\n  "%s": %s' "$p" "$(conf $p dav "$(extra $p)")"
		printf ',\n  "%sns": %s' "$p" "$(conf $p davnostart "$(extra $p)")"
	done
	printf '}}\n'
} > "$DCONF"
start_daemon || { fail "daemon did not start"; cleanup; finish; exit 1; }
for p in $PROVS; do
	check "$p is ok" wait_grep "$MNT/providers/$p/status" "^ok" 20
done
submit() { # submit RUN_DIR PROVIDER 'argv JSON'
	cmd_config "$3" "\"provider\": \"$2\", \"resources\": {\"gpus\": 1}, \"max_retries\": 1" \
		> "$1/config.json" || fail "config.json of $1 refused"
}
job_of() { js "$1/status.json" provider_job_id; }
has_job() { [ -n "$(job_of "$1")" ]; }
attempt_is() { [ "$(js "$1/status.json" attempt)" = "$2" ]; }
field_is() { [ "$(emu_field "$1" "$2" "$3")" = "$4" ]; }

# ---- an instance that never boots: timed out, terminated, attempt 2 ----
for p in $PROVS; do
	emu never_boot "{\"provider\": \"$p\", \"count\": 1}"
	eval "NB_$p=\$(new_run nb $p)"
	eval "submit \"\$NB_$p\" $p '[\"true\"]'"
	eval "check \"$p: the stuck launch has a job\" wait_cmd 20 has_job \"\$NB_$p\""
	eval "NBJ_$p=\$(job_of \"\$NB_$p\")"
	eval "NBU_$p=\$(js \"\$NB_$p/status.json\" run_id)"
	eval "check_eq \"$p: its instance has not booted\" False \"\$(emu_field $p \"\$NBJ_$p\" booted)\""
done
for p in $PROVS; do
	eval "R=\$NB_$p; J1=\$NBJ_$p; U1=\$NBU_$p"
	check "$p: did not boot in boot_timeout_s" wait_grep "$R/events" "instance did not boot in 10 s" 30
	check "$p: the stuck instance bills no more" wait_cmd 10 field_is $p "$J1" billing False
	check "$p: attempt 2" wait_cmd 20 attempt_is "$R" 2
	check "$p: attempt 2 completes" wait_state "$R" completed 30
	check_eq "$p: the same run id" "$U1" "$(js "$R/status.json" run_id)"
	check "$p: attempt 2 is another instance" test "$(job_of "$R")" != "$J1"
done

# ---- a wrapper that quits: its ended key read, its instance ended ----
for p in $PROVS; do
	eval "NS_$p=\$(new_run ns $p)"
	eval "submit \"\$NS_$p\" ${p}ns '[\"sh\", \"-c\", \"echo ran > $WORK/ran-$p\"]'"
	eval "check \"$p: the refused start has a job\" wait_cmd 20 has_job \"\$NS_$p\""
	eval "NSJ_$p=\$(job_of \"\$NS_$p\")"
done
for p in $PROVS; do
	eval "R=\$NS_$p; J1=\$NSJ_$p"
	check "$p: ended with the wrapper's reason" wait_grep "$R/events" \
		"wrapper quit (74): the run store answered HTTP 403 to the started probe" 40
	check "$p: a store outage is retried" wait_grep "$R/events" "retry 1 of 1" 5
	check "$p: the quitting instance bills no more" wait_cmd 10 field_is $p "$J1" billing False
	check "$p: attempt 2 quits too: failed" wait_state "$R" failed 50
	check_contains "$p: with the wrapper's reason" "wrapper quit (74)" "$R/status.json"
	check "$p: the job never ran" test ! -e "$WORK/ran-$p"
done
check "Lambda's VMs ended by their ended key, not the 40 s heartbeat" \
	sh -c "! grep -q 'no heartbeat' '$NS_lambda/events'"

# ---- inputs: a verified artifact of a dependency, through the store ----
PREP=$(new_run in prepare)
cmd_config "[\"sh\", \"-c\", \"head -c 300000 /dev/urandom > \\\"\$TRAINFS_OUTPUT_DIR/data.bin\\\"; sha256sum \\\"\$TRAINFS_OUTPUT_DIR/data.bin\\\" > $WORK/data.sum\"]" \
	> "$PREP/config.json" || fail "config.json of prepare refused"
USE=$(new_run in use)
cmd_config '["sh", "-c", "echo at $TRAINFS_INPUT_data; sha256sum \"$TRAINFS_INPUT_data\""]' \
	'"provider": "vastai", "resources": {"gpus": 1}, "depends_on": ["prepare"], "inputs": {"data": "prepare:data.bin"}' \
	> "$USE/config.json" || fail "config.json of use refused"
check "inputs: the cloud run completes" wait_state "$USE" completed 40
check "inputs: the job read its input on the instance" grep -q "^at /tmp/trainfs/" "$USE/log"
check_contains "inputs: byte for byte" "$(cut -d' ' -f1 "$WORK/data.sum")" "$USE/log"
check "inputs: shipped under the attempt's prefix" \
	grep -q "^PUT /dav/runs/.*/1/inputs/data/data.bin 201" "$NGINX_DIR/access.log"

check "nothing left billing" wait_cmd 30 emu_nobill
cleanup
finish
