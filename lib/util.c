/*
 * util.c - shared helpers: logging, allocation, names, clocks, UUIDs and
 * careful file writes. See util.h for each contract.
 */
#define _GNU_SOURCE
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <linux/fs.h>


static int log_level = LOG_INFO;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

void log_set_level(int level) { log_level = level; }
int log_get_level(void) { return log_level; }

void log_msg(int level, const char *fmt, ...)
{
	static const char *const names[] = {
		"emerg", "alert", "crit", "error", "warning", "notice", "info",
		"debug"
	};
	char ts[40];
	va_list ap;

	if (level > log_level)
		return;
	time_format(now_ms(), ts, sizeof(ts));
	pthread_mutex_lock(&log_lock);
	fprintf(stderr, "%s trainfs %s: ", ts,
		names[level < 0 ? 0 : level > 7 ? 7 : level]);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	pthread_mutex_unlock(&log_lock);
}

void *xmalloc(size_t n)
{
	void *p = malloc(n ? n : 1);

	if (!p) {
		fputs("trainfs: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xcalloc(size_t n, size_t m)
{
	void *p = calloc(n ? n : 1, m ? m : 1);

	if (!p) {
		fputs("trainfs: out of memory\n", stderr);
		abort();
	}
	return p;
}

void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p) {
		fputs("trainfs: out of memory\n", stderr);
		abort();
	}
	return p;
}

char *xstrdup(const char *s)
{
	return s ? xstrndup(s, strlen(s)) : NULL;
}

char *xstrndup(const char *s, size_t n)
{
	char *p = xmalloc(n + 1);

	memcpy(p, s, n);
	p[n] = '\0';
	return p;
}

int name_valid(const char *name)
{
	size_t i;

	if (!name)
		return 0;
	if (!((name[0] >= 'A' && name[0] <= 'Z') ||
	      (name[0] >= 'a' && name[0] <= 'z') ||
	      (name[0] >= '0' && name[0] <= '9')))
		return 0;
	for (i = 1; name[i]; i++) {
		char c = name[i];

		if (i >= TFS_NAME_MAX)
			return 0;
		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		      (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static int ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

int ident_valid(const char *s, size_t max)
{
	size_t i;

	if (!s || !ident_start(s[0]))
		return 0;
	for (i = 1; s[i]; i++)
		if (i >= max || !(ident_start(s[i]) || (s[i] >= '0' && s[i] <= '9')))
			return 0;
	return 1;
}

int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void time_format(int64_t ms, char *out, size_t outlen)
{
	time_t s = (time_t)(ms / 1000);
	struct tm tm;

	gmtime_r(&s, &tm);
	snprintf(out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
		 tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
		 tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

void uuid_v4(char out[37])
{
	unsigned char r[16];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			abort();
		}
		got += (size_t)n;
	}
	r[6] = (r[6] & 0x0f) | 0x40;
	r[8] = (r[8] & 0x3f) | 0x80;
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-"
		 "%02x%02x%02x%02x%02x%02x",
		 r[0], r[1], r[2], r[3], r[4], r[5], r[6], r[7], r[8], r[9],
		 r[10], r[11], r[12], r[13], r[14], r[15]);
}

/*
 * The whole path first: in the common case its parent is there and one
 * mkdir() does it, where walking down from the root cost a syscall (a
 * path lookup) per component, each answered EEXIST. Only when a parent is
 * missing (ENOENT) is the parent made, the same way, and the path tried
 * again.
 */
static int mkdir_p_at(char *tmp, size_t len, unsigned mode, int depth)
{
	char *slash;
	int r;

	if (mkdir(tmp, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT || depth > PATH_MAX / 2)
		return -1;
	slash = memrchr(tmp, '/', len);
	while (slash && slash > tmp && slash[-1] == '/')
		slash--;
	if (!slash || slash == tmp)
		return -1;              /* "/x" or "x" with no parent to make */
	*slash = '\0';
	r = mkdir_p_at(tmp, (size_t)(slash - tmp), mode, depth + 1);
	*slash = '/';
	if (r < 0)
		return -1;
	if (mkdir(tmp, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

int mkdir_p(const char *path, unsigned mode)
{
	char tmp[PATH_MAX];
	size_t len = strlen(path);

	if (len == 0 || len >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(tmp, path, len + 1);
	while (len > 1 && tmp[len - 1] == '/')
		tmp[--len] = '\0';
	return mkdir_p_at(tmp, len, mode, 0);
}

int file_read_all(const char *path, size_t max, struct buf *b)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	int r;

	if (fd < 0)
		return errno == ENOENT ? TFS_ENOENT : TFS_EIO;
	r = file_read_fd(fd, max, b);
	close(fd);
	return r;
}

int file_open_regular(const char *path)
{
	struct stat st, fst;
	int fd;

	/*
	 * lstat() first: even a brief open() of a FIFO for reading lets a
	 * writer blocked in its own open() go on.
	 */
	if (lstat(path, &st) < 0)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = S_ISLNK(st.st_mode) ? ELOOP : EINVAL;
		return -1;
	}
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return -1;
	/*
	 * Replaced since the lstat(): a regular file is fine (an atomic
	 * rename over it is the common case), anything else is not.
	 */
	if (fstat(fd, &fst) < 0 || !S_ISREG(fst.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	return fd;
}

int file_read_fd(int fd, size_t max, struct buf *b)
{
	char chunk[65536];
	size_t total = 0;
	int r = TFS_OK;

	for (;;) {
		ssize_t n = read(fd, chunk, sizeof(chunk));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			r = TFS_EIO;
			break;
		}
		if (n == 0)
			break;
		total += (size_t)n;
		if (total > max) {
			r = TFS_EFBIG;
			break;
		}
		r = buf_append(b, chunk, (size_t)n);
		if (r)
			break;
	}
	return r;
}

int fsync_dir_of(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n;
	int fd, r;

	if (!slash) {
		strcpy(dir, ".");
	} else {
		n = (size_t)(slash - path);
		if (n == 0)
			n = 1;
		if (n >= sizeof(dir))
			return -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

int file_write_atomic(const char *path, const void *data, size_t len,
		      int durable)
{
	char tmp[PATH_MAX];
	const char *p = data;
	int fd;

	/* by thread, not process: two threads may replace one file at once */
	if (snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path,
		     (long)syscall(SYS_gettid)) >= (int)sizeof(tmp))
		return TFS_ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		return TFS_EIO;
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		p += n;
		len -= (size_t)n;
	}
	if (durable && fsync(fd) < 0)
		goto fail;
	if (close(fd) < 0) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (rename(tmp, path) < 0)
		goto fail;
	if (durable && fsync_dir_of(path) < 0)
		return TFS_EIO;
	return TFS_OK;
fail:
	if (fd >= 0)
		close(fd);
	unlink(tmp);
	return TFS_EIO;
}

int rm_rf(const char *path)
{
	struct stat st;
	DIR *d;
	struct dirent *de;
	int r = 0;

	if (lstat(path, &st) < 0)
		return errno == ENOENT ? 0 : -1;
	if (!S_ISDIR(st.st_mode))
		return unlink(path);
	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d))) {
		char child[PATH_MAX];

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (snprintf(child, sizeof(child), "%s/%s", path, de->d_name) >=
		    (int)sizeof(child)) {
			r = -1;
			continue;
		}
		if (rm_rf(child) < 0)
			r = -1;
	}
	closedir(d);
	if (rmdir(path) < 0)
		r = -1;
	return r;
}

int url_path_append(char *out, size_t outlen, const char *path)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t n = strlen(out);

	for (; *path; path++) {
		unsigned char ch = (unsigned char)*path;

		if (n + 4 > outlen)
			break;
		if ((ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') ||
		    (ch >= '0' && ch <= '9') || strchr("._~/-", ch)) {
			out[n++] = (char)ch;
		} else {
			out[n++] = '%';
			out[n++] = hex[ch >> 4];
			out[n++] = hex[ch & 15];
		}
	}
	out[n] = '\0';
	return *path ? -1 : 0;
}

/*
 * Copies len bytes of in to out: in the kernel where it can, else through
 * a buffer (copy_file_range is refused across some filesystems). Returns
 * 0 or an errno.
 */
static int file_copy_bytes(int in, int out, off_t len)
{
	char *b = NULL;
	off_t done = 0;
	int kernel = 1, e = 0;

	while (done < len && !e) {
		size_t want = len - done > (1 << 20) ? (1 << 20) :
			      (size_t)(len - done);
		ssize_t n;

		if (kernel) {
			n = copy_file_range(in, NULL, out, NULL, want, 0);
			if (n < 0 && done == 0 && (errno == EXDEV ||
			    errno == ENOSYS || errno == EOPNOTSUPP ||
			    errno == EINVAL)) {
				kernel = 0;
				b = xmalloc(1 << 20);
				continue;
			}
		} else {
			n = pread(in, b, want, done);
			if (n > 0 && write(out, b, (size_t)n) != n)
				n = -1;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			e = n < 0 ? errno : EIO;
		else
			done += n;
	}
	free(b);
	return e;
}

int file_copy(const char *src, const char *dst, unsigned mode, char *err,
	      size_t errlen)
{
	int in, out, e = 0;
	struct stat st;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0) {
		e = errno;
		snprintf(err, errlen, "cannot open '%s': %s", src, strerror(e));
		if (in >= 0)
			close(in);
		return e;
	}
	out = open(dst, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, (mode_t)mode);
	if (out < 0) {
		e = errno;
		snprintf(err, errlen, "cannot create '%s': %s", dst,
			 strerror(e));
		close(in);
		return e;
	}
	if (ioctl(out, FICLONE, in) < 0)
		e = file_copy_bytes(in, out, st.st_size);
	if (close(out) < 0 && !e)
		e = errno;
	close(in);
	if (e) {
		snprintf(err, errlen, "cannot copy '%s' to '%s': %s", src, dst,
			 strerror(e));
		unlink(dst);
	}
	return e;
}
