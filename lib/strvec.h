/*
 * strvec.h - NULL-terminated vectors of strings (argv, envp, lists read
 * from a config), each string and the vector on the heap.
 */
#ifndef TFS_STRVEC_H
#define TFS_STRVEC_H

/* A copy of v and of each of its strings (caller frees with strv_free());
 * NULL for NULL. Aborts on out of memory, as xmalloc. */
char **strv_dup(char *const *v);

/* Frees each string of v, then v; v may be NULL. */
void strv_free(char **v);

#endif
