// SmolLM2-135M-Instruct, a real chat model as users fetch it (scripts/fetch-smollm2.sh: one
// Q4_1 GGUF file), loaded the way `are generate` loads it (model_session) and checked against
// the Python stack (tests/ref/make_smollm2_fixtures.py, fixtures/smollm2/expect.json):
//   - token ids of a varied text set equal the `tokenizers` package's with SmolLM2's pipeline;
//   - for three ChatML prompts: the prompt's ids, the last position's 50 largest logits and the
//     full vector's argmax and logsumexp, and hidden states of the last token at three layers
//     match transformers' float64 forward on the same dequantized weights within the
//     tolerances below; the greedy continuation matches token for token, and its text too.
// Without the model file everything is skipped (exit 77).
//
// `test_smollm2 qwen2` (ctest's test_qwen2_gguf) runs the same checks on Qwen2.5-Coder-1.5B-
// Instruct (scripts/fetch-qwen.sh) against tests/ref/make_qwen2_gguf_fixture.py's fixture.
#include "check.h"
#include "generate.h"
#include "hf_fixture.h"
#include "llama.h"
#include "model_session.h"

#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_IDS    256
#define MAX_LAYERS 8

// A real model file, its fixture and tolerances. Errors are relative to the largest reference
// magnitude of the compared vector, the logsumexp's absolute.
typedef struct {
    const char *name, *path, *fixture, *fetch;
    double logit_rtol, hidden_rtol, lse_atol;
} RealModel;

static const RealModel real_models[] = {
    // The engine runs fp32 through 30 blocks, the reference float64 on the same weights; the
    // measured worst are 5e-7 (logits) and 4e-7 (hidden states) relative, 1.5e-5 absolute for
    // the logsumexp of the 49152 logits.
    {"smollm2", "models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf",
     "smollm2/expect.json", "scripts/fetch-smollm2.sh", 1e-5, 1e-5, 1e-4},
    // 28 blocks of width 1536 against a float32 reference (float64 would need 12 GB), both with
    // fp32 rounding summed in different orders; the measured worst are 3.3e-7 (logits) and
    // 2.5e-6 (hidden states, at block 1) relative, 5.7e-6 absolute for the logsumexp of the
    // 151936 logits.
    {"qwen2", "models/qwen2.5-coder-1.5b-instruct/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf",
     "qwen2/gguf_expect.json", "scripts/fetch-qwen.sh", 1e-5, 2e-5, 1e-4},
};
static const RealModel *real;

// Copies the JSON array of integers into ids (at most max); the count, or -1 after a failed
// check.
static int json_ids(const json_t *array, int *ids, int max, const char *what) {
    int n = (int)json_array_size(array);
    CHECK(json_is_array(array) && n <= max, "%s: not an array of at most %d ids", what, max);
    if (!json_is_array(array) || n > max) return -1;
    for (int i = 0; i < n; i++) ids[i] = (int)json_integer_value(json_array_get(array, (size_t)i));
    return n;
}

// The JSON array of numbers as a new float array of exactly n values, or NULL after a failed
// check.
static float *json_floats(const json_t *array, size_t n, const char *what) {
    CHECK(json_is_array(array) && json_array_size(array) == n, "%s: not an array of %zu numbers",
          what, n);
    if (!json_is_array(array) || json_array_size(array) != n) return NULL;
    float *values = malloc(n * sizeof *values);
    for (size_t i = 0; i < n; i++) values[i] = (float)json_number_value(json_array_get(array, i));
    return values;
}

// The ids the session's tokenizer gives text inside template_text (NULL: the text alone), into
// ids; the count, or -1 after a failed check.
static int encode(const ModelSession *s, const char *template_text, const char *text, int *ids) {
    int *got, n;
    char err[512] = "";
    int rc = model_session_encode(s, template_text, text, &got, &n, err, sizeof err);
    CHECK(rc == 0 && n <= MAX_IDS, "encode '%s': %s", text, err);
    if (rc < 0 || n > MAX_IDS) return -1;
    memcpy(ids, got, (size_t)n * sizeof *ids);
    free(got);
    return n;
}

// Index of the first position where the id lists differ, -1 when they are the same.
static int first_difference(const int *a, int n_a, const int *b, int n_b) {
    int i = 0;
    while (i < n_a && i < n_b && a[i] == b[i]) i++;
    return i == n_a && i == n_b ? -1 : i;
}

