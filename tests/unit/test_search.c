/*
 * test_search.c - unit tests for core/search.c: the space's refusals and
 * their reasons, the grid covering its product exactly once, random draws
 * that are reproducible, in range, on their step and log-uniform, and TPE:
 * reproducible, concentrating near a quadratic's optimum much more than
 * random does, not taking failed trials for good ones, its constant liar,
 * categorical and int parameters, and maximisation.
 */
#include "err.h"
#include "search.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>

static struct search_space *space(const char *json)
{
	struct search_space *s = NULL;
	char why[256] = "";
	cJSON *j = cJSON_Parse(json);
	int rc;

	if (!j)
		abort();
	rc = search_space_parse(j, &s, why, sizeof(why));
	cJSON_Delete(j);
	if (rc)
		fprintf(stderr, "space %s: %s\n", json, why);
	return s;
}

/* The reason search_space_parse() gives for json, "" when it accepts it. */
static const char *refusal(const char *json)
{
	static char why[256];
	struct search_space *s = NULL;
	cJSON *j = cJSON_Parse(json);
	int rc;

	if (!j)
		abort();
	why[0] = 0;
	rc = search_space_parse(j, &s, why, sizeof(why));
	cJSON_Delete(j);
	if (rc == TFS_OK) {
		search_space_free(s);
		return "";
	}
	return rc == TFS_EINVAL && s == NULL ? why : "(wrong error)";
}

/* Params as compact JSON text, into a buffer of the caller's. */
static void text(const cJSON *p, char *out, size_t outlen)
{
	char *t = p ? cJSON_PrintUnformatted(p) : NULL;

	snprintf(out, outlen, "%s", t ? t : "(null)");
	free(t);
}

