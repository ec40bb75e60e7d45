/*
 * test_fs.c - the FUSE layer's node table without a mount: the inode
 * scheme, that every slot of every kind has a whole entry (a directory can
 * be listed and looked in, a writable file written, a live file taken
 * again), that a directory's fixed entries are found by their names, which
 * nodes are the owner's alone under allow_other, the errno of every code,
 * and editors' scratch files. A new kind that forgets an operation fails
 * here, not on a mount.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fs.h"
#include "test.h"

struct fs fs;   /* main.c's, which this test does not link */

static const int nslots[K_MAX] = {
	[K_FIXED] = INO_FIXED_MAX, [K_EXP] = ES_MAX, [K_RUN] = RSLOT_MAX,
	[K_TPL] = 1, [K_SCRATCH] = 1, [K_PROV] = PS_MAX, [K_ART] = 1,
	[K_SWEEP] = SW_MAX, [K_STREAM] = SS_MAX,
};

/* The inode of slot in kind k, of the object with id 7 (fixed: none). */
static fuse_ino_t ino_at(int k, int slot)
{
	return INO(k, k == K_FIXED ? 0 : 7, slot);
}

static void test_ino_scheme(void)
{
	uint64_t ino = INO(K_RUN, 123456789, RS_WAIT);
	int64_t big = ((int64_t)1 << 48) - 1;

	CHECK(INO_KIND(ino) == K_RUN);
	CHECK(INO_ID(ino) == 123456789);
	CHECK(INO_SLOT(ino) == RS_WAIT);
	CHECK(INO_ID(INO(K_ART, big, 0)) == big);
	CHECK(INO_KIND(INO(K_ART, big, 0)) == K_ART);
	CHECK(INO(K_FIXED, 0, INO_README) == INO_README);
	/* inodes that name nothing */
	CHECK(node_of(0) == NULL);
	CHECK(node_of(INO_FIXED_MAX) == NULL);
	CHECK(node_of(INO(K_MAX, 1, 0)) == NULL);
	CHECK(node_of(INO(K_RUN, 1, RSLOT_MAX)) == NULL);
	CHECK(node_of(INO(K_EXP, 1, ES_MAX)) == NULL);
	CHECK(node_of(INO(K_TPL, 1, 1)) == NULL);
	CHECK(node_of(INO(K_PROV, 1, PS_MAX)) == NULL);
}

/* What every entry must have, whatever its kind. */
static void check_entry(const struct node *n)
{
	CHECK(n->stat != NULL);
	if (S_ISDIR(n->type)) {
		CHECK(n->lookup != NULL);
		CHECK(n->list != NULL);
		CHECK(n->open_write == NULL && n->write == NULL);
	} else {
		CHECK(S_ISREG(n->type));
		CHECK(n->mkdir == NULL && n->rmdir == NULL && n->create == NULL);
		/* something to read: a snapshot, or reads at each offset */
		CHECK(n->content != NULL || n->read != NULL);
	}
	/* a file read at each offset says so at open, not by a snapshot */
	CHECK(n->read == NULL || n->open != NULL);
	CHECK((n->open_write == NULL) == (n->write == NULL));
	if (n->flags & NODE_LIVE)
		CHECK(n->content != NULL && n->read == NULL);
	if (n->flags & NODE_SCRATCH)
		CHECK(S_ISDIR(n->type) && n->create == scratch_create);
	if (n->children)
		CHECK(n->lookup == node_children_lookup &&
		      n->list == node_children_list);
	if (n->move)
		CHECK(n->rename != NULL);
}

static void test_every_entry(void)
{
	int k, slot, entries = 0;

	for (k = 0; k < K_MAX; k++)
		for (slot = 0; slot < nslots[k]; slot++) {
			const struct node *n = node_of(ino_at(k, slot));

			if (k == K_FIXED && slot == 0) {
				CHECK(n == NULL);   /* no inode 0 */
				continue;
			}
			CHECK(n != NULL);
			if (!n)
				continue;
			check_entry(n);
			entries++;
		}
	CHECK(entries == INO_FIXED_MAX - 1 + ES_MAX + RSLOT_MAX + 3 + PS_MAX +
	      SW_MAX + SS_MAX);
}

/* A directory's fixed entries: named, each once, found by that name. */
static void check_children(fuse_ino_t dir, const char *const *names,
			   int nnames)
{
	const struct node *n = node_of(dir);
	int i, j;

	CHECK(n != NULL && n->nchildren == nnames);
	if (!n || n->nchildren != nnames)
		return;
	for (i = 0; i < n->nchildren; i++) {
		fuse_ino_t ino = INO(INO_KIND(dir), INO_ID(dir), n->children[i]);
		const struct node *c = node_of(ino);

		CHECK(c != NULL && c->name != NULL);
		if (!c || !c->name)
			continue;
		CHECK_STR(c->name, names[i]);
		/* one there at times asks core, which this test has not */
		if (!c->present)
			CHECK(node_children_lookup(n, dir, c->name) == ino);
		for (j = 0; j < i; j++)
			CHECK(n->children[j] != n->children[i]);
	}
	CHECK(node_children_lookup(n, dir, "no-such-name") == 0);
	CHECK(node_children_lookup(n, dir, "") == 0);
}

