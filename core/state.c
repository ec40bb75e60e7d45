/*
 * state.c - the names of a run's states and the two classes the rest of
 * the tree asks about (ended, holding a job). Includes nothing but its own
 * header, so notify, config and the tests can use it without the model.
 */
#include "state.h"

static const char *const state_names[RS_MAX] = {
	"created", "queued", "initializing", "running", "paused",
	"completed", "failed", "stopped"
};

const char *run_state_name(int state)
{
	return state >= 0 && state < RS_MAX ? state_names[state] : "unknown";
}

int run_state_terminal(int state)
{
	return state == RS_COMPLETED || state == RS_FAILED ||
	       state == RS_STOPPED;
}

int run_state_active(int state)
{
	return state == RS_INITIALIZING || state == RS_RUNNING ||
	       state == RS_PAUSED;
}
