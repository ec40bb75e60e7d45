/*
 * config.h - parsing and validation of a run's config.json (DESIGN.md
 * section 4): unknown keys, types and ranges are refused with a reason
 * that names the key; a template is merged under the config; {param} in
 * the command is substituted. Pure functions: no I/O, no locks.
 */
#ifndef TFS_CONFIG_H
#define TFS_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#include "notify.h"

#define CONFIG_MAX_BYTES (1024 * 1024)   /* larger: TFS_EFBIG */
#define CONFIG_MAX_ARGS 4096
#define CONFIG_MAX_ARG_LEN 65536
#define CONFIG_MAX_ARGV_TOTAL (2 * 1024 * 1024) /* all of argv after {param}
						  substitution: below ARG_MAX */
#define CONFIG_MAX_ENV 1024
#define CONFIG_MAX_DEPS 256
#define CONFIG_REASON_MAX 512

/* A key/value string pair list (env, inputs, tags, rendered params). */
struct kv {
	char *key;
	char *value;
};

#define CONFIG_PROVIDERS_MAX 8  /* names in a "provider" list */
#define CONFIG_COST_MAX 1000000 /* USD, the largest max_cost_usd */

struct run_config {
	char *provider;        /* default "local"; the first of a list */
	char **providers;      /* "provider" as a list (1 name if a string),
				  NULL-terminated */
	int nproviders;
	double max_cost_usd;   /* 0: no budget */
	char *kind;            /* training|synthesis|inference|evaluation|
				  conversion|benchmark; default "training" */
	char **argv;           /* NULL-terminated, {param} substituted */
	int argc;
	char *workdir;         /* absolute path or NULL */
	char *image;           /* or NULL */
	struct kv *env;        /* user env, validated names */
	int nenv;
	struct kv *params;     /* params rendered as strings (numbers as
				  JSON prints them, strings as-is,
				  true/false) */
	int nparams;
	int cpus;              /* default 1, 0..4096 */
	int gpus;              /* default 0, 0..1024 */
	int64_t memory_mb;     /* default 0 (no limit), 0..2^40 */
	char *gpu_type;        /* or NULL */
	int priority;          /* default 0, -1000000..1000000 */
	char **depends_on;     /* "run" or "exp/run", validated names */
	int ndeps;
	struct kv *inputs;     /* name -> "run:path" or "exp/run:path" */
	int ninputs;
	int max_retries;       /* 0..100 */
	int timeout_s;         /* 0 (none) .. 365 days */
	char *template_name;   /* or NULL */
	struct kv *tags;
	int ntags;
	struct notify_target notify; /* valid when has_notify */
	int has_notify;
	char *merged_json;     /* the effective config after the template
				  merge, as compact JSON */
	char sha256[65];       /* SHA-256 of the text as submitted */
};

/*
 * Returns the JSON text of template name (caller frees), or NULL when
 * there is no such template.
 */
typedef char *(*config_template_fn)(void *arg, const char *name);

/*
 * Parses and validates text (len bytes, not necessarily NUL-terminated).
 * On success returns TFS_OK and fills out (release with config_release()).
 * On failure returns TFS_EINVAL (or TFS_EFBIG past CONFIG_MAX_BYTES) and
 * writes one sentence into err naming the key, e.g.
 *   "unknown key 'comand'", "'resources.cpus' must be an integer from 0 to
 *   4096", "'command' must be a non-empty array of strings",
 *   "command references unknown param 'lr'", "template 'x' not found",
 *   "invalid JSON at line 3 column 5";
 * out is then left zeroed. tpl may be NULL (then "template" is an error).
 */
int config_parse(const char *text, size_t len, config_template_fn tpl,
		 void *tpl_arg, struct run_config *out,
		 char *err, size_t errlen);

/*
 * Validates a template: a JSON object with only config keys, checked as
 * config_parse() checks them, but no key is required and "template" is not
 * allowed (no chains). Returns TFS_OK or TFS_EINVAL with err filled.
 */
int config_template_check(const char *text, size_t len,
			  char *err, size_t errlen);

/*
 * An incremental look at JSON text as it is written, to tell when the
 * bytes so far hold one complete value: a writer that never checks close()
 * (a shell's `echo >`) can then be refused at its write(). Not a parser:
 * it follows strings, escapes and brackets only.
 */
#define CONFIG_MAX_DEPTH 32      /* deeper: "nested too deeply" */
struct config_scan {
	size_t pos;            /* bytes looked at so far */
	int depth, max_depth;
	int in_string, escape;
	int started;           /* a non-blank byte was seen */
	int not_object;        /* ... and it was not '{' */
	int complete;          /* the top-level object has closed */
	int trailing;          /* non-blank bytes follow it */
	size_t too_deep_at;    /* 1 + offset where nesting passed the limit */
};
#define CONFIG_SCAN_INIT { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 }

/*
 * Looks at text[sc->pos .. len) (text is the whole of what was written).
 * Returns 1 when the text should be checked now: it is not an object, its
 * object just closed, or bytes other than blanks follow it; else 0.
 */
int config_scan_feed(struct config_scan *sc, const char *text, size_t len);

/* Frees everything config_parse() allocated and zeroes c. */
void config_release(struct run_config *c);

#endif
