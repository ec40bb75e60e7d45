/*
 * poller.c - the threads that talk to providers: one per provider, so that
 * a provider whose API hangs or fails stalls only its own runs. Each pass
 * of a provider's thread:
 *   1. under the model lock, decides what to do there: which of its queued
 *      runs start (the scheduler), which of its active runs to poll,
 *      cancel, pause or resume, which have run past their timeout; it
 *      copies what the connector needs and lets the lock go;
 *   2. calls the connector (fork, HTTP) with no lock held: first the
 *      submissions, whose job ids it records at once (under the lock),
 *      then the poll, and for a provider whose jobs run elsewhere brings
 *      their log and metrics in with sync();
 *   3. under the lock again, applies what the poll answered to the state
 *      machine, and scans new log and metrics bytes into the store (the
 *      scan itself with no model lock).
 * A pass runs every interval (the provider's own, else the daemon's
 * poll_ms), or at once when a submission or a ctl command kicks the
 * threads. A pass whose provider could not be asked at all doubles the
 * wait before the next, up to BACKOFF_MAX_SHIFT doublings, and kicks do
 * not cut that wait short. The time a connector call has been in flight
 * is published without the lock, so that the provider's status says
 * "unreachable" while the call still hangs.
 *
 * Scheduling rule: runs start in order of priority (higher first), then
 * submission order, while their provider has slots (jobs, cpus, gpus,
 * memory) for them; each provider's thread starts its own. A run whose
 * dependencies have not all completed waits and does not hold back the
 * runs behind it.
 */
#define _GNU_SOURCE
#include "model.h"
#include "core.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "strvec.h"

#define SYS_SAMPLE_MS 5000           /* cpu/rss stored this often */
#define SCAN_MAX_BYTES (4 << 20)     /* bytes of a file scanned per run per
					pass, so one run cannot hold up
					the others' polls */
#define SCAN_CHUNK (256 << 10)       /* read at a time; > METRIC_LINE_MAX */
#define SCAN_BATCH 2048              /* points per store transaction */
#define END_MANIFEST_WAIT_MS 60000   /* "not yet" answers taken at an end,
					and sync() failures after it */
#define BACKOFF_MAX_SHIFT 3          /* an unreachable provider is asked at
					most every 8 intervals */
#define NOCAP_RETRY_MS 30000         /* a provider with no capacity is */
#define NOCAP_RETRY_MAX_MS 300000    /* asked again after this, doubled */
#define SUBMIT_LANES_MAX 8           /* threads submitting at once */
#define BURST_POLL_MS 2000           /* passes that start runs put the poll
					off this long at most (or one
					interval, if longer) */
#define CALL_SLOW_MIN_MS 500         /* a call in flight this long at least
					(and one interval) is unreachable:
					a fork on a loaded machine is not */

/* The calls a provider thread makes, for its status. */
enum pcall {
	PCALL_NONE, PCALL_PING, PCALL_FIND, PCALL_SUBMIT, PCALL_POLL,
	PCALL_CANCEL, PCALL_SIGNAL, PCALL_SYNC
};

static const char *const pcall_names[] = {
	[PCALL_NONE] = "", [PCALL_PING] = "ping", [PCALL_FIND] = "find",
	[PCALL_SUBMIT] = "submit", [PCALL_POLL] = "poll",
	[PCALL_CANCEL] = "cancel", [PCALL_SIGNAL] = "signal",
	[PCALL_SYNC] = "sync",
};

/*
 * One provider's thread. wake and kick are protected by c->lock; call and
 * call_since are written by the thread with atomics and read by anyone;
 * the rest is the thread's own.
 */
struct poller_thread {
	struct core *c;
	struct provider *p;
	pthread_t tid;
	pthread_cond_t wake;        /* something to do, or stop */
	int kick;                   /* work requested since the pass began */
	int interval_ms;
	int failures;               /* passes in a row the provider failed */
	int call;                   /* enum pcall in flight */
	int64_t call_since;         /* monotonic ms it began, 0: none */
	int64_t polled_mono;        /* monotonic ms the last poll or ping
				       was sent, 0: never */
	struct hmap synced;         /* run id -> struct sync_pos */
};

/*
 * How far a remote attempt's log and metrics were appended locally, kept
 * in the attempt directory (file "synced": "LOG METRICS\n") so that a
 * restart appends no byte twice.
 */
struct sync_pos {
	int attempt;
	int64_t log, metrics;
	int ended;                  /* synced once after the job ended */
	int dir_made;               /* the attempt's local directory is there */
};

static void call_begin(struct poller_thread *t, int call)
{
	__atomic_store_n(&t->call, call, __ATOMIC_RELAXED);
	__atomic_store_n(&t->call_since, mono_ms(), __ATOMIC_RELEASE);
}

static void call_end(struct poller_thread *t)
{
	__atomic_store_n(&t->call_since, 0, __ATOMIC_RELEASE);
}
static int64_t mono_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* ---- one pass ---- */

/* A copy of what a connector needs, made under the lock. */
struct start_job {
	int64_t run_id;
	struct provider *prov;
	char *run_dir, *attempt_dir, *log_path, *metrics_path, *output_dir;
	char **argv, **env;
	char *workdir, *image, *gpu_type, *gpu_list;
	char run_id_s[37];
	char run_name[2 * TFS_NAME_MAX + 2];
	struct job_spec spec;
	int ninputs;
	char **input_src;         /* verified cache files, pinned */
	char **input_dst;         /* where the job finds them */
	int cancel;               /* a cancel is recorded: do not submit */
	/* results */
	int ok;
	int in_progress;          /* submitted, unconfirmed: ask find() again */
	int cancelled;            /* never submitted, for the cancel */
	int nocap;                /* TFS_EAGAIN: no capacity, nothing started */
	char job_id[JOB_ID_MAX];
	char err[256];
};

struct poll_job {
	int64_t run_id;
	struct provider *prov;
	struct job_query q;
	char *job_id, *attempt_dir, *log_path, *metrics_path;
	int do_cancel;            /* CANCEL_* to send */
	int do_signal;            /* 0, or JOB_SIG_* + 1 */
	int sig_result;           /* TFS_OK, TFS_EOPNOTSUPP, ... */
	char sig_err[256];
	int polled;
	int sync_only;            /* the job ended: only sync() is called */
	int synced;               /* sync() brought all there was, or there is
				     no sync() */
};

static char *pathf(const char *fmt, ...)
	__attribute__((format(printf, 1, 2)));

static char *pathf(const char *fmt, ...)
{
	char p[PATH_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(p, sizeof(p), fmt, ap);
	va_end(ap);
	return xstrdup(p);
}

static char **env_build(struct run *r, struct start_job *sj)
{
	struct run_config *cfg = r->cfg;
	size_t n = 0, cap = (size_t)(cfg->nenv + cfg->nparams +
				     cfg->ninputs + 8);
	char **env = xcalloc(cap + 1, sizeof(*env));
	struct buf b = BUF_INIT(0);
	int i;

#define ENV_ADD(...) do { buf_reset(&b); buf_printf(&b, __VA_ARGS__); \
	env[n++] = xstrdup(b.p); } while (0)
	for (i = 0; i < cfg->nenv; i++)
		ENV_ADD("%s=%s", cfg->env[i].key, cfg->env[i].value);
	for (i = 0; i < cfg->nparams; i++)
		ENV_ADD("TRAINFS_PARAM_%s=%s", cfg->params[i].key,
			cfg->params[i].value);
	ENV_ADD("TRAINFS_RUN=%s/%s", r->exp->name, r->name);
	ENV_ADD("TRAINFS_RUN_ID=%s", r->uuid);
	ENV_ADD("TRAINFS_ATTEMPT=%d", r->attempt);
	ENV_ADD("TRAINFS_OUTPUT_DIR=%s", sj->output_dir);
	ENV_ADD("TRAINFS_METRICS=%s", sj->metrics_path);
	for (i = 0; i < sj->ninputs; i++)
		ENV_ADD("TRAINFS_INPUT_%s=%s", cfg->inputs[i].key,
			sj->input_dst[i]);
#undef ENV_ADD
	buf_release(&b);
	return env;
}

