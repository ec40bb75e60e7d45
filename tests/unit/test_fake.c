/*
 * test_fake.c - the poller and the state machine against the fake
 * provider (fake_connector.h), which does what each test tells it and
 * nothing by the clock: a provider that hangs while local runs go on,
 * retries with their backoff and a provider's own backoff, preemption then
 * a retry with the same run id, a cancel before the provider confirmed the
 * submission, a provider that forgets a job, a restart that adopts a job
 * found by find(), remote log and metrics brought in by sync(), and the
 * capacity of a provider's slots.
 *
 * The fake's jobs live outside the core, so they outlive a core_close()
 * like a remote provider's. Providers: "local" (2 jobs), "fake" (4 jobs,
 * polled every FAKE_POLL_MS) and "fake2" (2 cpus, 2 jobs).
 */
#define _GNU_SOURCE
#include "test.h"
#include "corekit.h"
#include "fake_connector.h"
#include "model.h"

#include <unistd.h>

#define FAKE_POLL_MS 300

/* The status file of provider name (caller frees; never NULL). */
static char *prov_status(const char *name)
{
	struct buf b = BUF_INIT(0);
	char pn[TFS_NAME_MAX + 1];
	int i;

	for (i = 0; i < core_provider_count(core); i++) {
		core_provider_name(core, i, pn);
		if (!strcmp(pn, name))
			core_provider_status(core, i, &b);
	}
	return buf_detach(&b, NULL);
}

/* Waits until provider name's status starts with prefix. */
static int wait_prov(const char *name, const char *prefix)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	char *t = NULL;

	while (mono_ms() < deadline) {
		free(t);
		t = prov_status(name);
		if (!strncmp(t, prefix, strlen(prefix))) {
			free(t);
			return 1;
		}
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "provider %s: waited for '%s', status is:\n%s\n", name,
		prefix, t);
	free(t);
	return 0;
}

/* Waits until the fake has attempt of run ("exp/run"). */
static int wait_job(const char *run, int attempt, struct fake_job_info *fi)
{
	int64_t deadline = mono_ms() + WAIT_MS;

	while (mono_ms() < deadline) {
		if (fake_job(run, attempt, fi))
			return 1;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "no fake job for %s attempt %d\n", run, attempt);
	return 0;
}

/* Waits until cond(arg) holds; for what has no state of its own. */
static int wait_for(int (*cond)(const void *), const void *arg)
{
	int64_t deadline = mono_ms() + WAIT_MS;

	while (mono_ms() < deadline) {
		if (cond(arg))
			return 1;
		sleep_ms(STEP_MS);
	}
	return 0;
}

static int fake_hangs(const void *prov)
{
	return fake_hung(prov) > 0;
}

/* A run on the fake provider with extra config members. */
static int64_t start_fake(const char *exp, const char *name,
			  const char *extra)
{
	char json[512];

	snprintf(json, sizeof(json), "{\"provider\": \"fake\", "
		 "\"command\": [\"train\"]%s%s}", extra ? ", " : "",
		 extra ? extra : "");
	return start(exp_id(exp), name, json);
}

/*
 * One hanging provider stalls nobody else: local runs start, end and are
 * read while every call to the fake blocks, and the fake's status says
 * "unreachable" once a call has been in flight for two of its intervals.
 */
