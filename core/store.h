/*
 * store.h - everything trainfs keeps durably, in one SQLite database (WAL):
 * experiments, runs, events, metrics and templates. The store is the source
 * of truth; core/ keeps an in-memory index rebuilt from it at start-up.
 *
 * Threading: one connection behind a recursive mutex. store_begin() takes
 * the mutex and store_commit()/store_rollback() give it back, so the
 * statements between them are one transaction even with several threads.
 * The readers of events and metrics use a second, read-only connection
 * with its own mutex: they see the last commit and never wait for an open
 * transaction (nor do they see its writes before it commits).
 * Lock order: core's model lock, then the store's.
 *
 * Every function returns TFS_OK or a TFS_* error, a failure logged with
 * SQLite's reason: TFS_ENOSPC when the state directory is full, TFS_EROFS
 * when it is read-only, TFS_EFBIG for a value over SQLite's bound, TFS_EIO
 * for any other. Inside a transaction, the first failure also fails every
 * write after it and the commit.
 */
#ifndef TFS_STORE_H
#define TFS_STORE_H

#include <stdint.h>
#include "util.h"

#define STORE_SCHEMA_VERSION 9
#define STORE_NO_EXIT (-1000)   /* exit_code when there is none */
#define STORE_EVENTS_KEEP 1000  /* events kept per run (and the mount's) */
#define STORE_EVENTS_SLACK 100  /* ... trimmed once this many more exist */

struct store;

/* A run as stored. Strings are borrowed for the call (insert/update) or for
 * the callback (load). */
struct store_run {
	int64_t id;
	int64_t exp_id;
	const char *name;
	const char *uuid;
	int state;
	int attempt;
	int priority;
	int max_retries;
	const char *provider;      /* may be NULL */
	const char *job_id;        /* may be NULL */
	int exit_code;             /* STORE_NO_EXIT when none */
	const char *reason;        /* may be NULL */
	const char *kind;          /* may be NULL */
	int64_t created_ms, submitted_ms, started_ms, ended_ms, updated_ms;
	int64_t retry_at_ms;       /* queued runs: not before this time */
	int cancel_requested;
	int64_t log_offset;        /* bytes of log scanned for metrics */
	int64_t mfile_offset;      /* bytes of $TRAINFS_METRICS scanned */
	int64_t step_counter;      /* metrics lines without a step so far */
	const char *config_sha;    /* may be NULL */
	int manifest;              /* the manifest of `attempt` is stored */
	uint64_t gpu_mask;         /* GPUs given to the attempt (bit = index) */
	int64_t seq;               /* submission order, for the queue */
	int pending_signal;        /* a pause/resume not yet carried out */
	int64_t attempt_started_ms; /* when the current attempt ran, 0: not yet */
	double cost_usd;           /* what its attempts cost so far */
	int64_t cost_ms;           /* counted in cost_usd up to here; 0: its
				      machine is not held */
	int64_t held_ms;           /* how long its machines were held */
};

/*
 * Opens (creating and migrating as needed) the database at path. On error
 * returns TFS_EIO with the reason in err.
 */
int store_open(const char *path, struct store **out, char *err,
	       size_t errlen);
void store_close(struct store *s);

/*
 * A transaction. A durable one fsyncs (synchronous=FULL) at its commit,
 * which also makes every earlier commit durable, since they share the WAL;
 * others are safe against a crash of the daemon but not of the machine.
 */
int store_begin(struct store *s, int durable);
int store_commit(struct store *s);
void store_rollback(struct store *s);

/* Experiments. */
int store_exp_insert(struct store *s, const char *name, int64_t now,
		     int64_t *id);
int store_exp_rename(struct store *s, int64_t id, const char *name);
int store_exp_set_description(struct store *s, int64_t id, const char *text,
			      int64_t now);
/* Deletes the experiment and its runs, events and metrics. */
int store_exp_delete(struct store *s, int64_t id);
typedef int (*store_exp_cb)(void *arg, int64_t id, const char *name,
			    int64_t created_ms, int64_t mtime_ms,
			    const char *objective);
/* "metric min" or "metric max", or "" for none. */
int store_exp_set_objective(struct store *s, int64_t id, const char *text);
int store_exp_load(struct store *s, store_exp_cb cb, void *arg);
/* Appends the description text to out. */
int store_exp_description(struct store *s, int64_t id, struct buf *out);

/* Runs. */
int store_run_insert(struct store *s, const struct store_run *r,
		     int64_t *id);
/*
 * Rewrites every mutable field of run r->id but the scan position
 * (log_offset, mfile_offset, step_counter), which only
 * store_run_set_scan() writes, in the transaction of the metrics it covers.
 */
int store_run_update(struct store *s, const struct store_run *r);
int store_run_rename(struct store *s, int64_t id, const char *name);
/* Moves run id to experiment exp_id under name; TFS_EEXIST when taken. */
int store_run_move(struct store *s, int64_t id, int64_t exp_id,
		   const char *name);