static struct start_job *start_prepare_locked(struct core *c, struct run *r,
					      struct provider *p)
{
	struct start_job *sj = xcalloc(1, sizeof(*sj));
	char base[PATH_MAX];

	run_dir_path(c, r, base, sizeof(base));
	sj->run_id = r->id;
	sj->prov = p;
	sj->run_dir = xstrdup(base);
	sj->attempt_dir = pathf("%s/attempt-%d", base, r->attempt);
	sj->log_path = pathf("%s/log", base);
	sj->metrics_path = pathf("%s/metrics.jsonl", base);
	sj->output_dir = pathf("%s/attempt-%d/output", base, r->attempt);
	sj->argv = strv_dup(r->cfg->argv);
	if (r->cfg->ninputs) {
		int k;

		sj->ninputs = r->cfg->ninputs;
		sj->input_src = xcalloc((size_t)sj->ninputs, sizeof(char *));
		sj->input_dst = xcalloc((size_t)sj->ninputs, sizeof(char *));
		sched_inputs_ready_locked(c, r, sj->input_src, NULL, 0);
		for (k = 0; k < sj->ninputs; k++) {
			const char *ppart = strchr(r->cfg->inputs[k].value, ':');
			const char *base;

			ppart = ppart ? ppart + 1 : r->cfg->inputs[k].value;
			base = strrchr(ppart, '/');
			base = base ? base + 1 : ppart;
			sj->input_dst[k] = pathf("%s/attempt-%d/inputs/%s/%s",
						 sj->run_dir, r->attempt,
						 r->cfg->inputs[k].key, base);
			if (sj->input_src[k])
				art_pin_locked(c, sj->input_src[k], 1);
		}
	}
	sj->env = env_build(r, sj);
	sj->workdir = xstrdup(r->cfg->workdir);
	if (r->gpu_mask) {
		char list[256] = "";
		int i, n = 0;

		for (i = 0; i < 64; i++)
			if (r->gpu_mask & (1ULL << i))
				n += snprintf(list + n, sizeof(list) - (size_t)n,
					      "%s%d", n ? "," : "", i);
		sj->gpu_list = xstrdup(list);
	}
	sj->image = xstrdup(r->cfg->image);
	sj->gpu_type = xstrdup(r->cfg->gpu_type);
	snprintf(sj->run_id_s, sizeof(sj->run_id_s), "%s", r->uuid);
	snprintf(sj->run_name, sizeof(sj->run_name), "%s/%s", r->exp->name,
		 r->name);
	sj->spec = (struct job_spec){
		.run_id = sj->run_id_s,
		.run_name = sj->run_name,
		.attempt = r->attempt,
		.argv = sj->argv,
		.env = sj->env,
		.workdir = sj->workdir,
		.run_dir = sj->run_dir,
		.attempt_dir = sj->attempt_dir,
		.log_path = sj->log_path,
		.metrics_path = sj->metrics_path,
		.output_dir = sj->output_dir,
		.image = sj->image,
		.cpus = r->cfg->cpus,
		.gpus = r->cfg->gpus,
		.memory_mb = r->cfg->memory_mb,
		.gpu_type = sj->gpu_type,
		.gpu_list = sj->gpu_list,
		.timeout_s = r->cfg->timeout_s,
		.kill_grace_s = c->kill_grace_s,
	};
	return sj;
}

static void start_free(struct start_job *sj)
{
	int k;

	for (k = 0; k < sj->ninputs; k++) {
		free(sj->input_src[k]);
		free(sj->input_dst[k]);
	}
	free(sj->input_src);
	free(sj->input_dst);
	free(sj->run_dir);
	free(sj->attempt_dir);
	free(sj->log_path);
	free(sj->metrics_path);
	free(sj->output_dir);
	strv_free(sj->argv);
	strv_free(sj->env);
	free(sj->workdir);
	free(sj->image);
	free(sj->gpu_type);
	free(sj->gpu_list);
	free(sj);
}

/*
 * Runs the connector: finds an earlier submission of the attempt or makes
 * one. An attempt whose submission is under way is left to a later pass
 * (find() again), never submitted twice; one with a cancel recorded is
 * not submitted at all.
 */
static void start_run(struct poller_thread *t, struct start_job *sj)
{
	const struct connector_ops *ops = sj->prov->conn.ops;
	struct connector *cn = &sj->prov->conn;
	int found, k;

	call_begin(t, PCALL_FIND);
	found = ops->find ? ops->find(cn, &sj->spec, sj->job_id,
				      sizeof(sj->job_id), sj->err,
				      sizeof(sj->err)) : TFS_ENOENT;
	call_end(t);
	if (found == TFS_EINPROGRESS) {
		sj->in_progress = 1;
		/* recorded now, so the job never runs once it is confirmed */
		if (sj->cancel && ops->cancel) {
			struct job_query q = {
				.job_id = "", .run_id = sj->spec.run_id,
				.attempt = sj->spec.attempt,
				.attempt_dir = sj->spec.attempt_dir,
				.log_path = sj->spec.log_path,
			};
			char err[256];
			int rc;

			call_begin(t, PCALL_CANCEL);
			rc = ops->cancel(cn, &q, 0, err, sizeof(err));
			call_end(t);
			if (rc)
				log_msg(LOG_DEBUG, "cancel of '%s' attempt %d "
					"not recorded yet: %s", sj->run_name,
					sj->spec.attempt, err);
		}
		return;
	}
	if (found != TFS_OK && found != TFS_ENOENT)
		return;
	if (found == TFS_OK) {
		log_msg(LOG_INFO, "run '%s' attempt %d: found job %s, not "
			"submitting again", sj->run_name, sj->spec.attempt,
			sj->job_id);
		sj->ok = 1;
		return;
	}
	if (sj->cancel) {
		sj->cancelled = 1;
		return;
	}
	/*
	 * A remote job writes its outputs where its provider says (the
	 * wrapper's TRAINFS_OUTPUT_DIR), and here only what sync() brings
	 * in: its directories are made by the first sync (sync_job), not in
	 * the burst of submissions, where each new inode on ext4 counts.
	 */
	if (!ops->sync && mkdir_p(sj->output_dir, 0700) < 0) {
		snprintf(sj->err, sizeof(sj->err), "cannot create '%s': %s",
			 sj->output_dir, strerror(errno));
		return;
	}
	for (k = 0; k < sj->ninputs; k++) {
		char dir[PATH_MAX], *slash;

		snprintf(dir, sizeof(dir), "%s", sj->input_dst[k]);
		slash = strrchr(dir, '/');
		if (slash)
			*slash = '\0';
		unlink(sj->input_dst[k]);
		/*
		 * The job's own copy: what it writes to its input must not
		 * reach the cache, which serves the same bytes to others.
		 */
		if (!sj->input_src[k] || mkdir_p(dir, 0700) < 0) {
			snprintf(sj->err, sizeof(sj->err), "cannot hand input "
				 "to the job at '%s': %s", sj->input_dst[k],
				 strerror(errno));
			return;
		}
		if (file_copy(sj->input_src[k], sj->input_dst[k], 0600,
			      sj->err, sizeof(sj->err)))
			return;
	}
	if (sj->spec.attempt > 1) {
		/* one log across attempts, with a line where each begins */
		FILE *f;

		if (ops->sync)
			mkdir_p(sj->run_dir, 0700);
		f = fopen(sj->log_path, "a");

		if (f) {
			fprintf(f, "--- trainfs: attempt %d ---\n",
				sj->spec.attempt);
			fclose(f);
		}
	}
	call_begin(t, PCALL_SUBMIT);
	found = ops->submit(cn, &sj->spec, sj->job_id, sizeof(sj->job_id),
			    sj->err, sizeof(sj->err));
	call_end(t);
	switch (found) {
	case TFS_OK:
		sj->ok = 1;
		break;
	case TFS_EINPROGRESS:
		sj->in_progress = 1;
		break;
	case TFS_EAGAIN:
		sj->nocap = 1;
		break;
	}
}

