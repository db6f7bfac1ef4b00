#include "ablation.h"
#include "fail.h"
#include "trial_summary_names.h"

#include <ctype.h>
#include <fnmatch.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const ablation_headline_metrics[ABLATION_HEADLINE_N] = {
    TRIAL_RESULT_CONVERGED,
    TRIAL_RESULT_ROUNDS,
    SUMMARY_EDITED "*." METRIC_REFUSAL_RATE,
    SUMMARY_EDITED "*." METRIC_ANSWER_RATE,
    SUMMARY_EDITED "*." METRIC_PRESERVED_ROUGE_L,
    SUMMARY_EDITED "*." METRIC_DISTINCT,
    SUMMARY_CHANGE TRIAL_SET_HELD_OUT_TEXT "." TRIAL_PERPLEXITY,
    SUMMARY_WALL_SECONDS};

#define ABSENT     "-" // the value of a path a trial does not set
#define NO_VALUE   "—" // a cell no trial has a number for
#define N_COLUMNS  2   // pseudo-axes after the paths: repeat, status
#define LIST_LIMIT 60  // values listed in an error message
#define MAX_KEYS   256 // axes of one grouping

// ---------------------------------------------------------------------------------------------
// Params

static char *trim(char *s, char *end) {
    while (s < end && isspace((unsigned char)*s)) s++;
    while (end > s && isspace((unsigned char)end[-1])) end--;
    *end = '\0';
    return s;
}

void ablation_params_free(AblationParams *p) {
    free(p->items);
    free(p->text);
    *p = (AblationParams){0};
}

