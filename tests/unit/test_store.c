/*
 * test_store.c - the SQLite store on a real database in a temporary
 * directory: experiments (unique names, rename, description, delete that
 * takes runs, events and metrics with it), every field of a run through
 * insert, update and load, configs, events, metrics, templates,
 * transactions that roll back or survive a reopen, the refusal of a
 * database written by a newer trainfs, and what a failure is said as: a
 * full database, a read-only one and a value over SQLite's bound each give
 * their own code and a reason in the log, and fail the transaction they
 * are in; and that only a durable transaction's commit syncs.
 */
#define _GNU_SOURCE
#include "store.h"
#include "util.h"
#include "test.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

static char root[256];
static char dbpath[PATH_MAX];
static int64_t first_run;       /* "r1", checked again after a reopen */

static struct store *reopen(struct store *s)
{
	char err[256] = "";
	struct store *n = NULL;

	store_close(s);
	if (store_open(dbpath, &n, err, sizeof(err)))
		fprintf(stderr, "reopen: %s\n", err);
	return n;
}

/* PRAGMA user_version of the file, read with SQLite directly. */
static int user_version(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st;
	int v = -1;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) ==
	    SQLITE_OK) {
		if (sqlite3_step(st) == SQLITE_ROW)
			v = sqlite3_column_int(st, 0);
		sqlite3_finalize(st);
	}
	sqlite3_close(db);
	return v;
}

/* ---- experiments ---- */

struct exp_seen {
	int n;
	int64_t ids[16];
	char names[16][TFS_NAME_MAX + 1];
	int64_t created[16], mtime[16];
};

static int exp_cb(void *arg, int64_t id, const char *name, int64_t created,
		  int64_t mtime, const char *objective)
{
	(void)objective;
	struct exp_seen *s = arg;

	if (s->n < 16) {
		s->ids[s->n] = id;
		snprintf(s->names[s->n], sizeof(s->names[0]), "%s", name);
		s->created[s->n] = created;
		s->mtime[s->n] = mtime;
	}
	s->n++;
	return 0;
}

static int exp_stop_cb(void *arg, int64_t id, const char *name,
		       int64_t created, int64_t mtime, const char *objective)
{
	(void)objective;
	(void)id;
	(void)name;
	(void)created;
	(void)mtime;
	++*(int *)arg;
	return 1;       /* non-zero stops the walk and is returned */
}

static void test_experiments(struct store *s)
{
	struct exp_seen seen = { 0 };
	struct buf b = BUF_INIT(0);
	int64_t a = 0, b2 = 0, dup = -1;
	int calls = 0;

	CHECK(store_exp_insert(s, "alpha", 1000, &a) == TFS_OK);
	CHECK(store_exp_insert(s, "beta", 2000, &b2) == TFS_OK);
	CHECK(a > 0 && b2 > a);
	CHECK(store_exp_insert(s, "alpha", 3000, &dup) == TFS_EEXIST);
	CHECK(dup == -1);
	/* the failed insert left the prepared statement usable */
	CHECK(store_exp_insert(s, "gamma", 3000, &dup) == TFS_OK);
	CHECK(dup > b2);

	CHECK(store_exp_load(s, exp_cb, &seen) == TFS_OK);
	CHECK(seen.n == 3);
	CHECK(seen.ids[0] == a && seen.ids[1] == b2 && seen.ids[2] == dup);
	CHECK_STR(seen.names[0], "alpha");
	CHECK_STR(seen.names[1], "beta");
	CHECK(seen.created[0] == 1000 && seen.mtime[0] == 1000);
	CHECK(store_exp_load(s, exp_stop_cb, &calls) == 1);
	CHECK(calls == 1);

	CHECK(store_exp_rename(s, dup, "beta") == TFS_EEXIST);
	CHECK(store_exp_rename(s, dup, "delta") == TFS_OK);
	memset(&seen, 0, sizeof(seen));
	store_exp_load(s, exp_cb, &seen);
	CHECK(seen.n == 3);
	CHECK_STR(seen.names[2], "delta");
	/* the old name is free again */
	CHECK(store_exp_insert(s, "gamma", 4000, &dup) == TFS_OK);
	CHECK(store_exp_delete(s, dup) == TFS_OK);

	CHECK(store_exp_description(s, a, &b) == TFS_OK);
	CHECK(b.len == 0);
	CHECK(store_exp_set_description(s, a, "tuning the lr\nsecond line\n",
					5000) == TFS_OK);
	buf_reset(&b);
	CHECK(store_exp_description(s, a, &b) == TFS_OK);
	CHECK_STR(b.p, "tuning the lr\nsecond line\n");
	memset(&seen, 0, sizeof(seen));
	store_exp_load(s, exp_cb, &seen);
	CHECK(seen.mtime[0] == 5000 && seen.created[0] == 1000);
	buf_reset(&b);
	CHECK(store_exp_description(s, 999999, &b) == TFS_ENOENT);
	buf_release(&b);
}

/* ---- runs ---- */

struct run_copy {
	int found;
	int64_t id, exp_id;
	char name[TFS_NAME_MAX + 1], uuid[40];
	int state, attempt, priority, max_retries;
	int provider_null, job_id_null, reason_null, kind_null, sha_null;
	char provider[64], job_id[64], reason[256], kind[32], sha[65];
	int exit_code;
	int64_t created_ms, submitted_ms, started_ms, ended_ms, updated_ms;
	int64_t retry_at_ms, attempt_started_ms, cost_ms, held_ms;
	double cost_usd;
	int cancel_requested;
	int64_t log_offset, mfile_offset, step_counter;
};

struct run_find {
	int64_t want;
	int count;
	struct run_copy c;
};

static void copy_str(char *out, size_t len, int *isnull, const char *v)
{
	*isnull = v == NULL;
	snprintf(out, len, "%s", v ? v : "");
}

static int run_cb(void *arg, const struct store_run *r)
{
	struct run_find *f = arg;
	struct run_copy *c = &f->c;

	f->count++;
	if (r->id != f->want)
		return 0;
	c->found = 1;
	c->id = r->id;
	c->exp_id = r->exp_id;
	snprintf(c->name, sizeof(c->name), "%s", r->name);
	snprintf(c->uuid, sizeof(c->uuid), "%s", r->uuid);
	c->state = r->state;
	c->attempt = r->attempt;
	c->priority = r->priority;
	c->max_retries = r->max_retries;
	copy_str(c->provider, sizeof(c->provider), &c->provider_null,
		 r->provider);
	copy_str(c->job_id, sizeof(c->job_id), &c->job_id_null, r->job_id);
	copy_str(c->reason, sizeof(c->reason), &c->reason_null, r->reason);
	copy_str(c->kind, sizeof(c->kind), &c->kind_null, r->kind);
	copy_str(c->sha, sizeof(c->sha), &c->sha_null, r->config_sha);
	c->exit_code = r->exit_code;
	c->created_ms = r->created_ms;
	c->submitted_ms = r->submitted_ms;
	c->started_ms = r->started_ms;
	c->ended_ms = r->ended_ms;
	c->updated_ms = r->updated_ms;
	c->retry_at_ms = r->retry_at_ms;
	c->attempt_started_ms = r->attempt_started_ms;
	c->cost_usd = r->cost_usd;
	c->cost_ms = r->cost_ms;
	c->held_ms = r->held_ms;
	c->cancel_requested = r->cancel_requested;
	c->log_offset = r->log_offset;
	c->mfile_offset = r->mfile_offset;
	c->step_counter = r->step_counter;
	return 0;
}

