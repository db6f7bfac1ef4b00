#include "pretrain_config.h"

#include <libconfig.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

typedef enum { FIELD_INT, FIELD_INT64, FIELD_FLOAT, FIELD_BOOL, FIELD_STRING } FieldType;

typedef struct {
    const char *path; // "group.name" or "name"
    FieldType type;
    size_t offset; // into PretrainConfig
    bool required;
    double lo, hi; // inclusive range of numbers
    bool lo_open;  // lo itself is out of range
} Field;

#define FIELD(path, type, member, required, lo, hi, lo_open)                                       \
    { path, type, offsetof(PretrainConfig, member), required, lo, hi, lo_open }

static const Field fields[] = {
    FIELD("output", FIELD_STRING, output, true, 0, 0, false),
    FIELD("seed", FIELD_INT64, seed, false, 0, 9007199254740992.0, false),
    FIELD("model.dim", FIELD_INT, model.dim, true, 2, 65536, false),
    FIELD("model.ffn_dim", FIELD_INT, model.ffn_dim, true, 1, 1 << 20, false),
    FIELD("model.n_layers", FIELD_INT, model.n_layers, true, 1, 1024, false),
    FIELD("model.n_heads", FIELD_INT, model.n_heads, true, 1, 1024, false),
    FIELD("model.n_kv_heads", FIELD_INT, model.n_kv_heads, false, 1, 1024, false),
    FIELD("model.max_seq_len", FIELD_INT, model.max_seq_len, true, 1, 1 << 20, false),
    FIELD("model.rms_eps", FIELD_FLOAT, model.rms_eps, false, 0, 1, true),
    FIELD("model.rope_theta", FIELD_FLOAT, model.rope_theta, false, 0, 1e9, true),
    FIELD("model.tie_embeddings", FIELD_BOOL, model.tie_embeddings, false, 0, 0, false),
    FIELD("model.init_std", FIELD_FLOAT, init_std, false, 0, 10, true),
    FIELD("data.tokenizer", FIELD_STRING, tokenizer, true, 0, 0, false),
    FIELD("data.text", FIELD_STRING, text, true, 0, 0, false),
    FIELD("data.validation", FIELD_STRING, validation, false, 0, 0, false),
    FIELD("data.validation_fraction", FIELD_FLOAT, validation_fraction, false, 0, 0.5, false),
    FIELD("train.seq_len", FIELD_INT, seq_len, true, 2, 1 << 20, false),
    FIELD("train.batch_seqs", FIELD_INT, batch_seqs, true, 1, 1 << 16, false),
    FIELD("train.steps", FIELD_INT, steps, true, 1, 1 << 30, false),
    FIELD("train.warmup_steps", FIELD_INT, warmup_steps, false, 0, 1 << 30, false),
    FIELD("train.lr", FIELD_FLOAT, lr, true, 0, 1, true),
    FIELD("train.min_lr", FIELD_FLOAT, min_lr, false, 0, 1, false),
    FIELD("train.beta1", FIELD_FLOAT, beta1, false, 0, 1, false),
    FIELD("train.beta2", FIELD_FLOAT, beta2, false, 0, 1, false),
    FIELD("train.eps", FIELD_FLOAT, eps, false, 0, 1, true),
    FIELD("train.weight_decay", FIELD_FLOAT, weight_decay, false, 0, 1, false),
    FIELD("train.clip_norm", FIELD_FLOAT, clip_norm, false, 0, 1e9, false),
    FIELD("train.eval_every", FIELD_INT, eval_every, false, 0, 1 << 30, false),
    FIELD("train.checkpoint_every", FIELD_INT, checkpoint_every, false, 0, 1 << 30, false),
};
static const int n_fields = sizeof(fields) / sizeof(fields[0]);
static const char *const groups[] = {"model", "data", "train"};

typedef struct {
    const char *file;
    char *err;
    size_t err_len;
} Reader;

// "file:line: " then the message; line 0 (a missing field) gives "file: ".
static int fail(const Reader *r, int line, const char *fmt, ...) {
    int n = line ? snprintf(r->err, r->err_len, "%s:%d: ", r->file, line)
                 : snprintf(r->err, r->err_len, "%s: ", r->file);
    if (n >= 0 && (size_t)n < r->err_len) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(r->err + n, r->err_len - (size_t)n, fmt, ap);
        va_end(ap);
    }
    return -1;
}

