/*
 * lambda.c - the Lambda Cloud adapter (API v1, providers.md): an
 * instance (a VM) per attempt, launched with the wrapper as its
 * user_data, one GET /api/v1/instances for every poll, POST
 * .../instance-operations/terminate to end it.
 *
 * Lambda allows about one request a second and a launch every ten, so
 * each operation is one request and nothing is asked twice: offers() is
 * one GET /instance-types (cloud.c caches it for quotes), launch() one
 * POST (the SSH key is not looked up first: a name Lambda does not know
 * comes back as the launch's own 400, with Lambda's words, at no extra
 * request), list() one GET /instances, terminate() one POST.
 *
 * A VM is not a container: there is no env to hand it, so the wrapper's
 * environment (the store's credential among it) is set at the top of the
 * user_data script, and the VM stays active after the script ends; the
 * run store's exit file says the job ended and cloud.c terminates it.
 */
#define _GNU_SOURCE
#include "cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "buf.h"
#include "util.h"
#include "wrapper.h"

#define LAMBDA_SSH_KEY_MAX 128
#define LAMBDA_REGIONS_MAX 64        /* regions of one type we read */

struct lambda {
	char ssh_key[LAMBDA_SSH_KEY_MAX];
};

static const char *const lambda_keys[] = { "ssh_key_name", NULL };

/* ssh_key_name is required: Lambda launches nothing without exactly one
 * key name, and the job never needs it (nobody logs in). */
static int lambda_init(struct cloud *cl, const cJSON *conf, void **priv,
		       char *err, size_t errlen)
{
	const cJSON *k = cJSON_GetObjectItemCaseSensitive(conf, "ssh_key_name");
	struct lambda *la;

	(void)cl;
	*priv = NULL;
	if (!cJSON_IsString(k) || !k->valuestring[0] ||
	    strlen(k->valuestring) >= LAMBDA_SSH_KEY_MAX ||
	    strpbrk(k->valuestring, "\r\n")) {
		snprintf(err, errlen, "'ssh_key_name' must name one of the "
			 "account's SSH keys (Lambda launches no instance "
			 "without one), in at most %d characters",
			 LAMBDA_SSH_KEY_MAX - 1);
		return TFS_EINVAL;
	}
	la = xcalloc(1, sizeof(*la));
	snprintf(la->ssh_key, sizeof(la->ssh_key), "%s", k->valuestring);
	*priv = la;
	return TFS_OK;
}

static void lambda_release(void *priv)
{
	free(priv);
}

static const char *lambda_str(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

static double lambda_num(const cJSON *o, const char *k, double dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsNumber(it) ? it->valuedouble : dflt;
}

/*
 * One entry of GET /instance-types into up to max offers at o: one per
 * region with capacity, or one with available 0 and no region when it
 * has none (so that cloud.c can say "no capacity for ..."). Returns how
 * many, 0 for an entry not in Lambda's shape (skipped, not trusted).
 */
static size_t lambda_type_offers(const cJSON *e, struct cloud_offer *o,
				 size_t max)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(e, "instance_type");
	const cJSON *specs = cJSON_GetObjectItemCaseSensitive(it, "specs");
	const cJSON *regs = cJSON_GetObjectItemCaseSensitive(
		e, "regions_with_capacity_available");
	const cJSON *cents = cJSON_GetObjectItemCaseSensitive(
		it, "price_cents_per_hour");
	const char *name = lambda_str(it, "name");
	const char *gpu = lambda_str(it, "gpu_description");
	double gpus = lambda_num(specs, "gpus", 0);
	double cpus = lambda_num(specs, "vcpus", 0);
	double mem = lambda_num(specs, "memory_gib", 0);
	struct cloud_offer t = { 0 };
	const cJSON *r;
	size_t n = 0;

	if (!name[0] || strlen(name) >= sizeof(t.id) || !cJSON_IsNumber(cents)
	    || cents->valuedouble < 0 || cents->valuedouble > 1e8 ||
	    gpus < 0 || gpus > 1024 || cpus < 0 || cpus > 1e5 || mem < 0 ||
	    mem > 1e6 || (regs && !cJSON_IsArray(regs)) || !max)
		return 0;
	snprintf(t.id, sizeof(t.id), "%s", name);
	snprintf(t.gpu, sizeof(t.gpu), "%s", gpu[0] ? gpu :
		 lambda_str(it, "description"));
	t.gpus = (int)gpus;
	t.cpus = (int)cpus;
	t.memory_mb = (int64_t)(mem * 1024);
	t.price_per_hour = cents->valuedouble / 100.0;
	cJSON_ArrayForEach(r, regs) {
		const char *rn = lambda_str(r, "name");

		if (n >= max || n >= LAMBDA_REGIONS_MAX)
			break;
		if (!rn[0] || strlen(rn) >= sizeof(t.region))
			continue;
		o[n] = t;
		snprintf(o[n].region, sizeof(o[n].region), "%s", rn);
		o[n].available = 1;  /* Lambda says only "has capacity" */
		n++;
	}
	if (!n) {
		o[0] = t;
		n = 1;
	}
	return n;
}

