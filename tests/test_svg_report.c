// SVG plots and the HTML report: pixel positions from the mapping documented in svg_plot.h
// (fixed and automatic limits), nice ticks for known ranges, gaps at NaN, bar and error-bar
// geometry, escaping of markup in every text, well-formed output without nan/inf, the same
// bytes twice, and the report's structure, atomic write and errors. Given an output path
// (argv[1]), it also writes a sample report there with its figure and table files, which
// tests/check_report.py then renders in a browser (ctest report_render).
#include "check.h"
#include "html_report.h"
#include "svg_plot.h"
#include "table.h"
#include "text_buffer.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int count(const char *text, const char *needle) {
    int n = 0;
    for (const char *p = strstr(text, needle); p; p = strstr(p + 1, needle)) n++;
    return n;
}

static bool contains(const char *text, const char *needle) {
    return strstr(text, needle);
}

// The documented mapping, written out independently of the plot code.
static void expect_point(char *buf, size_t size, const char *fmt, double x, double y, double x0,
                         double x1, double y0, double y1) {
    double px = PLOT_LEFT + (x - x0) / (x1 - x0) * (PLOT_RIGHT - PLOT_LEFT);
    double py = PLOT_BOTTOM - (y - y0) / (y1 - y0) * (PLOT_BOTTOM - PLOT_TOP);
    snprintf(buf, size, fmt, px, py);
}

// Well-formed enough for a browser and an XML parser: one root svg with the namespace, tags
// balanced, no raw markup characters from the data, no non-finite numbers.
static void check_svg_shape(const char *what, const char *svg) {
    CHECK(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"", 47) == 0,
          "%s: starts with <svg xmlns=...: %.60s", what, svg);
    CHECK(count(svg, "<svg") == count(svg, "</svg>"), "%s: %d <svg but %d </svg>", what,
          count(svg, "<svg"), count(svg, "</svg>"));
    CHECK(count(svg, "<g") == count(svg, "</g>"), "%s: unbalanced <g>", what);
    CHECK(count(svg, "<text") == count(svg, "</text>"), "%s: unbalanced <text>", what);
    size_t n = strlen(svg);
    CHECK(n > 6 && strcmp(svg + n - 7, "</svg>\n") == 0, "%s: ends with </svg>", what);
    const char *bad[] = {"nan", "inf", "NAN", "INF", "-0.00\""};
    for (int i = 0; i < 5; i++) CHECK(!contains(svg, bad[i]), "%s: contains %s", what, bad[i]);
}

static void test_ticks(void) {
    struct {
        double min, max;
        int n;
        double want[10];
    } cases[] = {
        {0, 1, 6, {0, 0.2, 0.4, 0.6, 0.8, 1}},
        {-3, 250, 6, {0, 50, 100, 150, 200, 250}},
        {0.013, 0.087, 7, {0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08}},
        {0, 7.3, 8, {0, 1, 2, 3, 4, 5, 6, 7}},
        {-1, 1, 5, {-1, -0.5, 0, 0.5, 1}},
        {-0.5, 10.5, 6, {0, 2, 4, 6, 8, 10}},
        {1e6, 1.00001e6, 6, {1e6, 1.000002e6, 1.000004e6, 1.000006e6, 1.000008e6, 1.00001e6}},
    };
    for (size_t c = 0; c < sizeof cases / sizeof *cases; c++) {
        double got[PLOT_MAX_TICKS];
        int n = plot_ticks(cases[c].min, cases[c].max, got, PLOT_MAX_TICKS);
        CHECK(n == cases[c].n, "ticks in [%g, %g]: %d, expected %d", cases[c].min, cases[c].max, n,
              cases[c].n);
        for (int i = 0; i < n && i < cases[c].n; i++)
            CHECK(fabs(got[i] - cases[c].want[i]) <= 1e-9 * fmax(1, fabs(cases[c].want[i])),
                  "tick %d in [%g, %g]: %.17g, expected %g", i, cases[c].min, cases[c].max, got[i],
                  cases[c].want[i]);
    }
    double got[PLOT_MAX_TICKS];
    CHECK(plot_ticks(1, 1, got, PLOT_MAX_TICKS) == 0, "an empty range has no ticks");
    CHECK(plot_ticks(NAN, 1, got, PLOT_MAX_TICKS) == 0, "a NaN range has no ticks");
    CHECK(plot_ticks(0, 1, got, 3) == 3, "max_ticks bounds the count");
}

