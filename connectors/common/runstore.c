/*
 * runstore.c - the run store of runstore.h, on two backends behind the
 * same five calls: a directory (pread, and write-to-temporary, fsync,
 * rename) and an HTTP object store through lib/http (GET with Range, PUT,
 * HEAD). Keys are checked here, whoever built them, because on file:// a
 * key is a path: one with ".." or a leading '/' would leave the prefix.
 */
#define _GNU_SOURCE
#include "runstore.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "hmap.h"
#include "http.h"
#include "manifest.h"
#include "secret.h"
#include "sha256.h"
#include "strvec.h"
#include "util.h"

#define RUNSTORE_CONNECT_MS 5000
#define RUNSTORE_SYNC_CHUNK (4 << 20) /* bytes read at a time by sync() */
#define RUNSTORE_EXIT_MAX 64          /* bytes of an exit file */
#define RUNSTORE_TIMEOUT_MS 60000     /* one HTTP attempt, all of it */
#define RUNSTORE_LOW_SPEED_S 20
#define RUNSTORE_FAILED_MAX (4 << 20) /* bytes of an upload_failed list */

enum runstore_kind { RUNSTORE_FILE, RUNSTORE_HTTP };

struct runstore {
	enum runstore_kind kind;
	char *base;        /* file: the directory; http: the URL prefix,
			      without a trailing '/' */
	char **headers;    /* "Name: value", NULL-terminated, or NULL */
	char **secrets;    /* the headers' values, for redaction */
};

/* A store's HTTP requests retry what is transient, briefly: sync() runs
 * again on the provider's next poll anyway. */
static const struct http_retry runstore_retry = {
	3, 200, 2000, 20, 5000, HTTP_RETRY_DEFAULT
};

/* The reason into err, when the caller gave room for one. */
static void __attribute__((format(printf, 3, 0)))
runstore_verrf(char *err, size_t errlen, const char *fmt, va_list ap)
{
	if (err && errlen)
		vsnprintf(err, errlen, fmt, ap);
}

static void __attribute__((format(printf, 3, 4)))
runstore_errf(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	runstore_verrf(err, errlen, fmt, ap);
	va_end(ap);
}

/* ---- keys ---- */

/* 1 when s is a lowercase UUID: 8-4-4-4-12 hex digits. */
static int runstore_uuid_ok(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (!s[i])
			return 0;
		if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]))
			return 0;
	}
	return s[36] == '\0';
}

/*
 * Checks a relative path of at most max bytes: no leading '/', no empty,
 * "." or ".." part, no control character. what names it in err.
 */
static int runstore_rel_ok(const char *p, size_t max, const char *what,
			   char *err, size_t errlen)
{
	size_t len = strlen(p);
	const char *part = p, *q;

	if (len == 0) {
		runstore_errf(err, errlen, "%s is empty", what);
		return TFS_EINVAL;
	}
	if (len > max) {
		runstore_errf(err, errlen, "%s is longer than %zu bytes",
			      what, max);
		return TFS_ENAMETOOLONG;
	}
	if (p[0] == '/') {
		runstore_errf(err, errlen, "%s '%.200s' is absolute", what, p);
		return TFS_EINVAL;
	}
	for (q = p; *q; q++)
		if ((unsigned char)*q < 0x20 || *q == 0x7f) {
			runstore_errf(err, errlen, "%s holds a control "
				      "character", what);
			return TFS_EINVAL;
		}
	for (;;) {
		size_t n = strcspn(part, "/");

		if (n == 0 || (n == 1 && part[0] == '.') ||
		    (n == 2 && part[0] == '.' && part[1] == '.')) {
			runstore_errf(err, errlen, "%s '%.200s' has an empty, "
				      "'.' or '..' part", what, p);
			return TFS_EINVAL;
		}
		if (!part[n])
			return TFS_OK;
		part += n + 1;
	}
}

int runstore_path(const char *run_id, int attempt, const char *name,
		  char *out, size_t outlen, char *err, size_t errlen)
{
	int rc;

	if (outlen)
		out[0] = '\0';
	if (!run_id || !runstore_uuid_ok(run_id)) {
		runstore_errf(err, errlen, "run id '%.64s' is not a uuid",
			      run_id ? run_id : "");
		return TFS_EINVAL;
	}
	if (attempt < 1 || attempt > RUNSTORE_ATTEMPT_MAX) {
		runstore_errf(err, errlen, "attempt %d is not from 1 to %d",
			      attempt, RUNSTORE_ATTEMPT_MAX);
		return TFS_EINVAL;
	}
	rc = runstore_rel_ok(name ? name : "", RUNSTORE_NAME_MAX, "file name",
			     err, errlen);
	if (rc)
		return rc;
	if (snprintf(out, outlen, "%s/%d/%s", run_id, attempt, name) >=
	    (int)outlen) {
		if (outlen)
			out[0] = '\0';
		runstore_errf(err, errlen, "key for '%.200s' does not fit in "
			      "%zu bytes", name, outlen);
		return TFS_ENAMETOOLONG;
	}
	return TFS_OK;
}

/* ---- open, close ---- */

