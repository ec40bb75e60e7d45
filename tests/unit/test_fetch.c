/*
 * test_fetch.c - fetch_file() on real transfers, no mocks: a private nginx
 * (tests/lib/nginx.sh) on 127.0.0.1 and file:// URLs. Good, corrupt, missing,
 * too short and too long files; resuming from a part file holding the right
 * bytes, garbage, all of the file, or facing a server that ignores Range; a
 * server stopped and started again under a transfer; cancel; progress;
 * retries of a 503, a 429 with Retry-After and a refused connection;
 * redirects; secrets kept out of reasons; sha256_file() against sha256sum.
 * Runs from the repository root (it sources tests/lib/nginx.sh); without
 * nginx the HTTP cases say SKIP and the file:// ones still run. Every file
 * has its own name, so that nginx's access log tells each case's requests
 * apart.
 */
#define _GNU_SOURCE
#include <stddef.h>     /* fetch.h uses size_t without including it */
#include "fetch.h"
#include "http.h"
#include "sha256.h"
#include "util.h"
#include "test.h"
#include "nginx_test.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define KIB 1024
#define MIB (1024 * 1024)

static char base[256];         /* our mkdtemp directory */
static char www[512];          /* served by nginx and as file:// */
static char dl[512];           /* part and final files */
static char part[PATH_MAX], final[PATH_MAX];

/* A file in www and what the manifest says of it. */
struct blob {
	char name[64];
	unsigned char *data;
	size_t len;
	char sha[65];
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void fill_random(unsigned char *p, size_t len)
{
	while (len) {
		ssize_t n = getrandom(p, len, 0);

		if (n <= 0)
			continue;
		p += n;
		len -= (size_t)n;
	}
}

/* name in www with len random bytes. */
static void blob_make(struct blob *b, const char *name, size_t len)
{
	char path[PATH_MAX + 64];
	size_t i;

	snprintf(b->name, sizeof(b->name), "%s", name);
	b->len = len;
	b->data = xmalloc(len);
	fill_random(b->data, len);
	/* no "<!--#" for /chunked/'s SSI */
	for (i = 0; i < len; i++)
		if (b->data[i] == '<')
			b->data[i] = '>';
	sha256_hex(b->data, len, b->sha);
	snprintf(path, sizeof(path), "%s/%s", www, name);
	if (file_write_atomic(path, b->data, len, 0))
		fprintf(stderr, "cannot write '%s'\n", path);
}

static void blob_free(struct blob *b)
{
	free(b->data);
	b->data = NULL;
}

/* part and final for name, neither of them there yet. */
static void paths(const char *name)
{
	snprintf(part, sizeof(part), "%s/%s.part", dl, name);
	snprintf(final, sizeof(final), "%s/%s", dl, name);
	unlink(part);
	unlink(final);
}

static void http_url(char *out, size_t len, const char *loc, const char *name)
{
	snprintf(out, len, "http://127.0.0.1:%d/%s%s", ngx_port, loc, name);
}

static void file_url(char *out, size_t len, const char *name)
{
	snprintf(out, len, "file://%s/%s", www, name);
}

static int64_t file_size(const char *path)
{
	struct stat st;

	return stat(path, &st) == 0 ? (int64_t)st.st_size : -1;
}

static int same_content(const char *path, const struct blob *b)
{
	struct buf got = BUF_INIT(0);
	int same = file_read_all(path, 64 * MIB, &got) == TFS_OK &&
		   got.len == b->len && memcmp(got.p, b->data, b->len) == 0;

	buf_release(&got);
	return same;
}

static void write_part(const void *data, size_t len)
{
	if (file_write_atomic(part, data, len, 0))
		fprintf(stderr, "cannot write '%s'\n", part);
}

/* ---- over HTTP ---- */

static void test_http_good(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	blob_make(&b, "good.bin", MIB);
	paths(b.name);
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(file_size(part) == -1);
	CHECK_STR(reason, "");
	CHECK(ngx_log_wait("GET /good.bin 200 1048576 ", "range=-", 1) == 1);

	/* again over an existing final file: replaced, still right */
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	blob_free(&b);
}

static void test_corrupt(void)
{
	struct blob b;
	char url[PATH_MAX], path[PATH_MAX + 64], reason[FETCH_REASON_MAX];
	char bad_sha[65];

	blob_make(&b, "corrupt.bin", MIB);
	/* the manifest keeps the original's hash; the disk gets a bit flip */
	b.data[MIB / 2] ^= 1;
	sha256_hex(b.data, b.len, bad_sha);
	snprintf(path, sizeof(path), "%s/%s", www, b.name);
	file_write_atomic(path, b.data, b.len, 0);
	paths(b.name);
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "sha256 mismatch") != NULL);
	CHECK(strstr(reason, b.sha) != NULL);
	CHECK(strstr(reason, bad_sha) != NULL);
	CHECK(file_size(final) == -1);
	CHECK(file_size(part) == -1);
	blob_free(&b);
}