static void test_scatter(void) {
    double x[] = {2.5, 20, NAN, 4}, y[] = {1, 1, 2, INFINITY};
    PlotSeries s[] = {{"harmful <&>", 4, x, y, NULL, NULL}};
    PlotSpec spec = {"PCA a<b & c", "PC 1", "PC 2", 0, 10, 0, 5, false};
    TextBuffer b = {0}, again = {0};
    svg_scatter(&b, &spec, s, 1);
    svg_scatter(&again, &spec, s, 1);
    const char *svg = text_str(&b);
    check_svg_shape("scatter", svg);
    CHECK(strcmp(svg, text_str(&again)) == 0, "the same scatter twice gives the same bytes");

    char want[96];
    // x in [0, 10] over 480 px, y in [0, 5] over 300 px: (2.5, 1) -> (190, 280).
    expect_point(want, sizeof want, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>", 2.5, 1, 0, 10, 0,
                 5);
    CHECK(strcmp(want, "<circle cx=\"190.00\" cy=\"280.00\" r=\"3\"/>") == 0, "mapping: %s", want);
    CHECK(contains(svg, want), "fixed limits: point (2.5, 1) at %s", want);
    // Beyond the fixed limit the point keeps the mapping (and is clipped by the viewport).
    expect_point(want, sizeof want, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>", 20, 1, 0, 10, 0,
                 5);
    CHECK(contains(svg, want), "a point beyond the limits keeps the mapping: %s", want);
    CHECK(count(svg, "r=\"3\"/>") == 2, "non-finite points are not drawn: %d circles",
          count(svg, "r=\"3\"/>"));
    // Fixed limits, not the data, decide the ticks: 0..10 by 2 and 0..5 by 1.
    CHECK(contains(svg, ">10</text>") && !contains(svg, ">12</text>") &&
              !contains(svg, ">20</text>"),
          "x ticks end at the fixed limit 10");
    CHECK(contains(svg, ">5</text>") && contains(svg, ">0</text>"), "y ticks 0..5");
    CHECK(contains(svg, "PCA a&lt;b &amp; c") && !contains(svg, "a<b"), "title escaped");
    CHECK(contains(svg, "harmful &lt;&amp;&gt;"), "legend escaped");
    text_free(&b);
    text_free(&again);

    // Automatic limits: the data's span padded by 5% each side, x [0, 10] -> [-0.5, 10.5] and
    // y [0, 100] -> [-5, 105]; one limit fixed keeps it exactly.
    double ax[] = {0, 10, 5}, ay[] = {0, 100, 50};
    PlotSeries a[] = {{"", 3, ax, ay, NULL, NULL}};
    PlotSpec auto_spec = plot_spec("auto", "x", "y");
    svg_scatter(&b, &auto_spec, a, 1);
    expect_point(want, sizeof want, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>", 0, 0, -0.5, 10.5,
                 -5, 105);
    CHECK(contains(text_str(&b), want), "automatic limits: (0, 0) at %s", want);
    CHECK(contains(text_str(&b), "width=\"570\""), "no legend for a series without name");
    text_free(&b);
    auto_spec.y_min = 0;
    svg_scatter(&b, &auto_spec, a, 1);
    expect_point(want, sizeof want, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>", 5, 50, -0.5, 10.5,
                 0, 105);
    CHECK(contains(text_str(&b), want), "fixed y_min, automatic y_max: (5, 50) at %s", want);
    text_free(&b);

    // One value only: the limits widen around it (by 10% of it) instead of dividing by 0.
    double one[] = {4};
    PlotSeries o[] = {{"one", 1, one, one, NULL, NULL}};
    auto_spec = plot_spec("one", "x", "y");
    svg_scatter(&b, &auto_spec, o, 1);
    check_svg_shape("one point", text_str(&b));
    expect_point(want, sizeof want, "<circle cx=\"%.2f\" cy=\"%.2f\" r=\"3\"/>", 4, 4, 3.6, 4.4,
                 3.6, 4.4);
    CHECK(contains(text_str(&b), want), "a single point at %s", want);
    text_free(&b);
    svg_scatter(&b, &auto_spec, NULL, 0);
    check_svg_shape("no series", text_str(&b));
    text_free(&b);
}

