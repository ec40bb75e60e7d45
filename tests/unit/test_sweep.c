/*
 * test_sweep.c - a sweep carries on from every step a crash can leave a
 * trial at (core/sweep.c, "Exactly once"): params stored but no run; a run
 * made but its id not stored; the id stored but the run not submitted;
 * the run submitted but the trial not marked active. The store is set to
 * each of those with the core closed, as a kill -9 would leave it; the
 * reopened core must end with one run per trial, each submitted once,
 * with the params that were stored.
 */
#include <sqlite3.h>

#include "test.h"
#include "corekit.h"

static int write_config(void)
{
	static const char text[] =
		"{\"poll_interval_ms\": 50, \"kill_grace_s\": 1,"
		" \"providers\": {\"local\": {\"type\": \"local\","
		" \"slots\": {\"cpus\": 4, \"max_jobs\": 4}}}}";

	return file_write_atomic(conf_path, text, sizeof(text) - 1, 0600);
}

static int sweep_state(int64_t id)
{
	struct core_sweep_info wi;

	return core_sweep_get(core, id, &wi) ? -1 : wi.state;
}

static int wait_sweep(int64_t id, int want)
{
	int64_t deadline = mono_ms() + 3 * WAIT_MS;

	while (mono_ms() < deadline) {
		if (sweep_state(id) == want)
			return 1;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "sweep %lld: is %s, not %s\n", (long long)id,
		sweep_state_name(sweep_state(id)), sweep_state_name(want));
	return 0;
}

static int64_t run_id(int64_t exp, const char *name)
{
	struct core_run_info ri;

	return core_run_lookup(core, exp, name, &ri) ? 0 : ri.id;
}

/* How many times the run's events say its config was submitted. */
static int submissions(int64_t id)
{
	char *ev = rf(id, RF_EVENTS), *p = ev;
	int n = 0;

	while ((p = strstr(p, "submitted to 'local' (config"))) {
		n++;
		p++;
	}
	free(ev);
	return n;
}

static int sql(const char *db, const char *text)
{
	sqlite3 *h;
	char *err = NULL;
	int r;

	if (sqlite3_open(db, &h) != SQLITE_OK)
		return -1;
	r = sqlite3_exec(h, text, NULL, NULL, &err);
	if (r != SQLITE_OK)
		fprintf(stderr, "sql: %s\n", err ? err : "?");
	sqlite3_free(err);
	sqlite3_close(h);
	return r == SQLITE_OK ? 0 : -1;
}

static const char spec[] =
	"{\"base\": {\"command\": [\"sh\", \"-c\", "
	"\"sleep 1; echo '{\\\"loss\\\": {x}}'\"]},"
	" \"space\": {\"x\": {\"int\": [0, 1000]}},"
	" \"objective\": {\"metric\": \"loss\", \"mode\": \"min\"},"
	" \"method\": \"random\", \"seed\": 5, \"max_trials\": 5,"
	" \"parallelism\": 1}";

static void test_crash_windows(void)
{
	char reason[512] = "", db[600], text[2048], *t, uuid4[40] = "";
	int64_t exp = exp_id("crash"), sid, r2, r3, r4, id;
	cJSON *st;
	int i;

	CHECK(core_sweep_create(core, exp, "s", &sid, reason,
				sizeof(reason)) == TFS_OK);
	CHECK(core_sweep_submit(core, sid, spec, strlen(spec), reason,
				sizeof(reason)) == TFS_OK);
	/* trial 1 runs (1 s); the runs of trials 2..4 are made by hand
	 * meanwhile, as the sweep would have made them before the crash */
	for (i = 0; i < 250 && !run_id(exp, "s-001"); i++)
		sleep_ms(STEP_MS);
	CHECK(run_id(exp, "s-001") != 0);
	r2 = mkrun(exp, "s-002");
	r3 = mkrun(exp, "s-003");
	r4 = mkrun(exp, "s-004");
	/* s-002 was submitted before the crash (window 4) */
	CHECK(submit(r2, "{\"command\": [\"sh\", \"-c\", \"sleep 0.3; echo "
		     "'{\\\"loss\\\": 7}'\"], \"params\": {\"x\": 7}}", NULL,
		     0) == TFS_OK);
	st = status_of(r4);
	snprintf(uuid4, sizeof(uuid4), "%s", jstr(st, "run_id") ?
		 jstr(st, "run_id") : "");
	cJSON_Delete(st);
	CHECK(strlen(uuid4) == 36);
	/* closed while trial 1 still runs: its end is seen after */
	CHECK(state_of(run_id(exp, "s-001")) != RS_COMPLETED);
	core_close(core);
	core = NULL;

	/* the store as a kill -9 leaves it: trial 2 NEW with its submitted
	 * run's id, trial 3 NEW with its made run's id, trial 4 NEW without
	 * the id of the run made for it (but its UUID, stored before the run
	 * was made); trial 1 active, its run running */
	snprintf(db, sizeof(db), "%s/trainfs.db", state_dir);
	snprintf(text, sizeof(text),
		 "DELETE FROM trials WHERE sweep_id = %lld AND n > 0;"
		 "INSERT INTO trials(sweep_id, n, run_id, params, state, "
		 "run_uuid) VALUES"
		 " (%lld, 1, %lld, '{\"x\":7}', 0, NULL),"
		 " (%lld, 2, %lld, '{\"x\":3}', 0, NULL),"
		 " (%lld, 3, 0, '{\"x\":4}', 0, '%s');",
		 (long long)sid, (long long)sid, (long long)r2,
		 (long long)sid, (long long)r3, (long long)sid, uuid4);
	CHECK(sql(db, text) == 0);

	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	CHECK(wait_sweep(sid, SWEEP_COMPLETED));
	for (i = 1; i <= 5; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s-%03d", i);
		id = run_id(exp, name);
		CHECK(id != 0);
		CHECK(wait_end(id) == RS_COMPLETED);
		if (submissions(id) != 1)
			fprintf(stderr, "%s submitted %d times\n", name,
				submissions(id));
		CHECK(submissions(id) == 1);
	}
	CHECK(run_id(exp, "s-006") == 0);
	CHECK(run_id(exp, "s-004") == r4);     /* adopted, not made again */
	/* the stored params were kept: trial 3 ran x=3, trial 4 x=4 */
	CHECK(has(r3, RF_METRICS, "loss 3\n"));
	CHECK(has(r4, RF_METRICS, "loss 4\n"));
	{
		struct buf b = BUF_INIT(0);

		CHECK(core_sweep_read(core, sid, SF_TRIALS, &b) == TFS_OK);
		t = b.p ? b.p : "";
		CHECK(strstr(t, "s-002  completed") != NULL);
		CHECK(strstr(t, "s-005  completed") != NULL);
		buf_release(&b);
		b = (struct buf)BUF_INIT(0);
		CHECK(core_sweep_read(core, sid, SF_BEST, &b) == TFS_OK);
		CHECK(b.p && strstr(b.p, "loss    3\n"));
		buf_release(&b);
	}
}

