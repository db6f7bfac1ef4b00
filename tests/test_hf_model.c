// Hugging Face model folders into the engine, against transformers (tests/ref/make_hf_fixtures.py):
// the tiny BF16 folder loads through model_source + model_load and its logits match
// transformers' to 1e-4 relative; greedy generation gives transformers' generate() tokens; the
// sharded copy, an F32 copy and a GGUF file read through the same entry point load the same
// weights; config.json parsing keeps transformers' defaults; chat templates fill in; and every
// broken folder (missing, unexpected, mis-shaped or non-float tensors, a truncated shard, an
// index that disagrees with its shards, malformed or unsupported configs) fails with its own
// message naming the file and the tensor or field.
#include "backend_cpu.h"
#include "chat_template.h"
#include "check.h"
#include "generate.h"
#include "hf_config.h"
#include "hf_fixture.h"
#include "llama.h"
#include "model_load.h"
#include "model_source.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_RTOL 1e-4
#define MAX_IDS    256

static Backend *be;
static char tiny_dir[4096], sharded_dir[4096], expect_dir[4096];

static ModelSource *open_source(const char *path) {
    char err[1024] = "";
    ModelSource *src = model_source_open(path, err, sizeof(err));
    CHECK(src, "cannot open %s: %s", path, err);
    return src;
}

// The model at path on the CPU backend; 0, or -1 after a failed check.
static int load_model(const char *path, LlamaModel *m) {
    ModelSource *src = open_source(path);
    if (!src) return -1;
    char err[1024] = "";
    int rc = model_load(m, src, be, MATRIX_F32, err, sizeof(err));
    CHECK(rc == 0, "model_load %s: %s", path, err);
    model_source_close(src);
    return rc;
}

// Logits [T, vocab] of one sequence, in a new host array (NULL after a failed check).
static float *forward_logits(LlamaModel *m, const int *tokens, int T) {
    WorkspacePlan plan = {
        .max_tokens = T, .max_seqs = 1, .max_seq_len = T, .outputs = {.logits = true}};
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof(err));
    CHECK(ws, "workspace: %s", err);
    if (!ws) return NULL;
    TokenBatch batch = {.n_seqs = 1, .seq_len = &T, .tokens = tokens};
    float *logits = NULL;
    if (llama_forward(m, ws, &batch) == 0) {
        size_t n = (size_t)T * (size_t)m->cfg.vocab_size;
        logits = malloc(n * sizeof(float));
        be->to_host(be, logits, llama_logits(ws), n * sizeof(float));
    } else {
        CHECK(0, "forward: %s", llama_workspace_error(ws));
    }
    llama_workspace_free(ws);
    return logits;
}

// The reference's input tokens (into tokens, at most MAX_IDS) and their count, or -1.
static int reference_tokens(SafetensorsFile *f, int *tokens) {
    const SafetensorsTensor *t = safetensors_find(f, "input.tokens");
    char err[512] = "no input.tokens";
    int ok = t && t->n_elements <= MAX_IDS &&
             safetensors_read_i32(f, t, tokens, t->n_elements, err, sizeof(err)) == 0;
    CHECK(ok, "%s: %s", safetensors_path(f), err);
    return ok ? (int)t->n_elements : -1;
}

