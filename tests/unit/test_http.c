/*
 * test_http.c - lib/http on its own. First the pure helpers with no
 * server (Retry-After in both forms, Content-Range, which failures are
 * retried, backoff with its cap, Retry-After and jitter, redaction of
 * credential headers, URL parts and named secrets); then real transfers against a private
 * nginx on 127.0.0.1 (tests/lib/nginx.sh): a body, one over the maximum size
 * (announced and chunked), a 404 asked once, a 503 then a 200, a 429 whose
 * Retry-After sets the wait, a POST with JSON and a token header, Range
 * answered 206 and ignored (200), streaming with progress and cancel,
 * secrets kept out of reasons and logs; a server that accepts connections
 * and never answers (a socket of ours that never calls accept) for the
 * timeout; the multi interface with two transfers, a removal and a
 * wakeup; file:// only when allowed; bad requests refused. Runs from the
 * repository root; without nginx the server cases say SKIP.
 */
#define _GNU_SOURCE
#include "http.h"
#include "util.h"
#include "test.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "capture.h"
#include "nginx_test.h"

#define KIB 1024

static char base[256];         /* our mkdtemp directory */
static char www[512];          /* served by nginx */
static char url[PATH_MAX];

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* www/name holding len bytes of a pattern (returned, caller frees). */
static char *put_file(const char *name, size_t len)
{
	char path[PATH_MAX + 64];
	char *data = xmalloc(len + 1);
	size_t i;

	for (i = 0; i < len; i++)
		data[i] = (char)('a' + (i * 7 + i / 251) % 26);
	data[len] = '\0';
	snprintf(path, sizeof(path), "%s/%s", www, name);
	if (file_write_atomic(path, data, len, 0))
		fprintf(stderr, "cannot write '%s'\n", path);
	return data;
}

static void at(const char *path)
{
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/%s", ngx_port, path);
}

/* ---- pure helpers ---- */

static void test_retry_after(void)
{
	/* Sun, 06 Nov 1994 08:49:37 GMT */
	const time_t t = 784111777;

	CHECK(http_retry_after_ms("1", t) == 1000);
	CHECK(http_retry_after_ms("120", t) == 120000);
	CHECK(http_retry_after_ms(" 7 ", t) == 7000);
	CHECK(http_retry_after_ms("0", t) == 0);
	CHECK(http_retry_after_ms("99999999999999999999", t) ==
	      86400 * 1000LL);
	CHECK(http_retry_after_ms(NULL, t) == -1);
	CHECK(http_retry_after_ms("", t) == -1);
	CHECK(http_retry_after_ms("-1", t) == -1);
	CHECK(http_retry_after_ms("1.5", t) == -1);
	CHECK(http_retry_after_ms("soon", t) == -1);
	/* the three HTTP-date forms, 30 s ahead of now */
	CHECK(http_retry_after_ms("Sun, 06 Nov 1994 08:50:07 GMT", t) ==
	      30000);
	CHECK(http_retry_after_ms("Sunday, 06-Nov-94 08:50:07 GMT", t) ==
	      30000);
	CHECK(http_retry_after_ms("Sun Nov  6 08:50:07 1994", t) == 30000);
	/* a date gone by: at once; one far ahead: a day */
	CHECK(http_retry_after_ms("Sun, 06 Nov 1994 08:00:00 GMT", t) == 0);
	CHECK(http_retry_after_ms("Fri, 01 Jan 2100 00:00:00 GMT", t) ==
	      86400 * 1000LL);
}

static void test_content_range(void)
{
	int64_t f = 0, l = 0, t = 0;

	CHECK(http_content_range("bytes 100-199/1000", &f, &l, &t) == 0);
	CHECK(f == 100 && l == 199 && t == 1000);
	CHECK(http_content_range("bytes 0-0/*", &f, &l, &t) == 0);
	CHECK(f == 0 && l == 0 && t == -1);
	CHECK(http_content_range("bytes 5-4/10", &f, &l, &t) == -1);
	CHECK(http_content_range("bytes 1-2", &f, &l, &t) == -1);
	CHECK(http_content_range("bytes 0-9/9", &f, &l, &t) == -1);
	CHECK(http_content_range("items 1-2/3", &f, &l, &t) == -1);
	CHECK(http_content_range("bytes -1-2/3", &f, &l, &t) == -1);
	CHECK(http_content_range("bytes 1-2/3x", &f, &l, &t) == -1);
	CHECK(http_content_range("bytes 99999999999999999999-1/3", &f, &l,
				 &t) == -1);
	CHECK(http_content_range(NULL, &f, &l, &t) == -1);
}

