/*
 * vastai.c - the Vast.ai adapter (API v0, providers.md): a rented offer
 * (an "ask") per attempt, PUT /api/v0/asks/{id}/ with the wrapper as the
 * container's argv, one GET /api/v0/instances/ for every poll, DELETE
 * /api/v0/instances/{id}/ to end it.
 *
 * Vast.ai is a market: offers() asks /bundles/ for what fits need and
 * the config (GPU names, count, price, geolocation) cheapest first, and
 * an offer rented by someone else since is a 404 no_such_ask at the
 * launch, which is no capacity (cloud.c tries the next). The container
 * runs with runtype "args": its argv is sh -c <wrapper>, so the
 * container ends with the job and Vast.ai says "Exited (N)"; with
 * "onstart" the script would run beside an ssh daemon that keeps the
 * container, and its bill, alive. An interruptible instance is a bid at
 * the offer's min_bid; outbid, it is intended_status stopped with
 * status_msg "outbid", and stays (billing storage) until DELETE.
 */
#define _GNU_SOURCE
#include "cloud.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "util.h"

#define VASTAI_DISK_GB 20
#define VASTAI_LIMIT 64              /* offers asked for */

static int vastai_interruptible(const struct cloud_conf *cc,
				const struct job_need *need)
{
	return need && need->interruptible >= 0 ? need->interruptible :
	       cc->interruptible;
}

static cJSON *vastai_strings(const char *const *v)
{
	cJSON *a = cJSON_CreateArray();

	for (; v && *v; v++)
		cJSON_AddItemToArray(a, cJSON_CreateString(*v));
	return a;
}

char *vastai_query(const struct cloud_conf *cc, const struct job_need *need)
{
	int bid = vastai_interruptible(cc, need);
	cJSON *q = cJSON_CreateObject(), *c, *order, *o;
	char *text;

	c = cJSON_AddObjectToObject(q, "rentable");
	cJSON_AddBoolToObject(c, "eq", 1);
	if (need->gpus > 0) {
		c = cJSON_AddObjectToObject(q, "num_gpus");
		cJSON_AddNumberToObject(c, "gte", need->gpus);
	}
	if (cc->gpu_types && cc->gpu_types[0]) {
		c = cJSON_AddObjectToObject(q, "gpu_name");
		cJSON_AddItemToObject(c, "in", vastai_strings(cc->gpu_types));
	}
	if (cc->regions && cc->regions[0]) {
		c = cJSON_AddObjectToObject(q, "geolocation");
		cJSON_AddItemToObject(c, "in", vastai_strings(cc->regions));
	}
	if (cc->max_price_per_hour > 0) {
		c = cJSON_AddObjectToObject(q, bid ? "min_bid" : "dph_total");
		cJSON_AddNumberToObject(c, "lte", cc->max_price_per_hour);
	}
	if (need->cpus > 0) {
		c = cJSON_AddObjectToObject(q, "cpu_cores");
		cJSON_AddNumberToObject(c, "gte", need->cpus);
	}
	if (need->memory_mb > 0) {
		c = cJSON_AddObjectToObject(q, "cpu_ram");   /* MB */
		cJSON_AddNumberToObject(c, "gte", (double)need->memory_mb);
	}
	order = cJSON_AddArrayToObject(q, "order");
	o = cJSON_CreateArray();
	cJSON_AddItemToArray(o, cJSON_CreateString(bid ? "min_bid" :
						   "dph_total"));
	cJSON_AddItemToArray(o, cJSON_CreateString("asc"));
	cJSON_AddItemToArray(order, o);
	cJSON_AddStringToObject(q, "type", bid ? "bid" : "on-demand");
	cJSON_AddNumberToObject(q, "limit", VASTAI_LIMIT);
	text = cJSON_PrintUnformatted(q);
	cJSON_Delete(q);
	return text;
}

static const char *vastai_str(const cJSON *o, const char *k)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	return cJSON_IsString(it) ? it->valuestring : "";
}

