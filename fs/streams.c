/*
 * streams.c - the live streams as files: MOUNT/stream, every state change
 * and mount event; MOUNT/streams/<exp>/all, one experiment's, with its
 * metric points; MOUNT/streams/<exp>/runs/<run>, one run's, with its
 * metric points. Each open is a reader of its own in core (a queue that
 * starts empty at the open); reads, polls and their parking are park.c's.
 *
 * They are pipes in all but name: size 0, direct_io and not seekable, so
 * `cat` reads what comes as it comes and `tail -f` is not needed. The
 * directories under streams/ mirror experiments/ by id, so a stream follows
 * its experiment or run through a rename.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>

#include "fs.h"

int streams_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		 double *timeout)
{
	*timeout = 0;
	attr_init(st, ino, n->type | n->mode, 0, now_ms());
	if (S_ISDIR(n->type))
		*timeout = DIR_TIMEOUT;
	return TFS_OK;
}

/* A directory or file under streams/: there while its object is. */
static int streams_obj_stat(const struct node *n, fuse_ino_t ino,
			    struct stat *st, double *timeout)
{
	struct core_exp_info ei;
	struct core_run_info ri;
	int r = INO_SLOT(ino) == SS_RUN ?
		core_run_get(fs.core, INO_ID(ino), &ri) :
		core_exp_get(fs.core, INO_ID(ino), &ei);

	return r ? r : streams_stat(n, ino, st, timeout);
}

int streams_open(const struct node *n, struct fh *h,
		 struct fuse_file_info *fi)
{
	int slot = INO_SLOT(h->ino), scope;

	(void)n;
	if (INO_KIND(h->ino) == K_FIXED)
		scope = CORE_STREAM_ALL;
	else
		scope = slot == SS_RUN ? CORE_STREAM_RUN : CORE_STREAM_EXP;
	fi->direct_io = 1;
	fi->nonseekable = 1;
	return core_stream_open(fs.core, scope, INO_ID(h->ino), &h->stream);
}

void streams_close(struct fh *h)
{
	if (h->stream)
		core_stream_close(fs.core, h->stream);
	h->stream = NULL;
}

/* ---- streams/ and streams/<exp>/runs/ ---- */

/* The listings' callbacks run under core's lock: attributes from here. */
static int exp_fill(void *arg, const struct core_exp_info *e)
{
	fuse_ino_t ino = INO(K_STREAM, e->id, SS_EXP);
	struct dirfill *d = arg;
	struct stat st;

	attr_init(&st, ino, S_IFDIR | 0755, 0, now_ms());
	return dir_add(d, e->name, ino, S_IFDIR, (off_t)e->id + 3, &st,
		       DIR_TIMEOUT);
}

static int run_fill(void *arg, const struct core_run_info *r)
{
	fuse_ino_t ino = INO(K_STREAM, r->id, SS_RUN);
	struct dirfill *d = arg;
	struct stat st;

	attr_init(&st, ino, S_IFREG | 0444, 0, now_ms());
	return dir_add(d, r->name, ino, S_IFREG, (off_t)r->id + 3, &st, 0);
}

fuse_ino_t streams_lookup(const struct node *n, fuse_ino_t dir,
			  const char *name)
{
	struct core_exp_info ei;

	(void)n;
	(void)dir;
	return core_exp_lookup(fs.core, name, &ei) ? 0 :
	       INO(K_STREAM, ei.id, SS_EXP);
}

void streams_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		  off_t off)
{
	(void)n;
	(void)dir;
	core_exp_list(fs.core, off > 2 ? off - 3 : 0, exp_fill, d);
}

static fuse_ino_t streams_runs_lookup(const struct node *n, fuse_ino_t dir,
				      const char *name)
{
	struct core_run_info ri;

	(void)n;
	return core_run_lookup(fs.core, INO_ID(dir), name, &ri) ? 0 :
	       INO(K_STREAM, ri.id, SS_RUN);
}

static void streams_runs_list(const struct node *n, struct dirfill *d,
			      fuse_ino_t dir, off_t off)
{
	(void)n;
	core_run_list(fs.core, INO_ID(dir), off > 2 ? off - 3 : 0, run_fill, d);
}

static int streams_dir_open(const struct node *n, struct fh *h,
			    struct fuse_file_info *fi)
{
	(void)n;
	(void)h;
	(void)fi;
	return FS_EISDIR;
}

static const unsigned char exp_children[] = { SS_ALL, SS_RUNS };

#define STREAM_DIR .type = S_IFDIR, .mode = 0755, .flags = NODE_PRIVATE, \
	.stat = streams_obj_stat, .open = streams_dir_open
#define STREAM_FILE .type = S_IFREG, .mode = 0444, .flags = NODE_PRIVATE, \
	.stat = streams_obj_stat, .open = streams_open, .read = stream_file_read, \
	.poll = stream_file_poll, .release = streams_close

const struct node stream_nodes[SS_MAX] = {
	[SS_EXP] = { NULL, STREAM_DIR, CHILDREN(exp_children),
		.lookup = node_children_lookup, .list = node_children_list },
	[SS_ALL] = { "all", STREAM_FILE },
	[SS_RUNS] = { "runs", STREAM_DIR, .lookup = streams_runs_lookup,
		.list = streams_runs_list },
	[SS_RUN] = { NULL, STREAM_FILE },
};
