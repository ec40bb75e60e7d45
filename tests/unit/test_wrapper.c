/*
 * test_wrapper.c - the batch script of connectors/common/wrapper, built
 * and run with /bin/sh (dash here) in a temporary directory, no mount and
 * no Slurm: hostile argv and environment values reach the job byte for
 * byte; the exit file holds the job's own code (3, 128+n for a signal,
 * 127 when the working directory cannot be entered); a second start of an
 * attempt is refused and leaves exit alone; a TERM to the script ends the
 * job and records 143; manifest.json parses with manifest_parse and its
 * hashes are sha256_file's; a bad key and an oversized script are refused
 * with a reason. Store mode (a cloud instance): the script's text keeps
 * the credential off every command line, and run for real against
 * nginx's /dav/ it PUTs started, log while the job runs, each output file,
 * the manifest and exit last, keeps the credential out of the job's
 * environment, and refuses a second start that finds started.
 */
#include "manifest.h"
#include "sha256.h"
#include "test.h"
#include "wrapper.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"
#include "util.h"
#include "nginx_test.h"

static char root[64];

/* The file at path (caller frees), its length in *len; NULL if absent. */
static char *read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	long n;

	if (!f)
		return NULL;
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	p = malloc((size_t)n + 1);
	if (fread(p, 1, (size_t)n, f) != (size_t)n)
		n = 0;
	p[n] = '\0';
	fclose(f);
	if (len)
		*len = (size_t)n;
	return p;
}

static void spit(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	fputs(text, f);
	fclose(f);
}

/* Starts /bin/sh on the script of w in run_dir; the pid, or -1. */
static pid_t start(const struct wrapper_spec *w, const char *restart)
{
	char err[256] = "", path[256], *s = wrapper_script(w, err, sizeof(err));
	pid_t pid;

	if (!s) {
		fprintf(stderr, "wrapper_script: %s\n", err);
		return -1;
	}
	snprintf(path, sizeof(path), "%s.sh", w->run_dir);
	spit(path, s);
	free(s);
	pid = fork();
	if (pid == 0) {
		/* dash reports a job killed by a signal on stderr */
		char errpath[256];

		snprintf(errpath, sizeof(errpath), "%s.stderr", w->run_dir);
		if (!freopen(errpath, "w", stderr))
			_exit(126);
		if (restart)
			setenv("SLURM_RESTART_COUNT", restart, 1);
		setpgid(0, 0);
		/* only what the script opens: the job's fds are checked */
		for (int fd = 3; fd < 1024; fd++)
			close(fd);
		execl("/bin/sh", "sh", path, (char *)NULL);
		_exit(126);
	}
	return pid;
}

