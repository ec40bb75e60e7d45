/*
 * artifacts.c - manifests, the artifact cache and its download workers
 * (DESIGN.md section 6). Connectors only say what a run produced and where
 * it can be fetched; everything else is here, the same for every provider:
 * the manifest is stored with the run, files are downloaded on first read
 * by fetch.c into a cache named by SHA-256 (so equal files are fetched
 * once and a verified file is recognised after a restart by its name), and
 * the cache stays under its cap by evicting the least recently used
 * verified files that nobody has open.
 *
 * Two worker threads do the slow parts (listing manifests, downloads); they
 * take c->lock only to pick work and to publish results, never across a
 * transfer. Waiters (parked FUSE reads, runs waiting for inputs) are called
 * back from a worker with no lock held.
 */
#define _GNU_SOURCE
#include "model.h"
#include "core.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "fetch.h"
#include "http.h"
#include "sha256.h"

#define CACHE_DEFAULT_CAP (10LL << 30)
#define ART_RETRY_AFTER_MS 10000     /* a failed download may go again */

/* ---- the LRU of verified files ---- */

static void lru_unlink(struct core *c, struct centry *e)
{
	if (!e->in_lru)
		return;
	if (e->lprev)
		e->lprev->lnext = e->lnext;
	else
		c->lru_head = e->lnext;
	if (e->lnext)
		e->lnext->lprev = e->lprev;
	else
		c->lru_tail = e->lprev;
	e->lprev = e->lnext = NULL;
	e->in_lru = 0;
}

static void lru_touch(struct core *c, struct centry *e)
{
	lru_unlink(c, e);
	e->lnext = c->lru_head;
	if (c->lru_head)
		c->lru_head->lprev = e;
	c->lru_head = e;
	if (!c->lru_tail)
		c->lru_tail = e;
	e->in_lru = 1;
}

static void cache_path(struct core *c, const char *sha, const char *suffix,
		       char *out, size_t len)
{
	snprintf(out, len, "%s/%s%s", c->cache_dir, sha, suffix);
}

/*
 * A verified file's seal, "<sha>.verified" beside it: the size, mtime,
 * ctime and inode it had when its hash was checked. A later start trusts
 * the name only while the file still matches its seal, so bytes changed on
 * disk behind the daemon's back are hashed again rather than served. The
 * seal's own mtime keeps the LRU order across restarts (touching the cache
 * file itself would change what the seal records).
 */
static void seal_format(const struct stat *st, char *out, size_t len)
{
	snprintf(out, len, "%lld %lld %lld %llu\n", (long long)st->st_size,
		 (long long)st->st_mtim.tv_sec * 1000000000LL +
		 st->st_mtim.tv_nsec,
		 (long long)st->st_ctim.tv_sec * 1000000000LL +
		 st->st_ctim.tv_nsec, (unsigned long long)st->st_ino);
}

/* Records the cache file of sha as verified as it is now; 0 or -1. */
static int cache_seal(struct core *c, const char *sha)
{
	char p[PATH_MAX], sp[PATH_MAX], line[128];
	struct stat st;

	cache_path(c, sha, "", p, sizeof(p));
	cache_path(c, sha, ".verified", sp, sizeof(sp));
	if (stat(p, &st) < 0)
		return -1;
	seal_format(&st, line, sizeof(line));
	if (file_write_atomic(sp, line, strlen(line), 0)) {
		log_msg(LOG_WARNING, "cache: cannot write '%s': it will be "
			"hashed again at the next start", sp);
		return -1;
	}
	return 0;
}

static void cache_unseal(struct core *c, const char *sha)
{
	char sp[PATH_MAX];

	cache_path(c, sha, ".verified", sp, sizeof(sp));
	unlink(sp);
}

/* 1 when the file described by st still matches the seal of sha. */
static int cache_sealed(struct core *c, const char *sha,
			const struct stat *st)
{
	char sp[PATH_MAX], line[128];
	struct buf b = BUF_INIT(0);
	int ok;

	cache_path(c, sha, ".verified", sp, sizeof(sp));
	if (file_read_all(sp, 256, &b)) {
		buf_release(&b);
		return 0;
	}
	seal_format(st, line, sizeof(line));
	ok = b.len == strlen(line) && !memcmp(b.p, line, b.len);
	buf_release(&b);
	return ok;
}

/* Moves sha up in the LRU order that the next start rebuilds. */
static void cache_seal_touch(struct core *c, const char *sha)
{
	char sp[PATH_MAX];

	cache_path(c, sha, ".verified", sp, sizeof(sp));
	utimensat(AT_FDCWD, sp, NULL, 0);
}

static struct centry *centry_get(struct core *c, const char *sha,
				 int64_t size)
{
	struct centry *e = hmap_sget(&c->centries, sha);

	if (e)
		return e;
	e = xcalloc(1, sizeof(*e));
	memcpy(e->sha256, sha, 65);
	e->size = size;
	e->state = ART_REMOTE;
	e->early_fd = -1;
	hmap_sput(&c->centries, e->sha256, e);
	return e;
}

/*
 * Makes room for need bytes by evicting least recently used verified files
 * that are not open. Returns 0, or -1 when the cap cannot hold them.
 */
