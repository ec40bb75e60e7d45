/*
 * http.h - the one HTTP client of the daemon, on libcurl: a request is a
 * method, a URL, headers and a body; the answer's body is kept up to a
 * maximum size or streamed to a callback (downloads, with resume from an
 * offset). Connection errors, 429 and 5xx are retried with exponential
 * backoff, jitter and the server's Retry-After, as the caller's policy says.
 * Every message it produces (reasons, logs) has its secrets redacted: the
 * URL is shown as secret_url_shown() shows it, and the values of
 * credential headers, the URL's userinfo and query values and any string
 * the caller names are replaced wherever else they appear. http_request() blocks (call it from a worker
 * thread); an http_multi runs many transfers side by side on one thread
 * that also waits on the caller's descriptors. No locks are held; the
 * library is initialised once per process, on first use.
 *
 * The pure helpers at the end (Retry-After, Content-Range, status
 * classification, backoff, redaction) do no I/O, for tests and fuzzers.
 */
#ifndef TFS_HTTP_H
#define TFS_HTTP_H

#include <poll.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define HTTP_URL_MAX 8192          /* longer URLs are refused */
#define HTTP_ERROR_MAX 512         /* bytes of http_response.error */
#define HTTP_BODY_MAX (8 << 20)    /* max_response when 0 is given */
#define HTTP_HEADERS_MAX (64 << 10) /* response header bytes kept */
#define HTTP_SECRET_MIN 4          /* shorter secrets are not searched for:
				      they would match ordinary words */

/* What a failure was; http_retryable() decides from this and the status. */
enum http_fail {
	HTTP_FAIL_NONE = 0,
	HTTP_FAIL_STATUS,    /* a status outside 2xx (resp->status) */
	HTTP_FAIL_CONNECT,   /* connect, DNS, reset, timeout, cut transfer */
	HTTP_FAIL_TOOBIG,    /* the body passed max_response */
	HTTP_FAIL_RANGE,     /* resume_from not honoured: the server ignored
				Range, answered 416, or sent other bytes */
	HTTP_FAIL_REFUSED,   /* a head or write callback returned non-zero */
	HTTP_FAIL_CANCEL,    /* the cancelled callback returned non-zero */
	HTTP_FAIL_OTHER,     /* for good: bad URL, protocol, redirect loop,
				TLS verification, out of memory */
};

/* Bits of http_retry.on: which failures are tried again. */
#define HTTP_RETRY_CONNECT 0x01u   /* HTTP_FAIL_CONNECT */
#define HTTP_RETRY_408     0x02u
#define HTTP_RETRY_429     0x04u
#define HTTP_RETRY_5XX     0x08u
#define HTTP_RETRY_STATUS  0x10u   /* any other status outside 2xx */
#define HTTP_RETRY_OTHER   0x20u   /* HTTP_FAIL_OTHER */
#define HTTP_RETRY_DEFAULT (HTTP_RETRY_CONNECT | HTTP_RETRY_408 | \
			    HTTP_RETRY_429 | HTTP_RETRY_5XX)
#define HTTP_RETRY_ALL     0x3fu

/*
 * The retry policy. A zero field takes its default except where said.
 * The wait before retry n (n >= 1) is backoff_ms * 2^(n-1), at most
 * backoff_max_ms, raised to the server's Retry-After (itself cut to
 * retry_after_max_ms), plus up to jitter_pct percent at random: jitter
 * only lengthens a wait, so the policy's minimum holds.
 */
struct http_retry {
	int max_attempts;       /* requests in all; 0 or 1: no retry */
	int backoff_ms;         /* 0: retry at once */
	int backoff_max_ms;     /* 0: 30 s */
	int jitter_pct;         /* 0: none */
	int retry_after_max_ms; /* 0: Retry-After ignored */
	unsigned on;            /* HTTP_RETRY_* bits; 0: none retried */
};
#define HTTP_RETRY_INIT { 4, 500, 30000, 20, 60000, HTTP_RETRY_DEFAULT }

/* What a streaming request's head callback is shown of a response. */
struct http_head {
	long status;            /* 0 for file:// */
	int64_t offset;         /* where this response's body starts in the
				   resource: the Range asked for, or 0 */
	int64_t length;         /* Content-Length of the body, -1 unknown */
	int64_t total;          /* the resource's size from Content-Range,
				   -1 unknown */
};

