#include "html_report.h"
#include "fail.h"
#include "fs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char style[] =
    "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;"
    "max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}\n"
    "h1{margin-bottom:.2em}\n"
    ".subtitle{color:#555;margin-top:0}\n"
    "h2{border-bottom:1px solid #ccc;padding-bottom:.2em;margin-top:2em}\n"
    "nav ul{list-style:none;padding-left:1.2em;font-size:.92em}\n"
    ".table{overflow-x:auto;margin:1.5em 0}\n"
    "table{border-collapse:collapse;font-variant-numeric:tabular-nums}\n"
    "caption{caption-side:top;text-align:left;padding-bottom:.4em}\n"
    "th,td{padding:.25em .8em;text-align:right;border-bottom:1px solid #ddd;white-space:nowrap}\n"
    "th{border-bottom:2px solid #888}\n"
    "th.key,td.key{text-align:left}\n"
    "tbody tr:nth-child(even){background:#f5f5f5}\n"
    "td.empty{text-align:center;color:#777}\n"
    ".files{font-size:.88em;color:#555;margin:.3em 0}\n"
    "figure{margin:1.5em 0}\n"
    "figure svg{display:block;max-width:100%;height:auto}\n"
    "figcaption{margin-top:.4em}\n";

static void escaped(TextBuffer *b, const char *s) {
    text_append_escaped(b, s ? s : "");
}

// Plain text as paragraphs, a blank line starting the next one.
static void paragraphs(TextBuffer *b, const char *text) {
    text_append(b, "<p>");
    for (const char *s = text; *s; s++) {
        if (s[0] == '\n' && s[1] == '\n') {
            while (s[1] == '\n') s++;
            text_append(b, "</p>\n<p>");
            continue;
        }
        char c[2] = {*s, '\0'};
        text_append_escaped(b, c);
    }
    text_append(b, "</p>\n");
}

static void file_link(TextBuffer *b, const char *file, const char *label, bool *first) {
    if (!file) return;
    text_append(b, "%s<a href=\"", *first ? "" : " \xC2\xB7 "); // a middle dot between links
    escaped(b, file);
    text_append(b, "\">%s</a>", label);
    *first = false;
}

static void table_html(TextBuffer *b, const ReportTable *rt, const char *id, int number) {
    const Table *t = rt->table;
    text_append(b, "<div class=\"table\" id=\"%s\">\n<table>\n<caption><b>Table %d: ", id, number);
    escaped(b, t->title);
    text_append(b, ".</b> ");
    escaped(b, t->caption);
    text_append(b, "</caption>\n<thead><tr>");
    for (int c = 0; c < t->n_cols; c++) {
        text_append(b, c < t->n_key_cols ? "<th class=\"key\">" : "<th>");
        escaped(b, t->header[c]);
        text_append(b, "</th>");
    }
    text_append(b, "</tr></thead>\n<tbody>\n");
    for (int r = 0; r < t->n_rows; r++) {
        text_append(b, "<tr>");
        for (int c = 0; c < t->n_cols; c++) {
            text_append(b, c < t->n_key_cols ? "<td class=\"key\">" : "<td>");
            escaped(b, table_cell(t, r, c));
            text_append(b, "</td>");
        }
        text_append(b, "</tr>\n");
    }
    if (t->n_rows == 0)
        text_append(b, "<tr><td class=\"empty\" colspan=\"%d\">no rows</td></tr>\n", t->n_cols);
    text_append(b, "</tbody>\n</table>\n");
    if (rt->csv_file || rt->latex_file || rt->markdown_file) {
        bool first = true;
        text_append(b, "<p class=\"files\">Files: ");
        file_link(b, rt->csv_file, "CSV", &first);
        file_link(b, rt->latex_file, "LaTeX", &first);
        file_link(b, rt->markdown_file, "Markdown", &first);
        text_append(b, "</p>\n");
    }
    text_append(b, "</div>\n");
}

