/*
 * runs.c - the entries of a run's directory, its files and its artifacts
 * (nodes.c has the rest of the table and how it is used): generated files
 * read whole at open, the log and metrics.jsonl read at each offset,
 * config.json checked as it is written and submitted at close, ctl's
 * commands carried out a line at a time, and the manifest's artifacts.
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"

#define CTL_HELP "cancel | pause | resume | retry | priority N\n"

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

/* ---- a run's nodes ---- */

/* Every node of a run: its attributes come from the run's record. */
static int run_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		    double *timeout)
{
	struct core_run_info ri;
	int r = core_run_get(fs.core, INO_ID(ino), &ri);

	return r ? r : n->attr(n, ino, &ri, st, timeout);
}

static int run_dir_attr(const struct node *n, fuse_ino_t ino, const void *rec,
			struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;

	attr_init(st, ino, S_IFDIR | n->mode, 0, ri->updated_ms);
	st->st_ctim.tv_sec = ri->created_ms / 1000;
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

/* The generated files of a run: content from core, dated by the entry. */
static int run_file_attr(const struct node *n, fuse_ino_t ino,
			 const void *rec, struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;
	int64_t mtime;
	int r;

	(void)timeout;
	memcpy(&mtime, (const char *)ri + n->run_mtime, sizeof(mtime));
	r = node_content_stat(n, ino, st, mtime);
	/* after attr_init: the mode of an unsubmitted config, as it was */
	if ((n->flags & NODE_RW_UNTIL_SUBMITTED) && !ri->submitted)
		st->st_mode = S_IFREG | 0644;
	return r;
}

static int run_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	return core_run_read(fs.core, INO_ID(ino), n->rf, b);
}

static int metrics_svg_content(const struct node *n, fuse_ino_t ino,
			       struct buf *b)
{
	(void)n;
	return core_run_metrics_svg(fs.core, INO_ID(ino), b);
}

static int downloads_content(const struct node *n, fuse_ino_t ino,
			     struct buf *b)
{
	(void)n;
	return core_run_downloads(fs.core, INO_ID(ino), b);
}

static int log_attr(const struct node *n, fuse_ino_t ino, const void *rec,
		    struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;
	int64_t size, mtime;
	int r;

	(void)timeout;
	r = core_run_log_stat(fs.core, INO_ID(ino), &size, &mtime);
	attr_init(st, ino, S_IFREG | n->mode, size,
		  mtime ? mtime : ri->created_ms);
	return r;
}

static int mjsonl_attr(const struct node *n, fuse_ino_t ino, const void *rec,
		       struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;
	int64_t size = 0;
	int r;

	(void)timeout;
	r = core_run_metrics_size(fs.core, INO_ID(ino), &size);
	attr_init(st, ino, S_IFREG | n->mode, size, ri->metrics_ms);
	return r;
}

/* Files read at each offset: rd answers one read from core. */
static int stream_read(struct fh *h, size_t size, off_t off,
		       struct read_ans *a,
		       int (*rd)(struct core *, int64_t, int64_t, size_t,
				 struct buf *))
{
	int r = rd(fs.core, INO_ID(h->ino), off, size, &a->own);

	a->p = a->own.p;
	a->len = a->own.len;
	return r;
}

static int log_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
		    int flags, struct read_ans *a)
{
	(void)req;
	(void)flags;
	return stream_read(h, size, off, a, core_run_log_read);
}

/*
 * Read from the store at each offset: the file only grows, so every open
 * sees the same bytes at the same place, and a long history is never
 * copied whole (`tail -f` sees new lines as they come).
 */
static int mjsonl_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
		       int flags, struct read_ans *a)
{
	(void)req;
	(void)flags;
	return stream_read(h, size, off, a, core_run_metrics_read);
}

static int wait_attr(const struct node *n, fuse_ino_t ino, const void *rec,
		     struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;
	int64_t len;

	(void)timeout;
	len = run_state_terminal(ri->state) || ri->state == RS_CREATED ?
	      (int64_t)strlen(run_state_name(ri->state)) + 1 : 0;
	attr_init(st, ino, S_IFREG | n->mode, len, ri->updated_ms);
	return TFS_OK;
}

static int artifacts_attr(const struct node *n, fuse_ino_t ino,
			  const void *rec, struct stat *st, double *timeout)
{
	const struct core_run_info *ri = rec;

	(void)timeout;
	attr_init(st, ino, S_IFDIR | n->mode, 0, ri->updated_ms);
	return TFS_OK;
}