static struct run_copy load_run(struct store *s, int64_t id, int *count)
{
	struct run_find f;

	memset(&f, 0, sizeof(f));
	f.want = id;
	CHECK(store_run_load(s, run_cb, &f) == TFS_OK);
	if (count)
		*count = f.count;
	return f.c;
}

static void test_runs(struct store *s)
{
	static const char sha[] =
		"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";
	struct store_run r;
	struct run_copy c;
	int64_t exp = 0, id = 0, id2 = 0, dup = -1;
	struct buf b = BUF_INIT(0);
	int n;

	CHECK(store_exp_insert(s, "runs-exp", 100, &exp) == TFS_OK);

	/* a fresh run: every optional string NULL, no exit code */
	memset(&r, 0, sizeof(r));
	r.exp_id = exp;
	r.name = "r1";
	r.uuid = "11111111-1111-4111-8111-111111111111";
	r.state = 0;
	r.exit_code = STORE_NO_EXIT;
	r.created_ms = 1700000000001LL;
	r.updated_ms = 1700000000002LL;
	CHECK(store_run_insert(s, &r, &id) == TFS_OK);
	CHECK(id > 0);
	first_run = id;
	c = load_run(s, id, NULL);
	CHECK(c.found);
	CHECK(c.exp_id == exp);
	CHECK_STR(c.name, "r1");
	CHECK_STR(c.uuid, "11111111-1111-4111-8111-111111111111");
	CHECK(c.provider_null && c.job_id_null && c.reason_null &&
	      c.kind_null && c.sha_null);
	CHECK(c.exit_code == STORE_NO_EXIT);
	CHECK(c.created_ms == 1700000000001LL && c.updated_ms == 1700000000002LL);
	CHECK(c.submitted_ms == 0 && c.started_ms == 0 && c.ended_ms == 0);

	/* the name is unique per experiment, the uuid everywhere */
	r.uuid = "22222222-2222-4222-8222-222222222222";
	CHECK(store_run_insert(s, &r, &dup) == TFS_EEXIST);
	r.name = "r2";
	r.uuid = "11111111-1111-4111-8111-111111111111";
	CHECK(store_run_insert(s, &r, &dup) == TFS_EEXIST);
	CHECK(dup == -1);
	r.uuid = "22222222-2222-4222-8222-222222222222";
	CHECK(store_run_insert(s, &r, &id2) == TFS_OK);

	/* every mutable field through update */
	memset(&r, 0, sizeof(r));
	r.id = id;
	r.exp_id = exp;
	r.name = "ignored-by-update";
	r.uuid = "ignored";
	r.state = 6;
	r.attempt = 3;
	r.priority = -42;
	r.max_retries = 7;
	r.provider = "local";
	r.job_id = "12345";
	r.exit_code = 0;
	r.reason = "exit code 0 - it's \"fine\"";
	r.kind = "evaluation";
	r.created_ms = 1;
	r.submitted_ms = 2;
	r.started_ms = 3;
	r.ended_ms = 4;
	r.updated_ms = 5;
	r.retry_at_ms = 1800000000000LL;
	r.cancel_requested = 2;
	r.log_offset = 5000000000LL;     /* past 32 bits */
	r.mfile_offset = 77;
	r.step_counter = 9;
	r.config_sha = sha;
	r.attempt_started_ms = 6;
	r.cost_usd = 0.125;
	r.cost_ms = 1800000000001LL;
	r.held_ms = 7200000;
	CHECK(store_run_set_scan(s, id, 5000000000LL, 77, 9) == TFS_OK);
	/* the scan position is the scan's own: an update leaves it alone */
	r.log_offset = r.mfile_offset = r.step_counter = 1;
	CHECK(store_run_update(s, &r) == TFS_OK);
	c = load_run(s, id, &n);
	CHECK(n == 2);
	CHECK(c.found);
	CHECK_STR(c.name, "r1");
	CHECK_STR(c.uuid, "11111111-1111-4111-8111-111111111111");
	CHECK(c.state == 6 && c.attempt == 3 && c.priority == -42 &&
	      c.max_retries == 7);
	CHECK(!c.provider_null && !c.job_id_null && !c.reason_null &&
	      !c.kind_null && !c.sha_null);
	CHECK_STR(c.provider, "local");
	CHECK_STR(c.job_id, "12345");
	CHECK_STR(c.reason, "exit code 0 - it's \"fine\"");
	CHECK_STR(c.kind, "evaluation");
	CHECK_STR(c.sha, sha);
	CHECK(c.exit_code == 0);        /* zero is an exit code, not "none" */
	CHECK(c.created_ms == 1 && c.submitted_ms == 2 && c.started_ms == 3 &&
	      c.ended_ms == 4 && c.updated_ms == 5);
	CHECK(c.retry_at_ms == 1800000000000LL);
	CHECK(c.attempt_started_ms == 6);
	CHECK(c.cost_usd == 0.125 && c.cost_ms == 1800000000001LL &&
	      c.held_ms == 7200000);
	CHECK(c.cancel_requested == 2);
	CHECK(c.log_offset == 5000000000LL && c.mfile_offset == 77 &&
	      c.step_counter == 9);

	/* negative exit codes, and strings back to NULL */
	r.exit_code = -9;
	r.provider = NULL;
	r.job_id = NULL;
	r.reason = NULL;
	r.kind = NULL;
	r.config_sha = NULL;
	CHECK(store_run_update(s, &r) == TFS_OK);
	c = load_run(s, id, NULL);
	CHECK(c.exit_code == -9);
	CHECK(c.provider_null && c.job_id_null && c.reason_null &&
	      c.kind_null && c.sha_null);
	r.exit_code = STORE_NO_EXIT;
	CHECK(store_run_update(s, &r) == TFS_OK);
	c = load_run(s, id, NULL);
	CHECK(c.exit_code == STORE_NO_EXIT);

	/* rename: unique within the experiment */
	CHECK(store_run_rename(s, id2, "r1") == TFS_EEXIST);
	CHECK(store_run_rename(s, id2, "r2b") == TFS_OK);
	c = load_run(s, id2, NULL);
	CHECK_STR(c.name, "r2b");

	/* configs: none until set */
	CHECK(store_run_config(s, id, &b) == TFS_ENOENT);
	CHECK(store_run_effective(s, id, &b) == TFS_ENOENT);
	CHECK(b.len == 0);
	/* len counts: the bytes after it are not stored */
	CHECK(store_run_set_config(s, id, "{\"command\":[\"true\"]}XYZ", 20,
				   "{\"command\":[\"true\"],\"provider\":\"local\"}")
	      == TFS_OK);
	CHECK(store_run_config(s, id, &b) == TFS_OK);
	CHECK_STR(b.p, "{\"command\":[\"true\"]}");
	CHECK(b.len == 20);
	buf_reset(&b);
	CHECK(store_run_effective(s, id, &b) == TFS_OK);
	CHECK_STR(b.p, "{\"command\":[\"true\"],\"provider\":\"local\"}");
	buf_reset(&b);
	/* appends, as documented */
	buf_puts(&b, ">");
	CHECK(store_run_config(s, id, &b) == TFS_OK);
	CHECK_STR(b.p, ">{\"command\":[\"true\"]}");
	buf_reset(&b);
	CHECK(store_run_config(s, 999999, &b) == TFS_ENOENT);

	/* delete: the run and its events and metrics */
	CHECK(store_event_add(s, id2, 10, "doomed") == TFS_OK);
	CHECK(store_metric_add(s, id2, 1, 10, "loss", 1.0) == TFS_OK);
	CHECK(store_run_delete(s, id2) == TFS_OK);
	c = load_run(s, id2, &n);
	CHECK(!c.found && n == 1);
	buf_reset(&b);
	store_events_format(s, id2, &b);
	store_metrics_latest(s, id2, &b);
	store_metrics_history(s, id2, &b);
	CHECK(b.len == 0);
	buf_release(&b);
}

