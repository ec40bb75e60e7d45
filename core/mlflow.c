/*
 * mlflow.c - the export to an MLflow tracking server (see mlflow.h).
 *
 * One thread, the exporter, makes every request, one at a time, with no
 * lock of the model held: it takes c->lock only to copy what a run is now
 * (struct xsnap), then talks to the server. The state-change hook queues a
 * run's id (under the exporter's own lock, below c->lock); every pass also
 * looks at the active runs, whose metrics grow without a state change.
 *
 * Per exported thing (an experiment, a run, a sweep's or a pipeline's
 * parent run) a record says its MLflow id, how far its metrics went (the
 * byte position in metrics.jsonl up to which points were acknowledged)
 * and what is done (flags). Records are put in the store after the
 * server's answer. A crash between the answer and the put is covered thus:
 * a run is found again by its tag trainfs.key before one is made (runs/
 * search), an experiment by its name, params and tags are the same when
 * sent again (MLflow takes an equal param twice), the final status is a
 * set, and the metrics position is also sent as the tag
 * trainfs.metrics_pos in the batch of its points (one transaction on the
 * server), read back once per run after a start: the larger of the two
 * positions is where sending resumes.
 *
 * A pipeline (runs linked by depends_on) is one parent run named after its
 * root (the run reached by following first dependencies), with the root
 * and every run depending on it, directly or not, as children; a sweep is
 * one parent run with its trials as children (mlflow.parentRunId).
 */
#define _GNU_SOURCE
#include "mlflow.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core.h"
#include "http.h"
#include "json.h"
#include "model.h"
#include "secret.h"
#include "store.h"
#include "util.h"

#define TARGET "mlflow"
#define MLF_URL_MAX 2048            /* tracking_uri */
#define MLF_ID_MAX 128              /* an MLflow id */
#define MLF_TIMEOUT_MS 15000        /* one request */
#define MLF_CONNECT_MS 3000
#define MLF_BACKOFF_MIN_MS 500
#define MLF_BACKOFF_MAX_MS 10000
#define MLF_INTERVAL_DEFAULT 1000
#define MLF_DIRTY_MAX 65536         /* queued ids; past it: a full pass */
#define MLF_BATCHES_PER_PASS 64     /* per run and pass: others get a turn */
#define MLF_DEPTH_MAX 256           /* dependency hops to a pipeline root */
#define MLF_ART_TAGS_MAX 1000       /* links when upload is off */
#define MLF_RESP_MAX (4 << 20)
#define MLF_WHY_MAX 256

/* What a record has done, in its flags. */
enum {
	XF_PARAMS = 1 << 0,      /* params and the first tags are in */
	XF_FINAL = 1 << 1,       /* the final status and end time are set */
	XF_ARTS = 1 << 2,        /* the artifacts are uploaded or linked */
	XF_ROOT = 1 << 3,        /* a pipeline root: tagged as a child */
};

/* One exported thing (the key says which); the thread's alone. */
struct xrec {
	char *key;                  /* "run:7", "exp:2", "sweep:3", "pipe:7" */
	char *remote;               /* the MLflow id */
	int64_t pos, flags;         /* as stored */
	/* in memory only */
	int checked;                /* its server-side position was read */
	char *art_uri;
	int sent_status;            /* the last status sent, -1: none yet */
	int64_t exp_remote_id;      /* parents: their experiment */
	int64_t *members;           /* pipelines: their runs (ids) */
	size_t nmembers, mcap;
};

struct mlflow {
	/* config, fixed after mlflow_config() */
	char *uri;                  /* without a trailing '/' */
	char *prefix;
	int upload;
	int64_t upload_max;
	int interval_ms;
	struct secret_src token;
	int has_token;

	pthread_mutex_t lock;       /* below c->lock; protects the next */
	pthread_cond_t cond;
	int64_t *dirty;
	size_t ndirty, dcap;
	int rescan;                 /* the queue overflowed: look at all */
	int stop;
	int healthy;
	char why[MLF_WHY_MAX];
	uint64_t sent_points, sent_batches, uploads, links, errors;
	int64_t backlog_runs, backlog_points, exported_runs;
	char last_error[MLF_WHY_MAX];
	/* end of lock's */

	atomic_int quit;            /* read by the transfer's callback */
	pthread_t thread;
	int started;
	struct http_pool *pool;
	struct hmap recs;           /* key -> struct xrec, the thread's */
	struct hmap pending;        /* run id -> (void *)1, the thread's */
	struct hmap roots;          /* run id -> its pipeline root + 1, negated
				       when it has no dependency; the thread's */
	struct hmap broken;         /* run id -> (void *)1: a request of its
				       was refused; left until the next start */
};

/* ---- pure helpers ---- */

int mlflow_truncate(char *s, size_t max)
{
	size_t n = strlen(s);

	if (n <= max)
		return 0;
	n = max;
	/* back off continuation bytes, then the lead byte they follow */
	while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
		n--;
	s[n] = 0;
	return 1;
}

static size_t flatten_add(struct mlflow_kv **kv, size_t *n, size_t max,
			  const char *key, const char *value,
			  size_t value_max)
{
	struct mlflow_kv *e;

	if (*n >= max)
		return 1;
	*kv = xrealloc(*kv, (*n + 1) * sizeof(**kv));
	e = &(*kv)[(*n)++];
	e->key = xstrdup(key);
	e->value = xstrdup(value);
	e->truncated = mlflow_truncate(e->key, MLFLOW_KEY_MAX);
	e->truncated |= mlflow_truncate(e->value, value_max);
	return 0;
}

size_t mlflow_flatten(const cJSON *obj, const char *prefix, size_t value_max,
		      struct mlflow_kv **kv, size_t *n, size_t max)
{
	const cJSON *it;
	size_t dropped = 0;

	if (!cJSON_IsObject(obj))
		return 0;
	cJSON_ArrayForEach(it, obj) {
		size_t kl = strlen(prefix) + strlen(it->string) + 2;
		char *key = xmalloc(kl);

		snprintf(key, kl, "%s%s", prefix, it->string);
		if (cJSON_IsObject(it)) {
			strcat(key, ".");
			dropped += mlflow_flatten(it, key, value_max, kv, n, max);
		} else if (cJSON_IsString(it)) {
			dropped += flatten_add(kv, n, max, key, it->valuestring,
					       value_max);
		} else if (cJSON_IsNumber(it)) {
			/* as JSON prints it: the shortest text that reads back */
			char *txt = cJSON_PrintUnformatted(it);

			dropped += flatten_add(kv, n, max, key, txt ? txt : "",
					       value_max);
			free(txt);
		} else if (cJSON_IsBool(it)) {
			dropped += flatten_add(kv, n, max, key,
					       cJSON_IsTrue(it) ? "true" : "false",
					       value_max);
		} else if (cJSON_IsNull(it)) {
			dropped += flatten_add(kv, n, max, key, "null",
					       value_max);
		} else {
			char *txt = cJSON_PrintUnformatted(it);

			dropped += flatten_add(kv, n, max, key, txt ? txt : "",
					       value_max);
			free(txt);
		}
		free(key);
	}
	return dropped;
}

void mlflow_kv_free(struct mlflow_kv *kv, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		free(kv[i].key);
		free(kv[i].value);
	}
	free(kv);
}

int64_t mlflow_step(double step)
{
	if (!isfinite(step))
		return 0;
	if (step >= 9.2e18)
		return INT64_MAX;
	if (step <= -9.2e18)
		return INT64_MIN;
	return llround(step);
}

static size_t min_sz(size_t a, size_t b)
{
	return a < b ? a : b;
}

void mlflow_batch_plan(size_t nm, size_t np, size_t nt, size_t *tm,
		       size_t *tp, size_t *tt)
{
	size_t left = MLFLOW_BATCH_TOTAL;

	/* params and tags first: few, and a run's first batch needs them */
	*tp = min_sz(min_sz(np, MLFLOW_BATCH_PARAMS), left);
	left -= *tp;
	*tt = min_sz(min_sz(nt, MLFLOW_BATCH_TAGS), left);
	left -= *tt;
	*tm = min_sz(min_sz(nm, MLFLOW_BATCH_METRICS), left);
}