static void test_lines(void) {
    double x[] = {0, 1, 2, 3, 4}, y[] = {1, 2, NAN, 4, 5};
    double lo[] = {0.5, 1.5, NAN, 3.5, 4.5}, hi[] = {1.5, 2.5, NAN, 4.5, 5.5};
    double y2[] = {NAN, 3, NAN, NAN, NAN};
    PlotSeries s[] = {{"trained", 5, x, y, lo, hi}, {"fresh", 5, x, y2, NULL, NULL}};
    PlotSpec spec = {"accuracy", "round", "acc", 0, 4, 0, 5, false};
    TextBuffer b = {0};
    svg_lines(&b, &spec, s, 2);
    const char *svg = text_str(&b);
    check_svg_shape("lines", svg);
    CHECK(count(svg, "<polyline") == 2, "a NaN splits the line in two: %d polylines",
          count(svg, "<polyline"));
    CHECK(count(svg, "<polygon") == 2, "a NaN splits the band in two: %d polygons",
          count(svg, "<polygon"));
    CHECK(count(svg, "r=\"2.5\"") == 5, "a marker per finite point (4 + 1 lone): %d",
          count(svg, "r=\"2.5\""));
    char want[160];
    // The first run: (0, 1) (1, 2); its band runs along hi then back along lo.
    char p0[32], p1[32], l1[32], l0[32];
    expect_point(p0, sizeof p0, "%.2f,%.2f", 0, 1, 0, 4, 0, 5);
    expect_point(p1, sizeof p1, "%.2f,%.2f", 1, 2, 0, 4, 0, 5);
    snprintf(want, sizeof want, "points=\"%s %s\"", p0, p1);
    CHECK(contains(svg, want), "first run %s", want);
    expect_point(p0, sizeof p0, "%.2f,%.2f", 0, 1.5, 0, 4, 0, 5);
    expect_point(p1, sizeof p1, "%.2f,%.2f", 1, 2.5, 0, 4, 0, 5);
    expect_point(l1, sizeof l1, "%.2f,%.2f", 1, 1.5, 0, 4, 0, 5);
    expect_point(l0, sizeof l0, "%.2f,%.2f", 0, 0.5, 0, 4, 0, 5);
    snprintf(want, sizeof want, "points=\"%s %s %s %s\"", p0, p1, l1, l0);
    CHECK(contains(svg, want), "first band %s", want);
    CHECK(contains(svg, "stroke=\"#0072B2\"") && contains(svg, "stroke=\"#D55E00\""),
          "the first two palette colours");
    text_free(&b);
}

// Rounds are whole numbers: x_whole keeps the x ticks on them where the range would get halves.
static void test_whole_ticks(void) {
    double x[] = {0, 1, 2, 3}, y[] = {0.9, 0.8, 0.7, 0.6};
    PlotSeries s[] = {{"test", 4, x, y, NULL, NULL}};
    PlotSpec spec = {"accuracy", "round", "acc", 0, 3, 0, 1, false};
    TextBuffer halves = {0}, whole = {0};
    svg_lines(&halves, &spec, s, 1);
    spec.x_whole = true;
    svg_lines(&whole, &spec, s, 1);
    char tick[96];
    expect_point(tick, sizeof tick, "<line x1=\"%.2f\" x2=", 0.5, 0, 0, 3, 0, 1);
    CHECK(contains(text_str(&halves), tick), "a tick at 0.5 by default (%s)", tick);
    CHECK(!contains(text_str(&whole), tick), "no tick at 0.5 with x_whole");
    for (int k = 0; k <= 3; k++) {
        expect_point(tick, sizeof tick, "<line x1=\"%.2f\" x2=", k, 0, 0, 3, 0, 1);
        CHECK(contains(text_str(&whole), tick), "a tick at round %d with x_whole", k);
    }
    text_free(&halves);
    text_free(&whole);
}

