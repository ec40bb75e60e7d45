/*
 * store.c - trainfs's durable state in SQLite (WAL mode). The schema carries
 * a version number in PRAGMA user_version; store_open() migrates an older
 * database forward step by step and refuses a newer one.
 *
 * Every statement is one entry of stmt_defs[] (its SQL, the connection that
 * runs it, and what it does, for the log), prepared once on that connection
 * and run by store_run(): the one place that takes the connection's lock,
 * binds the values, steps, hands each row to a callback, turns a failure
 * into a TFS_* code with its reason in the log, and resets the statement.
 * The functions of store.h only name a statement and its values. See
 * store.h for the contracts.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "metrics.h"

enum {
	/* transactions, and the schema version */
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_SAVEPOINT,
	ST_RELEASE,
	ST_ROLLBACK_TO,
	ST_USER_VERSION,
	/* experiments */
	ST_EXP_INSERT,
	ST_EXP_RENAME,
	ST_EXP_DESC_SET,
	ST_EXP_DESC_GET,
	ST_EXP_OBJECTIVE_SET,
	ST_EXP_LOAD,
	ST_EXP_DEL_EVENTS,
	ST_EXP_DEL_EVENT_COUNTS,
	ST_EXP_DEL_METRICS,
	ST_EXP_DEL_LATEST,
	ST_EXP_DEL_ARTIFACTS,
	ST_EXP_DEL_RUNS,
	ST_EXP_DEL,
	/* runs */
	ST_RUN_INSERT,
	ST_RUN_UPDATE,
	ST_RUN_RENAME,
	ST_RUN_MOVE,
	ST_RUN_CONFIG_SET,
	ST_RUN_CONFIG_GET,
	ST_RUN_EFFECTIVE_GET,
	ST_RUN_SET_SCAN,
	ST_RUN_LOAD,
	ST_RUN_DEL_EVENTS,
	ST_RUN_DEL_EVENT_COUNTS,
	ST_RUN_DEL_METRICS,
	ST_RUN_DEL_LATEST,
	ST_RUN_DEL,
	/* events */
	ST_EVENT_ADD,
	ST_EVENT_COUNT,
	ST_EVENT_TRIM,
	ST_EVENT_DROPPED,
	ST_EVENT_DROPS_GET,
	ST_EVENTS_GET,
	/* metrics */
	ST_METRIC_ADD,
	ST_METRIC_LATEST,
	ST_METRICS_LATEST_GET,
	ST_METRICS_HISTORY,
	ST_METRICS_POINTS,
	ST_METRICS_END,
	ST_METRICS_END_W,
	/* artifacts */
	ST_ART_INSERT,
	ST_ART_DELETE_RUN,
	ST_ART_LOAD,
	/* templates */
	ST_TPL_PUT,
	ST_TPL_GET,
	ST_TPL_DELETE,
	ST_TPL_LOAD,
	/* sweeps and their trials */
	ST_SWEEP_INSERT,
	ST_SWEEP_UPDATE,
	ST_SWEEP_LOAD,
	ST_SWEEP_DEL_EVENTS,
	ST_SWEEP_DEL_EVENT_COUNTS,
	ST_SWEEP_DEL_TRIALS,
	ST_SWEEP_DEL,
	ST_EXP_DEL_SWEEP_EVENTS,
	ST_EXP_DEL_SWEEP_EVENT_COUNTS,
	ST_EXP_DEL_TRIALS,
	ST_EXP_DEL_SWEEPS,
	ST_TRIAL_PUT,
	ST_TRIAL_LOAD,
	ST_METRIC_SERIES,
	/* exports to tracking servers */
	ST_EXPORT_PUT,
	ST_EXPORT_LOAD,
	ST_METRICS_FROM,
	ST_METRICS_COUNT_FROM,
	ST_MAX
};

/* The connection a statement runs on (see struct store). */
enum { ON_W, ON_R };

struct stmt_def {
	const char *sql;
	const char *what;       /* in the log: "store: WHAT: SQLite's reason" */
	int on;                 /* ON_W (the default) or ON_R */
};

/* the rows of an experiment's runs, for its delete */
#define OF_EXP " WHERE run_id IN (SELECT id FROM runs WHERE exp_id = ?1)"
/* the events of an experiment's sweeps (a sweep's are run -id's) */
#define OF_EXP_SWEEPS " WHERE run_id IN (SELECT -id FROM sweeps WHERE " \
	"exp_id = ?1)"
/* where a run's metrics.jsonl ends: end_off grows with id within a run */
#define METRICS_END_SQL "SELECT max(end_off) FROM metrics WHERE run_id = ?1"
/* run by store_exec(): SQLite sets them at prepare time (see there) */
#define SYNC_FULL "PRAGMA synchronous = FULL"
#define SYNC_NORMAL "PRAGMA synchronous = NORMAL"

