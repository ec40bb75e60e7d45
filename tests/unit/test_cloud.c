/*
 * test_cloud.c - connectors/cloud.c's names and config, with a test
 * adapter that makes no request: every refusal of the config says which
 * key, and the names find() matches round-trip and refuse near misses.
 */
#include "cloud.h"
#include "test.h"
#include "wrapper.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static const char *const test_keys[] = { "flavour", NULL };
static char workdir[64];

const struct cloud_api test_api = {
	.type = "runpod",
	.default_url = "https://rest.example.invalid/",
	.keys = test_keys,
};

static void names(void)
{
	char n[CLOUD_NAME_MAX + 1], u[37];
	const char *id = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	int a = 0;

	cloud_name(n, sizeof(n), id, 3);
	CHECK_STR(n, "trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-3");
	CHECK(cloud_name_parse(n, u, &a) == 1);
	CHECK_STR(u, id);
	CHECK(a == 3);
	cloud_name(n, sizeof(n), id, 10000);
	CHECK(cloud_name_parse(n, u, &a) == 1 && a == 10000);
	CHECK(!cloud_name_parse("trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-10001", u, &a));
	CHECK(!cloud_name_parse("trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-0", u, &a));
	CHECK(!cloud_name_parse("trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-", u, &a));
	CHECK(!cloud_name_parse("trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-1x", u, &a));
	CHECK(!cloud_name_parse("trainfs-0B7F3C1E-9a2d-4c5e-8f10-123456789abc-1", u, &a));
	CHECK(!cloud_name_parse("trainfs-0b7f3c1e-9a2d-4c5e-8f10-123456789ab-1", u, &a));
	CHECK(!cloud_name_parse("other-0b7f3c1e-9a2d-4c5e-8f10-123456789abc-1", u, &a));
	CHECK(!cloud_name_parse("", u, &a));
	CHECK(!cloud_name_parse(NULL, u, &a));
}

/* init with text as the config: the return code, err in err. */
static int conf(const char *text, char *err, size_t errlen)
{
	struct connector c = { 0 };
	cJSON *j = cJSON_Parse(text);
	int rc;

	c.name = "rp";
	c.work_dir = workdir;
	err[0] = '\0';
	if (!j) {
		snprintf(err, errlen, "bad test JSON");
		return -1;
	}
	rc = cloud_init(&c, j, &test_api, err, errlen);
	if (rc == TFS_OK) {
		const struct cloud_conf *cc = cloud_conf(c.priv);

		if (strcmp(cc->url, "https://rest.example.invalid") &&
		    strncmp(cc->url, "http://127.0.0.1", 16))
			rc = -2;
		cloud_release(&c);
	}
	cJSON_Delete(j);
	return rc;
}

#define REFUSED(text, words) do { \
	char e_[256]; \
	CHECK(conf(text, e_, sizeof(e_)) == TFS_EINVAL); \
	if (!strstr(e_, words)) { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: '%s' lacks '%s'\n", __FILE__, \
			__LINE__, e_, words); } else test_passed++; \
} while (0)

static void config(void)
{
	char e[256], loose[64], tight[64];
	FILE *f;

	setenv("TEST_CLOUD_KEY", "rk-123456", 1);
	CHECK(conf("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": "
		   "\"file:///tmp/x\"}", e, sizeof(e)) == TFS_OK);
	CHECK(conf("{\"type\": \"runpod\", \"api_key_env\": \"TEST_CLOUD_KEY\","
		   " \"store\": \"http://127.0.0.1:1/dav/\", \"flavour\": 1,"
		   " \"gpu_types\": [\"A\", \"B\"], \"regions\": [],"
		   " \"interruptible\": true, \"max_price_per_hour\": 2.5,"
		   " \"image\": \"x:1\", \"boot_timeout_s\": 60, \"poll_ms\": 100,"
		   " \"rps\": 2, \"slots\": {\"max_jobs\": 3}}", e,
		   sizeof(e)) == TFS_OK);
	REFUSED("[]", "config object");
	REFUSED("{\"store\": \"file:///tmp/x\"}", "api_key_env");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"api_key_file\": \"/x\","
		" \"store\": \"file:///tmp/x\"}", "one of");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\"}", "'store'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"s3://b\"}",
		"'store'");
	REFUSED("{\"api_key_env\": \"NO_SUCH_VAR_X\", \"store\": \"file:///x\"}",
		"NO_SUCH_VAR_X");
	/* a credential or a query in the store's URL would spread */
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": "
		"\"https://u:pw@store.example/dav\"}", "user:password");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": "
		"\"https://store.example/dav?sig=abc\"}", "a query");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": "
		"\"https://store.example/dav#x\"}", "a query");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"colour\": 1}", "unknown key 'colour'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"type\": \"lambda\"}", "'type' must be \"runpod\"");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"gpu_types\": \"A100\"}", "'gpu_types'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"gpu_types\": [{\"id\": \"A\"}]}", "'gpu_types[0]'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"regions\": [1]}", "'regions[0]'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"interruptible\": 1}", "'interruptible'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"max_price_per_hour\": -1}", "'max_price_per_hour'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"boot_timeout_s\": 1}", "'boot_timeout_s'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"url\": \"ftp://x\"}", "'url'");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"store_auth_env\": \"A\", \"store_auth_file\": \"/b\"}",
		"at most one");
	REFUSED("{\"api_key_env\": \"TEST_CLOUD_KEY\", \"store\": \"file:///x\","
		" \"slots\": {\"disks\": 1}}", "slots.disks");
	/* a key file others can read is refused, a private one taken */
	snprintf(loose, sizeof(loose), "/tmp/test_cloud_loose.%d", getpid());
	snprintf(tight, sizeof(tight), "/tmp/test_cloud_tight.%d", getpid());
	f = fopen(loose, "w");
	fputs("rk-abcdef\n", f);
	fclose(f);
	chmod(loose, 0644);
	f = fopen(tight, "w");
	fputs("rk-abcdef\n", f);
	fclose(f);
	chmod(tight, 0600);
	{
		char t[512];

		snprintf(t, sizeof(t), "{\"api_key_file\": \"%s\", \"store\": "
			 "\"file:///tmp/x\"}", loose);
		CHECK(conf(t, e, sizeof(e)) == TFS_EINVAL);
		CHECK(strstr(e, "rk-abcdef") == NULL);
		snprintf(t, sizeof(t), "{\"api_key_file\": \"%s\", \"store\": "
			 "\"file:///tmp/x\"}", tight);
		CHECK(conf(t, e, sizeof(e)) == TFS_OK);
	}
	unlink(loose);
	unlink(tight);
}

