/*
 * metrics.h - recognising metrics in the lines a job writes (DESIGN.md
 * section 5): JSON lines appended to $TRAINFS_METRICS, log lines that are a
 * flat JSON object of numbers, and the Python dicts Hugging Face's Trainer
 * prints ({'loss': 0.69, 'learning_rate': 5e-05, 'epoch': 1.0}). Pure
 * functions: no I/O, no locks, no allocation.
 */
#ifndef TFS_METRICS_H
#define TFS_METRICS_H

#include <stddef.h>

#define METRIC_KEY_MAX 64        /* including the NUL; longer keys skipped */
#define METRIC_LINE_MAX_KV 64    /* more pairs in one line: the rest skipped */
#define METRIC_LINE_MAX 65536    /* longer lines are not metrics */

struct metric_kv {
	char key[METRIC_KEY_MAX];
	double value;
};

struct metric_line {
	int nkv;
	struct metric_kv kv[METRIC_LINE_MAX_KV];
	int has_step;      /* step came from "step", "global_step" or "epoch" */
	double step;
	int has_time;      /* "time" or "timestamp" (seconds since epoch) */
	double time;
};

/*
 * Parses one line (len bytes, no newline needed, not NUL-terminated) as a
 * metrics line. Returns 1 and fills out when the line is:
 *  - a record {"step":3,"time":...,"key":"loss","value":0.5}
 *    (the metrics.jsonl form; "step" and "time" optional), or
 *  - a flat JSON object whose values are all numbers (or booleans, skipped),
 *    at least one of which is not step/global_step/epoch/time, or
 *  - the same as a Python dict literal: single-quoted keys, values like
 *    0.69, 5e-05, -1, nan, inf, True/False (skipped).
 * Leading/trailing whitespace is ignored; a log prefix is not (the object
 * must be the whole line), except text before a \r, which a terminal would
 * have overwritten (tqdm progress bars captured in the same log).
 * "step"/"global_step"/"epoch" set the step in that order of preference and
 * are not reported as kv pairs, except "epoch", which is also reported as a
 * metric when "step" or "global_step" exists.
 * Keys must be 1..63 bytes of [A-Za-z0-9_./-]; others are skipped. NaN and
 * infinities are skipped. Returns 0 otherwise (out undefined).
 */
int metrics_parse_line(const char *line, size_t len, struct metric_line *out);

/*
 * Formats a double the way metrics are shown: shortest round-trip text
 * ("0.42", "5e-05", "3"). out must hold 32 bytes.
 */
void metrics_format_value(double v, char out[32]);

#endif
