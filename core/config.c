/*
 * config.c - turns the bytes a user wrote into config.json into a validated
 * struct run_config (DESIGN.md section 4). The reason for a refusal is the
 * only feedback a user gets through `cp` and `events`, so every check names
 * the key it is about. cJSON does the lexing; everything cJSON lets through
 * that we cannot accept (duplicate keys, trailing garbage, \u0000 that would
 * silently cut a string short) is refused here. A template is merged under
 * the config as a cJSON tree and the merged tree is validated again, so a
 * template can never smuggle in what the config itself could not say.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "json.h"
#include "sha256.h"
#include "strvec.h"
#include "util.h"

/* Flags of one validation pass. */
#define CK_TEMPLATE 0x1   /* a template: "template" is refused */
#define CK_FULL     0x2   /* the effective config: command required,
			     {param} resolved, inputs against depends_on */

#define WORKDIR_MAX 4096
#define IMAGE_MAX 1024
#define INPUT_PATH_MAX 4096
#define GPU_TYPE_MAX 64
/* Longest user key quoted in a reason: keeps the reason one short line. */
#define KEY_SHOWN 64

struct ctx {
	char *err;
	size_t errlen;
	unsigned flags;
};

static const char *const top_keys[] = {
	"provider", "kind", "command", "workdir", "image", "env", "params",
	"resources", "priority", "depends_on", "inputs", "max_retries",
	"timeout_s", "template", "tags", "notify", "max_cost_usd", NULL
};

static const char *const resource_keys[] = {
	"cpus", "gpus", "memory_mb", "gpu_type", NULL
};

static const char *const kinds[] = {
	"training", "synthesis", "inference", "evaluation", "conversion",
	"benchmark", NULL
};

/*
 * Object-valued keys a template contributes to member by member. "notify"
 * is not one: a config's notify replaces the template's whole, or a
 * template's webhook would keep firing next to the command a config chose.
 */
static const char *const merged_objects[] = {
	"env", "params", "resources", "tags", NULL
};

/* The integer keys, top-level or in "resources", and where they go. */
static const struct int_key {
	const char *path;       /* as named in reasons */
	int64_t lo, hi;
	size_t off;             /* of an int in struct run_config ... */
	int wide;               /* ... or of an int64_t */
} int_keys[] = {
	{ "resources.cpus", 0, 4096, offsetof(struct run_config, cpus), 0 },
	{ "resources.gpus", 0, 1024, offsetof(struct run_config, gpus), 0 },
	{ "resources.memory_mb", 0, (int64_t)1 << 40,
	  offsetof(struct run_config, memory_mb), 1 },
	{ "priority", -1000000, 1000000,
	  offsetof(struct run_config, priority), 0 },
	{ "max_retries", 0, 100, offsetof(struct run_config, max_retries), 0 },
	{ "timeout_s", 0, 31536000, offsetof(struct run_config, timeout_s), 0 },
	{ NULL, 0, 0, 0, 0 }
};

/* Writes the reason and returns TFS_EINVAL, so checks can `return fail()`. */
static int __attribute__((format(printf, 2, 3)))
fail(struct ctx *cx, const char *fmt, ...)
{
	va_list ap;
	char *p;

	if (!cx->err || !cx->errlen)
		return TFS_EINVAL;
	va_start(ap, fmt);
	vsnprintf(cx->err, cx->errlen, fmt, ap);
	va_end(ap);
	/* Keys are user bytes; the reason must stay one line in `events`. */
	for (p = cx->err; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = '?';
	return TFS_EINVAL;
}

static int in_list(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strcmp(*list, s) == 0)
			return 1;
	return 0;
}

static int ident_start(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static int ident_char(char c)
{
	return ident_start(c) || (c >= '0' && c <= '9');
}

/* Levenshtein distance, or SIZE_MAX for words too long to be a typo. */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[33], diag, up, best;

	if (la > 32 || lb > 32)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		diag = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			up = row[j];
			best = diag + (a[i - 1] != b[j - 1]);
			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			row[j] = best;
			diag = up;
		}
	}
	return row[lb];
}

static int check_keys(struct ctx *cx, const cJSON *obj,
		      const char *const *allowed, const char *prefix)
{
	const char *const *k, *best = NULL;
	const cJSON *m;
	size_t d, bestd = 3;

	cJSON_ArrayForEach(m, obj)
		if (!in_list(allowed, m->string))
			break;
	if (!m)
		return TFS_OK;
	for (k = allowed; *k; k++) {
		d = edit_distance(m->string, *k);
		if (d < bestd) {
			bestd = d;
			best = *k;
		}
	}
	if (best)
		return fail(cx, "unknown key '%s%.*s', did you mean '%s%s'?",
			    prefix, KEY_SHOWN, m->string, prefix, best);
	return fail(cx, "unknown key '%s%.*s'", prefix, KEY_SHOWN, m->string);
}

