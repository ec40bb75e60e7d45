/*
 * runpod.c - the RunPod adapter (REST v1, providers.md): a pod per
 * attempt, POST /v1/pods with the wrapper as `sh -c <script>`, one
 * GET /v1/pods for every poll, DELETE /v1/pods/{id} to terminate.
 *
 * RunPod's REST API has no price list: the offers are the config's
 * gpu_types, each a GPU type id or {"id", "price_per_hour",
 * "cloud_type"}; the price a pod really bills is its costPerHr, which
 * poll() reports from the list. A pod is not a job: its container's exit
 * leaves it EXITED and billing until DELETE, which cloud.c sends on the
 * poll that sees the job ended. A spot pod taken back is EXITED (or
 * TERMINATED) with lastStatusChange "Interrupted: ...". A job with no
 * GPUs is refused (no_cpu_only): the offers are GPU types.
 */
#define _GNU_SOURCE
#include "cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "util.h"

#define RUNPOD_TYPES_MAX 64
#define RUNPOD_DISK_GB 20

struct runpod_type {
	char id[CLOUD_ID_MAX];
	char cloud_type[32];         /* SECURE | COMMUNITY */
	double price_per_hour;       /* per GPU, 0: unknown */
};

struct runpod {
	struct runpod_type types[RUNPOD_TYPES_MAX];
	size_t ntypes;
	char cloud_type[32];         /* the default for entries without */
};

static const char *const runpod_keys[] = { "cloud_type", "gpu_types", NULL };

static int runpod_cloud_type(const cJSON *it, char *out, size_t outlen,
			     const char *what, char *err, size_t errlen)
{
	if (!cJSON_IsString(it) || (strcmp(it->valuestring, "SECURE") &&
				    strcmp(it->valuestring, "COMMUNITY"))) {
		snprintf(err, errlen, "'%s' must be \"SECURE\" or "
			 "\"COMMUNITY\"", what);
		return -1;
	}
	snprintf(out, outlen, "%s", it->valuestring);
	return 0;
}

/* One entry of gpu_types: a string, or an object of id, price_per_hour,
 * cloud_type (cloud.c has checked the id). */
static int runpod_type_read(const cJSON *e, int i, struct runpod_type *t,
			    const char *dflt, char *err, size_t errlen)
{
	const cJSON *k;
	char what[64];

	snprintf(t->cloud_type, sizeof(t->cloud_type), "%s", dflt);
	if (cJSON_IsString(e)) {
		snprintf(t->id, sizeof(t->id), "%s", e->valuestring);
		return 0;
	}
	cJSON_ArrayForEach(k, e) {
		snprintf(what, sizeof(what), "gpu_types[%d].%.20s", i,
			 k->string);
		if (!strcmp(k->string, "id")) {
			snprintf(t->id, sizeof(t->id), "%s", k->valuestring);
		} else if (!strcmp(k->string, "price_per_hour")) {
			if (!cJSON_IsNumber(k) || k->valuedouble < 0 ||
			    k->valuedouble > 10000) {
				snprintf(err, errlen, "'%s' must be a number "
					 "from 0 to 10000", what);
				return -1;
			}
			t->price_per_hour = k->valuedouble;
		} else if (!strcmp(k->string, "cloud_type")) {
			if (runpod_cloud_type(k, t->cloud_type,
					      sizeof(t->cloud_type), what, err,
					      errlen))
				return -1;
		} else {
			snprintf(err, errlen, "unknown key '%s'", what);
			return -1;
		}
	}
	return 0;
}