static void start_apply_locked(struct poller_thread *t,
			       struct start_job *sj);

/* One lane of a pass's submissions: takes the next start until none is
 * left (next is shared by the lanes, atomically), and applies each. */
struct start_lane {
	struct poller_thread *t;
	struct start_job **starts;
	size_t n, *next;
};

static void *start_lane_main(void *arg)
{
	struct start_lane *l = arg;
	size_t i;

	while ((i = __atomic_fetch_add(l->next, 1, __ATOMIC_RELAXED)) < l->n) {
		start_run(l->t, l->starts[i]);
		pthread_mutex_lock(&l->t->c->lock);
		start_apply_locked(l->t, l->starts[i]);
		pthread_mutex_unlock(&l->t->c->lock);
	}
	return NULL;
}

/*
 * The submissions of a pass, with no lock held: in the provider's
 * submit_lanes threads at once (this one and helpers for the pass), so
 * that one submission's round trip overlaps the next one's directories
 * and script and the provider is not left idle between two; the starts
 * are taken in their order. The lanes share the thread's call-in-flight
 * record, so a hang shows once every lane hangs.
 */
static void starts_call(struct poller_thread *t, struct start_job **starts,
			size_t n)
{
	pthread_t tids[SUBMIT_LANES_MAX];
	size_t next = 0;
	struct start_lane l = { t, starts, n, &next };
	int lanes = t->p->conn.submit_lanes, k, helpers = 0;

	if (lanes > SUBMIT_LANES_MAX)
		lanes = SUBMIT_LANES_MAX;
	for (k = 1; k < lanes && (size_t)k < n; k++)
		if (!pthread_create(&tids[helpers], NULL, start_lane_main, &l))
			helpers++;
	start_lane_main(&l);
	for (k = 0; k < helpers; k++)
		pthread_join(tids[k], NULL);
}

static int64_t backoff_ms(struct core *c, int attempt)
{
	int64_t s = c->retry_base_s;
	int i;

	for (i = 1; i < attempt && s < c->retry_max_s; i++)
		s *= 2;
	if (s > c->retry_max_s)
		s = c->retry_max_s;
	return s * 1000;
}

/* A failed attempt: another one if retries are left, else failed. */
static void run_failed_locked(struct core *c, struct run *r,
			      const char *why, int retryable)
{
	char reason[512], budget[128];

	if (retryable && r->cfg && r->cfg->max_cost_usd > 0 &&
	    r->cost_usd >= r->cfg->max_cost_usd &&
	    r->attempt <= r->max_retries) {
		/* another attempt would be cancelled at its first poll */
		cost_budget_reason(r, budget, sizeof(budget));
		snprintf(reason, sizeof(reason), "%s; no retry: %s", why,
			 budget);
		run_set_state_locked(c, r, RS_FAILED, reason);
		return;
	}
	if (retryable && r->attempt <= r->max_retries && r->cfg) {
		int64_t delay = backoff_ms(c, r->attempt);

		snprintf(reason, sizeof(reason), "%s, retry %d of %d in %lld s",
			 why, r->attempt, r->max_retries,
			 (long long)(delay / 1000));
		r->retry_at_ms = now_ms() + delay;
		r->job_id = (free(r->job_id), NULL);
		r->seq = c->next_seq++;
		run_set_state_locked(c, r, RS_QUEUED, reason);
		return;
	}
	run_set_state_locked(c, r, RS_FAILED, why);
}

/*
 * The provider had no capacity and started nothing: the run goes back to
 * the queue with the same attempt (sched_start_locked numbers it again
 * when it starts) and no retry used. A run with a provider list tries the
 * next provider of it at once, this one being left out until every one
 * of the list said no; then, and for a single provider, it waits a
 * capacity-retry delay that doubles with each refusal in a row, capped.
 */
static void run_nocap_locked(struct core *c, struct run *r,
			     struct provider *p, const char *why)
{
	char reason[512];
	int i, n = r->cfg ? r->cfg->nproviders : 1, left = 0;
	int64_t delay = 0;

	for (i = 0; i < n && r->cfg; i++) {
		if (!strcmp(r->cfg->providers[i], p->conn.name))
			r->nocap_mask |= 1u << i;
		else if (!(r->nocap_mask & (1u << i)))
			left++;
	}
	if (!left) {
		int k;

		r->nocap_mask = 0;
		r->nocap_tries++;
		delay = NOCAP_RETRY_MS;
		for (k = 1; k < r->nocap_tries && delay < NOCAP_RETRY_MAX_MS;
		     k++)
			delay *= 2;
		if (delay > NOCAP_RETRY_MAX_MS)
			delay = NOCAP_RETRY_MAX_MS;
		snprintf(reason, sizeof(reason), "%s; trying again in %lld s",
			 why, (long long)(delay / 1000));
	} else {
		snprintf(reason, sizeof(reason), "%s; trying the next provider "
			 "of its list", why);
	}
	free(r->nocap);
	r->nocap = xstrdup(why);
	r->attempt--;
	r->cost_ms = 0;
	r->retry_at_ms = delay ? now_ms() + delay : 0;
	r->job_id = (free(r->job_id), NULL);
	run_set_state_locked(c, r, RS_QUEUED, reason);
}

static void apply_poll_locked(struct core *c, struct run *r,
			      struct poll_job *pj)
{
	struct job_query *q = &pj->q;
	char why[512];

	if (q->exit_code != -1 && job_state_terminal(q->state))
		r->exit_code = q->exit_code;
	if (q->start_ms && !r->started_ms)
		r->started_ms = q->start_ms;
	switch (q->state) {
	case JOB_PENDING:
		if (r->state != RS_INITIALIZING) {
			run_set_state_locked(c, r, RS_INITIALIZING, q->reason);
		} else if (q->reason[0] && strcmp(r->reason ? r->reason : "",
						  q->reason)) {
			/* the provider's own queue says why it waits there
			 * (Slurm's "Priority", then "Resources") */
			run_event_locked(c, r, "waiting in %s's queue: %s",
					 r->provider ? r->provider : "the provider",
					 q->reason);
			run_set_state_locked(c, r, RS_INITIALIZING, q->reason);
		}
		break;
	case JOB_RUNNING:
		if (r->state != RS_RUNNING)
			run_set_state_locked(c, r, RS_RUNNING,
					     r->state == RS_PAUSED ? "resumed" :
					     q->reason);
		break;
	case JOB_PAUSED:
		if (r->state != RS_PAUSED)
			run_set_state_locked(c, r, RS_PAUSED, "paused");
		break;
	case JOB_COMPLETED:
		if (r->cancel_requested == CANCEL_TIMEOUT) {
			snprintf(why, sizeof(why), "timeout after %d s",
				 r->cfg ? r->cfg->timeout_s : 0);
			run_set_state_locked(c, r, RS_FAILED, why);
		} else {
			run_set_state_locked(c, r, RS_COMPLETED, "exit code 0");
		}
		break;
	case JOB_FAILED:
	case JOB_STOPPED:
	case JOB_PREEMPTED:
	case JOB_UNKNOWN:
		if (r->cancel_requested == CANCEL_TIMEOUT) {
			snprintf(why, sizeof(why), "timeout after %d s",
				 r->cfg ? r->cfg->timeout_s : 0);
			run_set_state_locked(c, r, RS_FAILED, why);
		} else if (r->cancel_requested == CANCEL_BUDGET) {
			cost_budget_reason(r, why, sizeof(why));
			run_set_state_locked(c, r, RS_STOPPED, why);
		} else if (r->cancel_requested == CANCEL_EARLY) {
			sweep_early_reason_locked(c, r, why, sizeof(why));
			run_set_state_locked(c, r, RS_STOPPED, why);
		} else if (r->cancel_requested) {
			run_set_state_locked(c, r, RS_STOPPED, "cancelled");
		} else if (q->state == JOB_UNKNOWN) {
			run_failed_locked(c, r, "job lost: the provider does not "
					  "know it", 1);
		} else if (q->state == JOB_PREEMPTED) {
			run_failed_locked(c, r, q->reason[0] ? q->reason :
					  "preempted", 1);
		} else {
			snprintf(why, sizeof(why), "%s", q->reason[0] ? q->reason :
				 q->state == JOB_STOPPED ? "stopped by the provider"
				 : "failed");
			run_failed_locked(c, r, why, !q->no_retry);
		}
		break;
	}
}

