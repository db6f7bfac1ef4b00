// A Qwen2 model folder as transformers 5 saves it (tests/ref/make_qwen2_fixtures.py:
// fixtures/qwen2_tiny/, random weights, q/k/v biases, 4 query heads over 2 KV heads, untied
// head) and a PEFT adapter the peft package made for it (fixtures/qwen2_tiny_lora/, on
// q/k/v/o/down_proj), against what transformers computes with them:
//   - the config reads as a qkv_bias model with rope_parameters' theta;
//   - its tokenizer.json in Qwen2's shape (NFC, Split on Qwen2's regex, ByteLevel, BPE) gives
//     the ids the tokenizers package gives;
//   - the same model as a qwen2 GGUF (fixtures/qwen2_tiny.gguf, unpermuted q/k, which
//     transformers reads back as the folder's model) holds the folder's parameters bit for bit
//     and gives its logits; its tokenizer (pre "qwen2") the same ids;
//   - logits without and with the adapter match transformers' float32 forward to 1e-4
//     relative; greedy tokens through the KV cache match transformers' token for token;
//   - the adapter exported again (peft_from_lora, peft_save) holds the tensors peft wrote, under
//     the same names, bit for bit;
//   - the model saved as a folder (model_save) reads back as the same Qwen2, bit for bit;
//   - configs that would compute something else are refused by name (use_sliding_window,
//     sliding layer_types, another RoPE type, a rope_theta that contradicts rope_parameters).
#include "backend_cpu.h"
#include "check.h"
#include "generate.h"
#include "hf_fixture.h"
#include "lora.h"
#include "model_load.h"
#include "model_source.h"
#include "peft.h"
#include "tokenizer.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_RTOL 1e-4
#define MAX_TOKENS 64

static Backend *be;
static char tiny_dir[4096], lora_dir[4096], expect_path[4096];

// Reads int32 tensor name of at most max ids into ids; the count, or -1 after a failed check.
static int read_tokens(const SafetensorsFile *f, const char *name, int *ids, int max) {
    const SafetensorsTensor *t = safetensors_find(f, name);
    char err[512] = "no such tensor";
    int n = t && t->n_elements <= (uint64_t)max ? (int)t->n_elements : -1;
    if (n < 0 || safetensors_read_i32(f, t, ids, (size_t)n, err, sizeof err) < 0) {
        CHECK(0, "%s: %s: %s", safetensors_path(f), name, err);
        return -1;
    }
    return n;
}

// Logits of tokens [T] against the fixture's tensor want.
static void check_logits(LlamaModel *m, const SafetensorsFile *f, const int *tokens, int T,
                         const char *want, const char *label) {
    char err[512] = "";
    WorkspacePlan plan = {
        .max_tokens = T, .max_seqs = 1, .max_seq_len = T, .outputs = {.logits = true}};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "%s: workspace: %s", label, err);
    TokenBatch batch = {.n_seqs = 1, .seq_len = &T, .tokens = tokens};
    if (ws && llama_forward(m, ws, &batch) == 0) {
        size_t n = (size_t)T * (size_t)m->cfg.vocab_size;
        float *got = malloc(n * sizeof(float));
        float *expect = read_expected(f, want, n);
        be->to_host(be, got, llama_logits(ws), n * sizeof(float));
        if (expect) check_against_reference(label, got, expect, n, MODEL_RTOL);
        free(got);
        free(expect);
    } else {
        CHECK(0, "%s: forward: %s", label, ws ? llama_workspace_error(ws) : err);
    }
    llama_workspace_free(ws);
}

