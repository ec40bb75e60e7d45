/*
 * park.c - the requests that wait by design, and the changes that end the
 * wait. Two kinds of read are parked: a read of a run's `wait` until the
 * run ends, and a read of an artifact until its download is verified; a
 * poll() of `wait` keeps its handle until then. They are answered from the
 * notifier thread (which also invalidates the kernel's caches as core
 * reports changes), from core's download workers, from an interrupt, or at
 * shutdown; never twice, as the protocol below says.
 *
 * Setting up: a parked request is registered (under fs.lock) before the
 * interrupt function is set, and another thread may finish it in between.
 * An answer that arrives while the handler still sets it up is kept in
 * `pending` and given by the handler once it lets go of the request, so no
 * thread touches a request another has already answered. A parked request
 * is in its list until whoever answers it takes it out: the interrupt
 * functions find it there by request, never through their data pointer,
 * which may be freed by then.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fs.h"

/* What every parked request has; its kind's struct starts with it. */
struct parked {
	struct parked *next;        /* in its list while parked */
	fuse_req_t req;
	size_t size;
	off_t off;
	int setting_up;
	int pending;                /* 0, or 1 + a TFS_* result, or -EINTR */
};

/* A parked read of `wait`. */
struct waiter {
	struct parked p;
	int64_t run_id;
};

/* A read parked until its artifact is verified. */
struct art_read {
	struct parked p;
	struct fh *h;
};

/* A parked read of a stream. */
struct stream_parked {
	struct parked p;
	struct fh *h;
};

/* A poll() of `wait`, kept until the run ends. */
struct poller_h {
	struct poller_h *next;
	struct fuse_pollhandle *ph;
	int64_t run_id;
	void *fh;
};

struct change {
	int64_t run_id;
	unsigned what;
};

/* ---- the protocol ---- */

/* Registers p in *list for req, still setting up. */
static void park_add(struct parked **list, struct parked *p, fuse_req_t req,
		     size_t size, off_t off)
{
	p->req = req;
	p->size = size;
	p->off = off;
	p->setting_up = 1;
	pthread_mutex_lock(&fs.lock);
	p->next = *list;
	*list = p;
	pthread_mutex_unlock(&fs.lock);
}

/* Takes p out of *list; fs.lock held. */
static void park_unlink_locked(struct parked **list, struct parked *p)
{
	struct parked **pp;

	for (pp = list; *pp; pp = &(*pp)->next)
		if (*pp == p) {
			*pp = p->next;
			break;
		}
}

/* The parked request of req in list, or NULL; fs.lock held. */
static struct parked *park_find_locked(struct parked *list, fuse_req_t req)
{
	while (list && list->req != req)
		list = list->next;
	return list;
}

/*
 * p is taken out to be answered with result (a TFS_* code, or -EINTR): 1
 * when its handler still sets it up and gives the answer itself (kept in
 * pending), 0 when the caller answers; fs.lock held.
 */
static int park_defer_locked(struct parked **list, struct parked *p,
			     int result)
{
	park_unlink_locked(list, p);
	if (p->setting_up)
		p->pending = result == -EINTR ? -EINTR : 1 + result;
	return p->setting_up;
}

/*
 * The handler lets go of p once the interrupt function is set: req is
 * park.c's from here. Returns what arrived meanwhile (0: nothing, the
 * request stays parked; else the result to answer with now).
 */
static int park_settle(struct parked *p, fuse_req_t req,
		       fuse_interrupt_func_t intr, int *result)
{
	int r;

	reply_handoff(req);
	fuse_req_interrupt_func(req, intr, NULL);
	pthread_mutex_lock(&fs.lock);
	p->setting_up = 0;
	r = p->pending;
	pthread_mutex_unlock(&fs.lock);
	*result = r == -EINTR ? -EINTR : r - 1;
	return r != 0;
}

/* ---- reads of wait ---- */

/* The state word, cut to the read's offset and size, into b. */
static void wait_content(int state, off_t off, size_t size, struct buf *b)
{
	char word[32];
	size_t len;

	len = (size_t)snprintf(word, sizeof(word), "%s\n",
			       run_state_name(state));
	if ((size_t)off < len)
		buf_append(b, word + off, len - (size_t)off < size ?
			   len - (size_t)off : size);
}