/*
 * The scan of one run's new log and metrics-file bytes. It runs with no
 * model lock: lines are parsed one at a time into a batch of points of
 * bounded size, and each full batch is committed with the scan position
 * it reaches, holding the model lock only to copy that position back. So
 * memory stays bounded however many lines arrive, and a reader never waits
 * on a scan or on its commits.
 */
struct scan {
	int64_t run_id;
	char *log_path, *mfile_path;
	int64_t log_off, mfile_off;  /* consumed so far (committed or batched) */
	int64_t step_counter;
	double last_step;
	int final;                 /* the job ended: take a last partial line */
	int attempt;
	double cpu;                /* -1: no sample due */
	int64_t rss_kb;
	/* the batch: points whose keys live in keys[] */
	struct store_point *pts;
	char (*keys)[METRIC_KEY_MAX];
	size_t npts;
	int eof;                   /* both files read to their end */
};

/*
 * Whether r's attempt needs no more sync(): the provider has none, or it
 * brought everything after the job ended, or it kept failing for
 * END_MANIFEST_WAIT_MS after the end (then the run ends without, saying
 * so). Lock held; t's map is the thread's own.
 */
static int sync_done_locked(struct poller_thread *t, struct run *r,
			    int64_t mono)
{
	struct sync_pos *sp = hmap_iget(&t->synced, r->id);

	if (!t->p->conn.ops->sync)
		return 1;
	if (sp && sp->attempt == r->attempt && sp->ended)
		return 1;
	if (!r->ending || mono - r->end_since_ms < END_MANIFEST_WAIT_MS)
		return 0;
	run_event_locked(t->c, r, "log: the provider's last log and metrics "
			 "could not be fetched in %d s; ending without them",
			 END_MANIFEST_WAIT_MS / 1000);
	if (sp)
		sp->ended = 1;
	return 1;
}

/*
 * Sets s up for r (lock held): pj is this pass's poll of r, or NULL for a
 * run whose job ended earlier (a final scan).
 */
static void scan_prepare_locked(struct poller_thread *t, struct run *r,
				const struct poll_job *pj, struct scan *s)
{
	struct core *c = t->c;
	char base[PATH_MAX];
	int64_t mono = mono_ms();

	run_dir_path(c, r, base, sizeof(base));
	s->run_id = r->id;
	s->attempt = r->attempt;
	s->log_path = pathf("%s/log", base);
	s->mfile_path = pathf("%s/metrics.jsonl", base);
	s->log_off = r->log_offset;
	s->mfile_off = r->mfile_offset;
	s->step_counter = r->step_counter;
	s->last_step = r->last_step;
	/* the last bytes of a remote job are in only once synced */
	s->final = (!pj || job_state_terminal(pj->q.state)) &&
		   (pj ? pj->synced : sync_done_locked(t, r, mono));
	s->cpu = -1;
	if (pj && pj->q.state == JOB_RUNNING && pj->q.cpu_percent >= 0 &&
	    (!r->last_sys_ms || mono - r->last_sys_ms >= SYS_SAMPLE_MS)) {
		s->cpu = pj->q.cpu_percent;
		s->rss_kb = pj->q.rss_kb;
		r->last_sys_ms = mono;
	}
}

/* Commits the batch with the scan position; copies it back to the run. */
static void scan_flush(struct core *c, struct scan *s)
{
	struct run *r;
	int ok;

	if (store_begin(c->store, 0))
		return;
	ok = store_metrics_append(c->store, s->run_id, s->pts, s->npts) == 0 &&
	     store_run_set_scan(c->store, s->run_id, s->log_off, s->mfile_off,
				s->step_counter) == 0;
	if (!ok) {
		store_rollback(c->store);
		return;
	}
	if (store_commit(c->store))
		return;
	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, s->run_id);
	if (r) {
		r->log_offset = s->log_off;
		r->mfile_offset = s->mfile_off;
		r->step_counter = s->step_counter;
		r->last_step = s->last_step;
		if (s->npts) {
			r->metrics_ms = now_ms();
			stream_metrics_locked(c, r, s->pts, s->npts);
			core_notify(c, r->id, CORE_CH_METRICS);
		}
	}
	pthread_mutex_unlock(&c->lock);
	s->npts = 0;
}

static void scan_point(struct core *c, struct scan *s, double step,
		       int64_t time_ms, const char *key, double value)
{
	struct store_point *p;

	if (s->npts == SCAN_BATCH)
		scan_flush(c, s);
	if (s->npts == SCAN_BATCH)
		return;                 /* the store failed: dropped, logged */
	p = &s->pts[s->npts];
	snprintf(s->keys[s->npts], METRIC_KEY_MAX, "%s", key);
	p->step = step;
	p->time_ms = time_ms;
	p->key = s->keys[s->npts];
	p->value = value;
	s->npts++;
}

/* One line of a job's output, which may be a metrics line. */
static void scan_line(struct core *c, struct scan *s, const char *line,
		      size_t len, struct metric_line *ml, int64_t now)
{
	double step;
	int k;

	if (!metrics_parse_line(line, len, ml))
		return;
	step = ml->has_step ? ml->step : (double)++s->step_counter;
	s->last_step = step;
	for (k = 0; k < ml->nkv; k++)
		scan_point(c, s, step, ml->has_time ?
			   (int64_t)(ml->time * 1000) : now, ml->kv[k].key,
			   ml->kv[k].value);
}

/*
 * Scans path from *off (which is s->log_off or s->mfile_off, advanced line
 * by line) up to budget bytes, or to the end. Returns 1 when the end of
 * the file was reached.
 */
static int scan_file(struct core *c, struct scan *s, const char *path,
		     int64_t *off, int64_t budget, struct metric_line *ml,
		     char *chunk)
{
	int64_t start_off = *off, now = now_ms();
	ssize_t n;
	size_t i, start;
	int fd, eof = 0;

	fd = file_open_regular(path);   /* the job may put a FIFO there */
	if (fd < 0)
		return 1;
	while (*off - start_off < budget) {
		n = pread(fd, chunk, SCAN_CHUNK, *off);
		if (n <= 0) {
			eof = 1;
			break;
		}
		start = 0;
		for (i = 0; i < (size_t)n; i++) {
			if (chunk[i] != '\n')
				continue;
			/* the position first: a flush commits up to here */
			*off += (int64_t)(i + 1 - start);
			if (i - start <= METRIC_LINE_MAX)
				scan_line(c, s, chunk + start, i - start, ml, now);
			start = i + 1;
		}
		/*
		 * A partial last line waits for its newline, unless the job
		 * ended or the line can never be a metric (too long). A
		 * chunk holds more than the longest line, so a line that
		 * fits is always seen whole, from its start, by a later read.
		 */
		if (start < (size_t)n && ((s->final && (size_t)n < SCAN_CHUNK) ||
					  (size_t)n - start > METRIC_LINE_MAX)) {
			*off += (int64_t)((size_t)n - start);
			if (s->final && (size_t)n - start <= METRIC_LINE_MAX)
				scan_line(c, s, chunk + start, (size_t)n - start,
					  ml, now);
		}
		if ((size_t)n < SCAN_CHUNK) {
			eof = 1;
			break;
		}
	}
	close(fd);
	return eof;
}