static const struct stmt_def stmt_defs[ST_MAX] = {
	[ST_BEGIN] = { "BEGIN", "begin" },
	[ST_COMMIT] = { "COMMIT", "commit" },
	[ST_ROLLBACK] = { "ROLLBACK", "rollback" },
	[ST_SAVEPOINT] = { "SAVEPOINT event_add", "savepoint" },
	[ST_RELEASE] = { "RELEASE event_add", "release savepoint" },
	[ST_ROLLBACK_TO] = { "ROLLBACK TO event_add",
			     "roll back to savepoint" },
	[ST_USER_VERSION] = { "PRAGMA user_version", "user_version" },

	[ST_EXP_INSERT] = {
		"INSERT INTO experiments(name, description, created_ms, "
		"mtime_ms) VALUES (?1, '', ?2, ?2)", "insert experiment" },
	[ST_EXP_RENAME] = { "UPDATE experiments SET name = ?2 WHERE id = ?1",
			    "rename experiment" },
	[ST_EXP_DESC_SET] = {
		"UPDATE experiments SET description = ?2, mtime_ms = ?3 "
		"WHERE id = ?1", "set description" },
	[ST_EXP_DESC_GET] = {
		"SELECT description FROM experiments WHERE id = ?1",
		"get description" },
	[ST_EXP_OBJECTIVE_SET] = {
		"UPDATE experiments SET objective = ?2 WHERE id = ?1",
		"set objective" },
	[ST_EXP_LOAD] = {
		"SELECT id, name, created_ms, mtime_ms, objective "
		"FROM experiments ORDER BY id", "load experiments" },
	[ST_EXP_DEL_EVENTS] = { "DELETE FROM events" OF_EXP,
				"delete events" },
	[ST_EXP_DEL_EVENT_COUNTS] = { "DELETE FROM event_counts" OF_EXP,
				      "delete event counts" },
	[ST_EXP_DEL_METRICS] = { "DELETE FROM metrics" OF_EXP,
				 "delete metrics" },
	[ST_EXP_DEL_LATEST] = { "DELETE FROM metrics_latest" OF_EXP,
				"delete latest metrics" },
	[ST_EXP_DEL_ARTIFACTS] = { "DELETE FROM artifacts" OF_EXP,
				   "delete artifacts" },
	[ST_EXP_DEL_RUNS] = { "DELETE FROM runs WHERE exp_id = ?1",
			      "delete runs" },
	[ST_EXP_DEL] = { "DELETE FROM experiments WHERE id = ?1",
			 "delete experiment" },

	/* ?1..?32 are the places of store_run_args(); ?24 is the id */
	[ST_RUN_INSERT] = {
		"INSERT INTO runs(exp_id, name, uuid, state, attempt, priority, "
		"max_retries, provider, job_id, exit_code, reason, kind, "
		"created_ms, submitted_ms, started_ms, ended_ms, updated_ms, "
		"retry_at_ms, cancel_requested, log_offset, mfile_offset, "
		"step_counter, config_sha, manifest, gpu_mask, seq, "
		"pending_signal, attempt_started_ms, cost_usd, cost_ms, held_ms) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, "
		"?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?25, ?26, "
		"?27, ?28, ?29, ?30, ?31, ?32)", "insert run" },
	[ST_RUN_UPDATE] = {
		"UPDATE runs SET state = ?4, attempt = ?5, priority = ?6, "
		"max_retries = ?7, provider = ?8, job_id = ?9, exit_code = ?10, "
		"reason = ?11, kind = ?12, created_ms = ?13, submitted_ms = ?14, "
		"started_ms = ?15, ended_ms = ?16, updated_ms = ?17, "
		"retry_at_ms = ?18, cancel_requested = ?19, config_sha = ?23, "
		"manifest = ?25, gpu_mask = ?26, seq = ?27, "
		"pending_signal = ?28, attempt_started_ms = ?29, "
		"cost_usd = ?30, cost_ms = ?31, held_ms = ?32 WHERE id = ?24",
		"update run" },
	[ST_RUN_RENAME] = { "UPDATE runs SET name = ?2 WHERE id = ?1",
			    "rename run" },
	[ST_RUN_MOVE] = {
		"UPDATE runs SET exp_id = ?2, name = ?3 WHERE id = ?1",
		"move run" },
	[ST_RUN_CONFIG_SET] = {
		"UPDATE runs SET config = ?2, effective = ?3 WHERE id = ?1",
		"set config" },
	[ST_RUN_CONFIG_GET] = { "SELECT config FROM runs WHERE id = ?1",
				"get config" },
	[ST_RUN_EFFECTIVE_GET] = { "SELECT effective FROM runs WHERE id = ?1",
				   "get effective config" },
	[ST_RUN_SET_SCAN] = {
		"UPDATE runs SET log_offset = ?2, mfile_offset = ?3, "
		"step_counter = ?4 WHERE id = ?1", "save scan position" },
	[ST_RUN_LOAD] = {
		"SELECT id, exp_id, name, uuid, state, attempt, priority, "
		"max_retries, provider, job_id, exit_code, reason, kind, "
		"created_ms, submitted_ms, started_ms, ended_ms, updated_ms, "
		"retry_at_ms, cancel_requested, log_offset, mfile_offset, "
		"step_counter, config_sha, manifest, gpu_mask, seq, "
		"pending_signal, attempt_started_ms, cost_usd, cost_ms, "
		"held_ms FROM runs ORDER BY id",
		"load runs" },
	[ST_RUN_DEL_EVENTS] = { "DELETE FROM events WHERE run_id = ?1",
				"delete events" },
	[ST_RUN_DEL_EVENT_COUNTS] = {
		"DELETE FROM event_counts WHERE run_id = ?1",
		"delete event counts" },
	[ST_RUN_DEL_METRICS] = { "DELETE FROM metrics WHERE run_id = ?1",
				 "delete metrics" },
	[ST_RUN_DEL_LATEST] = {
		"DELETE FROM metrics_latest WHERE run_id = ?1",
		"delete latest metrics" },
	[ST_RUN_DEL] = { "DELETE FROM runs WHERE id = ?1", "delete run" },

	[ST_EVENT_ADD] = {
		"INSERT INTO events(run_id, time_ms, text) VALUES (?1, ?2, ?3)",
		"add event" },
	[ST_EVENT_COUNT] = {
		"INSERT INTO event_counts(run_id, n) VALUES (?1, 1) "
		"ON CONFLICT(run_id) DO UPDATE SET n = n + 1 RETURNING n",
		"count events" },
	[ST_EVENT_TRIM] = {
		"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE "
		"run_id = ?1 ORDER BY id LIMIT ?2)", "trim events" },
	[ST_EVENT_DROPPED] = {
		"UPDATE event_counts SET n = n - ?2, dropped = dropped + ?2 "
		"WHERE run_id = ?1", "count dropped events" },
	[ST_EVENT_DROPS_GET] = {
		"SELECT dropped FROM event_counts WHERE run_id = ?1",
		"read dropped events", ON_R },
	[ST_EVENTS_GET] = {
		"SELECT time_ms, text FROM events WHERE run_id = ?1 ORDER BY id",
		"read events", ON_R },

	[ST_METRIC_ADD] = {
		"INSERT INTO metrics(run_id, step, time_ms, key, value, end_off) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)", "add metric" },
	[ST_METRIC_LATEST] = {
		"INSERT INTO metrics_latest(run_id, key, value, step) "
		"VALUES (?1, ?2, ?3, ?4) ON CONFLICT(run_id, key) DO UPDATE SET "
		"value = excluded.value, step = excluded.step",
		"update latest metric" },
	[ST_METRICS_LATEST_GET] = {
		"SELECT key, value FROM metrics_latest WHERE run_id = ?1 "
		"ORDER BY key", "read metrics", ON_R },
	/* end_off grows with id within a run: its index is the order */
	[ST_METRICS_HISTORY] = {
		"SELECT step, time_ms, key, value, end_off FROM metrics "
		"WHERE run_id = ?1 AND end_off > ?2 ORDER BY end_off",
		"read metrics history", ON_R },
	[ST_METRICS_POINTS] = {
		"SELECT step, key, value FROM metrics WHERE run_id = ?1 AND "
		"end_off <= ?2 ORDER BY end_off", "read metrics points", ON_R },
	/* the size as the last commit has it, and as the writer sees it */
	[ST_METRICS_END] = { METRICS_END_SQL, "read metrics size", ON_R },
	[ST_METRICS_END_W] = { METRICS_END_SQL, "read metrics size" },

	[ST_ART_INSERT] = {
		"INSERT INTO artifacts(run_id, path, is_dir, size, sha256, url) "
		"VALUES (?1, ?2, ?3, ?4, ?5, ?6)", "insert artifact" },
	[ST_ART_DELETE_RUN] = { "DELETE FROM artifacts WHERE run_id = ?1",
				"delete artifacts" },
	[ST_ART_LOAD] = {
		"SELECT id, path, is_dir, size, sha256, url FROM artifacts "
		"WHERE run_id = ?1 ORDER BY id", "load artifacts" },

	[ST_TPL_PUT] = {
		"INSERT INTO templates(name, body, mtime_ms) VALUES (?1, ?2, ?3) "
		"ON CONFLICT(name) DO UPDATE SET body = excluded.body, "
		"mtime_ms = excluded.mtime_ms", "put template" },
	[ST_TPL_GET] = { "SELECT body FROM templates WHERE name = ?1",
			 "get template" },
	[ST_TPL_DELETE] = { "DELETE FROM templates WHERE name = ?1",
			    "delete template" },
	/* length() of TEXT counts characters; stat needs bytes */
	[ST_TPL_LOAD] = {
		"SELECT name, length(CAST(body AS BLOB)), mtime_ms "
		"FROM templates ORDER BY name", "load templates" },

	[ST_SWEEP_INSERT] = {
		"INSERT INTO sweeps(exp_id, name, state, spec, reason, "
		"max_trials, created_ms, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5, "
		"?6, ?7, ?8)", "insert sweep" },
	[ST_SWEEP_UPDATE] = {
		"UPDATE sweeps SET state = ?3, spec = ?4, reason = ?5, "
		"max_trials = ?6, updated_ms = ?8 WHERE id = ?9",
		"update sweep" },
	[ST_SWEEP_LOAD] = {
		"SELECT id, exp_id, name, state, spec, reason, max_trials, "
		"created_ms, updated_ms FROM sweeps ORDER BY id",
		"load sweeps" },
	/* a sweep's events are those of "run" -id (store.h) */
	[ST_SWEEP_DEL_EVENTS] = { "DELETE FROM events WHERE run_id = -?1",
				  "delete sweep events" },
	[ST_SWEEP_DEL_EVENT_COUNTS] = {
		"DELETE FROM event_counts WHERE run_id = -?1",
		"delete sweep event counts" },
	[ST_SWEEP_DEL_TRIALS] = { "DELETE FROM trials WHERE sweep_id = ?1",
				  "delete trials" },
	[ST_SWEEP_DEL] = { "DELETE FROM sweeps WHERE id = ?1",
			   "delete sweep" },
	[ST_EXP_DEL_SWEEP_EVENTS] = { "DELETE FROM events" OF_EXP_SWEEPS,
				      "delete sweep events" },
	[ST_EXP_DEL_SWEEP_EVENT_COUNTS] = {
		"DELETE FROM event_counts" OF_EXP_SWEEPS,
		"delete sweep event counts" },
	[ST_EXP_DEL_TRIALS] = {
		"DELETE FROM trials WHERE sweep_id IN (SELECT id FROM sweeps "
		"WHERE exp_id = ?1)", "delete trials" },
	[ST_EXP_DEL_SWEEPS] = { "DELETE FROM sweeps WHERE exp_id = ?1",
				"delete sweeps" },
	[ST_TRIAL_PUT] = {
		"INSERT INTO trials(sweep_id, n, run_id, params, state, value, "
		"early, run_uuid) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON "
		"CONFLICT(sweep_id, n) DO UPDATE SET run_id = excluded.run_id, "
		"params = excluded.params, state = excluded.state, "
		"value = excluded.value, early = excluded.early, "
		"run_uuid = excluded.run_uuid", "put trial" },
	[ST_TRIAL_LOAD] = {
		"SELECT sweep_id, n, run_id, params, state, value, early, "
		"run_uuid FROM trials ORDER BY sweep_id, n", "load trials" },
	[ST_METRIC_SERIES] = {
		"SELECT step, value, end_off FROM metrics WHERE run_id = ?1 AND "
		"end_off > ?3 AND key = ?2 ORDER BY end_off",
		"read a metric's series", ON_R },

	[ST_EXPORT_PUT] = {
		"INSERT INTO exports(target, key, remote_id, pos, flags) VALUES "
		"(?1, ?2, ?3, ?4, ?5) ON CONFLICT(target, key) DO UPDATE SET "
		"remote_id = excluded.remote_id, pos = excluded.pos, "
		"flags = excluded.flags", "put export position" },
	[ST_EXPORT_LOAD] = {
		"SELECT key, remote_id, pos, flags FROM exports WHERE target = ?1",
		"load export positions" },
	[ST_METRICS_FROM] = {
		"SELECT step, time_ms, key, value, end_off FROM metrics "
		"WHERE run_id = ?1 AND end_off > ?2 ORDER BY end_off LIMIT ?3",
		"read metrics from a position", ON_R },
	[ST_METRICS_COUNT_FROM] = {
		"SELECT count(*) FROM metrics WHERE run_id = ?1 AND end_off > ?2",
		"count metrics from a position", ON_R },
};

/*
 * One connection and its statements. The lock is recursive: a function
 * that runs several statements as one step holds it across them, and
 * store_run() takes it again for each.
 */
struct store_conn {
	pthread_mutex_t lock;
	int on;                     /* ON_W or ON_R: its statements */
	sqlite3 *db;                /* protected by lock, as is st */
	sqlite3_stmt *st[ST_MAX];   /* its statements, prepared at open (the
				       schema's version: before, at first use),
				       NULL for the other connection's */
};

/*
 * Readers of what grows while a run goes (events, metrics) have a second,
 * read-only connection: in WAL mode it reads the last commit while a write
 * transaction (a scan's batch of metrics) is open on the first, so a read
 * never waits for a write. Lock order: w.lock, then r.lock.
 */
struct store {
	struct store_conn w;    /* w.lock is held from begin to commit */
	struct store_conn r;
	int durable;            /* the open transaction is durable */
	int in_tx;              /* between store_begin() and its end */
	int tx_err;             /* first failure inside it: it cannot commit */
	/* durable, in_tx and tx_err are protected by w.lock */
};

