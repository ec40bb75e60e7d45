/*
 * local.c - the "local" provider: runs a job's argv on this machine under a
 * small supervisor process that outlives the daemon. The supervisor holds
 * an flock on attempt_dir/supervisor.lock for its whole life and writes
 * attempt_dir/job.json (pids, cgroup, start time) before the job runs any
 * code of its own, rewrites it with "exec_ms" once the exec succeeded, and
 * writes attempt_dir/exit.json (exit status) before it exits, so
 * everything the daemon needs - after a restart too - is in the attempt
 * directory, and a held lock, unlike a pid, cannot be mistaken after pid
 * reuse.
 *
 * Processes: the daemon forks A; A calls setsid(), forks the supervisor S
 * and exits at once, so S is re-parented to init and the daemon reaps only
 * A. S forks the job J, which becomes the leader of its own process group
 * (pause and cancel signal the whole group, never S), waits until S has
 * written job.json and put it in its cgroup, and execs the argv.
 * A, S and J are children of a threaded daemon that never exec (A, S) or
 * not yet (J), so they call only async-signal-safe functions, snprintf
 * and file_write_atomic(), which is made of them: no stdio, no log_msg()
 * (its mutex may be held by a daemon thread), no cJSON, no strerror()
 * (it may translate); what they need is prepared in struct local_launch.
 *
 * A job ends when its main process J ends: S then kills what J left in its
 * process group and in its cgroup, as Slurm ends a step. Where a cgroup v2
 * hierarchy is writable (found in /proc/self/mountinfo), each job gets a
 * cgroup of its own under "trainfs" in the daemon's cgroup, which also
 * holds what left the group with setsid(); elsewhere the process group is
 * all there is. Pause stops the group with SIGSTOP and leaves
 * attempt_dir/paused, which poll() needs because a vfork()ing shell cannot
 * stop while its stopped child holds it (see local_poll()).
 *
 * Cancel writes attempt_dir/cancel (the grace) and then a byte to the FIFO
 * attempt_dir/ctl, S's only cancel channel: S ignores TERM, INT and HUP,
 * so signals meant for the daemon (`pkill trainfs`, a terminal's ^C)
 * leave every job alone.
 *
 * A supervisor that died (kill -9, the OOM killer) leaves a free lock and
 * no exit.json. Its job may live on, so poll() ends what is left of it -
 * its cgroup, else the members of its process group - and reports it
 * running until nothing is left, and only then failed: a retry never
 * starts while the attempt before it still runs, and the slots count it.
 *
 * A job that cannot be started (a missing binary, a bad workdir, a log that
 * cannot be opened) is not an error of submit(): submit() returns 0 and the
 * job ends FAILED with exit code 127 and the reason, e.g. "cannot execute
 * 'foo': No such file or directory", in exit.json and in the log - as a
 * shell reports it, and as every other provider reports a failing job.
 *
 * The job can write into its attempt directory (its default working
 * directory), so every file read from there is opened without following
 * links and without blocking, must be a regular file of bounded size, and
 * is checked before use (local_file_read()).
 */
#define _GNU_SOURCE
#include "connector.h"
#include "json.h"
#include "manifest.h"
#include "sha256.h"
#include "strvec.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/prctl.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define LOCAL_FILE_MAX 4096          /* job.json, exit.json */
#define LOCAL_CANCEL_MAX 32          /* the cancel request file */
#define LOCAL_STAT_MAX 2048          /* one /proc/<pid>/stat line */
#define LOCAL_SAMPLES_MAX 256        /* jobs whose cpu time we remember */
#define LOCAL_GRACE_DEFAULT 10
#define LOCAL_GRACE_MAX 86400
#define LOCAL_REPORT_TIMEOUT_MS 10000
#define LOCAL_LOCK_TRIES 200         /* x 10 ms, see local_supervise() */
#define LOCAL_EXIT_WRITE_TRIES 10    /* x 1 s */

#define LOCAL_JOB_FILE "job.json"
#define LOCAL_EXIT_FILE "exit.json"
#define LOCAL_LOCK_FILE "supervisor.lock"
#define LOCAL_CANCEL_FILE "cancel"
#define LOCAL_PAUSED_FILE "paused"
#define LOCAL_CTL_FILE "ctl"
#define LOCAL_MANIFEST_FILE "manifest.json"
#define LOCAL_CGROUP_DIR "trainfs"       /* in the daemon's own cgroup */
#define LOCAL_ENV_MAX 256                /* entries the config may add */

/* The files of one attempt, all inside attempt_dir. */
struct local_paths {
	char job[PATH_MAX];
	char exit[PATH_MAX];
	char lock[PATH_MAX];
	char cancel[PATH_MAX];
	char paused[PATH_MAX];   /* present between pause and resume */
	char ctl[PATH_MAX];      /* S's cancel channel, a FIFO */
	char manifest[PATH_MAX]; /* the daemon's, made after the job */
};

/* What job.json records. */
struct local_job {
	long long spid;                  /* the supervisor */
	long long jpid;                  /* the job, leader of its group */
	long long pgid;                  /* == jpid */
	long long start_ms;
	unsigned long long start_ticks;  /* field 22 of /proc/<jpid>/stat */
	int kill_grace_s;                /* the default for cancel */
	long long exec_ms;               /* 0: not exec'd (yet) */
	int legacy;                      /* by a supervisor with no cancel
					    channel: TERM cancels it */
	char cgroup[PATH_MAX];           /* "" when the job has none */
};

/* What exit.json records. */
struct local_exit {
	int has_code;                    /* 0: "exit_code" was null */
	int code;
	int sig;
	int cancelled;
	long long start_ms, end_ms;
	char reason[JOB_REASON_MAX];     /* "" unless the job never ran */
};

/*
 * Everything the forked processes need, prepared by the daemon before the
 * fork so that they need not allocate. Paths are absolute because S
 * leaves the daemon's working directory.
 */
struct local_launch {
	char *const *argv;               /* borrowed from the spec */
	char **envp;                     /* see local_env_build() */
	char workdir[PATH_MAX];
	char log_path[PATH_MAX];
	struct local_paths paths;
	int kill_grace_s;
	char wake_path[PATH_MAX];        /* the daemon's FIFO, or "" */
	char cgroup_parent[PATH_MAX];    /* where job cgroups go, or "" */
};

/* S -> daemon, one write of less than PIPE_BUF bytes, so atomic. */
enum local_rep_status { LOCAL_REP_OK = 1, LOCAL_REP_BUSY, LOCAL_REP_ERROR };
enum local_stage {
	LOCAL_STAGE_NONE,
	LOCAL_STAGE_DEVNULL,
	LOCAL_STAGE_FORK_SUPERVISOR,
	LOCAL_STAGE_LOCK,
	LOCAL_STAGE_SIGNALFD,
	LOCAL_STAGE_PIPE,
	LOCAL_STAGE_FORK_JOB,
	LOCAL_STAGE_JOB_FILE,
	LOCAL_STAGE_CTL,
};
struct local_report {
	int status;
	int stage;
	int err;
	int spid;
	int jpid;
};

/* The cpu time of a job's group at its previous poll. */
struct local_sample {
	int used;                        /* 0: free slot */
	long long spid;                  /* the job id */
	unsigned long long start_ticks;  /* tells a reused pid apart */
	unsigned long long ticks;        /* utime + stime of the group */
	int64_t at_ms;                   /* mono_ms() of the sample */
	uint64_t stamp;                  /* for least-recently-used reuse */
};

/* c->priv. Only the poller thread touches it (see connector.h). */
struct local {
	int kill_grace_s;
	char *wake_path;                 /* FIFO supervisors write to */
	int wake_rfd, wake_wfd;          /* our ends: read, and a writer that
					    keeps it from reporting EOF */
	char *artifact_root;             /* with artifact_base_url: outputs */
	char *artifact_base_url;         /* are served over HTTP from here */
	char *cgroup_parent;             /* see local_cgroup_find(), or NULL */
	char **env_set;                  /* "K=V" from the config's "env" */
	char **env_pass;                 /* names from its "pass_env" */
	uint64_t clock;
	struct local_sample samples[LOCAL_SAMPLES_MAX];
};

/* A running job's group, while poll() sums its processes. */
struct local_live {
	struct job_query *q;
	long long spid, pgid;
	unsigned long long start_ticks;
	unsigned long long ticks;
	long long rss_pages;
	int paused_asked;                /* pause() left its marker */
	int stopped;                     /* members in state T */
	int frozen;                      /* its cgroup is frozen */
};

/* The fields of /proc/<pid>/stat we use. */
struct local_pstat {
	char state;
	long long pgrp;
	unsigned long long utime, stime, starttime;
	long long rss;                   /* pages */
};

/* ---- helpers safe in a forked child ------------------------------------- */

/* Parses a decimal integer the way /proc prints it; no locale, no errno. */
static long long local_num(const char *s)
{
	long long v = 0;
	int neg = 0;

	if (*s == '-') {
		neg = 1;
		s++;
	}
	while (*s >= '0' && *s <= '9')
		v = v * 10 + (*s++ - '0');
	return neg ? -v : v;
}

/*
 * Parses a /proc/<pid>/stat line. The command name (field 2) may hold
 * spaces and parentheses, so fields are counted from its last ')'.
 * Returns 0, or -1 when the line is shorter than expected.
 */
static int local_pstat_parse(const char *text, struct local_pstat *ps)
{
	const char *p = strrchr(text, ')');
	int field = 2;

	if (!p)
		return -1;
	memset(ps, 0, sizeof(*ps));
	for (p++; *p && field < 24;) {
		const char *tok;

		while (*p == ' ')
			p++;
		if (!*p || *p == '\n')
			break;
		tok = p;
		field++;
		while (*p && *p != ' ' && *p != '\n')
			p++;
		switch (field) {
		case 3:
			ps->state = *tok;
			break;
		case 5:
			ps->pgrp = local_num(tok);
			break;
		case 14:
			ps->utime = (unsigned long long)local_num(tok);
			break;
		case 15:
			ps->stime = (unsigned long long)local_num(tok);
			break;
		case 22:
			ps->starttime = (unsigned long long)local_num(tok);
			break;
		case 24:
			ps->rss = local_num(tok);
			break;
		}
	}
	return field >= 24 ? 0 : -1;
}

/* Returns 0 and fills ps, or -1 when the process does not exist (any more). */
static int local_pstat_read(long long pid, struct local_pstat *ps)
{
	char path[64], buf[LOCAL_STAT_MAX];
	ssize_t n;
	int fd;

	if (pid <= 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return local_pstat_parse(buf, ps);
}

/* strerror() may translate and so lock; this never does. */
static const char *local_errstr(int err)
{
	const char *s = strerrordesc_np(err);

	return s ? s : "unknown error";
}

static void local_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static void local_write_all(int fd, const void *data, size_t len)
{
	const char *p = data;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return;
		p += n;
		len -= (size_t)n;
	}
}

/*
 * The signals S ignores: a terminal hang-up, ^C or TERM meant for the
 * daemon (`pkill trainfs` matches "trainfs-sup" too), and writes to a
 * daemon that has gone away. Only the cancel channel cancels.
 */
static int local_sig_ignored(int sig)
{
	return sig == SIGHUP || sig == SIGINT || sig == SIGTERM ||
	       sig == SIGPIPE ||
	       sig == SIGQUIT || sig == SIGTSTP || sig == SIGTTIN ||
	       sig == SIGTTOU;
}

/*
 * Sets every disposition to the default, or to ignore where ignore is set
 * and local_sig_ignored() says so. The daemon's handlers (FUSE installs
 * some) mean nothing in a child, and ignored signals would survive exec.
 * sigaction() fails harmlessly for SIGKILL, SIGSTOP and reserved signals.
 */
static void local_sig_reset(int ignore)
{
	struct sigaction sa;
	int sig;

	memset(&sa, 0, sizeof(sa));
	sigemptyset(&sa.sa_mask);
	for (sig = 1; sig < NSIG; sig++) {
		sa.sa_handler = ignore && local_sig_ignored(sig) ? SIG_IGN :
								   SIG_DFL;
		sigaction(sig, &sa, NULL);
	}
}

/*
 * Closes every descriptor from 3 up except keep, so that S does not hold
 * the daemon's /dev/fuse, database or sockets open for the job's lifetime.
 */
