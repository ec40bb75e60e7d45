/*
 * test_config.c - config_parse() and config_template_check(): every rule of
 * DESIGN.md section 4 with one config that passes and one that fails, the
 * reasons (they are the user's only feedback, so each must name its key),
 * {param} substitution, number rendering, template merging, size bounds and
 * a mutation loop that feeds broken configs and must never crash.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"
#include "state.h"
#include "util.h"
#include "test.h"

static char err[CONFIG_REASON_MAX];
static struct run_config cfg;
static const struct run_config zero_cfg;

/* Templates the fake store knows. */
static const char *const templates[][2] = {
	{ "base", "{\"command\":[\"python3\",\"train.py\",\"--lr\",\"{lr}\"],"
		  "\"params\":{\"lr\":0.1,\"epochs\":10},"
		  "\"env\":{\"A\":\"tpl\",\"B\":\"tpl\"},"
		  "\"resources\":{\"cpus\":8,\"gpus\":2},"
		  "\"tags\":{\"team\":\"tpl\",\"src\":\"base\"},"
		  "\"kind\":\"inference\",\"priority\":5,"
		  "\"workdir\":\"/tpl\"}" },
	{ "deps", "{\"depends_on\":[\"prep\"]}" },
	{ "chain", "{\"template\":\"base\"}" },
	{ "broken", "{\"command\":" },
	{ "badkey", "{\"comand\":[\"x\"]}" },
	{ "empty", "{}" },
	{ "notify", "{\"command\":[\"x\"],\"notify\":"
		    "{\"webhook\":\"http://tpl.example/h\",\"on\":[\"failed\"]}}" },
};

static char *tpl_fn(void *arg, const char *name)
{
	size_t i;

	(void)arg;
	for (i = 0; i < sizeof(templates) / sizeof(templates[0]); i++)
		if (strcmp(templates[i][0], name) == 0)
			return xstrdup(templates[i][1]);
	return NULL;
}

static int parse_len(const char *json, size_t len)
{
	memset(err, 0, sizeof(err));
	return config_parse(json, len, tpl_fn, NULL, &cfg, err, sizeof(err));
}

/* Parses json expecting success; the caller checks fields and releases. */
static int ok_(const char *json, int line)
{
	int rc = parse_len(json, strlen(json));

	if (rc != TFS_OK)
		fprintf(stderr, "line %d: unexpected error \"%s\" for %.200s\n",
			line, err, json);
	CHECK(rc == TFS_OK);
	return rc == TFS_OK;
}
#define OK(json) ok_((json), __LINE__)

/* Parses and releases: for configs that only need to be accepted. */
#define ACCEPT(json) do { if (OK(json)) config_release(&cfg); } while (0)

static void bad_len(const char *json, size_t len, int want_rc,
		    const char *want, int line)
{
	int rc = parse_len(json, len);
	size_t n = strlen(err);

	if (rc != want_rc || !strstr(err, want))
		fprintf(stderr, "line %d: rc %d, reason \"%s\", wanted \"%s\"\n",
			line, rc, err, want);
	CHECK(rc == want_rc);
	CHECK(strstr(err, want) != NULL);
	/* One lowercase sentence without a full stop, out left zeroed. */
	CHECK(n > 0 && !(err[0] >= 'A' && err[0] <= 'Z') && err[n - 1] != '.');
	CHECK(memcmp(&cfg, &zero_cfg, sizeof(cfg)) == 0);
	if (rc == TFS_OK)
		config_release(&cfg);
}
#define BAD(json, want) \
	bad_len((json), strlen(json), TFS_EINVAL, (want), __LINE__)

/* Builds {"command":["x"],<key>:<value>} around a generated value. */
static char *with(const char *key, const char *value)
{
	struct buf b = BUF_INIT(0);

	buf_printf(&b, "{\"command\":[\"x\"],\"%s\":%s}", key, value);
	return buf_detach(&b, NULL);
}

/* A JSON string of n copies of c. */
static char *jstr(size_t n, char c)
{
	char *s = xmalloc(n + 3);

	s[0] = '"';
	memset(s + 1, c, n);
	s[n + 1] = '"';
	s[n + 2] = '\0';
	return s;
}

/* An object of n members "<prefix><i>": value, or an array when !prefix. */
static char *many(int n, const char *prefix, const char *value)
{
	struct buf b = BUF_INIT(0);
	int i;

	buf_puts(&b, prefix ? "{" : "[");
	for (i = 0; i < n; i++) {
		if (prefix)
			buf_printf(&b, "%s\"%s%d\":%s", i ? "," : "", prefix,
				   i, value);
		else
			buf_printf(&b, "%s\"r%d\"", i ? "," : "", i);
	}
	buf_puts(&b, prefix ? "}" : "]");
	return buf_detach(&b, NULL);
}

static void accept_with(const char *key, char *value, int line)
{
	char *j = with(key, value);

	if (ok_(j, line))
		config_release(&cfg);
	free(j);
	free(value);
}

static void refuse_with(const char *key, char *value, const char *want,
			int line)
{
	char *j = with(key, value);

	bad_len(j, strlen(j), TFS_EINVAL, want, line);
	free(j);
	free(value);
}

static void test_defaults(void)
{
	if (!OK("{\"command\":[\"echo\",\"hi\"]}"))
		return;
	CHECK_STR(cfg.provider, "local");
	CHECK_STR(cfg.kind, "training");
	CHECK(cfg.argc == 2);
	CHECK_STR(cfg.argv[0], "echo");
	CHECK_STR(cfg.argv[1], "hi");
	CHECK(cfg.argv[2] == NULL);
	CHECK(cfg.workdir == NULL && cfg.image == NULL);
	CHECK(cfg.gpu_type == NULL && cfg.template_name == NULL);
	CHECK(cfg.cpus == 1 && cfg.gpus == 0 && cfg.memory_mb == 0);
	CHECK(cfg.priority == 0 && cfg.max_retries == 0 && cfg.timeout_s == 0);
	CHECK(cfg.nenv == 0 && cfg.nparams == 0 && cfg.ndeps == 0);
	CHECK(cfg.ninputs == 0 && cfg.ntags == 0);
	CHECK_STR(cfg.merged_json, "{\"command\":[\"echo\",\"hi\"]}");
	config_release(&cfg);
	CHECK(memcmp(&cfg, &zero_cfg, sizeof(cfg)) == 0);
}

