/*
 * store.c - trainfs's durable state in SQLite (WAL mode). The schema carries
 * a version number in PRAGMA user_version; store_open() migrates an older
 * database forward step by step and refuses a newer one. Statements are
 * prepared once and reused. See store.h for the contracts.
 */
#include "store.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "metrics.h"

enum {
	ST_EXP_INSERT,
	ST_EXP_RENAME,
	ST_EXP_DESC_SET,
	ST_EXP_DESC_GET,
	ST_RUN_INSERT,
	ST_RUN_UPDATE,
	ST_RUN_RENAME,
	ST_RUN_MOVE,
	ST_RUN_CONFIG_SET,
	ST_RUN_CONFIG_GET,
	ST_RUN_EFFECTIVE_GET,
	ST_EVENT_ADD,
	ST_EVENT_COUNT,
	ST_EVENT_TRIM,
	ST_EVENT_DROPPED,
	ST_EVENT_DROPS_GET,
	ST_EVENTS_GET,
	ST_METRIC_ADD,
	ST_METRIC_LATEST,
	ST_METRICS_LATEST_GET,
	ST_METRICS_HISTORY,
	ST_METRICS_END,
	ST_RUN_SET_SCAN,
	ST_ART_INSERT,
	ST_ART_LOAD,
	ST_TPL_PUT,
	ST_TPL_GET,
	ST_TPL_DELETE,
	ST_MAX
};

static const char *const stmt_sql[ST_MAX] = {
	[ST_EXP_INSERT] =
	"INSERT INTO experiments(name, description, created_ms, mtime_ms) "
	"VALUES (?1, '', ?2, ?2)",
	[ST_EXP_RENAME] = "UPDATE experiments SET name = ?2 WHERE id = ?1",
	[ST_EXP_DESC_SET] =
	"UPDATE experiments SET description = ?2, mtime_ms = ?3 WHERE id = ?1",
	[ST_EXP_DESC_GET] = "SELECT description FROM experiments WHERE id = ?1",
	[ST_RUN_INSERT] =
	"INSERT INTO runs(exp_id, name, uuid, state, attempt, priority, "
	"max_retries, provider, job_id, exit_code, reason, kind, created_ms, "
	"submitted_ms, started_ms, ended_ms, updated_ms, retry_at_ms, "
	"cancel_requested, log_offset, mfile_offset, step_counter, config_sha, "
	"manifest, gpu_mask, seq, pending_signal, attempt_started_ms) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, "
	"?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?25, ?26, ?27, ?28, ?29)",
	[ST_RUN_UPDATE] =
	"UPDATE runs SET state = ?4, attempt = ?5, priority = ?6, "
	"max_retries = ?7, provider = ?8, job_id = ?9, exit_code = ?10, "
	"reason = ?11, kind = ?12, created_ms = ?13, submitted_ms = ?14, "
	"started_ms = ?15, ended_ms = ?16, updated_ms = ?17, retry_at_ms = ?18, "
	"cancel_requested = ?19, config_sha = ?23, manifest = ?25, "
	"gpu_mask = ?26, seq = ?27, pending_signal = ?28, "
	"attempt_started_ms = ?29 WHERE id = ?24",
	[ST_RUN_RENAME] = "UPDATE runs SET name = ?2 WHERE id = ?1",
	[ST_RUN_MOVE] = "UPDATE runs SET exp_id = ?2, name = ?3 WHERE id = ?1",
	[ST_RUN_CONFIG_SET] =
	"UPDATE runs SET config = ?2, effective = ?3 WHERE id = ?1",
	[ST_RUN_EFFECTIVE_GET] = "SELECT effective FROM runs WHERE id = ?1",
	[ST_RUN_CONFIG_GET] = "SELECT config FROM runs WHERE id = ?1",
	[ST_EVENT_ADD] =
	"INSERT INTO events(run_id, time_ms, text) VALUES (?1, ?2, ?3)",
	[ST_EVENT_COUNT] =
	"INSERT INTO event_counts(run_id, n) VALUES (?1, 1) "
	"ON CONFLICT(run_id) DO UPDATE SET n = n + 1 RETURNING n",
	[ST_EVENT_TRIM] =
	"DELETE FROM events WHERE id IN (SELECT id FROM events WHERE "
	"run_id = ?1 ORDER BY id LIMIT ?2)",
	[ST_EVENT_DROPPED] =
	"UPDATE event_counts SET n = n - ?2, dropped = dropped + ?2 "
	"WHERE run_id = ?1",
	[ST_EVENT_DROPS_GET] =
	"SELECT dropped FROM event_counts WHERE run_id = ?1",
	[ST_EVENTS_GET] =
	"SELECT time_ms, text FROM events WHERE run_id = ?1 ORDER BY id",
	[ST_METRIC_ADD] =
	"INSERT INTO metrics(run_id, step, time_ms, key, value, end_off) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_METRIC_LATEST] =
	"INSERT INTO metrics_latest(run_id, key, value, step) "
	"VALUES (?1, ?2, ?3, ?4) ON CONFLICT(run_id, key) DO UPDATE SET "
	"value = excluded.value, step = excluded.step",
	[ST_METRICS_LATEST_GET] =
	"SELECT key, value FROM metrics_latest WHERE run_id = ?1 ORDER BY key",
	/* end_off grows with id within a run: its index is the order */
	[ST_METRICS_HISTORY] =
	"SELECT step, time_ms, key, value, end_off FROM metrics "
	"WHERE run_id = ?1 AND end_off > ?2 ORDER BY end_off",
	[ST_METRICS_END] =
	"SELECT max(end_off) FROM metrics WHERE run_id = ?1",
	[ST_RUN_SET_SCAN] =
	"UPDATE runs SET log_offset = ?2, mfile_offset = ?3, step_counter = ?4 "
	"WHERE id = ?1",
	[ST_ART_INSERT] =
	"INSERT INTO artifacts(run_id, path, is_dir, size, sha256, url) "
	"VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_ART_LOAD] =
	"SELECT id, path, is_dir, size, sha256, url FROM artifacts "
	"WHERE run_id = ?1 ORDER BY id",
	[ST_TPL_PUT] =
	"INSERT INTO templates(name, body, mtime_ms) VALUES (?1, ?2, ?3) "
	"ON CONFLICT(name) DO UPDATE SET body = excluded.body, "
	"mtime_ms = excluded.mtime_ms",
	[ST_TPL_GET] = "SELECT body FROM templates WHERE name = ?1",
	[ST_TPL_DELETE] = "DELETE FROM templates WHERE name = ?1",
};

