/*
 * files.c - the text of generated files: a run's status, status.json,
 * config, metrics, events and log, an experiment's leaderboard, a
 * provider's status and the mount's events. Reads never wait on a
 * provider: what grows while a run goes (metrics, events, the log) is read
 * from the store or the run's directory with c->lock released.
 */
#define _GNU_SOURCE             /* qsort_r */
#include "model.h"
#include "core.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "metrics.h"

/* ---- the leaderboard ---- */

struct lb_row {
	char name[TFS_NAME_MAX + 1];
	const char *state;
	double cost;              /* USD */
	int has_obj;
	double obj;
	struct { char key[METRIC_KEY_MAX]; double v; } m[16];
	int nm;
};

struct lb_ctx {
	struct lb_row *row;
	const char *objective_key;
};

static void lb_metric(void *arg, const char *key, double value)
{
	struct lb_ctx *x = arg;
	struct lb_row *r = x->row;

	if (!strcmp(key, x->objective_key)) {
		r->has_obj = 1;
		r->obj = value;
	}
	if (r->nm < 16 && strncmp(key, "sys/", 4)) {
		snprintf(r->m[r->nm].key, METRIC_KEY_MAX, "%s", key);
		r->m[r->nm].v = value;
		r->nm++;
	}
}

/* Runs with the objective first, best first; ties and the rest by name. */
static int lb_cmp(const void *a, const void *b, void *arg)
{
	const struct lb_row *x = a, *y = b;
	int mode_max = *(const int *)arg;

	if (x->has_obj != y->has_obj)
		return y->has_obj - x->has_obj;
	if (!x->has_obj || x->obj == y->obj)
		return strcmp(x->name, y->name);
	return (x->obj < y->obj) == !mode_max ? -1 : 1;
}

/*
 * Writes the leaderboard's table to out: a header, then one line per row
 * (rows sorted already), each cell as wide as the widest of its column.
 * key is the objective's metric ("" for none), cols the other metrics.
 */
static void lb_format(struct buf *out, const struct lb_row *rows, size_t n,
		      const char *key, char (*cols)[METRIC_KEY_MAX],
		      int ncols)
{
	int nc = 4 + (*key ? 1 : 0) + ncols, col, i, k;
	char (*cell)[40] = xcalloc((n + 1) * (size_t)nc, 40);
	int *w = xcalloc((size_t)nc, sizeof(int));
	size_t j;

#define CELL(row, cl) cell[(size_t)(row) * (size_t)nc + (size_t)(cl)]
	snprintf(CELL(0, 0), 40, "rank");
	snprintf(CELL(0, 1), 40, "run");
	snprintf(CELL(0, 2), 40, "state");
	snprintf(CELL(0, 3), 40, "cost_usd");
	col = 4;
	if (*key)
		snprintf(CELL(0, col++), 40, "%.39s", key);
	for (i = 0; i < ncols; i++)
		snprintf(CELL(0, col++), 40, "%.39s", cols[i]);
	for (j = 0; j < n; j++) {
		const struct lb_row *rw = &rows[j];

		if (*key && rw->has_obj)
			snprintf(CELL(j + 1, 0), 40, "%zu", j + 1);
		else
			snprintf(CELL(j + 1, 0), 40, "-");
		snprintf(CELL(j + 1, 1), 40, "%.39s", rw->name);
		snprintf(CELL(j + 1, 2), 40, "%s", rw->state);
		snprintf(CELL(j + 1, 3), 40, "%.4f", rw->cost);
		col = 4;
		if (*key) {
			if (rw->has_obj)
				snprintf(CELL(j + 1, col), 40, "%.6g", rw->obj);
			else
				snprintf(CELL(j + 1, col), 40, "-");
			col++;
		}
		for (i = 0; i < ncols; i++, col++) {
			snprintf(CELL(j + 1, col), 40, "-");
			for (k = 0; k < rw->nm; k++)
				if (!strcmp(rw->m[k].key, cols[i]))
					snprintf(CELL(j + 1, col), 40, "%.6g",
						 rw->m[k].v);
		}
	}
	for (j = 0; j <= n; j++)
		for (col = 0; col < nc; col++)
			if ((int)strlen(CELL(j, col)) > w[col])
				w[col] = (int)strlen(CELL(j, col));
	if (!*key)
		buf_puts(out, "# no objective: echo 'eval_loss min' > "
			 "objective\n");
	for (j = 0; j <= n; j++) {
		for (col = 0; col < nc; col++)
			buf_printf(out, col < 3 ? "%-*s%s" : "%*s%s",
				   w[col], CELL(j, col),
				   col + 1 < nc ? "  " : "\n");
	}
#undef CELL
	free(cell);
	free(w);
}

