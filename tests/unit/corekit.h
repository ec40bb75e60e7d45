/*
 * corekit.h - what the core-level unit tests share: a core opened on a
 * state directory under /tmp with the test's daemon config, runs made and
 * submitted through core.h as fs/ would, and waits that poll
 * core_run_state() every STEP_MS up to WAIT_MS, so that a slow machine
 * (sanitizers) is only slower, never flaky. Included once per test
 * program, after test.h.
 */
#ifndef TFS_COREKIT_H
#define TFS_COREKIT_H

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cjson/cJSON.h>

#include "core.h"
#include "util.h"

#define WAIT_MS 10000
#define STEP_MS 20
#define MAX_RUNS 128

static char root[256];
static char state_dir[512], conf_path[512];
static struct core *core;
static int64_t runs[MAX_RUNS];      /* every run submitted, for cleanup */
static int nruns;

static inline void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* root/name, in a static buffer per call site's use (copied by callers). */
static inline const char *tpath(const char *name)
{
	static char p[4][PATH_MAX];
	static int i;

	i = (i + 1) % 4;
	snprintf(p[i], sizeof(p[i]), "%s/%s", root, name);
	return p[i];
}

static inline void touch(const char *path)
{
	FILE *f = fopen(path, "w");

	if (f)
		fclose(f);
}

/* The whole file as a string (caller frees; "" when missing). */
static inline char *slurp(const char *path)
{
	struct buf b = BUF_INIT(0);

	file_read_all(path, 1 << 20, &b);
	return buf_detach(&b, NULL);
}

