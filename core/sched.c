/*
 * sched.c - the scheduler's rules: the queue's order, whether a provider
 * could ever hold a run, dependencies between runs (unknown, cyclic, not
 * yet completed, or named by a queued run that a remove or rename would
 * strand), a provider's capacity in use and free, the reason a queued run
 * waits, and the mount's queue and scheduler files. Each provider's
 * thread (poller.c) asks these, under the lock, when its pass decides
 * which of its queued runs start.
 */
#include "model.h"
#include "core.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
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

			t = sched_dep_find(c, q, name);
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
		struct run *d = sched_dep_find(c, r, r->cfg->depends_on[i]);

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
		struct run *d = sched_dep_find(c, r, cfg->depends_on[i]);
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
	/* then those handed to a provider that queues them itself (Slurm):
	 * "-" for a position only the provider knows, and its reason */
	for (q = c->active.head; q && !r; q = q->lnext)
		if (q->state == RS_INITIALIZING)
			r = buf_printf(out, "- %s/%s priority=%d provider=%s "
				       "job=%s %s\n", q->exp->name, q->name,
				       q->priority, q->provider ? q->provider :
				       "-", q->job_id ? q->job_id : "-",
				       q->reason && q->reason[0] ? q->reason :
				       "starting");
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

/* ---- what the provider threads ask before a start ---- */

/* Finds dependency d ("run" or "exp/run") of r. */
struct run *sched_dep_find(struct core *c, struct run *r, const char *d)
{
	const char *slash = strchr(d, '/');
	struct exp *e = r->exp;

	if (slash) {
		char en[TFS_NAME_MAX + 1];
		size_t n = (size_t)(slash - d);

		if (n > TFS_NAME_MAX)
			return NULL;
		memcpy(en, d, n);
		en[n] = '\0';
		e = hmap_sget(&c->exp_by_name, en);
		d = slash + 1;
	}
	return e ? hmap_sget(&e->by_name, d) : NULL;
}

/*
 * Returns 1 when every dependency completed, 0 while one is pending (its
 * sentence in why), -1 when one failed (why names it).
 */
int sched_deps_state_locked(struct core *c, struct run *r, char *why,
			    size_t len)
{
	int i;

	if (!r->cfg)
		return 1;
	for (i = 0; i < r->cfg->ndeps; i++) {
		struct run *d = sched_dep_find(c, r, r->cfg->depends_on[i]);

		if (!d) {
			snprintf(why, len, "waiting for dependency %s (not found)",
				 r->cfg->depends_on[i]);
			return 0;
		}
		if (d->state == RS_COMPLETED)
			continue;
		if (d->state == RS_FAILED || d->state == RS_STOPPED) {
			snprintf(why, len, "dependency %s %s",
				 r->cfg->depends_on[i],
				 d->state == RS_FAILED ? "failed" : "stopped");
			return -1;
		}
		snprintf(why, len, "waiting for dependency %s (%s)",
			 r->cfg->depends_on[i], run_state_name(d->state));
		return 0;
	}
	return 1;
}

/*
 * Inputs of r ("run:path" artifacts of its dependencies): 1 when every one
 * is verified in the cache (paths filled when not NULL), 0 while one is
 * being fetched or waited for, -1 when one can never be had.
 */
int sched_inputs_ready_locked(struct core *c, struct run *r, char **paths,
			      char *why, size_t len)
{
	int k;

	if (!r->cfg)
		return 1;
	for (k = 0; k < r->cfg->ninputs; k++) {
		char p[PATH_MAX];
		int ir = art_input_ready_locked(c, r, r->cfg->inputs[k].value,
						p, sizeof(p), why, len);

		if (ir != 1)
			return ir;
		if (paths)
			paths[k] = xstrdup(p);
	}
	return 1;
}

