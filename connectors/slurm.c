/*
 * slurm.c - the Slurm provider: jobs go to a real cluster through
 * slurmrestd (JWT auth, the OpenAPI version of the config), and run there
 * under connectors/common's wrapper, which writes the attempt's log,
 * metrics, manifest and exit code under shared_dir, a directory both the
 * cluster's nodes and this host see:
 *
 *     <shared_dir>/<run uuid>/<attempt>/{log, metrics.jsonl, output/,
 *         started/, job_id, manifest.json, exit}
 *
 * The wrapper makes that directory on the node (as the job's user); the
 * daemon makes none of it per submission, unless the run has inputs to
 * copy there.
 *
 * Requests: submit is one POST; every poll pass is one `GET jobs` for all
 * of the provider's jobs, whatever their number, with ?update_time= so
 * that slurmctld answers 304 and nothing else when no job changed. The
 * answer is kept (by job id and by comment) and serves poll(), find() and
 * cancel() until the next one.
 *
 * Exactly once: the job's name and comment carry the run's UUID and
 * attempt ("trainfs <uuid>/<attempt> <exp>/<run>"). Before the POST a
 * "submitting" mark is set (connectors/common/marks.h: a line in the
 * provider's marks log, in its work directory); find() asks
 * Slurm only when it is there (a crash or an unconfirmed answer), adopts
 * the job whose comment is the attempt's, and says "in progress" for a
 * while before it lets the attempt be submitted again. A POST that may
 * have reached slurmctld is never sent again by us: only find() decides.
 *
 * Dependencies stay in trainfs's scheduler rather than Slurm's
 * (`dependency=afterok:`): ours mean "completed" of a run, which survives
 * its retries (each a new Slurm job id) and may be on another provider,
 * and wait for the dependency's artifacts to be verified; an afterok on a
 * job id would point at the first attempt only.
 *
 * Threading: everything but list_artifacts() runs on the provider's
 * poller thread, find() and submit() (and cancel() for an unconfirmed
 * attempt) in SLURM_SUBMIT_LANES of its threads at once, each for another
 * attempt: they share the token and the answer under locks;
 * list_artifacts() reads only the shared directory through the run store
 * (which threads may share) and the fields set by init().
 */
#define _GNU_SOURCE
#include "connector.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <pthread.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "hmap.h"
#include "http.h"
#include "json.h"
#include "manifest.h"
#include "marks.h"
#include "runstore.h"
#include "secret.h"
#include "slurm_api.h"
#include "strvec.h"
#include "util.h"
#include "wrapper.h"

#define SLURM_PENDING_MS 120000      /* a "submitting" mark with no job in
					Slurm is in progress this long: far
					past a request's timeout and
					slurmctld's own, after which it may
					still create the job */
#define SLURM_FULL_MS 60000          /* a full GET jobs (update_time=0) at
					least this often: bounds what a
					clock ahead of slurmctld's could hide */
#define SLURM_CLOCK_SLACK_S 2        /* update_time is asked this early */
#define SLURM_KEY_MAX (8 + 36 + 1 + 11 + 1) /* "trainfs <uuid>/<attempt>" */
#define SLURM_FIND_FRESH_MS 1000     /* find() reuses an answer this new */
#define SLURM_TIMEOUT_MS 30000       /* one request, all of it */
#define SLURM_SLOW_REFUSAL_MS 2000   /* slurmctld refuses a bad token at
					once; slower is a controller that
					does not answer */
#define SLURM_JOBS_BODY_MAX (512u << 20) /* bytes of a GET jobs answer */
#define SLURM_SYNC_MAX (256 << 20)   /* bytes brought in by one sync() */
#define SLURM_PATH_DEFAULT "/usr/local/sbin:/usr/local/bin:/usr/sbin:" \
			   "/usr/bin:/sbin:/bin"
#define SLURM_SUBMIT_LANES 2         /* POSTs in flight at once: slurmctld
					takes one job at a time, and a second
					keeps it busy while the next attempt's
					script is made (4 measured no faster) */
#define SLURM_ESLURM_INVALID_JOB_ID 2017
#define SLURM_ESLURM_ALREADY_DONE 2021

struct slurm {
	const struct connector *conn; /* for its stopping flag */
	char *url;                   /* "http://host:port/slurm/v0.0.38" */
	char *shown;                 /* the URL as messages show it */
	char *user, *api, *partition, *account, *path_env;
	char *shared_dir;            /* absolute, no trailing '/' */
	char *artifact_base_url;     /* or NULL: file:// under shared_dir */
	char *fault;                 /* TRAINFS_FAULT, tests only */
	/* find() and submit() run in SLURM_SUBMIT_LANES threads at once:
	 * token_lock guards token and token_err, lock the answer below and
	 * accepted (see connector.h's submit_lanes) */
	pthread_mutex_t token_lock, lock;
	struct secret_src token;
	char token_err[256];         /* why the token cannot be used, or "" */
	struct runstore *store;      /* file://shared_dir */
	struct marks *marks;         /* "<uuid>/<attempt>" -> when submitted */
	struct http_pool *pool;
	/* the last `GET jobs` answer */
	struct slurm_job *jobs;
	size_t njobs;
	struct hmap by_id;           /* job id -> struct slurm_job * */
	struct hmap by_comment;      /* "trainfs <uuid>/<n>" -> job */
	char (*keys)[SLURM_KEY_MAX]; /* by_comment's keys, one per job */
	int64_t *dups;               /* jobs sharing a key with another */
	size_t ndups;
	struct hmap dups_cancelled;  /* job id -> 1: its DELETE was sent */
	int have_jobs;               /* a 200 has been taken */
	int64_t asked_wall_ms;       /* when the request that confirmed the
					answer (200 or 304) was sent */
	int64_t full_wall_ms;        /* when the last update_time=0 went, its
					answer taken: the one time that says
					what Slurm does not know (a 304 says
					"nothing changed" by slurmctld's clock,
					which may be behind ours) */
	int need_full;               /* the next refresh asks update_time=0 */
	int64_t skew_s;              /* how far our clock is ahead of
					slurmctld's, from our own submissions */
	int64_t update_time;         /* for the next ?update_time= */
	struct hmap accepted;        /* job id -> wall ms Slurm took it, for
					jobs newer than the answer */
	uint64_t poll_requests;      /* requests of the last poll (atomic) */
	int64_t token_exp;           /* the token's expiry, epoch s (atomic) */
};

/* ---- requests ---- */

/* "trainfs <uuid>/<attempt>": the start of the comment, and the key. */
static void slurm_key(char *out, size_t len, const char *uuid, int attempt)
{
	snprintf(out, len, "trainfs %s/%d", uuid, attempt);
}

