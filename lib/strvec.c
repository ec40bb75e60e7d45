/*
 * strvec.c - NULL-terminated string vectors. See strvec.h.
 */
#include "strvec.h"

#include <stdlib.h>

#include "util.h"

char **strv_dup(char *const *v)
{
	char **copy;
	size_t n = 0, i;

	if (!v)
		return NULL;
	while (v[n])
		n++;
	copy = xcalloc(n + 1, sizeof(*copy));
	for (i = 0; i < n; i++)
		copy[i] = xstrdup(v[i]);
	return copy;
}

void strv_free(char **v)
{
	size_t i;

	for (i = 0; v && v[i]; i++)
		free(v[i]);
	free(v);
}
