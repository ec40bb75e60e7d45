/*
 * test_metrics.c - unit tests for core/metrics.c: the line forms jobs and
 * Hugging Face print, the ones that must not count as metrics, the bounds,
 * and a seeded fuzz run that must not crash under ASan. Every line is
 * handed over in a heap block of exactly its length, without a NUL, so
 * ASan catches a read past len.
 */
#include "metrics.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static int parse_n(const char *s, size_t len, struct metric_line *out)
{
	char *copy = malloc(len ? len : 1);
	int r;

	if (!copy)
		abort();
	memcpy(copy, s, len);
	r = metrics_parse_line(copy, len, out);
	free(copy);
	return r;
}

static int parse(const char *s, struct metric_line *out)
{
	return parse_n(s, strlen(s), out);
}

/* The value of key in m, or NAN when it is not reported. */
static double kv(const struct metric_line *m, const char *key)
{
	int i;

	for (i = 0; i < m->nkv; i++)
		if (strcmp(m->kv[i].key, key) == 0)
			return m->kv[i].value;
	return NAN;
}

static int has_kv(const struct metric_line *m, const char *key)
{
	int i;

	for (i = 0; i < m->nkv; i++)
		if (strcmp(m->kv[i].key, key) == 0)
			return 1;
	return 0;
}

static void test_huggingface(void)
{
	struct metric_line m;

	CHECK(parse("{'loss': 0.6931, 'learning_rate': 5e-05, 'epoch': 1.0}",
		    &m) == 1);
	CHECK(m.nkv == 2);
	CHECK_STR(m.kv[0].key, "loss");
	CHECK(m.kv[0].value == 0.6931);
	CHECK_STR(m.kv[1].key, "learning_rate");
	CHECK(m.kv[1].value == 5e-05);
	CHECK(!has_kv(&m, "epoch"));
	CHECK(m.has_step && m.step == 1.0);
	CHECK(!m.has_time);

	CHECK(parse("{'eval_loss': 0.5, 'eval_runtime': 1.2, 'epoch': 2.0}",
		    &m) == 1);
	CHECK(m.nkv == 2);
	CHECK(kv(&m, "eval_loss") == 0.5);
	CHECK(kv(&m, "eval_runtime") == 1.2);
	CHECK(!has_kv(&m, "epoch"));
	CHECK(m.has_step && m.step == 2.0);

	CHECK(parse("{'train_runtime': 12.3, 'train_samples_per_second': 40.1, "
		    "'train_steps_per_second': 5.0, 'train_loss': 0.4, "
		    "'epoch': 3.0}", &m) == 1);
	CHECK(m.nkv == 4);
	CHECK(kv(&m, "train_runtime") == 12.3);
	CHECK(kv(&m, "train_samples_per_second") == 40.1);
	CHECK(kv(&m, "train_steps_per_second") == 5.0);
	CHECK(kv(&m, "train_loss") == 0.4);
	CHECK(m.has_step && m.step == 3.0);

	/* Newer Trainers add grad_norm; a fractional epoch is still the step. */
	CHECK(parse("{'loss': 2.1, 'grad_norm': 1.234, 'learning_rate': "
		    "4.9e-05, 'epoch': 0.05}", &m) == 1);
	CHECK(m.nkv == 3 && m.step == 0.05);
}

