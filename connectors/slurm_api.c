/*
 * slurm_api.c - slurmrestd's JSON in and out, without I/O: see slurm_api.h.
 * Shapes as recorded from Slurm 22.05's slurmrestd (tests/fixtures/slurm/).
 */
#include "slurm_api.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cjson/cJSON.h>

/*
 * Slurm's job states (slurm.h's job_state_string()), in one table: the
 * trainfs state each maps onto, and whether the end is the cluster's
 * doing, which max_retries covers with the same run id.
 */
static const struct {
	const char *word;
	enum job_state state;
	int retry;
} slurm_states[] = {
	{ "PENDING", JOB_PENDING, 0 },
	{ "CONFIGURING", JOB_PENDING, 0 },     /* nodes booting */
	{ "REQUEUED", JOB_PENDING, 0 },        /* back in the queue */
	{ "REQUEUE_HOLD", JOB_PENDING, 0 },
	{ "REQUEUE_FED", JOB_PENDING, 0 },
	{ "RESV_DEL_HOLD", JOB_PENDING, 0 },
	{ "RESIZING", JOB_RUNNING, 0 },
	{ "RUNNING", JOB_RUNNING, 0 },
	{ "COMPLETING", JOB_RUNNING, 0 },      /* epilog: not ended for us
						  until Slurm says how */
	{ "SIGNALING", JOB_RUNNING, 0 },
	{ "STAGE_OUT", JOB_RUNNING, 0 },
	{ "SUSPENDED", JOB_PAUSED, 0 },        /* scontrol suspend */
	{ "STOPPED", JOB_PAUSED, 0 },          /* signal STOP */
	{ "COMPLETED", JOB_COMPLETED, 0 },
	{ "FAILED", JOB_FAILED, 0 },
	{ "TIMEOUT", JOB_FAILED, 0 },
	{ "DEADLINE", JOB_FAILED, 0 },
	{ "OUT_OF_MEMORY", JOB_FAILED, 0 },
	{ "CANCELLED", JOB_STOPPED, 0 },
	{ "PREEMPTED", JOB_PREEMPTED, 1 },
	{ "NODE_FAIL", JOB_PREEMPTED, 1 },
	{ "BOOT_FAIL", JOB_PREEMPTED, 1 },
	{ "SPECIAL_EXIT", JOB_FAILED, 0 },
	{ "REVOKED", JOB_STOPPED, 0 },         /* a federation sibling ran it */
};

int slurm_state(const char *word, enum job_state *state, int *retry)
{
	size_t i;

	for (i = 0; i < sizeof(slurm_states) / sizeof(slurm_states[0]); i++)
		if (strcmp(word, slurm_states[i].word) == 0) {
			*state = slurm_states[i].state;
			*retry = slurm_states[i].retry;
			return 0;
		}
	return -1;
}

void slurm_decode_exit(int64_t raw, int *exit_code, int *term_signal)
{
	int status = raw < 0 || raw > 0xffff ? 0 : (int)raw;

	/* as <sys/wait.h> does it, without depending on its macros' types */
	if ((status & 0x7f) == 0) {
		*exit_code = (status >> 8) & 0xff;
		*term_signal = 0;
	} else if ((status & 0x7f) != 0x7f) {
		*term_signal = status & 0x7f;
		*exit_code = 128 + *term_signal;
	} else {                /* stopped: not an end */
		*exit_code = -1;
		*term_signal = 0;
	}
}

static void copy_str(char *dst, size_t dlen, const cJSON *v)
{
	if (cJSON_IsString(v) && v->valuestring)
		snprintf(dst, dlen, "%s", v->valuestring);
	else
		dst[0] = '\0';
}

/* A number field, or def when missing or not a finite number. */
static int64_t num(const cJSON *obj, const char *key, int64_t def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(obj, key);

	/* v0.0.39 and later wrap numbers: {"set": true, "number": N} */
	if (cJSON_IsObject(v)) {
		const cJSON *set = cJSON_GetObjectItemCaseSensitive(v, "set");

		if (cJSON_IsFalse(set))
			return def;
		v = cJSON_GetObjectItemCaseSensitive(v, "number");
	}
	if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble) ||
	    v->valuedouble < -9.2e18 || v->valuedouble > 9.2e18)
		return def;
	return (int64_t)v->valuedouble;
}

static cJSON *parse_body(const char *body, size_t len, char *err,
			 size_t errlen)
{
	cJSON *root = body ? cJSON_ParseWithLength(body, len) : NULL;

	if (!root)
		snprintf(err, errlen, "slurmrestd's answer is not JSON");
	else if (!cJSON_IsObject(root)) {
		snprintf(err, errlen, "slurmrestd's answer is not an object");
		cJSON_Delete(root);
		root = NULL;
	}
	return root;
}

