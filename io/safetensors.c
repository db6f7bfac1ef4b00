// Safetensors reader and writer; see safetensors.h.
#include "safetensors.h"
#include "fail.h"
#include "fs.h"
#include "half.h"
#include "mapped_file.h"

#include <assert.h>
#include <jansson.h>
#include <limits.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// Data is copied as stored (little-endian) straight into host arrays.
#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "safetensors.c assumes a little-endian host"
#endif

static const struct {
    const char *name;
    size_t size;
} dtype_info[ST_DTYPE_COUNT] = {
    [ST_F64] = {"F64", 8}, [ST_F32] = {"F32", 4},   [ST_F16] = {"F16", 2}, [ST_BF16] = {"BF16", 2},
    [ST_I64] = {"I64", 8}, [ST_I32] = {"I32", 4},   [ST_I16] = {"I16", 2}, [ST_I8] = {"I8", 1},
    [ST_U8] = {"U8", 1},   [ST_BOOL] = {"BOOL", 1},
};

const char *safetensors_dtype_name(SafetensorsDtype dtype) {
    return dtype_info[dtype].name;
}
size_t safetensors_dtype_size(SafetensorsDtype dtype) {
    return dtype_info[dtype].size;
}

struct SafetensorsFile {
    char *path;
    const unsigned char *map; // the whole file: file.data, or the caller's memory
    size_t map_size;
    MappedFile file;  // empty when the bytes are the caller's
    json_t *header;   // owns the strings that tensor names and metadata point to
    json_t *metadata; // __metadata__ inside header, or NULL
    int n_tensors;
    SafetensorsTensor *tensors; // [n_tensors], by data offset
};

void safetensors_format_shape(char *buf, size_t len, const int64_t *shape, int n_dims) {
    size_t used = (size_t)snprintf(buf, len, "[");
    for (int i = 0; i < n_dims && used < len; i++)
        used +=
            (size_t)snprintf(buf + used, len - used, "%s%lld", i ? ", " : "", (long long)shape[i]);
    if (used < len) snprintf(buf + used, len - used, "]");
}

static int dtype_from_name(const char *name) {
    for (int d = 0; d < ST_DTYPE_COUNT; d++)
        if (strcmp(name, dtype_info[d].name) == 0) return d;
    return -1;
}

// Reads a JSON array of n_min..n_max non-negative integers into values.
// Returns the count, or -1 when the node is anything else.
static int read_uint_array(const json_t *node, int n_min, int n_max, int64_t *values) {
    if (!json_is_array(node)) return -1;
    size_t n = json_array_size(node);
    if (n < (size_t)n_min || n > (size_t)n_max) return -1;
    for (size_t i = 0; i < n; i++) {
        const json_t *item = json_array_get(node, i);
        if (!json_is_integer(item) || json_integer_value(item) < 0) return -1;
        values[i] = json_integer_value(item);
    }
    return (int)n;
}

// Product of shape times element size, or false when it overflows size_t.
static bool tensor_size(const int64_t *shape, int n_dims, size_t elem_size, size_t *n_elements,
                        size_t *nbytes) {
    size_t n = 1;
    for (int i = 0; i < n_dims; i++) {
        if ((uint64_t)shape[i] > SIZE_MAX) return false;
        if (shape[i] != 0 && n > SIZE_MAX / (size_t)shape[i]) return false;
        n *= (size_t)shape[i];
    }
    if (n > SIZE_MAX / elem_size) return false;
    *n_elements = n;
    *nbytes = n * elem_size;
    return true;
}

