#include "svg_plot.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

// Okabe and Ito's palette, ordered so that the first colours differ most; yellow comes last
// because it barely shows on white.
static const char *const palette[] = {"#0072B2", "#D55E00", "#009E73", "#E69F00",
                                      "#CC79A7", "#56B4E9", "#000000", "#F0E442"};

static const char *color(int i) {
    return palette[i % (int)(sizeof palette / sizeof *palette)];
}

typedef struct {
    double min, max;
} Range;

typedef struct {
    Range x, y;
    int width, height;
    int extra;    // pixels added below the plot area for slanted category labels
    bool x_whole; // x ticks at whole numbers only
} Frame;

typedef enum { LEGEND_POINT, LEGEND_LINE, LEGEND_BOX } LegendKind;

#define CHAR_WIDTH  7 // a generous estimate of a 12px sans-serif character's width
#define CLIP_MARGIN 6 // data is drawn this far beyond the plot area before being clipped
#define LEGEND_ROW  18
#define GRID_COLOR  "#e0e0e0"

PlotSpec plot_spec(const char *title, const char *x_label, const char *y_label) {
    return (PlotSpec){title, x_label, y_label, NAN, NAN, NAN, NAN, false};
}

static void extend(Range *r, double v) {
    if (!isfinite(v)) return;
    r->min = fmin(r->min, v);
    r->max = fmax(r->max, v);
}

// The axis limits from the caller's fixed ones and the data's extremes (empty when min > max).
static Range resolve(Range data, double fixed_min, double fixed_max, bool keep_zero) {
    if (!(data.min <= data.max)) data = (Range){0, 1};
    double pad = 0.05 * (data.max - data.min);
    Range r = {isfinite(fixed_min) ? fixed_min : data.min - (keep_zero && data.min == 0 ? 0 : pad),
               isfinite(fixed_max) ? fixed_max : data.max + (keep_zero && data.max == 0 ? 0 : pad)};
    if (!(r.max > r.min)) {
        double half = r.min != 0 ? 0.1 * fabs(r.min) : 1;
        r.max = r.min + half;
        r.min -= half;
    }
    return r;
}

static double tick_step(double min, double max) {
    double raw = (max - min) / 5;
    double scale = pow(10, floor(log10(raw)));
    double f = raw / scale;
    return scale * (f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10);
}

// Every multiple of step inside [min, max], at most max_ticks of them.
static int ticks_at(double min, double max, double step, double *ticks, int max_ticks) {
    int n = 0;
    // Ticks are k * step so that rounding does not accumulate along the axis.
    for (double k = ceil(min / step - 1e-9); k <= floor(max / step + 1e-9) && n < max_ticks; k++)
        ticks[n++] = k == 0 ? 0 : k * step;
    return n;
}

int plot_ticks(double min, double max, double *ticks, int max_ticks) {
    if (!isfinite(min) || !isfinite(max) || !(max > min)) return 0;
    double step = tick_step(min, max);
    if (!(step > 0) || !isfinite(step)) return 0;
    return ticks_at(min, max, step, ticks, max_ticks);
}

static void tick_label(char *buf, size_t size, double v, double step) {
    int decimals = (int)fmax(0, -floor(log10(step) + 1e-9));
    if (decimals > 6 || fabs(v) >= 1e6)
        snprintf(buf, size, "%.3g", v);
    else
        snprintf(buf, size, "%.*f", decimals, v);
}

// Pixel coordinates rounded to what "%.2f" shows, with no -0.00, and bounded so that data far
// beyond fixed limits still gives plain numbers (it is clipped anyway).
static double px(double v) {
    v = round(fmin(fmax(v, -1e6), 1e6) * 100) / 100;
    return v == 0 ? 0 : v;
}

static double map_x(const Frame *f, double x) {
    return px(PLOT_LEFT + (x - f->x.min) / (f->x.max - f->x.min) * (PLOT_RIGHT - PLOT_LEFT));
}

static double map_y(const Frame *f, double y) {
    return px(PLOT_BOTTOM - (y - f->y.min) / (f->y.max - f->y.min) * (PLOT_BOTTOM - PLOT_TOP));
}

// Characters in UTF-8 text: what its width on screen scales with.
static int text_chars(const char *s) {
    int n = 0;
    for (; s && *s; s++) n += ((unsigned char)*s & 0xC0) != 0x80;
    return n;
}

static int max_int(int a, int b) {
    return a > b ? a : b;
}

