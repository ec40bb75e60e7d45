/*
 * test_runstore.c - the run store on both backends. Keys first, with no
 * store: a good one, then every part wrong in turn (run id, attempt, a
 * name with "..", absolute, empty parts, too long) and store URLs that
 * are refused. Then the same cases against a temporary directory
 * (file://) and a private nginx on 127.0.0.1 whose /dav/ location takes
 * PUT (tests/lib/nginx.sh): write and read back; read from an offset after
 * the file grew returns only the new bytes, with the size; from the end,
 * nothing; max_bytes and the buffer's own bound hold; a missing file is
 * TFS_ENOENT; the exit file appears. Over HTTP also: a server that ignores
 * Range is read whole with the offset skipped, a PUT the server refuses
 * and a store nobody listens on fail with a reason, and neither a token
 * header's value nor a URL's password is in any reason or log line. Runs
 * from the repository root; without nginx the HTTP cases say SKIP.
 */
#define _GNU_SOURCE
#include "runstore.h"
#include "sha256.h"
#include "http.h"
#include "util.h"
#include "test.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include "capture.h"
#include "nginx_test.h"

#define UUID "0b6c3f9e-2d4a-4e8b-9c1d-7f5e3a2b1c0d"
#define TOKEN "tok-Zq81-secret-4471"
#define PASSWORD "pw-Hh20-secret-9035"

static char base[256];         /* our mkdtemp directory */
static char www[512];          /* served by nginx */
static char errbuf[512];

/* ---- keys and URLs, no store ---- */

/* Keys runstore_path() refuses, what it says, and how. */
static const struct bad_key {
	const char *run_id;
	int attempt;
	const char *name;
	int rc;
	const char *says;
} bad_keys[] = {
	{ "0B6C3F9E-2D4A-4E8B-9C1D-7F5E3A2B1C0D", 1, "log", TFS_EINVAL,
	  "not a uuid" },
	{ "0b6c3f9e-2d4a-4e8b-9c1d-7f5e3a2b1c0", 1, "log", TFS_EINVAL,
	  "not a uuid" },
	{ "0b6c3f9e-2d4a-4e8b-9c1d-7f5e3a2b1c0dd", 1, "log", TFS_EINVAL,
	  "not a uuid" },
	{ "../../../etc/passwd-aaaaaaaaaaaaaaaaa", 1, "log", TFS_EINVAL,
	  "not a uuid" },
	{ "0b6c3f9e-2d4a-4e8b-9c1d_7f5e3a2b1c0d", 1, "log", TFS_EINVAL,
	  "not a uuid" },
	{ NULL, 1, "log", TFS_EINVAL, "not a uuid" },
	{ UUID, 0, "log", TFS_EINVAL, "attempt 0 is not from 1 to 10000" },
	{ UUID, 10001, "log", TFS_EINVAL, "attempt 10001" },
	{ UUID, -1, "log", TFS_EINVAL, "attempt -1" },
	{ UUID, 1, "../other/log", TFS_EINVAL, "'..'" },
	{ UUID, 1, "output/../../x", TFS_EINVAL, "'..'" },
	{ UUID, 1, "output/..", TFS_EINVAL, "'..'" },
	{ UUID, 1, "/etc/passwd", TFS_EINVAL, "absolute" },
	{ UUID, 1, "", TFS_EINVAL, "empty" },
	{ UUID, 1, NULL, TFS_EINVAL, "empty" },
	{ UUID, 1, "output//x", TFS_EINVAL, "empty" },
	{ UUID, 1, "output/./x", TFS_EINVAL, "'.'" },
	{ UUID, 1, "output/", TFS_EINVAL, "empty" },
	{ UUID, 1, "lo\ng", TFS_EINVAL, "control character" },
};

