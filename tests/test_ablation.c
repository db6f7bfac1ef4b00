// Ablation tables: params parsing with tricky values; a small sweep whose every cell is worked
// out by hand (mean ± sample std, n per cell, NaN metrics, failed and pending trials left out,
// numeric order of values, derived change.* and wall_seconds, the numbers for CSV); a grid with
// a zipped task axis checked group by group against a naive recomputation from the settings the
// test itself generated (split by task, --by two axes, filters, metric patterns); errors that
// name what exists; the Markdown, CSV and LaTeX writers against text written out by hand; and
// determinism.
#include "ablation.h"
#include "check.h"
#include "table_format.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ERR_LEN 8192

static bool close_to(double a, double b) {
    return (isnan(a) && isnan(b)) || fabs(a - b) <= 1e-12 * (1 + fabs(b));
}

static const char *cell(const Table *t, int row, int col) {
    return table_cell(t, row, col);
}

// The column of name in t's header, or -1.
static int column(const Table *t, const char *name) {
    for (int c = 0; c < t->n_cols; c++)
        if (!strcmp(t->header[c], name)) return c;
    return -1;
}

// Row i of t: trial id from i, params, repeat, status; done and failed trials took `seconds`
// and report n metrics.
static void set_row(SweepTable *t, int i, const char *params, int repeat, SweepStatus status,
                    double seconds, const char *const *names, const double *values, int n) {
    char id[SWEEP_ID_LEN + 1];
    snprintf(id, sizeof id, "%016llx", 0xa000ull + (unsigned long long)i);
    sweep_table_set_trial(t, i, id, repeat, params, (uint64_t)i);
    if (status != SWEEP_PENDING) sweep_table_start(t, i, "node", 1, "cpu", 1000.0);
    if (status == SWEEP_DONE || status == SWEEP_FAILED)
        sweep_table_finish(t, i, status, 1000.0 + seconds, seconds,
                           status == SWEEP_FAILED ? "NaN in the generator loss, round 2" : NULL);
    if (n) sweep_table_set_metrics(t, i, names, values, n);
}

// ---- params ----

static void test_params(void) {
    char err[ERR_LEN];
    AblationParams p;
    CHECK(ablation_params_parse("task=\"jailbreak\"; are.generator.rank=8; are.layers=[2, 3]", &p,
                                err, sizeof err) == 0,
          "plain params: %s", err);
    CHECK(p.n == 3, "3 settings, got %d", p.n);
    if (p.n == 3) {
        CHECK(!strcmp(p.items[0].path, "task") && !strcmp(p.items[0].value, "\"jailbreak\""),
              "task: '%s'='%s'", p.items[0].path, p.items[0].value);
        CHECK(!strcmp(p.items[1].path, "are.generator.rank") && !strcmp(p.items[1].value, "8"),
              "rank: '%s'='%s'", p.items[1].path, p.items[1].value);
        CHECK(!strcmp(p.items[2].path, "are.layers") && !strcmp(p.items[2].value, "[2, 3]"),
              "layers: '%s'='%s'", p.items[2].path, p.items[2].value);
    }
    ablation_params_free(&p);

    // ';' inside a string (with an escaped quote), a list, a group; spaces around '=' (a list
    // trial's own text).
    const char *tricky = "output.dir=\"runs/a; b \\\"c\\\"\"; x = (1, \"y; z\"); "
                         "g={ p = 1; q = [2, 3]; }; lr = -1e-4";
    CHECK(ablation_params_parse(tricky, &p, err, sizeof err) == 0, "tricky params: %s", err);
    CHECK(p.n == 4, "4 tricky settings, got %d", p.n);
    if (p.n == 4) {
        CHECK(!strcmp(p.items[0].path, "output.dir") &&
                  !strcmp(p.items[0].value, "\"runs/a; b \\\"c\\\"\""),
              "string: '%s'='%s'", p.items[0].path, p.items[0].value);
        CHECK(!strcmp(p.items[1].path, "x") && !strcmp(p.items[1].value, "(1, \"y; z\")"),
              "list: '%s'='%s'", p.items[1].path, p.items[1].value);
        CHECK(!strcmp(p.items[2].path, "g") && !strcmp(p.items[2].value, "{ p = 1; q = [2, 3]; }"),
              "group: '%s'='%s'", p.items[2].path, p.items[2].value);
        CHECK(!strcmp(p.items[3].path, "lr") && !strcmp(p.items[3].value, "-1e-4"),
              "number: '%s'='%s'", p.items[3].path, p.items[3].value);
    }
    ablation_params_free(&p);

    CHECK(ablation_params_parse("", &p, err, sizeof err) == 0 && p.n == 0, "empty params");
    ablation_params_free(&p);

    struct {
        const char *params, *expect;
    } bad[] = {
        {"a=1; junk", "'junk' is not path=value"},
        {"a=\"open; b=2", "unclosed quote"},
        {"a=[1, 2; b=2", "unclosed bracket"},
        {"=3", "'=3' is not path=value"},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        err[0] = '\0';
        int rc = ablation_params_parse(bad[k].params, &p, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[k].expect), "'%s': rc %d, err '%s'", bad[k].params, rc,
              err);
        CHECK(p.n == 0 && !p.items && !p.text, "a failed parse holds nothing");
    }
}