/* Each migration takes the schema from version i to i + 1. */
static const char *const migrations[] = {
	/* 0 -> 1 */
	"CREATE TABLE experiments ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" name TEXT NOT NULL UNIQUE,"
	" description TEXT NOT NULL DEFAULT '',"
	" created_ms INTEGER NOT NULL,"
	" mtime_ms INTEGER NOT NULL);"
	"CREATE TABLE runs ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" exp_id INTEGER NOT NULL REFERENCES experiments(id),"
	" name TEXT NOT NULL,"
	" uuid TEXT NOT NULL UNIQUE,"
	" state INTEGER NOT NULL,"
	" attempt INTEGER NOT NULL DEFAULT 0,"
	" priority INTEGER NOT NULL DEFAULT 0,"
	" max_retries INTEGER NOT NULL DEFAULT 0,"
	" provider TEXT, job_id TEXT, exit_code INTEGER, reason TEXT, kind TEXT,"
	" created_ms INTEGER, submitted_ms INTEGER, started_ms INTEGER,"
	" ended_ms INTEGER, updated_ms INTEGER, retry_at_ms INTEGER,"
	" cancel_requested INTEGER NOT NULL DEFAULT 0,"
	" log_offset INTEGER NOT NULL DEFAULT 0,"
	" mfile_offset INTEGER NOT NULL DEFAULT 0,"
	" step_counter INTEGER NOT NULL DEFAULT 0,"
	" config TEXT, effective TEXT, config_sha TEXT,"
	" UNIQUE(exp_id, name));"
	"CREATE TABLE events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" run_id INTEGER NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" text TEXT NOT NULL);"
	"CREATE INDEX events_run ON events(run_id, id);"
	"CREATE TABLE metrics ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" run_id INTEGER NOT NULL,"
	" step REAL NOT NULL,"
	" time_ms INTEGER NOT NULL,"
	" key TEXT NOT NULL,"
	" value REAL NOT NULL);"
	"CREATE INDEX metrics_run ON metrics(run_id, id);"
	"CREATE TABLE metrics_latest ("
	" run_id INTEGER NOT NULL,"
	" key TEXT NOT NULL,"
	" value REAL NOT NULL,"
	" step REAL NOT NULL,"
	" PRIMARY KEY(run_id, key)) WITHOUT ROWID;"
	"CREATE TABLE templates ("
	" name TEXT PRIMARY KEY,"
	" body TEXT NOT NULL,"
	" mtime_ms INTEGER NOT NULL);",
	/* 1 -> 2: artifacts */
	"ALTER TABLE runs ADD COLUMN manifest INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE artifacts ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" run_id INTEGER NOT NULL,"
	" path TEXT NOT NULL,"
	" is_dir INTEGER NOT NULL,"
	" size INTEGER NOT NULL,"
	" sha256 TEXT,"
	" url TEXT,"
	" UNIQUE(run_id, path));",
	/* 2 -> 3: an experiment's objective, for its leaderboard */
	"ALTER TABLE experiments ADD COLUMN objective TEXT NOT NULL DEFAULT '';",
	/* 3 -> 4: GPUs assigned to a run's attempt */
	"ALTER TABLE runs ADD COLUMN gpu_mask INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 4 -> 5: the submission order and a pause/resume not yet carried
	 * out survive a restart; events are counted per run to cap them
	 */
	"ALTER TABLE runs ADD COLUMN seq INTEGER NOT NULL DEFAULT 0;"
	"UPDATE runs SET seq = id;"
	"ALTER TABLE runs ADD COLUMN pending_signal INTEGER NOT NULL DEFAULT 0;"
	"CREATE TABLE event_counts ("
	" run_id INTEGER PRIMARY KEY,"
	" n INTEGER NOT NULL,"
	" dropped INTEGER NOT NULL DEFAULT 0);"
	"INSERT INTO event_counts(run_id, n) "
	"SELECT run_id, count(*) FROM events GROUP BY run_id;",
	/*
	 * 5 -> 6: when the current attempt started (timeout_s counts from
	 * it), and where each metric's line ends in the run's metrics.jsonl,
	 * so that a read at an offset and the file's size need no rendering
	 * of the history before it
	 */
	"ALTER TABLE runs ADD COLUMN attempt_started_ms INTEGER NOT NULL "
	"DEFAULT 0;"
	"UPDATE runs SET attempt_started_ms = started_ms WHERE attempt <= 1 "
	"AND started_ms IS NOT NULL;"
	"ALTER TABLE metrics ADD COLUMN end_off INTEGER NOT NULL DEFAULT 0;"
	"UPDATE metrics SET end_off = w.e FROM (SELECT id, "
	"sum(tfs_jsonl_len(step, time_ms, key, value)) OVER (PARTITION BY "
	"run_id ORDER BY id) AS e FROM metrics) AS w WHERE metrics.id = w.id;"
	"DROP INDEX metrics_run;"
	"CREATE INDEX metrics_end ON metrics(run_id, end_off);",
	/*
	 * 6 -> 7: what the run's attempts cost (USD) and how long their
	 * machines were held (ms), and the time up to
	 * which the current attempt's holding is counted in it (0: its
	 * machine is not held), saved together so that a restart neither
	 * counts a span twice nor loses one
	 */
	"ALTER TABLE runs ADD COLUMN cost_usd REAL NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN cost_ms INTEGER NOT NULL DEFAULT 0;"
	"ALTER TABLE runs ADD COLUMN held_ms INTEGER NOT NULL DEFAULT 0;",
	/*
	 * 7 -> 8: sweeps (DESIGN.md section 7). A trial's row is written
	 * before its run is made, and its run id once the run exists, so
	 * that a restart neither loses a trial nor makes one twice.
	 */
	"CREATE TABLE sweeps ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" exp_id INTEGER NOT NULL,"
	" name TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" spec TEXT,"
	" reason TEXT NOT NULL DEFAULT '',"
	" max_trials INTEGER NOT NULL DEFAULT 0,"
	" created_ms INTEGER NOT NULL,"
	" updated_ms INTEGER NOT NULL,"
	" UNIQUE(exp_id, name));"
	"CREATE TABLE trials ("
	" sweep_id INTEGER NOT NULL,"
	" n INTEGER NOT NULL,"
	" run_id INTEGER NOT NULL DEFAULT 0,"
	" run_uuid TEXT,"
	" params TEXT NOT NULL,"
	" state INTEGER NOT NULL,"
	" value REAL,"
	" early INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(sweep_id, n)) WITHOUT ROWID;",
	/*
	 * 8 -> 9: what an export to a tracking server has sent (DESIGN.md
	 * section 10): per target ("mlflow") and key ("run:7", "exp:2",
	 * "sweep:3", "pipe:7"), the remote id, the metrics position sent up
	 * to (end_off) and flags of what is done, written after the server
	 * acknowledged, so that a restart sends nothing twice.
	 */
	"CREATE TABLE exports ("
	" target TEXT NOT NULL,"
	" key TEXT NOT NULL,"
	" remote_id TEXT NOT NULL,"
	" pos INTEGER NOT NULL DEFAULT 0,"
	" flags INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY(target, key)) WITHOUT ROWID;",
};

/* ---- running a statement ---- */

/*
 * A value for one parameter of a statement: the i-th of an array binds ?i+1.
 * Values in an array of these, rather than a format string and varargs as
 * in sqlite3_mprintf(), are checked by the compiler against their type.
 */
struct store_arg {
	enum { V_NULL, V_INT, V_REAL, V_TEXT } type;
	union {
		int64_t i;
		double f;
		struct {
			const char *p;  /* borrowed for the call; NULL: NULL */
			size_t n;       /* its bytes, or STORE_NUL: to a NUL */
		} t;
	};
};
#define STORE_NUL SIZE_MAX
#define ARG_NULL ((struct store_arg){ .type = V_NULL })
#define ARG_I(v) ((struct store_arg){ .type = V_INT, .i = (v) })
#define ARG_F(v) ((struct store_arg){ .type = V_REAL, .f = (v) })
#define ARG_T(v) ARG_TN(v, STORE_NUL)
#define ARG_TN(v, len) \
	((struct store_arg){ .type = V_TEXT, .t = { (v), (len) } })
/* The values of a call, as store_run()'s last two arguments. */
#define ARGS(...) (const struct store_arg[]){ __VA_ARGS__ }, \
	(int)(sizeof((const struct store_arg[]){ __VA_ARGS__ }) / \
	      sizeof(struct store_arg))
#define NO_ARGS NULL, 0

/*
 * Called by store_run() for each row of its statement, which is at that
 * row (column values last until the call returns). A non-zero return stops
 * the walk, and store_run() returns it.
 */
typedef int (*store_row_fn)(void *arg, sqlite3_stmt *st);

/* A row function's "enough": never a TFS_* code, and never returned. */
#define STORE_STOP TFS_ERR_MAX

/*
 * What the last failure on db means for the user: a full or read-only state
 * directory is said as such (the caller refuses with that errno and can
 * work again once space returns), a value over SQLite's bound is too big,
 * anything else is an I/O error. The system's errno is asked only for an
 * I/O failure: SQLite keeps it from the last one, which may be old.
 */
static int store_err(sqlite3 *db)
{
	int rc = sqlite3_errcode(db) & 0xff, sys = sqlite3_system_errno(db);
	int os = rc == SQLITE_IOERR || rc == SQLITE_CANTOPEN;

	if (rc == SQLITE_FULL || (os && (sys == ENOSPC || sys == EDQUOT)))
		return TFS_ENOSPC;
	if (rc == SQLITE_READONLY || (os && sys == EROFS))
		return TFS_EROFS;
	if (rc == SQLITE_TOOBIG)
		return TFS_EFBIG;
	return TFS_EIO;
}

