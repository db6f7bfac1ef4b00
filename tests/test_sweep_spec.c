// Sweep blocks into trials (sweeps/sweep_spec.h), on configs/tinychat.cfg as the base: grid
// order and size, zipped axes, lists, exclusions, random draws (reproducible, within bounds,
// distributed as asked), ids and seeds against trial_id over the canonical text of each trial's
// config loaded on its own, every kind of mistake at its line, the scheduling order and the
// --dry-run table.
#include "are_config.h"
#include "check.h"
#include "sweep_spec.h"
#include "trial_id.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static char base_path[1024], sweep_path[1024];

// Writes the base config's @include (line 1) and sweep_text (from line 2) to sweep_path.
static void write_sweep(const char *sweep_text) {
    FILE *f = fopen(sweep_path, "w");
    if (!f || fprintf(f, "@include \"%s\"\n%s", base_path, sweep_text) < 0 || fclose(f) != 0) {
        perror(sweep_path);
        exit(2);
    }
}

static int load(SweepPlan *p, const char *sweep_text, const char *const *extra, int n_extra,
                char *err, size_t err_len) {
    write_sweep(sweep_text);
    return sweep_plan_load(p, sweep_path, extra, n_extra, err, err_len);
}

// The trial's config loaded on its own: the file, extra, then the trial's overrides.
static int load_trial_config(const SweepTrial *t, const char *const *extra, int n_extra,
                             AreConfig *c) {
    const char *overrides[64];
    int n = 0;
    for (int i = 0; i < n_extra; i++) overrides[n++] = extra[i];
    for (int i = 0; i < t->n_overrides; i++) overrides[n++] = t->overrides[i];
    char err[1024];
    int rc = are_config_load(sweep_path, overrides, n, c, err, sizeof(err));
    CHECK(rc == 0, "trial %d does not load on its own: %s", t->index, err);
    return rc;
}

// Every trial's id and seed recomputed from its config loaded on its own; ids all distinct.
static void check_ids(const SweepPlan *p, const char *const *extra, int n_extra) {
    AreConfig *c = malloc(sizeof(*c));
    int wrong = 0, repeated = 0;
    for (int i = 0; i < p->n; i++) {
        const SweepTrial *t = &p->trials[i];
        if (load_trial_config(t, extra, n_extra, c) < 0) break;
        char *canonical = are_config_canonical(c), id[TRIAL_ID_LEN + 1];
        trial_id(canonical, t->repeat, id);
        free(canonical);
        wrong += strcmp(id, t->id) != 0 || t->seed != trial_seed(p->seed, id) || t->index != i;
        for (int j = 0; j < i; j++) repeated += !strcmp(p->trials[j].id, t->id);
    }
    CHECK(wrong == 0, "%d of %d trials have another id, seed or index than recomputed", wrong,
          p->n);
    CHECK(repeated == 0, "%d trial ids repeat", repeated);
    free(c);
}

static bool same_trials(const SweepPlan *a, const SweepPlan *b) {
    if (a->n != b->n) return false;
    for (int i = 0; i < a->n; i++) {
        const SweepTrial *s = &a->trials[i], *t = &b->trials[i];
        if (strcmp(s->id, t->id) || s->seed != t->seed || s->n_overrides != t->n_overrides)
            return false;
        for (int k = 0; k < s->n_overrides; k++)
            if (strcmp(s->overrides[k], t->overrides[k])) return false;
    }
    return true;
}

