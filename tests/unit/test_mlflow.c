/*
 * test_mlflow.c - the MLflow export's pure parts and its store: params
 * flattened and cut at MLflow's limits (at a UTF-8 boundary, the cut
 * said), steps as integers, log-batches planned within 1000 metrics / 100
 * params / 100 tags / 1000 in all and covering everything in order, the
 * batch body as MLflow reads it (NaN as a string), the artifact proxy's
 * URL, the status names, the config's refusals (the token's value never
 * in a message), and the exports table and metrics read from a position.
 * The export against a real server: tests/fs/t_mlflow.sh.
 */
#define _GNU_SOURCE
#include "mlflow.h"
#include "model.h"
#include "state.h"
#include "store.h"
#include "util.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static void test_truncate(void)
{
	char a[] = "abcdef", b[] = "a\xc3\xa9z", c[] = "abc";
	char d[] = "\xe2\x82\xac\xe2\x82\xac";   /* two euro signs */

	CHECK(mlflow_truncate(a, 3) == 1 && !strcmp(a, "abc"));
	/* "é" is two bytes: a cut inside it drops it whole */
	CHECK(mlflow_truncate(b, 2) == 1 && !strcmp(b, "a"));
	CHECK(mlflow_truncate(c, 3) == 0 && !strcmp(c, "abc"));
	CHECK(mlflow_truncate(d, 5) == 1 && strlen(d) == 3);
}

static const struct mlflow_kv *kv_find(const struct mlflow_kv *kv, size_t n,
				       const char *key)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!strcmp(kv[i].key, key))
			return &kv[i];
	return NULL;
}

static void test_flatten(void)
{
	cJSON *j = cJSON_Parse("{\"lr\": 0.05, \"epochs\": 3, \"name\": \"x y\","
			       " \"on\": true, \"off\": false, \"none\": null,"
			       " \"opt\": {\"beta\": {\"b1\": 0.9}, \"kind\": \"adam\"},"
			       " \"layers\": [1, 2, 3]}");
	struct mlflow_kv *kv = NULL;
	const struct mlflow_kv *e;
	size_t n = 0, dropped;
	char *big, *bigkey;
	cJSON *o;

	dropped = mlflow_flatten(j, "", MLFLOW_PARAM_VALUE_MAX, &kv, &n, 100);
	CHECK(dropped == 0 && n == 9);
	CHECK((e = kv_find(kv, n, "lr")) && !strcmp(e->value, "0.05"));
	CHECK((e = kv_find(kv, n, "epochs")) && !strcmp(e->value, "3"));
	CHECK((e = kv_find(kv, n, "name")) && !strcmp(e->value, "x y"));
	CHECK((e = kv_find(kv, n, "on")) && !strcmp(e->value, "true"));
	CHECK((e = kv_find(kv, n, "off")) && !strcmp(e->value, "false"));
	CHECK((e = kv_find(kv, n, "none")) && !strcmp(e->value, "null"));
	CHECK((e = kv_find(kv, n, "opt.beta.b1")) && !strcmp(e->value, "0.9"));
	CHECK((e = kv_find(kv, n, "opt.kind")) && !strcmp(e->value, "adam"));
	CHECK((e = kv_find(kv, n, "layers")) && !strcmp(e->value, "[1,2,3]"));
	CHECK(kv_find(kv, n, "lr") && !kv_find(kv, n, "lr")->truncated);
	mlflow_kv_free(kv, n);
	kv = NULL;
	n = 0;
	/* a prefix, and the bound on entries: the rest counted as dropped */
	dropped = mlflow_flatten(j, "p.", MLFLOW_PARAM_VALUE_MAX, &kv, &n, 4);
	CHECK(n == 4 && dropped == 5);
	CHECK(kv_find(kv, n, "p.lr") != NULL);
	mlflow_kv_free(kv, n);
	cJSON_Delete(j);

	/* values past 6000 bytes and keys past 250 are cut, and say so */
	big = malloc(7001);
	memset(big, 'v', 7000);
	big[7000] = 0;
	bigkey = malloc(301);
	memset(bigkey, 'k', 300);
	bigkey[300] = 0;
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "long", big);
	cJSON_AddStringToObject(o, bigkey, "short");
	kv = NULL;
	n = 0;
	mlflow_flatten(o, "", MLFLOW_PARAM_VALUE_MAX, &kv, &n, 100);
	CHECK(n == 2);
	CHECK((e = kv_find(kv, n, "long")) && e->truncated &&
	      strlen(e->value) == MLFLOW_PARAM_VALUE_MAX);
	CHECK(n == 2 && strlen(kv[1].key) == MLFLOW_KEY_MAX && kv[1].truncated &&
	      !strcmp(kv[1].value, "short"));
	mlflow_kv_free(kv, n);
	cJSON_Delete(o);
	free(big);
	free(bigkey);
	/* not an object: nothing */
	kv = NULL;
	n = 0;
	o = cJSON_CreateArray();
	CHECK(mlflow_flatten(o, "", 10, &kv, &n, 10) == 0 && n == 0);
	cJSON_Delete(o);
}