/* The value of a "Name: value" line, blanks trimmed, copied. */
static char *runstore_header_value(const char *line)
{
	const char *v = strchr(line, ':');
	size_t n;

	v = v ? v + 1 : line;
	v += strspn(v, " \t");
	n = strlen(v);
	while (n && (v[n - 1] == ' ' || v[n - 1] == '\t'))
		n--;
	return xstrndup(v, n);
}

static int runstore_copy_headers(struct runstore *s,
				 const char *const *headers, char *err,
				 size_t errlen)
{
	size_t n = 0, i;

	while (headers && headers[n])
		n++;
	if (n > RUNSTORE_HEADERS_MAX) {
		runstore_errf(err, errlen, "a store takes at most %d headers",
			      RUNSTORE_HEADERS_MAX);
		return TFS_EINVAL;
	}
	for (i = 0; i < n; i++)
		if (!strchr(headers[i], ':') ||
		    strlen(headers[i]) > RUNSTORE_HEADER_MAX ||
		    strpbrk(headers[i], "\r\n")) {
			/* the line itself may be a credential: not shown */
			runstore_errf(err, errlen, "store header %zu is not "
				      "one 'Name: value' line", i + 1);
			return TFS_EINVAL;
		}
	if (!n)
		return TFS_OK;
	s->headers = strv_dup((char *const *)headers);
	s->secrets = xcalloc(n + 1, sizeof(*s->secrets));
	for (i = 0; i < n; i++)
		s->secrets[i] = runstore_header_value(headers[i]);
	return TFS_OK;
}

int runstore_open(const char *url, const char *const *headers,
		  struct runstore **out, char *err, size_t errlen)
{
	char shown[SECRET_URL_SHOWN_MAX + 64];
	struct runstore *s;
	const char *rest;
	size_t len;
	int rc;

	*out = NULL;
	if (!url || !*url) {
		runstore_errf(err, errlen, "the store's url is empty");
		return TFS_EINVAL;
	}
	secret_url_shown(url, shown, sizeof(shown));
	len = strlen(url);
	if (len > RUNSTORE_URL_MAX) {
		runstore_errf(err, errlen, "store url '%s' is longer than %d "
			      "bytes", shown, RUNSTORE_URL_MAX);
		return TFS_ENAMETOOLONG;
	}
	s = xcalloc(1, sizeof(*s));
	if (strncmp(url, "file://", 7) == 0) {
		s->kind = RUNSTORE_FILE;
		rest = url + 7;
	} else if (strncmp(url, "http://", 7) == 0 ||
		   strncmp(url, "https://", 8) == 0) {
		s->kind = RUNSTORE_HTTP;
		rest = strstr(url, "://") + 3;
	} else {
		runstore_errf(err, errlen, "store url '%s' is neither "
			      "file:// nor http(s)://", shown);
		rc = TFS_EINVAL;
		goto fail;
	}
	/* "file:///a/b/" is "/a/b"; "http://h/p/" is "http://h/p" */
	len = strlen(rest);
	while (len > 1 && rest[len - 1] == '/')
		len--;
	if (s->kind == RUNSTORE_FILE) {
		s->base = xstrndup(rest, len);
		if (s->base[0] != '/' ||
		    (s->base[1] && runstore_rel_ok(s->base + 1, len, "",
						   NULL, 0))) {
			runstore_errf(err, errlen, "store url '%s' is not "
				      "file:// and an absolute path without "
				      "an empty, '.' or '..' part", shown);
			rc = TFS_EINVAL;
			goto fail;
		}
	} else {
		if (!*rest || *rest == '/' || strpbrk(url, "?# \t\r\n")) {
			runstore_errf(err, errlen, "store url '%s' needs a "
				      "host and no query, fragment or blank",
				      shown);
			rc = TFS_EINVAL;
			goto fail;
		}
		s->base = xstrndup(url, (size_t)(rest - url) + len);
	}
	rc = runstore_copy_headers(s, headers, err, errlen);
	if (rc)
		goto fail;
	*out = s;
	return TFS_OK;
fail:
	runstore_close(s);
	return rc;
}

int runstore_headers_for(const struct runstore *s, const char *url,
			 char *out, size_t outlen)
{
	size_t n = strlen(s->base), len = 0, l;
	char **h;

	if (outlen)
		out[0] = '\0';
	if (s->kind != RUNSTORE_HTTP || !s->headers || strncmp(url, s->base, n) ||
	    url[n] != '/')
		return TFS_OK;
	for (h = s->headers; *h; h++) {
		l = strlen(*h);
		if (len + l + 2 > outlen) {
			explicit_bzero(out, len);
			if (outlen)
				out[0] = '\0';
			return TFS_ENAMETOOLONG;
		}
		memcpy(out + len, *h, l);
		len += l;
		out[len++] = '\n';
		out[len] = '\0';
	}
	return TFS_OK;
}

void runstore_close(struct runstore *s)
{
	if (!s)
		return;
	free(s->base);
	strv_free(s->headers);
	strv_free(s->secrets);
	free(s);
}

/* ---- file:// ---- */

/* base/key into path; TFS_ENAMETOOLONG when it does not fit. */
static int runstore_file_path(const struct runstore *s, const char *key,
			      char *path, size_t len, char *err,
			      size_t errlen)
{
	if (snprintf(path, len, "%s/%s", strcmp(s->base, "/") ? s->base : "",
		     key) >= (int)len) {
		runstore_errf(err, errlen, "path of '%.200s' is too long",
			      key);
		return TFS_ENAMETOOLONG;
	}
	return TFS_OK;
}

