/*
 * marks.h - a provider's "submitting" marks: for each attempt whose
 * submission went out and is not confirmed yet, the time (ours, epoch ms)
 * it went. find() reads them after a crash or an unconfirmed answer: an
 * attempt with a mark may have a job the provider has not shown yet, and
 * is not submitted again until the provider's answer, asked after the
 * mark, says it has none.
 *
 * One append-only file per provider in its private work directory, one
 * line per change ("<key> <ms>", ms 0 when the mark is cleared), with
 * the marks in memory: a submission writes one line with O_APPEND and
 * creates no file (a file per attempt cost a new inode each, the most
 * expensive part of a burst of submissions on ext4). marks_open() reads
 * the file, keeps what is set and writes it back compacted. A line cut by
 * a crash is skipped: that mark is lost, as an unwritten one would be
 * (find() then asks the provider whenever this process has no answer of
 * it yet). Lines are not fsynced, like the SQLite commits they sit
 * beside. Threads may share a set: it has its own lock.
 */
#ifndef TFS_MARKS_H
#define TFS_MARKS_H

#include <stddef.h>
#include <stdint.h>

#define MARKS_KEY_MAX 128            /* bytes of a key: [A-Za-z0-9/._-] */
#define MARKS_FILE_MAX (64 << 20)    /* a file past this is refused */

struct marks;

/*
 * Opens the marks at path (created when missing, 0600). TFS_OK with *out;
 * else TFS_EIO or TFS_EFBIG with err.
 */
int marks_open(const char *path, struct marks **out, char *err,
	       size_t errlen);
/* Frees m; NULL is fine. */
void marks_close(struct marks *m);
/* 1 with *ms when key has a mark, 0 when not. */
int marks_get(struct marks *m, const char *key, int64_t *ms);
/*
 * Sets key's mark to ms (> 0), or clears it (ms 0). Returns 0, or -1 with
 * errno (EINVAL for a bad key; the file's write error, the mark then
 * kept in memory only when setting).
 */
int marks_set(struct marks *m, const char *key, int64_t ms);
/* Marks set now (tests, status). */
size_t marks_count(struct marks *m);

#endif
