# cloud_run.sh - sourced by tests/fs/t_runpod.sh, t_lambda.sh and
# t_vastai.sh after lib.sh: one cloud provider through a real mount,
# against tools/cloud-emu, with a real nginx (/dav/) as the run store the
# job's wrapper PUTs to: submit, the log while the job runs (tail -f),
# metrics, completion, verified artifacts, the instance ended with its
# job, cancel (the instance gone, its process too), preemption retried as
# attempt 2 of the same run, no capacity then capacity, a bad key (said,
# no storm of requests), a daemon killed mid-run (the instance adopted,
# never launched twice), nothing billing at the end, and the keys nowhere:
# not in the mount, the log, the state, the job's environment.
#
# The caller sets: PROV (the provider type), EMU_EXTRA (members added to
# the emulator's config of PROV, from ", "), CONF_EXTRA (members of the
# provider config), LAUNCH (a requests.log pattern of a launch), PRICE
# (the hourly price of the first run's instance), IMAGE (its image, or ""
# when the provider has none), GONE ("FIELD VALUE" of /_emu/state once an
# instance is gone), CAPACITY (units to give back); and may define
# extra_checks, run before the last section.
. "$TOP/tests/lib/cloud_emu.sh"
RK=$PROV-key-$$-$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
SA="Bearer store-cred-$$-x"
mkdir -p "$WORK/go"
(umask 077; printf '%s=%s\n' "$PROV" "$RK" > "$WORK/keys"; printf '%s\n' "$RK" > "$WORK/rp.key";
 printf 'wrong-key-%s\n' "$$" > "$WORK/bad.key"; printf '%s\n' "$SA" > "$WORK/store.auth")
cat > "$WORK/emu.json" <<JSON
{"kill_grace_s": 1, "$PROV": {"boot_s": 0.2,
  "limits": {"rps": 0, "launch_interval_s": 0}$EMU_EXTRA}}
JSON
emu_start "$WORK/keys" "$WORK/emu.json"

rp_conf() { # rp_conf KEYFILE
	cat <<JSON
{"type": "$PROV", "url": "$EURL", "api_key_file": "$1",
 "store": "$NGINX_URL/dav/runs", "store_auth_file": "$WORK/store.auth",
 $CONF_EXTRA, "poll_ms": 200, "rps": 50}
JSON
}
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
   "$PROV": $(rp_conf "$WORK/rp.key"),
   "${PROV}bad": $(rp_conf "$WORK/bad.key")}}
JSON
start_daemon || { fail "daemon did not start"; cleanup; finish; exit 1; }

# pod ID FIELD: a field of the instance in /_emu/state
pod() { emu_field "$PROV" "$1" "$2"; }
pod_is() { [ "$(pod "$1" "$2")" = "$3" ]; }
posts() { grep -c "$LAUNCH" "$ED/requests.log"; }
submit() { # submit RUN_DIR 'argv JSON' [extra members]
	cmd_config "$2" "\"provider\": \"${4:-$PROV}\", \"resources\": {\"gpus\": 1}${3:+, $3}" \
		> "$1/config.json" || fail "config.json of $1 refused"
}
job_of() { js "$1/status.json" provider_job_id; }

check "provider ok" wait_grep "$MNT/providers/$PROV/status" "^ok" 20

