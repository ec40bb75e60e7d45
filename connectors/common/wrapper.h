/*
 * wrapper.h - the POSIX sh script that runs one attempt of a run on a
 * machine that is not ours (a Slurm node, a cloud instance), in the layout
 * the providers share (runstore.h's): <run_dir>/<N>/ with log,
 * metrics.jsonl, output/, started, job_id, manifest.json and exit. Building it is a pure
 * function, so tests and the connectors see the same text.
 *
 * The script, in order: creates <N>/ and output/; refuses a second
 * start of the attempt (<N>/started exists, made by an atomic mkdir,
 * or SLURM_RESTART_COUNT > 0) with WRAPPER_EXIT_REFUSED, a line in log and
 * nothing in exit; records $SLURM_JOB_ID, when set, in job_id; enters the working directory (127 recorded when it
 * cannot); runs the argv, single-quoted, with the environment entries and
 * TRAINFS_RUN_DIR, TRAINFS_ATTEMPT, TRAINFS_OUTPUT_DIR, TRAINFS_METRICS,
 * stdout and stderr appended to log; forwards TERM to the job and waits
 * for it; writes manifest.json (manifest.h's format: sha256sum and wc -c
 * of each regular file under output/, symbolic links and special files
 * noted as skipped); then writes the job's exit code (128+n for signal n)
 * to exit through a temporary file and mv, last, so that an exit file
 * means the manifest is there too. It exits with that code.
 */
#ifndef TFS_WRAPPER_H
#define TFS_WRAPPER_H

#include <stddef.h>

#define WRAPPER_MAX (1 << 20)        /* bytes of a script */
#define WRAPPER_EXIT_REFUSED 75      /* a second start of an attempt */
#define WRAPPER_EXIT_NODIR 74        /* <N>/ cannot be created */

struct wrapper_spec {
	char *const *argv;           /* the job; argv[0] is found in PATH */
	char *const *env;            /* "K=V" entries, NULL-terminated; may
					be NULL */
	const char *run_dir;         /* absolute, on the shared filesystem */
	int attempt;                 /* >= 0 */
	const char *workdir;         /* absolute; NULL: <run_dir>/<N>/ */
	/*
	 * Store mode (a cloud instance, where nothing of ours is shared):
	 * run_dir is then the instance's scratch, removed at the end, and
	 * the attempt's files go to the run store under store_url
	 * ("<store>/<uuid>/<attempt>/", with its '/') by curl PUT: a
	 * "started" key checked with GET then written (a second start is
	 * refused), log and metrics.jsonl whole every put_interval_s while
	 * the job runs, and at the end each output file under output/,
	 * manifest.json, log, metrics.jsonl and exit last. auth_env names
	 * the variable holding the store's Authorization value: the script
	 * keeps it in a shell variable that is not exported, unsets it
	 * before the job starts, and hands it to curl on stdin (-K -), never
	 * on a command line. NULL store_url: the shared-directory mode.
	 */
	const char *store_url;
	const char *auth_env;        /* or NULL: the store needs none */
	int put_interval_s;          /* 0: 2 */
};

/*
 * The text of the script for w (caller frees), or NULL with the reason in
 * err: an empty argv, a run_dir or workdir that is not absolute, a
 * negative attempt, an environment entry without '=' or whose key is not
 * [A-Za-z_][A-Za-z0-9_]*, or a script over WRAPPER_MAX bytes. Borrows w.
 */
char *wrapper_script(const struct wrapper_spec *w, char *err, size_t errlen);

/* Appends s to b single-quoted for sh, so that sh expands nothing in it;
 * TFS_OK or buf's error. */
struct buf;
int wrapper_quote(struct buf *b, const char *s);

#endif
