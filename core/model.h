/*
 * model.h - the model's private structures and the rules for touching
 * them, shared by the core/ files that implement core.h (core.c, run.c,
 * sched.c, files.c), the poller and the artifact cache. Not for fs/ or
 * connectors/. It includes no header whose .c includes it back (not core.h
 * either), so that the include graph of core/ has no cycle.
 *
 * LOCK ORDER (take them in this order; never the other way round):
 *
 *   1. core.lock   the model: struct core and everything it points to
 *                  (runs, experiments, templates, providers, the cache's
 *                  tables), unless a field says otherwise
 *   2. one of      the store's locks (store.c keeps its own order: lock,
 *                  then rlock), the notifier's queue lock (notify.c), the
 *                  listener's queue lock (fs/), the streams' queues'
 *                  stream_lock (stream.c); none of them is taken
 *                  while another of them is held
 *   3. log_lock    util.c: anyone may log, holding anything
 *
 * core.lock is never held across a connector call, an HTTP transfer or a
 * FUSE reply; it is held across SQLite statements, which in WAL mode with
 * synchronous=NORMAL do not fsync, except for the one durable commit of a
 * submission. Functions named *_locked assume core.lock is held. The
 * listener and the state-change hooks are called with core.lock held: they
 * may take only locks below it.
 */
#ifndef TFS_MODEL_H
#define TFS_MODEL_H

#include <pthread.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "config.h"
#include "connector.h"
#include "hmap.h"
#include "notify.h"
#include "state.h"
#include "store.h"
#include "util.h"

struct core;
struct exp;
struct centry;
struct mlflow;

/* One entry of a run's manifest, loaded on first use of its artifacts/. */
struct art {
	int64_t id;                 /* the store's: the inode */
	int64_t run_id;
	int64_t parent;             /* id of the directory entry, 0: root */
	char *path;                 /* relative to the output directory */
	const char *name;           /* last component, inside path */
	int is_dir;
	int64_t size;
	char sha256[65];
	char *url;
};

/*
 * A file of the artifact cache, named by its SHA-256: one per content,
 * shared by every artifact with that hash, so a file is downloaded once.
 */
struct centry {
	char sha256[65];
	int64_t size;
	int state;                  /* enum art_state */
	int64_t done;               /* bytes on disk while downloading */
	char *url;                  /* where the current download reads */
	int64_t run_id;             /* whose events hear of failures */
	char *path_hint;            /* the artifact's path, for messages */
	int opens;                  /* open files and pins: not evictable */
	int retried;                /* the one automatic retry was used */
	int queued;
	int early_fd;               /* verified bytes not yet renamed into
				       place, or -1: served at once */
	int64_t failed_mono;        /* when it last failed (monotonic ms) */
	char reason[512];
	struct centry *lprev, *lnext;   /* LRU of verified files, newest first */
	int in_lru;
	struct art_waiter *waiters;
};

struct art_waiter {
	struct art_waiter *next;
	void (*cb)(void *arg, int result);
	void *arg;
};

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
	int64_t attempt_started_ms; /* the current attempt ran; 0: not yet */
	double cost_usd;            /* what its attempts cost (cost.c) */
	int64_t cost_ms;            /* counted in cost_usd up to here; 0: no
				       machine of it is held */
	int64_t held_ms;            /* how long its machines were held */
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
	int64_t cost_saved_ms;      /* monotonic, cost last saved */
	double price_per_hour;      /* the attempt's, last polled; -1: none */
	char *choice, *choice_why;  /* the provider list's last choice and
				       why, for status.json; or NULL */
	unsigned nocap_mask;        /* providers of its list that had no
				       capacity for the attempt (bit: index
				       in cfg->providers) */
	int nocap_tries;            /* refusals by the whole list in a row */
	char *nocap;                /* the last "no capacity" answer, while
				       it waits for another try */
	double last_step;
	int64_t seq;                /* submission order, for the queue */
	int64_t queued_ms;          /* when it last joined the queue */
	int manifest;               /* the attempt's manifest is stored */
	uint64_t gpu_mask;          /* GPUs given to the attempt */
	struct notify_target *notify;   /* the run's own, kept past its cfg */
	int manifest_queued;
	struct art **arts;          /* loaded on first use, sorted by id */
	size_t narts;
	int arts_loaded;
	struct run *lprev, *lnext;  /* in c->queued or c->active */
	int list;                   /* which list: LIST_* */
	char *lost_event;           /* the last event the store refused (a
				       full disk), written with the next */
	int64_t lost_ms;
	/*
	 * The job ended but its outputs are still being collected (the last
	 * log and metrics bytes scanned, the manifest stored): the run keeps
	 * its active state until then, and end_state is what it turns into.
	 */
	int ending;
	int end_state;
	char *end_reason;
	int64_t end_since_ms;       /* monotonic, when the job was seen ended */
	int scanned_attempt;        /* attempt whose log was read to its end
				       after its job ended */
	int collected_attempt;      /* attempt whose outputs were collected */
};

