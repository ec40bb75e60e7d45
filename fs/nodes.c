/*
 * nodes.c - one table entry per kind of node, in the spirit of tmux's one
 * cmd_entry per command: how each kind of file or directory of the tree
 * answers stat, lookup, listing, open, read, write, close and the rest.
 * ops.c's handlers find the entry of an inode with node_of() and call it;
 * kinds that behave alike share functions (every generated file of a run
 * is one function driven by its entry's fields). A new kind is one new
 * entry, and a slot or kind in nodes[] below.
 *
 * Every changing file is served with direct_io and a zero attribute
 * timeout; directories are cached for a second, and park.c invalidates
 * them as core reports changes.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

static const char readme_text[] =
	"trainfs - ML training runs as files\n"
	"\n"
	"  mkdir experiments/EXP                 create an experiment\n"
	"  mkdir experiments/EXP/runs/RUN        create a run (state: created)\n"
	"  cp cfg.json experiments/EXP/runs/RUN/config.json   submit it\n"
	"  cat  .../RUN/status                   queued, running, completed...\n"
	"  tail -f .../RUN/log                   the job's output\n"
	"  cat  .../RUN/metrics                  latest value of each metric\n"
	"  open .../RUN/metrics.svg              each metric against step\n"
	"  open experiments/EXP/compare.svg      runs by the objective, best\n"
	"                                        so far\n"
	"  echo cancel > .../RUN/ctl             cancel | pause | resume |\n"
	"                                        retry | priority N\n"
	"  cat  .../RUN/wait                     blocks until the run ends\n"
	"  cat  queue                            what waits, and why\n"
	"  cat  events                           refused names and the like\n"
	"  cat  scheduler                        scheduler statistics\n"
	"  cat  cost                             USD per provider, experiment\n"
	"  cat  stream                           every state change, live\n"
	"  cat  streams/EXP/all                  an experiment's, + metrics\n"
	"  cat  streams/EXP/runs/RUN             a run's, + metrics\n"
	"\n"
	"config.json keys: provider kind command workdir image env params\n"
	"resources priority depends_on inputs max_retries timeout_s template\n"
	"tags max_cost_usd. See README.md of trainfs for the whole contract.\n";

/* ---- attributes and listings, shared by every kind ---- */

void attr_init(struct stat *st, fuse_ino_t ino, mode_t mode, int64_t size,
	       int64_t mtime_ms)
{
	const struct node *n = node_of(ino);

	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	/* the modes say what may_read() enforces */
	if (others_kept_out() && (!n || (n->flags & NODE_PRIVATE)))
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

/*
 * Adds one entry; returns 1 when the buffer is full. For readdirplus, attr
 * gives the attributes when the caller has them (it may hold core's lock,
 * so it must not ask core again); otherwise they are looked up.
 */
int dir_add(struct dirfill *d, const char *name, fuse_ino_t ino,
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
			if (node_stat(ino, &e.attr, &timeout))
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

/* ---- handles ---- */

struct fh *fh_new(const struct node *n, fuse_ino_t ino)
{
	struct fh *h = xcalloc(1, sizeof(*h));

	h->fd = -1;
	h->node = n;
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

/* Frees h with what it holds: its buffer, an artifact's fd and pin. */
void fh_free(struct fh *h)
{
	pthread_mutex_lock(&fs.lock);
	if (h->prev)
		h->prev->next = h->next;
	else
		fs.fhs = h->next;
	if (h->next)
		h->next->prev = h->prev;
	pthread_mutex_unlock(&fs.lock);
	if (h->fd >= 0) {
		close(h->fd);
		core_art_release(fs.core, h->sha256);
	}
	buf_release(&h->data);
	free(h);
}

int buf_write_at(struct buf *b, const char *data, size_t size, off_t off)
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

int fh_flush_buffered(struct fh *h, int (*store)(struct fh *h))
{
	int r;

	if (h->too_big) {
		/* never submit the first MiB of a larger file */
		h->dirty = 0;
		return TFS_EFBIG;
	}
	if (!h->dirty)
		return TFS_OK;
	r = store ? store(h) : TFS_OK;
	h->dirty = 0;
	return r;
}

/* The text written so far, never NULL. */
const char *fh_text(const struct fh *h)
{
	return h->data.p ? h->data.p : "";
}

/* ---- files read whole: snapshots ---- */

/* a snapshot: one open sees one consistent content */
static int snapshot_open(const struct node *n, struct fh *h)
{
	h->data.max = 0;
	return n->content ? n->content(n, h->ino, &h->data) : TFS_ENOENT;
}

/*
 * Reads from the handle's buffer: a snapshot, or what a writer wrote.
 * Files that grow or change while open (events, queue) are taken again
 * when a reader reaches the end of its snapshot, or reads from the start
 * again (tail -f after a truncation), so `tail -f` sees new lines.
 */
static int buffer_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
		       int flags, struct read_ans *a)
{
	(void)req;
	(void)flags;
	if ((h->node->flags & NODE_LIVE) &&
	    ((size_t)off >= h->data.len || (off == 0 && h->read_once))) {
		buf_reset(&h->data);
		h->node->content(h->node, h->ino, &h->data);
	}
	h->read_once = 1;
	if ((size_t)off < h->data.len) {
		a->p = h->data.p + off;
		a->len = h->data.len - (size_t)off < size ?
			 h->data.len - (size_t)off : size;
	}
	return TFS_OK;
}

/* Nothing to take at open: the file is read at each offset. */
int fh_open_stream(const struct node *n, struct fh *h,
		   struct fuse_file_info *fi)
{
	(void)n;
	(void)h;
	(void)fi;
	return TFS_OK;
}

static int open_isdir(const struct node *n, struct fh *h,
		      struct fuse_file_info *fi)
{
	(void)n;
	(void)h;
	(void)fi;
	return FS_EISDIR;
}

/* ---- the fixed nodes ---- */

static int readme_content(const struct node *n, fuse_ino_t ino,
			  struct buf *b)
{
	(void)n;
	(void)ino;
	return buf_puts(b, readme_text);
}

static int queue_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	(void)n;
	(void)ino;
	return core_queue(fs.core, b);
}

static int events_content(const struct node *n, fuse_ino_t ino,
			  struct buf *b)
{
	(void)n;
	(void)ino;
	return core_events(fs.core, b);
}

static int scheduler_content(const struct node *n, fuse_ino_t ino,
			     struct buf *b)
{
	(void)n;
	(void)ino;
	return core_scheduler(fs.core, b);
}

/* cost: summed anew at each read, as the runs' costs grow, so dated now */
static int cost_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		     double *timeout)
{
	(void)timeout;
	return node_content_stat(n, ino, st, now_ms());
}