// Greedy tokens after the fixture's prompt, through the KV cache, against tensor want.
static void check_greedy(LlamaModel *m, const SafetensorsFile *f, const char *want,
                         const char *label) {
    int prompt[MAX_TOKENS], expect[MAX_TOKENS], out[MAX_TOKENS], out_len = 0;
    int n = read_tokens(f, "input.prompt", prompt, MAX_TOKENS);
    int n_want = read_tokens(f, want, expect, MAX_TOKENS);
    if (n < 1 || n_want < 1) return;
    char err[512] = "";
    WorkspacePlan plan = {.max_tokens = n,
                          .max_seqs = 1,
                          .max_seq_len = n + n_want,
                          .outputs = {.logits = true},
                          .kv_slots = 1};
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof err);
    CHECK(ws, "%s: workspace: %s", label, err);
    if (!ws) return;
    GenerateOptions opt = {.max_new_tokens = n_want, .top_p = 1};
    TokenBatch batch = {.n_seqs = 1, .seq_len = &n, .tokens = prompt};
    CHECK(llama_generate(m, ws, &batch, &opt, out, &out_len) == 0, "%s: generate: %s", label,
          llama_workspace_error(ws));
    llama_workspace_free(ws);
    int same = 0;
    while (same < out_len && same < n_want && out[same] == expect[same]) same++;
    CHECK(same == n_want && out_len == n_want, "%s: token %d of %d differs", label, same, n_want);
    printf("  %-50s %d of %d tokens as transformers\n", label, same, n_want);
}

// The adapter the engine writes back holds the tensors peft wrote, same names, same bits.
static void check_export(const Lora *lora, const LlamaConfig *cfg) {
    char dir[4096], path[4096], err[512] = "";
    make_temp_dir(dir, "qwen2_peft");
    PeftAdapter a;
    CHECK(peft_from_lora(&a, lora, cfg, be, err, sizeof err) == 0, "peft_from_lora: %s", err);
    CHECK(peft_save(dir, &a, "qwen2_tiny", err, sizeof err) == 0, "peft_save: %s", err);
    peft_adapter_free(&a);
    join(path, sizeof path, lora_dir, "adapter_model.safetensors");
    SafetensorsFile *theirs = safetensors_open(path, err, sizeof err);
    join(path, sizeof path, dir, "adapter_model.safetensors");
    SafetensorsFile *ours = theirs ? safetensors_open(path, err, sizeof err) : NULL;
    CHECK(theirs && ours, "%s", err);
    int n = theirs ? safetensors_n_tensors(theirs) : 0, same = 0;
    for (int i = 0; ours && i < n; i++) {
        const SafetensorsTensor *t = safetensors_tensor(theirs, i);
        const SafetensorsTensor *o = safetensors_find(ours, t->name);
        size_t count = (size_t)t->n_elements;
        float *x = malloc(count * sizeof(float)), *y = malloc(count * sizeof(float));
        bool equal = o && o->n_elements == t->n_elements &&
                     safetensors_read_f32(theirs, t, x, count, err, sizeof err) == 0 &&
                     safetensors_read_f32(ours, o, y, count, err, sizeof err) == 0 &&
                     !memcmp(x, y, count * sizeof(float));
        CHECK(equal, "exported adapter: '%s' %s", t->name, o ? "differs" : "is missing");
        same += equal;
        free(x);
        free(y);
    }
    CHECK(ours && safetensors_n_tensors(ours) == n, "exported adapter has %d tensors, peft's %d",
          ours ? safetensors_n_tensors(ours) : -1, n);
    printf("  %-50s %d of %d tensors as peft wrote them\n", "adapter exported again", same, n);
    safetensors_close(theirs);
    safetensors_close(ours);
    remove_dir(dir);
}

// b has a's config and every parameter of a, bit for bit (label names b).
static void check_same_model(const ModelSource *a, const ModelSource *b, const char *label) {
    char err[1024] = "";
    const LlamaConfig *cfg = model_source_config(a);
    CHECK(!memcmp(cfg, model_source_config(b), sizeof *cfg), "%s: the config differs", label);
    size_t largest = (size_t)cfg->vocab_size * (size_t)cfg->dim;
    float *x = malloc(largest * sizeof(float)), *y = malloc(largest * sizeof(float));
    int same = 0, total = 0;
    for (int k = 0; k < PARAM_COUNT; k++) {
        if (!param_present(cfg, (ParamKind)k)) continue;
        for (int l = 0; l < (param_per_layer((ParamKind)k) ? cfg->n_layers : 1); l++, total++) {
            size_t n = param_elements(cfg, (ParamKind)k);
            same += model_source_read(a, (ParamKind)k, l, x, err, sizeof err) == 0 &&
                    model_source_read(b, (ParamKind)k, l, y, err, sizeof err) == 0 &&
                    !memcmp(x, y, n * sizeof(float));
        }
    }
    CHECK(same == total, "%s: %d of %d parameters differ", label, total - same, total);
    printf("  %-50s %d of %d parameters bit for bit\n", label, same, total);
    free(x);
    free(y);
}

