/*
 * notify.c - tells a user that a run changed state: runs their command
 * and/or POSTs JSON to their webhook. One thread does every delivery, and
 * it never waits on any single one: transfers run side by side on an
 * http_multi (lib/http) and commands are children watched between polls,
 * so a webhook that never answers or a command that takes its full 30 s
 * delays nothing else. notifier_send() only copies and takes the lock for
 * a heap insertion. Deliveries wait in a heap ordered by due time; a failed
 * webhook attempt goes back in with a doubled delay (or the server's
 * Retry-After), a command runs once (running it again could repeat a side
 * effect such as a message).
 * See notify.h for the contract.
 */
#define _GNU_SOURCE
#include "notify.h"
#include "http.h"
#include "secret.h"
#include "state.h"
#include "strvec.h"
#include "util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define NOTIFY_DEFAULT_ATTEMPTS 5
#define NOTIFY_DEFAULT_BACKOFF_MS 1000
/* The doubling stops here, so a large max_attempts cannot overflow it;
 * a webhook's Retry-After is honoured up to it too. */
#define NOTIFY_BACKOFF_CAP_MS (10 * 60 * 1000)
#define NOTIFY_HTTP_TIMEOUT_MS 10000
#define NOTIFY_MAX_REDIRS 3
#define NOTIFY_CMD_TIMEOUT_MS 30000
/* Deliveries in progress at once: each holds a socket or a child. */
#define NOTIFY_ACTIVE_MAX 16
/*
 * How often a running command is looked at: exits are found by waitpid()
 * between polls rather than by SIGCHLD, which belongs to the whole daemon.
 */
#define NOTIFY_CMD_TICK_MS 20
/* The longest sleep with nothing due; senders wake the thread anyway. */
#define NOTIFY_IDLE_MS 60000
/* Run and state names as given to a command; ours are far shorter. */
#define NOTIFY_NAME_MAX 256
/* A command's name as logged. */
#define NOTIFY_SHOWN_MAX 256
/* Longest user key quoted in a reason: keeps the reason one short line. */
#define NOTIFY_KEY_SHOWN 64

enum notify_kind {
	NOTIFY_WEBHOOK,
	NOTIFY_COMMAND,
};

/* One delivery to one channel: a send to both queues two of these. */
struct notify_job {
	enum notify_kind kind;
	char **argv;             /* NOTIFY_COMMAND: owned copy */
	char *url;               /* NOTIFY_WEBHOOK: owned copy */
	char *body;              /* owned, NUL-terminated */
	size_t len;
	char *run;
	char *state;
	int attempts;            /* started so far */
	int64_t due;             /* mono_ms() */
	uint64_t seq;            /* order of sending: FIFO among equal due
				    times, and the oldest is dropped first */
	/* While active; touched by the delivery thread only. */
	pid_t pid;
	int wfd;                 /* write end of the child's stdin, or -1 */
	size_t written;
	int64_t deadline;        /* mono_ms() when the child is killed */
};

/*
 * Lock order: lock, then (inside log_msg()) the log lock. The lock is never
 * held across a transfer, a spawn or a wait.
 */
struct notifier {
	pthread_mutex_t lock;
	struct notify_job **heap;  /* protected by lock; NOTIFY_QUEUE_MAX
				      slots, a min-heap on (due, seq) */
	size_t nheap;              /* protected by lock */
	uint64_t seq;              /* protected by lock */
	int stop;                  /* protected by lock */
	uint64_t delivered;        /* protected by lock */
	uint64_t failed;           /* protected by lock */
	atomic_int aborting;       /* read by http callbacks, lock-free */
	struct http_multi *multi;  /* the thread's; http_multi_wakeup() is
				      the only call others make on it */
	struct notify_job *active[NOTIFY_ACTIVE_MAX]; /* the thread's */
	int nactive;
	struct http_retry retry;   /* max_attempts, backoff: every failure of
				      a webhook is tried again */
	pthread_t thread;
};

/* ---- targets ---- */

static const char *const notify_keys[] = { "command", "webhook", "on", NULL };

/* Writes the reason and returns TFS_EINVAL, so checks can `return`. */
static int __attribute__((format(printf, 3, 4)))
notify_fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (!err || !errlen)
		return TFS_EINVAL;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	/* Keys are user bytes; the reason must stay one line in `events`. */
	for (p = err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return TFS_EINVAL;
}

