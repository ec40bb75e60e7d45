# cloud_emu.sh - sourced by the cloud mount tests (tests/lib/cloud_run.sh,
# tests/fs/t_cloudchoice.sh) after lib.sh: the run store (a private nginx
# serving $WORK/store, /dav/ taking PUT) and tools/cloud-emu on loopback,
# started and stopped together.
#
#   emu_start KEYS_FILE CONFIG_FILE  nginx, then the emulator with
#       --keys @KEYS_FILE --config CONFIG_FILE; sets NGINX_URL, ED (its
#       state directory), EURL (its base URL) and EPID, and traps INT and
#       TERM. Without nginx's /dav/ it says SKIP and the test ends (exit 0);
#       an emulator that does not start fails the test (exit 1).
#   cleanup  the daemon, the emulator, nginx (each once: callable again)
#   emu_start3 KEY  emu_start with the three providers, one offer each
#       (Vast.ai RTX 4090 $0.31/h, RunPod RTX 4090 $0.34/h, Lambda A100
#       $1.29/h, 8 units of each), KEY the key of all three, also in
#       $WORK/api.key for the daemon's providers
#   emu PATH JSON  POST JSON to the emulator's /_emu/PATH
#   emu_nobill  true when no instance of the three bills
#   emu_field PROVIDER ID FIELD  a field of instance ID in /_emu/state
. "$TOP/tests/lib/nginx.sh"
EMU=$TOP/tools/cloud-emu
ED=$WORK/emu

cleanup() {
	stop_daemon
	[ -n "${EPID:-}" ] && kill "$EPID" 2>/dev/null && wait "$EPID" 2>/dev/null
	EPID=
	nginx_cleanup 2>/dev/null
}

emu_start() {
	mkdir -p "$WORK/store"
	trap 'cleanup; rm -rf "$WORK"; exit 1' INT TERM
	if ! nginx_start "$WORK/store" >/dev/null 2>&1 ||
	   ! curl -s -f -T /dev/null "$NGINX_URL/dav/probe" >/dev/null; then
		echo "SKIP: nginx with /dav/ did not start"
		cleanup; finish; exit 0
	fi
	"$EMU" --port 0 --state "$ED" --keys "@$1" --config "$2" \
		2>"$WORK/emu.err" &
	EPID=$!
	_i=0
	while [ ! -s "$ED/port" ] && [ $_i -lt 100 ]; do
		sleep 0.05; _i=$((_i + 1))
	done
	if [ ! -s "$ED/port" ]; then
		cat "$WORK/emu.err" >&2
		fail "emulator did not start"; cleanup; finish; exit 1
	fi
	EURL=http://127.0.0.1:$(cat "$ED/port")
}

emu() {
	curl -s -X POST -H 'Content-Type: application/json' \
		--data-binary "$2" "$EURL/_emu/$1" >/dev/null
}

emu_field() {
	curl -s "$EURL/_emu/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
print([x for x in d[sys.argv[1]] if str(x["id"]) == sys.argv[2]][0][sys.argv[3]])' "$1" "$2" "$3" 2>/dev/null
}

emu_start3() {
	(umask 077
	 printf 'runpod=%s,lambda=%s,vastai=%s\n' "$1" "$1" "$1" > "$WORK/keys"
	 printf '%s\n' "$1" > "$WORK/api.key")
	cat > "$WORK/emu.json" <<'JSON'
{"kill_grace_s": 1,
 "runpod": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "gpu_types": [{"id": "NVIDIA GeForce RTX 4090", "displayName": "RTX 4090",
     "memoryInGb": 24, "cloudType": "COMMUNITY", "dataCenterId": "EU-RO-1",
     "costPerHr": 0.34, "spotCostPerHr": 0.2, "capacity": 8}]},
 "lambda": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "instance_types": [{"name": "gpu_1x_a100_sxm4",
     "description": "1x A100 (40 GB SXM4)", "gpu_description": "A100 (40 GB SXM4)",
     "price_cents_per_hour": 129, "specs": {"vcpus": 30, "memory_gib": 200,
     "storage_gib": 512, "gpus": 1}, "capacity": {"us-east-1": 8}}]},
 "vastai": {"boot_s": 0.2, "limits": {"rps": 0, "launch_interval_s": 0},
   "offers": [{"id": 5001, "gpu_name": "RTX 4090", "num_gpus": 1,
     "gpu_ram": 24564, "dph_total": 0.31, "dph_base": 0.29, "min_bid": 0.15,
     "cpu_cores": 16, "cpu_ram": 64000, "disk_space": 200,
     "reliability2": 0.995, "geolocation": "US", "verification": "verified",
     "machine_id": 301, "host_id": 41, "capacity": 8}]}}
JSON
	emu_start "$WORK/keys" "$WORK/emu.json"
}

emu_nobill() {
	curl -s "$EURL/_emu/state" | python3 -c 'import json,sys
d=json.load(sys.stdin)
sys.exit(1 if any(i.get("billing") for p in ("runpod","lambda","vastai") for i in d.get(p, [])) else 0)'
}
