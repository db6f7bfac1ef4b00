// Tokenizers of Llama-family models:
//   - SentencePiece-style BPE with byte fallback (Llama-2, Mistral, TinyLlama, Vicuna):
//     merges by piece score, "▁" for spaces, <0xXX> tokens for bytes outside the vocabulary;
//   - byte-level BPE (GPT-2 style: Llama-3, SmolLM2): bytes mapped to printable characters,
//     merges by rank, after a regex pre-tokenizer (Llama-3's, GPT-2's, ...).
// Loaded from a Hugging Face tokenizer.json or from a GGUF file's tokenizer.ggml.* metadata.
// Special and added tokens are matched in the text before the model's splitting, as
// llama.cpp and transformers do.
#ifndef ARE_TOKENIZER_H
#define ARE_TOKENIZER_H

#include "gguf.h"

#include <stdbool.h>
#include <stddef.h>

typedef enum {
    TOKENIZER_SPM, // SentencePiece-style BPE with byte fallback
    TOKENIZER_BPE, // byte-level BPE
} TokenizerKind;

typedef struct Tokenizer Tokenizer;

// From a tokenizer.json file. NULL on error, with file and field in err.
Tokenizer *tokenizer_load_json(const char *path, char *err, size_t err_len);
// From the tokenizer.ggml.* keys of an open GGUF file.
Tokenizer *tokenizer_load_gguf(const Gguf *g, char *err, size_t err_len);
// From a model folder (its tokenizer.json), a tokenizer.json file, or a .gguf file.
Tokenizer *tokenizer_load(const char *source, char *err, size_t err_len);
void tokenizer_free(Tokenizer *tok);

TokenizerKind tokenizer_kind(const Tokenizer *tok);
int tokenizer_vocab_size(const Tokenizer *tok);
int tokenizer_bos(const Tokenizer *tok); // -1 when the vocabulary has none
int tokenizer_eos(const Tokenizer *tok);
bool tokenizer_adds_bos(const Tokenizer *tok); // the model's default (add_bos_token)

// Encodes len bytes of UTF-8 text (invalid UTF-8 is encoded byte by byte, never refused),
// with BOS first when add_bos. Writes at most max_ids ids and returns how many the text needs
// (call again with a larger buffer when the return exceeds max_ids), or -1 on failure.
int tokenizer_encode(const Tokenizer *tok, const char *text, size_t len, bool add_bos, int *ids,
                     int max_ids);

// Decodes ids to UTF-8 text (special tokens such as BOS/EOS omitted; SentencePiece's leading
// space of the first piece dropped). Writes at most cap bytes including a NUL and returns the
// length the text needs without the NUL, or -1 for an id outside the vocabulary.
int tokenizer_decode(const Tokenizer *tok, const int *ids, int n, char *out, size_t cap);

// The bytes one token contributes to the output (for streaming), NUL-terminated in out; returns
// their length, or -1 when id is out of range.
// For byte-level BPE, bytes of a multi-byte character may arrive split across tokens.
int tokenizer_token_bytes(const Tokenizer *tok, int id, char *out, size_t cap);

#endif
