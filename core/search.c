/*
 * search.c - the search methods of a sweep: parsing the parameter space of
 * sweep.json, enumerating it as a grid, drawing from it at random, and a
 * tree-structured Parzen estimator that follows Optuna's TPESampler so that
 * people who tuned with Optuna get what they expect. Everything here is a
 * pure function of its arguments: the generator is our own, seeded from
 * (seed, trial number), so a restarted daemon suggests the same params
 * again and trial n of a random sweep does not depend on which trials
 * finished first.
 *
 * TPE works in a unit cube: a continuous parameter is mapped to [0, 1]
 * (loguniform in log space), a discrete one (int, uniform with a step) with
 * K values to the centres (k + 0.5) / K of K cells of [0, 1], whose mass a
 * kernel gives it; that is Optuna's arithmetic (ranges widened by half a
 * step) up to a constant that cancels in l(x) / g(x). choice and grid
 * values are indices with categorical kernels.
 */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "search.h"
#include "util.h"             /* ident_valid(), pure */

enum kind { K_CHOICE, K_GRID, K_UNIFORM, K_LOG, K_INT };

static const char *const kind_names[] = {
	[K_CHOICE] = "choice", [K_GRID] = "grid", [K_UNIFORM] = "uniform",
	[K_LOG] = "loguniform", [K_INT] = "int",
};

struct param {
	char name[SEARCH_NAME_MAX + 1];
	enum kind kind;
	cJSON *list;          /* choice, grid: a copy of the values, owned */
	const cJSON **vals;   /* choice, grid: the nvals items of list */
	size_t nvals;
	double a, b;          /* uniform, loguniform: the range */
	double step;          /* uniform: 0 without a step */
	long long ia, ib, istep; /* int: range and step (1 by default) */
	uint64_t nsteps;      /* int, stepped uniform: values in the range */
};

struct search_space {
	size_t n;
	struct param p[SEARCH_PARAMS_MAX];
};

static int fail(char *why, size_t whylen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *why, size_t whylen, const char *fmt, ...)
{
	va_list ap;

	if (why && whylen) {
		va_start(ap, fmt);
		vsnprintf(why, whylen, fmt, ap);
		va_end(ap);
	}
	return TFS_EINVAL;
}

