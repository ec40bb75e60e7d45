/*
 * charts.c - the mount's pictures: a run's metrics.svg (each metric
 * against step, one small panel each) and the comparison of runs by an
 * objective that an experiment's compare.svg (and a sweep's) shows. The
 * points come from the store with c->lock released, and plot.c draws.
 *
 * A run's history may hold millions of points, and stat() needs the
 * chart's size as much as read() needs its bytes, so metrics.svg is drawn
 * from a fixed set of points (the history up to its size when asked) in
 * two passes over it: the first finds each metric's step range, the
 * second fills a metric's points, or its min/max buckets when it has too
 * many (bounded memory either way). The last few charts drawn are kept,
 * keyed by run, history size and title, so that the stat, open and read
 * of one `cat` draw once.
 */
#include "model.h"
#include "core.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"
#include "plot.h"

#define PANELS_MAX 24            /* metrics in one metrics.svg */
#define TITLE_MAX (2 * TFS_NAME_MAX + 64)

/* ---- kept charts ---- */

/* Copies a kept chart of (run_id, end, title) to out: 1, or 0 if none. */
static int memo_get(struct core *c, int64_t run_id, int64_t end,
		    const char *title, struct buf *out, int *err)
{
	int i, found = 0;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < CHART_MEMO_N; i++) {
		struct chart_memo *m = &c->charts[i];

		if (m->svg && m->run_id == run_id && m->end == end &&
		    !strcmp(m->title, title)) {
			m->used = ++c->chart_tick;
			*err = buf_append(out, m->svg, m->len);
			found = 1;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return found;
}

/* Keeps a copy of svg in place of the least recently used. */
static void memo_put(struct core *c, int64_t run_id, int64_t end,
		     const char *title, const char *svg, size_t len)
{
	char *copy = malloc(len + 1), *t = strdup(title);
	struct chart_memo *m;
	int i;

	if (!copy || !t) {
		free(copy);
		free(t);
		return;
	}
	memcpy(copy, svg, len + 1);
	pthread_mutex_lock(&c->lock);
	m = &c->charts[0];
	for (i = 1; i < CHART_MEMO_N; i++)
		if (c->charts[i].used < m->used)
			m = &c->charts[i];
	free(m->svg);
	free(m->title);
	*m = (struct chart_memo){ run_id, end, t, copy, len, ++c->chart_tick };
	pthread_mutex_unlock(&c->lock);
}

void charts_release(struct core *c)
{
	int i;

	for (i = 0; i < CHART_MEMO_N; i++) {
		free(c->charts[i].svg);
		free(c->charts[i].title);
	}
}

/* ---- metrics.svg ---- */

/* One metric being gathered. */
struct mseries {
	char key[METRIC_KEY_MAX];
	size_t n;                /* points in the history (pass 1) */
	double x0, x1;           /* their step range */
	struct plot_point *pts;  /* n of them (pass 2), unless reduced */
	size_t got;
	int reduced;
	struct plot_reduce red;
};

struct mgather {
	struct mseries *m;       /* PANELS_MAX */
	size_t nm;
	size_t nuser, nsys;      /* every key there is, sys/ or not */
	char (*sys)[METRIC_KEY_MAX];  /* sys/ keys, shown after the others */
	size_t nsys_kept;
	struct hmap by_key;      /* key -> struct mseries */
	int pass;
	int err;
};

static int is_sys(const char *key)
{
	return !strncmp(key, "sys/", 4);
}

/* The metrics to draw: the job's own first, sorted, then the daemon's. */
static void pick_key(void *arg, const char *key, double value)
{
	struct mgather *g = arg;

	(void)value;
	if (is_sys(key)) {
		if (g->nsys_kept < PANELS_MAX)
			snprintf(g->sys[g->nsys_kept++], METRIC_KEY_MAX, "%s",
				 key);
		g->nsys++;
		return;
	}
	if (g->nm < PANELS_MAX)
		snprintf(g->m[g->nm++].key, METRIC_KEY_MAX, "%s", key);
	g->nuser++;
}

static void gather_point(void *arg, double step, const char *key,
			 double value)
{
	struct mgather *g = arg;
	struct mseries *m = hmap_sget(&g->by_key, key);

	if (!m)
		return;
	if (g->pass == 1) {
		m->x0 = m->n ? fmin(m->x0, step) : step;
		m->x1 = m->n ? fmax(m->x1, step) : step;
		m->n++;
	} else if (m->reduced) {
		plot_reduce_add(&m->red, step, value);
	} else if (m->got < m->n) {
		m->pts[m->got++] = (struct plot_point){ step, value };
	}
}

/* Room for each metric's points, or its buckets when there are many. */
static int gather_alloc(struct mgather *g)
{
	size_t i;

	for (i = 0; i < g->nm; i++) {
		struct mseries *m = &g->m[i];

		if (m->n > PLOT_POINTS_MAX) {
			m->reduced = 1;
			if (plot_reduce_init(&m->red, m->x0, m->x1,
					     PLOT_POINTS_MAX / 2))
				return TFS_ENOMEM;
		} else if (m->n) {
			m->pts = malloc(m->n * sizeof(*m->pts));
			if (!m->pts)
				return TFS_ENOMEM;
		}
	}
	return TFS_OK;
}

static void gather_release(struct mgather *g)
{
	size_t i;

	for (i = 0; g->m && i < g->nm; i++) {
		free(g->m[i].pts);
		if (g->m[i].reduced)
			plot_reduce_release(&g->m[i].red);
	}
	hmap_release(&g->by_key);
	free(g->m);
	free(g->sys);
}

/* Draws the run's metrics up to byte end of its history into out. */
static int metrics_draw(struct core *c, int64_t run_id, int64_t end,
			const char *title, struct buf *out)
{
	struct mgather g = { .by_key = HMAP_INIT };
	struct plot_series *ser = NULL;
	char full[TITLE_MAX + 100];
	size_t i, shown;
	int r, pass;

	g.m = calloc(PANELS_MAX, sizeof(*g.m));
	g.sys = calloc(PANELS_MAX, sizeof(*g.sys));
	r = g.m && g.sys ? TFS_OK : TFS_ENOMEM;
	if (!r)
		r = store_metrics_each_latest(c->store, run_id, pick_key, &g);
	for (i = 0; !r && i < g.nsys_kept && g.nm < PANELS_MAX; i++)
		memcpy(g.m[g.nm++].key, g.sys[i], METRIC_KEY_MAX);
	for (i = 0; !r && i < g.nm; i++)
		hmap_sput(&g.by_key, g.m[i].key, &g.m[i]);
	g.pass = 1;
	if (!r)
		r = store_metrics_each_point(c->store, run_id, end,
					     gather_point, &g);
	if (!r)
		r = gather_alloc(&g);
	g.pass = 2;
	if (!r)
		r = store_metrics_each_point(c->store, run_id, end,
					     gather_point, &g);
	ser = calloc(g.nm ? g.nm : 1, sizeof(*ser));
	if (!r && !ser)
		r = TFS_ENOMEM;
	for (i = 0; !r && i < g.nm; i++) {
		struct mseries *m = &g.m[i];

		if (!m->reduced)
			continue;
		m->pts = malloc(PLOT_POINTS_MAX * sizeof(*m->pts));
		if (!m->pts)
			r = TFS_ENOMEM;
		else
			m->got = plot_reduce_points(&m->red, m->pts);
	}
	/* curves first; what was reported once (a summary at the end of
	   training) after them */
	shown = 0;
	for (pass = 0; !r && pass < 2; pass++)
		for (i = 0; i < g.nm; i++)
			if ((g.m[i].got < 2) == pass)
				ser[shown++] = (struct plot_series){ g.m[i].key,
					g.m[i].pts, g.m[i].got };
	if (g.nuser + g.nsys > shown)
		snprintf(full, sizeof(full), "%s (%zu of %zu metrics; all in "
			 "metrics.jsonl)", title, shown, g.nuser + g.nsys);
	else
		snprintf(full, sizeof(full), "%s", title);
	if (!r && !g.nm)
		r = plot_message_svg(out, title, "no metrics yet: a job "
				     "reports them in its log or in "
				     "$TRAINFS_METRICS");
	else if (!r)
		r = plot_panels_svg(out, full, "step", ser, g.nm);
	free(ser);
	gather_release(&g);
	return r;
}

int core_run_metrics_svg(struct core *c, int64_t run_id, struct buf *out)
{
	char title[TITLE_MAX];
	struct run *r;
	struct buf b = BUF_INIT(0);
	int64_t end = 0;
	int ret;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r)
		snprintf(title, sizeof(title), "%s/%s: metrics by step",
			 r->exp->name, r->name);
	pthread_mutex_unlock(&c->lock);
	if (!r)
		return TFS_ENOENT;
	ret = store_metrics_history_size(c->store, run_id, &end);
	if (ret)
		return ret;
	if (memo_get(c, run_id, end, title, out, &ret))
		return ret;
	ret = metrics_draw(c, run_id, end, title, &b);
	if (!ret) {
		memo_put(c, run_id, end, title, b.p, b.len);
		ret = buf_append(out, b.p, b.len);
	}
	buf_release(&b);
	return ret;
}