/* Runs the script to its end: its exit code, or -1. */
static int run(const struct wrapper_spec *w, const char *restart)
{
	pid_t pid = start(w, restart);
	int st;

	if (pid < 0 || waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A fresh run directory under root named name, into out. */
static void run_dir(const char *name, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/%s", root, name);
	mkdir(out, 0755);
}

/* The text of <dir>/<n>/<file> (caller frees) or NULL. */
static char *attempt_file(const char *dir, int n, const char *file,
			  size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%d/%s", dir, n, file);
	return read_all(path, len);
}

/* Checks that <n>/<file> holds want, or is absent for NULL. */
#define CHECK_FILE(dir, n, file, want) do { \
	char *f_ = attempt_file((dir), (n), (file), NULL); \
	const char *w_ = (want); \
	if (w_) \
		CHECK_STR(f_, w_); \
	else \
		CHECK(f_ == NULL); \
	free(f_); \
} while (0)

/* Splits the NUL-terminated fields of p (len bytes) and compares. */
static void check_fields(const char *p, size_t len, const char *const *want,
			 int nwant)
{
	size_t off = 0;
	int i = 0;

	for (; off < len && i < nwant; i++) {
		CHECK_STR(p + off, want[i]);
		off += strlen(p + off) + 1;
	}
	CHECK(i == nwant);
	CHECK(off == len);
}

static const char *const hostile[] = {
	"a b", "it's", "\"double\"", "$HOME", "${PATH}", "`id`", "$(id)",
	"back\\slash", "\\", "*", "?", "[a]", "line1\nline2", "trailing\n",
	"-n", "--", "", "'", "''\\''", "tab\there", "~", "a;b|c&d", "!x",
	"\xc3\xa9t\xc3\xa9",
};
#define NHOSTILE ((int)(sizeof(hostile) / sizeof(hostile[0])))

static void test_argv_env(void)
{
	char dir[128], *argv[NHOSTILE + 5], *p;
	char *env[] = { "FOO=it's a \"$x\" `y` \\z\n*", "d=/nowhere",
			"log=/nowhere/log", "TRAINFS_RUN=r1",
			"TRAINFS_OUTPUT_DIR=/forged", "EMPTY=", NULL };
	struct wrapper_spec w = { argv, env, dir, 2, NULL, NULL, NULL, 0, NULL, 0 };
	size_t len;
	int i;

	run_dir("argv", dir, sizeof(dir));
	argv[0] = "sh";
	argv[1] = "-c";
	argv[2] = "for a; do printf '%s\\000' \"$a\"; done "
		  ">\"$TRAINFS_OUTPUT_DIR/args\"; "
		  "printf '%s\\000' \"$FOO\" \"$d\" \"$log\" \"$TRAINFS_RUN\" "
		  "\"$TRAINFS_OUTPUT_DIR\" \"$TRAINFS_METRICS\" "
		  "\"$TRAINFS_RUN_DIR\" \"$TRAINFS_ATTEMPT\" \"${EMPTY-unset}\" \"${tfs_esc-unset}\" "
		  "\"$(pwd)\" >\"$TRAINFS_OUTPUT_DIR/env\"; echo to-stdout; "
		  "echo to-stderr >&2";
	argv[3] = "job";
	for (i = 0; i < NHOSTILE; i++)
		argv[4 + i] = (char *)hostile[i];
	argv[4 + NHOSTILE] = NULL;
	CHECK(run(&w, NULL) == 0);
	p = attempt_file(dir, 2, "output/args", &len);
	CHECK(p != NULL);
	if (p)
		check_fields(p, len, hostile, NHOSTILE);
	free(p);
	p = attempt_file(dir, 2, "output/env", &len);
	CHECK(p != NULL);
	if (p) {
		char out[256], metrics[256], cwd[256];
		const char *want[11];

		snprintf(out, sizeof(out), "%s/2/output", dir);
		snprintf(metrics, sizeof(metrics), "%s/2/metrics.jsonl",
			 dir);
		snprintf(cwd, sizeof(cwd), "%s/2", dir);
		want[0] = env[0] + 4;
		want[1] = "/nowhere";
		want[2] = "/nowhere/log";
		want[3] = "r1";
		want[4] = out;
		want[5] = metrics;
		want[6] = dir;
		want[7] = "2";
		want[8] = "";
		want[9] = "unset";
		want[10] = cwd;
		check_fields(p, len, want, 11);
	}
	free(p);
	CHECK_FILE(dir, 2, "log", "to-stdout\nto-stderr\n");
	CHECK_FILE(dir, 2, "exit", "0\n");
	p = attempt_file(dir, 2, "metrics.jsonl", &len);
	CHECK(p != NULL && len == 0);
	free(p);
}

/*
 * Runs sh -c script as attempt 1 of a fresh run and checks that both the
 * exit file and the script's own status say code.
 */
static void check_exit(const char *name, const char *script, int code)
{
	char dir[128], want[16];
	char *argv[] = { "sh", "-c", (char *)script, NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, NULL, NULL, 0, NULL, 0 };

	run_dir(name, dir, sizeof(dir));
	CHECK(run(&w, NULL) == code);
	snprintf(want, sizeof(want), "%d\n", code);
	CHECK_FILE(dir, 1, "exit", want);
}

static void test_exit_codes(void)
{
	char dir[128], *p;

	check_exit("exit0", "true", 0);
	check_exit("exit3", "exit 3", 3);
	check_exit("kill9", "kill -KILL $$", 137);
	check_exit("usr1", "kill -USR1 $$", 138);
	check_exit("notfound", "exec /nonexistent/prog", 127);

	/* a working directory that cannot be entered */
	{
		char *argv[] = { "sh", "-c", "echo ran >\"$TRAINFS_OUTPUT_DIR/ran\"",
				 NULL };
		struct wrapper_spec w = { argv, NULL, dir, 1, "/nonexistent/wd", NULL, NULL, 0, NULL, 0 };

		run_dir("nowd", dir, sizeof(dir));
		CHECK(run(&w, NULL) == 127);
		CHECK_FILE(dir, 1, "exit", "127\n");
		p = attempt_file(dir, 1, "log", NULL);
		CHECK(p && strstr(p, "trainfs: cannot enter the working "
				  "directory /nonexistent/wd\n"));
		free(p);
		CHECK_FILE(dir, 1, "output/ran", NULL);
	}
	/* a configured working directory is where the job runs */
	{
		char *argv[] = { "sh", "-c", "pwd >\"$TRAINFS_OUTPUT_DIR/pwd\"",
				 NULL };
		struct wrapper_spec w = { argv, NULL, dir, 1, root, NULL, NULL, 0, NULL, 0 };

		run_dir("wd", dir, sizeof(dir));
		CHECK(run(&w, NULL) == 0);
		p = attempt_file(dir, 1, "output/pwd", NULL);
		CHECK(p && strncmp(p, root, strlen(root)) == 0 &&
		      p[strlen(root)] == '\n');
		free(p);
	}
}

static void test_second_start(void)
{
	char dir[128], path[256], *log;
	char *argv[] = { "sh", "-c", "echo run >>\"$TRAINFS_OUTPUT_DIR/runs\"; "
			 "exit 3", NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, NULL, NULL, 0, NULL, 0 };
	struct stat st0, st1;

	run_dir("twice", dir, sizeof(dir));
	CHECK(run(&w, NULL) == 3);
	snprintf(path, sizeof(path), "%s/1/exit", dir);
	CHECK(stat(path, &st0) == 0);
	CHECK(run(&w, NULL) == WRAPPER_EXIT_REFUSED);
	CHECK(stat(path, &st1) == 0);
	CHECK(st0.st_ino == st1.st_ino && st0.st_mtime == st1.st_mtime);
	CHECK_FILE(dir, 1, "exit", "3\n");
	CHECK_FILE(dir, 1, "output/runs", "run\n");
	log = attempt_file(dir, 1, "log", NULL);
	CHECK(log && strstr(log, "trainfs: attempt 1 already started (restart "
			    "count 0); this second start is refused\n"));
	free(log);

	/* Slurm's restart count alone refuses, and leaves no trace but log */
	run_dir("requeued", dir, sizeof(dir));
	CHECK(run(&w, "1") == WRAPPER_EXIT_REFUSED);
	CHECK_FILE(dir, 1, "exit", NULL);
	CHECK_FILE(dir, 1, "output/runs", NULL);
	snprintf(path, sizeof(path), "%s/1/started", dir);
	CHECK(access(path, F_OK) < 0 && errno == ENOENT);
	log = attempt_file(dir, 1, "log", NULL);
	CHECK(log && strstr(log, "(restart count 1)"));
	free(log);
	/* another attempt of the same run is a first start */
	w.attempt = 2;
	CHECK(run(&w, NULL) == 3);
}

static void test_term(void)
{
	char dir[128], up[256], *p;
	char *argv[] = { "sh", "-c", ": >\"$TRAINFS_OUTPUT_DIR/up\"; "
			 "exec sleep 30", NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, NULL, NULL, 0, NULL, 0 };
	struct timespec t0, t1;
	pid_t pid;
	int st = 0, i;

	run_dir("term", dir, sizeof(dir));
	snprintf(up, sizeof(up), "%s/1/output/up", dir);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = start(&w, NULL);
	CHECK(pid > 0);
	for (i = 0; i < 500 && access(up, F_OK) < 0; i++)
		usleep(10000);
	CHECK(access(up, F_OK) == 0);
	kill(pid, SIGTERM);
	CHECK(waitpid(pid, &st, 0) == pid);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 143);
	CHECK(t1.tv_sec - t0.tv_sec < 10);
	CHECK_FILE(dir, 1, "exit", "143\n");
	p = attempt_file(dir, 1, "manifest.json", NULL);
	CHECK(p && strstr(p, "\"path\":\"up\""));
	free(p);
}

