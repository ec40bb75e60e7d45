/*
 * test_marks.c - a provider's submitting marks (connectors/common/marks.c):
 * set, get and clear; what a reopen keeps (the compacted log); a line cut
 * by a crash; keys refused; the size bound; threads sharing one set.
 */
#include "marks.h"
#include "err.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char U1[] = "0b9c1c1e-5a5e-4a7c-9d3e-2f1a3b4c5d6e";

static void test_basic(const char *dir)
{
	char path[512], key[MARKS_KEY_MAX + 8], err[256];
	struct marks *m;
	struct buf b = BUF_INIT(1 << 20);
	int64_t ms = 0;
	struct stat st;

	snprintf(path, sizeof(path), "%s/marks", dir);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_OK);
	CHECK(stat(path, &st) == 0 && (st.st_mode & 077) == 0);
	snprintf(key, sizeof(key), "%s/1", U1);
	CHECK(marks_get(m, key, &ms) == 0);
	CHECK(marks_set(m, key, 1000) == 0);
	CHECK(marks_get(m, key, &ms) == 1 && ms == 1000);
	CHECK(marks_set(m, key, 2000) == 0);          /* stamped again */
	CHECK(marks_get(m, key, &ms) == 1 && ms == 2000);
	CHECK(marks_set(m, "b/2", 3000) == 0);
	CHECK(marks_set(m, "c/3", 4000) == 0);
	CHECK(marks_set(m, "c/3", 0) == 0);           /* cleared */
	CHECK(marks_get(m, "c/3", &ms) == 0);
	CHECK(marks_set(m, "never/1", 0) == 0);       /* nothing to clear */
	CHECK(marks_count(m) == 2);
	/* keys that would break a line, or the log, are refused */
	errno = 0;
	CHECK(marks_set(m, "a b", 1) == -1 && errno == EINVAL);
	CHECK(marks_set(m, "a\nb", 1) == -1 && errno == EINVAL);
	CHECK(marks_set(m, "", 1) == -1);
	memset(key, 'k', sizeof(key) - 1);
	key[MARKS_KEY_MAX + 1] = '\0';
	CHECK(marks_set(m, key, 1) == -1);
	CHECK(marks_set(m, "ok/1", -5) == -1);
	marks_close(m);
	/* a crash cut the last line: it is skipped, the rest kept */
	{
		int fd = open(path, O_WRONLY | O_APPEND);

		CHECK(fd >= 0);
		CHECK(write(fd, "d/4 12", 6) == 6);
		close(fd);
	}
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_OK);
	snprintf(key, sizeof(key), "%s/1", U1);
	CHECK(marks_get(m, key, &ms) == 1 && ms == 2000);
	CHECK(marks_get(m, "b/2", &ms) == 1 && ms == 3000);
	CHECK(marks_get(m, "c/3", &ms) == 0);
	CHECK(marks_get(m, "d/4", &ms) == 0);
	CHECK(marks_count(m) == 2);
	marks_close(m);
	/* the reopen wrote the log back compacted: two lines */
	CHECK(file_read_all(path, 1 << 20, &b) == TFS_OK);
	{
		size_t i, lines = 0;

		for (i = 0; i < b.len; i++)
			lines += b.p[i] == '\n';
		CHECK(lines == 2);
		CHECK(b.p && !strstr(b.p, "c/3") && !strstr(b.p, "d/4"));
	}
	buf_release(&b);
	/* garbage lines are skipped, not trusted */
	CHECK(file_write_atomic(path, "x\n y 1\nz -3\nw 12abc\nv/1 77\n", 27,
				0) == TFS_OK);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_OK);
	CHECK(marks_count(m) == 1 && marks_get(m, "v/1", &ms) == 1 &&
	      ms == 77);
	marks_close(m);
}

static void test_bound(const char *dir)
{
	char path[512], err[256];
	struct marks *m = (struct marks *)1;
	int fd;

	snprintf(path, sizeof(path), "%s/big", dir);
	fd = open(path, O_WRONLY | O_CREAT, 0600);
	CHECK(fd >= 0 && ftruncate(fd, (off_t)MARKS_FILE_MAX + 1) == 0);
	close(fd);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_EFBIG);
	CHECK(m == NULL && strstr(err, "over"));
	snprintf(path, sizeof(path), "%s/no/such/dir/marks", dir);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_EIO);
}

struct setter {
	struct marks *m;
	int id;
};

static void *setter_main(void *arg)
{
	struct setter *s = arg;
	char key[64];
	int i;

	for (i = 0; i < 500; i++) {
		snprintf(key, sizeof(key), "t%d/%d", s->id, i);
		marks_set(s->m, key, 100 + i);
		if (i % 2)
			marks_set(s->m, key, 0);
	}
	return NULL;
}

/* Two threads at once: every line whole, the set as both left it. */
static void test_threads(const char *dir)
{
	char path[512], err[256];
	struct setter a = { NULL, 1 }, b = { NULL, 2 };
	pthread_t ta, tb;
	struct marks *m;
	int64_t ms;

	snprintf(path, sizeof(path), "%s/threads", dir);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_OK);
	a.m = b.m = m;
	pthread_create(&ta, NULL, setter_main, &a);
	pthread_create(&tb, NULL, setter_main, &b);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	CHECK(marks_count(m) == 500);
	marks_close(m);
	CHECK(marks_open(path, &m, err, sizeof(err)) == TFS_OK);
	CHECK(marks_count(m) == 500);
	CHECK(marks_get(m, "t1/0", &ms) == 1 && ms == 100);
	CHECK(marks_get(m, "t2/498", &ms) == 1 && ms == 598);
	CHECK(marks_get(m, "t2/499", &ms) == 0);
	marks_close(m);
}

int main(void)
{
	char tmpl[] = "/tmp/tfs-marks.XXXXXX";

	if (!mkdtemp(tmpl)) {
		perror("mkdtemp");
		return 1;
	}
	test_basic(tmpl);
	test_bound(tmpl);
	test_threads(tmpl);
	rm_rf(tmpl);
	return TEST_REPORT();
}
