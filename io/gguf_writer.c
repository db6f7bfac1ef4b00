// GGUF writer; see gguf_writer.h. The file layout is described at the top of gguf.c.
#include "gguf_writer.h"
#include "fail.h"
#include "fs.h"

#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf_writer.c assumes a little-endian host"
#endif

#define GGUF_WRITTEN_VERSION 3

// --- checking what is asked ----------------------------------------------------------------

static bool same_key(GgufString a, const char *b) {
    return a.len == strlen(b) && memcmp(a.ptr, b, a.len) == 0;
}

// The integer types (and BOOL) a set value may hold: their range (UINT64 up to INT64_MAX, what
// GgufValue.i holds) and width; size 0 for the other types.
static const struct {
    int64_t lo, hi;
    uint64_t size;
} integer_types[] = {
    [GGUF_UINT8] = {0, UINT8_MAX, 1},
    [GGUF_INT8] = {INT8_MIN, INT8_MAX, 1},
    [GGUF_UINT16] = {0, UINT16_MAX, 2},
    [GGUF_INT16] = {INT16_MIN, INT16_MAX, 2},
    [GGUF_UINT32] = {0, UINT32_MAX, 4},
    [GGUF_INT32] = {INT32_MIN, INT32_MAX, 4},
    [GGUF_UINT64] = {0, INT64_MAX, 8},
    [GGUF_INT64] = {INT64_MIN, INT64_MAX, 8},
    [GGUF_BOOL] = {0, 1, 1},
};

static bool is_integer_type(GgufType t) {
    return (unsigned)t < sizeof(integer_types) / sizeof(integer_types[0]) && integer_types[t].size;
}

static int check_set(const char *path, const GgufValue *set, int n_set, char *err, size_t err_len) {
    for (int k = 0; k < n_set; k++) {
        const GgufValue *v = &set[k];
        if (!v->key || !v->key[0])
            return fail(err, err_len, "%s: metadata value #%d has no key", path, k);
        if (!strcmp(v->key, "general.alignment"))
            return fail(err, err_len,
                        "%s: general.alignment cannot be set: the copy keeps the source's "
                        "data layout",
                        path);
        for (int j = 0; j < k; j++)
            if (!strcmp(set[j].key, v->key))
                return fail(err, err_len, "%s: key '%s' is set twice", path, v->key);
        if (is_integer_type(v->type)) {
            int64_t lo = integer_types[v->type].lo, hi = integer_types[v->type].hi;
            if (v->i < lo || v->i > hi)
                return fail(err, err_len,
                            "%s: key '%s': %" PRId64 " is out of range for its type (%" PRId64
                            "..%" PRId64 ")",
                            path, v->key, v->i, lo, hi);
        } else if (v->type == GGUF_STRING ? !v->s
                                          : v->type != GGUF_FLOAT32 && v->type != GGUF_FLOAT64) {
            return fail(err, err_len,
                        "%s: key '%s': value type %d cannot be set (a scalar, or a STRING "
                        "with its text, can)",
                        path, v->key, (int)v->type);
        }
    }
    return 0;
}

static int check_tensors(const char *path, const GgufTensor *const *tensors, int n_tensors,
                         char *err, size_t err_len) {
    for (int i = 0; i < n_tensors; i++)
        for (int j = 0; j < i; j++)
            if (tensors[i]->name.len == tensors[j]->name.len &&
                !memcmp(tensors[i]->name.ptr, tensors[j]->name.ptr, tensors[i]->name.len))
                return fail(err, err_len, "%s: tensor '%.*s' is listed twice", path,
                            (int)tensors[i]->name.len, tensors[i]->name.ptr);
    return 0;
}

// --- the output stream ---------------------------------------------------------------------

// Counts the bytes written, for padding, and keeps the first write error, so the caller checks
// once at the end.
typedef struct {
    FILE *f;
    uint64_t pos;
    int error; // errno of the first failure, 0 while every write succeeded
} Out;

static void put(Out *o, const void *bytes, uint64_t n) {
    if (!o->error && n && fwrite(bytes, 1, (size_t)n, o->f) != n) o->error = errno ? errno : EIO;
    o->pos += n;
}

static void put_u32(Out *o, uint32_t v) {
    put(o, &v, 4);
}

static void put_u64(Out *o, uint64_t v) {
    put(o, &v, 8);
}

static void put_string(Out *o, const char *s, uint64_t len) {
    put_u64(o, len);
    put(o, s, len);
}

