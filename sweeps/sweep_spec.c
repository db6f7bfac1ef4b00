// Expanding a sweep block into trials; see sweep_spec.h.
#include "sweep_spec.h"

#include "are_config.h"
#include "config_schema.h"
#include "fail.h"
#include "text_corpus.h"

#include <libconfig.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define SWEEP_PATH_LEN 128 // a swept path
#define MESSAGE_LEN    2048
#define SWEEP_MAX_SET  32
#define SWEEP_SET_LEN  1024 // one "path=value" of set

// ---------------------------------------------------------------------------------------------
// The sweep block's settings

typedef struct {
    char path[SWEEP_PATH_LEN];
    char paths[SWEEP_MAX_ZIP][SWEEP_PATH_LEN];
    int n_paths;
    char distribution[16]; // "" when not given
    float low, high;
} AxisFields;

typedef struct {
    SweepMethod method;
    long long seed;
    int repeats, samples;
    AxisFields axes[SWEEP_MAX_AXES];
    int n_axes;
    char set[SWEEP_MAX_SET][SWEEP_SET_LEN];
    int n_set;
} SweepFields;

static const char *const methods[] = {"grid", "random", "list", NULL}; // SweepMethod's order
static const char *const distributions[] = {"uniform", "log_uniform", "int", "choice", NULL};

// values, trials and exclude hold config values of any type, which the tables cannot describe:
// they are read from the tree as written (read_values, read_entries) and left out of the tree
// the tables check (check_fields). They are listed so that a misspelt name gets a suggestion.
static const SchemaField axis_fields[] = {
    {"path", SCHEMA_STRING, .nonempty = true, SCHEMA_AT(AxisFields, path),
     .doc = "the config path this axis sets"},
    {"paths", SCHEMA_STRING_ARRAY, .nonempty = true, SCHEMA_ARRAY_AT(AxisFields, paths, n_paths),
     .doc = "zipped axis: paths that move together, one tuple of values per step"},
    {"values", SCHEMA_LIST, .doc = "the axis's values: [ ... ], or ( ... ) for mixed types"},
    {"distribution", SCHEMA_STRING, .choices = distributions, SCHEMA_AT(AxisFields, distribution),
     .doc = "method random: how the value is drawn"},
    {"low", SCHEMA_FLOAT, .min = -1e30, .max = 1e30, SCHEMA_AT(AxisFields, low),
     .doc = "uniform, log_uniform, int: the smallest value"},
    {"high", SCHEMA_FLOAT, .min = -1e30, .max = 1e30, SCHEMA_AT(AxisFields, high),
     .doc = "uniform, log_uniform, int: the largest value"},
};
static const Schema axis_schema = {axis_fields, sizeof(axis_fields) / sizeof(axis_fields[0])};

static const SchemaField sweep_fields[] = {
    {"method", SCHEMA_ENUM, .text = "grid", .choices = methods, SCHEMA_AT(SweepFields, method),
     .doc = "grid: every combination; random: samples drawn; list: the trials listed"},
    {"seed", SCHEMA_INT64, .number = 1, .min = 0, .max = 9007199254740992.0,
     SCHEMA_AT(SweepFields, seed), .doc = "random draws and every trial's seed"},
    {"repeats", SCHEMA_INT, .number = 1, .min = 1, .max = 1000, SCHEMA_AT(SweepFields, repeats),
     .doc = "runs of each combination"},
    {"samples", SCHEMA_INT, .min = 1, .max = SWEEP_MAX_TRIALS, SCHEMA_AT(SweepFields, samples),
     .doc = "method random: combinations to draw"},
    {"axes", SCHEMA_LIST, .items = &axis_schema, SCHEMA_ARRAY_AT(SweepFields, axes, n_axes),
     .doc = "grid and random: the swept paths and their values"},
    {"trials", SCHEMA_LIST, .doc = "method list: one [\"path=value\", ...] per combination"},
    {"exclude", SCHEMA_LIST, .doc = "combinations dropped: [\"path=value\", ...] each"},
    {"set", SCHEMA_STRING_ARRAY, .nonempty = true, SCHEMA_ARRAY_AT(SweepFields, set, n_set),
     .doc = "\"path=value\" settings of every trial, applied to the base config like --set"},
};
static const Schema sweep_schema = {sweep_fields, sizeof(sweep_fields) / sizeof(sweep_fields[0])};

// ---------------------------------------------------------------------------------------------
// The sweep, read

typedef enum { DRAW_CHOICE, DRAW_UNIFORM, DRAW_LOG_UNIFORM, DRAW_INT } Draw;

typedef struct {
    const config_setting_t *setting; // the axis's group as written
    const config_setting_t *values;  // its values as written, NULL for a distribution
    int n_paths;
    const char *paths[SWEEP_MAX_ZIP]; // into the checked fields
    int column;                       // the plan's column of paths[0]; the others follow
    Draw draw;
    double low, high;
    int n_values;
    char **texts; // [n_values * n_paths] value texts, a zipped axis's tuples row by row
} Axis;

typedef struct {
    const char *path;              // the file
    const config_setting_t *block; // sweep = { ... } as written
    SweepFields fields;
    Axis axes[SWEEP_MAX_AXES];
    const config_setting_t *trials, *exclude;             // NULL when absent
    const config_setting_t *column_at[SWEEP_MAX_COLUMNS]; // where each column is first swept
} Spec;

