/*
 * test_local.c - the local provider against real processes, no mocks:
 * exit codes and logs, environment, idempotent submit, pause and resume,
 * cancel with and without a job that ignores TERM, a missing binary, a
 * daemon restart, a lost supervisor (its job ended before it is reported
 * ended), signals that must not cancel, slow starts, a cgroup per job,
 * files the job puts where the connector reads (FIFOs, links, forged
 * manifests) and cpu/rss sampling. Jobs wait on
 * files the test creates rather than on sleeps, and every wait is a poll
 * every 20 ms with a generous deadline, so a slow machine (valgrind) is
 * only slower, not flaky.
 */
#define _GNU_SOURCE
#include "connector.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define WAIT_MS 10000
#define STEP_MS 20
#define MAX_JOBS 32

struct job {
	char name[64];
	char dir[1024];           /* the attempt directory */
	char log[1024];
	char id[JOB_ID_MAX];
	char script[1024];        /* sh -c text, when the job is a script */
	char *argv[8];
	struct job_spec spec;
	struct job_query q;
};

static char root[256];
static struct connector conn = { .ops = &local_connector_ops,
				 .name = "local" };
static struct job *jobs[MAX_JOBS];
static int njobs;

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* A job named name under root; argv NULL means `sh -c job->script`. */
static struct job *job_new(const char *name, char *const *argv)
{
	struct job *j = xcalloc(1, sizeof(*j));
	char parent[512];
	int i;

	snprintf(j->name, sizeof(j->name), "%s", name);
	snprintf(parent, sizeof(parent), "%s/%s", root, name);
	snprintf(j->dir, sizeof(j->dir), "%s/attempt-1", parent);
	snprintf(j->log, sizeof(j->log), "%s/log", parent);
	mkdir_p(parent, 0700);
	if (argv) {
		for (i = 0; argv[i] && i < 7; i++)
			j->argv[i] = argv[i];
	} else {
		j->argv[0] = "sh";
		j->argv[1] = "-c";
		j->argv[2] = j->script;
	}
	j->spec.run_id = j->name;
	j->spec.run_name = j->name;
	j->spec.attempt = 1;
	j->spec.argv = j->argv;
	j->spec.attempt_dir = j->dir;
	j->spec.run_dir = parent;
	j->spec.log_path = j->log;
	j->q.job_id = j->id;
	j->q.run_id = j->name;
	j->q.attempt = 1;
	j->q.attempt_dir = j->dir;
	j->q.log_path = j->log;
	if (njobs < MAX_JOBS)
		jobs[njobs++] = j;
	return j;
}

/* Path of file name in the job's attempt directory (its working dir). */
static const char *job_file(const struct job *j, const char *name)
{
	static char path[PATH_MAX];

	snprintf(path, sizeof(path), "%s/%s", j->dir, name);
	return path;
}

static int job_submit(struct job *j)
{
	char err[256] = "";
	int r = conn.ops->submit(&conn, &j->spec, j->id, sizeof(j->id), err,
				 sizeof(err));

	if (r)
		fprintf(stderr, "submit '%s': %s\n", j->name, err);
	return r;
}

static void job_poll(struct job *j)
{
	char err[256];

	if (conn.ops->poll(&conn, &j->q, 1, err, sizeof(err)))
		fprintf(stderr, "poll '%s': %s\n", j->name, err);
}

/* The error of the last cancel or signal, for checks of expected ones. */
static char last_err[256];

static int job_cancel(struct job *j, int grace)
{
	int r;

	last_err[0] = '\0';
	r = conn.ops->cancel(&conn, &j->q, grace, last_err, sizeof(last_err));
	if (r)
		fprintf(stderr, "cancel '%s': %s\n", j->name, last_err);
	return r;
}

/* Prints the error only when the result is not the expected one. */
static int job_signal(struct job *j, enum job_signal sig, int expect)
{
	int r;

	last_err[0] = '\0';
	r = conn.ops->signal(&conn, &j->q, sig, last_err, sizeof(last_err));
	if (r != expect)
		fprintf(stderr, "signal '%s': %s\n", j->name, last_err);
	return r;
}

/* Polls until the job is in state s; returns 1, or 0 at the deadline. */
static int wait_state(struct job *j, enum job_state s)
{
	int t;

	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		job_poll(j);
		if (j->q.state == s)
			return 1;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "'%s' never became %s (is %s: %s)\n", j->name,
		job_state_name(s), job_state_name(j->q.state), j->q.reason);
	return 0;
}

static int wait_terminal(struct job *j)
{
	int t;

	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		job_poll(j);
		if (job_state_terminal(j->q.state))
			return 1;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "'%s' never ended (is %s)\n", j->name,
		job_state_name(j->q.state));
	return 0;
}

static int wait_file(const char *path)
{
	int t;

	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		if (access(path, F_OK) == 0)
			return 1;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "'%s' never appeared\n", path);
	return 0;
}

static long file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) < 0 ? -1 : (long)st.st_size;
}

/* Waits until path is larger than size; returns 1, or 0 at the deadline. */
static int wait_growth(const char *path, long size)
{
	int t;

	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		if (file_size(path) > size)
			return 1;
		sleep_ms(STEP_MS);
	}
	return 0;
}

static void touch(const char *path)
{
	int fd = open(path, O_WRONLY | O_CREAT, 0600);

	if (fd >= 0)
		close(fd);
}

static int file_contains(const char *path, const char *needle)
{
	struct buf b = BUF_INIT(1 << 20);
	int found = file_read_all(path, 1 << 20, &b) == TFS_OK && b.p &&
		    strstr(b.p, needle);

	buf_release(&b);
	return found;
}

