/*
 * test_notify.c - notify_parse() and the notifier on real parts, no mocks:
 * a small HTTP server on 127.0.0.1 in a thread of this program answers
 * each request with the status the case chose (500, 500, then 200; a 429
 * with Retry-After; or never), and commands are real children of sh.
 * Checked: the POST body and Content-Type, retries with growing gaps, a
 * Retry-After honoured, giving up after max_attempts with a log line that
 * keeps the query out, a hanging webhook that holds up neither another
 * target nor notifier_free(), a command's stdin and environment, a failing
 * or missing command, one that never reads a large body (SIGPIPE must not
 * reach us), the queue bound, and the parser's refusals.
 */
#define _GNU_SOURCE
#include "notify.h"
#include "state.h"
#include "util.h"
#include "test.h"
#include "capture.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SRV_REQS 32
#define SRV_HUNG 64
#define SRV_REQ_MAX (2 * 1024 * 1024)
#define BACKOFF_MS 50

static char tmpdir[PATH_MAX];

/* One request as the server saw it. */
struct srv_req {
	char method[16];
	char path[256];
	char ctype[128];
	char *body;
	size_t len;
	int64_t at;             /* mono_ms() when it was complete */
};

/*
 * The HTTP server: statuses[i] answers request i (the last one repeats);
 * a status of 0 means never answer (the connection stays open until
 * srv_stop()).
 */
struct srv {
	int fd;
	int port;
	pthread_t thread;
	pthread_mutex_t lock;
	int statuses[8];
	int nstatus;
	struct srv_req reqs[SRV_REQS];  /* protected by lock */
	int nreq;                       /* protected by lock */
	int hung[SRV_HUNG];             /* the server thread's */
	int nhung;
	atomic_int stop;
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/*
 * Reads one request from c into r. Returns 0, or -1 on EOF, a timeout or
 * garbage. The body is complete when Content-Length bytes follow the head.
 */
static int srv_read(int c, struct srv_req *r)
{
	struct buf b = BUF_INIT(SRV_REQ_MAX);
	struct pollfd p = { c, POLLIN, 0 };
	char chunk[4096], *end, *h;
	size_t head = 0, clen = 0;
	ssize_t got;

	for (;;) {
		if (head && b.len >= head + clen)
			break;
		if (poll(&p, 1, 5000) <= 0)
			goto fail;
		got = read(c, chunk, sizeof(chunk));
		if (got <= 0 || buf_append(&b, chunk, (size_t)got))
			goto fail;
		if (head || !(end = strstr(b.p, "\r\n\r\n")))
			continue;
		head = (size_t)(end - b.p) + 4;
		h = strcasestr(b.p, "\r\ncontent-length:");
		if (h && h < end)
			clen = strtoul(h + 17, NULL, 10);
		h = strcasestr(b.p, "\r\ncontent-type:");
		if (h && h < end)
			sscanf(h + 15, " %127[^\r\n]", r->ctype);
	}
	sscanf(b.p, "%15s %255s", r->method, r->path);
	r->len = clen;
	r->body = xmalloc(clen + 1);
	memcpy(r->body, b.p + head, clen);
	r->body[clen] = '\0';
	r->at = mono_ms();
	buf_release(&b);
	return 0;
fail:
	buf_release(&b);
	return -1;
}

static void *srv_main(void *arg)
{
	struct srv *s = arg;
	struct pollfd p = { s->fd, POLLIN, 0 };
	struct srv_req r;
	char resp[128];
	int c, status, i;

	while (!atomic_load(&s->stop)) {
		if (poll(&p, 1, 20) <= 0)
			continue;
		c = accept(s->fd, NULL, NULL);
		if (c < 0)
			continue;
		memset(&r, 0, sizeof(r));
		if (srv_read(c, &r)) {
			close(c);
			continue;
		}
		pthread_mutex_lock(&s->lock);
		i = s->nreq;
		if (s->nreq < SRV_REQS)
			s->reqs[s->nreq++] = r;
		else
			free(r.body);
		pthread_mutex_unlock(&s->lock);
		status = s->statuses[i < s->nstatus ? i : s->nstatus - 1];
		if (!status && s->nhung < SRV_HUNG) {
			s->hung[s->nhung++] = c;
			continue;
		}
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n%s"
			 "Content-Length: 2\r\nConnection: close\r\n\r\nok",
			 status ? status : 503,
			 status == 429 ? "Retry-After: 1\r\n" : "");
		if (write(c, resp, strlen(resp)) < 0)
			perror("srv write");
		close(c);
	}
	for (i = 0; i < s->nhung; i++)
		close(s->hung[i]);
	return NULL;
}