struct seen {
	int files, skips, bad;
	char out[256];
	const char *want_skip;
	int skip_found;
};

static int seen_cb(void *arg, const struct artifact_entry *a)
{
	struct seen *s = arg;
	char path[2048], sha[65];
	int64_t size = -1;

	if (a->skipped) {
		s->skips++;
		if (!strcmp(a->skipped, s->want_skip))
			s->skip_found++;
		return 0;
	}
	s->files++;
	snprintf(path, sizeof(path), "%s/%s", s->out, a->path);
	if (sha256_file(path, sha, &size) != TFS_OK ||
	    strcmp(sha, a->sha256) || size != a->size) {
		fprintf(stderr, "manifest entry '%s' does not match\n", a->path);
		s->bad++;
	}
	return 0;
}

static void test_manifest(void)
{
	char dir[128], *p, err[256] = "";
	char *argv[] = { "sh", "-c",
		"cd \"$TRAINFS_OUTPUT_DIR\" && mkdir -p sub/deep 'with space' && "
		"printf 'hello\\n' >a && : >empty && head -c 100000 /dev/urandom "
		">sub/deep/big && printf x >'with space/q\"uo\\te' && "
		"printf y >\"$(printf 'nl\\nname')\" && ln -s /etc/passwd link && "
		"ln -s sub dirlink && mkfifo fifo", NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, NULL, NULL, 0, NULL, 0 };
	struct seen s;
	size_t len;

	memset(&s, 0, sizeof(s));
	run_dir("manifest", dir, sizeof(dir));
	CHECK(run(&w, NULL) == 0);
	snprintf(s.out, sizeof(s.out), "%s/1/output", dir);
	p = attempt_file(dir, 1, "manifest.json", &len);
	CHECK(p != NULL);
	if (!p)
		return;
	s.want_skip = "skipped 'link': a symbolic link";
	CHECK(manifest_parse(p, len, seen_cb, &s, err, sizeof(err)) == TFS_OK);
	CHECK_STR(err, "");
	CHECK(s.files == 4);
	CHECK(s.bad == 0);
	CHECK(s.skips == 4);    /* link, dirlink, fifo, the name with \n */
	CHECK(s.skip_found == 1);
	CHECK(strstr(p, "\"path\":\"with space/q\\\"uo\\\\te\",\"size\":1,"));
	CHECK(strstr(p, "\"path\":\"empty\",\"size\":0,\"sha256\":\"e3b0c44298fc"
		     "1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\""));
	CHECK(strstr(p, "{\"path\":\"fifo\",\"skipped\":\"skipped 'fifo': a FIFO\"}"));
	CHECK(strstr(p, "{\"path\":\"nl\\u000aname\",\"skipped\":\"skipped "
		     "'nl\\\\u000aname': its name has a control character\"}"));
	free(p);
	CHECK_FILE(dir, 1, "manifest.lines", NULL);
}