/* Answers a parked read of wait with its run's state now. */
static void wait_answer(fuse_req_t req, int64_t run_id, off_t off,
			size_t size)
{
	struct buf b = BUF_INIT(0);
	int state;

	if (core_run_state(fs.core, run_id, &state) == TFS_OK) {
		wait_content(state, off, size, &b);
		reply_buf(req, b.p, b.len);
	} else {
		reply_err(req, TFS_ENOENT);
	}
	buf_release(&b);
}

void wake_waiters(int64_t run_id)
{
	struct parked *done = NULL, *p, *next;
	struct poller_h *pdone = NULL, **hp, *h;
	int state;

	if (core_run_state(fs.core, run_id, &state) == TFS_OK &&
	    !run_state_terminal(state))
		return;
	pthread_mutex_lock(&fs.lock);
	for (p = fs.waiters; p; p = next) {
		next = p->next;
		if (((struct waiter *)p)->run_id != run_id ||
		    park_defer_locked(&fs.waiters, p, TFS_OK))
			continue;       /* another run's, or its handler answers */
		p->next = done;
		done = p;
	}
	for (hp = &fs.pollers; (h = *hp);) {
		if (h->run_id == run_id) {
			*hp = h->next;
			h->next = pdone;
			pdone = h;
		} else {
			hp = &h->next;
		}
	}
	pthread_mutex_unlock(&fs.lock);
	while ((p = done)) {
		done = p->next;
		wait_answer(p->req, run_id, p->off, p->size);
		free(p);
	}
	while ((h = pdone)) {
		pdone = h->next;
		fuse_lowlevel_notify_poll(h->ph);
		fuse_pollhandle_destroy(h->ph);
		free(h);
	}
}

/* An interrupt of a read parked in list that needs nothing but freeing. */
static void park_interrupt(struct parked **list, fuse_req_t req)
{
	struct parked *p;
	int mine = 0;

	pthread_mutex_lock(&fs.lock);
	p = park_find_locked(*list, req);
	if (p)
		mine = !park_defer_locked(list, p, -EINTR);
	pthread_mutex_unlock(&fs.lock);
	if (mine) {
		reply_err(req, TFS_EINTR);
		free(p);
	}
}

static void wait_interrupt(fuse_req_t req, void *data)
{
	(void)data;
	park_interrupt(&fs.waiters, req);
}

/* wait's read: the state at once when the run has ended, else parked. */
int wait_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	      int flags, struct read_ans *a)
{
	int64_t run_id = INO_ID(h->ino);
	struct waiter *w;
	int state, r;

	r = core_run_state(fs.core, run_id, &state);
	if (r)
		return r;
	/*
	 * A run not submitted yet may never be: its reader learns that at
	 * once instead of waiting for a config that failed to go in.
	 */
	if (run_state_terminal(state) || state == RS_CREATED) {
		wait_content(state, off, size, &a->own);
		a->p = a->own.p;
		a->len = a->own.len;
		return TFS_OK;
	}
	if (flags & O_NONBLOCK)
		return TFS_EAGAIN;
	w = xcalloc(1, sizeof(*w));
	w->run_id = run_id;
	park_add(&fs.waiters, &w->p, req, size, off);
	if (park_settle(&w->p, req, wait_interrupt, &r)) {
		if (r == -EINTR)
			reply_err(req, TFS_EINTR);
		else
			wait_answer(req, run_id, off, size);
		free(w);
		return FS_TAKEN;
	}
	/* it may have ended between the check and the parking */
	wake_waiters(run_id);
	return FS_TAKEN;
}

