/*
 * wrapper.c - builds wrapper.h's script. Everything that comes from the
 * user (argv, environment values, paths) enters the text only through
 * wrapper_quote(), single-quoted, so the shell expands nothing in it; the
 * rest of the text is fixed here. The script is for dash as much as for
 * bash: no arrays, no [[ ]], no local, no pipefail.
 */
#include "wrapper.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "err.h"

/*
 * The start: the attempt directory, the refusal of a second start, the
 * log, the working directory and the TERM trap. Expects run_dir, attempt
 * and workdir set above it.
 */
static const char wrapper_head[] =
	"d=\"$run_dir/$attempt\"\n"
	"log=\"$d/log\"\n"
	"if ! mkdir -p \"$d/output\"; then\n"
	"\tprintf 'trainfs: cannot create %s\\n' \"$d/output\" >&2\n"
	"\ttfs_quit 74 \"cannot create the attempt's directory\"\n"
	"fi\n"
	": >>\"$log\" || tfs_quit 74 \"cannot write the attempt's log\"\n"
	"# A requeued job (Slurm keeps its id after a node failure) must not\n"
	"# run the attempt twice: mkdir is atomic, so one start wins.\n"
	"if [ \"${SLURM_RESTART_COUNT:-0}\" != 0 ] ||\n"
	"   ! mkdir \"$d/started\" 2>/dev/null; then\n"
	"\tprintf 'trainfs: attempt %s already started (restart count %s); "
	"this second start is refused\\n' \"$attempt\" "
	"\"${SLURM_RESTART_COUNT:-0}\" >>\"$log\"\n"
	"\ttfs_quit 75 \"a second start of attempt $attempt was refused\"\n"
	"fi\n";

/* Shared-directory mode: a refusal is only its exit code. */
static const char wrapper_quit[] = "tfs_quit() { exit \"$1\"; }\n";

/* The rest of the start, after the store's check in store mode. */
static const char wrapper_head2[] =
	"# the provider's id for this start, so that a daemon that lost it (a\n"
	"# crash after the submission, the job since forgotten) finds it here\n"
	"if [ -n \"${SLURM_JOB_ID:-}\" ]; then\n"
	"\tprintf '%s\\n' \"$SLURM_JOB_ID\" >\"$d/job_id.tmp\" &&\n"
	"\t\tmv -f \"$d/job_id.tmp\" \"$d/job_id\"\n"
	"fi\n"
	": >>\"$d/metrics.jsonl\"\n"
	"rc=\n"
	"child=\n"
	"term=0\n"
	"trap 'term=1; [ -n \"$child\" ] && kill -TERM \"$child\" 2>/dev/null' TERM\n"
	"if ! cd \"${workdir:-$d}\" 2>>\"$log\"; then\n"
	"\tprintf 'trainfs: cannot enter the working directory %s\\n' "
	"\"${workdir:-$d}\" >>\"$log\"\n"
	"\trc=127\n"
	"fi\n"
	"[ \"$term\" = 1 ] && rc=143\n"
	"if [ -z \"$rc\" ]; then\n";

/*
 * After the job's line: wait for it, again when a TERM interrupted the
 * wait (wait then returns 128+15 before the job has ended; 127 is a job
 * already reaped), the manifest, and the exit file last.
 */
static const char wrapper_child[] =
	"\tchild=$!\n";

static const char wrapper_tail[] =
	"\t[ \"$term\" = 1 ] && kill -TERM \"$child\" 2>/dev/null\n"
	"\twait \"$child\"; rc=$?\n"
	"\twhile [ \"$term\" = 1 ]; do\n"
	"\t\tterm=0\n"
	"\t\twait \"$child\"; r=$?\n"
	"\t\t[ \"$r\" = 127 ] || rc=$r\n"
	"\tdone\n"
	"fi\n"
	"trap '' TERM\n"
	"export tfs_esc\n"
	"cd \"$d/output\" && find . ! -name . -exec sh -c \"$tfs_entry\" sh {} + "
	">\"$d/manifest.lines\" 2>>\"$log\"\n"
	"LC_ALL=C awk \"$tfs_join\" \"$d/manifest.lines\" >\"$d/manifest.json.tmp\" &&\n"
	"\tmv -f \"$d/manifest.json.tmp\" \"$d/manifest.json\"\n"
	"rm -f \"$d/manifest.lines\"\n"
	"printf '%s\\n' \"$rc\" >\"$d/exit.tmp\" && mv -f \"$d/exit.tmp\" \"$d/exit\"\n";