static void spec_free(Spec *spec) {
    if (!spec) return;
    for (int a = 0; a < spec->fields.n_axes; a++) {
        Axis *axis = &spec->axes[a];
        for (int i = 0; axis->texts && i < axis->n_values * axis->n_paths; i++)
            free(axis->texts[i]);
        free(axis->texts);
    }
    free(spec);
}

// ---------------------------------------------------------------------------------------------
// Reading and checking the block

// Length of the path of "path=value" (spaces before '=' not counted, as --set reads it); 0
// when there is no '='.
static size_t path_length(const char *override) {
    const char *equals = strchr(override, '=');
    if (!equals) return 0;
    size_t len = (size_t)(equals - override);
    while (len && override[len - 1] == ' ') len--;
    return len;
}

static int column_of(const SweepPlan *p, const char *path, size_t len) {
    for (int k = 0; k < p->n_columns; k++)
        if (!strncmp(p->columns[k], path, len) && !p->columns[k][len]) return k;
    return -1;
}

// path[0..len) as a new column first swept at `at`, or -1 with the error at `at` (name says
// what `at` is in messages).
static int add_column(Spec *spec, SweepPlan *p, const char *path, size_t len,
                      const config_setting_t *at, const char *name, char *err, size_t err_len) {
    int k = column_of(p, path, len);
    if (k >= 0)
        return schema_error_at(at, "", err, err_len, "%s: '%s' is already swept (line %d)", name,
                               p->columns[k], config_setting_source_line(spec->column_at[k]));
    if (p->n_columns == SWEEP_MAX_COLUMNS)
        return schema_error_at(at, "", err, err_len, "%s: more than %d swept paths", name,
                               SWEEP_MAX_COLUMNS);
    char *column = strndup(path, len);
    if (!column) return fail(err, err_len, "out of memory");
    spec->column_at[p->n_columns] = at;
    p->columns[p->n_columns] = column;
    return p->n_columns++;
}

// The fields the tables check, from a second reading of the file without values, trials and
// exclude (the tree as written keeps them for read_values and read_entries).
static int check_fields(Spec *spec, char *err, size_t err_len) {
    config_t checked;
    config_init(&checked);
    int rc = schema_read_file(&checked, spec->path, err, err_len);
    if (rc == 0) {
        config_setting_t *block = config_lookup(&checked, "sweep");
        config_setting_remove(block, "trials");
        config_setting_remove(block, "exclude");
        config_setting_t *axes = config_setting_get_member(block, "axes");
        for (int i = 0; axes && config_setting_is_list(axes) && i < config_setting_length(axes);
             i++) {
            config_setting_t *axis = config_setting_get_elem(axes, (unsigned)i);
            if (config_setting_is_group(axis)) config_setting_remove(axis, "values");
        }
        rc = schema_check(&sweep_schema, block, "sweep.", &spec->fields, err, err_len);
    }
    config_destroy(&checked);
    return rc;
}

// An axis's values: an array or a list, of tuples ( ... ) of one value per path when zipped.
static int read_values(Axis *axis, bool zipped, const char *name, char *err, size_t err_len) {
    const config_setting_t *values = axis->values;
    int type = config_setting_type(values), n = config_setting_length(values);
    if (type != CONFIG_TYPE_ARRAY && type != CONFIG_TYPE_LIST)
        return schema_error_at(values, "", err, err_len,
                               "field '%s.values' must be an array [ ... ] or a list ( ... )",
                               name);
    if (!n)
        return schema_error_at(values, "", err, err_len,
                               "field '%s.values' is empty: an axis needs at least one value",
                               name);
    axis->texts = calloc((size_t)n * (size_t)axis->n_paths, sizeof(char *));
    if (!axis->texts) return fail(err, err_len, "out of memory");
    axis->n_values = n;
    for (int j = 0; j < n; j++) {
        const config_setting_t *value = config_setting_get_elem(values, (unsigned)j);
        if (zipped &&
            (!config_setting_is_list(value) || config_setting_length(value) != axis->n_paths))
            return schema_error_at(value, "", err, err_len,
                                   "field '%s.values[%d]' must be a tuple ( ... ) of %d values, "
                                   "one per path",
                                   name, j, axis->n_paths);
        for (int k = 0; k < axis->n_paths; k++) {
            char *text =
                schema_value_text(zipped ? config_setting_get_elem(value, (unsigned)k) : value);
            if (!text) return fail(err, err_len, "out of memory");
            axis->texts[j * axis->n_paths + k] = text;
        }
    }
    return 0;
}