/* The offers of one GET /instance-types answer (for tests too). */
int lambda_offers_parse(const cJSON *ans, const struct job_need *need,
			struct cloud_offer **out, size_t *n, char *err,
			size_t errlen)
{
	const cJSON *data = cJSON_GetObjectItemCaseSensitive(ans, "data");
	const cJSON *e;
	struct cloud_offer *o;
	size_t k = 0, cap;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsObject(data)) {
		snprintf(err, errlen, "Lambda's GET /api/v1/instance-types has "
			 "no 'data' object");
		return TFS_EIO;
	}
	if (cJSON_GetArraySize(data) > CLOUD_OFFERS_MAX) {
		snprintf(err, errlen, "Lambda lists more than %d instance "
			 "types", CLOUD_OFFERS_MAX);
		return TFS_EIO;
	}
	cap = CLOUD_OFFERS_MAX;
	o = xcalloc(cap, sizeof(*o));
	cJSON_ArrayForEach(e, data) {
		size_t got = lambda_type_offers(e, o + k, cap - k);

		/* a type smaller than asked is dropped here; the rest of
		 * the fit (gpu_types, regions, price, GPU name) is cloud.c's,
		 * the same for the three */
		if (got && need->gpus > 0 && o[k].gpus < need->gpus)
			got = 0;
		k += got;
	}
	*out = o;
	*n = k;
	return TFS_OK;
}

/* One request: GET /api/v1/instance-types. */
static int lambda_offers(struct cloud *cl, const struct job_need *need,
			 struct cloud_offer **out, size_t *n, char *err,
			 size_t errlen)
{
	cJSON *ans = NULL;
	int rc = cloud_call(cl, "GET", "/api/v1/instance-types", NULL, &ans,
			    NULL, err, errlen);

	*out = NULL;
	*n = 0;
	if (!rc)
		rc = lambda_offers_parse(ans, need, out, n, err, errlen);
	cJSON_Delete(ans);
	return rc;
}

/*
 * The user_data: "#!/bin/sh", then each of env as an exported shell
 * variable, then the script's own lines (its #! line left out). Caller
 * frees (and wipes: it holds the store's credential); NULL when too big.
 */
char *lambda_user_data(const char *script, char *const *env)
{
	struct buf b = BUF_INIT(WRAPPER_MAX + 64 * 1024);
	char *const *e;
	int r = buf_puts(&b, "#!/bin/sh\n");

	for (e = env; !r && e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq || eq == *e)
			continue;
		r = buf_append(&b, *e, (size_t)(eq - *e));
		if (!r)
			r = buf_puts(&b, "=");
		if (!r)
			r = wrapper_quote(&b, eq + 1);
		if (!r)
			r = buf_printf(&b, "; export %.*s\n", (int)(eq - *e), *e);
	}
	if (!strncmp(script, "#!", 2))
		script += strcspn(script, "\n");
	if (!r)
		r = buf_puts(&b, script);
	if (r) {
		if (b.p)
			explicit_bzero(b.p, b.len);
		buf_release(&b);
		return NULL;
	}
	return buf_detach(&b, NULL);
}