/* RunPod's pods as GET /v1/pods answers them, mapped. */
static void runpod_pods(void)
{
	static const char *const bodies[] = {
		"{\"id\": \"p1\", \"name\": \"trainfs-x\", \"desiredStatus\": "
		"\"RUNNING\", \"costPerHr\": 0.34, \"createdAt\": "
		"\"2026-12-02T12:00:00Z\"}",
		"{\"id\": \"p2\", \"desiredStatus\": \"RUNNING\", \"costPerHr\": 1.5,"
		" \"lastStartedAt\": \"2026-12-02T12:00:05Z\"}",
		"{\"id\": \"p3\", \"desiredStatus\": \"EXITED\", \"lastStatusChange\":"
		" \"Exited by user: 2026\"}",
		"{\"id\": \"p4\", \"desiredStatus\": \"EXITED\", \"lastStatusChange\":"
		" \"Interrupted: spot pod preempted\"}",
		"{\"id\": \"p5\", \"desiredStatus\": \"TERMINATED\", \"lastStatusChange\":"
		" \"Interrupted: spot pod preempted\"}",
		"{\"id\": \"p6\", \"desiredStatus\": \"TERMINATED\"}",
		"{\"id\": \"p7\", \"desiredStatus\": 3, \"costPerHr\": \"x\"}",
	};
	static const enum cloud_state want[] = {
		CLOUD_BOOTING, CLOUD_RUNNING, CLOUD_EXITED, CLOUD_PREEMPTED,
		CLOUD_PREEMPTED, CLOUD_GONE, CLOUD_BOOTING,
	};
	struct cloud_inst in;
	size_t i;

	for (i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
		cJSON *j = cJSON_Parse(bodies[i]);

		CHECK(j != NULL);
		runpod_pod(j, &in);
		if (in.state != want[i])
			fprintf(stderr, "pod %zu: state %d\n", i, in.state);
		CHECK(in.state == want[i]);
		cJSON_Delete(j);
	}
	{
		cJSON *j = cJSON_Parse(bodies[0]);

		runpod_pod(j, &in);
		CHECK_STR(in.id, "p1");
		CHECK_STR(in.name, "trainfs-x");
		CHECK(in.price_per_hour == 0.34);
		CHECK(in.created_ms == 1796212800000LL);
		CHECK(in.started_ms == 0);
		cJSON_Delete(j);
		j = cJSON_Parse(bodies[6]);
		runpod_pod(j, &in);
		CHECK(in.price_per_hour == -1);
		cJSON_Delete(j);
		/* an id past CLOUD_ID_MAX: not cut into another pod's, not
		 * ours */
		{
			char t[512];

			snprintf(t, sizeof(t), "{\"id\": \"%0200d\", \"name\": "
				 "\"trainfs-x\", \"desiredStatus\": \"RUNNING\"}",
				 7);
			j = cJSON_Parse(t);
			runpod_pod(j, &in);
			CHECK_STR(in.name, "");
			CHECK(strlen(in.id) < 200);
			cJSON_Delete(j);
		}
	}
	{
		char m[64];
		cJSON *j = cJSON_Parse("{\"error\": \"create pod: There are no "
				       "longer any instances\", \"status\": 500}");

		runpod_api.errmsg(j, m, sizeof(m));
		CHECK_STR(m, "create pod: There are no longer any instances");
		cJSON_Delete(j);
		j = cJSON_Parse("[1]");
		runpod_api.errmsg(j, m, sizeof(m));
		CHECK_STR(m, "");
		cJSON_Delete(j);
	}
}