static const char wrapper_end[] = "exit \"$rc\"\n";

/*
 * Store mode, the first process: the credential is in its environment,
 * which /proc/<pid>/environ shows to any process of the user, the job's
 * included, for as long as this process lives (unset changes only the
 * shell's copy). So it execs a shell on the body without the variable,
 * and hands the value over on fd 9, a pipe read once and closed before
 * anything else runs. A value with a newline cannot be one header.
 */
static const char wrapper_store_exec[] =
	"# without curl no key can be stored, not even ended: the reason goes\n"
	"# to stdout (the provider's console log), the code is one the daemon\n"
	"# knows where the provider shows it\n"
	"for tfs_t in curl sha256sum; do\n"
	"\tif ! command -v \"$tfs_t\" >/dev/null 2>&1; then\n"
	"\t\tprintf 'trainfs: the image has no %s, which the wrapper needs to "
	"ship the job to the run store; the job does not run (exit %s)\\n' "
	"\"$tfs_t\" " WRAPPER_EXIT_NOTOOL_S "\n"
	"\t\texit " WRAPPER_EXIT_NOTOOL_S "\n"
	"\tfi\n"
	"done\n"
	"eval \"tfs_a=\\${$tfs_auth_env:-}\"\n"
	"case $tfs_a in *'\n"
	"'*)\tprintf 'trainfs: the store credential has a newline\\n' >&2\n"
	"\texit 74 ;;\n"
	"esac\n"
	"exec env -u \"$tfs_auth_env\" /bin/sh -c \"$tfs_main\" sh 9<<TFS_AUTH_END\n"
	"$tfs_a\n"
	"TFS_AUTH_END\n";

/*
 * Store mode: the functions, with store and tfs_every set above. curl
 * reads the credential from its config on stdin (printf is a builtin: no
 * command line holds it), quoted for the config's "..." ('\' and '"'
 * escaped). Each answer is told by its HTTP code, not by -f (whose 22
 * is any status >= 400): tfs_put FILE KEY [TRIES] retries a connection
 * failure, a 5xx, 408 and 429 with a growing wait (n*n s, at most 60),
 * and gives up at once on another 4xx. Transfers are bounded by their
 * speed (under 1 KiB/s for 60 s), never by a total time, so a big
 * checkpoint ships.
 */