/* Scans s's files (poller thread, no lock held), committing as it goes. */
static void scan_run(struct core *c, struct scan *s)
{
	struct metric_line *ml = xmalloc(sizeof(*ml));
	char *chunk = xmalloc(SCAN_CHUNK);
	int64_t now = now_ms();
	int eof;

	s->pts = xcalloc(SCAN_BATCH, sizeof(*s->pts));
	s->keys = xcalloc(SCAN_BATCH, sizeof(*s->keys));
	eof = scan_file(c, s, s->log_path, &s->log_off, SCAN_MAX_BYTES, ml,
			chunk);
	eof &= scan_file(c, s, s->mfile_path, &s->mfile_off, SCAN_MAX_BYTES,
			 ml, chunk);
	s->eof = eof;
	if (s->cpu >= 0) {
		scan_point(c, s, s->last_step, now, "sys/cpu_percent", s->cpu);
		if (s->rss_kb >= 0)
			scan_point(c, s, s->last_step, now, "sys/rss_mb",
				   (double)s->rss_kb / 1024.0);
	}
	scan_flush(c, s);
	free(s->pts);
	free(s->keys);
	free(ml);
	free(chunk);
}

/* After the scan, under the lock: what it means for the run. */
static void scan_done_locked(struct poller_thread *t, struct scan *s)
{
	struct run *r = hmap_iget(&t->c->run_by_id, s->run_id);

	if (!r)
		return;
	if (s->final && s->eof && r->attempt == s->attempt) {
		r->scanned_attempt = s->attempt;
		free(hmap_idel(&t->synced, r->id));
	}
	/* more to read than one pass takes: come back at once */
	if (!s->eof)
		t->kick = 1;
	core_notify(t->c, r->id, CORE_CH_LOG);
}

/* Whether the provider of r can list outputs at all. */
static int end_has_manifest(struct core *c, struct run *r)
{
	struct provider *p = r->provider ? provider_find(c, r->provider) : NULL;

	return p && p->conn.ops->list_artifacts;
}

int poller_end_hold_locked(struct core *c, struct run *r, int state,
			   const char *reason)
{
	if (!run_state_active(r->state) || !r->job_id || r->attempt < 1 ||
	    r->collected_attempt == r->attempt)
		return 0;
	if (!r->ending) {
		r->ending = 1;
		r->end_since_ms = mono_ms();
		free(r->reason);
		r->reason = xstrdup("collecting outputs");
		r->updated_ms = now_ms();
		run_event_locked(c, r, "job ended (%s%s%s): collecting outputs",
				 run_state_name(state), reason && *reason ?
				 ": " : "", reason ? reason : "");
		core_notify(c, r->id, CORE_CH_STATE);
	}
	r->end_state = state;
	free(r->end_reason);
	r->end_reason = xstrdup(reason ? reason : "");
	if (end_has_manifest(c, r))
		art_manifest_request_locked(c, r);
	poller_kick_locked(c);
	return 1;
}

/*
 * A run whose job ended turns final once its outputs are in: the last log
 * bytes scanned, and the manifest stored or refused (with its reason in
 * events). A provider that keeps saying "not yet" is asked again each pass
 * for END_MANIFEST_WAIT_MS, then the run ends without one, saying so.
 */
static void end_try_locked(struct core *c, struct run *r, int64_t mono)
{
	char *reason;

	if (r->scanned_attempt != r->attempt)
		return;
	if (!r->manifest && end_has_manifest(c, r)) {
		if (r->manifest_queued)
			return;          /* a worker is listing it */
		if (mono - r->end_since_ms < END_MANIFEST_WAIT_MS) {
			art_manifest_request_locked(c, r);
			return;
		}
		run_event_locked(c, r, "artifacts: no manifest from the "
				 "provider after %d s; ending without one",
				 END_MANIFEST_WAIT_MS / 1000);
	}
	r->ending = 0;
	r->collected_attempt = r->attempt;
	reason = r->end_reason;
	r->end_reason = NULL;
	run_set_state_locked(c, r, r->end_state, reason);
	free(reason);
}

/* ---- one pass of a provider's thread ---- */

/* What a pass carries from one phase to the next. */
struct pass {
	struct start_job **starts;
	size_t nstarts, cap;
	struct poll_job *polls;
	size_t npolls;
	int rc;                   /* what poll() or ping() answered */
	int no_poll;              /* the poll waits for a later pass */
	char err[256];
};

static void pass_add_start(struct pass *ps, struct start_job *sj)
{
	if (ps->nstarts == ps->cap) {
		ps->cap = ps->cap ? 2 * ps->cap : 16;
		ps->starts = xrealloc(ps->starts, ps->cap * sizeof(*ps->starts));
	}
	ps->starts[ps->nstarts++] = sj;
}

/* Starts r on p: its next attempt, submitted in the call phase. */
static void sched_start_locked(struct core *c, struct pass *ps,
			       struct provider *p, struct run *r)
{
	sched_slot_take(p, r);
	if (p->used_jobs >= p->conn.cap_max_jobs)
		p->closed = 1;
	art_manifest_reset_locked(c, r);
	r->attempt++;
	r->cancel_requested = CANCEL_NONE;
	r->exit_code = STORE_NO_EXIT;
	r->retry_at_ms = 0;
	r->attempt_started_ms = 0;
	run_set_state_locked(c, r, RS_INITIALIZING, "submitting to provider");
	pass_add_start(ps, start_prepare_locked(c, r, p));
}

/*
 * The scheduler, for t's provider: walks the queue in start order and
 * starts what fits, by the rule at the top of this file. A run whose
 * provider is gone fails in whichever thread sees it first.
 */
static void sched_pass_locked(struct poller_thread *t, struct pass *ps,
			      int64_t now)
{
	struct core *c = t->c;
	struct provider *p = t->p;
	struct run *r, *next;
	int64_t t0, t1, scanned = 0;

	sched_usage_recount_locked(c, p);
	t0 = mono_ns();
	p->reserved_for = 0;
	p->closed = p->used_jobs >= p->conn.cap_max_jobs;
	for (r = c->queued.head; r && !p->closed; r = next) {
		struct provider *rp;
		char why[256];
		int ds, list;

		next = r->lnext;
		scanned++;
		if (r->retry_at_ms > now)
			continue;
		list = r->cfg && r->cfg->nproviders > 1;
		rp = provider_find(c, r->provider ? r->provider : "");
		if (rp && rp != p && !list)
			continue;        /* another thread's */
		ds = sched_deps_state_locked(c, r, why, sizeof(why));
		if (ds == 1)
			ds = sched_inputs_ready_locked(c, r, NULL, why,
						       sizeof(why));
		if (ds < 0) {
			run_set_state_locked(c, r, RS_FAILED, why);
			continue;
		}
		if (ds == 0)
			continue;
		/* a list's choice, by whichever thread looks first once the
		   run could start; the chosen one's thread starts it */
		if (list && (rp = sched_choose_locked(c, r)) != p)
			continue;
		if (!rp || !r->cfg) {
			run_set_state_locked(c, r, RS_FAILED, !rp ?
					     "unknown provider" :
					     "stored config unreadable");
			continue;
		}
		if (!sched_slot_free(p, r, why, sizeof(why))) {
			/*
			 * Backfill with a reservation: smaller runs behind may
			 * use what is free, until this one has waited
			 * starve_s; then the provider is held for it, so the
			 * slots it needs drain instead of being refilled.
			 */
			if (p->used_jobs >= p->conn.cap_max_jobs ||
			    now - r->queued_ms >= (int64_t)c->starve_s * 1000) {
				p->closed = 1;
				p->reserved_for = r->id;
			}
			continue;
		}
		sched_start_locked(c, ps, p, r);
	}
	t1 = mono_ns() - t0;
	c->passes++;
	c->last_decide_ns = t1;
	c->last_scanned = scanned;
	if (ps->nstarts)
		c->last_start_decide_ns = t1;
	if (t1 > c->max_decide_ns)
		c->max_decide_ns = t1;
}

/*
 * Runs left initializing without a job (by a crash, or a submission not
 * confirmed yet): find() again, or submit.
 */
static void resume_starts_locked(struct poller_thread *t, struct pass *ps)
{
	struct core *c = t->c;
	struct run *r, *next;
	size_t i;

	for (r = c->active.head; r; r = next) {
		struct provider *rp;
		struct start_job *sj;

		next = r->lnext;
		if (r->state != RS_INITIALIZING || r->job_id)
			continue;
		rp = provider_find(c, r->provider ? r->provider : "");
		if (rp && rp != t->p)
			continue;
		for (i = 0; i < ps->nstarts && ps->starts[i]->run_id != r->id;
		     i++)
			;
		if (i < ps->nstarts)
			continue;
		if (!rp || !r->cfg) {
			run_set_state_locked(c, r, RS_FAILED,
					     "cannot resume submission");
			continue;
		}
		sj = start_prepare_locked(c, r, rp);
		sj->cancel = r->cancel_requested != 0;
		pass_add_start(ps, sj);
	}
}

