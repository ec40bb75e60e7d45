/*
 * err.c - the text of each error code. See err.h.
 */
#include "err.h"

static const char *const err_text[TFS_ERR_MAX] = {
	[TFS_OK] = "ok",
	[TFS_EINVAL] = "invalid argument",
	[TFS_ENOENT] = "not found",
	[TFS_EEXIST] = "already exists",
	[TFS_EBUSY] = "busy",
	[TFS_ENOTEMPTY] = "not empty",
	[TFS_EOPNOTSUPP] = "not supported by this provider",
	[TFS_EIO] = "input/output error",
	[TFS_EFBIG] = "too large",
	[TFS_EAGAIN] = "would block",
	[TFS_ENOMEM] = "out of memory",
	[TFS_EACCES] = "permission denied",
	[TFS_EINTR] = "interrupted",
	[TFS_ENAMETOOLONG] = "name too long",
	[TFS_ESTATE] = "not possible in the current state",
	[TFS_ENOSPC] = "no space left in the state directory",
	[TFS_EROFS] = "the state directory is read-only",
	[TFS_EINPROGRESS] = "submitted, not confirmed yet",
};

const char *tfs_strerror(int err)
{
	if (err < 0 || err >= TFS_ERR_MAX || !err_text[err])
		return "unknown error";
	return err_text[err];
}
