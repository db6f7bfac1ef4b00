// The engine against independent truth: fixtures made by Hugging Face transformers + PEFT in
// float64 (tests/ref/make_fixtures.py, make_qwen2_fixtures.py) and by torch.optim.AdamW.
//
// For each Llama and Qwen2 fixture: forward with the LoRA attached (every hidden state at every
// token, logits), the generator's LoRA gradients from captured last-token states, and a full
// next-token backward without LoRA (loss, logits, every weight gradient). Values must agree to
// 1e-4 relative (atol = 1e-4 * max|expected|); one line per compared tensor gives the worst
// error as a ratio of the tolerance (<= 1 passes).
#include "adamw.h"
#include "backend_cpu.h"
#include "check.h"
#include "llama.h"
#include "lora.h"
#include "safetensors.h"

#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MODEL_RTOL 1e-4
#define ADAMW_RTOL 1e-6

static Backend *be;

static SafetensorsFile *open_fixture(const char *name) {
    const char *src = getenv("ARE_SOURCE_DIR") ? getenv("ARE_SOURCE_DIR") : ".";
    char path[4096], err[512] = "";
    snprintf(path, sizeof(path), "%s/tests/ref/fixtures/%s", src, name);
    SafetensorsFile *f = safetensors_open(path, err, sizeof(err));
    CHECK(f, "fixture missing or unreadable (run from the source tree or set ARE_SOURCE_DIR): %s",
          err);
    return f;
}

// Reads tensor name of exactly n floats into a new host array; NULL (a failed check) otherwise.
static float *read_floats(const SafetensorsFile *f, const char *name, size_t n) {
    const SafetensorsTensor *t = safetensors_find(f, name);
    char err[512] = "";
    float *host = malloc(n * sizeof(float) + 1);
    if (!t) snprintf(err, sizeof(err), "%s: no tensor '%s'", safetensors_path(f), name);
    if (!t || safetensors_read_f32(f, t, host, n, err, sizeof(err)) < 0) {
        CHECK(0, "%s", err);
        free(host);
        return NULL;
    }
    return host;
}

static int32_t *read_ints(const SafetensorsFile *f, const char *name, size_t n) {
    const SafetensorsTensor *t = safetensors_find(f, name);
    char err[512] = "";
    int32_t *host = malloc(n * sizeof(int32_t) + 1);
    if (!t) snprintf(err, sizeof(err), "%s: no tensor '%s'", safetensors_path(f), name);
    if (!t || safetensors_read_i32(f, t, host, n, err, sizeof(err)) < 0) {
        CHECK(0, "%s", err);
        free(host);
        return NULL;
    }
    return host;
}

// Copies fixture tensor name (n floats) into backend memory dst. Returns 0 or -1.
static int load_tensor(const SafetensorsFile *f, const char *name, float *dst, size_t n) {
    float *host = read_floats(f, name, n);
    if (!host) return -1;
    be->to_device(be, dst, host, n * sizeof(float));
    free(host);
    return 0;
}

// Compares n floats of backend memory with the fixture tensor name.
static void compare_device(const SafetensorsFile *f, const char *label, const char *name,
                           const float *device, size_t n) {
    float *expect = read_floats(f, name, n);
    float *got = malloc(n * sizeof(float));
    be->to_host(be, got, device, n * sizeof(float));
    if (expect) check_against_reference(label, got, expect, n, MODEL_RTOL);
    free(expect);
    free(got);
}

static int json_int(const json_t *obj, const char *key, int fallback) {
    const json_t *v = json_object_get(obj, key);
    return json_is_integer(v) ? (int)json_integer_value(v) : fallback;
}

