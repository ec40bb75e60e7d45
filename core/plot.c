/*
 * plot.c - line charts, small multiples and comparison charts as SVG text
 * (see plot.h for the contract). A chart is built into a buffer of its
 * own, bounded by PLOT_SVG_MAX, and appended to the caller's at the end,
 * so that a chart too large leaves the caller's buffer as it was. The
 * writing functions share a sticky error (struct svg): the drawing code
 * reads as a drawing, and the first failure is the one returned.
 */
#include "plot.h"

#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

/* Okabe & Ito's palette, its yellow left out: too pale on white. */
static const char *const palette[] = {
	"#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9",
	"#000000",
};
#define NCOLOURS (sizeof(palette) / sizeof(palette[0]))
/* past the colours, the same again dashed, then dotted */
static const char *const dashes[] = { NULL, "7 4", "2 3" };

#define FONT "DejaVu Sans, Helvetica, Arial, sans-serif"
#define VALUE_MAX 1e300          /* beyond: not drawable, like NaN */
#define TICKS_MAX 32
#define LOG_SPAN 100.0           /* max/min past which y goes log */
#define MARKERS_UPTO 40          /* a series this short shows its points */
#define NAME_CHARS 28            /* a legend's or panel's name, at most */

static const char *colour(size_t i)
{
	return palette[i % NCOLOURS];
}

static const char *dash(size_t i)
{
	return dashes[(i / NCOLOURS) % (sizeof(dashes) / sizeof(dashes[0]))];
}

static int drawable(double v)
{
	return isfinite(v) && fabs(v) <= VALUE_MAX;
}

/* ---- writing, with a sticky error ---- */

struct svg {
	struct buf b;
	int err;
};

static void put(struct svg *s, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void put(struct svg *s, const char *fmt, ...)
{
	va_list ap;

	if (s->err)
		return;
	va_start(ap, fmt);
	s->err = buf_vprintf(&s->b, fmt, ap);
	va_end(ap);
}

static void put_raw(struct svg *s, const char *p, size_t len)
{
	if (!s->err)
		s->err = buf_append(&s->b, p, len);
}

/*
 * The length of the valid UTF-8 sequence at p (of at most len bytes) that
 * XML 1.0 may carry, or 0: overlong forms, surrogates, U+FFFE/U+FFFF and
 * the control characters but tab and newline are refused.
 */
static size_t utf8_ok(const unsigned char *p, size_t len)
{
	size_t n, i;

	if (p[0] < 0x80)
		return p[0] >= 0x20 || p[0] == '\t' || p[0] == '\n';
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		n = 2;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		n = 3;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		n = 4;
	else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++)
		if ((p[i] & 0xc0) != 0x80)
			return 0;
	if ((p[0] == 0xe0 && p[1] < 0xa0) || (p[0] == 0xed && p[1] >= 0xa0) ||
	    (p[0] == 0xf0 && p[1] < 0x90) || (p[0] == 0xf4 && p[1] >= 0x90))
		return 0;
	if (p[0] == 0xef && p[1] == 0xbf && p[2] >= 0xbe)
		return 0;
	return n;
}

/* What stands for an ASCII character in text and attributes alike. */
static const char *const entity[0x80] = {
	['&'] = "&amp;", ['<'] = "&lt;", ['>'] = "&gt;", ['"'] = "&quot;",
	['\''] = "&apos;", ['\n'] = " ", ['\t'] = " ",
};

/*
 * Text as XML character data or an attribute's value: escaped, what XML
 * cannot carry as '?', and cut to at most maxch characters (0: no cut),
 * an ellipsis marking the cut.
 */
static void put_text(struct svg *s, const char *text, size_t maxch)
{
	const unsigned char *p = (const unsigned char *)(text ? text : "");
	size_t len = strlen((const char *)p), i = 0, nch = 0, k;

	while (i < len) {
		if (maxch && nch == maxch - 1 && len - i > 1) {
			/* is more than this one character left? */
			k = utf8_ok(p + i, len - i);
			if (i + (k ? k : 1) < len) {
				put_raw(s, "\xe2\x80\xa6", 3);
				return;
			}
		}
		k = utf8_ok(p + i, len - i);
		if (!k) {
			put_raw(s, "?", 1);
			k = 1;
		} else if (p[i] < 0x80 && entity[p[i]]) {
			put_raw(s, entity[p[i]], strlen(entity[p[i]]));
		} else {
			put_raw(s, (const char *)p + i, k);
		}
		i += k;
		nch++;
	}
}

/* A <text> element: attrs go into its tag as they are. */
static void put_label(struct svg *s, double x, double y, const char *attrs,
		      const char *text, size_t maxch)
{
	put(s, "<text x=\"%.1f\" y=\"%.1f\"%s%s>", x, y, *attrs ? " " : "",
	    attrs);
	put_text(s, text, maxch);
	put(s, "</text>\n");
}