/* The enum run_state value called name, or -1. */
static int notify_state_index(const char *name)
{
	int s;

	for (s = 0; s < RS_MAX; s++)
		if (strcmp(run_state_name(s), name) == 0)
			return s;
	return -1;
}

/*
 * http(s)://host..., no blanks or control bytes. curl parses the rest; this
 * only keeps file://, gopher:// and friends out before anything is stored.
 */
static int notify_url_valid(const char *u)
{
	size_t skip;
	const char *p;

	if (strlen(u) > NOTIFY_URL_MAX)
		return 0;
	if (strncasecmp(u, "http://", 7) == 0)
		skip = 7;
	else if (strncasecmp(u, "https://", 8) == 0)
		skip = 8;
	else
		return 0;
	if (!u[skip] || strchr("/?#:@", u[skip]))
		return 0;       /* no host */
	for (p = u; *p; p++)
		if ((unsigned char)*p <= 0x20 || *p == 0x7f)
			return 0;
	return 1;
}

static int notify_parse_command(const cJSON *it, struct notify_target *out,
				char *err, size_t errlen)
{
	const cJSON *m;
	int n, i = 0;

	n = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;
	if (n == 0)
		return notify_fail(err, errlen,
				   "'notify.command' must be a non-empty array of strings");
	if (n > NOTIFY_ARGS_MAX)
		return notify_fail(err, errlen,
				   "'notify.command' has more than %d arguments",
				   NOTIFY_ARGS_MAX);
	out->command = xcalloc((size_t)n + 1, sizeof(*out->command));
	cJSON_ArrayForEach(m, it) {
		if (!cJSON_IsString(m) ||
		    strlen(m->valuestring) > NOTIFY_ARG_MAX)
			return notify_fail(err, errlen,
					   "'notify.command[%d]' must be a string of at most %d bytes",
					   i, NOTIFY_ARG_MAX);
		out->command[i++] = xstrdup(m->valuestring);
	}
	if (!out->command[0][0])
		return notify_fail(err, errlen,
				   "'notify.command[0]' must not be empty");
	return TFS_OK;
}

static int notify_parse_on(const cJSON *it, unsigned *on, char *err,
			   size_t errlen)
{
	const cJSON *m;
	int i = 0, s;

	if (!cJSON_IsArray(it) || !cJSON_GetArraySize(it))
		return notify_fail(err, errlen,
				   "'notify.on' must be a non-empty array of run states");
	*on = 0;
	cJSON_ArrayForEach(m, it) {
		s = cJSON_IsString(m) ? notify_state_index(m->valuestring) : -1;
		if (s < 0)
			return notify_fail(err, errlen,
					   "'notify.on[%d]' must be one of created, queued, initializing, running, paused, completed, failed, stopped",
					   i);
		*on |= 1u << s;
		i++;
	}
	return TFS_OK;
}

/* Does the work of notify_parse(); out is released by the caller on error. */
static int notify_parse_into(const cJSON *obj, struct notify_target *out,
			     char *err, size_t errlen)
{
	const cJSON *m, *it;
	int seen[3] = { 0, 0, 0 }, i, rc;

	if (!cJSON_IsObject(obj))
		return notify_fail(err, errlen, "'notify' must be an object");
	/* Counting keeps a hostile object of 100k "on"s linear. */
	cJSON_ArrayForEach(m, obj) {
		for (i = 0; notify_keys[i]; i++)
			if (strcmp(notify_keys[i], m->string) == 0)
				break;
		if (!notify_keys[i])
			return notify_fail(err, errlen,
					   "unknown key 'notify.%.*s'",
					   NOTIFY_KEY_SHOWN, m->string);
		if (seen[i]++)
			return notify_fail(err, errlen,
					   "duplicate key 'notify.%s'",
					   notify_keys[i]);
	}
	it = cJSON_GetObjectItemCaseSensitive(obj, "command");
	if (it && (rc = notify_parse_command(it, out, err, errlen)))
		return rc;
	it = cJSON_GetObjectItemCaseSensitive(obj, "webhook");
	if (it && !(cJSON_IsString(it) && notify_url_valid(it->valuestring)))
		return notify_fail(err, errlen,
				   "'notify.webhook' must be an http:// or https:// URL of at most %d bytes",
				   NOTIFY_URL_MAX);
	out->webhook = it ? xstrdup(it->valuestring) : NULL;
	out->on = (1u << RS_COMPLETED) | (1u << RS_FAILED);
	it = cJSON_GetObjectItemCaseSensitive(obj, "on");
	if (it && (rc = notify_parse_on(it, &out->on, err, errlen)))
		return rc;
	if (!out->command && !out->webhook)
		return notify_fail(err, errlen,
				   "'notify' needs 'notify.command' or 'notify.webhook'");
	return TFS_OK;
}