static void test_grid(void) {
    static const char sweep[] =
        "sweep = {\n"                                                        // 2
        "  method = \"grid\"; seed = 7; repeats = 2;\n"                      // 3
        "  axes = (\n"                                                       // 4
        "    { path = \"task\"; values = [\"jailbreak\", \"defense\"]; },\n" // 5
        "    { path = \"are.generator.rank\"; values = [4, 8]; },\n"         // 6
        "    { paths = [\"are.layers\", \"are.generator.layers\"];\n"        // 7
        "      values = ( ([2], [0, 1]), ([3], [0, 1, 2]) ); }\n"            // 8
        "  );\n"                                                             // 9
        "};\n";                                                              // 10
    static const char *const tasks[] = {"task=\"jailbreak\"", "task=\"defense\""};
    static const char *const ranks[] = {"are.generator.rank=4", "are.generator.rank=8"};
    static const char *const layers[][2] = {
        {"are.layers=[2]", "are.generator.layers=[0, 1]"},
        {"are.layers=[3]", "are.generator.layers=[0, 1, 2]"},
    };
    SweepPlan p, again;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0, "grid: %s", err);
    if (rc < 0) return;
    CHECK(p.method == SWEEP_GRID && p.seed == 7 && p.repeats == 2, "grid: plan header");
    CHECK(p.n == 16 && p.n_combinations == 8, "grid: %d trials, %d combinations, want 16 and 8",
          p.n, p.n_combinations);
    static const char *const columns[] = {"task", "are.generator.rank", "are.layers",
                                          "are.generator.layers"};
    CHECK(p.n_columns == 4, "grid: %d columns", p.n_columns);
    for (int k = 0; k < p.n_columns && k < 4; k++)
        CHECK(!strcmp(p.columns[k], columns[k]), "grid: column %d is %s", k, p.columns[k]);
    // First axis slowest, repeats innermost; a zipped axis is one axis.
    int wrong = 0;
    for (int i = 0; i < p.n; i++) {
        const SweepTrial *t = &p.trials[i];
        int c = i / 2;
        const char *want[4] = {tasks[c / 4], ranks[c / 2 % 2], layers[c % 2][0], layers[c % 2][1]};
        bool ok = t->repeat == i % 2 && t->combination == c && t->n_overrides == 4;
        for (int k = 0; ok && k < 4; k++)
            ok = !strcmp(t->overrides[k], want[k]) &&
                 !strcmp(t->values[k], strchr(want[k], '=') + 1);
        if (!ok && !wrong++)
            fprintf(stderr, "grid: trial %d is %s, %s, %s, %s repeat %d\n", i, t->overrides[0],
                    t->overrides[1], t->overrides[2], t->overrides[3], t->repeat);
    }
    CHECK(wrong == 0, "grid: %d trials out of order or with other values", wrong);
    // The overrides really reach the config.
    AreConfig *c = malloc(sizeof(*c));
    if (load_trial_config(&p.trials[15], NULL, 0, c) == 0) // defense, rank 8, layers [3]
        CHECK(!strcmp(c->task_name, "defense") && c->gen.rank == 8 && c->n_rep_layers == 1 &&
                  c->rep_layers[0] == 3 && c->gen.n_layers == 3 && c->task.target_label == 1,
              "grid: trial 15's config is not defense, rank 8, layers [3] / [0, 1, 2]");
    free(c);
    check_ids(&p, NULL, 0);
    // Same task data and rounds everywhere: equal costs, so the queue is the index order.
    int out_of_order = 0;
    for (int i = 0; i < p.n; i++) out_of_order += p.order[i] != i;
    CHECK(out_of_order == 0, "grid: equal costs must keep the index order");
    CHECK(p.config_text && strstr(p.config_text, "@include") &&
              strstr(p.config_text, "values = ( ([2], [0, 1])"),
          "grid: config_text is not the file's text");

    rc = sweep_plan_load(&again, sweep_path, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && same_trials(&p, &again), "grid: a second load gives other trials");
    if (rc == 0) sweep_plan_free(&again);

    // An extra override changes every trial's config, hence every id; the values stay.
    const char *extra[] = {"are.max_rounds=3"};
    rc = sweep_plan_load(&again, sweep_path, extra, 1, err, sizeof(err));
    CHECK(rc == 0, "grid with --set: %s", err);
    if (rc == 0) {
        int same_ids = 0;
        for (int i = 0; i < again.n && i < p.n; i++)
            same_ids += !strcmp(again.trials[i].id, p.trials[i].id) ||
                        strcmp(again.trials[i].overrides[1], p.trials[i].overrides[1]);
        CHECK(again.n == p.n && same_ids == 0, "grid with --set: ids must all change");
        check_ids(&again, extra, 1);
        sweep_plan_free(&again);
    }
    sweep_plan_free(&p);
}

// Values of every kind written as override text that reads back to the same value.
static void test_value_kinds(void) {
    static const char sweep[] =
        "sweep = { axes = (\n"
        "  { path = \"template\"; values = [\"A {prompt} \\\"B\\\"\\n\\t\\\\ end\"]; },\n"
        "  { path = \"seed\"; values = [5000000000L]; },\n"
        "  { path = \"are.discriminator.standardize\"; values = [false]; },\n"
        "  { path = \"are.converge_low\"; values = (0.3); },\n"
        "  { path = \"tasks.extra\"; values = ( { data = [\"x.jsonl\"]; target_label = 0; } ); }\n"
        "); };\n";
    static const char *const want[] = {
        "template=\"A {prompt} \\\"B\\\"\\n\\t\\\\ end\"",
        "seed=5000000000L",
        "are.discriminator.standardize=false",
        "are.converge_low=0.3",
        "tasks.extra={ data = [\"x.jsonl\"]; target_label = 0; }",
    };
    SweepPlan p;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == 1 && p.trials[0].n_overrides == 5, "value kinds: %s", err);
    if (rc < 0) return;
    for (int k = 0; k < 5 && k < p.trials[0].n_overrides; k++)
        CHECK(!strcmp(p.trials[0].overrides[k], want[k]), "value kinds: %s, want %s",
              p.trials[0].overrides[k], want[k]);
    AreConfig *c = malloc(sizeof(*c));
    if (load_trial_config(&p.trials[0], NULL, 0, c) == 0)
        CHECK(!strcmp(c->template_text, "A {prompt} \"B\"\n\t\\ end") && c->seed == 5000000000LL &&
                  !c->disc.standardize && c->converge_low == 0.3f,
              "value kinds: the config does not hold the values");
    free(c);
    check_ids(&p, NULL, 0);
    sweep_plan_free(&p);
}

