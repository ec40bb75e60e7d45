/*
 * cloud.h - what the three cloud connectors share (RunPod, Lambda Cloud,
 * Vast.ai): cloud.c is the connector (struct connector_ops) and an adapter
 * (runpod.c, lambda.c, vastai.c) is the provider's REST API, nothing more.
 *
 * cloud.c does, once for the three: the provider config (one shape:
 * url, api_key_env | api_key_file, store, store_auth_env |
 * store_auth_file, gpu_types, regions, interruptible, max_price_per_hour,
 * image, boot_timeout_s, poll_ms, slots, and the adapter's own keys); the
 * key as a lib/secret secret_src (re-read on change, a loose file
 * refused, never logged, stored or given to a job); the requests (bearer
 * auth, an http_pool, a client-side pace under the provider's rate limit,
 * Retry-After honoured, a 401 turned into "unreachable: key rejected");
 * the run store (runstore.h) the wrapper ships to; find/submit/poll/
 * cancel/sync/list_artifacts/quote over the adapter; and the rule that no
 * instance idles: an instance whose job ended, was cancelled, was
 * preempted or never booted is terminated on the poll that sees it.
 *
 * An instance is ours when its name (RunPod name, Lambda name, Vast.ai
 * label) is cloud_name()'s "trainfs-<uuid>-<attempt>": find() looks for
 * it in the last list, so a daemon killed mid-run adopts its instance and
 * never launches a second one.
 *
 * Threading: the adapter's calls come from the provider's poller thread
 * (and its submit lanes); they block on HTTP and hold no lock of
 * cloud.c's. cloud_call() may be called from any of those threads.
 */
#ifndef TFS_CLOUD_H
#define TFS_CLOUD_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "connector.h"

#define CLOUD_ID_MAX 128
#define CLOUD_NAME_MAX 96            /* "trainfs-<36>-<5>" fits */
#define CLOUD_TEXT_MAX 256
#define CLOUD_OFFERS_MAX 4096        /* offers kept from one answer */
#define CLOUD_INSTANCES_MAX 100000   /* instances in one list answer */

struct cloud;                        /* cloud.c's, one per provider entry */

/* One way to run a job, as the provider sells it. */
struct cloud_offer {
	char id[CLOUD_ID_MAX];       /* what launch takes: RunPod's gpu type
					id, Lambda's instance type name,
					Vast.ai's offer (ask) id */
	char gpu[CLOUD_TEXT_MAX];    /* the GPU as people name it:
					"A100 SXM4", "RTX 4090" */
	char region[CLOUD_TEXT_MAX]; /* data centre, region, geolocation */
	char cloud_type[32];         /* RunPod SECURE|COMMUNITY, else "" */
	int gpus;                    /* GPUs of the machine or pod */
	int cpus;                    /* 0: unknown */
	int64_t memory_mb;           /* 0: unknown */
	double price_per_hour;       /* USD, the whole machine, on-demand or
					the bid/spot price when
					interruptible */
	double min_bid;              /* Vast.ai's, else 0 */
	int available;               /* units free now as the provider says
					(1 when it only says "yes") */
};

/* What a launch is given; all borrowed for the call. */
struct cloud_launch {
	const struct cloud_offer *offer;
	const char *name;            /* cloud_name(): the mark find() sees */
	const char *image;           /* container image (RunPod, Vast.ai);
					Lambda ignores it */
	const char *script;          /* the wrapper, a POSIX sh script: the
					container's command is sh -c script
					(Lambda: user_data) */
	char *const *env;            /* "K=V", NULL-terminated: the store's
					credentials for the wrapper, the
					job's env; the wrapper keeps the
					credentials out of the job's */
	int gpus;                    /* gpuCount / num_gpus asked */
	int interruptible;
	double bid;                  /* Vast.ai interruptible: price offered */
	int disk_gb;
};

/* The provider's view of an instance, as the adapter maps it. */
enum cloud_state {
	CLOUD_BOOTING = 0,   /* created, loading, booting, provisioning */
	CLOUD_RUNNING,       /* its command runs (or the VM is up) */
	CLOUD_EXITED,        /* its command ended; the instance may still
				exist and bill */
	CLOUD_PREEMPTED,     /* taken back by the provider (spot, outbid) */
	CLOUD_FAILED,        /* unhealthy, or the provider says it failed */
	CLOUD_TERMINATING,   /* being deleted */
	CLOUD_GONE           /* terminated / deleted, or not listed */
};

