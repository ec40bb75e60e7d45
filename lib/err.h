/*
 * err.h - the error codes every layer returns, a leaf that includes nothing,
 * so that buf and a connector can return them without util.h.
 */
#ifndef TFS_ERR_H
#define TFS_ERR_H

/*
 * One error enum for the whole daemon, append-only. fs/ maps it to -errno
 * in exactly one place (fs_errno()); everything below fs/ returns these.
 */
enum tfs_err {
	TFS_OK = 0,
	TFS_EINVAL,      /* bad name, config, command or answer */
	TFS_ENOENT,      /* no such experiment, run, file */
	TFS_EEXIST,      /* name already taken */
	TFS_EBUSY,       /* config.json already submitted, run active */
	TFS_ENOTEMPTY,   /* experiment still has active runs */
	TFS_EOPNOTSUPP,  /* the provider cannot do that */
	TFS_EIO,         /* provider, disk or download failed */
	TFS_EFBIG,       /* input over its size bound */
	TFS_EAGAIN,      /* would block */
	TFS_ENOMEM,      /* allocation failed */
	TFS_EACCES,      /* not allowed (secret file too open, read-only file) */
	TFS_EINTR,       /* interrupted */
	TFS_ENAMETOOLONG,
	TFS_ESTATE,      /* not possible in the run's current state */
	TFS_ENOSPC,      /* the state directory is full */
	TFS_EROFS,       /* the state directory is read-only */
	TFS_EINPROGRESS, /* a provider accepted a job but has not confirmed it */
	TFS_ERR_MAX
};

/* Returns a static lowercase description of err; never NULL. */
const char *tfs_strerror(int err);

#endif