int notify_parse(const cJSON *obj, struct notify_target *out, char *err,
		 size_t errlen)
{
	int rc;

	memset(out, 0, sizeof(*out));
	if (err && errlen)
		err[0] = '\0';
	rc = notify_parse_into(obj, out, err, errlen);
	if (rc)
		notify_target_release(out);
	return rc;
}

void notify_target_release(struct notify_target *t)
{
	char **a;

	if (!t)
		return;
	for (a = t->command; a && *a; a++)
		free(*a);
	free(t->command);
	free(t->webhook);
	memset(t, 0, sizeof(*t));
}

void notify_target_copy(struct notify_target *dst,
			const struct notify_target *src)
{
	dst->command = strv_dup(src->command);
	dst->webhook = src->webhook ? xstrdup(src->webhook) : NULL;
	dst->on = src->on;
}

int notify_wants(const struct notify_target *t, int state)
{
	return t && (t->command || t->webhook) && state >= 0 &&
	       state < RS_MAX && (t->on & (1u << state));
}

/* ---- the queue ---- */

static void notify_job_free(struct notify_job *j)
{
	if (!j)
		return;
	strv_free(j->argv);
	free(j->url);
	free(j->body);
	free(j->run);
	free(j->state);
	free(j);
}

/* The job's subject for logs, e.g. "webhook 'http://h/x' for run 'r'". */
static void notify_job_name(const struct notify_job *j, char *out,
			    size_t outlen)
{
	char shown[SECRET_URL_SHOWN_MAX + 64];

	if (j->kind == NOTIFY_WEBHOOK) {
		secret_url_shown(j->url, shown, sizeof(shown));
		snprintf(out, outlen, "webhook '%s' for run '%s' (%s)", shown,
			 j->run, j->state);
	} else {
		snprintf(out, outlen, "command '%.*s' for run '%s' (%s)",
			 NOTIFY_SHOWN_MAX, j->argv[0], j->run, j->state);
	}
}

static int notify_before(const struct notify_job *a,
			 const struct notify_job *b)
{
	return a->due < b->due || (a->due == b->due && a->seq < b->seq);
}

static void notify_sift_up_locked(struct notifier *n, size_t i)
{
	struct notify_job *j = n->heap[i];

	while (i > 0 && notify_before(j, n->heap[(i - 1) / 2])) {
		n->heap[i] = n->heap[(i - 1) / 2];
		i = (i - 1) / 2;
	}
	n->heap[i] = j;
}

static void notify_sift_down_locked(struct notifier *n, size_t i)
{
	struct notify_job *j = n->heap[i];
	size_t c;

	for (;;) {
		c = 2 * i + 1;
		if (c >= n->nheap)
			break;
		if (c + 1 < n->nheap &&
		    notify_before(n->heap[c + 1], n->heap[c]))
			c++;
		if (!notify_before(n->heap[c], j))
			break;
		n->heap[i] = n->heap[c];
		i = c;
	}
	n->heap[i] = j;
}

/* Takes heap[i] out and returns it. */
static struct notify_job *notify_remove_locked(struct notifier *n, size_t i)
{
	struct notify_job *j = n->heap[i];

	n->nheap--;
	if (i < n->nheap) {
		n->heap[i] = n->heap[n->nheap];
		notify_sift_up_locked(n, i);
		notify_sift_down_locked(n, i);
	}
	return j;
}

/*
 * Queues j (the heap takes it). A full heap first loses the job sent
 * longest ago, which is counted failed: a flood of state changes must not
 * grow the daemon without bound, and the newest news is the most useful.
 */
