/*
 * fetch.c - downloads one artifact with libcurl. Bytes are appended to a
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
#include "secret.h"
#include "sha256.h"
#include "util.h"

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

#include <curl/curl.h>
#include <openssl/evp.h>

/* curl's receive buffer, so the largest write callback chunk, and our read
 * buffer when hashing a file: big enough for few syscalls, small enough to
 * keep per-download memory modest with many downloads at once. */
#define FETCH_CHUNK (1024 * 1024)
/* Longer URLs are refused rather than handed to curl. */
#define FETCH_URL_MAX 8192
#define FETCH_MAX_REDIRS 5L
/* The doubling backoff stops growing here. */
#define FETCH_BACKOFF_MAX_MS 30000
/* Progress is reported at most this often (and always at the ends). */
#define FETCH_PROGRESS_MS 100

/* Why the write callback refused a response; checked after the transfer. */
enum fetch_stop {
	FETCH_GO = 0,
	FETCH_STOP_STATUS,   /* an HTTP status whose body we do not store */
	FETCH_STOP_RANGE,    /* a 206 for other bytes than those asked for */
	FETCH_STOP_SIZE,     /* the server announced another total size */
	FETCH_STOP_BIG,      /* more bytes than the manifest's size */
	FETCH_STOP_DISK,     /* writing the part file failed (errno in err) */
	FETCH_STOP_CANCEL,   /* *opts->cancel became non-zero */
};

/* What one transfer attempt leads to. */
enum fetch_next {
	FETCH_DONE,          /* the body ended cleanly: check and verify */
	FETCH_RETRY,         /* transient: back off, resume */
	FETCH_RESTART,       /* the bytes on disk cannot be resumed: from 0 */
	FETCH_FAIL,          /* for good, keep the part file */
	FETCH_FAIL_DROP,     /* for good, the part file is wrong: remove it */
	FETCH_CANCEL,
};

/* The state of one fetch_file() call, shared with the curl callbacks. */
struct fetch_xfer {
	CURL *curl;
	const struct fetch_opts *o;
	int fd;                  /* part file, O_APPEND */
	EVP_MD_CTX *md;          /* SHA-256 of exactly the part file's bytes */
	int64_t size;            /* what the manifest promised */
	int64_t have;            /* bytes in the part file, all in md */
	int64_t offset;          /* where this attempt's body starts */
	int64_t announced;       /* total the server claimed */
	int checked;             /* this attempt's response was looked at */
	enum fetch_stop stop;
	int err;                 /* errno behind FETCH_STOP_DISK */
	int64_t progress_at;     /* mono_ms() of the last progress call */
	int64_t progress_done;   /* the value it reported */
	char *wbuf;              /* bytes hashed, not yet written (curl hands
				    16 KiB at a time: one write per MiB) */
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

int fetch_global_init(void)
{
	const curl_version_info_data *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(LOG_ERR, "cannot initialise libcurl");
		return TFS_EIO;
	}
	/* CURLOPT_PROTOCOLS_STR came with 7.85; without it we could not
	 * keep redirects away from file:// */
	v = curl_version_info(CURLVERSION_NOW);
	if (!v || v->version_num < 0x075500) {
		log_msg(LOG_ERR, "libcurl %s is too old, 7.85 or later needed",
			v ? v->version : "?");
		curl_global_cleanup();
		return TFS_EIO;
	}
	return TFS_OK;
}

void fetch_global_cleanup(void)
{
	curl_global_cleanup();
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
 * A 206 must carry exactly the bytes from where we are, of a file of the
 * manifest's size: "Content-Range: bytes FIRST-LAST/TOTAL" (TOTAL may be
 * '*'). Returns FETCH_GO, FETCH_STOP_RANGE or FETCH_STOP_SIZE.
 */
static enum fetch_stop fetch_check_range(struct fetch_xfer *x)
{
	struct curl_header *h;
	const char *p;
	char *end;
	long long first, total;

	if (curl_easy_header(x->curl, "Content-Range", 0, CURLH_HEADER, -1,
			     &h) != CURLHE_OK)
		return FETCH_STOP_RANGE;
	p = h->value;
	if (strncmp(p, "bytes ", 6))
		return FETCH_STOP_RANGE;
	errno = 0;
	first = strtoll(p + 6, &end, 10);
	if (errno || end == p + 6 || *end != '-' || first != x->have)
		return FETCH_STOP_RANGE;
	p = strchr(end, '/');
	if (!p || p[1] == '*')
		return FETCH_GO;
	total = strtoll(p + 1, &end, 10);
	if (errno || end == p + 1)
		return FETCH_STOP_RANGE;
	if (total != x->size) {
		x->announced = total;
		return FETCH_STOP_SIZE;
	}
	return FETCH_GO;
}