static void test_retryable(void)
{
	struct http_retry def = HTTP_RETRY_INIT;
	struct http_retry only429 = { 3, 10, 0, 0, 0, HTTP_RETRY_429 };
	struct http_retry all = { 3, 10, 0, 0, 0, HTTP_RETRY_ALL };

	CHECK(http_retryable(&def, HTTP_FAIL_CONNECT, 0) == 1);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 503) == 1);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 500) == 1);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 429) == 1);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 408) == 1);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 404) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 400) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_STATUS, 302) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_OTHER, 0) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_RANGE, 200) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_TOOBIG, 200) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_CANCEL, 0) == 0);
	CHECK(http_retryable(&def, HTTP_FAIL_NONE, 200) == 0);
	CHECK(http_retryable(&only429, HTTP_FAIL_STATUS, 429) == 1);
	CHECK(http_retryable(&only429, HTTP_FAIL_STATUS, 503) == 0);
	CHECK(http_retryable(&only429, HTTP_FAIL_CONNECT, 0) == 0);
	CHECK(http_retryable(&all, HTTP_FAIL_STATUS, 404) == 1);
	CHECK(http_retryable(&all, HTTP_FAIL_OTHER, 0) == 1);
	CHECK(http_retryable(&all, HTTP_FAIL_REFUSED, 0) == 0);
}

static void test_backoff(void)
{
	struct http_retry p = { 5, 100, 1000, 0, 0, HTTP_RETRY_DEFAULT };
	int64_t d;
	uint32_t r;

	CHECK(http_backoff_ms(&p, 1, -1, 0) == 100);
	CHECK(http_backoff_ms(&p, 2, -1, 0) == 200);
	CHECK(http_backoff_ms(&p, 3, -1, 0) == 400);
	CHECK(http_backoff_ms(&p, 5, -1, 0) == 1000);
	CHECK(http_backoff_ms(&p, 1000, -1, 0) == 1000);
	/* Retry-After ignored unless the policy bounds it */
	CHECK(http_backoff_ms(&p, 1, 5000, 0) == 100);
	p.retry_after_max_ms = 3000;
	CHECK(http_backoff_ms(&p, 1, 2000, 0) == 2000);
	CHECK(http_backoff_ms(&p, 1, 5000, 0) == 3000);
	/* shorter than the backoff: the backoff holds */
	CHECK(http_backoff_ms(&p, 3, 50, 0) == 400);
	/* jitter only lengthens, by up to jitter_pct percent */
	p.jitter_pct = 50;
	CHECK(http_backoff_ms(&p, 1, -1, 0) == 100);
	d = http_backoff_ms(&p, 1, -1, UINT32_MAX);
	CHECK(d >= 149 && d <= 150);
	for (r = 1; r < 0xf0000000u; r += 0x0fffffffu) {
		d = http_backoff_ms(&p, 2, -1, r);
		CHECK(d >= 200 && d <= 300);
	}
	/* no backoff: at once; the default cap is 30 s */
	p.backoff_ms = 0;
	p.jitter_pct = 0;
	CHECK(http_backoff_ms(&p, 3, -1, 0) == 0);
	p.backoff_ms = 1000;
	p.backoff_max_ms = 0;
	CHECK(http_backoff_ms(&p, 10, -1, 0) == 30000);
}