/* What a failed system call on a store file comes to. */
static int runstore_errno(int e)
{
	switch (e) {
	case ENOENT:
	case ENOTDIR:
		return TFS_ENOENT;
	case EACCES:
	case EPERM:
		return TFS_EACCES;
	case ENOSPC:
	case EDQUOT:
		return TFS_ENOSPC;
	case EROFS:
		return TFS_EROFS;
	case ENAMETOOLONG:
		return TFS_ENAMETOOLONG;
	default:
		return TFS_EIO;
	}
}

static int runstore_file_read(const struct runstore *s, const char *key,
			      int64_t offset, size_t max_bytes,
			      struct buf *out, int64_t *total, char *err,
			      size_t errlen)
{
	char path[PATH_MAX], chunk[64 << 10];
	struct stat st;
	size_t want;
	int fd, rc;

	rc = runstore_file_path(s, key, path, sizeof(path), err, errlen);
	if (rc)
		return rc;
	fd = file_open_regular(path);
	if (fd < 0) {
		rc = runstore_errno(errno);
		if (rc == TFS_ENOENT)
			runstore_errf(err, errlen, "'%.200s' is not in the "
				      "store yet", key);
		else
			runstore_errf(err, errlen, "cannot open '%s': %s",
				      path, strerror(errno));
		return rc;
	}
	if (fstat(fd, &st) < 0) {
		runstore_errf(err, errlen, "cannot stat '%s': %s", path,
			      strerror(errno));
		close(fd);
		return TFS_EIO;
	}
	*total = st.st_size;
	/* Reads what is there now, to the size fstat saw: a job appending
	 * meanwhile is caught up with on the next call. */
	want = max_bytes;
	if (offset >= st.st_size)
		want = 0;
	else if ((uint64_t)(st.st_size - offset) < want)
		want = (size_t)(st.st_size - offset);
	while (want) {
		size_t n = want < sizeof(chunk) ? want : sizeof(chunk);
		ssize_t got = pread(fd, chunk, n, (off_t)offset);

		if (got < 0 && errno == EINTR)
			continue;
		if (got < 0) {
			runstore_errf(err, errlen, "cannot read '%s': %s",
				      path, strerror(errno));
			rc = TFS_EIO;
			break;
		}
		if (got == 0)
			break;      /* truncated since the fstat() */
		rc = buf_append(out, chunk, (size_t)got);
		if (rc) {
			runstore_errf(err, errlen, "'%.200s' from byte %lld "
				      "does not fit in the buffer", key,
				      (long long)offset);
			break;
		}
		offset += got;
		want -= (size_t)got;
	}
	close(fd);
	return rc;
}

static int runstore_file_write(const struct runstore *s, const char *key,
			       const void *data, size_t len, char *err,
			       size_t errlen)
{
	char path[PATH_MAX], *slash;
	int rc;

	rc = runstore_file_path(s, key, path, sizeof(path), err, errlen);
	if (rc)
		return rc;
	slash = strrchr(path, '/');
	*slash = '\0';
	if (mkdir_p(path, 0755) < 0) {
		rc = runstore_errno(errno);
		runstore_errf(err, errlen, "cannot create '%s': %s", path,
			      strerror(errno));
		return rc == TFS_ENOENT ? TFS_EIO : rc;
	}
	*slash = '/';
	rc = file_write_atomic(path, data, len, 1);
	if (rc) {
		runstore_errf(err, errlen, "cannot write '%s': %s", path,
			      tfs_strerror(rc));
		return rc;
	}
	return TFS_OK;
}

static int runstore_file_exists(const struct runstore *s, const char *key,
				char *err, size_t errlen)
{
	char path[PATH_MAX];
	struct stat st;
	int rc;

	rc = runstore_file_path(s, key, path, sizeof(path), err, errlen);
	if (rc)
		return rc;
	if (lstat(path, &st) == 0)
		return S_ISREG(st.st_mode) ? TFS_OK : TFS_ENOENT;
	rc = runstore_errno(errno);
	if (rc != TFS_ENOENT)
		runstore_errf(err, errlen, "cannot stat '%s': %s", path,
			      strerror(errno));
	return rc;
}

/* ---- HTTP ---- */

/*
 * The URL of key into url: the prefix, '/', the key with every byte that
 * is not unreserved or '/' percent-encoded. TFS_ENAMETOOLONG (err set)
 * when it does not fit.
 */
static int runstore_url(const struct runstore *s, const char *key,
			char *url, size_t len, char *err, size_t errlen)
{
	snprintf(url, len, "%s/", s->base);
	if (strlen(url) + 1 >= len || url_path_append(url, len, key)) {
		runstore_errf(err, errlen, "url of '%.200s' is too long", key);
		return TFS_ENAMETOOLONG;
	}
	return TFS_OK;
}

/* The request every call starts from: the store's headers and extra
 * (NULL-terminated, may be NULL) in hdrs, which must hold
 * RUNSTORE_HEADERS_MAX + 4 entries. */
