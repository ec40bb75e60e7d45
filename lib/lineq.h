/*
 * lineq.h - a bounded FIFO of text lines for one reader of a live feed
 * (MOUNT/stream). The writer never waits: past the bound a line is counted
 * as missed instead of kept, and the reader is told how many it missed by
 * one line of its own, {"type":"overflow","missed":N}, in the place of the
 * lines it stands for. No lock inside: the owner's lock protects it.
 */
#ifndef TFS_LINEQ_H
#define TFS_LINEQ_H

#include <stddef.h>
#include <stdint.h>

#include "buf.h"

struct lineq_item;

struct lineq {
	struct lineq_item *head, *tail;
	size_t n, bytes;            /* lines and bytes queued */
	size_t max_lines, max_bytes;
	size_t off;                 /* bytes of head already read */
	uint64_t missed;            /* dropped since the last overflow line */
};

/* An empty queue that keeps at most max_lines lines of max_bytes bytes in
 * all (each at least 1). */
void lineq_init(struct lineq *q, size_t max_lines, size_t max_bytes);
/*
 * Queues a copy of len bytes (one line, its newline included): 1 when kept,
 * 0 when it was counted as missed (no room for it, and for the overflow
 * line before it when one is owed).
 */
int lineq_push(struct lineq *q, const char *line, size_t len);
/* Whether a pop would give something: a line, or an overflow line owed. */
int lineq_ready(const struct lineq *q);
/*
 * Appends to out whole lines, oldest first, up to size bytes in all (the
 * start of the first when it alone is longer: the rest comes next time),
 * then the overflow line owed when the queue has emptied. Returns the bytes
 * appended (0: nothing queued, or out is full).
 */
size_t lineq_pop(struct lineq *q, size_t size, struct buf *out);
/* Frees what is queued; the queue is empty afterwards. */
void lineq_release(struct lineq *q);

#endif
