// GGUF files as llama.cpp writes them (versions 2 and 3): metadata key/values, tensor infos,
// and tensor data, memory-mapped. Every length, count, offset and type read from the file is
// checked against the file's size before use; a malformed file is an error naming the file,
// the key or tensor, and what was expected - never an out-of-bounds read.
#ifndef ARE_GGUF_H
#define ARE_GGUF_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum {
    GGUF_UINT8 = 0,
    GGUF_INT8 = 1,
    GGUF_UINT16 = 2,
    GGUF_INT16 = 3,
    GGUF_UINT32 = 4,
    GGUF_INT32 = 5,
    GGUF_FLOAT32 = 6,
    GGUF_BOOL = 7,
    GGUF_STRING = 8,
    GGUF_ARRAY = 9,
    GGUF_UINT64 = 10,
    GGUF_INT64 = 11,
    GGUF_FLOAT64 = 12,
} GgufType;

// ggml tensor types that are read (the numbering is ggml's).
typedef enum {
    GGML_F32 = 0,
    GGML_F16 = 1,
    GGML_Q4_0 = 2,
    GGML_Q4_1 = 3,
    GGML_Q5_0 = 6,
    GGML_Q5_1 = 7,
    GGML_Q8_0 = 8,
    GGML_Q4_K = 12,
    GGML_Q5_K = 13,
    GGML_Q6_K = 14,
    GGML_BF16 = 30,
} GgmlType;

// A string inside the mapped file: not NUL-terminated.
typedef struct {
    const char *ptr;
    uint64_t len;
} GgufString;

typedef struct {
    GgufString name;
    uint32_t n_dims;
    uint64_t ne[4]; // ggml order: ne[0] is the innermost (contiguous) dimension
    GgmlType type;
    uint64_t n_elements;
    uint64_t nbytes;
    const uint8_t *data; // inside the mapping
} GgufTensor;

typedef struct Gguf Gguf;

// Opens and validates the whole file (header, every key/value, every tensor info and data
// range). NULL on error with the reason in err.
Gguf *gguf_open(const char *path, char *err, size_t err_len);
void gguf_close(Gguf *g);
const char *gguf_path(const Gguf *g);
// The data alignment: general.alignment, or GGUF's default of 32.
uint64_t gguf_alignment(const Gguf *g);

// --- metadata ----------------------------------------------------------------------------
// Each getter returns 0, or -1 with a message in err naming the file and key when the key is
// missing or holds another type. gguf_has reports presence only.
bool gguf_has(const Gguf *g, const char *key);
// Any integer type (or bool) that fits in int64.
int gguf_get_int(const Gguf *g, const char *key, int64_t *out, char *err, size_t err_len);
// FLOAT32 or FLOAT64.
int gguf_get_float(const Gguf *g, const char *key, double *out, char *err, size_t err_len);
int gguf_get_string(const Gguf *g, const char *key, GgufString *out, char *err, size_t err_len);
// An array: its element type and length.
int gguf_get_array(const Gguf *g, const char *key, GgufType *elem_type, uint64_t *len, char *err,
                   size_t err_len);
// Element i of an array of strings (O(1): offsets are indexed at open).
int gguf_array_string(const Gguf *g, const char *key, uint64_t i, GgufString *out, char *err,
                      size_t err_len);
// Element i of a numeric array, converted: any integer type to int64, float types to double.
int gguf_array_int(const Gguf *g, const char *key, uint64_t i, int64_t *out, char *err,
                   size_t err_len);
int gguf_array_float(const Gguf *g, const char *key, uint64_t i, double *out, char *err,
                     size_t err_len);

// --- every key/value, for copying a file's metadata (gguf_writer.h) -----------------------
typedef struct {
    GgufString key;
    GgufType type;
    // The value exactly as the file stores it (validated at open): a scalar's bytes, a string's
    // u64 length and bytes, an array's u32 element type, u64 count and elements.
    const uint8_t *bytes; // inside the mapping
    uint64_t n_bytes;
} GgufKvBytes;

int64_t gguf_n_kv(const Gguf *g);
// Key/value i, 0 <= i < gguf_n_kv, in key order.
GgufKvBytes gguf_kv_bytes(const Gguf *g, int64_t i);

// --- tensors -------------------------------------------------------------------------------
int gguf_n_tensors(const Gguf *g);
const GgufTensor *gguf_tensor(const Gguf *g, int i);
const GgufTensor *gguf_find_tensor(const Gguf *g, const char *name); // NULL when absent
// Converts a tensor to n_elements floats (dequantizing block types). 0, or -1 with a message
// for a type that is not read.
int gguf_tensor_to_f32(const Gguf *g, const GgufTensor *t, float *dst, char *err, size_t err_len);
const char *ggml_type_name(GgmlType type); // "Q4_K", ...; "unknown" otherwise

#endif
