// Reading the config of `are pretrain`; see pretrain_config.h for the format. The fields are a
// schema table read by io/config_schema.c, the engine of run configs too, so both refuse the
// same mistakes with the same messages.
#include "pretrain_config.h"

#include "config_schema.h"

#include <libconfig.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const SchemaField pretrain_fields[] = {
    {"output", SCHEMA_STRING, .required = true, .nonempty = true,
     SCHEMA_AT(PretrainConfig, output)},
    {"seed", SCHEMA_INT64, .min = 0, .max = 9007199254740992.0, SCHEMA_AT(PretrainConfig, seed)},

    {"model.dim", SCHEMA_INT, .required = true, .min = 2, .max = 65536,
     SCHEMA_AT(PretrainConfig, model.dim)},
    {"model.ffn_dim", SCHEMA_INT, .required = true, .min = 1, .max = 1 << 20,
     SCHEMA_AT(PretrainConfig, model.ffn_dim)},
    {"model.n_layers", SCHEMA_INT, .required = true, .min = 1, .max = 1024,
     SCHEMA_AT(PretrainConfig, model.n_layers)},
    {"model.n_heads", SCHEMA_INT, .required = true, .min = 1, .max = 1024,
     SCHEMA_AT(PretrainConfig, model.n_heads)},
    // 0, the default, stands for model.n_heads (no grouping); check_rules resolves it.
    {"model.n_kv_heads", SCHEMA_INT, .min = 1, .max = 1024,
     SCHEMA_AT(PretrainConfig, model.n_kv_heads)},
    {"model.max_seq_len", SCHEMA_INT, .required = true, .min = 1, .max = 1 << 20,
     SCHEMA_AT(PretrainConfig, model.max_seq_len)},
    {"model.rms_eps", SCHEMA_FLOAT, .number = 1e-5, .min = 0, .max = 1, .min_exclusive = true,
     SCHEMA_AT(PretrainConfig, model.rms_eps)},
    {"model.rope_theta", SCHEMA_FLOAT, .number = 10000, .min = 0, .max = 1e9, .min_exclusive = true,
     SCHEMA_AT(PretrainConfig, model.rope_theta)},
    {"model.tie_embeddings", SCHEMA_BOOL, .number = 1,
     SCHEMA_AT(PretrainConfig, model.tie_embeddings)},
    {"model.init_std", SCHEMA_FLOAT, .number = 0.02, .min = 0, .max = 10, .min_exclusive = true,
     SCHEMA_AT(PretrainConfig, init_std)},

    {"data.tokenizer", SCHEMA_STRING, .required = true, .nonempty = true,
     SCHEMA_AT(PretrainConfig, tokenizer)},
    {"data.text", SCHEMA_STRING, .required = true, .nonempty = true,
     SCHEMA_AT(PretrainConfig, text)},
    {"data.validation", SCHEMA_STRING, .nonempty = true, SCHEMA_AT(PretrainConfig, validation)},
    {"data.validation_fraction", SCHEMA_FLOAT, .number = 0.05, .min = 0, .max = 0.5,
     SCHEMA_AT(PretrainConfig, validation_fraction)},

    {"train.seq_len", SCHEMA_INT, .required = true, .min = 2, .max = 1 << 20,
     SCHEMA_AT(PretrainConfig, seq_len)},
    {"train.batch_seqs", SCHEMA_INT, .required = true, .min = 1, .max = 1 << 16,
     SCHEMA_AT(PretrainConfig, batch_seqs)},
    {"train.steps", SCHEMA_INT, .required = true, .min = 1, .max = 1 << 30,
     SCHEMA_AT(PretrainConfig, steps)},
    {"train.warmup_steps", SCHEMA_INT, .min = 0, .max = 1 << 30,
     SCHEMA_AT(PretrainConfig, warmup_steps)},
    {"train.lr", SCHEMA_FLOAT, .required = true, .min = 0, .max = 1, .min_exclusive = true,
     SCHEMA_AT(PretrainConfig, lr)},
    {"train.min_lr", SCHEMA_FLOAT, .min = 0, .max = 1, SCHEMA_AT(PretrainConfig, min_lr)},
    // Betas must also stay below 1 (check_rules): the schema's ranges include their maximum.
    {"train.beta1", SCHEMA_FLOAT, .number = 0.9, .min = 0, .max = 1,
     SCHEMA_AT(PretrainConfig, beta1)},
    {"train.beta2", SCHEMA_FLOAT, .number = 0.95, .min = 0, .max = 1,
     SCHEMA_AT(PretrainConfig, beta2)},
    {"train.eps", SCHEMA_FLOAT, .number = 1e-8, .min = 0, .max = 1, .min_exclusive = true,
     SCHEMA_AT(PretrainConfig, eps)},
    {"train.weight_decay", SCHEMA_FLOAT, .number = 0.1, .min = 0, .max = 1,
     SCHEMA_AT(PretrainConfig, weight_decay)},
    {"train.clip_norm", SCHEMA_FLOAT, .number = 1, .min = 0, .max = 1e9,
     SCHEMA_AT(PretrainConfig, clip_norm)},
    {"train.eval_every", SCHEMA_INT, .min = 0, .max = 1 << 30,
     SCHEMA_AT(PretrainConfig, eval_every)},
    {"train.checkpoint_every", SCHEMA_INT, .min = 0, .max = 1 << 30,
     SCHEMA_AT(PretrainConfig, checkpoint_every)},
};
static const Schema pretrain_schema = {pretrain_fields,
                                       sizeof(pretrain_fields) / sizeof(pretrain_fields[0])};

