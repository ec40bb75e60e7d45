/*
 * sweep.c - hyper-parameter sweeps (DESIGN.md section 7): sweep.json read
 * and checked, the trials made as runs through the same create and submit
 * a user's mkdir and cp take, `parallelism` of them kept active, the
 * early-stop rule, and the files of a sweep's directory.
 *
 * A sweep follows its trials through a state-change hook, which only
 * wakes the sweeper thread; the thread does the work with c->lock held,
 * and lets go of it around core_run_create() and core_run_submit(), which
 * take it themselves.
 *
 * Exactly once: a trial's params are stored (its row, TRIAL_NEW, run_id 0)
 * before its run is made; its run id is stored once the run exists, and
 * its state once the run is submitted. A restart finds each trial at one
 * of those steps and carries on from there: a NEW trial whose run exists
 * in "created" is submitted, one whose run was never made is made. No
 * trial is chosen twice, none is lost.
 */
#include "model.h"
#include "core.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "json.h"
#include "metrics.h"
#include "plot.h"
#include "search.h"
#include "table.h"

#define SWEEP_SERIES_MAX 1024      /* points of a trial kept for the rule */
#define SWEEPS_MAX 10000           /* sweeps of an experiment */
#define SWEEP_FAIL_MAX 3           /* trials refused in a row: it fails */
#define SWEEP_RETRY_MS 5000        /* after a store or disk error */
#define SWEEP_TICK_MS 1000         /* passes while the rule watches */
#define SWEEP_IDLE_MS 10000        /* otherwise, besides the hook's */

/*
 * sweep.json, parsed. Counted: the sweep holds one reference, and the
 * sweeper another while it lets go of c->lock to choose a trial's params
 * (which may take a while for TPE over many trials), so that a sweep
 * removed meanwhile does not free the space under it. refs is protected
 * by c->lock.
 */
struct sweep_spec {
	int refs;
	cJSON *base;                /* a config object, or a template name */
	struct search_space *space;
	enum search_method method;
	uint64_t seed;
	char metric[METRIC_KEY_MAX];
	int minimize;
	int max_trials;             /* as written (or the grid's size) */
	int parallelism;
	uint64_t grid_n;            /* grid: its points */
	int es;                     /* the median rule is on */
	double es_warmup;
	int es_min;
};

static const char *const sweep_state_names[] = {
	[SWEEP_CREATED] = "created",
	[SWEEP_RUNNING] = "running",
	[SWEEP_COMPLETED] = "completed",
	[SWEEP_STOPPED] = "stopped",
	[SWEEP_FAILED] = "failed",
};

const char *sweep_state_name(int state)
{
	if (state < 0 || state > SWEEP_FAILED)
		return "unknown";
	return sweep_state_names[state];
}

static const char *const trial_state_names[] = {
	[TRIAL_NEW] = "new",
	[TRIAL_ACTIVE] = "active",
	[TRIAL_DONE] = "completed",
	[TRIAL_FAILED] = "failed",
	[TRIAL_STOPPED] = "stopped",
};

static int trial_ended(const struct trial *t)
{
	return t->state >= TRIAL_DONE;
}

/* ---- sweep.json ---- */

static void spec_free(struct sweep_spec *sp)
{
	if (!sp)
		return;
	cJSON_Delete(sp->base);
	search_space_free(sp->space);
	free(sp);
}

/* Drops a reference; the last frees. c->lock held. */
static void spec_put(struct sweep_spec *sp)
{
	if (sp && --sp->refs <= 0)
		spec_free(sp);
}

/* A metric name as metrics_parse_line() keeps them. */
static int metric_name_ok(const char *s)
{
	size_t n = strlen(s), i;

	if (n < 1 || n >= METRIC_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!(s[i] >= 'a' && s[i] <= 'z') &&
		    !(s[i] >= 'A' && s[i] <= 'Z') &&
		    !(s[i] >= '0' && s[i] <= '9') && !strchr("_./-", s[i]))
			return 0;
	return 1;
}