/* The key of a job's comment into out, or "" when it is not ours. */
static void slurm_key_of(const char *comment, char *out, size_t len)
{
	size_t n;

	out[0] = '\0';
	if (strncmp(comment, "trainfs ", 8))
		return;
	n = 8 + strcspn(comment + 8, " ");
	if (n < len)
		snprintf(out, len, "%.*s", (int)n, comment);
}

/* The token now, without "SLURM_JWT=", or NULL with sl->token_err set. */
static const char *slurm_token(struct slurm *sl)
{
	const char *t = secret_get(&sl->token, sl->token_err,
				   sizeof(sl->token_err));

	if (!t)
		return NULL;
	sl->token_err[0] = '\0';
	if (!strncmp(t, "SLURM_JWT=", 10))
		t += 10;
	if (sl->token.changed)
		__atomic_store_n(&sl->token_exp, slurm_token_expiry(t),
				 __ATOMIC_RELAXED);
	return t;
}

/* A refusal of the token, or of anything, in words a user can act on. */
static void slurm_refusal(struct slurm *sl, const char *token,
			  const struct http_response *resp, const char *words,
			  char *err, size_t errlen)
{
	int64_t exp = slurm_token_expiry(token);
	time_t now = time(NULL);

	if (exp > 0 && exp <= now) {
		char when[64];

		time_format(exp * 1000, when, sizeof(when));
		snprintf(err, errlen, "token rejected (it expired at %s; "
			 "write a new one with `scontrol token` to %s)", when,
			 sl->token.file ? sl->token.file : "its variable");
	} else if (resp->status == 401 || resp->status == 403) {
		snprintf(err, errlen, "token rejected (slurmrestd: %s)",
			 words);
	} else if (resp->elapsed_ms < SLURM_SLOW_REFUSAL_MS) {
		snprintf(err, errlen, "token rejected (slurmctld refused the "
			 "request at once: %s)", words);
	} else {
		snprintf(err, errlen, "slurmctld does not answer slurmrestd "
			 "(%s, after %lld ms)", words,
			 (long long)resp->elapsed_ms);
	}
}

/* lib/http asks this while a request waits: the daemon is stopping. */
static int slurm_cancelled(void *arg)
{
	const struct slurm *sl = arg;

	return __atomic_load_n(&sl->conn->stopping, __ATOMIC_ACQUIRE);
}

/*
 * One request to slurmrestd: path under the API's base ("jobs"). Returns
 * TFS_OK for a 2xx answer (resp filled, to be released), else the error
 * with a sentence in err: TFS_EACCES for a token that cannot be used or
 * that Slurm refuses, TFS_EIO for a provider that does not answer,
 * TFS_EINVAL when Slurm refused the request itself (its errno in *slurm_errno
 * when not NULL), with the token given (see slurm_call()).
 */
static int slurm_send(struct slurm *sl, const char *token,
		      const char *method, const char *path, const char *body,
		      struct http_response *resp, int *slurm_errno, char *err,
		      size_t errlen)
{
	char url[HTTP_URL_MAX], uhdr[320], words[512] = "";
	const char *secrets[2] = { token, NULL };
	const char *headers[5];
	struct buf th = BUF_INIT(SECRET_MAX + 64);
	struct http_request rq = { 0 };
	enum slurm_err_kind kind;
	int64_t code = 0;
	int rc, n = 0;

	if (slurm_errno)
		*slurm_errno = 0;
	*resp = (struct http_response)HTTP_RESPONSE_INIT;
	snprintf(url, sizeof(url), "%s/%s", sl->url, path);
	snprintf(uhdr, sizeof(uhdr), "X-SLURM-USER-NAME: %s", sl->user);
	if (buf_printf(&th, "X-SLURM-USER-TOKEN: %s", token)) {
		snprintf(err, errlen, "token too long");
		return TFS_EACCES;
	}
	headers[n++] = uhdr;
	headers[n++] = th.p;
	headers[n++] = "Accept: application/json";
	if (body)
		headers[n++] = "Content-Type: application/json";
	headers[n] = NULL;
	rq.method = method;
	rq.url = url;
	rq.headers = headers;
	rq.body = body;
	rq.body_len = body ? strlen(body) : 0;
	rq.secrets = secrets;
	rq.timeout_ms = SLURM_TIMEOUT_MS;
	rq.max_redirs = -1;
	rq.pool = sl->pool;
	rq.cancelled = slurm_cancelled;
	rq.arg = sl;
	/* every job of the cluster, a few KiB each */
	if (!strncmp(path, "jobs", 4))
		rq.max_response = SLURM_JOBS_BODY_MAX;
	/* a connection refused or reset before anything was sent is worth
	 * one more try; a status is not (a 500 is Slurm's answer) */
	rq.retry = (struct http_retry){ 2, 100, 1000, 20, 0,
					HTTP_RETRY_CONNECT };
	if (body)
		rq.retry.max_attempts = 1;     /* the caller decides */
	rc = http_request(&rq, resp);
	if (th.p)
		memset(th.p, 0, th.len);
	buf_release(&th);
	/* the headers pointed into th: http_redact_request() below must not
	 * read them, and finds the token in rq.secrets */
	rq.headers = NULL;
	if (resp->status == 304)
		return TFS_OK;
	if (rc == TFS_OK)
		return TFS_OK;
	if (rc == TFS_EINTR) {
		snprintf(err, errlen, "stopped: the daemon is stopping");
		return TFS_EINTR;
	}
	if (resp->status == 0) {
		snprintf(err, errlen, "cannot reach slurmrestd at %s: %s",
			 sl->shown, resp->error);
		return TFS_EIO;
	}
	/* Slurm's own words and number, when the body has them */
	if (!resp->body || slurm_errors(resp->body, resp->body_len, &code,
					words, sizeof(words)) != 1) {
		code = 0;
		snprintf(words, sizeof(words), "%.200s",
			 resp->body && resp->body_len ? resp->body :
			 resp->error);
		words[strcspn(words, "\r\n")] = '\0';
	}
	if (slurm_errno)
		*slurm_errno = (int)code;
	http_redact_request(&rq, words);
	kind = slurm_err_kind(code);
	if (resp->status == 401 || resp->status == 403)
		kind = SLURM_ERR_AUTH;
	switch (kind) {
	case SLURM_ERR_AUTH:
		/*
		 * slurmctld refuses a bad or expired token with -1, as it
		 * answers when it is down: the token's expiry and the time
		 * taken tell them apart (a refusal is at once, a controller
		 * that does not answer takes slurmrestd's timeouts).
		 */
		slurm_refusal(sl, token, resp, words, err, errlen);
		return resp->status == 500 && resp->elapsed_ms >=
		       SLURM_SLOW_REFUSAL_MS ? TFS_EIO : TFS_EACCES;
	case SLURM_ERR_REFUSED:
		snprintf(err, errlen, "Slurm refused %s %s: %s", method, path,
			 words);
		return TFS_EINVAL;
	case SLURM_ERR_DOWN:
	case SLURM_ERR_OTHER:
		break;
	}
	if (rc == TFS_EFBIG) {
		snprintf(err, errlen, "slurmrestd's answer to %s %s is over "
			 "%zu bytes", method, path, (size_t)SLURM_JOBS_BODY_MAX);
		return TFS_EIO;
	}
	snprintf(err, errlen, "slurmctld is not reachable through %s (%s %s "
		 "answered %ld: %s)", sl->shown, method, path, resp->status,
		 words);
	return TFS_EIO;
}