// LlamaConfig from the HF config.json text, with transformers' defaults for absent fields.
static int parse_config(const char *text, LlamaConfig *cfg) {
    json_error_t jerr;
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root, "fixture metadata 'config' is missing or not JSON");
    if (!root) return -1;
    cfg->vocab_size = json_int(root, "vocab_size", 0);
    cfg->dim = json_int(root, "hidden_size", 0);
    cfg->ffn_dim = json_int(root, "intermediate_size", 0);
    cfg->n_layers = json_int(root, "num_hidden_layers", 0);
    cfg->n_heads = json_int(root, "num_attention_heads", 1);
    cfg->n_kv_heads = json_int(root, "num_key_value_heads", cfg->n_heads);
    cfg->head_dim = json_int(root, "head_dim", cfg->dim / cfg->n_heads);
    cfg->max_seq_len = json_int(root, "max_position_embeddings", 0);
    cfg->rms_eps = (float)json_number_value(json_object_get(root, "rms_norm_eps"));
    const json_t *theta = json_object_get(root, "rope_theta");
    // transformers 5 (the Qwen2 fixtures) writes rope_theta inside rope_parameters.
    if (!theta) theta = json_object_get(json_object_get(root, "rope_parameters"), "rope_theta");
    cfg->rope_theta = theta ? (float)json_number_value(theta) : 10000.f;
    const char *model_type = json_string_value(json_object_get(root, "model_type"));
    cfg->qkv_bias = model_type && !strcmp(model_type, "qwen2");
    cfg->tie_embeddings = json_is_true(json_object_get(root, "tie_word_embeddings"));
    json_decref(root);
    const char *bad = llama_config_check(cfg);
    CHECK(!bad, "fixture config: %s", bad ? bad : "");
    return bad ? -1 : 0;
}

// --- HF names of the weights -----------------------------------------------------------------

typedef struct {
    char name[96];
    float *view; // into a LlamaWeights (weights or gradients)
    size_t n;
} NamedView;

#define MAX_NAMED(n_layers) (3 + (9 + 3) * (n_layers))

// Every tensor of w under its HF name; returns the count (lm_head only when untied, biases
// only in a qkv_bias model).
static int named_views(const LlamaConfig *cfg, const LlamaWeights *w, NamedView *out) {
    int n = 0;
    size_t d = (size_t)cfg->dim, table = (size_t)cfg->vocab_size * d;
    out[n++] = (NamedView){"model.embed_tokens.weight", w->embed, table};
    for (int l = 0; l < cfg->n_layers; l++) {
        const LlamaBlockWeights *b = &w->blocks[l];
        snprintf(out[n].name, sizeof(out[n].name), "model.layers.%d.input_layernorm.weight", l);
        out[n].view = b->attn_norm, out[n++].n = d;
        snprintf(out[n].name, sizeof(out[n].name),
                 "model.layers.%d.post_attention_layernorm.weight", l);
        out[n].view = b->mlp_norm, out[n++].n = d;
        for (int p = 0; p < PROJ_COUNT; p++) {
            int rows, cols;
            projection_shape(cfg, (Projection)p, &rows, &cols);
            snprintf(out[n].name, sizeof(out[n].name), "model.layers.%d.%s.%s.weight", l,
                     p <= PROJ_O ? "self_attn" : "mlp", projection_name((Projection)p));
            out[n].view = b->proj[p], out[n++].n = (size_t)rows * (size_t)cols;
            if (!b->bias[p]) continue;
            snprintf(out[n].name, sizeof(out[n].name), "model.layers.%d.self_attn.%s.bias", l,
                     projection_name((Projection)p));
            out[n].view = b->bias[p], out[n++].n = (size_t)rows;
        }
    }
    out[n++] = (NamedView){"model.norm.weight", w->final_norm, d};
    if (!cfg->tie_embeddings) out[n++] = (NamedView){"lm_head.weight", w->lm_head, table};
    return n;
}

// PEFT's saved name of an adapter matrix ("A" or "B") of projection p in layer l.
static void lora_name(char *buf, size_t len, int l, Projection p, const char *matrix) {
    snprintf(buf, len, "base_model.model.model.layers.%d.%s.%s.lora_%s.weight", l,
             p <= PROJ_O ? "self_attn" : "mlp", projection_name((Projection)p), matrix);
}

static int count_with_prefix(const SafetensorsFile *f, const char *prefix) {
    int n = 0;
    for (int i = 0; i < safetensors_n_tensors(f); i++)
        n += strncmp(safetensors_tensor(f, i)->name, prefix, strlen(prefix)) == 0;
    return n;
}