unsigned wait_poll(struct fh *h, struct fuse_pollhandle *ph, int *kept)
{
	struct fuse_pollhandle *old = NULL;
	struct poller_h *p;
	int state;

	if (core_run_state(fs.core, INO_ID(h->ino), &state) ||
	    run_state_terminal(state) || state == RS_CREATED)
		return POLLIN;
	if (!ph)
		return 0;
	/*
	 * One handle per open file: the kernel asks again at every poll()
	 * and one notification wakes them all, so the newest replaces the
	 * one before.
	 */
	pthread_mutex_lock(&fs.lock);
	for (p = fs.pollers; p && p->fh != h; p = p->next)
		;
	if (p) {
		old = p->ph;
		p->ph = ph;
	} else {
		p = xcalloc(1, sizeof(*p));
		p->ph = ph;
		p->run_id = INO_ID(h->ino);
		p->fh = h;
		p->next = fs.pollers;
		fs.pollers = p;
	}
	pthread_mutex_unlock(&fs.lock);
	if (old)
		fuse_pollhandle_destroy(old);
	*kept = 1;
	return 0;
}

void park_forget_fh(struct fh *h)
{
	struct poller_h **pp, *p;

	pthread_mutex_lock(&fs.lock);
	if (h->stream_ph)
		fuse_pollhandle_destroy(h->stream_ph);
	h->stream_ph = NULL;
	for (pp = &fs.pollers; (p = *pp);) {
		if (p->fh == h) {
			*pp = p->next;
			fuse_pollhandle_destroy(p->ph);
			free(p);
		} else {
			pp = &p->next;
		}
	}
	pthread_mutex_unlock(&fs.lock);
}

/* ---- reads of streams ---- */

static void stream_interrupt(fuse_req_t req, void *data)
{
	(void)data;
	park_interrupt(&fs.stream_reads, req);
}

/*
 * Answers a parked read: with its lines when result is TFS_OK, an end of
 * file when the daemon stops (TFS_EINTR: a stream ends, as a pipe whose
 * writer went away does), EINTR for an interrupt. Lines another read of
 * the same file took first leave it parked again.
 */
static void stream_finish(struct stream_parked *sr, int result)
{
	struct buf b = BUF_INIT(0);
	fuse_req_t req = sr->p.req;

	if (result == -EINTR) {
		reply_err(req, TFS_EINTR);
	} else if (result != TFS_OK) {
		reply_buf(req, NULL, 0);
	} else if (core_stream_read(fs.core, sr->h->stream, sr->p.size,
				    &b) == TFS_OK) {
		reply_buf(req, b.p, b.len);
	} else {
		pthread_mutex_lock(&fs.lock);
		sr->p.next = fs.stream_reads;
		fs.stream_reads = &sr->p;
		pthread_mutex_unlock(&fs.lock);
		if (core_stream_ready(fs.core, sr->h->stream))
			streams_wake();
		return;
	}
	buf_release(&b);
	free(sr);
}

void streams_wake(void)
{
	struct parked *done = NULL, *p, *next;
	struct fuse_pollhandle **phs = NULL;
	size_t nph = 0, cap = 0, i;
	struct fh *h;

	pthread_mutex_lock(&fs.lock);
	for (p = fs.stream_reads; p; p = next) {
		struct fh *rh = ((struct stream_parked *)p)->h;

		next = p->next;
		if (!core_stream_ready(fs.core, rh->stream) ||
		    park_defer_locked(&fs.stream_reads, p, TFS_OK))
			continue;       /* nothing yet, or its handler answers */
		p->next = done;
		done = p;
	}
	for (h = fs.fhs; h; h = h->next) {
		if (!h->stream_ph || !core_stream_ready(fs.core, h->stream))
			continue;
		if (nph == cap) {
			cap = cap ? cap * 2 : 8;
			phs = xrealloc(phs, cap * sizeof(*phs));
		}
		phs[nph++] = h->stream_ph;
		h->stream_ph = NULL;
	}
	pthread_mutex_unlock(&fs.lock);
	while ((p = done)) {
		done = p->next;
		stream_finish((struct stream_parked *)p, TFS_OK);
	}
	for (i = 0; i < nph; i++) {
		fuse_lowlevel_notify_poll(phs[i]);
		fuse_pollhandle_destroy(phs[i]);
	}
	free(phs);
}