enum { CANCEL_NONE = 0, CANCEL_USER = 1, CANCEL_TIMEOUT = 2,
       CANCEL_BUDGET = 3, CANCEL_EARLY = 4 /* a sweep's early-stop rule */ };
enum { LIST_NONE = 0, LIST_QUEUED, LIST_ACTIVE };

struct exp {
	int64_t id;
	char *name;
	char *objective;            /* "metric min|max" or "" */
	int64_t created_ms, mtime_ms;
	struct run **runs;          /* sorted by id */
	size_t nruns, cap;
	struct hmap by_name;        /* name -> struct run */
	struct sweep **sweeps;      /* sorted by id (sweep.c) */
	size_t nsweeps, sweepcap;
};

/*
 * A sweep (sweep.c, DESIGN.md section 7) and its trials. Trial n's run is
 * "<sweep>-NNN" (n + 1, at least three digits) in the sweep's experiment.
 */
enum trial_state {
	TRIAL_NEW = 0,      /* its params are chosen and stored; its run is
			       not submitted yet (run_id 0: not made) */
	TRIAL_ACTIVE,       /* its run is submitted and has not ended */
	TRIAL_DONE,         /* completed, with the objective in value */
	TRIAL_FAILED,       /* failed, or completed without the objective */
	TRIAL_STOPPED,      /* stopped: cancelled, or early (early) */
};

struct sweep_point {
	double step, value;
};

struct trial {
	int n;
	int64_t run_id;
	char run_uuid[37];          /* chosen before its run is made: a run
				       of that name is this trial's only
				       with this UUID */
	int unsaved;                /* run_id not stored yet */
	char *params;               /* its params, JSON text */
	cJSON *pj;                  /* the same, parsed */
	int state;                  /* enum trial_state */
	double value;               /* the objective (DONE), or the last
				       value seen (STOPPED early) */
	int has_value;
	int early;                  /* stopped by the early-stop rule */
	/*
	 * The objective by step, for the median rule: read as it grows (from
	 * metrics.jsonl's offset seen_off), thinned to SWEEP_SERIES_MAX
	 * points by keeping every stride-th, and kept once the trial is
	 * DONE; best and last_step over every point read.
	 */
	struct sweep_point *series;
	size_t nseries;
	int64_t stride, skip;
	int series_loaded;          /* a DONE trial's series is complete */
	int64_t seen_off;
	double best, last_step;
	int has_best;
	int64_t checked_off;        /* seen_off at the last check */
};

struct sweep_spec;

struct sweep {
	int64_t id;
	struct exp *exp;
	char *name;
	int state;                  /* enum sweep_state (core.h) */
	char *spec;                 /* sweep.json as submitted, or NULL */
	struct sweep_spec *sp;      /* spec parsed, when spec is */
	char *reason;
	int max_trials;             /* the spec's, plus `extend` */
	int64_t created_ms, updated_ms, events_ms;
	struct trial *trials;       /* by number: trials[i].n == i */
	size_t ntrials, tcap;
	int failing;                /* trials refused in a row */
	int64_t retry_mono;         /* no new trial before (monotonic) */
	char *lost_event;           /* as struct run's */
	int64_t lost_ms;
};

