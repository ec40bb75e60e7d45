/*
 * test_core.c - the model, its state machine and the poller, driven through
 * core.h with real jobs on the local provider: experiments and names,
 * submission and validation, the job's environment and {param}s, metrics,
 * every ctl command, timeouts, capacity and priority, depends_on,
 * removal and a daemon restart with a job running. Jobs that must wait do
 * so on gate files the test creates; every wait polls core_run_state()
 * every 20 ms up to a deadline, so a slow machine (sanitizers) is only
 * slower, never flaky.
 *
 * Three local providers share the machine: "local" (2 jobs), "one" (1 job,
 * for ordering) and "hold" (0 jobs: runs stay queued).
 */
#define _GNU_SOURCE
#include "core.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "corekit.h"

/* ---- experiments and names ---- */

static int count_exp_cb(void *arg, const struct core_exp_info *e)
{
	(void)e;
	++*(int *)arg;
	return 0;
}

static void test_experiments(void)
{
	struct core_exp_info e;
	int64_t id = 0, id2 = -1;
	int before = 0, after = 0;

	CHECK(core_exp_lookup(core, "default", &e) == TFS_OK);
	core_exp_list(core, 0, count_exp_cb, &before);
	CHECK(core_exp_create(core, "exp1", &id) == TFS_OK);
	CHECK(id > 0);
	CHECK(core_exp_lookup(core, "exp1", &e) == TFS_OK && e.id == id);
	CHECK_STR(e.name, "exp1");
	CHECK(e.nruns == 0);
	CHECK(core_exp_create(core, "exp1", &id2) == TFS_EEXIST);
	CHECK(core_exp_create(core, "bad name", &id2) == TFS_EINVAL);
	CHECK(core_exp_create(core, "..", &id2) == TFS_EINVAL);
	CHECK(core_exp_create(core, ".hidden", &id2) == TFS_EINVAL);
	CHECK(id2 == -1);
	CHECK(mount_events_have("invalid experiment name 'bad name'"));
	CHECK(mount_events_have("invalid experiment name '..'"));
	core_exp_list(core, 0, count_exp_cb, &after);
	CHECK(after == before + 1);
	CHECK(core_exp_lookup(core, "bad name", &e) == TFS_ENOENT);
	CHECK(core_exp_remove(core, "default") == TFS_EBUSY);
	CHECK(core_exp_remove(core, "no-such") == TFS_ENOENT);
}

static void test_run_names(void)
{
	static const char *const bad[] = {
		"..", ".", ".x", "a b", "a\001b", "", "a/b", "-x", "x\ny",
		NULL, /* 200 chars, filled in below */
	};
	char longname[201], reason[512];
	struct core_exp_info e, e2;
	struct core_run_info ri;
	int64_t exp = exp_id("exp1"), id;
	size_t i;
	struct buf b = BUF_INIT(0);

	memset(longname, 'a', 200);
	longname[200] = '\0';
	CHECK(core_exp_get(core, exp, &e) == TFS_OK);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *n = bad[i] ? bad[i] : longname;

		id = -1;
		reason[0] = '\0';
		CHECK(core_run_create(core, exp, n, &id, reason, sizeof(reason)) ==
		      TFS_EINVAL);
		CHECK(id == -1);
		CHECK(reason[0] != '\0');
		CHECK(core_run_lookup(core, exp, n, &ri) == TFS_ENOENT);
	}
	/* 128 characters is the longest name that is allowed */
	longname[128] = '\0';
	id = mkrun(exp, longname);
	CHECK(id > 0);
	CHECK(core_run_remove(core, exp, longname) == TFS_OK);
	longname[128] = 'a';
	longname[129] = '\0';
	CHECK(core_run_create(core, exp, longname, &id, reason,
			      sizeof(reason)) == TFS_EINVAL);
	CHECK(core_exp_get(core, exp, &e2) == TFS_OK);
	CHECK(e2.nruns == e.nruns);
	CHECK(mount_events_have("invalid run name '..'"));
	CHECK(mount_events_have("invalid run name '.x'"));
	/* a refused name cannot forge an extra line in events */
	core_events(core, &b);
	for (i = 0; b.p && i < b.len; i++)
		if (b.p[i] == '\n' && i + 1 < b.len)
			CHECK(!strncmp(b.p + i + 1, "20", 2));
	CHECK(b.p && !strchr(b.p, '\001'));
	buf_release(&b);
	/* an existing name */
	id = mkrun(exp, "dup");
	CHECK(id > 0);
	CHECK(core_run_create(core, exp, "dup", &id, reason, sizeof(reason)) ==
	      TFS_EEXIST);
	CHECK(core_run_create(core, 999999, "x", &id, reason, sizeof(reason)) ==
	      TFS_ENOENT);
}

/* ---- submitting ---- */