static void test_hang(void)
{
	int64_t exp = exp_id("hang"), id[3], f;
	struct fake_job_info fi;
	char name[16], script[64], *t;
	int i;

	/* no run there yet: the call that hangs is a ping */
	fake_hang("fake", 1);
	CHECK(wait_for(fake_hangs, "fake"));
	f = start_fake("hang", "remote", NULL);
	for (i = 0; i < 3; i++) {
		snprintf(name, sizeof(name), "local%d", i);
		snprintf(script, sizeof(script), "echo local run %d", i);
		id[i] = start_sh(exp, name, "local", script, NULL);
	}
	for (i = 0; i < 3; i++) {
		CHECK(wait_end(id[i]) == RS_COMPLETED);
		snprintf(script, sizeof(script), "local run %d\n", i);
		t = log_of(id[i]);
		CHECK(strstr(t, script) != NULL);
		free(t);
	}
	/* still the same call blocked: the local runs did not wait for it */
	CHECK(fake_hung("fake") == 1);
	CHECK(state_of(f) == RS_QUEUED);
	sleep_ms(2 * FAKE_POLL_MS + 50);
	t = prov_status("fake");
	CHECK(!strncmp(t, "unreachable: ", 13));
	CHECK(strstr(t, "in flight for") != NULL);
	CHECK(strstr(t, "\ntype: fake\n") != NULL);
	free(t);
	t = prov_status("local");
	CHECK(!strncmp(t, "ok\n", 3));
	free(t);

	/* it answers again: ok, and its run goes on */
	fake_hang("fake", 0);
	CHECK(wait_prov("fake", "ok\n"));
	CHECK(wait_job("hang/remote", 1, &fi));
	CHECK(wait_state(f, RS_RUNNING));
	fake_job_end("hang/remote", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(f) == RS_COMPLETED);
	CHECK(fake_job("hang/remote", 1, &fi) && fi.submits == 1);
}

/*
 * max_retries with the backoff doubling (1 s, then 2 s): three attempts of
 * one run id, then failed; a submission the provider refuses is retried
 * the same way.
 */
static void test_retries(void)
{
	struct fake_job_info fi[3];
	const cJSON *h, *e;
	int64_t id, s;
	char *t;
	cJSON *st;
	int i, n = 0;

	fake_plan("retry/flaky", 0, JOB_FAILED, 2, "exit code 2", 0);
	id = start_fake("retry", "flaky", "\"max_retries\": 2");
	CHECK(id != 0);
	CHECK(wait_end(id) == RS_FAILED);
	st = status_of(id);
	CHECK(jnum(st, "attempt") == 3);
	CHECK(jnum(st, "max_retries") == 2);
	CHECK(jnum(st, "exit_code") == 2);
	CHECK_STR(jstr(st, "reason"), "exit code 2");
	h = cJSON_GetObjectItemCaseSensitive(st, "history");
	cJSON_ArrayForEach(e, h)
		n += jstr(e, "state") && !strcmp(jstr(e, "state"), "failed");
	CHECK(n == 3);
	for (i = 0; i < 3; i++) {
		CHECK(fake_job("retry/flaky", i + 1, &fi[i]));
		CHECK(fi[i].submits == 1);
		CHECK_STR(fi[i].run_id, jstr(st, "run_id"));
	}
	cJSON_Delete(st);
	CHECK(!fake_job("retry/flaky", 4, &fi[0]));
	CHECK(has(id, RF_EVENTS, "exit code 2, retry 1 of 2 in 1 s"));
	CHECK(has(id, RF_EVENTS, "exit code 2, retry 2 of 2 in 2 s"));

	/* the provider refuses the submission once: a retry, then it runs */
	fake_fail("fake", FAKE_SUBMIT, 1, TFS_EIO, "quota exceeded");
	s = start_fake("retry", "refused", "\"max_retries\": 1");
	CHECK(wait_job("retry/refused", 2, &fi[0]));
	CHECK(has(s, RF_EVENTS, "quota exceeded, retry 1 of 1 in 1 s"));
	t = queue_text();
	CHECK(strstr(t, "retry/refused") == NULL);
	free(t);
	CHECK(wait_state(s, RS_RUNNING));
	fake_job_end("retry/refused", 2, JOB_COMPLETED, 0, "");
	CHECK(wait_end(s) == RS_COMPLETED);
}

/* Waits until MOUNT/queue has needle. */
static int wait_queue(const char *needle)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	char *t = NULL;
	int seen = 0;

	while (!seen && mono_ms() < deadline) {
		free(t);
		t = queue_text();
		seen = strstr(t, needle) != NULL;
		if (!seen)
			sleep_ms(STEP_MS);
	}
	free(t);
	return seen;
}