/* A number of o in [lo, hi], else dflt. */
static double vastai_num(const cJSON *o, const char *k, double lo, double hi,
			 double dflt)
{
	const cJSON *it = cJSON_GetObjectItemCaseSensitive(o, k);

	if (!cJSON_IsNumber(it) || it->valuedouble < lo ||
	    it->valuedouble > hi)
		return dflt;
	return it->valuedouble;
}

/* Vast.ai's ids are positive integers: into out, 0; else -1. */
static int vastai_id(const cJSON *o, char *out, size_t outlen)
{
	double v = vastai_num(o, "id", 1, 9e15, -1);

	if (v < 1 || v != (double)(long long)v)
		return -1;
	snprintf(out, outlen, "%lld", (long long)v);
	return 0;
}

int vastai_offers_parse(const cJSON *ans, int interruptible,
			struct cloud_offer **out, size_t *n, char *err,
			size_t errlen)
{
	const cJSON *offers = cJSON_GetObjectItemCaseSensitive(ans, "offers");
	const cJSON *e;
	struct cloud_offer *o;
	size_t k = 0;

	*out = NULL;
	*n = 0;
	if (!cJSON_IsArray(offers)) {
		snprintf(err, errlen, "Vast.ai's GET /api/v0/bundles/ has no "
			 "'offers' array");
		return TFS_EIO;
	}
	if (cJSON_GetArraySize(offers) > CLOUD_OFFERS_MAX) {
		snprintf(err, errlen, "Vast.ai answers more than %d offers",
			 CLOUD_OFFERS_MAX);
		return TFS_EIO;
	}
	o = xcalloc((size_t)cJSON_GetArraySize(offers) + 1, sizeof(*o));
	cJSON_ArrayForEach(e, offers) {
		struct cloud_offer *x = &o[k];
		double dph = vastai_num(e, "dph_total", 0, 1e5, -1);
		const char *gpu = vastai_str(e, "gpu_name");
		const char *geo = vastai_str(e, "geolocation");

		memset(x, 0, sizeof(*x));
		/* an offer not in Vast.ai's shape is skipped, not guessed */
		if (vastai_id(e, x->id, sizeof(x->id)) || dph < 0 || !gpu[0] ||
		    strlen(gpu) >= sizeof(x->gpu) || strlen(geo) >=
		    sizeof(x->region))
			continue;
		snprintf(x->gpu, sizeof(x->gpu), "%s", gpu);
		snprintf(x->region, sizeof(x->region), "%s", geo);
		x->gpus = (int)vastai_num(e, "num_gpus", 0, 1024, 0);
		x->cpus = (int)vastai_num(e, "cpu_cores", 0, 1e5, 0);
		x->memory_mb = (int64_t)vastai_num(e, "cpu_ram", 0, 1e9, 0);
		x->min_bid = vastai_num(e, "min_bid", 0, 1e5, 0);
		x->price_per_hour = interruptible && x->min_bid > 0 ?
				    x->min_bid : dph;
		x->available = 1;   /* listed means rentable now */
		k++;
	}
	*out = o;
	*n = k;
	return TFS_OK;
}

/* One request: GET /api/v0/bundles/?q=<the query>. */
static int vastai_offers(struct cloud *cl, const struct job_need *need,
			 struct cloud_offer **out, size_t *n, char *err,
			 size_t errlen)
{
	const struct cloud_conf *cc = cloud_conf(cl);
	char *q = vastai_query(cc, need), *esc = NULL, *path = NULL;
	cJSON *ans = NULL;
	int rc = TFS_ENOMEM;

	*out = NULL;
	*n = 0;
	if (q)
		esc = curl_easy_escape(NULL, q, 0);
	if (esc) {
		path = xmalloc(strlen(esc) + 32);
		sprintf(path, "/api/v0/bundles/?q=%s", esc);
		rc = cloud_call(cl, "GET", path, NULL, &ans, NULL, err,
				errlen);
		if (!rc)
			rc = vastai_offers_parse(ans, vastai_interruptible(
							 cc, need), out, n,
						 err, errlen);
	} else {
		snprintf(err, errlen, "out of memory");
	}
	cJSON_Delete(ans);
	curl_free(esc);
	free(path);
	free(q);
	return rc;
}

