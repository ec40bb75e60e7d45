/*
 * http.c - the daemon's one libcurl client. A transfer (struct http_xfer)
 * is an easy handle configured from a struct http_request, with our own
 * write, header and progress callbacks in front of the caller's; after
 * each attempt its outcome is classified once (http_classify) into an
 * enum http_fail and one redacted sentence, which both the blocking retry
 * loop and the multi interface hand back. Secrets are gathered from the
 * request when the transfer is set up (URL userinfo and query values,
 * credential header values, the caller's list) and every message is passed
 * through http_redact() with them before it leaves this file, so no caller
 * has to remember. See http.h for the contract.
 */
#define _GNU_SOURCE
#include "http.h"
#include "secret.h"
#include "strvec.h"
#include "util.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>

#include <curl/curl.h>

#define HTTP_CONNECT_TIMEOUT_MS 10000L
#define HTTP_MAX_REDIRS 5L
#define HTTP_BACKOFF_MAX_MS 30000
/* Streaming buffer, so the largest write callback chunk: few syscalls
 * for a download, modest memory with many of them at once. */
#define HTTP_STREAM_CHUNK (1024L * 1024L)
/* A retry wait is cut in slices this long to notice a cancel. */
#define HTTP_SLEEP_SLICE_MS 50
/* Retry-After beyond a day is taken as a day; the policy cuts it more. */
#define HTTP_RETRY_AFTER_MAX_S 86400
#define HTTP_METHOD_MAX 16
/* Descriptors http_multi_poll() waits on besides curl's own. */
#define HTTP_MULTI_FDS_MAX 64

/* One transfer: an easy handle and what its callbacks need. */
struct http_xfer {
	CURL *curl;
	struct curl_slist *hdrs;
	struct http_request req;     /* shallow copy: callbacks, arg, limits;
					the borrowed arrays are not used after
					set-up */
	char method[HTTP_METHOD_MAX + 1];
	char **secrets;              /* owned, NULL-terminated */
	char shown[SECRET_URL_SHOWN_MAX + 64];
	char errbuf[CURL_ERROR_SIZE];
	struct buf body;             /* buffered mode, bounded */
	struct buf hdr;              /* the current response's header lines */
	int64_t offset;              /* streaming: this attempt's first byte */
	int64_t received;            /* streaming: bytes passed to write */
	int head_done;               /* this response's head was looked at */
	enum http_fail stop;         /* why a callback of ours stopped curl */
	void *tag;                   /* multi */
	struct http_xfer *next;      /* multi: the running list */
};

struct http_pool {
	CURLSH *share;
	pthread_mutex_t lock[CURL_LOCK_DATA_LAST];
	uint64_t requests;           /* atomics */
};

struct http_multi {
	CURLM *multi;
	struct http_xfer *running;   /* linked through next */
};

/* ---- once per process ---- */

static pthread_once_t http_once = PTHREAD_ONCE_INIT;
static int http_init_result = TFS_EIO;

static void http_init_once(void)
{
	const curl_version_info_data *v;

	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		log_msg(LOG_ERR, "cannot initialise libcurl");
		return;
	}
	/* CURLOPT_PROTOCOLS_STR came with 7.85; without it we could not
	 * keep redirects away from file:// */
	v = curl_version_info(CURLVERSION_NOW);
	if (!v || v->version_num < 0x075500) {
		log_msg(LOG_ERR, "libcurl %s is too old, 7.85 or later needed",
			v ? v->version : "?");
		return;
	}
	/* never cleaned up: threads of the daemon may use it until exit */
	http_init_result = TFS_OK;
}

int http_global_init(void)
{
	pthread_once(&http_once, http_init_once);
	return http_init_result;
}

/* ---- pure helpers ---- */

int64_t http_retry_after_ms(const char *value, time_t now)
{
	const char *p = value;
	int64_t s = 0;
	time_t t;

	if (!p)
		return -1;
	while (*p == ' ' || *p == '\t')
		p++;
	if (isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p)) {
			if (s < HTTP_RETRY_AFTER_MAX_S)
				s = s * 10 + (*p - '0');
			p++;
		}
		while (*p == ' ' || *p == '\t')
			p++;
		if (*p)
			return -1;
	} else {
		/* curl_getdate() reads all three HTTP-date forms; a sign
		 * or an empty value is neither form */
		if (!*p || *p == '-' || *p == '+')
			return -1;
		t = curl_getdate(p, NULL);
		if (t == -1)
			return -1;
		s = t > now ? (int64_t)(t - now) : 0;
	}
	if (s > HTTP_RETRY_AFTER_MAX_S)
		s = HTTP_RETRY_AFTER_MAX_S;
	return s * 1000;
}

/* Digits at *p into *v (no sign, no overflow); returns 0 or -1. */
static int http_digits(const char **p, int64_t *v)
{
	const char *s = *p;
	int64_t n = 0;

	if (!isdigit((unsigned char)*s))
		return -1;
	for (; isdigit((unsigned char)*s); s++) {
		if (n > (INT64_MAX - 9) / 10)
			return -1;
		n = n * 10 + (*s - '0');
	}
	*p = s;
	*v = n;
	return 0;
}