# ---- submit, the log while running, metrics, completion, artifacts ----
A=$(new_run $PROV talk)
submit "$A" "[\"sh\", \"-c\", \"echo line one; echo '{\\\"step\\\": 1, \\\"loss\\\": 0.5}' >> \\\"\$TRAINFS_METRICS\\\"; env > \\\"\$TRAINFS_OUTPUT_DIR/env.txt\\\"; head -c 200000 /dev/urandom > \\\"\$TRAINFS_OUTPUT_DIR/model.bin\\\"; sha256sum \\\"\$TRAINFS_OUTPUT_DIR/model.bin\\\" > $WORK/model.sum; while [ ! -e $WORK/go/talk ]; do sleep 0.1; done; echo line two\"]"
check "talk runs" wait_state "$A" running 30
check "the log has line one while the job runs" wait_grep "$A/log" "line one" 20
tail -f "$A/log" > "$WORK/tail.out" 2>/dev/null &
TAIL=$!
check "no line two yet" sh -c "! grep -q 'line two' '$A/log'"
check "metrics while running" wait_grep "$A/metrics.jsonl" '"loss"' 20
AP=$(job_of "$A")
check "an instance id" test -n "$AP"
check_eq "the instance runs" "True" "$(pod "$AP" process_running)"
check_eq "the cheapest that fits" "$PRICE" "$(pod "$AP" price_per_hour)"
[ -n "$IMAGE" ] && check_eq "the image" "$IMAGE" "$(pod "$AP" image)"
touch "$WORK/go/talk"
check "talk completes" wait_state "$A" completed 30
check "tail -f saw line two" wait_grep "$WORK/tail.out" "line two" 10
kill "$TAIL" 2>/dev/null
check "the instance ends with its job" wait_cmd 10 pod_is "$AP" $GONE
check_eq "and bills no more" "False" "$(pod "$AP" billing)"
check_eq "model.bin verified" "$(cut -d' ' -f1 "$WORK/model.sum")" "$(sha256sum < "$A/artifacts/model.bin" | cut -d' ' -f1)"
check "the job's environment has no store credential" sh -c "! grep -q -F 'store-cred' '$A/artifacts/env.txt'"
check "nor the API key" sh -c "! grep -q -F '$RK' '$A/artifacts/env.txt'"

# ---- cancel: the instance really goes ----
C=$(new_run $PROV cancel)
submit "$C" '["sleep", "60"]'
check "cancel runs" wait_state "$C" running 30
CP=$(job_of "$C")
echo cancel > "$C/ctl"
check "cancelled" wait_state "$C" stopped 60
check "the instance is gone" wait_cmd 10 pod_is "$CP" $GONE
check "its process is gone" wait_cmd 10 pod_is "$CP" process_running False

# ---- preemption: attempt 2 of the same run ----
PR=$(new_run $PROV preempt)
submit "$PR" "[\"sh\", \"-c\", \"while [ ! -e $WORK/go/pre ]; do sleep 0.1; done\"]" '"max_retries": 1'
check "preempt runs" wait_state "$PR" running 30
PP=$(job_of "$PR")
PID1=$(js "$PR/status.json" run_id)
emu preempt "{\"provider\": \"$PROV\", \"id\": \"$PP\", \"force\": true}"
check "attempt 2 runs" wait_cmd 30 sh -c "[ \"\$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[\"attempt\"])' '$PR/status.json' 2>/dev/null)\" = 2 ] && [ \"\$(cat '$PR/status')\" = running ]"
check_eq "the same run id" "$PID1" "$(js "$PR/status.json" run_id)"
check "the preempted instance bills no more" wait_cmd 10 pod_is "$PP" billing False
check_contains "attempt 1's reason says preempted" "preempted by $PROV" "$PR/events"
touch "$WORK/go/pre"
check "attempt 2 completes" wait_state "$PR" completed 30

# ---- no capacity, then capacity ----
emu capacity "{\"provider\": \"$PROV\", \"available\": 0}"
N=$(new_run $PROV nocap)
submit "$N" '["true"]'
check "no capacity is said" wait_grep "$N/events" "no capacity for 1xGPU on $PROV" 20
emu capacity "{\"provider\": \"$PROV\", \"available\": $CAPACITY}"
N2=$(new_run $PROV cap)
submit "$N2" '["true"]'
check "with capacity again it completes" wait_state "$N2" completed 30

# ---- a daemon killed mid-run adopts its instance ----
K=$(new_run $PROV kill9)
submit "$K" "[\"sh\", \"-c\", \"echo before; while [ ! -e $WORK/go/k9 ]; do sleep 0.1; done; echo after\"]"
check "kill9 runs" wait_state "$K" running 30
KP=$(job_of "$K")
BEFORE=$(posts)
kill9_daemon
start_daemon || fail "daemon did not start again"
check "running again after the restart" wait_state "$K" running 20
check_eq "the same instance" "$KP" "$(job_of "$K")"
touch "$WORK/go/k9"
check "kill9 completes" wait_state "$K" completed 30
check_eq "nothing launched again" "$BEFORE" "$(posts)"
check_contains "its log is whole" "after" "$K/log"

# ---- a bad key: said once, no storm ----
B=$(new_run $PROV badkey)
submit "$B" '["true"]' "" ${PROV}bad
check "the status says the key is rejected" wait_grep "$MNT/providers/${PROV}bad/status" "key rejected" 20
n1=$(grep -c ' 401 ' "$ED/requests.log")
sleep 3
n2=$(grep -c ' 401 ' "$ED/requests.log")
check "at most one refused request a second ($n1 then $n2)" test $((n2 - n1)) -le 3
check_eq "the run waits" "initializing" "$(cat "$B/status")"

