// Table-driven checking of libconfig trees; see config_schema.h.
#include "config_schema.h"

#include "io_error.h"
#include "mapped_file.h"
#include "unicode.h"

#include <assert.h>
#include <ctype.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define PATH_LEN 512 // longest path shown in a message (longer ones are cut, never overrun)
#define NAME_LEN 64  // names longer than this are never suggested as a near miss

// A path or name for lookups and messages: fmt into buf, cut to fit (a path that long names
// nothing the schema knows, so a lookup fails cleanly and a message shows its start).
__attribute__((format(printf, 3, 4))) static void path_printf(char *buf, size_t len,
                                                              const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, len, fmt, ap);
    va_end(ap);
}

// ---------------------------------------------------------------------------------------------
// Where a setting is, for messages

// The override that made s or a group around it (kept as the setting's hook), or NULL when s
// comes from the file.
static const char *override_of(const config_setting_t *s) {
    for (; s; s = config_setting_parent(s))
        if (config_setting_get_hook(s)) return config_setting_get_hook(s);
    return NULL;
}

static int verror_at(const config_setting_t *s, char *err, size_t err_len, const char *fmt,
                     va_list ap) {
    if (!err || !err_len) return -1;
    const char *override = override_of(s);
    const char *file = config_setting_source_file(s) ? config_setting_source_file(s) : "config";
    int line = config_setting_source_line(s), n;
    if (override)
        n = snprintf(err, err_len, "--set %s: ", override);
    else if (line)
        n = snprintf(err, err_len, "%s:%d: ", file, line);
    else // the root: something missing from the whole file
        n = snprintf(err, err_len, "%s: ", file);
    if (n >= 0 && (size_t)n < err_len) vsnprintf(err + n, err_len - (size_t)n, fmt, ap);
    return -1;
}

// "file:line: " (or "--set ...: ", or "file: " at the root) and the message. Returns -1.
__attribute__((format(printf, 4, 5))) static int error_at(const config_setting_t *s, char *err,
                                                          size_t err_len, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    verror_at(s, err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

// The setting at the dotted path under group, or NULL; *nearest is the deepest setting on the
// way that exists (group itself when even the first name is missing).
static const config_setting_t *find_setting(const config_setting_t *group, const char *path,
                                            const config_setting_t **nearest) {
    const config_setting_t *s = group;
    while (*path) {
        char name[PATH_LEN];
        size_t len = strcspn(path, ".");
        path_printf(name, sizeof(name), "%.*s", (int)len, path);
        const config_setting_t *member =
            config_setting_is_group(s) ? config_setting_get_member(s, name) : NULL;
        if (!member) {
            *nearest = s;
            return NULL;
        }
        s = member;
        path += len + (path[len] == '.');
    }
    *nearest = s;
    return s;
}

int schema_error_at(const config_setting_t *group, const char *path, char *err, size_t err_len,
                    const char *fmt, ...) {
    const config_setting_t *nearest;
    find_setting(group, path, &nearest);
    va_list ap;
    va_start(ap, fmt);
    verror_at(nearest, err, err_len, fmt, ap);
    va_end(ap);
    return -1;
}

// ---------------------------------------------------------------------------------------------
// Names: fields, implied groups, near misses

static const SchemaField *field_at(const Schema *schema, const char *path) {
    for (int i = 0; i < schema->n_fields; i++)
        if (!strcmp(schema->fields[i].path, path)) return &schema->fields[i];
    return NULL;
}

// Whether path is a group implied by the fields' paths ("are" by "are.max_rounds").
static bool is_group(const Schema *schema, const char *path) {
    size_t len = strlen(path);
    for (int i = 0; i < schema->n_fields; i++) {
        const char *p = schema->fields[i].path;
        if (!strncmp(p, path, len) && p[len] == '.') return true;
    }
    return false;
}

// Levenshtein distance (insertions, deletions, substitutions), INT_MAX for long names.
static int edit_distance(const char *a, const char *b) {
    size_t la = strlen(a), lb = strlen(b);
    if (la >= NAME_LEN || lb >= NAME_LEN) return INT_MAX;
    int row[NAME_LEN + 1]; // distances from a[0..i) to every prefix of b
    for (size_t j = 0; j <= lb; j++) row[j] = (int)j;
    for (size_t i = 1; i <= la; i++) {
        int diagonal = row[0];
        row[0] = (int)i;
        for (size_t j = 1; j <= lb; j++) {
            int above = row[j];
            int best = diagonal + (a[i - 1] != b[j - 1]);
            if (above + 1 < best) best = above + 1;
            if (row[j - 1] + 1 < best) best = row[j - 1] + 1;
            row[j] = best;
            diagonal = above;
        }
    }
    return row[lb];
}

// "unknown field 'shown'", with " (did you mean 'x'?)" when a name known at level (a path
// prefix ending in '.', or "") is close enough to name to be a typo: at most 2 edits, and at
// most half of the name's letters.
static void unknown_message(char *buf, size_t len, const Schema *schema, const char *level,
                            const char *shown, const char *name) {
    char best[NAME_LEN] = "";
    int best_distance = INT_MAX;
    size_t level_len = strlen(level);
    for (int i = 0; i < schema->n_fields; i++) {
        const char *p = schema->fields[i].path;
        if (strncmp(p, level, level_len)) continue;
        char candidate[NAME_LEN];
        path_printf(candidate, sizeof(candidate), "%.*s", (int)strcspn(p + level_len, "."),
                    p + level_len);
        int d = edit_distance(name, candidate);
        if (d < best_distance) {
            best_distance = d;
            memcpy(best, candidate, sizeof(best));
        }
    }
    if (best_distance <= 2 && 2 * (size_t)best_distance <= strlen(name))
        snprintf(buf, len, "unknown field '%s' (did you mean '%s'?)", shown, best);
    else
        snprintf(buf, len, "unknown field '%s'", shown);
}

// ---------------------------------------------------------------------------------------------
// What a field takes and what a setting is, for messages

static void describe(const SchemaField *f, char *buf, size_t len) {
    const char *open = f->min_exclusive ? "(" : "[";
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_INT64:
        snprintf(buf, len, "an integer in [%.0f..%.0f]", f->min, f->max);
        return;
    case SCHEMA_FLOAT:
        snprintf(buf, len, "a number in %s%.10g..%.10g]", open, f->min, f->max);
        return;
    case SCHEMA_BOOL:
        snprintf(buf, len, "true or false");
        return;
    case SCHEMA_STRING:
    case SCHEMA_ENUM:
        if (!f->choices) {
            snprintf(buf, len, "a %sstring", f->nonempty ? "non-empty " : "");
            return;
        }
        size_t n = (size_t)snprintf(buf, len, "one of");
        for (int i = 0; f->choices[i] && n < len; i++)
            n += (size_t)snprintf(buf + n, len - n, "%s \"%s\"", i ? "," : "", f->choices[i]);
        return;
    case SCHEMA_INT_ARRAY:
        snprintf(buf, len, "an array of integers in [%.0f..%.0f]", f->min, f->max);
        return;
    case SCHEMA_STRING_ARRAY:
        snprintf(buf, len, "an array of %sstrings", f->nonempty ? "non-empty " : "");
        return;
    case SCHEMA_LIST:
        snprintf(buf, len, "a list of groups ( { ... }, ... )");
        return;
    case SCHEMA_MAP:
        snprintf(buf, len, "a group of named groups { name = { ... }; ... }");
        return;
    }
}

static const char *kind_of(const config_setting_t *s) {
    switch (config_setting_type(s)) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a float";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "a boolean";
    case CONFIG_TYPE_LIST:
        return "a list";
    default:
        break;
    }
    if (!config_setting_length(s)) return "an empty array";
    switch (config_setting_type(config_setting_get_elem(s, 0))) {
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an array of integers";
    case CONFIG_TYPE_FLOAT:
        return "an array of floats";
    case CONFIG_TYPE_STRING:
        return "an array of strings";
    default:
        return "an array of booleans";
    }
}