static void svg_begin(struct svg *s, int height)
{
	s->b = (struct buf)BUF_INIT(PLOT_SVG_MAX);
	s->err = TFS_OK;
	put(s, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
	    "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" "
	    "height=\"%d\" viewBox=\"0 0 %d %d\" font-family=\"" FONT "\" "
	    "font-size=\"12\">\n"
	    "<style>\n"
	    ".grid{stroke:#e6e6e6;stroke-width:1}\n"
	    ".axis{stroke:#888;stroke-width:1}\n"
	    ".tick{fill:#555;font-size:11px}\n"
	    ".series{fill:none;stroke-width:1.8;stroke-linejoin:round;"
	    "stroke-linecap:round}\n"
	    ".title{font-size:16px;font-weight:bold;fill:#222}\n"
	    ".head{font-size:13px;font-weight:bold;fill:#222}\n"
	    ".note{fill:#666}\n"
	    ".halo{paint-order:stroke;stroke:#fff;stroke-width:3px;"
	    "stroke-linejoin:round}\n"
	    "</style>\n"
	    "<rect width=\"100%%\" height=\"100%%\" fill=\"#fff\"/>\n",
	    PLOT_WIDTH, height, PLOT_WIDTH, height);
}

/* Closes the document and appends it to out; returns the first error. */
static int svg_end(struct svg *s, struct buf *out)
{
	int r;

	put(s, "</svg>\n");
	r = s->err ? s->err : buf_append(out, s->b.p, s->b.len);
	buf_release(&s->b);
	return r;
}

static void put_title(struct svg *s, const char *title)
{
	if (title && *title)
		put_label(s, 16, 26, "class=\"title\"", title, 90);
}

int plot_message_svg(struct buf *out, const char *title, const char *msg)
{
	struct svg s;

	svg_begin(&s, 200);
	put_title(&s, title);
	if (msg && *msg)
		put_label(&s, PLOT_WIDTH / 2.0, 110, "class=\"note\" "
			  "font-size=\"15\" text-anchor=\"middle\"", msg, 120);
	return svg_end(&s, out);
}

/* ---- numbers ---- */

/* "%.*g" with an exponent spelt short: 5e-05 -> 5e-5, 1e+06 -> 1e6. */
static void fmt_g(char out[32], int prec, double v)
{
	char *e, *d;

	snprintf(out, 32, "%.*g", prec, v);
	e = strchr(out, 'e');
	if (!e)
		return;
	d = e + 1;
	if (*d == '+')
		memmove(d, d + 1, strlen(d));
	else if (*d == '-')
		d++;
	while (d[0] == '0' && d[1])
		memmove(d, d + 1, strlen(d));
}

/*
 * A value beside a name, to prec significant digits: 0.0386, 45.18k,
 * 1.2e-5.
 */
static void fmt_value(char out[32], int prec, double v)
{
	static const char suffix[] = "kMGT";
	double u = 1e3;
	int i = 0;

	if (fabs(v) < 1e4 || fabs(v) >= 1e15) {
		fmt_g(out, prec, v);
		return;
	}
	while (fabs(v) >= u * 1e3) {
		u *= 1e3;
		i++;
	}
	fmt_g(out, prec, v / u);
	snprintf(out + strlen(out), 32 - strlen(out), "%c", suffix[i]);
}

/* Drops the zeros ending a fraction: "2.50" -> "2.5", "3.00" -> "3". */
static void trim_zeros(char *s)
{
	char *dot = strchr(s, '.'), *end;

	if (!dot)
		return;
	end = s + strlen(s);
	while (end > dot + 1 && end[-1] == '0')
		end--;
	if (end == dot + 1)
		end = dot;
	*end = '\0';
}

/* ---- axes ---- */

struct axis {
	double lo, hi;          /* the domain, log10 of it on a log axis */
	int log;
	double step;            /* between ticks (linear) */
	int si;                 /* labels with k, M, G, T */
	int nt;
	double t[TICKS_MAX];    /* the ticks, in data units */
};

/* 1, 2 or 5 times a power of ten, the nearest above raw. */
static double nice_step(double raw)
{
	double mag = pow(10, floor(log10(raw))), f = raw / mag;

	if (f <= 1.0 + 1e-9)
		return mag;
	if (f <= 2.0 + 1e-9)
		return 2 * mag;
	if (f <= 5.0 + 1e-9)
		return 5 * mag;
	return 10 * mag;
}

/* The nice step below a nice step: 5 -> 2 -> 1 -> 0.5. */
static double finer_step(double step)
{
	double mag = pow(10, floor(log10(step) + 1e-9));
	double f = step / mag;

	return f < 1.5 ? mag / 2 : f < 3 ? mag : 2 * mag;
}

enum { AX_LOG_OK = 1, AX_INTEGER = 2, AX_TIGHT = 4, AX_PAD = 8 };

