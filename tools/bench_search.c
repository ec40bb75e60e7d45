/*
 * bench_search.c - trainfs's search methods on the functions of
 * tools/objectives.py, in process (no mount, no jobs): the quality of the
 * methods alone, beside tools/optuna_peer.py with the same seeds and
 * trials. One JSON line per function, method and seed:
 *
 *   {"function": "branin", "sampler": "trainfs-tpe", "seed": 0,
 *    "trials": 100, "best": {"20": 0.52, "50": 0.40, "100": 0.398},
 *    "seconds": 0.1}
 *
 * usage: bench_search [--trials N] [--seeds A-B] [--functions a,b,c]
 *        [--methods random,tpe] [--at 20,50,100]
 *        bench_search --check     (each function at its known minimum)
 *        bench_search --eval FUNCTION PARAMS_JSON   ({"value": ...}, as
 *                                 tools/objectives.py prints it)
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "err.h"
#include "search.h"

#define AT_MAX 16

static double branin(const double *x)
{
	double a = 1, b = 5.1 / (4 * M_PI * M_PI), c = 5 / M_PI;
	double r = 6, s = 10, t = 1 / (8 * M_PI), u;

	u = x[1] - b * x[0] * x[0] + c * x[0] - r;
	return a * u * u + s * (1 - t) * cos(x[0]) + s;
}

static const double h_alpha[4] = { 1.0, 1.2, 3.0, 3.2 };
static const double h_a[4][6] = {
	{ 10, 3, 17, 3.5, 1.7, 8 },
	{ 0.05, 10, 17, 0.1, 8, 14 },
	{ 3, 3.5, 1.7, 10, 17, 8 },
	{ 17, 8, 0.05, 10, 0.1, 14 },
};
static const double h_p[4][6] = {
	{ 1312, 1696, 5569, 124, 8283, 5886 },
	{ 2329, 4135, 8307, 3736, 1004, 9991 },
	{ 2348, 1451, 3522, 2883, 3047, 6650 },
	{ 4047, 8828, 8732, 5743, 1091, 381 },
};

static double hartmann6(const double *x)
{
	double total = 0, e, d;
	int i, j;

	for (i = 0; i < 4; i++) {
		e = 0;
		for (j = 0; j < 6; j++) {
			d = x[j] - h_p[i][j] * 1e-4;
			e += h_a[i][j] * d * d;
		}
		total += h_alpha[i] * exp(-e);
	}
	return -total;
}

/* Minimum 0 at adam, 4, 0.001, 0.1, 0.0001 (tools/objectives.py). */
static double mixed5(const char *opt, double layers, double lr,
		     double dropout, double wd)
{
	double penalty = 0.6, best_lr = -2.0, l, w;

	if (strcmp(opt, "adam") == 0) {
		penalty = 0;
		best_lr = -3.0;
	} else if (strcmp(opt, "lion") == 0) {
		penalty = 0.3;
		best_lr = -3.5;
	}
	l = log10(lr) - best_lr;
	w = log10(wd) + 4;
	return penalty + 0.15 * fabs(layers - 4) + 0.3 * l * l +
		2.0 * (dropout - 0.1) * (dropout - 0.1) + 0.05 * w * w;
}

static double num(const cJSON *p, const char *name)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(p, name);

	return cJSON_IsNumber(v) ? v->valuedouble : NAN;
}

/* The functions of trial params; x1..xd for the first two. */
static double xs(const cJSON *p, double *x, int d)
{
	char name[8];
	int j;

	for (j = 0; j < d; j++) {
		snprintf(name, sizeof(name), "x%d", j + 1);
		x[j] = num(p, name);
	}
	return 0;
}

static double branin_p(const cJSON *p)
{
	double x[2];

	xs(p, x, 2);
	return branin(x);
}

static double hartmann6_p(const cJSON *p)
{
	double x[6];

	xs(p, x, 6);
	return hartmann6(x);
}

static double mixed5_p(const cJSON *p)
{
	const cJSON *opt = cJSON_GetObjectItemCaseSensitive(p, "opt");

	return mixed5(cJSON_IsString(opt) ? opt->valuestring : "", num(p, "layers"),
		      num(p, "lr"), num(p, "dropout"), num(p, "wd"));
}

struct objective {
	const char *name;
	double (*fn)(const cJSON *params);
	const char *space;        /* as tools/objectives.py prints it */
	double min;
	const char *argmin;       /* params at the minimum */
};