// The y, width and height of the bar whose x is written as x with two decimals.
static bool find_rect(const char *svg, double x, double *y, double *w, double *h) {
    char prefix[48];
    snprintf(prefix, sizeof prefix, "<rect x=\"%.2f\" ", x);
    const char *p = strstr(svg, prefix);
    *y = *w = *h = NAN;
    return p && sscanf(p + strlen(prefix), "y=\"%lf\" width=\"%lf\" height=\"%lf\"", y, w, h) == 3;
}

static void test_bars(void) {
    const char *cats[] = {"rank 4", "rank <8>"};
    double v[] = {3, NAN}, sd[] = {1, 0.5};
    BarSeries s[] = {{"jailbreak", v, sd}};
    PlotSpec spec = {"refusal", "rank", "rate", NAN, NAN, 0, 6, false};
    TextBuffer b = {0};
    svg_bars(&b, &spec, cats, 2, s, 1);
    const char *svg = text_str(&b);
    check_svg_shape("bars", svg);
    // Two groups of 240 px, the bar the middle 80% of the first: x 94, width 192; 3 of [0, 6]
    // is half of 300 px high.
    CHECK(contains(svg, "<rect x=\"94.00\" y=\"190.00\" width=\"192.00\" height=\"150.00\">"),
          "bar geometry");
    // Error bar at the bar's middle (190) from 3-1 (y 240) to 3+1 (y 140).
    CHECK(contains(svg, "d=\"M190.00 240.00V140.00"), "error bar geometry");
    CHECK(count(svg, "<title>") == 1, "a NaN value draws no bar");
    CHECK(contains(svg, "rank &lt;8&gt;"), "category escaped");
    text_free(&b);

    // Automatic limits hold 0 without padding below it: values 2 and 4 give [0, 4.2];
    // negative values hang down from 0 at the top.
    double v2[] = {2, 4}, v3[] = {-2, -1};
    BarSeries two[] = {{"a", v2, NULL}, {"b", v3, NULL}};
    PlotSpec auto_spec = plot_spec("auto", "", "");
    svg_bars(&b, &auto_spec, cats, 2, two, 2);
    svg = text_str(&b);
    check_svg_shape("grouped bars", svg);
    // Limits [-2.3, 4.3] (span 6 padded by 0.3 on each side away from 0), so y(0) = 340 -
    // 2.3/6.6 * 300; series 0 in category 0: x 94 (width 96) from y(2) down to y(0); series 1:
    // x 190 from y(0) down to y(-2).
    double unit = 300 / 6.6, base = PLOT_BOTTOM - 2.3 * unit, y, w, h;
    CHECK(find_rect(svg, 94, &y, &w, &h) && fabs(y - (base - 2 * unit)) < 0.011 &&
              fabs(w - 96) < 0.011 && fabs(h - 2 * unit) < 0.011,
          "grouped bar: y %.2f height %.2f, expected %.2f %.2f", y, h, base - 2 * unit, 2 * unit);
    CHECK(find_rect(svg, 190, &y, &w, &h) && fabs(y - base) < 0.011 && fabs(h - 2 * unit) < 0.011,
          "negative bar: y %.2f height %.2f, expected %.2f %.2f", y, h, base, 2 * unit);
    text_free(&b);
}

// ---- the report ----

typedef struct {
    Table *tables[3];
    TextBuffer svg[4];
    ReportTable rt[3];
    ReportFigure fig[4];
    ReportSection sec[2];
} Sample;

