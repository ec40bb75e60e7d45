#!/bin/sh
# c_backup.sh - backups of a live state. While 500 submissions go on through
# the mount (a writer loop of mkdir + cp), `trainfs backup` is taken again
# and again and the daemon writes its own every second (backup_keep 3):
# each backup passes SQLite's integrity check, and restored into a fresh
# state directory and mounted it holds every run whose cp had returned 0
# before the backup began. Restore is refused while the daemon runs; a
# restore into the daemon's own state directory, once it is stopped, brings
# back every run, and the job that was running is re-attached (its
# supervisor still runs) and ends with its true exit code.
. "$(dirname "$0")/lib.sh"

N=${BACKUP_RUNS:-500}
BK=$WORK/periodic
# "local" runs the one long job; "hold" keeps the storm's runs queued
cat > "$DCONF" <<JSON
{"poll_interval_ms": 100, "kill_grace_s": 1,
 "backup_dir": "$BK", "backup_every_s": 1, "backup_keep": 3,
 "providers": {"local": {"type": "local", "slots": {"cpus": 2, "max_jobs": 2}},
               "hold": {"type": "local", "slots": {"cpus": 2, "max_jobs": 0}}}}
JSON
# the restored copies are mounted without periodic backups of their own
python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); [d.pop(k) for k in ("backup_dir","backup_every_s","backup_keep")]; json.dump(d, open(sys.argv[2],"w"))' \
	"$DCONF" "$WORK/plain.json"

start_daemon || { fail "mount"; finish; exit 1; }
# bad backup keys: the daemon refuses to start and names the key
mkdir -p "$WORK/badmnt"
for bad in '"backup_dir": "/tmp/x", "backup_every_s": 0|backup_every_s' \
	   '"backup_dir": "rel/dir"|absolute' '"backup_keep": 2|needs .backup_dir.'; do
	printf '{%s}\n' "${bad%|*}" > "$WORK/bad.json"
	"$TRAINFS" -f --state "$WORK/badstate" --config "$WORK/bad.json" "$WORK/badmnt" > "$WORK/bad.out" 2>&1
	check "{${bad%|*}} is refused" test $? -ne 0
	check_contains "and the reason names it" "${bad#*|}" "$WORK/bad.out"
done

# the long job: it ends with 3 once told to, whichever daemon watches it
L=$(new_run bk long)
cmd_config "[\"sh\", \"-c\", \"while [ ! -e $WORK/go ]; do sleep 0.1; done; exit 3\"]" > "$WORK/long.json"
check "the long job is submitted" cp "$WORK/long.json" "$L/config.json"
check "the long job runs" wait_state "$L" running 20

printf '{"command": ["true"], "provider": "hold"}\n' > "$WORK/q.json"
: > "$WORK/acked"
(
	i=1
	while [ $i -le "$N" ]; do
		mkdir "$MNT/experiments/bk/runs/s$i" &&
		cp "$WORK/q.json" "$MNT/experiments/bk/runs/s$i/config.json" &&
			echo "s$i $(date +%s%3N)" >> "$WORK/acked"
		i=$((i + 1))
	done
) &
WRITER=$!

# backups while the writer goes on: what was acknowledged before each began
k=0; bfail=0
while kill -0 $WRITER 2>/dev/null; do
	k=$((k + 1))
	cp "$WORK/acked" "$WORK/acked.$k"
	if ! "$TRAINFS" backup --state "$STATE" "$WORK/b$k.db" > "$WORK/b$k.out" 2>&1; then
		bfail=$((bfail + 1)); sed 's/^/    | /' "$WORK/b$k.out"
	fi
	sleep 0.3
done
wait $WRITER
check_eq "every backup during the storm says done" 0 "$bfail"
check "several backups were taken during it ($k)" test "$k" -ge 3
check_eq "every submission was acknowledged" "$N" "$(wc -l < "$WORK/acked")"
check_contains "a backup says what it does not hold" "logs and attempt directories" "$WORK/b1.out"

# restore while the daemon runs: refused, the state untouched
"$TRAINFS" restore --state "$STATE" "$WORK/b1.db" > "$WORK/refused.out" 2>&1
check "restore is refused while the daemon runs" test $? -ne 0
check_contains "it says who holds the state" "in use by pid $DAEMON_PID" "$WORK/refused.out"
check "and the state is untouched" test ! -e "$STATE/trainfs.db.old"
"$TRAINFS" backup --state "$STATE" "$STATE/../state/trainfs.db" > "$WORK/self.out" 2>&1
check "a backup onto the live database is refused" test $? -ne 0
check_contains "with the reason" "the state's database itself" "$WORK/self.out"

integrity() { python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("PRAGMA integrity_check").fetchone()[0])' "$1" 2>&1; }