/*
 * Fits an axis to the data range [min, max] with about target ticks:
 * linear, widened to whole ticks (AX_TIGHT: kept as it is, the ticks
 * inside it; AX_PAD: widened by a twentieth each way, so that a line
 * does not run along the box's edge), or with AX_LOG_OK logarithmic, to
 * whole decades, when min > 0 and max / min passes LOG_SPAN. AX_INTEGER:
 * ticks on whole numbers only. No data (min > max): 0 to 1.
 */
static void axis_fit(struct axis *a, double min, double max, int target,
		     int flags)
{
	double step, k0, k1, k;

	memset(a, 0, sizeof(*a));
	if (!(min <= max)) {
		min = 0;
		max = 1;
	}
	if ((flags & AX_LOG_OK) && min > 0 && max / min > LOG_SPAN) {
		int d0 = (int)floor(log10(min) + 1e-9);
		int d1 = (int)ceil(log10(max) - 1e-9), d, every;
		static const double sub[] = { 1, 2, 5 };
		size_t j;

		a->log = 1;
		a->lo = d0;
		a->hi = d1;
		every = (d1 - d0 + 7) / 8;
		for (d = d0; d <= d1 && a->nt < TICKS_MAX; d++) {
			if ((d - d0) % every)
				continue;
			for (j = 0; j < 3 && a->nt < TICKS_MAX; j++) {
				if (j && (d1 - d0 > 3 || d == d1))
					break;
				a->t[a->nt++] = sub[j] * pow(10, d);
			}
		}
		return;
	}
	/* values a few ulps apart have no scale to show: as one value */
	if (max - min <= fmax(fabs(min), fabs(max)) * 1e-12)
		max = min;
	if (max == min) {
		double d = fabs(min) * 0.1;

		if (d == 0)
			d = 1;
		min -= d;
		max += d;
	}
	if (target < 2)
		target = 2;
	if (flags & AX_PAD) {
		double pad = (max - min) / 20;

		min -= pad;
		max += pad;
		flags |= AX_TIGHT;
	}
	step = nice_step((max - min) / target);
	if (flags & AX_TIGHT) {
		a->lo = min;
		a->hi = max;
		/* a box that is not widened to its ticks may hold too few:
		   three at least, where whole numbers allow */
		while (floor(max / step + 1e-9) - ceil(min / step - 1e-9) < 2 &&
		       !((flags & AX_INTEGER) && step <= 1))
			step = finer_step(step);
	} else {
		a->lo = floor(min / step + 1e-9) * step;
		a->hi = ceil(max / step - 1e-9) * step;
	}
	if ((flags & AX_INTEGER) && step < 1)
		step = 1;
	a->step = step;
	k0 = ceil(a->lo / step - 1e-9);
	k1 = floor(a->hi / step + 1e-9);
	for (k = k0; k <= k1 && a->nt < TICKS_MAX; k++)
		a->t[a->nt++] = fabs(k) < 0.5 ? 0 : k * step;
	/* large numbers read better as 200k and 1.2M than in full */
	a->si = fmax(fabs(a->lo), fabs(a->hi)) >= 1e4 && step >= 100 &&
		fmax(fabs(a->lo), fabs(a->hi)) < 1e15;
}

/* Where v falls between p0 (at lo) and p1 (at hi), kept inside. */
static double axis_map(const struct axis *a, double v, double p0, double p1)
{
	double t, span = a->hi - a->lo;

	if (a->log)
		v = v > 0 ? log10(v) : a->lo;
	t = span > 0 ? (v - a->lo) / span : 0.5;
	if (!(t >= 0))
		t = 0;
	if (t > 1)
		t = 1;
	return p0 + t * (p1 - p0);
}

/* A tick's label: "0.05", "200k", "1e-5"; 32 bytes. */
static void axis_label(const struct axis *a, double v, char out[32])
{
	static const char suffix[] = "kMGT";
	int dec;

	if (a->log) {
		double e = floor(log10(v) + 1e-9);

		if (e >= -3 && e <= 3) {
			snprintf(out, 32, "%.*f", e < 0 ? (int)-e : 0, v);
		} else if (e > 3 && e < 15) {
			int i = (int)(e / 3) - 1;

			snprintf(out, 32, "%g%c", v / pow(10, 3 * (i + 1)),
				 suffix[i]);
		} else {
			fmt_g(out, 1, v);
		}
		return;
	}
	if (v == 0) {
		snprintf(out, 32, "0");
		return;
	}
	if (a->si && fabs(v) >= 1e3) {
		int i = 0;
		double u = 1e3, st;

		while (i < 3 && fabs(v) >= u * 1e3) {
			u *= 1e3;
			i++;
		}
		st = a->step / u;
		dec = st >= 1 ? 0 : (int)ceil(-log10(st) - 1e-9);
		snprintf(out, 32, "%.*f", dec, v / u);
		trim_zeros(out);
		snprintf(out + strlen(out), 32 - strlen(out), "%c", suffix[i]);
		return;
	}
	if ((a->step < 1e-3 && fmax(fabs(a->lo), fabs(a->hi)) < 1e-2) ||
	    fmax(fabs(a->lo), fabs(a->hi)) >= 1e15) {
		int sig = (int)(floor(log10(fabs(v)) + 1e-9) -
				floor(log10(a->step) + 1e-9)) + 1;

		fmt_g(out, sig < 1 ? 1 : sig > 6 ? 6 : sig, v);
		return;
	}
	dec = a->step >= 1 ? 0 : (int)ceil(-log10(a->step) - 1e-9);
	if (dec > 9)
		dec = 9;
	snprintf(out, 32, "%.*f", dec, v);
}