// What a distribution draws from: values (choice) or low and high.
static int check_draw(const Spec *spec, Axis *axis, const AxisFields *f, bool zipped,
                      const char *name, char *err, size_t err_len) {
    const config_setting_t *s = axis->setting;
    const char *method = methods[spec->fields.method];
    bool has_range = config_setting_get_member(s, "low") || config_setting_get_member(s, "high");
    if (f->distribution[0] && spec->fields.method != SWEEP_RANDOM)
        return schema_error_at(s, "distribution", err, err_len,
                               "field '%s.distribution' needs method \"random\" (method is "
                               "\"%s\": give values)",
                               name, method);
    if (axis->draw == DRAW_CHOICE) {
        if (!axis->values && spec->fields.method == SWEEP_RANDOM)
            return schema_error_at(s, "", err, err_len,
                                   "'%s' needs values or a distribution (uniform, log_uniform, "
                                   "int, choice)",
                                   name);
        if (!axis->values)
            return schema_error_at(s, "", err, err_len, "'%s' needs values = [ ... ]", name);
        if (has_range)
            return schema_error_at(s, config_setting_get_member(s, "low") ? "low" : "high", err,
                                   err_len,
                                   "'%s': low and high belong to the distributions uniform, "
                                   "log_uniform and int",
                                   name);
        return 0;
    }
    if (zipped)
        return schema_error_at(s, "distribution", err, err_len,
                               "'%s': a zipped axis takes values (one tuple per step), not a "
                               "distribution",
                               name);
    if (axis->values)
        return schema_error_at(axis->values, "", err, err_len,
                               "'%s': distribution \"%s\" draws between low and high, it takes no "
                               "values",
                               name, f->distribution);
    if (!config_setting_get_member(s, "low") || !config_setting_get_member(s, "high"))
        return schema_error_at(s, "", err, err_len, "'%s': distribution \"%s\" needs low and high",
                               name, f->distribution);
    axis->low = f->low;
    axis->high = f->high;
    if (!(axis->low < axis->high))
        return schema_error_at(s, "low", err, err_len,
                               "field '%s.low' (%g) must be below high (%g)", name, axis->low,
                               axis->high);
    if (axis->draw == DRAW_LOG_UNIFORM && axis->low <= 0)
        return schema_error_at(s, "low", err, err_len,
                               "field '%s.low' is %g, log_uniform needs low > 0", name, axis->low);
    if (axis->draw == DRAW_INT &&
        (axis->low != floor(axis->low) || axis->high != floor(axis->high) ||
         fabs(axis->low) > 16777216 || fabs(axis->high) > 16777216))
        return schema_error_at(s, "low", err, err_len,
                               "'%s': distribution \"int\" needs integer low and high within "
                               "+-2^24, got %g and %g",
                               name, axis->low, axis->high);
    return 0;
}

static int read_axis(Spec *spec, SweepPlan *p, int a, char *err, size_t err_len) {
    const AxisFields *f = &spec->fields.axes[a];
    Axis *axis = &spec->axes[a];
    axis->setting =
        config_setting_get_elem(config_setting_get_member(spec->block, "axes"), (unsigned)a);
    axis->values = config_setting_get_member(axis->setting, "values");
    char name[32];
    snprintf(name, sizeof(name), "sweep.axes[%d]", a);
    bool zipped = f->n_paths > 0;
    if (zipped == (f->path[0] != '\0'))
        return schema_error_at(axis->setting, "", err, err_len,
                               zipped ? "'%s' has both path and paths: give one"
                                      : "'%s' needs path = \"...\" (or paths = [ ... ] to zip "
                                        "several)",
                               name);
    axis->n_paths = zipped ? f->n_paths : 1;
    for (int k = 0; k < axis->n_paths; k++) {
        axis->paths[k] = zipped ? f->paths[k] : f->path;
        int column = add_column(spec, p, axis->paths[k], strlen(axis->paths[k]), axis->setting,
                                name, err, err_len);
        if (column < 0) return -1;
        if (k == 0) axis->column = column;
    }
    static const Draw draws[] = {DRAW_UNIFORM, DRAW_LOG_UNIFORM, DRAW_INT, DRAW_CHOICE};
    axis->draw = DRAW_CHOICE;
    for (int d = 0; distributions[d]; d++)
        if (!strcmp(f->distribution, distributions[d])) axis->draw = draws[d];
    if (check_draw(spec, axis, f, zipped, name, err, err_len) < 0) return -1;
    return axis->values ? read_values(axis, zipped, name, err, err_len) : 0;
}

// trials or exclude: a list of arrays of "path=value" strings, no path twice in one. Trials
// add their paths as columns; an exclude entry may only name columns.
static int read_entries(Spec *spec, SweepPlan *p, const config_setting_t *list, const char *name,
                        char *err, size_t err_len) {
    if (!config_setting_is_list(list))
        return schema_error_at(list, "", err, err_len,
                               "field '%s' must be a list of arrays ( [\"path=value\", ...], "
                               "... )",
                               name);
    bool trials = list == spec->trials;
    for (int i = 0; i < config_setting_length(list); i++) {
        const config_setting_t *entry = config_setting_get_elem(list, (unsigned)i);
        if (!config_setting_is_array(entry) && !config_setting_is_list(entry))
            return schema_error_at(entry, "", err, err_len,
                                   "field '%s[%d]' must be an array [\"path=value\", ...]", name,
                                   i);
        if (!trials && !config_setting_length(entry)) // it would match every combination
            return schema_error_at(entry, "", err, err_len, "field '%s[%d]' is empty", name, i);
        for (int j = 0; j < config_setting_length(entry); j++) {
            const config_setting_t *s = config_setting_get_elem(entry, (unsigned)j);
            const char *text = config_setting_get_string(s);
            size_t len = text ? path_length(text) : 0;
            if (!len)
                return schema_error_at(s, "", err, err_len,
                                       "field '%s[%d][%d]' must be a string \"path=value\"", name,
                                       i, j);
            for (int k = 0; k < j; k++) {
                const char *other = config_setting_get_string_elem(entry, k);
                if (path_length(other) == len && !strncmp(other, text, len))
                    return schema_error_at(s, "", err, err_len,
                                           "field '%s[%d][%d]': '%.*s' is set twice", name, i, j,
                                           (int)len, text);
            }
            if (trials && column_of(p, text, len) < 0 &&
                add_column(spec, p, text, len, s, name, err, err_len) < 0)
                return -1;
            if (!trials && column_of(p, text, len) < 0) {
                char swept[1024] = "";
                for (int k = 0; k < p->n_columns; k++) {
                    size_t used = strlen(swept);
                    snprintf(swept + used, sizeof(swept) - used, "%s%s", k ? ", " : "",
                             p->columns[k]);
                }
                return schema_error_at(s, "", err, err_len,
                                       "field '%s[%d][%d]': '%.*s' is not swept (swept: %s)", name,
                                       i, j, (int)len, text, swept);
            }
        }
    }
    return 0;
}