/* ---- comparisons ---- */

struct latest_one {
	const char *key;
	int has;
	double value;
};

static void latest_one(void *arg, const char *key, double value)
{
	struct latest_one *l = arg;

	if (!strcmp(key, l->key)) {
		l->has = 1;
		l->value = value;
	}
}

/*
 * What a run in state st with (or without) a value shows: a final value
 * when it completed, a value so far while it waits or goes or when it was
 * stopped (cancelled, stopped early), no value when it failed.
 */
static int run_kind(int st, int has)
{
	if (!has || st == RS_FAILED)
		return PLOT_RUN_NONE;
	return st == RS_COMPLETED ? PLOT_RUN_OK : PLOT_RUN_PARTIAL;
}

int charts_compare(struct core *c, const char *title, const char *metric,
		   int minimize, const int64_t *run_ids, size_t n,
		   struct buf *out, int64_t *mtime_ms)
{
	struct plot_run *runs = calloc(n ? n : 1, sizeof(*runs));
	char (*names)[TFS_NAME_MAX + 1] = calloc(n ? n : 1, sizeof(*names));
	int64_t *ids = calloc(n ? n : 1, sizeof(*ids)), mt = 0;
	int *states = calloc(n ? n : 1, sizeof(*states));
	size_t i, k = 0;
	int r = TFS_ENOMEM;

