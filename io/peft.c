// PEFT LoRA adapter folders; see peft.h.
#include "peft.h"

#include "fail.h"
#include "fs.h"
#include "hf_config.h"
#include "json_error.h"
#include "safetensors.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define CONFIG_NAME  "adapter_config.json"
#define WEIGHTS_NAME "adapter_model.safetensors"

static const char tensor_prefix[] = "base_model.model.model.layers.";
// The embedding adapter's tensors (nn.ParameterDict entries: no ".weight"), and the base table
// PEFT saves beside them.
static const char embed_A_name[] = "base_model.model.model.embed_tokens.lora_embedding_A";
static const char embed_B_name[] = "base_model.model.model.embed_tokens.lora_embedding_B";
static const char embed_base_name[] = "base_model.model.model.embed_tokens.base_layer.weight";

// "q_proj" for self_attn.q_proj: the name PEFT's target_modules use.
static const char *module_name(Projection p) {
    return strrchr(hf_projection_paths[p], '.') + 1;
}

// PEFT's saved name of matrix 'A' or 'B' of projection p in layer l.
static void tensor_name(char *buf, size_t len, int layer, Projection p, char matrix) {
    snprintf(buf, len, "%s%d.%s.lora_%c.weight", tensor_prefix, layer, hf_projection_paths[p],
             matrix);
}

static char *join_path(const char *dir, const char *name) {
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    if (path) snprintf(path, len, "%s/%s", dir, name);
    return path;
}

int peft_adapter_alloc(PeftAdapter *a, const LlamaConfig *base, unsigned targets,
                       const bool *layer_on, int rank, float alpha) {
    memset(a, 0, sizeof(*a));
    a->base = *base;
    a->rank = rank;
    a->alpha = alpha;
    a->targets = targets;
    size_t n_slots = (size_t)base->n_layers * PROJ_COUNT;
    a->layer_on = calloc((size_t)base->n_layers, sizeof(bool));
    a->A = calloc(n_slots, sizeof(float *));
    a->B = calloc(n_slots, sizeof(float *));
    if (!a->layer_on || !a->A || !a->B) goto fail;

    // Sizes first, then views into the one allocation: A [rank, in] then B [out, rank], the
    // embedding's A [rank, vocab] and B [dim, rank] first.
    size_t n = 0;
    for (int pass = 0; pass < 2; pass++) {
        if (pass == 1 && !(a->memory = calloc(n ? n : 1, sizeof(float)))) goto fail;
        n = 0;
        if (targets & PEFT_EMBED_TOKENS) {
            if (pass == 1) {
                a->embed_A = a->memory;
                a->embed_B = a->memory + (size_t)rank * (size_t)base->vocab_size;
            }
            n += (size_t)rank * ((size_t)base->vocab_size + (size_t)base->dim);
        }
        for (int l = 0; l < base->n_layers; l++) {
            a->layer_on[l] = layer_on[l];
            for (int p = 0; layer_on[l] && p < PROJ_COUNT; p++) {
                if (!(targets & (1u << p))) continue;
                int out, in;
                projection_shape(base, (Projection)p, &out, &in);
                if (pass == 1) {
                    a->A[l * PROJ_COUNT + p] = a->memory + n;
                    a->B[l * PROJ_COUNT + p] = a->memory + n + (size_t)rank * (size_t)in;
                }
                n += (size_t)rank * ((size_t)in + (size_t)out);
            }
        }
    }
    return 0;
fail:
    peft_adapter_free(a);
    return -1;
}

void peft_adapter_free(PeftAdapter *a) {
    free(a->layer_on);
    free(a->A);
    free(a->B);
    free(a->memory);
    free(a->embed_base);
    memset(a, 0, sizeof(*a));
}

// --- adapter_config.json -------------------------------------------------------------------

typedef struct {
    int rank;
    float alpha;
    unsigned targets;
    bool *layer_on; // [n_layers]
} AdapterShape;

