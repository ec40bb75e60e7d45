/*
 * fake_connector.h - a provider driven by the test that links it: jobs
 * that run, end, are preempted or forgotten when the test says so,
 * submissions left unconfirmed, calls that fail or hang on demand, and
 * remote log and metrics bytes for sync(). It lets scheduler, retry and
 * restart tests run without fork timing. Only unit tests link it: the
 * daemon never knows the type "fake".
 *
 * Its jobs live in this process, outside the connector instances, so that
 * they outlive a core_close() and are found by the next core_open() as a
 * remote provider's jobs would be. Jobs are named by the run's "exp/run"
 * and the attempt. Every function is thread-safe.
 */
#ifndef TFS_FAKE_CONNECTOR_H
#define TFS_FAKE_CONNECTOR_H

#include "connector.h"

/* The calls the fake counts, fails and hangs. */
enum fake_call {
	FAKE_PING, FAKE_FIND, FAKE_SUBMIT, FAKE_POLL, FAKE_CANCEL,
	FAKE_SIGNAL, FAKE_SYNC, FAKE_NCALLS
};

extern const struct connector_ops fake_connector_ops;

/* Registers the type "fake" (connector_register()); TFS_OK once. */
int fake_register(void);

/*
 * Every call of provider prov blocks from now on until fake_hang(prov, 0),
 * as a provider whose API never answers; a call already blocked returns
 * TFS_EIO "timed out" when released.
 */
void fake_hang(const char *prov, int on);
/* The same for the calls of one kind only (the others answer). */
void fake_hang_call(const char *prov, enum fake_call call, int on);
/* The struct connector init() was given (a connector may keep it). */
const void *fake_conn(const char *prov);
/* Calls of provider prov blocked in a hang right now. */
int fake_hung(const char *prov);
/*
 * The next n calls of kind call on prov fail with err and the reason why
 * (n < 0: every call until fake_fail(prov, call, 0, ...)).
 */
void fake_fail(const char *prov, enum fake_call call, int n, int err,
	       const char *why);
/* Calls of kind call made on prov since fake_register(). */
int fake_calls(const char *prov, enum fake_call call);
/*
 * The monotonic times (ms) of the last n calls of kind call on prov,
 * oldest first, into t; returns how many there were (at most n).
 */
int fake_call_times(const char *prov, enum fake_call call, int64_t *t,
		    int n);

/*
 * What attempt `attempt` of run `run` ("exp/run"; attempt 0: every one
 * without a plan of its own) does once submitted: it runs (JOB_RUNNING)
 * until fake_job_end(), or it reports `end` (with exit code and reason)
 * at its first poll. unconfirmed: submit() and find() answer
 * TFS_EINPROGRESS until fake_confirm().
 */
void fake_plan(const char *run, int attempt, enum job_state end,
	       int exit_code, const char *reason, int unconfirmed);
/* Ends a running job (or changes its state: JOB_PAUSED, JOB_RUNNING). */
void fake_job_end(const char *run, int attempt, enum job_state st,
		  int exit_code, const char *reason);
/* An unconfirmed submission is confirmed: find() now reports it. */
void fake_confirm(const char *run, int attempt);
/* The provider forgets the job: poll() reports JOB_UNKNOWN. */
void fake_forget(const char *run, int attempt);
/* Adds bytes to the job's remote log and metrics file, for sync(). */
void fake_remote(const char *run, int attempt, const char *log,
		 const char *metrics);

/*
 * The most jobs provider prov had at once (submitted, not ended, not
 * forgotten), counted at each submission since fake_register().
 */
int fake_max_live(const char *prov);

/* What the fake knows of one job. */
struct fake_job_info {
	char run_id[37];          /* the spec's, as submitted */
	char job_id[JOB_ID_MAX];
	enum job_state state;
	int submits;              /* submit() calls for this attempt */
	int cancels;              /* cancel() calls */
	int cancel_unconfirmed;   /* of which before it was confirmed */
	int ran;                  /* it started (was not cancelled before) */
};
/* 1 and *out filled when the fake has the job, else 0. */
int fake_job(const char *run, int attempt, struct fake_job_info *out);

#endif