static int cost_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	(void)n;
	(void)ino;
	return core_cost(fs.core, b);
}

/* A directory whose attributes say nothing but that it is there. */
static int dir_now_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
			double *timeout)
{
	attr_init(st, ino, S_IFDIR | n->mode, 0, now_ms());
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

static int readme_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		       double *timeout)
{
	attr_init(st, ino, S_IFREG | n->mode, (int64_t)sizeof(readme_text) - 1,
		  fs.start_ms);
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

/* A generated file whose size is its content's, dated mtime. */
int node_content_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
			int64_t mtime)
{
	struct buf b = BUF_INIT(0);
	int r = n->content(n, ino, &b);

	attr_init(st, ino, S_IFREG | n->mode, (int64_t)b.len, mtime);
	buf_release(&b);
	return r;
}

static int queue_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		      double *timeout)
{
	(void)timeout;
	return node_content_stat(n, ino, st, core_queue_mtime(fs.core));
}

static int events_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		       double *timeout)
{
	(void)timeout;
	return node_content_stat(n, ino, st, core_events_mtime(fs.core));
}

/* A child among a directory's fixed entries: same kind and id, its slot. */
static fuse_ino_t child_ino(fuse_ino_t dir, int slot)
{
	return INO(INO_KIND(dir), INO_ID(dir), slot);
}

fuse_ino_t node_children_lookup(const struct node *n, fuse_ino_t dir,
				  const char *name)
{
	int i;

	for (i = 0; i < n->nchildren; i++) {
		fuse_ino_t ino = child_ino(dir, n->children[i]);
		const struct node *c = node_of(ino);

		if (!strcmp(name, c->name))
			return !c->present || c->present(ino) ? ino : 0;
	}
	return 0;
}

/*
 * The fixed entries at offsets 3 + their index. `wait`, `stream` and
 * `streams` block by design, so they are not listed: grep -r and cp -r walk
 * a run or the mount without stopping on them; they open by name.
 */
void node_children_list(const struct node *n, struct dirfill *d,
			  fuse_ino_t dir, off_t off)
{
	int i;

	for (i = 0; i < n->nchildren; i++) {
		fuse_ino_t ino = child_ino(dir, n->children[i]);
		const struct node *c = node_of(ino);

		if (!(c->flags & NODE_UNLISTED) && off < i + 3 &&
		    (!c->present || c->present(ino)) &&
		    dir_add(d, c->name, ino, c->type, i + 3, NULL, 0))
			return;
	}
}

