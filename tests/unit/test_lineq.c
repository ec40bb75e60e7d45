/*
 * test_lineq.c - the bounded line queue of a stream reader: order, the
 * bound in lines and in bytes, the overflow line with the count of what
 * was dropped and its place, reads shorter than a line, and release.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lineq.h"
#include "test.h"

static int push_n(struct lineq *q, int from, int n)
{
	char line[32];
	int i, kept = 0;

	for (i = from; i < from + n; i++) {
		int len = snprintf(line, sizeof(line), "l%d\n", i);

		kept += lineq_push(q, line, (size_t)len);
	}
	return kept;
}

/* Pops everything with reads of size bytes into one string (caller frees). */
static char *drain(struct lineq *q, size_t size)
{
	struct buf b = BUF_INIT(0);

	while (lineq_pop(q, size, &b))
		;
	buf_append(&b, "", 0);
	return buf_detach(&b, NULL);
}

static void test_order(void)
{
	struct lineq q;
	char *s;

	lineq_init(&q, 10, 1000);
	CHECK(!lineq_ready(&q));
	CHECK(push_n(&q, 1, 3) == 3);
	CHECK(lineq_ready(&q));
	s = drain(&q, 4096);
	CHECK_STR(s, "l1\nl2\nl3\n");
	free(s);
	CHECK(!lineq_ready(&q));
	lineq_release(&q);
}

static void test_overflow_lines(void)
{
	struct lineq q;
	char *s;

	lineq_init(&q, 4, 100000);
	CHECK(push_n(&q, 1, 10) == 4);      /* l1..l4 kept, 6 missed */
	CHECK(q.missed == 6);
	s = drain(&q, 4096);
	CHECK_STR(s, "l1\nl2\nl3\nl4\n{\"type\":\"overflow\",\"missed\":6}\n");
	free(s);
	CHECK(!lineq_ready(&q));
	lineq_release(&q);
}

/* Lines kept after a drop come after the overflow line. */
static void test_overflow_place(void)
{
	struct lineq q;
	struct buf b = BUF_INIT(0);
	char *s;

	lineq_init(&q, 3, 100000);
	CHECK(push_n(&q, 1, 5) == 3);       /* l4, l5 missed */
	CHECK(lineq_pop(&q, 3, &b) == 3);   /* l1 read: one place free */
	CHECK(push_n(&q, 6, 1) == 0);       /* no room for overflow + l6 */
	CHECK(q.missed == 3);
	CHECK(lineq_pop(&q, 3, &b) == 3);   /* l2: two places */
	CHECK(push_n(&q, 7, 1) == 1);       /* overflow(3) then l7 */
	CHECK(q.missed == 0);
	CHECK(push_n(&q, 8, 1) == 0);
	s = drain(&q, 4096);
	CHECK_STR(s, "l3\n{\"type\":\"overflow\",\"missed\":3}\nl7\n"
		  "{\"type\":\"overflow\",\"missed\":1}\n");
	free(s);
	buf_release(&b);
	lineq_release(&q);
}

static void test_bytes_bound(void)
{
	struct lineq q;
	char big[200];
	char *s;

	lineq_init(&q, 100, 10);
	CHECK(push_n(&q, 1, 3) == 3);       /* 9 bytes */
	CHECK(push_n(&q, 4, 1) == 0);       /* a 10th byte and 2 more: no */
	memset(big, 'x', sizeof(big));
	CHECK(lineq_push(&q, big, sizeof(big)) == 0);   /* never fits */
	CHECK(q.missed == 2);
	s = drain(&q, 4096);
	CHECK_STR(s, "l1\nl2\nl3\n{\"type\":\"overflow\",\"missed\":2}\n");
	free(s);
	lineq_release(&q);
}

/* Reads shorter than a line get it in parts, and whole lines otherwise. */
static void test_short_reads(void)
{
	struct lineq q;
	struct buf b = BUF_INIT(0);
	char *s;

	lineq_init(&q, 10, 1000);
	lineq_push(&q, "abcdef\n", 7);
	lineq_push(&q, "gh\n", 3);
	CHECK(lineq_pop(&q, 4, &b) == 4);   /* "abcd" */
	CHECK(lineq_pop(&q, 5, &b) == 3);   /* "ef\n": not "gh" cut */
	CHECK(lineq_pop(&q, 1, &b) == 1);
	buf_append(&b, "", 0);
	CHECK_STR(b.p, "abcdef\ng");
	s = drain(&q, 1);
	CHECK_STR(s, "h\n");
	free(s);
	/* an overflow line owed reaches even a reader of one byte at a time */
	lineq_init(&q, 1, 1000);
	push_n(&q, 1, 3);
	s = drain(&q, 1);
	CHECK_STR(s, "l1\n{\"type\":\"overflow\",\"missed\":2}\n");
	free(s);
	buf_release(&b);
	lineq_release(&q);
}

static void test_release(void)
{
	struct lineq q;

	lineq_init(&q, 1000, 100000);
	push_n(&q, 1, 500);
	push_n(&q, 1, 600);
	lineq_release(&q);
	CHECK(!lineq_ready(&q));
	CHECK(q.n == 0 && q.bytes == 0);
	CHECK(push_n(&q, 1, 1) == 1);
	lineq_release(&q);
}

int main(void)
{
	test_order();
	test_overflow_lines();
	test_overflow_place();
	test_bytes_bound();
	test_short_reads();
	test_release();
	return TEST_REPORT();
}
