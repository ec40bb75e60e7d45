/*
 * core.c - the model's front door: opening and closing it (the daemon
 * config, the providers, what the store holds), experiments, runs (create,
 * remove, move, submit), ctl commands and templates, each change kept in
 * step with the store. The state machine is in run.c, the scheduler's
 * rules in sched.c, the text of generated files in files.c.
 */
#include "model.h"
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "backup.h"
#include "json.h"
#include "metrics.h"

/* ---- the listener and the notify hook ---- */

void core_set_listener(struct core *c, core_listener_fn fn, void *arg)
{
	pthread_mutex_lock(&c->lock);
	c->listener = fn;
	c->listener_arg = arg;
	pthread_mutex_unlock(&c->lock);
}

/*
 * The notify hook: queues the notifications a state change asks for
 * (never blocks).
 */
static void run_notify_hook(struct core *c, struct run *r, int old,
			    void *arg)
{
	char name[2 * TFS_NAME_MAX + 2], ts[40];
	int want_daemon = c->notifier && c->has_notify &&
			  notify_wants(&c->notify, r->state);
	int want_run = c->notifier && r->notify &&
		       notify_wants(r->notify, r->state);
	cJSON *o;
	char *body;

	(void)arg;
	if (old == r->state || (!want_daemon && !want_run))
		return;
	snprintf(name, sizeof(name), "%s/%s", r->exp->name, r->name);
	time_format(now_ms(), ts, sizeof(ts));
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "run", name);
	cJSON_AddStringToObject(o, "run_id", r->uuid);
	cJSON_AddStringToObject(o, "state", run_state_name(r->state));
	cJSON_AddStringToObject(o, "previous", run_state_name(old));
	cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
	cJSON_AddNumberToObject(o, "attempt", r->attempt);
	if (r->exit_code == STORE_NO_EXIT)
		cJSON_AddNullToObject(o, "exit_code");
	else
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	cJSON_AddStringToObject(o, "provider", r->provider ? r->provider : "");
	cJSON_AddStringToObject(o, "time", ts);
	body = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	if (!body)
		return;
	if (want_daemon)
		notifier_send(c->notifier, &c->notify, body, name,
			      run_state_name(r->state));
	if (want_run)
		notifier_send(c->notifier, r->notify, body, name,
			      run_state_name(r->state));
	free(body);
}

/* Keeps a copy of the run's notify target from its parsed config. */
static void run_take_notify(struct run *r, const struct run_config *cfg)
{
	if (r->notify) {
		notify_target_release(r->notify);
		free(r->notify);
		r->notify = NULL;
	}
	if (cfg && cfg->has_notify) {
		r->notify = xcalloc(1, sizeof(*r->notify));
		notify_target_copy(r->notify, &cfg->notify);
	}
}

struct provider *provider_find(struct core *c, const char *name)
{
	int i;

	for (i = 0; i < c->nprovs; i++)
		if (!strcmp(c->provs[i].conn.name, name))
			return &c->provs[i];
	return NULL;
}

/* ---- lookup helpers ---- */

struct exp *core_exp_by_id(struct core *c, int64_t id)
{
	size_t lo = 0, hi = c->nexps;

	while (lo < hi) {
		size_t mid = (lo + hi) / 2;

		if (c->exps[mid]->id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo < c->nexps && c->exps[lo]->id == id ? c->exps[lo] : NULL;
}

/* Index of the first element with id > after in a sorted array. */
#define UPPER_BOUND(arr, n, after, out) do { \
	size_t lo_ = 0, hi_ = (n); \
	while (lo_ < hi_) { \
		size_t mid_ = (lo_ + hi_) / 2; \
		if ((arr)[mid_]->id <= (after)) lo_ = mid_ + 1; else hi_ = mid_; \
	} \
	(out) = lo_; \
} while (0)

static void exp_info(const struct exp *e, struct core_exp_info *out)
{
	out->id = e->id;
	snprintf(out->name, sizeof(out->name), "%s", e->name);
	out->created_ms = e->created_ms;
	out->mtime_ms = e->mtime_ms;
	out->nruns = e->nruns;
	out->nsweeps = e->nsweeps;
}

static void run_info(const struct run *r, struct core_run_info *out)
{
	out->id = r->id;
	out->exp_id = r->exp->id;
	snprintf(out->name, sizeof(out->name), "%s", r->name);
	out->state = r->state;
	out->submitted = r->state != RS_CREATED;
	out->created_ms = r->created_ms;
	out->updated_ms = r->updated_ms;
	out->events_ms = r->events_ms;
	out->metrics_ms = r->metrics_ms;
	out->config_ms = r->config_ms;
}

/* ---- loading ---- */

static struct exp *exp_new(struct core *c, int64_t id, const char *name,
			   int64_t created, int64_t mtime)
{
	struct exp *e = xcalloc(1, sizeof(*e));

	e->id = id;
	e->name = xstrdup(name);
	e->created_ms = created;
	e->mtime_ms = mtime;
	e->objective = xstrdup("");
	ALLOC_GROW(c->exps, c->nexps, c->expcap);
	c->exps[c->nexps++] = e;     /* ids only grow: stays sorted */
	hmap_sput(&c->exp_by_name, e->name, e);
	return e;
}

static void exp_add_run(struct exp *e, struct run *r)
{
	ALLOC_GROW(e->runs, e->nruns, e->cap);
	e->runs[e->nruns++] = r;
	hmap_sput(&e->by_name, r->name, r);
}

static int load_exp_cb(void *arg, int64_t id, const char *name,
		       int64_t created, int64_t mtime, const char *objective)
{
	struct exp *e = exp_new(arg, id, name, created, mtime);

	free(e->objective);
	e->objective = xstrdup(objective ? objective : "");
	return 0;
}

/* A template lookup for re-parsing an effective config: already merged. */
static char *tpl_empty(void *arg, const char *name)
{
	(void)arg;
	(void)name;
	return xstrdup("{}");
}

static int load_run_cb(void *arg, const struct store_run *sr)
{
	struct core *c = arg;
	struct exp *e = core_exp_by_id(c, sr->exp_id);
	struct run *r;

	if (!e) {
		log_msg(LOG_WARNING, "run %lld has no experiment; skipped",
			(long long)sr->id);
		return 0;
	}
	r = xcalloc(1, sizeof(*r));
	r->price_per_hour = -1;
	r->id = sr->id;
	r->exp = e;
	r->name = xstrdup(sr->name);
	snprintf(r->uuid, sizeof(r->uuid), "%s", sr->uuid);
	r->state = sr->state >= 0 && sr->state < RS_MAX ? sr->state : RS_FAILED;
	r->attempt = sr->attempt;
	r->priority = sr->priority;
	r->max_retries = sr->max_retries;
	r->provider = xstrdup(sr->provider);
	r->job_id = xstrdup(sr->job_id);
	r->exit_code = sr->exit_code;
	r->reason = xstrdup(sr->reason ? sr->reason : "");
	r->kind = xstrdup(sr->kind);
	r->created_ms = sr->created_ms;
	r->submitted_ms = sr->submitted_ms;
	r->started_ms = sr->started_ms;
	r->attempt_started_ms = sr->attempt_started_ms;
	r->cost_usd = sr->cost_usd;
	r->cost_ms = sr->cost_ms;
	r->held_ms = sr->held_ms;
	r->ended_ms = sr->ended_ms;
	r->updated_ms = sr->updated_ms;
	r->retry_at_ms = sr->retry_at_ms;
	r->cancel_requested = sr->cancel_requested;
	r->log_offset = sr->log_offset;
	r->mfile_offset = sr->mfile_offset;
	r->step_counter = sr->step_counter;
	r->manifest = sr->manifest;
	r->gpu_mask = sr->gpu_mask;
	if (sr->config_sha)
		snprintf(r->config_sha, sizeof(r->config_sha), "%s",
			 sr->config_sha);
	r->events_ms = r->metrics_ms = r->updated_ms;
	r->config_ms = r->submitted_ms ? r->submitted_ms : r->created_ms;
	/* the stored order, so a restart keeps the queue as it was */
	r->seq = sr->seq;
	if (r->seq >= c->next_seq)
		c->next_seq = r->seq + 1;
	r->pending_signal = sr->pending_signal;
	exp_add_run(e, r);
	hmap_iput(&c->run_by_id, r->id, r);
	if (r->state == RS_QUEUED || run_state_active(r->state)) {
		struct buf b = BUF_INIT(0);
		char err[CONFIG_REASON_MAX];

		r->cfg = xcalloc(1, sizeof(*r->cfg));
		if (store_run_effective(c->store, r->id, &b) ||
		    config_parse(b.p, b.len, tpl_empty, NULL, r->cfg, err,
				 sizeof(err))) {
			free(r->cfg);
			r->cfg = NULL;
			log_msg(LOG_ERR, "run '%s/%s': stored config unreadable",
				e->name, r->name);
		}
		run_take_notify(r, r->cfg);
		buf_release(&b);
		run_relist_locked(c, r);
	}
	return 0;
}

static int load_tpl_cb(void *arg, const char *name, int64_t size,
		       int64_t mtime)
{
	struct core *c = arg;
	struct tpl *t = xcalloc(1, sizeof(*t));

	t->id = ++c->next_tpl_id;
	t->name = xstrdup(name);
	t->size = size;
	t->mtime_ms = mtime;
	ALLOC_GROW(c->tpls, c->ntpls, c->tplcap);
	c->tpls[c->ntpls++] = t;
	return 0;
}

/* ---- the daemon config ---- */

static int json_int(const cJSON *o, const char *key, int lo, int hi, int *out,
		    char *err, size_t errlen)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	long long n;

