/*
 * cost.c - what runs cost, their budgets, and the choice among a run's
 * list of providers by price.
 *
 * A run's cost_usd is the sum over its attempts of the price of the
 * attempt's machine times the time it was held: from the submission (a
 * cloud bills from launch, not from when the job begins) to the job's end.
 * The poller adds the span since cost_ms at each poll of the job, at the
 * price the provider reports then (job_query.price_per_hour), or its
 * configured price_per_hour (a chargeback rate for local and Slurm).
 *
 * Exact across polls and restarts: cost_usd, held_ms and cost_ms (the
 * time up to which the holding is counted) are one row of the store,
 * saved together, so whatever row a restart finds, the span after its
 * cost_ms is not in its cost_usd. The first poll after a restart counts
 * from there to now, the time the daemon was down included: the machine
 * was held and billing all along unless the job ended meanwhile, and then
 * the job's end time (end_ms) bounds the span. Saving the row every
 * COST_SAVE_MS rather than each poll loses nothing either: a restart
 * counts from the older cost_ms again, never twice.
 */
#include "model.h"
#include "core.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COST_SAVE_MS 10000
#define MS_PER_HOUR 3600000.0

double cost_span_usd(double usd_per_hour, int64_t from_ms, int64_t to_ms)
{
	if (!(usd_per_hour > 0) || to_ms <= from_ms)
		return 0;
	return usd_per_hour * (double)(to_ms - from_ms) / MS_PER_HOUR;
}

void cost_budget_reason(const struct run *r, char *out, size_t len)
{
	snprintf(out, len, "budget reached: $%.2f of $%.2f", r->cost_usd,
		 r->cfg ? r->cfg->max_cost_usd : 0.0);
}

/*
 * The budget goes the way of `echo cancel > ctl`: a cancel the poller
 * sends on its next pass, after which the run ends stopped (what the
 * user asked for by setting it, not a failure of the job), with the
 * budget as its reason (poller.c).
 */
static void cost_budget_check_locked(struct core *c, struct run *r)
{
	char why[128];

	if (!r->cfg || !(r->cfg->max_cost_usd > 0) ||
	    r->cost_usd < r->cfg->max_cost_usd || r->cancel_requested ||
	    r->ending)
		return;
	r->cancel_requested = CANCEL_BUDGET;
	r->last_cancel_ms = 0;
	cost_budget_reason(r, why, sizeof(why));
	run_event_locked(c, r, "%s: cancelling", why);
	poller_kick_locked(c);
}

void cost_account_locked(struct core *c, struct run *r,
			 const struct provider *p, const struct job_query *q,
			 int64_t now)
{
	double price = q->price_per_hour >= 0 ? q->price_per_hour :
						p->conn.price_per_hour;
	int ended = job_state_terminal(q->state) || q->state == JOB_UNKNOWN;
	int64_t until = now, mono = mono_ms();

	if (!r->cost_ms)
		return;
	if (ended && q->end_ms > 0 && q->end_ms < now)
		until = q->end_ms;
	if (until > r->cost_ms) {
		r->cost_usd += cost_span_usd(price, r->cost_ms, until);
		r->held_ms += until - r->cost_ms;
		r->cost_ms = until;
	}
	r->price_per_hour = price;
	if (ended)
		r->cost_ms = 0;
	cost_budget_check_locked(c, r);
	if (ended || r->cancel_requested == CANCEL_BUDGET ||
	    mono - r->cost_saved_ms >= COST_SAVE_MS) {
		r->cost_saved_ms = mono;
		run_save_locked(c, r);
	}
}

/* ---- the choice among a provider list ---- */

/* One provider of a list as the why of a choice says it. */
static void choice_word(struct buf *b, const struct choice_in *in)
{
	if (in->usable && in->quote_rc == TFS_OK)
		buf_printf(b, "%s $%.2f/h", in->name, in->price);
	else if (in->usable && in->quote_rc == TFS_EAGAIN)
		buf_printf(b, "%s: %s", in->name, in->quote_why &&
			   *in->quote_why ? in->quote_why : "no capacity");
	else if (in->usable)
		buf_printf(b, "%s: no price", in->name);
	else
		buf_printf(b, "%s: %s", in->name, in->unusable_why ?
			   in->unusable_why : "not usable");
}