int ablation_params_parse(const char *params, AblationParams *out, char *err, size_t err_len) {
    *out = (AblationParams){0};
    size_t len = strlen(params);
    out->text = malloc(len + 1);
    out->items = malloc((len / 2 + 1) * sizeof *out->items); // a piece is at least "p=" long
    if (!out->text || !out->items) {
        ablation_params_free(out);
        return fail(err, err_len, "out of memory");
    }
    memcpy(out->text, params, len + 1);
    char *piece = out->text, *s = out->text;
    int depth = 0;
    bool quoted = false;
    for (;; s++) {
        if (quoted) {
            if (*s == '\\' && s[1])
                s++;
            else if (*s == '"')
                quoted = false;
            else if (!*s)
                break;
            continue;
        }
        if (*s == '"') quoted = true;
        if (*s == '[' || *s == '(' || *s == '{') depth++;
        if ((*s == ']' || *s == ')' || *s == '}') && depth > 0) depth--;
        if (*s && (*s != ';' || depth > 0)) continue;
        bool last = !*s;
        const char *from = params + (piece - out->text), *to = params + (s - out->text);
        while (from < to && isspace((unsigned char)*from)) from++;
        while (to > from && isspace((unsigned char)to[-1])) to--;
        if (last && from == to && out->n == 0) break; // "": no settings
        char *value = strchr(piece, '=');
        if (value && value > s) value = NULL;
        char *path = value ? trim(piece, value) : NULL;
        if (!path || !*path) {
            ablation_params_free(out);
            return fail(err, err_len, "params '%s': '%.*s' is not path=value", params,
                        (int)(to - from), from);
        }
        out->items[out->n++] = (AblationParam){path, trim(value + 1, s)};
        if (last) break;
        piece = s + 1;
    }
    if (quoted || depth) {
        ablation_params_free(out);
        return fail(err, err_len, "params '%s': unclosed %s", params, quoted ? "quote" : "bracket");
    }
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Values

// What a table shows for a value: a quoted string without quotes and escapes, else the text.
static char *value_label(const char *raw) {
    size_t len = strlen(raw);
    char *label = malloc(len + 1), *w = label;
    if (!label) return NULL;
    const char *r = raw + 1;
    if (raw[0] == '"') {
        for (; *r && *r != '"'; r++) {
            if (*r != '\\' || !r[1]) {
                *w++ = *r;
                continue;
            }
            r++;
            const char *letter = strchr("nrtf", *r);
            if (letter) {
                *w++ = "\n\r\t\f"[letter - "nrtf"];
            } else if (*r == 'x' && isxdigit((unsigned char)r[1]) &&
                       isxdigit((unsigned char)r[2])) {
                char hex[3] = {r[1], r[2], '\0'};
                *w++ = (char)strtol(hex, NULL, 16);
                r += 2;
            } else {
                *w++ = *r; // \" and \\ stand for themselves
            }
        }
    }
    if (raw[0] != '"' || *r != '"' || r[1]) return strcpy(label, raw); // not one whole string
    *w = '\0';
    return label;
}

static bool parse_number(const char *s, double *x) {
    char *end;
    if (!*s || isspace((unsigned char)*s)) return false;
    *x = strtod(s, &end);
    return !*end && isfinite(*x);
}

// ---------------------------------------------------------------------------------------------
// The sweep as axes and a matrix of value indices

typedef struct {
    char *name;
    int n, cap;
    char **raw;   // [n] as in params; ABSENT when a trial does not set the path
    char **label; // [n] as shown
    int *rank;    // [n] position in the display order
} Axis;

// Where a metric column's numbers come from.
typedef struct {
    char *name;
    int column;   // in the table's metrics; -1: the row's wall time
    int subtract; // the base column of a change, else -1
} MetricSource;

typedef struct {
    const SweepTable *t;
    int n_paths, n_axes; // n_axes = n_paths + N_COLUMNS (repeat, status)
    Axis *axes;
    int *value; // [n_trials * n_axes] index into axes[a].raw
    int n_sources;
    MetricSource *sources; // every metric, derived ones included
    int n_metrics;         // the columns chosen by the options
    const char **metric;   // [n_metrics] their names (into sources)
    double *x;             // [n_trials * n_metrics]
    bool *selected;        // [n_trials] passes the filters
    char filters[1024];    // "a=b, c=d", for captions
} Sweep;

static void sweep_free(Sweep *s) {
    for (int a = 0; a < s->n_axes; a++) {
        Axis *axis = &s->axes[a];
        for (int k = 0; k < axis->n; k++) {
            free(axis->raw[k]);
            free(axis->label[k]);
        }
        free(axis->name);
        free(axis->raw);
        free(axis->label);
        free(axis->rank);
    }
    for (int m = 0; m < s->n_sources; m++) free(s->sources[m].name);
    free(s->axes);
    free(s->value);
    free(s->sources);
    free(s->metric);
    free(s->x);
    free(s->selected);
}

static int find_axis(const Sweep *s, const char *name, int n) {
    for (int a = 0; a < n; a++)
        if (!strcmp(s->axes[a].name, name)) return a;
    return -1;
}

// Appends a new axis; NULL when out of memory.
static Axis *add_axis(Sweep *s, const char *name) {
    Axis *axes = realloc(s->axes, (size_t)(s->n_axes + 1) * sizeof *axes);
    if (!axes) return NULL;
    s->axes = axes;
    Axis *axis = &axes[s->n_axes];
    *axis = (Axis){.name = strdup(name)};
    if (!axis->name) return NULL;
    s->n_axes++;
    return axis;
}

// Index of raw among axis's values, added when new; -1 when out of memory.
static int value_index(Axis *axis, const char *raw) {
    for (int k = 0; k < axis->n; k++)
        if (!strcmp(axis->raw[k], raw)) return k;
    if (axis->n == axis->cap) {
        int cap = axis->cap ? 2 * axis->cap : 8;
        char **r = realloc(axis->raw, (size_t)cap * sizeof *r);
        if (r) axis->raw = r;
        char **l = r ? realloc(axis->label, (size_t)cap * sizeof *l) : NULL;
        if (l) axis->label = l;
        if (!l) return -1;
        axis->cap = cap;
    }
    axis->raw[axis->n] = strdup(raw);
    axis->label[axis->n] = value_label(raw);
    if (!axis->raw[axis->n] || !axis->label[axis->n]) {
        free(axis->raw[axis->n]);
        free(axis->label[axis->n]);
        return -1;
    }
    return axis->n++;
}

typedef struct {
    const Axis *axis;
    const double *number;
} RankOrder;

static int by_number(const void *a, const void *b, void *ctx) {
    const RankOrder *o = ctx;
    int i = *(const int *)a, j = *(const int *)b;
    bool ai = !strcmp(o->axis->raw[i], ABSENT), aj = !strcmp(o->axis->raw[j], ABSENT);
    if (ai != aj) return ai ? 1 : -1;
    if (!ai && o->number[i] != o->number[j]) return o->number[i] < o->number[j] ? -1 : 1;
    return (i > j) - (i < j);
}

// Numeric order when every value but ABSENT is a number, else order of first appearance.
static int rank_values(Axis *axis) {
    axis->rank = malloc((size_t)axis->n * sizeof *axis->rank + 1);
    int *order = malloc((size_t)axis->n * sizeof *order + 1);
    double *number = malloc((size_t)axis->n * sizeof *number + 1);
    int rc = axis->rank && order && number ? 0 : -1;
    bool numeric = rc == 0;
    for (int k = 0; rc == 0 && k < axis->n; k++) {
        order[k] = k;
        if (strcmp(axis->raw[k], ABSENT) && !parse_number(axis->raw[k], &number[k]))
            numeric = false;
    }
    if (numeric)
        qsort_r(order, (size_t)axis->n, sizeof *order, by_number, &(RankOrder){axis, number});
    for (int k = 0; rc == 0 && k < axis->n; k++) axis->rank[order[k]] = k;
    free(order);
    free(number);
    return rc;
}

// Parses every trial's params into axes and the value matrix.
static int read_axes(Sweep *s, char *err, size_t err_len) {
    const SweepTable *t = s->t;
    int n = t->n_trials;
    AblationParams *params = calloc((size_t)n + 1, sizeof *params);
    if (!params) return fail(err, err_len, "out of memory");
    int rc = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        char why[512];
        if (ablation_params_parse(t->rows[i].params, &params[i], why, sizeof why) < 0) {
            rc = fail(err, err_len, "trial %s: %s", t->rows[i].id, why);
            break;
        }
        for (int p = 0; rc == 0 && p < params[i].n; p++) {
            const char *path = params[i].items[p].path;
            for (int q = 0; q < p; q++)
                if (!strcmp(params[i].items[q].path, path))
                    rc = fail(err, err_len, "trial %s: params '%s' set '%s' twice", t->rows[i].id,
                              t->rows[i].params, path);
            if (rc == 0 && find_axis(s, path, s->n_axes) < 0 && !add_axis(s, path))
                rc = fail(err, err_len, "out of memory");
        }
    }
    s->n_paths = s->n_axes;
    if (rc == 0 && (!add_axis(s, "repeat") || !add_axis(s, "status")))
        rc = fail(err, err_len, "out of memory");
    if (rc == 0 && !(s->value = malloc((size_t)n * (size_t)s->n_axes * sizeof *s->value + 1)))
        rc = fail(err, err_len, "out of memory");
    for (int i = 0; rc == 0 && i < n; i++) {
        int *v = &s->value[(size_t)i * (size_t)s->n_axes];
        for (int a = 0; a < s->n_paths; a++) v[a] = -2; // not set by the trial
        for (int p = 0; p < params[i].n; p++) {
            int a = find_axis(s, params[i].items[p].path, s->n_paths);
            v[a] = value_index(&s->axes[a], params[i].items[p].value);
        }
        for (int a = 0; a < s->n_paths; a++)
            if (v[a] == -2) v[a] = value_index(&s->axes[a], ABSENT);
        char repeat[16];
        snprintf(repeat, sizeof repeat, "%d", t->rows[i].repeat);
        v[s->n_paths] = value_index(&s->axes[s->n_paths], repeat);
        v[s->n_paths + 1] =
            value_index(&s->axes[s->n_paths + 1], sweep_status_names[t->rows[i].status]);
        for (int a = 0; a < s->n_axes; a++)
            if (v[a] < 0) rc = fail(err, err_len, "out of memory");
    }
    for (int a = 0; rc == 0 && a < s->n_axes; a++)
        if (rank_values(&s->axes[a]) < 0) rc = fail(err, err_len, "out of memory");
    for (int i = 0; i < n; i++) ablation_params_free(&params[i]);
    free(params);
    return rc;
}