/* ---- a plot area and its axes ---- */

struct frame {
	double x0, y0, x1, y1;  /* where the data go: left, top, right, bottom */
	double band;            /* the box's strip below y1, for what has no
				   y value (a comparison's failed runs) */
	struct axis ax, ay;
};

static double fx(const struct frame *f, double x)
{
	return axis_map(&f->ax, x, f->x0, f->x1);
}

static double fy(const struct frame *f, double y)
{
	return axis_map(&f->ay, y, f->y1, f->y0);
}

/*
 * Opens the panel's group and draws its box, grid, ticks and labels (each
 * may be NULL). The caller draws the data, then frame_close()s the group.
 */
static void frame_open(struct svg *s, const struct frame *f,
		       const char *xlabel, const char *ylabel)
{
	double yb = f->y1 + f->band;
	char lab[32];
	int i;

	put(s, "<g class=\"panel\">\n<rect class=\"area\" x=\"%.1f\" y=\"%.1f\" "
	    "width=\"%.1f\" height=\"%.1f\" fill=\"#fcfcfc\" stroke=\"#ddd\"/>\n",
	    f->x0, f->y0, f->x1 - f->x0, yb - f->y0);
	if (f->band) {
		put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
		    "stroke=\"#bbb\" stroke-dasharray=\"3 3\"/>\n", f->x0,
		    f->y1 + 2, f->x1, f->y1 + 2);
		put_label(s, f->x0 - 6, f->y1 + f->band / 2 + 5, "class=\"tick\" "
			  "text-anchor=\"end\"", "no value", 0);
	}
	for (i = 0; i < f->ay.nt; i++) {
		double y = fy(f, f->ay.t[i]);

		put(s, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\"/>\n", f->x0, y, f->x1, y);
		axis_label(&f->ay, f->ay.t[i], lab);
		put_label(s, f->x0 - 6, y + 4, "class=\"tick\" "
			  "text-anchor=\"end\"", lab, 0);
	}
	for (i = 0; i < f->ax.nt; i++) {
		double x = fx(f, f->ax.t[i]);

		put(s, "<line class=\"grid\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\"/>\n", x, f->y0, x, yb);
		put(s, "<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
		    "y2=\"%.1f\"/>\n", x, yb, x, yb + 4);
		axis_label(&f->ax, f->ax.t[i], lab);
		put_label(s, x, yb + 16, "class=\"tick\" "
			  "text-anchor=\"middle\"", lab, 0);
	}
	put(s, "<path class=\"axis\" fill=\"none\" d=\"M%.1f,%.1f L%.1f,%.1f "
	    "L%.1f,%.1f\"/>\n", f->x0, f->y0, f->x0, yb, f->x1, yb);
	if (xlabel && *xlabel)
		put_label(s, (f->x0 + f->x1) / 2, yb + 34, "class=\"note\" "
			  "text-anchor=\"middle\"", xlabel, 60);
	if (ylabel && *ylabel) {
		put(s, "<text class=\"note\" text-anchor=\"middle\" "
		    "transform=\"translate(%.1f,%.1f) rotate(-90)\">",
		    f->x0 - 58, (f->y0 + f->y1) / 2);
		put_text(s, ylabel, 50);
		if (f->ay.log)
			put(s, " (log scale)");
		put(s, "</text>\n");
	}
}

static void frame_close(struct svg *s)
{
	put(s, "</g>\n");
}

/* ---- series: the finite points, sorted, thinned ---- */

struct plot_bucket {
	double lox, loy, hix, hiy;
	size_t n;
};

int plot_reduce_init(struct plot_reduce *r, double x0, double x1, size_t nb)
{
	r->x0 = x0;
	r->x1 = x1;
	r->nb = nb ? nb : 1;
	r->b = calloc(r->nb, sizeof(*r->b));
	return r->b ? TFS_OK : TFS_ENOMEM;
}

void plot_reduce_add(struct plot_reduce *r, double x, double y)
{
	struct plot_bucket *b;
	double t;
	size_t i = 0;

	if (!drawable(x) || !drawable(y))
		return;
	if (r->x1 > r->x0) {
		t = (x - r->x0) / (r->x1 - r->x0) * (double)r->nb;
		i = t <= 0 ? 0 : t >= (double)r->nb ? r->nb - 1 : (size_t)t;
	}
	b = &r->b[i];
	if (!b->n || y < b->loy) {
		b->lox = x;
		b->loy = y;
	}
	if (!b->n || y > b->hiy) {
		b->hix = x;
		b->hiy = y;
	}
	b->n++;
}

