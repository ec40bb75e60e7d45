#!/bin/sh
# t_conventions.sh - trainfs behaves like the mount tools people know:
# --help lists every option of fs/main.c's fuse_opt table, --version says
# trainfs's version (the Makefile's, the man page's), the man page renders
# without a warning and `make install` puts it in share/man/man1, `-o ro`
# refuses every change with EROFS while runs are still polled, the options
# arrive by -o as mount.fuse3 passes them (mount -t fuse.trainfs, fstab),
# and the systemd user unit keeps the jobs alive on a stop.
. "$(dirname "$0")/lib.sh"

# ---- --help: each fuse_opt entry of fs/main.c is in it
"$TRAINFS" --help > "$WORK/help" 2>&1
check "--help exits 0" test $? -eq 0
opts=$(sed -n 's/^[[:space:]]*OPT("\([^"]*\)".*/\1/p' "$TOP/fs/main.c" | sed 's/[= ]%[sd]$/=/; s/=$//' | sort -u)
check "the option table was found" test -n "$opts"
for o in $opts; do
	case $o in
	-*) grep -q -- "$o" "$WORK/help" ;;
	*) grep -q -- "-o $o" "$WORK/help" || grep -q -- "-o .*$o" "$WORK/help" ;;
	esac || fail "--help does not list '$o'"
	ok
done
for c in backup restore ro; do check_contains "--help lists $c" "$c" "$WORK/help"; done

# ---- --version: trainfs's own, as the Makefile and the man page say
ver=$(sed -n 's/^VERSION = //p' "$TOP/Makefile")
"$TRAINFS" --version > "$WORK/version" 2>&1
check_eq "--version starts with trainfs's version" "trainfs $ver" "$(head -1 "$WORK/version")"
check_contains "and names libfuse's too" "libfuse 3" "$WORK/version"
check_eq "-V says the same" "trainfs $ver" "$("$TRAINFS" -V 2>/dev/null | head -1)"
check_contains "the man page has the same version" "\"trainfs $ver\"" "$TOP/trainfs.1"