static inline int count_lines(const char *s)
{
	int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

static inline struct core *open_core(void)
{
	struct core_opts o = { .state_dir = state_dir,
			       .config_file = conf_path };
	char err[512] = "";
	struct core *c = core_open(&o, err, sizeof(err));

	if (!c) {
		fprintf(stderr, "core_open: %s\n", err);
		return NULL;
	}
	if (core_start(c)) {
		fprintf(stderr, "core_start failed\n");
		core_close(c);
		return NULL;
	}
	return c;
}

/* ---- runs ---- */

static inline int64_t exp_id(const char *name)
{
	struct core_exp_info e;
	int64_t id = 0;

	if (core_exp_lookup(core, name, &e) == TFS_OK)
		return e.id;
	if (core_exp_create(core, name, &id))
		fprintf(stderr, "cannot create experiment '%s'\n", name);
	return id;
}

static inline int64_t mkrun(int64_t exp, const char *name)
{
	char reason[512] = "";
	int64_t id = 0;

	if (core_run_create(core, exp, name, &id, reason, sizeof(reason))) {
		fprintf(stderr, "cannot create run '%s': %s\n", name, reason);
		return 0;
	}
	return id;
}

/* Remembers a submitted run, so cleanup() can end it if a check failed. */
static inline void track(int64_t id)
{
	if (nruns < MAX_RUNS)
		runs[nruns++] = id;
}

static inline int submit(int64_t id, const char *json, char *reason,
			 size_t rlen)
{
	char scratch[512];

	if (!reason) {
		reason = scratch;
		rlen = sizeof(scratch);
	}
	return core_run_submit(core, id, json, strlen(json), reason, rlen);
}

/*
 * A config running `sh -c script` on provider prov, with extra (more
 * members, without the leading comma) added. Caller frees.
 */
static inline char *cfg_sh(const char *prov, const char *script,
			    const char *extra)
{
	cJSON *cmd = cJSON_CreateArray();
	struct buf b = BUF_INIT(0);
	char *c;

	cJSON_AddItemToArray(cmd, cJSON_CreateString("sh"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(cmd, cJSON_CreateString(script));
	c = cJSON_PrintUnformatted(cmd);
	cJSON_Delete(cmd);
	buf_printf(&b, "{\"provider\": \"%s\", \"command\": %s%s%s}", prov, c,
		   extra ? ", " : "", extra ? extra : "");
	free(c);
	return buf_detach(&b, NULL);
}

/* Creates run name in exp and submits json; the run's id or 0. */
static inline int64_t start(int64_t exp, const char *name, const char *json)
{
	char reason[512] = "";
	int64_t id = mkrun(exp, name);
	int r;

	if (!id)
		return 0;
	r = submit(id, json, reason, sizeof(reason));
	CHECK(r == TFS_OK);
	if (r) {
		fprintf(stderr, "submit '%s': %s (%s)\n", name, reason,
			tfs_strerror(r));
		return 0;
	}
	track(id);
	return id;
}

static inline int64_t start_sh(int64_t exp, const char *name,
				const char *prov, const char *script,
				const char *extra)
{
	char *json = cfg_sh(prov, script, extra);
	int64_t id = start(exp, name, json);

	free(json);
	return id;
}

static inline int state_of(int64_t id)
{
	int s = -1;

	core_run_state(core, id, &s);
	return s;
}

/* Waits until the run is in state want; returns 1 when it got there. */
static inline int wait_state(int64_t id, int want)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	int s = -1;

	while (mono_ms() < deadline) {
		s = state_of(id);
		if (s == want)
			return 1;
		if (run_state_terminal(s) && !run_state_terminal(want))
			break;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "run %lld: waited for %s, is %s\n", (long long)id,
		run_state_name(want), run_state_name(s));
	return 0;
}

/* Waits until the run has ended; returns its state (-1 on time-out). */
static inline int wait_end(int64_t id)
{
	int64_t deadline = mono_ms() + WAIT_MS;
	int s = -1;

	while (mono_ms() < deadline) {
		s = state_of(id);
		if (run_state_terminal(s))
			return s;
		sleep_ms(STEP_MS);
	}
	fprintf(stderr, "run %lld did not end, is %s\n", (long long)id,
		run_state_name(s));
	return -1;
}

/* A generated file as a string (caller frees; never NULL). */
static inline char *rf(int64_t id, enum run_file f)
{
	struct buf b = BUF_INIT(0);

	core_run_read(core, id, f, &b);
	return buf_detach(&b, NULL);
}

static inline int has(int64_t id, enum run_file f, const char *needle)
{
	char *t = rf(id, f);
	int hit = strstr(t, needle) != NULL;

	if (!hit)
		fprintf(stderr, "run %lld: no '%s' in:\n%s\n", (long long)id,
			needle, t);
	free(t);
	return hit;
}

static inline char *log_of(int64_t id)
{
	struct buf b = BUF_INIT(0);

	core_run_log_read(core, id, 0, 1 << 20, &b);
	return buf_detach(&b, NULL);
}

static inline cJSON *status_of(int64_t id)
{
	char *t = rf(id, RF_STATUS_JSON);
	cJSON *j = cJSON_Parse(t);

	free(t);
	return j ? j : cJSON_CreateObject();
}

static inline const char *jstr(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static inline double jnum(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);

	return cJSON_IsNumber(v) ? v->valuedouble : -99999;
}

static inline int jnull(const cJSON *o, const char *key)
{
	return cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(o, key));
}

static inline int mount_events_have(const char *needle)
{
	struct buf b = BUF_INIT(0);
	int hit;

	core_events(core, &b);
	hit = b.p && strstr(b.p, needle);
	buf_release(&b);
	return hit;
}

static inline char *queue_text(void)
{
	struct buf b = BUF_INIT(0);

	core_queue(core, &b);
	return buf_detach(&b, NULL);
}

static inline int ctl(int64_t id, const char *cmd, char *reason,
		      size_t rlen)
{
	char scratch[512];

	if (!reason) {
		reason = scratch;
		rlen = sizeof(scratch);
	}
	return core_run_ctl(core, id, cmd, strlen(cmd), reason, rlen);
}

/* Ends every run still going, so that no job outlives the test. */
static inline void runs_cleanup(void)
{
	int i;

	for (i = 0; core && i < nruns; i++) {
		if (run_state_terminal(state_of(runs[i])) ||
		    state_of(runs[i]) < 0)
			continue;
		fprintf(stderr, "run %lld still %s: cancelling\n",
			(long long)runs[i], run_state_name(state_of(runs[i])));
		ctl(runs[i], "cancel", NULL, 0);
		wait_end(runs[i]);
	}
}

#endif
