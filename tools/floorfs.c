/*
 * floorfs.c - the floor of trainfs's read benchmark: the least work a FUSE
 * filesystem can do to serve a small status file, so that bench_read's
 * latency on trainfs can be compared with what the kernel round trip alone
 * costs.  It serves one read-only file, "status", holding the constant
 * "running\n" from memory, through libfuse3's low-level API on the
 * single-threaded loop, with the same choices trainfs makes for its changing
 * files (direct_io, 1 s entry and attribute timeouts), so that any gap
 * between the two is trainfs's own work: path resolution, locking, rendering.
 * One difference is kept on purpose: there is no flush handler, so after the
 * first FLUSH fails with ENOSYS the kernel stops sending it, and a close here
 * costs only RELEASE.  trainfs needs flush (closing config.json submits), so
 * each of its closes pays one more round trip, about 10-15 us on the machine
 * this was written on; read the gap with that in mind.
 *
 * Usage: floorfs [-f] [-d] [-o opt,...] MOUNTPOINT; fusermount3 -u MOUNTPOINT.
 */
#define FUSE_USE_VERSION 34

#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define FLOOR_ROOT_INO		FUSE_ROOT_ID
#define FLOOR_STATUS_INO	2

/* Same as trainfs's timeouts, so that the kernel caches exactly as much. */
#define FLOOR_TIMEOUT		1.0

static const char floor_status_name[] = "status";
static const char floor_status[] = "running\n";

/* Set once in main() before the session starts; read-only afterwards. */
static time_t floor_start;

/*
 * Fills *st for ino.  Returns 0, or ENOENT for an inode we never handed out.
 */
static int floor_stat(fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_uid = getuid();
	st->st_gid = getgid();
	st->st_atime = st->st_mtime = st->st_ctime = floor_start;

	switch (ino) {
	case FLOOR_ROOT_INO:
		st->st_mode = S_IFDIR | 0555;
		st->st_nlink = 2;
		return 0;
	case FLOOR_STATUS_INO:
		st->st_mode = S_IFREG | 0444;
		st->st_nlink = 1;
		/* The true size: tools that poll st_size rely on it. */
		st->st_size = sizeof(floor_status) - 1;
		return 0;
	default:
		return ENOENT;
	}
}

static void floor_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct fuse_entry_param e;
	int err;

	if (parent != FLOOR_ROOT_INO || strcmp(name, floor_status_name) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}

	memset(&e, 0, sizeof(e));
	e.ino = FLOOR_STATUS_INO;
	e.attr_timeout = FLOOR_TIMEOUT;
	e.entry_timeout = FLOOR_TIMEOUT;
	err = floor_stat(e.ino, &e.attr);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_entry(req, &e);
}

static void floor_getattr(fuse_req_t req, fuse_ino_t ino,
			  struct fuse_file_info *fi)
{
	struct stat st;
	int err;

	(void)fi;
	err = floor_stat(ino, &st);
	if (err)
		fuse_reply_err(req, err);
	else
		fuse_reply_attr(req, &st, FLOOR_TIMEOUT);
}

/*
 * Appends one entry to buf (of size bufsize, used bytes *used).  Returns 0,
 * or ENOBUFS if it did not fit; fuse_add_direntry() only reports the size it
 * needed, so the caller must check before counting the entry as sent.
 */
static int floor_dirent(fuse_req_t req, char *buf, size_t bufsize,
			size_t *used, const char *name, fuse_ino_t ino,
			off_t next)
{
	struct stat st;
	size_t need;

	memset(&st, 0, sizeof(st));
	st.st_ino = ino;
	st.st_mode = ino == FLOOR_ROOT_INO ? S_IFDIR : S_IFREG;
	need = fuse_add_direntry(req, buf + *used, bufsize - *used, name, &st,
				 next);
	if (need > bufsize - *used)
		return ENOBUFS;
	*used += need;
	return 0;
}