struct exp *exp_lock_objective(struct core *c, int64_t id,
				char key[EXP_KEY_MAX], int *mode_max)
{
	char mode[8] = "min";
	struct exp *e;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, id);
	if (!e) {
		pthread_mutex_unlock(&c->lock);
		return NULL;
	}
	key[0] = '\0';
	sscanf(e->objective, "%64s %7s", key, mode);
	*mode_max = !strcmp(mode, "max");
	return e;
}

/*
 * The leaderboard: runs ranked by the objective's latest value, with state,
 * cost and the other latest metrics, in aligned columns. Metrics come from the
 * store with c->lock released (a copy of the run list is taken first).
 */
int core_exp_leaderboard(struct core *c, int64_t id, struct buf *out)
{
	char key[EXP_KEY_MAX];
	int mode_max;
	char cols[8][METRIC_KEY_MAX];
	int ncols = 0, i, k;
	struct lb_row *rows;
	int64_t *ids;
	size_t n, j;
	struct exp *e;

	e = exp_lock_objective(c, id, key, &mode_max);
	if (!e)
		return TFS_ENOENT;
	n = e->nruns;
	rows = xcalloc(n + 1, sizeof(*rows));
	ids = xcalloc(n + 1, sizeof(*ids));
	for (j = 0; j < n; j++) {
		ids[j] = e->runs[j]->id;
		snprintf(rows[j].name, sizeof(rows[j].name), "%s",
			 e->runs[j]->name);
		rows[j].state = run_state_name(e->runs[j]->state);
		rows[j].cost = e->runs[j]->cost_usd;
	}
	pthread_mutex_unlock(&c->lock);
	for (j = 0; j < n; j++) {
		struct lb_ctx x = { &rows[j], key };

		store_metrics_each_latest(c->store, ids[j], lb_metric, &x);
		/* the other columns: the first metric names seen, in order */
		for (k = 0; k < rows[j].nm && ncols < 8; k++) {
			for (i = 0; i < ncols; i++)
				if (!strcmp(cols[i], rows[j].m[k].key))
					break;
			if (i == ncols && strcmp(rows[j].m[k].key, key))
				snprintf(cols[ncols++], METRIC_KEY_MAX, "%s",
					 rows[j].m[k].key);
		}
	}
	if (n)
		qsort_r(rows, n, sizeof(*rows), lb_cmp, &mode_max);
	lb_format(out, rows, n, key, cols, ncols);
	free(rows);
	free(ids);
	return TFS_OK;
}

/* ---- a run's files ---- */

static void json_time(cJSON *o, const char *key, int64_t ms)
{
	char ts[40];

	if (!ms) {
		cJSON_AddNullToObject(o, key);
		return;
	}
	time_format(ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, key, ts);
}

static void json_str(cJSON *o, const char *key, const char *v)
{
	if (v && *v)
		cJSON_AddStringToObject(o, key, v);
	else
		cJSON_AddNullToObject(o, key);
}

/*
 * The attempts of a run, derived from its events (the one record of them):
 * "attempt N submitted to P as job J" opens one, the next state change to
 * an ended state or back to the queue closes it.
 */
