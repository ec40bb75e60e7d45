/*
 * test_plot.c - unit tests for core/plot.c: each chart is written to a
 * file and read back by tests/lib/svgcheck.py (xml.etree: it parses, one
 * path per series, every point inside its axes' box), and its text is
 * checked here for escaping, skipped non-finite values, the empty cases,
 * the bounds, thinning that keeps a spike, and the best so far of a
 * comparison. TEST_PLOT_KEEP=DIR keeps the charts there, to look at.
 */
#include "plot.h"
#include "err.h"
#include "test.h"

#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

static char dir[256];
static int no_python;

/* Writes b to dir/name.svg; returns the path (static). */
static const char *save(const struct buf *b, const char *name)
{
	static char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s.svg", dir, name);
	f = fopen(path, "w");
	if (!f)
		abort();
	fwrite(b->p ? b->p : "", 1, b->len, f);
	fclose(f);
	return path;
}

/*
 * svgcheck.py's verdict on b with args ("--series 3 ..."); 1 when it
 * passes, its summary line in out.
 */
static int svgcheck(const struct buf *b, const char *name, const char *args,
		    char *out, size_t outlen)
{
	char cmd[1024];
	FILE *p;
	int rc;

	if (no_python)
		return 1;
	snprintf(cmd, sizeof(cmd), "python3 tests/lib/svgcheck.py '%s' %s",
		 save(b, name), args);
	p = popen(cmd, "r");
	if (!p)
		return 0;
	out[0] = '\0';
	if (!fgets(out, (int)outlen, p))
		out[0] = '\0';
	rc = pclose(p);
	if (rc)
		fprintf(stderr, "svgcheck %s: %s", name, out);
	return rc == 0;
}

static size_t count(const char *hay, const char *needle)
{
	size_t n = 0;
	const char *p = hay;

	while (p && (p = strstr(p, needle))) {
		n++;
		p += strlen(needle);
	}
	return n;
}

/* The d of the first series path after from, in a static copy. */
static const char *series_d(const char *from)
{
	static char d[1 << 20];
	const char *p = strstr(from, "class=\"series\""), *q, *e;

	d[0] = '\0';
	if (!p || !(q = strstr(p, " d=\"")) || !(e = strchr(q + 4, '"')))
		return d;
	q += 4;
	snprintf(d, sizeof(d), "%.*s", (int)(e - q), q);
	return d;
}

/* The points of path data "Mx,y Lx,y ..."; returns how many. */
static size_t d_points(const char *d, double *ys, size_t max)
{
	size_t n = 0;
	double x, y;

	while (*d) {
		while (*d == ' ' || *d == 'M' || *d == 'L')
			d++;
		if (!*d || sscanf(d, "%lf,%lf", &x, &y) != 2)
			break;
		if (ys && n < max)
			ys[n] = y;
		n++;
		while (*d && *d != ' ')
			d++;
	}
	return n;
}

static void test_lines(void)
{
	struct plot_point a[50], b[50], c[50];
	struct plot_series s[3] = {
		{ "sine", a, 50 }, { "loss", b, 50 }, { "flat", c, 50 },
	};
	struct buf out = BUF_INIT(0);
	char sum[256];
	int i;

	for (i = 0; i < 50; i++) {
		a[i] = (struct plot_point){ i * 10, sin(i / 5.0) };
		b[i] = (struct plot_point){ i * 10, 2.0 * exp(-i / 20.0) };
		c[i] = (struct plot_point){ i * 10, 0.5 };
	}
	CHECK(plot_lines_svg(&out, "three series", "step", "value", s, 3) ==
	      TFS_OK);
	CHECK(svgcheck(&out, "lines", "--series 3 --name sine --name loss "
		       "--name flat", sum, sizeof(sum)));
	CHECK(count(out.p, "class=\"series\"") == 3);
	/* a legend: each name once more, beside its swatch */
	CHECK(count(out.p, ">sine</text>") == 1);
	/* nice ticks: 0 .. 500 by 100, -1 .. 2 by 0.5 */
	CHECK(strstr(out.p, ">400</text>") != NULL);
	CHECK(strstr(out.p, ">-0.5</text>") != NULL);
	CHECK(strstr(out.p, ">1.5</text>") != NULL);
	CHECK(strstr(out.p, "(log scale)") == NULL);
	buf_release(&out);
}

