/*
 * test_stream.c - core's live streams without a mount: what each scope
 * sees (the firehose, an experiment, a run; metric points only when
 * filtered), EAGAIN when nothing is queued, a reader's bound and the
 * overflow line that counts what it missed (against the runs' events
 * files), the readers' bound, a missing experiment or run, the end of a
 * removed one's stream, and the
 * daemon config's stream_queue refused out of its range.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "test.h"
#include "corekit.h"

static int write_config(const char *extra)
{
	struct buf b = BUF_INIT(0);
	int r;

	buf_printf(&b, "{\"poll_interval_ms\": 50, \"kill_grace_s\": 1,%s"
		   " \"providers\": {\"local\": {\"type\": \"local\","
		   " \"slots\": {\"cpus\": 4, \"max_jobs\": 4}}}}", extra);
	r = file_write_atomic(conf_path, b.p, b.len, 0600);
	buf_release(&b);
	return r;
}

/* Everything s has queued, as one string (caller frees). */
static char *drain(struct core_stream *s)
{
	struct buf b = BUF_INIT(0);

	while (core_stream_read(core, s, 65536, &b) == TFS_OK)
		;
	buf_append(&b, "", 0);
	return buf_detach(&b, NULL);
}

/* How many lines of text hold needle. */
static int lines_with(const char *text, const char *needle)
{
	int n = 0;

	while (*text) {
		const char *nl = strchr(text, '\n');
		size_t len = nl ? (size_t)(nl - text) : strlen(text);
		char *line = xstrndup(text, len);

		n += strstr(line, needle) != NULL;
		free(line);
		text += len + (nl != NULL);
	}
	return n;
}

/* The state changes in a run's events file. */
static int state_events(int64_t id)
{
	char *t = rf(id, RF_EVENTS);
	int n = lines_with(t, " state ");

	free(t);
	return n;
}

static void test_scopes(void)
{
	struct core_stream *all = NULL, *e1 = NULL, *e2 = NULL, *r1 = NULL;
	int64_t x1 = exp_id("one"), x2 = exp_id("two"), a, b;
	struct buf none = BUF_INIT(0);
	char *t;

	CHECK(core_stream_open(core, CORE_STREAM_ALL, 0, &all) == TFS_OK);
	CHECK(core_stream_open(core, CORE_STREAM_EXP, x1, &e1) == TFS_OK);
	CHECK(core_stream_open(core, CORE_STREAM_EXP, x2, &e2) == TFS_OK);
	CHECK(core_stream_read(core, all, 4096, &none) == TFS_EAGAIN);
	CHECK(!core_stream_ready(core, all));
	a = mkrun(x1, "a");
	CHECK(core_stream_open(core, CORE_STREAM_RUN, a, &r1) == TFS_OK);
	{
		char *json = cfg_sh("local",
				    "echo '{\"step\": 1, \"loss\": 0.5}'", NULL);
		CHECK(submit(a, json, NULL, 0) == TFS_OK);
		track(a);
		free(json);
	}
	b = start_sh(x2, "b", "local", "true", NULL);
	CHECK(wait_end(a) == RS_COMPLETED);
	CHECK(wait_end(b) == RS_COMPLETED);
	core_event(core, "a mount event");
	CHECK(core_stream_ready(core, all));

	t = drain(all);
	CHECK(lines_with(t, "\"type\":\"state\"") ==
	      state_events(a) + state_events(b));
	CHECK(lines_with(t, "\"run\":\"one/a\"") == state_events(a));
	CHECK(lines_with(t, "\"from\":\"created\",\"to\":\"queued\"") == 2);
	CHECK(lines_with(t, "\"type\":\"metric\"") == 0);
	CHECK(lines_with(t, "\"type\":\"event\",\"text\":\"a mount event\"") ==
	      1);
	free(t);
	CHECK(!core_stream_ready(core, all));

	t = drain(e1);
	CHECK(lines_with(t, "\"run\":\"one/a\"") == state_events(a) + 1);
	CHECK(lines_with(t, "\"type\":\"metric\"") == 1);
	CHECK(lines_with(t, "\"key\":\"loss\",\"value\":0.5") == 1);
	CHECK(lines_with(t, "two/") == 0 && lines_with(t, "mount event") == 0);
	free(t);
	t = drain(r1);
	CHECK(lines_with(t, "\"run\":\"one/a\"") == state_events(a) + 1);
	CHECK(count_lines(t) == state_events(a) + 1);
	free(t);
	t = drain(e2);
	CHECK(count_lines(t) == state_events(b));
	CHECK(lines_with(t, "\"run\":\"two/b\"") == count_lines(t));
	free(t);
	core_stream_close(core, all);
	core_stream_close(core, e1);
	core_stream_close(core, e2);
	core_stream_close(core, r1);
}

