/*
 * runstore.h - where a remote job's files live while and after it runs, for
 * the providers whose jobs do not write into our state directory: Slurm (a
 * shared directory, file:///abs/path) and the clouds (an object store over
 * HTTP, http(s)://host/prefix, read with GET and Range, written with PUT).
 * Every attempt has its own directory under the prefix:
 *
 *     <prefix>/<run uuid>/<attempt>/{log, metrics.jsonl, exit,
 *                                    manifest.json, output/...}
 *
 * runstore_path() builds those keys; the other calls take a key and refuse
 * one that could leave the prefix. A connector's sync() reads the log and
 * the metrics from the offset it already has, so a read is bounded by the
 * caller's max_bytes and a file the job has not written yet is TFS_ENOENT,
 * not an error worth a reason in events. Every call blocks (HTTP with
 * lib/http's timeouts and retries): call it from a provider's thread, with
 * no lock held. An opened store is not changed by any call, so threads may
 * share it. Reasons never hold the headers' values (credentials): they are
 * redacted as lib/http redacts its own messages.
 */
#ifndef TFS_RUNSTORE_H
#define TFS_RUNSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"
#include "connector.h"

#define RUNSTORE_URL_MAX 2048          /* a store's URL prefix */
#define RUNSTORE_HEADERS_MAX 16        /* "Name: value" lines per store */
#define RUNSTORE_HEADER_MAX 8192       /* bytes of one of them */
#define RUNSTORE_ATTEMPT_MAX 10000
#define RUNSTORE_NAME_MAX (ARTIFACT_PATH_MAX + 16)  /* "output/" + a path */
#define RUNSTORE_KEY_MAX (36 + 1 + 5 + 1 + RUNSTORE_NAME_MAX)
#define RUNSTORE_WRITE_MAX (64 << 20)  /* bytes of one runstore_write() */

struct runstore;

/*
 * Opens the store at url: file:// with an absolute path (the directory
 * need not exist yet: writes create it), or http:// / https:// with a
 * host. headers (NULL-terminated "Name: value" lines, may be NULL) are
 * sent with every HTTP request; they are copied, and their values treated
 * as secrets. On TFS_OK *out is the store (free with runstore_close());
 * else TFS_EINVAL or TFS_ENAMETOOLONG with err set and *out NULL.
 */
int runstore_open(const char *url, const char *const *headers,
		  struct runstore **out, char *err, size_t errlen);

/* Frees s; NULL is fine. */
void runstore_close(struct runstore *s);

/*
 * The headers s sends, as connector.h's artifact_headers gives them
 * ("Name: value\n" each), into out when url is under s's prefix (an
 * artifact URL of runstore_list_artifacts()), else "": a URL elsewhere
 * never gets the store's credential. TFS_OK, or TFS_ENAMETOOLONG when
 * they do not fit (out is then "").
 */
int runstore_headers_for(const struct runstore *s, const char *url,
			 char *out, size_t outlen);

/*
 * The key "<run_id>/<attempt>/<name>" into out (outlen bytes, at least
 * RUNSTORE_KEY_MAX + 1 to hold any). run_id must be a lowercase UUID,
 * attempt 1..RUNSTORE_ATTEMPT_MAX, name a relative path of at most
 * RUNSTORE_NAME_MAX bytes with no empty, "." or ".." part and no control
 * character. Returns TFS_OK, TFS_EINVAL or TFS_ENAMETOOLONG (err says
 * which part is wrong).
 */
int runstore_path(const char *run_id, int attempt, const char *name,
		  char *out, size_t outlen, char *err, size_t errlen);

/*
 * Appends to out the bytes of key from offset on, at most max_bytes of
 * them (out's own max also holds). *total, when total is not NULL, is the
 * file's size when the store told it, else -1. An offset at or past the
 * end is not an error: nothing is appended (HTTP 416). A server that
 * ignores Range is read from the start, the first offset bytes skipped.
 * Returns TFS_OK; TFS_ENOENT when key is not there (yet); TFS_EINVAL for
 * a bad key or offset; TFS_EFBIG or TFS_ENOMEM when out cannot hold what
 * was asked; TFS_EIO when the store failed. err is set on every error.
 */
