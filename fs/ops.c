/*
 * ops.c - the fuse_lowlevel_ops table: each handler checks who asks, has
 * the node table (nodes.c) do the work, and ends in exactly one reply.
 * The work returns a TFS_* or FS_* code; fs_errno() is the one place that
 * turns it into an errno.
 *
 * The session runs libfuse's single-threaded loop: every handler is short
 * and none blocks on a provider. The requests that wait by design (a read
 * of `wait`, a read of an artifact not verified yet) are handed to park.c,
 * which answers each of them once, later.
 */
#define _GNU_SOURCE

#include <assert.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/statvfs.h>

#include "fs.h"

int fs_errno(int err)
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
	case TFS_EINPROGRESS: return EINPROGRESS;
	case FS_EPERM: return EPERM;
	case FS_EISDIR: return EISDIR;
	case FS_ENOTDIR: return ENOTDIR;
	case FS_EXDEV: return EXDEV;
	case FS_ENODATA: return ENODATA;
	case FS_ENOTSUP: return ENOTSUP;
	case FS_ENOTCONN: return ENOTCONN;
	default: return EIO;
	}
}

/* ---- who may do what ---- */

/* With allow_other, others may look but only the owner may change. */
static int may_modify(fuse_req_t req)
{
	const struct fuse_ctx *ctx = fuse_req_ctx(req);

	return !fs.allow_other || ctx->uid == fs.uid || ctx->uid == 0;
}

int others_kept_out(void)
{
	return fs.allow_other && !fs.share_read;
}

/*
 * With -o allow_other, other users see which experiments and runs exist
 * and their state (names, status, wait, queue, scheduler, providers); what
 * a run holds (config.json, status.json, log, metrics, events, artifacts),
 * the experiment's notes and the templates stay the owner's, unless
 * -o share_read: the entries marked NODE_PRIVATE.
 */
int may_read(fuse_req_t req, fuse_ino_t ino)
{
	const struct fuse_ctx *ctx;
	const struct node *n;

	if (!others_kept_out())
		return 1;
	ctx = fuse_req_ctx(req);
	n = node_of(ino);
	return ctx->uid == fs.uid || ctx->uid == 0 ||
	       (n && !(n->flags & NODE_PRIVATE));
}

/* ---- replies ---- */

/*
 * Each handler answers its request exactly once, or hands it to park.c,
 * which answers it once later. Debug builds count the replies a handler
 * gives on its own thread (park.c's come from others, or after the
 * handoff) and check the count when it returns.
 */
#ifndef NDEBUG
static __thread fuse_req_t op_req;   /* the request this thread handles */
static __thread int op_replies;

static void replied(fuse_req_t req)
{
	if (req == op_req)
		assert(++op_replies == 1);
}

#define OP_BEGIN(req) (op_req = (req), op_replies = 0)
#define OP_END() (assert(op_replies == 1), op_req = NULL)

void reply_handoff(fuse_req_t req)
{
	replied(req);
	op_req = NULL;
}
#else
#define replied(req) ((void)(req))
#define OP_BEGIN(req) ((void)(req))
#define OP_END() ((void)0)

void reply_handoff(fuse_req_t req)
{
	(void)req;
}
#endif

static void reply_errno(fuse_req_t req, int e)
{
	replied(req);
	fuse_reply_err(req, e);
}

void reply_err(fuse_req_t req, int err)
{
	reply_errno(req, fs_errno(err));
}

void reply_buf(fuse_req_t req, const char *p, size_t len)
{
	replied(req);
	fuse_reply_buf(req, p, len);
}

int reply_data(fuse_req_t req, struct fuse_bufvec *bv)
{
	replied(req);
	return fuse_reply_data(req, bv, FUSE_BUF_SPLICE_MOVE);
}

static void reply_entry(fuse_req_t req, const struct fuse_entry_param *e)
{
	replied(req);
	fuse_reply_entry(req, e);
}

static void reply_attr(fuse_req_t req, const struct stat *st, double timeout)
{
	replied(req);
	fuse_reply_attr(req, st, timeout);
}