/* ---- listings of what core names ---- */

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

/* ---- experiments/ ---- */

static fuse_ino_t exps_lookup(const struct node *n, fuse_ino_t dir,
			      const char *name)
{
	struct core_exp_info ei;

	(void)n;
	(void)dir;
	return core_exp_lookup(fs.core, name, &ei) ? 0 :
	       INO(K_EXP, ei.id, ES_DIR);
}

static void exps_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		      off_t off)
{
	(void)n;
	(void)dir;
	core_exp_list(fs.core, off > 2 ? off - 3 : 0, exp_fill, d);
}

static int exps_mkdir(fuse_ino_t dir, const char *name, fuse_ino_t *ino)
{
	int64_t id;
	int r;

	(void)dir;
	r = core_exp_create(fs.core, name, &id);
	if (!r)
		*ino = INO(K_EXP, id, ES_DIR);
	return r;
}

static int exps_rmdir(fuse_ino_t dir, const char *name)
{
	(void)dir;
	return core_exp_remove(fs.core, name);
}

static int exps_rename(fuse_ino_t dir, const char *name, const char *newname,
		       fuse_ino_t src, fuse_ino_t dst)
{
	(void)dir;
	(void)src;
	return dst ? TFS_EEXIST : core_exp_rename(fs.core, name, newname);
}

/* Files are made in experiments only by mkdir of runs. */
static int create_eperm(fuse_ino_t dir, const char *name, mode_t mode,
			fuse_ino_t *ino)
{
	(void)dir;
	(void)name;
	(void)mode;
	(void)ino;
	return FS_EPERM;
}

/* ---- exports/ ---- */

static int export_status_content(const struct node *n, fuse_ino_t ino,
				 struct buf *b)
{
	(void)n;
	(void)ino;
	return core_export_status(fs.core, b);
}

/* ---- providers/ ---- */

static fuse_ino_t provs_lookup(const struct node *n, fuse_ino_t dir,
			       const char *name)
{
	char pn[TFS_NAME_MAX + 1];
	int i;

	(void)n;
	(void)dir;
	for (i = 0; !core_provider_name(fs.core, i, pn); i++)
		if (!strcmp(pn, name))
			return INO(K_PROV, i + 1, PS_DIR);
	return 0;
}

static void provs_list(const struct node *n, struct dirfill *d,
		       fuse_ino_t dir, off_t off)
{
	char pn[TFS_NAME_MAX + 1];
	int i;

	(void)n;
	(void)dir;
	for (i = 0; !core_provider_name(fs.core, i, pn); i++)
		if (off < i + 3 && dir_add(d, pn, INO(K_PROV, i + 1, PS_DIR),
					    S_IFDIR, i + 3, NULL, 0))
			return;
}

static int prov_dir_stat(const struct node *n, fuse_ino_t ino,
			 struct stat *st, double *timeout)
{
	int64_t id = INO_ID(ino);

	if (id < 1 || id > core_provider_count(fs.core))
		return TFS_ENOENT;
	return dir_now_stat(n, ino, st, timeout);
}

static int prov_status_stat(const struct node *n, fuse_ino_t ino,
			    struct stat *st, double *timeout)
{
	int64_t id = INO_ID(ino);

	(void)timeout;
	if (id < 1 || id > core_provider_count(fs.core))
		return TFS_ENOENT;
	return node_content_stat(n, ino, st, now_ms());
}

static int prov_status_content(const struct node *n, fuse_ino_t ino,
			       struct buf *b)
{
	(void)n;
	return core_provider_status(fs.core, (int)INO_ID(ino) - 1, b);
}

/* ---- templates/ and its files ---- */

static fuse_ino_t tpls_lookup(const struct node *n, fuse_ino_t dir,
			      const char *name)
{
	size_t len = strlen(name);
	char tn[TFS_NAME_MAX + 1];
	struct core_tpl_info ti;

	(void)n;
	(void)dir;
	if (len > 5 && len - 5 <= TFS_NAME_MAX &&
	    !strcmp(name + len - 5, ".json")) {
		memcpy(tn, name, len - 5);
		tn[len - 5] = '\0';
		if (!core_tpl_lookup(fs.core, tn, &ti))
			return INO(K_TPL, ti.id, 0);
	}
	return 0;
}

static void tpls_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		      off_t off)
{
	(void)n;
	(void)dir;
	if (off < 1000000)
		core_tpl_list(fs.core, off > 2 ? off - 3 : 0, tpl_fill, d);
}

