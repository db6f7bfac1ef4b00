// Sweep store: tables written and read back bit for bit (NaN metrics, UTF-8, 64-bit seeds), the
// union of metric names, status changes, the atomic replace (a leftover or truncated
// sweep.h5.tmp never matters, a failed write leaves sweep.h5 alone), clear errors for corrupt
// and foreign files, the config comparison, resume and the rescue from trial files made by
// trial_store, external links followed from another working directory, and SIGKILLs of a
// writing process at random moments and in the middle of updates, after each of which sweep.h5
// is exactly one of the states the writer passed through. With the reference venv's h5py,
// tests/ref/dump_sweep_file.py prints what h5py reads and the test compares it with the table.
#include "check.h"
#include "h5_read.h"
#include "read_file.h"
#include "sweep_store.h"
#include "trial_store.h"

#include <errno.h>
#include <hdf5.h>
#include <math.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define CONFIG                                                                                     \
    "# demo sweep\nmodel = \"models/tinychat\";\nsweep = {\n  repeats = 2;\n  axes = ( { path = "  \
    "\"lora.rank\"; values = [4, 8]; } );\n};\n"
#define CREATED  "2025-01-02T03:04:05Z"
#define N_KILLS  20
#define N_TIMING 1000

static char dir[] = "/tmp/test_sweep_store_XXXXXX";
static char python[4096]; // the reference venv's python when it has h5py, else ""

// ---- a deterministic sweep ----

static void make_id(int i, char id[SWEEP_ID_LEN + 1]) {
    snprintf(id, SWEEP_ID_LEN + 1, "%016llx", (unsigned long long)(i + 1) * 0x9e3779b97f4a7c15ull);
}

static uint64_t seed_of(int i) {
    return 0xfedcba9876543210ull ^ (uint64_t)i; // above 2^63: the top bit must survive
}

// Row i's outcome: done (failed when i % 7 == 3) with metrics that vary by row, as trials of
// different tasks report different metrics. edited.perplexity is NaN by value in some rows.
static void finish_trial(SweepTable *t, int i) {
    char host[32];
    snprintf(host, sizeof(host), "node%02d", i % 4);
    double start = 1.7e9 + 37.25 * i;
    sweep_table_start(t, i, host, 1 + i % 3, i % 2 ? "cuda:0 NVIDIA H100 80GB HBM3" : "cpu", start);
    bool failed = i % 7 == 3;
    sweep_table_finish(t, i, failed ? SWEEP_FAILED : SWEEP_DONE, start + 10.5 + i / 3.0,
                       10.5 + i / 3.0, failed ? "NaN in the generator loss at round 4" : NULL);
    if (failed) return;
    const char *names[] = {"rounds", "converged", "base.harmful.refusal_rate", "edited.perplexity"};
    double values[] = {1 + i % 5, i % 2, 1.0 / (i + 1), i % 4 == 1 ? NAN : 12.5 + 1e-13 * i};
    sweep_table_set_metrics(t, i, names, values, i % 3 == 0 ? 3 : 2);
    if (i % 4 == 1 || i % 4 == 2) sweep_table_set_metrics(t, i, &names[3], &values[3], 1);
}

// The sweep's n trials, all pending.
static SweepTable *build_plan(int n) {
    SweepTable *t = sweep_table_new("demo", "0.1.0", CONFIG, n);
    snprintf(t->created, sizeof(t->created), CREATED);
    for (int i = 0; i < n; i++) {
        char id[SWEEP_ID_LEN + 1], params[128];
        make_id(i, id);
        snprintf(params, sizeof(params),
                 "task=%s; lora.rank=%d; note=\"d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93\"",
                 i % 2 ? "defense" : "jailbreak", 4 << (i % 3));
        sweep_table_set_trial(t, i, id, i % 2, params, seed_of(i));
    }
    return t;
}

// The table after k trials finished in index order, trial k running (when k < n).
static SweepTable *build_state(int n, int k) {
    SweepTable *t = build_plan(n);
    for (int i = 0; i < k; i++) finish_trial(t, i);
    if (k < n) sweep_table_start(t, k, "node09", 2, "cpu", 1.8e9);
    return t;
}

static int count_finished(const SweepTable *t) {
    int k = 0;
    while (k < t->n_trials &&
           (t->rows[k].status == SWEEP_DONE || t->rows[k].status == SWEEP_FAILED))
        k++;
    return k;
}

// ---- comparing tables ----

static bool same_double(double a, double b) {
    return memcmp(&a, &b, sizeof(double)) == 0; // bit for bit: NaN is NaN, -0 is not 0
}

// Whether a and b hold the same sweep, bit for bit; the first difference in why.
static bool tables_equal(const SweepTable *a, const SweepTable *b, char *why, size_t why_len) {
    snprintf(why, why_len, "equal");
    if (strcmp(a->name, b->name) || strcmp(a->version, b->version) ||
        strcmp(a->config_text, b->config_text) || strcmp(a->created, b->created)) {
        snprintf(why, why_len, "name/version/config/created differ");
        return false;
    }
    if (a->n_trials != b->n_trials || a->n_metrics != b->n_metrics) {
        snprintf(why, why_len, "%d trials x %d metrics vs %d x %d", a->n_trials, a->n_metrics,
                 b->n_trials, b->n_metrics);
        return false;
    }
    for (int k = 0; k < a->n_metrics; k++)
        if (strcmp(a->metric_names[k], b->metric_names[k])) {
            snprintf(why, why_len, "metric name %d: %s vs %s", k, a->metric_names[k],
                     b->metric_names[k]);
            return false;
        }
    for (int i = 0; i < a->n_trials; i++) {
        const SweepRow *x = &a->rows[i], *y = &b->rows[i];
        bool same = !strcmp(x->id, y->id) && x->repeat == y->repeat && x->status == y->status &&
                    !strcmp(x->params, y->params) && x->seed == y->seed &&
                    !strcmp(x->host, y->host) && x->rank == y->rank &&
                    !strcmp(x->device, y->device) && same_double(x->start_time, y->start_time) &&
                    same_double(x->end_time, y->end_time) && same_double(x->seconds, y->seconds) &&
                    !strcmp(x->error, y->error);
        for (int k = 0; k < a->n_metrics; k++)
            same = same &&
                   same_double(a->metrics[i * a->n_metrics + k], b->metrics[i * b->n_metrics + k]);
        if (!same) {
            snprintf(why, why_len, "row %d (%s) differs", i, x->id);
            return false;
        }
    }
    return true;
}