	if (!v)
		return 0;
	if (json_int_range(v, "", lo, hi, &n, err, errlen))
		return -1;
	*out = (int)n;
	return 0;
}

static int provider_add(struct core *c, const char *name, const char *type,
			const cJSON *conf, char *err, size_t errlen)
{
	const struct connector_ops *ops = connector_find(type);
	struct provider *p;
	char cerr[256] = "";

	if (!name_valid(name)) {
		snprintf(err, errlen, "invalid provider name '%s'", name);
		return -1;
	}
	if (!ops) {
		snprintf(err, errlen, "provider '%s': unknown type '%s'", name,
			 type);
		return -1;
	}
	if (provider_find(c, name)) {
		snprintf(err, errlen, "provider '%s' declared twice", name);
		return -1;
	}
	/* never moved: a connector keeps &p->conn (slurm.c, cloud.c) */
	if (c->nprovs >= c->provcap) {
		snprintf(err, errlen, "provider '%s': more providers than "
			 "the config declared", name);
		return -1;
	}
	p = &c->provs[c->nprovs];
	memset(p, 0, sizeof(*p));
	p->conn.ops = ops;
	p->conn.name = xstrdup(name);
	p->conn.price_per_hour = -1;
	{
		char wd[PATH_MAX];

		snprintf(wd, sizeof(wd), "%s/providers/%s", c->state_dir, name);
		if (mkdir_p(wd, 0700) == 0)
			p->conn.work_dir = xstrdup(wd);
	}
	if (ops->init(&p->conn, conf, cerr, sizeof(cerr))) {
		snprintf(err, errlen, "provider '%s': %s", name, cerr);
		free(p->conn.name);
		free(p->conn.work_dir);
		return -1;
	}
	p->healthy = 1;
	snprintf(p->health, sizeof(p->health), "ok");
	c->nprovs++;
	return 0;
}

static int daemon_config(struct core *c, const char *path, char *err,
			 size_t errlen)
{
	static const char *const keys[] = {
		"providers", "poll_interval_ms", "kill_grace_s",
		"retry_backoff_s", "retry_backoff_max_s", "starvation_s",
		"stream_queue",
		"notify", "backup_dir", "backup_every_s", "backup_keep", "mlflow",
		NULL
	};
	struct buf b = BUF_INIT(CONFIG_MAX_BYTES);
	cJSON *root = NULL, *provs, *it;
	struct stat st;
	int r = -1, i;

	if (!path || stat(path, &st) < 0) {
		if (path && errno != ENOENT) {
			snprintf(err, errlen, "cannot read config '%s': %s", path,
				 strerror(errno));
			return -1;
		}
		c->provcap = 1;
		c->provs = xcalloc(1, sizeof(*c->provs));
		return provider_add(c, "local", "local", NULL, err, errlen);
	}
	if (file_read_all(path, CONFIG_MAX_BYTES, &b)) {
		snprintf(err, errlen, "cannot read config '%s'", path);
		goto out;
	}
	root = cJSON_ParseWithLength(b.p ? b.p : "", b.len);
	if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "config '%s' is not a JSON object", path);
		goto out;
	}
	cJSON_ArrayForEach(it, root) {
		for (i = 0; keys[i] && strcmp(keys[i], it->string); i++)
			;
		if (!keys[i]) {
			snprintf(err, errlen, "config '%s': unknown key '%s'", path,
				 it->string);
			goto out;
		}
	}
	if (json_int(root, "poll_interval_ms", 10, 600000, &c->poll_ms, err,
		     errlen) ||
	    json_int(root, "kill_grace_s", 0, 3600, &c->kill_grace_s, err,
		     errlen) ||
	    json_int(root, "retry_backoff_s", 0, 86400, &c->retry_base_s, err,
		     errlen) ||
	    json_int(root, "retry_backoff_max_s", 0, 864000, &c->retry_max_s,
		     err, errlen) ||
	    json_int(root, "starvation_s", 0, 864000, &c->starve_s, err,
		     errlen) ||
	    json_int(root, "stream_queue", 16, CORE_STREAM_QUEUE_MAX,
		     &c->stream_queue, err, errlen))
		goto out;
	if (backup_conf(root, c->state_dir, &c->backup, err, errlen))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(root, "notify");
	if (it) {
		char nerr[256];

		if (notify_parse(it, &c->notify, nerr, sizeof(nerr))) {
			snprintf(err, errlen, "config '%s': %s", path, nerr);
			goto out;
		}
		c->has_notify = 1;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "mlflow");
	if (it) {
		char merr[256];

		if (mlflow_config(c, it, merr, sizeof(merr))) {
			snprintf(err, errlen, "config '%s': %s", path, merr);
			goto out;
		}
	}
	provs = cJSON_GetObjectItemCaseSensitive(root, "providers");
	if (provs && !cJSON_IsObject(provs)) {
		snprintf(err, errlen, "'providers' must be an object");
		goto out;
	}
	/* every provider's place at once, "local" by default included */
	c->provcap = cJSON_GetArraySize(provs) + 1;
	c->provs = xcalloc((size_t)c->provcap, sizeof(*c->provs));
	cJSON_ArrayForEach(it, provs) {
		const cJSON *type = cJSON_GetObjectItemCaseSensitive(it, "type");

		if (!cJSON_IsObject(it) || !cJSON_IsString(type)) {
			snprintf(err, errlen,
				 "provider '%s' needs an object with a \"type\"",
				 it->string);
			goto out;
		}
		if (provider_add(c, it->string, type->valuestring, it, err,
				 errlen))
			goto out;
	}
	if (!c->nprovs && provider_add(c, "local", "local", NULL, err, errlen))
		goto out;
	r = 0;
