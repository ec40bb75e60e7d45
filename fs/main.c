/*
 * main.c - the trainfs daemon: options, the state directory's lock, the
 * mount, signals, and the order in which it all ends.
 *
 * The FUSE layer is fs/: ops.c holds the operations table, nodes.c and
 * runs.c one entry per kind of node, scratch.c editors' temporary files,
 * park.c the requests that wait (reads of `wait` and of artifacts not
 * verified yet) and the notifier thread. See fs.h for the inode scheme and
 * the lock order.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include "fs.h"
#include "backup.h"

#ifndef TRAINFS_VERSION
#define TRAINFS_VERSION "unknown"  /* the Makefile's VERSION says it */
#endif

struct fs fs;

struct options {
	char *state;
	char *config;
	char *mountpoint;           /* the last of the words that are no option */
	char *source;               /* the one before it: mount(8)'s device */
	char *cache_size;
	int poll_ms;                /* POLL_MS_UNSET unless given */
	int nonempty;
	int share_read;
	int show_help;
	int show_version;
};

#define POLL_MS_UNSET INT_MIN

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("--state=%s", state),
	OPT("--state %s", state),
	OPT("--config=%s", config),
	OPT("--config %s", config),
	OPT("state=%s", state),          /* -o, as mount(8) passes them */
	OPT("config=%s", config),
	OPT("poll_ms=%d", poll_ms),
	OPT("cache_size=%s", cache_size),
	OPT("nonempty", nonempty),
	OPT("share_read", share_read),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_END
};

static void fs_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if ((int)level > log_get_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg((int)level, "fuse: %s", msg);
}

static char *default_dir(const char *xdg, const char *fallback,
			 const char *leaf)
{
	const char *base = getenv(xdg), *home = getenv("HOME");
	char p[PATH_MAX];

	if (base && *base)
		snprintf(p, sizeof(p), "%s/trainfs%s", base, leaf);
	else
		snprintf(p, sizeof(p), "%s/%s/trainfs%s", home ? home : "/tmp",
			 fallback, leaf);
	return xstrdup(p);
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n"
	       "       %s [options] SOURCE MOUNTPOINT   (as mount.fuse3 calls it)\n"
	       "       %s backup [--state DIR] FILE\n"
	       "       %s restore [--state DIR] FILE\n\n"
	       "    --state DIR, -o state=DIR\n"
	       "                      state directory (default "
	       "$XDG_STATE_HOME/trainfs)\n"
	       "    --config FILE, -o config=FILE\n"
	       "                      daemon config (default "
	       "$XDG_CONFIG_HOME/trainfs/config.json)\n"
	       "    -o poll_ms=N      provider poll period in ms (default 500)\n"
	       "    -o cache_size=N   artifact cache cap, e.g. 20G (default 10G)\n"
	       "    -o allow_other    let other users see runs and their state\n"
	       "    -o share_read     ... and read what runs hold (logs, "
	       "configs, artifacts)\n"
	       "    -o nonempty       mount over a directory that has files\n"
	       "    -o ro             read-only: every change refused (EROFS), "
	       "runs still polled\n"
	       "    -f                stay in the foreground\n"
	       "    -d                debug output (implies -f)\n"
	       "    -h, --help        this help, then libfuse's options\n"
	       "    -V, --version     trainfs's version, then libfuse's\n\n"
	       "    backup            copy the state's database to FILE while "
	       "the daemon runs,\n"
	       "                      checked (integrity_check); logs are not "
	       "in it\n"
	       "    restore           make FILE the state's database; refused "
	       "while a daemon\n"
	       "                      holds the state\n\n"
	       "See trainfs(1).\n\n", prog, prog, prog, prog);
}

/* ---- the state directory's lock, stale mounts ---- */

#define STATE_LOCK_WAIT_MS 10000     /* for a holder on its way out */
#define FUSE_MAGIC 0x65735546

/* 1 when path is a FUSE mount that answers now. */
static int fs_mounted(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == FUSE_MAGIC;
}

/* Writes "PID MOUNTPOINT" into the lock file, for a refused daemon. */
static void state_lock_note(int fd, const char *mnt)
{
	char line[PATH_MAX + 32];
	int n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), mnt);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n)
		log_msg(LOG_WARNING, "cannot write the state lock file");
}

/*
 * Takes the state directory for the daemon's life: an flock on
 * STATE/lock, which the kernel lets go of however the daemon ends. The
 * file names the holder's pid and mountpoint. A holder whose mount is gone
 * is on its way out (fusermount3 -u returns before that daemon has closed
 * its store), so it is waited for a bounded while rather than refused.
 * Returns the lock's descriptor, or -1 with err set.
 */
