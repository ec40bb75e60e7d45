#!/bin/sh
# Saving through a temporary file and rename(2), as editors and sed -i do,
# submits config.json; templates are read-write and merge under a config.
. "$(dirname "$0")/lib.sh"
start_daemon || exit 1

# write-temp-then-rename, by hand
R=$(new_run ed manual)
cmd_config '["sh", "-c", "echo manual-save"]' > "$R/.config.json.tmp" && ok || fail "temp file create"
check "temp file listed" test -f "$R/.config.json.tmp"
check_eq "still created before rename" "created" "$(cat "$R/status")"
check "rename over config.json submits" mv "$R/.config.json.tmp" "$R/config.json"
check_eq "renamed config runs" "completed" "$(cat "$R/wait")"
check "temp file gone" test ! -e "$R/.config.json.tmp"
check_contains "log of the renamed config" "manual-save" "$R/log"

# Python's atomic writer (tempfile + os.replace)
R2=$(new_run ed atomic)
python3 - "$R2" <<'PY' && ok || fail "python atomic replace"
import os, sys, tempfile
d = sys.argv[1]
fd, tmp = tempfile.mkstemp(dir=d, prefix=".cfg")
with os.fdopen(fd, "w") as f:
    f.write('{"command": ["sh", "-c", "echo atomic"]}')
    f.flush(); os.fsync(f.fileno())
os.chmod(tmp, 0o644)
os.replace(tmp, os.path.join(d, "config.json"))
PY
check_eq "atomic-written config runs" "completed" "$(cat "$R2/wait")"

# sed -i rewrites a created run's config in place: first fill it by rename
R3=$(new_run ed sed)
printf '{"command": ["sh", "-c", "echo VALUE"]}\n' > "$WORK/draft"
cp "$WORK/draft" "$R3/draft.json"
check "sed -i on a scratch file" sed -i 's/VALUE/edited-by-sed/' "$R3/draft.json"
check "rename it over config.json" mv "$R3/draft.json" "$R3/config.json"
check_eq "sed-edited config runs" "completed" "$(cat "$R3/wait")"
check_contains "sed's edit took" "edited-by-sed" "$R3/log"
check "sed -i on a submitted config: refused" sh -c "! sed -i 's/edited/x/' '$R3/config.json' 2>/dev/null"
check_contains "submitted config unchanged" "edited-by-sed" "$R3/config.json"

# an invalid config by rename: EINVAL, the run stays created
R4=$(new_run ed badrename)
echo '{"comand": ["x"]}' > "$R4/tmp.json"
check_eq "rename of a bad config fails" "1" "$(mv "$R4/tmp.json" "$R4/config.json" 2>/dev/null; echo $?)"
check_eq "bad rename: still created" "created" "$(cat "$R4/status")"
check_contains "bad rename: reason" "unknown key 'comand'" "$R4/events"
check "the temp file is still there to fix" test -f "$R4/tmp.json"
check "generated files keep their names" sh -c "! mv '$R4/status' '$R4/x' 2>/dev/null"

# templates: write, list, use, edit by rename, remove
T=$MNT/templates
printf '{"command": ["sh", "-c", "echo lr=$TRAINFS_PARAM_lr {lr}"], "params": {"lr": 0.5}, "tags": {"team": "nlp"}}' > "$T/base.json" && ok || fail "template write"
check_eq "template listed" "base.json" "$(ls "$T")"
check_eq "template size" "$(cat "$T/base.json" | wc -c)" "$(stat -c %s "$T/base.json")"
R5=$(new_run ed templated)
echo '{"template": "base", "params": {"lr": 0.25}}' > "$R5/config.json"
check_eq "templated run completes" "completed" "$(cat "$R5/wait")"
check_contains "config wins over the template" "lr=0.25 0.25" "$R5/log"
echo '{"comand": 1}' > "$WORK/badtpl"
check_eq "bad template refused" "1" "$(cp "$WORK/badtpl" "$T/bad.json" 2>/dev/null; echo $?)"
check "bad template not kept" test ! -e "$T/bad.json"
cp "$WORK/draft" "$T/scratch"
check_eq "bad template name refused" "Invalid argument" \
	"$(python3 -c "
import os
try: os.rename('$T/scratch', '$T/.bad.json'); print('renamed')
except OSError as e: print(os.strerror(e.errno))")"
rm -f "$T/scratch"
printf '{"command": ["true"]}' > "$T/.base.json.swp"
check "template saved by rename" mv "$T/.base.json.swp" "$T/base.json"
check_eq "template replaced" '{"command": ["true"]}' "$(cat "$T/base.json")"
check "template removed" rm "$T/base.json"
check_eq "templates empty" "" "$(ls "$T")"
R6=$(new_run ed missingtpl)
echo '{"template": "base"}' > "$WORK/usetpl.json"
check_eq "missing template refused" "1" "$(cp "$WORK/usetpl.json" "$R6/config.json" 2>/dev/null; echo $?)"
check_contains "missing template reason" "template 'base' not found" "$R6/events"

# renames across directories are refused
check "experiment rename" mv "$MNT/experiments/ed" "$MNT/experiments/editing"
check_eq "runs follow the experiment" "completed" "$(cat "$MNT/experiments/editing/runs/sed/status")"

finish
