/*
 * connector.h - the one interface every provider implements (local, slurm,
 * runpod, lambda, vastai). core/ drives connectors only through
 * struct connector_ops; a connector knows its provider's API and nothing of
 * SQLite, FUSE or the run model. Like Redis's aeApi*, the backend is chosen
 * by name at start-up (connector_find()).
 *
 * Threading: core/ runs one poller thread per provider and calls that
 * provider's connector only from it, except list_artifacts() (see there),
 * so a connector needs no locks of its own unless it starts threads or
 * shares state between its instances. Calls may block on the provider
 * (HTTP, fork); core/ never holds its model lock across them, and a call
 * that hangs stalls only its own provider.
 *
 * Errors: every op returns TFS_OK or a TFS_* code (util.h) and, when it is
 * not TFS_OK, writes the reason as a sentence into err: core/ shows it to
 * the user in the run's events or the provider's status.
 *
 * Idempotence: every job carries the run's UUID and attempt number; after a
 * crash core/ asks find() before submit() so a job is never started twice.
 */
#ifndef TFS_CONNECTOR_H
#define TFS_CONNECTOR_H

#include <stddef.h>
#include <stdint.h>
#include <cjson/cJSON.h>

#include "err.h"

#define JOB_ID_MAX 128
#define JOB_REASON_MAX 256

/* What a job needs to start. All strings are borrowed for the call. */
struct job_spec {
	const char *run_id;       /* UUID, stable across retries */
	const char *run_name;     /* "exp/run" */
	int attempt;              /* 1, 2, ... */
	char *const *argv;        /* NULL-terminated, params substituted */
	char *const *env;         /* "K=V" added to the job's environment,
				     NULL-terminated; TRAINFS_* included */
	const char *workdir;      /* where the job starts; NULL: attempt_dir */
	const char *run_dir;      /* the run's directory in the state dir */
	const char *attempt_dir;  /* private to this attempt: the connector's
				     own files (pid, exit status, lock) */
	const char *log_path;     /* stdout+stderr are appended here */
	const char *metrics_path; /* $TRAINFS_METRICS */
	const char *output_dir;   /* $TRAINFS_OUTPUT_DIR, already created */
	const char *image;        /* container image, or NULL */
	int cpus;
	int gpus;
	int64_t memory_mb;
	const char *gpu_type;     /* or NULL */
	const char *gpu_list;     /* CUDA_VISIBLE_DEVICES value, or NULL */
	int timeout_s;            /* 0: none (core enforces it too) */
	int kill_grace_s;         /* TERM -> KILL grace on cancel */
};

/* A job's state as the provider reports it, mapped onto trainfs words. */
enum job_state {
	JOB_UNKNOWN = 0,   /* the provider does not know this job (any more) */
	JOB_PENDING,       /* accepted, not started (provisioning, queued) */
	JOB_RUNNING,
	JOB_PAUSED,
	JOB_COMPLETED,     /* exit code 0 */
	JOB_FAILED,        /* non-zero exit, signal, node failure, timeout */
	JOB_STOPPED,       /* cancelled */
	JOB_PREEMPTED      /* ended by the provider; worth a retry */
};

/* Returns "pending", "running", ... for logs and events. */
const char *job_state_name(enum job_state s);
/* 1 for COMPLETED, FAILED, STOPPED, PREEMPTED. */
int job_state_terminal(enum job_state s);

/* One job being polled: core fills the inputs, poll() fills the outputs. */
struct job_query {
	/* in */
	const char *job_id;
	const char *run_id;
	int attempt;
	const char *attempt_dir;
	const char *log_path;     /* the run's log: stdout+stderr go here */
	const char *metrics_path; /* the run's metrics.jsonl */
	/*
	 * in and out, for sync(): bytes of this attempt's remote log and
	 * metrics file already appended to the local ones; sync() adds what
	 * it appended. Kept by core across passes and restarts.
	 */
	int64_t log_synced, metrics_synced;
	/* out */
	enum job_state state;
	int exit_code;            /* when terminal; -1 unknown */
	int term_signal;          /* signal that ended it, 0 if none */
	int64_t start_ms, end_ms; /* 0 when unknown */
	double cpu_percent;       /* -1 when not sampled */
	int64_t rss_kb;           /* -1 when not sampled */
	char reason[JOB_REASON_MAX]; /* the provider's own words, may be "" */
	int no_retry;             /* with FAILED: another attempt could run
				     the job twice (a second start the
				     wrapper refused), or would fail the
				     same way: core fails the run, no retry */
	double price_per_hour;    /* USD the job's machine bills an hour
				     while it is held (from the provider's
				     answer); -1 unknown or free. core/
				     integrates it into the run's cost_usd */
};

/*
 * What a job asks of a machine, for quote(): from the run's resources.
 */
struct job_need {
	int cpus;
	int gpus;
	int64_t memory_mb;
	const char *gpu_type;     /* or NULL: any */
	int interruptible;        /* -1: as the provider's config says */
};

