// GGUF reader; see gguf.h.
//
// Layout (little-endian): "GGUF", u32 version, u64 tensor count, u64 key/value count; the
// key/values (string key, u32 type, value); the tensor infos (string name, u32 n_dims,
// u64 ne[n_dims], u32 type, u64 offset); padding to general.alignment; the data section, where
// each tensor's offset (relative to the section) is a multiple of the alignment. A string is a
// u64 length and that many bytes; an array is a u32 element type, a u64 count and the elements.
//
// gguf_open walks the whole file once with a bounds-checked cursor, so nothing read later can
// point outside the mapping; lookups by name go through indexes sorted at open.
#include "gguf.h"
#include "fail.h"
#include "gguf_dequant.h"
#include "mapped_file.h"

#include <assert.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "gguf.c assumes a little-endian host"
#endif

#define GGUF_DEFAULT_ALIGNMENT 32
#define GGUF_MAX_ARRAY_DEPTH   8  // arrays of arrays nest at most this deep
#define NAME_SHOWN             80 // longest key or tensor name quoted in a message

typedef struct {
    GgufString key;
    GgufType type;
    const uint8_t *value; // a scalar's bytes, or an array's first element
    GgufType elem_type;   // arrays only
    uint64_t len;         // arrays only: element count
    uint64_t *strings;    // arrays of strings: file offset of element i's length field
    GgufKvBytes stored;   // the key, its type and the value's bytes as the file has them
} GgufKv;

struct Gguf {
    char *path;
    MappedFile file;
    uint64_t alignment;
    int64_t n_kv;
    GgufKv *kvs;            // [n_kv], sorted by key
    uint64_t *string_index; // the offsets of all string-array elements, kvs[i].strings into it
    int n_tensors;
    GgufTensor *tensors;  // [n_tensors], in file order
    GgufTensor **by_name; // [n_tensors], sorted by name
};

// printf arguments for a name from the file, cut to NAME_SHOWN bytes: "%.*s".
#define SHOW(s) (int)((s).len < NAME_SHOWN ? (s).len : NAME_SHOWN), (s).ptr

static int compare_strings(GgufString a, GgufString b) {
    int c = memcmp(a.ptr, b.ptr, a.len < b.len ? a.len : b.len);
    if (c) return c;
    return a.len == b.len ? 0 : (a.len < b.len ? -1 : 1);
}

static GgufString cstring(const char *s) {
    return (GgufString){s, strlen(s)};
}

static const struct {
    const char *name;
    size_t size; // bytes of a scalar; 0 for strings and arrays
} value_type_info[] = {
    [GGUF_UINT8] = {"UINT8", 1},     [GGUF_INT8] = {"INT8", 1},     [GGUF_UINT16] = {"UINT16", 2},
    [GGUF_INT16] = {"INT16", 2},     [GGUF_UINT32] = {"UINT32", 4}, [GGUF_INT32] = {"INT32", 4},
    [GGUF_FLOAT32] = {"FLOAT32", 4}, [GGUF_BOOL] = {"BOOL", 1},     [GGUF_STRING] = {"STRING", 0},
    [GGUF_ARRAY] = {"ARRAY", 0},     [GGUF_UINT64] = {"UINT64", 8}, [GGUF_INT64] = {"INT64", 8},
    [GGUF_FLOAT64] = {"FLOAT64", 8},
};
#define N_VALUE_TYPES (sizeof(value_type_info) / sizeof(value_type_info[0]))

static bool is_integer_type(GgufType t) {
    return t <= GGUF_INT32 || t == GGUF_BOOL || t == GGUF_UINT64 || t == GGUF_INT64;
}

static bool is_float_type(GgufType t) {
    return t == GGUF_FLOAT32 || t == GGUF_FLOAT64;
}

// --- the bounds-checked cursor -------------------------------------------------------------

// Reads advance pos; a read past the end sets overrun and returns zeros, and so does every
// read after it, so a parser can read a whole record and check overrun once.
typedef struct {
    const uint8_t *base;
    size_t size;
    size_t pos;
    bool overrun;
} Cursor;