static void runstore_req(const struct runstore *s, struct http_request *req,
			 const char *method, const char *url,
			 const char **hdrs, const char *const *extra)
{
	size_t n = 0;

	memset(req, 0, sizeof(*req));
	while (s->headers && s->headers[n]) {
		hdrs[n] = s->headers[n];
		n++;
	}
	while (extra && *extra)
		hdrs[n++] = *extra++;
	hdrs[n] = NULL;
	req->method = method;
	req->url = url;
	req->headers = hdrs;
	req->secrets = (const char *const *)s->secrets;
	req->connect_timeout_ms = RUNSTORE_CONNECT_MS;
	req->timeout_ms = RUNSTORE_TIMEOUT_MS;
	req->low_speed_time_s = RUNSTORE_LOW_SPEED_S;
	req->retry = runstore_retry;
}

/* err from a message of ours that names the request: redacted. */
static void __attribute__((format(printf, 4, 5)))
runstore_req_errf(const struct http_request *req, char *err, size_t errlen,
		  const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	runstore_verrf(err, errlen, fmt, ap);
	va_end(ap);
	if (err && errlen)
		http_redact_request(req, err);
}

/* What a GET keeps of a body: skip bytes dropped, then up to max kept. */
struct runstore_sink {
	struct buf *out;
	int64_t skip;
	size_t max, kept;
	int64_t total;     /* from the head, -1 unknown */
	int full;          /* max kept and more was coming: stopped */
	int rc;            /* buf_append's failure, which stopped it */
};

static int runstore_sink_head(void *arg, const struct http_head *h)
{
	struct runstore_sink *k = arg;

	if (h->total >= 0)
		k->total = h->total;
	else if (h->status == 200 && h->offset == 0 && h->length >= 0)
		k->total = h->length;
	return 0;
}

static int runstore_sink_write(void *arg, const char *data, size_t len)
{
	struct runstore_sink *k = arg;
	size_t take;

	if (k->skip > 0) {
		size_t n = (uint64_t)k->skip < len ? (size_t)k->skip : len;

		data += n;
		len -= n;
		k->skip -= (int64_t)n;
	}
	take = k->max - k->kept < len ? k->max - k->kept : len;
	if (take) {
		k->rc = buf_append(k->out, data, take);
		if (k->rc)
			return 1;
		k->kept += take;
	}
	if (take < len) {
		k->full = 1;
		return 1;
	}
	return 0;
}

/* "bytes *\/TOTAL" of a 416's Content-Range, or -1. */
static int64_t runstore_416_total(const struct http_response *resp)
{
	char v[128], *end;
	long long t;

	if (http_response_header(resp, "Content-Range", v, sizeof(v)) < 0 ||
	    strncmp(v, "bytes */", 8) != 0)
		return -1;
	errno = 0;
	t = strtoll(v + 8, &end, 10);
	return errno || *end || t < 0 ? -1 : (int64_t)t;
}

/*
 * One GET of url into k, from offset by Range when resume, else from the
 * start. Returns what http_request() did, resp filled.
 */
static int runstore_get(const struct runstore *s, const char *url,
			int64_t offset, int resume, struct runstore_sink *k,
			struct http_request *req, const char **hdrs,
			struct http_response *resp)
{
	runstore_req(s, req, "GET", url, hdrs, NULL);
	req->resume_from = resume ? offset : 0;
	k->skip = resume ? 0 : offset;
	req->head = runstore_sink_head;
	req->write = runstore_sink_write;
	req->arg = k;
	return http_request(req, resp);
}

static int runstore_http_read(const struct runstore *s, const char *key,
			      int64_t offset, size_t max_bytes,
			      struct buf *out, int64_t *total, char *err,
			      size_t errlen)
{
	const char *hdrs[RUNSTORE_HEADERS_MAX + 4];
	struct http_response resp = HTTP_RESPONSE_INIT;
	struct runstore_sink k = { out, 0, max_bytes, 0, -1, 0, 0 };
	struct http_request req;
	char url[HTTP_URL_MAX];
	size_t len0 = out->len;
	int rc;

	rc = runstore_url(s, key, url, sizeof(url), err, errlen);
	if (rc)
		return rc;
	rc = runstore_get(s, url, offset, offset > 0, &k, &req, hdrs, &resp);
	if (rc && resp.fail == HTTP_FAIL_RANGE && resp.status == 416) {
		/* asked from the end or past it: nothing new */
		k.total = runstore_416_total(&resp);
		rc = TFS_OK;
	} else if (rc && resp.fail == HTTP_FAIL_RANGE) {
		/* Range ignored (or answered with other bytes): read it
		 * whole, dropping what we have */
		out->len = len0;
		if (out->p)
			out->p[len0] = '\0';
		k.kept = 0;
		k.full = 0;
		k.total = -1;
		http_response_release(&resp);
		rc = runstore_get(s, url, offset, 0, &k, &req, hdrs, &resp);
	}
	if (rc && resp.fail == HTTP_FAIL_REFUSED && k.full) {
		rc = TFS_OK;
	} else if (rc && resp.fail == HTTP_FAIL_REFUSED && k.rc) {
		rc = k.rc;
		runstore_req_errf(&req, err, errlen, "'%s' from byte %lld does "
				  "not fit in the buffer", key,
				  (long long)offset);
	} else if (rc && resp.fail == HTTP_FAIL_STATUS &&
		   resp.status == 404) {
		rc = TFS_ENOENT;
		runstore_req_errf(&req, err, errlen, "'%s' is not in the store "
				  "yet", key);
	} else if (rc) {
		runstore_errf(err, errlen, "%s", resp.error);
	} else if (k.total < 0 && !k.full) {
		/* read to the end: now we know where that is */
		k.total = offset + (int64_t)k.kept;
	}
	*total = k.total;
	http_response_release(&resp);
	return rc;
}

