// Prompt datasets in JSONL and CSV; see prompt_set.h.
#include "prompt_set.h"
#include "io_error.h"
#include "json_error.h"
#include "mapped_file.h"
#include "unicode.h"

#include <assert.h>
#include <jansson.h>
#include <limits.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
    FIELD_PROMPT,
    FIELD_LABEL,
    FIELD_SPLIT,
    FIELD_TARGET,
    FIELD_ANSWER,
    FIELD_CHOICES,
    N_FIELDS
};
// Fields before FIELD_TARGET are required (label and split unless the layout fixes them).
static const char *const field_names[N_FIELDS] = {"prompt", "label",  "split",
                                                  "target", "answer", "choices"};
// What a JSONL row must hold in each field, for messages.
static const char *const json_expected[N_FIELDS] = {
    "a non-empty string", "the integer 0 or 1", "\"train\" or \"test\"",
    "a non-empty string", "a non-empty string", "an array of 2 to 8 non-empty strings"};
static const char *const split_names[] = {"train", "test"};
static const char choice_separator[] = " | ";

// One file being loaded, and the allocation its strings go to.
typedef struct {
    PromptSet *set;
    const char *names[N_FIELDS]; // each field's column (CSV) or member (JSONL) name
    int label_all, split_all;    // PromptLayout's
    char *text;                  // [capacity] the file's name, then its rows' strings
    size_t used, capacity;       // see text_capacity
    char *err;
    size_t err_len;
} Loader;

// The file's name, as stored at the start of its text.
static const char *loader_name(const Loader *L) {
    return L->text;
}

// "name:line: field: what" into the caller's err. Returns -1.
__attribute__((format(printf, 4, 5))) static int
row_error(const Loader *L, int line, const char *field, const char *fmt, ...) {
    char what[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof what, fmt, ap);
    va_end(ap);
    return io_error(L->err, L->err_len, "%s:%d: %s: %s", loader_name(L), line, field, what);
}

// A value quoted in a message: its first 40 bytes, anything but printable ASCII shown as '?'
// so that the message stays one line of valid text.
static const char *excerpt(const char *s, size_t n, char out[48]) {
    size_t shown = n > 40 ? 40 : n;
    for (size_t i = 0; i < shown; i++) out[i] = s[i] >= 0x20 && s[i] < 0x7f ? s[i] : '?';
    strcpy(out + shown, shown < n ? "..." : "");
    return out;
}

// Text the tokenizer will see must be non-empty, valid UTF-8 and free of NUL bytes.
static int check_text(const Loader *L, int line, const char *field, const char *s, size_t n) {
    if (n == 0) return row_error(L, line, field, "expected a non-empty string, got an empty one");
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        int bytes = utf8_decode(s + i, n - i, &cp);
        if (cp == 0)
            return row_error(L, line, field,
                             "expected UTF-8 text without NUL bytes, got a NUL byte at byte %zu",
                             i);
        if (cp == UNICODE_INVALID)
            return row_error(L, line, field,
                             "expected UTF-8 text without NUL bytes, got the byte 0x%02x at "
                             "byte %zu",
                             (unsigned char)s[i], i);
        i += (size_t)bytes;
    }
    return 0;
}

// Copies n bytes of s and a NUL into the file's text; text_capacity guarantees the room.
static const char *copy_text(Loader *L, const char *s, size_t n) {
    assert(L->used + n + 1 <= L->capacity);
    char *copy = L->text + L->used;
    memcpy(copy, s, n);
    copy[n] = '\0';
    L->used += n + 1;
    return copy;
}

static int parse_split(const Loader *L, int line, const char *s, size_t n, PromptSplit *split) {
    for (int k = PROMPT_TRAIN; k <= PROMPT_TEST; k++) {
        if (n == strlen(split_names[k]) && memcmp(s, split_names[k], n) == 0) {
            *split = (PromptSplit)k;
            return 0;
        }
    }
    char shown[48];
    return row_error(L, line, L->names[FIELD_SPLIT], "expected \"train\" or \"test\", got \"%s\"",
                     excerpt(s, n, shown));
}