static const uint8_t *take(Cursor *c, uint64_t n) {
    if (c->overrun || n > c->size - c->pos) {
        c->overrun = true;
        return NULL;
    }
    const uint8_t *p = c->base + c->pos;
    c->pos += (size_t)n;
    return p;
}

static uint32_t read_u32(Cursor *c) {
    const uint8_t *p = take(c, 4);
    uint32_t v = 0;
    if (p) memcpy(&v, p, 4);
    return v;
}

static uint64_t read_u64(Cursor *c) {
    const uint8_t *p = take(c, 8);
    uint64_t v = 0;
    if (p) memcpy(&v, p, 8);
    return v;
}

static GgufString read_string(Cursor *c) {
    uint64_t len = read_u64(c);
    const uint8_t *p = take(c, len);
    return p ? (GgufString){(const char *)p, len} : (GgufString){"", 0};
}

static size_t remaining(const Cursor *c) {
    return c->size - c->pos;
}

// --- key/values ----------------------------------------------------------------------------

// Skips one value of type t (validated) at the cursor; arrays recurse into their elements.
// 0, or -1 with err saying what was wrong (the caller names the key).
static int skip_value(Cursor *c, uint32_t t, int depth, char *err, size_t err_len);

// Validates an array's header (element type and count) and skips its elements.
static int skip_array(Cursor *c, int depth, GgufType *elem_type, uint64_t *len, char *err,
                      size_t err_len) {
    uint32_t et = read_u32(c);
    uint64_t n = read_u64(c);
    if (c->overrun) return 0; // the caller reports the truncation
    if (et >= N_VALUE_TYPES) {
        fail(err, err_len, "array element type %" PRIu32 " is not a GGUF value type (0..%zu)", et,
             N_VALUE_TYPES - 1);
        return -1;
    }
    if (et == GGUF_ARRAY && depth >= GGUF_MAX_ARRAY_DEPTH) {
        fail(err, err_len, "arrays nest deeper than %d levels", GGUF_MAX_ARRAY_DEPTH);
        return -1;
    }
    // Strings take at least 8 bytes, nested arrays 12: a count the rest of the file cannot
    // hold is refused before walking it.
    size_t min_size =
        value_type_info[et].size ? value_type_info[et].size : (et == GGUF_STRING ? 8 : 12);
    if (n > remaining(c) / min_size) {
        fail(err, err_len,
             "truncated or corrupt: an array of %" PRIu64
             " %s elements (%zu bytes or more each) cannot fit in the %zu bytes left",
             n, value_type_info[et].name, min_size, remaining(c));
        return -1;
    }
    *elem_type = (GgufType)et;
    *len = n;
    if (value_type_info[et].size) {
        take(c, n * min_size);
        return 0;
    }
    for (uint64_t i = 0; i < n && !c->overrun; i++)
        if (skip_value(c, et, depth + 1, err, err_len) < 0) return -1;
    return 0;
}

static int skip_value(Cursor *c, uint32_t t, int depth, char *err, size_t err_len) {
    if (t >= N_VALUE_TYPES) {
        fail(err, err_len, "value type %" PRIu32 " is not a GGUF value type (0..%zu)", t,
             N_VALUE_TYPES - 1);
        return -1;
    }
    if (t == GGUF_STRING) {
        read_string(c);
        return 0;
    }
    if (t == GGUF_ARRAY) {
        GgufType et;
        uint64_t n;
        return skip_array(c, depth, &et, &n, err, err_len);
    }
    take(c, value_type_info[t].size);
    return 0;
}