/* Names that are markup: escaped in text and attributes alike. */
static void test_escaping(void)
{
	struct plot_point p[3] = { { 0, 1 }, { 1, 2 }, { 2, 3 } };
	struct plot_series s[2] = { { "a<b&\"c\"", p, 3 }, { "x'y>z", p, 3 } };
	struct plot_run runs[2] = { { "r<1>&", 1, PLOT_RUN_OK },
				    { "bad\x01\xff", 2, PLOT_RUN_OK } };
	struct buf out = BUF_INIT(0);
	char sum[256];

	CHECK(plot_lines_svg(&out, "</svg><script>&", "x&y", "<y>", s, 2) ==
	      TFS_OK);
	CHECK(svgcheck(&out, "escape", "--series 2 --name 'a<b&\"c\"' "
		       "--name \"x'y>z\"", sum, sizeof(sum)));
	CHECK(strstr(out.p, "a<b") == NULL);
	CHECK(strstr(out.p, "<script>") == NULL);
	CHECK(strstr(out.p, "a&lt;b&amp;&quot;c&quot;") != NULL);
	CHECK(strstr(out.p, "x&apos;y&gt;z") != NULL);
	buf_reset(&out);
	/* a control byte and broken UTF-8 cannot be XML: they become '?' */
	CHECK(plot_compare_svg(&out, "t", "m&m", 0, runs, 2) == TFS_OK);
	CHECK(svgcheck(&out, "escape_compare", "--series 1", sum,
		       sizeof(sum)));
	CHECK(strstr(out.p, ">m&amp;m") != NULL);
	CHECK(strstr(out.p, "bad??") != NULL);
	buf_release(&out);
}

static void test_nonfinite(void)
{
	struct plot_point p[6] = {
		{ 0, 1 }, { 1, NAN }, { 2, INFINITY }, { NAN, 4 }, { 4, -INFINITY },
		{ 5, 2 },
	};
	struct plot_series s = { "gappy", p, 6 };
	struct buf out = BUF_INIT(0);
	char sum[256];

	CHECK(plot_lines_svg(&out, "gaps", "x", "y", &s, 1) == TFS_OK);
	CHECK(svgcheck(&out, "nan", "--series 1", sum, sizeof(sum)));
	CHECK(d_points(series_d(out.p), NULL, 0) == 2);
	CHECK(strstr(out.p, "nan") == NULL && strstr(out.p, "inf") == NULL);
	buf_release(&out);
}

static void test_empty(void)
{
	struct plot_point p[2] = { { NAN, 1 }, { 1, NAN } };
	struct plot_series s = { "none", p, 2 };
	struct plot_run r = { "failed", NAN, PLOT_RUN_NONE };
	struct buf out = BUF_INIT(0);
	char sum[256];

	CHECK(plot_lines_svg(&out, "empty", NULL, NULL, NULL, 0) == TFS_OK);
	CHECK(svgcheck(&out, "empty", "--series 0", sum, sizeof(sum)));
	CHECK(strstr(out.p, "nothing to plot") != NULL);
	buf_reset(&out);
	CHECK(plot_panels_svg(&out, "all nan", "step", &s, 1) == TFS_OK);
	CHECK(svgcheck(&out, "allnan", "--series 0", sum, sizeof(sum)));
	CHECK(strstr(out.p, "no finite values") != NULL);
	buf_reset(&out);
	CHECK(plot_compare_svg(&out, "no runs", "loss", 1, NULL, 0) == TFS_OK);
	CHECK(strstr(out.p, "no runs yet") != NULL);
	buf_reset(&out);
	/* runs, none with a value: the crosses, an empty best line, a note */
	CHECK(plot_compare_svg(&out, "all failed", "loss", 1, &r, 1) ==
	      TFS_OK);
	CHECK(svgcheck(&out, "allfailed", "--series 1", sum, sizeof(sum)));
	CHECK(count(out.p, "class=\"marker\"") == 2);   /* legend and run */
	CHECK(strstr(out.p, "no run has a value") != NULL);
	CHECK(*series_d(out.p) == '\0');
	buf_release(&out);
}