static void notify_push_locked(struct notifier *n, struct notify_job *j)
{
	struct notify_job *old;
	char name[2 * NOTIFY_SHOWN_MAX];
	size_t i, oldest = 0;

	if (n->nheap >= NOTIFY_QUEUE_MAX) {
		/* A linear scan, but only on overflow. */
		for (i = 1; i < n->nheap; i++)
			if (n->heap[i]->seq < n->heap[oldest]->seq)
				oldest = i;
		old = notify_remove_locked(n, oldest);
		notify_job_name(old, name, sizeof(name));
		log_msg(LOG_WARNING, "notification queue full: dropped the %s",
			name);
		n->failed++;
		notify_job_free(old);
	}
	n->heap[n->nheap++] = j;
	notify_sift_up_locked(n, n->nheap - 1);
}

/* A job for one channel of t, or NULL when out of memory (logged). */
static struct notify_job *notify_job_new(enum notify_kind kind,
					 const struct notify_target *t,
					 const char *body, size_t len,
					 const char *run, const char *state)
{
	struct notify_job *j = xcalloc(1, sizeof(*j));

	j->kind = kind;
	/* Up to NOTIFY_BODY_MAX: too big for xmalloc()'s abort on failure. */
	j->body = malloc(len + 1);
	if (!j->body) {
		log_msg(LOG_ERR, "out of memory queueing a notification for run '%s'",
			run);
		free(j);
		return NULL;
	}
	memcpy(j->body, body, len + 1);
	j->len = len;
	if (kind == NOTIFY_COMMAND)
		j->argv = strv_dup(t->command);
	else
		j->url = xstrdup(t->webhook);
	/* util's xstrndup() copies n bytes whatever strlen() is. */
	j->run = xstrndup(run, strnlen(run, NOTIFY_NAME_MAX));
	j->state = xstrndup(state, strnlen(state, NOTIFY_NAME_MAX));
	j->pid = -1;
	j->wfd = -1;
	return j;
}

void notifier_send(struct notifier *n, const struct notify_target *t,
		   const char *body, const char *run_name, const char *state)
{
	struct notify_job *jobs[2];
	size_t len;
	int nj = 0, i;

	if (!n || !t || !body)
		return;
	run_name = run_name ? run_name : "";
	state = state ? state : "";
	len = strlen(body);
	if (len > NOTIFY_BODY_MAX) {
		log_msg(LOG_WARNING, "notification for run '%.*s' not sent: body larger than %d bytes",
			NOTIFY_NAME_MAX, run_name, NOTIFY_BODY_MAX);
		pthread_mutex_lock(&n->lock);
		n->failed++;
		pthread_mutex_unlock(&n->lock);
		return;
	}
	if (t->command)
		jobs[nj++] = notify_job_new(NOTIFY_COMMAND, t, body, len,
					    run_name, state);
	if (t->webhook)
		jobs[nj++] = notify_job_new(NOTIFY_WEBHOOK, t, body, len,
					    run_name, state);
	pthread_mutex_lock(&n->lock);
	for (i = 0; i < nj; i++) {
		if (!jobs[i]) {
			n->failed++;
		} else if (n->stop) {
			notify_job_free(jobs[i]);
		} else {
			jobs[i]->due = mono_ms();
			jobs[i]->seq = n->seq++;
			notify_push_locked(n, jobs[i]);
		}
	}
	pthread_mutex_unlock(&n->lock);
	http_multi_wakeup(n->multi);
}

void notifier_stats(struct notifier *n, uint64_t *delivered,
		    uint64_t *failed)
{
	pthread_mutex_lock(&n->lock);
	if (delivered)
		*delivered = n->delivered;
	if (failed)
		*failed = n->failed;
	pthread_mutex_unlock(&n->lock);
}

/* Counts j delivered or failed and frees it. */
static void notify_done(struct notifier *n, struct notify_job *j, int ok)
{
	pthread_mutex_lock(&n->lock);
	if (ok)
		n->delivered++;
	else
		n->failed++;
	pthread_mutex_unlock(&n->lock);
	notify_job_free(j);
}

static void notify_active_remove(struct notifier *n, struct notify_job *j)
{
	int i;

	for (i = 0; i < n->nactive; i++) {
		if (n->active[i] == j) {
			n->active[i] = n->active[--n->nactive];
			return;
		}
	}
}

/* ---- webhooks ---- */

