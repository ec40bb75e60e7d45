/*
 * bench_slurm.c - the reference for `make bench`'s Slurm submissions:
 * POSTs one job body N times, one after another, to slurmrestd's
 * job/submit over a single keep-alive connection (one libcurl easy handle
 * reused), as fast as slurmrestd answers. Each answer must be a 200 that
 * names a job_id, else the benchmark ends with exit status 1. Prints one
 * line for scripts to parse:
 *
 *	submits_per_s=<float> n=<N> seconds=<float> connects=<count>
 *
 * (connects: the TCP connections libcurl opened, 1 when keep-alive held.)
 *
 * Usage: bench_slurm URL USER TOKEN_FILE BODY_FILE N
 * URL is the whole submit URL, e.g.
 * http://127.0.0.1:16820/slurm/v0.0.38/job/submit; TOKEN_FILE holds the
 * JWT (as `scontrol token` prints it, with or without "SLURM_JWT=").
 */
#define _POSIX_C_SOURCE 200809L

#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BENCH_FILE_MAX (16L << 20)
#define BENCH_N_MAX 1000000L

static const char *prog = "bench_slurm";

/* The answer of one request, grown as it arrives. */
struct answer {
	char *p;
	size_t len, cap;
};

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* All of path, NUL-terminated, into a new buffer (caller frees), or NULL
 * after printing why. */
static char *read_file(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *p;
	size_t n;

	if (!f) {
		fprintf(stderr, "%s: cannot open '%s'\n", prog, path);
		return NULL;
	}
	p = malloc(BENCH_FILE_MAX + 1);
	if (!p) {
		fclose(f);
		fprintf(stderr, "%s: out of memory\n", prog);
		return NULL;
	}
	n = fread(p, 1, BENCH_FILE_MAX, f);
	if (ferror(f) || !feof(f)) {
		fprintf(stderr, "%s: cannot read '%s' (or over %ld bytes)\n",
			prog, path, BENCH_FILE_MAX);
		fclose(f);
		free(p);
		return NULL;
	}
	fclose(f);
	p[n] = '\0';
	*len = n;
	return p;
}

static size_t on_data(char *data, size_t size, size_t n, void *arg)
{
	struct answer *a = arg;
	size_t add = size * n;

	if (a->len + add + 1 > a->cap) {
		size_t cap = a->cap ? 2 * a->cap : 4096;
		char *p;

		while (cap < a->len + add + 1)
			cap *= 2;
		p = realloc(a->p, cap);
		if (!p)
			return 0;
		a->p = p;
		a->cap = cap;
	}
	memcpy(a->p + a->len, data, add);
	a->len += add;
	a->p[a->len] = '\0';
	return add;
}

int main(int argc, char **argv)
{
	char *token, *body, *end, uhdr[512], *thdr;
	struct curl_slist *hdrs = NULL;
	struct answer a = { 0 };
	size_t tlen, blen;
	long n, i, status, connects = 0, c;
	double t0, dt;
	CURL *h;

	if (argc != 6) {
		fprintf(stderr, "usage: %s URL USER TOKEN_FILE BODY_FILE N\n",
			prog);
		return 2;
	}
	n = strtol(argv[5], &end, 10);
	if (*end || n < 1 || n > BENCH_N_MAX) {
		fprintf(stderr, "%s: N must be 1..%ld\n", prog, BENCH_N_MAX);
		return 2;
	}
	token = read_file(argv[3], &tlen);
	body = read_file(argv[4], &blen);
	if (!token || !body)
		return 1;
	token[strcspn(token, "\r\n")] = '\0';
	thdr = malloc(strlen(token) + 32);
	if (!thdr)
		return 1;
	sprintf(thdr, "X-SLURM-USER-TOKEN: %s", strncmp(token, "SLURM_JWT=",
		10) ? token : token + 10);
	snprintf(uhdr, sizeof(uhdr), "X-SLURM-USER-NAME: %s", argv[2]);
	curl_global_init(CURL_GLOBAL_DEFAULT);
	h = curl_easy_init();
	if (!h)
		return 1;
	hdrs = curl_slist_append(hdrs, uhdr);
	hdrs = curl_slist_append(hdrs, thdr);
	hdrs = curl_slist_append(hdrs, "Accept: application/json");
	hdrs = curl_slist_append(hdrs, "Content-Type: application/json");
	curl_easy_setopt(h, CURLOPT_URL, argv[1]);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)blen);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &a);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	t0 = now_s();
	for (i = 0; i < n; i++) {
		CURLcode rc;

		a.len = 0;
		rc = curl_easy_perform(h);
		status = 0;
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
		if (rc != CURLE_OK || status != 200 || !a.p ||
		    !strstr(a.p, "\"job_id\"")) {
			fprintf(stderr, "%s: submission %ld: %s, status %ld: "
				"%.300s\n", prog, i, curl_easy_strerror(rc),
				status, a.p ? a.p : "");
			return 1;
		}
		c = 0;
		curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &c);
		connects += c;
	}
	dt = now_s() - t0;
	printf("submits_per_s=%.2f n=%ld seconds=%.6f connects=%ld\n", n / dt,
	       n, dt, connects);
	curl_easy_cleanup(h);
	curl_slist_free_all(hdrs);
	curl_global_cleanup();
	memset(thdr, 0, strlen(thdr));
	free(thdr);
	free(token);
	free(body);
	free(a.p);
	return 0;
}