static void test_404(void)
{
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	int64_t t0;

	paths("missing.bin");
	http_url(url, sizeof(url), "", "missing.bin");
	t0 = mono_ms();
	CHECK(fetch_file(url, part, final, 1000, "0123456789abcdef0123456789"
			 "abcdef0123456789abcdef0123456789abcdef", NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(mono_ms() - t0 < 2000);
	CHECK(strstr(reason, "404") != NULL);
	CHECK(strstr(reason, url) != NULL);
	CHECK(file_size(final) == -1);
	CHECK(ngx_log_wait("GET /missing.bin 404", NULL, 1) == 1);
	unlink(part);
}

static void test_resume(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	blob_make(&b, "resume.bin", MIB);
	paths(b.name);
	write_part(b.data, 300 * KIB);
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(file_size(part) == -1);
	CHECK(ngx_log_wait("GET /resume.bin 206 741376 ", "range=bytes=307200-",
		       1) == 1);
	CHECK(ngx_log_count("GET /resume.bin 200", NULL) == 0);
	blob_free(&b);
}

static void test_garbage_part(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	static unsigned char junk[300 * KIB];

	blob_make(&b, "garbage.bin", MIB);
	paths(b.name);
	fill_random(junk, sizeof(junk));
	write_part(junk, sizeof(junk));
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "sha256 mismatch") != NULL);
	CHECK(file_size(part) == -1);
	CHECK(file_size(final) == -1);
	/* the bad part is gone, so the next try starts from byte 0 */
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(ngx_log_wait("GET /garbage.bin 200 1048576 ", "range=-", 1) == 1);
	blob_free(&b);
}

/* The server ignores Range: curl refuses the 200, we start over. */
static void test_no_range(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	blob_make(&b, "norange.bin", MIB);
	paths(b.name);
	write_part(b.data, 300 * KIB);
	http_url(url, sizeof(url), "norange/", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(ngx_log_wait("GET /norange/norange.bin 200", "range=-", 1) == 1);
	CHECK(ngx_log_count("GET /norange/norange.bin 200",
			"range=bytes=307200-") == 1);
	blob_free(&b);
}

/* A part file holding the whole artifact is verified without a request. */
static void test_complete_part(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	blob_make(&b, "complete.bin", 256 * KIB);
	paths(b.name);
	write_part(b.data, b.len);
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(file_size(part) == -1);
	sleep_ms(100);
	CHECK(ngx_log_count("/complete.bin", NULL) == 0);
	blob_free(&b);
}

struct bg_fetch {
	pthread_t t;
	const char *url;
	const struct blob *b;
	struct fetch_opts opts;
	int ret;
	char reason[FETCH_REASON_MAX];
	int64_t ms;
};

static void *bg_main(void *arg)
{
	struct bg_fetch *f = arg;
	int64_t t0 = mono_ms();

	f->ret = fetch_file(f->url, part, final, (int64_t)f->b->len, f->b->sha,
			    &f->opts, f->reason, sizeof(f->reason));
	f->ms = mono_ms() - t0;
	return NULL;
}

/* Progress reports, for checking they only grow. */
struct seen {
	int n, shrank, bad_total;
	int64_t last, total;
};

static void on_progress(void *arg, int64_t done, int64_t total)
{
	struct seen *s = arg;

	if (s->n && done < s->last)
		s->shrank++;
	if (total != s->total)
		s->bad_total++;
	s->last = done;
	s->n++;
}

/*
 * nginx stops (cutting the connection) and starts again under a transfer:
 * the retry resumes with a Range request. /slowfirst/ is slow only without
 * Range, so the cut comes early and the resumed part is quick.
 */
static void test_server_drop(void)
{
	struct blob b;
	char url[PATH_MAX];
	struct bg_fetch f = { .opts = FETCH_OPTS_INIT };
	struct seen s = { 0 };

	blob_make(&b, "drop.bin", 4 * MIB);
	paths(b.name);
	http_url(url, sizeof(url), "slowfirst/", b.name);
	s.total = (int64_t)b.len;
	f.url = url;
	f.b = &b;
	f.opts.backoff_ms = 300;
	f.opts.max_attempts = 6;
	f.opts.progress = on_progress;
	f.opts.progress_arg = &s;
	pthread_create(&f.t, NULL, bg_main, &f);
	sleep_ms(500);
	CHECK(ngx_ctl("nginx_stop") == 0);
	CHECK(file_size(part) > 0);
	sleep_ms(300);
	CHECK(ngx_ctl("nginx_restart") == 0);
	pthread_join(f.t, NULL);
	CHECK(f.ret == TFS_OK);
	if (f.ret)
		fprintf(stderr, "drop: %s\n", f.reason);
	CHECK(same_content(final, &b));
	CHECK(file_size(part) == -1);
	CHECK(ngx_log_wait("GET /slowfirst/drop.bin 206", "range=bytes=", 1) == 1);
	CHECK(s.n >= 3);
	CHECK(s.shrank == 0);
	CHECK(s.bad_total == 0);
	CHECK(s.last == (int64_t)b.len);
	blob_free(&b);
}

static void test_size_mismatch(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	blob_make(&b, "short.bin", 512 * KIB);
	paths(b.name);
	http_url(url, sizeof(url), "", b.name);
	/* the manifest promises more than the server has */
	CHECK(fetch_file(url, part, final, (int64_t)b.len + 1000, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "size mismatch") != NULL);
	CHECK(strstr(reason, "524288") != NULL);
	CHECK(file_size(final) == -1);
	CHECK(file_size(part) == -1);

	/* and less: Content-Length gives it away before the body */
	CHECK(fetch_file(url, part, final, (int64_t)b.len - 1000, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "size mismatch") != NULL);
	CHECK(file_size(final) == -1);
	CHECK(file_size(part) == -1);

	/* chunked, no length announced: the body is cut at the size */
	http_url(url, sizeof(url), "chunked/", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len - 1000, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "size mismatch") != NULL);
	CHECK(strstr(reason, "more") != NULL);
	CHECK(file_size(final) == -1);
	CHECK(file_size(part) == -1);
	/* a chunked body of the right size is fine */
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(ngx_log_wait("GET /chunked/short.bin 200", NULL, 2) == 2);
	blob_free(&b);
}

