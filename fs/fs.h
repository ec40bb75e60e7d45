/*
 * fs.h - what the files of the FUSE layer share: the inode scheme, the
 * node table's entry (nodes.c), open-file handles, struct fs, and the few
 * functions one file of fs/ calls in another.
 *
 * Inode numbers are computed from the store's ids (kind, id, slot), so they
 * are stable and need no table. Each (kind, slot) names one node kind, one
 * entry of nodes.c's table, which says how that kind of file or directory
 * behaves; the handlers of ops.c look the entry up and call it.
 *
 * Lock order: fs.lock (scratch files, parked requests, open files), then
 * core's lock, then fs.qlock (the change queue, the only lock core's
 * listener takes).
 */
#ifndef TFS_FS_H
#define TFS_FS_H

#define FUSE_USE_VERSION 34

#include <pthread.h>
#include <stdint.h>
#include <sys/stat.h>

#include <fuse_lowlevel.h>

#include "config.h"
#include "core.h"
#include "util.h"

/* ---- inode numbers ---- */

enum {
	INO_ROOT = 1,
	INO_README,
	INO_EXPERIMENTS,
	INO_PROVIDERS,
	INO_QUEUE,
	INO_TEMPLATES,
	INO_EVENTS,
	INO_SCHEDULER,
	INO_COST,
	INO_STREAM,
	INO_STREAMS,
	INO_EXPORTS,             /* exports/: one directory per exporter */
	INO_EXPORTS_MLFLOW,
	INO_EXPORTS_MLFLOW_STATUS,
	INO_FIXED_MAX
};

enum { K_FIXED = 0, K_EXP, K_RUN, K_TPL, K_SCRATCH, K_PROV, K_ART, K_SWEEP,
       K_STREAM, K_MAX };

/* experiment slots */
enum { ES_DIR, ES_DESCRIPTION, ES_RUNS, ES_OBJECTIVE, ES_LEADERBOARD,
       ES_COMPARE, ES_SWEEPS, ES_MAX };
/* run slots */
enum {
	RS_DIR, RS_CONFIG, RS_STATUS, RS_STATUS_JSON, RS_LOG, RS_METRICS,
	RS_METRICS_JSONL, RS_EVENTS, RS_CTL, RS_WAIT, RS_DOWNLOADS,
	RS_ARTIFACTS, RS_METRICS_SVG, RSLOT_MAX
};
/* sweep slots */
enum {
	SW_DIR, SW_SPEC, SW_STATUS, SW_TRIALS, SW_BEST, SW_BEST_JSON, SW_CTL,
	SW_EVENTS, SW_COMPARE, SW_MAX
};
/* stream slots (streams.c): an experiment's directory under streams/, its
 * file `all` and its runs/ (id: the experiment's), a run's file (id: the
 * run's) */
enum { SS_EXP, SS_ALL, SS_RUNS, SS_RUN, SS_MAX };
/* provider slots */
enum { PS_DIR, PS_STATUS, PS_MAX };

#define INO(k, id, slot) (((uint64_t)(k) << 56) | ((uint64_t)(id) << 8) | \
			  (uint64_t)(slot))
#define INO_KIND(ino) ((int)((ino) >> 56))
#define INO_ID(ino) ((int64_t)(((ino) >> 8) & ((1ULL << 48) - 1)))
#define INO_SLOT(ino) ((int)((ino) & 0xff))

#define DIR_TIMEOUT 1.0          /* names and directory attributes */
#define SCRATCH_MAX 64           /* temporary files alive at once */
#define ALIAS_MAX 256            /* renamed temporary files remembered */
#define SCRATCH_NAME_MAX 255
#define DESC_MAX 65536
#define CTL_MAX 4096             /* one ctl write, buffered to a newline */

/*
 * The answers of fs/ that have no TFS_* kin, past core's codes; fs_errno()
 * maps them with the rest. FS_TAKEN is no error: the callee answered the
 * request, or parked it to be answered later (park.c), so the handler
 * gives no reply of its own.
 */
enum {
	FS_EPERM = TFS_ERR_MAX + 1,
	FS_EISDIR,
	FS_ENOTDIR,
	FS_EXDEV,
	FS_ENODATA,
	FS_ENOTSUP,
	FS_ENOTCONN,
	FS_TAKEN
};