static void test_complete(void)
{
	static const char json[] =
		"{\"command\": [\"sh\", \"-c\", \"echo hello from the job\"],"
		" \"kind\": \"evaluation\"}";
	int64_t exp = exp_id("exp1");
	int64_t id = mkrun(exp, "ok");
	struct core_run_info ri;
	char reason[512];
	const char *s;
	cJSON *st;
	char *t;

	CHECK(state_of(id) == RS_CREATED);
	t = rf(id, RF_STATUS);
	CHECK_STR(t, "created\n");
	free(t);
	t = rf(id, RF_CONFIG);
	CHECK_STR(t, "");
	free(t);
	CHECK(core_run_lookup(core, exp, "ok", &ri) == TFS_OK && !ri.submitted);

	CHECK(submit(id, json, reason, sizeof(reason)) == TFS_OK);
	track(id);
	/* durable and visible before submit returned */
	CHECK(core_run_get(core, id, &ri) == TFS_OK && ri.submitted);
	CHECK(state_of(id) != RS_CREATED);
	CHECK(has(id, RF_EVENTS, "state created -> queued"));
	t = rf(id, RF_CONFIG);
	CHECK_STR(t, json);
	free(t);
	/* config.json is read-only now */
	CHECK(submit(id, json, reason, sizeof(reason)) == TFS_EBUSY);

	CHECK(wait_end(id) == RS_COMPLETED);
	t = rf(id, RF_STATUS);
	CHECK_STR(t, "completed\n");
	free(t);
	st = status_of(id);
	CHECK_STR(jstr(st, "state"), "completed");
	CHECK_STR(jstr(st, "name"), "ok");
	CHECK_STR(jstr(st, "experiment"), "exp1");
	CHECK_STR(jstr(st, "provider"), "local");
	CHECK_STR(jstr(st, "kind"), "evaluation");
	CHECK_STR(jstr(st, "reason"), "exit code 0");
	CHECK(jnum(st, "exit_code") == 0);
	CHECK(jnum(st, "attempt") == 1);
	s = jstr(st, "provider_job_id");
	CHECK(s && atoll(s) > 0);
	s = jstr(st, "run_id");
	CHECK(s && strlen(s) == 36);
	s = jstr(st, "config_sha256");
	CHECK(s && strlen(s) == 64);
	CHECK(jstr(st, "submitted") && jstr(st, "ended"));
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "-> completed: exit code 0"));
	t = log_of(id);
	CHECK(strstr(t, "hello from the job\n") != NULL);
	free(t);
	CHECK(submit(id, json, reason, sizeof(reason)) == TFS_EBUSY);
	CHECK(submit(999999, json, reason, sizeof(reason)) == TFS_ENOENT);
}

static void test_failed_and_retry(void)
{
	int64_t exp = exp_id("exp1");
	int64_t id = start_sh(exp, "fails", "local", "echo about to fail; exit 3",
			      NULL);
	char reason[512];
	cJSON *st;
	char *t, *a;

	CHECK(wait_end(id) == RS_FAILED);
	st = status_of(id);
	CHECK_STR(jstr(st, "state"), "failed");
	CHECK_STR(jstr(st, "reason"), "exit code 3");
	CHECK(jnum(st, "exit_code") == 3);
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "-> failed: exit code 3"));

	/* retry: a new attempt of the same run */
	CHECK(ctl(id, "retry\n", reason, sizeof(reason)) == TFS_OK);
	st = status_of(id);
	CHECK(jnull(st, "exit_code"));
	cJSON_Delete(st);
	CHECK(wait_end(id) == RS_FAILED);
	st = status_of(id);
	CHECK(jnum(st, "attempt") == 2);
	CHECK(jnum(st, "exit_code") == 3);
	CHECK_STR(jstr(st, "reason"), "exit code 3");
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "retry requested"));
	t = log_of(id);
	a = strstr(t, "about to fail\n");
	CHECK(a && strstr(a + 1, "--- trainfs: attempt 2 ---\nabout to fail\n"));
	free(t);
}

static void test_invalid_configs(void)
{
	static const struct {
		const char *json;
		int err;
		const char *reason;
	} bad[] = {
		{ "{\"command\": [\"true\"", TFS_EINVAL, "invalid JSON" },
		{ "{\"command\": [\"true\"], \"comand\": 1}", TFS_EINVAL,
		  "unknown key 'comand'" },
		{ "{\"command\": \"true\"}", TFS_EINVAL, "'command' must be" },
		{ "{\"command\": [\"true\"], \"priority\": \"high\"}",
		  TFS_EINVAL, "'priority' must be an integer" },
		{ "{\"command\": []}", TFS_EINVAL,
		  "'command' must be a non-empty array" },
		{ "{\"command\": [\"\"]}", TFS_EINVAL, "'command[0]' must not" },
		{ "{}", TFS_EINVAL, "'command' is required" },
		{ "", TFS_EINVAL, "config is empty" },
		{ "{\"command\": [\"echo\", \"{nope}\"]}", TFS_EINVAL,
		  "unknown param 'nope'" },
		{ "{\"command\": [\"true\"], \"provider\": \"mars\"}", TFS_EINVAL,
		  "unknown provider 'mars'" },
		{ "{\"command\": [\"true\"], \"resources\": {\"cpus\": 64}}",
		  TFS_EINVAL, "needs 64 cpus, provider 'local' has 2" },
		{ "{\"command\": [\"true\"], \"depends_on\": [\"cfg\"]}",
		  TFS_EINVAL, "cannot depend on itself" },
		{ "{\"command\": [\"true\"], \"depends_on\": [\"exp1/cfg\"]}",
		  TFS_EINVAL, "cannot depend on itself" },
		{ "{\"command\": [\"true\"], \"template\": \"absent\"}",
		  TFS_EINVAL, "template 'absent' not found" },
		{ "{\"command\": [\"true\"], \"workdir\": \"/no/such\"}",
		  TFS_EINVAL, "'workdir': cannot use '/no/such': No such file" },
		{ "{\"command\": [\"true\"], \"workdir\": \"/dev/null\"}",
		  TFS_EINVAL, "'workdir': '/dev/null' is not a directory" },
	};
	int64_t exp = exp_id("exp1");
	int64_t id = mkrun(exp, "cfg");
	char reason[512], line[600], *big;
	size_t i, bigsz = 2 << 20;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		reason[0] = '\0';
		CHECK(submit(id, bad[i].json, reason, sizeof(reason)) ==
		      bad[i].err);
		if (!strstr(reason, bad[i].reason))
			fprintf(stderr, "config %zu: reason '%s'\n", i, reason);
		CHECK(strstr(reason, bad[i].reason) != NULL);
		CHECK(state_of(id) == RS_CREATED);
		snprintf(line, sizeof(line), "config rejected: %s\n", reason);
		CHECK(has(id, RF_EVENTS, line));
	}
	/* 2 MiB: too big, whatever it holds */
	big = xmalloc(bigsz + 1);
	memset(big, ' ', bigsz);
	memcpy(big, "{\"command\": [\"true\"]}", 21);
	big[bigsz] = '\0';
	CHECK(core_run_submit(core, id, big, bigsz, reason, sizeof(reason)) ==
	      TFS_EFBIG);
	CHECK(strstr(reason, "larger than") != NULL);
	CHECK(state_of(id) == RS_CREATED);
	CHECK(has(id, RF_EVENTS, "config rejected: config is larger than"));
	free(big);
	big = rf(id, RF_CONFIG);
	CHECK_STR(big, "");             /* nothing stored */
	free(big);

	/* a check says what a submit would, and submits nothing */
	CHECK(core_run_check(core, id, "{\"comand\": 1}", 13, reason,
			     sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "unknown key 'comand'") != NULL);
	CHECK(core_run_check(core, id, "{\"command\": [\"true\"]}", 21,
			     reason, sizeof(reason)) == TFS_OK);
	CHECK(state_of(id) == RS_CREATED);
	big = rf(id, RF_CONFIG);
	CHECK_STR(big, "");
	free(big);

	/* after all that, a good config still goes through */
	CHECK(submit(id, "{\"command\": [\"true\"]}", reason, sizeof(reason)) ==
	      TFS_OK);
	track(id);
	CHECK(wait_end(id) == RS_COMPLETED);
}