/*
 * The one place a failure is said: logs what failed with SQLite's reason
 * and returns what it means (store_err()). A failure of the writer inside
 * a transaction is remembered as the transaction's: SQLite may already
 * have rolled it back (a full disk does), and what follows must not commit
 * half of it, nor hide why. A reader's failure is TFS_EIO: it refuses no
 * write, and leaves the writer's transaction alone.
 */
static int store_fail(struct store *s, struct store_conn *c, const char *what)
{
	int r;

	log_msg(LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(c->db));
	if (c->on == ON_R)
		return TFS_EIO;
	r = store_err(c->db);
	if (s->in_tx && !s->tx_err)
		s->tx_err = r;
	return r;
}

/* Statement id of c into *st, prepared now if not yet (c->lock held). */
static int store_prepare(struct store *s, struct store_conn *c, int id,
			 sqlite3_stmt **st)
{
	if (!c->st[id] && sqlite3_prepare_v3(c->db, stmt_defs[id].sql, -1,
					     SQLITE_PREPARE_PERSISTENT,
					     &c->st[id], NULL) != SQLITE_OK)
		return store_fail(s, c, stmt_defs[id].what);
	*st = c->st[id];
	return TFS_OK;
}

/* Binds a[0..n) to ?1..?n of st; returns SQLite's code. */
static int store_bind(sqlite3_stmt *st, const struct store_arg *a, int n)
{
	int i, rc = SQLITE_OK;

	for (i = 0; i < n && rc == SQLITE_OK; i++) {
		if (a[i].type == V_INT)
			rc = sqlite3_bind_int64(st, i + 1, a[i].i);
		else if (a[i].type == V_REAL)
			rc = sqlite3_bind_double(st, i + 1, a[i].f);
		else if (a[i].type == V_TEXT && a[i].t.p &&
			 a[i].t.n == STORE_NUL)
			rc = sqlite3_bind_text(st, i + 1, a[i].t.p, -1,
					       SQLITE_STATIC);
		else if (a[i].type == V_TEXT && a[i].t.p)
			rc = sqlite3_bind_text64(st, i + 1, a[i].t.p, a[i].t.n,
						 SQLITE_STATIC, SQLITE_UTF8);
		else
			rc = sqlite3_bind_null(st, i + 1);
	}
	return rc;
}

/*
 * Runs statement id once, the one way any statement runs: under its
 * connection's lock, binds args[0..n) to ?1..?n, steps it to its end
 * calling row(arg, st) for each row it returns (row may be NULL), and
 * resets it. A write inside a transaction that has already failed is not
 * run, since it would commit alone. Returns TFS_OK; the first non-zero
 * return of row; TFS_EEXIST when a constraint refused a write (SQLite
 * undid that statement alone: no failure of the transaction, nor logged);
 * the transaction's failure; else store_fail()'s code.
 */
static int store_run(struct store *s, int id, store_row_fn row, void *arg,
		     const struct store_arg *args, int n)
{
	struct store_conn *c = stmt_defs[id].on == ON_R ? &s->r : &s->w;
	sqlite3_stmt *st;
	int rc, r;

	pthread_mutex_lock(&c->lock);
	r = store_prepare(s, c, id, &st);
	if (r)
		goto out;
	if (c->on == ON_W && s->in_tx && s->tx_err &&
	    !sqlite3_stmt_readonly(st)) {
		r = s->tx_err;
		goto out;
	}
	if (store_bind(st, args, n) != SQLITE_OK) {
		r = store_fail(s, c, stmt_defs[id].what);
		goto reset;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row && (r = row(arg, st)))
			break;
	if (!r && rc == SQLITE_CONSTRAINT)
		r = TFS_EEXIST;
	else if (!r && rc != SQLITE_DONE)
		r = store_fail(s, c, stmt_defs[id].what);
reset:
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
out:
	pthread_mutex_unlock(&c->lock);
	return r;
}

/* store_run() of a statement that returns no rows, or none wanted. */
static int store_do(struct store *s, int id, const struct store_arg *args,
		    int n)
{
	return store_run(s, id, NULL, NULL, args, n);
}

/* store_do() of an INSERT; its row id into *rowid, untouched on error. */
static int store_insert(struct store *s, int id, int64_t *rowid,
			const struct store_arg *args, int n)
{
	int r;

	pthread_mutex_lock(&s->w.lock);
	r = store_do(s, id, args, n);
	if (!r)
		*rowid = sqlite3_last_insert_rowid(s->w.db);
	pthread_mutex_unlock(&s->w.lock);
	return r;
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

/* Column 0 as an integer (NULL: 0) into *(int64_t *)arg. */
static int row_int(void *arg, sqlite3_stmt *st)
{
	*(int64_t *)arg = sqlite3_column_int64(st, 0);
	return 0;
}

/* A caller's callback and its argument, for the row function that calls it. */
struct store_walk {
	union {
		store_exp_cb exp;
		store_run_cb run;
		store_event_cb event;
		store_metric_cb metric;
		store_art_cb art;
		store_tpl_cb tpl;
		store_sweep_cb sweep;
		store_trial_cb trial;
		store_series_cb series;
		store_export_cb export;
		store_from_cb from;
	} cb;
	void *arg;
};

struct text_out {
	struct buf *out;
	int found;
};

/* Appends column 0, unless NULL, to the text_out's buffer. */
static int row_text(void *arg, sqlite3_stmt *st)
{
	struct text_out *t = arg;
	const void *p = sqlite3_column_blob(st, 0);

	if (sqlite3_column_type(st, 0) == SQLITE_NULL)
		return 0;
	t->found = 1;
	return buf_append(t->out, p ? p : "",
			  (size_t)sqlite3_column_bytes(st, 0));
}

/*
 * Appends column 0 of the row of statement id that key selects to out;
 * TFS_ENOENT when there is no such row or its value is NULL.
 */
static int store_get_text(struct store *s, int id, struct store_arg key,
			  struct buf *out)
{
	struct text_out t = { out, 0 };
	int r = store_run(s, id, row_text, &t, &key, 1);

	return r ? r : t.found ? TFS_OK : TFS_ENOENT;
}

/*
 * Runs SQL that is not in stmt_defs[] on the writer: the set-up and the
 * migrations, run once and several statements each, and the synchronous
 * pragmas, which SQLite carries out when it prepares them (not when they
 * run), so that a prepared one would do nothing.
 */
static int store_exec(struct store *s, const char *sql)
{
	char what[80];

	if (sqlite3_exec(s->w.db, sql, NULL, NULL, NULL) == SQLITE_OK)
		return TFS_OK;
	snprintf(what, sizeof(what), "'%.60s'", sql);
	return store_fail(s, &s->w, what);
}

/* ---- open, close ---- */

static void store_sql_jsonl_len(sqlite3_context *ctx, int argc,
				sqlite3_value **argv);

static int store_migrate(struct store *s, char *err, size_t errlen)
{
	int64_t version = 0;
	int target = (int)(sizeof(migrations) / sizeof(*migrations));

	if (store_run(s, ST_USER_VERSION, row_int, &version, NO_ARGS)) {
		snprintf(err, errlen, "cannot read the schema version: %s",
			 sqlite3_errmsg(s->w.db));
		return TFS_EIO;
	}
	if (version > target) {
		snprintf(err, errlen,
			 "database schema version %d is newer than this trainfs "
			 "(%d)", (int)version, target);
		return TFS_EIO;
	}
	while (version < target) {
		char sql[64];

		if (store_exec(s, "BEGIN IMMEDIATE"))
			return TFS_EIO;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			 (int)version + 1);
		if (store_exec(s, migrations[version]) || store_exec(s, sql)) {
			store_exec(s, "ROLLBACK");
			snprintf(err, errlen, "schema migration %d -> %d failed",
				 (int)version, (int)version + 1);
			return TFS_EIO;
		}
		if (store_exec(s, "COMMIT"))
			return TFS_EIO;
		log_msg(LOG_INFO, "store: schema migrated to version %d",
			(int)version + 1);
		version++;
	}
	return TFS_OK;
}

static void store_conn_init(struct store_conn *c, int on)
{
	pthread_mutexattr_t attr;

	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&c->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	c->on = on;
}

/* Opens c's database with flags (SQLITE_OPEN_*); on error, why in err. */
static int store_conn_open(struct store_conn *c, const char *path, int flags,
			   char *err, size_t errlen)
{
	if (sqlite3_open_v2(path, &c->db, flags | SQLITE_OPEN_NOMUTEX, NULL)) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 c->db ? sqlite3_errmsg(c->db) : "out of memory");
		return TFS_EIO;
	}
	sqlite3_busy_timeout(c->db, 5000);
	return TFS_OK;
}

/* Prepares every statement of c now, so that one that cannot fails open. */
static int store_conn_prepare(struct store *s, struct store_conn *c,
			      char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int i;

	for (i = 0; i < ST_MAX; i++) {
		if (stmt_defs[i].on == c->on && store_prepare(s, c, i, &st)) {
			snprintf(err, errlen, "cannot prepare statement %d: %s",
				 i, sqlite3_errmsg(c->db));
			return TFS_EIO;
		}
	}
	return TFS_OK;
}

static void store_conn_close(struct store_conn *c)
{
	int i;

	for (i = 0; i < ST_MAX; i++)
		sqlite3_finalize(c->st[i]);
	sqlite3_close(c->db);
	pthread_mutex_destroy(&c->lock);
}