int http_content_range(const char *value, int64_t *first, int64_t *last,
		       int64_t *total)
{
	const char *p = value;

	if (!p || strncasecmp(p, "bytes ", 6))
		return -1;
	p += 6;
	while (*p == ' ')
		p++;
	if (http_digits(&p, first) || *p++ != '-' || http_digits(&p, last) ||
	    *last < *first || *p++ != '/')
		return -1;
	if (*p == '*') {
		*total = -1;
		p++;
	} else if (http_digits(&p, total) || *total <= *last) {
		return -1;
	}
	while (*p == ' ' || *p == '\t')
		p++;
	return *p ? -1 : 0;
}

int http_retryable(const struct http_retry *policy, enum http_fail fail,
		   long status)
{
	unsigned on = policy->on;

	switch (fail) {
	case HTTP_FAIL_CONNECT:
		return !!(on & HTTP_RETRY_CONNECT);
	case HTTP_FAIL_OTHER:
		return !!(on & HTTP_RETRY_OTHER);
	case HTTP_FAIL_STATUS:
		if (status == 408)
			return !!(on & HTTP_RETRY_408);
		if (status == 429)
			return !!(on & HTTP_RETRY_429);
		if (status >= 500 && status <= 599)
			return !!(on & HTTP_RETRY_5XX);
		return !!(on & HTTP_RETRY_STATUS);
	default:
		/* cancelled, refused, too big, range: asking again the same
		 * way gets the same */
		return 0;
	}
}

int64_t http_backoff_ms(const struct http_retry *policy, int n,
			int64_t retry_after_ms, uint32_t rnd)
{
	int64_t d = policy->backoff_ms > 0 ? policy->backoff_ms : 0;
	int64_t cap = policy->backoff_max_ms > 0 ? policy->backoff_max_ms :
		      HTTP_BACKOFF_MAX_MS;
	int i;

	for (i = 1; i < n && d < cap; i++)
		d *= 2;
	if (d > cap)
		d = cap;
	if (retry_after_ms >= 0 && policy->retry_after_max_ms > 0) {
		int64_t ra = retry_after_ms < policy->retry_after_max_ms ?
			     retry_after_ms : policy->retry_after_max_ms;

		if (ra > d)
			d = ra;
	}
	if (policy->jitter_pct > 0)
		d += (int64_t)((double)d * policy->jitter_pct / 100.0 *
			       ((double)rnd / 4294967296.0));
	return d;
}

int http_header_secret(const char *line)
{
	static const char *const words[] = {
		"auth", "cookie", "token", "key", "secret", "password",
		"passwd", "signature", "credential", "session", NULL
	};
	char name[128];
	size_t n = strcspn(line, ":");
	int i;

	/* a name we cannot hold is not one of ours: guard it anyway */
	if (n >= sizeof(name))
		return 1;
	memcpy(name, line, n);
	name[n] = '\0';
	for (i = 0; words[i]; i++)
		if (strcasestr(name, words[i]))
			return 1;
	return 0;
}

void http_redact(char *text, const char *const *secrets)
{
	size_t i;

	if (!text || !secrets)
		return;
	for (i = 0; secrets[i]; i++) {
		size_t n = strlen(secrets[i]);
		char *p = text;

		if (n < HTTP_SECRET_MIN)
			continue;
		/* "***" is shorter than any secret searched for */
		while ((p = strstr(p, secrets[i]))) {
			memcpy(p, "***", 3);
			memmove(p + 3, p + n, strlen(p + n) + 1);
			p += 3;
		}
	}
}

/* Appends a copy of s[0..n) to the NULL-terminated list *v (*len used). */
static void http_secret_add(char ***v, size_t *len, const char *s, size_t n)
{
	if (n < HTTP_SECRET_MIN)
		return;
	*v = xrealloc(*v, (*len + 2) * sizeof(**v));
	(*v)[(*len)++] = xstrndup(s, n);
	(*v)[*len] = NULL;
}

/*
 * The strings of req that must not reach a message: userinfo and its
 * password, every query value (a presigned URL has several credentials
 * there, and which names matter differs by provider), credential header
 * values with and without their scheme word, and req->secrets. Caller
 * frees with strv_free().
 */