/* RunPod's own config: gpu_types is required, its objects checked. */
static void runpod_config(void)
{
	static const struct {
		const char *conf, *words;
	} bad[] = {
		{ "{}", "has no price list" },
		{ "{\"gpu_types\": [{\"id\": \"A\", \"price\": 1}]}",
		  "unknown key 'gpu_types[0].price'" },
		{ "{\"gpu_types\": [{\"id\": \"A\", \"price_per_hour\": -1}]}",
		  "'gpu_types[0].price_per_hour'" },
		{ "{\"gpu_types\": [{\"id\": \"A\", \"cloud_type\": \"X\"}]}",
		  "SECURE" },
		{ "{\"gpu_types\": [\"A\"], \"cloud_type\": \"ALL\"}", "SECURE" },
	};
	struct connector c = { 0 };
	char e[256], t[512];
	size_t i;

	c.work_dir = workdir;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cJSON *j;

		snprintf(t, sizeof(t), "%.*s\"api_key_env\": \"TEST_CLOUD_KEY\", "
			 "\"store\": \"file:///tmp/x\"%s%s", 1, bad[i].conf,
			 strlen(bad[i].conf) > 2 ? ", " : "", bad[i].conf + 1);
		j = cJSON_Parse(t);
		CHECK(j != NULL);
		e[0] = '\0';
		CHECK(runpod_connector_ops.init(&c, j, e, sizeof(e)) ==
		      TFS_EINVAL);
		if (!strstr(e, bad[i].words))
			fprintf(stderr, "'%s': '%s'\n", t, e);
		CHECK(strstr(e, bad[i].words) != NULL);
		cJSON_Delete(j);
	}
	snprintf(t, sizeof(t), "{\"api_key_env\": \"TEST_CLOUD_KEY\", "
		 "\"store\": \"file:///tmp/x\", \"gpu_types\": [\"B\", {\"id\": "
		 "\"A\", \"price_per_hour\": 0.5, \"cloud_type\": \"COMMUNITY\"}]}");
	{
		cJSON *j = cJSON_Parse(t);
		struct job_need need = { 0, 2, 0, NULL, -1 };
		struct cloud_offer *o = NULL;
		size_t n = 0;

		CHECK(runpod_connector_ops.init(&c, j, e, sizeof(e)) == TFS_OK);
		CHECK(runpod_api.offers(c.priv, &need, &o, &n, e,
					sizeof(e)) == TFS_OK && n == 2);
		if (n == 2) {
			CHECK_STR(o[1].id, "A");
			CHECK(o[1].price_per_hour == 1.0);
			CHECK_STR(o[1].cloud_type, "COMMUNITY");
			CHECK_STR(o[0].cloud_type, "SECURE");
			CHECK(o[0].gpus == 2);
		}
		free(o);
		runpod_connector_ops.release(&c);
		cJSON_Delete(j);
	}
}

/*
 * A fake provider for the connector's decisions: one offer, launches and
 * terminates counted, a list the test sets (fk_list, fk_n), answers the
 * test sets (fk_launch_rc, fk_term_rc).
 */
static struct cloud_inst fk_list[4];
static size_t fk_n;
static int fk_launches, fk_terms, fk_launch_rc, fk_term_rc, fk_lists;
static int fk_offer_calls;
static char fk_termed[CLOUD_ID_MAX];

static int fk_offers(struct cloud *cl, const struct job_need *need,
		     struct cloud_offer **out, size_t *n, char *err,
		     size_t errlen)
{
	size_t i;

	(void)cl; (void)need; (void)err; (void)errlen;
	fk_offer_calls++;
	*out = calloc(3, sizeof(**out));
	for (i = 0; i < 3; i++) {
		snprintf((*out)[i].id, sizeof((*out)[i].id), "GPU-%zu", i);
		snprintf((*out)[i].gpu, sizeof((*out)[i].gpu), "GPU %zu", i);
		(*out)[i].gpus = 8;
		(*out)[i].price_per_hour = 1 + (double)i;
		(*out)[i].available = 1;
	}
	*n = 3;
	return TFS_OK;
}

