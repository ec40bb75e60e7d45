/*
 * plot.h - charts as SVG text, for the files people look at rather than
 * read: a run's metrics.svg, an experiment's and a sweep's compare.svg.
 * Pure functions: they build text into a struct buf, with no I/O, no
 * locks and no state; a browser, an image viewer or an editor's preview
 * renders what they write.
 *
 * Every chart is a fixed 900 pixels wide, on a white background, with the
 * Okabe-Ito palette (safe for the common colour blindnesses; past its
 * seven colours the lines repeat them dashed, then dotted). Axes get
 * "nice" ticks (1, 2 or 5 times a power of ten, the axis widened to whole
 * ticks); a y axis becomes logarithmic by itself when all its values are
 * positive and span more than two decades (a loss falling from 10 to
 * 0.01), and says so in its label. Non-finite values are skipped. All
 * text is XML-escaped, and bytes that XML cannot carry (control bytes,
 * broken UTF-8) become '?'.
 *
 * For tests and tools, the structure is marked: each plot area is a
 * <g class="panel"> holding one <rect class="area"> (the axes' box) and
 * the panel's <path class="series"> elements (one per series, always, its
 * d empty when the series has no finite point) and markers (<circle> and
 * <path class="marker">), all inside that box. Path data use only
 * absolute M and L commands.
 */
#ifndef TFS_PLOT_H
#define TFS_PLOT_H

#include <stddef.h>

#include "buf.h"

#define PLOT_WIDTH 900
#define PLOT_SERIES_MAX 64       /* series (or panels) of one chart */
#define PLOT_POINTS_MAX 2000     /* drawn per series; longer: bucketed */
#define PLOT_RUNS_MAX 10000      /* runs of one comparison chart */
/* bound on one chart's text: what the limits above can produce, and room */
#define PLOT_SVG_MAX (4u << 20)

struct plot_point {
	double x, y;
};

/* A named series; pts borrowed, in any order (drawn sorted by x). */
struct plot_series {
	const char *name;
	const struct plot_point *pts;
	size_t n;
};

/*
 * One chart: every series on the same axes, a legend on the right when
 * there is more than one. title, xlabel and ylabel may be NULL or "".
 * Appends the SVG to out. Returns TFS_OK; TFS_EFBIG for more than
 * PLOT_SERIES_MAX series or when the text would pass PLOT_SVG_MAX or
 * out's own bound; TFS_ENOMEM. On error out is as it was.
 * No series, or none with a finite point: a chart-less SVG that says so.
 */
int plot_lines_svg(struct buf *out, const char *title, const char *xlabel,
		   const char *ylabel, const struct plot_series *s,
		   size_t ns);

/*
 * Small multiples: one panel per series, each with its own y axis (a
 * learning rate of 5e-05 and a loss of 2.3 are both readable) and all
 * with the same x range, the series' name, colour and last value (of the
 * input order) above it, in a grid of one to three columns. Returns as
 * plot_lines_svg().
 */
int plot_panels_svg(struct buf *out, const char *title, const char *xlabel,
		    const struct plot_series *s, size_t ns);

/* What a run contributes to a comparison. */
enum plot_run_kind {
	PLOT_RUN_NONE = 0,      /* failed, or no value: a mark on the x axis */
	PLOT_RUN_OK = 1,        /* a final value: a point, and may be best */
	PLOT_RUN_PARTIAL = 2,   /* a value so far (running, stopped early):
				   a hollow point, never the best */
};

/* name borrowed; ok is an enum plot_run_kind (0: failed or no value). */
struct plot_run {
	const char *name;
	double value;
	int ok;
};

/*
 * A comparison: run i (0-based) at x = i + 1, its value as a point, the
 * best so far among PLOT_RUN_OK runs as a step line (the lowest when
 * minimize, else the highest), the best run ringed and labelled with its
 * name and value, runs without a value as crosses on the x axis, and a
 * legend with the counts. metric labels the y axis. A non-finite value
 * counts as none. Returns TFS_OK; TFS_EFBIG past PLOT_RUNS_MAX runs or
 * the bounds of plot_lines_svg(); TFS_ENOMEM. No runs: an SVG saying so.
 */
int plot_compare_svg(struct buf *out, const char *title, const char *metric,
		     int minimize, const struct plot_run *runs, size_t n);

/* A chart-less SVG: the title, and msg centred (both may be NULL). */
int plot_message_svg(struct buf *out, const char *title, const char *msg);

/*
 * Min/max buckets over a known x range, to thin a long series in bounded
 * memory while keeping its spikes: a point adds to the bucket of its x,
 * which keeps its lowest and its highest point. For a caller that cannot
 * hold every point (a history read from the store).
 */
struct plot_reduce {
	double x0, x1;
	size_t nb;
	struct plot_bucket *b;       /* nb of them */
};
/* TFS_OK or TFS_ENOMEM; nb >= 1; x outside [x0, x1] is clamped. */
int plot_reduce_init(struct plot_reduce *r, double x0, double x1, size_t nb);
/* Non-finite x or y: skipped. */
void plot_reduce_add(struct plot_reduce *r, double x, double y);
/*
 * Writes the kept points, sorted by x, to out (room for 2 * nb) and
 * returns how many.
 */
size_t plot_reduce_points(const struct plot_reduce *r,
			  struct plot_point *out);
void plot_reduce_release(struct plot_reduce *r);

#endif
