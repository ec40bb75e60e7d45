/*
 * table.h - text tables in aligned columns, as `column -t` would print
 * them: cells are added row by row, each column is as wide as its widest
 * cell, separated by two spaces. The first `left` columns are aligned
 * left (names), the others right (numbers). Cells are cut at
 * TABLE_CELL_MAX bytes and control bytes in them become '?', so one row
 * stays one line.
 */
#ifndef TFS_TABLE_H
#define TFS_TABLE_H

#include <stddef.h>

#include "buf.h"

#define TABLE_CELL_MAX 64

struct table {
	int ncols;
	int left;
	size_t ncells, cap;
	char **cells;               /* row-major */
};

/* An empty table of ncols columns (1..256), the first left of them left. */
void table_init(struct table *t, int ncols, int left);
/* Adds the next cell (rows fill left to right, then the next row). */
void table_add(struct table *t, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Appends the table to out: every full row, one line each. */
int table_format(const struct table *t, struct buf *out);
void table_release(struct table *t);

#endif