/* Starts a server answering with the n statuses given. */
static struct srv *srv_start(int n, const int *statuses)
{
	struct srv *s = xcalloc(1, sizeof(*s));
	struct sockaddr_in a;
	socklen_t alen = sizeof(a);

	memcpy(s->statuses, statuses, (size_t)n * sizeof(*statuses));
	s->nstatus = n;
	pthread_mutex_init(&s->lock, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(s->fd, 64) ||
	    getsockname(s->fd, (struct sockaddr *)&a, &alen)) {
		perror("srv_start");
		exit(2);
	}
	s->port = ntohs(a.sin_port);
	pthread_create(&s->thread, NULL, srv_main, s);
	return s;
}

static void srv_stop(struct srv *s)
{
	int i;

	atomic_store(&s->stop, 1);
	pthread_join(s->thread, NULL);
	close(s->fd);
	for (i = 0; i < s->nreq; i++)
		free(s->reqs[i].body);
	pthread_mutex_destroy(&s->lock);
	free(s);
}

static int srv_count(struct srv *s)
{
	int n;

	pthread_mutex_lock(&s->lock);
	n = s->nreq;
	pthread_mutex_unlock(&s->lock);
	return n;
}

/* Waits up to ms for s to have seen n requests; returns the count. */
static int srv_wait(struct srv *s, int n, int ms)
{
	int64_t end = mono_ms() + ms;

	while (srv_count(s) < n && mono_ms() < end)
		sleep_ms(5);
	return srv_count(s);
}

static void url_of(struct srv *s, const char *path, char *out, size_t len)
{
	snprintf(out, len, "http://127.0.0.1:%d%s", s->port, path);
}

/* Waits up to ms for delivered + failed to reach total. */
static void stats_wait(struct notifier *n, uint64_t total, int ms,
		       uint64_t *delivered, uint64_t *failed)
{
	int64_t end = mono_ms() + ms;

	for (;;) {
		notifier_stats(n, delivered, failed);
		if (*delivered + *failed >= total || mono_ms() >= end)
			return;
		sleep_ms(5);
	}
}

/*
 * 1 while pid runs. A zombie counts as gone: in a container nobody may
 * reap an orphan, and kill(pid, 0) still finds one.
 */
static int proc_alive(long pid)
{
	char path[64], line[512], *p;
	FILE *fp;
	int alive = 0;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	fp = fopen(path, "r");
	if (!fp)
		return 0;
	if (fgets(line, sizeof(line), fp) && (p = strrchr(line, ')')))
		alive = p[1] == ' ' && p[2] != 'Z' && p[2] != 'X';
	fclose(fp);
	return alive;
}

/* ---- notify_parse ---- */

static char err[512];

static int parse(const char *json, struct notify_target *t)
{
	cJSON *root = cJSON_Parse(json);
	int rc;

	memset(err, 0, sizeof(err));
	rc = notify_parse(root, t, err, sizeof(err));
	cJSON_Delete(root);
	return rc;
}

static void bad_(const char *json, const char *want, int line)
{
	static const struct notify_target zero;
	struct notify_target t;
	int rc = parse(json, &t);

	if (rc != TFS_EINVAL || !strstr(err, want))
		fprintf(stderr, "line %d: rc %d, reason \"%s\", wanted \"%s\"\n",
			line, rc, err, want);
	CHECK(rc == TFS_EINVAL);
	CHECK(strstr(err, want) != NULL);
	CHECK(memcmp(&t, &zero, sizeof(t)) == 0);
	if (rc == TFS_OK)
		notify_target_release(&t);
}
#define BAD(json, want) bad_((json), (want), __LINE__)

