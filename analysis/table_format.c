#include "table_format.h"

#include <stdlib.h>
#include <string.h>

// The header (row -1) or a cell.
static const char *cell_at(const Table *t, int row, int col) {
    return row < 0 ? t->header[col] : table_cell(t, row, col);
}

// ---------------------------------------------------------------------------------------------
// Markdown

// Appends s as Markdown inline text; returns its width in characters (UTF-8 continuation
// bytes do not count). b NULL: only measures.
static int markdown_text(TextBuffer *b, const char *s) {
    int width = 0;
    for (; *s; s++) {
        char c = *s == '\n' || *s == '\r' ? ' ' : *s;
        if (c == '|') {
            if (b) text_append(b, "\\|");
            width += 2;
        } else {
            if (b) text_append(b, "%c", c);
            width += ((unsigned char)c & 0xC0) != 0x80;
        }
    }
    return width;
}

void table_write_markdown(TextBuffer *b, const Table *t) {
    int *width = calloc((size_t)t->n_cols + 1, sizeof *width);
    if (!width) {
        b->failed = true;
        return;
    }
    for (int c = 0; c < t->n_cols; c++) {
        width[c] = 3; // the alignment row's shortest "---"
        for (int r = -1; r < t->n_rows; r++) {
            int w = markdown_text(NULL, cell_at(t, r, c));
            if (w > width[c]) width[c] = w;
        }
    }
    if (t->title[0]) {
        text_append(b, "## ");
        markdown_text(b, t->title);
        text_append(b, "\n\n");
    }
    if (t->caption[0]) {
        markdown_text(b, t->caption);
        text_append(b, "\n\n");
    }
    for (int r = -1; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            const char *s = cell_at(t, r, c);
            int pad = width[c] - markdown_text(NULL, s);
            bool left = c < t->n_key_cols;
            text_append(b, "| %*s", left ? 0 : pad, "");
            markdown_text(b, s);
            text_append(b, "%*s ", left ? pad : 0, "");
        }
        text_append(b, "|\n");
        if (r >= 0) continue;
        for (int c = 0; c < t->n_cols; c++) {
            bool left = c < t->n_key_cols;
            text_append(b, "| %s", left ? ":" : "");
            for (int k = 0; k < width[c] - 1; k++) text_append(b, "-");
            text_append(b, "%s ", left ? "" : ":");
        }
        text_append(b, "|\n");
    }
    text_append(b, "\n");
    free(width);
}

// ---------------------------------------------------------------------------------------------
// CSV

static void csv_field(TextBuffer *b, const char *s) {
    if (!strpbrk(s, ",\"\r\n")) {
        text_append(b, "%s", s);
        return;
    }
    text_append(b, "\"");
    for (; *s; s++) text_append(b, *s == '"' ? "\"\"" : "%c", *s);
    text_append(b, "\"");
}

void table_write_csv(TextBuffer *b, const Table *t) {
    for (int r = -1; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            if (c) text_append(b, ",");
            csv_field(b, cell_at(t, r, c));
        }
        text_append(b, "\r\n");
    }
}

// ---------------------------------------------------------------------------------------------
// LaTeX

static void latex_text(TextBuffer *b, const char *s) {
    static const struct {
        const char *from, *to;
    } replace[] = {
        {"\\", "\\textbackslash{}"},
        {"{", "\\{"},
        {"}", "\\}"},
        {"$", "\\$"},
        {"&", "\\&"},
        {"#", "\\#"},
        {"%", "\\%"},
        {"_", "\\_"},
        {"~", "\\textasciitilde{}"},
        {"^", "\\textasciicircum{}"},
        {"<", "\\textless{}"},
        {">", "\\textgreater{}"},
        {"|", "\\textbar{}"},
        {"±", "$\\pm$"},
        {"×", "$\\times$"},
        {"—", "---"},
        {"\n", " "},
        {"\r", " "},
    };
    while (*s) {
        size_t k = 0, n = sizeof replace / sizeof *replace;
        while (k < n && strncmp(s, replace[k].from, strlen(replace[k].from))) k++;
        if (k < n) {
            text_append(b, "%s", replace[k].to);
            s += strlen(replace[k].from);
        } else {
            text_append(b, "%c", *s++);
        }
    }
}

void table_write_latex(TextBuffer *b, const Table *t) {
    text_append(b, "\\begin{table}[ht]\n\\centering\n");
    if (t->title[0] || t->caption[0]) {
        text_append(b, "\\caption{");
        latex_text(b, t->title);
        if (t->title[0] && t->caption[0]) text_append(b, ". ");
        latex_text(b, t->caption);
        text_append(b, "}\n");
    }
    text_append(b, "\\begin{tabular}{");
    for (int c = 0; c < t->n_cols; c++) text_append(b, "%s", c < t->n_key_cols ? "l" : "r");
    text_append(b, "}\n\\toprule\n");
    for (int r = -1; r < t->n_rows; r++) {
        for (int c = 0; c < t->n_cols; c++) {
            if (c) text_append(b, " & ");
            latex_text(b, cell_at(t, r, c));
        }
        text_append(b, " \\\\\n");
        if (r < 0) text_append(b, "\\midrule\n");
    }
    text_append(b, "\\bottomrule\n\\end{tabular}\n\\end{table}\n");
}