static int wrong_type(const SchemaField *f, const config_setting_t *s, const char *path, char *err,
                      size_t err_len) {
    char expected[256];
    describe(f, expected, sizeof(expected));
    return error_at(s, err, err_len, "field '%s' must be %s, got %s", path, expected, kind_of(s));
}

static bool in_range(const SchemaField *f, double x) {
    return x >= f->min && x <= f->max && !(f->min_exclusive && x == f->min);
}

// ---------------------------------------------------------------------------------------------
// Storing values

static void store_index(const SchemaField *f, char *dst, int index) {
    assert(f->size == sizeof(int) || f->size == sizeof(bool));
    if (f->size == sizeof(bool))
        *(bool *)dst = index != 0;
    else
        *(int *)dst = index;
}

static int load_index(const SchemaField *f, const char *src) {
    return f->size == sizeof(bool) ? *(const bool *)src : *(const int *)src;
}

static int choice_index(const SchemaField *f, const char *value) {
    for (int i = 0; f->choices[i]; i++)
        if (!strcmp(f->choices[i], value)) return i;
    return -1;
}

static void set_count(const SchemaField *f, void *base, int n) {
    *(int *)((char *)base + f->count_offset) = n;
}

// The defaults of every stored field; a default that does not fit is the table's mistake.
static void fill_defaults(const Schema *schema, void *base) {
    for (int i = 0; i < schema->n_fields; i++) {
        const SchemaField *f = &schema->fields[i];
        char *dst = (char *)base + f->offset;
        if (!f->size) continue;
        switch (f->type) {
        case SCHEMA_INT:
            *(int *)dst = (int)f->number;
            break;
        case SCHEMA_INT64:
            *(long long *)dst = (long long)f->number;
            break;
        case SCHEMA_FLOAT:
            *(float *)dst = (float)f->number;
            break;
        case SCHEMA_BOOL:
            *(bool *)dst = f->number != 0;
            break;
        case SCHEMA_STRING:
            assert(!f->text || strlen(f->text) < f->size);
            snprintf(dst, f->size, "%s", f->text ? f->text : "");
            break;
        case SCHEMA_ENUM:
            assert(choice_index(f, f->text) >= 0);
            store_index(f, dst, choice_index(f, f->text));
            break;
        case SCHEMA_INT_ARRAY:
            assert((size_t)f->n_ints * sizeof(int) <= f->size);
            if (f->n_ints) memcpy(dst, f->ints, (size_t)f->n_ints * sizeof(int));
            set_count(f, base, f->n_ints);
            break;
        case SCHEMA_STRING_ARRAY: {
            int n = 0;
            for (; f->texts && f->texts[n]; n++) {
                assert((size_t)(n + 1) * f->elem_size <= f->size);
                assert(strlen(f->texts[n]) < f->elem_size);
                snprintf(dst + (size_t)n * f->elem_size, f->elem_size, "%s", f->texts[n]);
            }
            set_count(f, base, n);
            break;
        }
        case SCHEMA_LIST:
            set_count(f, base, 0);
            break;
        case SCHEMA_MAP:
            break;
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Checking a tree

static int check_group(const Schema *schema, const config_setting_t *group, const char *level,
                       const char *prefix, void *base, char *err, size_t err_len);

static int check_number(const SchemaField *f, const config_setting_t *s, const char *path,
                        char *dst, char *err, size_t err_len) {
    int type = config_setting_type(s);
    bool is_int = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
    if (!is_int && !(f->type == SCHEMA_FLOAT && type == CONFIG_TYPE_FLOAT))
        return wrong_type(f, s, path, err, err_len);
    double given = is_int ? (double)config_setting_get_int64(s) : config_setting_get_float(s);
    double x = f->type == SCHEMA_FLOAT ? (float)given : given; // the range holds for what is kept
    if (!in_range(f, x)) {
        char expected[256];
        describe(f, expected, sizeof(expected));
        return error_at(s, err, err_len, "field '%s' is %.10g, expected %s", path, given, expected);
    }
    if (!dst) return 0;
    if (f->type == SCHEMA_INT)
        *(int *)dst = (int)x;
    else if (f->type == SCHEMA_INT64)
        *(long long *)dst = config_setting_get_int64(s);
    else
        *(float *)dst = (float)x;
    return 0;
}

// One string: non-empty when asked, one of the choices when there are any, and short enough
// for capacity bytes (0: any length).
static int check_text(const SchemaField *f, const config_setting_t *s, const char *path,
                      size_t capacity, char *err, size_t err_len) {
    if (config_setting_type(s) != CONFIG_TYPE_STRING) return wrong_type(f, s, path, err, err_len);
    const char *v = config_setting_get_string(s);
    if (f->nonempty && !*v) return error_at(s, err, err_len, "field '%s' must not be empty", path);
    if (f->choices && choice_index(f, v) < 0) {
        char expected[256];
        describe(f, expected, sizeof(expected));
        return error_at(s, err, err_len, "field '%s' is \"%s\", expected %s", path, v, expected);
    }
    if (capacity && strlen(v) >= capacity)
        return error_at(s, err, err_len, "field '%s' is longer than %zu bytes", path, capacity - 1);
    return 0;
}

static int check_array(const SchemaField *f, const config_setting_t *s, const char *path,
                       void *base, char *dst, char *err, size_t err_len) {
    if (config_setting_type(s) != CONFIG_TYPE_ARRAY) return wrong_type(f, s, path, err, err_len);
    int n = config_setting_length(s);
    int want = f->type == SCHEMA_INT_ARRAY ? CONFIG_TYPE_INT : CONFIG_TYPE_STRING;
    int got = n ? config_setting_type(config_setting_get_elem(s, 0)) : want;
    if (got == CONFIG_TYPE_INT64) got = CONFIG_TYPE_INT;
    if (got != want) return wrong_type(f, s, path, err, err_len);
    if (f->nonempty && !n) return error_at(s, err, err_len, "field '%s' must not be empty", path);
    size_t capacity = f->size ? f->size / f->elem_size : SIZE_MAX;
    if ((size_t)n > capacity)
        return error_at(s, err, err_len, "field '%s' has %d elements, at most %zu allowed", path, n,
                        capacity);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char at[PATH_LEN];
        path_printf(at, sizeof(at), "%s[%d]", path, i);
        if (f->type == SCHEMA_STRING_ARRAY) {
            if (check_text(f, e, at, f->size ? f->elem_size : 0, err, err_len) < 0) return -1;
            if (dst)
                memcpy(dst + (size_t)i * f->elem_size, config_setting_get_string(e),
                       strlen(config_setting_get_string(e)) + 1);
            continue;
        }
        long long x = config_setting_get_int64(e);
        if (!in_range(f, (double)x))
            return error_at(e, err, err_len,
                            "field '%s' is %lld, expected an integer in [%.0f..%.0f]", at, x,
                            f->min, f->max);
        if (dst) ((int *)dst)[i] = (int)x;
    }
    if (dst) set_count(f, base, n);
    return 0;
}

static int check_list(const SchemaField *f, const config_setting_t *s, const char *path, void *base,
                      char *dst, char *err, size_t err_len) {
    if (config_setting_type(s) != CONFIG_TYPE_LIST) return wrong_type(f, s, path, err, err_len);
    int n = config_setting_length(s);
    size_t capacity = f->size ? f->size / f->elem_size : SIZE_MAX;
    if ((size_t)n > capacity)
        return error_at(s, err, err_len, "field '%s' has %d elements, at most %zu allowed", path, n,
                        capacity);
    for (int i = 0; i < n; i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        char element[PATH_LEN], prefix[PATH_LEN];
        path_printf(element, sizeof(element), "%s[%d]", path, i);
        path_printf(prefix, sizeof(prefix), "%s.", element);
        if (!config_setting_is_group(e))
            return error_at(e, err, err_len, "field '%s' must be a group { ... }, got %s", element,
                            kind_of(e));
        if (schema_check(f->items, e, prefix, dst ? dst + (size_t)i * f->elem_size : NULL, err,
                         err_len) < 0)
            return -1;
    }
    if (dst) set_count(f, base, n);
    return 0;
}

static int check_map(const SchemaField *f, const config_setting_t *s, const char *path, char *err,
                     size_t err_len) {
    if (!config_setting_is_group(s)) return wrong_type(f, s, path, err, err_len);
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *member = config_setting_get_elem(s, (unsigned)i);
        char shown[PATH_LEN], prefix[PATH_LEN];
        path_printf(shown, sizeof(shown), "%s.%s", path, config_setting_name(member));
        path_printf(prefix, sizeof(prefix), "%s.", shown);
        if (!config_setting_is_group(member))
            return error_at(member, err, err_len, "field '%s' must be a group { ... }, got %s",
                            shown, kind_of(member));
        if (schema_check(f->items, member, prefix, NULL, err, err_len) < 0) return -1;
    }
    return 0;
}

static int check_field(const SchemaField *f, const config_setting_t *s, const char *path,
                       void *base, char *err, size_t err_len) {
    char *dst = base && f->size ? (char *)base + f->offset : NULL;
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_INT64:
    case SCHEMA_FLOAT:
        return check_number(f, s, path, dst, err, err_len);
    case SCHEMA_BOOL:
        if (config_setting_type(s) != CONFIG_TYPE_BOOL) return wrong_type(f, s, path, err, err_len);
        if (dst) *(bool *)dst = config_setting_get_bool(s);
        return 0;
    case SCHEMA_STRING:
    case SCHEMA_ENUM:
        if (check_text(f, s, path, f->type == SCHEMA_STRING ? f->size : 0, err, err_len) < 0)
            return -1;
        if (dst && f->type == SCHEMA_STRING)
            memcpy(dst, config_setting_get_string(s), strlen(config_setting_get_string(s)) + 1);
        else if (dst)
            store_index(f, dst, choice_index(f, config_setting_get_string(s)));
        return 0;
    case SCHEMA_INT_ARRAY:
    case SCHEMA_STRING_ARRAY:
        return check_array(f, s, path, base, dst, err, err_len);
    case SCHEMA_LIST:
        return check_list(f, s, path, base, dst, err, err_len);
    case SCHEMA_MAP:
        return check_map(f, s, path, err, err_len);
    }
    return 0;
}