// ---- a sweep worked out by hand ----

// rank 32 first and 8 before 4: the rows must come in numeric order 4, 8, 16, 32. lr does not
// vary (no table of its own). Trial 4 lacks the edited rate (NaN), so its change is NaN too;
// trial 7 failed (its metrics and time must not count), trial 8 is pending.
static SweepTable *hand_sweep(void) {
    SweepTable *t = sweep_table_new("hand", "test", "", 9);
    const char *names[] = {"rounds", "base.s.rate", "edited.s.rate"};
    struct {
        int rank, repeat;
        SweepStatus status;
        double seconds, rounds, edited;
    } rows[] = {
        {32, 0, SWEEP_DONE, 5, 2, 0.6},        {8, 0, SWEEP_DONE, 40, 4, 0.2},
        {8, 1, SWEEP_DONE, 50, 4, NAN},        {8, 2, SWEEP_DONE, 60, 4, 0.4},
        {4, 0, SWEEP_DONE, 10, 3, 0.5},        {4, 1, SWEEP_DONE, 20, 4, 0.7},
        {4, 2, SWEEP_DONE, 30, 5, 0.9},        {16, 0, SWEEP_FAILED, 70, 1, 0.1},
        {16, 1, SWEEP_PENDING, NAN, NAN, NAN},
    };
    for (int i = 0; i < 9; i++) {
        char params[64];
        snprintf(params, sizeof params, "rank=%d; lr=0.001", rows[i].rank);
        double values[] = {rows[i].rounds, 0.25, rows[i].edited};
        set_row(t, i, params, rows[i].repeat, rows[i].status, rows[i].seconds, names, values,
                rows[i].status == SWEEP_PENDING ? 0 : 3);
    }
    return t;
}