int store_open(const char *path, struct store **out, char *err,
	       size_t errlen)
{
	struct store *s = xcalloc(1, sizeof(*s));

	*out = NULL;
	store_conn_init(&s->w, ON_W);
	store_conn_init(&s->r, ON_R);
	if (store_conn_open(&s->w, path, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, err, errlen))
		goto fail;
	if (store_exec(s, "PRAGMA journal_mode = WAL; "
		       SYNC_NORMAL "; "
		       "PRAGMA foreign_keys = OFF") ||
	    sqlite3_create_function_v2(s->w.db, "tfs_jsonl_len", 4,
				       SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				       store_sql_jsonl_len, NULL, NULL, NULL)) {
		snprintf(err, errlen, "cannot set up database '%s'", path);
		goto fail;
	}
	if (store_migrate(s, err, errlen) ||
	    store_conn_prepare(s, &s->w, err, errlen) ||
	    store_conn_open(&s->r, path, SQLITE_OPEN_READONLY, err, errlen) ||
	    store_conn_prepare(s, &s->r, err, errlen))
		goto fail;
	*out = s;
	return TFS_OK;
fail:
	store_close(s);
	return TFS_EIO;
}

void store_close(struct store *s)
{
	if (!s)
		return;
	store_conn_close(&s->w);
	store_conn_close(&s->r);
	free(s);
}

/* ---- transactions ---- */

int store_begin(struct store *s, int durable)
{
	int r;

	pthread_mutex_lock(&s->w.lock);
	/*
	 * The connection runs with synchronous=NORMAL (no fsync per commit);
	 * a durable transaction switches to FULL for its commit. SQLite takes
	 * the setting only outside a transaction, hence here.
	 */
	if (durable && (r = store_exec(s, SYNC_FULL))) {
		pthread_mutex_unlock(&s->w.lock);
		return r;
	}
	s->durable = durable;
	s->tx_err = TFS_OK;
	if ((r = store_do(s, ST_BEGIN, NO_ARGS))) {
		if (durable)
			store_exec(s, SYNC_NORMAL);
		pthread_mutex_unlock(&s->w.lock);
		return r;
	}
	s->in_tx = 1;
	return TFS_OK;
}

static void store_end(struct store *s)
{
	s->in_tx = 0;
	s->tx_err = TFS_OK;
	if (s->durable)
		store_exec(s, SYNC_NORMAL);
	s->durable = 0;
	pthread_mutex_unlock(&s->w.lock);
}

int store_commit(struct store *s)
{
	int r = s->tx_err ? s->tx_err : store_do(s, ST_COMMIT, NO_ARGS);

	/* the reason of the COMMIT, not of the ROLLBACK after it */
	if (r && !sqlite3_get_autocommit(s->w.db))
		store_do(s, ST_ROLLBACK, NO_ARGS);
	store_end(s);
	return r;
}

void store_rollback(struct store *s)
{
	/* SQLite may have rolled back already (a full disk does that) */
	if (!sqlite3_get_autocommit(s->w.db))
		store_do(s, ST_ROLLBACK, NO_ARGS);
	store_end(s);
}

/*
 * Runs statements ids[0..n), each with the one value id, as one
 * transaction: a delete with everything that hangs on it.
 */