static void check_tables_equal(const SweepTable *got, const SweepTable *want, const char *what) {
    char why[256];
    bool same = got && tables_equal(got, want, why, sizeof(why));
    CHECK(same, "%s: %s", what, got ? why : "no table");
}

// ---- files ----

static void run_dir_for(const char *name, char out[512]) {
    snprintf(out, 512, "%s/%s", dir, name);
    char trials[600];
    snprintf(trials, sizeof(trials), "%s/trials", out);
    mkdir(out, 0755);
    mkdir(trials, 0755);
}

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static void write_bytes(const char *path, const void *bytes, size_t n) {
    FILE *f = fopen(path, "wb");
    if (f) {
        fwrite(bytes, 1, n, f);
        fclose(f);
    }
}

static SweepTable *read_back(const char *run_dir, char *err, size_t err_len) {
    SweepTable *t = NULL;
    int rc = sweep_store_read(run_dir, &t, err, err_len);
    CHECK(rc == 1 && t, "reading %s/sweep.h5: rc %d: %s", run_dir, rc, err);
    return t;
}

// A finished (or, with finished false, abandoned) trial file made by trial_store. trial_id may
// differ from the id in the file's name.
static void make_trial_file(const char *run_dir, const char *id, const char *trial_id,
                            long long seed, bool finished) {
    static const int layers[1] = {-1}, labels[2] = {0, 1}, is_test[2] = {0, 1};
    char path[600], err[512];
    snprintf(path, sizeof(path), "%s/trials/%s.h5", run_dir, id);
    TrialStoreSpec spec = {.path = path,
                           .config_text = "lora.rank = 4;\n",
                           .trial_id = trial_id,
                           .seed = seed,
                           .host = "node03",
                           .rank = 2,
                           .device = "cuda:1 NVIDIA H100",
                           .version = "0.1.0",
                           .n_samples = 2,
                           .n_layers = 1,
                           .dim = 1,
                           .layers = layers,
                           .labels = labels,
                           .is_test = is_test};
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    CHECK(ts, "trial_store_create %s: %s", path, err);
    if (!ts) return;
    const char *names[] = {"rounds"};
    const double values[] = {1};
    if (finished) // as a trial finishes: its result, then the final name
        CHECK(trial_store_add_result(ts, "converged", "", names, values, 1, err, sizeof(err)) ==
                      0 &&
                  trial_store_finish(ts, "converged", err, sizeof(err)) == 0,
              "finish: %s", err);
    else
        trial_store_close(ts);
}

// ---- the h5py view ----

static void append(char **text, size_t *len, const char *s) {
    size_t n = strlen(s);
    *text = realloc(*text, *len + n + 1);
    memcpy(*text + *len, s, n + 1);
    *len += n;
}

// s with backslash and newline escaped, as dump_sweep_file.py prints text.
static void append_escaped(char **text, size_t *len, const char *s) {
    for (; *s; s++) {
        char one[3] = {*s, 0, 0};
        if (*s == '\\' || *s == '\n') {
            one[0] = '\\';
            one[1] = *s == '\n' ? 'n' : '\\';
        }
        append(text, len, one);
    }
}

static void append_number(char **text, size_t *len, double x) {
    char buf[40];
    snprintf(buf, sizeof(buf), "%.17g", x);
    append(text, len, buf);
}

// Independent of the store's own hash: FNV-1a as its published definition states it.
static void fnv1a_hex(const char *s, char out[17]) {
    uint64_t h = 14695981039346656037ull;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ull;
    }
    snprintf(out, 17, "%016llx", (unsigned long long)h);
}

static int compare_strings(const void *a, const void *b) {
    return strcmp(a, b);
}