out:
	cJSON_Delete(root);
	buf_release(&b);
	return r;
}

/* ---- open and close ---- */

struct core *core_open(const struct core_opts *opts, char *err,
		       size_t errlen)
{
	struct core *c = xcalloc(1, sizeof(*c));
	char path[PATH_MAX];

	pthread_mutex_init(&c->lock, NULL);
	c->state_dir = xstrdup(opts->state_dir);
	c->poll_ms = opts->poll_ms > 0 ? opts->poll_ms : 500;
	c->kill_grace_s = 10;
	c->retry_base_s = 10;
	c->retry_max_s = 600;
	c->starve_s = 60;
	snprintf(path, sizeof(path), "%s/runs", c->state_dir);
	if (mkdir_p(path, 0700) < 0) {
		snprintf(err, errlen, "cannot create state directory '%s': %s",
			 path, strerror(errno));
		goto fail;
	}
	/* said plainly here, rather than as SQLite's "unable to open" */
	if (access(c->state_dir, W_OK) < 0) {
		snprintf(err, errlen, "cannot write state directory '%s': %s",
			 c->state_dir, strerror(errno));
		goto fail;
	}
	if (daemon_config(c, opts->config_file, err, errlen))
		goto fail;
	if (opts->poll_ms > 0)
		c->poll_ms = opts->poll_ms;
	snprintf(path, sizeof(path), "%s/trainfs.db", c->state_dir);
	if (store_open(path, &c->store, err, errlen))
		goto fail;
	/* before the artifacts' hook, so a user hears first */
	if (run_hook_add(c, run_notify_hook, NULL)) {
		snprintf(err, errlen, "cannot add the notify hook");
		goto fail;
	}
	if (art_init(c, opts->cache_size, err, errlen) ||
	    sweep_init(c, err, errlen) || stream_init(c, err, errlen) ||
	    mlflow_init(c, err, errlen))
		goto fail;
	if (store_exp_load(c->store, load_exp_cb, c) ||
	    store_run_load(c->store, load_run_cb, c) ||
	    store_tpl_load(c->store, load_tpl_cb, c)) {
		snprintf(err, errlen, "cannot load the store");
		goto fail;
	}
	if (sweep_load(c, err, errlen))
		goto fail;
	if (!hmap_sget(&c->exp_by_name, "default")) {
		int64_t id;

		if (store_exp_insert(c->store, "default", now_ms(), &id)) {
			snprintf(err, errlen, "cannot create experiment 'default'");
			goto fail;
		}
		exp_new(c, id, "default", now_ms(), now_ms());
	}
	c->events_ms = c->queue_ms = now_ms();
	return c;
fail:
	core_close(c);
	return NULL;
}

/* The backup thread's news, as an event of the mount. */
static void backup_event(void *arg, const char *text)
{
	core_event(arg, "%s", text);
}

int core_start(struct core *c)
{
	int r = art_start(c);

	if (r)
		return r;
	c->notifier = notifier_new(0, 0);
	if (!c->notifier)
		log_msg(LOG_WARNING, "notifications are off: cannot start "
			"their thread");
	r = poller_start(c);
	if (!r)
		r = sweep_start(c);
	if (!r && backup_start(c->backup, backup_event, c))
		log_msg(LOG_WARNING, "periodic backups are off: cannot start "
			"their thread");
	return r ? r : mlflow_start(c);
}

static void run_free(struct run *r)
{
	run_take_notify(r, NULL);
	free(r->lost_event);
	free(r->name);
	free(r->provider);
	free(r->job_id);
	free(r->reason);
	free(r->end_reason);
	free(r->choice);
	free(r->choice_why);
	free(r->nocap);
	free(r->kind);
	if (r->cfg) {
		config_release(r->cfg);
		free(r->cfg);
	}
	free(r);
}

void core_stop(struct core *c)
{
	mlflow_stop(c);
	backup_stop(c->backup);
	sweep_stop(c);
	poller_stop(c);
	art_stop(c);
}

void core_close(struct core *c)
{
	size_t i, j;
	int k;

	if (!c)
		return;
	core_stop(c);
	backup_free(c->backup);
	mlflow_release(c);
	if (c->notifier)
		notifier_free(c->notifier);
	if (c->has_notify)
		notify_target_release(&c->notify);
	for (i = 0; i < c->nexps; i++) {
		struct exp *e = c->exps[i];

		sweep_exp_free_locked(c, e);
		for (j = 0; j < e->nruns; j++) {
			art_run_free_locked(c, e->runs[j]);
			run_free(e->runs[j]);
		}
		free(e->runs);
		hmap_release(&e->by_name);
		free(e->name);
		free(e->objective);
		free(e);
	}
	free(c->exps);
	for (i = 0; i < c->ntpls; i++) {
		free(c->tpls[i]->name);
		free(c->tpls[i]);
	}
	free(c->tpls);
	for (k = 0; k < c->nprovs; k++) {
		if (c->provs[k].conn.ops->release)
			c->provs[k].conn.ops->release(&c->provs[k].conn);
		free(c->provs[k].conn.name);
		free(c->provs[k].conn.work_dir);
	}
	free(c->provs);
	hmap_release(&c->exp_by_name);
	hmap_release(&c->run_by_id);
	hmap_release(&c->sweep_by_id);
	hmap_release(&c->sweep_of_run);
	art_release(c);
	charts_release(c);
	stream_free_all(c);
	store_close(c->store);
	free(c->state_dir);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

/* ---- experiments ---- */

int core_exp_lookup(struct core *c, const char *name,
		    struct core_exp_info *out)
{
	struct exp *e;

	pthread_mutex_lock(&c->lock);
	e = hmap_sget(&c->exp_by_name, name);
	if (e)
		exp_info(e, out);
	pthread_mutex_unlock(&c->lock);
	return e ? TFS_OK : TFS_ENOENT;
}

int core_exp_get(struct core *c, int64_t id, struct core_exp_info *out)
{
	struct exp *e;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, id);
	if (e)
		exp_info(e, out);
	pthread_mutex_unlock(&c->lock);
	return e ? TFS_OK : TFS_ENOENT;
}

