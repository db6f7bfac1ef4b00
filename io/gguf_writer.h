// Writing GGUF files (version 3) that copy part of a file already read: its metadata with some
// values replaced or added, and a chosen subset of its tensors, byte for byte in their stored
// (possibly quantized) types. The layout is the one llama.cpp's gguf reader demands: tensor
// data in tensor-info order, each offset the previous one plus its size padded to the
// alignment, the data section padded to the alignment at its end too.
#ifndef ARE_GGUF_WRITER_H
#define ARE_GGUF_WRITER_H

#include "gguf.h"

#include <stddef.h>
#include <stdint.h>

// A metadata value to set: a scalar or a string (arrays are only ever copied). Only the field
// of the type is read: i for the integer types and BOOL (0 or 1), range-checked against the
// type; f for FLOAT32 / FLOAT64; s (NUL-terminated) for STRING.
typedef struct {
    const char *key;
    GgufType type;
    int64_t i;
    double f;
    const char *s;
} GgufValue;

// Writes path: every key/value of src, in gguf_kv_bytes order, with those whose key is in
// set[0..n_set) taking the set value (and type) instead, then the set keys src lacks, in set
// order; then tensors[0..n_tensors) (each src's, from gguf_tensor or gguf_find_tensor), in
// that order, with src's names, shapes, types and bytes, aligned to gguf_alignment(src).
// Written to "path.tmp" and renamed over path (an existing file is replaced) only once
// complete, so path is never a partial file. 0, or -1 with the reason in err: a set value of an
// array type or out of range for its type, a key set twice or general.alignment set (the data
// layout follows src's), a tensor listed twice, or a failure to write naming the file; then
// path.tmp is removed and path is untouched.
int gguf_write_copy(const char *path, const Gguf *src, const GgufValue *set, int n_set,
                    const GgufTensor *const *tensors, int n_tensors, char *err, size_t err_len);

#endif