static int fk_launch(struct cloud *cl, const struct cloud_launch *l,
		     char *id, size_t idlen, char *err, size_t errlen)
{
	(void)cl; (void)l;
	fk_launches++;
	snprintf(id, idlen, "pod%d", fk_launches);
	snprintf(err, errlen, "POST answered 500");
	return fk_launch_rc;
}

static int fk_lst(struct cloud *cl, struct cloud_inst **out, size_t *n,
		  char *err, size_t errlen)
{
	(void)cl; (void)err; (void)errlen;
	fk_lists++;
	*out = calloc(fk_n ? fk_n : 1, sizeof(**out));
	memcpy(*out, fk_list, fk_n * sizeof(**out));
	*n = fk_n;
	return TFS_OK;
}

static int fk_term(struct cloud *cl, const char *id, char *err,
		   size_t errlen)
{
	(void)cl;
	fk_terms++;
	snprintf(fk_termed, sizeof(fk_termed), "%s", id);
	snprintf(err, errlen, "DELETE answered 500");
	return fk_term_rc;
}

static const struct cloud_api fake_api = {
	.type = "vastai",
	.default_url = "http://127.0.0.1:9",
	.offers = fk_offers,
	.launch = fk_launch,
	.list = fk_lst,
	.terminate = fk_term,
};

static void fk_inst(size_t i, const char *id, const char *name,
		    enum cloud_state st)
{
	memset(&fk_list[i], 0, sizeof(fk_list[i]));
	snprintf(fk_list[i].id, sizeof(fk_list[i].id), "%s", id);
	snprintf(fk_list[i].name, sizeof(fk_list[i].name), "%s", name);
	fk_list[i].state = st;
	fk_list[i].price_per_hour = -1;
	fk_list[i].exit_code = -1;
}

/* Exactly once, and no instance left billing, on the fake. */
static void decisions(void)
{
	const char *uuid = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	char *argv[] = { "true", NULL }, *env[] = { NULL };
	char id[JOB_ID_MAX], err[256], name[CLOUD_NAME_MAX + 1], wd[96];
	struct connector c = { 0 };
	struct job_spec sp = { 0 };
	struct job_query q = { 0 };
	cJSON *j = cJSON_Parse("{\"api_key_file\": \"KEYFILE\", "
			       "\"store\": \"http://127.0.0.1:9/dav\"}");
	FILE *f;

	snprintf(wd, sizeof(wd), "%s/fake", workdir);
	mkdir(wd, 0700);
	{
		char kf[128];

		snprintf(kf, sizeof(kf), "%s/key", workdir);
		f = fopen(kf, "w");
		fputs("k-123\n", f);
		fclose(f);
		chmod(kf, 0600);
		cJSON_ReplaceItemInObject(j, "api_key_file",
					  cJSON_CreateString(kf));
	}
	c.name = "fk";
	c.work_dir = wd;
	c.poll_ms = 50;
	CHECK(cloud_init(&c, j, &fake_api, err, sizeof(err)) == TFS_OK);
	cJSON_Delete(j);
	if (!c.priv) {
		fprintf(stderr, "init: %s\n", err);
		return;
	}
	sp.run_id = uuid;
	sp.attempt = 1;
	sp.argv = argv;
	sp.env = env;
	sp.gpus = 1;
	cloud_name(name, sizeof(name), uuid, 1);

	/* the quote cache is fresh after a ping: submit asks no offers */
	fk_n = 0;
	CHECK(cloud_ping(&c, err, sizeof(err)) == TFS_OK);
	fk_offer_calls = 0;

	/* a launch answered 500 that made the pod, a list that lags */
	fk_launch_rc = TFS_EIO;
	fk_n = 0;
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINPROGRESS);
	CHECK(fk_launches == 1);
	usleep(60000);
	CHECK(cloud_find(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINPROGRESS);   /* not "never made" on the first list */
	fk_inst(0, "pod1", name, CLOUD_RUNNING);
	fk_n = 1;
	usleep(60000);
	CHECK(cloud_find(&c, &sp, id, sizeof(id), err, sizeof(err)) == TFS_OK);
	CHECK_STR(id, "pod1");
	CHECK(fk_launches == 1);
	CHECK(fk_offer_calls == 0);

	/* a launch answered: the mark stays until a list shows the id */
	cloud_name(name, sizeof(name), uuid, 2);
	sp.attempt = 2;
	fk_launch_rc = TFS_OK;
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_OK);
	CHECK_STR(id, "pod2");
	usleep(60000);
	CHECK(cloud_find(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINPROGRESS);   /* a crash before core saved the id */

	/* the orphan: pod1 (attempt 1) and a second pod of attempt 2 */
	fk_inst(1, "pod2", name, CLOUD_RUNNING);
	fk_inst(2, "pod9", name, CLOUD_RUNNING);
	fk_n = 3;
	q.job_id = "pod2";
	q.run_id = uuid;
	q.attempt = 2;
	fk_term_rc = TFS_EIO;
	fk_terms = 0;
	usleep(60000);
	CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
	CHECK(fk_terms == 2);        /* pod1 and pod9, both failing */
	/* the failed terminates are sent again by the next poll and ping */
	fk_terms = 0;
	CHECK(cloud_ping(&c, err, sizeof(err)) == TFS_OK);
	CHECK(fk_terms == 2);
	fk_term_rc = TFS_OK;
	fk_terms = 0;
	CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
	CHECK(fk_terms == 2);
	fk_terms = 0;
	CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
	/* taken: not again; pod1 and pod9 still listed live: reaped */
	CHECK(fk_terms == 2);
	fk_inst(0, "pod1", "", CLOUD_GONE);
	fk_inst(2, "pod9", "", CLOUD_GONE);
	fk_terms = 0;
	CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
	CHECK(fk_terms == 0);
	CHECK(q.state == JOB_RUNNING || q.state == JOB_PENDING);

	/* a 429 past its waits: not "no capacity", no other offer tried,
	 * the run asked about again; the next submission sends nothing */
	sp.attempt = 3;
	fk_launch_rc = TFS_EBUSY;
	fk_launches = 0;
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINPROGRESS);
	CHECK(fk_launches == 1);
	CHECK_STR(err, "rate limited by vastai, trying again");
	CHECK(cloud_find(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_ENOENT);         /* nothing made: no mark left */
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINPROGRESS);
	CHECK(fk_launches == 1);

	/* a running instance on a provider that shows a container's exit:
	 * no exit GET (the unreachable store costs its retries, ~1 s) */
	fk_list[1].state = CLOUD_RUNNING;
	{
		struct timespec a, b;

		clock_gettime(CLOCK_MONOTONIC, &a);
		CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
		clock_gettime(CLOCK_MONOTONIC, &b);
		CHECK((b.tv_sec - a.tv_sec) * 1000 +
		      (b.tv_nsec - a.tv_nsec) / 1000000 < 300);
		CHECK(q.state == JOB_RUNNING);
	}

	/* the store unreadable (nothing listens): a command that ended
	 * decides nothing, the instance still goes */
	fk_list[1].state = CLOUD_EXITED;
	fk_terms = 0;
	fk_termed[0] = '\0';
	CHECK(cloud_poll(&c, &q, 1, err, sizeof(err)) == TFS_OK);
	CHECK(q.state == JOB_RUNNING);
	CHECK(fk_terms == 1);
	CHECK_STR(fk_termed, "pod2");
	cloud_release(&c);
}

