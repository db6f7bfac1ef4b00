// PEFT adapter folders: an adapter exported from the engine's Lora imports back bit for bit;
// the adapter_config.json written holds what PEFT reads; an adapter made by the peft package
// (tests/ref/make_hf_fixtures.py) loads onto the tiny HF model and the engine's logits match
// the PEFT model's to 1e-4 relative; every adapter that would not compute what PEFT computes is
// refused with a message naming the field or tensor.
#include "backend_cpu.h"
#include "check.h"
#include "hf_fixture.h"
#include "lora.h"
#include "model_load.h"
#include "peft.h"
#include "rng.h"
#include "test_model.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_RTOL 1e-4
#define MAX_TOKENS 64

static Backend *be;
static char tiny_dir[4096], lora_dir[4096], expect_dir[4096];

static LlamaConfig small_config(void) {
    return test_model_config((TestModelShape){
        .vocab_size = 50, .dim = 16, .ffn_dim = 24, .n_layers = 3, .max_seq_len = 32});
}

// A Lora on the CPU backend with every A and B drawn at random (B nonzero, unlike lora_init).
static Lora *random_lora(const LlamaConfig *cfg, unsigned targets, const bool *layer_on, int rank,
                         float alpha, uint64_t seed) {
    Lora *lora = lora_create(cfg, be, targets, layer_on, rank, alpha);
    if (!lora) return NULL;
    float *host = malloc(lora->n_params * sizeof(float));
    Rng rng;
    rng_seed(&rng, seed);
    for (size_t i = 0; i < lora->n_params; i++) host[i] = rng_normal(&rng);
    be->to_device(be, lora->params, host, lora->n_params * sizeof(float));
    free(host);
    return lora;
}

static bool same_params(const Lora *a, const Lora *b) {
    if (a->n_params != b->n_params || a->rank != b->rank || a->alpha != b->alpha ||
        a->targets != b->targets || a->n_layers != b->n_layers ||
        memcmp(a->layer_on, b->layer_on, (size_t)a->n_layers * sizeof(bool)) ||
        memcmp(a->offset, b->offset, (size_t)a->n_layers * PROJ_COUNT * sizeof(size_t)))
        return false;
    float *x = malloc(a->n_params * sizeof(float)), *y = malloc(a->n_params * sizeof(float));
    be->to_host(be, x, a->params, a->n_params * sizeof(float));
    be->to_host(be, y, b->params, b->n_params * sizeof(float));
    bool same = !memcmp(x, y, a->n_params * sizeof(float));
    free(x);
    free(y);
    return same;
}

// Lora -> PEFT folder -> Lora gives the same adapter, bit for bit.
static void check_round_trip(const char *label, const LlamaConfig *cfg, unsigned targets,
                             const bool *layer_on, int rank, float alpha) {
    char dir[4096], err[512] = "";
    make_temp_dir(dir, "peft_round_trip");
    Lora *lora = random_lora(cfg, targets, layer_on, rank, alpha, 42);
    PeftAdapter out, in;
    Lora *back = NULL;
    CHECK(peft_from_lora(&out, lora, cfg, be, err, sizeof(err)) == 0, "%s: %s", label, err);
    CHECK(peft_save(dir, &out, "tiny", err, sizeof(err)) == 0, "%s: save: %s", label, err);
    if (peft_load(dir, cfg, &in, err, sizeof(err)) == 0) {
        back = lora_from_peft(&in, cfg, be, err, sizeof(err));
        CHECK(back, "%s: upload: %s", label, err);
        peft_adapter_free(&in);
    } else {
        CHECK(0, "%s: load: %s", label, err);
    }
    CHECK(back && same_params(lora, back), "%s: the adapter did not come back bit for bit", label);
    printf("  %-50s %zu parameters back bit for bit\n", label, lora->n_params);
    peft_adapter_free(&out);
    lora_free(lora, be);
    lora_free(back, be);
    remove_dir(dir);
}

static void test_round_trips(void) {
    LlamaConfig cfg = small_config();
    bool all[3] = {true, true, true}, some[3] = {false, true, true};
    check_round_trip("round trip: every projection, every layer", &cfg, (1u << PROJ_COUNT) - 1, all,
                     4, 8);
    check_round_trip("round trip: q,v,down on layers 1-2, alpha 6.5", &cfg,
                     1u << PROJ_Q | 1u << PROJ_V | 1u << PROJ_DOWN, some, 3, 6.5f);
    check_round_trip("round trip: alpha 1/3", &cfg, 1u << PROJ_O, some, 1, 1.0f / 3);
}

