/*
 * slurm_api.h - slurmrestd's JSON, read and written by pure functions (no
 * I/O, no globals), so that recorded answers (tests/fixtures/slurm/) and
 * fuzzers reach them without a server. The Slurm connector does the HTTP
 * and calls these on the bodies.
 *
 * One OpenAPI version is spoken per provider (its "api_version"); the
 * shapes that differ between versions (job_state a string in v0.0.38, an
 * array from v0.0.39; environment an object, then a list) are told apart
 * here and nowhere else. Unknown fields are ignored, missing ones default.
 */
#ifndef TFS_SLURM_API_H
#define TFS_SLURM_API_H

#include <stddef.h>
#include <stdint.h>

#include "connector.h"

#define SLURM_NAME_MAX 256
#define SLURM_COMMENT_MAX 512
#define SLURM_STATE_MAX 32
#define SLURM_JOBS_MAX 200000      /* jobs in one answer; Slurm's MaxJobCount
				      is 10,000 by default */

/* One job of a `GET jobs` or `GET job/{id}` answer. */
struct slurm_job {
	int64_t job_id;
	char name[SLURM_NAME_MAX];
	char comment[SLURM_COMMENT_MAX];
	char state_word[SLURM_STATE_MAX]; /* Slurm's own, e.g. "NODE_FAIL" */
	enum job_state state;             /* mapped by slurm_state() */
	int undocumented;                 /* 1: state_word is none Slurm
					     documents (state JOB_UNKNOWN):
					     the caller keeps what it knew */
	int retry;                        /* 1: ended by the cluster, not the
					     job (PREEMPTED, NODE_FAIL, ...) */
	char reason[JOB_REASON_MAX];      /* state_reason; "" for "None" */
	int exit_code;                    /* decoded; -1 when not ended */
	int term_signal;                  /* 0 if none */
	int64_t submit_s, start_s, end_s; /* epoch seconds, 0 when unset */
	int restart_cnt;
};

/*
 * Maps Slurm's job_state word onto trainfs's states; *retry is set to 1
 * for the states worth a retry under max_retries. Returns -1 for a word
 * Slurm does not document (the caller keeps the previous state).
 */
int slurm_state(const char *word, enum job_state *state, int *retry);

/*
 * slurmrestd's exit_code is the raw wait() status: exit 3 reads 768, a
 * job killed by SIGKILL reads 9. Decodes it as WEXITSTATUS/WTERMSIG do.
 */
void slurm_decode_exit(int64_t raw, int *exit_code, int *term_signal);

/*
 * The first entry of an answer's "errors" array as one sentence
 * ("Invalid job id specified (2017): Unable to find JobId=9"), in err,
 * and its number in *code (error_number, or error_code as job/submit
 * says it; 0 when it has none). Returns 1 when there was one, 0 when
 * errors is empty or missing, -1 when body is not JSON.
 */
int slurm_errors(const char *body, size_t len, int64_t *code, char *err,
		 size_t errlen);

/* What a Slurm error number says about the request. */
enum slurm_err_kind {
	SLURM_ERR_AUTH,       /* the token was refused (-1, 5005, ...) */
	SLURM_ERR_DOWN,       /* slurmctld not reached or timed out: the
				 request may still be carried out */
	SLURM_ERR_REFUSED,    /* Slurm refused the request itself (ESLURM_*):
				 nothing was done */
	SLURM_ERR_OTHER,      /* anything else: treated as DOWN */
};
enum slurm_err_kind slurm_err_kind(int64_t code);

/*
 * Parses a `GET jobs` / `GET job/{id}` answer: *jobs (malloc'd, freed by
 * the caller with free()) and *n. Returns 0, or -1 with err
 * when the body is not such an answer (not JSON, no "jobs" array, more
 * than SLURM_JOBS_MAX jobs, a job without a job_id). A job in a state
 * Slurm does not document (a newer Slurm, another user's odd job) is
 * kept, marked undocumented, so that one job cannot stop the answer.
 */
int slurm_parse_jobs(const char *body, size_t len, struct slurm_job **jobs,
		     size_t *n, char *err, size_t errlen);

/* A `POST job/submit` answer: *job_id, or -1 with err (Slurm's words). */
int slurm_parse_submit(const char *body, size_t len, int64_t *job_id,
		       char *err, size_t errlen);

/*
 * A `GET ping` answer: 0 when every controller says "UP", -1 with err
 * naming the one that does not.
 */
int slurm_parse_ping(const char *body, size_t len, char *err, size_t errlen);

/*
 * The expiry ("exp", epoch seconds) of a JWT as `scontrol token` makes it,
 * read from its payload without checking the signature (slurmctld does
 * that): for saying "expired at ..." instead of a bare refusal. Returns -1
 * when jwt is not a JWT with a numeric exp.
 */
int64_t slurm_token_expiry(const char *jwt);

/* What a batch job asks for; strings borrowed for the call. */
struct slurm_submit {
	const char *api_version;  /* "v0.0.38" */
	const char *script;       /* "#!/bin/sh\n..." */
	const char *name;
	const char *comment;      /* carries the run's UUID and attempt */
	const char *partition;    /* or NULL */
	const char *account;      /* or NULL */
	const char *workdir;
	const char *stdout_path;  /* or NULL */
	char *const *env;         /* "K=V", NULL-terminated; never empty:
				     slurmrestd requires one entry */
	int cpus;                 /* cpus_per_task, 0: Slurm's default */
	int64_t memory_mb;        /* memory_per_node, 0: Slurm's default */
	int gpus;                 /* gres "gpu[:type]:N"; a cluster without
				     GresTypes=gpu refuses it ("Failure
				     during parsing") */
	const char *gpu_type;     /* or NULL */
	int time_limit_min;       /* 0: the partition's */
};

/* The `POST job/submit` body as a malloc'd string, or NULL with err. */
char *slurm_submit_body(const struct slurm_submit *s, char *err,
			size_t errlen);

#endif