int cost_choose(const struct choice_in *in, int n, char *why, size_t len)
{
	struct buf b = BUF_INIT(0);
	int best = -1, unpriced = -1, i;

	for (i = 0; i < n; i++) {
		if (!in[i].usable)
			continue;
		if (in[i].quote_rc == TFS_OK) {
			if (best < 0 || in[i].price < in[best].price)
				best = i;
		} else if (in[i].quote_rc != TFS_EAGAIN && unpriced < 0) {
			unpriced = i;
		}
	}
	if (best < 0)
		best = unpriced;
	/*
	 * The one chosen first, then the other priced ones from the
	 * cheapest up, then the rest in list order: "cheapest: vastai
	 * $0.31/h; then runpod $0.34/h; lambda: no capacity for ...".
	 */
	if (best < 0) {
		buf_puts(&b, "none fits now");
	} else {
		buf_printf(&b, "%s: ", in[best].quote_rc == TFS_OK ?
			   "cheapest" : "first without a price");
		choice_word(&b, &in[best]);
	}
	{
		char *done = xcalloc((size_t)(n > 0 ? n : 1), 1);
		int k, first = 1;

		if (best >= 0)
			done[best] = 1;
		for (;;) {
			int next = -1;

			for (k = 0; k < n; k++)
				if (!done[k] && in[k].usable &&
				    in[k].quote_rc == TFS_OK &&
				    (next < 0 || in[k].price < in[next].price))
					next = k;
			if (next < 0)
				break;
			done[next] = 1;
			buf_puts(&b, first && best >= 0 ? "; then " : first ?
				 ": " : ", ");
			first = 0;
			choice_word(&b, &in[next]);
		}
		for (k = 0; k < n; k++) {
			if (done[k])
				continue;
			buf_puts(&b, first && best < 0 ? ": " : "; ");
			first = 0;
			choice_word(&b, &in[k]);
		}
		free(done);
	}
	snprintf(why, len, "%s", b.p ? b.p : "");
	buf_release(&b);
	return best;
}

/* ---- MOUNT/cost ---- */

struct cost_row {
	const char *name;
	int64_t runs, held_ms;
	double usd;
};

static void cost_row_add(struct cost_row **rows, size_t *n, const char *name,
			 const struct run *r)
{
	size_t i;

	for (i = 0; i < *n && strcmp((*rows)[i].name, name); i++)
		;
	if (i == *n) {
		*rows = xrealloc(*rows, (*n + 1) * sizeof(**rows));
		(*rows)[(*n)++] = (struct cost_row){ .name = name };
	}
	(*rows)[i].runs++;
	(*rows)[i].held_ms += r->held_ms;
	(*rows)[i].usd += r->cost_usd;
}

static int cost_table(struct buf *out, const char *what,
		      const struct cost_row *rows, size_t n, int w)
{
	size_t i;
	int rc = buf_printf(out, "%-*s  %6s  %10s  %12s\n", w, what, "runs",
			    "hours", "usd");

	for (i = 0; i < n && !rc; i++)
		rc = buf_printf(out, "%-*s  %6lld  %10.4f  %12.6f\n", w,
				rows[i].name, (long long)rows[i].runs,
				(double)rows[i].held_ms / MS_PER_HOUR,
				rows[i].usd);
	return rc;
}

/*
 * Per provider (the one that ran the run's last attempt) and per
 * experiment: the runs that ever held a machine, the hours held and the
 * USD, then the total; runs are counted at their cost so far.
 */
int core_cost(struct core *c, struct buf *out)
{
	struct cost_row *prov = NULL, *exps = NULL, total = { .name = "total" };
	size_t np = 0, ne = 0, i, j;
	int w = 10, rc;

	pthread_mutex_lock(&c->lock);
	for (i = 0; i < c->nexps; i++) {
		struct exp *e = c->exps[i];

		for (j = 0; j < e->nruns; j++) {
			struct run *r = e->runs[j];

			if (!r->held_ms && !(r->cost_usd > 0))
				continue;
			cost_row_add(&prov, &np, r->provider ? r->provider :
				     "-", r);
			cost_row_add(&exps, &ne, e->name, r);
			total.runs++;
			total.held_ms += r->held_ms;
			total.usd += r->cost_usd;
		}
	}
	for (i = 0; i < np; i++)
		if ((int)strlen(prov[i].name) > w)
			w = (int)strlen(prov[i].name);
	for (i = 0; i < ne; i++)
		if ((int)strlen(exps[i].name) > w)
			w = (int)strlen(exps[i].name);
	rc = cost_table(out, "provider", prov, np, w);
	if (!rc)
		rc = buf_puts(out, "\n");
	if (!rc)
		rc = cost_table(out, "experiment", exps, ne, w);
	if (!rc)
		rc = buf_puts(out, "\n");
	if (!rc)
		rc = cost_table(out, "all", &total, 1, w);
	pthread_mutex_unlock(&c->lock);
	free(prov);
	free(exps);
	return rc;
}