// Validates one header entry and fills t, its data pointing into the data region.
static int parse_tensor(const char *path, const char *name, const json_t *entry,
                        const unsigned char *region, size_t region_len, SafetensorsTensor *t,
                        char *err, size_t err_len) {
    if (!json_is_object(entry)) {
        fail(err, err_len, "%s: tensor '%s': expected an object with dtype, shape and data_offsets",
             path, name);
        return -1;
    }
    t->name = name;

    const json_t *dtype = json_object_get(entry, "dtype");
    const char *dtype_name = json_is_string(dtype) ? json_string_value(dtype) : "(none)";
    int d = dtype_from_name(dtype_name);
    if (d < 0) {
        fail(err, err_len,
             "%s: tensor '%s': dtype '%s' is not one of F64, F32, F16, BF16, I64, I32, I16, I8, "
             "U8, BOOL",
             path, name, dtype_name);
        return -1;
    }
    t->dtype = (SafetensorsDtype)d;

    t->n_dims = read_uint_array(json_object_get(entry, "shape"), 0, SAFETENSORS_MAX_DIMS, t->shape);
    if (t->n_dims < 0) {
        fail(err, err_len,
             "%s: tensor '%s': shape must be an array of at most %d non-negative integers", path,
             name, SAFETENSORS_MAX_DIMS);
        return -1;
    }
    if (!tensor_size(t->shape, t->n_dims, dtype_info[d].size, &t->n_elements, &t->nbytes)) {
        fail(err, err_len, "%s: tensor '%s': shape overflows the address space", path, name);
        return -1;
    }

    int64_t offsets[2];
    if (read_uint_array(json_object_get(entry, "data_offsets"), 2, 2, offsets) < 0) {
        fail(err, err_len,
             "%s: tensor '%s': data_offsets must be an array of two non-negative integers", path,
             name);
        return -1;
    }
    uint64_t begin = (uint64_t)offsets[0], end = (uint64_t)offsets[1];
    if (end < begin || end > region_len) {
        fail(err, err_len,
             "%s: tensor '%s': data_offsets [%llu, %llu] must satisfy begin <= end <= %zu "
             "(the data region's size)",
             path, name, (unsigned long long)begin, (unsigned long long)end, region_len);
        return -1;
    }
    if (end - begin != t->nbytes) {
        fail(err, err_len,
             "%s: tensor '%s': data_offsets [%llu, %llu] hold %llu bytes but %zu %s elements "
             "need %zu",
             path, name, (unsigned long long)begin, (unsigned long long)end,
             (unsigned long long)(end - begin), t->n_elements, dtype_info[d].name, t->nbytes);
        return -1;
    }
    t->data = region + begin;
    return 0;
}

static int parse_metadata(const char *path, json_t *metadata, char *err, size_t err_len) {
    if (!json_is_object(metadata)) {
        fail(err, err_len, "%s: __metadata__ must be an object of strings", path);
        return -1;
    }
    const char *key;
    json_t *value;
    json_object_foreach(metadata, key, value) {
        if (!json_is_string(value)) {
            fail(err, err_len, "%s: __metadata__ '%s': expected a string value", path, key);
            return -1;
        }
    }
    return 0;
}

// Ties (empty tensors) are broken by name so that the order never depends on the header's.
static int by_data_offset(const void *a, const void *b) {
    const SafetensorsTensor *ta = a, *tb = b;
    if (ta->data != tb->data) return ta->data < tb->data ? -1 : 1;
    return strcmp(ta->name, tb->name);
}

// The tensors, sorted by offset, must tile the data region with no gap and no overlap (as the
// reference implementation demands: a byte that belongs to no tensor or to two is an error).
static int check_tiling(const SafetensorsFile *f, const unsigned char *region, size_t region_len,
                        char *err, size_t err_len) {
    size_t covered = 0; // bytes [0, covered) belong to the tensors checked so far
    for (int i = 0; i < f->n_tensors; i++) {
        const SafetensorsTensor *t = &f->tensors[i];
        size_t begin = (size_t)(t->data - region);
        if (begin < covered) {
            const SafetensorsTensor *prev = &f->tensors[i - 1];
            fail(err, err_len, "%s: tensors '%s' and '%s' overlap at data bytes [%zu, %zu)",
                 f->path, prev->name, t->name, begin, covered);
            return -1;
        }
        if (begin > covered) {
            fail(err, err_len, "%s: data bytes [%zu, %zu) belong to no tensor (before '%s')",
                 f->path, covered, begin, t->name);
            return -1;
        }
        covered = begin + t->nbytes;
    }
    if (covered != region_len) {
        fail(err, err_len, "%s: data region is %zu bytes but the tensors cover %zu", f->path,
             region_len, covered);
        return -1;
    }
    return 0;
}