/*
 * slurm_send() with the token read afresh (a renewed file is taken), and
 * copied: another lane may read the file again meanwhile.
 */
static int slurm_call(struct slurm *sl, const char *method, const char *path,
		      const char *body, struct http_response *resp,
		      int *slurm_errno, char *err, size_t errlen)
{
	char token[SECRET_MAX + 1];
	const char *t;
	int rc;

	pthread_mutex_lock(&sl->token_lock);
	t = slurm_token(sl);
	if (t)
		snprintf(token, sizeof(token), "%s", t);
	else
		snprintf(err, errlen, "token unusable (%s)", sl->token_err);
	pthread_mutex_unlock(&sl->token_lock);
	if (!t) {
		if (slurm_errno)
			*slurm_errno = 0;
		*resp = (struct http_response)HTTP_RESPONSE_INIT;
		return TFS_EACCES;
	}
	rc = slurm_send(sl, token, method, path, body, resp, slurm_errno, err,
			errlen);
	explicit_bzero(token, sizeof(token));
	return rc;
}

/* ---- the jobs answer ---- */

static void slurm_jobs_clear(struct slurm *sl)
{
	hmap_release(&sl->by_id);
	hmap_release(&sl->by_comment);
	sl->by_id = (struct hmap)HMAP_INIT;
	sl->by_comment = (struct hmap)HMAP_INIT;
	free(sl->jobs);
	free(sl->keys);
	free(sl->dups);
	sl->jobs = NULL;
	sl->keys = NULL;
	sl->dups = NULL;
	sl->njobs = sl->ndups = 0;
}

/* Takes a 200's jobs as the answer (they replace the last one). */
static void slurm_jobs_take(struct slurm *sl, struct slurm_job *jobs,
			    size_t n)
{
	size_t i;

	slurm_jobs_clear(sl);
	sl->jobs = jobs;
	sl->njobs = n;
	sl->keys = xcalloc(n + 1, sizeof(*sl->keys));
	for (i = 0; i < n; i++) {
		struct slurm_job *j = &jobs[i];

		hmap_iput(&sl->by_id, j->job_id, j);
		slurm_key_of(j->comment, sl->keys[i], sizeof(sl->keys[i]));
		if (sl->keys[i][0]) {
			struct slurm_job *o = hmap_sget(&sl->by_comment,
							sl->keys[i]);

			/* two jobs for one attempt (a submission that
			 * slurmctld took after it had answered an error):
			 * the newer counts until poll() cancels the one
			 * we do not track */
			if (!o || o->job_id < j->job_id)
				hmap_sput(&sl->by_comment, sl->keys[i], j);
		}
	}
	/* the jobs their key does not choose */
	for (i = 0; i < n; i++)
		if (sl->keys[i][0] && hmap_sget(&sl->by_comment, sl->keys[i]) !=
		    &jobs[i]) {
			sl->dups = xrealloc(sl->dups, (sl->ndups + 1) *
					    sizeof(*sl->dups));
			sl->dups[sl->ndups++] = jobs[i].job_id;
		}
	sl->have_jobs = 1;
}

/*
 * Brings the answer up to date with one `GET jobs`: with update_time,
 * slurmctld answers 304 when no job changed since, and the answer kept
 * still holds. Returns TFS_OK, or the error of slurm_call().
 */
static int slurm_refresh(struct slurm *sl, int full, char *err, size_t errlen)
{
	struct http_response resp;
	struct slurm_job *jobs = NULL;
	char path[64];
	int64_t asked = now_ms();
	size_t n = 0;
	int rc;

	full |= !sl->have_jobs || sl->need_full ||
		asked - sl->full_wall_ms >= SLURM_FULL_MS;
	snprintf(path, sizeof(path), "jobs?update_time=%" PRId64,
		 full ? (int64_t)0 : sl->update_time);
	rc = slurm_call(sl, "GET", path, NULL, &resp, NULL, err, errlen);
	if (rc == TFS_OK && resp.status == 304) {
		http_response_release(&resp);
		sl->asked_wall_ms = asked;
		return TFS_OK;
	}
	if (rc == TFS_OK && slurm_parse_jobs(resp.body, resp.body_len, &jobs,
					     &n, err, errlen)) {
		rc = TFS_EIO;
	}
	http_response_release(&resp);
	if (rc)
		return rc;
	slurm_jobs_take(sl, jobs, n);
	sl->asked_wall_ms = asked;
	if (full) {
		sl->full_wall_ms = asked;
		sl->need_full = 0;
	}
	/* what changes from the second we asked on (slurmctld's clock) is
	 * in the next answer */
	sl->update_time = asked / 1000 - SLURM_CLOCK_SLACK_S - sl->skew_s;
	return TFS_OK;
}

/* ---- the shared directory ---- */

/* <shared_dir>/<uuid>/<attempt>[/name] into out. */
static int slurm_dir(const struct slurm *sl, const char *uuid, int attempt,
		     const char *name, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s/%d%s%s", sl->shared_dir, uuid,
			 attempt, name ? "/" : "", name ? name : "");

	return n < 0 || (size_t)n >= len ? -1 : 0;
}

/* The job id the wrapper wrote when it started, or 0. */
static int64_t slurm_started_id(const struct slurm *sl, const char *uuid,
				int attempt)
{
	char path[PATH_MAX];
	struct buf b = BUF_INIT(64);
	long long v = 0;

	if (!slurm_dir(sl, uuid, attempt, "job_id", path, sizeof(path)) &&
	    file_read_all(path, 64, &b) == TFS_OK && b.p &&
	    sscanf(b.p, "%lld", &v) != 1)
		v = 0;
	buf_release(&b);
	return v > 0 ? (int64_t)v : 0;
}