static int store_delete(struct store *s, const int *ids, size_t n,
			int64_t id)
{
	size_t i;
	int r = store_begin(s, 0);

	if (r)
		return r;
	for (i = 0; i < n && !r; i++)
		r = store_do(s, ids[i], ARGS(ARG_I(id)));
	if (r) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

/* ---- experiments ---- */

int store_exp_insert(struct store *s, const char *name, int64_t now,
		     int64_t *id)
{
	return store_insert(s, ST_EXP_INSERT, id,
			    ARGS(ARG_T(name), ARG_I(now)));
}

int store_exp_rename(struct store *s, int64_t id, const char *name)
{
	return store_do(s, ST_EXP_RENAME, ARGS(ARG_I(id), ARG_T(name)));
}

int store_exp_set_description(struct store *s, int64_t id, const char *text,
			      int64_t now)
{
	return store_do(s, ST_EXP_DESC_SET,
			ARGS(ARG_I(id), ARG_T(text), ARG_I(now)));
}

int store_exp_set_objective(struct store *s, int64_t id, const char *text)
{
	return store_do(s, ST_EXP_OBJECTIVE_SET, ARGS(ARG_I(id), ARG_T(text)));
}

int store_exp_description(struct store *s, int64_t id, struct buf *out)
{
	return store_get_text(s, ST_EXP_DESC_GET, ARG_I(id), out);
}

int store_exp_delete(struct store *s, int64_t id)
{
	static const int ids[] = {
		ST_EXP_DEL_EVENTS, ST_EXP_DEL_EVENT_COUNTS, ST_EXP_DEL_METRICS,
		ST_EXP_DEL_LATEST, ST_EXP_DEL_ARTIFACTS, ST_EXP_DEL_RUNS,
		ST_EXP_DEL_SWEEP_EVENTS, ST_EXP_DEL_SWEEP_EVENT_COUNTS,
		ST_EXP_DEL_TRIALS, ST_EXP_DEL_SWEEPS, ST_EXP_DEL,
	};

	return store_delete(s, ids, sizeof(ids) / sizeof(*ids), id);
}

static int row_exp(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	return w->cb.exp(w->arg, sqlite3_column_int64(st, 0),
			 col_text(st, 1), sqlite3_column_int64(st, 2),
			 sqlite3_column_int64(st, 3), col_text(st, 4));
}

int store_exp_load(struct store *s, store_exp_cb cb, void *arg)
{
	struct store_walk w = { .cb.exp = cb, .arg = arg };

	return store_run(s, ST_EXP_LOAD, row_exp, &w, NO_ARGS);
}

/* ---- runs ---- */

#define RUN_ARGS 32     /* the places ?1..?32 of the run insert and update */

/*
 * a[3..31] but a[23] of a run's insert and update: what both write; the
 * insert adds ?1..?3 (where and what), the update ?24 (which).
 */
static void store_run_args(const struct store_run *r,
			   struct store_arg a[RUN_ARGS])
{
	a[3] = ARG_I(r->state);
	a[4] = ARG_I(r->attempt);
	a[5] = ARG_I(r->priority);
	a[6] = ARG_I(r->max_retries);
	a[7] = ARG_T(r->provider);
	a[8] = ARG_T(r->job_id);
	a[9] = r->exit_code == STORE_NO_EXIT ? ARG_NULL : ARG_I(r->exit_code);
	a[10] = ARG_T(r->reason);
	a[11] = ARG_T(r->kind);
	a[12] = ARG_I(r->created_ms);
	a[13] = ARG_I(r->submitted_ms);
	a[14] = ARG_I(r->started_ms);
	a[15] = ARG_I(r->ended_ms);
	a[16] = ARG_I(r->updated_ms);
	a[17] = ARG_I(r->retry_at_ms);
	a[18] = ARG_I(r->cancel_requested);
	a[19] = ARG_I(r->log_offset);
	a[20] = ARG_I(r->mfile_offset);
	a[21] = ARG_I(r->step_counter);
	a[22] = ARG_T(r->config_sha);
	a[24] = ARG_I(r->manifest);
	a[25] = ARG_I((int64_t)r->gpu_mask);
	a[26] = ARG_I(r->seq);
	a[27] = ARG_I(r->pending_signal);
	a[28] = ARG_I(r->attempt_started_ms);
	a[29] = ARG_F(r->cost_usd);
	a[30] = ARG_I(r->cost_ms);
	a[31] = ARG_I(r->held_ms);
}

int store_run_insert(struct store *s, const struct store_run *r,
		     int64_t *id)
{
	struct store_arg a[RUN_ARGS] = { ARG_I(r->exp_id), ARG_T(r->name),
					 ARG_T(r->uuid) };

	store_run_args(r, a);
	return store_insert(s, ST_RUN_INSERT, id, a, RUN_ARGS);
}

int store_run_update(struct store *s, const struct store_run *r)
{
	struct store_arg a[RUN_ARGS] = { [23] = ARG_I(r->id) };

	store_run_args(r, a);
	return store_do(s, ST_RUN_UPDATE, a, RUN_ARGS);
}

int store_run_rename(struct store *s, int64_t id, const char *name)
{
	return store_do(s, ST_RUN_RENAME, ARGS(ARG_I(id), ARG_T(name)));
}

int store_run_move(struct store *s, int64_t id, int64_t exp_id,
		   const char *name)
{
	return store_do(s, ST_RUN_MOVE,
			ARGS(ARG_I(id), ARG_I(exp_id), ARG_T(name)));
}

int store_run_set_config(struct store *s, int64_t id, const char *text,
			 size_t len, const char *effective)
{
	return store_do(s, ST_RUN_CONFIG_SET, ARGS(ARG_I(id),
			ARG_TN(text, len), ARG_T(effective)));
}

int store_run_config(struct store *s, int64_t id, struct buf *out)
{
	return store_get_text(s, ST_RUN_CONFIG_GET, ARG_I(id), out);
}

int store_run_effective(struct store *s, int64_t id, struct buf *out)
{
	return store_get_text(s, ST_RUN_EFFECTIVE_GET, ARG_I(id), out);
}

int store_run_delete(struct store *s, int64_t id)
{
	static const int ids[] = {
		ST_RUN_DEL_EVENTS, ST_RUN_DEL_EVENT_COUNTS, ST_RUN_DEL_METRICS,
		ST_RUN_DEL_LATEST, ST_ART_DELETE_RUN, ST_RUN_DEL,
	};

	return store_delete(s, ids, sizeof(ids) / sizeof(*ids), id);
}

static int row_run(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;
	struct store_run run = {
		.id = sqlite3_column_int64(st, 0),
		.exp_id = sqlite3_column_int64(st, 1),
		.name = col_text(st, 2),
		.uuid = col_text(st, 3),
		.state = sqlite3_column_int(st, 4),
		.attempt = sqlite3_column_int(st, 5),
		.priority = sqlite3_column_int(st, 6),
		.max_retries = sqlite3_column_int(st, 7),
		.provider = col_text(st, 8),
		.job_id = col_text(st, 9),
		.exit_code = sqlite3_column_type(st, 10) == SQLITE_NULL ?
			STORE_NO_EXIT : sqlite3_column_int(st, 10),
		.reason = col_text(st, 11),
		.kind = col_text(st, 12),
		.created_ms = sqlite3_column_int64(st, 13),
		.submitted_ms = sqlite3_column_int64(st, 14),
		.started_ms = sqlite3_column_int64(st, 15),
		.ended_ms = sqlite3_column_int64(st, 16),
		.updated_ms = sqlite3_column_int64(st, 17),
		.retry_at_ms = sqlite3_column_int64(st, 18),
		.cancel_requested = sqlite3_column_int(st, 19),
		.log_offset = sqlite3_column_int64(st, 20),
		.mfile_offset = sqlite3_column_int64(st, 21),
		.step_counter = sqlite3_column_int64(st, 22),
		.config_sha = col_text(st, 23),
		.manifest = sqlite3_column_int(st, 24),
		.gpu_mask = (uint64_t)sqlite3_column_int64(st, 25),
		.seq = sqlite3_column_int64(st, 26),
		.pending_signal = sqlite3_column_int(st, 27),
		.attempt_started_ms = sqlite3_column_int64(st, 28),
		.cost_usd = sqlite3_column_double(st, 29),
		.cost_ms = sqlite3_column_int64(st, 30),
		.held_ms = sqlite3_column_int64(st, 31),
	};

	return w->cb.run(w->arg, &run);
}

int store_run_load(struct store *s, store_run_cb cb, void *arg)
{
	struct store_walk w = { .cb.run = cb, .arg = arg };

	return store_run(s, ST_RUN_LOAD, row_run, &w, NO_ARGS);
}

/* ---- events ---- */

/*
 * Past STORE_EVENTS_KEEP + STORE_EVENTS_SLACK lines, the oldest go down to
 * STORE_EVENTS_KEEP and are counted, so a flood of refusals costs bounded
 * space while the newest lines, the ones that explain now, stay. Trimming
 * in batches keeps an insert at a few index steps; a savepoint makes the
 * statements one step inside or outside a caller's transaction.
 */
int store_event_add(struct store *s, int64_t run_id, int64_t time_ms,
		    const char *text)
{
	int64_t n = 0;
	int r, outer;

	pthread_mutex_lock(&s->w.lock);
	outer = !sqlite3_get_autocommit(s->w.db);
	r = s->in_tx && s->tx_err ? s->tx_err :
	    store_do(s, ST_SAVEPOINT, NO_ARGS);
	if (r)
		goto out;
	r = store_do(s, ST_EVENT_ADD,
		     ARGS(ARG_I(run_id), ARG_I(time_ms), ARG_T(text)));
	if (!r)
		r = store_run(s, ST_EVENT_COUNT, row_int, &n,
			      ARGS(ARG_I(run_id)));
	if (!r && n > STORE_EVENTS_KEEP + STORE_EVENTS_SLACK) {
		r = store_do(s, ST_EVENT_TRIM, ARGS(ARG_I(run_id),
			     ARG_I(n - STORE_EVENTS_KEEP)));
		if (!r)
			r = store_do(s, ST_EVENT_DROPPED, ARGS(ARG_I(run_id),
				     ARG_I(sqlite3_changes(s->w.db))));
	}
	if (!r)
		r = store_do(s, ST_RELEASE, NO_ARGS);
	/* alone, the savepoint is the transaction: a failed one must end */
	if (r && !sqlite3_get_autocommit(s->w.db))
		store_do(s, outer ? ST_ROLLBACK_TO : ST_ROLLBACK, NO_ARGS);
out:
	pthread_mutex_unlock(&s->w.lock);
	return r;
}

static int row_event(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	w->cb.event(w->arg, sqlite3_column_int64(st, 0), col_text(st, 1));
	return 0;
}

int store_events_each(struct store *s, int64_t run_id, store_event_cb cb,
		      void *arg)
{
	struct store_walk w = { .cb.event = cb, .arg = arg };

	return store_run(s, ST_EVENTS_GET, row_event, &w, ARGS(ARG_I(run_id)));
}

struct event_lines {
	struct buf *out;
	int64_t dropped;        /* said before the first line, then 0 */
};

static int row_event_line(void *arg, sqlite3_stmt *st)
{
	struct event_lines *e = arg;
	char ts[40];
	int r;

	time_format(sqlite3_column_int64(st, 0), ts, sizeof(ts));
	if (e->dropped) {
		r = buf_printf(e->out, "%s %lld earlier lines dropped\n", ts,
			       (long long)e->dropped);
		e->dropped = 0;
		if (r)
			return r;
	}
	return buf_printf(e->out, "%s %s\n", ts, col_text(st, 1));
}

int store_events_format(struct store *s, int64_t run_id, struct buf *out)
{
	struct event_lines e = { out, 0 };
	int r;

	pthread_mutex_lock(&s->r.lock);
	/* a count that cannot be read is no count: the lines still are */
	store_run(s, ST_EVENT_DROPS_GET, row_int, &e.dropped,
		  ARGS(ARG_I(run_id)));
	r = store_run(s, ST_EVENTS_GET, row_event_line, &e,
		      ARGS(ARG_I(run_id)));
	pthread_mutex_unlock(&s->r.lock);
	return r;
}

/* ---- metrics ---- */

/*
 * The line of one point in metrics.jsonl, into out; returns its length.
 * Every byte offset of that file comes from these lengths, so this is the
 * one place the format lives.
 */
static size_t store_jsonl_line(double step, int64_t time_ms, const char *key,
			       double value, char out[STORE_JSONL_LINE_MAX])
{
	char st[32], val[32];
	int n;

	metrics_format_value(step, st);
	metrics_format_value(value, val);
	/* keys are restricted to [A-Za-z0-9_./-]: no JSON escaping */
	n = snprintf(out, STORE_JSONL_LINE_MAX,
		     "{\"step\":%s,\"time\":%.3f,\"key\":\"%s\",\"value\":%s}\n",
		     st, (double)time_ms / 1000.0, key ? key : "", val);
	if (n < 0)
		return 0;
	return (size_t)n < STORE_JSONL_LINE_MAX ? (size_t)n :
	       STORE_JSONL_LINE_MAX - 1;
}

/* Distinct keys of a batch whose latest values are updated once each. */
#define STORE_BATCH_KEYS 16

/* tfs_jsonl_len(step, time_ms, key, value): for the 5 -> 6 migration. */
static void store_sql_jsonl_len(sqlite3_context *ctx, int argc,
				sqlite3_value **argv)
{
	char line[STORE_JSONL_LINE_MAX];

	(void)argc;
	sqlite3_result_int64(ctx, (sqlite3_int64)store_jsonl_line(
		sqlite3_value_double(argv[0]), sqlite3_value_int64(argv[1]),
		(const char *)sqlite3_value_text(argv[2]),
		sqlite3_value_double(argv[3]), line));
}

int store_metrics_append(struct store *s, int64_t run_id,
			 const struct store_point *pts, size_t n)
{
	const struct store_point *last[STORE_BATCH_KEYS];
	char line[STORE_JSONL_LINE_MAX];
	size_t i, k, nlast = 0;
	int64_t end = 0;
	int r, many = 0;

	pthread_mutex_lock(&s->w.lock);
	/* the writer's view: the points of the open transaction count */
	r = store_run(s, ST_METRICS_END_W, row_int, &end, ARGS(ARG_I(run_id)));
	for (i = 0; i < n && !r; i++) {
		const struct store_point *p = &pts[i];

		end += (int64_t)store_jsonl_line(p->step, p->time_ms, p->key,
						 p->value, line);
		r = store_do(s, ST_METRIC_ADD, ARGS(ARG_I(run_id),
			     ARG_F(p->step), ARG_I(p->time_ms), ARG_T(p->key),
			     ARG_F(p->value), ARG_I(end)));
	}
	/*
	 * Only the last point of each key can be the latest: a batch of a
	 * few keys updates each once. With more keys than that, every point
	 * updates in order, which ends the same.
	 */
	for (i = 0; i < n && !many; i++) {
		for (k = 0; k < nlast && strcmp(last[k]->key, pts[i].key); k++)
			;
		if (k < nlast)
			last[k] = &pts[i];
		else if (nlast < STORE_BATCH_KEYS)
			last[nlast++] = &pts[i];
		else
			many = 1;
	}
	for (i = 0; i < (many ? n : nlast) && !r; i++) {
		const struct store_point *p = many ? &pts[i] : last[i];

		r = store_do(s, ST_METRIC_LATEST, ARGS(ARG_I(run_id),
			     ARG_T(p->key), ARG_F(p->value), ARG_F(p->step)));
	}
	pthread_mutex_unlock(&s->w.lock);
	return r;
}

int store_metric_add(struct store *s, int64_t run_id, double step,
		     int64_t time_ms, const char *key, double value)
{
	struct store_point p = { step, time_ms, key, value };

	return store_metrics_append(s, run_id, &p, 1);
}

int store_run_set_scan(struct store *s, int64_t id, int64_t log_offset,
		       int64_t mfile_offset, int64_t step_counter)
{
	return store_do(s, ST_RUN_SET_SCAN, ARGS(ARG_I(id), ARG_I(log_offset),
			ARG_I(mfile_offset), ARG_I(step_counter)));
}

static int row_metric(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	w->cb.metric(w->arg, col_text(st, 0), sqlite3_column_double(st, 1));
	return 0;
}

int store_metrics_each_latest(struct store *s, int64_t run_id,
			      store_metric_cb cb, void *arg)
{
	struct store_walk w = { .cb.metric = cb, .arg = arg };

	return store_run(s, ST_METRICS_LATEST_GET, row_metric, &w,
			 ARGS(ARG_I(run_id)));
}

static void latest_line(void *arg, const char *key, double value)
{
	char v[32];

	metrics_format_value(value, v);
	buf_printf(arg, "%s %s\n", key, v);
}

int store_metrics_latest(struct store *s, int64_t run_id, struct buf *out)
{
	return store_metrics_each_latest(s, run_id, latest_line, out);
}

int store_metrics_history_size(struct store *s, int64_t run_id,
			       int64_t *size)
{
	*size = 0;
	return store_run(s, ST_METRICS_END, row_int, size, ARGS(ARG_I(run_id)));
}

struct history_read {
	struct buf *out;
	int64_t off;            /* the next byte wanted */
	int64_t want_end;       /* and the end of the range */
};

/* The part of the row's line in [off, want_end), appended. */
static int row_history(void *arg, sqlite3_stmt *st)
{
	struct history_read *h = arg;
	char line[STORE_JSONL_LINE_MAX];
	int64_t end = sqlite3_column_int64(st, 4), start;
	size_t len = store_jsonl_line(sqlite3_column_double(st, 0),
				      sqlite3_column_int64(st, 1),
				      col_text(st, 2),
				      sqlite3_column_double(st, 3), line);
	size_t from, to;
	int r;

	start = end - (int64_t)len;
	if (start > h->off || end <= h->off) {
		log_msg(LOG_ERR, "store: metrics offsets out of step at %lld",
			(long long)h->off);
		return TFS_EIO;
	}
	from = (size_t)(h->off - start);
	to = end > h->want_end ? (size_t)(h->want_end - start) : len;
	r = buf_append(h->out, line + from, to - from);
	if (r)
		return r;
	h->off = start + (int64_t)to;
	return h->off < h->want_end ? 0 : STORE_STOP;
}

int store_metrics_history_read(struct store *s, int64_t run_id, int64_t off,
			       size_t size, struct buf *out)
{
	struct history_read h = { out, off, 0 };
	int r;

	if (off < 0)
		return TFS_EINVAL;
	if (!size)
		return TFS_OK;
	h.want_end = size > (size_t)(INT64_MAX - off) ? INT64_MAX :
		     off + (int64_t)size;
	/* the first row is the line that holds off: it ends past it */
	r = store_run(s, ST_METRICS_HISTORY, row_history, &h,
		      ARGS(ARG_I(run_id), ARG_I(off)));
	return r == STORE_STOP ? TFS_OK : r;
}

int store_metrics_history(struct store *s, int64_t run_id, struct buf *out)
{
	return store_metrics_history_read(s, run_id, 0, SIZE_MAX, out);
}

struct point_walk {
	store_point_cb cb;
	void *arg;
};

static int row_point(void *arg, sqlite3_stmt *st)
{
	struct point_walk *w = arg;

	w->cb(w->arg, sqlite3_column_double(st, 0), col_text(st, 1),
	      sqlite3_column_double(st, 2));
	return 0;
}

int store_metrics_each_point(struct store *s, int64_t run_id, int64_t end,
			     store_point_cb cb, void *arg)
{
	struct point_walk w = { cb, arg };

	return store_run(s, ST_METRICS_POINTS, row_point, &w,
			 ARGS(ARG_I(run_id), ARG_I(end)));
}

/* ---- artifacts ---- */

int store_art_insert(struct store *s, int64_t run_id, const char *path,
		     int is_dir, int64_t size, const char *sha256,
		     const char *url, int64_t *id)
{
	return store_insert(s, ST_ART_INSERT, id, ARGS(ARG_I(run_id),
			    ARG_T(path), ARG_I(is_dir), ARG_I(size),
			    ARG_T(sha256), ARG_T(url)));
}

int store_art_delete_run(struct store *s, int64_t run_id)
{
	return store_do(s, ST_ART_DELETE_RUN, ARGS(ARG_I(run_id)));
}

static int row_art(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	return w->cb.art(w->arg, sqlite3_column_int64(st, 0),
			 col_text(st, 1), sqlite3_column_int(st, 2),
			 sqlite3_column_int64(st, 3), col_text(st, 4),
			 col_text(st, 5));
}

int store_art_load(struct store *s, int64_t run_id, store_art_cb cb,
		   void *arg)
{
	struct store_walk w = { .cb.art = cb, .arg = arg };

	return store_run(s, ST_ART_LOAD, row_art, &w, ARGS(ARG_I(run_id)));
}

/* ---- templates ---- */

int store_tpl_put(struct store *s, const char *name, const char *body,
		  size_t len, int64_t now)
{
	return store_do(s, ST_TPL_PUT, ARGS(ARG_T(name), ARG_TN(body, len),
			ARG_I(now)));
}

int store_tpl_delete(struct store *s, const char *name)
{
	return store_do(s, ST_TPL_DELETE, ARGS(ARG_T(name)));
}

int store_tpl_get(struct store *s, const char *name, struct buf *out)
{
	return store_get_text(s, ST_TPL_GET, ARG_T(name), out);
}

static int row_tpl(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	return w->cb.tpl(w->arg, col_text(st, 0),
			 sqlite3_column_int64(st, 1),
			 sqlite3_column_int64(st, 2));
}

int store_tpl_load(struct store *s, store_tpl_cb cb, void *arg)
{
	struct store_walk w = { .cb.tpl = cb, .arg = arg };

	return store_run(s, ST_TPL_LOAD, row_tpl, &w, NO_ARGS);
}

/* ---- sweeps ---- */

#define SWEEP_ARGS 9    /* ?1..?9 of the sweep insert and update */

static void store_sweep_args(const struct store_sweep *w,
			     struct store_arg a[SWEEP_ARGS])
{
	a[0] = ARG_I(w->exp_id);
	a[1] = ARG_T(w->name);
	a[2] = ARG_I(w->state);
	a[3] = ARG_T(w->spec);
	a[4] = ARG_T(w->reason ? w->reason : "");
	a[5] = ARG_I(w->max_trials);
	a[6] = ARG_I(w->created_ms);
	a[7] = ARG_I(w->updated_ms);
	a[8] = ARG_I(w->id);
}

int store_sweep_insert(struct store *s, const struct store_sweep *w,
		       int64_t *id)
{
	struct store_arg a[SWEEP_ARGS];

	store_sweep_args(w, a);
	return store_insert(s, ST_SWEEP_INSERT, id, a, SWEEP_ARGS - 1);
}

int store_sweep_update(struct store *s, const struct store_sweep *w)
{
	struct store_arg a[SWEEP_ARGS];

	store_sweep_args(w, a);
	return store_do(s, ST_SWEEP_UPDATE, a, SWEEP_ARGS);
}

int store_sweep_delete(struct store *s, int64_t id)
{
	static const int ids[] = {
		ST_SWEEP_DEL_EVENTS, ST_SWEEP_DEL_EVENT_COUNTS,
		ST_SWEEP_DEL_TRIALS, ST_SWEEP_DEL,
	};

	return store_delete(s, ids, sizeof(ids) / sizeof(*ids), id);
}

static int row_sweep(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;
	struct store_sweep sw = {
		.id = sqlite3_column_int64(st, 0),
		.exp_id = sqlite3_column_int64(st, 1),
		.name = col_text(st, 2),
		.state = sqlite3_column_int(st, 3),
		.spec = sqlite3_column_type(st, 4) == SQLITE_NULL ? NULL :
			col_text(st, 4),
		.reason = col_text(st, 5),
		.max_trials = sqlite3_column_int(st, 6),
		.created_ms = sqlite3_column_int64(st, 7),
		.updated_ms = sqlite3_column_int64(st, 8),
	};

	return w->cb.sweep(w->arg, &sw);
}

int store_sweep_load(struct store *s, store_sweep_cb cb, void *arg)
{
	struct store_walk w = { .cb.sweep = cb, .arg = arg };

	return store_run(s, ST_SWEEP_LOAD, row_sweep, &w, NO_ARGS);
}

int store_trial_put(struct store *s, const struct store_trial *t)
{
	return store_do(s, ST_TRIAL_PUT, ARGS(ARG_I(t->sweep_id), ARG_I(t->n),
			ARG_I(t->run_id), ARG_T(t->params), ARG_I(t->state),
			t->has_value ? ARG_F(t->value) : ARG_NULL,
			ARG_I(t->early), ARG_T(t->run_uuid)));
}

static int row_trial(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;
	struct store_trial t = {
		.sweep_id = sqlite3_column_int64(st, 0),
		.n = sqlite3_column_int(st, 1),
		.run_id = sqlite3_column_int64(st, 2),
		.params = col_text(st, 3),
		.state = sqlite3_column_int(st, 4),
		.has_value = sqlite3_column_type(st, 5) != SQLITE_NULL,
		.value = sqlite3_column_double(st, 5),
		.early = sqlite3_column_int(st, 6),
		.run_uuid = sqlite3_column_type(st, 7) == SQLITE_NULL ? NULL :
			    col_text(st, 7),
	};

	return w->cb.trial(w->arg, &t);
}

int store_trial_load(struct store *s, store_trial_cb cb, void *arg)
{
	struct store_walk w = { .cb.trial = cb, .arg = arg };

	return store_run(s, ST_TRIAL_LOAD, row_trial, &w, NO_ARGS);
}

static int row_series(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	return w->cb.series(w->arg, sqlite3_column_double(st, 0),
			    sqlite3_column_double(st, 1),
			    sqlite3_column_int64(st, 2)) ? STORE_STOP : 0;
}

int store_metric_series(struct store *s, int64_t run_id, const char *key,
			int64_t after, store_series_cb cb, void *arg)
{
	struct store_walk w = { .cb.series = cb, .arg = arg };
	int r = store_run(s, ST_METRIC_SERIES, row_series, &w,
			  ARGS(ARG_I(run_id), ARG_T(key), ARG_I(after)));

	return r == STORE_STOP ? TFS_OK : r;
}

/* ---- backup and check of a whole database file ---- */

/*
 * The first row of PRAGMA integrity_check ("ok" when sound) and the
 * schema's version, read on db; 0 when the database is sound and is
 * trainfs's, else TFS_EINVAL with the reason in err (what names the file).
 */
static int store_check_db(sqlite3 *db, const char *what, char *err,
			  size_t errlen)
{
	sqlite3_stmt *st = NULL;
	const char *row;
	int version = -1, runs = 0, rc;

	rc = sqlite3_prepare_v2(db, "PRAGMA integrity_check", -1, &st, NULL);
	if (rc != SQLITE_OK || sqlite3_step(st) != SQLITE_ROW) {
		snprintf(err, errlen, "cannot check '%s': %s", what,
			 sqlite3_errmsg(db));
		sqlite3_finalize(st);
		return TFS_EINVAL;
	}
	row = (const char *)sqlite3_column_text(st, 0);
	if (!row || strcmp(row, "ok")) {
		snprintf(err, errlen, "'%s' fails its integrity check: %.200s",
			 what, row ? row : "no answer");
		sqlite3_finalize(st);
		return TFS_EINVAL;
	}
	sqlite3_finalize(st);
	if (sqlite3_prepare_v2(db, "SELECT (SELECT user_version FROM "
			       "pragma_user_version), (SELECT count(*) FROM "
			       "sqlite_master WHERE type = 'table' AND name = "
			       "'runs')", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		version = sqlite3_column_int(st, 0);
		runs = sqlite3_column_int(st, 1);
	}
	sqlite3_finalize(st);
	if (version < 1 || !runs) {
		snprintf(err, errlen, "'%s' is not a trainfs state database",
			 what);
		return TFS_EINVAL;
	}
	if (version > STORE_SCHEMA_VERSION) {
		snprintf(err, errlen, "'%s' has schema version %d, newer than "
			 "this trainfs (%d)", what, version,
			 STORE_SCHEMA_VERSION);
		return TFS_EINVAL;
	}
	return TFS_OK;
}

int store_check(const char *path, char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	int r;

	if (access(path, R_OK) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", path,
			 strerror(errno));
		return TFS_ENOENT;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL)) {
		snprintf(err, errlen, "cannot open '%s': %s", path,
			 db ? sqlite3_errmsg(db) : "out of memory");
		sqlite3_close(db);
		return TFS_EIO;
	}
	sqlite3_busy_timeout(db, 5000);
	r = store_check_db(db, path, err, errlen);
	sqlite3_close(db);
	return r;
}