// Parses and validates the JSON header of the mapped file into f.
static int parse_header(SafetensorsFile *f, size_t header_len, char *err, size_t err_len) {
    json_error_t jerr;
    f->header = json_loadb((const char *)f->map + 8, header_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!f->header) {
        fail(err, err_len, "%s: header is not valid JSON: %s (at byte %d of the header)", f->path,
             jerr.text, jerr.position);
        return -1;
    }
    if (!json_is_object(f->header)) {
        fail(err, err_len, "%s: header must be a JSON object", f->path);
        return -1;
    }
    f->metadata = json_object_get(f->header, "__metadata__");
    if (f->metadata && parse_metadata(f->path, f->metadata, err, err_len) < 0) return -1;

    size_t n = json_object_size(f->header) - (f->metadata ? 1 : 0);
    if (n > INT_MAX) {
        fail(err, err_len, "%s: header lists %zu tensors, too many", f->path, n);
        return -1;
    }
    f->tensors = calloc(n ? n : 1, sizeof(SafetensorsTensor));
    if (!f->tensors) {
        fail(err, err_len, "%s: out of memory for %zu tensor entries", f->path, n);
        return -1;
    }
    const unsigned char *region = f->map + 8 + header_len;
    size_t region_len = f->map_size - 8 - header_len;
    const char *name;
    json_t *entry;
    json_object_foreach(f->header, name, entry) {
        if (entry == f->metadata) continue;
        if (parse_tensor(f->path, name, entry, region, region_len, &f->tensors[f->n_tensors], err,
                         err_len) < 0)
            return -1;
        f->n_tensors++;
    }
    qsort(f->tensors, (size_t)f->n_tensors, sizeof(SafetensorsTensor), by_data_offset);
    return check_tiling(f, region, region_len, err, err_len);
}

static SafetensorsFile *new_file(const char *path, char *err, size_t err_len) {
    SafetensorsFile *f = calloc(1, sizeof(*f));
    if (f) f->path = strdup(path);
    if (!f || !f->path) {
        fail(err, err_len, "%s: out of memory", path);
        free(f);
        return NULL;
    }
    return f;
}

// Validates the bytes at f->map: the header length, then the header.
static SafetensorsFile *validate(SafetensorsFile *f, char *err, size_t err_len) {
    if (f->map_size < 8) {
        fail(err, err_len, "%s: file is %zu bytes, shorter than the 8-byte header length", f->path,
             f->map_size);
        goto fail;
    }
    uint64_t header_len;
    memcpy(&header_len, f->map, 8);
    if (header_len > f->map_size - 8) {
        fail(err, err_len,
             "%s: header length %llu runs past the end of the file (%zu bytes after the "
             "length field)",
             f->path, (unsigned long long)header_len, f->map_size - 8);
        goto fail;
    }
    if (parse_header(f, (size_t)header_len, err, err_len) < 0) goto fail;
    return f;

fail:
    safetensors_close(f);
    return NULL;
}

SafetensorsFile *safetensors_open(const char *path, char *err, size_t err_len) {
    SafetensorsFile *f = new_file(path, err, err_len);
    if (!f) return NULL;
    if (mapped_file_open(&f->file, path, err, err_len) < 0) {
        safetensors_close(f);
        return NULL;
    }
    f->map = f->file.data;
    f->map_size = f->file.size;
    return validate(f, err, err_len);
}

SafetensorsFile *safetensors_open_memory(const void *data, size_t size, const char *name, char *err,
                                         size_t err_len) {
    SafetensorsFile *f = new_file(name, err, err_len);
    if (!f) return NULL;
    f->map = data;
    f->map_size = size;
    return validate(f, err, err_len);
}

