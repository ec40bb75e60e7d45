#!/bin/sh
# The Lambda Cloud provider through a real mount (tests/lib/cloud_run.sh
# says what is checked): an instance type with capacity in a region, the
# wrapper as the VM's user_data; a VM outlives its script, so the run
# store's exit is what ends it ("terminated", listed a while after); and
# Lambda's own limit, about a request a second, survived.
. "$(dirname "$0")/lib.sh"
PROV=lambda
EMU_EXTRA=', "ssh_keys": ["emu-key"]'
CONF_EXTRA='"ssh_key_name": "emu-key", "max_price_per_hour": 3, "heartbeat_timeout_s": 8'
LAUNCH='POST /api/v1/instance-operations/launch '
PRICE=1.29
IMAGE=
GONE="status terminated"
CAPACITY=2
extra_checks() {
	# ---- Lambda's own limit, 1 request a second: a 429 storm survived ----
	emu ratelimit '{"provider": "lambda", "rps": 1, "burst": 1}'
	T0=$(date +%s)
	R0=$(wc -l < "$ED/requests.log")
	L=$(new_run $PROV limited)
	submit "$L" '["sh", "-c", "echo limited"]'
	check "a run completes under the 1/s limit" wait_state "$L" completed 40
	T1=$(date +%s)
	R1=$(wc -l < "$ED/requests.log")
	n429=$(tail -n +$((R0 + 1)) "$ED/requests.log" | grep -c ' 429 ')
	nok=$(tail -n +$((R0 + 1)) "$ED/requests.log" | grep -v ' 429 ' | grep -c ' /api/v1/')
	check "requests held near the limit ($nok answered in $((T1 - T0 + 1)) s)" test "$nok" -le $((T1 - T0 + 2))
	check "no runaway retries ($n429 429s of $((R1 - R0)) requests)" test "$n429" -le $((T1 - T0 + 2))
	check_contains "its log" "limited" "$L/log"
	emu ratelimit '{"provider": "lambda", "rps": 0}'

	# ---- a wrapper gone without its exit: the VM ended by its heartbeat ----
	H=$(new_run $PROV noexit)
	submit "$H" '["sh", "-c", "kill -9 $PPID"]'
	check "a job whose wrapper died without its exit is ended by its heartbeat" wait_grep "$H/events" "no heartbeat from the job" 30
	HJ=$(job_of "$H")
	check "its VM bills no more" wait_cmd 15 pod_is "$HJ" billing False
	check "and the run fails" wait_state "$H" failed 60
}
. "$TOP/tests/lib/cloud_run.sh"
