/*
 * cloud.c - the connector of the three cloud providers (RunPod, Lambda
 * Cloud, Vast.ai) over an adapter (cloud.h): the config, the requests
 * with their pace, the run store the wrapper ships the job's files to,
 * and find/submit/poll/cancel/sync/list_artifacts/quote.
 *
 * Requests go through cloud_call(): bearer auth from the key (a
 * lib/secret secret_src, never logged), one http_pool, and a client-side
 * pace: a token bucket of "rps" (per adapter by default) and one shared
 * "not before" time that a 429's Retry-After moves on, so that every
 * thread waits out the provider's limit together instead of each
 * spinning into it. A 401 or 403 is the key: the status says "key
 * rejected (<provider's words>)" and no request goes for
 * CLOUD_REJECT_HOLD_MS unless the key changed, so a bad key costs one
 * request per hold, not one per poll.
 *
 * Exactly once: an instance's name is "trainfs-<uuid>-<attempt>"; before
 * a launch the attempt's submitting mark is set (marks.h, in the
 * provider's work_dir). find() adopts the instance of that name from a
 * list; while a mark is there and no list taken after it shows the
 * instance, the attempt is in progress, never launched again.
 *
 * No instance idles: poll() terminates, on the pass that sees it, an
 * instance whose job wrote its exit to the store, one preempted, one that
 * never booted, and one that exited.
 */
#define _GNU_SOURCE
#include "cloud.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
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
#include "marks.h"
#include "manifest.h"
#include "runstore.h"
#include "secret.h"
#include "strvec.h"
#include "util.h"
#include "wrapper.h"

#define CLOUD_TIMEOUT_MS 30000       /* one request, all of it */
#define CLOUD_BODY_MAX (8u << 20)    /* bytes of one answer: all of it is
					parsed into cJSON before the
					bounds of its items are checked */
#define CLOUD_429_TRIES 4            /* 429s waited out in one call */
#define CLOUD_429_WAIT_MS 1000       /* when a 429 gives no Retry-After */
#define CLOUD_WAIT_MAX_MS 60000      /* the longest wait one 429 imposes */
#define CLOUD_REJECT_HOLD_MS 30000   /* no request this long after a 401,
					unless the key changed */
#define CLOUD_SETTLE_MS 180000       /* a launch is judged never made only
					from a list asked this long after
					its mark: the client's timeout while
					the provider still creates, a list
					that lags behind a launch */
#define CLOUD_STORE_ERR_MS 300000    /* a store error decides nothing
					before it lasted this long */
#define CLOUD_ODD_GRACE_MS 300000    /* an instance once running that is
					unhealthy or in an unknown state is
					taken as running this long */
#define CLOUD_LIST_MAX 64
#define CLOUD_SYNC_MAX (64 << 20)
#define CLOUD_IMAGE_DEFAULT "pytorch/pytorch:latest"
#define CLOUD_AUTH_ENV "TRAINFS_STORE_AUTH"

struct cloud {
	const struct cloud_api *api;
	struct connector *conn;
	struct cloud_conf conf;      /* what adapters see */
	char *url, *shown;
	char **gpu_types, **regions;
	char *image, *store_url;     /* store_url: no trailing '/' */
	int boot_timeout_s;
	int heartbeat_timeout_s;     /* Lambda: the log's PUTs stale this
					long end an active VM's job */
	double rps;                  /* 0: no pace */
	pthread_mutex_t key_lock;
	struct secret_src key;
	char key_err[256];
	struct secret_src store_auth; /* .env and .file NULL: none */
	int have_store_auth;
	struct runstore *store;
	struct marks *marks;         /* the launches not confirmed yet */
	struct http_pool *pool;
	/* the pace: a token bucket and the shared "not before" */
	pthread_mutex_t pace_lock;
	double tokens;
	int64_t tokens_ms;
	int64_t not_before_ms;
	/* the key's refusal, for status() (under status_lock) */
	pthread_mutex_t status_lock;
	char rejected[CLOUD_TEXT_MAX + 64]; /* "" when the key is fine */
	int64_t rejected_ms;
	/* the last list and offers (under lock) */
	pthread_mutex_t lock;
	struct cloud_inst *insts;
	size_t ninsts;
	int have_list;
	int64_t list_ms;             /* when the request of the last list went */
	struct cloud_offer *offers;
	size_t noffers;
	int64_t offers_ms;
	int64_t submit_hold_ms;      /* mono: no launch before, a 429 came */
	struct hmap jobs;            /* instance id -> struct cloud_job */
	struct hmap cancelled;       /* name -> 1: cancelled unconfirmed */
	char **cancelled_names;      /* its keys */
	size_t ncancelled;
	/* counters (atomic) */
	uint64_t requests, requests_last_poll, rate_waits, instances;
	uint64_t request_us;         /* wall time of every request, summed */
};

/* ---- list answers ---- */

int cloud_insts_parse(const cJSON *arr, const char *what, cloud_inst_fn fn,
		      struct cloud_inst **out, size_t *n, char *err,
		      size_t errlen)
{
	const cJSON *p;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(arr)) {
		snprintf(err, errlen, "%s is not an array", what);
		return TFS_EIO;
	}
	if (cJSON_GetArraySize(arr) > CLOUD_INSTANCES_MAX) {
		snprintf(err, errlen, "%s lists more than %d instances", what,
			 CLOUD_INSTANCES_MAX);
		return TFS_EIO;
	}
	*out = xcalloc((size_t)cJSON_GetArraySize(arr) + 1, sizeof(**out));
	cJSON_ArrayForEach(p, arr)
		if (cJSON_IsObject(p) && !fn(p, &(*out)[k]))
			k++;
	*n = k;
	return TFS_OK;
}

/* ---- names ---- */

void cloud_name(char *out, size_t outlen, const char *uuid, int attempt)
{
	snprintf(out, outlen, "trainfs-%s-%d", uuid, attempt);
}

static int cloud_uuid_valid(const char *u)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (u[i] != '-')
				return 0;
		} else if (!((u[i] >= '0' && u[i] <= '9') ||
			     (u[i] >= 'a' && u[i] <= 'f'))) {
			return 0;
		}
	}
	return 1;
}

int cloud_name_parse(const char *name, char *uuid, int *attempt)
{
	const char *p;
	long v = 0;

	if (!name || strncmp(name, "trainfs-", 8) || strlen(name) < 8 + 38)
		return 0;
	if (!cloud_uuid_valid(name + 8) || name[8 + 36] != '-')
		return 0;
	p = name + 8 + 37;
	if (*p < '1' || *p > '9')
		return 0;
	for (; *p; p++) {
		if (*p < '0' || *p > '9' || v > RUNSTORE_ATTEMPT_MAX)
			return 0;
		v = v * 10 + (*p - '0');
	}
	if (v > RUNSTORE_ATTEMPT_MAX)
		return 0;
	memcpy(uuid, name + 8, 36);
	uuid[36] = '\0';
	*attempt = (int)v;
	return 1;
}

const struct cloud_conf *cloud_conf(const struct cloud *cl)
{
	return &cl->conf;
}

/* ---- requests ---- */

/*
 * The cloud of c, taking note of where c is: core may move its struct
 * connector between init() and the first call (its array of providers
 * grows as the config is read), and cloud_call() reads c's stopping flag
 * without being given c.
 */
static struct cloud *cloud_of(struct connector *c)
{
	struct cloud *cl = c->priv;

	__atomic_store_n(&cl->conn, c, __ATOMIC_RELEASE);
	return cl;
}

static int cloud_stopping(const struct cloud *cl)
{
	const struct connector *c = __atomic_load_n(&cl->conn,
						    __ATOMIC_ACQUIRE);

	return __atomic_load_n(&c->stopping, __ATOMIC_ACQUIRE);
}

static int cloud_cancelled(void *arg)
{
	return cloud_stopping(arg);
}

/* Sleeps ms in short steps; 1 when the daemon stops meanwhile. */
static int cloud_sleep(const struct cloud *cl, int64_t ms)
{
	while (ms > 0) {
		int64_t step = ms < 100 ? ms : 100;
		struct timespec ts = { step / 1000, (step % 1000) * 1000000 };

		if (cloud_stopping(cl))
			return 1;
		nanosleep(&ts, NULL);
		ms -= step;
	}
	return cloud_stopping(cl);
}

/*
 * Waits for the pace: the shared "not before" and a token of the bucket
 * (burst 1 s of rps). The token is taken before the wait, so threads
 * queue behind each other rather than all waking at once.
 */
static int cloud_pace(struct cloud *cl)
{
	int64_t now, wait = 0;

	pthread_mutex_lock(&cl->pace_lock);
	now = mono_ms();
	if (cl->not_before_ms > now)
		wait = cl->not_before_ms - now;
	if (cl->rps > 0) {
		double burst = cl->rps < 1 ? 1 : cl->rps;

		cl->tokens += (double)(now - cl->tokens_ms) * cl->rps / 1000.0;
		if (cl->tokens > burst)
			cl->tokens = burst;
		cl->tokens_ms = now;
		cl->tokens -= 1;
		if (cl->tokens < 0) {
			int64_t w = (int64_t)(-cl->tokens * 1000.0 /
					      cl->rps) + 1;

			if (w > wait)
				wait = w;
		}
	}
	pthread_mutex_unlock(&cl->pace_lock);
	if (wait > 0)
		__atomic_add_fetch(&cl->rate_waits, 1, __ATOMIC_RELAXED);
	return cloud_sleep(cl, wait);
}

