// A model on disk: the Hugging Face folder side, and dispatch to GGUF; see model_source.h.
//
// A folder's tensors are matched to parameter slots by name when it is opened, so that every
// inconsistency (a tensor missing, unexpected, twice present, mis-shaped, of a non-float dtype;
// an index that disagrees with its shards) is reported at open with the tensor's name, and a
// later read only converts.
#include "model_source.h"

#include "fail.h"
#include "gguf_model.h"
#include "hf_config.h"
#include "json_error.h"
#include "safetensors.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#define INDEX_NAME  "model.safetensors.index.json"
#define SINGLE_NAME "model.safetensors"

typedef struct {
    const SafetensorsFile *file; // the shard that holds it
    const SafetensorsTensor *tensor;
} Slot;

struct ModelSource {
    ModelFormat format;
    LlamaConfig cfg;
    char *path;
    // Hugging Face folder
    int n_shards;
    SafetensorsFile **shards;
    Slot *slots; // [PARAM_COUNT * n_layers], see slot_index
    // GGUF file
    Gguf *gguf;
};

// Whole-model kinds use the slots of layer 0.
static size_t slot_index(const LlamaConfig *cfg, ParamKind kind, int layer) {
    return (size_t)kind * (size_t)cfg->n_layers + (size_t)(param_per_layer(kind) ? layer : 0);
}

// The part of a per-layer name after "model.layers.N.".
static const char *layer_suffix(ParamKind kind, char *buf, size_t len) {
    if (kind == PARAM_ATTN_NORM) return "input_layernorm.weight";
    if (kind == PARAM_MLP_NORM) return "post_attention_layernorm.weight";
    if (param_is_bias(kind))
        snprintf(buf, len, "%s.bias", hf_projection_paths[kind - PARAM_BIAS_FIRST]);
    else
        snprintf(buf, len, "%s.weight", hf_projection_paths[kind - PARAM_PROJ_FIRST]);
    return buf;
}

static void hf_name(ParamKind kind, int layer, char *buf, size_t len) {
    char suffix[48];
    switch (kind) {
    case PARAM_EMBED:
        snprintf(buf, len, "model.embed_tokens.weight");
        break;
    case PARAM_FINAL_NORM:
        snprintf(buf, len, "model.norm.weight");
        break;
    case PARAM_LM_HEAD:
        snprintf(buf, len, "lm_head.weight");
        break;
    default:
        snprintf(buf, len, "model.layers.%d.%s", layer, layer_suffix(kind, suffix, sizeof(suffix)));
    }
}

// The slot an HF tensor name fills: returns 1 with kind and layer set, 0 for a name the model
// does not use (an extra tensor), -1 for one to skip: the rotary inverse frequencies that old
// checkpoints saved, and lm_head.weight of a tied model (transformers ignores it too).
static int parse_hf_name(const LlamaConfig *cfg, const char *name, ParamKind *kind, int *layer) {
    static const char prefix[] = "model.layers.";
    if (!strncmp(name, prefix, sizeof(prefix) - 1)) {
        const char *digits = name + sizeof(prefix) - 1;
        if (*digits < '0' || *digits > '9') return 0;
        char *end;
        errno = 0;
        long l = strtol(digits, &end, 10);
        // Exactly the digits of an in-range layer as %d prints them: no leading zero.
        if (*end != '.' || errno || l >= cfg->n_layers || (*digits == '0' && end - digits > 1))
            return 0;
        if (!strcmp(end + 1, "self_attn.rotary_emb.inv_freq")) return -1;
        char suffix[48];
        for (int k = PARAM_ATTN_NORM; param_per_layer((ParamKind)k); k++) {
            if (!param_present(cfg, (ParamKind)k) ||
                strcmp(end + 1, layer_suffix((ParamKind)k, suffix, sizeof(suffix))))
                continue;
            *kind = (ParamKind)k;
            *layer = (int)l;
            return 1;
        }
        return 0;
    }
    static const ParamKind whole[] = {PARAM_EMBED, PARAM_FINAL_NORM, PARAM_LM_HEAD};
    for (int i = 0; i < 3; i++) {
        char expected[128];
        hf_name(whole[i], 0, expected, sizeof(expected));
        if (strcmp(name, expected)) continue;
        if (!param_present(cfg, whole[i])) return -1;
        *kind = whole[i];
        *layer = 0;
        return 1;
    }
    return 0;
}

