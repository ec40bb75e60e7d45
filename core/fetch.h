/*
 * fetch.h - downloads one artifact over lib/http (file://, http://, https://)
 * into a local file, hashing with SHA-256 as the bytes arrive, resuming an
 * interrupted transfer with an HTTP Range request from the bytes already on
 * disk (which are hashed again first), retrying transient faults with
 * backoff. Nothing is ever declared good unless its size and SHA-256 match
 * what the manifest promised. Blocking: call it from a worker thread, never
 * from a FUSE handler. No locks; thread-safe.
 */
#ifndef TFS_FETCH_H
#define TFS_FETCH_H

#include <stddef.h>
#include <stdint.h>

#define FETCH_REASON_MAX 512

struct fetch_opts {
	int max_attempts;        /* transfers tried in all (default 4) */
	int backoff_ms;          /* first wait between attempts, doubling
				    (default 500) */
	int connect_timeout_s;   /* default 10 */
	int low_speed_time_s;    /* abort a transfer slower than 1 byte/s for
				    this long (default 30) */
	/* called now and then with bytes on disk so far; may be NULL */
	void (*progress)(void *arg, int64_t done, int64_t total);
	void *progress_arg;
	/* polled during the transfer: non-zero aborts it (TFS_EINTR) */
	volatile int *cancel;
	/*
	 * Called once the bytes matched the hash, before they are made
	 * durable and renamed, with a descriptor of them (the caller's to
	 * close): readers may be served at once. May be NULL.
	 */
	void (*verified)(void *arg, int fd);
	void *verified_arg;
	/* "Name: value" lines sent with every request (an authenticated
	 * store's), NULL-terminated, or NULL; their values are secrets,
	 * kept out of reason (lib/http redacts them) */
	const char *const *headers;
};
#define FETCH_OPTS_INIT { 4, 500, 10, 30, NULL, NULL, NULL, NULL, NULL, NULL }

/*
 * Downloads url into part_path (appending to what is already there, which
 * is taken as the first bytes of the file and re-hashed), checks that the
 * result is exactly size bytes with SHA-256 sha256_hex (lowercase), then
 * renames part_path to final_path (fsynced). Returns:
 *   TFS_OK      final_path holds the verified file; part_path is gone;
 *   TFS_EIO     failed for good: reason says why, e.g.
 *               "sha256 mismatch: expected ab12..., got 9f3e...",
 *               "HTTP 404 from http://...", "size mismatch: expected N bytes,
 *               server sent M", "connection failed after 4 attempts: ...";
 *               on a hash mismatch part_path is removed (never reused);
 *   TFS_EINTR   *opts->cancel became non-zero; part_path is kept to resume.
 * A server that ignores Range (200 instead of 206) restarts from zero.
 * Transient faults (connection drop, timeout, HTTP 5xx, 408 and 429) are
 * retried up to max_attempts with backoff (or the server's Retry-After, up
 * to 30 s), each retry resuming from the bytes on disk; another 4xx fails
 * at once. A body larger than size is cut off and fails. opts may be NULL
 * for the defaults.
 */
int fetch_file(const char *url, const char *part_path,
	       const char *final_path, int64_t size, const char *sha256_hex,
	       const struct fetch_opts *opts, char *reason, size_t rlen);

#endif