static void test_hand(void) {
    char err[ERR_LEN];
    SweepTable *t = hand_sweep();
    Ablation a;
    CHECK(ablation_build(t, NULL, &a, err, sizeof err) == 0, "hand sweep: %s", err);
    CHECK(a.n_axes == 2 && !strcmp(a.axes[0], "rank") && !strcmp(a.axes[1], "lr"), "axes rank, lr");
    CHECK(a.n_trials == 9 && a.n_selected == 9 && a.n_done == 7 && a.n_failed == 1 &&
              a.n_pending == 1 && a.n_running == 0,
          "counts");
    CHECK(!strcmp(a.summary, "9 trials; 7 done counted, 2 left out (1 failed, 1 pending)"),
          "summary '%s'", a.summary);
    CHECK(a.n_tables == 1, "one table (lr does not vary), got %d", a.n_tables);
    if (a.n_tables != 1) {
        ablation_free(&a);
        sweep_table_free(t);
        return;
    }
    const AblationGroups *g = &a.tables[0];
    const Table *tb = g->table;
    CHECK(!strcmp(tb->title, "by rank"), "title '%s'", tb->title);
    CHECK(strstr(tb->caption, "9 trials; 7 done counted, 2 left out (1 failed, 1 pending)"),
          "caption says what was left out: '%s'", tb->caption);
    const char *header[] = {
        "rank", "n", "rounds", "base.s.rate", "edited.s.rate", "change.s.rate", "wall_seconds"};
    const char *want[4][7] = {
        {"4", "3", "4 ± 1", "0.2500 ± 0.0000", "0.7000 ± 0.2000", "0.4500 ± 0.2000", "20 ± 10"},
        {"8", "3", "4 ± 0", "0.2500 ± 0.0000", "0.3000 ± 0.1414 (n=2)", "0.0500 ± 0.1414 (n=2)",
         "50 ± 10"},
        {"16", "0", "—", "—", "—", "—", "—"},
        {"32", "1", "2", "0.2500", "0.6000", "0.3500", "5"},
    };
    CHECK(tb->n_cols == 7 && tb->n_rows == 4 && tb->n_key_cols == 1, "shape %dx%d, %d keys",
          tb->n_rows, tb->n_cols, tb->n_key_cols);
    for (int c = 0; c < 7 && tb->n_cols == 7; c++)
        CHECK(!strcmp(tb->header[c], header[c]), "header %d '%s'", c, tb->header[c]);
    for (int r = 0; r < 4 && tb->n_rows == 4 && tb->n_cols == 7; r++)
        for (int c = 0; c < 7; c++)
            CHECK(!strcmp(cell(tb, r, c), want[r][c]), "cell %d,%d '%s', expected '%s'", r, c,
                  cell(tb, r, c), want[r][c]);

    // The numbers, worked out by hand.
    int gn[] = {3, 3, 0, 1};
    CHECK(g->n_groups == 4 && g->n_keys == 1 && g->n_metrics == 5, "groups %d, metrics %d",
          g->n_groups, g->n_metrics);
    for (int r = 0; r < 4 && g->n_groups == 4; r++) CHECK(g->group_n[r] == gn[r], "group_n %d", r);
    if (g->n_groups == 4 && g->n_metrics == 5) {
        CHECK(!strcmp(g->group_names[1], "8") && !strcmp(g->labels[3], "32"), "labels");
        // edited.s.rate (column 2): rank 4 {.5,.7,.9}, rank 8 {.2,.4}, rank 32 {.6}.
        CHECK(close_to(g->mean[0 * 5 + 2], 0.7) && close_to(g->std[0 * 5 + 2], 0.2) &&
                  g->n[0 * 5 + 2] == 3,
              "rank 4 edited %.17g ± %.17g", g->mean[2], g->std[2]);
        CHECK(close_to(g->mean[1 * 5 + 2], 0.3) && close_to(g->std[1 * 5 + 2], sqrt(0.02)) &&
                  g->n[1 * 5 + 2] == 2,
              "rank 8 edited");
        CHECK(isnan(g->mean[2 * 5 + 2]) && isnan(g->std[2 * 5 + 2]) && g->n[2 * 5 + 2] == 0,
              "rank 16 (failed and pending only) has no numbers");
        CHECK(close_to(g->mean[3 * 5 + 2], 0.6) && isnan(g->std[3 * 5 + 2]) && g->n[3 * 5 + 2] == 1,
              "rank 32: one trial, no std");
        // change (column 3) = edited - 0.25; wall_seconds (4): the failed trial's 70 s left out.
        CHECK(close_to(g->mean[1 * 5 + 3], 0.05) && close_to(g->std[1 * 5 + 3], sqrt(0.02)),
              "rank 8 change");
        CHECK(close_to(g->mean[0 * 5 + 4], 20) && close_to(g->std[0 * 5 + 4], 10), "wall time");
    }

    // The table for CSV: plain numbers, "" for NaN.
    const Table *nb = g->numbers;
    CHECK(nb->n_cols == 2 + 3 * 5 && nb->n_rows == 4, "numbers shape");
    int mean = column(nb, "edited.s.rate_mean"), std = column(nb, "edited.s.rate_std"),
        n = column(nb, "edited.s.rate_n"), rstd = column(nb, "rounds_std");
    CHECK(mean == 8 && std == 9 && n == 10 && rstd == 3 && column(nb, "n") == 1,
          "numbers header: %d %d %d %d", mean, std, n, rstd);
    if (nb->n_rows == 4 && mean > 0 && std > 0 && n > 0 && rstd > 0) {
        CHECK(close_to(strtod(cell(nb, 1, mean), NULL), 0.3) &&
                  close_to(strtod(cell(nb, 1, std), NULL), sqrt(0.02)) &&
                  !strcmp(cell(nb, 1, n), "2"),
              "rank 8 numbers '%s' '%s' '%s'", cell(nb, 1, mean), cell(nb, 1, std), cell(nb, 1, n));
        CHECK(!strcmp(cell(nb, 2, mean), "") && !strcmp(cell(nb, 2, n), "0"), "rank 16 numbers");
        CHECK(!strcmp(cell(nb, 3, rstd), ""), "rank 32: one trial, std empty");
        CHECK(!strcmp(cell(nb, 3, mean), "0.6"), "shortest text that reads back: '%s'",
              cell(nb, 3, mean));
    }

    // The per-trial tables: every trial, in table order, whatever its status.
    const Table *tr = a.trials, *tn = a.trial_numbers;
    const char *trial_header[] = {
        "id",          "repeat",        "rank",          "lr",          "status", "rounds",
        "base.s.rate", "edited.s.rate", "change.s.rate", "wall_seconds"};
    CHECK(tr->n_rows == 9 && tr->n_cols == 10 && tr->n_key_cols == 5, "trials shape %dx%d",
          tr->n_rows, tr->n_cols);
    CHECK(tn->n_cols == 11 && !strcmp(tn->header[10], "error"), "trial numbers end in error");
    for (int c = 0; c < 10 && tr->n_cols == 10; c++)
        CHECK(!strcmp(tr->header[c], trial_header[c]), "trial header %d '%s'", c, tr->header[c]);
    if (tr->n_rows == 9 && tr->n_cols == 10) {
        const char *row2[] = {"000000000000a002", "1", "8", "0.001", "done", "4",
                              "0.2500",           "—", "—", "50"};
        for (int c = 0; c < 10; c++)
            CHECK(!strcmp(cell(tr, 2, c), row2[c]), "trial 2 col %d '%s', expected '%s'", c,
                  cell(tr, 2, c), row2[c]);
        CHECK(!strcmp(cell(tr, 7, 4), "failed") && !strcmp(cell(tr, 8, 4), "pending") &&
                  !strcmp(cell(tr, 8, 5), "—"),
              "failed and pending rows");
        // One format per column: 4 significant digits of its largest value (0.9, 0.65).
        CHECK(!strcmp(cell(tr, 4, 7), "0.5000") && !strcmp(cell(tr, 0, 8), "0.3500") &&
                  !strcmp(cell(tr, 1, 8), "-0.0500"),
              "trial rates '%s' '%s' '%s'", cell(tr, 4, 7), cell(tr, 0, 8), cell(tr, 1, 8));
    }
    if (tn->n_rows == 9 && tn->n_cols == 11) {
        CHECK(!strcmp(cell(tn, 7, 10), "NaN in the generator loss, round 2") &&
                  !strcmp(cell(tn, 2, 7), "") && !strcmp(cell(tn, 2, 9), "50"),
              "trial numbers: error text '%s', NaN empty '%s', '%s'", cell(tn, 7, 10),
              cell(tn, 2, 7), cell(tn, 2, 9));
    }
    ablation_free(&a);
    sweep_table_free(t);
}