static int load_weights(const SafetensorsFile *f, LlamaModel *m) {
    if (llama_weights_alloc(&m->w, &m->cfg, be, MATRIX_F32) < 0) return -1;
    NamedView *views = malloc(MAX_NAMED(m->cfg.n_layers) * sizeof(NamedView));
    int n = named_views(&m->cfg, &m->w, views), rc = 0;
    for (int i = 0; i < n && rc == 0; i++)
        rc = load_tensor(f, views[i].name, views[i].view, views[i].n);
    free(views);
    int in_file = count_with_prefix(f, "model.") + count_with_prefix(f, "lm_head.");
    CHECK(in_file == n, "the fixture has %d weight tensors, the engine's model %d", in_file, n);
    return rc;
}

// The PEFT adapter described by the "lora" metadata, with the fixture's A and B loaded.
static Lora *load_lora(const SafetensorsFile *f, const LlamaConfig *cfg) {
    json_error_t jerr;
    const char *text = safetensors_metadata(f, "lora");
    json_t *root = text ? json_loads(text, 0, &jerr) : NULL;
    CHECK(root, "fixture metadata 'lora' is missing or not JSON");
    if (!root) return NULL;
    unsigned targets = 0;
    bool *layer_on = calloc((size_t)cfg->n_layers, sizeof(bool));
    size_t i;
    json_t *item;
    json_array_foreach(json_object_get(root, "target_modules"), i, item) {
        unsigned one = 0;
        char bad[64];
        CHECK(json_is_string(item) &&
                  lora_parse_targets(json_string_value(item), &one, bad, sizeof(bad)) == 0,
              "unknown LoRA target '%s'", json_is_string(item) ? bad : "(not a string)");
        targets |= one;
    }
    json_array_foreach(json_object_get(root, "layers"), i, item) {
        json_int_t l = json_integer_value(item);
        CHECK(l >= 0 && l < cfg->n_layers, "LoRA layer %lld out of range", (long long)l);
        if (l >= 0 && l < cfg->n_layers) layer_on[l] = true;
    }
    int rank = json_int(root, "r", 0);
    float alpha = (float)json_number_value(json_object_get(root, "lora_alpha"));
    Lora *lora = lora_create(cfg, be, targets, layer_on, rank, alpha);
    json_decref(root);
    free(layer_on);
    // Initialised, then overwritten with the fixture's A and (nonzero) B.
    if (!lora || lora_init(lora, cfg, be, 1) != 0) return NULL;

    int loaded = 0;
    for (int l = 0; l < cfg->n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!lora_A(lora, l, (Projection)p)) continue;
            int out, in;
            projection_shape(cfg, (Projection)p, &out, &in);
            char name[160];
            lora_name(name, sizeof(name), l, (Projection)p, "A");
            loaded += load_tensor(f, name, lora_A(lora, l, (Projection)p), (size_t)rank * in) == 0;
            lora_name(name, sizeof(name), l, (Projection)p, "B");
            loaded +=
                load_tensor(f, name, lora_B(lora, cfg, l, (Projection)p), (size_t)out * rank) == 0;
        }
    }
    int in_file = count_with_prefix(f, "base_model.");
    CHECK(loaded == in_file, "loaded %d LoRA tensors, the fixture has %d", loaded, in_file);
    return lora;
}

typedef struct {
    const char *name;
    SafetensorsFile *f;
    TokenBatch batch;
    int32_t *seq_len, *tokens;
    int T, max_len;
} Fixture;

static LlamaWorkspace *make_workspace(LlamaModel *m, const Fixture *fx, const LlamaOutputs *out,
                                      int backward) {
    WorkspacePlan plan = {.max_tokens = fx->T,
                          .max_seqs = fx->batch.n_seqs,
                          .max_seq_len = fx->max_len,
                          .outputs = *out,
                          .backward = backward};
    char err[512] = "";
    LlamaWorkspace *ws = llama_workspace_create(m, &plan, err, sizeof(err));
    CHECK(ws, "%s: workspace: %s", fx->name, err);
    return ws;
}