// target_modules: a list of projection names and embed_tokens, or "all-linear" (the
// projections). (Any other string is a regular expression over module paths in PEFT, which is
// not evaluated here.)
static int read_targets(const char *path, const json_t *v, unsigned *targets, char *err,
                        size_t err_len) {
    *targets = 0;
    if (json_is_string(v) && !strcmp(json_string_value(v), "all-linear")) {
        *targets = (1u << PROJ_COUNT) - 1;
        return 0;
    }
    if (json_is_string(v))
        return fail(err, err_len,
                    "%s: target_modules as a regular expression ('%.100s') is not supported: "
                    "list the module names",
                    path, json_string_value(v));
    if (!json_is_array(v) || json_array_size(v) == 0)
        return fail(err, err_len, "%s: target_modules must be a non-empty list of module names",
                    path);
    size_t i;
    const json_t *item;
    json_array_foreach(v, i, item) {
        const char *name = json_string_value(item);
        if (name && !strcmp(name, "embed_tokens")) {
            *targets |= PEFT_EMBED_TOKENS;
            continue;
        }
        int p = 0;
        while (p < PROJ_COUNT && (!name || strcmp(name, module_name((Projection)p)))) p++;
        if (p == PROJ_COUNT)
            return fail(err, err_len,
                        "%s: target module '%.100s' is not supported (expected q_proj, k_proj, "
                        "v_proj, o_proj, gate_proj, up_proj, down_proj or embed_tokens)",
                        path, name ? name : "(not a string)");
        *targets |= 1u << p;
    }
    return 0;
}

// layers_to_transform: null (every layer), one layer index, or a list of them.
static int read_layers(const char *path, const json_t *v, int n_layers, bool *layer_on, char *err,
                       size_t err_len) {
    if (!v || json_is_null(v)) {
        for (int l = 0; l < n_layers; l++) layer_on[l] = true;
        return 0;
    }
    if (!json_is_integer(v) && !json_is_array(v))
        return fail(err, err_len,
                    "%s: layers_to_transform must be null, a layer index or a list of them", path);
    size_t n = json_is_array(v) ? json_array_size(v) : 1;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_is_array(v) ? json_array_get(v, i) : v;
        json_int_t l = json_is_integer(item) ? json_integer_value(item) : -1;
        if (l < 0 || l >= n_layers)
            return fail(err, err_len,
                        "%s: layers_to_transform must hold layer indices in 0..%d (the base model "
                        "has %d layers)",
                        path, n_layers - 1, n_layers);
        layer_on[l] = true;
    }
    return 0;
}

// Options that would make PEFT compute something other than W x + (alpha / r) B A x.
static int refuse_unsupported(const char *path, const json_t *root, char *err, size_t err_len) {
    static const char *const off_flags[][2] = {
        {"use_dora", "DoRA"},
        {"use_rslora", "rsLoRA, scale alpha / sqrt(r)"},
        {"fan_in_fan_out", "transposed Conv1D weights"},
        {"lora_bias", "a bias on lora_B"},
    };
    for (int i = 0; i < (int)(sizeof(off_flags) / sizeof(off_flags[0])); i++) {
        const json_t *v = json_object_get(root, off_flags[i][0]);
        if (json_is_true(v))
            return fail(err, err_len, "%s: %s = true (%s) is not supported", path, off_flags[i][0],
                        off_flags[i][1]);
    }
    const json_t *bias = json_object_get(root, "bias");
    if (bias && (!json_is_string(bias) || strcmp(json_string_value(bias), "none")))
        return fail(err, err_len, "%s: bias '%.100s' is not supported (only \"none\")", path,
                    json_is_string(bias) ? json_string_value(bias) : "(not a string)");
    static const char *const empty_fields[] = {"rank_pattern", "alpha_pattern", "modules_to_save"};
    for (int i = 0; i < 3; i++) {
        const json_t *v = json_object_get(root, empty_fields[i]);
        if (v && !json_is_null(v) && json_object_size(v) + json_array_size(v) > 0)
            return fail(err, err_len, "%s: %s is not supported (it must be empty or null)", path,
                        empty_fields[i]);
    }
    return 0;
}

static int read_config(const char *path, const LlamaConfig *base, AdapterShape *shape, char *err,
                       size_t err_len) {
    json_error_t jerr;
    json_t *root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) return json_load_error(err, err_len, path, &jerr);
    int rc = -1;
    const json_t *type = json_object_get(root, "peft_type");
    const json_t *r = json_object_get(root, "r");
    const json_t *alpha = json_object_get(root, "lora_alpha");
    if (!json_is_object(root))
        fail(err, err_len, "%s: expected a JSON object", path);
    else if (!json_is_string(type) || strcmp(json_string_value(type), "LORA"))
        fail(err, err_len, "%s: peft_type must be \"LORA\"", path);
    else if (!json_is_integer(r) || json_integer_value(r) < 1 || json_integer_value(r) > 65536)
        fail(err, err_len, "%s: field 'r' must be an integer in 1..65536", path);
    else if (!json_is_number(alpha) || !isfinite((float)json_number_value(alpha)))
        fail(err, err_len, "%s: field 'lora_alpha' must be a finite number", path);
    else if (refuse_unsupported(path, root, err, err_len) == 0 &&
             read_targets(path, json_object_get(root, "target_modules"), &shape->targets, err,
                          err_len) == 0 &&
             read_layers(path, json_object_get(root, "layers_to_transform"), base->n_layers,
                         shape->layer_on, err, err_len) == 0) {
        // PEFT matches layers_to_transform against a module's layer index, which embed_tokens
        // lacks: it leaves the embedding out then.
        const json_t *layers = json_object_get(root, "layers_to_transform");
        if (layers && !json_is_null(layers)) shape->targets &= ~PEFT_EMBED_TOKENS;
        shape->rank = (int)json_integer_value(r);
        shape->alpha = (float)json_number_value(alpha);
        rc = 0;
        // With it PEFT adapts a tied lm_head as embed_tokens; the engine's head stays the base.
        if ((shape->targets & PEFT_EMBED_TOKENS) && base->tie_embeddings &&
            json_is_true(json_object_get(root, "ensure_weight_tying")))
            rc = fail(err, err_len,
                      "%s: ensure_weight_tying = true (the tied lm_head adapted with "
                      "embed_tokens) is not supported",
                      path);
    }
    json_decref(root);
    return rc;
}