static int spec_objective(const cJSON *o, struct sweep_spec *sp, char *why,
			  size_t wlen)
{
	const cJSON *m, *mode, *it;

	if (!cJSON_IsObject(o)) {
		snprintf(why, wlen, "'objective' must be an object like "
			 "{\"metric\": \"eval_loss\", \"mode\": \"min\"}");
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(it, o)
		if (strcmp(it->string, "metric") && strcmp(it->string, "mode")) {
			snprintf(why, wlen, "unknown key 'objective.%.64s': "
				 "use metric and mode", it->string);
			return TFS_EINVAL;
		}
	m = cJSON_GetObjectItemCaseSensitive(o, "metric");
	if (!cJSON_IsString(m) || !metric_name_ok(m->valuestring)) {
		snprintf(why, wlen, "'objective.metric' must be a metric name "
			 "of 1 to %d bytes of [A-Za-z0-9_./-]",
			 METRIC_KEY_MAX - 1);
		return TFS_EINVAL;
	}
	snprintf(sp->metric, sizeof(sp->metric), "%s", m->valuestring);
	mode = cJSON_GetObjectItemCaseSensitive(o, "mode");
	sp->minimize = 1;
	if (mode && (!cJSON_IsString(mode) ||
		     (strcmp(mode->valuestring, "min") &&
		      strcmp(mode->valuestring, "max")))) {
		snprintf(why, wlen, "'objective.mode' must be \"min\" or "
			 "\"max\"");
		return TFS_EINVAL;
	}
	if (mode && !strcmp(mode->valuestring, "max"))
		sp->minimize = 0;
	return TFS_OK;
}

static int spec_early_stop(const cJSON *o, struct sweep_spec *sp, char *why,
			   size_t wlen)
{
	const cJSON *it;
	long long v;

	if (!cJSON_IsObject(o)) {
		snprintf(why, wlen, "'early_stop' must be an object like "
			 "{\"rule\": \"median\", \"warmup_steps\": 10, "
			 "\"min_trials\": 5}");
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(it, o)
		if (strcmp(it->string, "rule") &&
		    strcmp(it->string, "warmup_steps") &&
		    strcmp(it->string, "min_trials")) {
			snprintf(why, wlen, "unknown key 'early_stop.%.64s': use "
				 "rule, warmup_steps and min_trials",
				 it->string);
			return TFS_EINVAL;
		}
	it = cJSON_GetObjectItemCaseSensitive(o, "rule");
	if (!cJSON_IsString(it) || strcmp(it->valuestring, "median")) {
		snprintf(why, wlen, "'early_stop.rule' must be \"median\" (the "
			 "one rule there is)");
		return TFS_EINVAL;
	}
	sp->es = 1;
	sp->es_warmup = 0;
	sp->es_min = 5;
	it = cJSON_GetObjectItemCaseSensitive(o, "warmup_steps");
	if (it) {
		if (!cJSON_IsNumber(it) || !isfinite(it->valuedouble) ||
		    it->valuedouble < 0 || it->valuedouble > 1e15) {
			snprintf(why, wlen, "'early_stop.warmup_steps' must be "
				 "a number from 0 to 1e15");
			return TFS_EINVAL;
		}
		sp->es_warmup = it->valuedouble;
	}
	it = cJSON_GetObjectItemCaseSensitive(o, "min_trials");
	if (it) {
		if (json_int_range(it, "early_stop.", 1, SWEEP_TRIALS_MAX, &v,
				   why, wlen))
			return TFS_EINVAL;
		sp->es_min = (int)v;
	}
	return TFS_OK;
}

/*
 * The config of a trial: the base with params merged over its own (the
 * trial's win), as JSON text (caller frees); pretty for best.json.
 */
static char *trial_config_text(const struct sweep_spec *sp,
			       const cJSON *params, int pretty)
{
	cJSON *cfg, *p;
	const cJSON *it;
	char *text;

	if (cJSON_IsString(sp->base)) {
		cfg = cJSON_CreateObject();
		cJSON_AddStringToObject(cfg, "template",
					sp->base->valuestring);
	} else {
		cfg = cJSON_Duplicate(sp->base, 1);
	}
	if (!cfg)
		return NULL;
	p = cJSON_GetObjectItemCaseSensitive(cfg, "params");
	if (!cJSON_IsObject(p)) {
		cJSON_DeleteItemFromObjectCaseSensitive(cfg, "params");
		p = cJSON_AddObjectToObject(cfg, "params");
	}
	cJSON_ArrayForEach(it, params) {
		cJSON_DeleteItemFromObjectCaseSensitive(p, it->string);
		cJSON_AddItemToObject(p, it->string, cJSON_Duplicate(it, 1));
	}
	text = pretty ? cJSON_Print(cfg) : cJSON_PrintUnformatted(cfg);
	cJSON_Delete(cfg);
	return text;
}

static const char *const spec_keys[] = {
	"base", "space", "objective", "method", "seed", "max_trials",
	"parallelism", "early_stop", NULL,
};

/*
 * Parses and checks sweep.json (len bytes). Everything but the base
 * config's own check (spec_check(), which needs the core). On error
 * returns the code with why.
 */
static int spec_parse(const char *text, size_t len, struct sweep_spec **out,
		      char *why, size_t wlen)
{
	struct sweep_spec *sp;
	const cJSON *it;
	cJSON *root;
	long long v;
	int i, r = TFS_EINVAL;

	if (len > SWEEP_SPEC_MAX) {
		snprintf(why, wlen, "sweep.json is larger than %d bytes",
			 SWEEP_SPEC_MAX);
		return TFS_EFBIG;
	}
	if (!len) {
		snprintf(why, wlen, "sweep.json is empty");
		return TFS_EINVAL;
	}
	root = cJSON_ParseWithLength(text, len);
	if (!root || !cJSON_IsObject(root)) {
		snprintf(why, wlen, "sweep.json is not a JSON object");
		cJSON_Delete(root);
		return TFS_EINVAL;
	}
	sp = xcalloc(1, sizeof(*sp));
	sp->refs = 1;
	cJSON_ArrayForEach(it, root) {
		for (i = 0; spec_keys[i] && strcmp(spec_keys[i], it->string);
		     i++)
			;
		if (!spec_keys[i]) {
			snprintf(why, wlen, "unknown key '%.64s': use base, "
				 "space, objective, method, seed, max_trials, "
				 "parallelism, early_stop", it->string);
			goto out;
		}
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "base");
	if (cJSON_IsString(it) ? !name_valid(it->valuestring) :
	    !cJSON_IsObject(it)) {
		snprintf(why, wlen, "'base' must be a run config (an object) "
			 "or the name of a template");
		goto out;
	}
	sp->base = cJSON_Duplicate(it, 1);
	it = cJSON_GetObjectItemCaseSensitive(root, "space");
	if (!cJSON_IsObject(it) || !it->child) {
		snprintf(why, wlen, "'space' must be an object of parameters, "
			 "like {\"lr\": {\"loguniform\": [1e-5, 1e-1]}}");
		goto out;
	}
	r = search_space_parse(it, &sp->space, why, wlen);
	if (r)
		goto out;
	r = TFS_EINVAL;
	if (spec_objective(cJSON_GetObjectItemCaseSensitive(root, "objective"),
			   sp, why, wlen))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(root, "method");
	sp->method = SEARCH_TPE;
	if (it && (!cJSON_IsString(it) ||
		   search_method_parse(it->valuestring, &sp->method))) {
		snprintf(why, wlen, "'method' must be \"grid\", \"random\" or "
			 "\"tpe\"");
		goto out;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "seed");
	if (it) {
		if (json_int_range(it, "", 0, 9007199254740991LL, &v, why,
				   wlen))
			goto out;
		sp->seed = (uint64_t)v;
	}
	if (sp->method == SEARCH_GRID &&
	    search_grid_size(sp->space, &sp->grid_n, why, wlen))
		goto out;
	it = cJSON_GetObjectItemCaseSensitive(root, "max_trials");
	if (it) {
		if (json_int_range(it, "", 1, SWEEP_TRIALS_MAX, &v, why, wlen))
			goto out;
		sp->max_trials = (int)v;
	} else if (sp->method == SEARCH_GRID) {
		if (sp->grid_n > SWEEP_TRIALS_MAX) {
			snprintf(why, wlen, "the grid has %llu points, more "
				 "than %d trials: give max_trials",
				 (unsigned long long)sp->grid_n,
				 SWEEP_TRIALS_MAX);
			goto out;
		}
		sp->max_trials = (int)sp->grid_n;
	} else {
		snprintf(why, wlen, "'max_trials' is missing: how many trials "
			 "(1 to %d)", SWEEP_TRIALS_MAX);
		goto out;
	}
	if (sp->method == SEARCH_GRID && (uint64_t)sp->max_trials > sp->grid_n)
		sp->max_trials = (int)sp->grid_n;
	it = cJSON_GetObjectItemCaseSensitive(root, "parallelism");
	sp->parallelism = 1;
	if (it) {
		if (json_int_range(it, "", 1, SWEEP_PARALLEL_MAX, &v, why,
				   wlen))
			goto out;
		sp->parallelism = (int)v;
	}
	it = cJSON_GetObjectItemCaseSensitive(root, "early_stop");
	if (it && spec_early_stop(it, sp, why, wlen))
		goto out;
	r = TFS_OK;
out:
	cJSON_Delete(root);
	if (r)
		spec_free(sp);
	else
		*out = sp;
	return r;
}

/*
 * The base config must make a valid run with the first trial's params:
 * checked as a submission checks it, so a bad base fails sweep.json's
 * close rather than every trial.
 */
static int spec_check(struct core *c, const struct sweep_spec *sp,
		      char *why, size_t wlen)
{
	char reason[CONFIG_REASON_MAX];
	cJSON *p = search_suggest(sp->space, sp->method, sp->seed, 0, NULL, 0,
				  sp->minimize);
	char *text = p ? trial_config_text(sp, p, 0) : NULL;
	int r;

	cJSON_Delete(p);
	if (!text)
		return TFS_ENOMEM;
	r = run_config_check(c, text, strlen(text), reason, sizeof(reason));
	if (r)
		snprintf(why, wlen, "'base' with the first trial's params is "
			 "not a valid run config: %s", reason);
	cJSON_free(text);
	return r;
}

/* ---- the model ---- */

static struct sweep *sweep_by_id(struct core *c, int64_t id)
{
	return hmap_iget(&c->sweep_by_id, id);
}

static struct sweep *sweep_by_name(struct exp *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nsweeps; i++)
		if (!strcmp(e->sweeps[i]->name, name))
			return e->sweeps[i];
	return NULL;
}

static void sweep_to_store(const struct sweep *w, struct store_sweep *sw)
{
	memset(sw, 0, sizeof(*sw));
	sw->id = w->id;
	sw->exp_id = w->exp->id;
	sw->name = w->name;
	sw->state = w->state;
	sw->spec = w->spec;
	sw->reason = w->reason;
	sw->max_trials = w->max_trials;
	sw->created_ms = w->created_ms;
	sw->updated_ms = w->updated_ms;
}

static void sweep_save_locked(struct core *c, struct sweep *w)
{
	struct store_sweep sw;

	sweep_to_store(w, &sw);
	if (store_sweep_update(c->store, &sw))
		log_msg(LOG_ERR, "cannot save sweep '%s/%s'", w->exp->name,
			w->name);
}

static int trial_save_locked(struct core *c, struct sweep *w,
			     const struct trial *t)
{
	struct store_trial st = {
		.sweep_id = w->id, .n = t->n, .run_id = t->run_id,
		.params = t->params, .state = t->state, .value = t->value,
		.has_value = t->has_value, .early = t->early,
	};
	int r = store_trial_put(c->store, &st);

	if (r)
		log_msg(LOG_ERR, "cannot save trial %d of sweep '%s/%s'",
			t->n + 1, w->exp->name, w->name);
	return r;
}

static void sweep_event_locked(struct core *c, struct sweep *w,
			       const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* One line of the sweep's events (a run's events' rules, see run.c). */
static void sweep_event_locked(struct core *c, struct sweep *w,
			       const char *fmt, ...)
{
	struct buf b = BUF_INIT(4096);
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	for (i = 0; i < b.len; i++)
		if ((unsigned char)b.p[i] < 0x20 || b.p[i] == 0x7f)
			b.p[i] = '?';
	w->events_ms = now_ms();
	if (w->lost_event && !store_event_add(c->store, -w->id, w->lost_ms,
					      w->lost_event))
		w->lost_event = (free(w->lost_event), NULL);
	if (store_event_add(c->store, -w->id, w->events_ms, b.p ? b.p : "")) {
		free(w->lost_event);
		w->lost_event = buf_detach(&b, NULL);
		w->lost_ms = w->events_ms;
	}
	buf_release(&b);
}

static void sweep_set_state_locked(struct core *c, struct sweep *w,
				   int state, const char *reason)
{
	int old = w->state;

	if (w->state != state)
		sweep_event_locked(c, w, "state %s -> %s%s%s",
				   sweep_state_name(w->state),
				   sweep_state_name(state),
				   *reason ? ": " : "", reason);
	w->state = state;
	free(w->reason);
	w->reason = xstrdup(reason);
	w->updated_ms = now_ms();
	sweep_save_locked(c, w);
	stream_sweep_locked(c, w, old, reason);
}

/* The name trial n's run is made with. */
static void trial_run_name(const struct sweep *w, int n, char *out,
			   size_t len)
{
	snprintf(out, len, "%s-%03d", w->name, n + 1);
}

/* The name to show for trial t: its run's now (it may have been
 * renamed), else the one it is made with. c->lock held. */
static void trial_shown_name(struct core *c, const struct sweep *w,
			     const struct trial *t, char *out, size_t len)
{
	struct run *r = t->run_id ? hmap_iget(&c->run_by_id, t->run_id) : NULL;

	if (r)
		snprintf(out, len, "%s", r->name);
	else
		trial_run_name(w, t->n, out, len);
}

static struct trial *trial_add(struct sweep *w, const char *params,
			       cJSON *pj)
{
	struct trial *t;

	ALLOC_GROW(w->trials, w->ntrials, w->tcap);
	t = &w->trials[w->ntrials];
	memset(t, 0, sizeof(*t));
	t->n = (int)w->ntrials++;
	t->params = xstrdup(params);
	t->pj = pj;
	return t;
}

static void trial_release(struct trial *t)
{
	free(t->params);
	cJSON_Delete(t->pj);
	free(t->series);
}

static void sweep_free_locked(struct core *c, struct sweep *w)
{
	size_t i;

	for (i = 0; i < w->ntrials; i++) {
		if (w->trials[i].run_id &&
		    hmap_iget(&c->sweep_of_run, w->trials[i].run_id) == w)
			hmap_idel(&c->sweep_of_run, w->trials[i].run_id);
		trial_release(&w->trials[i]);
	}
	hmap_idel(&c->sweep_by_id, w->id);
	free(w->trials);
	spec_put(w->sp);
	free(w->spec);
	free(w->reason);
	free(w->name);
	free(w->lost_event);
	free(w);
}

void sweep_exp_free_locked(struct core *c, struct exp *e)
{
	size_t i;

	for (i = 0; i < e->nsweeps; i++)
		sweep_free_locked(c, e->sweeps[i]);
	free(e->sweeps);
	e->sweeps = NULL;
	e->nsweeps = e->sweepcap = 0;
}

static struct sweep *sweep_new(struct core *c, struct exp *e, int64_t id,
			       const char *name)
{
	struct sweep *w = xcalloc(1, sizeof(*w));

	w->id = id;
	w->exp = e;
	w->name = xstrdup(name);
	w->reason = xstrdup("");
	ALLOC_GROW(e->sweeps, e->nsweeps, e->sweepcap);
	e->sweeps[e->nsweeps++] = w;     /* ids only grow: stays sorted */
	hmap_iput(&c->sweep_by_id, id, w);
	return w;
}

/* ---- objective values ---- */

struct latest_ctx {
	const char *key;
	double v;
	int found;
};

static void latest_cb(void *arg, const char *key, double value)
{
	struct latest_ctx *x = arg;

	if (!strcmp(key, x->key)) {
		x->v = value;
		x->found = 1;
	}
}

/* The run's latest value of metric; 1 when there is one. */
static int objective_latest(struct core *c, int64_t run_id, const char *key,
			    double *v)
{
	struct latest_ctx x = { key, 0, 0 };

	store_metrics_each_latest(c->store, run_id, latest_cb, &x);
	if (x.found && isfinite(x.v)) {
		*v = x.v;
		return 1;
	}
	return 0;
}

#define SWEEP_SERIES_READ 16384     /* points read for a trial at a time */

struct series_ctx {
	struct trial *t;
	int minimize;
	size_t n;                   /* read this time */
};

/* Keeps every stride-th point; a full series is halved, the stride doubled. */
static void series_keep(struct trial *t, double step, double value)
{
	size_t i;

	if (!t->stride)
		t->stride = 1;
	if (t->skip++ % t->stride)
		return;
	if (t->nseries == SWEEP_SERIES_MAX) {
		for (i = 0; i < SWEEP_SERIES_MAX / 2; i++)
			t->series[i] = t->series[2 * i];
		t->nseries = SWEEP_SERIES_MAX / 2;
		t->stride *= 2;
		t->skip = 1;
	}
	if (!t->series)
		t->series = xcalloc(SWEEP_SERIES_MAX, sizeof(*t->series));
	t->series[t->nseries].step = step;
	t->series[t->nseries].value = value;
	t->nseries++;
}

static int series_cb(void *arg, double step, double value, int64_t end)
{
	struct series_ctx *x = arg;
	struct trial *t = x->t;

	t->seen_off = end;
	if (isfinite(value) && isfinite(step)) {
		if (!t->has_best || (x->minimize ? value < t->best :
				     value > t->best))
			t->best = value;
		t->has_best = 1;
		t->last_step = step;
		series_keep(t, step, value);
	}
	return ++x->n >= SWEEP_SERIES_READ;
}

/*
 * Reads the points of t's objective added since the last read, at most
 * SWEEP_SERIES_READ of them; returns 1 when it read them all.
 */
static int trial_series_read(struct core *c, const struct sweep *w,
			     struct trial *t)
{
	struct series_ctx x = { t, w->sp->minimize, 0 };

	if (!t->run_id)
		return 1;
	store_metric_series(c->store, t->run_id, w->sp->metric, t->seen_off,
			    series_cb, &x);
	return x.n < SWEEP_SERIES_READ;
}

/*
 * A completed trial's value at step s: that of its kept point with the
 * largest step at or before s (the later one of equal steps).
 */
static int value_at(const struct trial *t, double s, double *v)
{
	double at = 0;
	size_t i;
	int found = 0;

	for (i = 0; i < t->nseries; i++)
		if (t->series[i].step <= s &&
		    (!found || t->series[i].step >= at)) {
			at = t->series[i].step;
			*v = t->series[i].value;
			found = 1;
		}
	return found;
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* ---- following the trials ---- */

/* A trial's run ended as r says: the trial takes its end. */
static void trial_end_locked(struct core *c, struct sweep *w,
			     struct trial *t, struct run *r)
{
	char name[TFS_NAME_MAX + 1], v[32];
	double value;

	trial_run_name(w, t->n, name, sizeof(name));
	if (!r || r->state != RS_STOPPED) {
		/* only a stopped run was stopped early */
		t->early = 0;
		t->has_value = 0;
	}
	if (!r) {
		t->state = TRIAL_FAILED;
		sweep_event_locked(c, w, "trial %d (%s): its run was removed; "
				   "counted as failed", t->n + 1, name);
	} else if (r->state == RS_COMPLETED) {
		if (objective_latest(c, r->id, w->sp->metric, &value)) {
			t->state = TRIAL_DONE;
			t->value = value;
			t->has_value = 1;
			t->series_loaded = 0;   /* read to its end, then kept */
			metrics_format_value(value, v);
			sweep_event_locked(c, w, "trial %d (%s) completed: %s "
					   "%s", t->n + 1, r->name,
					   w->sp->metric, v);
		} else {
			t->state = TRIAL_FAILED;
			sweep_event_locked(c, w, "trial %d (%s) completed "
					   "without reporting %s: counted as "
					   "failed", t->n + 1, r->name,
					   w->sp->metric);
		}
	} else if (r->state == RS_STOPPED) {
		t->state = TRIAL_STOPPED;
		sweep_event_locked(c, w, "trial %d (%s) stopped%s: %s",
				   t->n + 1, r->name,
				   t->early ? " early" : "", r->reason);
	} else {
		t->state = TRIAL_FAILED;
		sweep_event_locked(c, w, "trial %d (%s) failed: %s", t->n + 1,
				   r->name, r->reason);
	}
	w->updated_ms = now_ms();
	trial_save_locked(c, w, t);
}

/*
 * The trials whose runs ended since the last pass. A sweep that no longer
 * runs (stopped, failed) keeps no live trial: their runs are cancelled,
 * and a trial never made is stopped.
 */
static void sweep_refresh_locked(struct core *c, struct sweep *w)
{
	int running = w->state == SWEEP_RUNNING;
	char why[256];
	size_t i;

	for (i = 0; i < w->ntrials; i++) {
		struct trial *t = &w->trials[i];
		struct run *r;

		if (trial_ended(t))
			continue;
		r = t->run_id ? hmap_iget(&c->run_by_id, t->run_id) : NULL;
		if (t->state == TRIAL_NEW) {
			if (running)
				continue;       /* trial_make_locked()'s */
			if (r && !run_state_terminal(r->state))
				run_cancel_locked(c, r, CANCEL_USER, why,
						  sizeof(why));
			if (!r || run_state_terminal(r->state)) {
				t->state = TRIAL_STOPPED;
				w->updated_ms = now_ms();
				trial_save_locked(c, w, t);
			}
			continue;
		}
		if (!r || run_state_terminal(r->state)) {
			trial_end_locked(c, w, t, r);
		} else if (!running && !r->cancel_requested) {
			run_cancel_locked(c, r, CANCEL_USER, why, sizeof(why));
		}
	}
}

/*
 * w ends running (stopped, failed): said, saved, and its live trials are
 * ended by the next passes (sweep_refresh_locked()).
 */
static void sweep_kick_locked(struct core *c);

static void sweep_finish_locked(struct core *c, struct sweep *w, int state,
				const char *reason)
{
	sweep_set_state_locked(c, w, state, reason);
	sweep_refresh_locked(c, w);
	sweep_kick_locked(c);
}

/* The best completed trial, or NULL. */
static const struct trial *sweep_best(const struct sweep *w)
{
	const struct trial *best = NULL;
	size_t i;

	if (!w->sp)
		return NULL;
	for (i = 0; i < w->ntrials; i++) {
		const struct trial *t = &w->trials[i];

		if (t->state != TRIAL_DONE || !t->has_value)
			continue;
		if (!best || (w->sp->minimize ? t->value < best->value :
			      t->value > best->value))
			best = t;
	}
	return best;
}

/*
 * The median rule (Optuna's MedianPruner): a running trial whose best
 * objective so far, at its latest step s >= warmup_steps, is worse than
 * the median of the completed trials' values at s (each one's last point
 * at or before s), with at least min_trials of those, is stopped. Each
 * trial's points are read once, as they come (trial_series_read()).
 */
static void sweep_early_locked(struct core *c, struct sweep *w)
{
	const struct sweep_spec *sp = w->sp;
	double *vals;
	size_t i, j, ndone = 0;
	int pending = 0;

	for (i = 0; i < w->ntrials; i++) {
		struct trial *t = &w->trials[i];

		if (t->state == TRIAL_DONE) {
			ndone++;
			/* a completed trial's series, read to its end */
			if (!t->series_loaded) {
				t->series_loaded = trial_series_read(c, w, t);
				pending |= !t->series_loaded;
			}
		} else if (t->state == TRIAL_ACTIVE) {
			trial_series_read(c, w, t);
		}
	}
	if ((int)ndone < sp->es_min || pending)
		return;
	vals = xcalloc(ndone + 1, sizeof(*vals));
	for (i = 0; i < w->ntrials; i++) {
		struct trial *t = &w->trials[i];
		struct run *r;
		double s, median;
		size_t nv = 0;
		char b[32], m[32], st[32];

		if (t->state != TRIAL_ACTIVE || t->early || !t->has_best ||
		    t->seen_off == t->checked_off)
			continue;
		r = hmap_iget(&c->run_by_id, t->run_id);
		if (!r || r->state != RS_RUNNING || r->cancel_requested)
			continue;
		t->checked_off = t->seen_off;
		s = t->last_step;
		if (s < sp->es_warmup)
			continue;
		for (j = 0; j < w->ntrials; j++) {
			double v = 0;

			if (w->trials[j].state == TRIAL_DONE &&
			    value_at(&w->trials[j], s, &v))
				vals[nv++] = v;
		}
		if ((int)nv < sp->es_min)
			continue;
		qsort(vals, nv, sizeof(*vals), cmp_double);
		median = nv % 2 ? vals[nv / 2] :
			 (vals[nv / 2 - 1] + vals[nv / 2]) / 2;
		if (sp->minimize ? !(t->best > median) : !(t->best < median))
			continue;
		metrics_format_value(t->best, b);
		metrics_format_value(median, m);
		metrics_format_value(s, st);
		t->early = 1;
		t->value = t->best;
		t->has_value = 1;
		trial_save_locked(c, w, t);
		sweep_event_locked(c, w, "trial %d (%s) stopped early: its "
				   "best %s %s by step %s is worse than the "
				   "median %s of %zu completed trials", t->n + 1,
				   r->name, sp->metric, b, st, m, nv);
		run_cancel_locked(c, r, CANCEL_EARLY, b, sizeof(b));
	}
	free(vals);
}

void sweep_early_reason_locked(struct core *c, struct run *r, char *out,
			       size_t len)
{
	struct sweep *w = hmap_iget(&c->sweep_of_run, r->id);

	if (w && w->sp)
		snprintf(out, len, "stopped early by sweep '%s': %s worse than "
			 "the median of its completed trials (median rule)",
			 w->name, w->sp->metric);
	else
		snprintf(out, len, "stopped early by its sweep (median rule)");
}

/*
 * The search's view of trials 0..n-1, with copies of their params (to
 * be read with c->lock let go of): free with obs_free().
 */
static struct search_obs *sweep_obs(const struct sweep *w)
{
	struct search_obs *o = xcalloc(w->ntrials + 1, sizeof(*o));
	size_t i;

	for (i = 0; i < w->ntrials; i++) {
		const struct trial *t = &w->trials[i];

		o[i].params = t->pj ? cJSON_Duplicate(t->pj, 1) : NULL;
		o[i].value = t->value;
		switch (t->state) {
		case TRIAL_DONE:
			o[i].state = SEARCH_DONE;
			break;
		case TRIAL_STOPPED:
			o[i].state = t->early ? SEARCH_STOPPED : SEARCH_FAILED;
			if (!t->has_value)
				o[i].value = NAN;
			break;
		case TRIAL_FAILED:
			o[i].state = SEARCH_FAILED;
			break;
		default:
			o[i].state = SEARCH_PENDING;
		}
	}
	return o;
}

static void obs_free(struct search_obs *o, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		cJSON_Delete((cJSON *)o[i].params);
	free(o);
}

/*
 * The params of w's next trial, chosen with c->lock let go of; NULL when
 * the sweep went or changed meanwhile (*wp is then the sweep again, or
 * NULL) or memory ran out.
 */
static cJSON *sweep_suggest_unlocked(struct core *c, struct sweep **wp)
{
	struct sweep *w = *wp;
	struct sweep_spec *sp = w->sp;
	int64_t sid = w->id;
	size_t n = w->ntrials;
	struct search_obs *obs = sweep_obs(w);
	cJSON *pj;

	sp->refs++;
	pthread_mutex_unlock(&c->lock);
	pj = search_suggest(sp->space, sp->method, sp->seed, n, obs, n,
			    sp->minimize);
	obs_free(obs, n);
	pthread_mutex_lock(&c->lock);
	spec_put(sp);
	*wp = w = sweep_by_id(c, sid);
	/* the sweeper alone adds trials: the same count, or not the same */
	if (!w || w->sp != sp || w->ntrials != n || w->state != SWEEP_RUNNING) {
		cJSON_Delete(pj);
		return NULL;
	}
	return pj;
}

/* A short "lr=0.01 batch=32" of params, for events. */
static void params_brief(const cJSON *pj, char *out, size_t len)
{
	const cJSON *it;
	size_t used = 0;

	out[0] = '\0';
	cJSON_ArrayForEach(it, pj) {
		char *v = cJSON_IsString(it) ? NULL : cJSON_PrintUnformatted(it);
		int n = snprintf(out + used, len - used, "%s%s=%s",
				 used ? " " : "", it->string,
				 v ? v : it->valuestring);

		cJSON_free(v);
		if (n < 0 || (size_t)n >= len - used)
			break;
		used += (size_t)n;
	}
}

/* Trial n is no longer to be made (its sweep ended meanwhile): its run,
 * if made, is stopped and never submitted. */
static void trial_drop_locked(struct core *c, struct sweep *w, int n)
{
	struct trial *t = &w->trials[n];
	struct run *r = t->run_id ? hmap_iget(&c->run_by_id, t->run_id) : NULL;
	char why[256];

	if (r && !run_state_terminal(r->state))
		run_cancel_locked(c, r, CANCEL_USER, why, sizeof(why));
	if (t->state == TRIAL_NEW)
		t->state = TRIAL_STOPPED;
	w->updated_ms = now_ms();
	trial_save_locked(c, w, t);
}

/* A run that could not be one of w's trials: w fails, saying why. */
static void trial_clash_locked(struct core *c, struct sweep *w, int n,
			       const char *name)
{
	w->trials[n].state = TRIAL_FAILED;
	trial_save_locked(c, w, &w->trials[n]);
	sweep_event_locked(c, w, "cannot make trial %d: run '%s' exists and "
			   "is not this sweep's; rename or remove it, then "
			   "start a new sweep", n + 1, name);
	sweep_finish_locked(c, w, SWEEP_FAILED, "a run named after a trial "
			    "exists and is not this sweep's");
}

/*
 * Makes trial n's run and submits it, carrying on from where a restart
 * found it. c->lock held; let go of and taken again inside: returns the
 * sweep again (NULL when it went meanwhile), since w may not be the same.
 * The run is made with the UUID stored in the trial's row first, so that
 * a run of that name is known to be this trial's after a crash.
 */
static struct sweep *trial_make_locked(struct core *c, struct sweep *w,
				       int n)
{
	char name[TFS_NAME_MAX + 1], reason[CONFIG_REASON_MAX];
	char brief[256], uuid[37];
	int64_t sid = w->id, exp_id = w->exp->id, run_id = w->trials[n].run_id;
	char *text = trial_config_text(w->sp, w->trials[n].pj, 0);
	struct trial *t;
	struct run *r;
	int ret = TFS_OK;

	if (!text)
		return w;
	trial_run_name(w, n, name, sizeof(name));
	snprintf(uuid, sizeof(uuid), "%s", w->trials[n].run_uuid);
	if (!run_id) {
		pthread_mutex_unlock(&c->lock);
		ret = run_create_uuid(c, exp_id, name, uuid[0] ? uuid : NULL,
				      &run_id, reason, sizeof(reason));
		pthread_mutex_lock(&c->lock);
		w = sweep_by_id(c, sid);
		if (!w)
			goto out;
		if (ret == TFS_EEXIST) {
			/* made before a crash that kept its id from the row:
			 * the run with the trial's UUID is its own */
			r = hmap_sget(&w->exp->by_name, name);
			if (r && uuid[0] && !strcmp(r->uuid, uuid)) {
				run_id = r->id;
				ret = TFS_OK;
			} else {
				trial_clash_locked(c, w, n, name);
				goto out;
			}
		}
		if (ret) {
			sweep_event_locked(c, w, "cannot make trial %d (%s): "
					   "%s", n + 1, name, tfs_strerror(ret));
			w->retry_mono = mono_ms() + SWEEP_RETRY_MS;
			goto out;
		}
		t = &w->trials[n];
		t->run_id = run_id;
		hmap_iput(&c->sweep_of_run, run_id, w);
		t->unsaved = 1;
	}
	t = &w->trials[n];
	if (t->unsaved) {
		/* the id stored before the submission, or nothing submitted */
		if (trial_save_locked(c, w, t)) {
			w->retry_mono = mono_ms() + SWEEP_RETRY_MS;
			goto out;
		}
		t->unsaved = 0;
	}
	if (w->state != SWEEP_RUNNING || t->state != TRIAL_NEW) {
		/* cancelled while it was made */
		trial_drop_locked(c, w, n);
		goto out;
	}
	pthread_mutex_unlock(&c->lock);
	ret = core_run_submit(c, run_id, text, strlen(text), reason,
			      sizeof(reason));
	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, sid);
	if (!w)
		goto out;
	t = &w->trials[n];
	r = hmap_iget(&c->run_by_id, run_id);
	if (ret == TFS_ENOENT) {
		/* its run was removed before it was submitted: made again */
		hmap_idel(&c->sweep_of_run, run_id);
		t->run_id = 0;
		trial_save_locked(c, w, t);
		goto out;
	}
	if (ret == TFS_EINVAL || ret == TFS_EFBIG) {
		trial_drop_locked(c, w, n);
		t->state = TRIAL_FAILED;
		trial_save_locked(c, w, t);
		sweep_event_locked(c, w, "trial %d (%s): its config was "
				   "refused: %s", n + 1, name, reason);
		if (++w->failing >= SWEEP_FAIL_MAX && w->state == SWEEP_RUNNING) {
			char why[CONFIG_REASON_MAX + 64];

			snprintf(why, sizeof(why), "%d trials in a row were "
				 "refused; the last: %s", w->failing, reason);
			sweep_finish_locked(c, w, SWEEP_FAILED, why);
		}
		goto out;
	}
	if (ret && ret != TFS_EBUSY) {
		/* nothing was submitted (a full disk): tried again later */
		sweep_event_locked(c, w, "cannot submit trial %d (%s): %s",
				   n + 1, name, reason[0] ? reason :
				   tfs_strerror(ret));
		w->retry_mono = mono_ms() + SWEEP_RETRY_MS;
		goto out;
	}
	if (ret == TFS_EBUSY && (!r || !r->submitted_ms)) {
		/* stopped before it was submitted (a cancel meanwhile) */
		trial_drop_locked(c, w, n);
		goto out;
	}
	/* submitted now, or before a restart (EBUSY of a submitted run) */
	w->failing = 0;
	if (t->state == TRIAL_NEW)
		t->state = TRIAL_ACTIVE;
	trial_save_locked(c, w, t);
	w->updated_ms = now_ms();
	params_brief(t->pj, brief, sizeof(brief));
	sweep_event_locked(c, w, "trial %d (%s) submitted: %s", n + 1, name,
			   brief);
	if (w->state != SWEEP_RUNNING)
		sweep_refresh_locked(c, w);     /* cancelled meanwhile */
	if (r && run_state_terminal(r->state) && t->state == TRIAL_ACTIVE)
		trial_end_locked(c, w, t, r);
out:
	cJSON_free(text);
	return w;
}

static int sweep_active(const struct sweep *w)
{
	size_t i;
	int n = 0;

	for (i = 0; i < w->ntrials; i++)
		n += !trial_ended(&w->trials[i]);
	return n;
}

/*
 * One pass over a running sweep: ended trials recorded, the rule applied,
 * new trials made up to parallelism, the end when every trial is made and
 * ended. Returns the sweep again (see trial_make_locked()).
 */
static struct sweep *sweep_pass_locked(struct core *c, struct sweep *w)
{
	size_t i;

	sweep_refresh_locked(c, w);
	if (w->state != SWEEP_RUNNING || !w->sp)
		return w;
	if (w->sp->es)
		sweep_early_locked(c, w);
	/* trials a restart found half made */
	for (i = 0; w && w->state == SWEEP_RUNNING && i < w->ntrials; i++)
		if (w->trials[i].state == TRIAL_NEW &&
		    mono_ms() >= w->retry_mono)
			w = trial_make_locked(c, w, (int)i);
	while (w && w->state == SWEEP_RUNNING &&
	       (int)w->ntrials < w->max_trials &&
	       sweep_active(w) < w->sp->parallelism &&
	       mono_ms() >= w->retry_mono) {
		cJSON *pj = sweep_suggest_unlocked(c, &w);
		char *text;
		struct trial *t;

		if (!w)
			break;
		if (!pj && w->state != SWEEP_RUNNING)
			break;
		text = pj ? cJSON_PrintUnformatted(pj) : NULL;
		if (!text) {
			cJSON_Delete(pj);
			w->retry_mono = mono_ms() + SWEEP_RETRY_MS;
			break;
		}
		t = trial_add(w, text, pj);
		cJSON_free(text);
		uuid_v4(t->run_uuid);
		if (trial_save_locked(c, w, t)) {
			/* not stored: not made, chosen again next time */
			trial_release(t);
			w->ntrials--;
			w->retry_mono = mono_ms() + SWEEP_RETRY_MS;
			break;
		}
		w = trial_make_locked(c, w, t->n);
	}
	if (w && w->state == SWEEP_RUNNING &&
	    (int)w->ntrials >= w->max_trials && !sweep_active(w)) {
		const struct trial *b = sweep_best(w);
		char why[256], name[TFS_NAME_MAX + 1];

		if (b) {
			trial_shown_name(c, w, b, name, sizeof(name));
			snprintf(why, sizeof(why), "%zu trials; best %s %s = %.6g",
				 w->ntrials, name, w->sp->metric, b->value);
		} else {
			snprintf(why, sizeof(why), "%zu trials; none completed "
				 "with %s", w->ntrials, w->sp->metric);
		}
		sweep_set_state_locked(c, w, SWEEP_COMPLETED, why);
	}
	return w;
}

/* Whether a pass soon is needed: the rule watches running trials. */
static int sweep_watching(const struct sweep *w)
{
	return (w->state == SWEEP_RUNNING && w->sp && w->sp->es &&
		sweep_active(w)) ||
	       (w->state != SWEEP_RUNNING && sweep_active(w));
}

static void *sweeper_main(void *arg)
{
	struct core *c = arg;
	int64_t *ids = NULL;
	size_t n, cap = 0, i, e;

	pthread_mutex_lock(&c->lock);
	while (!c->sweep_quit) {
		int watch = 0, retry = 0;
		struct timespec ts;
		int64_t wait_ms;

		c->sweep_kicked = 0;
		n = 0;
		for (e = 0; e < c->nexps; e++)
			for (i = 0; i < c->exps[e]->nsweeps; i++) {
				struct sweep *w = c->exps[e]->sweeps[i];

				if (w->state != SWEEP_RUNNING &&
				    !sweep_active(w))
					continue;
				ALLOC_GROW(ids, n, cap);
				ids[n++] = c->exps[e]->sweeps[i]->id;
			}
		for (i = 0; i < n && !c->sweep_quit; i++) {
			struct sweep *w = sweep_by_id(c, ids[i]);

			if (w)
				w = sweep_pass_locked(c, w);
			if (w && sweep_watching(w))
				watch = 1;
			if (w && w->state == SWEEP_RUNNING &&
			    w->retry_mono > mono_ms())
				retry = 1;
		}
		if (c->sweep_quit || c->sweep_kicked)
			continue;
		wait_ms = watch || retry ? SWEEP_TICK_MS : SWEEP_IDLE_MS;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&c->sweep_work, &c->lock, &ts);
	}
	pthread_mutex_unlock(&c->lock);
	free(ids);
	return NULL;
}

static void sweep_kick_locked(struct core *c)
{
	c->sweep_kicked = 1;
	pthread_cond_signal(&c->sweep_work);
}

/* The hook: a trial's run changed state; the sweeper looks. */
static void sweep_hook(struct core *c, struct run *r, int old, void *arg)
{
	(void)arg;
	if (old != r->state && run_state_terminal(r->state) &&
	    hmap_iget(&c->sweep_of_run, r->id))
		sweep_kick_locked(c);
}

int sweep_init(struct core *c, char *err, size_t errlen)
{
	pthread_cond_init(&c->sweep_work, NULL);
	if (run_hook_add(c, sweep_hook, NULL)) {
		snprintf(err, errlen, "cannot add the sweeps' hook");
		return TFS_ENOSPC;
	}
	return TFS_OK;
}

int sweep_start(struct core *c)
{
	if (pthread_create(&c->sweeper, NULL, sweeper_main, c)) {
		log_msg(LOG_ERR, "cannot start the sweeps' thread");
		return TFS_ENOMEM;
	}
	c->sweeper_started = 1;
	return TFS_OK;
}

void sweep_stop(struct core *c)
{
	if (!c->sweeper_started)
		return;
	pthread_mutex_lock(&c->lock);
	c->sweep_quit = 1;
	sweep_kick_locked(c);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->sweeper, NULL);
	c->sweeper_started = 0;
}