static int cmp_member(const void *a, const void *b)
{
	const cJSON *x = *(const cJSON *const *)a;
	const cJSON *y = *(const cJSON *const *)b;

	return strcmp(x->string, y->string);
}

/*
 * cJSON keeps every duplicate and lookups return the first, so a second
 * "command" would be silently ignored. Sorting keeps a hostile object with
 * 100k keys at n log n. Only the top level and its objects matter: deeper
 * values are refused anyway.
 */
static int check_dups(struct ctx *cx, const cJSON *obj, const char *prefix)
{
	char sub[KEY_SHOWN + 2];
	const cJSON **v, *m;
	int n = cJSON_GetArraySize(obj), i = 0, rc = TFS_OK;

	v = xcalloc((size_t)n, sizeof(*v));
	cJSON_ArrayForEach(m, obj)
		v[i++] = m;
	qsort(v, (size_t)n, sizeof(*v), cmp_member);
	for (i = 1; i < n && !rc; i++)
		if (strcmp(v[i - 1]->string, v[i]->string) == 0)
			rc = fail(cx, "duplicate key '%s%.*s'", prefix,
				  KEY_SHOWN, v[i]->string);
	free(v);
	cJSON_ArrayForEach(m, obj) {
		if (rc || *prefix)
			break;
		if (!cJSON_IsObject(m))
			continue;
		snprintf(sub, sizeof(sub), "%.*s.", KEY_SHOWN, m->string);
		rc = check_dups(cx, m, sub);
	}
	return rc;
}

/* The int_keys that live in obj: top-level ones or those of "resources". */
static int check_ints(struct ctx *cx, const cJSON *obj, int in_resources,
		      struct run_config *c)
{
	const struct int_key *k;
	const char *key;
	const cJSON *it;
	long long v;

	for (k = int_keys; k->path; k++) {
		key = strchr(k->path, '.');
		if (!!key != in_resources)
			continue;
		it = cJSON_GetObjectItemCaseSensitive(obj, key ? key + 1 :
						      k->path);
		if (!it)
			continue;
		if (json_int_range(it, in_resources ? "resources." : "", k->lo,
				   k->hi, &v, cx->err, cx->errlen))
			return TFS_EINVAL;
		if (k->wide)
			*(int64_t *)((char *)c + k->off) = (int64_t)v;
		else
			*(int *)((char *)c + k->off) = (int)v;
	}
	return TFS_OK;
}

/* "run" or "exp/run", each part a name_valid() name. */
static int run_ref_valid(const char *s)
{
	char exp[TFS_NAME_MAX + 1];
	const char *slash = strchr(s, '/');

	if (!slash)
		return name_valid(s);
	if ((size_t)(slash - s) > TFS_NAME_MAX)
		return 0;
	memcpy(exp, s, (size_t)(slash - s));
	exp[slash - s] = '\0';
	return name_valid(exp) && name_valid(slash + 1);
}

/* Relative, non-empty, no ".." component: inputs must stay inside a run. */
static int input_path_valid(const char *p)
{
	const char *c = p, *end;

	if (!*p || *p == '/' || strlen(p) > INPUT_PATH_MAX)
		return 0;
	for (; *c; c = *end ? end + 1 : end) {
		end = c + strcspn(c, "/");
		if (end - c == 2 && c[0] == '.' && c[1] == '.')
			return 0;
	}
	return 1;
}

/*
 * Shortest text that reads back as the same double, as JSON printers do:
 * users see "0.01", not "0.010000000000000000208". Integers below 1e15 are
 * printed whole because every one of them is exact in a double.
 */
static void render_number(double v, char out[32])
{
	int prec;

	if (v > -1e15 && v < 1e15 && v == (double)(int64_t)v) {
		/* (int64_t) also turns -0.0 into "0" */
		snprintf(out, 32, "%lld", (long long)v);
		return;
	}
	for (prec = 15; prec <= 17; prec++) {
		snprintf(out, 32, "%.*g", prec, v);
		if (strtod(out, NULL) == v)
			return;
	}
}

/*
 * Checks the value of params.x / inputs.x and returns the text to keep, or
 * NULL after fail(). num has room for a rendered number.
 */
typedef const char *(*value_fn)(struct ctx *cx, const cJSON *m,
				const struct run_config *c, char *num);