static void test_children(void)
{
	static const char *const root[] = {
		"README", "cost", "events", "experiments", "exports",
		"providers", "queue", "scheduler", "stream", "streams",
		"templates",
	};
	static const char *const exp[] = {
		"compare.svg", "description", "leaderboard", "objective",
		"runs", "sweeps",
	};
	static const char *const sweep[] = {
		"sweep.json", "status", "trials", "best", "best.json", "ctl",
		"events", "compare.svg",
	};
	static const char *const run[] = {
		"config.json", "status", "status.json", "log", "metrics",
		"metrics.jsonl", "metrics.svg", "events", "ctl", "wait",
		"downloads", "artifacts",
	};
	static const char *const prov[] = { "status" };
	static const char *const stream_exp[] = { "all", "runs" };
	static const char *const exports[] = { "mlflow" };
	int slot;

	check_children(INO_ROOT, root, 11);
	check_children(INO(K_STREAM, 7, SS_EXP), stream_exp, 2);
	check_children(INO_EXPORTS, exports, 1);
	check_children(INO_EXPORTS_MLFLOW, prov, 1);
	check_children(INO(K_EXP, 7, ES_DIR), exp, 6);
	check_children(INO(K_SWEEP, 7, SW_DIR), sweep, 8);
	check_children(INO(K_RUN, 7, RS_DIR), run, 12);
	check_children(INO(K_PROV, 7, PS_DIR), prov, 1);
	/* `wait` opens by name and is never listed (grep -r, cp -r) */
	for (slot = 1; slot < RSLOT_MAX; slot++)
		CHECK(!(node_of(INO(K_RUN, 7, slot))->flags & NODE_UNLISTED) ==
		      (slot != RS_WAIT));
	/* nor the streams at the top, which block too */
	for (slot = 1; slot < INO_FIXED_MAX; slot++)
		CHECK(!(node_of(slot)->flags & NODE_UNLISTED) ==
		      (slot != INO_STREAM && slot != INO_STREAMS));
}

static int is_private(fuse_ino_t ino)
{
	return (node_of(ino)->flags & NODE_PRIVATE) != 0;
}

/* Under allow_other: others see names and states, not what runs hold. */
static void test_private(void)
{
	int slot;

	CHECK(!is_private(INO_ROOT) && !is_private(INO_README) &&
	      !is_private(INO_EXPERIMENTS) && !is_private(INO_PROVIDERS) &&
	      !is_private(INO_QUEUE) && !is_private(INO_SCHEDULER));
	CHECK(is_private(INO_EVENTS) && is_private(INO_TEMPLATES));
	for (slot = 0; slot < ES_MAX; slot++)
		CHECK(is_private(INO(K_EXP, 7, slot)) ==
		      (slot != ES_DIR && slot != ES_RUNS && slot != ES_SWEEPS));
	/* a sweep's state is seen as a run's is; its params are not */
	for (slot = 0; slot < SW_MAX; slot++)
		CHECK(is_private(INO(K_SWEEP, 7, slot)) ==
		      (slot != SW_DIR && slot != SW_STATUS && slot != SW_CTL));
	for (slot = 0; slot < RSLOT_MAX; slot++)
		CHECK(is_private(INO(K_RUN, 7, slot)) ==
		      (slot != RS_DIR && slot != RS_STATUS && slot != RS_WAIT &&
		       slot != RS_CTL));
	for (slot = 0; slot < PS_MAX; slot++)
		CHECK(!is_private(INO(K_PROV, 7, slot)));
	CHECK(is_private(INO(K_TPL, 7, 0)));
	CHECK(is_private(INO(K_SCRATCH, 7, 0)));
	CHECK(is_private(INO(K_ART, 7, 0)));
	/* the streams carry reasons, mount events and metric points */
	CHECK(is_private(INO_STREAM) && is_private(INO_STREAMS));
	for (slot = 0; slot < SS_MAX; slot++)
		CHECK(is_private(INO(K_STREAM, 7, slot)));
}