/* A 429: nobody sends before now + wait. */
static void cloud_hold(struct cloud *cl, int64_t wait)
{
	int64_t until;

	if (wait <= 0)
		wait = CLOUD_429_WAIT_MS;
	if (wait > CLOUD_WAIT_MAX_MS)
		wait = CLOUD_WAIT_MAX_MS;
	until = mono_ms() + wait;
	pthread_mutex_lock(&cl->pace_lock);
	if (until > cl->not_before_ms)
		cl->not_before_ms = until;
	pthread_mutex_unlock(&cl->pace_lock);
}

/* The key, copied (another thread may read the file again meanwhile). */
static int cloud_key(struct cloud *cl, char *key, size_t keylen, int *held,
		     char *err, size_t errlen)
{
	const char *k;
	int rc = TFS_OK, changed = 0;

	*held = 0;
	pthread_mutex_lock(&cl->key_lock);
	k = secret_get(&cl->key, cl->key_err, sizeof(cl->key_err));
	if (!k) {
		snprintf(err, errlen, "key unusable (%s)", cl->key_err);
		rc = TFS_EACCES;
	} else {
		snprintf(key, keylen, "%s", k);
		changed = cl->key.changed;
	}
	pthread_mutex_unlock(&cl->key_lock);
	if (rc)
		return rc;
	pthread_mutex_lock(&cl->status_lock);
	if (cl->rejected[0] && !changed &&
	    mono_ms() - cl->rejected_ms < CLOUD_REJECT_HOLD_MS) {
		snprintf(err, errlen, "%s", cl->rejected);
		*held = 1;
	}
	pthread_mutex_unlock(&cl->status_lock);
	return *held ? TFS_EACCES : TFS_OK;
}

/* words NULL: the key was taken (a 2xx). */
static void cloud_set_rejected(struct cloud *cl, const char *words)
{
	pthread_mutex_lock(&cl->status_lock);
	if (words) {
		snprintf(cl->rejected, sizeof(cl->rejected),
			 "key rejected (%s)", words);
		cl->rejected_ms = mono_ms();
	} else {
		cl->rejected[0] = '\0';
	}
	pthread_mutex_unlock(&cl->status_lock);
}

/* The provider's words of an error answer, or what lib/http said. */
static void cloud_words(struct cloud *cl, const struct http_request *rq,
			const struct http_response *resp, char *out,
			size_t outlen)
{
	cJSON *b = resp->body && resp->body_len ?
		cJSON_ParseWithLength(resp->body, resp->body_len) : NULL;

	out[0] = '\0';
	if (b && cl->api->errmsg)
		cl->api->errmsg(b, out, outlen);
	cJSON_Delete(b);
	if (!out[0])
		snprintf(out, outlen, "%.200s", resp->body && resp->body_len ?
			 resp->body : resp->error);
	out[strcspn(out, "\r\n")] = '\0';
	http_redact_request(rq, out);
}

/* Monotonic microseconds, for the requests' time in status(). */
static uint64_t mono_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static int cloud_store_header(struct cloud *cl, char *out, size_t outlen,
			      char *err, size_t errlen);

int cloud_call(struct cloud *cl, const char *method, const char *path,
	       const cJSON *body, cJSON **answer, long *status,
	       char *err, size_t errlen)
{
	char key[SECRET_MAX + 1], url[HTTP_URL_MAX], words[CLOUD_TEXT_MAX];
	char store[SECRET_MAX + 64];
	const char *secrets[3] = { key, NULL, NULL };
	const char *headers[5];
	struct buf auth = BUF_INIT(SECRET_MAX + 64);
	struct http_request rq = { 0 };
	struct http_response resp = HTTP_RESPONSE_INIT;
	char *text = NULL;
	int rc, held, tries, idem;
	uint64_t t0;

	*answer = NULL;
	if (status)
		*status = 0;
	store[0] = '\0';
	rc = cloud_key(cl, key, sizeof(key), &held, err, errlen);
	if (rc)
		goto out;
	/* the store's credential too: a 4xx may quote a launch's body (its
	 * env, Lambda's user_data), and err goes to events and SQLite */
	if (!cloud_store_header(cl, store, sizeof(store), words,
				sizeof(words)) && store[0])
		secrets[1] = store + 15;   /* past "Authorization: " */
	if (buf_printf(&auth, "Authorization: Bearer %s", key)) {
		snprintf(err, errlen, "key too long");
		rc = TFS_EACCES;
		goto out;
	}
	if (body) {
		text = cJSON_PrintUnformatted(body);
		if (!text) {
			snprintf(err, errlen, "out of memory");
			rc = TFS_ENOMEM;
			goto out;
		}
	}
	if ((size_t)snprintf(url, sizeof(url), "%s%s", cl->url, path) >=
	    sizeof(url)) {
		snprintf(err, errlen, "URL too long");
		rc = TFS_EINVAL;
		goto out;
	}
	headers[0] = auth.p;
	headers[1] = "Accept: application/json";
	headers[2] = text ? "Content-Type: application/json" : NULL;
	headers[3] = NULL;
	rq.method = method;
	rq.url = url;
	rq.headers = headers;
	rq.body = text;
	rq.body_len = text ? strlen(text) : 0;
	rq.secrets = secrets;
	rq.max_response = CLOUD_BODY_MAX;
	rq.timeout_ms = CLOUD_TIMEOUT_MS;
	rq.max_redirs = -1;
	rq.pool = cl->pool;
	rq.cancelled = cloud_cancelled;
	rq.arg = cl;
	/* GET and DELETE are tried again on a connection error or a 5xx; a
	 * POST or PUT only when nothing was sent (see below): the caller's
	 * find() decides whether a launch happened */
	idem = !strcmp(method, "GET") || !strcmp(method, "DELETE");
	rq.retry = (struct http_retry){ idem ? 3 : 1, 200, 2000, 20, 0,
					idem ? HTTP_RETRY_CONNECT |
					HTTP_RETRY_5XX : 0 };
	for (tries = 0;; tries++) {
		if (cloud_pace(cl)) {
			snprintf(err, errlen, "stopped: the daemon is stopping");
			rc = TFS_EINTR;
			goto out;
		}
		http_response_release(&resp);
		t0 = mono_us();
		rc = http_request(&rq, &resp);
		__atomic_add_fetch(&cl->request_us, mono_us() - t0,
				   __ATOMIC_RELAXED);
		__atomic_add_fetch(&cl->requests, 1, __ATOMIC_RELAXED);
		__atomic_add_fetch(&cl->requests_last_poll, 1,
				   __ATOMIC_RELAXED);
		if (resp.status != 429 || tries + 1 >= CLOUD_429_TRIES)
			break;
		/* a 429 was not acted on: the same request may go again,
		 * after the wait every thread now shares */
		__atomic_add_fetch(&cl->rate_waits, 1, __ATOMIC_RELAXED);
		cloud_hold(cl, resp.retry_after_ms);
	}
	if (status)
		*status = resp.status;
	if (rc == TFS_EINTR) {
		snprintf(err, errlen, "stopped: the daemon is stopping");
		goto out;
	}
	if (rc == TFS_OK) {
		if (resp.body_len) {
			*answer = cJSON_ParseWithLength(resp.body,
							resp.body_len);
			if (!*answer) {
				snprintf(err, errlen, "%s %s: the answer is "
					 "not JSON", method, path);
				rc = TFS_EIO;
				goto out;
			}
		}
		cloud_set_rejected(cl, NULL);
		goto out;
	}
	if (resp.status == 0) {
		snprintf(err, errlen, "cannot reach %s at %s: %s",
			 cl->api->type, cl->shown, resp.error);
		rc = TFS_EIO;
		goto out;
	}
	cloud_words(cl, &rq, &resp, words, sizeof(words));
	if (resp.status == 401 || resp.status == 403) {
		cloud_set_rejected(cl, words);
		snprintf(err, errlen, "key rejected (%s)", words);
		rc = TFS_EACCES;
	} else if (resp.status == 429) {
		cloud_hold(cl, resp.retry_after_ms);
		snprintf(err, errlen, "%s %s: rate limited (%s)", method, path,
			 words);
		rc = TFS_EBUSY;   /* not "no capacity": nothing was judged */
	} else if (resp.status == 404) {
		snprintf(err, errlen, "%s %s: %s", method, path, words);
		rc = TFS_ENOENT;
	} else if (resp.status >= 500) {
		snprintf(err, errlen, "%s %s answered %ld: %s", method, path,
			 resp.status, words);
		rc = TFS_EIO;
	} else {
		snprintf(err, errlen, "%s %s answered %ld: %s", method, path,
			 resp.status, words);
		rc = TFS_EINVAL;
	}
out:
	if (auth.p)
		explicit_bzero(auth.p, auth.len);
	buf_release(&auth);
	explicit_bzero(key, sizeof(key));
	explicit_bzero(store, sizeof(store));
	free(text);
	http_response_release(&resp);
	return rc;
}

/* ---- set-up ---- */

static int cloud_adapter_key(const struct cloud_api *api, const char *k)
{
	size_t i;

	for (i = 0; api->keys && api->keys[i]; i++)
		if (!strcmp(api->keys[i], k))
			return 1;
	return 0;
}

/*
 * gpu_types and regions: arrays of strings; gpu_types entries may be
 * objects with an "id" when the adapter reads them too (RunPod's
 * prices), the adapter then checking their other keys.
 */