/* A lone point and a constant series still draw, inside the box. */
static void test_degenerate(void)
{
	struct plot_point one = { 7, 3 }, flat[3] = { { 1, 0 }, { 2, 0 },
						       { 3, 0 } };
	struct plot_series s[2] = { { "one", &one, 1 }, { "zero", flat, 3 } };
	struct buf out = BUF_INIT(0);
	char sum[256];

	CHECK(plot_panels_svg(&out, "degenerate", "step", s, 2) == TFS_OK);
	CHECK(svgcheck(&out, "degenerate", "--series 2", sum, sizeof(sum)));
	CHECK(d_points(series_d(out.p), NULL, 0) == 2);  /* M p L p */
	CHECK(count(out.p, "<circle") == 4);
	buf_reset(&out);
	/* values an ulp apart, and values at the ends of what is drawn */
	flat[0] = (struct plot_point){ 1e15, 1e15 };
	flat[1] = (struct plot_point){ nextafter(1e15, 2e15), 1e15 + 0.125 };
	flat[2] = (struct plot_point){ 1e300, -1e300 };
	s[0] = (struct plot_series){ "close", flat, 2 };
	s[1] = (struct plot_series){ "far", flat + 1, 2 };
	CHECK(plot_panels_svg(&out, "extremes", "step", s, 2) == TFS_OK);
	CHECK(svgcheck(&out, "extremes", "--series 2", sum, sizeof(sum)));
	CHECK(strstr(out.p, "nan") == NULL && strstr(out.p, "inf") == NULL);
	buf_release(&out);
}

static void test_bounds(void)
{
	static struct plot_series many[PLOT_SERIES_MAX + 1];
	struct plot_point p = { 1, 1 }, *big;
	struct buf out = BUF_INIT(0), small = BUF_INIT(100);
	struct plot_series s;
	double ys[PLOT_POINTS_MAX + 1], ymin = 1e9, ymax = -1e9;
	const char *rect;
	size_t i, n = 1000000, np;
	double height = -1;
	char sum[256];

	for (i = 0; i <= PLOT_SERIES_MAX; i++)
		many[i] = (struct plot_series){ "s", &p, 1 };
	buf_puts(&out, "keep");
	CHECK(plot_lines_svg(&out, "t", "x", "y", many, PLOT_SERIES_MAX + 1) ==
	      TFS_EFBIG);
	CHECK(plot_panels_svg(&out, "t", "x", many, PLOT_SERIES_MAX + 1) ==
	      TFS_EFBIG);
	CHECK(plot_compare_svg(&out, "t", "m", 1, NULL, PLOT_RUNS_MAX + 1) ==
	      TFS_EFBIG);
	CHECK_STR(out.p, "keep");
	/* the caller's own bound: refused whole, its buffer as it was */
	buf_puts(&small, "x");
	CHECK(plot_lines_svg(&small, "t", "x", "y", many, 3) == TFS_EFBIG);
	CHECK_STR(small.p, "x");
	buf_release(&small);
	/* the most series allowed: within PLOT_SVG_MAX */
	buf_reset(&out);
	CHECK(plot_panels_svg(&out, "t", "x", many, PLOT_SERIES_MAX) ==
	      TFS_OK);
	CHECK(svgcheck(&out, "maxpanels", "--series 64", sum, sizeof(sum)));

	/* a million points, zero but one spike: thinned, spike kept */
	big = malloc(n * sizeof(*big));
	if (!big)
		abort();
	for (i = 0; i < n; i++)
		big[i] = (struct plot_point){ (double)i, i == 654321 ? 5 : 0 };
	s = (struct plot_series){ "spiky", big, n };
	buf_reset(&out);
	CHECK(plot_lines_svg(&out, "a million points", "step", "v", &s, 1) ==
	      TFS_OK);
	CHECK(out.len < PLOT_SVG_MAX);
	CHECK(svgcheck(&out, "million", "--series 1", sum, sizeof(sum)));
	np = d_points(series_d(out.p), ys, PLOT_POINTS_MAX + 1);
	CHECK(np > 10 && np <= PLOT_POINTS_MAX);
	for (i = 0; i < np && i <= PLOT_POINTS_MAX; i++) {
		ymin = fmin(ymin, ys[i]);
		ymax = fmax(ymax, ys[i]);
	}
	rect = strstr(out.p, "class=\"area\"");
	CHECK(rect && sscanf(strstr(rect, " height=\""), " height=\"%lf\"",
			     &height) == 1);
	/* the spike spans the box, but for its margins */
	CHECK(ymax - ymin > 0.85 * height);
	CHECK(strstr(out.p, ">800k</text>") != NULL);
	CHECK(strstr(out.p, ">200k</text>") != NULL);
	free(big);
	buf_release(&out);
}

