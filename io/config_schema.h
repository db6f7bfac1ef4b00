// Table-driven checking of libconfig files. A schema is a static table of fields, one row per
// setting ("are.discriminator.lr", its type, default, range, a one-line doc, and where it is
// stored in the caller's struct); one pass over the parsed tree then refuses unknown names
// (suggesting the nearest known one), wrong types, out-of-range values and missing required
// fields, and fills the struct. Groups are implied by the paths: "are.discriminator.lr" makes
// "are" and "are.discriminator" groups. The one engine of every config: trial configs
// (io/are_config.c) and pretrain configs (io/pretrain_config.c) are each a table and a few rules
// between fields.
//
// Every message starts with where the setting is: "file:line: ", or "--set path=value: " for a
// setting that an override made, or "file: " for something missing from the whole file.
//
// Overrides ("are.generator.rank=4", the command line's --set; also how sweeps set their axes)
// are applied to the tree before checking, so an overridden config reads, and prints as
// canonical text, exactly as if the file had said so.
#ifndef ARE_CONFIG_SCHEMA_H
#define ARE_CONFIG_SCHEMA_H

#include <libconfig.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

typedef enum {
    SCHEMA_INT,          // int; a float is refused
    SCHEMA_INT64,        // long long (libconfig needs an L suffix beyond 32 bits)
    SCHEMA_FLOAT,        // float; an integer is accepted and converted
    SCHEMA_BOOL,         // bool
    SCHEMA_STRING,       // char[size], NUL-terminated; choices, when given, restrict the value
    SCHEMA_ENUM,         // one of choices, stored as its index in an int (or in a bool)
    SCHEMA_INT_ARRAY,    // [1, 2]: int[capacity] and an int count
    SCHEMA_STRING_ARRAY, // ["a", "b"]: char[capacity][length] and an int count
    SCHEMA_LIST,         // ({ ... }, { ... }): groups read with items into struct[capacity], count
    SCHEMA_MAP,          // { name = { ... }; ... }: any names, each a group checked with items;
                         // not stored (the caller picks members and reads them with schema_check)
} SchemaType;

typedef struct Schema Schema;

typedef struct {
    const char *path; // relative to the group checked: "are.discriminator.lr"
    SchemaType type;
    bool required;

    // Default when the setting is absent, by type (arrays: the whole array).
    double number;            // INT, INT64, FLOAT; BOOL: nonzero is true
    const char *text;         // STRING, ENUM
    const int *ints;          // INT_ARRAY, n_ints of them
    int n_ints;               //
    const char *const *texts; // STRING_ARRAY, NULL-terminated
    // Checks.
    double min, max;            // numbers and int array elements: inclusive range
    bool min_exclusive;         // min itself is refused (learning rates, epsilons)
    bool nonempty;              // strings: not ""; arrays: at least one element, none ""
    const char *const *choices; // STRING, ENUM: the allowed values, NULL-terminated
    const Schema *items;        // LIST, MAP: the schema of each element
    const char *doc;            // one line, for the reference (schema_write_reference)
    bool not_canonical; // where results go, not what they are: left out of the canonical text

    // Where the value goes in the struct being filled; size 0: checked only, not stored.
    size_t offset, size;
    size_t elem_size;    // arrays and lists: size of one element
    size_t count_offset; // arrays and lists: the int that receives the element count
} SchemaField;

struct Schema {
    const SchemaField *fields;
    int n_fields;
};

// Storage of a field in struct type Struct: SCHEMA_AT(AreConfig, disc.lr), and for arrays and
// lists SCHEMA_ARRAY_AT(AreConfig, rep_layers, n_rep_layers).
#define SCHEMA_AT(Struct, member)                                                                  \
    .offset = offsetof(Struct, member), .size = sizeof(((Struct *)0)->member)
#define SCHEMA_ARRAY_AT(Struct, member, count)                                                     \
    SCHEMA_AT(Struct, member), .elem_size = sizeof(((Struct *)0)->member[0]),                      \
                               .count_offset = offsetof(Struct, count)
#define SCHEMA_INTS(array) .ints = array, .n_ints = (int)(sizeof(array) / sizeof((array)[0]))

// Reads the file at path into cfg (config_init'd by the caller). Returns 0, or -1 with
// "path: cannot read the file", "file:line: <libconfig's parse error>" or "path:line: byte 0x..
// at column c is not UTF-8" in err (files it @includes are libconfig's to read, unchecked).
int schema_read_file(config_t *cfg, const char *path, char *err, size_t err_len);

// Applies one override "path=value" to the tree. The value is read as libconfig reads a value
// (1, 1e-3, true, "text", [1, 2], ( { ... } ), ...); a bare word that is none of these is taken
// as a string (device=cuda). Missing groups on the way are created and an existing setting is
// replaced. A path the schema does not know is refused with the nearest known name. The text
// of override must outlive cfg: later messages about the value quote it.
// Returns 0, or -1 with "--set <override>: reason" in err.
int schema_override(config_t *cfg, const Schema *schema, const char *override, char *err,
                    size_t err_len);

// Checks every setting under group (the root, or one member of a MAP) against schema and, when
// base is not NULL, fills the struct at base: defaults first, then every stored value found.
// prefix is prepended to paths in messages ("" at the root, "tasks.jailbreak." for a member).
// Returns 0, or -1 with the first error (in file order) in err.
int schema_check(const Schema *schema, const config_setting_t *group, const char *prefix,
                 void *base, char *err, size_t err_len);

// For rules between fields: writes "<where>: " and the message into err, where is the setting
// at path under group or, when it is absent, the nearest enclosing setting that exists (so a
// default that breaks a rule is reported at its group, or as "file: " at the root). Returns -1.
int schema_error_at(const config_setting_t *group, const char *path, char *err, size_t err_len,
                    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

// Canonical text: lines "path = value;" in libconfig syntax, collected, then sorted and joined.
// Floats are written in the shortest form that reads back to the same float. Start from
// SchemaText t = {0}.
typedef struct {
    char **lines;
    int n, capacity;
    bool out_of_memory;
} SchemaText;

// One line per stored field of schema, values read from base, paths prefixed with prefix.
void schema_text_fields(SchemaText *t, const Schema *schema, const void *base, const char *prefix);
// One line of the caller's own (a value the schema does not store in the usual way).
void schema_text_line(SchemaText *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
// The lines sorted by path, each ending in '\n', as one malloc'd string; frees the lines.
// NULL when out of memory.
char *schema_text_join(SchemaText *t);

// Values written as the canonical text writes them, for text of the caller's own that must read
// back to the same values (a sweep's overrides: "path=<value text>").
#define SCHEMA_FLOAT_LEN 32
// The shortest decimal that reads back as the same float, with a '.' or an exponent so that
// libconfig reads it as a float again ("8.0", "0.001", "1e-05").
void schema_float_text(float x, char text[SCHEMA_FLOAT_LEN]);
// Setting s as written in the tree, in libconfig syntax: floats as schema_float_text writes them,
// strings quoted with escapes, groups as { a = 1; b = 2; }, arrays as [1, 2], lists as (1, "a").
// malloc'd; NULL when out of memory.
char *schema_value_text(const config_setting_t *s);
// A string as a libconfig string literal (quotes, escapes), as the canonical text writes it.
// malloc'd; NULL when out of memory.
char *schema_string_text(const char *s);

// Writes one line per field: path, what it takes, its default and its doc.
void schema_write_reference(FILE *out, const Schema *schema);

#endif