struct cloud_inst {
	char id[CLOUD_ID_MAX];
	char name[CLOUD_NAME_MAX + 1]; /* "" when not ours */
	enum cloud_state state;
	char status[CLOUD_TEXT_MAX]; /* the provider's own words, for reason:
					"EXITED", "outbid", "Exited (3)" */
	double price_per_hour;       /* USD, -1 unknown */
	int64_t created_ms, started_ms; /* epoch ms, 0 unknown */
	int exit_code;               /* when the provider says, else -1 */
};

/* An adapter: the provider's API. Each call returns TFS_OK or a TFS_*
 * code with err (a sentence, no secret in it). */
struct cloud_api {
	const char *type;            /* "runpod", "lambda", "vastai" */
	const char *default_url;     /* the public API base */
	/*
	 * Why a job without GPUs is not run here, or NULL: quote() has no
	 * offer for it (a provider list goes on to the next) and submit()
	 * refuses it with this.
	 */
	const char *no_cpu_only;
	/*
	 * Reads the adapter's own keys of the provider config (Lambda's
	 * ssh_key_name, RunPod's cloud_type, ...) into *priv; conf is the
	 * whole object, cloud.c has checked its own keys. NULL: none. The
	 * keys the adapter reads are listed in keys (NULL-terminated) so
	 * that cloud.c refuses every other.
	 */
	const char *const *keys;
	int (*init)(struct cloud *cl, const cJSON *conf, void **priv,
		    char *err, size_t errlen);
	void (*release)(void *priv);
	/*
	 * The offers that could run need now, cheapest first, at most
	 * CLOUD_OFFERS_MAX (caller frees *out). An offer with no capacity
	 * may be listed with available 0 (to say what is missing). RunPod,
	 * with no price list in its REST API, answers from its config.
	 */
	int (*offers)(struct cloud *cl, const struct job_need *need,
		      struct cloud_offer **out, size_t *n, char *err,
		      size_t errlen);
	/*
	 * Creates the instance: TFS_OK with id; TFS_EAGAIN with err
	 * "no capacity ..." when the provider has none for the offer (nothing
	 * was created); TFS_EINPROGRESS when the answer was lost and the
	 * instance may exist (find() looks for it by name); TFS_EACCES for
	 * a refused key; TFS_EBUSY for a 429 past its waits (nothing made);
	 * else TFS_EIO / TFS_EINVAL.
	 */
	int (*launch)(struct cloud *cl, const struct cloud_launch *l,
		      char *id, size_t idlen, char *err, size_t errlen);
	/* Every instance of the account, in one request (caller frees). */
	int (*list)(struct cloud *cl, struct cloud_inst **out, size_t *n,
		    char *err, size_t errlen);
	/* Deletes / terminates the instance; TFS_OK also when it is gone. */
	int (*terminate)(struct cloud *cl, const char *id, char *err,
			 size_t errlen);
	/*
	 * The message of an error answer in the provider's shape (RunPod
	 * {"error","status"}, Lambda {"error":{"code","message"}}, Vast.ai
	 * {"success":false,"error","msg"}) into out, "" when none. Pure.
	 */
	void (*errmsg)(const cJSON *body, char *out, size_t outlen);
};

/* For adapters: the provider entry's settings cloud.c read. */
struct cloud_conf {
	const char *name;            /* the provider's name in the tree */
	const char *url;             /* API base, no trailing '/' */
	const char *const *gpu_types;  /* NULL-terminated, may be empty */
	const char *const *regions;
	int interruptible;
	double max_price_per_hour;   /* 0: no limit */
	void *priv;                  /* the adapter's, from its init() */
};
const struct cloud_conf *cloud_conf(const struct cloud *cl);

/*
 * One request to the provider: method, path under url (with its query),
 * body (JSON, may be NULL). Bearer auth from the key, the pace and
 * Retry-After handled here (a 429 waits, never spins), connection errors
 * and 5xx retried for idempotent methods only. On TFS_OK *answer is the
 * parsed JSON body (NULL for an empty one; caller deletes) and *status
 * the HTTP status. Errors: TFS_EACCES (401/403: the key), TFS_EBUSY
 * (429 after the waits allowed: rate limited, never "no capacity";
 * adapters pass it on), TFS_EIO (unreachable, 5xx, a body that
 * is not JSON), TFS_ENOENT (404), TFS_EINVAL (other 4xx), with err
 * holding the provider's own message (errmsg() of the adapter's error
 * shape, when given). *status is set on every answer that came.
 */
int cloud_call(struct cloud *cl, const char *method, const char *path,
	       const cJSON *body, cJSON **answer, long *status,
	       char *err, size_t errlen);