static void test_redact(void)
{
	static const char *const s1[] = { "abcd", "xyz", NULL };
	static const char *const hs[] = {
		"Authorization: Bearer tok-123456",
		"X-SLURM-USER-TOKEN: eyJhbGciOi.jwt",
		"X-API-Key: key-7890",
		"Content-Type: application/json",
		NULL
	};
	static const char *const extra[] = { "my-extra-secret", NULL };
	struct http_request r = { 0 };
	char t[512];

	snprintf(t, sizeof(t), "abcd and abcdabcd, xyz");
	http_redact(t, s1);
	/* "xyz" is under HTTP_SECRET_MIN: ordinary text, left */
	CHECK_STR(t, "*** and ******, xyz");
	http_redact(t, NULL);
	CHECK_STR(t, "*** and ******, xyz");

	CHECK(http_header_secret("Authorization: Bearer x") == 1);
	CHECK(http_header_secret("proxy-authorization: Basic x") == 1);
	CHECK(http_header_secret("X-SLURM-USER-TOKEN: x") == 1);
	CHECK(http_header_secret("X-API-Key: x") == 1);
	CHECK(http_header_secret("Cookie: a=b") == 1);
	CHECK(http_header_secret("X-Amz-Security-Token: x") == 1);
	CHECK(http_header_secret("Content-Type: application/json") == 0);
	CHECK(http_header_secret("Accept: */*") == 0);
	CHECK(http_header_secret("X-SLURM-USER-NAME: root") == 0);

	r.url = "https://alice:pa55word@api.example/v1/x?page=2&"
		"access_token=qwerty99#top";
	r.headers = hs;
	r.secrets = extra;
	snprintf(t, sizeof(t), "alice:pa55word pa55word qwerty99 tok-123456 "
		 "eyJhbGciOi.jwt key-7890 my-extra-secret application/json");
	http_redact_request(&r, t);
	CHECK(strstr(t, "pa55word") == NULL);
	CHECK(strstr(t, "qwerty99") == NULL);
	CHECK(strstr(t, "tok-123456") == NULL);
	CHECK(strstr(t, "eyJhbGciOi") == NULL);
	CHECK(strstr(t, "key-7890") == NULL);
	CHECK(strstr(t, "my-extra-secret") == NULL);
	/* not a credential header: kept */
	CHECK(strstr(t, "application/json") != NULL);
}

/* ---- over HTTP ---- */

static const struct http_retry quick = { 3, 10, 100, 0, 5000,
					 HTTP_RETRY_DEFAULT };

static void test_get(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char *data = put_file("hello.txt", 5000), v[64];

	at("hello.txt");
	rq.url = url;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 200);
	CHECK(rs.fail == HTTP_FAIL_NONE);
	CHECK(rs.attempts == 1);
	CHECK(rs.body_len == 5000);
	CHECK(rs.body && memcmp(rs.body, data, 5000) == 0 &&
	      rs.body[5000] == '\0');
	CHECK_STR(rs.error, "");
	CHECK(http_response_header(&rs, "content-length", v, sizeof(v)) == 4);
	CHECK_STR(v, "5000");
	CHECK(http_response_header(&rs, "X-Nope", v, sizeof(v)) == -1);
	CHECK_STR(v, "");
	http_response_release(&rs);
	CHECK(rs.body == NULL && rs.headers == NULL && rs.status == 0);
	CHECK(ngx_log_wait("GET /hello.txt 200 5000 ", NULL, 1) == 1);

	/* a HEAD has no body */
	rq.method = "HEAD";
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 200 && rs.body_len == 0);
	http_response_release(&rs);
	free(data);
}

/* The conn= numbers of the access log's lines for path, in order. */
static int conns_of(const char *path, long *conn, int max)
{
	char file[PATH_MAX + 16], want[256];
	struct buf log = BUF_INIT(0);
	char *line, *save = NULL, *c;
	int n = 0;

	snprintf(file, sizeof(file), "%s/access.log", ngx_dir);
	snprintf(want, sizeof(want), "GET %s 200", path);
	if (file_read_all(file, 16 << 20, &log) == TFS_OK && log.p)
		for (line = strtok_r(log.p, "\n", &save); line && n < max;
		     line = strtok_r(NULL, "\n", &save))
			if (strstr(line, want) && (c = strstr(line, "conn=")))
				conn[n++] = strtol(c + 5, NULL, 10);
	buf_release(&log);
	return n;
}

/*
 * Requests that name a pool share one kept-alive connection (a provider's
 * hundreds of small requests pay one TCP set-up) and are counted; those
 * that do not each open their own.
 */