/*
 * One request. Strings and arrays are borrowed for the length of the call;
 * after http_multi_add() only body must live on, until the transfer ends
 * (it is sent from where it is). Fields left zero take defaults.
 */
struct http_request {
	const char *method;          /* NULL: GET, or POST with a body */
	const char *url;             /* http(s)://, or file:// if allow_file */
	const char *const *headers;  /* "Name: value", NULL-terminated */
	const char *body;            /* sent as is, may be NULL */
	size_t body_len;
	const char *const *secrets;  /* more strings to keep out of messages */
	size_t max_response;         /* body bytes kept; 0: HTTP_BODY_MAX;
					streaming: bytes passed on, 0: no bound */
	int discard;                 /* read the body and keep none of it */
	int connect_timeout_ms;      /* 0: 10 s */
	int timeout_ms;              /* one attempt, all of it; 0: none */
	int low_speed_time_s;        /* abort below 1 byte/s this long; 0: off */
	int max_redirs;              /* redirects followed (http(s) only);
					0: 5, -1: none */
	int allow_file;              /* file:// too (never by redirect) */
	struct http_retry retry;     /* all zero: one attempt */

	/*
	 * Streaming: when write is set the body goes to it instead of
	 * http_response.body, for 2xx answers only (others stop the transfer
	 * and fail with their status). resume_from > 0 asks for the bytes
	 * from there on; a retry resumes after the bytes already passed on.
	 */
	int64_t resume_from;
	/* Each returns 0 to go on, non-zero to stop (HTTP_FAIL_REFUSED). */
	int (*head)(void *arg, const struct http_head *h);  /* once per
					response, before its first body byte
					(not at all for an empty body) */
	int (*write)(void *arg, const char *data, size_t len);
	void (*progress)(void *arg);     /* now and then while transferring */
	int (*cancelled)(void *arg);     /* polled, also during retry waits */
	/*
	 * Before each retry wait, with the attempt that failed and the wait
	 * chosen; non-zero gives up with that failure (a caller's log, a
	 * flush, a test's switch of the server's answer).
	 */
	int (*retrying)(void *arg, int attempt, int64_t wait_ms,
			const char *why);
	void *arg;                   /* passed to every callback */
	struct http_pool *pool;      /* connections kept open between the
					requests that name it; NULL: one
					connection per request */
};

/*
 * The outcome. body is the last response's (buffered mode), NUL-terminated,
 * owned by the response: release with http_response_release().
 */
struct http_response {
	long status;             /* last HTTP status; 0 when none arrived */
	enum http_fail fail;     /* HTTP_FAIL_NONE on success */
	int attempts;            /* requests made */
	int gave_up;             /* the last failure was retryable, but the
				    attempts ran out (or retrying said stop) */
	int64_t retry_after_ms;  /* the last response's Retry-After, or -1 */
	int64_t received;        /* streaming: bytes passed to write */
	char *body;
	size_t body_len;
	char *headers;           /* the last response's header lines */
	size_t headers_len;
	char error[HTTP_ERROR_MAX]; /* one redacted sentence, "" on success */
	int64_t sent;            /* request bytes the last attempt sent: 0
				    means the server never saw it (a POST
				    that is safe to send again) */
	int64_t elapsed_ms;      /* all attempts and waits */
};
#define HTTP_RESPONSE_INIT { 0, HTTP_FAIL_NONE, 0, 0, -1, 0, NULL, 0, NULL, \
			     0, "", 0, 0 }

/*
 * Initialises libcurl, once for the process (pthread_once); every other
 * function calls it. Returns TFS_OK, or TFS_EIO when libcurl cannot start
 * or is older than 7.85 (needed to keep redirects away from file://).
 */
int http_global_init(void);

/*
 * Makes the request, retrying as req->retry says. Returns TFS_OK for a 2xx
 * answer (or a file:// read), else with resp->fail and resp->error set:
 * TFS_EINVAL (bad request: URL, method), TFS_EFBIG (HTTP_FAIL_TOOBIG),
 * TFS_EINTR (HTTP_FAIL_CANCEL), TFS_EIO (every other failure). resp is
 * filled in either case and must be released.
 */