static void test_parse(void)
{
	struct notify_target t, c;
	struct buf b = BUF_INIT(0);
	int i;

	CHECK(parse("{\"command\":[\"notify-send\",\"x\"],\"webhook\":"
		    "\"HTTPS://h.example:8443/p?q=1\",\"on\":[\"created\","
		    "\"stopped\",\"created\"]}", &t) == TFS_OK);
	CHECK_STR(t.command[0], "notify-send");
	CHECK_STR(t.command[1], "x");
	CHECK(t.command[2] == NULL);
	CHECK_STR(t.webhook, "HTTPS://h.example:8443/p?q=1");
	CHECK(t.on == ((1u << RS_CREATED) | (1u << RS_STOPPED)));
	CHECK(notify_wants(&t, RS_CREATED) && notify_wants(&t, RS_STOPPED));
	CHECK(!notify_wants(&t, RS_COMPLETED) && !notify_wants(&t, RS_MAX));
	CHECK(!notify_wants(&t, -1) && !notify_wants(NULL, RS_CREATED));

	/* A deep copy outlives the original. */
	notify_target_copy(&c, &t);
	notify_target_release(&t);
	CHECK(t.command == NULL && t.webhook == NULL && t.on == 0);
	CHECK_STR(c.command[1], "x");
	CHECK(c.command[2] == NULL);
	CHECK_STR(c.webhook, "HTTPS://h.example:8443/p?q=1");
	CHECK(c.on == ((1u << RS_CREATED) | (1u << RS_STOPPED)));
	notify_target_release(&c);
	notify_target_release(&c);      /* twice is harmless */

	CHECK(parse("{\"webhook\":\"http://127.0.0.1/\"}", &t) == TFS_OK);
	CHECK(t.command == NULL);
	CHECK(t.on == ((1u << RS_COMPLETED) | (1u << RS_FAILED)));
	notify_target_copy(&c, &t);
	CHECK(c.command == NULL && c.webhook != NULL && c.webhook != t.webhook);
	notify_target_release(&c);
	notify_target_release(&t);

	/* Exactly 256 arguments pass, 257 do not. */
	buf_puts(&b, "{\"command\":[\"a\"");
	for (i = 1; i < NOTIFY_ARGS_MAX; i++)
		buf_puts(&b, ",\"a\"");
	CHECK(buf_puts(&b, "]}") == TFS_OK);
	CHECK(parse(b.p, &t) == TFS_OK);
	CHECK(t.command[NOTIFY_ARGS_MAX - 1] && !t.command[NOTIFY_ARGS_MAX]);
	notify_target_release(&t);
	b.len -= 2;
	buf_puts(&b, ",\"a\"]}");
	BAD(b.p, "'notify.command' has more than 256 arguments");
	buf_release(&b);

	BAD("[]", "'notify' must be an object");
	BAD("{\"comand\":[\"x\"]}", "unknown key 'notify.comand'");
	BAD("{\"webhook\":\"http://h/\",\"x\\u0001y\":1}",
	    "unknown key 'notify.x?y'");
	BAD("{\"on\":[\"failed\"],\"on\":[\"failed\"],\"webhook\":\"http://h/\"}",
	    "duplicate key 'notify.on'");
	BAD("{}", "'notify' needs 'notify.command' or 'notify.webhook'");
	BAD("{\"on\":[\"failed\"]}",
	    "'notify' needs 'notify.command' or 'notify.webhook'");
	BAD("{\"command\":\"notify-send\"}",
	    "'notify.command' must be a non-empty array of strings");
	BAD("{\"command\":[]}",
	    "'notify.command' must be a non-empty array of strings");
	BAD("{\"command\":[\"x\",3]}", "'notify.command[1]' must be a string");
	BAD("{\"command\":[\"\"]}", "'notify.command[0]' must not be empty");
	BAD("{\"webhook\":\"ftp://h/x\"}",
	    "'notify.webhook' must be an http:// or https:// URL");
	BAD("{\"webhook\":\"file:///etc/passwd\"}", "'notify.webhook'");
	BAD("{\"webhook\":\"http://\"}", "'notify.webhook'");
	BAD("{\"webhook\":\"http:///x\"}", "'notify.webhook'");
	BAD("{\"webhook\":\"http://h/a b\"}", "'notify.webhook'");
	BAD("{\"webhook\":\"h.example/x\"}", "'notify.webhook'");
	BAD("{\"webhook\":42}", "'notify.webhook'");
	BAD("{\"webhook\":\"http://h/\",\"on\":[\"finished\"]}",
	    "'notify.on[0]' must be one of created, queued, initializing, running, paused, completed, failed, stopped");
	BAD("{\"webhook\":\"http://h/\",\"on\":[\"failed\",1]}",
	    "'notify.on[1]'");
	BAD("{\"webhook\":\"http://h/\",\"on\":[]}",
	    "'notify.on' must be a non-empty array of run states");
	BAD("{\"webhook\":\"http://h/\",\"on\":\"failed\"}", "'notify.on'");
	/* Refused after the command was copied: nothing may leak (ASan). */
	BAD("{\"command\":[\"x\"],\"webhook\":\"gopher://h/\"}",
	    "'notify.webhook'");
	CHECK(notify_parse(NULL, &t, NULL, 0) == TFS_EINVAL);
}

