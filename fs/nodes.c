/*
 * trainfs.c - the FUSE layer: libfuse3's low-level API mapped onto core/.
 * Inode numbers are computed from the store's ids (kind, id, slot), so they
 * are stable and need no table; every changing file is served with
 * direct_io and a zero attribute timeout, and core/ tells us what changed so
 * that directories (cached for a second) are invalidated at once.
 *
 * The session runs libfuse's single-threaded loop: every handler is short
 * and none blocks on a provider. The one request that waits by design, a
 * read of `wait`, is parked and answered later from the notifier thread.
 * Errors: core's TFS_* codes become errno in exactly one place, fs_errno().
 *
 * Lock order: fs.lock (scratch files, waiters), then core's lock, then
 * fs.qlock (the change queue, the only lock core's listener takes).
 */
#define _GNU_SOURCE
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/vfs.h>
#include <sys/wait.h>
#include <time.h>
#include <dirent.h>
#include <unistd.h>

#include <fuse_lowlevel.h>

#include "config.h"
#include "core.h"
#include "util.h"

/* ---- inode numbers ---- */

enum {
	INO_ROOT = 1,
	INO_README,
	INO_EXPERIMENTS,
	INO_PROVIDERS,
	INO_QUEUE,
	INO_TEMPLATES,
	INO_EVENTS,
	INO_SCHEDULER,
	INO_FIXED_MAX
};

enum { K_FIXED = 0, K_EXP, K_RUN, K_TPL, K_SCRATCH, K_PROV, K_ART };

/* experiment slots */
enum { ES_DIR, ES_DESCRIPTION, ES_RUNS, ES_OBJECTIVE, ES_LEADERBOARD,
       ES_MAX };
/* run slots */
enum {
	RS_DIR, RS_CONFIG, RS_STATUS, RS_STATUS_JSON, RS_LOG, RS_METRICS,
	RS_METRICS_JSONL, RS_EVENTS, RS_CTL, RS_WAIT, RS_DOWNLOADS,
	RS_ARTIFACTS, RSLOT_MAX
};
/* provider slots */
enum { PS_DIR, PS_STATUS };

static const char *const run_files[RSLOT_MAX] = {
	[RS_CONFIG] = "config.json",
	[RS_STATUS] = "status",
	[RS_STATUS_JSON] = "status.json",
	[RS_LOG] = "log",
	[RS_METRICS] = "metrics",
	[RS_METRICS_JSONL] = "metrics.jsonl",
	[RS_EVENTS] = "events",
	[RS_CTL] = "ctl",
	[RS_WAIT] = "wait",
	[RS_DOWNLOADS] = "downloads",
	[RS_ARTIFACTS] = "artifacts",
};

#define INO(k, id, slot) (((uint64_t)(k) << 56) | ((uint64_t)(id) << 8) | \
			  (uint64_t)(slot))
#define INO_KIND(ino) ((int)((ino) >> 56))
#define INO_ID(ino) ((int64_t)(((ino) >> 8) & ((1ULL << 48) - 1)))
#define INO_SLOT(ino) ((int)((ino) & 0xff))

#define DIR_TIMEOUT 1.0          /* names and directory attributes */
#define SCRATCH_MAX 64           /* temporary files alive at once */
#define ALIAS_MAX 256            /* renamed temporary files remembered */
#define SCRATCH_NAME_MAX 255
#define DESC_MAX 65536
#define CTL_HELP "cancel | pause | resume | retry | priority N\n"

static const char readme_text[] =
	"trainfs - ML training runs as files\n"
	"\n"
	"  mkdir experiments/EXP                 create an experiment\n"
	"  mkdir experiments/EXP/runs/RUN        create a run (state: created)\n"
	"  cp cfg.json experiments/EXP/runs/RUN/config.json   submit it\n"
	"  cat  .../RUN/status                   queued, running, completed...\n"
	"  tail -f .../RUN/log                   the job's output\n"
	"  cat  .../RUN/metrics                  latest value of each metric\n"
	"  echo cancel > .../RUN/ctl             cancel | pause | resume |\n"
	"                                        retry | priority N\n"
	"  cat  .../RUN/wait                     blocks until the run ends\n"
	"  cat  queue                            what waits, and why\n"
	"  cat  events                           refused names and the like\n"
	"  cat  scheduler                        scheduler statistics\n"
	"\n"
	"config.json keys: provider kind command workdir image env params\n"
	"resources priority depends_on inputs max_retries timeout_s template\n"
	"tags. See README.md of trainfs for the whole contract.\n";

/* ---- state ---- */

/*
 * A scratch file lives in memory while an editor writes it. Once renamed
 * over config.json or a template, its inode becomes an alias: the kernel
 * keeps calling the renamed dentry by the scratch inode until it looks the
 * name up again, so that inode must go on meaning the file it became.
 */
struct scratch {
	struct scratch *next;
	uint64_t ino;
	uint64_t alias;             /* non-zero: now means this inode */
	uint64_t parent;
	char *name;
	struct buf data;
	mode_t mode;
	int64_t mtime_ms;
};

/* A parked read of `wait`; setting_up and pending as in struct art_read. */
struct waiter {
	struct waiter *next;
	fuse_req_t req;
	int64_t run_id;
	off_t off;
	size_t size;
	int setting_up;
	int pending;                /* 0, 1: answer with the state, -EINTR */
};

struct art_read;

struct poller_h {
	struct poller_h *next;
	struct fuse_pollhandle *ph;
	int64_t run_id;
	void *fh;
};

struct change {
	int64_t run_id;
	unsigned what;
};

struct fs {
	struct core *core;
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;
	int allow_other;
	int share_read;              /* others may read what runs hold too */
	int64_t start_ms;

	pthread_mutex_t lock;        /* protects scratch, waiters, art_reads,
					pollers */
	struct scratch *scratch;
	int nscratch;
	int naliases;
	uint64_t next_scratch;
	struct waiter *waiters;
	struct art_read *art_reads;  /* parked artifact reads */
	struct fh *fhs;              /* every open file: freed at the end */
	struct poller_h *pollers;

	pthread_mutex_t qlock;       /* protects the change queue */
	pthread_cond_t qcond;
	struct change *q;
	size_t qn, qcap;
	int qstop;
	pthread_t notifier;
	int notifier_started;
};

static struct fs fs;

/* Open files: what is being read (a snapshot) or written. */
enum fh_kind { FH_SNAPSHOT, FH_LOG, FH_WAIT, FH_CONFIG, FH_DESC, FH_CTL,
	       FH_TPL, FH_SCRATCH, FH_ART, FH_MJSONL };

struct fh {
	enum fh_kind kind;
	uint64_t ino;
	struct buf data;
	int dirty;
	int too_big;                /* a write went past the bound: refuse */
	int fd;                     /* FH_ART: the verified cache file, or -1 */
	char sha256[65];            /* FH_ART: the cache entry fd pins */
	int read_once;              /* FH_SNAPSHOT: a read was answered */
	char name[TFS_NAME_MAX + 1];
	struct fh *prev, *next;     /* in fs.fhs, under fs.lock */
	/* FH_CONFIG */
	struct config_scan scan;    /* where the bytes written so far stand */
	int refused;                /* a write was refused for its content */
	int truncated;              /* opened with O_TRUNC: empty is a refusal */
	/* FH_SCRATCH: a new templates/NAME.json, stored at close as `name` */
	int tpl_pending;
};

#define CTL_MAX 4096             /* one ctl write, buffered to a newline */

/* ---- errors ---- */

static int fs_errno(int err)
{
	switch (err) {
	case TFS_OK: return 0;
	case TFS_EINVAL: return EINVAL;
	case TFS_ENOENT: return ENOENT;
	case TFS_EEXIST: return EEXIST;
	case TFS_EBUSY: return EBUSY;
	case TFS_ENOTEMPTY: return ENOTEMPTY;
	case TFS_EOPNOTSUPP: return EOPNOTSUPP;
	case TFS_EIO: return EIO;
	case TFS_EFBIG: return EFBIG;
	case TFS_EAGAIN: return EAGAIN;
	case TFS_ENOMEM: return ENOMEM;
	case TFS_EACCES: return EACCES;
	case TFS_EINTR: return EINTR;
	case TFS_ENAMETOOLONG: return ENAMETOOLONG;
	case TFS_ESTATE: return EINVAL;
	case TFS_ENOSPC: return ENOSPC;
	case TFS_EROFS: return EROFS;
	default: return EIO;
	}
}

/* With allow_other, others may look but only the owner may change. */
static int may_modify(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return !fs.allow_other || ctx->uid == fs.uid || ctx->uid == 0;
}

/*
 * With -o allow_other, other users see which experiments and runs exist
 * and their state (names, status, wait, queue, scheduler, providers); what
 * a run holds (config.json, status.json, log, metrics, events, artifacts),
 * the experiment's notes and the templates stay the owner's, unless
 * -o share_read. 1 for those private inodes.
 */
static int ino_private(fuse_ino_t ino)
{
	int slot = INO_SLOT(ino);

	switch (INO_KIND(ino)) {
	case K_FIXED:
		return ino == INO_EVENTS || ino == INO_TEMPLATES;
	case K_EXP:
		return slot != ES_DIR && slot != ES_RUNS;
	case K_RUN:
		return slot != RS_DIR && slot != RS_STATUS && slot != RS_WAIT &&
		       slot != RS_CTL;
	case K_PROV:
		return 0;
	default:
		return 1;       /* templates, scratch files, artifacts */
	}
}

static int others_kept_out(void)
{
	return fs.allow_other && !fs.share_read;
}

/* Whether the caller of req may read ino (or list it, for a directory). */
static int may_read(fuse_req_t req, fuse_ino_t ino)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return !others_kept_out() || ctx->uid == fs.uid || ctx->uid == 0 ||
	       !ino_private(ino);
}

/* ---- change notification ---- */

static void listener(void *arg, int64_t run_id, unsigned what)
{
	(void)arg;
	pthread_mutex_lock(&fs.qlock);
	if (fs.qn == fs.qcap) {
		size_t cap = fs.qcap ? fs.qcap * 2 : 64;
		struct change *q = realloc(fs.q, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&fs.qlock);
			return;   /* the zero attribute timeout still holds */
		}
		fs.q = q;
		fs.qcap = cap;
	}
	fs.q[fs.qn].run_id = run_id;
	fs.q[fs.qn].what = what;
	fs.qn++;
	pthread_cond_signal(&fs.qcond);
	pthread_mutex_unlock(&fs.qlock);
}

static void reply_wait_content(fuse_req_t req, int state, off_t off,
			       size_t size)
{
	char word[32];
	size_t len;

	len = (size_t)snprintf(word, sizeof(word), "%s\n",
			       run_state_name(state));
	if ((size_t)off >= len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, word + off,
			       len - (size_t)off < size ? len - (size_t)off : size);
}

/* Answers parked reads and polls of run_id's wait file if it has ended. */
static void wake_waiters(int64_t run_id)
{
	struct waiter *done = NULL, **pp, *w;
	struct poller_h *pdone = NULL, **hp, *h;
	int state;

	if (core_run_state(fs.core, run_id, &state) == TFS_OK &&
	    !run_state_terminal(state))
		return;
	pthread_mutex_lock(&fs.lock);
	for (pp = &fs.waiters; (w = *pp);) {
		if (w->run_id == run_id) {
			*pp = w->next;
			if (w->setting_up) {
				w->pending = 1;    /* its handler answers */
				continue;
			}
			w->next = done;
			done = w;
		} else {
			pp = &w->next;
		}
	}
	for (hp = &fs.pollers; (h = *hp);) {
		if (h->run_id == run_id) {
			*hp = h->next;
			h->next = pdone;
			pdone = h;
		} else {
			hp = &h->next;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	while ((w = done)) {
		done = w->next;
		if (core_run_state(fs.core, run_id, &state) == TFS_OK)
			reply_wait_content(w->req, state, w->off, w->size);
		else
			fuse_reply_err(w->req, ENOENT);
		free(w);
	}
	while ((h = pdone)) {
		pdone = h->next;
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		free(h);
	}
}

static void *notifier_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fs.qlock);
	for (;;) {
		struct change *batch;
		size_t n, i;

		while (!fs.qn && !fs.qstop)
			pthread_cond_wait(&fs.qcond, &fs.qlock);
		if (fs.qstop)
			break;
		batch = fs.q;
		n = fs.qn;
		fs.q = NULL;
		fs.qn = fs.qcap = 0;
		pthread_mutex_unlock(&fs.qlock);
		for (i = 0; i < n; i++) {
			struct change *ch = &batch[i];

			if (!ch->run_id) {
				if (ch->what & CORE_CH_QUEUE)
					fuse_lowlevel_notify_inval_inode(fs.se,
						INO_QUEUE, 0, 0);
				if (ch->what & CORE_CH_EVENTS)
					fuse_lowlevel_notify_inval_inode(fs.se,
						INO_EVENTS, 0, 0);
				continue;
			}
			if (ch->what & CORE_CH_STATE) {
				fuse_lowlevel_notify_inval_inode(fs.se,
					INO(K_RUN, ch->run_id, RS_DIR), 0, 0);
				wake_waiters(ch->run_id);
			}
			if (ch->what & CORE_CH_ARTIFACTS)
				fuse_lowlevel_notify_inval_inode(fs.se,
					INO(K_RUN, ch->run_id, RS_ARTIFACTS), 0, 0);
			if (ch->what & CORE_CH_CONFIG)
				fuse_lowlevel_notify_inval_inode(fs.se,
					INO(K_RUN, ch->run_id, RS_CONFIG), 0, 0);
		}
		free(batch);
		pthread_mutex_lock(&fs.qlock);
	}
	pthread_mutex_unlock(&fs.qlock);
	return NULL;
}

