// Glue between the files io reads and the engine compute runs: a model on disk into a
// LlamaModel's weights on a backend, and PEFT adapters to and from the engine's Lora.
#ifndef ARE_MODEL_LOAD_H
#define ARE_MODEL_LOAD_H

#include "embedding_lora.h"
#include "hf_writer.h"
#include "llama.h"
#include "lora.h"
#include "model_source.h"
#include "peft.h"

#include <stddef.h>

// Sets m up for src's config on be and fills every weight from src, the matrices stored as
// `matrices` (MATRIX_F32, or be->matrix_type: see llama_weights_alloc). Returns 0, or -1 with
// the reason in err (nothing left allocated).
int model_load(LlamaModel *m, const ModelSource *src, Backend *be, MatrixType matrices, char *err,
               size_t err_len);

// Writes m's weights as a Hugging Face folder dir (config.json, model.safetensors in F32), which
// model_load reads back to the same weights; bos / eos (or -1) go into config.json. Returns 0,
// or -1 with the reason in err.
int model_save(const LlamaModel *m, const char *dir, int bos, int eos, char *err, size_t err_len);

// A new Lora on be holding the adapter's matrices; the adapter must have been made for cfg.
// Returns NULL with the reason in err.
Lora *lora_from_peft(const PeftAdapter *a, const LlamaConfig *cfg, Backend *be, char *err,
                     size_t err_len);

// Copies lora's matrices into a new host adapter a (free with peft_adapter_free).
// Returns 0, or -1 with the reason in err.
int peft_from_lora(PeftAdapter *a, const Lora *lora, const LlamaConfig *cfg, Backend *be, char *err,
                   size_t err_len);
// The same for m's lora and, when m has one, its embedding adapter (embed_tokens).
int peft_from_model(PeftAdapter *a, const LlamaModel *m, char *err, size_t err_len);

// Attaches the adapter to m: m->lora (lora_from_peft) and, when it adapts embed_tokens,
// m->embed_lora; the caller frees both (lora_free, embedding_lora_free), also after a failure.
// Returns 0, or -1 with the reason in err.
int model_attach_peft(LlamaModel *m, const PeftAdapter *a, char *err, size_t err_len);

#endif