// ---- a grid with a zipped task axis, checked against a naive recomputation ----

// The test's own record of what each trial of the grid is.
typedef struct {
    const char *task, *retain, *layers;
    int rank, repeat;
    SweepStatus status;
} Setting;

#define GRID_N 16
static Setting grid[GRID_N];

// task and retain_weight zipped (jailbreak 0.0, defense 1.0) x layers x rank (8 before 4) x 2
// repeats. Trial 5 failed, 10 is running, 15 pending; trial 3 lacks the edited refusal rate;
// only defense trials have the harmless answer rates.
static double grid_metric(int i, const char *name) {
    const Setting *s = &grid[i];
    bool defense = !strcmp(s->task, "defense");
    double base_refusal = defense ? 0.125 : 0.875,
           edited_refusal = i == 3 ? NAN : fmod(0.37 * i, 1);
    double base_answer = defense ? 0.75 : NAN, edited_answer = defense ? 0.05 * i : NAN;
    if (s->status == SWEEP_PENDING || s->status == SWEEP_RUNNING) return NAN;
    if (!strcmp(name, "rounds")) return 1 + i % 4;
    if (!strcmp(name, "base.harmful.refusal_rate")) return base_refusal;
    if (!strcmp(name, "edited.harmful.refusal_rate")) return edited_refusal;
    if (!strcmp(name, "base.harmless.answer_rate")) return base_answer;
    if (!strcmp(name, "edited.harmless.answer_rate")) return edited_answer;
    if (!strcmp(name, "change.harmful.refusal_rate")) return edited_refusal - base_refusal;
    if (!strcmp(name, "change.harmless.answer_rate")) return edited_answer - base_answer;
    if (!strcmp(name, "wall_seconds")) return 100 + i;
    return NAN;
}

static SweepTable *grid_sweep(void) {
    SweepTable *t = sweep_table_new("grid", "test", "", GRID_N);
    const char *tasks[] = {"jailbreak", "defense"}, *retain[] = {"0.0", "1.0"};
    const char *layers[] = {"[2]", "[2, 3]"};
    int ranks[] = {8, 4};
    const char *names[] = {"rounds", "base.harmful.refusal_rate", "edited.harmful.refusal_rate",
                           "base.harmless.answer_rate", "edited.harmless.answer_rate"};
    for (int i = 0; i < GRID_N; i++) {
        grid[i] = (Setting){tasks[i / 8],
                            retain[i / 8],
                            layers[i / 4 % 2],
                            ranks[i / 2 % 2],
                            i % 2,
                            i == 5    ? SWEEP_FAILED
                            : i == 10 ? SWEEP_RUNNING
                            : i == 15 ? SWEEP_PENDING
                                      : SWEEP_DONE};
        char params[256];
        snprintf(params, sizeof params,
                 "task=\"%s\"; are.generator.retain_weight=%s; are.layers=%s; "
                 "are.generator.rank=%d",
                 grid[i].task, grid[i].retain, grid[i].layers, grid[i].rank);
        double values[5];
        int n = 0;
        for (int m = 0; m < 5; m++) {
            values[n] = grid_metric(i, names[m]);
            if (!isnan(values[n])) names[n] = names[m], n++; // report only what the trial has
        }
        set_row(t, i, params, grid[i].repeat, grid[i].status, 100 + i, names, values, n);
        names[0] = "rounds", names[1] = "base.harmful.refusal_rate";
        names[2] = "edited.harmful.refusal_rate", names[3] = "base.harmless.answer_rate";
        names[4] = "edited.harmless.answer_rate";
    }
    return t;
}

static void setting_label(int i, const char *axis, char *text, size_t len) {
    const Setting *s = &grid[i];
    if (!strcmp(axis, "task")) snprintf(text, len, "%s", s->task);
    if (!strcmp(axis, "are.generator.retain_weight")) snprintf(text, len, "%s", s->retain);
    if (!strcmp(axis, "are.layers")) snprintf(text, len, "%s", s->layers);
    if (!strcmp(axis, "are.generator.rank")) snprintf(text, len, "%d", s->rank);
    if (!strcmp(axis, "repeat")) snprintf(text, len, "%d", s->repeat);
}