static char **http_secrets_of(const struct http_request *req)
{
	char **v = xcalloc(1, sizeof(*v));
	size_t len = 0, i;
	const char *u = req->url ? req->url : "", *p, *end, *at;

	p = strstr(u, "://");
	p = p ? p + 3 : u;
	end = p + strcspn(p, "/?#");
	at = memchr(p, '@', (size_t)(end - p));
	if (at) {
		const char *colon = memchr(p, ':', (size_t)(at - p));

		http_secret_add(&v, &len, p, (size_t)(at - p));
		if (colon)
			http_secret_add(&v, &len, colon + 1,
					(size_t)(at - colon - 1));
	}
	p = strchr(u, '?');
	while (p && *p && *p != '#') {
		const char *eq, *amp;

		p++;
		amp = p + strcspn(p, "&#");
		eq = memchr(p, '=', (size_t)(amp - p));
		if (eq)
			http_secret_add(&v, &len, eq + 1,
					(size_t)(amp - eq - 1));
		p = amp;
	}
	for (i = 0; req->headers && req->headers[i]; i++) {
		const char *h = req->headers[i], *val = strchr(h, ':'), *sp;
		size_t n;

		if (!val || !http_header_secret(h))
			continue;
		val += 1 + strspn(val + 1, " \t");
		n = strlen(val);
		while (n && (val[n - 1] == ' ' || val[n - 1] == '\t'))
			n--;
		http_secret_add(&v, &len, val, n);
		sp = memchr(val, ' ', n);
		if (sp)
			http_secret_add(&v, &len, sp + 1,
					n - (size_t)(sp + 1 - val));
	}
	for (i = 0; req->secrets && req->secrets[i]; i++)
		http_secret_add(&v, &len, req->secrets[i],
				strlen(req->secrets[i]));
	return v;
}

void http_redact_request(const struct http_request *req, char *text)
{
	char **s = http_secrets_of(req);

	http_redact(text, (const char *const *)s);
	strv_free(s);
}

/* ---- responses ---- */

void http_response_release(struct http_response *resp)
{
	static const struct http_response init = HTTP_RESPONSE_INIT;

	free(resp->body);
	free(resp->headers);
	*resp = init;
}

/* The value of header name in the header lines hdr (len bytes). */
static int http_header_find(const char *hdr, size_t len, const char *name,
			    char *out, size_t outlen)
{
	size_t nlen = strlen(name);
	const char *p = hdr, *end = hdr ? hdr + len : NULL;

	if (outlen)
		out[0] = '\0';
	while (p && p < end) {
		const char *eol = memchr(p, '\n', (size_t)(end - p));
		const char *stop = eol ? eol : end, *v;
		size_t vlen;

		if ((size_t)(stop - p) > nlen && p[nlen] == ':' &&
		    strncasecmp(p, name, nlen) == 0) {
			v = p + nlen + 1;
			while (v < stop && (*v == ' ' || *v == '\t'))
				v++;
			vlen = (size_t)(stop - v);
			while (vlen && strchr(" \t\r", v[vlen - 1]))
				vlen--;
			if (outlen)
				snprintf(out, outlen, "%.*s", (int)vlen, v);
			return (int)vlen;
		}
		p = eol ? eol + 1 : end;
	}
	return -1;
}

int http_response_header(const struct http_response *resp, const char *name,
			 char *out, size_t outlen)
{
	return http_header_find(resp->headers, resp->headers_len, name, out,
				outlen);
}

/* ---- curl callbacks ---- */

static int http_status_ok(long status)
{
	return status == 0 || (status >= 200 && status <= 299);
}

/*
 * The first body bytes of a response arrived: the checks that make
 * resume_from safe, then the caller's head callback. Returns 0 to go on,
 * -1 with x->stop set.
 */
static int http_on_head(struct http_xfer *x)
{
	struct http_head h = { 0, x->offset, -1, -1 };
	curl_off_t len = -1;
	char v[128];
	int64_t first, last;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &h.status);
	if (x->req.write && !http_status_ok(h.status)) {
		x->stop = HTTP_FAIL_STATUS;
		return -1;
	}
	/* A server ignoring Range sends the file from byte 0. curl usually
	 * refuses that itself (CURLE_RANGE_ERROR); this is the fallback. */
	if (x->offset > 0 && h.status == 200) {
		x->stop = HTTP_FAIL_RANGE;
		return -1;
	}
	if (h.status == 206) {
		if (http_header_find(x->hdr.p, x->hdr.len, "Content-Range", v,
				     sizeof(v)) < 0 ||
		    http_content_range(v, &first, &last, &h.total) ||
		    first != x->offset) {
			x->stop = HTTP_FAIL_RANGE;
			return -1;
		}
	}
	curl_easy_getinfo(x->curl, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
	h.length = len;
	if (x->req.head && x->req.head(x->req.arg, &h)) {
		x->stop = HTTP_FAIL_REFUSED;
		return -1;
	}
	return 0;
}

static size_t http_write_cb(char *data, size_t one, size_t n, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = one * n;      /* curl documents one as always 1 */
	int rc;

	if (!x->head_done) {
		x->head_done = 1;
		if ((x->req.write || x->offset > 0) && http_on_head(x) < 0)
			return 0;
	}
	if (x->req.write) {
		if (x->req.max_response && (uint64_t)x->received + len >
		    (uint64_t)x->req.max_response) {
			x->stop = HTTP_FAIL_TOOBIG;
			return 0;
		}
		if (x->req.write(x->req.arg, data, len)) {
			x->stop = HTTP_FAIL_REFUSED;
			return 0;
		}
		x->received += (int64_t)len;
		return len;
	}
	if (x->req.discard)
		return len;
	rc = buf_append(&x->body, data, len);
	if (rc) {
		x->stop = rc == TFS_EFBIG ? HTTP_FAIL_TOOBIG : HTTP_FAIL_OTHER;
		if (rc != TFS_EFBIG)
			snprintf(x->errbuf, sizeof(x->errbuf), "out of memory");
		return 0;
	}
	return len;
}

