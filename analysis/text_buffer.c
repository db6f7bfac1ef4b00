#include "text_buffer.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static bool reserve(TextBuffer *b, size_t extra) {
    if (b->failed) return false;
    if (b->len + extra + 1 <= b->cap) return true;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra + 1) cap *= 2;
    char *data = realloc(b->data, cap);
    if (!data) {
        b->failed = true;
        return false;
    }
    b->data = data;
    b->cap = cap;
    return true;
}

void text_vappend(TextBuffer *b, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (n >= 0 && reserve(b, (size_t)n)) {
        vsnprintf(b->data + b->len, (size_t)n + 1, fmt, again);
        b->len += (size_t)n;
    }
    va_end(again);
}

void text_append(TextBuffer *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    text_vappend(b, fmt, ap);
    va_end(ap);
}

void text_append_escaped(TextBuffer *b, const char *s) {
    for (; *s; s++) {
        switch (*s) {
        case '&':
            text_append(b, "&amp;");
            break;
        case '<':
            text_append(b, "&lt;");
            break;
        case '>':
            text_append(b, "&gt;");
            break;
        case '"':
            text_append(b, "&quot;");
            break;
        case '\'':
            text_append(b, "&#39;");
            break;
        default:
            if (!reserve(b, 1)) return;
            b->data[b->len++] = *s;
            b->data[b->len] = '\0';
        }
    }
}

const char *text_str(const TextBuffer *b) {
    return b->data ? b->data : "";
}

void text_free(TextBuffer *b) {
    free(b->data);
    *b = (TextBuffer){0};
}