// Parses key/value number i at the cursor into kv.
static int parse_kv(const Gguf *g, Cursor *c, int64_t i, GgufKv *kv, char *err, size_t err_len) {
    char why[200] = "";
    kv->key = read_string(c);
    uint32_t t = read_u32(c);
    kv->type = (GgufType)t;
    if (c->overrun) {
        fail(err, err_len, "%s: truncated: key/value #%" PRId64 " runs past the end (%zu bytes)",
             g->path, i, g->file.size);
        return -1;
    }
    kv->value = c->base + c->pos;
    int rc = t == GGUF_ARRAY ? skip_array(c, 1, &kv->elem_type, &kv->len, why, sizeof(why))
                             : skip_value(c, t, 0, why, sizeof(why));
    if (rc < 0) {
        fail(err, err_len, "%s: key '%.*s': %s", g->path, SHOW(kv->key), why);
        return -1;
    }
    if (c->overrun) {
        fail(err, err_len,
             "%s: truncated: the value of key '%.*s' (%s) runs past the end of the file "
             "(%zu bytes)",
             g->path, SHOW(kv->key), value_type_info[t].name, g->file.size);
        return -1;
    }
    kv->stored =
        (GgufKvBytes){kv->key, kv->type, kv->value, c->pos - (size_t)(kv->value - c->base)};
    if (t == GGUF_ARRAY) kv->value += 12; // past the element type and count
    return 0;
}

static int compare_kvs(const void *a, const void *b) {
    return compare_strings(((const GgufKv *)a)->key, ((const GgufKv *)b)->key);
}

// Records the offset of every element of every string array, so that element i is O(1).
static int index_strings(Gguf *g, char *err, size_t err_len) {
    uint64_t total = 0;
    for (int64_t i = 0; i < g->n_kv; i++)
        if (g->kvs[i].type == GGUF_ARRAY && g->kvs[i].elem_type == GGUF_STRING)
            total += g->kvs[i].len; // each element took 8 bytes of the file: no overflow
    g->string_index = malloc((size_t)(total ? total : 1) * sizeof(uint64_t));
    if (!g->string_index) {
        fail(err, err_len, "%s: out of memory indexing %" PRIu64 " strings", g->path, total);
        return -1;
    }
    uint64_t *next = g->string_index;
    for (int64_t i = 0; i < g->n_kv; i++) {
        GgufKv *kv = &g->kvs[i];
        if (kv->type != GGUF_ARRAY || kv->elem_type != GGUF_STRING) continue;
        kv->strings = next;
        Cursor c = {g->file.data, g->file.size, (size_t)(kv->value - g->file.data), false};
        for (uint64_t j = 0; j < kv->len; j++) {
            *next++ = c.pos;
            read_string(&c); // validated at parse time
        }
    }
    return 0;
}

static int parse_kvs(Gguf *g, Cursor *c, uint64_t n_kv, char *err, size_t err_len) {
    // A key/value takes at least 13 bytes (key length, type, a one-byte value).
    if (n_kv > remaining(c) / 13) {
        fail(err, err_len,
             "%s: truncated or corrupt: header claims %" PRIu64
             " key/values but the rest of the file (%zu bytes) holds at most %zu",
             g->path, n_kv, remaining(c), remaining(c) / 13);
        return -1;
    }
    g->kvs = calloc(n_kv ? (size_t)n_kv : 1, sizeof(GgufKv));
    if (!g->kvs) {
        fail(err, err_len, "%s: out of memory for %" PRIu64 " key/values", g->path, n_kv);
        return -1;
    }
    for (uint64_t i = 0; i < n_kv; i++) {
        if (parse_kv(g, c, (int64_t)i, &g->kvs[i], err, err_len) < 0) return -1;
        g->n_kv++;
    }
    qsort(g->kvs, (size_t)g->n_kv, sizeof(GgufKv), compare_kvs);
    for (int64_t i = 1; i < g->n_kv; i++) {
        if (compare_strings(g->kvs[i - 1].key, g->kvs[i].key) == 0) {
            fail(err, err_len, "%s: key '%.*s' appears twice", g->path, SHOW(g->kvs[i].key));
            return -1;
        }
    }
    return index_strings(g, err, err_len);
}

// --- tensor infos --------------------------------------------------------------------------