// --- opening a folder ----------------------------------------------------------------------

static char *join_path(const char *dir, const char *name) {
    size_t len = strlen(dir) + 1 + strlen(name) + 1;
    char *path = malloc(len);
    if (path) snprintf(path, len, "%s/%s", dir, name);
    return path;
}

static bool is_file(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int add_shard(ModelSource *src, const char *file_name, char *err, size_t err_len) {
    char *path = join_path(src->path, file_name);
    SafetensorsFile **grown = realloc(src->shards, (size_t)(src->n_shards + 1) * sizeof(*grown));
    if (!path || !grown) {
        free(path);
        fail(err, err_len, "%s: out of memory", src->path);
        return -1;
    }
    src->shards = grown;
    src->shards[src->n_shards] = safetensors_open(path, err, err_len);
    free(path);
    if (!src->shards[src->n_shards]) return -1;
    src->n_shards++;
    return 0;
}

static int shard_by_name(const ModelSource *src, const char *file_name) {
    for (int i = 0; i < src->n_shards; i++) {
        const char *path = safetensors_path(src->shards[i]);
        if (!strcmp(path + strlen(src->path) + 1, file_name)) return i;
    }
    return -1;
}

// A shard name from the index must name a file inside the folder, nothing more.
static bool is_plain_file_name(const char *name) {
    return *name && !strchr(name, '/') && strcmp(name, ".") && strcmp(name, "..");
}

// Opens every shard the index's weight_map names and checks that the map and the shards agree
// tensor for tensor.
static int open_index(ModelSource *src, const char *index_path, char *err, size_t err_len) {
    json_error_t jerr;
    json_t *root = json_load_file(index_path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        return json_load_error(err, err_len, index_path, &jerr);
    }
    int rc = -1;
    json_t *map = json_object_get(root, "weight_map");
    const char *name;
    json_t *file;
    if (!json_is_object(map)) {
        fail(err, err_len, "%s: field 'weight_map' must be an object of tensor -> file",
             index_path);
        goto done;
    }
    json_object_foreach(map, name, file) {
        const char *file_name = json_string_value(file);
        if (!file_name || !is_plain_file_name(file_name)) {
            fail(err, err_len,
                 "%s: weight_map['%s'] must be the name of a file in the folder, got %s",
                 index_path, name, file_name ? file_name : "a non-string");
            goto done;
        }
        if (shard_by_name(src, file_name) >= 0) continue;
        char *shard_path = join_path(src->path, file_name);
        bool exists = shard_path && is_file(shard_path);
        free(shard_path);
        if (!exists) {
            fail(err, err_len, "%s: names shard '%s' (for tensor '%s'), which does not exist",
                 index_path, file_name, name);
            goto done;
        }
        if (add_shard(src, file_name, err, err_len) < 0) goto done;
    }
    json_object_foreach(map, name, file) {
        const SafetensorsFile *shard = src->shards[shard_by_name(src, json_string_value(file))];
        if (!safetensors_find(shard, name)) {
            fail(err, err_len, "%s: maps tensor '%s' to %s, which does not hold it", index_path,
                 name, safetensors_path(shard));
            goto done;
        }
    }
    for (int s = 0; s < src->n_shards; s++) {
        const char *shard_name = safetensors_path(src->shards[s]) + strlen(src->path) + 1;
        for (int i = 0; i < safetensors_n_tensors(src->shards[s]); i++) {
            const char *tensor = safetensors_tensor(src->shards[s], i)->name;
            const char *mapped = json_string_value(json_object_get(map, tensor));
            if (!mapped || strcmp(mapped, shard_name)) {
                fail(err, err_len, "%s: holds tensor '%s', which the index %s",
                     safetensors_path(src->shards[s]), tensor,
                     mapped ? "maps to another shard" : "does not list");
                goto done;
            }
        }
    }
    rc = 0;
done:
    json_decref(root);
    return rc;
}

// Fills the slots from the shards' tensors; every tensor must have a slot of its own.
static int assign_slots(ModelSource *src, char *err, size_t err_len) {
    const LlamaConfig *cfg = &src->cfg;
    int n_extra = 0;
    char first_extra[256] = "";
    for (int s = 0; s < src->n_shards; s++) {
        const SafetensorsFile *f = src->shards[s];
        for (int i = 0; i < safetensors_n_tensors(f); i++) {
            const SafetensorsTensor *t = safetensors_tensor(f, i);
            ParamKind kind;
            int layer;
            int parsed = parse_hf_name(cfg, t->name, &kind, &layer);
            if (parsed < 0) continue;
            if (parsed == 0) {
                if (n_extra++ == 0)
                    snprintf(first_extra, sizeof(first_extra), "%s: unexpected tensor '%.150s'",
                             safetensors_path(f), t->name);
                continue;
            }
            Slot *slot = &src->slots[slot_index(cfg, kind, layer)];
            if (slot->tensor) {
                fail(err, err_len, "%s: tensor '%s' appears twice (also in %s)",
                     safetensors_path(f), t->name, safetensors_path(slot->file));
                return -1;
            }
            *slot = (Slot){f, t};
        }
    }
    if (n_extra) {
        fail(err, err_len, "%s%s (%d unexpected in all): a %s with %d layers has no such tensor",
             first_extra, n_extra > 1 ? " and others" : "", n_extra,
             cfg->qkv_bias         ? "Qwen2"
             : cfg->tie_embeddings ? "tied-embedding Llama"
                                   : "Llama",
             cfg->n_layers);
        return -1;
    }
    return 0;
}

// Every slot the config implies must be filled, with a float dtype and the config's shape.
static int check_slots(const ModelSource *src, char *err, size_t err_len) {
    const LlamaConfig *cfg = &src->cfg;
    int n_missing = 0;
    char first_missing[128] = "";
    for (int k = 0; k < PARAM_COUNT; k++) {
        int n_layers = param_per_layer((ParamKind)k) ? cfg->n_layers : 1;
        for (int l = 0; param_present(cfg, (ParamKind)k) && l < n_layers; l++) {
            const Slot *slot = &src->slots[slot_index(cfg, (ParamKind)k, l)];
            if (!slot->tensor) {
                if (n_missing++ == 0) hf_name((ParamKind)k, l, first_missing, 128);
                continue;
            }
            const SafetensorsTensor *t = slot->tensor;
            if (t->dtype != ST_F32 && t->dtype != ST_F16 && t->dtype != ST_BF16) {
                fail(err, err_len, "%s: tensor '%s' has dtype %s, expected F32, F16 or BF16",
                     safetensors_path(slot->file), t->name, safetensors_dtype_name(t->dtype));
                return -1;
            }
            int64_t shape[2];
            int n_dims = param_shape(cfg, (ParamKind)k, shape);
            if (t->n_dims != n_dims || memcmp(t->shape, shape, (size_t)n_dims * sizeof(int64_t))) {
                char got[128], want[64];
                safetensors_format_shape(got, sizeof(got), t->shape, t->n_dims);
                safetensors_format_shape(want, sizeof(want), shape, n_dims);
                fail(err, err_len, "%s: tensor '%s' has shape %s, config.json implies %s",
                     safetensors_path(slot->file), t->name, got, want);
                return -1;
            }
        }
    }
    if (n_missing) {
        fail(err, err_len, "%s: missing tensor '%s'%s (%d missing in all)", src->path,
             first_missing, n_missing > 1 ? " and others" : "", n_missing);
        return -1;
    }
    return 0;
}

static int open_folder(ModelSource *src, char *err, size_t err_len) {
    char *config_path = join_path(src->path, "config.json");
    char *single_path = join_path(src->path, SINGLE_NAME);
    char *index_path = join_path(src->path, INDEX_NAME);
    char *bin_path = join_path(src->path, "pytorch_model.bin");
    int rc = -1;
    HfConfig hf;
    if (!config_path || !single_path || !index_path || !bin_path) {
        fail(err, err_len, "%s: out of memory", src->path);
    } else if (hf_config_load(config_path, &hf, err, err_len) == 0) {
        src->cfg = hf.cfg;
        src->slots = calloc((size_t)PARAM_COUNT * (size_t)src->cfg.n_layers, sizeof(Slot));
        // transformers reads model.safetensors when both it and an index are present.
        if (!src->slots)
            fail(err, err_len, "%s: out of memory", src->path);
        else if (is_file(single_path))
            rc = add_shard(src, SINGLE_NAME, err, err_len);
        else if (is_file(index_path))
            rc = open_index(src, index_path, err, err_len);
        else
            fail(err, err_len, "%s: no %s or %s%s", src->path, SINGLE_NAME, INDEX_NAME,
                 is_file(bin_path) ? " (pytorch_model.bin is not read: save the model with "
                                     "safe_serialization=True)"
                                   : "");
        if (rc == 0) rc = assign_slots(src, err, err_len);
        if (rc == 0) rc = check_slots(src, err, err_len);
    }
    free(config_path);
    free(single_path);
    free(index_path);
    free(bin_path);
    return rc;
}

static bool has_suffix(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && !strcmp(s + n - k, suffix);
}

static int open_gguf(ModelSource *src, char *err, size_t err_len) {
    src->gguf = gguf_open(src->path, err, err_len);
    if (!src->gguf) return -1;
    if (gguf_llama_config(src->gguf, &src->cfg, err, err_len) < 0) return -1;
    return gguf_llama_check(src->gguf, &src->cfg, err, err_len);
}

ModelSource *model_source_open(const char *path, char *err, size_t err_len) {
    ModelSource *src = calloc(1, sizeof(*src));
    if (src) src->path = strdup(path);
    if (!src || !src->path) {
        fail(err, err_len, "%s: out of memory", path);
        free(src);
        return NULL;
    }
    // A trailing slash would double up in the shard paths built from the folder's.
    size_t len = strlen(src->path);
    while (len > 1 && src->path[len - 1] == '/') src->path[--len] = '\0';

    struct stat st;
    int rc = -1;
    if (stat(path, &st) != 0) {
        fail(err, err_len, "%s: %s", path, strerror(errno));
    } else if (S_ISDIR(st.st_mode)) {
        src->format = MODEL_FORMAT_HF;
        rc = open_folder(src, err, err_len);
    } else if (S_ISREG(st.st_mode) && has_suffix(path, ".gguf")) {
        src->format = MODEL_FORMAT_GGUF;
        rc = open_gguf(src, err, err_len);
    } else {
        fail(err, err_len,
             "%s: expected a model folder (config.json and safetensors) or a .gguf file", path);
    }
    if (rc < 0) {
        model_source_close(src);
        return NULL;
    }
    return src;
}

void model_source_close(ModelSource *src) {
    if (!src) return;
    for (int i = 0; i < src->n_shards; i++) safetensors_close(src->shards[i]);
    free(src->shards);
    free(src->slots);
    gguf_close(src->gguf);
    free(src->path);
    free(src);
}

const LlamaConfig *model_source_config(const ModelSource *src) {
    return &src->cfg;
}

ModelFormat model_source_format(const ModelSource *src) {
    return src->format;
}

const char *model_source_dtype(const ModelSource *src, ParamKind kind, int layer) {
    if (!param_present(&src->cfg, kind)) return NULL;
    if (src->format == MODEL_FORMAT_GGUF) return gguf_llama_dtype(src->gguf, kind, layer);
    return safetensors_dtype_name(src->slots[slot_index(&src->cfg, kind, layer)].tensor->dtype);
}

int model_source_read(const ModelSource *src, ParamKind kind, int layer, float *dst, char *err,
                      size_t err_len) {
    if (!param_present(&src->cfg, kind)) {
        fail(err, err_len, "%s: the LM head is tied to the embedding, read PARAM_EMBED", src->path);
        return -1;
    }
    if (src->format == MODEL_FORMAT_GGUF)
        return gguf_llama_read(src->gguf, &src->cfg, kind, layer, dst, err, err_len);
    assert(!param_per_layer(kind) || (layer >= 0 && layer < src->cfg.n_layers));
    const Slot *slot = &src->slots[slot_index(&src->cfg, kind, layer)];
    return safetensors_read_f32(slot->file, slot->tensor, dst, param_elements(&src->cfg, kind), err,
                                err_len);
}