static void test_pool(void)
{
	struct http_pool *pool = http_pool_new();
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	long conn[8];
	int i, ok = 1;

	CHECK(pool != NULL);
	free(put_file("pooled.txt", 100));
	free(put_file("unpooled.txt", 100));
	at("pooled.txt");
	rq.url = url;
	rq.pool = pool;
	for (i = 0; i < 3; i++) {
		ok &= http_request(&rq, &rs) == TFS_OK && rs.sent > 0;
		http_response_release(&rs);
	}
	CHECK(ok);
	CHECK(http_pool_requests(pool) == 3);
	at("unpooled.txt");
	rq.pool = NULL;
	for (i = 0; i < 2; i++) {
		ok &= http_request(&rq, &rs) == TFS_OK;
		http_response_release(&rs);
	}
	CHECK(ok);
	CHECK(http_pool_requests(pool) == 3);
	ngx_log_wait("GET /unpooled.txt 200", NULL, 2);
	CHECK(conns_of("/pooled.txt", conn, 8) == 3);
	CHECK(conn[0] == conn[1] && conn[1] == conn[2]);
	CHECK(conns_of("/unpooled.txt", conn, 8) == 2);
	CHECK(conn[0] != conn[1]);
	http_pool_free(pool);
	http_pool_free(NULL);
}

static void test_too_big(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char *data = put_file("big.txt", 64 * KIB);

	/* announced by Content-Length */
	at("big.txt");
	rq.url = url;
	rq.max_response = 1000;
	rq.retry = quick;
	CHECK(http_request(&rq, &rs) == TFS_EFBIG);
	CHECK(rs.fail == HTTP_FAIL_TOOBIG);
	CHECK(rs.attempts == 1);
	CHECK(rs.body_len <= 1000);
	CHECK(strstr(rs.error, "larger than 1000 bytes") != NULL);
	http_response_release(&rs);

	/* chunked, found out while reading: stopped at the bound */
	at("chunked/big.txt");
	CHECK(http_request(&rq, &rs) == TFS_EFBIG);
	CHECK(rs.fail == HTTP_FAIL_TOOBIG);
	CHECK(rs.body_len <= 1000);
	http_response_release(&rs);

	/* the same body fits a larger bound */
	rq.max_response = 64 * KIB;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.body_len == 64 * KIB && memcmp(rs.body, data, 64 * KIB) == 0);
	http_response_release(&rs);
	free(data);
}

static void test_404(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char want[PATH_MAX + 32];

	at("missing.txt");
	rq.url = url;
	rq.retry = quick;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.status == 404);
	CHECK(rs.fail == HTTP_FAIL_STATUS);
	CHECK(rs.attempts == 1);
	CHECK(rs.gave_up == 0);
	snprintf(want, sizeof(want), "HTTP 404 from %s", url);
	CHECK_STR(rs.error, want);
	/* the error page is the body, for a caller that wants its words */
	CHECK(rs.body && strstr(rs.body, "404 Not Found") != NULL);
	http_response_release(&rs);
	sleep_ms(100);
	CHECK(ngx_log_wait("GET /missing.txt 404", NULL, 1) == 1);
}

/* The retrying callback: records, and lets the server answer next. */
struct switcher {
	int calls, attempt;
	int64_t wait_ms;
	char why[HTTP_ERROR_MAX];
	const char *make;           /* file to create in www, or NULL */
	int stop;                   /* return this */
};

static int on_retrying(void *arg, int attempt, int64_t wait_ms,
		       const char *why)
{
	struct switcher *s = arg;
	char *d;

	s->calls++;
	s->attempt = attempt;
	s->wait_ms = wait_ms;
	snprintf(s->why, sizeof(s->why), "%s", why);
	if (s->make) {
		d = put_file(s->make, 10);
		free(d);
	}
	return s->stop;
}