// Checks every number of g against a loop over the done grid trials for which keep(i) holds
// and whose settings have the row's labels. Returns the number of rows checked.
static int check_groups(const AblationGroups *g, bool (*keep)(int)) {
    for (int r = 0; r < g->n_groups; r++) {
        int row_n = 0;
        for (int m = 0; m < g->n_metrics; m++) {
            double sum = 0, squares = 0;
            int n = 0, members = 0;
            for (int pass = 0; pass < 2; pass++)
                for (int i = 0; i < GRID_N; i++) {
                    bool in = keep(i) && grid[i].status == SWEEP_DONE;
                    for (int k = 0; in && k < g->n_keys; k++) {
                        char label[64] = "";
                        setting_label(i, g->keys[k], label, sizeof label);
                        in = !strcmp(label, g->labels[r * g->n_keys + k]);
                    }
                    double x = grid_metric(i, g->metrics[m]);
                    members += pass == 0 && in;
                    if (!in || isnan(x)) continue;
                    if (pass == 0) sum += x, n++;
                    if (pass == 1) squares += (x - sum / n) * (x - sum / n);
                }
            row_n = members;
            int at = r * g->n_metrics + m;
            CHECK(g->n[at] == n, "%s row %s %s: n %d, expected %d", g->title, g->group_names[r],
                  g->metrics[m], g->n[at], n);
            CHECK(close_to(g->mean[at], n ? sum / n : NAN), "%s row %s %s: mean %.17g", g->title,
                  g->group_names[r], g->metrics[m], g->mean[at]);
            CHECK(close_to(g->std[at], n > 1 ? sqrt(squares / (n - 1)) : NAN),
                  "%s row %s %s: std %.17g", g->title, g->group_names[r], g->metrics[m],
                  g->std[at]);
        }
        CHECK(g->group_n[r] == row_n, "%s row %s: n %d, expected %d", g->title, g->group_names[r],
              g->group_n[r], row_n);
    }
    return g->n_groups;
}

static bool any_trial(int i) {
    return i >= 0;
}
static bool jailbreak(int i) {
    return !strcmp(grid[i].task, "jailbreak");
}
static bool defense(int i) {
    return !strcmp(grid[i].task, "defense");
}
static bool jailbreak_rank8(int i) {
    return jailbreak(i) && grid[i].rank == 8;
}
static bool repeat1_layers23(int i) {
    return grid[i].repeat == 1 && !strcmp(grid[i].layers, "[2, 3]");
}

static void check_titles(const Ablation *a, const char *const *titles, int n) {
    CHECK(a->n_tables == n, "%d tables, expected %d", a->n_tables, n);
    for (int k = 0; k < n && k < a->n_tables; k++)
        CHECK(!strcmp(a->tables[k].title, titles[k]) &&
                  !strcmp(a->tables[k].table->title, titles[k]),
              "table %d '%s', expected '%s'", k, a->tables[k].title, titles[k]);
}

static void check_rows(const AblationGroups *g, const char *const *names, int n) {
    CHECK(g->n_groups == n, "%s: %d rows, expected %d", g->title, g->n_groups, n);
    for (int r = 0; r < n && r < g->n_groups; r++)
        CHECK(!strcmp(g->group_names[r], names[r]), "%s row %d '%s', expected '%s'", g->title, r,
              g->group_names[r], names[r]);
}