/* A store's answer to a PUT or HEAD, as a code; err set on failure. */
static int runstore_http_status(const struct http_request *req,
				struct http_response *resp, int rc,
				const char *key, char *err, size_t errlen)
{
	if (!rc)
		return TFS_OK;
	if (resp->fail == HTTP_FAIL_STATUS && resp->status == 404) {
		runstore_req_errf(req, err, errlen, "'%s' is not in the store",
				  key);
		return TFS_ENOENT;
	}
	if (resp->fail == HTTP_FAIL_STATUS &&
	    (resp->status == 401 || resp->status == 403)) {
		runstore_req_errf(req, err, errlen, "the store refused '%s' "
				  "(HTTP %ld): check its credentials", key,
				  resp->status);
		return TFS_EACCES;
	}
	if (resp->fail == HTTP_FAIL_STATUS && resp->status == 413) {
		runstore_req_errf(req, err, errlen, "'%s' is too large for "
				  "the store", key);
		return TFS_EFBIG;
	}
	runstore_errf(err, errlen, "%s", resp->error);
	return rc == TFS_EINVAL ? TFS_EINVAL : TFS_EIO;
}

/*
 * A PUT of len bytes of data to key, or a HEAD of it (data NULL). Returns
 * what runstore_http_status() makes of the answer.
 */
static int runstore_http_send(const struct runstore *s, const char *key,
			      const void *data, size_t len, int big,
			      char *err, size_t errlen)
{
	/* curl would add a form type and, for large bodies, wait for a 100 */
	static const char *const put_extra[] = {
		"Content-Type: application/octet-stream", "Expect:", NULL
	};
	const char *hdrs[RUNSTORE_HEADERS_MAX + 4];
	struct http_response resp = HTTP_RESPONSE_INIT;
	struct http_request req;
	char url[HTTP_URL_MAX];
	int rc;

	rc = runstore_url(s, key, url, sizeof(url), err, errlen);
	if (rc)
		return rc;
	runstore_req(s, &req, data ? "PUT" : "HEAD", url, hdrs,
		     data ? put_extra : NULL);
	if (data) {
		req.body = len ? data : "";
		req.body_len = len;
	}
	if (big)
		req.timeout_ms = 0;   /* bounded by its speed only */
	req.max_response = 64 << 10;
	req.discard = 1;
	rc = http_request(&req, &resp);
	rc = runstore_http_status(&req, &resp, rc, key, err, errlen);
	http_response_release(&resp);
	return rc;
}

/* ---- the calls ---- */

/* What every call does first: err emptied, the key checked. */
static int runstore_begin(const char *key, char *err, size_t errlen)
{
	if (err && errlen)
		err[0] = '\0';
	return runstore_rel_ok(key ? key : "", RUNSTORE_KEY_MAX, "key", err,
			       errlen);
}

int runstore_read_from(const struct runstore *s, const char *key,
		       int64_t offset, size_t max_bytes, struct buf *out,
		       int64_t *total, char *err, size_t errlen)
{
	int64_t t = -1;
	int rc;

	rc = runstore_begin(key, err, errlen);
	if (!rc && offset < 0) {
		runstore_errf(err, errlen, "offset %lld is negative",
			      (long long)offset);
		rc = TFS_EINVAL;
	}
	if (!rc)
		rc = s->kind == RUNSTORE_FILE ?
			runstore_file_read(s, key, offset, max_bytes, out, &t,
					   err, errlen) :
			runstore_http_read(s, key, offset, max_bytes, out, &t,
					   err, errlen);
	if (total)
		*total = rc == TFS_OK ? t : -1;
	return rc;
}

int runstore_write(const struct runstore *s, const char *key,
		   const void *data, size_t len, char *err, size_t errlen)
{
	int rc;

	rc = runstore_begin(key, err, errlen);
	if (rc)
		return rc;
	if (len > RUNSTORE_WRITE_MAX) {
		runstore_errf(err, errlen, "'%.200s' is larger than %d bytes",
			      key, RUNSTORE_WRITE_MAX);
		return TFS_EFBIG;
	}
	if (s->kind == RUNSTORE_FILE)
		return runstore_file_write(s, key, data, len, err, errlen);
	/* a PUT has no "not there": the store answered oddly */
	rc = runstore_http_send(s, key, data ? data : "", len, 0, err, errlen);
	return rc == TFS_ENOENT ? TFS_EIO : rc;
}

