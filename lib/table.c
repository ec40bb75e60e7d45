/*
 * table.c - text tables in aligned columns (table.h).
 */
#include "table.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

void table_init(struct table *t, int ncols, int left)
{
	memset(t, 0, sizeof(*t));
	t->ncols = ncols < 1 ? 1 : ncols > 256 ? 256 : ncols;
	t->left = left;
}

void table_add(struct table *t, const char *fmt, ...)
{
	char cell[TABLE_CELL_MAX + 1];
	va_list ap;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(cell, sizeof(cell), fmt, ap);
	va_end(ap);
	for (i = 0; cell[i]; i++)
		if ((unsigned char)cell[i] < 0x20 || cell[i] == 0x7f)
			cell[i] = '?';
	ALLOC_GROW(t->cells, t->ncells, t->cap);
	t->cells[t->ncells++] = xstrdup(cell);
}

int table_format(const struct table *t, struct buf *out)
{
	size_t rows = t->ncells / (size_t)t->ncols, r;
	int *w = xcalloc((size_t)t->ncols, sizeof(*w)), col, ret = 0;

	for (r = 0; r < rows; r++)
		for (col = 0; col < t->ncols; col++) {
			int len = (int)strlen(t->cells[r * t->ncols + col]);

			if (len > w[col])
				w[col] = len;
		}
	for (r = 0; r < rows && !ret; r++)
		for (col = 0; col < t->ncols && !ret; col++) {
			const char *cell = t->cells[r * t->ncols + col];
			int last = col + 1 == t->ncols;

			/* no trailing blanks after a left-aligned last cell */
			if (last && col < t->left)
				ret = buf_printf(out, "%s\n", cell);
			else
				ret = buf_printf(out, col < t->left ? "%-*s%s" :
						 "%*s%s", w[col], cell,
						 last ? "\n" : "  ");
		}
	free(w);
	return ret;
}

void table_release(struct table *t)
{
	size_t i;

	for (i = 0; i < t->ncells; i++)
		free(t->cells[i]);
	free(t->cells);
	memset(t, 0, sizeof(*t));
}