static int cloud_conf_list(const struct cloud_api *api, const cJSON *it,
			   char ***out, char *err, size_t errlen)
{
	const cJSON *e;
	int n = 0, objs = !strcmp(it->string, "gpu_types") &&
			  cloud_adapter_key(api, "gpu_types");

	if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) > CLOUD_LIST_MAX) {
		snprintf(err, errlen, "'%s' must be an array of at most %d "
			 "names", it->string, CLOUD_LIST_MAX);
		return -1;
	}
	strv_free(*out);
	*out = xcalloc((size_t)cJSON_GetArraySize(it) + 1, sizeof(**out));
	cJSON_ArrayForEach(e, it) {
		const cJSON *s = e;

		if (objs && cJSON_IsObject(e))
			s = cJSON_GetObjectItemCaseSensitive(e, "id");
		if (!cJSON_IsString(s) || !s->valuestring[0] ||
		    strlen(s->valuestring) >= CLOUD_ID_MAX ||
		    s->valuestring[strcspn(s->valuestring, "\r\n\"")]) {
			snprintf(err, errlen, "'%s[%d]' must be a name of at "
				 "most %d bytes%s", it->string, n,
				 CLOUD_ID_MAX - 1, objs ? " or an object with "
				 "one as \"id\"" : "");
			return -1;
		}
		(*out)[n++] = xstrdup(s->valuestring);
	}
	return 0;
}

static int cloud_conf_num(const cJSON *it, double lo, double hi, double *out,
			  char *err, size_t errlen)
{
	if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
	    it->valuedouble < lo || it->valuedouble > hi) {
		snprintf(err, errlen, "'%s' must be a number from %g to %g",
			 it->string, lo, hi);
		return -1;
	}
	*out = it->valuedouble;
	return 0;
}

struct cloud_secrets {
	char *key_env, *key_file, *auth_env, *auth_file, *url, *store;
};

static void cloud_secrets_free(struct cloud_secrets *s)
{
	free(s->key_env);
	free(s->key_file);
	free(s->auth_env);
	free(s->auth_file);
	free(s->url);
	free(s->store);
}

/* The keys one by one; the checks across them follow in cloud_init(). */
static int cloud_conf_keys(struct connector *c, struct cloud *cl,
			   const cJSON *conf, struct cloud_secrets *s,
			   char *err, size_t errlen)
{
	const cJSON *it;

	cJSON_ArrayForEach(it, conf) {
		const char *k = it->string;
		long long v;
		double d;
		int bad = 0;

		if (!strcmp(k, "type")) {
			bad = !cJSON_IsString(it) ||
			      strcmp(it->valuestring, cl->api->type);
			if (bad)
				snprintf(err, errlen, "'type' must be \"%s\"",
					 cl->api->type);
		} else if (!strcmp(k, "url"))
			bad = json_str_line(it, 1024, &s->url, err, errlen);
		else if (!strcmp(k, "api_key_env"))
			bad = json_str_line(it, 256, &s->key_env, err, errlen);
		else if (!strcmp(k, "api_key_file"))
			bad = json_str_line(it, 1024, &s->key_file, err,
					     errlen);
		else if (!strcmp(k, "store"))
			bad = json_str_line(it, RUNSTORE_URL_MAX - 64,
					     &s->store, err, errlen);
		else if (!strcmp(k, "store_auth_env"))
			bad = json_str_line(it, 256, &s->auth_env, err,
					     errlen);
		else if (!strcmp(k, "store_auth_file"))
			bad = json_str_line(it, 1024, &s->auth_file, err,
					     errlen);
		else if (!strcmp(k, "image"))
			bad = json_str_line(it, 512, &cl->image, err, errlen);
		else if (!strcmp(k, "gpu_types"))
			bad = cloud_conf_list(cl->api, it, &cl->gpu_types, err,
					      errlen);
		else if (!strcmp(k, "regions"))
			bad = cloud_conf_list(cl->api, it, &cl->regions, err,
					      errlen);
		else if (!strcmp(k, "interruptible")) {
			bad = !cJSON_IsBool(it);
			if (bad)
				snprintf(err, errlen, "'interruptible' must "
					 "be true or false");
			else
				cl->conf.interruptible = cJSON_IsTrue(it);
		} else if (!strcmp(k, "max_price_per_hour"))
			bad = cloud_conf_num(it, 0, 10000,
					     &cl->conf.max_price_per_hour,
					     err, errlen);
		else if (!strcmp(k, "rps")) {
			bad = cloud_conf_num(it, 0, 1000, &d, err, errlen);
			if (!bad)
				cl->rps = d;
		} else if (!strcmp(k, "boot_timeout_s")) {
			bad = json_int_range(it, "", 10, 86400, &v, err,
					     errlen);
			if (!bad)
				cl->boot_timeout_s = (int)v;
		} else if (!strcmp(k, "heartbeat_timeout_s")) {
			bad = json_int_range(it, "", 5, 86400, &v, err,
					     errlen);
			if (!bad)
				cl->heartbeat_timeout_s = (int)v;
		} else if (!strcmp(k, "poll_ms")) {
			bad = json_int_range(it, "", 50, 3600000, &v, err,
					     errlen);
			if (!bad)
				c->poll_ms = (int)v;
		} else if (!strcmp(k, "slots"))
			bad = connector_conf_slots(c, it, err, errlen) != TFS_OK;
		else if (!cloud_adapter_key(cl->api, k)) {
			snprintf(err, errlen, "unknown key '%.100s'", k);
			return -1;
		}
		if (bad)
			return -1;
	}
	return 0;
}

/* The pace a provider's documented limit allows, by default. */
static double cloud_default_rps(const char *type)
{
	if (!strcmp(type, "lambda"))
		return 1;
	if (!strcmp(type, "runpod"))
		return 5;
	return 3;
}

void cloud_release(struct connector *c)
{
	struct cloud *cl = c->priv;

	if (!cl)
		return;
	if (cl->api->release && cl->conf.priv)
		cl->api->release(cl->conf.priv);
	secret_src_release(&cl->key);
	secret_src_release(&cl->store_auth);
	runstore_close(cl->store);
	marks_close(cl->marks);
	http_pool_free(cl->pool);
	pthread_mutex_destroy(&cl->key_lock);
	pthread_mutex_destroy(&cl->pace_lock);
	pthread_mutex_destroy(&cl->status_lock);
	pthread_mutex_destroy(&cl->lock);
	free(cl->insts);
	free(cl->offers);
	for (size_t i = 0; i < cl->jobs.nb; i++)
		for (struct hmap_entry *e = cl->jobs.b[i]; e; e = e->next)
			free(e->val);
	hmap_release(&cl->jobs);
	hmap_release(&cl->cancelled);
	for (size_t i = 0; i < cl->ncancelled; i++)
		free(cl->cancelled_names[i]);
	free(cl->cancelled_names);
	strv_free(cl->gpu_types);
	strv_free(cl->regions);
	free(cl->url);
	free(cl->shown);
	free(cl->image);
	free(cl->store_url);
	free(cl);
	c->priv = NULL;
}

/* The store's Authorization header line, or "" (caller wipes it). */
static int cloud_store_header(struct cloud *cl, char *out, size_t outlen,
			      char *err, size_t errlen)
{
	const char *v;

	out[0] = '\0';
	if (!cl->have_store_auth)
		return TFS_OK;
	pthread_mutex_lock(&cl->key_lock);
	v = secret_get(&cl->store_auth, err, errlen);
	if (v)
		snprintf(out, outlen, "Authorization: %s", v);
	pthread_mutex_unlock(&cl->key_lock);
	return v ? TFS_OK : TFS_EACCES;
}

/* 1 when the store URL carries a userinfo, a query or a fragment. */
static int cloud_store_plain(const char *url)
{
	const char *a = strstr(url, "://");
	size_t host;

	if (strpbrk(url, "?#"))
		return 1;
	if (!a)
		return 0;
	a += 3;
	host = strcspn(a, "/");
	return memchr(a, '@', host) != NULL;
}

