// A Table (analysis/table.h) as text for people and programs: GitHub Markdown, CSV and LaTeX
// with booktabs. Each writer appends to b (analysis/text_buffer.h; the caller checks b->failed
// once at the end) and writes cells exactly as the table holds them, so every format shows the
// same digits. Key columns (the first n_key_cols) are aligned left, the rest right.
#ifndef ARE_TABLE_FORMAT_H
#define ARE_TABLE_FORMAT_H

#include "table.h"
#include "text_buffer.h"

// "## <title>", a blank line, the caption as a paragraph and a blank line when there is one,
// then the pipe table with its alignment row and a blank line after it. Columns are padded
// to a common width (counted in UTF-8 characters) so that the source reads as a table too.
// In cells and the header '|' becomes "\|" and a line break a space.
void table_write_markdown(TextBuffer *b, const Table *t);

// RFC 4180: the header row, then one record per row, every line ending in CRLF; a field
// holding a comma, a double quote, CR or LF is enclosed in double quotes with each quote
// doubled. Title and caption are not written (CSV has no place for them). Write an ablation's
// `numbers` table (plain numeric columns) rather than its `table` when pandas will read it.
void table_write_csv(TextBuffer *b, const Table *t);

// A table float, needing \usepackage{booktabs}:
//   \begin{table}[ht] \centering \caption{<title>. <caption>} \begin{tabular}{l...r...}
//   \toprule header \\ \midrule rows \\ \bottomrule \end{tabular} \end{table}
// one command or row a line. Text is escaped for LaTeX: \ { } $ & # % _ ~ ^ < > | become
// commands or escaped characters, "±" becomes $\pm$, "×" $\times$ and "—" ---; other UTF-8
// passes through (pdfLaTeX reads UTF-8 by default since 2018).
void table_write_latex(TextBuffer *b, const Table *t);

#endif