// Every member of group, in file order: a field, an implied group (checked recursively), or
// an unknown name. level is group's path within the schema ("" or "are.").
static int check_group(const Schema *schema, const config_setting_t *group, const char *level,
                       const char *prefix, void *base, char *err, size_t err_len) {
    for (int i = 0; i < config_setting_length(group); i++) {
        const config_setting_t *s = config_setting_get_elem(group, (unsigned)i);
        const char *name = config_setting_name(s);
        char path[PATH_LEN], shown[PATH_LEN];
        path_printf(path, sizeof(path), "%s%s", level, name);
        path_printf(shown, sizeof(shown), "%s%s", prefix, path);
        const SchemaField *f = field_at(schema, path);
        if (f) {
            if (check_field(f, s, shown, base, err, err_len) < 0) return -1;
        } else if (is_group(schema, path)) {
            if (!config_setting_is_group(s))
                return error_at(s, err, err_len, "'%s' must be a group { ... }, got %s", shown,
                                kind_of(s));
            char inner[PATH_LEN];
            path_printf(inner, sizeof(inner), "%s.", path);
            if (check_group(schema, s, inner, prefix, base, err, err_len) < 0) return -1;
        } else {
            char message[PATH_LEN + 128];
            unknown_message(message, sizeof(message), schema, level, shown, name);
            return error_at(s, err, err_len, "%s", message);
        }
    }
    return 0;
}