static void add_kv_array(cJSON *root, const char *name,
			 const struct mlflow_kv *kv, size_t n)
{
	cJSON *a = cJSON_AddArrayToObject(root, name);
	size_t i;

	for (i = 0; i < n; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "key", kv[i].key);
		cJSON_AddStringToObject(o, "value", kv[i].value);
		cJSON_AddItemToArray(a, o);
	}
}

int mlflow_batch_body(const char *run_id, const struct mlflow_metric *m,
		      size_t nm, const struct mlflow_kv *p, size_t np,
		      const struct mlflow_kv *t, size_t nt, struct buf *out)
{
	cJSON *root = cJSON_CreateObject(), *a;
	char *txt;
	size_t i;
	int r;

	cJSON_AddStringToObject(root, "run_id", run_id);
	a = cJSON_AddArrayToObject(root, "metrics");
	for (i = 0; i < nm; i++) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "key", m[i].key);
		/* JSON has no NaN: protobuf's JSON mapping takes these */
		if (isnan(m[i].value))
			cJSON_AddStringToObject(o, "value", "NaN");
		else if (isinf(m[i].value))
			cJSON_AddStringToObject(o, "value", m[i].value > 0 ?
						"Infinity" : "-Infinity");
		else
			cJSON_AddNumberToObject(o, "value", m[i].value);
		cJSON_AddNumberToObject(o, "timestamp", (double)m[i].timestamp);
		cJSON_AddNumberToObject(o, "step", (double)m[i].step);
		cJSON_AddItemToArray(a, o);
	}
	add_kv_array(root, "params", p, np);
	add_kv_array(root, "tags", t, nt);
	txt = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!txt)
		return TFS_ENOMEM;
	r = buf_puts(out, txt);
	free(txt);
	return r;
}

int mlflow_artifact_url(const char *tracking, const char *artifact_uri,
			const char *path, char *out, size_t outlen)
{
	const char *p;
	int n;

	if (strncmp(artifact_uri, "mlflow-artifacts:", 17) != 0)
		return TFS_EINVAL;
	p = artifact_uri + 17;
	if (p[0] == '/' && p[1] == '/') {
		p = strchr(p + 2, '/');   /* past the authority */
		if (!p)
			return TFS_EINVAL;
	}
	while (*p == '/')
		p++;
	n = snprintf(out, outlen, "%s/api/2.0/mlflow-artifacts/artifacts/",
		     tracking);
	if (n < 0 || (size_t)n >= outlen)
		return TFS_EINVAL;
	url_path_append(out, outlen, p);
	if (strlen(out) + 1 >= outlen)
		return TFS_EINVAL;
	strcat(out, "/");
	url_path_append(out, outlen, path);
	return strlen(out) + 4 > outlen ? TFS_EINVAL : TFS_OK;
}

const char *mlflow_run_status(int state)
{
	switch (state) {
	case RS_CREATED:
	case RS_QUEUED:
		return "SCHEDULED";
	case RS_COMPLETED:
		return "FINISHED";
	case RS_FAILED:
		return "FAILED";
	case RS_STOPPED:
		return "KILLED";
	default:
		return "RUNNING";
	}
}

/* ---- config ---- */

static int mlf_fail(char *err, size_t errlen, const char *msg)
{
	snprintf(err, errlen, "%s", msg);
	return TFS_EINVAL;
}