struct tpl {
	int64_t id;                 /* in memory only, stable while mounted */
	char *name;
	int64_t size, mtime_ms;
};

struct poller_thread;

/* A chart kept for the next stat or read of the same content (charts.c). */
struct chart_memo {
	int64_t run_id;
	int64_t end;                /* the history's size it was drawn at */
	char *title;
	char *svg;                  /* NULL: the slot is free */
	size_t len;
	uint64_t used;              /* c->chart_tick when last used */
};
#define CHART_MEMO_N 4

struct provider {
	struct connector conn;
	struct poller_thread *pt;   /* its poller thread (poller.c) */
	int healthy;
	char health[256];
	int64_t last_poll_ms;
	int closed;                 /* this pass: no more starts here */
	int64_t reserved_for;       /* run id the free slots are held for */
	/* used capacity, recomputed by the scheduler */
	int used_cpus, used_gpus, used_jobs;
	uint64_t gpus_busy;         /* GPU indices given to active runs */
	int64_t used_memory_mb;
};

struct run_list {
	struct run *head, *tail;
	size_t n;
};

/*
 * A state-change hook, for what follows a run's state without being part
 * of the state machine (notifications, the artifacts of an ended attempt;
 * sweeps and exports to come). It is told that r went from old to
 * r->state after r's fields and list are updated, before the listener
 * hears of it; old equals r->state when only the reason changed. Called
 * with c->lock held, in the order the hooks were added: it must not block
 * (it queues work for a thread), takes only locks below c->lock (see the
 * top) and leaves r's state alone (no run_set_state_locked(): the change
 * it is told of is not over).
 */
typedef void (*run_hook_fn)(struct core *c, struct run *r, int old,
			    void *arg);
#define RUN_HOOKS_MAX 8

struct run_hook {
	run_hook_fn fn;
	void *arg;
};

struct core {
	pthread_mutex_t lock;       /* protects everything below */
	struct store *store;
	char *state_dir;
	struct backup *backup;      /* periodic backups, or NULL; its own
				       thread and lock (backup.h) */
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
	struct provider *provs;     /* allocated once, for every provider of
				       the daemon config, before the first's
				       init(): a connector keeps its
				       struct connector's address */
	int provcap;
	int nprovs;
	struct run_list queued;     /* state queued */
	struct run_list active;     /* initializing, running, paused */
	int64_t next_seq;
	struct run_hook hooks[RUN_HOOKS_MAX];   /* run_hook_add() */
	int nhooks;
	/* sweeps (sweep.c) */
	struct hmap sweep_by_id;    /* id -> struct sweep */
	struct hmap sweep_of_run;   /* a trial's run id -> struct sweep */
	pthread_t sweeper;
	int sweeper_started;
	pthread_cond_t sweep_work;  /* with lock: a trial changed, or work */
	int sweep_kicked;
	int sweep_quit;              /* the sweeper ends */
	int64_t events_ms, queue_ms;
	int starve_s;               /* wait bound before a run reserves */
	/* scheduler statistics, for MOUNT/scheduler */
	uint64_t passes;
	int64_t last_decide_ns, last_start_decide_ns, max_decide_ns;
	int64_t last_scanned;

	/* the artifact cache and its workers (artifacts.c) */
	char *cache_dir;
	int64_t cache_cap, cache_used;
	struct hmap centries;       /* sha256 -> struct centry */
	struct hmap art_by_id;      /* id -> struct art, of loaded runs */
	struct centry *lru_head, *lru_tail;
	struct centry **dlq;        /* downloads to do */
	size_t ndlq, dlqcap;
	int64_t *mfq;               /* runs whose manifest to fetch */
	size_t nmfq, mfqcap;
	pthread_cond_t work;        /* workers: something queued */
	pthread_t workers[2];
	int nworkers;
	int art_cancel;             /* atomic: downloads stop (art_stop) */

	struct mlflow *mlflow;      /* the MLflow export (mlflow.c), or NULL */
	struct notifier *notifier;  /* delivery thread, from core_start() */
	struct notify_target notify;    /* the daemon config's, if any */
	int has_notify;

