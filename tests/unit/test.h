/*
 * test.h - the unit-test harness (after Redis's testhelp.h): CHECK()
 * records a failure and carries on, TEST_REPORT() prints the closing line
 * "N passed, N failed" and returns the exit status. Each test_*.c is one
 * program; tests/run_unit.sh runs them all and adds up the lines.
 */
#ifndef TFS_TEST_H
#define TFS_TEST_H

#include <stdio.h>
#include <string.h>

static int test_passed, test_failed;

#define CHECK(cond) do { \
	if (cond) { test_passed++; } else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond); } \
} while (0)

#define CHECK_STR(a, b) do { \
	const char *a_ = (a), *b_ = (b); \
	if (a_ && b_ && strcmp(a_, b_) == 0) { test_passed++; } else { test_failed++; \
		fprintf(stderr, "FAIL %s:%d: %s == %s (\"%s\" vs \"%s\")\n", __FILE__, \
			__LINE__, #a, #b, a_ ? a_ : "(null)", b_ ? b_ : "(null)"); } \
} while (0)

#define TEST_REPORT() (printf("%d passed, %d failed\n", test_passed, test_failed), \
	test_failed ? 1 : 0)

#endif