static int push_row(Loader *L, PromptRow row, int line) {
    PromptSet *set = L->set;
    if (set->n == set->capacity) {
        if (set->capacity > INT_MAX / 2)
            return io_error(L->err, L->err_len, "%s:%d: more than %d rows", loader_name(L), line,
                            set->capacity);
        int capacity = set->capacity ? 2 * set->capacity : 256;
        PromptRow *rows = realloc(set->rows, (size_t)capacity * sizeof *rows);
        if (!rows)
            return io_error(L->err, L->err_len, "%s:%d: out of memory", loader_name(L), line);
        set->rows = rows;
        set->capacity = capacity;
    }
    row.file = loader_name(L);
    row.line = line;
    set->rows[set->n++] = row;
    return 0;
}

// ---- JSONL ----

// Field f of a JSON row in *value: NULL when an optional field is absent or null. Fails when a
// required field is absent or a present one is not of type want.
static int json_field(const Loader *L, int line, const json_t *row, int f, json_type want,
                      json_t **value) {
    bool optional = f >= FIELD_TARGET;
    *value = json_object_get(row, L->names[f]);
    if (!*value || (optional && json_is_null(*value))) {
        *value = NULL;
        return optional
                   ? 0
                   : row_error(L, line, L->names[f], "missing (expected %s)", json_expected[f]);
    }
    if (json_typeof(*value) != want)
        return row_error(L, line, L->names[f], "expected %s, got %s", json_expected[f],
                         json_type_name(*value));
    return 0;
}

static int json_copy_text(Loader *L, int line, const char *field, const json_t *string,
                          const char **out) {
    const char *s = json_string_value(string);
    size_t n = json_string_length(string);
    if (check_text(L, line, field, s, n)) return -1;
    *out = copy_text(L, s, n);
    return 0;
}

static int json_choices(Loader *L, int line, const json_t *choices, PromptRow *row) {
    size_t n = json_array_size(choices);
    if (n < 2 || n > PROMPT_SET_MAX_CHOICES)
        return row_error(L, line, "choices", "expected 2 to %d choices, got %zu",
                         PROMPT_SET_MAX_CHOICES, n);
    for (size_t k = 0; k < n; k++) {
        const json_t *choice = json_array_get(choices, k);
        char field[32];
        snprintf(field, sizeof field, "choices[%zu]", k);
        if (!json_is_string(choice))
            return row_error(L, line, field, "expected a non-empty string, got %s",
                             json_type_name(choice));
        if (json_copy_text(L, line, field, choice, &row->choices[k])) return -1;
    }
    row->n_choices = (int)n;
    return 0;
}

static int json_row_fields(Loader *L, int line, const json_t *obj, PromptRow *row) {
    json_t *prompt, *label = NULL, *split = NULL, *target, *answer, *choices;
    if (json_field(L, line, obj, FIELD_PROMPT, JSON_STRING, &prompt) ||
        (L->label_all == PROMPT_ANY &&
         json_field(L, line, obj, FIELD_LABEL, JSON_INTEGER, &label)) ||
        (L->split_all == PROMPT_ANY &&
         json_field(L, line, obj, FIELD_SPLIT, JSON_STRING, &split)) ||
        json_field(L, line, obj, FIELD_TARGET, JSON_STRING, &target) ||
        json_field(L, line, obj, FIELD_ANSWER, JSON_STRING, &answer) ||
        json_field(L, line, obj, FIELD_CHOICES, JSON_ARRAY, &choices))
        return -1;
    if (json_copy_text(L, line, L->names[FIELD_PROMPT], prompt, &row->prompt)) return -1;
    json_int_t label_value = label ? json_integer_value(label) : L->label_all;
    if (label_value != 0 && label_value != 1)
        return row_error(L, line, L->names[FIELD_LABEL],
                         "expected 0 or 1, got %" JSON_INTEGER_FORMAT, label_value);
    row->label = (int)label_value;
    row->split = (PromptSplit)L->split_all;
    if (split &&
        parse_split(L, line, json_string_value(split), json_string_length(split), &row->split))
        return -1;
    if (target && json_copy_text(L, line, L->names[FIELD_TARGET], target, &row->target)) return -1;
    if (answer && json_copy_text(L, line, L->names[FIELD_ANSWER], answer, &row->answer)) return -1;
    if (choices && json_choices(L, line, choices, row)) return -1;
    return 0;
}