static void test_json(void)
{
	struct metric_line m;

	CHECK(parse("{\"loss\": 0.5, \"step\": 10}", &m) == 1);
	CHECK(m.nkv == 1);
	CHECK(kv(&m, "loss") == 0.5);
	CHECK(m.has_step && m.step == 10);
	CHECK(!has_kv(&m, "step"));

	/* step over global_step over epoch, whatever the order in the line. */
	CHECK(parse("{\"step\": 10, \"global_step\": 12, \"epoch\": 0.5, "
		    "\"loss\": 1}", &m) == 1);
	CHECK(m.step == 10);
	CHECK(m.nkv == 2);
	CHECK_STR(m.kv[0].key, "epoch");
	CHECK(m.kv[0].value == 0.5);
	CHECK_STR(m.kv[1].key, "loss");
	CHECK(!has_kv(&m, "global_step") && !has_kv(&m, "step"));
	CHECK(parse("{\"loss\": 1, \"epoch\": 0.5, \"global_step\": 12, "
		    "\"step\": 10}", &m) == 1);
	CHECK(m.step == 10);
	CHECK_STR(m.kv[1].key, "epoch");
	CHECK(parse("{\"loss\": 1, \"epoch\": 0.5, \"global_step\": 12}",
		    &m) == 1);
	CHECK(m.step == 12 && kv(&m, "epoch") == 0.5 && m.nkv == 2);

	CHECK(parse("{\"loss\": 1, \"time\": 1700000000.25}", &m) == 1);
	CHECK(m.has_time && m.time == 1700000000.25 && !m.has_step);
	CHECK(m.nkv == 1);
	CHECK(parse("{\"loss\": 1, \"timestamp\": 5, \"time\": 6}", &m) == 1);
	CHECK(m.time == 6);

	/* Only step, time: nothing to report. */
	CHECK(parse("{\"step\": 3}", &m) == 0);
	CHECK(parse("{\"step\": 3, \"time\": 1.7e9, \"epoch\": 1}", &m) == 0);

	/* Number forms. */
	CHECK(parse("{\"a\": 1e+20, \"b\": -0.5, \"c\": 3, \"d\": 5E-05, "
		    "\"e\": 0, \"f\": -12.5e3}", &m) == 1);
	CHECK(m.nkv == 6);
	CHECK(kv(&m, "a") == 1e20 && kv(&m, "b") == -0.5 && kv(&m, "c") == 3);
	CHECK(kv(&m, "d") == 5e-05 && kv(&m, "e") == 0 && kv(&m, "f") == -12500);
	CHECK(parse("{\"a\": 1.}", &m) == 0);
	CHECK(parse("{\"a\": .5}", &m) == 0);
	CHECK(parse("{\"a\": 0x10}", &m) == 0);
	CHECK(parse("{\"a\": 1e}", &m) == 0);
	CHECK(parse("{\"a\": --1}", &m) == 0);
	CHECK(parse("{\"a\": 1_000}", &m) == 0);
	CHECK(parse("{\"a\": +1}", &m) == 0);
	CHECK(parse("{\"a\": 1 2}", &m) == 0);
	CHECK(parse("{\"a\": }", &m) == 0);
	CHECK(parse("{\"a\": nan(1)}", &m) == 0);
	CHECK(parse("{\"a\": tensor(0.5)}", &m) == 0);
	/* Overflow is an infinity, skipped; underflow is zero. */
	CHECK(parse("{\"a\": 1e999, \"b\": 1}", &m) == 1);
	CHECK(m.nkv == 1 && !has_kv(&m, "a"));
	CHECK(parse("{\"a\": 1e-999}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "a") == 0);
	/* A valid number too long to copy is skipped, the line kept. */
	CHECK(parse("{\"a\": 0.1234567890123456789012345678901234567890123456"
		    "789012345678901234567890, \"b\": 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "b") == 2);

	/* The last of a repeated key wins and keeps its first place. */
	CHECK(parse("{\"a\": 1, \"b\": 2, \"a\": 3}", &m) == 1);
	CHECK(m.nkv == 2 && m.kv[0].value == 3 && m.kv[1].value == 2);

	/* Keys outside [A-Za-z0-9_./-] are skipped. */
	CHECK(parse("{'eval loss': 1, 'a': 2, '': 3, 'b:c': 4, "
		    "'eval/acc-top.1': 5}", &m) == 1);
	CHECK(m.nkv == 2 && kv(&m, "a") == 2 && kv(&m, "eval/acc-top.1") == 5);
}

static void test_record(void)
{
	struct metric_line m;

	CHECK(parse("{\"step\":3,\"time\":1.7e9,\"key\":\"loss\",\"value\":0.5}",
		    &m) == 1);
	CHECK(m.nkv == 1);
	CHECK_STR(m.kv[0].key, "loss");
	CHECK(m.kv[0].value == 0.5);
	CHECK(m.has_step && m.step == 3);
	CHECK(m.has_time && m.time == 1.7e9);

	CHECK(parse("{\"value\": 2, \"key\": \"acc\"}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "acc") == 2 && !m.has_step && !m.has_time);
	CHECK(parse("{'key': 'acc', 'value': 2, 'epoch': 1}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "acc") == 2 && m.step == 1);
	/* Other numbers in a record are context, not metrics. */
	CHECK(parse("{\"key\": \"acc\", \"value\": 2, \"rank\": 0}", &m) == 1);
	CHECK(m.nkv == 1 && !has_kv(&m, "rank"));

	CHECK(parse("{\"key\":\"loss\",\"value\":NaN}", &m) == 0);
	CHECK(parse("{\"key\":\"loss\",\"value\":true}", &m) == 0);
	CHECK(parse("{\"key\":\"loss\",\"step\":1}", &m) == 0);
	CHECK(parse("{\"key\":\"eval loss\",\"value\":1}", &m) == 0);
	CHECK(parse("{\"key\":\"\",\"value\":1}", &m) == 0);
	CHECK(parse("{\"key\":\"loss\",\"value\":\"0.5\"}", &m) == 0);
	CHECK(parse("{\"key\":\"loss\",\"value\":1,\"split\":\"train\"}",
		    &m) == 0);
	/* A numeric "key" and a lone "value" are just metrics. */
	CHECK(parse("{\"key\": 1, \"value\": 2}", &m) == 1);
	CHECK(m.nkv == 2 && kv(&m, "key") == 1 && kv(&m, "value") == 2);
}

static void test_skipped_values(void)
{
	struct metric_line m;

	CHECK(parse("{'loss': nan, 'acc': 0.5, 'x': inf, 'y': -inf, 'z': NaN, "
		    "'w': Infinity, 'v': -Infinity}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "acc") == 0.5);
	CHECK(parse("{'loss': nan}", &m) == 0);
	CHECK(parse("{'epoch': nan, 'loss': 1}", &m) == 1);
	CHECK(!m.has_step);

	CHECK(parse("{\"loss\": 1, \"done\": true, \"ok\": False, \"n\": null, "
		    "\"m\": None, \"t\": True, \"f\": false}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 1);
	CHECK(parse("{\"done\": true}", &m) == 0);
	/* Python's words are case-sensitive: a bare word is not a value. */
	CHECK(parse("{\"done\": TRUE}", &m) == 0);
	CHECK(parse("{\"done\": yes}", &m) == 0);
}

static void test_not_metrics(void)
{
	struct metric_line m;

	CHECK(parse("{\"loss\": {\"a\": 1}}", &m) == 0);
	CHECK(parse("{\"loss\": [1, 2]}", &m) == 0);
	CHECK(parse("{\"a\": 1, \"cfg\": {}}", &m) == 0);
	CHECK(parse("{\"loss\": 0.5, \"split\": \"train\"}", &m) == 0);
	CHECK(parse("{'loss': 0.5, 'name': 'x'}", &m) == 0);
	CHECK(parse("{'eval loss': 'x', 'a': 1}", &m) == 0);

	CHECK(parse("loss 0.5 at step 10", &m) == 0);
	CHECK(parse("", &m) == 0);
	CHECK(parse("   \r\n", &m) == 0);
	CHECK(parse("}", &m) == 0);
	CHECK(parse("{", &m) == 0);
	CHECK(parse("{}", &m) == 0);
	CHECK(parse("{ \t}", &m) == 0);
	CHECK(parse("{}}", &m) == 0);

	CHECK(parse("Epoch 1: {'loss': 1}", &m) == 0);
	CHECK(parse("INFO {\"loss\": 1}", &m) == 0);
	CHECK(parse("{'loss': 1} x", &m) == 0);
	CHECK(parse("{'loss': 1}}", &m) == 0);
	CHECK(parse("{'loss': 1},", &m) == 0);
	CHECK(parse("{'loss': 1} {'acc': 2}", &m) == 0);
	CHECK(parse("{'loss': 1,}", &m) == 0);
	CHECK(parse("{'loss' 1}", &m) == 0);
	CHECK(parse("{loss: 1}", &m) == 0);
	CHECK(parse("{'loss': 1 'acc': 2}", &m) == 0);
	CHECK(parse("{,'loss': 1}", &m) == 0);
	CHECK(parse("{'loss':: 1}", &m) == 0);
	CHECK(parse("[{'loss': 1}]", &m) == 0);
	CHECK(parse_n("{'loss': 1}\0", 12, &m) == 0);
	CHECK(parse_n("{'lo\0ss': 1, 'a': 2}", 20, &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "a") == 2);
}

static void test_whitespace(void)
{
	struct metric_line m;

	CHECK(parse("  {'loss' :1 ,\t'acc':2 }  \r", &m) == 1);
	CHECK(m.nkv == 2 && kv(&m, "acc") == 2);
	CHECK(parse("{'loss': 1}\r\n", &m) == 1);
	CHECK(parse("\t{\r\n\"loss\"\n:\r1\n}\n", &m) == 1);
	CHECK(m.nkv == 1);
	/* tqdm's redraws before the dict that tqdm.write() printed. */
	CHECK(parse("  0%|          | 0/10 [00:00<?, ?it/s]\r 10%|#         | "
		    "1/10 [00:01<00:09]\r                              \r"
		    "{'loss': 0.5, 'epoch': 0.1}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 0.5 && m.step == 0.1);
	CHECK(parse("{'loss': 0.5}\r 20%|##", &m) == 0);
	CHECK(parse("Epoch 1:\r{'loss': 1}", &m) == 1);
	CHECK(parse("{'a': 1}\r{'b': 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "b") == 2);
	CHECK(parse("{'a':\r'x'}", &m) == 0);
	/* The text is not NUL-terminated: len is the end. */
	CHECK(parse_n("{'loss': 1}XYZ", 11, &m) == 1);
	CHECK(parse_n("{'loss': 1}XYZ", 10, &m) == 0);
}

static void test_keys(void)
{
	struct metric_line m;
	char line[256];
	char k63[64], k64[65];

	CHECK(parse("{\"a\\\"b\": 1, \"loss\": 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 2);
	CHECK(parse("{'it\\'s': 1, 'loss': 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 2);
	CHECK(parse("{\"x\\\\\": 1, \"y\": 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "y") == 2);
	/* Python's repr double-quotes a key holding a '. */
	CHECK(parse("{\"it's\": 1, 'loss': 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 2);
	CHECK(parse("{\"train\\/loss\": 1}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "train/loss") == 1);
	CHECK(parse("{\"\\u006c\\u006Fss\": 1}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 1);
	CHECK(parse("{'\\x6coss': 1}", &m) == 1);
	CHECK(kv(&m, "loss") == 1);
	CHECK(parse("{\"\\u00e9\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "a") == 2);
	CHECK(parse("{\"\\u12\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1);
	CHECK(parse("{\"\\u0000\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1);
	CHECK(parse("{\"a\\nb\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1);
	CHECK(parse("{\"caf\xc3\xa9\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1);
	/* An escape decoding to a quote does not end the string. */
	CHECK(parse("{\"\\u0022\": 1, \"a\": 2}", &m) == 1);
	CHECK(m.nkv == 1);
	CHECK(parse("{'\\\"': 1}", &m) == 0);

	memset(k63, 'k', 63);
	k63[63] = '\0';
	memset(k64, 'k', 64);
	k64[64] = '\0';
	snprintf(line, sizeof(line), "{'%s': 1, 'a': 2}", k64);
	CHECK(parse(line, &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "a") == 2);
	snprintf(line, sizeof(line), "{'%s': 1, 'a': 2}", k63);
	CHECK(parse(line, &m) == 1);
	CHECK(m.nkv == 2 && kv(&m, k63) == 1);
	snprintf(line, sizeof(line), "{'%s': 1}", k64);
	CHECK(parse(line, &m) == 0);
	/* A long record name is not truncated into a different one. */
	snprintf(line, sizeof(line), "{'key': '%s', 'value': 1}", k64);
	CHECK(parse(line, &m) == 0);

	/* Unterminated strings. */
	CHECK(parse("{\"loss: 1}", &m) == 0);
	CHECK(parse("{'loss': 1, 'a}", &m) == 0);
	CHECK(parse("{\"a\\\"}", &m) == 0);
	CHECK(parse("{\"a\\", &m) == 0);
	CHECK(parse("{\"key\": \"loss}", &m) == 0);
	CHECK(parse("{'loss\": 1}", &m) == 0);
}

static void test_many_pairs(void)
{
	static char line[8192];
	struct metric_line m;
	size_t n;
	int i, ok;

	n = (size_t)snprintf(line, sizeof(line), "{");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, "%s'k%d': %d",
				      i ? ", " : "", i, i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "}");
	memset(&m, 0xa5, sizeof(m));
	CHECK(parse_n(line, n, &m) == 1);
	CHECK(m.nkv == METRIC_LINE_MAX_KV);
	ok = 1;
	for (i = 0; i < METRIC_LINE_MAX_KV; i++) {
		char key[16];

		snprintf(key, sizeof(key), "k%d", i);
		if (strcmp(m.kv[i].key, key) != 0 || m.kv[i].value != i)
			ok = 0;
	}
	CHECK(ok);
	CHECK(!has_kv(&m, "k64") && !has_kv(&m, "k99"));

	/* "epoch" keeps its place among the first 64... */
	n = (size_t)snprintf(line, sizeof(line), "{'step': 1, 'epoch': 2");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 'k%d': %d",
				      i, i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, "}");
	CHECK(parse_n(line, n, &m) == 1);
	CHECK(m.nkv == METRIC_LINE_MAX_KV);
	CHECK_STR(m.kv[0].key, "epoch");
	CHECK_STR(m.kv[METRIC_LINE_MAX_KV - 1].key, "k62");
	CHECK(m.step == 1);

	/* ...and is left out when it comes after them. */
	n = (size_t)snprintf(line, sizeof(line), "{'step': 1");
	for (i = 0; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 'k%d': %d",
				      i, i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ", 'epoch': 2}");
	CHECK(parse_n(line, n, &m) == 1);
	CHECK(m.nkv == METRIC_LINE_MAX_KV && !has_kv(&m, "epoch"));
	CHECK_STR(m.kv[METRIC_LINE_MAX_KV - 1].key, "k63");

	/* A repeated key still updates when the list is full. */
	n = (size_t)snprintf(line, sizeof(line), "{'k0': 0");
	for (i = 1; i < 100; i++)
		n += (size_t)snprintf(line + n, sizeof(line) - n, ", 'k%d': %d",
				      i, i);
	n += (size_t)snprintf(line + n, sizeof(line) - n, ", 'k0': 7}");
	CHECK(parse_n(line, n, &m) == 1);
	CHECK(m.kv[0].value == 7 && m.nkv == METRIC_LINE_MAX_KV);
}

static void test_long_lines(void)
{
	struct metric_line m;
	size_t n = 70000;
	char *line = malloc(n);

	if (!line)
		abort();
	/* A valid object padded with blanks inside: too long all the same. */
	memset(line, ' ', n);
	memcpy(line, "{'loss': 1", 10);
	line[n - 1] = '}';
	CHECK(metrics_parse_line(line, n, &m) == 0);
	CHECK(metrics_parse_line(line + (n - METRIC_LINE_MAX - 1),
				 METRIC_LINE_MAX + 1, &m) == 0);
	memcpy(line + (n - METRIC_LINE_MAX), "{'loss': 1", 10);
	CHECK(metrics_parse_line(line + (n - METRIC_LINE_MAX), METRIC_LINE_MAX,
				 &m) == 1);
	CHECK(m.nkv == 1 && kv(&m, "loss") == 1);
	/* 70,000 bytes of text ending in a brace. */
	memset(line, 'x', n);
	line[n - 1] = '}';
	CHECK(metrics_parse_line(line, n, &m) == 0);
	CHECK(metrics_parse_line(line, METRIC_LINE_MAX, &m) == 0);
	/* A string key running the whole line long. */
	line[0] = '{';
	line[1] = '"';
	CHECK(metrics_parse_line(line, METRIC_LINE_MAX, &m) == 0);
	free(line);
}

static void test_format(void)
{
	char out[32];

	metrics_format_value(0.42, out);
	CHECK_STR(out, "0.42");
	metrics_format_value(5e-05, out);
	CHECK_STR(out, "5e-05");
	metrics_format_value(3, out);
	CHECK_STR(out, "3");
	metrics_format_value(3.0, out);
	CHECK_STR(out, "3");
	metrics_format_value(0.1, out);
	CHECK_STR(out, "0.1");
	metrics_format_value(-0.5, out);
	CHECK_STR(out, "-0.5");
	metrics_format_value(1e20, out);
	CHECK_STR(out, "1e+20");
	metrics_format_value(123456789012.0, out);
	CHECK_STR(out, "123456789012");
	metrics_format_value(0.1 + 0.2, out);
	CHECK_STR(out, "0.30000000000000004");
	metrics_format_value(1.0 / 3, out);
	CHECK_STR(out, "0.3333333333333333");
	metrics_format_value(0.6931, out);
	CHECK_STR(out, "0.6931");
	metrics_format_value(NAN, out);
	CHECK_STR(out, "nan");
	metrics_format_value(INFINITY, out);
	CHECK_STR(out, "inf");
	metrics_format_value(-INFINITY, out);
	CHECK_STR(out, "-inf");
	metrics_format_value(-1.7976931348623157e308, out);
	CHECK_STR(out, "-1.7976931348623157e+308");
	metrics_format_value(4.9406564584124654e-324, out);
	CHECK_STR(out, "4.94065645841247e-324");
}

static int key_valid(const char *k)
{
	size_t i, n = strnlen(k, METRIC_KEY_MAX);

	if (n == 0 || n >= METRIC_KEY_MAX)
		return 0;
	for (i = 0; i < n; i++)
		if (!strchr("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			    "0123456789_./-", k[i]))
			return 0;
	return 1;
}

/* Whatever the input, a "yes" must hold only what the header promises. */
static int result_sane(const struct metric_line *m)
{
	int i;

	if (m->nkv < 1 || m->nkv > METRIC_LINE_MAX_KV)
		return 0;
	for (i = 0; i < m->nkv; i++)
		if (!key_valid(m->kv[i].key) || !isfinite(m->kv[i].value))
			return 0;
	if (m->has_step && !isfinite(m->step))
		return 0;
	if (m->has_time && !isfinite(m->time))
		return 0;
	return 1;
}

static void test_fuzz(void)
{
	static const char *const seeds[] = {
		"{'loss': 0.6931, 'learning_rate': 5e-05, 'epoch': 1.0}",
		"{\"step\":3,\"time\":1.7e9,\"key\":\"loss\",\"value\":0.5}",
		"{\"a\\\"b\": 1, 'c\\'d': -2e-3, \"e\": nan, \"f\": True}",
		"{\"\\u006c\": -Infinity, 'x': None, \"y\": [1], \"z\": {}}",
		"  \r{'train_runtime': 12.3, 'epoch': 3.0}  \r\n",
	};
	static const char alphabet[] =
		"{}[]'\"\\:,. -+eE0123456789nafilsuNITrFtxk_/\r\t\n";
	enum { NLINES = 100000, MAXLEN = 300 };
	struct metric_line m;
	char buf[MAXLEN];
	int i, j, yes = 0, sane = 1, fmt_ok = 1;
	size_t n, slen;

	srand(20240607);
	for (i = 0; i < NLINES; i++) {
		int mode = rand() % 4;
		char *line;

		if (mode == 0) {
			/* Random text over the grammar's own bytes. */
			n = (size_t)(rand() % MAXLEN);
			for (j = 0; j < (int)n; j++)
				buf[j] = alphabet[rand() %
						  (sizeof(alphabet) - 1)];
			if (n > 1 && rand() % 2) {
				buf[0] = '{';
				buf[n - 1] = '}';
			}
		} else if (mode == 1) {
			n = (size_t)(rand() % MAXLEN);
			for (j = 0; j < (int)n; j++)
				buf[j] = (char)(rand() & 0xff);
		} else {
			/* A seed with a few bytes changed, added, cut. */
			const char *s = seeds[rand() % 5];
			int k, edits = 1 + rand() % 4;

			slen = strlen(s);
			memcpy(buf, s, slen);
			n = slen;
			for (k = 0; k < edits; k++) {
				size_t at = n ? (size_t)rand() % n : 0;
				char c = rand() % 3 ? alphabet[rand() %
					(sizeof(alphabet) - 1)] :
					(char)(rand() & 0xff);

				switch (rand() % 4) {
				case 0:
					if (n)
						buf[at] = c;
					break;
				case 1:
					if (n < MAXLEN) {
						memmove(buf + at + 1, buf + at,
							n - at);
						buf[at] = c;
						n++;
					}
					break;
				case 2:
					if (n) {
						memmove(buf + at, buf + at + 1,
							n - at - 1);
						n--;
					}
					break;
				default:
					n = at;
					break;
				}
			}
		}
		line = malloc(n ? n : 1);
		if (!line)
			abort();
		memcpy(line, buf, n);
		if (metrics_parse_line(line, n, &m)) {
			yes++;
			if (!result_sane(&m))
				sane = 0;
		}
		free(line);
	}
	CHECK(sane);
	/* The mutations must reach the "yes" paths, or the run proves little. */
	CHECK(yes > 1000);

	/* Any double's text reads back as that double and fits. */
	for (i = 0; i < NLINES; i++) {
		uint64_t bits = 0;
		double d;
		char out[32];

		for (j = 0; j < 4; j++)
			bits = bits << 16 | (uint64_t)(rand() & 0xffff);
		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		metrics_format_value(d, out);
		if (strtod(out, NULL) != d || strlen(out) > 24)
			fmt_ok = 0;
	}
	CHECK(fmt_ok);
}

int main(void)
{
	test_huggingface();
	test_json();
	test_record();
	test_skipped_values();
	test_not_metrics();
	test_whitespace();
	test_keys();
	test_many_pairs();
	test_long_lines();
	test_format();
	test_fuzz();
	return TEST_REPORT();
}