/*
 * The first body bytes of an attempt arrived: decides whether to store
 * them. Returns 0 to go on, -1 with x->stop set to refuse.
 */
static int fetch_check_response(struct fetch_xfer *x)
{
	long status = 0;
	curl_off_t len = -1;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	/* status 0: file://, which has no status */
	if (status != 0 && status != 200 && status != 206) {
		x->stop = FETCH_STOP_STATUS;
		return -1;
	}
	/* A server ignoring Range sends the file from byte 0. curl usually
	 * refuses that itself (CURLE_RANGE_ERROR), so this is the fallback
	 * that keeps the part file right whatever curl does. */
	if (status == 200 && x->have > 0) {
		log_msg(LOG_INFO, "server ignored the range request, fetching "
			"from byte 0");
		if (fetch_restart(x) < 0) {
			x->err = errno;
			x->stop = FETCH_STOP_DISK;
			return -1;
		}
	}
	if (status == 206) {
		x->stop = fetch_check_range(x);
		if (x->stop)
			return -1;
	}
	/* A length that cannot add up to the manifest's size fails before
	 * we download a wrong file. -1 is unknown (chunked): the write
	 * callback bounds those. */
	curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	if (len >= 0 && x->have + (int64_t)len != x->size) {
		x->announced = x->have + (int64_t)len;
		x->stop = FETCH_STOP_SIZE;
		return -1;
	}
	return 0;
}

/* curl's write callback: appends to the part file and the hash. */
static size_t fetch_write_cb(char *data, size_t one, size_t n, void *arg)
{
	struct fetch_xfer *x = arg;
	size_t len = one * n;      /* curl documents one as always 1 */

	if (!x->checked) {
		x->checked = 1;
		if (fetch_check_response(x) < 0)
			return 0;
	}
	if (x->stop)
		return 0;
	if ((uint64_t)len > (uint64_t)(x->size - x->have)) {
		x->stop = FETCH_STOP_BIG;
		return 0;
	}
	/*
	 * md and have count these bytes now; they reach the file at the next
	 * flush, always before the transfer's result is looked at, so md
	 * matches the disk whenever it matters (a failed write stops all).
	 */
	if (x->wlen + len > FETCH_WBUF && fetch_flush(x) < 0)
		return 0;
	memcpy(x->wbuf + x->wlen, data, len);
	x->wlen += len;
	EVP_DigestUpdate(x->md, data, len);
	x->have += (int64_t)len;
	if (mono_ms() - x->flushed_at >= FETCH_FLUSH_MS && fetch_flush(x) < 0)
		return 0;
	return one * n;
}

/* curl's progress callback: the place to notice a cancel. */
static int fetch_xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			     curl_off_t ultotal, curl_off_t ulnow)
{
	struct fetch_xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (fetch_cancelled(x->o->cancel)) {
		x->stop = FETCH_STOP_CANCEL;
		return 1;
	}
	fetch_progress(x, 0);
	return 0;
}

/* Faults worth another try: the network or the server may recover. */
static int fetch_transient_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_CONNECT:
	case CURLE_PARTIAL_FILE:
	case CURLE_OPERATION_TIMEDOUT:
	case CURLE_SSL_CONNECT_ERROR:
	case CURLE_GOT_NOTHING:
	case CURLE_SEND_ERROR:
	case CURLE_RECV_ERROR:
	case CURLE_HTTP2:
	case CURLE_HTTP2_STREAM:
	case CURLE_HTTP3:
	case CURLE_QUIC_CONNECT_ERROR:
		return 1;
	default:
		return 0;
	}
}

static int fetch_transient_http(long status)
{
	return status == 408 || status == 429 || (status >= 500 &&
						  status <= 599);
}