/* ---- loading ---- */

static int load_sweep_cb(void *arg, const struct store_sweep *sw)
{
	struct core *c = arg;
	struct exp *e = core_exp_by_id(c, sw->exp_id);
	struct sweep *w;
	char why[CONFIG_REASON_MAX];

	if (!e)
		return 0;
	w = sweep_new(c, e, sw->id, sw->name);
	w->state = sw->state >= SWEEP_CREATED && sw->state <= SWEEP_FAILED ?
		   sw->state : SWEEP_FAILED;
	w->max_trials = sw->max_trials;
	w->created_ms = sw->created_ms;
	w->updated_ms = w->events_ms = sw->updated_ms;
	free(w->reason);
	w->reason = xstrdup(sw->reason ? sw->reason : "");
	if (sw->spec) {
		w->spec = xstrdup(sw->spec);
		if (spec_parse(w->spec, strlen(w->spec), &w->sp, why,
			       sizeof(why))) {
			/* a spec this version cannot read: nothing runs on it */
			char reason[CONFIG_REASON_MAX + 64];

			log_msg(LOG_ERR, "sweep '%s/%s': %s", e->name, w->name,
				why);
			w->sp = NULL;
			snprintf(reason, sizeof(reason), "this trainfs cannot "
				 "read its sweep.json: %s", why);
			w->state = SWEEP_FAILED;
			free(w->reason);
			w->reason = xstrdup(reason);
			sweep_save_locked(c, w);
		}
	}
	return 0;
}

