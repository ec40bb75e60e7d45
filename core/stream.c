/*
 * stream.c - MOUNT/stream and its filtered kin: each open is a subscriber
 * with its own bounded queue of JSON lines (lib/lineq), filled as things
 * happen (a run's or a sweep's state changes, mount events and, for a
 * filtered reader, metric points) and emptied by its reads.
 *
 * Publishing happens where the change happens, with c->lock held, so it
 * must not wait: a line is formatted only when some subscriber wants it,
 * copied into each matching queue under stream_lock (below c->lock), and
 * the listener is told CORE_CH_STREAM so that fs/ answers parked reads and
 * polls from its own thread. A reader that does not keep up loses the
 * newest lines past its bound, and is told how many (lineq.h). Reads take
 * stream_lock alone: a reader never holds up the state machine.
 *
 * A filtered reader whose experiment or run is removed reads what it has
 * queued, then an end of file.
 *
 * The list of subscribers changes with both locks held, so a publisher
 * (holding c->lock) may look at it without stream_lock; only the queues
 * need it.
 */
#include "model.h"
#include "core.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "lineq.h"

struct core_stream {
	struct core_stream *prev, *next;
	int scope;                  /* CORE_STREAM_* */
	int64_t id;                 /* the experiment's or the run's */
	int gone;                   /* which was removed (stream_lock) */
	struct lineq q;
};

/* What a line is about, for the filters. */
struct stream_about {
	int64_t exp_id;             /* 0: the mount */
	int64_t run_id;             /* 0: no run */
	int metric;                 /* a metric point: filtered readers only */
};

static int stream_wants(const struct core_stream *s,
			const struct stream_about *a)
{
	switch (s->scope) {
	case CORE_STREAM_ALL:
		return !a->metric;
	case CORE_STREAM_EXP:
		return a->exp_id == s->id;
	default:
		return a->run_id && a->run_id == s->id;
	}
}

/* Whether anyone would take a line about a (c->lock held). */
static int stream_anyone_locked(struct core *c, const struct stream_about *a)
{
	struct core_stream *s;

	for (s = c->streams; s; s = s->next)
		if (stream_wants(s, a))
			return 1;
	return 0;
}

/*
 * Queues o as one line for everyone who wants it, and frees o; the caller
 * tells the listener (once for many lines).
 */
static void stream_put_locked(struct core *c, const struct stream_about *a,
			      cJSON *o)
{
	struct core_stream *s;
	char *text = cJSON_PrintUnformatted(o);
	struct buf line = BUF_INIT(0);

	cJSON_Delete(o);
	if (!text || buf_puts(&line, text) || buf_puts(&line, "\n")) {
		cJSON_free(text);
		buf_release(&line);
		return;
	}
	cJSON_free(text);
	pthread_mutex_lock(&c->stream_lock);
	for (s = c->streams; s; s = s->next)
		if (stream_wants(s, a))
			lineq_push(&s->q, line.p, line.len);
	pthread_mutex_unlock(&c->stream_lock);
	buf_release(&line);
}

/* A new line's object: its time and type. */
static cJSON *stream_line(int64_t ms, const char *type)
{
	cJSON *o = cJSON_CreateObject();
	char ts[40];

	time_format(ms, ts, sizeof(ts));
	cJSON_AddStringToObject(o, "time", ts);
	cJSON_AddStringToObject(o, "type", type);
	return o;
}

static void stream_add_path(cJSON *o, const char *key, const struct exp *e,
			    const char *name)
{
	struct buf b = BUF_INIT(0);

	buf_printf(&b, "%s/%s", e->name, name);
	cJSON_AddStringToObject(o, key, b.p ? b.p : "");
	buf_release(&b);
}

/* The state-change hook: a line for each change of state. */
static void stream_state_hook(struct core *c, struct run *r, int old,
			      void *arg)
{
	struct stream_about a = { r->exp->id, r->id, 0 };
	cJSON *o;

	(void)arg;
	if (old == r->state || !c->streams || !stream_anyone_locked(c, &a))
		return;
	o = stream_line(r->updated_ms, "state");
	stream_add_path(o, "run", r->exp, r->name);
	cJSON_AddNumberToObject(o, "run_id", (double)r->id);
	cJSON_AddStringToObject(o, "from", run_state_name(old));
	cJSON_AddStringToObject(o, "to", run_state_name(r->state));
	cJSON_AddStringToObject(o, "reason", r->reason ? r->reason : "");
	cJSON_AddNumberToObject(o, "attempt", r->attempt);
	stream_put_locked(c, &a, o);
	core_notify(c, 0, CORE_CH_STREAM);
}

void stream_sweep_locked(struct core *c, const struct sweep *w, int old,
			 const char *reason)
{
	struct stream_about a = { w->exp->id, 0, 0 };
	cJSON *o;

	if (old == w->state || !c->streams || !stream_anyone_locked(c, &a))
		return;
	o = stream_line(w->updated_ms, "sweep");
	stream_add_path(o, "sweep", w->exp, w->name);
	cJSON_AddNumberToObject(o, "sweep_id", (double)w->id);
	cJSON_AddStringToObject(o, "from", sweep_state_name(old));
	cJSON_AddStringToObject(o, "to", sweep_state_name(w->state));
	cJSON_AddStringToObject(o, "reason", reason ? reason : "");
	stream_put_locked(c, &a, o);
	core_notify(c, 0, CORE_CH_STREAM);
}