static void test_cancel(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	struct bg_fetch f = { .opts = FETCH_OPTS_INIT };
	volatile int cancel = 0;
	int64_t kept;

	blob_make(&b, "cancel.bin", MIB);
	paths(b.name);
	http_url(url, sizeof(url), "veryslow/", b.name);
	f.url = url;
	f.b = &b;
	f.opts.cancel = &cancel;
	pthread_create(&f.t, NULL, bg_main, &f);
	sleep_ms(400);
	__atomic_store_n(&cancel, 1, __ATOMIC_RELAXED);
	pthread_join(f.t, NULL);
	CHECK(f.ret == TFS_EINTR);
	CHECK(f.ms < 2000);
	kept = file_size(part);
	CHECK(kept > 0 && kept < (int64_t)b.len);
	CHECK(file_size(final) == -1);

	/* the kept bytes are resumed from, at full speed this time */
	http_url(url, sizeof(url), "", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(ngx_log_wait("GET /cancel.bin 206", "range=bytes=", 1) == 1);

	/* cancelled before it starts: nothing is fetched */
	paths(b.name);
	cancel = 1;
	f.opts.cancel = &cancel;
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, &f.opts,
			 reason, sizeof(reason)) == TFS_EINTR);
	CHECK(file_size(final) == -1);
	unlink(part);
	blob_free(&b);
}

static void test_progress(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	struct fetch_opts o = FETCH_OPTS_INIT;
	struct seen s = { 0 };

	blob_make(&b, "progress.bin", 512 * KIB);
	paths(b.name);
	http_url(url, sizeof(url), "slow/", b.name);
	s.total = (int64_t)b.len;
	o.progress = on_progress;
	o.progress_arg = &s;
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, &o, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(s.n >= 4);
	CHECK(s.shrank == 0);
	CHECK(s.bad_total == 0);
	CHECK(s.last == (int64_t)b.len);
	blob_free(&b);
}