int runstore_write_file(const struct runstore *s, const char *key,
			const char *path, char sha256[65], char *err,
			size_t errlen)
{
	struct stat st;
	void *map = NULL;
	int rc, fd;

	sha256[0] = '\0';
	rc = runstore_begin(key, err, errlen);
	if (rc)
		return rc;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) || !S_ISREG(st.st_mode)) {
		runstore_errf(err, errlen, "cannot read '%.200s': %s", path,
			      fd < 0 ? strerror(errno) : "not a regular file");
		if (fd >= 0)
			close(fd);
		return TFS_EIO;
	}
	if (st.st_size > RUNSTORE_FILE_MAX) {
		close(fd);
		runstore_errf(err, errlen, "'%.200s' is larger than %lld bytes",
			      path, (long long)RUNSTORE_FILE_MAX);
		return TFS_EFBIG;
	}
	/* mapped: a checkpoint of many GB is never all in our memory */
	if (st.st_size > 0) {
		map = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE,
			   fd, 0);
		if (map == MAP_FAILED) {
			runstore_errf(err, errlen, "cannot map '%.200s': %s",
				      path, strerror(errno));
			close(fd);
			return TFS_EIO;
		}
	}
	close(fd);
	sha256_hex(map ? map : "", (size_t)st.st_size, sha256);
	if (s->kind == RUNSTORE_FILE)
		rc = runstore_file_write(s, key, map ? map : "",
					 (size_t)st.st_size, err, errlen);
	else
		rc = runstore_http_send(s, key, map ? map : "",
					(size_t)st.st_size, 1, err, errlen);
	if (map)
		munmap(map, (size_t)st.st_size);
	if (rc)
		sha256[0] = '\0';
	return rc == TFS_ENOENT ? TFS_EIO : rc;
}

int runstore_exists(const struct runstore *s, const char *key, char *err,
		    size_t errlen)
{
	int rc;

	rc = runstore_begin(key, err, errlen);
	if (rc)
		return rc;
	rc = s->kind == RUNSTORE_FILE ?
		runstore_file_exists(s, key, err, errlen) :
		runstore_http_send(s, key, NULL, 0, 0, err, errlen);
	/* not there is an answer, not a failure with a reason */
	if (rc == TFS_ENOENT && err && errlen)
		err[0] = '\0';
	return rc;
}

/* FNV-1a of len bytes of p, into h. */
static uint64_t runstore_fnv(uint64_t h, const void *p, size_t len)
{
	const unsigned char *c = p;

	while (len--)
		h = (h ^ *c++) * 1099511628211ULL;
	return h;
}

/* The lines of a header block naming when and what was written. */
static uint64_t runstore_headers_stamp(const char *h, size_t len)
{
	static const char *const names[] = {
		"last-modified:", "etag:", "content-length:"
	};
	uint64_t v = 14695981039346656037ULL;
	size_t i = 0;

	while (i < len) {
		const char *e = memchr(h + i, '\n', len - i);
		size_t l = e ? (size_t)(e - (h + i)) : len - i, k;

		for (k = 0; k < 3; k++)
			if (l >= strlen(names[k]) &&
			    !strncasecmp(h + i, names[k], strlen(names[k])))
				v = runstore_fnv(v, h + i, l);
		i += l + 1;
	}
	return v;
}

int runstore_stamp(const struct runstore *s, const char *key,
		   uint64_t *stamp, char *err, size_t errlen)
{
	struct http_response resp = HTTP_RESPONSE_INIT;
	const char *hdrs[RUNSTORE_HEADERS_MAX + 4];
	struct http_request req;
	char url[HTTP_URL_MAX];
	int rc;

	*stamp = 0;
	rc = runstore_begin(key, err, errlen);
	if (rc)
		return rc;
	if (s->kind == RUNSTORE_FILE) {
		char path[PATH_MAX];
		struct stat st;

		rc = runstore_file_path(s, key, path, sizeof(path), err,
					errlen);
		if (rc)
			return rc;
		if (lstat(path, &st)) {
			rc = runstore_errno(errno);
			if (rc != TFS_ENOENT)
				runstore_errf(err, errlen, "cannot stat '%s': "
					      "%s", path, strerror(errno));
			return rc;
		}
		*stamp = runstore_fnv(14695981039346656037ULL, &st.st_mtim,
				      sizeof(st.st_mtim));
		*stamp = runstore_fnv(*stamp, &st.st_size, sizeof(st.st_size));
		return TFS_OK;
	}
	rc = runstore_url(s, key, url, sizeof(url), err, errlen);
	if (rc)
		return rc;
	runstore_req(s, &req, "HEAD", url, hdrs, NULL);
	req.max_response = 64 << 10;
	req.discard = 1;
	req.retry.max_attempts = 1;
	if (req.timeout_ms <= 0 || req.timeout_ms > 10000)
		req.timeout_ms = 10000;
	rc = http_request(&req, &resp);
	rc = runstore_http_status(&req, &resp, rc, key, err, errlen);
	if (!rc)
		*stamp = runstore_headers_stamp(resp.headers ? resp.headers : "",
						resp.headers_len);
	http_response_release(&resp);
	return rc;
}

/* ---- what the remote connectors share ---- */

