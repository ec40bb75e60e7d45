/*
 * secret.c - secrets left out of what is shown. See secret.h.
 */
#include "secret.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "buf.h"
#include "err.h"
#include "util.h"

void secret_url_shown(const char *url, char *out, size_t len)
{
	const char *host = url, *p = strstr(url, "://"), *end;
	size_t pre = 0;

	if (p) {
		pre = (size_t)(p + 3 - url);
		host = p + 3;
		end = host + strcspn(host, "@/?#");
		if (*end == '@')
			host = end + 1;
	}
	end = host + strcspn(host, "?#");
	snprintf(out, len, "%.*s%.*s%s", (int)pre, url,
		 (int)(end - host > SECRET_URL_SHOWN_MAX ? SECRET_URL_SHOWN_MAX :
		       end - host), host, *end ? "?..." : "");
}

static void secret_set(struct secret_src *s, char *v)
{
	s->changed = !s->value || !v || strcmp(s->value, v) != 0;
	if (s->value) {
		/* the old value leaves no copy in freed memory */
		memset(s->value, 0, strlen(s->value));
		free(s->value);
	}
	s->value = v;
}

/* Trims trailing white space; NULL when nothing is left. */
static char *secret_trim(struct buf *b)
{
	while (b->len && strchr(" \t\r\n", b->p[b->len - 1]))
		b->p[--b->len] = '\0';
	if (!b->len || memchr(b->p, '\0', b->len))
		return NULL;
	return buf_detach(b, NULL);
}

/* Reads s->file when it changed. Returns 0, or -1 with err. */
/* Whether st is the file the value was read from, unchanged. */
static int secret_same(const struct secret_src *s, const struct stat *st)
{
	return (unsigned long long)st->st_dev == s->dev &&
	       (unsigned long long)st->st_ino == s->ino &&
	       (long long)st->st_size == s->size &&
	       (long long)st->st_mtim.tv_sec * 1000000000LL +
	       st->st_mtim.tv_nsec == s->mtime_ns &&
	       (long long)st->st_ctim.tv_sec * 1000000000LL +
	       st->st_ctim.tv_nsec == s->ctime_ns;
}

static int secret_read_file(struct secret_src *s, char *err, size_t errlen)
{
	struct buf b = BUF_INIT(SECRET_MAX);
	struct stat st;
	char *v;
	int fd, r;

	/*
	 * Asked before every request: a stat() that finds the file as it
	 * was is the whole cost then (a chmod or a new file changes ctime or
	 * the inode, and is looked at in full below).
	 */
	if (s->value && stat(s->file, &st) == 0 && secret_same(s, &st)) {
		s->changed = 0;
		return 0;
	}
	fd = open(s->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0) {
		snprintf(err, errlen, "cannot open the secret file '%s': %s",
			 s->file, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, errlen, "the secret file '%s' is not a regular "
			 "file", s->file);
		close(fd);
		return -1;
	}
	if (st.st_mode & 077) {
		snprintf(err, errlen, "the secret file '%s' is readable or "
			 "writable by others (mode %04o): chmod 600 it",
			 s->file, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -1;
	}
	if (s->value && secret_same(s, &st)) {
		close(fd);
		s->changed = 0;
		return 0;
	}
	r = file_read_fd(fd, SECRET_MAX, &b);
	close(fd);
	if (r) {
		snprintf(err, errlen, r == TFS_EFBIG ? "the secret file '%s' is "
			 "over %d bytes" : "cannot read the secret file '%s'",
			 s->file, SECRET_MAX);
		buf_release(&b);
		return -1;
	}
	v = secret_trim(&b);
	if (b.p)
		memset(b.p, 0, b.len);
	buf_release(&b);
	if (!v) {
		snprintf(err, errlen, "the secret file '%s' is empty", s->file);
		return -1;
	}
	s->dev = (unsigned long long)st.st_dev;
	s->ino = (unsigned long long)st.st_ino;
	s->size = (long long)st.st_size;
	s->mtime_ns = (long long)st.st_mtim.tv_sec * 1000000000LL +
		      st.st_mtim.tv_nsec;
	s->ctime_ns = (long long)st.st_ctim.tv_sec * 1000000000LL +
		      st.st_ctim.tv_nsec;
	secret_set(s, v);
	return 0;
}

int secret_src_init(struct secret_src *s, const char *env, const char *file,
		    char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	if (!env == !file) {
		snprintf(err, errlen, "give one of a secret's variable and "
			 "its file");
		return TFS_EINVAL;
	}
	if (env) {
		const char *v = getenv(env);
		struct buf b = BUF_INIT(SECRET_MAX);
		char *t;

		if (!v || !*v) {
			snprintf(err, errlen, "the environment variable '%.100s' "
				 "is not set", env);
			return TFS_EINVAL;
		}
		if (buf_puts(&b, v) != TFS_OK || !(t = secret_trim(&b))) {
			buf_release(&b);
			snprintf(err, errlen, "the environment variable '%.100s' "
				 "is empty or over %d bytes", env, SECRET_MAX);
			return TFS_EINVAL;
		}
		s->env = xstrdup(env);
		s->value = t;
		s->changed = 1;
		return TFS_OK;
	}
	if (file[0] != '/') {
		snprintf(err, errlen, "the secret file '%.200s' is not an "
			 "absolute path", file);
		return TFS_EINVAL;
	}
	s->file = xstrdup(file);
	if (secret_read_file(s, err, errlen) < 0) {
		secret_src_release(s);
		return TFS_EINVAL;
	}
	return TFS_OK;
}

const char *secret_get(struct secret_src *s, char *err, size_t errlen)
{
	if (!s->file) {
		s->changed = 0;
		return s->value;
	}
	if (secret_read_file(s, err, errlen) < 0) {
		secret_set(s, NULL);
		s->dev = s->ino = 0;
		return NULL;
	}
	return s->value;
}

void secret_src_release(struct secret_src *s)
{
	secret_set(s, NULL);
	free(s->env);
	free(s->file);
	memset(s, 0, sizeof(*s));
}
