/*
 * state.h - the states of a run and their names. A leaf: it includes
 * nothing of ours, so that notify, config and anything else that speaks of
 * states can say so without taking in the model (core.h) or depending on
 * it.
 */
#ifndef TFS_STATE_H
#define TFS_STATE_H

enum run_state {
	RS_CREATED = 0,
	RS_QUEUED,
	RS_INITIALIZING,
	RS_RUNNING,
	RS_PAUSED,
	RS_COMPLETED,
	RS_FAILED,
	RS_STOPPED,
	RS_MAX
};

/* "created", "queued", ...; never NULL. */
const char *run_state_name(int state);
/* 1 for completed, failed and stopped. */
int run_state_terminal(int state);
/* 1 for initializing, running and paused: a job exists at a provider. */
int run_state_active(int state);

#endif