static double num(const cJSON *p, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

static void test_refusals(void)
{
	static const struct {
		const char *json, *why;
	} cases[] = {
		{ "[]", "space must be an object of parameters" },
		{ "{}", "space has no parameters" },
		{ "{\"9lr\": {\"uniform\": [0, 1]}}",
		  "space: parameter name '9lr' must be [A-Za-z_][A-Za-z0-9_]{0,63}" },
		{ "{\"a-b\": {\"uniform\": [0, 1]}}",
		  "space: parameter name 'a-b' must be [A-Za-z_][A-Za-z0-9_]{0,63}" },
		{ "{\"lr\": {\"uniform\": [0, 1]}, \"lr\": {\"uniform\": [0, 1]}}",
		  "space.lr: given twice" },
		{ "{\"lr\": 0.1}",
		  "space.lr: must be an object such as {\"uniform\": [0, 1]}" },
		{ "{\"lr\": {}}",
		  "space.lr: needs one of choice, grid, uniform, loguniform, int" },
		{ "{\"lr\": {\"normal\": [0, 1]}}", "space.lr: unknown key 'normal'" },
		{ "{\"lr\": {\"uniform\": [0, 1], \"int\": [0, 1]}}",
		  "space.lr: give one of choice, grid, uniform, loguniform, int, not two" },
		{ "{\"lr\": {\"loguniform\": [0, 1]}}",
		  "space.lr: loguniform needs 0 < a < b" },
		{ "{\"lr\": {\"loguniform\": [0.1, 0.1]}}",
		  "space.lr: loguniform needs 0 < a < b" },
		{ "{\"lr\": {\"uniform\": [2, 1]}}", "space.lr: uniform needs a <= b" },
		{ "{\"lr\": {\"uniform\": [0]}}",
		  "space.lr: uniform needs [a, b], two numbers" },
		{ "{\"lr\": {\"uniform\": [0, \"1\"]}}",
		  "space.lr: uniform needs [a, b], two numbers" },
		{ "{\"lr\": {\"uniform\": [0, 1e999]}}",
		  "space.lr: uniform needs [a, b], two numbers" },
		{ "{\"n\": {\"int\": [1.5, 4]}}",
		  "space.n: int needs integers a and b within +-2^53" },
		{ "{\"n\": {\"int\": [0, 1e17]}}",
		  "space.n: int needs integers a and b within +-2^53" },
		{ "{\"n\": {\"int\": [5, 4]}}", "space.n: int needs a <= b" },
		{ "{\"n\": {\"int\": [1, 4], \"step\": 0.5}}",
		  "space.n: step must be a positive integer" },
		{ "{\"n\": {\"int\": [1, 4], \"step\": 0}}",
		  "space.n: step must be a positive integer" },
		{ "{\"lr\": {\"uniform\": [0, 1], \"step\": -1}}",
		  "space.lr: step must be a positive number" },
		{ "{\"lr\": {\"uniform\": [0, 1], \"step\": \"0.1\"}}",
		  "space.lr: step must be a positive number" },
		{ "{\"lr\": {\"uniform\": [0, 1], \"step\": 1e-300}}",
		  "space.lr: more than 10^15 steps in the range" },
		{ "{\"lr\": {\"loguniform\": [0.1, 1], \"step\": 0.1}}",
		  "space.lr: step goes with uniform or int only" },
		{ "{\"opt\": {\"choice\": [\"adam\"], \"step\": 1}}",
		  "space.opt: step goes with uniform or int only" },
		{ "{\"lr\": {\"uniform\": [0, 1], \"step\": 0.1, \"step\": 0.2}}",
		  "space.lr: step given twice" },
		{ "{\"opt\": {\"choice\": []}}", "space.opt: choice is empty" },
		{ "{\"opt\": {\"grid\": \"adam\"}}",
		  "space.opt: grid must be a list of values" },
		{ "{\"opt\": {\"choice\": [\"adam\", null]}}",
		  "space.opt: choice values must be numbers, strings or booleans" },
		{ "{\"opt\": {\"choice\": [[1]]}}",
		  "space.opt: choice values must be numbers, strings or booleans" },
		{ "{\"opt\": {\"grid\": [1, 2, 1]}}",
		  "space.opt: grid has a repeated value" },
	};
	char big[16384], *p;
	size_t i;
	int k;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(refusal(cases[i].json), cases[i].why);

	/* the bounds: values per list, parameters, a string's bytes */
	p = big + sprintf(big, "{\"x\": {\"choice\": [");
	for (k = 0; k <= SEARCH_VALUES_MAX; k++)
		p += sprintf(p, "%s%d", k ? "," : "", k);
	sprintf(p, "]}}");
	CHECK_STR(refusal(big), "space.x: choice has more than 1000 values");
	p = big + sprintf(big, "{");
	for (k = 0; k <= SEARCH_PARAMS_MAX; k++)
		p += sprintf(p, "%s\"p%d\": {\"uniform\": [0, 1]}", k ? "," : "", k);
	sprintf(p, "}");
	CHECK_STR(refusal(big), "space has more than 64 parameters");
	p = big + sprintf(big, "{\"s\": {\"choice\": [\"");
	memset(p, 'a', SEARCH_STRING_MAX + 1);
	sprintf(p + SEARCH_STRING_MAX + 1, "\"]}}");
	CHECK_STR(refusal(big), "space.s: choice strings must be at most 1024 bytes");
	p = big + sprintf(big, "{\"");
	memset(p, 'a', SEARCH_NAME_MAX + 1);
	sprintf(p + SEARCH_NAME_MAX + 1, "\": {\"uniform\": [0, 1]}}");
	CHECK(strncmp(refusal(big), "space: parameter name", 21) == 0);
	/* and what is accepted at the edges */
	p = big + sprintf(big, "{\"");
	memset(p, 'a', SEARCH_NAME_MAX);
	sprintf(p + SEARCH_NAME_MAX, "\": {\"uniform\": [1, 1]}, "
		"\"_n2\": {\"int\": [-9007199254740992, 9007199254740992]}, "
		"\"c\": {\"choice\": [1, \"1\", true, false, 1.5]}}");
	CHECK_STR(refusal(big), "");
	/* a control byte in a name is not quoted as is */
	CHECK_STR(refusal("{\"a\\nb\": {\"uniform\": [0, 1]}}"),
		  "space: parameter name 'a?b' must be [A-Za-z_][A-Za-z0-9_]{0,63}");
}

static void test_methods(void)
{
	enum search_method m = SEARCH_GRID;

	CHECK(search_method_parse("random", &m) == 0 && m == SEARCH_RANDOM);
	CHECK(search_method_parse("tpe", &m) == 0 && m == SEARCH_TPE);
	CHECK(search_method_parse("grid", &m) == 0 && m == SEARCH_GRID);
	CHECK(search_method_parse("TPE", &m) == -1 && m == SEARCH_GRID);
	CHECK(search_method_parse("", &m) == -1);
	CHECK(search_method_parse(NULL, &m) == -1);
	CHECK_STR(search_method_name(SEARCH_TPE), "tpe");
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void test_grid(void)
{
	static const char *const opts[] = { "\"adam\"", "\"sgd\"" };
	static const char *const bss[] = { "16", "32", "48", "64" };
	static const char *const lrs[] = { "0.1", "0.2", "0.3" };
	static const char *const flags[] = { "true", "false" };
	struct search_space *s = space(
		"{\"opt\": {\"grid\": [\"adam\", \"sgd\"]},"
		" \"bs\": {\"int\": [16, 70], \"step\": 16},"
		" \"lr\": {\"uniform\": [0.1, 0.3], \"step\": 0.1},"
		" \"flag\": {\"choice\": [true, false]}}");
	char *got[48], *want[48], buf[256], why[128];
	uint64_t n = 0;
	int i, a, b, c, d, same = 1, dup = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(search_space_count(s) == 4);
	CHECK_STR(search_space_name(s, 2), "lr");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_OK);
	CHECK(n == 48);
	i = 0;
	for (a = 0; a < 2; a++)
		for (b = 0; b < 4; b++)
			for (c = 0; c < 3; c++)
				for (d = 0; d < 2; d++) {
					snprintf(buf, sizeof(buf), "{\"opt\":%s,\"bs\":%s,"
						 "\"lr\":%s,\"flag\":%s}", opts[a],
						 bss[b], lrs[c], flags[d]);
					want[i++] = strdup(buf);
				}
	for (i = 0; i < 48; i++) {
		cJSON *p = search_suggest(s, SEARCH_GRID, 7, (uint64_t)i, NULL, 0, 1);

		text(p, buf, sizeof(buf));
		got[i] = strdup(buf);
		cJSON_Delete(p);
	}
	/* in the documented order: the last parameter fastest */
	CHECK_STR(got[0], want[0]);
	CHECK_STR(got[1], want[1]);
	CHECK_STR(got[47], want[47]);
	qsort(got, 48, sizeof(*got), cmp_str);
	qsort(want, 48, sizeof(*want), cmp_str);
	for (i = 0; i < 48; i++) {
		same &= strcmp(got[i], want[i]) == 0;
		dup += i > 0 && strcmp(got[i], got[i - 1]) == 0;
	}
	CHECK(same);
	CHECK(dup == 0);
	for (i = 0; i < 48; i++) {
		free(got[i]);
		free(want[i]);
	}
	CHECK(search_suggest(s, SEARCH_GRID, 7, 48, NULL, 0, 1) == NULL);
	search_space_free(s);

	s = space("{\"a\": {\"choice\": [1, 2]}, \"lr\": {\"uniform\": [0, 1]}}");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_EINVAL);
	CHECK_STR(why, "space.lr: uniform without step cannot be a grid");
	CHECK(search_suggest(s, SEARCH_GRID, 7, 0, NULL, 0, 1) == NULL);
	search_space_free(s);
	s = space("{\"lr\": {\"loguniform\": [0.001, 1]}}");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_EINVAL);
	CHECK_STR(why, "space.lr: loguniform cannot be a grid");
	search_space_free(s);
	s = space("{\"a\": {\"int\": [1, 1000]}, \"b\": {\"int\": [1, 1000]},"
		  " \"c\": {\"int\": [1, 2]}}");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_EINVAL);
	CHECK_STR(why, "space: the grid has more than 1000000 points");
	search_space_free(s);
	s = space("{\"a\": {\"int\": [0, 1e15]}}");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_EINVAL);
	CHECK_STR(why, "space: the grid has more than 1000000 points");
	search_space_free(s);
	/* [0, 1] by 0.1: eleven values, the last exactly 1 */
	s = space("{\"lr\": {\"uniform\": [0, 1], \"step\": 0.1}}");
	CHECK(search_grid_size(s, &n, why, sizeof(why)) == TFS_OK && n == 11);
	if (n == 11) {
		cJSON *p = search_suggest(s, SEARCH_GRID, 0, 10, NULL, 0, 1);

		CHECK(num(p, "lr") == 1.0);
		cJSON_Delete(p);
		p = search_suggest(s, SEARCH_GRID, 0, 3, NULL, 0, 1);
		text(p, buf, sizeof(buf));
		CHECK_STR(buf, "{\"lr\":0.3}");
		cJSON_Delete(p);
	}
	search_space_free(s);
}