/* ---- events and metrics ---- */

struct latest_seen {
	int n;
	char keys[8][64];
	double values[8];
};

static void latest_cb(void *arg, const char *key, double value)
{
	struct latest_seen *l = arg;

	if (l->n < 8) {
		snprintf(l->keys[l->n], sizeof(l->keys[0]), "%s", key);
		l->values[l->n] = value;
	}
	l->n++;
}

/*
 * metrics.jsonl of run as read by ranges: its size is the length of the
 * whole rendering (want), and a read of any range is that slice of it.
 */
static void test_history_ranges(struct store *s, int64_t run,
				const char *want)
{
	struct buf b = BUF_INIT(0);
	size_t len = strlen(want), off, size;
	int64_t got = -1;
	int ok = 1;

	CHECK(store_metrics_history_size(s, run, &got) == TFS_OK);
	CHECK(got == (int64_t)len);
	for (off = 0; off <= len + 2; off += 7) {
		for (size = 1; size < 140; size += 13) {
			size_t n = off >= len ? 0 : len - off < size ?
				   len - off : size;

			buf_reset(&b);
			if (store_metrics_history_read(s, run, (int64_t)off,
						       size, &b) != TFS_OK ||
			    b.len != n || (n && memcmp(b.p, want + off, n)))
				ok = 0;
		}
	}
	CHECK(ok);
	buf_reset(&b);
	CHECK(store_metrics_history_read(s, run, -1, 10, &b) == TFS_EINVAL);
	buf_release(&b);
}

/* A batch's latest values are its last point of each key, few keys or many. */
static void test_append_latest(struct store *s)
{
	struct store_point pts[64];
	char keys[30][8], want[30 * 16] = "";
	struct buf b = BUF_INIT(0);
	size_t i, n;
	int nk;

	for (nk = 2; nk <= 30; nk += 28) {
		int64_t run = 777000 + nk;

		for (i = 0; i < (size_t)nk; i++)
			snprintf(keys[i], sizeof(keys[i]), "k%02zu", i);
		/* every key twice, interleaved, then key 0 once more */
		for (n = 0; n < 2 * (size_t)nk; n++)
			pts[n] = (struct store_point){ (double)n, 1, keys[n % nk],
						       (double)n };
		pts[n++] = (struct store_point){ 99, 1, keys[0], 99 };
		CHECK(store_metrics_append(s, run, pts, n) == TFS_OK);
		want[0] = '\0';
		for (i = 0; i < (size_t)nk; i++)
			snprintf(want + strlen(want), sizeof(want) - strlen(want),
				 "k%02zu %zu\n", i, i ? nk + i : 99);
		buf_reset(&b);
		CHECK(store_metrics_latest(s, run, &b) == TFS_OK);
		CHECK_STR(b.p, want);
	}
	buf_release(&b);
}

struct reader {
	struct store *s;
	struct buf latest, history;
	int64_t size;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;

	store_metrics_latest(rd->s, 555, &rd->latest);
	store_metrics_history_size(rd->s, 555, &rd->size);
	store_metrics_history_read(rd->s, 555, 0, 4096, &rd->history);
	store_events_format(rd->s, 555, &rd->history);
	return NULL;
}

/*
 * Readers of metrics and events never wait for a write transaction: with
 * one open (a scan's batch), another thread reads the last commit.
 */
static void test_reads_during_write(struct store *s)
{
	struct reader rd = { s, BUF_INIT(0), BUF_INIT(0), -1 };
	struct buf b = BUF_INIT(0);
	struct timespec ts;
	pthread_t t;
	int joined = 0;

	CHECK(store_metric_add(s, 555, 1, 1000, "m", 1) == TFS_OK);
	CHECK(store_event_add(s, 555, 1000, "committed") == TFS_OK);
	CHECK(store_begin(s, 0) == TFS_OK);
	CHECK(store_metric_add(s, 555, 2, 2000, "m", 2) == TFS_OK);
	CHECK(store_event_add(s, 555, 2000, "not yet") == TFS_OK);
	if (pthread_create(&t, NULL, reader_main, &rd) == 0) {
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += 10;
		joined = pthread_timedjoin_np(t, NULL, &ts) == 0;
	}
	CHECK(joined);
	CHECK(store_commit(s) == TFS_OK);
	if (!joined)
		pthread_join(t, NULL);
	CHECK_STR(rd.latest.p, "m 1\n");
	CHECK(rd.size == (int64_t)strlen("{\"step\":1,\"time\":1.000,"
					 "\"key\":\"m\",\"value\":1}\n"));
	CHECK(rd.history.p && strstr(rd.history.p, "committed") &&
	      !strstr(rd.history.p, "not yet"));
	CHECK(store_metrics_latest(s, 555, &b) == TFS_OK);
	CHECK_STR(b.p, "m 2\n");
	buf_release(&b);
	buf_release(&rd.latest);
	buf_release(&rd.history);
}