/* Whether r fits in what p has free; the shortfall in why when not. */
int sched_slot_free(struct provider *p, struct run *r, char *why,
		    size_t len)
{
	const struct connector *cn = &p->conn;
	int cpus = r->cfg ? r->cfg->cpus : 1;
	int gpus = r->cfg ? r->cfg->gpus : 0;
	int64_t mem = r->cfg ? r->cfg->memory_mb : 0;

	if (cn->cap_max_jobs == 0) {
		snprintf(why, len, "provider %s holds every job (max_jobs 0)",
			 cn->name);
		return 0;
	}
	if (p->used_jobs + 1 > cn->cap_max_jobs) {
		snprintf(why, len, "no free slot on %s (%d/%d jobs)", cn->name,
			 p->used_jobs, cn->cap_max_jobs);
		return 0;
	}
	if (p->used_cpus + cpus > cn->cap_cpus) {
		snprintf(why, len, "needs %d cpus, %d free on %s", cpus,
			 cn->cap_cpus - p->used_cpus, cn->name);
		return 0;
	}
	if (p->used_gpus + gpus > cn->cap_gpus) {
		snprintf(why, len, "needs %d gpus, %d free on %s", gpus,
			 cn->cap_gpus - p->used_gpus, cn->name);
		return 0;
	}
	if (mem && p->used_memory_mb + mem > cn->cap_memory_mb) {
		snprintf(why, len, "needs %lld MB, %lld MB free on %s",
			 (long long)mem,
			 (long long)(cn->cap_memory_mb - p->used_memory_mb),
			 cn->name);
		return 0;
	}
	return 1;
}

/*
 * Gives r the lowest free GPU indices it asks for (CUDA_VISIBLE_DEVICES),
 * or keeps what it was given (an active run after a restart).
 */
static void sched_gpus_take(struct provider *p, struct run *r)
{
	int want = r->cfg ? r->cfg->gpus : 0, i;

	if (!r->gpu_mask && want > 0) {
		for (i = 0; i < 64 && want > 0; i++) {
			if (!(p->gpus_busy & (1ULL << i)) &&
			    i < p->conn.cap_gpus) {
				r->gpu_mask |= 1ULL << i;
				want--;
			}
		}
	}
	p->gpus_busy |= r->gpu_mask;
}

void sched_slot_take(struct provider *p, struct run *r)
{
	sched_gpus_take(p, r);
	p->used_jobs++;
	p->used_cpus += r->cfg ? r->cfg->cpus : 1;
	p->used_gpus += r->cfg ? r->cfg->gpus : 0;
	p->used_memory_mb += r->cfg ? r->cfg->memory_mb : 0;
}

/*
 * For a queued run with a provider list: the provider it starts on now,
 * by cost_choose() over the list (cost.c), or NULL when none of them can
 * take it now. A provider is usable when it is known, healthy, not out
 * of capacity for this attempt, could ever hold the run and has a free
 * slot for it now (its counts from its thread's last pass); a full local
 * provider is the wait of the queue, not "no capacity". A change of
 * choice is an event, and r->provider follows it (saved with the start),
 * so that once submitted the attempt is only asked about there.
 */
struct provider *sched_choose_locked(struct core *c, struct run *r)
{
	struct choice_in in[CONFIG_PROVIDERS_MAX];
	char uwhy[CONFIG_PROVIDERS_MAX][256];
	char qwhy[CONFIG_PROVIDERS_MAX][QUOTE_WHY_MAX];
	struct job_need need = {
		.cpus = r->cfg->cpus, .gpus = r->cfg->gpus,
		.memory_mb = r->cfg->memory_mb, .gpu_type = r->cfg->gpu_type,
		.interruptible = -1,
	};
	char why[1024];
	int n = r->cfg->nproviders, i, best;

