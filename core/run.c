/*
 * run.c - a run's life in the model: the lists of queued and active runs,
 * the state machine (run_set_state_locked() and the hooks it calls),
 * events, and saving a run to the store. The poller moves runs through the
 * state machine from what connectors report, core.c from what users write.
 */
#include "model.h"
#include "core.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void core_notify(struct core *c, int64_t run_id, unsigned what)
{
	if (c->listener)
		c->listener(c->listener_arg, run_id, what);
}

/* ---- lists of queued and active runs ---- */

static void list_del(struct run_list *l, struct run *r)
{
	if (r->lprev)
		r->lprev->lnext = r->lnext;
	else
		l->head = r->lnext;
	if (r->lnext)
		r->lnext->lprev = r->lprev;
	else
		l->tail = r->lprev;
	r->lprev = r->lnext = NULL;
	l->n--;
}

static void list_add(struct run_list *l, struct run *r)
{
	r->lnext = NULL;
	r->lprev = l->tail;
	if (l->tail)
		l->tail->lnext = r;
	else
		l->head = r;
	l->tail = r;
	l->n++;
}

/* Moves a queued run to its place after its priority changed. */
void run_requeue_locked(struct core *c, struct run *r)
{
	if (r->list != LIST_QUEUED)
		return;
	list_del(&c->queued, r);
	sched_queue_insert(&c->queued, r);
}

/* Puts r on the list its state calls for. */
void run_relist_locked(struct core *c, struct run *r)
{
	int want = r->state == RS_QUEUED ? LIST_QUEUED :
		   run_state_active(r->state) ? LIST_ACTIVE : LIST_NONE;

	if (want == r->list)
		return;
	if (r->list == LIST_QUEUED)
		list_del(&c->queued, r);
	else if (r->list == LIST_ACTIVE)
		list_del(&c->active, r);
	if (want == LIST_QUEUED) {
		sched_queue_insert(&c->queued, r);
		r->queued_ms = now_ms();
	}
	else if (want == LIST_ACTIVE)
		list_add(&c->active, r);
	r->list = want;
}

/* ---- persistence of a run, and events ---- */

void run_to_store(const struct run *r, struct store_run *sr)
{
	memset(sr, 0, sizeof(*sr));
	sr->id = r->id;
	sr->exp_id = r->exp->id;
	sr->name = r->name;
	sr->uuid = r->uuid;
	sr->state = r->state;
	sr->attempt = r->attempt;
	sr->priority = r->priority;
	sr->max_retries = r->max_retries;
	sr->provider = r->provider;
	sr->job_id = r->job_id;
	sr->exit_code = r->exit_code;
	sr->reason = r->reason;
	sr->kind = r->kind;
	sr->created_ms = r->created_ms;
	sr->submitted_ms = r->submitted_ms;
	sr->started_ms = r->started_ms;
	sr->attempt_started_ms = r->attempt_started_ms;
	sr->cost_usd = r->cost_usd;
	sr->cost_ms = r->cost_ms;
	sr->held_ms = r->held_ms;
	sr->ended_ms = r->ended_ms;
	sr->updated_ms = r->updated_ms;
	sr->retry_at_ms = r->retry_at_ms;
	sr->cancel_requested = r->cancel_requested;
	sr->log_offset = r->log_offset;
	sr->mfile_offset = r->mfile_offset;
	sr->step_counter = r->step_counter;
	sr->config_sha = r->config_sha[0] ? r->config_sha : NULL;
	sr->manifest = r->manifest;
	sr->gpu_mask = r->gpu_mask;
	sr->seq = r->seq;
	sr->pending_signal = r->pending_signal;
}

void run_save_locked(struct core *c, struct run *r)
{
	struct store_run sr;

	run_to_store(r, &sr);
	if (store_run_update(c->store, &sr))
		log_msg(LOG_ERR, "cannot save run '%s/%s'", r->exp->name,
			r->name);
}

/*
 * An event is one line of `events`: user bytes in it (a refused name, a
 * provider's words) must not start another line or drive a terminal.
 */
static void event_clean(struct buf *b)
{
	size_t i;

	for (i = 0; i < b->len; i++)
		if ((unsigned char)b->p[i] < 0x20 || b->p[i] == 0x7f)
			b->p[i] = '?';
}