static const char *const mixed =
	"{\"opt\": {\"choice\": [\"adam\", \"sgd\", \"lion\"]},"
	" \"n\": {\"int\": [3, 20], \"step\": 4},"
	" \"m\": {\"int\": [-2, 2]},"
	" \"q\": {\"uniform\": [0, 1], \"step\": 0.25},"
	" \"x\": {\"uniform\": [-2, 5]},"
	" \"lr\": {\"loguniform\": [1e-05, 0.1]}}";

static void test_random(void)
{
	struct search_space *s = space(mixed);
	char a[512], b[512];
	int i, same = 1, differ = 0, differ_n = 0, inrange = 1, onstep = 1;
	int seen_n[5] = { 0 }, seen_q[5] = { 0 }, seen_opt[3] = { 0 }, all = 1;
	struct search_obs ob;

	CHECK(s != NULL);
	if (!s)
		return;
	for (i = 0; i < 200; i++) {
		cJSON *p = search_suggest(s, SEARCH_RANDOM, 42, (uint64_t)i, NULL, 0, 1);
		cJSON *q = search_suggest(s, SEARCH_RANDOM, 42, (uint64_t)i, NULL, 0, 1);
		cJSON *r = search_suggest(s, SEARCH_RANDOM, 43, (uint64_t)i, NULL, 0, 1);
		cJSON *o = search_suggest(s, SEARCH_RANDOM, 42, (uint64_t)i + 1,
					  NULL, 0, 1);
		const cJSON *opt = cJSON_GetObjectItem(p, "opt");
		double n = num(p, "n"), m = num(p, "m"), qv = num(p, "q");
		double x = num(p, "x"), lr = num(p, "lr");

		text(p, a, sizeof(a));
		text(q, b, sizeof(b));
		same &= strcmp(a, b) == 0;
		text(r, b, sizeof(b));
		differ += strcmp(a, b) != 0;
		text(o, b, sizeof(b));
		differ_n += strcmp(a, b) != 0;
		inrange &= n >= 3 && n <= 20 && m >= -2 && m <= 2 && qv >= 0 &&
			qv <= 1 && x >= -2 && x <= 5 && lr >= 1e-5 && lr <= 0.1;
		onstep &= fmod(n - 3, 4) == 0 && m == floor(m) && qv * 4 == floor(qv * 4);
		if (n >= 3 && n <= 19)
			seen_n[(int)(n - 3) / 4]++;
		if (qv >= 0 && qv <= 1)
			seen_q[(int)(qv * 4)]++;
		if (cJSON_IsString(opt))
			seen_opt[opt->valuestring[0] == 'a' ? 0 :
				 opt->valuestring[0] == 's' ? 1 : 2]++;
		else
			all = 0;
		cJSON_Delete(p);
		cJSON_Delete(q);
		cJSON_Delete(r);
		cJSON_Delete(o);
	}
	CHECK(same);
	CHECK(differ == 200);
	CHECK(differ_n == 200);
	CHECK(inrange);
	CHECK(onstep);
	CHECK(all);
	for (i = 0; i < 5; i++)
		CHECK(seen_n[i] > 10 && seen_q[i] > 10);
	for (i = 0; i < 3; i++)
		CHECK(seen_opt[i] > 30);
	/* floats read back from their text are the same doubles, at any scale */
	{
		struct search_space *t = space("{\"a\": {\"loguniform\": [1e-30, 1e-20]},"
			" \"b\": {\"loguniform\": [1e20, 1e30]}, \"c\": {\"uniform\": [0, 1]}}");
		int exact = 1;

		for (i = 0; i < 100; i++) {
			cJSON *p = search_suggest(t, SEARCH_RANDOM, 1, (uint64_t)i,
						  NULL, 0, 1), *q;

			text(p, a, sizeof(a));
			q = cJSON_Parse(a);
			exact &= num(p, "a") == num(q, "a") && num(p, "b") == num(q, "b") &&
				num(p, "c") == num(q, "c") && num(p, "a") >= 1e-30 &&
				num(p, "b") <= 1e30;
			cJSON_Delete(p);
			cJSON_Delete(q);
		}
		CHECK(exact);
		search_space_free(t);
	}
	/* trial n of a random sweep does not depend on the others */
	{
		cJSON *p = search_suggest(s, SEARCH_RANDOM, 5, 17, NULL, 0, 1), *q;

		ob.params = p;
		ob.value = 1;
		ob.state = SEARCH_DONE;
		q = search_suggest(s, SEARCH_RANDOM, 5, 17, &ob, 1, 0);
		text(p, a, sizeof(a));
		text(q, b, sizeof(b));
		CHECK_STR(a, b);
		cJSON_Delete(p);
		cJSON_Delete(q);
	}
	search_space_free(s);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* log10 of loguniform draws on [1e-4, 1]: uniform on [-4, 0]. */
static void test_loguniform(void)
{
	struct search_space *s = space("{\"lr\": {\"loguniform\": [0.0001, 1]}}");
	enum { N = 20000 };
	static double v[N];
	int i, decade[4] = { 0 }, bad = 0;
	double mean = 0, d, ks = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	for (i = 0; i < N; i++) {
		cJSON *p = search_suggest(s, SEARCH_RANDOM, 2026, (uint64_t)i,
					  NULL, 0, 1);

		v[i] = log10(num(p, "lr"));
		cJSON_Delete(p);
		if (!(v[i] >= -4 && v[i] <= 0)) {
			bad++;
			continue;
		}
		decade[v[i] >= 0 ? 3 : (int)floor(v[i]) + 4]++;
		mean += v[i] / N;
	}
	CHECK(bad == 0);
	for (i = 0; i < 4; i++)
		CHECK(fabs(decade[i] / (double)N - 0.25) < 0.02);
	CHECK(fabs(mean + 2) < 0.05);
	/* Kolmogorov-Smirnov distance to uniform on [-4, 0] (5%: 0.0096) */
	qsort(v, N, sizeof(v[0]), cmp_double);
	for (i = 0; i < N; i++) {
		d = fmax(fabs((v[i] + 4) / 4 - (double)i / N),
			 fabs((v[i] + 4) / 4 - (double)(i + 1) / N));
		ks = fmax(ks, d);
	}
	CHECK(ks < 0.02);
	search_space_free(s);
}


/* The objectives of the TPE tests, of a trial's params. */
static double quad3(const cJSON *p)
{
	return (num(p, "x") - 3) * (num(p, "x") - 3);
}

static double neg_quad3(const cJSON *p)
{
	return -quad3(p);
}

static double mixed_f(const cJSON *p)
{
	const cJSON *opt = cJSON_GetObjectItem(p, "opt");
	double l = log10(num(p, "lr")) + 2;

	return (cJSON_IsString(opt) && strcmp(opt->valuestring, "b") == 0 ? 0 : 1) +
		0.3 * fabs(num(p, "n") - 7) + 0.2 * l * l;
}

/* A sequential sweep of trials trials into obs (params owned by obs). */
static void sweep(const struct search_space *s, enum search_method m,
		  uint64_t seed, int trials, double (*f)(const cJSON *),
		  int minimize, struct search_obs *obs)
{
	int i;

	for (i = 0; i < trials; i++) {
		cJSON *p = search_suggest(s, m, seed, (uint64_t)i, obs, (size_t)i,
					  minimize);

		if (!p)
			abort();
		obs[i].params = p;
		obs[i].value = f(p);
		obs[i].state = SEARCH_DONE;
	}
}

static void obs_free(struct search_obs *obs, int n)
{
	int i;

	for (i = 0; i < n; i++)
		cJSON_Delete((cJSON *)obs[i].params);
}

static double median(double *v, int n)
{
	qsort(v, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* The median distance of x to 3 over obs[from..to). */
static double median_dist3(const struct search_obs *obs, int from, int to)
{
	double d[200];
	int i;

	for (i = from; i < to; i++)
		d[i - from] = fabs(num(obs[i].params, "x") - 3);
	return median(d, to - from);
}

static void test_tpe_quadratic(void)
{
	struct search_space *s = space("{\"x\": {\"uniform\": [-10, 10]}}");
	struct search_obs t[60], r[60];
	double mt, mr;
	uint64_t seed;

	CHECK(s != NULL);
	if (!s)
		return;
	for (seed = 1; seed <= 5; seed++) {
		sweep(s, SEARCH_TPE, seed, 60, quad3, 1, t);
		sweep(s, SEARCH_RANDOM, seed, 60, quad3, 1, r);
		mt = median_dist3(t, 40, 60);
		mr = median_dist3(r, 40, 60);
		if (!(mt < mr / 5))
			fprintf(stderr, "seed %d: tpe %g random %g\n", (int)seed,
				mt, mr);
		CHECK(mt < mr / 5);
		CHECK(mt < 1.0);
		obs_free(t, 60);
		obs_free(r, 60);
	}
	/* maximising the negated quadratic goes to the same place */
	sweep(s, SEARCH_TPE, 9, 60, neg_quad3, 0, t);
	CHECK(median_dist3(t, 40, 60) < 1.0);
	obs_free(t, 60);
	/* and minimising it runs away to the ends */
	sweep(s, SEARCH_TPE, 9, 60, neg_quad3, 1, t);
	CHECK(median_dist3(t, 40, 60) > 8.0);
	obs_free(t, 60);
	search_space_free(s);
}

static void test_tpe_determinism(void)
{
	struct search_space *s = space(mixed);
	struct search_obs obs[40], copy[40];
	char a[512], b[512];
	cJSON *p, *q;
	int i, differ = 0;

	CHECK(s != NULL);
	if (!s)
		return;
	sweep(s, SEARCH_TPE, 3, 40, mixed_f, 1, obs);
	for (i = 0; i < 40; i++) {
		char *t = cJSON_PrintUnformatted(obs[i].params);

		copy[i] = obs[i];
		copy[i].params = cJSON_Parse(t);
		free(t);
	}
	/* the same history (even re-read from text) gives the same params */
	for (i = 0; i < 10; i++) {
		p = search_suggest(s, SEARCH_TPE, 3, 40 + (uint64_t)i, obs, 40, 1);
		q = search_suggest(s, SEARCH_TPE, 3, 40 + (uint64_t)i, copy, 40, 1);
		text(p, a, sizeof(a));
		text(q, b, sizeof(b));
		CHECK_STR(a, b);
		cJSON_Delete(q);
		q = search_suggest(s, SEARCH_TPE, 4, 40 + (uint64_t)i, obs, 40, 1);
		text(q, b, sizeof(b));
		differ += strcmp(a, b) != 0;
		cJSON_Delete(p);
		cJSON_Delete(q);
	}
	CHECK(differ >= 9);
	/* a second sweep with the same seed repeats the first */
	obs_free(copy, 40);
	sweep(s, SEARCH_TPE, 3, 40, mixed_f, 1, copy);
	for (i = 0, differ = 0; i < 40; i++) {
		text(obs[i].params, a, sizeof(a));
		text(copy[i].params, b, sizeof(b));
		differ += strcmp(a, b) != 0;
	}
	CHECK(differ == 0);
	obs_free(obs, 40);
	obs_free(copy, 40);
	search_space_free(s);
}

/* Before 10 observed trials, and without usable ones, TPE is random. */
static void test_tpe_startup(void)
{
	struct search_space *s = space("{\"x\": {\"uniform\": [-10, 10]}}");
	struct search_obs obs[20];
	char a[256], b[256];
	cJSON *p, *q, *bad = cJSON_Parse("{\"y\": 1}");
	int i;

	sweep(s, SEARCH_RANDOM, 8, 20, quad3, 1, obs);
	for (i = 9; i < 20; i++)
		obs[i].state = i % 2 ? SEARCH_PENDING : SEARCH_FAILED;
	p = search_suggest(s, SEARCH_TPE, 8, 20, obs, 20, 1);
	q = search_suggest(s, SEARCH_RANDOM, 8, 20, NULL, 0, 1);
	text(p, a, sizeof(a));
	text(q, b, sizeof(b));
	CHECK_STR(a, b);
	cJSON_Delete(p);
	/* one more done: the model takes over */
	obs[10].state = SEARCH_DONE;
	p = search_suggest(s, SEARCH_TPE, 8, 20, obs, 20, 1);
	text(p, a, sizeof(a));
	CHECK(strcmp(a, b) != 0);
	cJSON_Delete(p);
	/* params that do not fit the space leave their trial out */
	for (i = 0; i < 20; i++) {
		obs[i].state = SEARCH_DONE;
		cJSON_Delete((cJSON *)obs[i].params);
		obs[i].params = i % 2 ? bad : NULL;
	}
	p = search_suggest(s, SEARCH_TPE, 8, 20, obs, 20, 1);
	text(p, a, sizeof(a));
	CHECK_STR(a, b);
	cJSON_Delete(p);
	cJSON_Delete(q);
	cJSON_Delete(bad);
	search_space_free(s);
}

/*
 * A history of 30 done trials on (x - 3)^2 plus 30 trials at x near -8 with
 * a value far better than any: as failed (or stopped early) trials they must
 * not draw TPE there; as done ones (the control) they must.
 */
static void test_tpe_failed(void)
{
	struct search_space *s = space("{\"x\": {\"uniform\": [-10, 10]}}");
	struct search_obs obs[60];
	static const int states[] = { SEARCH_FAILED, SEARCH_STOPPED, SEARCH_DONE };
	int i, k, near8, near3;

	for (i = 0; i < 60; i++) {
		double x = i < 30 ? -10 + 20.0 * i / 29 : -8 + 0.01 * (i - 30);

		obs[i].params = cJSON_CreateObject();
		cJSON_AddNumberToObject((cJSON *)obs[i].params, "x", x);
		obs[i].value = i < 30 ? (x - 3) * (x - 3) : -1000;
	}
	for (k = 0; k < 3; k++) {
		for (i = 0; i < 60; i++)
			obs[i].state = i < 30 ? SEARCH_DONE : states[k];
		near8 = near3 = 0;
		for (i = 0; i < 40; i++) {
			cJSON *p = search_suggest(s, SEARCH_TPE, 1, 60 + (uint64_t)i,
						  obs, 60, 1);
			double x = num(p, "x");

			near8 += fabs(x + 8) < 1.5;
			near3 += fabs(x - 3) < 1.5;
			cJSON_Delete(p);
		}
		if (states[k] == SEARCH_DONE)
			CHECK(near8 > 30 && near3 < 5);
		else
			CHECK(near3 > 25 && near8 < 5);
	}
	obs_free(obs, 60);
	search_space_free(s);
}

/*
 * Pending trials are Optuna's constant liar: on the bad side, so that
 * trials started while others run spread out instead of piling up on the
 * same point. With 10 pending at the optimum the suggestions keep further
 * from it than without them.
 */
static void test_tpe_pending(void)
{
	struct search_space *s = space("{\"x\": {\"uniform\": [-10, 10]}}");
	struct search_obs obs[40];
	double with[30], without[30];
	int i;

	sweep(s, SEARCH_TPE, 2, 30, quad3, 1, obs);
	for (i = 30; i < 40; i++) {
		obs[i].params = cJSON_CreateObject();
		cJSON_AddNumberToObject((cJSON *)obs[i].params, "x", 3.0);
		obs[i].value = NAN;
		obs[i].state = SEARCH_PENDING;
	}
	for (i = 0; i < 30; i++) {
		cJSON *p = search_suggest(s, SEARCH_TPE, 2, 40 + (uint64_t)i, obs,
					  40, 1);
		cJSON *q = search_suggest(s, SEARCH_TPE, 2, 40 + (uint64_t)i, obs,
					  30, 1);

		with[i] = fabs(num(p, "x") - 3);
		without[i] = fabs(num(q, "x") - 3);
		cJSON_Delete(p);
		cJSON_Delete(q);
	}
	CHECK(median(with, 30) > 2 * median(without, 30));
	obs_free(obs, 40);
	search_space_free(s);
}

/* The best of obs[0..n) (lowest value). */
static const struct search_obs *best_of(const struct search_obs *obs, int n)
{
	const struct search_obs *b = &obs[0];
	int i;

	for (i = 1; i < n; i++)
		if (obs[i].value < b->value)
			b = &obs[i];
	return b;
}

/*
 * choice, int and loguniform: TPE finds "b", 7 and 0.01, far better than
 * random, picks "b" more often than random does (not always: near a good
 * trial of "a" with fine numbers it tries "a" again), and every value is one of
 * the listed ones or an integer in range.
 */
static void test_tpe_kinds(void)
{
	struct search_space *s = space(
		"{\"opt\": {\"choice\": [\"a\", \"b\", \"c\"]},"
		" \"n\": {\"int\": [1, 10]},"
		" \"lr\": {\"loguniform\": [0.0001, 1]},"
		" \"fixed\": {\"int\": [4, 4]}}");
	struct search_obs t[80], r[80];
	int i, tb = 0, rb = 0, typed = 1, found = 0, better = 0;
	uint64_t seed;

	for (seed = 0; seed < 3; seed++) {
		const struct search_obs *b;
		const cJSON *opt;

		sweep(s, SEARCH_TPE, seed, 80, mixed_f, 1, t);
		sweep(s, SEARCH_RANDOM, seed, 80, mixed_f, 1, r);
		for (i = 0; i < 80; i++) {
			double n = num(t[i].params, "n"), lr = num(t[i].params, "lr");

			opt = cJSON_GetObjectItem(t[i].params, "opt");
			typed &= cJSON_IsString(opt) && n == floor(n) && n >= 1 &&
				n <= 10 && lr >= 1e-4 && lr <= 1 &&
				num(t[i].params, "fixed") == 4;
			if (i < 40)
				continue;
			tb += cJSON_IsString(opt) && strcmp(opt->valuestring, "b") == 0;
			opt = cJSON_GetObjectItem(r[i].params, "opt");
			rb += cJSON_IsString(opt) && strcmp(opt->valuestring, "b") == 0;
		}
		b = best_of(t, 80);
		opt = cJSON_GetObjectItem(b->params, "opt");
		found += cJSON_IsString(opt) && strcmp(opt->valuestring, "b") == 0 &&
			fabs(num(b->params, "n") - 7) <= 1 &&
			fabs(log10(num(b->params, "lr")) + 2) < 0.3;
		better += b->value < best_of(r, 80)->value / 2;
		obs_free(t, 80);
		obs_free(r, 80);
	}
	CHECK(typed);
	CHECK(found == 3);
	CHECK(better == 3);
	CHECK(tb > rb);
	search_space_free(s);
}


/* A smooth function of the mixed space, its optimum inside. */
static double mixed_g(const cJSON *p)
{
	double l = log10(num(p, "lr")) + 3;

	return fabs(num(p, "n") - 11) + fabs(num(p, "m")) + num(p, "q") +
		(num(p, "x") - 1) * (num(p, "x") - 1) + l * l;
}

/* TPE's values stay in range and on their steps, as random's do. */
static void test_tpe_range(void)
{
	struct search_space *s = space(mixed), *h;
	struct search_obs obs[60];
	int i, inrange = 1, onstep = 1;

	sweep(s, SEARCH_TPE, 5, 60, mixed_g, 1, obs);
	for (i = 0; i < 60; i++) {
		const cJSON *p = obs[i].params;
		double n = num(p, "n"), m = num(p, "m"), qv = num(p, "q");
		double x = num(p, "x"), lr = num(p, "lr");

		inrange &= n >= 3 && n <= 20 && m >= -2 && m <= 2 && qv >= 0 &&
			qv <= 1 && x >= -2 && x <= 5 && lr >= 1e-5 && lr <= 0.1;
		onstep &= fmod(n - 3, 4) == 0 && m == floor(m) &&
			qv * 4 == floor(qv * 4);
	}
	CHECK(inrange);
	CHECK(onstep);
	CHECK(best_of(obs, 60)->value < 1.0);
	obs_free(obs, 60);
	search_space_free(s);

	/* an int range of 2^54 + 1 values: integers in range still */
	h = space("{\"x\": {\"int\": [-9007199254740992, 9007199254740992]}}");
	for (i = 0; i < 30; i++) {
		cJSON *p = search_suggest(h, SEARCH_TPE, 1, (uint64_t)i, obs,
					  (size_t)i, 1);
		double x = num(p, "x");

		obs[i].params = p;
		obs[i].value = -fabs(x);
		obs[i].state = SEARCH_DONE;
		inrange &= x >= -9007199254740992.0 && x <= 9007199254740992.0 &&
			x == floor(x);
	}
	CHECK(inrange);
	obs_free(obs, 30);
	search_space_free(h);
}


/* cJSON allocations that fail from the n-th on, to walk every failure path. */
static long alloc_left = -1;

static void *failing_malloc(size_t n)
{
	if (alloc_left == 0)
		return NULL;
	if (alloc_left > 0)
		alloc_left--;
	return malloc(n);
}

/*
 * Each cJSON allocation of parsing and suggesting fails in turn: the answer
 * is a refusal or NULL, never a crash, a partial object or (under ASan) a
 * leak.
 */
static void test_alloc_failures(void)
{
	cJSON_Hooks hooks = { failing_malloc, free };
	struct search_space *s = space(mixed), *t;
	struct search_obs obs[15];
	cJSON *j = cJSON_Parse(mixed), *p;
	char why[128];
	int k, rc, nulls = 0, whole = 1, last = 0;

	sweep(s, SEARCH_TPE, 1, 15, mixed_g, 1, obs);
	cJSON_InitHooks(&hooks);
	for (k = 0; k < 200; k++) {
		enum search_method m = (enum search_method)(k % 3 == 0 ?
			SEARCH_RANDOM : SEARCH_TPE);

		alloc_left = k / 2;
		rc = search_space_parse(j, &t, why, sizeof(why));
		if (rc == TFS_OK)
			search_space_free(t);
		else
			whole &= rc == TFS_ENOMEM && t == NULL;
		alloc_left = k / 2;
		p = search_suggest(s, m, 1, 15, obs, 15, 1);
		alloc_left = -1;
		if (!p)
			nulls++;
		else
			whole &= cJSON_GetArraySize(p) == 6;
		last = p != NULL;
		cJSON_Delete(p);
	}
	alloc_left = -1;
	cJSON_InitHooks(NULL);
	CHECK(whole);
	CHECK(nulls > 10);
	CHECK(last);
	cJSON_Delete(j);
	obs_free(obs, 15);
	search_space_free(s);
}

int main(void)
{
	test_refusals();
	test_methods();
	test_grid();
	test_random();
	test_loguniform();
	test_tpe_quadratic();
	test_tpe_determinism();
	test_tpe_startup();
	test_tpe_failed();
	test_tpe_pending();
	test_tpe_kinds();
	test_tpe_range();
	test_alloc_failures();
	return TEST_REPORT();
}