static Frame frame(Range x, Range y, int longest_name, int extra) {
    int legend = longest_name ? 16 + 24 + CHAR_WIDTH * longest_name + 12 : 20;
    return (Frame){x, y, PLOT_RIGHT + legend, PLOT_BOTTOM + 60 + extra, extra, false};
}

static void text_at(TextBuffer *b, double x, double y, const char *anchor, const char *s) {
    text_append(b, "<text x=\"%.2f\" y=\"%.2f\" text-anchor=\"%s\">", px(x), px(y), anchor);
    text_append_escaped(b, s ? s : "");
    text_append(b, "</text>\n");
}

// A grid line and a label at each tick of one axis ('x' or 'y').
static void grid(TextBuffer *b, const Frame *f, char axis) {
    Range r = axis == 'x' ? f->x : f->y;
    double ticks[PLOT_MAX_TICKS], step = tick_step(r.min, r.max);
    int n = plot_ticks(r.min, r.max, ticks, PLOT_MAX_TICKS);
    if (axis == 'x' && f->x_whole && n > 0 && step < 1) {
        step = 1;
        n = ticks_at(r.min, r.max, step, ticks, PLOT_MAX_TICKS);
    }
    for (int i = 0; i < n; i++) {
        char label[32];
        tick_label(label, sizeof label, ticks[i], step);
        if (axis == 'x') {
            double x = map_x(f, ticks[i]);
            text_append(b, "<line x1=\"%.2f\" x2=\"%.2f\" y1=\"%d\" y2=\"%d\" stroke=\"%s\"/>\n", x,
                        x, PLOT_TOP, PLOT_BOTTOM, GRID_COLOR);
            text_at(b, x, PLOT_BOTTOM + 18, "middle", label);
        } else {
            double y = map_y(f, ticks[i]);
            text_append(b, "<line x1=\"%d\" x2=\"%d\" y1=\"%.2f\" y2=\"%.2f\" stroke=\"%s\"/>\n",
                        PLOT_LEFT, PLOT_RIGHT, y, y, GRID_COLOR);
            text_at(b, PLOT_LEFT - 6, y + 4, "end", label);
        }
    }
}

// The svg element's start, background, title, axis labels, grid with tick labels (x ticks
// unless the x axis holds categories) and the plot area's frame.
static void open_plot(TextBuffer *b, const Frame *f, const PlotSpec *spec, bool x_ticks) {
    text_append(b,
                "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"12\">\n",
                f->width, f->height, f->width, f->height);
    text_append(b, "<rect width=\"%d\" height=\"%d\" fill=\"#ffffff\"/>\n", f->width, f->height);
    text_append(b,
                "<text x=\"%d\" y=\"24\" text-anchor=\"middle\" font-size=\"15\" "
                "font-weight=\"bold\">",
                (PLOT_LEFT + PLOT_RIGHT) / 2);
    text_append_escaped(b, spec->title ? spec->title : "");
    text_append(b, "</text>\n");
    text_at(b, (PLOT_LEFT + PLOT_RIGHT) / 2.0, PLOT_BOTTOM + 44 + f->extra, "middle",
            spec->x_label);
    text_append(b, "<text transform=\"translate(18 %d) rotate(-90)\" text-anchor=\"middle\">",
                (PLOT_TOP + PLOT_BOTTOM) / 2);
    text_append_escaped(b, spec->y_label ? spec->y_label : "");
    text_append(b, "</text>\n");

    grid(b, f, 'y');
    if (x_ticks) grid(b, f, 'x');
    text_append(b,
                "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"none\" "
                "stroke=\"#444444\"/>\n",
                PLOT_LEFT, PLOT_TOP, PLOT_RIGHT - PLOT_LEFT, PLOT_BOTTOM - PLOT_TOP);
    // A nested svg clips what is drawn inside to its viewport without needing an id (ids
    // would collide between plots inlined into one page); its viewBox keeps the outer
    // coordinates.
    int x0 = PLOT_LEFT - CLIP_MARGIN, y0 = PLOT_TOP - CLIP_MARGIN;
    int w = PLOT_RIGHT - PLOT_LEFT + 2 * CLIP_MARGIN, h = PLOT_BOTTOM - PLOT_TOP + 2 * CLIP_MARGIN;
    text_append(b,
                "<svg x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" viewBox=\"%d %d %d %d\" "
                "overflow=\"hidden\">\n",
                x0, y0, w, h, x0, y0, w, h);
}

