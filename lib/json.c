/*
 * json.c - shared checks on cJSON values. See json.h.
 */
#include "json.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "util.h"

int json_int_range(const cJSON *it, const char *prefix, long long lo,
		   long long hi, long long *out, char *err, size_t errlen)
{
	double v = cJSON_IsNumber(it) ? it->valuedouble : -1.0;

	/* Range first: the cast to long long is only defined inside it. */
	if (cJSON_IsNumber(it) && v >= (double)lo && v <= (double)hi &&
	    v == (double)(long long)v) {
		*out = (long long)v;
		return TFS_OK;
	}
	if (err && errlen)
		snprintf(err, errlen, "'%s%s' must be an integer from %lld to %lld",
			 prefix, it && it->string ? it->string : "", lo, hi);
	return TFS_EINVAL;
}

int json_str_line(const cJSON *it, size_t max, char **out, char *err,
		  size_t errlen)
{
	if (!cJSON_IsString(it) || !it->valuestring[0] ||
	    strlen(it->valuestring) > max ||
	    it->valuestring[strcspn(it->valuestring, "\r\n")]) {
		snprintf(err, errlen, "'%s' must be a string of one line, at "
			 "most %zu bytes", it->string, max);
		return -1;
	}
	free(*out);
	*out = xstrdup(it->valuestring);
	return 0;
}