static int state_lock(const char *state, const char *mnt, char *err,
		      size_t errlen)
{
	int64_t until = mono_ms() + STATE_LOCK_WAIT_MS;
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/lock", state);
	if (mkdir_p(state, 0700) < 0 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot open '%.300s': %s", p,
			 strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char line[PATH_MAX + 32], hmnt[PATH_MAX] = "";
		struct timespec ts = { 0, 50 * 1000000L };
		ssize_t n;
		int pid = 0;

		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "cannot lock '%.300s': %s", p,
				 strerror(errno));
			close(fd);
			return -1;
		}
		n = pread(fd, line, sizeof(line) - 1, 0);
		line[n > 0 ? n : 0] = '\0';
		if (sscanf(line, "%d %4095[^\n]", &pid, hmnt) < 1)
			pid = 0;
		if (mono_ms() > until || (hmnt[0] && fs_mounted(hmnt))) {
			snprintf(err, errlen, "state directory '%.300s' in use by "
				 "pid %d", state, pid);
			close(fd);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	state_lock_note(fd, mnt);
	return fd;
}

/*
 * A daemon that died leaves its mount behind: every access to it fails
 * with ENOTCONN, and so would our mount over it. It is detached lazily (a
 * shell may still sit in it). Returns 0, or -1 when it cannot be.
 */
static int clean_stale_mount(const char *mnt)
{
	struct statfs sf;
	pid_t pid;
	int status;

	/* statfs, not stat: the kernel may answer stat from attributes it
	 * cached before the daemon died */
	if (statfs(mnt, &sf) == 0 || errno != ENOTCONN)
		return 0;
	log_msg(LOG_NOTICE, "'%s' is a stale mount left by a daemon that "
		"died: unmounting it", mnt);
	if (umount2(mnt, MNT_DETACH) == 0)
		return 0;
	pid = fork();           /* not root: the setuid helper may */
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		log_msg(LOG_ERR, "cannot unmount the stale mount on '%s'", mnt);
		return -1;
	}
	return 0;
}

/*
 * A mount point that is a file mounts broken, and one with files in it
 * hides them without a word: both are refused with the reason, the second
 * unless -o nonempty (sshfs's word). Returns 0 or -1 after printing.
 */
static int mountpoint_check(const char *path, int nonempty)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int files = 0;

	if (stat(path, &st) < 0) {
		/* a mount left by a crash is for the mount code to handle */
		if (errno == ENOTCONN)
			return 0;
		fprintf(stderr, "trainfs: cannot use mountpoint '%s': %s\n",
			path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "trainfs: mountpoint '%s' is not a directory\n",
			path);
		return -1;
	}
	if (nonempty)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;       /* mount(2) says why, if it fails */
	while (!files && (de = readdir(d)))
		files = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (files) {
		fprintf(stderr, "trainfs: mountpoint '%s' is not empty: the "
			"mount would hide its files; add -o nonempty to mount "
			"anyway\n", path);
		return -1;
	}
	return 0;
}

/* -o cache_size=N: bytes, or with a K, M, G or T suffix; -1 after printing. */
static int cache_size_parse(const char *text, int64_t *out)
{
	char *end;
	double v = strtod(text, &end);

	switch (*end) {
	case 'k': case 'K': v *= 1024; end++; break;
	case 'm': case 'M': v *= 1048576; end++; break;
	case 'g': case 'G': v *= 1073741824.0; end++; break;
	case 't': case 'T': v *= 1099511627776.0; end++; break;
	}
	if (end == text || *end || v < 1) {
		fprintf(stderr, "trainfs: bad cache_size '%s': use bytes or a K, "
			"M, G, T suffix\n", text);
		return -1;
	}
	*out = (int64_t)v;
	return 0;
}

/*
 * The end of the daemon, once the session loop has returned (SIGTERM, or
 * an unmount): parked requests are answered while the session can still
 * carry the answers (core_stop answers artifact reads, then `wait` reads
 * and polls here), the store is closed and the lock let go, and only then
 * is the mount taken down, so that whoever waits for the mount to vanish
 * may start the next daemon at once.
 */
static void fs_shutdown(void)
{
	core_set_listener(fs.core, NULL, NULL);
	park_stop_notifier();
	core_stop(fs.core);
	park_shutdown();
	/* files still open get no release from a session that ended */
	while (fs.fhs)
		fh_free(fs.fhs);
}