static int tpl_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		    double *timeout)
{
	struct core_tpl_info ti;
	int r;

	(void)timeout;
	r = core_tpl_get(fs.core, INO_ID(ino), &ti);
	if (r)
		return r;
	attr_init(st, ino, S_IFREG | n->mode, ti.size, ti.mtime_ms);
	return TFS_OK;
}

static int tpl_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	(void)n;
	return core_tpl_read(fs.core, INO_ID(ino), b);
}

static int tpl_open_write(const struct node *n, struct fh *h, int flags)
{
	struct core_tpl_info ti;
	int r;

	(void)n;
	r = core_tpl_get(fs.core, INO_ID(h->ino), &ti);
	if (r)
		return r;
	snprintf(h->name, sizeof(h->name), "%s", ti.name);
	if (!(flags & O_TRUNC))
		core_tpl_read(fs.core, ti.id, &h->data);
	return TFS_OK;
}

static int tpl_store(struct fh *h)
{
	char reason[CONFIG_REASON_MAX];
	int64_t id;

	return core_tpl_put(fs.core, h->name, fh_text(h), h->data.len, &id,
			    reason, sizeof(reason));
}

static int tpl_flush(struct fh *h)
{
	return fh_flush_buffered(h, tpl_store);
}

static int tpl_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	struct core_tpl_info ti;

	(void)n;
	if (dir || core_tpl_get(fs.core, INO_ID(ino), &ti))
		return FS_EPERM;
	return core_tpl_remove(fs.core, ti.name);
}

/* ---- buffered writers: config.json, ctl, description, templates ---- */

int node_buffered_write(struct fh *h, const char *data, size_t size,
			  off_t off)
{
	int r = buf_write_at(&h->data, data, size, off);

	if (!r)
		h->dirty = 1;
	if (r == TFS_EFBIG)
		h->too_big = 1;
	return r;
}

/*
 * Truncation of a buffered file, by O_TRUNC or `>`: the writer's buffer
 * when the call comes through its handle (1), else nothing to cut here (0).
 */
int node_buffered_truncate(fuse_ino_t ino, struct fh *h, off_t size)
{
	if (!h || !h->writing || h->ino != ino)
		return 0;
	if ((size_t)size < h->data.len) {
		h->data.len = (size_t)size;
		h->data.p[h->data.len] = '\0';
	}
	h->dirty = 1;
	return 1;
}

int node_buffered_setattr(const struct node *n, fuse_ino_t ino,
			    struct fh *h, const struct stat *attr, int to_set)
{
	(void)n;
	if (to_set & FUSE_SET_ATTR_SIZE)
		node_buffered_truncate(ino, h, attr->st_size);
	return TFS_OK;
}

/* ctl: a truncation (`>`) is accepted and cuts nothing */
int node_size_ok(const struct node *n, fuse_ino_t ino,
			   struct fh *h, const struct stat *attr, int to_set)
{
	(void)n;
	(void)ino;
	(void)h;
	(void)attr;
	(void)to_set;
	return TFS_OK;
}

/* ---- files submitted at close: config.json, sweep.json ---- */

int node_submit_open_write(const struct node *n, struct fh *h, int flags)
{
	int done = 0, r;

	r = n->sub->submitted(INO_ID(h->ino), &done);
	if (r)
		return r;
	if (done)
		return TFS_EBUSY;
	h->truncated = (flags & O_TRUNC) != 0;
	return TFS_OK;
}

/*
 * A shell ignores close()'s error, so `echo '{...}' > config.json` would
 * report success for a config that close() refused. As soon as the bytes
 * written so far form one complete JSON value, they are checked as close()
 * would check them, and a refusal fails this write() (with its reason in
 * the owner's events). close() still submits, and checks everything again.
 */
static int submit_write_check(struct fh *h, off_t off)
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
	r = h->node->sub->check(INO_ID(h->ino), h->data.p, h->data.len,
				reason, sizeof(reason));
	if (r == TFS_EINVAL || r == TFS_EFBIG)
		h->refused = r;
	return r;
}

int node_submit_write(struct fh *h, const char *data, size_t size, off_t off)
{
	int r = node_buffered_write(h, data, size, off);

	if (r == TFS_EFBIG) {
		char note[128];

		snprintf(note, sizeof(note), "%s rejected: larger than 1 MiB",
			 h->node->sub->what);
		h->node->sub->note(INO_ID(h->ino), note);
	}
	if (r)
		return r;
	h->truncated = 0;
	return submit_write_check(h, off);
}

static int submit_store(struct fh *h)
{
	char reason[CONFIG_REASON_MAX];

	/* a refusal's reason is in events already, from the write */
	if (h->refused)
		return h->refused;
	return h->node->sub->submit(INO_ID(h->ino), fh_text(h), h->data.len,
				    reason, sizeof(reason));
}