static const char wrapper_store_fns[] =
	"IFS= read -r tfs_auth <&9 || :\n"
	"exec 9<&-\n"
	"tfs_cfg=\n"
	"if [ -n \"$tfs_auth\" ]; then\n"
	"\ttfs_auth=$(printf '%s\\n' \"$tfs_auth\" | sed 's/[\\\\\"]/\\\\&/g')\n"
	"\ttfs_cfg=\"header = \\\"Authorization: $tfs_auth\\\"\"\n"
	"fi\n"
	"tfs_auth=\n"
	"# tfs_curlo OUT ARGS...: the HTTP code on stdout, the body into OUT\n"
	"tfs_curlo() {\n"
	"\ttfs_o=$1; shift\n"
	"\tprintf '%s\\n' \"$tfs_cfg\" | curl -sS -K - --connect-timeout 10 "
	"-o \"$tfs_o\" -w '%{http_code}' \"$@\"\n"
	"}\n"
	"tfs_curl() { tfs_curlo /dev/null \"$@\"; }\n"
	"tfs_put() {\n"
	"\tn=0\n"
	"\twhile :; do\n"
	"\t\tc=$(tfs_curl --speed-limit 1024 --speed-time 60 -T \"$1\" "
	"\"$store$2\" 2>>\"$d/store.err\")\n"
	"\t\tcase $c in 2[0-9][0-9]) return 0 ;; 408|429) ;; 4[0-9][0-9]) n=${3:-5} ;; esac\n"
	"\t\tn=$((n + 1))\n"
	"\t\tif [ $n -ge ${3:-5} ]; then\n"
	"\t\t\tprintf 'trainfs: cannot store %s (HTTP %s): %s\\n' \"$2\" \"$c\" "
	"\"$(tail -n 1 \"$d/store.err\" 2>/dev/null)\" >>\"$d/log\"\n"
	"\t\t\treturn 1\n"
	"\t\tfi\n"
	"\t\ts=$((n * n)); [ $s -gt 60 ] && s=60\n"
	"\t\tsleep $s\n"
	"\tdone\n"
	"}\n"
	"# tfs_create FILE KEY: FILE stored as KEY only when KEY is not there\n"
	"# (If-None-Match: *, a 412 from a store that honours it): 0 stored, 2\n"
	"# there already (a 412 for our own PUT whose answer was lost reads back\n"
	"# our bytes: stored), 1 not stored\n"
	"tfs_create() {\n"
	"\tn=0\n"
	"\twhile :; do\n"
	"\t\tc=$(tfs_curl --max-time 60 -H 'If-None-Match: *' -T \"$1\" "
	"\"$store$2\" 2>>\"$d/store.err\")\n"
	"\t\tcase $c in\n"
	"\t\t2[0-9][0-9]) return 0 ;;\n"
	"\t\t412) c=$(tfs_curlo \"$1.got\" --max-time 30 \"$store$2\" "
	"2>>\"$d/store.err\")\n"
	"\t\t\tcase $c in 2[0-9][0-9]) [ \"$(cat \"$1\")\" = "
	"\"$(cat \"$1.got\")\" ] && return 0 ;; esac\n"
	"\t\t\treturn 2 ;;\n"
	"\t\t408|429) ;;\n"
	"\t\t4[0-9][0-9]) return 1 ;;\n"
	"\t\tesac\n"
	"\t\tn=$((n + 1))\n"
	"\t\t[ $n -ge 5 ] && return 1\n"
	"\t\tsleep $((n * n))\n"
	"\tdone\n"
	"}\n"
	"# tfs_in KEY PATH SHA256: an input of the job, fetched to PATH and checked\n"
	"tfs_in() {\n"
	"\ttfs_k=$1\n"
	"\tmkdir -p \"${2%/*}\" || return 1\n"
	"\tn=0\n"
	"\twhile :; do\n"
	"\t\tc=$(tfs_curlo \"$2\" --speed-limit 1024 --speed-time 60 "
	"\"$store$1\" 2>>\"$d/store.err\")\n"
	"\t\tcase $c in 2[0-9][0-9]) break ;; 408|429) ;; 4[0-9][0-9]) n=4 ;; esac\n"
	"\t\tn=$((n + 1))\n"
	"\t\t[ $n -ge 5 ] && return 1\n"
	"\t\tsleep $((n * n))\n"
	"\tdone\n"
	"\th=$(sha256sum <\"$2\") && [ \"${h%% *}\" = \"$3\" ]\n"
	"}\n"
	"# tfs_mark KEY TEXT: a short record, TEXT on curl's command line (it\n"
	"# holds no secret), when no file of ours may exist\n"
	"tfs_mark() {\n"
	"\tn=0\n"
	"\twhile :; do\n"
	"\t\tc=$(tfs_curl --max-time 60 -X PUT --data-binary \"$2\" \"$store$1\" "
	"2>/dev/null)\n"
	"\t\tcase $c in 2[0-9][0-9]) return 0 ;; esac\n"
	"\t\tn=$((n + 1))\n"
	"\t\t[ $n -ge 3 ] && return 1\n"
	"\t\tsleep $n\n"
	"\tdone\n"
	"}\n"
	"# an attempt that ends without its job: \"ended\" says why (\"CODE\n"
	"# reason\"), so that the daemon ends the instance\n"
	"tfs_quit() { tfs_mark ended \"$1 $2\"; exit \"$1\"; }\n"
	"tfs_urlenc() {\n"
	"\tP=$1 LC_ALL=C awk 'BEGIN { for (i = 1; i < 256; i++) o[sprintf(\"%c\", i)] = i\n"
	"\t\ts = ENVIRON[\"P\"]; r = \"\"\n"
	"\t\tfor (i = 1; i <= length(s); i++) { c = substr(s, i, 1)\n"
	"\t\t\tif (c ~ /[A-Za-z0-9._~\\/-]/) r = r c; else r = r sprintf(\"%%%02X\", o[c]) }\n"
	"\t\tprintf \"%s\", r }'\n"
	"}\n";

