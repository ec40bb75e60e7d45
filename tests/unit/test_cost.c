/*
 * test_cost.c - the pure parts of cost.c: the cost of a span held at a
 * price, and the choice among a run's provider list (prices, ties, no
 * capacity, providers not usable, providers with no price).
 */
#include "test.h"
#include "model.h"

#include <math.h>

#define NEAR(a, b) (fabs((a) - (b)) < 1e-12)

static void test_span(void)
{
	double sum = 0;
	int64_t t;

	CHECK(NEAR(cost_span_usd(1.0, 0, 3600000), 1.0));
	CHECK(NEAR(cost_span_usd(0.5, 1000, 1000 + 36000), 0.005));
	CHECK(cost_span_usd(2.0, 5000, 5000) == 0);
	CHECK(cost_span_usd(2.0, 5000, 4000) == 0);   /* a clock step back */
	CHECK(cost_span_usd(-1, 0, 3600000) == 0);    /* no price */
	CHECK(cost_span_usd(0, 0, 3600000) == 0);
	/* spans polled one after another add up to the whole, exactly
	   enough: an hour in 100 ms polls at $0.34/h */
	for (t = 0; t < 3600000; t += 100)
		sum += cost_span_usd(0.34, t, t + 100);
	CHECK(fabs(sum - 0.34) < 1e-9);
}

static struct choice_in priced(const char *name, double usd)
{
	return (struct choice_in){ .name = name, .usable = 1,
				   .quote_rc = TFS_OK, .price = usd };
}

static void test_choose(void)
{
	struct choice_in in[4];
	char why[512];

	/* the cheapest */
	in[0] = priced("vastai", 0.31);
	in[1] = priced("runpod", 0.34);
	in[2] = (struct choice_in){ .name = "lambda", .usable = 1,
		.quote_rc = TFS_EAGAIN,
		.quote_why = "no capacity for 1xA100 on lambda" };
	CHECK(cost_choose(in, 3, why, sizeof(why)) == 0);
	CHECK_STR(why, "cheapest: vastai $0.31/h; then runpod $0.34/h; "
		  "lambda: no capacity for 1xA100 on lambda");
	/* the others from the cheapest up, whatever the list's order */
	in[0] = priced("lambda", 1.29);
	in[1] = priced("runpod", 0.34);
	in[2] = priced("vastai", 0.31);
	CHECK(cost_choose(in, 3, why, sizeof(why)) == 2);
	CHECK_STR(why, "cheapest: vastai $0.31/h; then runpod $0.34/h, "
		  "lambda $1.29/h");
	/* order does not matter for the price; a tie goes to the earlier */
	in[0] = priced("runpod", 0.34);
	in[1] = priced("vastai", 0.31);
	CHECK(cost_choose(in, 2, why, sizeof(why)) == 1);
	in[1] = priced("vastai", 0.34);
	CHECK(cost_choose(in, 2, why, sizeof(why)) == 0);
	/* no price ranks after every priced one, in list order */
	in[0] = (struct choice_in){ .name = "local", .usable = 1,
				    .quote_rc = TFS_EOPNOTSUPP };
	in[1] = (struct choice_in){ .name = "slurm", .usable = 1,
				    .quote_rc = TFS_EOPNOTSUPP };
	in[2] = priced("runpod", 9.0);
	CHECK(cost_choose(in, 3, why, sizeof(why)) == 2);
	CHECK(cost_choose(in, 2, why, sizeof(why)) == 0);
	CHECK_STR(why, "first without a price: local: no price; slurm: no "
		  "price");
	/* unusable (unhealthy, full) providers are skipped, however cheap */
	in[0] = priced("cheap", 0.01);
	in[0].usable = 0;
	in[0].unusable_why = "unreachable: connection refused";
	in[1] = priced("dear", 3.0);
	CHECK(cost_choose(in, 2, why, sizeof(why)) == 1);
	CHECK_STR(why, "cheapest: dear $3.00/h; cheap: unreachable: "
		  "connection refused");
	/* none: no capacity anywhere, or nothing usable */
	in[1].quote_rc = TFS_EAGAIN;
	in[1].quote_why = "";
	CHECK(cost_choose(in, 2, why, sizeof(why)) == -1);
	CHECK_STR(why, "none fits now: cheap: unreachable: connection "
		  "refused; dear: no capacity");
	CHECK(cost_choose(in, 0, why, sizeof(why)) == -1);
	/* a why too small is cut, not overrun */
	in[1] = priced("dear", 3.0);
	CHECK(cost_choose(in, 2, why, 9) == 1);
	CHECK_STR(why, "cheapest");
}

int main(void)
{
	test_span();
	test_choose();
	return TEST_REPORT();
}
