/*
 * marks.c - the submitting marks of a provider: an append-only log of
 * "<key> <ms>" lines and the set it describes. See marks.h.
 */
#define _GNU_SOURCE
#include "marks.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "hmap.h"
#include "util.h"

struct mark {
	char key[MARKS_KEY_MAX + 1];
	int64_t ms;
};

struct marks {
	pthread_mutex_t lock;
	int fd;                      /* the log, O_APPEND */
	char *path;
	struct hmap by_key;          /* key -> struct mark * */
};

static int marks_key_ok(const char *key)
{
	size_t i, n = strlen(key);

	if (n == 0 || n > MARKS_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)key[i];

		if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
		      (ch >= '0' && ch <= '9') || ch == '/' || ch == '.' ||
		      ch == '_' || ch == '-'))
			return 0;
	}
	return 1;
}

/* Applies one line of the log; a malformed one (a cut last line) is
 * skipped. */
static void marks_apply(struct marks *m, const char *line, size_t len)
{
	char key[MARKS_KEY_MAX + 1], *end;
	const char *sp = memchr(line, ' ', len);
	struct mark *mk;
	long long v;

	if (!sp || (size_t)(sp - line) > MARKS_KEY_MAX)
		return;
	memcpy(key, line, (size_t)(sp - line));
	key[sp - line] = '\0';
	if (!marks_key_ok(key))
		return;
	errno = 0;
	v = strtoll(sp + 1, &end, 10);
	if (errno || end != line + len || end == sp + 1 || v < 0)
		return;
	mk = hmap_sget(&m->by_key, key);
	if (!v) {
		if (mk) {
			hmap_sdel(&m->by_key, key);
			free(mk);
		}
		return;
	}
	if (!mk) {
		mk = xcalloc(1, sizeof(*mk));
		memcpy(mk->key, key, sizeof(mk->key));
		hmap_sput(&m->by_key, mk->key, mk);
	}
	mk->ms = (int64_t)v;
}

/* Every mark set, as the compacted log's text. */
static int marks_text(struct marks *m, struct buf *out)
{
	size_t i;
	int r = TFS_OK;

	for (i = 0; i < m->by_key.nb && !r; i++) {
		struct hmap_entry *e;

		for (e = m->by_key.b[i]; e && !r; e = e->next) {
			const struct mark *mk = e->val;

			r = buf_printf(out, "%s %" PRId64 "\n", mk->key,
				       mk->ms);
		}
	}
	return r;
}

int marks_open(const char *path, struct marks **out, char *err,
	       size_t errlen)
{
	struct marks *m = xcalloc(1, sizeof(*m));
	struct buf b = BUF_INIT(MARKS_FILE_MAX);
	size_t start = 0, i;
	int r;

	*out = NULL;
	pthread_mutex_init(&m->lock, NULL);
	m->fd = -1;
	m->path = xstrdup(path);
	r = file_read_all(path, MARKS_FILE_MAX, &b);
	if (r && r != TFS_ENOENT) {
		snprintf(err, errlen, r == TFS_EFBIG ? "the marks file '%s' "
			 "is over %d bytes" : "cannot read the marks file '%s'",
			 path, MARKS_FILE_MAX);
		buf_release(&b);
		marks_close(m);
		return r == TFS_EFBIG ? TFS_EFBIG : TFS_EIO;
	}
	for (i = 0; i < b.len; i++) {
		if (b.p[i] != '\n')
			continue;
		marks_apply(m, b.p + start, i - start);
		start = i + 1;
	}
	buf_release(&b);
	/* compacted, so that the log holds only what is still marked */
	b = (struct buf)BUF_INIT(MARKS_FILE_MAX);
	if (marks_text(m, &b) || file_write_atomic(path, b.p ? b.p : "",
						   b.len, 1) != TFS_OK) {
		snprintf(err, errlen, "cannot write the marks file '%s'",
			 path);
		buf_release(&b);
		marks_close(m);
		return TFS_EIO;
	}
	buf_release(&b);
	m->fd = open(path, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (m->fd < 0) {
		snprintf(err, errlen, "cannot open the marks file '%s': %s",
			 path, strerror(errno));
		marks_close(m);
		return TFS_EIO;
	}
	*out = m;
	return TFS_OK;
}

void marks_close(struct marks *m)
{
	size_t i;

	if (!m)
		return;
	for (i = 0; i < m->by_key.nb; i++) {
		struct hmap_entry *e;

		for (e = m->by_key.b[i]; e; e = e->next)
			free(e->val);
	}
	hmap_release(&m->by_key);
	if (m->fd >= 0)
		close(m->fd);
	free(m->path);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

int marks_get(struct marks *m, const char *key, int64_t *ms)
{
	const struct mark *mk;

	pthread_mutex_lock(&m->lock);
	mk = hmap_sget(&m->by_key, key);
	if (mk)
		*ms = mk->ms;
	pthread_mutex_unlock(&m->lock);
	return mk != NULL;
}

int marks_set(struct marks *m, const char *key, int64_t ms)
{
	char line[MARKS_KEY_MAX + 32];
	struct mark *mk;
	int n, saved = 0;
	ssize_t w;

	if (!marks_key_ok(key) || ms < 0) {
		errno = EINVAL;
		return -1;
	}
	pthread_mutex_lock(&m->lock);
	mk = hmap_sget(&m->by_key, key);
	if (!ms && !mk) {
		pthread_mutex_unlock(&m->lock);
		return 0;               /* nothing to clear: no line */
	}
	n = snprintf(line, sizeof(line), "%s %" PRId64 "\n", key, ms);
	/* one write of one short line: O_APPEND keeps lines whole */
	w = write(m->fd, line, (size_t)n);
	if (w != n)
		saved = w < 0 ? errno : EIO;
	if (!ms) {
		hmap_sdel(&m->by_key, key);
		free(mk);
	} else {
		if (!mk) {
			mk = xcalloc(1, sizeof(*mk));
			snprintf(mk->key, sizeof(mk->key), "%s", key);
			hmap_sput(&m->by_key, mk->key, mk);
		}
		mk->ms = ms;
	}
	pthread_mutex_unlock(&m->lock);
	if (saved) {
		errno = saved;
		return -1;
	}
	return 0;
}

size_t marks_count(struct marks *m)
{
	size_t n;

	pthread_mutex_lock(&m->lock);
	n = m->by_key.n;
	pthread_mutex_unlock(&m->lock);
	return n;
}
