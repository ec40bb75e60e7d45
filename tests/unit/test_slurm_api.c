/*
 * test_slurm_api.c - connectors/slurm_api.c against slurmrestd's answers
 * recorded from a real Slurm 22.05 (tests/fixtures/slurm/, recorded by
 * its record.sh), and against bodies a broken or newer server may send.
 * Run from the repository top (as make test does).
 */
#include "slurm_api.h"
#include "test.h"

#include <stdlib.h>
#include <cjson/cJSON.h>

#define FIX "tests/fixtures/slurm/"

/* The fixture's bytes, malloc'd to exactly their length (no NUL: ASan
 * catches a read past it). */
static char *fixture(const char *name, size_t *len)
{
	char path[256];
	FILE *f;
	char *b;
	long n;

	snprintf(path, sizeof(path), FIX "%s.json", name);
	f = fopen(path, "rb");
	if (!f) {
		fprintf(stderr, "FAIL: cannot open fixture '%s'\n", path);
		exit(1);
	}
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	b = malloc(n ? (size_t)n : 1);
	if (!b || fread(b, 1, (size_t)n, f) != (size_t)n)
		exit(1);
	fclose(f);
	*len = (size_t)n;
	return b;
}

static const struct slurm_job *by_name(const struct slurm_job *j, size_t n,
				       const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(j[i].name, name) == 0)
			return &j[i];
	return NULL;
}

