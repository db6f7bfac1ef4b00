#include "unicode.h"

#include <stdbool.h>

int utf8_decode(const char *s, size_t len, uint32_t *cp) {
    const unsigned char *u = (const unsigned char *)s;
    *cp = UNICODE_INVALID;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    int n;
    uint32_t value, min;
    if ((u[0] & 0xE0) == 0xC0) {
        n = 2, value = u[0] & 0x1F, min = 0x80;
    } else if ((u[0] & 0xF0) == 0xE0) {
        n = 3, value = u[0] & 0x0F, min = 0x800;
    } else if ((u[0] & 0xF8) == 0xF0) {
        n = 4, value = u[0] & 0x07, min = 0x10000;
    } else {
        return 1; // a continuation byte or 0xF8..0xFF
    }
    if (len < (size_t)n) return 1;
    for (int i = 1; i < n; i++) {
        if ((u[i] & 0xC0) != 0x80) return 1;
        value = value << 6 | (u[i] & 0x3F);
    }
    // Overlong forms and surrogates are refused so that each code point has one spelling.
    if (value < min || value > 0x10FFFF || (value >= 0xD800 && value <= 0xDFFF)) return 1;
    *cp = value;
    return n;
}

int utf8_encode(uint32_t cp, char out[4]) {
    if (cp < 0x80) {
        out[0] = (char)cp;
        return 1;
    }
    if (cp < 0x800) {
        out[0] = (char)(0xC0 | cp >> 6);
        out[1] = (char)(0x80 | (cp & 0x3F));
        return 2;
    }
    if (cp < 0x10000) {
        out[0] = (char)(0xE0 | cp >> 12);
        out[1] = (char)(0x80 | (cp >> 6 & 0x3F));
        out[2] = (char)(0x80 | (cp & 0x3F));
        return 3;
    }
    out[0] = (char)(0xF0 | cp >> 18);
    out[1] = (char)(0x80 | (cp >> 12 & 0x3F));
    out[2] = (char)(0x80 | (cp >> 6 & 0x3F));
    out[3] = (char)(0x80 | (cp & 0x3F));
    return 4;
}

static bool in_ranges(uint32_t cp, const UnicodeRange *ranges, int count) {
    int lo = 0, hi = count - 1;
    while (lo <= hi) {
        int mid = lo + (hi - lo) / 2;
        if (cp < ranges[mid].first) {
            hi = mid - 1;
        } else if (cp > ranges[mid].last) {
            lo = mid + 1;
        } else {
            return true;
        }
    }
    return false;
}

int unicode_class(uint32_t cp) {
    if (cp < 0x80) { // the common case, without a search
        if ((cp | 0x20) >= 'a' && (cp | 0x20) <= 'z') return UNICODE_LETTER;
        if (cp >= '0' && cp <= '9') return UNICODE_NUMBER;
        if (cp == ' ' || (cp >= '\t' && cp <= '\r')) return UNICODE_WHITESPACE;
        return 0;
    }
    int classes = 0;
    if (in_ranges(cp, unicode_letter_ranges, unicode_letter_ranges_count))
        classes |= UNICODE_LETTER;
    if (in_ranges(cp, unicode_number_ranges, unicode_number_ranges_count))
        classes |= UNICODE_NUMBER;
    if (in_ranges(cp, unicode_whitespace_ranges, unicode_whitespace_ranges_count)) {
        classes |= UNICODE_WHITESPACE;
    }
    return classes;
}
