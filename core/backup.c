/*
 * backup.c - copies of the state's database: the one-shot `trainfs backup`
 * and `trainfs restore`, and a thread of the daemon that writes one every
 * backup_every_s into backup_dir and keeps the newest backup_keep. The
 * copy itself is store_backup(): SQLite's online backup API on connections
 * of its own, so that neither the model lock nor the store's are held while
 * it runs and the daemon's writes go on (WAL) meanwhile.
 */
#define _GNU_SOURCE
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "json.h"
#include "store.h"
#include "util.h"

#define BACKUP_EVERY_DEFAULT 3600
#define BACKUP_EVERY_MAX (31 * 86400)
#define BACKUP_KEEP_DEFAULT 24
#define BACKUP_KEEP_MAX 10000
#define BACKUP_PREFIX "trainfs-"
#define BACKUP_SUFFIX ".db"

struct backup {
	char *dir;                /* absolute */
	char *db;                 /* the state's trainfs.db */
	int every_s, keep;
	backup_event_fn event;
	void *event_arg;
	pthread_t thread;
	int started;
	pthread_mutex_t lock;
	pthread_cond_t cond;      /* signalled to stop */
	int stop;                 /* protected by lock */
	int failing;              /* the last backup failed: said once */
};

/* Writes state_dir/trainfs.db into out; TFS_ENAMETOOLONG with err. */
static int backup_db_path(const char *state_dir, char *out, size_t len,
			  char *err, size_t errlen)
{
	if (snprintf(out, len, "%s/trainfs.db", state_dir) < (int)len)
		return TFS_OK;
	snprintf(err, errlen, "state path '%.200s' is too long", state_dir);
	return TFS_ENAMETOOLONG;
}

int backup_state(const char *state_dir, const char *file, char *err,
		 size_t errlen)
{
	char db[PATH_MAX];
	struct stat sd, sf;
	int r = backup_db_path(state_dir, db, sizeof(db), err, errlen);

	if (r)
		return r;
	if (stat(db, &sd) < 0) {
		snprintf(err, errlen, "no state database in '%s': %s",
			 state_dir, strerror(errno));
		return TFS_ENOENT;
	}
	/* the copy is renamed onto file: never onto the live database */
	if (stat(file, &sf) == 0 && sf.st_dev == sd.st_dev &&
	    sf.st_ino == sd.st_ino) {
		snprintf(err, errlen, "'%s' is the state's database itself",
			 file);
		return TFS_EINVAL;
	}
	return store_backup(db, file, err, errlen);
}

int backup_restore(const char *state_dir, const char *file, char *err,
		   size_t errlen)
{
	char db[PATH_MAX];
	int r = backup_db_path(state_dir, db, sizeof(db), err, errlen);

	return r ? r : store_restore(file, db, err, errlen);
}

/* ---- the daemon's periodic backups ---- */

int backup_conf(const cJSON *root, const char *state_dir,
		struct backup **out, char *err, size_t errlen)
{
	const cJSON *dir = cJSON_GetObjectItemCaseSensitive(root, "backup_dir");
	const cJSON *every = cJSON_GetObjectItemCaseSensitive(root,
							       "backup_every_s");
	const cJSON *keep = cJSON_GetObjectItemCaseSensitive(root, "backup_keep");
	struct backup *b;
	long long n;
	char db[PATH_MAX];

	*out = NULL;
	if (!dir) {
		if (every || keep) {
			snprintf(err, errlen, "'%s' needs 'backup_dir'",
				 every ? "backup_every_s" : "backup_keep");
			return -1;
		}
		return 0;
	}
	if (backup_db_path(state_dir, db, sizeof(db), err, errlen))
		return -1;
	b = xcalloc(1, sizeof(*b));
	b->every_s = BACKUP_EVERY_DEFAULT;
	b->keep = BACKUP_KEEP_DEFAULT;
	if (json_str_line(dir, PATH_MAX - 64, &b->dir, err, errlen))
		goto fail;
	/* the daemon runs in / once it has left the terminal */
	if (b->dir[0] != '/') {
		snprintf(err, errlen, "'backup_dir' must be an absolute path, "
			 "not '%s'", b->dir);
		goto fail;
	}
	if (every) {
		if (json_int_range(every, "", 1, BACKUP_EVERY_MAX, &n, err,
				   errlen))
			goto fail;
		b->every_s = (int)n;
	}
	if (keep) {
		if (json_int_range(keep, "", 1, BACKUP_KEEP_MAX, &n, err,
				   errlen))
			goto fail;
		b->keep = (int)n;
	}
	b->db = xstrdup(db);
	pthread_mutex_init(&b->lock, NULL);
	*out = b;
	return 0;
fail:
	free(b->dir);
	free(b);
	return -1;
}

