/*
 * sched.c - the scheduler's rules that hold outside a poller pass: the
 * queue's order, whether a provider could ever hold a run, dependencies
 * between runs (unknown, cyclic, or named by a queued run that a remove or
 * rename would strand), and the mount's queue and scheduler files. Which
 * run starts where, the capacity in use, reservations and the reason a
 * queued run waits are decided in the poller's pass (poller.c).
 */
#include "model.h"
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* Queue order: higher priority first, then submission order. */
static int run_queue_before(const struct run *a, const struct run *b)
{
	if (a->priority != b->priority)
		return a->priority > b->priority;
	return a->seq < b->seq;
}

/*
 * Keeps the queue sorted as runs join it, so the scheduler reads it in
 * order without sorting. A new submission (lowest priority class seen,
 * newest seq) lands at the tail in one step; only higher priorities walk.
 */
void sched_queue_insert(struct run_list *l, struct run *r)
{
	struct run *at = l->tail;

	while (at && run_queue_before(r, at))
		at = at->lprev;
	r->lprev = at;
	r->lnext = at ? at->lnext : l->head;
	if (r->lnext)
		r->lnext->lprev = r;
	else
		l->tail = r;
	if (at)
		at->lnext = r;
	else
		l->head = r;
	l->n++;
}

/*
 * The first queued run whose depends_on names run d, or (d NULL) names a
 * run of experiment e through e's name ("e/x"), so that removing, renaming
 * or moving d (or renaming e) would leave it waiting for a name that no
 * longer exists. Cost: every queued run's dependencies, once.
 */
static struct run *dependent_locked(struct core *c, const struct run *d,
				    const struct exp *e)
{
	struct run *q, *t;
	int i;

	for (q = c->queued.head; q; q = q->lnext) {
		if (!q->cfg)
			continue;
		for (i = 0; i < q->cfg->ndeps; i++) {
			const char *name = q->cfg->depends_on[i];

			t = dep_find(c, q, name);
			if (t && (d ? t == d : t->exp == e &&
				  strchr(name, '/')))
				return q;
		}
	}
	return NULL;
}

/* Refuses with reason when a queued run depends on d (or on e's name). */
int sched_dependents_check_locked(struct core *c, const struct run *d,
				  const struct exp *e, const char *what,
				  char *reason, size_t rlen)
{
	struct run *q = dependent_locked(c, d, e);

	if (!q)
		return TFS_OK;
	if (d)
		snprintf(reason, rlen, "cannot %s run '%s/%s': queued run "
			 "'%s/%s' depends on it; cancel that run or let it "
			 "finish first", what, d->exp->name, d->name,
			 q->exp->name, q->name);
	else
		snprintf(reason, rlen, "cannot %s experiment '%s': queued run "
			 "'%s/%s' names a run in it; cancel that run or let "
			 "it finish first", what, e->name, q->exp->name,
			 q->name);
	return TFS_EBUSY;
}

/* Refuses resources no slot of the provider could ever hold. */
int sched_fits_provider(const struct provider *p,
			const struct run_config *cfg, char *reason,
			size_t rlen)
{
	const struct connector *cn = &p->conn;

	if (cfg->cpus > cn->cap_cpus) {
		snprintf(reason, rlen, "needs %d cpus, provider '%s' has %d",
			 cfg->cpus, cn->name, cn->cap_cpus);
		return 0;
	}
	if (cfg->gpus > cn->cap_gpus) {
		snprintf(reason, rlen, "needs %d gpus, provider '%s' has %d",
			 cfg->gpus, cn->name, cn->cap_gpus);
		return 0;
	}
	if (cfg->memory_mb > cn->cap_memory_mb) {
		snprintf(reason, rlen,
			 "needs %lld MB of memory, provider '%s' has %lld",
			 (long long)cfg->memory_mb, cn->name,
			 (long long)cn->cap_memory_mb);
		return 0;
	}
	return 1;
}

/*
 * Whether target is reachable from r through depends_on of runs that are
 * still waiting or running (ended runs cannot be part of a new cycle).
 * Depth-first with a visited set: each run is looked at once.
 */
static int dep_reaches_locked(struct core *c, struct run *r,
			      struct run *target, struct hmap *seen)
{
	int i;

	if (r == target)
		return 1;
	if (hmap_iget(seen, r->id) || !r->cfg)
		return 0;
	hmap_iput(seen, r->id, r);
	for (i = 0; i < r->cfg->ndeps; i++) {
		struct run *d = dep_find(c, r, r->cfg->depends_on[i]);

		if (d && dep_reaches_locked(c, d, target, seen))
			return 1;
	}
	return 0;
}

/* Refuses unknown dependencies and cycles; c->lock held. */
int sched_deps_check_locked(struct core *c, struct run *r,
			    const struct run_config *cfg, char *reason,
			    size_t rlen)
{
	int i;

	for (i = 0; i < cfg->ndeps; i++) {
		struct run *d = dep_find(c, r, cfg->depends_on[i]);
		struct hmap seen = HMAP_INIT;
		int cyc;

		if (!d) {
			snprintf(reason, rlen, "'depends_on': unknown run '%s'",
				 cfg->depends_on[i]);
			return TFS_EINVAL;
		}
		if (d == r) {
			snprintf(reason, rlen, "run cannot depend on itself");
			return TFS_EINVAL;
		}
		cyc = dep_reaches_locked(c, d, r, &seen);
		hmap_release(&seen);
		if (cyc) {
			snprintf(reason, rlen, "'depends_on': '%s' depends on "
				 "this run: a cycle", cfg->depends_on[i]);
			return TFS_EINVAL;
		}
	}
	return TFS_OK;
}

int core_queue(struct core *c, struct buf *out)
{
	struct run *q;
	size_t i = 0;
	int r = TFS_OK;

	/* the queue is kept in the order runs will start (queue_insert) */
	pthread_mutex_lock(&c->lock);
	for (q = c->queued.head; q && !r; q = q->lnext) {
		char why[256];

		sched_reason_locked(c, q, why, sizeof(why));
		r = buf_printf(out, "%zu %s/%s priority=%d provider=%s %s\n",
			       ++i, q->exp->name, q->name, q->priority,
			       q->provider ? q->provider : "-", why);
	}
	pthread_mutex_unlock(&c->lock);
	return r;
}

int core_scheduler(struct core *c, struct buf *out)
{
	int r;

	pthread_mutex_lock(&c->lock);
	r = buf_printf(out,
		       "passes %llu\n"
		       "queued %zu\n"
		       "active %zu\n"
		       "last_decide_us %.1f\n"
		       "last_scanned %lld\n"
		       "last_start_decide_us %.1f\n"
		       "max_decide_us %.1f\n"
		       "starvation_s %d\n",
		       (unsigned long long)c->passes, c->queued.n, c->active.n,
		       (double)c->last_decide_ns / 1000.0,
		       (long long)c->last_scanned,
		       (double)c->last_start_decide_ns / 1000.0,
		       (double)c->max_decide_ns / 1000.0, c->starve_s);
	pthread_mutex_unlock(&c->lock);
	return r;
}

int64_t core_queue_mtime(struct core *c)
{
	int64_t t;

	pthread_mutex_lock(&c->lock);
	t = c->queue_ms;
	pthread_mutex_unlock(&c->lock);
	return t;
}
