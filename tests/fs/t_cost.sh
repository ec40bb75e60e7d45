#!/bin/sh
# Cost through the mount, with local providers priced by their config's
# price_per_hour: cost_usd grows with the time a job is held and is
# plausible (price x elapsed), a restart neither loses the time the daemon
# was down nor counts a span twice, max_cost_usd stops a run with its exact
# reason, a provider list starts on the cheapest that fits now and falls
# back when it is full or holds every job, MOUNT/cost sums the runs, and
# bad budgets and lists are refused.
. "$(dirname "$0")/lib.sh"
# prices high enough to see in a second: cheap $0.01/s, dear $0.02/s
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1, "retry_backoff_s": 1,
 "providers": {
  "local": {"type": "local", "slots": {"cpus": 4, "max_jobs": 4}},
  "cheap": {"type": "local", "price_per_hour": 36,
            "slots": {"cpus": 2, "max_jobs": 1}},
  "dear": {"type": "local", "price_per_hour": 72,
           "slots": {"cpus": 2, "max_jobs": 2}},
  "held": {"type": "local", "price_per_hour": 1,
           "slots": {"cpus": 2, "max_jobs": 0}}}}
JSON
start_daemon || exit 1
E=$MNT/experiments

# a number of status.json
js() { python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(eval(sys.argv[2]))" "$1" "$2" 2>/dev/null; }
# a float check: pyok 'expression' (1 when true)
pyok() { [ "$(python3 -c "print(1 if ($1) else 0)")" = 1 ]; }
now() { python3 -c 'import time; print(time.time())'; }
gated() { # gate-file name
	echo "[\"sh\", \"-c\", \"while [ ! -f $WORK/$1 ]; do sleep 0.05; done\"]"
}

# cost grows while a job is held, at the provider's price
A=$(new_run c a)
T0=$(now)
# a list whose cheapest is "cheap": the restart below keeps the attempt there
AJOB="[\"sh\", \"-c\", \"echo start >> $WORK/a.starts; while [ ! -f $WORK/a.gate ]; do sleep 0.05; done\"]"
cmd_config "$AJOB" '"provider": ["dear", "cheap"]' > "$A/config.json"
wait_state "$A" running
sleep 1.5
C1=$(js "$A/status.json" 'd["cost_usd"]'); T1=$(now)
check "cost_usd grows while it runs ($C1)" pyok "$C1 > 0.005"
check "cost_usd is price x time held ($C1 for $T1 - $T0 s)" \
	pyok "$C1 <= 0.01 * ($T1 - $T0) + 1e-6 and $C1 >= 0.01 * ($T1 - $T0 - 0.6)"
check_eq "status.json has the price" "36" "$(js "$A/status.json" 'd["price_per_hour"]')"
check_contains "the leaderboard has a cost column" "cost_usd" "$E/c/leaderboard"

# a restart: the time the daemon was down is counted, once
stop_daemon
sleep 2
start_daemon || exit 1
sleep 0.5
C2=$(js "$A/status.json" 'd["cost_usd"]'); T2=$(now)
check "the time the daemon was down is counted ($C1 -> $C2)" pyok "$C2 >= $C1 + 0.02"
check "and not twice ($C2 for $T2 - $T0 s)" pyok "$C2 <= 0.01 * ($T2 - $T0) + 1e-6"
check_eq "after the restart the attempt stays with its provider" "cheap" "$(js "$A/status.json" 'd["provider"]')"
touch "$WORK/a.gate"
check_eq "a completes" "completed" "$(timeout 20 cat "$A/wait")"
CA=$(js "$A/status.json" 'd["cost_usd"]'); T3=$(now)
sleep 0.5
check_eq "an ended run's cost stays" "$CA" "$(js "$A/status.json" 'd["cost_usd"]')"
check_eq "and its job was started once" "1" "$(wc -l < "$WORK/a.starts")"
check "the whole cost is plausible ($CA for $T3 - $T0 s)" \
	pyok "$CA <= 0.01 * ($T3 - $T0) + 1e-6 and $CA >= 0.01 * ($T3 - $T0 - 1.5)"

# the budget stops a run, through the cancel path, with the exact reason
B=$(new_run c b)
cmd_config "$(gated never)" '"provider": "dear", "max_cost_usd": 0.03, "timeout_s": 3600' > "$B/config.json"
check_eq "a run past its budget is stopped" "stopped" "$(timeout 20 cat "$B/wait")"
RB=$(js "$B/status.json" 'd["reason"]')
check "with the reason 'budget reached: \$X of \$0.03' ($RB)" \
	sh -c "echo '$RB' | grep -Eq '^budget reached: \\\$0\.0[3-9] of \\\$0\.03$'"
check_contains "the budget is in its events" "budget reached: .*: cancelling" "$B/events"
CB=$(js "$B/status.json" 'd["cost_usd"]')
check "its cost went little past the budget ($CB)" pyok "$CB >= 0.03 and $CB < 0.06"

# a provider list: the cheapest that fits now
L1=$(new_run c l1)
cmd_config '["sleep", "0.3"]' '"provider": ["dear", "cheap", "held"]' > "$L1/config.json"
check_eq "a list run completes" "completed" "$(timeout 20 cat "$L1/wait")"
check_eq "it ran on the cheapest" "cheap" "$(js "$L1/status.json" 'd["provider"]')"
check_eq "status.json says which was chosen" "cheap" "$(js "$L1/status.json" 'd["provider_choice"]["chosen"]')"
check_eq "and why" "cheapest: cheap \$36.00/h; then dear \$72.00/h; held: provider held holds every job (max_jobs 0)" \
	"$(js "$L1/status.json" 'd["provider_choice"]["why"]')"
check_contains "the choice is an event" "provider choice: cheap (cheapest" "$L1/events"
check_contains "the submission names the list" "submitted to the cheapest of 'dear', 'cheap', 'held'" "$L1/events"

# the cheapest full: the next one that fits now
G=$(new_run c g)
cmd_config "$(gated g.gate)" '"provider": "cheap"' > "$G/config.json"
wait_state "$G" running
L2=$(new_run c l2)
cmd_config '["sleep", "0.3"]' '"provider": ["cheap", "dear"]' > "$L2/config.json"
check_eq "with the cheapest full, the list run completes" "completed" "$(timeout 20 cat "$L2/wait")"
check_eq "on the next that fits" "dear" "$(js "$L2/status.json" 'd["provider"]')"
check_contains "saying why" "no free slot on cheap" "$L2/status.json"
L4=$(new_run c l4)
cmd_config '["true"]' '"provider": ["cheap", "held"]' > "$L4/config.json"
check "when none of the list fits now, the queue says why" wait_grep "$MNT/queue" \
	"c/l4 .*none fits now: cheap: no free slot on cheap (1/1 jobs); held: provider held holds every job (max_jobs 0)" 5
check_eq "and it waits" "queued" "$(cat "$L4/status")"
touch "$WORK/g.gate"
cat "$G/wait" > /dev/null
check_eq "then starts on the one that frees" "completed" "$(timeout 20 cat "$L4/wait")"
check_eq "which is cheap" "cheap" "$(js "$L4/status.json" 'd["provider"]')"

# no price on the list: priced ones first, then the first without one
L3=$(new_run c l3)
cmd_config '["true"]' '"provider": ["local", "held"]' > "$L3/config.json"
check_eq "an unpriced provider is used when no priced one fits" "completed" "$(timeout 20 cat "$L3/wait")"
check_eq "the first without a price" "local" "$(js "$L3/status.json" 'd["provider"]')"
check_eq "costing nothing" "0" "$(js "$L3/status.json" 'd["cost_usd"]')"

# MOUNT/cost: per provider, per experiment and in all, the runs' sums
SUM=$(python3 -c "
import json, sys
print(sum(json.load(open(p))['cost_usd'] for p in sys.argv[1:]))" "$A/status.json" "$B/status.json" "$L1/status.json" "$L2/status.json" "$G/status.json" "$L3/status.json" "$L4/status.json")
cat "$MNT/cost" > "$WORK/cost"
TOT=$(awk '$1 == "total" {print $4}' "$WORK/cost")
check "MOUNT/cost's total is the runs' sum ($TOT, $SUM)" pyok "abs($TOT - $SUM) < 1e-5"
EXP=$(awk '$1 == "c" {print $4}' "$WORK/cost")
check "the experiment's line too ($EXP)" pyok "abs($EXP - $SUM) < 1e-5"
CHEAP=$(awk '$1 == "cheap" {print $4}' "$WORK/cost")
CSUM=$(python3 -c "
import json, sys
print(sum(json.load(open(p))['cost_usd'] for p in sys.argv[1:]))" "$A/status.json" "$L1/status.json" "$G/status.json" "$L4/status.json")
check "the provider's line is its runs' sum ($CHEAP, $CSUM)" pyok "abs($CHEAP - $CSUM) < 1e-5"
check_eq "runs counted on dear" "2" "$(awk '$1 == "dear" {print $2}' "$WORK/cost")"
check_eq "columns are aligned: every line as long" "1" "$(awk 'NF {print length($0)}' "$WORK/cost" | sort -u | wc -l)"

# bad budgets and lists: EINVAL at close, with the reason
R=$(new_run c bad)
for cfg in '"max_cost_usd": -1' '"max_cost_usd": "5"' '"max_cost_usd": 0' \
	   '"provider": []' '"provider": ["cheap", "cheap"]' '"provider": ["cheap", 3]'; do
	cmd_config '["true"]' "$cfg" > "$WORK/bad.json"
	check "refused: $cfg" sh -c "! cp '$WORK/bad.json' '$R/config.json' 2>/dev/null"
done
check_contains "the budget's reason" "'max_cost_usd' must be a number of USD above 0" "$R/events"
check_contains "a repeated provider's" "'provider' lists 'cheap' twice" "$R/events"
cmd_config '["true"]' '"provider": ["cheap", "nowhere"]' > "$WORK/bad.json"
check "an unknown provider in a list is refused" sh -c "! cp '$WORK/bad.json' '$R/config.json' 2>/dev/null"
check_contains "naming it" "unknown provider 'nowhere'" "$R/events"
finish