static int backup_name_ours(const char *name)
{
	size_t n = strlen(name), lp = strlen(BACKUP_PREFIX),
	       ls = strlen(BACKUP_SUFFIX);

	return n > lp + ls && !strncmp(name, BACKUP_PREFIX, lp) &&
		!strcmp(name + n - ls, BACKUP_SUFFIX);
}

static int backup_name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Removes the oldest of dir's backups until keep are left. Their names
 * hold the UTC time they were taken, so name order is age order; files
 * not named like ours are left alone.
 */
static void backup_rotate(struct backup *b)
{
	char **names = NULL, path[PATH_MAX];
	size_t n = 0, cap = 0, i;
	struct dirent *de;
	DIR *d = opendir(b->dir);

	if (!d)
		return;
	while ((de = readdir(d)) && n < BACKUP_KEEP_MAX * 2) {
		if (!backup_name_ours(de->d_name))
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			names = xrealloc(names, cap * sizeof(*names));
		}
		names[n++] = xstrdup(de->d_name);
	}
	closedir(d);
	if (n)
		qsort(names, n, sizeof(*names), backup_name_cmp);
	for (i = 0; i < n; i++) {
		if (i + (size_t)b->keep < n) {
			snprintf(path, sizeof(path), "%s/%s", b->dir, names[i]);
			if (unlink(path) < 0)
				log_msg(LOG_WARNING, "backup: cannot remove '%s': "
					"%s", path, strerror(errno));
		}
		free(names[i]);
	}
	free(names);
}

/* One backup into b->dir, then the rotation; says a failure once. */
static void backup_once(struct backup *b)
{
	char when[40], path[PATH_MAX], err[512];
	size_t i, j;
	int64_t t0 = mono_ms();

	time_format(now_ms(), when, sizeof(when));
	/* 2026-12-02T15:33:51.123Z -> 20261202T153351.123Z */
	for (i = j = 0; when[i]; i++)
		if (when[i] != '-' && when[i] != ':')
			when[j++] = when[i];
	when[j] = '\0';
	snprintf(path, sizeof(path), "%s/" BACKUP_PREFIX "%s" BACKUP_SUFFIX,
		 b->dir, when);
	if (mkdir_p(b->dir, 0700) < 0) {
		snprintf(err, sizeof(err), "cannot create '%s': %s", b->dir,
			 strerror(errno));
	} else if (!store_backup(b->db, path, err, sizeof(err))) {
		log_msg(LOG_INFO, "backup: wrote '%s' in %lld ms", path,
			(long long)(mono_ms() - t0));
		if (b->failing) {
			snprintf(err, sizeof(err), "backups to '%s' work again",
				 b->dir);
			b->event(b->event_arg, err);
		}
		b->failing = 0;
		backup_rotate(b);
		return;
	}
	log_msg(LOG_ERR, "backup: %s", err);
	if (!b->failing) {
		char text[600];

		snprintf(text, sizeof(text), "backup failed: %s", err);
		b->event(b->event_arg, text);
	}
	b->failing = 1;
}

static void *backup_main(void *arg)
{
	struct backup *b = arg;
	struct timespec ts;

	pthread_mutex_lock(&b->lock);
	while (!b->stop) {
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += b->every_s;
		while (!b->stop && pthread_cond_timedwait(&b->cond, &b->lock,
							  &ts) != ETIMEDOUT)
			;
		if (b->stop)
			break;
		pthread_mutex_unlock(&b->lock);
		backup_once(b);
		pthread_mutex_lock(&b->lock);
	}
	pthread_mutex_unlock(&b->lock);
	return NULL;
}

int backup_start(struct backup *b, backup_event_fn event, void *arg)
{
	pthread_condattr_t attr;

	if (!b || b->started)
		return TFS_OK;
	b->event = event;
	b->event_arg = arg;
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&b->cond, &attr);
	pthread_condattr_destroy(&attr);
	b->stop = 0;
	if (pthread_create(&b->thread, NULL, backup_main, b)) {
		pthread_cond_destroy(&b->cond);
		return TFS_EIO;
	}
	b->started = 1;
	log_msg(LOG_INFO, "backup: every %d s into '%s', the newest %d kept",
		b->every_s, b->dir, b->keep);
	return TFS_OK;
}

void backup_stop(struct backup *b)
{
	if (!b || !b->started)
		return;
	pthread_mutex_lock(&b->lock);
	b->stop = 1;
	pthread_cond_signal(&b->cond);
	pthread_mutex_unlock(&b->lock);
	pthread_join(b->thread, NULL);
	pthread_cond_destroy(&b->cond);
	b->started = 0;
}

void backup_free(struct backup *b)
{
	if (!b)
		return;
	backup_stop(b);
	pthread_mutex_destroy(&b->lock);
	free(b->dir);
	free(b->db);
	free(b);
}