/*
 * Store mode, after the local start check: the store's. Only a 404 means
 * "not started"; a 2xx is the first start's key; anything else (a 403, a
 * store restarting with 502s, no answer) is asked again a few times, then
 * the start is refused: running on a guess could run the attempt twice.
 */
static const char wrapper_store_start[] =
	"n=0\n"
	"while :; do\n"
	"\tc=$(tfs_curl --max-time 30 \"${store}started\" 2>>\"$d/store.err\")\n"
	"\tcase $c in\n"
	"\t404) break ;;\n"
	"\t2[0-9][0-9]) printf 'trainfs: attempt %s already started (the store has its "
	"started key); this second start is refused\\n' \"$attempt\" >&2\n"
	"\t\ttfs_quit 75 \"a second start of attempt $attempt was refused (the "
	"store has its started key)\" ;;\n"
	"\tesac\n"
	"\tn=$((n + 1))\n"
	"\tif [ $n -ge 4 ]; then\n"
	"\t\tprintf 'trainfs: the run store answers HTTP %s to the started "
	"probe, not 404 or 200; the start is refused\\n' \"$c\" >&2\n"
	"\t\ttfs_quit 74 \"the run store answered HTTP $c to the started probe; "
	"the start was refused\"\n"
	"\tfi\n"
	"\tsleep $n\n"
	"done\n"
	"# the probe and the PUT are two requests: two starts may both see the\n"
	"# 404, so the PUT is conditional, and its bytes are this start's own\n"
	"printf '%s %s %s\\n' \"$(date +%s)\" \"$$\" \"$(od -An -N8 -tx1 "
	"/dev/urandom 2>/dev/null | tr -d ' \\n')\" >\"$d/started.at\"\n"
	"tfs_create \"$d/started.at\" started\n"
	"case $? in\n"
	"0) ;;\n"
	"2)\tprintf 'trainfs: attempt %s already started (another start stored its "
	"started key first); this start is refused\\n' \"$attempt\" >&2\n"
	"\ttfs_quit 75 \"a second start of attempt $attempt was refused (another "
	"start stored the started key first)\" ;;\n"
	"*)\tcat \"$d/log\" >&2\n"
	"\ttfs_quit 74 \"cannot store the started key\" ;;\n"
	"esac\n";

/*
 * Store mode, once the job runs: log and metrics every tfs_every s, until
 * the job ends or up.stop exists (the end makes it, then waits for the
 * loop, so that no PUT of an older log lands after the last one).
 */
static const char wrapper_store_loop[] =
	"\t(while [ ! -e \"$d/up.stop\" ] && kill -0 \"$child\" 2>/dev/null; do\n"
	"\t\ti=0\n"
	"\t\twhile [ $i -lt \"$tfs_every\" ] && [ ! -e \"$d/up.stop\" ]; do\n"
	"\t\t\tsleep 1; i=$((i + 1))\n"
	"\t\tdone\n"
	"\t\t[ -e \"$d/up.stop\" ] && break\n"
	"\t\ttfs_put \"$d/log\" log 2\n"
	"\t\ttfs_put \"$d/metrics.jsonl\" metrics.jsonl 2\n"
	"\tdone) </dev/null >/dev/null 2>&1 &\n"
	"\ttfs_up=$!\n";

/*
 * Store mode, at the end: the loop stopped and waited for, each output
 * file, the manifest, metrics and log, then exit last (an exit says the
 * rest is there). A file that did not get through its tries is named in
 * "upload_failed" (one store key a line, before exit), and the scratch is
 * kept; when even that list cannot be stored, exit is not stored either.
 * exit itself is tried for about 10 minutes.
 */
