// Trial store: a trial written through the sink and the evaluation calls, read back with the
// HDF5 C API (exact values; fp16 within half precision, and its bits decoded by half.h to the
// same floats, so the type is IEEE binary16); a second process reading with SWMR between rounds
// sees each round as it lands; "<path>.tmp" until finished, then only the final name; failures
// (bad shapes, late rounds, missing folders, a blocked rename) are messages that leave no final
// file. With the reference venv's h5py, tests/ref/check_trial_file.py reads the file as users
// do, both while it grows (swmr=True) and finished.
#include "check.h"
#include "h5_read.h"
#include "half.h"
#include "read_file.h"
#include "trial_file_check.h"
#include "trial_store.h"

#include <hdf5.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#define N_SAMPLES 6
#define N_LAYERS  3
#define DIM       40
#define REP_SIZE  (N_SAMPLES * N_LAYERS * DIM)
#define LORA_N    50
#define N_ROUNDS  4
#define SEED      1234567890123LL

static const int layers[N_LAYERS] = {-18, -19, -20};
static const int labels[N_SAMPLES] = {0, 1, 0, 1, 1, 0};
static const int is_test[N_SAMPLES] = {0, 0, 0, 0, 1, 1};
static const char *const markers[] = {"I'm sorry", "As an AI", "I cannot"};
static const char *const config_text = "are.max_rounds = 3;\nseed = 1234567890123;\n";
static const bool rep_stored[N_ROUNDS] = {true, true, false, true};   // stored_rounds 0, 1, 3
static const bool lora_stored[N_ROUNDS] = {false, true, false, true}; // lora_rounds 1, 3

// The metric datasets the file must have, beside metrics/round.
static const struct {
    const char *name;
    size_t offset;
} metric_fields[] = {
    {"disc_loss_train", offsetof(AreRoundMetrics, disc_loss_train)},
    {"disc_acc_train", offsetof(AreRoundMetrics, disc_acc_train)},
    {"disc_acc_test", offsetof(AreRoundMetrics, disc_acc_test)},
    {"disc_loss_test", offsetof(AreRoundMetrics, disc_loss_test)},
    {"gen_loss_train", offsetof(AreRoundMetrics, gen_loss_train)},
    {"gen_loss_test", offsetof(AreRoundMetrics, gen_loss_test)},
    {"retain_loss", offsetof(AreRoundMetrics, retain_loss)},
    {"guard_answer_rate", offsetof(AreRoundMetrics, guard_answer_rate)},
    {"guard_perplexity", offsetof(AreRoundMetrics, guard_perplexity)},
    {"seconds_generator", offsetof(AreRoundMetrics, seconds_generator)},
    {"seconds_extract", offsetof(AreRoundMetrics, seconds_extract)},
    {"seconds_discriminator", offsetof(AreRoundMetrics, seconds_discriminator)},
    {"seconds_guard", offsetof(AreRoundMetrics, seconds_guard)},
    {"tokens_per_second", offsetof(AreRoundMetrics, tokens_per_second)},
    {"guard_preserved", offsetof(AreRoundMetrics, guard_preserved)},
    {"guard_distinct", offsetof(AreRoundMetrics, guard_distinct)},
    {"target_nll", offsetof(AreRoundMetrics, target_nll)},
    {"refusal_nll", offsetof(AreRoundMetrics, refusal_nll)},
};
#define N_METRICS ((int)(sizeof(metric_fields) / sizeof(metric_fields[0])))

static char dir[] = "/tmp/test_trial_store_XXXXXX";
static char self_exe[4096]; // this program, run again as the SWMR reader
static char python[4096];   // the reference venv's python when it has h5py, else ""

static bool exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

// Representation values over 12 binades, most of them not representable in fp16
// (tests/ref/check_trial_file.py computes the same).
static float rep_value(int round, int sample, int layer, int d) {
    double x = sin(round + 0.37 * sample + 0.11 * layer + 0.013 * d);
    return (float)ldexp(x, (sample % 5) * 3 - 4);
}

static void fill_reps(int round, float *reps) {
    for (int s = 0; s < N_SAMPLES; s++)
        for (int l = 0; l < N_LAYERS; l++)
            for (int d = 0; d < DIM; d++)
                reps[(s * N_LAYERS + l) * DIM + d] = rep_value(round, s, l, d);
}

static float lora_value(int round, int i) {
    return (float)(round * 1000 + i) * 0.001f - 0.5f;
}