static void test_full_example(void)
{
	const char *j =
		"{\n"
		"  \"provider\": \"slurm\",\n"
		"  \"kind\": \"evaluation\",\n"
		"  \"command\": [\"python3\", \"train.py\", \"--lr\", \"{lr}\"],\n"
		"  \"workdir\": \"/home/me/project\",\n"
		"  \"image\": \"pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime\",\n"
		"  \"env\": {\"HF_HOME\": \"/cache/hf\", \"_X1\": \"\"},\n"
		"  \"params\": {\"lr\": 0.01, \"epochs\": 3},\n"
		"  \"resources\": {\"cpus\": 4, \"gpus\": 1, \"memory_mb\": 1024,"
		" \"gpu_type\": \"A100\"},\n"
		"  \"priority\": -7,\n"
		"  \"depends_on\": [\"prepare\", \"other-exp/finetune\"],\n"
		"  \"inputs\": {\"base_model\": \"other-exp/finetune:out/model.safetensors\","
		" \"data\": \"prepare:data.jsonl\"},\n"
		"  \"max_retries\": 3,\n"
		"  \"timeout_s\": 3600,\n"
		"  \"tags\": {\"team\": \"nlp\", \"note\": \"a b: c\"}\n"
		"}\n";

	if (!OK(j))
		return;
	CHECK_STR(cfg.provider, "slurm");
	CHECK_STR(cfg.kind, "evaluation");
	CHECK(cfg.argc == 4);
	CHECK_STR(cfg.argv[3], "0.01");
	CHECK_STR(cfg.workdir, "/home/me/project");
	CHECK_STR(cfg.image, "pytorch/pytorch:2.4.0-cuda12.1-cudnn9-runtime");
	CHECK(cfg.nenv == 2);
	CHECK_STR(cfg.env[0].key, "HF_HOME");
	CHECK_STR(cfg.env[0].value, "/cache/hf");
	CHECK_STR(cfg.env[1].key, "_X1");
	CHECK_STR(cfg.env[1].value, "");
	CHECK(cfg.nparams == 2);
	CHECK_STR(cfg.params[0].key, "lr");
	CHECK_STR(cfg.params[1].key, "epochs");
	CHECK_STR(cfg.params[1].value, "3");
	CHECK(cfg.cpus == 4 && cfg.gpus == 1 && cfg.memory_mb == 1024);
	CHECK_STR(cfg.gpu_type, "A100");
	CHECK(cfg.priority == -7);
	CHECK(cfg.ndeps == 2);
	CHECK_STR(cfg.depends_on[0], "prepare");
	CHECK_STR(cfg.depends_on[1], "other-exp/finetune");
	CHECK(cfg.ninputs == 2);
	CHECK_STR(cfg.inputs[0].key, "base_model");
	CHECK_STR(cfg.inputs[0].value, "other-exp/finetune:out/model.safetensors");
	CHECK_STR(cfg.inputs[1].value, "prepare:data.jsonl");
	CHECK(cfg.max_retries == 3 && cfg.timeout_s == 3600);
	CHECK(cfg.ntags == 2);
	CHECK_STR(cfg.tags[1].key, "note");
	CHECK_STR(cfg.tags[1].value, "a b: c");
	CHECK(cfg.template_name == NULL);
	config_release(&cfg);
}

static void test_substitution(void)
{
	if (OK("{\"command\":[\"--lr={lr}\",\"{lr}{lr}\",\"{{lr}}\",\"{{\","
	       "\"}}\",\"{}\",\"${{HOME}}\",\"{ lr}\",\"{1x}\",\"a{name}b\","
	       "\"{flag}/{off}\",\"{\",\"}\",\"x{lr\",\"{{{lr}}}\",\"{epochs}\"],"
	       "\"params\":{\"lr\":0.01,\"name\":\"run {x}\",\"flag\":true,"
	       "\"off\":false,\"epochs\":3}}")) {
		CHECK(cfg.argc == 16);
		CHECK_STR(cfg.argv[0], "--lr=0.01");
		CHECK_STR(cfg.argv[1], "0.010.01");
		CHECK_STR(cfg.argv[2], "{lr}");
		CHECK_STR(cfg.argv[3], "{");
		CHECK_STR(cfg.argv[4], "}");
		CHECK_STR(cfg.argv[5], "{}");
		CHECK_STR(cfg.argv[6], "${HOME}");
		CHECK_STR(cfg.argv[7], "{ lr}");
		CHECK_STR(cfg.argv[8], "{1x}");
		/* A param's value is not substituted again. */
		CHECK_STR(cfg.argv[9], "arun {x}b");
		CHECK_STR(cfg.argv[10], "true/false");
		CHECK_STR(cfg.argv[11], "{");
		CHECK_STR(cfg.argv[12], "}");
		CHECK_STR(cfg.argv[13], "x{lr");
		CHECK_STR(cfg.argv[14], "{0.01}");
		CHECK_STR(cfg.argv[15], "3");
		CHECK(cfg.argv[16] == NULL);
		config_release(&cfg);
	}
	/* A shell's ${VAR} is the shell's: left as written. */
	if (OK("{\"command\":[\"sh\",\"-c\",\"echo ${HOME} ${A:-{lr}} "
	       "$${X}\", \"${\", \"{lr}${B}\"],\"params\":{\"lr\":2}}")) {
		CHECK_STR(cfg.argv[2], "echo ${HOME} ${A:-{lr}} $${X}");
		CHECK_STR(cfg.argv[3], "${");
		CHECK_STR(cfg.argv[4], "2${B}");
		config_release(&cfg);
	}
	/* {VAR} without the $ is still a param, with a hint for a brace */
	BAD("{\"command\":[\"sh\",\"-c\",\"echo {HOME}\"]}",
	    "command references unknown param 'HOME' (a literal brace is "
	    "written {{ or }})");
	BAD("{\"command\":[\"train\",\"--lr={lr}\"]}",
	    "command references unknown param 'lr'");
	BAD("{\"command\":[\"{epochs}\"],\"params\":{\"lr\":1}}",
	    "command references unknown param 'epochs'");
	/* Lookup by whole name among names that prefix each other. */
	if (OK("{\"command\":[\"{ab}\",\"{a}\",\"{abc}\",\"{b}\",\"{_}\"],"
	       "\"params\":{\"b\":4,\"abc\":3,\"a\":1,\"ab\":2,\"_\":5}}")) {
		CHECK_STR(cfg.argv[0], "2");
		CHECK_STR(cfg.argv[1], "1");
		CHECK_STR(cfg.argv[2], "3");
		CHECK_STR(cfg.argv[3], "4");
		CHECK_STR(cfg.argv[4], "5");
		/* params keep the object's order */
		CHECK_STR(cfg.params[0].key, "b");
		CHECK_STR(cfg.params[4].key, "_");
		config_release(&cfg);
	}
	BAD("{\"command\":[\"{abcd}\"],\"params\":{\"a\":1,\"ab\":2,\"abc\":3}}",
	    "unknown param 'abcd'");
	BAD("{\"command\":[\"{aa}\"],\"params\":{\"a\":1,\"ab\":2,\"abc\":3}}",
	    "unknown param 'aa'");
	/* Params are matched whole, not by prefix. */
	BAD("{\"command\":[\"{l}\"],\"params\":{\"lr\":1}}",
	    "unknown param 'l'");
}