// What dump_sweep_file.py must print for t written to run_dir.
static char *expected_dump(const SweepTable *t, const char *run_dir) {
    char *text = NULL, line[512], hash[17];
    size_t len = 0;
    fnv1a_hex(t->config_text, hash);
    append(&text, &len, "format_version=1 name=");
    append_escaped(&text, &len, t->name);
    append(&text, &len, " version=");
    append_escaped(&text, &len, t->version);
    snprintf(line, sizeof(line), " created=%s n_trials=%d config_hash=%s updated_ends_in_Z=True\n",
             t->created, t->n_trials, hash);
    append(&text, &len, line);
    append(&text, &len, "config=");
    append_escaped(&text, &len, t->config_text);
    append(&text, &len, "\n");
    char(*links)[17] = calloc((size_t)t->n_trials + 1, 17);
    int n_links = 0;
    for (int i = 0; i < t->n_trials; i++) {
        const SweepRow *r = &t->rows[i];
        snprintf(line, sizeof(line), "%d | %s | %d | %s | ", i, r->id, r->repeat,
                 sweep_status_names[r->status]);
        append(&text, &len, line);
        append_escaped(&text, &len, r->params);
        snprintf(line, sizeof(line), " | %llu | ", (unsigned long long)r->seed);
        append(&text, &len, line);
        append_escaped(&text, &len, r->host);
        snprintf(line, sizeof(line), " | %d | ", r->rank);
        append(&text, &len, line);
        append_escaped(&text, &len, r->device);
        double times[3] = {r->start_time, r->end_time, r->seconds};
        for (int k = 0; k < 3; k++) {
            append(&text, &len, " | ");
            append_number(&text, &len, times[k]);
        }
        append(&text, &len, " | ");
        append_escaped(&text, &len, r->error);
        for (int k = 0; k < t->n_metrics; k++) {
            append(&text, &len, " | ");
            append_escaped(&text, &len, t->metric_names[k]);
            append(&text, &len, "=");
            append_number(&text, &len, t->metrics[i * t->n_metrics + k]);
        }
        append(&text, &len, "\n");
        if (r->status == SWEEP_DONE) memcpy(links[n_links++], r->id, 17);
    }
    qsort(links, (size_t)n_links, 17, compare_strings);
    for (int i = 0; i < n_links; i++) {
        char trial_file[700];
        snprintf(trial_file, sizeof(trial_file), "%s/trials/%s.h5", run_dir, links[i]);
        snprintf(line, sizeof(line), "link %s -> trials/%s.h5:/ trial_id=%s\n", links[i], links[i],
                 exists(trial_file) ? links[i] : "dangling");
        append(&text, &len, line);
    }
    free(links);
    return text;
}

static void check_with_h5py(const SweepTable *t, const char *run_dir) {
    if (!python[0]) {
        SKIP("h5py view of %s: no .venv-ref with h5py", run_dir);
        return;
    }
    char command[9000], out_path[600];
    snprintf(out_path, sizeof(out_path), "%s/h5py_dump.txt", dir);
    snprintf(command, sizeof(command), "'%s' '%s/tests/ref/dump_sweep_file.py' '%s' > '%s'", python,
             getenv("ARE_SOURCE_DIR"), run_dir, out_path);
    int status = system(command);
    char *got = read_file(out_path, NULL), *want = expected_dump(t, run_dir);
    bool same = status == 0 && got && strcmp(got, want) == 0;
    CHECK(same, "h5py reads %s/sweep.h5 differently (exit %d):\n--- h5py\n%s--- expected\n%s",
          run_dir, status, got ? got : "", want);
    if (same)
        printf("h5py reads %s/sweep.h5 as written (%zu bytes of dump)\n", run_dir, strlen(got));
    free(got);
    free(want);
}

// ---- the cases ----

static void test_round_trip(void) {
    char run_dir[512], err[512];
    run_dir_for("round_trip", run_dir);
    SweepTable *t = build_state(9, 7);
    CHECK(t->n_metrics == 4, "%d metric columns, expected 4", t->n_metrics);
    CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    SweepTable *back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, t, "round trip");
    if (back) {
        // Hand-checked values beside the bitwise comparison.
        CHECK(back->rows[4].seed == 0xfedcba9876543214ull, "seed of row 4");
        CHECK(back->rows[3].status == SWEEP_FAILED && strstr(back->rows[3].error, "round 4"),
              "row 3 failed with its reason");
        CHECK(back->rows[7].status == SWEEP_RUNNING && isnan(back->rows[7].end_time) &&
                  back->rows[7].rank == 2,
              "row 7 running");
        CHECK(back->rows[8].status == SWEEP_PENDING && back->rows[8].rank == -1 &&
                  isnan(back->rows[8].start_time) && back->rows[8].host[0] == '\0',
              "row 8 pending");
        CHECK(sweep_table_metric(back, 1, "edited.perplexity") !=
                  sweep_table_metric(back, 1, "edited.perplexity"),
              "NaN by value survives");
        CHECK(sweep_table_metric(back, 6, "base.harmful.refusal_rate") == 1.0 / 7,
              "refusal rate of row 6");
        CHECK(isnan(sweep_table_metric(back, 2, "base.harmful.refusal_rate")),
              "a metric row 2 lacks reads NaN");
        CHECK(isnan(sweep_table_metric(back, 0, "no.such.metric")), "an unknown metric reads NaN");
        CHECK(strstr(back->rows[0].params, "d\xc3\xa9j\xc3\xa0 \xe2\x9c\x93") != NULL,
              "UTF-8 params");
    }
    check_with_h5py(t, run_dir);

    // Invalid UTF-8 is stored repaired, so that every reader can decode the column.
    sweep_table_finish(t, 7, SWEEP_FAILED, 1.8e9 + 1, 1, "token \xff\xfe cut");
    CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    sweep_table_free(back);
    back = read_back(run_dir, err, sizeof(err));
    CHECK(back && strcmp(back->rows[7].error, "token \xef\xbf\xbd\xef\xbf\xbd cut") == 0,
          "invalid bytes become U+FFFD: \"%s\"", back ? back->rows[7].error : "");
    sweep_table_free(back);
    sweep_table_free(t);

    // Nothing at all: no trials, no metrics.
    SweepTable *empty = sweep_table_new("", "", "", 0);
    run_dir_for("empty", run_dir);
    CHECK(sweep_store_write(empty, run_dir, err, sizeof(err)) == 0, "write empty: %s", err);
    back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, empty, "empty table");
    sweep_table_free(back);
    sweep_table_free(empty);
}