size_t plot_reduce_points(const struct plot_reduce *r,
			  struct plot_point *out)
{
	size_t i, n = 0;

	for (i = 0; i < r->nb; i++) {
		const struct plot_bucket *b = &r->b[i];
		int lo_first = b->lox <= b->hix;

		if (!b->n)
			continue;
		if (b->n == 1 || (b->lox == b->hix && b->loy == b->hiy)) {
			out[n++] = (struct plot_point){ b->lox, b->loy };
			continue;
		}
		out[n++] = lo_first ? (struct plot_point){ b->lox, b->loy } :
			   (struct plot_point){ b->hix, b->hiy };
		out[n++] = lo_first ? (struct plot_point){ b->hix, b->hiy } :
			   (struct plot_point){ b->lox, b->loy };
	}
	return n;
}

void plot_reduce_release(struct plot_reduce *r)
{
	free(r->b);
	r->b = NULL;
}

/* A series ready to draw. */
struct prep {
	struct plot_point *p;   /* sorted by x, at most PLOT_POINTS_MAX */
	size_t n;
	double xmin, xmax, ymin, ymax;
	double last;            /* of the input order: the latest */
	int has_last;
};

static int point_cmp(const void *a, const void *b)
{
	const struct plot_point *p = a, *q = b;

	if (p->x != q->x)
		return p->x < q->x ? -1 : 1;
	return (p->y > q->y) - (p->y < q->y);
}

static int prep_series(struct prep *pr, const struct plot_series *s)
{
	size_t i, nf = 0;
	int sorted = 1;

	memset(pr, 0, sizeof(*pr));
	pr->xmin = pr->ymin = INFINITY;
	pr->xmax = pr->ymax = -INFINITY;
	for (i = 0; i < s->n; i++) {
		const struct plot_point *q = &s->pts[i];

		if (!drawable(q->x) || !drawable(q->y))
			continue;
		if (nf && q->x < pr->xmax)
			sorted = 0;
		pr->xmin = fmin(pr->xmin, q->x);
		pr->xmax = fmax(pr->xmax, q->x);
		pr->ymin = fmin(pr->ymin, q->y);
		pr->ymax = fmax(pr->ymax, q->y);
		pr->last = q->y;
		pr->has_last = 1;
		nf++;
	}
	if (!nf)
		return TFS_OK;
	if (nf > PLOT_POINTS_MAX) {
		struct plot_reduce r;
		int ret = plot_reduce_init(&r, pr->xmin, pr->xmax,
					   PLOT_POINTS_MAX / 2);

		if (ret)
			return ret;
		pr->p = malloc(PLOT_POINTS_MAX * sizeof(*pr->p));
		if (!pr->p) {
			plot_reduce_release(&r);
			return TFS_ENOMEM;
		}
		for (i = 0; i < s->n; i++)
			plot_reduce_add(&r, s->pts[i].x, s->pts[i].y);
		pr->n = plot_reduce_points(&r, pr->p);
		plot_reduce_release(&r);
		return TFS_OK;
	}
	pr->p = malloc(nf * sizeof(*pr->p));
	if (!pr->p)
		return TFS_ENOMEM;
	for (i = 0; i < s->n; i++)
		if (drawable(s->pts[i].x) && drawable(s->pts[i].y))
			pr->p[pr->n++] = s->pts[i];
	if (!sorted)
		qsort(pr->p, pr->n, sizeof(*pr->p), point_cmp);
	return TFS_OK;
}

static void prep_free(struct prep *pr, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(pr[i].p);
	free(pr);
}


/* The colour and dash of series i, as attributes. */
static void put_stroke(struct svg *s, size_t i)
{
	put(s, " stroke=\"%s\"", colour(i));
	if (dash(i))
		put(s, " stroke-dasharray=\"%s\"", dash(i));
}

/* One series' path, and its points when there are few. */
static void put_series(struct svg *s, const struct frame *f,
		       const struct prep *pr, size_t idx, const char *name)
{
	double px = NAN, py = NAN;
	size_t i;

	put(s, "<path class=\"series\" data-name=\"");
	put_text(s, name, 0);
	put(s, "\"");
	put_stroke(s, idx);
	put(s, " d=\"");
	for (i = 0; i < pr->n; i++) {
		double x = round(fx(f, pr->p[i].x) * 10) / 10;
		double y = round(fy(f, pr->p[i].y) * 10) / 10;

		if (x == px && y == py)
			continue;
		put(s, "%s%.1f,%.1f", i ? " L" : "M", x, y);
		px = x;
		py = y;
	}
	/* a lone point: a segment of no length, which the round cap shows */
	if (pr->n == 1)
		put(s, " L%.1f,%.1f", px, py);
	put(s, "\"/>\n");
	if (pr->n && pr->n <= MARKERS_UPTO) {
		put(s, "<g fill=\"%s\">", colour(idx));
		for (i = 0; i < pr->n; i++)
			put(s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%s\"/>",
			    fx(f, pr->p[i].x), fy(f, pr->p[i].y),
			    pr->n == 1 ? "3.5" : "2.5");
		put(s, "</g>\n");
	}
}