/* Keeps the header lines of the latest response (a redirect or a 1xx
 * came before it otherwise). Never stops the transfer. */
static size_t http_header_cb(char *data, size_t one, size_t n, void *arg)
{
	struct http_xfer *x = arg;
	size_t len = one * n;

	if (len >= 5 && strncmp(data, "HTTP/", 5) == 0)
		buf_reset(&x->hdr);
	(void)buf_append(&x->hdr, data, len);   /* past the bound: dropped */
	return len;
}

static int http_cancelled(const struct http_xfer *x)
{
	return x->req.cancelled && x->req.cancelled(x->req.arg);
}

static int http_xferinfo_cb(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			    curl_off_t ultotal, curl_off_t ulnow)
{
	struct http_xfer *x = arg;

	(void)dltotal;
	(void)dlnow;
	(void)ultotal;
	(void)ulnow;
	if (http_cancelled(x)) {
		x->stop = HTTP_FAIL_CANCEL;
		return 1;
	}
	if (x->req.progress)
		x->req.progress(x->req.arg);
	return 0;
}

/* ---- set-up ---- */

/* Faults worth another try: the network or the server may recover. */
static int http_transient(CURLcode rc)
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

/* A method is a short run of capital letters. */
static int http_method_valid(const char *m)
{
	size_t n = strlen(m);

	return n >= 1 && n <= HTTP_METHOD_MAX && strspn(m,
		"ABCDEFGHIJKLMNOPQRSTUVWXYZ") == n;
}

static void http_xfer_release(struct http_xfer *x)
{
	if (x->curl)
		curl_easy_cleanup(x->curl);
	curl_slist_free_all(x->hdrs);
	strv_free(x->secrets);
	buf_release(&x->body);
	buf_release(&x->hdr);
	memset(x, 0, sizeof(*x));
}

/* The header list: the caller's (checked for one line each) and Expect:
 * off, since a body over 1 KiB would otherwise wait a second for a
 * 100-continue. Returns TFS_OK, TFS_EINVAL or TFS_ENOMEM. */
static int http_headers_build(struct http_xfer *x, const char *const *h,
			      char *err, size_t errlen)
{
	struct curl_slist *l;
	size_t i;

	for (i = 0; h && h[i]; i++) {
		if (!strchr(h[i], ':') || h[i][strcspn(h[i], "\r\n")]) {
			snprintf(err, errlen, "bad header line %zu", i + 1);
			return TFS_EINVAL;
		}
		l = curl_slist_append(x->hdrs, h[i]);
		if (!l)
			return TFS_ENOMEM;
		x->hdrs = l;
	}
	l = curl_slist_append(x->hdrs, "Expect:");
	if (!l)
		return TFS_ENOMEM;
	x->hdrs = l;
	return TFS_OK;
}

/* Options that differ by method and body. Returns non-zero on failure. */
static int http_set_method(struct http_xfer *x, const struct http_request *r)
{
	CURL *c = x->curl;
	int bad = 0;

	if (strcmp(x->method, "POST") == 0) {
		bad |= curl_easy_setopt(c, CURLOPT_POST, 1L) != CURLE_OK;
		/* a 301/302 keeps the POST (curl's default turns it into a
		 * GET); a 303 means GET and gets one */
		bad |= curl_easy_setopt(c, CURLOPT_POSTREDIR, (long)
					(CURL_REDIR_POST_301 |
					 CURL_REDIR_POST_302)) != CURLE_OK;
	} else if (strcmp(x->method, "HEAD") == 0) {
		bad |= curl_easy_setopt(c, CURLOPT_NOBODY, 1L) != CURLE_OK;
	} else if (strcmp(x->method, "GET") != 0) {
		bad |= curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, x->method) !=
		       CURLE_OK;
	}
	if (r->body || strcmp(x->method, "POST") == 0) {
		bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDS,
					r->body ? r->body : "") != CURLE_OK;
		bad |= curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE,
					(curl_off_t)(r->body ? r->body_len :
						     0)) != CURLE_OK;
	}
	return bad;
}

/*
 * Sets x up for r: checks, secrets, the easy handle. Returns TFS_OK, or
 * TFS_EINVAL / TFS_ENOMEM / TFS_EIO with err set (not yet redacted).
 */