static void test_step(void)
{
	CHECK(mlflow_step(0) == 0);
	CHECK(mlflow_step(7) == 7);
	CHECK(mlflow_step(1.4) == 1);
	CHECK(mlflow_step(2.5) == 3);
	CHECK(mlflow_step(-3.6) == -4);
	CHECK(mlflow_step(NAN) == 0);
	CHECK(mlflow_step(1e300) == INT64_MAX);
	CHECK(mlflow_step(-1e300) == INT64_MIN);
}

/* Plans batches for (nm, np, nt) to the end, checking each. */
static int plan_all(size_t nm, size_t np, size_t nt, size_t *batches)
{
	size_t tm, tp, tt, sm = 0, sp = 0, st = 0;
	int ok = 1;

	*batches = 0;
	do {
		mlflow_batch_plan(nm - sm, np - sp, nt - st, &tm, &tp, &tt);
		ok &= tm <= MLFLOW_BATCH_METRICS && tp <= MLFLOW_BATCH_PARAMS &&
		      tt <= MLFLOW_BATCH_TAGS &&
		      tm + tp + tt <= MLFLOW_BATCH_TOTAL;
		ok &= tm + tp + tt > 0 || (sm == nm && sp == np && st == nt);
		if (!(tm + tp + tt))
			break;
		sm += tm, sp += tp, st += tt;
		(*batches)++;
	} while (sm < nm || sp < np || st < nt);
	return ok && sm == nm && sp == np && st == nt;
}

static void test_plan(void)
{
	size_t tm, tp, tt, b;

	mlflow_batch_plan(2500, 0, 1, &tm, &tp, &tt);
	CHECK(tm == 999 && tp == 0 && tt == 1);
	mlflow_batch_plan(0, 250, 0, &tm, &tp, &tt);
	CHECK(tm == 0 && tp == 100 && tt == 0);
	mlflow_batch_plan(1000, 100, 100, &tm, &tp, &tt);
	CHECK(tm == 800 && tp == 100 && tt == 100);
	mlflow_batch_plan(0, 0, 0, &tm, &tp, &tt);
	CHECK(tm == 0 && tp == 0 && tt == 0);
	CHECK(plan_all(2500, 0, 0, &b) && b == 3);
	CHECK(plan_all(0, 1024, 5, &b) && b == 11);
	CHECK(plan_all(1000, 0, 1, &b) && b == 2);
	CHECK(plan_all(12345, 333, 222, &b));
	CHECK(plan_all(1, 1, 1, &b) && b == 1);
}

