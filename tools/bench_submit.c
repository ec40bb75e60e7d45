/*
 * bench_submit.c - measures how fast runs can be submitted through trainfs
 * the way a user or a script does it: mkdir RUNS_DIR/<prefix><i>, then
 * write config.json and close it, since on trainfs the close is the submit
 * (the config is validated and the run queued there, and a bad config fails
 * the close).  A non-zero close is therefore a failed submit and ends the
 * benchmark with exit status 1, naming the errno.  The config is read into
 * memory first so that only the filesystem is timed.  Prints one line for
 * scripts to parse:
 *
 *	submits_per_s=<float> n=<N> seconds=<float>
 *
 * Usage: bench_submit [-p PREFIX] RUNS_DIR N CONFIG_FILE
 * RUNS_DIR is an experiment's runs/ directory (any plain directory works
 * too); run names are PREFIX0 .. PREFIX<N-1>, PREFIX "b" unless -p is given.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/*
 * Larger than trainfs's 1 MiB config limit on purpose, so that the EFBIG
 * path can be exercised too; the bound only keeps the allocation sane.
 */
#define BENCH_MAX_CONFIG	(64L << 20)
#define BENCH_MAX_N		100000000L

static const char *prog = "bench_submit";

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Reads all of path into a new buffer, stored in *out with its length in
 * *len; the caller frees *out.  Returns 0, or -1 after printing why.
 */
static int read_config(const char *path, char **out, size_t *len)
{
	struct stat st;
	size_t done = 0;
	char *buf;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path,
			strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0) {
		fprintf(stderr, "%s: cannot stat '%s': %s\n", prog, path,
			strerror(errno));
		close(fd);
		return -1;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > BENCH_MAX_CONFIG) {
		fprintf(stderr, "%s: '%s' is not a regular file of at most "
			"%ld bytes\n", prog, path, BENCH_MAX_CONFIG);
		close(fd);
		return -1;
	}

	buf = malloc(st.st_size ? st.st_size : 1);
	if (!buf) {
		fprintf(stderr, "%s: out of memory for '%s'\n", prog, path);
		close(fd);
		return -1;
	}
	/* Up to the size fstat saw; a file growing meanwhile is cut there. */
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + done, st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "%s: cannot read '%s': %s\n", prog,
				path, strerror(errno));
			free(buf);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		done += n;
	}
	close(fd);
	*out = buf;
	*len = done;
	return 0;
}

/*
 * Writes all len bytes of buf to fd, resuming after short writes.  Returns
 * 0, or -1 with errno set.
 */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		buf += n;
		len -= n;
	}
	return 0;
}

/*
 * Submits one run: mkdir dir, write config.json in it, close.  Returns 0,
 * or -1 after printing which step failed with its errno.
 */
static int submit_one(const char *dir, const char *cfg, size_t cfg_len)
{
	char path[PATH_MAX];
	int fd, n;

	n = snprintf(path, sizeof(path), "%s/config.json", dir);
	if (n < 0 || (size_t)n >= sizeof(path)) {
		fprintf(stderr, "%s: path too long: '%s/config.json'\n", prog,
			dir);
		return -1;
	}
	if (mkdir(dir, 0755) != 0) {
		fprintf(stderr, "%s: cannot mkdir '%s': %s (errno %d)%s\n",
			prog, dir, strerror(errno), errno,
			errno == EEXIST ? "; pick another prefix with -p" : "");
		return -1;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open '%s': %s (errno %d)\n", prog,
			path, strerror(errno), errno);
		return -1;
	}
	if (write_all(fd, cfg, cfg_len) != 0) {
		fprintf(stderr, "%s: cannot write '%s': %s (errno %d)\n",
			prog, path, strerror(errno), errno);
		close(fd);
		return -1;
	}
	/*
	 * On trainfs the submit happens here, and close is the only place a
	 * rejected config can be reported.  No retry on EINTR: after a
	 * failed close the descriptor is gone on Linux either way.
	 */
	if (close(fd) != 0) {
		fprintf(stderr, "%s: submit failed: close of '%s': %s "
			"(errno %d)\n", prog, path, strerror(errno), errno);
		return -1;
	}
	return 0;
}

static void usage(void)
{
	fprintf(stderr, "usage: %s [-p PREFIX] RUNS_DIR N CONFIG_FILE\n",
		prog);
}

int main(int argc, char *argv[])
{
	const char *prefix = "b";
	const char *runs_dir;
	char dir[PATH_MAX];
	size_t cfg_len = 0;
	char *cfg = NULL;
	double t0, secs;
	char *end;
	long n, i;
	int opt;

	while ((opt = getopt(argc, argv, "p:h")) != -1) {
		switch (opt) {
		case 'p':
			prefix = optarg;
			break;
		case 'h':
			usage();
			return 0;
		default:
			usage();
			return 2;
		}
	}
	if (argc - optind != 3) {
		usage();
		return 2;
	}
	runs_dir = argv[optind];
	errno = 0;
	n = strtol(argv[optind + 1], &end, 10);
	if (errno || end == argv[optind + 1] || *end || n < 1 ||
	    n > BENCH_MAX_N) {
		fprintf(stderr, "%s: N must be an integer from 1 to %ld, not "
			"'%s'\n", prog, BENCH_MAX_N, argv[optind + 1]);
		return 2;
	}
	if (read_config(argv[optind + 2], &cfg, &cfg_len))
		return 1;

	t0 = now_s();
	for (i = 0; i < n; i++) {
		int len = snprintf(dir, sizeof(dir), "%s/%s%ld", runs_dir,
				   prefix, i);

		if (len < 0 || (size_t)len >= sizeof(dir)) {
			fprintf(stderr, "%s: path too long: '%s/%s%ld'\n",
				prog, runs_dir, prefix, i);
			goto fail;
		}
		if (submit_one(dir, cfg, cfg_len))
			goto fail;
	}
	secs = now_s() - t0;

	printf("submits_per_s=%.2f n=%ld seconds=%.6f\n",
	       secs > 0 ? n / secs : 0.0, n, secs);
	free(cfg);
	return 0;

fail:
	fprintf(stderr, "%s: %ld of %ld submits done before the failure\n",
		prog, i, n);
	free(cfg);
	return 1;
}