/* ---- open files ---- */

struct node;

/* An open file: what is being read (a snapshot) or written. */
struct fh {
	const struct node *node;    /* its kind's entry */
	uint64_t ino;
	int writing;                /* opened for writing (open_write) */
	struct buf data;
	int dirty;
	int too_big;                /* a write went past the bound: refuse */
	int fd;                     /* artifacts: the verified cache file, or -1 */
	char sha256[65];            /* artifacts: the cache entry fd pins */
	int read_once;              /* snapshots: a read was answered */
	char name[TFS_NAME_MAX + 1];
	struct fh *prev, *next;     /* in fs.fhs, under fs.lock */
	/* config.json */
	struct config_scan scan;    /* where the bytes written so far stand */
	int refused;                /* a write was refused for its content */
	int truncated;              /* opened with O_TRUNC: empty is a refusal */
	/* scratch files: a new templates/NAME.json, stored at close as `name` */
	int tpl_pending;
	/* streams: the reader's queue in core, and its poll() handle (under
	 * fs.lock) */
	struct core_stream *stream;
	struct fuse_pollhandle *stream_ph;
};

/* What a read answers: len bytes at p, which points into h->data or own. */
struct read_ans {
	const char *p;
	size_t len;
	struct buf own;             /* released by the handler after the reply */
};

/* A directory listing being filled (nodes.c's dir_add). */
struct dirfill {
	fuse_req_t req;
	char *buf;
	size_t size, used;
	int plus;
	int full;
};

/* ---- the node table ---- */

#define NODE_PRIVATE  0x01  /* the owner's alone under allow_other */
#define NODE_LIVE     0x02  /* a snapshot taken again as it grows */
#define NODE_SCRATCH  0x04  /* a directory that holds scratch files */
#define NODE_UNLISTED 0x08  /* opened by name, never listed (wait) */
#define NODE_COPYABLE 0x10  /* just bytes: mv may copy it (EXDEV) */
#define NODE_RW_UNTIL_SUBMITTED 0x20  /* config.json until submitted */

/*
 * What a file that submits its text at close (config.json, sweep.json)
 * asks of core: the same steps for both (nodes.c's node_submit_*).
 */
struct submit_ops {
	const char *what;           /* "config", "sweep.json": in notes */
	/* checks text as submit would; a refusal is in events already */
	int (*check)(int64_t id, const char *text, size_t len, char *reason,
		     size_t rlen);
	int (*submit)(int64_t id, const char *text, size_t len, char *reason,
		      size_t rlen);
	/* a line in the owner's events */
	void (*note)(int64_t id, const char *text);
	/* TFS_OK with *done: whether it was submitted */
	int (*submitted)(int64_t id, int *done);
};

/* What a ctl file carries out (a run's, a sweep's: node_ctl_*). */
struct ctl_ops {
	const char *help;           /* its content: the commands */
	int (*run)(int64_t id, const char *text, size_t len, char *reason,
		   size_t rlen);
	void (*note)(int64_t id, const char *text);
};

/*
 * One kind of node: a fixed file or directory, or one that core names
 * (experiments, runs, templates, artifacts, providers). A NULL operation
 * takes the default written beside it. Operations return TFS_OK, a TFS_*
 * code or an FS_* code; none replies to a request unless it returns
 * FS_TAKEN.
 */
struct node {
	const char *name;           /* in its directory; NULL when core names it */
	mode_t type;                /* S_IFDIR or S_IFREG, for listings */
	mode_t mode;                /* permission bits, for those that use them */
	unsigned flags;             /* NODE_* */
	int rf;                     /* a run's file: what core_run_read() reads */
	size_t run_mtime;           /* a run's file: its mtime in core_run_info */
	const unsigned char *children;  /* fixed entries of a directory (slots) */
	int nchildren;
	const struct submit_ops *sub;   /* a submitted file's (node_submit_*) */
	/* a fixed entry there only at times: whether ino is now (NULL:
	 * always), for node_children_lookup() and _list() */
	int (*present)(fuse_ino_t ino);
	const struct ctl_ops *ctl;      /* a ctl file's (node_ctl_*) */