/* One request: PUT /api/v0/asks/{offer}/. */
static int vastai_launch(struct cloud *cl, const struct cloud_launch *l,
			 char *id, size_t idlen, char *err, size_t errlen)
{
	cJSON *b = cJSON_CreateObject(), *ans = NULL, *env, *arr;
	char path[CLOUD_ID_MAX + 32];
	char *const *e;
	double v;
	int rc;

	if (!l->offer->id[0] || strspn(l->offer->id, "0123456789") !=
	    strlen(l->offer->id)) {
		cJSON_Delete(b);
		snprintf(err, errlen, "bad offer id '%.40s'", l->offer->id);
		return TFS_EINVAL;
	}
	snprintf(path, sizeof(path), "/api/v0/asks/%s/", l->offer->id);
	cJSON_AddStringToObject(b, "client_id", "me");
	cJSON_AddStringToObject(b, "image", l->image);
	cJSON_AddNumberToObject(b, "disk", l->disk_gb > 0 ? l->disk_gb :
				VASTAI_DISK_GB);
	cJSON_AddStringToObject(b, "label", l->name);
	env = cJSON_AddObjectToObject(b, "env");
	for (e = l->env; e && *e; e++) {
		const char *eq = strchr(*e, '=');
		char k[256];

		/* a key starting with '-' is a docker option to Vast.ai */
		if (!eq || eq == *e || **e == '-' ||
		    (size_t)(eq - *e) >= sizeof(k))
			continue;
		snprintf(k, sizeof(k), "%.*s", (int)(eq - *e), *e);
		cJSON_AddStringToObject(env, k, eq + 1);
	}
	cJSON_AddStringToObject(b, "runtype", "args");
	arr = cJSON_AddArrayToObject(b, "args");
	cJSON_AddItemToArray(arr, cJSON_CreateString("sh"));
	cJSON_AddItemToArray(arr, cJSON_CreateString("-c"));
	cJSON_AddItemToArray(arr, cJSON_CreateString(l->script));
	if (l->interruptible) {
		v = l->bid > l->offer->min_bid ? l->bid : l->offer->min_bid;
		cJSON_AddNumberToObject(b, "price", v);
	}
	rc = cloud_call(cl, "PUT", path, b, &ans, NULL, err, errlen);
	/* the body holds the store's credential: wipe it */
	for (env = env->child; env; env = env->next)
		if (env->valuestring)
			explicit_bzero(env->valuestring,
				       strlen(env->valuestring));
	cJSON_Delete(b);
	if (rc == TFS_OK) {
		const cJSON *ok = cJSON_GetObjectItemCaseSensitive(ans,
								   "success");
		v = vastai_num(ans, "new_contract", 1, 9e15, -1);
		if (cJSON_IsFalse(ok)) {
			snprintf(err, errlen, "Vast.ai refused offer %s: %s",
				 l->offer->id, vastai_str(ans, "msg"));
			rc = TFS_EINVAL;
		} else if (v >= 1 && v == (double)(long long)v) {
			snprintf(id, idlen, "%lld", (long long)v);
		} else {
			snprintf(err, errlen, "Vast.ai's answer to PUT %s has "
				 "no new_contract", path);
			rc = TFS_EINPROGRESS;
		}
	} else if (rc == TFS_ENOENT) {
		/* no_such_ask: rented by someone else since the search */
		snprintf(err, errlen, "no capacity for %dx%s on vastai: offer "
			 "%s is gone", l->gpus > 0 ? l->gpus : 1,
			 l->offer->gpu, l->offer->id);
		rc = TFS_EAGAIN;
	} else if (rc == TFS_EIO) {
		rc = TFS_EINPROGRESS;   /* the instance may have been made */
	}
	cJSON_Delete(ans);
	return rc;
}

