/*
 * lineq.c - the bounded line queue of a live-feed reader (see lineq.h).
 *
 * Lines are dropped from the tail, never the head: what a slow reader was
 * promised stays in order, and the overflow line goes where the dropped
 * lines would have been, before the first line kept after them. It is
 * queued then as an item of its own, so it takes a place within the bound;
 * when nothing is kept after the drop, the pop that empties the queue
 * queues it, so a reader learns of the loss without waiting for news.
 */
#include "lineq.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct lineq_item {
	struct lineq_item *next;
	size_t len;
	char text[];
};

#define OVERFLOW_LINE_MAX 64

void lineq_init(struct lineq *q, size_t max_lines, size_t max_bytes)
{
	memset(q, 0, sizeof(*q));
	q->max_lines = max_lines ? max_lines : 1;
	q->max_bytes = max_bytes ? max_bytes : 1;
}

static size_t overflow_line(uint64_t missed, char out[OVERFLOW_LINE_MAX])
{
	return (size_t)snprintf(out, OVERFLOW_LINE_MAX,
				"{\"type\":\"overflow\",\"missed\":%llu}\n",
				(unsigned long long)missed);
}

/* Adds an item; the caller checked the bound. 0, or -1 out of memory. */
static int lineq_add(struct lineq *q, const char *text, size_t len)
{
	struct lineq_item *it = malloc(sizeof(*it) + len);

	if (!it)
		return -1;
	it->next = NULL;
	it->len = len;
	memcpy(it->text, text, len);
	if (q->tail)
		q->tail->next = it;
	else
		q->head = it;
	q->tail = it;
	q->n++;
	q->bytes += len;
	return 0;
}

int lineq_push(struct lineq *q, const char *line, size_t len)
{
	char ov[OVERFLOW_LINE_MAX];
	size_t ovlen = q->missed ? overflow_line(q->missed, ov) : 0;
	size_t lines = q->missed ? 2 : 1;

	if (q->n + lines > q->max_lines || len + ovlen > q->max_bytes ||
	    q->bytes > q->max_bytes - len - ovlen)
		goto missed;
	if (ovlen && lineq_add(q, ov, ovlen))
		goto missed;
	if (ovlen)
		q->missed = 0;
	if (lineq_add(q, line, len))
		goto missed;
	return 1;
missed:
	q->missed++;
	return 0;
}

int lineq_ready(const struct lineq *q)
{
	return q->head != NULL || q->missed != 0;
}

size_t lineq_pop(struct lineq *q, size_t size, struct buf *out)
{
	size_t done = 0;

	for (;;) {
		struct lineq_item *it;
		size_t left;

		if (!q->head && q->missed) {
			char ov[OVERFLOW_LINE_MAX];

			/* owed now: it may exceed the bound by this one line */
			if (lineq_add(q, ov, overflow_line(q->missed, ov)))
				break;
			q->missed = 0;
		}
		it = q->head;
		if (!it || done >= size)
			break;
		left = it->len - q->off;
		if (left > size - done) {
			/* only the start of a first line goes out alone */
			if (done)
				break;
			left = size - done;
		}
		if (buf_append(out, it->text + q->off, left))
			break;
		done += left;
		q->off += left;
		if (q->off < it->len)
			break;
		q->off = 0;
		q->head = it->next;
		if (!q->head)
			q->tail = NULL;
		q->n--;
		q->bytes -= it->len;
		free(it);
	}
	return done;
}

void lineq_release(struct lineq *q)
{
	while (q->head) {
		struct lineq_item *it = q->head;

		q->head = it->next;
		free(it);
	}
	q->tail = NULL;
	q->n = q->bytes = q->off = 0;
	q->missed = 0;
}