/*
 * Readers of what grows while a run goes (events, metrics) have a second,
 * read-only connection: in WAL mode it reads the last commit while a write
 * transaction (a scan's batch of metrics) is open on the first, so a read
 * never waits for a write. Lock order: lock, then rlock.
 */
static const int read_stmts[] = {
	ST_EVENTS_GET, ST_EVENT_DROPS_GET, ST_METRICS_LATEST_GET,
	ST_METRICS_HISTORY, ST_METRICS_END,
};

struct store {
	pthread_mutex_t lock;   /* recursive; held from begin to commit */
	int durable;            /* the open transaction is durable */
	int in_tx;              /* between store_begin() and its end */
	int tx_err;             /* first failure inside it: it cannot commit */
	sqlite3 *db;
	sqlite3_stmt *st[ST_MAX];
	pthread_mutex_t rlock;  /* protects rdb and rst */
	sqlite3 *rdb;           /* read-only, for read_stmts */
	sqlite3_stmt *rst[ST_MAX];  /* read_stmts prepared on rdb, else NULL */
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
	/* 1 -> 2: artifacts (issue 3) */
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
};

/*
 * What the last failure means for the user: a full or read-only state
 * directory is said as such (the caller refuses with that errno and can
 * work again once space returns); anything else is an I/O error.
 */
static int store_err(struct store *s)
{
	int rc = sqlite3_errcode(s->db), sys = sqlite3_system_errno(s->db);

	if (rc == SQLITE_FULL || sys == ENOSPC || sys == EDQUOT)
		return TFS_ENOSPC;
	if (rc == SQLITE_READONLY || sys == EROFS)
		return TFS_EROFS;
	return TFS_EIO;
}

/*
 * Remembers the first failure inside a transaction: SQLite may already
 * have rolled it back (a full disk does), and what follows must not commit
 * half of it, nor hide why.
 */
static int store_tx_fail(struct store *s, int r)
{
	if (s->in_tx && !s->tx_err)
		s->tx_err = r;
	return r;
}

static void store_sql_jsonl_len(sqlite3_context *ctx, int argc,
				sqlite3_value **argv);

static int store_fail(struct store *s, const char *what)
{
	log_msg(LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(s->db));
	return store_tx_fail(s, store_err(s));
}

/* store_fail() for a statement of the read connection. */
static int store_rfail(struct store *s, const char *what)
{
	log_msg(LOG_ERR, "store: %s: %s", what, sqlite3_errmsg(s->rdb));
	return TFS_EIO;
}

static int store_exec(struct store *s, const char *sql)
{
	char *msg = NULL;

	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		log_msg(LOG_ERR, "store: '%.60s': %s", sql, msg ? msg : "?");
		sqlite3_free(msg);
		return store_tx_fail(s, store_err(s));
	}
	return TFS_OK;
}