static void history_cb(void *arg, int64_t t, const char *text)
{
	cJSON *hist = arg, *cur = cJSON_GetArrayItem(hist,
		cJSON_GetArraySize(hist) - 1);
	char prov[TFS_NAME_MAX + 1], job[JOB_ID_MAX];
	const char *arrow;
	int n;

	if (sscanf(text, "attempt %d submitted to %128s as job %127s", &n, prov,
		   job) == 3) {
		cur = cJSON_CreateObject();
		cJSON_AddNumberToObject(cur, "attempt", n);
		cJSON_AddStringToObject(cur, "provider", prov);
		cJSON_AddStringToObject(cur, "job_id", job);
		json_time(cur, "submitted", t);
		cJSON_AddItemToArray(hist, cur);
		return;
	}
	if (!cur || cJSON_GetObjectItem(cur, "ended") || strncmp(text, "state ", 6))
		return;
	arrow = strstr(text, " -> ");
	if (!arrow)
		return;
	arrow += 4;
	if (!strncmp(arrow, "completed", 9) || !strncmp(arrow, "failed", 6) ||
	    !strncmp(arrow, "stopped", 7) || !strncmp(arrow, "queued", 6)) {
		const char *colon = strstr(arrow, ": ");
		char word[16];

		sscanf(arrow, "%15[a-z]", word);
		json_time(cur, "ended", t);
		/* back to the queue means this attempt failed: a retry */
		cJSON_AddStringToObject(cur, "state", strcmp(word, "queued") ?
					word : "failed");
		cJSON_AddStringToObject(cur, "reason", colon ? colon + 2 : "");
	}
}

static void add_metric_cb(void *arg, const char *key, double value)
{
	cJSON_AddNumberToObject(arg, key, value);
}

/* status.json; c->lock held. */
static int status_json_locked(struct core *c, struct run *r, struct buf *out)
{
	cJSON *o = cJSON_CreateObject(), *m;
	char *text;
	int ret;

	cJSON_AddStringToObject(o, "name", r->name);
	cJSON_AddStringToObject(o, "experiment", r->exp->name);
	cJSON_AddStringToObject(o, "run_id", r->uuid);
	cJSON_AddStringToObject(o, "state", run_state_name(r->state));
	json_str(o, "reason", r->reason);
	json_str(o, "kind", r->kind);
	json_str(o, "provider", r->provider);
	json_str(o, "provider_job_id", r->job_id);
	cJSON_AddNumberToObject(o, "attempt", r->attempt);
	cJSON_AddNumberToObject(o, "max_retries", r->max_retries);
	if (r->exit_code == STORE_NO_EXIT)
		cJSON_AddNullToObject(o, "exit_code");
	else
		cJSON_AddNumberToObject(o, "exit_code", r->exit_code);
	cJSON_AddNumberToObject(o, "priority", r->priority);
	cJSON_AddBoolToObject(o, "cancel_requested", r->cancel_requested != 0);
	json_time(o, "created", r->created_ms);
	json_time(o, "submitted", r->submitted_ms);
	json_time(o, "started", r->started_ms);
	/* when the current attempt began to run: timeout_s counts from it */
	json_time(o, "attempt_started", r->attempt_started_ms);
	json_time(o, "ended", r->ended_ms);
	json_time(o, "updated", r->updated_ms);
	if (r->state == RS_QUEUED && r->retry_at_ms)
		json_time(o, "retry_at", r->retry_at_ms);
	json_str(o, "config_sha256", r->config_sha);
	/* the USD its attempts cost so far, and the price now (cost.c) */
	cJSON_AddNumberToObject(o, "cost_usd", r->cost_usd);
	cJSON_AddNumberToObject(o, "hours_held", (double)r->held_ms / 3600000.0);
	if (r->cost_ms && r->price_per_hour >= 0)
		cJSON_AddNumberToObject(o, "price_per_hour", r->price_per_hour);
	if (r->cfg && r->cfg->max_cost_usd > 0)
		cJSON_AddNumberToObject(o, "max_cost_usd", r->cfg->max_cost_usd);
	if (r->choice) {
		cJSON *ch = cJSON_AddObjectToObject(o, "provider_choice");

		cJSON_AddStringToObject(ch, "chosen", r->choice);
		json_str(ch, "why", r->choice_why);
	}
	if (r->state == RS_QUEUED && r->nocap)
		cJSON_AddStringToObject(o, "no_capacity", r->nocap);
	if (r->cfg) {
		cJSON *res = cJSON_AddObjectToObject(o, "resources");

		cJSON_AddNumberToObject(res, "cpus", r->cfg->cpus);
		cJSON_AddNumberToObject(res, "gpus", r->cfg->gpus);
		cJSON_AddNumberToObject(res, "memory_mb",
					(double)r->cfg->memory_mb);
		cJSON_AddNumberToObject(o, "timeout_s", r->cfg->timeout_s);
	}
	m = cJSON_AddObjectToObject(o, "metrics");
	store_metrics_each_latest(c->store, r->id, add_metric_cb, m);
	store_events_each(c->store, r->id, history_cb,
			  cJSON_AddArrayToObject(o, "history"));
	if (r->gpu_mask) {
		cJSON *g = cJSON_AddArrayToObject(o, "gpus");
		int i;

		for (i = 0; i < 64; i++)
			if (r->gpu_mask & (1ULL << i))
				cJSON_AddItemToArray(g, cJSON_CreateNumber(i));
	}
	m = cJSON_AddObjectToObject(o, "artifacts");
	{
		int64_t count, bytes, verified;

		art_summary_locked(c, r, &count, &bytes, &verified);
		cJSON_AddBoolToObject(m, "manifest", r->manifest != 0);
		cJSON_AddNumberToObject(m, "count", (double)count);
		cJSON_AddNumberToObject(m, "bytes", (double)bytes);
		cJSON_AddNumberToObject(m, "verified", (double)verified);
	}
	text = cJSON_Print(o);
	cJSON_Delete(o);
	if (!text)
		return TFS_ENOMEM;
	ret = buf_puts(out, text);
	if (!ret)
		ret = buf_puts(out, "\n");
	free(text);
	return ret;
}