static void test_metric_union(void) {
    char run_dir[512], err[512];
    run_dir_for("metrics", run_dir);
    SweepTable *t = sweep_table_new("m", "0.1.0", "x = 1;\n", 3);
    CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == -1 &&
              strstr(err, "row 0 has no trial id"),
          "a table whose trials have no ids: %s", err);
    for (int i = 0; i < 3; i++) {
        char id[SWEEP_ID_LEN + 1];
        make_id(i, id);
        sweep_table_set_trial(t, i, id, 0, "", 0);
    }
    const char *a[] = {"rounds", "jailbreak.asr"}, *b[] = {"rounds", "defense.refusal_rate"};
    double va[] = {5, 0.75}, vb[] = {7, 0.5};
    sweep_table_set_metrics(t, 0, a, va, 2);
    sweep_table_set_metrics(t, 2, b, vb, 2);
    CHECK(t->n_metrics == 3 && !strcmp(t->metric_names[0], "rounds") &&
              !strcmp(t->metric_names[1], "jailbreak.asr") &&
              !strcmp(t->metric_names[2], "defense.refusal_rate"),
          "metric names in order of first appearance");
    // [3 trials, 3 metrics] by hand.
    const double want[9] = {5, 0.75, NAN, NAN, NAN, NAN, 7, NAN, 0.5};
    bool same = true;
    for (int i = 0; i < 9; i++) same = same && same_double(t->metrics[i], want[i]);
    CHECK(same, "metrics matrix [3, 3] differs from the hand-written one");
    double again = 6;
    sweep_table_set_metrics(t, 0, a, &again, 1);
    CHECK(sweep_table_metric(t, 0, "rounds") == 6 && t->n_metrics == 3,
          "setting a known metric overwrites it, adds no column");
    sweep_table_start(t, 0, "h", 1, "cpu", 1);
    CHECK(isnan(sweep_table_metric(t, 0, "rounds")) &&
              isnan(sweep_table_metric(t, 0, "jailbreak.asr")),
          "starting a row again forgets its metrics");
    CHECK(sweep_table_metric(t, 2, "rounds") == 7, "other rows keep theirs");
    CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    SweepTable *back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, t, "metric union round trip");
    sweep_table_free(back);
    sweep_table_free(t);
}

static void test_status_updates(void) {
    char run_dir[512], err[512];
    run_dir_for("status", run_dir);
    SweepTable *t = build_state(4, 4); // everything finished, row 3 failed
    SweepTable *back = NULL;
    sweep_table_start(t, 3, "node07", 5, "cuda:3", 1.9e9); // the failed trial runs again
    CHECK(t->rows[3].error[0] == '\0' && isnan(t->rows[3].seconds), "a restart clears the error");
    for (int step = 0; step < 2; step++) {
        if (step == 1) {
            sweep_table_finish(t, 3, SWEEP_DONE, 1.9e9 + 2, 2, NULL);
            double rounds = 3;
            const char *name = "rounds";
            sweep_table_set_metrics(t, 3, &name, &rounds, 1);
        }
        CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == 0, "write: %s", err);
        back = read_back(run_dir, err, sizeof(err));
        check_tables_equal(back, t, step ? "row 3 done" : "row 3 running again");
        CHECK(back && back->rows[3].status == (step ? SWEEP_DONE : SWEEP_RUNNING),
              "status of row 3 after step %d", step);
        sweep_table_free(back);
    }
    sweep_table_free(t);
}

static void test_atomic_replace(void) {
    char run_dir[512], err[512], path[600], tmp[600];
    run_dir_for("atomic", run_dir);
    snprintf(path, sizeof(path), "%s/sweep.h5", run_dir);
    snprintf(tmp, sizeof(tmp), "%s/sweep.h5.tmp", run_dir);
    SweepTable *a = build_state(30, 10), *b = build_state(30, 11);
    CHECK(sweep_store_write(a, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    CHECK(!exists(tmp), "no sweep.h5.tmp after a write");

    // A crash mid-update leaves a torn sweep.h5.tmp: readers never look at it.
    size_t size = 0;
    char *good = read_file(path, &size);
    write_bytes(tmp, good, size / 2);
    SweepTable *back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, a, "sweep.h5 beside a truncated .tmp");
    sweep_table_free(back);
    CHECK(sweep_store_write(b, run_dir, err, sizeof(err)) == 0, "write over a leftover: %s", err);
    back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, b, "after overwriting a leftover .tmp");
    CHECK(!exists(tmp), "the leftover .tmp was replaced and renamed");
    sweep_table_free(back);
    free(good);

    // An update that cannot be written leaves sweep.h5 alone.
    char blocker[700];
    mkdir(tmp, 0755);
    snprintf(blocker, sizeof(blocker), "%s/x", tmp);
    write_bytes(blocker, "x", 1);
    CHECK(sweep_store_write(a, run_dir, err, sizeof(err)) == -1 && strstr(err, "sweep.h5.tmp"),
          "a write through a blocked .tmp did not fail clearly (%s)", err);
    back = read_back(run_dir, err, sizeof(err));
    check_tables_equal(back, b, "sweep.h5 after a failed update");
    sweep_table_free(back);
    unlink(blocker);
    rmdir(tmp);

    char missing[600];
    snprintf(missing, sizeof(missing), "%s/no_such_run", dir);
    CHECK(sweep_store_write(a, missing, err, sizeof(err)) == -1 && strstr(err, missing) &&
              strstr(err, "No such file"),
          "a missing run folder: %s", err);
    sweep_table_free(a);
    sweep_table_free(b);
}

