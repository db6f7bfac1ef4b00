// Ablation tables from a sweep's trial table (io/sweep_store.h): the trials' summary metrics,
// grouped by the values of the swept settings, as mean ± sample standard deviation over the done
// trials of each group (the repeats and every axis not grouped by pooled together).
//
// Axes. A trial's params are the overrides its sweep applied, "path=value" joined by "; "
// (sweeps/sweep_queue.c). A value is libconfig text as sweeps/sweep_spec.c writes it: a number,
// true or false, a quoted string with backslash escapes ("a; b" stays one value), an array [2, 3],
// a list (1, "x") or a group { a = 1; b = 2; }; a list-method trial's value is the user's text
// after '='. The axes are the paths found in any trial, in order of first appearance; a trial
// that does not set a path (a list-method trial left to the base config) has the value "-".
// Tables show a quoted string without its quotes and escapes, everything else as written.
// The values of an axis are ordered numerically when all are numbers ("-" last), else in order
// of first appearance in the table.
//
// Metrics (columns). Every name of the table's metric_names (e.g. "rounds", "final_disc_acc",
// "seconds": the ARE loop's time, "edited.harmful.refusal_rate",
// "base.held_out_text.perplexity"), then derived ones: "change.X" = edited.X - base.X for every
// edited.X that has a base.X (in the order of the edited ones), then "wall_seconds", the trial's
// wall time from the table's seconds column (the name "seconds" already being the loop's).
// A trial's NaN (a metric its task does not report) is left out of that cell only.
//
// Which trials count. The filters select trials (all must hold); of those only done trials
// enter the statistics, and the summary and captions say how many were left out and why
// (failed, running, pending). The per-trial table lists every selected trial whatever its
// status.
//
// Grouping. By default, one table per axis that takes more than one value among the selected
// trials, its rows that axis's values; axes that move together (zipped in the sweep, e.g. task
// and are.generator.retain_weight: the same trials share a value of one exactly when they
// share a value of the other) share one table with a key column each, titled "by a / b", rows
// named "jailbreak / 0.0". When "task" is such an axis it splits the rest (options.split): first
// the table by task, then for each task (in its order) the tables of the axes that vary within
// that task's trials, titled "<task>: by <axis>", because metrics of different editing tasks
// (a refusal rate pushed down or up) do not average meaningfully. With `by`, one table (per
// split value) titled "by a × b" whose rows are the combinations of the named axes that occur,
// ordered by the first axis, then the second, and so on. When no table results (nothing
// varies), one table "all trials" whose one row "all" pools every selected trial.
//
// Cells (Table, for people): "mean ± std" with std the sample standard deviation (divisor n-1);
// just "mean" when one trial has the metric (no spread to show); "—" when none has it. The
// column "n" is the number of done trials of the row; a cell whose metric fewer of them have
// ends in " (n=k)". Each column has one number format: integers when every number shown in it
// is an integer, else fixed decimals giving 4 significant digits to the column's largest
// magnitude (0.8750, 12.34, 1234), at most 6 decimals; a column whose largest magnitude is
// 1e7 or more, or under 1e-4, is written %.3e. Negative zero prints as zero. A metric that no
// trial of a table has is left out of that table.
//
// Numbers (Table for programs, what CSV is written from): the key columns, n, then per metric
// "<metric>_mean", "<metric>_std", "<metric>_n"; numbers in the shortest text that reads back
// as the same double, "" for NaN (pandas reads it as NaN).
//
// Everything is deterministic: the same table and options give the same text.
#ifndef ARE_ABLATION_H
#define ARE_ABLATION_H

#include "sweep_store.h"
#include "table.h"

#include <stdbool.h>
#include <stddef.h>

// One setting of a trial's params; path and value point into the parse's own copy, trimmed of
// surrounding spaces, the value as written (quotes kept).
typedef struct {
    const char *path, *value;
} AblationParam;

typedef struct {
    int n;
    AblationParam *items; // [n], in the order of the params text
    char *text;           // the copy the items point into
} AblationParams;

// Splits params ("path=value; path=value", "" for none) at the ';' outside quotes and brackets.
// Returns 0, or -1 with err naming the piece that is not path=value or the unclosed quote or
// bracket (*out then holds nothing). Free with ablation_params_free.
int ablation_params_parse(const char *params, AblationParams *out, char *err, size_t err_len);
void ablation_params_free(AblationParams *p);