/* ---- attributes ---- */

static void attr_init(struct stat *st, fuse_ino_t ino, mode_t mode,
		      int64_t size, int64_t mtime_ms)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	/* the modes say what may_read() enforces */
	if (others_kept_out() && ino_private(ino))
		mode &= ~(mode_t)077;
	st->st_mode = mode;
	st->st_nlink = S_ISDIR(mode) ? 2 : 1;
	st->st_uid = fs.uid;
	st->st_gid = fs.gid;
	st->st_size = size;
	st->st_blksize = 4096;
	st->st_blocks = (size + 511) / 512;
	st->st_mtim.tv_sec = mtime_ms / 1000;
	st->st_mtim.tv_nsec = (mtime_ms % 1000) * 1000000;
	st->st_ctim = st->st_mtim;
	st->st_atim = st->st_mtim;
}

/* Generates the content of a read-only generated file into b. */
static int content(fuse_ino_t ino, struct buf *b)
{
	int k = INO_KIND(ino), slot = INO_SLOT(ino);
	int64_t id = INO_ID(ino);

	if (k == K_FIXED) {
		switch (ino) {
		case INO_README:
			return buf_puts(b, readme_text);
		case INO_QUEUE:
			return core_queue(fs.core, b);
		case INO_EVENTS:
			return core_events(fs.core, b);
		case INO_SCHEDULER:
			return core_scheduler(fs.core, b);
		}
		return TFS_ENOENT;
	}
	if (k == K_EXP && slot == ES_DESCRIPTION)
		return core_exp_description(fs.core, id, b);
	if (k == K_EXP && slot == ES_OBJECTIVE)
		return core_exp_objective(fs.core, id, b);
	if (k == K_EXP && slot == ES_LEADERBOARD)
		return core_exp_leaderboard(fs.core, id, b);
	if (k == K_TPL)
		return core_tpl_read(fs.core, id, b);
	if (k == K_PROV && slot == PS_STATUS)
		return core_provider_status(fs.core, (int)id - 1, b);
	if (k != K_RUN)
		return TFS_ENOENT;
	switch (slot) {
	case RS_CONFIG: return core_run_read(fs.core, id, RF_CONFIG, b);
	case RS_STATUS: return core_run_read(fs.core, id, RF_STATUS, b);
	case RS_STATUS_JSON:
		return core_run_read(fs.core, id, RF_STATUS_JSON, b);
	case RS_METRICS: return core_run_read(fs.core, id, RF_METRICS, b);
	case RS_METRICS_JSONL:
		return core_run_read(fs.core, id, RF_METRICS_JSONL, b);
	case RS_EVENTS: return core_run_read(fs.core, id, RF_EVENTS, b);
	case RS_CTL: return buf_puts(b, CTL_HELP);
	case RS_DOWNLOADS: return core_run_downloads(fs.core, id, b);
	}
	return TFS_ENOENT;
}

/*
 * 1 for snapshot files that grow or change while a reader has them
 * (metrics.jsonl grows too, but is read at each offset, no snapshot).
 */
static int fs_live_file(fuse_ino_t ino)
{
	if (INO_KIND(ino) == K_FIXED)
		return ino == INO_EVENTS || ino == INO_QUEUE;
	return INO_KIND(ino) == K_RUN && INO_SLOT(ino) == RS_EVENTS;
}

/* The live scratch file of ino (not an alias); fs.lock held. */
static struct scratch *scratch_by_ino(uint64_t ino)
{
	struct scratch *s;

	for (s = fs.scratch; s; s = s->next)
		if (s->ino == ino && !s->alias)
			return s;
	return NULL;
}

static struct scratch *scratch_by_name(uint64_t parent, const char *name)
{
	struct scratch *s;

	for (s = fs.scratch; s; s = s->next)
		if (s->parent == parent && !s->alias && !strcmp(s->name, name))
			return s;
	return NULL;
}

/* What ino means now: itself, or the file a renamed scratch became. */
static fuse_ino_t alias_of(fuse_ino_t ino)
{
	struct scratch *s;

	if (INO_KIND(ino) != K_SCRATCH)
		return ino;
	pthread_mutex_lock(&fs.lock);
	for (s = fs.scratch; s; s = s->next)
		if (s->ino == ino && s->alias) {
			ino = s->alias;
			break;
		}
	pthread_mutex_unlock(&fs.lock);
	return ino;
}

/*
 * Fills st for ino; returns a TFS_* code. The attribute timeout suits the
 * kind: directories are cached, files whose content changes are not.
 */
static int fs_stat(fuse_ino_t ino, struct stat *st, double *timeout)
{
	int k = INO_KIND(ino), slot = INO_SLOT(ino), r;
	int64_t id = INO_ID(ino);
	struct core_exp_info ei;
	struct core_run_info ri;
	struct core_tpl_info ti;
	struct buf b = BUF_INIT(0);
	int64_t now = now_ms();

	*timeout = 0;
	switch (k) {
	case K_FIXED:
		switch (ino) {
		case INO_ROOT:
		case INO_EXPERIMENTS:
		case INO_PROVIDERS:
		case INO_TEMPLATES:
			attr_init(st, ino, S_IFDIR | 0755, 0, now);
			*timeout = DIR_TIMEOUT;
			return TFS_OK;
		case INO_README:
			attr_init(st, ino, S_IFREG | 0444,
				  (int64_t)sizeof(readme_text) - 1, fs.start_ms);
			*timeout = DIR_TIMEOUT;
			return TFS_OK;
		case INO_QUEUE:
		case INO_EVENTS:
		case INO_SCHEDULER:
			r = content(ino, &b);
			attr_init(st, ino, S_IFREG | 0444, (int64_t)b.len,
				  ino == INO_EVENTS ? core_events_mtime(fs.core) :
				  core_queue_mtime(fs.core));
			buf_release(&b);
			return r;
		}
		return TFS_ENOENT;
	case K_EXP:
		r = core_exp_get(fs.core, id, &ei);
		if (r)
			return r;
		if (slot == ES_DIR || slot == ES_RUNS) {
			attr_init(st, ino, S_IFDIR | 0755, 0, ei.mtime_ms);
			*timeout = DIR_TIMEOUT;
			return TFS_OK;
		}
		if (slot != ES_DESCRIPTION && slot != ES_OBJECTIVE &&
		    slot != ES_LEADERBOARD)
			return TFS_ENOENT;
		r = content(ino, &b);
		attr_init(st, ino, slot == ES_LEADERBOARD ? S_IFREG | 0444 :
			  S_IFREG | 0644, (int64_t)b.len,
			  slot == ES_LEADERBOARD ? now : ei.mtime_ms);
		buf_release(&b);
		return r;
	case K_RUN:
		r = core_run_get(fs.core, id, &ri);
		if (r)
			return r;
		if (slot == RS_DIR) {
			attr_init(st, ino, S_IFDIR | 0755, 0, ri.updated_ms);
			st->st_ctim.tv_sec = ri.created_ms / 1000;
			*timeout = DIR_TIMEOUT;
			return TFS_OK;
		}
		if (slot == RS_LOG) {
			int64_t size, mtime;

			r = core_run_log_stat(fs.core, id, &size, &mtime);
			attr_init(st, ino, S_IFREG | 0444, size,
				  mtime ? mtime : ri.created_ms);
			return r;
		}
		if (slot == RS_ARTIFACTS) {
			attr_init(st, ino, S_IFDIR | 0555, 0, ri.updated_ms);
			return TFS_OK;
		}
		if (slot == RS_METRICS_JSONL) {
			int64_t size = 0;

			r = core_run_metrics_size(fs.core, id, &size);
			attr_init(st, ino, S_IFREG | 0444, size, ri.metrics_ms);
			return r;
		}
		if (slot == RS_WAIT) {
			int64_t len = run_state_terminal(ri.state) ||
				      ri.state == RS_CREATED ?
				(int64_t)strlen(run_state_name(ri.state)) + 1 : 0;

			attr_init(st, ino, S_IFREG | 0444, len, ri.updated_ms);
			return TFS_OK;
		}
		if (slot <= RS_DIR || slot >= RSLOT_MAX)
			return TFS_ENOENT;
		r = content(ino, &b);
		attr_init(st, ino, S_IFREG | 0444, (int64_t)b.len,
			  slot == RS_CONFIG ? ri.config_ms :
			  slot == RS_METRICS || slot == RS_METRICS_JSONL ?
			  ri.metrics_ms :
			  slot == RS_EVENTS ? ri.events_ms : ri.updated_ms);
		if (slot == RS_CONFIG && !ri.submitted)
			st->st_mode = S_IFREG | 0644;
		if (slot == RS_CTL)
			st->st_mode = S_IFREG | 0644;
		buf_release(&b);
		return r;
	case K_TPL:
		r = core_tpl_get(fs.core, id, &ti);
		if (r)
			return r;
		attr_init(st, ino, S_IFREG | 0644, ti.size, ti.mtime_ms);
		return TFS_OK;
	case K_SCRATCH: {
		struct scratch *s;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(ino);
		if (s)
			attr_init(st, ino, S_IFREG | (s->mode & 07777),
				  (int64_t)s->data.len, s->mtime_ms);
		pthread_mutex_unlock(&fs.lock);
		return s ? TFS_OK : TFS_ENOENT;
	}
	case K_ART: {
		struct core_art_info ai;

		r = core_art_get(fs.core, id, &ai);
		if (r)
			return r;
		attr_init(st, ino, ai.is_dir ? S_IFDIR | 0555 : S_IFREG | 0444,
			  ai.size, ai.mtime_ms);
		/* content never changes: its hash is fixed by the manifest */
		*timeout = DIR_TIMEOUT;
		return TFS_OK;
	}
	case K_PROV:
		if (id < 1 || id > core_provider_count(fs.core))
			return TFS_ENOENT;
		if (slot == PS_DIR) {
			attr_init(st, ino, S_IFDIR | 0755, 0, now);
			*timeout = DIR_TIMEOUT;
			return TFS_OK;
		}
		r = content(ino, &b);
		attr_init(st, ino, S_IFREG | 0444, (int64_t)b.len, now);
		buf_release(&b);
		return r;
	}
	return TFS_ENOENT;
}

