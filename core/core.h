/*
 * core.h - the model behind the mount: experiments, runs and their state
 * machine, templates, providers, the queue and the poller that drives
 * connectors. fs/ calls only these functions; nothing here knows FUSE.
 *
 * Every function is thread-safe (it takes the model lock) and returns TFS_OK
 * or a TFS_* error. Functions that take a `reason` buffer write a sentence
 * there for the user when they fail; the same sentence is appended to the
 * run's (or the mount's) events.
 *
 * Reads never wait on a provider: they are served from what the poller last
 * fetched. Writes that need a provider (pause, cancel) are recorded and
 * carried out by the poller thread.
 */
#ifndef TFS_CORE_H
#define TFS_CORE_H

#include <stdint.h>

#include "state.h"
#include "util.h"

/* The generated files of a run. */
enum run_file {
	RF_CONFIG,
	RF_STATUS,
	RF_STATUS_JSON,
	RF_METRICS,
	RF_METRICS_JSONL,
	RF_EVENTS,
	RF_MAX
};

struct core_opts {
	const char *state_dir;    /* required */
	const char *config_file;  /* daemon config; NULL or missing: defaults */
	int poll_ms;              /* poller period; 0: 500 */
	int64_t cache_size;       /* artifact cache cap in bytes; 0: 10 GiB */
};

struct core;

/*
 * Opens the store under opts->state_dir, loads every experiment and run,
 * reads the daemon config and initialises the connectors. Returns NULL with
 * the reason in err.
 */
struct core *core_open(const struct core_opts *opts, char *err,
		       size_t errlen);
/* Starts the poller (which first reconciles every active run). */
int core_start(struct core *c);
/*
 * Stops the poller and the artifact workers: downloads in flight are
 * cancelled (their part files kept, to resume at the next start) and every
 * parked core_art_wait() callback is called with TFS_EINTR before this
 * returns; none runs after. Idempotent. Jobs keep running.
 */
void core_stop(struct core *c);
/* core_stop(), then frees everything. */
void core_close(struct core *c);

/* What changed, for the listener. */
enum {
	CORE_CH_STATE = 1 << 0,   /* state, status, status.json, dir mtime */
	CORE_CH_LOG = 1 << 1,
	CORE_CH_METRICS = 1 << 2,
	CORE_CH_EVENTS = 1 << 3,
	CORE_CH_CONFIG = 1 << 4,
	CORE_CH_QUEUE = 1 << 5,   /* the mount's queue file */
	CORE_CH_ARTIFACTS = 1 << 6, /* the run's manifest arrived or changed */
	CORE_CH_STREAM = 1 << 7   /* a stream reader has lines (run_id 0) */
};
/*
 * The listener is told, from any thread and possibly with the model lock
 * held, that something of run_id (0: the mount) changed. It must only queue
 * the news and return: it may not call back into core.
 */
typedef void (*core_listener_fn)(void *arg, int64_t run_id, unsigned what);
void core_set_listener(struct core *c, core_listener_fn fn, void *arg);

/* Experiments. */
struct core_exp_info {
	int64_t id;
	char name[TFS_NAME_MAX + 1];
	int64_t created_ms;
	int64_t mtime_ms;
	size_t nruns;
	size_t nsweeps;
};
int core_exp_lookup(struct core *c, const char *name,
		    struct core_exp_info *out);
int core_exp_get(struct core *c, int64_t id, struct core_exp_info *out);
/*
 * Calls cb for each experiment with id > after_id in id order until cb
 * returns non-zero (then returns TFS_OK; the caller resumes from the last
 * id it accepted).
 */
typedef int (*core_exp_cb)(void *arg, const struct core_exp_info *e);
int core_exp_list(struct core *c, int64_t after_id, core_exp_cb cb,
		  void *arg);
int core_exp_create(struct core *c, const char *name, int64_t *id);
/* TFS_ENOTEMPTY while it has runs (an event says so): remove them first. */
int core_exp_remove(struct core *c, const char *name);
/* TFS_EBUSY while a queued run names one of its runs as "exp/run". */
int core_exp_rename(struct core *c, const char *from, const char *to);
int core_exp_description(struct core *c, int64_t id, struct buf *out);
int core_exp_set_description(struct core *c, int64_t id, const char *text,
			     size_t len);

/* The objective for the leaderboard: "METRIC min" or "METRIC max". */
int core_exp_objective(struct core *c, int64_t id, struct buf *out);
int core_exp_set_objective(struct core *c, int64_t id, const char *text,
			   size_t len, char *reason, size_t rlen);
/* Runs ranked by the objective, aligned columns. */
int core_exp_leaderboard(struct core *c, int64_t id, struct buf *out);
/*
 * compare.svg: the objective's latest value of each run in creation order
 * and the best so far (or, with no objective set, a picture that says so),
 * with *mtime_ms the latest change of the experiment or its runs.
 */