// Writes a fresh sweep.h5, lets edit damage it, and checks that reading fails with a message
// holding want.
static void check_damaged(const char *run_dir, void (*edit)(hid_t file), const char *want) {
    char err[512], path[600];
    SweepTable *t = build_state(5, 3);
    sweep_store_write(t, run_dir, err, sizeof(err));
    sweep_table_free(t);
    snprintf(path, sizeof(path), "%s/sweep.h5", run_dir);
    hid_t file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    edit(file);
    H5Fclose(file);
    SweepTable *back = NULL;
    err[0] = '\0';
    int rc = sweep_store_read(run_dir, &back, err, sizeof(err));
    CHECK(rc == -1 && !back && strstr(err, path) && strstr(err, want),
          "damage '%s': rc %d, message '%s'", want, rc, err);
    sweep_table_free(back);
}

static void set_format_version(hid_t file) {
    int two = 2;
    hid_t attr = H5Aopen(file, "format_version", H5P_DEFAULT);
    H5Awrite(attr, H5T_NATIVE_INT, &two);
    H5Aclose(attr);
}

static void change_config(hid_t file) {
    const char *text = "x = 2;\n";
    hid_t attr = H5Aopen(file, "config", H5P_DEFAULT), type = utf8_type();
    H5Awrite(attr, type, &text);
    H5Tclose(type);
    H5Aclose(attr);
}

// Rewrites table/<name>[1] as value.
static void rewrite_string(hid_t file, const char *name, const char *value) {
    char path[64];
    snprintf(path, sizeof(path), "table/%s", name);
    hid_t d = H5Dopen2(file, path, H5P_DEFAULT), space = H5Dget_space(d), type = utf8_type();
    hsize_t at[1] = {1}, one[1] = {1};
    H5Sselect_hyperslab(space, H5S_SELECT_SET, at, NULL, one, NULL);
    hid_t mem = H5Screate_simple(1, one, NULL);
    H5Dwrite(d, type, mem, space, H5P_DEFAULT, &value);
    H5Sclose(mem);
    H5Tclose(type);
    H5Sclose(space);
    H5Dclose(d);
}

static void bad_status(hid_t file) {
    rewrite_string(file, "status", "bogus");
}
static void bad_id(hid_t file) {
    rewrite_string(file, "id", "0123");
}
static void drop_seed(hid_t file) {
    H5Ldelete(file, "table/seed", H5P_DEFAULT);
}
static void short_metrics(hid_t file) {
    H5Ldelete(file, "table/metrics", H5P_DEFAULT);
    hsize_t dims[2] = {4, 4};
    hid_t space = H5Screate_simple(2, dims, NULL);
    hid_t d = H5Dcreate2(file, "table/metrics", H5T_IEEE_F64LE, space, H5P_DEFAULT, H5P_DEFAULT,
                         H5P_DEFAULT);
    H5Dclose(d);
    H5Sclose(space);
}
static void shuffled_index(hid_t file) {
    int index[5] = {0, 2, 1, 3, 4};
    hid_t d = H5Dopen2(file, "table/index", H5P_DEFAULT);
    H5Dwrite(d, H5T_NATIVE_INT, H5S_ALL, H5S_ALL, H5P_DEFAULT, index);
    H5Dclose(d);
}

static void test_corrupt(void) {
    char run_dir[512], err[512], path[600];
    run_dir_for("corrupt", run_dir);
    snprintf(path, sizeof(path), "%s/sweep.h5", run_dir);
    SweepTable *back = NULL;
    CHECK(sweep_store_read(run_dir, &back, err, sizeof(err)) == 0 && !back,
          "no sweep.h5: a fresh run folder, not an error");

    SweepTable *t = build_state(5, 3);
    sweep_store_write(t, run_dir, err, sizeof(err));
    size_t size = 0;
    char *good = read_file(path, &size);
    write_bytes(path, good, size / 3);
    int rc = sweep_store_read(run_dir, &back, err, sizeof(err));
    CHECK(rc == -1 && !back && strstr(err, path) && strstr(err, "not a readable HDF5 file"),
          "truncated sweep.h5: rc %d, '%s'", rc, err);
    printf("truncated sweep.h5: %s\n", err);
    write_bytes(path, "model = \"tinychat\";\n", 20);
    rc = sweep_store_read(run_dir, &back, err, sizeof(err));
    CHECK(rc == -1 && strstr(err, path) && strstr(err, "not a readable HDF5 file"),
          "a text file as sweep.h5: rc %d, '%s'", rc, err);
    free(good);
    sweep_table_free(t);

    check_damaged(run_dir, set_format_version, "format_version is 2, expected 1");
    check_damaged(run_dir, change_config, "config_hash");
    check_damaged(run_dir, bad_status, "table/status[1] is \"bogus\"");
    check_damaged(run_dir, bad_id, "table/id[1] is \"0123\", expected 16 hex digits");
    check_damaged(run_dir, drop_seed, "dataset table/seed");
    check_damaged(run_dir, short_metrics, "table/metrics: shape [4, 4], expected [5, 4]");
    check_damaged(run_dir, shuffled_index, "table/index[1] is 2, expected 1");

    // A trial file is HDF5 but no sweep file.
    make_trial_file(run_dir, "0123456789abcdef", "0123456789abcdef", 1, true);
    char trial[700];
    snprintf(trial, sizeof(trial), "%s/trials/0123456789abcdef.h5", run_dir);
    rename(trial, path);
    rc = sweep_store_read(run_dir, &back, err, sizeof(err));
    CHECK(rc == -1 && strstr(err, path) && strstr(err, "n_trials"),
          "a trial file as sweep.h5: rc %d, '%s'", rc, err);
}