/* A user's key, cut and with control bytes as '?', safe to quote in events. */
static void quote_safe(const char *s, char *out, size_t outlen)
{
	size_t i;

	for (i = 0; s && s[i] && i + 1 < outlen; i++)
		out[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	out[i] = 0;
}

/* Fills p from {"choice": [...]} or {"grid": [...]}. */
static int parse_list(struct param *p, const cJSON *it, char *why,
		      size_t whylen)
{
	const char *kn = kind_names[p->kind];
	const cJSON *e;
	size_t n = 0, i, j;

	if (!cJSON_IsArray(it))
		return fail(why, whylen, "space.%s: %s must be a list of values",
			    p->name, kn);
	cJSON_ArrayForEach(e, it) {
		if (++n > SEARCH_VALUES_MAX)
			return fail(why, whylen,
				    "space.%s: %s has more than %d values",
				    p->name, kn, SEARCH_VALUES_MAX);
		if (cJSON_IsNumber(e) ? !isfinite(e->valuedouble) :
		    !cJSON_IsString(e) && !cJSON_IsBool(e))
			return fail(why, whylen, "space.%s: %s values must be "
				    "numbers, strings or booleans", p->name, kn);
		if (cJSON_IsString(e) &&
		    strlen(e->valuestring) > SEARCH_STRING_MAX)
			return fail(why, whylen, "space.%s: %s strings must be "
				    "at most %d bytes", p->name, kn,
				    SEARCH_STRING_MAX);
	}
	if (!n)
		return fail(why, whylen, "space.%s: %s is empty", p->name, kn);
	p->list = cJSON_Duplicate(it, 1);
	p->vals = calloc(n, sizeof(*p->vals));
	if (!p->list || !p->vals)
		return TFS_ENOMEM;
	i = 0;
	cJSON_ArrayForEach(e, p->list)
		p->vals[i++] = e;
	p->nvals = n;
	/* A repeated value would be a grid point visited twice. */
	for (i = 0; i < n; i++)
		for (j = 0; j < i; j++)
			if (cJSON_Compare(p->vals[i], p->vals[j], 1))
				return fail(why, whylen,
					    "space.%s: %s has a repeated value",
					    p->name, kn);
	return TFS_OK;
}

/* Fills p from {"uniform"|"loguniform"|"int": [a, b]}. */
static int parse_range(struct param *p, const cJSON *it, char *why,
		       size_t whylen)
{
	const char *kn = kind_names[p->kind];
	const cJSON *x, *y;
	double a, b;

	if (!cJSON_IsArray(it) || cJSON_GetArraySize(it) != 2 ||
	    !cJSON_IsNumber(x = cJSON_GetArrayItem(it, 0)) ||
	    !cJSON_IsNumber(y = cJSON_GetArrayItem(it, 1)) ||
	    !isfinite(x->valuedouble) || !isfinite(y->valuedouble))
		return fail(why, whylen, "space.%s: %s needs [a, b], two numbers",
			    p->name, kn);
	a = x->valuedouble;
	b = y->valuedouble;
	switch (p->kind) {
	case K_LOG:
		if (!(a > 0 && a < b))
			return fail(why, whylen,
				    "space.%s: loguniform needs 0 < a < b", p->name);
		break;
	case K_INT:
		if (a != floor(a) || b != floor(b) || fabs(a) > SEARCH_INT_MAX ||
		    fabs(b) > SEARCH_INT_MAX)
			return fail(why, whylen, "space.%s: int needs integers "
				    "a and b within +-2^53", p->name);
		/* fall through */
	default:
		if (a > b)
			return fail(why, whylen, "space.%s: %s needs a <= b",
				    p->name, kn);
	}
	p->a = a;
	p->b = b;
	p->ia = (long long)a;
	p->ib = (long long)b;
	p->istep = 1;
	return TFS_OK;
}

/* Reads "step" into p, after its range; counts the values of the range. */
static int parse_step(struct param *p, const cJSON *st, char *why,
		      size_t whylen)
{
	double r, k;

	if (st && p->kind != K_UNIFORM && p->kind != K_INT)
		return fail(why, whylen, "space.%s: step goes with uniform or "
			    "int only", p->name);
	if (p->kind == K_INT) {
		if (st && (!cJSON_IsNumber(st) || !(st->valuedouble >= 1) ||
			   st->valuedouble != floor(st->valuedouble) ||
			   st->valuedouble > SEARCH_INT_MAX))
			return fail(why, whylen, "space.%s: step must be a "
				    "positive integer", p->name);
		if (st)
			p->istep = (long long)st->valuedouble;
		p->nsteps = (uint64_t)(p->ib - p->ia) / (uint64_t)p->istep + 1;
		return TFS_OK;
	}
	if (p->kind != K_UNIFORM || !st)
		return TFS_OK;
	if (!cJSON_IsNumber(st) || !isfinite(st->valuedouble) ||
	    !(st->valuedouble > 0))
		return fail(why, whylen, "space.%s: step must be a positive "
			    "number", p->name);
	p->step = st->valuedouble;
	r = (p->b - p->a) / p->step;
	if (!(r <= SEARCH_STEPS_MAX))
		return fail(why, whylen, "space.%s: more than 10^15 steps in "
			    "the range", p->name);
	/* [0, 0.3] by 0.1 is 2.9999999999999996 steps: 4 values, not 3 */
	k = floor(r);
	if (r - k > 1 - 1e-9)
		k += 1;
	p->nsteps = (uint64_t)k + 1;
	return TFS_OK;
}

static int parse_param(struct param *p, const cJSON *def, char *why,
		       size_t whylen)
{
	const cJSON *m, *dist = NULL, *st = NULL;
	char key[40];
	int k, rc;

	if (!cJSON_IsObject(def))
		return fail(why, whylen, "space.%s: must be an object such as "
			    "{\"uniform\": [0, 1]}", p->name);
	cJSON_ArrayForEach(m, def) {
		for (k = 0; k <= K_INT; k++)
			if (m->string && strcmp(m->string, kind_names[k]) == 0)
				break;
		if (k <= K_INT) {
			if (dist)
				return fail(why, whylen, "space.%s: give one of "
					    "choice, grid, uniform, loguniform, "
					    "int, not two", p->name);
			dist = m;
			p->kind = (enum kind)k;
		} else if (m->string && strcmp(m->string, "step") == 0) {
			if (st)
				return fail(why, whylen, "space.%s: step given "
					    "twice", p->name);
			st = m;
		} else {
			quote_safe(m->string, key, sizeof(key));
			return fail(why, whylen, "space.%s: unknown key '%s'",
				    p->name, key);
		}
	}
	if (!dist)
		return fail(why, whylen, "space.%s: needs one of choice, grid, "
			    "uniform, loguniform, int", p->name);
	if (p->kind == K_CHOICE || p->kind == K_GRID)
		rc = parse_list(p, dist, why, whylen);
	else
		rc = parse_range(p, dist, why, whylen);
	return rc ? rc : parse_step(p, st, why, whylen);
}

int search_space_parse(const cJSON *space, struct search_space **out,
		       char *why, size_t whylen)
{
	struct search_space *s;
	const cJSON *m;
	char name[SEARCH_NAME_MAX + 1];
	size_t i;
	int rc = TFS_OK;

	*out = NULL;
	if (!cJSON_IsObject(space))
		return fail(why, whylen, "space must be an object of parameters");
	s = calloc(1, sizeof(*s));
	if (!s)
		return TFS_ENOMEM;
	cJSON_ArrayForEach(m, space) {
		if (!ident_valid(m->string, SEARCH_NAME_MAX)) {
			quote_safe(m->string, name, sizeof(name));
			rc = fail(why, whylen, "space: parameter name '%s' must "
				  "be [A-Za-z_][A-Za-z0-9_]{0,63}", name);
			goto out;
		}
		for (i = 0; i < s->n; i++)
			if (strcmp(s->p[i].name, m->string) == 0) {
				rc = fail(why, whylen, "space.%s: given twice",
					  m->string);
				goto out;
			}
		if (s->n == SEARCH_PARAMS_MAX) {
			rc = fail(why, whylen, "space has more than %d parameters",
				  SEARCH_PARAMS_MAX);
			goto out;
		}
		strcpy(s->p[s->n].name, m->string);
		rc = parse_param(&s->p[s->n++], m, why, whylen);
		if (rc)
			goto out;
	}
	if (!s->n)
		rc = fail(why, whylen, "space has no parameters");
out:
	if (rc) {
		search_space_free(s);
		return rc;
	}
	*out = s;
	return TFS_OK;
}

void search_space_free(struct search_space *s)
{
	size_t i;

	if (!s)
		return;
	for (i = 0; i < s->n; i++) {
		cJSON_Delete(s->p[i].list);
		free(s->p[i].vals);
	}
	free(s);
}

size_t search_space_count(const struct search_space *s)
{
	return s->n;
}

const char *search_space_name(const struct search_space *s, size_t i)
{
	return i < s->n ? s->p[i].name : NULL;
}

/* Values a parameter can take when enumerated, 0 when it cannot be. */
static uint64_t param_count(const struct param *p)
{
	switch (p->kind) {
	case K_CHOICE:
	case K_GRID:
		return p->nvals;
	case K_INT:
		return p->nsteps;
	case K_UNIFORM:
		return p->step > 0 ? p->nsteps : 0;
	default:
		return 0;
	}
}

int search_grid_size(const struct search_space *s, uint64_t *n, char *why,
		     size_t whylen)
{
	uint64_t total = 1, c;
	size_t i;

	for (i = 0; i < s->n; i++) {
		const struct param *p = &s->p[i];

		c = param_count(p);
		if (!c)
			return fail(why, whylen, "space.%s: %s%s cannot be a grid",
				    p->name, kind_names[p->kind],
				    p->kind == K_UNIFORM ? " without step" : "");
		/* both factors <= SEARCH_GRID_MAX: no overflow */
		if (c > SEARCH_GRID_MAX || total * c > SEARCH_GRID_MAX)
			return fail(why, whylen, "space: the grid has more than "
				    "%d points", SEARCH_GRID_MAX);
		total *= c;
	}
	*n = total;
	return TFS_OK;
}

int search_method_parse(const char *name, enum search_method *out)
{
	static const char *const names[] = { "grid", "random", "tpe" };
	int i;

	for (i = 0; name && i < 3; i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum search_method)i;
			return 0;
		}
	return -1;
}