int stream_file_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
		int flags, struct read_ans *a)
{
	struct stream_parked *sr;
	int r;

	(void)off;          /* not seekable: each read takes what is next */
	r = core_stream_read(fs.core, h->stream, size, &a->own);
	if (r == TFS_OK) {
		a->p = a->own.p;
		a->len = a->own.len;
		return TFS_OK;
	}
	if (flags & O_NONBLOCK)
		return TFS_EAGAIN;
	sr = xcalloc(1, sizeof(*sr));
	sr->h = h;
	park_add(&fs.stream_reads, &sr->p, req, size, 0);
	if (park_settle(&sr->p, req, stream_interrupt, &r)) {
		stream_finish(sr, r);
		return FS_TAKEN;
	}
	/* lines may have come between the read and the parking */
	if (core_stream_ready(fs.core, h->stream))
		streams_wake();
	return FS_TAKEN;
}

/*
 * One handle per open file, kept before readiness is asked: a line that
 * comes in between finds it there.
 */
unsigned stream_file_poll(struct fh *h, struct fuse_pollhandle *ph, int *kept)
{
	struct fuse_pollhandle *old = NULL;

	if (ph) {
		pthread_mutex_lock(&fs.lock);
		old = h->stream_ph;
		h->stream_ph = ph;
		pthread_mutex_unlock(&fs.lock);
		if (old)
			fuse_pollhandle_destroy(old);
		*kept = 1;
	}
	return core_stream_ready(fs.core, h->stream) ? POLLIN : 0;
}

/* ---- reads of artifacts ---- */

int art_open(const struct node *n, struct fh *h, struct fuse_file_info *fi)
{
	char reason[512], sha[65];
	int fd = -1, r;

	(void)n;
	r = core_art_open(fs.core, INO_ID(h->ino), &fd, sha, reason,
			  sizeof(reason));
	if (r && r != TFS_EAGAIN && r != TFS_EIO)
		return r;
	h->fd = fd;
	memcpy(h->sha256, sha, sizeof(h->sha256));
	/*
	 * A verified file never changes, so the kernel may keep its pages
	 * between opens: the second cat reads no data from us.
	 */
	fi->keep_cache = fd >= 0;
	/*
	 * Not verified yet: this reader's bytes come straight from the cache
	 * file by splice, without filling a second copy in the mount's page
	 * cache (later opens get keep_cache).
	 */
	fi->direct_io = fd < 0;
	fi->noflush = 1;
	return TFS_OK;
}

/*
 * Answers a read from the verified cache file by descriptor: libfuse
 * splices the bytes from the file into /dev/fuse (see op_init) instead of
 * copying them through a buffer of ours.
 *
 * The reply is cut to the bytes the file holds past off, so the splice is
 * never short. libfuse writes the reply header into its pipe by vmsplice,
 * which maps the header's page, and after a short splice from the file it
 * corrects the length in that header in place. When another thread forks
 * in between (the local provider forks for every job), the page is copied
 * on write, the pipe keeps the stale length, the kernel refuses the reply
 * with EINVAL, libfuse frees the request, and the reader waits forever. A
 * verified file does not change size, so its size bounds the reply exactly.
 */
static void art_reply_from_fd(fuse_req_t req, int fd, size_t size, off_t off)
{
	struct fuse_bufvec bv = FUSE_BUFVEC_INIT(size);
	struct stat st;

	if (fstat(fd, &st) < 0) {
		reply_err(req, TFS_EIO);
		return;
	}
	if (off >= st.st_size) {
		reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)(st.st_size - off) < size)
		bv.buf[0].size = (size_t)(st.st_size - off);
	bv.buf[0].flags = FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK;
	bv.buf[0].fd = fd;
	bv.buf[0].pos = off;
	/* answered either way: a failed read of fd is replied by libfuse
	 * itself, a failed send frees the request */
	if (reply_data(req, &bv) != 0)
		log_msg(LOG_WARNING, "an artifact read was not delivered");
}