int mlflow_config(struct core *c, const cJSON *obj, char *err,
		  size_t errlen)
{
	static const char *const keys[] = {
		"tracking_uri", "token_env", "experiment_prefix",
		"upload_artifacts", "upload_max_mb", "interval_ms", NULL
	};
	const cJSON *it;
	struct mlflow *m;
	long long v;
	int i;

	if (!cJSON_IsObject(obj))
		return mlf_fail(err, errlen, "'mlflow' must be an object");
	cJSON_ArrayForEach(it, obj) {
		for (i = 0; keys[i] && strcmp(keys[i], it->string); i++)
			;
		if (!keys[i]) {
			snprintf(err, errlen, "unknown key 'mlflow.%.64s'",
				 it->string);
			return TFS_EINVAL;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(obj, "tracking_uri");
	if (!cJSON_IsString(it) || strlen(it->valuestring) > MLF_URL_MAX ||
	    (strncasecmp(it->valuestring, "http://", 7) &&
	     strncasecmp(it->valuestring, "https://", 8)) ||
	    strpbrk(it->valuestring, " \t\r\n?#"))
		return mlf_fail(err, errlen,
				"'mlflow.tracking_uri' must be an http:// or https:// URL without a query");
	m = xcalloc(1, sizeof(*m));
	m->uri = xstrdup(it->valuestring);
	while (strlen(m->uri) > 8 && m->uri[strlen(m->uri) - 1] == '/')
		m->uri[strlen(m->uri) - 1] = 0;
	m->upload = 1;
	m->upload_max = MLFLOW_UPLOAD_MAX_DEFAULT;
	m->interval_ms = MLF_INTERVAL_DEFAULT;
	m->prefix = xstrdup("");
	pthread_mutex_init(&m->lock, NULL);
	pthread_cond_init(&m->cond, NULL);
	c->mlflow = m;          /* released by mlflow_release() on failure */
	it = cJSON_GetObjectItemCaseSensitive(obj, "experiment_prefix");
	if (it && !(cJSON_IsString(it) && !it->valuestring[0]) &&
	    json_str_line(it, MLFLOW_PREFIX_MAX, &m->prefix, err, errlen))
		return mlf_fail(err, errlen,
				"'mlflow.experiment_prefix' must be a string of one line, at most 200 bytes");
	it = cJSON_GetObjectItemCaseSensitive(obj, "upload_artifacts");
	if (it && !cJSON_IsBool(it))
		return mlf_fail(err, errlen,
				"'mlflow.upload_artifacts' must be true or false");
	if (it)
		m->upload = cJSON_IsTrue(it);
	it = cJSON_GetObjectItemCaseSensitive(obj, "upload_max_mb");
	if (it) {
		if (json_int_range(it, "mlflow.", 1, 1 << 20, &v, err, errlen))
			return TFS_EINVAL;
		m->upload_max = v << 20;
	}
	it = cJSON_GetObjectItemCaseSensitive(obj, "interval_ms");
	if (it) {
		if (json_int_range(it, "mlflow.", 50, 600000, &v, err, errlen))
			return TFS_EINVAL;
		m->interval_ms = (int)v;
	}
	it = cJSON_GetObjectItemCaseSensitive(obj, "token_env");
	if (it) {
		char serr[256];

		if (!cJSON_IsString(it) || !ident_valid(it->valuestring, 128))
			return mlf_fail(err, errlen,
					"'mlflow.token_env' must be the name of an environment variable");
		if (secret_src_init(&m->token, it->valuestring, NULL, serr,
				    sizeof(serr))) {
			snprintf(err, errlen, "'mlflow.token_env': %s", serr);
			return TFS_EINVAL;
		}
		m->has_token = 1;
	}
	return TFS_OK;
}

/* ---- requests ---- */

/* What a request came to, beyond TFS_OK. */
enum {
	XR_OK = 0,
	XR_DOWN,          /* no answer, no token, 401, 403, 429 or 5xx: the
			     server (or its door), not the thing */
	XR_REFUSED,       /* a 4xx about what was sent */
	XR_NOTFOUND,      /* RESOURCE_DOES_NOT_EXIST */
	XR_EXISTS,        /* RESOURCE_ALREADY_EXISTS */
	XR_WAIT,          /* something of ours is not ready (a download) */
};

static int mlf_cancelled(void *arg)
{
	struct mlflow *m = arg;

	return atomic_load(&m->quit);
}

static void mlf_error(struct mlflow *m, const char *why)
{
	pthread_mutex_lock(&m->lock);
	m->errors++;
	snprintf(m->last_error, sizeof(m->last_error), "%s", why);
	pthread_mutex_unlock(&m->lock);
	log_msg(LOG_WARNING, "mlflow: %s", why);
}

/*
 * One request to path (with its query) under the tracking URI, one
 * attempt: the thread's own pass is the retry. *out (may be NULL) gets
 * the answer's JSON on success. why says what went wrong.
 */
static int mlf_call(struct mlflow *m, const char *method, const char *path,
		    const char *body, size_t len, const char *ctype,
		    cJSON **out, char *why, size_t wlen)
{
	char url[HTTP_URL_MAX], auth[SECRET_MAX + 32], ct[128], serr[128];
	const char *headers[3] = { NULL, NULL, NULL }, *secrets[2] = { 0 };
	struct http_request req = { 0 };
	struct http_response resp = HTTP_RESPONSE_INIT;
	const char *tok = NULL;
	int r, n = 0;

	if (out)
		*out = NULL;
	if ((size_t)snprintf(url, sizeof(url), "%s%s", m->uri, path) >=
	    sizeof(url)) {
		snprintf(why, wlen, "URL too long for %s", path);
		return XR_REFUSED;
	}
	snprintf(ct, sizeof(ct), "Content-Type: %s",
		 ctype ? ctype : "application/json");
	if (body)
		headers[n++] = ct;
	if (m->has_token) {
		/* no request goes out without its token: the server would
		 * refuse it, and a refusal ends a run's export */
		tok = secret_get(&m->token, serr, sizeof(serr));
		if (!tok) {
			snprintf(why, wlen, "the token is not there: %s", serr);
			return XR_DOWN;
		}
		snprintf(auth, sizeof(auth), "Authorization: Bearer %s", tok);
		headers[n++] = auth;
		secrets[0] = tok;
	}
	req.method = method;
	req.url = url;
	req.headers = headers;
	req.body = body;
	req.body_len = len;
	req.secrets = secrets;
	req.max_response = MLF_RESP_MAX;
	req.connect_timeout_ms = MLF_CONNECT_MS;
	req.timeout_ms = MLF_TIMEOUT_MS;
	req.max_redirs = -1;
	req.cancelled = mlf_cancelled;
	req.arg = m;
	req.pool = m->pool;
	r = http_request(&req, &resp);
	if (r == TFS_OK) {
		if (out && resp.body_len)
			*out = cJSON_ParseWithLength(resp.body, resp.body_len);
		if (out && !*out)
			*out = cJSON_CreateObject();
		http_response_release(&resp);
		return XR_OK;
	}
	/*
	 * 401 and 403 are the token's (expired, rotated), not the run's:
	 * the server is as good as down until it takes the token, and the
	 * runs wait rather than being given up until a restart.
	 */
	if (resp.fail == HTTP_FAIL_STATUS && resp.status >= 400 &&
	    resp.status < 500 && resp.status != 408 && resp.status != 429 &&
	    resp.status != 401 && resp.status != 403) {
		cJSON *j = resp.body ? cJSON_ParseWithLength(resp.body,
							     resp.body_len) : NULL;
		const cJSON *code = cJSON_GetObjectItem(j, "error_code");
		const cJSON *msg = cJSON_GetObjectItem(j, "message");
		char text[MLF_WHY_MAX];

		snprintf(text, sizeof(text), "%s %.100s: %ld %.120s",
			 method ? method : (body ? "POST" : "GET"), path,
			 resp.status, cJSON_IsString(msg) ? msg->valuestring :
			 resp.error);
		http_redact_request(&req, text);
		snprintf(why, wlen, "%s", text);
		r = XR_REFUSED;
		if (cJSON_IsString(code) &&
		    !strcmp(code->valuestring, "RESOURCE_DOES_NOT_EXIST"))
			r = XR_NOTFOUND;
		else if (cJSON_IsString(code) &&
			 !strcmp(code->valuestring, "RESOURCE_ALREADY_EXISTS"))
			r = XR_EXISTS;
		else if (resp.status == 404)
			r = XR_NOTFOUND;
		cJSON_Delete(j);
	} else {
		snprintf(why, wlen, "%.250s", resp.error[0] ? resp.error :
			 "no answer");
		r = XR_DOWN;
	}
	http_response_release(&resp);
	return r;
}

/* mlf_call() of a JSON body built by cJSON (consumed). */
static int mlf_post(struct mlflow *m, const char *path, cJSON *body,
		    cJSON **out, char *why, size_t wlen)
{
	char *txt = cJSON_PrintUnformatted(body);
	int r;

	cJSON_Delete(body);
	if (!txt) {
		snprintf(why, wlen, "out of memory");
		return XR_DOWN;
	}
	r = mlf_call(m, "POST", path, txt, strlen(txt), NULL, out, why, wlen);
	free(txt);
	return r;
}

static const char *jstr(const cJSON *o, const char *path)
{
	char part[64];
	const char *p = path, *e;

	while (o && *p) {
		e = strchr(p, '.');
		snprintf(part, sizeof(part), "%.*s",
			 (int)(e ? (size_t)(e - p) : strlen(p)), p);
		o = cJSON_GetObjectItemCaseSensitive(o, part);
		p = e ? e + 1 : p + strlen(p);
	}
	return cJSON_IsString(o) ? o->valuestring : NULL;
}

/* ---- records ---- */

static struct xrec *rec_get(struct mlflow *m, const char *key)
{
	return hmap_sget(&m->recs, key);
}

static struct xrec *rec_new(struct mlflow *m, const char *key,
			    const char *remote, int64_t pos, int64_t flags)
{
	struct xrec *x = xcalloc(1, sizeof(*x));

	x->key = xstrdup(key);
	x->remote = xstrdup(remote);
	x->pos = pos;
	x->flags = flags;
	x->sent_status = -1;
	hmap_sput(&m->recs, x->key, x);
	if (!strncmp(key, "run:", 4)) {
		pthread_mutex_lock(&m->lock);
		m->exported_runs++;
		pthread_mutex_unlock(&m->lock);
	}
	return x;
}

static int rec_put(struct core *c, struct xrec *x)
{
	return store_export_put(c->store, TARGET, x->key, x->remote, x->pos,
				x->flags);
}

static int load_rec(void *arg, const char *key, const char *remote,
		    int64_t pos, int64_t flags)
{
	rec_new(arg, key, remote ? remote : "", pos, flags);
	return 0;
}

static void rec_free(struct xrec *x)
{
	free(x->key);
	free(x->remote);
	free(x->art_uri);
	free(x->members);
	free(x);
}

/* ---- what a run is, copied under c->lock ---- */

struct xsnap {
	int64_t id;
	char uuid[37];
	int64_t exp_id;
	char exp[TFS_NAME_MAX + 1];
	char name[TFS_NAME_MAX + 1];
	int state;
	char provider[TFS_NAME_MAX + 1];
	char kind[64];
	char sha[65];
	int64_t created_ms, started_ms, ended_ms;
	int manifest;
	/* its sweep's, when a trial (sweep_id 0: none) */
	int64_t sweep_id, sweep_exp_id, sweep_created_ms;
	char sweep[TFS_NAME_MAX + 1], sweep_exp[TFS_NAME_MAX + 1];
	int sweep_state;
};

static void cpy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src ? src : "");
}

static int snap_locked(struct core *c, int64_t id, struct xsnap *s)
{
	struct run *r = hmap_iget(&c->run_by_id, id);
	struct sweep *w;

	if (!r)
		return TFS_ENOENT;
	memset(s, 0, sizeof(*s));
	s->id = id;
	cpy(s->uuid, sizeof(s->uuid), r->uuid);
	s->exp_id = r->exp->id;
	cpy(s->exp, sizeof(s->exp), r->exp->name);
	cpy(s->name, sizeof(s->name), r->name);
	s->state = r->state;
	cpy(s->provider, sizeof(s->provider), r->provider);
	cpy(s->kind, sizeof(s->kind), r->kind);
	cpy(s->sha, sizeof(s->sha), r->config_sha);
	s->created_ms = r->created_ms;
	s->started_ms = r->started_ms;
	s->ended_ms = r->ended_ms;
	s->manifest = r->manifest;
	w = hmap_iget(&c->sweep_of_run, id);
	if (w) {
		s->sweep_id = w->id;
		s->sweep_exp_id = w->exp->id;
		s->sweep_created_ms = w->created_ms;
		cpy(s->sweep, sizeof(s->sweep), w->name);
		cpy(s->sweep_exp, sizeof(s->sweep_exp), w->exp->name);
		s->sweep_state = w->state;
	}
	return TFS_OK;
}

static int snap(struct core *c, int64_t id, struct xsnap *s)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = snap_locked(c, id, s);
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* The run's effective config, parsed; NULL when none. */
static cJSON *run_effective(struct core *c, int64_t id)
{
	struct buf b = BUF_INIT(0);
	cJSON *j = NULL;

	if (store_run_effective(c->store, id, &b) == TFS_OK && b.p)
		j = cJSON_ParseWithLength(b.p, b.len);
	buf_release(&b);
	return j;
}

