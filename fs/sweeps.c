/*
 * sweeps.c - an experiment's sweeps/ directory and the entries of a sweep
 * (DESIGN.md section 7): sweep.json submitted at close like config.json,
 * ctl's commands, and generated files read whole at open. best.json is
 * there only once a trial completed with the objective, so that `cp
 * best.json` fails plainly before. Under allow_other, others see a
 * sweep's status, as they see a run's; its params and results are the
 * owner's, as a run's config and metrics are.
 */
#define _GNU_SOURCE

#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"

#define SWEEP_CTL_HELP "cancel | extend N\n"

/* ---- sweeps/ ---- */

static int sweep_fill(void *arg, const struct core_sweep_info *w)
{
	struct dirfill *d = arg;
	fuse_ino_t ino = INO(K_SWEEP, w->id, SW_DIR);
	struct stat st;

	attr_init(&st, ino, S_IFDIR | 0755, 0, w->updated_ms);
	return dir_add(d, w->name, ino, S_IFDIR, (off_t)w->id + 3, &st,
		       DIR_TIMEOUT);
}

fuse_ino_t sweeps_lookup(const struct node *n, fuse_ino_t dir,
			 const char *name)
{
	struct core_sweep_info wi;

	(void)n;
	return core_sweep_lookup(fs.core, INO_ID(dir), name, &wi) ? 0 :
	       INO(K_SWEEP, wi.id, SW_DIR);
}

void sweeps_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		 off_t off)
{
	(void)n;
	core_sweep_list(fs.core, INO_ID(dir), off > 2 ? off - 3 : 0,
			sweep_fill, d);
}

int sweeps_mkdir(fuse_ino_t dir, const char *name, fuse_ino_t *ino)
{
	char reason[512];
	int64_t id;
	int r;

	r = core_sweep_create(fs.core, INO_ID(dir), name, &id, reason,
			      sizeof(reason));
	if (!r)
		*ino = INO(K_SWEEP, id, SW_DIR);
	return r;
}

int sweeps_rmdir(fuse_ino_t dir, const char *name)
{
	return core_sweep_remove(fs.core, INO_ID(dir), name);
}

/* `rm -rf` of an experiment: its sweeps/ goes once its sweeps went. */
int sweeps_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	struct core_exp_info ei;

	(void)n;
	if (!dir)
		return FS_EPERM;
	return !core_exp_get(fs.core, INO_ID(ino), &ei) && ei.nsweeps == 0 ?
	       TFS_OK : TFS_ENOTEMPTY;
}

/* ---- a sweep's entries ---- */

static int sweep_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		      double *timeout)
{
	struct core_sweep_info wi;
	int r = core_sweep_get(fs.core, INO_ID(ino), &wi);

	return r ? r : n->attr(n, ino, &wi, st, timeout);
}

static int sweep_dir_attr(const struct node *n, fuse_ino_t ino,
			  const void *rec, struct stat *st, double *timeout)
{
	const struct core_sweep_info *wi = rec;

	attr_init(st, ino, S_IFDIR | n->mode, 0, wi->updated_ms);
	st->st_ctim.tv_sec = wi->created_ms / 1000;
	*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

/* Generated files: dated by what they show (events by their own time). */
static int sweep_file_attr(const struct node *n, fuse_ino_t ino,
			   const void *rec, struct stat *st, double *timeout)
{
	const struct core_sweep_info *wi = rec;
	int r;

	(void)timeout;
	r = node_content_stat(n, ino, st, n->rf == SF_EVENTS ? wi->events_ms :
			      wi->updated_ms);
	if ((n->flags & NODE_RW_UNTIL_SUBMITTED) && !wi->submitted)
		st->st_mode = S_IFREG | 0644;
	return r;
}

static int sweep_content(const struct node *n, fuse_ino_t ino, struct buf *b)
{
	return core_sweep_read(fs.core, INO_ID(ino), n->rf, b);
}

/* best.json: only once there is a best */
static int has_best(fuse_ino_t ino)
{
	struct core_sweep_info wi;

	return !core_sweep_get(fs.core, INO_ID(ino), &wi) && wi.has_best;
}

/* rm -rf of a sweep that does not run: the files go with its rmdir */
static int sweep_part_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	struct core_sweep_info wi;

	(void)n;
	if (dir || core_sweep_get(fs.core, INO_ID(ino), &wi) ||
	    wi.state == SWEEP_RUNNING)
		return FS_EPERM;
	return TFS_OK;
}