/*
 * Gives h to the kernel. When the reply fails (the opener is gone) no
 * release will ever come for it: it is freed here.
 */
static void reply_open(fuse_req_t req, struct fuse_file_info *fi,
		       struct fh *h)
{
	replied(req);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_open(req, fi) != 0)
		fh_free(h);
}

static void reply_create(fuse_req_t req, const struct fuse_entry_param *e,
			 struct fuse_file_info *fi, struct fh *h)
{
	replied(req);
	fi->fh = (uint64_t)(uintptr_t)h;
	if (fuse_reply_create(req, e, fi) != 0)
		fh_free(h);      /* no release will come */
}

static void reply_write(fuse_req_t req, size_t size)
{
	replied(req);
	fuse_reply_write(req, size);
}

static void reply_poll(fuse_req_t req, unsigned revents)
{
	replied(req);
	fuse_reply_poll(req, revents);
}

/* An attribute's value: its size when size is 0, ERANGE when too small. */
static void reply_xattr(fuse_req_t req, const char *val, size_t len,
			size_t size)
{
	if (size == 0) {
		replied(req);
		fuse_reply_xattr(req, len);
	} else if (size < len) {
		reply_errno(req, ERANGE);
	} else {
		reply_buf(req, val, len);
	}
}

static struct fh *fh_of(const struct fuse_file_info *fi)
{
	return (struct fh *)(uintptr_t)fi->fh;
}

/* ---- names ---- */

static int entry_fill(fuse_ino_t ino, struct fuse_entry_param *e)
{
	double timeout;
	int r;

	memset(e, 0, sizeof(*e));
	r = node_stat(ino, &e->attr, &timeout);
	if (r)
		return r;
	e->ino = ino;
	e->attr_timeout = timeout;
	e->entry_timeout = DIR_TIMEOUT;
	return TFS_OK;
}

static void op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	fuse_ino_t ino;
	int r;

	OP_BEGIN(req);
	if (!may_read(req, parent)) {
		r = TFS_EACCES;
	} else {
		ino = node_resolve(parent, name);
		r = ino ? entry_fill(ino, &e) : TFS_ENOENT;
	}
	if (r)
		reply_err(req, r);
	else
		reply_entry(req, &e);
	OP_END();
}

static void op_getattr(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int r;

	(void)fi;
	OP_BEGIN(req);
	r = node_stat(alias_of(ino), &st, &timeout);
	if (r)
		reply_err(req, r);
	else
		reply_attr(req, &st, timeout);
	OP_END();
}

static int do_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		      int to_set, struct fuse_file_info *fi)
{
	struct fh *h = fi ? fh_of(fi) : NULL;
	const struct node *n = node_of(ino);

	if (!may_modify(req))
		return TFS_EACCES;
	if (n && n->setattr)
		return n->setattr(n, ino, h, attr, to_set);
	return to_set & FUSE_SET_ATTR_SIZE ? TFS_EACCES : TFS_OK;
}

static void op_setattr(fuse_req_t req, fuse_ino_t ino, struct stat *attr,
		       int to_set, struct fuse_file_info *fi)
{
	struct stat st;
	double timeout;
	int r;

	OP_BEGIN(req);
	ino = alias_of(ino);
	r = do_setattr(req, ino, attr, to_set, fi);
	if (!r)
		r = node_stat(ino, &st, &timeout);
	if (r)
		reply_err(req, r);
	else
		reply_attr(req, &st, timeout);
	OP_END();
}

/* ---- directories ---- */

static int do_readdir(fuse_req_t req, fuse_ino_t ino, off_t off,
		      struct dirfill *d)
{
	const struct node *n;
	double timeout;
	struct stat st;
	int r;

