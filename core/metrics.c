/*
 * metrics.c - recognises the lines of a job's output that carry metrics
 * (DESIGN.md section 5). It runs on every log line of every job, so it is a
 * hand-written scanner over the bytes: no allocation, no copy of the line,
 * one pass (a second only for a line holding a \r), and an early "no" for
 * the common case of a line that is plain text. The grammar is a flat object only, { key : scalar , ... }, so the
 * descent never recurses and its depth is fixed.
 */
#include "metrics.h"

#include <assert.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Longest number token handed to strtod, NUL excluded. */
#define METRICS_NUM_MAX 64

/* What a member's value turned out to be. */
enum metrics_vkind {
	METRICS_V_NUM,   /* a finite number, in the scalar's num */
	METRICS_V_SKIP,  /* boolean, null, NaN, infinity: valid but not reported */
	METRICS_V_STR,   /* a string, decoded into the scalar's str */
};

struct metrics_scalar {
	enum metrics_vkind kind;
	double num;
	char str[METRIC_KEY_MAX];
	int str_ok;                /* str is a valid key (see metrics_key_char) */
};

/* The bytes still to scan: [p, end). */
struct metrics_scan {
	const char *p;
	const char *end;
};

/*
 * Everything a line may say besides plain metrics. The step and time keys
 * can come in any order, so the choice between them waits for the end.
 */
struct metrics_acc {
	struct metric_line *out;
	int has_step, has_gstep, has_epoch, has_time, has_timestamp;
	double step, gstep, epoch, time, timestamp;
	int epoch_at;              /* kv index epoch had when it was seen */
	int has_rec_key;           /* "key": "<name>" seen: the record form */
	int rec_key_ok;
	char rec_key[METRIC_KEY_MAX];
	int has_rec_value;
	double rec_value;
};

static int metrics_is_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/*
 * The key alphabet is what a file name in the mount and a column in a CSV
 * can carry without quoting; anything else is skipped, not escaped.
 */
static int metrics_key_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '/' ||
	       c == '-';
}