/* Stores the config as submitted and the effective (merged) JSON. */
int store_run_set_config(struct store *s, int64_t id, const char *text,
			 size_t len, const char *effective);
/* Appends the effective config to out; TFS_ENOENT when none. */
int store_run_effective(struct store *s, int64_t id, struct buf *out);
/* Appends the config text as submitted to out; TFS_ENOENT when none. */
int store_run_config(struct store *s, int64_t id, struct buf *out);
int store_run_delete(struct store *s, int64_t id);
typedef int (*store_run_cb)(void *arg, const struct store_run *r);
int store_run_load(struct store *s, store_run_cb cb, void *arg);

/* Events: run_id 0 for events of the whole mount; the newest
 * STORE_EVENTS_KEEP to STORE_EVENTS_KEEP + STORE_EVENTS_SLACK are kept. */
int store_event_add(struct store *s, int64_t run_id, int64_t time_ms,
		    const char *text);
typedef void (*store_event_cb)(void *arg, int64_t time_ms, const char *text);
/* Calls cb for each of run_id's events, oldest first. */
int store_events_each(struct store *s, int64_t run_id, store_event_cb cb,
		      void *arg);
/*
 * Appends "TIME TEXT\n" lines of run_id's events, oldest first; when older
 * lines were dropped (see STORE_EVENTS_KEEP), a first line says how many.
 */
int store_events_format(struct store *s, int64_t run_id, struct buf *out);

/* Metrics: a point, and the latest value per key kept alongside. */
int store_metric_add(struct store *s, int64_t run_id, double step,
		     int64_t time_ms, const char *key, double value);
/* One point for store_metrics_append(); key borrowed for the call. */
struct store_point {
	double step;
	int64_t time_ms;
	const char *key;
	double value;
};
/* Longest line of metrics.jsonl, newline and NUL included. */
#define STORE_JSONL_LINE_MAX 256
/*
 * Adds n points of run_id in order, each also a line at the end of the
 * run's metrics.jsonl (whose byte length is kept as the points go in).
 * Call inside a transaction to commit them with the scan position.
 */
int store_metrics_append(struct store *s, int64_t run_id,
			 const struct store_point *pts, size_t n);
/* Where the run's log and metrics file have been scanned up to. */
int store_run_set_scan(struct store *s, int64_t id, int64_t log_offset,
		       int64_t mfile_offset, int64_t step_counter);
/* The byte size of the history's JSON lines (metrics.jsonl), in O(log n). */
int store_metrics_history_size(struct store *s, int64_t run_id,
			       int64_t *size);
/*
 * Appends at most size bytes of the history's JSON lines from byte off:
 * only the lines that range touches are read and rendered.
 */
int store_metrics_history_read(struct store *s, int64_t run_id, int64_t off,
			       size_t size, struct buf *out);
/* Appends "key value\n" lines of the latest values, sorted by key. */
int store_metrics_latest(struct store *s, int64_t run_id, struct buf *out);
/* Appends {"step","time","key","value"} JSON lines, in order of arrival. */
int store_metrics_history(struct store *s, int64_t run_id, struct buf *out);
/*
 * Calls cb for each point of run_id's history up to byte end of its
 * metrics.jsonl (its size then: a fixed set of points however many come
 * meanwhile), in order of arrival.
 */
typedef void (*store_point_cb)(void *arg, double step, const char *key,
			       double value);
int store_metrics_each_point(struct store *s, int64_t run_id, int64_t end,
			     store_point_cb cb, void *arg);
/* Calls cb for each latest (key, value) of run_id, sorted by key. */
typedef void (*store_metric_cb)(void *arg, const char *key, double value);
int store_metrics_each_latest(struct store *s, int64_t run_id,
			      store_metric_cb cb, void *arg);

/* Artifacts: the manifest of a run's latest attempt, files and the
 * directories that hold them. */
int store_art_insert(struct store *s, int64_t run_id, const char *path,
		     int is_dir, int64_t size, const char *sha256,
		     const char *url, int64_t *id);
/* Removes the run's artifacts (a new attempt brings a new manifest). */
int store_art_delete_run(struct store *s, int64_t run_id);
typedef int (*store_art_cb)(void *arg, int64_t id, const char *path,
			    int is_dir, int64_t size, const char *sha256,
			    const char *url);
int store_art_load(struct store *s, int64_t run_id, store_art_cb cb,
		   void *arg);

/* Templates. */
int store_tpl_put(struct store *s, const char *name, const char *body,
		  size_t len, int64_t now);
int store_tpl_delete(struct store *s, const char *name);
/* Appends the body to out; TFS_ENOENT when there is no such template. */
int store_tpl_get(struct store *s, const char *name, struct buf *out);
typedef int (*store_tpl_cb)(void *arg, const char *name, int64_t size,
			    int64_t mtime_ms);