static void test_numbers(void)
{
	static const char *const cases[][2] = {
		{ "0.01", "0.01" }, { "3", "3" }, { "5e-05", "5e-05" },
		{ "0.00005", "5e-05" }, { "1e+20", "1e+20" }, { "1e20", "1e+20" },
		{ "-2", "-2" }, { "2.0", "2" }, { "-0.0", "0" }, { "0", "0" },
		{ "1.5", "1.5" }, { "0.1", "0.1" },
		{ "0.30000000000000004", "0.30000000000000004" },
		{ "123456789012345", "123456789012345" }, { "1e15", "1e+15" },
		{ "-1e-300", "-1e-300" }, { "3.141592653589793", "3.141592653589793" },
	};
	char j[256];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(j, sizeof(j),
			 "{\"command\":[\"x\",\"{v}\"],\"params\":{\"v\":%s}}",
			 cases[i][0]);
		if (!OK(j))
			continue;
		if (strcmp(cfg.params[0].value, cases[i][1]))
			fprintf(stderr, "number %s rendered as %s\n",
				cases[i][0], cfg.params[0].value);
		CHECK_STR(cfg.params[0].value, cases[i][1]);
		CHECK_STR(cfg.argv[1], cases[i][1]);
		config_release(&cfg);
	}
	/* Too large for a double: said as such, not "not a number". */
	BAD("{\"command\":[\"x\"],\"params\":{\"v\":1e999}}",
	    "'params.v' is out of range: a number must be finite");
	BAD("{\"command\":[\"x\"],\"priority\":1e309}",
	    "'priority' is out of range");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":-1e309}}",
	    "'resources.cpus' is out of range");
	BAD("{\"command\":[\"x\", 1e400]}", "'command[1]' is out of range");
}

static void test_json_errors(void)
{
	char *big;

	bad_len("", 0, TFS_EINVAL, "config is empty", __LINE__);
	BAD(" \n\t ", "config is empty");
	bad_len(NULL, 0, TFS_EINVAL, "config is empty", __LINE__);
	BAD("{\n  \"command\": [\"x\",]\n}", "invalid JSON at line 2 column");
	BAD("{\"command\":[\"x\"]", "invalid JSON");
	BAD("{\"command\":[\"x\"]} trailing", "invalid JSON at line 1 column 19");
	BAD("{\"command\":[\"x\"]}{}", "invalid JSON");
	BAD("nul", "invalid JSON at line 1");
	BAD("[\"x\"]", "config must be a JSON object");
	BAD("\"x\"", "config must be a JSON object");
	BAD("42", "config must be a JSON object");
	BAD("null", "config must be a JSON object");
	bad_len("{\"command\":[\"x\"]}\0{}", 20, TFS_EINVAL,
		"config contains a NUL byte at byte 17", __LINE__);
	BAD("{\"command\":[\"a\\u0000b\"]}", "must not contain \\u0000");
	BAD("{\"command\":[\"x\"],\"env\":{\"A\\u0000B\":\"1\"}}",
	    "must not contain \\u0000");
	/* An escaped backslash before u0000 is just text. */
	if (OK("{\"command\":[\"a\\\\u0000b\"]}")) {
		CHECK_STR(cfg.argv[0], "a\\u0000b");
		config_release(&cfg);
	}
	/* Not NUL-terminated: only len bytes count. */
	CHECK(parse_len("{\"command\":[\"x\"]}XXXX", 17) == TFS_OK);
	config_release(&cfg);

	big = xmalloc(2 * 1024 * 1024);
	memset(big, ' ', 2 * 1024 * 1024);
	memcpy(big, "{\"command\":[\"x\"]}", 17);
	bad_len(big, 2 * 1024 * 1024, TFS_EFBIG, "larger than", __LINE__);
	bad_len(big, CONFIG_MAX_BYTES + 1, TFS_EFBIG, "config is larger than",
		__LINE__);
	/* Exactly the bound is fine: trailing whitespace is allowed. */
	CHECK(parse_len(big, CONFIG_MAX_BYTES) == TFS_OK);
	config_release(&cfg);
	free(big);

	/* Deep nesting is named as such, wherever it starts. */
	big = xmalloc(20003);
	memset(big, '[', 10000);
	memset(big + 10000, ']', 10000);
	big[20000] = '\0';
	BAD(big, "config is nested too deeply: more than 32 levels at line 1 "
	    "column 33");
	memcpy(big, "{\"command\":[\"x\"],\"params\":{\"v\":", 31);
	BAD(big, "config is nested too deeply: more than 32 levels at line 1 "
	    "column 62");
	free(big);
	/* Brackets inside strings do not count. */
	ACCEPT("{\"command\":[\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"]}");
}

/* The write-time look: complete exactly when the object closes. */
static void test_scan(void)
{
	static const char text[] = "  {\"a\": \"}\\\"{\", \"b\": [1, {}]} \n x";
	struct config_scan sc = CONFIG_SCAN_INIT;
	size_t close_at = strlen(text) - 5, i;   /* its '}' */
	int fired = 0;

	/* byte by byte, as the slowest writer would */
	for (i = 1; i <= sizeof(text) - 1; i++) {
		int r = config_scan_feed(&sc, text, i);

		if (i < close_at + 1)
			CHECK(r == 0);
		else if (i == close_at + 1)
			CHECK(r == 1 && sc.complete && !sc.trailing);
		else if (i < sizeof(text) - 1)
			CHECK(r == 0);       /* blanks after it: nothing new */
		fired += r;
	}
	CHECK(fired == 2 && sc.trailing);       /* the closing brace, the x */
	CHECK(sc.max_depth == 3 && !sc.not_object && !sc.too_deep_at);

	/* in one piece, and what is not an object at once */
	memset(&sc, 0, sizeof(sc));
	CHECK(config_scan_feed(&sc, "{\"a\":1}", 7) == 1);
	memset(&sc, 0, sizeof(sc));
	CHECK(config_scan_feed(&sc, "{\"a\"", 4) == 0);
	CHECK(config_scan_feed(&sc, "{\"a\":[", 6) == 0 && !sc.complete);
	memset(&sc, 0, sizeof(sc));
	CHECK(config_scan_feed(&sc, " \n[", 3) == 1 && sc.not_object);
	memset(&sc, 0, sizeof(sc));
	CHECK(config_scan_feed(&sc, "  ", 2) == 0 && !sc.started);
}