static int runpod_init(struct cloud *cl, const cJSON *conf, void **priv,
		       char *err, size_t errlen)
{
	const cJSON *types = cJSON_GetObjectItemCaseSensitive(conf,
							      "gpu_types");
	const cJSON *ct = cJSON_GetObjectItemCaseSensitive(conf, "cloud_type");
	struct runpod *rp = xcalloc(1, sizeof(*rp));
	const cJSON *e;
	int i = 0;

	(void)cl;
	*priv = rp;
	snprintf(rp->cloud_type, sizeof(rp->cloud_type), "SECURE");
	if (ct && runpod_cloud_type(ct, rp->cloud_type,
				    sizeof(rp->cloud_type), "cloud_type", err,
				    errlen))
		return TFS_EINVAL;
	if (!cJSON_GetArraySize(types)) {
		snprintf(err, errlen, "RunPod's REST API has no price list: "
			 "'gpu_types' must name the GPU types to rent, e.g. "
			 "[\"NVIDIA GeForce RTX 4090\"] or [{\"id\": ..., "
			 "\"price_per_hour\": 0.34}]");
		return TFS_EINVAL;
	}
	if (cJSON_GetArraySize(types) > RUNPOD_TYPES_MAX) {
		snprintf(err, errlen, "'gpu_types' has more than %d entries",
			 RUNPOD_TYPES_MAX);
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(e, types) {
		if (runpod_type_read(e, i, &rp->types[rp->ntypes],
				     rp->cloud_type, err, errlen))
			return TFS_EINVAL;
		rp->ntypes++;
		i++;
	}
	return TFS_OK;
}

static void runpod_release(void *priv)
{
	free(priv);
}

static int runpod_offers(struct cloud *cl, const struct job_need *need,
			 struct cloud_offer **out, size_t *n, char *err,
			 size_t errlen)
{
	const struct runpod *rp = cloud_conf(cl)->priv;
	struct cloud_offer *o = xcalloc(rp->ntypes + 1, sizeof(*o));
	int gpus = need->gpus > 0 ? need->gpus : 1;
	size_t i;

	(void)err;
	(void)errlen;
	for (i = 0; i < rp->ntypes; i++) {
		snprintf(o[i].id, sizeof(o[i].id), "%s", rp->types[i].id);
		snprintf(o[i].gpu, sizeof(o[i].gpu), "%s", rp->types[i].id);
		snprintf(o[i].cloud_type, sizeof(o[i].cloud_type), "%s",
			 rp->types[i].cloud_type);
		o[i].gpus = gpus;
		o[i].price_per_hour = rp->types[i].price_per_hour * gpus;
		/* RunPod says whether there is capacity only at the launch */
		o[i].available = 1;
	}
	*out = o;
	*n = rp->ntypes;
	return TFS_OK;
}

static int runpod_launch(struct cloud *cl, const struct cloud_launch *l,
			 char *id, size_t idlen, char *err, size_t errlen)
{
	cJSON *b = cJSON_CreateObject(), *ans = NULL, *env, *arr;
	const cJSON *pid;
	char *const *e;
	long status = 0;
	int rc;

	cJSON_AddStringToObject(b, "name", l->name);
	cJSON_AddStringToObject(b, "imageName", l->image);
	arr = cJSON_AddArrayToObject(b, "gpuTypeIds");
	cJSON_AddItemToArray(arr, cJSON_CreateString(l->offer->id));
	cJSON_AddNumberToObject(b, "gpuCount", l->gpus > 0 ? l->gpus : 1);
	cJSON_AddStringToObject(b, "cloudType", l->offer->cloud_type[0] ?
				l->offer->cloud_type : "SECURE");
	cJSON_AddStringToObject(b, "computeType", "GPU");
	cJSON_AddBoolToObject(b, "interruptible", l->interruptible);
	arr = cJSON_AddArrayToObject(b, "dockerEntrypoint");
	cJSON_AddItemToArray(arr, cJSON_CreateString("sh"));
	cJSON_AddItemToArray(arr, cJSON_CreateString("-c"));
	arr = cJSON_AddArrayToObject(b, "dockerStartCmd");
	cJSON_AddItemToArray(arr, cJSON_CreateString(l->script));
	env = cJSON_AddObjectToObject(b, "env");
	for (e = l->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char k[256];

		if (!eq || (size_t)(eq - *e) >= sizeof(k))
			continue;
		snprintf(k, sizeof(k), "%.*s", (int)(eq - *e), *e);
		cJSON_AddStringToObject(env, k, eq + 1);
	}
	cJSON_AddNumberToObject(b, "containerDiskInGb", l->disk_gb > 0 ?
				l->disk_gb : RUNPOD_DISK_GB);
	rc = cloud_call(cl, "POST", "/v1/pods", b, &ans, &status, err, errlen);
	/* the body holds the store's credential: wipe it */
	for (env = env->child; env; env = env->next)
		if (env->valuestring)
			explicit_bzero(env->valuestring,
				       strlen(env->valuestring));
	cJSON_Delete(b);
	if (rc == TFS_OK) {
		pid = cJSON_GetObjectItemCaseSensitive(ans, "id");
		if (cJSON_IsString(pid) && pid->valuestring[0] &&
		    strlen(pid->valuestring) < CLOUD_ID_MAX) {
			snprintf(id, idlen, "%s", pid->valuestring);
		} else {
			snprintf(err, errlen, "RunPod's answer to POST /v1/pods "
				 "has no pod id");
			rc = TFS_EINPROGRESS;
		}
	} else if (status == 500 && strstr(err, "no longer any instances")) {
		snprintf(err, errlen, "no capacity for %dx%s on runpod",
			 l->gpus > 0 ? l->gpus : 1, l->offer->id);
		rc = TFS_EAGAIN;
	} else if (rc == TFS_EIO) {
		rc = TFS_EINPROGRESS;   /* the pod may have been made */
	}
	cJSON_Delete(ans);
	return rc;
}

/* "2026-12-02T12:00:00Z" in epoch ms, 0 when not that. */
static int64_t runpod_time(const cJSON *it)
{
	struct tm tm = { 0 };
	const char *end;

	if (!cJSON_IsString(it))
		return 0;
	end = strptime(it->valuestring, "%Y-%m-%dT%H:%M:%S", &tm);
	if (!end)
		return 0;
	return (int64_t)timegm(&tm) * 1000;
}

static const char *runpod_str(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

/* One pod of the list into in; its state from desiredStatus and the
 * words of lastStatusChange. */
void runpod_pod(const cJSON *p, struct cloud_inst *in)
{
	const char *st = runpod_str(p, "desiredStatus");
	const char *chg = runpod_str(p, "lastStatusChange");
	const cJSON *cost = cJSON_GetObjectItemCaseSensitive(p, "costPerHr");
	const char *name = runpod_str(p, "name");

	memset(in, 0, sizeof(*in));
	/* an id that does not fit is no pod we could address: not ours
	 * (cut short, it would name another pod or none) */
	if (strlen(runpod_str(p, "id")) >= sizeof(in->id))
		name = "";
	else
		snprintf(in->id, sizeof(in->id), "%s", runpod_str(p, "id"));
	if (strlen(name) <= CLOUD_NAME_MAX)
		snprintf(in->name, sizeof(in->name), "%s", name);
	snprintf(in->status, sizeof(in->status), "%s%s%s", st,
		 chg[0] ? ": " : "", chg);
	in->price_per_hour = cJSON_IsNumber(cost) ? cost->valuedouble : -1;
	in->created_ms = runpod_time(cJSON_GetObjectItemCaseSensitive(
					     p, "createdAt"));
	in->started_ms = runpod_time(cJSON_GetObjectItemCaseSensitive(
					     p, "lastStartedAt"));
	in->exit_code = -1;
	if (!strncmp(chg, "Interrupted", 11) && strcmp(st, "RUNNING"))
		in->state = CLOUD_PREEMPTED;
	else if (!strcmp(st, "RUNNING"))
		in->state = in->started_ms ? CLOUD_RUNNING : CLOUD_BOOTING;
	else if (!strcmp(st, "EXITED"))
		in->state = CLOUD_EXITED;
	else if (!strcmp(st, "TERMINATED"))
		in->state = CLOUD_GONE;
	else
		in->state = CLOUD_BOOTING;   /* CREATED, RESTARTING, ... */
}

/* Every pod is kept: one whose name is not ours is listed unowned. */
static int runpod_item(const cJSON *p, struct cloud_inst *in)
{
	runpod_pod(p, in);
	return 0;
}

static int runpod_list(struct cloud *cl, struct cloud_inst **out, size_t *n,
		       char *err, size_t errlen)
{
	cJSON *ans = NULL;
	int rc = cloud_call(cl, "GET", "/v1/pods", NULL, &ans, NULL, err,
			    errlen);

	*out = NULL;
	*n = 0;
	if (rc)
		return rc;
	rc = cloud_insts_parse(ans, "RunPod's GET /v1/pods", runpod_item, out,
			       n, err, errlen);
	cJSON_Delete(ans);
	return rc;
}

static int runpod_terminate(struct cloud *cl, const char *id, char *err,
			    size_t errlen)
{
	char path[CLOUD_ID_MAX + 16];
	cJSON *ans = NULL;
	int rc;

	if (strchr(id, '/') || strchr(id, '?') || !id[0]) {
		snprintf(err, errlen, "bad pod id");
		return TFS_EINVAL;
	}
	snprintf(path, sizeof(path), "/v1/pods/%s", id);
	rc = cloud_call(cl, "DELETE", path, NULL, &ans, NULL, err, errlen);
	cJSON_Delete(ans);
	return rc == TFS_ENOENT ? TFS_OK : rc;
}

static void runpod_errmsg(const cJSON *body, char *out, size_t outlen)
{
	const cJSON *e = cJSON_GetObjectItemCaseSensitive(body, "error");

	snprintf(out, outlen, "%s", cJSON_IsString(e) ? e->valuestring : "");
}

const struct cloud_api runpod_api = {
	.type = "runpod",
	.default_url = "https://rest.runpod.io",
	/* the REST API has computeType "CPU", but providers.md documents
	 * neither its CPU flavours nor their prices: the offers here are
	 * GPU types, and a CPU pod would launch blind and bill unknown */
	.no_cpu_only = "runpod runs GPU pods only here: a job with "
		       "resources.gpus 0 is refused (RunPod's CPU pods have "
		       "no documented flavours or prices); give it gpus or "
		       "another provider",
	.keys = runpod_keys,
	.init = runpod_init,
	.release = runpod_release,
	.offers = runpod_offers,
	.launch = runpod_launch,
	.list = runpod_list,
	.terminate = runpod_terminate,
	.errmsg = runpod_errmsg,
};

CLOUD_CONNECTOR_OPS(runpod);