// Fills t from the tensor info at the cursor and checks its shape and type; the data offset
// (relative to the data section) is returned in offset and checked once the section is known.
static int parse_tensor_info(const Gguf *g, Cursor *c, int i, GgufTensor *t, uint64_t *offset,
                             char *err, size_t err_len) {
    t->name = read_string(c);
    t->n_dims = read_u32(c);
    if (!c->overrun && t->n_dims > 4) {
        fail(err, err_len, "%s: tensor '%.*s': n_dims is %" PRIu32 ", expected at most 4", g->path,
             SHOW(t->name), t->n_dims);
        return -1;
    }
    for (int d = 0; d < 4; d++) t->ne[d] = d < (int)t->n_dims ? read_u64(c) : 1;
    uint32_t type = read_u32(c);
    *offset = read_u64(c);
    if (c->overrun) {
        fail(err, err_len,
             "%s: truncated: tensor info #%d ('%.*s') runs past the end of the file (%zu "
             "bytes)",
             g->path, i, SHOW(t->name), g->file.size);
        return -1;
    }
    const GgmlTypeInfo *info = ggml_type_info(type);
    if (!info) {
        fail(err, err_len, "%s: tensor '%.*s': unknown ggml type %" PRIu32, g->path, SHOW(t->name),
             type);
        return -1;
    }
    t->type = (GgmlType)type;
    // Element count and byte size, refusing anything past INT64_MAX (ggml's own limit).
    uint64_t n = 1;
    for (int d = 0; d < 4; d++) {
        if (t->ne[d] > INT64_MAX || (t->ne[d] && n > (uint64_t)INT64_MAX / t->ne[d])) {
            fail(err, err_len,
                 "%s: tensor '%.*s': shape [%" PRIu64 ", %" PRIu64 ", %" PRIu64 ", %" PRIu64
                 "] has more than 2^63 elements",
                 g->path, SHOW(t->name), t->ne[0], t->ne[1], t->ne[2], t->ne[3]);
            return -1;
        }
        n *= t->ne[d];
    }
    if (t->ne[0] % info->block_size) {
        fail(err, err_len,
             "%s: tensor '%.*s': ne[0] = %" PRIu64
             " is not a multiple of the %s block size %" PRIu32,
             g->path, SHOW(t->name), t->ne[0], info->name, info->block_size);
        return -1;
    }
    t->n_elements = n;
    t->nbytes = n / info->block_size * info->type_size; // type_size < 2^9: no overflow
    return 0;
}

static int compare_tensor_names(const void *a, const void *b) {
    return compare_strings((*(GgufTensor *const *)a)->name, (*(GgufTensor *const *)b)->name);
}

// Reads general.alignment (a UINT32 power of two) or takes the default.
static int read_alignment(Gguf *g, char *err, size_t err_len) {
    g->alignment = GGUF_DEFAULT_ALIGNMENT;
    if (!gguf_has(g, "general.alignment")) return 0;
    int64_t a;
    if (gguf_get_int(g, "general.alignment", &a, err, err_len) < 0) return -1;
    if (a <= 0 || a > (1 << 30) || (a & (a - 1))) {
        fail(err, err_len,
             "%s: general.alignment is %" PRId64 ", expected a power of two up to 2^30", g->path,
             a);
        return -1;
    }
    g->alignment = (uint64_t)a;
    return 0;
}

