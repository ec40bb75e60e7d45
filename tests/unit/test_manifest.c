/*
 * test_manifest.c - the manifest every provider writes, without files or
 * jobs: what the writer makes parses back entry for entry; skipped files
 * are named up to the cap and then counted; the writer refuses what the
 * parser would; and the parser refuses a forged or malformed manifest
 * whole, saying where, before its callback sees any entry.
 */
#include "manifest.h"
#include "test.h"

#include <stdlib.h>

#define SHA_A "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
#define SHA_B "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"

struct seen {
	int n, stop_after;
	char path[8][64];
	char skipped[8][160];
	int64_t size[8];
	char sha[8][65];
	int url_null;
};

static int seen_cb(void *arg, const struct artifact_entry *a)
{
	struct seen *s = arg;

	if (s->n < 8) {
		snprintf(s->path[s->n], sizeof(s->path[0]), "%s", a->path);
		snprintf(s->skipped[s->n], sizeof(s->skipped[0]), "%s",
			 a->skipped ? a->skipped : "");
		s->size[s->n] = a->size;
		snprintf(s->sha[s->n], sizeof(s->sha[0]), "%s",
			 a->sha256 ? a->sha256 : "");
	}
	s->url_null += a->url == NULL;
	s->n++;
	return s->stop_after && s->n >= s->stop_after;
}

static int parse(const char *text, struct seen *s, char *err, size_t errlen)
{
	memset(s, 0, sizeof(*s));
	return manifest_parse(text, strlen(text), seen_cb, s, err, errlen);
}

static void test_round_trip(void)
{
	static const char two[] = "[{\"path\":\"a\",\"size\":1,\"sha256\":\""
		SHA_A "\"},{\"path\":\"b\",\"skipped\":\"why\"}]";
	struct manifest m = MANIFEST_INIT;
	struct seen s;
	char err[256] = "", *text;

	CHECK(manifest_add_file(&m, "model.bin", 1234, SHA_A) == TFS_OK);
	manifest_add_skip(&m, "a\nb", "its name has a control character");
	CHECK(manifest_add_file(&m, "sub/dir/x", 0, SHA_B) == TFS_OK);
	text = manifest_finish(&m);
	CHECK(text != NULL);
	CHECK(m.files == NULL);
	CHECK(parse(text, &s, err, sizeof(err)) == TFS_OK);
	CHECK(s.n == 3 && s.url_null == 3);
	CHECK_STR(s.path[0], "model.bin");
	CHECK(s.size[0] == 1234);
	CHECK_STR(s.sha[0], SHA_A);
	CHECK_STR(s.skipped[0], "");
	CHECK_STR(s.path[1], "a\nb");
	CHECK_STR(s.skipped[1], "skipped 'a\\u000ab': its name has a control "
		  "character");
	CHECK_STR(s.path[2], "sub/dir/x");
	CHECK(s.size[2] == 0);
	free(text);

	/* a callback that stops the listing */
	text = manifest_finish(&m);
	CHECK_STR(text, "[]");
	free(text);
	memset(&s, 0, sizeof(s));
	s.stop_after = 1;
	CHECK(manifest_parse(two, strlen(two), seen_cb, &s, err,
			     sizeof(err)) == TFS_OK);
	CHECK(s.n == 1);
}

static void test_skip_cap(void)
{
	struct manifest m = MANIFEST_INIT;
	struct seen s;
	char err[256], name[16], *text;
	int i;

	for (i = 0; i < MANIFEST_SKIPS_MAX + 5; i++) {
		snprintf(name, sizeof(name), "l%d", i);
		manifest_add_skip(&m, name, "a symbolic link");
	}
	CHECK(m.skipped == MANIFEST_SKIPS_MAX + 5);
	text = manifest_finish(&m);
	memset(&s, 0, sizeof(s));
	CHECK(manifest_parse(text, strlen(text), seen_cb, &s, err,
			     sizeof(err)) == TFS_OK);
	CHECK(s.n == MANIFEST_SKIPS_MAX + 1);
	CHECK(strstr(text, "\"skipped 'l99': a symbolic link\"") != NULL);
	CHECK(strstr(text, "l100") == NULL);
	CHECK(strstr(text, "{\"path\":\"\",\"skipped\":\"skipped 5 more "
		     "files\"}]") != NULL);
	free(text);
}