/* Fills pj with what the connector needs to ask about r's job. */
static void poll_job_fill_locked(struct poller_thread *t, struct run *r,
				 struct poll_job *pj)
{
	char base[PATH_MAX];

	run_dir_path(t->c, r, base, sizeof(base));
	pj->run_id = r->id;
	pj->prov = t->p;
	pj->job_id = xstrdup(r->job_id);
	pj->attempt_dir = pathf("%s/attempt-%d", base, r->attempt);
	pj->log_path = pathf("%s/log", base);
	pj->metrics_path = pathf("%s/metrics.jsonl", base);
	pj->q.job_id = pj->job_id;
	pj->q.run_id = r->uuid;   /* stable: runs are never freed while active */
	pj->q.attempt = r->attempt;
	pj->q.attempt_dir = pj->attempt_dir;
	pj->q.log_path = pj->log_path;
	pj->q.metrics_path = pj->metrics_path;
	pj->q.state = JOB_UNKNOWN;
	pj->q.exit_code = -1;
	pj->q.price_per_hour = -1;
	pj->q.cpu_percent = -1;
	pj->q.rss_kb = -1;
}

/*
 * What to send about r besides the poll: a cancel (the user's, or the
 * timeout's, which is the daemon's to enforce whatever the provider, each
 * attempt having the whole of it; a run of a store from before attempts
 * had their start counts from now), a pause or a resume.
 */
static void poll_job_orders_locked(struct core *c, struct run *r,
				   struct poll_job *pj, int64_t now,
				   int64_t mono)
{
	if (r->state == RS_RUNNING && !r->attempt_started_ms) {
		r->attempt_started_ms = now;
		run_save_locked(c, r);
	}
	if (r->cfg && r->cfg->timeout_s && r->attempt_started_ms &&
	    !r->cancel_requested &&
	    now - r->attempt_started_ms > (int64_t)r->cfg->timeout_s * 1000) {
		r->cancel_requested = CANCEL_TIMEOUT;
		r->last_cancel_ms = 0;
		run_event_locked(c, r, "timeout after %d s: cancelling",
				 r->cfg->timeout_s);
		run_save_locked(c, r);
	}
	if (r->cancel_requested && (!r->last_cancel_ms ||
	    mono - r->last_cancel_ms > (int64_t)(c->kill_grace_s + 5) * 1000)) {
		pj->do_cancel = r->cancel_requested;
		r->last_cancel_ms = mono;
	}
	if (r->pending_signal) {
		pj->do_signal = r->pending_signal;
		r->pending_signal = 0;
		run_save_locked(c, r);
	}
}

/*
 * The active runs of t's provider to ask about. A job that ended is not
 * polled again while its run ends, but a remote one is synced until its
 * last bytes are in (sync_only).
 */
static void polls_prepare_locked(struct poller_thread *t, struct pass *ps,
				 int64_t now, int64_t mono)
{
	struct core *c = t->c;
	struct run *r;

	ps->polls = xcalloc(c->active.n + 1, sizeof(*ps->polls));
	for (r = c->active.head; r; r = r->lnext) {
		struct poll_job *pj;

		if (!r->job_id || !sched_run_of(t->p, r))
			continue;
		if (r->ending && (!t->p->conn.ops->sync ||
				  r->scanned_attempt == r->attempt))
			continue;
		pj = &ps->polls[ps->npolls++];
		poll_job_fill_locked(t, r, pj);
		pj->sync_only = r->ending;
		if (!r->ending)
			poll_job_orders_locked(c, r, pj, now, mono);
	}
}

/* t's record of pj's attempt (thread only), read from its file at first. */
static struct sync_pos *sync_pos_get(struct poller_thread *t,
				     const struct poll_job *pj)
{
	struct sync_pos *sp = hmap_iget(&t->synced, pj->run_id);
	struct buf b = BUF_INIT(64);
	char path[PATH_MAX];
	long long l, m;

	if (sp && sp->attempt == pj->q.attempt)
		return sp;
	if (!sp) {
		sp = xcalloc(1, sizeof(*sp));
		hmap_iput(&t->synced, pj->run_id, sp);
	}
	memset(sp, 0, sizeof(*sp));
	sp->attempt = pj->q.attempt;
	snprintf(path, sizeof(path), "%s/synced", pj->attempt_dir);
	if (file_read_all(path, 64, &b) == TFS_OK && b.p &&
	    sscanf(b.p, "%lld %lld", &l, &m) == 2 && l >= 0 && m >= 0) {
		sp->log = l;
		sp->metrics = m;
	}
	buf_release(&b);
	return sp;
}

/*
 * Brings in what a remote job wrote since the last time (no lock). Its
 * offsets are written down before the scan reads the bytes, so that a
 * restart neither appends them twice nor loses them.
 */
static void sync_job(struct poller_thread *t, struct poll_job *pj)
{
	const struct connector_ops *ops = t->p->conn.ops;
	struct sync_pos *sp;
	char err[256] = "", path[PATH_MAX], text[64];
	int ended = pj->sync_only || job_state_terminal(pj->q.state);
	int rc, n;

	pj->synced = 1;
	if (!ops->sync || (!pj->sync_only && (!pj->polled ||
	    pj->q.state == JOB_PENDING || pj->q.state == JOB_UNKNOWN)))
		return;
	sp = sync_pos_get(t, pj);
	if (sp->ended)
		return;
	if (!sp->dir_made) {
		/* where the synced log and metrics and the offsets go */
		if (mkdir_p(pj->attempt_dir, 0700) < 0) {
			log_msg(LOG_WARNING, "cannot create '%s': %s",
				pj->attempt_dir, strerror(errno));
			pj->synced = 0;
			return;
		}
		sp->dir_made = 1;
	}
	pj->q.log_synced = sp->log;
	pj->q.metrics_synced = sp->metrics;
	call_begin(t, PCALL_SYNC);
	rc = ops->sync(&t->p->conn, &pj->q, err, sizeof(err));
	call_end(t);
	if (pj->q.log_synced != sp->log || pj->q.metrics_synced != sp->metrics) {
		sp->log = pj->q.log_synced;
		sp->metrics = pj->q.metrics_synced;
		snprintf(path, sizeof(path), "%s/synced", pj->attempt_dir);
		n = snprintf(text, sizeof(text), "%lld %lld\n",
			     (long long)sp->log, (long long)sp->metrics);
		if (file_write_atomic(path, text, (size_t)n, 0) != TFS_OK)
			log_msg(LOG_WARNING, "cannot write '%s'", path);
	}
	if (rc && rc != TFS_EOPNOTSUPP) {
		log_msg(LOG_WARNING, "sync of job %s failed: %s", pj->job_id,
			err);
		pj->synced = 0;
		return;
	}
	sp->ended = ended;
}

/* Cancel, pause or resume pj's job, as decided (no lock). */
static void poll_job_send(struct poller_thread *t, struct poll_job *pj)
{
	const struct connector_ops *ops = t->p->conn.ops;
	char err[256];
	int rc;

	if (pj->do_cancel) {
		call_begin(t, PCALL_CANCEL);
		rc = ops->cancel(&t->p->conn, &pj->q, t->c->kill_grace_s, err,
				 sizeof(err));
		call_end(t);
		if (rc)
			log_msg(LOG_WARNING, "cancel of job %s failed: %s",
				pj->job_id, err);
	}
	if (pj->do_signal) {
		call_begin(t, PCALL_SIGNAL);
		pj->sig_result = ops->signal ?
			ops->signal(&t->p->conn, &pj->q, pj->do_signal - 1,
				    pj->sig_err, sizeof(pj->sig_err)) :
			TFS_EOPNOTSUPP;
		call_end(t);
	}
}