/*
 * The job's environment for the wrapper: the run's entries, with its
 * inputs copied under the attempt's directory in the shared one and their
 * variables pointing there (the local copy is not seen by the cluster).
 * Returns the list (caller frees with strv_free) or NULL with err.
 */
static char **slurm_env(const struct job_spec *spec,
			const char *adir, char *err, size_t errlen)
{
	size_t n = 0, i;
	char **env;

	while (spec->env && spec->env[n])
		n++;
	env = xcalloc(n + 1, sizeof(*env));
	for (i = 0; i < n; i++) {
		const char *e = spec->env[i], *eq = strchr(e, '=');
		char dst[PATH_MAX], dir[PATH_MAX], *slash;

		if (strncmp(e, "TRAINFS_INPUT_", 14) || !eq) {
			env[i] = xstrdup(e);
			continue;
		}
		/* ".../attempt-N/inputs/<key>/<name>" -> "<adir>/inputs/..." */
		slash = strstr(eq + 1, "/inputs/");
		if (!slash || snprintf(dst, sizeof(dst), "%s%s", adir, slash) >=
		    (int)sizeof(dst)) {
			snprintf(err, errlen, "cannot place the input '%.*s' in "
				 "the shared directory", (int)(eq - e), e);
			goto fail;
		}
		snprintf(dir, sizeof(dir), "%s", dst);
		*strrchr(dir, '/') = '\0';
		if (mkdir_p(dir, 0755) < 0) {
			snprintf(err, errlen, "cannot create '%s': %s", dir,
				 strerror(errno));
			goto fail;
		}
		/* a retried submission of the attempt copies it again; 0644:
		 * the job may run as another user than the daemon */
		unlink(dst);
		if (file_copy(eq + 1, dst, 0644, err, errlen))
			goto fail;
		env[i] = xmalloc((size_t)(eq - e) + strlen(dst) + 2);
		sprintf(env[i], "%.*s=%s", (int)(eq - e), e, dst);
	}
	return env;
fail:
	strv_free(env);
	return NULL;
}

/* ---- the operations ---- */

static int slurm_ping(struct connector *c, char *err, size_t errlen)
{
	struct slurm *sl = c->priv;
	struct http_response resp;
	int rc = slurm_call(sl, "GET", "ping", NULL, &resp, NULL, err, errlen);

	if (rc == TFS_OK && slurm_parse_ping(resp.body, resp.body_len, err,
					     errlen))
		rc = TFS_EIO;
	http_response_release(&resp);
	__atomic_store_n(&sl->poll_requests, 1, __ATOMIC_RELAXED);
	return rc;
}

/* The attempt's key in the marks: "<uuid>/<attempt>". */
static void slurm_mark_key(char *out, size_t len, const char *uuid,
			   int attempt)
{
	snprintf(out, len, "%s/%d", uuid, attempt);
}

/* "the shared directory's path is too long" with the path. */
static int slurm_too_long(const struct slurm *sl, const char *uuid,
			  char *err, size_t errlen)
{
	snprintf(err, errlen, "the path of '%.200s/%s' in the shared "
		 "directory is too long", sl->shared_dir, uuid);
	return TFS_ENAMETOOLONG;
}

/*
 * Looks for the attempt's job. Slurm is asked only when there is a sign
 * that it may have it (a mark, a job id the wrapper wrote) or when this
 * process has no answer yet (a host that crashed may have lost a mark it
 * had not written to disk): a first submission costs no request. A mark
 * with no job is in progress for SLURM_PENDING_MS, and only a full answer
 * asked after the mark's time can say that Slurm lacks the job.
 */
static int slurm_find(struct connector *c, const struct job_spec *spec,
		      char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct slurm *sl = c->priv;
	char mkey[MARKS_KEY_MAX + 1], key[SLURM_KEY_MAX];
	struct slurm_job *j;
	int64_t id, mark_ms = 0, now = now_ms();
	int marked, rc;

	slurm_mark_key(mkey, sizeof(mkey), spec->run_id, spec->attempt);
	marked = marks_get(sl->marks, mkey, &mark_ms);
	id = slurm_started_id(sl, spec->run_id, spec->attempt);
	pthread_mutex_lock(&sl->lock);
	if (!sl->have_jobs || (marked && sl->full_wall_ms < mark_ms) ||
	    ((marked || id) && now - sl->asked_wall_ms > SLURM_FIND_FRESH_MS)) {
		rc = slurm_refresh(sl, marked && sl->full_wall_ms < mark_ms,
				   err, errlen);
		if (rc) {
			/* cannot ask: the attempt waits, it does not fail */
			size_t l = strlen(err);

			pthread_mutex_unlock(&sl->lock);
			snprintf(err + l, errlen - l, "; the submission is "
				 "looked for again");
			return TFS_EINPROGRESS;
		}
	}
	slurm_key(key, sizeof(key), spec->run_id, spec->attempt);
	j = hmap_sget(&sl->by_comment, key);
	/* the job that started wins over a duplicate of it */
	if (!id && j)
		id = j->job_id;
	pthread_mutex_unlock(&sl->lock);
	if (id) {
		snprintf(job_id, idlen, "%" PRId64, id);
		if (marked)
			marks_set(sl->marks, mkey, 0);   /* confirmed */
		return TFS_OK;
	}
	if (!marked)
		return TFS_ENOENT;
	if (now - mark_ms < SLURM_PENDING_MS) {
		snprintf(err, errlen, "submitted to Slurm, not confirmed yet");
		return TFS_EINPROGRESS;
	}
	marks_set(sl->marks, mkey, 0);
	return TFS_ENOENT;
}