static int file_lines(const char *path)
{
	struct buf b = BUF_INIT(1 << 20);
	int n = 0;
	size_t i;

	if (file_read_all(path, 1 << 20, &b) == TFS_OK)
		for (i = 0; i < b.len; i++)
			n += b.p[i] == '\n';
	buf_release(&b);
	return n;
}

/* Reads an integer field of the job's job.json, or -1. */
static long long job_json_field(const struct job *j, const char *key)
{
	struct buf b = BUF_INIT(4096);
	long long v = -1;
	cJSON *o = NULL;
	const cJSON *it;

	if (file_read_all(job_file(j, "job.json"), 4096, &b) == TFS_OK &&
	    b.p)
		o = cJSON_Parse(b.p);
	it = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsNumber(it))
		v = (long long)it->valuedouble;
	cJSON_Delete(o);
	buf_release(&b);
	return v;
}

/* The parent of pid from /proc, or -1. */
static long long proc_ppid(long long pid)
{
	struct buf b = BUF_INIT(4096);
	char path[64], state;
	long long ppid = -1;
	const char *rp;

	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	if (file_read_all(path, 4096, &b) == TFS_OK && b.p &&
	    (rp = strrchr(b.p, ')')) &&
	    sscanf(rp + 1, " %c %lld", &state, &ppid) != 2)
		ppid = -1;
	buf_release(&b);
	return ppid;
}

static int init_conn(const char *conf_text, char *err, size_t errlen)
{
	cJSON *conf = conf_text ? cJSON_Parse(conf_text) : NULL;
	int r;

	memset(&conn, 0, sizeof(conn));
	conn.ops = &local_connector_ops;
	conn.name = "local";
	conn.price_per_hour = -1;     /* as core/ sets it */
	r = conn.ops->init(&conn, conf, err, errlen);
	cJSON_Delete(conf);
	return r;
}

static void test_registry(void)
{
	CHECK(connector_find("local") == &local_connector_ops);
	CHECK(connector_find("nope") == NULL);
	CHECK(connector_find(NULL) == NULL);
	CHECK_STR(job_state_name(JOB_RUNNING), "running");
	CHECK_STR(job_state_name(JOB_PREEMPTED), "preempted");
	CHECK_STR(job_state_name(JOB_UNKNOWN), "unknown");
	CHECK(job_state_terminal(JOB_COMPLETED));
	CHECK(job_state_terminal(JOB_FAILED));
	CHECK(job_state_terminal(JOB_STOPPED));
	CHECK(job_state_terminal(JOB_PREEMPTED));
	CHECK(!job_state_terminal(JOB_RUNNING));
	CHECK(!job_state_terminal(JOB_PAUSED));
	CHECK(!job_state_terminal(JOB_PENDING));
	CHECK(!job_state_terminal(JOB_UNKNOWN));
	CHECK(local_connector_ops.sync == NULL);
}