static void test_events_metrics(struct store *s)
{
	struct buf b = BUF_INIT(0);
	struct latest_seen l = { 0 };
	int64_t run = 424242;        /* events need no run row */

	CHECK(store_events_format(s, run, &b) == TFS_OK);
	CHECK(b.len == 0);
	CHECK(store_event_add(s, run, 1700000000123LL, "state created -> "
			      "queued: waiting for a slot") == TFS_OK);
	CHECK(store_event_add(s, run, 1700000000000LL, "second, older "
			      "time, still second") == TFS_OK);
	CHECK(store_event_add(s, 0, 1700000000999LL, "a mount event") ==
	      TFS_OK);
	CHECK(store_events_format(s, run, &b) == TFS_OK);
	CHECK_STR(b.p, "2023-11-14T22:13:20.123Z state created -> queued: "
		  "waiting for a slot\n"
		  "2023-11-14T22:13:20.000Z second, older time, still second\n");
	buf_reset(&b);
	CHECK(store_events_format(s, 0, &b) == TFS_OK);
	CHECK_STR(b.p, "2023-11-14T22:13:20.999Z a mount event\n");
	buf_reset(&b);

	CHECK(store_metrics_latest(s, run, &b) == TFS_OK);
	CHECK(store_metrics_history(s, run, &b) == TFS_OK);
	CHECK(b.len == 0);
	CHECK(store_metric_add(s, run, 1, 1700000000123LL, "loss", 0.9) ==
	      TFS_OK);
	CHECK(store_metric_add(s, run, 1, 1700000000123LL, "acc", 0.5) ==
	      TFS_OK);
	CHECK(store_metric_add(s, run, 2, 1700000001000LL, "loss", 0.42) ==
	      TFS_OK);
	CHECK(store_metric_add(s, run, 2.5, 1700000001500LL, "learning_rate",
			       5e-05) == TFS_OK);
	/* the latest value wins even when its step is lower */
	CHECK(store_metric_add(s, run, 1.5, 1700000002000LL, "acc", 0.75) ==
	      TFS_OK);
	CHECK(store_metric_add(s, run + 1, 1, 1700000000000LL, "other", 1) ==
	      TFS_OK);

	CHECK(store_metrics_latest(s, run, &b) == TFS_OK);
	CHECK_STR(b.p, "acc 0.75\nlearning_rate 5e-05\nloss 0.42\n");
	buf_reset(&b);
	CHECK(store_metrics_history(s, run, &b) == TFS_OK);
	CHECK_STR(b.p,
		  "{\"step\":1,\"time\":1700000000.123,\"key\":\"loss\",\"value\":0.9}\n"
		  "{\"step\":1,\"time\":1700000000.123,\"key\":\"acc\",\"value\":0.5}\n"
		  "{\"step\":2,\"time\":1700000001.000,\"key\":\"loss\",\"value\":0.42}\n"
		  "{\"step\":2.5,\"time\":1700000001.500,\"key\":\"learning_rate\",\"value\":5e-05}\n"
		  "{\"step\":1.5,\"time\":1700000002.000,\"key\":\"acc\",\"value\":0.75}\n");
	test_history_ranges(s, run, b.p);
	CHECK(store_metrics_each_latest(s, run, latest_cb, &l) == TFS_OK);
	CHECK(l.n == 3);
	CHECK_STR(l.keys[0], "acc");
	CHECK_STR(l.keys[1], "learning_rate");
	CHECK_STR(l.keys[2], "loss");
	CHECK(l.values[0] == 0.75 && l.values[1] == 5e-05 &&
	      l.values[2] == 0.42);
	buf_reset(&b);
	CHECK(store_metrics_latest(s, run + 1, &b) == TFS_OK);
	CHECK_STR(b.p, "other 1\n");
	buf_release(&b);
	test_append_latest(s);
	test_reads_during_write(s);
}

/* A flood of events keeps the newest and says how many went. */
static void test_events_cap(struct store *s)
{
	struct buf b = BUF_INIT(0);
	int64_t run = 515151;
	char text[32], *last;
	int i, lines = 0, added = 0;
	size_t j;

	for (i = 0; i < 1200; i++) {
		snprintf(text, sizeof(text), "refusal %d", i);
		added += store_event_add(s, run, 1700000000000LL + i, text) ==
			 TFS_OK;
	}
	CHECK(added == 1200);
	CHECK(store_events_format(s, run, &b) == TFS_OK);
	for (j = 0; j < b.len; j++)
		lines += b.p[j] == '\n';
	CHECK(lines > STORE_EVENTS_KEEP &&
	      lines <= STORE_EVENTS_KEEP + STORE_EVENTS_SLACK + 1);
	CHECK(b.p && strstr(b.p, " earlier lines dropped\n") &&
	      strstr(b.p, " earlier lines dropped\n") < strstr(b.p, "refusal"));
	/* the newest stay, in order */
	last = b.p ? strstr(b.p, "refusal 1199\n") : NULL;
	CHECK(last && last + strlen("refusal 1199\n") == b.p + b.len);
	CHECK(!strstr(b.p ? b.p : "", "refusal 0\n"));
	buf_reset(&b);
	/* inside a transaction that rolls back, nothing stays */
	CHECK(store_begin(s, 0) == TFS_OK);
	CHECK(store_event_add(s, run + 1, 1, "rolled back") == TFS_OK);
	store_rollback(s);
	CHECK(store_events_format(s, run + 1, &b) == TFS_OK && b.len == 0);
	/* a removed run's count goes with it */
	CHECK(store_run_delete(s, run) == TFS_OK);
	CHECK(store_event_add(s, run, 1, "fresh") == TFS_OK);
	CHECK(store_events_format(s, run, &b) == TFS_OK);
	CHECK_STR(b.p, "1970-01-01T00:00:00.001Z fresh\n");
	buf_release(&b);
}

/* ---- experiment delete cascades ---- */

