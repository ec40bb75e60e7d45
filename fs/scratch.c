/*
 * scratch.c - editors' temporary files in a run's directory and in
 * templates/, and what becomes of them: a rename over config.json submits
 * it, a rename to NAME.json (or the close of a new NAME.json) stores a
 * template, and the scratch inode lives on as an alias of what it became.
 *
 * A scratch file lives in memory while an editor writes it. Once renamed
 * over config.json or a template, its inode becomes an alias: the kernel
 * keeps calling the renamed dentry by the scratch inode until it looks the
 * name up again, so that inode must go on meaning the file it became.
 * Everything here is under fs.lock.
 */
#define _GNU_SOURCE

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"

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

fuse_ino_t alias_of(fuse_ino_t ino)
{
	struct scratch *s;

	/* the common case, without the lock: not a scratch inode at all */
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

fuse_ino_t scratch_lookup(fuse_ino_t parent, const char *name)
{
	struct scratch *s;
	fuse_ino_t ino = 0;

	pthread_mutex_lock(&fs.lock);
	s = scratch_by_name(parent, name);
	if (s)
		ino = s->ino;
	pthread_mutex_unlock(&fs.lock);
	return ino;
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

/* Frees the live scratch file of ino, if there is one. */
static void scratch_drop(fuse_ino_t ino)
{
	struct scratch *s;

	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(ino);
	if (s)
		scratch_free_locked(s);
	pthread_mutex_unlock(&fs.lock);
}

void scratch_free_all(void)
{
	pthread_mutex_lock(&fs.lock);
	while (fs.scratch)
		scratch_free_locked(fs.scratch);
	pthread_mutex_unlock(&fs.lock);
}

void scratch_drop_run(int64_t run_id)
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

/* Scratch files follow the fixed entries, at offsets 1000000 + n. */
void scratch_fill(struct dirfill *d, fuse_ino_t parent, off_t off)
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
		if (dir_add(d, v[i].name, v[i].ino, S_IFREG, 1000000 + i + 1,
			    NULL, 0))
			break;
	}
	free(v);
}

/* A new file in a run's directory or templates/ starts as scratch. */
int scratch_create(fuse_ino_t dir, const char *name, mode_t mode,
		   fuse_ino_t *ino)
{
	if (!scratch_name_ok(name))
		return TFS_EINVAL;
	pthread_mutex_lock(&fs.lock);
	*ino = scratch_new_locked(dir, name, mode);
	pthread_mutex_unlock(&fs.lock);
	return *ino ? TFS_OK : TFS_ENOSPC;
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

/* ---- the scratch file's entry ---- */

static int scratch_stat(const struct node *n, fuse_ino_t ino,
			struct stat *st, double *timeout)
{
	struct scratch *s;

	(void)n;
	(void)timeout;
	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(ino);
	if (s)
		attr_init(st, ino, S_IFREG | (s->mode & 07777),
			  (int64_t)s->data.len, s->mtime_ms);
	pthread_mutex_unlock(&fs.lock);
	return s ? TFS_OK : TFS_ENOENT;
}

static int scratch_open_write(const struct node *n, struct fh *h, int flags)
{
	struct scratch *s;

	(void)n;
	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(h->ino);
	if (s && (flags & O_TRUNC)) {
		buf_reset(&s->data);
		s->mtime_ms = now_ms();
	}
	pthread_mutex_unlock(&fs.lock);
	return s ? TFS_OK : TFS_ENOENT;
}

static int scratch_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
			int flags, struct read_ans *a)
{
	struct scratch *s;

	(void)req;
	(void)flags;
	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(h->ino);
	if (s && (size_t)off < s->data.len)
		buf_append(&a->own, s->data.p + off,
			   s->data.len - (size_t)off < size ?
			   s->data.len - (size_t)off : size);
	pthread_mutex_unlock(&fs.lock);
	a->p = a->own.p;
	a->len = a->own.len;
	return TFS_OK;
}

static int scratch_write(struct fh *h, const char *data, size_t size,
			 off_t off)
{
	struct scratch *s;
	int r;

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
	return r;
}

static int scratch_setattr(const struct node *n, fuse_ino_t ino, struct fh *h,
			   const struct stat *attr, int to_set)
{
	struct scratch *s;

	(void)n;
	(void)h;
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
	return TFS_OK;
}

static int scratch_remove(const struct node *n, fuse_ino_t ino, int dir)
{
	(void)n;
	if (dir)
		return FS_EPERM;
	scratch_drop(ino);
	return TFS_OK;
}

/* ---- new templates written through a scratch file ---- */

/*
 * A new NAME.json is a scratch file until its close stores it as a
 * template: `touch` or a failed write leaves nothing. Only the handle
 * that created it (a later open is an editor's ordinary scratch file).
 */