static int metrics_hex(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

static void metrics_skip_ws(struct metrics_scan *s)
{
	while (s->p < s->end && metrics_is_ws(*s->p))
		s->p++;
}

/*
 * Reads n hex digits at s->p into *cp. Returns 1 and advances, or 0 and
 * leaves s->p alone when there are fewer than n.
 */
static int metrics_hex_n(struct metrics_scan *s, int n, unsigned *cp)
{
	unsigned v = 0;
	int i, d;

	if (s->end - s->p < n)
		return 0;
	for (i = 0; i < n; i++) {
		d = metrics_hex((unsigned char)s->p[i]);
		if (d < 0)
			return 0;
		v = v << 4 | (unsigned)d;
	}
	s->p += n;
	*cp = v;
	return 1;
}

/*
 * Scans a string that opens at s->p with ' or " (JSON or Python repr) and
 * decodes it into dst[METRIC_KEY_MAX]. *ok is 1 when the decoded text is a
 * valid key: 1..63 bytes of the key alphabet. Escapes that can only decode
 * to characters outside that alphabet (\" \\ \n ...) just clear *ok, so the
 * scanner never has to be strict about an escape to stay in step with the
 * quotes: a backslash always consumes the byte after it. \u and \x decode
 * ASCII only, since no key we keep can hold anything else. Returns 1 with
 * s->p past the closing quote, 0 when the string is unterminated.
 */
static int metrics_scan_string(struct metrics_scan *s, char *dst, int *ok)
{
	char quote = *s->p++;
	size_t n = 0;
	unsigned cp;
	char c;

	*ok = 1;
	for (;;) {
		if (s->p >= s->end)
			return 0;
		c = *s->p++;
		if (c == quote)
			break;
		if (c == '\\') {
			if (s->p >= s->end)
				return 0;
			c = *s->p++;
			if (c == 'u' && metrics_hex_n(s, 4, &cp) && cp < 0x80)
				c = (char)cp;
			else if (c == 'x' && quote == '\'' &&
				 metrics_hex_n(s, 2, &cp) && cp < 0x80)
				c = (char)cp;
			else if (c != '/')
				*ok = 0;
		}
		if (!metrics_key_char((unsigned char)c))
			*ok = 0;
		if (n < METRIC_KEY_MAX - 1)
			dst[n] = c;
		n++;
	}
	if (n == 0 || n > METRIC_KEY_MAX - 1)
		*ok = 0;
	dst[n < METRIC_KEY_MAX - 1 ? n : METRIC_KEY_MAX - 1] = '\0';
	return 1;
}

/*
 * JSON's number grammar with leading zeros allowed (harmless, and some
 * printers emit them): -?D+(.D+)?([eE][+-]?D+)?. Checked before strtod,
 * which would also take hex floats, "infinity", "nan(...)" and spaces.
 */
static int metrics_number_ok(const char *t, size_t n)
{
	size_t i = 0, d;

	if (i < n && t[i] == '-')
		i++;
	for (d = i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
		;
	if (i == d)
		return 0;
	if (i < n && t[i] == '.') {
		for (d = ++i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	if (i < n && (t[i] == 'e' || t[i] == 'E')) {
		i++;
		if (i < n && (t[i] == '+' || t[i] == '-'))
			i++;
		for (d = i; i < n && t[i] >= '0' && t[i] <= '9'; i++)
			;
		if (i == d)
			return 0;
	}
	return i == n;
}

static int metrics_word_eq(const char *t, size_t n, const char *word)
{
	return strlen(word) == n && memcmp(t, word, n) == 0;
}

static int metrics_word_caseeq(const char *t, size_t n, const char *word)
{
	size_t i;

	if (strlen(word) != n)
		return 0;
	for (i = 0; i < n; i++) {
		char c = t[i];

		if (c >= 'A' && c <= 'Z')
			c = (char)(c - 'A' + 'a');
		if (c != word[i])
			return 0;
	}
	return 1;
}

/*
 * NaN and the infinities as Python's repr (nan, inf, -inf) and its json
 * module (NaN, Infinity, -Infinity) write them; any case, since they are
 * only recognised to be skipped.
 */
static int metrics_nonfinite_word(const char *t, size_t n)
{
	if (n > 0 && (t[0] == '-' || t[0] == '+')) {
		t++;
		n--;
	}
	return metrics_word_caseeq(t, n, "nan") ||
	       metrics_word_caseeq(t, n, "inf") ||
	       metrics_word_caseeq(t, n, "infinity");
}

static int metrics_token_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	       (c >= '0' && c <= '9') || c == '.' || c == '+' || c == '-';
}

/*
 * Scans one member's value at s->p into v. Returns 1, or 0 when the value
 * makes the line not a metrics line: an object, an array, an unterminated
 * string or a bare word that is no number or constant (a log prefix, a
 * Python call such as tensor(0.5)).
 */
static int metrics_scan_value(struct metrics_scan *s, struct metrics_scalar *v)
{
	char num[METRICS_NUM_MAX + 1];
	const char *t = s->p;
	size_t n;
	char *endp;

	if (s->p >= s->end)
		return 0;
	if (*s->p == '"' || *s->p == '\'') {
		v->kind = METRICS_V_STR;
		return metrics_scan_string(s, v->str, &v->str_ok);
	}
	while (s->p < s->end && metrics_token_char(*s->p))
		s->p++;
	n = (size_t)(s->p - t);
	if (n == 0)
		return 0;
	if (metrics_word_eq(t, n, "true") || metrics_word_eq(t, n, "false") ||
	    metrics_word_eq(t, n, "True") || metrics_word_eq(t, n, "False") ||
	    metrics_word_eq(t, n, "null") || metrics_word_eq(t, n, "None") ||
	    metrics_nonfinite_word(t, n)) {
		v->kind = METRICS_V_SKIP;
		return 1;
	}
	if (!metrics_number_ok(t, n))
		return 0;
	/*
	 * A valid number longer than the copy is no metric anyone prints
	 * (a double needs 17 significant digits); skip it rather than lose
	 * the rest of the line.
	 */
	if (n > METRICS_NUM_MAX) {
		v->kind = METRICS_V_SKIP;
		return 1;
	}
	memcpy(num, t, n);
	num[n] = '\0';
	v->num = strtod(num, &endp);
	/* Overflow gives HUGE_VAL, which is skipped as an infinity. */
	if (endp != num + n || !isfinite(v->num))
		v->kind = METRICS_V_SKIP;
	else
		v->kind = METRICS_V_NUM;
	return 1;
}

/*
 * Adds or, for a key seen before in the line, replaces a pair: the last
 * value wins, as in a JSON object and a Python dict. Past the bound the
 * pair is dropped.
 */
static void metrics_put(struct metric_line *out, const char *key, double val)
{
	int i;

	for (i = 0; i < out->nkv; i++) {
		if (strcmp(out->kv[i].key, key) == 0) {
			out->kv[i].value = val;
			return;
		}
	}
	if (out->nkv >= METRIC_LINE_MAX_KV)
		return;
	/* key was validated as at most METRIC_KEY_MAX - 1 bytes. */
	strcpy(out->kv[out->nkv].key, key);
	out->kv[out->nkv].value = val;
	out->nkv++;
}

/*
 * Files one member. Returns 1, or 0 when its value rules the line out: a
 * string anywhere but under "key". Hugging Face never prints a string in a
 * metrics dict, so a string means the object is something else (a config,
 * an event) and reporting its numbers would be a false positive.
 */
static int metrics_member(struct metrics_acc *a, const char *name, int name_ok,
			  const struct metrics_scalar *v)
{
	int num = v->kind == METRICS_V_NUM;

	if (v->kind == METRICS_V_STR) {
		if (!name_ok || strcmp(name, "key") != 0)
			return 0;
		a->has_rec_key = 1;
		a->rec_key_ok = v->str_ok;
		memcpy(a->rec_key, v->str, sizeof(a->rec_key));
		return 1;
	}
	if (!name_ok || !num)
		return 1;
	if (strcmp(name, "step") == 0) {
		a->has_step = 1;
		a->step = v->num;
	} else if (strcmp(name, "global_step") == 0) {
		a->has_gstep = 1;
		a->gstep = v->num;
	} else if (strcmp(name, "epoch") == 0) {
		if (!a->has_epoch)
			a->epoch_at = a->out->nkv;
		a->has_epoch = 1;
		a->epoch = v->num;
	} else if (strcmp(name, "time") == 0) {
		a->has_time = 1;
		a->time = v->num;
	} else if (strcmp(name, "timestamp") == 0) {
		a->has_timestamp = 1;
		a->timestamp = v->num;
	} else {
		/* "value" is also a plain metric until a "key" says otherwise. */
		if (strcmp(name, "value") == 0) {
			a->has_rec_value = 1;
			a->rec_value = v->num;
		}
		metrics_put(a->out, name, v->num);
	}
	return 1;
}

/*
 * Puts "epoch" back where it stood among the pairs, so that the first
 * METRIC_LINE_MAX_KV reportable pairs are the ones kept, in line order.
 */
static void metrics_insert_epoch(struct metric_line *out, int at, double val)
{
	int n = out->nkv;

	if (at > n)
		at = n;
	if (at >= METRIC_LINE_MAX_KV)
		return;
	if (n == METRIC_LINE_MAX_KV)
		n--;
	memmove(&out->kv[at + 1], &out->kv[at],
		(size_t)(n - at) * sizeof(out->kv[0]));
	strcpy(out->kv[at].key, "epoch");
	out->kv[at].value = val;
	out->nkv = n + 1;
}

/* Turns what the members said into out; returns 1 if anything is left. */
static int metrics_finish(struct metrics_acc *a)
{
	struct metric_line *out = a->out;

	if (a->has_rec_key) {
		/* A record carries exactly one metric; other numbers are context. */
		out->nkv = 0;
		if (!a->rec_key_ok || !a->has_rec_value)
			return 0;
		metrics_put(out, a->rec_key, a->rec_value);
	} else if (a->has_epoch && (a->has_step || a->has_gstep) &&
		   out->nkv > 0) {
		/* Not alone, though: step and epoch by themselves say nothing. */
		metrics_insert_epoch(out, a->epoch_at, a->epoch);
	}
	if (a->has_step) {
		out->has_step = 1;
		out->step = a->step;
	} else if (a->has_gstep) {
		out->has_step = 1;
		out->step = a->gstep;
	} else if (a->has_epoch) {
		out->has_step = 1;
		out->step = a->epoch;
	}
	if (a->has_time) {
		out->has_time = 1;
		out->time = a->time;
	} else if (a->has_timestamp) {
		out->has_time = 1;
		out->time = a->timestamp;
	}
	return out->nkv > 0;
}

/* The object itself: s->p at '{', s->end at the byte after its '}'. */
static int metrics_scan_object(struct metrics_scan *s, struct metrics_acc *a)
{
	struct metrics_scalar v;
	char name[METRIC_KEY_MAX];
	int name_ok;

	s->p++;
	metrics_skip_ws(s);
	if (s->p < s->end && *s->p == '}')
		return s->p + 1 == s->end ? metrics_finish(a) : 0;
	for (;;) {
		if (s->p >= s->end || (*s->p != '"' && *s->p != '\''))
			return 0;
		if (!metrics_scan_string(s, name, &name_ok))
			return 0;
		metrics_skip_ws(s);
		if (s->p >= s->end || *s->p != ':')
			return 0;
		s->p++;
		metrics_skip_ws(s);
		if (!metrics_scan_value(s, &v))
			return 0;
		if (!metrics_member(a, name, name_ok, &v))
			return 0;
		metrics_skip_ws(s);
		if (s->p >= s->end)
			return 0;
		if (*s->p == '}') {
			/* The caller trimmed the line to end at a '}'. */
			return s->p + 1 == s->end ? metrics_finish(a) : 0;
		}
		if (*s->p != ',')
			return 0;
		s->p++;
		metrics_skip_ws(s);
	}
}

/* Parses [start, end), which ends in '}', after leading whitespace. */
static int metrics_parse_span(const char *start, const char *end,
			      struct metric_line *out)
{
	struct metrics_acc a;
	struct metrics_scan s;

	while (start < end && metrics_is_ws(*start))
		start++;
	if (start == end || *start != '{')
		return 0;
	memset(&a, 0, sizeof(a));
	a.out = out;
	out->nkv = 0;
	out->has_step = 0;
	out->step = 0;
	out->has_time = 0;
	out->time = 0;
	s.p = start;
	s.end = end;
	return metrics_scan_object(&s, &a);
}

int metrics_parse_line(const char *line, size_t len, struct metric_line *out)
{
	const char *end, *cr;

	assert(out);
	if (!line || len == 0 || len > METRIC_LINE_MAX)
		return 0;
	end = line + len;
	while (end > line && metrics_is_ws(end[-1]))
		end--;
	/* The cheap test that turns away almost every log line. */
	if (end == line || end[-1] != '}')
		return 0;
	if (metrics_parse_span(line, end, out))
		return 1;
	/*
	 * A log that captured a progress bar (tqdm, as Hugging Face uses)
	 * holds its redraws as \r-separated text before the dict that
	 * tqdm.write() printed; a terminal shows only what follows the last
	 * \r, and so do we. Only as a second try, since \r is also
	 * whitespace inside an object.
	 */
	for (cr = end; cr > line; cr--)
		if (cr[-1] == '\r')
			return metrics_parse_span(cr, end, out);
	return 0;
}

void metrics_format_value(double v, char out[32])
{
	static const char *const fmts[] = { "%.15g", "%.16g", "%.17g" };
	size_t i;

	/* printf spells these nan, inf and -inf, which is what we show. */
	if (!isfinite(v)) {
		snprintf(out, 32, "%g", v);
		return;
	}
	/*
	 * 17 significant digits always round-trip a double; fewer are tried
	 * first so that 0.1 shows as "0.1", not "0.10000000000000001".
	 */
	for (i = 0; i < sizeof(fmts) / sizeof(fmts[0]); i++) {
		snprintf(out, 32, fmts[i], v);
		if (strtod(out, NULL) == v)
			return;
	}
}