static void test_exp_delete(struct store *s)
{
	struct store_run r;
	struct buf b = BUF_INIT(0);
	int64_t gone = 0, kept = 0, r1 = 0, r2 = 0, r3 = 0, again = 0;
	struct run_copy c;

	CHECK(store_exp_insert(s, "doomed", 1, &gone) == TFS_OK);
	CHECK(store_exp_insert(s, "kept", 1, &kept) == TFS_OK);
	memset(&r, 0, sizeof(r));
	r.exit_code = STORE_NO_EXIT;
	r.exp_id = gone;
	r.name = "a";
	r.uuid = "aaaaaaaa-0000-4000-8000-000000000001";
	CHECK(store_run_insert(s, &r, &r1) == TFS_OK);
	r.name = "b";
	r.uuid = "aaaaaaaa-0000-4000-8000-000000000002";
	CHECK(store_run_insert(s, &r, &r2) == TFS_OK);
	r.exp_id = kept;
	r.name = "a";
	r.uuid = "aaaaaaaa-0000-4000-8000-000000000003";
	CHECK(store_run_insert(s, &r, &r3) == TFS_OK);
	store_event_add(s, r1, 1, "e1");
	store_event_add(s, r2, 1, "e2");
	store_event_add(s, r3, 1, "e3");
	store_metric_add(s, r1, 1, 1, "m", 1);
	store_metric_add(s, r2, 1, 1, "m", 2);
	store_metric_add(s, r3, 1, 1, "m", 3);
	store_run_set_config(s, r1, "{}", 2, "{}");

	CHECK(store_exp_delete(s, gone) == TFS_OK);
	c = load_run(s, r1, NULL);
	CHECK(!c.found);
	c = load_run(s, r2, NULL);
	CHECK(!c.found);
	c = load_run(s, r3, NULL);
	CHECK(c.found);
	store_events_format(s, r1, &b);
	store_events_format(s, r2, &b);
	store_metrics_latest(s, r1, &b);
	store_metrics_latest(s, r2, &b);
	store_metrics_history(s, r1, &b);
	store_metrics_history(s, r2, &b);
	CHECK(b.len == 0);
	CHECK(store_run_config(s, r1, &b) == TFS_ENOENT);
	store_events_format(s, r3, &b);
	CHECK(b.p && strstr(b.p, " e3\n"));
	buf_reset(&b);
	store_metrics_latest(s, r3, &b);
	CHECK_STR(b.p, "m 3\n");
	buf_reset(&b);
	CHECK(store_exp_description(s, gone, &b) == TFS_ENOENT);
	/* the name can be taken again, with the same run names */
	CHECK(store_exp_insert(s, "doomed", 2, &again) == TFS_OK);
	CHECK(again != gone);
	r.exp_id = again;
	r.name = "a";
	r.uuid = "aaaaaaaa-0000-4000-8000-000000000001";
	CHECK(store_run_insert(s, &r, &r1) == TFS_OK);
	buf_release(&b);
}

/* ---- templates ---- */

struct tpl_seen {
	int n;
	char names[8][TFS_NAME_MAX + 1];
	int64_t sizes[8], mtimes[8];
};

static int tpl_cb(void *arg, const char *name, int64_t size, int64_t mtime)
{
	struct tpl_seen *t = arg;

	if (t->n < 8) {
		snprintf(t->names[t->n], sizeof(t->names[0]), "%s", name);
		t->sizes[t->n] = size;
		t->mtimes[t->n] = mtime;
	}
	t->n++;
	return 0;
}

static void test_templates(struct store *s)
{
	/* 2-byte UTF-8 characters: the size is in bytes, as stat wants */
	static const char utf8[] = "{\"tags\": {\"team\": \"\xc3\xa9quipe\"}}";
	struct tpl_seen t = { 0 };
	struct buf b = BUF_INIT(0);

	CHECK(store_tpl_get(s, "ft", &b) == TFS_ENOENT);
	CHECK(store_tpl_load(s, tpl_cb, &t) == TFS_OK);
	CHECK(t.n == 0);
	CHECK(store_tpl_put(s, "zeta", "{\"priority\": 1}", 15, 100) == TFS_OK);
	CHECK(store_tpl_put(s, "ft", "{\"kind\": \"training\"}junk", 20, 200)
	      == TFS_OK);
	CHECK(store_tpl_get(s, "ft", &b) == TFS_OK);
	CHECK_STR(b.p, "{\"kind\": \"training\"}");
	buf_reset(&b);
	/* replace */
	CHECK(store_tpl_put(s, "ft", "{\"kind\": \"inference\"}", 21, 300) ==
	      TFS_OK);
	CHECK(store_tpl_get(s, "ft", &b) == TFS_OK);
	CHECK_STR(b.p, "{\"kind\": \"inference\"}");
	buf_reset(&b);
	CHECK(store_tpl_put(s, "utf", utf8, strlen(utf8), 400) == TFS_OK);
	CHECK(store_tpl_get(s, "utf", &b) == TFS_OK);
	CHECK_STR(b.p, utf8);
	buf_reset(&b);

	CHECK(store_tpl_load(s, tpl_cb, &t) == TFS_OK);
	CHECK(t.n == 3);
	/* by name */
	CHECK_STR(t.names[0], "ft");
	CHECK_STR(t.names[1], "utf");
	CHECK_STR(t.names[2], "zeta");
	CHECK(t.sizes[0] == 21 && t.mtimes[0] == 300);
	CHECK(t.sizes[1] == (int64_t)strlen(utf8));
	CHECK(t.sizes[2] == 15 && t.mtimes[2] == 100);

	CHECK(store_tpl_delete(s, "ft") == TFS_OK);
	CHECK(store_tpl_get(s, "ft", &b) == TFS_ENOENT);
	CHECK(store_tpl_delete(s, "ft") == TFS_OK);   /* nothing to delete */
	memset(&t, 0, sizeof(t));
	store_tpl_load(s, tpl_cb, &t);
	CHECK(t.n == 2);
	CHECK_STR(t.names[0], "utf");
	buf_release(&b);
}

/* ---- transactions and reopening ---- */

static int exp_named(struct store *s, const char *name)
{
	struct exp_seen seen = { 0 };
	int i;

	store_exp_load(s, exp_cb, &seen);
	for (i = 0; i < seen.n && i < 16; i++)
		if (!strcmp(seen.names[i], name))
			return 1;
	return 0;
}

static struct store *test_transactions(struct store *s)
{
	struct buf b = BUF_INIT(0);
	int64_t id = 0, kept = 0;

	CHECK(store_begin(s, 0) == TFS_OK);
	CHECK(store_exp_insert(s, "rolled-back", 1, &id) == TFS_OK);
	CHECK(store_event_add(s, 0, 1, "rolled back event") == TFS_OK);
	CHECK(exp_named(s, "rolled-back"));     /* visible inside */
	store_rollback(s);
	CHECK(!exp_named(s, "rolled-back"));
	store_events_format(s, 0, &b);
	CHECK(!strstr(b.p ? b.p : "", "rolled back event"));
	buf_reset(&b);

	CHECK(store_begin(s, 1) == TFS_OK);
	CHECK(store_exp_insert(s, "committed", 1, &kept) == TFS_OK);
	CHECK(store_tpl_put(s, "in-tx", "{}", 2, 1) == TFS_OK);
	CHECK(store_commit(s) == TFS_OK);
	/* the connection is back to normal: plain statements still work */
	CHECK(store_begin(s, 0) == TFS_OK);
	CHECK(store_commit(s) == TFS_OK);

	s = reopen(s);
	CHECK(s != NULL);
	if (!s)
		return NULL;
	CHECK(exp_named(s, "committed"));
	CHECK(!exp_named(s, "rolled-back"));
	CHECK(exp_named(s, "alpha"));
	CHECK(store_tpl_get(s, "in-tx", &b) == TFS_OK);
	CHECK_STR(b.p, "{}");
	buf_reset(&b);
	CHECK(store_exp_description(s, 1, &b) == TFS_OK);
	CHECK_STR(b.p, "tuning the lr\nsecond line\n");
	buf_release(&b);
	CHECK(user_version(dbpath) == STORE_SCHEMA_VERSION);
	return s;
}