static void test_keys(void)
{
	BAD("{\"comand\":[\"x\"]}", "unknown key 'comand'");
	BAD("{\"comand\":[\"x\"]}", "did you mean 'command'?");
	BAD("{\"command\":[\"x\"],\"priorty\":1}", "did you mean 'priority'?");
	BAD("{\"command\":[\"x\"],\"frobnicate\":1}", "unknown key 'frobnicate'");
	CHECK(strstr(err, "did you mean") == NULL);
	BAD("{\"command\":[\"x\"],\"Command\":[\"y\"]}", "unknown key 'Command'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpu\":2}}",
	    "unknown key 'resources.cpu'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpu\":2}}",
	    "did you mean 'resources.cpus'?");
	BAD("{\"command\":[\"x\"],\"command\":[\"y\"]}", "duplicate key 'command'");
	BAD("{\"command\":[\"x\"],\"env\":{\"A\":\"1\",\"B\":\"2\",\"A\":\"3\"}}",
	    "duplicate key 'env.A'");
	BAD("{\"command\":[\"x\"],\"params\":{\"a\":1,\"a\":1}}",
	    "duplicate key 'params.a'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":1,\"cpus\":2}}",
	    "duplicate key 'resources.cpus'");
	BAD("{\"command\":[\"x\"],\"tags\":{\"t\":\"1\",\"t\":\"1\"}}",
	    "duplicate key 'tags.t'");
	/* A key with control characters stays on one line in the reason. */
	BAD("{\"command\":[\"x\"],\"a\\nb\":1}", "unknown key 'a?b'");
	CHECK(strchr(err, '\n') == NULL);
}

static void test_provider_kind(void)
{
	static const char *const kinds[] = { "training", "synthesis",
		"inference", "evaluation", "conversion", "benchmark" };
	char j[128];
	size_t i;

	if (OK("{\"command\":[\"x\"],\"provider\":\"my-cluster.2\"}")) {
		CHECK_STR(cfg.provider, "my-cluster.2");
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"provider\":\"bad name\"}", "'provider'");
	BAD("{\"command\":[\"x\"],\"provider\":\"\"}", "'provider'");
	BAD("{\"command\":[\"x\"],\"provider\":\"-x\"}", "'provider'");
	BAD("{\"command\":[\"x\"],\"provider\":7}", "'provider'");
	BAD("{\"command\":[\"x\"],\"provider\":null}", "'provider'");
	for (i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		snprintf(j, sizeof(j), "{\"command\":[\"x\"],\"kind\":\"%s\"}",
			 kinds[i]);
		if (OK(j)) {
			CHECK_STR(cfg.kind, kinds[i]);
			config_release(&cfg);
		}
	}
	BAD("{\"command\":[\"x\"],\"kind\":\"train\"}", "'kind' must be one of");
	BAD("{\"command\":[\"x\"],\"kind\":\"Training\"}", "'kind'");
	BAD("{\"command\":[\"x\"],\"kind\":[\"training\"]}", "'kind'");
}

/* A provider list, and the budget. */
static void test_providers_budget(void)
{
	char j[512];
	int i, k;

	if (OK("{\"command\":[\"x\"],\"provider\":\"a\"}")) {
		CHECK(cfg.nproviders == 1);
		CHECK_STR(cfg.providers[0], "a");
		CHECK(cfg.providers[1] == NULL);
		CHECK(cfg.max_cost_usd == 0);
		config_release(&cfg);
	}
	if (OK("{\"command\":[\"x\"],\"provider\":[\"vastai\",\"runpod\","
	       "\"lambda\"],\"max_cost_usd\":0.5}")) {
		CHECK(cfg.nproviders == 3);
		CHECK_STR(cfg.provider, "vastai");
		CHECK_STR(cfg.providers[1], "runpod");
		CHECK_STR(cfg.providers[2], "lambda");
		CHECK(cfg.providers[3] == NULL);
		CHECK(cfg.max_cost_usd == 0.5);
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"provider\":[]}",
	    "'provider' must list 1 to 8 providers");
	BAD("{\"command\":[\"x\"],\"provider\":[\"a\",\"a\"]}",
	    "'provider' lists 'a' twice");
	BAD("{\"command\":[\"x\"],\"provider\":[\"a\",3]}",
	    "'provider[1]' must be a name");
	BAD("{\"command\":[\"x\"],\"provider\":[\"a b\"]}",
	    "'provider[0]' must be a name");
	BAD("{\"command\":[\"x\"],\"provider\":{\"a\":1}}",
	    "'provider' must be a provider name or a list");
	i = snprintf(j, sizeof(j), "{\"command\":[\"x\"],\"provider\":[");
	for (k = 0; k < 9; k++)
		i += snprintf(j + i, sizeof(j) - (size_t)i, "%s\"p%d\"",
			      k ? "," : "", k);
	snprintf(j + i, sizeof(j) - (size_t)i, "]}");
	BAD(j, "'provider' must list 1 to 8 providers");
	ACCEPT("{\"command\":[\"x\"],\"max_cost_usd\":1000000}");
	BAD("{\"command\":[\"x\"],\"max_cost_usd\":0}",
	    "'max_cost_usd' must be a number of USD above 0 and at most 1000000");
	BAD("{\"command\":[\"x\"],\"max_cost_usd\":-1}", "'max_cost_usd'");
	BAD("{\"command\":[\"x\"],\"max_cost_usd\":1000001}", "'max_cost_usd'");
	BAD("{\"command\":[\"x\"],\"max_cost_usd\":\"5\"}", "'max_cost_usd'");
	BAD("{\"command\":[\"x\"],\"max_cost_usd\":null}", "'max_cost_usd'");
}

static void test_command(void)
{
	char *s;

	BAD("{}", "'command' is required");
	BAD("{\"params\":{\"a\":1}}", "'command' is required");
	BAD("{\"command\":[]}", "'command' must be a non-empty array of strings");
	BAD("{\"command\":\"python3 train.py\"}",
	    "'command' must be a non-empty array of strings");
	BAD("{\"command\":null}", "'command' must be a non-empty array");
	BAD("{\"command\":{\"a\":\"b\"}}", "'command' must be a non-empty array");
	BAD("{\"command\":[\"x\",1]}", "'command[1]' must be a string");
	BAD("{\"command\":[\"x\",[\"y\"]]}", "'command[1]' must be a string");
	BAD("{\"command\":[\"\"]}", "'command[0]' must not be empty");
	if (OK("{\"command\":[\"x\",\"\"]}")) {
		CHECK(cfg.argc == 2 && cfg.argv[1][0] == '\0');
		config_release(&cfg);
	}

	accept_with("params", many(1, "p", "1"), __LINE__);
	s = many(CONFIG_MAX_ARGS, NULL, NULL);
	{
		struct buf b = BUF_INIT(0);

		buf_printf(&b, "{\"command\":%s}", s);
		if (OK(b.p)) {
			CHECK(cfg.argc == CONFIG_MAX_ARGS);
			CHECK(cfg.argv[CONFIG_MAX_ARGS] == NULL);
			config_release(&cfg);
		}
		buf_release(&b);
		free(s);
		s = many(CONFIG_MAX_ARGS + 1, NULL, NULL);
		buf_printf(&b, "{\"command\":%s}", s);
		BAD(b.p, "'command' has more than 4096 arguments");
		buf_release(&b);
		free(s);

		s = jstr(CONFIG_MAX_ARG_LEN, 'a');
		buf_printf(&b, "{\"command\":[%s]}", s);
		ACCEPT(b.p);
		buf_release(&b);
		free(s);
		s = jstr(CONFIG_MAX_ARG_LEN + 1, 'a');
		buf_printf(&b, "{\"command\":[\"x\",%s]}", s);
		BAD(b.p, "'command[1]' is longer than 65536 bytes");
		buf_release(&b);
		free(s);

		/* Substitution can grow an argument past the bound. */
		s = jstr(40000, 'v');
		buf_printf(&b, "{\"command\":[\"x\",\"{s}{s}\"],\"params\":{\"s\":%s}}",
			   s);
		BAD(b.p, "'command[1]' is longer than 65536 bytes after substitution");
		buf_release(&b);
		/* ... and all of argv past its total. */
		buf_puts(&b, "{\"command\":[\"x\"");
		{
			int i;

			for (i = 0; i < 60; i++)
				buf_puts(&b, ",\"{s}\"");
		}
		buf_printf(&b, "],\"params\":{\"s\":%s}}", s);
		BAD(b.p, "'command' is longer than 2097152 bytes in total");
		buf_release(&b);
		free(s);
	}
}