static void test_jobs_fixture(void)
{
	struct slurm_job *jobs;
	const struct slurm_job *j;
	char err[256];
	size_t n, len;
	char *b = fixture("jobs", &len);

	CHECK(slurm_parse_jobs(b, len, &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 11);
	j = by_name(jobs, n, "exit0");
	CHECK(j && j->state == JOB_COMPLETED && j->exit_code == 0 &&
	      j->term_signal == 0 && j->reason[0] == '\0');
	CHECK(j && strcmp(j->comment, "trainfs 00000000-0000-4000-8000-000000000001/1") == 0);
	CHECK(j && j->submit_s > 1600000000 && j->end_s >= j->start_s);
	/* exit 3 is reported as the raw status 768 */
	j = by_name(jobs, n, "exit3");
	CHECK(j && j->state == JOB_FAILED && j->exit_code == 3 &&
	      j->term_signal == 0);
	CHECK_STR(j ? j->reason : NULL, "NonZeroExitCode");
	/* a batch script killed by SIGKILL: raw 9 */
	j = by_name(jobs, n, "signal");
	CHECK(j && j->state == JOB_FAILED && j->term_signal == 9 &&
	      j->exit_code == 137);
	/* signal STOP leaves it STOPPED; scontrol suspend, SUSPENDED */
	j = by_name(jobs, n, "running");
	CHECK(j && j->state == JOB_PAUSED && j->exit_code == -1);
	CHECK_STR(j ? j->state_word : NULL, "STOPPED");
	j = by_name(jobs, n, "suspended");
	CHECK(j && j->state == JOB_PAUSED);
	j = by_name(jobs, n, "cancelled");
	CHECK(j && j->state == JOB_STOPPED && j->term_signal == 15);
	/* pending, with Slurm's own words for why */
	j = by_name(jobs, n, "held");
	CHECK(j && j->state == JOB_PENDING && j->exit_code == -1);
	CHECK_STR(j ? j->reason : NULL, "JobHeldUser");
	j = by_name(jobs, n, "dependent");
	CHECK_STR(j ? j->reason : NULL, "Dependency");
	j = by_name(jobs, n, "toobig");
	CHECK_STR(j ? j->reason : NULL, "PartitionConfig");
	CHECK(j && !j->retry);
	free(jobs);
	free(b);
}

static void test_one_job_and_errors(void)
{
	struct slurm_job *jobs;
	char err[256];
	size_t n, len;
	int64_t code;
	char *b = fixture("job_exit3", &len);

	CHECK(slurm_parse_jobs(b, len, &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 1 && jobs[0].exit_code == 3);
	CHECK(slurm_errors(b, len, &code, err, sizeof(err)) == 0);
	free(jobs);
	free(b);
	/* an unknown job: 500, an empty list and an error in Slurm's words */
	b = fixture("job_unknown", &len);
	CHECK(slurm_parse_jobs(b, len, &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 0);
	free(jobs);
	CHECK(slurm_errors(b, len, &code, err, sizeof(err)) == 1);
	CHECK_STR(err, "Invalid job id specified (2017): Unable to find JobId=999999");
	free(b);
	b = fixture("cancel_unknown", &len);
	CHECK(slurm_errors(b, len, &code, err, sizeof(err)) == 1);
	CHECK(strstr(err, "Invalid job id specified") != NULL);
	free(b);
	b = fixture("cancel", &len);
	CHECK(slurm_errors(b, len, &code, err, sizeof(err)) == 0);
	free(b);
	/* 304 for jobs?update_time= when nothing changed: no body at all */
	b = fixture("jobs_unchanged", &len);
	CHECK(len == 0);
	CHECK(slurm_parse_jobs(b, len, &jobs, &n, err, sizeof(err)) == -1);
	CHECK(jobs == NULL && n == 0);
	free(b);
}

static void test_submit_and_ping(void)
{
	char err[256];
	int64_t id;
	size_t len;
	char *b = fixture("submit_ok", &len);

	CHECK(slurm_parse_submit(b, len, &id, err, sizeof(err)) == 0);
	CHECK(id == 1);
	free(b);
	b = fixture("submit_unknown_key", &len);
	CHECK(slurm_parse_submit(b, len, &id, err, sizeof(err)) == -1);
	CHECK(id == -1);
	CHECK(strstr(err, "Unknown key \"bogus_key\"") != NULL);
	free(b);
	b = fixture("submit_no_environment", &len);
	CHECK(slurm_parse_submit(b, len, &id, err, sizeof(err)) == -1);
	CHECK(err[0] != '\0');
	free(b);
	b = fixture("ping", &len);
	CHECK(slurm_parse_ping(b, len, err, sizeof(err)) == 0);
	free(b);
	/* a wrong token: 500, and no pings */
	b = fixture("ping_bad_token", &len);
	CHECK(slurm_parse_ping(b, len, err, sizeof(err)) == -1);
	free(b);
	CHECK(slurm_parse_ping("{\"pings\":[{\"hostname\":\"c1\",\"ping\":\"DOWN\"}]}",
			       44, err, sizeof(err)) == -1);
	CHECK_STR(err, "slurmctld on 'c1' is DOWN");
	CHECK(slurm_parse_ping("{\"pings\":[]}", 12, err, sizeof(err)) == -1);
}

static void test_states_and_exit(void)
{
	enum job_state st;
	int retry, code, sig;

	CHECK(slurm_state("NODE_FAIL", &st, &retry) == 0 &&
	      st == JOB_PREEMPTED && retry == 1);
	CHECK(slurm_state("PREEMPTED", &st, &retry) == 0 && retry == 1);
	CHECK(slurm_state("BOOT_FAIL", &st, &retry) == 0 && retry == 1);
	CHECK(slurm_state("TIMEOUT", &st, &retry) == 0 &&
	      st == JOB_FAILED && retry == 0);
	CHECK(slurm_state("OUT_OF_MEMORY", &st, &retry) == 0 &&
	      st == JOB_FAILED);
	CHECK(slurm_state("COMPLETING", &st, &retry) == 0 &&
	      st == JOB_RUNNING);
	CHECK(slurm_state("running", &st, &retry) == -1);
	CHECK(slurm_state("", &st, &retry) == -1);
	slurm_decode_exit(768, &code, &sig);
	CHECK(code == 3 && sig == 0);
	slurm_decode_exit(0, &code, &sig);
	CHECK(code == 0 && sig == 0);
	slurm_decode_exit(9, &code, &sig);
	CHECK(code == 137 && sig == 9);
	slurm_decode_exit(255 << 8, &code, &sig);
	CHECK(code == 255 && sig == 0);
	slurm_decode_exit(-5, &code, &sig);    /* nonsense: not negative */
	CHECK(code == 0 && sig == 0);
}

/* What a broken, hostile or newer slurmrestd may answer. */
static void test_bad_and_newer_bodies(void)
{
	struct slurm_job *jobs;
	char err[256];
	size_t n;
	int64_t id;
	const char *s;

	CHECK(slurm_parse_jobs("<html>", 6, &jobs, &n, err, sizeof(err)) == -1);
	CHECK_STR(err, "slurmrestd's answer is not JSON");
	CHECK(slurm_parse_jobs("[1]", 3, &jobs, &n, err, sizeof(err)) == -1);
	CHECK(slurm_parse_jobs("{\"jobs\":{}}", 11, &jobs, &n, err,
			       sizeof(err)) == -1);
	s = "{\"jobs\":[{\"name\":\"x\",\"job_state\":\"RUNNING\"}]}";
	CHECK(slurm_parse_jobs(s, strlen(s), &jobs, &n, err, sizeof(err)) == -1);
	CHECK(strstr(err, "no job_id") != NULL);
	/* one job in a state Slurm does not document does not stop the
	 * answer: it is kept, marked, beside the others */
	s = "{\"jobs\":[{\"job_id\":5,\"job_state\":\"WEIRD\"},"
	    "{\"job_id\":6,\"job_state\":\"RUNNING\"}]}";
	CHECK(slurm_parse_jobs(s, strlen(s), &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 2 && jobs[0].undocumented && jobs[0].state == JOB_UNKNOWN &&
	      !strcmp(jobs[0].state_word, "WEIRD") && !jobs[1].undocumented &&
	      jobs[1].state == JOB_RUNNING);
	free(jobs);
	s = "{\"jobs\":[{\"job_id\":5}]}";
	CHECK(slurm_parse_jobs(s, strlen(s), &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 1 && jobs[0].undocumented);
	free(jobs);
	s = "{\"jobs\":[{\"job_id\":1e300,\"job_state\":\"RUNNING\"}]}";
	CHECK(slurm_parse_jobs(s, strlen(s), &jobs, &n, err, sizeof(err)) == -1);
	/* v0.0.39 and later: state flags in an array, numbers wrapped */
	s = "{\"jobs\":[{\"job_id\":7,\"job_state\":[\"FAILED\",\"REQUEUED\"],"
	    "\"exit_code\":{\"set\":true,\"number\":512},\"name\":\"n\","
	    "\"comment\":null,\"unknown_new_field\":[1,2]}]}";
	CHECK(slurm_parse_jobs(s, strlen(s), &jobs, &n, err, sizeof(err)) == 0);
	CHECK(n == 1 && jobs[0].job_id == 7 && jobs[0].state == JOB_FAILED &&
	      jobs[0].exit_code == 2 && jobs[0].comment[0] == '\0');
	free(jobs);
	/* a name longer than we keep is cut, not overrun */
	{
		char big[2000];

		memset(big, 'a', sizeof(big));
		snprintf(big, sizeof(big), "{\"jobs\":[{\"job_id\":1,\"job_state\":"
			 "\"PENDING\",\"name\":\"%0*d\"}]}", 600, 0);
		CHECK(slurm_parse_jobs(big, strlen(big), &jobs, &n, err,
				       sizeof(err)) == 0);
		CHECK(n == 1 && strlen(jobs[0].name) == SLURM_NAME_MAX - 1);
		free(jobs);
	}
	CHECK(slurm_parse_submit("{\"job_id\":0}", 12, &id, err, sizeof(err)) == -1);
	CHECK(slurm_parse_submit("{\"job_id\":\"5\"}", 14, &id, err, sizeof(err)) == -1);
	CHECK(slurm_parse_submit(NULL, 0, &id, err, sizeof(err)) == -1);
	CHECK(slurm_errors("nope", 4, NULL, err, sizeof(err)) == -1);
	CHECK(slurm_errors("{\"errors\":[{\"error\":\"e\"}]}", 26, NULL, err,
			   sizeof(err)) == 1);
	CHECK_STR(err, "e (0)");
	/* job/submit says error_code where the others say error_number */
	s = "{\"errors\":[{\"error_code\":2000,\"error\":\"Invalid partition "
	    "name specified\"}]}";
	CHECK(slurm_errors(s, strlen(s), &id, err, sizeof(err)) == 1 &&
	      id == 2000);
	CHECK(slurm_err_kind(id) == SLURM_ERR_REFUSED);
	CHECK(slurm_err_kind(-1) == SLURM_ERR_AUTH);
	CHECK(slurm_err_kind(5005) == SLURM_ERR_AUTH);
	CHECK(slurm_err_kind(5004) == SLURM_ERR_DOWN);   /* socket timeout */
	CHECK(slurm_err_kind(1800) == SLURM_ERR_DOWN);   /* no controller */
	CHECK(slurm_err_kind(2017) == SLURM_ERR_REFUSED);
	CHECK(slurm_err_kind(0) == SLURM_ERR_OTHER);
}

static void test_submit_body(void)
{
	char *env[] = { "PATH=/usr/bin:/bin", "TRAINFS_RUN_ID=abc",
			"WEIRD=a \"q\" $x\nnl", NULL };
	char *bad_env[] = { "NOEQUALS", NULL };
	char *no_env[] = { NULL };
	struct slurm_submit s = {
		.api_version = "v0.0.38", .script = "#!/bin/sh\nexit 0\n",
		.name = "exp/run", .comment = "trainfs U/1",
		.partition = "debug", .workdir = "/shared/r",
		.stdout_path = "/shared/r/log", .env = env, .cpus = 2,
		.memory_mb = 512, .gpus = 1, .gpu_type = "a100",
		.time_limit_min = 30,
	};
	char err[256];
	char *body = slurm_submit_body(&s, err, sizeof(err));
	cJSON *root = body ? cJSON_Parse(body) : NULL;
	cJSON *job = cJSON_GetObjectItem(root, "job");
	cJSON *e = cJSON_GetObjectItem(job, "environment");

	CHECK(root && job);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(root, "script")),
		  "#!/bin/sh\nexit 0\n");
	CHECK(cJSON_IsObject(e));
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(e, "WEIRD")),
		  "a \"q\" $x\nnl");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(job, "gres")),
		  "gpu:a100:1");
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(job, "time_limit")) == 30);
	CHECK(cJSON_GetNumberValue(cJSON_GetObjectItem(job, "memory_per_node")) == 512);
	CHECK(cJSON_IsFalse(cJSON_GetObjectItem(job, "requeue")));
	CHECK(cJSON_GetObjectItem(job, "account") == NULL);
	cJSON_Delete(root);
	free(body);
	/* the newer shape: environment as a list */
	s.api_version = "v0.0.40";
	s.gpu_type = NULL;
	body = slurm_submit_body(&s, err, sizeof(err));
	root = body ? cJSON_Parse(body) : NULL;
	job = cJSON_GetObjectItem(root, "job");
	e = cJSON_GetObjectItem(job, "environment");
	CHECK(cJSON_IsArray(e) && cJSON_GetArraySize(e) == 3);
	CHECK_STR(cJSON_GetStringValue(cJSON_GetArrayItem(e, 1)),
		  "TRAINFS_RUN_ID=abc");
	CHECK_STR(cJSON_GetStringValue(cJSON_GetObjectItem(job, "gres")), "gpu:1");
	cJSON_Delete(root);
	free(body);
	s.env = bad_env;
	CHECK(slurm_submit_body(&s, err, sizeof(err)) == NULL);
	CHECK(strstr(err, "NOEQUALS") != NULL);
	s.env = no_env;
	CHECK(slurm_submit_body(&s, err, sizeof(err)) == NULL);
	s.env = env;
	s.script = NULL;
	CHECK(slurm_submit_body(&s, err, sizeof(err)) == NULL);
}

/* The expiry of a JWT as `scontrol token` writes it (header.payload.sig). */
static void test_token_expiry(void)
{
	/* {"exp":1796262880,"iat":1796176480,"sun":"root"} */
	CHECK(slurm_token_expiry("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9."
				 "eyJleHAiOjE3OTYyNjI4ODAsImlhdCI6MTc5NjE3NjQ4"
				 "MCwic3VuIjoicm9vdCJ9.c2ln") == 1796262880);
	CHECK(slurm_token_expiry("not-a-token") == -1);
	CHECK(slurm_token_expiry("a.b") == -1);
	CHECK(slurm_token_expiry("a.!!!.c") == -1);
	/* {"sun":"root"}: no exp */
	CHECK(slurm_token_expiry("x.eyJzdW4iOiJyb290In0.y") == -1);
	CHECK(slurm_token_expiry(NULL) == -1);
}

int main(void)
{
	test_token_expiry();
	test_jobs_fixture();
	test_one_job_and_errors();
	test_submit_and_ping();
	test_states_and_exit();
	test_bad_and_newer_bodies();
	test_submit_body();
	return TEST_REPORT();
}