/* Everything written so far is still there after a reopen. */
static void test_survives(struct store *s)
{
	struct buf b = BUF_INIT(0);
	struct tpl_seen t = { 0 };
	struct run_copy c;
	int n = 0;

	c = load_run(s, first_run, &n);
	CHECK(c.found);
	CHECK(n >= 3);
	CHECK_STR(c.name, "r1");
	CHECK(c.exit_code == STORE_NO_EXIT && c.log_offset == 5000000000LL);
	CHECK(store_run_config(s, first_run, &b) == TFS_OK);
	CHECK_STR(b.p, "{\"command\":[\"true\"]}");
	buf_reset(&b);
	CHECK(store_metrics_latest(s, 424242, &b) == TFS_OK);
	CHECK_STR(b.p, "acc 0.75\nlearning_rate 5e-05\nloss 0.42\n");
	buf_release(&b);
	store_tpl_load(s, tpl_cb, &t);
	CHECK(t.n == 3);
	CHECK(t.sizes[1] == (int64_t)strlen(
		      "{\"tags\": {\"team\": \"\xc3\xa9quipe\"}}"));
}

/*
 * A database of schema 5, with metrics but no line offsets, takes them at
 * its migration: the size and the ranges then agree with the rendering.
 */
static void test_migrate_5(void)
{
	char path[PATH_MAX], err[256] = "";
	struct store *s = NULL;
	struct buf full = BUF_INIT(0);
	sqlite3 *db = NULL;
	int64_t size = -1;

	snprintf(path, sizeof(path), "%s/v5.db", root);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_OK);
	store_close(s);
	s = NULL;
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	/* back to schema 5 as it was, then rows written by that version */
	CHECK(sqlite3_exec(db,
		"DROP INDEX metrics_end;"
		"ALTER TABLE metrics DROP COLUMN end_off;"
		"CREATE INDEX metrics_run ON metrics(run_id, id);"
		"ALTER TABLE runs DROP COLUMN attempt_started_ms;"
		"ALTER TABLE runs DROP COLUMN cost_usd;"
		"ALTER TABLE runs DROP COLUMN cost_ms;"
		"ALTER TABLE runs DROP COLUMN held_ms;"
		"DROP TABLE sweeps;"
		"DROP TABLE trials;"
		"DROP TABLE exports;"
		"INSERT INTO metrics(run_id, step, time_ms, key, value) VALUES "
		"(7, 1, 1700000000123, 'loss', 0.9), (8, 1, 5, 'x', 1), "
		"(7, 2.5, 1700000001000, 'lr', 5e-05), (7, 3, 0, 'loss', -1e300);"
		"PRAGMA user_version = 5;", NULL, NULL, NULL) == SQLITE_OK);
	sqlite3_close(db);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_OK);
	if (!s)
		return;
	CHECK(user_version(path) == STORE_SCHEMA_VERSION);
	CHECK(store_metrics_history(s, 7, &full) == TFS_OK);
	CHECK_STR(full.p,
		  "{\"step\":1,\"time\":1700000000.123,\"key\":\"loss\",\"value\":0.9}\n"
		  "{\"step\":2.5,\"time\":1700000001.000,\"key\":\"lr\",\"value\":5e-05}\n"
		  "{\"step\":3,\"time\":0.000,\"key\":\"loss\",\"value\":-1e+300}\n");
	test_history_ranges(s, 7, full.p);
	/* new points go on from where the migrated ones end */
	CHECK(store_metric_add(s, 7, 4, 1000, "loss", 0.5) == TFS_OK);
	buf_reset(&full);
	CHECK(store_metrics_history(s, 7, &full) == TFS_OK);
	CHECK(strstr(full.p, "{\"step\":4,\"time\":1.000,\"key\":\"loss\","
		     "\"value\":0.5}\n") != NULL);
	test_history_ranges(s, 7, full.p);
	CHECK(store_metrics_history_size(s, 8, &size) == TFS_OK);
	CHECK(size == (int64_t)strlen("{\"step\":1,\"time\":0.005,\"key\":"
				      "\"x\",\"value\":1}\n"));
	buf_release(&full);
	store_close(s);
}

static void test_newer_schema(void)
{
	char path[PATH_MAX], err[256] = "";
	struct store *s = NULL;
	sqlite3 *db = NULL;

	snprintf(path, sizeof(path), "%s/newer.db", root);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_OK);
	store_close(s);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) ==
	      SQLITE_OK);
	sqlite3_close(db);

	s = (struct store *)path;       /* any non-NULL: must become NULL */
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_EIO);
	CHECK(s == NULL);
	CHECK(strstr(err, "newer") != NULL);
	CHECK(strstr(err, "99") != NULL);
	/* and the file was left alone */
	CHECK(user_version(path) == 99);

	/* a path that cannot be opened gives a reason too */
	err[0] = '\0';
	snprintf(path, sizeof(path), "%s/no/such/dir/x.db", root);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_EIO);
	CHECK(s == NULL && err[0] != '\0');
}

/* ---- backup, check and restore of the whole file ---- */

static int exp_names_cb(void *arg, int64_t id, const char *name,
			int64_t created, int64_t mtime, const char *objective)
{
	struct buf *b = arg;

	(void)id;
	(void)created;
	(void)mtime;
	(void)objective;
	buf_printf(b, "%s ", name);
	return 0;
}

/* The experiments' names in the database at path, "a b " ("" on error). */
static void exp_names(const char *path, struct buf *out)
{
	struct store *s = NULL;
	char err[256];

	buf_reset(out);
	if (store_open(path, &s, err, sizeof(err)) == TFS_OK)
		store_exp_load(s, exp_names_cb, out);
	store_close(s);
	buf_printf(out, "%s", "");
}