static const char *param_value(struct ctx *cx, const cJSON *m,
			       const struct run_config *c, char *num)
{
	(void)c;
	if (cJSON_IsString(m))
		return m->valuestring;
	if (cJSON_IsBool(m))
		return cJSON_IsTrue(m) ? "true" : "false";
	if (cJSON_IsNumber(m) && isfinite(m->valuedouble)) {
		render_number(m->valuedouble, num);
		return num;
	}
	fail(cx, "'params.%s' must be a number, string or boolean", m->string);
	return NULL;
}

static const char *input_value(struct ctx *cx, const cJSON *m,
			       const struct run_config *c, char *num)
{
	char run[2 * TFS_NAME_MAX + 2];
	const char *colon;
	int i, found;

	(void)num;
	colon = cJSON_IsString(m) ? strchr(m->valuestring, ':') : NULL;
	if (!colon || (size_t)(colon - m->valuestring) >= sizeof(run)) {
		fail(cx, "'inputs.%s' must be \"run:path\" or \"exp/run:path\"",
		     m->string);
		return NULL;
	}
	memcpy(run, m->valuestring, (size_t)(colon - m->valuestring));
	run[colon - m->valuestring] = '\0';
	if (!run_ref_valid(run) || !input_path_valid(colon + 1)) {
		fail(cx, "'inputs.%s' must be \"run:path\" or \"exp/run:path\" with a relative path without '..'",
		     m->string);
		return NULL;
	}
	/* A dependency's artifacts exist only once it completed. */
	found = !(cx->flags & CK_FULL);
	for (i = 0; !found && i < c->ndeps; i++)
		found = strcmp(c->depends_on[i], run) == 0;
	if (!found) {
		fail(cx, "input '%s' names run '%s' which is not in 'depends_on'",
		     m->string, run);
		return NULL;
	}
	return m->valuestring;
}

/* The maps from names to strings: env, params, tags, inputs. */
static const struct map_key {
	const char *name;
	const char *what;       /* a member's key, in reasons */
	int max;                /* members */
	size_t key_max;
	int ident;              /* keys are [A-Za-z_][A-Za-z0-9_]* */
	size_t value_max;       /* for plain string values ... */
	value_fn value;         /* ... or a checker of its own */
	size_t off, noff;       /* of the struct kv * and its count */
} map_keys[] = {
	{ "env", "env key", CONFIG_MAX_ENV, 256, 1, 65536, NULL,
	  offsetof(struct run_config, env), offsetof(struct run_config, nenv) },
	{ "params", "param name", 1024, 128, 1, 0, param_value,
	  offsetof(struct run_config, params),
	  offsetof(struct run_config, nparams) },
	{ "tags", "tag name", 256, 128, 0, 1024, NULL,
	  offsetof(struct run_config, tags), offsetof(struct run_config, ntags) },
	/* last: inputs are checked against depends_on */
	{ "inputs", "input name", 256, 128, 1, 0, input_value,
	  offsetof(struct run_config, inputs),
	  offsetof(struct run_config, ninputs) },
	{ NULL, NULL, 0, 0, 0, 0, NULL, 0, 0 }
};

/* Fills the map's struct kv array (released by config_release() always). */
static int check_map(struct ctx *cx, const cJSON *root,
		     const struct map_key *k, struct run_config *c)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, k->name), *m;
	struct kv **v = (struct kv **)((char *)c + k->off);
	int *n = (int *)((char *)c + k->noff), count;
	const char *val;
	char num[32];

	if (!it)
		return TFS_OK;
	if (!cJSON_IsObject(it))
		return fail(cx, "'%s' must be an object", k->name);
	count = cJSON_GetArraySize(it);
	if (count > k->max)
		return fail(cx, "'%s' has more than %d entries", k->name,
			    k->max);
	*v = xcalloc((size_t)count, sizeof(**v));
	cJSON_ArrayForEach(m, it) {
		if (k->ident ? !ident_valid(m->string, k->key_max) :
		    !m->string[0] || strlen(m->string) > k->key_max)
			return fail(cx, "%s '%.*s' must be %s, 1 to %zu bytes",
				    k->what, KEY_SHOWN, m->string, k->ident ?
				    "letters, digits and '_' (not first)" :
				    "text", k->key_max);
		/* TRAINFS_* is how the job learns about its run. */
		if (k->off == offsetof(struct run_config, env) &&
		    strncmp(m->string, "TRAINFS_", 8) == 0)
			return fail(cx, "env key '%.*s' is reserved",
				    KEY_SHOWN, m->string);
		if (k->value) {
			val = k->value(cx, m, c, num);
			if (!val)
				return TFS_EINVAL;
		} else if (cJSON_IsString(m) &&
			   strlen(m->valuestring) <= k->value_max) {
			val = m->valuestring;
		} else {
			return fail(cx, "'%s.%s' must be a string of at most %zu bytes",
				    k->name, m->string, k->value_max);
		}
		(*v)[*n].key = xstrdup(m->string);
		(*v)[*n].value = xstrdup(val);
		(*n)++;
	}
	return TFS_OK;
}