int runstore_exit_code(const struct runstore *s, const char *uuid,
		       int attempt, int *code, char *err, size_t errlen)
{
	char key[RUNSTORE_KEY_MAX + 1], *end;
	struct buf b = BUF_INIT(RUNSTORE_EXIT_MAX);
	long v;
	int rc;

	if (runstore_path(uuid, attempt, "exit", key, sizeof(key), err,
			  errlen))
		return -1;
	rc = runstore_read_from(s, key, 0, RUNSTORE_EXIT_MAX, &b, NULL, err,
				errlen);
	if (rc == TFS_ENOENT) {
		buf_release(&b);
		return 0;
	}
	if (rc) {
		buf_release(&b);
		return -1;
	}
	errno = 0;
	v = b.p ? strtol(b.p, &end, 10) : -1;
	if (!b.p || end == b.p || errno || v < 0 || v > 255 ||
	    (*end && *end != '\n')) {
		snprintf(err, errlen, "the exit file of attempt %d holds no "
			 "exit code", attempt);
		buf_release(&b);
		return -1;
	}
	buf_release(&b);
	*code = (int)v;
	return 1;
}

int runstore_ended(const struct runstore *s, const char *uuid, int attempt,
		   int *code, char *why, size_t whylen, char *err,
		   size_t errlen)
{
	char key[RUNSTORE_KEY_MAX + 1], *end;
	struct buf b = BUF_INIT(RUNSTORE_ENDED_MAX);
	size_t i, n;
	long v;
	int rc;

	if (whylen)
		why[0] = '\0';
	if (runstore_path(uuid, attempt, "ended", key, sizeof(key), err,
			  errlen))
		return -1;
	rc = runstore_read_from(s, key, 0, RUNSTORE_ENDED_MAX, &b, NULL, err,
				errlen);
	if (rc == TFS_ENOENT || rc) {
		buf_release(&b);
		return rc == TFS_ENOENT ? 0 : -1;
	}
	errno = 0;
	v = b.p ? strtol(b.p, &end, 10) : -1;
	if (!b.p || end == b.p || errno || v < 0 || v > 255 ||
	    (*end && *end != ' ' && *end != '\n')) {
		runstore_errf(err, errlen, "the ended key of attempt %d holds "
			      "no \"CODE reason\"", attempt);
		buf_release(&b);
		return -1;
	}
	end += *end == ' ';
	/* the instance's words, one line of text in events */
	n = strcspn(end, "\n");
	for (i = 0; i < n && i + 1 < whylen; i++)
		why[i] = (unsigned char)end[i] < 0x20 || end[i] == 0x7f ?
			 '?' : end[i];
	if (whylen)
		why[i] = '\0';
	buf_release(&b);
	*code = (int)v;
	return 1;
}

/* Appends the remote name's bytes from *off to the local path. */
static int runstore_sync_file(const struct runstore *s,
			      const struct job_query *q, const char *name,
			      const char *local, int64_t *off,
			      int64_t max_bytes, char *err, size_t errlen)
{
	char key[RUNSTORE_KEY_MAX + 1];
	struct buf b = BUF_INIT(RUNSTORE_SYNC_CHUNK);
	int64_t done = 0;
	ssize_t w;
	int rc, fd = -1;

	if (!local)
		return TFS_OK;
	rc = runstore_path(q->run_id, q->attempt, name, key, sizeof(key), err,
			   errlen);
	while (rc == TFS_OK && done < max_bytes) {
		buf_reset(&b);
		rc = runstore_read_from(s, key, *off, RUNSTORE_SYNC_CHUNK, &b,
					NULL, err, errlen);
		if (rc == TFS_ENOENT) {
			rc = TFS_OK;    /* not written yet */
			break;
		}
		if (rc || !b.len)
			break;
		if (fd < 0)
			fd = open(local, O_WRONLY | O_APPEND | O_CREAT |
				  O_CLOEXEC, 0600);
		w = fd < 0 ? -1 : write(fd, b.p, b.len);
		if (w > 0) {
			/* what went in counts, even when the rest did not:
			 * the next sync() must not append it again */
			*off += (int64_t)w;
			done += (int64_t)w;
		}
		if (w != (ssize_t)b.len) {
			snprintf(err, errlen, "cannot append to '%s': %s",
				 local, w < 0 ? strerror(errno) : "disk full");
			rc = w < 0 && errno != ENOSPC ? TFS_EIO : TFS_ENOSPC;
			break;
		}
		if (b.len < RUNSTORE_SYNC_CHUNK)
			break;
	}
	if (fd >= 0)
		close(fd);
	buf_release(&b);
	return rc;
}

int runstore_sync(const struct runstore *s, struct job_query *q,
		  int64_t max_bytes, char *err, size_t errlen)
{
	int rc = runstore_sync_file(s, q, "log", q->log_path, &q->log_synced,
				    max_bytes, err, errlen);

	if (!rc)
		rc = runstore_sync_file(s, q, "metrics.jsonl", q->metrics_path,
					&q->metrics_synced, max_bytes, err,
					errlen);
	return rc;
}

/* What runstore_list_artifacts() hands its entries on with. */
struct runstore_list {
	const struct job_query *q;
	const char *base;
	artifact_cb cb;
	void *arg;
	struct hmap failed;      /* upload_failed's keys -> themselves */
	char *failed_text;       /* their bytes, the lines cut at '\n' */
};