// Row *row of the legend for series i, when it has a name.
static void legend_entry(TextBuffer *b, LegendKind kind, const char *name, int i, int *row) {
    if (!name || !*name) return;
    int x = PLOT_RIGHT + 16, y = PLOT_TOP + 8 + LEGEND_ROW * (*row)++;
    if (kind == LEGEND_POINT)
        text_append(b, "<circle cx=\"%d\" cy=\"%d\" r=\"4\" fill=\"%s\"/>\n", x + 8, y, color(i));
    else if (kind == LEGEND_LINE)
        text_append(b,
                    "<line x1=\"%d\" x2=\"%d\" y1=\"%d\" y2=\"%d\" stroke=\"%s\" "
                    "stroke-width=\"2\"/>\n",
                    x, x + 16, y, y, color(i));
    else
        text_append(b, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"12\" fill=\"%s\"/>\n", x + 2,
                    y - 6, color(i));
    text_at(b, x + 24, y + 4, "start", name);
}

static bool drawable(const PlotSeries *s, int i, bool band) {
    return isfinite(s->x[i]) && isfinite(s->y[i]) &&
           (!band || (isfinite(s->lo[i]) && isfinite(s->hi[i])));
}

// Calls draw on each maximal run [i, j) of points that are drawable (with their band).
static void for_runs(TextBuffer *b, const Frame *f, const PlotSeries *s, bool band,
                     void (*draw)(TextBuffer *, const Frame *, const PlotSeries *, int, int)) {
    for (int i = 0; i < s->n;) {
        if (!drawable(s, i, band)) {
            i++;
            continue;
        }
        int j = i;
        while (j < s->n && drawable(s, j, band)) j++;
        draw(b, f, s, i, j);
        i = j;
    }
}

// One "x,y" of an svg points list, space-separated from the previous one.
static void point(TextBuffer *b, const Frame *f, double x, double y, bool first) {
    text_append(b, "%s%.2f,%.2f", first ? "" : " ", map_x(f, x), map_y(f, y));
}

static void draw_band(TextBuffer *b, const Frame *f, const PlotSeries *s, int i, int j) {
    text_append(b, "<polygon fill-opacity=\"0.2\" stroke=\"none\" points=\"");
    for (int k = i; k < j; k++) point(b, f, s->x[k], s->hi[k], k == i);
    for (int k = j - 1; k >= i; k--) point(b, f, s->x[k], s->lo[k], false);
    text_append(b, "\"/>\n");
}

static void draw_line(TextBuffer *b, const Frame *f, const PlotSeries *s, int i, int j) {
    if (j - i < 2) return; // a lone point shows by its marker
    text_append(b, "<polyline fill=\"none\" stroke-width=\"2\" points=\"");
    for (int k = i; k < j; k++) point(b, f, s->x[k], s->y[k], k == i);
    text_append(b, "\"/>\n");
}

static void draw_points(TextBuffer *b, const Frame *f, const PlotSeries *s, int i, int j) {
    for (int k = i; k < j; k++)
        text_append(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>\n", map_x(f, s->x[k]),
                    map_y(f, s->y[k]));
}

static void draw_markers(TextBuffer *b, const Frame *f, const PlotSeries *s, int i, int j) {
    for (int k = i; k < j; k++)
        text_append(b, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"2.5\" stroke=\"none\"/>\n",
                    map_x(f, s->x[k]), map_y(f, s->y[k]));
}

static void xy_plot(TextBuffer *b, const PlotSpec *spec, const PlotSeries *series, int n_series,
                    bool lines) {
    Range x = {INFINITY, -INFINITY}, y = {INFINITY, -INFINITY};
    int longest = 0;
    for (int s = 0; s < n_series; s++) {
        const PlotSeries *p = &series[s];
        for (int i = 0; i < p->n; i++) {
            extend(&x, p->x[i]);
            extend(&y, p->y[i]);
            if (lines && p->lo && p->hi) {
                extend(&y, p->lo[i]);
                extend(&y, p->hi[i]);
            }
        }
        longest = max_int(longest, text_chars(p->name));
    }
    Frame f = frame(resolve(x, spec->x_min, spec->x_max, false),
                    resolve(y, spec->y_min, spec->y_max, false), longest, 0);
    f.x_whole = spec->x_whole;
    open_plot(b, &f, spec, true);
    for (int s = 0; s < n_series; s++) {
        const PlotSeries *p = &series[s];
        if (lines) {
            text_append(b, "<g fill=\"%s\" stroke=\"%s\">\n", color(s), color(s));
            if (p->lo && p->hi) for_runs(b, &f, p, true, draw_band);
            for_runs(b, &f, p, false, draw_line);
            for_runs(b, &f, p, false, draw_markers);
        } else {
            text_append(b, "<g fill=\"%s\" fill-opacity=\"0.7\">\n", color(s));
            for_runs(b, &f, p, false, draw_points);
        }
        text_append(b, "</g>\n");
    }
    text_append(b, "</svg>\n");
    int row = 0;
    for (int s = 0; s < n_series; s++)
        legend_entry(b, lines ? LEGEND_LINE : LEGEND_POINT, series[s].name, s, &row);
    text_append(b, "</svg>\n");
}