/* One instance of GET /instances/ into in; 0, or -1 when it has no id. */
static int vastai_instance(const cJSON *p, struct cloud_inst *in)
{
	const char *label = vastai_str(p, "label");
	const char *actual = vastai_str(p, "actual_status");
	const char *intended = vastai_str(p, "intended_status");
	const char *msg = vastai_str(p, "status_msg");
	double start = vastai_num(p, "start_date", 0, 1e11, 0);
	int code;

	memset(in, 0, sizeof(*in));
	if (vastai_id(p, in->id, sizeof(in->id)))
		return -1;
	if (strlen(label) <= CLOUD_NAME_MAX)
		snprintf(in->name, sizeof(in->name), "%s", label);
	snprintf(in->status, sizeof(in->status), "%s%s%s", actual,
		 msg[0] ? ": " : "", msg);
	in->price_per_hour = vastai_num(p, "dph_total", 0, 1e5, -1);
	in->created_ms = (int64_t)(start * 1000);
	in->exit_code = -1;
	if (sscanf(msg, "Exited (%d)", &code) == 1 && code >= 0 && code < 256)
		in->exit_code = code;
	if (!strcmp(intended, "stopped") && !strncasecmp(msg, "outbid", 6))
		in->state = CLOUD_PREEMPTED;
	else if (!strcmp(actual, "exited"))
		in->state = CLOUD_EXITED;
	else if (!strcmp(intended, "stopped"))
		in->state = CLOUD_TERMINATING;   /* stopping, not by us */
	else if (!strcmp(actual, "running"))
		in->state = CLOUD_RUNNING;
	else
		in->state = CLOUD_BOOTING;       /* created, loading, null */
	if (in->state == CLOUD_RUNNING)
		in->started_ms = in->created_ms;
	return 0;
}

int vastai_list_parse(const cJSON *ans, struct cloud_inst **out, size_t *n,
		      char *err, size_t errlen)
{
	return cloud_insts_parse(
		cJSON_GetObjectItemCaseSensitive(ans, "instances"),
		"Vast.ai's GET /api/v0/instances/ 'instances'",
		vastai_instance, out, n, err, errlen);
}

/* One request: GET /api/v0/instances/?owner=me. */
static int vastai_list(struct cloud *cl, struct cloud_inst **out, size_t *n,
		       char *err, size_t errlen)
{
	cJSON *ans = NULL;
	int rc = cloud_call(cl, "GET", "/api/v0/instances/?owner=me", NULL,
			    &ans, NULL, err, errlen);

	*out = NULL;
	*n = 0;
	if (!rc)
		rc = vastai_list_parse(ans, out, n, err, errlen);
	cJSON_Delete(ans);
	return rc;
}

/* One request: DELETE /api/v0/instances/{id}/; 404 is gone already. */
static int vastai_terminate(struct cloud *cl, const char *id, char *err,
			    size_t errlen)
{
	char path[CLOUD_ID_MAX + 32];
	cJSON *ans = NULL;
	int rc;

	if (!id[0] || strlen(id) > 20 || strspn(id, "0123456789") !=
	    strlen(id)) {
		snprintf(err, errlen, "bad instance id");
		return TFS_EINVAL;
	}
	snprintf(path, sizeof(path), "/api/v0/instances/%s/", id);
	rc = cloud_call(cl, "DELETE", path, NULL, &ans, NULL, err, errlen);
	cJSON_Delete(ans);
	return rc == TFS_ENOENT ? TFS_OK : rc;
}

/* {"success": false, "error": "<code>", "msg": "<text>"} ->
 * "text (code)". */
static void vastai_errmsg(const cJSON *body, char *out, size_t outlen)
{
	const char *msg = vastai_str(body, "msg");
	const char *code = vastai_str(body, "error");

	out[0] = '\0';
	if (msg[0] || code[0])
		snprintf(out, outlen, "%s%s%s%s", msg[0] ? msg : code,
			 msg[0] && code[0] ? " (" : "", msg[0] ? code : "",
			 msg[0] && code[0] ? ")" : "");
}

const struct cloud_api vastai_api = {
	.type = "vastai",
	.default_url = "https://console.vast.ai",
	.keys = NULL,
	.init = NULL,
	.release = NULL,
	.offers = vastai_offers,
	.launch = vastai_launch,
	.list = vastai_list,
	.terminate = vastai_terminate,
	.errmsg = vastai_errmsg,
};

CLOUD_CONNECTOR_OPS(vastai);