static void figure_html(TextBuffer *b, const ReportFigure *f, const char *id, int number) {
    text_append(b, "<figure id=\"%s\">\n%s", id, f->svg ? f->svg : "");
    text_append(b, "<figcaption><b>Figure %d: ", number);
    escaped(b, f->title);
    text_append(b, ".</b>");
    if (f->caption) {
        text_append(b, " ");
        escaped(b, f->caption);
    }
    if (f->file) {
        text_append(b, " <a href=\"");
        escaped(b, f->file);
        text_append(b, "\">SVG file</a>");
    }
    text_append(b, "</figcaption>\n</figure>\n");
}

static void contents(TextBuffer *b, const ReportSection *sections, int n_sections) {
    int table = 0, figure = 0;
    text_append(b, "<nav>\n<h2>Contents</h2>\n<ol>\n");
    for (int i = 0; i < n_sections; i++) {
        const ReportSection *s = &sections[i];
        text_append(b, "<li><a href=\"#s%d\">", i + 1);
        escaped(b, s->heading);
        text_append(b, "</a>");
        if (s->n_tables + s->n_figures > 0) text_append(b, "\n<ul>\n");
        for (int j = 0; j < s->n_tables; j++) {
            text_append(b, "<li><a href=\"#s%d-t%d\">Table %d: ", i + 1, j + 1, ++table);
            escaped(b, s->tables[j].table->title);
            text_append(b, "</a></li>\n");
        }
        for (int j = 0; j < s->n_figures; j++) {
            text_append(b, "<li><a href=\"#s%d-f%d\">Figure %d: ", i + 1, j + 1, ++figure);
            escaped(b, s->figures[j].title);
            text_append(b, "</a></li>\n");
        }
        if (s->n_tables + s->n_figures > 0) text_append(b, "</ul>\n");
        text_append(b, "</li>\n");
    }
    text_append(b, "</ol>\n</nav>\n");
}

void html_report_text(TextBuffer *b, const char *title, const char *subtitle,
                      const ReportSection *sections, int n_sections) {
    text_append(b, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
                   "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
                   "<title>");
    escaped(b, title);
    text_append(b, "</title>\n<style>\n%s</style>\n</head>\n<body>\n<header>\n<h1>", style);
    escaped(b, title);
    text_append(b, "</h1>\n");
    if (subtitle) {
        text_append(b, "<p class=\"subtitle\">");
        escaped(b, subtitle);
        text_append(b, "</p>\n");
    }
    text_append(b, "</header>\n");
    contents(b, sections, n_sections);
    int table = 0, figure = 0;
    for (int i = 0; i < n_sections; i++) {
        const ReportSection *s = &sections[i];
        char id[48];
        text_append(b, "<section id=\"s%d\">\n<h2>", i + 1);
        escaped(b, s->heading);
        text_append(b, "</h2>\n");
        if (s->intro) paragraphs(b, s->intro);
        for (int j = 0; j < s->n_tables; j++) {
            snprintf(id, sizeof id, "s%d-t%d", i + 1, j + 1);
            table_html(b, &s->tables[j], id, ++table);
        }
        for (int j = 0; j < s->n_figures; j++) {
            snprintf(id, sizeof id, "s%d-f%d", i + 1, j + 1);
            figure_html(b, &s->figures[j], id, ++figure);
        }
        text_append(b, "</section>\n");
    }
    text_append(b, "</body>\n</html>\n");
}

// The document, for replace_file.
static int write_text(FILE *f, void *text) {
    const TextBuffer *b = text;
    return fwrite(b->data, 1, b->len, f) == b->len ? 0 : -1;
}

int html_report_write(const char *path, const char *title, const char *subtitle,
                      const ReportSection *sections, int n_sections, char *err, size_t err_len) {
    TextBuffer b = {0};
    html_report_text(&b, title, subtitle, sections, n_sections);
    if (b.failed) {
        text_free(&b);
        return fail(err, err_len, "%s: out of memory while building the report", path);
    }
    int rc = replace_file(path, write_text, &b, err, err_len);
    text_free(&b);
    return rc;
}
