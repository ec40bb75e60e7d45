#!/bin/sh
# tools/cloud-emu on its own, without a mount: each documented endpoint of
# RunPod, Lambda Cloud and Vast.ai answers in its provider's shape, keys are
# checked, a rate limit answers 429 with Retry-After, capacity runs out the
# way each API says so, a container really runs its command with its env,
# a RunPod pod outlives its container, preemption and terminate end the
# process group, and TERM of the emulator leaves no process behind.
. "$(dirname "$0")/lib.sh"
EMU=$TOP/tools/cloud-emu
ED=$WORK/emu
RK=rp-key-$$ LK=la-key-$$ VK=va-key-$$
OUT=$WORK/out
HDR=$WORK/hdr
cat > "$WORK/emu.json" <<JSON
{"kill_grace_s": 1,
 "runpod": {"boot_s": 0.2}, "vastai": {"boot_s": 0.2},
 "lambda": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0}}}
JSON
echo '{"lambda": {"instance_types": [{"name": "x"}]}}' > "$WORK/bad.json"
"$EMU" --port 0 --state "$WORK/bad" --config "$WORK/bad.json" 2> "$WORK/bad.err"
check "a bad config is refused" test $? -ne 0 -a ! -e "$WORK/bad/port"
check_contains "a bad config says why" "lambda.instance_types" "$WORK/bad.err"
"$EMU" --port 0 --state "$ED" --keys "runpod=$RK,lambda=$LK,vastai=$VK" \
	--config "$WORK/emu.json" 2>"$WORK/emu.err" &
EPID=$!
i=0
while [ ! -s "$ED/port" ] && [ $i -lt 100 ]; do sleep 0.05; i=$((i + 1)); done
if [ ! -s "$ED/port" ]; then
	cat "$WORK/emu.err" >&2; fail "emulator did not start"; finish; exit 1
fi
URL=http://127.0.0.1:$(cat "$ED/port")
check_eq "pid file" "$EPID" "$(cat "$ED/pid")"