/* ---- webhooks ---- */

static const char body1[] = "{\"run\":\"r1\",\"state\":\"completed\","
			    "\"text\":\"\\u00e9 \\\"quoted\\\"\"}";

static void test_webhook_body(void)
{
	static const int ok[] = { 200 };
	struct notify_target t = { NULL, NULL, 1u << RS_COMPLETED };
	struct srv *s = srv_start(1, ok);
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	uint64_t d, f;
	char url[128], *big;

	url_of(s, "/hook?token=s3cret", url, sizeof(url));
	t.webhook = url;
	CHECK(n != NULL);
	notifier_send(n, &t, body1, "r1", "completed");
	stats_wait(n, 1, 5000, &d, &f);
	CHECK(d == 1 && f == 0);
	CHECK(srv_count(s) == 1);
	CHECK_STR(s->reqs[0].method, "POST");
	CHECK_STR(s->reqs[0].path, "/hook?token=s3cret");
	CHECK_STR(s->reqs[0].ctype, "application/json");
	CHECK(s->reqs[0].len == strlen(body1));
	CHECK_STR(s->reqs[0].body, body1);

	/* A large body arrives whole, without a 100-continue wait. */
	big = xmalloc(300 * 1024 + 16);
	memset(big, 'x', 300 * 1024 + 15);
	big[0] = '"';
	big[300 * 1024 + 14] = '"';
	big[300 * 1024 + 15] = '\0';
	notifier_send(n, &t, big, "r1", "completed");
	stats_wait(n, 2, 5000, &d, &f);
	CHECK(d == 2 && f == 0);
	CHECK(srv_count(s) == 2);
	CHECK(s->reqs[1].len == strlen(big));
	CHECK(s->reqs[1].body && strcmp(s->reqs[1].body, big) == 0);
	free(big);

	/* Past NOTIFY_BODY_MAX nothing is sent. */
	big = xmalloc(NOTIFY_BODY_MAX + 2);
	memset(big, ' ', NOTIFY_BODY_MAX + 1);
	big[NOTIFY_BODY_MAX + 1] = '\0';
	notifier_send(n, &t, big, "r1", "completed");
	free(big);
	notifier_stats(n, &d, &f);
	CHECK(d == 2 && f == 1);
	notifier_free(n);
	CHECK(srv_count(s) == 2);
	srv_stop(s);
}

static void test_webhook_retry(void)
{
	static const int st[] = { 500, 500, 200 };
	struct notify_target t = { NULL, NULL, 1u << RS_FAILED };
	struct srv *s = srv_start(3, st);
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	int64_t gap1, gap2;
	uint64_t d, f;
	char url[128];

	url_of(s, "/retry", url, sizeof(url));
	t.webhook = url;
	notifier_send(n, &t, body1, "r2", "failed");
	stats_wait(n, 1, 5000, &d, &f);
	CHECK(d == 1 && f == 0);
	CHECK(srv_count(s) == 3);
	if (srv_count(s) == 3) {
		gap1 = s->reqs[1].at - s->reqs[0].at;
		gap2 = s->reqs[2].at - s->reqs[1].at;
		if (!(gap1 >= BACKOFF_MS - 5 && gap2 >= 2 * BACKOFF_MS - 5 &&
		      gap2 > gap1))
			fprintf(stderr, "gaps %lld and %lld ms\n",
				(long long)gap1, (long long)gap2);
		CHECK(gap1 >= BACKOFF_MS - 5);
		CHECK(gap2 >= 2 * BACKOFF_MS - 5);
		CHECK(gap2 > gap1);
		CHECK_STR(s->reqs[2].body, body1);
	}
	notifier_free(n);
	srv_stop(s);
}