void stream_event_locked(struct core *c, int64_t ms, const char *text)
{
	struct stream_about a = { 0, 0, 0 };
	cJSON *o;

	if (!c->streams || !stream_anyone_locked(c, &a))
		return;
	o = stream_line(ms, "event");
	cJSON_AddStringToObject(o, "text", text);
	stream_put_locked(c, &a, o);
	core_notify(c, 0, CORE_CH_STREAM);
}

void stream_metrics_locked(struct core *c, const struct run *r,
			   const struct store_point *pts, size_t n)
{
	struct stream_about a = { r->exp->id, r->id, 1 };
	size_t i;

	if (!c->streams || !stream_anyone_locked(c, &a))
		return;
	for (i = 0; i < n; i++) {
		cJSON *o = stream_line(pts[i].time_ms, "metric");

		stream_add_path(o, "run", r->exp, r->name);
		cJSON_AddNumberToObject(o, "run_id", (double)r->id);
		cJSON_AddNumberToObject(o, "step", pts[i].step);
		cJSON_AddStringToObject(o, "key", pts[i].key);
		cJSON_AddNumberToObject(o, "value", pts[i].value);
		stream_put_locked(c, &a, o);
	}
	core_notify(c, 0, CORE_CH_STREAM);
}

void stream_gone_locked(struct core *c, int scope, int64_t id)
{
	struct core_stream *s;
	int any = 0;

	if (!c->streams)
		return;
	pthread_mutex_lock(&c->stream_lock);
	for (s = c->streams; s; s = s->next)
		if (s->scope == scope && s->id == id)
			any = s->gone = 1;
	pthread_mutex_unlock(&c->stream_lock);
	if (any)
		core_notify(c, 0, CORE_CH_STREAM);
}

int stream_init(struct core *c, char *err, size_t errlen)
{
	pthread_mutex_init(&c->stream_lock, NULL);
	c->stream_lock_init = 1;
	if (!c->stream_queue)
		c->stream_queue = CORE_STREAM_QUEUE;
	if (run_hook_add(c, stream_state_hook, NULL)) {
		snprintf(err, errlen, "cannot add the stream's hook");
		return -1;
	}
	return 0;
}

void stream_free_all(struct core *c)
{
	while (c->streams)
		core_stream_close(c, c->streams);
	if (c->stream_lock_init)
		pthread_mutex_destroy(&c->stream_lock);
	c->stream_lock_init = 0;
}

/* ---- readers ---- */

int core_stream_open(struct core *c, int scope, int64_t id,
		     struct core_stream **out)
{
	struct core_stream *s;
	int r = TFS_OK;

	pthread_mutex_lock(&c->lock);
	if ((scope == CORE_STREAM_EXP && !core_exp_by_id(c, id)) ||
	    (scope == CORE_STREAM_RUN && !hmap_iget(&c->run_by_id, id))) {
		r = TFS_ENOENT;
	} else if (c->nstreams >= CORE_STREAM_READERS_MAX) {
		r = TFS_EBUSY;
	} else {
		s = xcalloc(1, sizeof(*s));
		s->scope = scope;
		s->id = id;
		lineq_init(&s->q, (size_t)c->stream_queue,
			   (size_t)c->stream_queue * CORE_STREAM_LINE_BYTES);
		pthread_mutex_lock(&c->stream_lock);
		s->next = c->streams;
		if (s->next)
			s->next->prev = s;
		c->streams = s;
		c->nstreams++;
		pthread_mutex_unlock(&c->stream_lock);
		*out = s;
	}
	pthread_mutex_unlock(&c->lock);
	if (r == TFS_EBUSY)
		log_msg(LOG_WARNING, "stream: %d readers already, refused one",
			CORE_STREAM_READERS_MAX);
	return r;
}

int core_stream_read(struct core *c, struct core_stream *s, size_t size,
		     struct buf *out)
{
	size_t n;

	int gone;

	pthread_mutex_lock(&c->stream_lock);
	n = lineq_pop(&s->q, size, out);
	gone = s->gone;
	pthread_mutex_unlock(&c->stream_lock);
	return n || gone ? TFS_OK : TFS_EAGAIN;
}

int core_stream_ready(struct core *c, struct core_stream *s)
{
	int r;

	pthread_mutex_lock(&c->stream_lock);
	r = lineq_ready(&s->q) || s->gone;
	pthread_mutex_unlock(&c->stream_lock);
	return r;
}

void core_stream_close(struct core *c, struct core_stream *s)
{
	pthread_mutex_lock(&c->lock);
	pthread_mutex_lock(&c->stream_lock);
	if (s->prev)
		s->prev->next = s->next;
	else
		c->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	c->nstreams--;
	pthread_mutex_unlock(&c->stream_lock);
	pthread_mutex_unlock(&c->lock);
	lineq_release(&s->q);
	free(s);
}
