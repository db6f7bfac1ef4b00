// Comma-separated option values (are analyze --by and --metrics, are train-tokenizer
// --special), cut by one rule for every command.
#ifndef ARE_COMMA_LIST_H
#define ARE_COMMA_LIST_H

#include <stdbool.h>
#include <string.h>

// Cuts text in place at its commas into items[0..*n). False, with text and *n untouched, when
// there are more than max items or one is empty ("", ",a", "a,", "a,,b"): an empty item is a
// typo, not a shorter list.
static inline bool comma_list_split(char *text, const char **items, int *n, int max) {
    size_t len = strlen(text);
    if (len == 0 || text[0] == ',' || text[len - 1] == ',' || strstr(text, ",,")) return false;
    int count = 1;
    for (const char *p = text; *p; p++) count += *p == ',';
    if (count > max) return false;
    *n = 0;
    for (char *item = text, *comma; item; item = comma ? comma + 1 : NULL) {
        comma = strchr(item, ',');
        if (comma) *comma = '\0';
        items[(*n)++] = item;
    }
    return true;
}

#endif