static int cache_make_room_locked(struct core *c, int64_t need)
{
	struct centry *e = c->lru_tail, *prev;

	if (need > c->cache_cap)
		return -1;
	while (c->cache_used + need > c->cache_cap && e) {
		char p[PATH_MAX];

		prev = e->lprev;
		if (!e->opens) {
			cache_path(c, e->sha256, "", p, sizeof(p));
			if (unlink(p) == 0 || errno == ENOENT) {
				cache_unseal(c, e->sha256);
				log_msg(LOG_INFO, "cache: evicted %s (%lld bytes)",
					e->sha256, (long long)e->size);
				lru_unlink(c, e);
				c->cache_used -= e->size;
				e->state = ART_REMOTE;
				e->done = 0;
			}
		}
		e = prev;
	}
	return c->cache_used + need > c->cache_cap ? -1 : 0;
}

/* ---- start-up ---- */

struct scan_ent {
	char sha[65];
	int64_t size;
	int64_t mtime;
};

static int scan_cmp(const void *a, const void *b)
{
	const struct scan_ent *x = a, *y = b;

	return x->mtime < y->mtime ? -1 : x->mtime > y->mtime;
}

/*
 * Rebuilds the cache index from the directory: a file named by a hash was
 * verified before it got that name (fetch.c renames only then), and it is
 * trusted again without a read while it matches its seal. One that does
 * not (changed on disk, or sealed by no one) is hashed again: kept when the
 * bytes still match its name, removed otherwise, never served. Parts stay
 * for their downloads to resume.
 */