/* One request: POST /api/v1/instance-operations/launch. */
static int lambda_launch(struct cloud *cl, const struct cloud_launch *l,
			 char *id, size_t idlen, char *err, size_t errlen)
{
	const struct lambda *la = cloud_conf(cl)->priv;
	cJSON *b, *ans = NULL, *arr, *ud;
	const cJSON *ids, *first;
	char *text;
	long status = 0;
	int rc;

	if (!l->offer->region[0]) {
		snprintf(err, errlen, "no capacity for %s in any region on "
			 "lambda", l->offer->id);
		return TFS_EAGAIN;
	}
	text = lambda_user_data(l->script, l->env);
	if (!text) {
		snprintf(err, errlen, "the user_data would be over %d bytes",
			 WRAPPER_MAX);
		return TFS_EINVAL;
	}
	b = cJSON_CreateObject();
	cJSON_AddStringToObject(b, "region_name", l->offer->region);
	cJSON_AddStringToObject(b, "instance_type_name", l->offer->id);
	arr = cJSON_AddArrayToObject(b, "ssh_key_names");
	cJSON_AddItemToArray(arr, cJSON_CreateString(la->ssh_key));
	cJSON_AddArrayToObject(b, "file_system_names");
	cJSON_AddNumberToObject(b, "quantity", 1);
	cJSON_AddStringToObject(b, "name", l->name);
	ud = cJSON_AddStringToObject(b, "user_data", text);
	explicit_bzero(text, strlen(text));
	free(text);
	rc = cloud_call(cl, "POST", "/api/v1/instance-operations/launch", b,
			&ans, &status, err, errlen);
	/* the body holds the store's credential: wipe it */
	if (ud && ud->valuestring)
		explicit_bzero(ud->valuestring, strlen(ud->valuestring));
	cJSON_Delete(b);
	if (rc == TFS_OK) {
		ids = cJSON_GetObjectItemCaseSensitive(
			cJSON_GetObjectItemCaseSensitive(ans, "data"),
			"instance_ids");
		first = cJSON_GetArrayItem(ids, 0);
		if (cJSON_IsString(first) && first->valuestring[0] &&
		    strlen(first->valuestring) < CLOUD_ID_MAX &&
		    !strpbrk(first->valuestring, "/?#%\"")) {
			snprintf(id, idlen, "%s", first->valuestring);
		} else {
			snprintf(err, errlen, "Lambda's answer to the launch "
				 "has no instance id");
			rc = TFS_EINPROGRESS;
		}
	} else if (status == 400 && strstr(err, "insufficient-capacity")) {
		snprintf(err, errlen, "no capacity for %dx%s in %s on lambda",
			 l->gpus > 0 ? l->gpus : 1, l->offer->id,
			 l->offer->region);
		rc = TFS_EAGAIN;
	} else if (rc == TFS_EIO) {
		rc = TFS_EINPROGRESS;   /* the instance may have been made */
	}
	cJSON_Delete(ans);
	return rc;
}

/* Lambda's status words; an unknown one is BOOTING, so that the boot
 * timeout, not a guess, ends it. */
static enum cloud_state lambda_state(const char *st)
{
	static const struct {
		const char *word;
		enum cloud_state state;
	} map[] = {
		{ "booting", CLOUD_BOOTING },
		{ "active", CLOUD_RUNNING },
		{ "unhealthy", CLOUD_FAILED },
		{ "terminating", CLOUD_TERMINATING },
		{ "terminated", CLOUD_GONE },
		{ "preempted", CLOUD_PREEMPTED },
	};
	size_t i;

	for (i = 0; i < sizeof(map) / sizeof(map[0]); i++)
		if (!strcmp(st, map[i].word))
			return map[i].state;
	return CLOUD_BOOTING;
}

