/*
 * fake_connector.c - the provider of fake_connector.h. One mutex guards
 * everything; a condition variable wakes calls blocked in a hang. Each
 * instance has a pipe for wake_fd(), written whenever the test changes a
 * job, so that core polls at once instead of at its next interval: the
 * tests wait for what core does, never for a clock.
 */
#define _GNU_SOURCE
#include "fake_connector.h"
#include "util.h"

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FAKE_PROVS 8
#define FAKE_JOBS 256
#define FAKE_TIMES 16            /* call times kept per kind */

struct fake_prov {
	char name[TFS_NAME_MAX + 1];
	int hang;
	int hang_call[FAKE_NCALLS]; /* calls of that kind hang */
	int hung;                   /* calls blocked now */
	int fail_n[FAKE_NCALLS];    /* < 0: for good */
	int fail_err[FAKE_NCALLS];
	char fail_why[FAKE_NCALLS][128];
	int calls[FAKE_NCALLS];
	int64_t times[FAKE_NCALLS][FAKE_TIMES];
	int wake[2];                /* -1 while no instance is open */
	int max_live;               /* see fake_max_live() */
	const struct connector *conn;   /* init()'s, kept as a connector may */
};

struct fake_plan_ent {
	char run[2 * TFS_NAME_MAX + 2];
	int attempt;
	enum job_state end;
	int exit_code;
	char reason[JOB_REASON_MAX];
	int unconfirmed;
};

struct fake_job_ent {
	char run[2 * TFS_NAME_MAX + 2];
	int attempt;
	char prov[TFS_NAME_MAX + 1];
	struct fake_job_info info;
	enum job_state end;         /* reported at the first poll, unless RUNNING */
	int exit_code;
	char reason[JOB_REASON_MAX];
	int unconfirmed;
	int cancelled;              /* a cancel was asked for */
	int polled;
	struct buf log, metrics;    /* the remote files */
};

static pthread_mutex_t fake_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t fake_cond = PTHREAD_COND_INITIALIZER;
static struct fake_prov fake_provs[FAKE_PROVS];
static int fake_nprovs;
static struct fake_plan_ent fake_plans[FAKE_JOBS];
static int fake_nplans;
static struct fake_job_ent fake_jobs[FAKE_JOBS];
static int fake_njobs;
static int fake_next_id = 1;

/* The record of provider name, made on first use (lock held). */
static struct fake_prov *fake_prov_get(const char *name)
{
	struct fake_prov *p;
	int i;

	for (i = 0; i < fake_nprovs; i++)
		if (!strcmp(fake_provs[i].name, name))
			return &fake_provs[i];
	if (fake_nprovs == FAKE_PROVS)
		abort();
	p = &fake_provs[fake_nprovs++];
	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	p->wake[0] = p->wake[1] = -1;
	return p;
}

static struct fake_job_ent *fake_job_get(const char *run, int attempt)
{
	int i;

	for (i = 0; i < fake_njobs; i++)
		if (fake_jobs[i].attempt == attempt &&
		    !strcmp(fake_jobs[i].run, run))
			return &fake_jobs[i];
	return NULL;
}

static struct fake_job_ent *fake_job_by_id(const char *job_id)
{
	int i;

	for (i = 0; i < fake_njobs; i++)
		if (!strcmp(fake_jobs[i].info.job_id, job_id))
			return &fake_jobs[i];
	return NULL;
}

static struct fake_job_ent *fake_job_by_run_id(const char *run_id,
					       int attempt)
{
	int i;

	for (i = 0; i < fake_njobs; i++)
		if (fake_jobs[i].attempt == attempt &&
		    !strcmp(fake_jobs[i].info.run_id, run_id))
			return &fake_jobs[i];
	return NULL;
}

/* Tells every open instance to poll now (lock held). */
static void fake_wake_all(void)
{
	int i;

	for (i = 0; i < fake_nprovs; i++) {
		/* a full pipe has a wake-up pending anyway */
		if (fake_provs[i].wake[1] >= 0 &&
		    write(fake_provs[i].wake[1], "w", 1) < 0)
			continue;
	}
}

