#include "table.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *copy(const char *s) {
    return strdup(s ? s : "");
}

Table *table_new(const char *title, const char *caption, int n_cols, const char *const *header,
                 int n_key_cols) {
    Table *t = calloc(1, sizeof *t);
    if (!t) return NULL;
    t->n_cols = n_cols;
    t->n_key_cols = n_key_cols;
    t->title = copy(title);
    t->caption = copy(caption);
    t->header = calloc((size_t)n_cols, sizeof *t->header);
    if (!t->title || !t->caption || !t->header) goto fail;
    for (int c = 0; c < n_cols; c++)
        if (!(t->header[c] = copy(header[c]))) goto fail;
    return t;
fail:
    table_free(t);
    return NULL;
}

int table_add_row(Table *t, const char *const *cells) {
    size_t n = (size_t)(t->n_rows + 1) * (size_t)t->n_cols;
    char **grown = realloc(t->cells, n * sizeof *grown);
    if (!grown) return -1;
    t->cells = grown;
    char **row = t->cells + (size_t)t->n_rows * (size_t)t->n_cols;
    for (int c = 0; c < t->n_cols; c++) {
        if (!(row[c] = copy(cells[c]))) {
            while (c-- > 0) free(row[c]);
            return -1;
        }
    }
    t->n_rows++;
    return 0;
}

const char *table_cell(const Table *t, int row, int col) {
    return t->cells[(size_t)row * (size_t)t->n_cols + (size_t)col];
}

void table_free(Table *t) {
    if (!t) return;
    for (size_t i = 0; i < (size_t)t->n_rows * (size_t)t->n_cols; i++) free(t->cells[i]);
    for (int c = 0; t->header && c < t->n_cols; c++) free(t->header[c]);
    free(t->cells);
    free(t->header);
    free(t->title);
    free(t->caption);
    free(t);
}

void table_number_text(char *text, size_t len, double x) {
    text[0] = '\0';
    if (isnan(x)) return;
    if (x == floor(x) && fabs(x) < 1e15) {
        snprintf(text, len, "%.0f", x);
        return;
    }
    // A double that some decimal of d <= 15 digits reads back as prints as that decimal at 15
    // digits (%g drops the zeros), so 15, 16 and 17 are the only lengths to try.
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(text, len, "%.*g", digits, x);
        if (strtod(text, NULL) == x) break;
    }
}