// Appends name, the k-th of n, to the list "a, b, c" in text; past LIST_LIMIT names only a
// count of the rest.
static void list_add(char *text, size_t len, int k, int n, const char *name) {
    size_t used = strlen(text);
    if (k < LIST_LIMIT)
        snprintf(text + used, len - used, "%s%s", k ? ", " : "", name);
    else if (k == LIST_LIMIT)
        snprintf(text + used, len - used, ", ... (%d more)", n - k);
}

// The first n axes' names, listed.
static void list_axes(const Sweep *s, int n, char *text, size_t len) {
    text[0] = '\0';
    for (int a = 0; a < n; a++) list_add(text, len, a, n, s->axes[a].name);
}

static bool value_matches(const Axis *axis, int k, const char *want) {
    double x, y;
    return !strcmp(axis->raw[k], want) || !strcmp(axis->label[k], want) ||
           (parse_number(axis->raw[k], &x) && parse_number(want, &y) && x == y);
}

static int apply_filter(Sweep *s, const char *filter, char *err, size_t err_len) {
    char copy[512], names[4096] = "";
    snprintf(copy, sizeof copy, "%s", filter);
    char *equals = strchr(copy, '=');
    if (!equals) return fail(err, err_len, "filter '%s': expected axis=value", filter);
    char *end = copy + strlen(copy);
    const char *name = trim(copy, equals), *want = trim(equals + 1, end);
    const SweepTable *t = s->t;
    if (!strcmp(name, "id")) {
        bool any = false;
        for (int i = 0; i < t->n_trials; i++) {
            bool match = !strcmp(t->rows[i].id, want);
            any |= match;
            s->selected[i] &= match;
        }
        return any ? 0 : fail(err, err_len, "filter '%s': no trial has id %s", filter, want);
    }
    int a = find_axis(s, name, s->n_axes);
    if (a < 0) {
        list_axes(s, s->n_axes, names, sizeof names);
        return fail(err, err_len, "filter '%s': no axis '%s' (axes: %s; or id)", filter, name,
                    names);
    }
    const Axis *axis = &s->axes[a];
    bool any = false;
    for (int k = 0; k < axis->n; k++) any |= value_matches(axis, k, want);
    if (!any) {
        for (int k = 0; k < axis->n; k++) list_add(names, sizeof names, k, axis->n, axis->label[k]);
        return fail(err, err_len, "filter '%s': %s has no value %s (values: %s)", filter, name,
                    want, names);
    }
    for (int i = 0; i < t->n_trials; i++)
        s->selected[i] &= value_matches(axis, s->value[(size_t)i * (size_t)s->n_axes + a], want);
    size_t used = strlen(s->filters);
    snprintf(s->filters + used, sizeof s->filters - used, "%s%s=%s", used ? ", " : "", name, want);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Metrics

static int find_metric(const SweepTable *t, const char *name) {
    for (int m = 0; m < t->n_metrics; m++)
        if (!strcmp(t->metric_names[m], name)) return m;
    return -1;
}

static int add_source(Sweep *s, const char *name, int column, int subtract) {
    MetricSource *grown = realloc(s->sources, (size_t)(s->n_sources + 1) * sizeof *grown);
    if (!grown) return -1;
    s->sources = grown;
    grown[s->n_sources] = (MetricSource){strdup(name), column, subtract};
    return grown[s->n_sources].name ? (s->n_sources++, 0) : -1;
}

// The table's metrics, then change.X for each edited.X with a base.X, then wall_seconds.
static int list_sources(Sweep *s) {
    const SweepTable *t = s->t;
    for (int m = 0; m < t->n_metrics; m++)
        if (add_source(s, t->metric_names[m], m, -1) < 0) return -1;
    for (int m = 0; m < t->n_metrics; m++) {
        const char *rest = t->metric_names[m] + strlen(SUMMARY_EDITED);
        if (strncmp(t->metric_names[m], SUMMARY_EDITED, strlen(SUMMARY_EDITED))) continue;
        char base[512], change[512];
        snprintf(base, sizeof base, SUMMARY_BASE "%s", rest);
        snprintf(change, sizeof change, SUMMARY_CHANGE "%s", rest);
        int b = find_metric(t, base);
        if (b >= 0 && find_metric(t, change) < 0 && add_source(s, change, m, b) < 0) return -1;
    }
    return find_metric(t, SUMMARY_WALL_SECONDS) < 0 ? add_source(s, SUMMARY_WALL_SECONDS, -1, -1)
                                                    : 0;
}

static double source_value(const SweepTable *t, const MetricSource *m, int i) {
    if (m->column < 0) return t->rows[i].seconds;
    const double *row = &t->metrics[(size_t)i * (size_t)t->n_metrics];
    return m->subtract < 0 ? row[m->column] : row[m->column] - row[m->subtract];
}

// The columns the options ask for, and their values per trial.
static int choose_metrics(Sweep *s, const AblationOptions *o, char *err, size_t err_len) {
    if (list_sources(s) < 0) return fail(err, err_len, "out of memory");
    s->metric = malloc((size_t)s->n_sources * sizeof *s->metric + 1);
    bool *taken = calloc((size_t)s->n_sources + 1, sizeof *taken);
    if (!s->metric || !taken) {
        free(taken);
        return fail(err, err_len, "out of memory");
    }
    int *column = malloc((size_t)s->n_sources * sizeof *column + 1);
    for (int p = 0; column && p < (o->n_metrics ? o->n_metrics : 1); p++) {
        const char *pattern = o->n_metrics ? o->metrics[p] : "*";
        bool glob = strpbrk(pattern, "*?[") != NULL, any = false;
        for (int m = 0; m < s->n_sources; m++) {
            if (glob ? fnmatch(pattern, s->sources[m].name, 0)
                     : strcmp(pattern, s->sources[m].name))
                continue;
            any = true;
            if (taken[m]) continue;
            taken[m] = true;
            column[s->n_metrics] = m;
            s->metric[s->n_metrics++] = s->sources[m].name;
        }
        if (!glob && !any && !o->skip_unknown_metrics) {
            char names[4096] = "";
            for (int m = 0; m < s->n_sources; m++)
                list_add(names, sizeof names, m, s->n_sources, s->sources[m].name);
            free(taken);
            free(column);
            return fail(err, err_len, "metric '%s' is not in the sweep (metrics: %s)", pattern,
                        names);
        }
    }
    free(taken);
    size_t n = (size_t)s->t->n_trials * (size_t)s->n_metrics;
    if (!column || !(s->x = malloc(n * sizeof *s->x + 1))) {
        free(column);
        return fail(err, err_len, "out of memory");
    }
    for (int i = 0; i < s->t->n_trials; i++)
        for (int k = 0; k < s->n_metrics; k++)
            s->x[(size_t)i * (size_t)s->n_metrics + (size_t)k] =
                source_value(s->t, &s->sources[column[k]], i);
    free(column);
    return 0;
}

// ---------------------------------------------------------------------------------------------
// Number formats

typedef struct {
    bool integers, scientific;
    int decimals;
} NumberFormat;

// One format for a column of numbers to show (NaN and infinities are ignored).
static NumberFormat column_format(const double *x, int n) {
    double largest = 0;
    bool integers = true;
    for (int k = 0; k < n; k++) {
        if (!isfinite(x[k])) continue;
        largest = fmax(largest, fabs(x[k]));
        integers &= x[k] == floor(x[k]) && fabs(x[k]) < 1e15;
    }
    if (integers) return (NumberFormat){.integers = true};
    if (largest >= 1e7 || largest < 1e-4) return (NumberFormat){.scientific = true};
    int decimals = 3 - (int)floor(log10(largest));
    return (NumberFormat){.decimals = decimals < 0 ? 0 : decimals > 6 ? 6 : decimals};
}

static void format_number(char *text, size_t len, double x, NumberFormat f) {
    if (f.scientific)
        snprintf(text, len, "%.3e", x);
    else
        snprintf(text, len, "%.*f", f.integers ? 0 : f.decimals, x);
    if (text[0] == '-' && !strpbrk(text, "123456789in")) memmove(text, text + 1, strlen(text));
}

// ---------------------------------------------------------------------------------------------
// Groups

typedef struct {
    const Sweep *s;
    const int *keys, *combo; // combo: [group * n_keys] value indices
    int n_keys;
} GroupOrder;

static int by_ranks(const void *a, const void *b, void *ctx) {
    const GroupOrder *o = ctx;
    int g = *(const int *)a, h = *(const int *)b;
    for (int k = 0; k < o->n_keys; k++) {
        const Axis *axis = &o->s->axes[o->keys[k]];
        int rg = axis->rank[o->combo[g * o->n_keys + k]];
        int rh = axis->rank[o->combo[h * o->n_keys + k]];
        if (rg != rh) return rg < rh ? -1 : 1;
    }
    return 0;
}

static int value_of(const Sweep *s, int trial, int axis) {
    return s->value[(size_t)trial * (size_t)s->n_axes + (size_t)axis];
}

static char *join(const char *const *parts, int n, const char *separator) {
    size_t len = 1;
    for (int k = 0; k < n; k++) len += strlen(parts[k]) + strlen(separator);
    char *text = malloc(len);
    if (!text) return NULL;
    text[0] = '\0';
    for (int k = 0; k < n; k++) {
        if (k) strcat(text, separator);
        strcat(text, parts[k]);
    }
    return text;
}

static void groups_free(AblationGroups *g) {
    free(g->title);
    for (int k = 0; g->keys && k < g->n_keys; k++) free(g->keys[k]);
    for (int k = 0; g->labels && k < g->n_groups * g->n_keys; k++) free(g->labels[k]);
    for (int k = 0; g->group_names && k < g->n_groups; k++) free(g->group_names[k]);
    for (int k = 0; g->metrics && k < g->n_metrics; k++) free(g->metrics[k]);
    free(g->keys);
    free(g->labels);
    free(g->group_names);
    free(g->group_n);
    free(g->metrics);
    free(g->mean);
    free(g->std);
    free(g->n);
    table_free(g->table);
    table_free(g->numbers);
    table_free(g->by_metric);
    *g = (AblationGroups){0};
}

// Mean, sample std and count over the done trials of each group (member[i], -1 for none) of
// each metric column, skipping NaN: [n_groups * n_metrics] each, two passes over the trials.
static void group_stats(const Sweep *s, const int *member, int n_groups, double *mean, double *std,
                        int *count) {
    const SweepTable *t = s->t;
    int nm = s->n_metrics;
    for (int k = 0; k < n_groups * nm; k++) mean[k] = std[k] = count[k] = 0;
    for (int pass = 0; pass < 2; pass++) {
        for (int i = 0; i < t->n_trials; i++) {
            if (member[i] < 0 || t->rows[i].status != SWEEP_DONE) continue;
            for (int m = 0; m < nm; m++) {
                double x = s->x[(size_t)i * (size_t)nm + (size_t)m];
                int at = member[i] * nm + m;
                if (isnan(x)) continue;
                if (pass == 0) {
                    mean[at] += x;
                    count[at]++;
                } else {
                    std[at] += (x - mean[at]) * (x - mean[at]);
                }
            }
        }
        for (int k = 0; k < n_groups * nm; k++) {
            if (pass == 0) mean[k] = count[k] ? mean[k] / count[k] : NAN;
            if (pass == 1) std[k] = count[k] > 1 ? sqrt(std[k] / (count[k] - 1)) : NAN;
        }
    }
}

#define CELL_LEN 128 // a number cell: two numbers, " ± " and " (n=k)"

// Writes the cell of a mean and std over n of the row's row_n trials into text.
static void stats_cell(char *text, double mean, double std, int n, int row_n, NumberFormat f) {
    if (!n) {
        snprintf(text, CELL_LEN, "%s", NO_VALUE);
        return;
    }
    format_number(text, CELL_LEN, mean, f);
    size_t used = strlen(text);
    if (n > 1) {
        used += (size_t)snprintf(text + used, CELL_LEN - used, " ± ");
        format_number(text + used, CELL_LEN - used, std, f);
        used = strlen(text);
    }
    if (n != row_n) snprintf(text + used, CELL_LEN - used, " (n=%d)", n);
}

// The two tables of g from its numbers.
static int groups_tables(AblationGroups *g, const char *caption) {
    static const char *const suffix[] = {"_mean", "_std", "_n"};
    int keys = g->n_keys ? g->n_keys : 1, nm = g->n_metrics;
    int cols = keys + 1 + nm, num_cols = keys + 1 + 3 * nm;
    size_t names_len = 1;
    for (int m = 0; m < nm; m++) names_len += 3 * (strlen(g->metrics[m]) + 6);
    const char **header = calloc((size_t)num_cols, sizeof *header);
    const char **cells = calloc((size_t)num_cols, sizeof *cells);
    char *names = malloc(names_len), *text = malloc((size_t)num_cols * CELL_LEN);
    NumberFormat *format = malloc((size_t)nm * sizeof *format + 1);
    double *shown = malloc((size_t)(2 * g->n_groups) * sizeof *shown + 1); // means and stds
    int rc = header && cells && names && text && format && shown ? 0 : -1;
    for (int m = 0; rc == 0 && m < nm; m++) {
        for (int r = 0; r < g->n_groups; r++) {
            shown[2 * r] = g->mean[r * nm + m];
            shown[2 * r + 1] = g->std[r * nm + m];
        }
        format[m] = column_format(shown, 2 * g->n_groups);
    }
    if (rc == 0) {
        for (int k = 0; k < keys; k++) header[k] = g->n_keys ? g->keys[k] : "trials";
        header[keys] = "n";
        for (int m = 0; m < nm; m++) header[keys + 1 + m] = g->metrics[m];
        g->table = table_new(g->title, caption, cols, header, keys);
        char *name = names;
        for (int m = 0; m < nm; m++)
            for (int j = 0; j < 3; j++) {
                header[keys + 1 + 3 * m + j] = name;
                name += sprintf(name, "%s%s", g->metrics[m], suffix[j]) + 1;
            }
        g->numbers = table_new(g->title, caption, num_cols, header, keys);
        if (!g->table || !g->numbers) rc = -1;
    }
    for (int r = 0; rc == 0 && r < g->n_groups; r++) {
        for (int c = 0; c < num_cols; c++) cells[c] = text + (size_t)c * CELL_LEN;
        for (int k = 0; k < keys; k++) cells[k] = g->n_keys ? g->labels[r * g->n_keys + k] : "all";
        snprintf(text + (size_t)keys * CELL_LEN, CELL_LEN, "%d", g->group_n[r]);
        for (int m = 0; m < nm; m++)
            stats_cell(text + (size_t)(keys + 1 + m) * CELL_LEN, g->mean[r * nm + m],
                       g->std[r * nm + m], g->n[r * nm + m], g->group_n[r], format[m]);
        rc = table_add_row(g->table, cells);
        for (int m = 0; rc == 0 && m < nm; m++) {
            char *cell = text + (size_t)(keys + 1 + 3 * m) * CELL_LEN;
            table_number_text(cell, CELL_LEN, g->mean[r * nm + m]);
            table_number_text(cell + CELL_LEN, CELL_LEN, g->std[r * nm + m]);
            snprintf(cell + 2 * CELL_LEN, CELL_LEN, "%d", g->n[r * nm + m]);
        }
        if (rc == 0) rc = table_add_row(g->numbers, cells);
    }
    free(header);
    free(cells);
    free(names);
    free(text);
    free(format);
    free(shown);
    return rc;
}

// g->table turned on its side: a row per metric, a column per group (its name and n in the
// header), so that a terminal of 100 columns shows a dozen metrics of a few groups.
static int by_metric_table(AblationGroups *g) {
    const Table *t = g->table;
    int keys = t->n_key_cols, cols = 1 + g->n_groups;
    const char **header = calloc((size_t)cols, sizeof *header);
    const char **cells = calloc((size_t)cols, sizeof *cells);
    char *names = malloc((size_t)g->n_groups * CELL_LEN + 1);
    int rc = header && cells && names ? 0 : -1;
    if (rc == 0) {
        header[0] = "metric";
        for (int r = 0; r < g->n_groups; r++) {
            snprintf(names + (size_t)r * CELL_LEN, CELL_LEN, "%s (n=%d)", g->group_names[r],
                     g->group_n[r]);
            header[1 + r] = names + (size_t)r * CELL_LEN;
        }
        g->by_metric = table_new(t->title, t->caption, cols, header, 1);
        if (!g->by_metric) rc = -1;
    }
    for (int m = 0; rc == 0 && m < g->n_metrics; m++) {
        cells[0] = g->metrics[m];
        for (int r = 0; r < g->n_groups; r++) cells[1 + r] = table_cell(t, r, keys + 1 + m);
        rc = table_add_row(g->by_metric, cells);
    }
    free(header);
    free(cells);
    free(names);
    return rc;
}

// One grouping of the selected trials of subset (NULL: all selected) by the axes keys.
static int build_groups(const Sweep *s, const bool *subset, const int *keys, int n_keys,
                        const char *title, const char *caption, AblationGroups *g) {
    const SweepTable *t = s->t;
    int n = t->n_trials, nm = s->n_metrics;
    *g = (AblationGroups){.n_keys = n_keys, .title = strdup(title)};
    int *member = malloc((size_t)n * sizeof *member + 1);
    int *combo = malloc((size_t)n * (size_t)n_keys * sizeof *combo + 1); // [group, key]
    int *order = malloc((size_t)n * sizeof *order + 1), *position = NULL;
    double *mean = NULL, *std = NULL;
    int *count = NULL, rc = g->title && member && combo && order ? 0 : -1;
    int n_groups = 0;
    for (int i = 0; rc == 0 && i < n; i++) {
        member[i] = -1;
        if (!s->selected[i] || (subset && !subset[i])) continue;
        int found = 0;
        for (; found < n_groups; found++) {
            int k = 0;
            while (k < n_keys && combo[found * n_keys + k] == value_of(s, i, keys[k])) k++;
            if (k == n_keys) break;
        }
        if (found == n_groups) {
            for (int k = 0; k < n_keys; k++) combo[found * n_keys + k] = value_of(s, i, keys[k]);
            n_groups++;
        }
        member[i] = found;
    }
    if (rc == 0) {
        for (int k = 0; k < n_groups; k++) order[k] = k;
        qsort_r(order, (size_t)n_groups, sizeof *order, by_ranks,
                &(GroupOrder){s, keys, combo, n_keys});
        position = malloc((size_t)n_groups * sizeof *position + 1);
        mean = malloc((size_t)n_groups * (size_t)nm * sizeof *mean + 1);
        std = malloc((size_t)n_groups * (size_t)nm * sizeof *std + 1);
        count = malloc((size_t)n_groups * (size_t)nm * sizeof *count + 1);
        rc = position && mean && std && count ? 0 : -1;
    }
    for (int r = 0; rc == 0 && r < n_groups; r++) position[order[r]] = r;
    for (int i = 0; rc == 0 && i < n; i++)
        if (member[i] >= 0) member[i] = position[member[i]];
    // Statistics of every column, then only the columns some row has a value of.
    bool *kept = rc == 0 ? calloc((size_t)nm + 1, sizeof *kept) : NULL;
    if (rc == 0 && !kept) rc = -1;
    if (rc == 0) group_stats(s, member, n_groups, mean, std, count);
    for (int r = 0; rc == 0 && r < n_groups; r++)
        for (int m = 0; m < nm; m++) kept[m] |= count[r * nm + m] > 0;
    if (rc == 0) {
        for (int m = 0; m < nm; m++) g->n_metrics += kept[m];
        g->n_groups = n_groups;
        size_t cells = (size_t)n_groups * (size_t)g->n_metrics + 1;
        g->keys = calloc((size_t)n_keys + 1, sizeof *g->keys);
        g->labels = calloc((size_t)n_groups * (size_t)n_keys + 1, sizeof *g->labels);
        g->group_names = calloc((size_t)n_groups + 1, sizeof *g->group_names);
        g->group_n = calloc((size_t)n_groups + 1, sizeof *g->group_n);
        g->metrics = calloc((size_t)g->n_metrics + 1, sizeof *g->metrics);
        g->mean = malloc(cells * sizeof *g->mean);
        g->std = malloc(cells * sizeof *g->std);
        g->n = malloc(cells * sizeof *g->n);
        rc = g->keys && g->labels && g->group_names && g->group_n && g->metrics && g->mean &&
                     g->std && g->n
                 ? 0
                 : -1;
    }
    for (int k = 0; rc == 0 && k < n_keys; k++)
        if (!(g->keys[k] = strdup(s->axes[keys[k]].name))) rc = -1;
    for (int m = 0, j = 0; rc == 0 && m < nm; m++) {
        if (!kept[m]) continue;
        if (!(g->metrics[j] = strdup(s->metric[m]))) rc = -1;
        for (int r = 0; r < n_groups; r++) {
            g->mean[r * g->n_metrics + j] = mean[r * nm + m];
            g->std[r * g->n_metrics + j] = std[r * nm + m];
            g->n[r * g->n_metrics + j] = count[r * nm + m];
        }
        j++;
    }
    for (int i = 0; rc == 0 && i < n; i++)
        if (member[i] >= 0 && t->rows[i].status == SWEEP_DONE) g->group_n[member[i]]++;
    for (int r = 0; rc == 0 && r < n_groups; r++) {
        int c = order[r];
        for (int k = 0; k < n_keys; k++) {
            const Axis *axis = &s->axes[keys[k]];
            if (!(g->labels[r * n_keys + k] = strdup(axis->label[combo[c * n_keys + k]]))) rc = -1;
        }
        g->group_names[r] = n_keys
                                ? join((const char *const *)&g->labels[r * n_keys], n_keys, " / ")
                                : strdup("all");
        if (!g->group_names[r]) rc = -1;
    }
    if (rc == 0) rc = groups_tables(g, caption);
    if (rc == 0) rc = by_metric_table(g);
    free(member);
    free(combo);
    free(order);
    free(position);
    free(mean);
    free(std);
    free(count);
    free(kept);
    if (rc < 0) groups_free(g);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// Which groupings

// Whether axis a takes two values or more among the selected trials of subset (NULL: all).
static bool varies(const Sweep *s, const bool *subset, int a) {
    int first = -1;
    for (int i = 0; i < s->t->n_trials; i++) {
        if (!s->selected[i] || (subset && !subset[i])) continue;
        if (first < 0) first = value_of(s, i, a);
        if (value_of(s, i, a) != first) return true;
    }
    return false;
}

// Whether axes a and b split the selected trials of subset into the same groups: then the
// value of a at a trial's first appearance of it always comes with the same value of b.
static bool move_together(const Sweep *s, const bool *subset, int a, int b, int *seen_a,
                          int *seen_b) {
    for (int k = 0; k < s->axes[a].n; k++) seen_a[k] = -1;
    for (int k = 0; k < s->axes[b].n; k++) seen_b[k] = -1;
    for (int i = 0; i < s->t->n_trials; i++) {
        if (!s->selected[i] || (subset && !subset[i])) continue;
        int va = value_of(s, i, a), vb = value_of(s, i, b);
        if (seen_a[va] < 0 && seen_b[vb] < 0) {
            seen_a[va] = vb;
            seen_b[vb] = va;
        } else if (seen_a[va] != vb || seen_b[vb] != va) {
            return false;
        }
    }
    return true;
}

typedef struct {
    const Sweep *s;
    Ablation *out;
    const char *caption;
    int *seen_a, *seen_b; // scratch of the largest axis's size
} Builder;

static int add_grouping(Builder *b, const bool *subset, const int *keys, int n_keys,
                        const char *prefix, const char *separator) {
    const char *names[MAX_KEYS];
    int n = 0;
    for (int k = 0; k < n_keys && n < (int)(sizeof names / sizeof *names); k++)
        names[n++] = b->s->axes[keys[k]].name;
    char *keys_text = n_keys ? join(names, n, separator) : strdup("all trials");
    if (!keys_text) return -1;
    char *title = malloc(strlen(prefix) + strlen(keys_text) + 8);
    if (title) sprintf(title, "%s%s%s", prefix, n_keys ? "by " : "", keys_text);
    free(keys_text);
    Ablation *out = b->out;
    AblationGroups *grown =
        title ? realloc(out->tables, (size_t)(out->n_tables + 1) * sizeof *grown) : NULL;
    if (grown) out->tables = grown;
    int rc =
        grown ? build_groups(b->s, subset, keys, n_keys, title, b->caption, &grown[out->n_tables])
              : -1;
    if (rc == 0) out->n_tables++;
    free(title);
    return rc;
}

// The default groupings of subset: one per set of axes that vary and move together, in axis
// order, leaving out the set of the axis skip (-1: none); only >= 0 keeps just the set of that
// axis.
static int add_default_groupings(Builder *b, const bool *subset, int skip, int only,
                                 const char *prefix) {
    const Sweep *s = b->s;
    int keys[MAX_KEYS], *cluster = calloc((size_t)s->n_paths + 1, sizeof *cluster);
    if (!cluster) return -1;
    int rc = 0;
    for (int a = 0; a < s->n_paths; a++) cluster[a] = varies(s, subset, a) ? a : -1;
    for (int a = 0; a < s->n_paths; a++)
        for (int h = 0; cluster[a] == a && h < a; h++)
            if (cluster[h] == h && move_together(s, subset, h, a, b->seen_a, b->seen_b))
                cluster[a] = h;
    for (int h = 0; rc == 0 && h < s->n_paths; h++) {
        if (cluster[h] != h || (skip >= 0 && cluster[skip] == h)) continue;
        if (only >= 0 && cluster[only] != h) continue;
        int n_keys = 0;
        for (int a = h; a < s->n_paths && n_keys < MAX_KEYS; a++)
            if (cluster[a] == h) keys[n_keys++] = a;
        rc = add_grouping(b, subset, keys, n_keys, prefix, " / ");
    }
    free(cluster);
    return rc;
}

static int resolve_by(const Sweep *s, const AblationOptions *o, int *by, char *err,
                      size_t err_len) {
    if (o->n_by > MAX_KEYS) return fail(err, err_len, "at most %d axes to group by", MAX_KEYS);
    for (int k = 0; k < o->n_by; k++) {
        by[k] = find_axis(s, o->by[k], s->n_axes);
        if (by[k] < 0) {
            char names[4096];
            list_axes(s, s->n_axes, names, sizeof names);
            return fail(err, err_len, "group by '%s': no such axis (axes: %s)", o->by[k], names);
        }
    }
    return 0;
}

static int choose_split(const Sweep *s, const AblationOptions *o, const int *by, char *err,
                        size_t err_len) {
    const char *name = o->split ? o->split : "task";
    if (!*name) return -1;
    int a = find_axis(s, name, s->n_paths);
    if (a < 0 && o->split) {
        char names[4096];
        list_axes(s, s->n_paths, names, sizeof names);
        fail(err, err_len, "split by '%s': no such swept path (paths: %s)", name, names);
        return -2;
    }
    for (int k = 0; k < o->n_by; k++)
        if (by[k] == a) return -1;
    return a >= 0 && varies(s, NULL, a) ? a : -1;
}

static int add_groupings(Builder *b, const AblationOptions *o, char *err, size_t err_len) {
    const Sweep *s = b->s;
    int by[MAX_KEYS];
    if (resolve_by(s, o, by, err, err_len) < 0) return -1;
    int split = choose_split(s, o, by, err, err_len);
    if (split == -2) return -1;
    int rc = 0;
    if (split < 0) {
        rc = o->n_by ? add_grouping(b, NULL, by, o->n_by, "", " × ")
                     : add_default_groupings(b, NULL, -1, -1, "");
    } else {
        if (!o->n_by) rc = add_default_groupings(b, NULL, -1, split, "");
        const Axis *axis = &s->axes[split];
        int *order = malloc((size_t)axis->n * sizeof *order + 1);
        bool *subset = malloc((size_t)s->t->n_trials * sizeof *subset + 1);
        if (!order || !subset) rc = -1;
        for (int k = 0; rc == 0 && k < axis->n; k++) order[axis->rank[k]] = k;
        for (int r = 0; rc == 0 && r < axis->n; r++) {
            bool any = false;
            for (int i = 0; i < s->t->n_trials; i++) {
                subset[i] = value_of(s, i, split) == order[r];
                any |= subset[i] && s->selected[i];
            }
            if (!any) continue;
            char *prefix = malloc(strlen(axis->label[order[r]]) + 3);
            if (!prefix) {
                rc = -1;
                break;
            }
            sprintf(prefix, "%s: ", axis->label[order[r]]);
            rc = o->n_by ? add_grouping(b, subset, by, o->n_by, prefix, " × ")
                         : add_default_groupings(b, subset, split, -1, prefix);
            free(prefix);
        }
        free(order);
        free(subset);
    }
    if (rc == 0 && b->out->n_tables == 0) rc = add_grouping(b, NULL, NULL, 0, "", "");
    if (rc < 0 && err_len && !err[0]) fail(err, err_len, "out of memory");
    return rc;
}

// ---------------------------------------------------------------------------------------------
// The per-trial tables

static int add_trial_tables(const Sweep *s, Ablation *out, const char *caption) {
    const SweepTable *t = s->t;
    int nm = s->n_metrics, keys = 3 + s->n_paths, cols = keys;
    bool *kept = calloc((size_t)nm + 1, sizeof *kept);
    NumberFormat *format = malloc((size_t)nm * sizeof *format + 1);
    double *column = malloc((size_t)t->n_trials * sizeof *column + 1);
    const char **header = calloc((size_t)(keys + nm + 1), sizeof *header);
    const char **cells = calloc((size_t)(keys + nm + 1), sizeof *cells);
    char *text = malloc((size_t)nm * CELL_LEN + 1); // the metric cells of one row
    int rc = kept && format && column && header && cells && text ? 0 : -1;
    for (int m = 0; rc == 0 && m < nm; m++) {
        int n = 0;
        for (int i = 0; i < t->n_trials; i++) {
            double x = s->x[(size_t)i * (size_t)nm + (size_t)m];
            if (s->selected[i] && !isnan(x)) column[n++] = x;
        }
        kept[m] = n > 0;
        format[m] = column_format(column, n);
    }
    if (rc == 0) {
        header[0] = "id";
        header[1] = "repeat";
        for (int a = 0; a < s->n_paths; a++) header[2 + a] = s->axes[a].name;
        header[keys - 1] = "status";
        for (int m = 0; m < nm; m++)
            if (kept[m]) header[cols++] = s->metric[m];
        header[cols] = "error";
        out->trials = table_new("trials", caption, cols, header, keys);
        out->trial_numbers = table_new("trials", caption, cols + 1, header, keys);
        if (!out->trials || !out->trial_numbers) rc = -1;
    }
    for (int i = 0; rc == 0 && i < t->n_trials; i++) {
        if (!s->selected[i]) continue;
        char repeat[16];
        snprintf(repeat, sizeof repeat, "%d", t->rows[i].repeat);
        cells[0] = t->rows[i].id;
        cells[1] = repeat;
        for (int a = 0; a < s->n_paths; a++) cells[2 + a] = s->axes[a].label[value_of(s, i, a)];
        cells[keys - 1] = sweep_status_names[t->rows[i].status];
        cells[cols] = t->rows[i].error;
        for (int exact = 0; exact < 2 && rc == 0; exact++) {
            for (int m = 0, c = keys; m < nm; m++) {
                if (!kept[m]) continue;
                double x = s->x[(size_t)i * (size_t)nm + (size_t)m];
                char *cell = text + (size_t)m * CELL_LEN;
                if (exact)
                    table_number_text(cell, CELL_LEN, x);
                else if (isnan(x))
                    snprintf(cell, CELL_LEN, "%s", NO_VALUE);
                else
                    format_number(cell, CELL_LEN, x, format[m]);
                cells[c++] = cell;
            }
            rc = table_add_row(exact ? out->trial_numbers : out->trials, cells);
        }
    }
    free(kept);
    free(format);
    free(column);
    free(header);
    free(cells);
    free(text);
    return rc;
}

// ---------------------------------------------------------------------------------------------
// The whole

static char *summary_line(const Ablation *a) {
    char text[512], left[256] = "";
    int n_left = a->n_selected - a->n_done, used = 0;
    int counts[] = {a->n_failed, a->n_running, a->n_pending};
    const char *names[] = {"failed", "running", "pending"};
    for (int k = 0; k < 3; k++)
        if (counts[k])
            used += snprintf(left + used, sizeof left - (size_t)used, "%s%d %s", used ? ", " : "",
                             counts[k], names[k]);
    int at = a->n_selected == a->n_trials
                 ? snprintf(text, sizeof text, "%d trials", a->n_trials)
                 : snprintf(text, sizeof text, "%d of %d trials pass the filters", a->n_selected,
                            a->n_trials);
    if (n_left == 0)
        snprintf(text + at, sizeof text - (size_t)at, ", all done");
    else
        snprintf(text + at, sizeof text - (size_t)at, "; %d done counted, %d left out (%s)",
                 a->n_done, n_left, left);
    return strdup(text);
}

int ablation_build(const SweepTable *t, const AblationOptions *o, Ablation *out, char *err,
                   size_t err_len) {
    static const AblationOptions defaults = {0};
    if (!o) o = &defaults;
    *out = (Ablation){.n_trials = t->n_trials};
    if (err_len) err[0] = '\0';
    if (t->n_trials == 0) return fail(err, err_len, "the sweep has no trials");
    Sweep s = {.t = t};
    int rc = read_axes(&s, err, err_len);
    if (rc == 0 && !(s.selected = malloc((size_t)t->n_trials * sizeof *s.selected + 1)))
        rc = fail(err, err_len, "out of memory");
    for (int i = 0; rc == 0 && i < t->n_trials; i++) s.selected[i] = true;
    for (int f = 0; rc == 0 && f < o->n_where; f++)
        rc = apply_filter(&s, o->where[f], err, err_len);
    for (int i = 0; rc == 0 && i < t->n_trials; i++) {
        if (!s.selected[i]) continue;
        out->n_selected++;
        SweepStatus status = t->rows[i].status;
        out->n_done += status == SWEEP_DONE;
        out->n_failed += status == SWEEP_FAILED;
        out->n_running += status == SWEEP_RUNNING;
        out->n_pending += status == SWEEP_PENDING;
    }
    if (rc == 0 && out->n_selected == 0)
        rc = fail(err, err_len, "no trial passes all the filters (%s)", s.filters);
    if (rc == 0) rc = choose_metrics(&s, o, err, err_len);
    if (rc == 0) {
        out->n_axes = s.n_paths;
        out->axes = calloc((size_t)s.n_paths + 1, sizeof *out->axes);
        out->summary = summary_line(out);
        if (!out->axes || !out->summary) rc = fail(err, err_len, "out of memory");
    }
    for (int a = 0; rc == 0 && a < s.n_paths; a++)
        if (!(out->axes[a] = strdup(s.axes[a].name))) rc = fail(err, err_len, "out of memory");
    char caption[2048], filters[1200] = "";
    if (s.filters[0]) snprintf(filters, sizeof filters, "Trials with %s. ", s.filters);
    int largest = 1;
    for (int a = 0; a < s.n_axes; a++)
        if (s.axes[a].n > largest) largest = s.axes[a].n;
    Builder b = {.s = &s, .out = out, .caption = caption};
    if (rc == 0) {
        snprintf(caption, sizeof caption,
                 "Mean ± sample standard deviation over each row's n done trials, the other "
                 "settings pooled; (n=k): only k of them have the metric; —: none has. %s%s.",
                 filters, out->summary);
        b.seen_a = malloc((size_t)largest * sizeof *b.seen_a);
        b.seen_b = malloc((size_t)largest * sizeof *b.seen_b);
        rc = b.seen_a && b.seen_b ? add_groupings(&b, o, err, err_len)
                                  : fail(err, err_len, "out of memory");
    }
    if (rc == 0) {
        snprintf(caption, sizeof caption, "One row per trial. %s%s.", filters, out->summary);
        if (add_trial_tables(&s, out, caption) < 0) rc = fail(err, err_len, "out of memory");
    }
    free(b.seen_a);
    free(b.seen_b);
    sweep_free(&s);
    if (rc < 0) ablation_free(out);
    return rc;
}

void ablation_free(Ablation *a) {
    for (int k = 0; a->axes && k < a->n_axes; k++) free(a->axes[k]);
    for (int k = 0; k < a->n_tables; k++) groups_free(&a->tables[k]);
    free(a->axes);
    free(a->tables);
    free(a->summary);
    table_free(a->trials);
    table_free(a->trial_numbers);
    *a = (Ablation){0};
}