/* One poll of job id against the fake's list: the state. */
static enum job_state poll_of(struct connector *c, const char *id,
			      int attempt)
{
	struct job_query q = { 0 };
	char err[256];

	q.job_id = id;
	q.run_id = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	q.attempt = attempt;
	q.state = JOB_UNKNOWN;
	if (cloud_poll(c, &q, 1, err, sizeof(err)))
		return JOB_UNKNOWN;
	return q.state;
}

/* The boot timeout and the states that pass, with a store that answers. */
static void boots(void)
{
	const char *uuid = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	char err[256], name[CLOUD_NAME_MAX + 1], wd[96], text[512];
	struct connector c = { 0 };
	cJSON *j;

	snprintf(wd, sizeof(wd), "%s/boots", workdir);
	mkdir(wd, 0700);
	snprintf(text, sizeof(text), "{\"api_key_file\": \"%s/key\", "
		 "\"store\": \"file://%s/store\", \"boot_timeout_s\": 10}",
		 workdir, wd);
	j = cJSON_Parse(text);
	c.name = "fk2";
	c.work_dir = wd;
	c.poll_ms = 50;
	CHECK(cloud_init(&c, j, &fake_api, err, sizeof(err)) == TFS_OK);
	cJSON_Delete(j);
	if (!c.priv) {
		fprintf(stderr, "init: %s\n", err);
		return;
	}
	cloud_name(name, sizeof(name), uuid, 1);
	fk_inst(0, "pod1", name, CLOUD_RUNNING);
	fk_n = 1;
	CHECK(poll_of(&c, "pod1", 1) == JOB_RUNNING);
	/* running once, then "loading" long after its creation: no boot
	 * timeout */
	fk_list[0].state = CLOUD_BOOTING;
	fk_list[0].created_ms = (int64_t)time(NULL) * 1000 - 60000;
	CHECK(poll_of(&c, "pod1", 1) == JOB_RUNNING);
	/* unhealthy: a grace period, not failed on first sight */
	fk_list[0].state = CLOUD_FAILED;
	CHECK(poll_of(&c, "pod1", 1) == JOB_RUNNING);
	cloud_name(name, sizeof(name), uuid, 2);
	fk_inst(0, "pod2", name, CLOUD_FAILED);
	CHECK(poll_of(&c, "pod2", 2) == JOB_RUNNING);
	/* never running and past the boot timeout: did not boot */
	fk_inst(0, "pod3", name, CLOUD_BOOTING);
	fk_list[0].created_ms = (int64_t)time(NULL) * 1000 - 60000;
	fk_terms = 0;
	CHECK(poll_of(&c, "pod3", 2) == JOB_PREEMPTED);
	CHECK(fk_terms == 1);
	cloud_release(&c);
}