static void test_writer_refuses(void)
{
	struct manifest m = MANIFEST_INIT;
	char longpath[ARTIFACT_PATH_MAX + 2];

	memset(longpath, 'p', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = '\0';
	CHECK(manifest_add_file(&m, "x", 1, "abc") == TFS_EINVAL);
	CHECK(manifest_add_file(&m, "x", 1, SHA_A "0") == TFS_EINVAL);
	CHECK(manifest_add_file(&m, "x", -1, SHA_A) == TFS_EINVAL);
	CHECK(manifest_add_file(&m, longpath, 1, SHA_A) == TFS_EINVAL);
	CHECK(m.n == 0);
	m.n = ARTIFACT_FILES_MAX;
	CHECK(manifest_add_file(&m, "x", 1, SHA_A) == TFS_EFBIG);
	manifest_release(&m);
	CHECK(m.n == 0 && m.files == NULL);
}

static void test_parser_refuses(void)
{
	static const char *const bad[] = {
		"{}",
		"not json",
		"[{\"size\":1,\"sha256\":\"" SHA_A "\"}]",
		"[{\"path\":\"a\",\"size\":1}]",
		"[{\"path\":\"a\",\"size\":-1,\"sha256\":\"" SHA_A "\"}]",
		"[{\"path\":\"a\",\"size\":1.5,\"sha256\":\"" SHA_A "\"}]",
		"[{\"path\":\"a\",\"size\":\"1\",\"sha256\":\"" SHA_A "\"}]",
		"[{\"path\":\"a\",\"size\":1,\"sha256\":\"" SHA_A "0\"}]",
		"[{\"path\":\"a\",\"size\":1,\"sha256\":"
		"\"0123456789ABCDEF0123456789abcdef0123456789abcdef0123456789abcdef\"}]",
		"[{\"path\":\"a\",\"skipped\":1}]",
		"[{\"path\":7,\"skipped\":\"why\"}]",
		"[1]",
		NULL
	};
	struct seen s;
	char err[256], *big;
	int i;

	for (i = 0; bad[i]; i++) {
		err[0] = '\0';
		CHECK(parse(bad[i], &s, err, sizeof(err)) == TFS_EINVAL);
		CHECK(s.n == 0);
		CHECK(err[0] != '\0');
	}
	/* refused whole: the good entry before the bad one is never seen */
	CHECK(parse("[{\"path\":\"ok\",\"skipped\":\"why\"},{\"path\":\"a\"}]",
		    &s, err, sizeof(err)) == TFS_EINVAL);
	CHECK(s.n == 0);
	CHECK_STR(err, "manifest entry 1 is not a file or a note");
	CHECK(parse("{}", &s, err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "manifest is not a JSON array");
	/* past the size bound nothing is read */
	big = calloc(1, 16);
	memset(&s, 0, sizeof(s));
	CHECK(big && manifest_parse(big, (size_t)MANIFEST_MAX + 1, seen_cb, &s,
				    err, sizeof(err)) == TFS_EFBIG);
	CHECK(s.n == 0);
	free(big);
}

static void test_escape(void)
{
	char out[16];

	manifest_json_escape("a\"b\\c\x01", out, sizeof(out));
	CHECK_STR(out, "a\\\"b\\\\c\\u0001");
	manifest_json_escape("0123456789abcdefXYZ", out, sizeof(out));
	CHECK(strlen(out) == sizeof(out) - 1);
	manifest_json_escape("abcdefghijklmn\"", out, sizeof(out));
	CHECK_STR(out, "abcdefghijklmn");   /* an escape is never cut */
}

int main(void)
{
	test_round_trip();
	test_skip_cap();
	test_writer_refuses();
	test_parser_refuses();
	test_escape();
	return TEST_REPORT();
}