/* The id of run id's first dependency, or 0. */
static int64_t first_dep(struct core *c, int64_t id)
{
	cJSON *j = run_effective(c, id);
	const cJSON *d = cJSON_GetArrayItem(cJSON_GetObjectItem(j,
							"depends_on"), 0);
	int64_t dep = 0;

	if (cJSON_IsString(d)) {
		struct run *r, *x = NULL;
		const char *slash = strchr(d->valuestring, '/');

		pthread_mutex_lock(&c->lock);
		r = hmap_iget(&c->run_by_id, id);
		if (r && slash) {
			char en[TFS_NAME_MAX + 1];
			struct exp *e;

			snprintf(en, sizeof(en), "%.*s",
				 (int)(slash - d->valuestring), d->valuestring);
			e = hmap_sget(&c->exp_by_name, en);
			x = e ? hmap_sget(&e->by_name, slash + 1) : NULL;
		} else if (r) {
			x = hmap_sget(&r->exp->by_name, d->valuestring);
		}
		dep = x ? x->id : 0;
		pthread_mutex_unlock(&c->lock);
	}
	cJSON_Delete(j);
	return dep;
}

/* ---- experiments and runs on the server ---- */

/* The MLflow experiment of trainfs experiment (id, name), made once. */
static int mlf_exp(struct core *c, struct mlflow *m, int64_t id,
		   const char *name, const char **remote, char *why,
		   size_t wlen)
{
	char key[64], path[1024], full[MLFLOW_PREFIX_MAX + TFS_NAME_MAX + 2];
	struct xrec *x;
	cJSON *j = NULL, *b;
	const char *eid;
	int r, tries;

	snprintf(key, sizeof(key), "exp:%" PRId64, id);
	x = rec_get(m, key);
	if (x) {
		*remote = x->remote;
		return XR_OK;
	}
	snprintf(full, sizeof(full), "%s%s", m->prefix, name);
	for (tries = 0; tries < 2; tries++) {
		snprintf(path, sizeof(path),
			 "/api/2.0/mlflow/experiments/get-by-name?experiment_name=");
		url_path_append(path, sizeof(path), full);
		r = mlf_call(m, "GET", path, NULL, 0, NULL, &j, why, wlen);
		if (r == XR_OK) {
			eid = jstr(j, "experiment.experiment_id");
			if (!eid) {
				cJSON_Delete(j);
				snprintf(why, wlen, "get-by-name answered no id");
				return XR_REFUSED;
			}
			break;
		}
		if (r != XR_NOTFOUND)
			return r;
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "name", full);
		r = mlf_post(m, "/api/2.0/mlflow/experiments/create", b, &j,
			     why, wlen);
		if (r == XR_OK) {
			eid = jstr(j, "experiment_id");
			if (eid)
				break;
			cJSON_Delete(j);
			snprintf(why, wlen, "experiments/create answered no id");
			return XR_REFUSED;
		}
		if (r != XR_EXISTS)   /* made meanwhile: found by name again */
			return r;
	}
	if (tries == 2)
		return XR_REFUSED;
	x = rec_new(m, key, eid, 0, 0);
	cJSON_Delete(j);
	if (rec_put(c, x))
		log_msg(LOG_WARNING, "mlflow: cannot store %s", key);
	*remote = x->remote;
	return XR_OK;
}

static void tag_add(cJSON *a, const char *k, const char *v)
{
	cJSON *o = cJSON_CreateObject();
	char *val = xstrdup(v ? v : "");

	mlflow_truncate(val, MLFLOW_TAG_VALUE_MAX);
	cJSON_AddStringToObject(o, "key", k);
	cJSON_AddStringToObject(o, "value", val);
	cJSON_AddItemToArray(a, o);
	free(val);
}

/*
 * The MLflow run of record key, found by its tag trainfs.key = tkey in
 * experiment eid, else made with tags (consumed) and start time.
 */
static int mlf_run_make(struct core *c, struct mlflow *m, const char *key,
			const char *tkey, const char *eid, const char *name,
			int64_t start_ms, cJSON *tags, struct xrec **out,
			char *why, size_t wlen)
{
	char filter[512];
	cJSON *b, *j = NULL, *ids;
	const cJSON *run;
	const char *rid;
	int r;

	b = cJSON_CreateObject();
	ids = cJSON_AddArrayToObject(b, "experiment_ids");
	cJSON_AddItemToArray(ids, cJSON_CreateString(eid));
	snprintf(filter, sizeof(filter), "tags.`trainfs.key` = '%s'", tkey);
	cJSON_AddStringToObject(b, "filter", filter);
	cJSON_AddNumberToObject(b, "max_results", 1);
	cJSON_AddStringToObject(b, "run_view_type", "ALL");
	r = mlf_post(m, "/api/2.0/mlflow/runs/search", b, &j, why, wlen);
	if (r) {
		cJSON_Delete(tags);
		return r;
	}
	run = cJSON_GetArrayItem(cJSON_GetObjectItem(j, "runs"), 0);
	if (!run) {
		cJSON_Delete(j);
		j = NULL;
		b = cJSON_CreateObject();
		cJSON_AddStringToObject(b, "experiment_id", eid);
		cJSON_AddStringToObject(b, "run_name", name);
		cJSON_AddNumberToObject(b, "start_time", (double)start_ms);
		tag_add(tags, "trainfs.key", tkey);
		cJSON_AddItemToObject(b, "tags", tags);
		tags = NULL;
		r = mlf_post(m, "/api/2.0/mlflow/runs/create", b, &j, why,
			     wlen);
		if (r)
			return r;
		run = cJSON_GetObjectItem(j, "run");
	}
	cJSON_Delete(tags);
	rid = jstr(run, "info.run_id");
	if (!rid) {
		cJSON_Delete(j);
		snprintf(why, wlen, "runs/create answered no run id");
		return XR_REFUSED;
	}
	*out = rec_new(m, key, rid, 0, 0);
	if (jstr(run, "info.artifact_uri"))
		(*out)->art_uri = xstrdup(jstr(run, "info.artifact_uri"));
	cJSON_Delete(j);
	if (rec_put(c, *out))
		log_msg(LOG_WARNING, "mlflow: cannot store %s", key);
	return XR_OK;
}

/*
 * Reads x's run back once after a start: its artifact URI and the
 * metrics position the server holds (the larger one wins).
 */
static int mlf_check(struct mlflow *m, struct xrec *x, char *why,
		     size_t wlen)
{
	char path[256];
	cJSON *j = NULL, *t;
	const char *au;
	int r;

	if (x->checked)
		return XR_OK;
	snprintf(path, sizeof(path), "/api/2.0/mlflow/runs/get?run_id=%s",
		 x->remote);
	r = mlf_call(m, "GET", path, NULL, 0, NULL, &j, why, wlen);
	if (r)
		return r;
	au = jstr(j, "run.info.artifact_uri");
	if (au && !x->art_uri)
		x->art_uri = xstrdup(au);
	cJSON_ArrayForEach(t, cJSON_GetObjectItem(cJSON_GetObjectItem(
				cJSON_GetObjectItem(j, "run"), "data"), "tags")) {
		const char *k = jstr(t, "key"), *v = jstr(t, "value");

		if (k && v && !strcmp(k, "trainfs.metrics_pos")) {
			long long p = strtoll(v, NULL, 10);

			if (p > x->pos)
				x->pos = p;
		}
	}
	cJSON_Delete(j);
	x->checked = 1;
	return XR_OK;
}

/* log-batch of everything given, in as many requests as MLflow's limits
 * need; the metrics in order. */
static int mlf_batch(struct mlflow *m, const char *rid,
		     const struct mlflow_metric *mt, size_t nm,
		     const struct mlflow_kv *p, size_t np,
		     const struct mlflow_kv *t, size_t nt, char *why,
		     size_t wlen)
{
	struct buf b = BUF_INIT(0);
	size_t tm, tp, tt;
	int r = XR_OK;

	do {
		mlflow_batch_plan(nm, np, nt, &tm, &tp, &tt);
		buf_reset(&b);
		if (mlflow_batch_body(rid, mt, tm, p, tp, t, tt, &b)) {
			snprintf(why, wlen, "out of memory");
			r = XR_DOWN;
			break;
		}
		r = mlf_call(m, "POST", "/api/2.0/mlflow/runs/log-batch", b.p,
			     b.len, NULL, NULL, why, wlen);
		mt += tm, nm -= tm, p += tp, np -= tp, t += tt, nt -= tt;
	} while (!r && (nm || np || nt));
	buf_release(&b);
	return r;
}