/* Sleeps ms, waking early for a cancel. Returns 1 when cancelled. */
static int fetch_sleep(int64_t ms, volatile int *cancel)
{
	int64_t until = mono_ms() + ms;

	while (!fetch_cancelled(cancel)) {
		int64_t left = until - mono_ms();
		struct timespec ts;

		if (left <= 0)
			return 0;
		if (left > 50)
			left = 50;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return 1;
}

/*
 * One transfer from x->have on. Returns what to do next; msg gets the
 * sentence for FETCH_RETRY and the FETCH_FAIL kinds.
 */
static enum fetch_next fetch_attempt(struct fetch_xfer *x,
				     const char *part_path, const char *shown,
				     const char *errbuf, char *msg,
				     size_t mlen)
{
	CURLcode rc;
	long status = 0;

	x->offset = x->have;
	x->checked = 0;
	x->stop = FETCH_GO;
	x->announced = -1;
	curl_easy_setopt(x->curl, CURLOPT_RESUME_FROM_LARGE,
			 (curl_off_t)x->have);
	rc = curl_easy_perform(x->curl);
	if (x->wlen && fetch_flush(x) < 0 && rc == CURLE_OK)
		rc = CURLE_WRITE_ERROR;
	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);

	if (x->stop == FETCH_STOP_CANCEL || rc == CURLE_ABORTED_BY_CALLBACK)
		return FETCH_CANCEL;
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
	case FETCH_STOP_RANGE:
		return FETCH_RESTART;
	default:
		break;
	}
	/* A 3xx that curl could not follow is better told by curl's message
	 * (too many redirects, a redirect to file://). */
	if (status >= 400 || x->stop == FETCH_STOP_STATUS ||
	    (rc == CURLE_OK && status != 0 && status != 200 && status != 206)) {
		/* The server has fewer bytes than our part file: start over,
		 * and the size check will say what it really has. */
		if (status == 416 && x->offset > 0)
			return FETCH_RESTART;
		fetch_reason(msg, mlen, "HTTP %ld from %s", status, shown);
		return fetch_transient_http(status) ? FETCH_RETRY : FETCH_FAIL;
	}
	/* Range ignored (HTTP), or a resume offset past the end (file://). */
	if (rc == CURLE_RANGE_ERROR || rc == CURLE_BAD_DOWNLOAD_RESUME)
		return FETCH_RESTART;
	if (rc == CURLE_OK) {
		if (x->have == x->size)
			return FETCH_DONE;
		fetch_reason(msg, mlen, "size mismatch: expected %" PRId64
			     " bytes, server sent %" PRId64, x->size, x->have);
		return FETCH_FAIL_DROP;
	}
	if (fetch_transient_curl(rc)) {
		fetch_reason(msg, mlen, "%s", errbuf[0] ? errbuf :
			     curl_easy_strerror(rc));
		return FETCH_RETRY;
	}
	fetch_reason(msg, mlen, "cannot fetch %s: %s", shown, errbuf[0] ?
		     errbuf : curl_easy_strerror(rc));
	return FETCH_FAIL;
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