/*
 * submit()'s TFS_EAGAIN, no capacity: nothing started, so the run goes
 * back to the queue with the same attempt and no retry used; alone on its
 * provider it waits a capacity delay with the reason in the queue, and
 * with a provider list it goes on to the next provider at once.
 */
static void test_no_capacity(void)
{
	struct fake_job_info fi;
	int64_t id;
	char reason[256];
	cJSON *st;
	int subs = fake_calls("fake", FAKE_SUBMIT);

	fake_fail("fake", FAKE_SUBMIT, 1, TFS_EAGAIN,
		  "no capacity for 1xA100 on fake");
	id = start_fake("cap", "alone", NULL);
	CHECK(wait_queue("cap/alone priority=0 provider=fake no capacity "
			 "for 1xA100 on fake; trying again at "));
	CHECK(fake_calls("fake", FAKE_SUBMIT) == subs + 1);
	CHECK(!fake_job("cap/alone", 1, &fi));
	st = status_of(id);
	CHECK_STR(jstr(st, "state"), "queued");
	CHECK(jnum(st, "attempt") == 0);     /* attempt 1 again when it starts */
	CHECK_STR(jstr(st, "no_capacity"), "no capacity for 1xA100 on fake");
	CHECK(!jnull(st, "retry_at"));
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "no capacity for 1xA100 on fake; trying "
		  "again in 30 s"));
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_end(id) == RS_STOPPED);

	/* a list: the next provider at once, the same attempt there */
	fake_fail("fake", FAKE_SUBMIT, 1, TFS_EAGAIN,
		  "no capacity for 1xA100 on fake");
	id = start(exp_id("cap"), "list", "{\"provider\": [\"fake\", "
		   "\"fake2\"], \"command\": [\"train\"]}");
	CHECK(wait_job("cap/list", 1, &fi));
	CHECK(fi.submits == 1);
	CHECK(wait_state(id, RS_RUNNING));
	st = status_of(id);
	CHECK_STR(jstr(st, "provider"), "fake2");
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "no capacity for 1xA100 on fake; trying the "
		  "next provider of its list"));
	CHECK(has(id, RF_EVENTS, "provider choice: fake2 (first without a "
		  "price: fake2: no price; fake: no capacity for 1xA100 on "
		  "fake)"));
	CHECK(!has(id, RF_EVENTS, "retry"));
	fake_job_end("cap/list", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id) == RS_COMPLETED);
}

/* While a run waits out its backoff, the queue says until when. */
static void test_backoff_reason(void)
{
	int64_t id;

	fake_plan("retry/later", 1, JOB_FAILED, 1, "exit code 1", 0);
	id = start_fake("retry", "later", "\"max_retries\": 1");
	CHECK(wait_queue("retry/later priority=0 provider=fake retry "
			 "backoff until "));
	CHECK(wait_state(id, RS_RUNNING));
	fake_job_end("retry/later", 2, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id) == RS_COMPLETED);
}

static int fake_pings3(const void *arg)
{
	return fake_calls("fake", FAKE_PING) >= *(const int *)arg + 3;
}

/*
 * A provider whose calls fail is "unreachable: <its reason>" and is asked
 * less and less often: each failed pass at least doubles the wait.
 */
static void test_provider_backoff(void)
{
	int64_t t[3];
	int base;
	char *s;

	fake_fail("fake", FAKE_PING, -1, TFS_EIO, "connection refused");
	CHECK(wait_prov("fake", "unreachable: connection refused\n"));
	/* from here on every ping fails, each after a failed one */
	base = fake_calls("fake", FAKE_PING);
	CHECK(wait_for(fake_pings3, &base));
	CHECK(fake_call_times("fake", FAKE_PING, t, 3) == 3);
	CHECK(t[1] - t[0] >= 2 * FAKE_POLL_MS);
	CHECK(t[2] - t[1] >= 4 * FAKE_POLL_MS);
	s = prov_status("local");
	CHECK(!strncmp(s, "ok\n", 3));
	free(s);
	fake_fail("fake", FAKE_PING, 0, TFS_OK, "");
	CHECK(wait_prov("fake", "ok\n"));
}

