// ggml's tensor types inside io: the size of each type's blocks, and conversion of whole blocks
// to fp32 exactly as ggml's dequantize_row_* defines it. Internal to io (gguf.c uses it).
#ifndef ARE_GGUF_DEQUANT_H
#define ARE_GGUF_DEQUANT_H

#include "gguf.h"

#include <stdbool.h>
#include <stdint.h>

// Storage of one ggml type: type_size bytes hold block_size consecutive elements.
typedef struct {
    const char *name;
    uint32_t block_size;
    uint32_t type_size;
} GgmlTypeInfo;

// Every type ggml has defined (so that a file using one we cannot convert still opens, and the
// error on reading names it); NULL for a number ggml never used or has retired.
const GgmlTypeInfo *ggml_type_info(uint32_t type);

// Whether ggml_dequantize converts the type.
bool ggml_type_is_readable(GgmlType type);

// Converts n elements (a multiple of the type's block size) stored at src to fp32.
void ggml_dequantize(GgmlType type, const uint8_t *src, float *dst, uint64_t n);

#endif