# ---- a launch answered 500 that made the instance: one, never two ----
LM=${LAUNCH%% *}; LP=$(echo "$LAUNCH" | cut -d' ' -f2)
BEFORE=$(posts)
emu fail "{\"provider\": \"$PROV\", \"status\": 500, \"count\": 1, \"method\": \"$LM\", \"path\": \"$LP\", \"after\": true}"
L5=$(new_run $PROV lost500)
submit "$L5" '["sleep", "1"]'
check "the status has the requests' time" grep -q '^request_us: [1-9]' "$MNT/providers/$PROV/status"
check "a launch answered 500 completes" wait_state "$L5" completed 40
check_eq "launched once" "$((BEFORE + 1))" "$(posts)"

# ---- a terminate that fails is sent again until it takes ----
case $PROV in
runpod) TM=DELETE TP=/v1/pods/ ;;
lambda) TM=POST TP=/instance-operations/terminate ;;
*) TM=DELETE TP=/instances/ ;;
esac
T=$(new_run $PROV termfail)
submit "$T" '["sleep", "1"]'
check "termfail runs" wait_state "$T" running 30
TJ=$(job_of "$T")
emu fail "{\"provider\": \"$PROV\", \"status\": 500, \"count\": 40, \"method\": \"$TM\", \"path\": \"$TP\"}"
check "termfail completes" wait_state "$T" completed 30
check "a failed terminate is tried again until it bills no more" wait_cmd 20 pod_is "$TJ" billing False

# ---- what only this provider has ----
type extra_checks >/dev/null 2>&1 && extra_checks

# ---- nothing billing, no key anywhere ----
check "nothing bills at the end" wait_cmd 10 sh -c "curl -s '$EURL/_emu/state' | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(any(x[\"billing\"] for x in d[\"$PROV\"]))'"
for k in "$RK" "store-cred-$$"; do
	check "no key in the mount" sh -c "! grep -r -q -F '$k' '$MNT/experiments' '$MNT/providers' 2>/dev/null"
	stop_daemon
	check "no key in the state dir" sh -c "! grep -r -q -F '$k' '$STATE'"
	check "no key in the daemon log" sh -c "! grep -q -F '$k' '$WORK/daemon.log'"
	start_daemon >/dev/null 2>&1
done

# ---- artifacts in a store that wants its credential for GETs too ----
# nginx's /davauth/ answers 401 unless Authorization is the store's: the
# daemon must send it with its artifact downloads, not only with sync.
stop_daemon
NGINX_AUTH_RE=$SA _nginx_conf "$(cd "$WORK/store" && pwd)" "$NGINX_PORT" \
	> "$NGINX_DIR/nginx.conf"
nginx_restart >/dev/null 2>&1 || fail "nginx did not restart"
check_eq "a GET without the credential is refused" 401 \
	"$(curl -s -o /dev/null -w '%{http_code}' "$NGINX_URL/davauth/runs/x")"
sed -i 's|/dav/runs|/davauth/runs|g' "$DCONF"
start_daemon >/dev/null 2>&1 || fail "daemon did not start on /davauth/"
V=$(new_run $PROV authart)
submit "$V" "[\"sh\", \"-c\", \"head -c 100000 /dev/urandom > \\\"\$TRAINFS_OUTPUT_DIR/w.bin\\\"; sha256sum \\\"\$TRAINFS_OUTPUT_DIR/w.bin\\\" > $WORK/w.sum\"]"
check "authart completes" wait_state "$V" completed 40
check_eq "its artifact is fetched with the credential and verified" \
	"$(cut -d' ' -f1 "$WORK/w.sum" 2>/dev/null)" \
	"$(sha256sum < "$V/artifacts/w.bin" 2>/dev/null | cut -d' ' -f1)"
check "the store answered the artifact's GET" \
	grep -q "^GET /davauth/runs/.*/output/w.bin 20[06]" "$NGINX_DIR/access.log"
for k in "store-cred-$$"; do
	stop_daemon
	check "no store credential in the state dir" sh -c "! grep -r -q -F '$k' '$STATE'"
	check "nor in the daemon log" sh -c "! grep -q -F '$k' '$WORK/daemon.log'"
done
cleanup
finish