int core_exp_list(struct core *c, int64_t after_id, core_exp_cb cb,
		  void *arg)
{
	struct core_exp_info info;
	size_t i;

	pthread_mutex_lock(&c->lock);
	UPPER_BOUND(c->exps, c->nexps, after_id, i);
	for (; i < c->nexps; i++) {
		exp_info(c->exps[i], &info);
		if (cb(arg, &info))
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return TFS_OK;
}

int core_exp_create(struct core *c, const char *name, int64_t *id)
{
	int r;

	if (!name_valid(name)) {
		core_event(c, "mkdir refused: invalid experiment name '%.200s'",
			   name);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	if (hmap_sget(&c->exp_by_name, name)) {
		r = TFS_EEXIST;
	} else {
		int64_t now = now_ms();

		r = store_exp_insert(c->store, name, now, id);
		if (!r)
			exp_new(c, *id, name, now, now);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

static void run_files_remove(struct core *c, const struct run *r)
{
	char path[PATH_MAX];

	run_dir_path(c, r, path, sizeof(path));
	if (rm_rf(path) < 0)
		log_msg(LOG_WARNING, "cannot remove '%s': %s", path,
			strerror(errno));
}

int core_exp_remove(struct core *c, const char *name)
{
	struct exp *e;
	size_t i;
	int r;

	if (!strcmp(name, "default"))
		return TFS_EBUSY;
	pthread_mutex_lock(&c->lock);
	e = hmap_sget(&c->exp_by_name, name);
	if (!e) {
		r = TFS_ENOENT;
		goto out;
	}
	/*
	 * Like rmdir(2), only an empty experiment goes: a bare rmdir never
	 * deletes runs and their outputs. `rm -rf` removes the ended runs
	 * one by one first (see core_run_remove()).
	 */
	if (e->nsweeps) {
		pthread_mutex_unlock(&c->lock);
		core_event(c, "rmdir refused: experiment '%s' still has %zu "
			   "sweep%s; remove them first (rm -rf removes sweeps "
			   "that do not run)", name, e->nsweeps,
			   e->nsweeps == 1 ? "" : "s");
		return TFS_ENOTEMPTY;
	}
	if (e->nruns) {
		pthread_mutex_unlock(&c->lock);
		core_event(c, "rmdir refused: experiment '%s' still has %zu "
			   "run%s; remove them first (rm -rf removes ended "
			   "runs)", name, e->nruns, e->nruns == 1 ? "" : "s");
		return TFS_ENOTEMPTY;
	}
	r = store_exp_delete(c->store, e->id);
	if (r)
		goto out;
	for (i = 0; i < e->nruns; i++) {
		hmap_idel(&c->run_by_id, e->runs[i]->id);
		run_files_remove(c, e->runs[i]);
		art_run_free_locked(c, e->runs[i]);
		core_notify(c, e->runs[i]->id, CORE_CH_STATE);
		stream_gone_locked(c, CORE_STREAM_RUN, e->runs[i]->id);
		run_free(e->runs[i]);
	}
	stream_gone_locked(c, CORE_STREAM_EXP, e->id);
	hmap_sdel(&c->exp_by_name, e->name);
	for (i = 0; i < c->nexps && c->exps[i] != e; i++)
		;
	memmove(&c->exps[i], &c->exps[i + 1],
		(c->nexps - i - 1) * sizeof(*c->exps));
	c->nexps--;
	free(e->runs);
	free(e->sweeps);
	hmap_release(&e->by_name);
	free(e->name);
	free(e->objective);
	free(e);
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_exp_rename(struct core *c, const char *from, const char *to)
{
	char reason[CONFIG_REASON_MAX];
	struct exp *e;
	int r;

	if (!name_valid(to)) {
		core_event(c, "rename refused: invalid experiment name '%.200s'",
			   to);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	e = hmap_sget(&c->exp_by_name, from);
	if (!e) {
		r = TFS_ENOENT;
	} else if (!strcmp(from, "default")) {
		r = TFS_EBUSY;
	} else if (hmap_sget(&c->exp_by_name, to)) {
		r = TFS_EEXIST;
	} else if ((r = sched_dependents_check_locked(c, NULL, e, "rename",
						      reason,
						      sizeof(reason)))) {
		pthread_mutex_unlock(&c->lock);
		core_event(c, "rename refused: %s", reason);
		return r;
	} else {
		r = store_exp_rename(c->store, e->id, to);
		if (!r) {
			hmap_sdel(&c->exp_by_name, e->name);
			free(e->name);
			e->name = xstrdup(to);
			hmap_sput(&c->exp_by_name, e->name, e);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_exp_description(struct core *c, int64_t id, struct buf *out)
{
	int r = store_exp_description(c->store, id, out);

	return r == TFS_ENOENT ? TFS_OK : r;
}

int core_exp_set_description(struct core *c, int64_t id, const char *text,
			     size_t len)
{
	struct exp *e;
	char *copy;
	int r;

	if (len > 65536)
		return TFS_EFBIG;
	copy = xstrndup(text, len);
	if (strlen(copy) != len) {
		free(copy);
		return TFS_EINVAL;      /* NUL bytes */
	}
	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, id);
	if (!e) {
		r = TFS_ENOENT;
	} else {
		e->mtime_ms = now_ms();
		r = store_exp_set_description(c->store, id, copy, e->mtime_ms);
	}
	pthread_mutex_unlock(&c->lock);
	free(copy);
	return r;
}

int core_exp_objective(struct core *c, int64_t id, struct buf *out)
{
	struct exp *e;
	int r = TFS_ENOENT;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, id);
	if (e)
		r = *e->objective ? buf_printf(out, "%s\n", e->objective) :
		    TFS_OK;
	pthread_mutex_unlock(&c->lock);
	return r;
}

/*
 * Parses "METRIC min" or "METRIC max"; 0 or -1 with reason. The mode is
 * required: a lone word is more often a typo than a metric to minimise.
 */
static int objective_parse(const char *text, size_t len, char *out,
			   size_t olen, char *reason, size_t rlen)
{
	char metric[METRIC_KEY_MAX + 1] = "", mode[8] = "", extra[2];
	char buf[256];
	int n, i;

	if (len >= sizeof(buf)) {
		snprintf(reason, rlen, "objective too long");
		return -1;
	}
	memcpy(buf, text, len);
	buf[len] = '\0';
	n = sscanf(buf, "%64s %7s %1s", metric, mode, extra);
	if (n <= 0) {
		out[0] = '\0';         /* empty: no objective */
		return 0;
	}
	for (i = 0; metric[i]; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_./-", metric[i]))
			break;
	if (n != 2 || metric[i] || strlen(metric) >= METRIC_KEY_MAX ||
	    (strcmp(mode, "min") && strcmp(mode, "max"))) {
		snprintf(reason, rlen, "objective must be 'METRIC min' or "
			 "'METRIC max'");
		return -1;
	}
	snprintf(out, olen, "%s %s", metric, mode);
	return 0;
}

int core_exp_set_objective(struct core *c, int64_t id, const char *text,
			   size_t len, char *reason, size_t rlen)
{
	char obj[128];
	struct exp *e;
	int r;

	if (objective_parse(text, len, obj, sizeof(obj), reason, rlen)) {
		core_event(c, "objective refused: %s", reason);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, id);
	if (!e) {
		r = TFS_ENOENT;
	} else {
		r = store_exp_set_objective(c->store, id, obj);
		if (!r) {
			free(e->objective);
			e->objective = xstrdup(obj);
			e->mtime_ms = now_ms();
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- runs ---- */

int core_run_lookup(struct core *c, int64_t exp_id, const char *name,
		    struct core_run_info *out)
{
	struct exp *e;
	struct run *r = NULL;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (e)
		r = hmap_sget(&e->by_name, name);
	if (r)
		run_info(r, out);
	pthread_mutex_unlock(&c->lock);
	return r ? TFS_OK : TFS_ENOENT;
}

int core_run_get(struct core *c, int64_t run_id, struct core_run_info *out)
{
	struct run *r;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		run_info(r, out);
	pthread_mutex_unlock(&c->lock);
	return r ? TFS_OK : TFS_ENOENT;
}

int core_run_list(struct core *c, int64_t exp_id, int64_t after_id,
		  core_run_cb cb, void *arg)
{
	struct core_run_info info;
	struct exp *e;
	size_t i;
	int r = TFS_OK;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (!e) {
		r = TFS_ENOENT;
		goto out;
	}
	UPPER_BOUND(e->runs, e->nruns, after_id, i);
	for (; i < e->nruns; i++) {
		run_info(e->runs[i], &info);
		if (cb(arg, &info))
			break;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_run_create(struct core *c, int64_t exp_id, const char *name,
		    int64_t *id, char *reason, size_t rlen)
{
	return run_create_uuid(c, exp_id, name, NULL, id, reason, rlen);
}

int run_create_uuid(struct core *c, int64_t exp_id, const char *name,
		    const char *uuid, int64_t *id, char *reason, size_t rlen)
{
	struct store_run sr;
	struct exp *e;
	struct run *r;
	int ret;

	if (!name_valid(name)) {
		snprintf(reason, rlen, "invalid run name '%.200s': use "
			 "[A-Za-z0-9][A-Za-z0-9._-]{0,127}", name);
		core_event(c, "mkdir refused: %s", reason);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (!e) {
		ret = TFS_ENOENT;
		goto out;
	}
	if (hmap_sget(&e->by_name, name)) {
		ret = TFS_EEXIST;
		goto out;
	}
	r = xcalloc(1, sizeof(*r));
	r->price_per_hour = -1;
	r->exp = e;
	r->name = xstrdup(name);
	if (uuid)
		snprintf(r->uuid, sizeof(r->uuid), "%s", uuid);
	else
		uuid_v4(r->uuid);
	r->state = RS_CREATED;
	r->exit_code = STORE_NO_EXIT;
	r->reason = xstrdup("");
	r->created_ms = r->updated_ms = r->events_ms = r->metrics_ms =
		r->config_ms = now_ms();
	r->seq = c->next_seq++;
	run_to_store(r, &sr);
	ret = store_run_insert(c->store, &sr, &r->id);
	if (ret) {
		run_free(r);
		goto out;
	}
	exp_add_run(e, r);
	hmap_iput(&c->run_by_id, r->id, r);
	e->mtime_ms = r->created_ms;
	*id = r->id;
	run_event_locked(c, r, "created (id %s)", r->uuid);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_run_remove(struct core *c, int64_t exp_id, const char *name)
{
	char reason[CONFIG_REASON_MAX];
	struct exp *e;
	struct run *r = NULL;
	size_t i;
	int ret;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (e)
		r = hmap_sget(&e->by_name, name);
	if (!r) {
		ret = TFS_ENOENT;
		goto out;
	}
	if (r->state == RS_QUEUED || run_state_active(r->state)) {
		ret = TFS_EBUSY;
		goto out;
	}
	ret = sched_dependents_check_locked(c, r, NULL, "remove", reason,
					    sizeof(reason));
	if (ret) {
		run_event_locked(c, r, "rmdir refused: %s", reason);
		goto out;
	}
	ret = store_run_delete(c->store, r->id);
	if (ret)
		goto out;
	hmap_sdel(&e->by_name, r->name);
	hmap_idel(&c->run_by_id, r->id);
	for (i = 0; i < e->nruns && e->runs[i] != r; i++)
		;
	memmove(&e->runs[i], &e->runs[i + 1],
		(e->nruns - i - 1) * sizeof(*e->runs));
	e->nruns--;
	e->mtime_ms = now_ms();
	run_files_remove(c, r);
	art_run_free_locked(c, r);
	/* a reader blocked in its `wait` learns it is gone */
	core_notify(c, r->id, CORE_CH_STATE);
	stream_gone_locked(c, CORE_STREAM_RUN, r->id);
	run_free(r);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* Puts r into e's runs, which stay sorted by id. */
static void exp_insert_run(struct exp *e, struct run *r)
{
	size_t i;

	ALLOC_GROW(e->runs, e->nruns, e->cap);
	for (i = e->nruns; i > 0 && e->runs[i - 1]->id > r->id; i--)
		e->runs[i] = e->runs[i - 1];
	e->runs[i] = r;
	e->nruns++;
	hmap_sput(&e->by_name, r->name, r);
}

static void exp_take_run(struct exp *e, struct run *r)
{
	size_t i;

	hmap_sdel(&e->by_name, r->name);
	for (i = 0; i < e->nruns && e->runs[i] != r; i++)
		;
	memmove(&e->runs[i], &e->runs[i + 1],
		(e->nruns - i - 1) * sizeof(*e->runs));
	e->nruns--;
}

int core_run_rename(struct core *c, int64_t exp_id, const char *from,
		    const char *to, char *reason, size_t rlen)
{
	return core_run_move(c, exp_id, from, exp_id, to, reason, rlen);
}

/*
 * A run keeps its id, UUID and files (they live under its UUID), so a move
 * between experiments is a rename of its row; only runs that wait for or
 * hold a job stay put, since other runs and the job itself know them by
 * name.
 */
int core_run_move(struct core *c, int64_t exp_id, const char *from,
		  int64_t to_exp_id, const char *to, char *reason,
		  size_t rlen)
{
	struct exp *e, *te;
	struct run *r = NULL;
	int ret;

	reason[0] = '\0';
	if (!name_valid(to)) {
		snprintf(reason, rlen, "invalid run name '%.200s'", to);
		core_event(c, "rename refused: %s", reason);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	te = core_exp_by_id(c, to_exp_id);
	if (e)
		r = hmap_sget(&e->by_name, from);
	if (!r || !te) {
		ret = TFS_ENOENT;
	} else if (hmap_sget(&te->by_name, to)) {
		ret = TFS_EEXIST;
	} else if (r->state != RS_CREATED && !run_state_terminal(r->state)) {
		/* other runs may name it in depends_on */
		snprintf(reason, rlen, "run '%s' is %s: rename it when it has "
			 "ended", from, run_state_name(r->state));
		run_event_locked(c, r, "rename refused: %s", reason);
		ret = TFS_EBUSY;
	} else if ((ret = sched_dependents_check_locked(c, r, NULL, te == e ?
							"rename" : "move",
							reason, rlen))) {
		run_event_locked(c, r, "rename refused: %s", reason);
	} else {
		ret = te == e ? store_run_rename(c->store, r->id, to) :
		      store_run_move(c->store, r->id, te->id, to);
		if (!ret) {
			if (te == e)
				run_event_locked(c, r, "renamed from '%s' to "
						 "'%s'", r->name, to);
			else
				run_event_locked(c, r, "moved from '%s/%s' to "
						 "'%s/%s'", e->name, r->name,
						 te->name, to);
			exp_take_run(e, r);
			free(r->name);
			r->name = xstrdup(to);
			r->exp = te;
			exp_insert_run(te, r);
			e->mtime_ms = te->mtime_ms = now_ms();
			core_notify(c, r->id, CORE_CH_STATE);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

static char *tpl_lookup(void *arg, const char *name)
{
	struct core *c = arg;
	struct buf b = BUF_INIT(CONFIG_MAX_BYTES);

	if (store_tpl_get(c->store, name, &b)) {
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/*
 * A local job starts in its workdir: one that does not exist would only
 * fail later as "exit code 127" with no word why. Other providers' paths
 * are on their own machines.
 */
static int workdir_check(const struct run_config *cfg, char *reason,
			 size_t rlen)
{
	struct stat st;

	if (!cfg->workdir)
		return TFS_OK;
	if (stat(cfg->workdir, &st) < 0) {
		snprintf(reason, rlen, "'workdir': cannot use '%.200s': %s",
			 cfg->workdir, strerror(errno));
		return TFS_EINVAL;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(reason, rlen, "'workdir': '%.200s' is not a directory",
			 cfg->workdir);
		return TFS_EINVAL;
	}
	return TFS_OK;
}
/*
 * Every provider a config names must be known, and one of them at least
 * must be able to hold its resources (the others are skipped by the
 * choice, saying why); *local says whether one is the local provider.
 */
static int submit_providers_check_locked(struct core *c,
					 const struct run_config *cfg,
					 int *local, char *reason, size_t rlen)
{
	int i, fits = 0;

	for (i = 0; i < cfg->nproviders; i++) {
		struct provider *p = provider_find(c, cfg->providers[i]);
		char why[256];

		if (!p) {
			snprintf(reason, rlen, "unknown provider '%s'",
				 cfg->providers[i]);
			return TFS_EINVAL;
		}
		if (sched_fits_provider(p, cfg, why, sizeof(why))) {
			fits = 1;
		} else if (cfg->nproviders == 1 || !fits) {
			snprintf(reason, rlen, "%s", why);
		}
		if (!strcmp(p->conn.ops->type, "local"))
			*local = 1;
	}
	return fits ? TFS_OK : TFS_EINVAL;
}


/*
 * Everything a submission checks before anything is recorded: the run can
 * take a config, the config is valid, its provider exists and can hold it,
 * its dependencies exist without a cycle, a local workdir exists. Takes
 * c->lock itself (config_parse() runs without it). On TFS_OK cfg is filled
 * (the caller releases it); otherwise reason says why.
 */
int run_config_check(struct core *c, const char *text, size_t len,
		     char *reason, size_t rlen)
{
	struct run_config cfg;
	int ret, local = 0;

	memset(&cfg, 0, sizeof(cfg));
	ret = config_parse(text, len, tpl_lookup, c, &cfg, reason, rlen);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	ret = submit_providers_check_locked(c, &cfg, &local, reason, rlen);
	pthread_mutex_unlock(&c->lock);
	if (!ret && local)
		ret = workdir_check(&cfg, reason, rlen);
	config_release(&cfg);
	return ret;
}

static int submit_check(struct core *c, int64_t run_id, const char *text,
			size_t len, struct run_config *cfg, char *reason,
			size_t rlen)
{
	struct run *r;
	int ret, local = 0;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	ret = !r ? TFS_ENOENT : r->state != RS_CREATED ? TFS_EBUSY : TFS_OK;
	pthread_mutex_unlock(&c->lock);
	if (ret)
		return ret;
	ret = config_parse(text, len, tpl_lookup, c, cfg, reason, rlen);
	if (ret)
		return ret;
	pthread_mutex_lock(&c->lock);
	/* r may have been removed while config_parse() ran unlocked */
	r = hmap_iget(&c->run_by_id, run_id);
	ret = r ? submit_providers_check_locked(c, cfg, &local, reason, rlen) :
		  TFS_ENOENT;
	if (!ret)
		ret = sched_deps_check_locked(c, r, cfg, reason, rlen);
	pthread_mutex_unlock(&c->lock);
	if (!ret && local)
		ret = workdir_check(cfg, reason, rlen);
	if (ret) {
		config_release(cfg);
		memset(cfg, 0, sizeof(*cfg));
	}
	return ret;
}

/* Records a refused config in the run's events. */
static void submit_refused(struct core *c, int64_t run_id, int ret,
			   const char *reason)
{
	struct run *r;

	if (ret != TFS_EINVAL && ret != TFS_EFBIG)
		return;
	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		run_event_locked(c, r, "config rejected: %s", reason);
	pthread_mutex_unlock(&c->lock);
}

int core_run_check(struct core *c, int64_t run_id, const char *text,
		   size_t len, char *reason, size_t rlen)
{
	struct run_config cfg;
	int ret;

	reason[0] = '\0';
	memset(&cfg, 0, sizeof(cfg));
	ret = submit_check(c, run_id, text, len, &cfg, reason, rlen);
	config_release(&cfg);
	submit_refused(c, run_id, ret, reason);
	return ret;
}

/*
 * The submission is committed (durably) before the model changes: until the
 * commit returns, the run is "created" in memory, so the scheduler cannot
 * start what a failed commit never recorded, and a restart shows what the
 * writer was told.
 */
int core_run_submit(struct core *c, int64_t run_id, const char *text,
		    size_t len, char *reason, size_t rlen)
{
	struct run_config *cfg = xcalloc(1, sizeof(*cfg));
	static const char queued_why[] = "waiting for a slot";
	struct store_run sr;
	struct run *r, next;
	int64_t now;
	int ret;

	reason[0] = '\0';
	ret = submit_check(c, run_id, text, len, cfg, reason, rlen);
	submit_refused(c, run_id, ret, reason);
	if (ret)
		goto out_free;
	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r) {
		ret = TFS_ENOENT;
		goto out_unlock;
	}
	if (r->state != RS_CREATED) {
		ret = TFS_EBUSY;
		goto out_unlock;
	}
	now = now_ms();
	/* the run as it will be once queued, for the store only */
	next = *r;
	next.state = RS_QUEUED;
	next.reason = (char *)queued_why;
	next.submitted_ms = next.updated_ms = now;
	next.priority = cfg->priority;
	next.max_retries = cfg->max_retries;
	next.provider = cfg->provider;
	next.kind = cfg->kind;
	memcpy(next.config_sha, cfg->sha256, sizeof(next.config_sha));
	next.seq = c->next_seq;
	run_to_store(&next, &sr);
	ret = store_begin(c->store, 1);
	if (!ret) {
		ret = store_run_set_config(c->store, r->id, text, len,
					   cfg->merged_json);
		if (!ret)
			ret = store_run_update(c->store, &sr);
		if (ret) {
			store_rollback(c->store);
		} else {
			struct buf to = BUF_INIT(0);
			int i;

			for (i = 0; i < cfg->nproviders; i++)
				buf_printf(&to, "%s'%s'", i ? ", " : "",
					   cfg->providers[i]);
			run_event_locked(c, r, "submitted to %s%s (config "
					 "sha256 %s)", cfg->nproviders > 1 ?
					 "the cheapest of " : "", to.p,
					 cfg->sha256);
			buf_release(&to);
			run_state_event_locked(c, r, RS_CREATED, RS_QUEUED,
					       queued_why);
			ret = store_commit(c->store);
		}
	}
	if (ret) {
		/* what the failed transaction said never happened */
		r->lost_event = (free(r->lost_event), NULL);
		snprintf(reason, rlen, "cannot record the submission: %s%s",
			 tfs_strerror(ret), ret == TFS_ENOSPC || ret == TFS_EROFS ?
			 "; nothing was submitted, write config.json again "
			 "once the state directory can be written" : "");
		run_event_locked(c, r, "config not submitted: %s", reason);
		log_msg(LOG_ERR, "run '%s/%s': %s", r->exp->name, r->name,
			reason);
		goto out_unlock;
	}
	r->submitted_ms = r->config_ms = now;
	r->priority = cfg->priority;
	r->max_retries = cfg->max_retries;
	free(r->provider);
	r->provider = xstrdup(cfg->provider);
	free(r->kind);
	r->kind = xstrdup(cfg->kind);
	memcpy(r->config_sha, cfg->sha256, sizeof(r->config_sha));
	r->seq = c->next_seq++;
	r->cfg = cfg;
	run_take_notify(r, cfg);
	cfg = NULL;
	run_state_apply_locked(c, r, RS_QUEUED, queued_why);
	core_notify(c, r->id, CORE_CH_CONFIG);
out_unlock:
	pthread_mutex_unlock(&c->lock);
out_free:
	if (cfg) {
		config_release(cfg);
		free(cfg);
	}
	return ret;
}

/* Parses "priority N" and friends; returns the command or -1. */
enum { CTL_CANCEL, CTL_PAUSE, CTL_RESUME, CTL_RETRY, CTL_PRIORITY };

static int ctl_parse(const char *line, long *arg)
{
	char *end;

	if (!strcmp(line, "cancel"))
		return CTL_CANCEL;
	if (!strcmp(line, "pause"))
		return CTL_PAUSE;
	if (!strcmp(line, "resume"))
		return CTL_RESUME;
	if (!strcmp(line, "retry"))
		return CTL_RETRY;
	if (!strncmp(line, "priority", 8) && (line[8] == ' ' ||
					      line[8] == '\t')) {
		errno = 0;
		*arg = strtol(line + 9, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || end == line + 9 || *end || *arg < -1000000 ||
		    *arg > 1000000)
			return -2;
		return CTL_PRIORITY;
	}
	return -1;
}

int run_cancel_locked(struct core *c, struct run *r, int why, char *reason,
		      size_t rlen)
{
	if (run_state_terminal(r->state)) {
		snprintf(reason, rlen, "cannot cancel: run is %s",
			 run_state_name(r->state));
		return TFS_EINVAL;
	}
	if (r->state == RS_CREATED || r->state == RS_QUEUED) {
		run_set_state_locked(c, r, RS_STOPPED, "cancelled");
		return TFS_OK;
	}
	if (r->cancel_requested)
		return TFS_OK;
	r->cancel_requested = why;
	r->last_cancel_ms = 0;
	run_event_locked(c, r, "cancel requested%s", why == CANCEL_EARLY ?
			 " by its sweep's early-stop rule" : "");
	run_save_locked(c, r);
	poller_kick_locked(c);
	return TFS_OK;
}

/* Carries out one ctl command on r; c->lock held. */
static int ctl_one_locked(struct core *c, struct run *r, const char *line,
			  char *reason, size_t rlen)
{
	struct provider *p;
	long arg = 0;
	int cmd = ctl_parse(line, &arg);

	switch (cmd) {
	case -1:
		snprintf(reason, rlen, "unknown ctl command '%.100s': use "
			 "cancel, pause, resume, retry or priority N", line);
		return TFS_EINVAL;
	case -2:
		snprintf(reason, rlen, "'priority' takes an integer from "
			 "-1000000 to 1000000");
		return TFS_EINVAL;
	case CTL_CANCEL:
		return run_cancel_locked(c, r, CANCEL_USER, reason, rlen);
	case CTL_PAUSE:
	case CTL_RESUME:
		p = r->provider ? provider_find(c, r->provider) : NULL;
		if (p && !p->conn.ops->signal) {
			snprintf(reason, rlen, "provider '%s' cannot %s runs",
				 p->conn.name, line);
			return TFS_EOPNOTSUPP;
		}
		if (r->ending) {
			snprintf(reason, rlen, "cannot %s: the job ended, its "
				 "outputs are being collected", line);
			return TFS_EINVAL;
		}
		if (cmd == CTL_PAUSE && r->state != RS_RUNNING) {
			snprintf(reason, rlen, "cannot pause: run is %s",
				 run_state_name(r->state));
			return TFS_EINVAL;
		}
		if (cmd == CTL_RESUME && r->state != RS_PAUSED) {
			snprintf(reason, rlen, "cannot resume: run is %s",
				 run_state_name(r->state));
			return TFS_EINVAL;
		}
		r->pending_signal = 1 + (cmd == CTL_PAUSE ? JOB_SIG_PAUSE :
					 JOB_SIG_RESUME);
		run_event_locked(c, r, "%s requested", line);
		/* kept until the poller carries it out, across a restart */
		run_save_locked(c, r);
		poller_kick_locked(c);
		return TFS_OK;
	case CTL_RETRY:
		if (r->state != RS_FAILED && r->state != RS_STOPPED) {
			snprintf(reason, rlen, "cannot retry: run is %s",
				 run_state_name(r->state));
			return TFS_EINVAL;
		}
		if (!r->cfg) {
			struct buf b = BUF_INIT(0);
			char err[CONFIG_REASON_MAX];
			struct run_config *cfg = xcalloc(1, sizeof(*cfg));

			if (store_run_effective(c->store, r->id, &b) ||
			    config_parse(b.p, b.len, tpl_empty, NULL, cfg, err,
					 sizeof(err))) {
				free(cfg);
				buf_release(&b);
				snprintf(reason, rlen, "cannot retry: the stored "
					 "config is unreadable");
				return TFS_EIO;
			}
			buf_release(&b);
			r->cfg = cfg;
			run_take_notify(r, cfg);
		}
		if (sched_deps_check_locked(c, r, r->cfg, reason, rlen))
			return TFS_EINVAL;
		r->cancel_requested = CANCEL_NONE;
		r->retry_at_ms = 0;
		r->exit_code = STORE_NO_EXIT;
		r->ended_ms = 0;
		/* else the poller polls the old job as the new attempt's */
		r->job_id = (free(r->job_id), NULL);
		r->seq = c->next_seq++;
		run_set_state_locked(c, r, RS_QUEUED, "retry requested");
		return TFS_OK;
	case CTL_PRIORITY:
		if (run_state_terminal(r->state)) {
			snprintf(reason, rlen, "cannot change priority: run is %s",
				 run_state_name(r->state));
			return TFS_EINVAL;
		}
		run_event_locked(c, r, "priority %d -> %ld", r->priority, arg);
		r->priority = (int)arg;
		run_requeue_locked(c, r);
		r->updated_ms = now_ms();
		run_save_locked(c, r);
		c->queue_ms = r->updated_ms;
		core_notify(c, r->id, CORE_CH_STATE);
		core_notify(c, 0, CORE_CH_QUEUE);
		poller_kick_locked(c);
		return TFS_OK;
	}
	return TFS_EINVAL;
}

int core_run_ctl(struct core *c, int64_t run_id, const char *text,
		 size_t len, char *reason, size_t rlen)
{
	struct run *r;
	size_t i = 0;
	int ret = TFS_OK, any = 0;

	reason[0] = '\0';
	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	if (len > 4096) {
		snprintf(reason, rlen, "ctl command too long (more than 4096 "
			 "bytes)");
		ret = TFS_EINVAL;
		any = 1;
		i = len;
	}
	while (i < len && !ret) {
		char line[256];
		size_t j = i, n;

		while (j < len && text[j] != '\n')
			j++;
		n = j - i;
		/* trim blanks and a CR so `echo` and editors both work */
		while (n && (text[i] == ' ' || text[i] == '\t')) {
			i++;
			n--;
		}
		while (n && (text[i + n - 1] == ' ' || text[i + n - 1] == '\t' ||
			     text[i + n - 1] == '\r'))
			n--;
		if (n >= sizeof(line)) {
			snprintf(reason, rlen, "ctl command too long");
			ret = TFS_EINVAL;
		} else if (n) {
			memcpy(line, text + i, n);
			line[n] = '\0';
			if (memchr(line, '\0', n)) {
				snprintf(reason, rlen, "ctl command has a NUL byte");
				ret = TFS_EINVAL;
			} else {
				ret = ctl_one_locked(c, r, line, reason, rlen);
				any = 1;
			}
		}
		i = j + 1;
	}
	if (!ret && !any) {
		snprintf(reason, rlen, "empty ctl command");
		ret = TFS_EINVAL;
	}
	if (ret)
		run_event_locked(c, r, "ctl refused: %s", reason);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_run_state(struct core *c, int64_t run_id, int *state)
{
	struct run *r;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		*state = r->state;
	pthread_mutex_unlock(&c->lock);
	return r ? TFS_OK : TFS_ENOENT;
}

void core_run_note(struct core *c, int64_t run_id, const char *text)
{
	struct run *r;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		run_event_locked(c, r, "%s", text);
	pthread_mutex_unlock(&c->lock);
}

/* ---- templates ---- */

static struct tpl *tpl_by_name(struct core *c, const char *name)
{
	size_t i;

	for (i = 0; i < c->ntpls; i++)
		if (!strcmp(c->tpls[i]->name, name))
			return c->tpls[i];
	return NULL;
}

static void tpl_info(const struct tpl *t, struct core_tpl_info *out)
{
	out->id = t->id;
	snprintf(out->name, sizeof(out->name), "%s", t->name);
	out->size = t->size;
	out->mtime_ms = t->mtime_ms;
}

int core_tpl_lookup(struct core *c, const char *name,
		    struct core_tpl_info *out)
{
	struct tpl *t;

	pthread_mutex_lock(&c->lock);
	t = tpl_by_name(c, name);
	if (t)
		tpl_info(t, out);
	pthread_mutex_unlock(&c->lock);
	return t ? TFS_OK : TFS_ENOENT;
}

int core_tpl_get(struct core *c, int64_t id, struct core_tpl_info *out)
{
	size_t i;
	int r = TFS_ENOENT;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->ntpls; i++) {
		if (c->tpls[i]->id == id) {
			tpl_info(c->tpls[i], out);
			r = TFS_OK;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_tpl_list(struct core *c, int64_t after_id, core_tpl_cb cb,
		  void *arg)
{
	struct core_tpl_info info;
	size_t i;

	pthread_mutex_lock(&c->lock);
	UPPER_BOUND(c->tpls, c->ntpls, after_id, i);
	for (; i < c->ntpls; i++) {
		tpl_info(c->tpls[i], &info);
		if (cb(arg, &info))
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return TFS_OK;
}

int core_tpl_read(struct core *c, int64_t id, struct buf *out)
{
	struct core_tpl_info info;
	int r = core_tpl_get(c, id, &info);

	if (r)
		return r;
	return store_tpl_get(c->store, info.name, out);
}

int core_tpl_put(struct core *c, const char *name, const char *text,
		 size_t len, int64_t *id, char *reason, size_t rlen)
{
	struct tpl *t;
	int r;

	if (!name_valid(name)) {
		snprintf(reason, rlen, "invalid template name '%.200s'", name);
		core_event(c, "template refused: %s", reason);
		return TFS_EINVAL;
	}
	if (len > CONFIG_MAX_BYTES)
		return TFS_EFBIG;
	r = config_template_check(text, len, reason, rlen);
	if (r) {
		core_event(c, "template '%s' refused: %s", name, reason);
		return r;
	}
	pthread_mutex_lock(&c->lock);
	r = store_tpl_put(c->store, name, text, len, now_ms());
	if (!r) {
		t = tpl_by_name(c, name);
		if (!t) {
			load_tpl_cb(c, name, (int64_t)len, now_ms());
			t = c->tpls[c->ntpls - 1];
		}
		t->size = (int64_t)len;
		t->mtime_ms = now_ms();
		*id = t->id;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_tpl_remove(struct core *c, const char *name)
{
	size_t i;
	int r = TFS_ENOENT;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->ntpls; i++) {
		if (strcmp(c->tpls[i]->name, name))
			continue;
		r = store_tpl_delete(c->store, name);
		if (r)
			break;
		free(c->tpls[i]->name);
		free(c->tpls[i]);
		memmove(&c->tpls[i], &c->tpls[i + 1],
			(c->ntpls - i - 1) * sizeof(*c->tpls));
		c->ntpls--;
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* ---- providers ---- */

int core_provider_count(struct core *c)
{
	return c->nprovs;       /* fixed after core_open() */
}

int core_provider_name(struct core *c, int idx, char *out)
{
	if (idx < 0 || idx >= c->nprovs)
		return TFS_ENOENT;
	snprintf(out, TFS_NAME_MAX + 1, "%s", c->provs[idx].conn.name);
	return TFS_OK;
}