/* stream_queue is 16 here: a reader that does not read keeps 16 lines. */
static void test_overflow(void)
{
	struct core_stream *s = NULL;
	int64_t x = exp_id("slow"), ids[8];
	int i, total = 0;
	char *t, want[64];

	CHECK(core_stream_open(core, CORE_STREAM_EXP, x, &s) == TFS_OK);
	for (i = 0; i < 8; i++) {
		char name[16];

		snprintf(name, sizeof(name), "s%d", i);
		ids[i] = start_sh(x, name, "local", "true", NULL);
	}
	for (i = 0; i < 8; i++) {
		CHECK(wait_end(ids[i]) == RS_COMPLETED);
		total += state_events(ids[i]);
	}
	CHECK(total > 16);
	t = drain(s);
	snprintf(want, sizeof(want), "{\"type\":\"overflow\",\"missed\":%d}\n",
		 total - 16);
	CHECK(count_lines(t) == 17);
	CHECK(lines_with(t, "\"type\":\"state\"") == 16);
	CHECK(strlen(t) > strlen(want) &&
	      !strcmp(t + strlen(t) - strlen(want), want));
	free(t);
	core_stream_close(core, s);
}

static void test_bounds(void)
{
	struct core_stream *s[CORE_STREAM_READERS_MAX], *one = NULL;
	int i, ok = 0;

	CHECK(core_stream_open(core, CORE_STREAM_EXP, 999999, &one) ==
	      TFS_ENOENT);
	CHECK(core_stream_open(core, CORE_STREAM_RUN, 999999, &one) ==
	      TFS_ENOENT);
	for (i = 0; i < CORE_STREAM_READERS_MAX; i++)
		ok += core_stream_open(core, CORE_STREAM_ALL, 0, &s[i]) ==
		      TFS_OK;
	CHECK(ok == CORE_STREAM_READERS_MAX);
	CHECK(core_stream_open(core, CORE_STREAM_ALL, 0, &one) == TFS_EBUSY);
	core_stream_close(core, s[0]);
	CHECK(core_stream_open(core, CORE_STREAM_ALL, 0, &s[0]) == TFS_OK);
	/* core_close() frees the readers still open */
}

/* A removed run's or experiment's readers: what was queued, then the end. */
static void test_gone(void)
{
	struct core_stream *r = NULL, *e = NULL;
	int64_t x = exp_id("gone"), id = mkrun(x, "g");
	struct buf b = BUF_INIT(0);

	CHECK(core_stream_open(core, CORE_STREAM_RUN, id, &r) == TFS_OK);
	CHECK(core_stream_open(core, CORE_STREAM_EXP, x, &e) == TFS_OK);
	CHECK(core_stream_read(core, r, 4096, &b) == TFS_EAGAIN);
	CHECK(core_run_remove(core, x, "g") == TFS_OK);
	CHECK(core_stream_ready(core, r));
	CHECK(core_stream_read(core, r, 4096, &b) == TFS_OK && b.len == 0);
	CHECK(core_stream_read(core, e, 4096, &b) == TFS_EAGAIN);
	CHECK(core_exp_remove(core, "gone") == TFS_OK);
	CHECK(core_stream_read(core, e, 4096, &b) == TFS_OK && b.len == 0);
	core_stream_close(core, r);
	core_stream_close(core, e);
	buf_release(&b);
}

static void test_config(void)
{
	struct core_opts o = { .state_dir = state_dir,
			       .config_file = conf_path };
	char err[512] = "";
	struct core *c;

	CHECK(write_config(" \"stream_queue\": 5,") == TFS_OK);
	c = core_open(&o, err, sizeof(err));
	CHECK(c == NULL);
	CHECK(strstr(err, "stream_queue") != NULL);
	if (c)
		core_close(c);
}

int main(void)
{
	log_set_level(LOG_CRIT);
	snprintf(root, sizeof(root), "/tmp/tfs-stream-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	snprintf(conf_path, sizeof(conf_path), "%s/config.json", root);
	CHECK(write_config(" \"stream_queue\": 16,") == TFS_OK);
	core = open_core();
	CHECK(core != NULL);
	if (core) {
		test_scopes();
		test_overflow();
		test_gone();
		test_bounds();
		runs_cleanup();
		core_close(core);
	}
	test_config();
	rm_rf(root);
	return TEST_REPORT();
}