static int run_forward(LlamaModel *m, LlamaWorkspace *ws, const Fixture *fx) {
    int rc = llama_forward(m, ws, &fx->batch);
    CHECK(rc == 0, "%s: forward: %s", fx->name, llama_workspace_error(ws));
    return rc;
}

// Forward with the adapter: hidden_states[0..n_layers] at every token, and the logits.
static void check_lora_forward(LlamaModel *m, const Fixture *fx) {
    const LlamaConfig *cfg = &m->cfg;
    int n_hidden = cfg->n_layers + 1;
    size_t T = (size_t)fx->T, d = (size_t)cfg->dim, V = (size_t)cfg->vocab_size;
    LlamaOutputs out = {.n_capture = n_hidden, .capture_at = CAPTURE_ALL_TOKENS, .logits = true};
    for (int i = 0; i < n_hidden; i++) out.layers[i] = i;
    LlamaWorkspace *ws = make_workspace(m, fx, &out, BACKWARD_NONE);
    if (!ws || run_forward(m, ws, fx) < 0) {
        llama_workspace_free(ws);
        return;
    }
    float *captured = malloc(T * n_hidden * d * sizeof(float)); // [T, n_hidden, d]
    float *layer = malloc(T * d * sizeof(float));
    float *expect = read_floats(fx->f, "expect.hidden_states", n_hidden * T * d);
    be->to_host(be, captured, llama_captured(ws), T * n_hidden * d * sizeof(float));
    for (int i = 0; expect && i < n_hidden; i++) {
        for (size_t t = 0; t < T; t++)
            memcpy(layer + t * d, captured + (t * n_hidden + i) * d, d * sizeof(float));
        char label[96];
        snprintf(label, sizeof(label), "%s lora forward: hidden_states[%d]", fx->name, i);
        check_against_reference(label, layer, expect + i * T * d, T * d, MODEL_RTOL);
    }
    char label[96];
    snprintf(label, sizeof(label), "%s lora forward: logits", fx->name);
    compare_device(fx->f, label, "expect.logits", llama_logits(ws), T * V);
    free(captured);
    free(layer);
    free(expect);
    llama_workspace_free(ws);
}

// The generator's gradients: loss = sum(upstream * captured last-token states), LoRA only.
static void check_lora_grads(LlamaModel *m, const Fixture *fx) {
    const LlamaConfig *cfg = &m->cfg;
    const SafetensorsTensor *layers_t = safetensors_find(fx->f, "grad.capture_layers");
    CHECK(layers_t && layers_t->n_elements <= LLAMA_MAX_CAPTURE, "%s: grad.capture_layers",
          fx->name);
    if (!layers_t || layers_t->n_elements > LLAMA_MAX_CAPTURE) return;
    int n_capture = (int)layers_t->n_elements;
    int32_t *layers = read_ints(fx->f, "grad.capture_layers", (size_t)n_capture);
    size_t rows = (size_t)fx->batch.n_seqs * n_capture * cfg->dim;
    float *upstream = read_floats(fx->f, "grad.upstream", rows);
    LlamaOutputs out = {.n_capture = n_capture, .capture_at = CAPTURE_LAST_TOKEN};
    for (int i = 0; layers && i < n_capture; i++) out.layers[i] = layers[i];
    LlamaWorkspace *ws = layers && upstream ? make_workspace(m, fx, &out, BACKWARD_LORA) : NULL;
    if (ws && run_forward(m, ws, fx) == 0) {
        be->to_device(be, llama_captured_grad(ws), upstream, rows * sizeof(float));
        be->zero(be, m->lora->grads, m->lora->n_params * sizeof(float));
        BackwardSources src = {.from_captured = true};
        CHECK(llama_backward(m, ws, &src, NULL) == 0, "%s: backward: %s", fx->name,
              llama_workspace_error(ws));
        for (int l = 0; l < cfg->n_layers; l++) {
            for (int p = 0; p < PROJ_COUNT; p++) {
                if (!lora_A(m->lora, l, (Projection)p)) continue;
                int o, in;
                projection_shape(cfg, (Projection)p, &o, &in);
                size_t r = (size_t)m->lora->rank;
                char name[160], expect_name[200], label[200];
                const char *matrix[2] = {"A", "B"};
                float *grad[2] = {lora_grad_A(m->lora, l, (Projection)p),
                                  lora_grad_B(m->lora, cfg, l, (Projection)p)};
                size_t n[2] = {r * in, (size_t)o * r};
                for (int k = 0; k < 2; k++) {
                    lora_name(name, sizeof(name), l, (Projection)p, matrix[k]);
                    snprintf(expect_name, sizeof(expect_name), "expect.lora_grad.%s", name);
                    snprintf(label, sizeof(label), "%s lora grad: layer %d %s %s", fx->name, l,
                             projection_name((Projection)p), matrix[k]);
                    compare_device(fx->f, label, expect_name, grad[k], n[k]);
                }
            }
        }
    }
    llama_workspace_free(ws);
    free(layers);
    free(upstream);
}