/* Gives h the verified file if it has none; returns h's fd or -1. */
static int art_fh_fd(struct fh *h, int *err)
{
	char reason[512], sha[65];
	int fd = -1, r;

	pthread_mutex_lock(&fs.lock);
	fd = h->fd;
	pthread_mutex_unlock(&fs.lock);
	if (fd >= 0)
		return fd;
	r = core_art_open(fs.core, INO_ID(h->ino), &fd, sha, reason,
			  sizeof(reason));
	if (r) {
		*err = r;
		return -1;
	}
	pthread_mutex_lock(&fs.lock);
	if (h->fd < 0) {
		h->fd = fd;
		memcpy(h->sha256, sha, sizeof(h->sha256));
	} else {        /* another reader won the race */
		close(fd);
		core_art_release(fs.core, sha);
		fd = h->fd;
	}
	pthread_mutex_unlock(&fs.lock);
	return fd;
}

/*
 * Answers a parked read: result is a TFS_* code, or -EINTR for an
 * interrupt. TFS_EINTR says the daemon stops: ENOTCONN then, which tools
 * do not retry (cat retries EINTR, and nobody would answer again).
 */
static void art_finish(struct art_read *ar, int result)
{
	fuse_req_t req = ar->p.req;
	int fd, err = result == TFS_OK ? TFS_EIO : result;

	if (result == -EINTR || result == TFS_EINTR) {
		reply_err(req, result == -EINTR ? TFS_EINTR : FS_ENOTCONN);
		free(ar);
		return;
	}
	fd = result == TFS_OK ? art_fh_fd(ar->h, &err) : -1;
	if (fd >= 0)
		art_reply_from_fd(req, fd, ar->p.size, ar->p.off);
	else
		reply_err(req, err == TFS_EAGAIN ? TFS_EIO : err);
	free(ar);
}

/* core's callback: the download ended (from a worker, or core_stop()). */
static void art_ready(void *arg, int result)
{
	struct art_read *ar = arg;
	int deferred;

	pthread_mutex_lock(&fs.lock);
	deferred = park_defer_locked(&fs.art_reads, &ar->p, result);
	pthread_mutex_unlock(&fs.lock);
	if (!deferred)
		art_finish(ar, result);
}

static void art_interrupt(fuse_req_t req, void *data)
{
	struct art_read *ar;
	int mine = 0;

	(void)data;
	/*
	 * Looked up by request under fs.lock: a finished download may have
	 * answered and freed the read already. Whoever takes the
	 * registration back from core answers; art_ready waits for fs.lock.
	 */
	pthread_mutex_lock(&fs.lock);
	ar = (struct art_read *)park_find_locked(fs.art_reads, req);
	if (ar && core_art_unwait(fs.core, INO_ID(ar->h->ino), art_ready,
				  ar) == TFS_OK)
		mine = !park_defer_locked(&fs.art_reads, &ar->p, -EINTR);
	pthread_mutex_unlock(&fs.lock);
	if (mine)
		art_finish(ar, -EINTR);
}

/* An artifact's read: from the verified file, else parked until it is. */
int art_read(fuse_req_t req, struct fh *h, size_t size, off_t off,
	     int flags, struct read_ans *a)
{
	struct art_read *ar;
	int fd, err = 0, r;

	(void)flags;
	(void)a;
	for (;;) {
		fd = art_fh_fd(h, &err);
		if (fd >= 0) {
			art_reply_from_fd(req, fd, size, off);
			return FS_TAKEN;
		}
		if (err != TFS_EAGAIN)
			return err;
		ar = xcalloc(1, sizeof(*ar));
		ar->h = h;
		park_add(&fs.art_reads, &ar->p, req, size, off);
		r = core_art_wait(fs.core, INO_ID(h->ino), art_ready, ar);
		if (r == TFS_OK)
			break;
		pthread_mutex_lock(&fs.lock);
		park_unlink_locked(&fs.art_reads, &ar->p);
		pthread_mutex_unlock(&fs.lock);
		free(ar);
		if (r != TFS_EEXIST)
			return r;
		/* it ended meanwhile: open again */
	}
	if (park_settle(&ar->p, req, art_interrupt, &r))
		art_finish(ar, r);
	return FS_TAKEN;
}

/* ---- change notification ---- */