/* A non-zero return aborts the transfer: notifier_free() is waiting. */
static int notify_cancelled_cb(void *arg)
{
	struct notifier *n = arg;

	return atomic_load_explicit(&n->aborting, memory_order_relaxed);
}

/* Adds j's POST to the multi handle. Returns TFS_OK or an error. */
static int notify_http_start(struct notifier *n, struct notify_job *j)
{
	static const char *const headers[] = {
		"Content-Type: application/json", NULL
	};
	struct http_request rq = {
		.method = "POST",
		.url = j->url,
		.headers = headers,
		.body = j->body,
		.body_len = j->len,
		.discard = 1,
		.timeout_ms = NOTIFY_HTTP_TIMEOUT_MS,
		.max_redirs = NOTIFY_MAX_REDIRS,
		.cancelled = notify_cancelled_cb,
		.arg = n,
	};

	return http_multi_add(n->multi, &rq, j);
}

/* One attempt of j ended with r. */
static void notify_http_done(struct notifier *n, struct notify_job *j,
			     const struct http_response *r)
{
	char name[2 * NOTIFY_SHOWN_MAX], why[HTTP_ERROR_MAX];
	int64_t delay;

	notify_active_remove(n, j);
	if (r->fail == HTTP_FAIL_NONE) {
		notify_done(n, j, 1);
		return;
	}
	/* Aborted for notifier_free(): back in the queue to be given up
	 * with the rest, not reported as an attempt that failed. */
	if (atomic_load(&n->aborting)) {
		pthread_mutex_lock(&n->lock);
		notify_push_locked(n, j);
		pthread_mutex_unlock(&n->lock);
		return;
	}
	/* the log line names the URL already */
	if (r->fail == HTTP_FAIL_STATUS)
		snprintf(why, sizeof(why), "HTTP status %ld", r->status);
	else
		snprintf(why, sizeof(why), "%s", r->error);
	notify_job_name(j, name, sizeof(name));
	if (j->attempts >= n->retry.max_attempts ||
	    !http_retryable(&n->retry, r->fail, r->status)) {
		log_msg(LOG_WARNING, "%s not delivered after %d attempts: %s",
			name, j->attempts, why);
		notify_done(n, j, 0);
		return;
	}
	delay = http_backoff_ms(&n->retry, j->attempts, r->retry_after_ms, 0);
	log_msg(LOG_INFO, "%s: attempt %d of %d failed (%s), retrying in %lld ms",
		name, j->attempts, n->retry.max_attempts, why,
		(long long)delay);
	pthread_mutex_lock(&n->lock);
	j->due = mono_ms() + delay;
	notify_push_locked(n, j);
	pthread_mutex_unlock(&n->lock);
}

/* Hands every finished transfer to notify_http_done(). */
static void notify_http_reap(struct notifier *n)
{
	struct http_response r;
	void *tag;

	while (http_multi_next(n->multi, &tag, &r)) {
		notify_http_done(n, tag, &r);
		http_response_release(&r);
	}
}

/* ---- commands ---- */

/*
 * The child's environment: a few of ours (PATH, HOME, the locale, our
 * TRAINFS_* ones less TRAINFS_NOTIFY_*), plus the run's two. Not the rest:
 * the daemon's environment holds providers' secrets (SLURM_JWT, API keys),
 * and a run's config.json may name the command. Built before the spawn
 * because setenv() in the child of a threaded program is not
 * async-signal-safe. The strings of environ are borrowed; *own gets the
 * two we allocated (caller frees them and the array).
 */
static char **notify_envp(const struct notify_job *j, char *own[2])
{
	static const char *const keep[] = {
		"PATH=", "HOME=", "USER=", "LOGNAME=", "LANG=", "LC_ALL=",
		"TZ=", "TMPDIR=", "SHELL=", NULL
	};
	size_t n = 0, i, k = 0, m;
	char **envp;

	while (environ && environ[n])
		n++;
	envp = xcalloc(n + 3, sizeof(*envp));
	for (i = 0; i < n; i++) {
		const char *e = environ[i];
		int ok = !strncmp(e, "TRAINFS_", 8) &&
			 strncmp(e, "TRAINFS_NOTIFY_RUN=", 19) &&
			 strncmp(e, "TRAINFS_NOTIFY_STATE=", 21);

		for (m = 0; !ok && keep[m]; m++)
			ok = !strncmp(e, keep[m], strlen(keep[m]));
		if (ok)
			envp[k++] = environ[i];
	}
	own[0] = xmalloc(strlen(j->run) + 20);
	sprintf(own[0], "TRAINFS_NOTIFY_RUN=%s", j->run);
	own[1] = xmalloc(strlen(j->state) + 22);
	sprintf(own[1], "TRAINFS_NOTIFY_STATE=%s", j->state);
	envp[k++] = own[0];
	envp[k] = own[1];
	return envp;
}