// Full backward of the next-token loss without the adapter: loss, logits, every weight grad.
static void check_full_backward(LlamaModel *m, const Fixture *fx) {
    const LlamaConfig *cfg = &m->cfg;
    size_t T = (size_t)fx->T, V = (size_t)cfg->vocab_size;
    CHECK(llama_alloc_grads(m) == 0, "%s: cannot allocate gradients", fx->name);
    LlamaOutputs out = {.logits = true};
    LlamaWorkspace *ws = m->grad.memory ? make_workspace(m, fx, &out, BACKWARD_FULL) : NULL;
    if (!ws || run_forward(m, ws, fx) < 0) {
        llama_workspace_free(ws);
        return;
    }
    char label[96];
    snprintf(label, sizeof(label), "%s base forward: logits", fx->name);
    compare_device(fx->f, label, "expect.logits_base", llama_logits(ws), T * V);

    // target[t] = the next token of the same sequence; a sequence's last token has none.
    int *targets = malloc(T * sizeof(int));
    for (int s = 0, t0 = 0; s < fx->batch.n_seqs; t0 += fx->seq_len[s++])
        for (int i = 0; i < fx->seq_len[s]; i++)
            targets[t0 + i] = i + 1 < fx->seq_len[s] ? fx->tokens[t0 + i + 1] : -1;
    be->zero(be, m->grad.memory, m->grad.n_floats * sizeof(float));
    BackwardSources src = {.targets = targets};
    double loss = NAN;
    CHECK(llama_backward(m, ws, &src, &loss) == 0, "%s: backward: %s", fx->name,
          llama_workspace_error(ws));
    float *expect_loss = read_floats(fx->f, "expect.loss", 1);
    float got_loss = (float)loss;
    snprintf(label, sizeof(label), "%s full backward: loss", fx->name);
    if (expect_loss) check_against_reference(label, &got_loss, expect_loss, 1, MODEL_RTOL);

    NamedView *grads = malloc(MAX_NAMED(cfg->n_layers) * sizeof(NamedView));
    int n = named_views(cfg, &m->grad, grads);
    for (int i = 0; i < n; i++) {
        char expect_name[128], grad_label[160];
        snprintf(expect_name, sizeof(expect_name), "expect.grad.%s", grads[i].name);
        snprintf(grad_label, sizeof(grad_label), "%s full grad: %s", fx->name, grads[i].name);
        compare_device(fx->f, grad_label, expect_name, grads[i].view, grads[i].n);
    }
    free(grads);
    free(expect_loss);
    free(targets);
    llama_workspace_free(ws);
}

