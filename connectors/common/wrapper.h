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
#define WRAPPER_EXIT_NODIR 74        /* <N>/ cannot be created; in store
					mode also a store that refuses */
#define WRAPPER_EXIT_NOTOOL 76      /* store mode: no curl or sha256sum
					in the image (said on stdout: no
					key can be stored) */
#define WRAPPER_EXIT_NOTOOL_S "76"
#define WRAPPER_ARG_MAX 131071       /* store mode: bytes of the body, one
					argument of exec (MAX_ARG_STRLEN) */

/* Store mode: a file the job reads, shipped through the run store. */
struct wrapper_input {
	const char *key;             /* under store_url: "inputs/<name>/<file>" */
	const char *path;            /* absolute, where the job finds it */
	const char *sha256;          /* 64 lowercase hex digits */
};

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
	 * "started" key probed with GET (only a 404 means not started; a
	 * 2xx refuses the start with WRAPPER_EXIT_REFUSED; any other answer,
	 * asked 4 times, refuses it with WRAPPER_EXIT_NODIR) then written,
	 * log and metrics.jsonl whole every put_interval_s while the job
	 * runs (the loop is stopped and waited for before the last PUTs),
	 * and at the end each output file under output/, manifest.json,
	 * metrics.jsonl, log, then exit last (tried about 10 minutes). A
	 * file that could not be stored is named, by its store key, one a
	 * line, in "upload_failed", stored before exit (no exit when even
	 * that fails), and the scratch is kept. A start refused (74, 75)
	 * stores "ended": "<code> <reason>". auth_env names the variable
	 * holding the store's Authorization value: the first process reads
	 * it and execs the body (bounded by WRAPPER_ARG_MAX) with the
	 * variable removed from its environment, handing the value over on
	 * fd 9, which is read and closed before the job starts; curl gets it
	 * on stdin (-K -), never on a command line. NULL store_url: the
	 * shared-directory mode.
	 */
	const char *store_url;
	const char *auth_env;        /* or NULL: the store needs none */
	int put_interval_s;          /* 0: 2 */
	/*
	 * Store mode: fetched once started is stored, before the job, each
	 * checked against its sha256; one that cannot be fetched (a 4xx
	 * other than 408 and 429 at once, the rest after 5 tries) or does
	 * not match quits with WRAPPER_EXIT_NODIR and "ended" naming it.
	 */
	const struct wrapper_input *inputs;
	size_t ninputs;
};

/*
 * The text of the script for w (caller frees), or NULL with the reason in
 * err: an empty argv, a run_dir or workdir that is not absolute, a
 * negative attempt, an environment entry without '=' or whose key is not
 * [A-Za-z_][A-Za-z0-9_]*, an input outside store mode or with a key that
 * is not relative, a path that is not absolute or a sha256 that is not 64
 * lowercase hex digits, or a script over WRAPPER_MAX bytes. Borrows w.
 */
char *wrapper_script(const struct wrapper_spec *w, char *err, size_t errlen);

/* Appends s to b single-quoted for sh, so that sh expands nothing in it;
 * TFS_OK or buf's error. */
struct buf;
int wrapper_quote(struct buf *b, const char *s);

#endif