/* Preempted: a new attempt of the same run id, which then completes. */
static void test_preempt(void)
{
	struct fake_job_info a1, a2;
	int64_t id;
	cJSON *st;
	char *t;

	fake_plan("pre/spot", 1, JOB_PREEMPTED, -1, "spot instance reclaimed",
		  0);
	id = start_fake("pre", "spot", "\"max_retries\": 1");
	CHECK(wait_job("pre/spot", 2, &a2));
	CHECK(wait_state(id, RS_RUNNING));
	CHECK(fake_job("pre/spot", 1, &a1));
	CHECK_STR(a1.run_id, a2.run_id);
	CHECK(a1.submits == 1 && a2.submits == 1);
	CHECK(has(id, RF_EVENTS, "spot instance reclaimed, retry 1 of 1"));
	st = status_of(id);
	CHECK(jnum(st, "attempt") == 2);
	CHECK_STR(jstr(st, "run_id"), a1.run_id);
	CHECK_STR(jstr(st, "provider_job_id"), a2.job_id);
	cJSON_Delete(st);
	fake_job_end("pre/spot", 2, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id) == RS_COMPLETED);
	t = log_of(id);
	CHECK(strstr(t, "--- trainfs: attempt 2 ---\n") != NULL);
	free(t);
	/* preempted with no retries left: failed, with the provider's words */
	fake_plan("pre/last", 1, JOB_PREEMPTED, -1, "host maintenance", 0);
	id = start_fake("pre", "last", NULL);
	CHECK(wait_end(id) == RS_FAILED);
	st = status_of(id);
	CHECK_STR(jstr(st, "reason"), "host maintenance");
	cJSON_Delete(st);
}

static int has_job_id(const void *id)
{
	cJSON *st = status_of(*(const int64_t *)id);
	const char *j = jstr(st, "provider_job_id");
	int yes = j && j[0];

	cJSON_Delete(st);
	return yes;
}

/*
 * A submission's job id is recorded before the pass polls: while the
 * poll hangs (a provider slow to list its jobs), a run submitted in that
 * pass already shows its job.
 */
static void test_id_before_poll(void)
{
	struct fake_job_info fi;
	int64_t a, b;

	a = start_fake("early", "a", NULL);
	CHECK(wait_state(a, RS_RUNNING));
	fake_hang_call("fake", FAKE_POLL, 1);
	b = start_fake("early", "b", NULL);
	CHECK(wait_job("early/b", 1, &fi));
	CHECK(wait_for(fake_hangs, "fake"));
	CHECK(wait_for(has_job_id, &b));
	fake_hang_call("fake", FAKE_POLL, 0);
	CHECK(wait_state(b, RS_RUNNING));
	fake_job_end("early/a", 1, JOB_COMPLETED, 0, "");
	fake_job_end("early/b", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(a) == RS_COMPLETED);
	CHECK(wait_end(b) == RS_COMPLETED);
}

static int two_hung(const void *prov)
{
	return fake_hung(prov) == 2;
}

/*
 * A provider with two submit lanes has two submissions in flight at once:
 * both hang together (and fail "timed out" once released), and the third
 * run, taken by the first lane free, is submitted once and runs.
 */
static void test_submit_lanes(void)
{
	static const char cfg[] = "{\"provider\": \"lanes\", "
				  "\"command\": [\"train\"]}";
	struct fake_job_info fi;
	int64_t exp = exp_id("lanes"), a, b, c;

	/* the three are queued while the provider's thread waits in a
	 * ping, so that one pass takes them all */
	fake_hang_call("lanes", FAKE_PING, 1);
	CHECK(wait_for(fake_hangs, "lanes"));
	a = start(exp, "a", cfg);
	b = start(exp, "b", cfg);
	c = start(exp, "c", cfg);
	fake_hang_call("lanes", FAKE_SUBMIT, 1);
	fake_hang_call("lanes", FAKE_PING, 0);
	CHECK(wait_for(two_hung, "lanes"));
	fake_hang_call("lanes", FAKE_SUBMIT, 0);
	CHECK(wait_end(a) == RS_FAILED);
	CHECK(wait_end(b) == RS_FAILED);
	CHECK(wait_state(c, RS_RUNNING));
	CHECK(fake_job("lanes/c", 1, &fi) && fi.submits == 1);
	fake_job_end("lanes/c", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(c) == RS_COMPLETED);
}