/* A legend's line sample for series i, from x to x + 22 at y. */
static void put_swatch(struct svg *s, double x, double y, size_t i)
{
	put(s, "<line x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" "
	    "stroke-width=\"2.5\"", x, y, x + 22, y);
	put_stroke(s, i);
	put(s, "/>\n");
}

/*
 * The series of a chart, prepared, and in *all the range of them all.
 * NULL when there is no chart to draw, with *err: a failure, or TFS_OK
 * when the chart was a message (no series, or none with a point to draw)
 * appended to out.
 */
static struct prep *prep_chart(struct buf *out, const char *title,
			       const struct plot_series *ser, size_t ns,
			       struct prep *all, int *err)
{
	struct prep *pr;
	size_t i, drawn = 0;

	memset(all, 0, sizeof(*all));
	all->xmin = all->ymin = INFINITY;
	all->xmax = all->ymax = -INFINITY;

	*err = TFS_EFBIG;
	if (ns > PLOT_SERIES_MAX)
		return NULL;
	pr = calloc(ns ? ns : 1, sizeof(*pr));
	*err = pr ? TFS_OK : TFS_ENOMEM;
	for (i = 0; pr && i < ns; i++) {
		*err = prep_series(&pr[i], &ser[i]);
		if (*err) {
			prep_free(pr, i + 1);
			return NULL;
		}
		drawn += pr[i].n;
		if (!pr[i].n)
			continue;
		all->xmin = fmin(all->xmin, pr[i].xmin);
		all->xmax = fmax(all->xmax, pr[i].xmax);
		all->ymin = fmin(all->ymin, pr[i].ymin);
		all->ymax = fmax(all->ymax, pr[i].ymax);
	}
	if (pr && !drawn) {
		prep_free(pr, ns);
		*err = plot_message_svg(out, title, ns ? "no finite values "
					"to plot" : "nothing to plot yet");
		return NULL;
	}
	return pr;
}

int plot_lines_svg(struct buf *out, const char *title, const char *xlabel,
		   const char *ylabel, const struct plot_series *ser,
		   size_t ns)
{
	int legend = ns > 1, height, err;
	struct prep *pr, all;
	struct frame f;
	struct svg s;
	size_t i;

	pr = prep_chart(out, title, ser, ns, &all, &err);
	if (!pr)
		return err;
	height = 540;
	if (legend && 80 + (int)ns * 20 > height)
		height = 80 + (int)ns * 20;
	f.x0 = 84;
	f.y0 = 48;
	f.band = 0;
	f.x1 = PLOT_WIDTH - (legend ? 210 : 28);
	f.y1 = height - 56;
	axis_fit(&f.ax, all.xmin, all.xmax, (int)((f.x1 - f.x0) / 90),
		 AX_TIGHT);
	axis_fit(&f.ay, all.ymin, all.ymax, (int)((f.y1 - f.y0) / 50),
		 AX_LOG_OK | AX_PAD);
	svg_begin(&s, height);
	put_title(&s, title);
	frame_open(&s, &f, xlabel, ylabel);
	for (i = 0; i < ns; i++)
		put_series(&s, &f, &pr[i], i, ser[i].name);
	frame_close(&s);
	for (i = 0; legend && i < ns; i++) {
		double y = f.y0 + 8 + 20 * (double)i;

		put_swatch(&s, f.x1 + 16, y, i);
		put_label(&s, f.x1 + 44, y + 4, "", ser[i].name, NAME_CHARS);
	}
	prep_free(pr, ns);
	return svg_end(&s, out);
}

/* ---- small multiples ---- */

#define PANEL_TOP 44             /* the title above the grid */
#define PANEL_BOTTOM 30          /* the x label below it */