static void test_reduce(void)
{
	struct plot_reduce r;
	struct plot_point out[8];
	size_t n;

	CHECK(plot_reduce_init(&r, 0, 100, 4) == TFS_OK);
	plot_reduce_add(&r, 10, 5);
	plot_reduce_add(&r, 20, -1);    /* lowest of bucket 0, after its max */
	plot_reduce_add(&r, 5, 2);
	plot_reduce_add(&r, 60, NAN);
	plot_reduce_add(&r, 99, 7);
	plot_reduce_add(&r, 1000, 8);   /* clamped into the last bucket */
	n = plot_reduce_points(&r, out);
	CHECK(n == 4);
	CHECK(out[0].x == 10 && out[0].y == 5);
	CHECK(out[1].x == 20 && out[1].y == -1);
	CHECK(out[2].x == 99 && out[2].y == 7);
	CHECK(out[3].x == 1000 && out[3].y == 8);
	plot_reduce_release(&r);
}

/* Four metrics of very different scales, one of them spanning decades. */
static void test_panels(void)
{
	static struct plot_point p[4][300];
	struct plot_series s[4] = {
		{ "train/loss", p[0], 300 }, { "learning_rate", p[1], 300 },
		{ "eval/accuracy", p[2], 300 }, { "sys/rss_mb", p[3], 300 },
	};
	struct buf out = BUF_INIT(0);
	char sum[256];
	int i;

	for (i = 0; i < 300; i++) {
		double t = i * 50;

		p[0][i] = (struct plot_point){ t, 3.0 * exp(-i / 40.0) + 0.005 +
					       0.05 * sin(i) * exp(-i / 80.0) };
		p[1][i] = (struct plot_point){ t, 5e-5 * (i < 20 ? i / 20.0 :
					       1.0 - (i - 20) / 300.0) };
		p[2][i] = (struct plot_point){ t, 0.5 + 0.45 * (1 -
					       exp(-i / 60.0)) };
		p[3][i] = (struct plot_point){ t, 1800 + 10 * (i % 7) };
	}
	CHECK(plot_panels_svg(&out, "default/run-7: metrics", "step", s, 4) ==
	      TFS_OK);
	CHECK(svgcheck(&out, "panels", "--series 4 --name train/loss "
		       "--name learning_rate", sum, sizeof(sum)));
	CHECK(strstr(sum, "panels=4") != NULL);
	CHECK(strstr(out.p, "log y") != NULL);       /* the loss panel */
	CHECK(strstr(out.p, ">10k</text>") != NULL); /* steps as 10k */
	CHECK(strstr(out.p, ">4e-5</text>") != NULL);
	buf_release(&out);
}

/* The y pixels of the best-so-far line never go the wrong way. */
static int monotone(const char *d, int down)
{
	double ys[256];
	size_t n = d_points(d, ys, 256), i;

	for (i = 1; i < n && i < 256; i++)
		if (down ? ys[i] < ys[i - 1] - 0.05 : ys[i] > ys[i - 1] + 0.05)
			return 0;
	return n > 1;
}