static int http_xfer_init(struct http_xfer *x, const struct http_request *r,
			  char *err, size_t errlen)
{
	size_t max = r->max_response ? r->max_response : HTTP_BODY_MAX;
	long redirs = r->max_redirs ? r->max_redirs : HTTP_MAX_REDIRS;
	CURL *c;
	int bad = 0, rc;

	memset(x, 0, sizeof(*x));
	x->req = *r;
	x->secrets = http_secrets_of(r);
	x->body = (struct buf)BUF_INIT(max);
	x->hdr = (struct buf)BUF_INIT(HTTP_HEADERS_MAX);
	if (!r->url || !r->url[0]) {
		snprintf(err, errlen, "no url");
		return TFS_EINVAL;
	}
	secret_url_shown(r->url, x->shown, sizeof(x->shown));
	/* the path may hold one of the caller's secrets */
	http_redact(x->shown, (const char *const *)x->secrets);
	if (strlen(r->url) > HTTP_URL_MAX) {
		snprintf(err, errlen, "url longer than %d bytes", HTTP_URL_MAX);
		return TFS_EINVAL;
	}
	snprintf(x->method, sizeof(x->method), "%s", r->method ? r->method :
		 r->body ? "POST" : "GET");
	if (!http_method_valid(r->method ? r->method : x->method)) {
		snprintf(err, errlen, "bad method for %s", x->shown);
		return TFS_EINVAL;
	}
	rc = http_headers_build(x, r->headers, err, errlen);
	if (rc)
		return rc;
	c = x->curl = curl_easy_init();
	if (!c) {
		snprintf(err, errlen, "cannot set up libcurl");
		return TFS_EIO;
	}
#define HTTP_SET(opt, val) (bad |= curl_easy_setopt(c, opt, val) != CURLE_OK)
	HTTP_SET(CURLOPT_URL, r->url);
	/* signals are process-wide and we run in worker threads */
	HTTP_SET(CURLOPT_NOSIGNAL, 1L);
	HTTP_SET(CURLOPT_PROTOCOLS_STR, r->allow_file ? "file,http,https" :
		 "http,https");
	/* a server must not redirect us into the local filesystem */
	HTTP_SET(CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
	HTTP_SET(CURLOPT_FOLLOWLOCATION, redirs > 0 ? 1L : 0L);
	HTTP_SET(CURLOPT_MAXREDIRS, redirs > 0 ? redirs : 0L);
	/* we read the status ourselves: 416, 429 and 5xx differ */
	HTTP_SET(CURLOPT_FAILONERROR, 0L);
	/* a body is what the server sent, never a decoded form (a hash
	 * covers the bytes as stored) */
	HTTP_SET(CURLOPT_HTTP_CONTENT_DECODING, 0L);
	HTTP_SET(CURLOPT_CONNECTTIMEOUT_MS, r->connect_timeout_ms > 0 ?
		 (long)r->connect_timeout_ms : HTTP_CONNECT_TIMEOUT_MS);
	if (r->timeout_ms > 0)
		HTTP_SET(CURLOPT_TIMEOUT_MS, (long)r->timeout_ms);
	if (r->low_speed_time_s > 0) {
		HTTP_SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
		HTTP_SET(CURLOPT_LOW_SPEED_TIME, (long)r->low_speed_time_s);
	}
	HTTP_SET(CURLOPT_TCP_KEEPALIVE, 1L);
	if (r->write)
		HTTP_SET(CURLOPT_BUFFERSIZE, HTTP_STREAM_CHUNK);
	else if (!r->discard)
		HTTP_SET(CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)max);
	HTTP_SET(CURLOPT_USERAGENT, "trainfs");
	HTTP_SET(CURLOPT_HTTPHEADER, x->hdrs);
	HTTP_SET(CURLOPT_ERRORBUFFER, x->errbuf);
	HTTP_SET(CURLOPT_WRITEFUNCTION, http_write_cb);
	HTTP_SET(CURLOPT_WRITEDATA, x);
	HTTP_SET(CURLOPT_HEADERFUNCTION, http_header_cb);
	HTTP_SET(CURLOPT_HEADERDATA, x);
	HTTP_SET(CURLOPT_XFERINFOFUNCTION, http_xferinfo_cb);
	HTTP_SET(CURLOPT_XFERINFODATA, x);
	HTTP_SET(CURLOPT_NOPROGRESS, r->progress || r->cancelled ? 0L : 1L);
	HTTP_SET(CURLOPT_PRIVATE, x);
	if (r->pool)
		HTTP_SET(CURLOPT_SHARE, r->pool->share);
#undef HTTP_SET
	bad |= http_set_method(x, r);
	if (bad) {
		snprintf(err, errlen, "cannot set up libcurl for %s", x->shown);
		return TFS_EIO;
	}
	x->req.url = NULL;         /* borrowed: not to be used later */
	x->req.headers = NULL;
	x->req.secrets = NULL;
	x->req.method = NULL;
	return TFS_OK;
}

/* ---- the connection pool ---- */

static void http_pool_lock(CURL *c, curl_lock_data d, curl_lock_access a,
			   void *arg)
{
	struct http_pool *p = arg;

	(void)c;
	(void)a;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_lock(&p->lock[d]);
}

