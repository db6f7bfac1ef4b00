// Safetensors files: a bounds-checked reader over a memory-mapped file, and a writer.
//
// Format: 8-byte little-endian header length N, N bytes of JSON header, then the data region.
// The header maps each tensor name to {"dtype", "shape", "data_offsets": [begin, end]} (byte
// offsets into the data region) and may hold "__metadata__": {string: string}.
//
// The reader trusts nothing in the file: every offset, shape and size is checked when the file
// is opened (tensors must tile the data region exactly, as the reference implementation
// requires), so later reads cannot go out of bounds. Every error message names the file, the
// tensor or field, and what was expected.
#ifndef ARE_SAFETENSORS_H
#define ARE_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#define SAFETENSORS_MAX_DIMS 8

typedef enum {
    ST_F64,
    ST_F32,
    ST_F16,
    ST_BF16,
    ST_I64,
    ST_I32,
    ST_I16,
    ST_I8,
    ST_U8,
    ST_BOOL,
    ST_DTYPE_COUNT
} SafetensorsDtype;

const char *safetensors_dtype_name(SafetensorsDtype dtype); // "F32", ...
size_t safetensors_dtype_size(SafetensorsDtype dtype);      // bytes per element
// Writes a shape as "[a, b, ...]" into buf (size len), for messages.
void safetensors_format_shape(char *buf, size_t len, const int64_t *shape, int n_dims);

typedef struct {
    const char *name;
    SafetensorsDtype dtype;
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    size_t n_elements;         // product of shape (1 for a scalar)
    size_t nbytes;             // n_elements * dtype size
    const unsigned char *data; // nbytes inside the mapping, no alignment promised
} SafetensorsTensor;

typedef struct SafetensorsFile SafetensorsFile;

// Maps and validates the file. Returns NULL and writes why into err (size err_len).
SafetensorsFile *safetensors_open(const char *path, char *err, size_t err_len);
// The same checks on size bytes already in memory (which must outlive the file), name standing
// for the path in messages: for callers that hold the bytes, such as fuzz harnesses.
SafetensorsFile *safetensors_open_memory(const void *data, size_t size, const char *name, char *err,
                                         size_t err_len);
void safetensors_close(SafetensorsFile *f);
const char *safetensors_path(const SafetensorsFile *f);

// Tensors in file order (by data offset); find returns NULL when the name is absent.
int safetensors_n_tensors(const SafetensorsFile *f);
const SafetensorsTensor *safetensors_tensor(const SafetensorsFile *f, int index);
const SafetensorsTensor *safetensors_find(const SafetensorsFile *f, const char *name);

// Value of key in __metadata__, or NULL when absent. Valid until close.
const char *safetensors_metadata(const SafetensorsFile *f, const char *key);

// Copies tensor t (which must belong to f) into dst of n elements, converting F16 and BF16 to
// float, or I64 to int32 (values out of range are an error). Returns 0, or -1 with the reason
// in err when n differs from the tensor's element count or the dtype does not convert.
int safetensors_read_f32(const SafetensorsFile *f, const SafetensorsTensor *t, float *dst, size_t n,
                         char *err, size_t err_len);
int safetensors_read_i32(const SafetensorsFile *f, const SafetensorsTensor *t, int32_t *dst,
                         size_t n, char *err, size_t err_len);

// --- writing --------------------------------------------------------------------------------

typedef struct {
    const char *name;
    SafetensorsDtype dtype;
    int n_dims;
    int64_t shape[SAFETENSORS_MAX_DIMS];
    const void *data; // product(shape) * dtype size bytes, host memory
} SafetensorsWriteTensor;

typedef struct {
    const char *key;
    const char *value;
} SafetensorsMetadata;

// Writes the tensors (data in the order given) and metadata to path, through a temporary file
// renamed into place, so an existing file is never left half written. Returns 0, or -1 with the
// reason in err.
int safetensors_write(const char *path, const SafetensorsWriteTensor *tensors, int n_tensors,
                      const SafetensorsMetadata *metadata, int n_metadata, char *err,
                      size_t err_len);

#endif