static void test_templates(void)
{
	static const char tpl[] =
		"{\"params\": {\"greeting\": \"hi\", \"who\": \"tpl\"}, "
		"\"env\": {\"FROM_TPL\": \"yes\"}, \"kind\": \"inference\"}";
	int64_t exp = exp_id("exp1"), tid = 0, id;
	char reason[512];
	cJSON *st;
	char *t;

	CHECK(core_tpl_put(core, "greet", tpl, strlen(tpl), &tid, reason,
			   sizeof(reason)) == TFS_OK);
	CHECK(core_tpl_put(core, "broken", "{\"comand\": 1}", 13, &tid, reason,
			   sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "comand") != NULL);
	id = start(exp, "templated",
		   "{\"template\": \"greet\", \"params\": {\"who\": \"me\"}, "
		   "\"command\": [\"sh\", \"-c\", \"echo {greeting} {who} $FROM_TPL\"]}");
	CHECK(wait_end(id) == RS_COMPLETED);
	t = log_of(id);
	CHECK(strstr(t, "hi me yes\n") != NULL);
	free(t);
	st = status_of(id);
	CHECK_STR(jstr(st, "kind"), "inference");
	cJSON_Delete(st);
}

static void test_env_params(void)
{
	static const char json[] =
		"{\"command\": [\"sh\", \"-c\", "
		"\"echo run=$TRAINFS_RUN; echo id=$TRAINFS_RUN_ID; "
		"echo out=$TRAINFS_OUTPUT_DIR; echo metrics=$TRAINFS_METRICS; "
		"echo plr=$TRAINFS_PARAM_lr; echo pep=$TRAINFS_PARAM_epochs; "
		"echo pname=$TRAINFS_PARAM_name; echo my=$MY_VAR; "
		"test -d \\\"$TRAINFS_OUTPUT_DIR\\\" && echo outdir-exists; "
		"echo args \\\"$@\\\"\", \"x\", \"--lr={lr}\", \"{epochs}\", "
		"\"{{lit}}\", \"{name}\"], "
		"\"params\": {\"lr\": 0.01, \"epochs\": 3, \"name\": \"a b\"}, "
		"\"env\": {\"MY_VAR\": \"hello world\"}}";
	int64_t exp = exp_id("envexp");
	int64_t id = start(exp, "envrun", json);
	char want[PATH_MAX + 64];
	const char *uuid;
	cJSON *st;
	char *t;

	CHECK(wait_end(id) == RS_COMPLETED);
	st = status_of(id);
	uuid = jstr(st, "run_id");
	CHECK(uuid != NULL);
	t = log_of(id);
	CHECK(strstr(t, "run=envexp/envrun\n") != NULL);
	snprintf(want, sizeof(want), "id=%s\n", uuid ? uuid : "?");
	CHECK(strstr(t, want) != NULL);
	snprintf(want, sizeof(want), "out=%s/runs/%s/attempt-1/output\n",
		 state_dir, uuid ? uuid : "?");
	CHECK(strstr(t, want) != NULL);
	snprintf(want, sizeof(want), "metrics=%s/runs/%s/metrics.jsonl\n",
		 state_dir, uuid ? uuid : "?");
	CHECK(strstr(t, want) != NULL);
	CHECK(strstr(t, "plr=0.01\n") != NULL);
	CHECK(strstr(t, "pep=3\n") != NULL);
	CHECK(strstr(t, "pname=a b\n") != NULL);
	CHECK(strstr(t, "my=hello world\n") != NULL);
	CHECK(strstr(t, "outdir-exists\n") != NULL);
	CHECK(strstr(t, "args --lr=0.01 3 {lit} a b\n") != NULL);
	if (!strstr(t, "args --lr=0.01 3 {lit} a b\n"))
		fprintf(stderr, "log of envrun:\n%s", t);
	free(t);
	cJSON_Delete(st);
}