	if (!runs || !names || !ids || !states)
		goto out;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < n; i++) {
		struct run *rn = hmap_iget(&c->run_by_id, run_ids[i]);

		if (!rn)
			continue;       /* removed meanwhile */
		snprintf(names[k], sizeof(names[k]), "%s", rn->name);
		ids[k] = rn->id;
		states[k] = rn->state;
		mt = mt > rn->metrics_ms ? mt : rn->metrics_ms;
		mt = mt > rn->updated_ms ? mt : rn->updated_ms;
		mt = mt > rn->created_ms ? mt : rn->created_ms;
		k++;
	}
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < k; i++) {
		struct latest_one l = { metric, 0, NAN };

		r = store_metrics_each_latest(c->store, ids[i], latest_one, &l);
		if (r)
			goto out;
		runs[i] = (struct plot_run){ names[i], l.value,
					     run_kind(states[i], l.has) };
	}
	r = plot_compare_svg(out, title, metric, minimize, runs, k);
out:
	free(runs);
	free(names);
	free(ids);
	free(states);
	if (mtime_ms)
		*mtime_ms = mt;
	return r;
}

int core_exp_compare_svg(struct core *c, int64_t id, struct buf *out,
			 int64_t *mtime_ms)
{
	char key[EXP_KEY_MAX], title[TITLE_MAX];
	int64_t *ids, mt;
	size_t n, skip, j;
	int r, mode_max;
	struct exp *e;

	e = exp_lock_objective(c, id, key, &mode_max);
	if (!e)
		return TFS_ENOENT;
	mt = e->mtime_ms;
	/* the latest runs, when there are more than a chart holds */
	n = e->nruns;
	skip = n > PLOT_RUNS_MAX ? n - PLOT_RUNS_MAX : 0;
	ids = calloc(n - skip + 1, sizeof(*ids));
	for (j = skip; ids && j < n; j++)
		ids[j - skip] = e->runs[j]->id;
	if (!*key)
		snprintf(title, sizeof(title), "%s: runs compared", e->name);
	else if (skip)
		snprintf(title, sizeof(title), "%s: %s of the latest %d of "
			 "%zu runs", e->name, key, PLOT_RUNS_MAX, n);
	else
		snprintf(title, sizeof(title), "%s: %s of each run", e->name,
			 key);
	pthread_mutex_unlock(&c->lock);
	if (!ids)
		return TFS_ENOMEM;
	if (!*key) {
		r = plot_message_svg(out, title, "no objective set: echo "
				     "'eval_loss min' > objective");
		*mtime_ms = mt;
	} else {
		r = charts_compare(c, title, key, !mode_max,
				   ids, n - skip, out, mtime_ms);
		if (*mtime_ms < mt)
			*mtime_ms = mt;
	}
	free(ids);
	return r;
}