int cloud_init(struct connector *c, const cJSON *conf,
	       const struct cloud_api *api, char *err, size_t errlen)
{
	struct cloud_secrets s = { 0 };
	struct cloud *cl;
	char shown[SECRET_URL_SHOWN_MAX + 64], hdr[SECRET_MAX + 64];
	const char *hdrs[2] = { hdr, NULL };
	size_t l;

	if (!cJSON_IsObject(conf)) {
		snprintf(err, errlen, "the %s provider needs a config object "
			 "(api_key_env or api_key_file, store, ...)",
			 api->type);
		return TFS_EINVAL;
	}
	cl = xcalloc(1, sizeof(*cl));
	cl->api = api;
	cl->conn = c;
	pthread_mutex_init(&cl->key_lock, NULL);
	pthread_mutex_init(&cl->pace_lock, NULL);
	pthread_mutex_init(&cl->status_lock, NULL);
	pthread_mutex_init(&cl->lock, NULL);
	c->priv = cl;
	cl->boot_timeout_s = 600;
	cl->heartbeat_timeout_s = 600;
	cl->rps = cloud_default_rps(api->type);
	cl->tokens_ms = mono_ms();
	c->cap_cpus = 1 << 20;
	c->cap_gpus = 1 << 16;
	c->cap_memory_mb = 1LL << 40;
	c->cap_max_jobs = 100;
	c->submit_lanes = 1;
	if (cloud_conf_keys(c, cl, conf, &s, err, errlen))
		goto fail;
	if (!s.url)
		s.url = xstrdup(api->default_url);
	if (strncmp(s.url, "http://", 7) && strncmp(s.url, "https://", 8)) {
		snprintf(err, errlen, "'url' must be an http(s) URL");
		goto fail;
	}
	l = strlen(s.url);
	while (l && s.url[l - 1] == '/')
		s.url[--l] = '\0';
	cl->url = xstrdup(s.url);
	secret_url_shown(cl->url, shown, sizeof(shown));
	cl->shown = xstrdup(shown);
	if (!s.key_env == !s.key_file) {
		snprintf(err, errlen, "give the API key as one of "
			 "'api_key_env' and 'api_key_file'");
		goto fail;
	}
	if (secret_src_init(&cl->key, s.key_env, s.key_file, err, errlen))
		goto fail;
	if (!s.store || (strncmp(s.store, "http://", 7) &&
			 strncmp(s.store, "https://", 8) &&
			 strncmp(s.store, "file://", 7))) {
		snprintf(err, errlen, "'store' must be the run store's URL "
			 "prefix, http(s):// (or file:// for tests)");
		goto fail;
	}
	if (cloud_store_plain(s.store)) {
		/* it would spread: the start command, curl's argv, every
		 * artifact URL in SQLite */
		snprintf(err, errlen, "'store' must not hold a user:password@, "
			 "a query or a fragment: give the credential as "
			 "store_auth_env or store_auth_file");
		goto fail;
	}
	l = strlen(s.store);
	while (l && s.store[l - 1] == '/')
		s.store[--l] = '\0';
	cl->store_url = xstrdup(s.store);
	if (s.auth_env && s.auth_file) {
		snprintf(err, errlen, "give the store's credential as at most "
			 "one of 'store_auth_env' and 'store_auth_file'");
		goto fail;
	}
	if (s.auth_env || s.auth_file) {
		if (secret_src_init(&cl->store_auth, s.auth_env, s.auth_file,
				    err, errlen))
			goto fail;
		cl->have_store_auth = 1;
	}
	if (cloud_store_header(cl, hdr, sizeof(hdr), err, errlen))
		goto fail;
	if (runstore_open(cl->store_url, hdr[0] ? hdrs : NULL, &cl->store,
			  err, errlen)) {
		explicit_bzero(hdr, sizeof(hdr));
		goto fail;
	}
	explicit_bzero(hdr, sizeof(hdr));
	if (!cl->image)
		cl->image = xstrdup(CLOUD_IMAGE_DEFAULT);
	if (!cl->gpu_types)
		cl->gpu_types = xcalloc(1, sizeof(char *));
	if (!cl->regions)
		cl->regions = xcalloc(1, sizeof(char *));
	cl->conf.name = c->name;
	cl->conf.url = cl->url;
	cl->conf.gpu_types = (const char *const *)cl->gpu_types;
	cl->conf.regions = (const char *const *)cl->regions;
	if (api->init && api->init(cl, conf, &cl->conf.priv, err, errlen))
		goto fail;
	if (!c->work_dir) {
		snprintf(err, errlen, "no work directory for the provider's "
			 "submitting marks");
		goto fail;
	}
	{
		char mpath[4096];

		snprintf(mpath, sizeof(mpath), "%s/marks", c->work_dir);
		if (marks_open(mpath, &cl->marks, err, errlen))
			goto fail;
	}
	cl->pool = http_pool_new();
	cloud_secrets_free(&s);
	return TFS_OK;
fail:
	cloud_secrets_free(&s);
	cloud_release(c);
	return TFS_EINVAL;
}

/* ---- the list and the offers ---- */

/* What poll() remembers of a job between passes (under cl->lock). */
struct cloud_job {
	char id[CLOUD_ID_MAX];
	int64_t first_ms;            /* when poll() first saw it */
	int64_t missing_ms;          /* since when the list lacks it, or 0 */
	int cancelled;               /* cancel() terminated it */
	int64_t store_err_ms;        /* since when its exit is unreadable */
	int64_t odd_ms;              /* since when a once running instance
					is unhealthy or in a state not
					running */
	int seen_running;            /* a list showed it running */
	uint64_t beat;               /* the log's stamp (runstore_stamp) */
	int64_t beat_ms;             /* when it last changed, or 0 */
	int64_t beat_asked_ms;       /* when it was last asked */
};

static int cloud_poll_ms(const struct cloud *cl)
{
	const struct connector *c = __atomic_load_n(&cl->conn,
						    __ATOMIC_ACQUIRE);

	return c->poll_ms > 0 ? c->poll_ms : 1000;
}

/* One list request; the answer replaces the last. */
static int cloud_refresh(struct cloud *cl, char *err, size_t errlen)
{
	struct cloud_inst *insts = NULL;
	int64_t asked = now_ms();
	size_t n = 0;
	int rc = cl->api->list(cl, &insts, &n, err, errlen);

	if (rc) {
		free(insts);
		return rc;
	}
	pthread_mutex_lock(&cl->lock);
	free(cl->insts);
	cl->insts = insts;
	cl->ninsts = n;
	cl->have_list = 1;
	cl->list_ms = asked;
	pthread_mutex_unlock(&cl->lock);
	__atomic_store_n(&cl->instances, (uint64_t)n, __ATOMIC_RELAXED);
	return TFS_OK;
}

/* The instance named name or with id id in the last list (under lock). */
static const struct cloud_inst *cloud_inst_find(const struct cloud *cl,
						const char *name,
						const char *id)
{
	const struct cloud_inst *best = NULL;
	size_t i;

	for (i = 0; i < cl->ninsts; i++) {
		const struct cloud_inst *in = &cl->insts[i];

		if (id && !strcmp(in->id, id))
			return in;
		/* a live one of the name wins over a terminated one */
		if (name && !strcmp(in->name, name) &&
		    (!best || best->state == CLOUD_GONE))
			best = in;
	}
	return best;
}

static int cloud_offer_cmp(const void *a, const void *b)
{
	const struct cloud_offer *x = a, *y = b;

	if ((x->available > 0) != (y->available > 0))
		return x->available > 0 ? -1 : 1;
	return x->price_per_hour < y->price_per_hour ? -1 :
	       x->price_per_hour > y->price_per_hour;
}

static int cloud_in(char *const *list, const char *a, const char *b)
{
	size_t i;

	if (!list[0])
		return 1;
	for (i = 0; list[i]; i++)
		if (!strcasecmp(list[i], a) || (b && !strcasecmp(list[i], b)))
			return 1;
	return 0;
}

/* Whether offer o may run need under the provider's config. */
static int cloud_offer_fits(const struct cloud *cl, const struct cloud_offer *o,
			    const struct job_need *need)
{
	if (!cloud_in(cl->gpu_types, o->id, o->gpu))
		return 0;
	if (o->region[0] && !cloud_in(cl->regions, o->region, NULL))
		return 0;
	if (cl->conf.max_price_per_hour > 0 &&
	    o->price_per_hour > cl->conf.max_price_per_hour)
		return 0;
	if (need->gpus > 0 && o->gpus && o->gpus < need->gpus)
		return 0;
	if (need->gpu_type && need->gpu_type[0] &&
	    !strcasestr(o->gpu, need->gpu_type) &&
	    !strcasestr(o->id, need->gpu_type))
		return 0;
	if (need->cpus > 0 && o->cpus && o->cpus < need->cpus)
		return 0;
	if (need->memory_mb > 0 && o->memory_mb && o->memory_mb <
	    need->memory_mb)
		return 0;
	return 1;
}

/*
 * The offers for need that the config allows, cheapest with capacity
 * first (caller frees). need NULL: all of them, for the quote cache.
 */
static int cloud_offers(struct cloud *cl, const struct job_need *need,
			struct cloud_offer **out, size_t *n, char *err,
			size_t errlen)
{
	struct job_need all = { 0, 0, 0, NULL, -1 };
	struct cloud_offer *o = NULL;
	size_t k = 0, i;
	int rc = cl->api->offers(cl, need ? need : &all, &o, &k, err, errlen);

	*out = NULL;
	*n = 0;
	if (rc) {
		free(o);
		return rc;
	}
	if (k > CLOUD_OFFERS_MAX)
		k = CLOUD_OFFERS_MAX;
	for (i = 0; i < k;) {
		if (!cloud_offer_fits(cl, &o[i], need ? need : &all))
			o[i] = o[--k];
		else
			i++;
	}
	qsort(o, k, sizeof(*o), cloud_offer_cmp);
	*out = o;
	*n = k;
	return TFS_OK;
}

#define CLOUD_OFFERS_FRESH_MS 30000  /* the quote cache's age at most */

/* The quote cache, refreshed when stale (the poller's thread only). */
static void cloud_offers_refresh(struct cloud *cl)
{
	struct cloud_offer *o;
	char err[256];
	size_t n;

	pthread_mutex_lock(&cl->lock);
	if (cl->offers_ms && now_ms() - cl->offers_ms < CLOUD_OFFERS_FRESH_MS) {
		pthread_mutex_unlock(&cl->lock);
		return;
	}
	pthread_mutex_unlock(&cl->lock);
	if (cloud_offers(cl, NULL, &o, &n, err, sizeof(err)))
		return;
	pthread_mutex_lock(&cl->lock);
	free(cl->offers);
	cl->offers = o;
	cl->noffers = n;
	cl->offers_ms = now_ms();
	pthread_mutex_unlock(&cl->lock);
}

/* "1xA100", "2xGPU" or "cpu" for a reason. */
static void cloud_need_words(const struct job_need *need, char *out,
			     size_t outlen)
{
	if (need->gpus > 0)
		snprintf(out, outlen, "%dx%s", need->gpus,
			 need->gpu_type && need->gpu_type[0] ? need->gpu_type :
			 "GPU");
	else
		snprintf(out, outlen, "cpu");
}

/* ---- marks ---- */