static void http_pool_unlock(CURL *c, curl_lock_data d, void *arg)
{
	struct http_pool *p = arg;

	(void)c;
	if ((unsigned)d < CURL_LOCK_DATA_LAST)
		pthread_mutex_unlock(&p->lock[d]);
}

struct http_pool *http_pool_new(void)
{
	struct http_pool *p;
	int i, bad = 0;

	if (http_global_init())
		return NULL;
	p = xcalloc(1, sizeof(*p));
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_init(&p->lock[i], NULL);
	p->share = curl_share_init();
	if (!p->share) {
		http_pool_free(p);
		return NULL;
	}
	bad |= curl_share_setopt(p->share, CURLSHOPT_LOCKFUNC,
				 http_pool_lock) != CURLSHE_OK;
	bad |= curl_share_setopt(p->share, CURLSHOPT_UNLOCKFUNC,
				 http_pool_unlock) != CURLSHE_OK;
	bad |= curl_share_setopt(p->share, CURLSHOPT_USERDATA, p) !=
	       CURLSHE_OK;
	bad |= curl_share_setopt(p->share, CURLSHOPT_SHARE,
				 CURL_LOCK_DATA_CONNECT) != CURLSHE_OK;
	bad |= curl_share_setopt(p->share, CURLSHOPT_SHARE,
				 CURL_LOCK_DATA_DNS) != CURLSHE_OK;
	if (bad) {
		log_msg(LOG_WARNING, "libcurl cannot share connections: each "
			"request opens its own");
		http_pool_free(p);
		return NULL;
	}
	return p;
}

void http_pool_free(struct http_pool *p)
{
	int i;

	if (!p)
		return;
	if (p->share)
		curl_share_cleanup(p->share);
	for (i = 0; i < CURL_LOCK_DATA_LAST; i++)
		pthread_mutex_destroy(&p->lock[i]);
	free(p);
}

uint64_t http_pool_requests(const struct http_pool *p)
{
	return p ? __atomic_load_n(&p->requests, __ATOMIC_RELAXED) : 0;
}

/* Before each attempt: a clean slate, and where a stream resumes. */
static void http_attempt_reset(struct http_xfer *x)
{
	buf_reset(&x->body);
	buf_reset(&x->hdr);
	x->errbuf[0] = '\0';
	x->head_done = 0;
	x->stop = HTTP_FAIL_NONE;
	x->offset = x->req.resume_from > 0 ? x->req.resume_from : 0;
	x->offset += x->received;
	curl_easy_setopt(x->curl, CURLOPT_RESUME_FROM_LARGE,
			 (curl_off_t)x->offset);
}