int schema_check(const Schema *schema, const config_setting_t *group, const char *prefix,
                 void *base, char *err, size_t err_len) {
    if (base) fill_defaults(schema, base);
    if (check_group(schema, group, "", prefix, base, err, err_len) < 0) return -1;
    for (int i = 0; i < schema->n_fields; i++) {
        const SchemaField *f = &schema->fields[i];
        const config_setting_t *nearest;
        if (!f->required || find_setting(group, f->path, &nearest)) continue;
        char expected[256];
        describe(f, expected, sizeof(expected));
        return error_at(nearest, err, err_len, "missing required field '%s%s' (%s)", prefix,
                        f->path, expected);
    }
    return 0;
}

// libconfig takes any bytes, but a config's text ends up in HDF5 files as UTF-8 (sweep.h5 keeps
// the sweep config whole), where a stray byte would silently become U+FFFD: refused here, where
// its line is known.
static int check_utf8(const char *path, char *err, size_t err_len) {
    MappedFile file;
    if (mapped_file_open(&file, path, err, err_len) < 0) return -1;
    const char *text = (const char *)file.data;
    int line = 1, rc = 0;
    for (size_t at = 0, line_start = 0; rc == 0 && at < file.size;) {
        uint32_t cp;
        int len = utf8_decode(text + at, file.size - at, &cp);
        if (cp == UNICODE_INVALID)
            rc = io_error(err, err_len,
                          "%s:%d: byte 0x%02x at column %zu is not UTF-8 (save the file as UTF-8)",
                          path, line, (unsigned char)text[at], at - line_start + 1);
        if (cp == '\n') {
            line++;
            line_start = at + 1;
        }
        at += (size_t)len;
    }
    mapped_file_close(&file);
    return rc;
}