static int parse_tensors(Gguf *g, Cursor *c, uint64_t n_tensors, char *err, size_t err_len) {
    // A tensor info takes at least 24 bytes (name length, n_dims, type, offset).
    if (n_tensors > remaining(c) / 24 || n_tensors > INT_MAX) {
        fail(err, err_len,
             "%s: truncated or corrupt: header claims %" PRIu64
             " tensors but the rest of the file (%zu bytes) holds at most %zu",
             g->path, n_tensors, remaining(c), remaining(c) / 24);
        return -1;
    }
    size_t n = (size_t)n_tensors;
    g->tensors = calloc(n ? n : 1, sizeof(GgufTensor));
    g->by_name = calloc(n ? n : 1, sizeof(GgufTensor *));
    uint64_t *offsets = calloc(n ? n : 1, sizeof(uint64_t));
    if (!g->tensors || !g->by_name || !offsets) {
        fail(err, err_len, "%s: out of memory for %zu tensor infos", g->path, n);
        free(offsets);
        return -1;
    }
    int rc = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        rc = parse_tensor_info(g, c, (int)i, &g->tensors[i], &offsets[i], err, err_len);
        g->by_name[i] = &g->tensors[i];
    }
    g->n_tensors = (int)n;

    // The data section starts at the next multiple of the alignment; every tensor lies in it.
    uint64_t data_start = (c->pos + g->alignment - 1) / g->alignment * g->alignment;
    uint64_t data_size = data_start <= g->file.size ? g->file.size - data_start : 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        GgufTensor *t = &g->tensors[i];
        if (offsets[i] % g->alignment) {
            fail(err, err_len,
                 "%s: tensor '%.*s': data offset %" PRIu64
                 " is not a multiple of the alignment %" PRIu64,
                 g->path, SHOW(t->name), offsets[i], g->alignment);
            rc = -1;
        } else if (offsets[i] > data_size || t->nbytes > data_size - offsets[i]) {
            fail(err, err_len,
                 "%s: tensor '%.*s': data [%" PRIu64 ", +%" PRIu64
                 ") runs past the end of the data section (%" PRIu64
                 " bytes at file offset %" PRIu64 ")",
                 g->path, SHOW(t->name), offsets[i], t->nbytes, data_size, data_start);
            rc = -1;
        } else {
            t->data = g->file.data + data_start + offsets[i];
        }
    }
    free(offsets);
    if (rc < 0) return -1;

    qsort(g->by_name, n, sizeof(GgufTensor *), compare_tensor_names);
    for (size_t i = 1; i < n; i++) {
        if (compare_strings(g->by_name[i - 1]->name, g->by_name[i]->name) == 0) {
            fail(err, err_len, "%s: tensor '%.*s' appears twice", g->path,
                 SHOW(g->by_name[i]->name));
            return -1;
        }
    }
    return 0;
}

// --- opening -------------------------------------------------------------------------------

static int parse(Gguf *g, char *err, size_t err_len) {
    if (g->file.size < 24) {
        fail(err, err_len, "%s: truncated: file is %zu bytes, shorter than the 24-byte GGUF header",
             g->path, g->file.size);
        return -1;
    }
    if (memcmp(g->file.data, "GGUF", 4) != 0) {
        fail(err, err_len,
             "%s: not a GGUF file: starts with bytes %02x %02x %02x %02x, expected \"GGUF\"",
             g->path, g->file.data[0], g->file.data[1], g->file.data[2], g->file.data[3]);
        return -1;
    }
    Cursor c = {g->file.data, g->file.size, 4, false};
    uint32_t version = read_u32(&c);
    if (version != 2 && version != 3) {
        fail(err, err_len, "%s: GGUF version %" PRIu32 " is not supported (expected 2 or 3)",
             g->path, version);
        return -1;
    }
    uint64_t n_tensors = read_u64(&c);
    uint64_t n_kv = read_u64(&c);
    if (parse_kvs(g, &c, n_kv, err, err_len) < 0) return -1;
    if (read_alignment(g, err, err_len) < 0) return -1;
    return parse_tensors(g, &c, n_tensors, err, err_len);
}

Gguf *gguf_open(const char *path, char *err, size_t err_len) {
    Gguf *g = calloc(1, sizeof(*g));
    if (g) g->path = strdup(path);
    if (!g || !g->path) {
        fail(err, err_len, "%s: out of memory", path);
        free(g);
        return NULL;
    }
    if (mapped_file_open(&g->file, path, err, err_len) < 0 || parse(g, err, err_len) < 0) {
        gguf_close(g);
        return NULL;
    }
    return g;
}

void gguf_close(Gguf *g) {
    if (!g) return;
    mapped_file_close(&g->file);
    free(g->kvs);
    free(g->string_index);
    free(g->tensors);
    free(g->by_name);
    free(g->path);
    free(g);
}

const char *gguf_path(const Gguf *g) {
    return g->path;
}

uint64_t gguf_alignment(const Gguf *g) {
    return g->alignment;
}

// --- metadata ------------------------------------------------------------------------------