static void test_init(void)
{
	char err[256] = "";

	CHECK(init_conn(NULL, err, sizeof(err)) == 0);
	CHECK(conn.cap_cpus == (int)sysconf(_SC_NPROCESSORS_ONLN));
	CHECK(conn.cap_max_jobs == conn.cap_cpus);
	CHECK(conn.cap_memory_mb > 0);
	CHECK(conn.cap_gpus >= 0);
	CHECK(conn.ops->ping(&conn, err, sizeof(err)) == 0);
	conn.ops->release(&conn);

	CHECK(init_conn("{\"type\":\"local\",\"kill_grace_s\":3,\"slots\":"
			"{\"cpus\":3,\"gpus\":2,\"memory_mb\":512,"
			"\"max_jobs\":5}}", err, sizeof(err)) == 0);
	CHECK(conn.cap_cpus == 3);
	CHECK(conn.cap_gpus == 2);
	CHECK(conn.cap_memory_mb == 512);
	CHECK(conn.cap_max_jobs == 5);
	conn.ops->release(&conn);

	CHECK(init_conn("{\"slotz\":{}}", err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "unknown key 'slotz'");
	CHECK(init_conn("{\"slots\":{\"cpu\":1}}", err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "unknown key 'slots.cpu'");
	CHECK(init_conn("{\"slots\":{\"cpus\":-1}}", err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "'slots.cpus'") != NULL);
	CHECK(init_conn("{\"kill_grace_s\":\"x\"}", err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "'kill_grace_s'") != NULL);
	CHECK(init_conn("{\"type\":\"slurm\"}", err, sizeof(err)) == TFS_EINVAL);
	CHECK(init_conn("[]", err, sizeof(err)) == TFS_EINVAL);

	/* the chargeback rate, and the quote it makes */
	{
		struct job_need need = { .cpus = 1, .interruptible = -1 };
		double usd = -5;
		char why[QUOTE_WHY_MAX];

		CHECK(init_conn(NULL, err, sizeof(err)) == 0);
		CHECK(conn.price_per_hour == -1);
		CHECK(conn.ops->quote(&conn, &need, &usd, why, sizeof(why)) ==
		      TFS_EOPNOTSUPP);
		CHECK(usd == -5);
		conn.ops->release(&conn);
		CHECK(init_conn("{\"price_per_hour\":0.25,\"slots\":"
				"{\"max_jobs\":0}}", err, sizeof(err)) == 0);
		CHECK(conn.price_per_hour == 0.25);
		/* full (max_jobs 0 here) is the queue's wait, never
		   "no capacity" */
		CHECK(conn.ops->quote(&conn, &need, &usd, why, sizeof(why)) ==
		      TFS_OK);
		CHECK(usd == 0.25);
		conn.ops->release(&conn);
		CHECK(init_conn("{\"price_per_hour\":-1}", err, sizeof(err)) ==
		      TFS_EINVAL);
		CHECK_STR(err, "'price_per_hour' must be a number of USD from "
			  "0 to 10000");
		CHECK(init_conn("{\"price_per_hour\":\"1\"}", err,
				sizeof(err)) == TFS_EINVAL);
		CHECK(init_conn("{\"price_per_hour\":10001}", err,
				sizeof(err)) == TFS_EINVAL);
	}

	CHECK(init_conn(NULL, err, sizeof(err)) == 0);
}

static void test_exit_code(void)
{
	struct job *j = job_new("exit3", NULL), *k = job_new("exit0", NULL);
	struct job *m = job_new("kill9", NULL);

	snprintf(j->script, sizeof(j->script),
		 "echo hello; echo err >&2; exit 3");
	CHECK(job_submit(j) == 0);
	CHECK(j->id[0] != '\0');
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_FAILED);
	CHECK(j->q.exit_code == 3);
	CHECK(j->q.term_signal == 0);
	CHECK_STR(j->q.reason, "exit code 3");
	CHECK(j->q.start_ms > 0 && j->q.end_ms >= j->q.start_ms);
	CHECK(j->q.cpu_percent == -1 && j->q.rss_kb == -1);
	CHECK(file_contains(j->log, "hello\n"));
	CHECK(file_contains(j->log, "err\n"));

	/* Without a workdir the job starts in its attempt directory. */
	snprintf(k->script, sizeof(k->script), "pwd");
	CHECK(job_submit(k) == 0);
	CHECK(wait_terminal(k));
	CHECK(k->q.state == JOB_COMPLETED);
	CHECK(k->q.exit_code == 0);
	CHECK_STR(k->q.reason, "");
	CHECK(file_contains(k->log, k->dir));

	snprintf(m->script, sizeof(m->script), "kill -9 $$");
	CHECK(job_submit(m) == 0);
	CHECK(wait_terminal(m));
	CHECK(m->q.state == JOB_FAILED);
	CHECK(m->q.exit_code == -1);
	CHECK(m->q.term_signal == SIGKILL);
	CHECK_STR(m->q.reason, "killed by signal 9 (Killed)");
}

static void test_env(void)
{
	struct job *j = job_new("env", NULL);
	char *env[] = { "TRAINFS_X=1", "TRAINFS_OVR=new", NULL };

	setenv("TRAINFS_FROM_DAEMON", "yes", 1);
	setenv("TRAINFS_OVR", "old", 1);
	snprintf(j->script, sizeof(j->script),
		 "echo \"X=$TRAINFS_X D=$TRAINFS_FROM_DAEMON O=$TRAINFS_OVR "
		 "C=$CUDA_VISIBLE_DEVICES\"; echo \"n=$(env | grep -c "
		 "'^TRAINFS_OVR=')\"; pwd");
	j->spec.env = env;
	j->spec.gpu_list = "0,1";
	j->spec.workdir = root;
	CHECK(job_submit(j) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	CHECK(file_contains(j->log, "X=1 D=yes O=new C=0,1\n"));
	CHECK(file_contains(j->log, "n=1\n"));
	CHECK(file_contains(j->log, root));
	unsetenv("TRAINFS_FROM_DAEMON");
	unsetenv("TRAINFS_OVR");
}

static void test_idempotent(void)
{
	struct job *j = job_new("idem", NULL);
	char id2[JOB_ID_MAX] = "", id3[JOB_ID_MAX] = "", err[256];

	snprintf(j->script, sizeof(j->script),
		 "echo started >> count; while [ ! -e go ]; do sleep 0.02; "
		 "done");
	CHECK(conn.ops->find(&conn, &j->spec, id2, sizeof(id2), err,
			     sizeof(err)) == TFS_ENOENT);
	CHECK(job_submit(j) == 0);
	CHECK(conn.ops->submit(&conn, &j->spec, id2, sizeof(id2), err,
			       sizeof(err)) == 0);
	CHECK_STR(id2, j->id);
	CHECK(conn.ops->find(&conn, &j->spec, id3, sizeof(id3), err,
			     sizeof(err)) == TFS_OK);
	CHECK_STR(id3, j->id);
	CHECK(wait_file(job_file(j, "count")));
	touch(job_file(j, "go"));
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	/* Even after the end, the attempt is found, not run again. */
	memset(id2, 0, sizeof(id2));
	CHECK(conn.ops->submit(&conn, &j->spec, id2, sizeof(id2), err,
			       sizeof(err)) == 0);
	CHECK_STR(id2, j->id);
	CHECK(file_lines(job_file(j, "count")) == 1);
}

static void test_pause(void)
{
	struct job *j = job_new("pause", NULL);
	char counter[PATH_MAX];
	long size;
	int round;

	snprintf(j->script, sizeof(j->script),
		 "i=0; while :; do i=$((i+1)); echo $i >> counter; "
		 "sleep 0.05; done");
	CHECK(job_submit(j) == 0);
	snprintf(counter, sizeof(counter), "%s", job_file(j, "counter"));
	CHECK(wait_growth(counter, 0));
	/*
	 * Several rounds, so that some stop lands while sh is in vfork():
	 * then only its child can stop, and the job must still read paused.
	 */
	for (round = 0; round < 5; round++) {
		CHECK(job_signal(j, JOB_SIG_PAUSE, 0) == 0);
		CHECK(wait_state(j, JOB_PAUSED));
		size = file_size(counter);
		sleep_ms(200);
		job_poll(j);
		CHECK(j->q.state == JOB_PAUSED);
		CHECK(file_size(counter) == size);
		CHECK(job_signal(j, JOB_SIG_RESUME, 0) == 0);
		CHECK(wait_state(j, JOB_RUNNING));
		CHECK(wait_growth(counter, size));
	}

	/* Cancelling a paused job: TERM must reach it, hence the CONT. */
	CHECK(job_signal(j, JOB_SIG_PAUSE, 0) == 0);
	CHECK(wait_state(j, JOB_PAUSED));
	CHECK(job_cancel(j, 5) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_STOPPED);
	CHECK_STR(j->q.reason, "cancelled");
	CHECK(j->q.term_signal == SIGTERM);
	CHECK(job_signal(j, JOB_SIG_RESUME, TFS_EIO) == TFS_EIO);
	CHECK(strstr(last_err, "is not running") != NULL);
	CHECK(job_cancel(j, 5) == 0);
}

static void test_cancel(void)
{
	char *sleep_argv[] = { "sleep", "100", NULL };
	struct job *j = job_new("cancel", sleep_argv);
	struct job *k = job_new("cancel-trap", NULL);
	int64_t t0;

	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	CHECK(job_cancel(j, 0) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_STOPPED);
	CHECK_STR(j->q.reason, "cancelled");
	CHECK(j->q.term_signal == SIGTERM);
	CHECK(j->q.exit_code == -1);

	/* `touch ready` after the trap: no TERM can come before it. */
	snprintf(k->script, sizeof(k->script),
		 "trap '' TERM; touch ready; sleep 100");
	CHECK(job_submit(k) == 0);
	CHECK(wait_file(job_file(k, "ready")));
	t0 = now_ms();
	CHECK(job_cancel(k, 1) == 0);
	CHECK(wait_terminal(k));
	CHECK(k->q.state == JOB_STOPPED);
	CHECK(k->q.term_signal == SIGKILL);
	/* A lower bound only: the KILL waited for the grace. */
	CHECK(k->q.end_ms - t0 >= 900);
}

static void test_missing(void)
{
	char *argv[] = { "trainfs-no-such-binary", "x", NULL };
	struct job *j = job_new("missing", argv);
	struct job *k = job_new("badwd", NULL);

	CHECK(job_submit(j) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_FAILED);
	CHECK(j->q.exit_code == 127);
	CHECK_STR(j->q.reason, "cannot execute 'trainfs-no-such-binary': "
		  "No such file or directory");
	CHECK(file_contains(j->log, "cannot execute 'trainfs-no-such-binary'"));

	snprintf(k->script, sizeof(k->script), "true");
	k->spec.workdir = "/nonexistent/trainfs";
	CHECK(job_submit(k) == 0);
	CHECK(wait_terminal(k));
	CHECK(k->q.state == JOB_FAILED);
	CHECK(k->q.exit_code == 127);
	CHECK_STR(k->q.reason, "cannot change directory to "
		  "'/nonexistent/trainfs': No such file or directory");
}

static void test_restart(void)
{
	struct job *j = job_new("restart", NULL);
	char err[256];

	snprintf(j->script, sizeof(j->script),
		 "while [ ! -e go ]; do sleep 0.02; done; exit 5");
	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	/* The supervisor is not our child: it went to init with A's exit. */
	CHECK(proc_ppid(job_json_field(j, "supervisor_pid")) != getpid());
	CHECK(proc_ppid(job_json_field(j, "supervisor_pid")) > 0);
	/* The daemon goes away and comes back: only the files remain. */
	conn.ops->release(&conn);
	CHECK(init_conn(NULL, err, sizeof(err)) == 0);
	job_poll(j);
	CHECK(j->q.state == JOB_RUNNING);
	touch(job_file(j, "go"));
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_FAILED);
	CHECK(j->q.exit_code == 5);
	CHECK_STR(j->q.reason, "exit code 5");
}

/* The number a job wrote to path, or -1. */
static long long file_ll(const char *path)
{
	struct buf b = BUF_INIT(64);
	long long v = -1;

	if (file_read_all(path, 64, &b) == TFS_OK && b.p)
		v = atoll(b.p);
	buf_release(&b);
	return v;
}

/* Whether pid is gone or a zombie (init here may not reap). */
static int proc_gone(long long pid)
{
	struct buf b = BUF_INIT(4096);
	char path[64];
	const char *rp;
	int gone;

	snprintf(path, sizeof(path), "/proc/%lld/stat", pid);
	gone = file_read_all(path, 4096, &b) != TFS_OK || !b.p ||
	       !(rp = strrchr(b.p, ')')) || rp[2] == 'Z';
	buf_release(&b);
	return gone;
}

static int wait_gone(long long pid)
{
	int t;

	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		if (proc_gone(pid))
			return 1;
		sleep_ms(STEP_MS);
	}
	return 0;
}

