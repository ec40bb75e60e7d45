/*
 * secret.c - secrets left out of what is shown. See secret.h.
 */
#include "secret.h"

#include <stdio.h>
#include <string.h>

void secret_url_shown(const char *url, char *out, size_t len)
{
	const char *host = url, *p = strstr(url, "://"), *end;
	size_t pre = 0;

	if (p) {
		pre = (size_t)(p + 3 - url);
		host = p + 3;
		end = host + strcspn(host, "@/?#");
		if (*end == '@')
			host = end + 1;
	}
	end = host + strcspn(host, "?#");
	snprintf(out, len, "%.*s%.*s%s", (int)pre, url,
		 (int)(end - host > SECRET_URL_SHOWN_MAX ? SECRET_URL_SHOWN_MAX :
		       end - host), host, *end ? "?..." : "");
}