int plot_panels_svg(struct buf *out, const char *title, const char *xlabel,
		    const struct plot_series *ser, size_t ns)
{
	int cols, rows, ph, height, err;
	struct prep *pr, all;
	struct svg s;
	double pw;
	size_t i;

	pr = prep_chart(out, title, ser, ns, &all, &err);
	if (!pr)
		return err;
	cols = ns == 1 ? 1 : ns <= 4 ? 2 : 3;
	rows = (int)((ns + (size_t)cols - 1) / (size_t)cols);
	ph = cols == 1 ? 420 : cols == 2 ? 250 : 220;
	pw = (PLOT_WIDTH - 16.0) / cols;
	height = PANEL_TOP + rows * ph + PANEL_BOTTOM;
	svg_begin(&s, height);
	put_title(&s, title);
	for (i = 0; i < ns; i++) {
		double px = 8 + pw * (double)(i % (size_t)cols);
		double py = PANEL_TOP + (double)ph * (double)(i / (size_t)cols);
		char v[32], lab[48];
		struct frame f;
		double room;

		f.x0 = px + 62;
		f.x1 = px + pw - 16;
		f.y0 = py + 30;
		f.y1 = py + ph - 32;
		f.band = 0;
		/* one x range for all, so that a step is one place down a
		   column of panels */
		axis_fit(&f.ax, all.xmin, all.xmax,
			 (int)((f.x1 - f.x0) / 70), AX_TIGHT);
		axis_fit(&f.ay, pr[i].ymin, pr[i].ymax,
			 (int)((f.y1 - f.y0) / 40), AX_LOG_OK | AX_PAD);
		lab[0] = '\0';
		if (pr[i].has_last) {
			fmt_value(v, 4, pr[i].last);
			snprintf(lab, sizeof(lab), "%slast %s",
				 f.ay.log ? "log y, " : "", v);
			put_label(&s, f.x1, py + 18, "class=\"note\" "
				  "text-anchor=\"end\"", lab, 0);
		}
		/* the name in what the value leaves of the line: about 8
		   pixels a bold character, 6.5 a plain one */
		room = (f.x1 - f.x0 - 28 - 6.5 * (double)strlen(lab) - 12) / 8;
		put_swatch(&s, f.x0, py + 14, i);
		put_label(&s, f.x0 + 28, py + 18, "class=\"head\"", ser[i].name,
			  room < 6 ? 6 : (size_t)room);
		frame_open(&s, &f, NULL, NULL);
		put_series(&s, &f, &pr[i], i, ser[i].name);
		if (!pr[i].n)
			put_label(&s, (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2,
				  "class=\"note\" text-anchor=\"middle\"",
				  "no finite values", 0);
		frame_close(&s);
	}
	if (xlabel && *xlabel)
		put_label(&s, PLOT_WIDTH / 2.0, height - 10, "class=\"note\" "
			  "text-anchor=\"middle\"", xlabel, 60);
	prep_free(pr, ns);
	return svg_end(&s, out);
}

/* ---- comparisons ---- */

static int run_has_value(const struct plot_run *r)
{
	return (r->ok == PLOT_RUN_OK || r->ok == PLOT_RUN_PARTIAL) &&
	       drawable(r->value);
}

static int better(double a, double b, int minimize)
{
	return minimize ? a < b : a > b;
}

/* A legend item at x: a sample drawn by the caller, then text; returns
 * where the next goes. */
static double legend_text(struct svg *s, double x, double y, const char *t)
{
	put_label(s, x, y + 4, "", t, 0);
	return x + 6.4 * (double)strlen(t) + 26;
}

/* A cross of half-width h at (x, y). */
static void put_cross(struct svg *s, double x, double y, double h)
{
	put(s, "<path class=\"marker\" d=\"M%.1f,%.1f L%.1f,%.1f M%.1f,%.1f "
	    "L%.1f,%.1f\"/>", x - h, y - h, x + h, y + h, x - h, y + h, x + h,
	    y - h);
}

int plot_compare_svg(struct buf *out, const char *title, const char *metric,
		     int minimize, const struct plot_run *runs, size_t n)
{
	double ymin = INFINITY, ymax = -INFINITY, best = NAN, r, lx, bx, by;
	size_t i, nval = 0, npart = 0, nnone = 0, ibest = SIZE_MAX;
	const char *mark = "#0072B2", *line = "#E69F00", *bad = "#D55E00";
	char txt[160], v[32];
	struct frame f;
	struct svg s;
	int first;

	if (n > PLOT_RUNS_MAX)
		return TFS_EFBIG;
	if (!n)
		return plot_message_svg(out, title, "no runs yet");
	for (i = 0; i < n; i++) {
		if (!run_has_value(&runs[i])) {
			nnone++;
			continue;
		}
		ymin = fmin(ymin, runs[i].value);
		ymax = fmax(ymax, runs[i].value);
		if (runs[i].ok == PLOT_RUN_PARTIAL) {
			npart++;
			continue;
		}
		nval++;
		if (ibest == SIZE_MAX || better(runs[i].value, best, minimize)) {
			ibest = i;
			best = runs[i].value;
		}
	}
	f.x0 = 84;
	f.x1 = PLOT_WIDTH - 28;
	f.y0 = 72;
	f.band = nnone ? 22 : 0;
	f.y1 = 540 - 56 - f.band;
	axis_fit(&f.ax, 0.5, (double)n + 0.5, (int)((f.x1 - f.x0) / 80),
		 AX_INTEGER | AX_TIGHT);
	axis_fit(&f.ay, ymin, ymax, (int)((f.y1 - f.y0) / 50),
		 AX_LOG_OK | AX_PAD);
	if (!(ymin <= ymax))
		f.ay.nt = 0;            /* no value: no scale to read */
	svg_begin(&s, 540);
	put_title(&s, title);

	/* the legend, with the counts */
	lx = 16;
	put(&s, "<circle cx=\"%.1f\" cy=\"48\" r=\"4\" fill=\"%s\"/>", lx + 4,
	    mark);
	snprintf(txt, sizeof(txt), "%zu with a value", nval);
	lx = legend_text(&s, lx + 14, 48, txt);
	if (npart) {
		put(&s, "<circle cx=\"%.1f\" cy=\"48\" r=\"4\" fill=\"#fff\" "
		    "stroke=\"%s\" stroke-width=\"1.5\"/>", lx + 4, mark);
		snprintf(txt, sizeof(txt), "%zu still going or stopped early",
			 npart);
		lx = legend_text(&s, lx + 14, 48, txt);
	}
	if (nnone) {
		put(&s, "<g stroke=\"%s\" stroke-width=\"2\">", bad);
		put_cross(&s, lx + 4, 48, 4);
		put(&s, "</g>");
		snprintf(txt, sizeof(txt), "%zu failed or without a value",
			 nnone);
		lx = legend_text(&s, lx + 14, 48, txt);
	}
	if (nval) {
		put(&s, "<line x1=\"%.1f\" y1=\"48\" x2=\"%.1f\" y2=\"48\" "
		    "stroke=\"%s\" stroke-width=\"2.5\"/>", lx, lx + 22, line);
		snprintf(txt, sizeof(txt), "best so far (%s)",
			 minimize ? "lowest" : "highest");
		legend_text(&s, lx + 28, 48, txt);
	}
	put(&s, "\n");

	frame_open(&s, &f, "run, in order of creation", metric);
	/* best so far: a step down (or up) at each run that improved it */
	put(&s, "<path class=\"series\" data-name=\"best so far\" "
	    "stroke=\"%s\" stroke-width=\"2.2\" d=\"", line);
	first = 1;
	for (i = 0; i < n; i++) {
		double x = fx(&f, (double)(i + 1)), cur;

		if (runs[i].ok != PLOT_RUN_OK || !drawable(runs[i].value))
			continue;
		if (first) {
			best = runs[i].value;
			put(&s, "M%.1f,%.1f", x, fy(&f, best));
			first = 0;
			continue;
		}
		cur = runs[i].value;
		if (!better(cur, best, minimize))
			continue;
		put(&s, " L%.1f,%.1f L%.1f,%.1f", x, fy(&f, best), x,
		    fy(&f, cur));
		best = cur;
	}
	if (!first)
		put(&s, " L%.1f,%.1f", fx(&f, (double)n), fy(&f, best));
	put(&s, "\"/>\n");

	r = n > 500 ? 2 : n > 100 ? 3 : 4;
	put(&s, "<g fill=\"%s\" fill-opacity=\"0.8\">", mark);
	for (i = 0; i < n; i++)
		if (runs[i].ok == PLOT_RUN_OK && run_has_value(&runs[i]))
			put(&s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\"/>",
			    fx(&f, (double)(i + 1)), fy(&f, runs[i].value), r);
	put(&s, "</g>\n<g fill=\"#fff\" stroke=\"%s\" stroke-width=\"1.5\">",
	    mark);
	for (i = 0; i < n; i++)
		if (runs[i].ok == PLOT_RUN_PARTIAL && run_has_value(&runs[i]))
			put(&s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\"/>",
			    fx(&f, (double)(i + 1)), fy(&f, runs[i].value), r);
	put(&s, "</g>\n<g stroke=\"%s\" stroke-width=\"2\">", bad);
	for (i = 0; i < n; i++)
		if (!run_has_value(&runs[i]))
			put_cross(&s, fx(&f, (double)(i + 1)),
				  f.y1 + f.band / 2 + 1, r);
	put(&s, "</g>\n");

	if (ibest != SIZE_MAX) {
		int right = fx(&f, (double)(ibest + 1)) > (f.x0 + f.x1) / 2;

		bx = fx(&f, (double)(ibest + 1));
		by = fy(&f, runs[ibest].value);
		put(&s, "<circle cx=\"%.1f\" cy=\"%.1f\" r=\"%g\" fill=\"none\" "
		    "stroke=\"#000\" stroke-width=\"1.8\"/>\n", bx, by, r + 4);
		fmt_value(v, 6, runs[ibest].value);
		put(&s, "<text class=\"halo\" font-weight=\"bold\" x=\"%.1f\" "
		    "y=\"%.1f\" text-anchor=\"%s\">best: ",
		    bx + (right ? -(r + 9) : r + 9),
		    by < f.y0 + 24 ? by + r + 16 : by - r - 6,
		    right ? "end" : "start");
		put_text(&s, runs[ibest].name, 40);
		put(&s, " = %s</text>\n", v);
	} else {
		put_label(&s, (f.x0 + f.x1) / 2, (f.y0 + f.y1) / 2,
			  "class=\"note\" font-size=\"15\" "
			  "text-anchor=\"middle\"", npart ? "no run has "
			  "finished with a value yet" : "no run has a value "
			  "yet", 0);
	}
	frame_close(&s);
	return svg_end(&s, out);
}