static int store_migrate(struct store *s, char *err, size_t errlen)
{
	sqlite3_stmt *st;
	int version, target = (int)(sizeof(migrations) / sizeof(*migrations));

	if (sqlite3_prepare_v2(s->db, "PRAGMA user_version", -1, &st, NULL))
		return store_fail(s, "user_version");
	version = sqlite3_step(st) == SQLITE_ROW ? sqlite3_column_int(st, 0) : 0;
	sqlite3_finalize(st);
	if (version > target) {
		snprintf(err, errlen,
			 "database schema version %d is newer than this trainfs "
			 "(%d)", version, target);
		return TFS_EIO;
	}
	while (version < target) {
		char sql[64];

		if (store_exec(s, "BEGIN IMMEDIATE"))
			return TFS_EIO;
		snprintf(sql, sizeof(sql), "PRAGMA user_version = %d",
			 version + 1);
		if (store_exec(s, migrations[version]) || store_exec(s, sql)) {
			store_exec(s, "ROLLBACK");
			snprintf(err, errlen, "schema migration %d -> %d failed",
				 version, version + 1);
			return TFS_EIO;
		}
		if (store_exec(s, "COMMIT"))
			return TFS_EIO;
		log_msg(LOG_INFO, "store: schema migrated to version %d",
			version + 1);
		version++;
	}
	return TFS_OK;
}

int store_open(const char *path, struct store **out, char *err,
	       size_t errlen)
{
	pthread_mutexattr_t attr;
	struct store *s = xcalloc(1, sizeof(*s));
	int i;

	*out = NULL;
	pthread_mutexattr_init(&attr);
	pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_RECURSIVE);
	pthread_mutex_init(&s->lock, &attr);
	pthread_mutexattr_destroy(&attr);
	pthread_mutex_init(&s->rlock, NULL);
	if (sqlite3_open_v2(path, &s->db, SQLITE_OPEN_READWRITE |
			    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL)) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 s->db ? sqlite3_errmsg(s->db) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->db, 5000);
	if (store_exec(s, "PRAGMA journal_mode = WAL") ||
	    store_exec(s, "PRAGMA synchronous = NORMAL") ||
	    store_exec(s, "PRAGMA foreign_keys = OFF")) {
		snprintf(err, errlen, "cannot set up database '%s'", path);
		goto fail;
	}
	if (sqlite3_create_function_v2(s->db, "tfs_jsonl_len", 4,
				       SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL,
				       store_sql_jsonl_len, NULL, NULL, NULL)) {
		snprintf(err, errlen, "cannot set up database '%s'", path);
		goto fail;
	}
	if (store_migrate(s, err, errlen))
		goto fail;
	for (i = 0; i < ST_MAX; i++) {
		if (sqlite3_prepare_v3(s->db, stmt_sql[i], -1,
				       SQLITE_PREPARE_PERSISTENT, &s->st[i],
				       NULL)) {
			snprintf(err, errlen, "cannot prepare statement %d: %s",
				 i, sqlite3_errmsg(s->db));
			goto fail;
		}
	}
	if (sqlite3_open_v2(path, &s->rdb, SQLITE_OPEN_READONLY |
			    SQLITE_OPEN_NOMUTEX, NULL)) {
		snprintf(err, errlen, "cannot open database '%s': %s", path,
			 s->rdb ? sqlite3_errmsg(s->rdb) : "out of memory");
		goto fail;
	}
	sqlite3_busy_timeout(s->rdb, 5000);
	for (i = 0; i < (int)(sizeof(read_stmts) / sizeof(*read_stmts)); i++) {
		if (sqlite3_prepare_v3(s->rdb, stmt_sql[read_stmts[i]], -1,
				       SQLITE_PREPARE_PERSISTENT,
				       &s->rst[read_stmts[i]], NULL)) {
			snprintf(err, errlen, "cannot prepare statement %d: %s",
				 read_stmts[i], sqlite3_errmsg(s->rdb));
			goto fail;
		}
	}
	*out = s;
	return TFS_OK;
fail:
	store_close(s);
	return TFS_EIO;
}

void store_close(struct store *s)
{
	int i;

	if (!s)
		return;
	for (i = 0; i < ST_MAX; i++) {
		sqlite3_finalize(s->st[i]);
		sqlite3_finalize(s->rst[i]);
	}
	sqlite3_close(s->db);
	sqlite3_close(s->rdb);
	pthread_mutex_destroy(&s->lock);
	pthread_mutex_destroy(&s->rlock);
	free(s);
}