/* A 429 with Retry-After: 1 is asked again a second later, not 50 ms. */
static void test_webhook_retry_after(void)
{
	static const int st[] = { 429, 200 };
	struct notify_target t = { NULL, NULL, 1u << RS_FAILED };
	struct srv *s = srv_start(2, st);
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	uint64_t d, f;
	char url[128];

	url_of(s, "/later", url, sizeof(url));
	t.webhook = url;
	notifier_send(n, &t, body1, "ra", "failed");
	stats_wait(n, 1, 5000, &d, &f);
	CHECK(d == 1 && f == 0);
	CHECK(srv_count(s) == 2);
	if (srv_count(s) == 2)
		CHECK(s->reqs[1].at - s->reqs[0].at >= 1000 - 5);
	notifier_free(n);
	srv_stop(s);
}

/* Always 500: counted failed after max_attempts, logged without the query
 * ("?..." says it was cut). */
static void test_webhook_give_up(void)
{
	static const int st[] = { 500 };
	struct notify_target t = { NULL, NULL, 1u << RS_FAILED };
	struct srv *s = srv_start(1, st);
	struct notifier *n = notifier_new(3, BACKOFF_MS);
	char url[160], shown[160], *log;
	uint64_t d, f;

	url_of(s, "/fail/path?token=s3cret", url, sizeof(url));
	/* userinfo is a secret too */
	snprintf(url, sizeof(url), "http://user:pw@127.0.0.1:%d/fail/path"
		 "?token=s3cret", s->port);
	url_of(s, "/fail/path?...'", shown, sizeof(shown));
	t.webhook = url;
	capture_start(tmpdir);
	notifier_send(n, &t, body1, "r3", "failed");
	stats_wait(n, 1, 5000, &d, &f);
	sleep_ms(100);          /* a fourth attempt would come by now */
	log = capture_end();
	CHECK(d == 0 && f == 1);
	CHECK(srv_count(s) == 3);
	CHECK(strstr(log, "not delivered after 3 attempts") != NULL);
	CHECK(strstr(log, shown) != NULL);
	CHECK(strstr(log, "s3cret") == NULL);
	CHECK(strstr(log, "pw") == NULL);
	free(log);

	/* A refused connection is a transport error: retried, then failed. */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/nobody");
	notifier_send(n, &t, body1, "r3", "failed");
	stats_wait(n, 2, 5000, &d, &f);
	CHECK(d == 0 && f == 2);
	notifier_free(n);
	srv_stop(s);
}

/*
 * A webhook that never answers holds a slot, not the thread: another
 * target's POST arrives meanwhile, and notifier_free() aborts the hung one.
 */
static void test_webhook_hang(void)
{
	static const int never[] = { 0 }, ok[] = { 200 };
	struct notify_target t1 = { NULL, NULL, 1u << RS_COMPLETED };
	struct notify_target t2 = { NULL, NULL, 1u << RS_COMPLETED };
	struct srv *hung = srv_start(1, never), *fine = srv_start(1, ok);
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	char url1[128], url2[128];
	uint64_t d, f;
	int64_t t0;

	url_of(hung, "/hang", url1, sizeof(url1));
	url_of(fine, "/fine", url2, sizeof(url2));
	t1.webhook = url1;
	t2.webhook = url2;
	notifier_send(n, &t1, body1, "h1", "completed");
	CHECK(srv_wait(hung, 1, 3000) == 1);    /* it is hanging now */
	t0 = mono_ms();
	notifier_send(n, &t2, body1, "h2", "completed");
	CHECK(srv_wait(fine, 1, 3000) == 1);
	CHECK(mono_ms() - t0 < 2000);
	stats_wait(n, 1, 3000, &d, &f);
	CHECK(d == 1 && f == 0);
	CHECK(srv_count(hung) == 1);
	CHECK_STR(fine->reqs[0].body, body1);

	capture_start(tmpdir);
	t0 = mono_ms();
	notifier_free(n);
	t0 = mono_ms() - t0;
	free(capture_end());
	if (t0 >= 1000)
		fprintf(stderr, "notifier_free took %lld ms\n", (long long)t0);
	CHECK(t0 < 1000);
	srv_stop(hung);
	srv_stop(fine);
}