static const char wrapper_store_end[] =
	"if [ -n \"${tfs_up:-}\" ]; then\n"
	"\t: >\"$d/up.stop\"\n"
	"\twait \"$tfs_up\"\n"
	"fi\n"
	": >\"$d/failed\"\n"
	"(cd \"$d/output\" && find . -type f) | while IFS= read -r f; do\n"
	"\tcase $f in ./*) ;; *) continue ;; esac\n"
	"\tp=${f#./}\n"
	"\t[ -f \"$d/output/$p\" ] && [ ! -L \"$d/output/$p\" ] || continue\n"
	"\tk=\"output/$(tfs_urlenc \"$p\")\"\n"
	"\ttfs_put \"$d/output/$p\" \"$k\" 8 || printf '%s\\n' \"$k\" >>\"$d/failed\"\n"
	"done\n"
	"if [ ! -f \"$d/manifest.json\" ] || ! tfs_put \"$d/manifest.json\" "
	"manifest.json 8; then\n"
	"\tprintf 'manifest.json\\n' >>\"$d/failed\"\n"
	"fi\n"
	"tfs_put \"$d/metrics.jsonl\" metrics.jsonl 8 || "
	"printf 'metrics.jsonl\\n' >>\"$d/failed\"\n"
	"if [ -s \"$d/failed\" ]; then\n"
	"\tprintf 'trainfs: %s files did not reach the run store (upload_failed "
	"names them); they stay in %s\\n' \"$(wc -l <\"$d/failed\" | tr -d ' ')\" "
	"\"$d\" >>\"$d/log\"\n"
	"fi\n"
	"tfs_put \"$d/log\" log 8 || printf 'log\\n' >>\"$d/failed\"\n"
	"if [ ! -s \"$d/failed\" ]; then\n"
	"\ttfs_put \"$d/exit\" exit 15 &&\n"
	"\t\tcd / && rm -rf \"$d\" && rmdir \"$run_dir\" 2>/dev/null\n"
	"elif tfs_put \"$d/failed\" upload_failed 8; then\n"
	"\ttfs_put \"$d/exit\" exit 15\n"
	"fi\n";

/*
 * JSON-escapes ENVIRON["P"], cut to M bytes when M > 0, as
 * manifest_json_escape() does: '"', '\' and control characters.
 */
static const char wrapper_esc[] =
	"BEGIN {\n"
	"\tfor (i = 1; i < 32; i++) e[sprintf(\"%c\", i)] = sprintf(\"\\\\u%04x\", i)\n"
	"\te[\"\\\"\"] = \"\\\\\\\"\"; e[\"\\\\\"] = \"\\\\\\\\\"\n"
	"\ts = ENVIRON[\"P\"]; if (ENVIRON[\"M\"] + 0 > 0) s = substr(s, 1, ENVIRON[\"M\"] + 0)\n"
	"\to = \"\"\n"
	"\tfor (i = 1; i <= length(s); i++) { c = substr(s, i, 1); o = o ((c in e) ? e[c] : c) }\n"
	"\tprintf \"%s\", o\n"
	"}\n";

/*
 * One manifest line per path under output/ (run by find -exec, so a name
 * with a newline is one argument): "F{...}" for a file, "S{...}" for one
 * left out, with local.c's sentences. Directories are walked by find,
 * which does not follow symbolic links.
 */
static const char wrapper_entry[] =
	"ctl=$(printf '\\001\\002\\003\\004\\005\\006\\007\\010\\011\\012\\013"
	"\\014\\015\\016\\017\\020\\021\\022\\023\\024\\025\\026\\027\\030\\031"
	"\\032\\033\\034\\035\\036\\037\\177')\n"
	"esc() { P=$1 M=$2 LC_ALL=C awk \"$tfs_esc\"; }\n"
	"for f; do\n"
	"\tp=${f#./}\n"
	"\twhy=\n"
	"\tif [ ${#p} -gt 1024 ]; then why='its path is longer than 1024 bytes'\n"
	"\telse case $p in *[\"$ctl\"]*) why='its name has a control character' ;; esac\n"
	"\tfi\n"
	"\tif [ -z \"$why\" ]; then\n"
	"\t\tif [ -L \"$f\" ]; then why='a symbolic link'\n"
	"\t\telif [ -d \"$f\" ]; then continue\n"
	"\t\telif [ -p \"$f\" ]; then why='a FIFO'\n"
	"\t\telif [ -S \"$f\" ]; then why='a socket'\n"
	"\t\telif [ ! -f \"$f\" ]; then why='a device or special file'\n"
	"\t\tfi\n"
	"\tfi\n"
	"\tif [ -n \"$why\" ]; then\n"
	"\t\te=$(esc \"$p\" 1024)\n"
	"\t\tprintf 'S{\"path\":\"%s\",\"skipped\":\"%s\"}\\n' \"$e\" "
	"\"$(esc \"skipped '$e': $why\" 0)\"\n"
	"\t\tcontinue\n"
	"\tfi\n"
	"\th=$(sha256sum <\"$f\") || continue\n"
	"\tn=$(wc -c <\"$f\" | tr -d ' ')\n"
	"\tcase $p in *[\\\"\\\\]*) e=$(esc \"$p\" 0) ;; *) e=$p ;; esac\n"
	"\tprintf 'F{\"path\":\"%s\",\"size\":%s,\"sha256\":\"%s\"}\\n' \"$e\" "
	"\"$n\" \"${h%% *}\"\n"
	"done\n";