/* fsync of the file at path; 0 or -1 with errno set. */
static int store_fsync_path(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), r;

	if (fd < 0)
		return -1;
	r = fsync(fd);
	close(fd);
	return r;
}

#define STORE_BACKUP_TRIES 50   /* of a step that found the source busy */

int store_backup(const char *src, const char *dest, char *err, size_t errlen)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	char tmp[PATH_MAX];
	int rc, r = TFS_EIO, tries = 0;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp-%d", dest, (int)getpid()) >=
	    (int)sizeof(tmp)) {
		snprintf(err, errlen, "backup path '%.200s' is too long", dest);
		return TFS_ENAMETOOLONG;
	}
	if (access(src, R_OK) < 0) {
		snprintf(err, errlen, "cannot read '%s': %s", src,
			 strerror(errno));
		return TFS_ENOENT;
	}
	unlink(tmp);
	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL)) {
		snprintf(err, errlen, "cannot open '%s': %s", src,
			 from ? sqlite3_errmsg(from) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(from, 5000);
	if (sqlite3_open_v2(tmp, &to, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE, NULL)) {
		r = store_err(to);
		snprintf(err, errlen, "cannot create '%s': %s", tmp,
			 to ? sqlite3_errmsg(to) : "out of memory");
		goto out;
	}
	b = sqlite3_backup_init(to, "main", from, "main");
	if (!b) {
		r = store_err(to);
		snprintf(err, errlen, "cannot back up '%s': %s", src,
			 sqlite3_errmsg(to));
		goto out;
	}
	/*
	 * All pages in one step: one read transaction on the source, so the
	 * copy is one snapshot (the last commit before it began). In WAL mode
	 * the daemon's writer goes on meanwhile; a copy in several steps would
	 * start over after each of its commits.
	 */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY ||
	       rc == SQLITE_LOCKED) {
		if (++tries > STORE_BACKUP_TRIES)
			break;
		sqlite3_sleep(100);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE) {
		r = store_err(to);
		snprintf(err, errlen, "cannot back up '%s': %s", src,
			 sqlite3_errmsg(to));
		goto out;
	}
	/* one self-contained file: no -wal beside it to lose */
	if (sqlite3_exec(to, "PRAGMA journal_mode = DELETE", NULL, NULL,
			 NULL) != SQLITE_OK) {
		r = store_err(to);
		snprintf(err, errlen, "cannot write '%s': %s", tmp,
			 sqlite3_errmsg(to));
		goto out;
	}
	if ((r = store_check_db(to, tmp, err, errlen)))
		goto out;
	sqlite3_close(to);
	to = NULL;
	if (store_fsync_path(tmp) < 0 || rename(tmp, dest) < 0 ||
	    fsync_dir_of(dest) < 0) {
		r = errno == ENOSPC ? TFS_ENOSPC : TFS_EIO;
		snprintf(err, errlen, "cannot write '%s': %s", dest,
			 strerror(errno));
		goto out;
	}
	r = TFS_OK;
out:
	sqlite3_close(to);
	sqlite3_close(from);
	if (r)
		unlink(tmp);
	return r;
}