static void test_refused(void)
{
	static const char *const bad[] = { "1X=v", "A-B=v", "=v", "NOEQ",
					   "A B=v", "\xc3\xa9=v" };
	char dir[] = "/tmp/x", err[256], *env[2] = { NULL, NULL }, *big;
	char *argv[] = { "true", NULL, NULL };
	struct wrapper_spec w = { argv, env, dir, 1, NULL, NULL, NULL, 0, NULL, 0 };
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		env[0] = (char *)bad[i];
		err[0] = '\0';
		CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
		CHECK(strstr(err, "environment key '") == err);
	}
	env[0] = "A_b9=v";
	big = wrapper_script(&w, err, sizeof(err));
	CHECK(big != NULL);
	free(big);
	CHECK_STR((env[0] = "1X=v", wrapper_script(&w, err, sizeof(err)),
		   err), "environment key '1X' is not a name of letters, "
		  "digits and '_' that does not start with a digit");
	env[0] = NULL;

	big = malloc(WRAPPER_MAX + 1);
	memset(big, 'x', WRAPPER_MAX);
	big[WRAPPER_MAX] = '\0';
	argv[1] = big;
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	CHECK_STR(err, "the script would be larger than 1048576 bytes");
	/* quoting grows the script: 300000 quotes are 1.2 MB of text */
	memset(big, '\'', 300000);
	big[300000] = '\0';
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	free(big);
	argv[1] = NULL;

	w.argv = (char *[]){ NULL };
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	CHECK_STR(err, "the job has no argv");
	w.argv = argv;
	w.run_dir = "relative/dir";
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	CHECK_STR(err, "run directory 'relative/dir' is not absolute");
	w.run_dir = dir;
	w.workdir = "wd";
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	w.workdir = NULL;
	w.attempt = -1;
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
}

#define STORE_AUTH "Bearer store-secret-4711"

/* Store mode's text: the credential is read from the variable named,
 * unset before the job, and given to curl on stdin. */