static void test_backup(void)
{
	char src[PATH_MAX / 2], copy[PATH_MAX / 2], path[PATH_MAX];
	char err[512] = "";
	struct buf names = BUF_INIT(4096);
	struct store *s = NULL;
	sqlite3 *db = NULL;
	int64_t id;

	snprintf(src, sizeof(src), "%s/live.db", root);
	snprintf(copy, sizeof(copy), "%s/copy.db", root);
	CHECK(store_open(src, &s, err, sizeof(err)) == TFS_OK);
	if (!s)
		return;
	CHECK(store_exp_insert(s, "a", 1, &id) == TFS_OK);
	/* a transaction open meanwhile: the copy is of the last commit */
	CHECK(store_begin(s, 1) == TFS_OK);
	CHECK(store_exp_insert(s, "b", 2, &id) == TFS_OK);
	CHECK(store_backup(src, copy, err, sizeof(err)) == TFS_OK);
	CHECK(store_commit(s) == TFS_OK);
	CHECK(store_check(copy, err, sizeof(err)) == TFS_OK);
	/* one file: no WAL of its own beside it, nor the temporary file */
	snprintf(path, sizeof(path), "%s-wal", copy);
	CHECK(access(path, F_OK) < 0);
	snprintf(path, sizeof(path), "%s.tmp-%d", copy, (int)getpid());
	CHECK(access(path, F_OK) < 0);
	exp_names(copy, &names);
	CHECK_STR(names.p, "a ");
	/* a second backup over the first: the commit is in it now */
	CHECK(store_backup(src, copy, err, sizeof(err)) == TFS_OK);
	exp_names(copy, &names);
	CHECK_STR(names.p, "a b ");

	/* restore over a live database (its WAL beside it): put aside */
	CHECK(store_exp_insert(s, "c", 3, &id) == TFS_OK);
	store_close(s);
	CHECK(store_open(src, &s, err, sizeof(err)) == TFS_OK);
	CHECK(store_exp_insert(s, "d", 4, &id) == TFS_OK);
	store_close(s);
	CHECK(store_restore(copy, src, err, sizeof(err)) == TFS_OK);
	exp_names(src, &names);
	CHECK_STR(names.p, "a b ");
	snprintf(path, sizeof(path), "%s.old", src);
	exp_names(path, &names);
	CHECK_STR(names.p, "a b c d ");

	/* what is not a sound trainfs database is refused with the reason */
	snprintf(path, sizeof(path), "%s/junk.db", root);
	CHECK(file_write_atomic(path, "not a database at all", 21, 0) == 0);
	CHECK(store_check(path, err, sizeof(err)) != TFS_OK);
	CHECK(strstr(err, "junk.db") != NULL);
	CHECK(store_restore(path, src, err, sizeof(err)) != TFS_OK);
	exp_names(src, &names);
	CHECK_STR(names.p, "a b ");
	snprintf(path, sizeof(path), "%s/plain.db", root);
	CHECK(sqlite3_open(path, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "CREATE TABLE t(x)", NULL, NULL, NULL) ==
	      SQLITE_OK);
	sqlite3_close(db);
	CHECK(store_check(path, err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "not a trainfs state database") != NULL);
	CHECK(sqlite3_open(copy, &db) == SQLITE_OK);
	CHECK(sqlite3_exec(db, "PRAGMA user_version = 99", NULL, NULL, NULL) ==
	      SQLITE_OK);
	sqlite3_close(db);
	CHECK(store_check(copy, err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "newer") != NULL);
	snprintf(path, sizeof(path), "%s/none.db", root);
	CHECK(store_backup(path, copy, err, sizeof(err)) == TFS_ENOENT);
	CHECK(strstr(err, "none.db") != NULL);
	snprintf(path, sizeof(path), "%s/no/dir/x.db", root);
	CHECK(store_backup(src, path, err, sizeof(err)) != TFS_OK);
	CHECK(err[0] != '\0');
	buf_release(&names);
}

/* ---- failures: their codes and reasons ---- */

/*
 * What every connection the store opens from now on is made to be, through
 * SQLite's auto-extension hook (the store's connections are its own): a
 * database that cannot grow by a page, one that takes no write, or as it is.
 */
static enum { HOOK_NONE, HOOK_FULL, HOOK_READONLY } hook_mode;

static int hook_entry(sqlite3 *db, const char **err,
		      const struct sqlite3_api_routines *api)
{
	(void)err;
	(void)api;
	/* max_page_count is raised to the file's size: no page more */
	if (hook_mode == HOOK_FULL)
		sqlite3_exec(db, "PRAGMA max_page_count = 1", NULL, NULL, NULL);
	else if (hook_mode == HOOK_READONLY)
		sqlite3_exec(db, "PRAGMA query_only = 1", NULL, NULL, NULL);
	return SQLITE_OK;
}

static int log_saved_fd = -1;
static char log_path[PATH_MAX];

