/*
 * bench_read.c - measures what a reader of a trainfs file pays per read:
 * open(O_RDONLY), one read of up to 4096 bytes, close, timed as one unit,
 * because that is what `cat status` or a polling script does each time.
 * It runs 100 untimed warm-up iterations (to fill the dentry and attribute
 * caches and fault in the daemon's code), then N timed ones, and prints one
 * line for scripts to parse:
 *
 *	median_us=<float> p90_us=<float> p99_us=<float> max_us=<float> n=<N>
 *
 * With -s STOPFILE it stops early, once STOPFILE exists (n is then the
 * number of reads made), so that it can time reads for as long as
 * something else goes on; -p US pauses that long between reads (untimed),
 * as a reader polling a file does, instead of reading back to back.
 *
 * Run against trainfs and against tools/floorfs (the floor: a FUSE
 * filesystem that does nothing else) to see what trainfs itself costs.
 * Any failing call ends the run with exit status 1: a latency measured over
 * errors would be meaningless.
 *
 * Usage: bench_read [-s STOPFILE] [-p US] PATH N
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_WARMUP	100
#define BENCH_READ_SIZE	4096
/* Bounded so that the sample array stays a sane allocation. */
#define BENCH_MAX_N	100000000L

static const char *prog = "bench_read";

static int64_t now_ns(void)
{
	struct timespec ts;

	/* CLOCK_MONOTONIC cannot fail with a valid pointer on Linux. */
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/*
 * One open+read+close of path.  Returns 0, or -1 after printing which call
 * failed and why.
 */
static int read_once(const char *path, char *buf)
{
	ssize_t n;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0) {
		fprintf(stderr, "%s: cannot open '%s': %s\n", prog, path,
			strerror(errno));
		return -1;
	}
	n = read(fd, buf, BENCH_READ_SIZE);
	if (n < 0) {
		fprintf(stderr, "%s: cannot read '%s': %s\n", prog, path,
			strerror(errno));
		close(fd);
		return -1;
	}
	/* A FUSE daemon can report a failed flush only here. */
	if (close(fd) != 0) {
		fprintf(stderr, "%s: cannot close '%s': %s\n", prog, path,
			strerror(errno));
		return -1;
	}
	return 0;
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Returns the median of sorted[0..n-1] in microseconds; the mean of the two
 * middle samples when n is even.
 */
static double median_us(const int64_t *sorted, long n)
{
	if (n % 2)
		return sorted[n / 2] / 1000.0;
	return (sorted[n / 2 - 1] + sorted[n / 2]) / 2000.0;
}

/*
 * Returns the pct-th percentile of sorted[0..n-1] in microseconds, by the
 * nearest-rank method: the smallest sample that at least pct% of the
 * samples do not exceed.  No interpolation, so it is always a latency that
 * happened.
 */
static double pct_us(const int64_t *sorted, long n, long pct)
{
	long rank = (pct * n + 99) / 100;	/* ceil(pct / 100 * n), >= 1 */

	return sorted[rank - 1] / 1000.0;
}

int main(int argc, char *argv[])
{
	char buf[BENCH_READ_SIZE];
	const char *path, *stopfile = NULL;
	struct timespec pause = { 0, 0 };
	int64_t *samples;
	long n, i, us;
	char *end;
	int opt;

	while ((opt = getopt(argc, argv, "s:p:")) != -1) {
		switch (opt) {
		case 's':
			stopfile = optarg;
			break;
		case 'p':
			errno = 0;
			us = strtol(optarg, &end, 10);
			if (errno || end == optarg || *end || us < 0 ||
			    us > 1000000) {
				fprintf(stderr, "%s: -p must be an integer from "
					"0 to 1000000, not '%s'\n", prog, optarg);
				return 2;
			}
			pause.tv_sec = us / 1000000;
			pause.tv_nsec = us % 1000000 * 1000;
			break;
		default:
			goto usage;
		}
	}
	if (argc - optind != 2)
		goto usage;
	path = argv[optind];
	errno = 0;
	n = strtol(argv[optind + 1], &end, 10);
	if (errno || end == argv[optind + 1] || *end || n < 1 ||
	    n > BENCH_MAX_N) {
		fprintf(stderr, "%s: N must be an integer from 1 to %ld, not "
			"'%s'\n", prog, BENCH_MAX_N, argv[optind + 1]);
		return 2;
	}

	samples = malloc(n * sizeof(*samples));
	if (!samples) {
		fprintf(stderr, "%s: out of memory for %ld samples\n", prog, n);
		return 1;
	}

	for (i = 0; i < BENCH_WARMUP; i++)
		if (read_once(path, buf))
			goto fail;

	for (i = 0; i < n; i++) {
		int64_t t0;

		if (stopfile && i > 0 && access(stopfile, F_OK) == 0)
			break;
		t0 = now_ns();
		if (read_once(path, buf))
			goto fail;
		samples[i] = now_ns() - t0;
		if (pause.tv_nsec || pause.tv_sec)
			nanosleep(&pause, NULL);
	}
	n = i;

	qsort(samples, n, sizeof(*samples), cmp_i64);
	printf("median_us=%.2f p90_us=%.2f p99_us=%.2f max_us=%.2f n=%ld\n",
	       median_us(samples, n), pct_us(samples, n, 90),
	       pct_us(samples, n, 99), samples[n - 1] / 1000.0, n);
	free(samples);
	return 0;

fail:
	free(samples);
	return 1;
usage:
	fprintf(stderr, "usage: %s [-s STOPFILE] [-p US] PATH N\n", prog);
	return 2;
}