typedef struct {
    // "axis=value" filters, all of which must hold. The axis is a swept path or one of the
    // columns repeat, status, id; a value matches as written in params ("\"jailbreak\"", "[2,
    // 3]"), as shown (jailbreak), or as the same number (1e-4 matches 0.0001).
    const char *const *where;
    int n_where;
    // Axes whose value combinations make the rows (repeat and status allowed); 0: the default
    // tables described at the top.
    const char *const *by;
    int n_by;
    // Metric names, or fnmatch(3) patterns ("edited.*.refusal_rate"), in the column order wanted;
    // a metric matched twice keeps its first place. 0: every metric. A plain name that is not a
    // metric is an error unless skip_unknown_metrics (for a fixed list such as
    // ablation_headline_metrics); a pattern that matches nothing is not.
    const char *const *metrics;
    int n_metrics;
    bool skip_unknown_metrics;
    // NULL: split by "task" when it varies (see the top); "": never split; else that axis.
    const char *split;
} AblationOptions;

// A short metric list for the tables people read, where every metric would make a hundred:
// convergence, rounds, each set's refusal and answer rates after the edit, what the edited
// answers kept of the base model's (ROUGE-L) and how many are distinct (an edit that answers
// everything with one text scores near 0 on both while its rates look clean), the perplexity
// change and the wall time.
#define ABLATION_HEADLINE_N 8
extern const char *const ablation_headline_metrics[ABLATION_HEADLINE_N];

// One grouping: the numbers (for plots: bars of mean with std error bars) and two tables.
typedef struct {
    char *title; // "by are.generator.rank", "jailbreak: by are.layers / are.generator.layers"
    int n_keys;
    char **keys; // [n_keys] the axes that make the rows; 0 keys: the one row "all" (its
                 // tables' key column is "trials")
    int n_groups;
    char **labels;      // [n_groups * n_keys] each row's value of each key, as shown
    char **group_names; // [n_groups] a row's labels joined by " / " ("all" without keys)
    int *group_n;       // [n_groups] done trials in the row
    int n_metrics;
    char **metrics;   // [n_metrics] metric names (columns)
    double *mean;     // [n_groups * n_metrics] NaN where no trial of the row has the metric
    double *std;      // [n_groups * n_metrics] sample std, NaN where fewer than 2 have it
    int *n;           // [n_groups * n_metrics] trials of the row that have the metric
    Table *table;     // for people: keys, n, "mean ± std" per metric
    Table *numbers;   // for CSV: keys, n, <metric>_mean, <metric>_std, <metric>_n
    Table *by_metric; // table on its side, for a terminal: a row per metric, a column per group
                      // ("<group name> (n=k)"), the same cells
} AblationGroups;

typedef struct {
    int n_axes;
    char **axes; // [n_axes] every swept path, in order of first appearance
    // Trials in the sweep, selected by the filters, and the selected ones by status.
    int n_trials, n_selected, n_done, n_failed, n_running, n_pending;
    char *summary; // one line: "16 trials; 5 done counted, 11 left out (1 running, 10 pending)"
    int n_tables;
    AblationGroups *tables; // [n_tables] in the order described at the top
    // One row per selected trial in table order: id, repeat, each axis, status, then each metric
    // column of the options that some selected trial has. `trials` is formatted like the groups'
    // cells ("—" for NaN, a column's format from its own values); `trial_numbers` has plain
    // numbers ("" for NaN) and a last column "error".
    Table *trials, *trial_numbers;
} Ablation;

// Builds the tables of t under o (NULL: the defaults). Returns 0, or -1 with err saying what is
// wrong (a table without trials; a malformed params text naming its trial; an unknown axis or
// metric, listing the ones there are; a filter value no trial has, listing the axis's values;
// filters that no trial passes together; out of memory), *out then holding nothing. Free with
// ablation_free. Not an error: a sweep with no done trial yet (rows with n 0, no metric columns).
int ablation_build(const SweepTable *t, const AblationOptions *o, Ablation *out, char *err,
                   size_t err_len);
void ablation_free(Ablation *a);

#endif