static int load_trial_cb(void *arg, const struct store_trial *st)
{
	struct core *c = arg;
	struct sweep *w = sweep_by_id(c, st->sweep_id);
	struct trial *t;

	/* rows are in number order; a gap would break trials[i].n == i */
	if (!w || st->n != (int)w->ntrials)
		return 0;
	t = trial_add(w, st->params, cJSON_Parse(st->params));
	t->run_id = st->run_id;
	t->state = st->state >= TRIAL_NEW && st->state <= TRIAL_STOPPED ?
		   st->state : TRIAL_FAILED;
	if (st->run_uuid)
		snprintf(t->run_uuid, sizeof(t->run_uuid), "%s", st->run_uuid);
	t->value = st->value;
	t->has_value = st->has_value;
	t->early = st->early;
	if (t->run_id)
		hmap_iput(&c->sweep_of_run, t->run_id, w);
	return 0;
}

int sweep_load(struct core *c, char *err, size_t errlen)
{
	if (store_sweep_load(c->store, load_sweep_cb, c) ||
	    store_trial_load(c->store, load_trial_cb, c)) {
		snprintf(err, errlen, "cannot load the sweeps");
		return TFS_EIO;
	}
	return TFS_OK;
}

/* ---- the public face (core.h) ---- */

static void sweep_info(const struct sweep *w, struct core_sweep_info *out)
{
	out->id = w->id;
	out->exp_id = w->exp->id;
	snprintf(out->name, sizeof(out->name), "%s", w->name);
	out->state = w->state;
	out->submitted = w->spec != NULL;
	out->has_best = sweep_best(w) != NULL;
	out->created_ms = w->created_ms;
	out->updated_ms = w->updated_ms;
	out->events_ms = w->events_ms;
	out->spec_ms = w->created_ms;
}