int schema_read_file(config_t *cfg, const char *path, char *err, size_t err_len) {
    if (config_read_file(cfg, path)) return check_utf8(path, err, err_len);
    if (config_error_type(cfg) == CONFIG_ERR_FILE_IO)
        return io_error(err, err_len, "%s: cannot read the file", path);
    return io_error(err, err_len, "%s:%d: %s",
                    config_error_file(cfg) ? config_error_file(cfg) : path, config_error_line(cfg),
                    config_error_text(cfg));
}

// ---------------------------------------------------------------------------------------------
// Overrides

// libconfig's rule for names: a letter or '*', then letters, digits, '-', '_', '*'.
static bool valid_name(const char *name, size_t len) {
    if (!len || !(isalpha((unsigned char)name[0]) || name[0] == '*')) return false;
    for (size_t i = 1; i < len; i++)
        if (!isalnum((unsigned char)name[i]) && !strchr("-_*", name[i])) return false;
    return true;
}

// Whether path names something the schema knows: a field, an implied group, a member of a MAP,
// or a field inside one. Otherwise -1 with the reason in why.
static int resolve(const Schema *schema, const char *path, char *why, size_t why_len) {
    char level[PATH_LEN] = ""; // the path so far within the current schema, ending in '.'
    const char *at = path;
    for (;;) {
        size_t len = strcspn(at, ".");
        bool last = !at[len];
        size_t shown_len = (size_t)(at - path) + len;
        if (!valid_name(at, len))
            return io_error(why, why_len, "'%.*s' is not a setting name", (int)len, at);
        char name[PATH_LEN], here[PATH_LEN];
        path_printf(name, sizeof(name), "%.*s", (int)len, at);
        path_printf(here, sizeof(here), "%s%s", level, name);
        const SchemaField *f = field_at(schema, here);
        if (f && last) return 0;
        if (f && f->type == SCHEMA_MAP) { // the next name is a member: any name
            at += len + 1;
            len = strcspn(at, ".");
            if (!valid_name(at, len))
                return io_error(why, why_len, "'%.*s' is not a setting name", (int)len, at);
            if (!at[len]) return 0;
            schema = f->items;
            level[0] = '\0';
        } else if (f) {
            return io_error(why, why_len, "field '%.*s' is not a group", (int)shown_len, path);
        } else if (is_group(schema, here)) {
            if (last) return 0;
            path_printf(level, sizeof(level), "%s.", here);
        } else {
            char shown[PATH_LEN];
            path_printf(shown, sizeof(shown), "%.*s", (int)shown_len, path);
            unknown_message(why, why_len, schema, level, shown, name);
            return -1;
        }
        at += len + 1;
    }
}

// The value text read as libconfig reads "value = <text>;", into the member "value" of
// parsed's root; a bare word (no quotes, not starting an array, list or group) that libconfig
// cannot read becomes a string.
static int parse_value(config_t *parsed, const char *text, char *why, size_t why_len) {
    while (isspace((unsigned char)*text)) text++;
    if (!*text) return io_error(why, why_len, "no value after '='");
    size_t len = strlen(text) + sizeof("value = ;");
    char *source = malloc(len);
    if (!source) return io_error(why, why_len, "out of memory");
    snprintf(source, len, "value = %s;", text);
    int ok = config_read_string(parsed, source);
    free(source);
    if (!ok && !strchr("\"[({", text[0]) && !strchr(text, '"')) {
        config_destroy(parsed); // a failed read leaves no root to add to
        config_init(parsed);
        config_setting_t *word =
            config_setting_add(config_root_setting(parsed), "value", CONFIG_TYPE_STRING);
        if (!word || !config_setting_set_string(word, text))
            return io_error(why, why_len, "out of memory");
        return 0;
    }
    if (!ok) return io_error(why, why_len, "%s", config_error_text(parsed));
    if (config_setting_length(config_root_setting(parsed)) != 1)
        return io_error(why, why_len, "expected one value, got more settings");
    return 0;
}