static Table *sample_table(const char *title, int n_rows, int salt) {
    const char *header[] = {"task", "rank", "refusal rate", "disc. acc"};
    Table *t =
        table_new(title, "mean \xC2\xB1 std over 2 repeats; n/a: no finished trial", 4, header, 2);
    for (int r = 0; r < n_rows && t; r++) {
        char rank[16], rate[32], acc[32];
        snprintf(rank, sizeof rank, "%d", 4 << r);
        snprintf(rate, sizeof rate, "0.%03d \xC2\xB1 0.0%02d", 800 + 37 * r + salt, 31 + r);
        snprintf(acc, sizeof acc, r == 2 ? "n/a" : "0.%03d", 512 + 9 * r);
        const char *row[] = {r ? "" : "jailbreak <&>", rank, rate, acc};
        if (table_add_row(t, row)) {
            table_free(t);
            return NULL;
        }
    }
    return t;
}

static void sample_plots(TextBuffer svg[4]) {
    const char *cats[] = {"4", "8", "16"};
    double v0[] = {0.81, 0.74, 0.62}, s0[] = {0.03, 0.05, 0.04};
    double v1[] = {0.12, 0.2, NAN}, s1[] = {0.02, 0, NAN};
    BarSeries bars[] = {{"jailbreak", v0, s0}, {"defense", v1, s1}};
    PlotSpec spec = plot_spec("Refusal rate by LoRA rank", "are.generator.rank", "refusal rate");
    spec.y_min = 0;
    svg_bars(&svg[0], &spec, cats, 3, bars, 2);

    double round[] = {0, 1, 2, 3, 4, 5}, acc[] = {0.98, 0.9, 0.77, NAN, 0.58, 0.52};
    double lo[6], hi[6], fresh[] = {0.99, 0.95, 0.85, 0.7, 0.66, 0.6};
    for (int i = 0; i < 6; i++) {
        lo[i] = acc[i] - 0.04;
        hi[i] = acc[i] + 0.04;
    }
    PlotSeries lines[] = {{"trained discriminator", 6, round, acc, lo, hi},
                          {"fresh discriminator", 6, round, fresh, NULL, NULL}};
    spec = (PlotSpec){"Discriminator accuracy per round", "round", "accuracy", 0, 5, 0.4, 1, false};
    svg_lines(&svg[1], &spec, lines, 2);

    // Two stored rounds on shared axes: the classes drift together.
    enum { N = 40 };
    double hx[N], hy[N], sx[N], sy[N];
    for (int r = 0; r < 2; r++) {
        double gap = r ? 0.4 : 3;
        for (int i = 0; i < N; i++) {
            double a = 0.7 * i, rad = 0.3 + 0.02 * i;
            hx[i] = gap + rad * cos(a);
            hy[i] = rad * sin(a);
            sx[i] = -gap + rad * sin(a);
            sy[i] = rad * cos(a);
        }
        PlotSeries pts[] = {{"harmful", N, hx, hy, NULL, NULL},
                            {"harmless", N, sx, sy, NULL, NULL}};
        char title[64];
        snprintf(title, sizeof title, "PCA of layer 4, round %d", r ? 5 : 0);
        spec = (PlotSpec){title, "PC 1", "PC 2", -4.5, 4.5, -1.5, 1.5, false};
        svg_scatter(&svg[2 + r], &spec, pts, 2);
    }
}