static int check_depends(struct ctx *cx, const cJSON *it,
			 struct run_config *c)
{
	const cJSON *m;
	int n, i;

	if (!cJSON_IsArray(it))
		return fail(cx, "'depends_on' must be an array of run names");
	n = cJSON_GetArraySize(it);
	if (n > CONFIG_MAX_DEPS)
		return fail(cx, "'depends_on' has more than %d entries",
			    CONFIG_MAX_DEPS);
	c->depends_on = xcalloc((size_t)n + 1, sizeof(*c->depends_on));
	cJSON_ArrayForEach(m, it) {
		if (!cJSON_IsString(m) || !run_ref_valid(m->valuestring))
			return fail(cx, "'depends_on[%d]' must be \"run\" or \"exp/run\" with valid names",
				    c->ndeps);
		for (i = 0; i < c->ndeps; i++)
			if (strcmp(c->depends_on[i], m->valuestring) == 0)
				return fail(cx, "'depends_on' lists '%s' twice",
					    m->valuestring);
		c->depends_on[c->ndeps++] = xstrdup(m->valuestring);
	}
	return TFS_OK;
}

/* A {name} reference looked up in params sorted by key. */
struct param_ref {
	const char *name;
	size_t len;
};

static int cmp_param(const void *a, const void *b)
{
	return strcmp((*(const struct kv *const *)a)->key,
		      (*(const struct kv *const *)b)->key);
}

static int cmp_ref(const void *ref, const void *elem)
{
	const struct param_ref *r = ref;
	const char *key = (*(const struct kv *const *)elem)->key;
	int d = strncmp(r->name, key, r->len);

	return d ? d : -(key[r->len] != '\0');
}

/*
 * Renders one argument: {name} -> params.name, {{ and }} -> one brace, any
 * other brace as itself ("{}", "{ x}"). An unknown {name} is an error rather
 * than left as text, so a misspelt param never reaches the job. A shell's
 * ${VAR} is left as written, for the `sh -c` it is meant for (${{VAR}}
 * still gives ${VAR}).
 */
static int substitute(struct ctx *cx, const struct kv **sorted, int n,
		      const char *arg, int idx, char **out)
{
	struct buf b = BUF_INIT(CONFIG_MAX_ARG_LEN);
	const struct kv **hit;
	struct param_ref ref;
	const char *p = arg, *q;
	size_t lit;
	int rc = TFS_OK;

	while (*p && !rc) {
		lit = strcspn(p, "{}");
		if (lit) {
			rc = buf_append(&b, p, lit);
			p += lit;
			continue;
		}
		if (p[0] == p[1]) {             /* "{{" or "}}" */
			rc = buf_append(&b, p, 1);
			p += 2;
			continue;
		}
		if (p[0] == '{' && p > arg && p[-1] == '$') {
			/* ${VAR}: the shell's, through its closing brace */
			q = strchr(p, '}');
			lit = q ? (size_t)(q - p) + 1 : strlen(p);
			rc = buf_append(&b, p, lit);
			p += lit;
			continue;
		}
		for (q = p + 1; p[0] == '{' && ident_char(*q); q++)
			;
		if (q == p + 1 || *q != '}' || !ident_start(p[1])) {
			rc = buf_append(&b, p++, 1);
			continue;
		}
		ref.name = p + 1;
		ref.len = (size_t)(q - p - 1);
		hit = bsearch(&ref, sorted, (size_t)n, sizeof(*sorted),
			      cmp_ref);
		if (!hit) {
			buf_release(&b);
			return fail(cx, "command references unknown param '%.*s' "
				    "(a literal brace is written {{ or }})",
				    (int)(ref.len > KEY_SHOWN ? KEY_SHOWN :
					  ref.len), ref.name);
		}
		rc = buf_puts(&b, (*hit)->value);
		p = q + 1;
	}
	if (rc) {
		buf_release(&b);
		return fail(cx, "'command[%d]' is longer than %d bytes after substitution",
			    idx, CONFIG_MAX_ARG_LEN);
	}
	*out = buf_detach(&b, NULL);
	return TFS_OK;
}

static int check_command(struct ctx *cx, const cJSON *it,
			 struct run_config *c)
{
	const struct kv **sorted;
	const cJSON *m;
	size_t total = 0;
	int n, i, rc = TFS_OK;