static void local_close_fds_except(int keep)
{
	DIR *d;
	struct dirent *de;
	int ok = 1;

	if (keep > 3)
		ok = close_range(3, (unsigned)keep - 1, 0) == 0;
	if (ok && close_range((unsigned)keep + 1, ~0U, 0) == 0)
		return;
	/* An older kernel: walk the descriptor table instead. */
	d = opendir("/proc/self/fd");
	if (!d) {
		int fd;

		for (fd = 3; fd < 65536; fd++)
			if (fd != keep)
				close(fd);
		return;
	}
	while ((de = readdir(d))) {
		int fd = (int)local_num(de->d_name);

		if (de->d_name[0] < '0' || de->d_name[0] > '9')
			continue;
		if (fd >= 3 && fd != keep && fd != dirfd(d))
			close(fd);
	}
	closedir(d);
}

/*
 * Writes text to the file dir/name, as one write(). Returns 0, or -1 with
 * errno set.
 */
static int local_cg_write(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX];
	size_t len = strlen(text);
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_WRONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = write(fd, text, len);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == (ssize_t)len ? 0 : -1;
}

/* Moves pid into the cgroup at dir. Returns 0, or -1 with errno set. */
static int local_cg_enter(const char *dir, long long pid)
{
	char text[32];

	snprintf(text, sizeof(text), "%lld\n", pid);
	return local_cg_write(dir, "cgroup.procs", text);
}

/*
 * Reads up to len - 1 bytes of dir/name into buf, NUL-terminated. Returns
 * the length, or -1 when the file cannot be read (the cgroup is gone).
 */