static void test_path(void)
{
	char key[RUNSTORE_KEY_MAX + 1], small[16];
	char longname[RUNSTORE_NAME_MAX + 8];
	size_t i;

	CHECK(runstore_path(UUID, 1, "log", key, sizeof(key), errbuf,
			    sizeof(errbuf)) == TFS_OK);
	CHECK_STR(key, UUID "/1/log");
	CHECK(runstore_path(UUID, 10000, "output/ckpt/model.pt", key,
			    sizeof(key), errbuf, sizeof(errbuf)) == TFS_OK);
	CHECK_STR(key, UUID "/10000/output/ckpt/model.pt");
	/* ".." inside a name is only a name */
	CHECK(runstore_path(UUID, 1, "output/a..b", key, sizeof(key), errbuf,
			    sizeof(errbuf)) == TFS_OK);

	for (i = 0; i < sizeof(bad_keys) / sizeof(bad_keys[0]); i++) {
		const struct bad_key *k = &bad_keys[i];
		int rc;

		errbuf[0] = '\0';
		rc = runstore_path(k->run_id, k->attempt, k->name, key,
				   sizeof(key), errbuf, sizeof(errbuf));
		if (rc != k->rc || !strstr(errbuf, k->says))
			fprintf(stderr, "bad key %zu: %d '%s'\n", i, rc,
				errbuf);
		CHECK(rc == k->rc);
		CHECK(strstr(errbuf, k->says) != NULL);
		CHECK_STR(key, "");
	}

	memset(longname, 'a', RUNSTORE_NAME_MAX + 1);
	longname[RUNSTORE_NAME_MAX + 1] = '\0';
	CHECK(runstore_path(UUID, 1, longname, key, sizeof(key), errbuf,
			    sizeof(errbuf)) == TFS_ENAMETOOLONG);
	longname[RUNSTORE_NAME_MAX] = '\0';
	CHECK(runstore_path(UUID, 10000, longname, key, sizeof(key), errbuf,
			    sizeof(errbuf)) == TFS_OK);
	CHECK(strlen(key) <= RUNSTORE_KEY_MAX);
	CHECK(runstore_path(UUID, 1, "log", small, sizeof(small), errbuf,
			    sizeof(errbuf)) == TFS_ENAMETOOLONG);
	CHECK_STR(small, "");
}