static int sample_build(Sample *s) {
    memset(s, 0, sizeof *s);
    s->tables[0] = sample_table("jailbreak: by are.generator.rank", 3, 0);
    s->tables[1] = sample_table("defense: by are.generator.rank", 2, 50);
    s->tables[2] = sample_table("defense: failed trials", 0, 0);
    if (!s->tables[0] || !s->tables[1] || !s->tables[2]) return -1;
    sample_plots(s->svg);
    s->rt[0] = (ReportTable){s->tables[0], "jailbreak_rank.csv", "jailbreak_rank.tex", NULL};
    s->rt[1] = (ReportTable){s->tables[1], "defense_rank.csv", NULL, "defense_rank.md"};
    s->rt[2] = (ReportTable){s->tables[2], NULL, NULL, NULL};
    const char *titles[] = {"Refusal rate by rank", "Discriminator accuracy", "PCA, round 0",
                            "PCA, round 5"};
    const char *files[] = {"refusal_rank.svg", "disc_acc.svg", "pca_r0.svg", "pca_r5.svg"};
    for (int i = 0; i < 4; i++)
        s->fig[i] = (ReportFigure){titles[i], i == 1 ? "Mean \xC2\xB1 std over 2 trials." : NULL,
                                   text_str(&s->svg[i]), files[i]};
    s->sec[0] = (ReportSection){"jailbreak",
                                "Edits that make the model answer harmful requests.\n\n"
                                "Second paragraph: a<b & c.",
                                s->rt,
                                1,
                                s->fig,
                                2};
    s->sec[1] = (ReportSection){"defense", NULL, s->rt + 1, 2, s->fig + 2, 2};
    for (int i = 0; i < 4; i++)
        if (s->svg[i].failed) return -1;
    return 0;
}

static void sample_free(Sample *s) {
    for (int i = 0; i < 3; i++) table_free(s->tables[i]);
    for (int i = 0; i < 4; i++) text_free(&s->svg[i]);
}

static void test_report_text(const Sample *s) {
    TextBuffer b = {0}, again = {0};
    html_report_text(&b, "ARE sweep <demo>", "runs/demo & co", s->sec, 2);
    html_report_text(&again, "ARE sweep <demo>", "runs/demo & co", s->sec, 2);
    const char *html = text_str(&b);
    CHECK(!b.failed && strcmp(html, text_str(&again)) == 0, "the same report twice");
    CHECK(strncmp(html, "<!DOCTYPE html>\n", 16) == 0, "an HTML5 document");
    CHECK(contains(html, "<title>ARE sweep &lt;demo&gt;</title>"), "title escaped");
    CHECK(contains(html, "runs/demo &amp; co"), "subtitle escaped");
    CHECK(count(html, "<table>") == 3 && count(html, "</table>") == 3, "3 tables");
    CHECK(count(html, "<figure") == 4, "4 figures");
    CHECK(count(html, "<svg xmlns") == 4, "4 inline svgs");
    CHECK(!contains(html, "<script") && !contains(html, " src=") && !contains(html, "<link") &&
              !contains(html, "https:"),
          "no script and no external resource");
    // The TOC's anchors all exist.
    const char *ids[] = {"s1", "s2", "s1-t1", "s2-t1", "s2-t2", "s1-f1", "s1-f2", "s2-f1", "s2-f2"};
    for (int i = 0; i < 9; i++) {
        char href[32], id[32];
        snprintf(href, sizeof href, "href=\"#%s\"", ids[i]);
        snprintf(id, sizeof id, "id=\"%s\"", ids[i]);
        CHECK(count(html, href) == 1 && count(html, id) == 1, "anchor %s linked and defined",
              ids[i]);
    }
    CHECK(contains(html, "<td class=\"key\">jailbreak &lt;&amp;&gt;</td><td class=\"key\">4</td>"
                         "<td>0.800 \xC2\xB1 0.031</td>"),
          "key cells left (class key), numbers right, escaped");
    CHECK(contains(html, "<th class=\"key\">task</th><th class=\"key\">rank</th><th>refusal "
                         "rate</th>"),
          "header row");
    CHECK(contains(html, "<b>Table 3: defense: failed trials.</b>"), "tables numbered through");
    CHECK(contains(html, "colspan=\"4\">no rows</td>"), "an empty table says so");
    CHECK(contains(html, "<a href=\"jailbreak_rank.csv\">CSV</a>") &&
              contains(html, "<a href=\"jailbreak_rank.tex\">LaTeX</a>") &&
              contains(html, "<a href=\"defense_rank.md\">Markdown</a>"),
          "table file links");
    CHECK(count(html, "<p class=\"files\">") == 2, "no file line without files");
    CHECK(contains(html, "<b>Figure 4: PCA, round 5.</b> <a href=\"pca_r5.svg\">SVG file</a>"),
          "figure caption and link");
    CHECK(contains(html, "<p>Edits that make the model answer harmful requests.</p>\n<p>Second "
                         "paragraph: a&lt;b &amp; c.</p>"),
          "intro paragraphs");
    text_free(&b);
    text_free(&again);
}