// A deep copy of from as member name of parent (name NULL inside arrays and lists).
static config_setting_t *copy_setting(config_setting_t *parent, const char *name,
                                      const config_setting_t *from) {
    int type = config_setting_type(from);
    config_setting_t *to = config_setting_add(parent, name, type);
    if (!to) return NULL;
    int ok = 1;
    switch (type) {
    case CONFIG_TYPE_INT:
        ok = config_setting_set_int(to, config_setting_get_int(from));
        break;
    case CONFIG_TYPE_INT64:
        ok = config_setting_set_int64(to, config_setting_get_int64(from));
        break;
    case CONFIG_TYPE_FLOAT:
        ok = config_setting_set_float(to, config_setting_get_float(from));
        break;
    case CONFIG_TYPE_BOOL:
        ok = config_setting_set_bool(to, config_setting_get_bool(from));
        break;
    case CONFIG_TYPE_STRING:
        ok = config_setting_set_string(to, config_setting_get_string(from));
        break;
    default: // group, array, list
        for (int i = 0; ok && i < config_setting_length(from); i++) {
            const config_setting_t *e = config_setting_get_elem(from, (unsigned)i);
            ok = copy_setting(to, config_setting_name(e), e) != NULL;
        }
    }
    return ok ? to : NULL;
}

// The group that holds the last name of path, created (marked as made by override) where
// missing; NULL with the reason in why when a setting on the way is not a group.
static config_setting_t *holder_of(config_t *cfg, const char *path, const char *override, char *why,
                                   size_t why_len) {
    config_setting_t *group = config_root_setting(cfg);
    for (const char *at = path; at[strcspn(at, ".")]; at += strcspn(at, ".") + 1) {
        char name[PATH_LEN];
        path_printf(name, sizeof(name), "%.*s", (int)strcspn(at, "."), at);
        config_setting_t *next = config_setting_get_member(group, name);
        if (!next) {
            next = config_setting_add(group, name, CONFIG_TYPE_GROUP);
            if (!next) {
                io_error(why, why_len, "out of memory");
                return NULL;
            }
            config_setting_set_hook(next, (void *) override);
        } else if (!config_setting_is_group(next)) {
            io_error(why, why_len, "'%.*s' is %s in the file (line %d), not a group",
                     (int)(at - path) + (int)strlen(name), path, kind_of(next),
                     config_setting_source_line(next));
            return NULL;
        }
        group = next;
    }
    return group;
}