/* The first error of root's "errors" into err and *code (when not
 * NULL): 1, or 0 when none. */
static int first_error(const cJSON *root, int64_t *code_out, char *err,
		       size_t errlen)
{
	const cJSON *errs = cJSON_GetObjectItemCaseSensitive(root, "errors");
	const cJSON *e, *text, *desc;
	int64_t code;

	if (!cJSON_IsArray(errs))
		return 0;
	cJSON_ArrayForEach(e, errs) {
		if (!cJSON_IsObject(e))
			continue;
		text = cJSON_GetObjectItemCaseSensitive(e, "error");
		desc = cJSON_GetObjectItemCaseSensitive(e, "description");
		code = num(e, "error_number", num(e, "error_code", 0));
		if (!cJSON_IsString(text) && !cJSON_IsString(desc))
			continue;
		if (code_out)
			*code_out = code;
		if (cJSON_IsString(text) && cJSON_IsString(desc))
			snprintf(err, errlen, "%s (%lld): %s", text->valuestring,
				 (long long)code, desc->valuestring);
		else
			snprintf(err, errlen, "%s (%lld)", cJSON_IsString(text) ?
				 text->valuestring : desc->valuestring,
				 (long long)code);
		return 1;
	}
	return 0;
}

int slurm_errors(const char *body, size_t len, int64_t *code, char *err,
		 size_t errlen)
{
	cJSON *root = parse_body(body, len, err, errlen);
	int r;

	if (code)
		*code = 0;
	if (!root)
		return -1;
	r = first_error(root, code, err, errlen);
	cJSON_Delete(root);
	return r;
}

/*
 * slurm_errno.h's ranges: 1000s the protocol, 1800 "Unable to contact
 * slurm controller", 2000s-4000s ESLURM_* (the request refused), 5000s
 * communication (socket timeouts: slurmctld may still act on it, as it
 * does on a submission it answers late), 6000s authentication. slurmctld
 * refuses a bad or expired token with -1 ("Unspecified error"): no number
 * of its own.
 */
enum slurm_err_kind slurm_err_kind(int64_t code)
{
	if (code == -1 || (code >= 6000 && code < 7000) || code == 5005)
		return SLURM_ERR_AUTH;
	if ((code >= 1000 && code < 2000) || (code >= 5000 && code < 6000))
		return SLURM_ERR_DOWN;
	if (code >= 2000 && code < 5000)
		return SLURM_ERR_REFUSED;
	return SLURM_ERR_OTHER;
}

/* job_state: a string (v0.0.38), or an array whose first word is the
 * base state and the rest flags (v0.0.39 and later). */
static const cJSON *state_word(const cJSON *j)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(j, "job_state");

	if (cJSON_IsArray(v))
		v = cJSON_GetArrayItem(v, 0);
	return cJSON_IsString(v) ? v : NULL;
}

static int parse_job(const cJSON *j, struct slurm_job *out, char *err,
		     size_t errlen)
{
	const cJSON *w = state_word(j);
	int64_t raw;

	memset(out, 0, sizeof(*out));
	out->job_id = num(j, "job_id", -1);
	if (out->job_id <= 0) {
		snprintf(err, errlen, "a job in slurmrestd's answer has no "
			 "job_id");
		return -1;
	}
	copy_str(out->name, sizeof(out->name),
		 cJSON_GetObjectItemCaseSensitive(j, "name"));
	copy_str(out->comment, sizeof(out->comment),
		 cJSON_GetObjectItemCaseSensitive(j, "comment"));
	copy_str(out->reason, sizeof(out->reason),
		 cJSON_GetObjectItemCaseSensitive(j, "state_reason"));
	if (strcmp(out->reason, "None") == 0)
		out->reason[0] = '\0';
	copy_str(out->state_word, sizeof(out->state_word), w);
	if (!w || slurm_state(out->state_word, &out->state, &out->retry)) {
		out->state = JOB_UNKNOWN;
		out->undocumented = 1;
	}
	out->exit_code = -1;
	if (job_state_terminal(out->state)) {
		raw = num(j, "exit_code", -1);
		if (raw >= 0)
			slurm_decode_exit(raw, &out->exit_code,
					  &out->term_signal);
	}
	out->submit_s = num(j, "submit_time", 0);
	out->start_s = num(j, "start_time", 0);
	out->end_s = num(j, "end_time", 0);
	out->restart_cnt = (int)num(j, "restart_cnt", 0);
	return 0;
}

