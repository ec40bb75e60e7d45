/*
 * test_cloud.c - connectors/cloud.c's names and config, with a test
 * adapter that makes no request: every refusal of the config says which
 * key, and the names find() matches round-trip and refuse near misses.
 */
#include "cloud.h"
#include "test.h"

#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *const test_keys[] = { "flavour", NULL };

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

int main(void)
{
	names();
	config();
	return TEST_REPORT();
}