static void test_errno(void)
{
	static const struct { int code, err; } fs_codes[] = {
		{ FS_EPERM, EPERM }, { FS_EISDIR, EISDIR },
		{ FS_ENOTDIR, ENOTDIR }, { FS_EXDEV, EXDEV },
		{ FS_ENODATA, ENODATA }, { FS_ENOTSUP, ENOTSUP },
		{ FS_ENOTCONN, ENOTCONN },
	};
	size_t i;
	int c;

	CHECK(fs_errno(TFS_OK) == 0);
	/* every code of core's has its own errno; only an I/O error is EIO */
	for (c = TFS_OK + 1; c < TFS_ERR_MAX; c++)
		CHECK(fs_errno(c) > 0 && (fs_errno(c) == EIO) == (c == TFS_EIO));
	CHECK(fs_errno(TFS_ENOENT) == ENOENT);
	CHECK(fs_errno(TFS_EBUSY) == EBUSY);
	CHECK(fs_errno(TFS_ESTATE) == EINVAL);
	for (i = 0; i < sizeof(fs_codes) / sizeof(*fs_codes); i++)
		CHECK(fs_errno(fs_codes[i].code) == fs_codes[i].err);
	CHECK((int)FS_EPERM > (int)TFS_ERR_MAX);
}

/* Editors' scratch files, which live in fs/ alone (no core needed). */
static void test_scratch(void)
{
	fuse_ino_t run_dir = INO(K_RUN, 7, RS_DIR), ino, other, seen[SCRATCH_MAX];
	double timeout = 0.0 / 0.0;   /* NaN: node_stat must set it */
	struct stat st;
	int i, n = 0;

	CHECK(scratch_create(run_dir, "", 0644, &ino) == TFS_EINVAL);
	CHECK(scratch_create(run_dir, "a\001b", 0644, &ino) == TFS_EINVAL);
	CHECK(scratch_create(run_dir, "..", 0644, &ino) == TFS_EINVAL);
	CHECK(scratch_create(run_dir, ".config.json.swp", 0600, &ino) == TFS_OK);
	CHECK(INO_KIND(ino) == K_SCRATCH);
	CHECK(node_resolve(run_dir, ".config.json.swp") == ino);
	CHECK(scratch_lookup(INO_TEMPLATES, ".config.json.swp") == 0);
	CHECK(alias_of(ino) == ino);
	CHECK(node_stat(ino, &st, &timeout) == TFS_OK);
	CHECK(timeout == 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 07777) == 0600);
	CHECK(st.st_size == 0);
	/* a rename to a new name in the run's directory keeps the inode */
	CHECK(run_dir_rename(run_dir, ".config.json.swp", "notes.txt", ino, 0) ==
	      TFS_OK);
	CHECK(scratch_lookup(run_dir, "notes.txt") == ino);
	CHECK(scratch_lookup(run_dir, ".config.json.swp") == 0);
	CHECK(run_dir_rename(run_dir, "notes.txt", "bad\nname", ino, 0) ==
	      TFS_EINVAL);
	/* over another scratch file: that name now means the source */
	CHECK(scratch_create(run_dir, "b", 0644, &other) == TFS_OK);
	CHECK(run_dir_rename(run_dir, "notes.txt", "b", ino, other) == TFS_OK);
	CHECK(scratch_lookup(run_dir, "b") == ino);
	CHECK(node_stat(other, &st, &timeout) == TFS_ENOENT);
	/* only a scratch file is renamed */
	CHECK(run_dir_rename(run_dir, "status", "x", INO(K_RUN, 7, RS_STATUS),
			     0) == FS_EPERM);
	/* at most SCRATCH_MAX at once, then ENOSPC */
	seen[n++] = ino;
	for (i = 0; n < SCRATCH_MAX; i++) {
		char name[16];

		snprintf(name, sizeof(name), "f%d", i);
		CHECK(scratch_create(INO_TEMPLATES, name, 0644, &seen[n]) ==
		      TFS_OK);
		n++;
	}
	CHECK(scratch_create(INO_TEMPLATES, "one-more", 0644, &other) ==
	      TFS_ENOSPC);
	/* an unlink frees a place */
	CHECK(scratch_node.remove(&scratch_node, seen[1], 1) == FS_EPERM);
	CHECK(scratch_node.remove(&scratch_node, seen[1], 0) == TFS_OK);
	CHECK(scratch_lookup(INO_TEMPLATES, "f0") == 0);
	CHECK(scratch_create(INO_TEMPLATES, "one-more", 0644, &other) ==
	      TFS_OK);
	scratch_drop_run(7);
	CHECK(scratch_lookup(run_dir, "b") == 0);
	CHECK(scratch_lookup(INO_TEMPLATES, "one-more") == other);
	scratch_free_all();
	CHECK(scratch_lookup(INO_TEMPLATES, "one-more") == 0);
}

int main(void)
{
	pthread_mutex_init(&fs.lock, NULL);
	test_ino_scheme();
	test_every_entry();
	test_children();
	test_private();
	test_errno();
	test_scratch();
	return TEST_REPORT();
}