// model_save writes a Qwen2 folder that reads back with the same config and parameters.
static void check_saved(const LlamaModel *m, const ModelSource *original) {
    char dir[4096], err[1024] = "";
    make_temp_dir(dir, "qwen2_saved");
    CHECK(model_save(m, dir, 1, 2, err, sizeof err) == 0, "model_save: %s", err);
    ModelSource *saved = model_source_open(dir, err, sizeof err);
    CHECK(saved, "the saved folder: %s", err);
    if (saved) check_same_model(original, saved, "saved as a folder, read back");
    model_source_close(saved);
    remove_dir(dir);
}

static void test_folder_and_adapter(void) {
    char err[1024] = "";
    SafetensorsFile *f = safetensors_open(expect_path, err, sizeof err);
    ModelSource *src = f ? model_source_open(tiny_dir, err, sizeof err) : NULL;
    CHECK(f && src, "%s", err);
    LlamaModel m;
    if (!src || model_load(&m, src, be, MATRIX_F32, err, sizeof err) < 0) {
        CHECK(!src, "model_load: %s", err);
        model_source_close(src);
        safetensors_close(f);
        return;
    }
    CHECK(m.cfg.qkv_bias && !m.cfg.tie_embeddings && m.cfg.rope_theta == 1e6f &&
              m.cfg.n_kv_heads == 2 && m.cfg.max_seq_len == 64,
          "config read wrong: qkv_bias %d, tied %d, rope_theta %g, kv heads %d, context %d",
          m.cfg.qkv_bias, m.cfg.tie_embeddings, m.cfg.rope_theta, m.cfg.n_kv_heads,
          m.cfg.max_seq_len);
    int tokens[MAX_TOKENS];
    int T = read_tokens(f, "input.tokens", tokens, MAX_TOKENS);
    if (T > 0) check_logits(&m, f, tokens, T, "expect.logits", "logits vs transformers");
    check_greedy(&m, f, "expect.greedy", "greedy through the KV cache");
    check_saved(&m, src);

    PeftAdapter a;
    if (peft_load(lora_dir, &m.cfg, &a, err, sizeof err) == 0) {
        m.lora = lora_from_peft(&a, &m.cfg, be, err, sizeof err);
        CHECK(m.lora, "lora_from_peft: %s", err);
        peft_adapter_free(&a);
    } else {
        CHECK(0, "peft_load: %s", err);
    }
    if (m.lora) {
        if (T > 0) check_logits(&m, f, tokens, T, "expect.logits_lora", "logits with the adapter");
        check_greedy(&m, f, "expect.greedy_lora", "greedy with the adapter");
        check_export(m.lora, &m.cfg);
    }
    lora_free(m.lora, be);
    m.lora = NULL;
    llama_free(&m);
    model_source_close(src);
    safetensors_close(f);
}

// tok gives the tokenizers package's ids for the fixture's text.
static void check_tokenizer(const Tokenizer *tok, const SafetensorsFile *f, const char *label) {
    const char *text = safetensors_metadata(f, "text");
    CHECK(text, "%s: no metadata 'text'", expect_path);
    int want[MAX_TOKENS], got[MAX_TOKENS];
    int n_want = read_tokens(f, "expect.text_ids", want, MAX_TOKENS);
    if (!text || n_want < 1) return;
    int n = tokenizer_encode(tok, text, strlen(text), false, got, MAX_TOKENS);
    CHECK(n == n_want && !memcmp(got, want, (size_t)n * sizeof(int)),
          "%s: %d ids, expected %d as tokenizers gives them", label, n, n_want);
    printf("  %-50s %d ids as the tokenizers package\n", label, n);
}