// Zeros up to the next multiple of alignment.
static void pad(Out *o, uint64_t alignment) {
    static const uint8_t zeros[256];
    uint64_t n = (alignment - o->pos % alignment) % alignment;
    for (uint64_t step; n; n -= step) {
        step = n < sizeof(zeros) ? n : sizeof(zeros);
        put(o, zeros, step);
    }
}

static uint64_t padded(uint64_t n, uint64_t alignment) {
    return (n + alignment - 1) / alignment * alignment;
}

// The value of v in its type's bytes (little-endian, as the host).
static void put_value(Out *o, const GgufValue *v) {
    if (v->type == GGUF_STRING) {
        put_string(o, v->s, strlen(v->s));
    } else if (v->type == GGUF_FLOAT32) {
        float f = (float)v->f;
        put(o, &f, 4);
    } else if (v->type == GGUF_FLOAT64) {
        put(o, &v->f, 8);
    } else {
        put(o, &v->i, integer_types[v->type].size); // the low bytes of the checked value
    }
}

static const GgufValue *find_set(const GgufValue *set, int n_set, GgufString key) {
    for (int k = 0; k < n_set; k++)
        if (same_key(key, set[k].key)) return &set[k];
    return NULL;
}

static void put_kv(Out *o, const char *key, uint64_t key_len, GgufType type) {
    put_string(o, key, key_len);
    put_u32(o, (uint32_t)type);
}

static void put_file(Out *o, const Gguf *src, const GgufValue *set, int n_set,
                     const GgufTensor *const *tensors, int n_tensors) {
    int64_t n_src = gguf_n_kv(src), n_added = 0;
    for (int k = 0; k < n_set; k++) n_added += !gguf_has(src, set[k].key);
    put(o, "GGUF", 4);
    put_u32(o, GGUF_WRITTEN_VERSION);
    put_u64(o, (uint64_t)n_tensors);
    put_u64(o, (uint64_t)(n_src + n_added));

    for (int64_t i = 0; i < n_src; i++) {
        GgufKvBytes kv = gguf_kv_bytes(src, i);
        const GgufValue *v = find_set(set, n_set, kv.key);
        put_kv(o, kv.key.ptr, kv.key.len, v ? v->type : kv.type);
        if (v)
            put_value(o, v);
        else
            put(o, kv.bytes, kv.n_bytes);
    }
    for (int k = 0; k < n_set; k++) {
        if (gguf_has(src, set[k].key)) continue;
        put_kv(o, set[k].key, strlen(set[k].key), set[k].type);
        put_value(o, &set[k]);
    }

    // Offsets relative to the data section: each tensor starts where the previous one's padded
    // bytes end, which is also what llama.cpp checks.
    uint64_t alignment = gguf_alignment(src), offset = 0;
    for (int i = 0; i < n_tensors; i++) {
        const GgufTensor *t = tensors[i];
        put_string(o, t->name.ptr, t->name.len);
        put_u32(o, t->n_dims);
        for (uint32_t d = 0; d < t->n_dims; d++) put_u64(o, t->ne[d]);
        put_u32(o, (uint32_t)t->type);
        put_u64(o, offset);
        offset += padded(t->nbytes, alignment);
    }
    pad(o, alignment);
    for (int i = 0; i < n_tensors; i++) {
        put(o, tensors[i]->data, tensors[i]->nbytes);
        pad(o, alignment);
    }
}

// What gguf_write_copy writes: src with set's keys changed or added, and only tensors.
typedef struct {
    const Gguf *src;
    const GgufValue *set;
    int n_set;
    const GgufTensor *const *tensors;
    int n_tensors;
} Copy;

// The whole file, for replace_file.
static int write_copy(FILE *f, void *ctx) {
    const Copy *c = ctx;
    Out o = {f, 0, 0};
    put_file(&o, c->src, c->set, c->n_set, c->tensors, c->n_tensors);
    errno = o.error;
    return o.error ? -1 : 0;
}

int gguf_write_copy(const char *path, const Gguf *src, const GgufValue *set, int n_set,
                    const GgufTensor *const *tensors, int n_tensors, char *err, size_t err_len) {
    if (check_set(path, set, n_set, err, err_len) < 0 ||
        check_tensors(path, tensors, n_tensors, err, err_len) < 0)
        return -1;
    Copy copy = {src, set, n_set, tensors, n_tensors};
    return replace_file(path, write_copy, &copy, err, err_len);
}