	/* attributes; the attribute timeout suits the kind, 0 unless set
	 * (required) */
	int (*stat)(const struct node *n, fuse_ino_t ino, struct stat *st,
		    double *timeout);
	/* for the stat of a run's or an experiment's nodes (run_stat,
	 * exp_stat): the attributes from rec, its core_run_info or
	 * core_exp_info */
	int (*attr)(const struct node *n, fuse_ino_t ino, const void *rec,
		    struct stat *st, double *timeout);
	/* the text of a generated file (NULL: there is none, ENOENT) */
	int (*content)(const struct node *n, fuse_ino_t ino, struct buf *b);

	/* directories: the inode of name, or 0 (NULL: none) */
	fuse_ino_t (*lookup)(const struct node *n, fuse_ino_t dir,
			     const char *name);
	/* adds the entries from offset off (NULL: none) */
	void (*list)(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		     off_t off);
	/* NULL: EEXIST for a name that exists, else EPERM */
	int (*mkdir)(fuse_ino_t dir, const char *name, fuse_ino_t *ino);
	/* NULL: the child's remove() */
	int (*rmdir)(fuse_ino_t dir, const char *name);
	/* a new file here: its inode in *ino (NULL: EACCES) */
	int (*create)(fuse_ino_t dir, const char *name, mode_t mode,
		      fuse_ino_t *ino);
	/* after create() opened h on name here (NULL: nothing) */
	void (*created)(struct fh *h, const char *name);
	/* within the directory: src is name's inode, dst newname's or 0
	 * (NULL: EPERM) */
	int (*rename)(fuse_ino_t dir, const char *name, const char *newname,
		      fuse_ino_t src, fuse_ino_t dst);
	/* from this directory to another of the same kind (NULL: refused) */
	int (*move)(fuse_ino_t dir, const char *name, fuse_ino_t newdir,
		    const char *newname);

	/* rm -rf of this entry (an unlink, or an rmdir when dir): TFS_OK when
	 * done or accepted (NULL: EPERM) */
	int (*remove)(const struct node *n, fuse_ino_t ino, int dir);

	/* files: the open of a reader (NULL: a snapshot of content()) */
	int (*open)(const struct node *n, struct fh *h, struct fuse_file_info *fi);
	/* the open of a writer (NULL: EACCES) */
	int (*open_write)(const struct node *n, struct fh *h, int flags);
	/* NULL: from h->data */
	int (*read)(fuse_req_t req, struct fh *h, size_t size, off_t off,
		    int flags, struct read_ans *a);
	/* NULL: EACCES */
	int (*write)(struct fh *h, const char *data, size_t size, off_t off);
	/* NULL: fh_flush_buffered(h, NULL) */
	int (*flush)(struct fh *h);
	/* at the last close, before h is freed (NULL: nothing) */
	void (*release)(struct fh *h);
	/* chmod, truncate (h: the handle of an ftruncate or O_TRUNC, or NULL;
	 * NULL: a size may not be set, EACCES) */
	int (*setattr)(const struct node *n, fuse_ino_t ino, struct fh *h,
		       const struct stat *attr, int to_set);
	/* readiness; *kept when ph was kept to be notified (NULL: always
	 * ready) */
	unsigned (*poll)(struct fh *h, struct fuse_pollhandle *ph, int *kept);
	/* user.* attributes: one into b (NULL: ENODATA), the names into b */
	int (*getxattr)(fuse_ino_t ino, const char *name, struct buf *b);
	int (*listxattr)(fuse_ino_t ino, struct buf *b);
};

/* A directory's fixed entries, from an array of their slots. */
#define CHILDREN(a) .children = (a), .nchildren = (int)sizeof(a)

/* ---- the filesystem ---- */

struct scratch;
struct parked;
struct poller_h;
struct change;

struct fs {
	struct core *core;
	struct fuse_session *se;
	uid_t uid;
	gid_t gid;
	int allow_other;
	int share_read;              /* others may read what runs hold too */
	int64_t start_ms;

	pthread_mutex_t lock;        /* protects scratch, waiters, art_reads,
					stream_reads, pollers, fhs */
	struct scratch *scratch;
	int nscratch;
	int naliases;
	uint64_t next_scratch;
	struct parked *waiters;      /* parked reads of wait */
	struct parked *art_reads;    /* parked artifact reads */
	struct parked *stream_reads; /* parked reads of streams */
	struct fh *fhs;              /* every open file: freed at the end */
	struct poller_h *pollers;

