#include "hf_writer.h"

#include "fs.h"
#include "safetensors.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PATH_MAX_LEN 4096

static const char *const projection_modules[PROJ_COUNT] = {
    "self_attn.q_proj", "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj",
    "mlp.gate_proj",    "mlp.up_proj",      "mlp.down_proj",
};

// The HF name of one parameter tensor.
static void param_name(char *buf, size_t len, ParamKind kind, int layer) {
    if (kind == PARAM_EMBED)
        snprintf(buf, len, "model.embed_tokens.weight");
    else if (kind == PARAM_ATTN_NORM)
        snprintf(buf, len, "model.layers.%d.input_layernorm.weight", layer);
    else if (kind == PARAM_MLP_NORM)
        snprintf(buf, len, "model.layers.%d.post_attention_layernorm.weight", layer);
    else if (kind == PARAM_FINAL_NORM)
        snprintf(buf, len, "model.norm.weight");
    else if (kind == PARAM_LM_HEAD)
        snprintf(buf, len, "lm_head.weight");
    else if (param_is_bias(kind))
        snprintf(buf, len, "model.layers.%d.%s.bias", layer,
                 projection_modules[kind - PARAM_BIAS_FIRST]);
    else
        snprintf(buf, len, "model.layers.%d.%s.weight", layer,
                 projection_modules[kind - PARAM_PROJ_FIRST]);
}

static json_t *config_json(const LlamaConfig *cfg, int bos, int eos) {
    json_t *j = json_object();
    // A qkv_bias model is a Qwen2 (the one architecture with those biases and nothing else).
    json_object_set_new(j, "architectures",
                        json_pack("[s]", cfg->qkv_bias ? "Qwen2ForCausalLM" : "LlamaForCausalLM"));
    json_object_set_new(j, "model_type", json_string(cfg->qkv_bias ? "qwen2" : "llama"));
    if (cfg->qkv_bias) json_object_set_new(j, "use_sliding_window", json_false());
    json_object_set_new(j, "hidden_act", json_string("silu"));
    json_object_set_new(j, "vocab_size", json_integer(cfg->vocab_size));
    json_object_set_new(j, "hidden_size", json_integer(cfg->dim));
    json_object_set_new(j, "intermediate_size", json_integer(cfg->ffn_dim));
    json_object_set_new(j, "num_hidden_layers", json_integer(cfg->n_layers));
    json_object_set_new(j, "num_attention_heads", json_integer(cfg->n_heads));
    json_object_set_new(j, "num_key_value_heads", json_integer(cfg->n_kv_heads));
    json_object_set_new(j, "head_dim", json_integer(cfg->head_dim));
    json_object_set_new(j, "max_position_embeddings", json_integer(cfg->max_seq_len));
    json_object_set_new(j, "rms_norm_eps", json_real(cfg->rms_eps));
    json_object_set_new(j, "rope_theta", json_real(cfg->rope_theta));
    json_object_set_new(j, "tie_word_embeddings", json_boolean(cfg->tie_embeddings));
    if (!cfg->qkv_bias) { // Llama's switches; Qwen2's config has none
        json_object_set_new(j, "attention_bias", json_false());
        json_object_set_new(j, "mlp_bias", json_false());
    }
    json_object_set_new(j, "rope_scaling", json_null());
    json_object_set_new(j, "torch_dtype", json_string("float32"));
    json_object_set_new(j, "bos_token_id", bos >= 0 ? json_integer(bos) : json_null());
    json_object_set_new(j, "eos_token_id", eos >= 0 ? json_integer(eos) : json_null());
    return j;
}

// config.json's text, for replace_file.
static int dump_config(FILE *f, void *j) {
    return json_dumpf(j, f, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_REAL_PRECISION(9));
}

static int write_config(const char *dir, const LlamaConfig *cfg, int bos, int eos, char *err,
                        size_t err_len) {
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/config.json", dir);
    json_t *j = config_json(cfg, bos, eos);
    int rc = replace_file(path, dump_config, j, err, err_len);
    json_decref(j);
    return rc;
}

int hf_write_folder(const char *dir, const LlamaConfig *cfg, int bos, int eos, HfParamFn param,
                    void *ctx, char *err, size_t err_len) {
    if (make_dirs(dir, err, err_len) < 0) return -1;
    int max_tensors = 3 + cfg->n_layers * (2 + 2 * PROJ_COUNT);
    SafetensorsWriteTensor *tensors = calloc((size_t)max_tensors, sizeof(*tensors));
    char(*names)[96] = calloc((size_t)max_tensors, sizeof(*names));
    if (!tensors || !names) {
        free(tensors);
        free(names);
        snprintf(err, err_len, "%s: out of memory", dir);
        return -1;
    }
    int n = 0;
    for (int kind = 0; kind < PARAM_COUNT; kind++) {
        if (!param_present(cfg, (ParamKind)kind)) continue;
        int layers = param_per_layer((ParamKind)kind) ? cfg->n_layers : 1;
        for (int layer = 0; layer < layers; layer++) {
            SafetensorsWriteTensor *t = &tensors[n];
            param_name(names[n], sizeof(names[n]), (ParamKind)kind, layer);
            t->name = names[n];
            t->dtype = ST_F32;
            t->n_dims = param_shape(cfg, (ParamKind)kind, t->shape);
            t->data = param(ctx, (ParamKind)kind, layer);
            n++;
        }
    }
    char path[PATH_MAX_LEN];
    snprintf(path, sizeof(path), "%s/model.safetensors", dir);
    SafetensorsMetadata format = {"format", "pt"};
    int rc = safetensors_write(path, tensors, n, &format, 1, err, err_len);
    free(tensors);
    free(names);
    if (rc < 0) return -1;
    return write_config(dir, cfg, bos, eos, err, err_len);
}
