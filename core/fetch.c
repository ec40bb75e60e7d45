/*
 * fetch.c - downloads one artifact over lib/http. Bytes are appended to a
 * part file and fed to SHA-256 as they arrive, so verifying costs no second
 * read of the file; an interrupted transfer resumes with a Range request
 * from the bytes on disk, which are hashed again first because a restart of
 * the daemon loses the hash state. The part file becomes the final file only
 * by a rename after size and hash matched, so a reader of final_path never
 * sees a partial or corrupt artifact. See fetch.h for the contract.
 *
 * Option fields of struct fetch_opts that are zero or negative take their
 * defaults (a zero backoff_ms is kept: retry at once). One fetch per
 * part_path at a time: two transfers appending to one part file would
 * interleave.
 */
#define _GNU_SOURCE
#include <stddef.h>     /* fetch.h uses size_t without including it */
#include "fetch.h"
#include "http.h"
#include "secret.h"
#include "sha256.h"
#include "util.h"

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

/* The doubling backoff stops growing here; a server's Retry-After is
 * honoured up to it too. */
#define FETCH_BACKOFF_MAX_MS 30000
/* Progress is reported at most this often (and always at the ends). */
#define FETCH_PROGRESS_MS 100

/* Why our callbacks refused a response; checked after the transfer. */
enum fetch_stop {
	FETCH_GO = 0,
	FETCH_STOP_SIZE,     /* the server announced another total size */
	FETCH_STOP_BIG,      /* more bytes than the manifest's size */
	FETCH_STOP_DISK,     /* writing the part file failed (errno in err) */
};

/* What one http_request() leads to. */
enum fetch_next {
	FETCH_DONE,          /* the body ended cleanly: check and verify */
	FETCH_RETRY,         /* transient, and the attempts ran out */
	FETCH_RESTART,       /* the bytes on disk cannot be resumed: from 0 */
	FETCH_FAIL,          /* for good, keep the part file */
	FETCH_FAIL_DROP,     /* for good, the part file is wrong: remove it */
	FETCH_CANCEL,
};

/* The state of one fetch_file() call, shared with the http callbacks. */
struct fetch_xfer {
	const struct fetch_opts *o;
	int fd;                  /* part file, O_APPEND */
	EVP_MD_CTX *md;          /* SHA-256 of exactly the part file's bytes */
	int64_t size;            /* what the manifest promised */
	int64_t have;            /* bytes in the part file, all in md */
	int64_t announced;       /* total the server claimed */
	enum fetch_stop stop;
	int err;                 /* errno behind FETCH_STOP_DISK */
	int64_t progress_at;     /* mono_ms() of the last progress call */
	int64_t progress_done;   /* the value it reported */
	char *wbuf;              /* bytes hashed, not yet written: one write
				    per MiB, whatever size curl hands over */
	size_t wlen;
	int64_t flushed_at;      /* mono_ms() of the last flush */
};

#define FETCH_WBUF (1 << 20)
#define FETCH_FLUSH_MS 250       /* a slow transfer still reaches the disk
				    often, so a crash loses little to resume */

/* Writes what wbuf holds. Returns 0, or -1 with x->stop set. */
static int fetch_flush(struct fetch_xfer *x)
{
	size_t off = 0;

	while (off < x->wlen) {
		ssize_t w = write(x->fd, x->wbuf + off, x->wlen - off);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			x->err = w < 0 ? errno : ENOSPC;
			x->stop = FETCH_STOP_DISK;
			return -1;
		}
		off += (size_t)w;
	}
	x->wlen = 0;
	x->flushed_at = mono_ms();
	return 0;
}