static void reply_entry(fuse_req_t req, fuse_ino_t ino)
{
	struct fuse_entry_param e;
	double timeout;
	int r;

	memset(&e, 0, sizeof(e));
	r = fs_stat(ino, &e.attr, &timeout);
	if (r) {
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	e.ino = ino;
	e.attr_timeout = timeout;
	e.entry_timeout = DIR_TIMEOUT;
	fuse_reply_entry(req, &e);
}

/* ---- lookup ---- */

/* Resolves name in parent to an inode; 0 when there is none. */
static fuse_ino_t fs_resolve(fuse_ino_t parent, const char *name)
{
	int k = INO_KIND(parent), slot = INO_SLOT(parent), i;
	int64_t id = INO_ID(parent);
	struct core_exp_info ei;
	struct core_run_info ri;
	struct core_tpl_info ti;
	struct scratch *s;
	fuse_ino_t ino = 0;

	if (parent == INO_ROOT) {
		static const struct { const char *n; fuse_ino_t ino; } top[] = {
			{ "README", INO_README },
			{ "experiments", INO_EXPERIMENTS },
			{ "providers", INO_PROVIDERS },
			{ "queue", INO_QUEUE },
			{ "templates", INO_TEMPLATES },
			{ "events", INO_EVENTS },
			{ "scheduler", INO_SCHEDULER },
		};

		for (i = 0; i < (int)(sizeof(top) / sizeof(*top)); i++)
			if (!strcmp(name, top[i].n))
				return top[i].ino;
		return 0;
	}
	if (parent == INO_EXPERIMENTS)
		return core_exp_lookup(fs.core, name, &ei) ? 0 :
		       INO(K_EXP, ei.id, ES_DIR);
	if (parent == INO_PROVIDERS) {
		char pn[TFS_NAME_MAX + 1];

		for (i = 0; !core_provider_name(fs.core, i, pn); i++)
			if (!strcmp(pn, name))
				return INO(K_PROV, i + 1, PS_DIR);
		return 0;
	}
	if (parent == INO_TEMPLATES) {
		size_t n = strlen(name);
		char tn[TFS_NAME_MAX + 1];

		if (n > 5 && n - 5 <= TFS_NAME_MAX &&
		    !strcmp(name + n - 5, ".json")) {
			memcpy(tn, name, n - 5);
			tn[n - 5] = '\0';
			if (!core_tpl_lookup(fs.core, tn, &ti))
				return INO(K_TPL, ti.id, 0);
		}
	} else if (k == K_EXP && slot == ES_DIR) {
		if (!strcmp(name, "description"))
			return INO(K_EXP, id, ES_DESCRIPTION);
		if (!strcmp(name, "runs"))
			return INO(K_EXP, id, ES_RUNS);
		if (!strcmp(name, "objective"))
			return INO(K_EXP, id, ES_OBJECTIVE);
		if (!strcmp(name, "leaderboard"))
			return INO(K_EXP, id, ES_LEADERBOARD);
		return 0;
	} else if (k == K_EXP && slot == ES_RUNS) {
		return core_run_lookup(fs.core, id, name, &ri) ? 0 :
		       INO(K_RUN, ri.id, RS_DIR);
	} else if (k == K_RUN && slot == RS_DIR) {
		for (i = 1; i < RSLOT_MAX; i++)
			if (!strcmp(name, run_files[i]))
				return INO(K_RUN, id, i);
	} else if (k == K_PROV && slot == PS_DIR) {
		return !strcmp(name, "status") ? INO(K_PROV, id, PS_STATUS) : 0;
	} else if (k == K_RUN && slot == RS_ARTIFACTS) {
		struct core_art_info ai;

		return core_art_lookup(fs.core, id, 0, name, &ai) ? 0 :
		       INO(K_ART, ai.id, 0);
	} else if (k == K_ART) {
		struct core_art_info ai, child;

		if (core_art_get(fs.core, id, &ai) || !ai.is_dir)
			return 0;
		return core_art_lookup(fs.core, ai.run_id, ai.id, name, &child) ?
		       0 : INO(K_ART, child.id, 0);
	} else {
		return 0;
	}
	pthread_mutex_lock(&fs.lock);
	s = scratch_by_name(parent, name);
	if (s)
		ino = s->ino;
	pthread_mutex_unlock(&fs.lock);
	return ino;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino;

	if (!may_read(req, parent)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ino = fs_resolve(parent, name);
	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	reply_entry(req, ino);
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int r;

	(void)fi;
	r = fs_stat(alias_of(ino), &st, &timeout);
	if (r)
		fuse_reply_err(req, fs_errno(r));
	else
		fuse_reply_attr(req, &st, timeout);
}

/* ---- directories ---- */

struct dirfill {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	int plus;
	int full;
	int64_t last_id;
	off_t off_base;
};

/*
 * Adds one entry; returns 1 when the buffer is full. For readdirplus, attr
 * gives the attributes when the caller has them (it may hold core's lock,
 * so it must not ask core again); otherwise they are looked up.
 */
static int dir_add(struct dirfill *d, const char *name, fuse_ino_t ino,
		   mode_t type, off_t next_off, const struct stat *attr,
		   double attr_timeout)
{
	size_t n;

	if (d->plus) {
		struct fuse_entry_param e;
		double timeout = attr_timeout;

		int dot = !strcmp(name, ".") || !strcmp(name, "..");

		memset(&e, 0, sizeof(e));
		if (attr) {
			e.attr = *attr;
		} else if (!dot) {
			if (fs_stat(ino, &e.attr, &timeout))
				return 0;     /* vanished meanwhile: skip */
		} else {
			e.attr.st_ino = ino;
			e.attr.st_mode = type;
		}
		if (!dot) {
			e.ino = ino;
			e.attr_timeout = timeout;
			e.entry_timeout = DIR_TIMEOUT;
		}
		n = fuse_add_direntry_plus(d->req, d->buf + d->used,
					   d->size - d->used, name, &e, next_off);
	} else {
		struct stat st;

		memset(&st, 0, sizeof(st));
		st.st_ino = ino;
		st.st_mode = type;
		n = fuse_add_direntry(d->req, d->buf + d->used,
				      d->size - d->used, name, &st, next_off);
	}
	if (n > d->size - d->used) {
		d->full = 1;
		return 1;
	}
	d->used += n;
	return 0;
}

/*
 * Long listings (experiments, runs, templates) use offsets id + 3 so that a
 * listing resumes after the last id returned even while entries come and
 * go; "." and ".." take offsets 1 and 2. Their callbacks run under core's
 * lock and build attributes from what core passes them.
 */
static int exp_fill(void *arg, const struct core_exp_info *e)
{
	struct dirfill *d = arg;
	fuse_ino_t ino = INO(K_EXP, e->id, ES_DIR);
	struct stat st;

	attr_init(&st, ino, S_IFDIR | 0755, 0, e->mtime_ms);
	return dir_add(d, e->name, ino, S_IFDIR, (off_t)e->id + 3, &st,
		       DIR_TIMEOUT);
}

static int run_fill(void *arg, const struct core_run_info *r)
{
	struct dirfill *d = arg;
	fuse_ino_t ino = INO(K_RUN, r->id, RS_DIR);
	struct stat st;

	attr_init(&st, ino, S_IFDIR | 0755, 0, r->updated_ms);
	st.st_ctim.tv_sec = r->created_ms / 1000;
	return dir_add(d, r->name, ino, S_IFDIR, (off_t)r->id + 3, &st,
		       DIR_TIMEOUT);
}

static int art_fill(void *arg, const struct core_art_info *a)
{
	struct dirfill *d = arg;
	fuse_ino_t ino = INO(K_ART, a->id, 0);
	struct stat st;

	attr_init(&st, ino, a->is_dir ? S_IFDIR | 0555 : S_IFREG | 0444,
		  a->size, a->mtime_ms);
	return dir_add(d, a->name, ino, a->is_dir ? S_IFDIR : S_IFREG,
		       (off_t)a->id + 3, &st, DIR_TIMEOUT);
}

static int tpl_fill(void *arg, const struct core_tpl_info *t)
{
	struct dirfill *d = arg;
	char name[TFS_NAME_MAX + 8];

	struct stat st;

	snprintf(name, sizeof(name), "%s.json", t->name);
	attr_init(&st, INO(K_TPL, t->id, 0), S_IFREG | 0644, t->size,
		  t->mtime_ms);
	return dir_add(d, name, INO(K_TPL, t->id, 0), S_IFREG,
		       (off_t)t->id + 3, &st, 0);
}

/* Scratch files follow the fixed entries, at offsets 1000000 + n. */
static void scratch_fill(struct dirfill *d, fuse_ino_t parent, off_t off)
{
	struct scratch *s;
	struct { char name[SCRATCH_NAME_MAX + 1]; fuse_ino_t ino; } *v;
	int n = 0, i;

	v = calloc(SCRATCH_MAX, sizeof(*v));
	if (!v)
		return;
	pthread_mutex_lock(&fs.lock);
	for (s = fs.scratch; s && n < SCRATCH_MAX; s = s->next) {
		if (s->parent != parent || s->alias)
			continue;
		snprintf(v[n].name, sizeof(v[n].name), "%s", s->name);
		v[n].ino = s->ino;
		n++;
	}
	pthread_mutex_unlock(&fs.lock);
	for (i = 0; i < n; i++) {
		if (1000000 + i < off)
			continue;
		if (dir_add(d, v[i].name, v[i].ino, S_IFREG, 1000000 + i + 1, NULL, 0))
			break;
	}
	free(v);
}

static void do_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, int plus)
{
	struct dirfill d = { .req = req, .size = size, .plus = plus };
	int k = INO_KIND(ino), slot = INO_SLOT(ino), i;
	int64_t id = INO_ID(ino);
	double timeout;
	struct stat st;
	int r;

	r = fs_stat(ino, &st, &timeout);
	if (r) {
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	if (!S_ISDIR(st.st_mode)) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (!may_read(req, ino)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	d.buf = malloc(size);
	if (!d.buf) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (off < 1 && dir_add(&d, ".", ino, S_IFDIR, 1, NULL, 0))
		goto out;
	if (off < 2 && dir_add(&d, "..", INO_ROOT, S_IFDIR, 2, NULL, 0))
		goto out;
	if (ino == INO_ROOT) {
		static const struct { const char *n; fuse_ino_t ino; mode_t t; }
		top[] = {
			{ "README", INO_README, S_IFREG },
			{ "events", INO_EVENTS, S_IFREG },
			{ "experiments", INO_EXPERIMENTS, S_IFDIR },
			{ "providers", INO_PROVIDERS, S_IFDIR },
			{ "queue", INO_QUEUE, S_IFREG },
			{ "scheduler", INO_SCHEDULER, S_IFREG },
			{ "templates", INO_TEMPLATES, S_IFDIR },
		};

		for (i = 0; i < (int)(sizeof(top) / sizeof(*top)); i++)
			if (off < i + 3 && dir_add(&d, top[i].n, top[i].ino,
						    top[i].t, i + 3, NULL, 0))
				goto out;
	} else if (ino == INO_EXPERIMENTS) {
		core_exp_list(fs.core, off > 2 ? off - 3 : 0, exp_fill, &d);
	} else if (ino == INO_PROVIDERS) {
		char pn[TFS_NAME_MAX + 1];

		for (i = 0; !core_provider_name(fs.core, i, pn); i++)
			if (off < i + 3 && dir_add(&d, pn,
						    INO(K_PROV, i + 1, PS_DIR),
						    S_IFDIR, i + 3, NULL, 0))
				goto out;
	} else if (ino == INO_TEMPLATES) {
		if (off < 1000000)
			core_tpl_list(fs.core, off > 2 ? off - 3 : 0, tpl_fill,
				      &d);
		if (!d.full)
			scratch_fill(&d, ino, off);
	} else if (k == K_EXP && slot == ES_DIR) {
		if (off < 3 && dir_add(&d, "description",
				       INO(K_EXP, id, ES_DESCRIPTION), S_IFREG, 3, NULL, 0))
			goto out;
		if (off < 4 && dir_add(&d, "leaderboard",
				       INO(K_EXP, id, ES_LEADERBOARD), S_IFREG, 4,
				       NULL, 0))
			goto out;
		if (off < 5 && dir_add(&d, "objective",
				       INO(K_EXP, id, ES_OBJECTIVE), S_IFREG, 5,
				       NULL, 0))
			goto out;
		if (off < 6)
			dir_add(&d, "runs", INO(K_EXP, id, ES_RUNS), S_IFDIR, 6,
				NULL, 0);
	} else if (k == K_EXP && slot == ES_RUNS) {
		core_run_list(fs.core, id, off > 2 ? off - 3 : 0, run_fill, &d);
	} else if (k == K_RUN && slot == RS_DIR) {
		/*
		 * `wait` blocks by design, so it is not listed: grep -r and
		 * cp -r walk a run without stopping on it; it opens by name.
		 */
		for (i = 1; i < RSLOT_MAX; i++)
			if (i != RS_WAIT && off < i + 2 &&
			    dir_add(&d, run_files[i],
						    INO(K_RUN, id, i),
						    i == RS_ARTIFACTS ? S_IFDIR :
						    S_IFREG,
						    i + 2, NULL, 0))
				goto out;
		scratch_fill(&d, ino, off);
	} else if (k == K_RUN && slot == RS_ARTIFACTS) {
		core_art_list(fs.core, id, 0, off > 2 ? off - 3 : 0, art_fill, &d);
	} else if (k == K_ART) {
		struct core_art_info ai;

		if (!core_art_get(fs.core, id, &ai))
			core_art_list(fs.core, ai.run_id, ai.id,
				      off > 2 ? off - 3 : 0, art_fill, &d);
	} else if (k == K_PROV && slot == PS_DIR) {
		if (off < 3)
			dir_add(&d, "status", INO(K_PROV, id, PS_STATUS),
				S_IFREG, 3, NULL, 0);
	}
out:
	fuse_reply_buf(req, d.buf, d.used);
	free(d.buf);
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	do_readdir(req, ino, size, off, 1);
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	int k = INO_KIND(parent), slot = INO_SLOT(parent), r;
	char reason[512];
	int64_t id;

	(void)mode;
	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (parent == INO_EXPERIMENTS) {
		r = core_exp_create(fs.core, name, &id);
		if (r) {
			fuse_reply_err(req, fs_errno(r));
			return;
		}
		reply_entry(req, INO(K_EXP, id, ES_DIR));
		return;
	}
	if (k == K_EXP && slot == ES_RUNS) {
		r = core_run_create(fs.core, INO_ID(parent), name, &id, reason,
				    sizeof(reason));
		if (r) {
			fuse_reply_err(req, fs_errno(r));
			return;
		}
		reply_entry(req, INO(K_RUN, id, RS_DIR));
		return;
	}
	fuse_reply_err(req, fs_resolve(parent, name) ? EEXIST : EPERM);
}

/*
 * `rm -rf` of an ended run (or of an experiment of ended runs) unlinks and
 * rmdirs everything it lists before the rmdir that removes the run. Those
 * are accepted and do nothing, so that last rmdir is the one that removes:
 * 1 when ino is such a part (a directory when want_dir). A run that waits
 * or runs keeps refusing, as its own rmdir does.
 */
static int ended_part(fuse_ino_t ino, int want_dir)
{
	int k = INO_KIND(ino), slot = INO_SLOT(ino);
	struct core_exp_info ei;
	struct core_run_info ri;
	struct core_art_info ai;
	int64_t run_id;

	if (k == K_EXP) {
		if (slot == ES_RUNS)
			return want_dir && !core_exp_get(fs.core, INO_ID(ino), &ei) &&
			       ei.nruns == 0;
		return !want_dir && slot != ES_DIR;
	}
	if (k == K_RUN) {
		if (slot == RS_DIR || (slot == RS_ARTIFACTS) != want_dir)
			return 0;
		run_id = INO_ID(ino);
	} else if (k == K_ART) {
		if (core_art_get(fs.core, INO_ID(ino), &ai) ||
		    ai.is_dir != want_dir)
			return 0;
		run_id = ai.run_id;
	} else {
		return 0;
	}
	return !core_run_get(fs.core, run_id, &ri) &&
	       (ri.state == RS_CREATED || run_state_terminal(ri.state));
}

static void scratch_free_locked(struct scratch *victim);

/* Drops the scratch files (and aliases) of a run that is gone. */
static void scratch_drop_run(int64_t run_id)
{
	struct scratch *s, *next;

	pthread_mutex_lock(&fs.lock);
	for (s = fs.scratch; s; s = next) {
		next = s->next;
		if (s->parent == INO(K_RUN, run_id, RS_DIR) ||
		    (s->alias && INO_KIND(s->alias) == K_RUN &&
		     INO_ID(s->alias) == run_id))
			scratch_free_locked(s);
	}
	pthread_mutex_unlock(&fs.lock);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	int k = INO_KIND(parent), slot = INO_SLOT(parent), r;
	fuse_ino_t ino;

	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (parent == INO_EXPERIMENTS) {
		fuse_reply_err(req, fs_errno(core_exp_remove(fs.core, name)));
		return;
	}
	if (k == K_EXP && slot == ES_RUNS) {
		ino = fs_resolve(parent, name);
		r = core_run_remove(fs.core, INO_ID(parent), name);
		if (!r && ino)
			scratch_drop_run(INO_ID(ino));
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	ino = fs_resolve(parent, name);
	fuse_reply_err(req, !ino ? ENOENT : ended_part(ino, 1) ? 0 :
		       k == K_EXP && INO_SLOT(ino) == ES_RUNS ? ENOTEMPTY : EPERM);
}

/* ---- scratch files: editors' temporary files in run and template dirs */

static int scratch_parent_ok(fuse_ino_t parent)
{
	return parent == INO_TEMPLATES ||
	       (INO_KIND(parent) == K_RUN && INO_SLOT(parent) == RS_DIR);
}

static int scratch_name_ok(const char *name)
{
	size_t i, n = strlen(name);

	if (!n || n > SCRATCH_NAME_MAX || !strcmp(name, ".") ||
	    !strcmp(name, ".."))
		return 0;
	for (i = 0; i < n; i++)
		if ((unsigned char)name[i] < 0x20 || name[i] == 0x7f)
			return 0;
	return 1;
}

/* Creates a scratch file; fs.lock held. Returns its inode or 0. */
static uint64_t scratch_new_locked(fuse_ino_t parent, const char *name,
				   mode_t mode)
{
	struct scratch *s;

	if (fs.nscratch >= SCRATCH_MAX)
		return 0;
	s = xcalloc(1, sizeof(*s));
	s->ino = INO(K_SCRATCH, ++fs.next_scratch, 0);
	s->parent = parent;
	s->name = xstrdup(name);
	s->data.max = CONFIG_MAX_BYTES;
	s->mode = mode & 07777;
	s->mtime_ms = now_ms();
	s->next = fs.scratch;
	fs.scratch = s;
	fs.nscratch++;
	return s->ino;
}

static void scratch_free_locked(struct scratch *victim)
{
	struct scratch **pp;

	for (pp = &fs.scratch; *pp; pp = &(*pp)->next) {
		if (*pp == victim) {
			*pp = victim->next;
			if (victim->alias)
				fs.naliases--;
			else
				fs.nscratch--;
			buf_release(&victim->data);
			free(victim->name);
			free(victim);
			return;
		}
	}
}

/* ---- open, read, write ---- */

/* Frees h with what it holds: its buffer, an artifact's fd and pin. */
static void fh_free(struct fh *h)
{
	pthread_mutex_lock(&fs.lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs.fhs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs.lock);
	if (h->kind == FH_ART && h->fd >= 0) {
		close(h->fd);
		core_art_release(fs.core, h->sha256);
	}
	buf_release(&h->data);
	free(h);
}

/*
 * Gives h to the kernel. When the reply fails (the opener is gone) no
 * release will ever come for it: it is freed here.
 */
static void fh_reply_open(fuse_req_t req, struct fuse_file_info *fi,
			  struct fh *h)
{
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		fh_free(h);
}

static struct fh *fh_new(enum fh_kind kind, fuse_ino_t ino)
{
	struct fh *h = xcalloc(1, sizeof(*h));

	h->fd = -1;
	h->kind = kind;
	h->ino = ino;
	h->data.max = CONFIG_MAX_BYTES;
	pthread_mutex_lock(&fs.lock);
	h->next = fs.fhs;
	if (fs.fhs)
		fs.fhs->prev = h;
	fs.fhs = h;
	pthread_mutex_unlock(&fs.lock);
	return h;
}

/* Opens ino for writing; returns a handle or sets *err. */
static struct fh *open_write(fuse_ino_t ino, int flags, int *err)
{
	int k = INO_KIND(ino), slot = INO_SLOT(ino);
	struct core_run_info ri;
	struct core_tpl_info ti;
	struct fh *h = NULL;
	int r;

	*err = 0;
	if (k == K_RUN && slot == RS_CONFIG) {
		r = core_run_get(fs.core, INO_ID(ino), &ri);
		if (r) {
			*err = fs_errno(r);
			return NULL;
		}
		if (ri.submitted) {
			*err = EBUSY;
			return NULL;
		}
		h = fh_new(FH_CONFIG, ino);
		h->truncated = (flags & O_TRUNC) != 0;
		return h;
	}
	if (k == K_RUN && slot == RS_CTL) {
		h = fh_new(FH_CTL, ino);
		h->data.max = CTL_MAX;
		return h;
	}
	if (k == K_EXP && (slot == ES_DESCRIPTION || slot == ES_OBJECTIVE)) {
		h = fh_new(FH_DESC, ino);
		h->data.max = DESC_MAX;
		if (!(flags & O_TRUNC))
			content(ino, &h->data);
		return h;
	}
	if (k == K_TPL) {
		r = core_tpl_get(fs.core, INO_ID(ino), &ti);
		if (r) {
			*err = fs_errno(r);
			return NULL;
		}
		h = fh_new(FH_TPL, ino);
		snprintf(h->name, sizeof(h->name), "%s", ti.name);
		if (!(flags & O_TRUNC))
			core_tpl_read(fs.core, ti.id, &h->data);
		return h;
	}
	if (k == K_SCRATCH) {
		struct scratch *s;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(ino);
		if (s && (flags & O_TRUNC)) {
			buf_reset(&s->data);
			s->mtime_ms = now_ms();
		}
		pthread_mutex_unlock(&fs.lock);
		if (!s) {
			*err = ENOENT;
			return NULL;
		}
		return fh_new(FH_SCRATCH, ino);
	}
	*err = EACCES;
	return NULL;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	int acc = fi->flags & O_ACCMODE, k, slot, err, r;
	struct fh *h;

	ino = alias_of(ino);
	k = INO_KIND(ino);
	slot = INO_SLOT(ino);
	if (acc != O_RDONLY) {
		if (!may_modify(req)) {
			fuse_reply_err(req, EACCES);
			return;
		}
		h = open_write(ino, fi->flags, &err);
		if (!h) {
			fuse_reply_err(req, err);
			return;
		}
		if (acc == O_RDWR && h->kind == FH_CONFIG)
			h->dirty = 0;
		fi->direct_io = 1;
		fh_reply_open(req, fi, h);
		return;
	}
	if (!may_read(req, ino)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (k == K_ART) {
		char reason[512], sha[65];
		int fd = -1;

		r = core_art_open(fs.core, INO_ID(ino), &fd, sha, reason,
				  sizeof(reason));
		if (r && r != TFS_EAGAIN && r != TFS_EIO) {
			fuse_reply_err(req, fs_errno(r));
			return;
		}
		h = fh_new(FH_ART, ino);
		h->fd = fd;
		memcpy(h->sha256, sha, sizeof(h->sha256));
		/*
		 * A verified file never changes, so the kernel may keep its
		 * pages between opens: the second cat reads no data from us.
		 */
		fi->keep_cache = fd >= 0;
		/*
		 * Not verified yet: this reader's bytes come straight from
		 * the cache file by splice, without filling a second copy in
		 * the mount's page cache (later opens get keep_cache).
		 */
		fi->direct_io = fd < 0;
		fi->noflush = 1;
		fh_reply_open(req, fi, h);
		return;
	}
	if (k == K_RUN && slot == RS_LOG) {
		h = fh_new(FH_LOG, ino);
	} else if (k == K_RUN && slot == RS_METRICS_JSONL) {
		/*
		 * Read from the store at each offset: the file only grows,
		 * so every open sees the same bytes at the same place, and a
		 * long history is never copied whole (`tail -f` sees new
		 * lines as they come).
		 */
		h = fh_new(FH_MJSONL, ino);
	} else if (k == K_RUN && slot == RS_WAIT) {
		h = fh_new(FH_WAIT, ino);
	} else if (k == K_SCRATCH) {
		h = fh_new(FH_SCRATCH, ino);
	} else if (k == K_FIXED && (ino == INO_ROOT || ino == INO_EXPERIMENTS ||
				    ino == INO_PROVIDERS ||
				    ino == INO_TEMPLATES)) {
		fuse_reply_err(req, EISDIR);
		return;
	} else {
		/* a snapshot: one open sees one consistent content */
		h = fh_new(FH_SNAPSHOT, ino);
		h->data.max = 0;
		r = content(ino, &h->data);
		if (r) {
			fh_free(h);
			fuse_reply_err(req, fs_errno(r));
			return;
		}
	}
	fi->direct_io = 1;
	fi->noflush = 1;     /* nothing to say at close of a read-only file */
	fh_reply_open(req, fi, h);
}

static void wait_interrupt(fuse_req_t req, void *data)
{
	struct waiter **pp, *w;

	(void)data;
	pthread_mutex_lock(&fs.lock);
	for (pp = &fs.waiters; (w = *pp); pp = &w->next) {
		if (w->req == req) {
			*pp = w->next;
			if (w->setting_up) {
				w->pending = -EINTR;
				w = NULL;
			}
			break;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	if (w) {
		fuse_reply_err(req, EINTR);
		free(w);
	}
}

static void read_wait(fuse_req_t req, struct fh *h, size_t size, off_t off,
		      int flags)
{
	int64_t run_id = INO_ID(h->ino);
	struct waiter *w;
	int state, r;

	r = core_run_state(fs.core, run_id, &state);
	if (r) {
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	/*
	 * A run not submitted yet may never be: its reader learns that at
	 * once instead of waiting for a config that failed to go in.
	 */
	if (run_state_terminal(state) || state == RS_CREATED) {
		reply_wait_content(req, state, off, size);
		return;
	}
	if (flags & O_NONBLOCK) {
		fuse_reply_err(req, EAGAIN);
		return;
	}
	w = xcalloc(1, sizeof(*w));
	w->req = req;
	w->run_id = run_id;
	w->off = off;
	w->size = size;
	w->setting_up = 1;
	pthread_mutex_lock(&fs.lock);
	w->next = fs.waiters;
	fs.waiters = w;
	pthread_mutex_unlock(&fs.lock);
	fuse_req_interrupt_func(req, wait_interrupt, NULL);
	pthread_mutex_lock(&fs.lock);
	w->setting_up = 0;
	r = w->pending;
	pthread_mutex_unlock(&fs.lock);
	if (r == -EINTR) {
		fuse_reply_err(req, EINTR);
		free(w);
		return;
	}
	if (r) {
		if (core_run_state(fs.core, run_id, &state) == TFS_OK)
			reply_wait_content(req, state, off, size);
		else
			fuse_reply_err(req, ENOENT);
		free(w);
		return;
	}
	/* it may have ended between the check and the parking */
	wake_waiters(run_id);
}

/*
 * A read parked until its artifact is verified. Another thread may finish
 * it while the handler is still setting it up (registering it, then the
 * interrupt function): an answer that arrives then is kept in `pending`
 * and given by the handler once it lets go of the request, so no thread
 * touches a request another has already answered. Both under fs.lock.
 * A parked read is in fs.art_reads until whoever answers it takes it out:
 * the interrupt function finds it there by request, never through its
 * data pointer, which may be freed by then.
 */
struct art_read {
	struct art_read *next;      /* in fs.art_reads while parked */
	fuse_req_t req;
	struct fh *h;
	size_t size;
	off_t off;
	int setting_up;
	int pending;                /* 0, or 1 + a TFS_* result, or -EINTR */
};

/*
 * Answers a read from the verified cache file by descriptor: libfuse
 * splices the bytes from the file into /dev/fuse (see op_init) instead of
 * copying them through a buffer of ours.
 *
 * The reply is cut to the bytes the file holds past off, so the splice is
 * never short. libfuse writes the reply header into its pipe by vmsplice,
 * which maps the header's page, and after a short splice from the file it
 * corrects the length in that header in place. When another thread forks
 * in between (the local provider forks for every job), the page is copied
 * on write, the pipe keeps the stale length, the kernel refuses the reply
 * with EINVAL, libfuse frees the request, and the reader waits forever. A
 * verified file does not change size, so its size bounds the reply exactly.
 */
static void art_reply_from_fd(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct stat st;

	if (fstat(fd, &st) < 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if (off >= st.st_size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)(st.st_size - off) < size)
		bv.buf[0].size = (size_t)(st.st_size - off);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	/* answered either way: a failed read of fd is replied by libfuse
	 * itself, a failed send frees the request */
	if (fuse_reply_data(req, &bv, FUSE_BUF_SPLICE_MOVE) != 0)
		log_msg(LOG_WARNING, "an artifact read was not delivered");
}

/* Gives h the verified file if it has none; returns h's fd or -1. */
static int art_fh_fd(struct fh *h, int *err)
{
	char reason[512], sha[65];
	int fd = -1, r;

	pthread_mutex_lock(&fs.lock);
	fd = h->fd;
	pthread_mutex_unlock(&fs.lock);
	if (fd >= 0)
		return fd;
	r = core_art_open(fs.core, INO_ID(h->ino), &fd, sha, reason,
			  sizeof(reason));
	if (r) {
		*err = r;
		return -1;
	}
	pthread_mutex_lock(&fs.lock);
	if (h->fd < 0) {
		h->fd = fd;
		memcpy(h->sha256, sha, sizeof(h->sha256));
	} else {        /* another reader won the race */
		close(fd);
		core_art_release(fs.core, sha);
		fd = h->fd;
	}
	pthread_mutex_unlock(&fs.lock);
	return fd;
}

/*
 * Answers a parked read: result is a TFS_* code, or -EINTR for an
 * interrupt. TFS_EINTR says the daemon stops: ENOTCONN then, which tools
 * do not retry (cat retries EINTR, and nobody would answer again).
 */
static void art_finish(struct art_read *ar, int result)
{
	int fd, err = result == TFS_OK ? TFS_EIO : result;

	if (result == -EINTR || result == TFS_EINTR) {
		fuse_reply_err(ar->req, result == -EINTR ? EINTR : ENOTCONN);
		free(ar);
		return;
	}
	fd = result == TFS_OK ? art_fh_fd(ar->h, &err) : -1;
	if (fd >= 0)
		art_reply_from_fd(ar->req, fd, ar->size, ar->off);
	else
		fuse_reply_err(ar->req, fs_errno(err == TFS_EAGAIN ? TFS_EIO :
						 err));
	free(ar);
}

/* Takes ar out of fs.art_reads; fs.lock held. */
static void art_unpark_locked(struct art_read *ar)
{
	struct art_read **pp;

	for (pp = &fs.art_reads; *pp; pp = &(*pp)->next)
		if (*pp == ar) {
			*pp = ar->next;
			break;
		}
}

/*
 * ar is answered by the caller (its registration in core is gone): 1 when
 * the handler still sets it up and gives the answer itself; fs.lock held.
 */
static int art_defer_locked(struct art_read *ar, int result)
{
	art_unpark_locked(ar);
	if (ar->setting_up)
		ar->pending = result == -EINTR ? -EINTR : 1 + result;
	return ar->setting_up;
}

static void art_ready(void *arg, int result)
{
	struct art_read *ar = arg;
	int deferred;

	pthread_mutex_lock(&fs.lock);
	deferred = art_defer_locked(ar, result);
	pthread_mutex_unlock(&fs.lock);
	if (!deferred)
		art_finish(ar, result);
}

static void art_interrupt(fuse_req_t req, void *data)
{
	struct art_read *ar;
	int mine = 0;

	(void)data;
	/*
	 * Looked up by request under fs.lock: a finished download may have
	 * answered and freed the read already. Whoever takes the
	 * registration back from core answers; art_ready waits for fs.lock.
	 */
	pthread_mutex_lock(&fs.lock);
	for (ar = fs.art_reads; ar; ar = ar->next)
		if (ar->req == req)
			break;
	if (ar && core_art_unwait(fs.core, INO_ID(ar->h->ino), art_ready,
				  ar) == TFS_OK)
		mine = !art_defer_locked(ar, -EINTR);
	pthread_mutex_unlock(&fs.lock);
	if (mine)
		art_finish(ar, -EINTR);
}

static void read_art(fuse_req_t req, struct fh *h, size_t size, off_t off)
{
	struct art_read *ar;
	int fd, err = 0, r;

	for (;;) {
		fd = art_fh_fd(h, &err);
		if (fd >= 0) {
			art_reply_from_fd(req, fd, size, off);
			return;
		}
		if (err != TFS_EAGAIN) {
			fuse_reply_err(req, fs_errno(err));
			return;
		}
		ar = xcalloc(1, sizeof(*ar));
		ar->req = req;
		ar->h = h;
		ar->size = size;
		ar->off = off;
		ar->setting_up = 1;
		pthread_mutex_lock(&fs.lock);
		ar->next = fs.art_reads;
		fs.art_reads = ar;
		pthread_mutex_unlock(&fs.lock);
		r = core_art_wait(fs.core, INO_ID(h->ino), art_ready, ar);
		if (r == TFS_OK)
			break;
		pthread_mutex_lock(&fs.lock);
		art_unpark_locked(ar);
		pthread_mutex_unlock(&fs.lock);
		free(ar);
		if (r != TFS_EEXIST) {
			fuse_reply_err(req, fs_errno(r));
			return;
		}
		/* it ended meanwhile: open again */
	}
	fuse_req_interrupt_func(req, art_interrupt, NULL);
	pthread_mutex_lock(&fs.lock);
	ar->setting_up = 0;
	r = ar->pending;
	pthread_mutex_unlock(&fs.lock);
	if (r)
		art_finish(ar, r == -EINTR ? -EINTR : r - 1);
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct buf b = BUF_INIT(0);
	int r;

	(void)ino;
	switch (h->kind) {
	case FH_WAIT:
		read_wait(req, h, size, off, fi->flags);
		return;
	case FH_ART:
		read_art(req, h, size, off);
		return;
	case FH_LOG:
	case FH_MJSONL:
		r = h->kind == FH_LOG ?
		    core_run_log_read(fs.core, INO_ID(h->ino), off, size, &b) :
		    core_run_metrics_read(fs.core, INO_ID(h->ino), off, size,
					  &b);
		if (r)
			fuse_reply_err(req, fs_errno(r));
		else
			fuse_reply_buf(req, b.p, b.len);
		buf_release(&b);
		return;
	case FH_SCRATCH: {
		struct scratch *s;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(h->ino);
		if (s && (size_t)off < s->data.len)
			buf_append(&b, s->data.p + off,
				   s->data.len - (size_t)off < size ?
				   s->data.len - (size_t)off : size);
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_buf(req, b.p, b.len);
		buf_release(&b);
		return;
	}
	case FH_SNAPSHOT:
		/*
		 * Files that grow or change while open (events, queue) are
		 * taken again when a reader reaches the end of its snapshot,
		 * or reads from the start again (tail -f after a truncation),
		 * so `tail -f` sees new lines.
		 */
		if (fs_live_file(h->ino) && ((size_t)off >= h->data.len ||
					     (off == 0 && h->read_once))) {
			buf_reset(&h->data);
			content(h->ino, &h->data);
		}
		h->read_once = 1;
		break;
	default:
		break;
	}
	if ((size_t)off >= h->data.len)
		fuse_reply_buf(req, NULL, 0);
	else
		fuse_reply_buf(req, h->data.p + off,
			       h->data.len - (size_t)off < size ?
			       h->data.len - (size_t)off : size);
}

/* Writes data at off into b, growing it; TFS_EFBIG past its bound. */
static int buf_write_at(struct buf *b, const char *data, size_t size,
			off_t off)
{
	size_t end;
	int r;

	if (off < 0 || (uint64_t)off > SIZE_MAX - size)
		return TFS_EFBIG;
	end = (size_t)off + size;
	if (b->max && end > b->max)
		return TFS_EFBIG;
	if (end > b->len) {
		size_t old = b->len;

		r = buf_append(b, NULL, 0);
		if (r)
			return r;
		while (b->len < end) {
			static const char zeros[256];
			size_t n = end - b->len < sizeof(zeros) ?
				   end - b->len : sizeof(zeros);

			r = buf_append(b, zeros, n);
			if (r) {
				b->len = old;
				return r;
			}
		}
	}
	memcpy(b->p + off, data, size);
	return TFS_OK;
}

/*
 * A shell ignores close()'s error, so `echo '{...}' > config.json` would
 * report success for a config that close() refused. As soon as the bytes
 * written so far form one complete JSON value, they are checked as close()
 * would check them, and a refusal fails this write() (with its reason in
 * the run's events). close() still submits, and checks everything again.
 */
static int config_write_check(struct fh *h, off_t off)
{
	char reason[CONFIG_REASON_MAX];
	int r;

	if ((size_t)off < h->scan.pos) {
		/* a rewrite of what was looked at: look again from the start */
		memset(&h->scan, 0, sizeof(h->scan));
	}
	h->refused = 0;
	if (!config_scan_feed(&h->scan, h->data.p, h->data.len))
		return TFS_OK;
	r = core_run_check(fs.core, INO_ID(h->ino), h->data.p, h->data.len,
			   reason, sizeof(reason));
	if (r == TFS_EINVAL || r == TFS_EFBIG)
		h->refused = r;
	return r;
}

/* Carries out the whole lines at the head of h's ctl buffer. */
static int ctl_run_lines(struct fh *h, size_t n)
{
	char reason[512];
	int r;

	r = core_run_ctl(fs.core, INO_ID(h->ino), h->data.p, n, reason,
			 sizeof(reason));
	memmove(h->data.p, h->data.p + n, h->data.len - n);
	h->data.len -= n;
	h->data.p[h->data.len] = '\0';
	return r;
}

/*
 * ctl takes commands a line at a time, however they are split over
 * write()s ("can" then "cel\n"): bytes wait in the handle until a newline
 * (or close) completes them. A line longer than CTL_MAX is refused with an
 * event.
 */
static int ctl_write(struct fh *h, const char *data, size_t size)
{
	const char *nl;
	int r;

	if (size > CTL_MAX - h->data.len) {
		char note[128];

		buf_reset(&h->data);
		snprintf(note, sizeof(note), "ctl refused: ctl command too "
			 "long (more than %d bytes)", CTL_MAX);
		core_run_note(fs.core, INO_ID(h->ino), note);
		return TFS_EINVAL;
	}
	r = buf_append(&h->data, data, size);
	if (r)
		return r;
	h->dirty = 1;
	nl = memrchr(h->data.p, '\n', h->data.len);
	if (!nl)
		return TFS_OK;
	return ctl_run_lines(h, (size_t)(nl - h->data.p) + 1);
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	int r;

	(void)ino;
	switch (h->kind) {
	case FH_CTL:
		r = ctl_write(h, data, size);
		break;
	case FH_SCRATCH: {
		struct scratch *s;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(h->ino);
		r = s ? buf_write_at(&s->data, data, size, off) : TFS_ENOENT;
		if (s)
			s->mtime_ms = now_ms();
		pthread_mutex_unlock(&fs.lock);
		if (!r)
			h->dirty = 1;
		if (r == TFS_EFBIG)
			h->too_big = 1;
		break;
	}
	case FH_CONFIG:
	case FH_DESC:
	case FH_TPL:
		r = buf_write_at(&h->data, data, size, off);
		if (!r)
			h->dirty = 1;
		if (r == TFS_EFBIG)
			h->too_big = 1;
		if (r == TFS_EFBIG && h->kind == FH_CONFIG)
			core_run_note(fs.core, INO_ID(h->ino),
				      "config rejected: larger than 1 MiB");
		if (!r && h->kind == FH_CONFIG) {
			h->truncated = 0;
			r = config_write_check(h, off);
		}
		break;
	default:
		r = TFS_EACCES;
		break;
	}
	if (r)
		fuse_reply_err(req, fs_errno(r));
	else
		fuse_reply_write(req, size);
}

static int tpl_scratch_store(struct fh *h);
static void release_unwritten(struct fh *h);

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	char reason[CONFIG_REASON_MAX];
	int64_t id;
	int r = TFS_OK;

	(void)ino;
	/*
	 * A shell's `>` opens, dup2()s and closes the first descriptor
	 * before anything is written, and that close flushes too: with
	 * nothing written yet a flush only says EINVAL (the shell ignores
	 * it); the refusal of an empty file is recorded once, at release.
	 */
	if (h->kind == FH_SCRATCH && h->tpl_pending) {
		fuse_reply_err(req, !h->dirty && !h->too_big ? EINVAL :
			       fs_errno(tpl_scratch_store(h)));
		return;
	}
	if (h->too_big) {
		/* never submit the first MiB of a larger file */
		h->dirty = 0;
		fuse_reply_err(req, EFBIG);
		return;
	}
	if (h->kind == FH_CONFIG && !h->dirty && h->truncated) {
		/* `cp /dev/null`, `: >`: an empty config is a refusal */
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (!h->dirty) {
		fuse_reply_err(req, 0);
		return;
	}
	switch (h->kind) {
	case FH_CONFIG:
		if (h->refused) {
			/* its reason is in events already, from the write */
			r = h->refused;
			break;
		}
		r = core_run_submit(fs.core, INO_ID(h->ino), h->data.p ?
				    h->data.p : "", h->data.len, reason,
				    sizeof(reason));
		break;
	case FH_CTL:
		r = h->data.len ? ctl_run_lines(h, h->data.len) : TFS_OK;
		break;
	case FH_DESC:
		if (INO_SLOT(h->ino) == ES_OBJECTIVE)
			r = core_exp_set_objective(fs.core, INO_ID(h->ino),
						   h->data.p ? h->data.p : "",
						   h->data.len, reason,
						   sizeof(reason));
		else
			r = core_exp_set_description(fs.core, INO_ID(h->ino),
						     h->data.p ? h->data.p : "",
						     h->data.len);
		break;
	case FH_TPL:
		r = core_tpl_put(fs.core, h->name, h->data.p ? h->data.p : "",
				 h->data.len, &id, reason, sizeof(reason));
		break;
	default:
		break;
	}
	h->dirty = 0;
	fuse_reply_err(req, fs_errno(r));
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct poller_h **pp, *p;

	(void)ino;
	pthread_mutex_lock(&fs.lock);
	for (pp = &fs.pollers; (p = *pp);) {
		if (p->fh == h) {
			*pp = p->next;
			fuse_pollhandle_destroy(p->ph);
			free(p);
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	release_unwritten(h);
	fh_free(h);
	fuse_reply_err(req, 0);
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct fh *h = (struct fh *)(uintptr_t)fi->fh;
	struct poller_h *p;
	int state;

	(void)ino;
	if (h->kind != FH_WAIT) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN | POLLOUT);
		return;
	}
	if (core_run_state(fs.core, INO_ID(h->ino), &state) ||
	    run_state_terminal(state) || state == RS_CREATED) {
		if (ph)
			fuse_pollhandle_destroy(ph);
		fuse_reply_poll(req, POLLIN);
		return;
	}
	if (ph) {
		struct fuse_pollhandle *old = NULL;

		/*
		 * One handle per open file: the kernel asks again at every
		 * poll() and one notification wakes them all, so the newest
		 * replaces the one before.
		 */
		pthread_mutex_lock(&fs.lock);
		for (p = fs.pollers; p && p->fh != h; p = p->next)
			;
		if (p) {
			old = p->ph;
			p->ph = ph;
		} else {
			p = xcalloc(1, sizeof(*p));
			p->ph = ph;
			p->run_id = INO_ID(h->ino);
			p->fh = h;
			p->next = fs.pollers;
			fs.pollers = p;
		}
		pthread_mutex_unlock(&fs.lock);
		if (old)
			fuse_pollhandle_destroy(old);
	}
	fuse_reply_poll(req, 0);
	if (ph)
		wake_waiters(INO_ID(h->ino));
}

/* ---- create, unlink, rename, setattr ---- */

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	fuse_ino_t ino;
	struct fh *h;
	double timeout;
	int err, r;

	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	ino = fs_resolve(parent, name);
	if (!ino) {
		if (!scratch_parent_ok(parent)) {
			fuse_reply_err(req, parent == INO_EXPERIMENTS ||
				       INO_KIND(parent) == K_EXP ? EPERM : EACCES);
			return;
		}
		if (!scratch_name_ok(name)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		pthread_mutex_lock(&fs.lock);
		ino = scratch_new_locked(parent, name, mode);
		pthread_mutex_unlock(&fs.lock);
		if (!ino) {
			fuse_reply_err(req, ENOSPC);
			return;
		}
	} else if (fi->flags & O_EXCL) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	h = open_write(ino, fi->flags | O_TRUNC, &err);
	if (!h) {
		fuse_reply_err(req, err);
		return;
	}
	if (h->kind == FH_SCRATCH && parent == INO_TEMPLATES) {
		/*
		 * A new NAME.json is a scratch file until its close stores it
		 * as a template: `touch` or a failed write leaves nothing.
		 */
		size_t n = strlen(name);

		if (n > 5 && !strcmp(name + n - 5, ".json") &&
		    n - 5 <= TFS_NAME_MAX) {
			memcpy(h->name, name, n - 5);
			h->name[n - 5] = '\0';
			h->tpl_pending = name_valid(h->name);
		}
	}
	memset(&e, 0, sizeof(e));
	r = fs_stat(ino, &e.attr, &timeout);
	if (r) {
		fh_free(h);
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	e.ino = ino;
	e.attr_timeout = timeout;
	e.entry_timeout = DIR_TIMEOUT;
	fi->direct_io = 1;
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, &e, fi) != 0)
		fh_free(h);      /* no release will come */
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	fuse_ino_t ino = fs_resolve(parent, name);
	struct core_tpl_info ti;
	struct scratch *s;

	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (!ino) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (INO_KIND(ino) == K_SCRATCH) {
		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(ino);
		if (s)
			scratch_free_locked(s);
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, 0);
		return;
	}
	if (INO_KIND(ino) == K_TPL &&
	    !core_tpl_get(fs.core, INO_ID(ino), &ti)) {
		fuse_reply_err(req, fs_errno(core_tpl_remove(fs.core, ti.name)));
		return;
	}
	fuse_reply_err(req, ended_part(ino, 0) ? 0 : EPERM);
}

/* Links would let a name here mean a file elsewhere: never made. */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	(void)parent;
	core_event(fs.core, "ln -s refused: '%.200s': symbolic links cannot "
		   "be made in trainfs", name);
	fuse_reply_err(req, EPERM);
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	core_event(fs.core, "ln refused: '%.200s': hard links cannot be made "
		   "in trainfs", newname);
	fuse_reply_err(req, EPERM);
}

/* Takes the content of scratch file ino (caller frees). */
static char *scratch_take(fuse_ino_t ino, size_t *len)
{
	struct scratch *s;
	char *p = NULL;

	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(ino);
	if (s) {
		p = xmalloc(s->data.len + 1);
		memcpy(p, s->data.p ? s->data.p : "", s->data.len);
		p[s->data.len] = '\0';
		*len = s->data.len;
	}
	pthread_mutex_unlock(&fs.lock);
	return p;
}

/* Turns scratch file ino into an alias of target, after a rename. */
static void scratch_become(fuse_ino_t ino, fuse_ino_t target)
{
	struct scratch *s, *oldest = NULL;

	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(ino);
	if (s) {
		buf_release(&s->data);
		s->alias = target;
		fs.nscratch--;
		fs.naliases++;
	}
	if (fs.naliases > ALIAS_MAX) {
		for (s = fs.scratch; s; s = s->next)
			if (s->alias)
				oldest = s;   /* the list is newest first */
		if (oldest)
			scratch_free_locked(oldest);
	}
	pthread_mutex_unlock(&fs.lock);
}

/*
 * Stores a new template written through its scratch file (see op_create):
 * the file becomes the template, or, when refused, nothing is left of it.
 * Once per handle.
 */
static int tpl_scratch_store(struct fh *h)
{
	char reason[CONFIG_REASON_MAX];
	struct core_tpl_info ti;
	struct scratch *s;
	size_t len = 0;
	int64_t id;
	char *text;
	int r;

	h->tpl_pending = 0;
	text = scratch_take(h->ino, &len);
	if (!text)
		return TFS_OK;   /* renamed or removed meanwhile */
	if (h->too_big) {
		core_event(fs.core, "template '%s' refused: larger than 1 MiB",
			   h->name);
		r = TFS_EFBIG;
	} else {
		r = core_tpl_put(fs.core, h->name, text, len, &id, reason,
				 sizeof(reason));
	}
	free(text);
	if (!r && !core_tpl_lookup(fs.core, h->name, &ti)) {
		scratch_become(h->ino, INO(K_TPL, ti.id, 0));
		return TFS_OK;
	}
	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(h->ino);
	if (s)
		scratch_free_locked(s);
	pthread_mutex_unlock(&fs.lock);
	return r ? r : TFS_EIO;
}

/* The last close of a new template or a config left nothing written. */
static void release_unwritten(struct fh *h)
{
	struct scratch *s;

	if (h->kind == FH_SCRATCH && h->tpl_pending) {
		core_event(fs.core, "template '%s' refused: nothing was "
			   "written (a template is made by writing it)",
			   h->name);
		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(h->ino);
		if (s)
			scratch_free_locked(s);
		pthread_mutex_unlock(&fs.lock);
	}
	if (h->kind == FH_CONFIG && h->truncated)
		core_run_note(fs.core, INO_ID(h->ino), "config rejected: config "
			      "is empty (nothing was written)");
}

/*
 * A rename to another directory. A run moves to another experiment's runs/
 * whole (core_run_move()). A scratch file is just bytes: EXDEV lets mv copy
 * it. Anything else is refused with EPERM, not EXDEV: on EXDEV mv falls
 * back to copying, which here would make a stray run and half its files.
 */
static void rename_across(fuse_req_t req, fuse_ino_t parent, const char *name,
			  fuse_ino_t newparent, const char *newname,
			  unsigned int flags)
{
	char reason[CONFIG_REASON_MAX];
	fuse_ino_t src = fs_resolve(parent, name);

	(void)flags;
	if (!src) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (INO_KIND(parent) == K_EXP && INO_SLOT(parent) == ES_RUNS &&
	    INO_KIND(newparent) == K_EXP && INO_SLOT(newparent) == ES_RUNS) {
		/* an existing run is never replaced, as rename(2) of a
		 * non-empty directory is not */
		fuse_reply_err(req, fs_resolve(newparent, newname) ? EEXIST :
			       fs_errno(core_run_move(fs.core, INO_ID(parent),
						      name, INO_ID(newparent),
						      newname, reason,
						      sizeof(reason))));
		return;
	}
	if (INO_KIND(src) == K_SCRATCH && scratch_parent_ok(newparent)) {
		fuse_reply_err(req, EXDEV);
		return;
	}
	core_event(fs.core, "rename refused: '%.200s' cannot move to another "
		   "directory (only a run moves, between experiments' runs/)",
		   name);
	fuse_reply_err(req, EPERM);
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	fuse_ino_t src, dst;
	char reason[CONFIG_REASON_MAX];
	int k = INO_KIND(parent), slot = INO_SLOT(parent), r;

	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (flags & ~RENAME_NOREPLACE) {
		fuse_reply_err(req, EINVAL);
		return;
	}
	if (parent != newparent) {
		rename_across(req, parent, name, newparent, newname, flags);
		return;
	}
	src = fs_resolve(parent, name);
	if (!src) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	dst = fs_resolve(parent, newname);
	if (dst == src) {
		fuse_reply_err(req, 0);
		return;
	}
	if (dst && (flags & RENAME_NOREPLACE)) {
		fuse_reply_err(req, EEXIST);
		return;
	}
	if (parent == INO_EXPERIMENTS) {
		fuse_reply_err(req, fs_errno(dst ? TFS_EEXIST :
				core_exp_rename(fs.core, name, newname)));
		return;
	}
	if (k == K_EXP && slot == ES_RUNS) {
		fuse_reply_err(req, fs_errno(dst ? TFS_EEXIST :
				core_run_rename(fs.core, INO_ID(parent), name,
						newname, reason,
						sizeof(reason))));
		return;
	}
	if (!scratch_parent_ok(parent)) {
		fuse_reply_err(req, EPERM);
		return;
	}
	if (INO_KIND(src) != K_SCRATCH) {
		/* generated files and templates keep their names */
		fuse_reply_err(req, EPERM);
		return;
	}
	if (dst && INO_KIND(dst) == K_SCRATCH) {
		struct scratch *s, *d;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(src);
		d = scratch_by_ino(dst);
		if (s && d) {
			/* as rename(2): the name now means the source inode */
			free(s->name);
			s->name = xstrdup(d->name);
			scratch_free_locked(d);
		}
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, 0);
		return;
	}
	if (!dst && parent != INO_TEMPLATES) {
		struct scratch *s;

		if (!scratch_name_ok(newname)) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(src);
		if (s) {
			free(s->name);
			s->name = xstrdup(newname);
		}
		pthread_mutex_unlock(&fs.lock);
		fuse_reply_err(req, 0);
		return;
	}
	if (parent == INO_TEMPLATES) {
		/* saving a template through a temporary file */
		size_t n = strlen(newname), len = 0;
		char tn[TFS_NAME_MAX + 8], *text;
		struct core_tpl_info ti;
		int64_t id;

		if (n <= 5 || n - 5 > TFS_NAME_MAX ||
		    strcmp(newname + n - 5, ".json")) {
			fuse_reply_err(req, EINVAL);
			return;
		}
		memcpy(tn, newname, n - 5);
		tn[n - 5] = '\0';
		text = scratch_take(src, &len);
		r = text ? core_tpl_put(fs.core, tn, text, len, &id, reason,
					sizeof(reason)) : TFS_ENOENT;
		free(text);
		if (!r && !core_tpl_lookup(fs.core, tn, &ti))
			scratch_become(src, INO(K_TPL, ti.id, 0));
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	if (INO_KIND(dst) == K_RUN && INO_SLOT(dst) == RS_CONFIG) {
		size_t len = 0;
		char *text = scratch_take(src, &len);

		r = text ? core_run_submit(fs.core, INO_ID(dst), text, len,
					   reason, sizeof(reason)) : TFS_ENOENT;
		free(text);
		if (!r)
			scratch_become(src, dst);
		fuse_reply_err(req, fs_errno(r));
		return;
	}
	fuse_reply_err(req, EPERM);
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct fh *h = fi ? (struct fh *)(uintptr_t)fi->fh : NULL;
	int k, slot;
	struct stat st;
	double timeout;
	int r;

	ino = alias_of(ino);
	k = INO_KIND(ino);
	slot = INO_SLOT(ino);
	if (!may_modify(req)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (k == K_SCRATCH) {
		struct scratch *s;

		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(ino);
		if (s && (to_set & FUSE_SET_ATTR_SIZE)) {
			if ((size_t)attr->st_size <= s->data.len)
				s->data.len = (size_t)attr->st_size;
			else
				buf_write_at(&s->data, "", 0, attr->st_size);
			if (s->data.p)
				s->data.p[s->data.len] = '\0';
		}
		if (s && (to_set & FUSE_SET_ATTR_MODE))
			s->mode = attr->st_mode & 07777;
		if (s)
			s->mtime_ms = now_ms();
		pthread_mutex_unlock(&fs.lock);
	} else if (to_set & FUSE_SET_ATTR_SIZE) {
		/* truncation of the writable files: O_TRUNC and `>` */
		if (h && (h->kind == FH_CONFIG || h->kind == FH_DESC ||
			  h->kind == FH_TPL)) {
			if ((size_t)attr->st_size < h->data.len) {
				h->data.len = (size_t)attr->st_size;
				h->data.p[h->data.len] = '\0';
			}
			h->dirty = 1;
			if (h->kind == FH_CONFIG) {
				memset(&h->scan, 0, sizeof(h->scan));
				h->refused = 0;
			}
		} else if (k == K_RUN && slot == RS_CONFIG) {
			struct core_run_info ri;

			if (!core_run_get(fs.core, INO_ID(ino), &ri) &&
			    ri.submitted) {
				fuse_reply_err(req, EBUSY);
				return;
			}
		} else if (!(k == K_RUN && slot == RS_CTL) &&
			   !(k == K_EXP && (slot == ES_DESCRIPTION ||
					    slot == ES_OBJECTIVE)) &&
			   k != K_TPL) {
			fuse_reply_err(req, EACCES);
			return;
		}
	}
	r = fs_stat(ino, &st, &timeout);
	if (r)
		fuse_reply_err(req, fs_errno(r));
	else
		fuse_reply_attr(req, &st, timeout);
}

static void reply_xattr(fuse_req_t req, const char *val, size_t len,
			size_t size)
{
	if (size == 0)
		fuse_reply_xattr(req, len);
	else if (size < len)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, val, len);
}

/*
 * user.sha256: the hash the manifest promises, known without a download;
 * user.trainfs.state: remote, downloading N/M, verified or corrupt.
 */
static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct core_art_info ai;
	struct buf b = BUF_INIT(0);

	/*
	 * Only user.* exists here. ENOTSUP (not ENODATA) for the others lets
	 * ls and friends remember, per filesystem, that there are no ACLs or
	 * security labels to ask for: otherwise `ls -l` costs three more
	 * round trips per entry.
	 */
	if (strncmp(name, "user.", 5)) {
		fuse_reply_err(req, ENOTSUP);
		return;
	}
	ino = alias_of(ino);
	if (!may_read(req, ino)) {
		fuse_reply_err(req, EACCES);
		return;
	}
	if (INO_KIND(ino) != K_ART || core_art_get(fs.core, INO_ID(ino), &ai) ||
	    ai.is_dir) {
		fuse_reply_err(req, ENODATA);
		return;
	}
	if (!strcmp(name, "user.sha256")) {
		reply_xattr(req, ai.sha256, 64, size);
	} else if (!strcmp(name, "user.trainfs.state")) {
		if (core_art_state_text(fs.core, ai.id, &b))
			fuse_reply_err(req, ENODATA);
		else
			reply_xattr(req, b.p, b.len, size);
		buf_release(&b);
	} else {
		fuse_reply_err(req, ENODATA);
	}
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	static const char names[] = "user.sha256\0user.trainfs.state";
	struct core_art_info ai;

	ino = alias_of(ino);
	if (!may_read(req, ino))
		fuse_reply_err(req, EACCES);
	else if (INO_KIND(ino) != K_ART ||
		 core_art_get(fs.core, INO_ID(ino), &ai) || ai.is_dir)
		reply_xattr(req, "", 0, size);
	else
		reply_xattr(req, names, sizeof(names), size);
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	fuse_reply_err(req, ENOTSUP);
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	fuse_reply_statfs(req, &sv);
}

/* Splicing for artifact reads, where the kernel can. */
static void op_init(void *userdata, struct fuse_conn_info *conn)
{
	(void)userdata;
	if (conn->capable & FUSE_CAP_SPLICE_WRITE)
		conn->want |= FUSE_CAP_SPLICE_WRITE;
	if (conn->capable & FUSE_CAP_SPLICE_MOVE)
		conn->want |= FUSE_CAP_SPLICE_MOVE;
}

static const struct fuse_lowlevel_ops fs_ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.setattr = op_setattr,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.mkdir = op_mkdir,
	.rmdir = op_rmdir,
	.create = op_create,
	.unlink = op_unlink,
	.symlink = op_symlink,
	.link = op_link,
	.rename = op_rename,
	.open = op_open,
	.read = op_read,
	.write = op_write,
	.flush = op_flush,
	.release = op_release,
	.poll = op_poll,
	.statfs = op_statfs,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.setxattr = op_setxattr,
};

/* ---- main ---- */

struct options {
	char *state;
	char *config;
	char *cache_size;
	int poll_ms;                /* POLL_MS_UNSET unless given */
	int nonempty;
	int share_read;
	int show_help;
	int show_version;
};

#define POLL_MS_UNSET INT_MIN

#define OPT(t, p) { t, offsetof(struct options, p), 1 }
static const struct fuse_opt opt_spec[] = {
	OPT("--state=%s", state),
	OPT("--state %s", state),
	OPT("--config=%s", config),
	OPT("--config %s", config),
	OPT("poll_ms=%d", poll_ms),
	OPT("cache_size=%s", cache_size),
	OPT("nonempty", nonempty),
	OPT("share_read", share_read),
	OPT("-h", show_help),
	OPT("--help", show_help),
	OPT("-V", show_version),
	OPT("--version", show_version),
	FUSE_OPT_END
};

static void fs_log(enum fuse_log_level level, const char *fmt, va_list ap)
{
	char msg[1024];

	if ((int)level > log_get_level())
		return;
	vsnprintf(msg, sizeof(msg), fmt, ap);
	msg[strcspn(msg, "\n")] = '\0';
	log_msg((int)level, "fuse: %s", msg);
}

static char *default_dir(const char *xdg, const char *fallback,
			 const char *leaf)
{
	const char *base = getenv(xdg), *home = getenv("HOME");
	char p[PATH_MAX];

	if (base && *base)
		snprintf(p, sizeof(p), "%s/trainfs%s", base, leaf);
	else
		snprintf(p, sizeof(p), "%s/%s/trainfs%s", home ? home : "/tmp",
			 fallback, leaf);
	return xstrdup(p);
}

static void usage(const char *prog)
{
	printf("usage: %s [options] MOUNTPOINT\n\n"
	       "    --state DIR       state directory (default "
	       "$XDG_STATE_HOME/trainfs)\n"
	       "    --config FILE     daemon config (default "
	       "$XDG_CONFIG_HOME/trainfs/config.json)\n"
	       "    -o poll_ms=N      provider poll period in ms (default 500)\n"
	       "    -o cache_size=N   artifact cache cap, e.g. 20G (default 10G)\n"
	       "    -o allow_other    let other users see runs and their state\n"
	       "    -o share_read     ... and read what runs hold (logs, "
	       "configs, artifacts)\n"
	       "    -o nonempty       mount over a directory that has files\n"
	       "    -f                stay in the foreground\n"
	       "    -d                debug output (implies -f)\n\n", prog);
}

/* ---- the state directory's lock, stale mounts ---- */

#define STATE_LOCK_WAIT_MS 10000     /* for a holder on its way out */
#define FUSE_MAGIC 0x65735546

/* 1 when path is a FUSE mount that answers now. */
static int fs_mounted(const char *path)
{
	struct statfs sf;

	return statfs(path, &sf) == 0 && sf.f_type == FUSE_MAGIC;
}

/* Writes "PID MOUNTPOINT" into the lock file, for a refused daemon. */
static void state_lock_note(int fd, const char *mnt)
{
	char line[PATH_MAX + 32];
	int n = snprintf(line, sizeof(line), "%d %s\n", (int)getpid(), mnt);

	if (ftruncate(fd, 0) < 0 || pwrite(fd, line, (size_t)n, 0) != n)
		log_msg(LOG_WARNING, "cannot write the state lock file");
}

/*
 * Takes the state directory for the daemon's life: an flock on
 * STATE/lock, which the kernel lets go of however the daemon ends. The
 * file names the holder's pid and mountpoint. A holder whose mount is gone
 * is on its way out (fusermount3 -u returns before that daemon has closed
 * its store), so it is waited for a bounded while rather than refused.
 * Returns the lock's descriptor, or -1 with err set.
 */
static int state_lock(const char *state, const char *mnt, char *err,
		      size_t errlen)
{
	int64_t until = mono_ms() + STATE_LOCK_WAIT_MS;
	char p[PATH_MAX];
	int fd;

	snprintf(p, sizeof(p), "%s/lock", state);
	if (mkdir_p(state, 0700) < 0 ||
	    (fd = open(p, O_RDWR | O_CREAT | O_CLOEXEC, 0600)) < 0) {
		snprintf(err, errlen, "cannot open '%.300s': %s", p,
			 strerror(errno));
		return -1;
	}
	while (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		char line[PATH_MAX + 32], hmnt[PATH_MAX] = "";
		struct timespec ts = { 0, 50 * 1000000L };
		ssize_t n;
		int pid = 0;

		if (errno != EWOULDBLOCK && errno != EINTR) {
			snprintf(err, errlen, "cannot lock '%.300s': %s", p,
				 strerror(errno));
			close(fd);
			return -1;
		}
		n = pread(fd, line, sizeof(line) - 1, 0);
		line[n > 0 ? n : 0] = '\0';
		if (sscanf(line, "%d %4095[^\n]", &pid, hmnt) < 1)
			pid = 0;
		if (mono_ms() > until || (hmnt[0] && fs_mounted(hmnt))) {
			snprintf(err, errlen, "state directory '%.300s' in use by "
				 "pid %d", state, pid);
			close(fd);
			return -1;
		}
		nanosleep(&ts, NULL);
	}
	state_lock_note(fd, mnt);
	return fd;
}

/*
 * A daemon that died leaves its mount behind: every access to it fails
 * with ENOTCONN, and so would our mount over it. It is detached lazily (a
 * shell may still sit in it). Returns 0, or -1 when it cannot be.
 */
static int clean_stale_mount(const char *mnt)
{
	struct statfs sf;
	pid_t pid;
	int status;

	/* statfs, not stat: the kernel may answer stat from attributes it
	 * cached before the daemon died */
	if (statfs(mnt, &sf) == 0 || errno != ENOTCONN)
		return 0;
	log_msg(LOG_NOTICE, "'%s' is a stale mount left by a daemon that "
		"died: unmounting it", mnt);
	if (umount2(mnt, MNT_DETACH) == 0)
		return 0;
	pid = fork();           /* not root: the setuid helper may */
	if (pid == 0) {
		execlp("fusermount3", "fusermount3", "-u", "-z", "--", mnt,
		       (char *)NULL);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) ||
	    WEXITSTATUS(status)) {
		log_msg(LOG_ERR, "cannot unmount the stale mount on '%s'", mnt);
		return -1;
	}
	return 0;
}

/*
 * A mount point that is a file mounts broken, and one with files in it
 * hides them without a word: both are refused with the reason, the second
 * unless -o nonempty (sshfs's word). Returns 0 or -1 after printing.
 */
static int mountpoint_check(const char *path, int nonempty)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int files = 0;

	if (stat(path, &st) < 0) {
		/* a mount left by a crash is for the mount code to handle */
		if (errno == ENOTCONN)
			return 0;
		fprintf(stderr, "trainfs: cannot use mountpoint '%s': %s\n",
			path, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		fprintf(stderr, "trainfs: mountpoint '%s' is not a directory\n",
			path);
		return -1;
	}
	if (nonempty)
		return 0;
	d = opendir(path);
	if (!d)
		return 0;       /* mount(2) says why, if it fails */
	while (!files && (de = readdir(d)))
		files = strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	closedir(d);
	if (files) {
		fprintf(stderr, "trainfs: mountpoint '%s' is not empty: the "
			"mount would hide its files; add -o nonempty to mount "
			"anyway\n", path);
		return -1;
	}
	return 0;
}

/*
 * The end of the daemon, once the session loop has returned (SIGTERM, or
 * an unmount): parked requests are answered while the session can still
 * carry the answers (core_stop answers artifact reads, then `wait` reads
 * and polls here), the store is closed and the lock let go, and only then
 * is the mount taken down, so that whoever waits for the mount to vanish
 * may start the next daemon at once.
 */
static void fs_shutdown(void)
{
	struct waiter *w;
	struct poller_h *p;

	core_set_listener(fs.core, NULL, NULL);
	if (fs.notifier_started) {
		pthread_mutex_lock(&fs.qlock);
		fs.qstop = 1;
		pthread_cond_signal(&fs.qcond);
		pthread_mutex_unlock(&fs.qlock);
		pthread_join(fs.notifier, NULL);
		fs.notifier_started = 0;
	}
	core_stop(fs.core);
	pthread_mutex_lock(&fs.lock);
	w = fs.waiters;
	fs.waiters = NULL;
	p = fs.pollers;
	fs.pollers = NULL;
	pthread_mutex_unlock(&fs.lock);
	while (w) {
		struct waiter *next = w->next;

		fuse_reply_err(w->req, ENOTCONN);    /* as art_finish says */
		free(w);
		w = next;
	}
	while (p) {
		struct poller_h *next = p->next;

		fuse_pollhandle_destroy(p->ph);
		free(p);
		p = next;
	}
	/* files still open get no release from a session that ended */
	while (fs.fhs)
		fh_free(fs.fhs);
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts cmd;
	struct options opts = { .poll_ms = POLL_MS_UNSET };
	struct core_opts co = { 0 };
	char err[512];
	struct core *core;
	int ret = 1, i, lock_fd = -1;

	for (i = 1; i < argc; i++)
		if (strstr(argv[i], "allow_other"))
			fs.allow_other = 1;
	if (fuse_opt_parse(&args, &opts, opt_spec, NULL) == -1)
		return 1;
	if (fuse_parse_cmdline(&args, &cmd) != 0)
		return 1;
	if (opts.show_help || cmd.show_help) {
		usage(argv[0]);
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version || cmd.show_version) {
		printf("trainfs 0.1\n");
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (!cmd.mountpoint) {
		usage(argv[0]);
		goto out_args;
	}
	if (cmd.debug)
		log_set_level(LOG_DEBUG);
	fuse_set_log_func(fs_log);
	if (opts.poll_ms != POLL_MS_UNSET &&
	    (opts.poll_ms < 10 || opts.poll_ms > 600000)) {
		fprintf(stderr, "trainfs: poll_ms must be an integer from 10 to "
			"600000 (milliseconds), not %d\n", opts.poll_ms);
		goto out_args;
	}
	/* a config named on the command line must be there; only the
	 * default one may be missing (then the embedded default holds) */
	if (opts.config && access(opts.config, R_OK) < 0) {
		fprintf(stderr, "trainfs: cannot read config '%s': %s\n",
			opts.config, strerror(errno));
		goto out_args;
	}
	if (mountpoint_check(cmd.mountpoint, opts.nonempty))
		goto out_args;
	fs.share_read = opts.share_read;
	if (!opts.state)
		opts.state = default_dir("XDG_STATE_HOME", ".local/state", "");
	if (!opts.config)
		opts.config = default_dir("XDG_CONFIG_HOME", ".config",
					  "/config.json");
	fs.start_ms = now_ms();
	fs.uid = getuid();
	fs.gid = getgid();
	pthread_mutex_init(&fs.lock, NULL);
	pthread_mutex_init(&fs.qlock, NULL);
	pthread_cond_init(&fs.qcond, NULL);

	lock_fd = state_lock(opts.state, cmd.mountpoint, err, sizeof(err));
	if (lock_fd < 0) {
		fprintf(stderr, "trainfs: %s\n", err);
		goto out_args;
	}
	if (clean_stale_mount(cmd.mountpoint))
		goto out_args;
	co.state_dir = opts.state;
	co.config_file = opts.config;
	co.poll_ms = opts.poll_ms == POLL_MS_UNSET ? 0 : opts.poll_ms;
	if (opts.cache_size) {
		char *end;
		double v = strtod(opts.cache_size, &end);

		switch (*end) {
		case 'k': case 'K': v *= 1024; end++; break;
		case 'm': case 'M': v *= 1048576; end++; break;
		case 'g': case 'G': v *= 1073741824.0; end++; break;
		case 't': case 'T': v *= 1099511627776.0; end++; break;
		}
		if (end == opts.cache_size || *end || v < 1) {
			fprintf(stderr, "trainfs: bad cache_size '%s': use bytes "
				"or a K, M, G, T suffix\n", opts.cache_size);
			goto out_args;
		}
		co.cache_size = (int64_t)v;
	}
	core = core_open(&co, err, sizeof(err));
	if (!core) {
		fprintf(stderr, "trainfs: %s\n", err);
		goto out_args;
	}
	fs.core = core;
	/*
	 * No default_permissions: the kernel would answer EACCES for a
	 * submitted (0444) config.json, where the contract says EBUSY. The
	 * mount is private to its user anyway unless -o allow_other, and then
	 * may_modify() keeps others to reading.
	 */
	if (fuse_opt_add_arg(&args, "-ofsname=trainfs,subtype=trainfs"))
		goto out_core;
	fs.se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), NULL);
	if (!fs.se)
		goto out_core;
	if (fuse_set_signal_handlers(fs.se) != 0)
		goto out_session;
	if (fuse_session_mount(fs.se, cmd.mountpoint) != 0)
		goto out_signals;
	/* threads do not survive the fork of daemonizing: start them after */
	fuse_daemonize(cmd.foreground);
	state_lock_note(lock_fd, cmd.mountpoint);    /* the child's pid */
	core_set_listener(core, listener, NULL);
	if (pthread_create(&fs.notifier, NULL, notifier_main, NULL) == 0)
		fs.notifier_started = 1;
	if (core_start(core)) {
		log_msg(LOG_ERR, "cannot start the poller");
		goto out_unmount;
	}
	log_msg(LOG_INFO, "mounted on '%s', state in '%s'", cmd.mountpoint,
		opts.state);
	/* a signal number is how libfuse says SIGTERM or SIGINT ended it:
	 * a clean end, as an unmount is */
	ret = fuse_session_loop(fs.se) < 0 ? 1 : 0;
out_unmount:
	fs_shutdown();
	core_close(core);
	core = NULL;
	close(lock_fd);
	lock_fd = -1;
	fuse_session_unmount(fs.se);
	while (fs.scratch)
		scratch_free_locked(fs.scratch);
	free(fs.q);
out_signals:
	fuse_remove_signal_handlers(fs.se);
out_session:
	fuse_session_destroy(fs.se);
out_core:
	core_close(core);
out_args:
	if (lock_fd >= 0)
		close(lock_fd);
	free(cmd.mountpoint);
	free(opts.state);
	free(opts.config);
	free(opts.cache_size);
	fuse_opt_free_args(&args);
	return ret;
}
