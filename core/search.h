/*
 * search.h - the search methods of a sweep (DESIGN.md section 7): the
 * parameter space of sweep.json, and the params of trial n by grid, random
 * or TPE search. Pure functions: no I/O, no locks, no globals, no clock, no
 * rand(): the same inputs give the same params on every run, so a daemon
 * that restarts mid-sweep suggests what it would have suggested.
 */
#ifndef TFS_SEARCH_H
#define TFS_SEARCH_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

struct search_space;                 /* opaque */

enum search_method { SEARCH_GRID, SEARCH_RANDOM, SEARCH_TPE };

#define SEARCH_PARAMS_MAX 64         /* parameters in a space */
#define SEARCH_GRID_MAX 1000000      /* points of a grid */
#define SEARCH_VALUES_MAX 1000       /* values of one choice or grid list */
#define SEARCH_STRING_MAX 1024       /* bytes of a string value, as params */
#define SEARCH_NAME_MAX 64           /* bytes of a parameter name */
#define SEARCH_INT_MAX 9007199254740992.0 /* 2^53: |int bound| */
#define SEARCH_STEPS_MAX 1000000000000000.0 /* steps of a range, 10^15 */

/*
 * Parses sweep.json's "space" object: per parameter one of
 *   {"choice": [...]} or {"grid": [...]}: JSON numbers (finite), strings (at
 *     most SEARCH_STRING_MAX bytes) or booleans, at most SEARCH_VALUES_MAX,
 *     none repeated;
 *   {"uniform": [a, b]} (a <= b), {"loguniform": [a, b]} (0 < a < b),
 *   {"int": [a, b]} (integers, a <= b, |a|, |b| <= 2^53);
 * optionally "step" with uniform and int (a positive number; for int an
 * integer; at most SEARCH_STEPS_MAX steps in the range). Parameter names are
 * [A-Za-z_][A-Za-z0-9_]{0,63}, like config params; their order is the
 * order of the object, and it is the order of the grid (the last varies
 * fastest) and of the params search_suggest() returns.
 * Returns TFS_OK and *out (free with search_space_free), or TFS_EINVAL with
 * a sentence naming the parameter in why (may be NULL), e.g.
 * "space.lr: loguniform needs 0 < a < b", or TFS_ENOMEM.
 */
int search_space_parse(const cJSON *space, struct search_space **out,
		       char *why, size_t whylen);
void search_space_free(struct search_space *s);

/* The number of parameters of s, and the name of the i-th (borrowed). */
size_t search_space_count(const struct search_space *s);
const char *search_space_name(const struct search_space *s, size_t i);

/*
 * Method grid: *n = the number of points of the product of grid and choice
 * lists, int ranges with their step (default 1) and uniform ranges with a
 * step. Returns TFS_OK, or TFS_EINVAL with why when a parameter cannot be
 * enumerated ("space.lr: uniform without step cannot be a grid") or the
 * product exceeds SEARCH_GRID_MAX.
 */
int search_grid_size(const struct search_space *s, uint64_t *n, char *why,
		     size_t whylen);

/*
 * "grid", "random", "tpe" into *out; returns 0, or -1 for any other name
 * (or NULL) with *out untouched.
 */
int search_method_parse(const char *name, enum search_method *out);
/* The name search_method_parse() reads ("grid"...), never NULL. */
const char *search_method_name(enum search_method m);

/*
 * The states of a trial as TPE sees them. SEARCH_STOPPED (added after the
 * first three) is a trial the median rule stopped early, value its last
 * objective (NaN when it reported none): it counts as observed, always on
 * the bad side unless fewer trials are done than the good side needs, as
 * Optuna does with pruned trials. A DONE trial whose value is NaN counts as
 * failed.
 */
enum search_obs_state { SEARCH_DONE, SEARCH_FAILED, SEARCH_PENDING,
			SEARCH_STOPPED };

struct search_obs {
	const cJSON *params;   /* that trial's params object, as search_suggest gave it */
	double value;          /* the objective, meaningful when state == SEARCH_DONE
				* (or SEARCH_STOPPED) */
	int state;             /* enum search_obs_state; PENDING = still running */
};

/*
 * The params of trial n (0-based) as a new cJSON object {"name": value, ...}
 * in the order of the space (caller frees with cJSON_Delete), or NULL on
 * allocation failure, and for grid when n is not below the grid size or the
 * space is not a grid (the caller checks search_grid_size() first).
 * obs: the trials before n that exist, in trial order (nobs of them, any
 * state; borrowed); params of an obs that do not fit the space (missing,
 * out of range, not a listed value) leave that trial out. minimize: 1 for
 * mode min, 0 for max. Values: int params as JSON integers, floats as
 * doubles rounded to 15 significant digits (0.3, not 0.30000000000000004,
 * and a value cJSON prints and reads back bit for bit, so that params
 * stored as text and read back give the same suggestions), choice/grid as
 * the listed JSON value.
 *
 * Deterministic: the same (space, method, seed, n, obs) give the same params
 * on any machine with IEEE doubles and the same libm (exp, log, erfc may
 * differ in the last bit between C libraries, and so may a float); the
 * generator is xoshiro256** seeded by splitmix64 from (seed, n), so trial n
 * of a random sweep does not depend on which trials completed.
 *  grid: point n of the product, mixed radix with the last parameter
 *    fastest; obs and seed unused.
 *  random: independent uniform draws (loguniform uniform in log space, int
 *    inclusive, steps respected); obs unused.
 *  tpe: Optuna's TPESampler as of Optuna 5 (multivariate, constant liar):
 *    while fewer than 10 trials are observed (done or stopped), the random
 *    method's params; then the observed trials are split, the best
 *    min(ceil(n / 10), 25) good (stopped ones only when too few are done)
 *    and the rest bad; l(x) and g(x) are mixtures of products of truncated
 *    Gaussians (log scale for loguniform, the mass of a step for int and
 *    stepped uniform) and categorical kernels, bandwidths from the
 *    neighbours' distances with Optuna's magic clip, a prior kernel of
 *    weight 1, Optuna's ramp of weights for older bad trials; candidates
 *    are drawn from l(x) and the one maximising l(x) / g(x) wins. Two
 *    departures, measured (tools/bench_search.sh, on 200 seeds): 24
 *    candidates per modelled parameter (at most 256; Optuna: 24), and the
 *    good side's bandwidths floored by the number of observed trials
 *    (1 / min(100, n^0.75 + 2)), not by the good side's tenth of them.
 *    Failed trials (and done ones whose value is NaN) count neither as good
 *    nor bad. PENDING trials are on the bad side (not in the n that sizes
 *    the good side), so that trials started while others run spread out.
 *    Parameters with one value are not modelled. Cost O(C n d): about 0.1 s
 *    for n = 1000 trials of d = 64 parameters, 1 s for 10,000.
 */
cJSON *search_suggest(const struct search_space *s, enum search_method m,
		      uint64_t seed, uint64_t n, const struct search_obs *obs,
		      size_t nobs, int minimize);

#endif
