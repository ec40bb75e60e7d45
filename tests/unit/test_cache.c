/*
 * test_cache.c - the artifact cache's trust across restarts and the hand
 * over of inputs, without a mount: a cache file is trusted at start only
 * while it matches the seal written when it was hashed, and is otherwise
 * hashed again (kept when its bytes still match its name, removed when
 * not); an input given to a job is its own copy, so that writing it leaves
 * the cache alone.
 */
#define _GNU_SOURCE
#include "model.h"
#include "core.h"
#include "sha256.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static char state_dir[256], cache_dir[PATH_MAX], conf_path[PATH_MAX];

static void put(const char *path, const char *s)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	if (fd < 0 || write(fd, s, strlen(s)) != (ssize_t)strlen(s))
		fprintf(stderr, "cannot write '%s'\n", path);
	if (fd >= 0)
		close(fd);
}

static int exists(const char *path)
{
	return access(path, F_OK) == 0;
}

/* A cache file named by the hash of `named`, holding `holds`. */
static void cache_put(const char *named, const char *holds, char sha[65])
{
	char p[PATH_MAX + 80];

	sha256_hex(named, strlen(named), sha);
	snprintf(p, sizeof(p), "%s/%s", cache_dir, sha);
	put(p, holds);
}

static int open_close(void)
{
	struct core_opts o = { .state_dir = state_dir,
			       .config_file = conf_path };
	char err[512] = "";
	struct core *c = core_open(&o, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "core_open: %s\n", err);
		return -1;
	}
	core_close(c);
	return 0;
}

static void test_rehash(void)
{
	char good[65], bad[65], p[PATH_MAX + 80], seal[PATH_MAX + 90];
	struct stat st;
	struct timespec ts[2];

	cache_put("good\n", "good\n", good);
	cache_put("bad\n", "not what the name says\n", bad);
	CHECK(open_close() == 0);
	/* unsealed: hashed; the good one is kept and sealed, the bad goes */
	snprintf(p, sizeof(p), "%s/%s", cache_dir, good);
	snprintf(seal, sizeof(seal), "%s/%s.verified", cache_dir, good);
	CHECK(exists(p));
	CHECK(exists(seal));
	snprintf(p, sizeof(p), "%s/%s", cache_dir, bad);
	CHECK(!exists(p));

	/* changed in place with its mtime put back: the seal still tells */
	snprintf(p, sizeof(p), "%s/%s", cache_dir, good);
	CHECK(stat(p, &st) == 0);
	put(p, "evil\n");
	ts[0] = st.st_atim;
	ts[1] = st.st_mtim;
	CHECK(utimensat(AT_FDCWD, p, ts, 0) == 0);
	CHECK(open_close() == 0);
	CHECK(!exists(p));
	CHECK(!exists(seal));

	/* a sealed file that did not change is trusted without a read: the
	 * seal is left as it was */
	cache_put("kept\n", "kept\n", good);
	CHECK(open_close() == 0);
	snprintf(seal, sizeof(seal), "%s/%s.verified", cache_dir, good);
	CHECK(stat(seal, &st) == 0);
	CHECK(open_close() == 0);
	{
		struct stat st2;

		CHECK(stat(seal, &st2) == 0);
		CHECK(st2.st_ino == st.st_ino);
	}
}

static void test_input_copy(void)
{
	char src[PATH_MAX], dst[PATH_MAX], err[PATH_MAX * 2 + 64];
	struct buf b = BUF_INIT(0);

	snprintf(src, sizeof(src), "%s/src", state_dir);
	snprintf(dst, sizeof(dst), "%s/dst", state_dir);
	put(src, "verified bytes\n");
	CHECK(file_copy(src, dst, 0600, err, sizeof(err)) == 0);
	put(dst, "the job wrote this\n");
	CHECK(file_read_all(src, 1024, &b) == TFS_OK);
	CHECK(b.len == 15 && !memcmp(b.p, "verified bytes\n", 15));
	buf_release(&b);
	/* never over an existing file, never from a missing one */
	CHECK(file_copy(src, dst, 0600, err, sizeof(err)) == EEXIST);
	CHECK(strstr(err, "cannot create") != NULL);
	unlink(dst);
	snprintf(src, sizeof(src), "%s/missing", state_dir);
	CHECK(file_copy(src, dst, 0600, err, sizeof(err)) == ENOENT);
	CHECK(!exists(dst));
}

int main(void)
{
	snprintf(state_dir, sizeof(state_dir), "/tmp/trainfs-cache.XXXXXX");
	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(cache_dir, sizeof(cache_dir), "%s/cache", state_dir);
	mkdir_p(cache_dir, 0700);
	snprintf(conf_path, sizeof(conf_path), "%s/daemon.json", state_dir);
	put(conf_path, "{}\n");
	log_set_level(LOG_WARNING);
	test_rehash();
	test_input_copy();
	rm_rf(state_dir);
	return TEST_REPORT();
}