void tpl_dir_created(struct fh *h, const char *name)
{
	size_t n = strlen(name);
	int scratch;

	pthread_mutex_lock(&fs.lock);
	scratch = scratch_by_ino(h->ino) != NULL;
	pthread_mutex_unlock(&fs.lock);
	if (scratch && n > 5 && !strcmp(name + n - 5, ".json") &&
	    n - 5 <= TFS_NAME_MAX) {
		memcpy(h->name, name, n - 5);
		h->name[n - 5] = '\0';
		h->tpl_pending = name_valid(h->name);
	}
}

/*
 * Stores a new template written through its scratch file (see above): the
 * file becomes the template, or, when refused, nothing is left of it.
 * Once per handle.
 */
static int tpl_scratch_store(struct fh *h)
{
	char reason[CONFIG_REASON_MAX];
	struct core_tpl_info ti;
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
	scratch_drop(h->ino);
	return r ? r : TFS_EIO;
}

/*
 * A shell's `>` opens, dup2()s and closes the first descriptor before
 * anything is written, and that close flushes too: with nothing written
 * yet a flush only says EINVAL (the shell ignores it); the refusal of an
 * empty file is recorded once, at release.
 */
static int scratch_flush(struct fh *h)
{
	if (h->tpl_pending)
		return !h->dirty && !h->too_big ? TFS_EINVAL :
		       tpl_scratch_store(h);
	return fh_flush_buffered(h, NULL);
}

/* The last close of a new template left nothing written. */
static void scratch_release(struct fh *h)
{
	if (!h->tpl_pending)
		return;
	core_event(fs.core, "template '%s' refused: nothing was written (a "
		   "template is made by writing it)", h->name);
	scratch_drop(h->ino);
}

const struct node scratch_node = {
	NULL, .type = S_IFREG, .mode = 0644,
	.flags = NODE_PRIVATE | NODE_COPYABLE,
	.stat = scratch_stat, .open = fh_open_stream, .read = scratch_read,
	.open_write = scratch_open_write, .write = scratch_write,
	.flush = scratch_flush, .release = scratch_release,
	.setattr = scratch_setattr, .remove = scratch_remove,
};

/* ---- renames within a directory that holds scratch files ---- */

/*
 * Only a scratch file is renamed (generated files and templates keep their
 * names); over another scratch file it takes that name, as rename(2).
 * Returns 1 with *r when that settles the rename, 0 to go on.
 */
static int scratch_rename_over(fuse_ino_t src, fuse_ino_t dst, int *r)
{
	struct scratch *s, *d;

	pthread_mutex_lock(&fs.lock);
	s = scratch_by_ino(src);
	d = dst ? scratch_by_ino(dst) : NULL;
	if (s && d) {
		/* as rename(2): the name now means the source inode */
		free(s->name);
		s->name = xstrdup(d->name);
		scratch_free_locked(d);
	}
	pthread_mutex_unlock(&fs.lock);
	*r = s ? TFS_OK : FS_EPERM;
	return !s || d;
}

/* Saving a template through a temporary file: NAME.json. */
int tpl_dir_rename(fuse_ino_t dir, const char *name, const char *newname,
		   fuse_ino_t src, fuse_ino_t dst)
{
	size_t n = strlen(newname), len = 0;
	char reason[CONFIG_REASON_MAX];
	char tn[TFS_NAME_MAX + 8], *text;
	struct core_tpl_info ti;
	int64_t id;
	int r;

	(void)dir;
	(void)name;
	if (scratch_rename_over(src, dst, &r))
		return r;
	if (n <= 5 || n - 5 > TFS_NAME_MAX || strcmp(newname + n - 5, ".json"))
		return TFS_EINVAL;
	memcpy(tn, newname, n - 5);
	tn[n - 5] = '\0';
	text = scratch_take(src, &len);
	r = text ? core_tpl_put(fs.core, tn, text, len, &id, reason,
				sizeof(reason)) : TFS_ENOENT;
	free(text);
	if (!r && !core_tpl_lookup(fs.core, tn, &ti))
		scratch_become(src, INO(K_TPL, ti.id, 0));
	return r;
}

/* In a run's directory: a new name, or over config.json to submit. */
int run_dir_rename(fuse_ino_t dir, const char *name, const char *newname,
		   fuse_ino_t src, fuse_ino_t dst)
{
	char reason[CONFIG_REASON_MAX];
	struct scratch *s;
	size_t len = 0;
	char *text;
	int r;

	(void)name;
	if (scratch_rename_over(src, dst, &r))
		return r;
	if (!dst) {
		if (!scratch_name_ok(newname))
			return TFS_EINVAL;
		pthread_mutex_lock(&fs.lock);
		s = scratch_by_ino(src);
		if (s) {
			free(s->name);
			s->name = xstrdup(newname);
		}
		pthread_mutex_unlock(&fs.lock);
		return TFS_OK;
	}
	if (dst != INO(K_RUN, INO_ID(dir), RS_CONFIG))
		return FS_EPERM;
	text = scratch_take(src, &len);
	r = text ? core_run_submit(fs.core, INO_ID(dst), text, len, reason,
				   sizeof(reason)) : TFS_ENOENT;
	free(text);
	if (!r)
		scratch_become(src, dst);
	return r;
}
