/*
 * test_lib.c - the floor's pieces without the layers above them: string
 * vectors, SHA-256 of buffers, descriptors and files and the checks on hex
 * digests, the JSON integer check and its reason, URLs with their
 * secrets left out and percent-encoded paths, and secrets read from files.
 */
#include "json.h"
#include "secret.h"
#include "sha256.h"
#include "strvec.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* sha256("abc"), FIPS 180-2 appendix B.1 */
static const char abc_sha[] =
	"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";

static void test_strv(void)
{
	char *src[] = { "a", "", "ccc", NULL };
	char **v = strv_dup(src);

	CHECK(v && v != src);
	CHECK_STR(v[0], "a");
	CHECK_STR(v[1], "");
	CHECK_STR(v[2], "ccc");
	CHECK(v[3] == NULL);
	CHECK(v[0] != src[0]);
	strv_free(v);
	CHECK(strv_dup(NULL) == NULL);
	strv_free(NULL);
}

static void test_sha256(const char *dir)
{
	char path[4096], out[65], low[65];
	int64_t size = -1;
	int fd;

	sha256_hex("abc", 3, out);
	CHECK_STR(out, abc_sha);

	snprintf(path, sizeof(path), "%s/abc", dir);
	CHECK(file_write_atomic(path, "abc", 3, 0) == TFS_OK);
	CHECK(sha256_file(path, out, &size) == TFS_OK);
	CHECK_STR(out, abc_sha);
	CHECK(size == 3);
	/* the digest does not depend on where the descriptor's offset is */
	fd = open(path, O_RDONLY);
	CHECK(fd >= 0 && lseek(fd, 2, SEEK_SET) == 2);
	size = -1;
	CHECK(sha256_fd(fd, out, &size) == TFS_OK);
	CHECK_STR(out, abc_sha);
	CHECK(size == 3);
	close(fd);
	/* a directory and a FIFO are refused, the FIFO without blocking */
	CHECK(sha256_file(dir, out, NULL) == TFS_EIO);
	CHECK_STR(out, "");
	snprintf(path, sizeof(path), "%s/fifo", dir);
	CHECK(mkfifo(path, 0600) == 0);
	CHECK(sha256_file(path, out, NULL) == TFS_EIO);

	CHECK(sha256_hex_lower("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD",
			       low) == 0);
	CHECK_STR(low, abc_sha);
	CHECK(sha256_hex_lower("ba7816bf", low) == -1);
	CHECK(sha256_hex_lower("za7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad",
			       low) == -1);
	snprintf(path, sizeof(path), "%sx", abc_sha);
	CHECK(sha256_hex_lower(path, low) == -1);

	CHECK(sha256_hex_valid(abc_sha) == 1);
	CHECK(sha256_hex_valid("BA7816BF8F01CFEA414140DE5DAE2223B00361A396177A9CB410FF61F20015AD") == 0);
	CHECK(sha256_hex_valid(path) == 0);
	CHECK(sha256_hex_valid("abc") == 0);
	CHECK(sha256_hex_valid(NULL) == 0);
}