static void test_tokenization(const ModelSession *s, const json_t *texts) {
    size_t i;
    json_t *row;
    int n_same = 0;
    json_array_foreach(texts, i, row) {
        const char *text = json_string_value(json_object_get(row, "text"));
        int want[MAX_IDS], got[MAX_IDS];
        int n_want = json_ids(json_object_get(row, "ids"), want, MAX_IDS, "texts[].ids");
        int n_got = encode(s, NULL, text, got);
        int at = n_want >= 0 && n_got >= 0 ? first_difference(got, n_got, want, n_want) : 0;
        bool same = at < 0;
        CHECK(same, "text %zu '%s': %d ids, expected %d (first difference at %d)", i, text, n_got,
              n_want, at);
        n_same += same;
    }
    printf("  %d of %zu texts tokenize as the reference\n", n_same, json_array_size(texts));
}

// logsumexp of n values, in double.
static double log_sum_exp(const float *x, size_t n) {
    double max = -INFINITY, sum = 0;
    for (size_t i = 0; i < n; i++) max = fmax(max, x[i]);
    for (size_t i = 0; i < n; i++) sum += exp(x[i] - max);
    return max + log(sum);
}

static size_t argmax(const float *x, size_t n) {
    size_t best = 0;
    for (size_t i = 1; i < n; i++)
        if (x[i] > x[best]) best = i;
    return best;
}

// Logits of the last position and hidden states of the last token at the fixture's layers,
// against the reference's.
static void check_forward(ModelSession *s, const json_t *p, const int *ids, int n,
                          const json_t *layers, const char *label) {
    LlamaModel *m = &s->model;
    size_t vocab = (size_t)m->cfg.vocab_size, dim = (size_t)m->cfg.dim;
    int n_layers = (int)json_array_size(layers);
    WorkspacePlan plan = {
        .max_tokens = n,
        .max_seqs = 1,
        .max_seq_len = n,
        .outputs = {.n_capture = n_layers, .capture_at = CAPTURE_LAST_TOKEN, .logits = true}};
    json_ids(layers, plan.outputs.layers, MAX_LAYERS, "layers");
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    if (!ws) return;
    TokenBatch batch = {.n_seqs = 1, .seq_len = &n, .tokens = ids};
    CHECK(llama_forward(m, ws, &batch) == 0, "forward: %s", llama_workspace_error(ws));
    float *logits = malloc(vocab * sizeof *logits);
    float *hidden = malloc((size_t)n_layers * dim * sizeof *hidden); // [n_layers, dim]
    s->be->to_host(s->be, logits, llama_logits(ws) + (size_t)(n - 1) * vocab,
                   vocab * sizeof *logits);
    s->be->to_host(s->be, hidden, llama_captured(ws), (size_t)n_layers * dim * sizeof *hidden);
    llama_workspace_free(ws);

    int top_ids[MAX_IDS];
    int k = json_ids(json_object_get(p, "top_ids"), top_ids, MAX_IDS, "top_ids");
    float *top_want =
        k > 0 ? json_floats(json_object_get(p, "top_logits"), (size_t)k, "top_logits") : NULL;
    if (top_want) {
        float top_got[MAX_IDS];
        for (int i = 0; i < k; i++) top_got[i] = logits[top_ids[i]];
        char what[128];
        snprintf(what, sizeof what, "%s: top-%d logits", label, k);
        check_against_reference(what, top_got, top_want, (size_t)k, real->logit_rtol);
    }
    int want_argmax = (int)json_integer_value(json_object_get(p, "argmax"));
    CHECK((int)argmax(logits, vocab) == want_argmax, "%s: argmax %zu, expected %d", label,
          argmax(logits, vocab), want_argmax);
    double lse = log_sum_exp(logits, vocab);
    double want_lse = json_number_value(json_object_get(p, "logsumexp"));
    printf("  %-58s error %.3g (tolerance %.3g)\n", "logsumexp of all logits", fabs(lse - want_lse),
           real->lse_atol);
    CHECK(fabs(lse - want_lse) <= real->lse_atol, "%s: logsumexp %.9g, expected %.9g", label, lse,
          want_lse);
    for (int l = 0; l < n_layers; l++) {
        char what[128];
        snprintf(what, sizeof what, "%s: hidden_states[%d]", label,
                 (int)json_integer_value(json_array_get(layers, (size_t)l)));
        float *want =
            json_floats(json_array_get(json_object_get(p, "hidden"), (size_t)l), dim, what);
        if (want)
            check_against_reference(what, hidden + (size_t)l * dim, want, dim, real->hidden_rtol);
        free(want);
    }
    free(top_want);
    free(logits);
    free(hidden);
}