static void test_503_then_200(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	struct switcher sw = { .make = "flaky/f1.txt" };

	{
		char d[PATH_MAX + 16];

		snprintf(d, sizeof(d), "%s/flaky", www);
		mkdir_p(d, 0700);
		snprintf(d, sizeof(d), "%s/busy", www);
		mkdir_p(d, 0700);
	}
	at("flaky/f1.txt");
	rq.url = url;
	rq.retry = quick;
	rq.retrying = on_retrying;
	rq.arg = &sw;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 200);
	CHECK(rs.attempts == 2);
	CHECK(rs.body_len == 10);
	CHECK(sw.calls == 1 && sw.attempt == 1);
	CHECK(sw.wait_ms == 10);
	CHECK(strstr(sw.why, "HTTP 503") != NULL);
	http_response_release(&rs);
	CHECK(ngx_log_wait("GET /flaky/f1.txt 200", NULL, 1) == 1);
	CHECK(ngx_log_count("GET /flaky/f1.txt 503", NULL) == 1);

	/* always 503: three attempts, then given up */
	at("status503/x");
	sw.make = NULL;
	sw.calls = 0;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.status == 503 && rs.attempts == 3 && rs.gave_up == 1);
	CHECK(sw.calls == 2);
	/* doubling: 10 then 20 ms */
	CHECK(sw.wait_ms == 20);
	http_response_release(&rs);

	/* the retrying callback may stop it */
	sw.calls = 0;
	sw.stop = 1;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.attempts == 1 && rs.gave_up == 1 && sw.calls == 1);
	http_response_release(&rs);

	/* a policy without 5xx does not retry it */
	rq.retry.on = HTTP_RETRY_429;
	sw.calls = 0;
	sw.stop = 0;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.attempts == 1 && rs.gave_up == 0 && sw.calls == 0);
	http_response_release(&rs);
}

static void test_429(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	struct switcher sw = { .make = "busy/b1.txt" };
	int64_t t0;

	at("busy/b1.txt");
	rq.url = url;
	rq.retry = quick;
	rq.retrying = on_retrying;
	rq.arg = &sw;
	t0 = mono_ms();
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(mono_ms() - t0 >= 1000);
	CHECK(rs.status == 200 && rs.attempts == 2);
	/* Retry-After: 1 outweighs the 10 ms backoff */
	CHECK(sw.calls == 1 && sw.wait_ms == 1000);
	CHECK(strstr(sw.why, "HTTP 429") != NULL);
	http_response_release(&rs);

	/* a policy that ignores Retry-After keeps its own backoff */
	sw.make = "busy/b2.txt";
	sw.calls = 0;
	at("busy/b2.txt");
	rq.retry.retry_after_max_ms = 0;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(sw.calls == 1 && sw.wait_ms == 10);
	http_response_release(&rs);

	/* one attempt only: the value is handed back */
	at("busy/b3.txt");
	rq.retry.max_attempts = 1;
	sw.make = NULL;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.status == 429 && rs.gave_up == 1);
	CHECK(rs.retry_after_ms == 1000);
	http_response_release(&rs);
}

static void test_post(void)
{
	static const char *const h[] = {
		"Content-Type: application/json",
		"X-SLURM-USER-TOKEN: tok42",
		NULL
	};
	static const char body[] = "{\"job\": {\"name\": \"x\"}}";
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char want[128];

	at("echo/submit");
	rq.url = url;
	rq.headers = h;
	rq.body = body;
	rq.body_len = strlen(body);
	CHECK(http_request(&rq, &rs) == TFS_OK);
	snprintf(want, sizeof(want), "POST application/json %zu tok42",
		 strlen(body));
	CHECK_STR(rs.body, want);
	http_response_release(&rs);

	rq.method = "PUT";
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.body && strncmp(rs.body, "PUT ", 4) == 0);
	http_response_release(&rs);

	rq.method = "DELETE";
	rq.body = NULL;
	rq.headers = NULL;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.body && strncmp(rs.body, "DELETE ", 7) == 0);
	http_response_release(&rs);
}

/* What a streaming request saw. */
struct sink {
	struct buf got;
	int heads;
	struct http_head h;
	int progress;
	int cancel_after;           /* cancel once this many bytes came */
	int refuse_head;
};

static int sink_head(void *arg, const struct http_head *h)
{
	struct sink *s = arg;

	s->heads++;
	s->h = *h;
	return s->refuse_head;
}

static int sink_write(void *arg, const char *data, size_t len)
{
	struct sink *s = arg;

	return buf_append(&s->got, data, len) ? -1 : 0;
}

static void sink_progress(void *arg)
{
	((struct sink *)arg)->progress++;
}

