# lib.sh - the crash suite's helpers: the behaviour tests' own (a real mount
# on a fresh state, ok/fail counting, finish), with every check reported by
# name, PASS or FAIL, so that the suite's output says what held. Sourced by
# tests/crash/c_*.sh.
. "$(dirname "$0")/../fs/lib.sh"

CRASH=$(basename "$0" .sh)
pass() { PASSED=$((PASSED + 1)); echo "PASS: $CRASH: $*"; }
fail() { FAILED=$((FAILED + 1)); echo "FAIL: $CRASH: $*"; }
check() {
	what=$1; shift
	if "$@"; then pass "$what"; else fail "$what"; fi
}
check_eq() {
	if [ "$2" = "$3" ]; then pass "$1"; else fail "$1: expected '$2', got '$3'"; fi
}
check_contains() {
	if grep -q -- "$2" "$3" 2>/dev/null; then pass "$1"; else
		fail "$1: '$2' not in $3"; sed 's/^/    | /' "$3" 2>/dev/null | tail -5; fi
}

# The suite's randomness: CRASH_SEED replays a run, else a new seed, printed.
SEED=${CRASH_SEED:-$(od -An -N4 -tu4 /dev/urandom | tr -d ' ')}
echo "$CRASH: seed $SEED (replay: CRASH_SEED=$SEED sh $0)"