static void test_workdir_image(void)
{
	if (OK("{\"command\":[\"x\"],\"workdir\":\"/\",\"image\":\"\"}")) {
		CHECK_STR(cfg.workdir, "/");
		CHECK_STR(cfg.image, "");
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"workdir\":\"rel/dir\"}",
	    "'workdir' must be an absolute path");
	BAD("{\"command\":[\"x\"],\"workdir\":\"\"}", "'workdir'");
	BAD("{\"command\":[\"x\"],\"workdir\":5}", "'workdir'");
	accept_with("workdir", jstr(4096, '/'), __LINE__);
	refuse_with("workdir", jstr(4097, '/'), "'workdir'", __LINE__);
	accept_with("image", jstr(1024, 'i'), __LINE__);
	refuse_with("image", jstr(1025, 'i'),
		    "'image' must be a string of at most 1024 bytes", __LINE__);
	BAD("{\"command\":[\"x\"],\"image\":true}", "'image'");
}

static void test_env(void)
{
	char *v;

	BAD("{\"command\":[\"x\"],\"env\":{\"TRAINFS_X\":\"1\"}}",
	    "env key 'TRAINFS_X' is reserved");
	BAD("{\"command\":[\"x\"],\"env\":{\"TRAINFS_\":\"1\"}}",
	    "env key 'TRAINFS_' is reserved");
	if (OK("{\"command\":[\"x\"],\"env\":{\"TRAINFS\":\"1\","
	       "\"trainfs_x\":\"2\",\"X_TRAINFS_\":\"3\"}}")) {
		CHECK(cfg.nenv == 3);
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"env\":{\"1A\":\"1\"}}", "env key '1A'");
	BAD("{\"command\":[\"x\"],\"env\":{\"A-B\":\"1\"}}", "env key 'A-B'");
	BAD("{\"command\":[\"x\"],\"env\":{\"\":\"1\"}}", "env key ''");
	BAD("{\"command\":[\"x\"],\"env\":{\"A\":1}}",
	    "'env.A' must be a string");
	BAD("{\"command\":[\"x\"],\"env\":{\"A\":null}}", "'env.A'");
	BAD("{\"command\":[\"x\"],\"env\":[\"A=1\"]}", "'env' must be an object");
	BAD("{\"command\":[\"x\"],\"env\":\"A=1\"}", "'env'");
	accept_with("env", many(CONFIG_MAX_ENV, "E", "\"v\""), __LINE__);
	refuse_with("env", many(CONFIG_MAX_ENV + 1, "E", "\"v\""),
		    "'env' has more than 1024 entries", __LINE__);
	v = jstr(65536, 'v');
	{
		struct buf b = BUF_INIT(0);

		buf_printf(&b, "{\"A\":%s}", v);
		accept_with("env", buf_detach(&b, NULL), __LINE__);
		free(v);
		v = jstr(65537, 'v');
		buf_printf(&b, "{\"A\":%s}", v);
		refuse_with("env", buf_detach(&b, NULL), "'env.A'", __LINE__);
		free(v);
		v = jstr(256, 'K');
		buf_printf(&b, "{%s:\"v\"}", v);
		accept_with("env", buf_detach(&b, NULL), __LINE__);
		free(v);
		v = jstr(257, 'K');
		buf_printf(&b, "{%s:\"v\"}", v);
		refuse_with("env", buf_detach(&b, NULL), "env key 'KKK", __LINE__);
		free(v);
	}
}

static void test_params(void)
{
	BAD("{\"command\":[\"x\"],\"params\":{\"a\":null}}",
	    "'params.a' must be a number, string or boolean");
	BAD("{\"command\":[\"x\"],\"params\":{\"a\":[1]}}", "'params.a'");
	BAD("{\"command\":[\"x\"],\"params\":{\"a\":{\"b\":1}}}", "'params.a'");
	BAD("{\"command\":[\"x\"],\"params\":{\"bad-key\":1}}",
	    "param name 'bad-key'");
	BAD("{\"command\":[\"x\"],\"params\":{\"9a\":1}}", "param name '9a'");
	BAD("{\"command\":[\"x\"],\"params\":[1]}", "'params' must be an object");
	accept_with("params", many(1024, "p", "1"), __LINE__);
	refuse_with("params", many(1025, "p", "1"),
		    "'params' has more than 1024 entries", __LINE__);
}

