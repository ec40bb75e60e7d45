/*
 * secret.h - how a string that may carry a secret is shown in a reason, an
 * event or a log: events and logs never hold a secret (DESIGN.md 2).
 */
#ifndef TFS_SECRET_H
#define TFS_SECRET_H

#include <stddef.h>

/* The longest host-and-path secret_url_shown() keeps; a buffer of
 * SECRET_URL_SHOWN_MAX + 64 holds any URL it shows whole. */
#define SECRET_URL_SHOWN_MAX 256

/*
 * Writes url into out (len bytes, always terminated) as it may be shown:
 * without user:password@, since a URL may carry it, and without its query
 * and fragment, since presigned object-store URLs and webhooks carry their
 * credentials there ("?..." says something was cut). The host and path are
 * cut at SECRET_URL_SHOWN_MAX bytes.
 */
void secret_url_shown(const char *url, char *out, size_t len);

#define SECRET_MAX 16384             /* bytes of one secret */

/*
 * Where a secret comes from: an environment variable, read once, or a
 * file, read again whenever it changes (a token renewed by cron while the
 * daemon runs). A file readable or writable by group or others is refused
 * as ssh refuses a loose private key; so is a file that is not regular.
 * The value is the file's text without trailing white space.
 */
struct secret_src {
	char *env;                   /* the variable's name, or NULL */
	char *file;                  /* the file's path, or NULL */
	char *value;                 /* the current value, or NULL */
	unsigned long long dev, ino; /* the file as last read */
	long long size, mtime_ns, ctime_ns;
	int changed;                 /* set by secret_get() when the value
					differs from the one before */
};

/*
 * Sets s up for exactly one of env and file (the other NULL), copying the
 * names, and reads the secret once. Returns TFS_OK, or TFS_EINVAL with the
 * reason in err (never the value): both or neither given, the variable
 * unset or empty, the file missing, loose, not regular, empty or over
 * SECRET_MAX bytes. s is released on failure.
 */
int secret_src_init(struct secret_src *s, const char *env, const char *file,
		    char *err, size_t errlen);

/*
 * The current value: the file is looked at again (one stat; read when it
 * changed). Returns the value, owned by s until the next call, or NULL
 * with err set when the file has become unusable (the old value is then
 * forgotten: a secret its owner took away is not used).
 */
const char *secret_get(struct secret_src *s, char *err, size_t errlen);

/* Frees what s holds; s may be all zero. */
void secret_src_release(struct secret_src *s);

#endif