	r = node_stat(ino, &st, &timeout);
	if (r)
		return r;
	if (!S_ISDIR(st.st_mode))
		return FS_ENOTDIR;
	if (!may_read(req, ino))
		return TFS_EACCES;
	d->buf = malloc(d->size);
	if (!d->buf)
		return TFS_ENOMEM;
	n = node_of(ino);
	if (off < 1 && dir_add(d, ".", ino, S_IFDIR, 1, NULL, 0))
		return TFS_OK;
	if (off < 2 && dir_add(d, "..", INO_ROOT, S_IFDIR, 2, NULL, 0))
		return TFS_OK;
	if (n->list)
		n->list(n, d, ino, off);
	if (!d->full && (n->flags & NODE_SCRATCH))
		scratch_fill(d, ino, off);
	return TFS_OK;
}

static void readdir_reply(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, int plus)
{
	struct dirfill d = { .req = req, .size = size, .plus = plus };
	int r;

	OP_BEGIN(req);
	r = do_readdir(req, ino, off, &d);
	if (r)
		reply_err(req, r);
	else
		reply_buf(req, d.buf, d.used);
	free(d.buf);
	OP_END();
}

static void op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_reply(req, ino, size, off, 0);
}

static void op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size,
			   off_t off, struct fuse_file_info *fi)
{
	(void)fi;
	readdir_reply(req, ino, size, off, 1);
}

static int do_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		    fuse_ino_t *ino)
{
	const struct node *pn = node_of(parent);

	if (!may_modify(req))
		return TFS_EACCES;
	if (pn && pn->mkdir)
		return pn->mkdir(parent, name, ino);
	return node_resolve(parent, name) ? TFS_EEXIST : FS_EPERM;
}

static void op_mkdir(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode)
{
	struct fuse_entry_param e;
	fuse_ino_t ino = 0;
	int r;

	(void)mode;
	OP_BEGIN(req);
	r = do_mkdir(req, parent, name, &ino);
	if (!r)
		r = entry_fill(ino, &e);
	if (r)
		reply_err(req, r);
	else
		reply_entry(req, &e);
	OP_END();
}

/* An unlink, or an rmdir when dir: the entry's remove() says. */
static int remove_child(fuse_ino_t parent, const char *name, int dir)
{
	fuse_ino_t ino = node_resolve(parent, name);
	const struct node *n = node_of(ino);

	if (!ino)
		return TFS_ENOENT;
	return n && n->remove ? n->remove(n, ino, dir) : FS_EPERM;
}

static int do_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	const struct node *pn = node_of(parent);

	if (!may_modify(req))
		return TFS_EACCES;
	if (pn && pn->rmdir)
		return pn->rmdir(parent, name);
	return remove_child(parent, name, 1);
}

static void op_rmdir(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	OP_BEGIN(req);
	reply_err(req, do_rmdir(req, parent, name));
	OP_END();
}

static void op_unlink(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	OP_BEGIN(req);
	reply_err(req, may_modify(req) ? remove_child(parent, name, 0) :
		  TFS_EACCES);
	OP_END();
}

/* Links would let a name here mean a file elsewhere: never made. */
static void op_symlink(fuse_req_t req, const char *link, fuse_ino_t parent,
		       const char *name)
{
	(void)link;
	(void)parent;
	OP_BEGIN(req);
	core_event(fs.core, "ln -s refused: '%.200s': symbolic links cannot "
		   "be made in trainfs", name);
	reply_err(req, FS_EPERM);
	OP_END();
}

static void op_link(fuse_req_t req, fuse_ino_t ino, fuse_ino_t newparent,
		    const char *newname)
{
	(void)ino;
	(void)newparent;
	OP_BEGIN(req);
	core_event(fs.core, "ln refused: '%.200s': hard links cannot be made "
		   "in trainfs", newname);
	reply_err(req, FS_EPERM);
	OP_END();
}

/*
 * A rename to another directory. A run moves to another experiment's runs/
 * whole (the runs/ entry's move()). A scratch file is just bytes: EXDEV
 * lets mv copy it. Anything else is refused with EPERM, not EXDEV: on
 * EXDEV mv falls back to copying, which here would make a stray run and
 * half its files.
 */