	pthread_mutex_t qlock;       /* protects the change queue */
	pthread_cond_t qcond;
	struct change *q;
	size_t qn, qcap;
	int qstop;
	pthread_t notifier;
	int notifier_started;
};

extern struct fs fs;             /* main.c */

/* ---- ops.c: the operations, errno, replies ---- */

extern const struct fuse_lowlevel_ops fs_ops;

/* The errno for a TFS_* or FS_* code (0 for TFS_OK). */
int fs_errno(int err);
/* Whether the caller of req may read ino (or list it, for a directory). */
int may_read(fuse_req_t req, fuse_ino_t ino);
int others_kept_out(void);
/*
 * The replies that park.c and the nodes give. Each counts as the one
 * reply of the handler running on this thread, if req is its request.
 */
void reply_err(fuse_req_t req, int err);
void reply_buf(fuse_req_t req, const char *p, size_t len);
int reply_data(fuse_req_t req, struct fuse_bufvec *bv);
/* req now belongs to park.c, which answers it once (see park.c) */
void reply_handoff(fuse_req_t req);

/* ---- nodes.c: the table and what is done through it ---- */

/* The entry of ino's kind, or NULL for an inode that names nothing. */
const struct node *node_of(fuse_ino_t ino);
/* Fills st for ino; returns a TFS_* code. */
int node_stat(fuse_ino_t ino, struct stat *st, double *timeout);
/* The inode of name in parent; 0 when there is none. */
fuse_ino_t node_resolve(fuse_ino_t parent, const char *name);
int node_content(fuse_ino_t ino, struct buf *b);
/* A reader's or a writer's handle on ino: TFS_OK with *hp, or a code. */
int node_open(fuse_ino_t ino, struct fuse_file_info *fi, struct fh **hp);
int node_open_write(fuse_ino_t ino, int flags, struct fh **hp);
/* The read of h: TFS_OK with *a, a code, or FS_TAKEN. */
int node_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	      int flags, struct read_ans *a);
void attr_init(struct stat *st, fuse_ino_t ino, mode_t mode, int64_t size,
	       int64_t mtime_ms);
/* Adds one entry; returns 1 when the buffer is full (see nodes.c). */
int dir_add(struct dirfill *d, const char *name, fuse_ino_t ino,
	    mode_t type, off_t next_off, const struct stat *attr,
	    double attr_timeout);
/* A new handle on ino, in fs.fhs; fh_free() frees it with what it holds. */
struct fh *fh_new(const struct node *n, fuse_ino_t ino);
void fh_free(struct fh *h);
/* Writes data at off into b, growing it; TFS_EFBIG past its bound. */
int buf_write_at(struct buf *b, const char *data, size_t size, off_t off);
/*
 * The close of a buffered writer: EFBIG when a write went past the bound,
 * else store(h) when something was written (NULL: nothing to store).
 */
int fh_flush_buffered(struct fh *h, int (*store)(struct fh *h));
/* The text written so far, never NULL. */
const char *fh_text(const struct fh *h);
/* Shared by the files that read a growing file at each offset. */
int fh_open_stream(const struct node *n, struct fh *h,
		   struct fuse_file_info *fi);

/* What entries of several kinds share (nodes.c). */
int node_content_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		      int64_t mtime);
fuse_ino_t node_children_lookup(const struct node *n, fuse_ino_t dir,
				const char *name);
void node_children_list(const struct node *n, struct dirfill *d,
			fuse_ino_t dir, off_t off);
int node_buffered_write(struct fh *h, const char *data, size_t size,
			off_t off);
int node_buffered_truncate(fuse_ino_t ino, struct fh *h, off_t size);
int node_buffered_setattr(const struct node *n, fuse_ino_t ino, struct fh *h,
			  const struct stat *attr, int to_set);
int node_size_ok(const struct node *n, fuse_ino_t ino, struct fh *h,
		 const struct stat *attr, int to_set);
/* A file submitted at close, through n->sub (config.json, sweep.json). */
int node_submit_open_write(const struct node *n, struct fh *h, int flags);
int node_submit_write(struct fh *h, const char *data, size_t size, off_t off);
int node_submit_flush(struct fh *h);
void node_submit_close(struct fh *h);
int node_submit_setattr(const struct node *n, fuse_ino_t ino, struct fh *h,
			const struct stat *attr, int to_set);