static void test_grid(void) {
    char err[ERR_LEN];
    SweepTable *t = grid_sweep();
    Ablation a;

    // Defaults: the task table (with retain_weight, which moves with it), then each task's.
    CHECK(ablation_build(t, NULL, &a, err, sizeof err) == 0, "grid: %s", err);
    const char *titles[] = {"by task / are.generator.retain_weight", "jailbreak: by are.layers",
                            "jailbreak: by are.generator.rank", "defense: by are.layers",
                            "defense: by are.generator.rank"};
    check_titles(&a, titles, 5);
    CHECK(!strcmp(a.summary, "16 trials; 13 done counted, 3 left out (1 failed, 1 running, 1 "
                             "pending)"),
          "summary '%s'", a.summary);
    if (a.n_tables == 5) {
        const char *tasks[] = {"jailbreak / 0.0", "defense / 1.0"}, *layers[] = {"[2]", "[2, 3]"};
        const char *ranks[] = {"4", "8"};
        check_rows(&a.tables[0], tasks, 2);
        check_rows(&a.tables[1], layers, 2);
        check_rows(&a.tables[2], ranks, 2);
        CHECK(a.tables[0].n_keys == 2 && a.tables[0].table->n_key_cols == 2 &&
                  !strcmp(a.tables[0].table->header[1], "are.generator.retain_weight"),
              "zipped axes: a key column each");
        check_groups(&a.tables[0], any_trial);
        check_groups(&a.tables[1], jailbreak);
        check_groups(&a.tables[2], jailbreak);
        check_groups(&a.tables[3], defense);
        check_groups(&a.tables[4], defense);
        // jailbreak has no harmless answer rates: those columns are left out of its tables; in
        // the task table its cell is empty.
        CHECK(a.tables[1].n_metrics == 5 && a.tables[3].n_metrics == 8,
              "metrics: jailbreak %d, defense %d", a.tables[1].n_metrics, a.tables[3].n_metrics);
        const Table *tt = a.tables[0].table;
        int c = column(tt, "edited.harmless.answer_rate");
        CHECK(c > 0 && !strcmp(cell(tt, 0, c), "—") && strstr(cell(tt, 1, c), " ± "),
              "answer rate: jailbreak '%s', defense '%s'", c > 0 ? cell(tt, 0, c) : "",
              c > 0 ? cell(tt, 1, c) : "");
        // Jailbreak's done trials: 0-4, 6, 7 (5 failed); trial 3 lacks the refusal rate.
        c = column(tt, "edited.harmful.refusal_rate");
        CHECK(c > 0 && !strcmp(cell(tt, 0, 2), "7") && strstr(cell(tt, 0, c), " (n=6)"),
              "row n 7, refusal '%s'", c > 0 ? cell(tt, 0, c) : "");
    }
    ablation_free(&a);

    // --by two axes, split by task (not grouped by): combinations in order layers, then rank.
    const char *by[] = {"are.layers", "are.generator.rank"};
    AblationOptions o = {.by = by, .n_by = 2};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "by two axes: %s", err);
    const char *by_titles[] = {"jailbreak: by are.layers × are.generator.rank",
                               "defense: by are.layers × are.generator.rank"};
    check_titles(&a, by_titles, 2);
    if (a.n_tables == 2) {
        const char *combos[] = {"[2] / 4", "[2] / 8", "[2, 3] / 4", "[2, 3] / 8"};
        check_rows(&a.tables[0], combos, 4);
        check_rows(&a.tables[1], combos, 4);
        check_groups(&a.tables[0], jailbreak);
        check_groups(&a.tables[1], defense);
        CHECK(a.tables[0].table->n_key_cols == 2, "two key columns");
    }
    ablation_free(&a);

    // The same without the split: one table over both tasks.
    o.split = "";
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "no split: %s", err);
    const char *one[] = {"by are.layers × are.generator.rank"};
    check_titles(&a, one, 1);
    if (a.n_tables == 1) check_groups(&a.tables[0], any_trial);
    ablation_free(&a);

    // Filters: the task's quoted text, a rank written as another number; all must hold. task
    // then no longer varies, so no split; the caption names the filters.
    const char *where[] = {"task=\"jailbreak\"", "are.generator.rank = 8.0"};
    o = (AblationOptions){.where = where, .n_where = 2};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "where: %s", err);
    const char *filtered[] = {"by are.layers"};
    check_titles(&a, filtered, 1);
    CHECK(a.n_selected == 4 && a.n_done == 3 && a.trials->n_rows == 4, "4 trials selected");
    CHECK(!strcmp(a.summary,
                  "4 of 16 trials pass the filters; 3 done counted, 1 left out (1 failed)"),
          "summary '%s'", a.summary);
    if (a.n_tables == 1) {
        check_groups(&a.tables[0], jailbreak_rank8);
        CHECK(strstr(a.tables[0].table->caption,
                     "Trials with task=\"jailbreak\", are.generator.rank=8.0."),
              "caption '%s'", a.tables[0].table->caption);
    }
    ablation_free(&a);

    // A column as filter, a value as shown; grouping by repeat is allowed too.
    const char *where2[] = {"repeat=1", "are.layers=[2, 3]"}, *by_repeat[] = {"repeat"};
    o = (AblationOptions){.where = where2, .n_where = 2, .by = by_repeat, .n_by = 1, .split = ""};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "where repeat: %s", err);
    if (a.n_tables == 1) {
        const char *rows[] = {"1"};
        check_rows(&a.tables[0], rows, 1);
        check_groups(&a.tables[0], repeat1_layers23);
    }
    CHECK(a.n_selected == 4 && a.n_running == 0 && a.n_pending == 1, "selected %d", a.n_selected);
    ablation_free(&a);

    // Metric patterns, in the order asked; a pattern matching nothing is fine.
    const char *metrics[] = {"change.*", "rounds", "nothing.*", "change.harmful.refusal_rate"};
    o = (AblationOptions){.metrics = metrics, .n_metrics = 4};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "metrics: %s", err);
    if (a.n_tables == 5) {
        const AblationGroups *g = &a.tables[0];
        CHECK(g->n_metrics == 3 && !strcmp(g->metrics[0], "change.harmful.refusal_rate") &&
                  !strcmp(g->metrics[1], "change.harmless.answer_rate") &&
                  !strcmp(g->metrics[2], "rounds"),
              "metric columns");
        check_groups(g, any_trial);
        CHECK(a.trials->n_cols == 7 + 3, "trial table columns %d", a.trials->n_cols);
    }
    ablation_free(&a);
    // The headline list names metrics this sweep lacks ("converged"): skipped when asked.
    o = (AblationOptions){.metrics = ablation_headline_metrics, .n_metrics = ABLATION_HEADLINE_N};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == -1 && strstr(err, "'converged'"),
          "a plain name that is not a metric: '%s'", err);
    o.skip_unknown_metrics = true;
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "headline metrics: %s", err);
    if (a.n_tables == 5) {
        const AblationGroups *g = &a.tables[0];
        CHECK(g->n_metrics == 4 && !strcmp(g->metrics[0], "rounds") &&
                  !strcmp(g->metrics[3], "wall_seconds"),
              "headline columns %d", g->n_metrics);
        // On its side for a terminal: a row per metric, a column per group, the same cells.
        const Table *side = g->by_metric;
        bool same = side->n_rows == g->n_metrics && side->n_cols == 1 + g->n_groups &&
                    strstr(side->header[1], g->group_names[0]) && strstr(side->header[1], "(n=");
        for (int m = 0; same && m < g->n_metrics; m++) {
            same = !strcmp(table_cell(side, m, 0), g->metrics[m]);
            for (int r = 0; same && r < g->n_groups; r++)
                same = !strcmp(table_cell(side, m, 1 + r),
                               table_cell(g->table, r, g->table->n_key_cols + 1 + m));
        }
        CHECK(same, "the table by metric is not the table on its side");
    }
    ablation_free(&a);

    // Errors name what there is.
    struct {
        AblationOptions o;
        const char *expect[2];
    } bad[] = {
        {{.where = (const char *[]){"foo=1"}, .n_where = 1},
         {"no axis 'foo'", "axes: task, are.generator.retain_weight, are.layers, "
                           "are.generator.rank, repeat, status; or id"}},
        {{.where = (const char *[]){"task=nope"}, .n_where = 1},
         {"task has no value nope", "values: jailbreak, defense"}},
        {{.where = (const char *[]){"task"}, .n_where = 1}, {"expected axis=value", ""}},
        {{.where = (const char *[]){"are.generator.rank=4", "id=000000000000a000"}, .n_where = 2},
         {"no trial passes all the filters", ""}},
        {{.by = (const char *[]){"are.generator.lr"}, .n_by = 1}, {"'are.generator.lr'", ""}},
        {{.metrics = (const char *[]){"edited.harmful.refusal"}, .n_metrics = 1},
         {"metric 'edited.harmful.refusal' is not in the sweep", "change.harmful.refusal_rate"}},
        {{.split = "model"}, {"split by 'model'", "paths: task"}},
    };
    for (size_t k = 0; k < sizeof bad / sizeof *bad; k++) {
        err[0] = '\0';
        int rc = ablation_build(t, &bad[k].o, &a, err, sizeof err);
        CHECK(rc == -1 && strstr(err, bad[k].expect[0]) && strstr(err, bad[k].expect[1]),
              "bad options %zu: rc %d, err '%s'", k, rc, err);
        CHECK(a.n_tables == 0 && !a.tables && !a.trials, "a failed build holds nothing");
    }
    sweep_table_free(t);
}

