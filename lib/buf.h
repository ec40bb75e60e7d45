/*
 * buf.h - a growable byte buffer with a hard maximum, so that input read
 * from a file, a job or the network is bounded before it is allocated.
 */
#ifndef TFS_BUF_H
#define TFS_BUF_H

#include <stdarg.h>
#include <stddef.h>

/*
 * A growable byte buffer with a hard maximum (curl's dynbuf). p is always
 * NUL-terminated when non-NULL. BUF_INIT(max) gives an empty buffer; a max of
 * 0 means "no bound" and is only for internal text we build ourselves.
 */
struct buf {
	char *p;
	size_t len;
	size_t cap;
	size_t max;
};
#define BUF_INIT(m) { NULL, 0, 0, (m) }

/* Each returns TFS_OK, TFS_EFBIG past max (buffer unchanged) or TFS_ENOMEM. */
int buf_append(struct buf *b, const void *data, size_t len);
int buf_puts(struct buf *b, const char *s);
int buf_printf(struct buf *b, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
int buf_vprintf(struct buf *b, const char *fmt, va_list ap);
/* Empties the buffer, keeping its memory. */
void buf_reset(struct buf *b);
/* Frees the memory; the buffer is empty and reusable afterwards. */
void buf_release(struct buf *b);
/* Hands the caller the string (caller frees; never NULL unless OOM). */
char *buf_detach(struct buf *b, size_t *len);

#endif