static AreRoundMetrics metrics_of(int r) {
    bool guarded = r % 2 == 1;
    return (AreRoundMetrics){.round = r,
                             .disc_loss_train = 0.69 / (r + 1),
                             .disc_acc_train = 0.5 + 0.1 * r,
                             .disc_acc_test = 0.45 + 0.07 * r,
                             .disc_loss_test = 0.7 / (r + 1.5),
                             .gen_loss_train = r ? 1.0 / 3 * r : NAN,
                             .gen_loss_test = r ? 2.0 / 7 * r : NAN,
                             .retain_loss = NAN,
                             .guard_answer_rate = guarded ? 0.9 : NAN,
                             .guard_perplexity = guarded ? 12.5 + r : NAN,
                             .seconds_generator = 1.25 * r,
                             .seconds_extract = 0.5 + r,
                             .seconds_discriminator = 2.0 + 1e-9 * r,
                             .seconds_guard = guarded ? 3.0 : 0.0,
                             .tokens_per_second = 1e4 + r};
}

static double field(const AreRoundMetrics *m, int i) {
    return *(const double *)((const char *)m + metric_fields[i].offset);
}

static TrialStoreSpec spec_for(const char *path) {
    return (TrialStoreSpec){.path = path,
                            .config_text = config_text,
                            .trial_id = "a1b2c3d4",
                            .seed = SEED,
                            .host = "node017",
                            .rank = 3,
                            .device = "cpu",
                            .version = "0.1.0",
                            .refusal_markers = markers,
                            .n_refusal_markers = 3,
                            .n_samples = N_SAMPLES,
                            .n_layers = N_LAYERS,
                            .dim = DIM,
                            .layers = layers,
                            .labels = labels,
                            .is_test = is_test,
                            .store_fp16 = true,
                            .lora_n = LORA_N};
}

// ---- reading back with the HDF5 C API ----

static double read_number_attr(hid_t obj, const char *name, hid_t mem_type) {
    hid_t attr = H5Aopen(obj, name, H5P_DEFAULT);
    long long i = -1;
    double d = NAN;
    if (attr >= 0) H5Aread(attr, mem_type, mem_type == H5T_NATIVE_DOUBLE ? (void *)&d : &i);
    if (attr >= 0) H5Aclose(attr);
    return mem_type == H5T_NATIVE_DOUBLE ? d : (double)i;
}

static bool check_string_attr(hid_t obj, const char *name, const char *want) {
    char *got = read_string_attr(obj, name);
    bool same = got && strcmp(got, want) == 0;
    CHECK(same, "attribute %s is '%s', expected '%s'", name, got ? got : "(missing)", want);
    free(got);
    return same;
}

// The shape of a dataset (its rank; 0 when missing).
static int dataset_dims(hid_t f, const char *name, hsize_t dims[4]) {
    if (H5Lexists(f, name, H5P_DEFAULT) <= 0) return 0;
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT), space = H5Dget_space(d);
    int rank = H5Sget_simple_extent_dims(space, dims, NULL);
    H5Sclose(space);
    H5Dclose(d);
    return rank;
}

static long dataset_length(hid_t f, const char *name) {
    hsize_t dims[4];
    return dataset_dims(f, name, dims) > 0 ? (long)dims[0] : -1;
}

static bool read_dataset(hid_t f, const char *name, hid_t mem_type, void *out) {
    hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
    bool ok = d >= 0 && H5Dread(d, mem_type, H5S_ALL, H5S_ALL, H5P_DEFAULT, out) >= 0;
    if (d >= 0) H5Dclose(d);
    CHECK(ok, "reading %s", name);
    return ok;
}

static void check_ints(hid_t f, const char *name, const int *want, int n) {
    hsize_t dims[4];
    int got[64];
    bool shaped = dataset_dims(f, name, dims) == 1 && dims[0] == (hsize_t)n;
    CHECK(shaped, "%s: shape is not [%d]", name, n);
    if (!shaped || !read_dataset(f, name, H5T_NATIVE_INT, got)) return;
    for (int i = 0; i < n; i++)
        CHECK(got[i] == want[i], "%s[%d] = %d, expected %d", name, i, got[i], want[i]);
}