// ---- tricky values in a sweep: strings with '; ' and spaces, groups, unset paths ----

static void test_tricky_sweep(void) {
    char err[ERR_LEN];
    SweepTable *t = sweep_table_new("list", "test", "", 4);
    const char *names[] = {"rounds"};
    const char *params[] = {
        "prompt=\"a; b\"; g={ x = 1; y = [1, 2]; }",
        "prompt=\"c \\\"d\\\"\"",
        "",
        "prompt=\"a; b\"",
    };
    for (int i = 0; i < 4; i++) {
        double rounds = i + 1;
        set_row(t, i, params[i], 0, SWEEP_DONE, 1, names, &rounds, 1);
    }
    Ablation a;
    CHECK(ablation_build(t, NULL, &a, err, sizeof err) == 0, "tricky sweep: %s", err);
    const char *titles[] = {"by prompt", "by g"};
    check_titles(&a, titles, 2);
    if (a.n_tables == 2) {
        const char *prompts[] = {"a; b", "c \"d\"", "-"}, *gs[] = {"{ x = 1; y = [1, 2]; }", "-"};
        check_rows(&a.tables[0], prompts, 3);
        check_rows(&a.tables[1], gs, 2);
        const Table *tb = a.tables[0].table;
        int c = column(tb, "rounds");
        CHECK(c > 0 && !strcmp(cell(tb, 0, c), "2.500 ± 2.121") && !strcmp(cell(tb, 1, c), "2.000"),
              "rounds of \"a; b\": (1 + 4) / 2, std sqrt(4.5), 3 decimals for the column's 3: "
              "'%s'",
              c > 0 ? cell(tb, 0, c) : "");
    }
    ablation_free(&a);
    const char *where[] = {"g=-", "prompt=-"};
    AblationOptions o = {.where = where, .n_where = 2};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0, "where unset: %s", err);
    CHECK(a.n_selected == 1 && a.trials->n_rows == 1 &&
              !strcmp(cell(a.trials, 0, 0), "000000000000a002"),
          "the base-config trial");
    const char *all[] = {"all trials"};
    check_titles(&a, all, 1);
    ablation_free(&a);
    const char *where2[] = {"prompt=a; b"};
    o = (AblationOptions){.where = where2, .n_where = 1};
    CHECK(ablation_build(t, &o, &a, err, sizeof err) == 0 && a.n_selected == 2,
          "a string as shown: %s", err);
    ablation_free(&a);
    sweep_table_free(t);

    // A params text that does not parse names its trial.
    t = sweep_table_new("bad", "test", "", 1);
    set_row(t, 0, "a=[1", 0, SWEEP_DONE, 1, NULL, NULL, 0);
    CHECK(ablation_build(t, NULL, &a, err, sizeof err) == -1 &&
              strstr(err, "trial 000000000000a000: params 'a=[1': unclosed bracket"),
          "bad params: '%s'", err);
    sweep_table_free(t);
}