	/* live streams (stream.c): the list changes under lock and
	 * stream_lock both, the queues under stream_lock */
	pthread_mutex_t stream_lock;
	int stream_lock_init;
	struct core_stream *streams;
	int nstreams;
	int stream_queue;           /* lines a reader may fall behind */

	/* a core_listener_fn (core.h) */
	void (*listener)(void *arg, int64_t run_id, unsigned what);
	void *listener_arg;

	/* the last metrics.svg drawn (charts.c) */
	struct chart_memo charts[CHART_MEMO_N];
	uint64_t chart_tick;

	int poller_started;         /* the provider threads run */
	pthread_t waker;
	int waker_started;
	int waker_pipe[2];
	int stop;
};

/* Each *_locked function below assumes c->lock is held. */

/*
 * stream.c: the live streams. stream_init() adds the state changes' hook
 * (core_open()); the others publish a line, c->lock held, and return at
 * once when nobody reads.
 */
int stream_init(struct core *c, char *err, size_t errlen);
void stream_free_all(struct core *c);
/* w went from old to w->state (for a reason) */
void stream_sweep_locked(struct core *c, const struct sweep *w, int old,
			 const char *reason);
/* the experiment or run (CORE_STREAM_EXP, _RUN) of id is removed: its
 * readers come to an end of file once they have read what is queued */
void stream_gone_locked(struct core *c, int scope, int64_t id);
/* a mount event of time ms */
void stream_event_locked(struct core *c, int64_t ms, const char *text);
/* n points of r, just stored */
void stream_metrics_locked(struct core *c, const struct run *r,
			   const struct store_point *pts, size_t n);