static void test_config_check(void) {
    char err[512];
    SweepTable *t = sweep_table_new("c", "0.1.0", "a = 1;\nb = 2;\nc = 3;\n", 0);
    CHECK(sweep_store_check_config(t, "a = 1;\nb = 2;\nc = 3;\n", "runs/c", "c.cfg", err,
                                   sizeof(err)) == 0,
          "the same config");
    CHECK(sweep_store_check_config(t, "a = 1;\nb = 2;\nc = 4;\n", "runs/c", "c.cfg", err,
                                   sizeof(err)) == -1,
          "a changed value");
    CHECK(!strcmp(err, "runs/c/sweep.h5 was written for another sweep config than c.cfg: line 3 "
                       "is \"c = 3;\" in the stored config, \"c = 4;\" in c.cfg"),
          "message: %s", err);
    CHECK(sweep_store_check_config(t, "a = 1;\nb = 2;\nc = 3;\nd = 4;\n", "runs/c", "c.cfg", err,
                                   sizeof(err)) == -1 &&
              strstr(err, "line 4 is the end of the file in the stored config, \"d = 4;\""),
          "an added line: %s", err);
    sweep_table_free(t);
}

static void test_resume_and_rescue(void) {
    char run_dir[512], err[512], path[700];
    run_dir_for("resume", run_dir);
    // Rows: 0 done with its file, 1 done but its file gone, 2 running (a .tmp), 3 failed (a
    // .tmp), 4 done with its file, 5 running (killed before its file was made).
    SweepTable *old = build_state(6, 5);
    sweep_table_start(old, 2, "node01", 1, "cpu", 1.8e9);
    snprintf(old->created, sizeof(old->created), "2024-12-31T23:59:59Z");
    for (int i = 0; i < 6; i++) {
        const char *id = old->rows[i].id;
        if (i == 0 || i == 4) make_trial_file(run_dir, id, id, (long long)seed_of(i), true);
        if (i == 2 || i == 3) make_trial_file(run_dir, id, id, (long long)seed_of(i), false);
    }
    CHECK(sweep_store_write(old, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    check_with_h5py(old, run_dir); // links of rows 0, 4 resolve; row 1's dangles

    // The external links, followed from another working directory.
    char cwd[4096], sweep_path[600];
    snprintf(sweep_path, sizeof(sweep_path), "%s/sweep.h5", run_dir);
    bool moved = getcwd(cwd, sizeof(cwd)) && chdir("/") == 0;
    hid_t file = H5Fopen(sweep_path, H5F_ACC_RDONLY, H5P_DEFAULT);
    for (int i = 0; i < 6; i++) {
        snprintf(path, sizeof(path), "trials/%s", old->rows[i].id);
        bool linked = H5Lexists(file, path, H5P_DEFAULT) > 0;
        CHECK(linked == (old->rows[i].status == SWEEP_DONE), "link of row %d", i);
        if (i != 0 && i != 4) continue;
        hid_t trial = H5Oopen(file, path, H5P_DEFAULT);
        char *trial_id = trial < 0 ? NULL : read_string_attr(trial, "trial_id");
        CHECK(trial_id && strcmp(trial_id, old->rows[i].id) == 0,
              "trial_id of row %d through its link", i);
        free(trial_id);
        if (trial >= 0) H5Oclose(trial);
    }
    H5Fclose(file);
    CHECK(moved && chdir(cwd) == 0, "changing the working directory");

    // Resume: the config expands to the same six trials and one more.
    SweepTable *stored = read_back(run_dir, err, sizeof(err)), *fresh = build_plan(7);
    int carried = stored ? sweep_table_resume(fresh, stored, run_dir, err, sizeof(err)) : -1;
    CHECK(carried == 2, "resume carried %d trials, expected 2 (%s)", carried, err);
    SweepTable *want = build_plan(7);
    snprintf(want->created, sizeof(want->created), "2024-12-31T23:59:59Z");
    sweep_table_copy_outcome(want, 0, old, 0);
    sweep_table_copy_outcome(want, 4, old, 4);
    check_tables_equal(fresh, want, "the resumed table");
    for (int i = 2; i <= 3; i++) {
        snprintf(path, sizeof(path), "%s/trials/%s.h5.tmp", run_dir, old->rows[i].id);
        CHECK(!exists(path), "the .tmp of row %d is gone", i);
    }
    CHECK(sweep_store_remove_stale_trial(run_dir, old->rows[5].id, err, sizeof(err)) == 0,
          "removing a .tmp that is not there");

    // The rescue: sweep.h5 is lost. A stray unfinished file, a foreign file and a file whose
    // trial_id does not match its name are no finished trials.
    unlink(sweep_path);
    make_trial_file(run_dir, old->rows[5].id, old->rows[5].id, 5, false);
    make_trial_file(run_dir, "00000000000000aa", "00000000000000bb", 5, true);
    snprintf(path, sizeof(path), "%s/trials/notes.txt", run_dir);
    write_bytes(path, "hello", 5);
    snprintf(path, sizeof(path), "%s/trials/00000000000000ff.h5", run_dir);
    write_bytes(path, "not hdf5", 8);
    SweepTable *scanned = sweep_store_scan_trials(run_dir, err, sizeof(err));
    CHECK(scanned && scanned->n_trials == 2, "scan found %d finished trials, expected 2 (%s)",
          scanned ? scanned->n_trials : -1, err);
    if (scanned && scanned->n_trials == 2) {
        int first = strcmp(old->rows[0].id, old->rows[4].id) < 0 ? 0 : 4;
        for (int k = 0; k < 2; k++) {
            const SweepRow *r = &scanned->rows[k];
            int i = k == 0 ? first : 4 - first;
            double now = (double)time(NULL);
            CHECK(!strcmp(r->id, old->rows[i].id) && r->status == SWEEP_DONE &&
                      r->seed == seed_of(i) && r->rank == 2 && r->repeat == -1 &&
                      !strcmp(r->host, "node03") && !strcmp(r->device, "cuda:1 NVIDIA H100") &&
                      fabs(r->start_time - now) < 120 && r->end_time >= r->start_time &&
                      r->seconds == r->end_time - r->start_time,
                  "scanned row %d (%s)", k, r->id);
        }
        sweep_table_free(fresh);
        fresh = build_plan(7);
        carried = sweep_table_resume(fresh, scanned, run_dir, err, sizeof(err));
        CHECK(carried == 2 && fresh->rows[0].status == SWEEP_DONE &&
                  fresh->rows[4].status == SWEEP_DONE && fresh->rows[1].status == SWEEP_PENDING &&
                  !strcmp(fresh->created, scanned->created),
              "resume from the rescue carried %d", carried);
    }
    snprintf(path, sizeof(path), "%s/trials/%s.h5.tmp", run_dir, old->rows[5].id);
    CHECK(!exists(path), "the rescue's resume removed the stray .tmp");
    char empty_run[600];
    snprintf(empty_run, sizeof(empty_run), "%s/never_started", dir);
    mkdir(empty_run, 0755);
    SweepTable *none = sweep_store_scan_trials(empty_run, err, sizeof(err));
    CHECK(none && none->n_trials == 0, "a run folder without trials/ scans to no trials");
    sweep_table_free(none);
    sweep_table_free(scanned);
    sweep_table_free(want);
    sweep_table_free(fresh);
    sweep_table_free(stored);
    sweep_table_free(old);
}

// The writer the kill test kills: continues the deterministic sweep from what sweep.h5 says,
// updating sweep.h5 after every trial as rank 0 does, until all n trials are done.
static void writer_child(const char *run_dir, int n) {
    char err[512];
    SweepTable *t = NULL;
    int k = sweep_store_read(run_dir, &t, err, sizeof(err)) == 1 ? count_finished(t) : 0;
    sweep_table_free(t);
    t = build_state(n, k);
    while (sweep_store_write(t, run_dir, err, sizeof(err)) == 0 && k < n) {
        finish_trial(t, k++);
        if (k < n) sweep_table_start(t, k, "node09", 2, "cpu", 1.8e9);
    }
    _exit(k == n ? 0 : 1);
}

static void test_kill(void) {
    enum { N = 200 };
    char run_dir[512], err[512], tmp[600];
    run_dir_for("kill", run_dir);
    snprintf(tmp, sizeof(tmp), "%s/sweep.h5.tmp", run_dir);
    srand(20250101);
    int last_k = -1, torn_tmp_left = 0, bad = 0;
    for (int round = 0; round < N_KILLS; round++) {
        pid_t pid = fork();
        if (pid == 0) writer_child(run_dir, N);
        // Odd rounds aim at an update in flight (the .tmp exists), even ones at any moment.
        if (round % 2) {
            usleep(1000 + (useconds_t)(rand() % 20000));
            for (int spin = 0; spin < 200000 && !exists(tmp); spin++) usleep(10);
        } else {
            usleep(5000 + (useconds_t)(rand() % 75000));
        }
        kill(pid, SIGKILL);
        int status;
        waitpid(pid, &status, 0);
        torn_tmp_left += exists(tmp);
        SweepTable *t = NULL;
        int rc = sweep_store_read(run_dir, &t, err, sizeof(err));
        if (rc == 0 && last_k < 0) continue; // killed before its first update
        int k = rc == 1 ? count_finished(t) : -1;
        SweepTable *want = k >= 0 ? build_state(N, k) : NULL;
        char why[256] = "unreadable";
        bool same = want && tables_equal(t, want, why, sizeof(why));
        if (!same || k < last_k) bad++;
        CHECK(same && k >= last_k,
              "kill %d: sweep.h5 (rc %d, %s) is not a state the writer "
              "passed (k %d after %d): %s",
              round, rc, err, k, last_k, why);
        last_k = k;
        sweep_table_free(want);
        sweep_table_free(t);
    }
    printf("%d SIGKILLs: every sweep.h5 whole and an earlier state (%d bad); %d finished trials "
           "kept; %d kills left a torn sweep.h5.tmp\n",
           N_KILLS, bad, last_k, torn_tmp_left);
    CHECK(torn_tmp_left > 0, "no kill landed inside an update: the test proved nothing");
    CHECK(last_k > 0, "the writer never got past its first trial");
}

static double seconds_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

// The cost of an update at the end of a 1000-trial sweep with 20 metrics per trial.
static void test_timing(void) {
    char run_dir[512], err[512], path[600];
    run_dir_for("timing", run_dir);
    SweepTable *t = build_state(N_TIMING, N_TIMING);
    for (int i = 0; i < N_TIMING; i++) {
        char names[16][48];
        const char *name_ptrs[16];
        double values[16];
        for (int k = 0; k < 16; k++) {
            snprintf(names[k], sizeof(names[k]), "%s.set%d.rate", k % 2 ? "edited" : "base", k / 2);
            name_ptrs[k] = names[k];
            values[k] = (i * 16 + k) / 7.0;
        }
        sweep_table_set_metrics(t, i, name_ptrs, values, 16);
    }
    enum { REPEATS = 10 };
    double start = seconds_now();
    bool ok = true;
    for (int r = 0; r < REPEATS; r++)
        ok = ok && sweep_store_write(t, run_dir, err, sizeof(err)) == 0;
    double write_ms = (seconds_now() - start) * 1e3 / REPEATS;
    CHECK(ok, "timed writes: %s", err);
    start = seconds_now();
    SweepTable *back = read_back(run_dir, err, sizeof(err));
    double read_ms = (seconds_now() - start) * 1e3;
    check_tables_equal(back, t, "1000-trial table");
    struct stat st = {0};
    snprintf(path, sizeof(path), "%s/sweep.h5", run_dir);
    stat(path, &st);
    int links = 0;
    for (int i = 0; i < N_TIMING; i++) links += t->rows[i].status == SWEEP_DONE;
    printf("sweep.h5 of %d trials (%d metrics, %d links, %lld KiB): update %.1f ms "
           "(build, write, fsync, rename), read %.1f ms\n",
           N_TIMING, t->n_metrics, links, (long long)st.st_size / 1024, write_ms, read_ms);
    CHECK(write_ms < 2000, "an update takes %.0f ms", write_ms);
    sweep_table_free(back);
    sweep_table_free(t);
}

// The raw config bytes 0xE9 ("caf\xE9" in Latin-1) become U+FFFD in sweep.h5.
static const char latin1_config[] = "# caf\xE9\na = 1;\n",
                  stored_config[] = "# caf\xEF\xBF\xBD\na = 1;\n";

static void write_latin1_hash(hid_t file) {
    char hash[17];
    fnv1a_hex(latin1_config, hash); // what are wrote before it hashed the stored text
    const char *value = hash;
    hid_t attr = H5Aopen(file, "config_hash", H5P_DEFAULT), type = utf8_type();
    H5Awrite(attr, type, &value);
    H5Tclose(type);
    H5Aclose(attr);
}

// A config that is not UTF-8 (a Latin-1 comment, a --set value): sweep.h5 keeps its text with
// U+FFFD and its hash is of that text, so the file reads back and the same config matches it.
// A folder written when the hash was of the raw bytes reads too.
static void test_invalid_utf8_config(void) {
    char run_dir[512], err[512], hash[17];
    run_dir_for("latin1", run_dir);
    SweepTable *t = sweep_table_new("latin1", "0.1.0", latin1_config, 0);
    CHECK(sweep_store_write(t, run_dir, err, sizeof(err)) == 0, "write: %s", err);
    SweepTable *back = NULL;
    CHECK(sweep_store_read(run_dir, &back, err, sizeof(err)) == 1, "read: %s", err);
    if (back) {
        CHECK(!strcmp(back->config_text, stored_config), "stored text: %s", back->config_text);
        CHECK(sweep_store_check_config(back, latin1_config, run_dir, "l.cfg", err, sizeof(err)) ==
                  0,
              "the same bytes match what was stored: %s", err);
        CHECK(sweep_store_check_config(back, "# cafe\na = 1;\n", run_dir, "l.cfg", err,
                                       sizeof(err)) == -1,
              "other text does not match");
    }
    char path[600];
    snprintf(path, sizeof(path), "%s/sweep.h5", run_dir);
    hid_t file = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    char *stored_hash = read_string_attr(file, "config_hash");
    H5Fclose(file);
    fnv1a_hex(stored_config, hash);
    CHECK(stored_hash && !strcmp(stored_hash, hash), "config_hash %s is of the stored text, %s",
          stored_hash ? stored_hash : "(none)", hash);
    free(stored_hash);
    sweep_table_free(back);

    file = H5Fopen(path, H5F_ACC_RDWR, H5P_DEFAULT);
    write_latin1_hash(file);
    H5Fclose(file);
    back = NULL;
    CHECK(sweep_store_read(run_dir, &back, err, sizeof(err)) == 1,
          "a folder whose hash is of the raw bytes still opens: %s", err);
    sweep_table_free(back);
    sweep_table_free(t);
}

// Removing a row keeps every other row whole, its metrics with it.
static void test_remove_row(void) {
    SweepTable *t = build_state(5, 3), *want = build_state(5, 3);
    sweep_table_remove(t, 1);
    bool same = t->n_trials == 4;
    for (int i = 0; same && i < 4; i++) {
        int j = i < 1 ? i : i + 1; // the row of want that row i of t was
        same = !strcmp(t->rows[i].id, want->rows[j].id) &&
               !strcmp(t->rows[i].params, want->rows[j].params) &&
               t->rows[i].status == want->rows[j].status;
        for (int k = 0; same && k < t->n_metrics; k++)
            same = same_double(t->metrics[i * t->n_metrics + k],
                               want->metrics[j * want->n_metrics + k]);
    }
    CHECK(same, "row 1 removed: the others are not what they were");
    sweep_table_remove(t, 3);
    sweep_table_remove(t, 0);
    CHECK(t->n_trials == 2 && !strcmp(t->rows[0].id, want->rows[2].id), "first and last removed");
    sweep_table_free(t);
    sweep_table_free(want);
}

int main(void) {
    const char *source = getenv("ARE_SOURCE_DIR");
    if (source) {
        snprintf(python, sizeof(python), "%s/.venv-ref/bin/python", source);
        char command[4200];
        snprintf(command, sizeof(command), "'%s' -c 'import h5py' > /dev/null 2>&1", python);
        if (access(python, X_OK) != 0 || system(command) != 0) python[0] = '\0';
    }
    if (!mkdtemp(dir)) {
        perror(dir);
        return 2;
    }
    char hash[17];
    fnv1a_hex("a", hash);
    CHECK(!strcmp(hash, "af63dc4c8601ec8c"), "FNV-1a test vector: %s", hash);
    test_round_trip();
    test_metric_union();
    test_status_updates();
    test_atomic_replace();
    test_corrupt();
    test_config_check();
    test_invalid_utf8_config();
    test_remove_row();
    test_resume_and_rescue();
    test_kill();
    test_timing();
    char command[4200];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