static int sink_cancelled(void *arg)
{
	struct sink *s = arg;

	return s->cancel_after && s->got.len >= (size_t)s->cancel_after;
}

static void sink_request(struct http_request *rq, struct sink *s)
{
	memset(rq, 0, sizeof(*rq));
	buf_release(&s->got);
	memset(s, 0, sizeof(*s));
	rq->url = url;
	rq->head = sink_head;
	rq->write = sink_write;
	rq->progress = sink_progress;
	rq->cancelled = sink_cancelled;
	rq->arg = s;
}

static void test_range(void)
{
	struct http_request rq;
	struct http_response rs = HTTP_RESPONSE_INIT;
	struct sink s = { .got = BUF_INIT(0) };
	char *data = put_file("range.bin", 100 * KIB);

	/* 206 with the bytes from 40000 on */
	at("range.bin");
	sink_request(&rq, &s);
	rq.resume_from = 40000;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 206);
	CHECK(rs.received == 100 * KIB - 40000);
	CHECK(rs.body == NULL);
	CHECK(s.heads == 1);
	CHECK(s.h.status == 206 && s.h.offset == 40000);
	CHECK(s.h.total == 100 * KIB);
	CHECK(s.h.length == 100 * KIB - 40000);
	CHECK(s.got.len == 100 * KIB - 40000 &&
	      memcmp(s.got.p, data + 40000, s.got.len) == 0);
	CHECK(s.progress >= 1);
	http_response_release(&rs);
	CHECK(ngx_log_wait("GET /range.bin 206 62400 ", "range=bytes=40000-",
			   1) == 1);

	/* the server ignores Range: told, not retried, nothing passed on */
	at("norange/range.bin");
	sink_request(&rq, &s);
	rq.resume_from = 40000;
	rq.retry = quick;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_RANGE);
	CHECK(rs.status == 200);
	CHECK(rs.attempts == 1);
	CHECK(rs.received == 0 && s.got.len == 0);
	CHECK(strstr(rs.error, "cannot resume at byte 40000") != NULL);
	http_response_release(&rs);

	/* from 0, a plain 200 streams */
	sink_request(&rq, &s);
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 200 && s.h.offset == 0 && s.h.total == -1);
	CHECK(s.got.len == 100 * KIB && memcmp(s.got.p, data, s.got.len) == 0);
	http_response_release(&rs);

	/* a 404 is not streamed */
	at("gone.bin");
	sink_request(&rq, &s);
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.status == 404 && rs.fail == HTTP_FAIL_STATUS);
	CHECK(s.heads == 0 && s.got.len == 0);
	http_response_release(&rs);

	/* the head callback may refuse */
	at("range.bin");
	sink_request(&rq, &s);
	s.refuse_head = 1;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_REFUSED && s.heads == 1 && s.got.len == 0);
	http_response_release(&rs);
	buf_release(&s.got);
	free(data);
}

static void test_cancel(void)
{
	struct http_request rq;
	struct http_response rs = HTTP_RESPONSE_INIT;
	struct sink s = { .got = BUF_INIT(0) };
	char *data = put_file("slow.bin", 512 * KIB);

	at("slow/slow.bin");
	sink_request(&rq, &s);
	s.cancel_after = 1;
	CHECK(http_request(&rq, &rs) == TFS_EINTR);
	CHECK(rs.fail == HTTP_FAIL_CANCEL);
	CHECK_STR(rs.error, "cancelled");
	CHECK(s.got.len > 0 && s.got.len < 512 * KIB);
	http_response_release(&rs);
	buf_release(&s.got);
	free(data);
}

/* Credentials in the URL, a header and a named string stay out of the
 * reason and the retry log. */