static char *slurp(const char *path) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    TextBuffer b = {0};
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) text_append(&b, "%.*s", (int)n, chunk);
    fclose(f);
    return b.data ? b.data : calloc(1, 1);
}

static void test_report_write(const Sample *s) {
    char dir[] = "/tmp/test_svg_report_XXXXXX", path[256], tmp[272], err[512];
    if (!mkdtemp(dir)) {
        CHECK(0, "mkdtemp failed");
        return;
    }
    snprintf(path, sizeof path, "%s/report.html", dir);
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    CHECK(html_report_write(path, "r", NULL, s->sec, 2, err, sizeof err) == 0, "write: %s", err);
    TextBuffer want = {0};
    html_report_text(&want, "r", NULL, s->sec, 2);
    char *got = slurp(path);
    CHECK(got && strcmp(got, text_str(&want)) == 0, "the file holds the report's text");
    CHECK(access(tmp, F_OK) != 0, "no temporary file left");
    free(got);
    text_free(&want);

    // A failed write names the path and leaves the earlier report whole.
    char bad[300];
    snprintf(bad, sizeof bad, "%s/missing/report.html", dir);
    err[0] = '\0';
    CHECK(html_report_write(bad, "r", NULL, s->sec, 2, err, sizeof err) == -1, "missing folder");
    CHECK(strstr(err, bad) != NULL, "the error names the file: %s", err);
    mkdir(tmp, 0700); // a folder where the temporary file would go
    err[0] = '\0';
    CHECK(html_report_write(path, "other", NULL, s->sec, 0, err, sizeof err) == -1,
          "a blocked temporary file fails");
    CHECK(strstr(err, "report.html.tmp") != NULL, "the error names the temporary file: %s", err);
    got = slurp(path);
    CHECK(got && contains(got, "<title>r</title>"), "the earlier report is untouched");
    free(got);
    rmdir(tmp);
    remove(path);
    rmdir(dir);
}

// The sample report and the files it links, for tests/check_report.py.
static int write_sample(const Sample *s, const char *path) {
    char dir[4096], file[4200], err[512];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash)
        slash[1] = '\0';
    else
        dir[0] = '\0';
    for (int i = 0; i < 4; i++) {
        snprintf(file, sizeof file, "%s%s", dir, s->fig[i].file);
        FILE *f = fopen(file, "wb");
        if (!f || fputs(s->fig[i].svg, f) == EOF || fclose(f)) return -1;
    }
    const char *tables[] = {"jailbreak_rank.csv", "jailbreak_rank.tex", "defense_rank.csv",
                            "defense_rank.md"};
    for (int i = 0; i < 4; i++) { // stand-ins: the report only links them
        snprintf(file, sizeof file, "%s%s", dir, tables[i]);
        FILE *f = fopen(file, "wb");
        if (!f || fputs("task,rank\n", f) == EOF || fclose(f)) return -1;
    }
    if (html_report_write(path, "ARE sweep report: demo <sweep>",
                          "runs/demo-sweep/sweep.h5 \xC2\xB7 16 trials, 16 done", s->sec, 2, err,
                          sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    printf("wrote %s\n", path);
    return 0;
}

int main(int argc, char **argv) {
    test_ticks();
    test_scatter();
    test_lines();
    test_whole_ticks();
    test_bars();
    Sample s;
    if (sample_build(&s)) {
        CHECK(0, "out of memory building the sample");
    } else {
        for (int i = 0; i < 4; i++) check_svg_shape("sample plot", text_str(&s.svg[i]));
        test_report_text(&s);
        test_report_write(&s);
        if (argc > 1) CHECK(write_sample(&s, argv[1]) == 0, "writing the sample to %s", argv[1]);
    }
    sample_free(&s);
    return check_summary();
}