# call KEY METHOD PATH [BODY]: the answer in $OUT, headers in $HDR, prints
# the HTTP status
call() {
	if [ -n "${4:-}" ]; then
		curl -s -g -o "$OUT" -D "$HDR" -w '%{http_code}' -X "$2" \
			-H "Authorization: Bearer $1" -H 'Content-Type: application/json' \
			--data-binary "$4" "$URL$3"
	else
		curl -s -g -o "$OUT" -D "$HDR" -w '%{http_code}' -X "$2" \
			-H "Authorization: Bearer $1" "$URL$3"
	fi
}
ctl() { call none POST "/_emu/$1" "$2"; }
# jv EXPR: a Python expression over d, the JSON in $OUT
jv() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$OUT" "$1" 2>/dev/null; }
# st PROVIDER ID FIELD: a field of that instance in /_emu/state
st() {
	curl -s "$URL/_emu/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
print([x for x in d[sys.argv[1]] if str(x["id"]) == sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3" 2>/dev/null
}
# wait_st PROVIDER ID FIELD VALUE [seconds]
wait_st() {
	n=0
	while [ $n -lt $((${5:-10} * 20)) ]; do
		[ "$(st "$1" "$2" "$3")" = "$4" ] && return 0
		sleep 0.05; n=$((n + 1))
	done
	echo "  $1 $2: $3 is '$(st "$1" "$2" "$3")', not '$4'" >&2
	return 1
}
# wait_api KEY PATH EXPR VALUE [seconds]: polls GET PATH until EXPR is VALUE
wait_api() {
	n=0
	while [ $n -lt $((${5:-10} * 20)) ]; do
		call "$1" GET "$2" > /dev/null; [ "$(jv "$3")" = "$4" ] && return 0
		sleep 0.05; n=$((n + 1))
	done
	echo "  $2: $3 is '$(jv "$3")', not '$4'" >&2
	return 1
}

# The checks below poll every 50 ms, faster than RunPod's and Vast.ai's own
# limits allow, and would meet their 429s whenever the machine is slow:
# their limits are lifted here; the limiting itself is checked on Lambda.
ctl ratelimit '{"provider": "runpod", "rps": 0, "launch_interval_s": 0}' > /dev/null
ctl ratelimit '{"provider": "vastai", "rps": 0, "launch_interval_s": 0}' > /dev/null

# --- auth: a wrong or missing key is each provider's 401 ---
check_eq "runpod wrong key" 401 "$(call bad GET /v1/pods)"
check "runpod 401 body" test -n "$(jv 'd["error"]')"
check_eq "lambda wrong key" 401 "$(call bad GET /api/v1/instances)"
check_eq "lambda 401 code" global/invalid-api-key "$(jv 'd["error"]["code"]')"
check_eq "lambda no key" 401 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v1/instances")"
check_eq "vastai wrong key" 401 "$(call bad GET /api/v0/instances/)"
check_eq "vastai 401 body" False "$(jv 'd["success"]')"
check_eq "vastai api_key query" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/api/v0/instances/?owner=me&api_key=$VK")"

# --- RunPod: the container runs its command with its env; EXITED, still there ---
MARK=$WORK/rp_marker
code=$(call "$RK" POST /v1/pods "{\"name\": \"t1\", \"imageName\": \"runpod/pytorch:2.4\",
  \"gpuTypeIds\": [\"NVIDIA GeForce RTX 4090\"], \"gpuCount\": 1, \"cloudType\": \"COMMUNITY\",
  \"dockerEntrypoint\": [\"sh\", \"-c\"], \"dockerStartCmd\": [\"echo \\\"\$FOO \$RUNPOD_POD_ID\\\" > $MARK; echo out; exit 3\"],
  \"env\": {\"FOO\": \"bar\"}}")
check_eq "runpod create" 201 "$code"
POD=$(jv 'd["id"]')
check_eq "runpod desiredStatus" RUNNING "$(jv 'd["desiredStatus"]')"
check_eq "runpod costPerHr" 0.34 "$(jv 'd["costPerHr"]')"
check_eq "runpod imageName recorded" runpod/pytorch:2.4 "$(jv 'd["image"]')"
check "runpod marker" wait_grep "$MARK" "bar $POD" 10
check "runpod pod EXITED" wait_api "$RK" "/v1/pods/$POD" 'd["desiredStatus"]' EXITED
check_eq "runpod EXITED pod listed" "$POD" "$(call "$RK" GET /v1/pods > /dev/null; jv '[p["id"] for p in d][0]')"
check_eq "runpod EXITED pod bills" True "$(st runpod "$POD" billing)"
check "runpod cost accrues" python3 -c 'import sys; sys.exit(not float(sys.argv[1]) > 0)' "$(st runpod "$POD" cost_usd)"
check_eq "runpod exit code" 3 "$(st runpod "$POD" exit_code)"
check_contains "runpod console log" out "$ED/runpod/$POD/console.log"
check_eq "runpod delete" 204 "$(call "$RK" DELETE "/v1/pods/$POD")"
check_eq "runpod deleted is 404" 404 "$(call "$RK" GET "/v1/pods/$POD")"
check "runpod 404 body" test -n "$(jv 'd["error"]')"
check_eq "runpod deleted stops billing" "False False" "$(st runpod "$POD" exists) $(st runpod "$POD" billing)"
check_eq "runpod non-JSON body" 400 "$(call "$RK" POST /v1/pods '{not json')"
check "runpod 400 body" test -n "$(jv 'd["error"]')"
check_eq "runpod missing imageName" 400 "$(call "$RK" POST /v1/pods '{"gpuTypeIds": ["NVIDIA GeForce RTX 4090"]}')"
check_eq "runpod unknown gpu type" 400 "$(call "$RK" POST /v1/pods '{"imageName": "x", "gpuTypeIds": ["NVIDIA Z1"]}')"
check_eq "runpod stop of unknown pod" 404 "$(call "$RK" POST /v1/pods/nosuchpod/stop)"

# capacity: none, then one; DELETE kills the running container
H100='"imageName": "x", "gpuTypeIds": ["NVIDIA H100 80GB HBM3"], "dockerStartCmd": ["sleep", "300"]'
check_eq "runpod capacity 0" 200 "$(ctl capacity '{"provider": "runpod", "gpu_type": "NVIDIA H100 80GB HBM3", "available": 0}')"
check_eq "runpod no capacity" 500 "$(call "$RK" POST /v1/pods "{$H100}")"
check_contains "runpod no capacity message" "no longer any instances available" "$OUT"
ctl capacity '{"provider": "runpod", "gpu_type": "NVIDIA H100 80GB HBM3", "available": 1}' > /dev/null
check_eq "runpod capacity back" 201 "$(call "$RK" POST /v1/pods "{$H100}")"
POD2=$(jv 'd["id"]')
check_eq "runpod H100 price" 2.99 "$(jv 'd["costPerHr"]')"
check "runpod sleeper runs" wait_st runpod "$POD2" process_running True
check_eq "runpod capacity used up" 500 "$(call "$RK" POST /v1/pods "{$H100}")"
check_eq "runpod stop" EXITED "$(call "$RK" POST "/v1/pods/$POD2/stop" > /dev/null; jv 'd["desiredStatus"]')"
check "runpod stop ends the process" wait_st runpod "$POD2" process_running False
check_eq "runpod start" RUNNING "$(call "$RK" POST "/v1/pods/$POD2/start" > /dev/null; jv 'd["desiredStatus"]')"
check "runpod started again" wait_st runpod "$POD2" process_running True
call "$RK" DELETE "/v1/pods/$POD2" > /dev/null
check "runpod delete kills the process" wait_st runpod "$POD2" process_running False

# preemption of an interruptible pod: EXITED, still there, not billing
code=$(call "$RK" POST /v1/pods '{"imageName": "x", "gpuTypeIds": ["NVIDIA A100 80GB PCIe"], "interruptible": true, "dockerStartCmd": ["sleep", "300"]}')
check_eq "runpod spot create" 201 "$code"
SPOT=$(jv 'd["id"]')
check_eq "runpod spot price" 0.82 "$(jv 'd["costPerHr"]')"
check "runpod spot runs" wait_st runpod "$SPOT" process_running True
check_eq "runpod preempt" 200 "$(ctl preempt "{\"provider\": \"runpod\", \"id\": \"$SPOT\"}")"
check_eq "runpod preempted process gone" False "$(st runpod "$SPOT" process_running)"
call "$RK" GET "/v1/pods/$SPOT" > /dev/null
check_eq "runpod preempted pod" "EXITED Interrupted" "$(jv 'd["desiredStatus"] + " " + d["lastStatusChange"].split(":")[0]')"
check_eq "runpod preempted not billing" False "$(st runpod "$SPOT" billing)"
call "$RK" POST /v1/pods '{"imageName": "x", "gpuTypeIds": ["NVIDIA A100 80GB PCIe"]}' > /dev/null
check_eq "runpod on-demand not preemptible" 409 "$(ctl preempt "{\"provider\": \"runpod\", \"id\": \"$(jv 'd["id"]')\"}")"
# the create that answers 500 yet made the pod
ctl fail '{"provider": "runpod", "path": "/pods", "method": "POST", "after": true}' > /dev/null
n1=$(curl -s "$URL/_emu/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runpod"]))')
check_eq "runpod injected 500" 500 "$(call "$RK" POST /v1/pods '{"imageName": "x", "gpuTypeIds": ["NVIDIA A100 80GB PCIe"]}')"
n2=$(curl -s "$URL/_emu/state" | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["runpod"]))')
check_eq "runpod 500 after create made the pod" $((n1 + 1)) "$n2"