/*
 * The lines into manifest.h's array, with its bounds: 100000 files and
 * 100 skipped ones named, the rest counted in a last note.
 */
static const char wrapper_join[] =
	"BEGIN { printf \"[\" }\n"
	"/^F/ { if (nf < 100000) { printf \"%s%s\", sep, substr($0, 2); sep = \",\"; nf++ } else more++; next }\n"
	"/^S/ { if (ns < 100) { printf \"%s%s\", sep, substr($0, 2); sep = \",\"; ns++ } else more++; next }\n"
	"END { if (more) printf \"%s{\\\"path\\\":\\\"\\\",\\\"skipped\\\":\\\"skipped %d more files\\\"}\", sep, more; print \"]\" }\n";

/* Appends s single-quoted: ' becomes '\'' and nothing else is special. */
int wrapper_quote(struct buf *b, const char *s)
{
	int r = buf_puts(b, "'");

	for (; !r && *s; s++)
		r = *s == '\'' ? buf_puts(b, "'\\''") : buf_append(b, s, 1);
	return r ? r : buf_puts(b, "'");
}

/* Appends dir quoted, then the text after, unquoted. */
static int wrapper_quote_in(struct buf *b, const char *dir, const char *after)
{
	int r = wrapper_quote(b, dir);

	return r ? r : buf_puts(b, after);
}

/* Appends "name=<value quoted>\n". */
static int wrapper_assign(struct buf *b, const char *name, const char *value)
{
	int r = buf_printf(b, "%s=", name);

	if (!r)
		r = wrapper_quote(b, value);
	return r ? r : buf_puts(b, "\n");
}

/* 1 when the n bytes of key are a shell name: [A-Za-z_][A-Za-z0-9_]*. */
static int wrapper_key_ok(const char *key, size_t n)
{
	size_t i;

	if (n == 0 || (key[0] >= '0' && key[0] <= '9'))
		return 0;
	for (i = 0; i < n; i++)
		if (!(key[i] == '_' || (key[i] >= 'a' && key[i] <= 'z') ||
		      (key[i] >= 'A' && key[i] <= 'Z') ||
		      (key[i] >= '0' && key[i] <= '9')))
			return 0;
	return 1;
}

