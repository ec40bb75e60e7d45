#!/bin/sh
# t_conventions.sh - trainfs behaves like the mount tools people know:
# --help lists every option of fs/main.c's fuse_opt table, --version says
# trainfs's version (the Makefile's, the man page's), the man page renders
# without a warning and `make install` puts it in share/man/man1, `-o ro`
# refuses every change with EROFS while runs are still polled, the options
# arrive by -o as mount.fuse3 passes them (mount -t fuse.trainfs, fstab),
# and the systemd user unit keeps the jobs alive on a stop.
# (mount(8) runs in a private mount namespace: see below.)
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
erofs "truncate" truncate -s 0 "$E/description"
erofs "chmod" chmod 600 "$E/description"
erofs "ln -s" ln -s x "$E/runs/link"
erofs "rm -rf of an experiment" rm -rf "$E"
check_eq "reads go on" running "$(cat "$R/status")"
touch "$WORK/go"
check "the run is still polled: it completes" wait_state "$R" completed 20
check_contains "its log too" "done" "$R/log"
check_eq "the created run stayed created" created "$(cat "$E/runs/r2/status")"
stop_daemon

# ---- mount -t fuse.trainfs and /etc/fstab: -o state=,config= as
# mount.fuse3 passes them, SOURCE first. mount(8) starts its helper with
# no PATH, so trainfs must be where the default one looks: in a private
# mount namespace (unshare -m), this trainfs is bind-mounted onto
# /usr/local/sbin and a private fstab onto /etc/fstab, seen by nothing
# outside it.
cat > "$WORK/ns.sh" <<'NS'
# runs inside the namespace: one "PASS what" or "FAIL what" line a check
res() { if "$@"; then echo "PASS $what"; else echo "FAIL $what"; fi; }
mount_checks() { # how
	what="$1 mounts"; res mountpoint -q "$MNT"
	what="$1: as type fuse.trainfs"; res grep -q "$MNT fuse.trainfs" /proc/self/mounts
	what="$1: on the state of -o state= (its run completed)"
	res test "$(cat "$R/status" 2>/dev/null)" = completed
	what="$1: with the config of -o config= (its providers)"
	res test "$(ls "$MNT/providers" 2>/dev/null)" = local
	pid=$(cut -d' ' -f1 "$STATE/lock")
	what="$1: the daemon went to the background, its pid in the lock"
	res kill -0 "$pid"
	umount "$MNT"
	i=0; while kill -0 "$pid" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	what="$1: umount ends it"; res test $i -lt 100
}
mkdir -p "$WORK/bin" && cp "$TRAINFS" "$WORK/bin/trainfs" &&
	mount --bind "$WORK/bin" /usr/local/sbin || { echo "FAIL bind trainfs into the namespace"; exit; }
mount -t fuse.trainfs trainfs "$MNT" -o "state=$STATE,config=$DCONF" 2>> "$WORK/ns.err"
mount_checks "mount -t fuse.trainfs"
echo "trainfs $MNT fuse.trainfs noauto,user,state=$STATE,config=$DCONF 0 0" > "$WORK/fstab"
mount --bind "$WORK/fstab" /etc/fstab || { echo "FAIL bind a private fstab"; exit; }
mount "$MNT" 2>> "$WORK/ns.err"
mount_checks "mount MOUNTPOINT from /etc/fstab"
NS
if [ "$(id -u)" -ne 0 ] || ! command -v unshare >/dev/null; then
	echo "SKIP: mount -t fuse.trainfs and fstab: need root and unshare(1) for a private mount namespace"
elif ! command -v mount.fuse3 >/dev/null && [ ! -x /sbin/mount.fuse3 ]; then
	echo "SKIP: mount -t fuse.trainfs and fstab: mount.fuse3 is not installed (fuse3)"
else
	MNT=$MNT STATE=$STATE DCONF=$DCONF R=$R WORK=$WORK TRAINFS=$TRAINFS \
		unshare --mount --propagation private sh "$WORK/ns.sh" > "$WORK/ns.out" 2>&1
	check "the namespace's checks ran" grep -q '^PASS' "$WORK/ns.out"
	while read -r word what; do
		case $word in
		PASS) ok ;;
		FAIL) fail "$what" ;;
		esac
	done < "$WORK/ns.out"
	grep -v -E '^(PASS|FAIL) ' "$WORK/ns.out" | grep -v 'trainfs info' | sed 's/^/    | /'
fi
"$TRAINFS" a b c > "$WORK/args.out" 2>&1
check "three words that are no option are refused" test $? -ne 0
check_contains "with a reason" "too many arguments" "$WORK/args.out"
finish