/* The attempt's key in the marks: "<uuid>/<attempt>". */
static void cloud_mark_key(char *out, size_t outlen, const char *uuid,
			   int attempt)
{
	snprintf(out, outlen, "%s/%d", uuid, attempt);
}

/* ---- the operations ---- */

static void cloud_sweep(struct cloud *cl, const struct job_query *q,
			size_t n);

int cloud_ping(struct connector *c, char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	int rc;

	__atomic_store_n(&cl->requests_last_poll, 0, __ATOMIC_RELAXED);
	rc = cloud_refresh(cl, err, errlen);
	if (!rc) {
		cloud_sweep(cl, NULL, 0);
		cloud_offers_refresh(cl);
	}
	return rc;
}

int cloud_find(struct connector *c, const struct job_spec *spec,
	       char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	char name[CLOUD_NAME_MAX + 1], mark[MARKS_KEY_MAX];
	const struct cloud_inst *in;
	int64_t mark_ms = 0, list_ms, now = now_ms();
	int marked, stale, rc;

	cloud_name(name, sizeof(name), spec->run_id, spec->attempt);
	cloud_mark_key(mark, sizeof(mark), spec->run_id, spec->attempt);
	marked = marks_get(cl->marks, mark, &mark_ms);
	pthread_mutex_lock(&cl->lock);
	stale = !cl->have_list || now - cl->list_ms > cloud_poll_ms(cl) ||
		(marked && cl->list_ms <= mark_ms) ||
		(marked && now - mark_ms > CLOUD_SETTLE_MS &&
		 cl->list_ms <= mark_ms + CLOUD_SETTLE_MS);
	pthread_mutex_unlock(&cl->lock);
	if (stale && (marked || !cl->have_list)) {
		rc = cloud_refresh(cl, err, errlen);
		if (rc) {
			size_t l = strlen(err);

			snprintf(err + l, errlen - l, "; the launch is looked "
				 "for again");
			return TFS_EINPROGRESS;
		}
	}
	pthread_mutex_lock(&cl->lock);
	in = cloud_inst_find(cl, name, NULL);
	if (in)
		snprintf(job_id, idlen, "%s", in->id);
	list_ms = cl->list_ms;
	pthread_mutex_unlock(&cl->lock);
	if (in) {
		if (marked)
			marks_set(cl->marks, mark, 0);   /* confirmed */
		return TFS_OK;
	}
	if (!marked)
		return TFS_ENOENT;
	/*
	 * Never made only when a list asked well after the launch's last
	 * word lacks it: the first list after the mark proves nothing (the
	 * answer may have been lost while the provider still creates, or
	 * its list lags), and a second instance of the name would bill with
	 * nothing terminating the first.
	 */
	if (list_ms > mark_ms + CLOUD_SETTLE_MS) {
		marks_set(cl->marks, mark, 0);
		return TFS_ENOENT;
	}
	snprintf(err, errlen, "launched on %s, not confirmed yet",
		 cl->api->type);
	return TFS_EINPROGRESS;
}

/*
 * A job's inputs on an instance: core placed each file on this machine
 * (TRAINFS_INPUT_<name>=<path>); they go to the run store under the
 * attempt's prefix, for the wrapper to fetch and check before the job.
 */
struct cloud_inputs {
	char **env;                  /* spec's, the inputs' values the
					instance's paths */
	struct wrapper_input *in;
	char **keys, **paths;        /* in's strings */
	char (*sums)[65];
	size_t n;
};

static void cloud_inputs_free(struct cloud_inputs *ci)
{
	size_t i;

	for (i = 0; i < ci->n; i++) {
		free(ci->keys[i]);
		free(ci->paths[i]);
	}
	strv_free(ci->env);
	free(ci->in);
	free(ci->keys);
	free(ci->paths);
	free(ci->sums);
	memset(ci, 0, sizeof(*ci));
}

#define CLOUD_RUN_DIR "/tmp/trainfs"  /* the instance's scratch */

/* Stores spec's inputs and fills ci; TFS_OK or an error with err. */
static int cloud_inputs(struct cloud *cl, const struct job_spec *spec,
			struct cloud_inputs *ci, char *err, size_t errlen)
{
	char name[RUNSTORE_NAME_MAX + 1], key[RUNSTORE_KEY_MAX + 1];
	char enc[RUNSTORE_NAME_MAX * 3 + 16], e2[256];
	size_t n = 0, i;
	int rc;

	memset(ci, 0, sizeof(*ci));
	while (spec->env && spec->env[n])
		n++;
	ci->env = xcalloc(n + 1, sizeof(*ci->env));
	ci->in = xcalloc(n + 1, sizeof(*ci->in));
	ci->keys = xcalloc(n + 1, sizeof(*ci->keys));
	ci->paths = xcalloc(n + 1, sizeof(*ci->paths));
	ci->sums = xcalloc(n + 1, sizeof(*ci->sums));
	for (i = 0; i < n; i++) {
		const char *e = spec->env[i], *eq = strchr(e, '='), *file;
		int kl = eq ? (int)(eq - e) : 0;

		if (strncmp(e, "TRAINFS_INPUT_", 14) || !eq) {
			ci->env[i] = xstrdup(e);
			continue;
		}
		file = strrchr(eq + 1, '/');
		file = file ? file + 1 : eq + 1;
		if ((size_t)snprintf(name, sizeof(name), "inputs/%.*s/%s",
				     kl - 14, e + 14, file) >= sizeof(name) ||
		    runstore_path(spec->run_id, spec->attempt, name, key,
				  sizeof(key), e2, sizeof(e2))) {
			snprintf(err, errlen, "the input %.*s cannot be named "
				 "in the run store", kl, e);
			return TFS_EINVAL;
		}
		/* the wrapper's key is part of a URL: escaped */
		enc[0] = '\0';
		if (url_path_append(enc, sizeof(enc), name)) {
			snprintf(err, errlen, "the input %.*s has too long a "
				 "name", kl, e);
			return TFS_EINVAL;
		}
		rc = runstore_write_file(cl->store, key, eq + 1,
					 ci->sums[ci->n], e2, sizeof(e2));
		if (rc) {
			snprintf(err, errlen, "cannot store the input %.*s in "
				 "the run store: %s", kl, e, e2);
			return rc == TFS_EFBIG || rc == TFS_EACCES ? rc :
			       TFS_EIO;
		}
		ci->keys[ci->n] = xstrdup(enc);
		ci->paths[ci->n] = xmalloc(strlen(name) + 64 + 37 + 16);
		sprintf(ci->paths[ci->n], CLOUD_RUN_DIR "/%s/%d/%s",
			spec->run_id, spec->attempt, name);
		ci->in[ci->n] = (struct wrapper_input){ ci->keys[ci->n],
			ci->paths[ci->n], ci->sums[ci->n] };
		ci->env[i] = xmalloc((size_t)kl + strlen(ci->paths[ci->n]) + 2);
		sprintf(ci->env[i], "%.*s=%s", kl, e, ci->paths[ci->n]);
		ci->n++;
	}
	return TFS_OK;
}

/* The wrapper for spec in store mode (caller frees), or NULL with err. */
static char *cloud_script(struct cloud *cl, const struct job_spec *spec,
			  const struct cloud_inputs *ci, char *err,
			  size_t errlen)
{
	char run_dir[128], store[RUNSTORE_URL_MAX + 64];
	struct wrapper_spec w = { 0 };

	snprintf(run_dir, sizeof(run_dir), CLOUD_RUN_DIR "/%s", spec->run_id);
	snprintf(store, sizeof(store), "%s/%s/%d/", cl->store_url,
		 spec->run_id, spec->attempt);
	w.argv = spec->argv;
	w.env = ci->env;
	w.run_dir = run_dir;
	w.attempt = spec->attempt;
	w.store_url = store;
	w.auth_env = cl->have_store_auth ? CLOUD_AUTH_ENV : NULL;
	w.inputs = ci->in;
	w.ninputs = ci->n;
	return wrapper_script(&w, err, errlen);
}

#define CLOUD_SUBMIT_HOLD_MS 5000    /* no launch this long after a 429 */

/* A 429 past its waits: the provider's launches are held, err says so. */
static void cloud_submit_hold(struct cloud *cl, char *err, size_t errlen)
{
	int64_t until = mono_ms() + CLOUD_SUBMIT_HOLD_MS;

	pthread_mutex_lock(&cl->pace_lock);
	if (cl->not_before_ms > until)
		until = cl->not_before_ms;
	cl->submit_hold_ms = until;
	pthread_mutex_unlock(&cl->pace_lock);
	snprintf(err, errlen, "rate limited by %s, trying again",
		 cl->api->type);
}

/*
 * 1 with err while launches are held: the other submissions of the pass
 * end at once instead of each waiting out the provider's limit on its one
 * thread, which would leave polls, cancels and terminates waiting.
 */
static int cloud_submit_held(struct cloud *cl, char *err, size_t errlen)
{
	int held;

	pthread_mutex_lock(&cl->pace_lock);
	held = cl->submit_hold_ms > mono_ms();
	pthread_mutex_unlock(&cl->pace_lock);
	if (held)
		snprintf(err, errlen, "rate limited by %s, trying again",
			 cl->api->type);
	return held;
}

/*
 * The offers for need from the quote cache when it is fresh and has one
 * with capacity (caller frees): TFS_OK, else TFS_EAGAIN and the caller
 * asks the provider (a cache saying "none" may be stale).
 */
static int cloud_offers_cached(struct cloud *cl, const struct job_need *need,
			       struct cloud_offer **out, size_t *n)
{
	struct cloud_offer *o = NULL;
	size_t k = 0, i;