static int jsonl_row(Loader *L, int line, const char *s, size_t n) {
    json_error_t jerr;
    json_t *obj = json_loadb(s, n, JSON_REJECT_DUPLICATES, &jerr);
    if (!obj) {
        jerr.line = line; // jansson read this line alone: its line 1 is the file's line
        return json_load_error(L->err, L->err_len, loader_name(L), &jerr);
    }
    PromptRow row = {0};
    int rc = json_is_object(obj)
                 ? json_row_fields(L, line, obj, &row)
                 : io_error(L->err, L->err_len, "%s:%d: expected a JSON object, got %s",
                            loader_name(L), line, json_type_name(obj));
    json_decref(obj);
    return rc ? -1 : push_row(L, row, line);
}

static bool is_blank(const char *s, size_t n) {
    for (size_t i = 0; i < n; i++)
        if (s[i] != ' ' && s[i] != '\t' && s[i] != '\r') return false;
    return true;
}

static int load_jsonl(Loader *L, const char *bytes, size_t len) {
    const char *end = bytes + len;
    int line = 0;
    for (const char *p = bytes; p < end;) {
        const char *eol = memchr(p, '\n', (size_t)(end - p));
        if (!eol) eol = end;
        line++;
        size_t n = (size_t)(eol - p);
        if (!is_blank(p, n) && jsonl_row(L, line, p, n)) return -1;
        p = eol < end ? eol + 1 : end;
    }
    return 0;
}

// ---- CSV ----

typedef struct {
    const char *p, *end;
    int line; // the physical line p is on
} CsvCursor;

static bool at_line_break(const CsvCursor *c) {
    return c->p < c->end &&
           (*c->p == '\n' || (*c->p == '\r' && c->p + 1 < c->end && c->p[1] == '\n'));
}

static void skip_line_break(CsvCursor *c) {
    c->p += *c->p == '\r' ? 2 : 1;
    c->line++;
}

static void skip_blank_lines(CsvCursor *c) {
    while (at_line_break(c)) skip_line_break(c);
}

// Reads the field at c and the comma or line break after it, writing its unquoted bytes and a
// NUL to out (nothing when out is NULL) and their count to *len; *last tells whether the field
// ended its record.
static int csv_field(const Loader *L, CsvCursor *c, char *out, size_t *len, bool *last) {
    size_t n = 0;
    if (c->p < c->end && *c->p == '"') {
        int open_line = c->line;
        for (c->p++;; c->p++) {
            if (c->p == c->end)
                return io_error(L->err, L->err_len,
                                "%s:%d: unterminated quoted field: the quote opened on this line "
                                "is never closed",
                                loader_name(L), open_line);
            if (*c->p == '"') {
                if (c->p + 1 == c->end || c->p[1] != '"') break;
                c->p++; // "" inside quotes is one quote
            }
            if (*c->p == '\n') c->line++;
            if (out) out[n] = *c->p;
            n++;
        }
        c->p++; // the closing quote
    } else {
        for (; c->p < c->end && *c->p != ',' && !at_line_break(c); c->p++) {
            if (*c->p == '"')
                return io_error(L->err, L->err_len,
                                "%s:%d: a double quote inside an unquoted field (enclose the field "
                                "in double quotes and double each quote inside it)",
                                loader_name(L), c->line);
            if (out) out[n] = *c->p;
            n++;
        }
    }
    if (out) out[n] = '\0';
    *len = n;
    *last = true;
    if (c->p == c->end) return 0;
    if (*c->p == ',') {
        c->p++;
        *last = false;
        return 0;
    }
    if (at_line_break(c)) {
        skip_line_break(c);
        return 0;
    }
    char shown[48];
    return io_error(L->err, L->err_len,
                    "%s:%d: expected a comma or a line break after a closing quote, got \"%s\"",
                    loader_name(L), c->line, excerpt(c->p, 1, shown));
}