#define QUOTE_WHY_MAX 256

enum job_signal { JOB_SIG_PAUSE, JOB_SIG_RESUME };

#define ARTIFACT_PATH_MAX 1024     /* a relative path in the output dir */
#define ARTIFACT_URL_MAX 4096
#define ARTIFACT_FILES_MAX 100000  /* files in one manifest */

/*
 * One file a job produced, as the provider reports it: the hash is the
 * platform's word, computed where the job ran; core/ downloads from url and
 * refuses bytes that do not match it. Borrowed for the callback.
 */
struct artifact_entry {
	const char *path;         /* relative, '/'-separated */
	const char *skipped;      /* non-NULL: path was left out of the
				     manifest, and this says why ("a
				     symbolic link"); the other fields
				     are then unset */
	int64_t size;
	const char *sha256;       /* 64 lowercase hex digits */
	const char *url;          /* file://, http:// or https:// */
};
/* Returns 0 to go on, non-zero to stop the listing. */
typedef int (*artifact_cb)(void *arg, const struct artifact_entry *a);

struct connector;

/*
 * The operations. find() and submit() answer TFS_EINPROGRESS when an
 * attempt's submission is under way but unconfirmed: core/ keeps the
 * attempt (never submits a new one for it) and asks find() again on a
 * later pass.
 */
struct connector_ops {
	const char *type;         /* "local", "slurm", ... */
	/*
	 * Reads the provider's section of the daemon config (may be NULL for
	 * defaults) and sets c->priv. TFS_EINVAL for a bad config.
	 */
	int (*init)(struct connector *c, const cJSON *conf,
		    char *err, size_t errlen);
	/* Frees c->priv. Jobs keep running. */
	void (*release)(struct connector *c);
	/* Health check: TFS_OK when the provider answers. */
	int (*ping)(struct connector *c, char *err, size_t errlen);
	/*
	 * Looks for a job already submitted for (spec->run_id, attempt):
	 * TFS_OK with job_id filled when found, TFS_ENOENT when there is
	 * none, TFS_EINPROGRESS when a submission of it is under way but not
	 * confirmed yet.
	 */
	int (*find)(struct connector *c, const struct job_spec *spec,
		    char *job_id, size_t idlen, char *err, size_t errlen);
	/*
	 * Starts a job: TFS_OK with job_id filled, or TFS_EINPROGRESS when the
	 * job may have started but the provider has not confirmed it yet.
	 * TFS_EAGAIN when the provider has no capacity for it now (err:
	 * "no capacity for 1xA100 on lambda"): nothing was started, and
	 * core/ puts the run back in the queue with that reason, the same
	 * attempt, to try again later or on the next provider of its list.
	 * Must be idempotent for one (run_id, attempt).
	 */
	int (*submit)(struct connector *c, const struct job_spec *spec,
		      char *job_id, size_t idlen, char *err, size_t errlen);
	/*
	 * Fills the out fields of n queries, in as few provider requests as
	 * the API allows. An error means the provider could not be asked at
	 * all (the queries are left as they were).
	 */
	int (*poll)(struct connector *c, struct job_query *q, size_t n,
		    char *err, size_t errlen);
	/*
	 * Asks the provider to end the job (TERM, then KILL after
	 * kill_grace_s for local). TFS_OK once the request is accepted; core/
	 * calls it again until poll() shows the job terminal. q->job_id is ""
	 * for a submission not confirmed yet: the cancel must then hold for
	 * the job once it is.
	 */
	int (*cancel)(struct connector *c, const struct job_query *q,
		      int kill_grace_s, char *err, size_t errlen);
	/* Pause or resume. NULL, or TFS_EOPNOTSUPP, when the provider cannot. */
	int (*signal)(struct connector *c, const struct job_query *q,
		      enum job_signal sig, char *err, size_t errlen);
	/*
	 * For providers whose jobs run elsewhere: appends the bytes of the
	 * attempt's remote log from q->log_synced to q->log_path, and of its
	 * remote metrics file from q->metrics_synced to q->metrics_path,
	 * adding what it appended to those offsets (also on an error, for
	 * what it appended before it). Called by the poller while the job
	 * runs and once more after it ended, before the run turns final.
	 * NULL, or TFS_EOPNOTSUPP, for local (the job writes there itself).
	 */
	int (*sync)(struct connector *c, struct job_query *q, char *err,
		    size_t errlen);
	/*
	 * The manifest of an ended attempt: calls cb once per file. TFS_OK
	 * when listed, TFS_EAGAIN when the provider has none yet (core asks
	 * again later). May block (hashing, HTTP): core/ calls it from a
	 * worker thread, never the poller's, so it must not touch state the
	 * poller uses without its own lock.
	 */
	int (*list_artifacts)(struct connector *c, const struct job_query *q,
			      artifact_cb cb, void *arg, char *err,
			      size_t errlen);
	/*
	 * A file descriptor that becomes readable when a job may have
	 * changed state (core/ then drains it and polls at once), or -1.
	 * NULL: the provider is only polled.
	 */
	int (*wake_fd)(struct connector *c);
	/*
	 * Lines the provider adds to providers/<name>/status ("key: value\n"
	 * each), into out; returns their length. Called from any thread
	 * with core's model lock held: it must not block and may read only
	 * what it publishes with atomics or keeps unchanged after init().
	 * NULL: nothing to add.
	 */
	int (*status)(struct connector *c, char *out, size_t outlen);
	/*
	 * The price of running a job with need on this provider now, from
	 * what the connector last learnt (its offers, refreshed by its own
	 * thread in poll() or ping()): TFS_OK with *usd_per_hour and, in
	 * why, the offer ("1x RTX 4090 in EU-RO-1 at $0.34/h");
	 * TFS_EAGAIN when nothing fits now (why: "no capacity for 1xA100 on
	 * lambda"); TFS_EOPNOTSUPP when the provider has no price. Called
	 * by the scheduler with core's model lock held: it must not block
	 * and reads its offers under its own lock. NULL: no price.
	 */
	int (*quote)(struct connector *c, const struct job_need *need,
		     double *usd_per_hour, char *why, size_t whylen);
	/*
	 * The request headers a download of url (an artifact's, as
	 * list_artifacts gave it) needs, e.g. an authenticated store's
	 * Authorization: "Name: value" lines, each ended by '\n', into out
	 * ("" for none). Their values are secrets: core sends them and
	 * wipes out, never puts them in a message. TFS_OK, or an error with
	 * err set (a credential that cannot be read). Called from core's
	 * download workers, without core's lock. NULL: none needed.
	 */
	int (*artifact_headers)(struct connector *c, const char *url,
				char *out, size_t outlen, char *err,
				size_t errlen);
};
#define CONNECTOR_HEADERS_MAX 4096    /* bytes of artifact_headers' out */