static void test_resources(void)
{
	if (OK("{\"command\":[\"x\"],\"resources\":{\"cpus\":0,\"gpus\":1024,"
	       "\"memory_mb\":1099511627776,\"gpu_type\":\"H100\"}}")) {
		CHECK(cfg.cpus == 0 && cfg.gpus == 1024);
		CHECK(cfg.memory_mb == ((int64_t)1 << 40));
		CHECK_STR(cfg.gpu_type, "H100");
		config_release(&cfg);
	}
	if (OK("{\"command\":[\"x\"],\"resources\":{\"cpus\":4096,\"gpus\":2}}")) {
		CHECK(cfg.cpus == 4096 && cfg.gpus == 2 && cfg.memory_mb == 0);
		config_release(&cfg);
	}
	ACCEPT("{\"command\":[\"x\"],\"resources\":{}}");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":2.5}}",
	    "'resources.cpus' must be an integer from 0 to 4096");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":-1}}",
	    "'resources.cpus' must be an integer from 0 to 4096");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":4097}}",
	    "'resources.cpus'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"cpus\":\"2\"}}",
	    "'resources.cpus'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"gpus\":1025}}",
	    "'resources.gpus' must be an integer from 0 to 1024");
	BAD("{\"command\":[\"x\"],\"resources\":{\"gpus\":true}}",
	    "'resources.gpus'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"memory_mb\":1099511627777}}",
	    "'resources.memory_mb' must be an integer from 0 to 1099511627776");
	BAD("{\"command\":[\"x\"],\"resources\":{\"memory_mb\":1e300}}",
	    "'resources.memory_mb'");
	BAD("{\"command\":[\"x\"],\"resources\":{\"gpu_type\":5}}",
	    "'resources.gpu_type' must be a string of at most 64 bytes");
	BAD("{\"command\":[\"x\"],\"resources\":[1]}",
	    "'resources' must be an object");
	BAD("{\"command\":[\"x\"],\"resources\":4}", "'resources'");
	{
		char *s = jstr(64, 'g'), *j;
		struct buf b = BUF_INIT(0);

		buf_printf(&b, "{\"gpu_type\":%s}", s);
		accept_with("resources", buf_detach(&b, NULL), __LINE__);
		free(s);
		s = jstr(65, 'g');
		buf_printf(&b, "{\"gpu_type\":%s}", s);
		j = buf_detach(&b, NULL);
		refuse_with("resources", j, "'resources.gpu_type'", __LINE__);
		free(s);
	}
}

static void test_ints(void)
{
	ACCEPT("{\"command\":[\"x\"],\"priority\":-1000000}");
	ACCEPT("{\"command\":[\"x\"],\"priority\":1000000}");
	if (OK("{\"command\":[\"x\"],\"priority\":12,\"max_retries\":100,"
	       "\"timeout_s\":31536000}")) {
		CHECK(cfg.priority == 12 && cfg.max_retries == 100);
		CHECK(cfg.timeout_s == 31536000);
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"priority\":1000001}",
	    "'priority' must be an integer from -1000000 to 1000000");
	BAD("{\"command\":[\"x\"],\"priority\":-1000001}", "'priority'");
	BAD("{\"command\":[\"x\"],\"priority\":\"1\"}", "'priority'");
	BAD("{\"command\":[\"x\"],\"priority\":1.5}", "'priority'");
	BAD("{\"command\":[\"x\"],\"max_retries\":101}",
	    "'max_retries' must be an integer from 0 to 100");
	BAD("{\"command\":[\"x\"],\"max_retries\":-1}", "'max_retries'");
	BAD("{\"command\":[\"x\"],\"max_retries\":null}", "'max_retries'");
	BAD("{\"command\":[\"x\"],\"timeout_s\":31536001}",
	    "'timeout_s' must be an integer from 0 to 31536000");
	BAD("{\"command\":[\"x\"],\"timeout_s\":\"1h\"}", "'timeout_s'");
	BAD("{\"command\":[\"x\"],\"timeout_s\":0.5}", "'timeout_s'");
}

static void test_depends_inputs(void)
{
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\",\"a\"]}",
	    "'depends_on' lists 'a' twice");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a/b/c\"]}", "'depends_on[0]'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"ok\",\"/a\"]}",
	    "'depends_on[1]'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a/\"]}", "'depends_on[0]'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"\"]}", "'depends_on[0]'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[1]}", "'depends_on[0]'");
	BAD("{\"command\":[\"x\"],\"depends_on\":\"a\"}",
	    "'depends_on' must be an array");
	accept_with("depends_on", many(CONFIG_MAX_DEPS, NULL, NULL), __LINE__);
	refuse_with("depends_on", many(CONFIG_MAX_DEPS + 1, NULL, NULL),
		    "'depends_on' has more than 256 entries", __LINE__);

	if (OK("{\"command\":[\"x\"],\"depends_on\":[\"e/r\",\"r\"],"
	       "\"inputs\":{\"a\":\"e/r:dir/f.bin\",\"b\":\"r:a..b/./c\"}}")) {
		CHECK(cfg.ninputs == 2);
		CHECK_STR(cfg.inputs[1].value, "r:a..b/./c");
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"b:f\"}}",
	    "input 'm' names run 'b' which is not in 'depends_on'");
	BAD("{\"command\":[\"x\"],\"inputs\":{\"m\":\"e/b:f\"}}",
	    "input 'm' names run 'e/b' which is not in 'depends_on'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a:../f\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a:d/..\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a:d/../f\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a:/etc/passwd\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a:\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\"a\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":\":f\"}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"m\":3}}",
	    "'inputs.m'");
	BAD("{\"command\":[\"x\"],\"depends_on\":[\"a\"],\"inputs\":{\"bad-name\":\"a:f\"}}",
	    "input name 'bad-name'");
	BAD("{\"command\":[\"x\"],\"inputs\":[\"a:f\"]}",
	    "'inputs' must be an object");
}

static void test_tags(void)
{
	char *s;
	struct buf b = BUF_INIT(0);

	if (OK("{\"command\":[\"x\"],\"tags\":{\"team\":\"nlp\",\"a b\":\"\"}}")) {
		CHECK(cfg.ntags == 2);
		CHECK_STR(cfg.tags[0].key, "team");
		CHECK_STR(cfg.tags[1].key, "a b");
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"tags\":{\"team\":1}}",
	    "'tags.team' must be a string");
	BAD("{\"command\":[\"x\"],\"tags\":{\"\":\"x\"}}", "tag name ''");
	BAD("{\"command\":[\"x\"],\"tags\":[\"x\"]}", "'tags' must be an object");
	accept_with("tags", many(256, "t", "\"v\""), __LINE__);
	refuse_with("tags", many(257, "t", "\"v\""),
		    "'tags' has more than 256 entries", __LINE__);
	s = jstr(1024, 'v');
	buf_printf(&b, "{\"t\":%s}", s);
	accept_with("tags", buf_detach(&b, NULL), __LINE__);
	free(s);
	s = jstr(1025, 'v');
	buf_printf(&b, "{\"t\":%s}", s);
	refuse_with("tags", buf_detach(&b, NULL), "'tags.t'", __LINE__);
	free(s);
	s = jstr(129, 'k');
	buf_printf(&b, "{%s:\"v\"}", s);
	refuse_with("tags", buf_detach(&b, NULL), "tag name 'kkk", __LINE__);
	free(s);
}

