#!/bin/sh
# t_tour.sh - runs README.md's five-minute tour as written: the commands of
# the first fenced block after "## A five-minute tour", each verbatim with
# sh -c, in a directory laid out like the source tree (./trainfs,
# tools/train.py), with a fresh HOME so that the default state directory is
# used, and checks what the tour's comments promise. TOUR_README=FILE runs
# another README's tour (an old one, to show that it was not true).
. "$(dirname "$0")/lib.sh"

README_MD=${TOUR_README:-$TOP/README.md}
TAG=TFS_TOUR_TAG=$WORK
export HOME="$WORK/home" TFS_TOUR_TAG="$WORK"
unset XDG_STATE_HOME XDG_CONFIG_HOME
mkdir -p "$HOME" "$WORK/tools" "$WORK/cmds"
ln -s "$TRAINFS" "$WORK/trainfs"
ln -s "$TRAIN_PY" "$WORK/tools/train.py"

# The tour's daemon has a relative command line, so pkill -f "$WORK" would
# miss it: it and what it forks are found by the tag in their environment.
tagged_pids() {
	for p in /proc/[0-9]*; do
		grep -qzx -- "$TAG" "$p/environ" 2>/dev/null && echo "${p#/proc/}"
	done
}

# Split the block into commands: one a line, a here-document with its body.
awk -v dir="$WORK/cmds" '
	/^## A five-minute tour/ { intour = 1; next }
	intour && /^```/ { if (inblock) exit; inblock = 1; next }
	!inblock { next }
	heredoc != "" { print > f; if ($0 == heredoc) { close(f); heredoc = "" } next }
	/^[ \t]*$/ { next }
	{
		n++; f = sprintf("%s/%02d", dir, n); print > f
		if (match($0, /<<-?[ \t]*['\''"]?[A-Za-z_]+/)) {
			heredoc = substr($0, RSTART, RLENGTH)
			sub(/^<<-?[ \t]*['\''"]?/, "", heredoc)
		} else close(f)
	}' "$README_MD"
check "README has a tour block" test -f "$WORK/cmds/01"

# retry SECONDS PATTERN CMDFILE OUT: runs a read-only command until its
# output matches (a person reads again after a moment, too).
retry() {
	deadline=$(( $(date +%s) + $1 ))
	while :; do
		(cd "$WORK" && timeout 60 sh -c "$(cat "$3")") > "$4" 2>&1
		grep -Eq -- "$2" "$4" && return 0
		[ "$(date +%s)" -ge "$deadline" ] && return 1
		sleep 0.2
	done
}

seen=""
paused=0
for c in "$WORK"/cmds/*; do
	cmd=$(cat "$c")
	out=$c.out
	first=$(head -1 "$c")
	case $first in
	"tail -f "*)
		# Ctrl-C once the log shows training
		(cd "$WORK" && exec timeout -s INT 60 sh -c "$cmd") > "$out" 2>&1 &
		tp=$!
		check "tour: '$first' shows the loss" wait_grep "$out" "'loss'" 30
		kill -INT $tp 2>/dev/null; wait $tp 2>/dev/null
		seen="$seen tail"; continue ;;
	*"/status"*)
		if [ $paused -eq 1 ]; then
			check "tour: '$first' says paused" retry 10 '^paused$' "$c" "$out"
		else
			check "tour: '$first' says queued or running" retry 0 \
				'^(queued|initializing|running)$' "$c" "$out"
		fi
		sed 's/^/    | /' "$out" >&2
		seen="$seen status"; continue ;;
	*"/metrics"*)
		check "tour: '$first' shows the loss" retry 10 '^loss [0-9]' "$c" "$out"
		seen="$seen metrics"; continue ;;
	*"/wait"*)
		check "tour: '$first' gives stopped" retry 0 '^stopped$' "$c" "$out"
		sed 's/^/    | /' "$out" >&2
		seen="$seen wait"; continue ;;
	esac
	(cd "$WORK" && timeout 60 sh -c "$cmd") > "$out" 2>&1
	rc=$?
	check_eq "tour: '$first' exit status" 0 $rc
	[ $rc -eq 0 ] || sed 's/^/    | /' "$out" >&2
	case $first in
	"./trainfs "*)
		check "tour: mounted" mountpoint -q "$MNT"
		check "tour: state in ~/.local/state/trainfs" \
			test -d "$HOME/.local/state/trainfs"
		seen="$seen mount" ;;
	"echo pause"*) paused=1; seen="$seen pause" ;;
	"echo resume"*) paused=0; seen="$seen resume" ;;
	"echo cancel"*) seen="$seen cancel" ;;
	"ls "*)
		check_contains "tour: '$first' lists the run" "lr-01" "$out" ;;
	"fusermount3 -u"*)
		check "tour: unmounted" sh -c "! mountpoint -q '$MNT'"
		i=0
		while [ -n "$(tagged_pids)" ] && [ $i -lt 100 ]; do
			sleep 0.1; i=$((i + 1)); done
		check_eq "tour: the daemon exits after the unmount" "" "$(tagged_pids)"
		seen="$seen umount" ;;
	esac
done
check_eq "tour: every step was there" \
	" mount status tail metrics pause status resume cancel wait umount" "$seen"

for p in $(tagged_pids); do kill -9 "$p" 2>/dev/null; done
finish
