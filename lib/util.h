/*
 * util.h - the small pieces every layer shares: logging, allocation, name
 * validation, clocks, UUIDs and file helpers, with the error enum and the
 * buffer they use. Nothing here knows about runs or FUSE.
 */
#ifndef TFS_UTIL_H
#define TFS_UTIL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <syslog.h>

#include "buf.h"          /* file_read_all() fills one */
#include "err.h"

/*
 * Logging with syslog levels (LOG_ERR ... LOG_DEBUG) to stderr. Messages are
 * lowercase, no full stop, subjects quoted. Never pass a secret.
 */
void log_msg(int level, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void log_set_level(int level);
int log_get_level(void);

/* Allocation that aborts on failure: for small fixed structures only. */
void *xmalloc(size_t n);
void *xcalloc(size_t n, size_t m);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* Copies exactly n bytes of s and a NUL (a buffer, not strndup: s must
 * hold n bytes). */
char *xstrndup(const char *s, size_t n);

/*
 * Makes room for one more element in a growable array, as Git's
 * ALLOC_GROW: arr has nr elements in room for alloc; doubles from 16.
 * Aborts on out of memory (xrealloc).
 */
#define ALLOC_GROW(arr, nr, alloc) do { \
	if ((nr) >= (alloc)) { \
		(alloc) = (alloc) ? (alloc) * 2 : 16; \
		(arr) = xrealloc((arr), (alloc) * sizeof(*(arr))); \
	} \
} while (0)

/*
 * Names of experiments, runs, sweeps and templates:
 * [A-Za-z0-9][A-Za-z0-9._-]{0,127}. Returns 1 when valid.
 */
#define TFS_NAME_MAX 128
int name_valid(const char *name);
/*
 * Keys that become shell variables (config params, env, sweep parameters):
 * [A-Za-z_][A-Za-z0-9_]* of fewer than max bytes. Returns 1 when valid.
 */
int ident_valid(const char *s, size_t max);

/* Wall clock in milliseconds since the epoch; monotonic clock in ms. */
int64_t now_ms(void);
int64_t mono_ms(void);
/* Formats ms since epoch as "2026-11-22T20:31:02.123Z" into out (>= 32). */
void time_format(int64_t ms, char *out, size_t outlen);

/* A random (v4) UUID, lowercase, into out[37]. */
void uuid_v4(char out[37]);

/* mkdir -p with mode; returns 0 or -1 with errno set. */
int mkdir_p(const char *path, unsigned mode);
/*
 * Reads a whole file of at most max bytes into b (appending). Returns TFS_OK,
 * TFS_ENOENT, TFS_EFBIG when larger than max, TFS_EIO otherwise.
 */
int file_read_all(const char *path, size_t max, struct buf *b);
/* The same from an open descriptor, which stays open. */
int file_read_fd(int fd, size_t max, struct buf *b);
/*
 * Opens path for reading when it is a regular file: never through a
 * symbolic link, never blocking, never opening a FIFO or a device even
 * for an instant - for files someone else (a job) may have put there.
 * Returns the descriptor, or -1 with errno (ENOENT, ELOOP for a link,
 * EINVAL for a file that is not regular).
 */
int file_open_regular(const char *path);
/*
 * Writes data to path atomically (temporary file, fsync, rename, fsync of
 * the directory when durable is set); threads may replace one path at
 * once, the last rename wins. Returns TFS_OK or TFS_EIO.
 */
int file_write_atomic(const char *path, const void *data, size_t len,
		      int durable);
/* fsync of the directory that holds path, so a rename into it lasts;
 * returns 0 or -1 with errno set. */
int fsync_dir_of(const char *path);
/* Recursive removal of a directory tree; returns 0 or -1. */
int rm_rf(const char *path);
/*
 * Copies the file src to dst, created with mode (dst must not exist): a
 * reflink where the filesystem shares blocks copy-on-write (instant, no
 * space), else an in-kernel copy, else through a buffer. So a job's own
 * copy of an input cannot change the cache it came from. Returns 0, or an
 * errno with err set; dst is removed on failure.
 */
int file_copy(const char *src, const char *dst, unsigned mode, char *err,
	      size_t errlen);
/*
 * Appends path to the URL in out (outlen bytes, NUL-terminated), each
 * byte outside [A-Za-z0-9._~/-] as %XX. Returns 0, or -1 when it did not
 * fit (out then holds what did, still terminated).
 */
int url_path_append(char *out, size_t outlen, const char *path);

#endif