/*
 * Starts j's command: stdin a pipe we fill from j->body, stdout and stderr
 * /dev/null, no other fd of the daemon (it holds /dev/fuse and SQLite),
 * default signal handling and its own process group, so a timeout kills
 * what it started too. Returns 0 or an errno value.
 */
static int notify_cmd_start(struct notify_job *j)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t at;
	sigset_t none, dfl;
	char **envp, *own[2];
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) < 0)
		return errno;
	envp = notify_envp(j, own);
	sigemptyset(&none);
	sigemptyset(&dfl);
	sigaddset(&dfl, SIGPIPE);
	sigaddset(&dfl, SIGCHLD);
	sigaddset(&dfl, SIGHUP);
	sigaddset(&dfl, SIGINT);
	sigaddset(&dfl, SIGQUIT);
	sigaddset(&dfl, SIGTERM);
	rc = posix_spawn_file_actions_init(&fa);
	if (rc)
		goto out_env;
	rc = posix_spawnattr_init(&at);
	if (rc)
		goto out_fa;
	if ((rc = posix_spawn_file_actions_adddup2(&fa, p[0], 0)) ||
	    (rc = posix_spawn_file_actions_addopen(&fa, 1, "/dev/null",
						   O_WRONLY, 0)) ||
	    (rc = posix_spawn_file_actions_adddup2(&fa, 1, 2)) ||
	    (rc = posix_spawn_file_actions_addclosefrom_np(&fa, 3)) ||
	    (rc = posix_spawnattr_setflags(&at, POSIX_SPAWN_SETSIGMASK |
					   POSIX_SPAWN_SETSIGDEF |
					   POSIX_SPAWN_SETPGROUP)) ||
	    (rc = posix_spawnattr_setsigmask(&at, &none)) ||
	    (rc = posix_spawnattr_setsigdefault(&at, &dfl)) ||
	    (rc = posix_spawnattr_setpgroup(&at, 0)))
		goto out_at;
	/* The PATH search uses our PATH, before anything runs in the child. */
	rc = posix_spawnp(&j->pid, j->argv[0], &fa, &at, j->argv, envp);
out_at:
	posix_spawnattr_destroy(&at);
out_fa:
	posix_spawn_file_actions_destroy(&fa);
out_env:
	free(own[0]);
	free(own[1]);
	free(envp);
	close(p[0]);
	if (rc) {
		j->pid = -1;
		close(p[1]);
		return rc;
	}
	/* A child that never reads must not stall the thread. */
	fcntl(p[1], F_SETFL, fcntl(p[1], F_GETFL) | O_NONBLOCK);
	j->wfd = p[1];
	j->deadline = mono_ms() + NOTIFY_CMD_TIMEOUT_MS;
	return 0;
}

/*
 * A write to a pipe whose reader is gone raises SIGPIPE on this thread,
 * where it is blocked: take it off the pending set so it cannot reach the
 * daemon later.
 */
static void notify_eat_sigpipe(void)
{
	struct timespec zero = { 0, 0 };
	sigset_t set;

	sigemptyset(&set);
	sigaddset(&set, SIGPIPE);
	while (sigtimedwait(&set, NULL, &zero) == SIGPIPE)
		;
}

/* Feeds the child more of the body; closes stdin when done or refused. */
static void notify_cmd_write(struct notify_job *j)
{
	ssize_t w;

	while (j->wfd >= 0 && j->written < j->len) {
		w = write(j->wfd, j->body + j->written, j->len - j->written);
		if (w > 0) {
			j->written += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && errno == EAGAIN)
			return;
		/* EPIPE: the command did not want its input; its exit
		 * status still decides. */
		if (w < 0 && errno == EPIPE)
			notify_eat_sigpipe();
		break;
	}
	if (j->wfd >= 0) {
		close(j->wfd);
		j->wfd = -1;
	}
}