// ---- the writers ----

static void test_formats(void) {
    const char *header[] = {"key", "val|x", "n"};
    Table *t = table_new("t_1: by a & b", "50% of #1 ± $x", 3, header, 1);
    const char *rows[3][3] = {{"a,b", "1 ± 2", "3"}, {"q\"u", "—", "x_y"}, {"ü~^\\", "{z}", "10"}};
    for (int r = 0; r < 3; r++) table_add_row(t, rows[r]);

    TextBuffer b = {0};
    table_write_markdown(&b, t);
    const char *markdown = "## t_1: by a & b\n"
                           "\n"
                           "50% of #1 ± $x\n"
                           "\n"
                           "| key  | val\\|x |   n |\n"
                           "| :--- | -----: | --: |\n"
                           "| a,b  |  1 ± 2 |   3 |\n"
                           "| q\"u  |      — | x_y |\n"
                           "| ü~^\\ |    {z} |  10 |\n"
                           "\n";
    CHECK(!b.failed && !strcmp(text_str(&b), markdown), "markdown:\n%s\nexpected:\n%s",
          text_str(&b), markdown);
    text_free(&b);

    table_write_csv(&b, t);
    const char *csv = "key,val|x,n\r\n"
                      "\"a,b\",1 ± 2,3\r\n"
                      "\"q\"\"u\",—,x_y\r\n"
                      "ü~^\\,{z},10\r\n";
    CHECK(!b.failed && !strcmp(text_str(&b), csv), "csv:\n%s", text_str(&b));
    text_free(&b);

    table_write_latex(&b, t);
    const char *latex =
        "\\begin{table}[ht]\n"
        "\\centering\n"
        "\\caption{t\\_1: by a \\& b. 50\\% of \\#1 $\\pm$ \\$x}\n"
        "\\begin{tabular}{lrr}\n"
        "\\toprule\n"
        "key & val\\textbar{}x & n \\\\\n"
        "\\midrule\n"
        "a,b & 1 $\\pm$ 2 & 3 \\\\\n"
        "q\"u & --- & x\\_y \\\\\n"
        "ü\\textasciitilde{}\\textasciicircum{}\\textbackslash{} & \\{z\\} & 10 \\\\\n"
        "\\bottomrule\n"
        "\\end{tabular}\n"
        "\\end{table}\n";
    CHECK(!b.failed && !strcmp(text_str(&b), latex), "latex:\n%s", text_str(&b));
    text_free(&b);

    // A CSV field with a line break is quoted; a table without title or caption has no heading.
    Table *u = table_new("", "", 1, (const char *[]){"a"}, 0);
    table_add_row(u, (const char *[]){"x\ny"});
    table_write_csv(&b, u);
    CHECK(!strcmp(text_str(&b), "a\r\n\"x\ny\"\r\n"), "csv line break '%s'", text_str(&b));
    text_free(&b);
    table_write_markdown(&b, u);
    CHECK(!strcmp(text_str(&b), "|   a |\n| --: |\n| x y |\n\n"), "markdown bare '%s'",
          text_str(&b));
    text_free(&b);
    table_free(u);
    table_free(t);
}

// Everything rendered, twice from the same table, must be the same text.
static char *render_all(const SweepTable *t) {
    char err[ERR_LEN];
    Ablation a;
    if (ablation_build(t, NULL, &a, err, sizeof err) < 0) return NULL;
    TextBuffer b = {0};
    for (int k = 0; k < a.n_tables; k++) {
        table_write_markdown(&b, a.tables[k].table);
        table_write_latex(&b, a.tables[k].table);
        table_write_csv(&b, a.tables[k].numbers);
    }
    table_write_markdown(&b, a.trials);
    table_write_csv(&b, a.trial_numbers);
    ablation_free(&a);
    char *text = strdup(text_str(&b));
    text_free(&b);
    return text;
}

static void test_determinism(void) {
    SweepTable *t = grid_sweep();
    char *first = render_all(t), *second = render_all(t);
    CHECK(first && second && !strcmp(first, second) && strlen(first) > 1000,
          "the same sweep renders the same text");
    free(first);
    free(second);
    sweep_table_free(t);
}

int main(void) {
    test_params();
    test_hand();
    test_grid();
    test_tricky_sweep();
    test_formats();
    test_determinism();
    return check_summary();
}