static void test_retries(void)
{
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	struct fetch_opts o = FETCH_OPTS_INIT;
	const char *sha = "0123456789abcdef0123456789abcdef"
			  "0123456789abcdef0123456789abcdef";
	int64_t t0, ms;

	/* 503: retried, with a doubling backoff of 100 + 200 ms */
	paths("busy.bin");
	http_url(url, sizeof(url), "status503/", "busy.bin");
	o.max_attempts = 3;
	o.backoff_ms = 100;
	t0 = mono_ms();
	CHECK(fetch_file(url, part, final, 1000, sha, &o, reason,
			 sizeof(reason)) == TFS_EIO);
	ms = mono_ms() - t0;
	CHECK(ms >= 300 && ms < 3000);
	CHECK(strstr(reason, "after 3 attempts") != NULL);
	CHECK(strstr(reason, "HTTP 503") != NULL);
	CHECK(ngx_log_wait("GET /status503/busy.bin 503", NULL, 3) == 3);
	unlink(part);

	/* 429 with Retry-After: 1 waits that second, not the 10 ms */
	paths("later.bin");
	http_url(url, sizeof(url), "busy/", "later.bin");
	o.max_attempts = 2;
	o.backoff_ms = 10;
	t0 = mono_ms();
	CHECK(fetch_file(url, part, final, 1000, sha, &o, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(mono_ms() - t0 >= 1000);
	CHECK(strstr(reason, "after 2 attempts") != NULL);
	CHECK(strstr(reason, "HTTP 429") != NULL);
	CHECK(ngx_log_wait("GET /busy/later.bin 429", NULL, 2) == 2);
	unlink(part);

	/* nobody listening: the same, with curl's words */
	snprintf(url, sizeof(url), "http://127.0.0.1:1/refused.bin");
	o.max_attempts = 2;
	o.backoff_ms = 10;
	CHECK(fetch_file(url, part, final, 1000, sha, &o, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "connection failed after 2 attempts") != NULL);
	unlink(part);
}

static void test_redirects(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	int64_t t0;

	blob_make(&b, "redir.bin", 256 * KIB);
	paths(b.name);
	http_url(url, sizeof(url), "redir/", b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));

	/* a redirect loop ends after 5 hops, for good */
	paths("loop.bin");
	http_url(url, sizeof(url), "loop/", "loop.bin");
	t0 = mono_ms();
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(mono_ms() - t0 < 2000);
	CHECK(strstr(reason, "edirect") != NULL);
	CHECK(ngx_log_wait("GET /loop/loop.bin 302", NULL, 6) == 6);
	CHECK(ngx_log_count("GET /loop/loop.bin 302", NULL) == 6);
	unlink(part);
	blob_free(&b);
}

/* Credentials in a URL (userinfo, a presigned query) stay out of reasons. */
static void test_secrets(void)
{
	char url[PATH_MAX], reason[FETCH_REASON_MAX];

	paths("secret.bin");
	snprintf(url, sizeof(url), "http://user:hunter2@127.0.0.1:%d/secret.bin"
		 "?X-Amz-Signature=deadbeefsecret", ngx_port);
	CHECK(fetch_file(url, part, final, 10, "0123456789abcdef0123456789ab"
			 "cdef0123456789abcdef0123456789abcdef", NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "404") != NULL);
	CHECK(strstr(reason, "hunter2") == NULL);
	CHECK(strstr(reason, "deadbeefsecret") == NULL);
	CHECK(strstr(reason, "127.0.0.1") != NULL);
	unlink(part);
}

/* ---- over file:// and without a transfer ---- */

static void test_file_url(void)
{
	struct blob b;
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	unsigned char junk[4 * KIB];

	fill_random(junk, sizeof(junk));
	blob_make(&b, "local.bin", MIB);
	paths(b.name);
	file_url(url, sizeof(url), b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));
	CHECK(file_size(part) == -1);

	/* resumed from a part file */
	paths(b.name);
	write_part(b.data, 300 * KIB);
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));

	/* a part file longer than the artifact is started over */
	paths(b.name);
	write_part(b.data, b.len);
	{
		int fd = open(part, O_WRONLY | O_APPEND);

		CHECK(fd >= 0 && write(fd, junk, sizeof(junk)) ==
		      (ssize_t)sizeof(junk));
		if (fd >= 0)
			close(fd);
	}
	CHECK(fetch_file(url, part, final, (int64_t)b.len, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(same_content(final, &b));

	/* the file is shorter than the manifest says */
	paths(b.name);
	CHECK(fetch_file(url, part, final, (int64_t)b.len + 1, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "size mismatch") != NULL);
	CHECK(file_size(part) == -1);
	CHECK(file_size(final) == -1);

	/* ... and with a part file past the file's end: curl cannot resume
	 * there, we start over and find out the size */
	paths(b.name);
	write_part(b.data, b.len);
	{
		int fd = open(part, O_WRONLY | O_APPEND);

		CHECK(fd >= 0 && write(fd, junk, 50) == 50);
		if (fd >= 0)
			close(fd);
	}
	CHECK(fetch_file(url, part, final, (int64_t)b.len + 100, b.sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "size mismatch") != NULL);
	CHECK(file_size(final) == -1);

	/* a missing file fails at once */
	paths("nothere.bin");
	file_url(url, sizeof(url), "nothere.bin");
	CHECK(fetch_file(url, part, final, 10, b.sha, NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(reason[0] != '\0');
	CHECK(file_size(final) == -1);
	unlink(part);
	blob_free(&b);
}

static void test_edges(void)
{
	char url[PATH_MAX], reason[FETCH_REASON_MAX];
	char empty_sha[65];
	struct blob b;

	/* an empty artifact */
	sha256_hex("", 0, empty_sha);
	blob_make(&b, "empty.bin", 0);
	paths(b.name);
	file_url(url, sizeof(url), b.name);
	CHECK(fetch_file(url, part, final, 0, empty_sha, NULL, reason,
			 sizeof(reason)) == TFS_OK);
	CHECK(file_size(final) == 0);
	CHECK(file_size(part) == -1);

	/* a manifest entry that cannot be right: nothing touched */
	paths(b.name);
	CHECK(fetch_file(url, part, final, 0, "nothex", NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(strstr(reason, "manifest") != NULL);
	CHECK(fetch_file(url, part, final, -1, empty_sha, NULL, reason,
			 sizeof(reason)) == TFS_EIO);
	CHECK(file_size(part) == -1);

	/* uppercase hex in the manifest is the same hash */
	{
		char upper[65];
		int i;

		for (i = 0; i < 65; i++)
			upper[i] = (char)(empty_sha[i] >= 'a' ?
					  empty_sha[i] - 32 : empty_sha[i]);
		CHECK(fetch_file(url, part, final, 0, upper, NULL, reason,
				 sizeof(reason)) == TFS_OK);
	}
	/* a protocol other than file, http and https is refused */
	CHECK(fetch_file("ftp://127.0.0.1/x", part, final, 10, empty_sha, NULL,
			 reason, sizeof(reason)) == TFS_EIO);
	unlink(part);
	/* reason may be NULL */
	CHECK(fetch_file(url, part, final, 0, empty_sha, NULL, NULL, 0) ==
	      TFS_OK);
	blob_free(&b);
}

static void test_sha256_file(void)
{
	struct blob b;
	char path[PATH_MAX + 64], cmd[PATH_MAX * 2], line[256], got[65];
	int64_t size = -1;
	FILE *p;

	blob_make(&b, "hashme.bin", 3 * MIB + 17);
	snprintf(path, sizeof(path), "%s/%s", www, b.name);
	CHECK(sha256_file(path, got, &size) == TFS_OK);
	CHECK_STR(got, b.sha);
	CHECK(size == (int64_t)b.len);
	snprintf(cmd, sizeof(cmd), "sha256sum '%s'", path);
	p = popen(cmd, "r");
	if (p) {
		if (fgets(line, sizeof(line), p) && strlen(line) > 64) {
			line[64] = '\0';
			CHECK_STR(got, line);
		} else {
			printf("SKIP sha256sum comparison: no output\n");
		}
		pclose(p);
	}
	CHECK(sha256_file("/nonexistent/file", got, &size) == TFS_EIO);
	CHECK(sha256_file(www, got, NULL) == TFS_EIO);
	blob_free(&b);
}

int main(void)
{
	int64_t t0 = mono_ms();

	if (ngx_workdir("fetch", base, sizeof(base), www, sizeof(www)))
		return 1;
	snprintf(dl, sizeof(dl), "%s/dl", base);
	mkdir_p(dl, 0700);
	CHECK(http_global_init() == TFS_OK);

	test_file_url();
	test_edges();
	test_sha256_file();
	ngx_up(www);
	if (ngx_port) {
		test_http_good();
		test_corrupt();
		test_404();
		test_resume();
		test_garbage_part();
		test_no_range();
		test_complete_part();
		test_size_mismatch();
		test_retries();
		test_redirects();
		test_secrets();
		test_progress();
		test_cancel();
		test_server_drop();
		ngx_ctl("nginx_cleanup");
	}
	rm_rf(base);
	fprintf(stderr, "test_fetch: %" PRId64 " ms\n", mono_ms() - t0);
	return TEST_REPORT();
}