int core_exp_compare_svg(struct core *c, int64_t id, struct buf *out,
			 int64_t *mtime_ms);

/*
 * Sweeps (DESIGN.md section 7): experiments/<exp>/sweeps/<name>. A sweep is
 * made empty by mkdir ("created"); writing sweep.json starts it; it makes
 * its trials as runs "<name>-NNN" through core_run_create() and
 * core_run_submit(), keeps `parallelism` of them active, and ends
 * completed (every trial made and ended), stopped (ctl cancel) or failed.
 */
enum sweep_state { SWEEP_CREATED, SWEEP_RUNNING, SWEEP_COMPLETED,
		   SWEEP_STOPPED, SWEEP_FAILED };
/* "created", "running" ...; never NULL. */
const char *sweep_state_name(int state);
#define SWEEP_NAME_MAX 120          /* so that "<name>-NNNNN" is a name */
#define SWEEP_SPEC_MAX (1024 * 1024)
#define SWEEP_TRIALS_MAX 10000
#define SWEEP_PARALLEL_MAX 1000
struct core_sweep_info {
	int64_t id;
	int64_t exp_id;
	char name[TFS_NAME_MAX + 1];
	int state;
	int submitted;            /* sweep.json is read-only */
	int has_best;             /* a trial completed with the objective */
	int64_t created_ms;
	int64_t updated_ms;       /* state, trials, best */
	int64_t events_ms;
	int64_t spec_ms;
};
int core_sweep_lookup(struct core *c, int64_t exp_id, const char *name,
		      struct core_sweep_info *out);
int core_sweep_get(struct core *c, int64_t id, struct core_sweep_info *out);
typedef int (*core_sweep_cb)(void *arg, const struct core_sweep_info *w);
/* Like core_run_list(), over an experiment's sweeps. */
int core_sweep_list(struct core *c, int64_t exp_id, int64_t after_id,
		    core_sweep_cb cb, void *arg);
/* A new sweep in state "created"; TFS_EINVAL (reason) for a bad name. */
int core_sweep_create(struct core *c, int64_t exp_id, const char *name,
		      int64_t *id, char *reason, size_t rlen);
/*
 * Removes a sweep that is not running (its trials' runs stay runs):
 * TFS_EBUSY while it runs or a trial of it is active.
 */
int core_sweep_remove(struct core *c, int64_t exp_id, const char *name);
/*
 * Validates sweep.json and starts the sweep, durable before it returns.
 * TFS_EINVAL/TFS_EFBIG with reason (also in the sweep's events) for a bad
 * spec; TFS_EBUSY when already started.
 */
int core_sweep_submit(struct core *c, int64_t id, const char *text,
		      size_t len, char *reason, size_t rlen);
/* Checks sweep.json as core_sweep_submit() would, without starting it. */
int core_sweep_check(struct core *c, int64_t id, const char *text,
		     size_t len, char *reason, size_t rlen);
/* ctl lines: cancel | extend N. TFS_EINVAL with reason otherwise. */
int core_sweep_ctl(struct core *c, int64_t id, const char *text, size_t len,
		   char *reason, size_t rlen);
enum sweep_file { SF_SPEC, SF_STATUS, SF_TRIALS, SF_BEST, SF_BEST_JSON,
		  SF_EVENTS, SF_COMPARE_SVG };
/* Appends a sweep file's text; TFS_ENOENT for best.json with no best. */
int core_sweep_read(struct core *c, int64_t id, enum sweep_file f,
		    struct buf *out);
/* Appends a line to the sweep's events (a refusal fs/ saw first). */
void core_sweep_note(struct core *c, int64_t id, const char *text);

/* Runs. */
struct core_run_info {
	int64_t id;
	int64_t exp_id;
	char name[TFS_NAME_MAX + 1];
	int state;
	int submitted;            /* config.json is read-only */
	int64_t created_ms;
	int64_t updated_ms;       /* state, status, status.json */
	int64_t events_ms;
	int64_t metrics_ms;
	int64_t config_ms;
};
int core_run_lookup(struct core *c, int64_t exp_id, const char *name,
		    struct core_run_info *out);
int core_run_get(struct core *c, int64_t run_id, struct core_run_info *out);
typedef int (*core_run_cb)(void *arg, const struct core_run_info *r);
/* Like core_exp_list(), over the runs of one experiment. */
int core_run_list(struct core *c, int64_t exp_id, int64_t after_id,
		  core_run_cb cb, void *arg);
/* A new run in state "created"; TFS_EINVAL (reason) for a bad name. */
int core_run_create(struct core *c, int64_t exp_id, const char *name,
		    int64_t *id, char *reason, size_t rlen);