static void test_body(void)
{
	struct mlflow_metric m[3] = {
		{ "loss", 0.25, 1700000000123LL, 10 },
		{ "acc", NAN, 1700000000124LL, 11 },
		{ "big", INFINITY, 1700000000125LL, 12 },
	};
	struct mlflow_kv p[1] = { { "lr", "0.05", 0 } };
	struct mlflow_kv t[1] = { { "trainfs.metrics_pos", "123", 0 } };
	struct buf b = BUF_INIT(0);
	cJSON *j, *a;

	CHECK(mlflow_batch_body("abc", m, 3, p, 1, t, 1, &b) == TFS_OK);
	j = cJSON_Parse(b.p);
	CHECK(j != NULL);
	CHECK(!strcmp(cJSON_GetObjectItem(j, "run_id")->valuestring, "abc"));
	a = cJSON_GetObjectItem(j, "metrics");
	CHECK(cJSON_GetArraySize(a) == 3);
	CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "value")->valuedouble
	      == 0.25);
	CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "timestamp")->valuedouble
	      == 1700000000123.0);
	CHECK(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 0), "step")->valueint == 10);
	CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 1),
					  "value")->valuestring, "NaN"));
	CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(a, 2),
					  "value")->valuestring, "Infinity"));
	CHECK(cJSON_GetArraySize(cJSON_GetObjectItem(j, "params")) == 1);
	CHECK(!strcmp(cJSON_GetObjectItem(cJSON_GetArrayItem(
		cJSON_GetObjectItem(j, "tags"), 0), "value")->valuestring, "123"));
	/* the step is printed as an integer, not 1e+01 */
	CHECK(strstr(b.p, "\"step\":10") != NULL);
	cJSON_Delete(j);
	buf_release(&b);
}

static void test_url(void)
{
	char out[512];

	CHECK(mlflow_artifact_url("http://h:5000",
				  "mlflow-artifacts:/1/abc/artifacts",
				  "dir/a b.txt", out, sizeof(out)) == TFS_OK);
	CHECK_STR(out, "http://h:5000/api/2.0/mlflow-artifacts/artifacts/1/abc/"
		  "artifacts/dir/a%20b.txt");
	CHECK(mlflow_artifact_url("", "mlflow-artifacts://srv:9/2/x/artifacts",
				  "m.bin", out, sizeof(out)) == TFS_OK);
	CHECK_STR(out, "/api/2.0/mlflow-artifacts/artifacts/2/x/artifacts/m.bin");
	CHECK(mlflow_artifact_url("", "file:///tmp/mlruns/1/x/artifacts", "a",
				  out, sizeof(out)) == TFS_EINVAL);
	CHECK(mlflow_artifact_url("", "mlflow-artifacts://hostonly", "a", out,
				  sizeof(out)) == TFS_EINVAL);
	CHECK(mlflow_artifact_url("http://h", "mlflow-artifacts:/1/abc/artifacts",
				  "a", out, 20) == TFS_EINVAL);
}

static void test_status(void)
{
	CHECK_STR(mlflow_run_status(RS_QUEUED), "SCHEDULED");
	CHECK_STR(mlflow_run_status(RS_RUNNING), "RUNNING");
	CHECK_STR(mlflow_run_status(RS_PAUSED), "RUNNING");
	CHECK_STR(mlflow_run_status(RS_COMPLETED), "FINISHED");
	CHECK_STR(mlflow_run_status(RS_FAILED), "FAILED");
	CHECK_STR(mlflow_run_status(RS_STOPPED), "KILLED");
}

/* mlflow_config() of text: its code, and err. */
static int config(const char *text, char *err, size_t errlen)
{
	struct core *c = xcalloc(1, sizeof(*c));
	cJSON *j = cJSON_Parse(text);
	int r;

	err[0] = 0;
	r = mlflow_config(c, j, err, errlen);
	mlflow_release(c);
	cJSON_Delete(j);
	free(c);
	return r;
}