// What PEFT's LoraConfig reads, written as PEFT writes it.
static void test_config_written(void) {
    LlamaConfig cfg = small_config();
    bool some[3] = {true, false, true};
    char dir[4096], path[4096], err[512] = "";
    make_temp_dir(dir, "peft_config");
    PeftAdapter a;
    CHECK(peft_adapter_alloc(&a, &cfg, 1u << PROJ_Q | 1u << PROJ_GATE, some, 2, 16) == 0, "alloc");
    CHECK(peft_save(dir, &a, NULL, err, sizeof(err)) == 0, "save: %s", err);
    join(path, sizeof(path), dir, "adapter_config.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    CHECK(root, "%s: %s", path, jerr.text);
    json_t *targets = json_object_get(root, "target_modules");
    json_t *layers = json_object_get(root, "layers_to_transform");
    CHECK(json_is_string(json_object_get(root, "peft_type")) &&
              !strcmp(json_string_value(json_object_get(root, "peft_type")), "LORA") &&
              json_integer_value(json_object_get(root, "r")) == 2 &&
              json_is_integer(json_object_get(root, "lora_alpha")) &&
              json_integer_value(json_object_get(root, "lora_alpha")) == 16 &&
              json_array_size(targets) == 2 &&
              !strcmp(json_string_value(json_array_get(targets, 0)), "q_proj") &&
              !strcmp(json_string_value(json_array_get(targets, 1)), "gate_proj") &&
              json_array_size(layers) == 2 && json_integer_value(json_array_get(layers, 0)) == 0 &&
              json_integer_value(json_array_get(layers, 1)) == 2 &&
              json_is_false(json_object_get(root, "use_dora")) &&
              json_is_false(json_object_get(root, "use_rslora")) &&
              json_is_null(json_object_get(root, "base_model_name_or_path")),
          "adapter_config.json lacks PEFT's fields or holds wrong values");
    json_decref(root);
    peft_adapter_free(&a);
    remove_dir(dir);
}

// The peft package's adapter on the tiny model: the engine's logits match PeftModel's.
static void test_peft_made_adapter(void) {
    char path[4096], err[1024] = "";
    join(path, sizeof(path), expect_dir, "logits.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    ModelSource *src = model_source_open(tiny_dir, err, sizeof(err));
    CHECK(f && src, "%s", err);
    LlamaModel m;
    PeftAdapter a;
    if (!f || !src || model_load(&m, src, be, MATRIX_F32, err, sizeof(err)) < 0) {
        CHECK(!f || !src, "model_load: %s", err);
        safetensors_close(f);
        model_source_close(src);
        return;
    }
    if (peft_load(lora_dir, &m.cfg, &a, err, sizeof(err)) == 0) {
        bool layers_ok = !a.layer_on[0] && a.layer_on[1];
        unsigned want =
            1u << PROJ_Q | 1u << PROJ_K | 1u << PROJ_O | 1u << PROJ_UP | 1u << PROJ_DOWN;
        CHECK(a.rank == 4 && a.alpha == 8 && a.targets == want && layers_ok,
              "adapter_config.json read wrong: r %d, alpha %g, targets %#x, layers %d%d", a.rank,
              a.alpha, a.targets, a.layer_on[0], a.layer_on[1]);
        m.lora = lora_from_peft(&a, &m.cfg, be, err, sizeof(err));
        CHECK(m.lora, "%s", err);
        peft_adapter_free(&a);
    } else {
        CHECK(0, "peft_load: %s", err);
    }
    const SafetensorsTensor *t = safetensors_find(f, "input.tokens");
    int tokens[MAX_TOKENS], T = t && t->n_elements <= MAX_TOKENS ? (int)t->n_elements : 0;
    CHECK(T && safetensors_read_i32(f, t, tokens, (size_t)T, err, sizeof(err)) == 0,
          "input.tokens: %s", err);
    WorkspacePlan plan = {
        .max_tokens = T, .max_seqs = 1, .max_seq_len = T, .outputs = {.logits = true}};
    LlamaWorkspace *ws = m.lora && T ? llama_workspace_create(&m, &plan, err, sizeof(err)) : NULL;
    TokenBatch batch = {.n_seqs = 1, .seq_len = &T, .tokens = tokens};
    if (ws && llama_forward(&m, ws, &batch) == 0) {
        size_t n = (size_t)T * (size_t)m.cfg.vocab_size;
        float *got = malloc(n * sizeof(float));
        float *expect = read_expected(f, "expect.logits_lora", n);
        be->to_host(be, got, llama_logits(ws), n * sizeof(float));
        if (expect)
            check_against_reference("PEFT adapter logits vs PeftModel", got, expect, n, MODEL_RTOL);
        free(got);
        free(expect);
    } else {
        CHECK(0, "forward with the adapter failed");
    }
    llama_workspace_free(ws);
    lora_free(m.lora, be);
    llama_free(&m);
    model_source_close(src);
    safetensors_close(f);
}

// --- refused adapters ----------------------------------------------------------------------

static LlamaConfig tiny_config(void) {
    char err[512] = "";
    ModelSource *src = model_source_open(tiny_dir, err, sizeof(err));
    CHECK(src, "%s", err);
    LlamaConfig cfg = src ? *model_source_config(src) : small_config();
    model_source_close(src);
    return cfg;
}

// Loading dir for base must fail with a message holding each of expect (NULL-terminated).
static void expect_refused(const char *what, const char *dir, const LlamaConfig *base,
                           const char *const *expect) {
    char err[1024] = "";
    PeftAdapter a;
    CHECK(peft_load(dir, base, &a, err, sizeof(err)) < 0, "%s: accepted", what);
    for (int i = 0; expect[i]; i++)
        CHECK(strstr(err, expect[i]), "%s: message '%s' lacks '%s'", what, err, expect[i]);
}

#define EXPECT(...) ((const char *const[]){__VA_ARGS__, NULL})

// The fixture adapter with its config's key set to the JSON value (removed when NULL).
static void expect_config_refused(const char *what, const char *key, const char *value,
                                  const char *const *expect) {
    char dir[4096], path[4096];
    make_temp_dir(dir, "peft_bad");
    copy_dir(lora_dir, dir);
    join(path, sizeof(path), dir, "adapter_config.json");
    json_error_t jerr;
    json_t *root = json_load_file(path, 0, &jerr);
    if (value)
        json_object_set_new(root, key, json_loads(value, JSON_DECODE_ANY, &jerr));
    else
        json_object_del(root, key);
    json_dump_file(root, path, JSON_INDENT(2));
    json_decref(root);
    LlamaConfig cfg = tiny_config();
    expect_refused(what, dir, &cfg, expect);
    remove_dir(dir);
}

// The fixture adapter with tensor drop left out and tensor add (a copy of the first tensor)
// added (each when not NULL).
static void expect_tensors_refused(const char *what, const char *drop, const char *add,
                                   const char *const *expect) {
    char dir[4096], path[4096], err[512] = "";
    make_temp_dir(dir, "peft_tensors");
    copy_dir(lora_dir, dir);
    join(path, sizeof(path), lora_dir, "adapter_model.safetensors");
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    if (!f) exit(2);
    SafetensorsWriteTensor tensors[64];
    int n = 0;
    for (int i = 0; i < safetensors_n_tensors(f); i++) {
        const SafetensorsTensor *t = safetensors_tensor(f, i);
        if (drop && !strcmp(t->name, drop)) continue;
        tensors[n] = (SafetensorsWriteTensor){t->name, t->dtype, t->n_dims, {0}, t->data};
        memcpy(tensors[n++].shape, t->shape, sizeof(t->shape));
    }
    if (add) {
        tensors[n] = tensors[0];
        tensors[n++].name = add;
    }
    join(path, sizeof(path), dir, "adapter_model.safetensors");
    CHECK(safetensors_write(path, tensors, n, NULL, 0, err, sizeof(err)) == 0, "%s", err);
    LlamaConfig cfg = tiny_config();
    expect_refused(what, dir, &cfg, expect);
    safetensors_close(f);
    remove_dir(dir);
}

static void test_refused(void) {
    expect_config_refused("DoRA", "use_dora", "true", EXPECT("use_dora = true (DoRA)"));
    expect_config_refused("rsLoRA", "use_rslora", "true", EXPECT("use_rslora = true (rsLoRA"));
    expect_config_refused("unknown target", "target_modules", "[\"q_proj\", \"lm_head\"]",
                          EXPECT("adapter_config.json: target module 'lm_head' is not supported"));
    expect_config_refused("regex target", "target_modules", "\".*proj\"",
                          EXPECT("target_modules as a regular expression ('.*proj')"));
    expect_config_refused("layer out of range", "layers_to_transform", "[1, 2]",
                          EXPECT("layers_to_transform must hold layer indices in 0..1"));
    expect_config_refused("bias", "bias", "\"lora_only\"", EXPECT("bias 'lora_only'"));
    expect_config_refused("modules to save", "modules_to_save", "[\"lm_head\"]",
                          EXPECT("modules_to_save is not supported"));
    expect_config_refused("rank pattern", "rank_pattern", "{\"q_proj\": 8}",
                          EXPECT("rank_pattern is not supported"));
    expect_config_refused("not LoRA", "peft_type", "\"IA3\"", EXPECT("peft_type must be \"LORA\""));
    expect_config_refused("no rank", "r", NULL, EXPECT("field 'r' must be an integer"));
    expect_config_refused(
        "rank of the tensors", "r", "8",
        EXPECT("down_proj.lora_A.weight' has shape [4, 48], expected [8, 48] (r = 8"));
    expect_config_refused("fewer layers", "layers_to_transform", "[0]",
                          EXPECT("adapts a module that target_modules and layers_to_transform "
                                 "leave out"));
    expect_config_refused("fewer targets", "target_modules", "[\"q_proj\", \"k_proj\"]",
                          EXPECT("leave out"));
    expect_config_refused("more targets", "target_modules",
                          "[\"q_proj\", \"k_proj\", \"v_proj\", \"o_proj\", \"up_proj\", "
                          "\"down_proj\"]",
                          EXPECT("missing tensor 'base_model.model.model.layers.1.self_attn.v_proj."
                                 "lora_A.weight'"));

    expect_tensors_refused("missing tensor",
                           "base_model.model.model.layers.1.mlp.down_proj.lora_B.weight", NULL,
                           EXPECT("adapter_model.safetensors: missing tensor "
                                  "'base_model.model.model.layers.1.mlp.down_proj.lora_B.weight'"));
    expect_tensors_refused("unknown tensor", NULL,
                           "base_model.model.model.layers.1.self_attn.q_proj.lora_A.default.weight",
                           EXPECT("unexpected tensor 'base_model.model.model.layers.1.self_attn."
                                  "q_proj.lora_A.default.weight'"));

    char dir[4096], path[4096];
    make_temp_dir(dir, "peft_malformed");
    copy_dir(lora_dir, dir);
    join(path, sizeof(path), dir, "adapter_config.json");
    write_text(path, "{\n  \"r\": 4,\n  \"lora_alpha\": 8\n  \"peft_type\": \"LORA\"\n}\n");
    LlamaConfig cfg = tiny_config();
    expect_refused("malformed config", dir, &cfg, EXPECT("adapter_config.json:4:"));
    LlamaConfig other = cfg;
    other.ffn_dim = 64; // up_proj [64, 32], down_proj [32, 64]
    expect_refused("another base model", lora_dir, &other,
                   EXPECT("down_proj.lora_A.weight' has shape [4, 48], expected [4, 64]",
                          "made for another model"));
    remove_dir(dir);
    make_temp_dir(dir, "peft_empty");
    expect_refused("no adapter", dir, &cfg, EXPECT("adapter_config.json", "No such file"));
    remove_dir(dir);
}

int main(void) {
    fixture_path(tiny_dir, sizeof(tiny_dir), "hf_tiny");
    fixture_path(lora_dir, sizeof(lora_dir), "hf_tiny_lora");
    fixture_path(expect_dir, sizeof(expect_dir), "hf_tiny_expect");
    be = backend_cpu_create(0);
    if (!be) return 2;
    test_round_trips();
    test_config_written();
    test_peft_made_adapter();
    test_refused();
    be->destroy(be);
    return check_summary();
}