/*
 * The words that are no option: MOUNTPOINT, or SOURCE MOUNTPOINT as
 * mount.fuse3 passes them for `mount -t fuse.trainfs SOURCE DIR` and
 * /etc/fstab (sshfs's host:path is its SOURCE; ours is only a name).
 */
static int opt_proc(void *data, const char *arg, int key,
		    struct fuse_args *outargs)
{
	struct options *o = data;

	(void)outargs;
	if (key != FUSE_OPT_KEY_NONOPT)
		return 1;
	if (o->source) {
		fprintf(stderr, "trainfs: too many arguments: '%s' (give "
			"[SOURCE] MOUNTPOINT)\n", arg);
		return -1;
	}
	o->source = o->mountpoint;
	o->mountpoint = xstrdup(arg);
	return 0;
}

/* Makes *path absolute against the working directory: the daemon leaves
 * it for / when it goes to the background. */
static void path_absolute(char **path)
{
	char cwd[PATH_MAX], p[2 * PATH_MAX];

	if (!*path || (*path)[0] == '/' || !getcwd(cwd, sizeof(cwd)))
		return;
	snprintf(p, sizeof(p), "%s/%s", cwd, *path);
	free(*path);
	*path = xstrdup(p);
}

/*
 * `trainfs backup|restore [--state DIR] FILE`. Backup runs beside a
 * daemon; restore takes the state directory's lock, so that it is refused
 * while a daemon holds it. Returns the exit status.
 */
static int cmd_backup(int argc, char *argv[])
{
	int restore = !strcmp(argv[1], "restore"), i, lock_fd = -1, r = 1;
	char *state = NULL, *file = NULL, err[768], db[PATH_MAX];
	int had_db;

	for (i = 2; i < argc; i++) {
		if (!strcmp(argv[i], "--state") && i + 1 < argc) {
			free(state);
			state = xstrdup(argv[++i]);
		} else if (!strncmp(argv[i], "--state=", 8)) {
			free(state);
			state = xstrdup(argv[i] + 8);
		} else if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
			printf("usage: trainfs %s [--state DIR] FILE\n", argv[1]);
			r = 0;
			goto out;
		} else if (argv[i][0] == '-' || file) {
			fprintf(stderr, "trainfs %s: unexpected argument '%s'\n"
				"usage: trainfs %s [--state DIR] FILE\n", argv[1],
				argv[i], argv[1]);
			goto out;
		} else {
			file = argv[i];
		}
	}
	if (!file) {
		fprintf(stderr, "trainfs %s: no FILE given\nusage: trainfs %s "
			"[--state DIR] FILE\n", argv[1], argv[1]);
		goto out;
	}
	if (!state)
		state = default_dir("XDG_STATE_HOME", ".local/state", "");
	if (!restore) {
		if (backup_state(state, file, err, sizeof(err))) {
			fprintf(stderr, "trainfs backup: %s\n", err);
			goto out;
		}
		printf("trainfs: backed up the database of '%s' to '%s' "
		       "(integrity check ok); logs and attempt directories "
		       "(%s/runs) are not in it\n", state, file, state);
		r = 0;
		goto out;
	}
	lock_fd = state_lock(state, "", err, sizeof(err));
	if (lock_fd < 0) {
		fprintf(stderr, "trainfs restore: %s: stop the daemon first\n",
			err);
		goto out;
	}
	snprintf(db, sizeof(db), "%s/trainfs.db", state);
	had_db = access(db, F_OK) == 0;
	if (backup_restore(state, file, err, sizeof(err))) {
		fprintf(stderr, "trainfs restore: %s\n", err);
		goto out;
	}
	printf("trainfs: restored '%s' as the database of '%s'%s\n", file,
	       state, had_db ? " (the one it replaced kept as trainfs.db.old)" :
	       "");
	r = 0;
