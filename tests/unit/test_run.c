/*
 * test_run.c - the state machine's hooks, without a mount or a poller:
 * hooks run in the order they were added, each with the lock held and the
 * run already in its new state (fields and list), for every change a
 * submission, a cancel and a retry make; a full table refuses one more.
 */
#define _GNU_SOURCE
#include "model.h"
#include "core.h"
#include "util.h"
#include "test.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <unistd.h>

/* What one call of a hook saw. */
struct seen {
	char who;
	int old, state, list, locked;
	char reason[64];
};

static struct seen seen[32];
static int nseen;

static void record(struct core *c, struct run *r, int old, char who)
{
	struct seen *s;

	if (nseen == (int)(sizeof(seen) / sizeof(seen[0])))
		return;
	s = &seen[nseen++];
	s->who = who;
	s->old = old;
	s->state = r->state;
	s->list = r->list;
	/* held by this thread: a second lock attempt is refused */
	s->locked = pthread_mutex_trylock(&c->lock) == EBUSY;
	if (!s->locked)
		pthread_mutex_unlock(&c->lock);
	snprintf(s->reason, sizeof(s->reason), "%s", r->reason);
}

static void hook_a(struct core *c, struct run *r, int old, void *arg)
{
	CHECK(arg == (void *)&seen);
	record(c, r, old, 'a');
}

static void hook_b(struct core *c, struct run *r, int old, void *arg)
{
	(void)arg;
	record(c, r, old, 'b');
}

static void hook_none(struct core *c, struct run *r, int old, void *arg)
{
	(void)c;
	(void)r;
	(void)old;
	(void)arg;
}

/* The n-th pair of calls: a then b, both seeing old -> state. */
static void check_pair(int n, int old, int state, int list,
		       const char *reason)
{
	int k;

	for (k = 0; k < 2; k++) {
		struct seen *s = &seen[2 * n + k];

		CHECK(s->who == (k ? 'b' : 'a'));
		CHECK(s->old == old);
		CHECK(s->state == state);
		CHECK(s->list == list);
		CHECK(s->locked);
		CHECK_STR(s->reason, reason);
	}
}

static void test_hooks(const char *state_dir)
{
	static const char cfg[] = "{\"command\": [\"true\"]}";
	struct core_opts o = { .state_dir = state_dir };
	struct core_exp_info e;
	char err[512] = "", reason[256];
	struct core *c = core_open(&o, err, sizeof(err));
	int64_t id;
	int i, n;

	CHECK(c != NULL);
	if (!c) {
		fprintf(stderr, "core_open: %s\n", err);
		return;
	}
	CHECK(run_hook_add(c, hook_a, &seen) == TFS_OK);
	CHECK(run_hook_add(c, hook_b, NULL) == TFS_OK);
	CHECK(core_exp_lookup(c, "default", &e) == TFS_OK);
	CHECK(core_run_create(c, e.id, "r1", &id, reason,
			      sizeof(reason)) == TFS_OK);
	CHECK(nseen == 0);       /* created is not a change of state */

	CHECK(core_run_submit(c, id, cfg, sizeof(cfg) - 1, reason,
			      sizeof(reason)) == TFS_OK);
	CHECK(nseen == 2);
	check_pair(0, RS_CREATED, RS_QUEUED, LIST_QUEUED, "waiting for a slot");

	CHECK(core_run_ctl(c, id, "cancel\n", 7, reason,
			   sizeof(reason)) == TFS_OK);
	CHECK(nseen == 4);
	check_pair(1, RS_QUEUED, RS_STOPPED, LIST_NONE, "cancelled");

	CHECK(core_run_ctl(c, id, "retry\n", 6, reason,
			   sizeof(reason)) == TFS_OK);
	CHECK(nseen == 6);
	check_pair(2, RS_STOPPED, RS_QUEUED, LIST_QUEUED, "retry requested");

	/* a refused command changes nothing, so no hook hears of it */
	CHECK(core_run_ctl(c, id, "resume\n", 7, reason,
			   sizeof(reason)) == TFS_EINVAL);
	CHECK(nseen == 6);

	/* the table is bounded: one past it is refused, the rest stay */
	n = c->nhooks;
	for (i = n; i < RUN_HOOKS_MAX; i++)
		CHECK(run_hook_add(c, hook_none, NULL) == TFS_OK);
	CHECK(run_hook_add(c, hook_none, NULL) == TFS_ENOSPC);
	CHECK(c->nhooks == RUN_HOOKS_MAX);
	CHECK(core_run_ctl(c, id, "cancel\n", 7, reason,
			   sizeof(reason)) == TFS_OK);
	CHECK(nseen == 8);
	check_pair(3, RS_QUEUED, RS_STOPPED, LIST_NONE, "cancelled");
	core_close(c);
}

int main(void)
{
	char state_dir[] = "/tmp/trainfs-run.XXXXXX";

	if (!mkdtemp(state_dir)) {
		perror("mkdtemp");
		return 1;
	}
	log_set_level(LOG_WARNING);
	test_hooks(state_dir);
	rm_rf(state_dir);
	return TEST_REPORT();
}