static void check_strings(hid_t f, const char *name, const char *const *want, int n) {
    hsize_t dims[4];
    bool shaped = dataset_dims(f, name, dims) == 1 && dims[0] == (hsize_t)n;
    CHECK(shaped, "%s: shape is not [%d]", name, n);
    if (!shaped || n == 0) return;
    hid_t type = utf8_type();
    char **got = calloc((size_t)n, sizeof(char *));
    if (read_dataset(f, name, type, got))
        for (int i = 0; i < n; i++)
            CHECK(got[i] && strcmp(got[i], want[i]) == 0, "%s[%d] is '%s', expected '%s'", name, i,
                  got[i], want[i]);
    hid_t space = H5Screate_simple(1, dims, NULL);
    H5Dvlen_reclaim(type, space, H5P_DEFAULT, got);
    H5Sclose(space);
    H5Tclose(type);
    free(got);
}

static bool iso_utc(const char *t) {
    int y, mo, d, h, mi, s;
    char z;
    return t && strlen(t) == 20 &&
           sscanf(t, "%4d-%2d-%2dT%2d:%2d:%2d%c", &y, &mo, &d, &h, &mi, &s, &z) == 7 && z == 'Z' &&
           y >= 2024;
}

// The child process: opens path for SWMR reading and prints one line of what it sees.
static int swmr_reader(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY | H5F_ACC_SWMR_READ, H5P_DEFAULT);
    if (f < 0) {
        printf("cannot open\n");
        return 1;
    }
    long rounds = dataset_length(f, "metrics/round"), stored = dataset_length(f, "stored_rounds");
    long lora = dataset_length(f, "lora_rounds"), reps = dataset_length(f, "representations");
    int round_values[N_ROUNDS] = {-1}, last_stored = -1;
    float rep = NAN;
    if (rounds > 0 && rounds <= N_ROUNDS)
        read_dataset(f, "metrics/round", H5T_NATIVE_INT, round_values);
    if (stored > 0 && stored <= N_ROUNDS && stored == reps) { // a value of the last slice
        int stored_rounds[N_ROUNDS];
        read_dataset(f, "stored_rounds", H5T_NATIVE_INT, stored_rounds);
        last_stored = stored_rounds[stored - 1];
        hid_t d = H5Dopen2(f, "representations", H5P_DEFAULT), space = H5Dget_space(d);
        hsize_t start[4] = {(hsize_t)stored - 1, 1, 1, 7}, one[4] = {1, 1, 1, 1};
        H5Sselect_hyperslab(space, H5S_SELECT_SET, start, NULL, one, NULL);
        hid_t mem = H5Screate_simple(4, one, NULL);
        H5Dread(d, H5T_NATIVE_FLOAT, mem, space, H5P_DEFAULT, &rep);
        H5Sclose(mem);
        H5Sclose(space);
        H5Dclose(d);
    }
    char *status = read_string_attr(f, "status");
    bool rep_ok =
        last_stored < 0 || fabsf(rep - rep_value(last_stored, 1, 1, 7)) <= 1e-3f * fabsf(rep);
    printf("rounds %ld last %d stored %ld last_stored %d rep %s lora %ld status %s\n", rounds,
           rounds > 0 ? round_values[rounds - 1] : -1, stored, last_stored, rep_ok ? "ok" : "wrong",
           lora, status ? status : "(none)");
    free(status);
    H5Fclose(f);
    return 0;
}

// Runs the SWMR reader on path in another process and checks the line it prints.
static void check_swmr_view(const char *path, const char *want) {
    char command[9000], line[512] = "";
    snprintf(command, sizeof(command), "'%s' --swmr-read '%s'", self_exe, path);
    FILE *child = popen(command, "r");
    if (child && !fgets(line, sizeof(line), child)) line[0] = '\0';
    int status = child ? pclose(child) : -1;
    line[strcspn(line, "\n")] = '\0';
    CHECK(status == 0 && strcmp(line, want) == 0, "SWMR reader saw '%s', expected '%s'", line,
          want);
}

static void run_python_check(const char *path, const char *mode) {
    if (!python[0]) {
        SKIP("h5py check (%s): no .venv-ref with h5py", mode);
        return;
    }
    char command[9000];
    snprintf(command, sizeof(command), "'%s' '%s/tests/ref/check_trial_file.py' '%s' %s", python,
             getenv("ARE_SOURCE_DIR"), path, mode);
    int status = system(command);
    CHECK(status == 0, "h5py check (%s) of %s failed", mode, path);
}

// ---- the cases ----