static void test_exclude(void) {
    static const char sweep[] =
        "sweep = {\n"
        "  axes = (\n"
        "    { path = \"task\"; values = [\"jailbreak\", \"defense\"]; },\n"
        "    { path = \"are.generator.rank\"; values = [4, 8]; },\n"
        "    { path = \"are.generator.lr\"; values = [1e-4, 3e-4]; }\n"
        "  );\n"
        // The second entry names 3e-4 another way; the third matches nothing.
        "  exclude = ( [\"task=defense\", \"are.generator.rank=4\"],\n"
        "              [\"are.generator.lr=0.00030\"], [\"task=truthful\"] );\n"
        "};\n";
    static const char *const want[][3] = {
        {"task=\"jailbreak\"", "are.generator.rank=4", "are.generator.lr=0.0001"},
        {"task=\"jailbreak\"", "are.generator.rank=8", "are.generator.lr=0.0001"},
        {"task=\"defense\"", "are.generator.rank=8", "are.generator.lr=0.0001"},
    };
    SweepPlan p;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0, "exclude: %s", err);
    if (rc < 0) return;
    CHECK(p.n == 3 && p.repeats == 1 && p.seed == 1, "exclude: %d trials, want 3", p.n);
    for (int i = 0; i < p.n && i < 3; i++)
        for (int k = 0; k < 3; k++)
            CHECK(!strcmp(p.trials[i].overrides[k], want[i][k]), "exclude: trial %d sets %s", i,
                  p.trials[i].overrides[k]);
    check_ids(&p, NULL, 0);
    sweep_plan_free(&p);
}

static void test_list(void) {
    static const char sweep[] =
        "sweep = {\n"
        "  method = \"list\"; repeats = 2; seed = 11;\n"
        "  trials = ( [\"task=defense\", \"are.generator.rank=4\"], [\"task=truthful\"], [],\n"
        "             [\"are.max_rounds = 3\", \"task=defense\"] );\n"
        "};\n";
    SweepPlan p;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0, "list: %s", err);
    if (rc < 0) return;
    CHECK(p.n == 8 && p.n_combinations == 4 && p.n_columns == 3, "list: %d trials, %d columns", p.n,
          p.n_columns);
    if (p.n == 8 && p.n_columns == 3) {
        CHECK(!strcmp(p.columns[0], "task") && !strcmp(p.columns[1], "are.generator.rank") &&
                  !strcmp(p.columns[2], "are.max_rounds"),
              "list: columns in order of appearance");
        const SweepTrial *t = p.trials;
        CHECK(!strcmp(t[0].values[0], "defense") && !strcmp(t[0].values[1], "4") && !t[0].values[2],
              "list: trial 0's values");
        CHECK(!strcmp(t[2].values[0], "truthful") && !t[2].values[1] && t[2].n_overrides == 1,
              "list: trial 2's values");
        CHECK(t[4].n_overrides == 0 && !t[4].values[0] && t[5].repeat == 1,
              "list: trials 4 and 5 are the base config");
        CHECK(!strcmp(t[6].values[2], "3") && !strcmp(t[6].values[0], "defense"),
              "list: trial 6's values");
    }
    check_ids(&p, NULL, 0);
    sweep_plan_free(&p);
}

// Values of the paths of one trial's config, for the random checks.
typedef struct {
    int rank, task; // task: 0 jailbreak, 1 defense
    float lr, alpha;
} Drawn;

static int drawn_values(const SweepPlan *p, Drawn *d) {
    AreConfig *c = malloc(sizeof(*c));
    int rc = 0;
    for (int i = 0; i < p->n && rc == 0; i++) {
        rc = load_trial_config(&p->trials[i], NULL, 0, c);
        d[i] = (Drawn){c->gen.rank, !strcmp(c->task_name, "defense"), c->gen.lr, c->gen.alpha};
    }
    free(c);
    return rc;
}