static void fetch_reason(char *reason, size_t rlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fetch_reason(char *reason, size_t rlen, const char *fmt, ...)
{
	va_list ap;

	if (!reason || !rlen)
		return;
	va_start(ap, fmt);
	vsnprintf(reason, rlen, fmt, ap);
	va_end(ap);
}

static int fetch_cancelled(volatile int *cancel)
{
	/* an atomic load: the flag is written by another thread */
	return cancel && __atomic_load_n(cancel, __ATOMIC_RELAXED);
}

static void fetch_progress(struct fetch_xfer *x, int force)
{
	int64_t now;

	if (!x->o->progress)
		return;
	now = mono_ms();
	if (!force && (x->have == x->progress_done ||
		       now - x->progress_at < FETCH_PROGRESS_MS))
		return;
	x->progress_at = now;
	x->progress_done = x->have;
	x->o->progress(x->o->progress_arg, x->have, x->size);
}

/* Empties the part file and the hash. Returns 0, or -1 with errno set. */
static int fetch_restart(struct fetch_xfer *x)
{
	x->wlen = 0;
	if (ftruncate(x->fd, 0) < 0)
		return -1;
	if (!EVP_DigestInit_ex(x->md, EVP_sha256(), NULL)) {
		errno = ENOMEM;
		return -1;
	}
	x->have = 0;
	fetch_progress(x, 1);
	return 0;
}

/*
 * http's head callback, once per response before its body: a length that
 * cannot add up to the manifest's size fails before we download a wrong
 * file. http has checked that a 206 starts where we are; a length of -1
 * is unknown (chunked), and fetch_write_cb() bounds those.
 */
static int fetch_head_cb(void *arg, const struct http_head *h)
{
	struct fetch_xfer *x = arg;

	assert(h->offset == x->have);
	if (h->total >= 0 && h->total != x->size) {
		x->announced = h->total;
		x->stop = FETCH_STOP_SIZE;
		return -1;
	}
	if (h->length >= 0 && x->have + h->length != x->size) {
		x->announced = x->have + h->length;
		x->stop = FETCH_STOP_SIZE;
		return -1;
	}
	return 0;
}

/* http's write callback: appends to the part file and the hash. */
static int fetch_write_cb(void *arg, const char *data, size_t len)
{
	struct fetch_xfer *x = arg;

	if ((uint64_t)len > (uint64_t)(x->size - x->have)) {
		x->stop = FETCH_STOP_BIG;
		return -1;
	}
	/*
	 * md and have count these bytes now; they reach the file at the next
	 * flush, always before the transfer's result is looked at or a retry
	 * waits, so md matches the disk whenever it matters (a failed write
	 * stops all).
	 */
	if (x->wlen + len > FETCH_WBUF && fetch_flush(x) < 0)
		return -1;
	memcpy(x->wbuf + x->wlen, data, len);
	x->wlen += len;
	EVP_DigestUpdate(x->md, data, len);
	x->have += (int64_t)len;
	if (mono_ms() - x->flushed_at >= FETCH_FLUSH_MS && fetch_flush(x) < 0)
		return -1;
	return 0;
}

static void fetch_progress_cb(void *arg)
{
	fetch_progress(arg, 0);
}

static int fetch_cancel_cb(void *arg)
{
	struct fetch_xfer *x = arg;

	return fetch_cancelled(x->o->cancel);
}

/* Before http waits to retry: the bytes so far go to disk first. */
static int fetch_retrying_cb(void *arg, int attempt, int64_t wait_ms,
			     const char *why)
{
	struct fetch_xfer *x = arg;

	(void)attempt;
	(void)wait_ms;
	(void)why;
	return x->wlen && fetch_flush(x) < 0;
}

/*
 * What one http_request() from x->have on came to. msg gets the sentence
 * for FETCH_RETRY and the FETCH_FAIL kinds.
 */
static enum fetch_next fetch_outcome(struct fetch_xfer *x,
				     const struct http_response *r,
				     const char *part_path, const char *shown,
				     char *msg, size_t mlen)
{
	if (r->fail == HTTP_FAIL_CANCEL)
		return FETCH_CANCEL;
	/* our own refusals next: they are why http stopped */
	switch (x->stop) {
	case FETCH_STOP_DISK:
		fetch_reason(msg, mlen, "cannot write '%s': %s", part_path,
			     strerror(x->err));
		return FETCH_FAIL;
	case FETCH_STOP_BIG:
		fetch_reason(msg, mlen, "size mismatch: expected %" PRId64
			     " bytes, server sent more", x->size);
		return FETCH_FAIL_DROP;
	case FETCH_STOP_SIZE:
		fetch_reason(msg, mlen, "size mismatch: expected %" PRId64
			     " bytes, server sent %" PRId64, x->size,
			     x->announced);
		return FETCH_FAIL_DROP;
	case FETCH_GO:
		break;
	}
	switch (r->fail) {
	case HTTP_FAIL_NONE:
		/* status 0: file://, which has no status */
		if (r->status != 0 && r->status != 200 && r->status != 206) {
			fetch_reason(msg, mlen, "HTTP %ld from %s", r->status,
				     shown);
			return FETCH_FAIL;
		}
		if (x->have == x->size)
			return FETCH_DONE;
		fetch_reason(msg, mlen, "size mismatch: expected %" PRId64
			     " bytes, server sent %" PRId64, x->size, x->have);
		return FETCH_FAIL_DROP;
	/* Range ignored, a 416 from the middle (the server has fewer bytes
	 * than our part file: the size check will say what it has), a 206
	 * for other bytes: start over */
	case HTTP_FAIL_RANGE:
		return FETCH_RESTART;
	default:
		fetch_reason(msg, mlen, "%s", r->error);
		return r->gave_up ? FETCH_RETRY : FETCH_FAIL;
	}
}

/*
 * The part file is complete: verifies its hash, makes it durable and
 * renames it to final_path. Closes x->fd. Returns TFS_OK or TFS_EIO with
 * reason set; on a mismatch the part file is removed.
 */
static int fetch_finish(struct fetch_xfer *x, const char *part_path,
			const char *final_path, const char *want,
			char *reason, size_t rlen)
{
	char got[65];
	int fd = x->fd;

	x->fd = -1;
	fetch_progress(x, 1);
	sha256_final_hex(x->md, got);
	if (strcmp(got, want)) {
		close(fd);
		unlink(part_path);
		fetch_reason(reason, rlen, "sha256 mismatch: expected %s, "
			     "got %s", want, got);
		return TFS_EIO;
	}
	if (x->o->verified) {
		/* the fsync below takes a while for a large file; the bytes
		 * are good already, and a descriptor outlives the rename */
		int rfd = open(part_path, O_RDONLY | O_CLOEXEC);

		if (rfd >= 0)
			x->o->verified(x->o->verified_arg, rfd);
	}
	if (fsync(fd) < 0) {
		fetch_reason(reason, rlen, "cannot fsync '%s': %s", part_path,
			     strerror(errno));
		close(fd);
		return TFS_EIO;
	}
	if (close(fd) < 0) {
		fetch_reason(reason, rlen, "cannot close '%s': %s", part_path,
			     strerror(errno));
		return TFS_EIO;
	}
	if (rename(part_path, final_path) < 0) {
		fetch_reason(reason, rlen, "cannot rename '%s' to '%s': %s",
			     part_path, final_path, strerror(errno));
		return TFS_EIO;
	}
	/* Only the final directory: should the part file's old entry come
	 * back after a crash, the next fetch re-hashes it anyway. A final
	 * file whose name may not survive is not one we vouch for. */
	if (fsync_dir_of(final_path) < 0) {
		fetch_reason(reason, rlen, "cannot fsync the directory of "
			     "'%s': %s", final_path, strerror(errno));
		unlink(final_path);
		return TFS_EIO;
	}
	return TFS_OK;
}

/* The opening of the part file: sets x->fd and x->have (hashed). */
static int fetch_open_part(struct fetch_xfer *x, const char *part_path,
			   char *reason, size_t rlen)
{
	struct stat st;
	int r;

	x->fd = open(part_path, O_RDWR | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
	if (x->fd < 0 || fstat(x->fd, &st) < 0) {
		fetch_reason(reason, rlen, "cannot open '%s': %s", part_path,
			     strerror(errno));
		return TFS_EIO;
	}
	if (!S_ISREG(st.st_mode)) {
		fetch_reason(reason, rlen, "'%s' is not a regular file",
			     part_path);
		return TFS_EIO;
	}
	if (st.st_size > x->size) {
		log_msg(LOG_NOTICE, "'%s' is longer than the artifact, "
			"fetching from byte 0", part_path);
		if (ftruncate(x->fd, 0) < 0) {
			fetch_reason(reason, rlen, "cannot truncate '%s': %s",
				     part_path, strerror(errno));
			return TFS_EIO;
		}
		st.st_size = 0;
	}
	r = sha256_update_fd(x->md, x->fd, st.st_size, &x->have, x->o->cancel);
	if (r > 0)
		return TFS_EINTR;
	if (r < 0) {
		fetch_reason(reason, rlen, "cannot read '%s': %s", part_path,
			     strerror(errno));
		return TFS_EIO;
	}
	/* shorter than fstat said: someone truncated it; keep md == disk */
	if (x->have < st.st_size && ftruncate(x->fd, (off_t)x->have) < 0) {
		fetch_reason(reason, rlen, "cannot truncate '%s': %s",
			     part_path, strerror(errno));
		return TFS_EIO;
	}
	return TFS_OK;
}

/*
 * The request for url: our callbacks, the timeouts, and a retry policy
 * that keeps fetch's own: connection errors, 408, 429 and 5xx retried,
 * the wait doubling from backoff_ms to 30 s, no jitter.
 */
static void fetch_request_init(struct http_request *rq, struct fetch_xfer *x,
			       const char *url)
{
	const struct fetch_opts *o = x->o;

	memset(rq, 0, sizeof(*rq));
	rq->url = url;
	rq->headers = o->headers;
	rq->allow_file = 1;
	rq->connect_timeout_ms = o->connect_timeout_s * 1000;
	rq->low_speed_time_s = o->low_speed_time_s;
	rq->retry.backoff_ms = o->backoff_ms;
	rq->retry.backoff_max_ms = FETCH_BACKOFF_MAX_MS;
	rq->retry.retry_after_max_ms = FETCH_BACKOFF_MAX_MS;
	rq->retry.on = HTTP_RETRY_DEFAULT;
	rq->head = fetch_head_cb;
	rq->write = fetch_write_cb;
	rq->progress = fetch_progress_cb;
	rq->cancelled = fetch_cancel_cb;
	rq->retrying = fetch_retrying_cb;
	rq->arg = x;
}

/*
 * Transfers until the part file holds size bytes. http retries within one
 * request, resuming from the bytes passed on; a restart from byte 0 is
 * ours, and does not count as an attempt: the server answered, and with
 * nothing on disk the next attempt cannot end there again (the bound on
 * restarts is for a server that misbehaves anyway). Returns TFS_OK when
 * the part file is complete, else TFS_EIO or TFS_EINTR with reason set.
 */
static int fetch_transfer(struct fetch_xfer *x, const char *url,
			  const char *part_path, const char *shown,
			  char *reason, size_t rlen)
{
	const struct fetch_opts *o = x->o;
	struct http_request rq;
	struct http_retry base;
	char msg[FETCH_REASON_MAX] = "";
	int attempts = 0, retries = 0, restarts = 0;

	fetch_request_init(&rq, x, url);
	base = rq.retry;
	/* A complete part file (or an empty artifact) needs no request: a
	 * Range from the end would only earn a 416. */
	while (x->have < x->size) {
		struct http_response r = HTTP_RESPONSE_INIT;
		enum fetch_next next;

		if (attempts == o->max_attempts) {
			fetch_reason(reason, rlen, "connection failed after %d "
				     "attempts: %s", attempts, msg);
			return TFS_EIO;
		}
		rq.resume_from = x->have;
		rq.retry.max_attempts = o->max_attempts - attempts;
		/* the doubling goes on where the last request left it */
		rq.retry.backoff_ms = (int)http_backoff_ms(&base, 1 + retries,
							   -1, 0);
		log_msg(LOG_DEBUG, "fetching %s into '%s' from byte %" PRId64
			" (attempt %d)", shown, part_path, x->have,
			attempts + 1);
		x->stop = FETCH_GO;
		http_request(&rq, &r);
		if (x->wlen)
			fetch_flush(x);
		attempts += r.attempts;
		retries += r.attempts - 1;
		next = fetch_outcome(x, &r, part_path, shown, msg,
				     sizeof(msg));
		http_response_release(&r);
		switch (next) {
		case FETCH_DONE:
			return TFS_OK;
		case FETCH_RETRY:
			continue;
		case FETCH_RESTART:
			if (++restarts > o->max_attempts) {
				fetch_reason(reason, rlen, "%s does not resume "
					     "transfers consistently", shown);
				return TFS_EIO;
			}
			log_msg(LOG_INFO, "cannot resume %s at byte %" PRId64
				", fetching from byte 0", shown, x->have);
			attempts--;
			if (fetch_restart(x) < 0) {
				fetch_reason(reason, rlen, "cannot truncate "
					     "'%s': %s", part_path,
					     strerror(errno));
				return TFS_EIO;
			}
			continue;
		case FETCH_FAIL_DROP:
			close(x->fd);
			x->fd = -1;
			unlink(part_path);
			/* fall through */
		case FETCH_FAIL:
			fetch_reason(reason, rlen, "%s", msg);
			return TFS_EIO;
		case FETCH_CANCEL:
			return TFS_EINTR;
		}
	}
	return TFS_OK;
}

int fetch_file(const char *url, const char *part_path,
	       const char *final_path, int64_t size, const char *sha256_hex,
	       const struct fetch_opts *opts, char *reason, size_t rlen)
{
	static const struct fetch_opts defaults = FETCH_OPTS_INIT;
	struct fetch_opts o = opts ? *opts : defaults;
	struct fetch_xfer x = { .fd = -1, .size = size, .o = &o };
	char shown[SECRET_URL_SHOWN_MAX + 64];
	char want[65];
	int ret = TFS_EIO;

	if (reason && rlen)
		reason[0] = '\0';
	if (o.max_attempts <= 0)
		o.max_attempts = defaults.max_attempts;
	if (o.backoff_ms < 0)
		o.backoff_ms = defaults.backoff_ms;
	if (o.connect_timeout_s <= 0)
		o.connect_timeout_s = defaults.connect_timeout_s;
	if (o.low_speed_time_s <= 0)
		o.low_speed_time_s = defaults.low_speed_time_s;

	if (strlen(url) > HTTP_URL_MAX) {
		fetch_reason(reason, rlen, "url longer than %d bytes",
			     HTTP_URL_MAX);
		return TFS_EIO;
	}
	secret_url_shown(url, shown, sizeof(shown));
	if (size < 0 || !sha256_hex || sha256_hex_lower(sha256_hex, want)) {
		fetch_reason(reason, rlen, "bad manifest entry for %s: size "
			     "%" PRId64 ", sha256 '%.64s'", shown, size,
			     sha256_hex ? sha256_hex : "");
		return TFS_EIO;
	}
	x.md = EVP_MD_CTX_new();
	if (!x.md || !EVP_DigestInit_ex(x.md, EVP_sha256(), NULL)) {
		fetch_reason(reason, rlen, "cannot set up sha256");
		goto out;
	}
	ret = fetch_open_part(&x, part_path, reason, rlen);
	if (ret)
		goto out;
	ret = TFS_EIO;
	x.wbuf = malloc(FETCH_WBUF);
	if (!x.wbuf) {
		fetch_reason(reason, rlen, "out of memory");
		goto out;
	}
	fetch_progress(&x, 1);
	ret = fetch_transfer(&x, url, part_path, shown, reason, rlen);
	if (ret == TFS_OK)
		ret = fetch_finish(&x, part_path, final_path, want, reason,
				   rlen);
out:
	if (ret == TFS_EINTR)
		fetch_reason(reason, rlen, "cancelled");
	if (x.fd >= 0)
		close(x.fd);
	EVP_MD_CTX_free(x.md);
	free(x.wbuf);
	return ret;
}