static void test_store_text(void)
{
	char *argv[] = { "true", NULL }, err[256] = "", *s;
	struct wrapper_spec w = { argv, NULL, "/tmp/x", 1, NULL,
				  "http://h/dav/u/1/", "TFS_T_AUTH", 1, NULL, 0 };

	s = wrapper_script(&w, err, sizeof(err));
	CHECK(s != NULL);
	if (!s)
		return;
	CHECK(strstr(s, "tfs_auth_env='TFS_T_AUTH'") != NULL);
	CHECK(strstr(s, "exec env -u \"$tfs_auth_env\"") != NULL);
	CHECK(strstr(s, "curl -sS -K -") != NULL);
	/* the one header on a command line is the started PUT's condition,
	 * never a credential */
	{
		const char *h = strstr(s, "-H ");

		/* quoted in tfs_main='...' */
		CHECK(h && !strncmp(h, "-H '\\''If-None-Match: *'\\'' ", 28));
		CHECK(h && strstr(h + 3, "-H ") == NULL);
	}
	/* no PUT bounded by a total time; exit tried 15 times */
	CHECK(strstr(s, "--max-time 600") == NULL);
	CHECK(strstr(s, "--speed-limit") != NULL);
	CHECK(strstr(s, "tfs_put \"$d/exit\" exit 15") != NULL);
	/* exit goes last, after the manifest and the outputs */
	CHECK(strstr(s, "tfs_put \"$d/exit\" exit") >
	      strstr(s, "manifest.json 8"));
	CHECK(strstr(s, "\"output/$(tfs_urlenc") <
	      strstr(s, "tfs_put \"$d/exit\" exit"));
	CHECK(strstr(s, "\"${store}started\"") != NULL);
	free(s);
	w.store_url = "ftp://h/";
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL &&
	      strstr(err, "store URL"));
	w.store_url = "http://h/no-slash";
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL);
	w.store_url = "http://h/";
	w.auth_env = "A-B";
	CHECK(wrapper_script(&w, err, sizeof(err)) == NULL &&
	      strstr(err, "'A-B'"));
	/* the body is one argument of exec: bounded */
	{
		static char big[WRAPPER_ARG_MAX + 2];
		char *argv2[] = { "echo", big, NULL };

		memset(big, 'x', sizeof(big) - 1);
		w.auth_env = NULL;
		w.argv = argv2;
		CHECK(wrapper_script(&w, err, sizeof(err)) == NULL &&
		      strstr(err, "one argument of exec"));
		w.store_url = NULL;
		s = wrapper_script(&w, err, sizeof(err));
		CHECK(s != NULL);
		free(s);
	}
}

static int count_cb(void *arg, const struct artifact_entry *e)
{
	*(int *)arg += !e->skipped;
	return 0;
}

/* The file under nginx's www at the attempt's key, or NULL. */
static char *store_file(const char *www, const char *name, size_t *len)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/u1/1/%s", www, name);
	return read_all(path, len);
}

static void test_store_run(void)
{
	char base[200], www[300], url[128], dir[256], *t;
	char *argv[] = { "sh", "-c",
		"echo hello; echo '{\"loss\": 1}' >> \"$TRAINFS_METRICS\"; "
		"env > \"$TRAINFS_OUTPUT_DIR/env.txt\"; "
		"tr '\\000' '\\n' </proc/$PPID/environ >\"$TRAINFS_OUTPUT_DIR/penv.txt\"; "
		"tr '\\000' '\\n' </proc/$$/environ >\"$TRAINFS_OUTPUT_DIR/senv.txt\"; "
		"ls -l /proc/$$/fd/ >\"$TRAINFS_OUTPUT_DIR/fds.txt\"; "
		"printf abc > \"$TRAINFS_OUTPUT_DIR/sp ace.bin\"; "
		"mkdir \"$TRAINFS_OUTPUT_DIR/sub\"; echo x > \"$TRAINFS_OUTPUT_DIR/sub/b\"; "
		"while [ ! -e \"$HOME/go\" ]; do sleep 0.1; done; echo bye; exit 3",
		NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, url, "TFS_T_AUTH",
				  1, NULL, 0 };
	pid_t pid;
	int st = -1, i, seen = 0;
	size_t n;

	if (ngx_workdir("wstore", base, sizeof(base), www, sizeof(www)))
		return;
	ngx_up(www);
	if (!ngx_port)
		return;
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/davauth/u1/1/", ngx_port);
	snprintf(dir, sizeof(dir), "%s/scratch", base);
	setenv("TFS_T_AUTH", STORE_AUTH, 1);
	setenv("HOME", base, 1);
	pid = start(&w, NULL);
	CHECK(pid > 0);
	/* the log reaches the store while the job runs */
	for (i = 0; i < 100 && !seen; i++) {
		t = store_file(www, "log", NULL);
		seen = t && strstr(t, "hello");
		free(t);
		if (!seen)
			usleep(100000);
	}
	CHECK(seen);
	t = store_file(www, "exit", NULL);
	CHECK(t == NULL);
	free(t);
	t = store_file(www, "started", NULL);
	CHECK(t != NULL);
	free(t);
	{
		char go[300];

		snprintf(go, sizeof(go), "%s/go", base);
		spit(go, "");
	}
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 3);
	t = store_file(www, "exit", NULL);
	CHECK_STR(t ? t : "", "3\n");
	free(t);
	t = store_file(www, "log", NULL);
	CHECK(t && strstr(t, "bye"));
	free(t);
	t = store_file(www, "metrics.jsonl", NULL);
	CHECK(t && strstr(t, "\"loss\""));
	free(t);
	t = store_file(www, "output/sp ace.bin", &n);
	CHECK(t && n == 3 && !memcmp(t, "abc", 3));
	free(t);
	t = store_file(www, "output/sub/b", NULL);
	CHECK_STR(t ? t : "", "x\n");
	free(t);
	/* the job never saw the credential */
	t = store_file(www, "output/env.txt", NULL);
	CHECK(t && !strstr(t, "store-secret") && !strstr(t, "TFS_T_AUTH"));
	free(t);
	/* nor could it read it from its parent's environment (the wrapper's
	 * first process) or its own, nor find the fd that carried it */
	t = store_file(www, "output/penv.txt", NULL);
	CHECK(t && strstr(t, "TRAINFS_RUN_DIR=") == NULL &&
	      strstr(t, "PATH=") && !strstr(t, "store-secret") &&
	      !strstr(t, "TFS_T_AUTH"));
	free(t);
	t = store_file(www, "output/senv.txt", NULL);
	CHECK(t && strstr(t, "TRAINFS_RUN_DIR=") && !strstr(t, "store-secret") &&
	      !strstr(t, "TFS_T_AUTH"));
	free(t);
	t = store_file(www, "output/fds.txt", NULL);
	CHECK(t && !strstr(t, " 9 -> ") && !strstr(t, "pipe:"));
	if (t && (strstr(t, " 9 -> ") || strstr(t, "pipe:")))
		fprintf(stderr, "the job's fds:\n%s", t);
	free(t);
	t = store_file(www, "manifest.json", &n);
	{
		int k = 0;
		char merr[256];

		CHECK(t && manifest_parse(t, n, count_cb, &k, merr,
					  sizeof(merr)) == TFS_OK && k == 6);
	}
	free(t);
	/* the scratch is gone */
	CHECK(access(dir, F_OK) != 0);
	/* a second start finds started and leaves the store alone */
	CHECK(run(&w, NULL) == WRAPPER_EXIT_REFUSED);
	t = store_file(www, "log", NULL);
	CHECK(t && strstr(t, "bye") && !strstr(t, "refused"));
	free(t);
	/* and says so in "ended", for the daemon to end the instance */
	t = store_file(www, "ended", NULL);
	CHECK(t && !strncmp(t, "75 ", 3) && strstr(t, "refused"));
	free(t);
	t = store_file(www, "upload_failed", NULL);
	CHECK(t == NULL);
	free(t);
	unsetenv("TFS_T_AUTH");
	/* the PUTs nginx saw: the store's, and no GET of the job's files */
	CHECK(ngx_log_wait("PUT /davauth/u1/1/exit ", NULL, 1) == 1);
	ngx_ctl("nginx_cleanup");
	ngx_sh("rm -rf '%s'", base);
}