void safetensors_close(SafetensorsFile *f) {
    if (!f) return;
    mapped_file_close(&f->file);
    json_decref(f->header);
    free(f->tensors);
    free(f->path);
    free(f);
}

const char *safetensors_path(const SafetensorsFile *f) {
    return f->path;
}
int safetensors_n_tensors(const SafetensorsFile *f) {
    return f->n_tensors;
}

const SafetensorsTensor *safetensors_tensor(const SafetensorsFile *f, int index) {
    assert(index >= 0 && index < f->n_tensors);
    return &f->tensors[index];
}

const SafetensorsTensor *safetensors_find(const SafetensorsFile *f, const char *name) {
    for (int i = 0; i < f->n_tensors; i++)
        if (strcmp(f->tensors[i].name, name) == 0) return &f->tensors[i];
    return NULL;
}

const char *safetensors_metadata(const SafetensorsFile *f, const char *key) {
    return f->metadata ? json_string_value(json_object_get(f->metadata, key)) : NULL;
}

// --- reading ---------------------------------------------------------------------------------

static int check_count(const SafetensorsFile *f, const SafetensorsTensor *t, size_t n, char *err,
                       size_t err_len) {
    assert(t >= f->tensors && t < f->tensors + f->n_tensors);
    if (n != t->n_elements) {
        fail(err, err_len, "%s: tensor '%s' has %zu elements, expected %zu", f->path, t->name,
             t->n_elements, n);
        return -1;
    }
    return 0;
}

int safetensors_read_f32(const SafetensorsFile *f, const SafetensorsTensor *t, float *dst, size_t n,
                         char *err, size_t err_len) {
    if (check_count(f, t, n, err, err_len) < 0) return -1;
    switch (t->dtype) {
    case ST_F32:
        memcpy(dst, t->data, t->nbytes);
        return 0;
    case ST_F16:
        for (size_t i = 0; i < n; i++) dst[i] = f16_to_f32(load_u16(t->data + 2 * i));
        return 0;
    case ST_BF16:
        for (size_t i = 0; i < n; i++) dst[i] = bf16_to_f32(load_u16(t->data + 2 * i));
        return 0;
    default:
        fail(err, err_len, "%s: tensor '%s' is %s, expected F32, F16 or BF16", f->path, t->name,
             dtype_info[t->dtype].name);
        return -1;
    }
}

int safetensors_read_i32(const SafetensorsFile *f, const SafetensorsTensor *t, int32_t *dst,
                         size_t n, char *err, size_t err_len) {
    if (check_count(f, t, n, err, err_len) < 0) return -1;
    switch (t->dtype) {
    case ST_I32:
        memcpy(dst, t->data, t->nbytes);
        return 0;
    case ST_I64:
        for (size_t i = 0; i < n; i++) {
            int64_t v;
            memcpy(&v, t->data + 8 * i, 8);
            if (v < INT32_MIN || v > INT32_MAX) {
                fail(err, err_len,
                     "%s: tensor '%s': value %lld at index %zu does not fit in "
                     "int32",
                     f->path, t->name, (long long)v, i);
                return -1;
            }
            dst[i] = (int32_t)v;
        }
        return 0;
    default:
        fail(err, err_len, "%s: tensor '%s' is %s, expected I32 or I64", f->path, t->name,
             dtype_info[t->dtype].name);
        return -1;
    }
}

// --- writing ---------------------------------------------------------------------------------

