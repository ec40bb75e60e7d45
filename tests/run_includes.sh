#!/bin/sh
# run_includes.sh - tools/check_includes.sh on this tree, then on small
# trees made for the purpose: one with a cycle and one without, one that
# includes across the layering, one cycle inside core/ (SKIP while the
# switch is on, a failure with it off). Ends "N passed, N failed".
cd "$(dirname "$0")/.." || exit 1
top=$(pwd)
p=0; f=0
pass() { p=$((p + 1)); }
fail() { f=$((f + 1)); echo "FAIL $*"; }
tmp=$(mktemp -d "${TMPDIR:-/tmp}/tfs-incs.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

# check NAME WANT_RC WANT_PATTERN [ENV=...] - runs the checker on $tmp/NAME
check() {
	name=$1 want=$2 pat=$3; shift 3
	out=$(env "$@" sh "$top/tools/check_includes.sh" "$tmp/$name" 2>&1)
	rc=$?
	if [ $rc -eq "$want" ] && printf '%s\n' "$out" | grep -q -- "$pat"; then
		pass
	else
		fail "$name: exit $rc, want $want and '$pat':"
		printf '%s\n' "$out" | sed 's/^/  /'
	fi
}

# mk NAME FILE 'INCLUDE...' - FILE in tree NAME includes each name given
mk() {
	d=$tmp/$1/$(dirname "$2"); mkdir -p "$d"
	: >"$tmp/$1/$2"
	for i in $3; do echo "#include \"$i\"" >>"$tmp/$1/$2"; done
}

# this tree
out=$(sh tools/check_includes.sh 2>&1); rc=$?
printf '%s\n' "$out" | grep -v '^PASS'
if [ $rc -eq 0 ]; then pass; else fail "this tree"; fi

# layers in order, no cycle: passes
mk ok lib/a.h ""
mk ok lib/a.c "a.h"
mk ok lib/b.c "a.h"
mk ok connectors/c.h "a.h"
mk ok connectors/c.c "c.h a.h"
mk ok core/d.h "c.h"
mk ok core/d.c "d.h c.h a.h"
mk ok fs/e.c "d.h a.h"
check ok 0 "PASS include cycles: none"
check ok 0 "PASS layering: 8 files"

# a cycle among lib modules: fails and names its members
mk loop lib/x.h "y.h"
mk loop lib/y.h ""
mk loop lib/y.c "y.h z.h"
mk loop lib/z.h "x.h"
check loop 1 "FAIL include cycle: lib/x lib/y lib/z"

# a connector that reaches core/ by a path, and fs/ a connector: both fail
mk up lib/a.h ""
mk up core/d.h "a.h"
mk up connectors/c.c "../core/d.h"
mk up fs/e.c "c.h"
mk up connectors/c.h ""
check up 1 "FAIL layering: connectors/c.c includes core/d.h"
check up 1 "FAIL layering: fs/e.c includes connectors/c.h"
# lib includes nothing above it
mk up2 lib/a.c "d.h"
mk up2 core/d.h ""
check up2 1 "FAIL layering: lib/a.c includes core/d.h"

# a cycle wholly inside core/: SKIP while the switch is on, else it fails
mk core core/p.h "q.h"
mk core core/q.c "p.h"
mk core core/q.h ""
check core 0 "SKIP: include cycle in core/ (core/p core/q)" CORE_CYCLE_SKIP=1
check core 1 "FAIL include cycle: core/p core/q" CORE_CYCLE_SKIP=0
check core 1 "FAIL include cycle: core/p core/q"
# the switch never hides a cycle that leaves core/
mk core2 core/p.h "c.h"
mk core2 connectors/c.h ""
mk core2 connectors/c.c "c.h"
mk core2 core/x.c "p.h"
mk core2 lib/u.h "v.h"
mk core2 lib/v.h "u.h"
check core2 1 "FAIL include cycle: lib/u lib/v" CORE_CYCLE_SKIP=1

echo "$p passed, $f failed"
[ $f -eq 0 ]