/*
 * The start of every call: counts it, blocks while the provider hangs,
 * and returns the scripted failure or TFS_OK (lock held, kept held).
 */
static int fake_enter(struct connector *c, enum fake_call call, char *err,
		      size_t errlen)
{
	struct fake_prov *p = fake_prov_get(c->name);
	int k = p->calls[call] % FAKE_TIMES;

	p->times[call][k] = mono_ms();
	p->calls[call]++;
	if (p->hang || p->hang_call[call]) {
		p->hung++;
		while (p->hang || p->hang_call[call])
			pthread_cond_wait(&fake_cond, &fake_lock);
		p->hung--;
		snprintf(err, errlen, "%s timed out", c->name);
		return TFS_EIO;
	}
	if (p->fail_n[call]) {
		if (p->fail_n[call] > 0)
			p->fail_n[call]--;
		snprintf(err, errlen, "%s", p->fail_why[call]);
		return p->fail_err[call];
	}
	return TFS_OK;
}

/* ---- the test's side ---- */

int fake_register(void)
{
	return connector_register(&fake_connector_ops);
}

void fake_hang(const char *prov, int on)
{
	pthread_mutex_lock(&fake_lock);
	fake_prov_get(prov)->hang = on;
	pthread_cond_broadcast(&fake_cond);
	pthread_mutex_unlock(&fake_lock);
}

void fake_hang_call(const char *prov, enum fake_call call, int on)
{
	pthread_mutex_lock(&fake_lock);
	fake_prov_get(prov)->hang_call[call] = on;
	pthread_cond_broadcast(&fake_cond);
	pthread_mutex_unlock(&fake_lock);
}

const void *fake_conn(const char *prov)
{
	const void *c;

	pthread_mutex_lock(&fake_lock);
	c = fake_prov_get(prov)->conn;
	pthread_mutex_unlock(&fake_lock);
	return c;
}