static int cancel_seen(const void *run)
{
	struct fake_job_info fi;

	return fake_job(run, 1, &fi) && fi.cancel_unconfirmed > 0;
}

static int finds_more(const void *arg)
{
	return fake_calls("fake", FAKE_FIND) > *(const int *)arg + 2;
}

/*
 * A submission the provider has not confirmed: the run stays initializing
 * and is asked about again, never submitted twice nor retried; a cancel
 * then is passed on at once and holds when the job is confirmed: the job
 * never runs.
 */
static void test_cancel_unconfirmed(void)
{
	struct fake_job_info fi;
	int64_t id;
	int finds;
	cJSON *st;

	fake_plan("unconf/held", 1, JOB_RUNNING, 0, NULL, 1);
	id = start_fake("unconf", "held", "\"max_retries\": 1");
	CHECK(wait_job("unconf/held", 1, &fi));
	CHECK(wait_state(id, RS_INITIALIZING));
	finds = fake_calls("fake", FAKE_FIND);
	CHECK(wait_for(finds_more, &finds));
	CHECK(state_of(id) == RS_INITIALIZING);
	st = status_of(id);
	CHECK(jstr(st, "reason") &&
	      strstr(jstr(st, "reason"), "not confirmed yet") != NULL);
	cJSON_Delete(st);
	CHECK(!has(id, RF_EVENTS, "retry"));
	CHECK(fake_job("unconf/held", 1, &fi) && fi.submits == 1);

	CHECK(ctl(id, "cancel", NULL, 0) == TFS_OK);
	CHECK(wait_for(cancel_seen, "unconf/held"));
	fake_confirm("unconf/held", 1);
	CHECK(wait_end(id) == RS_STOPPED);
	st = status_of(id);
	CHECK_STR(jstr(st, "reason"), "cancelled");
	cJSON_Delete(st);
	CHECK(fake_job("unconf/held", 1, &fi));
	CHECK(!fi.ran);
	CHECK(fi.submits == 1);
	CHECK(!fake_job("unconf/held", 2, &fi));
}

/* A job the provider no longer knows: lost, retried when it may be. */
static void test_forget(void)
{
	int64_t a = start_fake("lost", "again", "\"max_retries\": 1");
	int64_t b = start_fake("lost", "once", NULL);
	struct fake_job_info fi;
	cJSON *st;

	CHECK(wait_state(a, RS_RUNNING));
	CHECK(wait_state(b, RS_RUNNING));
	fake_forget("lost/again", 1);
	fake_forget("lost/once", 1);
	CHECK(wait_end(b) == RS_FAILED);
	st = status_of(b);
	CHECK_STR(jstr(st, "reason"), "job lost: the provider does not know it");
	cJSON_Delete(st);
	CHECK(wait_job("lost/again", 2, &fi));
	CHECK(wait_state(a, RS_RUNNING));
	CHECK(has(a, RF_EVENTS, "job lost: the provider does not know it, "
		  "retry 1 of 1"));
	fake_job_end("lost/again", 2, JOB_COMPLETED, 0, "");
	CHECK(wait_end(a) == RS_COMPLETED);
}

/*
 * The daemon stops while a submission is unconfirmed; the provider
 * confirms it meanwhile; the next daemon finds the job with find() and
 * adopts it instead of submitting again.
 */