/*
 * Looks at a running command: writes, reaps, kills it past its deadline or
 * when the notifier is stopping. Finishes j (and returns 1) once the
 * child is gone.
 */
static int notify_cmd_step(struct notifier *n, struct notify_job *j,
			   int stopping)
{
	char name[2 * NOTIFY_SHOWN_MAX];
	int status = 0, killed = 0;
	pid_t r;

	notify_cmd_write(j);
	r = waitpid(j->pid, &status, WNOHANG);
	if (r == 0 && (stopping || mono_ms() >= j->deadline)) {
		kill(-j->pid, SIGKILL);
		kill(j->pid, SIGKILL);
		killed = 1;
		while ((r = waitpid(j->pid, &status, 0)) < 0 && errno == EINTR)
			;
	}
	if (r == 0 || (r < 0 && errno == EINTR))
		return 0;
	if (j->wfd >= 0) {
		close(j->wfd);
		j->wfd = -1;
	}
	notify_active_remove(n, j);
	if (stopping) {
		notify_job_free(j);
		return 1;
	}
	if (r > 0 && !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0) {
		notify_done(n, j, 1);
		return 1;
	}
	notify_job_name(j, name, sizeof(name));
	if (killed)
		log_msg(LOG_WARNING, "%s killed after %d s", name,
			NOTIFY_CMD_TIMEOUT_MS / 1000);
	else if (r < 0)
		/* ECHILD: someone set SIGCHLD to SIG_IGN or reaped it. */
		log_msg(LOG_WARNING, "%s: exit status lost: %s", name,
			strerror(errno));
	else if (WIFEXITED(status))
		log_msg(LOG_WARNING, "%s failed with exit status %d", name,
			WEXITSTATUS(status));
	else
		log_msg(LOG_WARNING, "%s killed by signal %d", name,
			WTERMSIG(status));
	notify_done(n, j, 0);
	return 1;
}

/* ---- the thread ---- */

static void notify_sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* Starts j (already in n->active); a job that cannot start is finished. */
static void notify_start(struct notifier *n, struct notify_job *j)
{
	char name[2 * NOTIFY_SHOWN_MAX];
	int rc;

	j->attempts++;
	if (j->kind == NOTIFY_WEBHOOK) {
		if (notify_http_start(n, j) == TFS_OK)
			return;
		notify_job_name(j, name, sizeof(name));
		log_msg(LOG_ERR, "%s: cannot set up the transfer", name);
	} else {
		rc = notify_cmd_start(j);
		if (!rc)
			return;
		notify_job_name(j, name, sizeof(name));
		log_msg(LOG_WARNING, "%s cannot run: %s", name, strerror(rc));
	}
	notify_active_remove(n, j);
	notify_done(n, j, 0);
}

/*
 * Moves due jobs into active (unlocked by the caller afterwards) and
 * returns how long to sleep at most.
 */
static int notify_take_due_locked(struct notifier *n,
				  struct notify_job **started, int *nstarted)
{
	int64_t now = mono_ms(), wait;

	*nstarted = 0;
	while (n->nactive < NOTIFY_ACTIVE_MAX && n->nheap &&
	       n->heap[0]->due <= now) {
		struct notify_job *j = notify_remove_locked(n, 0);

		n->active[n->nactive++] = j;
		started[(*nstarted)++] = j;
	}
	/* With every slot taken a due job waits for a slot, not a clock. */
	if (!n->nheap || n->nactive >= NOTIFY_ACTIVE_MAX)
		return NOTIFY_IDLE_MS;
	wait = n->heap[0]->due - now;
	return wait < 0 ? 0 : wait > NOTIFY_IDLE_MS ? NOTIFY_IDLE_MS : (int)wait;
}

/* At the stop: aborts what runs, drops what waits, says how many. */
static void notify_give_up(struct notifier *n)
{
	size_t lost = 0;

	while (n->nactive) {
		struct notify_job *j = n->active[0];

		lost++;
		if (j->kind == NOTIFY_WEBHOOK) {
			http_multi_remove(n->multi, j);
			notify_active_remove(n, j);
			notify_job_free(j);
		} else {
			notify_cmd_step(n, j, 1);
		}
	}
	pthread_mutex_lock(&n->lock);
	while (n->nheap) {
		notify_job_free(notify_remove_locked(n, n->nheap - 1));
		lost++;
	}
	pthread_mutex_unlock(&n->lock);
	if (lost)
		log_msg(LOG_WARNING, "notifier stopping: %zu pending notification%s given up",
			lost, lost == 1 ? "" : "s");
}