/*
 * Removes a created or ended run with its files. TFS_EBUSY while it is
 * queued or active, or while a queued run depends on it (event says which).
 */
int core_run_remove(struct core *c, int64_t exp_id, const char *name);
int core_run_rename(struct core *c, int64_t exp_id, const char *from,
		    const char *to, char *reason, size_t rlen);
/*
 * Moves a run (created or ended) to experiment to_exp_id as `to`: it keeps
 * its id, files and history. TFS_EBUSY (reason) while it is queued or
 * active, or while a queued run depends on it.
 */
int core_run_move(struct core *c, int64_t exp_id, const char *from,
		  int64_t to_exp_id, const char *to, char *reason,
		  size_t rlen);
/*
 * Validates and submits a config: durable in the store before it returns,
 * then queued. TFS_EINVAL/TFS_EFBIG (reason, also in events) for a bad
 * config; TFS_EBUSY when already submitted.
 */
int core_run_submit(struct core *c, int64_t run_id, const char *text,
		    size_t len, char *reason, size_t rlen);
/*
 * Checks a config as core_run_submit() would, without submitting: for a
 * writer whose bytes already form a whole JSON value. A refusal is also
 * recorded in the run's events. TFS_ENOSPC/TFS_EROFS from a submission
 * mean nothing was recorded: the run stays "created".
 */
int core_run_check(struct core *c, int64_t run_id, const char *text,
		   size_t len, char *reason, size_t rlen);
/*
 * One or more ctl commands, one a line: cancel | pause | resume | retry |
 * priority N. TFS_EINVAL for an unknown command or one that does not apply
 * in the run's state; TFS_EOPNOTSUPP when the provider cannot do it.
 */
int core_run_ctl(struct core *c, int64_t run_id, const char *text,
		 size_t len, char *reason, size_t rlen);
/* Appends the content of a generated file to out. */
int core_run_read(struct core *c, int64_t run_id, enum run_file f,
		  struct buf *out);
/*
 * metrics.jsonl without rendering it whole: its size (kept as points are
 * added), and up to size bytes of it from off, appended to out.
 */
int core_run_metrics_size(struct core *c, int64_t run_id, int64_t *size);
int core_run_metrics_read(struct core *c, int64_t run_id, int64_t off,
			  size_t size, struct buf *out);
/*
 * metrics.svg: every metric against step, one panel each (charts.c); drawn
 * once per size of the history and kept, so stat and read agree.
 */
int core_run_metrics_svg(struct core *c, int64_t run_id, struct buf *out);
/* The log: its size and mtime, and a read at an offset. */
int core_run_log_stat(struct core *c, int64_t run_id, int64_t *size,
		      int64_t *mtime_ms);
int core_run_log_read(struct core *c, int64_t run_id, int64_t off,
		      size_t size, struct buf *out);
/* Appends a line to the run's events (a refusal fs/ saw first). */
void core_run_note(struct core *c, int64_t run_id, const char *text);
/* The run's state, for `wait`. */
int core_run_state(struct core *c, int64_t run_id, int *state);

/*
 * Artifacts: the manifest of a run's latest attempt, as a tree. parent 0 is
 * the run's artifacts/ directory itself; ids are the store's and stable.
 */
enum art_state { ART_REMOTE, ART_DOWNLOADING, ART_VERIFIED, ART_CORRUPT };
struct core_art_info {
	int64_t id;
	int64_t run_id;
	int64_t parent;
	int is_dir;
	char name[256];
	int64_t size;
	char sha256[65];
	int state;                /* enum art_state, files only */
	int64_t done;             /* bytes on disk while downloading */
	int64_t mtime_ms;
};
int core_art_lookup(struct core *c, int64_t run_id, int64_t parent,
		    const char *name, struct core_art_info *out);
int core_art_get(struct core *c, int64_t id, struct core_art_info *out);
typedef int (*core_art_list_cb)(void *arg, const struct core_art_info *a);
/* Like core_exp_list(), over one directory of the run's artifacts. */
int core_art_list(struct core *c, int64_t run_id, int64_t parent,
		  int64_t after_id, core_art_list_cb cb, void *arg);
/*
 * Opens the verified cached copy: TFS_OK with *fd (the caller closes it and
 * calls core_art_release() with sha, which names the cache entry the open
 * pins whatever becomes of the run's manifest); TFS_EAGAIN when it is not
 * verified yet (its download is started or joined: wait with
 * core_art_wait()); TFS_EIO when the download failed for good (reason
 * says why). sha is filled whenever the artifact exists.
 */
int core_art_open(struct core *c, int64_t id, int *fd, char sha[65],
		  char *reason, size_t rlen);