// The trials, at most SWEEP_MAX_TRIALS of them, that the method would make.
static int check_size(const Spec *spec, char *err, size_t err_len) {
    const SweepFields *f = &spec->fields;
    double combinations = f->samples;
    if (f->method == SWEEP_GRID) {
        combinations = 1;
        for (int a = 0; a < f->n_axes; a++) combinations *= spec->axes[a].n_values;
    } else if (f->method == SWEEP_LIST) {
        combinations = config_setting_length(spec->trials);
    }
    if (combinations * f->repeats <= SWEEP_MAX_TRIALS) return 0;
    return schema_error_at(spec->block, "", err, err_len,
                           "the sweep makes %.0f combinations x %d repeats, more than %d trials",
                           combinations, f->repeats, SWEEP_MAX_TRIALS);
}

static int read_spec(Spec *spec, SweepPlan *p, char *err, size_t err_len) {
    const config_setting_t *block = spec->block;
    if (!config_setting_is_group(block))
        return schema_error_at(block, "", err, err_len, "'sweep' must be a group { ... }");
    if (check_fields(spec, err, err_len) < 0) return -1;
    const SweepFields *f = &spec->fields;
    const char *method = methods[f->method];
    p->method = f->method;
    p->seed = (uint64_t)f->seed;
    p->repeats = f->repeats;
    spec->trials = config_setting_get_member(block, "trials");
    spec->exclude = config_setting_get_member(block, "exclude");
    bool has_axes = config_setting_get_member(block, "axes") != NULL;
    bool has_samples = config_setting_get_member(block, "samples") != NULL;
    if (f->method == SWEEP_LIST && has_axes)
        return schema_error_at(block, "axes", err, err_len,
                               "field 'sweep.axes': method \"list\" takes trials, not axes");
    if (f->method == SWEEP_LIST && !spec->trials)
        return schema_error_at(block, "", err, err_len,
                               "method \"list\" needs trials = ( [\"path=value\", ...], ... )");
    if (f->method != SWEEP_LIST && spec->trials)
        return schema_error_at(block, "trials", err, err_len,
                               "field 'sweep.trials' needs method \"list\" (method is \"%s\")",
                               method);
    if (f->method != SWEEP_LIST && !f->n_axes)
        return schema_error_at(block, "axes", err, err_len,
                               "method \"%s\" needs axes = ( { path = \"...\"; values = [ ... ]; "
                               "}, ... )",
                               method);
    if (f->method == SWEEP_RANDOM && !has_samples)
        return schema_error_at(block, "", err, err_len,
                               "method \"random\" needs samples = N (combinations to draw)");
    if (f->method != SWEEP_RANDOM && has_samples)
        return schema_error_at(block, "samples", err, err_len,
                               "field 'sweep.samples' needs method \"random\" (method is \"%s\")",
                               method);
    for (int a = 0; a < f->n_axes; a++)
        if (read_axis(spec, p, a, err, err_len) < 0) return -1;
    if (spec->trials && read_entries(spec, p, spec->trials, "sweep.trials", err, err_len) < 0)
        return -1;
    if (spec->exclude && read_entries(spec, p, spec->exclude, "sweep.exclude", err, err_len) < 0)
        return -1;
    return check_size(spec, err, err_len);
}

// The element of the sweep's set = [ ... ] whose text is override, or NULL: an extra override
// that comes from the file rather than the command line, to be reported at its line.
static const config_setting_t *set_element(const Spec *spec, const char *override) {
    const config_setting_t *set = config_setting_get_member(spec->block, "set");
    for (int i = 0; set && i < config_setting_length(set); i++)
        if (!strcmp(config_setting_get_string_elem(set, i), override))
            return config_setting_get_elem(set, (unsigned)i);
    return NULL;
}