static void check_llama_fixture(const char *name) {
    Fixture fx = {.name = name, .f = open_fixture(name)};
    if (!fx.f) return;
    LlamaModel m = {.be = be};
    const SafetensorsTensor *lens = safetensors_find(fx.f, "input.seq_len");
    CHECK(lens, "%s: no input.seq_len", name);
    if (lens && parse_config(safetensors_metadata(fx.f, "config"), &m.cfg) == 0) {
        fx.batch.n_seqs = (int)lens->n_elements;
        fx.seq_len = read_ints(fx.f, "input.seq_len", lens->n_elements);
        for (int s = 0; fx.seq_len && s < fx.batch.n_seqs; s++) {
            fx.T += fx.seq_len[s];
            if (fx.seq_len[s] > fx.max_len) fx.max_len = fx.seq_len[s];
        }
        fx.tokens = fx.seq_len ? read_ints(fx.f, "input.tokens", (size_t)fx.T) : NULL;
        fx.batch.seq_len = fx.seq_len;
        fx.batch.tokens = fx.tokens;
    }
    if (fx.tokens && load_weights(fx.f, &m) == 0) {
        m.lora = load_lora(fx.f, &m.cfg);
        if (m.lora) {
            check_lora_forward(&m, &fx);
            check_lora_grads(&m, &fx);
        }
        lora_free(m.lora, be);
        m.lora = NULL;
        check_full_backward(&m, &fx);
    }
    llama_free(&m);
    free(fx.seq_len);
    free(fx.tokens);
    safetensors_close(fx.f);
}

// torch.optim.AdamW in float32, five steps with given gradients.
static void check_adamw(void) {
    SafetensorsFile *f = open_fixture("adamw.safetensors");
    if (!f) return;
    json_error_t jerr;
    const char *text = safetensors_metadata(f, "adamw");
    json_t *hyper = text ? json_loads(text, 0, &jerr) : NULL;
    const SafetensorsTensor *p0 = safetensors_find(f, "adamw.params0");
    CHECK(hyper && p0, "adamw fixture lacks its metadata or adamw.params0");
    if (!hyper || !p0) {
        json_decref(hyper);
        safetensors_close(f);
        return;
    }
    size_t n = p0->n_elements;
    const SafetensorsTensor *g = safetensors_find(f, "adamw.grads");
    int n_steps = g ? (int)(g->n_elements / n) : 0;
    AdamWConfig cfg = {
        .lr = (float)json_number_value(json_object_get(hyper, "lr")),
        .beta1 = (float)json_number_value(json_object_get(hyper, "beta1")),
        .beta2 = (float)json_number_value(json_object_get(hyper, "beta2")),
        .eps = (float)json_number_value(json_object_get(hyper, "eps")),
        .weight_decay = (float)json_number_value(json_object_get(hyper, "weight_decay")),
    };
    json_decref(hyper);
    float *params0 = read_floats(f, "adamw.params0", n);
    float *grads = read_floats(f, "adamw.grads", n_steps * n);
    float *expect = read_floats(f, "adamw.expect", n_steps * n);
    AdamW opt;
    float *params = be->alloc(be, 2 * n * sizeof(float)), *grad = params + n;
    float *got = malloc(n * sizeof(float));
    bool ready = params0 && grads && expect && params && got;
    int init = ready ? adamw_init(&opt, &cfg, n, be) : -1;
    CHECK(!ready || init == 0, "adamw_init: out of memory");
    if (init == 0) {
        be->to_device(be, params, params0, n * sizeof(float));
        for (int step = 0; step < n_steps; step++) {
            be->to_device(be, grad, grads + step * n, n * sizeof(float));
            adamw_step(&opt, be, params, grad);
            be->to_host(be, got, params, n * sizeof(float));
            char label[64];
            snprintf(label, sizeof(label), "adamw: params after step %d", step + 1);
            check_against_reference(label, got, expect + step * n, n, ADAMW_RTOL);
        }
        adamw_free(&opt, be);
    }
    be->free(be, params);
    free(got);
    free(params0);
    free(grads);
    free(expect);
    safetensors_close(f);
}

int main(void) {
    be = backend_cpu_create(0);
    if (!be) return 2;
    check_llama_fixture("llama_gqa.safetensors");
    check_llama_fixture("llama_tied.safetensors");
    check_llama_fixture("qwen2_gqa.safetensors");
    check_llama_fixture("qwen2_tied.safetensors");
    check_adamw();
    be->destroy(be);
    return check_summary();
}
