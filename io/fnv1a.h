// 64-bit FNV-1a, the one string hash of io and sweeps: tokenizer tables, trial ids and seeds, the
// sweep file's config hash. Ids and hashes are stored in files and compared across runs and
// programs; one definition keeps every place that computes them in step. Inline: the tokenizers
// hash in their inner loops.
#ifndef ARE_FNV1A_H
#define ARE_FNV1A_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define FNV1A_OFFSET 0xcbf29ce484222325ull // the hash of no bytes

// The hash of len bytes continued from h (FNV1A_OFFSET to start): the hash of a text in two
// parts is fnv1a(fnv1a(FNV1A_OFFSET, a, a_len), b, b_len).
static inline uint64_t fnv1a(uint64_t h, const void *bytes, size_t len) {
    const unsigned char *p = bytes;
    for (size_t i = 0; i < len; i++) h = (h ^ p[i]) * 0x100000001b3ull;
    return h;
}

// fnv1a of a NUL-terminated text, continued from h.
static inline uint64_t fnv1a_text(uint64_t h, const char *text) {
    return fnv1a(h, text, strlen(text));
}

#endif