# --- Lambda: user_data runs with sh; the instance stays active after it ---
LMARK=$WORK/la_marker
LUD=$(printf 'echo "ran in $(pwd)" > %s\n' "$LMARK" | python3 -c 'import json,sys; print(json.dumps(sys.stdin.read()))')
code=$(call "$LK" POST /api/v1/instance-operations/launch "{\"region_name\": \"us-east-1\",
  \"instance_type_name\": \"gpu_1x_a100_sxm4\", \"ssh_key_names\": [\"k\"], \"quantity\": 1,
  \"name\": \"t-la\", \"user_data\": $LUD}")
check_eq "lambda launch" 200 "$code"
LA=$(jv 'd["data"]["instance_ids"][0]')
check "lambda booting first" test "$(st lambda "$LA" status)" = booting -o "$(st lambda "$LA" status)" = active
check "lambda user_data ran" wait_grep "$LMARK" "ran in $ED/lambda/$LA/root" 10
check "lambda active" wait_api "$LK" "/api/v1/instances/$LA" 'd["data"]["status"]' active
check_eq "lambda instance fields" "t-la us-east-1 gpu_1x_a100_sxm4 129 127.0.0.1" \
	"$(jv 'd["data"]["name"] + " " + d["data"]["region"]["name"] + " " + d["data"]["instance_type"]["name"] + " " + str(d["data"]["instance_type"]["price_cents_per_hour"]) + " " + d["data"]["ip"]')"