void park_listener(void *arg, int64_t run_id, unsigned what)
{
	(void)arg;
	pthread_mutex_lock(&fs.qlock);
	if (fs.qn == fs.qcap) {
		size_t cap = fs.qcap ? fs.qcap * 2 : 64;
		struct change *q = realloc(fs.q, cap * sizeof(*q));

		if (!q) {
			pthread_mutex_unlock(&fs.qlock);
			return;   /* the zero attribute timeout still holds */
		}
		fs.q = q;
		fs.qcap = cap;
	}
	fs.q[fs.qn].run_id = run_id;
	fs.q[fs.qn].what = what;
	fs.qn++;
	pthread_cond_signal(&fs.qcond);
	pthread_mutex_unlock(&fs.qlock);
}

static void notify_change(const struct change *ch)
{
	if (!ch->run_id) {
		if (ch->what & CORE_CH_QUEUE)
			fuse_lowlevel_notify_inval_inode(fs.se, INO_QUEUE, 0, 0);
		if (ch->what & CORE_CH_EVENTS)
			fuse_lowlevel_notify_inval_inode(fs.se, INO_EVENTS, 0,
							 0);
		return;
	}
	if (ch->what & CORE_CH_STATE) {
		fuse_lowlevel_notify_inval_inode(fs.se,
			INO(K_RUN, ch->run_id, RS_DIR), 0, 0);
		wake_waiters(ch->run_id);
	}
	if (ch->what & CORE_CH_ARTIFACTS)
		fuse_lowlevel_notify_inval_inode(fs.se,
			INO(K_RUN, ch->run_id, RS_ARTIFACTS), 0, 0);
	if (ch->what & CORE_CH_CONFIG)
		fuse_lowlevel_notify_inval_inode(fs.se,
			INO(K_RUN, ch->run_id, RS_CONFIG), 0, 0);
}

static void *notifier_main(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&fs.qlock);
	for (;;) {
		struct change *batch;
		size_t n, i;
		int streams = 0;

		while (!fs.qn && !fs.qstop)
			pthread_cond_wait(&fs.qcond, &fs.qlock);
		if (fs.qstop)
			break;
		batch = fs.q;
		n = fs.qn;
		fs.q = NULL;
		fs.qn = fs.qcap = 0;
		pthread_mutex_unlock(&fs.qlock);
		for (i = 0; i < n; i++) {
			notify_change(&batch[i]);
			if (!batch[i].run_id &&
			    (batch[i].what & CORE_CH_STREAM))
				streams = 1;
		}
		free(batch);
		/* once a batch: each reader takes all its lines at once */
		if (streams)
			streams_wake();
		pthread_mutex_lock(&fs.qlock);
	}
	pthread_mutex_unlock(&fs.qlock);
	return NULL;
}

void park_start(void)
{
	if (pthread_create(&fs.notifier, NULL, notifier_main, NULL) == 0)
		fs.notifier_started = 1;
}

void park_stop_notifier(void)
{
	if (!fs.notifier_started)
		return;
	pthread_mutex_lock(&fs.qlock);
	fs.qstop = 1;
	pthread_cond_signal(&fs.qcond);
	pthread_mutex_unlock(&fs.qlock);
	pthread_join(fs.notifier, NULL);
	fs.notifier_started = 0;
}

void park_shutdown(void)
{
	struct parked *w, *sr;
	struct poller_h *p;
	struct fh *h;

	pthread_mutex_lock(&fs.lock);
	w = fs.waiters;
	fs.waiters = NULL;
	sr = fs.stream_reads;
	fs.stream_reads = NULL;
	p = fs.pollers;
	fs.pollers = NULL;
	for (h = fs.fhs; h; h = h->next) {
		if (h->stream_ph)
			fuse_pollhandle_destroy(h->stream_ph);
		h->stream_ph = NULL;
	}
	pthread_mutex_unlock(&fs.lock);
	while (sr) {
		struct parked *next = sr->next;

		stream_finish((struct stream_parked *)sr, TFS_EINTR);
		sr = next;
	}
	while (w) {
		struct parked *next = w->next;

		reply_err(w->req, FS_ENOTCONN);    /* as art_finish says */
		free(w);
		w = next;
	}
	while (p) {
		struct poller_h *next = p->next;

		fuse_pollhandle_destroy(p->ph);
		free(p);
		p = next;
	}
}