static void test_compare(void)
{
	static const double v[12] = { 5, 3, NAN, 4, 2.5, 9, 1.25, 3, 0, 2,
				      1.5, 0.5 };
	struct plot_run runs[12];
	char names[12][16], sum[256];
	struct buf out = BUF_INIT(0);
	int i;

	for (i = 0; i < 12; i++) {
		snprintf(names[i], sizeof(names[i]), "sweep-%03d", i + 1);
		runs[i] = (struct plot_run){ names[i], v[i], PLOT_RUN_OK };
	}
	runs[5].ok = PLOT_RUN_NONE;       /* failed with a value: never best */
	runs[8].ok = PLOT_RUN_NONE;       /* failed at 0 */
	runs[9].ok = PLOT_RUN_PARTIAL;    /* still going */
	CHECK(plot_compare_svg(&out, "sweep lr: eval_loss", "eval_loss", 1,
			       runs, 12) == TFS_OK);
	CHECK(svgcheck(&out, "compare_min", "--series 1 --name 'best so far'",
		       sum, sizeof(sum)));
	/* lower is better: the line only goes down the page's y, i.e. up */
	CHECK(monotone(series_d(out.p), 1));
	CHECK(strstr(out.p, "best: sweep-012 = 0.5") != NULL);
	CHECK(strstr(out.p, "3 failed or without a value") != NULL);
	CHECK(strstr(out.p, "1 still going") != NULL);
	CHECK(strstr(out.p, "8 with a value") != NULL);
	CHECK(count(out.p, "class=\"marker\"") == 4);    /* 3 + legend */
	buf_reset(&out);
	CHECK(plot_compare_svg(&out, "sweep lr: accuracy", "accuracy", 0,
			       runs, 12) == TFS_OK);
	CHECK(svgcheck(&out, "compare_max", "--series 1", sum, sizeof(sum)));
	CHECK(monotone(series_d(out.p), 0));
	CHECK(strstr(out.p, "best: sweep-001 = 5") != NULL);
	buf_release(&out);
}

/* Many trials of a Branin-like objective: log y, small markers. */
static void test_compare_many(void)
{
	static struct plot_run runs[300];
	static char names[300][16];
	struct buf out = BUF_INIT(0);
	unsigned s = 12345;
	char sum[256];
	int i;

	for (i = 0; i < 300; i++) {
		double u;

		s = s * 1103515245u + 12345u;
		u = (double)(s >> 8) / (double)(1u << 24);
		snprintf(names[i], sizeof(names[i]), "branin-%03d", i + 1);
		runs[i] = (struct plot_run){ names[i],
			0.397887 + 300 * u * u * u * (1.0 - i / 400.0),
			i % 37 == 5 ? PLOT_RUN_NONE : PLOT_RUN_OK };
	}
	CHECK(plot_compare_svg(&out, "branin: 300 trials", "value", 1, runs,
			       300) == TFS_OK);
	CHECK(svgcheck(&out, "compare_many", "--series 1", sum, sizeof(sum)));
	CHECK(strstr(out.p, "(log scale)") != NULL);
	CHECK(monotone(series_d(out.p), 1));
	buf_release(&out);
}

int main(void)
{
	const char *keep = getenv("TEST_PLOT_KEEP");

	if (keep && *keep) {
		snprintf(dir, sizeof(dir), "%s", keep);
	} else {
		snprintf(dir, sizeof(dir), "/tmp/test_plot.XXXXXX");
		if (!mkdtemp(dir))
			abort();
	}
	if (system("python3 -c 'import xml.etree.ElementTree' 2>/dev/null")) {
		printf("SKIP svgcheck: python3 with xml.etree is missing\n");
		no_python = 1;
	}
	test_lines();
	test_escaping();
	test_nonfinite();
	test_empty();
	test_degenerate();
	test_bounds();
	test_reduce();
	test_panels();
	test_compare();
	test_compare_many();
	if (!keep || !*keep) {
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		if (system(cmd))
			fprintf(stderr, "could not remove %s\n", dir);
	}
	return TEST_REPORT();
}