static void test_secrets(void)
{
	static const char *const h[] = { "Authorization: Bearer b3arer-tok",
					 NULL };
	static const char *const extra[] = { "sekrit-path", NULL };
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char want[PATH_MAX], *log;

	snprintf(url, sizeof(url), "http://user:hunter2@127.0.0.1:%d/"
		 "status503/sekrit-path.bin?X-Amz-Signature=deadbeefsecret",
		 ngx_port);
	rq.url = url;
	rq.headers = h;
	rq.secrets = extra;
	rq.retry = quick;
	rq.retry.max_attempts = 2;
	log_set_level(LOG_INFO);
	capture_start(base);
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	log = capture_end();
	log_set_level(LOG_WARNING);
	snprintf(want, sizeof(want), "HTTP 503 from http://127.0.0.1:%d/"
		 "status503/***.bin?...", ngx_port);
	CHECK_STR(rs.error, want);
	CHECK(strstr(log, "retrying in 10 ms") != NULL);
	CHECK(strstr(log, want + 14) != NULL);
	CHECK(strstr(log, "hunter2") == NULL);
	CHECK(strstr(log, "deadbeefsecret") == NULL);
	CHECK(strstr(log, "sekrit") == NULL);
	CHECK(strstr(log, "b3arer") == NULL);
	free(log);
	http_response_release(&rs);
	/* the credentials were sent all the same */
	CHECK(ngx_log_wait("GET /status503/sekrit-path.bin?X-Amz-Signature="
			   "deadbeefsecret 503", NULL, 2) == 2);
}

/* ---- without nginx ---- */

/* A socket that listens and never accepts: connections complete in the
 * kernel's backlog and nothing is ever answered. Returns its port. */
static int mute_server(int *fd)
{
	struct sockaddr_in a = { 0 };
	socklen_t len = sizeof(a);

	*fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (*fd < 0 || bind(*fd, (struct sockaddr *)&a, sizeof(a)) ||
	    listen(*fd, 16) ||
	    getsockname(*fd, (struct sockaddr *)&a, &len))
		return -1;
	return ntohs(a.sin_port);
}

static void test_timeout(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	int fd, p = mute_server(&fd);

	CHECK(p > 0);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/never", p);
	rq.url = url;
	rq.timeout_ms = 300;
	rq.retry = quick;
	rq.retry.max_attempts = 2;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_CONNECT);
	CHECK(rs.status == 0);
	CHECK(rs.attempts == 2 && rs.gave_up == 1);
	CHECK(strstr(rs.error, "timed out") != NULL);
	http_response_release(&rs);

	/* nobody listening: a connection error, retried the same */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/refused");
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_CONNECT && rs.attempts == 2);
	http_response_release(&rs);
	close(fd);
}

static void test_bad_requests(void)
{
	static const char *const crlf[] = { "X-A: 1\r\nX-B: 2", NULL };
	static const char *const nocolon[] = { "X-A 1", NULL };
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char *longurl;

	CHECK(http_request(&rq, &rs) == TFS_EINVAL);
	http_response_release(&rs);
	rq.url = "http://127.0.0.1:1/x";
	rq.method = "get";
	CHECK(http_request(&rq, &rs) == TFS_EINVAL);
	CHECK(rs.attempts == 0);
	http_response_release(&rs);
	rq.method = NULL;
	rq.headers = crlf;
	CHECK(http_request(&rq, &rs) == TFS_EINVAL);
	http_response_release(&rs);
	rq.headers = nocolon;
	CHECK(http_request(&rq, &rs) == TFS_EINVAL);
	http_response_release(&rs);
	rq.headers = NULL;
	longurl = xmalloc(HTTP_URL_MAX + 64);
	snprintf(longurl, HTTP_URL_MAX + 64, "http://h/%0*d", HTTP_URL_MAX,
		 0);
	rq.url = longurl;
	CHECK(http_request(&rq, &rs) == TFS_EINVAL);
	CHECK(strstr(rs.error, "longer than") != NULL);
	http_response_release(&rs);
	free(longurl);
	/* other protocols are refused, for good */
	rq.url = "ftp://127.0.0.1:1/x";
	rq.retry = quick;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_OTHER && rs.attempts == 1);
	http_response_release(&rs);
}

static void test_file_url(void)
{
	struct http_request rq = { 0 };
	struct http_response rs = HTTP_RESPONSE_INIT;
	char *data = put_file("local.txt", 300);

	snprintf(url, sizeof(url), "file://%s/local.txt", www);
	rq.url = url;
	CHECK(http_request(&rq, &rs) == TFS_EIO);
	CHECK(rs.fail == HTTP_FAIL_OTHER);
	http_response_release(&rs);
	rq.allow_file = 1;
	CHECK(http_request(&rq, &rs) == TFS_OK);
	CHECK(rs.status == 0 && rs.body_len == 300 &&
	      memcmp(rs.body, data, 300) == 0);
	http_response_release(&rs);
	free(data);
}