void svg_scatter(TextBuffer *b, const PlotSpec *spec, const PlotSeries *series, int n_series) {
    xy_plot(b, spec, series, n_series, false);
}

void svg_lines(TextBuffer *b, const PlotSpec *spec, const PlotSeries *series, int n_series) {
    xy_plot(b, spec, series, n_series, true);
}

void svg_bars(TextBuffer *b, const PlotSpec *spec, const char *const *categories, int n_categories,
              const BarSeries *series, int n_series) {
    Range y = {0, 0}; // bars stand on 0
    int longest = 0;
    for (int s = 0; s < n_series; s++) {
        for (int c = 0; c < n_categories; c++) {
            double v = series[s].value[c], sd = series[s].std ? series[s].std[c] : NAN;
            extend(&y, v);
            if (isfinite(v) && isfinite(sd)) {
                extend(&y, v - sd);
                extend(&y, v + sd);
            }
        }
        longest = max_int(longest, text_chars(series[s].name));
    }
    double group = (double)(PLOT_RIGHT - PLOT_LEFT) / (n_categories > 0 ? n_categories : 1);
    int label_chars = 0;
    for (int c = 0; c < n_categories; c++)
        label_chars = max_int(label_chars, text_chars(categories[c]));
    // Labels wider than their group are slanted by 35 degrees, which needs sin(35) of their
    // length below the axis.
    bool slant = label_chars * CHAR_WIDTH > group - 4;
    int extra = slant ? (int)ceil(0.58 * CHAR_WIDTH * label_chars) : 0;
    Frame f = frame((Range){0, 1}, resolve(y, spec->y_min, spec->y_max, true), longest, extra);
    open_plot(b, &f, spec, false);

    double base = map_y(&f, fmin(fmax(0, f.y.min), f.y.max));
    double width = 0.8 * group / (n_series > 0 ? n_series : 1);
    for (int s = 0; s < n_series; s++) {
        text_append(b, "<g fill=\"%s\">\n", color(s));
        for (int c = 0; c < n_categories; c++) {
            double v = series[s].value[c], sd = series[s].std ? series[s].std[c] : NAN;
            if (!isfinite(v)) continue;
            double x = px(PLOT_LEFT + c * group + 0.1 * group + s * width), top = map_y(&f, v);
            text_append(b, "<rect x=\"%.2f\" y=\"%.2f\" width=\"%.2f\" height=\"%.2f\"><title>", x,
                        fmin(top, base), px(width), px(fabs(base - top)));
            text_append_escaped(b, categories[c]);
            if (series[s].name && *series[s].name) {
                text_append(b, ", ");
                text_append_escaped(b, series[s].name);
            }
            text_append(b, ": %.4g", v);
            if (isfinite(sd) && sd != 0) text_append(b, " \xC2\xB1 %.4g", sd); // plus-minus
            text_append(b, "</title></rect>\n");
            if (isfinite(sd) && sd != 0) {
                double mid = px(x + width / 2), cap = px(fmin(0.2 * width, 5));
                double lo = map_y(&f, v - sd), hi = map_y(&f, v + sd);
                text_append(b,
                            "<path stroke=\"#222222\" d=\"M%.2f %.2fV%.2fM%.2f %.2fH%.2fM%.2f "
                            "%.2fH%.2f\"/>\n",
                            mid, lo, hi, px(mid - cap), lo, px(mid + cap), px(mid - cap), hi,
                            px(mid + cap));
            }
        }
        text_append(b, "</g>\n");
    }
    text_append(b, "</svg>\n");
    for (int c = 0; c < n_categories; c++) {
        double mid = PLOT_LEFT + (c + 0.5) * group;
        if (slant) {
            text_append(b,
                        "<text transform=\"translate(%.2f %d) rotate(-35)\" "
                        "text-anchor=\"end\">",
                        px(mid), PLOT_BOTTOM + 14);
            text_append_escaped(b, categories[c]);
            text_append(b, "</text>\n");
        } else {
            text_at(b, mid, PLOT_BOTTOM + 18, "middle", categories[c]);
        }
    }
    int row = 0;
    for (int s = 0; s < n_series; s++) legend_entry(b, LEGEND_BOX, series[s].name, s, &row);
    text_append(b, "</svg>\n");
}