	n = cJSON_IsArray(it) ? cJSON_GetArraySize(it) : 0;
	if (n == 0)
		return fail(cx, "'command' must be a non-empty array of strings");
	if (n > CONFIG_MAX_ARGS)
		return fail(cx, "'command' has more than %d arguments",
			    CONFIG_MAX_ARGS);
	c->argv = xcalloc((size_t)n + 1, sizeof(*c->argv));
	/* Sorted once: a hostile command holds 300k {name} references. */
	sorted = xcalloc((size_t)c->nparams, sizeof(*sorted));
	for (i = 0; i < c->nparams; i++)
		sorted[i] = &c->params[i];
	qsort(sorted, (size_t)c->nparams, sizeof(*sorted), cmp_param);
	cJSON_ArrayForEach(m, it) {
		if (!cJSON_IsString(m)) {
			rc = fail(cx, "'command[%d]' must be a string", c->argc);
		} else if (strlen(m->valuestring) > CONFIG_MAX_ARG_LEN) {
			rc = fail(cx, "'command[%d]' is longer than %d bytes",
				  c->argc, CONFIG_MAX_ARG_LEN);
		} else if (!(cx->flags & CK_FULL)) {
			/* Before the merge params may still come from a template. */
			c->argv[c->argc++] = xstrdup(m->valuestring);
		} else {
			rc = substitute(cx, sorted, c->nparams, m->valuestring,
					c->argc, &c->argv[c->argc]);
			if (!rc)
				c->argc++;
		}
		if (rc)
			break;
		total += strlen(c->argv[c->argc - 1]) + 1;
		if (total > CONFIG_MAX_ARGV_TOTAL) {
			rc = fail(cx, "'command' is longer than %d bytes in total",
				  CONFIG_MAX_ARGV_TOTAL);
			break;
		}
	}
	free(sorted);
	if (!rc && !c->argv[0][0])
		rc = fail(cx, "'command[0]' must not be empty");
	return rc;
}

/* notify.c owns the rules; its reason passes through fail() to be one line. */
static int check_notify(struct ctx *cx, const cJSON *it, struct run_config *c)
{
	char reason[CONFIG_REASON_MAX];

	if (notify_parse(it, &c->notify, reason, sizeof(reason)))
		return fail(cx, "%s", reason);
	c->has_notify = 1;
	return TFS_OK;
}

/*
 * "provider": a name, or a list of 1..CONFIG_PROVIDERS_MAX distinct names
 * the scheduler chooses from (the cheapest that fits when the run is next
 * to start). c->provider is the first, c->providers all of them.
 */
static int check_providers(struct ctx *cx, const cJSON *root,
			   struct run_config *c)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "provider");
	const cJSON *e;
	int n = 0, i;

	if (!it || cJSON_IsString(it)) {
		if (it && !name_valid(it->valuestring))
			return fail(cx, "'provider' must be a name of letters, digits, '.', '_' or '-'");
		c->provider = xstrdup(it ? it->valuestring : "local");
		c->providers = xcalloc(2, sizeof(char *));
		c->providers[0] = xstrdup(c->provider);
		c->nproviders = 1;
		return TFS_OK;
	}
	if (!cJSON_IsArray(it))
		return fail(cx, "'provider' must be a provider name or a list of them");
	n = cJSON_GetArraySize(it);
	if (n < 1 || n > CONFIG_PROVIDERS_MAX)
		return fail(cx, "'provider' must list 1 to %d providers",
			    CONFIG_PROVIDERS_MAX);
	c->providers = xcalloc((size_t)n + 1, sizeof(char *));
	cJSON_ArrayForEach(e, it) {
		if (!cJSON_IsString(e) || !name_valid(e->valuestring))
			return fail(cx, "'provider[%d]' must be a name of letters, digits, '.', '_' or '-'",
				    c->nproviders);
		for (i = 0; i < c->nproviders; i++)
			if (!strcmp(c->providers[i], e->valuestring))
				return fail(cx, "'provider' lists '%s' twice",
					    e->valuestring);
		c->providers[c->nproviders++] = xstrdup(e->valuestring);
	}
	c->provider = xstrdup(c->providers[0]);
	return TFS_OK;
}

/* "max_cost_usd": a budget in USD, > 0 and at most CONFIG_COST_MAX. */
static int check_max_cost(struct ctx *cx, const cJSON *root,
			  struct run_config *c)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(root, "max_cost_usd");

	if (!it)
		return TFS_OK;
	if (!cJSON_IsNumber(it) || !(it->valuedouble > 0) ||
	    it->valuedouble > CONFIG_COST_MAX)
		return fail(cx, "'max_cost_usd' must be a number of USD above 0 and at most %d",
			    CONFIG_COST_MAX);
	c->max_cost_usd = it->valuedouble;
	return TFS_OK;
}