// Reads the header row into column[f], the column of field f (-1 for an absent optional one),
// and *n_columns.
static int csv_header(Loader *L, CsvCursor *c, int column[N_FIELDS], int *n_columns) {
    for (int f = 0; f < N_FIELDS; f++) column[f] = -1;
    skip_blank_lines(c);
    if (c->p == c->end)
        return io_error(L->err, L->err_len,
                        "%s: no header row (expected a first line naming the columns "
                        "%s,%s,%s)",
                        loader_name(L), L->names[FIELD_PROMPT], L->names[FIELD_LABEL],
                        L->names[FIELD_SPLIT]);
    int line = c->line, n = 0;
    for (bool last = false; !last; n++) {
        char *name = L->text + L->used; // read into free space, not kept
        size_t len;
        if (csv_field(L, c, name, &len, &last)) return -1;
        for (int f = 0; f < N_FIELDS; f++) {
            if (len != strlen(L->names[f]) || memcmp(name, L->names[f], len) != 0) continue;
            if (column[f] >= 0)
                return io_error(L->err, L->err_len, "%s:%d: header: column \"%s\" appears twice",
                                loader_name(L), line, L->names[f]);
            column[f] = n;
        }
    }
    for (int f = 0; f < FIELD_TARGET; f++) {
        bool fixed = (f == FIELD_LABEL && L->label_all != PROMPT_ANY) ||
                     (f == FIELD_SPLIT && L->split_all != PROMPT_ANY);
        if (column[f] < 0 && !fixed)
            return io_error(L->err, L->err_len,
                            "%s:%d: header: expected a column named \"%s\" (names are "
                            "case-sensitive)",
                            loader_name(L), line, L->names[f]);
        if (fixed) column[f] = -1; // the layout's value wins over a column of that name
    }
    *n_columns = n;
    return 0;
}

// Splits a choices cell in place at each " | ".
static int csv_choices(const Loader *L, int line, char *cell, size_t len, PromptRow *row) {
    if (check_text(L, line, "choices", cell, len)) return -1;
    const size_t separator_len = strlen(choice_separator);
    int n = 1;
    for (const char *p = cell; (p = strstr(p, choice_separator)); p += separator_len) n++;
    if (n < 2 || n > PROMPT_SET_MAX_CHOICES)
        return row_error(L, line, "choices", "expected 2 to %d choices separated by \"%s\", got %d",
                         PROMPT_SET_MAX_CHOICES, choice_separator, n);
    char *choice = cell;
    for (int k = 0; k < n; k++) {
        char *end = k + 1 < n ? strstr(choice, choice_separator) : choice + strlen(choice);
        *end = '\0';
        char field[32];
        snprintf(field, sizeof field, "choices[%d]", k);
        if (check_text(L, line, field, choice, (size_t)(end - choice))) return -1;
        row->choices[k] = choice;
        choice = end + separator_len;
    }
    row->n_choices = n;
    return 0;
}

// A record's fields of interest, NUL-terminated in the file's text: value[f] of len[f] bytes,
// NULL for an absent optional column.
static int csv_row_fields(const Loader *L, int line, char *value[N_FIELDS],
                          const size_t len[N_FIELDS], PromptRow *row) {
    if (check_text(L, line, L->names[FIELD_PROMPT], value[FIELD_PROMPT], len[FIELD_PROMPT]))
        return -1;
    row->prompt = value[FIELD_PROMPT];
    row->label = L->label_all;
    const char *label = value[FIELD_LABEL];
    if (label && (len[FIELD_LABEL] != 1 || (*label != '0' && *label != '1'))) {
        char shown[48];
        return row_error(L, line, L->names[FIELD_LABEL], "expected 0 or 1, got \"%s\"",
                         excerpt(label, len[FIELD_LABEL], shown));
    }
    if (label) row->label = *label - '0';
    row->split = (PromptSplit)L->split_all;
    if (value[FIELD_SPLIT] &&
        parse_split(L, line, value[FIELD_SPLIT], len[FIELD_SPLIT], &row->split))
        return -1;
    // An empty cell of an optional column means absent.
    if (value[FIELD_TARGET] && len[FIELD_TARGET] > 0) {
        if (check_text(L, line, L->names[FIELD_TARGET], value[FIELD_TARGET], len[FIELD_TARGET]))
            return -1;
        row->target = value[FIELD_TARGET];
    }
    if (value[FIELD_ANSWER] && len[FIELD_ANSWER] > 0) {
        if (check_text(L, line, L->names[FIELD_ANSWER], value[FIELD_ANSWER], len[FIELD_ANSWER]))
            return -1;
        row->answer = value[FIELD_ANSWER];
    }
    if (value[FIELD_CHOICES] && len[FIELD_CHOICES] > 0)
        return csv_choices(L, line, value[FIELD_CHOICES], len[FIELD_CHOICES], row);
    return 0;
}