// The folder's tokenizer.json, in Qwen2's shape.
static void test_tokenizer(void) {
    char path[4096], err[1024] = "";
    SafetensorsFile *f = safetensors_open(expect_path, err, sizeof err);
    join(path, sizeof path, tiny_dir, "tokenizer.json");
    Tokenizer *tok = f ? tokenizer_load_json(path, err, sizeof err) : NULL;
    CHECK(tok, "%s", err);
    if (tok) check_tokenizer(tok, f, "Qwen2-shaped tokenizer.json");
    tokenizer_free(tok);
    safetensors_close(f);
}

// qwen2_tiny.gguf, the folder's model as a qwen2 GGUF (which transformers reads back as the
// folder's model), holds the folder's parameters, gives its logits, and its tokenizer
// (tokenizer.ggml.pre = "qwen2") the tokenizers package's ids.
static void test_gguf(void) {
    char path[4096], err[1024] = "";
    fixture_path(path, sizeof path, "qwen2_tiny.gguf");
    SafetensorsFile *f = safetensors_open(expect_path, err, sizeof err);
    ModelSource *folder = f ? model_source_open(tiny_dir, err, sizeof err) : NULL;
    ModelSource *file = folder ? model_source_open(path, err, sizeof err) : NULL;
    CHECK(file, "%s", err);
    LlamaModel m;
    if (file && model_load(&m, file, be, MATRIX_F32, err, sizeof err) == 0) {
        check_same_model(folder, file, "qwen2 GGUF against the folder");
        int tokens[MAX_TOKENS];
        int T = read_tokens(f, "input.tokens", tokens, MAX_TOKENS);
        if (T > 0) check_logits(&m, f, tokens, T, "expect.logits", "qwen2 GGUF logits");
        llama_free(&m);
    } else {
        CHECK(!file, "model_load: %s", err);
    }
    Tokenizer *tok = file ? tokenizer_load(path, err, sizeof err) : NULL;
    CHECK(!file || tok, "%s", err);
    if (tok) check_tokenizer(tok, f, "qwen2 GGUF tokenizer");
    tokenizer_free(tok);
    model_source_close(file);
    model_source_close(folder);
    safetensors_close(f);
}

// A copy of the folder with config.json's key set to the JSON value must be refused with a
// message holding expect.
static void expect_config_refused(const char *key, const char *value, const char *expect) {
    char dir[4096], path[4096], err[1024] = "";
    make_temp_dir(dir, "qwen2_config");
    copy_dir(tiny_dir, dir);
    join(path, sizeof path, dir, "config.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    json_object_set_new(root, key, json_loads(value, JSON_DECODE_ANY, &jerr));
    json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
    ModelSource *src = model_source_open(dir, err, sizeof err);
    CHECK(!src && strstr(err, expect), "%s = %s: %s, expected a message with '%s'", key, value,
          src ? "accepted" : err, expect);
    printf("  refused %s = %s\n", key, value);
    model_source_close(src);
    remove_dir(dir);
}

static void test_refused_configs(void) {
    expect_config_refused("use_sliding_window", "true", "use_sliding_window = true");
    expect_config_refused("layer_types", "[\"full_attention\", \"sliding_attention\"]",
                          "layer_types[1] is 'sliding_attention'");
    expect_config_refused("rope_parameters", "{\"rope_type\": \"yarn\", \"rope_theta\": 1e6}",
                          "rope_parameters.rope_type 'yarn' is not implemented");
    expect_config_refused("rope_theta", "10000", "rope_theta 10000 and rope_parameters");
    expect_config_refused("model_type", "\"llama\"",
                          "model_type 'llama' is not supported with architecture Qwen2ForCausalLM");
}

int main(void) {
    fixture_path(tiny_dir, sizeof tiny_dir, "qwen2_tiny");
    fixture_path(lora_dir, sizeof lora_dir, "qwen2_tiny_lora");
    fixture_path(expect_path, sizeof expect_path, "qwen2_tiny_expect.safetensors");
    be = backend_cpu_create(0);
    if (!be) return 2;
    test_folder_and_adapter();
    test_tokenizer();
    test_gguf();
    test_refused_configs();
    be->destroy(be);
    return check_summary();
}