int core_run_read(struct core *c, int64_t run_id, enum run_file f,
		  struct buf *out)
{
	struct run *r;
	int ret = TFS_OK;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	switch (f) {
	case RF_STATUS:
		ret = buf_printf(out, "%s\n", run_state_name(r->state));
		break;
	case RF_STATUS_JSON:
		ret = status_json_locked(c, r, out);
		break;
	default:
		break;
	}
	pthread_mutex_unlock(&c->lock);
	/* the rest come from the store, which has its own lock */
	switch (f) {
	case RF_CONFIG:
		ret = store_run_config(c->store, run_id, out);
		if (ret == TFS_ENOENT)
			ret = TFS_OK;       /* not submitted yet: empty */
		break;
	case RF_METRICS:
		ret = store_metrics_latest(c->store, run_id, out);
		break;
	case RF_METRICS_JSONL:
		ret = store_metrics_history(c->store, run_id, out);
		break;
	case RF_EVENTS:
		ret = store_events_format(c->store, run_id, out);
		break;
	default:
		break;
	}
	return ret;
}

/* Whether run_id exists (metrics.jsonl is read from the store alone). */
static int run_exists(struct core *c, int64_t run_id)
{
	int ok;

	pthread_mutex_lock(&c->lock);
	ok = hmap_iget(&c->run_by_id, run_id) != NULL;
	pthread_mutex_unlock(&c->lock);
	return ok;
}

int core_run_metrics_size(struct core *c, int64_t run_id, int64_t *size)
{
	if (!run_exists(c, run_id))
		return TFS_ENOENT;
	return store_metrics_history_size(c->store, run_id, size);
}

int core_run_metrics_read(struct core *c, int64_t run_id, int64_t off,
			  size_t size, struct buf *out)
{
	if (!run_exists(c, run_id))
		return TFS_ENOENT;
	return store_metrics_history_read(c->store, run_id, off, size, out);
}