static int runstore_list_cb(void *arg, const struct artifact_entry *e)
{
	struct runstore_list *l = arg;
	char url[ARTIFACT_URL_MAX], rel[PATH_MAX], why[ARTIFACT_PATH_MAX + 128];
	struct artifact_entry a = *e;

	if (a.skipped)
		return l->cb(l->arg, &a);
	/* its key as the wrapper's tfs_urlenc names it */
	snprintf(rel, sizeof(rel), "output/");
	if (l->failed.n && (url_path_append(rel, sizeof(rel), a.path) ||
			    hmap_sget(&l->failed, rel))) {
		/* listed with its hash, never stored: not available */
		snprintf(why, sizeof(why), "skipped '%.200s': it did not reach "
			 "the run store (the job's upload_failed names it)",
			 a.path);
		a.skipped = why;
		return l->cb(l->arg, &a);
	}
	snprintf(rel, sizeof(rel), "%s/%d/output/%s", l->q->run_id,
		 l->q->attempt, a.path);
	snprintf(url, sizeof(url), "%s", l->base);
	if (url_path_append(url, sizeof(url), rel)) {
		a.skipped = "its URL would be longer than 4096 bytes";
		return l->cb(l->arg, &a);
	}
	a.url = url;
	return l->cb(l->arg, &a);
}

/*
 * The attempt's upload_failed into l->failed (none: empty); its log and
 * metrics.jsonl handed on as skipped entries. TFS_OK, TFS_EIO when the
 * manifest itself is named (err), or the store's error.
 */
static int runstore_failed_load(const struct runstore *s,
				struct runstore_list *l, char *err,
				size_t errlen)
{
	char key[RUNSTORE_KEY_MAX + 1], why[160];
	struct buf b = BUF_INIT(RUNSTORE_FAILED_MAX);
	int64_t total = -1;
	char *p, *nl;
	int rc;

	rc = runstore_path(l->q->run_id, l->q->attempt, "upload_failed", key,
			   sizeof(key), err, errlen);
	if (!rc)
		rc = runstore_read_from(s, key, 0, RUNSTORE_FAILED_MAX, &b,
					&total, err, errlen);
	if (rc == TFS_ENOENT) {
		buf_release(&b);
		err[0] = '\0';
		return TFS_OK;
	}
	if (!rc && total > RUNSTORE_FAILED_MAX) {
		snprintf(err, errlen, "the job's upload_failed is larger than "
			 "%d bytes", RUNSTORE_FAILED_MAX);
		rc = TFS_EIO;
	}
	if (rc) {
		buf_release(&b);
		return rc;
	}
	l->failed_text = buf_detach(&b, NULL);
	for (p = l->failed_text; p && *p; p = nl ? nl + 1 : p + strlen(p)) {
		struct artifact_entry a = { 0 };

		nl = strchr(p, '\n');
		if (nl)
			*nl = '\0';
		if (!*p)
			continue;
		hmap_sput(&l->failed, p, p);
		if (!strcmp(p, "manifest.json")) {
			snprintf(err, errlen, "the manifest did not reach the "
				 "run store (the job's upload_failed names "
				 "it): no artifact can be verified");
			return TFS_EIO;
		}
		if (strcmp(p, "log") && strcmp(p, "metrics.jsonl"))
			continue;
		snprintf(why, sizeof(why), "'%s' did not reach the run store "
			 "whole (the job's upload_failed names it): its end "
			 "may be missing", p);
		a.path = p;
		a.skipped = why;
		if (l->cb(l->arg, &a))
			return TFS_EIO;
	}
	return TFS_OK;
}

int runstore_list_artifacts(const struct runstore *s,
			    const struct job_query *q, const char *base,
			    artifact_cb cb, void *arg, char *err,
			    size_t errlen)
{
	struct runstore_list l = { q, base, cb, arg, HMAP_INIT, NULL };
	char key[RUNSTORE_KEY_MAX + 1];
	struct buf b = BUF_INIT(MANIFEST_MAX);
	int rc;

	rc = runstore_path(q->run_id, q->attempt, "manifest.json", key,
			   sizeof(key), err, errlen);
	if (!rc)
		rc = runstore_read_from(s, key, 0, MANIFEST_MAX, &b, NULL, err,
					errlen);
	/* a manifest the wrapper could not store is never coming */
	if (rc == TFS_ENOENT)
		rc = runstore_failed_load(s, &l, err, errlen) ?: TFS_ENOENT;
	else if (!rc)
		rc = runstore_failed_load(s, &l, err, errlen);
	if (rc == TFS_ENOENT) {
		char why[160], e2[64];
		int code;

		/* a wrapper that quit before the job writes none */
		if (runstore_ended(s, q->run_id, q->attempt, &code, why,
				   sizeof(why), e2, sizeof(e2)) == 1) {
			snprintf(err, errlen, "none: the job's wrapper quit "
				 "before the job (%d: %s)", code, why);
		} else {
			snprintf(err, errlen, "the job has not written its "
				 "manifest");
			rc = TFS_EAGAIN;
		}
	}
	if (!rc)
		rc = manifest_parse(b.p ? b.p : "", b.len, runstore_list_cb, &l,
				    err, errlen);
	buf_release(&b);
	hmap_release(&l.failed);
	free(l.failed_text);
	return rc;
}
