/*
 * test_adapters.c - the Lambda Cloud and Vast.ai adapters (lambda.c,
 * vastai.c): first every mapping on canned answers (states, prices,
 * errors, filters, the bounds: a malformed or huge answer is refused),
 * then each adapter's offers/launch/list/terminate against the real
 * tools/cloud-emu on loopback: the wrapper's env reaching the process,
 * exit codes, 429 with Retry-After waited out, no capacity, preemption,
 * a bad key, and an instance really terminated (its processes gone).
 */
#define _GNU_SOURCE
#include "cloud.h"
#include "test.h"

#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"

static cJSON *parse(const char *text)
{
	cJSON *j = cJSON_Parse(text);

	if (!j)
		fprintf(stderr, "bad test JSON: %s\n", text);
	return j;
}

/* ---- canned answers ---- */

static void lambda_canned(void)
{
	struct job_need need = { 0, 1, 0, NULL, -1 };
	struct cloud_offer *o = NULL;
	struct cloud_inst *in = NULL;
	char err[256], msg[256];
	size_t n = 0, i;
	cJSON *j;
	char *ud;
	char *env[] = { "TRAINFS_STORE_AUTH=Bearer it's", "B=2", "bad", NULL };

	j = parse("{\"data\": {"
		  "\"gpu_1x_a100\": {\"instance_type\": {\"name\": \"gpu_1x_a100\","
		  " \"description\": \"1x A100\", \"gpu_description\": \"A100 (40 GB SXM4)\","
		  " \"price_cents_per_hour\": 129, \"specs\": {\"vcpus\": 30,"
		  " \"memory_gib\": 200, \"storage_gib\": 512, \"gpus\": 1}},"
		  " \"regions_with_capacity_available\": [{\"name\": \"us-east-1\","
		  " \"description\": \"Virginia\"}, {\"name\": \"us-west-1\"}]},"
		  "\"gpu_8x_a100\": {\"instance_type\": {\"name\": \"gpu_8x_a100\","
		  " \"gpu_description\": \"A100 (80 GB SXM4)\", \"price_cents_per_hour\": 1432,"
		  " \"specs\": {\"gpus\": 8}}, \"regions_with_capacity_available\": []},"
		  "\"broken\": {\"instance_type\": {\"name\": \"broken\"}},"
		  "\"negative\": {\"instance_type\": {\"name\": \"neg\", \"price_cents_per_hour\": -5}},"
		  "\"gpu_0\": \"not an object\"}}");
	CHECK(lambda_offers_parse(j, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 3);
	for (i = 0; i < n; i++) {
		if (!strcmp(o[i].id, "gpu_1x_a100")) {
			CHECK(o[i].price_per_hour > 1.289 && o[i].price_per_hour < 1.291);
			CHECK(o[i].available == 1 && o[i].gpus == 1 && o[i].cpus == 30);
			CHECK(o[i].memory_mb == 200 * 1024);
			CHECK_STR(o[i].gpu, "A100 (40 GB SXM4)");
			CHECK(!strcmp(o[i].region, "us-east-1") ||
			      !strcmp(o[i].region, "us-west-1"));
		} else {
			/* fits, no capacity anywhere: listed to say so */
			CHECK_STR(o[i].id, "gpu_8x_a100");
			CHECK(o[i].available == 0 && !o[i].region[0]);
			CHECK(o[i].price_per_hour > 14.31 && o[i].price_per_hour < 14.33);
		}
	}
	free(o);
	/* 2 GPUs asked: the 1-GPU type is dropped */
	need.gpus = 2;
	CHECK(lambda_offers_parse(j, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 1 && !strcmp(o[0].id, "gpu_8x_a100"));
	free(o);
	cJSON_Delete(j);
	j = parse("{\"data\": []}");
	CHECK(lambda_offers_parse(j, &need, &o, &n, err, sizeof(err)) == TFS_EIO);
	CHECK(strstr(err, "'data'") != NULL && o == NULL && n == 0);
	cJSON_Delete(j);

	j = parse("{\"data\": ["
		  "{\"id\": \"i1\", \"name\": \"trainfs-x-1\", \"status\": \"booting\","
		  " \"instance_type\": {\"price_cents_per_hour\": 249}},"
		  "{\"id\": \"i2\", \"status\": \"active\"},"
		  "{\"id\": \"i3\", \"status\": \"unhealthy\"},"
		  "{\"id\": \"i4\", \"status\": \"terminating\"},"
		  "{\"id\": \"i5\", \"status\": \"terminated\"},"
		  "{\"id\": \"i6\", \"status\": \"preempted\"},"
		  "{\"id\": \"i7\", \"status\": \"rebooting-ish\"},"
		  "{\"name\": \"no id\"}, 5]}");
	CHECK(lambda_list_parse(j, &in, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 7);
	if (n == 7) {
		CHECK(in[0].state == CLOUD_BOOTING);
		CHECK_STR(in[0].name, "trainfs-x-1");
		CHECK(in[0].price_per_hour > 2.489 && in[0].price_per_hour < 2.491);
		CHECK(in[0].exit_code == -1);
		CHECK(in[1].state == CLOUD_RUNNING && in[1].price_per_hour == -1);
		CHECK(in[2].state == CLOUD_FAILED);
		CHECK(in[3].state == CLOUD_TERMINATING);
		CHECK(in[4].state == CLOUD_GONE);
		CHECK(in[5].state == CLOUD_PREEMPTED);
		CHECK_STR(in[5].status, "preempted");
		CHECK(in[6].state == CLOUD_BOOTING);
	}
	free(in);
	cJSON_Delete(j);
	j = parse("{\"data\": {\"id\": \"i1\"}}");
	CHECK(lambda_list_parse(j, &in, &n, err, sizeof(err)) == TFS_EIO);
	cJSON_Delete(j);
	/* more instances than a list may hold: refused, not trusted */
	j = cJSON_CreateObject();
	{
		cJSON *a = cJSON_AddArrayToObject(j, "data");

		for (i = 0; i <= CLOUD_INSTANCES_MAX; i++)
			cJSON_AddItemToArray(a, cJSON_CreateNull());
	}
	CHECK(lambda_list_parse(j, &in, &n, err, sizeof(err)) == TFS_EIO);
	CHECK(strstr(err, "more than") != NULL);
	cJSON_Delete(j);

	j = parse("{\"error\": {\"code\": \"instance-operations/launch/insufficient-capacity\","
		  " \"message\": \"Not enough capacity\", \"suggestion\": \"Try later\"}}");
	lambda_api.errmsg(j, msg, sizeof(msg));
	CHECK_STR(msg, "Not enough capacity (instance-operations/launch/"
		  "insufficient-capacity): Try later");
	cJSON_Delete(j);
	j = parse("{\"error\": \"plain\"}");
	lambda_api.errmsg(j, msg, sizeof(msg));
	CHECK_STR(msg, "");
	cJSON_Delete(j);

	ud = lambda_user_data("#!/bin/sh\necho hi\n", env);
	CHECK(ud != NULL);
	if (ud) {
		CHECK(!strncmp(ud, "#!/bin/sh\n", 10));
		CHECK(strstr(ud, "TRAINFS_STORE_AUTH='Bearer it'\\''s'; export "
			     "TRAINFS_STORE_AUTH\n") != NULL);
		CHECK(strstr(ud, "B='2'; export B\n") != NULL);
		CHECK(strstr(ud, "bad") == NULL);
		/* the script's own #! is not repeated */
		CHECK(strstr(ud + 2, "#!") == NULL);
		CHECK(strstr(ud, "\necho hi\n") != NULL);
		free(ud);
	}
}

static void vastai_canned(void)
{
	const char *types[] = { "RTX 4090", "A100 SXM4", NULL };
	const char *regions[] = { "US", NULL };
	const char *none[] = { NULL };
	struct cloud_conf cc = { "va", "http://x", types, regions, 0, 2.5, NULL };
	struct job_need need = { 8, 2, 32000, NULL, -1 };
	struct cloud_offer *o = NULL;
	struct cloud_inst *in = NULL;
	char err[256], msg[256];
	size_t n = 0;
	cJSON *j, *q;
	char *text;

	text = vastai_query(&cc, &need);
	q = text ? parse(text) : NULL;
	free(text);
	CHECK(q != NULL);
	if (q) {
		const cJSON *g = cJSON_GetObjectItem(q, "gpu_name");

		CHECK(cJSON_IsTrue(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "rentable"), "eq")));
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "num_gpus"), "gte")->valueint == 2);
		CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(g, "in")) == 2);
		CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(g, "in"), 0)->valuestring,
			  "RTX 4090");
		CHECK_STR(cJSON_GetArrayItem(cJSON_GetObjectItem(cJSON_GetObjectItem(
				q, "geolocation"), "in"), 0)->valuestring, "US");
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "dph_total"), "lte")->valuedouble == 2.5);
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "cpu_cores"), "gte")->valueint == 8);
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "cpu_ram"), "gte")->valueint == 32000);
		CHECK_STR(cJSON_GetObjectItem(q, "type")->valuestring, "on-demand");
		CHECK_STR(cJSON_GetArrayItem(cJSON_GetArrayItem(cJSON_GetObjectItem(
				q, "order"), 0), 0)->valuestring, "dph_total");
		cJSON_Delete(q);
	}
	/* interruptible: a bid, priced and ordered by min_bid; no lists */
	cc.interruptible = 1;
	cc.gpu_types = none;
	cc.regions = none;
	need.gpus = 0;
	text = vastai_query(&cc, &need);
	q = text ? parse(text) : NULL;
	free(text);
	CHECK(q != NULL);
	if (q) {
		CHECK_STR(cJSON_GetObjectItem(q, "type")->valuestring, "bid");
		CHECK(cJSON_GetObjectItem(q, "gpu_name") == NULL);
		CHECK(cJSON_GetObjectItem(q, "geolocation") == NULL);
		CHECK(cJSON_GetObjectItem(q, "num_gpus") == NULL);
		CHECK(cJSON_GetObjectItem(cJSON_GetObjectItem(q, "min_bid"), "lte") != NULL);
		cJSON_Delete(q);
	}
	/* need says on-demand over the config */
	need.interruptible = 0;
	text = vastai_query(&cc, &need);
	CHECK(text && strstr(text, "\"on-demand\""));
	free(text);

	j = parse("{\"offers\": ["
		  "{\"id\": 5001, \"gpu_name\": \"RTX 4090\", \"num_gpus\": 1,"
		  " \"dph_total\": 0.31, \"min_bid\": 0.15, \"cpu_cores\": 16,"
		  " \"cpu_ram\": 64000, \"geolocation\": \"US\"},"
		  "{\"id\": 5002.5, \"gpu_name\": \"X\", \"dph_total\": 1},"
		  "{\"id\": 5003, \"gpu_name\": \"X\", \"dph_total\": -1},"
		  "{\"id\": \"5004\", \"gpu_name\": \"X\", \"dph_total\": 1},"
		  "{\"id\": 5005, \"dph_total\": 1}]}");
	CHECK(vastai_offers_parse(j, 0, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 1);
	if (n == 1) {
		CHECK_STR(o[0].id, "5001");
		CHECK_STR(o[0].gpu, "RTX 4090");
		CHECK_STR(o[0].region, "US");
		CHECK(o[0].gpus == 1 && o[0].cpus == 16 && o[0].memory_mb == 64000);
		CHECK(o[0].price_per_hour == 0.31 && o[0].min_bid == 0.15);
		CHECK(o[0].available == 1);
	}
	free(o);
	CHECK(vastai_offers_parse(j, 1, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 1 && o[0].price_per_hour == 0.15);
	free(o);
	cJSON_Delete(j);
	j = parse("{\"offers\": {}}");
	CHECK(vastai_offers_parse(j, 0, &o, &n, err, sizeof(err)) == TFS_EIO);
	CHECK(strstr(err, "'offers'") != NULL);
	cJSON_Delete(j);

	j = parse("{\"instances\": ["
		  "{\"id\": 1, \"label\": \"trainfs-a-1\", \"actual_status\": \"created\","
		  " \"intended_status\": \"running\", \"dph_total\": 0.31, \"start_date\": 1700000000.5},"
		  "{\"id\": 2, \"actual_status\": \"loading\", \"intended_status\": \"running\"},"
		  "{\"id\": 3, \"actual_status\": \"running\", \"intended_status\": \"running\","
		  " \"start_date\": 1700000001},"
		  "{\"id\": 4, \"actual_status\": \"exited\", \"intended_status\": \"running\","
		  " \"cur_state\": \"stopped\", \"status_msg\": \"Exited (3)\"},"
		  "{\"id\": 5, \"actual_status\": \"exited\", \"intended_status\": \"stopped\","
		  " \"status_msg\": \"outbid: preempted by a higher bid\"},"
		  "{\"id\": 6, \"actual_status\": \"running\", \"intended_status\": \"stopped\","
		  " \"status_msg\": \"stopped by user\"},"
		  "{\"id\": 7, \"actual_status\": null},"
		  "{\"id\": \"8\"}, {\"label\": \"no id\"}]}");
	CHECK(vastai_list_parse(j, &in, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 7);
	if (n == 7) {
		CHECK(in[0].state == CLOUD_BOOTING);
		CHECK_STR(in[0].id, "1");
		CHECK_STR(in[0].name, "trainfs-a-1");
		CHECK(in[0].price_per_hour == 0.31);
		CHECK(in[0].created_ms == 1700000000500LL);
		CHECK(in[1].state == CLOUD_BOOTING);
		CHECK(in[2].state == CLOUD_RUNNING && in[2].started_ms == 1700000001000LL);
		CHECK(in[3].state == CLOUD_EXITED && in[3].exit_code == 3);
		CHECK_STR(in[3].status, "exited: Exited (3)");
		CHECK(in[4].state == CLOUD_PREEMPTED && in[4].exit_code == -1);
		CHECK(in[5].state == CLOUD_TERMINATING);
		CHECK(in[6].state == CLOUD_BOOTING && in[6].price_per_hour == -1);
	}
	free(in);
	cJSON_Delete(j);
	j = parse("{\"instances\": {\"id\": 1}}");
	CHECK(vastai_list_parse(j, &in, &n, err, sizeof(err)) == TFS_EIO);
	cJSON_Delete(j);

	j = parse("{\"success\": false, \"error\": \"no_such_ask\", \"msg\": \"Instance type by id 5 is not available.\"}");
	vastai_api.errmsg(j, msg, sizeof(msg));
	CHECK_STR(msg, "Instance type by id 5 is not available. (no_such_ask)");
	cJSON_Delete(j);
	j = parse("{\"success\": false, \"error\": \"invalid_user_key\"}");
	vastai_api.errmsg(j, msg, sizeof(msg));
	CHECK_STR(msg, "invalid_user_key");
	cJSON_Delete(j);
	j = parse("[1]");
	vastai_api.errmsg(j, msg, sizeof(msg));
	CHECK_STR(msg, "");
	cJSON_Delete(j);
}

/* ---- against tools/cloud-emu ---- */

static char emu_dir[128], emu_url[64];
static pid_t emu_pid;

/* Runs cmd; its output (at most 1 MB) parsed as JSON, or NULL. */
static cJSON *run_json(const char *cmd)
{
	struct buf b = BUF_INIT(1 << 20);
	char chunk[4096];
	FILE *f = popen(cmd, "r");
	size_t k;
	cJSON *j;

	if (!f)
		return NULL;
	while ((k = fread(chunk, 1, sizeof(chunk), f)) > 0)
		if (buf_append(&b, chunk, k))
			break;
	pclose(f);
	j = b.p ? cJSON_Parse(b.p) : NULL;
	buf_release(&b);
	return j;
}

/* POST /_emu/<what> body; 1 when it answered ok. */
static int ctl(const char *what, const char *body)
{
	char cmd[1024];
	cJSON *j;
	int ok;

	snprintf(cmd, sizeof(cmd), "curl -s -X POST -d '%s' %s/_emu/%s", body,
		 emu_url, what);
	j = run_json(cmd);
	ok = cJSON_IsTrue(cJSON_GetObjectItem(j, "ok"));
	if (!ok)
		fprintf(stderr, "ctl %s %s failed\n", what, body);
	cJSON_Delete(j);
	return ok;
}

/* A field of one instance in /_emu/state (caller deletes the state). */
static const cJSON *emu_field(cJSON **st, const char *prov, const char *id,
			      const char *field)
{
	char cmd[256];
	const cJSON *i;

	cJSON_Delete(*st);
	snprintf(cmd, sizeof(cmd), "curl -s %s/_emu/state", emu_url);
	*st = run_json(cmd);
	cJSON_ArrayForEach(i, cJSON_GetObjectItem(*st, prov)) {
		const cJSON *x = cJSON_GetObjectItem(i, "id");
		char s[64];

		if (cJSON_IsNumber(x))
			snprintf(s, sizeof(s), "%d", x->valueint);
		else
			snprintf(s, sizeof(s), "%s", cJSON_IsString(x) ?
				 x->valuestring : "");
		if (!strcmp(s, id))
			return cJSON_GetObjectItem(i, field);
	}
	return NULL;
}

/* Whether the emulator's state for id has field true within 10 s. */
static int emu_wait_bool(const char *prov, const char *id, const char *field,
			 int want)
{
	cJSON *st = NULL;
	int i, got = -1;

	for (i = 0; i < 200; i++) {
		const cJSON *f = emu_field(&st, prov, id, field);

		got = cJSON_IsBool(f) ? cJSON_IsTrue(f) : -1;
		if (got == want)
			break;
		usleep(50000);
	}
	cJSON_Delete(st);
	return got == want;
}

static int emu_start(void)
{
	char keys[192], conf[192], port[192];
	struct buf b = BUF_INIT(64);
	const char *emu = "tools/cloud-emu";
	FILE *f;
	int i;

	if (access(emu, X_OK)) {
		printf("SKIP emulator tests: no %s here\n", emu);
		return -1;
	}
	snprintf(emu_dir, sizeof(emu_dir), "/tmp/test_adapters.XXXXXX");
	if (!mkdtemp(emu_dir))
		return -1;
	snprintf(keys, sizeof(keys), "%s/keys", emu_dir);
	snprintf(conf, sizeof(conf), "%s/emu.json", emu_dir);
	snprintf(port, sizeof(port), "%s/emu/port", emu_dir);
	f = fopen(keys, "w");
	fprintf(f, "lambda=la-good-key,vastai=va-good-key\n");
	fclose(f);
	chmod(keys, 0600);
	f = fopen(conf, "w");
	fprintf(f, "{\"kill_grace_s\": 1,"
		" \"lambda\": {\"boot_s\": 0.2, \"terminated_visible_s\": 30,"
		" \"ssh_keys\": [\"emu-key\"],"
		" \"limits\": {\"rps\": 0, \"launch_interval_s\": 0}},"
		" \"vastai\": {\"boot_s\": 0.2, \"limits\": {\"rps\": 0}}}\n");
	fclose(f);
	emu_pid = fork();
	if (emu_pid == 0) {
		char kk[200], sd[200];

		snprintf(kk, sizeof(kk), "@%s", keys);
		snprintf(sd, sizeof(sd), "%s/emu", emu_dir);
		execlp("python3", "python3", emu, "--port", "0", "--state", sd,
		       "--keys", kk, "--config", conf, (char *)NULL);
		_exit(127);
	}
	for (i = 0; i < 200; i++) {
		buf_reset(&b);
		if (!file_read_all(port, 64, &b) && b.len > 1)
			break;
		usleep(50000);
	}
	if (i == 200) {
		fprintf(stderr, "FAIL the emulator did not start\n");
		test_failed++;
		buf_release(&b);
		return -1;
	}
	snprintf(emu_url, sizeof(emu_url), "http://127.0.0.1:%d", atoi(b.p));
	buf_release(&b);
	return 0;
}

static void emu_stop(void)
{
	char cmd[256];

	if (emu_pid > 0) {
		kill(emu_pid, SIGTERM);
		waitpid(emu_pid, NULL, 0);
	}
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", emu_dir);
	if (emu_dir[0] && system(cmd)) {
		/* a leftover in /tmp is not a failure */
	}
}

/* A cloud of the adapter over the emulator with key env var keyvar. */
static struct cloud *cloud_open(struct connector *c, const struct cloud_api *api,
				const char *keyvar, const char *extra)
{
	static char work[256];
	char text[1024], err[256];
	cJSON *j;
	int rc;

	memset(c, 0, sizeof(*c));
	c->name = (char *)api->type;
	snprintf(work, sizeof(work), "%s/work-%s", emu_dir, api->type);
	mkdir(work, 0700);
	c->work_dir = work;
	snprintf(text, sizeof(text), "{\"type\": \"%s\", \"url\": \"%s\", "
		 "\"api_key_env\": \"%s\", \"store\": \"file:///tmp/x\", "
		 "\"rps\": 50%s}", api->type, emu_url, keyvar, extra);
	j = cJSON_Parse(text);
	rc = cloud_init(c, j, api, err, sizeof(err));
	cJSON_Delete(j);
	if (rc) {
		fprintf(stderr, "cloud_init %s: %s\n", api->type, err);
		return NULL;
	}
	return c->priv;
}

/* The instance id in the adapter's list, its state into *st. */
static int listed(struct cloud *cl, const struct cloud_api *api,
		  const char *id, struct cloud_inst *out)
{
	struct cloud_inst *in = NULL;
	char err[256];
	size_t n = 0, i;
	int found = 0;

	if (api->list(cl, &in, &n, err, sizeof(err))) {
		fprintf(stderr, "list: %s\n", err);
		free(in);
		return 0;
	}
	for (i = 0; i < n; i++)
		if (!strcmp(in[i].id, id)) {
			*out = in[i];
			found = 1;
		}
	free(in);
	return found;
}

/* Waits (10 s at most) until id is listed in state want. */
static int wait_state(struct cloud *cl, const struct cloud_api *api,
		      const char *id, enum cloud_state want,
		      struct cloud_inst *out)
{
	int i;

	for (i = 0; i < 100; i++) {
		if (listed(cl, api, id, out) && out->state == want)
			return 1;
		usleep(100000);
	}
	return 0;
}

/* How many lines of requests.log answered 429. */
static int emu_429s(void)
{
	char path[256], line[512];
	FILE *f;
	int n = 0;

	snprintf(path, sizeof(path), "%s/emu/requests.log", emu_dir);
	f = fopen(path, "r");
	if (!f)
		return 0;
	while (fgets(line, sizeof(line), f))
		if (strstr(line, " 429 "))
			n++;
	fclose(f);
	return n;
}

/* Three lists at 50/s against a limit of 1/s: each waits out the 429's
 * Retry-After and succeeds, none spins. */
static void rate_limited(struct cloud *cl, const struct cloud_api *api)
{
	char body[128], err[256];
	struct cloud_inst *in;
	size_t n;
	int before = emu_429s(), ok = 1, i;
	int64_t t0 = mono_ms();

	snprintf(body, sizeof(body), "{\"provider\": \"%s\", \"rps\": 1, "
		 "\"burst\": 1}", api->type);
	CHECK(ctl("ratelimit", body));
	for (i = 0; i < 3; i++) {
		in = NULL;
		if (api->list(cl, &in, &n, err, sizeof(err))) {
			fprintf(stderr, "list under 429: %s\n", err);
			ok = 0;
		}
		free(in);
	}
	CHECK(ok);
	CHECK(emu_429s() > before);
	/* at least one Retry-After (1 s) was waited, and not many 429s */
	CHECK(mono_ms() - t0 >= 900);
	CHECK(emu_429s() - before <= 4);
	snprintf(body, sizeof(body), "{\"provider\": \"%s\", \"rps\": 0}",
		 api->type);
	CHECK(ctl("ratelimit", body));
}

static void bad_key(const struct cloud_api *api)
{
	struct connector c;
	struct cloud *cl;
	struct cloud_inst *in = NULL;
	struct cloud_offer *o = NULL;
	struct job_need need = { 0, 1, 0, NULL, -1 };
	char err[256];
	size_t n;

	setenv("TEST_BAD_KEY", "wrong-key-123", 1);
	cl = cloud_open(&c, api, "TEST_BAD_KEY",
			!strcmp(api->type, "lambda") ?
			", \"ssh_key_name\": \"emu-key\"" : "");
	CHECK(cl != NULL);
	if (!cl)
		return;
	CHECK(api->list(cl, &in, &n, err, sizeof(err)) == TFS_EACCES);
	CHECK(strstr(err, "wrong-key") == NULL);
	free(in);
	CHECK(api->offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_EACCES);
	free(o);
	cloud_release(&c);
}

static const struct cloud_offer *offer_of(const struct cloud_offer *o,
					  size_t n, const char *id,
					  const char *region)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(o[i].id, id) && (!region ||
					    !strcmp(o[i].region, region)))
			return &o[i];
	return NULL;
}