static int wrapper_hex64(const char *s)
{
	size_t i;

	for (i = 0; s && i < 64; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		      (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return s && !s[64];
}

/* TFS_OK, or TFS_EINVAL with the reason in err when w cannot be run. */
static int wrapper_check(const struct wrapper_spec *w, char *err,
			 size_t errlen)
{
	char *const *e;
	size_t i;

	if (!w->argv || !w->argv[0]) {
		snprintf(err, errlen, "the job has no argv");
		return TFS_EINVAL;
	}
	if (!w->run_dir || w->run_dir[0] != '/') {
		snprintf(err, errlen, "run directory '%s' is not absolute",
			 w->run_dir ? w->run_dir : "");
		return TFS_EINVAL;
	}
	if (w->workdir && w->workdir[0] != '/') {
		snprintf(err, errlen, "working directory '%s' is not absolute",
			 w->workdir);
		return TFS_EINVAL;
	}
	if (w->attempt < 0) {
		snprintf(err, errlen, "attempt %d is negative", w->attempt);
		return TFS_EINVAL;
	}
	if (w->store_url && ((strncmp(w->store_url, "http://", 7) &&
			      strncmp(w->store_url, "https://", 8)) ||
			     w->store_url[strlen(w->store_url) - 1] != '/')) {
		snprintf(err, errlen, "store URL must be http(s) and end in "
			 "'/'");
		return TFS_EINVAL;
	}
	if (w->auth_env && !wrapper_key_ok(w->auth_env, strlen(w->auth_env))) {
		snprintf(err, errlen, "store credential variable '%s' is not "
			 "a name", w->auth_env);
		return TFS_EINVAL;
	}
	for (i = 0; i < w->ninputs; i++) {
		const struct wrapper_input *in = &w->inputs[i];

		if (!w->store_url || !in->key || !in->key[0] ||
		    in->key[0] == '/' || strstr(in->key, "..") ||
		    !in->path || in->path[0] != '/' ||
		    !wrapper_hex64(in->sha256)) {
			snprintf(err, errlen, "input %zu must be in store mode, "
				 "with a relative key, an absolute path and a "
				 "sha256 of 64 lowercase hex digits", i + 1);
			return TFS_EINVAL;
		}
	}
	for (e = w->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq || !wrapper_key_ok(*e, (size_t)(eq - *e))) {
			snprintf(err, errlen, "environment key '%.*s' is not a "
				 "name of letters, digits and '_' that does not "
				 "start with a digit",
				 eq ? (int)(eq - *e) : (int)strlen(*e), *e);
			return TFS_EINVAL;
		}
	}
	return TFS_OK;
}

#define WRAPPER_SHEBANG "#!/bin/sh\n# trainfs: one attempt of a run; the " \
	"job's argv and environment are single-quoted, nothing in them is " \
	"expanded\n"

/*
 * Store mode: b holds the body; replaces it with the first process's
 * text, which holds the body as tfs_main and execs it without the
 * credential's variable. The body is one argument of exec, so it is
 * bounded by the kernel's limit on one argument (MAX_ARG_STRLEN).
 */
static int wrapper_store_outer(struct buf *b, const char *auth_env,
			       char *err, size_t errlen)
{
	struct buf o = BUF_INIT(WRAPPER_MAX);
	int r;

	r = buf_append(b, "", 1);	/* the body as a C string */
	if (!r)
		r = buf_puts(&o, WRAPPER_SHEBANG);
	if (!r)
		r = wrapper_assign(&o, "tfs_auth_env", auth_env ? auth_env :
				   "TRAINFS_NO_AUTH");
	if (!r)
		r = wrapper_assign(&o, "tfs_main", b->p);
	if (!r && b->len - 1 > WRAPPER_ARG_MAX) {
		snprintf(err, errlen, "the script's body would be larger than "
			 "%d bytes, the most one argument of exec may hold",
			 WRAPPER_ARG_MAX);
		r = TFS_EINVAL;
	}
	if (!r)
		r = buf_puts(&o, wrapper_store_exec);
	buf_release(b);
	*b = o;
	return r;
}

/*
 * Store mode: "tfs_in KEY PATH SHA || tfs_quit 74 ...", the key and path
 * quoted; the reason names the key through tfs_k, which tfs_in set (a
 * variable expanded in "..." is not parsed again).
 */
static int wrapper_input_line(struct buf *b, const struct wrapper_input *in)
{
	int r = buf_puts(b, "tfs_in ");

	if (!r)
		r = wrapper_quote(b, in->key);
	if (!r)
		r = buf_puts(b, " ");
	if (!r)
		r = wrapper_quote(b, in->path);
	return r ? r : buf_printf(b, " %s || tfs_quit 74 \"the input $tfs_k "
				  "could not be fetched from the run store or "
				  "does not match its sha256\"\n", in->sha256);
}

char *wrapper_script(const struct wrapper_spec *w, char *err, size_t errlen)
{
	struct buf b = BUF_INIT(WRAPPER_MAX);
	struct buf dir = BUF_INIT(WRAPPER_MAX);
	char attempt[16];
	char *const *p;
	size_t i;
	int r;

	if (wrapper_check(w, err, errlen))
		return NULL;
	snprintf(attempt, sizeof(attempt), "%d", w->attempt);
	r = buf_printf(&dir, "%s/%s", w->run_dir, attempt);
	if (!r)
		r = buf_puts(&b, w->store_url ? "" : WRAPPER_SHEBANG);
	if (!r)
		r = wrapper_assign(&b, "run_dir", w->run_dir);
	if (!r)
		r = wrapper_assign(&b, "attempt", attempt);
	if (!r)
		r = wrapper_assign(&b, "workdir", w->workdir ? w->workdir : "");
	if (!r)
		r = wrapper_assign(&b, "tfs_esc", wrapper_esc);
	if (!r)
		r = wrapper_assign(&b, "tfs_entry", wrapper_entry);
	if (!r)
		r = wrapper_assign(&b, "tfs_join", wrapper_join);
	if (!r && w->store_url) {
		char every[16];

		snprintf(every, sizeof(every), "%d", w->put_interval_s > 0 ?
			 w->put_interval_s : 2);
		r = wrapper_assign(&b, "store", w->store_url);
		if (!r)
			r = wrapper_assign(&b, "tfs_every", every);
		if (!r)
			r = buf_puts(&b, wrapper_store_fns);
	} else if (!r) {
		r = buf_puts(&b, wrapper_quit);
	}
	if (!r)
		r = buf_puts(&b, wrapper_head);
	if (!r && w->store_url)
		r = buf_puts(&b, wrapper_store_start);
	for (i = 0; !r && i < w->ninputs; i++)
		r = wrapper_input_line(&b, &w->inputs[i]);
	if (!r)
		r = buf_puts(&b, wrapper_head2);
	/* assignments before the command set only the job's environment, so
	 * a key such as "d" or "PATH" cannot change the script's variables;
	 * TRAINFS_* come last and win */
	for (p = w->env; !r && p && *p; p++) {
		const char *eq = strchr(*p, '=');

		r = buf_printf(&b, "\t%.*s=", (int)(eq - *p), *p);
		if (!r)
			r = wrapper_quote(&b, eq + 1);
		if (!r)
			r = buf_puts(&b, " \\\n");
	}
	/* ours as literal text: a job's "d" or "log" cannot reach them */
	if (!r)
		r = buf_puts(&b, "\tTRAINFS_RUN_DIR=");
	if (!r)
		r = wrapper_quote(&b, w->run_dir);
	if (!r)
		r = buf_printf(&b, " TRAINFS_ATTEMPT=%s \\\n\tTRAINFS_OUTPUT_DIR=",
			       attempt);
	if (!r)
		r = wrapper_quote_in(&b, dir.p, "/output TRAINFS_METRICS=");
	if (!r)
		r = wrapper_quote_in(&b, dir.p, "/metrics.jsonl \\\n\t");
	for (p = w->argv; !r && *p; p++) {
		r = wrapper_quote(&b, *p);
		if (!r)
			r = buf_puts(&b, " ");
	}
	if (!r)
		r = buf_puts(&b, ">>");
	if (!r)
		r = wrapper_quote_in(&b, dir.p, "/log 2>&1 </dev/null &\n");
	if (!r)
		r = buf_puts(&b, wrapper_child);
	if (!r && w->store_url)
		r = buf_puts(&b, wrapper_store_loop);
	if (!r)
		r = buf_puts(&b, wrapper_tail);
	if (!r && w->store_url)
		r = buf_puts(&b, wrapper_store_end);
	if (!r)
		r = buf_puts(&b, wrapper_end);
	buf_release(&dir);
	if (!r && w->store_url)
		r = wrapper_store_outer(&b, w->auth_env, err, errlen);
	if (r == TFS_EINVAL) {
		buf_release(&b);
		return NULL;
	}
	if (r) {
		buf_release(&b);
		if (r == TFS_EFBIG)
			snprintf(err, errlen, "the script would be larger than "
				 "%d bytes", WRAPPER_MAX);
		else
			snprintf(err, errlen, "out of memory");
		return NULL;
	}
	return buf_detach(&b, NULL);
}