/*
 * A supervisor killed with -9: its job is ended, and the attempt is
 * reported ended only once nothing of it is left, so a retry never runs
 * beside it.
 */
static void test_supervisor_lost(void)
{
	struct job *j = job_new("lost", NULL);
	char *argv[] = { "sleep", "100", NULL };
	struct job *k = job_new("never", argv);
	long long spid, pgid, child;
	int t, seen_live = 0;

	snprintf(j->script, sizeof(j->script),
		 "sleep 100 & echo $! > child; wait");
	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	CHECK(wait_file(job_file(j, "child")));
	sleep_ms(50);
	child = file_ll(job_file(j, "child"));
	spid = job_json_field(j, "supervisor_pid");
	pgid = job_json_field(j, "pgid");
	CHECK(spid > 1 && pgid > 1 && spid != pgid && child > 1);
	CHECK(spid == atoll(j->id));
	CHECK(kill((pid_t)spid, SIGKILL) == 0);
	CHECK(wait_gone(spid));
	for (t = 0; t < WAIT_MS; t += STEP_MS) {
		job_poll(j);
		if (job_state_terminal(j->q.state))
			break;
		seen_live |= j->q.state == JOB_RUNNING &&
			     strstr(j->q.reason, "supervisor lost") != NULL;
		sleep_ms(STEP_MS);
	}
	CHECK(j->q.state == JOB_FAILED);
	CHECK(seen_live);
	/* Ended means ended: nothing of the job is left. */
	CHECK(proc_gone(pgid));
	CHECK(proc_gone(child));
	CHECK(j->q.exit_code == -1);
	CHECK_STR(j->q.reason, "supervisor lost: no exit status recorded");
	CHECK(job_signal(j, JOB_SIG_PAUSE, TFS_EIO) == TFS_EIO);
	CHECK(job_cancel(j, 1) == 0);

	/* Nothing submitted: unknown, and nothing to cancel. */
	job_poll(k);
	CHECK(k->q.state == JOB_UNKNOWN);
	CHECK(job_cancel(k, 1) == 0);
}