static void test_restart_adopt(void)
{
	struct fake_job_info fi;
	int64_t id;
	cJSON *st;

	fake_plan("adopt/job", 1, JOB_RUNNING, 0, NULL, 1);
	id = start_fake("adopt", "job", NULL);
	CHECK(wait_job("adopt/job", 1, &fi));
	CHECK(wait_state(id, RS_INITIALIZING));
	core_close(core);
	fake_confirm("adopt/job", 1);
	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	CHECK(wait_state(id, RS_RUNNING));
	CHECK(fake_job("adopt/job", 1, &fi));
	CHECK(fi.submits == 1);
	CHECK(fi.ran);
	st = status_of(id);
	CHECK_STR(jstr(st, "provider_job_id"), fi.job_id);
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "attempt 1 submitted to fake as job fake-"));
	fake_job_end("adopt/job", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id) == RS_COMPLETED);
}

struct log_want {
	int64_t id;
	const char *text;
};

static int log_has(const void *arg)
{
	const struct log_want *w = arg;
	char *t = log_of(w->id);
	int hit = strstr(t, w->text) != NULL;

	free(t);
	return hit;
}

/* How often needle is in hay. */
static int count_of(const char *hay, const char *needle)
{
	int n = 0;

	while ((hay = strstr(hay, needle))) {
		n++;
		hay += strlen(needle);
	}
	return n;
}

/* The number in the fake's job id "fake-N" of run's attempt 1, or -1. */
static int job_no(const char *run)
{
	struct fake_job_info fi;

	return fake_job(run, 1, &fi) ? atoi(fi.job_id + 5) : -1;
}

/*
 * Capacity: six one-cpu runs on a provider with two slots never have
 * more than two jobs there at once and start in submission order, each
 * when one before it ends; a two-cpu run there runs alone, the one-cpu
 * run behind it waiting for the cpu.
 */
static void test_capacity(void)
{
	static const char one[] = "{\"provider\": \"fake2\", "
				  "\"command\": [\"train\"]}";
	int64_t exp = exp_id("cap"), id[6], wide, narrow;
	char name[16], run[32], *t;
	int i, order = 1;

	for (i = 0; i < 6; i++) {
		snprintf(name, sizeof(name), "j%d", i);
		id[i] = start(exp, name, one);
	}
	for (i = 0; i < 6; i++) {
		CHECK(wait_state(id[i], RS_RUNNING));
		if (i >= 1 && i + 1 < 6) {
			/* two run: the next waits for a slot, and says so */
			CHECK(state_of(id[i + 1]) == RS_QUEUED);
			snprintf(run, sizeof(run), "cap/j%d", i + 1);
			CHECK(job_no(run) == -1);
			t = queue_text();
			CHECK(strstr(t, "no free slot on fake2 (2/2 jobs)") !=
			      NULL);
			free(t);
		}
		if (i >= 1) {
			snprintf(run, sizeof(run), "cap/j%d", i - 1);
			fake_job_end(run, 1, JOB_COMPLETED, 0, "");
			CHECK(wait_end(id[i - 1]) == RS_COMPLETED);
		}
	}
	fake_job_end("cap/j5", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id[5]) == RS_COMPLETED);
	CHECK(fake_max_live("fake2") == 2);
	for (i = 1; i < 6; i++) {
		char prev[32];

		snprintf(prev, sizeof(prev), "cap/j%d", i - 1);
		snprintf(run, sizeof(run), "cap/j%d", i);
		order &= job_no(prev) < job_no(run);
	}
	CHECK(order);

	wide = start(exp, "wide", "{\"provider\": \"fake2\", \"command\": "
		     "[\"train\"], \"resources\": {\"cpus\": 2}}");
	CHECK(wait_state(wide, RS_RUNNING));
	narrow = start(exp, "narrow", one);
	t = queue_text();
	CHECK(strstr(t, "cap/narrow priority=0 provider=fake2 needs 1 cpus, 0 "
		     "free on fake2") != NULL);
	free(t);
	CHECK(job_no("cap/narrow") == -1);
	fake_job_end("cap/wide", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(wide) == RS_COMPLETED);
	CHECK(wait_state(narrow, RS_RUNNING));
	fake_job_end("cap/narrow", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(narrow) == RS_COMPLETED);
}