/* run.c: lists, the state machine, events, saving. */
/* Tells the listener (if any) that run_id (0: the mount) changed. */
void core_notify(struct core *c, int64_t run_id, unsigned what);
void run_event_locked(struct core *c, struct run *r, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void run_save_locked(struct core *c, struct run *r);
/* The row of r as the store takes it; sr borrows r's strings. */
void run_to_store(const struct run *r, struct store_run *sr);
void run_set_state_locked(struct core *c, struct run *r, int state,
			  const char *reason);
/*
 * The two halves of run_set_state_locked(), for a submission that commits
 * the event before the change: the event line, and the change in memory
 * (fields, list, hooks, news) without saving.
 */
void run_state_event_locked(struct core *c, struct run *r, int old,
			    int state, const char *reason);
void run_state_apply_locked(struct core *c, struct run *r, int state,
			    const char *reason);
/* Puts r on the list its state calls for (queued, active or none). */
void run_relist_locked(struct core *c, struct run *r);
/* Moves a queued run to its place after its priority changed. */
void run_requeue_locked(struct core *c, struct run *r);
/*
 * Adds fn to the hooks every state change calls, after those added
 * before; arg is the caller's and kept. TFS_ENOSPC past RUN_HOOKS_MAX.
 * Called while the core opens, before core_start().
 */
int run_hook_add(struct core *c, run_hook_fn fn, void *arg);
void run_dir_path(struct core *c, const struct run *r, char *out,
		  size_t len);

/* core.c */
struct provider *provider_find(struct core *c, const char *name);
/* The experiment with that id, or NULL; c->lock held. */
struct exp *core_exp_by_id(struct core *c, int64_t id);

/* sched.c */
/* Inserts r into the queue l at its place: priority, then submission. */
void sched_queue_insert(struct run_list *l, struct run *r);
/* 1 when a slot of p could ever hold cfg; else 0 with reason. */
int sched_fits_provider(const struct provider *p,
			const struct run_config *cfg, char *reason,
			size_t rlen);
/* TFS_EINVAL with reason for an unknown dependency of r or a cycle. */
int sched_deps_check_locked(struct core *c, struct run *r,
			    const struct run_config *cfg, char *reason,
			    size_t rlen);
/*
 * TFS_EBUSY with reason when a queued run depends on run d, or (d NULL)
 * names a run of experiment e as "e/x": `what` (remove, rename, move)
 * would strand it.
 */
int sched_dependents_check_locked(struct core *c, const struct run *d,
				  const struct exp *e, const char *what,
				  char *reason, size_t rlen);

/* cost.c */
/* USD of holding a machine at usd_per_hour from from_ms to to_ms. */
double cost_span_usd(double usd_per_hour, int64_t from_ms, int64_t to_ms);
/*
 * Adds what r's attempt cost since r->cost_ms, from poll answer q on
 * provider p, and checks its budget; may save r. now: wall clock.
 */
void cost_account_locked(struct core *c, struct run *r,
			 const struct provider *p, const struct job_query *q,
			 int64_t now);
/* "budget reached: $0.52 of $0.50" for r, into out. */
void cost_budget_reason(const struct run *r, char *out, size_t len);

/* One provider of a run's list, as the choice sees it. */
struct choice_in {
	const char *name;
	int usable;                 /* known, healthy and with a free slot
				       for the run now */
	const char *unusable_why;   /* when not usable, or NULL */
	int quote_rc;               /* TFS_OK, TFS_EAGAIN, TFS_EOPNOTSUPP */
	double price;               /* USD/h when quote_rc is TFS_OK */
	const char *quote_why;      /* quote()'s why */
};
/*
 * The provider a run of a list starts on: the cheapest priced one of
 * those usable, ties to the earlier in the list, then the first usable
 * with no price; -1 when none is. why says the choice, or why none.
 */
int cost_choose(const struct choice_in *in, int n, char *why, size_t len);

/* sweep.c */
/* Adds the sweeps' hook (core_open(), before anything is loaded). */
int sweep_init(struct core *c, char *err, size_t errlen);
/* Loads sweeps and trials from the store, after the runs. */
int sweep_load(struct core *c, char *err, size_t errlen);
int sweep_start(struct core *c);
void sweep_stop(struct core *c);
/* Frees every sweep of e (core_close(), or e removed without sweeps). */
void sweep_exp_free_locked(struct core *c, struct exp *e);
/* The reason a run stopped by its sweep's early-stop rule ends with. */
void sweep_early_reason_locked(struct core *c, struct run *r, char *out,
			       size_t len);
/*
 * Carries out "cancel" on r as ctl does (stopped at once while created or
 * queued, else a durable cancel request of kind why): TFS_EINVAL with
 * reason when r has ended. In core.c.
 */
int run_cancel_locked(struct core *c, struct run *r, int why, char *reason,
		      size_t rlen);
/*
 * core_run_create() with the run's UUID given (37 bytes with the NUL;
 * NULL: a new one), for a sweep that stores it before the run exists.
 * In core.c; takes c->lock itself.
 */
int run_create_uuid(struct core *c, int64_t exp_id, const char *name,
		    const char *uuid, int64_t *id, char *reason, size_t rlen);
/*
 * Checks a run config as a submission would (valid, its providers known
 * and able to hold it, a local workdir there), without a run: TFS_OK, or
 * the code with reason. Takes c->lock itself. In core.c.
 */
int run_config_check(struct core *c, const char *text, size_t len,
		     char *reason, size_t rlen);

/* mlflow.c: the export to an MLflow server (DESIGN.md section 10) */
/*
 * Reads the daemon config's "mlflow" object into c->mlflow: keys
 * tracking_uri (http(s), required), token_env (a variable holding a bearer
 * token, read once, never logged), experiment_prefix, upload_artifacts
 * (default true), upload_max_mb, interval_ms. TFS_EINVAL with one sentence
 * naming the key as 'mlflow.<key>'.
 */
int mlflow_config(struct core *c, const cJSON *obj, char *err,
		  size_t errlen);
/* Adds the hook (core_open(), after mlflow_config()); no-op when off. */
int mlflow_init(struct core *c, char *err, size_t errlen);
int mlflow_start(struct core *c);
/* Stops the thread: a request in flight is cut. Idempotent. */
void mlflow_stop(struct core *c);
void mlflow_release(struct core *c);

/* artifacts.c */
/* Opens the cache under the state directory and adds the artifacts' hook. */
int art_init(struct core *c, int64_t cap, char *err, size_t errlen);
int art_start(struct core *c);
void art_stop(struct core *c);
void art_release(struct core *c);
/* The run's attempt ended: fetch its manifest (in a worker). */
void art_manifest_request_locked(struct core *c, struct run *r);
/* A new attempt starts: the old manifest goes. */
void art_manifest_reset_locked(struct core *c, struct run *r);
void art_run_free_locked(struct core *c, struct run *r);
/*
 * For `inputs`: 1 when the input "run:path" of r is verified in the cache
 * (path_out gets the cached file), 0 while waiting (why says what for),
 * -1 when it can never be (why says why).
 */
int art_input_ready_locked(struct core *c, struct run *r, const char *spec,
			   char *path_out, size_t plen, char *why,
			   size_t wlen);
void art_pin_locked(struct core *c, const char *cache_path, int delta);
void art_summary_locked(struct core *c, struct run *r, int64_t *count,
			int64_t *bytes, int64_t *verified);

/* files.c */
#define EXP_KEY_MAX 65              /* an objective's metric, NUL included */
/*
 * Experiment id with c->lock taken, its objective's metric in key (""
 * when none is set) and *mode_max whether higher is better; NULL, the
 * lock not held, when there is no such experiment.
 */
struct exp *exp_lock_objective(struct core *c, int64_t id,
			       char key[EXP_KEY_MAX], int *mode_max);

/* charts.c, with c->lock not held */
/*
 * Appends to out the comparison of runs run_ids[0..n) (in that order; ids
 * gone meanwhile are left out) by the latest value of metric: a final
 * value for a completed run, a value so far for one queued, going or
 * stopped (cancelled, stopped early), none for a failed one or one
 * without the metric (see plot_compare_svg()). *mtime_ms (may be NULL):
 * the latest change of those runs. n at most PLOT_RUNS_MAX (TFS_EFBIG).
 */
int charts_compare(struct core *c, const char *title, const char *metric,
		   int minimize, const int64_t *run_ids, size_t n,
		   struct buf *out, int64_t *mtime_ms);
/* Frees the kept charts, at the end. */
void charts_release(struct core *c);

/* poller.c */
/*
 * Called by run_set_state_locked() before r turns final: returns 1 when the
 * change is held back, r staying active ("collecting outputs") until its
 * last metrics are scanned and its manifest is stored, then turning into
 * state with reason; 0 when r may turn final now.
 */
int poller_end_hold_locked(struct core *c, struct run *r, int state,
			   const char *reason);
int poller_start(struct core *c);
/*
 * Joins every provider thread: one blocked in a connector call that never
 * returns holds this up, so connectors bound their calls (HTTP timeouts).
 */
void poller_stop(struct core *c);
/* Work for the pollers (a submission, a ctl command): a pass at once. */
void poller_kick_locked(struct core *c);
/*
 * The first line of providers/<name>/status: "ok", or "unreachable: why"
 * when its last calls failed or one has been in flight for longer than
 * its interval.
 */
void poller_health_locked(struct core *c, const struct provider *p,
			  char *out, size_t len);

/* sched.c, for the provider threads' decisions; all with the lock held */
/* Finds dependency d ("run" or "exp/run") of r. */
struct run *sched_dep_find(struct core *c, struct run *r, const char *d);
int sched_deps_state_locked(struct core *c, struct run *r, char *why,
			    size_t len);
int sched_inputs_ready_locked(struct core *c, struct run *r, char **paths,
			      char *why, size_t len);
int sched_slot_free(struct provider *p, struct run *r, char *why,
		    size_t len);
void sched_slot_take(struct provider *p, struct run *r);
/* The provider a queued run of a provider list starts on now, or NULL. */
struct provider *sched_choose_locked(struct core *c, struct run *r);
/* Whether r is p's to start and poll. */
int sched_run_of(struct provider *p, const struct run *r);
/* What p's active runs use, counted again before each decision. */
void sched_usage_recount_locked(struct core *c, struct provider *p);
/* Why a queued run waits, as a sentence, into out. */
void sched_reason_locked(struct core *c, struct run *r, char *out,
			 size_t len);

#endif