/* Signals meant for the daemon (`pkill trainfs`) cancel nothing. */
static void test_signals(void)
{
	char *argv[] = { "sleep", "100", NULL };
	struct job *j = job_new("signals", argv);
	long long spid;

	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	spid = job_json_field(j, "supervisor_pid");
	CHECK(kill((pid_t)spid, SIGTERM) == 0);
	CHECK(kill((pid_t)spid, SIGINT) == 0);
	CHECK(kill((pid_t)spid, SIGHUP) == 0);
	sleep_ms(300);
	job_poll(j);
	CHECK(j->q.state == JOB_RUNNING);
	CHECK(!proc_gone(spid));
	CHECK(access(job_file(j, "exit.json"), F_OK) < 0);
	/* The cancel channel still cancels. */
	CHECK(job_cancel(j, 1) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_STOPPED);
	CHECK(j->q.term_signal == SIGTERM);
}

/*
 * A job that is slow to start (its log is a FIFO nobody reads, so its
 * open() blocks): submit returns at once, the job is pending, not running,
 * and a cancel ends it before it runs a line. A supervisor that holds its
 * lock without having written job.json is a submission in progress.
 */
static void test_slow_start(void)
{
	struct job *j = job_new("slow", NULL), *k = job_new("held", NULL);
	char id[JOB_ID_MAX], err[256];
	int fd;

	snprintf(j->script, sizeof(j->script), "echo ran > ran");
	CHECK(mkfifo(j->log, 0600) == 0);
	CHECK(job_submit(j) == 0);
	sleep_ms(200);
	job_poll(j);
	CHECK(j->q.state == JOB_PENDING);
	CHECK_STR(j->q.reason, "the job is starting");
	CHECK(conn.ops->find(&conn, &j->spec, id, sizeof(id), err,
			     sizeof(err)) == TFS_OK);
	CHECK_STR(id, j->id);
	CHECK(job_cancel(j, 1) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_STOPPED);
	/* Let a start that would still go on go on: it must not. */
	fd = open(j->log, O_RDONLY | O_NONBLOCK);
	sleep_ms(200);
	if (fd >= 0)
		close(fd);
	CHECK(access(job_file(j, "ran"), F_OK) < 0);

	snprintf(k->script, sizeof(k->script), "echo ran > ran");
	mkdir_p(k->dir, 0700);
	fd = open(job_file(k, "supervisor.lock"), O_RDWR | O_CREAT, 0600);
	CHECK(fd >= 0 && flock(fd, LOCK_EX) == 0);
	CHECK(conn.ops->find(&conn, &k->spec, id, sizeof(id), err,
			     sizeof(err)) == TFS_EINPROGRESS);
	CHECK(strstr(err, "is starting") != NULL);
	CHECK(conn.ops->submit(&conn, &k->spec, id, sizeof(id), err,
			       sizeof(err)) == TFS_EINPROGRESS);
	job_poll(k);
	CHECK(k->q.state == JOB_PENDING);
	/* A cancel now is kept for the supervisor, which then never runs it. */
	CHECK(job_cancel(k, 1) == 0);
	close(fd);
	CHECK(conn.ops->find(&conn, &k->spec, id, sizeof(id), err,
			     sizeof(err)) == TFS_ENOENT);
	CHECK(job_submit(k) == 0);
	CHECK(wait_terminal(k));
	CHECK(k->q.state == JOB_STOPPED);
	CHECK(access(job_file(k, "ran"), F_OK) < 0);
}

/*
 * Without cgroups ("cgroups": false, or none writable) the process group
 * is all there is: a lost supervisor's job is still ended before it is
 * reported ended.
 */