/* ---- commands ---- */

static void test_command(void)
{
	struct notify_target t = { NULL, NULL, 1u << RS_COMPLETED };
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	char out[PATH_MAX + 16], script[4 * PATH_MAX], want[256];
	char *argv[4] = { "sh", "-c", script, NULL };
	struct buf got = BUF_INIT(0);
	uint64_t d, f;

	snprintf(out, sizeof(out), "%s/cmd.out", tmpdir);
	snprintf(script, sizeof(script), "cat > '%s'; echo "
		 "\"$TRAINFS_NOTIFY_RUN $TRAINFS_NOTIFY_STATE\" >> '%s'; "
		 "echo \"${SLURM_JWT:-}${RUNPOD_API_KEY:-}\" >> '%s'",
		 out, out, out);
	t.command = argv;
	/* The child gets ours, not one from the daemon's environment, and
	 * none of the daemon's secrets (a run's config may name it). */
	setenv("TRAINFS_NOTIFY_RUN", "stale", 1);
	setenv("SLURM_JWT", "jwt-secret", 1);
	setenv("RUNPOD_API_KEY", "key-secret", 1);
	notifier_send(n, &t, body1, "run-7", "completed");
	stats_wait(n, 1, 5000, &d, &f);
	unsetenv("TRAINFS_NOTIFY_RUN");
	unsetenv("SLURM_JWT");
	unsetenv("RUNPOD_API_KEY");
	CHECK(d == 1 && f == 0);
	snprintf(want, sizeof(want), "%srun-7 completed\n\n", body1);
	CHECK(file_read_all(out, 1024 * 1024, &got) == TFS_OK);
	CHECK_STR(got.p, want);
	buf_release(&got);
	notifier_free(n);
}

static void test_command_fail(void)
{
	struct notify_target t = { NULL, NULL, 1u << RS_FAILED };
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	char *fails[] = { "sh", "-c", "cat >/dev/null; exit 3", NULL };
	char *missing[] = { "/nonexistent/trainfs-notify", NULL };
	char *deaf[] = { "sh", "-c", "exit 0", NULL };
	char *log, *big;
	uint64_t d, f;

	capture_start(tmpdir);
	t.command = fails;
	notifier_send(n, &t, body1, "r4", "failed");
	stats_wait(n, 1, 5000, &d, &f);
	CHECK(d == 0 && f == 1);
	t.command = missing;
	notifier_send(n, &t, body1, "r4", "failed");
	stats_wait(n, 2, 5000, &d, &f);
	CHECK(d == 0 && f == 2);
	log = capture_end();
	CHECK(strstr(log, "failed with exit status 3") != NULL);
	CHECK(strstr(log, "'/nonexistent/trainfs-notify'") != NULL);
	free(log);

	/* Commands are not retried: still one failure each after a while. */
	sleep_ms(3 * BACKOFF_MS);
	notifier_stats(n, &d, &f);
	CHECK(d == 0 && f == 2);

	/* A command that exits without reading a body larger than a pipe
	 * holds: the write fails with EPIPE and SIGPIPE must not kill us;
	 * its exit status still decides. */
	big = xmalloc(512 * 1024 + 1);
	memset(big, 'y', 512 * 1024);
	big[512 * 1024] = '\0';
	t.command = deaf;
	notifier_send(n, &t, big, "r5", "completed");
	stats_wait(n, 3, 5000, &d, &f);
	CHECK(d == 1 && f == 2);
	free(big);
	notifier_free(n);
}