/* Writes text to <dir>/<uuid>/<attempt>/<name>, the store's layout. */
static void store_put(const char *dir, int attempt, const char *name,
		      const char *text)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "mkdir -p '%s/0b7f3c1e-9a2d-4c5e-8f10-"
		 "123456789abc/%d'", dir, attempt);
	CHECK(system(path) == 0);
	snprintf(path, sizeof(path), "%s/0b7f3c1e-9a2d-4c5e-8f10-123456789abc/"
		 "%d/%s", dir, attempt, name);
	f = fopen(path, "w");
	CHECK(f != NULL);
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

/* One poll of job id on c: q filled. */
static void poll_q(struct connector *c, const char *id, int attempt,
		   struct job_query *q)
{
	char err[256];

	memset(q, 0, sizeof(*q));
	q->job_id = id;
	q->run_id = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	q->attempt = attempt;
	q->exit_code = -1;
	CHECK(cloud_poll(c, q, 1, err, sizeof(err)) == TFS_OK);
}

/*
 * A connector over api with a file:// store in <workdir>/<sub>/store, its
 * path in store, or with the store at url when url is not NULL.
 */
static int fk_open_at(struct connector *c, const struct cloud_api *api,
		      const char *sub, char *wd, size_t wdlen, char *store,
		      size_t storelen, const char *url)
{
	char err[256], text[512];
	cJSON *j;

	snprintf(wd, wdlen, "%s/%s", workdir, sub);
	mkdir(wd, 0700);
	snprintf(store, storelen, "%s/store", wd);
	snprintf(text, sizeof(text), "{\"api_key_file\": \"%s/key\", "
		 "\"store\": \"%s%s\", \"heartbeat_timeout_s\": 5}",
		 workdir, url ? url : "file://", url ? "" : store);
	j = cJSON_Parse(text);
	memset(c, 0, sizeof(*c));
	c->name = "fk3";
	c->work_dir = wd;
	c->poll_ms = 50;
	CHECK(cloud_init(c, j, api, err, sizeof(err)) == TFS_OK);
	cJSON_Delete(j);
	if (!c->priv)
		fprintf(stderr, "init: %s\n", err);
	return c->priv ? 0 : -1;
}

static int fk_open(struct connector *c, const struct cloud_api *api,
		   const char *sub, char *wd, size_t wdlen, char *store,
		   size_t storelen)
{
	return fk_open_at(c, api, sub, wd, wdlen, store, storelen, NULL);
}

/*
 * The wrapper's ended key: an attempt whose wrapper quit ends on the
 * pass that sees its container ended (or, on Lambda, its log quiet),
 * with the wrapper's reason, its instance terminated; a refused second
 * start is not retried, a store that refused the start is.
 */