// Builds the JSON header: metadata, then tensors with consecutive data offsets.
// Returns NULL with the reason in err.
static json_t *build_header(const char *path, const SafetensorsWriteTensor *tensors, int n_tensors,
                            const SafetensorsMetadata *metadata, int n_metadata, char *err,
                            size_t err_len) {
    json_t *header = json_object();
    if (!header) goto oom;
    if (n_metadata > 0) {
        json_t *meta = json_object();
        if (json_object_set_new(header, "__metadata__", meta) < 0) goto oom;
        for (int i = 0; i < n_metadata; i++) {
            if (json_object_set_new(meta, metadata[i].key, json_string(metadata[i].value)) < 0) {
                fail(err, err_len, "%s: metadata '%s' is not valid UTF-8", path, metadata[i].key);
                goto fail;
            }
        }
    }
    size_t offset = 0;
    for (int i = 0; i < n_tensors; i++) {
        const SafetensorsWriteTensor *t = &tensors[i];
        size_t n_elements, nbytes;
        assert((unsigned)t->dtype < ST_DTYPE_COUNT);
        assert(t->n_dims >= 0 && t->n_dims <= SAFETENSORS_MAX_DIMS);
        if (strcmp(t->name, "__metadata__") == 0 || json_object_get(header, t->name)) {
            fail(err, err_len, "%s: tensor name '%s' is reserved or used twice", path, t->name);
            goto fail;
        }
        if (!tensor_size(t->shape, t->n_dims, dtype_info[t->dtype].size, &n_elements, &nbytes)) {
            fail(err, err_len, "%s: tensor '%s': shape overflows", path, t->name);
            goto fail;
        }
        json_t *shape = json_array();
        for (int d = 0; d < t->n_dims; d++) json_array_append_new(shape, json_integer(t->shape[d]));
        json_t *entry =
            json_pack("{s:s, s:o, s:[I, I]}", "dtype", dtype_info[t->dtype].name, "shape", shape,
                      "data_offsets", (json_int_t)offset, (json_int_t)(offset + nbytes));
        if (!entry) goto oom;
        if (json_object_set_new(header, t->name, entry) < 0) {
            fail(err, err_len, "%s: tensor name '%s' is not valid UTF-8", path, t->name);
            goto fail;
        }
        offset += nbytes;
    }
    return header;

oom:
    fail(err, err_len, "%s: out of memory building the header", path);
fail:
    json_decref(header);
    return NULL;
}

// What safetensors_write puts in the file: the header as JSON text, then the tensors' bytes.
typedef struct {
    const char *header_text;
    const SafetensorsWriteTensor *tensors;
    int n_tensors;
} Contents;

// The whole file, for replace_file: the header's length, the header padded with spaces, then
// every tensor's bytes.
static int write_all(FILE *out, void *ctx) {
    const Contents *c = ctx;
    static const char spaces[8] = "        ";
    size_t header_len = strlen(c->header_text);
    uint64_t padded_len = (header_len + 7) / 8 * 8; // keeps the data region 8-byte aligned
    if (fwrite(&padded_len, 8, 1, out) != 1) return -1;
    if (fwrite(c->header_text, 1, header_len, out) != header_len) return -1;
    if (fwrite(spaces, 1, padded_len - header_len, out) != padded_len - header_len) return -1;
    for (int i = 0; i < c->n_tensors; i++) {
        const SafetensorsWriteTensor *t = &c->tensors[i];
        size_t n_elements = 0, nbytes = 0; // sizes were validated by build_header
        tensor_size(t->shape, t->n_dims, dtype_info[t->dtype].size, &n_elements, &nbytes);
        if (nbytes && fwrite(t->data, 1, nbytes, out) != nbytes) return -1;
    }
    return 0;
}

int safetensors_write(const char *path, const SafetensorsWriteTensor *tensors, int n_tensors,
                      const SafetensorsMetadata *metadata, int n_metadata, char *err,
                      size_t err_len) {
    json_t *header = build_header(path, tensors, n_tensors, metadata, n_metadata, err, err_len);
    if (!header) return -1;
    char *header_text = json_dumps(header, JSON_COMPACT);
    json_decref(header);
    if (!header_text) return fail(err, err_len, "%s: out of memory", path);
    Contents contents = {header_text, tensors, n_tensors};
    int rc = replace_file(path, write_all, &contents, err, err_len);
    free(header_text);
    return rc;
}