static void test_open_refused(void)
{
	static const char *const bad_header[] = { "Authorization " TOKEN,
						  NULL };
	struct runstore *s = (struct runstore *)&s;
	char longurl[RUNSTORE_URL_MAX + 16];

	CHECK(runstore_open("ftp://host/x", NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(s == NULL);
	CHECK(strstr(errbuf, "neither") != NULL);
	CHECK(runstore_open("file://relative/x", NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(runstore_open("file:///srv/../etc", NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(runstore_open("http://", NULL, &s, errbuf, sizeof(errbuf)) ==
	      TFS_EINVAL);
	CHECK(runstore_open("http:///x", NULL, &s, errbuf, sizeof(errbuf)) ==
	      TFS_EINVAL);
	CHECK(runstore_open("http://h/x?sig=" PASSWORD, NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(strstr(errbuf, PASSWORD) == NULL);
	CHECK(runstore_open("http://u:" PASSWORD "@h/x y", NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(strstr(errbuf, PASSWORD) == NULL);
	CHECK(runstore_open("", NULL, &s, errbuf, sizeof(errbuf)) ==
	      TFS_EINVAL);
	CHECK(runstore_open("http://h/x", bad_header, &s, errbuf,
			    sizeof(errbuf)) == TFS_EINVAL);
	CHECK(strstr(errbuf, "header 1") != NULL);
	CHECK(strstr(errbuf, TOKEN) == NULL);
	memset(longurl, 'a', sizeof(longurl) - 1);
	memcpy(longurl, "http://", 7);
	longurl[sizeof(longurl) - 1] = '\0';
	CHECK(runstore_open(longurl, NULL, &s, errbuf, sizeof(errbuf)) ==
	      TFS_ENAMETOOLONG);
	CHECK(s == NULL);
	runstore_close(NULL);
}

/* ---- both backends ---- */

/* key for name in attempt 1 */
static const char *key_of(const char *name)
{
	static char key[RUNSTORE_KEY_MAX + 1];

	if (runstore_path(UUID, 1, name, key, sizeof(key), errbuf,
			  sizeof(errbuf)))
		key[0] = '\0';
	return key;
}

/*
 * Reads key from offset (at most max) into a fresh buffer and compares it
 * with want (NULL: the call must fail with rc); *total compared with
 * want_total unless it is -2.
 */
static void check_read(const struct runstore *s, const char *key,
		       int64_t offset, size_t max, int rc, const char *want,
		       int64_t want_total, int line)
{
	struct buf b = BUF_INIT(1 << 20);
	int64_t total = 12345;
	int got;

	errbuf[0] = '\0';
	got = runstore_read_from(s, key, offset, max, &b, &total, errbuf,
				 sizeof(errbuf));
	if (got != rc)
		fprintf(stderr, "line %d: read %s from %" PRId64 ": %d (%s)\n",
			line, key, offset, got, errbuf);
	CHECK(got == rc);
	if (want) {
		CHECK(b.len == strlen(want));
		CHECK(b.len == strlen(want) && (b.len == 0 ||
		      memcmp(b.p, want, b.len) == 0));
	} else {
		CHECK(b.len == 0);
		CHECK(errbuf[0] != '\0');
		CHECK(total == -1);
	}
	if (want_total != -2) {
		if (total != want_total)
			fprintf(stderr, "line %d: total %" PRId64 ", want %"
				PRId64 "\n", line, total, want_total);
		CHECK(total == want_total);
	}
	buf_release(&b);
}

/* Appends text to the file that holds key on disk, under dir. */
static void append_disk(const char *dir, const char *key, const char *text)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, key);
	f = fopen(path, "a");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/*
 * The cases both backends must pass; disk is the directory the store's
 * files are in on this machine, to append to as a job would.
 */
static void test_store(const struct runstore *s, const char *disk)
{
	const char *log = "step 1 loss 2.5\nstep 2 loss 2.1\n";
	char key[RUNSTORE_KEY_MAX + 1];
	struct buf b = BUF_INIT(8);
	int64_t total;
	size_t n = strlen(log);

	snprintf(key, sizeof(key), "%s", key_of("log"));
	/* not written yet: normal, and said */
	check_read(s, key, 0, 4096, TFS_ENOENT, NULL, -2, __LINE__);
	CHECK(strstr(errbuf, "not in the store") != NULL);
	CHECK(runstore_exists(s, key_of("exit"), errbuf, sizeof(errbuf)) ==
	      TFS_ENOENT);

	/* write, read back, with the size */
	CHECK(runstore_write(s, key, log, n, errbuf, sizeof(errbuf)) ==
	      TFS_OK);
	check_read(s, key, 0, 4096, TFS_OK, log, (int64_t)n, __LINE__);
	/* the job appends: from the old length only the new bytes */
	append_disk(disk, key, "step 3 loss 1.9\n");
	check_read(s, key, (int64_t)n, 4096, TFS_OK, "step 3 loss 1.9\n",
		   (int64_t)n + 16, __LINE__);
	/* at the end and past it: nothing new, not an error */
	check_read(s, key, (int64_t)n + 16, 4096, TFS_OK, "", (int64_t)n + 16,
		   __LINE__);
	check_read(s, key, (int64_t)n + 100, 4096, TFS_OK, "", -2, __LINE__);
	/* max_bytes holds, from the start and from an offset */
	check_read(s, key, 0, 6, TFS_OK, "step 1", -2, __LINE__);
	check_read(s, key, 5, 3, TFS_OK, "1 l", -2, __LINE__);
	check_read(s, key, 5, 0, TFS_OK, "", -2, __LINE__);
	/* and the buffer's own bound */
	CHECK(runstore_read_from(s, key, 0, 4096, &b, &total, errbuf,
				 sizeof(errbuf)) == TFS_EFBIG);
	CHECK(b.len <= 8);
	CHECK(errbuf[0] != '\0');
	buf_release(&b);
	CHECK(runstore_read_from(s, key, -1, 10, &b, &total, errbuf,
				 sizeof(errbuf)) == TFS_EINVAL);
	buf_release(&b);

	/* a write replaces the whole; nested names make their directories */
	CHECK(runstore_write(s, key, "new\n", 4, errbuf, sizeof(errbuf)) ==
	      TFS_OK);
	check_read(s, key, 0, 4096, TFS_OK, "new\n", 4, __LINE__);
	CHECK(runstore_write(s, key_of("output/ckpt/a b.txt"), "w", 1, errbuf,
			     sizeof(errbuf)) == TFS_OK);
	check_read(s, key_of("output/ckpt/a b.txt"), 0, 10, TFS_OK, "w", 1,
		   __LINE__);
	CHECK(runstore_write(s, key_of("metrics.jsonl"), "", 0, errbuf,
			     sizeof(errbuf)) == TFS_OK);
	check_read(s, key_of("metrics.jsonl"), 0, 10, TFS_OK, "", 0, __LINE__);

	/* the exit file appears */
	CHECK(runstore_write(s, key_of("exit"), "0\n", 2, errbuf,
			     sizeof(errbuf)) == TFS_OK);
	CHECK(runstore_exists(s, key_of("exit"), errbuf, sizeof(errbuf)) ==
	      TFS_OK);

	/* keys that would leave the prefix, whoever built them */
	CHECK(runstore_write(s, "../escape", "x", 1, errbuf,
			     sizeof(errbuf)) == TFS_EINVAL);
	CHECK(runstore_write(s, "/tmp/escape", "x", 1, errbuf,
			     sizeof(errbuf)) == TFS_EINVAL);
	CHECK(runstore_write(s, UUID "/1/../../escape", "x", 1, errbuf,
			     sizeof(errbuf)) == TFS_EINVAL);
	check_read(s, "../etc/passwd", 0, 10, TFS_EINVAL, NULL, -2, __LINE__);
	check_read(s, "/etc/passwd", 0, 10, TFS_EINVAL, NULL, -2, __LINE__);
	CHECK(runstore_exists(s, "a/../b", errbuf, sizeof(errbuf)) ==
	      TFS_EINVAL);
	CHECK(runstore_write(s, "", "x", 1, errbuf, sizeof(errbuf)) ==
	      TFS_EINVAL);
	CHECK(runstore_write(s, key, "x", (size_t)RUNSTORE_WRITE_MAX + 1,
			     errbuf, sizeof(errbuf)) == TFS_EFBIG);

	/* a file of ours stored whole (a job's input), with its hash; an
	 * empty one too; one that is not a regular file is refused */
	{
		char path[700], sum[65], want[65];
		FILE *f;

		snprintf(path, sizeof(path), "%s/input.bin", base);
		f = fopen(path, "w");
		if (f) {
			fputs("weights\n", f);
			fclose(f);
		}
		sha256_hex("weights\n", 8, want);
		CHECK(runstore_write_file(s, key_of("inputs/m/w b.bin"), path,
					  sum, errbuf, sizeof(errbuf)) ==
		      TFS_OK);
		CHECK_STR(sum, want);
		check_read(s, key_of("inputs/m/w b.bin"), 0, 64, TFS_OK,
			   "weights\n", 8, __LINE__);
		f = fopen(path, "w");
		if (f)
			fclose(f);
		CHECK(runstore_write_file(s, key_of("inputs/m/empty"), path,
					  sum, errbuf, sizeof(errbuf)) ==
		      TFS_OK);
		check_read(s, key_of("inputs/m/empty"), 0, 64, TFS_OK, "", 0,
			   __LINE__);
		CHECK(runstore_write_file(s, key_of("inputs/m/d"), base, sum,
					  errbuf, sizeof(errbuf)) == TFS_EIO);
		CHECK(strstr(errbuf, "not a regular file") && !sum[0]);
		CHECK(runstore_write_file(s, "../x", path, sum, errbuf,
					  sizeof(errbuf)) == TFS_EINVAL);
	}
}

static void test_file(void)
{
	char dir[512], url[600], path[PATH_MAX];
	struct runstore *s = NULL;
	struct buf b = BUF_INIT(0);

	snprintf(dir, sizeof(dir), "%s/shared/store", base);
	snprintf(url, sizeof(url), "file://%s/", dir);
	CHECK(runstore_open(url, NULL, &s, errbuf, sizeof(errbuf)) == TFS_OK);
	if (!s)
		return;
	test_store(s, dir);
	/* the files are where the layout says, with the bytes written */
	snprintf(path, sizeof(path), "%s/" UUID "/1/exit", dir);
	CHECK(file_read_all(path, 100, &b) == TFS_OK);
	CHECK(b.len == 2 && memcmp(b.p, "0\n", 2) == 0);
	buf_release(&b);
	snprintf(path, sizeof(path), "%s/" UUID "/1/output/ckpt/a b.txt", dir);
	CHECK(access(path, F_OK) == 0);
	/* no temporary file is left beside them */
	snprintf(path, sizeof(path), "ls -a '%s/" UUID "/1' | grep -q tmp",
		 dir);
	CHECK(ngx_sh("%s", path) == 1);
	runstore_close(s);
}

/* ---- HTTP only ---- */

/* A port on 127.0.0.1 that nobody listens on (bound, then closed). */
static int dead_port(void)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;

	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return port;
}

static void test_http(void)
{
	static const char *const auth[] = {
		"Authorization: Bearer " TOKEN, NULL
	};
	char url[256], dir[600];
	struct runstore *s = NULL, *plain = NULL, *norange = NULL;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d/dav/store/",
		 ngx_port);
	snprintf(dir, sizeof(dir), "%s/store", www);
	CHECK(runstore_open(url, auth, &s, errbuf, sizeof(errbuf)) == TFS_OK);
	if (!s)
		return;
	test_store(s, dir);
	CHECK(ngx_log_wait("PUT /dav/store/" UUID "/1/log", " 201 ", 1) >= 1);
	CHECK(ngx_log_wait("GET /dav/store/" UUID "/1/log", "range=bytes=",
			   1) >= 1);
	CHECK(ngx_log_wait("/dav/store/" UUID "/1/output/ckpt/a%20b.txt",
			   NULL, 1) >= 1);
	CHECK(ngx_log_wait("HEAD /dav/store/" UUID "/1/exit", " 200 ", 1) >=
	      1);
	/* one request per read: a 416 is taken as the answer it is */
	CHECK(ngx_log_wait("GET /dav/store/" UUID "/1/log 416", NULL, 2) ==
	      2);
	CHECK(ngx_log_wait("GET /dav/store/" UUID "/1/log ", NULL, 10) ==
	      10);

	/* a server ignoring Range: read whole, the offset skipped */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/norange/store",
		 ngx_port);
	CHECK(runstore_open(url, auth, &norange, errbuf, sizeof(errbuf)) ==
	      TFS_OK);
	if (norange) {
		check_read(norange, key_of("log"), 1, 100, TFS_OK, "ew\n", 4,
			   __LINE__);
		check_read(norange, key_of("log"), 1, 2, TFS_OK, "ew", -2,
			   __LINE__);
		check_read(norange, key_of("log"), 9, 2, TFS_OK, "", 4,
			   __LINE__);
		CHECK(ngx_log_wait("GET /norange/store/" UUID "/1/log 200",
				   "range=bytes=1-", 2) >= 2);
		CHECK(ngx_log_wait("GET /norange/store/" UUID "/1/log 200",
				   "range=-", 2) >= 2);
	}
	runstore_close(norange);

	/* the token never in a reason: a 404 for a name that holds it (so
	 * that the URL holds it too), a PUT refused, a dead store */
	check_read(s, key_of("output/" TOKEN), 0, 10, TFS_ENOENT, NULL, -2,
		   __LINE__);
	CHECK(strstr(errbuf, "not in the store") != NULL);
	CHECK(strstr(errbuf, TOKEN) == NULL);
	CHECK(strstr(errbuf, "***") != NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/store", ngx_port);
	CHECK(runstore_open(url, auth, &plain, errbuf, sizeof(errbuf)) ==
	      TFS_OK);
	if (plain) {
		CHECK(runstore_write(plain, key_of("output/" TOKEN), "x", 1,
				     errbuf, sizeof(errbuf)) == TFS_EIO);
		CHECK(strstr(errbuf, "HTTP 405") != NULL);
		CHECK(strstr(errbuf, TOKEN) == NULL);
	}
	runstore_close(plain);
	plain = NULL;

	snprintf(url, sizeof(url), "http://u:" PASSWORD "@127.0.0.1:%d/store",
		 dead_port());
	CHECK(runstore_open(url, auth, &plain, errbuf, sizeof(errbuf)) ==
	      TFS_OK);
	if (plain) {
		char *logged;

		capture_start(base);
		log_set_level(LOG_DEBUG);
		check_read(plain, key_of("output/" TOKEN), 0, 10, TFS_EIO,
			   NULL, -2, __LINE__);
		CHECK(strstr(errbuf, TOKEN) == NULL);
		CHECK(strstr(errbuf, PASSWORD) == NULL);
		CHECK(runstore_write(plain, key_of("log"), "x", 1, errbuf,
				     sizeof(errbuf)) == TFS_EIO);
		CHECK(errbuf[0] != '\0');
		CHECK(strstr(errbuf, TOKEN) == NULL);
		CHECK(strstr(errbuf, PASSWORD) == NULL);
		CHECK(runstore_exists(plain, key_of("exit"), errbuf,
				      sizeof(errbuf)) == TFS_EIO);
		CHECK(strstr(errbuf, TOKEN) == NULL);
		log_set_level(LOG_WARNING);
		logged = capture_end();
		CHECK(logged && strstr(logged, TOKEN) == NULL);
		CHECK(logged && strstr(logged, PASSWORD) == NULL);
		free(logged);
	}
	runstore_close(plain);
	runstore_close(s);
}

/* The headers an artifact URL gets: the store's, only under its prefix. */
static void test_headers_for(void)
{
	const char *const auth[] = { "Authorization: Bearer " PASSWORD, NULL };
	struct runstore *s = NULL;
	char out[256], small[8];

	CHECK(runstore_open("http://h/runs", auth, &s, errbuf,
			    sizeof(errbuf)) == TFS_OK);
	if (!s)
		return;
	CHECK(runstore_headers_for(s, "http://h/runs/u/1/output/a", out,
				   sizeof(out)) == TFS_OK);
	CHECK_STR(out, "Authorization: Bearer " PASSWORD "\n");
	/* a prefix of the name is not the prefix, nor another host */
	CHECK(runstore_headers_for(s, "http://h/runsx/u/1/output/a", out,
				   sizeof(out)) == TFS_OK && out[0] == '\0');
	CHECK(runstore_headers_for(s, "http://evil/runs/u/1/output/a", out,
				   sizeof(out)) == TFS_OK && out[0] == '\0');
	CHECK(runstore_headers_for(s, "http://h/runs/u/1/output/a", small,
				   sizeof(small)) == TFS_ENAMETOOLONG &&
	      small[0] == '\0');
	runstore_close(s);
	CHECK(runstore_open("http://h/runs", NULL, &s, errbuf,
			    sizeof(errbuf)) == TFS_OK);
	if (s)
		CHECK(runstore_headers_for(s, "http://h/runs/u/1/output/a",
					   out, sizeof(out)) == TFS_OK &&
		      out[0] == '\0');
	runstore_close(s);
}

int main(void)
{
	int64_t t0 = mono_ms();

	if (ngx_workdir("runstore", base, sizeof(base), www, sizeof(www)))
		return 1;
	CHECK(http_global_init() == TFS_OK);
	test_path();
	test_open_refused();
	test_headers_for();
	test_file();
	ngx_up(www);
	if (ngx_port && ngx_sh("grep -q dav_methods '%s/nginx.conf'",
			       ngx_dir) != 0)
		printf("SKIP http cases: this nginx has no dav module\n");
	else if (ngx_port)
		test_http();
	if (ngx_port) {
		ngx_ctl("nginx_cleanup");
	}
	rm_rf(base);
	fprintf(stderr, "test_runstore: %" PRId64 " ms\n", mono_ms() - t0);
	return TEST_REPORT();
}