int schema_override(config_t *cfg, const Schema *schema, const char *override, char *err,
                    size_t err_len) {
    char path[PATH_LEN], why[PATH_LEN + 128];
    const char *equals = strchr(override, '=');
    size_t path_len = equals ? (size_t)(equals - override) : 0;
    while (path_len && isspace((unsigned char) override[path_len - 1])) path_len--;
    if (!equals || !path_len || path_len >= sizeof(path))
        return io_error(err, err_len, "--set %s: expected path=value (are.generator.rank=4)",
                        override);
    path_printf(path, sizeof(path), "%.*s", (int)path_len, override);
    if (resolve(schema, path, why, sizeof(why)) < 0)
        return io_error(err, err_len, "--set %s: %s", override, why);

    config_t parsed;
    config_init(&parsed);
    int rc = parse_value(&parsed, equals + 1, why, sizeof(why));
    config_setting_t *group = rc < 0 ? NULL : holder_of(cfg, path, override, why, sizeof(why));
    if (group) {
        const char *name = strrchr(path, '.') ? strrchr(path, '.') + 1 : path;
        config_setting_remove(group, name); // replaced, when present
        config_setting_t *value = copy_setting(
            group, name, config_setting_get_member(config_root_setting(&parsed), "value"));
        if (value)
            config_setting_set_hook(value, (void *) override);
        else
            io_error(why, sizeof(why), "out of memory");
        rc = value ? 0 : -1;
    }
    config_destroy(&parsed);
    if (!group || rc < 0) return io_error(err, err_len, "--set %s: %s", override, why);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Canonical text

// A growing string; failed once any allocation failed (then it stays as it was).
typedef struct {
    char *text;
    size_t len, capacity;
    bool failed;
} Buffer;

static void vappend(Buffer *b, const char *fmt, va_list ap) {
    va_list again;
    va_copy(again, ap);
    int n = vsnprintf(NULL, 0, fmt, ap);
    if (!b->failed && n >= 0 && b->len + (size_t)n + 1 > b->capacity) {
        size_t capacity = 2 * (b->len + (size_t)n + 1);
        char *text = realloc(b->text, capacity);
        if (text) {
            b->text = text;
            b->capacity = capacity;
        }
        b->failed = !text;
    }
    if (!b->failed && n >= 0) {
        vsnprintf(b->text + b->len, b->capacity - b->len, fmt, again);
        b->len += (size_t)n;
    }
    b->failed = b->failed || n < 0;
    va_end(again);
}

__attribute__((format(printf, 2, 3))) static void append(Buffer *b, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vappend(b, fmt, ap);
    va_end(ap);
}

// A libconfig string literal: quotes, with \" \\ \n \r \t \f and \xNN escapes.
static void append_quoted(Buffer *b, const char *s) {
    static const char specials[] = "\"\\\n\r\t\f", letters[] = "\"\\nrtf";
    append(b, "\"");
    for (; *s; s++) {
        const char *special = strchr(specials, *s);
        if (special)
            append(b, "\\%c", letters[special - specials]);
        else if ((unsigned char)*s < 0x20 || *s == 0x7f)
            append(b, "\\x%02x", (unsigned char)*s);
        else
            append(b, "%c", *s);
    }
    append(b, "\"");
}

void schema_float_text(float x, char text[SCHEMA_FLOAT_LEN]) {
    for (int digits = 1; digits <= 9; digits++) {
        snprintf(text, SCHEMA_FLOAT_LEN, "%.*g", digits, x);
        if (strtof(text, NULL) == x) break;
    }
    if (!strpbrk(text, ".e")) strcat(text, ".0");
}

static void append_float(Buffer *b, float x) {
    char text[SCHEMA_FLOAT_LEN];
    schema_float_text(x, text);
    append(b, "%s", text);
}

static char *join_sorted(SchemaText *t, const char *separator);
static char *join_grouped(SchemaText *t);

// A stored value in libconfig syntax.
static void append_value(Buffer *b, const SchemaField *f, const char *src, const void *base) {
    int n = f->count_offset ? *(const int *)((const char *)base + f->count_offset) : 0;
    switch (f->type) {
    case SCHEMA_INT:
        append(b, "%d", *(const int *)src);
        return;
    case SCHEMA_INT64: {
        long long x = *(const long long *)src;
        append(b, "%lld%s", x, x < INT32_MIN || x > INT32_MAX ? "L" : "");
        return;
    }
    case SCHEMA_FLOAT:
        append_float(b, *(const float *)src);
        return;
    case SCHEMA_BOOL:
        append(b, "%s", *(const bool *)src ? "true" : "false");
        return;
    case SCHEMA_STRING:
        append_quoted(b, src);
        return;
    case SCHEMA_ENUM:
        append_quoted(b, f->choices[load_index(f, src)]);
        return;
    case SCHEMA_INT_ARRAY:
    case SCHEMA_STRING_ARRAY:
        append(b, "[");
        for (int i = 0; i < n; i++) {
            if (i) append(b, ", ");
            if (f->type == SCHEMA_INT_ARRAY)
                append(b, "%d", ((const int *)src)[i]);
            else
                append_quoted(b, src + (size_t)i * f->elem_size);
        }
        append(b, "]");
        return;
    case SCHEMA_LIST:
        append(b, "(");
        for (int i = 0; i < n; i++) {
            SchemaText element = {0};
            schema_text_fields(&element, f->items, src + (size_t)i * f->elem_size, "");
            char *fields = join_grouped(&element);
            if (fields)
                append(b, "%s{ %s}", i ? ", " : "", fields);
            else
                b->failed = true;
            free(fields);
        }
        append(b, ")");
        return;
    case SCHEMA_MAP:
        return;
    }
}

// The lines of a list element joined into one group body, lines "g.x = 1;" "g.y = 2;" of an
// item field in a group (one level, as "columns.prompt") written "g = { x = 1; y = 2; };" so
// that the text reads back. Frees the lines; NULL when out of memory.
static char *join_grouped(SchemaText *t) {
    char *sorted = join_sorted(t, "\n");
    if (!sorted) return NULL;
    Buffer all = {0};
    append(&all, "%s", "");
    size_t open_len = 0; // length of the open group's name, 0 when none is open
    const char *open = NULL;
    for (char *line = sorted, *end; *line; line = end + 1) {
        end = strchr(line, '\n');
        *end = '\0';
        const char *dot = strchr(line, '.'), *eq = strstr(line, " = ");
        size_t name_len = dot && eq && dot < eq ? (size_t)(dot - line) : 0;
        if (open_len && (name_len != open_len || strncmp(line, open, open_len) != 0)) {
            append(&all, "}; ");
            open_len = 0;
        }
        if (name_len && !open_len) {
            append(&all, "%.*s = { ", (int)name_len, line);
            open = line;
            open_len = name_len;
        }
        append(&all, "%s ", name_len ? line + name_len + 1 : line);
    }
    if (open_len) append(&all, "}; ");
    free(sorted);
    if (all.failed) free(all.text);
    return all.failed ? NULL : all.text;
}

// A setting as written in the tree, in libconfig syntax.
static void append_setting(Buffer *b, const config_setting_t *s) {
    int type = config_setting_type(s);
    switch (type) {
    case CONFIG_TYPE_INT:
        append(b, "%d", config_setting_get_int(s));
        return;
    case CONFIG_TYPE_INT64: {
        long long x = config_setting_get_int64(s);
        append(b, "%lld%s", x, x < INT32_MIN || x > INT32_MAX ? "L" : "");
        return;
    }
    case CONFIG_TYPE_FLOAT:
        append_float(b, (float)config_setting_get_float(s));
        return;
    case CONFIG_TYPE_BOOL:
        append(b, "%s", config_setting_get_bool(s) ? "true" : "false");
        return;
    case CONFIG_TYPE_STRING:
        append_quoted(b, config_setting_get_string(s));
        return;
    }
    // A group { name = value; ... }, an array [a, b] or a list (a, b).
    bool group = type == CONFIG_TYPE_GROUP, array = type == CONFIG_TYPE_ARRAY;
    append(b, "%s", group ? "{ " : array ? "[" : "(");
    for (int i = 0; i < config_setting_length(s); i++) {
        const config_setting_t *e = config_setting_get_elem(s, (unsigned)i);
        if (group)
            append(b, "%s = ", config_setting_name(e));
        else if (i)
            append(b, ", ");
        append_setting(b, e);
        if (group) append(b, "; ");
    }
    append(b, "%s", group ? "}" : array ? "]" : ")");
}

char *schema_value_text(const config_setting_t *s) {
    Buffer b = {0};
    append_setting(&b, s);
    if (b.failed) free(b.text);
    return b.failed ? NULL : b.text;
}

static void add_line(SchemaText *t, Buffer *line) {
    if (!line->failed && t->n == t->capacity) {
        int capacity = t->capacity ? 2 * t->capacity : 64;
        char **lines = realloc(t->lines, (size_t)capacity * sizeof(char *));
        line->failed = !lines;
        if (lines) {
            t->lines = lines;
            t->capacity = capacity;
        }
    }
    if (line->failed) {
        t->out_of_memory = true;
        free(line->text);
        return;
    }
    t->lines[t->n++] = line->text;
}

void schema_text_fields(SchemaText *t, const Schema *schema, const void *base, const char *prefix) {
    for (int i = 0; i < schema->n_fields; i++) {
        const SchemaField *f = &schema->fields[i];
        if (!f->size || f->not_canonical) continue;
        Buffer line = {0};
        append(&line, "%s%s = ", prefix, f->path);
        append_value(&line, f, (const char *)base + f->offset, base);
        append(&line, ";");
        add_line(t, &line);
    }
}

void schema_text_line(SchemaText *t, const char *fmt, ...) {
    Buffer line = {0};
    va_list ap;
    va_start(ap, fmt);
    vappend(&line, fmt, ap);
    va_end(ap);
    add_line(t, &line);
}

static int compare_lines(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

// Lines start with their path and a path never holds a character below ' ', so sorting whole
// lines sorts by path.
static char *join_sorted(SchemaText *t, const char *separator) {
    Buffer all = {0};
    if (t->n) qsort(t->lines, (size_t)t->n, sizeof(char *), compare_lines);
    append(&all, "%s", ""); // an empty text is still a string
    for (int i = 0; i < t->n; i++) {
        append(&all, "%s%s", t->lines[i], separator);
        free(t->lines[i]);
    }
    free(t->lines);
    bool failed = all.failed || t->out_of_memory;
    *t = (SchemaText){0};
    if (failed) free(all.text);
    return failed ? NULL : all.text;
}

char *schema_text_join(SchemaText *t) {
    return join_sorted(t, "\n");
}

// ---------------------------------------------------------------------------------------------
// Reference

static void append_default(Buffer *b, const SchemaField *f) {
    switch (f->type) {
    case SCHEMA_INT:
    case SCHEMA_INT64:
        append(b, "%.0f", f->number);
        return;
    case SCHEMA_FLOAT:
        append_float(b, (float)f->number);
        return;
    case SCHEMA_BOOL:
        append(b, "%s", f->number ? "true" : "false");
        return;
    case SCHEMA_STRING:
    case SCHEMA_ENUM:
        append_quoted(b, f->text ? f->text : "");
        return;
    case SCHEMA_INT_ARRAY:
    case SCHEMA_STRING_ARRAY:
        append(b, "[");
        for (int i = 0; f->type == SCHEMA_INT_ARRAY ? i < f->n_ints : f->texts && f->texts[i];
             i++) {
            if (i) append(b, ", ");
            if (f->type == SCHEMA_INT_ARRAY)
                append(b, "%d", f->ints[i]);
            else
                append_quoted(b, f->texts[i]);
        }
        append(b, "]");
        return;
    case SCHEMA_LIST:
        append(b, "()");
        return;
    case SCHEMA_MAP:
        append(b, "{}");
        return;
    }
}

static void write_reference(FILE *out, const Schema *schema, const char *prefix) {
    for (int i = 0; i < schema->n_fields; i++) {
        const SchemaField *f = &schema->fields[i];
        char expected[256];
        describe(f, expected, sizeof(expected));
        Buffer line = {0};
        append(&line, "%s%s: %s, ", prefix, f->path, expected);
        if (f->required)
            append(&line, "required");
        else {
            append(&line, "default ");
            append_default(&line, f);
        }
        if (!line.failed) fprintf(out, "%s. %s\n", line.text, f->doc ? f->doc : "");
        free(line.text);
        if (!f->items) continue;
        char inner[PATH_LEN];
        path_printf(inner, sizeof(inner), "%s%s%s", prefix, f->path,
                    f->type == SCHEMA_MAP ? ".NAME." : "[i].");
        write_reference(out, f->items, inner);
    }
}

void schema_write_reference(FILE *out, const Schema *schema) {
    write_reference(out, schema, "");
}

char *schema_string_text(const char *s) {
    Buffer b = {0};
    append_quoted(&b, s);
    if (b.failed) free(b.text);
    return b.failed ? NULL : b.text;
}