/*
 * A shell's `>` opens, dup2()s and closes the first descriptor before
 * anything is written, and that close flushes too; `cp /dev/null` and
 * `: >` flush an empty file, which is a refusal.
 */
int node_submit_flush(struct fh *h)
{
	if (h->truncated && !h->dirty && !h->too_big)
		return TFS_EINVAL;
	return fh_flush_buffered(h, submit_store);
}

/* The last close left nothing written. */
void node_submit_close(struct fh *h)
{
	char note[128];

	if (!h->truncated)
		return;
	snprintf(note, sizeof(note), "%s rejected: %s is empty (nothing was "
		 "written)", h->node->sub->what, h->node->sub->what);
	h->node->sub->note(INO_ID(h->ino), note);
}

int node_submit_setattr(const struct node *n, fuse_ino_t ino, struct fh *h,
			const struct stat *attr, int to_set)
{
	int done = 0;

	if (!(to_set & FUSE_SET_ATTR_SIZE))
		return TFS_OK;
	if (node_buffered_truncate(ino, h, attr->st_size)) {
		memset(&h->scan, 0, sizeof(h->scan));
		h->refused = 0;
		return TFS_OK;
	}
	if (!n->sub->submitted(INO_ID(ino), &done) && done)
		return TFS_EBUSY;
	return TFS_OK;
}

/* ---- ctl files: a run's, a sweep's ---- */

int node_ctl_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	(void)ino;
	return buf_puts(b, n->ctl->help);
}

int node_ctl_open_write(const struct node *n, struct fh *h, int flags)
{
	(void)n;
	(void)flags;
	h->data.max = CTL_MAX;
	return TFS_OK;
}

