// UTF-8 decoding and encoding, and the code point classes that the tokenizers' pre-tokenizer
// regexes use: \p{L} (letters), \p{N} (numbers) and \s (the White_Space property). The class
// tables are generated from Python's unicodedata by tests/ref/make_unicode_tables.py.
#ifndef ARE_UNICODE_H
#define ARE_UNICODE_H

#include <stddef.h>
#include <stdint.h>

// What utf8_decode reports for a byte that does not begin a well-formed sequence: no code point.
#define UNICODE_INVALID 0xFFFFFFFFu

// Decodes the sequence at s, of which len > 0 bytes are readable: returns its length (1-4) and
// stores its code point in *cp. A byte that does not begin a well-formed sequence (a stray
// continuation byte, an overlong form, a surrogate, a value beyond U+10FFFF, a truncated
// sequence) counts as a sequence of one byte whose code point is UNICODE_INVALID.
int utf8_decode(const char *s, size_t len, uint32_t *cp);
// Writes the UTF-8 form of code point cp (at most U+10FFFF) to out and returns its length.
int utf8_encode(uint32_t cp, char out[4]);

enum {
    UNICODE_LETTER = 1,     // \p{L}: general categories Lu Ll Lt Lm Lo
    UNICODE_NUMBER = 2,     // \p{N}: Nd Nl No
    UNICODE_WHITESPACE = 4, // \s: White_Space
};
// The classes of a code point, a bit set of the flags above (0 for UNICODE_INVALID).
int unicode_class(uint32_t cp);

// Sorted, disjoint ranges of code points (both ends included); unicode_tables.c.
typedef struct {
    uint32_t first, last;
} UnicodeRange;
extern const UnicodeRange unicode_letter_ranges[];
extern const int unicode_letter_ranges_count;
extern const UnicodeRange unicode_number_ranges[];
extern const int unicode_number_ranges_count;
extern const UnicodeRange unicode_whitespace_ranges[];
extern const int unicode_whitespace_ranges_count;

#endif