out:
	if (lock_fd >= 0)
		close(lock_fd);
	free(state);
	return r;
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd = { 0 };
	struct options opts = { .poll_ms = POLL_MS_UNSET };
	struct core_opts co = { 0 };
	char err[512];
	struct core *core;
	int ret = 1, i, lock_fd = -1;

	if (argc > 1 && (!strcmp(argv[1], "backup") ||
			 !strcmp(argv[1], "restore")))
		return cmd_backup(argc, argv);
	for (i = 1; i < argc; i++)
		if (strstr(argv[i], "allow_other"))
			fs.allow_other = 1;
	if (fuse_opt_parse(&args, &opts, opt_spec, opt_proc) == -1)
		goto out_args;
	if (opts.mountpoint && fuse_opt_add_arg(&args, opts.mountpoint))
		goto out_args;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		goto out_args;
	if (opts.show_help || cmd.show_help) {
		usage(argv[0]);
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version || cmd.show_version) {
		printf("trainfs %s\nlibfuse %s\n", TRAINFS_VERSION,
		       fuse_pkgversion());
		fflush(stdout);         /* before fusermount3's own line */
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (!cmd.mountpoint) {
		usage(argv[0]);
		goto out_args;
	}
	if (cmd.debug)
		log_set_level(LOG_DEBUG);
	fuse_set_log_func(fs_log);
	if (opts.poll_ms != POLL_MS_UNSET &&
	    (opts.poll_ms < 10 || opts.poll_ms > 600000)) {
		fprintf(stderr, "trainfs: poll_ms must be an integer from 10 to "
			"600000 (milliseconds), not %d\n", opts.poll_ms);
		goto out_args;
	}
	/* a config named on the command line must be there; only the
	 * default one may be missing (then the embedded default holds) */
	if (opts.config && access(opts.config, R_OK) < 0) {
		fprintf(stderr, "trainfs: cannot read config '%s': %s\n",
			opts.config, strerror(errno));
		goto out_args;
	}
	if (mountpoint_check(cmd.mountpoint, opts.nonempty))
		goto out_args;
	fs.share_read = opts.share_read;
	if (!opts.state)
		opts.state = default_dir("XDG_STATE_HOME", ".local/state", "");
	if (!opts.config)
		opts.config = default_dir("XDG_CONFIG_HOME", ".config",
					  "/config.json");
	path_absolute(&opts.state);
	path_absolute(&opts.config);
	fs.start_ms = now_ms();
	fs.uid = getuid();
	fs.gid = getgid();
	pthread_mutex_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.qlock, NULL);
	pthread_cond_init(&fs.qcond, NULL);

	lock_fd = state_lock(opts.state, cmd.mountpoint, err, sizeof(err));
	if (lock_fd < 0) {
		fprintf(stderr, "trainfs: %s\n", err);
		goto out_args;
	}
	if (clean_stale_mount(cmd.mountpoint))
		goto out_args;
	co.state_dir = opts.state;
	co.config_file = opts.config;
	co.poll_ms = opts.poll_ms == POLL_MS_UNSET ? 0 : opts.poll_ms;
	if (opts.cache_size && cache_size_parse(opts.cache_size, &co.cache_size))
		goto out_args;
	core = core_open(&co, err, sizeof(err));
	if (!core) {
		fprintf(stderr, "trainfs: %s\n", err);
		goto out_args;
	}
	fs.core = core;
	/*
	 * No default_permissions: the kernel would answer EACCES for a
	 * submitted (0444) config.json, where the contract says EBUSY. The
	 * mount is private to its user anyway unless -o allow_other, and then
	 * may_modify() keeps others to reading.
	 */
	if (fuse_opt_add_arg(&args, "-ofsname=trainfs,subtype=trainfs"))
		goto out_core;
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	if (!fs.se)
		goto out_core;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	/* threads do not survive the fork of daemonizing: start them after */
	fuse_daemonize(cmd.foreground);
	state_lock_note(lock_fd, cmd.mountpoint);    /* the child's pid */
	core_set_listener(core, park_listener, NULL);
	park_start();
	if (core_start(core)) {
		log_msg(LOG_ERR, "cannot start the poller");
		goto out_unmount;
	}
	log_msg(LOG_INFO, "mounted on '%s', state in '%s'", cmd.mountpoint,
		opts.state);
	/* a signal number is how libfuse says SIGTERM or SIGINT ended it:
	 * a clean end, as an unmount is */
	ret = fuse_session_loop(fs.se) < 0 ? 1 : 0;
out_unmount:
	fs_shutdown();
	core_close(core);
	core = NULL;
	close(lock_fd);
	lock_fd = -1;
	fuse_session_unmount(fs.se);
	scratch_free_all();
	free(fs.q);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_core:
	core_close(core);
out_args:
	if (lock_fd >= 0)
		close(lock_fd);
	free(cmd.mountpoint);
	free(opts.state);
	free(opts.config);
	free(opts.cache_size);
	free(opts.mountpoint);
	free(opts.source);
	fuse_opt_free_args(&args);
	return ret;
}