	for (i = 0; i < n; i++) {
		struct provider *p = provider_find(c, r->cfg->providers[i]);

		in[i] = (struct choice_in){ .name = r->cfg->providers[i],
					    .quote_rc = TFS_EOPNOTSUPP };
		uwhy[i][0] = qwhy[i][0] = '\0';
		in[i].unusable_why = uwhy[i];
		in[i].quote_why = qwhy[i];
		if (!p)
			snprintf(uwhy[i], sizeof(uwhy[i]), "unknown provider");
		else if (!p->healthy)
			snprintf(uwhy[i], sizeof(uwhy[i]), "%s", p->health);
		else if (r->nocap_mask & (1u << i))
			snprintf(uwhy[i], sizeof(uwhy[i]), "%s", r->nocap ?
				 r->nocap : "no capacity");
		else if (sched_fits_provider(p, r->cfg, uwhy[i],
					     sizeof(uwhy[i])) &&
			 (!p->reserved_for || p->reserved_for == r->id) &&
			 sched_slot_free(p, r, uwhy[i], sizeof(uwhy[i])))
			in[i].usable = 1;
		else if (!uwhy[i][0])
			snprintf(uwhy[i], sizeof(uwhy[i]), "reserved for a run "
				 "that waited longer");
		if (in[i].usable && p->conn.ops->quote)
			in[i].quote_rc = p->conn.ops->quote(&p->conn, &need,
							    &in[i].price,
							    qwhy[i],
							    sizeof(qwhy[i]));
		if (in[i].quote_rc == TFS_OK && !(in[i].price >= 0))
			in[i].quote_rc = TFS_EOPNOTSUPP;
	}
	best = cost_choose(in, n, why, sizeof(why));
	if (!r->choice_why || strcmp(r->choice_why, why)) {
		free(r->choice_why);
		r->choice_why = xstrdup(why);
	}
	if (best < 0)
		return NULL;
	if (!r->choice || strcmp(r->choice, in[best].name)) {
		free(r->choice);
		r->choice = xstrdup(in[best].name);
		run_event_locked(c, r, "provider choice: %s (%s)", r->choice,
				 why);
		poller_kick_locked(c);  /* the chosen one's thread starts it */
	}
	if (!r->provider || strcmp(r->provider, r->choice)) {
		free(r->provider);
		r->provider = xstrdup(r->choice);
	}
	return provider_find(c, r->choice);
}

/* Whether r is p's to start and poll. */
int sched_run_of(struct provider *p, const struct run *r)
{
	return r->provider && !strcmp(r->provider, p->conn.name);
}

/* What p's active runs use, counted again before each decision. */
void sched_usage_recount_locked(struct core *c, struct provider *p)
{
	struct run *r;

	p->gpus_busy = 0;
	p->used_jobs = p->used_cpus = p->used_gpus = 0;
	p->used_memory_mb = 0;
	for (r = c->active.head; r; r = r->lnext) {
		/* a run whose job ended while its outputs are collected
		   holds no capacity: the job is gone */
		if (sched_run_of(p, r) && !r->ending)
			sched_slot_take(p, r);
	}
}

void sched_reason_locked(struct core *c, struct run *r, char *out,
			 size_t len)
{
	struct provider *p = r->provider ? provider_find(c, r->provider) : NULL;

	if (r->retry_at_ms > now_ms()) {
		char ts[40];

		time_format(r->retry_at_ms, ts, sizeof(ts));
		if (r->nocap)
			snprintf(out, len, "%s; trying again at %s", r->nocap,
				 ts);
		else
			snprintf(out, len, "retry backoff until %s", ts);
		return;
	}
	if (sched_deps_state_locked(c, r, out, len) != 1)
		return;
	if (sched_inputs_ready_locked(c, r, NULL, out, len) != 1)
		return;
	if (r->cfg && r->cfg->nproviders > 1 && r->choice_why &&
	    !strncmp(r->choice_why, "none fits now", 13)) {
		snprintf(out, len, "%s", r->choice_why);
		return;
	}
	if (!p) {
		snprintf(out, len, "unknown provider %s",
			 r->provider ? r->provider : "-");
		return;
	}
	if (p->reserved_for && p->reserved_for != r->id) {
		snprintf(out, len, "%s is reserved for a run that waited "
			 "longer", p->conn.name);
		return;
	}
	if (sched_slot_free(p, r, out, len))
		snprintf(out, len, "next to start");
	else if (p->reserved_for == r->id) {
		size_t n = strlen(out);

		snprintf(out + n, len - n, "; %s is reserved for it",
			 p->conn.name);
	}
}