static void test_config(void)
{
	char err[256];

	CHECK(config("{\"tracking_uri\": \"http://127.0.0.1:5000/\"}", err,
		     sizeof(err)) == TFS_OK);
	CHECK(config("{\"tracking_uri\": \"http://h\", \"experiment_prefix\": \"\","
		     " \"upload_artifacts\": false, \"interval_ms\": 100}", err,
		     sizeof(err)) == TFS_OK);
	CHECK(config("{\"tracking_uri\": \"http://h\", \"bogus\": 1}", err,
		     sizeof(err)) == TFS_EINVAL && strstr(err, "mlflow.bogus"));
	CHECK(config("{\"tracking_uri\": \"ftp://h\"}", err, sizeof(err)) ==
	      TFS_EINVAL && strstr(err, "mlflow.tracking_uri"));
	CHECK(config("{}", err, sizeof(err)) == TFS_EINVAL &&
	      strstr(err, "mlflow.tracking_uri"));
	CHECK(config("[]", err, sizeof(err)) == TFS_EINVAL);
	CHECK(config("{\"tracking_uri\": \"http://h\", \"upload_artifacts\": 1}",
		     err, sizeof(err)) == TFS_EINVAL &&
	      strstr(err, "mlflow.upload_artifacts"));
	CHECK(config("{\"tracking_uri\": \"http://h\", \"interval_ms\": 1}", err,
		     sizeof(err)) == TFS_EINVAL && strstr(err, "interval_ms"));
	unsetenv("TFS_TEST_MLFLOW_TOKEN");
	CHECK(config("{\"tracking_uri\": \"http://h\", \"token_env\": "
		     "\"TFS_TEST_MLFLOW_TOKEN\"}", err, sizeof(err)) == TFS_EINVAL &&
	      strstr(err, "mlflow.token_env"));
	setenv("TFS_TEST_MLFLOW_TOKEN", "s3cr3t-value", 1);
	CHECK(config("{\"tracking_uri\": \"http://h\", \"token_env\": "
		     "\"TFS_TEST_MLFLOW_TOKEN\"}", err, sizeof(err)) == TFS_OK);
	CHECK(config("{\"tracking_uri\": \"http://h\", \"token_env\": \"a b\"}",
		     err, sizeof(err)) == TFS_EINVAL && !strstr(err, "s3cr3t"));
}

static int count_rec;
static int64_t seen_pos, seen_flags;

static int rec_cb(void *arg, const char *key, const char *remote,
		  int64_t pos, int64_t flags)
{
	(void)arg;
	count_rec++;
	if (!strcmp(key, "run:1") && !strcmp(remote, "abc")) {
		seen_pos = pos;
		seen_flags = flags;
	}
	return 0;
}

static int64_t from_last;
static size_t from_n;

static int from_cb(void *arg, const struct store_point *p, int64_t end)
{
	(void)arg;
	(void)p;
	CHECK(end > from_last);
	from_last = end;
	from_n++;
	return 0;
}

static void test_store(void)
{
	char dir[] = "/tmp/test_mlflow.XXXXXX", path[256], err[256];
	struct store_point pts[10];
	struct store *s;
	int64_t id, size, n, half;
	int i;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/t.db", dir);
	CHECK(store_open(path, &s, err, sizeof(err)) == TFS_OK);
	CHECK(store_export_put(s, "mlflow", "run:1", "abc", 10, 1) == TFS_OK);
	CHECK(store_export_put(s, "mlflow", "run:1", "abc", 20, 3) == TFS_OK);
	CHECK(store_export_put(s, "other", "run:1", "zzz", 5, 0) == TFS_OK);
	CHECK(store_export_load(s, "mlflow", rec_cb, NULL) == TFS_OK);
	CHECK(count_rec == 1 && seen_pos == 20 && seen_flags == 3);

	CHECK(store_exp_insert(s, "e", 1, &id) == TFS_OK);
	for (i = 0; i < 10; i++)
		pts[i] = (struct store_point){ i, 1000 + i, "loss", i * 0.5 };
	CHECK(store_metrics_append(s, 7, pts, 10) == TFS_OK);
	CHECK(store_metrics_history_size(s, 7, &size) == TFS_OK && size > 0);
	CHECK(store_metrics_count_from(s, 7, 0, &n) == TFS_OK && n == 10);
	from_last = 0;
	from_n = 0;
	CHECK(store_metrics_from(s, 7, 0, 4, from_cb, NULL) == TFS_OK);
	CHECK(from_n == 4);
	half = from_last;
	CHECK(store_metrics_count_from(s, 7, half, &n) == TFS_OK && n == 6);
	from_n = 0;
	CHECK(store_metrics_from(s, 7, half, 100, from_cb, NULL) == TFS_OK);
	CHECK(from_n == 6 && from_last == size);
	CHECK(store_metrics_count_from(s, 7, size, &n) == TFS_OK && n == 0);
	store_close(s);
	rm_rf(dir);
}

int main(void)
{
	test_truncate();
	test_flatten();
	test_step();
	test_plan();
	test_body();
	test_url();
	test_status();
	test_config();
	test_store();
	return TEST_REPORT();
}
