/*
 * nginx_test.h - for C tests that talk to a real server: a private nginx
 * from tests/lib/nginx.sh serving one directory, and its access log, whose
 * lines read "METHOD URI STATUS BYTES range=RANGE". Include after util.h;
 * run the test from the repository root. Static functions in a header,
 * as test.h does: each test is one program.
 */
#ifndef TFS_NGINX_TEST_H
#define TFS_NGINX_TEST_H

#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define NGX_SH "tests/lib/nginx.sh"

static int ngx_port;           /* 0 when nginx could not start */
static char ngx_dir[512];      /* its NGINX_DIR: config, access.log */

/* sh -c with the formatted command; returns its exit status or -1. */
static int __attribute__((format(printf, 1, 2), unused))
ngx_sh(const char *fmt, ...)
{
	char cmd[PATH_MAX * 2];
	va_list ap;
	int st;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd), fmt, ap);
	va_end(ap);
	st = system(cmd);
	return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A proxy from the environment would not reach our loopback nginx. */
static void ngx_no_proxy(void)
{
	static const char *const vars[] = {
		"http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY",
		"all_proxy", "ALL_PROXY", NULL
	};
	int i;

	for (i = 0; vars[i]; i++)
		unsetenv(vars[i]);
}

/*
 * The test's scratch directory /tmp/tfs-NAME.XXXXXX into base and its www/
 * (what nginx serves) into www, both created; proxies unset, logging cut
 * to warnings. Returns 0, or -1 having said why.
 */
static int ngx_workdir(const char *name, char *base, size_t blen, char *www,
		       size_t wlen)
{
	ngx_no_proxy();
	log_set_level(LOG_WARNING);
	snprintf(base, blen, "/tmp/tfs-%s.XXXXXX", name);
	if (!mkdtemp(base)) {
		perror("mkdtemp");
		return -1;
	}
	snprintf(www, wlen, "%s/www", base);
	return mkdir_p(www, 0700);
}

/* Starts nginx on root; sets ngx_port and ngx_dir, or says SKIP. */
static void ngx_up(const char *root)
{
	char cmd[PATH_MAX * 2], line[PATH_MAX + 32];
	FILE *p;

	ngx_port = 0;
	if (access(NGX_SH, R_OK)) {
		printf("SKIP http cases: no " NGX_SH " here (run from the "
		       "repository root)\n");
		return;
	}
	snprintf(cmd, sizeof(cmd), ". " NGX_SH " && nginx_start '%s' >&2 "
		 "&& echo \"$NGINX_PORT $NGINX_DIR\"", root);
	p = popen(cmd, "r");
	if (!p)
		return;
	if (fgets(line, sizeof(line), p) &&
	    sscanf(line, "%d %511s", &ngx_port, ngx_dir) != 2)
		ngx_port = 0;
	pclose(p);
	if (!ngx_port)
		printf("SKIP http cases: nginx did not start\n");
}

/* nginx_stop, nginx_restart or nginx_cleanup on our server. */
static int ngx_ctl(const char *fn)
{
	return ngx_sh(". " NGX_SH " && NGINX_DIR='%s' && %s", ngx_dir, fn);
}

/* Access log lines holding both a and b (b may be NULL). */
static int ngx_log_count(const char *a, const char *b)
{
	char path[PATH_MAX + 16];
	struct buf log = BUF_INIT(0);
	char *line, *save = NULL;
	int n = 0;

	snprintf(path, sizeof(path), "%s/access.log", ngx_dir);
	if (file_read_all(path, 16 << 20, &log) == TFS_OK && log.p) {
		for (line = strtok_r(log.p, "\n", &save); line;
		     line = strtok_r(NULL, "\n", &save))
			if (strstr(line, a) && (!b || strstr(line, b)))
				n++;
	}
	buf_release(&log);
	return n;
}

/* nginx logs a request once it has sent it all, which may be a moment
 * after the client has the bytes: polls up to 2 s for at least want. */
static int ngx_log_wait(const char *a, const char *b, int want)
{
	struct timespec ts = { 0, 20 * 1000000L };
	int i, n = 0;

	for (i = 0; i < 100; i++) {
		n = ngx_log_count(a, b);
		if (n >= want)
			break;
		nanosleep(&ts, NULL);
	}
	return n;
}

#endif
