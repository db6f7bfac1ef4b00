// A growing NUL-terminated string that the table writers, the SVG plots and the HTML report
// append to, so that each can return its whole text (to a file, to stdout, or inlined into
// the report) without knowing where it goes.
#ifndef ARE_TEXT_BUFFER_H
#define ARE_TEXT_BUFFER_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    char *data; // NUL-terminated; NULL until the first append
    size_t len, cap;
    bool failed; // an allocation failed: the text is incomplete, and every append is ignored
} TextBuffer;

// printf onto the end of b. Out of memory sets b->failed, which the caller checks once at the
// end instead of after every append.
void text_append(TextBuffer *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

// text_append with the arguments in ap (which it consumes).
void text_vappend(TextBuffer *b, const char *fmt, va_list ap);

// Appends s with &, <, >, " and ' written as entities: text safe inside XML and HTML elements
// and attribute values.
void text_append_escaped(TextBuffer *b, const char *s);

// The text so far ("" when empty).
const char *text_str(const TextBuffer *b);

void text_free(TextBuffer *b);

#endif