static void *notify_main(void *arg)
{
	struct notifier *n = arg;
	struct notify_job *started[NOTIFY_ACTIVE_MAX];
	struct pollfd fds[NOTIFY_ACTIVE_MAX];
	sigset_t pipe_set;
	int i, nstarted, nfds, timeout, cmds;

	/* Writes to a child's stdin may raise SIGPIPE, and lib/http leaves
	 * signals alone (CURLOPT_NOSIGNAL): keep it off this thread. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, NULL);

	for (;;) {
		pthread_mutex_lock(&n->lock);
		if (n->stop) {
			pthread_mutex_unlock(&n->lock);
			break;
		}
		timeout = notify_take_due_locked(n, started, &nstarted);
		pthread_mutex_unlock(&n->lock);

		for (i = 0; i < nstarted; i++)
			notify_start(n, started[i]);

		nfds = 0;
		cmds = 0;
		for (i = 0; i < n->nactive; i++) {
			if (n->active[i]->kind != NOTIFY_COMMAND)
				continue;
			cmds++;
			if (n->active[i]->wfd < 0)
				continue;
			fds[nfds].fd = n->active[i]->wfd;
			fds[nfds].events = POLLOUT;
			fds[nfds].revents = 0;
			nfds++;
		}
		if (cmds && timeout > NOTIFY_CMD_TICK_MS)
			timeout = NOTIFY_CMD_TICK_MS;
		/* Returns early for curl's own timers, a writable pipe, or
		 * http_multi_wakeup() from notifier_send()/notifier_free().
		 * Only out of memory fails it: do not spin on that. */
		if (http_multi_poll(n->multi, fds, (unsigned)nfds, timeout))
			notify_sleep_ms(100);
		notify_http_reap(n);

		for (i = 0; i < n->nactive; )
			if (n->active[i]->kind != NOTIFY_COMMAND ||
			    !notify_cmd_step(n, n->active[i], 0))
				i++;
	}
	notify_give_up(n);
	return NULL;
}

struct notifier *notifier_new(int max_attempts, int backoff_ms)
{
	struct notifier *n = calloc(1, sizeof(*n));

	if (!n)
		return NULL;
	n->retry.max_attempts = max_attempts > 0 ? max_attempts :
				NOTIFY_DEFAULT_ATTEMPTS;
	n->retry.backoff_ms = backoff_ms > 0 ? backoff_ms :
			      NOTIFY_DEFAULT_BACKOFF_MS;
	n->retry.backoff_max_ms = NOTIFY_BACKOFF_CAP_MS;
	n->retry.retry_after_max_ms = NOTIFY_BACKOFF_CAP_MS;
	/* a command cannot be asked twice, a webhook can: whatever went
	 * wrong, a later POST may get through */
	n->retry.on = HTTP_RETRY_ALL;
	atomic_init(&n->aborting, 0);
	n->heap = calloc(NOTIFY_QUEUE_MAX, sizeof(*n->heap));
	n->multi = http_multi_new();
	if (!n->heap || !n->multi)
		goto fail;
	if (pthread_mutex_init(&n->lock, NULL))
		goto fail;
	if (pthread_create(&n->thread, NULL, notify_main, n)) {
		pthread_mutex_destroy(&n->lock);
		goto fail;
	}
	return n;
fail:
	log_msg(LOG_ERR, "cannot start the notifier");
	http_multi_free(n->multi);
	free(n->heap);
	free(n);
	return NULL;
}

void notifier_free(struct notifier *n)
{
	if (!n)
		return;
	pthread_mutex_lock(&n->lock);
	n->stop = 1;
	pthread_mutex_unlock(&n->lock);
	atomic_store(&n->aborting, 1);
	http_multi_wakeup(n->multi);
	pthread_join(n->thread, NULL);
	http_multi_free(n->multi);
	pthread_mutex_destroy(&n->lock);
	free(n->heap);
	free(n);
}