# each backup, restored into a fresh state and mounted: every acked run
check_restored() { # what FILE ACKED_LIST
	m=$WORK/m.$$; s=$WORK/s.$$
	rm -rf "$m" "$s"; mkdir -p "$m"
	if ! "$TRAINFS" restore --state "$s" "$2" > "$WORK/restore.out" 2>&1; then
		fail "$1: restore: $(cat "$WORK/restore.out")"; return
	fi
	"$TRAINFS" -f --state "$s" --config "$WORK/plain.json" "$m" 2>> "$WORK/daemon.log" &
	p=$!
	if ! wait_cmd 10 mountpoint -q "$m"; then fail "$1: mount"; kill $p; wait $p; return; fi
	ls "$m/experiments/bk/runs" | sort > "$WORK/have"
	missing=$(cut -d' ' -f1 "$3" | sort | comm -23 - "$WORK/have" 2>/dev/null | sort | wc -l)
	extra=$(grep -c -v -x -E 'long|s[0-9]+' "$WORK/have")
	q=$(cat "$m/experiments/bk/runs/$(head -1 "$3" | cut -d' ' -f1)/status" 2>/dev/null)
	fusermount3 -u "$m"; wait $p
	rm -rf "$m" "$s"
	if [ "$missing" -eq 0 ] && [ "$extra" -eq 0 ] && { [ ! -s "$3" ] || [ "$q" = queued ]; }; then
		pass "$1: holds all $(wc -l < "$3") runs acked before it ($(wc -l < "$WORK/have") there)"
	else
		fail "$1: $missing acked runs missing, $extra unknown names, first one '$q'"
	fi
}
j=1
while [ $j -le $k ]; do
	check_eq "backup $j passes integrity_check" ok "$(integrity "$WORK/b$j.db")"
	sort -o "$WORK/acked.$j" "$WORK/acked.$j"
	check_restored "backup $j" "$WORK/b$j.db" "$WORK/acked.$j"
	j=$((j + 1))
done

# the daemon's own: written every second, the newest 3 kept
sleep 1.5
wrote=$(grep -c "backup: wrote" "$WORK/daemon.log")
check "the daemon wrote periodic backups ($wrote)" test "$wrote" -ge 4
check_eq "and kept the newest 3" 3 "$(ls "$BK" | grep -c '^trainfs-.*\.db$')"
check_eq "which are the last 3 it wrote" \
	"$(grep "backup: wrote" "$WORK/daemon.log" | sed "s|.*wrote '$BK/||; s|' in.*||" | tail -3 | tr '\n' ' ')" \
	"$(ls "$BK" | grep '^trainfs-.*\.db$' | tr '\n' ' ')"
for f in "$BK"/trainfs-*.db; do
	check_eq "periodic $(basename "$f") passes integrity_check" ok "$(integrity "$f")"
done
# the newest periodic one: every run acked before its name's time
newest=$(ls "$BK" | grep '^trainfs-.*\.db$' | tail -1)
t=$(python3 -c 'import sys,datetime; n=sys.argv[1][8:-3]; print(int(datetime.datetime.strptime(n,"%Y%m%dT%H%M%S.%fZ").replace(tzinfo=datetime.timezone.utc).timestamp()*1000))' "$newest")
awk -v t="$t" '$2 < t' "$WORK/acked" | sort > "$WORK/acked.periodic"
check_restored "periodic $newest" "$BK/$newest" "$WORK/acked.periodic"

# restore into the daemon's own state, once stopped: the job re-attached
last=$WORK/b$k.db
stop_daemon
# what is not a sound trainfs database is refused, the state untouched
head -c 8192 "$last" > "$WORK/cut.db"
printf 'not a database' > "$WORK/junk.db"
python3 -c 'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute("create table t(x)"); c.commit()' "$WORK/other.db"
for f in cut junk other; do
	"$TRAINFS" restore --state "$STATE" "$WORK/$f.db" > "$WORK/bad.out" 2>&1
	check "restore of $f.db is refused" test $? -ne 0
	check_contains "with the reason" "trainfs restore: .*$f.db" "$WORK/bad.out"
done
check "and the state is untouched" test ! -e "$STATE/trainfs.db.old"
"$TRAINFS" backup --state "$WORK/nostate" "$WORK/x.db" > "$WORK/bad.out" 2>&1
check "a backup of a state with no database fails" test $? -ne 0
check_contains "and says so" "no state database in" "$WORK/bad.out"
check "restore once the daemon stopped" sh -c "'$TRAINFS' restore --state '$STATE' '$last' > '$WORK/restore.out'"
check_contains "it says the old database was kept" "trainfs.db.old" "$WORK/restore.out"
check "the database it replaced is kept" test -e "$STATE/trainfs.db.old"
check "no WAL of the old database beside the restored one" test ! -e "$STATE/trainfs.db-wal"
start_daemon || { fail "mount after restore"; finish; exit 1; }
check_eq "the long job is running still" running "$(cat "$L/status")"
ls "$MNT/experiments/bk/runs" | sort > "$WORK/have"
check_eq "every run acked before the backup is there" 0 \
	"$(cut -d' ' -f1 "$WORK/acked.$k" | comm -23 - "$WORK/have" | wc -l)"
touch "$WORK/go"
check "the re-attached job ends" wait_state "$L" failed 20
check_eq "with its own exit code" 3 "$(js "$L/status.json" exit_code)"
check "no supervisor was lost" sh -c "! grep -q 'supervisor lost' '$L/events'"

# a backup_dir that cannot be made: said once in the mount's events, and
# again when backups work again
stop_daemon
: > "$WORK/afile"
sed "s|\"backup_dir\": \"$BK\"|\"backup_dir\": \"$WORK/afile/bk\"|" "$DCONF" > "$WORK/d2.json"
mv "$WORK/d2.json" "$DCONF"
start_daemon || { fail "mount with a bad backup_dir"; finish; exit 1; }
check "a failed backup is in MOUNT/events" wait_grep "$MNT/events" "backup failed: cannot create '$WORK/afile/bk'" 10
sleep 2.2
check_eq "once" 1 "$(grep -c 'backup failed' "$MNT/events")"
rm "$WORK/afile"
check "and so is their return" wait_grep "$MNT/events" "backups to '$WORK/afile/bk' work again" 10
check "with a backup there" sh -c "ls '$WORK/afile/bk' | grep -q '^trainfs-.*\.db$'"
finish
