// A Llama or Qwen2 model inside a GGUF file, as llama.cpp's convert_hf_to_gguf.py writes it:
// the config from "llama.*" or "qwen2.*" metadata, the parameters under ggml names
// (token_embd.weight, blk.N.attn_q.weight, blk.N.attn_q.bias (qwen2), ...) with ne in ggml's
// order (ne[0] = in, ne[1] = out for a projection HF stores as [out, in]), and, in a llama
// file only, q/k rows permuted per head for llama.cpp's interleaved RoPE. Reading gives the
// engine's layout: HF's, with that permutation undone.
#ifndef ARE_GGUF_MODEL_H
#define ARE_GGUF_MODEL_H

#include "gguf.h"
#include "model_source.h"

#include <stddef.h>

// Fills cfg from the metadata (general.architecture "llama", or "qwen2", which sets qkv_bias).
// The vocabulary size is token_embd.weight's row count (tokenizer.ggml.tokens' length when that
// tensor is absent); embeddings are tied when output.weight is absent. 0, or -1 naming the key and
// expectation.
int gguf_llama_config(const Gguf *g, LlamaConfig *cfg, char *err, size_t err_len);

// Checks that every tensor cfg implies is present with its shape and a type that is read, and
// that no other tensor is there. 0, or -1 naming the first missing, extra or mis-shaped tensor.
int gguf_llama_check(const Gguf *g, const LlamaConfig *cfg, char *err, size_t err_len);

// The stored type of a parameter ("F16", "Q4_K", ...); NULL when the file lacks it.
const char *gguf_llama_dtype(const Gguf *g, ParamKind kind, int layer);

// Reads one parameter (layer ignored for whole-model kinds) as fp32 in HF layout into dst,
// which holds its element count. Call after gguf_llama_check. 0, or -1 with a message.
int gguf_llama_read(const Gguf *g, const LlamaConfig *cfg, ParamKind kind, int layer, float *dst,
                    char *err, size_t err_len);

#endif