static int mlf_tag(struct mlflow *m, const char *rid, const char *k,
		   const char *v, char *why, size_t wlen)
{
	struct mlflow_kv t = { (char *)k, (char *)v, 0 };

	return mlf_batch(m, rid, NULL, 0, NULL, 0, &t, 1, why, wlen);
}

static int mlf_update(struct mlflow *m, const char *rid, const char *status,
		      int64_t end_ms, char *why, size_t wlen)
{
	cJSON *b = cJSON_CreateObject();

	cJSON_AddStringToObject(b, "run_id", rid);
	cJSON_AddStringToObject(b, "status", status);
	if (end_ms > 0)
		cJSON_AddNumberToObject(b, "end_time", (double)end_ms);
	return mlf_post(m, "/api/2.0/mlflow/runs/update", b, NULL, why, wlen);
}

/* ---- parents: sweeps and pipelines ---- */

enum { PS_RUNNING, PS_FINISHED, PS_FAILED, PS_KILLED };
static const char *const parent_status[] = {
	"RUNNING", "FINISHED", "FAILED", "KILLED"
};

static int sweep_pstatus(int state)
{
	switch (state) {
	case SWEEP_COMPLETED: return PS_FINISHED;
	case SWEEP_STOPPED: return PS_KILLED;
	case SWEEP_FAILED: return PS_FAILED;
	default: return PS_RUNNING;
	}
}

static int mlf_sweep_parent(struct core *c, struct mlflow *m,
			    const struct xsnap *s, struct xrec **out,
			    char *why, size_t wlen)
{
	char key[64], tkey[96], shown[2 * TFS_NAME_MAX + 2];
	const char *eid;
	cJSON *tags;
	int r;

	snprintf(key, sizeof(key), "sweep:%" PRId64, s->sweep_id);
	*out = rec_get(m, key);
	if (*out)
		return XR_OK;
	r = mlf_exp(c, m, s->sweep_exp_id, s->sweep_exp, &eid, why, wlen);
	if (r)
		return r;
	snprintf(tkey, sizeof(tkey), "sweep:%" PRId64 ":%" PRId64,
		 s->sweep_id, s->sweep_created_ms);
	snprintf(shown, sizeof(shown), "%s/%s", s->sweep_exp, s->sweep);
	tags = cJSON_CreateArray();
	tag_add(tags, "trainfs.sweep", shown);
	tag_add(tags, "trainfs.kind", "sweep");
	tag_add(tags, "mlflow.source.name", "trainfs");
	return mlf_run_make(c, m, key, tkey, eid, s->sweep,
			    s->sweep_created_ms, tags, out, why, wlen);
}

/* The root of run id's pipeline (itself when it depends on nothing). */
static int64_t pipe_root(struct core *c, int64_t id, int *has_deps)
{
	int64_t d, root = id;
	int i;

	*has_deps = 0;
	for (i = 0; i < MLF_DEPTH_MAX && (d = first_dep(c, root)); i++) {
		root = d;
		*has_deps = 1;
	}
	return root;
}

static void member_add(struct xrec *p, int64_t id)
{
	size_t i;

	for (i = 0; i < p->nmembers; i++)
		if (p->members[i] == id)
			return;
	if (p->nmembers == p->mcap) {
		p->mcap = p->mcap ? 2 * p->mcap : 8;
		p->members = xrealloc(p->members, p->mcap * sizeof(int64_t));
	}
	p->members[p->nmembers++] = id;
}

static int mlf_pipe_parent(struct core *c, struct mlflow *m, int64_t root,
			   struct xrec **out, char *why, size_t wlen)
{
	char key[64], tkey[96], name[TFS_NAME_MAX + 16];
	struct xsnap rs;
	const char *eid;
	cJSON *tags;
	int r;

	snprintf(key, sizeof(key), "pipe:%" PRId64, root);
	*out = rec_get(m, key);
	if (*out)
		return XR_OK;
	if (snap(c, root, &rs))
		return XR_WAIT;
	r = mlf_exp(c, m, rs.exp_id, rs.exp, &eid, why, wlen);
	if (r)
		return r;
	snprintf(tkey, sizeof(tkey), "pipe:%s", rs.uuid);
	snprintf(name, sizeof(name), "%s-pipeline", rs.name);
	tags = cJSON_CreateArray();
	tag_add(tags, "trainfs.pipeline", rs.name);
	tag_add(tags, "trainfs.kind", "pipeline");
	tag_add(tags, "mlflow.source.name", "trainfs");
	return mlf_run_make(c, m, key, tkey, eid, name, rs.created_ms, tags,
			    out, why, wlen);
}

/* A parent's status now, from its sweep or its members. */
static int parent_now(struct core *c, struct xrec *p, int64_t *end_ms)
{
	int st = PS_RUNNING, failed = 0, killed = 0, going = 0;
	size_t i;

	*end_ms = 0;
	pthread_mutex_lock(&c->lock);
	if (!strncmp(p->key, "sweep:", 6)) {
		struct sweep *w = hmap_iget(&c->sweep_by_id,
					    strtoll(p->key + 6, NULL, 10));

		st = w ? sweep_pstatus(w->state) : PS_RUNNING;
		if (w && st != PS_RUNNING)
			*end_ms = w->updated_ms;
	} else {
		for (i = 0; i < p->nmembers; i++) {
			struct run *r = hmap_iget(&c->run_by_id,
						  p->members[i]);

			if (!r)
				continue;
			if (!run_state_terminal(r->state))
				going = 1;
			failed |= r->state == RS_FAILED;
			killed |= r->state == RS_STOPPED;
			if (r->ended_ms > *end_ms)
				*end_ms = r->ended_ms;
		}
		st = going || !p->nmembers ? PS_RUNNING : failed ? PS_FAILED :
		     killed ? PS_KILLED : PS_FINISHED;
	}
	pthread_mutex_unlock(&c->lock);
	return st;
}

static int mlf_parent_status(struct core *c, struct mlflow *m,
			     struct xrec *p, char *why, size_t wlen)
{
	int64_t end;
	int st, r;

	if (!strncmp(p->key, "pipe:", 5) && !p->nmembers)
		return XR_OK;    /* not seen yet since the start */
	st = parent_now(c, p, &end);
	if (st == p->sent_status ||
	    (st != PS_RUNNING && (p->flags & XF_FINAL) && p->sent_status < 0))
		return XR_OK;
	r = mlf_update(m, p->remote, parent_status[st],
		       st == PS_RUNNING ? 0 : end, why, wlen);
	if (r)
		return r;
	p->sent_status = st;
	if ((st != PS_RUNNING) != !!(p->flags & XF_FINAL)) {
		p->flags ^= XF_FINAL;
		rec_put(c, p);
	}
	return XR_OK;
}

/* ---- a run ---- */

/* Params (config params and resources) and tags of run s, for its first
 * batch; parent_rid (may be NULL) makes it a child. */