/* The poll of the pass, its orders and syncs, with no lock held. */
static void pass_poll(struct poller_thread *t, struct pass *ps)
{
	struct connector *cn = &t->p->conn;
	struct job_query *qs;
	size_t i, k, nq = 0;

	t->polled_mono = mono_ms();
	qs = xcalloc(ps->npolls + 1, sizeof(*qs));
	for (i = 0; i < ps->npolls; i++) {
		if (ps->polls[i].sync_only)
			continue;
		poll_job_send(t, &ps->polls[i]);
		qs[nq++] = ps->polls[i].q;
	}
	call_begin(t, nq ? PCALL_POLL : PCALL_PING);
	ps->rc = nq ? cn->ops->poll(cn, qs, nq, ps->err, sizeof(ps->err)) :
		      cn->ops->ping(cn, ps->err, sizeof(ps->err));
	call_end(t);
	for (i = 0, k = 0; i < ps->npolls && !ps->rc; i++) {
		if (ps->polls[i].sync_only)
			continue;
		ps->polls[i].q = qs[k++];
		ps->polls[i].polled = 1;
	}
	free(qs);
	for (i = 0; i < ps->npolls; i++)
		sync_job(t, &ps->polls[i]);
}

/*
 * What one submission came to (lock held), applied by the lane that made
 * it as soon as its answer is in: the run shows its job id then, not when
 * the pass's last submission has returned, and the model lock is taken
 * once per submission between them rather than for all of them at the
 * end, when readers and writers of the mount would wait the longest.
 */
static void start_apply_locked(struct poller_thread *t, struct start_job *sj)
{
	struct core *c = t->c;
	struct run *r;
	int k;

	for (k = 0; k < sj->ninputs; k++)
		if (sj->input_src[k])
			art_pin_locked(c, sj->input_src[k], -1);
	r = hmap_iget(&c->run_by_id, sj->run_id);
	if (!r || r->state != RS_INITIALIZING)
		return;
	if (sj->ok) {
		/* one commit for the event and the row, not one each */
		int tx = store_begin(c->store, 0) == TFS_OK;

		free(r->job_id);
		r->job_id = xstrdup(sj->job_id);
		/* its machine is held, and billed, from here */
		if (!r->cost_ms)
			r->cost_ms = now_ms();
		r->nocap_mask = 0;
		r->nocap_tries = 0;
		r->nocap = (free(r->nocap), NULL);
		run_event_locked(c, r, "attempt %d submitted to %s as job %s",
				 r->attempt, sj->prov->conn.name, sj->job_id);
		run_save_locked(c, r);
		if (tx && store_commit(c->store))
			log_msg(LOG_ERR, "cannot record job %s of '%s/%s'",
				sj->job_id, r->exp->name, r->name);
		t->kick = 1;     /* poll it straight away */
	} else if (sj->in_progress) {
		/* the same attempt is asked about on the next pass */
		if (!r->reason || strcmp(r->reason, sj->err))
			run_set_state_locked(c, r, RS_INITIALIZING, sj->err);
	} else if (sj->cancelled || r->cancel_requested) {
		run_set_state_locked(c, r, RS_STOPPED, "cancelled");
	} else if (sj->nocap) {
		run_nocap_locked(c, r, sj->prov, sj->err[0] ? sj->err :
				 "no capacity now");
	} else {
		run_failed_locked(c, r, sj->err[0] ? sj->err :
				  "submission failed", 1);
	}
}

/*
 * The scans of the pass (lock held): the polled runs, and those whose job
 * ended earlier and whose files are not read to the end yet. Metrics come
 * before states: a run whose job ended is scanned to the end of its files
 * before it turns final, over several passes if need be
 * (poller_end_hold_locked keeps it active meanwhile), so a reader who
 * sees "completed" finds the last metrics already there.
 */
static struct scan *scans_prepare_locked(struct poller_thread *t,
					 struct pass *ps, size_t *n)
{
	struct core *c = t->c;
	struct scan *scans;
	struct run *r;
	size_t i, k, ns = 0;

	scans = xcalloc(ps->npolls + c->active.n + 1, sizeof(*scans));
	for (i = 0; i < ps->npolls; i++) {
		r = hmap_iget(&c->run_by_id, ps->polls[i].run_id);
		if (r && run_state_active(r->state) && ps->polls[i].polled)
			scan_prepare_locked(t, r, &ps->polls[i], &scans[ns++]);
	}
	for (r = c->active.head; r; r = r->lnext) {
		if (!r->ending || r->scanned_attempt == r->attempt ||
		    !sched_run_of(t->p, r))
			continue;
		for (k = 0; k < ns && scans[k].run_id != r->id; k++)
			;
		if (k == ns)
			scan_prepare_locked(t, r, NULL, &scans[ns++]);
	}
	*n = ns;
	return scans;
}

/* What the polls answered, and the pause or resume (lock held). */
static void polls_apply_locked(struct poller_thread *t, struct pass *ps)
{
	struct core *c = t->c;
	size_t i;

	for (i = 0; i < ps->npolls; i++) {
		struct poll_job *pj = &ps->polls[i];
		struct run *r = hmap_iget(&c->run_by_id, pj->run_id);
		const char *what = pj->do_signal - 1 == JOB_SIG_PAUSE ?
				   "pause" : "resume";

		if (!r || !run_state_active(r->state))
			continue;
		if (pj->do_signal && pj->sig_result == TFS_EOPNOTSUPP)
			run_event_locked(c, r, "%s not supported by %s", what,
					 pj->prov->conn.name);
		else if (pj->do_signal && pj->sig_result)
			run_event_locked(c, r, "%s failed: %s", what,
					 pj->sig_err);
		if (pj->polled) {
			cost_account_locked(c, r, pj->prov, &pj->q, now_ms());
			apply_poll_locked(c, r, pj);
		}
	}
}

static void pass_release(struct pass *ps)
{
	size_t i;

	for (i = 0; i < ps->nstarts; i++)
		start_free(ps->starts[i]);
	free(ps->starts);
	for (i = 0; i < ps->npolls; i++) {
		free(ps->polls[i].job_id);
		free(ps->polls[i].attempt_dir);
		free(ps->polls[i].log_path);
		free(ps->polls[i].metrics_path);
	}
	free(ps->polls);
}

/*
 * One pass of t's provider: decide under the lock, call the connector
 * without it, apply under it again (the scans in between without it).
 * Returns 1 when the provider answered the poll or the ping.
 */
static int poll_pass(struct poller_thread *t)
{
	struct pass ps = { 0 };
	struct core *c = t->c;
	struct provider *p = t->p;
	struct scan *scans;
	struct run *r, *next;
	int64_t now = now_ms(), mono = mono_ms();
	size_t i, nscans, fresh;
	char was[sizeof(p->health)], health_event[sizeof(p->health) + 160] = "";
	int was_healthy;

	pthread_mutex_lock(&c->lock);
	sched_pass_locked(t, &ps, now);
	fresh = ps.nstarts;
	resume_starts_locked(t, &ps);
	/*
	 * A pass that starts queued runs leaves the poll (and the syncs, cancels
	 * and signals with it) to a later pass: in a burst of submissions
	 * each pass starts what was queued since the one before, and a poll
	 * between two of them would ask for every job of the provider
	 * (slurmrestd answers all of them once anything changed) while the
	 * queued runs wait. The poll comes straight after the burst (the
	 * pass its last starts kick), and at least every BURST_POLL_MS (or
	 * interval) during a long one.
	 */
	ps.no_poll = fresh > 0 && t->polled_mono &&
		     mono - t->polled_mono < (t->interval_ms > BURST_POLL_MS ?
					      t->interval_ms : BURST_POLL_MS);
	if (!ps.no_poll)
		polls_prepare_locked(t, &ps, now, mono);
	pthread_mutex_unlock(&c->lock);

	/* each lane records its job ids as they come, before the poll,
	 * which may take a while (a GET of every job the provider has) */
	starts_call(t, ps.starts, ps.nstarts);
	if (!ps.no_poll)
		pass_poll(t, &ps);

	pthread_mutex_lock(&c->lock);
	was_healthy = p->healthy;
	snprintf(was, sizeof(was), "%s", p->health);
	if (!ps.no_poll) {
		p->last_poll_ms = now_ms();
		p->healthy = ps.rc == TFS_OK;
	}
	if (ps.rc)
		snprintf(p->health, sizeof(p->health), "unreachable: %.200s",
			 ps.err);
	/* MOUNT/events hears of each change, not of each failed pass */
	if (was_healthy != p->healthy || (!p->healthy &&
					  strcmp(was, p->health)))
		snprintf(health_event, sizeof(health_event), "provider '%s': "
			 "%s", p->conn.name, p->healthy ? "reachable again" :
			 p->health);
	scans = scans_prepare_locked(t, &ps, &nscans);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < nscans; i++)
		scan_run(c, &scans[i]);
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < nscans; i++) {
		scan_done_locked(t, &scans[i]);
		free(scans[i].log_path);
		free(scans[i].mfile_path);
	}
	polls_apply_locked(t, &ps);
	for (r = c->active.head; r; r = next) {
		next = r->lnext;
		if (r->ending && sched_run_of(p, r))
			end_try_locked(c, r, mono_ms());
	}
	pthread_mutex_unlock(&c->lock);
	if (health_event[0])
		core_event(c, "%s", health_event);
	free(scans);
	pass_release(&ps);
	/* a pass that did not ask leaves the verdict as it was */
	return ps.no_poll ? was_healthy : ps.rc == TFS_OK;
}