/* A configured easy handle for x, or NULL. errbuf is CURL_ERROR_SIZE. */
static CURL *fetch_curl_new(struct fetch_xfer *x, const char *url,
			    char *errbuf)
{
	CURL *c = curl_easy_init();
	int bad = 0;

	if (!c)
		return NULL;
#define FETCH_SET(opt, val) (bad |= curl_easy_setopt(c, opt, val) != CURLE_OK)
	FETCH_SET(CURLOPT_URL, url);
	/* signals are process-wide and we run in worker threads */
	FETCH_SET(CURLOPT_NOSIGNAL, 1L);
	FETCH_SET(CURLOPT_PROTOCOLS_STR, "file,http,https");
	/* a server must not redirect us into the local filesystem */
	FETCH_SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	FETCH_SET(CURLOPT_FOLLOWLOCATION, 1L);
	FETCH_SET(CURLOPT_MAXREDIRS, FETCH_MAX_REDIRS);
	/* we read the status ourselves: 416 and 5xx mean different things */
	FETCH_SET(CURLOPT_FAILONERROR, 0L);
	/* the hash covers the bytes as stored, never a decoded form */
	FETCH_SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
	FETCH_SET(CURLOPT_CONNECTTIMEOUT, (long)x->o->connect_timeout_s);
	FETCH_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	FETCH_SET(CURLOPT_LOW_SPEED_TIME, (long)x->o->low_speed_time_s);
	FETCH_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	FETCH_SET(CURLOPT_BUFFERSIZE, (long)FETCH_CHUNK);
	FETCH_SET(CURLOPT_USERAGENT, "trainfs");
	FETCH_SET(CURLOPT_ERRORBUFFER, errbuf);
	FETCH_SET(CURLOPT_WRITEFUNCTION, fetch_write_cb);
	FETCH_SET(CURLOPT_WRITEDATA, x);
	FETCH_SET(CURLOPT_XFERINFOFUNCTION, fetch_xferinfo_cb);
	FETCH_SET(CURLOPT_XFERINFODATA, x);
	FETCH_SET(CURLOPT_NOPROGRESS, 0L);
#undef FETCH_SET
	if (bad) {
		curl_easy_cleanup(c);
		return NULL;
	}
	return c;
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

int fetch_file(const char *url, const char *part_path,
	       const char *final_path, int64_t size, const char *sha256_hex,
	       const struct fetch_opts *opts, char *reason, size_t rlen)
{
	static const struct fetch_opts defaults = FETCH_OPTS_INIT;
	struct fetch_opts o = opts ? *opts : defaults;
	struct fetch_xfer x = { .fd = -1, .size = size, .o = &o };
	char errbuf[CURL_ERROR_SIZE] = "";
	char shown[SECRET_URL_SHOWN_MAX + 64];
	char msg[FETCH_REASON_MAX] = "";
	char want[65];
	int64_t wait_ms = 0, backoff;
	int attempts = 0, restarts = 0, ret = TFS_EIO;

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
	backoff = o.backoff_ms;

	if (strlen(url) > FETCH_URL_MAX) {
		fetch_reason(reason, rlen, "url longer than %d bytes",
			     FETCH_URL_MAX);
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

	/* A complete part file (or an empty artifact) needs no request: a
	 * Range from the end would only earn a 416. */
	while (x.have < size) {
		enum fetch_next next;

		if (attempts == o.max_attempts) {
			fetch_reason(reason, rlen, "connection failed after %d "
				     "attempts: %s", attempts, msg);
			goto out;
		}
		if (wait_ms && fetch_sleep(wait_ms, o.cancel)) {
			ret = TFS_EINTR;
			goto out;
		}
		if (!x.curl) {
			x.curl = fetch_curl_new(&x, url, errbuf);
			if (!x.curl) {
				fetch_reason(reason, rlen, "cannot set up "
					     "libcurl");
				goto out;
			}
		}
		attempts++;
		errbuf[0] = '\0';
		log_msg(LOG_DEBUG, "fetching %s into '%s' from byte %" PRId64
			" (attempt %d)", shown, part_path, x.have, attempts);
		next = fetch_attempt(&x, part_path, shown, errbuf, msg,
				     sizeof(msg));
		wait_ms = 0;
		switch (next) {
		case FETCH_DONE:
			break;
		case FETCH_RETRY:
			wait_ms = backoff;
			backoff = backoff * 2 > FETCH_BACKOFF_MAX_MS ?
				  FETCH_BACKOFF_MAX_MS : backoff * 2;
			if (attempts < o.max_attempts)
				log_msg(LOG_INFO, "fetch of %s failed (%s), "
					"retrying in %" PRId64 " ms", shown,
					msg, wait_ms);
			continue;
		case FETCH_RESTART:
			/* Not counted: the server answered, and with nothing
			 * on disk the next attempt cannot end here again.
			 * The bound is for a server that misbehaves anyway. */
			if (++restarts > o.max_attempts) {
				fetch_reason(reason, rlen, "%s does not resume "
					     "transfers consistently", shown);
				goto out;
			}
			log_msg(LOG_INFO, "cannot resume %s at byte %" PRId64
				", fetching from byte 0", shown, x.have);
			attempts--;
			if (fetch_restart(&x) < 0) {
				fetch_reason(reason, rlen, "cannot truncate "
					     "'%s': %s", part_path,
					     strerror(errno));
				goto out;
			}
			continue;
		case FETCH_FAIL_DROP:
			close(x.fd);
			x.fd = -1;
			unlink(part_path);
			/* fall through */
		case FETCH_FAIL:
			fetch_reason(reason, rlen, "%s", msg);
			goto out;
		case FETCH_CANCEL:
			ret = TFS_EINTR;
			goto out;
		}
		break;
	}
	ret = fetch_finish(&x, part_path, final_path, want, reason, rlen);
out:
	if (ret == TFS_EINTR)
		fetch_reason(reason, rlen, "cancelled");
	if (x.curl)
		curl_easy_cleanup(x.curl);
	if (x.fd >= 0)
		close(x.fd);
	EVP_MD_CTX_free(x.md);
	free(x.wbuf);
	return ret;
}