static void run_params(struct core *c, const struct xsnap *s,
		       const char *parent_rid, struct mlflow_kv **p,
		       size_t *np, struct mlflow_kv **t, size_t *nt)
{
	cJSON *j = run_effective(c, s->id);
	struct buf cut = BUF_INIT(0);
	size_t i, dropped, n0;
	char shown[2 * TFS_NAME_MAX + 2];
	char *cmd;

	*p = *t = NULL;
	*np = *nt = 0;
	dropped = mlflow_flatten(cJSON_GetObjectItem(j, "params"), "",
				 MLFLOW_PARAM_VALUE_MAX, p, np,
				 MLFLOW_PARAMS_MAX);
	dropped += mlflow_flatten(cJSON_GetObjectItem(j, "resources"),
				  "resources.", MLFLOW_PARAM_VALUE_MAX, p, np,
				  MLFLOW_PARAMS_MAX);
	for (i = 0; i < *np; i++)
		if ((*p)[i].truncated)
			buf_printf(&cut, "%s%s", cut.len ? " " : "",
				   (*p)[i].key);
	/* the user's tags first: ours, after, win */
	mlflow_flatten(cJSON_GetObjectItem(j, "tags"), "",
		       MLFLOW_TAG_VALUE_MAX, t, nt, MLFLOW_PARAMS_MAX);
	n0 = *nt;
	snprintf(shown, sizeof(shown), "%s/%s", s->exp, s->name);
	flatten_add(t, nt, SIZE_MAX, "trainfs.run", shown, MLFLOW_TAG_VALUE_MAX);
	flatten_add(t, nt, SIZE_MAX, "trainfs.run_id", s->uuid,
		    MLFLOW_TAG_VALUE_MAX);
	flatten_add(t, nt, SIZE_MAX, "trainfs.provider", s->provider,
		    MLFLOW_TAG_VALUE_MAX);
	flatten_add(t, nt, SIZE_MAX, "trainfs.kind", s->kind,
		    MLFLOW_TAG_VALUE_MAX);
	flatten_add(t, nt, SIZE_MAX, "trainfs.config_sha256", s->sha,
		    MLFLOW_TAG_VALUE_MAX);
	flatten_add(t, nt, SIZE_MAX, "mlflow.source.name", "trainfs",
		    MLFLOW_TAG_VALUE_MAX);
	cmd = cJSON_PrintUnformatted(cJSON_GetObjectItem(j, "command"));
	if (cmd)
		flatten_add(t, nt, SIZE_MAX, "trainfs.command", cmd,
			    MLFLOW_TAG_VALUE_MAX);
	free(cmd);
	if (parent_rid)
		flatten_add(t, nt, SIZE_MAX, "mlflow.parentRunId", parent_rid,
			    MLFLOW_TAG_VALUE_MAX);
	if (cut.len || dropped) {
		char *v;

		if (dropped)
			buf_printf(&cut, "%s(%zu params past %d dropped)",
				   cut.len ? " " : "", dropped,
				   MLFLOW_PARAMS_MAX);
		v = buf_detach(&cut, NULL);
		flatten_add(t, nt, SIZE_MAX, "trainfs.truncated_params", v,
			    MLFLOW_TAG_VALUE_MAX);
		free(v);
	}
	/* a user's tag named like ours goes: ours say what trainfs knows */
	for (i = 0; i < n0; i++) {
		size_t k;

		for (k = n0; k < *nt; k++)
			if (!strcmp((*t)[i].key, (*t)[k].key))
				(*t)[i].key[0] = 0;
	}
	for (i = 0; i < *nt; ) {
		if (!(*t)[i].key[0]) {
			free((*t)[i].key);
			free((*t)[i].value);
			memmove(&(*t)[i], &(*t)[i + 1],
				(*nt - i - 1) * sizeof(**t));
			(*nt)--;
		} else {
			i++;
		}
	}
	buf_release(&cut);
	cJSON_Delete(j);
}

/* Points read for one batch. */
struct pts {
	struct mlflow_metric m[MLFLOW_BATCH_METRICS];
	char keys[MLFLOW_BATCH_METRICS][STORE_JSONL_LINE_MAX];
	size_t n;
	int64_t end;
};

static int pts_add(void *arg, const struct store_point *p, int64_t end)
{
	struct pts *b = arg;

	cpy(b->keys[b->n], sizeof(b->keys[b->n]), p->key);
	mlflow_truncate(b->keys[b->n], MLFLOW_KEY_MAX);
	b->m[b->n].key = b->keys[b->n];
	b->m[b->n].value = p->value;
	b->m[b->n].timestamp = p->time_ms;
	b->m[b->n].step = mlflow_step(p->step);
	b->n++;
	b->end = end;
	return 0;
}

/* Sends x's points after x->pos, a batch at a time, each acknowledged
 * batch's position stored; XR_WAIT when more are left for the next pass. */
static int mlf_metrics(struct core *c, struct mlflow *m, int64_t id,
		       struct xrec *x, char *why, size_t wlen)
{
	struct pts *b = xmalloc(sizeof(*b));
	char pos[32];
	int i, r = XR_OK;

	for (i = 0; i < MLF_BATCHES_PER_PASS && !atomic_load(&m->quit); i++) {
		struct mlflow_kv tag = { "trainfs.metrics_pos", pos, 0 };

		b->n = 0;
		if (store_metrics_from(c->store, id, x->pos,
				       MLFLOW_BATCH_METRICS - 1, pts_add, b)) {
			snprintf(why, wlen, "cannot read the metrics of run %"
				 PRId64, id);
			r = XR_WAIT;
			break;
		}
		if (!b->n)
			break;
		snprintf(pos, sizeof(pos), "%" PRId64, b->end);
		/* the position goes with the points: one transaction there */
		r = mlf_batch(m, x->remote, b->m, b->n, NULL, 0, &tag, 1, why,
			      wlen);
		if (r)
			break;
		x->pos = b->end;
		rec_put(c, x);
		pthread_mutex_lock(&m->lock);
		m->sent_points += b->n;
		m->sent_batches++;
		pthread_mutex_unlock(&m->lock);
	}
	if (!r && i == MLF_BATCHES_PER_PASS)
		r = XR_WAIT;
	free(b);
	return r;
}

struct art_row {
	int64_t id;
	char *path, *url, sha[65];
	int64_t size;
};

struct art_rows {
	struct art_row *a;
	size_t n;
};

static int art_row_add(void *arg, int64_t id, const char *path, int is_dir,
		       int64_t size, const char *sha256, const char *url)
{
	struct art_rows *rs = arg;
	struct art_row *a;

	if (is_dir)
		return 0;
	rs->a = xrealloc(rs->a, (rs->n + 1) * sizeof(*rs->a));
	a = &rs->a[rs->n++];
	a->id = id;
	a->path = xstrdup(path ? path : "");
	a->url = url ? xstrdup(url) : NULL;
	cpy(a->sha, sizeof(a->sha), sha256);
	a->size = size;
	return 0;
}

static int art_list_none(void *arg, const struct core_art_info *a)
{
	(void)arg;
	(void)a;
	return 1;
}

/* Uploads one verified artifact; XR_WAIT while it is not verified yet. */
static int mlf_upload(struct core *c, struct mlflow *m, struct xrec *x,
		      const struct art_row *a, char *why, size_t wlen)
{
	char url[HTTP_URL_MAX], sha[65], reason[256] = "";
	struct buf b = BUF_INIT((size_t)m->upload_max);
	int fd, r;

	if (!x->art_uri || mlflow_artifact_url("", x->art_uri, a->path, url,
					       sizeof(url))) {
		snprintf(why, wlen, "run %s's artifact URI '%.100s' is not the "
			 "server's proxy (--serve-artifacts)", x->remote,
			 x->art_uri ? x->art_uri : "");
		return XR_REFUSED;
	}
	r = core_art_open(c, a->id, &fd, sha, reason, sizeof(reason));
	if (r == TFS_EAGAIN)
		return XR_WAIT;
	if (r) {
		snprintf(why, wlen, "artifact %.100s: %.140s", a->path, reason);
		return XR_REFUSED;
	}
	r = file_read_fd(fd, (size_t)m->upload_max, &b);
	close(fd);
	core_art_release(c, sha);
	if (r) {
		buf_release(&b);
		snprintf(why, wlen, "cannot read artifact %s", a->path);
		return XR_REFUSED;
	}
	r = mlf_call(m, "PUT", url, b.p ? b.p : "", b.len,
		     "application/octet-stream", NULL, why, wlen);
	buf_release(&b);
	if (!r) {
		pthread_mutex_lock(&m->lock);
		m->uploads++;
		pthread_mutex_unlock(&m->lock);
	}
	return r;
}

/*
 * The artifacts of an ended run: uploaded (verified bytes only, each
 * within upload_max) or, when upload is off or a file is larger, linked by
 * their URL in a tag trainfs.artifact.<path>.
 */
static int mlf_artifacts(struct core *c, struct mlflow *m, int64_t id,
			 struct xrec *x, char *why, size_t wlen)
{
	struct art_rows rs = { NULL, 0 };
	struct mlflow_kv *links = NULL;
	size_t i, nl = 0;
	int r = XR_OK, waiting = 0;