/* A member of obj or NULL; *bad says it is there but not a string. */
static const cJSON *str_key(const cJSON *obj, const char *key, int *bad)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(obj, key);

	*bad = it && !cJSON_IsString(it);
	return it;
}

/*
 * One pass over a parsed config or template. Fills c (owned by the caller,
 * released by it on error too). Params come before command and depends_on
 * before inputs because the later ones refer to the earlier.
 */
static int validate(struct ctx *cx, const cJSON *root, struct run_config *c)
{
	const struct map_key *k;
	const cJSON *it;
	int rc, bad;

	if (!cJSON_IsObject(root))
		return fail(cx, "config must be a JSON object");
	if ((rc = check_dups(cx, root, "")) ||
	    (rc = check_keys(cx, root, top_keys, "")))
		return rc;
	if ((cx->flags & CK_TEMPLATE) &&
	    cJSON_GetObjectItemCaseSensitive(root, "template"))
		return fail(cx, "templates cannot use 'template'");

	if ((rc = check_providers(cx, root, c)) ||
	    (rc = check_max_cost(cx, root, c)))
		return rc;
	it = str_key(root, "kind", &bad);
	if (bad || (it && !in_list(kinds, it->valuestring)))
		return fail(cx, "'kind' must be one of training, synthesis, inference, evaluation, conversion, benchmark");
	c->kind = xstrdup(it ? it->valuestring : "training");
	it = str_key(root, "workdir", &bad);
	if (bad || (it && (it->valuestring[0] != '/' ||
			   strlen(it->valuestring) > WORKDIR_MAX)))
		return fail(cx, "'workdir' must be an absolute path of at most %d bytes",
			    WORKDIR_MAX);
	c->workdir = it ? xstrdup(it->valuestring) : NULL;
	it = str_key(root, "image", &bad);
	if (bad || (it && strlen(it->valuestring) > IMAGE_MAX))
		return fail(cx, "'image' must be a string of at most %d bytes",
			    IMAGE_MAX);
	c->image = it ? xstrdup(it->valuestring) : NULL;
	it = str_key(root, "template", &bad);
	if (bad || (it && !name_valid(it->valuestring)))
		return fail(cx, "'template' must be a template name");
	c->template_name = it ? xstrdup(it->valuestring) : NULL;

	for (k = map_keys; k->name && strcmp(k->name, "inputs"); k++)
		if ((rc = check_map(cx, root, k, c)))
			return rc;
	if ((rc = check_ints(cx, root, 0, c)))
		return rc;

	c->cpus = 1;
	it = cJSON_GetObjectItemCaseSensitive(root, "resources");
	if (it && !cJSON_IsObject(it))
		return fail(cx, "'resources' must be an object");
	if (it && ((rc = check_keys(cx, it, resource_keys, "resources.")) ||
		   (rc = check_ints(cx, it, 1, c))))
		return rc;
	it = it ? str_key(it, "gpu_type", &bad) : NULL;
	if (it && (bad || strlen(it->valuestring) > GPU_TYPE_MAX))
		return fail(cx, "'resources.gpu_type' must be a string of at most %d bytes",
			    GPU_TYPE_MAX);
	c->gpu_type = it ? xstrdup(it->valuestring) : NULL;

	it = cJSON_GetObjectItemCaseSensitive(root, "depends_on");
	if ((it && (rc = check_depends(cx, it, c))) ||
	    (rc = check_map(cx, root, k, c)))
		return rc;

	it = cJSON_GetObjectItemCaseSensitive(root, "notify");
	if (it && (rc = check_notify(cx, it, c)))
		return rc;

	it = cJSON_GetObjectItemCaseSensitive(root, "command");
	if (it)
		return check_command(cx, it, c);
	if (cx->flags & CK_FULL)
		return fail(cx, "'command' is required");
	return TFS_OK;
}

/* After a successful parse backslashes only occur inside strings. */
static int has_nul_escape(const char *s)
{
	for (; *s; s++) {
		if (*s != '\\')
			continue;
		if (s[1] == 'u' && strncmp(s + 2, "0000", 4) == 0)
			return 1;
		if (s[1])
			s++;    /* so the "\\" of "\\u0000" is not read again */
	}
	return 0;
}