sleep 0.3
check_eq "lambda still active after user_data" active "$(call "$LK" GET /api/v1/instances > /dev/null; jv '[i["status"] for i in d["data"] if i["id"] == "'"$LA"'"][0]')"
check_eq "lambda missing ssh key" 400 "$(call "$LK" POST /api/v1/instance-operations/launch '{"region_name": "us-east-1", "instance_type_name": "gpu_1x_a100_sxm4"}')"
check_eq "lambda 400 code" global/invalid-parameters "$(jv 'd["error"]["code"]')"
check_eq "lambda non-JSON" 400 "$(call "$LK" POST /api/v1/instance-operations/launch 'nope')"
check_eq "lambda unknown instance" 404 "$(call "$LK" GET /api/v1/instances/0123)"
check_eq "lambda 404 code" global/object-does-not-exist "$(jv 'd["error"]["code"]')"
# capacity
ctl capacity '{"provider": "lambda", "instance_type": "gpu_1x_h100_pcie", "region": "us-west-3", "available": 0}' > /dev/null
check_eq "lambda no capacity" 400 "$(call "$LK" POST /api/v1/instance-operations/launch '{"region_name": "us-west-3", "instance_type_name": "gpu_1x_h100_pcie", "ssh_key_names": ["k"]}')"
check_eq "lambda insufficient-capacity" instance-operations/launch/insufficient-capacity "$(jv 'd["error"]["code"]')"
check_eq "lambda instance-types without capacity" "[] 249" "$(call "$LK" GET /api/v1/instance-types > /dev/null; jv 'str(d["data"]["gpu_1x_h100_pcie"]["regions_with_capacity_available"]) + " " + str(d["data"]["gpu_1x_h100_pcie"]["instance_type"]["price_cents_per_hour"])')"
check_eq "lambda instance-types with capacity" us-east-1 "$(jv 'd["data"]["gpu_1x_a100_sxm4"]["regions_with_capacity_available"][0]["name"]')"
# terminate kills the process group, background children too
# (TERM ignored, by the sleeps too: KILL after the grace)
code=$(call "$LK" POST /api/v1/instance-operations/launch '{"region_name": "us-west-1", "instance_type_name": "gpu_1x_a100_sxm4", "ssh_key_names": ["k"], "user_data": "#!/bin/sh\ntrap \"\" TERM\nsleep 300 &\nsleep 300\n"}')
LB=$(jv 'd["data"]["instance_ids"][0]')
check "lambda sleeper runs" wait_st lambda "$LB" process_running True
check_eq "lambda terminate" 200 "$(call "$LK" POST /api/v1/instance-operations/terminate "{\"instance_ids\": [\"$LB\"]}")"
check_eq "lambda terminated_instances" "$LB terminating" "$(jv 'd["data"]["terminated_instances"][0]["id"] + " " + d["data"]["terminated_instances"][0]["status"]')"
check "lambda terminate kills" wait_st lambda "$LB" process_running False
check "lambda terminated" wait_api "$LK" "/api/v1/instances/$LB" 'd["data"]["status"]' terminated
# preemption
check_eq "lambda preempt" 200 "$(ctl preempt "{\"provider\": \"lambda\", \"id\": \"$LA\"}")"
check_eq "lambda preempted" preempted "$(call "$LK" GET "/api/v1/instances/$LA" > /dev/null; jv 'd["data"]["status"]')"
# an instance that never boots
ctl never_boot '{"provider": "lambda", "count": 1}' > /dev/null
call "$LK" POST /api/v1/instance-operations/launch '{"region_name": "us-east-1", "instance_type_name": "gpu_1x_a100_sxm4", "ssh_key_names": ["k"], "user_data": "sleep 300"}' > /dev/null
LC=$(jv 'd["data"]["instance_ids"][0]')
sleep 0.8
check_eq "lambda never boots" "booting False" "$(st lambda "$LC" status) $(st lambda "$LC" process_running)"
ctl boot "{\"provider\": \"lambda\", \"id\": \"$LC\"}" > /dev/null
check "lambda boots when told" wait_st lambda "$LC" process_running True