static void lambda_live(void)
{
	struct connector c;
	struct cloud *cl;
	struct job_need need = { 0, 1, 0, "A100", -1 };
	struct cloud_offer *o = NULL;
	const struct cloud_offer *a100;
	struct cloud_launch l = { 0 };
	struct cloud_inst in;
	char id[CLOUD_ID_MAX], id2[CLOUD_ID_MAX], err[256], path[512];
	char name[CLOUD_NAME_MAX + 1];
	char *env[] = { "TFS_SECRETISH=it's here", NULL };
	struct buf b = BUF_INIT(4096);
	cJSON *st = NULL;
	const cJSON *f;
	size_t n = 0;
	int i;

	setenv("TEST_LA_KEY", "la-good-key", 1);
	cl = cloud_open(&c, &lambda_api, "TEST_LA_KEY", "");
	CHECK(cl == NULL);   /* ssh_key_name is required */
	cl = cloud_open(&c, &lambda_api, "TEST_LA_KEY",
			", \"ssh_key_name\": \"emu-key\"");
	CHECK(cl != NULL);
	if (!cl)
		return;
	CHECK(lambda_api.offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	a100 = offer_of(o, n, "gpu_1x_a100_sxm4", "us-east-1");
	CHECK(a100 && a100->available == 1 && a100->price_per_hour == 1.29);
	CHECK(offer_of(o, n, "gpu_8x_a100_80gb_sxm4", NULL) &&
	      offer_of(o, n, "gpu_8x_a100_80gb_sxm4", NULL)->available == 0);
	if (!a100) {
		free(o);
		cloud_release(&c);
		return;
	}
	cloud_name(name, sizeof(name), "0b7f3c1e-9a2d-4c5e-8f10-123456789abc", 1);
	l.offer = a100;
	l.name = name;
	l.script = "#!/bin/sh\nprintf '%s' \"$TFS_SECRETISH\" > got\nsleep 60\n";
	l.env = env;
	l.gpus = 1;
	CHECK(lambda_api.launch(cl, &l, id, sizeof(id), err, sizeof(err)) == TFS_OK);
	CHECK(wait_state(cl, &lambda_api, id, CLOUD_RUNNING, &in));
	CHECK_STR(in.name, name);
	CHECK(in.price_per_hour == 1.29 && in.exit_code == -1);
	snprintf(path, sizeof(path), "%s/emu/lambda/%s/root/got", emu_dir, id);
	for (i = 0; i < 100; i++) {
		buf_reset(&b);
		if (!file_read_all(path, 4096, &b) && b.len)
			break;
		usleep(50000);
	}
	CHECK(b.p && !strcmp(b.p, "it's here"));
	/* preemption */
	snprintf(path, sizeof(path), "{\"provider\": \"lambda\", \"id\": \"%s\"}", id);
	CHECK(ctl("preempt", path));
	CHECK(wait_state(cl, &lambda_api, id, CLOUD_PREEMPTED, &in));
	CHECK(lambda_api.terminate(cl, id, err, sizeof(err)) == TFS_OK);

	/* terminate: the VM and its processes gone */
	l.script = "#!/bin/sh\nsleep 60\n";
	CHECK(lambda_api.launch(cl, &l, id2, sizeof(id2), err, sizeof(err)) == TFS_OK);
	CHECK(emu_wait_bool("lambda", id2, "process_running", 1));
	CHECK(lambda_api.terminate(cl, id2, err, sizeof(err)) == TFS_OK);
	CHECK(emu_wait_bool("lambda", id2, "process_running", 0));
	CHECK(emu_wait_bool("lambda", id2, "billing", 0));
	f = emu_field(&st, "lambda", id2, "status");
	CHECK(cJSON_IsString(f) && (!strcmp(f->valuestring, "terminated") ||
				    !strcmp(f->valuestring, "terminating")));
	CHECK(listed(cl, &lambda_api, id2, &in) &&
	      (in.state == CLOUD_GONE || in.state == CLOUD_TERMINATING));
	/* terminate of one Lambda no longer knows is fine */
	CHECK(lambda_api.terminate(cl, "0123456789abcdef0123456789abcdef",
				   err, sizeof(err)) == TFS_OK);

	/* no capacity: the type is listed with available 0, a launch on the
	 * old offer is TFS_EAGAIN */
	CHECK(ctl("capacity", "{\"provider\": \"lambda\", \"instance_type\": "
		  "\"gpu_1x_a100_sxm4\", \"available\": 0}"));
	free(o);
	o = NULL;
	CHECK(lambda_api.offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	a100 = offer_of(o, n, "gpu_1x_a100_sxm4", NULL);
	CHECK(a100 && a100->available == 0 && !a100->region[0]);
	{
		struct cloud_offer old = { 0 };

		snprintf(old.id, sizeof(old.id), "gpu_1x_a100_sxm4");
		snprintf(old.region, sizeof(old.region), "us-east-1");
		l.offer = &old;
		CHECK(lambda_api.launch(cl, &l, id2, sizeof(id2), err,
					sizeof(err)) == TFS_EAGAIN);
		CHECK(strstr(err, "no capacity for 1xgpu_1x_a100_sxm4 in "
			     "us-east-1 on lambda") != NULL);
		/* an unknown SSH key: Lambda's own words, no retry */
	}
	CHECK(ctl("capacity", "{\"provider\": \"lambda\", \"instance_type\": "
		  "\"gpu_1x_a100_sxm4\", \"available\": 2}"));
	free(o);
	rate_limited(cl, &lambda_api);
	cJSON_Delete(st);
	buf_release(&b);
	cloud_release(&c);

	/* a key name Lambda does not know: its 400, said */
	cl = cloud_open(&c, &lambda_api, "TEST_LA_KEY",
			", \"ssh_key_name\": \"nobody\"");
	CHECK(cl != NULL);
	if (cl) {
		struct cloud_offer x = { 0 };

		snprintf(x.id, sizeof(x.id), "gpu_1x_h100_pcie");
		snprintf(x.region, sizeof(x.region), "us-west-3");
		l.offer = &x;
		CHECK(lambda_api.launch(cl, &l, id2, sizeof(id2), err,
					sizeof(err)) == TFS_EINVAL);
		CHECK(strstr(err, "SSH key 'nobody' does not exist") != NULL);
		cloud_release(&c);
	}
	bad_key(&lambda_api);
}

static void vastai_live(void)
{
	struct connector c;
	struct cloud *cl;
	struct job_need need = { 0, 1, 0, NULL, -1 };
	struct cloud_offer *o = NULL, first;
	struct cloud_launch l = { 0 };
	struct cloud_inst in;
	char id[CLOUD_ID_MAX], err[256], name[CLOUD_NAME_MAX + 1];
	char body[256];
	char *env[] = { "TFS_X=va'lue", NULL };
	cJSON *st = NULL;
	const cJSON *f;
	size_t n = 0;

	setenv("TEST_VA_KEY", "va-good-key", 1);
	cl = cloud_open(&c, &vastai_api, "TEST_VA_KEY",
			", \"interruptible\": true");
	CHECK(cl != NULL);
	if (!cl)
		return;
	CHECK(vastai_api.offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	/* cheapest bid first: 5001 (min_bid 0.15) */
	CHECK(n == 3 && !strcmp(o[0].id, "5001") && o[0].price_per_hour == 0.15);
	if (!n) {
		free(o);
		cloud_release(&c);
		return;
	}
	first = o[0];
	free(o);
	need.gpus = 2;
	CHECK(vastai_api.offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(n == 1 && !strcmp(o[0].id, "5003"));
	free(o);

	cloud_name(name, sizeof(name), "0b7f3c1e-9a2d-4c5e-8f10-123456789abc", 1);
	l.offer = &first;
	l.name = name;
	l.image = "pytorch/pytorch:latest";
	l.script = "test \"$TFS_X\" = \"va'lue\" || exit 9; exit 3";
	l.env = env;
	l.gpus = 1;
	l.interruptible = 1;
	l.bid = 0.1;          /* under min_bid: min_bid is offered */
	CHECK(vastai_api.launch(cl, &l, id, sizeof(id), err, sizeof(err)) == TFS_OK);
	CHECK(wait_state(cl, &vastai_api, id, CLOUD_EXITED, &in));
	CHECK(in.exit_code == 3);
	CHECK_STR(in.name, name);
	CHECK(in.price_per_hour == 0.15);
	f = emu_field(&st, "vastai", id, "interruptible");
	CHECK(cJSON_IsTrue(f));
	CHECK(vastai_api.terminate(cl, id, err, sizeof(err)) == TFS_OK);
	CHECK(emu_wait_bool("vastai", id, "exists", 0));
	CHECK(emu_wait_bool("vastai", id, "billing", 0));
	CHECK(!listed(cl, &vastai_api, id, &in));
	CHECK(vastai_api.terminate(cl, id, err, sizeof(err)) == TFS_OK);

	/* preemption: outbid */
	l.script = "sleep 60";
	CHECK(vastai_api.launch(cl, &l, id, sizeof(id), err, sizeof(err)) == TFS_OK);
	CHECK(wait_state(cl, &vastai_api, id, CLOUD_RUNNING, &in));
	CHECK(emu_wait_bool("vastai", id, "process_running", 1));
	snprintf(body, sizeof(body), "{\"provider\": \"vastai\", \"id\": \"%s\"}", id);
	CHECK(ctl("preempt", body));
	CHECK(wait_state(cl, &vastai_api, id, CLOUD_PREEMPTED, &in));
	CHECK(strstr(in.status, "outbid") != NULL);
	CHECK(vastai_api.terminate(cl, id, err, sizeof(err)) == TFS_OK);
	CHECK(emu_wait_bool("vastai", id, "exists", 0));
	CHECK(emu_wait_bool("vastai", id, "process_running", 0));

	/* the offer taken: gone from the search, its launch TFS_EAGAIN */
	CHECK(ctl("capacity", "{\"provider\": \"vastai\", \"offer_id\": 5001, "
		  "\"available\": 0}"));
	need.gpus = 1;
	CHECK(vastai_api.offers(cl, &need, &o, &n, err, sizeof(err)) == TFS_OK);
	CHECK(!offer_of(o, n, "5001", NULL));
	free(o);
	CHECK(vastai_api.launch(cl, &l, id, sizeof(id), err, sizeof(err)) == TFS_EAGAIN);
	CHECK(strstr(err, "no capacity") && strstr(err, "offer 5001 is gone"));
	CHECK(ctl("capacity", "{\"provider\": \"vastai\", \"offer_id\": 5001, "
		  "\"available\": 2}"));
	rate_limited(cl, &vastai_api);
	cJSON_Delete(st);
	cloud_release(&c);
	bad_key(&vastai_api);
}

int main(void)
{
	signal(SIGPIPE, SIG_IGN);
	lambda_canned();
	vastai_canned();
	if (!emu_start()) {
		lambda_live();
		vastai_live();
	}
	emu_stop();
	return TEST_REPORT();
}