static void test_random(void) {
    static const char format[] =
        "sweep = {\n"
        "  method = \"random\"; seed = %d; samples = %d;\n"
        "  axes = (\n"
        "    { path = \"are.generator.lr\"; distribution = \"log_uniform\"; low = 1e-4;\n"
        "      high = 1e-2; },\n"
        "    { path = \"are.generator.alpha\"; distribution = \"uniform\"; low = 1; high = 4; },\n"
        "    { path = \"are.generator.rank\"; distribution = \"int\"; low = 2; high = 6; },\n"
        "    { path = \"task\"; values = [\"jailbreak\", \"defense\"]; }\n"
        "  );\n"
        "};\n";
    char sweep[sizeof(format) + 32], err[1024] = "";
    SweepPlan p, same, other;
    snprintf(sweep, sizeof(sweep), format, 7, 20);
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0, "random: %s", err);
    if (rc < 0) return;
    CHECK(p.n == 20 && p.method == SWEEP_RANDOM, "random: %d trials, want 20", p.n);
    check_ids(&p, NULL, 0);
    rc = sweep_plan_load(&same, sweep_path, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && same_trials(&p, &same), "random: the same seed must draw the same trials");
    if (rc == 0) sweep_plan_free(&same);
    snprintf(sweep, sizeof(sweep), format, 8, 20);
    rc = load(&other, sweep, NULL, 0, err, sizeof(err));
    if (rc == 0) {
        int equal = 0;
        for (int i = 0; i < 20 && i < other.n; i++)
            equal += !strcmp(p.trials[i].overrides[0], other.trials[i].overrides[0]);
        CHECK(equal == 0, "random: seed 8 drew %d of seed 7's learning rates", equal);
        sweep_plan_free(&other);
    }
    sweep_plan_free(&p);

    // The draws' distribution, over many samples: log_uniform is uniform in log10 on [-4, -2],
    // uniform on [1, 4], int uniform on 2..6, choice uniform on the two tasks.
    enum { N = 2000 };
    snprintf(sweep, sizeof(sweep), format, 3, N);
    rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == N, "random, %d samples: %s", N, err);
    Drawn *d = malloc(N * sizeof(*d));
    if (rc == 0 && p.n == N && drawn_values(&p, d) == 0) {
        double log_sum = 0, alpha_sum = 0, below = 0, defense = 0;
        int outside = 0, ranks[7] = {0};
        for (int i = 0; i < N; i++) {
            outside += d[i].lr < 1e-4f || d[i].lr > 1e-2f || d[i].alpha < 1 || d[i].alpha > 4 ||
                       d[i].rank < 2 || d[i].rank > 6;
            log_sum += log10(d[i].lr);
            below += d[i].lr < 1e-3f;
            alpha_sum += d[i].alpha;
            defense += d[i].task;
            if (d[i].rank >= 2 && d[i].rank <= 6) ranks[d[i].rank]++;
        }
        CHECK(outside == 0, "random: %d draws outside their bounds", outside);
        // Tolerances are about 4 standard errors of each mean.
        printf("random: mean log10(lr) %.4f (want -3), below 1e-3 %.4f (want 0.5), mean alpha "
               "%.4f (want 2.5), defense %.4f (want 0.5)\n",
               log_sum / N, below / N, alpha_sum / N, defense / N);
        CHECK(fabs(log_sum / N + 3) < 0.06, "random: log_uniform mean of log10 %g", log_sum / N);
        CHECK(fabs(below / N - 0.5) < 0.05, "random: log_uniform below the geometric middle %g",
              below / N);
        CHECK(fabs(alpha_sum / N - 2.5) < 0.08, "random: uniform mean %g", alpha_sum / N);
        CHECK(fabs(defense / N - 0.5) < 0.05, "random: choice share %g", defense / N);
        for (int r = 2; r <= 6; r++)
            CHECK(fabs(ranks[r] / (double)N - 0.2) < 0.04, "random: int %d drawn %d times", r,
                  ranks[r]);
    }
    free(d);
    if (rc == 0) sweep_plan_free(&p);

    // Every axis draws on its own: an axis added at the end leaves the others' draws alone.
    static const char one_axis[] =
        "sweep = { method = \"random\"; seed = 5; samples = 10;\n"
        "  axes = ( { path = \"are.generator.lr\"; distribution = \"uniform\"; low = 1e-4;\n"
        "             high = 1e-3; } ); };\n";
    static const char two_axes[] =
        "sweep = { method = \"random\"; seed = 5; samples = 10;\n"
        "  axes = ( { path = \"are.generator.lr\"; distribution = \"uniform\"; low = 1e-4;\n"
        "             high = 1e-3; },\n"
        "           { path = \"are.generator.rank\"; distribution = \"int\"; low = 1;\n"
        "             high = 64; } ); };\n";
    rc = load(&p, one_axis, NULL, 0, err, sizeof(err));
    int rc2 = load(&other, two_axes, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && rc2 == 0, "random, axes on their own: %s", err);
    if (rc == 0 && rc2 == 0) {
        int differ = p.n != 10 || other.n != 10;
        for (int i = 0; !differ && i < 10; i++)
            differ += strcmp(p.trials[i].overrides[0], other.trials[i].overrides[0]) != 0;
        CHECK(!differ, "random: adding an axis changed the first axis's draws");
    }
    if (rc == 0) sweep_plan_free(&p);
    if (rc2 == 0) sweep_plan_free(&other);

    // A zipped axis draws one of its tuples.
    static const char zipped[] =
        "sweep = { method = \"random\"; samples = 2;\n"
        "  axes = ( { paths = [\"are.layers\", \"are.generator.layers\"];\n"
        "             values = ( ([2], [0]), ([3], [0, 1]) ); } ); };\n";
    rc = load(&p, zipped, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == 2 && p.trials[0].n_overrides == 2, "random, zipped: %s", err);
    if (rc == 0) {
        int tuples = 0;
        for (int i = 0; i < p.n && p.trials[i].n_overrides == 2; i++)
            tuples += (!strcmp(p.trials[i].overrides[0], "are.layers=[2]") &&
                       !strcmp(p.trials[i].overrides[1], "are.generator.layers=[0]")) +
                      2 * (!strcmp(p.trials[i].overrides[0], "are.layers=[3]") &&
                           !strcmp(p.trials[i].overrides[1], "are.generator.layers=[0, 1]"));
        CHECK(tuples == 3, "random, zipped: the two samples must be the two tuples");
        sweep_plan_free(&p);
    }

    // Repeated combinations are drawn again, so small spaces give distinct trials until
    // there are none left.
    static const char two_choices[] =
        "sweep = { method = \"random\"; samples = %d; repeats = 2;\n" // 2
        "  axes = ( { path = \"task\"; values = [\"jailbreak\", \"defense\"]; } ); };\n";
    snprintf(sweep, sizeof(sweep), two_choices, 2);
    rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == 4 && strcmp(p.trials[0].overrides[0], p.trials[2].overrides[0]),
          "random: two samples of two choices must be both: %s", err);
    if (rc == 0) sweep_plan_free(&p);
    snprintf(sweep, sizeof(sweep), two_choices, 3);
    char want[1200];
    snprintf(want, sizeof(want),
             "%s:2: field 'sweep.samples' is 3, but 1300 draws gave only 2 distinct combinations "
             "that are not excluded",
             sweep_path);
    rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc < 0 && !strcmp(err, want), "random: three of two choices: got \"%s\"", err);
}

