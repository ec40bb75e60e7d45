/*
 * core_int.h - the model's private structures, shared by core.c (the model
 * and its files) and poller.c (the scheduler and the poller thread). Not for
 * fs/ or connectors/.
 *
 * Lock order: core.lock, then the store's lock, then log_lock in util.c.
 * core.lock is never held across a connector call or a FUSE reply; it is
 * held across SQLite statements, which in WAL mode with synchronous=NORMAL
 * do not fsync, except for the one durable commit of a submission.
 */
#ifndef TFS_CORE_INT_H
#define TFS_CORE_INT_H

#include <pthread.h>
#include <stdint.h>

#include "config.h"
#include "connector.h"
#include "core.h"
#include "hmap.h"
#include "store.h"

struct exp;

struct run {
	int64_t id;
	struct exp *exp;
	char *name;
	char uuid[37];
	int state;
	int attempt;
	int priority;
	int max_retries;
	char *provider;
	char *job_id;
	int exit_code;              /* STORE_NO_EXIT when none */
	char *reason;
	char *kind;
	int64_t created_ms, submitted_ms, started_ms, ended_ms, updated_ms;
	int64_t retry_at_ms;
	int cancel_requested;       /* CANCEL_* */
	int64_t log_offset, mfile_offset, step_counter;
	char config_sha[65];
	int64_t events_ms, metrics_ms, config_ms;
	/* in memory only */
	struct run_config *cfg;     /* parsed, while queued or active */
	int pending_signal;         /* 0, or JOB_SIG_* + 1 */
	int64_t last_cancel_ms;     /* monotonic, last cancel request sent */
	int64_t last_sys_ms;        /* monotonic, last cpu/rss sample stored */
	double last_step;
	int64_t seq;                /* submission order, for the queue */
	struct run *lprev, *lnext;  /* in c->queued or c->active */
	int list;                   /* which list: LIST_* */
};

enum { CANCEL_NONE = 0, CANCEL_USER = 1, CANCEL_TIMEOUT = 2 };
enum { LIST_NONE = 0, LIST_QUEUED, LIST_ACTIVE };

struct exp {
	int64_t id;
	char *name;
	int64_t created_ms, mtime_ms;
	struct run **runs;          /* sorted by id */
	size_t nruns, cap;
	struct hmap by_name;        /* name -> struct run */
};

struct tpl {
	int64_t id;                 /* in memory only, stable while mounted */
	char *name;
	int64_t size, mtime_ms;
};

struct provider {
	struct connector conn;
	int healthy;
	char health[256];
	int64_t last_poll_ms;
	/* used capacity, recomputed by the scheduler */
	int used_cpus, used_gpus, used_jobs;
	int64_t used_memory_mb;
};

struct run_list {
	struct run *head, *tail;
	size_t n;
};

struct core {
	pthread_mutex_t lock;       /* protects everything below */
	pthread_cond_t wake;        /* poller: something to do */
	struct store *store;
	char *state_dir;
	int poll_ms;
	int kill_grace_s;
	int retry_base_s, retry_max_s;

	struct exp **exps;          /* sorted by id */
	size_t nexps, expcap;
	struct hmap exp_by_name;
	struct hmap run_by_id;
	struct tpl **tpls;
	size_t ntpls, tplcap;
	int64_t next_tpl_id;
	struct provider *provs;
	int nprovs;
	struct run_list queued;     /* state queued */
	struct run_list active;     /* initializing, running, paused */
	int64_t next_seq;
	int64_t events_ms, queue_ms;

	core_listener_fn listener;
	void *listener_arg;

	pthread_t poller;
	int poller_started;
	int stop;
	int kick;                   /* work requested since the last pass */
};

/* core.c, for poller.c; each *_locked assumes c->lock is held. */
void core_notify(struct core *c, int64_t run_id, unsigned what);
void run_event_locked(struct core *c, struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void run_save_locked(struct core *c, struct run *r);
void run_set_state_locked(struct core *c, struct run *r, int state,
			  const char *reason);
struct provider *provider_find(struct core *c, const char *name);
void run_dir_path(struct core *c, const struct run *r, char *out,
		  size_t len);

/* poller.c */
int poller_start(struct core *c);
void poller_stop(struct core *c);
/* Order of the queue: the runs in the order they will start. */
size_t sched_order_locked(struct core *c, struct run ***out);
/* Why a queued run waits, as a sentence, into out. */
void sched_reason_locked(struct core *c, struct run *r, char *out,
			 size_t len);

#endif