static void test_templates(void)
{
	/* Config wins; objects merge member by member; the rest comes in. */
	if (OK("{\"template\":\"base\",\"params\":{\"lr\":0.5},"
	       "\"env\":{\"A\":\"mine\",\"C\":\"mine\"},"
	       "\"resources\":{\"gpus\":1},\"tags\":{\"team\":\"mine\"},"
	       "\"kind\":\"training\"}")) {
		CHECK_STR(cfg.template_name, "base");
		CHECK(cfg.argc == 4);
		CHECK_STR(cfg.argv[0], "python3");
		CHECK_STR(cfg.argv[3], "0.5");
		CHECK_STR(cfg.kind, "training");
		CHECK(cfg.priority == 5);
		CHECK_STR(cfg.workdir, "/tpl");
		CHECK(cfg.nparams == 2);
		CHECK_STR(cfg.params[0].key, "lr");
		CHECK_STR(cfg.params[0].value, "0.5");
		CHECK_STR(cfg.params[1].key, "epochs");
		CHECK_STR(cfg.params[1].value, "10");
		CHECK(cfg.nenv == 3);
		CHECK_STR(cfg.env[0].key, "A");
		CHECK_STR(cfg.env[0].value, "mine");
		CHECK_STR(cfg.env[1].key, "C");
		CHECK_STR(cfg.env[2].key, "B");
		CHECK_STR(cfg.env[2].value, "tpl");
		CHECK(cfg.cpus == 8 && cfg.gpus == 1);
		CHECK(cfg.ntags == 2);
		CHECK_STR(cfg.tags[0].value, "mine");
		CHECK_STR(cfg.tags[1].value, "base");
		CHECK(strstr(cfg.merged_json, "\"template\":\"base\"") != NULL);
		CHECK(strstr(cfg.merged_json, "\"B\":\"tpl\"") != NULL);
		CHECK(strstr(cfg.merged_json, "\"gpus\":1") != NULL);
		CHECK(strstr(cfg.merged_json, "\"--lr\"") != NULL);
		config_release(&cfg);
	}
	/* The config's own command wins over the template's. */
	if (OK("{\"template\":\"base\",\"command\":[\"run\",\"{epochs}\"]}")) {
		CHECK(cfg.argc == 2);
		CHECK_STR(cfg.argv[1], "10");
		config_release(&cfg);
	}
	/* depends_on may come from the template; inputs are checked after. */
	if (OK("{\"template\":\"deps\",\"command\":[\"x\"],"
	       "\"inputs\":{\"d\":\"prep:data\"}}")) {
		CHECK(cfg.ndeps == 1);
		CHECK_STR(cfg.depends_on[0], "prep");
		config_release(&cfg);
	}
	BAD("{\"template\":\"empty\"}", "'command' is required");
	BAD("{\"template\":\"nope\",\"command\":[\"x\"]}",
	    "template 'nope' not found");
	BAD("{\"template\":\"chain\",\"command\":[\"x\"]}",
	    "template 'chain' is invalid: templates cannot use 'template'");
	BAD("{\"template\":\"broken\",\"command\":[\"x\"]}",
	    "template 'broken' is invalid: invalid JSON");
	BAD("{\"template\":\"badkey\",\"command\":[\"x\"]}",
	    "template 'badkey' is invalid: unknown key 'comand'");
	BAD("{\"template\":\"bad name\",\"command\":[\"x\"]}", "'template'");
	BAD("{\"template\":3,\"command\":[\"x\"]}", "'template'");
	/* The config's own mistakes are named before the template is read. */
	BAD("{\"template\":\"nope\",\"command\":[\"x\"],\"priority\":\"a\"}",
	    "'priority'");
	/* A type error in the config is not hidden by the template's value. */
	BAD("{\"template\":\"base\",\"env\":[]}", "'env' must be an object");
	/* Without a template source every template is missing. */
	memset(err, 0, sizeof(err));
	CHECK(config_parse("{\"template\":\"base\"}", 19, NULL, NULL, &cfg,
			   err, sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "template 'base' not found") != NULL);
	CHECK(memcmp(&cfg, &zero_cfg, sizeof(cfg)) == 0);

	CHECK(config_template_check(templates[0][1], strlen(templates[0][1]),
				    err, sizeof(err)) == TFS_OK);
	CHECK(config_template_check("{}", 2, err, sizeof(err)) == TFS_OK);
	/* {param} references are left to the runs. */
	CHECK(config_template_check("{\"command\":[\"{lr}\"]}", 20, err,
				    sizeof(err)) == TFS_OK);
	CHECK(config_template_check("{\"template\":\"x\"}", 16, err,
				    sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "templates cannot use 'template'");
	CHECK(config_template_check("{\"cpus\":1}", 10, err,
				    sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "unknown key 'cpus'") != NULL);
	CHECK(config_template_check("{\"command\":[]}", 14, err,
				    sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "'command'") != NULL);
	CHECK(config_template_check("[]", 2, err, sizeof(err)) == TFS_EINVAL);
	CHECK(config_template_check("", 0, err, sizeof(err)) == TFS_EINVAL);
	CHECK_STR(err, "template is empty");
	CHECK(config_template_check("{", 1, NULL, 0) == TFS_EINVAL);
	{
		char *big = xmalloc(CONFIG_MAX_BYTES + 1);

		memset(big, ' ', CONFIG_MAX_BYTES + 1);
		big[0] = '{';
		big[CONFIG_MAX_BYTES] = '}';
		CHECK(config_template_check(big, CONFIG_MAX_BYTES + 1, err,
					    sizeof(err)) == TFS_EINVAL);
		CHECK(strstr(err, "template is larger than") != NULL);
		free(big);
	}
	/* Merged counts are bounded too. */
	{
		char *env = many(1000, "E", "\"v\""), *j;
		struct buf b = BUF_INIT(0);

		buf_printf(&b, "{\"template\":\"base\",\"env\":%s}", env);
		j = buf_detach(&b, NULL);
		if (OK(j)) {
			CHECK(cfg.nenv == 1002);
			config_release(&cfg);
		}
		free(j);
		free(env);
		env = many(1023, "E", "\"v\"");
		buf_printf(&b, "{\"template\":\"base\",\"env\":%s}", env);
		j = buf_detach(&b, NULL);
		BAD(j, "'env' has more than 1024 entries");
		free(j);
		free(env);
	}
}

static void test_sha_and_err(void)
{
	const char *j = "{\"command\":[\"true\"]}";
	char small[8];

	if (OK(j)) {
		CHECK_STR(cfg.sha256,
			  "115438901f887201ae2820b4b950a5b193bfa241ce8465a34d22a5239e55f353");
		config_release(&cfg);
	}
	/* The text as submitted, not the merged config. */
	if (OK("{\"template\":\"base\"}")) {
		CHECK(strcmp(cfg.sha256, "115438901f887201ae2820b4b950a5b193bfa241ce8465a34d22a5239e55f353") != 0);
		CHECK(strlen(cfg.sha256) == 64);
		config_release(&cfg);
	}
	/* A short or missing err buffer is never overrun. */
	CHECK(config_parse("{\"comand\":1}", 12, NULL, NULL, &cfg, small,
			   sizeof(small)) == TFS_EINVAL);
	CHECK(strlen(small) == sizeof(small) - 1);
	CHECK(config_parse("{\"comand\":1}", 12, NULL, NULL, &cfg, NULL,
			   0) == TFS_EINVAL);
	CHECK(memcmp(&cfg, &zero_cfg, sizeof(cfg)) == 0);
}

/*
 * Mutations of a valid config: every outcome is TFS_OK or TFS_EINVAL with a
 * reason and a zeroed result; the sanitizers and valgrind watch the rest.
 */
static void test_mutations(void)
{
	static const char base[] =
		"{\"command\":[\"python3\",\"--lr={lr}\",\"{{x}}\"],"
		"\"params\":{\"lr\":0.01,\"n\":\"a\"},\"env\":{\"A\":\"b\"},"
		"\"resources\":{\"cpus\":2,\"memory_mb\":10},"
		"\"depends_on\":[\"p\",\"e/q\"],\"inputs\":{\"i\":\"e/q:f\"},"
		"\"template\":\"base\",\"tags\":{\"t\":\"v\"},\"priority\":1}";
	static const char bytes[] = "{}[]\":,\\u0 1e-.a/{}";
	char buf[sizeof(base)];
	unsigned seed = 12345;
	int i, k, rc, okc = 0, badc = 0, weird = 0;

	for (i = 0; i < 20000; i++) {
		memcpy(buf, base, sizeof(base));
		for (k = 0; k < 1 + i % 3; k++) {
			seed = seed * 1103515245 + 12345;
			buf[(seed >> 8) % (sizeof(base) - 1)] =
				bytes[(seed >> 20) % (sizeof(bytes) - 1)];
		}
		rc = parse_len(buf, sizeof(base) - 1);
		if (rc == TFS_OK) {
			okc++;
			config_release(&cfg);
		} else if (rc == TFS_EINVAL && err[0] &&
			   memcmp(&cfg, &zero_cfg, sizeof(cfg)) == 0) {
			badc++;
		} else {
			weird++;
		}
	}
	CHECK(weird == 0);
	CHECK(okc > 0 && badc > 0);
}

/* The "notify" key: notify.c's rules, reasons passed through as given. */
static void test_notify(void)
{
	const char *tpl_notify;

	if (OK("{\"command\":[\"x\"],\"notify\":{\"command\":"
	       "[\"notify-send\",\"done\"],\"webhook\":"
	       "\"https://hooks.example/x?t=1\",\"on\":[\"running\","
	       "\"stopped\"]}}")) {
		CHECK(cfg.has_notify == 1);
		CHECK_STR(cfg.notify.command[0], "notify-send");
		CHECK_STR(cfg.notify.command[1], "done");
		CHECK(cfg.notify.command[2] == NULL);
		CHECK_STR(cfg.notify.webhook, "https://hooks.example/x?t=1");
		CHECK(cfg.notify.on == ((1u << RS_RUNNING) | (1u << RS_STOPPED)));
		CHECK(strstr(cfg.merged_json, "\"notify\":{") != NULL);
		config_release(&cfg);
	}
	/* "on" defaults to completed and failed. */
	if (OK("{\"command\":[\"x\"],\"notify\":{\"webhook\":"
	       "\"http://127.0.0.1:8080/h\"}}")) {
		CHECK(cfg.has_notify == 1);
		CHECK(cfg.notify.command == NULL);
		CHECK(cfg.notify.on == ((1u << RS_COMPLETED) | (1u << RS_FAILED)));
		config_release(&cfg);
	}
	if (OK("{\"command\":[\"x\"]}")) {
		CHECK(cfg.has_notify == 0);
		CHECK(cfg.notify.command == NULL && cfg.notify.webhook == NULL);
		config_release(&cfg);
	}
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhok\":\"http://h/\"}}",
	    "unknown key 'notify.webhok'");
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhook\":\"http://h/\","
	    "\"on\":[\"completed\",\"finished\"]}}", "'notify.on[1]' must be one of");
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhook\":\"http://h/\","
	    "\"on\":\"completed\"}}", "'notify.on'");
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhook\":\"ftp://h/x\"}}",
	    "'notify.webhook' must be an http:// or https:// URL");
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhook\":\"file:///etc/passwd\"}}",
	    "'notify.webhook'");
	BAD("{\"command\":[\"x\"],\"notify\":{\"on\":[\"failed\"]}}",
	    "'notify' needs 'notify.command' or 'notify.webhook'");
	BAD("{\"command\":[\"x\"],\"notify\":{}}",
	    "'notify' needs 'notify.command' or 'notify.webhook'");
	BAD("{\"command\":[\"x\"],\"notify\":{\"command\":[]}}",
	    "'notify.command' must be a non-empty array of strings");
	BAD("{\"command\":[\"x\"],\"notify\":[\"x\"]}",
	    "'notify' must be an object");
	/* cJSON keeps both; config.c's duplicate check sees them first. */
	BAD("{\"command\":[\"x\"],\"notify\":{\"webhook\":\"http://h/\","
	    "\"webhook\":\"http://i/\"}}", "duplicate key 'notify.webhook'");

	/* A config's notify replaces the template's as a whole. */
	if (OK("{\"template\":\"notify\",\"notify\":{\"command\":[\"n\"]}}")) {
		CHECK(cfg.has_notify == 1);
		CHECK_STR(cfg.notify.command[0], "n");
		CHECK(cfg.notify.webhook == NULL);
		CHECK(cfg.notify.on == ((1u << RS_COMPLETED) | (1u << RS_FAILED)));
		CHECK(strstr(cfg.merged_json, "tpl.example") == NULL);
		config_release(&cfg);
	}
	/* Without one of its own the config takes the template's. */
	if (OK("{\"template\":\"notify\"}")) {
		CHECK(cfg.has_notify == 1);
		CHECK_STR(cfg.notify.webhook, "http://tpl.example/h");
		CHECK(cfg.notify.command == NULL);
		CHECK(cfg.notify.on == (1u << RS_FAILED));
		config_release(&cfg);
	}
	tpl_notify = "{\"notify\":{\"webhook\":\"https://h/x\"}}";
	CHECK(config_template_check(tpl_notify, strlen(tpl_notify), err,
				    sizeof(err)) == TFS_OK);
	tpl_notify = "{\"notify\":{\"webhook\":\"gopher://h/x\"}}";
	CHECK(config_template_check(tpl_notify, strlen(tpl_notify), err,
				    sizeof(err)) == TFS_EINVAL);
	CHECK(strstr(err, "'notify.webhook'") != NULL);
}

int main(void)
{
	test_defaults();
	test_full_example();
	test_substitution();
	test_numbers();
	test_json_errors();
	test_scan();
	test_keys();
	test_provider_kind();
	test_providers_budget();
	test_command();
	test_workdir_image();
	test_env();
	test_params();
	test_resources();
	test_ints();
	test_depends_inputs();
	test_tags();
	test_templates();
	test_notify();
	test_sha_and_err();
	test_mutations();
	return TEST_REPORT();
}