/*
 * A remote job's log and metrics arrive through sync(), each byte once,
 * across a restart too; the last bytes are in before the run turns final.
 */
static void test_sync(void)
{
	int64_t id = start_fake("sync", "remote", NULL);
	struct log_want w = { id, "epoch one\n" };
	char *t;

	CHECK(wait_state(id, RS_RUNNING));
	fake_remote("sync/remote", 1, "epoch one\n{\"loss\": 0.5}\n",
		    "{\"acc\": 0.75}\n");
	CHECK(wait_for(log_has, &w));
	core_close(core);
	fake_remote("sync/remote", 1, "epoch two\n", NULL);
	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	w.text = "epoch two\n";
	CHECK(wait_for(log_has, &w));
	fake_remote("sync/remote", 1, "{\"loss\": 0.25}\nthe end\n",
		    "{\"acc\": 0.875}\n");
	fake_job_end("sync/remote", 1, JOB_COMPLETED, 0, "");
	CHECK(wait_end(id) == RS_COMPLETED);
	t = log_of(id);
	CHECK(count_of(t, "epoch one\n") == 1);
	CHECK(count_of(t, "epoch two\n") == 1);
	CHECK(count_of(t, "the end\n") == 1);
	free(t);
	t = rf(id, RF_METRICS);
	CHECK(strstr(t, "loss 0.25\n") != NULL);
	CHECK(strstr(t, "acc 0.875\n") != NULL);
	free(t);
	t = rf(id, RF_METRICS_JSONL);
	CHECK(count_of(t, "\"key\":\"loss\"") == 2);
	CHECK(count_of(t, "\"key\":\"acc\"") == 2);
	free(t);
}

/*
 * A connector keeps the struct connector its init() was given (slurm.c and
 * cloud.c read their stopping flag through it): the core must never move
 * it. Before, the providers' array grew by realloc as each was added, and
 * every provider but the last kept a pointer into freed memory.
 */
static void test_conn_stable(void)
{
	int k, seen = 0;

	for (k = 0; k < core->nprovs; k++) {
		if (strcmp(core->provs[k].conn.ops->type, "fake"))
			continue;
		CHECK(fake_conn(core->provs[k].conn.name) ==
		      &core->provs[k].conn);
		seen++;
	}
	CHECK(seen == 3);
}

int main(void)
{
	static const char conf[] =
		"{\"poll_interval_ms\": 50, \"kill_grace_s\": 1, "
		"\"retry_backoff_s\": 1, \"retry_backoff_max_s\": 2, "
		"\"providers\": {"
		"\"local\": {\"type\": \"local\", \"slots\": "
		"{\"cpus\": 2, \"max_jobs\": 2}}, "
		"\"fake\": {\"type\": \"fake\", \"poll_ms\": 300}, "
		"\"fake2\": {\"type\": \"fake\", \"cpus\": 2, \"max_jobs\": 2, "
		"\"poll_ms\": 300}, "
		"\"lanes\": {\"type\": \"fake\", \"submit_lanes\": 2, "
		"\"poll_ms\": 300}}}";

	log_set_level(LOG_CRIT);
	CHECK(fake_register() == TFS_OK);
	CHECK(fake_register() == TFS_EEXIST);
	CHECK(connector_find("fake") == &fake_connector_ops);
	snprintf(root, sizeof(root), "/tmp/tfs-fake-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	snprintf(conf_path, sizeof(conf_path), "%s/config.json", root);
	CHECK(file_write_atomic(conf_path, conf, strlen(conf), 0) == TFS_OK);
	core = open_core();
	CHECK(core != NULL);
	if (core) {
		test_conn_stable();
		test_hang();
		test_retries();
		test_backoff_reason();
		test_no_capacity();
		test_provider_backoff();
		test_preempt();
		test_id_before_poll();
		test_submit_lanes();
		test_cancel_unconfirmed();
		test_forget();
		test_restart_adopt();
		test_sync();
		test_capacity();
	}
	fake_hang("fake", 0);
	runs_cleanup();
	core_close(core);
	rm_rf(root);
	return TEST_REPORT();
}