static fuse_ino_t artifacts_lookup(const struct node *n, fuse_ino_t dir,
				   const char *name)
{
	struct core_art_info ai;

	(void)n;
	return core_art_lookup(fs.core, INO_ID(dir), 0, name, &ai) ? 0 :
	       INO(K_ART, ai.id, 0);
}

static void artifacts_list(const struct node *n, struct dirfill *d,
			   fuse_ino_t dir, off_t off)
{
	(void)n;
	core_art_list(fs.core, INO_ID(dir), 0, off > 2 ? off - 3 : 0, art_fill,
		      d);
}

/* Whether the run is one whose parts `rm -rf` may take (see above). */
static int run_removable(int64_t run_id)
{
	struct core_run_info ri;

	return !core_run_get(fs.core, run_id, &ri) &&
	       (ri.state == RS_CREATED || run_state_terminal(ri.state));
}

static int run_part_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	if (dir != S_ISDIR(n->type) || !run_removable(INO_ID(ino)))
		return FS_EPERM;
	return TFS_OK;
}

/* config.json and ctl: what nodes.c's shared writers ask of core */

static int run_check(int64_t id, const char *text, size_t len, char *reason,
		     size_t rlen)
{
	return core_run_check(fs.core, id, text, len, reason, rlen);
}

static int run_submit(int64_t id, const char *text, size_t len,
		      char *reason, size_t rlen)
{
	return core_run_submit(fs.core, id, text, len, reason, rlen);
}

static void run_note(int64_t id, const char *text)
{
	core_run_note(fs.core, id, text);
}

static int run_submitted(int64_t id, int *done)
{
	struct core_run_info ri;
	int r = core_run_get(fs.core, id, &ri);

	if (!r)
		*done = ri.submitted;
	return r;
}

static int run_ctl(int64_t id, const char *text, size_t len, char *reason,
		   size_t rlen)
{
	return core_run_ctl(fs.core, id, text, len, reason, rlen);
}

static const struct submit_ops config_ops = {
	.what = "config", .check = run_check, .submit = run_submit,
	.note = run_note, .submitted = run_submitted,
};

static const struct ctl_ops run_ctl_ops = {
	.help = CTL_HELP, .run = run_ctl, .note = run_note,
};

/* ---- artifacts: files and directories of a run's manifest ---- */

static int art_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		    double *timeout)
{
	struct core_art_info ai;
	int r;

	(void)n;
	r = core_art_get(fs.core, INO_ID(ino), &ai);
	if (r)
		return r;
	attr_init(st, ino, ai.is_dir ? S_IFDIR | 0555 : S_IFREG | 0444,
		  ai.size, ai.mtime_ms);
	/* content never changes: its hash is fixed by the manifest */
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

static fuse_ino_t art_lookup(const struct node *n, fuse_ino_t dir,
			     const char *name)
{
	struct core_art_info ai, child;

	(void)n;
	if (core_art_get(fs.core, INO_ID(dir), &ai) || !ai.is_dir)
		return 0;
	return core_art_lookup(fs.core, ai.run_id, ai.id, name, &child) ?
	       0 : INO(K_ART, child.id, 0);
}

static void art_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		     off_t off)
{
	struct core_art_info ai;

	(void)n;
	if (!core_art_get(fs.core, INO_ID(dir), &ai))
		core_art_list(fs.core, ai.run_id, ai.id, off > 2 ? off - 3 : 0,
			      art_fill, d);
}

static int art_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	struct core_art_info ai;

	(void)n;
	if (core_art_get(fs.core, INO_ID(ino), &ai) || ai.is_dir != dir ||
	    !run_removable(ai.run_id))
		return FS_EPERM;
	return TFS_OK;
}

/*
 * user.sha256: the hash the manifest promises, known without a download;
 * user.trainfs.state: remote, downloading N/M, verified or corrupt.
 */
static int art_getxattr(fuse_ino_t ino, const char *name, struct buf *b)
{
	struct core_art_info ai;

	if (core_art_get(fs.core, INO_ID(ino), &ai) || ai.is_dir)
		return FS_ENODATA;
	if (!strcmp(name, "user.sha256"))
		return buf_append(b, ai.sha256, 64);
	if (!strcmp(name, "user.trainfs.state"))
		return core_art_state_text(fs.core, ai.id, b) ? FS_ENODATA :
		       TFS_OK;
	return FS_ENODATA;
}

static int art_listxattr(fuse_ino_t ino, struct buf *b)
{
	static const char names[] = "user.sha256\0user.trainfs.state";
	struct core_art_info ai;

	if (core_art_get(fs.core, INO_ID(ino), &ai) || ai.is_dir)
		return TFS_OK;
	return buf_append(b, names, sizeof(names));
}