static int rename_across(fuse_ino_t parent, const char *name,
			 fuse_ino_t newparent, const char *newname)
{
	fuse_ino_t src = node_resolve(parent, name);
	const struct node *pn = node_of(parent), *np = node_of(newparent);

	if (!src)
		return TFS_ENOENT;
	if (pn->move && pn == np)
		return pn->move(parent, name, newparent, newname);
	if ((node_of(src)->flags & NODE_COPYABLE) && np &&
	    (np->flags & NODE_SCRATCH))
		return FS_EXDEV;
	core_event(fs.core, "rename refused: '%.200s' cannot move to another "
		   "directory (only a run moves, between experiments' runs/)",
		   name);
	return FS_EPERM;
}

static int do_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		     fuse_ino_t newparent, const char *newname,
		     unsigned int flags)
{
	fuse_ino_t src, dst;
	const struct node *pn;

	if (!may_modify(req))
		return TFS_EACCES;
	if (flags & ~RENAME_NOREPLACE)
		return TFS_EINVAL;
	if (parent != newparent)
		return rename_across(parent, name, newparent, newname);
	src = node_resolve(parent, name);
	if (!src)
		return TFS_ENOENT;
	dst = node_resolve(parent, newname);
	if (dst == src)
		return TFS_OK;
	if (dst && (flags & RENAME_NOREPLACE))
		return TFS_EEXIST;
	pn = node_of(parent);
	return pn->rename ? pn->rename(parent, name, newname, src, dst) :
	       FS_EPERM;
}

static void op_rename(fuse_req_t req, fuse_ino_t parent, const char *name,
		      fuse_ino_t newparent, const char *newname,
		      unsigned int flags)
{
	OP_BEGIN(req);
	reply_err(req, do_rename(req, parent, name, newparent, newname, flags));
	OP_END();
}

/* ---- files ---- */

static int do_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		     mode_t mode, struct fuse_file_info *fi, struct fh **hp,
		     struct fuse_entry_param *e)
{
	const struct node *pn = node_of(parent);
	fuse_ino_t ino;
	int r;

	if (!may_modify(req))
		return TFS_EACCES;
	ino = node_resolve(parent, name);
	if (!ino) {
		r = pn && pn->create ? pn->create(parent, name, mode, &ino) :
		    TFS_EACCES;
		if (r)
			return r;
	} else if (fi->flags & O_EXCL) {
		return TFS_EEXIST;
	}
	r = node_open_write(ino, fi->flags | O_TRUNC, hp);
	if (r)
		return r;
	if (pn->created)
		pn->created(*hp, name);
	r = entry_fill(ino, e);
	if (r) {
		fh_free(*hp);
		return r;
	}
	fi->direct_io = 1;
	return TFS_OK;
}

static void op_create(fuse_req_t req, fuse_ino_t parent, const char *name,
		      mode_t mode, struct fuse_file_info *fi)
{
	struct fuse_entry_param e;
	struct fh *h = NULL;
	int r;

	OP_BEGIN(req);
	r = do_create(req, parent, name, mode, fi, &h, &e);
	if (r)
		reply_err(req, r);
	else
		reply_create(req, &e, fi, h);
	OP_END();
}

static int do_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		   struct fh **hp)
{
	int r;

	ino = alias_of(ino);
	if ((fi->flags & O_ACCMODE) == O_RDONLY)
		return may_read(req, ino) ? node_open(ino, fi, hp) : TFS_EACCES;
	if (!may_modify(req))
		return TFS_EACCES;
	r = node_open_write(ino, fi->flags, hp);
	if (!r)
		fi->direct_io = 1;
	return r;
}

static void op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct fh *h = NULL;
	int r;

	OP_BEGIN(req);
	r = do_open(req, ino, fi, &h);
	if (r)
		reply_err(req, r);
	else
		reply_open(req, fi, h);
	OP_END();
}

static void op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
		    struct fuse_file_info *fi)
{
	struct read_ans a = { .own = BUF_INIT(0) };
	int r;

