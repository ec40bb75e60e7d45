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

#endif