/* ---- many at once ---- */

static void *wake_later(void *arg)
{
	sleep_ms(100);
	http_multi_wakeup(arg);
	return NULL;
}

static void test_multi(void)
{
	struct http_multi *m = http_multi_new();
	struct http_request rq = { 0 };
	struct http_response rs;
	int tag_ok, tag_404, tag_mute, seen_ok = 0, seen_404 = 0, fd, i;
	int bad_polls = 0;
	char *data = put_file("multi.txt", 777), url2[PATH_MAX];
	void *tag;
	pthread_t t;
	int64_t t0;

	CHECK(m != NULL);
	if (!m)
		return;
	at("multi.txt");
	rq.url = url;
	CHECK(http_multi_add(m, &rq, &tag_ok) == TFS_OK);
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/multi-missing",
		 ngx_port);
	rq.url = url2;
	CHECK(http_multi_add(m, &rq, &tag_404) == TFS_OK);
	/* one that would hang for ever, removed below */
	snprintf(url2, sizeof(url2), "http://127.0.0.1:%d/never",
		 mute_server(&fd));
	CHECK(http_multi_add(m, &rq, &tag_mute) == TFS_OK);
	for (i = 0; i < 200 && seen_ok + seen_404 < 2; i++) {
		bad_polls += http_multi_poll(m, NULL, 0, 50) != TFS_OK;
		while (http_multi_next(m, &tag, &rs)) {
			if (tag == &tag_ok) {
				seen_ok++;
				CHECK(rs.status == 200 && rs.body_len == 777 &&
				      memcmp(rs.body, data, 777) == 0);
				CHECK(rs.attempts == 1);
			} else if (tag == &tag_404) {
				seen_404++;
				CHECK(rs.status == 404);
				CHECK(rs.fail == HTTP_FAIL_STATUS);
				CHECK(strstr(rs.error, "HTTP 404") != NULL);
			} else {
				CHECK(!"the mute server answered");
			}
			http_response_release(&rs);
		}
	}
	CHECK(seen_ok == 1 && seen_404 == 1);
	CHECK(bad_polls == 0);
	http_multi_remove(m, &tag_mute);
	CHECK(http_multi_poll(m, NULL, 0, 0) == TFS_OK);
	CHECK(http_multi_next(m, &tag, &rs) == 0);

	/* nothing running: a wakeup from another thread ends the wait */
	pthread_create(&t, NULL, wake_later, m);
	t0 = mono_ms();
	CHECK(http_multi_poll(m, NULL, 0, 20000) == TFS_OK);
	CHECK(mono_ms() - t0 < 15000);
	pthread_join(t, NULL);

	/* streaming is for http_request() only */
	rq.write = sink_write;
	CHECK(http_multi_add(m, &rq, &tag_ok) == TFS_EINVAL);
	/* freed with one still running */
	rq.write = NULL;
	CHECK(http_multi_add(m, &rq, &tag_mute) == TFS_OK);
	http_multi_free(m);
	close(fd);
	free(data);
}

int main(void)
{
	int64_t t0 = mono_ms();

	if (ngx_workdir("http", base, sizeof(base), www, sizeof(www)))
		return 1;
	CHECK(http_global_init() == TFS_OK);
	CHECK(http_global_init() == TFS_OK);

	test_retry_after();
	test_content_range();
	test_retryable();
	test_backoff();
	test_redact();
	test_timeout();
	test_bad_requests();
	test_file_url();
	ngx_up(www);
	if (ngx_port) {
		test_get();
		test_pool();
		test_too_big();
		test_404();
		test_503_then_200();
		test_429();
		test_post();
		test_range();
		test_cancel();
		test_secrets();
		test_multi();
		ngx_ctl("nginx_cleanup");
	}
	rm_rf(base);
	fprintf(stderr, "test_http: %" PRId64 " ms\n", mono_ms() - t0);
	return TEST_REPORT();
}