/* ---- the entries ---- */

#define RUN_MTIME(f) offsetof(struct core_run_info, f)

static const unsigned char run_children[] = {
	RS_CONFIG, RS_STATUS, RS_STATUS_JSON, RS_LOG, RS_METRICS,
	RS_METRICS_JSONL, RS_METRICS_SVG, RS_EVENTS, RS_CTL, RS_WAIT,
	RS_DOWNLOADS, RS_ARTIFACTS,
};

/* a generated file of a run, read whole at open, dated by m */
#define RUN_GEN(m) .type = S_IFREG, .stat = run_stat, .attr = run_file_attr, \
	.run_mtime = RUN_MTIME(m), .remove = run_part_remove
/* ... one that core_run_read() reads as f */
#define RUN_FILE(f, m) RUN_GEN(m), .mode = 0444, .content = run_content, \
	.rf = (f)

const struct node run_nodes[RSLOT_MAX] = {
	[RS_DIR] = { NULL, .type = S_IFDIR, .mode = 0755,
		.flags = NODE_SCRATCH, .stat = run_stat, .attr = run_dir_attr,
		CHILDREN(run_children), .lookup = node_children_lookup,
		.list = node_children_list, .create = scratch_create,
		.rename = run_dir_rename },
	[RS_CONFIG] = { "config.json", RUN_FILE(RF_CONFIG, config_ms),
		.flags = NODE_PRIVATE | NODE_RW_UNTIL_SUBMITTED,
		.sub = &config_ops, .open_write = node_submit_open_write,
		.write = node_submit_write, .flush = node_submit_flush,
		.release = node_submit_close, .setattr = node_submit_setattr },
	[RS_STATUS] = { "status", RUN_FILE(RF_STATUS, updated_ms) },
	[RS_STATUS_JSON] = { "status.json",
		RUN_FILE(RF_STATUS_JSON, updated_ms), .flags = NODE_PRIVATE },
	[RS_LOG] = { "log", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE, .stat = run_stat, .attr = log_attr,
		.open = fh_open_stream, .read = log_read,
		.remove = run_part_remove },
	[RS_METRICS] = { "metrics", RUN_FILE(RF_METRICS, metrics_ms),
		.flags = NODE_PRIVATE },
	[RS_METRICS_JSONL] = { "metrics.jsonl", .type = S_IFREG, .mode = 0444,
		.flags = NODE_PRIVATE, .stat = run_stat, .attr = mjsonl_attr,
		.open = fh_open_stream, .read = mjsonl_read,
		.remove = run_part_remove },
	/* drawn from the history; dated by its last point */
	[RS_METRICS_SVG] = { "metrics.svg", RUN_GEN(metrics_ms), .mode = 0444,
		.flags = NODE_PRIVATE, .content = metrics_svg_content },
	[RS_EVENTS] = { "events", RUN_FILE(RF_EVENTS, events_ms),
		.flags = NODE_PRIVATE | NODE_LIVE },
	[RS_CTL] = { "ctl", RUN_GEN(updated_ms), .mode = 0644,
		.ctl = &run_ctl_ops, .content = node_ctl_content,
		.open_write = node_ctl_open_write, .write = node_ctl_write,
		.flush = node_ctl_flush, .setattr = node_size_ok },
	[RS_WAIT] = { "wait", .type = S_IFREG, .mode = 0444,
		.flags = NODE_UNLISTED, .stat = run_stat, .attr = wait_attr,
		.open = fh_open_stream, .read = wait_read, .poll = wait_poll,
		.remove = run_part_remove },
	[RS_DOWNLOADS] = { "downloads", RUN_GEN(updated_ms), .mode = 0444,
		.flags = NODE_PRIVATE, .content = downloads_content },
	[RS_ARTIFACTS] = { "artifacts", .type = S_IFDIR, .mode = 0555,
		.flags = NODE_PRIVATE, .stat = run_stat, .attr = artifacts_attr,
		.lookup = artifacts_lookup, .list = artifacts_list,
		.remove = run_part_remove },
};

/* an artifact is a file or a directory, as its manifest says */
const struct node art_node = {
	NULL, .type = S_IFREG, .mode = 0444, .flags = NODE_PRIVATE,
	.stat = art_stat, .lookup = art_lookup, .list = art_list,
	.open = art_open, .read = art_read, .remove = art_remove,
	.getxattr = art_getxattr, .listxattr = art_listxattr,
};