static int run_log_path(struct core *c, int64_t run_id, char *out,
			size_t len)
{
	struct run *r;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		snprintf(out, len, "%s/runs/%s/log", c->state_dir, r->uuid);
	pthread_mutex_unlock(&c->lock);
	return r ? TFS_OK : TFS_ENOENT;
}

int core_run_log_stat(struct core *c, int64_t run_id, int64_t *size,
		      int64_t *mtime_ms)
{
	char path[PATH_MAX];
	struct stat st;
	int r = run_log_path(c, run_id, path, sizeof(path));

	if (r)
		return r;
	/* as core_run_log_read opens it: a link or FIFO the job put there
	   reads as empty, so it must also say so in stat */
	if (lstat(path, &st) < 0 || !S_ISREG(st.st_mode)) {
		*size = 0;
		*mtime_ms = 0;
		return TFS_OK;
	}
	*size = st.st_size;
	*mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 +
		    st.st_mtim.tv_nsec / 1000000;
	return TFS_OK;
}

int core_run_log_read(struct core *c, int64_t run_id, int64_t off,
		      size_t size, struct buf *out)
{
	char path[PATH_MAX];
	int fd, r = run_log_path(c, run_id, path, sizeof(path));
	ssize_t n;

	if (r)
		return r;
	fd = file_open_regular(path);    /* the job may put a FIFO there */
	if (fd < 0)
		return errno == ENOENT || errno == EINVAL || errno == ELOOP ?
		       TFS_OK : TFS_EIO;
	r = buf_append(out, "", 0);
	if (!r && size > out->cap - out->len - 1) {
		/* make room once, then read straight into the buffer */
		r = buf_append(out, NULL, 0);
		if (!r) {
			char *p = realloc(out->p, out->len + size + 1);

			if (!p)
				r = TFS_ENOMEM;
			else {
				out->p = p;
				out->cap = out->len + size + 1;
			}
		}
	}
	if (!r) {
		n = pread(fd, out->p + out->len, size, off);
		if (n < 0) {
			r = TFS_EIO;
		} else {
			out->len += (size_t)n;
			out->p[out->len] = '\0';
		}
	}
	close(fd);
	return r;
}

/* ---- a provider's status, the mount's events ---- */

int core_provider_status(struct core *c, int idx, struct buf *out)
{
	struct provider *p;
	char ts[40] = "never", health[320];
	int r;

	if (idx < 0 || idx >= c->nprovs)
		return TFS_ENOENT;
	pthread_mutex_lock(&c->lock);
	p = &c->provs[idx];
	poller_health_locked(c, p, health, sizeof(health));
	if (p->last_poll_ms)
		time_format(p->last_poll_ms, ts, sizeof(ts));
	r = buf_printf(out,
		       "%s\n"
		       "type: %s\n"
		       "last_poll: %s\n"
		       "jobs: %d/%d\n"
		       "cpus: %d/%d\n"
		       "gpus: %d/%d\n"
		       "memory_mb: %lld/%lld\n",
		       health, p->conn.ops->type, ts,
		       p->used_jobs, p->conn.cap_max_jobs, p->used_cpus,
		       p->conn.cap_cpus, p->used_gpus, p->conn.cap_gpus,
		       (long long)p->used_memory_mb,
		       (long long)p->conn.cap_memory_mb);
	if (!r && p->conn.ops->status && p->conn.priv) {
		char extra[2048];
		int n = p->conn.ops->status(&p->conn, extra, sizeof(extra));

		if (n > 0)
			r = buf_append(out, extra, (size_t)n < sizeof(extra) ?
				       (size_t)n : sizeof(extra) - 1);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_events(struct core *c, struct buf *out)
{
	return store_events_format(c->store, 0, out);
}

int64_t core_events_mtime(struct core *c)
{
	int64_t t;

	pthread_mutex_lock(&c->lock);
	t = c->events_ms;
	pthread_mutex_unlock(&c->lock);
	return t;
}