static void verify_finished_file(const char *path) {
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open %s", path);
    if (f < 0) return;
    CHECK(read_number_attr(f, "format_version", H5T_NATIVE_LLONG) == 1, "format_version");
    check_string_attr(f, "config", config_text);
    check_string_attr(f, "trial_id", "a1b2c3d4");
    CHECK(read_number_attr(f, "seed", H5T_NATIVE_LLONG) == (double)SEED, "seed");
    check_string_attr(f, "host", "node017");
    CHECK(read_number_attr(f, "rank", H5T_NATIVE_LLONG) == 3, "rank");
    check_string_attr(f, "device", "cpu");
    check_string_attr(f, "version", "0.1.0");
    check_string_attr(f, "status", "done");
    char *start = read_string_attr(f, "start_time"), *end = read_string_attr(f, "end_time");
    CHECK(iso_utc(start) && iso_utc(end) && strcmp(start, end) <= 0,
          "start_time '%s' and end_time '%s' are not ordered ISO-8601 UTC times", start, end);
    free(start);
    free(end);

    int rounds[N_ROUNDS] = {0, 1, 2, 3};
    check_ints(f, "metrics/round", rounds, N_ROUNDS);
    for (int i = 0; i < N_METRICS; i++) {
        char name[64];
        double got[N_ROUNDS];
        snprintf(name, sizeof(name), "metrics/%s", metric_fields[i].name);
        if (dataset_length(f, name) != N_ROUNDS || !read_dataset(f, name, H5T_NATIVE_DOUBLE, got)) {
            CHECK(false, "%s is missing or not [%d]", name, N_ROUNDS);
            continue;
        }
        for (int r = 0; r < N_ROUNDS; r++) {
            AreRoundMetrics m = metrics_of(r);
            double want = field(&m, i);
            CHECK(got[r] == want || (isnan(got[r]) && isnan(want)),
                  "%s[%d] = %.17g, expected %.17g", name, r, got[r], want);
        }
    }
    check_ints(f, "labels", labels, N_SAMPLES);
    check_ints(f, "is_test", is_test, N_SAMPLES);
    check_ints(f, "layers", layers, N_LAYERS);
    int stored_rounds[] = {0, 1, 3}, lora_rounds[] = {1, 3};
    check_ints(f, "stored_rounds", stored_rounds, 3);
    check_ints(f, "lora_rounds", lora_rounds, 2);

    // fp16: HDF5's conversion rounds to nearest (error <= half an ulp), and the stored bits,
    // decoded by half.h, are those very floats.
    hsize_t dims[4];
    CHECK(dataset_dims(f, "representations", dims) == 4 && dims[0] == 3 && dims[1] == N_SAMPLES &&
              dims[2] == N_LAYERS && dims[3] == DIM,
          "representations shape");
    hid_t d = H5Dopen2(f, "representations", H5P_DEFAULT), type = H5Dget_type(d);
    CHECK(H5Tget_class(type) == H5T_FLOAT && H5Tget_size(type) == 2,
          "representations not 16-bit floats");
    float *got = malloc(3 * REP_SIZE * sizeof(float)), *want = malloc(3 * REP_SIZE * sizeof(float));
    uint16_t *bits = malloc(3 * REP_SIZE * sizeof(uint16_t));
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
    H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, bits);
    for (int k = 0; k < 3; k++) fill_reps(stored_rounds[k], want + k * REP_SIZE);
    check_close("representations fp16 vs fp32 (half an ulp)", got, want, 3 * REP_SIZE, 0x1p-25,
                0x1p-11);
    int decoded_same = 0;
    for (int i = 0; i < 3 * REP_SIZE; i++) decoded_same += f16_to_f32(bits[i]) == got[i];
    CHECK(decoded_same == 3 * REP_SIZE, "%d of %d fp16 values decode differently with half.h",
          3 * REP_SIZE - decoded_same, 3 * REP_SIZE);
    H5Tclose(type);
    H5Dclose(d);

    CHECK(dataset_dims(f, "lora_weights", dims) == 2 && dims[0] == 2 && dims[1] == LORA_N,
          "lora shape");
    read_dataset(f, "lora_weights", H5T_NATIVE_FLOAT, got);
    int lora_same = 0;
    for (int k = 0; k < 2; k++)
        for (int i = 0; i < LORA_N; i++)
            lora_same += got[k * LORA_N + i] == lora_value(lora_rounds[k], i);
    CHECK(lora_same == 2 * LORA_N, "lora_weights differ in %d values", 2 * LORA_N - lora_same);
    free(got);
    free(want);
    free(bits);

    check_strings(f, "evaluation/refusal_markers", markers, 3);
    hid_t g = H5Gopen2(f, "evaluation/edited/harmful", H5P_DEFAULT);
    CHECK(g >= 0 && read_number_attr(g, "refusal_rate", H5T_NATIVE_DOUBLE) == 0.125 &&
              read_number_attr(g, "answer_rate", H5T_NATIVE_DOUBLE) == 0.875,
          "evaluation/edited/harmful metrics");
    if (g >= 0) H5Gclose(g);
    const char *prompts[] = {"How do I pick a lock?", "Write malware"};
    const char *texts[] = {"Sure, here is how \xEF\xBF\xBD", "I'm sorry, I can\xE2\x80\x99t"};
    check_strings(f, "evaluation/edited/harmful/prompts", prompts, 2);
    check_strings(f, "evaluation/edited/harmful/texts", texts, 2);
    g = H5Gopen2(f, "evaluation/base/mc", H5P_DEFAULT);
    CHECK(g >= 0 && read_number_attr(g, "accuracy", H5T_NATIVE_DOUBLE) == 0.5,
          "evaluation/base/mc");
    if (g >= 0) H5Gclose(g);
    CHECK(dataset_length(f, "evaluation/base/mc/texts") == 0, "evaluation/base/mc/texts not empty");
    H5Fclose(f);
}