static void cache_scan(struct core *c)
{
	struct scan_ent *v = NULL;
	size_t n = 0, cap = 0, i, rehashed = 0, dropped = 0;
	struct dirent *de;
	DIR *d = opendir(c->cache_dir);

	if (!d)
		return;
	while ((de = readdir(d))) {
		char p[PATH_MAX], sp[PATH_MAX], got[65];
		struct stat st, sst;

		if (!sha256_hex_valid(de->d_name))
			continue;
		cache_path(c, de->d_name, "", p, sizeof(p));
		if (stat(p, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (!cache_sealed(c, de->d_name, &st)) {
			rehashed++;
			if (sha256_file(p, got, NULL) != TFS_OK ||
			    strcmp(got, de->d_name)) {
				log_msg(LOG_WARNING, "cache: dropped %s: its "
					"bytes changed on disk", de->d_name);
				unlink(p);
				cache_unseal(c, de->d_name);
				dropped++;
				continue;
			}
			if (cache_seal(c, de->d_name) < 0 || stat(p, &st) < 0)
				continue;
		}
		cache_path(c, de->d_name, ".verified", sp, sizeof(sp));
		if (stat(sp, &sst) < 0)
			sst = st;
		ALLOC_GROW(v, n, cap);
		memcpy(v[n].sha, de->d_name, 65);
		v[n].size = st.st_size;
		v[n].mtime = (int64_t)sst.st_mtim.tv_sec * 1000000000LL +
			     sst.st_mtim.tv_nsec;
		n++;
	}
	closedir(d);
	if (n)
		qsort(v, n, sizeof(*v), scan_cmp);
	for (i = 0; i < n; i++) {        /* oldest first: newest ends at head */
		struct centry *e = centry_get(c, v[i].sha, v[i].size);

		e->state = ART_VERIFIED;
		e->done = e->size;
		c->cache_used += e->size;
		lru_touch(c, e);
	}
	free(v);
	if (n || rehashed)
		log_msg(LOG_INFO, "cache: %zu verified files, %lld bytes (%zu "
			"hashed again, %zu dropped)", n,
			(long long)c->cache_used, rehashed, dropped);
}

/* The state-change hook: an attempt that ended has its manifest fetched. */
static void art_state_hook(struct core *c, struct run *r, int old, void *arg)
{
	(void)old;
	(void)arg;
	if (run_state_terminal(r->state))
		art_manifest_request_locked(c, r);
}

int art_init(struct core *c, int64_t cap, char *err, size_t errlen)
{
	char p[PATH_MAX];

	snprintf(p, sizeof(p), "%s/cache", c->state_dir);
	if (mkdir_p(p, 0700) < 0) {
		snprintf(err, errlen, "cannot create '%s': %s", p,
			 strerror(errno));
		return -1;
	}
	c->cache_dir = xstrdup(p);
	c->cache_cap = cap > 0 ? cap : CACHE_DEFAULT_CAP;
	pthread_cond_init(&c->work, NULL);
	if (http_global_init()) {
		snprintf(err, errlen, "cannot initialise libcurl");
		return -1;
	}
	cache_scan(c);
	if (run_hook_add(c, art_state_hook, NULL)) {
		snprintf(err, errlen, "cannot add the artifacts' hook");
		return -1;
	}
	return 0;
}

/* ---- manifests ---- */

void art_manifest_request_locked(struct core *c, struct run *r)
{
	if (r->manifest || r->manifest_queued || r->attempt < 1 || !r->job_id)
		return;
	ALLOC_GROW(c->mfq, c->nmfq, c->mfqcap);
	c->mfq[c->nmfq++] = r->id;
	r->manifest_queued = 1;
	pthread_cond_signal(&c->work);
}

static void arts_unload_locked(struct core *c, struct run *r)
{
	size_t i;

	for (i = 0; i < r->narts; i++) {
		hmap_idel(&c->art_by_id, r->arts[i]->id);
		free(r->arts[i]->path);
		free(r->arts[i]->url);
		free(r->arts[i]);
	}
	free(r->arts);
	r->arts = NULL;
	r->narts = 0;
	r->arts_loaded = 0;
}

void art_manifest_reset_locked(struct core *c, struct run *r)
{
	arts_unload_locked(c, r);
	if (r->manifest)
		store_art_delete_run(c->store, r->id);
	r->manifest = 0;
	core_notify(c, r->id, CORE_CH_ARTIFACTS);
}

void art_run_free_locked(struct core *c, struct run *r)
{
	arts_unload_locked(c, r);
}

/*
 * A manifest path must stay inside the run: relative, no "." or ".."
 * component, no empty component, no control character, bounded.
 */
static int art_path_ok(const char *p)
{
	const char *seg = p;
	size_t n = strlen(p);

	if (!n || n > ARTIFACT_PATH_MAX || p[0] == '/')
		return 0;
	for (;; p++) {
		if (*p == '/' || !*p) {
			size_t len = (size_t)(p - seg);

			if (!len || len > 255 || (len == 1 && seg[0] == '.') ||
			    (len == 2 && seg[0] == '.' && seg[1] == '.'))
				return 0;
			if (!*p)
				return 1;
			seg = p + 1;
		} else if ((unsigned char)*p < 0x20 || *p == 0x7f) {
			return 0;
		}
	}
}

#define MF_SKIPS_MAX 20             /* skipped files told one by one */

struct mf_collect {
	struct artifact_entry *v;
	char **strs;
	size_t n, cap, nstrs;
	char bad[512];
	char *skips[MF_SKIPS_MAX];  /* events: files left out, and why */
	size_t nskips, nskipped;
};

/* Notes that one file is left out; the rest of the manifest stands. */
static void mf_skip(struct mf_collect *m, const char *fmt, const char *s)
{
	char text[512];
	size_t i;

	if (m->nskipped++ >= MF_SKIPS_MAX)
		return;
	snprintf(text, sizeof(text), fmt, s);
	/* one event a line, whatever the provider put in its words */
	for (i = 0; text[i]; i++)
		if ((unsigned char)text[i] < 0x20 || text[i] == 0x7f)
			text[i] = '?';
	m->skips[m->nskips++] = xstrdup(text);
}

static int mf_cb(void *arg, const struct artifact_entry *a)
{
	struct mf_collect *m = arg;
	struct artifact_entry *e;

	if (a->skipped) {
		mf_skip(m, "%s", a->skipped);
		return 0;
	}
	if (!art_path_ok(a->path)) {
		mf_skip(m, "skipped '%.200s': not a path inside the run",
			a->path);
		return 0;
	}
	if (!sha256_hex_valid(a->sha256) || a->size < 0 || !a->url ||
	    (strncmp(a->url, "file://", 7) && strncmp(a->url, "http://", 7) &&
	     strncmp(a->url, "https://", 8))) {
		snprintf(m->bad, sizeof(m->bad), "manifest entry '%.200s' has "
			 "no valid size, sha256 or URL", a->path);
		return 1;
	}
	ALLOC_GROW(m->v, m->n, m->cap);
	e = &m->v[m->n++];
	e->path = xstrdup(a->path);
	e->sha256 = xstrdup(a->sha256);
	e->url = xstrdup(a->url);
	e->size = a->size;
	return 0;
}

static void mf_free(struct mf_collect *m)
{
	size_t i;

	for (i = 0; i < m->n; i++) {
		free((char *)m->v[i].path);
		free((char *)m->v[i].sha256);
		free((char *)m->v[i].url);
	}
	free(m->v);
	for (i = 0; i < m->nskips; i++)
		free(m->skips[i]);
}

static int path_cmp(const void *a, const void *b)
{
	return strcmp(((const struct artifact_entry *)a)->path,
		      ((const struct artifact_entry *)b)->path);
}

/* Stores the directories of path that are not stored yet. */
static void store_dirs(struct core *c, int64_t run_id, const char *path,
		       char *last_dir)
{
	char dir[ARTIFACT_PATH_MAX + 1];
	const char *p;

	for (p = strchr(path, '/'); p; p = strchr(p + 1, '/')) {
		size_t n = (size_t)(p - path);
		int64_t id;

		memcpy(dir, path, n);
		dir[n] = '\0';
		/* sorted paths: a directory not under the last one is new */
		if (!strncmp(last_dir, dir, n) &&
		    (last_dir[n] == '\0' || last_dir[n] == '/'))
			continue;
		store_art_insert(c->store, run_id, dir, 1, 0, NULL, NULL, &id);
	}
	p = strrchr(path, '/');
	if (p) {
		memcpy(last_dir, path, (size_t)(p - path));
		last_dir[p - path] = '\0';
	}
}

static void manifest_fetch(struct core *c, int64_t run_id)
{
	struct mf_collect m = { 0 };
	struct provider *p;
	struct job_query q;
	struct run *r;
	char base[PATH_MAX], adir[PATH_MAX + 32], err[256] = "";
	char last_dir[ARTIFACT_PATH_MAX + 1] = "";
	char job_id[JOB_ID_MAX], uuid[37];
	int64_t bytes = 0;
	int rc;
	size_t i;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	p = r && r->provider ? provider_find(c, r->provider) : NULL;
	if (!r || !p || !p->conn.ops->list_artifacts || !r->job_id) {
		if (r)
			r->manifest_queued = 0;
		pthread_mutex_unlock(&c->lock);
		return;
	}
	memset(&q, 0, sizeof(q));
	run_dir_path(c, r, base, sizeof(base));
	snprintf(adir, sizeof(adir), "%s/attempt-%d", base, r->attempt);
	snprintf(job_id, sizeof(job_id), "%s", r->job_id);
	memcpy(uuid, r->uuid, sizeof(uuid));
	q.job_id = job_id;
	q.run_id = uuid;
	q.attempt = r->attempt;
	q.attempt_dir = adir;
	pthread_mutex_unlock(&c->lock);

	rc = p->conn.ops->list_artifacts(&p->conn, &q, mf_cb, &m, err,
					 sizeof(err));
	if (m.n)
		qsort(m.v, m.n, sizeof(*m.v), path_cmp);

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r || r->attempt != q.attempt) {
		if (r)
			r->manifest_queued = 0;
		goto out;
	}
	r->manifest_queued = 0;
	if (rc == TFS_EAGAIN)
		goto out;       /* not ready: asked again at the next end */
	if (rc != TFS_OK || m.bad[0]) {
		run_event_locked(c, r, "artifacts: manifest refused: %s",
				 m.bad[0] ? m.bad : err);
		r->manifest = 1;         /* do not ask again for this attempt */
		run_save_locked(c, r);
		goto out;
	}
	arts_unload_locked(c, r);
	if (store_begin(c->store, 0))
		goto out;
	store_art_delete_run(c->store, r->id);
	for (i = 0; i < m.n; i++) {
		int64_t id;

		store_dirs(c, r->id, m.v[i].path, last_dir);
		store_art_insert(c->store, r->id, m.v[i].path, 0, m.v[i].size,
				 m.v[i].sha256, m.v[i].url, &id);
		bytes += m.v[i].size;
	}
	r->manifest = 1;
	run_save_locked(c, r);
	store_commit(c->store);
	for (i = 0; i < m.nskips; i++)
		run_event_locked(c, r, "artifacts: %s", m.skips[i]);
	if (m.nskipped > m.nskips)
		run_event_locked(c, r, "artifacts: %zu more entries skipped",
				 m.nskipped - m.nskips);
	run_event_locked(c, r, "artifacts: %zu files, %lld bytes in the "
			 "manifest", m.n, (long long)bytes);
	core_notify(c, r->id, CORE_CH_ARTIFACTS | CORE_CH_STATE);
	poller_kick_locked(c);       /* runs waiting for inputs may go on */
out:
	pthread_mutex_unlock(&c->lock);
	mf_free(&m);
}

/* ---- the in-memory tree of a run's manifest ---- */

struct load_ctx {
	struct core *c;
	struct run *r;
	struct hmap dirs;            /* path -> struct art (directories) */
	size_t cap;
};

static int load_art_cb(void *arg, int64_t id, const char *path, int is_dir,
		       int64_t size, const char *sha, const char *url)
{
	struct load_ctx *l = arg;
	struct art *a = xcalloc(1, sizeof(*a)), *parent;
	const char *slash = strrchr(path, '/');

	a->id = id;
	a->run_id = l->r->id;
	a->path = xstrdup(path);
	a->name = slash ? a->path + (slash - path) + 1 : a->path;
	a->is_dir = is_dir;
	a->size = size;
	if (sha)
		snprintf(a->sha256, sizeof(a->sha256), "%s", sha);
	a->url = xstrdup(url);
	if (slash) {
		char dir[ARTIFACT_PATH_MAX + 1];

		memcpy(dir, path, (size_t)(slash - path));
		dir[slash - path] = '\0';
		parent = hmap_sget(&l->dirs, dir);
		a->parent = parent ? parent->id : -1;   /* orphan: hidden */
	}
	if (is_dir)
		hmap_sput(&l->dirs, a->path, a);
	ALLOC_GROW(l->r->arts, l->r->narts, l->cap);
	l->r->arts[l->r->narts++] = a;
	hmap_iput(&l->c->art_by_id, a->id, a);
	return 0;
}

static void arts_load_locked(struct core *c, struct run *r)
{
	struct load_ctx l = { c, r, HMAP_INIT, 0 };

	if (r->arts_loaded)
		return;
	store_art_load(c->store, r->id, load_art_cb, &l);
	hmap_release(&l.dirs);
	r->arts_loaded = 1;
}

static void art_info_locked(struct core *c, const struct art *a,
			    struct core_art_info *out)
{
	struct run *r = hmap_iget(&c->run_by_id, a->run_id);
	struct centry *e = a->is_dir ? NULL : hmap_sget(&c->centries,
							a->sha256);

	memset(out, 0, sizeof(*out));
	out->id = a->id;
	out->run_id = a->run_id;
	out->parent = a->parent;
	out->is_dir = a->is_dir;
	snprintf(out->name, sizeof(out->name), "%s", a->name);
	out->size = a->size;
	memcpy(out->sha256, a->sha256, sizeof(out->sha256));
	out->state = e ? e->state : ART_REMOTE;
	out->done = e ? e->done : 0;
	out->mtime_ms = r ? (r->ended_ms ? r->ended_ms : r->updated_ms) : 0;
}

int core_art_lookup(struct core *c, int64_t run_id, int64_t parent,
		    const char *name, struct core_art_info *out)
{
	struct run *r;
	size_t i;
	int ret = TFS_ENOENT;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (r) {
		arts_load_locked(c, r);
		for (i = 0; i < r->narts; i++) {
			if (r->arts[i]->parent == parent &&
			    !strcmp(r->arts[i]->name, name)) {
				art_info_locked(c, r->arts[i], out);
				ret = TFS_OK;
				break;
			}
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_art_get(struct core *c, int64_t id, struct core_art_info *out)
{
	struct art *a;

	pthread_mutex_lock(&c->lock);
	a = hmap_iget(&c->art_by_id, id);
	if (a)
		art_info_locked(c, a, out);
	pthread_mutex_unlock(&c->lock);
	return a ? TFS_OK : TFS_ENOENT;
}

int core_art_list(struct core *c, int64_t run_id, int64_t parent,
		  int64_t after_id, core_art_list_cb cb, void *arg)
{
	struct core_art_info info;
	struct run *r;
	size_t i;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	arts_load_locked(c, r);
	for (i = 0; i < r->narts; i++) {
		struct art *a = r->arts[i];

		if (a->parent != parent || a->id <= after_id)
			continue;
		art_info_locked(c, a, &info);
		if (cb(arg, &info))
			break;
	}
	pthread_mutex_unlock(&c->lock);
	return TFS_OK;
}

/* ---- downloads ---- */

static void dlq_push_locked(struct core *c, struct centry *e)
{
	ALLOC_GROW(c->dlq, c->ndlq, c->dlqcap);
	c->dlq[c->ndlq++] = e;
	e->queued = 1;
	e->state = ART_DOWNLOADING;
	pthread_cond_signal(&c->work);
}

static void dl_enqueue_locked(struct core *c, struct centry *e,
			      const struct art *a)
{
	if (e->queued || e->state == ART_DOWNLOADING ||
	    e->state == ART_VERIFIED)
		return;
	free(e->url);
	e->url = xstrdup(a->url);
	free(e->path_hint);
	e->path_hint = xstrdup(a->path);
	e->run_id = a->run_id;
	e->size = a->size;
	e->done = 0;
	e->reason[0] = '\0';
	dlq_push_locked(c, e);
}

/* Starts (or joins) the download of a; returns the entry. */
static struct centry *art_want_locked(struct core *c, const struct art *a)
{
	struct centry *e = centry_get(c, a->sha256, a->size);

	if (e->state == ART_CORRUPT &&
	    mono_ms() - e->failed_mono > ART_RETRY_AFTER_MS) {
		e->state = ART_REMOTE;   /* a later read may try once more */
		e->retried = 0;
	}
	if (e->state == ART_REMOTE)
		dl_enqueue_locked(c, e, a);
	return e;
}

int core_art_open(struct core *c, int64_t id, int *fd, char sha[65],
		  char *reason, size_t rlen)
{
	struct centry *e;
	struct art *a;
	char p[PATH_MAX];
	int ret, touch = 0;

	*fd = -1;
	sha[0] = '\0';
	pthread_mutex_lock(&c->lock);
	a = hmap_iget(&c->art_by_id, id);
	if (!a || a->is_dir) {
		pthread_mutex_unlock(&c->lock);
		return a ? TFS_EINVAL : TFS_ENOENT;
	}
	e = art_want_locked(c, a);
	memcpy(sha, e->sha256, 65);
	if (e->state == ART_VERIFIED) {
		cache_path(c, e->sha256, "", p, sizeof(p));
		*fd = open(p, O_RDONLY | O_CLOEXEC);
		if (*fd >= 0) {
			e->opens++;
			lru_touch(c, e);
			touch = 1;
			ret = TFS_OK;
		} else {
			/* gone behind our back: fetch it again */
			cache_unseal(c, e->sha256);
			lru_unlink(c, e);
			c->cache_used -= e->size;
			e->state = ART_REMOTE;
			dl_enqueue_locked(c, e, a);
			ret = TFS_EAGAIN;
		}
	} else if (e->early_fd >= 0) {
		*fd = fcntl(e->early_fd, F_DUPFD_CLOEXEC, 0);
		if (*fd >= 0) {
			e->opens++;
			ret = TFS_OK;
		} else {
			ret = TFS_EAGAIN;
		}
	} else if (e->state == ART_CORRUPT) {
		snprintf(reason, rlen, "%s", e->reason);
		ret = TFS_EIO;
	} else {
		ret = TFS_EAGAIN;
	}
	pthread_mutex_unlock(&c->lock);
	if (touch)
		cache_seal_touch(c, sha);
	return ret;
}

void core_art_release(struct core *c, const char *sha)
{
	struct centry *e;

	/* by the cache entry, which outlives the run's loaded manifest */
	pthread_mutex_lock(&c->lock);
	e = hmap_sget(&c->centries, sha);
	if (e && e->opens > 0)
		e->opens--;
	pthread_mutex_unlock(&c->lock);
}

int core_art_wait(struct core *c, int64_t id, core_art_cb cb, void *arg)
{
	struct art_waiter *w;
	struct centry *e;
	struct art *a;
	int ret = TFS_OK;

	pthread_mutex_lock(&c->lock);
	a = hmap_iget(&c->art_by_id, id);
	e = a && !a->is_dir ? art_want_locked(c, a) : NULL;
	if (!e) {
		ret = TFS_ENOENT;
	} else if (e->state == ART_VERIFIED || e->state == ART_CORRUPT ||
		   e->early_fd >= 0) {
		ret = TFS_EEXIST;
	} else {
		w = xcalloc(1, sizeof(*w));
		w->cb = cb;
		w->arg = arg;
		w->next = e->waiters;
		e->waiters = w;
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_art_unwait(struct core *c, int64_t id, core_art_cb cb, void *arg)
{
	struct art_waiter **pp, *w;
	struct centry *e;
	struct art *a;
	int ret = TFS_ENOENT;

	pthread_mutex_lock(&c->lock);
	a = hmap_iget(&c->art_by_id, id);
	e = a ? hmap_sget(&c->centries, a->sha256) : NULL;
	for (pp = e ? &e->waiters : NULL; pp && (w = *pp); pp = &w->next) {
		if (w->cb == cb && w->arg == arg) {
			*pp = w->next;
			free(w);
			ret = TFS_OK;
			break;
		}
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_art_state_text(struct core *c, int64_t id, struct buf *out)
{
	struct centry *e;
	struct art *a;
	int ret = TFS_OK;

	pthread_mutex_lock(&c->lock);
	a = hmap_iget(&c->art_by_id, id);
	e = a ? hmap_sget(&c->centries, a->sha256) : NULL;
	if (!a || a->is_dir)
		ret = TFS_ENOENT;
	else if (!e || e->state == ART_REMOTE)
		ret = buf_puts(out, "remote");
	else if (e->state == ART_DOWNLOADING && e->early_fd < 0)
		ret = buf_printf(out, "downloading %lld/%lld",
				 (long long)e->done, (long long)e->size);
	else if (e->state == ART_VERIFIED || e->state == ART_DOWNLOADING)
		/* the bytes matched and are being served while the file is
		 * made durable: a reader who has them sees them verified */
		ret = buf_puts(out, "verified");
	else
		ret = buf_printf(out, "corrupt: %s", e->reason);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int core_run_downloads(struct core *c, int64_t run_id, struct buf *out)
{
	struct run *r;
	size_t i;
	int ret = TFS_OK;

	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, run_id);
	if (!r) {
		pthread_mutex_unlock(&c->lock);
		return TFS_ENOENT;
	}
	arts_load_locked(c, r);
	for (i = 0; i < r->narts && !ret; i++) {
		struct art *a = r->arts[i];
		struct centry *e;

		if (a->is_dir)
			continue;
		e = hmap_sget(&c->centries, a->sha256);
		if (!e || e->state == ART_REMOTE)
			ret = buf_printf(out, "%s remote 0/%lld\n", a->path,
					 (long long)a->size);
		else if (e->state == ART_DOWNLOADING && e->early_fd < 0)
			ret = buf_printf(out, "%s downloading %lld/%lld\n",
					 a->path, (long long)e->done,
					 (long long)a->size);
		else if (e->state == ART_VERIFIED ||
			 e->state == ART_DOWNLOADING)
			ret = buf_printf(out, "%s verified %lld/%lld\n", a->path,
					 (long long)a->size, (long long)a->size);
		else
			ret = buf_printf(out, "%s corrupt %lld/%lld %s\n",
					 a->path, (long long)e->done,
					 (long long)a->size, e->reason);
	}
	pthread_mutex_unlock(&c->lock);
	return ret;
}

struct dl_progress {
	struct core *c;
	struct centry *e;
};

static void dl_progress_cb(void *arg, int64_t done, int64_t total)
{
	struct dl_progress *p = arg;

	(void)total;
	pthread_mutex_lock(&p->c->lock);
	p->e->done = done;
	pthread_mutex_unlock(&p->c->lock);
}

/*
 * The bytes matched: readers waiting for them are answered now, from fd,
 * while fetch.c makes the file durable and renames it into the cache.
 */
static void dl_verified_cb(void *arg, int fd)
{
	struct dl_progress *p = arg;
	struct art_waiter *w, *next;

	pthread_mutex_lock(&p->c->lock);
	p->e->early_fd = fd;
	p->e->done = p->e->size;
	w = p->e->waiters;
	p->e->waiters = NULL;
	pthread_mutex_unlock(&p->c->lock);
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, TFS_OK);
		free(w);
	}
}

/*
 * The request headers the provider of e's run wants for e->url (an
 * authenticated store's Authorization) into buf, split into hdrs (up to
 * n - 1 lines, NULL-terminated): TFS_OK, with hdrs[0] NULL for none, or
 * TFS_EIO with the reason (never the values) in reason. The caller
 * wipes buf.
 */
static int dl_headers(struct core *c, struct centry *e, const char *url,
		      char *buf, size_t buflen, const char **hdrs, size_t n,
		      char *reason, size_t rlen)
{
	struct provider *p;
	struct run *r;
	char err[256] = "";
	size_t k = 0;
	char *s, *nl;

	hdrs[0] = NULL;
	buf[0] = '\0';
	pthread_mutex_lock(&c->lock);
	r = hmap_iget(&c->run_by_id, e->run_id);
	p = r && r->provider ? provider_find(c, r->provider) : NULL;
	pthread_mutex_unlock(&c->lock);
	if (!p || !p->conn.ops->artifact_headers)
		return TFS_OK;
	if (p->conn.ops->artifact_headers(&p->conn, url, buf, buflen, err,
					  sizeof(err))) {
		snprintf(reason, rlen, "the store's credential: %s", err);
		return TFS_EIO;
	}
	for (s = buf; *s && k + 1 < n; s = nl + 1) {
		nl = strchr(s, '\n');
		if (!nl)
			break;
		*nl = '\0';
		hdrs[k++] = s;
	}
	hdrs[k] = NULL;
	return TFS_OK;
}

static void download(struct core *c, struct centry *e)
{
	struct fetch_opts fo = FETCH_OPTS_INIT;
	struct dl_progress prog = { c, e };
	struct art_waiter *w, *next;
	char part[PATH_MAX], final[PATH_MAX], reason[FETCH_REASON_MAX];
	char *url, sha[65], hbuf[CONNECTOR_HEADERS_MAX];
	const char *hdrs[9];
	int64_t size;
	int r, room;

	pthread_mutex_lock(&c->lock);
	url = xstrdup(e->url);
	memcpy(sha, e->sha256, sizeof(sha));
	size = e->size;
	room = cache_make_room_locked(c, size);
	if (room == 0)
		c->cache_used += size;   /* reserved while it downloads */
	pthread_mutex_unlock(&c->lock);
	cache_path(c, sha, ".part", part, sizeof(part));
	cache_path(c, sha, "", final, sizeof(final));
	if (room < 0) {
		snprintf(reason, sizeof(reason), "%lld bytes do not fit in the "
			 "artifact cache (cache_size %lld, none evictable)",
			 (long long)size, (long long)c->cache_cap);
		r = TFS_EIO;
	} else if ((r = dl_headers(c, e, url, hbuf, sizeof(hbuf), hdrs, 9,
				   reason, sizeof(reason))) == TFS_OK) {
		fo.headers = hdrs[0] ? hdrs : NULL;
		fo.progress = dl_progress_cb;
		fo.progress_arg = &prog;
		fo.verified = dl_verified_cb;
		fo.verified_arg = &prog;
		fo.cancel = &c->art_cancel;
		r = fetch_file(url, part, final, size, sha, &fo, reason,
			       sizeof(reason));
		explicit_bzero(hbuf, sizeof(hbuf));
		if (r == TFS_OK)
			cache_seal(c, sha);
	}

	pthread_mutex_lock(&c->lock);
	if (e->early_fd >= 0) {
		close(e->early_fd);     /* open readers hold their own dup */
		e->early_fd = -1;
	}
	if (r == TFS_OK) {
		e->state = ART_VERIFIED;
		e->done = e->size;
		lru_touch(c, e);
	} else if (r == TFS_EINTR) {
		/* the daemon stops: the part file stays for the next start */
		c->cache_used -= size;
		e->state = ART_REMOTE;
		log_msg(LOG_INFO, "cache: download of %s stopped at %lld of "
			"%lld bytes, kept to resume", sha, (long long)e->done,
			(long long)size);
	} else {
		struct run *run = hmap_iget(&c->run_by_id, e->run_id);

		if (room == 0)
			c->cache_used -= size;
		if (run)
			run_event_locked(c, run, "artifact '%s': %s",
					 e->path_hint ? e->path_hint : sha,
					 reason);
		if (!e->retried && strstr(reason, "mismatch")) {
			/* one automatic retry: the source may have been
			 * caught mid-write */
			e->retried = 1;
			if (run)
				run_event_locked(c, run, "artifact '%s': "
						 "retrying the download once",
						 e->path_hint ? e->path_hint : sha);
			dlq_push_locked(c, e);
			pthread_mutex_unlock(&c->lock);
			free(url);
			return;
		}
		e->state = ART_CORRUPT;
		e->failed_mono = mono_ms();
		snprintf(e->reason, sizeof(e->reason), "%s", reason);
	}
	w = e->waiters;
	e->waiters = NULL;
	if (e->run_id)
		core_notify(c, e->run_id, CORE_CH_ARTIFACTS);
	poller_kick_locked(c);       /* runs waiting for inputs */
	pthread_mutex_unlock(&c->lock);
	for (; w; w = next) {
		next = w->next;
		w->cb(w->arg, r == TFS_OK || r == TFS_EINTR ? r : TFS_EIO);
		free(w);
	}
	free(url);
}

static void *worker_main(void *arg)
{
	struct core *c = arg;

	pthread_mutex_lock(&c->lock);
	while (!c->stop) {
		if (c->nmfq) {
			int64_t id = c->mfq[--c->nmfq];

			pthread_mutex_unlock(&c->lock);
			manifest_fetch(c, id);
			pthread_mutex_lock(&c->lock);
		} else if (c->ndlq) {
			struct centry *e = c->dlq[0];

			memmove(c->dlq, c->dlq + 1, (c->ndlq - 1) *
				sizeof(*c->dlq));
			c->ndlq--;
			e->queued = 0;
			pthread_mutex_unlock(&c->lock);
			download(c, e);
			pthread_mutex_lock(&c->lock);
		} else {
			pthread_cond_wait(&c->work, &c->lock);
		}
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

int art_start(struct core *c)
{
	size_t i, j;

	/* runs that ended while no manifest was taken: take it now */
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nexps; i++)
		for (j = 0; j < c->exps[i]->nruns; j++) {
			struct run *r = c->exps[i]->runs[j];

			if (run_state_terminal(r->state) && !r->manifest)
				art_manifest_request_locked(c, r);
		}
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < 2; i++) {
		if (pthread_create(&c->workers[i], NULL, worker_main, c))
			return TFS_ENOMEM;
		c->nworkers++;
	}
	return TFS_OK;
}

/*
 * Cancels the downloads in flight (fetch.c keeps their part files), joins
 * the workers, then answers every waiter still registered, queued
 * downloads' included, with TFS_EINTR from this thread: after this no
 * callback runs, so the caller may tear down what the waiters answer on.
 */
void art_stop(struct core *c)
{
	struct art_waiter *all = NULL, *w, *next;
	size_t i;

	pthread_mutex_lock(&c->lock);
	c->stop = 1;
	__atomic_store_n(&c->art_cancel, 1, __ATOMIC_RELAXED);
	pthread_cond_broadcast(&c->work);
	pthread_mutex_unlock(&c->lock);
	for (i = 0; i < (size_t)c->nworkers; i++)
		pthread_join(c->workers[i], NULL);
	c->nworkers = 0;
	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->centries.nb; i++) {
		struct hmap_entry *he;

		for (he = c->centries.b[i]; he; he = he->next) {
			struct centry *e = he->val;

			for (w = e->waiters; w; w = next) {
				next = w->next;
				w->next = all;
				all = w;
			}
			e->waiters = NULL;
		}
	}
	pthread_mutex_unlock(&c->lock);
	for (w = all; w; w = next) {
		next = w->next;
		w->cb(w->arg, TFS_EINTR);
		free(w);
	}
}

static void centry_free(struct centry *e)
{
	struct art_waiter *w, *next;

	for (w = e->waiters; w; w = next) {
		next = w->next;
		w->cb(w->arg, TFS_EIO);
		free(w);
	}
	free(e->url);
	free(e->path_hint);
	free(e);
}

void art_release(struct core *c)
{
	size_t i;

	if (!c->cache_dir)
		return;
	for (i = 0; i < c->centries.nb; i++) {
		struct hmap_entry *he;

		for (he = c->centries.b[i]; he; he = he->next)
			centry_free(he->val);
	}
	hmap_release(&c->centries);
	hmap_release(&c->art_by_id);
	free(c->dlq);
	free(c->mfq);
	free(c->cache_dir);
	pthread_cond_destroy(&c->work);
}

/* ---- inputs of dependent runs ---- */

int art_input_ready_locked(struct core *c, struct run *r, const char *spec,
			   char *path_out, size_t plen, char *why,
			   size_t wlen)
{
	char runpart[2 * TFS_NAME_MAX + 2], en[TFS_NAME_MAX + 1];
	const char *colon = strchr(spec, ':'), *path, *slash, *rn;
	struct exp *e = r->exp;
	struct centry *ce;
	struct run *d;
	size_t i, n;

	if (!colon || (size_t)(colon - spec) >= sizeof(runpart)) {
		snprintf(why, wlen, "input '%s' is not run:path", spec);
		return -1;
	}
	n = (size_t)(colon - spec);
	memcpy(runpart, spec, n);
	runpart[n] = '\0';
	path = colon + 1;
	slash = strchr(runpart, '/');
	rn = runpart;
	if (slash) {
		n = (size_t)(slash - runpart);
		memcpy(en, runpart, n);
		en[n] = '\0';
		e = hmap_sget(&c->exp_by_name, en);
		rn = slash + 1;
	}
	d = e ? hmap_sget(&e->by_name, rn) : NULL;
	if (!d) {
		snprintf(why, wlen, "input %s: no run '%s'", spec, runpart);
		return -1;
	}
	if (d->state != RS_COMPLETED) {
		snprintf(why, wlen, "waiting for input %s (run %s)", spec,
			 run_state_name(d->state));
		return 0;
	}
	if (!d->manifest) {
		art_manifest_request_locked(c, d);
		snprintf(why, wlen, "waiting for the manifest of %s", runpart);
		return 0;
	}
	arts_load_locked(c, d);
	for (i = 0; i < d->narts; i++)
		if (!d->arts[i]->is_dir && !strcmp(d->arts[i]->path, path))
			break;
	if (i == d->narts) {
		snprintf(why, wlen, "input %s: run %s has no artifact '%s'",
			 spec, runpart, path);
		return -1;
	}
	ce = art_want_locked(c, d->arts[i]);
	if (ce->state == ART_CORRUPT) {
		snprintf(why, wlen, "input %s: %s", spec, ce->reason);
		return -1;
	}
	if (ce->state != ART_VERIFIED) {
		snprintf(why, wlen, "fetching input %s (%lld/%lld bytes)", spec,
			 (long long)ce->done, (long long)ce->size);
		return 0;
	}
	cache_path(c, ce->sha256, "", path_out, plen);
	return 1;
}

void art_pin_locked(struct core *c, const char *cpath, int delta)
{
	const char *name = strrchr(cpath, '/');
	struct centry *e = name ? hmap_sget(&c->centries, name + 1) : NULL;

	if (e) {
		e->opens += delta;
		if (e->opens < 0)
			e->opens = 0;
	}
}

void art_summary_locked(struct core *c, struct run *r, int64_t *count,
			int64_t *bytes, int64_t *verified)
{
	size_t i;

	*count = *bytes = *verified = 0;
	if (!r->manifest)
		return;
	arts_load_locked(c, r);
	for (i = 0; i < r->narts; i++) {
		struct centry *e;

		if (r->arts[i]->is_dir)
			continue;
		(*count)++;
		*bytes += r->arts[i]->size;
		e = hmap_sget(&c->centries, r->arts[i]->sha256);
		if (e && e->state == ART_VERIFIED)
			(*verified)++;
	}
}