static int csv_record(Loader *L, CsvCursor *c, const int column[N_FIELDS], int n_columns) {
    int line = c->line, n = 0;
    char *value[N_FIELDS] = {0};
    size_t len[N_FIELDS] = {0};
    for (bool last = false; !last; n++) {
        int f = 0;
        while (f < N_FIELDS && column[f] != n) f++;
        char *out = f < N_FIELDS ? L->text + L->used : NULL;
        size_t n_bytes;
        if (csv_field(L, c, out, &n_bytes, &last)) return -1;
        if (!out) continue;
        assert(L->used + n_bytes + 1 <= L->capacity); // see text_capacity
        for (int g = f; g < N_FIELDS; g++) {          // one column may serve two fields
            if (column[g] != n) continue;
            value[g] = out;
            len[g] = n_bytes;
        }
        L->used += n_bytes + 1;
    }
    if (n != n_columns)
        return io_error(L->err, L->err_len, "%s:%d: expected %d fields as in the header, got %d",
                        loader_name(L), line, n_columns, n);
    PromptRow row = {0};
    if (csv_row_fields(L, line, value, len, &row)) return -1;
    return push_row(L, row, line);
}

static int load_csv(Loader *L, const char *bytes, size_t len) {
    CsvCursor c = {bytes, bytes + len, 1};
    int column[N_FIELDS], n_columns = 0;
    if (csv_header(L, &c, column, &n_columns)) return -1;
    for (skip_blank_lines(&c); c.p < c.end; skip_blank_lines(&c))
        if (csv_record(L, &c, column, n_columns)) return -1;
    return 0;
}

// ---- Loading ----

// Bytes for a file's name and its rows' strings. No string is longer decoded than in the file
// (JSON escapes and CSV quoting only shrink), the strings of different fields come from
// different bytes, and each row, at most one per line, adds at most 3 + PROMPT_SET_MAX_CHOICES
// terminating NULs (prompt, target, answer, choices; a CSV record stores at most N_FIELDS
// values).
static size_t text_capacity(const char *name, const char *bytes, size_t len) {
    size_t lines = 1;
    for (const char *p = bytes; (p = memchr(p, '\n', (size_t)(bytes + len - p))); p++) lines++;
    return strlen(name) + 1 + len + lines * (3 + PROMPT_SET_MAX_CHOICES);
}

// Hands the file's text over to the set.
static int keep_text(Loader *L) {
    PromptSet *set = L->set;
    char **texts = realloc(set->texts, (size_t)(set->n_texts + 1) * sizeof *texts);
    if (!texts) return io_error(L->err, L->err_len, "%s: out of memory", loader_name(L));
    set->texts = texts;
    set->texts[set->n_texts++] = L->text;
    return 0;
}

// The loader of one file under layout (NULL: the default names, label and split from the file).
static Loader loader_start(PromptSet *set, const PromptLayout *layout, char *err, size_t err_len) {
    Loader L = {.set = set, .err = err, .err_len = err_len};
    const char *chosen[N_FIELDS] = {0};
    L.label_all = L.split_all = PROMPT_ANY;
    if (layout) {
        const char *names[N_FIELDS] = {layout->prompt, layout->label,  layout->split,
                                       layout->target, layout->answer, layout->choices};
        memcpy(chosen, names, sizeof names);
        L.label_all = layout->label_all;
        L.split_all = layout->split_all;
    }
    for (int f = 0; f < N_FIELDS; f++)
        L.names[f] = chosen[f] && chosen[f][0] ? chosen[f] : field_names[f];
    return L;
}