/* Renames from to to when from exists; 0, or -1 with errno set. */
static int store_rename_if(const char *from, const char *to)
{
	if (rename(from, to) == 0 || errno == ENOENT)
		return 0;
	return -1;
}

int store_restore(const char *file, const char *db, char *err,
		  size_t errlen)
{
	static const char *const sfx[] = { "", "-wal", "-shm", "-journal" };
	char in[PATH_MAX], from[PATH_MAX], to[PATH_MAX];
	size_t i;
	int r;

	if (snprintf(in, sizeof(in), "%s.restoring", db) >= (int)sizeof(in) ||
	    strlen(db) + 16 > sizeof(to)) {
		snprintf(err, errlen, "path '%.200s' is too long", db);
		return TFS_ENAMETOOLONG;
	}
	if ((r = store_check(file, err, errlen)) ||
	    (r = store_backup(file, in, err, errlen)))
		return r;
	/*
	 * The database replaced is kept as db.old with its WAL, a pair SQLite
	 * can still open: none of the old WAL may stay beside the restored
	 * file, which SQLite would otherwise replay into it.
	 */
	for (i = 0; i < sizeof(sfx) / sizeof(*sfx); i++) {
		snprintf(to, sizeof(to), "%s.old%s", db, sfx[i]);
		unlink(to);
	}
	for (i = 0; i < sizeof(sfx) / sizeof(*sfx); i++) {
		snprintf(from, sizeof(from), "%s%s", db, sfx[i]);
		snprintf(to, sizeof(to), "%s.old%s", db, sfx[i]);
		if (store_rename_if(from, to) < 0) {
			snprintf(err, errlen, "cannot move '%s' aside: %s", from,
				 strerror(errno));
			unlink(in);
			return TFS_EIO;
		}
	}
	if (rename(in, db) < 0 || fsync_dir_of(db) < 0) {
		snprintf(err, errlen, "cannot put '%s' in place: %s", db,
			 strerror(errno));
		return TFS_EIO;
	}
	return TFS_OK;
}

/* ---- exports ---- */

int store_export_put(struct store *s, const char *target, const char *key,
		     const char *remote_id, int64_t pos, int64_t flags)
{
	return store_do(s, ST_EXPORT_PUT, ARGS(ARG_T(target), ARG_T(key),
			ARG_T(remote_id), ARG_I(pos), ARG_I(flags)));
}

static int row_export(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;

	return w->cb.export(w->arg, col_text(st, 0), col_text(st, 1),
			    sqlite3_column_int64(st, 2),
			    sqlite3_column_int64(st, 3));
}

int store_export_load(struct store *s, const char *target,
		      store_export_cb cb, void *arg)
{
	struct store_walk w = { .cb.export = cb, .arg = arg };

	return store_run(s, ST_EXPORT_LOAD, row_export, &w,
			 ARGS(ARG_T(target)));
}

static int row_point_from(void *arg, sqlite3_stmt *st)
{
	struct store_walk *w = arg;
	struct store_point p = {
		.step = sqlite3_column_double(st, 0),
		.time_ms = sqlite3_column_int64(st, 1),
		.key = col_text(st, 2),
		.value = sqlite3_column_double(st, 3),
	};

	return w->cb.from(w->arg, &p, sqlite3_column_int64(st, 4));
}

int store_metrics_from(struct store *s, int64_t run_id, int64_t after,
		       size_t max, store_from_cb cb, void *arg)
{
	struct store_walk w = { .cb.from = cb, .arg = arg };

	return store_run(s, ST_METRICS_FROM, row_point_from, &w,
			 ARGS(ARG_I(run_id), ARG_I(after), ARG_I((int64_t)max)));
}

int store_metrics_count_from(struct store *s, int64_t run_id, int64_t after,
			     int64_t *n)
{
	*n = 0;
	return store_run(s, ST_METRICS_COUNT_FROM, row_int, n,
			 ARGS(ARG_I(run_id), ARG_I(after)));
}