int core_sweep_lookup(struct core *c, int64_t exp_id, const char *name,
		      struct core_sweep_info *out)
{
	struct exp *e;
	struct sweep *w = NULL;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (e)
		w = sweep_by_name(e, name);
	if (w)
		sweep_info(w, out);
	pthread_mutex_unlock(&c->lock);
	return w ? TFS_OK : TFS_ENOENT;
}

int core_sweep_get(struct core *c, int64_t id, struct core_sweep_info *out)
{
	struct sweep *w;

	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	if (w)
		sweep_info(w, out);
	pthread_mutex_unlock(&c->lock);
	return w ? TFS_OK : TFS_ENOENT;
}

int core_sweep_list(struct core *c, int64_t exp_id, int64_t after_id,
		    core_sweep_cb cb, void *arg)
{
	struct core_sweep_info info;
	struct exp *e;
	size_t i;
	int r = TFS_OK;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (!e) {
		r = TFS_ENOENT;
		goto out;
	}
	for (i = 0; i < e->nsweeps; i++) {
		if (e->sweeps[i]->id <= after_id)
			continue;
		sweep_info(e->sweeps[i], &info);
		if (cb(arg, &info))
			break;
	}
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_sweep_create(struct core *c, int64_t exp_id, const char *name,
		      int64_t *id, char *reason, size_t rlen)
{
	struct store_sweep sw;
	struct sweep *w;
	struct exp *e;
	int64_t now = now_ms();
	int ret;

	if (!name_valid(name) || strlen(name) > SWEEP_NAME_MAX) {
		snprintf(reason, rlen, "invalid sweep name '%.200s': use "
			 "[A-Za-z0-9][A-Za-z0-9._-]{0,%d} (its trials are "
			 "runs NAME-001 ...)", name, SWEEP_NAME_MAX - 1);
		core_event(c, "mkdir refused: %s", reason);
		return TFS_EINVAL;
	}
	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (!e) {
		ret = TFS_ENOENT;
		goto out;
	}
	if (sweep_by_name(e, name)) {
		ret = TFS_EEXIST;
		goto out;
	}
	if (e->nsweeps >= SWEEPS_MAX) {
		snprintf(reason, rlen, "experiment '%s' has %zu sweeps, the "
			 "most it may", e->name, e->nsweeps);
		ret = TFS_ENOSPC;
		pthread_mutex_unlock(&c->lock);
		core_event(c, "mkdir refused: %s", reason);
		return ret;
	}
	memset(&sw, 0, sizeof(sw));
	sw.exp_id = e->id;
	sw.name = name;
	sw.state = SWEEP_CREATED;
	sw.created_ms = sw.updated_ms = now;
	ret = store_sweep_insert(c->store, &sw, id);
	if (ret)
		goto out;
	w = sweep_new(c, e, *id, name);
	w->created_ms = w->updated_ms = w->events_ms = now;
	e->mtime_ms = now;
	sweep_event_locked(c, w, "created");
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_sweep_remove(struct core *c, int64_t exp_id, const char *name)
{
	struct exp *e;
	struct sweep *w = NULL;
	size_t i;
	int ret;

	pthread_mutex_lock(&c->lock);
	e = core_exp_by_id(c, exp_id);
	if (e)
		w = sweep_by_name(e, name);
	if (!w) {
		ret = TFS_ENOENT;
		goto out;
	}
	if (w->state == SWEEP_RUNNING || sweep_active(w)) {
		sweep_event_locked(c, w, "rmdir refused: the sweep %s; "
				   "echo cancel > ctl first",
				   w->state == SWEEP_RUNNING ? "is running" :
				   "has active trials");
		ret = TFS_EBUSY;
		goto out;
	}
	ret = store_sweep_delete(c->store, w->id);
	if (ret)
		goto out;
	for (i = 0; i < e->nsweeps && e->sweeps[i] != w; i++)
		;
	memmove(&e->sweeps[i], &e->sweeps[i + 1],
		(e->nsweeps - i - 1) * sizeof(*e->sweeps));
	e->nsweeps--;
	e->mtime_ms = now_ms();
	sweep_free_locked(c, w);
out:
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/*
 * The runs trials from..to-1 of w would be are free: TFS_EINVAL with
 * reason naming the first that is taken (by an earlier sweep of that
 * name, or by hand). c->lock held.
 */
static int sweep_names_free_locked(const struct sweep *w, int from, int to,
				   char *reason, size_t rlen)
{
	char name[TFS_NAME_MAX + 1];
	int n;

	for (n = from; n < to; n++) {
		trial_run_name(w, n, name, sizeof(name));
		if (hmap_sget(&w->exp->by_name, name)) {
			snprintf(reason, rlen, "run '%s' exists already (a trial "
				 "of an earlier sweep named '%s'?): its trials "
				 "would be runs %s-001 to %s-%03d; remove those "
				 "runs or name the sweep otherwise", name,
				 w->name, w->name, w->name, to);
			return TFS_EINVAL;
		}
	}
	return TFS_OK;
}

/* Whether sweep.json may be written: the sweep is new, and not cancelled. */
static int sweep_takes_spec(const struct sweep *w, char *reason, size_t rlen)
{
	if (w->spec)
		return TFS_EBUSY;
	if (w->state != SWEEP_CREATED) {
		snprintf(reason, rlen, "the sweep is %s: make a new one",
			 sweep_state_name(w->state));
		return TFS_EINVAL;
	}
	return TFS_OK;
}

/*
 * Reads sweep.json for sweep id as its close takes it: the sweep new, the
 * spec valid, its base a valid run, its trials' names free. Returns with
 * c->lock held and *wp the sweep (NULL: it went); a refusal is in the
 * sweep's events. On TFS_OK *spp is the parsed spec (the caller's).
 */
static int spec_take(struct core *c, int64_t id, const char *text,
		     size_t len, struct sweep **wp, struct sweep_spec **spp,
		     char *reason, size_t rlen)
{
	struct sweep_spec *sp = NULL;
	struct sweep *w;
	int ret;

	reason[0] = '\0';
	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	ret = !w ? TFS_ENOENT : sweep_takes_spec(w, reason, rlen);
	pthread_mutex_unlock(&c->lock);
	if (ret == TFS_OK)
		ret = spec_parse(text, len, &sp, reason, rlen);
	if (!ret)
		ret = spec_check(c, sp, reason, rlen);
	pthread_mutex_lock(&c->lock);
	*wp = w = sweep_by_id(c, id);
	if (!w)
		ret = TFS_ENOENT;
	/* again, with the lock: taken or cancelled meanwhile */
	if (!ret)
		ret = sweep_takes_spec(w, reason, rlen);
	if (!ret)
		ret = sweep_names_free_locked(w, 0, sp->max_trials, reason,
					      rlen);
	if (w && (ret == TFS_EINVAL || ret == TFS_EFBIG))
		sweep_event_locked(c, w, "sweep.json rejected: %s", reason);
	if (ret) {
		spec_free(sp);
		sp = NULL;
	}
	*spp = sp;
	return ret;
}

int core_sweep_check(struct core *c, int64_t id, const char *text,
		     size_t len, char *reason, size_t rlen)
{
	struct sweep_spec *sp;
	struct sweep *w;
	int ret = spec_take(c, id, text, len, &w, &sp, reason, rlen);

	pthread_mutex_unlock(&c->lock);
	spec_free(sp);
	return ret;
}

int core_sweep_submit(struct core *c, int64_t id, const char *text,
		      size_t len, char *reason, size_t rlen)
{
	struct sweep_spec *sp;
	struct sweep *w;
	int ret = spec_take(c, id, text, len, &w, &sp, reason, rlen);

	if (ret)
		goto out;
	w->spec = xstrndup(text, len);
	w->sp = sp;
	sp = NULL;
	w->max_trials = w->sp->max_trials;
	w->state = SWEEP_RUNNING;
	free(w->reason);
	w->reason = xstrdup("");
	w->updated_ms = now_ms();
	{
		struct store_sweep sw;

		sweep_to_store(w, &sw);
		ret = store_begin(c->store, 1);
		if (!ret) {
			ret = store_sweep_update(c->store, &sw);
			if (ret)
				store_rollback(c->store);
			else
				ret = store_commit(c->store);
		}
	}
	if (ret) {
		/* not recorded: as it was */
		snprintf(reason, rlen, "cannot record the sweep: %s",
			 tfs_strerror(ret));
		sp = w->sp;
		w->sp = NULL;
		free(w->spec);
		w->spec = NULL;
		w->state = SWEEP_CREATED;
		sweep_event_locked(c, w, "sweep.json not taken: %s", reason);
		goto out;
	}
	sweep_event_locked(c, w, "state created -> running: %s search, %d "
			   "trials, %d at a time, %s %s", search_method_name(
			   w->sp->method), w->max_trials, w->sp->parallelism,
			   w->sp->minimize ? "minimise" : "maximise",
			   w->sp->metric);
	stream_sweep_locked(c, w, SWEEP_CREATED, "");
	sweep_kick_locked(c);
out:
	pthread_mutex_unlock(&c->lock);
	spec_free(sp);
	return ret;
}

/* Carries out one ctl line on w. */
static int sweep_ctl_one_locked(struct core *c, struct sweep *w,
				const char *line, char *reason, size_t rlen)
{
	char *end;
	long n;
	size_t i;

	if (!strcmp(line, "cancel")) {
		if (w->state != SWEEP_RUNNING && w->state != SWEEP_CREATED) {
			snprintf(reason, rlen, "cannot cancel: the sweep is %s",
				 sweep_state_name(w->state));
			return TFS_EINVAL;
		}
		/* a trial being made is stopped by trial_make_locked() */
		for (i = 0; i < w->ntrials; i++)
			if (w->trials[i].state == TRIAL_NEW &&
			    !w->trials[i].run_id) {
				w->trials[i].state = TRIAL_STOPPED;
				trial_save_locked(c, w, &w->trials[i]);
			}
		sweep_finish_locked(c, w, SWEEP_STOPPED, "cancelled");
		return TFS_OK;
	}
	if (!strncmp(line, "extend", 6) && (line[6] == ' ' || line[6] == '\t')) {
		errno = 0;
		n = strtol(line + 7, &end, 10);
		while (*end == ' ' || *end == '\t')
			end++;
		if (errno || end == line + 7 || *end || n < 1 ||
		    n > SWEEP_TRIALS_MAX) {
			snprintf(reason, rlen, "'extend' takes a number of "
				 "trials from 1 to %d", SWEEP_TRIALS_MAX);
			return TFS_EINVAL;
		}
		if ((w->state != SWEEP_RUNNING && w->state != SWEEP_COMPLETED) ||
		    !w->sp) {
			snprintf(reason, rlen, "cannot extend: the sweep is %s",
				 w->sp ? sweep_state_name(w->state) :
				 "one this trainfs cannot read");
			return TFS_EINVAL;
		}
		if (w->max_trials + n > SWEEP_TRIALS_MAX) {
			snprintf(reason, rlen, "cannot extend to %ld trials: at "
				 "most %d", w->max_trials + n,
				 SWEEP_TRIALS_MAX);
			return TFS_EINVAL;
		}
		if (w->sp->method == SEARCH_GRID &&
		    (uint64_t)w->max_trials + (uint64_t)n > w->sp->grid_n) {
			snprintf(reason, rlen, "cannot extend by %ld: the grid "
				 "has %llu points and %d are trials already", n,
				 (unsigned long long)w->sp->grid_n,
				 w->max_trials);
			return TFS_EINVAL;
		}
		if (sweep_names_free_locked(w, w->max_trials,
					    w->max_trials + (int)n, reason,
					    rlen))
			return TFS_EINVAL;
		w->max_trials += (int)n;
		sweep_event_locked(c, w, "extended by %ld to %d trials", n,
				   w->max_trials);
		if (w->state == SWEEP_COMPLETED)
			sweep_set_state_locked(c, w, SWEEP_RUNNING, "extended");
		else
			sweep_save_locked(c, w);
		sweep_kick_locked(c);
		return TFS_OK;
	}
	snprintf(reason, rlen, "unknown ctl command '%.100s': use cancel or "
		 "extend N", line);
	return TFS_EINVAL;
}

int core_sweep_ctl(struct core *c, int64_t id, const char *text, size_t len,
		   char *reason, size_t rlen)
{
	struct sweep *w;
	size_t i = 0;
	int ret = TFS_OK;

	reason[0] = '\0';
	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	if (!w) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	while (i < len && !ret) {
		const char *nl = memchr(text + i, '\n', len - i);
		size_t n = nl ? (size_t)(nl - (text + i)) : len - i;
		char line[256];

		/* blanks around a command, and empty lines, are nothing */
		while (n && (text[i] == ' ' || text[i] == '\t' ||
			     text[i] == '\r')) {
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
			ret = sweep_ctl_one_locked(c, w, line, reason, rlen);
		}
		i = nl ? (size_t)(nl - text) + 1 : len;
	}
	if (ret)
		sweep_event_locked(c, w, "ctl refused: %s", reason);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void core_sweep_note(struct core *c, int64_t id, const char *text)
{
	struct sweep *w;

	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	if (w)
		sweep_event_locked(c, w, "%s", text);
	pthread_mutex_unlock(&c->lock);
}

/* ---- the files ---- */

static void sweep_counts(const struct sweep *w, int cnt[TRIAL_STOPPED + 1],
			 int *early)
{
	size_t i;

	memset(cnt, 0, sizeof(int) * (TRIAL_STOPPED + 1));
	*early = 0;
	for (i = 0; i < w->ntrials; i++) {
		cnt[w->trials[i].state]++;
		*early += w->trials[i].state == TRIAL_STOPPED &&
			  w->trials[i].early;
	}
}

static int sweep_status_text(struct core *c, const struct sweep *w,
			     struct buf *out)
{
	const struct trial *b = sweep_best(w);
	int cnt[TRIAL_STOPPED + 1], early;
	char name[TFS_NAME_MAX + 1];

	sweep_counts(w, cnt, &early);
	buf_printf(out, "%s\n", sweep_state_name(w->state));
	if (w->reason[0])
		buf_printf(out, "reason     %s\n", w->reason);
	if (w->spec && !w->sp)
		return TFS_OK;          /* the reason says why */
	if (!w->sp)
		return buf_puts(out, "# write sweep.json to start it\n");
	buf_printf(out, "method     %s\n", search_method_name(w->sp->method));
	buf_printf(out, "objective  %s %s\n", w->sp->metric,
		   w->sp->minimize ? "min" : "max");
	buf_printf(out, "trials     %zu of %d\n", w->ntrials, w->max_trials);
	buf_printf(out, "active     %d (at most %d)\n",
		   cnt[TRIAL_NEW] + cnt[TRIAL_ACTIVE], w->sp->parallelism);
	buf_printf(out, "completed  %d\n", cnt[TRIAL_DONE]);
	buf_printf(out, "failed     %d\n", cnt[TRIAL_FAILED]);
	buf_printf(out, "stopped    %d (%d early)\n", cnt[TRIAL_STOPPED], early);
	if (b) {
		trial_shown_name(c, w, b, name, sizeof(name));
		buf_printf(out, "best       %s %s %.6g\n", name, w->sp->metric,
			   b->value);
	}
	return TFS_OK;
}

/* A param's value as a cell: strings bare, others as JSON. */
static void param_cell(struct table *tb, const cJSON *v)
{
	char *s;

	if (!v) {
		table_add(tb, "-");
		return;
	}
	if (cJSON_IsString(v)) {
		table_add(tb, "%s", v->valuestring);
		return;
	}
	if (cJSON_IsNumber(v)) {
		table_add(tb, "%.6g", v->valuedouble);
		return;
	}
	s = cJSON_PrintUnformatted(v);
	table_add(tb, "%s", s ? s : "?");
	cJSON_free(s);
}

static int sweep_trials_text(struct core *c, const struct sweep *w,
			     struct buf *out)
{
	struct table tb;
	size_t np, i, j;
	int r;

	if (!w->sp)
		return TFS_OK;
	np = search_space_count(w->sp->space);
	table_init(&tb, 4 + (int)np, 2);
	table_add(&tb, "run");
	table_add(&tb, "state");
	table_add(&tb, "%s", w->sp->metric);
	table_add(&tb, "early");
	for (j = 0; j < np; j++)
		table_add(&tb, "%s", search_space_name(w->sp->space, j));
	for (i = 0; i < w->ntrials; i++) {
		const struct trial *t = &w->trials[i];
		char name[TFS_NAME_MAX + 1];
		double cur;

		trial_shown_name(c, w, t, name, sizeof(name));
		table_add(&tb, "%s", name);
		table_add(&tb, "%s", trial_state_names[t->state]);
		if (t->has_value) {
			table_add(&tb, "%.6g", t->value);
		} else if (t->state == TRIAL_ACTIVE && t->run_id &&
			   objective_latest(c, t->run_id, w->sp->metric,
					    &cur)) {
			/* so far, marked as not final */
			table_add(&tb, "(%.6g)", cur);
		} else {
			table_add(&tb, "-");
		}
		table_add(&tb, "%s", t->early ? "yes" : "no");
		for (j = 0; j < np; j++)
			param_cell(&tb, cJSON_GetObjectItemCaseSensitive(
				   t->pj, search_space_name(w->sp->space, j)));
	}
	r = table_format(&tb, out);
	table_release(&tb);
	return r;
}

static int sweep_best_text(struct core *c, const struct sweep *w, int json,
			   struct buf *out)
{
	const struct trial *b = sweep_best(w);
	char name[TFS_NAME_MAX + 1], v[32], *text;
	int r;

	if (!b) {
		if (json)
			return TFS_ENOENT;
		return buf_printf(out, "# no trial has completed with %s yet\n",
				  w->sp ? w->sp->metric : "the objective");
	}
	if (json) {
		text = trial_config_text(w->sp, b->pj, 1);
		if (!text)
			return TFS_ENOMEM;
		r = buf_printf(out, "%s\n", text);
		cJSON_free(text);
		return r;
	}
	trial_shown_name(c, w, b, name, sizeof(name));
	metrics_format_value(b->value, v);
	buf_printf(out, "run     %s\n", name);
	buf_printf(out, "%-7s %s\n", w->sp->metric, v);
	return buf_printf(out, "params  %s\n", b->params);
}

/*
 * compare.svg: the trials' runs in trial order, drawn as an experiment's
 * compare.svg draws its runs (charts.c), with c->lock let go of.
 */
static int sweep_compare_svg(struct core *c, int64_t id, struct buf *out)
{
	char title[2 * TFS_NAME_MAX + 64], metric[METRIC_KEY_MAX];
	struct sweep *w;
	int64_t *ids;
	size_t i, n = 0;
	int r, minimize;

	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	if (!w) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	snprintf(title, sizeof(title), "sweep %s/%s", w->exp->name, w->name);
	if (!w->sp) {
		pthread_mutex_unlock(&c->lock);
		return plot_message_svg(out, title, "no sweep.json yet");
	}
	snprintf(metric, sizeof(metric), "%s", w->sp->metric);
	minimize = w->sp->minimize;
	ids = xcalloc(w->ntrials + 1, sizeof(*ids));
	for (i = 0; i < w->ntrials; i++)
		if (w->trials[i].run_id)
			ids[n++] = w->trials[i].run_id;
	pthread_mutex_unlock(&c->lock);
	r = charts_compare(c, title, metric, minimize, ids, n, out, NULL);
	free(ids);
	return r;
}

int core_sweep_read(struct core *c, int64_t id, enum sweep_file f,
		    struct buf *out)
{
	struct sweep *w;
	int r = TFS_OK;

	if (f == SF_COMPARE_SVG)
		return sweep_compare_svg(c, id, out);
	pthread_mutex_lock(&c->lock);
	w = sweep_by_id(c, id);
	if (!w) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	switch (f) {
	case SF_SPEC:
		if (w->spec)
			r = buf_puts(out, w->spec);
		break;
	case SF_STATUS:
		r = sweep_status_text(c, w, out);
		break;
	case SF_TRIALS:
		r = sweep_trials_text(c, w, out);
		break;
	case SF_BEST:
		r = sweep_best_text(c, w, 0, out);
		break;
	case SF_BEST_JSON:
		r = sweep_best_text(c, w, 1, out);
		break;
	case SF_EVENTS:
		r = store_events_format(c->store, -w->id, out);
		break;
	case SF_COMPARE_SVG:
		break;
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}