/* The file under www at <key>/<name>, or NULL. */
static char *key_file(const char *www, const char *key, const char *name)
{
	char path[512];

	snprintf(path, sizeof(path), "%s/%s/%s", www, key, name);
	return read_all(path, NULL);
}

/*
 * The store's answers the wrapper must not misread: a 403 to the started
 * probe (curl -f's 22, once read as a 404), an output the store refuses
 * (413) before exit, the uploader stopped and waited for at the end, and
 * a credential with '"' and '\' in curl's config.
 */
static void test_store_answers(void)
{
	char base[200], www[300], url[160], dir[256], ran[300], *t;
	char *argv[] = { "sh", "-c", "echo ran > \"$HOME/ran\"", NULL };
	char *big[] = { "sh", "-c",
		"head -c 4096 /dev/zero > \"$TRAINFS_OUTPUT_DIR/big\"; "
		"echo s > \"$TRAINFS_OUTPUT_DIR/small\"", NULL };
	char *slow[] = { "sh", "-c", "echo one; sleep 1.5; echo two", NULL };
	char *race[] = { "sh", "-c", "echo ran >> \"$HOME/ran5\"", NULL };
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL, url, "TFS_T_AUTH",
				  1, NULL, 0 };
	struct timespec t0, t1;
	pid_t pid;
	int st = -1;

	if (ngx_workdir("wans", base, sizeof(base), www, sizeof(www)))
		return;
	ngx_up(www);
	if (!ngx_port)
		return;
	setenv("HOME", base, 1);
	snprintf(ran, sizeof(ran), "%s/ran", base);

	/* a 403 to the probe is no "not started": refused, with ended */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/davget403/u2/1/",
		 ngx_port);
	snprintf(dir, sizeof(dir), "%s/s2", base);
	CHECK(run(&w, NULL) == WRAPPER_EXIT_NODIR);
	CHECK(access(ran, F_OK) != 0);
	t = key_file(www, "u2/1", "ended");
	CHECK(t && !strncmp(t, "74 ", 3) && strstr(t, "HTTP 403"));
	free(t);
	t = key_file(www, "u2/1", "started");
	CHECK(t == NULL);
	free(t);
	{
		char path[300];

		snprintf(path, sizeof(path), "%s.stderr", dir);
		t = read_all(path, NULL);
		CHECK(t && strstr(t, "HTTP 403 to the started probe"));
		free(t);
	}

	/* an output the store refuses: named in upload_failed before exit,
	 * said in the log, the scratch kept */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/davsmall/u3/1/",
		 ngx_port);
	snprintf(dir, sizeof(dir), "%s/s3", base);
	w.argv = big;
	CHECK(run(&w, NULL) == 0);
	t = key_file(www, "u3/1", "upload_failed");
	CHECK_STR(t ? t : "", "output/big\n");
	free(t);
	t = key_file(www, "u3/1", "exit");
	CHECK_STR(t ? t : "", "0\n");
	free(t);
	t = key_file(www, "u3/1", "output/small");
	CHECK_STR(t ? t : "", "s\n");
	free(t);
	t = key_file(www, "u3/1", "log");
	CHECK(t && strstr(t, "1 files did not reach the run store") &&
	      strstr(t, "cannot store output/big (HTTP 413)"));
	free(t);
	CHECK(access(dir, F_OK) == 0);

	/* the uploader is stopped and waited for: nothing of the wrapper
	 * is left once it exited, however long its interval; and the
	 * credential with '"' and '\' reaches /davauth/ whole */
	setenv("TFS_T_AUTH", "Bearer q\"x\\y", 1);
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/davauth/u4/1/",
		 ngx_port);
	snprintf(dir, sizeof(dir), "%s/s4", base);
	w.argv = slow;
	w.put_interval_s = 30;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	pid = start(&w, NULL);
	CHECK(pid > 0);
	if (pid > 0 && waitpid(pid, &st, 0) == pid)
		CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
	clock_gettime(CLOCK_MONOTONIC, &t1);
	CHECK(pid > 0 && kill(-pid, 0) != 0 && errno == ESRCH);
	CHECK(t1.tv_sec - t0.tv_sec < 10);
	t = key_file(www, "u4/1", "exit");
	CHECK_STR(t ? t : "", "0\n");
	free(t);
	t = key_file(www, "u4/1", "log");
	CHECK_STR(t ? t : "", "one\ntwo\n");
	free(t);
	unsetenv("TFS_T_AUTH");

	/* two starts that both saw the probe's 404 (/davrace/ answers it
	 * whatever is there): the started PUT is conditional, so the second
	 * is refused, its job never runs, and ended says why */
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/davrace/u5/1/",
		 ngx_port);
	snprintf(dir, sizeof(dir), "%s/s5", base);
	w.argv = race;
	w.put_interval_s = 1;
	CHECK(run(&w, NULL) == 0);
	snprintf(dir, sizeof(dir), "%s/s5b", base);
	CHECK(run(&w, NULL) == WRAPPER_EXIT_REFUSED);
	snprintf(ran, sizeof(ran), "%s/ran5", base);
	t = read_all(ran, NULL);
	CHECK_STR(t ? t : "", "ran\n");
	free(t);
	t = key_file(www, "u5/1", "ended");
	CHECK(t && !strncmp(t, "75 ", 3) &&
	      strstr(t, "another start stored the started key first"));
	free(t);
	CHECK(ngx_log_count("PUT /davrace/u5/1/started 412", NULL) == 1);

	/* inputs: fetched from the store and checked before the job, which
	 * finds them at their paths; one that does not match quits */
	{
		char ipath[300], src[2048], *uin[] = { "sh", "-c",
			"cat \"$TRAINFS_INPUT_m\" > \"$TRAINFS_OUTPUT_DIR/got\"",
			NULL };
		char *ienv[] = { ipath + 0, NULL }, envs[400];
		struct wrapper_input in = { "inputs/m/w%20b.bin", ipath,
			"0000000000000000000000000000000000000000000000000000"
			"000000000000" };
		char sum[65];

		snprintf(src, sizeof(src), "mkdir -p '%s/u6/1/inputs/m' '%s/u7/1"
			 "/inputs/m' && printf 'weights' > '%s/u6/1/inputs/m/w b.bin' "
			 "&& cp '%s/u6/1/inputs/m/w b.bin' '%s/u7/1/inputs/m/'",
			 www, www, www, www, www);
		CHECK(ngx_sh("%s", src) == 0);
		sha256_hex("weights", 7, sum);
		in.sha256 = sum;
		snprintf(ipath, sizeof(ipath), "%s/s6/1/inputs/m/w b.bin", base);
		snprintf(envs, sizeof(envs), "TRAINFS_INPUT_m=%s", ipath);
		ienv[0] = envs;
		w.argv = uin;
		w.env = ienv;
		w.inputs = &in;
		w.ninputs = 1;
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/dav/u6/1/",
			 ngx_port);
		snprintf(dir, sizeof(dir), "%s/s6", base);
		CHECK(run(&w, NULL) == 0);
		t = key_file(www, "u6/1", "output/got");
		CHECK_STR(t ? t : "", "weights");
		free(t);
		/* a store whose bytes are not the input's: no job */
		snprintf(url, sizeof(url), "http://127.0.0.1:%d/dav/u7/1/",
			 ngx_port);
		in.sha256 = "00000000000000000000000000000000000000000000000000"
			    "00000000000000";
		snprintf(ipath, sizeof(ipath), "%s/s7/1/inputs/m/w b.bin", base);
		snprintf(envs, sizeof(envs), "TRAINFS_INPUT_m=%s", ipath);
		snprintf(dir, sizeof(dir), "%s/s7", base);
		CHECK(run(&w, NULL) == WRAPPER_EXIT_NODIR);
		t = key_file(www, "u7/1", "output/got");
		CHECK(t == NULL);
		free(t);
		t = key_file(www, "u7/1", "ended");
		CHECK(t && !strncmp(t, "74 the input inputs/m/w%20b.bin could "
				    "not be fetched", 52));
		free(t);
		/* an input outside store mode, or with a relative path, is
		 * refused */
		in.path = "rel/x";
		CHECK(wrapper_script(&w, src, sizeof(src)) == NULL);
		CHECK(strstr(src, "input 1 must be") != NULL);
		in.path = ipath;
		w.inputs = NULL;
		w.ninputs = 0;
		w.env = NULL;
	}
	ngx_ctl("nginx_cleanup");
	ngx_sh("rm -rf '%s'", base);
}