// --- adapter_model.safetensors -------------------------------------------------------------

// The (layer, projection, matrix) a PEFT tensor name stands for; false for any other name.
static bool parse_tensor_name(const char *name, int n_layers, int *layer, Projection *p,
                              char *matrix) {
    if (strncmp(name, tensor_prefix, sizeof(tensor_prefix) - 1)) return false;
    const char *digits = name + sizeof(tensor_prefix) - 1;
    if (*digits < '0' || *digits > '9') return false;
    char *end;
    errno = 0;
    long l = strtol(digits, &end, 10);
    if (*end != '.' || errno || l >= n_layers) return false;
    for (int k = 0; k < PROJ_COUNT; k++) {
        for (char m = 'A'; m <= 'B'; m++) {
            char expected[160];
            tensor_name(expected, sizeof(expected), (int)l, (Projection)k, m);
            if (strcmp(name, expected)) continue;
            *layer = (int)l;
            *p = (Projection)k;
            *matrix = m;
            return true;
        }
    }
    return false;
}

static int read_tensor(const SafetensorsFile *f, const SafetensorsTensor *t, const PeftAdapter *a,
                       int layer, Projection p, char matrix, char *err, size_t err_len) {
    float *dst = matrix == 'A' ? peft_A(a, layer, p) : peft_B(a, layer, p);
    if (!dst)
        return fail(err, err_len,
                    "%s: tensor '%s' adapts a module that target_modules and "
                    "layers_to_transform leave out",
                    safetensors_path(f), t->name);
    int out, in;
    projection_shape(&a->base, p, &out, &in);
    int64_t want[2] = {matrix == 'A' ? a->rank : out, matrix == 'A' ? in : a->rank};
    if (t->n_dims != 2 || t->shape[0] != want[0] || t->shape[1] != want[1]) {
        char got_text[128], want_text[64];
        safetensors_format_shape(got_text, sizeof(got_text), t->shape, t->n_dims);
        safetensors_format_shape(want_text, sizeof(want_text), want, 2);
        return fail(err, err_len,
                    "%s: tensor '%s' has shape %s, expected %s (r = %d on the base model's %s "
                    "[%d, %d]): the adapter was made for another model or rank",
                    safetensors_path(f), t->name, got_text, want_text, a->rank, module_name(p), out,
                    in);
    }
    return safetensors_read_f32(f, t, dst, (size_t)want[0] * (size_t)want[1], err, err_len);
}

// One of the embedding adapter's tensors into dst [rows, cols].
static int read_embedding_tensor(const SafetensorsFile *f, const SafetensorsTensor *t, float *dst,
                                 int64_t rows, int64_t cols, char *err, size_t err_len) {
    if (!dst)
        return fail(err, err_len,
                    "%s: tensor '%s' adapts embed_tokens, which target_modules (or "
                    "layers_to_transform) leaves out",
                    safetensors_path(f), t->name);
    if (t->n_dims != 2 || t->shape[0] != rows || t->shape[1] != cols) {
        char got_text[128], want_text[64];
        int64_t want[2] = {rows, cols};
        safetensors_format_shape(got_text, sizeof(got_text), t->shape, t->n_dims);
        safetensors_format_shape(want_text, sizeof(want_text), want, 2);
        return fail(err, err_len,
                    "%s: tensor '%s' has shape %s, expected %s (r and the base model's "
                    "embedding [vocab, dim]): the adapter was made for another model or rank",
                    safetensors_path(f), t->name, got_text, want_text);
    }
    return safetensors_read_f32(f, t, dst, (size_t)rows * (size_t)cols, err, err_len);
}