static void floor_readdir(fuse_req_t req, fuse_ino_t ino, size_t size,
			  off_t off, struct fuse_file_info *fi)
{
	/* ".", ".." and "status": a fixed list, so an index is the offset. */
	static const struct {
		const char *name;
		fuse_ino_t ino;
	} ents[] = {
		{ ".", FLOOR_ROOT_INO },
		{ "..", FLOOR_ROOT_INO },
		{ floor_status_name, FLOOR_STATUS_INO },
	};
	char buf[1024];
	size_t used = 0;
	size_t i;

	(void)fi;
	if (ino != FLOOR_ROOT_INO) {
		fuse_reply_err(req, ENOTDIR);
		return;
	}
	if (size > sizeof(buf))
		size = sizeof(buf);

	for (i = off; i < sizeof(ents) / sizeof(ents[0]); i++)
		if (floor_dirent(req, buf, size, &used, ents[i].name,
				 ents[i].ino, i + 1))
			break;
	fuse_reply_buf(req, buf, used);
}

static void floor_open(fuse_req_t req, fuse_ino_t ino,
		       struct fuse_file_info *fi)
{
	if (ino == FLOOR_ROOT_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (ino != FLOOR_STATUS_INO) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EACCES);
		return;
	}

	/*
	 * trainfs serves its changing files with direct_io so that every
	 * read reaches the daemon and sees the current content; the floor
	 * must pay the same round trip or the comparison measures the page
	 * cache instead.
	 */
	fi->direct_io = 1;
	fuse_reply_open(req, fi);
}

static void floor_read(fuse_req_t req, fuse_ino_t ino, size_t size,
		       off_t off, struct fuse_file_info *fi)
{
	size_t len = sizeof(floor_status) - 1;

	(void)fi;
	if (ino != FLOOR_STATUS_INO) {
		fuse_reply_err(req, EISDIR);
		return;
	}
	if (off < 0 || (size_t)off >= len) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if (size > len - off)
		size = len - off;
	fuse_reply_buf(req, floor_status + off, size);
}

static const struct fuse_lowlevel_ops floor_ops = {
	.lookup		= floor_lookup,
	.getattr	= floor_getattr,
	.readdir	= floor_readdir,
	.open		= floor_open,
	.read		= floor_read,
};

static void floor_usage(const char *prog)
{
	printf("usage: %s [-f] [options] MOUNTPOINT\n\n", prog);
	printf("Serves one read-only file, MOUNTPOINT/status, containing "
	       "\"running\\n\".\nUnmount with fusermount3 -u MOUNTPOINT.\n\n");
}

int main(int argc, char *argv[])
{
	struct fuse_args args = FUSE_ARGS_INIT(argc, argv);
	struct fuse_cmdline_opts opts;
	struct fuse_session *se;
	int ret = 1;

	if (fuse_parse_cmdline(&args, &opts) != 0)
		return 1;
	if (opts.show_help) {
		floor_usage(argv[0]);
		fuse_cmdline_help();
		fuse_lowlevel_help();
		ret = 0;
		goto out_args;
	}
	if (opts.show_version) {
		printf("FUSE library version %s\n", fuse_pkgversion());
		fuse_lowlevel_version();
		ret = 0;
		goto out_args;
	}
	if (!opts.mountpoint) {
		fprintf(stderr, "usage: %s [-f] [options] MOUNTPOINT\n",
			argv[0]);
		goto out_args;
	}

	floor_start = time(NULL);
	se = fuse_session_new(&args, &floor_ops, sizeof(floor_ops), NULL);
	if (!se)
		goto out_args;
	if (fuse_set_signal_handlers(se) != 0)
		goto out_session;
	if (fuse_session_mount(se, opts.mountpoint) != 0)
		goto out_signals;

	/*
	 * Daemonize only after the mount exists, so that when the shell gets
	 * its prompt back the mount point is already usable.
	 */
	fuse_daemonize(opts.foreground);

	/*
	 * Always the single-threaded loop, whatever -s says: the floor is
	 * one request at a time with no thread hand-off, the cheapest path.
	 * It returns -errno on failure, or the number of the signal that
	 * ended it: Ctrl-C or TERM is how a foreground floorfs is meant to
	 * stop, so that is success.
	 */
	ret = fuse_session_loop(se) < 0;

	fuse_session_unmount(se);
out_signals:
	fuse_remove_signal_handlers(se);
out_session:
	fuse_session_destroy(se);
out_args:
	free(opts.mountpoint);
	fuse_opt_free_args(&args);
	return ret;
}