static void test_json_int(void)
{
	cJSON *o = cJSON_Parse("{\"n\": 7, \"neg\": -3, \"f\": 1.5, \"s\": \"7\","
			       " \"big\": 1e300, \"hi\": 10}");
	char err[128];
	long long v = 42;

	CHECK(json_int_range(cJSON_GetObjectItem(o, "n"), "", 0, 10, &v, err,
			     sizeof(err)) == TFS_OK && v == 7);
	CHECK(json_int_range(cJSON_GetObjectItem(o, "hi"), "", 0, 10, &v, err,
			     sizeof(err)) == TFS_OK && v == 10);
	CHECK(json_int_range(cJSON_GetObjectItem(o, "neg"), "", -3, 0, &v,
			     err, sizeof(err)) == TFS_OK && v == -3);
	v = 42;
	CHECK(json_int_range(cJSON_GetObjectItem(o, "f"), "x.", 0, 10, &v, err,
			     sizeof(err)) == TFS_EINVAL && v == 42);
	CHECK_STR(err, "'x.f' must be an integer from 0 to 10");
	CHECK(json_int_range(cJSON_GetObjectItem(o, "s"), "", 0, 10, &v, err,
			     sizeof(err)) == TFS_EINVAL && v == 42);
	CHECK(json_int_range(cJSON_GetObjectItem(o, "big"), "", 0,
			     1LL << 40, &v, err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "'big' must be an integer from 0 to 1099511627776");
	CHECK(json_int_range(cJSON_GetObjectItem(o, "hi"), "", 0, 9, &v, NULL,
			     0) == TFS_EINVAL && v == 42);
	CHECK(json_int_range(NULL, "", 0, 9, &v, err, sizeof(err)) ==
	      TFS_EINVAL);
	CHECK_STR(err, "'' must be an integer from 0 to 9");
	cJSON_Delete(o);
}

static void test_secret(void)
{
	char out[SECRET_URL_SHOWN_MAX + 64], url[1024];

	secret_url_shown("https://user:pw@h.example/a/b?X-Amz-Signature=s3cret#f",
			 out, sizeof(out));
	CHECK_STR(out, "https://h.example/a/b?...");
	secret_url_shown("http://h:8080/path", out, sizeof(out));
	CHECK_STR(out, "http://h:8080/path");
	/* an @ after the host is a path, not userinfo */
	secret_url_shown("http://h/a@b", out, sizeof(out));
	CHECK_STR(out, "http://h/a@b");
	secret_url_shown("file:///tmp/x#frag", out, sizeof(out));
	CHECK_STR(out, "file:///tmp/x?...");
	/* host and path are cut at the maximum */
	memset(url, 'a', sizeof(url) - 1);
	url[sizeof(url) - 1] = '\0';
	memcpy(url, "http://", 7);
	secret_url_shown(url, out, sizeof(out));
	CHECK(strlen(out) == 7 + SECRET_URL_SHOWN_MAX);
	/* a short buffer is still terminated */
	secret_url_shown("http://h.example/long", out, 10);
	CHECK_STR(out, "http://h.");
}

/* Writes text to path with mode, replacing it (a new inode each time). */
static void put_file(const char *path, const char *text, int mode)
{
	char tmp[600];
	int fd;

	snprintf(tmp, sizeof(tmp), "%s.new", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, mode);
	if (fd < 0 || write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		abort();
	fchmod(fd, (mode_t)mode);
	close(fd);
	rename(tmp, path);
}

/*
 * A secret from a file: trimmed, taken again when the file changes,
 * refused when others may read it or it is empty, forgotten when it goes.
 */
static void test_secret_src(const char *dir)
{
	struct secret_src s;
	char path[512], err[256];
	const char *v;

	snprintf(path, sizeof(path), "%s/token", dir);
	put_file(path, "first-token\n", 0600);
	CHECK(secret_src_init(&s, NULL, path, err, sizeof(err)) == TFS_OK);
	v = secret_get(&s, err, sizeof(err));
	CHECK_STR(v, "first-token");
	CHECK(s.changed == 0);          /* the same file: not read again */
	put_file(path, "second-token\n\n", 0600);
	v = secret_get(&s, err, sizeof(err));
	CHECK_STR(v, "second-token");
	CHECK(s.changed == 1);
	/* a file others may read is refused, and the old value forgotten */
	chmod(path, 0640);
	CHECK(secret_get(&s, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "chmod 600") != NULL);
	CHECK(strstr(err, "second-token") == NULL);
	chmod(path, 0600);
	CHECK_STR(secret_get(&s, err, sizeof(err)), "second-token");
	unlink(path);
	CHECK(secret_get(&s, err, sizeof(err)) == NULL);
	secret_src_release(&s);
	/* refused at the start: loose, empty, relative, both or neither */
	put_file(path, "tok", 0644);
	CHECK(secret_src_init(&s, NULL, path, err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, path) != NULL && strstr(err, "0644") != NULL);
	put_file(path, " \n", 0600);
	CHECK(secret_src_init(&s, NULL, path, err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "empty") != NULL);
	CHECK(secret_src_init(&s, NULL, "token", err, sizeof(err)) ==
	      TFS_EINVAL);
	CHECK(secret_src_init(&s, "X", path, err, sizeof(err)) == TFS_EINVAL);
	CHECK(secret_src_init(&s, NULL, NULL, err, sizeof(err)) == TFS_EINVAL);
	/* from the environment */
	setenv("TFS_TEST_SECRET", "env-token\n", 1);
	CHECK(secret_src_init(&s, "TFS_TEST_SECRET", NULL, err, sizeof(err)) ==
	      TFS_OK);
	CHECK_STR(secret_get(&s, err, sizeof(err)), "env-token");
	secret_src_release(&s);
	unsetenv("TFS_TEST_SECRET");
	CHECK(secret_src_init(&s, "TFS_TEST_SECRET", NULL, err, sizeof(err)) ==
	      TFS_EINVAL);
	CHECK(strstr(err, "TFS_TEST_SECRET") != NULL);
}

static void test_url_path(void)
{
	char out[32] = "file://";

	CHECK(url_path_append(out, sizeof(out), "/a b/%x/ü") == 0);
	CHECK_STR(out, "file:///a%20b/%25x/%C3%BC");
	snprintf(out, sizeof(out), "http://h/");
	CHECK(url_path_append(out, sizeof(out), "aaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	      == -1);
	CHECK(strlen(out) < sizeof(out));
}

/*
 * Two threads replace one file at once, as two provider threads writing a
 * run store key may: each call succeeds, and the file is always one of
 * the two contents whole, never a mix or another's half-written copy.
 */
struct atomic_writer {
	const char *path;
	char fill;
	int failures;
};

#define ATOMIC_LEN 65536
#define ATOMIC_ROUNDS 300

static void *atomic_writer_main(void *arg)
{
	struct atomic_writer *w = arg;
	char *data = malloc(ATOMIC_LEN);
	int i;

	if (!data)
		abort();
	memset(data, w->fill, ATOMIC_LEN);
	for (i = 0; i < ATOMIC_ROUNDS; i++)
		if (file_write_atomic(w->path, data, ATOMIC_LEN, 0) != TFS_OK)
			w->failures++;
	free(data);
	return NULL;
}

static void test_write_atomic_threads(const char *dir)
{
	char path[512];
	struct atomic_writer a = { path, 'a', 0 }, b = { path, 'b', 0 };
	pthread_t ta, tb;
	struct buf got = BUF_INIT(0);
	size_t i;
	int mixed = 0;

	snprintf(path, sizeof(path), "%s/shared.key", dir);
	pthread_create(&ta, NULL, atomic_writer_main, &a);
	pthread_create(&tb, NULL, atomic_writer_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(a.failures == 0 && b.failures == 0);
	CHECK(file_read_all(path, 1 << 20, &got) == TFS_OK);
	CHECK(got.len == ATOMIC_LEN);
	for (i = 1; i < got.len; i++)
		mixed |= got.p[i] != got.p[0];
	CHECK(!mixed && (got.p[0] == 'a' || got.p[0] == 'b'));
	buf_release(&got);
}

/* mkdir -p: nested, existing, trailing and doubled slashes, a file in
 * the way, and the mode of what it makes. */
static void test_mkdir_p(const char *dir)
{
	char p[512];
	struct stat st;
	int fd;

	snprintf(p, sizeof(p), "%s/mk/a/b/c", dir);
	CHECK(mkdir_p(p, 0750) == 0);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
	CHECK(stat(p, &st) == 0 && (st.st_mode & 0777) == (0750 & ~umask(022)));
	umask(022);
	CHECK(mkdir_p(p, 0700) == 0);                   /* already there */
	snprintf(p, sizeof(p), "%s/mk//d///e/", dir);
	CHECK(mkdir_p(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/mk/d/e", dir);
	CHECK(stat(p, &st) == 0 && S_ISDIR(st.st_mode));
	snprintf(p, sizeof(p), "%s/mk/file", dir);
	fd = open(p, O_CREAT | O_WRONLY, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	snprintf(p, sizeof(p), "%s/mk/file/x/y", dir);
	errno = 0;
	CHECK(mkdir_p(p, 0700) == -1 && errno == ENOTDIR);
	CHECK(mkdir_p("", 0700) == -1 && errno == ENAMETOOLONG);
}

int main(void)
{
	char tmpl[] = "/tmp/tfs-lib.XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	test_strv();
	test_sha256(tmpl);
	test_json_int();
	test_secret();
	test_secret_src(tmpl);
	test_url_path();
	test_write_atomic_threads(tmpl);
	test_mkdir_p(tmpl);
	rm_rf(tmpl);
	return TEST_REPORT();
}