static void test_metrics(void)
{
	int64_t exp = exp_id("exp1");
	int64_t id = start_sh(exp, "metrics", "local",
			      "echo \"{'loss': 0.5, 'epoch': 1.0}\"; "
			      "echo not a metric; "
			      "echo '{\"step\":2,\"key\":\"acc\",\"value\":0.9}' "
			      ">> \"$TRAINFS_METRICS\"", NULL);
	/*
	 * more log than one pass reads (4 MiB) in one go, then the last
	 * metrics, the very last without its newline
	 */
	int64_t lid = start_sh(exp, "longlog", "local",
			       "head -c 12582912 /dev/zero | tr '\\0' x; "
			       "echo; echo '{\"final\": 1}'; "
			       "printf '{\"last\": 2}'", NULL);
	cJSON *st, *m;
	int64_t size = -1;
	char *t;

	CHECK(wait_end(id) == RS_COMPLETED);
	/* the last scan is in before the state says so */
	t = rf(id, RF_METRICS);
	CHECK(strstr(t, "acc 0.9\n") != NULL);
	CHECK(strstr(t, "loss 0.5\n") != NULL);
	free(t);
	CHECK(wait_end(lid) == RS_COMPLETED);
	t = rf(lid, RF_METRICS);
	CHECK_STR(t, "final 1\nlast 2\n");
	free(t);
	CHECK(has(lid, RF_EVENTS, "collecting outputs"));
	t = rf(id, RF_METRICS);
	CHECK(strstr(t, "acc 0.9\n") < strstr(t, "loss 0.5\n"));   /* sorted */
	CHECK(strstr(t, "epoch") == NULL);   /* the step, not a metric */
	free(t);
	t = rf(id, RF_METRICS_JSONL);
	CHECK(strstr(t, "{\"step\":1,") != NULL);
	CHECK(strstr(t, "\"key\":\"loss\",\"value\":0.5}\n") != NULL);
	CHECK(strstr(t, "{\"step\":2,") != NULL);
	CHECK(strstr(t, "\"key\":\"acc\",\"value\":0.9}\n") != NULL);
	/* its size without rendering it, and a read at an offset */
	CHECK(core_run_metrics_size(core, id, &size) == TFS_OK);
	CHECK(size == (int64_t)strlen(t));
	{
		struct buf b = BUF_INIT(0);

		CHECK(core_run_metrics_read(core, id, 3, 10, &b) == TFS_OK);
		CHECK(b.len == 10 && !memcmp(b.p, t + 3, 10));
		buf_release(&b);
	}
	free(t);
	st = status_of(id);
	m = cJSON_GetObjectItemCaseSensitive(st, "metrics");
	CHECK(jnum(m, "loss") == 0.5 && jnum(m, "acc") == 0.9);
	cJSON_Delete(st);
}

/* ---- ctl ---- */