	*out = NULL;
	*n = 0;
	pthread_mutex_lock(&cl->lock);
	if (cl->offers_ms && now_ms() - cl->offers_ms < CLOUD_OFFERS_FRESH_MS &&
	    cl->noffers) {
		o = xcalloc(cl->noffers, sizeof(*o));
		for (i = 0; i < cl->noffers; i++)
			if (cloud_offer_fits(cl, &cl->offers[i], need))
				o[k++] = cl->offers[i];
	}
	pthread_mutex_unlock(&cl->lock);
	if (k)
		qsort(o, k, sizeof(*o), cloud_offer_cmp);
	if (!k || o[0].available <= 0) {
		free(o);
		return TFS_EAGAIN;
	}
	*out = o;
	*n = k;
	return TFS_OK;
}

int cloud_submit(struct connector *c, const struct job_spec *spec,
		 char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	struct job_need need = { spec->cpus, spec->gpus, spec->memory_mb,
				 spec->gpu_type, -1 };
	struct cloud_launch l = { 0 };
	struct cloud_inputs ci;
	struct cloud_offer *o = NULL;
	char name[CLOUD_NAME_MAX + 1], mark[MARKS_KEY_MAX], what[CLOUD_TEXT_MAX];
	char hdr[SECRET_MAX + 64], *env[2] = { NULL, NULL }, *script = NULL;
	size_t n = 0, i;
	int rc;

	if (strncmp(cl->store_url, "http", 4)) {
		snprintf(err, errlen, "the run store must be http(s):// for "
			 "an instance to reach it");
		return TFS_EINVAL;
	}
	if (spec->gpus <= 0 && cl->api->no_cpu_only) {
		snprintf(err, errlen, "%s", cl->api->no_cpu_only);
		return TFS_EINVAL;
	}
	if (cloud_submit_held(cl, err, errlen))
		return TFS_EINPROGRESS;
	rc = cloud_offers_cached(cl, &need, &o, &n);
	if (rc)
		rc = cloud_offers(cl, &need, &o, &n, err, errlen);
	if (rc == TFS_EBUSY) {
		cloud_submit_hold(cl, err, errlen);
		return TFS_EINPROGRESS;
	}
	if (rc)
		return rc == TFS_EINTR ? rc : rc == TFS_EACCES ? rc : TFS_EIO;
	cloud_need_words(&need, what, sizeof(what));
	if (!n || o[0].available <= 0) {
		snprintf(err, errlen, "no capacity for %s on %s", what,
			 cl->api->type);
		free(o);
		return TFS_EAGAIN;
	}
	rc = cloud_inputs(cl, spec, &ci, err, errlen);
	if (!rc) {
		script = cloud_script(cl, spec, &ci, err, errlen);
		rc = script ? TFS_OK : TFS_EINVAL;
	}
	cloud_inputs_free(&ci);
	if (rc) {
		free(o);
		return rc;
	}
	rc = cloud_store_header(cl, hdr, sizeof(hdr), err, errlen);
	if (!rc && hdr[0]) {
		/* "Authorization: <value>" -> "TRAINFS_STORE_AUTH=<value>" */
		env[0] = xmalloc(strlen(hdr) + sizeof(CLOUD_AUTH_ENV) + 2);
		sprintf(env[0], "%s=%s", CLOUD_AUTH_ENV, hdr + 15);
	}
	explicit_bzero(hdr, sizeof(hdr));
	if (rc)
		goto out;
	cloud_name(name, sizeof(name), spec->run_id, spec->attempt);
	cloud_mark_key(mark, sizeof(mark), spec->run_id, spec->attempt);
	if (marks_set(cl->marks, mark, now_ms()) < 0) {
		int e = errno;

		snprintf(err, errlen, "cannot write the submitting mark: %s",
			 strerror(e));
		marks_set(cl->marks, mark, 0);
		rc = e == ENOSPC ? TFS_ENOSPC : TFS_EIO;
		goto out;
	}
	l.name = name;
	l.image = spec->image ? spec->image : cl->image;
	l.script = script;
	l.env = env;
	l.gpus = spec->gpus;
	l.interruptible = cl->conf.interruptible;
	l.disk_gb = 20;
	rc = TFS_EAGAIN;
	for (i = 0; i < n && o[i].available > 0 && rc == TFS_EAGAIN; i++) {
		l.offer = &o[i];
		l.bid = o[i].price_per_hour;
		rc = cl->api->launch(cl, &l, job_id, idlen, err, errlen);
	}
	if (rc == TFS_EAGAIN) {
		snprintf(err, errlen, "no capacity for %s on %s", what,
			 cl->api->type);
		pthread_mutex_lock(&cl->lock);
		cl->offers_ms = 0;   /* the cache was wrong: ask again */
		pthread_mutex_unlock(&cl->lock);
	} else if (rc == TFS_EBUSY) {
		/* a 429 is refused before anything is made: the offer loop
		 * stops here (each launch would wait out its own 429s) and
		 * the run is asked about again on the next pass */
		marks_set(cl->marks, mark, 0);
		cloud_submit_hold(cl, err, errlen);
		rc = TFS_EINPROGRESS;
		goto out;
	} else if (rc == TFS_EINPROGRESS || rc == TFS_EIO ||
		   rc == TFS_EINTR) {
		/* it may exist: find() decides from a list asked after now */
		marks_set(cl->marks, mark, now_ms());
		rc = TFS_EINPROGRESS;
	}
	/* TFS_OK keeps the mark: core has not saved the id yet, and a crash
	 * now must leave find() the proof that a launch went; find() or
	 * poll() clears it once a list shows the instance */
	if (rc != TFS_EINPROGRESS && rc != TFS_OK)
		marks_set(cl->marks, mark, 0);
out:
	if (env[0]) {
		explicit_bzero(env[0], strlen(env[0]));
		free(env[0]);
	}
	free(script);
	free(o);
	return rc;
}

/* The job poll() remembers for id, made on first sight (under lock). */
static struct cloud_job *cloud_job_get(struct cloud *cl, const char *id)
{
	struct cloud_job *j = hmap_sget(&cl->jobs, id);

	if (!j) {
		j = xcalloc(1, sizeof(*j));
		snprintf(j->id, sizeof(j->id), "%s", id);
		j->first_ms = now_ms();
		hmap_sput(&cl->jobs, j->id, j);
	}
	return j;
}

/* The to-terminate key of id (marks refuse one past MARKS_KEY_MAX). */
static void cloud_term_key(char *out, size_t outlen, const char *id)
{
	snprintf(out, outlen, "term/%s", id);
}

/*
 * Terminates id, remembering it in the marks ("term/<id>") until the
 * provider took it: a terminate that fails is sent again by every poll
 * and ping that lists the instance live (cloud_sweep()), since core
 * never polls an ended job again and the instance would bill forever.
 */
static int cloud_terminate_err(struct cloud *cl, const char *id, char *err,
			       size_t errlen)
{
	char key[MARKS_KEY_MAX + CLOUD_ID_MAX];
	int rc;

	cloud_term_key(key, sizeof(key), id);
	marks_set(cl->marks, key, now_ms());
	rc = cl->api->terminate(cl, id, err, errlen);
	if (!rc)
		marks_set(cl->marks, key, 0);
	return rc;
}

static int cloud_terminate(struct cloud *cl, const char *id)
{
	char err[256];
	int rc = cloud_terminate_err(cl, id, err, sizeof(err));

	if (rc)
		log_msg(LOG_WARNING, "provider '%s': terminate %s: %s (tried "
			"again on the next poll)", cl->conf.name, id, err);
	return rc;
}

/* Whether q holds id as a job (the run's recorded attempt). */
static int cloud_query_has(const struct job_query *q, size_t n,
			   const char *uuid, const char *id, int *known)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (strcmp(q[i].run_id, uuid))
			continue;
		*known = 1;
		if (!q[i].job_id || !q[i].job_id[0] ||
		    !strcmp(q[i].job_id, id))
			return 1;
	}
	return 0;
}

/*
 * After a list: the terminates that failed are sent again, and an orphan
 * is reaped: a live trainfs-<uuid>-<n> of a run polled now that is not
 * the run's recorded job and has no submitting mark (a launch whose
 * answer was lost and was made again, an older attempt still billing).
 * q NULL (ping): the terminates only.
 */
static void cloud_sweep(struct cloud *cl, const struct job_query *q,
			size_t n)
{
	char (*ids)[CLOUD_ID_MAX] = NULL, key[MARKS_KEY_MAX + CLOUD_ID_MAX];
	char uuid[37];
	size_t i, k = 0;
	int64_t ms;
	int attempt;

	pthread_mutex_lock(&cl->lock);
	if (cl->ninsts)
		ids = xcalloc(cl->ninsts, sizeof(*ids));
	for (i = 0; i < cl->ninsts; i++) {
		const struct cloud_inst *in = &cl->insts[i];
		int known = 0, reap = 0;

		if (in->state == CLOUD_GONE || in->state == CLOUD_TERMINATING)
			continue;
		cloud_term_key(key, sizeof(key), in->id);
		if (marks_get(cl->marks, key, &ms)) {
			reap = 1;
		} else if (q && cloud_name_parse(in->name, uuid, &attempt) &&
			   !cloud_query_has(q, n, uuid, in->id, &known) &&
			   known) {
			cloud_mark_key(key, sizeof(key), uuid, attempt);
			reap = !marks_get(cl->marks, key, &ms);
			if (reap)
				log_msg(LOG_WARNING, "provider '%s': %s (%s) "
					"is not its run's job: terminated",
					cl->conf.name, in->id, in->name);
		}
		if (reap)
			snprintf(ids[k++], CLOUD_ID_MAX, "%s", in->id);
	}
	pthread_mutex_unlock(&cl->lock);
	for (i = 0; i < k; i++)
		cloud_terminate(cl, ids[i]);
	free(ids);
}