/* A ctl file, through n->ctl. */
int node_ctl_content(const struct node *n, fuse_ino_t ino, struct buf *b);
int node_ctl_open_write(const struct node *n, struct fh *h, int flags);
int node_ctl_write(struct fh *h, const char *data, size_t size, off_t off);
int node_ctl_flush(struct fh *h);

/* ---- runs.c: a run's entries and its artifacts' ---- */

extern const struct node run_nodes[RSLOT_MAX];
extern const struct node art_node;

/* ---- sweeps.c: an experiment's sweeps/ and a sweep's entries ---- */

extern const struct node sweep_nodes[SW_MAX];
fuse_ino_t sweeps_lookup(const struct node *n, fuse_ino_t dir,
			 const char *name);
void sweeps_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		 off_t off);
int sweeps_mkdir(fuse_ino_t dir, const char *name, fuse_ino_t *ino);
int sweeps_rmdir(fuse_ino_t dir, const char *name);
int sweeps_remove(const struct node *n, fuse_ino_t ino, int dir);

/* ---- streams.c: MOUNT/stream and MOUNT/streams/ ---- */

extern const struct node stream_nodes[SS_MAX];
/* size 0, dated now: a pipe's attributes */
int streams_stat(const struct node *n, fuse_ino_t ino, struct stat *st,
		 double *timeout);
/* Gives h a reader of its own in core (h->stream), which streams_close()
 * closes at the last close; TFS_EBUSY past the readers' bound. */
int streams_open(const struct node *n, struct fh *h,
		 struct fuse_file_info *fi);
void streams_close(struct fh *h);
fuse_ino_t streams_lookup(const struct node *n, fuse_ino_t dir,
			  const char *name);
void streams_list(const struct node *n, struct dirfill *d, fuse_ino_t dir,
		  off_t off);

/* ---- scratch.c: editors' temporary files, aliases, rename-over ---- */

/* What ino means now: itself, or the file a renamed scratch became. */
fuse_ino_t alias_of(fuse_ino_t ino);
fuse_ino_t scratch_lookup(fuse_ino_t parent, const char *name);
/* Lists parent's scratch files, at offsets 1000000 + n. */
void scratch_fill(struct dirfill *d, fuse_ino_t parent, off_t off);
/* Drops the scratch files (and aliases) of a run that is gone. */
void scratch_drop_run(int64_t run_id);
/* Frees every scratch file, at the end. */
void scratch_free_all(void);
int scratch_create(fuse_ino_t dir, const char *name, mode_t mode,
		   fuse_ino_t *ino);
void tpl_dir_created(struct fh *h, const char *name);
int tpl_dir_rename(fuse_ino_t dir, const char *name, const char *newname,
		   fuse_ino_t src, fuse_ino_t dst);
int run_dir_rename(fuse_ino_t dir, const char *name, const char *newname,
		   fuse_ino_t src, fuse_ino_t dst);
extern const struct node scratch_node;

/* ---- park.c: parked requests, change notification ---- */

/* core's listener: queues a change for the notifier thread. */
void park_listener(void *arg, int64_t run_id, unsigned what);
/* Starts and stops the notifier thread. */
void park_start(void);
void park_stop_notifier(void);
/* Answers the reads of wait and drops the polls still parked, at the end
 * (core_stop() answers the artifact reads). */
void park_shutdown(void);
/* Forgets the poll handles of h, at its release. */
void park_forget_fh(struct fh *h);
/* Answers parked reads and polls of run_id's wait file if it has ended. */
void wake_waiters(int64_t run_id);
int wait_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	      int flags, struct read_ans *a);
unsigned wait_poll(struct fh *h, struct fuse_pollhandle *ph, int *kept);
/*
 * A stream's read: the lines queued, else EAGAIN under O_NONBLOCK, else
 * parked until some are (answered with an end of file at shutdown).
 */
int stream_file_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
		int flags, struct read_ans *a);
unsigned stream_file_poll(struct fh *h, struct fuse_pollhandle *ph, int *kept);
/* Answers the parked reads and polls of streams that have lines. */
void streams_wake(void);
int art_open(const struct node *n, struct fh *h, struct fuse_file_info *fi);
int art_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	     int flags, struct read_ans *a);

#endif