int fake_hung(const char *prov)
{
	int n;

	pthread_mutex_lock(&fake_lock);
	n = fake_prov_get(prov)->hung;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

void fake_fail(const char *prov, enum fake_call call, int n, int err,
	       const char *why)
{
	struct fake_prov *p;

	pthread_mutex_lock(&fake_lock);
	p = fake_prov_get(prov);
	p->fail_n[call] = n;
	p->fail_err[call] = err;
	snprintf(p->fail_why[call], sizeof(p->fail_why[call]), "%s", why);
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
}

int fake_calls(const char *prov, enum fake_call call)
{
	int n;

	pthread_mutex_lock(&fake_lock);
	n = fake_prov_get(prov)->calls[call];
	pthread_mutex_unlock(&fake_lock);
	return n;
}

int fake_call_times(const char *prov, enum fake_call call, int64_t *t,
		    int n)
{
	struct fake_prov *p;
	int have, i;

	pthread_mutex_lock(&fake_lock);
	p = fake_prov_get(prov);
	have = p->calls[call] < FAKE_TIMES ? p->calls[call] : FAKE_TIMES;
	if (n > have)
		n = have;
	for (i = 0; i < n; i++)
		t[i] = p->times[call][(p->calls[call] - n + i) % FAKE_TIMES];
	pthread_mutex_unlock(&fake_lock);
	return n;
}

void fake_plan(const char *run, int attempt, enum job_state end,
	       int exit_code, const char *reason, int unconfirmed)
{
	struct fake_plan_ent *e = NULL;
	int i;

	pthread_mutex_lock(&fake_lock);
	for (i = 0; i < fake_nplans && !e; i++)
		if (fake_plans[i].attempt == attempt &&
		    !strcmp(fake_plans[i].run, run))
			e = &fake_plans[i];
	if (!e) {
		if (fake_nplans == FAKE_JOBS)
			abort();
		e = &fake_plans[fake_nplans++];
	}
	snprintf(e->run, sizeof(e->run), "%s", run);
	e->attempt = attempt;
	e->end = end;
	e->exit_code = exit_code;
	snprintf(e->reason, sizeof(e->reason), "%s", reason ? reason : "");
	e->unconfirmed = unconfirmed;
	pthread_mutex_unlock(&fake_lock);
}

void fake_job_end(const char *run, int attempt, enum job_state st,
		  int exit_code, const char *reason)
{
	struct fake_job_ent *j;

	pthread_mutex_lock(&fake_lock);
	j = fake_job_get(run, attempt);
	if (j) {
		j->info.state = st;
		j->exit_code = exit_code;
		snprintf(j->reason, sizeof(j->reason), "%s",
			 reason ? reason : "");
	}
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
}

void fake_confirm(const char *run, int attempt)
{
	struct fake_job_ent *j;

	pthread_mutex_lock(&fake_lock);
	j = fake_job_get(run, attempt);
	if (j && j->unconfirmed) {
		j->unconfirmed = 0;
		/* a cancel recorded before: the job never runs */
		if (j->cancelled)
			j->info.state = JOB_STOPPED;
		else
			j->info.ran = 1;
	}
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
}

void fake_forget(const char *run, int attempt)
{
	struct fake_job_ent *j;

	pthread_mutex_lock(&fake_lock);
	j = fake_job_get(run, attempt);
	if (j)
		j->info.state = JOB_UNKNOWN;
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
}

void fake_remote(const char *run, int attempt, const char *log,
		 const char *metrics)
{
	struct fake_job_ent *j;

	pthread_mutex_lock(&fake_lock);
	j = fake_job_get(run, attempt);
	if (j && log)
		buf_append(&j->log, log, strlen(log));
	if (j && metrics)
		buf_append(&j->metrics, metrics, strlen(metrics));
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
}

int fake_max_live(const char *prov)
{
	int n;

	pthread_mutex_lock(&fake_lock);
	n = fake_prov_get(prov)->max_live;
	pthread_mutex_unlock(&fake_lock);
	return n;
}

/* Jobs of prov not ended nor forgotten (lock held). */
static int fake_live(const char *prov)
{
	int i, n = 0;

	for (i = 0; i < fake_njobs; i++)
		n += !strcmp(fake_jobs[i].prov, prov) &&
		     !job_state_terminal(fake_jobs[i].info.state) &&
		     fake_jobs[i].info.state != JOB_UNKNOWN;
	return n;
}

int fake_job(const char *run, int attempt, struct fake_job_info *out)
{
	struct fake_job_ent *j;

	pthread_mutex_lock(&fake_lock);
	j = fake_job_get(run, attempt);
	if (j)
		*out = j->info;
	pthread_mutex_unlock(&fake_lock);
	return j != NULL;
}

/* ---- the connector ---- */

static int fake_init(struct connector *c, const cJSON *conf, char *err,
		     size_t errlen)
{
	static const char *const keys[] = {
		"type", "cpus", "gpus", "memory_mb", "max_jobs", "poll_ms",
		"submit_lanes", NULL
	};
	const cJSON *it;
	struct fake_prov *p;
	int i;

	c->cap_cpus = 4;
	c->cap_max_jobs = 4;
	c->cap_memory_mb = 1 << 20;
	cJSON_ArrayForEach(it, conf) {
		for (i = 0; keys[i] && strcmp(keys[i], it->string); i++)
			;
		if (!keys[i]) {
			snprintf(err, errlen, "unknown key '%s'", it->string);
			return TFS_EINVAL;
		}
		if (!strcmp(it->string, "cpus"))
			c->cap_cpus = it->valueint;
		else if (!strcmp(it->string, "gpus"))
			c->cap_gpus = it->valueint;
		else if (!strcmp(it->string, "memory_mb"))
			c->cap_memory_mb = it->valueint;
		else if (!strcmp(it->string, "max_jobs"))
			c->cap_max_jobs = it->valueint;
		else if (!strcmp(it->string, "poll_ms"))
			c->poll_ms = it->valueint;
		else if (!strcmp(it->string, "submit_lanes"))
			c->submit_lanes = it->valueint;
	}
	pthread_mutex_lock(&fake_lock);
	p = fake_prov_get(c->name);
	p->conn = c;
	if (p->wake[0] < 0 && pipe2(p->wake, O_CLOEXEC | O_NONBLOCK) < 0)
		p->wake[0] = p->wake[1] = -1;
	pthread_mutex_unlock(&fake_lock);
	return TFS_OK;
}

static void fake_release(struct connector *c)
{
	struct fake_prov *p;

	pthread_mutex_lock(&fake_lock);
	p = fake_prov_get(c->name);
	if (p->wake[0] >= 0) {
		close(p->wake[0]);
		close(p->wake[1]);
	}
	p->wake[0] = p->wake[1] = -1;
	pthread_mutex_unlock(&fake_lock);
}

static int fake_wake_fd(struct connector *c)
{
	int fd;

	pthread_mutex_lock(&fake_lock);
	fd = fake_prov_get(c->name)->wake[0];
	pthread_mutex_unlock(&fake_lock);
	return fd;
}

static int fake_ping(struct connector *c, char *err, size_t errlen)
{
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_PING, err, errlen);
	pthread_mutex_unlock(&fake_lock);
	return r;
}