int config_scan_feed(struct config_scan *sc, const char *text, size_t len)
{
	int was_complete = sc->complete, check = 0;

	for (; sc->pos < len; sc->pos++) {
		char ch = text[sc->pos];
		int blank = ch == ' ' || ch == '\t' || ch == '\r' ||
			    ch == '\n';

		if (sc->complete) {
			if (!blank)
				sc->trailing = check = 1;
			continue;
		}
		if (!sc->started) {
			if (blank)
				continue;
			sc->started = 1;
			if (ch != '{')
				sc->not_object = check = 1;
		}
		if (sc->in_string) {
			if (sc->escape)
				sc->escape = 0;
			else if (ch == '\\')
				sc->escape = 1;
			else if (ch == '"')
				sc->in_string = 0;
			continue;
		}
		if (ch == '"') {
			sc->in_string = 1;
		} else if (ch == '{' || ch == '[') {
			if (++sc->depth > sc->max_depth)
				sc->max_depth = sc->depth;
			if (sc->depth > CONFIG_MAX_DEPTH && !sc->too_deep_at)
				sc->too_deep_at = sc->pos + 1;
		} else if (ch == '}' || ch == ']') {
			if (--sc->depth <= 0)
				sc->complete = 1;
		} else if (!sc->depth) {
			sc->complete = 1;       /* a bare scalar: never a config */
		}
	}
	return check || (sc->complete && !was_complete);
}

/* Line and column (from 1) of byte off of text. */
static void text_position(const char *text, size_t off, size_t *line,
			  size_t *col)
{
	size_t i;

	*line = *col = 1;
	for (i = 0; i < off; i++) {
		(*col)++;
		if (text[i] == '\n') {
			(*line)++;
			*col = 1;
		}
	}
}

/*
 * cJSON turns a number too large for a double (1e309) into infinity,
 * which every later check would call "not a number". Finds the first such
 * number; path gets its key ("params.lr", "command[2]").
 */
static int find_nonfinite(const cJSON *it, char *path, size_t plen)
{
	const cJSON *m;
	size_t n = strlen(path);
	int i = 0;

	if (cJSON_IsNumber(it))
		return !isfinite(it->valuedouble);
	cJSON_ArrayForEach(m, it) {
		if (cJSON_IsObject(it))
			snprintf(path + n, plen - n, "%s%.*s", n ? "." : "",
				 KEY_SHOWN, m->string);
		else
			snprintf(path + n, plen - n, "[%d]", i);
		if (find_nonfinite(m, path, plen))
			return 1;
		path[n] = '\0';
		i++;
	}
	return 0;
}

/*
 * Lexes text into *rootp (caller deletes). what is "config" or "template",
 * the subject of the reasons for the whole text.
 */
static int parse_text(struct ctx *cx, const char *text, size_t len,
		      const char *what, cJSON **rootp)
{
	struct config_scan sc = CONFIG_SCAN_INIT;
	const char *end = NULL;
	size_t i, off, line = 1, col = 1;
	char path[256] = "";
	char *copy;
	cJSON *root;

	*rootp = NULL;
	if (len > CONFIG_MAX_BYTES) {
		fail(cx, "%s is larger than %d bytes", what, CONFIG_MAX_BYTES);
		return TFS_EFBIG;
	}
	for (i = 0; i < len && (text[i] == ' ' || text[i] == '\t' ||
				text[i] == '\r' || text[i] == '\n'); i++)
		;
	if (i == len)
		return fail(cx, "%s is empty", what);
	/* A raw NUL would end the text early for cJSON and hide the rest. */
	if ((end = memchr(text, '\0', len)))
		return fail(cx, "%s contains a NUL byte at byte %zu", what,
			    (size_t)(end - text));
	/* cJSON stops at its own limit with only a position to show */
	config_scan_feed(&sc, text, len);
	if (sc.too_deep_at) {
		text_position(text, sc.too_deep_at - 1, &line, &col);
		return fail(cx, "%s is nested too deeply: more than %d levels "
			    "at line %zu column %zu", what, CONFIG_MAX_DEPTH,
			    line, col);
	}
	/* A terminated copy lets cJSON refuse trailing garbage. */
	copy = xmalloc(len + 1);
	memcpy(copy, text, len);
	copy[len] = '\0';
	root = cJSON_ParseWithLengthOpts(copy, len + 1, &end, 1);
	if (!root) {
		off = end && end >= copy ? (size_t)(end - copy) : 0;
		if (off > len)
			off = len;
		text_position(copy, off, &line, &col);
		free(copy);
		return fail(cx, "invalid JSON at line %zu column %zu (byte %zu)",
			    line, col, off);
	}
	/* cJSON would cut the string at a \u0000; argv cannot carry one. */
	if (has_nul_escape(copy)) {
		free(copy);
		cJSON_Delete(root);
		return fail(cx, "%s must not contain \\u0000", what);
	}
	free(copy);
	if (find_nonfinite(root, path, sizeof(path))) {
		cJSON_Delete(root);
		return fail(cx, "'%s' is out of range: a number must be finite "
			    "and at most about 1.8e308", path);
	}
	*rootp = root;
	return TFS_OK;
}