/* The POST of one attempt: its script and its request. */
static char *slurm_submit_text(struct slurm *sl, const struct job_spec *spec,
			       const char *adir, char *err, size_t errlen)
{
	char run_dir[PATH_MAX], name[SLURM_NAME_MAX], comment[SLURM_COMMENT_MAX];
	char pathv[4200];
	char *const env[] = { pathv, NULL };
	struct wrapper_spec w = { 0 };
	struct slurm_submit s = { 0 };
	char **jenv, *script, *body;

	snprintf(run_dir, sizeof(run_dir), "%s/%s", sl->shared_dir,
		 spec->run_id);
	jenv = slurm_env(spec, adir, err, errlen);
	if (!jenv)
		return NULL;
	w.argv = spec->argv;
	w.env = jenv;
	w.run_dir = run_dir;
	w.attempt = spec->attempt;
	w.workdir = spec->workdir;
	script = wrapper_script(&w, err, errlen);
	strv_free(jenv);
	if (!script)
		return NULL;
	snprintf(name, sizeof(name), "trainfs-%s-%d", spec->run_id,
		 spec->attempt);
	snprintf(comment, sizeof(comment), "trainfs %s/%d %s", spec->run_id,
		 spec->attempt, spec->run_name ? spec->run_name : "");
	snprintf(pathv, sizeof(pathv), "PATH=%s", sl->path_env);
	s.api_version = sl->api;
	s.script = script;
	s.name = name;
	s.comment = comment;
	s.partition = sl->partition;
	s.account = sl->account;
	/*
	 * Slurm opens the job's output and enters its directory before the
	 * script runs: both must be there already, so they are not the
	 * attempt's, which the wrapper makes. Everything the job prints goes
	 * to the attempt's log through the wrapper.
	 */
	s.workdir = sl->shared_dir;
	s.stdout_path = "/dev/null";
	s.env = env;
	s.cpus = spec->cpus;
	s.memory_mb = spec->memory_mb;
	s.gpus = spec->gpus;
	s.gpu_type = spec->gpu_type;
	/* a minute past our own timeout: ours ends it first, with its
	 * reason; Slurm's is the backstop while we are down */
	s.time_limit_min = spec->timeout_s > 0 ?
			   (spec->timeout_s + 59) / 60 + 1 : 0;
	body = slurm_submit_body(&s, err, errlen);
	free(script);
	return body;
}

static int slurm_submit(struct connector *c, const struct job_spec *spec,
			char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct slurm *sl = c->priv;
	char adir[PATH_MAX], mkey[MARKS_KEY_MAX + 1];
	struct http_response resp;
	int64_t id;
	char *body;
	int rc;

	if (slurm_dir(sl, spec->run_id, spec->attempt, NULL, adir,
		      sizeof(adir)))
		return slurm_too_long(sl, spec->run_id, err, errlen);
	slurm_mark_key(mkey, sizeof(mkey), spec->run_id, spec->attempt);
	body = slurm_submit_text(sl, spec, adir, err, errlen);
	if (!body)
		return TFS_EINVAL;
	if (marks_set(sl->marks, mkey, now_ms()) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot write the submitting mark: %s",
			 strerror(e));
		marks_set(sl->marks, mkey, 0);
		free(body);
		return e == ENOSPC ? TFS_ENOSPC : TFS_EIO;
	}
	rc = slurm_call(sl, "POST", "job/submit", body, &resp, NULL, err,
			errlen);
	free(body);
	if (rc == TFS_OK && slurm_parse_submit(resp.body, resp.body_len, &id,
					       err, errlen) == 0) {
		http_response_release(&resp);
		if (sl->fault && !strcmp(sl->fault, "slurm-after-accept"))
			_exit(86);   /* a test's crash: accepted, unrecorded */
		snprintf(job_id, idlen, "%" PRId64, id);
		pthread_mutex_lock(&sl->lock);
		hmap_iput(&sl->accepted, id, (void *)(intptr_t)now_ms());
		pthread_mutex_unlock(&sl->lock);
		marks_set(sl->marks, mkey, 0);   /* confirmed */
		return TFS_OK;
	}
	/*
	 * Not submitted for sure only when nothing was sent, or Slurm
	 * refused the job or the token at once; a timeout, a 5xx or a
	 * slurmctld that answered late may still have made the job. Then
	 * the mark is stamped again, so that its window starts now.
	 */
	if (rc == TFS_OK || (resp.sent > 0 && rc != TFS_EINVAL &&
			     rc != TFS_EACCES)) {
		size_t l = strlen(err);

		http_response_release(&resp);
		if (rc == TFS_OK)
			snprintf(err, errlen, "slurmrestd's answer to the "
				 "submission cannot be read");
		l = strlen(err);
		snprintf(err + l, errlen - l, "; whether Slurm took the job "
			 "is asked again");
		marks_set(sl->marks, mkey, now_ms());
		return TFS_EINPROGRESS;
	}
	marks_set(sl->marks, mkey, 0);
	http_response_release(&resp);
	if (rc == TFS_EINVAL) {
		char why[JOB_REASON_MAX];

		snprintf(why, sizeof(why), "%s", err);
		snprintf(err, errlen, "submission refused: %s", why);
		return TFS_EINVAL;
	}
	/* the provider cannot be used now: the attempt waits for it */
	return TFS_EINPROGRESS;
}

