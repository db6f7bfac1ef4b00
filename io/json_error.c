// JSON error messages; see json_error.h.
#include "json_error.h"
#include "fail.h"

const char *json_type_name(const json_t *value) {
    if (!value) return "nothing";
    switch (json_typeof(value)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
        return "an integer";
    case JSON_REAL:
        return "a real number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

int json_load_error(char *err, size_t err_len, const char *name, const json_error_t *jerr) {
    if (jerr->line > 0)
        return fail(err, err_len, "%s:%d:%d: malformed JSON: %s", name, jerr->line, jerr->column,
                    jerr->text);
    return fail(err, err_len, "%s: %s", name, jerr->text);
}