/* Writes resp->error (cut to fit: a reason is one short line). */
static void http_errorf(struct http_response *resp, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void http_errorf(struct http_response *resp, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(resp->error, sizeof(resp->error), fmt, ap);
	va_end(ap);
}

/*
 * After an attempt: what it came to, as resp->status, fail, error and
 * retry_after_ms. The order matters: our own stops first (they explain
 * curl's write error), then what the status says, then curl's code.
 */
static void http_classify(struct http_xfer *x, CURLcode rc,
			  struct http_response *resp)
{
	const char *cmsg = x->errbuf[0] ? x->errbuf : curl_easy_strerror(rc);
	long status = 0;
	char v[256];
	enum http_fail f;

	curl_easy_getinfo(x->curl, CURLINFO_RESPONSE_CODE, &status);
	resp->status = status;
	resp->retry_after_ms = -1;
	if (http_header_find(x->hdr.p, x->hdr.len, "Retry-After", v,
			     sizeof(v)) >= 0)
		resp->retry_after_ms = http_retry_after_ms(v, time(NULL));

	if (x->stop == HTTP_FAIL_CANCEL || rc == CURLE_ABORTED_BY_CALLBACK)
		f = HTTP_FAIL_CANCEL;
	else if (x->stop == HTTP_FAIL_REFUSED || x->stop == HTTP_FAIL_OTHER)
		f = x->stop;
	else if (x->stop == HTTP_FAIL_TOOBIG || rc == CURLE_FILESIZE_EXCEEDED)
		f = HTTP_FAIL_TOOBIG;
	/* Range ignored, a 416 for bytes we asked from the middle, or a
	 * resume offset past the end (file://) */
	else if (x->stop == HTTP_FAIL_RANGE || rc == CURLE_RANGE_ERROR ||
		 rc == CURLE_BAD_DOWNLOAD_RESUME ||
		 (status == 416 && x->offset > 0))
		f = HTTP_FAIL_RANGE;
	/* a 3xx that curl could not follow is better told by curl's
	 * message (too many redirects, a redirect to file://) */
	else if (status >= 400 || x->stop == HTTP_FAIL_STATUS ||
		 (rc == CURLE_OK && !http_status_ok(status)))
		f = HTTP_FAIL_STATUS;
	else if (rc == CURLE_OK)
		f = HTTP_FAIL_NONE;
	else if (http_transient(rc))
		f = HTTP_FAIL_CONNECT;
	else
		f = HTTP_FAIL_OTHER;
	resp->fail = f;

	switch (f) {
	case HTTP_FAIL_NONE:
		resp->error[0] = '\0';
		break;
	case HTTP_FAIL_STATUS:
		http_errorf(resp, "HTTP %ld from %s", status, x->shown);
		break;
	case HTTP_FAIL_CONNECT:
		http_errorf(resp, "%s", cmsg);
		break;
	case HTTP_FAIL_TOOBIG:
		http_errorf(resp, "answer from %s is larger than %zu bytes",
			    x->shown, x->req.write ? x->req.max_response :
			    x->body.max);
		break;
	case HTTP_FAIL_RANGE:
		http_errorf(resp, "%s cannot resume at byte %" PRId64,
			    x->shown, x->offset);
		break;
	case HTTP_FAIL_REFUSED:
		http_errorf(resp, "transfer of %s stopped", x->shown);
		break;
	case HTTP_FAIL_CANCEL:
		http_errorf(resp, "cancelled");
		break;
	case HTTP_FAIL_OTHER:
		http_errorf(resp, "cannot fetch %s: %s", x->shown, cmsg);
		break;
	}
	http_redact(resp->error, (const char *const *)x->secrets);
}

/* Hands the last response's body and headers to resp. */
static void http_detach(struct http_xfer *x, struct http_response *resp)
{
	resp->received = x->received;
	if (!x->req.write && !x->req.discard)
		resp->body = buf_detach(&x->body, &resp->body_len);
	if (x->hdr.p)
		resp->headers = buf_detach(&x->hdr, &resp->headers_len);
}

static int http_result(const struct http_response *resp)
{
	switch (resp->fail) {
	case HTTP_FAIL_NONE:
		return TFS_OK;
	case HTTP_FAIL_TOOBIG:
		return TFS_EFBIG;
	case HTTP_FAIL_CANCEL:
		return TFS_EINTR;
	default:
		return TFS_EIO;
	}
}

/* ---- blocking requests ---- */

static uint32_t http_random(void)
{
	uint32_t r;

	if (getrandom(&r, sizeof(r), GRND_NONBLOCK) != (ssize_t)sizeof(r))
		r = (uint32_t)mono_ms() * 2654435761u;
	return r;
}

/* Sleeps ms, waking early for a cancel. Returns 1 when cancelled. */
static int http_sleep(const struct http_xfer *x, int64_t ms)
{
	int64_t until = mono_ms() + ms;

	while (!http_cancelled(x)) {
		int64_t left = until - mono_ms();
		struct timespec ts;

		if (left <= 0)
			return 0;
		if (left > HTTP_SLEEP_SLICE_MS)
			left = HTTP_SLEEP_SLICE_MS;
		ts.tv_sec = 0;
		ts.tv_nsec = (long)left * 1000000L;
		nanosleep(&ts, NULL);
	}
	return 1;
}

/* Sets resp up as a failure before any transfer. Returns rc. */
static int http_early_fail(struct http_xfer *x, struct http_response *resp,
			   int rc, const char *err)
{
	resp->fail = HTTP_FAIL_OTHER;
	http_errorf(resp, "%s", err);
	http_redact(resp->error, (const char *const *)x->secrets);
	return rc;
}

int http_request(const struct http_request *req, struct http_response *resp)
{
	static const struct http_response init = HTTP_RESPONSE_INIT;
	const struct http_retry *p = &req->retry;
	struct http_xfer x;
	char err[HTTP_ERROR_MAX];
	int max = p->max_attempts > 1 ? p->max_attempts : 1, rc;
	int64_t t0 = mono_ms();

	*resp = init;
	if (http_global_init()) {
		http_errorf(resp, "cannot initialise libcurl");
		resp->fail = HTTP_FAIL_OTHER;
		return TFS_EIO;
	}
	rc = http_xfer_init(&x, req, err, sizeof(err));
	if (rc) {
		rc = http_early_fail(&x, resp, rc, err);
		http_xfer_release(&x);
		return rc;
	}
	for (;;) {
		int64_t wait;

		http_attempt_reset(&x);
		resp->attempts++;
		if (req->pool)
			__atomic_add_fetch(&req->pool->requests, 1,
					   __ATOMIC_RELAXED);
		log_msg(LOG_DEBUG, "%s %s from byte %" PRId64 " (attempt %d)",
			x.method, x.shown, x.offset, resp->attempts);
		http_classify(&x, curl_easy_perform(x.curl), resp);
		{
			long sent = 0;

			curl_easy_getinfo(x.curl, CURLINFO_REQUEST_SIZE, &sent);
			resp->sent = (int64_t)sent;
		}
		if (resp->fail == HTTP_FAIL_NONE ||
		    !http_retryable(p, resp->fail, resp->status))
			break;
		if (resp->attempts >= max) {
			resp->gave_up = 1;
			break;
		}
		wait = http_backoff_ms(p, resp->attempts, resp->retry_after_ms,
				       http_random());
		if (req->retrying && req->retrying(req->arg, resp->attempts,
						   wait, resp->error)) {
			resp->gave_up = 1;
			break;
		}
		/* a status's sentence names the URL already */
		if (strstr(resp->error, x.shown))
			log_msg(LOG_INFO, "%s, retrying in %" PRId64 " ms",
				resp->error, wait);
		else
			log_msg(LOG_INFO, "%s %s: %s, retrying in %" PRId64
				" ms", x.method, x.shown, resp->error, wait);
		if (http_sleep(&x, wait)) {
			resp->fail = HTTP_FAIL_CANCEL;
			http_errorf(resp, "cancelled");
			break;
		}
	}
	http_detach(&x, resp);
	http_xfer_release(&x);
	resp->elapsed_ms = mono_ms() - t0;
	return http_result(resp);
}

/* ---- many at once ---- */

struct http_multi *http_multi_new(void)
{
	struct http_multi *m;

	if (http_global_init())
		return NULL;
	m = calloc(1, sizeof(*m));
	if (!m)
		return NULL;
	m->multi = curl_multi_init();
	if (!m->multi) {
		log_msg(LOG_ERR, "cannot set up a libcurl multi handle");
		free(m);
		return NULL;
	}
	return m;
}

/* Takes x off the running list and frees it. */
static void http_multi_drop(struct http_multi *m, struct http_xfer *x)
{
	struct http_xfer **pp;

	for (pp = &m->running; *pp; pp = &(*pp)->next) {
		if (*pp == x) {
			*pp = x->next;
			break;
		}
	}
	curl_multi_remove_handle(m->multi, x->curl);
	http_xfer_release(x);
	free(x);
}

void http_multi_free(struct http_multi *m)
{
	if (!m)
		return;
	while (m->running)
		http_multi_drop(m, m->running);
	curl_multi_cleanup(m->multi);
	free(m);
}

int http_multi_add(struct http_multi *m, const struct http_request *req,
		   void *tag)
{
	struct http_xfer *x = calloc(1, sizeof(*x));
	char err[HTTP_ERROR_MAX];
	int rc;

	if (!x)
		return TFS_ENOMEM;
	if (req->write) {
		free(x);
		return TFS_EINVAL;
	}
	rc = http_xfer_init(x, req, err, sizeof(err));
	if (!rc) {
		http_attempt_reset(x);
		if (curl_multi_add_handle(m->multi, x->curl) != CURLM_OK)
			rc = TFS_ENOMEM;
	}
	if (rc) {
		http_redact(err, (const char *const *)x->secrets);
		log_msg(LOG_DEBUG, "cannot start a transfer: %s", err);
		http_xfer_release(x);
		free(x);
		return rc;
	}
	x->tag = tag;
	x->next = m->running;
	m->running = x;
	return TFS_OK;
}

void http_multi_remove(struct http_multi *m, void *tag)
{
	struct http_xfer *x;

	for (x = m->running; x; x = x->next) {
		if (x->tag == tag) {
			http_multi_drop(m, x);
			return;
		}
	}
}

int http_multi_poll(struct http_multi *m, const struct pollfd *fds,
		    unsigned nfds, int timeout_ms)
{
	struct curl_waitfd w[HTTP_MULTI_FDS_MAX];
	CURLMcode mc;
	unsigned i;
	int running;

	if (nfds > HTTP_MULTI_FDS_MAX)
		nfds = HTTP_MULTI_FDS_MAX;
	for (i = 0; i < nfds; i++) {
		w[i].fd = fds[i].fd;
		w[i].events = (short)(((fds[i].events & POLLIN) ?
				       CURL_WAIT_POLLIN : 0) |
				      ((fds[i].events & POLLPRI) ?
				       CURL_WAIT_POLLPRI : 0) |
				      ((fds[i].events & POLLOUT) ?
				       CURL_WAIT_POLLOUT : 0));
		w[i].revents = 0;
	}
	mc = curl_multi_poll(m->multi, w, nfds, timeout_ms, NULL);
	if (mc != CURLM_OK) {
		/* only out of memory gets here */
		log_msg(LOG_ERR, "cannot wait for transfers: %s",
			curl_multi_strerror(mc));
		return TFS_EIO;
	}
	curl_multi_perform(m->multi, &running);
	return TFS_OK;
}

int http_multi_next(struct http_multi *m, void **tag,
		    struct http_response *resp)
{
	static const struct http_response init = HTTP_RESPONSE_INIT;
	struct http_xfer *x;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(m->multi, &left))) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		x = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &x);
		if (!x)
			continue;   /* not ours: cannot happen */
		*resp = init;
		resp->attempts = 1;
		/* msg is invalid once its handle is removed */
		http_classify(x, msg->data.result, resp);
		http_detach(x, resp);
		*tag = x->tag;
		http_multi_drop(m, x);
		return 1;
	}
	return 0;
}

void http_multi_wakeup(struct http_multi *m)
{
	curl_multi_wakeup(m->multi);
}