/*
 * Runs named like a sweep's trials that are not its own: refused at
 * sweep.json's close when they are there already (an earlier sweep of
 * that name, a run made by hand), and, made by hand while the sweep runs,
 * never adopted: the sweep fails saying why, and ends so that it can be
 * removed.
 */
static void test_name_taken(void)
{
	char reason[512] = "";
	int64_t exp = exp_id("taken"), sid, other, stray;
	struct buf b = BUF_INIT(0);
	static const char slow[] =
		"{\"base\": {\"command\": [\"sh\", \"-c\", "
		"\"sleep 0.5; echo '{\\\"loss\\\": {x}}'\"]},"
		" \"space\": {\"x\": {\"int\": [0, 1000]}},"
		" \"objective\": {\"metric\": \"loss\"},"
		" \"method\": \"random\", \"max_trials\": 3,"
		" \"parallelism\": 1}";

	other = start_sh(exp, "t-001", "local", "echo '{\"loss\": 1}'", NULL);
	CHECK(other != 0);
	CHECK(core_sweep_create(core, exp, "t", &sid, reason,
				sizeof(reason)) == TFS_OK);
	CHECK(core_sweep_submit(core, sid, spec, strlen(spec), reason,
				sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "run 't-001' exists already") != NULL);
	CHECK(core_sweep_read(core, sid, SF_EVENTS, &b) == TFS_OK);
	CHECK(b.p && strstr(b.p, "sweep.json rejected: run 't-001'"));
	buf_release(&b);
	CHECK(sweep_state(sid) == SWEEP_CREATED);
	CHECK(submissions(other) == 1);

	/* u-002 made by hand while u's trial 1 runs */
	CHECK(core_sweep_create(core, exp, "u", &sid, reason,
				sizeof(reason)) == TFS_OK);
	CHECK(core_sweep_submit(core, sid, slow, strlen(slow), reason,
				sizeof(reason)) == TFS_OK);
	stray = mkrun(exp, "u-002");
	CHECK(stray != 0);
	CHECK(wait_sweep(sid, SWEEP_FAILED));
	b = (struct buf)BUF_INIT(0);
	CHECK(core_sweep_read(core, sid, SF_EVENTS, &b) == TFS_OK);
	CHECK(b.p && strstr(b.p, "run 'u-002' exists and is not this "
			       "sweep's"));
	buf_release(&b);
	CHECK(state_of(stray) == RS_CREATED);      /* not taken over */
	CHECK(wait_end(run_id(exp, "u-001")) == RS_COMPLETED);
	/* every trial ended: the failed sweep can go */
	{
		int64_t deadline = mono_ms() + WAIT_MS;
		int r;

		while ((r = core_sweep_remove(core, exp, "u")) == TFS_EBUSY &&
		       mono_ms() < deadline)
			sleep_ms(STEP_MS);
		CHECK(r == TFS_OK);
	}
}

int main(void)
{
	log_set_level(LOG_CRIT);
	snprintf(root, sizeof(root), "/tmp/tfs-sweep-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	snprintf(conf_path, sizeof(conf_path), "%s/config.json", root);
	CHECK(write_config() == TFS_OK);
	core = open_core();
	CHECK(core != NULL);
	if (core) {
		test_crash_windows();
		if (core)
			test_name_taken();
	}
	if (core)
		core_close(core);
	rm_rf(root);
	return TEST_REPORT();
}
