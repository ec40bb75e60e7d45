/*
 * connector.c - the registry of provider types and the words for job
 * states. core/ looks a provider type up here by the name written in the
 * daemon config, so adding a provider is one line in connector_types[].
 * Tests add their fake provider with connector_register(), so that the
 * daemon never ships it.
 */
#include "connector.h"

#include <stdio.h>
#include <string.h>

#include "json.h"

/* Every known provider type; a NULL entry is one not linked in. */
static const struct connector_ops *const connector_types[] = {
	&local_connector_ops,
	&slurm_connector_ops,
	&runpod_connector_ops,
	&lambda_connector_ops,
	&vastai_connector_ops,
};
#define CONNECTOR_NTYPES (sizeof(connector_types) / sizeof(connector_types[0]))

#define CONNECTOR_EXTRA_MAX 8

/* Types added by connector_register(), before any thread looks. */
static const struct connector_ops *connector_extra[CONNECTOR_EXTRA_MAX];
static size_t connector_nextra;

static const char *const connector_state_names[] = {
	[JOB_UNKNOWN] = "unknown",
	[JOB_PENDING] = "pending",
	[JOB_RUNNING] = "running",
	[JOB_PAUSED] = "paused",
	[JOB_COMPLETED] = "completed",
	[JOB_FAILED] = "failed",
	[JOB_STOPPED] = "stopped",
	[JOB_PREEMPTED] = "preempted",
};

const struct connector_ops *connector_find(const char *type)
{
	size_t i;

	if (!type)
		return NULL;
	for (i = 0; i < CONNECTOR_NTYPES; i++)
		if (connector_types[i] && !strcmp(connector_types[i]->type, type))
			return connector_types[i];
	for (i = 0; i < connector_nextra; i++)
		if (!strcmp(connector_extra[i]->type, type))
			return connector_extra[i];
	return NULL;
}

int connector_register(const struct connector_ops *ops)
{
	if (!ops || !ops->type || connector_find(ops->type))
		return TFS_EEXIST;
	if (connector_nextra == CONNECTOR_EXTRA_MAX)
		return TFS_ENOMEM;
	connector_extra[connector_nextra++] = ops;
	return TFS_OK;
}

/*
 * A value outside the enum (memory corruption, a newer peer) still gets a
 * printable word, so a log line never dereferences NULL.
 */
const char *job_state_name(enum job_state s)
{
	if ((unsigned)s >= sizeof(connector_state_names) /
			   sizeof(connector_state_names[0]))
		return "invalid";
	return connector_state_names[s];
}

int job_state_terminal(enum job_state s)
{
	return s == JOB_COMPLETED || s == JOB_FAILED || s == JOB_STOPPED ||
	       s == JOB_PREEMPTED;
}

int connector_conf_slots(struct connector *c, const cJSON *slots, char *err,
			 size_t errlen)
{
	const cJSON *s;

	if (!cJSON_IsObject(slots)) {
		snprintf(err, errlen, "'slots' must be an object");
		return TFS_EINVAL;
	}
	cJSON_ArrayForEach(s, slots) {
		long long v, hi;

		if (!strcmp(s->string, "cpus") || !strcmp(s->string, "max_jobs"))
			hi = 1 << 20;
		else if (!strcmp(s->string, "gpus"))
			hi = 1 << 16;
		else if (!strcmp(s->string, "memory_mb"))
			hi = 1LL << 40;
		else {
			snprintf(err, errlen, "unknown key 'slots.%.100s'",
				 s->string);
			return TFS_EINVAL;
		}
		if (json_int_range(s, "slots.", 0, hi, &v, err, errlen))
			return TFS_EINVAL;
		if (!strcmp(s->string, "cpus"))
			c->cap_cpus = (int)v;
		else if (!strcmp(s->string, "max_jobs"))
			c->cap_max_jobs = (int)v;
		else if (!strcmp(s->string, "gpus"))
			c->cap_gpus = (int)v;
		else
			c->cap_memory_mb = v;
	}
	return TFS_OK;
}

/*
 * A bounded number, so that a typo (a price per second, per month) is
 * refused at start-up rather than counted into every run's cost.
 */
int connector_conf_price(struct connector *c, const cJSON *it, char *err,
			 size_t errlen)
{
	if (!cJSON_IsNumber(it) || !(it->valuedouble >= 0) ||
	    it->valuedouble > CONNECTOR_PRICE_MAX) {
		snprintf(err, errlen, "'price_per_hour' must be a number of "
			 "USD from 0 to %d", CONNECTOR_PRICE_MAX);
		return TFS_EINVAL;
	}
	c->price_per_hour = it->valuedouble;
	return TFS_OK;
}

/*
 * A machine of our own is never "out of capacity": when its slots are
 * full the run waits in trainfs's queue as it always has (the scheduler
 * sees the slots), so the quote is the configured rate or no price.
 */
int connector_quote_conf(struct connector *c, const struct job_need *need,
			 double *usd_per_hour, char *why, size_t whylen)
{
	(void)need;
	if (c->price_per_hour < 0) {
		snprintf(why, whylen, "no price_per_hour configured on %s",
			 c->name);
		return TFS_EOPNOTSUPP;
	}
	*usd_per_hour = c->price_per_hour;
	snprintf(why, whylen, "configured rate of %s", c->name);
	return TFS_OK;
}