static void cloud_reason(struct job_query *q, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void cloud_reason(struct job_query *q, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(q->reason, sizeof(q->reason), fmt, ap);
	va_end(ap);
}

/* The job ended with code (from the store). */
static void cloud_ended(struct job_query *q, int code, int cancelled)
{
	q->exit_code = code;
	q->end_ms = now_ms();
	if (code == 0) {
		q->state = JOB_COMPLETED;
	} else if (cancelled) {
		q->state = JOB_STOPPED;
	} else {
		q->state = JOB_FAILED;
		if (code > 128)
			q->term_signal = code - 128;
		cloud_reason(q, "exit code %d", code);
	}
}

static int cloud_cancelled_name(struct cloud *cl, const char *name)
{
	return hmap_sget(&cl->cancelled, name) != NULL;
}

/*
 * Whether poll_one() decides nothing this pass for j (have: the store's
 * exit answer): a store error younger than CLOUD_STORE_ERR_MS, or an
 * instance once running that is now unhealthy or in a state that is not
 * running, within CLOUD_ODD_GRACE_MS (Lambda's unhealthy may pass, Vast.ai
 * answers loading or null for a while). Keeps j's clocks.
 */
static int cloud_poll_held(struct cloud *cl, struct cloud_job *j,
			   const struct cloud_inst *in, int have, int64_t now)
{
	int held = 0;

	pthread_mutex_lock(&cl->lock);
	if (have < 0) {
		if (!j->store_err_ms)
			j->store_err_ms = now;
		held = now - j->store_err_ms < CLOUD_STORE_ERR_MS;
	} else {
		j->store_err_ms = 0;
	}
	if (in && in->state == CLOUD_RUNNING) {
		j->seen_running = 1;
		j->odd_ms = 0;
	} else if (in && have == 0 && (in->state == CLOUD_FAILED ||
		   (in->state == CLOUD_BOOTING && j->seen_running))) {
		if (!j->odd_ms)
			j->odd_ms = now;
		if (now - j->odd_ms < CLOUD_ODD_GRACE_MS)
			held = 1;
	}
	pthread_mutex_unlock(&cl->lock);
	return held;
}

/*
 * The wrapper's "ended" key, read for an attempt that has no exit: it
 * quit before the job (wrapper.h's tfs_quit). 1 with q ended on it: the
 * reason is the wrapper's, and the run is failed, the instance goes. A
 * start refused as the attempt's second (WRAPPER_EXIT_REFUSED) is not
 * retried: the started key is the first start's, which ran the job or
 * runs it still where this daemon cannot see it (a container restarted
 * under it, a second instance of the name), so another attempt could
 * run the job twice. Any other code (74: the attempt's directory, or the
 * store unreachable or refusing the started key) is a start that never
 * ran the job: core retries it under max_retries, a store outage passing.
 */
static int cloud_wrapper_quit(struct cloud *cl, struct job_query *q,
			      int64_t now)
{
	char why[160], err[256];
	int code;

	if (runstore_ended(cl->store, q->run_id, q->attempt, &code, why,
			   sizeof(why), err, sizeof(err)) != 1)
		return 0;
	q->state = JOB_FAILED;
	q->end_ms = now;
	q->exit_code = code;
	q->no_retry = code == WRAPPER_EXIT_REFUSED;
	cloud_reason(q, "the job's wrapper quit (%d): %s%s", code,
		     why[0] ? why : "no reason given",
		     q->no_retry ? "; not retried, the job could run twice" :
		     "");
	log_msg(LOG_NOTICE, "provider '%s': %s/%d: %s", cl->conf.name,
		q->run_id, q->attempt, q->reason);
	return 1;
}

/*
 * Lambda: a VM stays active after its script, so a wrapper that ended
 * without its exit (the store unreachable at its start, its exit PUT
 * failing, an OOM kill) would leave it billing forever. The wrapper PUTs
 * the log every few seconds while the job runs: 1 when that heartbeat
 * (the log's stamp) has not changed for heartbeat_timeout_s. Asked at
 * most every quarter of that (and 30 s); a store error decides nothing.
 * A probe that finds the log unchanged or absent also asks for the
 * wrapper's ended key (2: q ended on it), so that a wrapper that quit
 * ends its VM on that probe, not after the timeout; a log that beats is
 * a start that runs, whatever another start of the name wrote there.
 */
static int cloud_beat_stale(struct cloud *cl, struct cloud_job *j,
			    struct job_query *q, int64_t now)
{
	int64_t limit = (int64_t)cl->heartbeat_timeout_s * 1000;
	int64_t every = limit / 4 < 30000 ? limit / 4 : 30000;
	char key[RUNSTORE_KEY_MAX + 1], err[256];
	uint64_t stamp;
	int rc;

	if (strcmp(cl->api->type, "lambda"))
		return 0;
	if (!j->beat_ms)
		j->beat_ms = now;
	if (now - j->beat_asked_ms < every)
		return 0;
	j->beat_asked_ms = now;
	if (runstore_path(q->run_id, q->attempt, "log", key, sizeof(key), err,
			  sizeof(err)))
		return 0;
	rc = runstore_stamp(cl->store, key, &stamp, err, sizeof(err));
	if (rc && rc != TFS_ENOENT)
		return 0;
	if (stamp != j->beat) {
		j->beat = stamp;
		j->beat_ms = now;
		return 0;
	}
	if (cloud_wrapper_quit(cl, q, now))
		return 2;
	return now - j->beat_ms > limit;
}

/*
 * One job against the list taken. Every way the job ends terminates the
 * instance on this pass: nothing idles and bills.
 */
static void cloud_poll_one(struct cloud *cl, struct job_query *q)
{
	char name[CLOUD_NAME_MAX + 1], err[256] = "";
	const struct cloud_inst *in;
	struct cloud_inst inst;
	struct cloud_job *j;
	int have, code = -1, cancelled, kill = 0, stale = 0;
	int64_t now = now_ms(), born;

	cloud_name(name, sizeof(name), q->run_id, q->attempt);
	pthread_mutex_lock(&cl->lock);
	in = cloud_inst_find(cl, NULL, q->job_id);
	if (in)
		inst = *in;
	j = cloud_job_get(cl, q->job_id);
	cancelled = j->cancelled || cloud_cancelled_name(cl, name);
	if (in)
		j->missing_ms = 0;
	else if (!j->missing_ms)
		j->missing_ms = now;
	born = j->first_ms;
	pthread_mutex_unlock(&cl->lock);
	if (in) {
		char mark[MARKS_KEY_MAX];
		int64_t ms;

		/* the launch is confirmed: core has its id */
		cloud_mark_key(mark, sizeof(mark), q->run_id, q->attempt);
		if (marks_get(cl->marks, mark, &ms))
			marks_set(cl->marks, mark, 0);
	}
	if (in && inst.created_ms > 0 && inst.created_ms < born)
		born = inst.created_ms;
	if (in && inst.price_per_hour >= 0 && inst.state != CLOUD_GONE)
		q->price_per_hour = inst.price_per_hour;
	if (in && inst.started_ms)
		q->start_ms = inst.started_ms;
	q->state = JOB_PENDING;
	/* the store says first: a job that wrote its exit has ended */
	/*
	 * Where the provider shows a container's exit (RunPod, Vast.ai) a
	 * running instance's job has not ended: no exit GET for it, so a
	 * slow store does not stall the provider's pass one job at a time.
	 * A Lambda VM stays active after its job: always asked.
	 */
	if (in && inst.state == CLOUD_RUNNING && !cancelled &&
	    strcmp(cl->api->type, "lambda"))
		have = 0;
	else
		have = runstore_exit_code(cl->store, q->run_id, q->attempt,
					  &code, err, sizeof(err));
	if (cloud_poll_held(cl, j, in ? &inst : NULL, have, now)) {
		/* a store error (a 5xx, a timeout) or a state passing:
		 * nothing is decided on it, a completed job would run again;
		 * an instance whose command ended may still go */
		q->state = JOB_RUNNING;
		if (in && inst.state == CLOUD_EXITED && have < 0 && !cancelled)
			kill = 1;
		else if (cancelled && in && inst.state != CLOUD_GONE)
			kill = 1;
	} else if (have == 1 && in && inst.state == CLOUD_PREEMPTED && !cancelled &&
	    (code == 128 + 15 || code == 128 + 9)) {
		/* the wrapper wrote the TERM the provider sent when it took
		 * the machine back: a preemption, not the job's failure */
		q->state = JOB_PREEMPTED;
		q->end_ms = now;
		cloud_reason(q, "preempted by %s (%s)", cl->api->type,
			     inst.status);
		kill = 1;
	} else if (have == 1) {
		cloud_ended(q, code, cancelled);
		kill = in && inst.state != CLOUD_GONE;
	} else if (!in || inst.state == CLOUD_GONE ||
		   inst.state == CLOUD_TERMINATING) {
		if (cancelled) {
			q->state = JOB_STOPPED;
			q->end_ms = now;
			cloud_reason(q, "cancelled");
		} else if (in || now - j->missing_ms > 2 * cloud_poll_ms(cl) +
			   CLOUD_TIMEOUT_MS) {
			/* gone with no exit: worth another attempt */
			q->state = JOB_PREEMPTED;
			q->end_ms = now;
			cloud_reason(q, "the instance is gone from %s without "
				     "an exit code in the run store%s%s",
				     cl->api->type, in ? ": " : "",
				     in ? inst.status : "");
			kill = in && inst.state == CLOUD_TERMINATING;
		} else {
			q->state = JOB_RUNNING;   /* a list that lags */
		}
	} else if (cancelled) {
		kill = 1;
		q->state = JOB_RUNNING;
	} else {
		switch (inst.state) {
		case CLOUD_BOOTING:
			/* only one never seen running "did not boot" */
			if (j->seen_running) {
				q->state = JOB_FAILED;
				q->end_ms = now;
				cloud_reason(q, "the instance ran, then was %s "
					     "for %d s", inst.status,
					     CLOUD_ODD_GRACE_MS / 1000);
				kill = 1;
			} else if (now - born >
				   (int64_t)cl->boot_timeout_s * 1000) {
				q->state = JOB_PREEMPTED;
				q->end_ms = now;
				cloud_reason(q, "instance did not boot in %d s",
					     cl->boot_timeout_s);
				kill = 1;
			}
			break;
		case CLOUD_RUNNING:
			q->state = JOB_RUNNING;
			stale = cloud_beat_stale(cl, j, q, now);
			if (stale == 2) {
				kill = 1;
			} else if (stale) {
				q->state = JOB_FAILED;
				q->end_ms = now;
				cloud_reason(q, "no heartbeat from the job in the "
					     "run store for %d s (its wrapper "
					     "ended without an exit code; "
					     "heartbeat_timeout_s): the "
					     "instance is terminated",
					     cl->heartbeat_timeout_s);
				kill = 1;
			}
			break;
		case CLOUD_PREEMPTED:
			q->state = JOB_PREEMPTED;
			q->end_ms = now;
			cloud_reason(q, "preempted by %s (%s)", cl->api->type,
				     inst.status);
			kill = 1;
			break;
		case CLOUD_EXITED:
		case CLOUD_FAILED:
			q->state = JOB_FAILED;
			q->end_ms = now;
			q->exit_code = inst.exit_code;
			kill = 1;
			if (inst.exit_code == WRAPPER_EXIT_NOTOOL) {
				/* the same image would fail the same way */
				q->no_retry = 1;
				cloud_reason(q, "the image has no curl or "
					     "sha256sum, which the job's "
					     "wrapper needs (exit code %d, "
					     "%s): not retried",
					     WRAPPER_EXIT_NOTOOL, inst.status);
				break;
			}
			cloud_reason(q, "the instance %s (%s) and the run store "
				     "has no exit code%s%s",
				     inst.state == CLOUD_FAILED ? "failed" :
				     "exited", inst.status, err[0] ? ": " : "",
				     err);
			break;
		default:
			break;
		}
	}
	/* an end without the job's exit: the wrapper may have said why (one
	 * GET, on the pass the attempt ends) */
	if (!cancelled && have == 0 && !stale &&
	    job_state_terminal(q->state) && q->state != JOB_COMPLETED)
		cloud_wrapper_quit(cl, q, now);
	if (kill)
		cloud_terminate(cl, inst.id);
}

/*
 * Forgets the jobs not polled now (core polls every active one each
 * pass): cl->jobs gained an entry per job, never freed. A job cancelled
 * before its id was known stays in cl->cancelled, by name, until the
 * provider is released (one short string per such cancel).
 */
static void cloud_jobs_prune(struct cloud *cl, const struct job_query *q,
			     size_t n)
{
	struct hmap keep = HMAP_INIT;
	size_t i;

	pthread_mutex_lock(&cl->lock);
	for (i = 0; i < n; i++) {
		struct cloud_job *j;

		if (!q[i].job_id || !q[i].job_id[0] ||
		    hmap_sget(&keep, q[i].job_id))
			continue;
		j = hmap_sget(&cl->jobs, q[i].job_id);
		if (j) {
			hmap_sdel(&cl->jobs, j->id);
			hmap_sput(&keep, j->id, j);
		}
	}
	for (i = 0; i < cl->jobs.nb; i++)
		for (struct hmap_entry *e = cl->jobs.b[i]; e; e = e->next)
			free(e->val);
	hmap_release(&cl->jobs);
	cl->jobs = keep;
	pthread_mutex_unlock(&cl->lock);
}

int cloud_poll(struct connector *c, struct job_query *q, size_t n,
	       char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	size_t i;
	int rc;

	__atomic_store_n(&cl->requests_last_poll, 0, __ATOMIC_RELAXED);
	rc = cloud_refresh(cl, err, errlen);
	if (rc)
		return rc;
	for (i = 0; i < n; i++)
		cloud_poll_one(cl, &q[i]);
	cloud_sweep(cl, q, n);
	cloud_jobs_prune(cl, q, n);
	cloud_offers_refresh(cl);
	return TFS_OK;
}

int cloud_cancel(struct connector *c, const struct job_query *q,
		 int kill_grace_s, char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	char name[CLOUD_NAME_MAX + 1];
	const char *id = q->job_id;

	(void)kill_grace_s;
	cloud_name(name, sizeof(name), q->run_id, q->attempt);
	pthread_mutex_lock(&cl->lock);
	/* an unconfirmed launch: poll() terminates it once it shows */
	if (!cloud_cancelled_name(cl, name)) {
		char *k = xstrdup(name);

		cl->cancelled_names = xrealloc(cl->cancelled_names,
					       (cl->ncancelled + 1) *
					       sizeof(*cl->cancelled_names));
		cl->cancelled_names[cl->ncancelled++] = k;
		hmap_sput(&cl->cancelled, k, k);
	}
	if (id && id[0])
		cloud_job_get(cl, id)->cancelled = 1;
	pthread_mutex_unlock(&cl->lock);
	if (!id || !id[0])
		return TFS_OK;
	return cloud_terminate_err(cl, id, err, errlen);
}

int cloud_sync(struct connector *c, struct job_query *q, char *err,
	       size_t errlen)
{
	struct cloud *cl = cloud_of(c);

	return runstore_sync(cl->store, q, CLOUD_SYNC_MAX, err, errlen);
}

int cloud_list_artifacts(struct connector *c, const struct job_query *q,
			 artifact_cb cb, void *arg, char *err, size_t errlen)
{
	struct cloud *cl = cloud_of(c);
	char base[ARTIFACT_URL_MAX];

	snprintf(base, sizeof(base), "%s/", cl->store_url);
	return runstore_list_artifacts(cl->store, q, base, cb, arg, err,
				       errlen);
}

int cloud_artifact_headers(struct connector *c, const char *url, char *out,
			   size_t outlen, char *err, size_t errlen)
{
	(void)err;
	(void)errlen;
	return runstore_headers_for(cloud_of(c)->store, url, out, outlen);
}

int cloud_status(struct connector *c, char *out, size_t outlen)
{
	struct cloud *cl = cloud_of(c);
	char rejected[sizeof(cl->rejected)];

	pthread_mutex_lock(&cl->status_lock);
	snprintf(rejected, sizeof(rejected), "%s", cl->rejected);
	pthread_mutex_unlock(&cl->status_lock);
	return snprintf(out, outlen, "url: %s\nrequests: %" PRIu64 "\n"
			"request_us: %" PRIu64 "\n"
			"requests_last_poll: %" PRIu64 "\ninstances: %" PRIu64
			"\nrate_limit_waits: %" PRIu64 "\n%s%s%s",
			cl->shown,
			__atomic_load_n(&cl->requests, __ATOMIC_RELAXED),
			__atomic_load_n(&cl->request_us, __ATOMIC_RELAXED),
			__atomic_load_n(&cl->requests_last_poll,
					__ATOMIC_RELAXED),
			__atomic_load_n(&cl->instances, __ATOMIC_RELAXED),
			__atomic_load_n(&cl->rate_waits, __ATOMIC_RELAXED),
			rejected[0] ? "key: " : "", rejected,
			rejected[0] ? "\n" : "");
}

int cloud_quote(struct connector *c, const struct job_need *need,
		double *usd_per_hour, char *why, size_t whylen)
{
	struct cloud *cl = cloud_of(c);
	const struct cloud_offer *best = NULL;
	char what[CLOUD_TEXT_MAX];
	size_t i;
	int rc;

	if (need->gpus <= 0 && cl->api->no_cpu_only) {
		snprintf(why, whylen, "%s", cl->api->no_cpu_only);
		return TFS_EAGAIN;
	}
	cloud_need_words(need, what, sizeof(what));
	pthread_mutex_lock(&cl->lock);
	for (i = 0; i < cl->noffers; i++) {
		const struct cloud_offer *o = &cl->offers[i];

		if (o->available > 0 && cloud_offer_fits(cl, o, need) &&
		    (!best || o->price_per_hour < best->price_per_hour))
			best = o;
	}
	if (best) {
		int g = need->gpus > 0 ? need->gpus : best->gpus;
		double p = best->price_per_hour;

		*usd_per_hour = p;
		snprintf(why, whylen, "%dx %s%s%s at $%.2f/h", g > 0 ? g : 1,
			 best->gpu[0] ? best->gpu : best->id,
			 best->region[0] ? " in " : "", best->region, p);
		rc = TFS_OK;
	} else {
		snprintf(why, whylen, cl->offers_ms ? "no capacity for %s on %s"
			 : "no offers known yet for %s on %s", what,
			 cl->api->type);
		rc = TFS_EAGAIN;
	}
	pthread_mutex_unlock(&cl->lock);
	return rc;
}
