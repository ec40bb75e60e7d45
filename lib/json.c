/*
 * json.c - shared checks on cJSON values. See json.h.
 */
#include "json.h"

#include <stdio.h>

#include "err.h"

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
