/*
 * notify.h - notifications of run state changes: a command to run
 * and/or a webhook to POST JSON to, for the states a user selects. Delivery
 * happens on the notifier's own thread: a slow or failing webhook is retried
 * with backoff and never blocks the scheduler or the filesystem.
 */
#ifndef TFS_NOTIFY_H
#define TFS_NOTIFY_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "state.h"

#define NOTIFY_QUEUE_MAX 10000     /* pending deliveries; past it the oldest
				      is dropped, with a log line */
#define NOTIFY_BODY_MAX (1024 * 1024) /* larger bodies are not sent */
#define NOTIFY_ARGS_MAX 256        /* notify.command entries */
#define NOTIFY_ARG_MAX 4096        /* bytes of one notify.command entry */
#define NOTIFY_URL_MAX 2048        /* bytes of notify.webhook */

/* Where and when to tell. */
struct notify_target {
	char **command;        /* argv, NULL-terminated; or NULL */
	char *webhook;         /* http:// or https:// URL; or NULL */
	unsigned on;           /* bit (1 << state) per enum run_state value
				  (state.h) that triggers it */
};

/*
 * Parses {"command": ["notify-send", "x"], "webhook": "http://...",
 * "on": ["completed", "failed"]} ("on" defaults to completed and failed;
 * at least one of command and webhook). Unknown keys, wrong types, bad
 * state names, a URL that is not http(s), more than 256 args are refused
 * with one sentence in err naming the key as 'notify.<key>'. Returns
 * TFS_OK or TFS_EINVAL. Release with notify_target_release().
 */
int notify_parse(const cJSON *obj, struct notify_target *out, char *err,
		 size_t errlen);
void notify_target_release(struct notify_target *t);
/* A deep copy (for keeping a run's target after its config is freed). */
void notify_target_copy(struct notify_target *dst,
			const struct notify_target *src);
/*
 * 1 when t has somewhere to deliver to and its "on" selects state (an enum
 * run_state value). notifier_send() does not filter: the caller asks this.
 */
int notify_wants(const struct notify_target *t, int state);

struct notifier;

/*
 * Starts the delivery thread. A webhook gets up to max_attempts POSTs
 * (default 5 when 0) with backoff_ms doubling between them (default 1000,
 * at most 10 min), longer when the webhook's Retry-After says so; a
 * command runs once, with a 30 s limit. Returns NULL on failure.
 */
struct notifier *notifier_new(int max_attempts, int backoff_ms);
/* Stops the thread; deliveries still pending are given up, with a log. */
void notifier_free(struct notifier *n);

/*
 * Queues one delivery of body (JSON text, copied) to t (copied). Never
 * blocks beyond a short lock. The command gets the body on its standard
 * input and TRAINFS_NOTIFY_RUN / TRAINFS_NOTIFY_STATE in its environment;
 * the webhook gets it as the POST body with Content-Type application/json.
 */
void notifier_send(struct notifier *n, const struct notify_target *t,
		   const char *body, const char *run_name, const char *state);

/* Counters, for tests and the providers status: delivered, failed. */
void notifier_stats(struct notifier *n, uint64_t *delivered,
		    uint64_t *failed);

#endif