static void test_ctl_queued(void)
{
	int64_t exp = exp_id("ctl");
	int64_t id = start(exp, "held", "{\"provider\": \"hold\", "
			   "\"command\": [\"true\"]}");
	int64_t cr = mkrun(exp, "never-submitted");
	char reason[512], *t;
	cJSON *st;

	CHECK(state_of(id) == RS_QUEUED);
	/* the poller leaves it queued, with the reason in the queue */
	sleep_ms(150);
	CHECK(state_of(id) == RS_QUEUED);
	t = queue_text();
	CHECK(strstr(t, "ctl/held priority=0 provider=hold provider hold "
		     "holds every job (max_jobs 0)\n") != NULL);
	free(t);
	CHECK(submit(id, "{\"command\": [\"true\"]}", reason, sizeof(reason)) ==
	      TFS_EBUSY);

	reason[0] = '\0';
	CHECK(ctl(id, "explode\n", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "unknown ctl command 'explode'") != NULL);
	CHECK(has(id, RF_EVENTS, "ctl refused: unknown ctl command 'explode'"));
	CHECK(ctl(id, "priority x", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "'priority' takes an integer") != NULL);
	CHECK(ctl(id, "priority 99999999", reason, sizeof(reason)) ==
	      TFS_EINVAL);
	CHECK(ctl(id, "priority", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(id, "", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(id, "\n\n", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(id, "pause", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "cannot pause: run is queued") != NULL);
	CHECK(ctl(id, "resume", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(id, "retry", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(id, "priority 5\n", reason, sizeof(reason)) == TFS_OK);
	st = status_of(id);
	CHECK(jnum(st, "priority") == 5);
	cJSON_Delete(st);
	/* several commands, blanks and a CR as editors leave them */
	CHECK(ctl(id, "  priority 6 \r\npriority -7\n", reason,
		  sizeof(reason)) == TFS_OK);
	st = status_of(id);
	CHECK(jnum(st, "priority") == -7);
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "priority 6 -> -7"));
	CHECK(state_of(id) == RS_QUEUED);

	/* cancel of a queued run: stopped at once */
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(state_of(id) == RS_STOPPED);
	st = status_of(id);
	CHECK_STR(jstr(st, "state"), "stopped");
	CHECK_STR(jstr(st, "reason"), "cancelled");
	CHECK(jnum(st, "attempt") == 0);
	CHECK(jnull(st, "provider_job_id"));
	cJSON_Delete(st);
	t = queue_text();
	CHECK(strstr(t, "ctl/held") == NULL);
	free(t);
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "cannot cancel: run is stopped") != NULL);
	CHECK(ctl(id, "priority 1", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(999999, "cancel", reason, sizeof(reason)) == TFS_ENOENT);

	/* a created run can be cancelled too */
	CHECK(ctl(cr, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(state_of(cr) == RS_STOPPED);
}

static void test_ctl_running(void)
{
	int64_t exp = exp_id("ctl");
	int64_t id = start(exp, "sleeper", "{\"command\": [\"sleep\", \"30\"]}");
	int64_t p = start(exp, "pausable", "{\"command\": [\"sleep\", \"30\"]}");
	char reason[512];
	cJSON *st;

	/* cancel a running job */
	CHECK(wait_state(id, RS_RUNNING));
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_OK); /* again */
	CHECK(wait_end(id) == RS_STOPPED);
	st = status_of(id);
	CHECK_STR(jstr(st, "reason"), "cancelled");
	cJSON_Delete(st);
	CHECK(has(id, RF_EVENTS, "cancel requested"));
	CHECK(has(id, RF_EVENTS, "-> stopped: cancelled"));

	/* pause and resume */
	CHECK(wait_state(p, RS_RUNNING));
	CHECK(ctl(p, "pause", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_state(p, RS_PAUSED));
	CHECK(ctl(p, "pause", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "cannot pause: run is paused") != NULL);
	CHECK(ctl(p, "resume", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_state(p, RS_RUNNING));
	CHECK(has(p, RF_EVENTS, "running -> paused"));
	CHECK(has(p, RF_EVENTS, "paused -> running"));
	CHECK(ctl(p, "resume", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(ctl(p, "retry", reason, sizeof(reason)) == TFS_EINVAL);
	/* a paused job can be cancelled too */
	CHECK(ctl(p, "pause", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_state(p, RS_PAUSED));
	CHECK(ctl(p, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_end(p) == RS_STOPPED);
	st = status_of(p);
	CHECK_STR(jstr(st, "reason"), "cancelled");
	cJSON_Delete(st);
}

static void test_timeouts(void)
{
	int64_t exp = exp_id("exp1");
	int64_t to = start(exp, "slow", "{\"command\": [\"sleep\", \"30\"], "
			   "\"timeout_s\": 1}");
	/* attempt 2 starts past the timeout counted from attempt 1's start */
	int64_t pa = start_sh(exp, "per-attempt", "local",
			      "if [ \"$TRAINFS_ATTEMPT\" = 1 ]; then sleep 2.5; "
			      "exit 1; fi; sleep 1.5",
			      "\"timeout_s\": 3, \"max_retries\": 1");
	cJSON *st;

	CHECK(wait_end(to) == RS_FAILED);
	st = status_of(to);
	CHECK_STR(jstr(st, "reason"), "timeout after 1 s");
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	CHECK(has(to, RF_EVENTS, "timeout after 1 s: cancelling"));

	CHECK(wait_end(pa) == RS_COMPLETED);
	st = status_of(pa);
	CHECK(jnum(st, "attempt") == 2);
	cJSON_Delete(st);
	CHECK(!has(pa, RF_EVENTS, "timeout"));
}

/* ---- capacity and order ---- */

static void test_capacity(void)
{
	int64_t exp = exp_id("cap");
	const char *file = tpath("cap.txt");
	const char *gate = tpath("cap.gate");
	char script[1024], name[16], line[32], *t, *p;
	struct buf b = BUF_INIT(0);
	int64_t id[3];
	int i, active, queued;

	for (i = 0; i < 3; i++) {
		snprintf(script, sizeof(script),
			 "echo start %d >> %s; "
			 "while [ ! -e %s ]; do sleep 0.02; done; "
			 "echo end %d >> %s", i, file, gate, i, file);
		snprintf(name, sizeof(name), "job%d", i);
		id[i] = start_sh(exp, name, "one", script, NULL);
	}
	/* one runs, the others wait for the slot and say so */
	CHECK(wait_state(id[0], RS_RUNNING));
	active = queued = 0;
	for (i = 0; i < 3; i++) {
		active += run_state_active(state_of(id[i]));
		queued += state_of(id[i]) == RS_QUEUED;
	}
	CHECK(active == 1 && queued == 2);
	t = queue_text();
	CHECK(strstr(t, "1 cap/job1 priority=0 provider=one no free slot on "
		     "one (1/1 jobs)\n") != NULL);
	CHECK(strstr(t, "2 cap/job2 priority=0 provider=one no free slot on "
		     "one (1/1 jobs)\n") != NULL);
	free(t);
	for (i = 0; i < core_provider_count(core); i++) {
		char pn[TFS_NAME_MAX + 1];

		core_provider_name(core, i, pn);
		if (!strcmp(pn, "one"))
			core_provider_status(core, i, &b);
	}
	t = buf_detach(&b, NULL);
	CHECK(strncmp(t, "ok\ntype: local\n", 15) == 0);
	CHECK(strstr(t, "jobs: 1/1\n") != NULL);
	free(t);

	touch(gate);
	for (i = 0; i < 3; i++)
		CHECK(wait_end(id[i]) == RS_COMPLETED);
	/* starts and ends alternate: never two at once */
	t = slurp(file);
	CHECK(count_lines(t) == 6);
	p = t;
	for (i = 0; i < 3; i++) {
		int n = -1;

		CHECK(sscanf(p, "start %d", &n) == 1);
		snprintf(line, sizeof(line), "start %d\nend %d\n", n, n);
		CHECK(strncmp(p, line, strlen(line)) == 0);
		if (strncmp(p, line, strlen(line)))
			break;
		p += strlen(line);
	}
	/* and they started in submission order */
	CHECK(!strncmp(t, "start 0\nend 0\nstart 1\nend 1\nstart 2\nend 2\n",
		       42));
	free(t);
}

static void test_priority(void)
{
	int64_t exp = exp_id("prio");
	const char *file = tpath("prio.txt");
	const char *gate = tpath("prio.gate");
	char script[1024], reason[512], *t, *a, *b, *c;
	int64_t blocker, low, high, bump;

	snprintf(script, sizeof(script),
		 "echo blocker >> %s; while [ ! -e %s ]; do sleep 0.02; done",
		 file, gate);
	blocker = start_sh(exp, "blocker", "one", script, NULL);
	CHECK(wait_state(blocker, RS_RUNNING));
	snprintf(script, sizeof(script), "echo low >> %s", file);
	low = start_sh(exp, "low", "one", script, NULL);
	snprintf(script, sizeof(script), "echo high >> %s", file);
	high = start_sh(exp, "high", "one", script, "\"priority\": 5");
	snprintf(script, sizeof(script), "echo bump >> %s", file);
	bump = start_sh(exp, "bump", "one", script, NULL);
	CHECK(ctl(bump, "priority 10", reason, sizeof(reason)) == TFS_OK);

	t = queue_text();
	a = strstr(t, "prio/bump priority=10 ");
	b = strstr(t, "prio/high priority=5 ");
	c = strstr(t, "prio/low priority=0 ");
	CHECK(a && b && c && a < b && b < c);
	CHECK(!strncmp(t, "1 prio/bump", 11));
	free(t);
	CHECK(state_of(low) == RS_QUEUED && state_of(high) == RS_QUEUED);

	touch(gate);
	CHECK(wait_end(blocker) == RS_COMPLETED);
	CHECK(wait_end(bump) == RS_COMPLETED);
	CHECK(wait_end(high) == RS_COMPLETED);
	CHECK(wait_end(low) == RS_COMPLETED);
	t = slurp(file);
	CHECK_STR(t, "blocker\nbump\nhigh\nlow\n");
	free(t);
}

/* A failed run retried while it waits for a slot: no stale job id. */
static void test_retry_waits(void)
{
	int64_t exp = exp_id("prio");
	const char *gate = tpath("rw.gate");
	char script[512], reason[512];
	int64_t f, blocker;
	cJSON *st;

	f = start_sh(exp, "rw-fail", "one", "exit 4", NULL);
	CHECK(wait_end(f) == RS_FAILED);
	snprintf(script, sizeof(script),
		 "while [ ! -e %s ]; do sleep 0.02; done", gate);
	blocker = start_sh(exp, "rw-blocker", "one", script, NULL);
	CHECK(wait_state(blocker, RS_RUNNING));
	CHECK(ctl(f, "retry", reason, sizeof(reason)) == TFS_OK);
	sleep_ms(150);
	CHECK(state_of(f) == RS_QUEUED);
	st = status_of(f);
	CHECK(jnull(st, "provider_job_id"));
	CHECK(jnull(st, "exit_code"));
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	touch(gate);
	CHECK(wait_end(f) == RS_FAILED);
	st = status_of(f);
	CHECK(jnum(st, "attempt") == 2);
	CHECK(jnum(st, "exit_code") == 4);
	cJSON_Delete(st);
	CHECK(wait_end(blocker) == RS_COMPLETED);
}

/* ---- dependencies ---- */

static void test_depends(void)
{
	int64_t exp = exp_id("deps");
	const char *file = tpath("deps.txt");
	const char *gate = tpath("deps.gate");
	const char *fgate = tpath("deps.fgate");
	char script[1024], *t;
	int64_t a, b, f, c, d, x, y;
	cJSON *st;

	snprintf(script, sizeof(script),
		 "echo startA >> %s; while [ ! -e %s ]; do sleep 0.02; done; "
		 "echo endA >> %s", file, gate, file);
	a = start_sh(exp, "A", "local", script, NULL);
	snprintf(script, sizeof(script), "echo startB >> %s", file);
	b = start_sh(exp, "B", "local", script, "\"depends_on\": [\"A\"]");
	CHECK(wait_state(a, RS_RUNNING));
	sleep_ms(150);       /* a few passes: B must not start */
	CHECK(state_of(b) == RS_QUEUED);
	t = queue_text();
	CHECK(strstr(t, "deps/B priority=0 provider=local waiting for "
		     "dependency A (running)\n") != NULL);
	free(t);
	touch(gate);
	CHECK(wait_end(a) == RS_COMPLETED);
	CHECK(wait_end(b) == RS_COMPLETED);
	t = slurp(file);
	CHECK_STR(t, "startA\nendA\nstartB\n");
	free(t);

	/* a failing dependency fails its dependents, and only them */
	snprintf(script, sizeof(script),
		 "while [ ! -e %s ]; do sleep 0.02; done; exit 3", fgate);
	f = start_sh(exp, "F", "local", script, NULL);
	c = start_sh(exp, "C", "local", "true", "\"depends_on\": [\"F\"]");
	d = start_sh(exp, "D", "local", "true", "\"depends_on\": [\"A\"]");
	CHECK(wait_state(f, RS_RUNNING));
	CHECK(state_of(c) == RS_QUEUED);
	touch(fgate);
	CHECK(wait_end(f) == RS_FAILED);
	CHECK(wait_end(c) == RS_FAILED);
	CHECK(wait_end(d) == RS_COMPLETED);
	st = status_of(c);
	CHECK_STR(jstr(st, "reason"), "dependency F failed");
	CHECK(jnum(st, "attempt") == 0);
	CHECK(jnull(st, "provider_job_id"));
	cJSON_Delete(st);

	/* across experiments: "exp/run" */
	x = start_sh(exp_id("default"), "upstream", "local", "true", NULL);
	y = start_sh(exp, "downstream", "local", "true",
		     "\"depends_on\": [\"default/upstream\"]");
	CHECK(wait_end(x) == RS_COMPLETED);
	CHECK(wait_end(y) == RS_COMPLETED);
}

/* ---- removal ---- */

static void test_exp_remove(void)
{
	int64_t exp = exp_id("rmexp");
	int64_t id = start(exp, "busy", "{\"command\": [\"sleep\", \"30\"]}");
	int64_t done = start(exp, "done", "{\"command\": [\"true\"]}");
	char path[PATH_MAX], reason[512];
	struct core_exp_info e;
	struct core_run_info ri;
	const char *uuid;
	struct stat sb;
	cJSON *st;

	CHECK(wait_state(id, RS_RUNNING));
	CHECK(wait_end(done) == RS_COMPLETED);
	st = status_of(id);
	uuid = jstr(st, "run_id");
	snprintf(path, sizeof(path), "%s/runs/%s", state_dir,
		 uuid ? uuid : "?");
	cJSON_Delete(st);
	CHECK(stat(path, &sb) == 0);

	CHECK(core_exp_remove(core, "rmexp") == TFS_ENOTEMPTY);
	CHECK(core_run_remove(core, exp, "busy") == TFS_EBUSY);
	CHECK(core_exp_lookup(core, "rmexp", &e) == TFS_OK && e.nruns == 2);
	CHECK(ctl(id, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(wait_end(id) == RS_STOPPED);
	/* a bare rmdir never takes ended runs with it */
	CHECK(core_exp_remove(core, "rmexp") == TFS_ENOTEMPTY);
	CHECK(core_exp_lookup(core, "rmexp", &e) == TFS_OK && e.nruns == 2);
	CHECK(core_run_remove(core, exp, "busy") == TFS_OK);
	CHECK(core_run_remove(core, exp, "done") == TFS_OK);
	CHECK(core_exp_remove(core, "rmexp") == TFS_OK);
	CHECK(core_exp_lookup(core, "rmexp", &e) == TFS_ENOENT);
	CHECK(core_run_get(core, id, &ri) == TFS_ENOENT);
	CHECK(core_run_get(core, done, &ri) == TFS_ENOENT);
	CHECK(stat(path, &sb) < 0 && errno == ENOENT);
	/* and the name is free again */
	CHECK(exp_id("rmexp") > exp);
}

/* ---- restart ---- */

static void test_restart(void)
{
	int64_t exp = exp_id("restart");
	const char *counter = tpath("restart.count");
	char script[512], reason[512], *t;
	struct core_exp_info e;
	struct core_run_info ri;
	int64_t id, held, second, ok = 0;
	char before[40] = "", first[40] = "";
	cJSON *st;

	snprintf(script, sizeof(script), "echo started >> %s; sleep 2; exit 7",
		 counter);
	id = start_sh(exp, "survivor", "local", script, NULL);
	/* a second attempt running across the restart keeps its start */
	second = start_sh(exp, "second", "local",
			  "if [ \"$TRAINFS_ATTEMPT\" = 1 ]; then sleep 1.1; "
			  "exit 1; fi; sleep 30",
			  "\"timeout_s\": 600, \"max_retries\": 1");
	held = start(exp, "held", "{\"provider\": \"hold\", "
		     "\"command\": [\"true\"]}");
	CHECK(wait_state(id, RS_RUNNING));
	{
		int64_t deadline = mono_ms() + WAIT_MS;

		do {
			t = slurp(counter);
			ok = count_lines(t) == 1;
			free(t);
			if (!ok)
				sleep_ms(STEP_MS);
		} while (!ok && mono_ms() < deadline);
		CHECK(ok);
	}
	{
		int64_t deadline = mono_ms() + WAIT_MS;

		while ((st = status_of(second)) && jnum(st, "attempt") < 2 &&
		       mono_ms() < deadline) {
			cJSON_Delete(st);
			sleep_ms(STEP_MS);
		}
		cJSON_Delete(st);
	}
	CHECK(wait_state(second, RS_RUNNING));
	st = status_of(second);
	CHECK(jnum(st, "attempt") == 2);
	snprintf(before, sizeof(before), "%s",
		 jstr(st, "attempt_started") ? jstr(st, "attempt_started") : "");
	snprintf(first, sizeof(first), "%s",
		 jstr(st, "started") ? jstr(st, "started") : "");
	cJSON_Delete(st);
	CHECK(before[0] && first[0] && strcmp(before, first) > 0);

	core_close(core);
	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	st = status_of(second);
	CHECK(state_of(second) == RS_RUNNING);
	CHECK_STR(jstr(st, "attempt_started"), before);
	cJSON_Delete(st);
	CHECK(core_run_ctl(core, second, "cancel\n", 7, reason,
			   sizeof(reason)) == TFS_OK);
	CHECK(core_exp_lookup(core, "restart", &e) == TFS_OK && e.id == exp);
	CHECK(core_run_lookup(core, exp, "survivor", &ri) == TFS_OK &&
	      ri.id == id);
	CHECK(state_of(id) == RS_RUNNING);
	CHECK(state_of(held) == RS_QUEUED);
	t = queue_text();
	CHECK(strstr(t, "restart/held priority=0 provider=hold") != NULL);
	free(t);

	CHECK(wait_end(id) == RS_FAILED);
	st = status_of(id);
	CHECK(jnum(st, "exit_code") == 7);
	CHECK_STR(jstr(st, "reason"), "exit code 7");
	CHECK(jnum(st, "attempt") == 1);
	cJSON_Delete(st);
	t = slurp(counter);
	CHECK(count_lines(t) == 1);     /* started once, across the restart */
	free(t);
	CHECK(has(id, RF_EVENTS, "created (id "));

	/* what ended before the restart is still there */
	CHECK(core_exp_lookup(core, "exp1", &e) == TFS_OK);
	CHECK(core_run_lookup(core, e.id, "ok", &ri) == TFS_OK &&
	      ri.state == RS_COMPLETED && ri.submitted);
	CHECK(has(ri.id, RF_EVENTS, "-> completed: exit code 0"));

	CHECK(ctl(held, "cancel", reason, sizeof(reason)) == TFS_OK);
	CHECK(state_of(held) == RS_STOPPED);
	/* the poller of the new instance runs jobs */
	ok = start(exp, "after", "{\"command\": [\"true\"]}");
	CHECK(wait_end(ok) == RS_COMPLETED);
}

/* 1 when the queue lists a, b and c in this order. */
static int queue_order(const char *a, const char *b, const char *c)
{
	char *t = queue_text(), *pa = strstr(t, a), *pb = strstr(t, b),
	     *pc = strstr(t, c);
	int ok = pa && pb && pc && pa < pb && pb < pc;

	free(t);
	return ok;
}

/* The queue's order and a pause not yet carried out survive a restart. */
static void test_restart_order_pending(void)
{
	int64_t exp = exp_id("order");
	int64_t q1 = mkrun(exp, "q1"), q2 = mkrun(exp, "q2"),
		q3 = mkrun(exp, "q3"), job;
	static const char held[] = "{\"provider\": \"hold\", "
				   "\"command\": [\"true\"]}";
	struct core_opts o = { .state_dir = state_dir,
			       .config_file = conf_path };
	char reason[512], err[512];
	struct core *idle;

	/* submitted in an order other than their ids' */
	CHECK(submit(q3, held, NULL, 0) == TFS_OK);
	CHECK(submit(q1, held, NULL, 0) == TFS_OK);
	CHECK(submit(q2, held, NULL, 0) == TFS_OK);
	track(q1);
	track(q2);
	track(q3);
	job = start_sh(exp, "job", "local", "sleep 30", NULL);
	CHECK(wait_state(job, RS_RUNNING));

	core_close(core);
	/* a pause accepted by a daemon that stops before it is carried out */
	idle = core_open(&o, err, sizeof(err));
	CHECK(idle != NULL);
	if (idle) {
		CHECK(core_run_ctl(idle, job, "pause", 5, reason,
				   sizeof(reason)) == TFS_OK);
		core_close(idle);
	}
	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	CHECK(queue_order("order/q3 ", "order/q1 ", "order/q2 "));
	CHECK(wait_state(job, RS_PAUSED));
	CHECK(ctl(job, "resume", NULL, 0) == TFS_OK);
	CHECK(wait_state(job, RS_RUNNING));
	CHECK(ctl(job, "cancel", NULL, 0) == TFS_OK);
	CHECK(wait_end(job) == RS_STOPPED);
	/* a retry goes to the back, and stays there across a restart */
	CHECK(ctl(q3, "cancel", NULL, 0) == TFS_OK);
	CHECK(ctl(q3, "retry", NULL, 0) == TFS_OK);
	core_close(core);
	core = open_core();
	CHECK(core != NULL);
	if (!core)
		return;
	CHECK(queue_order("order/q1 ", "order/q2 ", "order/q3 "));
	CHECK(ctl(q1, "cancel", NULL, 0) == TFS_OK);
	CHECK(ctl(q2, "cancel", NULL, 0) == TFS_OK);
	CHECK(ctl(q3, "cancel", NULL, 0) == TFS_OK);
}

/*
 * A run that a queued run depends on cannot be removed, renamed or moved
 * (nor its experiment renamed when named as "exp/run"): the dependent
 * would wait forever for a name that is gone.
 */
static void test_dependents_hold(void)
{
	int64_t exp = exp_id("holds"), other = exp_id("holds2");
	int64_t up = start(exp, "up", "{\"command\": [\"true\"]}"), down,
		cross;
	char reason[512] = "";
	struct core_run_info ri;

	CHECK(wait_end(up) == RS_COMPLETED);
	down = start(exp, "down", "{\"provider\": \"hold\", "
		     "\"command\": [\"true\"], \"depends_on\": [\"up\"]}");
	CHECK(state_of(down) == RS_QUEUED);
	CHECK(core_run_remove(core, exp, "up") == TFS_EBUSY);
	CHECK(core_run_rename(core, exp, "up", "up2", reason,
			      sizeof(reason)) == TFS_EBUSY);
	CHECK(strstr(reason, "queued run 'holds/down' depends on it") != NULL);
	CHECK(core_run_move(core, exp, "up", other, "up", reason,
			    sizeof(reason)) == TFS_EBUSY);
	CHECK(has(up, RF_EVENTS, "rmdir refused: cannot remove run 'holds/up'"));
	/* the experiment's name only matters to "exp/run" */
	CHECK(core_exp_rename(core, "holds", "holds-r") == TFS_OK);
	CHECK(core_exp_rename(core, "holds-r", "holds") == TFS_OK);
	cross = start(other, "cross", "{\"provider\": \"hold\", "
		      "\"command\": [\"true\"], "
		      "\"depends_on\": [\"holds/up\"]}");
	CHECK(core_exp_rename(core, "holds", "holds-r") == TFS_EBUSY);
	CHECK(ctl(down, "cancel", NULL, 0) == TFS_OK);
	CHECK(ctl(cross, "cancel", NULL, 0) == TFS_OK);
	/* a retry of a run whose dependency is gone is refused */
	CHECK(core_run_move(core, exp, "up", other, "moved", reason,
			    sizeof(reason)) == TFS_OK);
	CHECK(core_run_lookup(core, other, "moved", &ri) == TFS_OK &&
	      ri.id == up && ri.state == RS_COMPLETED);
	CHECK(has(up, RF_EVENTS, "moved from 'holds/up' to 'holds2/moved'"));
	CHECK(ctl(down, "retry", reason, sizeof(reason)) == TFS_EINVAL);
	CHECK(strstr(reason, "unknown run 'up'") != NULL);
	CHECK(state_of(down) == RS_STOPPED);
}

static int write_config(void)
{
	static const char conf[] =
		"{\"poll_interval_ms\": 50, \"kill_grace_s\": 1, "
		"\"retry_backoff_s\": 0, \"providers\": {"
		"\"local\": {\"type\": \"local\", \"slots\": "
		"{\"cpus\": 2, \"max_jobs\": 2}}, "
		"\"one\": {\"type\": \"local\", \"slots\": "
		"{\"cpus\": 2, \"max_jobs\": 1}}, "
		"\"hold\": {\"type\": \"local\", \"slots\": "
		"{\"cpus\": 2, \"max_jobs\": 0}}}}";

	return file_write_atomic(conf_path, conf, strlen(conf), 0);
}

/* A bad daemon config is refused with the reason. */
static void test_bad_daemon_config(void)
{
	char path[PATH_MAX], sdir[PATH_MAX], err[512] = "";
	struct core_opts o = { .state_dir = sdir, .config_file = path };
	static const char conf[] = "{\"poll_interval_ms\": 50, \"colour\": 1}";

	snprintf(path, sizeof(path), "%s/bad.json", root);
	snprintf(sdir, sizeof(sdir), "%s/bad-state", root);
	file_write_atomic(path, conf, strlen(conf), 0);
	CHECK(core_open(&o, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "unknown key 'colour'") != NULL);
}

int main(void)
{
	int64_t t0 = mono_ms();

	log_set_level(LOG_CRIT);
	snprintf(root, sizeof(root), "/tmp/tfs-core-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	snprintf(conf_path, sizeof(conf_path), "%s/config.json", root);
	CHECK(write_config() == TFS_OK);
	test_bad_daemon_config();
	core = open_core();
	CHECK(core != NULL);
	if (core) {
		CHECK(core_provider_count(core) == 3);
		test_experiments();
		test_run_names();
		test_complete();
		test_failed_and_retry();
		test_invalid_configs();
		test_templates();
		test_env_params();
		test_metrics();
		test_ctl_queued();
		test_ctl_running();
		test_timeouts();
		test_capacity();
		test_priority();
		test_retry_waits();
		test_depends();
		test_exp_remove();
		test_dependents_hold();
		test_restart();
		test_restart_order_pending();
	}
	runs_cleanup();
	core_close(core);
	rm_rf(root);
	fprintf(stderr, "test_core: %.1f s\n", (double)(mono_ms() - t0) / 1000);
	return TEST_REPORT();
}