// The canonical text of the sweep file's config with the overrides of c (NULL-terminated),
// loaded on its own; the id of its repeat `repeat` in id.
static void id_of(const char *const *c, int repeat, char id[TRIAL_ID_LEN + 1]) {
    SweepTrial t = {.overrides = (char **)c};
    while (c[t.n_overrides]) t.n_overrides++;
    AreConfig *config = malloc(sizeof(*config));
    if (load_trial_config(&t, NULL, 0, config) == 0) {
        char *canonical = are_config_canonical(config);
        trial_id(canonical, repeat, id);
        free(canonical);
    }
    free(config);
}

// A sweep whose load must fail with "<sweep file>:line: message" (line 0: no line; -1: the
// message is whole).
static void expect_error(const char *what, const char *sweep, const char *const *extra, int n_extra,
                         int line, const char *message) {
    char want[2048], err[2048] = "";
    if (line > 0)
        snprintf(want, sizeof(want), "%s:%d: %s", sweep_path, line, message);
    else if (line == 0)
        snprintf(want, sizeof(want), "%s: %s", sweep_path, message);
    else
        snprintf(want, sizeof(want), "%s", message);
    SweepPlan p;
    int rc = load(&p, sweep, extra, n_extra, err, sizeof(err));
    CHECK(rc < 0 && !strcmp(err, want), "%s:\n  got  \"%s\"\n  want \"%s\"", what, err, want);
    if (rc == 0) sweep_plan_free(&p);
    CHECK(rc < 0 ? p.n == 0 && !p.trials && !p.columns : true, "%s: a failed load leaves data",
          what);
}

#define TASK_AXIS "{ path = \"task\"; values = [\"defense\"]; }"