static void slurm_reason(struct job_query *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* Sets q->reason, cut to fit. */
static void slurm_reason(struct job_query *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
	va_end(ap);
}

static int slurm_delete(struct slurm *sl, const char *id, const char *sig,
			char *err, size_t errlen);

/*
 * One query from the answer. A job missing from it is one Slurm forgot
 * (MinJobAge), resolved from the exit file the wrapper left; one newer
 * than the answer is still pending for us.
 */
static void slurm_poll_one(struct slurm *sl, struct job_query *q)
{
	char *end, err[256];
	const struct slurm_job *j;
	long long id;
	intptr_t accepted;
	int code = -1, have;

	errno = 0;
	id = strtoll(q->job_id, &end, 10);
	if (errno || *end || id <= 0) {
		q->state = JOB_UNKNOWN;
		slurm_reason(q, "'%.100s' is not a "
			 "Slurm job id", q->job_id);
		return;
	}
	j = hmap_iget(&sl->by_id, id);
	q->cpu_percent = -1;
	q->rss_kb = -1;
	q->exit_code = -1;
	q->term_signal = 0;
	q->reason[0] = '\0';
	accepted = (intptr_t)hmap_iget(&sl->accepted, id);
	if (!j && accepted && accepted >= sl->full_wall_ms) {
		/*
		 * Taken by Slurm after the last full answer was asked for:
		 * only a full one asked later can say Slurm lacks it (a 304
		 * by a clock behind ours says nothing of it), so the next
		 * one is.
		 */
		sl->need_full = 1;
		q->state = JOB_PENDING;
		return;
	}
	if (j && accepted) {
		/* our clock against slurmctld's, for update_time */
		int64_t ahead = accepted / 1000 - j->submit_s;

		sl->skew_s = j->submit_s > 0 && ahead > 0 ? ahead : 0;
		hmap_idel(&sl->accepted, id);
	} else if (accepted) {
		hmap_idel(&sl->accepted, id);
	}
	if (j && j->undocumented) {
		/* a state word no Slurm we know says: running or waiting,
		 * as far as its times tell */
		q->state = j->start_s > 0 ? JOB_RUNNING : JOB_PENDING;
		slurm_reason(q, "Slurm says '%s'", j->state_word);
		return;
	}
	if (j && !job_state_terminal(j->state)) {
		q->state = j->state;
		q->start_ms = j->start_s > 0 && j->state != JOB_PENDING ?
			      j->start_s * 1000 : 0;
		if (j->restart_cnt > 0 && j->state == JOB_PENDING &&
		    runstore_exit_code(sl->store, q->run_id, q->attempt, &code,
				       err, sizeof(err)) == 1 && code != 128 + 15 &&
		    code != 128 + 9) {
			/* the first start ended on its own before the
			 * requeue (a node lost in its epilog): the attempt
			 * is what it left; one the requeue's TERM or KILL
			 * ended is retried below */
			slurm_delete(sl, q->job_id, NULL, err, sizeof(err));
			q->state = code ? JOB_FAILED : JOB_COMPLETED;
			q->exit_code = code;
			if (code)
				slurm_reason(q, "exit code %d", code);
			return;
		}
		if (j->restart_cnt > 0 && j->state == JOB_PENDING) {
			/* requeued by Slurm: the wrapper would refuse the
			 * second start, so it is a new attempt of ours. The
			 * requeued job is cancelled (once: a DELETE that
			 * fails leaves it to that refusal), or it would wait
			 * in squeue under the run's comment beside the new
			 * attempt's job and take a slot to be refused. */
			slurm_delete(sl, q->job_id, NULL, err, sizeof(err));
			q->state = JOB_PREEMPTED;
			slurm_reason(q, "requeued by Slurm (%s)",
				     j->reason[0] ? j->reason : j->state_word);
			return;
		}
		slurm_reason(q, "%s", j->reason);
		return;
	}
	have = runstore_exit_code(sl->store, q->run_id, q->attempt, &code,
				  err, sizeof(err));
	if (!j) {
		if (have == 1) {
			q->state = code ? JOB_FAILED : JOB_COMPLETED;
			q->exit_code = code;
			if (code)
				slurm_reason(q, "exit "
					 "code %d", code);
			return;
		}
		q->state = JOB_UNKNOWN;
		slurm_reason(q, "Slurm no longer knows "
			 "job %lld and it left no exit code%s%s", id,
			 have < 0 ? ": " : "", have < 0 ? err : "");
		return;
	}
	q->state = j->state;
	q->start_ms = j->start_s > 0 ? j->start_s * 1000 : 0;
	q->end_ms = j->end_s > 0 ? j->end_s * 1000 : 0;
	q->exit_code = have == 1 ? code : j->exit_code;
	q->term_signal = have == 1 ? 0 : j->term_signal;
	if (j->retry) {
		slurm_reason(q, "%s%s%s%s",
			 j->state_word, j->reason[0] ? " (" : "", j->reason,
			 j->reason[0] ? ")" : "");
	} else if (j->state == JOB_COMPLETED || j->state == JOB_FAILED) {
		/* the wrapper refused a second start: it wrote no exit */
		if (have == 0 && j->exit_code == WRAPPER_EXIT_REFUSED &&
		    j->restart_cnt > 0) {
			q->state = JOB_PREEMPTED;
			slurm_reason(q, "requeued by Slurm, its second start "
				     "refused");
			return;
		}
		if (have == 0 && j->exit_code == WRAPPER_EXIT_NODIR)
			slurm_reason(q, "exit code %d: the job cannot create "
				     "its directory under %s on the node (is "
				     "shared_dir there, and writable by the "
				     "job's user?)", WRAPPER_EXIT_NODIR,
				     sl->shared_dir);
		else if (!strcmp(j->state_word, "TIMEOUT"))
			slurm_reason(q, "Slurm's time "
				 "limit reached (TIMEOUT)");
		else if (!strcmp(j->state_word, "OUT_OF_MEMORY"))
			slurm_reason(q, "out of memory "
				 "(OUT_OF_MEMORY)");
		else if (q->exit_code > 0)
			slurm_reason(q, "exit code %d%s%s%s",
				 q->exit_code, j->reason[0] ? " (" : "",
				 j->reason, j->reason[0] ? ")" : "");
		else if (q->term_signal > 0)
			slurm_reason(q, "killed by "
				 "signal %d%s%s%s", q->term_signal,
				 j->reason[0] ? " (" : "", j->reason,
				 j->reason[0] ? ")" : "");
		if (j->state == JOB_COMPLETED && q->exit_code > 0)
			q->state = JOB_FAILED;
		if (j->state == JOB_FAILED && q->exit_code == 0 &&
		    q->term_signal == 0 && !q->reason[0])
			slurm_reason(q, "%s",
				 j->reason[0] ? j->reason : j->state_word);
	} else {
		slurm_reason(q, "%s%s%s%s",
			 j->state_word, j->reason[0] ? " (" : "", j->reason,
			 j->reason[0] ? ")" : "");
	}
}

/*
 * A second job for one attempt (Slurm took a submission it had answered
 * with an error, and we sent another) is cancelled, once, while it still
 * waits, unless a query tracks it: the one its comment's key chooses (the
 * newer) is the one find() adopts. The wrapper would refuse it a start
 * anyway, but it would hold a slot and might start first.
 */
static void slurm_dups_cancel(struct slurm *sl, const struct job_query *q,
			      size_t n)
{
	char id[32], err[256];
	size_t i, k;

	for (i = 0; i < sl->ndups; i++) {
		const struct slurm_job *j = hmap_iget(&sl->by_id, sl->dups[i]);

		snprintf(id, sizeof(id), "%" PRId64, sl->dups[i]);
		for (k = 0; k < n && strcmp(q[k].job_id, id); k++)
			;
		/* one that started is the one that runs: left alone */
		if (k < n || !j || j->state != JOB_PENDING ||
		    hmap_iget(&sl->dups_cancelled, sl->dups[i]))
			continue;
		hmap_iput(&sl->dups_cancelled, sl->dups[i], (void *)1);
		log_msg(LOG_WARNING, "Slurm job %s is a second job for '%s': "
			"cancelled", id, j->comment);
		if (slurm_delete(sl, id, NULL, err, sizeof(err)))
			log_msg(LOG_WARNING, "cannot cancel Slurm job %s: %s",
				id, err);
	}
}

static int slurm_poll(struct connector *c, struct job_query *q, size_t n,
		      char *err, size_t errlen)
{
	struct slurm *sl = c->priv;
	uint64_t before = http_pool_requests(sl->pool);
	size_t i;
	int rc;

	pthread_mutex_lock(&sl->lock);
	rc = slurm_refresh(sl, 0, err, errlen);
	for (i = 0; i < n && !rc; i++)
		slurm_poll_one(sl, &q[i]);
	if (!rc)
		slurm_dups_cancel(sl, q, n);
	pthread_mutex_unlock(&sl->lock);
	__atomic_store_n(&sl->poll_requests, http_pool_requests(sl->pool) -
			 before, __ATOMIC_RELAXED);
	return rc;
}

/* DELETE job/<id>[?signal=S]: TFS_OK also for a job already ended. */
static int slurm_delete(struct slurm *sl, const char *id, const char *sig,
			char *err, size_t errlen)
{
	struct http_response resp;
	char path[128];
	int rc, serr;

	snprintf(path, sizeof(path), "job/%s%s%s", id, sig ? "?signal=" : "",
		 sig ? sig : "");
	rc = slurm_call(sl, "DELETE", path, NULL, &resp, &serr, err, errlen);
	http_response_release(&resp);
	if (rc == TFS_EINVAL && !sig && (serr == SLURM_ESLURM_INVALID_JOB_ID ||
					 serr == SLURM_ESLURM_ALREADY_DONE))
		return TFS_OK;
	return rc;
}

static int slurm_cancel(struct connector *c, const struct job_query *q,
			int kill_grace_s, char *err, size_t errlen)
{
	struct slurm *sl = c->priv;
	char key[SLURM_KEY_MAX], id[32];
	const struct slurm_job *j;

	(void)kill_grace_s;        /* Slurm's KillWait is the cluster's */
	if (q->job_id && q->job_id[0])
		return slurm_delete(sl, q->job_id, NULL, err, errlen);
	/* not confirmed yet: the job of its comment, if Slurm has it */
	pthread_mutex_lock(&sl->lock);
	if (slurm_refresh(sl, 0, err, errlen)) {
		pthread_mutex_unlock(&sl->lock);
		return TFS_EAGAIN;
	}
	slurm_key(key, sizeof(key), q->run_id, q->attempt);
	j = hmap_sget(&sl->by_comment, key);
	if (j)
		snprintf(id, sizeof(id), "%" PRId64, j->job_id);
	pthread_mutex_unlock(&sl->lock);
	if (!j) {
		snprintf(err, errlen, "the job is not in Slurm yet");
		return TFS_EAGAIN;
	}
	return slurm_delete(sl, id, NULL, err, errlen);
}

static int slurm_signal(struct connector *c, const struct job_query *q,
			enum job_signal sig, char *err, size_t errlen)
{
	struct slurm *sl = c->priv;

	if (!q->job_id || !q->job_id[0]) {
		snprintf(err, errlen, "the job is not in Slurm yet");
		return TFS_EAGAIN;
	}
	return slurm_delete(sl, q->job_id, sig == JOB_SIG_PAUSE ? "STOP" :
			    "CONT", err, errlen);
}

static int slurm_sync(struct connector *c, struct job_query *q, char *err,
		      size_t errlen)
{
	struct slurm *sl = c->priv;

	return runstore_sync(sl->store, q, SLURM_SYNC_MAX, err, errlen);
}

static int slurm_list_artifacts(struct connector *c, const struct job_query *q,
				artifact_cb cb, void *arg, char *err,
				size_t errlen)
{
	struct slurm *sl = c->priv;
	char base[ARTIFACT_URL_MAX];

	if (sl->artifact_base_url) {
		snprintf(base, sizeof(base), "%s", sl->artifact_base_url);
	} else {
		snprintf(base, sizeof(base), "file://");
		url_path_append(base, sizeof(base), sl->shared_dir);
		snprintf(base + strlen(base), sizeof(base) - strlen(base), "/");
	}
	return runstore_list_artifacts(sl->store, q, base, cb, arg, err,
				       errlen);
}



static int slurm_status(struct connector *c, char *out, size_t outlen)
{
	struct slurm *sl = c->priv;
	int64_t exp = __atomic_load_n(&sl->token_exp, __ATOMIC_RELAXED);
	char when[64] = "unknown";

	if (exp > 0)
		time_format(exp * 1000, when, sizeof(when));
	return snprintf(out, outlen, "url: %s\nrequests: %" PRIu64 "\n"
			"requests_last_poll: %" PRIu64 "\ntoken_expires: %s\n",
			sl->shown, http_pool_requests(sl->pool),
			__atomic_load_n(&sl->poll_requests, __ATOMIC_RELAXED),
			when);
}

/* ---- set-up ---- */

static void slurm_release(struct connector *c)
{
	struct slurm *sl = c->priv;

	if (!sl)
		return;
	slurm_jobs_clear(sl);
	hmap_release(&sl->accepted);
	hmap_release(&sl->dups_cancelled);
	secret_src_release(&sl->token);
	marks_close(sl->marks);
	pthread_mutex_destroy(&sl->token_lock);
	pthread_mutex_destroy(&sl->lock);
	runstore_close(sl->store);
	http_pool_free(sl->pool);
	free(sl->url);
	free(sl->shown);
	free(sl->user);
	free(sl->api);
	free(sl->partition);
	free(sl->account);
	free(sl->path_env);
	free(sl->shared_dir);
	free(sl->artifact_base_url);
	free(sl->fault);
	free(sl);
	c->priv = NULL;
}

/* The keys of the config one by one; the checks across them follow. */
static int slurm_conf_keys(struct connector *c, struct slurm *sl,
			   const cJSON *conf, char **token_file,
			   char **token_env, char **url, char *err,
			   size_t errlen)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, conf) {
		const char *k = it->string;
		long long v;
		int bad = 0;

		if (!strcmp(k, "type"))
			bad = !cJSON_IsString(it) ||
			      strcmp(it->valuestring, "slurm");
		else if (!strcmp(k, "url"))
			bad = json_str_line(it, 1024, url, err, errlen);
		else if (!strcmp(k, "user"))
			bad = json_str_line(it, 256, &sl->user, err, errlen);
		else if (!strcmp(k, "token_file"))
			bad = json_str_line(it, 1024, token_file, err, errlen);
		else if (!strcmp(k, "token_env"))
			bad = json_str_line(it, 256, token_env, err, errlen);
		else if (!strcmp(k, "api_version"))
			bad = json_str_line(it, 16, &sl->api, err, errlen);
		else if (!strcmp(k, "partition"))
			bad = json_str_line(it, 256, &sl->partition, err,
					     errlen);
		else if (!strcmp(k, "account"))
			bad = json_str_line(it, 256, &sl->account, err,
					     errlen);
		else if (!strcmp(k, "shared_dir"))
			bad = json_str_line(it, 1024, &sl->shared_dir, err,
					     errlen);
		else if (!strcmp(k, "artifact_base_url"))
			bad = json_str_line(it, 1024, &sl->artifact_base_url,
					     err, errlen);
		else if (!strcmp(k, "path"))
			bad = json_str_line(it, 4096, &sl->path_env, err,
					     errlen);
		else if (!strcmp(k, "poll_ms")) {
			bad = json_int_range(it, "", 50, 3600000, &v, err,
					     errlen);
			if (!bad)
				c->poll_ms = (int)v;
		} else if (!strcmp(k, "slots"))
			/* by default nothing is held back here: Slurm
			 * queues what we hand it */
			bad = connector_conf_slots(c, it, err, errlen) != TFS_OK;
		else if (!strcmp(k, "price_per_hour"))
			bad = connector_conf_price(c, it, err, errlen) != TFS_OK;
		else {
			snprintf(err, errlen, "unknown key '%.100s'", k);
			return -1;
		}
		if (bad && !strcmp(k, "type"))
			snprintf(err, errlen, "'type' must be \"slurm\"");
		if (bad)
			return -1;
	}
	return 0;
}