/* One instance of GET /instances into in; 0, or -1 when it has no id. */
static int lambda_instance(const cJSON *p, struct cloud_inst *in)
{
	const char *id = lambda_str(p, "id");
	const char *name = lambda_str(p, "name");
	const char *st = lambda_str(p, "status");
	double cents = lambda_num(cJSON_GetObjectItemCaseSensitive(
					  p, "instance_type"),
				  "price_cents_per_hour", -1);

	memset(in, 0, sizeof(*in));
	if (!id[0] || strlen(id) >= sizeof(in->id))
		return -1;
	snprintf(in->id, sizeof(in->id), "%s", id);
	if (strlen(name) <= CLOUD_NAME_MAX)
		snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->status, sizeof(in->status), "%s", st);
	in->state = lambda_state(st);
	in->price_per_hour = cents >= 0 && cents <= 1e8 ? cents / 100.0 : -1;
	in->exit_code = -1;       /* a VM has none: the run store says */
	return 0;
}

/* Every instance of an answer of GET /instances (for tests too). */
int lambda_list_parse(const cJSON *ans, struct cloud_inst **out, size_t *n,
		      char *err, size_t errlen)
{
	return cloud_insts_parse(cJSON_GetObjectItemCaseSensitive(ans, "data"),
				 "Lambda's GET /api/v1/instances 'data'",
				 lambda_instance, out, n, err, errlen);
}

/* One request: GET /api/v1/instances. */
static int lambda_list(struct cloud *cl, struct cloud_inst **out, size_t *n,
		       char *err, size_t errlen)
{
	cJSON *ans = NULL;
	int rc = cloud_call(cl, "GET", "/api/v1/instances", NULL, &ans, NULL,
			    err, errlen);

	*out = NULL;
	*n = 0;
	if (!rc)
		rc = lambda_list_parse(ans, out, n, err, errlen);
	cJSON_Delete(ans);
	return rc;
}

/* One request: POST /api/v1/instance-operations/terminate; an instance
 * Lambda no longer knows (404) is gone, which is what was asked. */
static int lambda_terminate(struct cloud *cl, const char *id, char *err,
			    size_t errlen)
{
	cJSON *b, *ans = NULL, *arr;
	int rc;

	if (!id[0] || strlen(id) >= CLOUD_ID_MAX) {
		snprintf(err, errlen, "bad instance id");
		return TFS_EINVAL;
	}
	b = cJSON_CreateObject();
	arr = cJSON_AddArrayToObject(b, "instance_ids");
	cJSON_AddItemToArray(arr, cJSON_CreateString(id));
	rc = cloud_call(cl, "POST", "/api/v1/instance-operations/terminate", b,
			&ans, NULL, err, errlen);
	cJSON_Delete(b);
	cJSON_Delete(ans);
	return rc == TFS_ENOENT ? TFS_OK : rc;
}

/* {"error": {"code", "message", "suggestion"}} -> "message (code)"; the
 * code is kept because launch() tells no capacity by it. */
static void lambda_errmsg(const cJSON *body, char *out, size_t outlen)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");
	const char *msg = lambda_str(e, "message");
	const char *code = lambda_str(e, "code");
	const char *hint = lambda_str(e, "suggestion");

	out[0] = '\0';
	if (!msg[0] && !code[0])
		return;
	snprintf(out, outlen, "%s%s%s%s%s%s", msg, code[0] ? " (" : "", code,
		 code[0] ? ")" : "", hint[0] ? ": " : "", hint);
}

const struct cloud_api lambda_api = {
	.type = "lambda",
	.default_url = "https://cloud.lambdalabs.com",
	.keys = lambda_keys,
	.init = lambda_init,
	.release = lambda_release,
	.offers = lambda_offers,
	.launch = lambda_launch,
	.list = lambda_list,
	.terminate = lambda_terminate,
	.errmsg = lambda_errmsg,
};

CLOUD_CONNECTOR_OPS(lambda);