int store_tpl_load(struct store *s, store_tpl_cb cb, void *arg);

/*
 * Sweeps (DESIGN.md section 7). A sweep's events are kept as those of run
 * id -(sweep id): store_event_add() and store_events_format() take it.
 */
struct store_sweep {
	int64_t id;                /* the update's; the insert's out */
	int64_t exp_id;            /* the insert's; the update keeps it */
	const char *name;          /* the insert's */
	int state;                 /* core's enum sweep_state */
	const char *spec;          /* sweep.json as submitted, or NULL */
	const char *reason;        /* may be NULL: "" */
	int max_trials;            /* as extended */
	int64_t created_ms, updated_ms;
};
int store_sweep_insert(struct store *s, const struct store_sweep *w,
		       int64_t *id);
/* Rewrites state, spec, reason, max_trials and updated_ms of w->id. */
int store_sweep_update(struct store *s, const struct store_sweep *w);
/* Deletes the sweep, its trials and events (its runs stay runs). */
int store_sweep_delete(struct store *s, int64_t id);
typedef int (*store_sweep_cb)(void *arg, const struct store_sweep *w);
int store_sweep_load(struct store *s, store_sweep_cb cb, void *arg);
/* A trial of a sweep: its number, its run once made, what it gave. */
struct store_trial {
	int64_t sweep_id;
	int n;                     /* 0-based; its run is <sweep>-<n + 1> */
	int64_t run_id;            /* 0: not made yet */
	const char *params;        /* JSON object */
	int state;                 /* core's enum trial_state */
	double value;              /* the objective, when has_value */
	int has_value;
	int early;                 /* stopped by the early-stop rule */
	const char *run_uuid;      /* its run's, chosen first; may be NULL */
};
/* Inserts or rewrites trial (t->sweep_id, t->n). */
int store_trial_put(struct store *s, const struct store_trial *t);
typedef int (*store_trial_cb)(void *arg, const struct store_trial *t);
/* Every trial, by sweep id then number. */
int store_trial_load(struct store *s, store_trial_cb cb, void *arg);
/*
 * Calls cb(arg, step, value, end) for each point of run_id's metric key
 * whose line in metrics.jsonl ends after byte `after` (0: all), in order
 * of arrival, end being where its line ends, until cb returns non-zero.
 * Read from the last commit.
 */
typedef int (*store_series_cb)(void *arg, double step, double value,
			       int64_t end);
int store_metric_series(struct store *s, int64_t run_id, const char *key,
			int64_t after, store_series_cb cb, void *arg);

/*
 * Whole database files, used without an open store: they take none of its
 * locks and open connections of their own.
 *
 * store_backup() copies the database at src (live: a daemon may write it
 * meanwhile) to dest with SQLite's online backup API, as one snapshot:
 * every transaction committed before the call began, none after. The copy
 * goes to a temporary file beside dest, is made one self-contained file
 * (journal_mode DELETE), checked (store_check()), fsynced and renamed into
 * place: dest is the old file or a whole, checked copy.
 * store_check() runs PRAGMA integrity_check on path and checks it holds a
 * trainfs schema no newer than this one; TFS_EINVAL with the reason if not.
 * store_restore() checks file and copies it to db (the state's
 * trainfs.db), which no daemon may hold open; the database it replaces is
 * kept as db.old (with db.old-wal, a pair SQLite opens as it was).
 * Each returns TFS_OK or a TFS_* error with the reason in err.
 */
int store_backup(const char *src, const char *dest, char *err, size_t errlen);
int store_check(const char *path, char *err, size_t errlen);
int store_restore(const char *file, const char *db, char *err,
		  size_t errlen);

/*
 * Exports to tracking servers (core/mlflow.c): per target and key, the
 * remote id, a position and flags, put after the server acknowledged.
 */
int store_export_put(struct store *s, const char *target, const char *key,
		     const char *remote_id, int64_t pos, int64_t flags);
typedef int (*store_export_cb)(void *arg, const char *key,
			       const char *remote_id, int64_t pos,
			       int64_t flags);
int store_export_load(struct store *s, const char *target,
		      store_export_cb cb, void *arg);
/*
 * Calls cb for at most max points of run_id after byte position after of
 * its metrics.jsonl, in order, with the position each point's line ends
 * at; a non-zero return stops. Read from the last commit.
 */
typedef int (*store_from_cb)(void *arg, const struct store_point *p,
			     int64_t end_off);
int store_metrics_from(struct store *s, int64_t run_id, int64_t after,
		       size_t max, store_from_cb cb, void *arg);
/* How many points of run_id lie after byte position after. */
int store_metrics_count_from(struct store *s, int64_t run_id, int64_t after,
			     int64_t *n);

#endif