int slurm_parse_jobs(const char *body, size_t len, struct slurm_job **jobs,
		     size_t *n, char *err, size_t errlen)
{
	cJSON *root = parse_body(body, len, err, errlen);
	const cJSON *arr, *j;
	struct slurm_job *out;
	size_t count, i = 0;

	*jobs = NULL;
	*n = 0;
	if (!root)
		return -1;
	arr = cJSON_GetObjectItemCaseSensitive(root, "jobs");
	if (!cJSON_IsArray(arr)) {
		if (!first_error(root, NULL, err, errlen))
			snprintf(err, errlen, "slurmrestd's answer has no "
				 "jobs");
		cJSON_Delete(root);
		return -1;
	}
	count = (size_t)cJSON_GetArraySize(arr);
	if (count > SLURM_JOBS_MAX) {
		snprintf(err, errlen, "slurmrestd listed %zu jobs, more than "
			 "the %d taken", count, SLURM_JOBS_MAX);
		cJSON_Delete(root);
		return -1;
	}
	out = calloc(count ? count : 1, sizeof(*out));
	if (!out) {
		snprintf(err, errlen, "out of memory for %zu jobs", count);
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(j, arr) {
		if (!cJSON_IsObject(j) || parse_job(j, &out[i], err, errlen)) {
			if (!cJSON_IsObject(j))
				snprintf(err, errlen, "a job in slurmrestd's "
					 "answer is not an object");
			free(out);
			cJSON_Delete(root);
			return -1;
		}
		i++;
	}
	cJSON_Delete(root);
	*jobs = out;
	*n = i;
	return 0;
}

int slurm_parse_submit(const char *body, size_t len, int64_t *job_id,
		       char *err, size_t errlen)
{
	cJSON *root = parse_body(body, len, err, errlen);
	int64_t id;

	*job_id = -1;
	if (!root)
		return -1;
	id = num(root, "job_id", -1);
	if (id <= 0) {
		if (!first_error(root, NULL, err, errlen))
			snprintf(err, errlen, "slurmrestd accepted no job "
				 "(no job_id in its answer)");
		cJSON_Delete(root);
		return -1;
	}
	cJSON_Delete(root);
	*job_id = id;
	return 0;
}

int slurm_parse_ping(const char *body, size_t len, char *err, size_t errlen)
{
	cJSON *root = parse_body(body, len, err, errlen);
	const cJSON *pings, *p;
	char host[SLURM_NAME_MAX], word[SLURM_STATE_MAX];
	int seen = 0;

	if (!root)
		return -1;
	pings = cJSON_GetObjectItemCaseSensitive(root, "pings");
	if (!cJSON_IsArray(pings)) {
		if (!first_error(root, NULL, err, errlen))
			snprintf(err, errlen, "slurmrestd's ping has no pings");
		cJSON_Delete(root);
		return -1;
	}
	cJSON_ArrayForEach(p, pings) {
		copy_str(host, sizeof(host),
			 cJSON_GetObjectItemCaseSensitive(p, "hostname"));
		copy_str(word, sizeof(word),
			 cJSON_GetObjectItemCaseSensitive(p, "ping"));
		if (strcmp(word, "UP") != 0) {
			snprintf(err, errlen, "slurmctld on '%s' is %s", host,
				 word[0] ? word : "not answering");
			cJSON_Delete(root);
			return -1;
		}
		seen++;
	}
	cJSON_Delete(root);
	if (!seen) {
		snprintf(err, errlen, "slurmrestd knows no slurmctld");
		return -1;
	}
	return 0;
}

/* The environment in the version's shape: an object, or ["K=V", ...]. */
static cJSON *env_json(const struct slurm_submit *s, char *err,
		       size_t errlen)
{
	int as_list = strcmp(s->api_version, "v0.0.38") > 0;
	cJSON *env = as_list ? cJSON_CreateArray() : cJSON_CreateObject();
	char *const *e;
	char key[256];
	const char *eq;
	int n = 0;

	for (e = s->env; env && e && *e; e++) {
		eq = strchr(*e, '=');
		if (!eq || eq == *e || (size_t)(eq - *e) >= sizeof(key)) {
			snprintf(err, errlen, "not a K=V environment entry: "
				 "'%.40s'", *e);
			cJSON_Delete(env);
			return NULL;
		}
		if (as_list) {
			cJSON_AddItemToArray(env, cJSON_CreateString(*e));
		} else {
			memcpy(key, *e, (size_t)(eq - *e));
			key[eq - *e] = '\0';
			cJSON_DeleteItemFromObjectCaseSensitive(env, key);
			cJSON_AddStringToObject(env, key, eq + 1);
		}
		n++;
	}
	if (env && !n) {
		snprintf(err, errlen, "slurmrestd needs at least one "
			 "environment entry");
		cJSON_Delete(env);
		return NULL;
	}
	return env;
}

char *slurm_submit_body(const struct slurm_submit *s, char *err,
			size_t errlen)
{
	cJSON *root, *job, *env;
	char gres[128];
	char *text;

	if (!s->script || !s->name || !s->workdir || !s->api_version) {
		snprintf(err, errlen, "a Slurm job needs a script, a name, a "
			 "working directory and an API version");
		return NULL;
	}
	env = env_json(s, err, errlen);
	if (!env)
		return NULL;
	root = cJSON_CreateObject();
	job = cJSON_CreateObject();
	cJSON_AddStringToObject(root, "script", s->script);
	cJSON_AddItemToObject(root, "job", job);
	cJSON_AddStringToObject(job, "name", s->name);
	if (s->comment)
		cJSON_AddStringToObject(job, "comment", s->comment);
	if (s->partition && s->partition[0])
		cJSON_AddStringToObject(job, "partition", s->partition);
	if (s->account && s->account[0])
		cJSON_AddStringToObject(job, "account", s->account);
	cJSON_AddStringToObject(job, "current_working_directory", s->workdir);
	if (s->stdout_path) {
		cJSON_AddStringToObject(job, "standard_output", s->stdout_path);
		cJSON_AddStringToObject(job, "standard_error", s->stdout_path);
	}
	cJSON_AddItemToObject(job, "environment", env);
	cJSON_AddNumberToObject(job, "tasks", 1);
	if (s->cpus > 0)
		cJSON_AddNumberToObject(job, "cpus_per_task", s->cpus);
	if (s->memory_mb > 0)
		cJSON_AddNumberToObject(job, "memory_per_node",
					(double)s->memory_mb);
	if (s->gpus > 0) {
		if (s->gpu_type && s->gpu_type[0])
			snprintf(gres, sizeof(gres), "gpu:%s:%d", s->gpu_type,
				 s->gpus);
		else
			snprintf(gres, sizeof(gres), "gpu:%d", s->gpus);
		cJSON_AddStringToObject(job, "gres", gres);
	}
	if (s->time_limit_min > 0)
		cJSON_AddNumberToObject(job, "time_limit", s->time_limit_min);
	/*
	 * The run's retries are ours: a requeue by Slurm (after a node
	 * failure) would start the attempt a second time under the same job
	 * id. Slurm 22.05's slurmrestd takes the key but leaves the job
	 * requeueable (scontrol shows Requeue=1), so the batch script itself
	 * must refuse a second start (SLURM_RESTART_COUNT); asked anyway, for
	 * the versions that honour it.
	 */
	cJSON_AddFalseToObject(job, "requeue");
	text = cJSON_PrintUnformatted(root);
	cJSON_Delete(root);
	if (!text)
		snprintf(err, errlen, "out of memory for a Slurm job");
	return text;
}

/* The value of a base64url digit, or -1. */
static int slurm_b64url(int ch)
{
	if (ch >= 'A' && ch <= 'Z')
		return ch - 'A';
	if (ch >= 'a' && ch <= 'z')
		return ch - 'a' + 26;
	if (ch >= '0' && ch <= '9')
		return ch - '0' + 52;
	if (ch == '-' || ch == '+')
		return 62;
	if (ch == '_' || ch == '/')
		return 63;
	return -1;
}

int64_t slurm_token_expiry(const char *jwt)
{
	char payload[2048];
	const char *p, *end;
	unsigned acc = 0;
	int bits = 0, v;
	size_t n = 0;
	cJSON *root, *exp;
	int64_t r = -1;

	if (!jwt || !(p = strchr(jwt, '.')))
		return -1;
	end = strchr(++p, '.');
	if (!end)
		return -1;
	for (; p < end; p++) {
		if (*p == '=')
			break;
		v = slurm_b64url((unsigned char)*p);
		if (v < 0)
			return -1;
		acc = (acc << 6) | (unsigned)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n + 1 >= sizeof(payload))
				return -1;
			payload[n++] = (char)((acc >> bits) & 0xff);
		}
	}
	payload[n] = '\0';
	root = cJSON_ParseWithLength(payload, n);
	exp = cJSON_GetObjectItemCaseSensitive(root, "exp");
	if (cJSON_IsNumber(exp) && exp->valuedouble > 0 &&
	    exp->valuedouble < 1e15)
		r = (int64_t)exp->valuedouble;
	cJSON_Delete(root);
	return r;
}