// The embedding adapter's A, B and, when PEFT saved it, its base table.
static int read_embedding(const SafetensorsFile *f, const SafetensorsTensor *t, PeftAdapter *a,
                          char *err, size_t err_len) {
    int64_t vocab = a->base.vocab_size, dim = a->base.dim;
    if (!strcmp(t->name, embed_A_name))
        return read_embedding_tensor(f, t, a->embed_A, a->rank, vocab, err, err_len);
    if (!strcmp(t->name, embed_B_name))
        return read_embedding_tensor(f, t, a->embed_B, dim, a->rank, err, err_len);
    if (a->embed_A && !a->embed_base &&
        !(a->embed_base = malloc((size_t)vocab * (size_t)dim * sizeof *a->embed_base)))
        return fail(err, err_len, "%s: out of memory for '%s'", safetensors_path(f), t->name);
    return read_embedding_tensor(f, t, a->embed_base, vocab, dim, err, err_len);
}

static bool is_embedding_tensor(const char *name) {
    return !strcmp(name, embed_A_name) || !strcmp(name, embed_B_name) ||
           !strcmp(name, embed_base_name);
}

static int read_weights(const char *path, PeftAdapter *a, char *err, size_t err_len) {
    SafetensorsFile *f = safetensors_open(path, err, err_len);
    if (!f) return -1;
    int rc = 0;
    for (int i = 0; rc == 0 && i < safetensors_n_tensors(f); i++) {
        const SafetensorsTensor *t = safetensors_tensor(f, i);
        int layer;
        Projection p;
        char matrix;
        if (is_embedding_tensor(t->name))
            rc = read_embedding(f, t, a, err, err_len);
        else if (!parse_tensor_name(t->name, a->base.n_layers, &layer, &p, &matrix))
            rc = fail(err, err_len,
                      "%s: unexpected tensor '%.150s' (not a LoRA matrix of a %d-layer Llama)",
                      path, t->name, a->base.n_layers);
        else
            rc = read_tensor(f, t, a, layer, p, matrix, err, err_len);
    }
    for (int l = 0; rc == 0 && l < a->base.n_layers; l++) {
        for (int p = 0; rc == 0 && p < PROJ_COUNT; p++) {
            for (char m = 'A'; rc == 0 && m <= 'B' && peft_A(a, l, (Projection)p); m++) {
                char name[160];
                tensor_name(name, sizeof(name), l, (Projection)p, m);
                if (!safetensors_find(f, name))
                    rc = fail(err, err_len, "%s: missing tensor '%s'", path, name);
            }
        }
    }
    for (int k = 0; rc == 0 && a->embed_A && k < 2; k++) {
        const char *name = k ? embed_B_name : embed_A_name;
        if (!safetensors_find(f, name))
            rc = fail(err, err_len, "%s: missing tensor '%s'", path, name);
    }
    safetensors_close(f);
    return rc;
}

int peft_load(const char *dir, const LlamaConfig *base, PeftAdapter *a, char *err, size_t err_len) {
    memset(a, 0, sizeof(*a));
    char *config_path = join_path(dir, CONFIG_NAME);
    char *weights_path = join_path(dir, WEIGHTS_NAME);
    AdapterShape shape = {.layer_on = calloc((size_t)base->n_layers, sizeof(bool))};
    int rc = -1;
    if (!config_path || !weights_path || !shape.layer_on) {
        fail(err, err_len, "%s: out of memory", dir);
    } else if (read_config(config_path, base, &shape, err, err_len) == 0) {
        if (peft_adapter_alloc(a, base, shape.targets, shape.layer_on, shape.rank, shape.alpha) < 0)
            fail(err, err_len, "%s: out of memory for the adapter", dir);
        else
            rc = read_weights(weights_path, a, err, err_len);
    }
    if (rc < 0) peft_adapter_free(a);
    free(shape.layer_on);
    free(config_path);
    free(weights_path);
    return rc;
}

// --- saving --------------------------------------------------------------------------------