/* api_version: "v0.0.NN" as slurmrestd names its plugins. */
static int slurm_api_valid(const char *v)
{
	size_t i;

	if (strncmp(v, "v0.0.", 5) || !v[5] || strlen(v) > 8)
		return 0;
	for (i = 5; v[i]; i++)
		if (v[i] < '0' || v[i] > '9')
			return 0;
	return 1;
}

static int slurm_init(struct connector *c, const cJSON *conf, char *err,
		      size_t errlen)
{
	struct slurm *sl;
	char *token_file = NULL, *token_env = NULL, *url = NULL, shown[1400];
	char store[RUNSTORE_URL_MAX];
	size_t l;

	if (!cJSON_IsObject(conf)) {
		snprintf(err, errlen, "the slurm provider needs a config "
			 "object (url, token_file, shared_dir, ...)");
		return TFS_EINVAL;
	}
	sl = xcalloc(1, sizeof(*sl));
	sl->conn = c;
	pthread_mutex_init(&sl->token_lock, NULL);
	pthread_mutex_init(&sl->lock, NULL);
	c->priv = sl;
	c->submit_lanes = SLURM_SUBMIT_LANES;
	c->cap_cpus = 1 << 20;
	c->cap_gpus = 1 << 16;
	c->cap_memory_mb = 1LL << 40;
	c->cap_max_jobs = 10000;
	if (slurm_conf_keys(c, sl, conf, &token_file, &token_env, &url, err,
			    errlen))
		goto fail;
	if (!url || (strncmp(url, "http://", 7) && strncmp(url, "https://", 8))) {
		snprintf(err, errlen, "'url' must be slurmrestd's http(s) URL, "
			 "e.g. \"http://127.0.0.1:6820\"");
		goto fail;
	}
	if (!sl->api)
		sl->api = xstrdup("v0.0.38");
	if (!slurm_api_valid(sl->api)) {
		snprintf(err, errlen, "'api_version' must be like \"v0.0.38\"");
		goto fail;
	}
	if (!sl->shared_dir || sl->shared_dir[0] != '/') {
		snprintf(err, errlen, "'shared_dir' must be an absolute path "
			 "that this host and the cluster's nodes both see");
		goto fail;
	}
	l = strlen(sl->shared_dir);
	while (l > 1 && sl->shared_dir[l - 1] == '/')
		sl->shared_dir[--l] = '\0';
	if (mkdir_p(sl->shared_dir, 0755) < 0) {
		snprintf(err, errlen, "cannot create the shared directory "
			 "'%s': %s", sl->shared_dir, strerror(errno));
		goto fail;
	}
	if (sl->artifact_base_url && strncmp(sl->artifact_base_url, "http://",
					     7) &&
	    strncmp(sl->artifact_base_url, "https://", 8)) {
		snprintf(err, errlen, "'artifact_base_url' must be an http(s) "
			 "URL that serves shared_dir");
		goto fail;
	}
	if (sl->artifact_base_url &&
	    sl->artifact_base_url[strlen(sl->artifact_base_url) - 1] != '/') {
		char *u = xmalloc(strlen(sl->artifact_base_url) + 2);

		sprintf(u, "%s/", sl->artifact_base_url);
		free(sl->artifact_base_url);
		sl->artifact_base_url = u;
	}
	if (!token_file == !token_env) {
		snprintf(err, errlen, "give the JWT as one of 'token_file' and "
			 "'token_env'");
		goto fail;
	}
	if (secret_src_init(&sl->token, token_env, token_file, err, errlen))
		goto fail;
	sl->token_exp = slurm_token_expiry(strncmp(sl->token.value,
						   "SLURM_JWT=", 10) ?
					   sl->token.value :
					   sl->token.value + 10);
	if (!sl->user) {
		struct passwd *pw = getpwuid(getuid());

		sl->user = xstrdup(pw ? pw->pw_name : "root");
	}
	if (!sl->path_env)
		sl->path_env = xstrdup(SLURM_PATH_DEFAULT);
	l = strlen(url);
	while (l && url[l - 1] == '/')
		url[--l] = '\0';
	sl->url = xmalloc(l + 32);
	sprintf(sl->url, "%s/slurm/%s", url, sl->api);
	secret_url_shown(url, shown, sizeof(shown));
	sl->shown = xstrdup(shown);
	snprintf(store, sizeof(store), "file://%s", sl->shared_dir);
	if (runstore_open(store, NULL, &sl->store, err, errlen))
		goto fail;
	if (!c->work_dir) {
		snprintf(err, errlen, "no work directory for the provider's "
			 "submitting marks");
		goto fail;
	}
	{
		char mpath[PATH_MAX];

		snprintf(mpath, sizeof(mpath), "%s/marks", c->work_dir);
		if (marks_open(mpath, &sl->marks, err, errlen))
			goto fail;
	}
	sl->pool = http_pool_new();
	if (getenv("TRAINFS_FAULT"))
		sl->fault = xstrdup(getenv("TRAINFS_FAULT"));
	free(token_file);
	free(token_env);
	free(url);
	return TFS_OK;
fail:
	free(token_file);
	free(token_env);
	free(url);
	slurm_release(c);
	return TFS_EINVAL;
}

const struct connector_ops slurm_connector_ops = {
	.type = "slurm",
	.init = slurm_init,
	.release = slurm_release,
	.ping = slurm_ping,
	.find = slurm_find,
	.submit = slurm_submit,
	.poll = slurm_poll,
	.cancel = slurm_cancel,
	.signal = slurm_signal,
	.sync = slurm_sync,
	.list_artifacts = slurm_list_artifacts,
	.status = slurm_status,
	.quote = connector_quote_conf,
};