int store_begin(struct store *s, int durable)
{
	int r;

	pthread_mutex_lock(&s->lock);
	/*
	 * The connection runs with synchronous=NORMAL (no fsync per commit);
	 * a durable transaction switches to FULL for its commit. SQLite takes
	 * the setting only outside a transaction, hence here.
	 */
	if (durable && (r = store_exec(s, "PRAGMA synchronous = FULL"))) {
		pthread_mutex_unlock(&s->lock);
		return r;
	}
	s->durable = durable;
	s->tx_err = TFS_OK;
	if ((r = store_exec(s, "BEGIN"))) {
		if (durable)
			store_exec(s, "PRAGMA synchronous = NORMAL");
		pthread_mutex_unlock(&s->lock);
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
		store_exec(s, "PRAGMA synchronous = NORMAL");
	s->durable = 0;
	pthread_mutex_unlock(&s->lock);
}

int store_commit(struct store *s)
{
	int r = s->tx_err ? s->tx_err : store_exec(s, "COMMIT");

	/* the reason of the COMMIT, not of the ROLLBACK after it */
	if (r && !sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	store_end(s);
	return r;
}

void store_rollback(struct store *s)
{
	/* SQLite may have rolled back already (a full disk does that) */
	if (!sqlite3_get_autocommit(s->db))
		store_exec(s, "ROLLBACK");
	store_end(s);
}

/* Runs a prepared statement that returns no rows, under the lock. */
static int store_step_done(struct store *s, sqlite3_stmt *st, const char *what)
{
	int rc, r = TFS_OK;

	/* a failed transaction takes no more writes: they would commit alone */
	if (s->in_tx && s->tx_err) {
		sqlite3_reset(st);
		sqlite3_clear_bindings(st);
		return s->tx_err;
	}
	rc = sqlite3_step(st);

	if (rc == SQLITE_CONSTRAINT)
		r = TFS_EEXIST;
	else if (rc != SQLITE_DONE)
		r = store_fail(s, what);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

static void bind_text(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

int store_exp_insert(struct store *s, const char *name, int64_t now,
		     int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_EXP_INSERT];
	int r;

	pthread_mutex_lock(&s->lock);
	bind_text(st, 1, name);
	sqlite3_bind_int64(st, 2, now);
	r = store_step_done(s, st, "insert experiment");
	if (!r)
		*id = sqlite3_last_insert_rowid(s->db);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_exp_rename(struct store *s, int64_t id, const char *name)
{
	sqlite3_stmt *st = s->st[ST_EXP_RENAME];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, name);
	r = store_step_done(s, st, "rename experiment");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_exp_set_description(struct store *s, int64_t id, const char *text,
			      int64_t now)
{
	sqlite3_stmt *st = s->st[ST_EXP_DESC_SET];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, text);
	sqlite3_bind_int64(st, 3, now);
	r = store_step_done(s, st, "set description");
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Appends column 0 of the single row of st (bound by the caller) to out. */
static int store_get_text(struct store *s, sqlite3_stmt *st, struct buf *out,
			  const char *what)
{
	int rc = sqlite3_step(st);
	int r = TFS_OK;

	if (rc == SQLITE_ROW) {
		const void *p = sqlite3_column_blob(st, 0);
		int n = sqlite3_column_bytes(st, 0);

		if (sqlite3_column_type(st, 0) == SQLITE_NULL)
			r = TFS_ENOENT;
		else
			r = buf_append(out, p ? p : "", (size_t)n);
	} else if (rc == SQLITE_DONE) {
		r = TFS_ENOENT;
	} else {
		r = store_fail(s, what);
	}
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return r;
}

int store_exp_set_objective(struct store *s, int64_t id, const char *text)
{
	sqlite3_stmt *st;
	int r;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db, "UPDATE experiments SET objective = ?2 "
			       "WHERE id = ?1", -1, &st, NULL)) {
		r = store_fail(s, "set objective");
	} else {
		sqlite3_bind_int64(st, 1, id);
		bind_text(st, 2, text);
		r = sqlite3_step(st) == SQLITE_DONE ? TFS_OK :
		    store_fail(s, "set objective");
		sqlite3_finalize(st);
	}
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_exp_description(struct store *s, int64_t id, struct buf *out)
{
	sqlite3_stmt *st = s->st[ST_EXP_DESC_GET];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	r = store_get_text(s, st, out, "get description");
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Runs an ad-hoc statement with one integer parameter. */
static int store_exec_id(struct store *s, const char *sql, int64_t id)
{
	sqlite3_stmt *st;
	int r;

	if (sqlite3_prepare_v2(s->db, sql, -1, &st, NULL))
		return store_fail(s, sql);
	sqlite3_bind_int64(st, 1, id);
	r = sqlite3_step(st) == SQLITE_DONE ? TFS_OK : store_fail(s, sql);
	sqlite3_finalize(st);
	return r;
}

int store_exp_delete(struct store *s, int64_t id)
{
	int r;

	r = store_begin(s, 0);
	if (r)
		return r;
	r = store_exec_id(s, "DELETE FROM events WHERE run_id IN "
			  "(SELECT id FROM runs WHERE exp_id = ?1)", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM event_counts WHERE run_id IN "
				  "(SELECT id FROM runs WHERE exp_id = ?1)", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM metrics WHERE run_id IN "
				  "(SELECT id FROM runs WHERE exp_id = ?1)", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM metrics_latest WHERE run_id IN "
				  "(SELECT id FROM runs WHERE exp_id = ?1)", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM artifacts WHERE run_id IN "
				  "(SELECT id FROM runs WHERE exp_id = ?1)", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM runs WHERE exp_id = ?1", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM experiments WHERE id = ?1", id);
	if (r) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

int store_exp_load(struct store *s, store_exp_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db, "SELECT id, name, created_ms, mtime_ms, "
			       "objective FROM experiments ORDER BY id", -1, &st,
			       NULL)) {
		r = store_fail(s, "load experiments");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(arg, sqlite3_column_int64(st, 0),
		       (const char *)sqlite3_column_text(st, 1),
		       sqlite3_column_int64(st, 2), sqlite3_column_int64(st, 3),
		       (const char *)sqlite3_column_text(st, 4));
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = store_fail(s, "load experiments");
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Binds parameters 4.. of the insert/update statements. */
static void bind_run_fields(sqlite3_stmt *st, const struct store_run *r)
{
	sqlite3_bind_int(st, 4, r->state);
	sqlite3_bind_int(st, 5, r->attempt);
	sqlite3_bind_int(st, 6, r->priority);
	sqlite3_bind_int(st, 7, r->max_retries);
	bind_text(st, 8, r->provider);
	bind_text(st, 9, r->job_id);
	if (r->exit_code == STORE_NO_EXIT)
		sqlite3_bind_null(st, 10);
	else
		sqlite3_bind_int(st, 10, r->exit_code);
	bind_text(st, 11, r->reason);
	bind_text(st, 12, r->kind);
	sqlite3_bind_int64(st, 13, r->created_ms);
	sqlite3_bind_int64(st, 14, r->submitted_ms);
	sqlite3_bind_int64(st, 15, r->started_ms);
	sqlite3_bind_int64(st, 16, r->ended_ms);
	sqlite3_bind_int64(st, 17, r->updated_ms);
	sqlite3_bind_int64(st, 18, r->retry_at_ms);
	sqlite3_bind_int(st, 19, r->cancel_requested);
	sqlite3_bind_int64(st, 20, r->log_offset);
	sqlite3_bind_int64(st, 21, r->mfile_offset);
	sqlite3_bind_int64(st, 22, r->step_counter);
	bind_text(st, 23, r->config_sha);
	sqlite3_bind_int(st, 25, r->manifest);
	sqlite3_bind_int64(st, 26, (sqlite3_int64)r->gpu_mask);
	sqlite3_bind_int64(st, 27, r->seq);
	sqlite3_bind_int(st, 28, r->pending_signal);
	sqlite3_bind_int64(st, 29, r->attempt_started_ms);
}

int store_run_insert(struct store *s, const struct store_run *r,
		     int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_RUN_INSERT];
	int ret;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, r->exp_id);
	bind_text(st, 2, r->name);
	bind_text(st, 3, r->uuid);
	bind_run_fields(st, r);
	ret = store_step_done(s, st, "insert run");
	if (!ret)
		*id = sqlite3_last_insert_rowid(s->db);
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_run_update(struct store *s, const struct store_run *r)
{
	sqlite3_stmt *st = s->st[ST_RUN_UPDATE];
	int ret;

	pthread_mutex_lock(&s->lock);
	bind_run_fields(st, r);
	sqlite3_bind_int64(st, 24, r->id);
	ret = store_step_done(s, st, "update run");
	pthread_mutex_unlock(&s->lock);
	return ret;
}

int store_run_rename(struct store *s, int64_t id, const char *name)
{
	sqlite3_stmt *st = s->st[ST_RUN_RENAME];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	bind_text(st, 2, name);
	r = store_step_done(s, st, "rename run");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_run_move(struct store *s, int64_t id, int64_t exp_id,
		   const char *name)
{
	sqlite3_stmt *st = s->st[ST_RUN_MOVE];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, exp_id);
	bind_text(st, 3, name);
	r = store_step_done(s, st, "move run");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_run_set_config(struct store *s, int64_t id, const char *text,
			 size_t len, const char *effective)
{
	sqlite3_stmt *st = s->st[ST_RUN_CONFIG_SET];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_text(st, 2, text, (int)len, SQLITE_STATIC);
	bind_text(st, 3, effective);
	r = store_step_done(s, st, "set config");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_run_config(struct store *s, int64_t id, struct buf *out)
{
	sqlite3_stmt *st = s->st[ST_RUN_CONFIG_GET];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	r = store_get_text(s, st, out, "get config");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_run_effective(struct store *s, int64_t id, struct buf *out)
{
	sqlite3_stmt *st = s->st[ST_RUN_EFFECTIVE_GET];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	r = store_get_text(s, st, out, "get effective config");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_run_delete(struct store *s, int64_t id)
{
	int r = store_begin(s, 0);

	if (r)
		return r;
	r = store_exec_id(s, "DELETE FROM events WHERE run_id = ?1", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM event_counts WHERE run_id = ?1",
				  id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM metrics WHERE run_id = ?1", id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM metrics_latest WHERE run_id = ?1",
				  id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM artifacts WHERE run_id = ?1",
				  id);
	if (!r)
		r = store_exec_id(s, "DELETE FROM runs WHERE id = ?1", id);
	if (r) {
		store_rollback(s);
		return r;
	}
	return store_commit(s);
}

static const char *col_text(sqlite3_stmt *st, int i)
{
	return (const char *)sqlite3_column_text(st, i);
}

int store_run_load(struct store *s, store_run_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->lock);
	if (sqlite3_prepare_v2(s->db,
			       "SELECT id, exp_id, name, uuid, state, attempt, "
			       "priority, max_retries, provider, job_id, exit_code, "
			       "reason, kind, created_ms, submitted_ms, started_ms, "
			       "ended_ms, updated_ms, retry_at_ms, cancel_requested, "
			       "log_offset, mfile_offset, step_counter, config_sha, "
			       "manifest, gpu_mask, seq, pending_signal, "
			       "attempt_started_ms FROM runs "
			       "ORDER BY id", -1, &st, NULL)) {
		r = store_fail(s, "load runs");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
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
		};

		r = cb(arg, &run);
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = store_fail(s, "load runs");
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/*
 * Past STORE_EVENTS_KEEP + STORE_EVENTS_SLACK lines, the oldest go down to
 * STORE_EVENTS_KEEP and are counted, so a flood of refusals costs bounded
 * space while the newest lines, the ones that explain now, stay. Trimming
 * in batches keeps an insert at a few index steps; a savepoint makes the
 * three statements one step inside or outside a caller's transaction.
 */
int store_event_add(struct store *s, int64_t run_id, int64_t time_ms,
		    const char *text)
{
	sqlite3_stmt *st = s->st[ST_EVENT_ADD], *ct = s->st[ST_EVENT_COUNT];
	int64_t n = 0;
	int r, rc, outer;

	pthread_mutex_lock(&s->lock);
	outer = !sqlite3_get_autocommit(s->db);
	r = s->in_tx && s->tx_err ? s->tx_err :
	    store_exec(s, "SAVEPOINT event_add");
	if (r)
		goto out;
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, time_ms);
	bind_text(st, 3, text);
	r = store_step_done(s, st, "add event");
	if (!r) {
		sqlite3_bind_int64(ct, 1, run_id);
		rc = sqlite3_step(ct);
		if (rc == SQLITE_ROW)
			n = sqlite3_column_int64(ct, 0);
		else
			r = store_fail(s, "count events");
		sqlite3_reset(ct);
		sqlite3_clear_bindings(ct);
	}
	if (!r && n > STORE_EVENTS_KEEP + STORE_EVENTS_SLACK) {
		st = s->st[ST_EVENT_TRIM];
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_int64(st, 2, n - STORE_EVENTS_KEEP);
		r = store_step_done(s, st, "trim events");
		if (!r) {
			st = s->st[ST_EVENT_DROPPED];
			sqlite3_bind_int64(st, 1, run_id);
			sqlite3_bind_int64(st, 2, sqlite3_changes(s->db));
			r = store_step_done(s, st, "count dropped events");
		}
	}
	if (!r)
		r = store_exec(s, "RELEASE event_add");
	/* alone, the savepoint is the transaction: a failed one must end */
	if (r && !sqlite3_get_autocommit(s->db))
		store_exec(s, outer ? "ROLLBACK TO event_add" : "ROLLBACK");
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}

/* Lines dropped from the head of run_id's events; 0 on any error (rlock). */
static int64_t store_events_dropped(struct store *s, int64_t run_id)
{
	sqlite3_stmt *st = s->rst[ST_EVENT_DROPS_GET];
	int64_t n = 0;

	sqlite3_bind_int64(st, 1, run_id);
	if (sqlite3_step(st) == SQLITE_ROW)
		n = sqlite3_column_int64(st, 0);
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	return n;
}

int store_events_each(struct store *s, int64_t run_id, store_event_cb cb,
		      void *arg)
{
	sqlite3_stmt *st = s->rst[ST_EVENTS_GET];
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->rlock);
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(arg, sqlite3_column_int64(st, 0), col_text(st, 1));
	if (rc != SQLITE_DONE)
		r = store_rfail(s, "read events");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rlock);
	return r;
}

int store_events_format(struct store *s, int64_t run_id, struct buf *out)
{
	sqlite3_stmt *st = s->rst[ST_EVENTS_GET];
	int rc, r = TFS_OK;
	int64_t dropped;

	pthread_mutex_lock(&s->rlock);
	dropped = store_events_dropped(s, run_id);
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char ts[40];

		time_format(sqlite3_column_int64(st, 0), ts, sizeof(ts));
		if (dropped) {
			r = buf_printf(out, "%s %lld earlier lines dropped\n",
				       ts, (long long)dropped);
			dropped = 0;
			if (r)
				break;
		}
		r = buf_printf(out, "%s %s\n", ts, col_text(st, 1));
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = store_rfail(s, "read events");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rlock);
	return r;
}

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

/* tfs_jsonl_len(step, time_ms, key, value): for the 4 -> 5 migration. */
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

/*
 * Where run_id's metrics.jsonl ends (its size): as the writer sees it
 * (st of s->st, lock held) or as the last commit has it (of s->rst,
 * rlock held).
 */
static int store_jsonl_end(struct store *s, sqlite3_stmt *st, int64_t run_id,
			   int64_t *end)
{
	int rc;

	sqlite3_bind_int64(st, 1, run_id);
	rc = sqlite3_step(st);
	*end = rc == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	if (rc == SQLITE_ROW)
		return TFS_OK;
	return st == s->st[ST_METRICS_END] ? store_fail(s, "read metrics size") :
	       store_rfail(s, "read metrics size");
}

int store_metrics_append(struct store *s, int64_t run_id,
			 const struct store_point *pts, size_t n)
{
	sqlite3_stmt *st = s->st[ST_METRIC_ADD];
	sqlite3_stmt *lt = s->st[ST_METRIC_LATEST];
	const struct store_point *last[STORE_BATCH_KEYS];
	char line[STORE_JSONL_LINE_MAX];
	size_t i, k, nlast = 0;
	int64_t end;
	int r, many = 0;

	pthread_mutex_lock(&s->lock);
	r = store_jsonl_end(s, s->st[ST_METRICS_END], run_id, &end);
	for (i = 0; i < n && !r; i++) {
		const struct store_point *p = &pts[i];

		end += (int64_t)store_jsonl_line(p->step, p->time_ms, p->key,
						 p->value, line);
		sqlite3_bind_int64(st, 1, run_id);
		sqlite3_bind_double(st, 2, p->step);
		sqlite3_bind_int64(st, 3, p->time_ms);
		bind_text(st, 4, p->key);
		sqlite3_bind_double(st, 5, p->value);
		sqlite3_bind_int64(st, 6, end);
		r = store_step_done(s, st, "add metric");
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

		sqlite3_bind_int64(lt, 1, run_id);
		bind_text(lt, 2, p->key);
		sqlite3_bind_double(lt, 3, p->value);
		sqlite3_bind_double(lt, 4, p->step);
		r = store_step_done(s, lt, "update latest metric");
	}
	pthread_mutex_unlock(&s->lock);
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
	sqlite3_stmt *st = s->st[ST_RUN_SET_SCAN];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, id);
	sqlite3_bind_int64(st, 2, log_offset);
	sqlite3_bind_int64(st, 3, mfile_offset);
	sqlite3_bind_int64(st, 4, step_counter);
	r = store_step_done(s, st, "save scan position");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_metrics_each_latest(struct store *s, int64_t run_id,
			      store_metric_cb cb, void *arg)
{
	sqlite3_stmt *st = s->rst[ST_METRICS_LATEST_GET];
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->rlock);
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		cb(arg, col_text(st, 0), sqlite3_column_double(st, 1));
	if (rc != SQLITE_DONE)
		r = store_rfail(s, "read metrics");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rlock);
	return r;
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
	int r;

	pthread_mutex_lock(&s->rlock);
	r = store_jsonl_end(s, s->rst[ST_METRICS_END], run_id, size);
	pthread_mutex_unlock(&s->rlock);
	return r;
}

int store_metrics_history_read(struct store *s, int64_t run_id, int64_t off,
			       size_t size, struct buf *out)
{
	sqlite3_stmt *st = s->rst[ST_METRICS_HISTORY];
	char line[STORE_JSONL_LINE_MAX];
	int rc = SQLITE_DONE, r = TFS_OK;
	int64_t want_end;

	if (off < 0)
		return TFS_EINVAL;
	want_end = size > (size_t)(INT64_MAX - off) ? INT64_MAX :
		   off + (int64_t)size;
	pthread_mutex_lock(&s->rlock);
	sqlite3_bind_int64(st, 1, run_id);
	sqlite3_bind_int64(st, 2, off);
	/* the first row is the line that holds off: it ends past it */
	while (off < want_end && (rc = sqlite3_step(st)) == SQLITE_ROW) {
		int64_t end = sqlite3_column_int64(st, 4), start;
		size_t len = store_jsonl_line(sqlite3_column_double(st, 0),
					      sqlite3_column_int64(st, 1),
					      col_text(st, 2),
					      sqlite3_column_double(st, 3),
					      line);
		size_t from, to;

		start = end - (int64_t)len;
		if (start > off || end <= off) {
			r = store_rfail(s, "metrics offsets out of step");
			break;
		}
		from = (size_t)(off - start);
		to = end > want_end ? (size_t)(want_end - start) : len;
		r = buf_append(out, line + from, to - from);
		if (r)
			break;
		off = start + (int64_t)to;
	}
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_rfail(s, "read metrics history");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->rlock);
	return r;
}

int store_metrics_history(struct store *s, int64_t run_id, struct buf *out)
{
	return store_metrics_history_read(s, run_id, 0, SIZE_MAX, out);
}

int store_art_insert(struct store *s, int64_t run_id, const char *path,
		     int is_dir, int64_t size, const char *sha256,
		     const char *url, int64_t *id)
{
	sqlite3_stmt *st = s->st[ST_ART_INSERT];
	int r;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, run_id);
	bind_text(st, 2, path);
	sqlite3_bind_int(st, 3, is_dir);
	sqlite3_bind_int64(st, 4, size);
	bind_text(st, 5, sha256);
	bind_text(st, 6, url);
	r = store_step_done(s, st, "insert artifact");
	if (!r)
		*id = sqlite3_last_insert_rowid(s->db);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_art_delete_run(struct store *s, int64_t run_id)
{
	int r;

	pthread_mutex_lock(&s->lock);
	r = store_exec_id(s, "DELETE FROM artifacts WHERE run_id = ?1", run_id);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_art_load(struct store *s, int64_t run_id, store_art_cb cb,
		   void *arg)
{
	sqlite3_stmt *st = s->st[ST_ART_LOAD];
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->lock);
	sqlite3_bind_int64(st, 1, run_id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(arg, sqlite3_column_int64(st, 0), col_text(st, 1),
		       sqlite3_column_int(st, 2), sqlite3_column_int64(st, 3),
		       col_text(st, 4), col_text(st, 5));
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE && rc != SQLITE_ROW)
		r = store_fail(s, "load artifacts");
	sqlite3_reset(st);
	sqlite3_clear_bindings(st);
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tpl_put(struct store *s, const char *name, const char *body,
		  size_t len, int64_t now)
{
	sqlite3_stmt *st = s->st[ST_TPL_PUT];
	int r;

	pthread_mutex_lock(&s->lock);
	bind_text(st, 1, name);
	sqlite3_bind_text(st, 2, body, (int)len, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, now);
	r = store_step_done(s, st, "put template");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tpl_delete(struct store *s, const char *name)
{
	sqlite3_stmt *st = s->st[ST_TPL_DELETE];
	int r;

	pthread_mutex_lock(&s->lock);
	bind_text(st, 1, name);
	r = store_step_done(s, st, "delete template");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tpl_get(struct store *s, const char *name, struct buf *out)
{
	sqlite3_stmt *st = s->st[ST_TPL_GET];
	int r;

	pthread_mutex_lock(&s->lock);
	bind_text(st, 1, name);
	r = store_get_text(s, st, out, "get template");
	pthread_mutex_unlock(&s->lock);
	return r;
}

int store_tpl_load(struct store *s, store_tpl_cb cb, void *arg)
{
	sqlite3_stmt *st;
	int rc, r = TFS_OK;

	pthread_mutex_lock(&s->lock);
	/* length() of TEXT counts characters; stat needs bytes */
	if (sqlite3_prepare_v2(s->db, "SELECT name, length(CAST(body AS BLOB)), "
			       "mtime_ms FROM templates ORDER BY name", -1, &st,
			       NULL)) {
		r = store_fail(s, "load templates");
		goto out;
	}
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		r = cb(arg, col_text(st, 0), sqlite3_column_int64(st, 1),
		       sqlite3_column_int64(st, 2));
		if (r)
			break;
	}
	if (!r && rc != SQLITE_DONE)
		r = store_fail(s, "load templates");
	sqlite3_finalize(st);
out:
	pthread_mutex_unlock(&s->lock);
	return r;
}