static json_t *config_json(const PeftAdapter *a, const char *base_model) {
    json_t *targets = json_array(), *layers = json_array();
    bool all_layers = true;
    if (a->targets & PEFT_EMBED_TOKENS) json_array_append_new(targets, json_string("embed_tokens"));
    for (int p = 0; p < PROJ_COUNT; p++)
        if (a->targets & (1u << p)) json_array_append_new(targets, json_string(module_name(p)));
    for (int l = 0; l < a->base.n_layers; l++) {
        if (a->layer_on[l]) json_array_append_new(layers, json_integer(l));
        all_layers = all_layers && a->layer_on[l];
    }
    if (all_layers) {
        json_decref(layers);
        layers = json_null();
    }
    // PEFT writes lora_alpha as an integer; keep that form when the value allows it.
    json_t *alpha = a->alpha == truncf(a->alpha) && fabsf(a->alpha) < 1e9f
                        ? json_integer((json_int_t)a->alpha)
                        : json_real(a->alpha);
    return json_pack("{s:s, s:s, s:s?, s:i, s:o, s:f, s:o, s:o, s:s, s:b, s:b, s:b, s:n, s:b}",
                     "peft_type", "LORA", "task_type", "CAUSAL_LM", "base_model_name_or_path",
                     base_model, "r", a->rank, "lora_alpha", alpha, "lora_dropout", 0.0,
                     "target_modules", targets, "layers_to_transform", layers, "bias", "none",
                     "fan_in_fan_out", 0, "use_rslora", 0, "use_dora", 0, "modules_to_save",
                     "inference_mode", 1);
}

// adapter_config.json's text, for replace_file.
static int dump_config(FILE *f, void *root) {
    return json_dumpf(root, f, JSON_INDENT(2) | JSON_SORT_KEYS);
}

static int write_config(const char *path, const PeftAdapter *a, const char *base_model, char *err,
                        size_t err_len) {
    json_t *root = config_json(a, base_model);
    if (!root) return fail(err, err_len, "%s: out of memory", path);
    int rc = replace_file(path, dump_config, root, err, err_len);
    json_decref(root);
    return rc;
}

static int write_weights(const char *path, const PeftAdapter *a, char *err, size_t err_len) {
    int n_max = 2 * a->base.n_layers * PROJ_COUNT + 2, n = 0;
    SafetensorsWriteTensor *tensors = calloc((size_t)n_max, sizeof(*tensors));
    char(*names)[160] = calloc((size_t)n_max, sizeof(*names));
    if (!tensors || !names) {
        free(tensors);
        free(names);
        return fail(err, err_len, "%s: out of memory", path);
    }
    if (a->embed_A) {
        tensors[n++] = (SafetensorsWriteTensor){.name = embed_A_name,
                                                .dtype = ST_F32,
                                                .n_dims = 2,
                                                .shape = {a->rank, a->base.vocab_size},
                                                .data = a->embed_A};
        tensors[n++] = (SafetensorsWriteTensor){.name = embed_B_name,
                                                .dtype = ST_F32,
                                                .n_dims = 2,
                                                .shape = {a->base.dim, a->rank},
                                                .data = a->embed_B};
    }
    for (int l = 0; l < a->base.n_layers; l++) {
        for (int p = 0; p < PROJ_COUNT; p++) {
            if (!peft_A(a, l, (Projection)p)) continue;
            int out, in;
            projection_shape(&a->base, (Projection)p, &out, &in);
            for (char m = 'A'; m <= 'B'; m++, n++) {
                tensor_name(names[n], sizeof(names[n]), l, (Projection)p, m);
                tensors[n] = (SafetensorsWriteTensor){
                    .name = names[n],
                    .dtype = ST_F32,
                    .n_dims = 2,
                    .shape = {m == 'A' ? a->rank : out, m == 'A' ? in : a->rank},
                    .data = m == 'A' ? peft_A(a, l, (Projection)p) : peft_B(a, l, (Projection)p),
                };
            }
        }
    }
    const SafetensorsMetadata metadata[] = {{"format", "pt"}};
    int rc = safetensors_write(path, tensors, n, metadata, 1, err, err_len);
    free(tensors);
    free(names);
    return rc;
}

int peft_save(const char *dir, const PeftAdapter *a, const char *base_model, char *err,
              size_t err_len) {
    for (int l = 0; a->embed_A && l < a->base.n_layers; l++)
        if (!a->layer_on[l])
            return fail(err, err_len,
                        "%s: an embedding adapter needs every layer adapted (PEFT's "
                        "layers_to_transform would leave embed_tokens out)",
                        dir);
    if (mkdir(dir, 0777) < 0 && errno != EEXIST)
        return fail(err, err_len, "%s: cannot create the folder: %s", dir, strerror(errno));
    char *config_path = join_path(dir, CONFIG_NAME);
    char *weights_path = join_path(dir, WEIGHTS_NAME);
    int rc = -1;
    if (!config_path || !weights_path)
        fail(err, err_len, "%s: out of memory", dir);
    else if (write_weights(weights_path, a, err, err_len) == 0)
        rc = write_config(config_path, a, base_model, err, err_len);
    free(config_path);
    free(weights_path);
    return rc;
}