/*
 * The instances of a list answer: arr must be an array of at most
 * CLOUD_INSTANCES_MAX entries (else TFS_EIO, err naming what, e.g.
 * "Lambda's GET /api/v1/instances 'data'"); each object entry is mapped by
 * fn (0: kept, else skipped). On TFS_OK *out (caller frees) holds *n.
 */
typedef int (*cloud_inst_fn)(const cJSON *item, struct cloud_inst *in);
int cloud_insts_parse(const cJSON *arr, const char *what, cloud_inst_fn fn,
		      struct cloud_inst **out, size_t *n, char *err,
		      size_t errlen);

/* "trainfs-<uuid>-<attempt>" into out (CLOUD_NAME_MAX + 1 bytes). */
void cloud_name(char *out, size_t outlen, const char *uuid, int attempt);
/* Parses such a name: 1 with uuid (37 bytes) and *attempt, else 0. */
int cloud_name_parse(const char *name, char *uuid, int *attempt);

/*
 * The connector's ops over an adapter. An adapter file ends with
 * CLOUD_CONNECTOR_OPS(runpod), which defines runpod_connector_ops over
 * runpod_api; connector.c lists the three.
 */
int cloud_init(struct connector *c, const cJSON *conf,
	       const struct cloud_api *api, char *err, size_t errlen);
void cloud_release(struct connector *c);
int cloud_ping(struct connector *c, char *err, size_t errlen);
int cloud_find(struct connector *c, const struct job_spec *spec,
	       char *job_id, size_t idlen, char *err, size_t errlen);
int cloud_submit(struct connector *c, const struct job_spec *spec,
		 char *job_id, size_t idlen, char *err, size_t errlen);
int cloud_poll(struct connector *c, struct job_query *q, size_t n,
	       char *err, size_t errlen);
int cloud_cancel(struct connector *c, const struct job_query *q,
		 int kill_grace_s, char *err, size_t errlen);
int cloud_sync(struct connector *c, struct job_query *q, char *err,
	       size_t errlen);
int cloud_artifact_headers(struct connector *c, const char *url, char *out,
			   size_t outlen, char *err, size_t errlen);
int cloud_list_artifacts(struct connector *c, const struct job_query *q,
			 artifact_cb cb, void *arg, char *err, size_t errlen);
int cloud_status(struct connector *c, char *out, size_t outlen);
int cloud_quote(struct connector *c, const struct job_need *need,
		double *usd_per_hour, char *why, size_t whylen);

#define CLOUD_CONNECTOR_OPS(p)						\
static int p##_connector_init(struct connector *c, const cJSON *conf,	\
			      char *err, size_t errlen)			\
{									\
	return cloud_init(c, conf, &p##_api, err, errlen);		\
}									\
const struct connector_ops p##_connector_ops = {			\
	.type = #p,							\
	.init = p##_connector_init,					\
	.release = cloud_release,					\
	.ping = cloud_ping,						\
	.find = cloud_find,						\
	.submit = cloud_submit,						\
	.poll = cloud_poll,						\
	.cancel = cloud_cancel,						\
	.sync = cloud_sync,						\
	.list_artifacts = cloud_list_artifacts,				\
	.status = cloud_status,						\
	.quote = cloud_quote,						\
	.artifact_headers = cloud_artifact_headers,			\
}

/* One RunPod pod of GET /v1/pods into in (runpod.c; for tests). */
void runpod_pod(const cJSON *p, struct cloud_inst *in);

/* Lambda's and Vast.ai's answers, parsed as their adapters do (lambda.c,
 * vastai.c; for tests): TFS_OK, or TFS_EIO for an answer not in the
 * provider's shape or over the bounds. Caller frees *out. */
int lambda_offers_parse(const cJSON *ans, const struct job_need *need,
			struct cloud_offer **out, size_t *n, char *err,
			size_t errlen);
int lambda_list_parse(const cJSON *ans, struct cloud_inst **out, size_t *n,
		      char *err, size_t errlen);
/* The user_data of a launch: the env exported, then script (caller
 * frees); NULL when too big. */
char *lambda_user_data(const char *script, char *const *env);
int vastai_offers_parse(const cJSON *ans, int interruptible,
			struct cloud_offer **out, size_t *n, char *err,
			size_t errlen);
int vastai_list_parse(const cJSON *ans, struct cloud_inst **out, size_t *n,
		      char *err, size_t errlen);
/* The bundles query for need (caller frees). */
char *vastai_query(const struct cloud_conf *cc, const struct job_need *need);

extern const struct cloud_api runpod_api, lambda_api, vastai_api;

#endif