# ---- the man page
if command -v groff >/dev/null && command -v man >/dev/null; then
	check_eq "groff -ww -man -z: no warning" "" "$(groff -ww -man -z "$TOP/trainfs.1" 2>&1)"
	check_eq "man -l renders it without a warning" "" \
		"$(MANWIDTH=80 man --warnings -l "$TOP/trainfs.1" 2>&1 >/dev/null)"
	MANWIDTH=80 man -l "$TOP/trainfs.1" > "$WORK/man.txt" 2>/dev/null
	for s in OPTIONS COMMANDS "THE TREE" CONFIG.JSON SWEEP.JSON "DAEMON CONFIG" \
		 ERRORS MOUNTING EXAMPLES; do
		check_contains "the man page has $s" "^$s" "$WORK/man.txt"
	done
	for o in $opts backup_dir backup_every_s backup_keep poll_interval_ms \
		 depends_on max_retries parallelism EROFS ENOTEMPTY fuse.trainfs KillMode; do
		o=${o#--}
		check_contains "the man page says $o" "$o" "$WORK/man.txt"
	done
else
	echo "SKIP: man page: man or groff missing (tools/deps.sh test installs man-db, groff-base)"
fi

# ---- make install: the binary, the man page, the user unit
( cd "$TOP" && make --no-print-directory install DESTDIR="$WORK/inst" PREFIX=/usr ) > "$WORK/install.out" 2>&1
check "make install DESTDIR=... works" test $? -eq 0
check "it installs the man page in share/man/man1" test -f "$WORK/inst/usr/share/man/man1/trainfs.1"
check "man reads the installed one" sh -c "MANWIDTH=80 man -l '$WORK/inst/usr/share/man/man1/trainfs.1' | grep -q 'trainfs backup'"
check "it installs the user unit" test -f "$WORK/inst/usr/lib/systemd/user/trainfs.service"
check_contains "with this PREFIX's path" "ExecStart=/usr/bin/trainfs " "$WORK/inst/usr/lib/systemd/user/trainfs.service"

# ---- the systemd user unit (not run: no systemd here)
U=$TOP/tools/trainfs.service
check_contains "the unit has KillMode=process" "^KillMode=process" "$U"
check_contains "it runs the daemon in the foreground" "^ExecStart=.*trainfs -f " "$U"
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/local/bin/trainfs|$TRAINFS|" "$U" > "$WORK/trainfs.service"
	check "systemd-analyze verify finds nothing wrong" systemd-analyze verify --man=no "$WORK/trainfs.service"
else
	echo "SKIP: systemd-analyze verify: systemd-analyze missing"
fi

# ---- -o ro: every change refused with EROFS, runs still polled
write_daemon_config
start_daemon || { fail "mount"; finish; exit 1; }
R=$(new_run ro r1)
cmd_config "[\"sh\", \"-c\", \"while [ ! -e $WORK/go ]; do sleep 0.1; done; echo done\"]" > "$WORK/cfg"
check "submit" cp "$WORK/cfg" "$R/config.json"
new_run ro r2 > /dev/null
check "the run runs" wait_state "$R" running 20
stop_daemon
start_daemon -o ro || { fail "mount -o ro"; finish; exit 1; }
check_contains "the mount is read-only" " fuse.trainfs ro," /proc/mounts
erofs() { # what command...: fails, with EROFS's message
	what=$1; shift
	if "$@" 2> "$WORK/err"; then fail "$what: succeeded on a read-only mount"; return; fi
	check_contains "$what: EROFS" "Read-only file system" "$WORK/err"
}
E=$MNT/experiments/ro
erofs "mkdir of an experiment" mkdir "$MNT/experiments/x"
erofs "mkdir of a run" mkdir "$E/runs/r3"
erofs "submitting a created run" cp "$WORK/cfg" "$E/runs/r2/config.json"
erofs "ctl" sh -c "echo cancel > '$R/ctl'"
erofs "a description" sh -c "echo text > '$E/description'"
erofs "a template" cp "$WORK/cfg" "$MNT/templates/t.json"
erofs "rmdir of a run" rmdir "$E/runs/r2"
erofs "mv of a run" mv "$E/runs/r2" "$E/runs/r9"
erofs "touch" touch "$E/runs/r2/config.json"
check_eq "reads go on" running "$(cat "$R/status")"
touch "$WORK/go"
check "the run is still polled: it completes" wait_state "$R" completed 20
check_contains "its log too" "done" "$R/log"
check_eq "the created run stayed created" created "$(cat "$E/runs/r2/status")"
stop_daemon

# ---- -o state=,config= as mount.fuse3 passes them, SOURCE first
if [ -x /sbin/mount.fuse3 ] || command -v mount.fuse3 >/dev/null; then
	helper=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
	# mount(8) starts its helper with no PATH: trainfs must be installed
	inst=$(PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin command -v trainfs || true)
	if [ -n "$inst" ] && [ "$(id -u)" -eq 0 ] && cmp -s "$inst" "$TRAINFS"; then
		how="mount -t fuse.trainfs"
		mount -t fuse.trainfs trainfs "$MNT" -o "state=$STATE,config=$DCONF" 2> "$WORK/mount.err"
	else
		echo "SKIP: mount -t fuse.trainfs: mount(8) runs its helper without PATH and this trainfs is not installed there (make install); running mount.fuse3 as mount(8) would instead"
		how="mount.fuse3"
		PATH=$TOP:$PATH "$helper" trainfs "$MNT" -t fuse.trainfs \
			-o "rw,noauto,user,nofail,_netdev,state=$STATE,config=$DCONF" 2> "$WORK/mount.err"
	fi
	check "$how mounts" mountpoint -q "$MNT"
	sed 's/^/    | /' "$WORK/mount.err"
	check_contains "as type fuse.trainfs" "$MNT fuse.trainfs" /proc/mounts
	check_eq "on the state given by -o state=" completed "$(cat "$R/status" 2>/dev/null)"
	check_eq "with the config given by -o config= (its providers)" local "$(ls "$MNT/providers" 2>/dev/null)"
	DAEMON_PID=$(cut -d' ' -f1 "$STATE/lock")
	check "the daemon went to the background, its pid in the lock" kill -0 "$DAEMON_PID"
	umount "$MNT"
	check "umount ends it" wait_cmd 10 sh -c "! kill -0 $DAEMON_PID 2>/dev/null"
	DAEMON_PID=""
else
	echo "SKIP: mount -t fuse.trainfs: mount.fuse3 is not installed (fuse3)"
fi
"$TRAINFS" a b c > "$WORK/args.out" 2>&1
check "three words that are no option are refused" test $? -ne 0
check_contains "with a reason" "too many arguments" "$WORK/args.out"
finish