/* From now on, what is logged at LOG_ERR and above goes to log_path. */
static void log_capture(void)
{
	int fd;

	fflush(stderr);
	snprintf(log_path, sizeof(log_path), "%s/log.txt", root);
	fd = open(log_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	log_saved_fd = dup(2);
	if (fd >= 0) {
		dup2(fd, 2);
		close(fd);
	}
	log_set_level(LOG_ERR);
}

/* Ends log_capture(): what was logged since, into out (reset first). */
static void log_captured(struct buf *out)
{
	fflush(stderr);
	log_set_level(LOG_CRIT);
	if (log_saved_fd >= 0) {
		dup2(log_saved_fd, 2);
		close(log_saved_fd);
		log_saved_fd = -1;
	}
	buf_reset(out);
	file_read_all(log_path, 1 << 20, out);
	buf_append(out, "", 1);
}

/* A fresh store at root/name made (hook) what it is, or NULL. */
static struct store *open_hooked(const char *name, int mode)
{
	char path[PATH_MAX], err[256] = "";
	struct store *s = NULL;

	snprintf(path, sizeof(path), "%s/%s", root, name);
	hook_mode = HOOK_NONE;
	if (store_open(path, &s, err, sizeof(err)) == TFS_OK) {
		store_close(s);
		s = NULL;
		hook_mode = mode;
		store_open(path, &s, err, sizeof(err));
	}
	hook_mode = HOOK_NONE;
	if (!s)
		fprintf(stderr, "open_hooked %s: %s\n", name, err);
	return s;
}

static char big_body[64 * 1024];

/* A template bigger than the pages there are: needs the database to grow */
static int put_big(struct store *s)
{
	return store_tpl_put(s, "big", big_body, sizeof(big_body), 1);
}

/* A body over SQLite's bound of a value (10^9 bytes), which is never read */
static int put_huge(struct store *s)
{
	return store_tpl_put(s, "huge", "x", (size_t)2000000000, 1);
}

static int insert_exp(struct store *s)
{
	int64_t id = -1;
	int r = store_exp_insert(s, "refused", 1, &id);

	return r == TFS_OK || id == -1 ? r : -1;        /* no id when refused */
}

/*
 * On the store at root/name made (open_hooked) mode, write fails with code
 * r and the reason in the log, and writes nothing; inside a transaction,
 * the same failure fails the writes after it (even an event, which takes a
 * savepoint) and the commit, and nothing of the transaction stays; the
 * next one starts clean, and the store still reads. Returns the store, for
 * more checks, or NULL.
 */
static struct store *check_refused(const char *name, int mode,
				   int (*write)(struct store *), int r,
				   const char *reason)
{
	struct buf log = BUF_INIT(0), b = BUF_INIT(0);
	struct store *s = open_hooked(name, mode);
	int64_t id = -1;

	CHECK(s != NULL);
	if (!s)
		return NULL;
	log_capture();
	CHECK(write(s) == r);
	log_captured(&log);
	CHECK(strstr(log.p, reason) != NULL);
	if (!strstr(log.p, reason))
		fprintf(stderr, "logged: %s", log.p);
	CHECK(store_tpl_get(s, "big", &b) == TFS_ENOENT);
	CHECK(store_tpl_get(s, "huge", &b) == TFS_ENOENT);
	CHECK(!exp_named(s, "refused"));

	CHECK(store_begin(s, 1) == TFS_OK);
	CHECK(write(s) == r);
	CHECK(store_exp_insert(s, "after-failure", 1, &id) == r);
	CHECK(id == -1);
	CHECK(store_event_add(s, 0, 1, "after failure") == r);
	CHECK(store_commit(s) == r);
	CHECK(!exp_named(s, "after-failure"));
	CHECK(store_events_format(s, 0, &b) == TFS_OK && b.len == 0);
	CHECK(store_begin(s, 0) == TFS_OK);
	CHECK(store_commit(s) == TFS_OK);
	CHECK(store_metrics_history_size(s, 1, &id) == TFS_OK && id == 0);
	buf_release(&log);
	buf_release(&b);
	return s;
}

static void test_failures(void)
{
	struct buf b = BUF_INIT(0);
	struct store *s;

	memset(big_body, 'a', sizeof(big_body));
	sqlite3_auto_extension((void (*)(void))hook_entry);

	/* a full database: TFS_ENOSPC, said as such */
	s = check_refused("full.db", HOOK_FULL, put_big, TFS_ENOSPC,
			  "store: put template: database or disk is full");
	/* a small write still fits in the pages there are */
	CHECK(s && store_tpl_put(s, "small", "{}", 2, 1) == TFS_OK);
	store_close(s);
	/* once there is room again, the same database takes it */
	s = open_hooked("full.db", HOOK_NONE);
	CHECK(s && put_big(s) == TFS_OK);
	store_close(s);

	/* a read-only database: TFS_EROFS */
	s = check_refused("ro.db", HOOK_READONLY, insert_exp, TFS_EROFS,
			  "store: insert experiment: attempt to write a "
			  "readonly database");
	store_close(s);

	/* a value SQLite cannot bind: TFS_EFBIG, and nothing is written */
	s = check_refused("bind.db", HOOK_NONE, put_huge, TFS_EFBIG,
			  "store: put template: string or blob too big");
	/* the statement is whole again for the next call */
	CHECK(s && store_tpl_put(s, "huge", "{}", 2, 1) == TFS_OK);
	CHECK(s && store_tpl_get(s, "huge", &b) == TFS_OK);
	CHECK(b.p && b.len == 2 && !memcmp(b.p, "{}", 2));
	store_close(s);
	sqlite3_cancel_auto_extension((void (*)(void))hook_entry);
	buf_release(&b);
}

/* ---- durability: what a commit syncs ---- */

/*
 * The default VFS with its files' xSync counted: every file it opens keeps
 * its real methods but that one. The unix VFS has a table of methods per
 * kind of file (the database's, its log's), each copied once here.
 */
#define IO_KINDS 4
static sqlite3_vfs *real_vfs;
static sqlite3_vfs count_vfs;
static const sqlite3_io_methods *real_io[IO_KINDS];
static sqlite3_io_methods count_io[IO_KINDS];
static int syncs;

static int count_sync(sqlite3_file *f, int flags)
{
	int i;

	for (i = 0; i < IO_KINDS && f->pMethods != &count_io[i]; i++)
		;
	syncs++;
	return i < IO_KINDS ? real_io[i]->xSync(f, flags) : SQLITE_IOERR;
}

static int count_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *f,
		      int flags, int *out_flags)
{
	int rc = real_vfs->xOpen(real_vfs, name, f, flags, out_flags), i;

	(void)vfs;
	if (rc != SQLITE_OK || !f->pMethods)
		return rc;
	for (i = 0; i < IO_KINDS && real_io[i] && real_io[i] != f->pMethods;
	     i++)
		;
	if (i == IO_KINDS)
		return rc;      /* not counted: the test says so */
	if (!real_io[i]) {
		real_io[i] = f->pMethods;
		count_io[i] = *f->pMethods;
		count_io[i].xSync = count_sync;
	}
	f->pMethods = &count_io[i];
	return rc;
}

/*
 * A durable transaction's commit syncs the log; any other commit does
 * not, before the durable one nor after it (it takes back NORMAL).
 */
static void test_durable(void)
{
	char path[PATH_MAX], err[256] = "";
	struct store *s = NULL;
	int64_t id;
	int n;

	real_vfs = sqlite3_vfs_find(NULL);
	if (!real_vfs)
		return;
	count_vfs = *real_vfs;
	count_vfs.zName = "tfs-count-sync";
	count_vfs.xOpen = count_open;
	CHECK(sqlite3_vfs_register(&count_vfs, 1) == SQLITE_OK);
	snprintf(path, sizeof(path), "%s/durable.db", root);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_OK);
	if (s) {
		syncs = 0;
		CHECK(store_begin(s, 0) == TFS_OK);
		CHECK(store_exp_insert(s, "plain", 1, &id) == TFS_OK);
		CHECK(store_commit(s) == TFS_OK);
		CHECK(syncs == 0);
		CHECK(store_begin(s, 1) == TFS_OK);
		CHECK(store_exp_insert(s, "durable", 1, &id) == TFS_OK);
		CHECK(store_commit(s) == TFS_OK);
		n = syncs;
		CHECK(n >= 1);
		CHECK(store_begin(s, 0) == TFS_OK);
		CHECK(store_exp_insert(s, "plain again", 1, &id) == TFS_OK);
		CHECK(store_commit(s) == TFS_OK);
		CHECK(syncs == n);
		store_close(s);
	}
	sqlite3_vfs_unregister(&count_vfs);
}

int main(void)
{
	char err[256] = "";
	struct store *s = NULL;

	log_set_level(LOG_CRIT);        /* the refusals below are expected */
	snprintf(root, sizeof(root), "/tmp/tfs-store-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(dbpath, sizeof(dbpath), "%s/trainfs.db", root);
	CHECK(store_open(dbpath, &s, err, sizeof(err)) == TFS_OK);
	if (!s) {
		fprintf(stderr, "store_open: %s\n", err);
		rm_rf(root);
		return TEST_REPORT();
	}
	CHECK(user_version(dbpath) == STORE_SCHEMA_VERSION);
	/* a second open of a current database migrates nothing */
	s = reopen(s);
	CHECK(s != NULL);

	if (s) {
		test_experiments(s);
		test_runs(s);
		test_events_metrics(s);
		test_events_cap(s);
		test_exp_delete(s);
		test_templates(s);
		s = test_transactions(s);
	}
	if (s)
		test_survives(s);
	store_close(s);
	test_migrate_5();
	test_newer_schema();
	test_backup();
	test_failures();
	test_durable();
	rm_rf(root);
	return TEST_REPORT();
}