static void test_no_cgroup(void)
{
	char *argv[] = { "sleep", "100", NULL };
	struct job *j;
	char err[256] = "";
	long long pgid;

	conn.ops->release(&conn);
	CHECK(init_conn("{\"cgroups\":false}", err, sizeof(err)) == 0);
	j = job_new("no-cgroup", argv);
	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	CHECK(!file_contains(job_file(j, "job.json"), "\"cgroup\""));
	pgid = job_json_field(j, "pgid");
	CHECK(kill((pid_t)job_json_field(j, "supervisor_pid"), SIGKILL) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_FAILED);
	CHECK(proc_gone(pgid));
	conn.ops->release(&conn);
	CHECK(init_conn("{\"cgroups\":1}", err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "'cgroups' must be true or false");
	CHECK(init_conn(NULL, err, sizeof(err)) == 0);
}

/*
 * A job started by an older trainfs, whose supervisor has no cancel
 * channel and takes TERM for a cancel (its job.json has no "exec_ms"):
 * running, and cancel still reaches it. The old supervisor is played by
 * a child of ours that does what it did.
 */
static void test_legacy_supervisor(void)
{
	struct job *j = job_new("legacy", NULL);
	char path[PATH_MAX], text[256], x;
	int p[2], status;
	pid_t s;

	mkdir_p(j->dir, 0700);
	CHECK(pipe(p) == 0);
	s = fork();
	if (s == 0) {
		sigset_t set;
		int fd, sig, n;

		sigemptyset(&set);
		sigaddset(&set, SIGTERM);
		sigprocmask(SIG_BLOCK, &set, NULL);
		snprintf(path, sizeof(path), "%s/supervisor.lock", j->dir);
		fd = open(path, O_RDWR | O_CREAT, 0600);
		if (fd < 0 || flock(fd, LOCK_EX) < 0)
			_exit(1);
		n = snprintf(text, sizeof(text), "{\"supervisor_pid\":%d,"
			     "\"job_pid\":%d,\"pgid\":%d,\"start_ms\":%lld}",
			     (int)getpid(), (int)getpid(), (int)getpid(),
			     (long long)now_ms());
		snprintf(path, sizeof(path), "%s/job.json", j->dir);
		file_write_atomic(path, text, (size_t)n, 0);
		if (write(p[1], "x", 1) != 1 || sigwait(&set, &sig))
			_exit(1);
		n = snprintf(text, sizeof(text), "{\"exit_code\":null,"
			     "\"signal\":15,\"cancelled\":true}");
		snprintf(path, sizeof(path), "%s/exit.json", j->dir);
		file_write_atomic(path, text, (size_t)n, 0);
		_exit(0);
	}
	close(p[1]);
	CHECK(s > 0 && read(p[0], &x, 1) == 1);
	close(p[0]);
	job_poll(j);
	CHECK(j->q.state == JOB_RUNNING);
	CHECK(job_cancel(j, 1) == 0);
	CHECK(s > 0 && waitpid(s, &status, 0) == s && WIFEXITED(status) &&
	      WEXITSTATUS(status) == 0);
	job_poll(j);
	CHECK(j->q.state == JOB_STOPPED);
}

/* With a cgroup per job, what left the job's session ends with it. */
static void test_cgroup(void)
{
	struct job *j = job_new("cgroup", NULL);
	long long esc;

	snprintf(j->script, sizeof(j->script),
		 "setsid sleep 100 & echo $! > esc; "
		 "while [ ! -e go ]; do sleep 0.02; done");
	CHECK(job_submit(j) == 0);
	CHECK(wait_state(j, JOB_RUNNING));
	if (job_json_field(j, "exec_ms") <= 0 ||
	    !file_contains(job_file(j, "job.json"), "\"cgroup\"")) {
		printf("SKIP cgroup: no writable cgroup v2 here\n");
		touch(job_file(j, "go"));
		wait_terminal(j);
		return;
	}
	CHECK(wait_file(job_file(j, "esc")));
	sleep_ms(50);
	esc = file_ll(job_file(j, "esc"));
	CHECK(esc > 1 && !proc_gone(esc));
	touch(job_file(j, "go"));
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	CHECK(esc > 1 && proc_gone(esc));
	if (esc > 1 && !proc_gone(esc))
		kill((pid_t)esc, SIGKILL);
}

static void test_sample(void)
{
	char *argv[] = { "python3", "-c",
		"import os, time\n"
		"x = b'x' * 50_000_000\n"
		"open('ready', 'w').close()\n"
		"while not os.path.exists('go'):\n"
		"    time.sleep(0.02)\n", NULL };
	struct job *j = job_new("sample", argv);
	struct job *done = jobs[0];    /* "exit3", long over */
	struct job_query qs[2];
	char err[256];

	CHECK(job_submit(j) == 0);
	if (!wait_file(job_file(j, "ready"))) {
		job_poll(j);
		printf("SKIP cpu/rss sampling: python3 job did not start "
		       "(%s)\n", j->q.reason);
		touch(job_file(j, "go"));
		return;
	}
	job_poll(j);
	CHECK(j->q.state == JOB_RUNNING);
	CHECK(j->q.cpu_percent == -1);
	CHECK(j->q.rss_kb > 40000);
	/* cpu is averaged over a second at least: sooner gives -1 */
	sleep_ms(200);
	qs[0] = j->q;
	CHECK(conn.ops->poll(&conn, qs, 1, err, sizeof(err)) == 0);
	CHECK(qs[0].cpu_percent == -1);
	sleep_ms(1000);

	/* One batched call for a running and an ended job. */
	qs[0] = j->q;
	qs[1] = done->q;
	CHECK(conn.ops->poll(&conn, qs, 2, err, sizeof(err)) == 0);
	CHECK(qs[0].state == JOB_RUNNING);
	CHECK(qs[0].cpu_percent >= 0 && qs[0].cpu_percent <= 200);
	CHECK(qs[0].rss_kb > 40000);
	CHECK(qs[0].start_ms > 0 && qs[0].end_ms == 0);
	CHECK(qs[1].state == JOB_FAILED && qs[1].exit_code == 3);
	CHECK(qs[1].cpu_percent == -1 && qs[1].rss_kb == -1);

	touch(job_file(j, "go"));
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	CHECK(j->q.rss_kb == -1);
}

/*
 * Files S did not write make a job unknown (for good); a file that cannot
 * be read now fails the whole poll and leaves every query as it was.
 */
static void test_bad_files(void)
{
	struct job *j = job_new("garbage", NULL), *k = job_new("unreadable",
							       NULL);
	struct job_query qs[2];
	char id[JOB_ID_MAX], err[256] = "", target[PATH_MAX];

	mkdir_p(j->dir, 0700);
	file_write_atomic(job_file(j, "job.json"), "garbage", 7, 0);
	job_poll(j);
	CHECK(j->q.state == JOB_UNKNOWN);
	CHECK(strstr(j->q.reason, "is not a JSON object") != NULL);
	CHECK(conn.ops->find(&conn, &j->spec, id, sizeof(id), err,
			     sizeof(err)) == TFS_EIO);
	CHECK(strstr(err, "job.json") != NULL);
	CHECK(conn.ops->submit(&conn, &j->spec, id, sizeof(id), err,
			       sizeof(err)) == TFS_EIO);

	/* Not a regular file, a link, a FIFO: refused, and nothing blocks. */
	alarm(20);
	mkdir_p(job_file(k, "job.json"), 0700);
	job_poll(k);
	CHECK(k->q.state == JOB_UNKNOWN);
	CHECK(strstr(k->q.reason, "not a regular file") != NULL);
	rmdir(job_file(k, "job.json"));
	CHECK(mkfifo(job_file(k, "job.json"), 0600) == 0);
	job_poll(k);
	CHECK(k->q.state == JOB_UNKNOWN);
	unlink(job_file(k, "job.json"));
	snprintf(target, sizeof(target), "%s", job_file(jobs[0], "job.json"));
	CHECK(symlink(target, job_file(k, "job.json")) == 0);
	job_poll(k);
	CHECK(k->q.state == JOB_UNKNOWN);
	unlink(job_file(k, "job.json"));
	CHECK(mkfifo(job_file(k, "supervisor.lock"), 0600) == 0);
	job_poll(k);
	CHECK(k->q.state == JOB_UNKNOWN);
	alarm(0);

	/* A file that cannot be read now: the whole poll fails, unchanged. */
	{
		struct rlimit old_lim, lim;
		int lowest = dup(0);

		CHECK(lowest >= 0 && getrlimit(RLIMIT_NOFILE, &old_lim) == 0);
		close(lowest);
		lim = old_lim;
		lim.rlim_cur = (rlim_t)lowest;
		qs[0] = jobs[0]->q;
		qs[0].state = JOB_PREEMPTED;       /* a marker */
		qs[1] = jobs[1]->q;
		CHECK(setrlimit(RLIMIT_NOFILE, &lim) == 0);
		CHECK(conn.ops->poll(&conn, qs, 2, err, sizeof(err)) == TFS_EIO);
		setrlimit(RLIMIT_NOFILE, &old_lim);
		CHECK(strstr(err, "cannot read") != NULL);
		CHECK(qs[0].state == JOB_PREEMPTED);
	}
}

/*
 * A FIFO the job leaves at exit.json in its directory blocks no poll, and
 * a job.json it spoils does not make it lost while its supervisor lives:
 * it still runs, and cancel still reaches it.
 */
static void test_fifo_exit(void)
{
	struct job *j = job_new("fifo-exit", NULL);

	snprintf(j->script, sizeof(j->script),
		 "mkfifo exit.json; touch ready; "
		 "while [ ! -e go ]; do sleep 0.02; done; "
		 "until grep -q '\"exec_ms\":[1-9]' job.json; do sleep 0.02; "
		 "done; echo garbage > job.json; touch spoilt; sleep 100");
	CHECK(job_submit(j) == 0);
	CHECK(wait_file(job_file(j, "ready")));
	alarm(20);
	job_poll(j);
	alarm(0);
	CHECK(j->q.state == JOB_RUNNING);
	CHECK(job_signal(j, JOB_SIG_PAUSE, 0) == 0);
	CHECK(wait_state(j, JOB_PAUSED));
	CHECK(job_signal(j, JOB_SIG_RESUME, 0) == 0);
	touch(job_file(j, "go"));
	/* Its job.json spoilt: still running while S lives, not lost. */
	CHECK(wait_file(job_file(j, "spoilt")));
	job_poll(j);
	CHECK(j->q.state == JOB_RUNNING);
	/* and cancel still reaches it */
	CHECK(job_cancel(j, 1) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_STOPPED);
}

/*
 * The job's environment: a small base, never the daemon's other
 * variables (secrets); what the provider config passes or sets.
 */
static void test_env_base(void)
{
	struct job *j = job_new("env-base", NULL), *k = job_new("env-conf",
								NULL);
	char err[256] = "";

	setenv("SECRET_TOKEN", "hunter2-secret", 1);
	setenv("PASSED_ON", "passed", 1);
	snprintf(j->script, sizeof(j->script), "env");
	CHECK(job_submit(j) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	CHECK(!file_contains(j->log, "hunter2-secret"));
	CHECK(!file_contains(j->log, "PASSED_ON"));
	CHECK(file_contains(j->log, "\nPATH=") || file_contains(j->log,
								  "PATH="));
	if (getenv("HOME"))
		CHECK(file_contains(j->log, "HOME="));

	conn.ops->release(&conn);
	CHECK(init_conn("{\"pass_env\":[\"PASSED_ON\"],\"env\":"
			"{\"SET_HERE\":\"yes\",\"PATH\":\"/usr/bin:/bin\"}}",
			err, sizeof(err)) == 0);
	snprintf(k->script, sizeof(k->script), "env");
	CHECK(job_submit(k) == 0);
	CHECK(wait_terminal(k));
	CHECK(k->q.state == JOB_COMPLETED);
	CHECK(file_contains(k->log, "PASSED_ON=passed\n"));
	CHECK(file_contains(k->log, "SET_HERE=yes\n"));
	CHECK(file_contains(k->log, "PATH=/usr/bin:/bin\n"));
	CHECK(!file_contains(k->log, "hunter2-secret"));
	conn.ops->release(&conn);
	CHECK(init_conn("{\"pass_env\":[\"1BAD\"]}", err, sizeof(err)) ==
	      TFS_EINVAL);
	CHECK(strstr(err, "'pass_env' entry '1BAD'") != NULL);
	CHECK(init_conn("{\"env\":{\"X\":1}}", err, sizeof(err)) == TFS_EINVAL);
	CHECK(init_conn("{\"env\":[]}", err, sizeof(err)) == TFS_EINVAL);
	CHECK(init_conn(NULL, err, sizeof(err)) == 0);
	unsetenv("SECRET_TOKEN");
	unsetenv("PASSED_ON");
}

struct art_seen {
	char files[8][64];
	char skips[8][256];
	int nfiles, nskips;
};

static int art_cb(void *arg, const struct artifact_entry *a)
{
	struct art_seen *s = arg;

	if (a->skipped && s->nskips < 8)
		snprintf(s->skips[s->nskips++], 256, "%s", a->skipped);
	else if (!a->skipped && s->nfiles < 8)
		snprintf(s->files[s->nfiles++], 64, "%s", a->path);
	return 0;
}

static int seen_skip(const struct art_seen *s, const char *text)
{
	int i;

	for (i = 0; i < s->nskips; i++)
		if (strstr(s->skips[i], text))
			return 1;
	return 0;
}

/*
 * The manifest: what the output directory holds, regular files only, the
 * rest named in notes; a manifest.json the job (or anyone) wrote is used
 * only while it still describes the output.
 */
static void test_artifacts(void)
{
	struct job *j = job_new("artifacts", NULL);
	struct art_seen seen;
	char err[256] = "";
	const char *forged = "[{\"path\":\"../../../../etc/passwd\","
			     "\"size\":1,\"sha256\":\"00000000000000000000"
			     "000000000000000000000000000000000000000000000\"}]";

	snprintf(j->script, sizeof(j->script),
		 "mkdir output && cd output && echo real > real.txt && "
		 "echo odd > \"$(printf 'a\\nb')\" && "
		 "ln -s /etc/passwd link && mkfifo pipe && cd .. && "
		 "printf '%%s' '%s' > manifest.json", forged);
	CHECK(job_submit(j) == 0);
	CHECK(wait_terminal(j));
	CHECK(j->q.state == JOB_COMPLETED);
	memset(&seen, 0, sizeof(seen));
	CHECK(conn.ops->list_artifacts(&conn, &j->q, art_cb, &seen, err,
				       sizeof(err)) == 0);
	CHECK(seen.nfiles == 1);
	CHECK_STR(seen.files[0], "real.txt");
	CHECK(seen_skip(&seen, "skipped 'a\\u000ab': its name has a "
			"control character"));
	CHECK(seen_skip(&seen, "skipped 'link': a symbolic link"));
	CHECK(seen_skip(&seen, "skipped 'pipe': a FIFO"));

	/* Forged after the fact, or made a link: not taken either. */
	file_write_atomic(job_file(j, "manifest.json"), forged,
			  strlen(forged), 0);
	memset(&seen, 0, sizeof(seen));
	CHECK(conn.ops->list_artifacts(&conn, &j->q, art_cb, &seen, err,
				       sizeof(err)) == 0);
	CHECK(seen.nfiles == 1);
	CHECK_STR(seen.files[0], "real.txt");
	unlink(job_file(j, "manifest.json"));
	CHECK(symlink("/etc/passwd", job_file(j, "manifest.json")) == 0);
	memset(&seen, 0, sizeof(seen));
	CHECK(conn.ops->list_artifacts(&conn, &j->q, art_cb, &seen, err,
				       sizeof(err)) == 0);
	CHECK(seen.nfiles == 1);
	/* A file changed since the manifest was made: made again. */
	file_write_atomic(job_file(j, "output/real.txt"), "longer now\n", 11,
			  0);
	memset(&seen, 0, sizeof(seen));
	CHECK(conn.ops->list_artifacts(&conn, &j->q, art_cb, &seen, err,
				       sizeof(err)) == 0);
	CHECK(file_contains(job_file(j, "manifest.json"), "\"size\":11"));
}

/* Ends whatever a failed check left running, then removes the tree. */
static void cleanup(void)
{
	int i;

	for (i = 0; i < njobs; i++) {
		char err[256];

		/* Quietly: test_bad_files() left one that cannot be polled. */
		if (!conn.ops->poll(&conn, &jobs[i]->q, 1, err, sizeof(err)) &&
		    !job_state_terminal(jobs[i]->q.state) &&
		    jobs[i]->q.state != JOB_UNKNOWN) {
			job_cancel(jobs[i], 1);
			wait_terminal(jobs[i]);
		}
		free(jobs[i]);
	}
	conn.ops->release(&conn);
	rm_rf(root);
}

int main(void)
{
	char tmpl[] = "/tmp/test_local.XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(root, sizeof(root), "%s", tmpl);
	/* The lost-supervisor test provokes a warning; it is expected. */
	log_set_level(LOG_ERR);
	test_registry();
	test_init();
	test_exit_code();
	test_env();
	test_idempotent();
	test_pause();
	test_cancel();
	test_missing();
	test_restart();
	test_supervisor_lost();
	test_signals();
	test_slow_start();
	test_cgroup();
	test_no_cgroup();
	test_legacy_supervisor();
	test_sample();
	test_bad_files();
	test_fifo_exit();
	test_env_base();
	test_artifacts();
	cleanup();
	return TEST_REPORT();
}