void run_event_locked(struct core *c, struct run *r, const char *fmt, ...)
{
	struct buf b = BUF_INIT(4096);
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	event_clean(&b);
	r->events_ms = now_ms();
	/* what a full disk kept out goes in first, with its own time */
	if (r->lost_event && !store_event_add(c->store, r->id, r->lost_ms,
					      r->lost_event))
		r->lost_event = (free(r->lost_event), NULL);
	if (store_event_add(c->store, r->id, r->events_ms, b.p ? b.p : "")) {
		log_msg(LOG_ERR, "cannot record event of '%s/%s'",
			r->exp->name, r->name);
		free(r->lost_event);
		r->lost_event = buf_detach(&b, NULL);
		r->lost_ms = r->events_ms;
	}
	buf_release(&b);
	core_notify(c, r->id, CORE_CH_EVENTS);
}

void core_event(struct core *c, const char *fmt, ...)
{
	struct buf b = BUF_INIT(4096);
	va_list ap;

	va_start(ap, fmt);
	buf_vprintf(&b, fmt, ap);
	va_end(ap);
	event_clean(&b);
	pthread_mutex_lock(&c->lock);
	c->events_ms = now_ms();
	store_event_add(c->store, 0, c->events_ms, b.p ? b.p : "");
	stream_event_locked(c, c->events_ms, b.p ? b.p : "");
	core_notify(c, 0, CORE_CH_EVENTS);
	pthread_mutex_unlock(&c->lock);
	buf_release(&b);
}

/* ---- the state machine ---- */

/* The event line of a state change. */
void run_state_event_locked(struct core *c, struct run *r, int old,
			    int state, const char *reason)
{
	run_event_locked(c, r, "state %s -> %s%s%s", run_state_name(old),
			 run_state_name(state), reason && *reason ? ": " : "",
			 reason ? reason : "");
}

/*
 * The in-memory half of a state change: r's fields, its list, the hooks,
 * and everyone who waits for news. Persisting is the caller's (run_set_state_locked
 * saves after; a submission commits before).
 */
void run_state_apply_locked(struct core *c, struct run *r, int state,
			    const char *reason)
{
	int old = r->state, i;
	int64_t now = now_ms();

	r->state = state;
	if (!run_state_active(state))
		r->gpu_mask = 0;        /* GPUs go back with the job */
	free(r->reason);
	r->reason = xstrdup(reason ? reason : "");
	r->updated_ms = now;
	if (state == RS_RUNNING && !r->started_ms)
		r->started_ms = now;
	if (state == RS_RUNNING && !r->attempt_started_ms)
		r->attempt_started_ms = now;
	if (run_state_terminal(state)) {
		r->ended_ms = now;
		r->pending_signal = 0;  /* no job left to pause or resume */
	}
	run_relist_locked(c, r);
	if (run_state_terminal(state) && r->cfg) {
		config_release(r->cfg);
		free(r->cfg);
		r->cfg = NULL;
	}
	for (i = 0; i < c->nhooks; i++)
		c->hooks[i].fn(c, r, old, c->hooks[i].arg);
	c->queue_ms = now;
	core_notify(c, r->id, CORE_CH_STATE);
	core_notify(c, 0, CORE_CH_QUEUE);
	poller_kick_locked(c);
}

void run_set_state_locked(struct core *c, struct run *r, int state,
			  const char *reason)
{
	int old = r->state;

	if (run_state_terminal(state) &&
	    poller_end_hold_locked(c, r, state, reason))
		return;
	if (old != state)
		run_state_event_locked(c, r, old, state, reason);
	run_state_apply_locked(c, r, state, reason);
	run_save_locked(c, r);
}

int run_hook_add(struct core *c, run_hook_fn fn, void *arg)
{
	int ret = TFS_ENOSPC;

	pthread_mutex_lock(&c->lock);
	if (c->nhooks < RUN_HOOKS_MAX) {
		c->hooks[c->nhooks].fn = fn;
		c->hooks[c->nhooks].arg = arg;
		c->nhooks++;
		ret = TFS_OK;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

void run_dir_path(struct core *c, const struct run *r, char *out, size_t len)
{
	snprintf(out, len, "%s/runs/%s", c->state_dir, r->uuid);
}