static void test_errors(void) {
    expect_error("no sweep block", "", NULL, 0, 0,
                 "no sweep block (sweep = { axes = ( ... ); }; `are run` runs one trial)");
    expect_error("unknown field",
                 "sweep = {\n"
                 "  methdo = \"grid\";\n" // 3
                 "  axes = ( " TASK_AXIS " );\n"
                 "};\n",
                 NULL, 0, 3, "unknown field 'sweep.methdo' (did you mean 'method'?)");
    expect_error("unknown axis field",
                 "sweep = {\n"
                 "  axes = (\n"
                 "    { path = \"task\"; vaules = [\"defense\"]; }\n" // 4
                 "  );\n"
                 "};\n",
                 NULL, 0, 4, "unknown field 'sweep.axes[0].vaules' (did you mean 'values'?)");
    expect_error("wrong type",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  repeats = \"2\";\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.repeats' must be an integer in [1..1000], got a string");
    expect_error("empty values",
                 "sweep = {\n"
                 "  axes = ( { path = \"task\";\n"
                 "             values = []; } );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "field 'sweep.axes[0].values' is empty: an axis needs at least one value");
    expect_error("grid axis without values",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS ",\n"
                 "           { path = \"are.generator.rank\"; } );\n" // 4
                 "};\n",
                 NULL, 0, 4, "'sweep.axes[1]' needs values = [ ... ]");
    expect_error("values not an array or list",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = 4; } );\n" // 3
                 "};\n",
                 NULL, 0, 3,
                 "field 'sweep.axes[0].values' must be an array [ ... ] or a list ( ... )");
    expect_error("neither path nor paths",
                 "sweep = {\n"
                 "  axes = ( { values = [4]; } );\n" // 3
                 "};\n",
                 NULL, 0, 3,
                 "'sweep.axes[0]' needs path = \"...\" (or paths = [ ... ] to zip several)");
    expect_error(
        "both path and paths",
        "sweep = {\n"
        "  axes = ( { path = \"task\"; paths = [\"task\"]; values = ([\"defense\"]); } );\n"
        "};\n",
        NULL, 0, 3, "'sweep.axes[0]' has both path and paths: give one");
    expect_error("a path swept twice",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4]; },\n"       // 3
                 "           { paths = [\"are.max_rounds\", \"are.generator.rank\"];\n" // 4
                 "             values = ( (2, 8) ); } );\n"
                 "};\n",
                 NULL, 0, 4, "sweep.axes[1]: 'are.generator.rank' is already swept (line 3)");
    expect_error("random axis without distribution",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.lr\"; low = 1e-4; high = 1e-3; } );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "'sweep.axes[0]' needs values or a distribution (uniform, log_uniform, int, "
                 "choice)");
    expect_error("distribution in a grid",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.lr\";\n"
                 "             distribution = \"uniform\"; low = 1e-4; high = 1e-3; } );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "field 'sweep.axes[0].distribution' needs method \"random\" (method is \"grid\": "
                 "give values)");
    expect_error("unknown distribution",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.lr\"; distribution = \"normal\"; } );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "field 'sweep.axes[0].distribution' is \"normal\", expected one of \"uniform\", "
                 "\"log_uniform\", \"int\", \"choice\"");
    expect_error("low >= high",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.alpha\"; distribution = \"uniform\";\n"
                 "             low = 2; high = 2; } );\n" // 5
                 "};\n",
                 NULL, 0, 5, "field 'sweep.axes[0].low' (2) must be below high (2)");
    expect_error("log_uniform low <= 0",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.lr\"; distribution = \"log_uniform\";\n"
                 "             low = 0.0; high = 1e-3; } );\n" // 5
                 "};\n",
                 NULL, 0, 5, "field 'sweep.axes[0].low' is 0, log_uniform needs low > 0");
    expect_error("int with a fractional bound",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.rank\"; distribution = \"int\";\n"
                 "             low = 1.5; high = 8; } );\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "'sweep.axes[0]': distribution \"int\" needs integer low and high within +-2^24, "
                 "got 1.5 and 8");
    expect_error("distribution without low and high",
                 "sweep = {\n"
                 "  method = \"random\"; samples = 2;\n"
                 "  axes = ( { path = \"are.generator.rank\"; distribution = \"int\"; } );\n" // 4
                 "};\n",
                 NULL, 0, 4, "'sweep.axes[0]': distribution \"int\" needs low and high");
    expect_error("low and high on values",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4]; low = 1; } );\n" // 3
                 "};\n",
                 NULL, 0, 3,
                 "'sweep.axes[0]': low and high belong to the distributions uniform, log_uniform "
                 "and int");
    expect_error("random without samples",
                 "sweep = {\n" // 2
                 "  method = \"random\";\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "};\n",
                 NULL, 0, 2, "method \"random\" needs samples = N (combinations to draw)");
    expect_error("samples in a grid",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  samples = 3;\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.samples' needs method \"random\" (method is \"grid\")");
    expect_error("grid without axes", "sweep = { seed = 3; };\n", NULL, 0, 2,
                 "method \"grid\" needs axes = ( { path = \"...\"; values = [ ... ]; }, ... )");
    expect_error("list with axes",
                 "sweep = {\n"
                 "  method = \"list\";\n"
                 "  axes = ( " TASK_AXIS " );\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.axes': method \"list\" takes trials, not axes");
    expect_error("trials in a grid",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  trials = ( [\"task=defense\"] );\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.trials' needs method \"list\" (method is \"grid\")");
    expect_error("zipped tuple of the wrong length",
                 "sweep = {\n"
                 "  axes = ( { paths = [\"are.layers\", \"are.generator.layers\"];\n"
                 "             values = ( ([2], [0, 1]),\n"
                 "                        ([3]) ); } );\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "field 'sweep.axes[0].values[1]' must be a tuple ( ... ) of 2 values, one per "
                 "path");
    expect_error("exclude naming a path that is not swept",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  exclude = ( [\"task=defense\",\n"
                 "               \"are.max_rounds=3\"] );\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "field 'sweep.exclude[0][1]': 'are.max_rounds' is not swept (swept: task)");
    expect_error("exclude not a list of arrays",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  exclude = [\"task=defense\"];\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "field 'sweep.exclude' must be a list of arrays ( [\"path=value\", ...], ... )");
    expect_error("an empty exclude entry",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  exclude = ( [] );\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.exclude[0]' is empty");
    expect_error("everything excluded",
                 "sweep = {\n" // 2
                 "  axes = ( " TASK_AXIS " );\n"
                 "  exclude = ( [\"task=defense\"] );\n"
                 "};\n",
                 NULL, 0, 2, "every combination of the sweep is excluded: no trials");
    expect_error("a bad exclude value",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4]; } );\n"
                 "  exclude = ( [\"are.generator.rank=four\"] );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "exclude sets are.generator.rank=four: field 'are.generator.rank' must be an "
                 "integer in [1..65536], got a string");
    expect_error("list entry without '='",
                 "sweep = {\n"
                 "  method = \"list\";\n"
                 "  trials = ( [\"task\"] );\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.trials[0][0]' must be a string \"path=value\"");
    expect_error("list entry setting a path twice",
                 "sweep = {\n"
                 "  method = \"list\";\n"
                 "  trials = ( [\"task=defense\", \"task = jailbreak\"] );\n" // 4
                 "};\n",
                 NULL, 0, 4, "field 'sweep.trials[0][1]': 'task' is set twice");
    // Paths and values are checked by loading the base config with them, at their line.
    expect_error("unknown axis path",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS ",\n"
                 "           { path = \"are.generator.rnak\"; values = [4]; } );\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "sweep sets are.generator.rnak=4: unknown field 'are.generator.rnak' (did you "
                 "mean 'rank'?)");
    expect_error("a value of the wrong type, at its line",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\";\n"
                 "             values = (4,\n"
                 "                       8.5); } );\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "sweep sets are.generator.rank=8.5: field 'are.generator.rank' must be an "
                 "integer in [1..65536], got a float");
    expect_error("a combination breaking a rule between fields",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.converge_low\"; values = [0.5, 0.8]; } );\n" // 3
                 "};\n",
                 NULL, 0, 3,
                 "sweep sets are.converge_low=0.8: field 'are.converge_low' (0.8) must be below "
                 "are.converge_high (0.7)");
    expect_error("a list trial's bad value",
                 "sweep = {\n"
                 "  method = \"list\";\n"
                 "  trials = ( [\"task=defense\"],\n"
                 "             [\"task=nothing\"] );\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "sweep sets task=nothing: field 'task' is \"nothing\", expected one of the "
                 "tasks: \"jailbreak\", \"defense\", \"truthful\"");
    const char *bad_extra[] = {"are.max_rounds=0"};
    expect_error("a bad extra override",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "};\n",
                 bad_extra, 1, -1,
                 "--set are.max_rounds=0: field 'are.max_rounds' is 0, expected an integer in "
                 "[1..1073741824] (in the sweep trial task=\"defense\")");
    const char *swept_extra[] = {"are.generator.rank=16"};
    char message[1200];
    snprintf(message, sizeof(message),
             "--set are.generator.rank=16: 'are.generator.rank' is swept by the sweep block "
             "(%s:3)",
             sweep_path);
    expect_error("an extra override of a swept path",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4]; } );\n"
                 "};\n",
                 swept_extra, 1, -1, message);
    // The same mistakes in the sweep's own set = [ ... ] are the file's: reported at its line.
    expect_error("a bad value in the sweep's set",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  set = [\"are.generator.rank=4\",\n"
                 "         \"are.max_rounds=0\"];\n" // 5
                 "};\n",
                 NULL, 0, 5,
                 "sweep.set sets are.max_rounds=0: field 'are.max_rounds' is 0, expected an "
                 "integer in [1..1073741824]");
    expect_error("an unknown path in the sweep's set",
                 "sweep = {\n"
                 "  axes = ( " TASK_AXIS " );\n"
                 "  set = [\"are.generator.rnak=4\"];\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "sweep.set sets are.generator.rnak=4: unknown field 'are.generator.rnak' (did "
                 "you mean 'rank'?)");
    expect_error("the sweep's set of a swept path",
                 "sweep = {\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4]; } );\n"
                 "  set = [\"are.generator.rank=16\"];\n" // 4
                 "};\n",
                 NULL, 0, 4,
                 "sweep.set sets are.generator.rank=16: 'are.generator.rank' is swept by the "
                 "sweep block (line 3)");

    // Two combinations with the same config: an error naming both.
    const char *rank4[] = {"are.generator.rank=4", NULL};
    char id[TRIAL_ID_LEN + 1] = "";
    write_sweep("sweep = { axes = ( { path = \"are.generator.rank\"; values = [4]; } ); };\n");
    id_of(rank4, 0, id);
    snprintf(message, sizeof(message),
             "sweep trials 0 (are.generator.rank=4) and 2 (are.generator.rank=4) are the same "
             "config (trial id %s)",
             id);
    expect_error("a repeated grid value",
                 "sweep = { repeats = 2;\n"
                 "  axes = ( { path = \"are.generator.rank\"; values = [4, 4]; } ); };\n", // 3
                 NULL, 0, 3, message);
    const char *base[] = {NULL};
    write_sweep("sweep = { method = \"list\"; trials = ( [] ); };\n");
    id_of(base, 0, id);
    snprintf(message, sizeof(message),
             "sweep trials 0 (task=jailbreak) and 1 (the base config) are the same config "
             "(trial id %s)",
             id);
    expect_error("a list trial equal to the base config",
                 "sweep = { method = \"list\";\n"
                 "  trials = ( [\"task=jailbreak\"],\n"
                 "             [] ); };\n", // 4
                 NULL, 0, 4, message);
}

static long file_size(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

// Longest expected trials first: cost = max_rounds * (3 * generator epochs + 1) * data bytes.
static void test_order(void) {
    long refusal = file_size("data/refusal_train.jsonl") + file_size("data/refusal_test.jsonl");
    long truthful = file_size("data/truthful_train.jsonl") + file_size("data/truthful_test.jsonl");
    if (refusal < 0 || truthful < 0 || refusal == truthful) {
        SKIP("order: the task data files are missing");
        return;
    }
    static const char sweep[] =
        "sweep = { repeats = 2;\n"
        "  axes = ( { path = \"task\"; values = [\"jailbreak\", \"truthful\"]; },\n"
        "           { path = \"are.max_rounds\"; values = [2, 8]; } ); };\n";
    SweepPlan p;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == 8, "order: %s", err);
    if (rc < 0) return;
    // Trials 0, 1: jailbreak 2 rounds; 2, 3: jailbreak 8; 4, 5: truthful 2; 6, 7: truthful 8.
    // tinychat.cfg's generator runs 2 epochs.
    double want_cost[8];
    for (int i = 0; i < 8; i++)
        want_cost[i] = (i / 2 % 2 ? 8 : 2) * 7.0 * (double)(i < 4 ? refusal : truthful);
    int wrong = 0;
    for (int i = 0; i < 8; i++) wrong += p.trials[i].cost != want_cost[i];
    CHECK(wrong == 0, "order: %d costs differ from max_rounds * 7 * data bytes", wrong);
    static const int refusal_first[] = {2, 3, 6, 7, 0, 1, 4, 5};
    static const int truthful_first[] = {6, 7, 2, 3, 4, 5, 0, 1};
    const int *want = refusal > truthful ? refusal_first : truthful_first;
    int misplaced = 0;
    for (int i = 0; i < 8; i++) misplaced += p.order[i] != want[i];
    CHECK(misplaced == 0, "order: queue %d %d %d %d %d %d %d %d", p.order[0], p.order[1],
          p.order[2], p.order[3], p.order[4], p.order[5], p.order[6], p.order[7]);
    sweep_plan_free(&p);
}

// The --dry-run table of a small grid, ids and seeds recomputed on their own.
static void test_table(void) {
    static const char sweep[] =
        "sweep = { seed = 3; repeats = 2;\n"
        "  axes = ( { path = \"task\"; values = [\"jailbreak\", \"defense\"]; },\n"
        "           { path = \"are.generator.rank\"; values = [4]; } ); };\n";
    SweepPlan p;
    char err[1024] = "";
    int rc = load(&p, sweep, NULL, 0, err, sizeof(err));
    CHECK(rc == 0 && p.n == 4, "table: %s", err);
    if (rc < 0) return;
    // The trials' values written out by hand: ids and seeds from them alone.
    const char *jailbreak[] = {"task=\"jailbreak\"", "are.generator.rank=4", NULL};
    const char *defense[] = {"task=\"defense\"", "are.generator.rank=4", NULL};
    char ids[4][TRIAL_ID_LEN + 1], seeds[4][24];
    int seed_width = 4;
    for (int i = 0; i < 4; i++) {
        id_of(i < 2 ? jailbreak : defense, i % 2, ids[i]);
        snprintf(seeds[i], sizeof(seeds[i]), "%llu", (unsigned long long)trial_seed(3, ids[i]));
        if ((int)strlen(seeds[i]) > seed_width) seed_width = (int)strlen(seeds[i]);
    }
    char want[2048];
    int used = snprintf(want, sizeof(want),
                        "# grid sweep: 2 combinations x 2 repeats = 4 trials, sweep seed 3\n"
                        "index  id                repeat  %-*s  task         are.generator.rank\n",
                        seed_width, "seed");
    static const char *const tasks[] = {"\"jailbreak\"", "\"defense\"  "};
    for (int i = 0; i < 4; i++)
        used +=
            snprintf(want + used, sizeof(want) - (size_t)used, "%d      %s  %d       %-*s  %s  4\n",
                     i, ids[i], i % 2, seed_width, seeds[i], tasks[i / 2]);
    char *got = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&got, &len);
    sweep_plan_print(out, &p);
    fclose(out);
    CHECK(!strcmp(got, want), "table:\n%s\nwant:\n%s", got, want);
    printf("%s", got);
    sweep_plan_free(&p);
    free(got);
}

int main(void) {
    const char *source = getenv("ARE_SOURCE_DIR");
    // Trial configs name their data relative to the source tree.
    if (source && chdir(source) != 0) {
        perror(source);
        return 2;
    }
    char dir[] = "/tmp/test_sweep_spec.XXXXXX";
    if (!mkdtemp(dir) || !getcwd(base_path, sizeof(base_path) - 32)) {
        perror("test_sweep_spec");
        return 2;
    }
    strcat(base_path, "/configs/tinychat.cfg");
    snprintf(sweep_path, sizeof(sweep_path), "%s/sweep.cfg", dir);
    test_grid();
    test_value_kinds();
    test_exclude();
    test_list();
    test_random();
    test_errors();
    test_order();
    test_table();
    unlink(sweep_path);
    rmdir(dir);
    return check_summary();
}