/* find() and submit(): what the fake knows of the attempt (lock held). */
static int fake_answer(struct fake_job_ent *j, char *job_id, size_t idlen,
		       char *err, size_t errlen)
{
	if (j->unconfirmed) {
		snprintf(err, errlen, "job %s: submitted, not confirmed yet",
			 j->info.job_id);
		return TFS_EINPROGRESS;
	}
	snprintf(job_id, idlen, "%s", j->info.job_id);
	return TFS_OK;
}

static int fake_find(struct connector *c, const struct job_spec *spec,
		     char *job_id, size_t idlen, char *err, size_t errlen)
{
	struct fake_job_ent *j;
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_FIND, err, errlen);
	if (!r) {
		j = fake_job_get(spec->run_name, spec->attempt);
		if (j)
			r = fake_answer(j, job_id, idlen, err, errlen);
		else {
			snprintf(err, errlen, "no job for %s attempt %d",
				 spec->run_name, spec->attempt);
			r = TFS_ENOENT;
		}
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static const struct fake_plan_ent *fake_plan_of(const char *run, int attempt)
{
	const struct fake_plan_ent *any = NULL;
	int i;

	for (i = 0; i < fake_nplans; i++) {
		if (strcmp(fake_plans[i].run, run))
			continue;
		if (fake_plans[i].attempt == attempt)
			return &fake_plans[i];
		if (fake_plans[i].attempt == 0)
			any = &fake_plans[i];
	}
	return any;
}

static int fake_submit(struct connector *c, const struct job_spec *spec,
		       char *job_id, size_t idlen, char *err, size_t errlen)
{
	const struct fake_plan_ent *pl;
	struct fake_job_ent *j;
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_SUBMIT, err, errlen);
	if (r)
		goto out;
	j = fake_job_get(spec->run_name, spec->attempt);
	if (!j) {
		if (fake_njobs == FAKE_JOBS)
			abort();
		j = &fake_jobs[fake_njobs++];
		memset(j, 0, sizeof(*j));
		snprintf(j->run, sizeof(j->run), "%s", spec->run_name);
		snprintf(j->prov, sizeof(j->prov), "%s", c->name);
		j->attempt = spec->attempt;
		snprintf(j->info.run_id, sizeof(j->info.run_id), "%s",
			 spec->run_id);
		snprintf(j->info.job_id, sizeof(j->info.job_id), "fake-%d",
			 fake_next_id++);
		j->log = (struct buf)BUF_INIT(0);
		j->metrics = (struct buf)BUF_INIT(0);
		pl = fake_plan_of(spec->run_name, spec->attempt);
		j->end = pl ? pl->end : JOB_RUNNING;
		j->exit_code = pl ? pl->exit_code : -1;
		snprintf(j->reason, sizeof(j->reason), "%s",
			 pl ? pl->reason : "");
		j->unconfirmed = pl && pl->unconfirmed;
		j->info.state = JOB_RUNNING;
		j->info.ran = !j->unconfirmed;
		if (fake_live(c->name) > fake_prov_get(c->name)->max_live)
			fake_prov_get(c->name)->max_live = fake_live(c->name);
	}
	j->info.submits++;
	r = fake_answer(j, job_id, idlen, err, errlen);
out:
	pthread_mutex_unlock(&fake_lock);
	return r;
}