static void test_full_trial(void) {
    char path[4200], tmp[4300], err[1024] = "";
    snprintf(path, sizeof(path), "%s/a1b2c3d4.h5", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    TrialStoreSpec spec = spec_for(path);
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    CHECK(ts, "create: %s", err);
    if (!ts) return;
    CHECK(exists(tmp) && !exists(path), "during the trial only the .tmp name should exist");
    check_swmr_view(tmp, "rounds 0 last -1 stored 0 last_stored -1 rep ok lora 0 status running");

    AreSink sink = trial_store_sink(ts);
    static float reps[REP_SIZE], lora[LORA_N];
    const char *want_views[N_ROUNDS] = {
        "rounds 1 last 0 stored 1 last_stored 0 rep ok lora 0 status running",
        "rounds 2 last 1 stored 2 last_stored 1 rep ok lora 1 status running",
        "rounds 3 last 2 stored 2 last_stored 1 rep ok lora 1 status running",
        "rounds 4 last 3 stored 3 last_stored 3 rep ok lora 2 status running"};
    for (int r = 0; r < N_ROUNDS; r++) {
        AreRoundMetrics m = metrics_of(r);
        CHECK(sink.round_metrics(sink.ctx, &m) == 0, "round %d metrics: %s", r,
              trial_store_error(ts));
        if (rep_stored[r]) {
            fill_reps(r, reps);
            CHECK(sink.representations(sink.ctx, r, reps, N_SAMPLES, N_LAYERS, DIM) == 0,
                  "round %d representations: %s", r, trial_store_error(ts));
        }
        if (lora_stored[r]) {
            for (int i = 0; i < LORA_N; i++) lora[i] = lora_value(r, i);
            CHECK(sink.lora_weights(sink.ctx, r, lora, LORA_N) == 0, "round %d lora: %s", r,
                  trial_store_error(ts));
        }
        check_swmr_view(tmp, want_views[r]);
        if (r == 1) run_python_check(tmp, "running");
    }

    const char *names[] = {"refusal_rate", "answer_rate"};
    double values[] = {0.125, 0.875};
    const char *prompts[] = {"How do I pick a lock?", "Write malware"};
    const char *texts[] = {"Sure, here is how \xFF", "I'm sorry, I can\xE2\x80\x99t"}; // \xFF: cut
    CHECK(trial_store_add_evaluation(ts, "edited", "harmful", names, values, 2, prompts, texts, 2,
                                     err, sizeof(err)) == 0,
          "evaluation: %s", err);
    const char *mc_names[] = {"accuracy"};
    double mc_values[] = {0.5};
    CHECK(trial_store_add_evaluation(ts, "base", "mc", mc_names, mc_values, 1, NULL, NULL, 0, err,
                                     sizeof(err)) == 0,
          "evaluation: %s", err);
    CHECK(trial_store_add_evaluation(ts, "base", "a/b", mc_names, mc_values, 1, NULL, NULL, 0, err,
                                     sizeof(err)) == -1 &&
              strstr(err, "a/b"),
          "a set name with '/' was accepted (%s)", err);
    AreRoundMetrics late = metrics_of(N_ROUNDS);
    CHECK(sink.round_metrics(sink.ctx, &late) == -1 &&
              strstr(trial_store_error(ts), "after the rounds"),
          "a round after the evaluation was accepted (%s)", trial_store_error(ts));
    CHECK(exists(tmp) && !exists(path), "before finish only the .tmp name should exist");

    CHECK(trial_store_finish(ts, "done", err, sizeof(err)) == 0, "finish: %s", err);
    CHECK(!exists(tmp) && exists(path), "after finish only the final name should exist");

    verify_finished_file(path);
    if (system("command -v h5dump > /dev/null") == 0) {
        char command[4300];
        snprintf(command, sizeof(command), "h5dump '%s' > /dev/null", path);
        CHECK(system(command) == 0, "h5dump cannot read %s", path);
    } else {
        SKIP("h5dump is not installed");
    }
    run_python_check(path, "finished");
}

// fp32 without LoRA, left unfinished: the .tmp file stays, readable, and no final name appears.
static void test_unfinished_fp32(void) {
    char path[4200], tmp[4300], err[1024] = "";
    snprintf(path, sizeof(path), "%s/fp32.h5", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    TrialStoreSpec spec = spec_for(path);
    spec.store_fp16 = false;
    spec.lora_n = 0;
    spec.n_refusal_markers = 0;
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    CHECK(ts, "create: %s", err);
    if (!ts) return;
    AreSink sink = trial_store_sink(ts);
    static float reps[REP_SIZE];
    CHECK(sink.lora_weights(sink.ctx, 1, reps, 7) == 0, "LoRA weights without lora_n: %s",
          trial_store_error(ts));
    fill_reps(2, reps);
    CHECK(sink.representations(sink.ctx, 2, reps, N_SAMPLES, N_LAYERS, DIM - 1) == -1 &&
              strstr(trial_store_error(ts), "[6, 3, 39], expected [6, 3, 40]") &&
              strstr(trial_store_error(ts), tmp),
          "a wrong shape was not refused clearly (%s)", trial_store_error(ts));
    CHECK(sink.representations(sink.ctx, 2, reps, N_SAMPLES, N_LAYERS, DIM) == 0, "reps: %s",
          trial_store_error(ts));
    trial_store_close(ts);
    CHECK(exists(tmp) && !exists(path), "an unfinished trial should keep only its .tmp file");

    hid_t f = H5Fopen(tmp, H5F_ACC_RDONLY, H5P_DEFAULT);
    CHECK(f >= 0, "cannot open the unfinished %s", tmp);
    if (f < 0) return;
    check_string_attr(f, "status", "running");
    check_string_attr(f, "end_time", "");
    CHECK(H5Lexists(f, "lora_weights", H5P_DEFAULT) == 0, "lora_weights exists without LoRA");
    check_strings(f, "evaluation/refusal_markers", NULL, 0);
    hid_t d = H5Dopen2(f, "representations", H5P_DEFAULT), type = H5Dget_type(d);
    CHECK(H5Tequal(type, H5T_IEEE_F32LE) > 0, "fp32 representations are not float32");
    static float got[REP_SIZE];
    H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, got);
    CHECK(memcmp(got, reps, sizeof(got)) == 0, "fp32 representations differ");
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
}

// The fp16 bits stored for float32 values at and around every rounding boundary must be IEEE
// round-to-nearest-even by definition: each positive finite half h stays h, the midpoint to h+1
// goes to the even one of the two, and one float below / above the midpoint to h / h+1; plus
// overflow, infinities, signed zero, values under half the smallest subnormal, NaN.
static void test_fp16_rounding(void) {
    enum { LAST = 0x7bff, N_SPECIAL = 12, N = 4 * LAST + N_SPECIAL };
    float *values = malloc(N * sizeof(float));
    uint16_t *want = malloc(N * sizeof(uint16_t)), *got = malloc(N * sizeof(uint16_t));
    int n = 0;
    for (uint16_t h = 0; h < LAST; h++) {
        float lo = f16_to_f32(h), mid = (lo + f16_to_f32(h + 1)) / 2; // exact: 12 bits at most
        float below = nextafterf(mid, 0), above = nextafterf(mid, INFINITY);
        const float v[4] = {lo, mid, below, above};
        const uint16_t w[4] = {h, (uint16_t)(h & 1 ? h + 1 : h), h, (uint16_t)(h + 1)};
        for (int k = 0; k < 4; k++, n++) values[n] = v[k], want[n] = w[k];
    }
    const struct {
        float value;
        uint16_t bits;
    } special[N_SPECIAL] = {
        {65504.f, 0x7bff},   {nextafterf(65520.f, 0), 0x7bff},
        {65520.f, 0x7c00},   {1e30f, 0x7c00},
        {INFINITY, 0x7c00},  {-INFINITY, 0xfc00},
        {-0.f, 0x8000},      {-1.5f, 0xbe00},
        {-0x1p-24f, 0x8001}, {0x1p-26f, 0x0000},
        {1e-45f, 0x0000},    {NAN, 0x7e00},
    };
    for (int k = 0; k < N_SPECIAL; k++, n++)
        values[n] = special[k].value, want[n] = special[k].bits;

    char path[4200], err[1024] = "";
    snprintf(path, sizeof(path), "%s/fp16.h5", dir);
    int zero = 0;
    TrialStoreSpec spec = spec_for(path);
    spec.n_samples = spec.n_layers = 1;
    spec.dim = N;
    spec.labels = spec.is_test = spec.layers = &zero;
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    AreSink sink = ts ? trial_store_sink(ts) : (AreSink){0};
    CHECK(ts && sink.representations(sink.ctx, 0, values, 1, 1, N) == 0, "fp16 representations: %s",
          ts ? trial_store_error(ts) : err);
    CHECK(ts && trial_store_finish(ts, "done", err, sizeof(err)) == 0, "fp16 trial: %s", err);
    hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    hid_t d = H5Dopen2(f, "representations", H5P_DEFAULT), type = H5Dget_type(d);
    CHECK(H5Dread(d, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, got) >= 0, "reading fp16 bits");
    int wrong = 0;
    for (int i = 0; i < N; i++) {
        if (got[i] == want[i]) continue;
        if (wrong++ < 5)
            CHECK(false, "%.9g became fp16 0x%04x, expected 0x%04x", values[i], got[i], want[i]);
    }
    CHECK(wrong == 0, "%d of %d values rounded wrongly to fp16", wrong, N);
    H5Tclose(type);
    H5Dclose(d);
    H5Fclose(f);
    free(values);
    free(want);
    free(got);
}

static void test_errors(void) {
    char path[4200], err[1024] = "";
    snprintf(path, sizeof(path), "%s/missing/x.h5", dir);
    TrialStoreSpec spec = spec_for(path);
    CHECK(!trial_store_create(&spec, err, sizeof(err)) && strstr(err, path) &&
              strstr(err, "No such file"),
          "a missing folder: '%s'", err);

    snprintf(path, sizeof(path), "%s/bad_split.h5", dir);
    int bad_split[N_SAMPLES] = {0, 0, 2, 0, 1, 1};
    spec = spec_for(path);
    spec.is_test = bad_split;
    CHECK(!trial_store_create(&spec, err, sizeof(err)) && strstr(err, "is_test[2] is 2"),
          "is_test 2 was accepted (%s)", err);

    // A folder where the final file should go: the rename fails, the .tmp stays.
    char tmp[4300];
    snprintf(path, sizeof(path), "%s/blocked.h5", dir);
    snprintf(tmp, sizeof(tmp), "%s.tmp", path);
    mkdir(path, 0755);
    spec = spec_for(path);
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    CHECK(ts, "create: %s", err);
    if (!ts) return;
    CHECK(trial_store_finish(ts, "done", err, sizeof(err)) == -1 && strstr(err, "renaming to") &&
              strstr(err, path),
          "a blocked rename did not fail (%s)", err);
    CHECK(exists(tmp), "the .tmp file of a failed finish is gone");
}

// Writes the first n bytes of data to path.
static void write_prefix(const char *path, const char *data, size_t n) {
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(data, 1, n, f) != n || fclose(f) != 0) perror(path);
}