static const char *type_name(int type) {
    switch (type) {
    case CONFIG_TYPE_GROUP:
        return "a group";
    case CONFIG_TYPE_INT:
    case CONFIG_TYPE_INT64:
        return "an integer";
    case CONFIG_TYPE_FLOAT:
        return "a number";
    case CONFIG_TYPE_STRING:
        return "a string";
    case CONFIG_TYPE_BOOL:
        return "true or false";
    default:
        return "a list";
    }
}

// What a field takes, for messages: "an integer in 1..1024".
static void describe(const Field *f, char *buf, size_t len) {
    if (f->type == FIELD_STRING || f->type == FIELD_BOOL)
        snprintf(buf, len, "%s", f->type == FIELD_STRING ? "a string" : "true or false");
    else
        snprintf(buf, len, "%s in %s%.10g..%.10g]",
                 f->type == FIELD_FLOAT ? "a number" : "an integer", f->lo_open ? "(" : "[", f->lo,
                 f->hi);
}

static int read_field(const Reader *r, const Field *f, const config_setting_t *s,
                      PretrainConfig *c) {
    char *dst = (char *)c + f->offset;
    int line = config_setting_source_line(s), type = config_setting_type(s);
    char expected[96];
    describe(f, expected, sizeof(expected));
    bool is_int = type == CONFIG_TYPE_INT || type == CONFIG_TYPE_INT64;
    bool type_ok = f->type == FIELD_STRING  ? type == CONFIG_TYPE_STRING
                   : f->type == FIELD_BOOL  ? type == CONFIG_TYPE_BOOL
                   : f->type == FIELD_FLOAT ? is_int || type == CONFIG_TYPE_FLOAT
                                            : is_int;
    if (!type_ok)
        return fail(r, line, "field '%s' must be %s, got %s", f->path, expected, type_name(type));
    if (f->type == FIELD_STRING) {
        const char *v = config_setting_get_string(s);
        if (!*v || strlen(v) >= PRETRAIN_PATH_MAX)
            return fail(r, line, "field '%s' must be a non-empty path shorter than %d bytes",
                        f->path, PRETRAIN_PATH_MAX);
        memcpy(dst, v, strlen(v) + 1);
        return 0;
    }
    if (f->type == FIELD_BOOL) {
        *(bool *)dst = config_setting_get_bool(s);
        return 0;
    }
    double x = is_int ? (double)config_setting_get_int64(s) : config_setting_get_float(s);
    if (!(x >= f->lo && x <= f->hi) || (f->lo_open && x == f->lo))
        return fail(r, line, "field '%s' is %.10g, expected %s", f->path, x, expected);
    if (f->type == FIELD_INT)
        *(int *)dst = (int)x;
    else if (f->type == FIELD_INT64)
        *(long long *)dst = config_setting_get_int64(s);
    else
        *(float *)dst = (float)x;
    return 0;
}

static const Field *find_field(const char *path) {
    for (int i = 0; i < n_fields; i++)
        if (!strcmp(fields[i].path, path)) return &fields[i];
    return NULL;
}

// Every setting in the file must be a known field or group.
static int refuse_unknown(const Reader *r, const config_setting_t *root) {
    for (int i = 0; i < config_setting_length(root); i++) {
        const config_setting_t *s = config_setting_get_elem(root, (unsigned)i);
        const char *name = config_setting_name(s);
        bool group = false;
        for (size_t g = 0; g < sizeof(groups) / sizeof(groups[0]); g++)
            group = group || !strcmp(name, groups[g]);
        if (group && config_setting_is_group(s)) {
            for (int j = 0; j < config_setting_length(s); j++) {
                const config_setting_t *e = config_setting_get_elem(s, (unsigned)j);
                char path[128];
                snprintf(path, sizeof(path), "%s.%s", name, config_setting_name(e));
                if (!find_field(path))
                    return fail(r, config_setting_source_line(e), "unknown field '%s'", path);
            }
        } else if (group) {
            return fail(r, config_setting_source_line(s), "'%s' must be a group { ... }, got %s",
                        name, type_name(config_setting_type(s)));
        } else if (!find_field(name)) {
            return fail(r, config_setting_source_line(s), "unknown field '%s'", name);
        }
    }
    return 0;
}