// Rules between fields, reported at the field that breaks them; fills the fields derived from
// others (n_kv_heads when absent, head_dim).
static int check_rules(const config_t *cfg, PretrainConfig *c, char *err, size_t err_len) {
    const config_setting_t *root = config_root_setting(cfg);
    LlamaConfig *m = &c->model;
    if (!m->n_kv_heads) m->n_kv_heads = m->n_heads;
    if (m->n_heads % m->n_kv_heads)
        return schema_error_at(root, "model.n_kv_heads", err, err_len,
                               "field 'model.n_kv_heads' (%d) must divide model.n_heads (%d)",
                               m->n_kv_heads, m->n_heads);
    if (m->dim % m->n_heads || (m->dim / m->n_heads) % 2)
        return schema_error_at(root, "model.n_heads", err, err_len,
                               "field 'model.n_heads' (%d) must divide model.dim (%d) into heads "
                               "of an even size (rotary embeddings rotate pairs)",
                               m->n_heads, m->dim);
    m->head_dim = m->dim / m->n_heads;
    if (c->seq_len > m->max_seq_len)
        return schema_error_at(root, "train.seq_len", err, err_len,
                               "field 'train.seq_len' (%d) exceeds model.max_seq_len (%d)",
                               c->seq_len, m->max_seq_len);
    if (c->min_lr > c->lr)
        return schema_error_at(root, "train.min_lr", err, err_len,
                               "field 'train.min_lr' (%g) exceeds train.lr (%g)", c->min_lr, c->lr);
    if (c->warmup_steps > c->steps)
        return schema_error_at(root, "train.warmup_steps", err, err_len,
                               "field 'train.warmup_steps' (%d) exceeds train.steps (%d)",
                               c->warmup_steps, c->steps);
    if (c->beta1 >= 1 || c->beta2 >= 1) {
        const char *path = c->beta1 >= 1 ? "train.beta1" : "train.beta2";
        return schema_error_at(root, path, err, err_len, "field '%s' must be below 1", path);
    }
    if (c->validation[0] && config_lookup(cfg, "data.validation_fraction"))
        return schema_error_at(
            root, "data.validation_fraction", err, err_len,
            "give either data.validation (a file) or data.validation_fraction, not both");
    if (c->validation[0]) c->validation_fraction = 0;
    return 0;
}

int pretrain_config_load(const char *path, const char *const *overrides, int n_overrides,
                         PretrainConfig *c, char *err, size_t err_len) {
    memset(c, 0, sizeof(*c));
    config_t cfg;
    config_init(&cfg);
    int rc = schema_read_file(&cfg, path, err, err_len);
    for (int i = 0; rc == 0 && i < n_overrides; i++)
        rc = schema_override(&cfg, &pretrain_schema, overrides[i], err, err_len);
    if (rc == 0)
        rc = schema_check(&pretrain_schema, config_root_setting(&cfg), "", c, err, err_len);
    if (rc == 0) rc = check_rules(&cfg, c, err, err_len);
    config_destroy(&cfg);
    return rc;
}

char *pretrain_config_text(const PretrainConfig *c) {
    SchemaText t = {0};
    schema_text_fields(&t, &pretrain_schema, c, "");
    // "path = value;" lines sorted by path, so the fields of a group are next to each other.
    char *flat = schema_text_join(&t);
    // Each line gains at most its indent; a group its "name = {" and "};" lines.
    size_t cap = flat ? 2 * strlen(flat) + 256 : 0;
    char *text = flat ? malloc(cap) : NULL;
    if (!text) {
        free(flat);
        return NULL;
    }
    // Only one of the two validation fields may be given: the file, or else the fraction.
    const char *left_out = c->validation[0] ? "data.validation_fraction " : "data.validation ";
    size_t at = 0;
    text[0] = '\0';
    const char *group = ""; // the open group's name ("model"), "" at the top level
    int group_len = 0;
    for (char *line = flat, *next; *line; line = next) {
        next = strchr(line, '\n');
        *next++ = '\0';
        if (!strncmp(line, left_out, strlen(left_out))) continue;
        const char *dot = strchr(line, '.'), *space = strchr(line, ' ');
        int len = dot && dot < space ? (int)(dot - line) : 0;
        if (len != group_len || strncmp(line, group, (size_t)len)) {
            if (group_len) at += (size_t)snprintf(text + at, cap - at, "};\n");
            if (len) at += (size_t)snprintf(text + at, cap - at, "%.*s = {\n", len, line);
            group = line;
            group_len = len;
        }
        at += (size_t)snprintf(text + at, cap - at, "%s%s\n", len ? "    " : "",
                               len ? line + len + 1 : line);
    }
    if (group_len) snprintf(text + at, cap - at, "};\n");
    free(flat);
    return text;
}