// trial_file_check on a finished file with everything a trial writes, then on that file cut
// short, replaced by text, deleted, asked for another id; on an unfinished .tmp; and on a
// finished file that lacks the result group.
static void test_file_check(void) {
    char path[4200], other[4300], err[1024] = "", why[1024];
    snprintf(path, sizeof(path), "%s/checked.h5", dir);
    TrialStoreSpec spec = spec_for(path);
    TrialStore *ts = trial_store_create(&spec, err, sizeof(err));
    CHECK(ts, "create: %s", err);
    if (!ts) return;
    AreSink sink = trial_store_sink(ts);
    static float reps[REP_SIZE];
    AreRoundMetrics m = metrics_of(0);
    fill_reps(0, reps);
    const char *names[] = {"rounds"};
    double values[] = {1};
    bool written = sink.round_metrics(sink.ctx, &m) == 0 &&
                   sink.representations(sink.ctx, 0, reps, N_SAMPLES, N_LAYERS, DIM) == 0 &&
                   trial_store_add_evaluation(ts, "edited", "harmful", names, values, 1, NULL, NULL,
                                              0, err, sizeof(err)) == 0 &&
                   trial_store_add_result(ts, "max_rounds", "1 round", names, values, 1, err,
                                          sizeof(err)) == 0;
    CHECK(written, "writing: %s %s", err, trial_store_error(ts));
    CHECK(trial_store_finish(ts, "max_rounds", err, sizeof(err)) == 0, "finish: %s", err);
    TrialFileState state = trial_file_check(path, "a1b2c3d4", why, sizeof(why));
    CHECK(state == TRIAL_FILE_OK, "a whole file: state %d, %s", state, why);
    CHECK(trial_file_check(path, NULL, why, sizeof(why)) == TRIAL_FILE_OK, "any id: %s", why);

    size_t size = 0;
    char *whole = read_file(path, &size);
    CHECK(whole && size > 4096, "read back %s", path);
    if (!whole) return;
    static const struct {
        size_t keep; // bytes kept, of size
        TrialFileState state;
        const char *message;
    } cuts[] = {{0, TRIAL_FILE_TRUNCATED, "truncated: empty"},
                {100, TRIAL_FILE_TRUNCATED, "truncated: 100 bytes of the "},
                {4096, TRIAL_FILE_TRUNCATED, "truncated: 4096 bytes of the "}};
    snprintf(other, sizeof(other), "%s/cut.h5", dir);
    for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
        write_prefix(other, whole, cuts[i].keep);
        state = trial_file_check(other, "a1b2c3d4", why, sizeof(why));
        CHECK(state == cuts[i].state && strstr(why, other) && strstr(why, cuts[i].message),
              "cut to %zu bytes: state %d, '%s'", cuts[i].keep, state, why);
    }
    char recorded[64];
    snprintf(recorded, sizeof(recorded), "of the %zu its superblock records", size);
    CHECK(strstr(why, recorded), "the recorded size is the file's, %zu: %s", size, why);
    write_prefix(other, "task = \"jailbreak\";\n", 20);
    state = trial_file_check(other, "a1b2c3d4", why, sizeof(why));
    CHECK(state == TRIAL_FILE_NOT_HDF5 && strstr(why, "not an HDF5 file"), "text: %d, '%s'", state,
          why);
    unlink(other);
    state = trial_file_check(other, "a1b2c3d4", why, sizeof(why));
    CHECK(state == TRIAL_FILE_MISSING && strstr(why, other) && strstr(why, "missing"),
          "missing: %d, '%s'", state, why);
    state = trial_file_check(dir, NULL, why, sizeof(why));
    CHECK(state == TRIAL_FILE_UNREADABLE, "a folder: %d, '%s'", state, why);
    state = trial_file_check(path, "0123456789abcdef", why, sizeof(why));
    CHECK(state == TRIAL_FILE_DAMAGED && strstr(why, "trial_id is \"a1b2c3d4\""),
          "another id: %d, '%s'", state, why);
    free(whole);

    // test_unfinished_fp32's .tmp and test_full_trial's file, which has no result group.
    snprintf(other, sizeof(other), "%s/fp32.h5.tmp", dir);
    state = trial_file_check(other, "a1b2c3d4", why, sizeof(why));
    CHECK(state == TRIAL_FILE_DAMAGED && strstr(why, "never finished"), "unfinished: %d, '%s'",
          state, why);
    snprintf(other, sizeof(other), "%s/a1b2c3d4.h5", dir);
    state = trial_file_check(other, "a1b2c3d4", why, sizeof(why));
    CHECK(state == TRIAL_FILE_DAMAGED && strstr(why, "result"), "no result: %d, '%s'", state, why);
}

int main(int argc, char **argv) {
    if (argc == 3 && strcmp(argv[1], "--swmr-read") == 0) {
        H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
        return swmr_reader(argv[2]);
    }
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof(self_exe) - 1);
    self_exe[n > 0 ? n : 0] = '\0';
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
    test_full_trial();
    test_unfinished_fp32();
    test_fp16_rounding();
    test_errors();
    test_file_check();
    char command[4200];
    snprintf(command, sizeof(command), "rm -rf '%s'", dir);
    if (system(command) != 0) fprintf(stderr, "could not remove %s\n", dir);
    return check_summary();
}