	if (store_art_load(c->store, id, art_row_add, &rs))
		return XR_WAIT;
	/* the cache knows a run's artifacts once they are loaded */
	core_art_list(c, id, 0, 0, art_list_none, NULL);
	for (i = 0; i < rs.n && (r == XR_OK || r == XR_WAIT); i++) {
		if (m->upload && rs.a[i].size <= m->upload_max) {
			r = mlf_upload(c, m, x, &rs.a[i], why, wlen);
			if (r == XR_WAIT)
				waiting = 1;
		} else if (nl < MLF_ART_TAGS_MAX) {
			char k[MLFLOW_KEY_MAX + 1], shown[SECRET_URL_SHOWN_MAX + 64];

			snprintf(k, sizeof(k), "trainfs.artifact.%s",
				 rs.a[i].path);
			secret_url_shown(rs.a[i].url ? rs.a[i].url : "", shown,
					 sizeof(shown));
			flatten_add(&links, &nl, SIZE_MAX, k, shown,
				    MLFLOW_TAG_VALUE_MAX);
		}
	}
	if ((r == XR_OK || r == XR_WAIT) && nl) {
		int r2 = mlf_batch(m, x->remote, NULL, 0, NULL, 0, links, nl,
				   why, wlen);

		if (r2)
			r = r2;
		else {
			pthread_mutex_lock(&m->lock);
			m->links += nl;
			pthread_mutex_unlock(&m->lock);
		}
	}
	mlflow_kv_free(links, nl);
	for (i = 0; i < rs.n; i++) {
		free(rs.a[i].path);
		free(rs.a[i].url);
	}
	free(rs.a);
	if (r == XR_OK && waiting)
		r = XR_WAIT;
	return r;
}

/*
 * Exports what run id has and the server lacks. *done when nothing is
 * left to send (until its next change). XR_DOWN stops the pass.
 */
static int mlf_run(struct core *c, struct mlflow *m, int64_t id, int *done,
		   char *why, size_t wlen)
{
	char key[64], tkey[64];
	struct xsnap s;
	struct xrec *x, *parent = NULL;
	const char *eid;
	int64_t size = 0, root = 0;
	int r, has_deps = 0, term;

	*done = 0;
	/* removed (its MLflow run stays), refused, or not submitted yet:
	 * a run without its config has nothing to say (its hook calls) */
	if (hmap_iget(&m->broken, id) || snap(c, id, &s) ||
	    s.state == RS_CREATED) {
		*done = 1;
		return XR_OK;
	}
	term = run_state_terminal(s.state);
	snprintf(key, sizeof(key), "run:%" PRId64, id);
	x = rec_get(m, key);
	if (store_metrics_history_size(c->store, id, &size))
		return XR_WAIT;
	if (!s.sweep_id) {
		intptr_t v = (intptr_t)hmap_iget(&m->roots, id);

		if (!v) {
			root = pipe_root(c, id, &has_deps);
			v = has_deps ? (intptr_t)root + 1 : -((intptr_t)root + 1);
			hmap_iput(&m->roots, id, (void *)v);
		}
		has_deps = v > 0;
		root = (v > 0 ? v : -v) - 1;
	}
	/* done before, as far as the store says: no request at all */
	if (x && (x->flags & XF_FINAL) && term && x->pos >= size &&
	    ((x->flags & XF_ARTS) || !s.manifest)) {
		if (has_deps) {
			snprintf(tkey, sizeof(tkey), "pipe:%" PRId64, root);
			if ((parent = rec_get(m, tkey))) {
				member_add(parent, root);
				member_add(parent, id);
			}
		}
		*done = 1;
		return XR_OK;
	}
	if (s.sweep_id) {
		r = mlf_sweep_parent(c, m, &s, &parent, why, wlen);
		if (r)
			return r;
	} else if (has_deps) {
		r = mlf_pipe_parent(c, m, root, &parent, why, wlen);
		if (r)
			return r;
		member_add(parent, root);
	}
	if (parent)
		member_add(parent, id);
	r = mlf_exp(c, m, s.exp_id, s.exp, &eid, why, wlen);
	if (r)
		return r;
	if (!x) {
		cJSON *tags = cJSON_CreateArray();

		snprintf(tkey, sizeof(tkey), "run:%s", s.uuid);
		if (parent)
			tag_add(tags, "mlflow.parentRunId", parent->remote);
		tag_add(tags, "trainfs.run_id", s.uuid);
		r = mlf_run_make(c, m, key, tkey, eid, s.name, s.created_ms,
				 tags, &x, why, wlen);
		if (r)
			return r;
		x->checked = 0;
	}
	r = mlf_check(m, x, why, wlen);
	if (r)
		return r;
	if (!(x->flags & XF_PARAMS)) {
		struct mlflow_kv *p, *t;
		size_t np, nt;

		run_params(c, &s, parent ? parent->remote : NULL, &p, &np, &t,
			   &nt);
		r = mlf_batch(m, x->remote, NULL, 0, p, np, t, nt, why, wlen);
		mlflow_kv_free(p, np);
		mlflow_kv_free(t, nt);
		if (r)
			return r;
		x->flags |= XF_PARAMS;
		rec_put(c, x);
	}
	/* a root learns it leads a pipeline once a run depends on it */
	if (parent && !s.sweep_id && root != id) {
		struct xrec *rx;

		snprintf(tkey, sizeof(tkey), "run:%" PRId64, root);
		rx = rec_get(m, tkey);
		if (rx && !(rx->flags & XF_ROOT)) {
			r = mlf_tag(m, rx->remote, "mlflow.parentRunId",
				    parent->remote, why, wlen);
			if (r)
				return r;
			rx->flags |= XF_ROOT;
			rec_put(c, rx);
		}
	}
	r = mlf_metrics(c, m, id, x, why, wlen);
	if (r)
		return r;
	if (s.state != x->sent_status &&
	    !(term && (x->flags & XF_FINAL) && x->sent_status < 0)) {
		r = mlf_tag(m, x->remote, "trainfs.state",
			    run_state_name(s.state), why, wlen);
		if (!r)
			r = mlf_update(m, x->remote, mlflow_run_status(s.state),
				       term ? s.ended_ms : 0, why, wlen);
		if (r)
			return r;
		x->sent_status = s.state;
		if (term != !!(x->flags & XF_FINAL)) {
			x->flags ^= XF_FINAL;
			rec_put(c, x);
		}
	}
	if (term && s.manifest && !(x->flags & XF_ARTS)) {
		r = mlf_artifacts(c, m, id, x, why, wlen);
		if (r)
			return r;
		x->flags |= XF_ARTS;
		rec_put(c, x);
	}
	if (parent) {
		r = mlf_parent_status(c, m, parent, why, wlen);
		if (r)
			return r;
	}
	*done = term && x->pos >= size;
	return XR_OK;
}

/* ---- the thread ---- */

/* The hook: a run changed; the exporter looks at it. */
static void mlflow_hook(struct core *c, struct run *r, int old, void *arg)
{
	struct mlflow *m = arg;

	(void)c;
	(void)old;
	pthread_mutex_lock(&m->lock);
	if (m->ndirty == m->dcap && m->dcap < MLF_DIRTY_MAX) {
		m->dcap = m->dcap ? 2 * m->dcap : 64;
		m->dirty = xrealloc(m->dirty, m->dcap * sizeof(*m->dirty));
	}
	if (m->ndirty < m->dcap)
		m->dirty[m->ndirty++] = r->id;
	else
		m->rescan = 1;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
}

static void pending_add(struct mlflow *m, int64_t id)
{
	if (!hmap_iget(&m->pending, id))
		hmap_iput(&m->pending, id, (void *)1);
}

/* Every run (a start, or the queue overflowed), or the active ones. */
static void pending_fill(struct core *c, struct mlflow *m, int all)
{
	struct run *r;
	size_t i, j;

	pthread_mutex_lock(&c->lock);
	if (all)
		for (i = 0; i < c->nexps; i++)
			for (j = 0; j < c->exps[i]->nruns; j++)
				pending_add(m, c->exps[i]->runs[j]->id);
	for (r = c->active.head; r; r = r->lnext)
		pending_add(m, r->id);
	pthread_mutex_unlock(&c->lock);
}

static int cmp_id(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return x < y ? -1 : x > y;
}