/* A command and a webhook in one target: two deliveries, both counted. */
static void test_both(void)
{
	static const int ok[] = { 200 };
	struct srv *s = srv_start(1, ok);
	struct notify_target t = { NULL, NULL, 1u << RS_COMPLETED };
	struct notifier *n = notifier_new(0, 0);   /* the defaults */
	char *argv[] = { "true", NULL };           /* found through PATH */
	char url[128];
	uint64_t d, f;

	url_of(s, "/both", url, sizeof(url));
	t.command = argv;
	t.webhook = url;
	notifier_send(n, &t, body1, "r6", "completed");
	stats_wait(n, 2, 5000, &d, &f);
	CHECK(d == 2 && f == 0);
	CHECK(srv_count(s) == 1);
	notifier_free(n);
	srv_stop(s);
}

/* notifier_free() does not wait out a running command: it is killed. */
static void test_command_stop(void)
{
	struct notify_target t = { NULL, NULL, 1u << RS_RUNNING };
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	char pidfile[PATH_MAX + 16], script[PATH_MAX + 64];
	char *argv[] = { "sh", "-c", script, NULL };
	struct buf got = BUF_INIT(0);
	int64_t t0, end;
	long pid = 0;

	snprintf(pidfile, sizeof(pidfile), "%s/sleep.pid", tmpdir);
	snprintf(script, sizeof(script), "sleep 60 & echo $! > '%s'; wait",
		 pidfile);
	t.command = argv;
	notifier_send(n, &t, body1, "r7", "running");
	for (end = mono_ms() + 3000; mono_ms() < end; sleep_ms(10)) {
		buf_reset(&got);
		if (file_read_all(pidfile, 64, &got) == TFS_OK && got.p &&
		    strchr(got.p, '\n'))
			break;
	}
	if (got.p)
		pid = strtol(got.p, NULL, 10);
	buf_release(&got);
	CHECK(pid > 0);
	capture_start(tmpdir);
	t0 = mono_ms();
	notifier_free(n);
	t0 = mono_ms() - t0;
	free(capture_end());
	CHECK(t0 < 1000);
	/* The whole process group went, the backgrounded sleep too. */
	for (end = mono_ms() + 2000; pid > 0 && mono_ms() < end; sleep_ms(10))
		if (!proc_alive(pid))
			break;
	CHECK(pid > 0 && !proc_alive(pid));
}

/*
 * The queue bound: with every delivery slot held by a hung webhook, sends
 * past NOTIFY_QUEUE_MAX drop the oldest, counted failed and logged.
 */
static void test_queue_bound(void)
{
	static const int never[] = { 0 };
	struct notify_target t = { NULL, NULL, 1u << RS_COMPLETED };
	struct srv *s = srv_start(1, never);
	struct notifier *n = notifier_new(5, BACKOFF_MS);
	uint64_t d, f;
	char url[128], *log;
	int i, extra = 5;

	url_of(s, "/q", url, sizeof(url));
	t.webhook = url;
	capture_start(tmpdir);
	/* Fill the delivery slots first, so the count below is exact. */
	for (i = 0; i < 16; i++)
		notifier_send(n, &t, "{}", "q", "completed");
	srv_wait(s, 16, 5000);
	for (i = 0; i < NOTIFY_QUEUE_MAX + extra; i++)
		notifier_send(n, &t, "{}", "q", "completed");
	notifier_stats(n, &d, &f);
	CHECK(d == 0);
	CHECK(f == (uint64_t)extra);
	notifier_free(n);
	log = capture_end();
	CHECK(strstr(log, "notification queue full: dropped the webhook") !=
	      NULL);
	CHECK(strstr(log, "given up") != NULL);
	free(log);
	CHECK(srv_count(s) == 16);
	srv_stop(s);
}

int main(void)
{
	int64_t t0 = mono_ms();

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/test_notify.XXXXXX");
	if (!mkdtemp(tmpdir)) {
		perror("mkdtemp");
		return 2;
	}
	test_parse();
	test_webhook_body();
	test_webhook_retry();
	test_webhook_retry_after();
	test_webhook_give_up();
	test_webhook_hang();
	test_command();
	test_command_fail();
	test_both();
	test_command_stop();
	test_queue_bound();
	rm_rf(tmpdir);
	fprintf(stderr, "test_notify: %lld ms\n", (long long)(mono_ms() - t0));
	return TEST_REPORT();
}