static SafetensorsFile *open_expectations(void) {
    char path[4096], err[512] = "";
    join(path, sizeof(path), expect_dir, "logits.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    CHECK(f, "%s", err);
    return f;
}

static void test_logits_match_transformers(void) {
    SafetensorsFile *f = open_expectations();
    int tokens[MAX_IDS], T = f ? reference_tokens(f, tokens) : -1;
    LlamaModel m;
    if (T > 0 && load_model(tiny_dir, &m) == 0) {
        size_t n = (size_t)T * (size_t)m.cfg.vocab_size;
        float *got = forward_logits(&m, tokens, T);
        float *expect = read_expected(f, "expect.logits", n);
        if (got && expect)
            check_against_reference("hf_tiny logits vs transformers", got, expect, n, MODEL_RTOL);
        free(got);
        free(expect);
        llama_free(&m);
    }
    safetensors_close(f);
}

static void collect_token(void *ctx, int seq, int token) {
    int *streamed = ctx; // [0] = count, then the tokens
    CHECK(seq == 0, "one prompt, but a token came for sequence %d", seq);
    if (streamed[0] < MAX_IDS) streamed[1 + streamed[0]++] = token;
}

// Greedy llama_generate on the filled-in chat prompt gives transformers' generate() tokens,
// and the streaming callback sees each of them in order.
static void test_greedy_generation(void) {
    char path[4096];
    int prompt[MAX_IDS], expect[MAX_IDS];
    join(path, sizeof(path), expect_dir, "generate_prompt.ids");
    int n_prompt = read_ids(path, prompt, MAX_IDS);
    join(path, sizeof(path), expect_dir, "generate.ids");
    int n_expect = read_ids(path, expect, MAX_IDS);
    CHECK(n_prompt > 0 && n_expect > 0, "generate_prompt.ids or generate.ids unreadable");
    LlamaModel m;
    if (n_prompt <= 0 || n_expect <= 0 || load_model(tiny_dir, &m) < 0) return;
    WorkspacePlan plan = {.max_tokens = n_prompt,
                          .max_seqs = 1,
                          .max_seq_len = n_prompt + n_expect,
                          .outputs = {.logits = true},
                          .kv_slots = 1};
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(&m, &plan, err, sizeof(err));
    CHECK(ws, "workspace: %s", err);
    int eos = 2, streamed[1 + MAX_IDS] = {0};
    GenerateOptions opt = {.max_new_tokens = n_expect,
                           .top_p = 1,
                           .stop_tokens = &eos,
                           .n_stop = 1,
                           .on_token = collect_token,
                           .on_token_ctx = streamed};
    TokenBatch batch = {.n_seqs = 1, .seq_len = &n_prompt, .tokens = prompt};
    int out[MAX_IDS], out_len = 0;
    if (ws) {
        CHECK(llama_generate(&m, ws, &batch, &opt, out, &out_len) == 0, "generate: %s",
              llama_workspace_error(ws));
        CHECK(out_len == n_expect && !memcmp(out, expect, (size_t)n_expect * sizeof(int)),
              "greedy generation differs from transformers' generate() (%d tokens, %d expected; "
              "first %d vs %d)",
              out_len, n_expect, out[0], expect[0]);
        CHECK(streamed[0] == out_len && !memcmp(streamed + 1, out, (size_t)out_len * sizeof(int)),
              "the callback saw %d tokens, generation made %d", streamed[0], out_len);
        printf("  greedy generation: %d tokens, as transformers' generate()\n", out_len);
    }
    llama_workspace_free(ws);
    llama_free(&m);
}

// Every parameter of a and b reads back identical, with the given stored dtype in b (any when
// b_dtype is NULL).
static void check_same_weights(const char *label, const ModelSource *a, const ModelSource *b,
                               const char *b_dtype) {
    const LlamaConfig *cfg = model_source_config(a);
    CHECK(!memcmp(cfg, model_source_config(b), sizeof(*cfg)), "%s: configs differ", label);
    float *x = malloc((size_t)cfg->vocab_size * cfg->dim * sizeof(float));
    float *y = malloc((size_t)cfg->vocab_size * cfg->dim * sizeof(float));
    int n_same = 0, n_params = 0;
    for (int k = 0; k < PARAM_COUNT; k++) {
        if (!param_present(cfg, (ParamKind)k)) continue;
        for (int l = 0; l < (param_per_layer((ParamKind)k) ? cfg->n_layers : 1); l++) {
            char err[512] = "";
            size_t n = param_elements(cfg, (ParamKind)k);
            int ok = model_source_read(a, (ParamKind)k, l, x, err, sizeof(err)) == 0 &&
                     model_source_read(b, (ParamKind)k, l, y, err, sizeof(err)) == 0;
            CHECK(ok, "%s: read: %s", label, err);
            n_same += ok && !memcmp(x, y, n * sizeof(float));
            n_params++;
            const char *dtype = model_source_dtype(b, (ParamKind)k, l);
            CHECK(dtype && (!b_dtype || !strcmp(dtype, b_dtype)), "%s: dtype %s, expected %s",
                  label, dtype ? dtype : "(none)", b_dtype ? b_dtype : "one");
        }
    }
    printf("  %s: %d of %d parameters identical\n", label, n_same, n_params);
    CHECK(n_same == n_params, "%s: %d of %d parameters differ", label, n_params - n_same, n_params);
    free(x);
    free(y);
}

static void test_sharded_equals_single(void) {
    ModelSource *single = open_source(tiny_dir), *sharded = open_source(sharded_dir);
    if (single && sharded) {
        CHECK(model_source_format(sharded) == MODEL_FORMAT_HF, "format of a folder");
        check_same_weights("sharded vs single", single, sharded, "BF16");
    }
    model_source_close(single);
    model_source_close(sharded);
}

// An F32 copy of the BF16 folder (written here) holds the same values exactly.
static void test_f32_copy(void) {
    char dir[4096], path[4096], err[512] = "";
    make_temp_dir(dir, "hf_f32");
    join(path, sizeof(path), tiny_dir, "model.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    CHECK(f, "%s", err);
    int n = f ? safetensors_n_tensors(f) : 0;
    SafetensorsWriteTensor *tensors = calloc((size_t)n + 1, sizeof(*tensors));
    for (int i = 0; i < n; i++) {
        const SafetensorsTensor *t = safetensors_tensor(f, i);
        float *values = malloc(t->n_elements * sizeof(float));
        CHECK(safetensors_read_f32(f, t, values, t->n_elements, err, sizeof(err)) == 0, "%s", err);
        tensors[i] = (SafetensorsWriteTensor){t->name, ST_F32, t->n_dims, {0}, values};
        memcpy(tensors[i].shape, t->shape, sizeof(t->shape));
    }
    join(path, sizeof(path), dir, "model.safetensors");
    CHECK(safetensors_write(path, tensors, n, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    const char *config[] = {"config.json"};
    copy_files(tiny_dir, dir, config, 1);
    ModelSource *bf16 = open_source(tiny_dir), *f32 = open_source(dir);
    if (bf16 && f32) check_same_weights("F32 copy vs BF16", bf16, f32, "F32");
    model_source_close(bf16);
    model_source_close(f32);
    for (int i = 0; i < n; i++) free((void *)tensors[i].data);
    free(tensors);
    safetensors_close(f);
    remove_dir(dir);
}

// A .gguf file opens through the same entry point and reads the weights that an HF folder
// written from the GGUF fixture's HF-layout twin (tests/ref/make_gguf_fixtures.py) holds.
static void test_gguf_dispatch(void) {
    char gguf_path[4096], twin_path[4096], dir[4096], path[4096], err[512] = "";
    fixture_path(gguf_path, sizeof(gguf_path), "gguf_llama_gqa.gguf");
    fixture_path(twin_path, sizeof(twin_path), "gguf_llama_hf.safetensors");
    ModelSource *gguf = open_source(gguf_path);
    SafetensorsFile *twin = safetensors_open(twin_path, err, sizeof(err));
    CHECK(twin, "%s", err);
    if (!gguf || !twin) {
        model_source_close(gguf);
        safetensors_close(twin);
        return;
    }
    CHECK(model_source_format(gguf) == MODEL_FORMAT_GGUF, "format of a .gguf file");
    const LlamaConfig *c = model_source_config(gguf);
    make_temp_dir(dir, "hf_from_gguf");
    char config[1024];
    snprintf(config, sizeof(config),
             "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": %d, "
             "\"hidden_size\": %d, \"intermediate_size\": %d, \"num_hidden_layers\": %d, "
             "\"num_attention_heads\": %d, \"num_key_value_heads\": %d, \"head_dim\": %d, "
             "\"max_position_embeddings\": %d, \"rms_norm_eps\": %.9g, \"rope_theta\": %.9g, "
             "\"tie_word_embeddings\": %s}",
             c->vocab_size, c->dim, c->ffn_dim, c->n_layers, c->n_heads, c->n_kv_heads, c->head_dim,
             c->max_seq_len, c->rms_eps, c->rope_theta, c->tie_embeddings ? "true" : "false");
    join(path, sizeof(path), dir, "config.json");
    write_text(path, config);
    SafetensorsWriteTensor tensors[64];
    int n = 0;
    for (int i = 0; i < safetensors_n_tensors(twin) && n < 64; i++) {
        const SafetensorsTensor *t = safetensors_tensor(twin, i);
        if (strncmp(t->name, "gqa.", 4)) continue;
        tensors[n] = (SafetensorsWriteTensor){t->name + 4, t->dtype, t->n_dims, {0}, t->data};
        memcpy(tensors[n++].shape, t->shape, sizeof(t->shape));
    }
    join(path, sizeof(path), dir, "model.safetensors");
    CHECK(safetensors_write(path, tensors, n, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    ModelSource *hf = open_source(dir);
    if (hf) check_same_weights("GGUF file vs its HF-layout twin", hf, gguf, NULL);
    model_source_close(hf);
    model_source_close(gguf);
    safetensors_close(twin);
    remove_dir(dir);
}

// --- chat templates ------------------------------------------------------------------------

static void expect_filled(const char *template_text, const char *system, const char *prompt,
                          const char *expect) {
    char err[256] = "";
    char *text = chat_template_apply(template_text, system, prompt, err, sizeof(err));
    CHECK(text && !strcmp(text, expect), "template \"%s\" gave \"%s\", expected \"%s\" (%s)",
          template_text, text ? text : "(null)", expect, err);
    free(text);
}

static void test_chat_templates(void) {
    expect_filled("[INST] {prompt} [/INST]", NULL, "Hi", "[INST] Hi [/INST]");
    expect_filled("<<SYS>>{system}<</SYS>> {prompt}", "Be kind.", "Hi",
                  "<<SYS>>Be kind.<</SYS>> Hi");
    expect_filled("{system}|{prompt}", NULL, "Hi", "|Hi"); // no system text: {system} empties
    expect_filled("{prompt} and {prompt}", NULL, "x", "x and x");
    expect_filled("{prompt}", NULL, "say {system} and {prompt}", "say {system} and {prompt}");
    expect_filled("{ {prompt} }", NULL, "", "{  }");
    char err[256] = "";
    CHECK(!chat_template_apply("User: {question}", NULL, "Hi", err, sizeof(err)) &&
              strstr(err, "has no {prompt}"),
          "a template without {prompt}: '%s'", err);
    CHECK(!chat_template_apply("User: {prompt}", "sys", "Hi", err, sizeof(err)) &&
              strstr(err, "has no {system}"),
          "system text for a template without {system}: '%s'", err);
}

// --- config.json ---------------------------------------------------------------------------

static int parse(const char *text, HfConfig *hf, char *err, size_t err_len) {
    return hf_config_parse(text, strlen(text), "config.json", hf, err, err_len);
}

static void expect_config_error(const char *what, const char *text, const char *expect) {
    HfConfig hf;
    char err[512] = "";
    CHECK(parse(text, &hf, err, sizeof(err)) < 0, "%s: accepted", what);
    CHECK(strstr(err, "config.json") && strstr(err, expect), "%s: message '%s' lacks '%s'", what,
          err, expect);
}

#define MINIMAL                                                                                    \
    "\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 100, \"hidden_size\": 64, "        \
    "\"intermediate_size\": 96, \"num_hidden_layers\": 3, \"num_attention_heads\": 8"

static void test_config_parsing(void) {
    HfConfig hf;
    char err[512] = "";
    // transformers' defaults for what a minimal config leaves out
    CHECK(parse("{" MINIMAL "}", &hf, err, sizeof(err)) == 0, "minimal config: %s", err);
    const LlamaConfig *c = &hf.cfg;
    CHECK(c->vocab_size == 100 && c->dim == 64 && c->ffn_dim == 96 && c->n_layers == 3 &&
              c->n_heads == 8 && c->n_kv_heads == 8 && c->head_dim == 8 && c->max_seq_len == 2048 &&
              c->rms_eps == 1e-6f && c->rope_theta == 10000.f && !c->tie_embeddings &&
              hf.bos_token_id == -1 && hf.n_eos == 0 &&
              !strcmp(hf.architecture, "LlamaForCausalLM"),
          "minimal config: wrong defaults");
    // every field given; Llama-3 style eos list; Mistral with a window as long as its context
    CHECK(parse("{\"architectures\": [\"MistralForCausalLM\"], \"model_type\": \"mistral\", "
                "\"vocab_size\": 100, \"hidden_size\": 64, \"intermediate_size\": 96, "
                "\"num_hidden_layers\": 3, \"num_attention_heads\": 8, \"num_key_value_heads\": 2, "
                "\"head_dim\": 16, \"max_position_embeddings\": 512, \"rms_norm_eps\": 1e-5, "
                "\"rope_theta\": 500000, \"tie_word_embeddings\": true, \"bos_token_id\": 1, "
                "\"eos_token_id\": [2, 7], \"sliding_window\": 512, \"rope_scaling\": null, "
                "\"hidden_act\": \"silu\", \"attention_bias\": false}",
                &hf, err, sizeof(err)) == 0,
          "full config: %s", err);
    CHECK(c->n_kv_heads == 2 && c->head_dim == 16 && c->max_seq_len == 512 && c->rms_eps == 1e-5f &&
              c->rope_theta == 500000.f && c->tie_embeddings && hf.bos_token_id == 1 &&
              hf.n_eos == 2 && hf.eos_token_ids[0] == 2 && hf.eos_token_ids[1] == 7 &&
              !strcmp(hf.architecture, "MistralForCausalLM"),
          "full config: wrong values");
    CHECK(parse("{\"model_type\": \"llama\", \"vocab_size\": 10, \"hidden_size\": 8, "
                "\"intermediate_size\": 8, \"num_hidden_layers\": 1, \"num_attention_heads\": 2}",
                &hf, err, sizeof(err)) == 0 &&
              !strcmp(hf.architecture, "LlamaForCausalLM"),
          "model_type without architectures: %s", err);

    expect_config_error("malformed", "{\n  \"vocab_size\": 100,\n  \"hidden_size\": 64,,\n}",
                        "config.json:3:");
    expect_config_error("not an object", "[1, 2]", "expected a JSON object, got an array");
    expect_config_error("unknown architecture",
                        "{\"architectures\": [\"GPT2LMHeadModel\"], \"vocab_size\": 1}",
                        "architecture 'GPT2LMHeadModel' is not supported");
    expect_config_error("no architecture", "{\"vocab_size\": 1}",
                        "missing required field 'architectures'");
    expect_config_error("other model_type", "{" MINIMAL ", \"model_type\": \"qwen2\"}",
                        "model_type 'qwen2' is not supported");
    expect_config_error("missing field",
                        "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": 100}",
                        "missing required field 'hidden_size' (expected an integer");
    expect_config_error("wrong type",
                        "{\"architectures\": [\"LlamaForCausalLM\"], \"vocab_size\": \"100\"}",
                        "field 'vocab_size' must be an integer in 1..16777216, got a string");
    expect_config_error("real for an integer", "{" MINIMAL ", \"num_key_value_heads\": 2.0}",
                        "field 'num_key_value_heads' must be an integer in 1..16777216, got a "
                        "real number");
    expect_config_error("negative", "{" MINIMAL ", \"max_position_embeddings\": -4}",
                        "field 'max_position_embeddings' is -4, expected an integer in 1..");
    expect_config_error("kv heads", "{" MINIMAL ", \"num_key_value_heads\": 3}",
                        "num_attention_heads 8 is not a multiple of num_key_value_heads 3");
    expect_config_error("odd head_dim", "{" MINIMAL ", \"head_dim\": 7}",
                        "head_dim 7 must be even");
    expect_config_error("eps", "{" MINIMAL ", \"rms_norm_eps\": 0}",
                        "field 'rms_norm_eps' is 0, expected a positive finite number");
    expect_config_error("theta overflow", "{" MINIMAL ", \"rope_theta\": 1e300}",
                        "field 'rope_theta' is 1e+300");
    expect_config_error("tie type", "{" MINIMAL ", \"tie_word_embeddings\": 1}",
                        "field 'tie_word_embeddings' must be true or false, got an integer");
    expect_config_error("rope scaling",
                        "{" MINIMAL ", \"rope_scaling\": {\"type\": \"linear\", \"factor\": 2}}",
                        "rope_scaling type 'linear' is not implemented");
    expect_config_error("llama3 rope",
                        "{" MINIMAL ", \"rope_scaling\": {\"rope_type\": \"llama3\"}}",
                        "rope_scaling type 'llama3' is not implemented");
    expect_config_error("sliding window",
                        "{" MINIMAL
                        ", \"max_position_embeddings\": 32768, \"sliding_window\": 4096}",
                        "sliding_window 4096 is shorter than max_position_embeddings 32768");
    expect_config_error("activation", "{" MINIMAL ", \"hidden_act\": \"gelu\"}",
                        "hidden_act 'gelu' is not supported");
    expect_config_error("bias", "{" MINIMAL ", \"attention_bias\": true}",
                        "attention_bias = true is not supported");
    expect_config_error("eos range", "{" MINIMAL ", \"eos_token_id\": [2, 100]}",
                        "field 'eos_token_id' holds 100, outside the vocabulary (0..99)");
    expect_config_error("duplicate key", "{" MINIMAL ", \"vocab_size\": 5}", "duplicate");
}

// --- broken folders ------------------------------------------------------------------------

// The fixture's model.safetensors as write entries (data inside f's mapping), with room for
// one more; returns the count.
static int fixture_tensors(const SafetensorsFile *f, SafetensorsWriteTensor *out) {
    int n = safetensors_n_tensors(f);
    for (int i = 0; i < n; i++) {
        const SafetensorsTensor *t = safetensors_tensor(f, i);
        out[i] = (SafetensorsWriteTensor){t->name, t->dtype, t->n_dims, {0}, t->data};
        memcpy(out[i].shape, t->shape, sizeof(t->shape));
    }
    return n;
}

static SafetensorsWriteTensor *find_entry(SafetensorsWriteTensor *t, int n, const char *name) {
    for (int i = 0; i < n; i++)
        if (!strcmp(t[i].name, name)) return &t[i];
    CHECK(0, "the fixture has no tensor %s", name);
    exit(2);
}

// Text with the first from replaced by to, in a new string.
static char *replace(const char *text, const char *from, const char *to) {
    const char *at = strstr(text, from);
    CHECK(at, "fixture text lacks '%s'", from);
    if (!at) exit(2);
    size_t len = strlen(text) - strlen(from) + strlen(to);
    char *out = malloc(len + 1);
    snprintf(out, len + 1, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
    return out;
}

// Opening dir must fail with a message holding every fragment in expect (NULL-terminated).
static void expect_open_error(const char *what, const char *dir, const char *const *expect) {
    char err[1024] = "";
    ModelSource *src = model_source_open(dir, err, sizeof(err));
    CHECK(!src, "%s: opened a broken model", what);
    for (int i = 0; expect[i]; i++)
        CHECK(strstr(err, expect[i]), "%s: message '%s' lacks '%s'", what, err, expect[i]);
    model_source_close(src);
}

#define EXPECT(...) ((const char *const[]){__VA_ARGS__, NULL})

typedef enum { DROP, ADD, RESHAPE, RETYPE } Edit;

// A folder with the fixture's config (or config_text) and its tensors after one edit of
// tensor name; opening it must fail with the expected fragments.
static void expect_bad_tensors(const char *what, const char *config_text, Edit edit,
                               const char *name, const char *const *expect) {
    char dir[4096], path[4096], err[512] = "";
    make_temp_dir(dir, "hf_bad");
    join(path, sizeof(path), tiny_dir, "model.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    if (!f) exit(2);
    SafetensorsWriteTensor tensors[64];
    int n = fixture_tensors(f, tensors);
    SafetensorsWriteTensor *t = edit == ADD ? NULL : find_entry(tensors, n, name);
    if (edit == DROP) {
        *t = tensors[--n];
    } else if (edit == ADD) { // a [32] BF16 vector, the bytes of an RMSNorm weight
        tensors[n] = *find_entry(tensors, n, "model.norm.weight");
        tensors[n++].name = name;
    } else if (edit == RESHAPE) { // [out, in] -> [in, out]: same bytes, wrong shape
        int64_t rows = t->shape[0];
        t->shape[0] = t->shape[1];
        t->shape[1] = rows;
    } else { // a 16-bit integer type: same bytes, not a float
        t->dtype = ST_I16;
    }
    join(path, sizeof(path), dir, "model.safetensors");
    CHECK(safetensors_write(path, tensors, n, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    join(path, sizeof(path), dir, "config.json");
    if (config_text)
        write_text(path, config_text);
    else
        copy_files(tiny_dir, dir, (const char *[]){"config.json"}, 1);
    expect_open_error(what, dir, expect);
    safetensors_close(f);
    remove_dir(dir);
}

// A folder with config_text and the fixture's weights.
static void expect_bad_config(const char *what, const char *config_text,
                              const char *const *expect) {
    char dir[4096], path[4096];
    make_temp_dir(dir, "hf_config");
    join(path, sizeof(path), dir, "config.json");
    write_text(path, config_text);
    copy_files(tiny_dir, dir, (const char *[]){"model.safetensors"}, 1);
    expect_open_error(what, dir, expect);
    remove_dir(dir);
}

static void test_bad_tensors(const char *config) {
    expect_bad_tensors("missing tensor", NULL, DROP, "model.layers.1.mlp.up_proj.weight",
                       EXPECT("missing tensor 'model.layers.1.mlp.up_proj.weight'"));
    expect_bad_tensors("missing embedding", NULL, DROP, "model.embed_tokens.weight",
                       EXPECT("missing tensor 'model.embed_tokens.weight'"));
    expect_bad_tensors("extra tensor", NULL, ADD, "model.layers.0.self_attn.q_proj.bias",
                       EXPECT("model.safetensors: unexpected tensor "
                              "'model.layers.0.self_attn.q_proj.bias'"));
    expect_bad_tensors(
        "layer past the config", NULL, ADD, "model.layers.2.input_layernorm.weight",
        EXPECT("unexpected tensor 'model.layers.2.input_layernorm.weight'", "with 2 layers"));
    expect_bad_tensors("leading zero layer", NULL, ADD, "model.layers.01.input_layernorm.weight",
                       EXPECT("unexpected tensor 'model.layers.01.input_layernorm.weight'"));
    expect_bad_tensors("mis-shaped tensor", NULL, RESHAPE, "model.layers.0.self_attn.k_proj.weight",
                       EXPECT("tensor 'model.layers.0.self_attn.k_proj.weight' has shape [32, 16], "
                              "config.json implies [16, 32]"));
    expect_bad_tensors("dtype mismatch", NULL, RETYPE, "model.norm.weight",
                       EXPECT("tensor 'model.norm.weight' has dtype I16, expected F32, F16 or "
                              "BF16"));

    char *more_layers = replace(config, "\"num_hidden_layers\": 2", "\"num_hidden_layers\": 3");
    expect_bad_config("config with more layers", more_layers,
                      EXPECT("missing tensor 'model.layers.2.input_layernorm.weight' and others "
                             "(9 missing in all)"));
    char *vocab = replace(config, "\"vocab_size\": 359", "\"vocab_size\": 360");
    expect_bad_config("config with another vocabulary", vocab,
                      EXPECT("'model.embed_tokens.weight' has shape [359, 32], config.json "
                             "implies [360, 32]"));
    char *unknown = replace(config, "\"LlamaForCausalLM\"", "\"GPT2LMHeadModel\"");
    expect_bad_config("unknown architecture", unknown,
                      EXPECT("config.json: architecture 'GPT2LMHeadModel' is not supported"));
    char *malformed = replace(config, "\"hidden_act\": \"silu\",", "\"hidden_act\": \"silu\"");
    int line = 1; // of the key after the missing comma
    for (const char *c = malformed; c < strstr(malformed, "\"hidden_size\""); c++)
        line += *c == '\n';
    char where[64];
    snprintf(where, sizeof(where), "config.json:%d:", line);
    expect_bad_config("malformed config.json", malformed, EXPECT(where, "malformed JSON"));
    char *tied = replace(config, "\"tie_word_embeddings\": false", "\"tie_word_embeddings\": true");
    char dir[4096];
    make_temp_dir(dir, "hf_tied");
    char path[4096];
    join(path, sizeof(path), dir, "config.json");
    write_text(path, tied);
    copy_files(tiny_dir, dir, (const char *[]){"model.safetensors"}, 1);
    ModelSource *src = open_source(dir); // transformers ignores a tied model's lm_head.weight
    CHECK(!src || !model_source_dtype(src, PARAM_LM_HEAD, 0), "tied model: an LM head dtype");
    model_source_close(src);
    remove_dir(dir);
    free(more_layers);
    free(vocab);
    free(unknown);
    free(malformed);
    free(tied);
}

// The index json text with weight_map[name] set to file (removed when file is NULL).
static char *edit_index(const char *index_text, const char *name, const char *file) {
    json_error_t jerr;
    json_t *root = json_loads(index_text, 0, &jerr);
    json_t *map = json_object_get(root, "weight_map");
    if (file)
        json_object_set_new(map, name, json_string(file));
    else
        json_object_del(map, name);
    char *text = json_dumps(root, JSON_INDENT(2));
    json_decref(root);
    return text;
}

// The shard file the index text maps tensor name to, in a new string.
static char *shard_of(const char *index_text, const char *name) {
    json_error_t jerr;
    json_t *root = json_loads(index_text, 0, &jerr);
    const char *file =
        json_string_value(json_object_get(json_object_get(root, "weight_map"), name));
    CHECK(file, "the fixture's index does not map %s", name);
    char *copy = strdup(file ? file : "");
    json_decref(root);
    return copy;
}

// A copy of the sharded fixture with index_text as its index json (when not NULL) and the last
// 100 bytes of shard truncate cut off (when not NULL); opening it must fail as expected.
static void expect_bad_shards(const char *what, const char *index_text, const char *truncate,
                              const char *const *expect) {
    char dir[4096], path[4096];
    make_temp_dir(dir, "hf_shards");
    copy_dir(sharded_dir, dir);
    if (index_text) {
        join(path, sizeof(path), dir, "model.safetensors.index.json");
        write_text(path, index_text);
    }
    if (truncate) {
        size_t n;
        join(path, sizeof(path), dir, truncate);
        char *bytes = read_file(path, &n);
        write_file(path, bytes, n - 100);
        free(bytes);
    }
    expect_open_error(what, dir, expect);
    remove_dir(dir);
}

static void test_bad_shards(void) {
    char path[4096];
    size_t n;
    join(path, sizeof(path), sharded_dir, "model.safetensors.index.json");
    char *index = read_file(path, &n);
    if (!index) {
        CHECK(0, "cannot read %s", path);
        return;
    }
    char *norm_shard = shard_of(index, "model.norm.weight");
    char *embed_shard = shard_of(index, "model.embed_tokens.weight");
    CHECK(strcmp(norm_shard, embed_shard), "the fixture keeps norm and embedding in one shard");
    char expect[256];
    snprintf(expect, sizeof(expect), "%s: ", norm_shard);
    expect_bad_shards("truncated shard", NULL, norm_shard, EXPECT(expect));

    char *gone = edit_index(index, "lm_head.weight", "model-00009-of-00009.safetensors");
    expect_bad_shards("index naming a missing shard", gone, NULL,
                      EXPECT("model.safetensors.index.json: names shard "
                             "'model-00009-of-00009.safetensors' (for tensor 'lm_head.weight'), "
                             "which does not exist"));
    char *moved = edit_index(index, "model.norm.weight", embed_shard);
    expect_bad_shards(
        "index naming the wrong shard", moved, NULL,
        EXPECT("maps tensor 'model.norm.weight' to", embed_shard, "which does not hold it"));
    char *unlisted = edit_index(index, "model.norm.weight", NULL);
    expect_bad_shards("tensor the index does not list", unlisted, NULL,
                      EXPECT("holds tensor 'model.norm.weight', which the index does not list"));
    char *escape = edit_index(index, "model.norm.weight", "../hf_tiny/model.safetensors");
    expect_bad_shards("shard outside the folder", escape, NULL,
                      EXPECT("weight_map['model.norm.weight'] must be the name of a file in the "
                             "folder"));
    char *broken = replace(index, "{", "{,");
    expect_bad_shards("malformed index", broken, NULL,
                      EXPECT("model.safetensors.index.json:1:", "malformed JSON"));
    free(index);
    free(norm_shard);
    free(embed_shard);
    free(gone);
    free(moved);
    free(unlisted);
    free(escape);
    free(broken);
}

static void test_bad_paths(void) {
    char dir[4096], path[4096];
    make_temp_dir(dir, "hf_empty");
    expect_open_error("no config.json", dir, EXPECT("config.json: cannot open"));
    copy_files(tiny_dir, dir, (const char *[]){"config.json"}, 1);
    join(path, sizeof(path), dir, "config.json");
    expect_open_error("no weights", dir,
                      EXPECT("no model.safetensors or model.safetensors.index.json"));
    expect_open_error("a plain file", path, EXPECT("expected a model folder"));
    remove_dir(dir);
}

int main(void) {
    fixture_path(tiny_dir, sizeof(tiny_dir), "hf_tiny");
    fixture_path(sharded_dir, sizeof(sharded_dir), "hf_tiny_sharded");
    fixture_path(expect_dir, sizeof(expect_dir), "hf_tiny_expect");
    be = backend_cpu_create(0);
    if (!be) return 2;
    char path[4096];
    size_t n;
    join(path, sizeof(path), tiny_dir, "config.json");
    char *config = read_file(path, &n);
    CHECK(config, "fixture missing (run from the source tree or set ARE_SOURCE_DIR): %s", path);
    if (config) {
        test_logits_match_transformers();
        test_greedy_generation();
        test_sharded_equals_single();
        test_f32_copy();
        test_gguf_dispatch();
        test_chat_templates();
        test_config_parsing();
        test_bad_tensors(config);
        test_bad_shards();
        test_bad_paths();
    }
    free(config);
    be->destroy(be);
    return check_summary();
}