/* One pass over the pending runs, oldest first, then the parents. */
static int mlf_pass(struct core *c, struct mlflow *m, char *why,
		    size_t wlen)
{
	int64_t *ids = NULL, backlog = 0, n;
	size_t nids = 0, i;
	int r = XR_OK, done;

	for (i = 0; i < m->pending.nb; i++) {
		struct hmap_entry *e;

		for (e = m->pending.b[i]; e; e = e->next) {
			ids = xrealloc(ids, (nids + 1) * sizeof(*ids));
			ids[nids++] = e->ikey;
		}
	}
	if (nids)
		qsort(ids, nids, sizeof(*ids), cmp_id);
	for (i = 0; i < nids && !atomic_load(&m->quit); i++) {
		r = mlf_run(c, m, ids[i], &done, why, wlen);
		if (r == XR_DOWN)
			break;
		if (r == XR_REFUSED) {
			mlf_error(m, why);
			hmap_iput(&m->broken, ids[i], (void *)1);
			done = 1;
		}
		r = XR_OK;
		if (done)
			hmap_idel(&m->pending, ids[i]);
	}
	for (i = 0; r == XR_OK && i < m->recs.nb; i++) {
		struct hmap_entry *e;

		for (e = m->recs.b[i]; e && r == XR_OK; e = e->next) {
			struct xrec *p = e->val;

			if (strncmp(p->key, "sweep:", 6) &&
			    strncmp(p->key, "pipe:", 5))
				continue;
			r = mlf_parent_status(c, m, p, why, wlen);
			if (r == XR_REFUSED) {
				mlf_error(m, why);
				r = XR_OK;
			}
		}
	}
	/* what waits, for the status file */
	for (i = 0; i < nids; i++) {
		char key[64];
		struct xrec *x;

		snprintf(key, sizeof(key), "run:%" PRId64, ids[i]);
		x = rec_get(m, key);
		if (!store_metrics_count_from(c->store, ids[i],
					      x ? x->pos : 0, &n))
			backlog += n;
	}
	pthread_mutex_lock(&m->lock);
	m->backlog_runs = (int64_t)m->pending.n;
	m->backlog_points = backlog;
	pthread_mutex_unlock(&m->lock);
	free(ids);
	return r;
}

static void *mlf_main(void *arg)
{
	struct core *c = arg;
	struct mlflow *m = c->mlflow;
	char why[MLF_WHY_MAX];
	int64_t backoff = 0, *dirty = NULL;
	size_t nd, i;
	int all = 1, r;

	if (store_export_load(c->store, TARGET, load_rec, m))
		log_msg(LOG_ERR, "mlflow: cannot load what was exported");
	for (;;) {
		pthread_mutex_lock(&m->lock);
		if (!all && !m->stop && !m->ndirty && !m->rescan) {
			struct timespec ts;
			int64_t wait = backoff ? backoff : m->interval_ms;

			clock_gettime(CLOCK_REALTIME, &ts);
			ts.tv_sec += wait / 1000;
			ts.tv_nsec += (wait % 1000) * 1000000;
			if (ts.tv_nsec >= 1000000000) {
				ts.tv_sec++;
				ts.tv_nsec -= 1000000000;
			}
			pthread_cond_timedwait(&m->cond, &m->lock, &ts);
		}
		if (m->stop) {
			pthread_mutex_unlock(&m->lock);
			break;
		}
		all |= m->rescan;
		m->rescan = 0;
		nd = m->ndirty;
		dirty = xrealloc(dirty, (nd + 1) * sizeof(*dirty));
		if (nd)         /* m->dirty is NULL before the first change */
			memcpy(dirty, m->dirty, nd * sizeof(*dirty));
		m->ndirty = 0;
		pthread_mutex_unlock(&m->lock);
		for (i = 0; i < nd; i++)
			pending_add(m, dirty[i]);
		pending_fill(c, m, all);
		all = 0;
		/* what the status says waits includes what this pass takes */
		pthread_mutex_lock(&m->lock);
		m->backlog_runs = (int64_t)m->pending.n;
		pthread_mutex_unlock(&m->lock);
		why[0] = 0;
		r = mlf_pass(c, m, why, sizeof(why));
		pthread_mutex_lock(&m->lock);
		if (r == XR_DOWN) {
			char shown[SECRET_URL_SHOWN_MAX + 64];

			/* the URI may carry user:password@ */
			secret_url_shown(m->uri, shown, sizeof(shown));
			if (m->healthy || !m->why[0])
				log_msg(LOG_WARNING, "mlflow: %s unreachable: %s",
					shown, why);
			m->healthy = 0;
			snprintf(m->why, sizeof(m->why), "%s", why);
			backoff = backoff ? backoff * 2 : MLF_BACKOFF_MIN_MS;
			if (backoff > MLF_BACKOFF_MAX_MS)
				backoff = MLF_BACKOFF_MAX_MS;
		} else {
			char shown[SECRET_URL_SHOWN_MAX + 64];

			secret_url_shown(m->uri, shown, sizeof(shown));
			if (!m->healthy && m->why[0])
				log_msg(LOG_INFO, "mlflow: %s reachable again",
					shown);
			m->healthy = 1;
			m->why[0] = 0;
			backoff = 0;
		}
		pthread_mutex_unlock(&m->lock);
	}
	free(dirty);
	return NULL;
}

int mlflow_init(struct core *c, char *err, size_t errlen)
{
	if (!c->mlflow)
		return TFS_OK;
	if (run_hook_add(c, mlflow_hook, c->mlflow)) {
		snprintf(err, errlen, "cannot add the MLflow export's hook");
		return TFS_ENOSPC;
	}
	return TFS_OK;
}

int mlflow_start(struct core *c)
{
	struct mlflow *m = c->mlflow;

	if (!m || m->started)
		return TFS_OK;
	if (http_global_init())
		return TFS_EIO;
	m->pool = http_pool_new();
	m->healthy = 1;
	if (pthread_create(&m->thread, NULL, mlf_main, c)) {
		log_msg(LOG_ERR, "mlflow: cannot start the export thread");
		return TFS_EIO;
	}
	m->started = 1;
	return TFS_OK;
}

void mlflow_stop(struct core *c)
{
	struct mlflow *m = c->mlflow;

	if (!m || !m->started)
		return;
	pthread_mutex_lock(&m->lock);
	m->stop = 1;
	pthread_cond_signal(&m->cond);
	pthread_mutex_unlock(&m->lock);
	atomic_store(&m->quit, 1);
	pthread_join(m->thread, NULL);
	m->started = 0;
}

void mlflow_release(struct core *c)
{
	struct mlflow *m = c->mlflow;
	size_t i;

	if (!m)
		return;
	mlflow_stop(c);
	for (i = 0; i < m->recs.nb; i++) {
		struct hmap_entry *e;

		for (e = m->recs.b[i]; e; e = e->next)
			rec_free(e->val);
	}
	hmap_release(&m->recs);
	hmap_release(&m->pending);
	hmap_release(&m->roots);
	hmap_release(&m->broken);
	if (m->pool)
		http_pool_free(m->pool);
	if (m->has_token)
		secret_src_release(&m->token);
	free(m->dirty);
	free(m->uri);
	free(m->prefix);
	pthread_mutex_destroy(&m->lock);
	pthread_cond_destroy(&m->cond);
	free(m);
	c->mlflow = NULL;
}

int core_export_status(struct core *c, struct buf *out)
{
	struct mlflow *m = c->mlflow;
	char shown[SECRET_URL_SHOWN_MAX + 64];

	if (!m)
		return buf_puts(out, "off: no \"mlflow\" in the daemon config\n");
	secret_url_shown(m->uri, shown, sizeof(shown));
	pthread_mutex_lock(&m->lock);
	if (m->healthy)
		buf_puts(out, "ok\n");
	else
		buf_printf(out, "unreachable: %s\n", m->why);
	buf_printf(out, "tracking_uri %s\n", shown);
	buf_printf(out, "runs_exported %" PRId64 "\n", m->exported_runs);
	buf_printf(out, "runs_pending %" PRId64 "\n",
		   m->backlog_runs + (int64_t)m->ndirty);
	buf_printf(out, "points_sent %" PRIu64 "\n", m->sent_points);
	buf_printf(out, "points_backlog %" PRId64 "\n", m->backlog_points);
	buf_printf(out, "batches_sent %" PRIu64 "\n", m->sent_batches);
	buf_printf(out, "artifacts_uploaded %" PRIu64 "\n", m->uploads);
	buf_printf(out, "artifacts_linked %" PRIu64 "\n", m->links);
	buf_printf(out, "errors %" PRIu64 "\n", m->errors);
	if (m->last_error[0])
		buf_printf(out, "last_error %s\n", m->last_error);
	pthread_mutex_unlock(&m->lock);
	return TFS_OK;
}