	(void)ino;
	OP_BEGIN(req);
	r = node_read(req, fh_of(fi), size, off, fi->flags, &a);
	if (r == FS_TAKEN)
		;       /* answered, or parked to be answered (park.c) */
	else if (r)
		reply_err(req, r);
	else
		reply_buf(req, a.p, a.len);
	buf_release(&a.own);
	OP_END();
}

static void op_write(fuse_req_t req, fuse_ino_t ino, const char *data,
		     size_t size, off_t off, struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);
	int r;

	(void)ino;
	OP_BEGIN(req);
	r = h->node->write ? h->node->write(h, data, size, off) : TFS_EACCES;
	if (r)
		reply_err(req, r);
	else
		reply_write(req, size);
	OP_END();
}

static void op_flush(fuse_req_t req, fuse_ino_t ino,
		     struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	(void)ino;
	OP_BEGIN(req);
	reply_err(req, h->node->flush ? h->node->flush(h) :
		  fh_flush_buffered(h, NULL));
	OP_END();
}

static void op_release(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	struct fh *h = fh_of(fi);

	(void)ino;
	OP_BEGIN(req);
	park_forget_fh(h);
	if (h->node->release)
		h->node->release(h);
	fh_free(h);
	reply_err(req, TFS_OK);
	OP_END();
}

static void op_poll(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi,
		    struct fuse_pollhandle *ph)
{
	struct fh *h = fh_of(fi);
	unsigned revents = POLLIN | POLLOUT;
	int kept = 0;

	(void)ino;
	OP_BEGIN(req);
	if (h->node->poll)
		revents = h->node->poll(h, ph, &kept);
	if (ph && !kept)
		fuse_pollhandle_destroy(ph);
	reply_poll(req, revents);
	/* it may have ended between the check and the keeping */
	if (kept && h->node->poll == wait_poll)
		wake_waiters(INO_ID(h->ino));
	OP_END();
}

/* ---- attributes, the filesystem ---- */

/*
 * Only user.* exists here. ENOTSUP (not ENODATA) for the others lets ls
 * and friends remember, per filesystem, that there are no ACLs or security
 * labels to ask for: otherwise `ls -l` costs three more round trips per
 * entry.
 */
static int do_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
		       struct buf *b)
{
	const struct node *n;

	if (strncmp(name, "user.", 5))
		return FS_ENOTSUP;
	ino = alias_of(ino);
	if (!may_read(req, ino))
		return TFS_EACCES;
	n = node_of(ino);
	return n && n->getxattr ? n->getxattr(ino, name, b) : FS_ENODATA;
}

static void op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			size_t size)
{
	struct buf b = BUF_INIT(0);
	int r;

	OP_BEGIN(req);
	r = do_getxattr(req, ino, name, &b);
	if (r)
		reply_err(req, r);
	else
		reply_xattr(req, b.p, b.len, size);
	buf_release(&b);
	OP_END();
}

static void op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct buf b = BUF_INIT(0);
	const struct node *n;
	int r = TFS_OK;

	OP_BEGIN(req);
	ino = alias_of(ino);
	n = node_of(ino);
	if (!may_read(req, ino))
		r = TFS_EACCES;
	else if (n && n->listxattr)
		r = n->listxattr(ino, &b);
	if (r)
		reply_err(req, r);
	else
		reply_xattr(req, b.p, b.len, size);
	buf_release(&b);
	OP_END();
}

static void op_setxattr(fuse_req_t req, fuse_ino_t ino, const char *name,
			const char *value, size_t size, int flags)
{
	(void)ino;
	(void)name;
	(void)value;
	(void)size;
	(void)flags;
	OP_BEGIN(req);
	reply_err(req, FS_ENOTSUP);
	OP_END();
}

static void op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	OP_BEGIN(req);
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = 4096;
	sv.f_frsize = 4096;
	sv.f_namemax = 255;
	replied(req);
	fuse_reply_statfs(req, &sv);
	OP_END();
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

const struct fuse_lowlevel_ops fs_ops = {
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