static void wrapper_quits(void)
{
	struct cloud_api lambda_fake = fake_api;
	char name[CLOUD_NAME_MAX + 1], wd[96], store[128];
	const char *uuid = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	struct connector c;
	struct job_query q;

	if (fk_open(&c, &fake_api, "quits", wd, sizeof(wd), store,
		    sizeof(store)))
		return;
	/* exited, no exit, ended 74: failed with the wrapper's words,
	 * worth a retry */
	cloud_name(name, sizeof(name), uuid, 1);
	fk_inst(0, "pod1", name, CLOUD_EXITED);
	fk_n = 1;
	store_put(store, 1, "ended", "74 the run store answered HTTP 502 to "
		  "the started probe; the start was refused\n");
	fk_terms = 0;
	poll_q(&c, "pod1", 1, &q);
	CHECK(q.state == JOB_FAILED);
	CHECK(q.exit_code == 74);
	CHECK(q.no_retry == 0);
	CHECK(strstr(q.reason, "wrapper quit (74): the run store answered "
		     "HTTP 502") != NULL);
	CHECK(fk_terms == 1);
	CHECK_STR(fk_termed, "pod1");
	/* a refused second start: failed, not retried */
	cloud_name(name, sizeof(name), uuid, 2);
	fk_inst(0, "pod2", name, CLOUD_EXITED);
	store_put(store, 2, "ended", "75 a second start of attempt 2 was "
		  "refused\n");
	poll_q(&c, "pod2", 2, &q);
	CHECK(q.state == JOB_FAILED && q.no_retry == 1);
	CHECK(strstr(q.reason, "second start of attempt 2") != NULL);
	/* a running container is not asked: its job has not ended */
	cloud_name(name, sizeof(name), uuid, 3);
	fk_inst(0, "pod3", name, CLOUD_RUNNING);
	store_put(store, 3, "ended", "75 a second start of attempt 3 was "
		  "refused\n");
	fk_terms = 0;
	poll_q(&c, "pod3", 3, &q);
	CHECK(q.state == JOB_RUNNING && fk_terms == 0);
	/* an exit wins over ended */
	fk_inst(0, "pod3", name, CLOUD_EXITED);
	store_put(store, 3, "exit", "0\n");
	poll_q(&c, "pod3", 3, &q);
	CHECK(q.state == JOB_COMPLETED);
	/* a container that exited 76: the image lacks the wrapper's tools
	 * (no key could be stored): said, not retried */
	cloud_name(name, sizeof(name), uuid, 5);
	fk_inst(0, "pod5", name, CLOUD_EXITED);
	fk_list[0].exit_code = WRAPPER_EXIT_NOTOOL;
	snprintf(fk_list[0].status, sizeof(fk_list[0].status), "Exited (76)");
	poll_q(&c, "pod5", 5, &q);
	CHECK(q.state == JOB_FAILED && q.no_retry == 1);
	CHECK(strstr(q.reason, "no curl or sha256sum") != NULL);
	/* an ended key not in its shape decides nothing of its own */
	cloud_name(name, sizeof(name), uuid, 4);
	fk_inst(0, "pod4", name, CLOUD_EXITED);
	store_put(store, 4, "ended", "soon\n");
	poll_q(&c, "pod4", 4, &q);
	CHECK(q.state == JOB_FAILED && strstr(q.reason, "no exit code"));
	cloud_release(&c);

	/* Lambda: the VM stays active; a quiet log and ended end it at
	 * once, a log that beats is a start that runs */
	lambda_fake.type = "lambda";
	if (fk_open(&c, &lambda_fake, "quitsl", wd, sizeof(wd), store,
		    sizeof(store)))
		return;
	cloud_name(name, sizeof(name), uuid, 1);
	fk_inst(0, "vm1", name, CLOUD_RUNNING);
	fk_n = 1;
	store_put(store, 1, "ended", "74 cannot store the started key\n");
	fk_terms = 0;
	poll_q(&c, "vm1", 1, &q);
	CHECK(q.state == JOB_FAILED && q.no_retry == 0);
	CHECK(strstr(q.reason, "cannot store the started key") != NULL);
	CHECK(fk_terms == 1);
	cloud_name(name, sizeof(name), uuid, 2);
	fk_inst(0, "vm2", name, CLOUD_RUNNING);
	store_put(store, 2, "log", "epoch 1\n");
	store_put(store, 2, "ended", "75 a second start of attempt 2 was "
		  "refused (the store has its started key)\n");
	fk_terms = 0;
	poll_q(&c, "vm2", 2, &q);
	CHECK(q.state == JOB_RUNNING && fk_terms == 0);
	cloud_release(&c);
}

/*
 * A provider that runs no job without GPUs (RunPod here): quote() has no
 * offer for one, saying why (a list goes on), and submit() refuses it
 * before any request.
 */