const char *search_method_name(enum search_method m)
{
	switch (m) {
	case SEARCH_GRID:
		return "grid";
	case SEARCH_RANDOM:
		return "random";
	default:
		return "tpe";
	}
}

/*
 * The generator: xoshiro256** (Blackman and Vigna), its state filled by
 * splitmix64 from (seed, n, stream), a stream per use so that the draws of
 * the random method and of TPE's candidates are independent.
 */
struct rng {
	uint64_t s[4];
};

static uint64_t splitmix64(uint64_t *x)
{
	uint64_t z = (*x += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

static void rng_seed(struct rng *r, uint64_t seed, uint64_t n,
		     uint64_t stream)
{
	uint64_t x = seed, h;
	int i;

	h = splitmix64(&x);
	x = h ^ n;
	h = splitmix64(&x);
	x = h ^ stream;
	for (i = 0; i < 4; i++)
		r->s[i] = splitmix64(&x);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

static uint64_t rng_next(struct rng *r)
{
	uint64_t *s = r->s, res = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;

	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return res;
}

/* Uniform in [0, 1), 53 bits. */
static double rng_double(struct rng *r)
{
	return (double)(rng_next(r) >> 11) * 0x1.0p-53;
}

/* Uniform in [0, n), n > 0, without modulo bias. */
static uint64_t rng_below(struct rng *r, uint64_t n)
{
	uint64_t min = -n % n, x;

	do
		x = rng_next(r);
	while (x < min);
	return x % n;
}

/* Standard normal, Marsaglia's polar method. */
static double rng_normal(struct rng *r)
{
	double u, v, q;

	do {
		u = 2 * rng_double(r) - 1;
		v = 2 * rng_double(r) - 1;
		q = u * u + v * v;
	} while (q >= 1 || q == 0);
	return u * sqrt(-2 * log(q) / q);
}

/*
 * v to 15 significant digits: a + k * step without the binary noise, and
 * every float a value that cJSON prints (%.15g when that reads back within
 * an epsilon) and reads back bit for bit, so that TPE suggests the same
 * from params read back from text as from the ones it returned. Through
 * text, as cJSON does, since scaling by 10^e is inexact past 10^22; the
 * locale's decimal point is the same both ways.
 */
static double tidy(double v)
{
	char buf[32];

	if (!isfinite(v))
		return v;
	snprintf(buf, sizeof(buf), "%.15g", v);
	return strtod(buf, NULL);
}

/* Value k (0 <= k < nsteps) of a stepped uniform or int parameter. */
static cJSON *step_value(const struct param *p, uint64_t k)
{
	double v;

	if (p->kind == K_INT)
		return cJSON_CreateNumber((double)(p->ia +
						   (long long)k * p->istep));
	v = tidy(p->a + (double)k * p->step);
	return cJSON_CreateNumber(v > p->b ? p->b : v);
}

/* A float value of [a, b] as search_suggest() returns it. */
static cJSON *float_value(const struct param *p, double v)
{
	v = tidy(v);
	return cJSON_CreateNumber(v < p->a ? p->a : v > p->b ? p->b : v);
}

/* Value number k of a parameter that param_count() enumerates. */
static cJSON *nth_value(const struct param *p, uint64_t k)
{
	if (p->kind == K_CHOICE || p->kind == K_GRID)
		return cJSON_Duplicate(p->vals[k], 1);
	return step_value(p, k);
}

/*
 * Adds v (taken, may be NULL after a failed allocation) to the params o as
 * name. Returns o, or NULL with o and v freed when either failed.
 */
static cJSON *params_add(cJSON *o, const char *name, cJSON *v)
{
	if (v && cJSON_AddItemToObject(o, name, v))
		return o;
	cJSON_Delete(v);
	cJSON_Delete(o);
	return NULL;
}

static cJSON *suggest_grid(const struct search_space *s, uint64_t n)
{
	uint64_t size, k[SEARCH_PARAMS_MAX];
	cJSON *o;
	size_t i;

	if (search_grid_size(s, &size, NULL, 0) || n >= size)
		return NULL;
	for (i = s->n; i-- > 0;) {
		uint64_t c = param_count(&s->p[i]);

		k[i] = n % c;
		n /= c;
	}
	o = cJSON_CreateObject();
	for (i = 0; o && i < s->n; i++)
		o = params_add(o, s->p[i].name, nth_value(&s->p[i], k[i]));
	return o;
}

/* One draw from a parameter's prior: what the random method does. */
static cJSON *draw_value(const struct param *p, struct rng *r)
{
	double la, lb;

	switch (p->kind) {
	case K_CHOICE:
	case K_GRID:
		return cJSON_Duplicate(p->vals[rng_below(r, p->nvals)], 1);
	case K_LOG:
		la = log(p->a);
		lb = log(p->b);
		return float_value(p, exp(la + rng_double(r) * (lb - la)));
	case K_INT:
		return step_value(p, rng_below(r, p->nsteps));
	default:
		if (p->step > 0)
			return step_value(p, rng_below(r, p->nsteps));
		return float_value(p, p->a + rng_double(r) * (p->b - p->a));
	}
}

static cJSON *suggest_random(const struct search_space *s, uint64_t seed,
			     uint64_t n)
{
	struct rng r;
	cJSON *o;
	size_t i;

	rng_seed(&r, seed, n, 0);
	o = cJSON_CreateObject();
	for (i = 0; o && i < s->n; i++)
		o = params_add(o, s->p[i].name, draw_value(&s->p[i], &r));
	return o;
}

/*
 * TPE's constants: Optuna's defaults, except two that tools/bench_search.sh
 * measured against Optuna 5.1 (Branin, Hartmann-6 and a mixed space, 100
 * trials, medians over 200 seeds). Optuna draws 24 candidates whatever the
 * dimension, too few to find the maximum of l(x) / g(x) in six; and it
 * floors the good side's bandwidths at 1 / (its size + 2), its size a
 * tenth of the trials, so that after 50 trials no good kernel is narrower
 * than a seventh of the range and the last digits of an optimum come slowly.
 * Flooring by all the observed trials instead lets the good kernels narrow
 * as the evidence grows: at 50 trials Branin's median best went from 0.571
 * to 0.465 (minimum 0.398), Hartmann-6's from -2.95 to -3.01, and the mixed
 * space's from 0.022 to 0.016. Trial for trial that is more exploitation;
 * the prior kernel and the bad side, floored as in Optuna, keep exploring.
 */
#define TPE_STARTUP 10        /* observed trials before the model is used */
#define TPE_GOOD_MAX 25       /* the good side: min(ceil(n / 10), 25) */
#define TPE_PRIOR_WEIGHT 1.0
#define TPE_CAND_PER_DIM 24   /* draws from l(x) per modelled parameter, */
#define TPE_CAND_MAX 256      /* up to this: the cost is O(C n d) */
#define TPE_CLIP_POWER 0.75   /* good side: sigma >= 1 / min(100, n^p + 2) */

/* A dimension of the model: a parameter that takes more than one value. */
struct dim {
	const struct param *p;
	size_t ncat;          /* categorical: the number of values; else 0 */
	uint64_t cells;       /* discrete numeric: K values; continuous: 0 */
};

/*
 * One side's Parzen estimator: nk kernels, the observations then the prior.
 * For a numeric dim j, kernel k is a Gaussian (mu, sigma) truncated to
 * [0, 1], logz its log mass there; for a categorical one it puts log_hit on
 * its observation's value and log_miss on each other (the prior: uniform).
 */
struct parzen {
	size_t nk, nd;
	double *logw;         /* nk */
	double *mu, *sigma, *logz; /* nk x nd, numeric dims */
	double *x;            /* nk x nd: the observations (prior row unused) */
	double *log_hit, *log_miss; /* nd */
};

static double ndtr(double z)
{
	return 0.5 * erfc(-z * M_SQRT1_2);
}

/* log(Phi(b) - Phi(a)) for a < b, accurate in either tail. */
static double log_gauss_mass(double a, double b)
{
	if (a >= 0) {
		double t = a;

		a = -b;
		b = -t;
	}
	if (b <= 0)
		return log(ndtr(b) - ndtr(a));
	return log1p(-ndtr(a) - ndtr(-b));
}

static void parzen_release(struct parzen *pz)
{
	free(pz->logw);
	free(pz->mu);
	free(pz->sigma);
	free(pz->logz);
	free(pz->x);
	free(pz->log_hit);
	free(pz->log_miss);
	memset(pz, 0, sizeof(*pz));
}

struct sort_key {
	double v;
	size_t i;
};

static int cmp_key(const void *a, const void *b)
{
	const struct sort_key *x = a, *y = b;

	if (x->v != y->v)
		return x->v < y->v ? -1 : 1;
	return x->i < y->i ? -1 : x->i > y->i;
}

/*
 * Optuna's bandwidths in one numeric dimension: each observation's sigma is
 * the larger distance to its neighbours in sorted order (the range's ends
 * count as neighbours, except that the outermost observations look inward
 * only), clipped to [minsigma, 1].
 */
static void parzen_sigmas(struct parzen *pz, size_t j, size_t n,
			  struct sort_key *tmp, double minsigma)
{
	double lo, hi, s;
	size_t i;

	for (i = 0; i < n; i++) {
		tmp[i].v = pz->x[i * pz->nd + j];
		tmp[i].i = i;
	}
	qsort(tmp, n, sizeof(*tmp), cmp_key);
	for (i = 0; i < n; i++) {
		lo = i ? tmp[i - 1].v : 0.0;
		hi = i + 1 < n ? tmp[i + 1].v : 1.0;
		s = fmax(tmp[i].v - lo, hi - tmp[i].v);
		if (n >= 2 && i == 0)
			s = hi - tmp[i].v;
		else if (n >= 2 && i == n - 1)
			s = tmp[i].v - lo;
		pz->sigma[tmp[i].i * pz->nd + j] = fmin(fmax(s, minsigma), 1.0);
	}
}

/*
 * Builds the estimator of the n observations rows (rows of x, nd wide, in
 * trial order) with weights w (NULL: all 1); bandwidths are at least
 * 1 / min(100, clip_n + 2), Optuna's magic clip for clip_n = n. Returns
 * TFS_OK or TFS_ENOMEM.
 */
static int parzen_build(struct parzen *pz, const struct dim *dims, size_t nd,
			const double *x, const size_t *rows, size_t n,
			const double *w, double clip_n)
{
	size_t nk = n + 1, k, j;
	struct sort_key *tmp;
	double sum = 0;

	memset(pz, 0, sizeof(*pz));
	pz->nk = nk;
	pz->nd = nd;
	pz->logw = calloc(nk, sizeof(double));
	pz->mu = calloc(nk * nd, sizeof(double));
	pz->sigma = calloc(nk * nd, sizeof(double));
	pz->logz = calloc(nk * nd, sizeof(double));
	pz->x = calloc(nk * nd, sizeof(double));
	pz->log_hit = calloc(nd, sizeof(double));
	pz->log_miss = calloc(nd, sizeof(double));
	tmp = calloc(nk, sizeof(*tmp));
	if (!pz->logw || !pz->mu || !pz->sigma || !pz->logz || !pz->x ||
	    !pz->log_hit || !pz->log_miss || !tmp) {
		free(tmp);
		parzen_release(pz);
		return TFS_ENOMEM;
	}
	for (k = 0; k < n; k++)
		memcpy(&pz->x[k * nd], &x[rows[k] * nd], nd * sizeof(double));
	/* weights: the observations', then the prior's; normalised */
	for (k = 0; k < n; k++)
		sum += pz->logw[k] = w ? w[k] : 1.0;
	sum += pz->logw[n] = n ? TPE_PRIOR_WEIGHT : 1.0;
	for (k = 0; k < nk; k++)
		pz->logw[k] = log(pz->logw[k] / sum);
	for (j = 0; j < nd; j++) {
		if (dims[j].ncat) {
			double c = (double)dims[j].ncat, f = TPE_PRIOR_WEIGHT / nk;

			pz->log_hit[j] = log((1 + f) / (1 + c * f));
			pz->log_miss[j] = log(f / (1 + c * f));
			continue;
		}
		parzen_sigmas(pz, j, n, tmp, 1.0 / fmin(100.0, clip_n + 2.0));
		for (k = 0; k < nk; k++) {
			double mu = k < n ? pz->x[k * nd + j] : 0.5;
			double sg = k < n ? pz->sigma[k * nd + j] : 1.0;

			pz->mu[k * nd + j] = mu;
			pz->sigma[k * nd + j] = sg;
			pz->logz[k * nd + j] = log_gauss_mass(-mu / sg,
							      (1 - mu) / sg);
		}
	}
	free(tmp);
	return TFS_OK;
}

/* log of the estimator's density (mass, for discrete dims) at point y. */
static double parzen_logpdf(const struct parzen *pz, const struct dim *dims,
			    const double *y, double *lk)
{
	size_t k, j, nd = pz->nd;
	double mx = -INFINITY, sum = 0;

	for (k = 0; k < pz->nk; k++) {
		double l = pz->logw[k];

		for (j = 0; j < nd && l > -INFINITY; j++) {
			size_t o = k * nd + j;
			double mu = pz->mu[o], sg = pz->sigma[o], z;

			if (dims[j].ncat) {
				if (k == pz->nk - 1)
					l -= log((double)dims[j].ncat);
				else
					l += y[j] == pz->x[o] ? pz->log_hit[j] :
						pz->log_miss[j];
			} else if (dims[j].cells) {
				double hw = 0.5 / (double)dims[j].cells;

				l += log_gauss_mass((y[j] - hw - mu) / sg,
						    (y[j] + hw - mu) / sg) - pz->logz[o];
			} else {
				z = (y[j] - mu) / sg;
				l += -0.5 * z * z - 0.9189385332046727 - log(sg) -
					pz->logz[o];
			}
		}
		lk[k] = l;
		if (l > mx)
			mx = l;
	}
	if (mx == -INFINITY)
		return mx;
	for (k = 0; k < pz->nk; k++)
		sum += exp(lk[k] - mx);
	return mx + log(sum);
}

/* A Gaussian (mu, sg) truncated to [0, 1]; mu in [0, 1], so >= 1/3 accepted. */
static double draw_truncnorm(struct rng *r, double mu, double sg)
{
	double v;
	int i;

	for (i = 0; i < 1000; i++) {
		v = mu + sg * rng_normal(r);
		if (v >= 0 && v <= 1)
			return v;
	}
	return fmin(fmax(v, 0), 1);
}

/* A point from the estimator into y: a kernel by weight, then each dim. */
static void parzen_draw(const struct parzen *pz, const struct dim *dims,
			struct rng *r, double *y)
{
	double u = rng_double(r), c = 0;
	size_t k, j, nd = pz->nd;

	for (k = 0; k + 1 < pz->nk; k++) {
		c += exp(pz->logw[k]);
		if (u < c)
			break;
	}
	for (j = 0; j < nd; j++) {
		size_t o = k * nd + j;

		if (dims[j].ncat) {
			size_t nc = dims[j].ncat, v;

			if (k == pz->nk - 1) {
				y[j] = (double)rng_below(r, nc);
				continue;
			}
			/* the hit, or one of the others uniformly */
			if (rng_double(r) < exp(pz->log_hit[j]))
				y[j] = pz->x[o];
			else {
				v = (size_t)rng_below(r, nc - 1);
				y[j] = (double)(v >= (size_t)pz->x[o] ? v + 1 : v);
			}
		} else {
			double v = draw_truncnorm(r, pz->mu[o], pz->sigma[o]);

			if (dims[j].cells) {
				double K = (double)dims[j].cells;
				double cell = fmin(floor(v * K), K - 1);

				v = (cell + 0.5) / K;
			}
			y[j] = v;
		}
	}
}

/*
 * Maps a value of trial params onto dim d's coordinate into *y. Returns 0,
 * or -1 when it is missing or does not fit the space.
 */
static int dim_coord(const struct dim *d, const cJSON *v, double *y)
{
	const struct param *p = d->p;
	double x, k;
	size_t i;

	if (!v)
		return -1;
	if (d->ncat) {
		for (i = 0; i < p->nvals; i++)
			if (cJSON_Compare(v, p->vals[i], 1)) {
				*y = (double)i;
				return 0;
			}
		return -1;
	}
	if (!cJSON_IsNumber(v) || !isfinite(x = v->valuedouble))
		return -1;
	if (d->cells) {
		if (p->kind == K_INT)
			k = round((x - p->a) / (double)p->istep);
		else
			k = round((x - p->a) / p->step);
		if (k < 0 || k >= (double)d->cells)
			return -1;
		*y = (k + 0.5) / (double)d->cells;
		return 0;
	}
	if (x < p->a || x > p->b)
		return -1;
	if (p->kind == K_LOG)
		*y = (log(x) - log(p->a)) / (log(p->b) - log(p->a));
	else
		*y = (x - p->a) / (p->b - p->a);
	*y = fmin(fmax(*y, 0), 1);
	return 0;
}

/* The parameter value at coordinate y of dim d. */
static cJSON *dim_value(const struct dim *d, double y)
{
	const struct param *p = d->p;
	double v;

	if (d->ncat)
		return cJSON_Duplicate(p->vals[(size_t)y], 1);
	if (d->cells) {
		/* (k + 0.5) / K * K can round up to K when K is near 2^53 */
		double k = fmin(floor(y * (double)d->cells), (double)(d->cells - 1));

		return step_value(p, (uint64_t)k);
	}
	if (p->kind == K_LOG)
		v = exp(log(p->a) + y * (log(p->b) - log(p->a)));
	else
		v = p->a + y * (p->b - p->a);
	return float_value(p, v);
}

/* The single value of a parameter TPE does not model. */
static cJSON *const_value(const struct param *p)
{
	if (p->kind == K_CHOICE || p->kind == K_GRID)
		return cJSON_Duplicate(p->vals[0], 1);
	if (p->kind == K_INT || p->step > 0)
		return step_value(p, 0);
	return cJSON_CreateNumber(p->a);
}

/* Optuna's default_weights(n): 1 for the newest 25, a ramp before them. */
static void ramp_weights(double *w, size_t n)
{
	size_t i, m = n > 25 ? n - 25 : 0;

	for (i = 0; i < n; i++)
		w[i] = 1.0;
	for (i = 0; i < m; i++)
		w[i] = m == 1 ? 1.0 / n :
			1.0 / n + (double)i * (1.0 - 1.0 / n) / (double)(m - 1);
}

/* What TPE needs of the observations, allocated once per suggestion. */
struct tpe_work {
	double *x;            /* nobs x nd coordinates */
	size_t *good, *bad;   /* rows, trial order */
	struct sort_key *keys;
	double *w, *lk, *cand;
	char *isgood;         /* nobs flags */
	struct parzen lpz, gpz;
};

static void tpe_release(struct tpe_work *t)
{
	free(t->x);
	free(t->good);
	free(t->bad);
	free(t->keys);
	free(t->w);
	free(t->lk);
	free(t->cand);
	free(t->isgood);
	parzen_release(&t->lpz);
	parzen_release(&t->gpz);
}

enum { ROW_OUT, ROW_DONE, ROW_STOPPED, ROW_PENDING };

/*
 * Splits the observations into good and bad sides as Optuna does, rows in
 * trial order: the best done trials (then the best stopped ones, when too
 * few are done) are good, the rest and the pending ones bad. role[i] is
 * ROW_*, loss[i] the value to minimise.
 */
static void tpe_split(struct tpe_work *t, const int *role, const double *loss,
		      size_t nobs, size_t *ngood, size_t *nbad)
{
	size_t i, nk = 0, nobserved = 0, want, take, ng = 0, nb = 0;
	char *isgood = t->isgood;
	int pass;

	for (i = 0; i < nobs; i++)
		nobserved += role[i] == ROW_DONE || role[i] == ROW_STOPPED;
	want = (nobserved + 9) / 10;
	if (want > TPE_GOOD_MAX)
		want = TPE_GOOD_MAX;
	for (pass = ROW_DONE; pass <= ROW_STOPPED && want; pass++) {
		nk = 0;
		for (i = 0; i < nobs; i++)
			if (role[i] == pass) {
				t->keys[nk].v = loss[i];
				t->keys[nk++].i = i;
			}
		qsort(t->keys, nk, sizeof(*t->keys), cmp_key);
		take = nk < want ? nk : want;
		for (i = 0; i < take; i++)
			isgood[t->keys[i].i] = 1;
		want -= take;
	}
	for (i = 0; i < nobs; i++) {
		if (role[i] == ROW_OUT)
			continue;
		if (isgood[i])
			t->good[ng++] = i;
		else
			t->bad[nb++] = i;
	}
	*ngood = ng;
	*nbad = nb;
}

static cJSON *suggest_tpe(const struct search_space *s, uint64_t seed,
			  uint64_t n, const struct search_obs *obs, size_t nobs,
			  int minimize)
{
	struct dim dims[SEARCH_PARAMS_MAX];
	size_t nd = 0, i, j, c, ncand, ngood, nbad, nobserved = 0;
	struct tpe_work t = { 0 };
	int *role = NULL;
	double *loss = NULL, score, best_score = -INFINITY;
	struct rng r;
	cJSON *o = NULL;

	for (i = 0; i < s->n; i++) {
		const struct param *p = &s->p[i];
		struct dim d = { .p = p };

		if (p->kind == K_CHOICE || p->kind == K_GRID)
			d.ncat = p->nvals;
		else if (p->kind == K_INT || p->step > 0)
			d.cells = p->nsteps;
		if (d.ncat == 1 || d.cells == 1 ||
		    (!d.ncat && !d.cells && p->a == p->b))
			continue;
		dims[nd++] = d;
	}
	/* bounded by the caller's trials; the largest product checked */
	if (nobs > SIZE_MAX / sizeof(double) / (nd + 1) / 8)
		return NULL;
	role = calloc(nobs + 1, sizeof(*role));
	loss = calloc(nobs + 1, sizeof(*loss));
	t.x = calloc((nobs + 1) * (nd + 1), sizeof(double));
	t.good = calloc(nobs + 1, sizeof(size_t));
	t.bad = calloc(nobs + 1, sizeof(size_t));
	t.keys = calloc(nobs + 1, sizeof(*t.keys));
	t.w = calloc(nobs + 1, sizeof(double));
	t.lk = calloc(nobs + 2, sizeof(double));
	t.cand = calloc(nd + 1, sizeof(double));
	t.isgood = calloc(nobs + 1, 1);
	if (!role || !loss || !t.x || !t.good || !t.bad || !t.keys || !t.w ||
	    !t.lk || !t.cand || !t.isgood)
		goto out;
	for (i = 0; i < nobs; i++) {
		const struct search_obs *ob = &obs[i];

		role[i] = ROW_OUT;
		if (ob->state == SEARCH_DONE && !isnan(ob->value))
			role[i] = ROW_DONE;
		else if (ob->state == SEARCH_STOPPED)
			role[i] = ROW_STOPPED;
		else if (ob->state == SEARCH_PENDING)
			role[i] = ROW_PENDING;
		if (role[i] == ROW_OUT || !cJSON_IsObject(ob->params))
			goto skip;
		for (j = 0; j < nd; j++)
			if (dim_coord(&dims[j], cJSON_GetObjectItemCaseSensitive(
				ob->params, dims[j].p->name), &t.x[i * nd + j]))
				goto skip;
		loss[i] = isnan(ob->value) ? INFINITY :
			minimize ? ob->value : -ob->value;
		nobserved += role[i] != ROW_PENDING;
		continue;
skip:
		role[i] = ROW_OUT;
	}
	if (nobserved < TPE_STARTUP || !nd) {
		o = suggest_random(s, seed, n);
		goto out;
	}
	tpe_split(&t, role, loss, nobs, &ngood, &nbad);
	if (parzen_build(&t.lpz, dims, nd, t.x, t.good, ngood, NULL,
			 pow((double)nobserved, TPE_CLIP_POWER)))
		goto out;
	ramp_weights(t.w, nbad);
	if (parzen_build(&t.gpz, dims, nd, t.x, t.bad, nbad, t.w, (double)nbad))
		goto out;
	/* candidates from l(x); keep the first best of l(x) / g(x) */
	rng_seed(&r, seed, n, 1);
	ncand = nd * TPE_CAND_PER_DIM;
	if (ncand > TPE_CAND_MAX)
		ncand = TPE_CAND_MAX;
	for (c = 0; c < ncand; c++) {
		double y[SEARCH_PARAMS_MAX];

		parzen_draw(&t.lpz, dims, &r, y);
		score = parzen_logpdf(&t.lpz, dims, y, t.lk) -
			parzen_logpdf(&t.gpz, dims, y, t.lk);
		if (c == 0 || score > best_score) {
			best_score = score;
			memcpy(t.cand, y, nd * sizeof(double));
		}
	}
	o = cJSON_CreateObject();
	for (i = 0, j = 0; o && i < s->n; i++) {
		const struct param *p = &s->p[i];
		cJSON *v;

		if (j < nd && dims[j].p == p) {
			v = dim_value(&dims[j], t.cand[j]);
			j++;
		} else
			v = const_value(p);
		o = params_add(o, p->name, v);
	}
out:
	free(role);
	free(loss);
	tpe_release(&t);
	return o;
}

cJSON *search_suggest(const struct search_space *s, enum search_method m,
		      uint64_t seed, uint64_t n, const struct search_obs *obs,
		      size_t nobs, int minimize)
{
	switch (m) {
	case SEARCH_GRID:
		return suggest_grid(s, n);
	case SEARCH_RANDOM:
		return suggest_random(s, seed, n);
	case SEARCH_TPE:
		return suggest_tpe(s, seed, n, obs, nobs, minimize);
	}
	return NULL;
}
