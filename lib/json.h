/*
 * json.h - the checks on cJSON values that configs, the daemon config and
 * connectors' files share, with the reason a user reads when one fails.
 */
#ifndef TFS_JSON_H
#define TFS_JSON_H

#include <stddef.h>

#include <cjson/cJSON.h>

/*
 * Reads it, a member of an object, as an integer from lo to hi into *out
 * (untouched on error). Returns TFS_OK, or TFS_EINVAL when it is NULL, not
 * a number, not integral or outside, with err (may be NULL) set to
 * "'<prefix><key>' must be an integer from <lo> to <hi>"; prefix names the
 * object the key is in, as the user wrote it ("" or "resources.").
 */
int json_int_range(const cJSON *it, const char *prefix, long long lo,
		   long long hi, long long *out, char *err, size_t errlen);

/*
 * Reads it as a non-empty string of one line, at most max bytes, into
 * *out (a copy; the old value freed). Returns 0, or -1 with err set to
 * "'<key>' must be a string of one line, at most <max> bytes".
 */
int json_str_line(const cJSON *it, size_t max, char **out, char *err,
		  size_t errlen);

#endif