// Greedy generation (what `are generate` does by default) gives the reference's tokens and
// text.
static void check_greedy(ModelSession *s, const json_t *p, const int *ids, int n,
                         const char *label) {
    int want[MAX_IDS];
    int n_want = json_ids(json_object_get(p, "greedy"), want, MAX_IDS, "greedy");
    if (n_want < 1) return;
    WorkspacePlan plan = {.max_tokens = n,
                          .max_seqs = 1,
                          .max_seq_len = n + n_want,
                          .outputs = {.logits = true},
                          .kv_slots = 1};
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(&s->model, &plan, err, sizeof err);
    CHECK(ws, "workspace: %s", err);
    if (!ws) return;
    GenerateOptions opt = {
        .max_new_tokens = n_want, .top_p = 1, .stop_tokens = s->stop, .n_stop = s->n_stop};
    TokenBatch batch = {.n_seqs = 1, .seq_len = &n, .tokens = ids};
    int out[MAX_IDS], out_len = 0;
    CHECK(llama_generate(&s->model, ws, &batch, &opt, out, &out_len) == 0, "generate: %s",
          llama_workspace_error(ws));
    llama_workspace_free(ws);
    int at = first_difference(out, out_len, want, n_want);
    CHECK(at < 0, "%s: greedy continuation differs from the reference at token %d of %d", label, at,
          n_want);
    char text[4096];
    size_t len = model_session_decode(s, out, out_len, text, sizeof text);
    const char *want_text = json_string_value(json_object_get(p, "greedy_text"));
    CHECK(len < sizeof text && want_text && !strcmp(text, want_text),
          "%s: greedy text '%s', expected '%s'", label, text, want_text ? want_text : "(none)");
    printf("  %s: greedy %d tokens as the reference: \"%s\"\n", label, out_len, text);
}

static void test_prompts(ModelSession *s, const json_t *fixture) {
    const char *template_text = json_string_value(json_object_get(fixture, "template"));
    const json_t *layers = json_object_get(fixture, "layers");
    CHECK(json_array_size(layers) <= MAX_LAYERS, "more than %d layers", MAX_LAYERS);
    if (json_array_size(layers) > MAX_LAYERS) return;
    size_t i;
    json_t *p;
    json_array_foreach(json_object_get(fixture, "prompts"), i, p) {
        const char *prompt = json_string_value(json_object_get(p, "prompt"));
        char label[32];
        snprintf(label, sizeof label, "prompt %zu", i);
        int want[MAX_IDS], got[MAX_IDS];
        int n = json_ids(json_object_get(p, "ids"), want, MAX_IDS, "prompts[].ids");
        int n_got = encode(s, template_text, prompt, got);
        CHECK(n > 0 && n_got > 0 && first_difference(got, n_got, want, n) < 0,
              "%s '%s': ids differ from the reference", label, prompt);
        if (n <= 0) continue;
        check_forward(s, p, want, n, layers, label);
        check_greedy(s, p, want, n, label);
    }
}

int main(int argc, char **argv) {
    real = &real_models[0];
    for (size_t i = 0; argc > 1 && i < sizeof real_models / sizeof real_models[0]; i++)
        if (!strcmp(argv[1], real_models[i].name)) real = &real_models[i];
    if (argc > 2 || (argc == 2 && strcmp(argv[1], real->name))) {
        fprintf(stderr, "usage: test_smollm2 [smollm2|qwen2]\n");
        return 2;
    }
    const char *root = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    char model[4096], expect[4096];
    join(model, sizeof model, root, real->path);
    if (access(model, R_OK) != 0) {
        SKIP("%s is absent: run %s", real->path, real->fetch);
        return check_summary();
    }
    fixture_path(expect, sizeof expect, real->fixture);
    json_error_t jerr;
    json_t *fixture = json_load_file(expect, 0, &jerr);
    CHECK(fixture, "%s:%d: %s", expect, jerr.line, jerr.text);
    ModelSession s;
    char err[1024] = "";
    int rc =
        model_session_open(&s, model, NULL, &(DeviceChoice){"cpu", "fp32", 0, -1}, err, sizeof err);
    CHECK(rc == 0, "%s: %s", model, err);
    if (fixture && rc == 0) {
        int eos = (int)json_integer_value(json_object_get(fixture, "eos"));
        CHECK(model_session_is_stop(&s, eos), "generation does not stop at EOS %d", eos);
        test_tokenization(&s, json_object_get(fixture, "texts"));
        test_prompts(&s, fixture);
    }
    model_session_close(&s);
    json_decref(fixture);
    return check_summary();
}