// An extra override may not set a swept path: the sweep would silently undo it.
static int check_extras(const Spec *spec, const SweepPlan *p, const char *const *extra, int n_extra,
                        char *err, size_t err_len) {
    for (int i = 0; i < n_extra; i++) {
        int k = column_of(p, extra[i], path_length(extra[i]));
        if (k < 0) continue;
        const config_setting_t *at = spec->column_at[k], *in_set = set_element(spec, extra[i]);
        if (in_set)
            return schema_error_at(in_set, "", err, err_len,
                                   "sweep.set sets %s: '%s' is swept by the sweep block (line %d)",
                                   extra[i], p->columns[k], config_setting_source_line(at));
        return fail(err, err_len, "--set %s: '%s' is swept by the sweep block (%s:%d)", extra[i],
                    p->columns[k], config_setting_source_file(at), config_setting_source_line(at));
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Expanding: combinations, resolved, excluded or turned into trials

// One combination of values: an override per swept path it sets.
typedef struct {
    int n;
    char *overrides[SWEEP_MAX_COLUMNS];
    const config_setting_t *from[SWEEP_MAX_COLUMNS]; // the value, axis or entry that set it
    int column[SWEEP_MAX_COLUMNS];
    const config_setting_t *at; // what made the combination, for a duplicate
} Combination;

typedef struct {
    const Spec *spec;
    SweepPlan *plan;
    const char *const *extra;
    int n_extra;
    AreConfig *config;      // each resolution's
    const char **overrides; // [n_extra + 2 * SWEEP_MAX_COLUMNS]: extra, combination, entry
    int capacity;           // of plan->trials
} Expansion;

static void combination_clear(Combination *c) {
    for (int i = 0; i < c->n; i++) free(c->overrides[i]);
    c->n = 0;
}

static int combination_add(Combination *c, const char *path, size_t path_len, const char *text,
                           const config_setting_t *from, int column, char *err, size_t err_len) {
    char *override = malloc(path_len + strlen(text) + 2);
    if (!override) return fail(err, err_len, "out of memory");
    sprintf(override, "%.*s=%s", (int)path_len, path, text);
    c->overrides[c->n] = override;
    c->from[c->n] = from;
    c->column[c->n++] = column;
    return 0;
}

// "a=1, b=2" into text, or "the base config" for none.
static void describe_overrides(char *text, size_t len, char *const *overrides, int n) {
    snprintf(text, len, "%s", n ? "" : "the base config");
    for (int i = 0; i < n; i++) {
        size_t used = strlen(text);
        snprintf(text + used, len - used, "%s%s", i ? ", " : "", overrides[i]);
    }
}

// The rest of are_config_load's message when it is about override ("--set <override>: rest").
static const char *about_override(const char *why, const char *override) {
    static const char set[] = "--set ";
    size_t len = strlen(override);
    if (strncmp(why, set, sizeof(set) - 1) || strncmp(why + sizeof(set) - 1, override, len) ||
        strncmp(why + sizeof(set) - 1 + len, ": ", 2))
        return NULL;
    return why + sizeof(set) - 1 + len + 2;
}

// A failed resolution said at the line that set the field, or, when the file or a command-line
// override is at fault, with the combination after it.
static int resolve_error(const Spec *spec, const Combination *c, const config_setting_t *entry,
                         const char *why, char *err, size_t err_len) {
    const config_setting_t *set = config_setting_get_member(spec->block, "set");
    for (int i = 0; set && i < config_setting_length(set); i++) {
        const char *override = config_setting_get_string_elem(set, i);
        const char *rest = about_override(why, override);
        if (rest)
            return schema_error_at(config_setting_get_elem(set, (unsigned)i), "", err, err_len,
                                   "sweep.set sets %s: %s", override, rest);
    }
    for (int i = 0; i < c->n; i++) {
        const char *rest = about_override(why, c->overrides[i]);
        if (rest)
            return schema_error_at(c->from[i], "", err, err_len, "sweep sets %s: %s",
                                   c->overrides[i], rest);
    }
    for (int j = 0; entry && j < config_setting_length(entry); j++) {
        const char *override = config_setting_get_string_elem(entry, j);
        const char *rest = about_override(why, override);
        if (rest)
            return schema_error_at(config_setting_get_elem(entry, (unsigned)j), "", err, err_len,
                                   "exclude sets %s: %s", override, rest);
    }
    char overrides[MESSAGE_LEN];
    describe_overrides(overrides, sizeof(overrides), c->overrides, c->n);
    return fail(err, err_len, "%s (in the sweep trial %s)", why, overrides);
}

// The canonical text of the file's config with the extra overrides, then c's, then entry's (an
// exclude entry, or NULL); x->config holds the config. NULL with the error in err.
static char *resolve(Expansion *x, const Combination *c, const config_setting_t *entry, char *err,
                     size_t err_len) {
    int n = 0;
    for (int i = 0; i < x->n_extra; i++) x->overrides[n++] = x->extra[i];
    for (int i = 0; i < c->n; i++) x->overrides[n++] = c->overrides[i];
    for (int j = 0; entry && j < config_setting_length(entry); j++)
        x->overrides[n++] = config_setting_get_string_elem(entry, j);
    char why[MESSAGE_LEN];
    if (are_config_load(x->spec->path, x->overrides, n, x->config, why, sizeof(why)) < 0) {
        resolve_error(x->spec, c, entry, why, err, err_len);
        return NULL;
    }
    char *text = are_config_canonical(x->config);
    if (!text) fail(err, err_len, "out of memory");
    return text;
}

// Whether an exclude entry matches: setting its values changes nothing. 1, 0, or -1.
static int excluded(Expansion *x, const Combination *c, const char *canonical, char *err,
                    size_t err_len) {
    const config_setting_t *exclude = x->spec->exclude;
    for (int e = 0; exclude && e < config_setting_length(exclude); e++) {
        char *text = resolve(x, c, config_setting_get_elem(exclude, (unsigned)e), err, err_len);
        if (!text) return -1;
        bool same = !strcmp(text, canonical);
        free(text);
        if (same) return 1;
    }
    return 0;
}

// See SweepTrial.cost.
static double expected_cost(const AreConfig *c) {
    double bytes = 0;
    for (int i = 0; i < c->task.n_data; i++) {
        struct stat st;
        if (stat(c->task.data[i], &st) == 0) bytes += (double)st.st_size;
    }
    return c->max_rounds * (3.0 * c->gen.epochs + 1) * bytes;
}

// One allocation holds the trial's override pointers, its column values and the texts.
static int trial_fill(SweepTrial *t, const Combination *c, int n_columns) {
    size_t bytes = ((size_t)c->n + (size_t)n_columns) * sizeof(char *);
    for (int i = 0; i < c->n; i++) bytes += strlen(c->overrides[i]) + 1;
    t->overrides = malloc(bytes ? bytes : 1);
    if (!t->overrides) return -1;
    t->n_overrides = c->n;
    t->values = (const char **)(t->overrides + c->n);
    char *text = (char *)(t->values + n_columns);
    for (int k = 0; k < n_columns; k++) t->values[k] = NULL;
    for (int i = 0; i < c->n; i++) {
        size_t len = strlen(c->overrides[i]) + 1;
        memcpy(text, c->overrides[i], len);
        t->overrides[i] = text;
        const char *value = strchr(text, '=') + 1;
        t->values[c->column[i]] = value + strspn(value, " ");
        text += len;
    }
    return 0;
}

// The combination's trials, one per repeat, appended to the plan.
static int add_trials(Expansion *x, const Combination *c, const char *canonical, double cost,
                      char *err, size_t err_len) {
    SweepPlan *p = x->plan;
    if (p->n + p->repeats > x->capacity) {
        int capacity = x->capacity ? 2 * x->capacity : 64;
        while (capacity < p->n + p->repeats) capacity *= 2;
        SweepTrial *trials = realloc(p->trials, (size_t)capacity * sizeof(SweepTrial));
        if (!trials) return fail(err, err_len, "out of memory");
        p->trials = trials;
        x->capacity = capacity;
    }
    for (int r = 0; r < p->repeats; r++) {
        SweepTrial *t = &p->trials[p->n];
        *t = (SweepTrial){
            .index = p->n, .combination = p->n_combinations, .repeat = r, .cost = cost};
        if (trial_fill(t, c, p->n_columns) < 0) return fail(err, err_len, "out of memory");
        p->n++;
        trial_id(canonical, r, t->id);
        t->seed = trial_seed(p->seed, t->id);
    }
    p->n_combinations++;
    return 0;
}

// The first repeat of an earlier combination with the same config (id of repeat 0), or NULL.
// Quadratic, which is nothing next to one trial's run time.
static const SweepTrial *earlier_same(const SweepPlan *p, const char *id) {
    for (int i = 0; i < p->n; i += p->repeats)
        if (!strcmp(p->trials[i].id, id)) return &p->trials[i];
    return NULL;
}

// Resolves c and appends its trials unless an exclude entry matches it or (skip_repeated) an
// earlier combination has the same config; such a repetition is an error otherwise.
static int add_combination(Expansion *x, const Combination *c, bool skip_repeated, char *err,
                           size_t err_len) {
    char *canonical = resolve(x, c, NULL, err, err_len);
    if (!canonical) return -1;
    double cost = expected_cost(x->config);
    int rc = excluded(x, c, canonical, err, err_len);
    if (rc == 0) {
        char id[TRIAL_ID_LEN + 1];
        trial_id(canonical, 0, id);
        const SweepTrial *same = earlier_same(x->plan, id);
        if (same && !skip_repeated) {
            char earlier[MESSAGE_LEN], later[MESSAGE_LEN];
            describe_overrides(earlier, sizeof(earlier), same->overrides, same->n_overrides);
            describe_overrides(later, sizeof(later), c->overrides, c->n);
            rc = schema_error_at(c->at, "", err, err_len,
                                 "sweep trials %d (%s) and %d (%s) are the same config (trial "
                                 "id %s)",
                                 same->index, earlier, x->plan->n, later, id);
        } else if (!same) {
            rc = add_trials(x, c, canonical, cost, err, err_len);
        }
    }
    free(canonical);
    return rc < 0 ? -1 : 0;
}

static int expand_grid(Expansion *x, Combination *c, char *err, size_t err_len) {
    const Spec *spec = x->spec;
    int n_axes = spec->fields.n_axes, digit[SWEEP_MAX_AXES] = {0};
    c->at = config_setting_get_member(spec->block, "axes");
    for (;;) {
        for (int a = 0; a < n_axes; a++) {
            const Axis *axis = &spec->axes[a];
            const config_setting_t *from =
                config_setting_get_elem(axis->values, (unsigned)digit[a]);
            for (int k = 0; k < axis->n_paths; k++)
                if (combination_add(c, axis->paths[k], strlen(axis->paths[k]),
                                    axis->texts[digit[a] * axis->n_paths + k], from,
                                    axis->column + k, err, err_len) < 0)
                    return -1;
        }
        int rc = add_combination(x, c, false, err, err_len);
        combination_clear(c);
        if (rc < 0) return -1;
        int a = n_axes - 1; // the last axis moves fastest
        while (a >= 0 && ++digit[a] == spec->axes[a].n_values) digit[a--] = 0;
        if (a < 0) return 0;
    }
}

static int expand_list(Expansion *x, Combination *c, char *err, size_t err_len) {
    const config_setting_t *trials = x->spec->trials;
    for (int i = 0; i < config_setting_length(trials); i++) {
        c->at = config_setting_get_elem(trials, (unsigned)i);
        for (int j = 0; j < config_setting_length(c->at); j++) {
            const char *text = config_setting_get_string_elem(c->at, j);
            size_t len = path_length(text);
            if (combination_add(c, text, len, strchr(text, '=') + 1,
                                config_setting_get_elem(c->at, (unsigned)j),
                                column_of(x->plan, text, len), err, err_len) < 0)
                return -1;
        }
        int rc = add_combination(x, c, false, err, err_len);
        combination_clear(c);
        if (rc < 0) return -1;
    }
    return 0;
}

// splitmix64's output function: every bit of x moves about half of the result's.
static uint64_t mix64(uint64_t x) {
    x += 0x9e3779b97f4a7c15ull;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
    return x ^ (x >> 31);
}

// Uniform in [0, 1), 53 bits, from the sweep seed, the sample and the axis alone.
static double draw_uniform(uint64_t seed, uint64_t sample, uint64_t axis) {
    return (double)(mix64(mix64(mix64(seed) ^ sample) ^ axis) >> 11) * 0x1p-53;
}

// Axis a's value in sample s, added to c.
static int draw_value(const Axis *axis, uint64_t seed, uint64_t s, int a, Combination *c, char *err,
                      size_t err_len) {
    double u = draw_uniform(seed, s, (uint64_t)a);
    char text[SCHEMA_FLOAT_LEN];
    if (axis->draw == DRAW_CHOICE) {
        int j = (int)(u * axis->n_values);
        if (j >= axis->n_values) j = axis->n_values - 1;
        const config_setting_t *from = config_setting_get_elem(axis->values, (unsigned)j);
        for (int k = 0; k < axis->n_paths; k++)
            if (combination_add(c, axis->paths[k], strlen(axis->paths[k]),
                                axis->texts[j * axis->n_paths + k], from, axis->column + k, err,
                                err_len) < 0)
                return -1;
        return 0;
    }
    if (axis->draw == DRAW_INT) {
        double k = axis->low + floor(u * (axis->high - axis->low + 1));
        snprintf(text, sizeof(text), "%.0f", fmin(k, axis->high));
    } else {
        double x = axis->draw == DRAW_UNIFORM ? axis->low + u * (axis->high - axis->low)
                                              : axis->low * exp(u * log(axis->high / axis->low));
        // low and high are floats, so rounding to a float stays within them (but for exp's
        // and log's last-bit rounding).
        schema_float_text(fminf(fmaxf((float)x, (float)axis->low), (float)axis->high), text);
    }
    return combination_add(c, axis->paths[0], strlen(axis->paths[0]), text, axis->setting,
                           axis->column, err, err_len);
}

static int expand_random(Expansion *x, Combination *c, char *err, size_t err_len) {
    const Spec *spec = x->spec;
    int samples = spec->fields.samples;
    long max_draws = 100L * samples + 1000;
    c->at = config_setting_get_member(spec->block, "axes");
    for (long s = 0; x->plan->n_combinations < samples; s++) {
        if (s == max_draws)
            return schema_error_at(spec->block, "samples", err, err_len,
                                   "field 'sweep.samples' is %d, but %ld draws gave only %d "
                                   "distinct combinations that are not excluded",
                                   samples, max_draws, x->plan->n_combinations);
        for (int a = 0; a < spec->fields.n_axes; a++)
            if (draw_value(&spec->axes[a], x->plan->seed, (uint64_t)s, a, c, err, err_len) < 0) {
                combination_clear(c);
                return -1;
            }
        int rc = add_combination(x, c, true, err, err_len);
        combination_clear(c);
        if (rc < 0) return -1;
    }
    return 0;
}

static int expand(const Spec *spec, SweepPlan *p, const char *const *extra, int n_extra, char *err,
                  size_t err_len) {
    Expansion x = {.spec = spec, .plan = p, .extra = extra, .n_extra = n_extra};
    x.config = malloc(sizeof(*x.config));
    x.overrides = malloc(((size_t)n_extra + 2 * SWEEP_MAX_COLUMNS) * sizeof(char *));
    Combination *c = calloc(1, sizeof(*c));
    int rc = x.config && x.overrides && c ? 0 : fail(err, err_len, "out of memory");
    if (rc == 0 && spec->fields.method == SWEEP_GRID) rc = expand_grid(&x, c, err, err_len);
    if (rc == 0 && spec->fields.method == SWEEP_LIST) rc = expand_list(&x, c, err, err_len);
    if (rc == 0 && spec->fields.method == SWEEP_RANDOM) rc = expand_random(&x, c, err, err_len);
    if (rc == 0 && p->n == 0)
        rc = schema_error_at(spec->block, "", err, err_len,
                             "every combination of the sweep is excluded: no trials");
    if (c) combination_clear(c);
    free(c);
    free(x.overrides);
    free(x.config);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// The plan

static int by_cost(const void *a, const void *b, void *trials) {
    const SweepTrial *t = trials;
    int i = *(const int *)a, j = *(const int *)b;
    if (t[i].cost != t[j].cost) return t[i].cost > t[j].cost ? -1 : 1;
    return (i > j) - (i < j);
}

// The sweep's set = [ ... ] into the plan, for whoever resolves a trial's config later.
static int copy_settings(SweepPlan *p, const Spec *spec, char *err, size_t err_len) {
    int n = spec->fields.n_set;
    p->settings = calloc((size_t)n + 1, sizeof(char *));
    if (!p->settings) return fail(err, err_len, "out of memory");
    for (int i = 0; i < n; i++) {
        if (!strchr(spec->fields.set[i], '='))
            return schema_error_at(spec->block, "set", err, err_len,
                                   "field 'sweep.set[%d]' is \"%s\", expected \"path=value\"", i,
                                   spec->fields.set[i]);
        if (!(p->settings[i] = strdup(spec->fields.set[i])))
            return fail(err, err_len, "out of memory");
        p->n_settings++;
    }
    return 0;
}

int sweep_plan_load(SweepPlan *p, const char *config_path, const char *const *extra_overrides,
                    int n_extra, char *err, size_t err_len) {
    memset(p, 0, sizeof(*p));
    config_t tree;
    config_init(&tree);
    Spec *spec = calloc(1, sizeof(*spec));
    p->columns = calloc(SWEEP_MAX_COLUMNS, sizeof(char *));
    int rc = spec && p->columns ? 0 : fail(err, err_len, "out of memory");
    if (rc == 0) rc = schema_read_file(&tree, config_path, err, err_len);
    if (rc == 0) {
        spec->path = config_path;
        spec->block = config_lookup(&tree, "sweep");
        if (!spec->block)
            rc = fail(err, err_len,
                      "%s: no sweep block (sweep = { axes = ( ... ); }; `are run` runs one "
                      "trial)",
                      config_path);
    }
    if (rc == 0) rc = read_spec(spec, p, err, err_len);
    // The sweep's own settings, then the command line's (which win): every trial resolves with
    // both.
    const char **extra = NULL;
    int n_all = 0;
    if (rc == 0) {
        extra = malloc((size_t)(n_extra + spec->fields.n_set + 1) * sizeof(*extra));
        if (!extra) rc = fail(err, err_len, "out of memory");
    }
    if (rc == 0) {
        for (int i = 0; i < spec->fields.n_set; i++) extra[n_all++] = spec->fields.set[i];
        for (int i = 0; i < n_extra; i++) extra[n_all++] = extra_overrides[i];
        rc = copy_settings(p, spec, err, err_len);
    }
    if (rc == 0) rc = check_extras(spec, p, extra, n_all, err, err_len);
    if (rc == 0) rc = expand(spec, p, extra, n_all, err, err_len);
    free(extra);
    size_t config_size;
    if (rc == 0 && !(p->config_text = text_file_read(config_path, &config_size, err, err_len)))
        rc = -1;
    if (rc == 0) {
        p->order = malloc((size_t)p->n * sizeof(int));
        if (!p->order) rc = fail(err, err_len, "out of memory");
    }
    if (rc == 0) {
        for (int i = 0; i < p->n; i++) p->order[i] = i;
        qsort_r(p->order, (size_t)p->n, sizeof(int), by_cost, p->trials);
    }
    spec_free(spec);
    config_destroy(&tree);
    if (rc < 0) sweep_plan_free(p);
    return rc;
}

void sweep_plan_free(SweepPlan *p) {
    for (int i = 0; i < p->n; i++) free(p->trials[i].overrides);
    for (int i = 0; i < p->n_settings; i++) free(p->settings[i]);
    free(p->settings);
    for (int k = 0; p->columns && k < p->n_columns; k++) free(p->columns[k]);
    free(p->columns);
    free(p->trials);
    free(p->order);
    free(p->config_text);
    memset(p, 0, sizeof(*p));
}

// The text of a table cell; row -1 is the header.
static const char *cell(const SweepPlan *p, int row, int column, char number[24]) {
    static const char *const headers[] = {"index", "id", "repeat", "seed"};
    if (row < 0) return column < 4 ? headers[column] : p->columns[column - 4];
    const SweepTrial *t = &p->trials[row];
    switch (column) {
    case 0:
        snprintf(number, 24, "%d", t->index);
        return number;
    case 1:
        return t->id;
    case 2:
        snprintf(number, 24, "%d", t->repeat);
        return number;
    case 3:
        snprintf(number, 24, "%llu", (unsigned long long)t->seed);
        return number;
    }
    return t->values[column - 4] ? t->values[column - 4] : "-";
}

void sweep_plan_print(FILE *f, const SweepPlan *p) {
    fprintf(f, "# %s sweep: %d combinations x %d repeats = %d trials, sweep seed %llu\n",
            methods[p->method], p->n_combinations, p->repeats, p->n, (unsigned long long)p->seed);
    int n_columns = 4 + p->n_columns, width[4 + SWEEP_MAX_COLUMNS];
    char number[24];
    for (int k = 0; k < n_columns; k++) {
        width[k] = 0;
        for (int row = -1; row < p->n; row++) {
            int len = (int)strlen(cell(p, row, k, number));
            if (len > width[k]) width[k] = len;
        }
    }
    for (int row = -1; row < p->n; row++)
        for (int k = 0; k < n_columns; k++)
            if (k < n_columns - 1)
                fprintf(f, "%-*s  ", width[k], cell(p, row, k, number));
            else
                fprintf(f, "%s\n", cell(p, row, k, number));
}