static const struct objective objectives[] = {
	{ "branin", branin_p,
	  "{\"x1\": {\"uniform\": [-5, 10]}, \"x2\": {\"uniform\": [0, 15]}}",
	  0.397887, "{\"x1\": 3.141592653589793, \"x2\": 2.275}" },
	{ "hartmann6", hartmann6_p,
	  "{\"x1\": {\"uniform\": [0, 1]}, \"x2\": {\"uniform\": [0, 1]}, "
	  "\"x3\": {\"uniform\": [0, 1]}, \"x4\": {\"uniform\": [0, 1]}, "
	  "\"x5\": {\"uniform\": [0, 1]}, \"x6\": {\"uniform\": [0, 1]}}",
	  -3.32237, "{\"x1\": 0.20169, \"x2\": 0.150011, \"x3\": 0.476874, "
	  "\"x4\": 0.275332, \"x5\": 0.311652, \"x6\": 0.6573}" },
	{ "mixed5", mixed5_p,
	  "{\"opt\": {\"choice\": [\"sgd\", \"adam\", \"lion\"]}, "
	  "\"layers\": {\"int\": [1, 8]}, \"lr\": {\"loguniform\": [1e-05, 0.1]}, "
	  "\"dropout\": {\"uniform\": [0, 0.5], \"step\": 0.05}, "
	  "\"wd\": {\"loguniform\": [1e-06, 0.01]}}",
	  0.0, "{\"opt\": \"adam\", \"layers\": 4, \"lr\": 0.001, "
	  "\"dropout\": 0.1, \"wd\": 0.0001}" },
};
#define NOBJ (sizeof(objectives) / sizeof(objectives[0]))

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One sweep of trials trials; best[i] = best of the first at[i]. */
static int run(const struct objective *ob, enum search_method m, int seed,
	       int trials, const int *at, int nat)
{
	struct search_space *s;
	struct search_obs *obs;
	char why[256];
	cJSON *space;
	double best = INFINITY, t0;
	int i, k = 0, rc;

	space = cJSON_Parse(ob->space);
	rc = search_space_parse(space, &s, why, sizeof(why));
	cJSON_Delete(space);
	if (rc) {
		fprintf(stderr, "bench_search: %s: %s\n", ob->name, why);
		return -1;
	}
	obs = calloc((size_t)trials, sizeof(*obs));
	if (!obs)
		return -1;
	printf("{\"function\": \"%s\", \"sampler\": \"trainfs-%s\", "
	       "\"seed\": %d, \"trials\": %d, \"best\": {", ob->name,
	       search_method_name(m), seed, trials);
	t0 = now_s();
	for (i = 0; i < trials; i++) {
		cJSON *p = search_suggest(s, m, (uint64_t)seed, (uint64_t)i, obs,
					  (size_t)i, 1);

		if (!p) {
			fprintf(stderr, "bench_search: no params for trial %d\n", i);
			return -1;
		}
		obs[i].params = p;
		obs[i].value = ob->fn(p);
		obs[i].state = SEARCH_DONE;
		if (obs[i].value < best)
			best = obs[i].value;
		for (; k < nat && at[k] == i + 1; k++)
			printf("%s\"%d\": %.17g", k ? ", " : "", at[k], best);
	}
	printf("}, \"seconds\": %.3f}\n", now_s() - t0);
	fflush(stdout);
	for (i = 0; i < trials; i++)
		cJSON_Delete((cJSON *)obs[i].params);
	free(obs);
	search_space_free(s);
	return 0;
}

static int usage(void)
{
	fprintf(stderr, "usage: bench_search [--trials N] [--seeds A-B] "
		"[--functions branin,hartmann6,mixed5] [--methods random,tpe] "
		"[--at 20,50,100] | --check | --eval FUNCTION PARAMS_JSON\n");
	return 2;
}

int main(int argc, char **argv)
{
	const char *functions = "branin,hartmann6,mixed5", *methods = "random,tpe";
	const char *atlist = "20,50,100";
	int trials = 100, seed_lo = 0, seed_hi = 9, at[AT_MAX], nat = 0, i;
	char buf[256], *tok, *save;
	size_t f;

	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(a, "--check") == 0) {
			for (f = 0; f < NOBJ; f++) {
				cJSON *p = cJSON_Parse(objectives[f].argmin);

				printf("%s %.6f %.6f\n", objectives[f].name,
				       objectives[f].fn(p), objectives[f].min);
				cJSON_Delete(p);
			}
			return 0;
		}
		if (!v)
			return usage();
		if (strcmp(a, "--eval") == 0) {
			cJSON *p = i + 2 < argc ? cJSON_Parse(argv[i + 2]) : NULL;

			for (f = 0; p && f < NOBJ; f++)
				if (strcmp(objectives[f].name, v) == 0) {
					printf("{\"value\": %.17g}\n",
					       objectives[f].fn(p));
					cJSON_Delete(p);
					return 0;
				}
			cJSON_Delete(p);
			return usage();
		}
		if (strcmp(a, "--trials") == 0)
			trials = atoi(v);
		else if (strcmp(a, "--seeds") == 0) {
			if (sscanf(v, "%d-%d", &seed_lo, &seed_hi) == 1)
				seed_hi = seed_lo;
		} else if (strcmp(a, "--functions") == 0)
			functions = v;
		else if (strcmp(a, "--methods") == 0)
			methods = v;
		else if (strcmp(a, "--at") == 0)
			atlist = v;
		else
			return usage();
		i++;
	}
	if (trials < 1 || trials > 100000 || seed_lo < 0 || seed_hi < seed_lo)
		return usage();
	snprintf(buf, sizeof(buf), "%s", atlist);
	for (tok = strtok_r(buf, ",", &save); tok && nat < AT_MAX;
	     tok = strtok_r(NULL, ",", &save))
		if (atoi(tok) >= 1 && atoi(tok) <= trials &&
		    (!nat || atoi(tok) > at[nat - 1]))
			at[nat++] = atoi(tok);
	for (f = 0; f < NOBJ; f++) {
		enum search_method m;
		char mbuf[64], *mt, *msave;
		int seed;

		snprintf(buf, sizeof(buf), ",%s,", functions);
		snprintf(mbuf, sizeof(mbuf), ",%s,", objectives[f].name);
		if (!strstr(buf, mbuf))
			continue;
		snprintf(mbuf, sizeof(mbuf), "%s", methods);
		for (mt = strtok_r(mbuf, ",", &msave); mt;
		     mt = strtok_r(NULL, ",", &msave)) {
			if (search_method_parse(mt, &m) || m == SEARCH_GRID)
				return usage();
			for (seed = seed_lo; seed <= seed_hi; seed++)
				if (run(&objectives[f], m, seed, trials, at, nat))
					return 1;
		}
	}
	return 0;
}