int http_request(const struct http_request *req, struct http_response *resp);

/* Frees what resp holds; it is HTTP_RESPONSE_INIT again afterwards. */
void http_response_release(struct http_response *resp);

/*
 * The value of the last response's header name (case-insensitive), copied
 * to out, blanks trimmed. Returns its length, or -1 when absent (out "").
 */
int http_response_header(const struct http_response *resp, const char *name,
			 char *out, size_t outlen);

/*
 * A pool of open connections (keep-alive) for the requests that name it,
 * from any number of threads: a provider that makes hundreds of small
 * requests a second pays the TCP set-up once. Returns NULL when libcurl
 * cannot make one (requests then go without). http_pool_free() after the
 * last request that names it has returned.
 */
struct http_pool;
struct http_pool *http_pool_new(void);
void http_pool_free(struct http_pool *p);
/* Requests made through p so far (tests and status lines count them). */
uint64_t http_pool_requests(const struct http_pool *p);

/*
 * Many transfers driven by one thread: start them, then call
 * http_multi_poll() and collect finished ones with http_multi_next().
 * One attempt each: the caller schedules retries (http_retryable(),
 * http_backoff_ms()). Only http_multi_wakeup() may be called from
 * another thread.
 */
struct http_multi;

/* Returns NULL on failure (logged). */
struct http_multi *http_multi_new(void);
/* Aborts the transfers still running (no result for them) and frees m. */
void http_multi_free(struct http_multi *m);
/*
 * Starts req (not streaming; body borrowed until it finishes), known by
 * tag. Returns TFS_OK, TFS_EINVAL or TFS_ENOMEM.
 */
int http_multi_add(struct http_multi *m, const struct http_request *req,
		   void *tag);
/* Aborts and forgets tag's transfer, if it runs. */
void http_multi_remove(struct http_multi *m, void *tag);
/*
 * Waits at most timeout_ms for transfers to progress, one of fds to be
 * ready (events as for poll(); revents are not set) or a wakeup, then
 * moves the transfers on. Returns TFS_OK, or TFS_EIO (logged) when the
 * wait failed and the caller should pause before calling again.
 */
int http_multi_poll(struct http_multi *m, const struct pollfd *fds,
		    unsigned nfds, int timeout_ms);
/*
 * A finished transfer: 1 with *tag and resp (the caller's to release),
 * or 0 when none is left.
 */
int http_multi_next(struct http_multi *m, void **tag,
		    struct http_response *resp);
/* Makes a running http_multi_poll() return soon. Any thread. */
void http_multi_wakeup(struct http_multi *m);

/* ---- pure helpers ---- */

/*
 * A Retry-After value (delay-seconds or an HTTP-date, compared with now)
 * in ms: >= 0, at most one day; a date in the past gives 0. -1 when value
 * is NULL or neither form.
 */
int64_t http_retry_after_ms(const char *value, time_t now);

/*
 * "bytes FIRST-LAST/TOTAL" (TOTAL may be '*': -1). Returns 0, or -1 when
 * the value is not of that form.
 */
int http_content_range(const char *value, int64_t *first, int64_t *last,
		       int64_t *total);

/* 1 when policy retries a failure of kind fail with HTTP status. */
int http_retryable(const struct http_retry *policy, enum http_fail fail,
		   long status);

/*
 * The wait before retry n (n >= 1) under policy, given the server's
 * Retry-After in ms (-1: none) and a random value for the jitter.
 */
int64_t http_backoff_ms(const struct http_retry *policy, int n,
			int64_t retry_after_ms, uint32_t rnd);

/*
 * 1 when a header line ("Name: value") carries a credential:
 * Authorization, Proxy-Authorization, Cookie, or a name holding "token",
 * "key", "secret", "password", "signature", "credential" or "session".
 */
int http_header_secret(const char *line);

/*
 * Replaces every occurrence in text (NUL-terminated) of each of secrets
 * (NULL-terminated; entries shorter than HTTP_SECRET_MIN skipped) with
 * "***", in place.
 */
void http_redact(char *text, const char *const *secrets);

/*
 * Redacts text as the messages of req are: the URL's userinfo and query
 * values, credential header values, req->secrets. For a caller that builds
 * its own message from a response body.
 */
void http_redact_request(const struct http_request *req, char *text);

#endif