/* An instance of a provider: one per entry in the daemon config. */
struct connector {
	const struct connector_ops *ops;
	char *name;      /* the provider's name in the tree, e.g. "local" */
	char *work_dir;  /* a directory private to this provider, set by core
			    before init(); may be NULL */
	void *priv;
	/* capacity, filled by init() from the config or the machine */
	int cap_cpus;
	int cap_gpus;
	int64_t cap_memory_mb;
	int cap_max_jobs;        /* 0: hold every job in the queue */
	int poll_ms;             /* this provider's poll interval, set by
				    init() or 0: the daemon's */
	int stopping;            /* set by core (atomically) when the daemon
				    stops: a call that waits on its provider
				    should give up (TFS_EINTR) */
	double price_per_hour;   /* the provider config's price_per_hour
				    (an on-prem chargeback rate), or -1:
				    none; core/ counts it when poll()
				    gives no price. Set by
				    connector_conf_price() */
	int submit_lanes;        /* set by init(): submissions in flight at
				    once, 0 or 1: one at a time. With more,
				    core calls find(), submit() and the
				    cancel() of an unconfirmed attempt from
				    that many threads at once (each for
				    another attempt); poll() and the rest
				    never meanwhile */
};

/* The table of known connector types; NULL when type is unknown. */
const struct connector_ops *connector_find(const char *type);
/*
 * Adds a type beside the built-in ones (a test's fake provider), before
 * core_open(); ops is borrowed for the life of the process. TFS_EEXIST
 * when the type is taken, TFS_ENOMEM when the table is full.
 */
int connector_register(const struct connector_ops *ops);
/*
 * Reads a provider config's "slots" object (cpus, gpus, memory_mb,
 * max_jobs, each a bounded integer) into c's capacity, over the defaults
 * init() set there. TFS_EINVAL with err for anything else.
 */
int connector_conf_slots(struct connector *c, const cJSON *slots, char *err,
			 size_t errlen);

#define CONNECTOR_PRICE_MAX 10000   /* USD an hour */
/*
 * Reads a provider config's "price_per_hour" value it (USD, 0 to
 * CONNECTOR_PRICE_MAX) into c->price_per_hour, which core/ sets to -1
 * (none) before init(). TFS_EINVAL with err for a bad one.
 */
int connector_conf_price(struct connector *c, const cJSON *it, char *err,
			 size_t errlen);

/*
 * quote() for a provider of fixed machines (local, Slurm): its
 * price_per_hour, or TFS_EOPNOTSUPP when none is configured; never
 * TFS_EAGAIN, a full provider being the scheduler's normal wait.
 */
int connector_quote_conf(struct connector *c, const struct job_need *need,
			 double *usd_per_hour, char *why, size_t whylen);

extern const struct connector_ops local_connector_ops;
extern const struct connector_ops slurm_connector_ops;
/* The clouds' (cloud.c over runpod.c, lambda.c, vastai.c). */
extern const struct connector_ops runpod_connector_ops,
	lambda_connector_ops, vastai_connector_ops;

#endif
