// The analysis report: one self-contained HTML5 file (inline CSS, inline SVG, no script, no
// external resource) that a browser opens from disk. A title and subtitle, a table of
// contents, then the caller's sections in order, each with a paragraph, tables and figures.
// Tables render from Table (header row, key columns left-aligned, the rest right-aligned,
// "Table N: title." and the caption above) with links to the files the caller wrote beside
// the report; figures inline the svg_plot text with "Figure N: title." and the caption below
// and a link to the .svg file. Tables and figures are numbered through the whole report. Every text
// is escaped except the svg, which is inlined as given. The same input gives the same bytes (the
// report writes no date: put one in the subtitle if wanted).
#ifndef ARE_HTML_REPORT_H
#define ARE_HTML_REPORT_H

#include "table.h"
#include "text_buffer.h"

#include <stddef.h>

typedef struct {
    const Table *table;
    // Names of the table's files relative to the report (links), or NULL for none.
    const char *csv_file, *latex_file, *markdown_file;
} ReportTable;

typedef struct {
    const char *title;   // in the numbered caption and in the contents
    const char *caption; // a sentence under it, or NULL
    const char *svg;     // one <svg> element, as svg_plot writes it
    const char *file;    // the .svg file's name relative to the report (a link), or NULL
} ReportFigure;

typedef struct {
    const char *heading;
    const char *intro; // plain text, or NULL; a blank line starts a new paragraph
    const ReportTable *tables;
    int n_tables;
    const ReportFigure *figures;
    int n_figures;
} ReportSection;

// Appends the whole HTML document to b (b->failed tells of running out of memory). Section i
// has the anchor "s<i+1>", its tables "s<i+1>-t<j+1>" and figures "s<i+1>-f<j+1>", all
// listed in the contents.
void html_report_text(TextBuffer *b, const char *title, const char *subtitle,
                      const ReportSection *sections, int n_sections);

// Writes the document to path through path.tmp and a rename, so that a failure leaves
// neither a partial report nor the temporary file, and an earlier report at path stays
// whole until replaced. Returns 0, or -1 with one line in err naming the path and the cause.
int html_report_write(const char *path, const char *title, const char *subtitle,
                      const ReportSection *sections, int n_sections, char *err, size_t err_len);

#endif