/* Carries out the whole lines at the head of h's ctl buffer. */
static int ctl_run_lines(struct fh *h, size_t n)
{
	char reason[512];
	int r;

	r = h->node->ctl->run(INO_ID(h->ino), h->data.p, n, reason,
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
int node_ctl_write(struct fh *h, const char *data, size_t size, off_t off)
{
	const char *nl;
	int r;

	(void)off;
	if (size > CTL_MAX - h->data.len) {
		char note[128];

		buf_reset(&h->data);
		snprintf(note, sizeof(note), "ctl refused: ctl command too "
			 "long (more than %d bytes)", CTL_MAX);
		h->node->ctl->note(INO_ID(h->ino), note);
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

static int ctl_store(struct fh *h)
{
	return h->data.len ? ctl_run_lines(h, h->data.len) : TFS_OK;
}

int node_ctl_flush(struct fh *h)
{
	return fh_flush_buffered(h, ctl_store);
}

/* ---- an experiment's nodes ---- */

/* Every node of an experiment: its attributes come from its record. */
static int exp_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		    double *timeout)
{
	struct core_exp_info ei;
	int r = core_exp_get(fs.core, INO_ID(ino), &ei);

	return r ? r : n->attr(n, ino, &ei, st, timeout);
}

static int exp_dir_attr(const struct node *n, fuse_ino_t ino, const void *rec,
			struct stat *st, double *timeout)
{
	const struct core_exp_info *ei = rec;

	attr_init(st, ino, S_IFDIR | n->mode, 0, ei->mtime_ms);
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

/* description, objective: dated by the experiment */
static int exp_text_attr(const struct node *n, fuse_ino_t ino,
			 const void *rec, struct stat *st, double *timeout)
{
	const struct core_exp_info *ei = rec;

	(void)timeout;
	return node_content_stat(n, ino, st, ei->mtime_ms);
}

/* leaderboard: ranked anew at each read, so dated now */
static int leaderboard_attr(const struct node *n, fuse_ino_t ino,
			    const void *rec, struct stat *st, double *timeout)
{
	(void)rec;
	(void)timeout;
	return node_content_stat(n, ino, st, now_ms());
}

static int description_content(const struct node *n, fuse_ino_t ino,
			       struct buf *b)
{
	(void)n;
	return core_exp_description(fs.core, INO_ID(ino), b);
}

static int objective_content(const struct node *n, fuse_ino_t ino,
			     struct buf *b)
{
	(void)n;
	return core_exp_objective(fs.core, INO_ID(ino), b);
}

static int leaderboard_content(const struct node *n, fuse_ino_t ino,
			       struct buf *b)
{
	(void)n;
	return core_exp_leaderboard(fs.core, INO_ID(ino), b);
}

/* compare.svg: dated by the last change of the experiment or its runs */
static int compare_attr(const struct node *n, fuse_ino_t ino,
			const void *rec, struct stat *st, double *timeout)
{
	struct buf b = BUF_INIT(0);
	int64_t mtime = 0;
	int r;

	(void)rec;
	(void)timeout;
	r = core_exp_compare_svg(fs.core, INO_ID(ino), &b, &mtime);
	attr_init(st, ino, S_IFREG | n->mode, (int64_t)b.len, mtime);
	buf_release(&b);
	return r;
}

static int compare_content(const struct node *n, fuse_ino_t ino,
			   struct buf *b)
{
	int64_t mtime;

	(void)n;
	return core_exp_compare_svg(fs.core, INO_ID(ino), b, &mtime);
}

static int exp_text_open_write(const struct node *n, struct fh *h, int flags)
{
	h->data.max = DESC_MAX;
	if (!(flags & O_TRUNC))
		n->content(n, h->ino, &h->data);
	return TFS_OK;
}

static int description_store(struct fh *h)
{
	return core_exp_set_description(fs.core, INO_ID(h->ino), fh_text(h),
					h->data.len);
}

static int objective_store(struct fh *h)
{
	char reason[CONFIG_REASON_MAX];

	return core_exp_set_objective(fs.core, INO_ID(h->ino), fh_text(h),
				      h->data.len, reason, sizeof(reason));
}

static int description_flush(struct fh *h)
{
	return fh_flush_buffered(h, description_store);
}

static int objective_flush(struct fh *h)
{
	return fh_flush_buffered(h, objective_store);
}

/*
 * `rm -rf` of an ended run (or of an experiment of ended runs) unlinks and
 * rmdirs everything it lists before the rmdir that removes the run. Those
 * are accepted and do nothing, so that last rmdir is the one that removes.
 * A run that waits or runs keeps refusing, as its own rmdir does.
 */
static int exp_file_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	(void)n;
	(void)ino;
	return dir ? FS_EPERM : TFS_OK;
}

static int runs_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	struct core_exp_info ei;

	(void)n;
	if (!dir)
		return FS_EPERM;
	return !core_exp_get(fs.core, INO_ID(ino), &ei) && ei.nruns == 0 ?
	       TFS_OK : TFS_ENOTEMPTY;
}

/* ---- runs/ ---- */

static fuse_ino_t runs_lookup(const struct node *n, fuse_ino_t dir,
			      const char *name)
{
	struct core_run_info ri;

	(void)n;
	return core_run_lookup(fs.core, INO_ID(dir), name, &ri) ? 0 :
	       INO(K_RUN, ri.id, RS_DIR);
}

static void runs_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		      off_t off)
{
	(void)n;
	core_run_list(fs.core, INO_ID(dir), off > 2 ? off - 3 : 0, run_fill, d);
}

static int runs_mkdir(fuse_ino_t dir, const char *name, fuse_ino_t *ino)
{
	char reason[512];
	int64_t id;
	int r;

	r = core_run_create(fs.core, INO_ID(dir), name, &id, reason,
			    sizeof(reason));
	if (!r)
		*ino = INO(K_RUN, id, RS_DIR);
	return r;
}

static int runs_rmdir(fuse_ino_t dir, const char *name)
{
	fuse_ino_t ino = node_resolve(dir, name);
	int r = core_run_remove(fs.core, INO_ID(dir), name);

	if (!r && ino)
		scratch_drop_run(INO_ID(ino));
	return r;
}

static int runs_rename(fuse_ino_t dir, const char *name, const char *newname,
		       fuse_ino_t src, fuse_ino_t dst)
{
	char reason[CONFIG_REASON_MAX];

	(void)src;
	return dst ? TFS_EEXIST :
	       core_run_rename(fs.core, INO_ID(dir), name, newname, reason,
			       sizeof(reason));
}

/* A run moves to another experiment's runs/ whole. */
static int runs_move(fuse_ino_t dir, const char *name, fuse_ino_t newdir,
		     const char *newname)
{
	char reason[CONFIG_REASON_MAX];

	/* an existing run is never replaced, as rename(2) of a non-empty
	 * directory is not */
	if (node_resolve(newdir, newname))
		return TFS_EEXIST;
	return core_run_move(fs.core, INO_ID(dir), name, INO_ID(newdir),
			     newname, reason, sizeof(reason));
}

/* ---- the table ---- */

static const unsigned char root_children[] = {
	INO_README, INO_COST, INO_EVENTS, INO_EXPERIMENTS, INO_EXPORTS,
	INO_PROVIDERS, INO_QUEUE, INO_SCHEDULER, INO_STREAM, INO_STREAMS,
	INO_TEMPLATES,
};
static const unsigned char exp_children[] = {
	ES_COMPARE, ES_DESCRIPTION, ES_LEADERBOARD, ES_OBJECTIVE, ES_RUNS,
	ES_SWEEPS,
};
static const unsigned char prov_children[] = { PS_STATUS };
static const unsigned char exports_children[] = { INO_EXPORTS_MLFLOW };
static const unsigned char mlflow_children[] = { INO_EXPORTS_MLFLOW_STATUS };

/* the fixed directories at the top */
#define TOP_DIR .type = S_IFDIR, .mode = 0755, .stat = dir_now_stat, \
	.open = open_isdir

static const struct node fixed_nodes[INO_FIXED_MAX] = {
	[INO_ROOT] = { NULL, TOP_DIR, CHILDREN(root_children),
		.lookup = node_children_lookup, .list = node_children_list },
	[INO_README] = { "README", .type = S_IFREG, .mode = 0444,
		.stat = readme_stat, .content = readme_content },
	[INO_EXPERIMENTS] = { "experiments", TOP_DIR,
		.lookup = exps_lookup, .list = exps_list, .mkdir = exps_mkdir,
		.rmdir = exps_rmdir, .rename = exps_rename,
		.create = create_eperm },
	[INO_PROVIDERS] = { "providers", TOP_DIR,
		.lookup = provs_lookup, .list = provs_list },
	[INO_QUEUE] = { "queue", .type = S_IFREG, .mode = 0444,
		.flags = NODE_LIVE, .stat = queue_stat,
		.content = queue_content },
	[INO_TEMPLATES] = { "templates", TOP_DIR,
		.flags = NODE_PRIVATE | NODE_SCRATCH,
		.lookup = tpls_lookup, .list = tpls_list,
		.create = scratch_create, .created = tpl_dir_created,
		.rename = tpl_dir_rename },
	[INO_EVENTS] = { "events", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE | NODE_LIVE, .stat = events_stat,
		.content = events_content },
	[INO_SCHEDULER] = { "scheduler", .type = S_IFREG, .mode = 0444,
		.stat = queue_stat, .content = scheduler_content },
	[INO_COST] = { "cost", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE, .stat = cost_stat,
		.content = cost_content },
	/* they block by design: opened by name, never listed, as wait */
	[INO_STREAM] = { "stream", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE | NODE_UNLISTED, .stat = streams_stat,
		.open = streams_open, .read = stream_file_read,
		.poll = stream_file_poll, .release = streams_close },
	[INO_STREAMS] = { "streams", TOP_DIR,
		.flags = NODE_PRIVATE | NODE_UNLISTED,
		.lookup = streams_lookup, .list = streams_list },
	[INO_EXPORTS] = { "exports", TOP_DIR, CHILDREN(exports_children),
		.lookup = node_children_lookup, .list = node_children_list },
	[INO_EXPORTS_MLFLOW] = { "mlflow", TOP_DIR,
		CHILDREN(mlflow_children), .lookup = node_children_lookup,
		.list = node_children_list },
	[INO_EXPORTS_MLFLOW_STATUS] = { "status", .type = S_IFREG,
		.mode = 0444, .stat = cost_stat,
		.content = export_status_content },
};

/* the text files of an experiment, read-write */
#define EXP_TEXT .type = S_IFREG, .mode = 0644, .flags = NODE_PRIVATE, \
	.stat = exp_stat, .attr = exp_text_attr, \
	.open_write = exp_text_open_write, .write = node_buffered_write, \
	.setattr = node_buffered_setattr, .remove = exp_file_remove

static const struct node exp_nodes[ES_MAX] = {
	[ES_DIR] = { NULL, .type = S_IFDIR, .mode = 0755,
		.stat = exp_stat, .attr = exp_dir_attr, CHILDREN(exp_children),
		.lookup = node_children_lookup, .list = node_children_list,
		.create = create_eperm },
	[ES_DESCRIPTION] = { "description", EXP_TEXT,
		.content = description_content, .flush = description_flush },
	[ES_RUNS] = { "runs", .type = S_IFDIR, .mode = 0755,
		.stat = exp_stat, .attr = exp_dir_attr,
		.lookup = runs_lookup, .list = runs_list, .mkdir = runs_mkdir,
		.rmdir = runs_rmdir, .rename = runs_rename, .move = runs_move,
		.remove = runs_remove, .create = create_eperm },
	[ES_OBJECTIVE] = { "objective", EXP_TEXT,
		.content = objective_content, .flush = objective_flush },
	[ES_LEADERBOARD] = { "leaderboard", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE, .stat = exp_stat, .attr = leaderboard_attr,
		.content = leaderboard_content, .remove = exp_file_remove },
	[ES_COMPARE] = { "compare.svg", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE, .stat = exp_stat, .attr = compare_attr,
		.content = compare_content, .remove = exp_file_remove },
	[ES_SWEEPS] = { "sweeps", .type = S_IFDIR, .mode = 0755,
		.stat = exp_stat, .attr = exp_dir_attr,
		.lookup = sweeps_lookup, .list = sweeps_list,
		.mkdir = sweeps_mkdir, .rmdir = sweeps_rmdir,
		.remove = sweeps_remove, .create = create_eperm },
};

static const struct node tpl_node = {
	NULL, .type = S_IFREG, .mode = 0644, .flags = NODE_PRIVATE,
	.stat = tpl_stat, .content = tpl_content,
	.open_write = tpl_open_write, .write = node_buffered_write,
	.flush = tpl_flush, .setattr = node_buffered_setattr,
	.remove = tpl_remove,
};

static const struct node prov_nodes[PS_MAX] = {
	[PS_DIR] = { NULL, .type = S_IFDIR, .mode = 0755,
		.stat = prov_dir_stat, CHILDREN(prov_children),
		.lookup = node_children_lookup, .list = node_children_list },
	[PS_STATUS] = { "status", .type = S_IFREG, .mode = 0444,
		.stat = prov_status_stat, .content = prov_status_content },
};

/* Each kind's entries, by slot (the fixed nodes by inode number). */
static const struct {
	const struct node *slots;
	int nslots;
} kinds[K_MAX] = {
	[K_FIXED] = { fixed_nodes, INO_FIXED_MAX },
	[K_EXP] = { exp_nodes, ES_MAX },
	[K_RUN] = { run_nodes, RSLOT_MAX },
	[K_TPL] = { &tpl_node, 1 },
	[K_SCRATCH] = { &scratch_node, 1 },
	[K_PROV] = { prov_nodes, PS_MAX },
	[K_ART] = { &art_node, 1 },
	[K_SWEEP] = { sweep_nodes, SW_MAX },
	[K_STREAM] = { stream_nodes, SS_MAX },
};

const struct node *node_of(fuse_ino_t ino)
{
	int k = INO_KIND(ino), slot = INO_SLOT(ino);
	const struct node *n;

	if (k >= K_MAX || slot >= kinds[k].nslots)
		return NULL;
	n = &kinds[k].slots[slot];
	return n->stat ? n : NULL;
}

int node_stat(fuse_ino_t ino, struct stat *st, double *timeout)
{
	const struct node *n = node_of(ino);

	*timeout = 0;
	return n ? n->stat(n, ino, st, timeout) : TFS_ENOENT;
}

int node_content(fuse_ino_t ino, struct buf *b)
{
	const struct node *n = node_of(ino);

	return n && n->content ? n->content(n, ino, b) : TFS_ENOENT;
}

fuse_ino_t node_resolve(fuse_ino_t parent, const char *name)
{
	const struct node *n = node_of(parent);
	fuse_ino_t ino;

	if (!n)
		return 0;
	ino = n->lookup ? n->lookup(n, parent, name) : 0;
	if (!ino && (n->flags & NODE_SCRATCH))
		ino = scratch_lookup(parent, name);
	return ino;
}

/* Opens a reader's handle on ino: TFS_OK with *hp, or a code. */
int node_open(fuse_ino_t ino, struct fuse_file_info *fi, struct fh **hp)
{
	const struct node *n = node_of(ino);
	struct fh *h;
	int r;

	if (!n)
		return TFS_ENOENT;
	h = fh_new(n, ino);
	fi->direct_io = 1;
	fi->noflush = 1;     /* nothing to say at close of a read-only file */
	r = n->open ? n->open(n, h, fi) : snapshot_open(n, h);
	if (r) {
		fh_free(h);
		return r;
	}
	*hp = h;
	return TFS_OK;
}

/* Opens a writer's handle on ino: TFS_OK with *hp, or a code. */
int node_open_write(fuse_ino_t ino, int flags, struct fh **hp)
{
	const struct node *n = node_of(ino);
	struct fh *h;
	int r;

	if (!n || !n->open_write)
		return TFS_EACCES;
	h = fh_new(n, ino);
	h->writing = 1;
	r = n->open_write(n, h, flags);
	if (r) {
		fh_free(h);
		return r;
	}
	*hp = h;
	return TFS_OK;
}

int node_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	      int flags, struct read_ans *a)
{
	return (h->node->read ? h->node->read : buffer_read)(req, h, size, off,
							     flags, a);
}