# rate limit: about one request a second, launches one per 10 s
ctl ratelimit '{"provider": "lambda", "rps": 1, "burst": 1, "launch_interval_s": 0}' > /dev/null
a=$(call "$LK" GET /api/v1/instances); b=$(call "$LK" GET /api/v1/instances)
check_eq "lambda over 1 rps" "200 429" "$a $b"
check_eq "lambda 429 code" global/too-many-requests "$(jv 'd["error"]["code"]')"
check "lambda Retry-After" grep -qi '^Retry-After: [1-9]' "$HDR"
sleep 1.1
check_eq "lambda after the wait" 200 "$(call "$LK" GET /api/v1/instances)"
ctl ratelimit '{"provider": "lambda", "rps": 0, "launch_interval_s": 10}' > /dev/null
L='{"region_name": "us-west-3", "instance_type_name": "gpu_1x_h100_pcie", "ssh_key_names": ["k"]}'
a=$(call "$LK" POST /api/v1/instance-operations/launch "$L"); b=$(call "$LK" POST /api/v1/instance-operations/launch "$L")
check_eq "lambda launch interval" "400 429" "$a $b"
check "launch Retry-After" grep -qi '^Retry-After: \([5-9]\|10\)' "$HDR"
check_eq "other calls go on" 200 "$(call "$LK" GET /api/v1/instances)"
ctl fail '{"provider": "lambda", "status": 429, "count": 2, "retry_after": 3}' > /dev/null
a=$(call "$LK" GET /api/v1/instances); b=$(call "$LK" GET /api/v1/instances); c=$(call "$LK" GET /api/v1/instances)
check_eq "lambda injected 429 storm" "429 429 200" "$a $b $c"
check_eq "requests.log counts the 429s" 4 "$(grep -c ' /api/v1/instance[^ ]* 429 ' "$ED/requests.log")"
check "no key in the state dir" test -z "$(grep -rl -e "$RK" -e "$LK" -e "$VK" "$ED")"

