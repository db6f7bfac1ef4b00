// SVG plots for the analysis report: scatter plots (PCA projections per class), lines with
// error bands (discriminator accuracy per round, mean +- std over repeats) and grouped bars
// with error bars (a metric per swept value). Each plot is appended to a TextBuffer as one
// standalone <svg> element (xmlns, viewBox, width and height set, no fonts, scripts or ids),
// valid both as a .svg file and inlined in HTML. The same input gives the same bytes.
//
// Geometry, fixed so that plots share a layout and tests can compute pixel positions: the
// plot area spans x in [PLOT_LEFT, PLOT_RIGHT] and y in [PLOT_TOP, PLOT_BOTTOM] pixels of the
// svg's user space, and a value (x, y) lands at
//     px = PLOT_LEFT + (x - x_min) / (x_max - x_min) * (PLOT_RIGHT - PLOT_LEFT)
//     py = PLOT_BOTTOM - (y - y_min) / (y_max - y_min) * (PLOT_BOTTOM - PLOT_TOP)
// written with two decimals ("%.2f", -0.00 written as 0.00). Data beyond fixed limits is
// clipped a few pixels outside the plot area. The legend sits right of the plot area; the
// svg is as wide as its longest legend entry needs (PLOT_RIGHT + 20 without a legend) and
// PLOT_BOTTOM + 60 high, more for bar labels too long to stand upright.
#ifndef ARE_SVG_PLOT_H
#define ARE_SVG_PLOT_H

#include "text_buffer.h"

#include <stdbool.h>

#define PLOT_LEFT      70
#define PLOT_RIGHT     550
#define PLOT_TOP       40
#define PLOT_BOTTOM    340
#define PLOT_MAX_TICKS 16

// What every plot shows besides its data. A NaN limit comes from the data: its extreme over
// the finite values, moved out by 5% of the data's span (bars: the value axis always holds
// 0, and a limit at 0 is not moved). Limits that leave no room (min >= max, one value, no
// finite data) are widened around the lower one. Give all four limits to make several plots
// share their axes (one plot per stored round). Text is plain UTF-8; the plot escapes it.
typedef struct {
    const char *title, *x_label, *y_label;
    double x_min, x_max, y_min, y_max; // bars ignore x_min and x_max
    bool x_whole;                      // x ticks at whole numbers only (rounds); bars ignore it
} PlotSpec;

// A PlotSpec with the given texts, every limit NaN (from the data) and any x ticks.
PlotSpec plot_spec(const char *title, const char *x_label, const char *y_label);

// One named set of points. Colours follow the series' order in a fixed colour-blind-safe
// palette (Okabe and Ito), repeating after 8.
typedef struct {
    const char *name; // legend entry; NULL or "" leaves the series out of the legend
    int n;
    const double *x, *y;   // [n]; a point with a non-finite coordinate is not drawn
    const double *lo, *hi; // [n] or NULL, lines only: a band from lo to hi around y
} PlotSeries;

// One bar per category and series, grouped by category.
typedef struct {
    const char *name;    // legend entry; NULL or "" leaves the series out of the legend
    const double *value; // [n_categories]; non-finite: no bar
    const double *std;   // [n_categories] or NULL; non-finite or 0: no error bar (value +- std)
} BarSeries;

// A circle of radius 3 per point: <circle cx="px" cy="py" r="3"/> inside each series' <g>.
void svg_scatter(TextBuffer *b, const PlotSpec *spec, const PlotSeries *series, int n_series);

// A polyline per run of points with finite x and y, drawn in the given order (a non-finite y
// makes a gap), a circle of radius 2.5 per point, and where lo and hi are given a translucent
// band over each run where x, y, lo and hi are all finite.
void svg_lines(TextBuffer *b, const PlotSpec *spec, const PlotSeries *series, int n_series);

// Bars from 0 (or the nearest limit) to each value; category c's group spans
// [PLOT_LEFT + c * w, PLOT_LEFT + (c + 1) * w] with w = (PLOT_RIGHT - PLOT_LEFT) / n_categories,
// its bars side by side in the middle 80%. Each bar carries a <title> tooltip with its numbers.
void svg_bars(TextBuffer *b, const PlotSpec *spec, const char *const *categories, int n_categories,
              const BarSeries *series, int n_series);

// The tick values inside [min, max]: every multiple of a step of 1, 2 or 5 x 10^k chosen so
// that about 5 ticks fall in the range, in increasing order. Writes at most max_ticks of them
// and returns how many; 0 when the range is empty or not finite.
int plot_ticks(double min, double max, double *ticks, int max_ticks);

#endif