/* Parses and checks a template; *rootp (may be NULL) gets the tree. */
static int template_load(struct ctx *cx, const char *text, size_t len,
			 cJSON **rootp)
{
	struct run_config scratch;
	cJSON *root;
	int rc;

	memset(&scratch, 0, sizeof(scratch));
	cx->flags = CK_TEMPLATE;
	rc = parse_text(cx, text, len, "template", &root);
	if (rc)
		return rc;
	rc = validate(cx, root, &scratch);
	config_release(&scratch);
	if (rc || !rootp)
		cJSON_Delete(root);
	else
		*rootp = root;
	return rc;
}

/* Adds to dst every member of src that dst lacks (dst wins). */
static int merge_members(cJSON *dst, const cJSON *src, int deep)
{
	const cJSON *s;
	cJSON *d, *dup;
	int rc;

	cJSON_ArrayForEach(s, src) {
		d = cJSON_GetObjectItemCaseSensitive(dst, s->string);
		if (d) {
			if (deep && in_list(merged_objects, s->string) &&
			    cJSON_IsObject(d) && cJSON_IsObject(s) &&
			    (rc = merge_members(d, s, 0)))
				return rc;
			continue;
		}
		dup = cJSON_Duplicate(s, 1);
		if (!dup || !cJSON_AddItemToObject(dst, s->string, dup)) {
			cJSON_Delete(dup);
			return TFS_ENOMEM;
		}
	}
	return TFS_OK;
}

static int template_merge(struct ctx *cx, cJSON *root, const char *name,
			  config_template_fn tpl, void *tpl_arg)
{
	char reason[CONFIG_REASON_MAX] = "";
	struct ctx sub = { reason, sizeof(reason), 0 };
	char *text = tpl ? tpl(tpl_arg, name) : NULL;
	cJSON *troot = NULL;
	int rc;

	if (!text)
		return fail(cx, "template '%s' not found", name);
	rc = template_load(&sub, text, strlen(text), &troot);
	free(text);
	if (rc)
		return fail(cx, "template '%s' is invalid: %s", name, reason);
	rc = merge_members(root, troot, 1);
	cJSON_Delete(troot);
	if (rc)
		fail(cx, "out of memory merging template '%s'", name);
	return rc;
}

int config_parse(const char *text, size_t len, config_template_fn tpl,
		 void *tpl_arg, struct run_config *out,
		 char *err, size_t errlen)
{
	struct ctx cx = { err, errlen, 0 };
	struct run_config c;
	cJSON *root = NULL;
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (err && errlen)
		err[0] = '\0';
	rc = parse_text(&cx, text, len, "config", &root);
	if (rc)
		goto out;
	/* The config as written first, so its own mistakes are named. */
	rc = validate(&cx, root, &c);
	if (rc)
		goto out;
	if (c.template_name) {
		rc = template_merge(&cx, root, c.template_name, tpl, tpl_arg);
		if (rc)
			goto out;
	}
	config_release(&c);
	cx.flags = CK_FULL;
	rc = validate(&cx, root, &c);
	if (rc)
		goto out;
	c.merged_json = cJSON_PrintUnformatted(root);
	if (!c.merged_json) {
		fail(&cx, "out of memory printing the config");
		rc = TFS_ENOMEM;
		goto out;
	}
	sha256_hex(text, len, c.sha256);
	*out = c;
out:
	cJSON_Delete(root);
	if (rc)
		config_release(&c);
	return rc;
}

int config_template_check(const char *text, size_t len,
			  char *err, size_t errlen)
{
	struct ctx cx = { err, errlen, 0 };

	int rc;

	if (err && errlen)
		err[0] = '\0';
	rc = template_load(&cx, text, len, NULL);
	/* The contract has no TFS_EFBIG here; the reason still says why. */
	return rc == TFS_EFBIG ? TFS_EINVAL : rc;
}

static void kv_free(struct kv *v, int n)
{
	while (v && n-- > 0) {
		free(v[n].key);
		free(v[n].value);
	}
	free(v);
}

void config_release(struct run_config *c)
{
	free(c->provider);
	strv_free(c->providers);
	free(c->kind);
	strv_free(c->argv);
	free(c->workdir);
	free(c->image);
	kv_free(c->env, c->nenv);
	kv_free(c->params, c->nparams);
	free(c->gpu_type);
	strv_free(c->depends_on);
	kv_free(c->inputs, c->ninputs);
	free(c->template_name);
	kv_free(c->tags, c->ntags);
	notify_target_release(&c->notify);
	/* cJSON_PrintUnformatted used cJSON's allocator; hooks are default. */
	cJSON_free(c->merged_json);
	memset(c, 0, sizeof(*c));
}