static const GgufKv *find_kv(const Gguf *g, const char *key) {
    GgufString k = cstring(key);
    int64_t lo = 0, hi = g->n_kv; // binary search over the sorted keys
    while (lo < hi) {
        int64_t mid = lo + (hi - lo) / 2;
        int c = compare_strings(g->kvs[mid].key, k);
        if (c == 0) return &g->kvs[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

bool gguf_has(const Gguf *g, const char *key) {
    return find_kv(g, key) != NULL;
}

// The key, or NULL with a message when it is missing.
static const GgufKv *require_kv(const Gguf *g, const char *key, char *err, size_t err_len) {
    const GgufKv *kv = find_kv(g, key);
    if (!kv) fail(err, err_len, "%s: key '%s' is missing", g->path, key);
    return kv;
}

static int wrong_type(const Gguf *g, const GgufKv *kv, const char *expected, char *err,
                      size_t err_len) {
    if (kv->type == GGUF_ARRAY)
        fail(err, err_len, "%s: key '%.*s' holds an array of %s, expected %s", g->path,
             SHOW(kv->key), value_type_info[kv->elem_type].name, expected);
    else
        fail(err, err_len, "%s: key '%.*s' holds a %s, expected %s", g->path, SHOW(kv->key),
             value_type_info[kv->type].name, expected);
    return -1;
}

// Converts the integer of type t at p; false when a UINT64 does not fit in int64.
static bool load_int(GgufType t, const uint8_t *p, int64_t *out) {
    assert(is_integer_type(t));
    unsigned bits = 8 * (unsigned)value_type_info[t].size;
    uint64_t v = 0;
    memcpy(&v, p, bits / 8); // the low bytes, as the host is little-endian
    bool is_signed = t == GGUF_INT8 || t == GGUF_INT16 || t == GGUF_INT32 || t == GGUF_INT64;
    if (t == GGUF_BOOL) v = v != 0;
    if (is_signed && bits < 64 && v >> (bits - 1)) v |= UINT64_MAX << bits; // sign-extend
    if (!is_signed && v > INT64_MAX) return false;
    *out = (int64_t)v; // two's complement, as every compiler the project supports does it
    return true;
}

static double load_float(GgufType t, const uint8_t *p) {
    if (t == GGUF_FLOAT32) {
        float v;
        memcpy(&v, p, 4);
        return v;
    }
    double v;
    memcpy(&v, p, 8);
    return v;
}

int gguf_get_int(const Gguf *g, const char *key, int64_t *out, char *err, size_t err_len) {
    const GgufKv *kv = require_kv(g, key, err, err_len);
    if (!kv) return -1;
    if (!is_integer_type(kv->type)) return wrong_type(g, kv, "an integer", err, err_len);
    if (!load_int(kv->type, kv->value, out)) {
        fail(err, err_len, "%s: key '%s': value does not fit in a signed 64-bit integer", g->path,
             key);
        return -1;
    }
    return 0;
}

int gguf_get_float(const Gguf *g, const char *key, double *out, char *err, size_t err_len) {
    const GgufKv *kv = require_kv(g, key, err, err_len);
    if (!kv) return -1;
    if (!is_float_type(kv->type)) return wrong_type(g, kv, "a FLOAT32 or FLOAT64", err, err_len);
    *out = load_float(kv->type, kv->value);
    return 0;
}

// The string whose length field is at p (validated at open).
static GgufString load_string(const uint8_t *p) {
    uint64_t len;
    memcpy(&len, p, 8);
    return (GgufString){(const char *)p + 8, len};
}

int gguf_get_string(const Gguf *g, const char *key, GgufString *out, char *err, size_t err_len) {
    const GgufKv *kv = require_kv(g, key, err, err_len);
    if (!kv) return -1;
    if (kv->type != GGUF_STRING) return wrong_type(g, kv, "a STRING", err, err_len);
    *out = load_string(kv->value);
    return 0;
}

int gguf_get_array(const Gguf *g, const char *key, GgufType *elem_type, uint64_t *len, char *err,
                   size_t err_len) {
    const GgufKv *kv = require_kv(g, key, err, err_len);
    if (!kv) return -1;
    if (kv->type != GGUF_ARRAY) return wrong_type(g, kv, "an ARRAY", err, err_len);
    *elem_type = kv->elem_type;
    *len = kv->len;
    return 0;
}

// The array under key whose elements are accepted by elem_ok, with i in range; NULL with a
// message otherwise.
static const GgufKv *array_element(const Gguf *g, const char *key, uint64_t i,
                                   bool (*elem_ok)(GgufType), const char *expected, char *err,
                                   size_t err_len) {
    const GgufKv *kv = require_kv(g, key, err, err_len);
    if (!kv) return NULL;
    if (kv->type != GGUF_ARRAY || !elem_ok(kv->elem_type)) {
        wrong_type(g, kv, expected, err, err_len);
        return NULL;
    }
    if (i >= kv->len) {
        fail(err, err_len,
             "%s: key '%s': index %" PRIu64 " is past the array's %" PRIu64 " elements", g->path,
             key, i, kv->len);
        return NULL;
    }
    return kv;
}

static bool is_string_type(GgufType t) {
    return t == GGUF_STRING;
}

int gguf_array_string(const Gguf *g, const char *key, uint64_t i, GgufString *out, char *err,
                      size_t err_len) {
    const GgufKv *kv = array_element(g, key, i, is_string_type, "an array of STRING", err, err_len);
    if (!kv) return -1;
    *out = load_string(g->file.data + kv->strings[i]);
    return 0;
}

int gguf_array_int(const Gguf *g, const char *key, uint64_t i, int64_t *out, char *err,
                   size_t err_len) {
    const GgufKv *kv =
        array_element(g, key, i, is_integer_type, "an array of integers", err, err_len);
    if (!kv) return -1;
    if (!load_int(kv->elem_type, kv->value + i * value_type_info[kv->elem_type].size, out)) {
        fail(err, err_len,
             "%s: key '%s': element %" PRIu64 " does not fit in a signed 64-bit integer", g->path,
             key, i);
        return -1;
    }
    return 0;
}

int gguf_array_float(const Gguf *g, const char *key, uint64_t i, double *out, char *err,
                     size_t err_len) {
    const GgufKv *kv =
        array_element(g, key, i, is_float_type, "an array of FLOAT32 or FLOAT64", err, err_len);
    if (!kv) return -1;
    *out = load_float(kv->elem_type, kv->value + i * value_type_info[kv->elem_type].size);
    return 0;
}

int64_t gguf_n_kv(const Gguf *g) {
    return g->n_kv;
}

GgufKvBytes gguf_kv_bytes(const Gguf *g, int64_t i) {
    assert(i >= 0 && i < g->n_kv);
    return g->kvs[i].stored;
}

// --- tensors -------------------------------------------------------------------------------

int gguf_n_tensors(const Gguf *g) {
    return g->n_tensors;
}

const GgufTensor *gguf_tensor(const Gguf *g, int i) {
    assert(i >= 0 && i < g->n_tensors);
    return &g->tensors[i];
}

const GgufTensor *gguf_find_tensor(const Gguf *g, const char *name) {
    GgufString k = cstring(name);
    int lo = 0, hi = g->n_tensors;
    while (lo < hi) {
        int mid = lo + (hi - lo) / 2;
        int c = compare_strings(g->by_name[mid]->name, k);
        if (c == 0) return g->by_name[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NULL;
}

int gguf_tensor_to_f32(const Gguf *g, const GgufTensor *t, float *dst, char *err, size_t err_len) {
    assert(t >= g->tensors && t < g->tensors + g->n_tensors);
    if (!ggml_type_is_readable(t->type)) {
        fail(err, err_len,
             "%s: tensor '%.*s' is %s, which is not read (F32, F16, BF16, Q8_0, Q4_0, Q4_1, "
             "Q5_0, Q5_1, Q4_K, Q5_K, Q6_K are)",
             g->path, SHOW(t->name), ggml_type_name(t->type));
        return -1;
    }
    ggml_dequantize(t->type, t->data, dst, t->n_elements);
    return 0;
}