void core_art_release(struct core *c, const char *sha);
/*
 * Calls cb(arg, result) once with no lock held when the artifact's download
 * ends: TFS_OK or TFS_EIO from a worker thread, TFS_EINTR from the thread
 * in core_stop() when the daemon stops first. Returns TFS_OK when
 * registered, TFS_EEXIST when it has already ended (open again instead).
 */
typedef void (*core_art_cb)(void *arg, int result);
int core_art_wait(struct core *c, int64_t id, core_art_cb cb, void *arg);
/* Takes a registration back; TFS_ENOENT when cb already ran or runs. */
int core_art_unwait(struct core *c, int64_t id, core_art_cb cb, void *arg);
/* "remote", "downloading 123/456", "verified" or "corrupt: <reason>". */
int core_art_state_text(struct core *c, int64_t id, struct buf *out);
/* The run's `downloads` file: one line per artifact file. */
int core_run_downloads(struct core *c, int64_t run_id, struct buf *out);

/* Templates: name is the file name without ".json". */
struct core_tpl_info {
	int64_t id;
	char name[TFS_NAME_MAX + 1];
	int64_t size;
	int64_t mtime_ms;
};
int core_tpl_lookup(struct core *c, const char *name,
		    struct core_tpl_info *out);
int core_tpl_get(struct core *c, int64_t id, struct core_tpl_info *out);
typedef int (*core_tpl_cb)(void *arg, const struct core_tpl_info *t);
int core_tpl_list(struct core *c, int64_t after_id, core_tpl_cb cb,
		  void *arg);
int core_tpl_read(struct core *c, int64_t id, struct buf *out);
/* Validates and stores; TFS_EINVAL with reason for a bad template. */
int core_tpl_put(struct core *c, const char *name, const char *text,
		 size_t len, int64_t *id, char *reason, size_t rlen);
int core_tpl_remove(struct core *c, const char *name);

/* Providers, by index 0 .. n-1. */
int core_provider_count(struct core *c);
/* Copies the name into out (TFS_NAME_MAX + 1); TFS_ENOENT past the end. */
int core_provider_name(struct core *c, int idx, char *out);
int core_provider_status(struct core *c, int idx, struct buf *out);

/*
 * Live streams (MOUNT/stream, MOUNT/streams/...): a reader sees the events
 * from its open on, one JSON line each: the state changes of runs and
 * sweeps, and mount events (CORE_STREAM_ALL); or those of one experiment or
 * one run, with their metric points too (CORE_STREAM_EXP, _RUN, by id).
 * Each reader has its own queue of at most "stream_queue" lines (daemon
 * config; CORE_STREAM_QUEUE by default) and CORE_STREAM_LINE_BYTES bytes a
 * line on average; past that the newest lines are dropped and counted, and
 * the reader gets {"type":"overflow","missed":N} in their place. The
 * listener hears CORE_CH_STREAM when a reader may have lines.
 */
enum { CORE_STREAM_ALL, CORE_STREAM_EXP, CORE_STREAM_RUN };
#define CORE_STREAM_QUEUE 4096
#define CORE_STREAM_QUEUE_MAX 1000000
#define CORE_STREAM_LINE_BYTES 512
#define CORE_STREAM_READERS_MAX 64
struct core_stream;
/* TFS_ENOENT for no such experiment or run, TFS_EBUSY past the readers'
 * bound. The caller closes *out with core_stream_close(). */
int core_stream_open(struct core *c, int scope, int64_t id,
		     struct core_stream **out);
/*
 * Appends whole lines, up to size bytes, to out: TFS_EAGAIN when none;
 * TFS_OK with nothing appended (an end of file) once the reader's
 * experiment or run is removed and its lines are read.
 */
int core_stream_read(struct core *c, struct core_stream *s, size_t size,
		     struct buf *out);
/* Whether a read would give something now. */
int core_stream_ready(struct core *c, struct core_stream *s);
/* Frees the reader and what it had queued. */
void core_stream_close(struct core *c, struct core_stream *s);

/*
 * MOUNT/exports/mlflow/status: "ok", "unreachable: why" or "off: why",
 * then what was sent and what waits (mlflow.c).
 */
int core_export_status(struct core *c, struct buf *out);

/* The mount's files. */
int core_queue(struct core *c, struct buf *out);
int core_events(struct core *c, struct buf *out);   /* run-less events */
/* Scheduler statistics ("key value" lines), like Slurm's sdiag. */
int core_scheduler(struct core *c, struct buf *out);
/* MOUNT/cost: runs, hours held and USD per provider, per experiment, all. */
int core_cost(struct core *c, struct buf *out);
int64_t core_events_mtime(struct core *c);
int64_t core_queue_mtime(struct core *c);
/* Records a mount-level event (bad names and the like). */
void core_event(struct core *c, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