# --- Vast.ai: offers, rent, onstart with env, exited, capacity, preemption ---
Q='{"num_gpus": {"gte": 1}, "rentable": {"eq": true}, "order": [["dph_total", "asc"]]}'
check_eq "vastai bundles" 200 "$(call "$VK" GET "/api/v0/bundles/?q=$(printf %s "$Q" | python3 -c 'import sys,urllib.parse; print(urllib.parse.quote(sys.stdin.read()))')")"
check_eq "vastai cheapest first" "5001 0.31" "$(jv 'str(d["offers"][0]["id"]) + " " + str(d["offers"][0]["dph_total"])')"
check_eq "vastai gpu_name filter" "[5003]" "$(call "$VK" POST /api/v0/bundles/ '{"gpu_name": {"eq": "RTX 3090"}}' > /dev/null; jv '[o["id"] for o in d["offers"]]')"
VMARK=$WORK/va_marker
check_eq "vastai rent" 200 "$(call "$VK" PUT /api/v0/asks/5002/ "{\"client_id\": \"me\", \"image\": \"pytorch/pytorch\", \"disk\": 20, \"label\": \"t-va\", \"env\": {\"FOO\": \"vbar\", \"-p 8080:8080\": \"1\"}, \"runtype\": \"ssh\", \"onstart\": \"echo \\\"\$FOO \$CONTAINER_ID\\\" > $VMARK; echo hello-log; sleep 0.5\"}")"
VA=$(jv 'd["new_contract"]')
check_eq "vastai success" True "$(jv 'd["success"]')"
check "vastai onstart ran with env" wait_grep "$VMARK" "vbar $VA" 10
check_eq "vastai offer vanished" "[]" "$(call "$VK" POST /api/v0/bundles/ '{"id": {"eq": 5002}}' > /dev/null; jv 'd["offers"]')"
check_eq "vastai gone offer" 404 "$(call "$VK" PUT /api/v0/asks/5002/ '{"image": "x"}')"
check_eq "vastai no_such_ask" no_such_ask "$(jv 'd["error"]')"
check "vastai exited" wait_api "$VK" "/api/v0/instances/$VA/" 'd["instances"]["actual_status"]' exited
check_eq "vastai exited fields" "t-va running 0.89" "$(jv 'd["instances"]["label"] + " " + d["instances"]["intended_status"] + " " + str(d["instances"]["dph_total"])')"
check_eq "vastai list" "$VA" "$(call "$VK" GET '/api/v0/instances/?owner=me' > /dev/null; jv '[i["id"] for i in d["instances"]][0]')"
call "$VK" PUT "/api/v0/instances/request_logs/$VA/" '{"tail": "100"}' > /dev/null
check "vastai logs" sh -c "curl -s '$(jv 'd["result_url"]')' | grep -q hello-log"
check_eq "vastai non-JSON" 400 "$(call "$VK" PUT /api/v0/asks/5001/ '{x')"
check_eq "vastai 400 shape" "False invalid_args" "$(jv 'str(d["success"]) + " " + d["error"]')"
check_eq "vastai missing image" 400 "$(call "$VK" PUT /api/v0/asks/5001/ '{"disk": 10}')"
check_eq "vastai bid below min_bid" 400 "$(call "$VK" PUT /api/v0/asks/5001/ '{"image": "x", "price": 0.01}')"
check_eq "vastai delete" 200 "$(call "$VK" DELETE "/api/v0/instances/$VA/")"
check_eq "vastai deleted is 404" 404 "$(call "$VK" GET "/api/v0/instances/$VA/")"
# an interruptible (bid) instance, runtype args, preempted
check_eq "vastai bid" 200 "$(call "$VK" PUT /api/v0/asks/5001/ '{"image": "x", "runtype": "args", "args": ["sleep", "300"], "price": 0.2}')"
VB=$(jv 'd["new_contract"]')
check "vastai bid runs" wait_st vastai "$VB" process_running True
check_eq "vastai running" running "$(call "$VK" GET "/api/v0/instances/$VB/" > /dev/null; jv 'd["instances"]["actual_status"]')"
check_eq "vastai preempt" 200 "$(ctl preempt "{\"provider\": \"vastai\", \"id\": \"$VB\"}")"
check_eq "vastai preempted" "stopped exited" "$(call "$VK" GET "/api/v0/instances/$VB/" > /dev/null; jv 'd["instances"]["intended_status"] + " " + d["instances"]["actual_status"]')"
check_eq "vastai preempted process gone" False "$(st vastai "$VB" process_running)"
# stop by PUT state
call "$VK" PUT /api/v0/asks/5001/ '{"image": "x", "runtype": "args", "args": ["sleep", "300"]}' > /dev/null
VC=$(jv 'd["new_contract"]')
check "vastai on-demand runs" wait_st vastai "$VC" process_running True
check_eq "vastai stop" 200 "$(call "$VK" PUT "/api/v0/instances/$VC/" '{"state": "stopped"}')"
check "vastai stop kills" wait_st vastai "$VC" process_running False
check_eq "vastai bad state" 400 "$(call "$VK" PUT "/api/v0/instances/$VC/" '{"state": "paused"}')"

# --- TERM of the emulator: everything it started ends, and it exits 0 ---
call "$RK" POST /v1/pods '{"imageName": "x", "gpuTypeIds": ["NVIDIA GeForce RTX 4090"], "cloudType": "COMMUNITY", "dockerStartCmd": ["sh", "-c", "sleep 300 & sleep 300"]}' > /dev/null
PT=$(jv 'd["id"]')
check "last pod runs" wait_st runpod "$PT" process_running True
PIDS="$(st runpod "$PT" pid) $(st lambda "$LC" pid)"
kill -TERM "$EPID"
wait "$EPID"; rc=$?
check_eq "emulator exits 0 on TERM" 0 "$rc"
check "pid file removed" test ! -e "$ED/pid"
# (a group's orphans are reaped by init: give it a moment)
n=0
while :; do
	left=""
	for p in $PIDS; do pgrep -g "$p" > /dev/null && left="$left $p"; done
	[ -z "$left" ] || [ $n -ge 30 ] && break
	sleep 0.1; n=$((n + 1))
done
check_eq "no process group left" "" "$left"
check "no traceback" test ! -s "$ED/emu.log"
finish