static int sweep_check(int64_t id, const char *text, size_t len,
		       char *reason, size_t rlen)
{
	return core_sweep_check(fs.core, id, text, len, reason, rlen);
}

static int sweep_submit(int64_t id, const char *text, size_t len,
			char *reason, size_t rlen)
{
	return core_sweep_submit(fs.core, id, text, len, reason, rlen);
}

static void sweep_note(int64_t id, const char *text)
{
	core_sweep_note(fs.core, id, text);
}

static int sweep_submitted(int64_t id, int *done)
{
	struct core_sweep_info wi;
	int r = core_sweep_get(fs.core, id, &wi);

	if (!r)
		*done = wi.submitted;
	return r;
}

static int sweep_ctl(int64_t id, const char *text, size_t len, char *reason,
		     size_t rlen)
{
	return core_sweep_ctl(fs.core, id, text, len, reason, rlen);
}

static const struct submit_ops spec_ops = {
	.what = "sweep.json", .check = sweep_check, .submit = sweep_submit,
	.note = sweep_note, .submitted = sweep_submitted,
};

static const struct ctl_ops sweep_ctl_ops = {
	.help = SWEEP_CTL_HELP, .run = sweep_ctl, .note = sweep_note,
};

static const unsigned char sweep_children[] = {
	SW_SPEC, SW_STATUS, SW_TRIALS, SW_BEST, SW_BEST_JSON, SW_CTL,
	SW_EVENTS, SW_COMPARE,
};

/* a generated file of a sweep, core_sweep_read()'s f */
#define SWEEP_FILE(f) .type = S_IFREG, .mode = 0444, .stat = sweep_stat, \
	.attr = sweep_file_attr, .content = sweep_content, .rf = (f), \
	.remove = sweep_part_remove

const struct node sweep_nodes[SW_MAX] = {
	[SW_DIR] = { NULL, .type = S_IFDIR, .mode = 0755,
		.stat = sweep_stat, .attr = sweep_dir_attr,
		CHILDREN(sweep_children), .lookup = node_children_lookup,
		.list = node_children_list },
	[SW_SPEC] = { "sweep.json", SWEEP_FILE(SF_SPEC),
		.flags = NODE_PRIVATE | NODE_RW_UNTIL_SUBMITTED,
		.sub = &spec_ops, .open_write = node_submit_open_write,
		.write = node_submit_write, .flush = node_submit_flush,
		.release = node_submit_close, .setattr = node_submit_setattr },
	[SW_STATUS] = { "status", SWEEP_FILE(SF_STATUS) },
	[SW_TRIALS] = { "trials", SWEEP_FILE(SF_TRIALS),
		.flags = NODE_PRIVATE },
	[SW_BEST] = { "best", SWEEP_FILE(SF_BEST), .flags = NODE_PRIVATE },
	[SW_BEST_JSON] = { "best.json", SWEEP_FILE(SF_BEST_JSON),
		.flags = NODE_PRIVATE, .present = has_best },
	[SW_CTL] = { "ctl", .type = S_IFREG, .mode = 0644,
		.stat = sweep_stat, .attr = sweep_file_attr,
		.remove = sweep_part_remove,
		.ctl = &sweep_ctl_ops, .content = node_ctl_content,
		.open_write = node_ctl_open_write, .write = node_ctl_write,
		.flush = node_ctl_flush, .setattr = node_size_ok },
	[SW_EVENTS] = { "events", SWEEP_FILE(SF_EVENTS),
		.flags = NODE_PRIVATE | NODE_LIVE },
	[SW_COMPARE] = { "compare.svg", SWEEP_FILE(SF_COMPARE_SVG),
		.flags = NODE_PRIVATE },
};