static PretrainConfig defaults(void) {
    return (PretrainConfig){
        .model = {.rms_eps = 1e-5f, .rope_theta = 10000.0f, .tie_embeddings = true},
        .init_std = 0.02f,
        .validation_fraction = 0.05f,
        .beta1 = 0.9f,
        .beta2 = 0.95f,
        .eps = 1e-8f,
        .weight_decay = 0.1f,
        .clip_norm = 1.0f,
    };
}

static int line_of(const config_t *cfg, const char *path) {
    const config_setting_t *s = config_lookup(cfg, path);
    return s ? config_setting_source_line(s) : 0;
}

// Rules between fields, reported at the line of the field that breaks them.
static int check_consistency(const Reader *r, const config_t *cfg, PretrainConfig *c) {
    LlamaConfig *m = &c->model;
    if (!m->n_kv_heads) m->n_kv_heads = m->n_heads;
    if (m->n_heads % m->n_kv_heads)
        return fail(r, line_of(cfg, "model.n_kv_heads"),
                    "field 'model.n_kv_heads' (%d) must divide model.n_heads (%d)", m->n_kv_heads,
                    m->n_heads);
    if (m->dim % m->n_heads || (m->dim / m->n_heads) % 2)
        return fail(r, line_of(cfg, "model.n_heads"),
                    "field 'model.n_heads' (%d) must divide model.dim (%d) into heads of an even "
                    "size (rotary embeddings rotate pairs)",
                    m->n_heads, m->dim);
    m->head_dim = m->dim / m->n_heads;
    if (c->seq_len > m->max_seq_len)
        return fail(r, line_of(cfg, "train.seq_len"),
                    "field 'train.seq_len' (%d) exceeds model.max_seq_len (%d)", c->seq_len,
                    m->max_seq_len);
    if (c->min_lr > c->lr)
        return fail(r, line_of(cfg, "train.min_lr"),
                    "field 'train.min_lr' (%g) exceeds train.lr (%g)", c->min_lr, c->lr);
    if (c->warmup_steps > c->steps)
        return fail(r, line_of(cfg, "train.warmup_steps"),
                    "field 'train.warmup_steps' (%d) exceeds train.steps (%d)", c->warmup_steps,
                    c->steps);
    if (c->beta1 >= 1 || c->beta2 >= 1)
        return fail(r, line_of(cfg, c->beta1 >= 1 ? "train.beta1" : "train.beta2"),
                    "field 'train.%s' must be below 1", c->beta1 >= 1 ? "beta1" : "beta2");
    if (c->validation[0] && config_lookup(cfg, "data.validation_fraction"))
        return fail(r, line_of(cfg, "data.validation_fraction"),
                    "give either data.validation (a file) or data.validation_fraction, not both");
    if (c->validation[0]) c->validation_fraction = 0;
    return 0;
}

int pretrain_config_load(const char *path, PretrainConfig *c, char *err, size_t err_len) {
    Reader r = {path, err, err_len};
    *c = defaults();
    config_t cfg;
    config_init(&cfg);
    int rc = -1;
    if (!config_read_file(&cfg, path)) {
        if (config_error_type(&cfg) == CONFIG_ERR_FILE_IO)
            snprintf(err, err_len, "%s: cannot read the file", path);
        else
            fail(&r, config_error_line(&cfg), "%s", config_error_text(&cfg));
        goto done;
    }
    if (refuse_unknown(&r, config_root_setting(&cfg)) < 0) goto done;
    for (int i = 0; i < n_fields; i++) {
        const Field *f = &fields[i];
        const config_setting_t *s = config_lookup(&cfg, f->path);
        if (s && read_field(&r, f, s, c) < 0) goto done;
        if (!s && f->required) {
            char expected[96];
            describe(f, expected, sizeof(expected));
            fail(&r, 0, "missing required field '%s' (%s)", f->path, expected);
            goto done;
        }
    }
    rc = check_consistency(&r, &cfg, c);
done:
    config_destroy(&cfg);
    return rc;
}