/* ---- the threads ---- */

/* How long t waits after a pass: its interval, doubled per failure. */
static int64_t pass_wait_ms(const struct poller_thread *t)
{
	int shift = t->failures < BACKOFF_MAX_SHIFT ? t->failures :
						      BACKOFF_MAX_SHIFT;

	return (int64_t)t->interval_ms << shift;
}

static void *poller_main(void *arg)
{
	struct poller_thread *t = arg;
	struct core *c = t->c;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		struct timespec ts;
		int64_t wait;
		int ok;

		t->kick = 0;
		pthread_mutex_unlock(&c->lock);
		ok = poll_pass(t);
		pthread_mutex_lock(&c->lock);
		t->failures = ok ? 0 : t->failures + (t->failures < 1000);
		/* a kick does not cut a backoff short */
		if ((t->kick && !t->failures) || c->stop)
			continue;
		wait = pass_wait_ms(t);
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += wait / 1000;
		ts.tv_nsec += (long)(wait % 1000) * 1000000L;
		if (ts.tv_nsec >= 1000000000L) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000L;
		}
		while (!c->stop && !(t->kick && !t->failures) &&
		       pthread_cond_timedwait(&t->wake, &c->lock, &ts) == 0)
			;
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static void poller_kick_one_locked(struct poller_thread *t)
{
	t->kick = 1;
	pthread_cond_signal(&t->wake);
}

void poller_kick_locked(struct core *c)
{
	int i;

	for (i = 0; i < c->nprovs; i++)
		if (c->provs[i].pt)
			poller_kick_one_locked(c->provs[i].pt);
}

void poller_health_locked(struct core *c, const struct provider *p,
			  char *out, size_t len)
{
	struct poller_thread *t = p->pt;
	int64_t since = t ? __atomic_load_n(&t->call_since, __ATOMIC_ACQUIRE) :
			    0;

	(void)c;
	if (since) {
		int64_t ms = mono_ms() - since;
		int call = __atomic_load_n(&t->call, __ATOMIC_RELAXED);

		if (ms >= t->interval_ms && ms >= CALL_SLOW_MIN_MS) {
			snprintf(out, len, "unreachable: a %s call in flight "
				 "for %lld ms", pcall_names[call],
				 (long long)ms);
			return;
		}
	}
	snprintf(out, len, "%s", p->healthy ? "ok" : p->health);
}

/*
 * Waits on the providers' wake descriptors (a local job's supervisor writes
 * to a FIFO when the job ends) and kicks that provider's thread, so a
 * finished job frees its slot at once instead of at the next interval.
 */
static void *waker_main(void *arg)
{
	struct core *c = arg;
	struct pollfd pfd[17];
	int who[17];
	int n = 0, i;

	pfd[n].fd = c->waker_pipe[0];
	pfd[n++].events = POLLIN;
	for (i = 0; i < c->nprovs && n < 17; i++) {
		int fd = c->provs[i].conn.ops->wake_fd ?
			 c->provs[i].conn.ops->wake_fd(&c->provs[i].conn) : -1;

		if (fd >= 0) {
			who[n] = i;
			pfd[n].fd = fd;
			pfd[n++].events = POLLIN;
		}
	}
	for (;;) {
		char junk[256];

		if (poll(pfd, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[0].revents)
			break;
		pthread_mutex_lock(&c->lock);
		for (i = 1; i < n; i++) {
			if (!(pfd[i].revents & POLLIN))
				continue;
			while (read(pfd[i].fd, junk, sizeof(junk)) > 0)
				;
			if (c->provs[who[i]].pt)
				poller_kick_one_locked(c->provs[who[i]].pt);
		}
		pthread_mutex_unlock(&c->lock);
	}
	return NULL;
}

static void poller_thread_free(struct poller_thread *t)
{
	size_t i;

	for (i = 0; i < t->synced.nb; i++) {
		struct hmap_entry *e;

		for (e = t->synced.b[i]; e; e = e->next)
			free(e->val);
	}
	hmap_release(&t->synced);
	pthread_cond_destroy(&t->wake);
	free(t);
}

/* Joins the provider threads started so far and frees them. */
static void poller_join(struct core *c)
{
	int i;

	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	for (i = 0; i < c->nprovs; i++) {
		/* a call hanging on its provider gives up, so that a stop
		 * does not wait for the provider's timeouts */
		__atomic_store_n(&c->provs[i].conn.stopping, 1,
				 __ATOMIC_RELEASE);
		if (c->provs[i].pt)
			pthread_cond_signal(&c->provs[i].pt->wake);
	}
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < c->nprovs; i++) {
		struct poller_thread *t = c->provs[i].pt;

		if (!t)
			continue;
		pthread_join(t->tid, NULL);
		pthread_mutex_lock(&c->lock);
		c->provs[i].pt = NULL;
		pthread_mutex_unlock(&c->lock);
		poller_thread_free(t);
	}
}

int poller_start(struct core *c)
{
	pthread_condattr_t ca;
	int i;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	for (i = 0; i < c->nprovs; i++) {
		struct poller_thread *t = xcalloc(1, sizeof(*t));

		t->c = c;
		t->p = &c->provs[i];
		t->interval_ms = t->p->conn.poll_ms > 0 ? t->p->conn.poll_ms :
							  c->poll_ms;
		t->synced = (struct hmap)HMAP_INIT;
		pthread_cond_init(&t->wake, &ca);
		pthread_mutex_lock(&c->lock);
		c->provs[i].pt = t;
		pthread_mutex_unlock(&c->lock);
		if (pthread_create(&t->tid, NULL, poller_main, t)) {
			pthread_mutex_lock(&c->lock);
			c->provs[i].pt = NULL;
			pthread_mutex_unlock(&c->lock);
			poller_thread_free(t);
			pthread_condattr_destroy(&ca);
			poller_join(c);
			return TFS_ENOMEM;
		}
	}
	pthread_condattr_destroy(&ca);
	c->poller_started = 1;
	if (pipe2(c->waker_pipe, O_CLOEXEC) == 0) {
		if (pthread_create(&c->waker, NULL, waker_main, c) == 0)
			c->waker_started = 1;
	}
	return TFS_OK;
}

void poller_stop(struct core *c)
{
	if (!c->poller_started)
		return;
	if (c->waker_started) {
		if (write(c->waker_pipe[1], "x", 1) < 0)
			log_msg(LOG_WARNING, "cannot stop the waker thread");
		pthread_join(c->waker, NULL);
		close(c->waker_pipe[0]);
		close(c->waker_pipe[1]);
		c->waker_started = 0;
	}
	poller_join(c);
	c->poller_started = 0;
}