static void cpu_only(void)
{
	struct cloud_api gpu_fake = fake_api;
	char wd[96], store[128], err[256], id[JOB_ID_MAX], why[QUOTE_WHY_MAX];
	char *argv[] = { "true", NULL }, *env[] = { NULL };
	struct job_need need = { 2, 0, 0, NULL, -1 };
	struct job_spec sp = { 0 };
	struct connector c;
	double usd = -1;

	gpu_fake.no_cpu_only = "fake runs GPU machines only";
	if (fk_open_at(&c, &gpu_fake, "cpuonly", wd, sizeof(wd), store,
		       sizeof(store), "http://127.0.0.1:9/dav"))
		return;
	fk_n = 0;
	CHECK(cloud_ping(&c, err, sizeof(err)) == TFS_OK);
	CHECK(cloud_quote(&c, &need, &usd, why, sizeof(why)) == TFS_EAGAIN);
	CHECK_STR(why, "fake runs GPU machines only");
	need.gpus = 1;
	CHECK(cloud_quote(&c, &need, &usd, why, sizeof(why)) == TFS_OK);
	CHECK(usd == 1);
	sp.run_id = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	sp.attempt = 1;
	sp.argv = argv;
	sp.env = env;
	sp.gpus = 0;
	fk_launches = 0;
	fk_offer_calls = 0;
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EINVAL);
	CHECK_STR(err, "fake runs GPU machines only");
	CHECK(fk_launches == 0 && fk_offer_calls == 0);
	/* inputs go through the store first: one it cannot take launches
	 * nothing (nothing listens on port 9) */
	sp.gpus = 1;
	sp.env = (char *[]){ "A=1", "TRAINFS_INPUT_base_model=/nonexistent/m.bin",
			     NULL };
	CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
	      TFS_EIO);
	CHECK(strstr(err, "cannot store the input TRAINFS_INPUT_base_model in "
		     "the run store: cannot read '/nonexistent/m.bin'") != NULL);
	{
		char in[160], env[200];
		FILE *f;

		snprintf(in, sizeof(in), "%s/m.bin", wd);
		f = fopen(in, "w");
		if (f) {
			fputs("weights", f);
			fclose(f);
		}
		snprintf(env, sizeof(env), "TRAINFS_INPUT_base_model=%s", in);
		sp.env = (char *[]){ env, NULL };
		CHECK(cloud_submit(&c, &sp, id, sizeof(id), err, sizeof(err)) ==
		      TFS_EIO);
		CHECK(strstr(err, "cannot store the input "
			     "TRAINFS_INPUT_base_model in the run store: ") !=
		      NULL);
	}
	CHECK(fk_launches == 0);
	cloud_release(&c);
}

/* upload_failed: what the wrapper could not store is not available. */
static struct {
	int n, skipped, log_skipped;
	char last[256];
} lst;

static int lst_cb(void *arg, const struct artifact_entry *a)
{
	(void)arg;
	lst.n++;
	if (a->skipped) {
		lst.skipped++;
		lst.log_skipped += !strcmp(a->path, "log");
		snprintf(lst.last, sizeof(lst.last), "%s", a->skipped);
	}
	return 0;
}

static void upload_failed(void)
{
	char wd[96], store[128], err[256];
	struct connector c;
	struct job_query q = { 0 };
	const char *sum = "0000000000000000000000000000000000000000000000000"
			  "000000000000000";
	char man[512];

	if (fk_open(&c, &fake_api, "upfail", wd, sizeof(wd), store,
		    sizeof(store)))
		return;
	q.run_id = "0b7f3c1e-9a2d-4c5e-8f10-123456789abc";
	q.attempt = 1;
	q.job_id = "pod1";
	snprintf(man, sizeof(man), "[{\"path\":\"a b.bin\",\"size\":1,"
		 "\"sha256\":\"%s\"},{\"path\":\"ok.bin\",\"size\":1,"
		 "\"sha256\":\"%s\"}]", sum, sum);
	store_put(store, 1, "manifest.json", man);
	memset(&lst, 0, sizeof(lst));
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_OK);
	CHECK(lst.n == 2 && lst.skipped == 0);
	store_put(store, 1, "upload_failed", "output/a%20b.bin\nlog\n");
	memset(&lst, 0, sizeof(lst));
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_OK);
	CHECK(lst.n == 3 && lst.skipped == 2 && lst.log_skipped == 1);
	/* a manifest entry named there is skipped, saying why */
	CHECK(strstr(lst.last, "'a b.bin': it did not reach the run store"));
	store_put(store, 1, "upload_failed", "manifest.json\n");
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_EIO);
	CHECK(strstr(err, "manifest did not reach the run store") != NULL);
	/* no manifest, and upload_failed names it: not "wait for it" */
	q.attempt = 2;
	store_put(store, 2, "upload_failed", "output/x\nmanifest.json\n");
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_EIO);
	q.attempt = 3;
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_EAGAIN);
	/* a wrapper that quit before the job: no manifest is coming */
	store_put(store, 3, "ended", "74 cannot store the started key\n");
	CHECK(cloud_list_artifacts(&c, &q, lst_cb, NULL, err, sizeof(err)) ==
	      TFS_ENOENT);
	CHECK(strstr(err, "wrapper quit before the job (74: cannot store") !=
	      NULL);
	cloud_release(&c);
}

int main(void)
{
	int r;

	snprintf(workdir, sizeof(workdir), "/tmp/test_cloud.XXXXXX");
	if (!mkdtemp(workdir))
		return 1;
	names();
	config();
	runpod_pods();
	runpod_config();
	decisions();
	boots();
	wrapper_quits();
	upload_failed();
	cpu_only();
	r = TEST_REPORT();
	{
		char cmd[128];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", workdir);
		if (system(cmd))
			fprintf(stderr, "cannot remove %s\n", workdir);
	}
	return r;
}