/* One query's answer (lock held). */
static void fake_poll_one(struct job_query *q)
{
	struct fake_job_ent *j = fake_job_by_id(q->job_id);

	q->reason[0] = '\0';
	q->exit_code = -1;
	if (!j) {
		q->state = JOB_UNKNOWN;
		return;
	}
	if (!j->polled && j->info.state == JOB_RUNNING &&
	    j->end != JOB_RUNNING) {
		j->info.state = j->end;
	}
	j->polled = 1;
	if (j->cancelled && !job_state_terminal(j->info.state) &&
	    j->info.state != JOB_UNKNOWN) {
		j->info.state = JOB_STOPPED;
		snprintf(j->reason, sizeof(j->reason), "cancelled");
	}
	q->state = j->info.state;
	if (job_state_terminal(q->state))
		q->exit_code = j->info.state == JOB_COMPLETED ? 0 : j->exit_code;
	snprintf(q->reason, sizeof(q->reason), "%s",
		 job_state_terminal(q->state) ? j->reason : "");
}

static int fake_poll(struct connector *c, struct job_query *q, size_t n,
		     char *err, size_t errlen)
{
	size_t i;
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_POLL, err, errlen);
	for (i = 0; !r && i < n; i++)
		fake_poll_one(&q[i]);
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static int fake_cancel(struct connector *c, const struct job_query *q,
		       int kill_grace_s, char *err, size_t errlen)
{
	struct fake_job_ent *j;
	int r;

	(void)kill_grace_s;
	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_CANCEL, err, errlen);
	if (!r) {
		j = q->job_id[0] ? fake_job_by_id(q->job_id) :
				   fake_job_by_run_id(q->run_id, q->attempt);
		if (j) {
			j->cancelled = 1;
			j->info.cancels++;
			j->info.cancel_unconfirmed += j->unconfirmed;
		}
		fake_wake_all();
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

static int fake_signal(struct connector *c, const struct job_query *q,
		       enum job_signal sig, char *err, size_t errlen)
{
	struct fake_job_ent *j;
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_SIGNAL, err, errlen);
	j = r ? NULL : fake_job_by_id(q->job_id);
	if (j && !job_state_terminal(j->info.state))
		j->info.state = sig == JOB_SIG_PAUSE ? JOB_PAUSED : JOB_RUNNING;
	fake_wake_all();
	pthread_mutex_unlock(&fake_lock);
	return r;
}

/* Appends b's bytes from *off to path; returns TFS_OK or TFS_EIO. */
static int fake_sync_file(const struct buf *b, int64_t *off,
			  const char *path)
{
	size_t n;
	int fd;

	if ((size_t)*off >= b->len)
		return TFS_OK;
	n = b->len - (size_t)*off;
	fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		return TFS_EIO;
	if (write(fd, b->p + *off, n) != (ssize_t)n) {
		close(fd);
		return TFS_EIO;
	}
	close(fd);
	*off += (int64_t)n;
	return TFS_OK;
}

static int fake_sync(struct connector *c, struct job_query *q, char *err,
		     size_t errlen)
{
	struct fake_job_ent *j;
	int r;

	pthread_mutex_lock(&fake_lock);
	r = fake_enter(c, FAKE_SYNC, err, errlen);
	j = r ? NULL : fake_job_by_id(q->job_id);
	if (j && (fake_sync_file(&j->log, &q->log_synced, q->log_path) ||
		  fake_sync_file(&j->metrics, &q->metrics_synced,
				 q->metrics_path))) {
		snprintf(err, errlen, "cannot append to the run's files");
		r = TFS_EIO;
	}
	pthread_mutex_unlock(&fake_lock);
	return r;
}

const struct connector_ops fake_connector_ops = {
	.type = "fake",
	.init = fake_init,
	.release = fake_release,
	.ping = fake_ping,
	.find = fake_find,
	.submit = fake_submit,
	.poll = fake_poll,
	.cancel = fake_cancel,
	.signal = fake_signal,
	.sync = fake_sync,
	.wake_fd = fake_wake_fd,
};