int runstore_read_from(const struct runstore *s, const char *key,
		       int64_t offset, size_t max_bytes, struct buf *out,
		       int64_t *total, char *err, size_t errlen);

/*
 * Stores len bytes of data (at most RUNSTORE_WRITE_MAX) as key, replacing
 * it whole: file:// writes a temporary file beside it, fsyncs and renames
 * it, creating the directories; HTTP sends one PUT. Returns TFS_OK;
 * TFS_EINVAL (bad key); TFS_EFBIG (too large, or the store says so);
 * TFS_EACCES (a directory not allowed, or the store's 401 or 403);
 * TFS_ENOSPC or TFS_EROFS (a directory cannot be made); else TFS_EIO; err
 * set on every error.
 */
int runstore_write(const struct runstore *s, const char *key,
		   const void *data, size_t len, char *err, size_t errlen);

#define RUNSTORE_FILE_MAX (1LL << 40)   /* bytes of one runstore_write_file() */

/*
 * Stores the regular file at path as key, as runstore_write() does, of
 * any size up to RUNSTORE_FILE_MAX: mapped rather than read into memory,
 * and over HTTP one PUT bounded by its speed, not a total time. Its
 * SHA-256 (of the bytes sent) goes into sha256, "" on an error. The
 * errors of runstore_write(), and TFS_EIO for a path that cannot be read.
 */
int runstore_write_file(const struct runstore *s, const char *key,
			const char *path, char sha256[65], char *err,
			size_t errlen);

/*
 * Whether key is there (the attempt's exit file: the job has ended).
 * Returns TFS_OK when it is, TFS_ENOENT when not, else TFS_EINVAL or
 * TFS_EIO with err set.
 */
int runstore_exists(const struct runstore *s, const char *key, char *err,
		    size_t errlen);

/*
 * A value that changes when key is written again (a PUT of the same
 * bytes too): a hash of its Last-Modified, ETag and Content-Length (HTTP
 * HEAD), or of its mtime and size (file). TFS_OK with *stamp, TFS_ENOENT
 * (*stamp 0) when key is not there, else TFS_EIO / TFS_EINVAL with err.
 * One request, not retried: a heartbeat's probe.
 */
int runstore_stamp(const struct runstore *s, const char *key,
		   uint64_t *stamp, char *err, size_t errlen);

/*
 * The attempt's exit code from its exit file: 1 with *code (0..255), 0
 * when there is none (yet), -1 when it is unreadable or holds no code
 * (err).
 */
int runstore_exit_code(const struct runstore *s, const char *uuid,
		       int attempt, int *code, char *err, size_t errlen);

#define RUNSTORE_ENDED_MAX 512         /* bytes of an ended key read */

/*
 * The attempt's "ended" key, which the wrapper stores when it quit before
 * the job (wrapper.h: "CODE reason"): 1 with *code (0..255) and the
 * reason in why (control characters as '?', cut to whylen), 0 when there
 * is none, -1 when it is unreadable or not in that shape (err).
 */
int runstore_ended(const struct runstore *s, const char *uuid, int attempt,
		   int *code, char *why, size_t whylen, char *err,
		   size_t errlen);

/*
 * A connector's sync(): appends the attempt's log from q->log_synced to
 * q->log_path and its metrics.jsonl from q->metrics_synced to
 * q->metrics_path, at most max_bytes each, adding what went in to the
 * offsets (also on an error). A file not written yet is no error.
 */
int runstore_sync(const struct runstore *s, struct job_query *q,
		  int64_t max_bytes, char *err, size_t errlen);

/*
 * A connector's list_artifacts(): the attempt's manifest.json, each file's
 * url base + "<uuid>/<attempt>/output/<path>" (escaped; base ends with
 * '/'). TFS_EAGAIN when there is no manifest yet. The keys the wrapper
 * names in the attempt's "upload_failed" are not there: a manifest entry
 * among them is handed on as skipped (it must not look available), a
 * log or metrics.jsonl among them as a skipped entry of that name saying
 * so, and a manifest.json among them is TFS_EIO. No manifest and the
 * wrapper's ended key (it quit before the job) is TFS_ENOENT: none is
 * coming.
 */
int runstore_list_artifacts(const struct runstore *s,
			    const struct job_query *q, const char *base,
			    artifact_cb cb, void *arg, char *err,
			    size_t errlen);

#endif