static ssize_t local_cg_read(const char *dir, const char *name, char *buf,
			     size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return -1;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n < 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/*
 * Returns 1 while a process of the cgroup at dir lives (cgroup.events
 * says "populated 1"; zombies do not count), 0 when none does or the
 * cgroup is gone.
 */
static int local_cg_populated(const char *dir)
{
	char buf[LOCAL_STAT_MAX];

	if (local_cg_read(dir, "cgroup.events", buf, sizeof(buf)) < 0)
		return 0;
	return strstr(buf, "populated 1") != NULL;
}

/*
 * Returns 1 when the cgroup at dir is frozen (cgroup.events says "frozen
 * 1"): its tasks may have been frozen before they took their SIGSTOP, so
 * a paused job is told by this as well as by stopped members.
 */
static int local_cg_frozen(const char *dir)
{
	char buf[LOCAL_STAT_MAX];

	if (local_cg_read(dir, "cgroup.events", buf, sizeof(buf)) < 0)
		return 0;
	return strstr(buf, "frozen 1") != NULL;
}

/*
 * SIGKILLs every process of the cgroup at dir, also those that left the
 * job's process group and session. cgroup.kill does it in one step where
 * the kernel has it (5.14); else each pid listed is killed, which a fork
 * racing the list may escape, so callers repeat until it is empty.
 */
static void local_cg_kill(const char *dir)
{
	char buf[LOCAL_FILE_MAX];
	const char *p;

	if (local_cg_write(dir, "cgroup.kill", "1\n") == 0)
		return;
	if (local_cg_read(dir, "cgroup.procs", buf, sizeof(buf)) < 0)
		return;
	for (p = buf; *p; ) {
		long long pid = local_num(p);

		if (pid > 1)
			kill((pid_t)pid, SIGKILL);
		while (*p && *p != '\n')
			p++;
		while (*p == '\n')
			p++;
	}
}

/*
 * Ends the cgroup at dir, as S does when its job ends: kills what is in
 * it, waits (at most about 5 s) until nothing lives there and removes it.
 * Returns 0 when it is gone, -1 when something is left.
 */
static int local_cg_end(const char *dir)
{
	int i;

	for (i = 0; i < 500; i++) {
		if (!local_cg_populated(dir))
			break;
		local_cg_kill(dir);
		local_sleep_ms(10);
	}
	return rmdir(dir) == 0 || errno == ENOENT ? 0 : -1;
}

/* ---- the job: J --------------------------------------------------------- */

/*
 * Runs in J between fork and exec. Waits for S's go on gfd, so that none
 * of the job's own code runs before S has recorded it; S closing the pipe
 * instead (a cancel came first, or S died) ends J at once. Reports a
 * failure to start as a reason sentence on efd (S puts it in exit.json)
 * and in the log when the log is open, then exits 127 as a shell would.
 * gfd_w, lockfd and ctlfd are S's, closed here: J holding the lock or the
 * cancel channel while it waits would make a dead S look alive.
 */
static void __attribute__((noreturn))
local_job_exec(const struct local_launch *l, int efd, int gfd, int gfd_w,
	       int lockfd, int ctlfd)
{
	char reason[JOB_REASON_MAX], go = 0;
	sigset_t none;
	ssize_t n;
	int fd, err;

	close(gfd_w);
	close(lockfd);
	close(ctlfd);
	setpgid(0, 0);
	local_sig_reset(0);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	do
		n = read(gfd, &go, 1);
	while (n < 0 && errno == EINTR);
	if (n != 1 || go != 'g')
		_exit(127);
	close(gfd);

	if (chdir(l->workdir) < 0) {
		err = errno;
		snprintf(reason, sizeof(reason),
			 "cannot change directory to '%.180s': %s", l->workdir,
			 local_errstr(err));
		goto fail;
	}
	fd = open(l->log_path, O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW |
		  O_CLOEXEC, 0600);
	if (fd < 0) {
		err = errno;
		snprintf(reason, sizeof(reason), "cannot open log '%.180s': %s",
			 l->log_path, local_errstr(err));
		goto fail;
	}
	/* dup2() clears close-on-exec; stdin is /dev/null already. */
	if (dup2(fd, 1) < 0 || dup2(fd, 2) < 0) {
		err = errno;
		snprintf(reason, sizeof(reason), "cannot open log '%.180s': %s",
			 l->log_path, local_errstr(err));
		goto fail;
	}
	close(fd);

	/* execvp() searches the PATH of the job's environment, not ours. */
	environ = l->envp;
	execvp(l->argv[0], l->argv);
	err = errno;
	snprintf(reason, sizeof(reason), "cannot execute '%.180s': %s",
		 l->argv[0], local_errstr(err));
	local_write_all(2, "trainfs: ", 9);
	local_write_all(2, reason, strlen(reason));
	local_write_all(2, "\n", 1);
fail:
	local_write_all(efd, reason, strlen(reason));
	_exit(127);
}

/* ---- the supervisor: S -------------------------------------------------- */

/* What S knows of its job, for job.json. */
struct local_sup {
	pid_t jpid;
	long long start_ms;
	unsigned long long ticks;        /* J's start time, see local_job */
	char cgroup[PATH_MAX];           /* "" when the job has none */
	char reason[JOB_REASON_MAX];     /* J's words when it could not start */
	size_t rlen;
	int efd;                         /* J's exec report, -1 once read */
};

/*
 * Writes job.json; exec_ms is 0 until J is known to have exec'd. Returns
 * TFS_OK or the error of file_write_atomic() with errno set.
 */
static int local_sup_job_file(const struct local_launch *l,
			      const struct local_sup *s, long long exec_ms)
{
	char buf[LOCAL_FILE_MAX], esc[PATH_MAX * 2];
	int len;

	manifest_json_escape(s->cgroup, esc, sizeof(esc));
	len = snprintf(buf, sizeof(buf),
		       "{\"supervisor_pid\":%d,\"job_pid\":%d,\"pgid\":%d,"
		       "\"start_ms\":%lld,\"job_start_ticks\":%llu,"
		       "\"kill_grace_s\":%d,\"exec_ms\":%lld%s%s%s}\n",
		       (int)getpid(), (int)s->jpid, (int)s->jpid, s->start_ms,
		       s->ticks, l->kill_grace_s, exec_ms,
		       s->cgroup[0] ? ",\"cgroup\":\"" : "", esc,
		       s->cgroup[0] ? "\"" : "");
	if (len < 0 || len >= (int)sizeof(buf)) {
		errno = ENAMETOOLONG;
		return TFS_ENAMETOOLONG;
	}
	return file_write_atomic(l->paths.job, buf, (size_t)len, 1);
}

/* The grace written by cancel(), else the one given at submit. */
static int local_cancel_grace(const struct local_launch *l)
{
	char buf[LOCAL_CANCEL_MAX];
	ssize_t n;
	long long v;
	int fd = open(l->paths.cancel, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
		      O_CLOEXEC);

	if (fd < 0)
		return l->kill_grace_s;
	do
		n = read(fd, buf, sizeof(buf) - 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	if (n <= 0 || buf[0] < '0' || buf[0] > '9')
		return l->kill_grace_s;
	buf[n] = '\0';
	v = local_num(buf);
	return v > LOCAL_GRACE_MAX ? LOCAL_GRACE_MAX : (int)v;
}

static void __attribute__((noreturn))
local_report_exit(int rep, struct local_report *r, int status, int stage,
		  int err)
{
	r->status = status;
	r->stage = stage;
	r->err = err;
	local_write_all(rep, r, sizeof(*r));
	_exit(status == LOCAL_REP_ERROR ? 1 : 0);
}

/* Returns 1 when J has ended (not reaped yet), 0 while it lives. */
static int local_sup_job_ended(pid_t jpid)
{
	siginfo_t si;

	memset(&si, 0, sizeof(si));
	if (waitid(P_PID, (id_t)jpid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
		return errno != EINTR;
	return si.si_pid == jpid;
}

/*
 * Reads what J says on its exec report pipe. EOF with nothing said while
 * J lives means the exec succeeded: job.json then says so, which turns
 * the job from starting into running for poll().
 */
static void local_sup_exec_report(const struct local_launch *l,
				  struct local_sup *s)
{
	for (;;) {
		ssize_t n = read(s->efd, s->reason + s->rlen,
				 sizeof(s->reason) - 1 - s->rlen);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN)
			return;
		if (n > 0) {
			s->rlen += (size_t)n;
			if (s->rlen < sizeof(s->reason) - 1)
				continue;
		}
		break;
	}
	s->reason[s->rlen] = '\0';
	close(s->efd);
	s->efd = -1;
	if (!s->rlen && !local_sup_job_ended(s->jpid))
		local_sup_job_file(l, s, now_ms());
}

/* Starts a cancel: TERM to the job's group, KILL at the deadline. */
static int64_t local_sup_cancel(const struct local_launch *l, pid_t jpid,
				const char *cgroup)
{
	int grace = local_cancel_grace(l);

	/* CONT and thaw after TERM: a paused job must see its TERM. */
	kill(-jpid, SIGTERM);
	kill(-jpid, SIGCONT);
	if (cgroup[0])
		local_cg_write(cgroup, "cgroup.freeze", "0\n");
	return mono_ms() + (int64_t)grace * 1000;
}

/*
 * Waits in S for J to end, handling cancel requests on the way: a byte on
 * the cancel channel while the cancel file exists. Returns J's wait
 * status, or -1 when it was lost (cannot happen unless someone else
 * reaped our child).
 */
static int local_wait_job(const struct local_launch *l, int sfd, int ctlfd,
			  struct local_sup *s, int *cancelled)
{
	int64_t deadline = 0;
	int killed = 0;
	pid_t jpid = s->jpid;

	for (;;) {
		struct signalfd_siginfo ssi;
		struct pollfd pfd[3] = {
			{ .fd = sfd, .events = POLLIN },
			{ .fd = ctlfd, .events = POLLIN },
			{ .fd = s->efd, .events = POLLIN },
		};
		char junk[64];
		int timeout = -1, n, status;

		if (*cancelled && !killed) {
			int64_t left = deadline - mono_ms();

			if (left <= 0) {
				kill(-jpid, SIGKILL);
				killed = 1;
				continue;
			}
			timeout = (int)left;
		}
		n = poll(pfd, s->efd >= 0 ? 3 : 2, timeout);
		if (n < 0 && errno != EINTR)
			local_sleep_ms(100);
		if (n <= 0)
			continue;
		if (pfd[1].revents & POLLIN) {
			while (read(ctlfd, junk, sizeof(junk)) > 0)
				;
			if (!*cancelled && access(l->paths.cancel, F_OK) == 0) {
				*cancelled = 1;
				deadline = local_sup_cancel(l, jpid, s->cgroup);
			}
		}
		if (s->efd >= 0 && (pfd[2].revents & (POLLIN | POLLHUP)))
			local_sup_exec_report(l, s);
		if (!(pfd[0].revents & POLLIN) ||
		    read(sfd, &ssi, sizeof(ssi)) != (ssize_t)sizeof(ssi) ||
		    ssi.ssi_signo != SIGCHLD)
			continue;
		/* SIGCHLDs merge, and stops and continues send them too. */
		if (!local_sup_job_ended(jpid))
			continue;
		if (s->efd >= 0)
			local_sup_exec_report(l, s);
		/*
		 * J is a zombie now, so its pid - the group's id - cannot be
		 * reused until we reap it: this KILL reaches only what J
		 * left behind in its group. A job ends when its main process
		 * ends, as a Slurm step does; what left the group is still in
		 * the job's cgroup, which S ends after this.
		 */
		kill(-jpid, SIGKILL);
		if (s->cgroup[0])
			local_cg_kill(s->cgroup);
		while (waitpid(jpid, &status, 0) < 0)
			if (errno != EINTR)
				return -1;
		return status;
	}
}

/*
 * S: the supervisor. Records the job in job.json before any of its code
 * runs, reports to the daemon on rep (or why it could not start), lets J
 * go, waits for it and records its end in exit.json, durably, before the
 * lock goes with the process. One function, longer than most, because
 * each step hands the next the descriptors and pids it holds, in a child
 * where only async-signal-safe calls may run.
 */
static void __attribute__((noreturn))
local_supervise(const struct local_launch *l, int rep)
{
	struct local_report r;
	struct local_pstat ps;
	struct local_sup s;
	char esc[JOB_REASON_MAX * 6];
	char buf[LOCAL_FILE_MAX], code[16];
	long long end_ms;
	sigset_t set;
	int lockfd, ctlfd, sfd, ep[2], gp[2], i, status, cancelled = 0, len;
	int sig;

	memset(&r, 0, sizeof(r));
	memset(&s, 0, sizeof(s));
	r.spid = (int)getpid();
	prctl(PR_SET_NAME, "trainfs-sup", 0, 0, 0);
	/* Hold no mount busy for the life of the job. */
	if (chdir("/") < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR, LOCAL_STAGE_NONE,
				  errno);

	lockfd = open(l->paths.lock, O_RDWR | O_CREAT | O_NOFOLLOW |
		      O_NONBLOCK | O_CLOEXEC, 0600);
	if (lockfd < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR, LOCAL_STAGE_LOCK,
				  errno);
	/*
	 * Not a blocking lock: a live supervisor holds it for the job's
	 * whole life. The daemon's liveness checks take it for an instant,
	 * so a few retries tell those apart from a second supervisor.
	 */
	for (i = 0; flock(lockfd, LOCK_EX | LOCK_NB) < 0; i++) {
		if (errno == EINTR)
			continue;
		if (errno != EWOULDBLOCK)
			local_report_exit(rep, &r, LOCAL_REP_ERROR,
					  LOCAL_STAGE_LOCK, errno);
		if (i >= LOCAL_LOCK_TRIES)
			local_report_exit(rep, &r, LOCAL_REP_BUSY,
					  LOCAL_STAGE_NONE, 0);
		local_sleep_ms(10);
	}
	/* Under the lock: an earlier supervisor already ran this attempt. */
	if (access(l->paths.job, F_OK) == 0)
		local_report_exit(rep, &r, LOCAL_REP_BUSY, LOCAL_STAGE_NONE, 0);

	/*
	 * The cancel channel: a FIFO only cancel() writes to. Signals are not
	 * one, since `pkill trainfs` or a TERM meant for the daemon would
	 * cancel every job (S ignores TERM, see local_sig_ignored()). Read
	 * and write, so that it never reports end of file.
	 */
	unlink(l->paths.ctl);
	if (mkfifo(l->paths.ctl, 0600) < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR, LOCAL_STAGE_CTL,
				  errno);
	ctlfd = open(l->paths.ctl, O_RDWR | O_NONBLOCK | O_NOFOLLOW |
		     O_CLOEXEC);
	if (ctlfd < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR, LOCAL_STAGE_CTL,
				  errno);

	sigemptyset(&set);
	sigaddset(&set, SIGCHLD);
	sigprocmask(SIG_SETMASK, &set, NULL);
	sfd = signalfd(-1, &set, SFD_CLOEXEC);
	if (sfd < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR,
				  LOCAL_STAGE_SIGNALFD, errno);
	if (pipe2(ep, O_CLOEXEC) < 0 || pipe2(gp, O_CLOEXEC) < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR, LOCAL_STAGE_PIPE,
				  errno);
	/*
	 * A cgroup of its own catches what leaves the job's process group
	 * (setsid, a daemonizing child). Named by our pid, unique while we
	 * live; an empty one left by a dead namesake is removed first.
	 */
	if (l->cgroup_parent[0] &&
	    snprintf(s.cgroup, sizeof(s.cgroup), "%s/%d", l->cgroup_parent,
		     (int)getpid()) < (int)sizeof(s.cgroup)) {
		rmdir(s.cgroup);
		if (mkdir(s.cgroup, 0755) < 0)
			s.cgroup[0] = '\0';
	} else {
		s.cgroup[0] = '\0';
	}

	s.start_ms = now_ms();
	s.jpid = fork();
	if (s.jpid < 0)
		local_report_exit(rep, &r, LOCAL_REP_ERROR,
				  LOCAL_STAGE_FORK_JOB, errno);
	if (s.jpid == 0)
		local_job_exec(l, ep[1], gp[0], gp[1], lockfd, ctlfd);
	close(ep[1]);
	close(gp[0]);
	/* Both sides set the group, so signals reach it whoever runs first. */
	setpgid(s.jpid, s.jpid);
	r.jpid = (int)s.jpid;
	s.efd = ep[0];
	fcntl(s.efd, F_SETFL, O_NONBLOCK);
	if (s.cgroup[0] && local_cg_enter(s.cgroup, s.jpid) < 0) {
		rmdir(s.cgroup);
		s.cgroup[0] = '\0';
	}
	/* J is not reaped yet, so its /proc entry is there even if it died. */
	s.ticks = local_pstat_read(s.jpid, &ps) < 0 ? 0 : ps.starttime;
	if (local_sup_job_file(l, &s, 0) != TFS_OK) {
		int err = errno;

		/* A job nobody can find must not run: it never got its go. */
		kill(s.jpid, SIGKILL);
		while (waitpid(s.jpid, &status, 0) < 0 && errno == EINTR)
			;
		if (s.cgroup[0])
			rmdir(s.cgroup);
		local_report_exit(rep, &r, LOCAL_REP_ERROR,
				  LOCAL_STAGE_JOB_FILE, err);
	}
	r.status = LOCAL_REP_OK;
	local_write_all(rep, &r, sizeof(r));
	close(rep);

	/*
	 * A cancel recorded before the channel was open (the daemon found no
	 * reader) is in the cancel file: the job then never runs.
	 */
	if (access(l->paths.cancel, F_OK) == 0)
		cancelled = 1;
	else
		local_write_all(gp[1], "g", 1);
	close(gp[1]);

	status = local_wait_job(l, sfd, ctlfd, &s, &cancelled);
	end_ms = now_ms();
	if (s.cgroup[0])
		local_cg_end(s.cgroup);
	/* A manifest.json now is the job's, not one the daemon made. */
	unlink(l->paths.manifest);

	if (status >= 0 && WIFEXITED(status))
		snprintf(code, sizeof(code), "%d", WEXITSTATUS(status));
	else
		snprintf(code, sizeof(code), "null");
	if (status < 0 && !s.rlen)
		s.rlen = (size_t)snprintf(s.reason, sizeof(s.reason),
					  "exit status lost");
	manifest_json_escape(s.reason, esc, sizeof(esc));
	sig = status >= 0 && WIFSIGNALED(status) ? WTERMSIG(status) : 0;
	len = snprintf(buf, sizeof(buf),
		       "{\"exit_code\":%s,\"signal\":%d,\"cancelled\":%s,"
		       "\"start_ms\":%lld,\"end_ms\":%lld%s%s%s}\n",
		       code, sig, cancelled ? "true" : "false", s.start_ms,
		       end_ms,
		       s.rlen ? ",\"reason\":\"" : "", esc, s.rlen ? "\"" : "");
	/* The lock is released only by our exit, after the status is safe. */
	for (i = 0; i < LOCAL_EXIT_WRITE_TRIES; i++) {
		if (file_write_atomic(l->paths.exit, buf, (size_t)len, 1) ==
		    TFS_OK)
			break;
		local_sleep_ms(1000);
	}
	/*
	 * Tell a listening daemon at once, so a finished job frees its slot
	 * now rather than at the next poll. Nobody listening (ENXIO) is fine:
	 * the exit status is on disk for the next poll.
	 */
	if (l->wake_path[0]) {
		int wfd = open(l->wake_path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);

		if (wfd >= 0) {
			if (write(wfd, "x", 1) < 0) {
				/* a full FIFO already says it */
			}
			close(wfd);
		}
	}
	_exit(0);
}

/*
 * A: the first child. Leaves the daemon's session so a terminal hang-up
 * or ^C cannot reach S or the job, and exits at once so S is re-parented
 * to init and the daemon need wait only for A.
 */
static void __attribute__((noreturn))
local_child_a(const struct local_launch *l, int rep)
{
	struct local_report r;
	int w, nul;
	pid_t s;

	memset(&r, 0, sizeof(r));
	local_sig_reset(1);
	/* Out of the way of 0-2, in case the daemon had closed stdin. */
	w = fcntl(rep, F_DUPFD_CLOEXEC, 3);
	if (w < 0)
		_exit(1);
	nul = open("/dev/null", O_RDWR);
	if (nul < 0)
		local_report_exit(w, &r, LOCAL_REP_ERROR, LOCAL_STAGE_DEVNULL,
				  errno);
	/*
	 * Not the daemon's stdout: a reader of it must see EOF when the
	 * daemon exits, not when the last job does.
	 */
	dup2(nul, 0);
	dup2(nul, 1);
	dup2(nul, 2);
	if (nul > 2)
		close(nul);
	local_close_fds_except(w);
	setsid();
	s = fork();
	if (s < 0)
		local_report_exit(w, &r, LOCAL_REP_ERROR,
				  LOCAL_STAGE_FORK_SUPERVISOR, errno);
	if (s == 0)
		local_supervise(l, w);
	_exit(0);
}

/* ---- the daemon's side -------------------------------------------------- */

/* Fills p for attempt_dir; returns 0, or -1 with err when too long. */
static int local_paths_init(struct local_paths *p, const char *dir,
			    char *err, size_t errlen)
{
	if (!dir || !*dir) {
		snprintf(err, errlen, "no attempt directory");
		return -1;
	}
	if (snprintf(p->job, sizeof(p->job), "%s/" LOCAL_JOB_FILE, dir) >=
		    (int)sizeof(p->job) ||
	    snprintf(p->exit, sizeof(p->exit), "%s/" LOCAL_EXIT_FILE, dir) >=
		    (int)sizeof(p->exit) ||
	    snprintf(p->lock, sizeof(p->lock), "%s/" LOCAL_LOCK_FILE, dir) >=
		    (int)sizeof(p->lock) ||
	    snprintf(p->cancel, sizeof(p->cancel), "%s/" LOCAL_CANCEL_FILE,
		     dir) >= (int)sizeof(p->cancel) ||
	    snprintf(p->paused, sizeof(p->paused), "%s/" LOCAL_PAUSED_FILE,
		     dir) >= (int)sizeof(p->paused) ||
	    snprintf(p->ctl, sizeof(p->ctl), "%s/" LOCAL_CTL_FILE, dir) >=
		    (int)sizeof(p->ctl) ||
	    snprintf(p->manifest, sizeof(p->manifest),
		     "%s/" LOCAL_MANIFEST_FILE, dir) >=
		    (int)sizeof(p->manifest)) {
		snprintf(err, errlen, "attempt directory '%.200s' too long",
			 dir);
		return -1;
	}
	return 0;
}

/* Makes path absolute against our working directory. Returns 0 or -1. */
static int local_abspath(const char *path, char *out, size_t outlen,
			 char *err, size_t errlen)
{
	char cwd[PATH_MAX];

	if (path[0] == '/') {
		if (snprintf(out, outlen, "%s", path) < (int)outlen)
			return 0;
	} else if (!getcwd(cwd, sizeof(cwd))) {
		snprintf(err, errlen, "cannot resolve '%.200s': %s", path,
			 strerror(errno));
		return -1;
	} else if (snprintf(out, outlen, "%s/%s", cwd, path) < (int)outlen) {
		return 0;
	}
	snprintf(err, errlen, "path '%.200s' too long", path);
	return -1;
}

/*
 * Reads a file the job could have written or replaced: never through a
 * symbolic link, never blocking (a FIFO), only a regular file, at most max
 * bytes, appended to b. Returns TFS_OK, TFS_ENOENT, TFS_EINVAL when it is
 * not a regular file, TFS_EFBIG when larger than max, else TFS_EIO.
 */
static int local_file_read(const char *path, size_t max, struct buf *b)
{
	struct stat st;
	int fd = file_open_regular(path);
	int r;

	if (fd < 0)
		return errno == ENOENT ? TFS_ENOENT :
		       errno == ELOOP || errno == EINVAL ? TFS_EINVAL :
		       TFS_EIO;
	if (fstat(fd, &st) < 0)
		r = TFS_EIO;
	else if ((uint64_t)st.st_size > max)
		r = TFS_EFBIG;
	else
		r = file_read_fd(fd, max, b);
	close(fd);
	return r;
}

/*
 * Returns 1 when someone - the supervisor - holds the lock at path, 0 when
 * nobody does or the file does not exist, -1 with err on another error.
 * Holding the lock for a moment does not disturb the supervisor, which
 * has it already or retries (local_supervise()).
 */
static int local_lock_held(const char *path, char *err, size_t errlen)
{
	int fd = file_open_regular(path);

	if (fd < 0) {
		/* Not the file S locked: it holds no lock anyone can see. */
		if (errno == ENOENT || errno == ELOOP || errno == EINVAL)
			return 0;
		snprintf(err, errlen, "cannot open '%.200s': %s", path,
			 strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_SH | LOCK_NB) < 0) {
		int e = errno;

		if (e == EINTR)
			continue;
		close(fd);
		if (e == EWOULDBLOCK)
			return 1;
		snprintf(err, errlen, "cannot lock '%.200s': %s", path,
			 strerror(e));
		return -1;
	}
	close(fd);
	return 0;
}

/*
 * Loads the JSON object in path, at most LOCAL_FILE_MAX bytes. Returns 1
 * and sets *out (caller frees with cJSON_Delete()), 0 when the file does
 * not exist, -1 with err when it could not be read (maybe for now: EIO,
 * EMFILE), -2 with err when it is not what we wrote (for good: the files
 * are replaced atomically, so never half-written).
 */
static int local_json_load(const char *path, cJSON **out, char *err,
			   size_t errlen)
{
	struct buf b = BUF_INIT(LOCAL_FILE_MAX);
	int r = local_file_read(path, LOCAL_FILE_MAX, &b);

	*out = NULL;
	if (r == TFS_ENOENT) {
		buf_release(&b);
		return 0;
	}
	if (r == TFS_EFBIG || r == TFS_EINVAL) {
		if (r == TFS_EFBIG)
			snprintf(err, errlen, "'%.200s' is over %d bytes", path,
				 LOCAL_FILE_MAX);
		else
			snprintf(err, errlen, "'%.200s' is not a regular file",
				 path);
		buf_release(&b);
		return -2;
	}
	if (r != TFS_OK) {
		snprintf(err, errlen, "cannot read '%.200s': %s", path,
			 tfs_strerror(r));
		buf_release(&b);
		return -1;
	}
	*out = b.p ? cJSON_ParseWithLength(b.p, b.len) : NULL;
	buf_release(&b);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		snprintf(err, errlen, "'%.200s' is not a JSON object", path);
		return -2;
	}
	return 1;
}

/* Returns 0 and sets *v when obj[key] is an integral number, else -1. */
static int local_json_ll(const cJSON *obj, const char *key, long long *v)
{
	/* the integers a double holds exactly */
	return json_int_range(cJSON_GetObjectItemCaseSensitive(obj, key), "",
			      -9007199254740992LL, 9007199254740992LL, v,
			      NULL, 0) ? -1 : 0;
}

/*
 * Whether path can be a job's cgroup as S names it: an absolute path
 * ending in LOCAL_CGROUP_DIR "/<pid>", with no "." or ".." component.
 * job.json lives where the job can write, and the daemon kills what is in
 * this cgroup: it must never name the daemon's own.
 */
static int local_cgroup_name_ok(const char *path)
{
	const char *last = strrchr(path, '/'), *p;
	size_t n = strlen(path), dl = strlen(LOCAL_CGROUP_DIR);

	if (path[0] != '/' || n >= PATH_MAX || strstr(path, "/./") ||
	    strstr(path, "/../") || !last || !last[1])
		return 0;
	for (p = last + 1; *p; p++)
		if (*p < '0' || *p > '9')
			return 0;
	return (size_t)(last - path) > dl &&
	       !strncmp(last - dl, LOCAL_CGROUP_DIR, dl) && last[-dl - 1] == '/';
}

/*
 * Reads job.json. Returns 1 (filled), 0 when absent, -1 or -2 with err as
 * local_json_load().
 */
static int local_job_read(const struct local_paths *p, struct local_job *job,
			  char *err, size_t errlen)
{
	const cJSON *cg;
	cJSON *o;
	long long ticks = 0, grace = LOCAL_GRACE_DEFAULT, exec_ms = 0;
	int r = local_json_load(p->job, &o, err, errlen);

	if (r <= 0)
		return r;
	memset(job, 0, sizeof(*job));
	cg = cJSON_GetObjectItemCaseSensitive(o, "cgroup");
	if (local_json_ll(o, "supervisor_pid", &job->spid) < 0 ||
	    local_json_ll(o, "job_pid", &job->jpid) < 0 ||
	    local_json_ll(o, "pgid", &job->pgid) < 0 ||
	    local_json_ll(o, "start_ms", &job->start_ms) < 0 ||
	    job->spid <= 0 || job->jpid <= 0 || job->pgid <= 1 ||
	    job->spid > INT_MAX || job->pgid > INT_MAX) {
		snprintf(err, errlen, "'%.200s' lacks the job's pids", p->job);
		cJSON_Delete(o);
		return -2;
	}
	if (cg && (!cJSON_IsString(cg) ||
		   !local_cgroup_name_ok(cg->valuestring))) {
		snprintf(err, errlen, "'%.200s' names no job cgroup", p->job);
		cJSON_Delete(o);
		return -2;
	}
	if (cg)
		snprintf(job->cgroup, sizeof(job->cgroup), "%s",
			 cg->valuestring);
	local_json_ll(o, "job_start_ticks", &ticks);
	local_json_ll(o, "kill_grace_s", &grace);
	local_json_ll(o, "exec_ms", &exec_ms);
	job->start_ticks = ticks > 0 ? (unsigned long long)ticks : 0;
	job->kill_grace_s = grace < 0 ? 0 :
			    grace > LOCAL_GRACE_MAX ? LOCAL_GRACE_MAX :
						      (int)grace;
	/* Files from before exec was recorded: the job was running. */
	job->legacy = !cJSON_GetObjectItemCaseSensitive(o, "exec_ms");
	job->exec_ms = job->legacy ? job->start_ms : exec_ms;
	cJSON_Delete(o);
	return 1;
}

/*
 * Reads exit.json. Returns 1 (filled), 0 when absent, -1 or -2 with err as
 * local_json_load().
 */
static int local_exit_read(const struct local_paths *p, struct local_exit *ex,
			   char *err, size_t errlen)
{
	const cJSON *it;
	cJSON *o;
	long long v;
	int r = local_json_load(p->exit, &o, err, errlen);

	if (r <= 0)
		return r;
	memset(ex, 0, sizeof(*ex));
	it = cJSON_GetObjectItemCaseSensitive(o, "exit_code");
	if (local_json_ll(o, "exit_code", &v) == 0) {
		ex->has_code = 1;
		ex->code = (int)v;
	} else if (!cJSON_IsNull(it)) {
		snprintf(err, errlen, "'%.200s' lacks the exit code", p->exit);
		cJSON_Delete(o);
		return -2;
	}
	if (local_json_ll(o, "signal", &v) == 0)
		ex->sig = (int)v;
	ex->cancelled = cJSON_IsTrue(
		cJSON_GetObjectItemCaseSensitive(o, "cancelled"));
	if (local_json_ll(o, "start_ms", &v) == 0)
		ex->start_ms = v;
	if (local_json_ll(o, "end_ms", &v) == 0)
		ex->end_ms = v;
	it = cJSON_GetObjectItemCaseSensitive(o, "reason");
	if (cJSON_IsString(it))
		snprintf(ex->reason, sizeof(ex->reason), "%s",
			 it->valuestring);
	cJSON_Delete(o);
	return 1;
}

/*
 * Returns 1 when the job's group leader is still the process job.json
 * describes (same pid, group and start time, not a zombie), so signalling
 * -pgid cannot hit a stranger that reused the number. Fills ps when
 * non-NULL.
 */
static int local_job_alive(const struct local_job *job,
			   struct local_pstat *ps)
{
	struct local_pstat tmp;

	if (!ps)
		ps = &tmp;
	if (local_pstat_read(job->pgid, ps) < 0)
		return 0;
	return ps->pgrp == job->pgid && job->start_ticks &&
	       ps->starttime == job->start_ticks && ps->state != 'Z';
}

/*
 * Returns 1 when a process of the job's group other than a zombie lives:
 * the leader job.json describes, or once it is gone, a process in the
 * group started no earlier than the job (the group's id cannot go to a
 * stranger while one of ours is in it).
 */
static int local_group_alive(const struct local_job *job)
{
	struct dirent *de;
	DIR *d;
	int found = 0;

	if (local_job_alive(job, NULL))
		return 1;
	d = opendir("/proc");
	if (!d)
		return 0;
	while (!found && (de = readdir(d))) {
		struct local_pstat ps;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (local_pstat_read(local_num(de->d_name), &ps) < 0)
			continue;
		found = ps.pgrp == job->pgid && ps.state != 'Z' &&
			job->start_ticks && ps.starttime >= job->start_ticks;
	}
	closedir(d);
	return found;
}

/*
 * The job of a supervisor that died: kills what is left of it, its cgroup
 * and its process group. Returns 1 while something of it may still live
 * (the kill takes a moment; ask again), 0 once nothing does, and then its
 * cgroup is removed.
 */
static int local_job_end_orphan(const struct local_job *job)
{
	int left = 0;

	if (job->cgroup[0] && local_cg_populated(job->cgroup)) {
		local_cg_kill(job->cgroup);
		left = 1;
	}
	if (local_group_alive(job)) {
		kill(-(pid_t)job->pgid, SIGKILL);
		left = 1;
	}
	if (!left && job->cgroup[0] && rmdir(job->cgroup) < 0 &&
	    errno != ENOENT)
		left = local_cg_populated(job->cgroup);
	return left;
}

/* job ids are the supervisor's pid (see local_find_dir()). */
static int local_job_id(const struct local_job *job, char *job_id,
			size_t idlen, char *err, size_t errlen)
{
	if (!job_id || snprintf(job_id, idlen, "%lld", job->spid) >=
				       (int)idlen) {
		snprintf(err, errlen, "no room for the job id");
		return TFS_EINVAL;
	}
	return TFS_OK;
}

/*
 * find() for one attempt directory. A held lock without job.json is a
 * supervisor between its start and its first write (a daemon that died
 * inside submit(), or one that is slow to start): TFS_EINPROGRESS, so
 * that core/ asks again rather than starting a second job. Returns as
 * find().
 */
static int local_find_dir(const char *dir, char *job_id, size_t idlen,
			  char *err, size_t errlen)
{
	struct local_paths p;
	struct local_job job;
	int r;

	if (local_paths_init(&p, dir, err, errlen) < 0)
		return TFS_EINVAL;
	r = local_job_read(&p, &job, err, errlen);
	if (r > 0)
		return local_job_id(&job, job_id, idlen, err, errlen);
	if (r < 0)
		return TFS_EIO;
	r = local_lock_held(p.lock, err, errlen);
	if (r < 0)
		return TFS_EIO;
	if (r == 0) {
		snprintf(err, errlen, "no job in '%.200s'", dir);
		return TFS_ENOENT;
	}
	snprintf(err, errlen, "the supervisor for '%.200s' is starting", dir);
	return TFS_EINPROGRESS;
}

static int local_find(struct connector *c, const struct job_spec *spec,
		      char *job_id, size_t idlen, char *err, size_t errlen)
{
	(void)c;
	return local_find_dir(spec->attempt_dir, job_id, idlen, err, errlen);
}

/*
 * The part of the daemon's environment every job gets; everything else in
 * it (API keys, tokens) stays with the daemon unless the provider's
 * config names it in "pass_env".
 */
static const char *const local_env_base[] = {
	"PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR",
	NULL
};

/* Whether environment entry e ("K=V") is for one of the names in v. */
static int local_env_named(const char *e, size_t klen,
			   const char *const *v)
{
	for (; v && *v; v++)
		if (strlen(*v) == klen && !strncmp(*v, e, klen))
			return 1;
	return 0;
}

/*
 * Builds the job's environment, in this order, a later entry winning over
 * an earlier one of the same key: the base variables of ours
 * (local_env_base, PATH with a default), our TRAINFS_* ones, the ones the
 * provider config passes ("pass_env") and sets ("env"), spec->env (the
 * run's env and its TRAINFS_* variables) and CUDA_VISIBLE_DEVICES.
 * Returns a NULL-terminated array the caller frees (not its strings, which
 * are borrowed, except *cuda, which the caller also frees), or NULL with
 * err for an entry that is not KEY=VALUE.
 */
static char **local_env_build(const struct local *lc,
			      const struct job_spec *spec, char **cuda,
			      char *err, size_t errlen)
{
	static const char *const path_default =
		"PATH=/usr/local/bin:/usr/bin:/bin";
	size_t nall = 0, cap = 8, n = 0, i, j;
	const char **all;
	char **envp;

	*cuda = NULL;
	for (i = 0; environ && environ[i]; i++)
		cap++;
	for (i = 0; spec->env && spec->env[i]; i++)
		cap++;
	for (i = 0; lc->env_set && lc->env_set[i]; i++)
		cap++;
	all = xcalloc(cap, sizeof(*all));
	all[nall++] = path_default;
	for (i = 0; environ && environ[i]; i++) {
		const char *e = environ[i], *eq = strchr(e, '=');
		size_t klen = eq ? (size_t)(eq - e) : 0;

		if (klen && (local_env_named(e, klen, local_env_base) ||
			     !strncmp(e, "TRAINFS_", 8) ||
			     local_env_named(e, klen,
					     (const char *const *)lc->env_pass)))
			all[nall++] = e;
	}
	for (i = 0; lc->env_set && lc->env_set[i]; i++)
		all[nall++] = lc->env_set[i];
	for (i = 0; spec->env && spec->env[i]; i++) {
		const char *eq = strchr(spec->env[i], '=');

		if (!eq || eq == spec->env[i]) {
			snprintf(err, errlen,
				 "bad environment entry '%.100s'",
				 spec->env[i]);
			free(all);
			return NULL;
		}
		all[nall++] = spec->env[i];
	}
	if (spec->gpu_list) {
		size_t len = sizeof("CUDA_VISIBLE_DEVICES=") +
			     strlen(spec->gpu_list);

		*cuda = xmalloc(len);
		snprintf(*cuda, len, "CUDA_VISIBLE_DEVICES=%s", spec->gpu_list);
		all[nall++] = *cuda;
	}
	envp = xcalloc(nall + 1, sizeof(*envp));
	for (i = 0; i < nall; i++) {
		size_t klen = (size_t)(strchr(all[i], '=') - all[i]) + 1;
		int shadowed = 0;

		/* Kept only if nothing after it sets the same key. */
		for (j = i + 1; j < nall && !shadowed; j++)
			shadowed = !strncmp(all[j], all[i], klen);
		if (!shadowed)
			envp[n++] = (char *)all[i];
	}
	envp[n] = NULL;
	free(all);
	return envp;
}

/* Formats a supervisor's report of failure into err. */
static void local_report_error(const struct local_report *r,
			       const struct local_launch *l, char *err,
			       size_t errlen)
{
	const char *e = strerror(r->err);

	switch (r->stage) {
	case LOCAL_STAGE_DEVNULL:
		snprintf(err, errlen, "cannot open '/dev/null': %s", e);
		break;
	case LOCAL_STAGE_FORK_SUPERVISOR:
		snprintf(err, errlen, "cannot start the supervisor: %s", e);
		break;
	case LOCAL_STAGE_LOCK:
		snprintf(err, errlen, "cannot lock '%.200s': %s",
			 l->paths.lock, e);
		break;
	case LOCAL_STAGE_FORK_JOB:
		snprintf(err, errlen, "cannot start the job: %s", e);
		break;
	case LOCAL_STAGE_JOB_FILE:
		snprintf(err, errlen, "cannot write '%.200s': %s",
			 l->paths.job, e);
		break;
	case LOCAL_STAGE_CTL:
		snprintf(err, errlen, "cannot make the cancel channel "
			 "'%.200s': %s", l->paths.ctl, e);
		break;
	default:
		snprintf(err, errlen, "supervisor failed: %s", e);
		break;
	}
}

/*
 * Reads S's report from fd, waiting at most LOCAL_REPORT_TIMEOUT_MS.
 * Returns the bytes read (sizeof(*r) when complete).
 */
static size_t local_report_read(int fd, struct local_report *r)
{
	int64_t deadline = mono_ms() + LOCAL_REPORT_TIMEOUT_MS;
	size_t got = 0;

	while (got < sizeof(*r)) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int64_t left = deadline - mono_ms();
		ssize_t n;

		if (left <= 0)
			break;
		n = poll(&pfd, 1, (int)left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		n = read(fd, (char *)r + got, sizeof(*r) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	return got;
}

static int local_submit(struct connector *c, const struct job_spec *spec,
			char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct local *lc = c->priv;
	struct local_launch *l = NULL;
	struct local_report rep;
	char *cuda = NULL;
	int fds[2] = { -1, -1 };
	int r, ret = TFS_EIO, status;
	size_t got;
	pid_t a;

	r = local_find_dir(spec->attempt_dir, job_id, idlen, err, errlen);
	if (r != TFS_ENOENT)
		return r;
	if (!spec->argv || !spec->argv[0] || !spec->argv[0][0]) {
		snprintf(err, errlen, "empty command");
		return TFS_EINVAL;
	}
	if (!spec->log_path || !*spec->log_path) {
		snprintf(err, errlen, "no log path");
		return TFS_EINVAL;
	}
	if (mkdir_p(spec->attempt_dir, 0700) < 0) {
		snprintf(err, errlen, "cannot create '%.200s': %s",
			 spec->attempt_dir, strerror(errno));
		return TFS_EIO;
	}

	l = xcalloc(1, sizeof(*l));
	l->argv = spec->argv;
	if (lc->wake_path)
		snprintf(l->wake_path, sizeof(l->wake_path), "%s", lc->wake_path);
	l->kill_grace_s = spec->kill_grace_s > 0 ? spec->kill_grace_s :
						   lc->kill_grace_s;
	if (l->kill_grace_s > LOCAL_GRACE_MAX)
		l->kill_grace_s = LOCAL_GRACE_MAX;
	{
		char dir[PATH_MAX];

		if (lc->cgroup_parent)
			snprintf(l->cgroup_parent, sizeof(l->cgroup_parent),
				 "%s", lc->cgroup_parent);
		if (local_abspath(spec->attempt_dir, dir, sizeof(dir), err,
				  errlen) < 0 ||
		    local_paths_init(&l->paths, dir, err, errlen) < 0 ||
		    local_abspath(spec->workdir ? spec->workdir : dir,
				  l->workdir, sizeof(l->workdir), err,
				  errlen) < 0 ||
		    local_abspath(spec->log_path, l->log_path,
				  sizeof(l->log_path), err, errlen) < 0)
			goto out;
	}
	l->envp = local_env_build(lc, spec, &cuda, err, errlen);
	if (!l->envp)
		goto out;

	/* Close-on-exec: a job another thread starts now must not keep it. */
	if (pipe2(fds, O_CLOEXEC) < 0) {
		snprintf(err, errlen, "pipe: %s", strerror(errno));
		goto out;
	}
	a = fork();
	if (a < 0) {
		snprintf(err, errlen, "cannot start the supervisor: %s",
			 strerror(errno));
		goto out;
	}
	if (a == 0)
		local_child_a(l, fds[1]);
	close(fds[1]);
	fds[1] = -1;
	/* ECHILD: the daemon set SIGCHLD to SIG_IGN, and A reaped itself. */
	while (waitpid(a, &status, 0) < 0 && errno == EINTR)
		;

	memset(&rep, 0, sizeof(rep));
	got = local_report_read(fds[0], &rep);
	if (got != sizeof(rep)) {
		/*
		 * S may still be starting: not a failure, which would start
		 * the next attempt beside it. find() tells on a later pass.
		 */
		snprintf(err, errlen, "the supervisor for '%.200s' has not "
			 "reported yet", spec->attempt_dir);
		ret = TFS_EINPROGRESS;
		goto out;
	}
	switch (rep.status) {
	case LOCAL_REP_OK:
		if ((size_t)snprintf(job_id, idlen, "%d", rep.spid) >= idlen) {
			snprintf(err, errlen, "no room for the job id");
			ret = TFS_EINVAL;
			break;
		}
		log_msg(LOG_DEBUG, "local: started '%s' as job %d, "
			"supervisor %d", spec->argv[0], rep.jpid, rep.spid);
		ret = TFS_OK;
		break;
	case LOCAL_REP_BUSY:
		/* Another submit of this attempt won the lock first. */
		r = local_find_dir(spec->attempt_dir, job_id, idlen, err,
				   errlen);
		if (r == TFS_OK || r == TFS_EINPROGRESS)
			ret = r;
		else if (r == TFS_ENOENT)
			snprintf(err, errlen, "another supervisor holds "
				 "'%.200s'", l->paths.lock);
		break;
	default:
		local_report_error(&rep, l, err, errlen);
		break;
	}
out:
	if (fds[0] >= 0)
		close(fds[0]);
	if (fds[1] >= 0)
		close(fds[1]);
	if (l)
		free(l->envp);
	free(l);
	free(cuda);
	return ret;
}

/* ---- poll --------------------------------------------------------------- */

static void local_query_reset(struct job_query *q)
{
	q->state = JOB_UNKNOWN;
	q->exit_code = -1;
	q->term_signal = 0;
	q->start_ms = 0;
	q->end_ms = 0;
	q->cpu_percent = -1;
	q->rss_kb = -1;
	q->reason[0] = '\0';
}

/* Fills out with the pause marker's path; returns out. */
static const char *local_paused_path(const char *dir, char *out,
				     size_t outlen)
{
	snprintf(out, outlen, "%s/" LOCAL_PAUSED_FILE, dir);
	return out;
}

/* Maps a recorded end onto a state and the reason the user sees. */
static void local_query_ended(struct job_query *q, const struct local_exit *ex)
{
	q->exit_code = ex->has_code ? ex->code : -1;
	q->term_signal = ex->sig;
	if (ex->start_ms)
		q->start_ms = ex->start_ms;
	q->end_ms = ex->end_ms;
	if (ex->cancelled) {
		q->state = JOB_STOPPED;
		snprintf(q->reason, sizeof(q->reason), "cancelled");
	} else if (ex->reason[0]) {
		q->state = JOB_FAILED;
		snprintf(q->reason, sizeof(q->reason), "%s", ex->reason);
	} else if (ex->sig) {
		const char *d = sigdescr_np(ex->sig);

		q->state = JOB_FAILED;
		snprintf(q->reason, sizeof(q->reason),
			 "killed by signal %d (%s)", ex->sig,
			 d ? d : "unknown signal");
	} else if (!ex->has_code) {
		q->state = JOB_FAILED;
		snprintf(q->reason, sizeof(q->reason), "exit status lost");
	} else if (ex->code == 0) {
		q->state = JOB_COMPLETED;
	} else {
		q->state = JOB_FAILED;
		snprintf(q->reason, sizeof(q->reason), "exit code %d",
			 ex->code);
	}
}

/*
 * Fills q's state from the attempt's files. Returns 1 and fills job when
 * the job is live (running or paused; local_poll() may still turn running
 * into paused), 0 when q is filled otherwise, -1 with the cause in
 * q->reason when a file could not be read right now: a state would be a
 * guess, and core/ takes UNKNOWN for a lost job. Files that are not what
 * S writes make the job UNKNOWN, with the cause in reason: nobody can
 * follow it any more.
 */
static int local_query_one(struct job_query *q, struct local_job *job)
{
	struct local_paths p;
	struct local_exit ex;
	struct local_pstat ps;
	int r, held;

	local_query_reset(q);
	if (local_paths_init(&p, q->attempt_dir, q->reason,
			     sizeof(q->reason)) < 0)
		return 0;
	r = local_job_read(&p, job, q->reason, sizeof(q->reason));
	if (r == -1)
		return -1;
	if (r == -2) {
		/*
		 * Not what S wrote. While S holds its lock it still runs the
		 * job and will record its end: running, not lost (a lost job
		 * is retried, and the retry would run beside it).
		 */
		memset(job, 0, sizeof(*job));
		if (local_exit_read(&p, &ex, q->reason, sizeof(q->reason)) > 0)
			local_query_ended(q, &ex);
		else if (local_lock_held(p.lock, q->reason,
					 sizeof(q->reason)) > 0)
			q->state = JOB_RUNNING;
		return 0;
	}
	if (r == 0) {
		held = local_lock_held(p.lock, q->reason, sizeof(q->reason));
		if (held < 0)
			return -1;
		if (held) {
			q->state = JOB_PENDING;
			snprintf(q->reason, sizeof(q->reason),
				 "the supervisor is starting");
		}
		return 0;
	}
	q->start_ms = job->start_ms;
	/*
	 * The lock before exit.json: S writes exit.json and only then lets
	 * the lock go, so a free lock followed by no exit.json is a lost
	 * supervisor, never one that finished between our two looks.
	 */
	held = local_lock_held(p.lock, q->reason, sizeof(q->reason));
	r = local_exit_read(&p, &ex, q->reason, sizeof(q->reason));
	if (r > 0) {
		q->reason[0] = '\0';
		local_query_ended(q, &ex);
		return 0;
	}
	/*
	 * Not what S writes: the job's own (S renames its file over it), so
	 * the end is still to come, or nobody can record it.
	 */
	if (r == -2)
		r = 0;
	if (r < 0 || held < 0)
		return -1;
	if (!held) {
		/*
		 * Nobody will record this job's end. Until nothing of it is
		 * left it still runs: a retry now would run beside it.
		 */
		if (local_job_end_orphan(job)) {
			q->state = JOB_RUNNING;
			snprintf(q->reason, sizeof(q->reason), "supervisor "
				 "lost: ending what is left of the job");
			return 0;
		}
		q->state = JOB_FAILED;
		snprintf(q->reason, sizeof(q->reason),
			 "supervisor lost: no exit status recorded");
		return 0;
	}
	if (!job->exec_ms) {
		q->state = JOB_PENDING;
		snprintf(q->reason, sizeof(q->reason), "the job is starting");
		return 0;
	}
	q->state = JOB_RUNNING;
	if (local_job_alive(job, &ps) && (ps.state == 'T' || ps.state == 't'))
		q->state = JOB_PAUSED;
	return 1;
}

/*
 * Sums utime+stime and rss over every process of each live group, in one
 * pass over /proc for the whole batch. Processes come and go meanwhile;
 * one that vanishes is skipped.
 */
static void local_scan_proc(struct local_live *lv, size_t n)
{
	struct dirent *de;
	DIR *d = opendir("/proc");

	if (!d)
		return;
	while ((de = readdir(d))) {
		struct local_pstat ps;
		size_t i;

		if (de->d_name[0] < '1' || de->d_name[0] > '9')
			continue;
		if (local_pstat_read(local_num(de->d_name), &ps) < 0)
			continue;
		for (i = 0; i < n; i++) {
			if (lv[i].pgid != ps.pgrp)
				continue;
			lv[i].ticks += ps.utime + ps.stime;
			lv[i].rss_pages += ps.rss;
			lv[i].stopped += ps.state == 'T' || ps.state == 't';
			break;
		}
	}
	closedir(d);
}

#define LOCAL_CPU_WINDOW_MS 1000

/* The sample slot of job spid, or NULL. */
static struct local_sample *local_sample_find(struct local *lc, long long spid)
{
	size_t i;

	for (i = 0; i < LOCAL_SAMPLES_MAX; i++)
		if (lc->samples[i].used && lc->samples[i].spid == spid)
			return &lc->samples[i];
	return NULL;
}

/*
 * Records lv's cpu time and returns the cpu percent since the previous
 * sample of the same job, or -1 on the first. The table is bounded: when
 * full, the least recently polled job loses its sample.
 */
static double local_sample_cpu(struct local *lc, const struct local_live *lv)
{
	struct local_sample *s = local_sample_find(lc, lv->spid);
	int64_t now = mono_ms();
	long hz = sysconf(_SC_CLK_TCK);
	double cpu = -1;
	size_t i;

	if (s && s->start_ticks == lv->start_ticks && hz > 0) {
		unsigned long long dt = lv->ticks > s->ticks ?
						lv->ticks - s->ticks : 0;
		long ncpu = sysconf(_SC_NPROCESSORS_ONLN);

		/*
		 * Clock ticks are 10 ms: over a short interval one tick more
		 * or less is a large error, so average over a second at least
		 * and keep the older sample until then.
		 */
		if (now - s->at_ms < LOCAL_CPU_WINDOW_MS)
			return -1;
		cpu = 100.0 * ((double)dt / (double)hz) /
		      ((double)(now - s->at_ms) / 1000.0);
		if (ncpu > 0 && cpu > 100.0 * (double)ncpu)
			cpu = 100.0 * (double)ncpu;
	}
	if (!s) {
		s = &lc->samples[0];
		for (i = 0; i < LOCAL_SAMPLES_MAX; i++) {
			if (!lc->samples[i].used) {
				s = &lc->samples[i];
				break;
			}
			if (lc->samples[i].stamp < s->stamp)
				s = &lc->samples[i];
		}
	}
	s->used = 1;
	s->spid = lv->spid;
	s->start_ticks = lv->start_ticks;
	s->ticks = lv->ticks;
	s->at_ms = now;
	s->stamp = ++lc->clock;
	return cpu;
}

/*
 * Works on a copy of the queries, so that a file that cannot be read now
 * leaves all of them as they were, as the contract asks of a failed poll.
 */
static int local_poll(struct connector *c, struct job_query *q, size_t n,
		      char *err, size_t errlen)
{
	struct local *lc = c->priv;
	struct local_live *lv;
	struct job_query *tq;
	char path[PATH_MAX];
	long page_kb = sysconf(_SC_PAGESIZE) / 1024;
	size_t i, nl = 0;
	int r;

	if (!n)
		return TFS_OK;
	lv = xcalloc(n, sizeof(*lv));
	tq = xmalloc(n * sizeof(*tq));
	memcpy(tq, q, n * sizeof(*tq));
	for (i = 0; i < n; i++) {
		struct local_job job;

		memset(&job, 0, sizeof(job));
		r = local_query_one(&tq[i], &job);
		if (r < 0) {
			snprintf(err, errlen, "%s", tq[i].reason);
			free(tq);
			free(lv);
			return TFS_EIO;
		}
		if (r > 0) {
			lv[nl].q = &tq[i];
			lv[nl].spid = job.spid;
			lv[nl].pgid = job.pgid;
			lv[nl].start_ticks = job.start_ticks;
			lv[nl].paused_asked = access(local_paused_path(
						tq[i].attempt_dir, path,
						sizeof(path)), F_OK) == 0;
			lv[nl].frozen = lv[nl].paused_asked && job.cgroup[0] &&
					local_cg_frozen(job.cgroup);
			nl++;
		} else if (job.spid) {
			struct local_sample *s = local_sample_find(lc,
								   job.spid);

			if (s && job_state_terminal(tq[i].state))
				s->used = 0;
		}
	}
	if (nl)
		local_scan_proc(lv, nl);
	for (i = 0; i < nl; i++) {
		/*
		 * A stopped leader is paused; so is a group we stopped in
		 * which the leader could not stop: dash vfork()s, and a vfork
		 * parent waits in the kernel (state D) for a child that the
		 * same SIGSTOP stopped before its exec.
		 */
		if (lv[i].paused_asked && (lv[i].stopped || lv[i].frozen))
			lv[i].q->state = JOB_PAUSED;
		lv[i].q->rss_kb = lv[i].rss_pages * (page_kb > 0 ? page_kb : 4);
		lv[i].q->cpu_percent = local_sample_cpu(lc, &lv[i]);
	}
	memcpy(q, tq, n * sizeof(*q));
	free(tq);
	free(lv);
	return TFS_OK;
}

/* ---- cancel and signal -------------------------------------------------- */

/*
 * Pokes S through its cancel channel. Returns 1 when the byte went in (or
 * the FIFO is full, which says as much), 0 when nobody listens there (S
 * has not opened it yet, or is gone), -1 with err.
 */
static int local_ctl_poke(const struct local_paths *p, char *err,
			  size_t errlen)
{
	struct stat st;
	ssize_t n;
	int fd = open(p->ctl, O_WRONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		if (errno == ENXIO || errno == ENOENT || errno == ELOOP)
			return 0;
		snprintf(err, errlen, "cannot open '%.200s': %s", p->ctl,
			 strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISFIFO(st.st_mode)) {
		close(fd);
		return 0;
	}
	do
		n = write(fd, "c", 1);
	while (n < 0 && errno == EINTR);
	close(fd);
	return n == 1 || (n < 0 && errno == EAGAIN) ? 1 : 0;
}

/*
 * Cancel: the grace goes in the cancel file, then a byte down S's cancel
 * channel tells S to read it. A supervisor still starting reads the file
 * before it lets its job run. kill_grace_s <= 0 means the grace given at
 * submit. Returns 0 when asked or when there is nothing left to end.
 */
static int local_cancel(struct connector *c, const struct job_query *q,
			int kill_grace_s, char *err, size_t errlen)
{
	struct local_paths p;
	struct local_job job;
	struct local_exit ex;
	char text[LOCAL_CANCEL_MAX];
	int r, has_job, len;

	(void)c;
	if (local_paths_init(&p, q->attempt_dir, err, errlen) < 0)
		return TFS_EINVAL;
	has_job = local_job_read(&p, &job, err, errlen);
	if (has_job == -1)
		return TFS_EIO;
	/* Not what S wrote (-2): the channel needs no pids, so go on. */
	if (has_job <= 0) {
		has_job = 0;
		r = local_lock_held(p.lock, err, errlen);
		if (r <= 0)         /* 0: never started, nothing to end */
			return r < 0 ? TFS_EIO : TFS_OK;
	} else {
		r = local_exit_read(&p, &ex, err, errlen);
		if (r == 1 || r == -1)     /* -2: the job's, not S's */
			return r > 0 ? TFS_OK : TFS_EIO;
		if (kill_grace_s <= 0)
			kill_grace_s = job.kill_grace_s;
	}
	if (kill_grace_s > LOCAL_GRACE_MAX)
		kill_grace_s = LOCAL_GRACE_MAX;
	/* Not a number: S takes the grace it was given at submit. */
	len = kill_grace_s >= 0 && has_job ?
	      snprintf(text, sizeof(text), "%d\n", kill_grace_s) :
	      snprintf(text, sizeof(text), "default\n");
	if (file_write_atomic(p.cancel, text, (size_t)len, 0) != TFS_OK) {
		snprintf(err, errlen, "cannot write '%.200s': %s", p.cancel,
			 strerror(errno));
		return TFS_EIO;
	}
	r = local_ctl_poke(&p, err, errlen);
	if (r != 0)
		return r > 0 ? TFS_OK : TFS_EIO;

	/* Nobody listens: S is starting, or gone, or of an older trainfs. */
	r = local_lock_held(p.lock, err, errlen);
	if (r > 0 && has_job && job.legacy &&
	    kill((pid_t)job.spid, SIGTERM) < 0 && errno != ESRCH) {
		snprintf(err, errlen, "cannot signal supervisor %lld: %s",
			 job.spid, strerror(errno));
		return TFS_EIO;
	}
	if (r != 0 || !has_job)
		return r < 0 ? TFS_EIO : TFS_OK;
	if (local_exit_read(&p, &ex, err, errlen) > 0)
		return TFS_OK;
	/*
	 * S died without recording an end (SIGKILL, OOM killer): nobody will
	 * TERM and wait, so what is left of the job is killed at once; poll()
	 * reports it ended only when nothing is left.
	 */
	local_job_end_orphan(&job);
	log_msg(LOG_WARNING, "local: supervisor of '%s' lost, killed its job",
		q->attempt_dir);
	return TFS_OK;
}

/*
 * Pause and resume stop or continue the job's whole process group, which
 * S is not in, and freeze or thaw its cgroup where it has one. Only while S holds its lock and exit.json is absent: J is
 * then S's unreaped child, so its pid - the group's id - is still ours.
 */
static int local_signal(struct connector *c, const struct job_query *q,
			enum job_signal sig, char *err, size_t errlen)
{
	struct local_paths p;
	struct local_job job;
	struct local_exit ex;
	int r;

	(void)c;
	if (local_paths_init(&p, q->attempt_dir, err, errlen) < 0)
		return TFS_EINVAL;
	r = local_job_read(&p, &job, err, errlen);
	if (r < 0)
		return TFS_EIO;
	if (r == 0) {
		snprintf(err, errlen, "no job in '%.200s'", q->attempt_dir);
		return TFS_EIO;
	}
	r = local_lock_held(p.lock, err, errlen);
	if (r < 0)
		return TFS_EIO;
	if (!r || local_exit_read(&p, &ex, err, errlen) == 1 ||
	    !local_job_alive(&job, NULL)) {
		snprintf(err, errlen, "job %lld is not running", job.spid);
		return TFS_EIO;
	}
	/* The marker first: a poll between the two sees a stopped group. */
	if (sig == JOB_SIG_PAUSE &&
	    file_write_atomic(p.paused, "paused\n", 7, 0) != TFS_OK) {
		snprintf(err, errlen, "cannot write '%.200s': %s", p.paused,
			 strerror(errno));
		return TFS_EIO;
	}
	if (sig == JOB_SIG_RESUME) {
		unlink(p.paused);
		/* thawed before CONT, so the group's CONT is not held back */
		if (job.cgroup[0] && local_cg_write(job.cgroup, "cgroup.freeze",
						    "0\n") < 0 && errno != ENOENT)
			log_msg(LOG_WARNING, "local: cannot thaw '%s': %s",
				job.cgroup, strerror(errno));
	}
	if (kill(-(pid_t)job.pgid, sig == JOB_SIG_PAUSE ? SIGSTOP : SIGCONT) <
	    0) {
		snprintf(err, errlen, "cannot signal process group %lld: %s",
			 job.pgid, strerror(errno));
		return TFS_EIO;
	}
	/*
	 * The cgroup also holds what left the job's group (setsid): frozen
	 * with it, so that nothing of a paused job runs on.
	 */
	if (sig == JOB_SIG_PAUSE && job.cgroup[0] &&
	    local_cg_write(job.cgroup, "cgroup.freeze", "1\n") < 0 &&
	    errno != ENOENT)
		log_msg(LOG_WARNING, "local: cannot freeze '%s': %s",
			job.cgroup, strerror(errno));
	return TFS_OK;
}

/* ---- init --------------------------------------------------------------- */

/* Number of /dev/nvidiaN devices: one per NVIDIA GPU. */
static int local_count_gpus(void)
{
	struct dirent *de;
	DIR *d = opendir("/dev");
	int n = 0;

	if (!d)
		return 0;
	while ((de = readdir(d))) {
		const char *s = de->d_name;

		if (strncmp(s, "nvidia", 6) || !s[6])
			continue;
		for (s += 6; *s >= '0' && *s <= '9'; s++)
			;
		if (!*s)
			n++;
	}
	closedir(d);
	return n;
}

/*
 * Where job cgroups go: LOCAL_CGROUP_DIR in the daemon's own cgroup of the
 * cgroup v2 hierarchy that /proc/self/mountinfo shows, made if need be.
 * Returns the directory (caller frees), or NULL when there is none we may
 * write to: jobs then have only their process group.
 */
static char *local_cgroup_find(void)
{
	struct buf mi = BUF_INIT(1 << 20), cg = BUF_INIT(1 << 16);
	char mnt[PATH_MAX] = "", root[PATH_MAX] = "", dir[PATH_MAX];
	char *line, *save = NULL, *own = NULL, *out = NULL, *nl;
	size_t rootlen;

	if (file_read_all("/proc/self/mountinfo", 1 << 20, &mi) != TFS_OK ||
	    file_read_all("/proc/self/cgroup", 1 << 16, &cg) != TFS_OK ||
	    !mi.p || !cg.p)
		goto out;
	for (line = strtok_r(mi.p, "\n", &save); line && !mnt[0];
	     line = strtok_r(NULL, "\n", &save)) {
		const char *sep = strstr(line, " - ");

		/* Paths with escaped blanks (\040) are passed over. */
		if (sep && !strncmp(sep, " - cgroup2 ", 11) &&
		    sscanf(line, "%*s %*s %*s %4095s %4095s", root, mnt) != 2)
			mnt[0] = '\0';
	}
	for (line = cg.p; line && *line; line = nl ? nl + 1 : NULL) {
		nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		if (!strncmp(line, "0::/", 4)) {
			own = line + 3;
			break;
		}
	}
	if (!mnt[0] || !own || strchr(mnt, '\\'))
		goto out;
	/* A mount of a subtree holds the cgroups below its root only. */
	rootlen = strcmp(root, "/") ? strlen(root) : 0;
	if (rootlen && (strncmp(own, root, rootlen) ||
			(own[rootlen] && own[rootlen] != '/')))
		goto out;
	own += rootlen;
	if (snprintf(dir, sizeof(dir), "%s%s/" LOCAL_CGROUP_DIR,
		     strcmp(mnt, "/") ? mnt : "", strcmp(own, "/") ? own : "") >=
	    (int)sizeof(dir) - 32)
		goto out;
	if (mkdir(dir, 0755) < 0 && errno != EEXIST) {
		log_msg(LOG_INFO, "local: no cgroup for jobs: cannot create "
			"'%s': %s", dir, strerror(errno));
		goto out;
	}
	{
		char procs[PATH_MAX + 16];

		snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);
		if (access(procs, W_OK) < 0) {
			log_msg(LOG_INFO, "local: no cgroup for jobs: '%s' is "
				"not writable", procs);
			goto out;
		}
	}
	out = xstrdup(dir);
out:
	buf_release(&mi);
	buf_release(&cg);
	return out;
}

/* Whether name can be an environment variable's: [A-Za-z_][A-Za-z0-9_]*. */
static int local_env_name_ok(const char *name)
{
	const char *p = name;

	if (!*p || (*p >= '0' && *p <= '9') || strlen(name) > 128)
		return 0;
	for (; *p; p++)
		if (!((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		      (*p >= '0' && *p <= '9') || *p == '_'))
			return 0;
	return 1;
}

/*
 * Reads the config's "env" (an object of strings: set in every job) or
 * "pass_env" (an array of names: passed from the daemon's environment)
 * into a NULL-terminated array at *out (freed with the connector).
 * Returns 0, or -1 with err.
 */
static int local_conf_env(const cJSON *it, char ***out, char *err,
			  size_t errlen)
{
	int pass = !strcmp(it->string, "pass_env"), n = 0;
	const cJSON *e;
	char **v;

	if (pass ? !cJSON_IsArray(it) : !cJSON_IsObject(it)) {
		snprintf(err, errlen, pass ? "'pass_env' must be an array of "
			 "variable names" : "'env' must be an object of "
			 "strings");
		return -1;
	}
	if (cJSON_GetArraySize(it) > LOCAL_ENV_MAX) {
		snprintf(err, errlen, "'%s' has more than %d entries",
			 it->string, LOCAL_ENV_MAX);
		return -1;
	}
	v = xcalloc((size_t)cJSON_GetArraySize(it) + 1, sizeof(*v));
	cJSON_ArrayForEach(e, it) {
		const char *name = pass ? e->valuestring : e->string;

		if ((pass && !cJSON_IsString(e)) || !name ||
		    !local_env_name_ok(name) ||
		    (!pass && (!cJSON_IsString(e) ||
			       strlen(e->valuestring) > 4096))) {
			snprintf(err, errlen, "'%s' entry '%.100s' is not %s",
				 it->string, name ? name : "?",
				 pass ? "a variable name" :
				 "a variable name with a string of at most "
				 "4096 bytes");
			for (n--; n >= 0; n--)
				free(v[n]);
			free(v);
			return -1;
		}
		if (pass) {
			v[n++] = xstrdup(name);
		} else {
			size_t len = strlen(name) + strlen(e->valuestring) + 2;

			v[n] = xmalloc(len);
			snprintf(v[n++], len, "%s=%s", name, e->valuestring);
		}
	}
	v[n] = NULL;
	*out = v;
	return 0;
}

static int local_init(struct connector *c, const cJSON *conf, char *err,
		      size_t errlen)
{
	long long cpus = sysconf(_SC_NPROCESSORS_ONLN);
	long long pages = sysconf(_SC_PHYS_PAGES);
	long long page = sysconf(_SC_PAGESIZE);
	long long mem = pages > 0 && page > 0 ? pages * page / 1048576 : 0;
	long long gpus = local_count_gpus();
	long long grace = LOCAL_GRACE_DEFAULT;
	const cJSON *it, *s;
	char **env_set = NULL, **env_pass = NULL;
	int cgroups = 1;
	struct local *lc;

	if (cpus < 1)
		cpus = 1;
	/* the machine's, unless the config's slots say otherwise; max_jobs
	 * defaults to the cpus, whatever they are set to */
	c->cap_cpus = (int)cpus;
	c->cap_gpus = (int)gpus;
	c->cap_memory_mb = mem;
	c->cap_max_jobs = -1;
	if (conf && !cJSON_IsObject(conf)) {
		snprintf(err, errlen, "the local provider's config must be "
			 "an object");
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(it, conf) {
		if (!strcmp(it->string, "type")) {
			if (!cJSON_IsString(it) ||
			    strcmp(it->valuestring, "local")) {
				snprintf(err, errlen,
					 "'type' must be \"local\"");
				goto fail;
			}
		} else if (!strcmp(it->string, "kill_grace_s")) {
			if (json_int_range(it, "", 0, LOCAL_GRACE_MAX, &grace,
					   err, errlen))
				goto fail;
		} else if (!strcmp(it->string, "artifact_root") ||
			   !strcmp(it->string, "artifact_base_url")) {
			if (!cJSON_IsString(it) || !it->valuestring[0] ||
			    strlen(it->valuestring) > 1024) {
				snprintf(err, errlen, "'%s' must be a string",
					 it->string);
				goto fail;
			}
		} else if (!strcmp(it->string, "env") ||
			   !strcmp(it->string, "pass_env")) {
			char ***v = !strcmp(it->string, "env") ? &env_set :
							       &env_pass;

			if (*v || local_conf_env(it, v, err, errlen) < 0)
				goto fail;
		} else if (!strcmp(it->string, "cgroups")) {
			if (!cJSON_IsBool(it)) {
				snprintf(err, errlen,
					 "'cgroups' must be true or false");
				goto fail;
			}
			cgroups = cJSON_IsTrue(it);
		} else if (!strcmp(it->string, "slots")) {
			if (connector_conf_slots(c, it, err, errlen))
				goto fail;
		} else if (!strcmp(it->string, "price_per_hour")) {
			if (connector_conf_price(c, it, err, errlen))
				goto fail;
		} else {
			snprintf(err, errlen, "unknown key '%.100s'",
				 it->string);
			goto fail;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(conf, "artifact_root");
	s = cJSON_GetObjectItemCaseSensitive(conf, "artifact_base_url");
	if ((it == NULL) != (s == NULL)) {
		snprintf(err, errlen, "'artifact_root' and 'artifact_base_url' "
			 "go together");
		goto fail;
	}
	if (it && (it->valuestring[0] != '/' ||
		   (strncmp(s->valuestring, "http://", 7) &&
		    strncmp(s->valuestring, "https://", 8)))) {
		snprintf(err, errlen, "'artifact_root' must be an absolute path "
			 "and 'artifact_base_url' an http(s) URL");
		goto fail;
	}
	lc = xcalloc(1, sizeof(*lc));
	lc->kill_grace_s = (int)grace;
	lc->wake_rfd = lc->wake_wfd = -1;
	if (c->work_dir) {
		char fp[PATH_MAX];

		snprintf(fp, sizeof(fp), "%s/wake.fifo", c->work_dir);
		if ((mkfifo(fp, 0600) == 0 || errno == EEXIST) &&
		    (lc->wake_rfd = open(fp, O_RDONLY | O_NONBLOCK |
					 O_CLOEXEC)) >= 0) {
			lc->wake_wfd = open(fp, O_WRONLY | O_NONBLOCK |
					    O_CLOEXEC);
			lc->wake_path = xstrdup(fp);
		}
	}
	if (it) {
		lc->artifact_root = xstrdup(it->valuestring);
		lc->artifact_base_url = xstrdup(s->valuestring);
	}
	c->priv = lc;
	if (c->cap_max_jobs < 0)
		c->cap_max_jobs = c->cap_cpus;
	lc->env_set = env_set;
	lc->env_pass = env_pass;
	lc->cgroup_parent = cgroups ? local_cgroup_find() : NULL;
	return TFS_OK;
fail:
	strv_free(env_set);
	strv_free(env_pass);
	return TFS_EINVAL;
}

static void local_release(struct connector *c)
{
	struct local *lc = c->priv;

	if (lc) {
		free(lc->artifact_root);
		free(lc->artifact_base_url);
		free(lc->wake_path);
		if (lc->wake_rfd >= 0)
			close(lc->wake_rfd);
		if (lc->wake_wfd >= 0)
			close(lc->wake_wfd);
		free(lc->cgroup_parent);
		strv_free(lc->env_set);
		strv_free(lc->env_pass);
	}
	free(c->priv);
	c->priv = NULL;
}

/* Readable when a supervisor recorded an exit; the caller drains it. */
static int local_wake_fd(struct connector *c)
{
	struct local *lc = c->priv;

	return lc ? lc->wake_rfd : -1;
}

/* This machine is always reachable. */
static int local_ping(struct connector *c, char *err, size_t errlen)
{
	(void)c;
	(void)err;
	(void)errlen;
	return TFS_OK;
}

/* ---- artifacts: the manifest of an attempt's output directory ---- */

#define LOCAL_WALK_DEPTH 32

struct local_walk {
	struct manifest m;
	char err[256];
};

/* Why name cannot be part of an artifact's path, or NULL when it can. */
static const char *local_name_bad(const char *name)
{
	for (; *name; name++)
		if ((unsigned char)*name < 0x20 || *name == 0x7f)
			return "its name has a control character";
	return NULL;
}

/* What a file that is neither regular nor a directory is, for a note. */
static const char *local_kind(mode_t mode)
{
	return S_ISLNK(mode) ? "a symbolic link" :
	       S_ISFIFO(mode) ? "a FIFO" :
	       S_ISSOCK(mode) ? "a socket" : "a device or special file";
}

/*
 * Adds every regular file under dirfd to w->m. Symbolic links and
 * special files are left out with a note: a link could point anywhere on
 * this machine, and the manifest must name only what the job wrote. A
 * file is opened without following links or blocking and checked again,
 * since the job (or what it left running) may swap it meanwhile.
 */
static int local_walk_dir(struct local_walk *w, int dfd, const char *prefix,
			  int depth)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (depth > LOCAL_WALK_DEPTH) {
		snprintf(w->err, sizeof(w->err), "output deeper than %d levels",
			 LOCAL_WALK_DEPTH);
		close(dfd);
		return -1;
	}
	d = fdopendir(dfd);
	if (!d) {
		close(dfd);
		snprintf(w->err, sizeof(w->err), "cannot list output: %s",
			 strerror(errno));
		return -1;
	}
	while (!r && (de = readdir(d))) {
		char rel[ARTIFACT_PATH_MAX + 1], sha[65];
		const char *bad;
		struct stat st;
		int64_t size;
		int fd;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(rel, sizeof(rel), "%s%s%s", prefix,
			     *prefix ? "/" : "", de->d_name) >= (int)sizeof(rel)) {
			manifest_add_skip(&w->m, de->d_name, "its path is longer than "
					"1024 bytes");
			continue;
		}
		if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;
		bad = local_name_bad(de->d_name);
		if (bad) {
			manifest_add_skip(&w->m, rel, bad);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			fd = openat(dirfd(d), de->d_name, O_RDONLY | O_DIRECTORY |
				    O_NOFOLLOW | O_CLOEXEC);
			if (fd >= 0)
				r = local_walk_dir(w, fd, rel, depth + 1);
			continue;
		}
		if (!S_ISREG(st.st_mode)) {
			manifest_add_skip(&w->m, rel, local_kind(st.st_mode));
			continue;
		}
		if (w->m.n >= ARTIFACT_FILES_MAX) {
			snprintf(w->err, sizeof(w->err), "more than %d output "
				 "files", ARTIFACT_FILES_MAX);
			r = -1;
			break;
		}
		fd = openat(dirfd(d), de->d_name, O_RDONLY | O_NOFOLLOW |
			    O_NONBLOCK | O_CLOEXEC);
		if (fd < 0) {
			if (errno == ELOOP)
				manifest_add_skip(&w->m, rel, "a symbolic link");
			continue;
		}
		if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
			manifest_add_skip(&w->m, rel, local_kind(st.st_mode));
			close(fd);
			continue;
		}
		if (sha256_fd(fd, sha, &size) != TFS_OK) {
			close(fd);
			snprintf(w->err, sizeof(w->err), "cannot read '%.200s'", rel);
			r = -1;
			break;
		}
		close(fd);
		manifest_add_file(&w->m, rel, size, sha);
	}
	closedir(d);
	return r;
}

/*
 * Opens the regular file at the relative path rel under the directory
 * dfd, one component at a time, following no link and no "." or "..".
 * Returns the descriptor (caller closes), or -1.
 */
static int local_open_beneath(int dfd, const char *rel)
{
	char comp[256];
	const char *p = rel;
	int fd = dup(dfd);

	while (fd >= 0) {
		const char *slash = strchr(p, '/');
		size_t n = slash ? (size_t)(slash - p) : strlen(p);
		int next;

		if (!n || n >= sizeof(comp))
			break;
		memcpy(comp, p, n);
		comp[n] = '\0';
		if (!strcmp(comp, ".") || !strcmp(comp, "..") ||
		    local_name_bad(comp))
			break;
		next = openat(fd, comp, O_RDONLY | O_NOFOLLOW | O_NONBLOCK |
			      O_CLOEXEC | (slash ? O_DIRECTORY : 0));
		close(fd);
		fd = next;
		if (!slash)
			return fd;
		p = slash + 1;
	}
	if (fd >= 0)
		close(fd);
	return -1;
}

/* A check of a cached manifest against the output directory. */
struct local_mf_check {
	int dfd;                     /* the output directory */
	int ok;
};

/*
 * Whether an entry of a manifest read back from the attempt directory
 * (where the job can write) still describes the output: a path that stays
 * inside, to a regular file of the size it gives. The hash itself is
 * checked by every download.
 */
static int local_mf_check_cb(void *arg, const struct artifact_entry *a)
{
	struct local_mf_check *k = arg;
	struct stat st;
	int fd;

	if (a->skipped)
		return 0;
	fd = local_open_beneath(k->dfd, a->path);
	k->ok = fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
		st.st_size == a->size;
	if (fd >= 0)
		close(fd);
	return !k->ok;
}

/* Whether the cached manifest text still holds for the output at opath. */
static int local_manifest_ok(const struct buf *b, const char *opath)
{
	struct local_mf_check k = { -1, 1 };
	char err[256];
	int r;

	k.dfd = open(opath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (k.dfd < 0)
		return 0;
	r = manifest_parse(b->p, b->len, local_mf_check_cb, &k, err,
			   sizeof(err));
	close(k.dfd);
	return r == TFS_OK && k.ok;
}

/*
 * The text of the attempt's manifest (caller frees): the cached one when
 * it still holds (local_manifest_ok()), or one made from the output
 * directory and cached. NULL with err when the output cannot be listed.
 */
static char *local_manifest(const struct job_query *q, char *err,
			    size_t errlen)
{
	char mpath[PATH_MAX], opath[PATH_MAX];
	struct buf b = BUF_INIT(MANIFEST_MAX);
	struct local_walk w = { MANIFEST_INIT, "" };
	char *text;
	int fd;

	snprintf(mpath, sizeof(mpath), "%s/%s", q->attempt_dir,
		 LOCAL_MANIFEST_FILE);
	snprintf(opath, sizeof(opath), "%s/output", q->attempt_dir);
	if (local_file_read(mpath, MANIFEST_MAX, &b) == TFS_OK &&
	    local_manifest_ok(&b, opath))
		return buf_detach(&b, NULL);
	buf_release(&b);
	fd = open(opath, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0 && local_walk_dir(&w, fd, "", 0) < 0) {
		snprintf(err, errlen, "%s", w.err);
		manifest_release(&w.m);
		return NULL;
	}
	text = manifest_finish(&w.m);
	if (!text) {
		snprintf(err, errlen, "out of memory for the manifest");
		return NULL;
	}
	/* Not over a link the job left there. */
	unlink(mpath);
	file_write_atomic(mpath, text, strlen(text), 1);
	return text;
}

/* What local_list_artifacts() hands its entries on with. */
struct local_list {
	const struct local *lc;
	const struct job_query *q;
	artifact_cb cb;
	void *arg;
};

/* An entry with its URL: under artifact_base_url when it is served. */
static int local_list_cb(void *arg, const struct artifact_entry *e)
{
	struct local_list *l = arg;
	const struct local *lc = l->lc;
	char url[ARTIFACT_URL_MAX], abs[PATH_MAX];
	struct artifact_entry a = *e;
	size_t rootlen;

	if (a.skipped)
		return l->cb(l->arg, &a);
	snprintf(abs, sizeof(abs), "%s/output/%s", l->q->attempt_dir, a.path);
	rootlen = lc->artifact_root ? strlen(lc->artifact_root) : 0;
	if (lc->artifact_root && !strncmp(abs, lc->artifact_root, rootlen) &&
	    abs[rootlen] == '/') {
		snprintf(url, sizeof(url), "%s%s", lc->artifact_base_url,
			 lc->artifact_base_url[strlen(lc->artifact_base_url) -
					       1] == '/' ? "" : "/");
		url_path_append(url, sizeof(url), abs + rootlen + 1);
	} else {
		snprintf(url, sizeof(url), "file://");
		url_path_append(url, sizeof(url), abs);
	}
	a.url = url;
	return l->cb(l->arg, &a);
}

static int local_list_artifacts(struct connector *c, const struct job_query *q,
				artifact_cb cb, void *arg, char *err,
				size_t errlen)
{
	struct local_list l = { c->priv, q, cb, arg };
	char *text = local_manifest(q, err, errlen);
	int r;

	if (!text)
		return TFS_EIO;
	r = manifest_parse(text, strlen(text), local_list_cb, &l, err, errlen);
	free(text);
	return r;
}

const struct connector_ops local_connector_ops = {
	.type = "local",
	.init = local_init,
	.release = local_release,
	.ping = local_ping,
	.find = local_find,
	.submit = local_submit,
	.poll = local_poll,
	.cancel = local_cancel,
	.signal = local_signal,
	.list_artifacts = local_list_artifacts,
	.wake_fd = local_wake_fd,
	.quote = connector_quote_conf,
};