/*
 * Store mode in an image without curl or sha256sum: no key can be stored,
 * so the reason goes to stdout (the provider's console) and the exit code
 * is WRAPPER_EXIT_NOTOOL, before anything else runs.
 */
static void test_store_notool(void)
{
	char *argv[] = { "sh", "-c", "echo ran > \"$TRAINFS_OUTPUT_DIR/r\"",
			 NULL };
	char dir[256], path[300], bin[300], cmd[1200], err[256] = "", *s, *t;
	struct wrapper_spec w = { argv, NULL, dir, 1, NULL,
				  "http://127.0.0.1:9/dav/u/1/", NULL, 1, NULL, 0 };
	const char *curl = access("/usr/bin/curl", X_OK) ? "/bin/curl" :
			   "/usr/bin/curl";
	int st;

	run_dir("notool", dir, sizeof(dir));
	s = wrapper_script(&w, err, sizeof(err));
	CHECK(s != NULL);
	if (!s)
		return;
	snprintf(path, sizeof(path), "%s.sh", dir);
	spit(path, s);
	free(s);
	/* nothing in PATH: curl is missing */
	snprintf(cmd, sizeof(cmd), "cd / && /usr/bin/env -i PATH=/nonexistent "
		 "/bin/sh '%s' >'%s.out' 2>&1", path, dir);
	st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == WRAPPER_EXIT_NOTOOL);
	snprintf(path, sizeof(path), "%s.out", dir);
	t = read_all(path, NULL);
	CHECK(t && strstr(t, "the image has no curl, which the wrapper needs"));
	free(t);
	/* curl alone: sha256sum is missing */
	snprintf(bin, sizeof(bin), "%s/bin", dir);
	mkdir(bin, 0755);
	snprintf(cmd, sizeof(cmd), "ln -s '%s' '%s/curl'", curl, bin);
	CHECK(system(cmd) == 0);
	snprintf(cmd, sizeof(cmd), "cd / && /usr/bin/env -i PATH='%s' "
		 "/bin/sh '%s.sh' >'%s.out' 2>&1", bin, dir, dir);
	st = system(cmd);
	CHECK(WIFEXITED(st) && WEXITSTATUS(st) == WRAPPER_EXIT_NOTOOL);
	t = read_all(path, NULL);
	CHECK(t && strstr(t, "the image has no sha256sum"));
	free(t);
	/* the job never ran */
	snprintf(path, sizeof(path), "%s/1/output/r", dir);
	CHECK(access(path, F_OK) != 0);
}

int main(void)
{
	char cmd[128];
	int r;

	unsetenv("SLURM_RESTART_COUNT");
	snprintf(root, sizeof(root), "/tmp/tfs-wrapper-XXXXXX");
	if (!mkdtemp(root)) {
		perror("mkdtemp");
		return 1;
	}
	test_refused();
	test_argv_env();
	test_exit_codes();
	test_second_start();
	test_term();
	test_manifest();
	test_store_text();
	test_store_run();
	test_store_answers();
	test_store_notool();
	r = TEST_REPORT();
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", root);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove '%s'\n", root);
	return r;
}