int prompt_set_load_memory(PromptSet *set, const char *name, const char *bytes, size_t len,
                           PromptFormat format, const PromptLayout *layout, char *err,
                           size_t err_len) {
    if (layout && (layout->label_all < PROMPT_ANY || layout->label_all > 1 ||
                   layout->split_all < PROMPT_ANY || layout->split_all > PROMPT_TEST))
        return io_error(err, err_len, "%s: layout: label_all %d, split_all %d out of range", name,
                        layout->label_all, layout->split_all);
    if (len > INT_MAX)
        return io_error(err, err_len, "%s: %zu bytes, more than the 2 GiB a prompt file may hold",
                        name, len);
    if (len == 0) bytes = ""; // an empty mapped file has no address
    static const char byte_order_mark[] = "\xEF\xBB\xBF";
    if (len >= 3 && memcmp(bytes, byte_order_mark, 3) == 0) {
        bytes += 3;
        len -= 3;
    }
    Loader L = loader_start(set, layout, err, err_len);
    L.capacity = text_capacity(name, bytes, len);
    L.text = malloc(L.capacity);
    if (!L.text) return io_error(err, err_len, "%s: out of memory", name);
    copy_text(&L, name, strlen(name));
    int n_before = set->n;
    int rc = format == PROMPT_CSV ? load_csv(&L, bytes, len) : load_jsonl(&L, bytes, len);
    if (rc == 0 && set->n == n_before) rc = io_error(err, err_len, "%s: no rows", name);
    if (rc == 0) rc = keep_text(&L);
    if (rc != 0) {
        set->n = n_before;
        free(L.text);
    }
    return rc;
}

static bool ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

int prompt_set_load(PromptSet *set, const char *path, const PromptLayout *layout, char *err,
                    size_t err_len) {
    PromptFormat format;
    if (ends_with(path, ".jsonl"))
        format = PROMPT_JSONL;
    else if (ends_with(path, ".csv"))
        format = PROMPT_CSV;
    else
        return io_error(err, err_len,
                        "%s: expected a .jsonl or .csv file (the extension picks the format)",
                        path);
    MappedFile file;
    if (mapped_file_open(&file, path, err, err_len)) return -1;
    int rc = prompt_set_load_memory(set, path, (const char *)file.data, file.size, format, layout,
                                    err, err_len);
    mapped_file_close(&file);
    return rc;
}

void prompt_set_free(PromptSet *set) {
    for (int i = 0; i < set->n_texts; i++) free(set->texts[i]);
    free(set->texts);
    free(set->rows);
    *set = (PromptSet){0};
}

int prompt_set_select(const PromptSet *set, int label, int split, int *indices) {
    int n = 0;
    for (int i = 0; i < set->n; i++) {
        const PromptRow *row = &set->rows[i];
        if ((label == PROMPT_ANY || row->label == label) &&
            (split == PROMPT_ANY || (int)row->split == split)) {
            if (indices) indices[n] = i;
            n++;
        }
    }
    return n;
}

int prompt_set_check_task(const PromptSet *set, const char *what, char *err, size_t err_len) {
    for (int split = PROMPT_TRAIN; split <= PROMPT_TEST; split++) {
        int count[2] = {prompt_set_select(set, 0, split, NULL),
                        prompt_set_select(set, 1, split, NULL)};
        if (count[0] + count[1] == 0)
            return io_error(err, err_len,
                            "%s: no %s rows (ARE needs a train and a test split, each with "
                            "labels 0 and 1)",
                            what, split_names[split]);
        for (int label = 0; label < 2; label++)
            if (count[label] == 0)
                return io_error(err, err_len,
                                "%s: the %s split has no rows with label %d (label 0: %d rows, "
                                "label 1: %d rows); the discriminator needs both classes",
                                what, split_names[split], label, count[0], count[1]);
    }
    return 0;
}
