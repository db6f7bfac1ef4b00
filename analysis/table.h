// A table of text cells: what the ablation and representation analyses produce and what the
// Markdown, CSV, LaTeX and HTML writers render. Cells hold text already formatted (numbers
// with the precision the producer chose), so every writer shows the same digits.
#ifndef ARE_TABLE_H
#define ARE_TABLE_H

#include <stddef.h>

typedef struct {
    char *title;   // one line, e.g. "jailbreak: by are.generator.rank"
    char *caption; // a sentence saying what the numbers are ("" when none)
    int n_cols, n_rows;
    char **header;  // [n_cols]
    char **cells;   // [n_rows * n_cols], row-major; never NULL once set ("" for empty)
    int n_key_cols; // the leading columns that name the row (aligned left; the rest right)
} Table;

// An empty table of n_cols columns with the given header. NULL when out of memory.
Table *table_new(const char *title, const char *caption, int n_cols, const char *const *header,
                 int n_key_cols);

// Appends a row of n_cols cells (copied). Returns 0, or -1 when out of memory.
int table_add_row(Table *t, const char *const *cells);

const char *table_cell(const Table *t, int row, int col);

void table_free(Table *t); // NULL is fine

// A number for a cell that programs read back (CSV): the shortest text that reads back as x,
// integers without an exponent; "" for NaN (pandas reads an empty field as NaN).
void table_number_text(char *text, size_t len, double x);

#endif
